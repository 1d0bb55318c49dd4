/* bridge/matrix_sync.c - the /sync long poll, gap filling with /messages
 * for limited timelines, and applying a batch: rooms merged by timestamp,
 * in one transaction with next_batch.
 *
 * Gap filling: a limited timeline is filled back page by page until the
 * room's last applied event (or an event already handled, or the room's
 * start). Failed pages are retried with backoff, as timers of the loop.
 * Beyond gap_fill_max_events the pages are only counted, and the batch
 * queues one notice in the room saying how many events were skipped. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../store/store.h"
#include "../util/log.h"
#include "http.h"
#include "matrix_internal.h"
#include "sync.h"

#define GAP_PAGE 100             /* events per /messages page */
#define MAX_COUNT_PAGES 1000    /* past the horizon, pages counted at most */

/* ---- applying a sync batch ---- */

/* One room's events of a batch, oldest first: the gap (pages newest first,
 * each page newest first), then the timeline. */
struct cursor {
        struct room *rm;
        const struct gv_sync_room *sr;
        const struct gap *gap;
        size_t page, i;         /* in the gap: page counts down from n_pages */
        bool in_gap;
};

static const struct gv_sync_event *cursor_peek(struct cursor *c)
{
        while (c->in_gap) {
                const struct gv_sync *pg;
                size_t n;

                if (c->page == 0) {
                        c->in_gap = false;
                        c->i = 0;
                        break;
                }
                pg = c->gap->pages[c->page - 1];
                /* of the oldest page only the newest `keep` events are new */
                n = c->page == c->gap->n_pages ? c->gap->keep : pg->n_chunk;
                if (c->i < n)
                        return &pg->chunk[n - 1 - c->i];
                c->page--;
                c->i = 0;
        }
        return c->i < c->sr->n_timeline ? &c->sr->timeline[c->i] : NULL;
}

/* Whether the gap's kept events hold event_id. */
static bool in_gap(const struct gap *g, const char *event_id)
{
        for (size_t p = 0; g && p < g->n_pages; p++) {
                const struct gv_sync *pg = g->pages[p];
                size_t n = p + 1 == g->n_pages ? g->keep : pg->n_chunk;

                for (size_t i = 0; i < n; i++)
                        if (strcmp(pg->chunk[i].event_id, event_id) == 0)
                                return true;
        }
        return false;
}

/* Applies a batch's rooms. Rooms come as a map, so events of different rooms
 * are merged by origin_server_ts (each room's own order kept): a tag in one
 * room and !agenda in another are handled in the order they were sent. */
static enum gv_err apply_rooms(struct mx *m, const struct gv_sync *b, bool history)
{
        struct cursor *cur = calloc(b->n_rooms ? b->n_rooms : 1, sizeof(*cur));
        size_t n = 0;
        enum gv_err r = GV_OK;

