/* bridge/http.c - see http.h */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/text.h"
#include "http.h"

struct xfer {
        struct gv_http *h;
        CURL *easy;
        struct curl_slist *headers;
        char *body_out;
        struct gv_buf in;
        int64_t retry_after_ms;
        gv_http_cb cb;
        void *ud;
        struct xfer *next;
};

/* Easy handles kept for the next requests: curl_easy_init() allocates
 * and sets up a handle of several kilobytes and its 16 KiB receive buffer;
 * curl_easy_reset() keeps them (and the connection cache is the multi's). */
#define IDLE_EASY_MAX 8

struct gv_http {
        CURLM *multi;
        struct xfer *xfers;
        CURL *idle[IDLE_EASY_MAX];
        size_t n_idle;
};

static int curl_ready;

/* libcurl is opened when the first HTTP client is made, not linked: the
 * console and `gavel replay` never pay for loading it and the ~35 libraries
 * it pulls in (TLS, Kerberos, LDAP, ...): 4 ms and 6 MiB at every start. */
static struct {
        void *lib;
        CURLcode (*global_init)(long flags);
        CURL *(*easy_init)(void);
        void (*easy_cleanup)(CURL *e);
        void (*easy_reset)(CURL *e);
        CURLcode (*easy_setopt)(CURL *e, CURLoption o, ...);
        CURLcode (*easy_getinfo)(CURL *e, CURLINFO i, ...);
        const char *(*easy_strerror)(CURLcode c);
        CURLM *(*multi_init)(void);
        CURLMcode (*multi_cleanup)(CURLM *m);
        CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
        CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
        CURLMcode (*multi_perform)(CURLM *m, int *running);
        CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms, int *ret);
        CURLMsg *(*multi_info_read)(CURLM *m, int *left);
        struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
        void (*slist_free_all)(struct curl_slist *l);
        CURLcode (*easy_perform)(CURL *e);
} C;

static enum gv_err load_curl(void)
{
        static const struct {
                const char *name;
                size_t off;
        } syms[] = {
#define SYM(n) { "curl_" #n, offsetof(__typeof__(C), n) }
                SYM(global_init), SYM(easy_init), SYM(easy_cleanup), SYM(easy_reset),
                SYM(easy_setopt),
                SYM(easy_getinfo), SYM(easy_strerror), SYM(multi_init), SYM(multi_cleanup),
                SYM(multi_add_handle), SYM(multi_remove_handle), SYM(multi_perform),
                SYM(multi_poll), SYM(multi_info_read), SYM(slist_append), SYM(slist_free_all),
                SYM(easy_perform),
#undef SYM
        };
        void *lib;

        if (C.lib)
                return GV_OK;
        lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
                gv_err_log("http", "cannot load libcurl (package libcurl4): %s", dlerror());
                return GV_EHTTP;
        }
        for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
                void *f = dlsym(lib, syms[i].name);

                if (!f) {
                        gv_err_log("http", "libcurl has no %s: too old (7.66 or later needed)",
                                   syms[i].name);
                        dlclose(lib);
                        return GV_EHTTP;
                }
                memcpy((char *)&C + syms[i].off, &f, sizeof(f));
        }
        C.lib = lib;
        return GV_OK;
}


/* Loads and initialises libcurl once per process, whichever thread asks
 * first: the loop's client or a publisher's worker (bridge/publish_*.c). */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
        if (load_curl() == GV_OK && C.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
                curl_ready = 1;
}

static enum gv_err curl_start(void)
{
        if (pthread_once(&curl_once, curl_init_once) != 0 || !curl_ready)
                return GV_EHTTP;
        return GV_OK;
}

enum gv_err gv_http_new(struct gv_http **ret)
{
        struct gv_http *h;

        if (curl_start() != GV_OK)
                return GV_EHTTP;
        h = calloc(1, sizeof(*h));
        if (!h)
                return GV_ENOMEM;
        h->multi = C.multi_init();
        if (!h->multi) {
                free(h);
                return GV_ENOMEM;
        }
        *ret = h;
        return GV_OK;
}

/* Request headers (the access token) and bodies (a password at /login) are
 * wiped before they are freed. */
