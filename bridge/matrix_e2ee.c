/* bridge/matrix_e2ee.c - the Matrix client's side of end-to-end encryption,
 * around bridge/crypto.h (the only libolm user): the pickle key, the
 * device's keys on the server (/keys/upload, topped up from sync counts),
 * cross-signing with password UIA, other users' devices (/keys/query,
 * device_lists, /keys/changes), to-device events before the timeline,
 * encrypted timeline events decrypted into the same path as plain ones, and
 * events whose key has not arrived: they wait in the store (bounded), a key
 * request goes out, and they are handled when the key comes.
 *
 * Sharing the outbound session and encrypting what the bot sends is the
 * sender's (matrix_send.c). Every request goes through the loop's HTTP
 * machinery, one E2EE request at a time; nothing blocks. Key material and
 * plaintext are never logged. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../store/store.h"
#include "../util/log.h"
#include "../util/json.h"
#include "crypto.h"
#include "http.h"
#include "matrix_internal.h"
#include "sync.h"

enum { XS_START = 0, XS_UIA, XS_UIA_SENT, XS_SIGS, XS_DONE, XS_OFF };

/* Events waiting for their key: at most this many, this long. */
#define WAIT_MAX_EVENTS 1000
#define WAIT_MAX_MS (24 * 3600 * 1000LL)
#define WAIT_SCAN_MS 60000      /* how often the waiting events are looked at */
/* The sender waits at most this long for the device to be set up. */
#define E2EE_SETUP_MAX_MS 30000
/* Key requests queued at most (more are dropped: the events still wait). */
#define KEYREQ_MAX 256

struct keyreq {
        char *room, *sender, *event_id;
        cJSON *content;         /* the encrypted event's content */
        struct keyreq *next;
};

static void keyreq_free(struct keyreq *k)
{
        if (!k)
                return;
        free(k->room);
        free(k->sender);
        free(k->event_id);
        cJSON_Delete(k->content);
        free(k);
}

/* ---- the pickle key, opening ---- */

int mx_e2ee_init(struct mx *m)
{
        bool given = false, exists = false;

        m->pickle_key = mx_secret(m->cfg->pickle_key_file, "pickle_key", &given);
        if (gv_crypto_exists(m->s, &exists) != GV_OK) {
                fprintf(stderr, "gavel: cannot read the encryption state: %s\n",
                        gv_store_errmsg(m->s));
                return 1;
        }
        m->crypto_existed = exists;
        if (given && !m->pickle_key) {
                fprintf(stderr, "gavel: cannot read the pickle key file %s (missing, empty or "
                                "over %d bytes)\n",
                        m->cfg->pickle_key_file && *m->cfg->pickle_key_file ?
                        m->cfg->pickle_key_file : "$CREDENTIALS_DIRECTORY/pickle_key", MAX_SECRET);
                return 2;
        }
        if (m->pickle_key && strlen(m->pickle_key) < GV_CRYPTO_PICKLE_KEY_MIN) {
                fprintf(stderr, "gavel: the pickle key is shorter than %d bytes\n",
                        GV_CRYPTO_PICKLE_KEY_MIN);
                return 2;
        }
        if (!m->pickle_key && exists) {
                fprintf(stderr, "gavel: %s holds end-to-end encryption state but no pickle key "
                                "is given: set pickle_key_file or provide "
                                "$CREDENTIALS_DIRECTORY/pickle_key (the key it was created with)\n",
                        m->cfg->database);
                return 2;
        }
        if (!m->pickle_key)
                gv_warn("e2ee", "no pickle key (pickle_key_file, $CREDENTIALS_DIRECTORY/"
                        "pickle_key): encrypted rooms are not read or written");
        return 0;
}

void mx_e2ee_free(struct mx *m)
{
        if (m->e2ee_bad)
                gv_warn("e2ee", "%" PRIu64 " encrypted inputs refused this run (malformed, "
                        "replayed, forged or not for this device)", m->e2ee_bad);
        m->crypto = gv_crypto_free(m->crypto);
        mx_secret_free(m->pickle_key);
        m->pickle_key = NULL;
        free(m->uia_session);
        m->uia_session = NULL;
        free(m->changes_from);
        m->changes_from = NULL;
        while (m->keyreqs) {
                struct keyreq *k = m->keyreqs;

                m->keyreqs = k->next;
                keyreq_free(k);
        }
}

struct ids {
        char **v;
        size_t n, cap;
        bool nomem;
};

