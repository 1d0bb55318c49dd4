/* bridge/matrix_send.c - the outbox sender. Rows go out per lane, in order:
 * each room is a lane (its messages, reactions, minutes, join or leave), the
 * minutes files one more. Up to SEND_MAX_IN_FLIGHT requests are in flight
 * across lanes, one per lane; a lane that fails backs off alone (429
 * Retry-After, 5xx and dropped connections with jittered exponential
 * backoff), a room sends at most room_send_per_s events a second after a
 * burst of twice as many, and a row that can never be sent (403, 413, bad
 * JSON, content that cannot be built, a room we left) is parked with its
 * reason (bridge/outbox.c) and its lane goes on. Each send is
 * PUT .../send/{type}/{txnId} with a txnId derived from the row; a row is
 * marked sent only after the 200. Nothing here waits: every "not before"
 * is a time the loop's poll wakes up for.
 *
 * Wiki and webhook rows (bridge/jobs.h) have a lane per target ("wiki:0",
 * "webhook:1"): the loop prepares the job from the store, a worker thread
 * runs the blocking publish or POST, and its end wakes the loop (a 0 byte
 * on the wake pipe), which records the outcome. The store is only ever
 * touched by the loop's thread. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../handlers/minutes.h"
#include "../store/store.h"
#include "../util/buf.h"
#include "archive.h"
#include "../util/log.h"
#include "../util/json.h"
#include "content.h"
#include "http.h"
#include "jobs.h"
#include "matrix_internal.h"
#include "outbox.h"

#define SEND_MAX_IN_FLIGHT 8     /* requests in flight across rooms */
/* A room's token bucket: room_send_per_s events a second (config) after a
 * burst of twice as many. */
#define SEND_ROOM_PER_S(m) ((m)->cfg->room_send_per_s)
#define SEND_ROOM_BURST(m) (2 * SEND_ROOM_PER_S(m))
#define OUTBOX_RECHECK_MS 5000   /* an idle outbox is read again (`gavel outbox retry`) */

/* The kinds this sender claims: everything for a room, and the minutes
 * files (written here, by the file lane, into archive_dir). */
#define MATRIX_KINDS (GV_OUT_BIT(GV_OUT_MESSAGE) | GV_OUT_BIT(GV_OUT_REACTION) | \
                      GV_OUT_BIT(GV_OUT_MINUTES) | GV_OUT_BIT(GV_OUT_JOIN) | \
                      GV_OUT_BIT(GV_OUT_LEAVE))
#define FILE_KINDS GV_OUT_BIT(GV_OUT_FILE)
/* The kinds that may be addressed to a room alias ("#name:server"): sent to
 * the room ID it resolves to (matrix_alias.c). */
#define ALIAS_KINDS (GV_OUT_BIT(GV_OUT_MESSAGE) | GV_OUT_BIT(GV_OUT_REACTION) | \
                     GV_OUT_BIT(GV_OUT_MINUTES))

struct lane {
        struct mx *m;
        char *key;              /* room ID; "" for the minutes files */
        bool busy;              /* a request in flight */
        struct gv_out row;      /* while busy: id, kind, attempts; room is key */
        int64_t at;             /* monotonic ms: nothing before */
        int64_t backoff;        /* the next backoff (mx_backoff) */
        int64_t milli_tokens;   /* token bucket, 1000 a token */
        int64_t refilled;       /* monotonic ms of the last refill */
        uint64_t scan;          /* the scan that last saw this lane's head */
        struct gv_job *job;     /* a wiki or webhook job running in thread */
        bool file_job;          /* a minutes file being written in thread */
        struct gv_buf file;     /* ... its content, rendered on the loop */
        char *file_name, *file_extra;   /* ... its row's room (file name) and extra */
        enum gv_err file_r;     /* ... and what gv_archive_put() said, errno */
        int file_errno;
        pthread_t thread;
        atomic_bool job_done;
        int64_t tr_issued;      /* the trace: monotonic µs the row in flight went out */
        char *sent_extra;       /* the extra of the Matrix row in flight (row.extra), owned */
        char *claimed;          /* E2EE: the last /keys/claim body sent for the room */
        cJSON *share;           /* E2EE: the sendToDevice body in flight */
        struct lane *next;
};

static struct lane *lane_get(struct mx *m, const char *key)
{
        struct lane *l;

        for (l = m->lanes; l; l = l->next)
                if (strcmp(l->key, key) == 0)
                        return l;
        l = calloc(1, sizeof(*l));
        if (!l || !(l->key = strdup(key))) {
                free(l);
                return NULL;
        }
        l->m = m;
        l->milli_tokens = SEND_ROOM_BURST(m) * 1000;
        l->refilled = mx_now_ms();
        l->next = m->lanes;
        m->lanes = l;
        return l;
}

static void lane_free(struct lane *l)
{
        gv_buf_free(&l->file);
        free(l->file_name);
        free(l->file_extra);
        free(l->claimed);
        cJSON_Delete(l->share);
        free(l->sent_extra);
        free(l->key);
        free(l);
}

void mx_lanes_free(struct mx *m)
{
        while (m->lanes) {
                struct lane *l = m->lanes;

                m->lanes = l->next;
                if (l->job || l->file_job) {
                        /* its row stays pending: done again after a restart,
                         * and the publishers and receivers see it only once
                         * (a file is replaced whole) */
                        pthread_join(l->thread, NULL);
                        gv_job_free(l->job);
                }
                lane_free(l);
        }
}

/* A lane that holds nothing a new one would not: no request or job, no
 * wait or backoff, a full token bucket, no /keys/claim to remember (E2EE
 * rooms keep theirs, so a device without one-time keys is not claimed for
 * again). Dropped, so that the lanes are the rooms being written to, not
 * every room ever written to: a bot in 10,000 rooms does not walk 10,000
 * lanes for each row. */