        if (!cur)
                return GV_ENOMEM;
        for (size_t i = 0; i < b->n_rooms && r == GV_OK; i++) {
                const struct gv_sync_room *sr = &b->rooms[i];
                const struct gap *gap = NULL;
                struct room *rm;
                size_t g;

                if (sr->kind == GV_ROOM_INVITE) {
                        r = mx_handle_invite(m, sr);
                        continue;
                }
                rm = mx_room_get(m, sr->room_id);
                if (!rm) {
                        r = GV_ENOMEM;
                        break;
                }
                for (g = 0; g < m->n_gaps; g++)
                        if (m->gaps[g].room == i)
                                gap = &m->gaps[g];
                /* the state at the start of the timeline, less what the gap
                 * brings: that is applied in its place among the gap's events
                 * (a power level change after a message in the gap must not
                 * count for that message) */
                for (size_t k = 0; k < sr->n_state && r == GV_OK; k++)
                        if (!in_gap(gap, sr->state[k].event_id))
                                r = mx_track_state(m, rm, &sr->state[k]);
                /* our own join in this batch: what came before it is history */
                for (size_t k = 0; k < sr->n_timeline && r == GV_OK; k++) {
                        const struct gv_sync_event *e = &sr->timeline[k];

                        if (e->state_key && strcmp(e->type, "m.room.member") == 0 &&
                            strcmp(e->state_key, m->cfg->user_id) == 0)
                                r = mx_track_state(m, rm, e);
                }
                cur[n].rm = rm;
                cur[n].sr = sr;
                cur[n].gap = gap;
                cur[n].in_gap = cur[n].gap != NULL;
                cur[n].page = cur[n].gap ? cur[n].gap->n_pages : 0;
                n++;
        }
        while (r == GV_OK) {
                struct cursor *best = NULL;
                const struct gv_sync_event *be = NULL;

                for (size_t i = 0; i < n; i++) {
                        const struct gv_sync_event *e = cursor_peek(&cur[i]);

                        if (e && (!be || e->ts < be->ts)) {
                                best = &cur[i];
                                be = e;
                        }
                }
                if (!best)
                        break;
                r = mx_handle_timeline_event(m, best->rm, be, history);
                best->i++;
        }
        /* where the next gap in each room stops */
        for (size_t i = 0; i < n && r == GV_OK; i++)
                if (cur[i].sr->n_timeline)
                        r = mx_room_set_last(m, cur[i].rm,
                                             &cur[i].sr->timeline[cur[i].sr->n_timeline - 1]);
        free(cur);
        return r;
}

/* One notice per room whose gap went past gap_fill_max_events. */
static enum gv_err notice_skipped(struct mx *m, const struct gv_sync *b)
{
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < m->n_gaps && r == GV_OK; i++) {
                const struct gap *g = &m->gaps[i];
                char body[512];

                if (!g->skipped)
                        continue;
                snprintf(body, sizeof(body),
                         "gavel was away for a while and did not handle %s%llu earlier events in "
                         "this room (it fetches back at most %lld, its gap_fill_max_events). "
                         "Say again anything it should act on.",
                         g->count_cut ? "more than " : "", (unsigned long long)g->skipped,
                         (long long)m->cfg->gap_fill_max_events);
                gv_warn("matrix", "%s: %s%llu events beyond gap_fill_max_events (%lld) skipped",
                        b->rooms[g->room].room_id, g->count_cut ? "more than " : "",
                        (unsigned long long)g->skipped, (long long)m->cfg->gap_fill_max_events);
                r = gv_store_outbox_add(m->s, GV_OUT_MESSAGE, b->rooms[g->room].room_id, body, NULL,
                                        NULL, mx_wall_ms());
        }
        return r;
}

void mx_gaps_free(struct mx *m)
{
        for (size_t i = 0; i < m->n_gaps; i++) {
                for (size_t p = 0; p < m->gaps[i].n_pages; p++)
                        gv_sync_free(m->gaps[i].pages[p]);
                free(m->gaps[i].pages);
                free(m->gaps[i].from);
        }
        free(m->gaps);
        m->gaps = NULL;
        m->n_gaps = 0;
}

/* The trace's line for a batch: its size and the stages, in µs from the
 * moment the /sync answer was complete (the gap fill, if any, is in
 * "handled"). The sends it queued each say when their PUT went out and
 * when it was acknowledged (matrix_send.c). */
static void trace_batch(const struct mx *m, const struct gv_sync *b, size_t sliced_rooms,
                        size_t sliced_events)
{
        size_t events = sliced_events;

        for (size_t i = 0; i < b->n_rooms; i++)
                events += b->rooms[i].n_timeline;
        gv_debug("trace", "sync batch: %zu rooms, %zu timeline events, %zu to-device: "
                 "parsed +%lld us, handled +%lld us, committed +%lld us",
                 b->n_rooms + sliced_rooms, events,
                 b->n_to_device, (long long)(m->tr_parsed - m->tr_recv),
                 (long long)(m->tr_handled - m->tr_recv),
                 (long long)(m->tr_committed - m->tr_recv));
}

