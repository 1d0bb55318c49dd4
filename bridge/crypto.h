/* bridge/crypto.h - end-to-end encryption for one Matrix device: the Olm
 * account, Olm sessions with other devices, Megolm sessions per room,
 * cross-signing keys and the device keys of other users. The only door to
 * libolm (nothing else includes olm.h), so the backend can become vodozemac.
 *
 * Knows Matrix's E2EE JSON shapes (/keys/upload, /keys/query, /keys/claim,
 * sendToDevice, m.room.encrypted) and persists everything through store/
 * (pickles encrypted with the caller's pickle key) as it changes, inside
 * whatever transaction the caller has open. Knows nothing about HTTP, /sync
 * or meetings: the Matrix client asks for request bodies, sends them and
 * hands the responses back.
 *
 * Every function returns an enum gv_err; on failure gv_crypto_errmsg() says
 * what failed (libolm's *_last_error() included), never with key material
 * or plaintext. Key material and plaintext are wiped after use.
 *
 * Results that callers branch on:
 *   GV_ENOTFOUND  no session (yet) for this message: wait for the key, ask for it
 *   GV_EPERM      refused: a replayed index, a forged or changed key, a message
 *                 for another device or room, a bad signature
 *   GV_ECRYPTO    libolm said no (bad MAC, corrupt ciphertext, wrong pickle key)
 *   GV_EPARSE     malformed input JSON
 *
 * How the Matrix client uses it (each step inside its sync transaction, so
 * a crash replays it):
 *   start:    gv_crypto_exists() (a missing pickle key is fatal once true),
 *             gv_crypto_open(); gv_crypto_keys_upload_body() -> POST
 *             /keys/upload -> gv_crypto_keys_uploaded(); gv_crypto_xsign_*
 *             once with the password (UIA), or say it needs it.
 *   sync:     gv_crypto_key_counts_parse(sync) -> upload body when non-NULL;
 *             device_lists.changed and new members of encrypted rooms ->
 *             gv_crypto_users_outdated(), .left -> gv_crypto_users_forget();
 *             gv_crypto_keys_query_body() -> /keys/query ->
 *             gv_crypto_keys_query_ingest(); every to_device event ->
 *             gv_crypto_todevice_in() (before the timeline); every
 *             m.room.encrypted timeline event -> gv_crypto_room_decrypt(),
 *             GV_ENOTFOUND: park it, gv_crypto_key_request_body(), retry
 *             when a GV_TD_ROOM_KEY for that session_id arrives.
 *   send:     gv_crypto_room_prepare(room, m.room.encryption content, now);
 *             gv_crypto_room_share_needed(joined members) -> /keys/claim when
 *             *claim; gv_crypto_room_share(claim response) -> PUT
 *             /sendToDevice/m.room.encrypted/{txn} -> gv_crypto_room_shared();
 *             gv_crypto_room_encrypt() -> PUT /send/m.room.encrypted/{txn}.
 *             A member left: gv_crypto_room_rotate().
 */
#ifndef GV_CRYPTO_H
#define GV_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "../util/err.h"

struct gv_store;
struct gv_crypto;       /* opaque */

#define GV_CRYPTO_OLM "m.olm.v1.curve25519-aes-sha2"
#define GV_CRYPTO_MEGOLM "m.megolm.v1.aes-sha2"
/* A pickle key shorter than this is refused. */
#define GV_CRYPTO_PICKLE_KEY_MIN 16
/* Ceiling on an encrypted event's ciphertext / a plaintext, in bytes. */
#define GV_CRYPTO_MAX_CIPHERTEXT (256 * 1024)
/* Default rotation (the spec's defaults for m.room.encryption). */
#define GV_CRYPTO_ROTATE_MS_DEFAULT (7 * 24 * 3600 * 1000LL)
#define GV_CRYPTO_ROTATE_MSGS_DEFAULT 100

/* ---- the device ------------------------------------------------------- */

/* Opens the device's crypto state from store, creating the Olm account the
 * first time. The pickle key (at least GV_CRYPTO_PICKLE_KEY_MIN bytes) is
 * copied; the caller wipes its own copy. A store holding a different
 * user/device is GV_EINVAL; a wrong pickle key is GV_ECRYPTO with an errmsg
 * that says so. The store outlives the handle. */
