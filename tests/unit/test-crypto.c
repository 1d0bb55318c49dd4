/* tests/unit/test-crypto.c - bridge/crypto: canonical JSON; two gavel
 * devices talking to each other through the JSON the homeserver would carry:
 * signed upload bodies, /keys/query, a pre-key then normal Olm exchange, an
 * m.room_key and Megolm messages, replayed indexes, forged senders and keys,
 * tampered ciphertext, rotation, cross-signing, and a device reopened from
 * its database (and refused with the wrong pickle key). Prints "ok - name"
 * or "FAIL - name: detail" per case and "N passed, M failed"; exits 1 on a
 * failure. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../bridge/crypto.h"
#include "../../store/store.h"
#include "../../util/json.h"

static unsigned passed, failed;

__attribute__((format(printf, 3, 4)))
static void check(bool ok, const char *name, const char *fmt, ...)
{
        va_list ap;

        if (ok) {
                passed++;
                printf("ok - %s\n", name);
                return;
        }
        failed++;
        printf("FAIL - %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

static bool str_eq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

static const char *nn(const char *s)
{
        return s ? s : "(null)";
}

static const char KEY_A[] = "pickle key of alice's gavel 0123";
static const char KEY_B[] = "pickle key of bob's gavel 456789";

/* ---- canonical JSON ---- */

static void test_canonical(void)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "{}", "{}" },
                { "{\"one\": 1, \"two\": \"Two\"}", "{\"one\":1,\"two\":\"Two\"}" },
                { "{\"b\": \"2\", \"a\": \"1\"}", "{\"a\":\"1\",\"b\":\"2\"}" },
                { "{\"auth\":{\"success\":true,\"mxid\":\"@john.doe:example.com\",\"profile\":"
                  "{\"display_name\":\"John Doe\",\"three_pids\":[{\"medium\":\"email\","
                  "\"address\":\"john.doe@example.org\"},{\"medium\":\"msisdn\",\"address\":"
                  "\"123456789\"}]}}}",
                  "{\"auth\":{\"mxid\":\"@john.doe:example.com\",\"profile\":{\"display_name\":"
                  "\"John Doe\",\"three_pids\":[{\"address\":\"john.doe@example.org\",\"medium\":"
                  "\"email\"},{\"address\":\"123456789\",\"medium\":\"msisdn\"}]},\"success\":true}}" },
                { "{\"a\": \"\\u65E5\\u672C\\u8A9E\"}", "{\"a\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"}" },
                { "{\"\\u672C\": 2, \"\\u65E5\": 1}", "{\"\xe6\x97\xa5\":1,\"\xe6\x9c\xac\":2}" },
                { "{\"a\": \"\\u0001\\n\\\"\\\\/\"}", "{\"a\":\"\\u0001\\n\\\"\\\\/\"}" },
                { "{\"a\": null, \"b\": [1, -2, false]}", "{\"a\":null,\"b\":[1,-2,false]}" },
                { "{\"a\": 1.5}", NULL },
                { "{\"a\": 1e300}", NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                cJSON *j = cJSON_Parse(cases[i].in);
                char *out = NULL, name[64];
                enum gv_err r = gv_crypto_canonical_json(j, &out);

                snprintf(name, sizeof(name), "canonical JSON %zu", i);
                if (cases[i].out)
                        check(r == GV_OK && str_eq(out, cases[i].out), name, "got %s %s",
                              gv_strerror(r), nn(out));
                else
                        check(r == GV_EINVAL, name, "a fraction or a huge number: got %s %s",
                              gv_strerror(r), nn(out));
                free(out);
                cJSON_Delete(j);
        }
}

/* ---- helpers for two devices ---- */

struct dev {
        const char *user, *device;
        const char *key;
        struct gv_store *st;
        struct gv_crypto *c;
        cJSON *upload;          /* the last /keys/upload body */
};

static bool dev_open(struct dev *d, const char *path)
{
        enum gv_err r;

        if (!d->st) {
                r = gv_store_open(path, &d->st);
                if (r)
                        return false;
        }
        r = gv_crypto_open(d->st, d->user, d->device, d->key, strlen(d->key), &d->c);
        if (r)
                printf("# open %s: %s: %s\n", d->user, gv_strerror(r), gv_crypto_errmsg(NULL));
        return r == GV_OK;
}

static void dev_close(struct dev *d)
{
        d->c = gv_crypto_free(d->c);
        d->st = gv_store_free(d->st);
        cJSON_Delete(d->upload);
        d->upload = NULL;
}

/* A /keys/query response with the device_keys of every dev given. */
static cJSON *query_response(struct dev **devs, size_t n)
{
        cJSON *resp = cJSON_CreateObject(), *dk = cJSON_AddObjectToObject(resp, "device_keys");

        for (size_t i = 0; i < n; i++) {
                const cJSON *k = gv_js_obj(devs[i]->upload, "device_keys");
                cJSON *u = cJSON_GetObjectItemCaseSensitive(dk, devs[i]->user);

                if (!u)
                        u = cJSON_AddObjectToObject(dk, devs[i]->user);
                if (k)
                        cJSON_AddItemToObject(u, devs[i]->device, cJSON_Duplicate(k, 1));
        }
        return resp;
}

/* A /keys/claim response giving one of to's uploaded one-time keys. */
static cJSON *claim_response(struct dev *to, int which)
{
        const cJSON *otks = gv_js_obj(to->upload, "one_time_keys");
        cJSON *resp = cJSON_CreateObject(), *ok = cJSON_AddObjectToObject(resp, "one_time_keys");
        cJSON *u = cJSON_AddObjectToObject(ok, to->user), *d = cJSON_AddObjectToObject(u, to->device);
        const cJSON *e = otks ? otks->child : NULL;

        for (int i = 0; e && i < which; i++)
                e = e->next;
        if (e)
                cJSON_AddItemToObject(d, e->string, cJSON_Duplicate(e, 1));
        return resp;
}

