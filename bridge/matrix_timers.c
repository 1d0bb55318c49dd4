/* bridge/matrix_timers.c - the handlers' timers (series releases and
 * reminders, handlers/series.c) in the one event loop.
 *
 * On every loop turn, once this run's first sync batch is applied (so a
 * #startmeeting said while gavel was down is known before a late release is
 * judged), gv_next_due() says when the next timer is; when it is reached,
 * gv_tick() runs in its own store transaction and the outbox drains. A tick
 * that fails is rolled back and tried again with backoff, as a batch is. The
 * loop's poll wakes at the due time (mx_timers_due), also while a /sync long
 * poll is in flight; nothing here waits on a room, a lane or the network.
 * Time is the process clock (mx_wall_ms: GAVEL_TEST_TIME in tests). */
#include <stdint.h>

#include "../handlers/handlers.h"
#include "../store/store.h"
#include "../util/log.h"
#include "matrix_internal.h"

#define TIMER_STUCK_MS 1000

void mx_timers_step(struct mx *m)
{
        int64_t mono = mx_now_ms(), now, due = INT64_MAX;
        enum gv_err r;

        if (!m->caught_up || m->stop || mono < m->timer_at)
                return;
        now = mx_wall_ms();
        r = gv_next_due(m->core, now, &due);
        if (r == GV_OK && due > now) {
                m->timer_due = due;
                return;
        }
        if (r == GV_OK) {
                r = gv_store_begin(m->s);
                if (r == GV_OK)
                        r = gv_tick(m->core, now);
                if (r == GV_OK)
                        r = gv_store_commit(m->s);
                if (r)
                        gv_store_rollback(m->s);
        }
        if (r) {
                gv_err_log("matrix", "the timers failed (%s: %s); trying again", gv_strerror(r),
                           gv_store_errmsg(m->s));
                m->timer_at = mono + mx_backoff(m, &m->timer_backoff);
                m->timer_due = INT64_MAX;
                return;
        }
        m->timer_backoff = 0;
        m->timer_at = 0;
        /* what the tick queued goes now; the next timer is asked next turn */
        m->timer_due = now;
        m->outbox_empty = false;
        mx_start_sender(m);
        if (gv_next_due(m->core, now, &due) == GV_OK)
                m->timer_due = due;
        if (m->timer_due <= now) {
                /* the tick left its timer due: not again at once (no spinning) */
                gv_warn("matrix", "a timer is still due after it fired; trying again in %d ms",
                        TIMER_STUCK_MS);
                m->timer_at = mono + TIMER_STUCK_MS;
        }
}

bool mx_timers_due(const struct mx *m, int64_t *at)
{
        int64_t mono = mx_now_ms(), wall;

        if (!m->caught_up)
                return false;
        if (m->timer_at > mono) {
                *at = m->timer_at;
                return true;
        }
        if (m->timer_due == INT64_MAX)
                return false;
        wall = mx_wall_ms();
        /* the process clock runs at the monotonic clock's speed */
        *at = m->timer_due <= wall ? mono : mono + (m->timer_due - wall);
        return true;
}