static bool lane_idle(const struct lane *l, int64_t now)
{
        return !l->busy && !l->job && !l->file_job && l->at <= now && l->backoff == 0 &&
               !l->claimed && !l->share &&
               l->milli_tokens + (now - l->refilled) * SEND_ROOM_PER_S(l->m) >=
                       SEND_ROOM_BURST(l->m) * 1000;
}

/* Takes a token; else 0 and how long until there is one. */
static int64_t take_token(struct lane *l, int64_t now)
{
        l->milli_tokens += (now - l->refilled) * SEND_ROOM_PER_S(l->m);
        if (l->milli_tokens > SEND_ROOM_BURST(l->m) * 1000)
                l->milli_tokens = SEND_ROOM_BURST(l->m) * 1000;
        l->refilled = now;
        if (l->milli_tokens >= 1000) {
                l->milli_tokens -= 1000;
                return 0;
        }
        return (1000 - l->milli_tokens + SEND_ROOM_PER_S(l->m) - 1) / SEND_ROOM_PER_S(l->m);
}

/* Records the outcome of the lane's row; a failure for now makes the lane
 * wait (wait_ms, or its own backoff when negative). */
static void settle(struct lane *l, const struct gv_out *o, enum gv_delivery d, const char *why,
                   int64_t wait_ms)
{
        struct mx *m = l->m;
        int64_t now = mx_now_ms();
        enum gv_err r;

        if (d == GV_DELIVER_LATER) {
                if (wait_ms < 0)
                        wait_ms = mx_backoff(m, &l->backoff);
                l->at = now + wait_ms;
        } else {
                l->backoff = 0;
        }
        r = gv_outbox_settle(m->s, o, d, why, mx_wall_ms(), mx_wall_ms() + wait_ms);
        if (r)
                mx_fatal(m, 1, "cannot record the outcome of outbox row %" PRId64 ": %s",
                         o->id, gv_store_errmsg(m->s));
}

static void on_sent(void *ud, const struct gv_http_resp *resp);

/* The m.replace edit of event_id whose new content is content (JSON text). */
static char *edit_of(const char *content, const char *event_id)
{
        cJSON *nc = cJSON_Parse(content), *c = cJSON_CreateObject(), *rel;
        const char *body = gv_js_str(nc, "body"), *html = gv_js_str(nc, "formatted_body");
        struct gv_buf b = GV_BUF_INIT(GV_MINUTES_MSG_MAX + 8);
        char *out = NULL;

        cJSON_DeleteItemFromObjectCaseSensitive(nc, "m.relates_to");
        if (!nc || !c || gv_buf_printf(&b, "* %s", body ? body : "") != GV_OK ||
            !cJSON_AddStringToObject(c, "msgtype", gv_js_str(nc, "msgtype") ? gv_js_str(nc, "msgtype")
                                                                            : "m.notice") ||
            !cJSON_AddStringToObject(c, "body", gv_buf_str(&b)))
                goto out;
        if (html && (!cJSON_AddStringToObject(c, "format", "org.matrix.custom.html") ||
                     !cJSON_AddStringToObject(c, "formatted_body", html)))
                goto out;
        rel = cJSON_AddObjectToObject(c, "m.relates_to");
        if (!rel || !cJSON_AddStringToObject(rel, "rel_type", "m.replace") ||
            !cJSON_AddStringToObject(rel, "event_id", event_id) ||
            !cJSON_AddItemToObject(c, "m.new_content", nc))
                goto out;
        nc = NULL;
        out = cJSON_PrintUnformatted(c);
        if (out && strlen(out) > GV_CONTENT_MAX_BYTES) {
                /* the fallback for clients without edits would double the
                 * size: a short one, the new content whole */
                cJSON_free(out);
                cJSON_DeleteItemFromObjectCaseSensitive(c, "format");
                cJSON_DeleteItemFromObjectCaseSensitive(c, "formatted_body");
                cJSON_ReplaceItemInObjectCaseSensitive(
                        c, "body", cJSON_CreateString("* (the minutes, with the links to the "
                                                      "published notes)"));
                out = cJSON_PrintUnformatted(c);
        }
out:
        cJSON_Delete(nc);
        cJSON_Delete(c);
        gv_buf_free(&b);
        return out;
}

/* Builds the request of a row: method, URL and body. GV_DELIVER_NEVER (with
 * why) when it cannot be built, GV_DELIVER_LATER when it may later. */
/* Replaces *content (type *type) with its m.room.encrypted content. */
static enum gv_delivery encrypt(struct mx *m, const char *room, const char **type, char **content,
                                char *why, size_t n)
{
        cJSON *plain = cJSON_Parse(*content), *enc = NULL;
        const cJSON *rel = gv_js_obj(plain, "m.relates_to");
        enum gv_err r;
        char *text;

        if (!plain) {
                snprintf(why, n, "out of memory encrypting it");
                return GV_DELIVER_LATER;
        }
        r = gv_crypto_room_encrypt(m->crypto, room, *type, plain, &enc);
        if (r == GV_OK && rel) {
                /* relations stay readable to the server (reactions, replies) */
                cJSON_AddItemToObject(enc, "m.relates_to", cJSON_Duplicate(rel, 1));
        }
        explicit_bzero(*content, strlen(*content));
        free(*content);
        *content = NULL;
        cJSON_Delete(plain);
        if (r) {
                snprintf(why, n, "cannot encrypt it: %s", gv_crypto_errmsg(m->crypto));
                cJSON_Delete(enc);
                return r == GV_ETOOBIG || r == GV_EINVAL ? GV_DELIVER_NEVER : GV_DELIVER_LATER;
        }
        text = cJSON_PrintUnformatted(enc);
        cJSON_Delete(enc);
        *content = text ? strdup(text) : NULL;
        cJSON_free(text);
        *type = "m.room.encrypted";
        if (!*content) {
                snprintf(why, n, "out of memory encrypting it");
                return GV_DELIVER_LATER;
        }
        return GV_DELIVERED;
}

