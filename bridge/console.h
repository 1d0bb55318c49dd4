/* bridge/console.h - the console adapter: each input line is a message in
 * the current room from the current user; the bot's effects print as they
 * leave the outbox. Works interactively and under a pipe. */
#ifndef GV_CONSOLE_H
#define GV_CONSOLE_H

#include <stdio.h>
#include "../util/config.h"

/* Longest input line read; longer lines are dropped with a message. */
#define GV_CONSOLE_MAX_LINE (16u << 20)

/* Runs until end of input or /quit. Returns the process exit status. */
int gv_console_run(const struct gv_config *cfg, FILE *in, FILE *out);

#endif
