/* handlers/effects.h - the bottom of handlers/, shared by core.c and the
 * commands: the gv_core handle, one event's ctx (the running meeting, cached
 * per room), permission checks, the meeting's record and the effects
 * (replies, reactions, outbox rows). Knows the store and util; calls nothing
 * in core.c or the commands. Not for the bridge. */
#ifndef GV_HANDLERS_EFFECTS_H
#define GV_HANDLERS_EFFECTS_H

#include <stdbool.h>
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/config.h"
#include "event.h"
#include "handlers.h"

/* Senders whose nick in the running meeting is kept by struct gv_core. */
#define GV_PEOPLE_CACHE 64

struct gv_core {
        struct gv_store *s;
        const struct gv_config *cfg;
        /* The running meeting of the last room seen, so that chatter (most
         * lines) costs no query. Valid while cache_set, for cache_room, as long
         * as the store has not rolled back since (cache_gen); handed over to
         * the event's ctx before any command runs. */
        struct gv_meeting cache;
        char *cache_room;
        uint64_t cache_gen;
        bool cache_set;
        bool cache_has;
        /* Who is who in that meeting (the people table: a sender's nick,
         * fixed once given): the senders seen since the meeting was loaded,
         * so that chatter costs no query. Valid for people_meeting as long
         * as the store has not rolled back since (people_gen). */
        struct { char *sender, *nick; } people[GV_PEOPLE_CACHE];
        size_t n_people;
        int64_t people_meeting;
        uint64_t people_gen;
        bool fresh_ids;         /* gv_core_fresh_ids(): no processed-events claim */
};

/* The replies one event causes go out as one message: at most this much
 * body (HTML four times as much) and this many distinct pings; beyond,
 * another message starts. */
#define GV_REPLY_MAX_BODY (1u << 20)
#define GV_REPLY_MAX_MENTIONS 128

/* Room for a nick: a short one, or a short one and a whole sender ID. */
#define GV_NICK_BYTES (128 + GV_SENDER_MAX + 4)

/* What one event's processing knows. */
struct ctx {
        struct gv_core *c;
        const struct gv_event *ev;
        /* The sender's nick: its short form ("alice"), or in a meeting the
         * one it goes by there ("alice (@alice:evil.org)" for a second
         * alice, see ctx_person()). */
        char nick[GV_NICK_BYTES];
        struct gv_meeting m;            /* valid when in_meeting */
        bool in_meeting;
        bool m_owned;                   /* m's strings are ours, not the cache's */
        char echo[4][GV_ECHO_MAX + 8];  /* ring for ech() */
        unsigned echo_next;
        /* The replies to this event so far, sent as one message (see
         * flush_replies()); rbody/rhtml are set up by ctx_init(). */
        struct gv_buf rbody, rhtml;
        char *rmentions[GV_REPLY_MAX_MENTIONS];
        size_t n_rmentions;
        bool rpending;
        /* Commands run from this event's message, and those over the cap. */
        unsigned n_commands, n_ignored;
};

/* Ready for one event: zeroed, the reply buffers with their ceilings. */
void ctx_init(struct ctx *x, struct gv_core *c, const struct gv_event *ev);
/* Frees what ctx_init() and the replies hold. */
void ctx_fini(struct ctx *x);

bool gv_fatal(enum gv_err r);

/* ---- the event's ctx ---- */

/* The cached running meeting is forgotten: after a failed event (the caller
 * may roll back) or a change the cache does not follow. */
void cache_forget(struct gv_core *c);
/* Forgets the senders' nicks kept for the running meeting. */
void people_forget(struct gv_core *c);
GV_MUST_CHECK enum gv_err ctx_load_meeting(struct ctx *x);
/* Before anything may change the meeting: x->m becomes x's own copy and
 * the cache is forgotten. */
void ctx_own_meeting(struct ctx *x);
void ctx_drop_meeting(struct ctx *x);

/* The event's time as the running meeting records it: never before the
 * meeting started, whatever the sender's clock says (a clock set back, a
 * replayed log out of order), so no meeting ends before it began. Lines
 * keep the order they were said in either way. */
int64_t meeting_ts(const struct ctx *x);

/* In a running meeting, x->nick becomes the nick the sender goes by there,
 * fixed the first time they appear: their short nick, unless another person
 * of the meeting already has it; then "nick (@full:id)". */