static enum gv_delivery build(struct mx *m, const struct gv_out *o, const char **method, char **url,
                              char **content, char *why, size_t n, bool encrypted)
{
        cJSON *extra = o->extra ? cJSON_Parse(o->extra) : NULL;
        const char *type = "m.room.message";
        enum gv_delivery d = GV_DELIVER_NEVER;
        char txn[96];

        snprintf(txn, sizeof(txn), "gv%s.%" PRId64, m->nonce, o->id);
        *method = "PUT";
        switch (o->kind) {
        case GV_OUT_JOIN:
        case GV_OUT_LEAVE:
                *method = "POST";
                *content = strdup("{}");
                *url = o->kind == GV_OUT_JOIN ?
                        mx_url(m, "/_matrix/client/v3/join/%s", o->room) :
                        mx_url(m, "/_matrix/client/v3/rooms/%s/leave", o->room);
                break;
        case GV_OUT_REACTION: {
                cJSON *c = cJSON_CreateObject(), *rel = cJSON_AddObjectToObject(c, "m.relates_to");
                const char *ev = gv_js_str(extra, "event_id");

                type = "m.reaction";
                if (!ev) {
                        snprintf(why, n, "a reaction to no event");
                        cJSON_Delete(c);
                        goto out;
                }
                if (rel && cJSON_AddStringToObject(rel, "rel_type", "m.annotation") &&
                    cJSON_AddStringToObject(rel, "event_id", ev) &&
                    cJSON_AddStringToObject(rel, "key", o->body)) {
                        char *t = cJSON_PrintUnformatted(c);

                        *content = t ? strdup(t) : NULL;
                        cJSON_free(t);
                }
                cJSON_Delete(c);
                break;
        }
        case GV_OUT_MINUTES: {
                struct gv_buf body = GV_BUF_INIT(GV_MINUTES_MSG_MAX);
                struct gv_buf html = GV_BUF_INIT(GV_MINUTES_MSG_MAX);
                enum gv_err r = gv_minutes_for_outbox(m->s, m->cfg, o->kind, o->extra, &body, &html);

                char *target = NULL;

                if (r == GV_OK)
                        r = gv_job_edit_target(m->s, o->extra, &target, &d, why, n);
                if (r == GV_OK && !target && d != GV_DELIVERED) {
                        gv_buf_free(&body);
                        gv_buf_free(&html);
                        goto out;
                }
                d = GV_DELIVER_NEVER;
                if (r == GV_OK && target)
                        r = gv_job_links_append(m->s, gv_js_uint(extra, "meeting", 0), &body,
                                                &html);
                if (r == GV_OK)
                        *content = gv_content_message(gv_buf_str(&body), gv_buf_str(&html), extra);
                if (r == GV_OK && target && *content) {
                        char *edit = edit_of(*content, target);

                        free(*content);
                        *content = edit;
                }
                free(target);
                gv_buf_free(&body);
                gv_buf_free(&html);
                if (r) {
                        snprintf(why, n, "the minutes cannot be rendered: %s", gv_strerror(r));
                        if (r == GV_ENOMEM || r == GV_EDB)
                                d = GV_DELIVER_LATER;
                        goto out;
                }
                break;
        }
        case GV_OUT_MESSAGE:
                *content = gv_content_message(o->body, o->html, extra);
                break;
        default:
                snprintf(why, n, "a %s row is not for Matrix", gv_out_kind_name(o->kind));
                goto out;
        }
        if (o->kind != GV_OUT_JOIN && o->kind != GV_OUT_LEAVE && *content && encrypted) {
                enum gv_delivery e = encrypt(m, o->room, &type, content, why, n);

                if (e != GV_DELIVERED) {
                        d = e;
                        goto out;
                }
        }
        if (o->kind != GV_OUT_JOIN && o->kind != GV_OUT_LEAVE)
                *url = mx_url(m, "/_matrix/client/v3/rooms/%s/send/%s/%s", o->room, type, txn);
        if (!*content || !*url) {
                snprintf(why, n, "out of memory building it");
                d = GV_DELIVER_LATER;
                goto out;
        }
        d = GV_DELIVERED;       /* built */
out:
        cJSON_Delete(extra);
        return d;
}

static void *job_thread(void *ud)
{
        struct lane *l = ud;
        char zero = 0;
        ssize_t n;

        if (l->file_job) {
                errno = 0;
                l->file_r = gv_archive_put(l->m->cfg->archive_dir, l->file_name, l->file.p,
                                           l->file.len);
                l->file_errno = errno;
        } else {
                gv_job_run(l->job);
        }
        atomic_store(&l->job_done, true);
        n = write(l->m->wake_fd, &zero, 1);
        (void)n;        /* a full pipe wakes the loop anyway */
        return NULL;
}

/* A wiki or webhook row: prepared here, run by a worker thread. Returns
 * true when it was settled at once. */
static bool start_job(struct lane *l, const struct gv_out *o)
{
        struct mx *m = l->m;
        char why[GV_OUTBOX_WHY_MAX] = "";
        enum gv_delivery d;
        enum gv_err r;

        r = gv_job_prepare(m->s, m->cfg, o, &l->job, &d, why, sizeof(why));
        if (r) {
                mx_fatal(m, 1, "cannot prepare outbox row %" PRId64 ": %s", o->id,
                         r == GV_EDB ? gv_store_errmsg(m->s) : gv_strerror(r));
                return false;
        }
        if (!l->job) {
                settle(l, o, d, why, -1);
                return d != GV_DELIVER_LATER;
        }
        l->row.id = o->id;
        l->row.kind = o->kind;
        l->row.attempts = o->attempts;
        l->row.room = l->key;
        atomic_store(&l->job_done, false);
        if (pthread_create(&l->thread, NULL, job_thread, l) != 0) {
                gv_job_free(l->job);
                l->job = NULL;
                settle(l, o, GV_DELIVER_LATER, "cannot start a worker thread", -1);
                return false;
        }
        l->busy = true;
        return false;
}