/* Wraps content as a to-device event from sender. */
static cJSON *todevice(const char *type, const char *sender, const cJSON *content)
{
        cJSON *ev = cJSON_CreateObject();

        cJSON_AddStringToObject(ev, "type", type);
        cJSON_AddStringToObject(ev, "sender", sender);
        cJSON_AddItemToObject(ev, "content", cJSON_Duplicate(content, 1));
        return ev;
}

static cJSON *room_event(const char *event_id, const char *sender, const cJSON *content)
{
        cJSON *ev = todevice("m.room.encrypted", sender, content);

        cJSON_AddStringToObject(ev, "event_id", event_id);
        return ev;
}

static cJSON *text_content(const char *body)
{
        cJSON *c = cJSON_CreateObject();

        cJSON_AddStringToObject(c, "msgtype", "m.text");
        cJSON_AddStringToObject(c, "body", body);
        return c;
}

/* Decrypts event as room !r:x on d; the body or NULL (static buffer). */
static const char *room_body(struct dev *d, const cJSON *ev, enum gv_err *r, bool *verified)
{
        static char body[256];
        struct gv_crypto_decrypted out;

        *r = gv_crypto_room_decrypt(d->c, "!r:x", ev, &out);
        if (*r)
                return NULL;
        snprintf(body, sizeof(body), "%s", nn(gv_js_str(gv_js_obj(out.payload, "content"), "body")));
        if (verified)
                *verified = out.key_verified;
        gv_crypto_decrypted_clear(&out);
        return body;
}

static size_t count(const cJSON *o)
{
        size_t n = 0;

        for (const cJSON *e = o ? o->child : NULL; e; e = e->next)
                n++;
        return n;
}

static bool all_signed(const cJSON *obj, const char *user, const char *device, const char *ed)
{
        char kid[128];

        snprintf(kid, sizeof(kid), "ed25519:%s", device);
        for (const cJSON *e = obj ? obj->child : NULL; e; e = e->next)
                if (gv_crypto_verify_json(e, user, kid, ed) != GV_OK)
                        return false;
        return obj != NULL;
}

static int count_dev(void *ud, const struct gv_crypto_device *d)
{
        (void)d;
        (*(int *)ud)++;
        return 0;
}

/* ---- the conversation ---- */

