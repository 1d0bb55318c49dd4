/* bridge/http.h - asynchronous HTTP for the one event loop, over libcurl's
 * multi interface. Knows HTTP; knows nothing about Matrix or meetings.
 * Every response body has a ceiling; nothing here blocks or sleeps. */
#ifndef GV_HTTP_H
#define GV_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../util/err.h"

struct gv_http;

struct gv_http_resp {
        enum gv_err err;        /* GV_OK: a response arrived (any status); GV_EHTTP: no
                                 * response (refused, dropped, timed out); GV_ETOOBIG */
        const char *errmsg;     /* curl's words when err != GV_OK */
        long status;            /* HTTP status, 0 without a response */
        const char *body;       /* NUL-terminated, "" when empty; valid during the callback */
        size_t len;
        int64_t retry_after_ms; /* from a Retry-After header (seconds or date), -1 if none */
};

typedef void (*gv_http_cb)(void *ud, const struct gv_http_resp *r);

GV_MUST_CHECK enum gv_err gv_http_new(struct gv_http **ret);
/* Cancels what is in flight without calling back. NULL is fine. */
struct gv_http *gv_http_free(struct gv_http *h);

/* Starts a request: method "GET", "POST", "PUT"; body JSON or NULL; token
 * sent as "Authorization: Bearer" when not NULL; timeout_ms for the whole
 * exchange; max_body ceiling on the response (over it: GV_ETOOBIG). cb is
 * called exactly once, from gv_http_poll(). */
GV_MUST_CHECK enum gv_err gv_http_request(struct gv_http *h, const char *method, const char *url,
                                          const char *token, const char *body, long timeout_ms,
                                          size_t max_body, gv_http_cb cb, void *ud);

/* gv_http_request() with more request headers ("Name: value", NULL-ended
 * list, may be NULL). */
GV_MUST_CHECK enum gv_err gv_http_request_h(struct gv_http *h, const char *method,
                                            const char *url, const char *token,
                                            const char *const *headers, const char *body,
                                            long timeout_ms, size_t max_body, gv_http_cb cb,
                                            void *ud);

/* Sends what was started since the last poll now, without waiting or
 * calling any callback (those come from gv_http_poll()): before work that
 * keeps the loop busy for a while. */
void gv_http_kick(struct gv_http *h);
/* Moves transfers on and calls back those that ended. Waits at most
 * timeout_ms for activity on the transfers or on wake_fd (-1: none);
 * *woken (may be NULL) tells whether wake_fd was seen readable, so that
 * the caller reads it only then (no read per turn that finds nothing). */
GV_MUST_CHECK enum gv_err gv_http_poll(struct gv_http *h, int timeout_ms, int wake_fd,
                                       bool *woken);

/* A blocking client, for worker threads and the console only (never the
 * event loop): one connection and one in-memory cookie jar for its life, so
 * that a login's session cookie goes along with later requests. */
struct gv_http_client;

GV_MUST_CHECK enum gv_err gv_http_client_new(struct gv_http_client **ret);
/* Wipes the last response. NULL is fine. */
struct gv_http_client *gv_http_client_free(struct gv_http_client *c);

/* GET url, or POST form (application/x-www-form-urlencoded) when form is not
 * NULL. Fills *r as the asynchronous callback would (r->err GV_OK when any
 * response arrived); r->body is valid until the next request or the free.
 * Returns GV_OK, or GV_EHTTP when curl refused the options. */
GV_MUST_CHECK enum gv_err gv_http_client_do(struct gv_http_client *c, const char *url,
                                            const char *form, long timeout_ms, size_t max_body,
                                            struct gv_http_resp *r);

/* Appends s to b percent-encoded for a URL path segment or query value
 * (everything but A-Z a-z 0-9 - . _ ~). */
struct gv_buf;
GV_MUST_CHECK enum gv_err gv_url_escape(struct gv_buf *b, const char *s);

#endif
