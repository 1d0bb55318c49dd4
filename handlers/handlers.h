/* handlers/handlers.h - the brain: one event in, state changes in the store
 * and effects queued in the outbox. No I/O, no clock, no Matrix knowledge:
 * everything it needs arrives in the event. */
#ifndef GV_HANDLERS_H
#define GV_HANDLERS_H

#include "../store/store.h"
#include "../util/config.h"
#include "event.h"

/* A sender ID is at most this many bytes (the Matrix spec's limit on user
 * IDs); events from longer ones are ignored. */
#define GV_SENDER_MAX 255

/* At most this many commands of one message are run; the rest are
 * ignored, with one reply saying how many. */
#define GV_MAX_COMMANDS_PER_MESSAGE 20

/* Echoed user text is cut to this many bytes (Redis's habit). */
#define GV_ECHO_MAX 128

struct gv_core;

GV_MUST_CHECK enum gv_err gv_core_new(struct gv_store *s, const struct gv_config *cfg,
                                      struct gv_core **ret);
struct gv_core *gv_core_free(struct gv_core *c);

/* For a source whose event IDs are new to this store by construction: a
 * replayed log (IDs from the log's identity and line number, handled in
 * one transaction with the record that the log was replayed, so a crash
 * leaves nothing and a log is never replayed twice). gv_handle() then
 * skips the processed-events claim (a third of a replayed line's cost).
 * Never for Matrix, the console or anything that may deliver twice. */
void gv_core_fresh_ids(struct gv_core *c);

/* Handles one event inside the caller's transaction. An event ID seen before
 * is a no-op. A bad message (too long, unknown command, no permission) gets a
 * reply and returns GV_OK; commands check their input before they write, so
 * what a refused command leaves is only the logged line and the reply. Only
 * GV_EDB / GV_ENOMEM are returned: the caller must then roll back the whole
 * transaction (which also forgets that the event was seen) and try again.
 * An edit (ev->replaces, by the original's sender only) or a redaction
 * (ev->redacts) changes what the earlier event made in the same room (its
 * agenda item, log lines and noted items) and is never read as commands or
 * a tag itself. */
GV_MUST_CHECK enum gv_err gv_handle(struct gv_core *c, const struct gv_event *ev);

/* Timers (issue 10: series releases and reminders): fires, inside the
 * caller's transaction, every timer due at or before now_ms (wall clock, ms)
 * that has not fired yet, queueing its messages in the outbox; one that is
 * overdue is done late (and says so) or skipped when its meeting has begun;
 * none fires twice (the store records each). Same errors as gv_handle(). */
GV_MUST_CHECK enum gv_err gv_tick(struct gv_core *c, int64_t now_ms);
/* When gv_tick() next has work: *due_ms (wall clock, ms), INT64_MAX when
 * no timer is pending. Read-only. */
GV_MUST_CHECK enum gv_err gv_next_due(struct gv_core *c, int64_t now_ms, int64_t *due_ms);

/* One line per command, "#topic <text>  start a new topic (chairs)": for
 * --help and docs. */
void gv_commands_describe(void (*line)(void *ud, const char *text), void *ud);

#endif