static void test_two_devices(const char *dir)
{
        struct dev a = { "@gavel:x", "GAVELDEV", KEY_A, NULL, NULL, NULL };
        struct dev b = { "@bob:x", "BOBDEV", KEY_B, NULL, NULL, NULL };
        struct dev m = { "@mallory:x", "MALDEV", KEY_B, NULL, NULL, NULL };
        struct dev f = { "@mallory:x", "FORGED", KEY_B, NULL, NULL, NULL };
        struct gv_crypto_key_counts counts = { 0, true, false };
        struct gv_crypto_todevice td;
        char path_b[512], kid[128];
        cJSON *q, *claim, *enc, *ev, *content, *again, *body;
        const char *members[] = { "@gavel:x", "@bob:x" };
        size_t rejected = 99, missing = 99, skipped = 99;
        enum gv_err r;
        const char *s;
        bool verified = false;
        int n;

        snprintf(path_b, sizeof(path_b), "%s/bob.db", dir);
        check(dev_open(&a, ":memory:") && dev_open(&b, path_b) && dev_open(&m, ":memory:") &&
              dev_open(&f, ":memory:"), "open four devices", "see above");
        if (!a.c || !b.c || !m.c || !f.c)
                goto out;
        check(strlen(gv_crypto_curve25519(a.c)) == 43 && strlen(gv_crypto_ed25519(a.c)) == 43 &&
              !str_eq(gv_crypto_curve25519(a.c), gv_crypto_curve25519(b.c)),
              "identity keys are unpadded base64", "curve %s", gv_crypto_curve25519(a.c));

        /* uploads */
        r = gv_crypto_keys_upload_body(a.c, &counts, 10, &a.upload);
        snprintf(kid, sizeof(kid), "ed25519:%s", a.device);
        check(r == GV_OK && a.upload &&
              gv_crypto_verify_json(gv_js_obj(a.upload, "device_keys"), a.user, kid,
                                    gv_crypto_ed25519(a.c)) == GV_OK,
              "upload: device_keys signed and verifiable", "%s", gv_strerror(r));
        check(count(gv_js_obj(a.upload, "one_time_keys")) == 10 &&
              all_signed(gv_js_obj(a.upload, "one_time_keys"), a.user, a.device,
                         gv_crypto_ed25519(a.c)),
              "upload: 10 signed one-time keys", "got %zu", count(gv_js_obj(a.upload, "one_time_keys")));
        check(count(gv_js_obj(a.upload, "fallback_keys")) == 1 &&
              all_signed(gv_js_obj(a.upload, "fallback_keys"), a.user, a.device,
                         gv_crypto_ed25519(a.c)) &&
              cJSON_IsTrue(gv_js_get(gv_js_obj(a.upload, "fallback_keys")->child, "fallback")),
              "upload: a signed fallback key", "got %zu", count(gv_js_obj(a.upload, "fallback_keys")));
        {
                cJSON *tampered = cJSON_Duplicate(gv_js_obj(a.upload, "device_keys"), 1);

                cJSON_ReplaceItemInObject(tampered, "user_id", cJSON_CreateString("@eve:x"));
                check(gv_crypto_verify_json(tampered, a.user, kid, gv_crypto_ed25519(a.c)) == GV_EPERM,
                      "a changed signed object does not verify", "it did");
                cJSON_Delete(tampered);
        }
        {
                cJSON *again2 = NULL;

                r = gv_crypto_keys_upload_body(a.c, &counts, 10, &again2);
                check(r == GV_OK && again2 && count(gv_js_obj(again2, "one_time_keys")) == 10 &&
                      str_eq(gv_js_obj(again2, "one_time_keys")->child->string,
                             gv_js_obj(a.upload, "one_time_keys")->child->string),
                      "upload: asked again before the 200, the same keys", "%s", gv_strerror(r));
                cJSON_Delete(again2);
                r = gv_crypto_keys_uploaded(a.c);
                counts.signed_curve25519 = 10;
                counts.fallback_unused = true;
                again2 = NULL;
                if (!r)
                        r = gv_crypto_keys_upload_body(a.c, &counts, 10, &again2);
                check(r == GV_OK && !again2, "upload: published and topped up, nothing to send",
                      "%s %s", gv_strerror(r), again2 ? "a body" : "");
                cJSON_Delete(again2);
                counts.signed_curve25519 = 7;
                counts.fallback_unused = false;
                again2 = NULL;
                r = gv_crypto_keys_upload_body(a.c, &counts, 10, &again2);
                check(r == GV_OK && again2 && !gv_js_obj(again2, "device_keys") &&
                      count(gv_js_obj(again2, "one_time_keys")) == 3 &&
                      count(gv_js_obj(again2, "fallback_keys")) == 1,
                      "upload: 3 used, the fallback used: 3 new keys and a new fallback",
                      "%s %zu", gv_strerror(r), count(gv_js_obj(again2, "one_time_keys")));
                cJSON_Delete(again2);
                counts.signed_curve25519 = 0;
                counts.fallback_unused = false;
        }
        r = gv_crypto_keys_upload_body(b.c, &counts, 5, &b.upload);
        if (!r)
                r = gv_crypto_keys_uploaded(b.c);
        check(r == GV_OK, "bob uploads", "%s", gv_strerror(r));
        r = gv_crypto_keys_upload_body(m.c, &counts, 5, &m.upload);
        if (!r)
                r = gv_crypto_keys_upload_body(f.c, &counts, 5, &f.upload);
        check(r == GV_OK, "mallory's two devices upload", "%s", gv_strerror(r));

        /* devices */
        {
                struct dev *all[] = { &a, &b, &m };
                const char *users[] = { "@gavel:x", "@bob:x", "@mallory:x" };
                cJSON *qb = NULL;

                r = gv_crypto_users_outdated(a.c, users, 3);
                if (!r)
                        r = gv_crypto_keys_query_body(a.c, &qb);
                check(r == GV_OK && qb && count(gv_js_obj(qb, "device_keys")) == 3,
                      "keys/query body names the outdated users", "%s", gv_strerror(r));
                cJSON_Delete(qb);
                q = query_response(all, 3);
                r = gv_crypto_keys_query_ingest(a.c, q, &rejected);
                check(r == GV_OK && rejected == 0, "alice ingests /keys/query", "%s rejected %zu",
                      gv_strerror(r), rejected);
                qb = NULL;
                r = gv_crypto_keys_query_body(a.c, &qb);
                check(r == GV_OK && !qb, "nobody outdated after the query", "%s", gv_strerror(r));
                cJSON_Delete(qb);
                r = gv_crypto_keys_query_ingest(b.c, q, &rejected);
                check(r == GV_OK && rejected == 0, "bob ingests /keys/query", "%s rejected %zu",
                      gv_strerror(r), rejected);
                cJSON_Delete(q);
        }
        {
                /* forged: mallory's FORGED device claims bob's ID but is signed by another key */
                struct dev *one[] = { &f };
                cJSON *dk;

                q = query_response(one, 1);
                dk = cJSON_DetachItemFromObjectCaseSensitive(gv_js_obj(q, "device_keys")->child,
                                                             "FORGED");
                cJSON_ReplaceItemInObject(dk, "user_id", cJSON_CreateString("@bob:x"));
                cJSON_Delete(q);
                q = cJSON_Parse("{\"device_keys\":{\"@bob:x\":{}}}");
                cJSON_AddItemToObject(cJSON_GetObjectItem(gv_js_obj(q, "device_keys"), "@bob:x"),
                                      "FORGED", dk);
                cJSON_AddItemToObject(cJSON_GetObjectItem(gv_js_obj(q, "device_keys"), "@bob:x"),
                                      "BOBDEV", cJSON_Duplicate(gv_js_obj(b.upload, "device_keys"), 1));
                r = gv_crypto_keys_query_ingest(a.c, q, &rejected);
                check(r == GV_OK && rejected == 1, "a device whose user_id does not match its "
                      "key is refused", "%s rejected %zu", gv_strerror(r), rejected);
                cJSON_Delete(q);
                /* a known device with another ed25519 key, properly self-signed */
                q = cJSON_Parse("{\"device_keys\":{\"@mallory:x\":{}}}");
                dk = cJSON_Duplicate(gv_js_obj(f.upload, "device_keys"), 1);
                cJSON_ReplaceItemInObject(dk, "device_id", cJSON_CreateString("MALDEV"));
                {
                        cJSON *keys = cJSON_GetObjectItem(dk, "keys");
                        char *ck = strdup(gv_js_str(keys, "curve25519:FORGED"));
                        char *ek = strdup(gv_js_str(keys, "ed25519:FORGED"));

                        cJSON_DeleteItemFromObject(dk, "keys");
                        cJSON_DeleteItemFromObject(dk, "signatures");
                        keys = cJSON_AddObjectToObject(dk, "keys");
                        cJSON_AddStringToObject(keys, "curve25519:MALDEV", ck);
                        cJSON_AddStringToObject(keys, "ed25519:MALDEV", ek);
                        free(ck);
                        free(ek);
                }
                /* FORGED's account signs it, under the MALDEV key ID */
                {
                        cJSON *sig = cJSON_CreateObject();
                        const char *v;

                        if (gv_crypto_sign_json(f.c, dk) != GV_OK)
                                printf("# signing failed\n");
                        v = gv_js_str(gv_js_obj(gv_js_obj(dk, "signatures"), "@mallory:x"),
                                      "ed25519:FORGED");
                        cJSON_AddStringToObject(sig, "ed25519:MALDEV", v ? v : "");
                        cJSON_DeleteItemFromObject(dk, "signatures");
                        cJSON_AddItemToObject(cJSON_AddObjectToObject(dk, "signatures"),
                                              "@mallory:x", sig);
                }
                cJSON_AddItemToObject(cJSON_GetObjectItem(gv_js_obj(q, "device_keys"), "@mallory:x"),
                                      "MALDEV", dk);
                r = gv_crypto_keys_query_ingest(a.c, q, &rejected);
                check(r == GV_OK && rejected == 1, "a known device's changed ed25519 key is refused",
                      "%s rejected %zu", gv_strerror(r), rejected);
                cJSON_Delete(q);
                n = 0;
                r = gv_crypto_devices(a.c, "@mallory:x", count_dev, &n);
                check(r == GV_OK && n == 1, "the old device stays", "%s %d", gv_strerror(r), n);
        }

        /* Olm: pre-key alice -> bob, normal bob -> alice, normal alice -> bob */
        claim = claim_response(&b, 0);
        content = text_content("hello over Olm");
        enc = NULL;
        r = gv_crypto_olm_encrypt(a.c, b.user, b.device,
                                  gv_js_obj(gv_js_obj(gv_js_obj(claim, "one_time_keys"), b.user),
                                            b.device),
                                  "org.gavel.test", content, &enc);
        check(r == GV_OK && enc, "alice encrypts to bob with a claimed one-time key", "%s: %s",
              gv_strerror(r), gv_crypto_errmsg(a.c));
        ev = todevice("m.room.encrypted", a.user, enc);
        r = gv_crypto_todevice_in(b.c, ev, &td);
        check(r == GV_OK && td.kind == GV_TD_DECRYPTED && str_eq(td.type, "org.gavel.test") &&
              str_eq(gv_js_str(gv_js_obj(td.plaintext, "content"), "body"), "hello over Olm") &&
              str_eq(td.sender_key, gv_crypto_curve25519(a.c)),
              "bob decrypts the pre-key message", "%s: %s", gv_strerror(r), gv_crypto_errmsg(b.c));
        gv_crypto_todevice_clear(&td);
        r = gv_crypto_todevice_in(b.c, ev, &td);
        check(r != GV_OK, "the same Olm message again is refused", "decrypted twice");
        gv_crypto_todevice_clear(&td);
        cJSON_Delete(ev);
        cJSON_Delete(enc);
        cJSON_Delete(claim);
        {
                cJSON *bad = cJSON_Duplicate(gv_js_obj(b.upload, "one_time_keys"), 1);
                cJSON *k = bad->child->next;

                cJSON_ReplaceItemInObject(k, "key", cJSON_CreateString(gv_js_str(bad->child, "key")));
                enc = NULL;
                r = gv_crypto_olm_encrypt(m.c, b.user, b.device, bad, "x", content, &enc);
                check(r != GV_OK && !enc, "a one-time key with a bad signature is refused", "%s",
                      gv_strerror(r));
                cJSON_Delete(bad);
        }
        enc = NULL;
        r = gv_crypto_olm_encrypt(b.c, a.user, a.device, NULL, "org.gavel.test", content, &enc);
        check(r == GV_OK && enc &&
              gv_js_uint(gv_js_obj(gv_js_obj(enc, "ciphertext"), gv_crypto_curve25519(a.c)), "type", 9) == 1,
              "bob answers on the same session (a normal message)", "%s", gv_strerror(r));
        ev = todevice("m.room.encrypted", b.user, enc);
        r = gv_crypto_todevice_in(a.c, ev, &td);
        check(r == GV_OK && td.kind == GV_TD_DECRYPTED, "alice decrypts bob's normal message",
              "%s: %s", gv_strerror(r), gv_crypto_errmsg(a.c));
        gv_crypto_todevice_clear(&td);
        cJSON_Delete(ev);
        /* the same message, claimed by another sender: refused */
        ev = todevice("m.room.encrypted", "@mallory:x", enc);
        r = gv_crypto_todevice_in(a.c, ev, &td);
        check(r != GV_OK, "an Olm message from a sender other than the plaintext's is refused",
              "%s", gv_strerror(r));
        gv_crypto_todevice_clear(&td);
        cJSON_Delete(ev);
        cJSON_Delete(enc);

        /* tampered Olm ciphertext */
        enc = NULL;
        r = gv_crypto_olm_encrypt(a.c, b.user, b.device, NULL, "org.gavel.test", content, &enc);
        if (enc) {
                cJSON *msg = cJSON_GetObjectItem(cJSON_GetObjectItem(enc, "ciphertext"),
                                                 gv_crypto_curve25519(b.c));
                char *t = strdup(gv_js_str(msg, "body"));

                t[strlen(t) / 2] = t[strlen(t) / 2] == 'A' ? 'B' : 'A';
                cJSON_ReplaceItemInObject(msg, "body", cJSON_CreateString(t));
                free(t);
        }
        ev = todevice("m.room.encrypted", a.user, enc);
        r = gv_crypto_todevice_in(b.c, ev, &td);
        check(r != GV_OK, "tampered Olm ciphertext is refused", "%s", gv_strerror(r));
        gv_crypto_todevice_clear(&td);
        cJSON_Delete(ev);
        cJSON_Delete(enc);

        /* Megolm */
        {
                cJSON *settings = cJSON_Parse("{\"algorithm\":\"m.megolm.v1.aes-sha2\"}");

                r = gv_crypto_room_prepare(a.c, "!r:x", settings, 1000);
                cJSON_Delete(settings);
        }
        claim = NULL;
        if (!r)
                r = gv_crypto_room_share_needed(a.c, "!r:x", members, 2, &claim, &missing);
        check(r == GV_OK && !claim && missing == 1, "bob's device needs the room key, no claim "
              "(an Olm session exists)", "%s missing %zu", gv_strerror(r), missing);
        cJSON_Delete(claim);
        body = NULL;
        r = gv_crypto_room_share(a.c, "!r:x", members, 2, NULL, &body, &skipped);
        check(r == GV_OK && body && skipped == 0 &&
              gv_js_obj(gv_js_obj(gv_js_obj(body, "messages"), b.user), b.device),
              "alice builds the sendToDevice body", "%s: %s", gv_strerror(r), gv_crypto_errmsg(a.c));
        ev = todevice("m.room.encrypted", a.user,
                      gv_js_obj(gv_js_obj(gv_js_obj(body, "messages"), b.user), b.device));
        r = gv_crypto_todevice_in(b.c, ev, &td);
        check(r == GV_OK && td.kind == GV_TD_ROOM_KEY && str_eq(td.room_id, "!r:x") && td.session_id,
              "bob stores the m.room_key", "%s: %s", gv_strerror(r), gv_crypto_errmsg(b.c));
        gv_crypto_todevice_clear(&td);
        cJSON_Delete(ev);
        r = gv_crypto_room_shared(a.c, "!r:x", body);
        cJSON_Delete(body);
        missing = 99;
        if (!r)
                r = gv_crypto_room_share_needed(a.c, "!r:x", members, 2, &claim, &missing);
        check(r == GV_OK && missing == 0, "after the share nobody needs the key", "%s %zu",
              gv_strerror(r), missing);

        cJSON_Delete(content);
        content = text_content("#topic encrypted agenda");
        enc = NULL;
        r = gv_crypto_room_encrypt(a.c, "!r:x", "m.room.message", content, &enc);
        check(r == GV_OK && enc && str_eq(gv_js_str(enc, "algorithm"), GV_CRYPTO_MEGOLM),
              "alice encrypts a room message", "%s", gv_strerror(r));
        ev = room_event("$one", a.user, enc);
        s = room_body(&b, ev, &r, &verified);
        check(str_eq(s, "#topic encrypted agenda") && verified, "bob decrypts it, key verified",
              "%s: %s %s", gv_strerror(r), gv_crypto_errmsg(b.c), nn(s));
        s = room_body(&a, ev, &r, NULL);
        check(str_eq(s, "#topic encrypted agenda"), "alice decrypts her own message", "%s: %s",
              gv_strerror(r), gv_crypto_errmsg(a.c));
        s = room_body(&b, ev, &r, NULL);
        check(r == GV_OK && str_eq(s, "#topic encrypted agenda"),
              "the same event ID again is fine", "%s", gv_strerror(r));
        again = room_event("$two", a.user, enc);
        s = room_body(&b, again, &r, NULL);
        check(r == GV_EPERM && !s, "the same index under another event ID is refused", "%s",
              gv_strerror(r));
        cJSON_Delete(again);
        {
                struct gv_crypto_decrypted out;

                r = gv_crypto_room_decrypt(b.c, "!other:x", ev, &out);
                check(r == GV_ENOTFOUND, "the event in another room has no session", "%s",
                      gv_strerror(r));
                gv_crypto_decrypted_clear(&out);
        }
        cJSON_Delete(ev);
        /* a forged sender key: the session under another device's key */
        {
                cJSON *forged = cJSON_Duplicate(enc, 1);

                cJSON_ReplaceItemInObject(forged, "sender_key",
                                          cJSON_CreateString(gv_crypto_curve25519(m.c)));
                ev = room_event("$three", a.user, forged);
                s = room_body(&b, ev, &r, NULL);
                check(r == GV_ENOTFOUND && !s, "a Megolm event with a forged sender_key finds no "
                      "session", "%s", gv_strerror(r));
                cJSON_Delete(ev);
                cJSON_Delete(forged);
        }
        /* tampered ciphertext */
        {
                cJSON *t = cJSON_Duplicate(enc, 1);
                char *c2 = strdup(gv_js_str(t, "ciphertext"));

                c2[20] = c2[20] == 'A' ? 'B' : 'A';
                cJSON_ReplaceItemInObject(t, "ciphertext", cJSON_CreateString(c2));
                ev = room_event("$four", a.user, t);
                s = room_body(&b, ev, &r, NULL);
                check(r == GV_ECRYPTO && !s, "tampered Megolm ciphertext is refused", "%s",
                      gv_strerror(r));
                cJSON_Delete(ev);
                cJSON_ReplaceItemInObject(t, "ciphertext", cJSON_CreateString("not base64 !!"));
                ev = room_event("$five", a.user, t);
                s = room_body(&b, ev, &r, NULL);
                check(r == GV_ECRYPTO && !s, "garbage Megolm ciphertext is refused", "%s",
                      gv_strerror(r));
                cJSON_Delete(ev);
                cJSON_Delete(t);
                free(c2);
        }
        cJSON_Delete(enc);

        /* mallory's m.room_key under a curve25519 key that bob knows with another ed25519 */
        {
                struct dev *one[] = { &a };
                cJSON *dk, *keys;

                /* bob learns a device of mallory with mallory's curve but FORGED's ed, self-signed */
                q = query_response(one, 1);
                cJSON_Delete(q);
                dk = cJSON_CreateObject();
                cJSON_AddStringToObject(dk, "user_id", "@mallory:x");
                cJSON_AddStringToObject(dk, "device_id", "FORGED");
                keys = cJSON_AddObjectToObject(dk, "keys");
                cJSON_AddStringToObject(keys, "curve25519:FORGED", gv_crypto_curve25519(m.c));
                cJSON_AddStringToObject(keys, "ed25519:FORGED", gv_crypto_ed25519(f.c));
                if (gv_crypto_sign_json(f.c, dk) != GV_OK)
                        printf("# signing failed\n");
                q = cJSON_Parse("{\"device_keys\":{\"@mallory:x\":{}}}");
                cJSON_AddItemToObject(cJSON_GetObjectItem(gv_js_obj(q, "device_keys"), "@mallory:x"),
                                      "FORGED", dk);
                r = gv_crypto_keys_query_ingest(b.c, q, &rejected);
                cJSON_Delete(q);
                check(r == GV_OK && rejected == 0, "bob learns a device with mallory's curve25519",
                      "%s %zu", gv_strerror(r), rejected);
                r = gv_crypto_room_prepare(m.c, "!r:x", NULL, 1000);
                {
                        struct dev *bb[] = { &b };
                        const char *mb[] = { "@bob:x" };

                        q = query_response(bb, 1);
                        if (!r)
                                r = gv_crypto_keys_query_ingest(m.c, q, NULL);
                        cJSON_Delete(q);
                        claim = claim_response(&b, 1);
                        body = NULL;
                        if (!r)
                                r = gv_crypto_room_share(m.c, "!r:x", mb, 1, claim, &body, NULL);
                        cJSON_Delete(claim);
                }
                ev = todevice("m.room.encrypted", "@mallory:x",
                              gv_js_obj(gv_js_obj(gv_js_obj(body, "messages"), b.user), b.device));
                r = gv_crypto_todevice_in(b.c, ev, &td);
                check(r == GV_EPERM, "an m.room_key whose ed25519 is not the known device's is "
                      "refused", "%s: %s", gv_strerror(r), gv_crypto_errmsg(b.c));
                gv_crypto_todevice_clear(&td);
                cJSON_Delete(ev);
                cJSON_Delete(body);
        }

        /* no key yet: ask for it */
        {
                cJSON *kr = NULL, *ec = cJSON_Parse("{\"algorithm\":\"m.megolm.v1.aes-sha2\","
                                                    "\"sender_key\":\"SK\",\"session_id\":\"SID\","
                                                    "\"ciphertext\":\"x\"}");
                const cJSON *rq;

                r = gv_crypto_key_request_body(b.c, "!r:x", a.user, ec, "req1", &kr);
                rq = gv_js_obj(gv_js_obj(gv_js_obj(kr, "messages"), a.user), "*");
                check(r == GV_OK && str_eq(gv_js_str(rq, "action"), "request") &&
                      str_eq(gv_js_str(rq, "requesting_device_id"), b.device) &&
                      str_eq(gv_js_str(gv_js_obj(rq, "body"), "session_id"), "SID") &&
                      str_eq(gv_js_str(gv_js_obj(rq, "body"), "room_id"), "!r:x"),
                      "an m.room_key_request body for a missing key", "%s", gv_strerror(r));
                cJSON_Delete(kr);
                cJSON_Delete(ec);
        }
        /* a member's device with no Olm session and no claimed key is skipped */
        {
                const char *mm[] = { "@mallory:x" };

                body = NULL;
                skipped = 0;
                r = gv_crypto_room_share(a.c, "!r:x", mm, 1, NULL, &body, &skipped);
                check(r == GV_OK && !body && skipped == 1, "a device without a key to start a "
                      "session is skipped, counted", "%s %zu", gv_strerror(r), skipped);
                cJSON_Delete(body);
        }
        /* what encryption costs: Megolm encrypt + decrypt per message */
        {
                struct timespec t0, t1;
                int ok = 0;
                double us;

                clock_gettime(CLOCK_MONOTONIC, &t0);
                for (int i = 0; i < 200; i++) {
                        char eid[32];

                        enc = NULL;
                        r = gv_crypto_room_encrypt(a.c, "!r:x", "m.room.message", content, &enc);
                        snprintf(eid, sizeof(eid), "$bench%d", i);
                        ev = room_event(eid, a.user, enc);
                        s = room_body(&b, ev, &r, NULL);
                        ok += s != NULL;
                        cJSON_Delete(ev);
                        cJSON_Delete(enc);
                }
                clock_gettime(CLOCK_MONOTONIC, &t1);
                us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / 200;
                printf("# Megolm encrypt + decrypt (with the store): %.0f us per message\n", us);
                check(ok == 200, "200 messages in a row decrypt", "%d", ok);
        }

        /* not ours, not encrypted */
        {
                cJSON *pc = cJSON_Parse("{\"algorithm\":\"m.olm.v1.curve25519-aes-sha2\","
                                        "\"sender_key\":\"abc\",\"ciphertext\":{\"someone else\":"
                                        "{\"type\":0,\"body\":\"AAAA\"}}}");

                ev = todevice("m.room.encrypted", a.user, pc);
                r = gv_crypto_todevice_in(b.c, ev, &td);
                check(r == GV_EPERM, "an Olm message for another device is refused", "%s",
                      gv_strerror(r));
                gv_crypto_todevice_clear(&td);
                cJSON_Delete(ev);
                ev = todevice("m.new_device", a.user, pc);
                r = gv_crypto_todevice_in(b.c, ev, &td);
                check(r == GV_OK && td.kind == GV_TD_IGNORED, "other to-device events are ignored",
                      "%s", gv_strerror(r));
                gv_crypto_todevice_clear(&td);
                cJSON_Delete(ev);
                cJSON_Delete(pc);
        }

        /* withheld */
        {
                cJSON *wc = cJSON_Parse("{\"room_id\":\"!r:x\",\"session_id\":\"S\",\"algorithm\":"
                                        "\"m.megolm.v1.aes-sha2\",\"sender_key\":\"K\",\"code\":"
                                        "\"m.unverified\",\"reason\":\"not verified\"}");

                ev = todevice("m.room_key.withheld", a.user, wc);
                r = gv_crypto_todevice_in(b.c, ev, &td);
                check(r == GV_OK && td.kind == GV_TD_WITHHELD && str_eq(td.code, "m.unverified") &&
                      str_eq(td.session_id, "S"), "m.room_key.withheld is reported", "%s",
                      gv_strerror(r));
                gv_crypto_todevice_clear(&td);
                cJSON_Delete(ev);
                cJSON_Delete(wc);
        }

        /* rotation */
        {
                cJSON *settings = cJSON_Parse("{\"algorithm\":\"m.megolm.v1.aes-sha2\","
                                              "\"rotation_period_msgs\":2,\"rotation_period_ms\":60000}");
                char sid1[128] = "", sid2[128] = "", sid3[128] = "";

                for (int i = 0; i < 3; i++) {
                        char *dst = i == 0 ? sid1 : i == 1 ? sid2 : sid3;

                        enc = NULL;
                        r = gv_crypto_room_prepare(a.c, "!rot:x", settings, 1000 + i);
                        if (!r)
                                r = gv_crypto_room_encrypt(a.c, "!rot:x", "m.room.message", content,
                                                           &enc);
                        snprintf(dst, 128, "%s", nn(gv_js_str(enc, "session_id")));
                        cJSON_Delete(enc);
                }
                check(r == GV_OK && str_eq(sid1, sid2) && !str_eq(sid2, sid3),
                      "rotation_period_msgs 2: a new session for the third message", "%s %s %s",
                      sid1, sid2, sid3);
                r = gv_crypto_room_prepare(a.c, "!rot:x", settings, 1002 + 60000);
                enc = NULL;
                if (!r)
                        r = gv_crypto_room_encrypt(a.c, "!rot:x", "m.room.message", content, &enc);
                check(r == GV_OK && !str_eq(gv_js_str(enc, "session_id"), sid3),
                      "rotation_period_ms reached: a new session", "%s", gv_strerror(r));
                snprintf(sid1, sizeof(sid1), "%s", nn(gv_js_str(enc, "session_id")));
                cJSON_Delete(enc);
                r = gv_crypto_room_rotate(a.c, "!rot:x");
                if (!r)
                        r = gv_crypto_room_prepare(a.c, "!rot:x", settings, 1002 + 60001);
                enc = NULL;
                if (!r)
                        r = gv_crypto_room_encrypt(a.c, "!rot:x", "m.room.message", content, &enc);
                check(r == GV_OK && !str_eq(gv_js_str(enc, "session_id"), sid1),
                      "rotated on demand (a member left): a new session", "%s", gv_strerror(r));
                cJSON_Delete(enc);
                cJSON_Delete(settings);
        }

        /* cross-signing */
        {
                cJSON *xb = NULL, *sb = NULL;
                char mk[128], sk[128];
                const char *master;

                r = gv_crypto_xsign_bootstrap(a.c, false);
                if (!r)
                        r = gv_crypto_xsign_upload_body(a.c, &xb);
                master = gv_crypto_xsign_master(a.c);
                snprintf(mk, sizeof(mk), "ed25519:%s", nn(master));
                check(r == GV_OK && xb && master &&
                      gv_crypto_verify_json(gv_js_obj(xb, "master_key"), a.user, kid,
                                            gv_crypto_ed25519(a.c)) == GV_OK &&
                      gv_crypto_verify_json(gv_js_obj(xb, "self_signing_key"), a.user, mk, master) == GV_OK &&
                      gv_crypto_verify_json(gv_js_obj(xb, "user_signing_key"), a.user, mk, master) == GV_OK,
                      "cross-signing: master signed by the device, the others by master", "%s: %s",
                      gv_strerror(r), gv_crypto_errmsg(a.c));
                {
                        const cJSON *ssk = gv_js_obj(gv_js_obj(xb, "self_signing_key"), "keys");
                        const char *sp = ssk && ssk->child ? ssk->child->valuestring : NULL;

                        snprintf(sk, sizeof(sk), "ed25519:%s", nn(sp));
                        r = gv_crypto_xsign_signatures_body(a.c, &sb);
                        check(r == GV_OK && sp &&
                              gv_crypto_verify_json(gv_js_obj(gv_js_obj(sb, a.user), a.device),
                                                    a.user, sk, sp) == GV_OK,
                              "cross-signing: our device signed by self-signing", "%s",
                              gv_strerror(r));
                }
                check(!gv_crypto_xsign_published(a.c) && gv_crypto_xsign_uploaded(a.c) == GV_OK &&
                      gv_crypto_xsign_published(a.c), "cross-signing: published once uploaded",
                      "no");
                cJSON_Delete(xb);
                cJSON_Delete(sb);
        }

        /* reopen bob from his database file: still decrypts */
        enc = NULL;
        r = gv_crypto_room_encrypt(a.c, "!r:x", "m.room.message", content, &enc);
        {
                char b_curve[64];

                snprintf(b_curve, sizeof(b_curve), "%s", gv_crypto_curve25519(b.c));
                b.c = gv_crypto_free(b.c);
                b.st = gv_store_free(b.st);
                check(dev_open(&b, path_b) && str_eq(gv_crypto_curve25519(b.c), b_curve),
                      "bob reopens from his database with the same identity", "no");
        }
        if (b.c) {
                ev = room_event("$six", a.user, enc);
                s = room_body(&b, ev, &r, NULL);
                check(str_eq(s, "#topic encrypted agenda"), "after reopening, a new message decrypts",
                      "%s: %s", gv_strerror(r), gv_crypto_errmsg(b.c));
                cJSON_Delete(ev);
                {
                        cJSON *e2 = NULL;

                        r = gv_crypto_olm_encrypt(a.c, b.user, b.device, NULL, "org.gavel.test",
                                                  content, &e2);
                        ev = todevice("m.room.encrypted", a.user, e2);
                        r = gv_crypto_todevice_in(b.c, ev, &td);
                        check(r == GV_OK && td.kind == GV_TD_DECRYPTED,
                              "after reopening, the Olm session still decrypts", "%s: %s",
                              gv_strerror(r), gv_crypto_errmsg(b.c));
                        gv_crypto_todevice_clear(&td);
                        cJSON_Delete(ev);
                        cJSON_Delete(e2);
                }
        }
        cJSON_Delete(enc);
        {
                struct gv_crypto *w = NULL;
                static const char wrong[] = "this is not bob's pickle key!!!";

                r = gv_crypto_open(b.st, b.user, b.device, wrong, strlen(wrong), &w);
                check(r == GV_ECRYPTO && !w && strstr(gv_crypto_errmsg(NULL), "pickle key"),
                      "the wrong pickle key is a clear error", "%s: %s", gv_strerror(r),
                      gv_crypto_errmsg(NULL));
                gv_crypto_free(w);
                r = gv_crypto_open(b.st, b.user, "OTHERDEV", KEY_B, strlen(KEY_B), &w);
                check(r == GV_EINVAL && !w && strstr(gv_crypto_errmsg(NULL), "BOBDEV"),
                      "another device ID is refused", "%s: %s", gv_strerror(r), gv_crypto_errmsg(NULL));
                gv_crypto_free(w);
                r = gv_crypto_open(b.st, b.user, b.device, "short", 5, &w);
                check(r == GV_EINVAL && !w, "a short pickle key is refused", "%s", gv_strerror(r));
                gv_crypto_free(w);
        }
        {
                bool ex = false;
                struct gv_store *empty = NULL;

                r = gv_crypto_exists(b.st, &ex);
                check(r == GV_OK && ex, "crypto state exists in bob's database", "%s", gv_strerror(r));
                if (gv_store_open(":memory:", &empty) == GV_OK) {
                        r = gv_crypto_exists(empty, &ex);
                        check(r == GV_OK && !ex, "no crypto state in a new database", "%s",
                              gv_strerror(r));
                        gv_store_free(empty);
                }
        }
        {
                /* device_lists.left */
                const char *left[] = { "@mallory:x" };

                r = gv_crypto_users_forget(a.c, left, 1);
                n = 0;
                if (!r)
                        r = gv_crypto_devices(a.c, "@mallory:x", count_dev, &n);
                check(r == GV_OK && n == 0, "a user who left is forgotten", "%s %d", gv_strerror(r), n);
        }
        /* a member left: the new session must reach everyone again */
        r = gv_crypto_room_rotate(a.c, "!r:x");
        if (!r)
                r = gv_crypto_room_prepare(a.c, "!r:x", NULL, 5000);
        claim = NULL;
        missing = 0;
        if (!r)
                r = gv_crypto_room_share_needed(a.c, "!r:x", members, 2, &claim, &missing);
        check(r == GV_OK && missing == 1 && !claim, "after a rotation bob needs the new key",
              "%s %zu", gv_strerror(r), missing);
        cJSON_Delete(claim);
        cJSON_Delete(content);
out:
        dev_close(&a);
        dev_close(&b);
        dev_close(&m);
        dev_close(&f);
}

