/* tests/fuzz/fuzz-crypto.c - hostile to-device and encrypted-event JSON
 * through bridge/crypto's decrypt paths. Two devices are set up once (an Olm
 * session and a shared Megolm session between them); each input is
 *   1. parsed as JSON and fed as it is to to-device decryption, room event
 *      decryption, /keys/query ingestion, signature checks and canonical JSON;
 *   2. merged (when an object) into a genuine Megolm event and a genuine Olm
 *      to-device event, its keys replacing theirs (forged sender keys,
 *      session IDs, ciphertext types...);
 *   3. used as (position, byte) pairs to corrupt the genuine ciphertexts.
 * Nothing may crash, leak or read out of bounds; a success must carry its
 * results. */
#include <stdlib.h>
#include <string.h>

#include "../../bridge/crypto.h"
#include "../../store/store.h"
#include "../../util/json.h"
#include "fuzz.h"

static const char KEY[] = "fuzzing pickle key, not a secret";

static struct gv_store *st_a, *st_b;
static struct gv_crypto *a, *b;
static cJSON *megolm_ev, *olm_ev;       /* genuine events, alice -> bob */
static int ready = -1;

static void cleanup(void)
{
        cJSON_Delete(megolm_ev);
        cJSON_Delete(olm_ev);
        gv_crypto_free(a);
        gv_crypto_free(b);
        gv_store_free(st_a);
        gv_store_free(st_b);
}

static cJSON *wrap(const char *sender, const cJSON *content, const char *event_id)
{
        cJSON *ev = cJSON_CreateObject();

        cJSON_AddStringToObject(ev, "type", "m.room.encrypted");
        cJSON_AddStringToObject(ev, "sender", sender);
        if (event_id)
                cJSON_AddStringToObject(ev, "event_id", event_id);
        cJSON_AddItemToObject(ev, "content", cJSON_Duplicate(content, 1));
        return ev;
}

static int setup(void)
{
        struct gv_crypto_key_counts counts = { 0, true, false };
        cJSON *up_a = NULL, *up_b = NULL, *q = NULL, *body = NULL, *enc = NULL, *claim = NULL;
        cJSON *content = cJSON_Parse("{\"msgtype\":\"m.text\",\"body\":\"#topic fuzz\"}");
        const char *members[] = { "@b:x" };
        struct gv_crypto_todevice td;
        int ok = 0;

        if (gv_store_open(":memory:", &st_a) || gv_store_open(":memory:", &st_b) ||
            gv_crypto_open(st_a, "@a:x", "ADEV", KEY, strlen(KEY), &a) ||
            gv_crypto_open(st_b, "@b:x", "BDEV", KEY, strlen(KEY), &b) ||
            gv_crypto_keys_upload_body(a, &counts, 2, &up_a) ||
            gv_crypto_keys_upload_body(b, &counts, 2, &up_b))
                goto out;
        q = cJSON_CreateObject();
        {
                cJSON *dk = cJSON_AddObjectToObject(q, "device_keys");
                cJSON *ua = cJSON_AddObjectToObject(dk, "@a:x");
                cJSON *ub = cJSON_AddObjectToObject(dk, "@b:x");

                cJSON_AddItemToObject(ua, "ADEV",
                                      cJSON_Duplicate(gv_js_obj(up_a, "device_keys"), 1));
                cJSON_AddItemToObject(ub, "BDEV",
                                      cJSON_Duplicate(gv_js_obj(up_b, "device_keys"), 1));
        }
        if (gv_crypto_keys_query_ingest(a, q, NULL) || gv_crypto_keys_query_ingest(b, q, NULL))
                goto out;
        claim = cJSON_CreateObject();
        {
                cJSON *otk = cJSON_AddObjectToObject(cJSON_AddObjectToObject(
                        cJSON_AddObjectToObject(claim, "one_time_keys"), "@b:x"), "BDEV");
                const cJSON *first = gv_js_obj(up_b, "one_time_keys");

                if (!first || !first->child)
                        goto out;
                cJSON_AddItemToObject(otk, first->child->string, cJSON_Duplicate(first->child, 1));
        }
        if (gv_crypto_room_prepare(a, "!r:x", NULL, 1000) ||
            gv_crypto_room_share(a, "!r:x", members, 1, claim, &body, NULL) || !body)
                goto out;
        olm_ev = wrap("@a:x", gv_js_obj(gv_js_obj(gv_js_obj(body, "messages"), "@b:x"), "BDEV"),
                      NULL);
        /* bob takes the key, so the Megolm event decrypts; olm_ev stays a pre-key message */
        if (gv_crypto_todevice_in(b, olm_ev, &td) || td.kind != GV_TD_ROOM_KEY) {
                gv_crypto_todevice_clear(&td);
                goto out;
        }
        gv_crypto_todevice_clear(&td);
        if (gv_crypto_room_encrypt(a, "!r:x", "m.room.message", content, &enc))
                goto out;
        megolm_ev = wrap("@a:x", enc, "$genuine");
        {
                /* recorded first: the index is $genuine's from now on */
                struct gv_crypto_decrypted d;

                if (gv_crypto_room_decrypt(b, "!r:x", megolm_ev, &d) == GV_OK)
                        ok = 1;
                gv_crypto_decrypted_clear(&d);
        }
out:
        cJSON_Delete(up_a);
        cJSON_Delete(up_b);
        cJSON_Delete(q);
        cJSON_Delete(body);
        cJSON_Delete(enc);
        cJSON_Delete(claim);
        cJSON_Delete(content);
        atexit(cleanup);
        return ok;
}

