/* bridge/matrix_setup.c - getting to PH_RUN: discovery (.well-known,
 * /versions), credentials (files, $CREDENTIALS_DIRECTORY), /login and the
 * re-login after M_UNKNOWN_TOKEN, /account/whoami, the sync filter. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../store/store.h"
#include "../util/buf.h"
#include "../util/log.h"
#include "../util/json.h"
#include "http.h"
#include "matrix_internal.h"

/* ---- secrets ---- */

/* Read with read(2), not stdio, so that no buffer but ours holds the
 * secret; ours is wiped before it goes out of scope. */
static char *read_secret(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[MAX_SECRET + 2], *ret = NULL;
        size_t n = 0;
        ssize_t k;

        if (fd < 0)
                return NULL;
        while (n < sizeof(buf) - 1 &&
               ((k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0 || (k < 0 && errno == EINTR)))
                if (k > 0)
                        n += (size_t)k;
        close(fd);
        if (n <= MAX_SECRET) {
                buf[n] = '\0';
                while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                        buf[--n] = '\0';
                ret = n ? strdup(buf) : NULL;
        }
        explicit_bzero(buf, sizeof(buf));
        return ret;
}

/* Frees a secret, wiped first. NULL is fine. */
void mx_secret_free(char *s)
{
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}

/* The configured file, else $CREDENTIALS_DIRECTORY/name. */
char *mx_secret(const char *file, const char *name, bool *given)
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

/* ---- discovery ---- */

/* "@gavel:example.org" -> "https://example.org"; IP literals on loopback
 * (tests) use http. */
char *mx_base_from_user(const char *user_id)
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

/* ---- setup ---- */

static void setup_retry(struct mx *m, const struct gv_http_resp *resp, const char *what)
{
        if (!m->said_down) {
                gv_warn("matrix", "%s: %s; waiting for the homeserver", what,
                        resp->err ? resp->errmsg : "unexpected answer");
                m->said_down = true;
        }
        m->setup_at = mx_now_ms() + mx_backoff(m, &m->setup_backoff);
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
            gv_store_kv_set(m->s, MX_FILTER_KEY, id) == GV_OK) {
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
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        const char *token = gv_js_str(json, "access_token"), *device = gv_js_str(json, "device_id");

        m->busy = false;
        if (resp->err == GV_OK && resp->status == 200 && token) {
                mx_secret_free(m->token);
                m->token = strdup(token);
                if (device) {
                        free(m->device_id);
                        m->device_id = strdup(device);
                        if (gv_store_kv_set(m->s, "device_id", device) != GV_OK)
                                gv_warn("matrix", "cannot store the device ID");
                }
                if (!m->token || gv_store_kv_set(m->s, "access_token", token) != GV_OK)
                        mx_fatal(m, 1, "cannot keep the access token");
                gv_info("matrix", "logged in as %s (device %s)", m->cfg->user_id,
                        device ? device : "?");
                m->relogin = false;
                m->setup_backoff = 0;
                if (m->phase == PH_LOGIN)
                        m->phase = m->filter_id ? PH_RUN : PH_FILTER;
        } else if (resp->err == GV_OK && (resp->status == 403 || resp->status == 400 ||
                                          resp->status == 401)) {
                mx_fatal(m, 2, "login as %s refused: %ld %s %s", m->cfg->user_id, resp->status,
                      code ? code : "", gv_js_str(json, "error") ? gv_js_str(json, "error") : "");
        } else if (resp->status == 429) {
                int64_t ra = mx_retry_after(resp, json);

                m->setup_at = mx_now_ms() + (ra >= 0 ? ra : mx_backoff(m, &m->setup_backoff));
        } else {
                setup_retry(m, resp, "logging in");
        }
        /* the token in the parsed answer and in the body (ours until we return) */
        if (token)
                explicit_bzero((char *)token, strlen(token));
        if (resp->body && resp->len)
                explicit_bzero((char *)resp->body, resp->len);
        cJSON_Delete(json);
}

void mx_start_login(struct mx *m)
{
        cJSON *o = cJSON_CreateObject(), *id = cJSON_AddObjectToObject(o, "identifier"), *pw;
        char *body = NULL;

        if (id && cJSON_AddStringToObject(o, "type", "m.login.password") &&
            cJSON_AddStringToObject(id, "type", "m.id.user") &&
            cJSON_AddStringToObject(id, "user", m->cfg->user_id) &&
            cJSON_AddStringToObject(o, "password", m->password) &&
            cJSON_AddStringToObject(o, "initial_device_display_name", "gavel") &&
            (!m->device_id || cJSON_AddStringToObject(o, "device_id", m->device_id)))
                body = cJSON_PrintUnformatted(o);
        pw = cJSON_GetObjectItemCaseSensitive(o, "password");
        if (cJSON_IsString(pw) && pw->valuestring)
                explicit_bzero(pw->valuestring, strlen(pw->valuestring));
        cJSON_Delete(o);
        if (!body) {
                mx_fatal(m, 1, "out of memory");
                return;
        }
        mx_secret_free(m->token);
        m->token = NULL;
        m->busy = true;
        mx_request(m, "POST", mx_url(m, "/_matrix/client/v3/login"), body, REQUEST_TIMEOUT_MS,
                MAX_SMALL_BODY, on_login);
        explicit_bzero(body, strlen(body));
        cJSON_free(body);
}

void mx_start_relogin(struct mx *m)
{
        if (m->relogin)
                return;
        if (!m->password) {
                mx_fatal(m, 1, "the homeserver rejected the access token (M_UNKNOWN_TOKEN) and no "
                            "password is configured to log in again");
                return;
        }
        gv_warn("matrix", "access token rejected (M_UNKNOWN_TOKEN); logging in again");
        m->relogin = true;
        if (!m->busy)
                mx_start_login(m);
}

static void on_whoami(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        const char *uid = gv_js_str(json, "user_id"), *dev = gv_js_str(json, "device_id");

        m->busy = false;
        if (resp->err == GV_OK && resp->status == 200 && uid) {
                if (strcmp(uid, m->cfg->user_id) != 0)
                        mx_fatal(m, 2, "the access token belongs to %s, not to user_id %s", uid,
                              m->cfg->user_id);
                else
                        m->phase = m->filter_id ? PH_RUN : PH_FILTER;
                if (dev && !m->device_id)
                        m->device_id = strdup(dev);
        } else if (resp->status == 401 && m->password && !m->token_from_file) {
                m->phase = PH_LOGIN;    /* a stored token that expired */
        } else if (resp->status == 401) {
                mx_fatal(m, 2, "the access token was rejected: %s", code ? code : "401");
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
                mx_fatal(m, 1, "%s speaks no client-server API version gavel knows (v1.x)", m->base);
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

void mx_step_setup(struct mx *m)
{
        if (m->busy || mx_now_ms() < m->setup_at)
                return;
        switch (m->phase) {
        case PH_DISCOVER:
                m->busy = true;
                mx_request(m, "GET", mx_url(m, "/.well-known/matrix/client"), NULL, REQUEST_TIMEOUT_MS,
                        MAX_SMALL_BODY, on_wellknown);
                break;
        case PH_VERSIONS:
                m->busy = true;
                mx_request(m, "GET", mx_url(m, "/_matrix/client/versions"), NULL, REQUEST_TIMEOUT_MS,
                        MAX_SMALL_BODY, on_versions);
                break;
        case PH_WHOAMI:
                m->busy = true;
                mx_request(m, "GET", mx_url(m, "/_matrix/client/v3/account/whoami"), NULL,
                        REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_whoami);
                break;
        case PH_LOGIN:
                if (!m->password) {
                        mx_fatal(m, 2, "no credentials: set access_token_file or password_file, or "
                                    "provide $CREDENTIALS_DIRECTORY/access_token or /password");
                        return;
                }
                mx_start_login(m);
                break;
        case PH_FILTER: {
                static const char filter[] =
                        "{\"presence\":{\"types\":[]},\"account_data\":{\"types\":[]},"
                        "\"room\":{\"timeline\":{\"limit\":50,\"types\":" TIMELINE_TYPES "},"
                        "\"state\":{\"types\":[\"m.room.member\","
                        "\"m.room.power_levels\",\"m.room.encryption\","
                        "\"m.room.canonical_alias\"]},"
                        "\"ephemeral\":{\"types\":[]},\"account_data\":{\"types\":[]}}}";

                m->busy = true;
                mx_request(m, "POST", mx_url(m, "/_matrix/client/v3/user/%s/filter", m->cfg->user_id),
                        filter, REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_filter);
                break;
        }
        case PH_RUN:
                break;
        }
}