GV_MUST_CHECK enum gv_err gv_crypto_open(struct gv_store *store, const char *user_id,
                                         const char *device_id, const void *pickle_key,
                                         size_t key_len, struct gv_crypto **ret);
/* NULL is fine; returns NULL. Wipes every secret it held. */
struct gv_crypto *gv_crypto_free(struct gv_crypto *c);
/* Whether the store holds any encryption state (an account): a missing
 * pickle key is then a start-up error. */
GV_MUST_CHECK enum gv_err gv_crypto_exists(struct gv_store *store, bool *exists);
/* What the last failure was, for the log (no secrets); "" if none. */
const char *gv_crypto_errmsg(const struct gv_crypto *c);

const char *gv_crypto_user_id(const struct gv_crypto *c);
const char *gv_crypto_device_id(const struct gv_crypto *c);
/* The device's identity keys (unpadded base64). */
const char *gv_crypto_curve25519(const struct gv_crypto *c);
const char *gv_crypto_ed25519(const struct gv_crypto *c);

/* ---- canonical JSON and signatures ------------------------------------ */

/* Matrix canonical JSON (spec appendix): keys sorted by code point, no
 * insignificant whitespace, UTF-8 (only " \ and control characters escaped),
 * integers only (a fraction or |n| > 2^53 is GV_EINVAL). Free *ret. */
GV_MUST_CHECK enum gv_err gv_crypto_canonical_json(const cJSON *obj, char **ret);
/* Signs obj (without its "signatures" and "unsigned") with the device's
 * ed25519 key: adds signatures.{user_id}.{ed25519:DEVICE}. */
GV_MUST_CHECK enum gv_err gv_crypto_sign_json(struct gv_crypto *c, cJSON *obj);
/* GV_OK when obj carries signatures.{user_id}.{key_id} ("ed25519:XYZ") and it
 * verifies against ed25519 (unpadded base64); GV_EPERM when missing or bad. */
GV_MUST_CHECK enum gv_err gv_crypto_verify_json(const cJSON *obj, const char *user_id,
                                                const char *key_id, const char *ed25519);

/* ---- /keys/upload ---------------------------------------------------- */

/* What sync (or a /keys/upload response) says the server holds. */
struct gv_crypto_key_counts {
        int64_t signed_curve25519;      /* one-time keys on the server; <0: unknown (0) */
        bool fallback_known;            /* device_unused_fallback_key_types was present */
        bool fallback_unused;           /* ... and it lists signed_curve25519 */
};

/* The /keys/upload body needed now, or *body NULL when nothing is: the
 * signed device_keys until published; signed_curve25519 one-time keys
 * topping the server up to target (0: half of what the account can hold);
 * a signed fallback key when the server holds no unused one. Calling it
 * again before gv_crypto_keys_uploaded() gives the same keys (plus any
 * needed since). Free *body with cJSON_Delete. */
GV_MUST_CHECK enum gv_err gv_crypto_keys_upload_body(struct gv_crypto *c,
                                                     const struct gv_crypto_key_counts *counts,
                                                     size_t target, cJSON **body);
/* After the server said 200 to the body: those keys are published. */
GV_MUST_CHECK enum gv_err gv_crypto_keys_uploaded(struct gv_crypto *c);
/* Reads one_time_key_counts/device_unused_fallback_key_types from a sync
 * response's top level or a /keys/upload response into *out. */
void gv_crypto_key_counts_parse(const cJSON *obj, struct gv_crypto_key_counts *out);

/* ---- cross-signing ---------------------------------------------------- */

/* Creates master, self-signing and user-signing keys unless they exist
 * (replace: make new ones anyway). Seeds are kept pickled in the store. */
GV_MUST_CHECK enum gv_err gv_crypto_xsign_bootstrap(struct gv_crypto *c, bool replace);
/* Whether the keys exist / were uploaded (gv_crypto_xsign_uploaded). */
bool gv_crypto_xsign_exists(const struct gv_crypto *c);
bool gv_crypto_xsign_published(const struct gv_crypto *c);
/* The master key's public half (unpadded base64), NULL if none. */
const char *gv_crypto_xsign_master(const struct gv_crypto *c);
/* /keys/device_signing/upload body: master_key (signed by the device),
 * self_signing_key and user_signing_key (signed by master). The caller adds
 * "auth". GV_ENOTFOUND without keys. */
