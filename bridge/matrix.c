/* bridge/matrix.c - see matrix.h
 *
 * One loop (run()) owns everything: it starts HTTP requests, waits in
 * gv_http_poll() for the first of their answers, a timer or a signal, and
 * reacts in the callbacks. Nothing blocks and nothing sleeps: every retry is a
 * time stored in `struct mx` that the loop waits for.
 *
 *   setup:  [.well-known] -> /versions -> credentials (token or /login) ->
 *           /account/whoami -> filter -> run
 *   sync:   /sync -> (gap fill with /messages for limited timelines) ->
 *           apply the batch in one transaction with next_batch -> /sync ...
 *   send:   oldest unsent outbox row -> PUT .../send/{type}/{txnId} with a
 *           txnId derived from the row -> mark sent -> next row
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../handlers/handlers.h"
#include "../handlers/minutes.h"
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/log.h"
#include "../util/text.h"
#include "../util/json.h"
#include "archive.h"
#include "content.h"
#include "http.h"
#include "matrix.h"
#include "sync.h"

#define MAX_SMALL_BODY (1u << 20)       /* any response but /sync and /messages */
#define MAX_GAP_PAGES 10
#define GAP_PAGE 100
#define BACKOFF_START_MS 250
#define REQUEST_TIMEOUT_MS 30000L
#define MAX_SECRET 4096

#define TIMELINE_TYPES "[\"m.room.message\",\"m.room.redaction\",\"m.room.member\"," \
                       "\"m.room.power_levels\",\"m.room.encryption\"]"

struct room {
        char *id;
        cJSON *power;           /* m.room.power_levels content, may be NULL */
        int64_t joined_at;      /* ts of our join, 0 if unknown */
        int64_t last_ts;        /* newest event seen since start (bounds gap filling) */
        struct room *next;
};

/* A /sync batch whose limited timelines are being filled in. */
struct gap {
        size_t room;            /* index into batch->rooms */
        struct gv_sync **pages; /* /messages answers, newest first */
        size_t n_pages;
        char *from;
        bool done;
};

enum phase { PH_DISCOVER, PH_VERSIONS, PH_WHOAMI, PH_LOGIN, PH_FILTER, PH_RUN };

struct mx {
        const struct gv_config *cfg;
        struct gv_store *s;
        struct gv_core *core;
        struct gv_http *http;
        char *base;             /* "https://matrix.example.org", no trailing slash */
        char *token;
        char *password;
        char *device_id;
        char *filter_id;
        char *since;            /* NULL before the first sync */
        char *nonce;            /* txnId prefix, per database */
        struct room *rooms;

        enum phase phase;
        bool busy;              /* a setup request is in flight */
        int64_t setup_at;
        int64_t setup_backoff;
        bool said_down;         /* "homeserver unreachable" logged once */
        bool token_from_file;

        bool sync_busy;
        int64_t sync_at;
        int64_t sync_backoff;
        struct gv_sync *batch;  /* waiting for its gaps */
        struct gap *gaps;
        size_t n_gaps;

        bool send_busy;
        bool outbox_empty;      /* nothing to send until a batch or a retry adds some */
        int64_t send_at;
        int64_t send_backoff;
        int64_t send_row;       /* the row in flight */

        bool relogin;           /* a /login after M_UNKNOWN_TOKEN is under way */
        int status;             /* exit status once stopping */
        bool stop;
};