static void feed(const cJSON *ev, const char *room)
{
        struct gv_crypto_todevice td;
        struct gv_crypto_decrypted d;

        if (gv_crypto_todevice_in(b, ev, &td) == GV_OK) {
                if ((td.kind == GV_TD_ROOM_KEY && (!td.room_id || !td.session_id)) ||
                    (td.kind == GV_TD_DECRYPTED && !td.plaintext))
                        __builtin_trap();
        }
        gv_crypto_todevice_clear(&td);
        if (gv_crypto_room_decrypt(b, room, ev, &d) == GV_OK) {
                if (!d.payload || !d.session_id || !d.sender_key)
                        __builtin_trap();
        }
        gv_crypto_decrypted_clear(&d);
}

/* A copy of genuine with the input object's keys replacing its content's. */
static void merged(const cJSON *genuine, const cJSON *in)
{
        cJSON *ev = cJSON_Duplicate(genuine, 1);
        cJSON *ct = cJSON_GetObjectItemCaseSensitive(ev, "content");

        if (!ev || !ct)
                goto out;
        for (const cJSON *e = in->child; e; e = e->next) {
                if (!e->string)
                        continue;
                if (!strcmp(e->string, "sender") || !strcmp(e->string, "event_id") ||
                    !strcmp(e->string, "type")) {
                        cJSON_DeleteItemFromObjectCaseSensitive(ev, e->string);
                        cJSON_AddItemToObject(ev, e->string, cJSON_Duplicate(e, 1));
                        continue;
                }
                cJSON_DeleteItemFromObjectCaseSensitive(ct, e->string);
                cJSON_AddItemToObject(ct, e->string, cJSON_Duplicate(e, 1));
        }
        feed(ev, "!r:x");
out:
        cJSON_Delete(ev);
}

/* Corrupts every string under content (ciphertext bodies included) at the
 * positions the input names. */
static void corrupt_strings(cJSON *j, const uint8_t *data, size_t size)
{
        for (; j; j = j->next) {
                if (cJSON_IsString(j) && j->valuestring && j->valuestring[0]) {
                        size_t len = strlen(j->valuestring);

                        for (size_t i = 0; i + 1 < size; i += 2) {
                                char ch = (char)data[i + 1];

                                j->valuestring[data[i] % len] = ch ? ch : 'A';
                        }
                }
                corrupt_strings(j->child, data, size);
        }
}

static void corrupted(const cJSON *genuine, const uint8_t *data, size_t size)
{
        cJSON *ev = cJSON_Duplicate(genuine, 1);

        if (!ev)
                return;
        corrupt_strings(cJSON_GetObjectItemCaseSensitive(ev, "content"), data,
                        size > 16 ? 16 : size);
        feed(ev, "!r:x");
        cJSON_Delete(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        cJSON *in;

        if (ready < 0)
                ready = setup();
        if (!ready)
                __builtin_trap();       /* the setup itself must work */
        in = cJSON_ParseWithLength((const char *)data, size);
        if (in) {
                char *canon = NULL;
                enum gv_err r;

                feed(in, "!r:x");
                feed(gv_js_obj(in, "event"), gv_js_str(in, "room_id"));
                r = gv_crypto_keys_query_ingest(b, in, NULL);
                r = gv_crypto_verify_json(in, "@a:x", "ed25519:ADEV", gv_crypto_ed25519(a));
                (void)r;
                if (gv_crypto_canonical_json(in, &canon) == GV_OK && !canon)
                        __builtin_trap();
                free(canon);
                if (cJSON_IsObject(in)) {
                        merged(megolm_ev, in);
                        merged(olm_ev, in);
                }
                cJSON_Delete(in);
        }
        corrupted(megolm_ev, data, size);
        corrupted(olm_ev, data, size);
        /* the genuine event still decrypts after all that */
        {
                struct gv_crypto_decrypted d;

                if (gv_crypto_room_decrypt(b, "!r:x", megolm_ev, &d) != GV_OK)
                        __builtin_trap();
                gv_crypto_decrypted_clear(&d);
        }
        return 0;
}