static void drop_slices(struct mx *m)
{
        free(m->join_spans);
        m->join_spans = NULL;
        m->join_text = NULL;
        m->n_join = 0;
}

/* The joined rooms of a big initial sync, MX_SLICE_ROOMS at a time: each
 * slice parsed, applied (its rooms' events merged by time among
 * themselves) and freed, the rooms cache trimmed, so that the tree of the
 * whole is never built. In the batch's one transaction, like the rest. */
static enum gv_err apply_slices(struct mx *m, struct gv_sync *b, bool history, size_t *rooms,
                                size_t *events)
{
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < m->n_join && r == GV_OK; i += MX_SLICE_ROOMS) {
                size_t n = m->n_join - i < MX_SLICE_ROOMS ? m->n_join - i : MX_SLICE_ROOMS;
                struct gv_sync *sl = NULL;

                r = gv_sync_parse_slice(m->join_text, m->join_spans + i, n, &sl);
                if (r == GV_OK)
                        r = apply_rooms(m, sl, history);
                if (sl) {
                        b->skipped += sl->skipped;
                        *rooms += sl->n_rooms;
                        for (size_t k = 0; k < sl->n_rooms; k++)
                                *events += sl->rooms[k].n_timeline;
                }
                gv_sync_free(sl);
                mx_rooms_trim(m, MX_ROOMS_CACHED);
        }
        if (m->n_join)
                malloc_trim(0); /* the slices' pages back to the system */
        return r;
}

static void apply_batch(struct mx *m)
{
        struct gv_sync *b = m->batch;
        bool history = !m->since && m->cfg->initial_history == 0;
        uint64_t adds = gv_store_outbox_adds(m->s);
        size_t sliced_rooms = 0, sliced_events = 0;
        /* nothing for E2EE either (a share may wait for a device) */
        bool quiet = !b->n_to_device && !b->n_dl_changed && !b->n_dl_left;
        enum gv_err r;

        r = gv_store_begin(m->s);
        if (r == GV_OK)
                r = mx_e2ee_batch(m, b);        /* to-device first: keys for the timeline */
        if (r == GV_OK)
                r = apply_rooms(m, b, history);
        if (r == GV_OK)
                r = apply_slices(m, b, history, &sliced_rooms, &sliced_events);
        if (r == GV_OK)
                r = notice_skipped(m, b);
        if (MX_TRACING())
                m->tr_handled = mx_now_us();
        /* an unchanged token (a long poll that timed out with nothing new)
         * is not written again: no page, no WAL frame */
        if (r == GV_OK && (!m->since || strcmp(m->since, b->next_batch) != 0))
                r = gv_store_kv_set(m->s, "next_batch", b->next_batch);
        if (r == GV_OK)
                r = gv_store_commit(m->s);
        /* the next /sync acknowledges the to-device messages: the server
         * deletes them, so they are on the disk first (the rest it sends
         * again after a power loss, see gv_store_sync()) */
        if (r == GV_OK && b->n_to_device)
                r = gv_store_sync(m->s);
        if (MX_TRACING()) {
                m->tr_committed = mx_now_us();
                trace_batch(m, b, sliced_rooms, sliced_events);
                if (!m->tr_first && r == GV_OK)
                        gv_debug("trace", "first sync batch applied %lld us after the start",
                                 (long long)(m->tr_committed - m->tr_start));
                m->tr_first = m->tr_first || r == GV_OK;
        }
        if (r) {
                gv_store_rollback(m->s);
                mx_rooms_forget(m);
                gv_err_log("matrix", "applying a sync batch failed (%s: %s); it will be fetched "
                           "again", gv_strerror(r), gv_store_errmsg(m->s));
                m->sync_at = mx_now_ms() + mx_backoff(m, &m->sync_backoff);
        } else {
                char *since = strdup(b->next_batch);

                if (since) {
                        free(m->since);
                        m->since = since;
                }
                m->sync_backoff = 0;
                m->sync_at = 0;
                m->caught_up = true;
                if (b->skipped)
                        gv_warn("matrix", "%zu malformed events in a sync batch left out",
                                b->skipped);
        }
        m->batch = gv_sync_free(m->batch);
        mx_gaps_free(m);
        drop_slices(m);
        mx_rooms_trim(m, MX_ROOMS_CACHED);
        /* a batch that queued nothing (chatter) costs the sender nothing */
        if (!quiet || gv_store_outbox_adds(m->s) != adds)
                m->outbox_empty = false;
        mx_start_sender(m);
}

