/* bridge/content.h - the content of the events gavel sends: m.notice with
 * HTML, m.mentions and relations, kept under Matrix's event size. Pure: JSON
 * in, JSON text out; knows nothing about HTTP or the store. */
#ifndef GV_CONTENT_H
#define GV_CONTENT_H

#include <cjson/cJSON.h>

/* Matrix caps a whole event at 65536 bytes; the content stays under this. */
#define GV_CONTENT_MAX_BYTES 60000

/* extra: the outbox row's {"msgtype", "in_reply_to", "thread", "mentions":[...]}.
 * "m.mentions" is always present ({} when nobody is pinged). Over the size:
 * the HTML is dropped, then the text is cut at a line with a note. Returns
 * malloc'd JSON text, NULL when out of memory. */
char *gv_content_message(const char *body, const char *html, const cJSON *extra);

#endif
