/* bridge/replay.h - `gavel replay LOG`: a MeetBot IRC log through the same
 * handlers as live messages, with the log's own times; the minutes files are
 * written to a directory. */
#ifndef GV_REPLAY_H
#define GV_REPLAY_H

#include "../util/config.h"

struct gv_replay_opts {
        const char *log_path;
        const char *out_dir;    /* default "." */
        const char *date;       /* "YYYY-MM-DD" or NULL: from the log or its name */
        const char *db_path;    /* NULL: in memory */
        const char *channel;    /* "#name" or NULL: from a .log.html's title, else
                                 * "name.YYYY-MM-DD-HH.MM.log.txt", else the config's */
        bool quiet;
};

/* Returns the exit status (0 ok, 1 failure, 2 bad input). */
int gv_replay_run(const struct gv_config *cfg, const struct gv_replay_opts *o);

#endif