static void wipe_out(struct xfer *x)
{
        for (struct curl_slist *l = x->headers; l; l = l->next)
                if (l->data)
                        explicit_bzero(l->data, strlen(l->data));
        C.slist_free_all(x->headers);
        x->headers = NULL;
        if (x->body_out)
                explicit_bzero(x->body_out, strlen(x->body_out));
        free(x->body_out);
        x->body_out = NULL;
}

/* A handle for a request: a kept one, or a new one. */
static CURL *easy_take(struct gv_http *h)
{
        return h->n_idle ? h->idle[--h->n_idle] : C.easy_init();
}

/* A handle done with (out of the multi): kept for the next request, its
 * options reset at once (they point at this request's headers and body,
 * which the caller frees next). */
static void easy_give(struct gv_http *h, CURL *e)
{
        if (!e)
                return;
        if (h->n_idle < IDLE_EASY_MAX) {
                C.easy_reset(e);
                h->idle[h->n_idle++] = e;
        } else {
                C.easy_cleanup(e);
        }
}

static void xfer_free(struct xfer *x)
{
        C.multi_remove_handle(x->h->multi, x->easy);
        easy_give(x->h, x->easy);
        wipe_out(x);
        gv_buf_free(&x->in);
        free(x);
}

struct gv_http *gv_http_free(struct gv_http *h)
{
        if (!h)
                return NULL;
        while (h->xfers) {
                struct xfer *x = h->xfers;

                h->xfers = x->next;
                xfer_free(x);
        }
        while (h->n_idle)
                C.easy_cleanup(h->idle[--h->n_idle]);
        C.multi_cleanup(h->multi);
        free(h);
        return NULL;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;

        if (gv_buf_add(&x->in, p, n) != GV_OK)
                return 0;       /* over the ceiling: curl aborts with CURLE_WRITE_ERROR */
        return n;
}

/* Retry-After: delay-seconds (what homeservers send); an HTTP date is
 * read as "soon". */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb, k = strlen("retry-after:");

        if (n > k && strncasecmp(p, "retry-after:", k) == 0) {
                char v[32];
                size_t i = k, j = 0;
                uint64_t secs;

                while (i < n && (p[i] == ' ' || p[i] == '\t'))
                        i++;
                while (i < n && j + 1 < sizeof(v) && p[i] != '\r' && p[i] != '\n')
                        v[j++] = p[i++];
                v[j] = '\0';
                if (gv_parse_u64(v, 86400, &secs) == GV_OK)
                        x->retry_after_ms = (int64_t)secs * 1000;
                else
                        x->retry_after_ms = 1000;
        }
        return n;
}

enum gv_err gv_http_request(struct gv_http *h, const char *method, const char *url,
                            const char *token, const char *body, long timeout_ms, size_t max_body,
                            gv_http_cb cb, void *ud)
{
        return gv_http_request_h(h, method, url, token, NULL, body, timeout_ms, max_body, cb, ud);
}

enum gv_err gv_http_request_h(struct gv_http *h, const char *method, const char *url,
                              const char *token, const char *const *headers, const char *body,
                              long timeout_ms, size_t max_body, gv_http_cb cb, void *ud)
{
        struct xfer *x = calloc(1, sizeof(*x));
        struct curl_slist *l;
        enum gv_err r = GV_ENOMEM;

        if (!x)
                return GV_ENOMEM;
        x->h = h;
        x->cb = cb;
        x->ud = ud;
        x->retry_after_ms = -1;
        gv_buf_init(&x->in, max_body);
        x->easy = easy_take(h);
        if (!x->easy)
                goto fail;
        l = C.slist_append(NULL, "Accept: application/json");
        if (l)
                x->headers = l;
        if (l && body)
                l = C.slist_append(x->headers, "Content-Type: application/json");
        if (l && token) {
                struct gv_buf auth = GV_BUF_INIT(8192);

                if (gv_buf_printf(&auth, "Authorization: Bearer %s", token) == GV_OK)
                        l = C.slist_append(x->headers, auth.p);
                else
                        l = NULL;
                if (auth.p)
                        explicit_bzero(auth.p, auth.len);
                gv_buf_free(&auth);
        }
        for (size_t i = 0; l && headers && headers[i]; i++)
                l = C.slist_append(x->headers, headers[i]);
        if (!l)
                goto fail;
        if (body) {
                x->body_out = strdup(body);
                if (!x->body_out)
                        goto fail;
        }
        r = GV_EHTTP;
        if (C.easy_setopt(x->easy, CURLOPT_URL, url) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_WRITEDATA, x) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_HEADERDATA, x) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_USERAGENT, "gavel") != CURLE_OK ||
            C.easy_setopt(x->easy, CURLOPT_PRIVATE, x) != CURLE_OK)
                goto fail;
        if (body && (C.easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body_out) != CURLE_OK ||
                     C.easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                                      (curl_off_t)strlen(x->body_out)) != CURLE_OK))
                goto fail;
        if (!body && strcmp(method, "GET") != 0 &&
            (C.easy_setopt(x->easy, CURLOPT_POSTFIELDS, "") != CURLE_OK))
                goto fail;
        if (C.multi_add_handle(h->multi, x->easy) != CURLM_OK)
                goto fail;
        x->next = h->xfers;
        h->xfers = x;
        return GV_OK;
