/* bridge/matrix_internal.h - what the bridge/matrix*.c files share: the
 * client's state (struct mx) and the helpers each of them uses. Private to
 * bridge/matrix*.c; everyone else sees only matrix.h. */
#ifndef GV_MATRIX_INTERNAL_H
#define GV_MATRIX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../util/config.h"
#include "../util/err.h"
#include "../util/log.h"
#include "crypto.h"
#include "http.h"
#include "sync.h"

struct gv_store;
struct gv_core;
struct lane;
struct alias;

#define MAX_SMALL_BODY (1u << 20)       /* any response but /sync and /messages */
#define REQUEST_TIMEOUT_MS 30000L
#define MAX_SECRET 4096
/* The kv key of the sync filter's ID; a new name when the filter changes
 * (2: m.room.encrypted, every member for E2EE; 3: see TIMELINE_TYPES) */
#define MX_FILTER_KEY "filter_id.3"

/* 3: m.reaction (attendance on a release), m.room.canonical_alias */
#define TIMELINE_TYPES "[\"m.room.message\",\"m.room.redaction\",\"m.room.member\"," \
                       "\"m.room.power_levels\",\"m.room.encryption\",\"m.room.encrypted\"," \
                       "\"m.reaction\",\"m.room.canonical_alias\"]"

/* A cache of the store's rooms row (gv_store_room_*), which is the truth:
 * every change is written there in the batch's transaction. */
struct room {
        char *id;
        cJSON *power;           /* m.room.power_levels content, may be NULL */
        int64_t joined_at;      /* ts of our join, 0 if unknown */
        bool encrypted;         /* m.room.encryption seen */
        cJSON *enc;             /* its content (rotation settings), may be NULL */
        bool said_no_e2ee;      /* "encrypted, but no pickle key" logged */
        char *last_event;       /* the newest timeline event applied that the handlers
                                 * did not claim: gaps stop there (or at a claimed one) */
        int64_t last_ts;        /* its ts */
        struct room *next;
};

/* A /sync batch whose limited timelines are being filled in. */
struct gap {
        size_t room;            /* index into batch->rooms */
        struct gv_sync **pages; /* /messages answers, newest first */
        size_t n_pages;
        size_t keep;            /* of the oldest page, the newest `keep` events are new */
        size_t n_events;        /* events kept to be handled */
        uint64_t skipped;       /* beyond gap_fill_max_events: counted, never handled */
        bool counting;          /* past the horizon: pages are only counted */
        bool count_cut;         /* stopped counting: "more than" skipped */
        size_t count_pages;
        char *from;
        bool done;
};

enum phase { PH_DISCOVER, PH_VERSIONS, PH_WHOAMI, PH_LOGIN, PH_FILTER, PH_RUN };

struct mx {
        const struct gv_config *cfg;
        struct gv_store *s;
        struct gv_core *core;
        struct gv_http *http;
        char *base;             /* "https://matrix.example.org", no trailing slash */
        char *token;
        char *password;
        char *device_id;
        char *filter_id;
        char *since;            /* NULL before the first sync */
        char *nonce;            /* txnId prefix, per database */
        struct room *rooms;

        enum phase phase;
        bool busy;              /* a setup request is in flight */
        int64_t setup_at;
        int64_t setup_backoff;
        bool said_down;         /* "homeserver unreachable" logged once */
        bool token_from_file;

        bool sync_busy;
        bool caught_up;         /* a batch was applied since the start */
        int64_t sync_at;
        int64_t sync_backoff;
        struct gv_sync *batch;  /* waiting for its gaps */
        /* An initial sync of more than MX_SLICE_ROOMS joined rooms: batch is
         * its skeleton, the rooms are parsed and applied MX_SLICE_ROOMS at
         * a time from their text in the response (valid during on_sync
         * only, which applies such a batch at once: it has no gaps) */
        const char *join_text;
        struct gv_sync_span *join_spans;
        size_t n_join;
        struct gap *gaps;
        size_t n_gaps;
        int64_t gap_at;         /* the next /messages request, after an error */
        int64_t gap_backoff;

        struct lane *lanes;     /* the sender's lanes (matrix_send.c) */
        unsigned in_flight;     /* send requests in flight, across lanes */
        bool outbox_empty;      /* nothing to start until a batch, an answer or send_wake */
        int64_t send_wake;      /* monotonic ms: when a waiting lane may go */
        uint64_t send_scan;     /* counts the sender's passes over the outbox */
        int wake_fd;            /* a worker thread writes a 0 byte here when its job is done */