GV_MUST_CHECK enum gv_err gv_crypto_xsign_upload_body(struct gv_crypto *c, cJSON **body);
/* /keys/signatures/upload body: our device_keys signed by self-signing. */
GV_MUST_CHECK enum gv_err gv_crypto_xsign_signatures_body(struct gv_crypto *c, cJSON **body);
/* After both uploads succeeded. */
GV_MUST_CHECK enum gv_err gv_crypto_xsign_uploaded(struct gv_crypto *c);

/* ---- other devices ---------------------------------------------------- */

struct gv_crypto_device {
        const char *user_id;
        const char *device_id;
        const char *curve25519;
        const char *ed25519;
};

/* Marks users whose device lists must be (re)queried: joined members of
 * encrypted rooms, device_lists.changed. Unknown users become tracked. */
GV_MUST_CHECK enum gv_err gv_crypto_users_outdated(struct gv_crypto *c,
                                                   const char *const *users, size_t n);
/* device_lists.left: forget the users and their devices. */
GV_MUST_CHECK enum gv_err gv_crypto_users_forget(struct gv_crypto *c,
                                                 const char *const *users, size_t n);
/* The /keys/query body for every outdated user, *body NULL when none. */
GV_MUST_CHECK enum gv_err gv_crypto_keys_query_body(struct gv_crypto *c, cJSON **body);
/* Takes a /keys/query response: each device's keys must name their user
 * and device, carry both algorithms' keys and be self-signed; a known
 * device whose ed25519 changed is refused (the old keys stay). Devices no
 * longer listed are forgotten; the users listed are up to date. *rejected
 * (may be NULL) counts devices refused. */
GV_MUST_CHECK enum gv_err gv_crypto_keys_query_ingest(struct gv_crypto *c, const cJSON *response,
                                                      size_t *rejected);
/* Every known device of user_id; cb returns non-zero to stop. Strings live
 * for the call only. */
GV_MUST_CHECK enum gv_err gv_crypto_devices(struct gv_crypto *c, const char *user_id,
                                            int (*cb)(void *ud, const struct gv_crypto_device *d),
                                            void *ud);

/* ---- to-device in ----------------------------------------------------- */

enum gv_crypto_td_kind {
        GV_TD_IGNORED = 0,      /* not an encrypted to-device event for us */
        GV_TD_ROOM_KEY,         /* an m.room_key, stored: room_id, session_id set */
        GV_TD_WITHHELD,         /* m.room_key.withheld: room_id, session_id, code, reason */
        GV_TD_DECRYPTED,        /* another Olm-encrypted event: type, plaintext */
};

struct gv_crypto_todevice {
        enum gv_crypto_td_kind kind;
        char *sender;           /* user ID */
        char *sender_key;       /* their curve25519 */
        char *type;             /* the (decrypted) event type */
        char *room_id;
        char *session_id;
        char *code;             /* withheld */
        char *reason;           /* withheld, may be NULL */
        cJSON *plaintext;       /* GV_TD_DECRYPTED: the decrypted event; wiped on clear */
};

/* One to-device event from sync (type, sender, content). Olm m.room.encrypted
 * is decrypted (a pre-key message creates an inbound session and removes the
 * used one-time key; a normal one tries the known sessions), the plaintext's
 * sender, recipient, recipient_keys and keys are checked; an m.room_key
 * (Megolm) becomes an inbound group session when the sender's curve25519 is
 * the Olm session's and the claimed ed25519 is their known device's (or,
 * unknown yet, kept as claimed). Fills *out (cleared first). */
GV_MUST_CHECK enum gv_err gv_crypto_todevice_in(struct gv_crypto *c, const cJSON *event,
                                                struct gv_crypto_todevice *out);
void gv_crypto_todevice_clear(struct gv_crypto_todevice *t);

/* ---- room events in --------------------------------------------------- */