static void ids_cb(void *ud, const char *user_id)
{
        struct ids *l = ud;

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

static enum gv_err users_outdated(struct mx *m, const char *const *users, size_t n);

/* A new encryption state for a bot that was in encrypted rooms already:
 * their members' devices are not known yet. */
static enum gv_err track_known_members(struct mx *m)
{
        struct ids l = { NULL, 0, 0, false };
        enum gv_err r = gv_store_members_encrypted(m->s, ids_cb, &l);

        if (r == GV_OK && l.nomem)
                r = GV_ENOMEM;
        if (r == GV_OK)
                r = users_outdated(m, (const char *const *)l.v, l.n);
        for (size_t i = 0; i < l.n; i++)
                free(l.v[i]);
        free(l.v);
        return r;
}

static void e2ee_open(struct mx *m)
{
        enum gv_err r;
        char *lists = NULL;

        if (!m->device_id) {
                mx_fatal(m, 1, "no device ID from the homeserver: cannot set up encryption");
                return;
        }
        r = gv_crypto_open(m->s, m->cfg->user_id, m->device_id, m->pickle_key,
                           strlen(m->pickle_key), &m->crypto);
        mx_secret_free(m->pickle_key);
        m->pickle_key = NULL;
        if (r) {
                mx_fatal(m, 2, "cannot open the encryption state: %s: %s", gv_strerror(r),
                         m->crypto ? gv_crypto_errmsg(m->crypto) :
                         r == GV_ECRYPTO ? "wrong pickle key?" :
                         r == GV_EINVAL ? "the database belongs to another user or device" : "");
                m->crypto = gv_crypto_free(m->crypto);
                return;
        }
        gv_info("e2ee", "device %s, identity key %s", m->device_id, gv_crypto_ed25519(m->crypto));
        m->e2ee_started = mx_now_ms();
        /* first start: upload at once; later: wait for the sync's counts, so
         * that one-time keys the server still holds are not replaced */
        m->upload_check = !m->crypto_existed;
        m->counts.signed_curve25519 = -1;
        if (gv_crypto_xsign_published(m->crypto)) {
                m->xsign = XS_DONE;
        } else if (!m->password) {
                m->xsign = XS_OFF;
                gv_warn("e2ee", "cross-signing needs the account password once (password_file "
                        "or $CREDENTIALS_DIRECTORY/password): until then clients that only "
                        "share keys with verified devices leave gavel out");
        }
        /* device lists that changed while the state was not being kept */
        if (gv_store_kv_get(m->s, "e2ee.lists_since", &lists) == GV_OK && lists && m->since &&
            strcmp(lists, m->since) != 0) {
                m->changes_from = lists;
                lists = NULL;
        }
        free(lists);
        m->keys_outdated = true;
        if (!m->crypto_existed && track_known_members(m) != GV_OK)
                mx_fatal(m, 1, "cannot read the members of encrypted rooms: %s",
                         gv_store_errmsg(m->s));
}

/* ---- requests ---- */

static void e2ee_retry(struct mx *m, const struct gv_http_resp *resp, const char *what)
{
        gv_warn("e2ee", "%s: %s %ld; retrying", what, resp->err ? resp->errmsg : "HTTP",
                resp->status);
        m->e2ee_at = mx_now_ms() + mx_backoff(m, &m->e2ee_backoff);
}

static bool e2ee_post(struct mx *m, const char *method, char *url, cJSON *body, gv_http_cb cb)
{
        char *text = body ? cJSON_PrintUnformatted(body) : NULL;
        bool ok;

        if (body && !text) {
                free(url);
                mx_fatal(m, 1, "out of memory");
                return false;
        }
        m->e2ee_busy = true;
        ok = mx_request(m, method, url, text, REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, cb);
        if (text) {
                explicit_bzero(text, strlen(text));
                cJSON_free(text);
        }
        return ok;
}

static void on_upload(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        enum gv_err r;

        m->e2ee_busy = false;
        m->upload_busy = false;
        if (resp->err == GV_OK && resp->status == 200) {
                r = gv_crypto_keys_uploaded(m->crypto);
                if (r) {
                        mx_fatal(m, 1, "cannot record the keys uploaded: %s",
                                 gv_crypto_errmsg(m->crypto));
                        goto out;
                }
                m->keys_gen++;
                gv_crypto_key_counts_parse(json, &m->counts);
                m->counts.fallback_known = true;
                m->counts.fallback_unused = true;
                m->counts_known = m->counts.signed_curve25519 >= 0;
                m->upload_check = false;
                m->e2ee_backoff = 0;
                gv_info("e2ee", "keys uploaded: the server holds %lld one-time keys",
                        (long long)m->counts.signed_curve25519);
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else {
                e2ee_retry(m, resp, "/keys/upload");
        }
out:
        cJSON_Delete(json);
}

static bool step_upload(struct mx *m)
{
        cJSON *body = NULL;
        enum gv_err r;

        if (!m->upload_check)
                return false;
        r = gv_crypto_keys_upload_body(m->crypto, m->counts_known ? &m->counts : NULL, 0, &body);
        if (r) {
                mx_fatal(m, 1, "cannot build the key upload: %s", gv_crypto_errmsg(m->crypto));
                return true;
        }
        if (!body) {
                m->upload_check = false;
                return false;
        }
        /* the keys the server is given are on the disk first */
        if (gv_store_sync(m->s) != GV_OK) {
                cJSON_Delete(body);
                gv_warn("e2ee", "cannot sync the database before a key upload (%s); retrying",
                        gv_store_errmsg(m->s));
                m->e2ee_at = mx_now_ms() + mx_backoff(m, &m->e2ee_backoff);
                return true;
        }
        m->upload_busy = true;
        m->upload_fallback = gv_js_obj(body, "fallback_keys") != NULL;
        e2ee_post(m, "POST", mx_url(m, "/_matrix/client/v3/keys/upload"), body, on_upload);
        cJSON_Delete(body);
        return true;
}

/* ---- cross-signing ---- */

static void on_signatures(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        const cJSON *fail = gv_js_obj(json, "failures");

        m->e2ee_busy = false;
        if (resp->err == GV_OK && resp->status == 200 && !(fail && fail->child)) {
                if (gv_crypto_xsign_uploaded(m->crypto) != GV_OK) {
                        mx_fatal(m, 1, "cannot record cross-signing: %s",
                                 gv_crypto_errmsg(m->crypto));
                } else {
                        m->xsign = XS_DONE;
                        m->e2ee_backoff = 0;
                        gv_info("e2ee", "cross-signed: device %s is signed by its owner "
                                "(master key %s)", m->device_id,
                                gv_crypto_xsign_master(m->crypto));
                }
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else if (resp->err == GV_OK && resp->status == 200) {
                gv_err_log("e2ee", "the server refused gavel's cross-signing signature of its "
                           "device; cross-signing is off for this run");
                m->xsign = XS_OFF;
        } else {
                e2ee_retry(m, resp, "/keys/signatures/upload");
        }
        cJSON_Delete(json);
}

static void on_xsign(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        const char *session = gv_js_str(json, "session");

        m->e2ee_busy = false;
        if (resp->err == GV_OK && resp->status == 200) {
                m->xsign = XS_SIGS;
                m->e2ee_backoff = 0;
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else if (resp->status == 401 && m->xsign == XS_START && gv_js_arr(json, "flows")) {
                bool pw = false;
                const cJSON *f, *st;

                cJSON_ArrayForEach(f, gv_js_arr(json, "flows")) {
                        st = gv_js_arr(f, "stages");
                        if (cJSON_GetArraySize(st) == 1 && cJSON_IsString(st->child) &&
                            strcmp(st->child->valuestring, "m.login.password") == 0)
                                pw = true;
                }
                free(m->uia_session);
                m->uia_session = session ? strdup(session) : NULL;
                if (pw) {
                        m->xsign = XS_UIA;
                } else {
                        gv_err_log("e2ee", "cross-signing upload: the server offers no "
                                   "m.login.password flow; cross-signing is off");
                        m->xsign = XS_OFF;
                }
        } else if (resp->status == 401 || resp->status == 403) {
                gv_err_log("e2ee", "cross-signing upload refused (%ld %s): is password_file "
                           "the account's password? cross-signing is off for this run",
                           resp->status, code ? code : "");
                m->xsign = XS_OFF;
        } else {
                e2ee_retry(m, resp, "/keys/device_signing/upload");
        }
        cJSON_Delete(json);
}

static bool step_xsign(struct mx *m)
{
        cJSON *body = NULL, *auth, *id;
        enum gv_err r;

        if (m->xsign == XS_DONE || m->xsign == XS_OFF || m->upload_check || !m->counts_known)
                return false;
        if (m->xsign == XS_SIGS) {
                r = gv_crypto_xsign_signatures_body(m->crypto, &body);
                if (r) {
                        mx_fatal(m, 1, "cannot sign the device: %s", gv_crypto_errmsg(m->crypto));
                        return true;
                }
                e2ee_post(m, "POST", mx_url(m, "/_matrix/client/v3/keys/signatures/upload"), body,
                          on_signatures);
                cJSON_Delete(body);
                return true;
        }
        r = gv_crypto_xsign_bootstrap(m->crypto, false);
        if (r == GV_OK)
                r = gv_crypto_xsign_upload_body(m->crypto, &body);
        if (r) {
                mx_fatal(m, 1, "cannot set up cross-signing: %s", gv_crypto_errmsg(m->crypto));
                return true;
        }
        if (m->xsign == XS_UIA || m->xsign == XS_UIA_SENT) {
                m->xsign = XS_UIA;
                auth = cJSON_AddObjectToObject(body, "auth");
                id = auth ? cJSON_AddObjectToObject(auth, "identifier") : NULL;
                if (!id || !cJSON_AddStringToObject(auth, "type", "m.login.password") ||
                    !cJSON_AddStringToObject(id, "type", "m.id.user") ||
                    !cJSON_AddStringToObject(id, "user", m->cfg->user_id) ||
                    !cJSON_AddStringToObject(auth, "password", m->password) ||
                    (m->uia_session && !cJSON_AddStringToObject(auth, "session", m->uia_session))) {
                        cJSON *pw = cJSON_GetObjectItemCaseSensitive(auth, "password");

                        if (cJSON_IsString(pw))
                                explicit_bzero(pw->valuestring, strlen(pw->valuestring));
                        cJSON_Delete(body);
                        mx_fatal(m, 1, "out of memory");
                        return true;
                }
        }
        e2ee_post(m, "POST", mx_url(m, "/_matrix/client/v3/keys/device_signing/upload"), body,
                  on_xsign);
        if (m->xsign == XS_UIA) {
                cJSON *pw = cJSON_GetObjectItemCaseSensitive(gv_js_get(body, "auth"), "password");

                if (cJSON_IsString(pw))
                        explicit_bzero(pw->valuestring, strlen(pw->valuestring));
                m->xsign = XS_UIA_SENT; /* a 401 now is an answer, not a new flow */
        }
        cJSON_Delete(body);
        return true;
}

/* ---- other devices ---- */

static void on_query(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        size_t rejected = 0;
        enum gv_err r;

        m->e2ee_busy = false;
        if (resp->err == GV_OK && resp->status == 200 && cJSON_IsObject(json)) {
                r = gv_store_begin(m->s);
                if (r == GV_OK)
                        r = gv_crypto_keys_query_ingest(m->crypto, json, &rejected);
                if (r == GV_OK)
                        r = gv_store_commit(m->s);
                if (r) {
                        gv_store_rollback(m->s);
                        gv_warn("e2ee", "/keys/query answer not taken: %s: %s", gv_strerror(r),
                                gv_crypto_errmsg(m->crypto));
                        m->e2ee_bad++;
                }
                if (rejected) {
                        gv_warn("e2ee", "/keys/query: %zu devices refused (bad signature, "
                                "changed or missing keys)", rejected);
                        m->e2ee_bad += rejected;
                }
                /* users still listed outdated (failures) wait for their next change */
                if (m->outdated_gen == m->query_gen)
                        m->keys_outdated = false;
                m->e2ee_backoff = 0;
                m->outbox_empty = false;        /* lanes waiting for devices may go */
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else {
                e2ee_retry(m, resp, "/keys/query");
        }
        cJSON_Delete(json);
}

static bool step_query(struct mx *m)
{
        cJSON *body = NULL;

        if (!m->keys_outdated)
                return false;
        if (gv_crypto_keys_query_body(m->crypto, &body) != GV_OK) {
                mx_fatal(m, 1, "cannot build /keys/query: %s", gv_crypto_errmsg(m->crypto));
                return true;
        }
        if (!body) {
                m->keys_outdated = false;
                m->outbox_empty = false;
                return false;
        }
        m->query_gen = m->outdated_gen;
        e2ee_post(m, "POST", mx_url(m, "/_matrix/client/v3/keys/query"), body, on_query);
        cJSON_Delete(body);
        return true;
}

static enum gv_err users_outdated(struct mx *m, const char *const *users, size_t n)
{
        enum gv_err r;

        if (!n)
                return GV_OK;
        r = gv_crypto_users_outdated(m->crypto, users, n);
        if (r == GV_OK) {
                m->keys_outdated = true;
                m->outdated_gen++;
        }
        return r;
}

static void on_changes(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        enum gv_err r = GV_OK;

        m->e2ee_busy = false;
        if (resp->err == GV_OK && resp->status == 200) {
                const cJSON *u;

                cJSON_ArrayForEach(u, gv_js_arr(json, "changed"))
                        if (r == GV_OK && cJSON_IsString(u))
                                r = users_outdated(m, (const char *const *)&u->valuestring, 1);
                cJSON_ArrayForEach(u, gv_js_arr(json, "left"))
                        if (r == GV_OK && cJSON_IsString(u))
                                r = gv_crypto_users_forget(m->crypto,
                                                           (const char *const *)&u->valuestring, 1);
                if (r)
                        gv_warn("e2ee", "/keys/changes not taken: %s",
                                gv_crypto_errmsg(m->crypto));
                free(m->changes_from);
                m->changes_from = NULL;
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else if (resp->err || resp->status >= 500 || resp->status == 429) {
                e2ee_retry(m, resp, "/keys/changes");
        } else {
                free(m->changes_from);  /* a token it does not know: nothing to learn */
                m->changes_from = NULL;
        }
        cJSON_Delete(json);
}

static bool step_changes(struct mx *m)
{
        if (!m->changes_from || !m->since)
                return false;
        e2ee_post(m, "GET", mx_url(m, "/_matrix/client/v3/keys/changes?from=%s&to=%s",
                                   m->changes_from, m->since), NULL, on_changes);
        return true;
}

/* ---- key requests for events that wait ---- */

static void on_keyreq(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;

        m->e2ee_busy = false;
        if (resp->err || resp->status >= 500 || resp->status == 429) {
                e2ee_retry(m, resp, "a room key request");
                return;
        }
        if (resp->status != 200)
                gv_warn("e2ee", "a room key request was refused: %ld", resp->status);
        if (m->keyreqs) {
                struct keyreq *k = m->keyreqs;

                m->keyreqs = k->next;
                keyreq_free(k);
        }
}

static bool step_keyreq(struct mx *m)
{
        struct keyreq *k = m->keyreqs;
        cJSON *body = NULL;
        char txn[160];

        if (!k)
                return false;
        if (gv_crypto_key_request_body(m->crypto, k->room, k->sender, k->content, k->event_id,
                                       &body) != GV_OK || !body) {
                gv_warn("e2ee", "cannot ask for the key of %s: %s", k->event_id,
                        gv_crypto_errmsg(m->crypto));
                m->keyreqs = k->next;
                keyreq_free(k);
                return false;
        }
        snprintf(txn, sizeof(txn), "gvkr%s.%.100s", m->nonce, k->event_id);
        e2ee_post(m, "PUT", mx_url(m, "/_matrix/client/v3/sendToDevice/m.room_key_request/%s",
                                   txn), body, on_keyreq);
        cJSON_Delete(body);
        return true;
}

static void keyreq_add(struct mx *m, const char *room, const char *sender, const char *event_id,
                       const cJSON *content)
{
        struct keyreq *k, **tail = &m->keyreqs;
        size_t n = 0;

        for (k = m->keyreqs; k; k = k->next, n++) {
                if (strcmp(k->event_id, event_id) == 0)
                        return;
                tail = &k->next;
        }
        if (n >= KEYREQ_MAX)
                return;
        k = calloc(1, sizeof(*k));
        if (!k || !(k->room = strdup(room)) || !(k->sender = strdup(sender)) ||
            !(k->event_id = strdup(event_id)) || !(k->content = cJSON_Duplicate(content, 1))) {
                keyreq_free(k);
                return;         /* the event still waits; it is asked for at the next start */
        }
        *tail = k;
}

static int waiting_ask_cb(void *ud, const struct gv_waiting *w)
{
        struct mx *m = ud;
        cJSON *ev = cJSON_Parse(w->event);
        const char *sender = gv_js_str(ev, "sender");
        const cJSON *content = gv_js_obj(ev, "content");

        if (sender && content)
                keyreq_add(m, w->room, sender, w->event_id, content);
        cJSON_Delete(ev);
        return 0;
}

/* ---- the step ---- */

void mx_e2ee_step(struct mx *m)
{
        if (!m->crypto && m->pickle_key)
                e2ee_open(m);
        if (!m->crypto || m->e2ee_busy || m->stop || mx_now_ms() < m->e2ee_at)
                return;
        if (!m->waiting_checked) {
                m->waiting_checked = true;
                if (gv_store_crypto_wait_each(m->s, NULL, waiting_ask_cb, m) != GV_OK)
                        gv_warn("e2ee", "cannot read the events waiting for keys: %s",
                                gv_store_errmsg(m->s));
        }
        if (step_upload(m) || m->e2ee_busy || m->stop)
                return;
        if (step_changes(m) || step_query(m) || m->e2ee_busy || m->stop)
                return;
        if (step_xsign(m) || m->e2ee_busy || m->stop)
                return;
        (void)step_keyreq(m);
}

bool mx_e2ee_due(const struct mx *m, int64_t *at)
{
        if ((!m->crypto && !m->pickle_key) || m->e2ee_busy)
                return false;
        if (!m->crypto || m->upload_check || m->keys_outdated || m->keyreqs ||
            m->changes_from || !m->waiting_checked ||
            ((m->xsign == XS_START || m->xsign == XS_UIA || m->xsign == XS_UIA_SENT ||
              m->xsign == XS_SIGS) &&
             m->counts_known)) {
                *at = m->e2ee_at;
                return true;
        }
        return false;
}

bool mx_e2ee_setting_up(struct mx *m)
{
        if (!m->crypto)
                return m->pickle_key != NULL;
        if (mx_now_ms() - m->e2ee_started > E2EE_SETUP_MAX_MS)
                return false;
        return !m->counts_known || m->upload_busy ||
               (m->xsign != XS_DONE && m->xsign != XS_OFF);
}

/* ---- a sync batch ---- */

/* One event waiting for its key, read back from the store. */
struct waited {
        char *event_id, *room, *event;
        int64_t since;
};

struct waited_list {
        struct waited *v;
        size_t n, cap;
        bool nomem;
};

static int waited_cb(void *ud, const struct gv_waiting *w)
{
        struct waited_list *l = ud;

        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 8;
                struct waited *v = realloc(l->v, cap * sizeof(*v));

                if (!v) {
                        l->nomem = true;
                        return 1;
                }
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n].event_id = strdup(w->event_id);
        l->v[l->n].room = strdup(w->room);
        l->v[l->n].event = strdup(w->event);
        l->v[l->n].since = w->since;
        l->n++;
        if (!l->v[l->n - 1].event_id || !l->v[l->n - 1].room || !l->v[l->n - 1].event) {
                l->nomem = true;
                return 1;
        }
        return 0;
}

static void waited_free(struct waited_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].event_id);
                free(l->v[i].room);
                free(l->v[i].event);
        }
        free(l->v);
}

/* The key of session_id came: its waiting events are handled now (those
 * still without a key wait again). */
static enum gv_err waited_retry(struct mx *m, const char *session_id)
{
        struct waited_list l = { NULL, 0, 0, false };
        enum gv_err r = gv_store_crypto_wait_each(m->s, session_id, waited_cb, &l);

        if (r == GV_OK && l.nomem)
                r = GV_ENOMEM;
        for (size_t i = 0; i < l.n && r == GV_OK; i++) {
                cJSON *ev = cJSON_Parse(l.v[i].event);
                struct gv_sync_event e;
                struct room *rm = mx_room_get(m, l.v[i].room);

                r = gv_store_crypto_wait_del(m->s, l.v[i].event_id);
                memset(&e, 0, sizeof(e));
                e.type = gv_js_str(ev, "type");
                e.sender = gv_js_str(ev, "sender");
                e.event_id = gv_js_str(ev, "event_id");
                e.content = gv_js_obj(ev, "content");
                e.unsigned_ = gv_js_obj(ev, "unsigned");
                e.ts = gv_js_uint(ev, "origin_server_ts", 0);
                e.json = ev;
                if (r == GV_OK && !rm)
                        r = GV_ENOMEM;
                if (r == GV_OK && e.type && e.sender && e.event_id && e.content) {
                        gv_info("e2ee", "%s: the key of %s arrived; handling it", rm->id,
                                e.event_id);
                        r = mx_handle_timeline_event(m, rm, &e, false);
                }
                cJSON_Delete(ev);
        }
        waited_free(&l);
        return r;
}

/* Events that waited too long, or too many: logged, and a notice in their
 * room says so (never dropped silently). */
static enum gv_err waited_expire(struct mx *m)
{
        struct waited_list l = { NULL, 0, 0, false };
        int64_t n = 0, now = mx_wall_ms();
        bool *gone = NULL;
        enum gv_err r = gv_store_crypto_wait_count(m->s, &n);

        if (r || n == 0 || (n <= WAIT_MAX_EVENTS && mx_now_ms() < m->wait_scan_at))
                return r;
        m->wait_scan_at = mx_now_ms() + WAIT_SCAN_MS;
        r = gv_store_crypto_wait_each(m->s, NULL, waited_cb, &l);
        if (r == GV_OK && (l.nomem || !(gone = calloc(l.n + 1, sizeof(*gone)))))
                r = GV_ENOMEM;
        for (size_t i = 0; i < l.n && r == GV_OK; i++) {
                if (now - l.v[i].since < WAIT_MAX_MS && n <= WAIT_MAX_EVENTS)
                        continue;
                gv_warn("e2ee", "%s: gave up waiting for the key of %s", l.v[i].room,
                        l.v[i].event_id);
                r = gv_store_crypto_wait_del(m->s, l.v[i].event_id);
                gone[i] = true;
                n--;
        }
        /* one notice per room, however many were given up */
        for (size_t i = 0; i < l.n && r == GV_OK; i++) {
                char body[700], who[300] = "";
                size_t count = 0, named = 0;

                if (!gone[i])
                        continue;
                for (size_t j = i; j < l.n; j++) {
                        cJSON *ev;
                        const char *sender;

                        if (!gone[j] || strcmp(l.v[j].room, l.v[i].room) != 0)
                                continue;
                        gone[j] = j == i;
                        count++;
                        ev = cJSON_Parse(l.v[j].event);
                        sender = gv_js_str(ev, "sender");
                        if (sender && named < 3 && !strstr(who, sender) &&
                            strlen(who) + strlen(sender) + 3 < sizeof(who)) {
                                if (named++)
                                        strcat(who, ", ");
                                strcat(who, sender);
                        }
                        cJSON_Delete(ev);
                }
                gone[i] = false;
                snprintf(body, sizeof(body), "gavel could not decrypt %zu encrypted message%s%s%s%s: "
                         "%s never arrived. Say again anything gavel should act on.", count,
                         count == 1 ? "" : "s", *who ? " from " : "", who,
                         named == 3 ? " and others" : "", count == 1 ? "its key" : "their keys");
                r = gv_store_outbox_add(m->s, GV_OUT_MESSAGE, l.v[i].room, body, NULL, NULL, now);
        }
        free(gone);
        waited_free(&l);
        return r;
}

static enum gv_err todevice(struct mx *m, const struct gv_sync_event *e)
{
        struct gv_crypto_todevice t;
        enum gv_err r;

        memset(&t, 0, sizeof(t));
        r = gv_crypto_todevice_in(m->crypto, e->json, &t);
        if (r == GV_ENOMEM || r == GV_EDB) {
                gv_crypto_todevice_clear(&t);
                return r;
        }
        if (r) {
                gv_warn("e2ee", "a to-device %s from %s not taken (%s): %s", e->type, e->sender,
                        gv_strerror(r), gv_crypto_errmsg(m->crypto));
                m->e2ee_bad++;
                gv_crypto_todevice_clear(&t);
                return GV_OK;
        }
        switch (t.kind) {
        case GV_TD_ROOM_KEY:
                gv_info("e2ee", "%s: room key %s from %s", t.room_id ? t.room_id : "?",
                        t.session_id ? t.session_id : "?", t.sender ? t.sender : "?");
                if (t.session_id)
                        r = waited_retry(m, t.session_id);
                break;
        case GV_TD_WITHHELD:
                gv_warn("e2ee", "%s: %s withheld the key of session %s: %s%s%s",
                        t.room_id ? t.room_id : "?", t.sender ? t.sender : "?",
                        t.session_id ? t.session_id : "?", t.code ? t.code : "?",
                        t.reason ? ": " : "", t.reason ? t.reason : "");
                break;
        case GV_TD_DECRYPTED:
                gv_debug("e2ee", "an encrypted to-device %s from %s", t.type ? t.type : "?",
                         t.sender ? t.sender : "?");
                break;
        case GV_TD_IGNORED:
                break;
        }
        gv_crypto_todevice_clear(&t);
        return r;
}

enum gv_err mx_e2ee_batch(struct mx *m, const struct gv_sync *b)
{
        enum gv_err r = GV_OK;

        if (!m->crypto) {
                if (b->n_to_device)
                        gv_debug("e2ee", "%zu to-device events: no encryption (no pickle key)",
                                 b->n_to_device);
                return GV_OK;
        }
        for (size_t i = 0; i < b->n_to_device && r == GV_OK; i++)
                r = todevice(m, &b->to_device[i]);
        if (r == GV_OK)
                r = users_outdated(m, b->dl_changed, b->n_dl_changed);
        if (r == GV_OK && b->n_dl_left)
                r = gv_crypto_users_forget(m->crypto, b->dl_left, b->n_dl_left);
        if (r == GV_OK)
                r = waited_expire(m);
        if (r == GV_OK)
                r = gv_store_kv_set(m->s, "e2ee.lists_since", b->next_batch);
        /* counts from a sync that began before the last upload ended are stale */
        if (r == GV_OK && b->otk_signed_curve25519 >= 0 && !m->upload_busy &&
            m->sync_keys_gen == m->keys_gen) {
                m->counts.signed_curve25519 = b->otk_signed_curve25519;
                m->counts.fallback_known = b->fallback_known;
                m->counts.fallback_unused = b->fallback_unused;
                m->counts_known = true;
                m->upload_check = true;
        }
        return r;
}

/* ---- encrypted timeline events ---- */

enum gv_err mx_e2ee_timeline(struct mx *m, struct room *rm, const struct gv_sync_event *e)
{
        struct gv_crypto_decrypted d;
        struct gv_sync_event plain;
        enum gv_err r;

        if (!m->crypto) {
                if (!rm->said_no_e2ee)
                        gv_err_log("e2ee", "%s: encrypted messages are not read: no pickle key "
                                   "(set pickle_key_file or $CREDENTIALS_DIRECTORY/pickle_key)",
                                   rm->id);
                rm->said_no_e2ee = true;
                return GV_OK;
        }
        memset(&d, 0, sizeof(d));
        r = gv_crypto_room_decrypt(m->crypto, rm->id, e->json, &d);
        if (r == GV_ENOTFOUND) {
                const char *sid = gv_js_str(e->content, "session_id");
                char *text = cJSON_PrintUnformatted(e->json);

                gv_info("e2ee", "%s: no key yet for %s from %s: it waits, and the key is asked "
                        "for", rm->id, e->event_id, e->sender);
                r = text ? gv_store_crypto_wait_add(m->s, e->event_id, rm->id, sid ? sid : "",
                                                    text, mx_wall_ms()) : GV_ENOMEM;
                cJSON_free(text);
                if (r == GV_OK)
                        keyreq_add(m, rm->id, e->sender, e->event_id, e->content);
                gv_crypto_decrypted_clear(&d);
                return r;
        }
        if (r == GV_ENOMEM || r == GV_EDB) {
                gv_crypto_decrypted_clear(&d);
                return r;
        }
        if (r) {
                gv_warn("e2ee", "%s: %s from %s not decrypted (%s): %s", rm->id, e->event_id,
                        e->sender, gv_strerror(r), gv_crypto_errmsg(m->crypto));
                m->e2ee_bad++;
                gv_crypto_decrypted_clear(&d);
                return GV_OK;
        }
        plain = *e;
        plain.type = gv_js_str(d.payload, "type");
        plain.content = gv_js_obj(d.payload, "content");
        if (plain.content && !gv_js_get(plain.content, "m.relates_to") &&
            gv_js_obj(e->content, "m.relates_to")) {
                /* relations ride in the clear on the m.room.encrypted event
                 * (a reaction's annotation, a reply): as if in the payload */
                cJSON *rel = cJSON_Duplicate(gv_js_obj(e->content, "m.relates_to"), 1);

                if (!rel || !cJSON_AddItemToObject((cJSON *)plain.content, "m.relates_to", rel)) {
                        cJSON_Delete(rel);
                        gv_crypto_decrypted_clear(&d);
                        return GV_ENOMEM;
                }
        }
        plain.state_key = NULL;
        plain.redacts = gv_js_str(plain.content, "redacts");
        if (!plain.type || !plain.content || strcmp(plain.type, "m.room.encrypted") == 0) {
                gv_warn("e2ee", "%s: %s from %s: the decrypted event has no type or content",
                        rm->id, e->event_id, e->sender);
                m->e2ee_bad++;
                r = GV_OK;
        } else {
                r = mx_handle_timeline_event(m, rm, &plain, false);
        }
        gv_crypto_decrypted_clear(&d);
        return r;
}

/* ---- members ---- */

enum gv_err mx_e2ee_member(struct mx *m, struct room *rm, const char *user, const char *ms)
{
        struct ids l = { NULL, 0, 0, false };
        enum gv_err r;

        if (!m->crypto)
                return GV_OK;
        if (user && strcmp(user, m->cfg->user_id) == 0)
                return GV_OK;
        if (user && ms && strcmp(ms, "join") == 0)
                return users_outdated(m, &user, 1);
        if (user) {
                if (ms && (strcmp(ms, "leave") == 0 || strcmp(ms, "ban") == 0)) {
                        gv_info("e2ee", "%s: %s left: the room's session is rotated", rm->id,
                                user);
                        return gv_crypto_room_rotate(m->crypto, rm->id);
                }
                return GV_OK;
        }
        r = gv_store_members_joined(m->s, rm->id, ids_cb, &l);
        if (r == GV_OK && l.nomem)
                r = GV_ENOMEM;
        if (r == GV_OK)
                r = users_outdated(m, (const char *const *)l.v, l.n);
        for (size_t i = 0; i < l.n; i++)
                free(l.v[i]);
        free(l.v);
        return r;
}