/* ---- gap filling ---- */

/* An event at or before the end of what was applied: the room's last
 * event, or one the handlers took already. */
static bool known(struct mx *m, const struct room *rm, const struct gv_sync_event *e)
{
        bool seen = false;

        if (rm->last_event && strcmp(e->event_id, rm->last_event) == 0)
                return true;
        return gv_store_event_seen(m->s, e->event_id, &seen) == GV_OK && seen;
}

static struct gap *gap_current(struct mx *m)
{
        for (size_t i = 0; i < m->n_gaps; i++)
                if (!m->gaps[i].done)
                        return &m->gaps[i];
        return NULL;
}

/* A page arrived (newest first): keep what is new up to the horizon, count
 * the rest. Returns false when out of memory (nothing changed: the page is
 * asked for again). Takes pg. */
static bool take_page(struct mx *m, struct gap *g, struct gv_sync *pg)
{
        const struct gv_sync_room *sr = &m->batch->rooms[g->room];
        struct room *rm = mx_room_get(m, sr->room_id);
        size_t fresh = 0, keep, skip = 0, others = 0;
        bool reached = false, done;
        char *from = NULL;

        if (!rm)
                goto nomem;
        for (; fresh < pg->n_chunk; fresh++)
                if (known(m, rm, &pg->chunk[fresh])) {
                        reached = true;
                        break;
                }
        done = reached || !pg->next_batch || pg->n_chunk == 0;
        if (!done && !(from = strdup(pg->next_batch)))
                goto nomem;
        keep = g->counting ? 0 : fresh;
        if (!g->counting && keep > (size_t)m->cfg->gap_fill_max_events - g->n_events)
                keep = (size_t)m->cfg->gap_fill_max_events - g->n_events;
        skip = fresh - keep;
        /* the bot's own events were never to be handled: not counted skipped */
        for (size_t i = keep; i < fresh; i++)
                if (!pg->chunk[i].sender || strcmp(pg->chunk[i].sender, m->cfg->user_id) != 0)
                        others++;
        if (keep) {
                struct gv_sync **pages = realloc(g->pages, (g->n_pages + 1) * sizeof(*pages));

                if (!pages)
                        goto nomem;
                g->pages = pages;
                g->pages[g->n_pages++] = pg;
                g->keep = keep;
                g->n_events += keep;
                pg = NULL;
        }
        if (skip || g->counting) {
                g->counting = true;
                g->skipped += others;
                if (++g->count_pages >= MAX_COUNT_PAGES && !done) {
                        g->count_cut = true;
                        done = true;
                }
        }
        free(g->from);
        g->from = from;
        g->done = done;
        gv_sync_free(pg);
        return true;
nomem:
        free(from);
        gv_sync_free(pg);
        return false;
}