fail:
        if (x->easy)
                C.easy_cleanup(x->easy);
        wipe_out(x);
        gv_buf_free(&x->in);
        free(x);
        return r;
}

static void finish(struct gv_http *h, CURLMsg *m)
{
        struct xfer *x = NULL, **pp;
        struct gv_http_resp resp;

        C.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (!x)
                return;
        for (pp = &h->xfers; *pp && *pp != x; pp = &(*pp)->next)
                ;
        if (*pp)
                *pp = x->next;
        memset(&resp, 0, sizeof(resp));
        resp.retry_after_ms = x->retry_after_ms;
        resp.body = gv_buf_str(&x->in);
        resp.len = x->in.len;
        if (m->data.result == CURLE_OK) {
                resp.err = GV_OK;
                C.easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        } else {
                resp.err = m->data.result == CURLE_WRITE_ERROR ? GV_ETOOBIG : GV_EHTTP;
                resp.errmsg = C.easy_strerror(m->data.result);
        }
        x->cb(x->ud, &resp);
        xfer_free(x);
}

/* Calls back every finished transfer; how many there were. */
static size_t drain(struct gv_http *h)
{
        CURLMsg *m;
        int left;
        size_t n = 0;

        while ((m = C.multi_info_read(h->multi, &left))) {
                if (m->msg == CURLMSG_DONE) {
                        finish(h, m);
                        n++;
                }
        }
        return n;
}

void gv_http_kick(struct gv_http *h)
{
        int running = 0;

        (void)C.multi_perform(h->multi, &running);     /* an error shows in gv_http_poll() */
}

enum gv_err gv_http_poll(struct gv_http *h, int timeout_ms, int wake_fd, bool *woken)
{
        struct curl_waitfd wfd = { wake_fd, CURL_WAIT_POLLIN, 0 };
        int running = 0;

        if (woken)
                *woken = false;
        /* Start what was added since the last call (so that its sockets
         * exist) and hand out what is already done: a transfer that finished
         * here must not wait for the poll's timeout. (wake_fd, unread, is
         * seen by the next call's poll.) */
        if (C.multi_perform(h->multi, &running) != CURLM_OK)
                return GV_EHTTP;
        if (drain(h))
                return GV_OK;
        if (C.multi_poll(h->multi, wake_fd >= 0 ? &wfd : NULL, wake_fd >= 0 ? 1 : 0,
                            timeout_ms < 0 ? 0 : timeout_ms, NULL) != CURLM_OK)
                return GV_EHTTP;
        if (woken && wake_fd >= 0 && (wfd.revents & (CURL_WAIT_POLLIN | CURL_WAIT_POLLPRI)))
                *woken = true;
        if (C.multi_perform(h->multi, &running) != CURLM_OK)
                return GV_EHTTP;
        drain(h);
        return GV_OK;
}