GV_MUST_CHECK enum gv_err ctx_person(struct ctx *x);
/* Is s a Matrix user ID ("@local:server", no blanks)? */
bool is_matrix_user(const char *s);

/* User text made safe to echo: bounded, one line. Valid until four more calls. */
const char *ech(struct ctx *x, const char *s);

/* ---- permissions ---- */

/* Chair by power level, or made one (#chair) in the running meeting. */
GV_MUST_CHECK enum gv_err is_chair(struct ctx *x, bool *chair);
/* The running meeting's chairs, ", "-separated, appended to b. */
GV_MUST_CHECK enum gv_err chairs_text(struct ctx *x, struct gv_buf *b);
/* A gv_store_chairs()/gv_store_nicks() callback: nick appended to the
 * gv_buf ud, ", "-separated. */
void add_nick(void *ud, const char *nick);

/* ---- the meeting's record ---- */

GV_MUST_CHECK enum gv_err note_item(struct ctx *x, enum gv_mkind kind, const char *text, size_t len);
/* A new topic of the running meeting, announced in a reply; item (NULL for
 * none) is the agenda item it takes up, whose reporter and mentions are
 * pinged. */
GV_MUST_CHECK enum gv_err start_topic(struct ctx *x, const char *text, const struct gv_item *item);

/* ---- effects ---- */

/* Replies (reply(), replyf(), reply_pinging(), queue_message() as_reply to
 * the event's room) are gathered: lines joined by newlines, HTML by <br>,
 * mentions merged, in reply to the event (in its thread). flush_replies()
 * queues them as ONE outbox message; it runs before any other outbox row
 * (so the order holds) and at the end of gv_handle(). */
GV_MUST_CHECK enum gv_err flush_replies(struct ctx *x);
GV_MUST_CHECK enum gv_err reply(struct ctx *x, const char *text);
GV_MUST_CHECK enum gv_err replyf(struct ctx *x, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* A reply; the Matrix IDs among mentions are pinged: listed in m.mentions and
 * shown as pills. */
GV_MUST_CHECK enum gv_err reply_pinging(struct ctx *x, const char *text,
                                        const char *const *mentions, size_t n);
/* A "message" outbox row: an m.notice with body and html, in reply to the
 * event (and in its thread) when as_reply; the Matrix IDs among mentions
 * go in m.mentions. */
GV_MUST_CHECK enum gv_err queue_message(struct ctx *x, const char *room, const char *body,
                                        const char *html, bool as_reply,
                                        const char *const *mentions, size_t n_mentions);
GV_MUST_CHECK enum gv_err queue_reaction(struct ctx *x, const char *key);
/* A series' release (issue 10): a message to room, not a reply, whose
 * pinged Matrix IDs are pills and in m.mentions, and whose extra says
 * "keep_event": the sender keeps its event ID (gv_store_release_sent) for
 * the reactions to it. *row: its outbox row. */
GV_MUST_CHECK enum gv_err queue_release(struct ctx *x, const char *room, const char *text,
                                        const char *html, const char *const *pings, size_t n,
                                        int64_t *row);
/* text escaped into html, lines joined by <br>, each Matrix ID among
 * pings a pill. */
GV_MUST_CHECK enum gv_err text_html(const char *text, const char *const *pings, size_t n_pings,
                                    struct gv_buf *html);
/* An outbox row of kind (GV_OUT_MINUTES, GV_OUT_FILE) naming the running
 * meeting, in format or under header (either may be NULL); rendered when
 * delivered. */
GV_MUST_CHECK enum gv_err queue_minutes(struct ctx *x, enum gv_out_kind kind, const char *room,
                                        const char *format, const char *header);
/* A webhook row (GV_OUT_WEBHOOK) per configured webhook taking event
 * (GV_HOOK_*), naming the meeting and/or the agenda item (0: none). */
GV_MUST_CHECK enum gv_err queue_hooks(struct ctx *x, unsigned event, int64_t meeting,
                                      int64_t item);
/* At #endmeeting: a GV_OUT_WIKI row per wiki that takes the meeting's
 * agenda, an item.discussed webhook row per discussed item and a
 * minutes.published one. */
GV_MUST_CHECK enum gv_err queue_publish(struct ctx *x);

#endif