struct gv_crypto_decrypted {
        cJSON *payload;         /* {type, content, room_id}: the plaintext event; wiped on clear */
        char *sender_key;
        char *session_id;
        uint32_t index;         /* the Megolm message index */
        bool key_verified;      /* the session's ed25519 matches a queried device of the sender */
};

/* Decrypts an m.room.encrypted timeline event (event_id, sender, content)
 * of room_id. GV_ENOTFOUND: no session yet (the caller waits and asks);
 * GV_EPERM: the index was seen under another event ID, or the payload names
 * another room; the same event ID again is fine. */
GV_MUST_CHECK enum gv_err gv_crypto_room_decrypt(struct gv_crypto *c, const char *room_id,
                                                 const cJSON *event,
                                                 struct gv_crypto_decrypted *out);
void gv_crypto_decrypted_clear(struct gv_crypto_decrypted *d);

/* The sendToDevice body (event type m.room_key_request) asking every device
 * of sender (the event's sender) for the key of an event that answered
 * GV_ENOTFOUND; request_id is the caller's (stable across retries). */
GV_MUST_CHECK enum gv_err gv_crypto_key_request_body(struct gv_crypto *c, const char *room_id,
                                                     const char *sender, const cJSON *event_content,
                                                     const char *request_id, cJSON **body);

/* ---- room events out -------------------------------------------------- */

/* Drops the room's outbound session (a member left, or the caller wants a
 * fresh one): the next encrypt starts a new session. */
GV_MUST_CHECK enum gv_err gv_crypto_room_rotate(struct gv_crypto *c, const char *room_id);
/* Makes sure the room has a current outbound session: a new one when there
 * is none or when settings (m.room.encryption content, NULL: defaults)
 * rotation_period_ms / rotation_period_msgs are reached at now_ms. */
GV_MUST_CHECK enum gv_err gv_crypto_room_prepare(struct gv_crypto *c, const char *room_id,
                                                 const cJSON *settings, int64_t now_ms);
/* The devices of members (user IDs) that do not have the current session
 * yet; *claim is the /keys/claim body for those without an Olm session
 * (NULL when none); *missing (may be NULL) counts all such devices. Call
 * gv_crypto_room_prepare() first. */
GV_MUST_CHECK enum gv_err gv_crypto_room_share_needed(struct gv_crypto *c, const char *room_id,
                                                      const char *const *members, size_t n,
                                                      cJSON **claim, size_t *missing);
/* Builds the sendToDevice body ({"messages": {user: {device: content}}},
 * event type m.room.encrypted) giving the room key to every device that
 * still needs it: existing Olm sessions are used, else the one-time key in
 * claim_response (may be NULL), whose signature is checked, starts one.
 * Devices with neither are skipped (counted in *skipped, may be NULL).
 * *body is NULL when nobody needs the key. */
GV_MUST_CHECK enum gv_err gv_crypto_room_share(struct gv_crypto *c, const char *room_id,
                                               const char *const *members, size_t n,
                                               const cJSON *claim_response, cJSON **body,
                                               size_t *skipped);
/* After the sendToDevice body was accepted (or committed to be sent): the
 * devices in it have the key, and are not given it again. */
GV_MUST_CHECK enum gv_err gv_crypto_room_shared(struct gv_crypto *c, const char *room_id,
                                                const cJSON *body);
/* Encrypts {type, content, room_id} with the room's outbound session
 * (gv_crypto_room_prepare first), counting the message; *enc is the
 * m.room.encrypted content. */
GV_MUST_CHECK enum gv_err gv_crypto_room_encrypt(struct gv_crypto *c, const char *room_id,
                                                 const char *type, const cJSON *content,
                                                 cJSON **enc);

/* ---- Olm, directly (tests, other to-device payloads) ------------------ */

/* Olm-encrypts {type, content, sender, recipient, keys, recipient_keys} for
 * one known device that has an Olm session with us (or, with otk non-NULL,
 * a new one from that claimed signed one-time key object); *enc is the
 * m.room.encrypted to-device content. */
GV_MUST_CHECK enum gv_err gv_crypto_olm_encrypt(struct gv_crypto *c, const char *user_id,
                                                const char *device_id, const cJSON *otk,
                                                const char *type, const cJSON *content,
                                                cJSON **enc);

#endif