enum gv_err gv_url_escape(struct gv_buf *b, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        enum gv_err r = GV_OK;

        for (; *s && r == GV_OK; s++) {
                unsigned char c = (unsigned char)*s;

                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~') {
                        r = gv_buf_addc(b, (char)c);
                } else {
                        char e[3] = { '%', hex[c >> 4], hex[c & 15] };

                        r = gv_buf_add(b, e, 3);
                }
        }
        return r;
}

/* The blocking client: one easy handle for the life of the client, so that
 * connections and cookies (curl's in-memory engine) carry over. */
struct gv_http_client {
        CURL *easy;
        struct curl_slist *headers;
        struct gv_buf in;
        int64_t retry_after_ms;
};

static size_t on_client_data(char *p, size_t size, size_t nmemb, void *ud)
{
        struct gv_http_client *c = ud;
        size_t n = size * nmemb;

        if (gv_buf_add(&c->in, p, n) != GV_OK)
                return 0;
        return n;
}

static size_t on_client_header(char *p, size_t size, size_t nmemb, void *ud)
{
        struct gv_http_client *c = ud;
        struct xfer x;
        size_t n;

        memset(&x, 0, sizeof(x));
        x.retry_after_ms = c->retry_after_ms;
        n = on_header(p, size, nmemb, &x);
        c->retry_after_ms = x.retry_after_ms;
        return n;
}

enum gv_err gv_http_client_new(struct gv_http_client **ret)
{
        struct gv_http_client *c;

        if (curl_start() != GV_OK)
                return GV_EHTTP;
        c = calloc(1, sizeof(*c));
        if (!c)
                return GV_ENOMEM;
        gv_buf_init(&c->in, 0);
        c->easy = C.easy_init();
        c->headers = C.slist_append(NULL, "Accept: application/json");
        if (!c->easy || !c->headers) {
                gv_http_client_free(c);
                return GV_ENOMEM;
        }
        if (C.easy_setopt(c->easy, CURLOPT_COOKIEFILE, "") != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_client_data) != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_WRITEDATA, c) != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_client_header) != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_HEADERDATA, c) != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L) != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_USERAGENT, "gavel/" GAVEL_VERSION) != CURLE_OK) {
                gv_http_client_free(c);
                return GV_EHTTP;
        }
        *ret = c;
        return GV_OK;
}

struct gv_http_client *gv_http_client_free(struct gv_http_client *c)
{
        if (!c)
                return NULL;
        if (c->easy)
                C.easy_cleanup(c->easy);
        if (c->headers)
                C.slist_free_all(c->headers);
        if (c->in.p)
                explicit_bzero(c->in.p, c->in.len);
        gv_buf_free(&c->in);
        free(c);
        return NULL;
}

enum gv_err gv_http_client_do(struct gv_http_client *c, const char *url, const char *form,
                              long timeout_ms, size_t max_body, struct gv_http_resp *r)
{
        CURLcode rc;

        memset(r, 0, sizeof(*r));
        if (c->in.p)
                explicit_bzero(c->in.p, c->in.len);
        gv_buf_free(&c->in);
        gv_buf_init(&c->in, max_body);
        c->retry_after_ms = -1;
        if (C.easy_setopt(c->easy, CURLOPT_URL, url) != CURLE_OK ||
            C.easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK)
                return GV_EHTTP;
        if (form) {
                if (C.easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                                  (curl_off_t)strlen(form)) != CURLE_OK ||
                    C.easy_setopt(c->easy, CURLOPT_POSTFIELDS, form) != CURLE_OK)
                        return GV_EHTTP;
        } else if (C.easy_setopt(c->easy, CURLOPT_HTTPGET, 1L) != CURLE_OK) {
                return GV_EHTTP;
        }
        rc = C.easy_perform(c->easy);
        /* curl keeps the pointer, not a copy: forget it before the caller frees it */
        if (form)
                (void)C.easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
        r->retry_after_ms = c->retry_after_ms;
        r->body = gv_buf_str(&c->in);
        r->len = c->in.len;
        if (rc == CURLE_OK) {
                r->err = GV_OK;
                C.easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r->status);
        } else {
                r->err = rc == CURLE_WRITE_ERROR ? GV_ETOOBIG : GV_EHTTP;
                r->errmsg = C.easy_strerror(rc);
        }
        return GV_OK;
}