static int wake_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
        char c = (char)sig;
        ssize_t n = write(wake_pipe[1], &c, 1);

        (void)n;
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fatal(struct mx *m, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void fatal(struct mx *m, int status, const char *fmt, ...)
{
        va_list ap;

        fputs("gavel: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        m->status = status;
        m->stop = true;
}

/* Exponential backoff with jitter: the next wait, and the one after. */
static int64_t backoff(struct mx *m, int64_t *cur)
{
        int64_t b = *cur ? *cur : BACKOFF_START_MS, j;

        j = b / 2 + (int64_t)((unsigned)rand() % (unsigned)(b / 2 + 1));
        *cur = b * 2 > m->cfg->backoff_max_ms ? m->cfg->backoff_max_ms : b * 2;
        return j;
}

/* ---- answers ---- */

static const char *errcode(const struct gv_http_resp *r, cJSON **json)
{
        *json = r->len ? cJSON_ParseWithLength(r->body, r->len) : NULL;
        return gv_js_str(*json, "errcode");
}

/* retry_after_ms from the body, else the Retry-After header, else -1. */
static int64_t retry_after(const struct gv_http_resp *r, const cJSON *json)
{
        int64_t ms = gv_js_uint(json, "retry_after_ms", -1);

        return ms >= 0 && ms < 86400000 ? ms : r->retry_after_ms;
}

/* ---- URLs ---- */

/* base + path, where each "%s" in path is a URL-escaped argument. */
static char *url(struct mx *m, const char *path, ...)
{
        struct gv_buf b = GV_BUF_INIT(16384);
        va_list ap;
        const char *p;
        char *ret = NULL;
        enum gv_err r = gv_buf_adds(&b, m->base);

        va_start(ap, path);
        for (p = path; *p && r == GV_OK; p++) {
                if (p[0] == '%' && p[1] == 's') {
                        r = gv_url_escape(&b, va_arg(ap, const char *));
                        p++;
                } else {
                        r = gv_buf_addc(&b, *p);
                }
        }
        va_end(ap);
        if (r == GV_OK && gv_buf_steal(&b, &ret) != GV_OK)
                ret = NULL;
        gv_buf_free(&b);
        return ret;
}

static bool request(struct mx *m, const char *method, char *u, const char *body,
                    long timeout_ms, size_t max_body, gv_http_cb cb)
{
        enum gv_err r = GV_ENOMEM;

        if (u)
                r = gv_http_request(m->http, method, u, m->token, body, timeout_ms, max_body, cb, m);
        free(u);
        if (r) {
                fatal(m, 1, "cannot start a request: %s", gv_strerror(r));
                return false;
        }
        return true;
}

/* ---- secrets ---- */

static char *read_secret(const char *path)
{
        FILE *f = fopen(path, "r");
        char buf[MAX_SECRET + 2];
        size_t n;

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        if (n > MAX_SECRET)
                return NULL;
        buf[n] = '\0';
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                buf[--n] = '\0';
        return n ? strdup(buf) : NULL;
}

/* The configured file, else $CREDENTIALS_DIRECTORY/name. */
static char *secret(const char *file, const char *name, bool *given)
{
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        char path[4200];

        *given = false;
        if (file && *file) {
                *given = true;
                return read_secret(file);
        }
        if (!dir || !*dir)
                return NULL;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (access(path, R_OK) != 0)
                return NULL;
        *given = true;
        return read_secret(path);
}

/* ---- rooms: power levels, when we joined ---- */

static struct room *room_get(struct mx *m, const char *id)
{
        struct room *r;
        char key[600], *v = NULL;
        uint64_t n;

        for (r = m->rooms; r; r = r->next)
                if (strcmp(r->id, id) == 0)
                        return r;
        r = calloc(1, sizeof(*r));
        if (!r || !(r->id = strdup(id))) {
                free(r);
                return NULL;
        }
        snprintf(key, sizeof(key), "room:%s:power", id);
        if (gv_store_kv_get(m->s, key, &v) == GV_OK && v)
                r->power = cJSON_Parse(v);
        free(v);
        v = NULL;
        snprintf(key, sizeof(key), "room:%s:joined", id);
        if (gv_store_kv_get(m->s, key, &v) == GV_OK && v && gv_parse_u64(v, INT64_MAX, &n) == GV_OK)
                r->joined_at = (int64_t)n;
        free(v);
        r->next = m->rooms;
        m->rooms = r;
        return r;
}

static void rooms_free(struct mx *m)
{
        while (m->rooms) {
                struct room *r = m->rooms;

                m->rooms = r->next;
                cJSON_Delete(r->power);
                free(r->id);
                free(r);
        }
}

/* Forgets the cached rooms: after a rollback the store is the truth. */
static void rooms_forget(struct mx *m)
{
        rooms_free(m);
}

static enum gv_err room_set(struct mx *m, const char *id, const char *what, const char *value)
{
        char key[600];

        snprintf(key, sizeof(key), "room:%s:%s", id, what);
        return gv_store_kv_set(m->s, key, value);
}

static enum gv_err track_state(struct mx *m, struct room *rm, const struct gv_sync_event *e)
{
        char *text;
        enum gv_err r = GV_OK;

        if (!e->state_key)
                return GV_OK;
        if (strcmp(e->type, "m.room.power_levels") == 0 && !*e->state_key) {
                text = cJSON_PrintUnformatted(e->content);
                if (!text)
                        return GV_ENOMEM;
                r = room_set(m, rm->id, "power", text);
                cJSON_free(text);
                cJSON_Delete(rm->power);
                rm->power = cJSON_Duplicate(e->content, 1);
                return r;
        }
        if (strcmp(e->type, "m.room.member") == 0 && strcmp(e->state_key, m->cfg->user_id) == 0) {
                const char *ms = gv_js_str(e->content, "membership");
                char ts[24];

                if (ms && strcmp(ms, "join") == 0 && (!rm->joined_at || e->ts > rm->joined_at) &&
                    e->ts) {
                        rm->joined_at = e->ts;
                        snprintf(ts, sizeof(ts), "%lld", (long long)e->ts);
                        r = room_set(m, rm->id, "joined", ts);
                } else if (ms && (strcmp(ms, "leave") == 0 || strcmp(ms, "ban") == 0)) {
                        if (strcmp(e->sender, m->cfg->user_id) == 0)
                                gv_info("matrix", "left %s", rm->id);
                        else
                                gv_warn("matrix", "%s from %s by %s", ms[0] == 'b' ? "banned" :
                                        "removed", rm->id, e->sender);
                }
        }
        return r;
}

/* ---- applying a sync batch ---- */

static enum gv_err handle_timeline_event(struct mx *m, struct room *rm,
                                         const struct gv_sync_event *e, bool history)
{
        const char *mentions[GV_SYNC_MAX_MENTIONS];
        struct gv_event ev;
        enum gv_err r;

        if (e->state_key)
                return track_state(m, rm, e);
        if (e->ts > rm->last_ts)
                rm->last_ts = e->ts;
        if (history) {
                /* first start: old messages stay old, and count as seen, so that
                 * no later gap filling goes back to them */
                bool fresh;

                return gv_store_event_claim(m->s, e->event_id, e->ts, &fresh);
        }
        if (strcmp(e->sender, m->cfg->user_id) == 0)
                return GV_OK;                   /* never our own */
        if (rm->joined_at && e->ts && e->ts < rm->joined_at)
                return GV_OK;                   /* from before we joined */
        r = gv_sync_event_to_gv(e, rm->id, gv_sync_power_of(rm->power, e->sender), mentions, &ev);
        if (r == GV_ENOTFOUND)
                return GV_OK;
        if (r)
                return r;
        return gv_handle(m->core, &ev);
}

static bool invite_allowed(const struct gv_config *cfg, const char *room, const char *inviter)
{
        const char *server = inviter ? strchr(inviter, ':') : NULL;

        for (size_t i = 0; i < cfg->n_allow_invites_from; i++) {
                const char *a = cfg->allow_invites_from[i];

                if ((inviter && strcmp(a, inviter) == 0) || strcmp(a, room) == 0 ||
                    (server && a[0] == ':' && strcmp(a, server) == 0))
                        return true;
        }
        return false;
}

static enum gv_err handle_invite(struct mx *m, const struct gv_sync_room *sr)
{
        const char *inviter = NULL;
        bool ok;

        for (size_t i = 0; i < sr->n_state; i++) {
                const struct gv_sync_event *e = &sr->state[i];

                if (e->state_key && strcmp(e->type, "m.room.member") == 0 &&
                    strcmp(e->state_key, m->cfg->user_id) == 0)
                        inviter = e->sender;
        }
        ok = invite_allowed(m->cfg, sr->room_id, inviter);
        if (ok)
                gv_info("matrix", "invited to %s by %s: joining", sr->room_id,
                        inviter ? inviter : "?");
        else
                gv_warn("matrix", "invite to %s by %s declined: not in allow_invites_from",
                        sr->room_id, inviter ? inviter : "an unknown user");
        return gv_store_outbox_add(m->s, ok ? "join" : "leave", sr->room_id, "", NULL, NULL,
                                   wall_ms());
}

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
                if (c->page == 0) {
                        c->in_gap = false;
                        c->i = 0;
                        break;
                }
                if (c->i < c->gap->pages[c->page - 1]->n_chunk) {
                        const struct gv_sync *pg = c->gap->pages[c->page - 1];

                        return &pg->chunk[pg->n_chunk - 1 - c->i];
                }
                c->page--;
                c->i = 0;
        }
        return c->i < c->sr->n_timeline ? &c->sr->timeline[c->i] : NULL;
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
                struct room *rm;

                if (sr->kind == GV_ROOM_INVITE) {
                        r = handle_invite(m, sr);
                        continue;
                }
                rm = room_get(m, sr->room_id);
                if (!rm) {
                        r = GV_ENOMEM;
                        break;
                }
                for (size_t k = 0; k < sr->n_state && r == GV_OK; k++)
                        r = track_state(m, rm, &sr->state[k]);
                /* our own join in this batch: what came before it is history */
                for (size_t k = 0; k < sr->n_timeline && r == GV_OK; k++) {
                        const struct gv_sync_event *e = &sr->timeline[k];

                        if (e->state_key && strcmp(e->type, "m.room.member") == 0 &&
                            strcmp(e->state_key, m->cfg->user_id) == 0)
                                r = track_state(m, rm, e);
                }
                cur[n].rm = rm;
                cur[n].sr = sr;
                for (size_t g = 0; g < m->n_gaps; g++)
                        if (m->gaps[g].room == i)
                                cur[n].gap = &m->gaps[g];
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
                r = handle_timeline_event(m, best->rm, be, history);
                best->i++;
        }
        free(cur);
        return r;
}