        /* end-to-end encryption (matrix_e2ee.c) */
        struct gv_crypto *crypto;       /* NULL: no pickle key: plain rooms only */
        char *pickle_key;               /* until the crypto is opened; wiped */
        bool crypto_existed;            /* the store held E2EE state at start */
        bool e2ee_busy;                 /* an E2EE request (upload, query, ...) in flight */
        int64_t e2ee_at, e2ee_backoff;
        struct gv_crypto_key_counts counts;
        bool counts_known;              /* what the server holds is known */
        bool upload_check;              /* see whether /keys/upload is due */
        bool upload_busy;
        bool upload_fallback;           /* the body in flight holds a fallback key */
        uint64_t keys_gen;              /* uploads done */
        uint64_t sync_keys_gen;         /* keys_gen when the /sync in flight started */
        int xsign;                      /* XS_* in matrix_e2ee.c */
        char *uia_session;
        bool keys_outdated;             /* users to /keys/query (lanes wait) */
        uint64_t outdated_gen;
        uint64_t query_gen;
        char *changes_from;             /* /keys/changes from this token, once */
        struct keyreq *keyreqs;         /* m.room_key_requests to send */
        bool waiting_checked;           /* events waiting since before a start re-asked */
        int64_t wait_scan_at;           /* monotonic ms: look for events waiting too long */
        uint64_t e2ee_bad;              /* hostile or undecryptable input, counted */
        int64_t e2ee_started;           /* monotonic ms the crypto was opened */

        /* room aliases (matrix_alias.c) */
        struct alias *aliases;
        unsigned alias_in_flight;
        int64_t aliases_since;  /* monotonic ms the first sync began to wait for them */

        /* timers (matrix_timers.c): gv_tick() once gv_next_due() is reached, after
         * this run's first batch (caught_up) */
        int64_t timer_due;      /* wall-clock ms (mx_wall_ms) of the next timer, INT64_MAX: none */
        int64_t timer_at;       /* monotonic ms: not before (a failed tick's backoff) */
        int64_t timer_backoff;

        /* the trace (log_level "debug"): monotonic µs of the stages of the
         * newest sync batch; 0 when not tracing */
        int64_t tr_recv, tr_parsed, tr_handled, tr_committed;
        int64_t tr_start;       /* gv_matrix_run() began */
        bool tr_first;          /* the first batch was applied */

        bool relogin;           /* a /login after M_UNKNOWN_TOKEN is under way */
        int status;             /* exit status once stopping */
        bool stop;
};

/* matrix.c: clocks, backoff, answers, URLs, requests */
int64_t mx_now_ms(void);
int64_t mx_wall_ms(void);
/* Monotonic µs, for the trace. */
int64_t mx_now_us(void);
/* Whether the per-stage timings are logged (log_level "debug"): one test
 * when not, no clock read. */
