/* handlers/event.h - the one event every source produces (Matrix /sync, the
 * console, a replayed IRC log, the tests) and hands to gv_handle(). */
#ifndef GV_EVENT_H
#define GV_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gv_event {
        const char *room;               /* room ID or console room name */
        const char *sender;             /* user ID or nick */
        const char *event_id;           /* unique per event; the exactly-once key */
        int64_t ts;                     /* origin timestamp, ms since the epoch */
        const char *msgtype;            /* "m.text" (NULL too), "m.emote", "m.notice" */
        const char *body;               /* may hold NUL bytes: body_len counts */
        size_t body_len;
        const char *formatted_body;     /* may be NULL; never trusted for commands */
        const char *const *mentions;    /* m.mentions user IDs */
        size_t n_mentions;
        const char *thread_root;        /* m.thread relation, may be NULL */
        const char *reply_to;           /* m.in_reply_to, may be NULL */
        const char *replaces;           /* m.replace: the event this edits (body is the new
                                         * content's body); NULL for a plain message */
        const char *redacts;            /* m.room.redaction: the event it removes; body empty */
        const char *reaction_key;       /* m.reaction: the annotation's key ("✅"), else NULL;
                                         * relates_to is then the event it annotates */
        const char *relates_to;
        bool redacted;                  /* a message the homeserver already redacted (its
                                         * content is gone): logged as "[redacted]" */
        int power;                      /* the sender's power level in the room */
};

#endif