static void gaps_free(struct mx *m)
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

static void start_sender(struct mx *m);

static void apply_batch(struct mx *m)
{
        struct gv_sync *b = m->batch;
        bool history = !m->since && m->cfg->initial_history == 0;
        enum gv_err r;

        r = gv_store_begin(m->s);
        if (r == GV_OK)
                r = apply_rooms(m, b, history);
        if (r == GV_OK)
                r = gv_store_kv_set(m->s, "next_batch", b->next_batch);
        if (r == GV_OK)
                r = gv_store_commit(m->s);
        if (r) {
                gv_store_rollback(m->s);
                rooms_forget(m);
                gv_err_log("matrix", "applying a sync batch failed (%s: %s); it will be fetched "
                           "again", gv_strerror(r), gv_store_errmsg(m->s));
                m->sync_at = now_ms() + backoff(m, &m->sync_backoff);
        } else {
                char *since = strdup(b->next_batch);

                if (since) {
                        free(m->since);
                        m->since = since;
                }
                m->sync_backoff = 0;
                m->sync_at = 0;
                if (b->skipped)
                        gv_warn("matrix", "%zu malformed events in a sync batch left out",
                                b->skipped);
        }
        m->batch = gv_sync_free(m->batch);
        gaps_free(m);
        m->outbox_empty = false;
        start_sender(m);
}

