/* handlers/parse.h - turning message text into commands and agenda tags.
 * Pure string work, no store, no I/O. */
#ifndef GV_PARSE_H
#define GV_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include "../util/config.h"
#include "../util/err.h"

#define GV_MAX_MENTIONS 64
#define GV_MAX_DESCRIPTION 1024

/* Skips a Matrix rich-reply fallback: leading "> " lines and the empty line
 * after them. Returns a pointer into body. */
const char *gv_strip_reply_fallback(const char *body, size_t len, size_t *rest);

struct gv_cmdline {
        char prefix;            /* '#', '!', ... */
        const char *name;       /* not NUL-terminated */
        size_t name_len;
        const char *args;       /* trimmed, not NUL-terminated */
        size_t args_len;
};

/* A line is command-shaped when it starts (after blanks) with a configured
 * prefix directly followed by a word of letters (any length), ended by a blank or the end of
 * the line. "#123", "#room:server.org", "#tag-with-dash" and "# x" are not. */
bool gv_parse_command(const struct gv_config *cfg, const char *line, size_t len,
                      struct gv_cmdline *out);

struct gv_tagged {
        const char *agenda;                     /* from the config, not owned */
        char *description;                      /* owned */
        char *mentions[GV_MAX_MENTIONS];        /* owned, each "@name" */
        size_t n_mentions;
};

/* Looks for a configured "#tag" word in the line (anywhere, as a whole word).
 * GV_ENOTFOUND when there is none. The description is the line without the tag
 * and without a trailing "cc @a @b, @c" list, blanks collapsed; it may be ""
 * (the caller says so). Mentions are the cc names, deduplicated. */
GV_MUST_CHECK enum gv_err gv_parse_tag(const struct gv_config *cfg, const char *line, size_t len,
                                       struct gv_tagged *out);
void gv_tagged_clear(struct gv_tagged *t);

/* "@alice:example.org" -> "alice"; "alice" -> "alice". Writes at most n-1
 * bytes. */
void gv_nick_of(const char *sender, char *out, size_t n);

/* True when the line begins with http:// or https:// (MeetBot notes such
 * lines as links). */
bool gv_is_link_line(const char *line, size_t len);

#endif
