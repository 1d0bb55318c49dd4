/* tests/crypto-driver.c - bridge/crypto driven over stdin/stdout, one JSON
 * request a line, one JSON answer a line, for tests written against other
 * crypto (tests/crypto_interop.py with python-olm). A test tool: it prints
 * plaintext, which gavel itself never does.
 *
 *   {"op":"open","db":PATH,"user":U,"device":D,"key":K}   -> {"curve25519","ed25519"}
 *   {"op":"upload","otk_count":N,"target":T}               -> {"body"}
 *   {"op":"uploaded"}
 *   {"op":"xsign"}                                         -> {"upload","signatures"}
 *   {"op":"query_ingest","response":{...}}                 -> {"rejected"}
 *   {"op":"todevice","event":{...}}                        -> {"kind","type","room_id",
 *                                                              "session_id","plaintext"}
 *   {"op":"room_decrypt","room":R,"event":{...}}           -> {"payload","index","verified"}
 *   {"op":"olm_encrypt","user","device","otk","type","content"} -> {"content"}
 *   {"op":"room_prepare","room":R,"settings":{...},"now":MS}
 *   {"op":"share","room":R,"members":[...],"claim":{...}} -> {"claim_needed","body","skipped"}
 *   {"op":"shared","room":R,"body":{...}}
 *   {"op":"room_encrypt","room":R,"type":T,"content":{...}} -> {"content"}
 *   {"op":"canonical","obj":{...}}                         -> {"text"}
 * Every answer has "ok" (true, or false with "error" and "message"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bridge/crypto.h"
#include "../store/store.h"
#include "../util/json.h"

static struct gv_store *st;
static struct gv_crypto *c;

static const char *kind_name(enum gv_crypto_td_kind k)
{
        switch (k) {
        case GV_TD_ROOM_KEY: return "room_key";
        case GV_TD_WITHHELD: return "withheld";
        case GV_TD_DECRYPTED: return "decrypted";
        default: return "ignored";
        }
}

static const char *const *str_array(const cJSON *a, size_t *n)
{
        const char **v;
        size_t i = 0;

        *n = (size_t)cJSON_GetArraySize(a);
        v = calloc(*n + 1, sizeof(*v));
        for (const cJSON *e = a ? a->child : NULL; v && e; e = e->next)
                v[i++] = cJSON_IsString(e) ? e->valuestring : NULL;
        return v;
}

static enum gv_err run(const cJSON *req, cJSON *ans)
{
        const char *op = gv_js_str(req, "op");
        enum gv_err r = GV_EINVAL;

        if (!op)
                return GV_EINVAL;
        if (!strcmp(op, "open")) {
                const char *key = gv_js_str(req, "key");

                if (!st && gv_store_open(gv_js_str(req, "db"), &st))
                        return GV_EDB;
                c = gv_crypto_free(c);
                r = gv_crypto_open(st, gv_js_str(req, "user"), gv_js_str(req, "device"), key,
                                   key ? strlen(key) : 0, &c);
                if (!r) {
                        cJSON_AddStringToObject(ans, "curve25519", gv_crypto_curve25519(c));
                        cJSON_AddStringToObject(ans, "ed25519", gv_crypto_ed25519(c));
                }
                return r;
        }
        if (!strcmp(op, "canonical")) {
                char *t = NULL;

                r = gv_crypto_canonical_json(gv_js_get(req, "obj"), &t);
                if (!r)
                        cJSON_AddStringToObject(ans, "text", t);
                free(t);
                return r;
        }
        if (!c)
                return GV_EINVAL;
        if (!strcmp(op, "upload")) {
                struct gv_crypto_key_counts k = { gv_js_uint(req, "otk_count", 0), false, false };
                cJSON *b = NULL;

                r = gv_crypto_keys_upload_body(c, &k, (size_t)gv_js_uint(req, "target", 0), &b);
                if (!r)
                        cJSON_AddItemToObject(ans, "body", b ? b : cJSON_CreateNull());
                return r;
        }
        if (!strcmp(op, "xsign")) {
                cJSON *up = NULL, *sig = NULL;

                r = gv_crypto_xsign_bootstrap(c, false);
                if (!r)
                        r = gv_crypto_xsign_upload_body(c, &up);
                if (!r)
                        r = gv_crypto_xsign_signatures_body(c, &sig);
                if (!r) {
                        cJSON_AddItemToObject(ans, "upload", up);
                        cJSON_AddItemToObject(ans, "signatures", sig);
                        up = sig = NULL;
                }
                cJSON_Delete(up);
                cJSON_Delete(sig);
                return r;
        }
        if (!strcmp(op, "uploaded"))
                return gv_crypto_keys_uploaded(c);
        if (!strcmp(op, "query_ingest")) {
                size_t rej = 0;

                r = gv_crypto_keys_query_ingest(c, gv_js_get(req, "response"), &rej);
                cJSON_AddNumberToObject(ans, "rejected", (double)rej);
                return r;
        }
        if (!strcmp(op, "todevice")) {
                struct gv_crypto_todevice td;

                r = gv_crypto_todevice_in(c, gv_js_get(req, "event"), &td);
                if (!r) {
                        cJSON_AddStringToObject(ans, "kind", kind_name(td.kind));
                        if (td.type)
                                cJSON_AddStringToObject(ans, "type", td.type);
                        if (td.room_id)
                                cJSON_AddStringToObject(ans, "room_id", td.room_id);
                        if (td.session_id)
                                cJSON_AddStringToObject(ans, "session_id", td.session_id);
                        if (td.plaintext)
                                cJSON_AddItemToObject(ans, "plaintext",
                                                      cJSON_Duplicate(td.plaintext, 1));
                }
                gv_crypto_todevice_clear(&td);
                return r;
        }
        if (!strcmp(op, "room_decrypt")) {
                struct gv_crypto_decrypted d;

                r = gv_crypto_room_decrypt(c, gv_js_str(req, "room"), gv_js_get(req, "event"), &d);
                if (!r) {
                        cJSON_AddItemToObject(ans, "payload", cJSON_Duplicate(d.payload, 1));
                        cJSON_AddNumberToObject(ans, "index", d.index);
                        cJSON_AddBoolToObject(ans, "verified", d.key_verified);
                }
                gv_crypto_decrypted_clear(&d);
                return r;
        }
        if (!strcmp(op, "olm_encrypt")) {
                cJSON *e = NULL;

                r = gv_crypto_olm_encrypt(c, gv_js_str(req, "user"), gv_js_str(req, "device"),
                                          gv_js_obj(req, "otk"), gv_js_str(req, "type"),
                                          gv_js_obj(req, "content"), &e);
                if (!r)
                        cJSON_AddItemToObject(ans, "content", e);
                return r;
        }
        if (!strcmp(op, "room_prepare"))
                return gv_crypto_room_prepare(c, gv_js_str(req, "room"), gv_js_obj(req, "settings"),
                                              gv_js_uint(req, "now", 0));
        if (!strcmp(op, "share")) {
                size_t n = 0, missing = 0, skipped = 0;
                const char *const *m = str_array(gv_js_arr(req, "members"), &n);
                cJSON *claim = NULL, *body = NULL;

                if (!m)
                        return GV_ENOMEM;
                r = gv_crypto_room_share_needed(c, gv_js_str(req, "room"), m, n, &claim, &missing);
                if (!r)
                        r = gv_crypto_room_share(c, gv_js_str(req, "room"), m, n,
                                                 gv_js_obj(req, "claim"), &body, &skipped);
                if (!r) {
                        cJSON_AddItemToObject(ans, "claim_needed",
                                              claim ? claim : cJSON_CreateNull());
                        claim = NULL;
                        cJSON_AddItemToObject(ans, "body", body ? body : cJSON_CreateNull());
                        body = NULL;
                        cJSON_AddNumberToObject(ans, "missing", (double)missing);
                        cJSON_AddNumberToObject(ans, "skipped", (double)skipped);
                }
                cJSON_Delete(claim);
                cJSON_Delete(body);
                free((void *)m);
                return r;
        }
        if (!strcmp(op, "shared"))
                return gv_crypto_room_shared(c, gv_js_str(req, "room"), gv_js_obj(req, "body"));
        if (!strcmp(op, "room_encrypt")) {
                cJSON *e = NULL;

                r = gv_crypto_room_encrypt(c, gv_js_str(req, "room"), gv_js_str(req, "type"),
                                           gv_js_obj(req, "content"), &e);
                if (!r)
                        cJSON_AddItemToObject(ans, "content", e);
                return r;
        }
        return GV_EINVAL;
}

int main(void)
{
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        while ((n = getline(&line, &cap, stdin)) > 0) {
                cJSON *req = cJSON_ParseWithLength(line, (size_t)n), *ans = cJSON_CreateObject();
                enum gv_err r = run(req, ans);
                char *out;

                cJSON_AddBoolToObject(ans, "ok", r == GV_OK);
                if (r) {
                        cJSON_AddStringToObject(ans, "error", gv_strerror(r));
                        cJSON_AddStringToObject(ans, "message", gv_crypto_errmsg(c));
                }
                out = cJSON_PrintUnformatted(ans);
                printf("%s\n", out ? out : "{\"ok\":false}");
                fflush(stdout);
                free(out);
                cJSON_Delete(req);
                cJSON_Delete(ans);
        }
        free(line);
        gv_crypto_free(c);
        gv_store_free(st);
        return 0;
}