#define MX_TRACING() (gv_log_threshold >= GV_LOG_DEBUG)
/* Logs to stderr and stops the loop with this exit status. */
void mx_fatal(struct mx *m, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Exponential backoff with jitter: the next wait, and the one after. */
int64_t mx_backoff(struct mx *m, int64_t *cur);
/* Parses the body into *json (may be NULL) and returns its errcode. */
const char *mx_errcode(const struct gv_http_resp *r, cJSON **json);
/* retry_after_ms from the body, else the Retry-After header, else -1. */
int64_t mx_retry_after(const struct gv_http_resp *r, const cJSON *json);
/* base + path, where each "%s" in path is a URL-escaped argument. */
char *mx_url(struct mx *m, const char *path, ...);
/* Starts a request with m as user data; takes u (may be NULL: out of memory).
 * On failure stops the loop and returns false. */
bool mx_request(struct mx *m, const char *method, char *u, const char *body,
                long timeout_ms, size_t max_body, gv_http_cb cb);

/* matrix_alias.c: room aliases, resolved with the directory */
enum mx_alias_state {
        MX_ALIAS_OK,            /* *room_id set (the caller frees it) */
        MX_ALIAS_WAIT,          /* not resolved yet: try again later (why says so) */
        MX_ALIAS_NEVER,         /* the directory does not know it: park (why) */
        MX_ALIAS_ERROR,         /* the database failed */
};
/* "#name:server", at most 255 bytes. */
bool mx_is_alias(const char *s);
/* The configured aliases (series, crosspost_rooms, rooms), to resolve. */
void mx_aliases_init(struct mx *m);
void mx_aliases_free(struct mx *m);
/* Starts the directory requests that are due. */
void mx_aliases_step(struct mx *m);
/* Whether the loop should come back for mx_aliases_step() by *at. */
bool mx_aliases_due(const struct mx *m, int64_t *at);
/* Whether the first sync may go: every configured alias was answered by the
 * directory (so handlers match it against room IDs from the first event
 * on), or ALIAS_START_WAIT_MS passed. */
bool mx_aliases_ready(struct mx *m);
/* Where an outbox row addressed to alias goes; an alias not known yet is
 * resolved from now on. */
enum mx_alias_state mx_alias_lookup(struct mx *m, const char *alias, char **room_id, char *why,
                                    size_t n);
/* m.room.canonical_alias state of rm: alias and alt_aliases recorded, in the
 * batch's transaction. */
enum gv_err mx_track_aliases(struct mx *m, struct room *rm, const struct gv_sync_event *e);

/* matrix_timers.c: series releases and reminders (gv_tick) in the loop */
/* Runs gv_tick() in its own transaction when gv_next_due() is reached (once
 * this run's first batch is applied); on failure rolls back and retries with
 * backoff. Keeps timer_due for mx_timers_due(). */
void mx_timers_step(struct mx *m);
/* Whether the loop should come back for mx_timers_step() by *at (monotonic). */
bool mx_timers_due(const struct mx *m, int64_t *at);

/* matrix_setup.c */
/* The configured file, else $CREDENTIALS_DIRECTORY/name. */
char *mx_secret(const char *file, const char *name, bool *given);
/* Frees a secret (token, password), wiped first. NULL is fine. */
void mx_secret_free(char *s);
/* "@gavel:example.org" -> "https://example.org"; loopback uses http. */
char *mx_base_from_user(const char *user_id);
/* One step towards PH_RUN, unless a request is in flight or backing off. */
void mx_step_setup(struct mx *m);
void mx_start_login(struct mx *m);
/* After M_UNKNOWN_TOKEN: log in again with the password, or stop. */
void mx_start_relogin(struct mx *m);

/* matrix_sync.c */
void mx_start_sync(struct mx *m);
/* The next /messages request of the batch's gaps, or, once all are filled,
 * applies the batch. Waits (returns) while gap_at is ahead. */
void mx_fill_gaps(struct mx *m);
void mx_gaps_free(struct mx *m);

/* matrix_send.c */
/* Starts the head row of every lane that may go now (up to the limit in
 * flight); sets send_wake to when the next waiting lane may. */
void mx_start_sender(struct mx *m);
void mx_lanes_free(struct mx *m);
/* The lanes of rows addressed to an alias go again now (it resolved). */
void mx_lanes_wake_aliases(struct mx *m);

/* matrix_rooms.c */
struct room *mx_room_get(struct mx *m, const char *id);
void mx_rooms_free(struct mx *m);
/* Keeps the `keep` most recently used rooms cached, frees the others (the
 * store has all they hold): between batches only, as nothing else holds
 * a struct room then. */
void mx_rooms_trim(struct mx *m, size_t keep);
#define MX_ROOMS_CACHED 256
/* joined rooms of a big initial sync parsed and applied at a time: the
 * tree of 10,000 rooms' JSON at once was 80 MiB */
#define MX_SLICE_ROOMS 256
/* Forgets the cached rooms: after a rollback the store is the truth. */
void mx_rooms_forget(struct mx *m);
enum gv_err mx_track_state(struct mx *m, struct room *rm, const struct gv_sync_event *e);
/* The newest timeline event applied in the room, in the batch's transaction. */
enum gv_err mx_room_set_last(struct mx *m, struct room *rm, const struct gv_sync_event *e);
enum gv_err mx_handle_timeline_event(struct mx *m, struct room *rm,
                                     const struct gv_sync_event *e, bool history);
enum gv_err mx_handle_invite(struct mx *m, const struct gv_sync_room *sr);

/* matrix_e2ee.c */
/* Reads the pickle key: 0, or the exit status of a start-up error (state
 * exists and no key). */
int mx_e2ee_init(struct mx *m);
void mx_e2ee_free(struct mx *m);
/* Opens the crypto once the device is known; then the next E2EE request
 * (keys upload, cross-signing, /keys/query, /keys/changes, key requests). */
void mx_e2ee_step(struct mx *m);
/* Whether the loop should come back for mx_e2ee_step() by *at. */
bool mx_e2ee_due(const struct mx *m, int64_t *at);
/* Whether the device's keys and cross-signing are still being published
 * (at most E2EE_SETUP_MAX_MS after the start): the sender waits. */
bool mx_e2ee_setting_up(struct mx *m);
/* In the batch's transaction, before its rooms: to-device events, device
 * lists, key counts, events that waited for their key. */
enum gv_err mx_e2ee_batch(struct mx *m, const struct gv_sync *b);
/* An m.room.encrypted timeline event: decrypted and handed to
 * mx_handle_timeline_event() as the plain event; or parked until its key
 * comes; or logged and counted. */
enum gv_err mx_e2ee_timeline(struct mx *m, struct room *rm, const struct gv_sync_event *e);
/* A member's membership changed in an encrypted room (or the room became
 * encrypted: user NULL, every joined member). */
enum gv_err mx_e2ee_member(struct mx *m, struct room *rm, const char *user, const char *ms);

#endif
