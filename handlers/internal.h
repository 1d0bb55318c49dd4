/* handlers/internal.h - shared between core.c (the event path) and
 * commands.c (the command table). Not for the bridge. */
#ifndef GV_HANDLERS_INTERNAL_H
#define GV_HANDLERS_INTERNAL_H

#include <stdbool.h>
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/config.h"
#include "event.h"
#include "handlers.h"
#include "parse.h"

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
};

/* What one event's processing knows. */
struct ctx {
        struct gv_core *c;
        const struct gv_event *ev;
        char nick[128];
        struct gv_meeting m;            /* valid when in_meeting */
        bool in_meeting;
        bool m_owned;                   /* m's strings are ours, not the cache's */
        char echo[4][GV_ECHO_MAX + 8];  /* ring for ech() */
        unsigned echo_next;
};

bool gv_fatal(enum gv_err r);
GV_MUST_CHECK enum gv_err ctx_load_meeting(struct ctx *x);
/* Before anything may change the meeting: x->m becomes x's own copy and
 * the cache is forgotten. */
void ctx_own_meeting(struct ctx *x);
void ctx_drop_meeting(struct ctx *x);

/* User text made safe to echo: bounded, one line. Valid until four more calls. */
const char *ech(struct ctx *x, const char *s);

/* Effects. */
GV_MUST_CHECK enum gv_err reply(struct ctx *x, const char *text);
GV_MUST_CHECK enum gv_err replyf(struct ctx *x, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
GV_MUST_CHECK enum gv_err queue_reaction(struct ctx *x, const char *key);

bool is_command(const struct gv_cmdline *cl);
/* True for the commands that note an item (#info, #action, #idea, #link,
 * #agreed, #accepted, #rejected, #help, #halp), with the item's kind. */
bool note_command_kind(const struct gv_cmdline *cl, enum gv_mkind *kind);
GV_MUST_CHECK enum gv_err run_command(struct ctx *x, const struct gv_cmdline *cl);
GV_MUST_CHECK enum gv_err note_item(struct ctx *x, enum gv_mkind kind, const char *text, size_t len);
/* 1-based index of item id in the agenda as shown; 0 when not shown. */
GV_MUST_CHECK enum gv_err agenda_index_of(struct ctx *x, const char *agenda, int64_t id, size_t *index);
const char *tag_for_agenda(const struct gv_config *cfg, const char *agenda);

#endif
