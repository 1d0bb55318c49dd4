/* handlers/meetbot.h - the archive files in Supybot MeetBot 0.1.4's layouts:
 * NAME.txt (its Text writer), NAME.html (HTML2), NAME.log.txt (TextLog) and
 * NAME.log.html (HTMLlog2), from the store. The rules were learned from
 * MeetBot's writers.py, items.py and meeting.py; the code is gavel's own.
 * Reads the store; writes only into the caller's buffer (or sink).
 *
 * The item kinds MeetBot never had (issue 10: !update, !question, !other,
 * !checkin) are written as its own typed items are: "UPDATE: text" in the
 * summary of NAME.txt, <i class="itemtype">UPDATE</i> in NAME.html, in the
 * order noted, under the topic they fall under; a text of several lines is
 * joined into one (as MeetBot's lines always were), a question's starts
 * with the ID of the person asked ("QUESTION: @bob:example.org is it?"); an
 * item links to the log line of its first line. The logs hold every line
 * as said. Standup and check-in layouts are the room's minutes' and the
 * wiki's (standup.h), never these files'. */
#ifndef GV_MEETBOT_H
#define GV_MEETBOT_H

#include <stdint.h>
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/config.h"
#include "minutes.h"

/* Renders fmt (GV_MIN_MB_TEXT, GV_MIN_HTML_PAGE, GV_MIN_LOG_TEXT or
 * GV_MIN_LOG_HTML) of a meeting into out; the logs go out through sink in
 * pieces of about GV_MINUTES_CHUNK bytes when sink is not NULL. */
GV_MUST_CHECK enum gv_err gv_meetbot_render(struct gv_store *s, const struct gv_config *cfg,
                                            int64_t meeting, enum gv_minutes_fmt fmt,
                                            struct gv_buf *out, const struct gv_sink_fn *sink);


/* Python 2 textwrap's fill() as MeetBot calls it (width 72, words never
 * broken, whitespace runs are the only break points): s wrapped, the first
 * line indented by indent spaces, the others by sub_indent. Appends to out. */
GV_MUST_CHECK enum gv_err gv_meetbot_wrap(struct gv_buf *out, const char *s, size_t indent,
                                          size_t sub_indent);

/* Expands a minutes_filename / logs_url pattern: {channel}, {meetingname},
 * %Y %m %d %H %M %S %F %% (UTC). file_safe: characters other than
 * [A-Za-z0-9._-] become '_'. At most cap - 1 bytes. */
void gv_meetbot_pattern(const char *pattern, const char *channel, const char *meetingname,
                        int64_t started, bool file_safe, char *out, size_t cap);
/* MeetBot's {channel}: without '#' and spaces around it, lowercased, no '/'. */
void gv_meetbot_channel_field(const char *channel, char *out, size_t cap);
/* MeetBot's {meetingname}: lowercased, whitespace runs as one '_'. */
void gv_meetbot_name_field(const char *name, char *out, size_t cap);

/* The {channel} and {meetingname} fields of a meeting; title is its kv
 * title (NULL when unknown). A bare #startmeeting with no #meetingname
 * takes the channel for {meetingname}, as MeetBot does. */
void gv_meetbot_fields(const struct gv_config *cfg, const struct gv_meeting *m, const char *title,
                       char cf[256], char nf[256]);

#endif