/* A minutes file row: rendered here (the store is the loop's), written,
 * fsynced and renamed into place by a worker thread, so the loop goes on
 * with every room's sends meanwhile. Returns true when settled at once. */
static bool start_file(struct lane *l, const struct gv_out *o)
{
        struct mx *m = l->m;
        char why[GV_OUTBOX_WHY_MAX] = "";
        enum gv_delivery d;
        int64_t t0 = MX_TRACING() ? mx_now_us() : 0;
        enum gv_err r;

        gv_buf_init(&l->file, (size_t)1 << 30);
        free(l->file_name);
        free(l->file_extra);
        l->file_name = strdup(o->room);
        l->file_extra = o->extra ? strdup(o->extra) : NULL;
        if (!l->file_name || (o->extra && !l->file_extra))
                r = GV_ENOMEM;
        else
                r = gv_outbox_file_render(m->s, m->cfg, o, &l->file);
        if (MX_TRACING())
                gv_debug("trace", "file row %" PRId64 " (%s): rendered %zu bytes in %lld us",
                         o->id, o->room, l->file.len, (long long)(mx_now_us() - t0));
        if (r == GV_OK) {
                l->row.id = o->id;
                l->row.kind = o->kind;
                l->row.attempts = o->attempts;
                l->row.room = l->file_name;
                l->row.extra = l->file_extra;
                l->file_job = true;
                l->tr_issued = t0;
                atomic_store(&l->job_done, false);
                if (pthread_create(&l->thread, NULL, job_thread, l) == 0) {
                        l->busy = true;
                        return false;
                }
                l->file_job = false;
                r = GV_EIO;
                errno = EAGAIN;
        }
        gv_buf_free(&l->file);
        if (gv_outbox_file_outcome(m->s, m->cfg->archive_dir, o, r, r == GV_EIO ? errno : 0,
                                   mx_wall_ms(), &d, why, sizeof(why))) {
                mx_fatal(m, 1, "cannot record a minutes file: %s", gv_store_errmsg(m->s));
                return false;
        }
        settle(l, o, d, why, -1);
        return d != GV_DELIVER_LATER;
}

/* A file written by its thread: its outcome. */
static void reap_file(struct lane *l)
{
        struct mx *m = l->m;
        char why[GV_OUTBOX_WHY_MAX] = "";
        enum gv_delivery d;

        pthread_join(l->thread, NULL);
        l->file_job = false;
        l->busy = false;
        gv_buf_free(&l->file);
        if (MX_TRACING())
                gv_debug("trace", "file row %" PRId64 " (%s): on disk %lld us after its render "
                         "began", l->row.id, l->file_name, (long long)(mx_now_us() - l->tr_issued));
        if (gv_outbox_file_outcome(m->s, m->cfg->archive_dir, &l->row, l->file_r, l->file_errno,
                                   mx_wall_ms(), &d, why, sizeof(why))) {
                mx_fatal(m, 1, "cannot record a minutes file: %s", gv_store_errmsg(m->s));
                return;
        }
        settle(l, &l->row, d, why, -1);
        m->outbox_empty = false;
}

/* Records the outcome of the jobs whose threads are done. */
static void reap_jobs(struct mx *m)
{
        int64_t now = mx_now_ms();
        int dropped = 0, left = 0;

        for (struct lane **pl = &m->lanes; *pl;) {
                if (lane_idle(*pl, now)) {
                        struct lane *idle = *pl;

                        *pl = idle->next;
                        lane_free(idle);
                        dropped++;
                } else {
                        pl = &(*pl)->next;
                        left++;
                }
        }
        if (dropped)
                gv_debug("matrix", "sender: %d idle lanes dropped, %d left", dropped, left);
        for (struct lane *l = m->lanes; l; l = l->next) {
                char why[GV_OUTBOX_WHY_MAX] = "";
                enum gv_delivery d;
                enum gv_err r;

                if (l->file_job && atomic_load(&l->job_done)) {
                        reap_file(l);
                        if (m->stop)
                                return;
                        continue;
                }
                if (!l->job || !atomic_load(&l->job_done))
                        continue;
                pthread_join(l->thread, NULL);
                r = gv_job_finish(m->s, l->job, mx_wall_ms(), &d, why, sizeof(why));
                gv_job_free(l->job);
                l->job = NULL;
                l->busy = false;
                if (r) {
                        mx_fatal(m, 1, "cannot record a publication: %s", gv_store_errmsg(m->s));
                        return;
                }
                settle(l, &l->row, d, why, -1);
                m->outbox_empty = false;
        }
}

/* ---- E2EE: sharing the room's outbound session before a send ----
 *
 * Before the first encrypted send (and after a rotation or a member left)
 * every joined member's devices get the room key: /keys/claim for devices
 * without an Olm session, then PUT /sendToDevice/m.room.encrypted/{txn}.
 * The body and its txn ID are kept in the store (kv SHARE_KV + room) before
 * the request, in the same transaction as the Olm sessions it used: after a
 * crash the same body goes again under the same txn ID (the server drops a
 * repeat), so a share is never lost nor doubled. The devices are marked as
 * having the key only after the 200. */

#define SHARE_KV "e2ee.share."
#define SHARE_WAIT_MS 200       /* waiting for /keys/query */

enum share_state { SHARE_READY, SHARE_BUSY, SHARE_WAIT };

struct members {
        char **v;
        size_t n, cap;
        bool nomem;
};

