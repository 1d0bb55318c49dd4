/* bridge/irclog.h - reader for MeetBot IRC logs (.log.txt and .log.html).
 * Turns a log into timed lines; knows nothing about meetings or commands. */
#ifndef GV_IRCLOG_H
#define GV_IRCLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../util/err.h"

#define GV_IRCLOG_MAX_BYTES (64 * 1024 * 1024)
#define GV_IRCLOG_MAX_LINE (64 * 1024)

struct gv_irc_line {
        int64_t ms;             /* ms since midnight of the log's first day; a time that
                                 * goes backwards means the next day (+24h) */
        const char *nick;       /* NUL-terminated, owned by the log */
        const char *text;       /* NUL-terminated, valid UTF-8, owned by the log */
        bool action;            /* "HH:MM:SS  * nick does" */
};

struct gv_irclog;

/* Parses a whole log. Format detected: HTML (MeetBot .log.html, entities
 * decoded, tags dropped) when it contains "<tt class=\"tm\">" or starts with "<", else text
 * lines "HH:MM:SS <nick> text" / "HH:MM:SS  * nick does", also "[HH:MM:SS]".
 * Lines that match neither are counted as skipped, never an error; a line over
 * GV_IRCLOG_MAX_LINE is skipped too. Invalid UTF-8 is replaced by U+FFFD.
 * GV_ETOOBIG over GV_IRCLOG_MAX_BYTES. */
GV_MUST_CHECK enum gv_err gv_irclog_parse(const char *data, size_t len, struct gv_irclog **ret);
size_t gv_irclog_count(const struct gv_irclog *l);
const struct gv_irc_line *gv_irclog_line(const struct gv_irclog *l, size_t i);
size_t gv_irclog_skipped(const struct gv_irclog *l);
/* Day of the log, ms since the epoch at 00:00 UTC, from a "Meeting started
 * Mon May  8 13:00:44 2017 UTC" line if present; -1 otherwise. */
int64_t gv_irclog_date(const struct gv_irclog *l);
struct gv_irclog *gv_irclog_free(struct gv_irclog *l);

#endif
