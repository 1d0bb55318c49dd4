/* bridge/matrix.c - see matrix.h; the private pieces are in matrix_internal.h
 *
 * One loop (run()) owns everything: it starts HTTP requests, waits in
 * gv_http_poll() for the first of their answers, a timer or a signal, and
 * reacts in the callbacks. Nothing blocks and nothing sleeps: every retry is a
 * time stored in `struct mx` that the loop waits for.
 *
 *   setup:  [.well-known] -> /versions -> credentials (token or /login) ->
 *           /account/whoami -> filter -> run                 (matrix_setup.c)
 *   sync:   /sync -> (gap fill with /messages for limited timelines) ->
 *           apply the batch in one transaction with next_batch -> /sync ...
 *                                                            (matrix_sync.c)
 *   send:   per room (a lane each; the minutes files one more) the oldest
 *           pending row -> PUT .../send/{type}/{txnId} with a txnId derived
 *           from the row -> mark sent (or retry later, or park) -> next row;
 *           several rooms at once                            (matrix_send.c)
 *   rooms:  power levels, our joins, invites, timeline events (matrix_rooms.c)
 *   aliases: configured room aliases resolved with the directory, rows to an
 *           alias sent to its room ID                        (matrix_alias.c)
 *   timers: series releases and reminders, gv_tick() in its own transaction
 *           when gv_next_due() is reached                    (matrix_timers.c)
 *
 * This file: the shared helpers (clocks, backoff, URLs, requests), the loop,
 * and gv_matrix_run(), which sets up and tears down `struct mx`.
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
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "../util/json.h"
#include "http.h"
#include "matrix.h"
#include "matrix_internal.h"
#include "sync.h"

#define BACKOFF_START_MS 250

static int wake_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
        int saved = errno;      /* the code it interrupts may be about to read errno */
        char c = (char)sig;
        ssize_t n = write(wake_pipe[1], &c, 1);

        (void)n;
        errno = saved;
}

int64_t mx_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mx_now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The process clock (util/clock.h): GAVEL_TEST_TIME moves it in tests. */
int64_t mx_wall_ms(void)
{
        return gv_clock_now_ms();
}

void mx_fatal(struct mx *m, int status, const char *fmt, ...)
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
int64_t mx_backoff(struct mx *m, int64_t *cur)
{
        int64_t b = *cur ? *cur : BACKOFF_START_MS, j;

        j = b / 2 + (int64_t)((unsigned)rand() % (unsigned)(b / 2 + 1));
        *cur = b * 2 > m->cfg->backoff_max_ms ? m->cfg->backoff_max_ms : b * 2;
        return j;
}

/* ---- answers ---- */

const char *mx_errcode(const struct gv_http_resp *r, cJSON **json)
{
        *json = r->len ? cJSON_ParseWithLength(r->body, r->len) : NULL;
        return gv_js_str(*json, "errcode");
}

/* retry_after_ms from the body, else the Retry-After header, else -1. */
int64_t mx_retry_after(const struct gv_http_resp *r, const cJSON *json)
{
        int64_t ms = gv_js_uint(json, "retry_after_ms", -1);

        return ms >= 0 && ms < 86400000 ? ms : r->retry_after_ms;
}

/* ---- URLs ---- */

/* base + path, where each "%s" in path is a URL-escaped argument. */
char *mx_url(struct mx *m, const char *path, ...)
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

bool mx_request(struct mx *m, const char *method, char *u, const char *body,
                    long timeout_ms, size_t max_body, gv_http_cb cb)
{
        enum gv_err r = GV_ENOMEM;

        if (u)
                r = gv_http_request(m->http, method, u, m->token, body, timeout_ms, max_body, cb, m);
        free(u);
        if (r) {
                mx_fatal(m, 1, "cannot start a request: %s", gv_strerror(r));
                return false;
        }
        return true;
}

/* ---- the loop ---- */

static int loop_timeout(const struct mx *m)
{
        int64_t now = mx_now_ms(), next = now + 1000;

        if (m->phase != PH_RUN && !m->busy && m->setup_at < next)
                next = m->setup_at;
        if (m->phase == PH_RUN && !m->sync_busy && !m->batch && m->sync_at < next)
                next = m->sync_at;
        if (m->phase == PH_RUN && !m->sync_busy && m->batch && m->gap_at < next)
                next = m->gap_at;
        if (m->phase == PH_RUN && !m->relogin && (!m->outbox_empty || m->send_wake < next))
                next = m->outbox_empty ? m->send_wake : now;
        if (m->phase == PH_RUN && !m->relogin) {
                int64_t at;

                if (mx_e2ee_due(m, &at) && at < next)
                        next = at;
                if (mx_aliases_due(m, &at) && at < next)
                        next = at;
        }
        {
                int64_t at;

                /* a series' timer: also while a /sync long poll is in flight */
                if (mx_timers_due(m, &at) && at < next)
                        next = at;
        }
        return next <= now ? 0 : (int)(next - now);
}