static void members_cb(void *ud, const char *user_id)
{
        struct members *l = ud;

        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 16;
                char **v = realloc(l->v, cap * sizeof(*v));

                if (!v) {
                        l->nomem = true;
                        return;
                }
                l->v = v;
                l->cap = cap;
        }
        if (!(l->v[l->n] = strdup(user_id)))
                l->nomem = true;
        else
                l->n++;
}

static void members_free(struct members *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        memset(l, 0, sizeof(*l));
}

static enum gv_err members_get(struct mx *m, const char *room, struct members *l)
{
        enum gv_err r;

        memset(l, 0, sizeof(*l));
        r = gv_store_members_joined(m->s, room, members_cb, l);
        if (r == GV_OK && l->nomem)
                r = GV_ENOMEM;
        if (r)
                members_free(l);
        return r;
}

static void lane_wait(struct lane *l, int64_t ms)
{
        l->at = mx_now_ms() + (ms >= 0 ? ms : mx_backoff(l->m, &l->backoff));
}

static char *share_key(const char *room)
{
        size_t n = strlen(SHARE_KV) + strlen(room) + 1;
        char *k = malloc(n);

        if (k)
                snprintf(k, n, "%s%s", SHARE_KV, room);
        return k;
}

static void on_shared(void *ud, const struct gv_http_resp *resp)
{
        struct lane *l = ud;
        struct mx *m = l->m;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        char *key = share_key(l->key);
        enum gv_err r;

        l->busy = false;
        m->in_flight--;
        m->outbox_empty = false;
        if (!key) {
                mx_fatal(m, 1, "out of memory");
        } else if (resp->err == GV_OK && resp->status == 200) {
                r = gv_store_begin(m->s);
                if (r == GV_OK)
                        r = gv_crypto_room_shared(m->crypto, l->key, l->share);
                if (r == GV_OK)
                        r = gv_store_kv_del(m->s, key);
                if (r == GV_OK)
                        r = gv_store_commit(m->s);
                if (r) {
                        gv_store_rollback(m->s);
                        gv_err_log("e2ee", "%s: cannot record the room key shared: %s", l->key,
                                   gv_crypto_errmsg(m->crypto));
                        lane_wait(l, -1);
                } else {
                        gv_info("e2ee", "%s: room key shared", l->key);
                        l->backoff = 0;
                }
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else if (resp->err || resp->status >= 500 || resp->status == 408 ||
                   resp->status == 429) {
                int64_t ra = resp->status == 429 ? mx_retry_after(resp, json) : -1;

                gv_warn("e2ee", "%s: sharing the room key: %s %ld; retrying", l->key,
                        resp->err ? resp->errmsg : "HTTP", resp->status);
                lane_wait(l, ra);
        } else {
                /* refused as it is: build it again */
                gv_err_log("e2ee", "%s: sharing the room key refused: %ld %s", l->key,
                           resp->status, code ? code : "");
                if (gv_store_kv_del(m->s, key) != GV_OK)
                        mx_fatal(m, 1, "cannot drop a refused room key share: %s",
                                 gv_store_errmsg(m->s));
                lane_wait(l, -1);
        }
        free(key);
        cJSON_Delete(l->share);
        l->share = NULL;
        cJSON_Delete(json);
        mx_start_sender(m);
}

/* Sends a kept share ({"txn", "body"}); takes pending. */
static enum share_state share_send(struct lane *l, cJSON *pending)
{
        struct mx *m = l->m;
        const char *txn = gv_js_str(pending, "txn");
        cJSON *body = cJSON_DetachItemFromObjectCaseSensitive(pending, "body");
        char *text = NULL, *url = NULL;
        enum gv_err r = GV_ENOMEM;

        if (!txn || !cJSON_IsObject(body)) {
                char *key = share_key(l->key);

                gv_err_log("e2ee", "%s: a kept room key share is unreadable; dropped", l->key);
                if (!key || gv_store_kv_del(m->s, key) != GV_OK)
                        mx_fatal(m, 1, "cannot drop a room key share");
                free(key);
                cJSON_Delete(body);
                cJSON_Delete(pending);
                lane_wait(l, 0);
                return SHARE_WAIT;
        }
        text = cJSON_PrintUnformatted(body);
        url = mx_url(m, "/_matrix/client/v3/sendToDevice/m.room.encrypted/%s", txn);
        if (text && url)
                r = gv_http_request(m->http, "PUT", url, m->token, text, REQUEST_TIMEOUT_MS,
                                    MAX_SMALL_BODY, on_shared, l);
        cJSON_free(text);
        free(url);
        cJSON_Delete(pending);
        if (r) {
                cJSON_Delete(body);
                mx_fatal(m, 1, "cannot start a request: %s", gv_strerror(r));
                return SHARE_WAIT;
        }
        l->share = body;
        l->busy = true;
        m->in_flight++;
        return SHARE_BUSY;
}

/* Builds the share for the room's members (claim_response may be NULL),
 * keeps it with its txn ID, and sends it. */
static enum share_state share_build(struct lane *l, const struct members *ms,
                                    const cJSON *claim_response)
{
        struct mx *m = l->m;
        cJSON *body = NULL, *pending = NULL;
        char *seq_s = NULL, *key = share_key(l->key), *text = NULL, txn[96], seq_buf[24];
        size_t skipped = 0;
        uint64_t seq = 0;
        enum gv_err r;

        r = key ? gv_store_begin(m->s) : GV_ENOMEM;
        if (r == GV_OK)
                r = gv_crypto_room_share(m->crypto, l->key, (const char *const *)ms->v, ms->n,
                                         claim_response, &body, &skipped);
        if (r == GV_OK && body) {
                r = gv_store_kv_get(m->s, "e2ee.share_seq", &seq_s);
                if (r == GV_OK && seq_s)
                        seq = strtoull(seq_s, NULL, 10);
                seq++;
                snprintf(seq_buf, sizeof(seq_buf), "%" PRIu64, seq);
                snprintf(txn, sizeof(txn), "gvk%s.%" PRIu64, m->nonce, seq);
                if (r == GV_OK)
                        r = gv_store_kv_set(m->s, "e2ee.share_seq", seq_buf);
                pending = cJSON_CreateObject();
                if (r == GV_OK && (!pending || !cJSON_AddStringToObject(pending, "txn", txn)))
                        r = GV_ENOMEM;
                if (r == GV_OK) {
                        cJSON_AddItemToObject(pending, "body", body);
                        body = NULL;
                        text = cJSON_PrintUnformatted(pending);
                        r = text ? gv_store_kv_set(m->s, key, text) : GV_ENOMEM;
                }
        }
        if (r == GV_OK)
                r = gv_store_commit(m->s);
        if (r)
                gv_store_rollback(m->s);
        free(seq_s);
        free(key);
        cJSON_free(text);
        cJSON_Delete(body);
        if (r) {
                gv_err_log("e2ee", "%s: cannot share the room key: %s: %s", l->key,
                           gv_strerror(r), gv_crypto_errmsg(m->crypto));
                cJSON_Delete(pending);
                lane_wait(l, -1);
                return SHARE_WAIT;
        }
        if (skipped)
                gv_warn("e2ee", "%s: %zu devices without a one-time key or a valid one do not "
                        "get the room key", l->key, skipped);
        if (!pending)
                return SHARE_READY;
        return share_send(l, pending);
}

static void on_claimed(void *ud, const struct gv_http_resp *resp)
{
        struct lane *l = ud;
        struct mx *m = l->m;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        struct members ms;

        l->busy = false;
        m->in_flight--;
        m->outbox_empty = false;
        if (resp->err == GV_OK && resp->status == 200 && cJSON_IsObject(json)) {
                if (members_get(m, l->key, &ms) != GV_OK) {
                        lane_wait(l, -1);
                } else {
                        (void)share_build(l, &ms, json);
                        members_free(&ms);
                }
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else {
                gv_warn("e2ee", "%s: /keys/claim: %s %ld; retrying", l->key,
                        resp->err ? resp->errmsg : "HTTP", resp->status);
                free(l->claimed);
                l->claimed = NULL;
                lane_wait(l, -1);
        }
        cJSON_Delete(json);
        mx_start_sender(m);
}

/* Whether the room's members all have the current outbound session; if not,
 * the next request towards it is under way (SHARE_BUSY) or the lane waits. */
static enum share_state share_step(struct lane *l, struct room *rm, const struct gv_out *o)
{
        struct mx *m = l->m;
        char *key = share_key(rm->id), *kept = NULL, *text = NULL;
        cJSON *claim = NULL;
        struct members ms;
        size_t missing = 0;
        enum share_state st = SHARE_WAIT;
        enum gv_err r;

        (void)o;
        memset(&ms, 0, sizeof(ms));
        r = key ? gv_store_kv_get(m->s, key, &kept) : GV_ENOMEM;
        free(key);
        if (r == GV_OK && kept) {
                cJSON *pending = cJSON_Parse(kept);

                free(kept);
                if (!pending) {
                        lane_wait(l, -1);
                        return SHARE_WAIT;
                }
                return share_send(l, pending);
        }
        if (r)
                goto fail;
        if (m->keys_outdated) {
                lane_wait(l, SHARE_WAIT_MS);
                return SHARE_WAIT;
        }
        r = gv_crypto_room_prepare(m->crypto, rm->id, rm->enc, mx_wall_ms());
        if (r == GV_OK)
                r = members_get(m, rm->id, &ms);
        if (r == GV_OK)
                r = gv_crypto_room_share_needed(m->crypto, rm->id, (const char *const *)ms.v,
                                                ms.n, &claim, &missing);
        if (r)
                goto fail;
        if (missing == 0) {
                st = SHARE_READY;
        } else if (claim && (text = cJSON_PrintUnformatted(claim)) &&
                   (!l->claimed || strcmp(text, l->claimed) != 0)) {
                char *url = mx_url(m, "/_matrix/client/v3/keys/claim");

                free(l->claimed);
                l->claimed = strdup(text);
                r = url ? gv_http_request(m->http, "POST", url, m->token, text,
                                          REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_claimed, l) :
                          GV_ENOMEM;
                free(url);
                if (r != GV_OK) {
                        mx_fatal(m, 1, "cannot start a request");
                } else {
                        l->busy = true;
                        m->in_flight++;
                        st = SHARE_BUSY;
                }
        } else if (claim && !text) {
                r = GV_ENOMEM;
                goto fail;
        } else {
                st = share_build(l, &ms, NULL);
        }
        cJSON_free(text);
        cJSON_Delete(claim);
        members_free(&ms);
        return st;
fail:
        gv_err_log("e2ee", "%s: cannot prepare the room's session: %s: %s", rm->id,
                   gv_strerror(r), m->crypto ? gv_crypto_errmsg(m->crypto) : "");
        cJSON_free(text);
        cJSON_Delete(claim);
        members_free(&ms);
        lane_wait(l, -1);
        return SHARE_WAIT;
}

/* Starts the lane's head row. Returns true when it finished at once (a
 * file written or not, a row parked): the lane's next row may go too. */
static bool start_row(struct lane *l, const struct gv_out *o)
{
        struct mx *m = l->m;
        char why[GV_OUTBOX_WHY_MAX] = "", *url = NULL, *content = NULL;
        const char *method = "PUT";
        enum gv_delivery d;
        enum gv_err r;
        bool encrypted = false;

        if (o->kind == GV_OUT_FILE) {
                /* the sends this pass started go out before the render */
                if (m->in_flight)
                        gv_http_kick(m->http);
                return start_file(l, o);
        }
        if (o->kind == GV_OUT_WIKI || o->kind == GV_OUT_WEBHOOK)
                return start_job(l, o);
        if (o->kind == GV_OUT_MESSAGE || o->kind == GV_OUT_REACTION || o->kind == GV_OUT_MINUTES) {
                struct room *rm = mx_room_get(m, o->room);

                if (!rm) {
                        mx_fatal(m, 1, "out of memory");
                        return false;
                }
                encrypted = rm->encrypted;
                if (encrypted && !m->crypto) {
                        snprintf(why, sizeof(why), "the room is encrypted and gavel has no pickle "
                                 "key (pickle_key_file)");
                        settle(l, o, GV_DELIVER_NEVER, why, 0);
                        return true;
                }
                if (encrypted) {
                        enum share_state s = share_step(l, rm, o);

                        if (s == SHARE_BUSY || s == SHARE_WAIT)
                                return false;
                }
        }
        d = build(m, o, &method, &url, &content, why, sizeof(why), encrypted);
        if (d != GV_DELIVERED) {
                free(url);
                free(content);
                settle(l, o, d, why, -1);
                return d != GV_DELIVER_LATER;
        }
        l->row.id = o->id;
        l->row.kind = o->kind;
        l->row.attempts = o->attempts;
        l->row.room = l->key;
        /* its extra too: what to do once it is sent may depend on it (a
         * release keeps its event ID for the reactions that answer it) */
        free(l->sent_extra);
        l->sent_extra = o->extra ? strdup(o->extra) : NULL;
        l->row.extra = l->sent_extra;
        if (o->extra && !l->sent_extra) {
                free(url);
                free(content);
                mx_fatal(m, 1, "out of memory");
                return false;
        }
        r = gv_http_request(m->http, method, url, m->token, content, REQUEST_TIMEOUT_MS,
                            MAX_SMALL_BODY, on_sent, l);
        free(url);
        free(content);
        if (r) {
                mx_fatal(m, 1, "cannot start a request: %s", gv_strerror(r));
                return false;
        }
        l->busy = true;
        m->in_flight++;
        if (MX_TRACING()) {
                l->tr_issued = mx_now_us();
                gv_debug("trace", "row %" PRId64 " (%s in %s): PUT issued +%lld us after the "
                         "newest sync batch was received", o->id, gv_out_kind_name(o->kind),
                         o->room, (long long)(l->tr_issued - m->tr_recv));
        }
        return false;
}

void mx_lanes_wake_aliases(struct mx *m)
{
        for (struct lane *l = m->lanes; l; l = l->next) {
                if (l->key[0] != '#' || l->busy)
                        continue;
                l->at = 0;
                l->backoff = 0;
        }
}

static void joined_cb(void *ud, const char *user_id)
{
        struct mx *m = ((void **)ud)[0];
        bool *found = ((void **)ud)[1];

        if (strcmp(user_id, m->cfg->user_id) == 0)
                *found = true;
}

/* Where a row addressed to a room alias goes: MX_ALIAS_OK with o->room now
 * the room ID; else why says why it waits or is parked. gavel only sends to
 * rooms it is in: it never joins one by itself. */
static enum mx_alias_state route_alias(struct mx *m, struct gv_out *o, char *why, size_t n)
{
        char *rid = NULL;
        bool found = false;
        void *ud[2] = { m, &found };
        enum mx_alias_state st = mx_alias_lookup(m, o->room, &rid, why, n);
        enum gv_err r;

        if (st != MX_ALIAS_OK)
                return st;
        r = gv_store_members_joined(m->s, rid, joined_cb, ud);
        if (r) {
                snprintf(why, n, "cannot read the members of %s: %s", rid, gv_strerror(r));
                free(rid);
                return r == GV_EDB ? MX_ALIAS_ERROR : MX_ALIAS_WAIT;
        }
        if (!found) {
                snprintf(why, n, "gavel is not in %.90s (the room alias %.80s): invite it "
                         "(it does not join by itself)", rid, o->room);
                free(rid);
                return MX_ALIAS_WAIT;
        }
        free(o->room);
        o->room = rid;
        return MX_ALIAS_OK;
}

void mx_start_sender(struct mx *m)
{
        int64_t now = mx_now_ms(), wall = mx_wall_ms(), wake = now + OUTBOX_RECHECK_MS;
        struct gv_out o;
        int64_t after = 0;
        uint64_t scan = ++m->send_scan;
        enum gv_err r;

        reap_jobs(m);
        if (m->stop || m->relogin || m->phase != PH_RUN)
                return;
        if (m->in_flight >= SEND_MAX_IN_FLIGHT) {
                m->outbox_empty = true;         /* until an answer frees a slot */
                m->send_wake = wake;
                return;
        }
        if (m->outbox_empty && now < m->send_wake)
                return;
        if (mx_e2ee_setting_up(m)) {
                /* others first see the device complete: keys and cross-signing
                 * before joining or writing anywhere */
                m->outbox_empty = true;
                m->send_wake = now + 100;
                return;
        }
        while (!m->stop && m->in_flight < SEND_MAX_IN_FLIGHT &&
               (r = gv_store_outbox_next(m->s, after, &o)) == GV_OK) {
                struct lane *l;
                int64_t wait;

                after = o.id;
                if (o.kind == GV_OUT_UNKNOWN) {
                        if (gv_outbox_settle(m->s, &o, GV_DELIVER_NEVER,
                                             "a kind this gavel does not know", wall, 0))
                                mx_fatal(m, 1, "cannot park an outbox row: %s",
                                         gv_store_errmsg(m->s));
                        gv_out_clear(&o);
                        continue;
                }
                if (!((MATRIX_KINDS | FILE_KINDS | GV_JOB_KINDS) & GV_OUT_BIT(o.kind))) {
                        gv_out_clear(&o);       /* another sender's */
                        continue;
                }
                if ((ALIAS_KINDS & GV_OUT_BIT(o.kind)) && o.room && o.room[0] == '#') {
                        /* addressed to a room alias: its own lane until resolved */
                        char why[GV_OUTBOX_WHY_MAX] = "";
                        enum mx_alias_state st;

                        l = lane_get(m, o.room);
                        if (!l) {
                                gv_out_clear(&o);
                                mx_fatal(m, 1, "out of memory");
                                return;
                        }
                        if (l->scan == scan || l->busy) {
                                gv_out_clear(&o);       /* not the head of its alias */
                                continue;
                        }
                        if (now < l->at) {
                                wake = l->at < wake ? l->at : wake;
                                l->scan = scan;
                                gv_out_clear(&o);
                                continue;
                        }
                        st = route_alias(m, &o, why, sizeof(why));
                        if (st == MX_ALIAS_WAIT) {
                                /* retried with the lane's backoff, and at
                                 * once when the alias resolves */
                                l->at = now + mx_backoff(m, &l->backoff);
                                wake = l->at < wake ? l->at : wake;
                                l->scan = scan;
                                if (gv_outbox_settle(m->s, &o, GV_DELIVER_LATER, why, wall, 0))
                                        mx_fatal(m, 1, "cannot record the outcome of outbox row "
                                                 "%" PRId64 ": %s", o.id, gv_store_errmsg(m->s));
                                gv_out_clear(&o);
                                continue;
                        }
                        if (st != MX_ALIAS_OK) {
                                if (st == MX_ALIAS_ERROR)
                                        mx_fatal(m, 1, "%s", why);
                                else if (gv_outbox_settle(m->s, &o, GV_DELIVER_NEVER, why, wall, 0))
                                        mx_fatal(m, 1, "cannot park an outbox row: %s",
                                                 gv_store_errmsg(m->s));
                                gv_out_clear(&o);
                                continue;       /* the alias' next row is its head */
                        }
                        l->backoff = 0;
                }
                l = lane_get(m, gv_outbox_lane(&o));
                if (!l) {
                        gv_out_clear(&o);
                        mx_fatal(m, 1, "out of memory");
                        return;
                }
                if (l->scan == scan || l->busy) {
                        /* not the lane's head, or its head is in flight */
                } else if (now < l->at) {
                        wake = l->at < wake ? l->at : wake;
                } else if (o.next_at > wall && l->at == 0) {
                        /* waiting since before a restart */
                        l->at = now + (o.next_at - wall);
                        wake = l->at < wake ? l->at : wake;
                } else if (o.kind != GV_OUT_FILE && !(GV_JOB_KINDS & GV_OUT_BIT(o.kind)) &&
                           (wait = take_token(l, now)) > 0) {
                        l->at = now + wait;
                        wake = l->at < wake ? l->at : wake;
                } else if (start_row(l, &o)) {
                        gv_out_clear(&o);
                        continue;       /* done at once: its next row is the head */
                } else if (!l->busy && l->at > now) {
                        wake = l->at < wake ? l->at : wake;     /* a file to retry */
                }
                l->scan = scan;
                gv_out_clear(&o);
        }
        if (r != GV_OK && r != GV_ENOTFOUND) {
                mx_fatal(m, 1, "cannot read the outbox: %s", gv_store_errmsg(m->s));
                return;
        }
        m->outbox_empty = true;         /* until a batch, an answer or wake */
        m->send_wake = wake;
}

static void on_sent(void *ud, const struct gv_http_resp *resp)
{
        struct lane *l = ud;
        struct mx *m = l->m;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        char why[GV_OUTBOX_WHY_MAX];

        l->busy = false;
        m->in_flight--;
        m->outbox_empty = false;
        if (MX_TRACING())
                gv_debug("trace", "row %" PRId64 " (%s in %s): answered %ld, %lld us after its "
                         "PUT was issued", l->row.id, gv_out_kind_name(l->row.kind), l->key,
                         resp->status, (long long)(mx_now_us() - l->tr_issued));
        if (resp->err)
                snprintf(why, sizeof(why), "%s", resp->errmsg ? resp->errmsg : gv_strerror(resp->err));
        else
                snprintf(why, sizeof(why), "%ld %s", resp->status, code ? code : "");
        if (resp->err == GV_OK && resp->status == 200) {
                const char *ev = json || (json = cJSON_Parse(resp->body)) ?
                                 gv_js_str(json, "event_id") : NULL;

                /* the minutes' event, for the edit that adds the links; a
                 * release's, for the reactions that answer it */
                if (ev && gv_job_keeps_event(&l->row) &&
                    gv_job_sent_event(m->s, l->row.id, ev) != GV_OK)
                        gv_err_log("outbox", "cannot keep the sent event ID: %s",
                                   gv_store_errmsg(m->s));
                settle(l, &l->row, GV_DELIVERED, NULL, 0);
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);    /* the row stays as it was */
        } else if (resp->status == 429) {
                int64_t ra = mx_retry_after(resp, json);

                settle(l, &l->row, GV_DELIVER_LATER, why, ra >= 0 ? ra : -1);
        } else if (resp->err || resp->status >= 500 || resp->status == 408) {
                settle(l, &l->row, GV_DELIVER_LATER, why, -1);
        } else if (resp->status == 400 && code && strcmp(code, "M_DUPLICATE_ANNOTATION") == 0) {
                settle(l, &l->row, GV_DELIVERED, NULL, 0);     /* the reaction is there already */
        } else {
                /* 403 M_FORBIDDEN (a room we left or may not write in), 413
                 * M_TOO_LARGE, 400 M_BAD_JSON / M_NOT_JSON, ...: sending it again
                 * as it is would only be refused again */
                settle(l, &l->row, GV_DELIVER_NEVER, why, 0);
        }
        free(l->sent_extra);
        l->sent_extra = NULL;
        l->row.extra = NULL;
        cJSON_Delete(json);
        mx_start_sender(m);
}