static void on_messages(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        struct gap *g = gap_current(m);
        struct gv_sync *pg = NULL;
        cJSON *json = NULL;
        const char *code;

        m->sync_busy = false;
        if (!g || !m->batch)
                return;
        if (resp->err == GV_OK && resp->status == 200 &&
            gv_sync_parse_messages(resp->body, resp->len, &pg) == GV_OK) {
                m->gap_backoff = 0;
                if (!take_page(m, g, pg)) {
                        gv_err_log("matrix", "filling a gap in %s: out of memory; retrying",
                                   m->batch->rooms[g->room].room_id);
                        m->gap_at = mx_now_ms() + mx_backoff(m, &m->gap_backoff);
                        return;
                }
                mx_fill_gaps(m);
                return;
        }
        code = resp->err ? NULL : mx_errcode(resp, &json);
        if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);    /* the loop goes on once logged in again */
        } else if (resp->status == 429) {
                int64_t ra = mx_retry_after(resp, json);

                m->gap_at = mx_now_ms() + (ra >= 0 ? ra : mx_backoff(m, &m->gap_backoff));
        } else if (resp->err || resp->status >= 500 || resp->status == 408 ||
                   resp->status == 200) {
                gv_info("matrix", "filling a gap in %s: %s %ld; retrying",
                        m->batch->rooms[g->room].room_id,
                        resp->err ? resp->errmsg : resp->status == 200 ? "unreadable answer" :
                                                                         "HTTP",
                        resp->status);
                m->gap_at = mx_now_ms() + mx_backoff(m, &m->gap_backoff);
        } else {
                /* refused for good (403: no longer in the room, ...): it cannot be filled */
                gv_err_log("matrix", "filling a gap in %s refused: %ld %s; messages before the "
                           "newest %zu are not handled", m->batch->rooms[g->room].room_id,
                           resp->status, code ? code : "", g->n_events);
                g->done = true;
                mx_fill_gaps(m);
        }
        cJSON_Delete(json);
}

void mx_fill_gaps(struct mx *m)
{
        struct gap *g = gap_current(m);
        char lim[16];

        if (!m->batch || m->sync_busy)
                return;
        if (!g) {
                apply_batch(m);
                return;
        }
        if (m->relogin || mx_now_ms() < m->gap_at)
                return;         /* the loop calls again */
        snprintf(lim, sizeof(lim), "%d", GAP_PAGE);
        m->sync_busy = true;
        mx_request(m, "GET",
                mx_url(m, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=%s&from=%s"
                       "&filter=%s", m->batch->rooms[g->room].room_id, lim, g->from,
                    "{\"types\":" TIMELINE_TYPES "}"),
                NULL, REQUEST_TIMEOUT_MS, GV_SYNC_MAX_BYTES, on_messages);
}

/* ---- sync ---- */

/* A /sync answer. An initial one with more than MX_SLICE_ROOMS joined
 * rooms is split: the rest parsed now, the rooms in slices as the batch is
 * applied (apply_slices) from the answer's text. */
static enum gv_err parse_sync(struct mx *m, const struct gv_http_resp *resp, struct gv_sync **b)
{
        char *skeleton = NULL;
        size_t sk_len = 0;
        enum gv_err r;

        drop_slices(m);
        if (m->since || resp->len < (64u << 10))      /* a scan would not pay */
                return gv_sync_parse(resp->body, resp->len, b);
        r = gv_sync_split(resp->body, resp->len, &m->join_spans, &m->n_join, &skeleton, &sk_len);
        if (r == GV_ENOTFOUND || (r == GV_OK && m->n_join <= MX_SLICE_ROOMS)) {
                free(skeleton);
                drop_slices(m);
                return gv_sync_parse(resp->body, resp->len, b);
        }
        if (r)
                return r;
        r = gv_sync_parse(skeleton, sk_len, b);
        free(skeleton);
        if (r) {
                drop_slices(m);
                return r;
        }
        m->join_text = resp->body;
        gv_debug("matrix", "initial sync of %zu joined rooms (%zu bytes): applied %d at a time",
                 m->n_join, resp->len, MX_SLICE_ROOMS);
        return GV_OK;
}

