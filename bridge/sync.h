/* bridge/sync.h - reading /sync and /messages responses. Pure: JSON text in,
 * a checked view of it out (and the handlers' event for a message). Knows the
 * Matrix wire format; knows nothing about HTTP, the store or meetings. */
#ifndef GV_SYNC_H
#define GV_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "../handlers/event.h"
#include "../util/err.h"

#define GV_SYNC_MAX_BYTES (64u << 20)
#define GV_SYNC_MAX_MENTIONS 64
#define GV_SYNC_MAX_REACTION_KEY 256    /* bytes of an m.reaction's key */
#define GV_SYNC_MAX_EVENT_ID 255        /* bytes of an event ID (the spec's limit) */

struct gv_sync_event {
        const char *type;
        const char *sender;
        const char *event_id;           /* NULL for stripped invite state */
        const char *state_key;          /* NULL when not a state event */
        int64_t ts;                     /* origin_server_ts, 0 if absent */
        const cJSON *content;           /* an object, never NULL */
        const cJSON *unsigned_;         /* may be NULL */
        const char *redacts;            /* m.room.redaction, rooms v1-v10: top level */
        const cJSON *json;              /* the whole event as received */
};

enum gv_room_kind { GV_ROOM_JOIN = 0, GV_ROOM_INVITE, GV_ROOM_LEAVE };

struct gv_sync_room {
        const char *room_id;
        enum gv_room_kind kind;
        struct gv_sync_event *state;    /* state.events, or invite_state.events */
        size_t n_state;
        struct gv_sync_event *timeline;
        size_t n_timeline;
        bool limited;
        const char *prev_batch;         /* may be NULL */
};

struct gv_sync {
        cJSON *root;
        const char *next_batch;         /* for /sync; for /messages: "end", may be NULL */
        struct gv_sync_room *rooms;
        size_t n_rooms;
        struct gv_sync_event *chunk;    /* /messages: chunk, in the order received */
        size_t n_chunk;
        size_t skipped;                 /* malformed events and rooms left out */
        /* E2EE (/sync only): to_device.events (type, sender, content; no
         * event_id), device_lists.changed / .left (user IDs, strings only,
         * at most GV_SYNC_MAX_USERS each), one-time key counts and unused
         * fallback key types (absent: -1 and !fallback_known). */
        struct gv_sync_event *to_device;
        size_t n_to_device;
        const char **dl_changed;
        size_t n_dl_changed;
        const char **dl_left;
        size_t n_dl_left;
        int64_t otk_signed_curve25519;  /* device_one_time_keys_count.signed_curve25519 */
        bool fallback_known;            /* device_unused_fallback_key_types present */
        bool fallback_unused;           /* ... and it lists signed_curve25519 */
};

#define GV_SYNC_MAX_USERS 10000

/* A /sync response. Malformed events (no type, sender or event_id where
 * required, content not an object) are skipped and counted; a response
 * without next_batch is GV_EPARSE. */
GV_MUST_CHECK enum gv_err gv_sync_parse(const char *json, size_t len, struct gv_sync **ret);
/* A /sync response with many joined rooms, split so that no tree of the
 * whole is ever built: the text of each joined room ("!id": {...}) found by
 * a scan of the response without parsing it, and the response without
 * them (skeleton: rooms.join is {}). */
struct gv_sync_span {
        size_t off, len;                /* in the response's text */
};

/* Scans json for rooms.join. GV_ENOTFOUND when there is none (or the
 * scan does not find its way: the caller then parses the whole as usual);
 * else *spans (free()) holds *n entries, and *skeleton (free()) is the
 * response with an empty rooms.join, NUL-terminated, of *skeleton_len. */
GV_MUST_CHECK enum gv_err gv_sync_split(const char *json, size_t len, struct gv_sync_span **spans,
                                        size_t *n, char **skeleton, size_t *skeleton_len);
/* The joined rooms spans[0..n) of json as one parsed response (rooms only,
 * next_batch "-"). */
GV_MUST_CHECK enum gv_err gv_sync_parse_slice(const char *json, const struct gv_sync_span *spans,
                                              size_t n, struct gv_sync **ret);

/* A /messages response (chunk, end). */
GV_MUST_CHECK enum gv_err gv_sync_parse_messages(const char *json, size_t len,
                                                 struct gv_sync **ret);
struct gv_sync *gv_sync_free(struct gv_sync *s);

/* The handlers' view of a timeline event: m.room.message (m.text, m.emote,
 * m.notice; edits through m.new_content), m.room.redaction and m.reaction
 * (rel_type m.annotation: reaction_key and relates_to set, body ""; a key
 * empty or over GV_SYNC_MAX_REACTION_KEY, or a target that is not an event
 * ID, is malformed). GV_ENOTFOUND for anything else. mentions must hold GV_SYNC_MAX_MENTIONS
 * pointers; the strings stay owned by the sync. room and power are the
 * caller's. */
GV_MUST_CHECK enum gv_err gv_sync_event_to_gv(const struct gv_sync_event *e, const char *room,
                                              int power, const char **mentions,
                                              struct gv_event *out);

/* m.room.power_levels content: the level of user (users[user], else
 * users_default, else 0). NULL content: 0. */
int gv_sync_power_of(const cJSON *power_levels_content, const char *user);

#endif