static void run(struct mx *m)
{
        while (!m->stop) {
                bool woken = false;
                char sig;

                if (m->phase != PH_RUN)
                        mx_step_setup(m);
                if (m->relogin && !m->busy && mx_now_ms() >= m->setup_at)
                        mx_start_login(m);
                if (m->phase == PH_RUN && !m->relogin) {
                        mx_e2ee_step(m);
                        if (m->stop)
                                break;
                        mx_aliases_step(m);
                        if (!m->sync_busy && !m->batch && mx_now_ms() >= m->sync_at &&
                            (m->caught_up || mx_aliases_ready(m)))
                                mx_start_sync(m);
                        else if (!m->sync_busy && m->batch && mx_now_ms() >= m->gap_at)
                                mx_fill_gaps(m);        /* a retry, or after a re-login */
                        mx_start_sender(m);
                }
                /* timers need only the store: not held back by a re-login,
                 * a long poll, a slow room or a stuck lane */
                mx_timers_step(m);
                if (m->stop)
                        break;
                if (gv_http_poll(m->http, loop_timeout(m), wake_pipe[0], &woken) != GV_OK) {
                        mx_fatal(m, 1, "the HTTP loop failed");
                        break;
                }
                while (woken && read(wake_pipe[0], &sig, 1) == 1) {
                        if (sig == 0) {
                                /* a wiki or webhook job finished (matrix_send.c) */
                                m->outbox_empty = false;
                                continue;
                        }
                        gv_info("matrix", "signal %d: stopping", (int)sig);
                        m->stop = true;
                }
        }
}

static enum gv_err load_state(struct mx *m)
{
        char *v = NULL;
        enum gv_err r;

        r = gv_store_kv_get(m->s, "next_batch", &m->since);
        if (r == GV_OK)
                r = gv_store_kv_get(m->s, MX_FILTER_KEY, &m->filter_id);
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
        m.tr_start = mx_now_us();
        if (!cfg->user_id || !*cfg->user_id) {
                fprintf(stderr, "gavel: user_id is required to connect to a homeserver\n");
                return 2;
        }
        m.token = mx_secret(cfg->access_token_file, "access_token", &token_given);
        m.password = mx_secret(cfg->password_file, "password", &pw_given);
        if ((token_given && !m.token) || (pw_given && !m.password)) {
                fprintf(stderr, "gavel: cannot read the %s file (missing, empty or over %d "
                                "bytes)\n", token_given && !m.token ? "access token" : "password",
                        MAX_SECRET);
                mx_secret_free(m.token);
                mx_secret_free(m.password);
                return 2;
        }
        m.token_from_file = m.token != NULL;
        srand((unsigned)(mx_wall_ms() ^ getpid()));
        if (cfg->homeserver && *cfg->homeserver) {
                m.base = strdup(cfg->homeserver);
                while (m.base && *m.base && m.base[strlen(m.base) - 1] == '/')
                        m.base[strlen(m.base) - 1] = '\0';
                m.phase = PH_VERSIONS;
        } else {
                m.base = mx_base_from_user(cfg->user_id);
                m.phase = PH_DISCOVER;
        }
        m.timer_due = INT64_MAX;
        mx_aliases_init(&m);
        r = m.base ? gv_store_open(cfg->database, &m.s) : GV_ENOMEM;
        if (r == GV_OK)
                r = gv_core_new(m.s, cfg, &m.core);
        if (r == GV_OK)
                r = gv_http_new(&m.http);
        if (r == GV_OK)
                r = load_state(&m);
        if (r == GV_OK) {
                int st = mx_e2ee_init(&m);

                if (st) {
                        m.status = st;
                        goto out;
                }
        }
        if (r == GV_OK && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
                r = GV_EIO;
        m.wake_fd = wake_pipe[1];
        if (r) {
                if (m.base && !m.s)
                        fprintf(stderr, "gavel: %s\n", gv_store_errmsg(NULL));
                else
                        fprintf(stderr, "gavel: cannot start: %s%s%s\n", gv_strerror(r),
                                m.s ? ": " : "", m.s ? gv_store_errmsg(m.s) : "");
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
        mx_aliases_free(&m);
        mx_e2ee_free(&m);
        m.batch = gv_sync_free(m.batch);
        mx_gaps_free(&m);
        free(m.join_spans);     /* set during on_sync only */
        mx_rooms_free(&m);
        mx_lanes_free(&m);
        gv_core_free(m.core);
        gv_store_free(m.s);
        if (wake_pipe[0] >= 0) {
                close(wake_pipe[0]);
                close(wake_pipe[1]);
                wake_pipe[0] = wake_pipe[1] = -1;
        }
        free(m.base);
        mx_secret_free(m.token);
        mx_secret_free(m.password);
        free(m.device_id);
        free(m.filter_id);
        free(m.since);
        free(m.nonce);
        return m.status;
}