static void on_sync(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code;
        struct gv_sync *b = NULL;
        enum gv_err r;

        m->sync_busy = false;
        if (resp->err == GV_OK && resp->status == 200) {
                if (MX_TRACING())
                        m->tr_recv = mx_now_us();
                r = parse_sync(m, resp, &b);
                if (MX_TRACING())
                        m->tr_parsed = mx_now_us();
                if (r) {
                        gv_err_log("matrix", "unreadable /sync response (%s); retrying",
                                   gv_strerror(r));
                        m->sync_at = mx_now_ms() + mx_backoff(m, &m->sync_backoff);
                        return;
                }
                m->said_down = false;
                m->batch = b;
                /* limited timelines: fill the gap back to what we saw */
                for (size_t i = 0; i < b->n_rooms && m->since; i++) {
                        struct gap *gs;

                        if (b->rooms[i].kind != GV_ROOM_JOIN || !b->rooms[i].limited ||
                            !b->rooms[i].prev_batch)
                                continue;
                        gs = realloc(m->gaps, (m->n_gaps + 1) * sizeof(*gs));
                        if (!gs)
                                break;
                        m->gaps = gs;
                        memset(&gs[m->n_gaps], 0, sizeof(gs[0]));
                        gs[m->n_gaps].room = i;
                        gs[m->n_gaps].from = strdup(b->rooms[i].prev_batch);
                        gs[m->n_gaps].done = !gs[m->n_gaps].from;
                        m->n_gaps++;
                }
                m->gap_at = 0;
                m->gap_backoff = 0;
                mx_fill_gaps(m);
                if (m->join_spans) {
                        /* cannot be: a batch in slices has no gaps and was
                         * applied; its text goes with this callback */
                        gv_err_log("matrix", "a sliced sync batch was not applied; fetching it again");
                        m->batch = gv_sync_free(m->batch);
                        mx_gaps_free(m);
                        drop_slices(m);
                        m->sync_at = mx_now_ms() + mx_backoff(m, &m->sync_backoff);
                }
                return;
        }
        code = resp->err ? NULL : mx_errcode(resp, &json);
        if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else if (resp->status == 429) {
                int64_t ra = mx_retry_after(resp, json);

                m->sync_at = mx_now_ms() + (ra >= 0 ? ra : mx_backoff(m, &m->sync_backoff));
        } else {
                if (resp->err && !m->said_down) {
                        gv_warn("matrix", "/sync failed: %s; retrying with backoff", resp->errmsg);
                        m->said_down = true;
                } else if (!resp->err && resp->status != 200) {
                        gv_warn("matrix", "/sync answered %ld %s; retrying with backoff",
                                resp->status, code ? code : "");
                }
                m->sync_at = mx_now_ms() + mx_backoff(m, &m->sync_backoff);
        }
        cJSON_Delete(json);
}

void mx_start_sync(struct mx *m)
{
        char timeout[24];

        /* the first /sync of a start does not wait: what was missed comes at
         * once, and then gavel knows it has caught up */
        snprintf(timeout, sizeof(timeout), "%lld",
                 m->since && m->caught_up ? (long long)m->cfg->sync_timeout_ms : 0LL);
        m->sync_busy = true;
        m->sync_keys_gen = m->upload_busy ? m->keys_gen - 1 : m->keys_gen;
        if (m->since)
                mx_request(m, "GET",
                        mx_url(m, "/_matrix/client/v3/sync?filter=%s&timeout=%s&since=%s",
                            m->filter_id, timeout, m->since),
                        NULL, (long)m->cfg->sync_timeout_ms + REQUEST_TIMEOUT_MS,
                        GV_SYNC_MAX_BYTES, on_sync);
        else
                mx_request(m, "GET", mx_url(m, "/_matrix/client/v3/sync?filter=%s&timeout=%s",
                                      m->filter_id, timeout),
                        NULL, REQUEST_TIMEOUT_MS * 4, GV_SYNC_MAX_BYTES, on_sync);
}