/* ---- gap filling ---- */

static void next_gap(struct mx *m);

static bool gap_reached_known(struct mx *m, const struct gv_sync_room *sr, const struct gv_sync *pg)
{
        struct room *rm = room_get(m, sr->room_id);

        for (size_t i = 0; i < pg->n_chunk; i++) {
                bool seen = false;

                if (rm && rm->last_ts && pg->chunk[i].ts && pg->chunk[i].ts <= rm->last_ts)
                        return true;
                if (gv_store_event_seen(m->s, pg->chunk[i].event_id, &seen) == GV_OK && seen)
                        return true;
        }
        return pg->n_chunk == 0 || !pg->next_batch;
}

static void on_messages(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        struct gap *g = NULL;
        struct gv_sync *pg = NULL, **pages;

        for (size_t i = 0; i < m->n_gaps && !g; i++)
                if (!m->gaps[i].done)
                        g = &m->gaps[i];
        m->sync_busy = false;
        if (!g || !m->batch)
                return;
        if (resp->err || resp->status != 200 ||
            gv_sync_parse_messages(resp->body, resp->len, &pg) != GV_OK) {
                /* a gap we cannot fill: go on with what we have */
                gv_warn("matrix", "filling a gap in %s failed (%s %ld); some messages may be "
                        "missed", m->batch->rooms[g->room].room_id,
                        resp->err ? resp->errmsg : "HTTP", resp->status);
                g->done = true;
                next_gap(m);
                return;
        }
        pages = realloc(g->pages, (g->n_pages + 1) * sizeof(*pages));
        if (!pages) {
                gv_sync_free(pg);
                g->done = true;
                next_gap(m);
                return;
        }
        g->pages = pages;
        g->pages[g->n_pages++] = pg;
        free(g->from);
        g->from = pg->next_batch ? strdup(pg->next_batch) : NULL;
        if (!g->from || g->n_pages >= MAX_GAP_PAGES ||
            gap_reached_known(m, &m->batch->rooms[g->room], pg))
                g->done = true;
        next_gap(m);
}

static void next_gap(struct mx *m)
{
        for (size_t i = 0; i < m->n_gaps; i++) {
                struct gap *g = &m->gaps[i];
                char lim[16];

                if (g->done)
                        continue;
                snprintf(lim, sizeof(lim), "%d", GAP_PAGE);
                m->sync_busy = true;
                request(m, "GET",
                        url(m, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=%s&from=%s"
                               "&filter=%s", m->batch->rooms[g->room].room_id, lim, g->from,
                            "{\"types\":" TIMELINE_TYPES "}"),
                        NULL, REQUEST_TIMEOUT_MS, GV_SYNC_MAX_BYTES, on_messages);
                return;
        }
        apply_batch(m);
}

/* ---- sync ---- */

static void start_relogin(struct mx *m);

static void on_sync(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code;
        struct gv_sync *b = NULL;
        enum gv_err r;

        m->sync_busy = false;
        if (resp->err == GV_OK && resp->status == 200) {
                r = gv_sync_parse(resp->body, resp->len, &b);
                if (r) {
                        gv_err_log("matrix", "unreadable /sync response (%s); retrying",
                                   gv_strerror(r));
                        m->sync_at = now_ms() + backoff(m, &m->sync_backoff);
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
                next_gap(m);
                return;
        }
        code = resp->err ? NULL : errcode(resp, &json);
        if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                start_relogin(m);
        } else if (resp->status == 429) {
                int64_t ra = retry_after(resp, json);

                m->sync_at = now_ms() + (ra >= 0 ? ra : backoff(m, &m->sync_backoff));
        } else {
                if (resp->err && !m->said_down) {
                        gv_warn("matrix", "/sync failed: %s; retrying with backoff", resp->errmsg);
                        m->said_down = true;
                } else if (!resp->err && resp->status != 200) {
                        gv_warn("matrix", "/sync answered %ld %s; retrying with backoff",
                                resp->status, code ? code : "");
                }
                m->sync_at = now_ms() + backoff(m, &m->sync_backoff);
        }
        cJSON_Delete(json);
}

static void start_sync(struct mx *m)
{
        char timeout[24];

        snprintf(timeout, sizeof(timeout), "%lld", m->since ? (long long)m->cfg->sync_timeout_ms : 0LL);
        m->sync_busy = true;
        if (m->since)
                request(m, "GET",
                        url(m, "/_matrix/client/v3/sync?filter=%s&timeout=%s&since=%s",
                            m->filter_id, timeout, m->since),
                        NULL, (long)m->cfg->sync_timeout_ms + REQUEST_TIMEOUT_MS,
                        GV_SYNC_MAX_BYTES, on_sync);
        else
                request(m, "GET", url(m, "/_matrix/client/v3/sync?filter=%s&timeout=%s",
                                      m->filter_id, timeout),
                        NULL, REQUEST_TIMEOUT_MS * 4, GV_SYNC_MAX_BYTES, on_sync);
}

