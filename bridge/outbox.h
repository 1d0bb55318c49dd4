/* bridge/outbox.h - what every sender of the outbox shares: lanes, the
 * outcome of a delivery (sent, later, never), backoff, parking, the minutes
 * files, and the drain that the console and the replay run.
 *
 * Rows go out per lane, in order: a room's rows are its lane, the minutes
 * files one lane of their own. A row that fails for now holds back its own
 * lane only, until its next attempt is due; a row that can never be sent
 * (a 403, content that cannot be built, ...) is parked with its reason and
 * its lane goes on. A row is marked sent only once it was delivered. */
#ifndef GV_OUTBOX_H
#define GV_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../store/store.h"
#include "../util/config.h"

/* First wait after a failure; it doubles per attempt up to backoff_max_ms. */
#define GV_OUTBOX_RETRY_MS 1000
/* Ceiling on the reason kept with a failed row. */
#define GV_OUTBOX_WHY_MAX 256

enum gv_delivery {
        GV_DELIVERED = 0,       /* mark sent */
        GV_DELIVER_LATER,       /* failed for now: try again after a backoff */
        GV_DELIVER_NEVER,       /* can never be sent as it is: park */
};

struct gv_sink {
        void *ud;
        unsigned kinds;         /* the GV_OUT_BIT()s this sink delivers; others stay */
        /* Sets *d and, unless delivered, why (NUL-terminated, at most n bytes).
         * Returns GV_OK, or an error that stops the drain (the database). */
        enum gv_err (*deliver)(void *ud, const struct gv_out *o, enum gv_delivery *d,
                               char *why, size_t n);
};

/* The lane of a row: "" for the minutes files, else its room. */
const char *gv_outbox_lane(const struct gv_out *o);

/* The wait after a row's attempts-th failure (1, 2, ...): GV_OUTBOX_RETRY_MS
 * doubled per attempt, at most max_ms. No jitter: callers add their own. */
int64_t gv_outbox_backoff(int64_t attempts, int64_t max_ms);

/* Records the outcome of one delivery: sent at now; later, due at next_at
 * (wall-clock ms), logged at the first failure of a row; parked, logged once. */
GV_MUST_CHECK enum gv_err gv_outbox_settle(struct gv_store *s, const struct gv_out *o,
                                           enum gv_delivery d, const char *why, int64_t now,
                                           int64_t next_at);

/* Writes a GV_OUT_FILE row into dir. A write that failed (an unwritable or
 * missing directory, a file in its place, a full disk) is GV_DELIVER_LATER;
 * a row whose minutes cannot be rendered is GV_DELIVER_NEVER. The first
 * failure of a meeting's files queues one m.notice in the meeting's room
 * naming dir and the error. Returns only database errors. */
GV_MUST_CHECK enum gv_err gv_outbox_write_file(struct gv_store *s, const struct gv_config *cfg,
                                               const char *dir, const struct gv_out *o,
                                               int64_t now, enum gv_delivery *d, char *why,
                                               size_t n);
/* gv_outbox_write_file() in three steps, for a worker thread to do the
 * writing (bridge/matrix_send.c): the row's file rendered into out (the
 * store, on the loop's thread); then gv_archive_put() anywhere; then its
 * result r (and errno e) made an outcome, as gv_outbox_write_file() does.
 * The render returns what gv_minutes_file() does. */
struct gv_buf;
GV_MUST_CHECK enum gv_err gv_outbox_file_render(struct gv_store *s, const struct gv_config *cfg,
                                                const struct gv_out *o, struct gv_buf *out);
GV_MUST_CHECK enum gv_err gv_outbox_file_outcome(struct gv_store *s, const char *dir,
                                                 const struct gv_out *o, enum gv_err r, int e,
                                                 int64_t now, enum gv_delivery *d, char *why,
                                                 size_t n);

/* Delivers every due pending row the sink claims, oldest first, lane by
 * lane as above; a failed row is due again after gv_outbox_backoff(). Stops
 * only on a database error. *waiting (may be NULL): rows left pending. */
GV_MUST_CHECK enum gv_err gv_outbox_drain(struct gv_store *s, int64_t now, int64_t backoff_max_ms,
                                          const struct gv_sink *sink, size_t *waiting);

/* `gavel outbox [retry ID]`: lists the pending and parked rows of
 * cfg->database (id, state, kind, attempts, room, reason) on out, or puts
 * parked row ID back to pending. Returns the exit status: 0, 1 (no such
 * waiting row, a database error), 2 (usage). */
int gv_outbox_command(const struct gv_config *cfg, const char *action, const char *id, FILE *out);

#endif