/* ---- store/crypto.c directly ---- */

static int count_sessions(void *ud, const char *session_id, const char *pickle)
{
        char *out = ud;
        size_t used = strlen(out);

        snprintf(out + used, 64 - used, "%s%s=%s", used ? "," : "", session_id, pickle);
        return 0;
}

static void test_store(void)
{
        struct gv_store *st = NULL;
        struct gv_megolm_out o = { NULL, NULL, 0, 0 };
        char list[64] = "", *ed = NULL, *p = NULL;
        bool fresh = false, has = true;
        enum gv_err r;

        if (gv_store_open(":memory:", &st) != GV_OK) {
                check(false, "store: open", "no");
                return;
        }
        r = gv_store_megolm_seen(st, "!r", "K", "S", 3, "$a", &fresh);
        check(r == GV_OK && fresh, "store: a new index is fresh", "%s", gv_strerror(r));
        r = gv_store_megolm_seen(st, "!r", "K", "S", 3, "$a", &fresh);
        check(r == GV_OK && fresh, "store: the same index in the same event is fresh", "%s",
              gv_strerror(r));
        r = gv_store_megolm_seen(st, "!r", "K", "S", 3, "$b", &fresh);
        check(r == GV_OK && !fresh, "store: the same index in another event is not", "%s",
              gv_strerror(r));
        r = gv_store_megolm_seen(st, "!r", "K", "S2", 3, "$b", &fresh);
        check(r == GV_OK && fresh, "store: the index of another session is fresh", "%s",
              gv_strerror(r));
        r = gv_store_olm_session_set(st, "K", "s1", "p1", 10);
        if (!r)
                r = gv_store_olm_session_set(st, "K", "s2", "p2", 20);
        if (!r)
                r = gv_store_olm_session_set(st, "K", "s1", "p1b", 30);
        if (!r)
                r = gv_store_olm_sessions(st, "K", count_sessions, list);
        check(r == GV_OK && str_eq(list, "s1=p1b,s2=p2"), "store: Olm sessions, latest used first",
              "%s %s", gv_strerror(r), list);
        r = gv_store_megolm_in_get(st, "!r", "K", "S", &ed, &p);
        check(r == GV_ENOTFOUND, "store: no inbound session yet", "%s", gv_strerror(r));
        r = gv_store_megolm_in_set(st, "!r", "K", "S", "E", "P");
        if (!r)
                r = gv_store_megolm_in_get(st, "!r", "K", "S", &ed, &p);
        check(r == GV_OK && str_eq(ed, "E") && str_eq(p, "P"), "store: an inbound session", "%s",
              gv_strerror(r));
        free(ed);
        free(p);
        o.session_id = strdup("OS");
        o.pickle = strdup("OP");
        o.created = 5;
        o.messages = 2;
        r = gv_store_megolm_out_set(st, "!r", &o);
        gv_megolm_out_clear(&o);
        if (!r)
                r = gv_store_megolm_shared_add(st, "!r", "OS", "@u", "D");
        if (!r)
                r = gv_store_megolm_shared_has(st, "!r", "OS", "@u", "D", &has);
        check(r == GV_OK && has, "store: who got the outbound key", "%s", gv_strerror(r));
        if (!r)
                r = gv_store_megolm_out_get(st, "!r", &o);
        check(r == GV_OK && str_eq(o.session_id, "OS") && o.created == 5 && o.messages == 2,
              "store: the outbound session", "%s", gv_strerror(r));
        gv_megolm_out_clear(&o);
        r = gv_store_megolm_out_del(st, "!r");
        if (!r)
                r = gv_store_megolm_shared_has(st, "!r", "OS", "@u", "D", &has);
        check(r == GV_OK && !has && gv_store_megolm_out_get(st, "!r", &o) == GV_ENOTFOUND,
              "store: dropping the outbound session forgets who had it", "%s", gv_strerror(r));
        gv_store_free(st);
}

int main(int argc, char **argv)
{
        char dir[] = "/tmp/gavel-test-crypto-XXXXXX", path[600];

        (void)argc;
        (void)argv;
        test_canonical();
        test_store();
        if (!mkdtemp(dir)) {
                check(false, "temporary directory", "mkdtemp failed");
        } else {
                test_two_devices(dir);
                snprintf(path, sizeof(path), "%s/bob.db", dir);
                unlink(path);
                snprintf(path, sizeof(path), "%s/bob.db-wal", dir);
                unlink(path);
                snprintf(path, sizeof(path), "%s/bob.db-shm", dir);
                unlink(path);
                rmdir(dir);
        }
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}