/* ---- sending ---- */

static void on_sent(void *ud, const struct gv_http_resp *resp);

static void mark_sent(struct mx *m, int64_t id)
{
        enum gv_err r = gv_store_outbox_sent(m->s, id, wall_ms());

        if (r) {
                fatal(m, 1, "cannot record a sent message: %s", gv_store_errmsg(m->s));
                return;
        }
        m->send_backoff = 0;
}

static void send_row(struct mx *m, const struct gv_out *o)
{
        cJSON *extra = o->extra ? cJSON_Parse(o->extra) : NULL;
        char txn[96], *content = NULL;
        const char *type = "m.room.message";

        snprintf(txn, sizeof(txn), "gv%s.%lld", m->nonce, (long long)o->id);
        if (strcmp(o->kind, "file") == 0) {
                enum gv_err r = gv_archive_minutes(m->cfg->archive_dir, o->room, m->s, m->cfg,
                                                   o->extra);

                if (r)
                        gv_err_log("matrix", "minutes file %s not written: %s", o->room,
                                   gv_strerror(r));
                mark_sent(m, o->id);
                goto out;
        }
        if (strcmp(o->kind, "join") == 0 || strcmp(o->kind, "leave") == 0) {
                m->send_busy = true;
                m->send_row = o->id;
                request(m, "POST",
                        o->kind[0] == 'j' ? url(m, "/_matrix/client/v3/join/%s", o->room) :
                                            url(m, "/_matrix/client/v3/rooms/%s/leave", o->room),
                        "{}", REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_sent);
                goto out;
        }
        if (strcmp(o->kind, "reaction") == 0) {
                cJSON *c = cJSON_CreateObject(), *rel = cJSON_AddObjectToObject(c, "m.relates_to");

                type = "m.reaction";
                if (rel && cJSON_AddStringToObject(rel, "rel_type", "m.annotation") &&
                    gv_js_str(extra, "event_id") &&
                    cJSON_AddStringToObject(rel, "event_id", gv_js_str(extra, "event_id")) &&
                    cJSON_AddStringToObject(rel, "key", o->body)) {
                        char *t = cJSON_PrintUnformatted(c);

                        content = t ? strdup(t) : NULL;
                        cJSON_free(t);
                }
                cJSON_Delete(c);
        } else if (strcmp(o->kind, "minutes") == 0) {
                struct gv_buf body = GV_BUF_INIT(GV_MINUTES_MAX), html = GV_BUF_INIT(GV_MINUTES_MAX);

                if (gv_minutes_for_outbox(m->s, m->cfg, o->kind, o->extra, &body, &html) == GV_OK)
                        content = gv_content_message(gv_buf_str(&body), gv_buf_str(&html), extra);
                gv_buf_free(&body);
                gv_buf_free(&html);
        } else if (strcmp(o->kind, "message") == 0) {
                content = gv_content_message(o->body, o->html, extra);
        }
        if (!content) {
                gv_err_log("matrix", "outbox row %lld (%s) cannot be sent; dropped",
                           (long long)o->id, o->kind);
                mark_sent(m, o->id);
                goto out;
        }
        m->send_busy = true;
        m->send_row = o->id;
        request(m, "PUT", url(m, "/_matrix/client/v3/rooms/%s/send/%s/%s", o->room, type, txn),
                content, REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_sent);
out:
        free(content);
        cJSON_Delete(extra);
}

static void start_sender(struct mx *m)
{
        struct gv_out o;
        enum gv_err r;

        while (!m->send_busy && !m->outbox_empty && !m->stop && !m->relogin && m->phase == PH_RUN &&
               now_ms() >= m->send_at) {
                r = gv_store_outbox_next(m->s, 0, &o);
                if (r == GV_ENOTFOUND) {
                        m->outbox_empty = true;
                        return;
                }
                if (r) {
                        fatal(m, 1, "cannot read the outbox: %s", gv_store_errmsg(m->s));
                        return;
                }
                send_row(m, &o);
                gv_out_clear(&o);
        }
}

static void on_sent(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : errcode(resp, &json);

        m->send_busy = false;
        if (resp->err == GV_OK && resp->status == 200) {
                mark_sent(m, m->send_row);
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                start_relogin(m);
        } else if (resp->status == 429) {
                int64_t ra = retry_after(resp, json);

                m->send_at = now_ms() + (ra >= 0 ? ra : backoff(m, &m->send_backoff));
        } else if (resp->err || resp->status >= 500 || resp->status == 408) {
                if (resp->err)
                        gv_info("matrix", "sending failed (%s); retrying", resp->errmsg);
                m->send_at = now_ms() + backoff(m, &m->send_backoff);
        } else if (resp->status == 400 && code && strcmp(code, "M_DUPLICATE_ANNOTATION") == 0) {
                mark_sent(m, m->send_row);     /* the reaction is there already */
        } else {
                gv_err_log("matrix", "outbox row %lld refused by the homeserver: %ld %s; dropped",
                           (long long)m->send_row, resp->status, code ? code : "");
                mark_sent(m, m->send_row);
        }
        cJSON_Delete(json);
        start_sender(m);
}

/* ---- setup ---- */

static void setup_retry(struct mx *m, const struct gv_http_resp *resp, const char *what)
{
        if (!m->said_down) {
                gv_warn("matrix", "%s: %s; waiting for the homeserver", what,
                        resp->err ? resp->errmsg : "unexpected answer");
                m->said_down = true;
        }
        m->setup_at = now_ms() + backoff(m, &m->setup_backoff);
}

static void on_filter(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *id;

        m->busy = false;
        if (resp->err || resp->status != 200) {
                setup_retry(m, resp, "creating the sync filter");
                return;
        }
        json = cJSON_ParseWithLength(resp->body, resp->len);
        id = gv_js_str(json, "filter_id");
        if (id && (m->filter_id = strdup(id)) &&
            gv_store_kv_set(m->s, "filter_id", id) == GV_OK) {
                m->phase = PH_RUN;
                m->setup_backoff = 0;
        } else {
                setup_retry(m, resp, "creating the sync filter");
        }
        cJSON_Delete(json);
}

static void on_login(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : errcode(resp, &json);
        const char *token = gv_js_str(json, "access_token"), *device = gv_js_str(json, "device_id");

        m->busy = false;
        if (resp->err == GV_OK && resp->status == 200 && token) {
                free(m->token);
                m->token = strdup(token);
                if (device) {
                        free(m->device_id);
                        m->device_id = strdup(device);
                        if (gv_store_kv_set(m->s, "device_id", device) != GV_OK)
                                gv_warn("matrix", "cannot store the device ID");
                }
                if (!m->token || gv_store_kv_set(m->s, "access_token", token) != GV_OK)
                        fatal(m, 1, "cannot keep the access token");
                gv_info("matrix", "logged in as %s (device %s)", m->cfg->user_id,
                        device ? device : "?");
                m->relogin = false;
                m->setup_backoff = 0;
                if (m->phase == PH_LOGIN)
                        m->phase = m->filter_id ? PH_RUN : PH_FILTER;
        } else if (resp->err == GV_OK && (resp->status == 403 || resp->status == 400 ||
                                          resp->status == 401)) {
                fatal(m, 2, "login as %s refused: %ld %s %s", m->cfg->user_id, resp->status,
                      code ? code : "", gv_js_str(json, "error") ? gv_js_str(json, "error") : "");
        } else if (resp->status == 429) {
                int64_t ra = retry_after(resp, json);

                m->setup_at = now_ms() + (ra >= 0 ? ra : backoff(m, &m->setup_backoff));
        } else {
                setup_retry(m, resp, "logging in");
        }
        cJSON_Delete(json);
}

static void start_login(struct mx *m)
{
        cJSON *o = cJSON_CreateObject(), *id = cJSON_AddObjectToObject(o, "identifier");
        char *body = NULL;

        if (id && cJSON_AddStringToObject(o, "type", "m.login.password") &&
            cJSON_AddStringToObject(id, "type", "m.id.user") &&
            cJSON_AddStringToObject(id, "user", m->cfg->user_id) &&
            cJSON_AddStringToObject(o, "password", m->password) &&
            cJSON_AddStringToObject(o, "initial_device_display_name", "gavel") &&
            (!m->device_id || cJSON_AddStringToObject(o, "device_id", m->device_id)))
                body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!body) {
                fatal(m, 1, "out of memory");
                return;
        }
        free(m->token);
        m->token = NULL;
        m->busy = true;
        request(m, "POST", url(m, "/_matrix/client/v3/login"), body, REQUEST_TIMEOUT_MS,
                MAX_SMALL_BODY, on_login);
        cJSON_free(body);
}

static void start_relogin(struct mx *m)
{
        if (m->relogin)
                return;
        if (!m->password) {
                fatal(m, 1, "the homeserver rejected the access token (M_UNKNOWN_TOKEN) and no "
                            "password is configured to log in again");
                return;
        }
        gv_warn("matrix", "access token rejected (M_UNKNOWN_TOKEN); logging in again");
        m->relogin = true;
        if (!m->busy)
                start_login(m);
}

static void on_whoami(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : errcode(resp, &json);
        const char *uid = gv_js_str(json, "user_id"), *dev = gv_js_str(json, "device_id");

        m->busy = false;
        if (resp->err == GV_OK && resp->status == 200 && uid) {
                if (strcmp(uid, m->cfg->user_id) != 0)
                        fatal(m, 2, "the access token belongs to %s, not to user_id %s", uid,
                              m->cfg->user_id);
                else
                        m->phase = m->filter_id ? PH_RUN : PH_FILTER;
                if (dev && !m->device_id)
                        m->device_id = strdup(dev);
        } else if (resp->status == 401 && m->password && !m->token_from_file) {
                m->phase = PH_LOGIN;    /* a stored token that expired */
        } else if (resp->status == 401) {
                fatal(m, 2, "the access token was rejected: %s", code ? code : "401");
        } else {
                setup_retry(m, resp, "checking the access token");
        }
        cJSON_Delete(json);
}

static void on_versions(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const cJSON *v;
        bool ok = false;

        m->busy = false;
        if (resp->err == GV_OK && resp->status == 200)
                json = cJSON_ParseWithLength(resp->body, resp->len);
        v = gv_js_arr(json, "versions");
        {
                const cJSON *e;

                cJSON_ArrayForEach(e, v)
                        if (cJSON_IsString(e) && (strncmp(e->valuestring, "v1.", 3) == 0 ||
                                                  strcmp(e->valuestring, "r0.6.1") == 0))
                                ok = true;
        }
        cJSON_Delete(json);
        if (resp->err || resp->status != 200) {
                setup_retry(m, resp, m->base);
                return;
        }
        if (!ok) {
                fatal(m, 1, "%s speaks no client-server API version gavel knows (v1.x)", m->base);
                return;
        }
        if (m->said_down)
                gv_warn("matrix", "%s is reachable again", m->base);
        m->said_down = false;
        m->setup_backoff = 0;
        m->phase = m->token ? PH_WHOAMI : PH_LOGIN;
}

static void on_wellknown(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *base;

        m->busy = false;
        if (resp->err == GV_OK && resp->status == 200)
                json = cJSON_ParseWithLength(resp->body, resp->len);
        base = gv_js_str(gv_js_obj(json, "m.homeserver"), "base_url");
        if (base && (strncmp(base, "https://", 8) == 0 || strncmp(base, "http://", 7) == 0)) {
                free(m->base);
                m->base = strdup(base);
                while (m->base && *m->base && m->base[strlen(m->base) - 1] == '/')
                        m->base[strlen(m->base) - 1] = '\0';
                gv_info("matrix", "homeserver of %s is %s", m->cfg->user_id, base);
                m->phase = PH_VERSIONS;
        } else if (resp->err == GV_OK && resp->status == 404) {
                m->phase = PH_VERSIONS;  /* no delegation: the server name is the homeserver */
        } else {
                setup_retry(m, resp, "looking up /.well-known/matrix/client");
        }
        cJSON_Delete(json);
}

static void step_setup(struct mx *m)
{
        if (m->busy || now_ms() < m->setup_at)
                return;
        switch (m->phase) {
        case PH_DISCOVER:
                m->busy = true;
                request(m, "GET", url(m, "/.well-known/matrix/client"), NULL, REQUEST_TIMEOUT_MS,
                        MAX_SMALL_BODY, on_wellknown);
                break;
        case PH_VERSIONS:
                m->busy = true;
                request(m, "GET", url(m, "/_matrix/client/versions"), NULL, REQUEST_TIMEOUT_MS,
                        MAX_SMALL_BODY, on_versions);
                break;
        case PH_WHOAMI:
                m->busy = true;
                request(m, "GET", url(m, "/_matrix/client/v3/account/whoami"), NULL,
                        REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_whoami);
                break;
        case PH_LOGIN:
                if (!m->password) {
                        fatal(m, 2, "no credentials: set access_token_file or password_file, or "
                                    "provide $CREDENTIALS_DIRECTORY/access_token or /password");
                        return;
                }
                start_login(m);
                break;
        case PH_FILTER: {
                static const char filter[] =
                        "{\"presence\":{\"types\":[]},\"account_data\":{\"types\":[]},"
                        "\"room\":{\"timeline\":{\"limit\":50,\"types\":" TIMELINE_TYPES "},"
                        "\"state\":{\"lazy_load_members\":true,\"types\":[\"m.room.member\","
                        "\"m.room.power_levels\",\"m.room.encryption\"]},"
                        "\"ephemeral\":{\"types\":[]},\"account_data\":{\"types\":[]}}}";

                m->busy = true;
                request(m, "POST", url(m, "/_matrix/client/v3/user/%s/filter", m->cfg->user_id),
                        filter, REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_filter);
                break;
        }
        case PH_RUN:
                break;
        }
}

/* ---- the loop ---- */

static int loop_timeout(const struct mx *m)
{
        int64_t now = now_ms(), next = now + 1000;

        if (m->phase != PH_RUN && !m->busy && m->setup_at < next)
                next = m->setup_at;
        if (m->phase == PH_RUN && !m->sync_busy && !m->batch && m->sync_at < next)
                next = m->sync_at;
        if (m->phase == PH_RUN && !m->send_busy && !m->outbox_empty && m->send_at < next)
                next = m->send_at;
        return next <= now ? 0 : (int)(next - now);
}

static void run(struct mx *m)
{
        while (!m->stop) {
                char sig;

                if (m->phase != PH_RUN)
                        step_setup(m);
                if (m->relogin && !m->busy && now_ms() >= m->setup_at)
                        start_login(m);
                if (m->phase == PH_RUN && !m->relogin) {
                        if (!m->sync_busy && !m->batch && now_ms() >= m->sync_at)
                                start_sync(m);
                        start_sender(m);
                }
                if (m->stop)
                        break;
                if (gv_http_poll(m->http, loop_timeout(m), wake_pipe[0]) != GV_OK) {
                        fatal(m, 1, "the HTTP loop failed");
                        break;
                }
                if (read(wake_pipe[0], &sig, 1) == 1) {
                        gv_info("matrix", "signal %d: stopping", (int)sig);
                        m->stop = true;
                }
        }
}

/* "@gavel:example.org" -> "https://example.org"; IP literals on loopback
 * (tests) use http. */
static char *base_from_user(const char *user_id)
{
        const char *server = strchr(user_id, ':');
        struct gv_buf b = GV_BUF_INIT(1024);
        char *ret = NULL;
        bool loop = false;

        if (!server)
                return NULL;
        server++;
        loop = strncmp(server, "127.", 4) == 0 || strncmp(server, "localhost", 9) == 0;
        if (gv_buf_printf(&b, "%s://%s", loop ? "http" : "https", server) != GV_OK ||
            gv_buf_steal(&b, &ret) != GV_OK)
                ret = NULL;
        gv_buf_free(&b);
        return ret;
}

static enum gv_err load_state(struct mx *m)
{
        char *v = NULL;
        enum gv_err r;

        r = gv_store_kv_get(m->s, "next_batch", &m->since);
        if (r == GV_OK)
                r = gv_store_kv_get(m->s, "filter_id", &m->filter_id);
        if (r == GV_OK)
                r = gv_store_kv_get(m->s, "device_id", &m->device_id);
        if (r == GV_OK && !m->token)
                r = gv_store_kv_get(m->s, "access_token", &m->token);
        if (r == GV_OK)
                r = gv_store_kv_get(m->s, "txn_nonce", &v);
        if (r == GV_OK && !v) {
                unsigned char raw[8];
                char hex[17];
                int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

                if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
                        if (fd >= 0)
                                close(fd);
                        return GV_EIO;
                }
                close(fd);
                for (int i = 0; i < 8; i++)
                        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
                r = gv_store_kv_set(m->s, "txn_nonce", hex);
                v = strdup(hex);
                if (!v)
                        r = GV_ENOMEM;
        }
        m->nonce = v;
        return r;
}

int gv_matrix_run(const struct gv_config *cfg)
{
        struct mx m;
        struct sigaction sa;
        bool token_given = false, pw_given = false;
        enum gv_err r;

        memset(&m, 0, sizeof(m));
        m.cfg = cfg;
        if (!cfg->user_id || !*cfg->user_id) {
                fprintf(stderr, "gavel: user_id is required to connect to a homeserver\n");
                return 2;
        }
        m.token = secret(cfg->access_token_file, "access_token", &token_given);
        m.password = secret(cfg->password_file, "password", &pw_given);
        if ((token_given && !m.token) || (pw_given && !m.password)) {
                fprintf(stderr, "gavel: cannot read the %s file (missing, empty or over %d "
                                "bytes)\n", token_given && !m.token ? "access token" : "password",
                        MAX_SECRET);
                free(m.token);
                free(m.password);
                return 2;
        }
        m.token_from_file = m.token != NULL;
        srand((unsigned)(wall_ms() ^ getpid()));
        if (cfg->homeserver && *cfg->homeserver) {
                m.base = strdup(cfg->homeserver);
                while (m.base && *m.base && m.base[strlen(m.base) - 1] == '/')
                        m.base[strlen(m.base) - 1] = '\0';
                m.phase = PH_VERSIONS;
        } else {
                m.base = base_from_user(cfg->user_id);
                m.phase = PH_DISCOVER;
        }
        r = m.base ? gv_store_open(cfg->database, &m.s) : GV_ENOMEM;
        if (r == GV_OK)
                r = gv_core_new(m.s, cfg, &m.core);
        if (r == GV_OK)
                r = gv_http_new(&m.http);
        if (r == GV_OK)
                r = load_state(&m);
        if (r == GV_OK && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
                r = GV_EIO;
        if (r) {
                fprintf(stderr, "gavel: cannot start: %s%s%s\n", gv_strerror(r), m.s ? ": " : "",
                        m.s ? gv_store_errmsg(m.s) : "");
                m.status = 1;
                goto out;
        }
        if (!m.token && !m.password) {
                fprintf(stderr, "gavel: no credentials: set access_token_file or password_file, "
                                "or provide $CREDENTIALS_DIRECTORY/access_token or /password\n");
                m.status = 2;
                goto out;
        }
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        gv_info("matrix", "starting as %s on %s", cfg->user_id, m.base);
        run(&m);
out:
        gv_http_free(m.http);
        m.batch = gv_sync_free(m.batch);
        gaps_free(&m);
        rooms_free(&m);
        gv_core_free(m.core);
        gv_store_free(m.s);
        if (wake_pipe[0] >= 0) {
                close(wake_pipe[0]);
                close(wake_pipe[1]);
                wake_pipe[0] = wake_pipe[1] = -1;
        }
        free(m.base);
        free(m.token);
        if (m.password) {
                explicit_bzero(m.password, strlen(m.password));
                free(m.password);
        }
        free(m.device_id);
        free(m.filter_id);
        free(m.since);
        free(m.nonce);
        return m.status;
}
