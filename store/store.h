/* store/store.h - gavel's state in one SQLite file: agendas and their items,
 * meetings with every line said and every item noted, votes, processed event
 * IDs, a key-value table and the outbox. The only code that knows SQL.
 * Knows nothing about Matrix, the console or how minutes look. */
#ifndef GV_STORE_H
#define GV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../util/err.h"

struct gv_store;

enum gv_item_status { GV_ITEM_OPEN = 0, GV_ITEM_POSTPONED, GV_ITEM_DONE, GV_ITEM_DROPPED };

struct gv_item {
        int64_t id;
        char *agenda;
        char *description;
        char *reporter;
        char *mentions;         /* space-separated, may be "" */
        char *room;             /* where it was raised */
        char *event_id;         /* the tagged event, may be NULL */
        int64_t created;        /* ms */
        int64_t position;
        bool pinned;
        enum gv_item_status status;
        int64_t discussed_in;   /* meeting id, 0 if never taken up */
};

struct gv_meeting {
        int64_t id;
        char *room;
        char *name;
        char *agenda;
        char *starter;          /* the starter's nick, as the minutes show it */
        char *starter_id;       /* the starter's full sender ID */
        int64_t started;        /* ms */
        int64_t ended;          /* ms, 0 while running */
        int64_t topic;          /* meeting item id of the current topic, 0 if none */
        char *file_base;        /* archive files' base name, reserved when it ended; NULL
                                 * while running and for meetings ended before schema 3 */
};

/* Kinds of things noted during a meeting. */
enum gv_mkind {
        GV_M_TOPIC = 0, GV_M_INFO, GV_M_ACTION, GV_M_AGREED, GV_M_ACCEPTED,
        GV_M_REJECTED, GV_M_IDEA, GV_M_LINK, GV_M_HELP, GV_M_VOTE,
        /* standups and check-ins (issue 10): !update, !question, !other, !checkin */
        GV_M_UPDATE, GV_M_QUESTION, GV_M_OTHER, GV_M_CHECKIN, GV_M__COUNT
};

struct gv_mitem {
        int64_t id;
        int64_t ts;
        char *nick;
        enum gv_mkind kind;
        char *text;
        int64_t topic;          /* id of the topic it falls under, 0 if none */
        int64_t agenda_item;    /* for topics: the agenda item taken up, 0 if none */
        char *event_id;         /* the event it was noted from, may be NULL */
        char *sender;           /* that event's full sender, may be NULL */
        int64_t meeting;        /* filled when read; ignored by gv_store_mitem_add */
};

/* One line of a meeting's log, as gv_store_lines_by_event reads it. */
struct gv_line {
        int64_t id;
        int64_t meeting;
        char *nick;
        char *sender;           /* full sender, NULL for lines logged before schema 2 */
        char *text;             /* "" once redacted */
        bool action;
        bool redacted;
};

struct gv_vote {
        int64_t id;
        char *question;
        char *options;          /* comma-separated, as given */
        int64_t opened;
};

/* What an outbox row is. Stored as a word ("message", "reaction", ...) so
 * databases written before the enum keep working. Each sender claims the
 * kinds it delivers (GV_OUT_BIT): the Matrix sender all of them, the
 * console what it can show and the files, a replay only the files. */
enum gv_out_kind {
        GV_OUT_MESSAGE = 0,     /* body, html, extra {msgtype, mentions, in_reply_to, thread} */
        GV_OUT_REACTION,        /* body the key, extra {event_id} */
        GV_OUT_MINUTES,         /* rendered at delivery; extra {meeting, header?} */
        GV_OUT_FILE,            /* a minutes file; room is the file name, extra {meeting, format} */
        GV_OUT_JOIN,            /* accept an invite to room */
        GV_OUT_LEAVE,           /* decline or leave room */
        GV_OUT_WIKI,            /* publish a meeting to a wiki; room "wiki:N" (the lane),
                                 * extra {meeting, wiki: N}; rendered at delivery */
        GV_OUT_WEBHOOK,         /* POST an event to a webhook; room "webhook:N", extra
                                 * {event, webhook: N, meeting?, item?}; payload built at
                                 * delivery, the row id is its idempotency key */
        GV_OUT__COUNT,
        GV_OUT_UNKNOWN = GV_OUT__COUNT  /* a word this gavel does not know: parked */
};
#define GV_OUT_BIT(k) (1u << (k))
#define GV_OUT_ALL ((1u << GV_OUT__COUNT) - 1)

/* The stored word of a kind; "unknown" for GV_OUT_UNKNOWN. */
const char *gv_out_kind_name(enum gv_out_kind k);
/* The kind of a stored word; GV_OUT_UNKNOWN when there is none. */
enum gv_out_kind gv_out_kind_parse(const char *word);

/* An unsent row is pending (sent when its lane gets to it, not before
 * next_at) or parked (it can never be sent as it is: a 403, content that
 * cannot be built, ...; only `gavel outbox retry ID` puts it back). */
enum gv_out_state { GV_OUT_PENDING = 0, GV_OUT_PARKED = 1 };

struct gv_out {
        int64_t id;
        enum gv_out_kind kind;
        char *room;             /* or the file name for GV_OUT_FILE */
        char *body;
        char *html;             /* may be NULL */
        char *extra;            /* JSON text, may be NULL */
        enum gv_out_state state;
        int64_t attempts;       /* failed deliveries so far */
        char *last_error;       /* why the last one failed, may be NULL */
        int64_t next_at;        /* wall-clock ms: not before (0: now) */
        int64_t created;
};

/* What the Matrix bridge knows of a room. */
struct gv_room {
        int64_t joined_at;      /* origin_server_ts of gavel's latest join, 0 if unknown */
        char *power_levels;     /* m.room.power_levels content (JSON text), may be NULL */
        char *encryption;       /* m.room.encryption content (JSON text), NULL: not encrypted */
        char *last_event;       /* the newest timeline event applied that is not in the
                                 * processed table (newer ones may be), may be NULL */
        int64_t last_ts;        /* its origin_server_ts, 0 if unknown */
};

/* Opens (creating if needed) the database and applies migrations. ":memory:"
 * works. WAL and foreign keys on. A new file, its -wal and -shm are made
 * owner-only (0600) whatever the umask: the database holds the access token;
 * existing ones lose group and other permissions. On failure nothing is
 * changed and gv_store_errmsg(NULL) says what and where, e.g.
 * "gavel.db: file is not a database". */
GV_MUST_CHECK enum gv_err gv_store_open(const char *path, struct gv_store **ret);
/* A throwaway in-memory store (gavel replay without --db): as
 * gv_store_open(":memory:") but without the foreign-key checks (the code
 * writing it is the same code the checks guard in a real database) and
 * without the indexes on meeting items (each statement gives the same rows
 * in the same order, by a scan). */
GV_MUST_CHECK enum gv_err gv_store_open_scratch(struct gv_store **ret);
struct gv_store *gv_store_free(struct gv_store *s);
/* The last error, naming the file: "gavel.db: database or disk is full".
 * With s NULL: why the last gv_store_open failed. */
const char *gv_store_errmsg(const struct gv_store *s);
int gv_store_schema_version(const struct gv_store *s);

/* Changes whenever a rollback may have undone what callers read: anything
 * cached from the store is stale once this moves. */
/* Makes every committed transaction durable against a power loss (commits
 * are in the WAL with synchronous=NORMAL: safe from a crash of gavel, not
 * of the machine). For what the homeserver forgets once acknowledged:
 * to-device messages, the one-time keys it was given. */
GV_MUST_CHECK enum gv_err gv_store_sync(struct gv_store *s);
uint64_t gv_store_generation(const struct gv_store *s);

/* Moves whenever a row is written (inserted, updated, deleted, on this
 * connection), except by the outbox's own bookkeeping
 * (gv_store_outbox_sent/later/park): what a caller derived from the store
 * is current while this and gv_store_generation() (a rollback) stay put. */
uint64_t gv_store_content_version(struct gv_store *s);
/* One caller-owned cache hung on the store (the handlers' minutes model):
 * gv_store_cache_set() frees the one there before (with its free_fn);
 * gv_store_begin() and gv_store_free() free it too. Callers check its
 * validity themselves (gv_store_content_version). */
void *gv_store_cache(const struct gv_store *s);
void gv_store_cache_set(struct gv_store *s, void *cache, void (*free_fn)(void *));

GV_MUST_CHECK enum gv_err gv_store_begin(struct gv_store *s);
GV_MUST_CHECK enum gv_err gv_store_commit(struct gv_store *s);
void gv_store_rollback(struct gv_store *s);
/* Nested unit inside a transaction: one event's effects. */
GV_MUST_CHECK enum gv_err gv_store_savepoint(struct gv_store *s);
GV_MUST_CHECK enum gv_err gv_store_release(struct gv_store *s);
void gv_store_rollback_savepoint(struct gv_store *s);

/* Key-value, for singletons (next_batch, filter_id, device_id, access_token,
 * txn_nonce): *val is NULL (and GV_OK) when the key is absent. */
GV_MUST_CHECK enum gv_err gv_store_kv_get(struct gv_store *s, const char *key, char **val);
GV_MUST_CHECK enum gv_err gv_store_kv_set(struct gv_store *s, const char *key, const char *val);
/* Removes key (absent is fine). */
GV_MUST_CHECK enum gv_err gv_store_kv_del(struct gv_store *s, const char *key);

/* Processed events: the handlers claim each event they handle (exactly
 * once). Records event_id as processed; *fresh is false when it already was. */
GV_MUST_CHECK enum gv_err gv_store_event_claim(struct gv_store *s, const char *event_id,
                                               int64_t ts, bool *fresh);
/* Whether event_id was handled already. */
GV_MUST_CHECK enum gv_err gv_store_event_seen(struct gv_store *s, const char *event_id, bool *seen);
GV_MUST_CHECK enum gv_err gv_store_event_mark(struct gv_store *s, const char *event_id, int64_t ts);

/* Rooms (the Matrix bridge's view). GV_ENOTFOUND for a room never recorded;
 * each setter creates the room's row when needed. JSON may be NULL. */
/* A room alias and the room ID it resolved to (when, ms); _get gives
 * GV_ENOTFOUND for an alias never resolved. */
GV_MUST_CHECK enum gv_err gv_store_alias_set(struct gv_store *s, const char *alias,
                                             const char *room_id, int64_t ts);
GV_MUST_CHECK enum gv_err gv_store_alias_get(struct gv_store *s, const char *alias, char **room_id);
GV_MUST_CHECK enum gv_err gv_store_room_get(struct gv_store *s, const char *room,
                                            struct gv_room *out);
GV_MUST_CHECK enum gv_err gv_store_room_set_joined(struct gv_store *s, const char *room, int64_t ts);
GV_MUST_CHECK enum gv_err gv_store_room_set_power_levels(struct gv_store *s, const char *room,
                                                         const char *json);
GV_MUST_CHECK enum gv_err gv_store_room_set_encryption(struct gv_store *s, const char *room,
                                                       const char *json);
/* The newest timeline event applied in the room: gap filling stops there.
 * The bridge skips it for an event it claimed (processed): that stops a gap too. */
GV_MUST_CHECK enum gv_err gv_store_room_set_last_event(struct gv_store *s, const char *room,
                                                       const char *event_id, int64_t ts);
void gv_room_clear(struct gv_room *r);

/* Agenda items. gv_store_item_add puts the item last; GV_OK with *id = the
 * existing item when the same event_id was added before. */
GV_MUST_CHECK enum gv_err gv_store_item_add(struct gv_store *s, const struct gv_item *it, int64_t *id);
GV_MUST_CHECK enum gv_err gv_store_item_get(struct gv_store *s, int64_t id, struct gv_item *out);
/* The item raised in room by event_id; GV_ENOTFOUND when there is none. */
GV_MUST_CHECK enum gv_err gv_store_item_by_event(struct gv_store *s, const char *room,
                                                 const char *event_id, struct gv_item *out);
/* New description and mentions (space-separated, NULL means ""). */
GV_MUST_CHECK enum gv_err gv_store_item_set_text(struct gv_store *s, int64_t id,
                                                 const char *description, const char *mentions);
/* The agenda as shown: open and postponed items, pinned first, then by
 * position, postponed last. */
GV_MUST_CHECK enum gv_err gv_store_agenda(struct gv_store *s, const char *agenda,
                                          struct gv_item **items, size_t *n);
/* The agenda's done items, newest first, at most limit. */
GV_MUST_CHECK enum gv_err gv_store_items_done(struct gv_store *s, const char *agenda,
                                              int64_t limit, struct gv_item **items, size_t *n);
/* Items discussed in a meeting, in the order they were taken up. */
GV_MUST_CHECK enum gv_err gv_store_items_discussed(struct gv_store *s, int64_t meeting,
                                                   struct gv_item **items, size_t *n);
GV_MUST_CHECK enum gv_err gv_store_item_set_status(struct gv_store *s, int64_t id,
                                                   enum gv_item_status st);
GV_MUST_CHECK enum gv_err gv_store_item_set_pinned(struct gv_store *s, int64_t id, bool pinned);
GV_MUST_CHECK enum gv_err gv_store_item_set_discussed(struct gv_store *s, int64_t id, int64_t meeting);
/* Moves the item to sit before `before` (0: last); positions renumbered. */
GV_MUST_CHECK enum gv_err gv_store_item_move(struct gv_store *s, const char *agenda, int64_t id,
                                             int64_t before);
/* After a meeting: discussed, unpinned items -> done; postponed -> open. */
GV_MUST_CHECK enum gv_err gv_store_agenda_close_meeting(struct gv_store *s, const char *agenda,
                                                        int64_t meeting);
void gv_item_clear(struct gv_item *it);
void gv_items_free(struct gv_item *items, size_t n);

/* Meetings. GV_ENOTFOUND when no meeting runs in the room. */
GV_MUST_CHECK enum gv_err gv_store_meeting_running(struct gv_store *s, const char *room,
                                                   struct gv_meeting *out);
GV_MUST_CHECK enum gv_err gv_store_meeting_get(struct gv_store *s, int64_t id, struct gv_meeting *out);
GV_MUST_CHECK enum gv_err gv_store_meeting_start(struct gv_store *s, const struct gv_meeting *m,
                                                 int64_t *id);
GV_MUST_CHECK enum gv_err gv_store_meeting_end(struct gv_store *s, int64_t id, int64_t ts);
GV_MUST_CHECK enum gv_err gv_store_meeting_set_name(struct gv_store *s, int64_t id, const char *name);
GV_MUST_CHECK enum gv_err gv_store_meeting_set_topic(struct gv_store *s, int64_t id, int64_t topic);
/* Reserves base as the meeting's archive file base name: *reserved is false
 * (and nothing changes) when another meeting has it, compared ignoring case. */
/* MeetBot's title of a meeting (its #startmeeting argument); *title is NULL
 * for a meeting started before titles were kept. GV_ENOTFOUND: no meeting. */
GV_MUST_CHECK enum gv_err gv_store_meeting_set_title(struct gv_store *s, int64_t id,
                                                     const char *title);
GV_MUST_CHECK enum gv_err gv_store_meeting_title(struct gv_store *s, int64_t id, char **title);
/* The series a meeting belongs to (the config's series name) and its
 * flavour ("standup", "agora", ...; see gv_flavour_name); either may be NULL
 * (no series, the default flavour). Reading: both NULL for a meeting started
 * before schema 12 or outside a series; GV_ENOTFOUND: no such meeting.
 * *series and *flavour are the caller's to free. */
GV_MUST_CHECK enum gv_err gv_store_meeting_set_series(struct gv_store *s, int64_t id,
                                                      const char *series, const char *flavour);
GV_MUST_CHECK enum gv_err gv_store_meeting_series(struct gv_store *s, int64_t id, char **series,
                                                  char **flavour);
GV_MUST_CHECK enum gv_err gv_store_meeting_reserve_file(struct gv_store *s, int64_t id,
                                                        const char *base, bool *reserved);
/* The names of meetings other than `except` ended without a reserved file
 * base (before schema 3) that started in [from, to): their files have
 * today's names. */
GV_MUST_CHECK enum gv_err gv_store_meetings_unnamed(struct gv_store *s, int64_t from, int64_t to,
                                                    int64_t except,
                                                    void (*cb)(void *ud, const char *name),
                                                    void *ud);
/* Ids of every ended meeting, oldest first; *n may be 0. Free *ids. */
GV_MUST_CHECK enum gv_err gv_store_meetings_ended(struct gv_store *s, int64_t **ids, size_t *n);
void gv_meeting_clear(struct gv_meeting *m);

/* Chairs, by the full sender ID (user_id: "@alice:example.org", or a bare
 * console or IRC nick), compared exactly. gv_store_chairs() calls cb with
 * each chair's nick in the meeting (gv_store_person_nick), else the ID. */
GV_MUST_CHECK enum gv_err gv_store_chair_set(struct gv_store *s, int64_t meeting,
                                             const char *user_id, bool chair);
GV_MUST_CHECK enum gv_err gv_store_chair_is(struct gv_store *s, int64_t meeting,
                                            const char *user_id, bool *is);
GV_MUST_CHECK enum gv_err gv_store_chairs(struct gv_store *s, int64_t meeting,
                                          void (*cb)(void *ud, const char *nick), void *ud);

/* The nick a person goes by in a meeting, fixed the first time it is asked
 * for: nick, unless another person of the meeting already has it
 * (ASCII case-insensitively), then alt. *out is the caller's to free. */
GV_MUST_CHECK enum gv_err gv_store_person_nick(struct gv_store *s, int64_t meeting,
                                               const char *user_id, const char *nick,
                                               const char *alt, char **out);

/* Room members as the bridge sees them (m.room.member state; someone who
 * speaks is joined). nick is the ID's short form ("alice" for
 * "@alice:example.org"); display_name may be NULL; membership is "join",
 * "leave", "ban", "invite", ... gv_store_member_seen() marks user_id
 * joined, keeping a known display name. */
GV_MUST_CHECK enum gv_err gv_store_member_set(struct gv_store *s, const char *room,
                                              const char *user_id, const char *nick,
                                              const char *display_name, const char *membership);
GV_MUST_CHECK enum gv_err gv_store_member_seen(struct gv_store *s, const char *room,
                                               const char *user_id, const char *nick);
/* The joined members of room whose nick or display name is name (ASCII
 * case-insensitively), each once, by ID. */
GV_MUST_CHECK enum gv_err gv_store_members_named(struct gv_store *s, const char *room,
                                                 const char *name,
                                                 void (*cb)(void *ud, const char *user_id),
                                                 void *ud);

/* Every joined member of room, by ID. */
GV_MUST_CHECK enum gv_err gv_store_members_joined(struct gv_store *s, const char *room,
                                                  void (*cb)(void *ud, const char *user_id),
                                                  void *ud);

/* Every joined member of every encrypted room, each once. */
GV_MUST_CHECK enum gv_err gv_store_members_encrypted(struct gv_store *s,
                                                     void (*cb)(void *ud, const char *user_id),
                                                     void *ud);

/* People known by #nick (names for action items), case-insensitive. */
GV_MUST_CHECK enum gv_err gv_store_nick_add(struct gv_store *s, int64_t meeting, const char *nick);
GV_MUST_CHECK enum gv_err gv_store_nicks(struct gv_store *s, int64_t meeting,
                                         void (*cb)(void *ud, const char *nick), void *ud);

/* Every line said during a meeting. gv_store_line_add records no sender. */
GV_MUST_CHECK enum gv_err gv_store_line_add(struct gv_store *s, int64_t meeting, int64_t ts,
                                            const char *nick, const char *text, bool action,
                                            const char *event_id);
GV_MUST_CHECK enum gv_err gv_store_line_add_from(struct gv_store *s, int64_t meeting, int64_t ts,
                                                 const char *nick, const char *text, bool action,
                                                 const char *event_id, const char *sender);
/* The lines logged from event_id in meetings of room, oldest first; *n may
 * be 0. Free with gv_lines_free. */
GV_MUST_CHECK enum gv_err gv_store_lines_by_event(struct gv_store *s, const char *room,
                                                  const char *event_id, struct gv_line **lines,
                                                  size_t *n);
/* Sets one line's text; a redacted line keeps "" (*changed false then). */
GV_MUST_CHECK enum gv_err gv_store_line_set_text(struct gv_store *s, int64_t id, const char *text,
                                                 bool *changed);
GV_MUST_CHECK enum gv_err gv_store_line_delete(struct gv_store *s, int64_t id);
/* Marks every line of event_id in meetings of room redacted and forgets its
 * text; *n is how many were not redacted before. */
GV_MUST_CHECK enum gv_err gv_store_lines_redact(struct gv_store *s, const char *room,
                                                const char *event_id, size_t *n);
void gv_line_clear(struct gv_line *l);
void gv_lines_free(struct gv_line *lines, size_t n);
/* Oldest first; a redacted line's text reads "[redacted]". cb returns
 * non-zero to stop. */
GV_MUST_CHECK enum gv_err gv_store_lines(struct gv_store *s, int64_t meeting,
                                         int (*cb)(void *ud, int64_t ts, const char *nick,
                                                   const char *text, bool action),
                                         void *ud);
/* People present, most lines first, then by nick. */
GV_MUST_CHECK enum gv_err gv_store_line_counts(struct gv_store *s, int64_t meeting,
                                               void (*cb)(void *ud, const char *nick, int64_t n),
                                               void *ud);

/* Meeting items (#info, #action, ...). event_id and sender may be NULL. */
GV_MUST_CHECK enum gv_err gv_store_mitem_add(struct gv_store *s, int64_t meeting,
                                             const struct gv_mitem *it, int64_t *id);
/* The items noted from event_id in meetings of room, oldest first; *n may be 0. */
GV_MUST_CHECK enum gv_err gv_store_mitems_by_event(struct gv_store *s, const char *room,
                                                   const char *event_id, struct gv_mitem **items,
                                                   size_t *n);
GV_MUST_CHECK enum gv_err gv_store_mitem_set_text(struct gv_store *s, int64_t id, const char *text);
/* Removes one item. Items under it (when it is a topic) move to the topic
 * before it, or to none; a meeting whose current topic it was falls back to
 * its newest remaining topic. GV_ENOTFOUND when there is no such item. */
GV_MUST_CHECK enum gv_err gv_store_mitem_delete(struct gv_store *s, int64_t id);
/* Removes the newest item, returning it in *out (GV_ENOTFOUND if none). */
GV_MUST_CHECK enum gv_err gv_store_mitem_undo(struct gv_store *s, int64_t meeting,
                                              struct gv_mitem *out);
GV_MUST_CHECK enum gv_err gv_store_mitems(struct gv_store *s, int64_t meeting,
                                          struct gv_mitem **items, size_t *n);
/* The newest topic still present, 0 if none. */
GV_MUST_CHECK enum gv_err gv_store_last_topic(struct gv_store *s, int64_t meeting, int64_t *topic);
void gv_mitem_clear(struct gv_mitem *it);
void gv_mitems_free(struct gv_mitem *items, size_t n);

/* Votes: one open vote per meeting. */
GV_MUST_CHECK enum gv_err gv_store_vote_open(struct gv_store *s, int64_t meeting,
                                             const char *question, const char *options,
                                             int64_t ts, int64_t *id);
GV_MUST_CHECK enum gv_err gv_store_vote_current(struct gv_store *s, int64_t meeting,
                                                struct gv_vote *out);
/* One ballot per voter (the full sender ID): a later one replaces it. */
GV_MUST_CHECK enum gv_err gv_store_vote_cast(struct gv_store *s, int64_t vote, const char *voter,
                                             const char *choice, int64_t ts);
GV_MUST_CHECK enum gv_err gv_store_vote_close(struct gv_store *s, int64_t vote, int64_t ts);
/* Ballots per choice, most first, then by choice. */
GV_MUST_CHECK enum gv_err gv_store_vote_tally(struct gv_store *s, int64_t vote,
                                              void (*cb)(void *ud, const char *choice, int64_t n),
                                              void *ud);
void gv_vote_clear(struct gv_vote *v);

/* Outbox. */
/* How many rows gv_store_outbox_add() was asked to add so far (rolled back
 * or not): unchanged over a batch means the batch queued nothing. */
uint64_t gv_store_outbox_adds(const struct gv_store *s);
GV_MUST_CHECK enum gv_err gv_store_outbox_add(struct gv_store *s, enum gv_out_kind kind,
                                              const char *room, const char *body,
                                              const char *html, const char *extra, int64_t ts);
/* The oldest pending (unsent, not parked) row with id > after, whatever its
 * next_at; GV_ENOTFOUND when none. */
GV_MUST_CHECK enum gv_err gv_store_outbox_next(struct gv_store *s, int64_t after, struct gv_out *out);
GV_MUST_CHECK enum gv_err gv_store_outbox_sent(struct gv_store *s, int64_t id, int64_t ts);
/* A failed delivery to try again not before next_at (wall-clock ms):
 * attempts + 1, the reason kept. */
GV_MUST_CHECK enum gv_err gv_store_outbox_later(struct gv_store *s, int64_t id, const char *why,
                                                int64_t next_at);
/* A row that can never be sent as it is: parked with its reason. */
GV_MUST_CHECK enum gv_err gv_store_outbox_park(struct gv_store *s, int64_t id, const char *why);
/* Puts a parked (or waiting) row back to pending, due now. GV_ENOTFOUND
 * when no unsent row has this id. */
GV_MUST_CHECK enum gv_err gv_store_outbox_retry(struct gv_store *s, int64_t id);
/* Whether a minutes file of this meeting already failed once (any of its
 * GV_OUT_FILE rows, sent or not, with attempts > 0). */
GV_MUST_CHECK enum gv_err gv_store_outbox_files_failed(struct gv_store *s, int64_t meeting,
                                                       bool *failed);
/* Every unsent row, pending and parked, oldest first (body and html left
 * NULL). cb returns non-zero to stop. */
GV_MUST_CHECK enum gv_err gv_store_outbox_each(struct gv_store *s,
                                               int (*cb)(void *ud, const struct gv_out *o),
                                               void *ud);
void gv_out_clear(struct gv_out *o);
/* Whether a row of kind for meeting (extra's "meeting") is still pending
 * (unsent, not parked). */
GV_MUST_CHECK enum gv_err gv_store_outbox_meeting_waits(struct gv_store *s, enum gv_out_kind kind,
                                                        int64_t meeting, bool *waits);

/* The outbox row of a meeting's minutes message in its own room (not a
 * cross-post, not an edit): its id, whether it was sent, whether parked.
 * GV_ENOTFOUND when there is none. */
GV_MUST_CHECK enum gv_err gv_store_outbox_minutes_row(struct gv_store *s, int64_t meeting,
                                                      int64_t *id, bool *sent, bool *parked);

/* Publications: where a meeting's notes went (target "wiki:0", link a URL).
 * Adding one also gives the items discussed in the meeting this notes link
 * when they have none yet, or only a page name and this is a URL. */
GV_MUST_CHECK enum gv_err gv_store_publication_add(struct gv_store *s, int64_t meeting,
                                                   const char *target, const char *link,
                                                   int64_t ts);
/* Every publication of a meeting, oldest first. */
GV_MUST_CHECK enum gv_err gv_store_publications(struct gv_store *s, int64_t meeting,
                                                void (*cb)(void *ud, const char *target,
                                                           const char *link),
                                                void *ud);
/* An agenda item's link to the notes it was discussed in; *link NULL when
 * none (yet). GV_ENOTFOUND: no such item. */
GV_MUST_CHECK enum gv_err gv_store_item_notes_link(struct gv_store *s, int64_t id, char **link);

/* Meeting series (store/series.c, issue 10). A series is named by its
 * configured name; an occurrence by its instant (UTC ms). */
enum gv_timer_kind { GV_TIMER_RELEASE = 0, GV_TIMER_REMIND = 1 };
enum gv_timer_state { GV_TIMER_DONE = 0, GV_TIMER_LATE = 1, GV_TIMER_SKIPPED = 2 };
/* Records a timer as done, done late or skipped at `at` (it was due at
 * `due`); *fresh (may be NULL) is false when it was recorded already (then
 * nothing changes). */
GV_MUST_CHECK enum gv_err gv_store_timer_set(struct gv_store *s, const char *series, int64_t occ,
                                             enum gv_timer_kind kind, enum gv_timer_state state,
                                             int64_t due, int64_t at, bool *fresh);
/* Has the timer been recorded (any state)? *state is set when it has. */
GV_MUST_CHECK enum gv_err gv_store_timer_get(struct gv_store *s, const char *series, int64_t occ,
                                             enum gv_timer_kind kind, bool *recorded,
                                             enum gv_timer_state *state);
/* A release message of an occurrence: its outbox row; its event ID once
 * sent (gv_store_release_sent is a no-op for a row that is no release). */
GV_MUST_CHECK enum gv_err gv_store_release_add(struct gv_store *s, int64_t row, const char *series,
                                               int64_t occ, const char *room, int64_t ts);
GV_MUST_CHECK enum gv_err gv_store_release_sent(struct gv_store *s, int64_t row,
                                                const char *event_id);
/* The occurrence a sent release message is of; GV_ENOTFOUND for any other
 * event. *series is the caller's to free. */
GV_MUST_CHECK enum gv_err gv_store_release_by_event(struct gv_store *s, const char *event_id,
                                                    char **series, int64_t *occ);
/* The event ID of release row `row` (row 0: the newest sent release, its
 * row in *row_out, may be NULL); GV_ENOTFOUND when none is sent. */
GV_MUST_CHECK enum gv_err gv_store_release_event(struct gv_store *s, int64_t row,
                                                 char **event_id, int64_t *row_out);
/* Was the occurrence released (by its timer or by hand)? */
GV_MUST_CHECK enum gv_err gv_store_released(struct gv_store *s, const char *series, int64_t occ,
                                            bool *released);
/* Attendance: user (full ID) comes or not to the occurrence; item 0 for
 * the whole occurrence, else an agenda item's ID; event_id: the event that
 * said so (a reaction, a command). _clear forgets every answer of the user
 * for the occurrence. _each: in the order given. */
GV_MUST_CHECK enum gv_err gv_store_attend_set(struct gv_store *s, const char *series, int64_t occ,
                                              const char *user_id, int64_t item, bool coming,
                                              const char *event_id, int64_t ts);
GV_MUST_CHECK enum gv_err gv_store_attend_clear(struct gv_store *s, const char *series,
                                                int64_t occ, const char *user_id);
GV_MUST_CHECK enum gv_err gv_store_attend_each(struct gv_store *s, const char *series, int64_t occ,
                                               void (*cb)(void *ud, const char *user_id,
                                                          int64_t item, bool coming),
                                               void *ud);
/* Takes back the answers an event gave (a redacted reaction): *series
 * (caller frees) and *occ of them, or *series NULL when it gave none. */
GV_MUST_CHECK enum gv_err gv_store_attend_del_event(struct gv_store *s, const char *event_id,
                                                    char **series, int64_t *occ);
/* Why an item is postponed by attendance (GV_ENOTFOUND: it is not); the
 * strings are the caller's to free. */
GV_MUST_CHECK enum gv_err gv_store_postponed_get(struct gv_store *s, int64_t item, char **series,
                                                 int64_t *occ, char **reason);
GV_MUST_CHECK enum gv_err gv_store_postponed_set(struct gv_store *s, int64_t item,
                                                 const char *series, int64_t occ,
                                                 const char *reason);
GV_MUST_CHECK enum gv_err gv_store_postponed_del(struct gv_store *s, int64_t item);
/* Did a meeting start in room (or room2, may be NULL) at or after since?
 * With series (may be NULL: any), only a meeting of that series or of
 * none counts. */
GV_MUST_CHECK enum gv_err gv_store_meeting_started_since(struct gv_store *s, const char *room,
                                                         const char *room2, const char *series,
                                                         int64_t since, bool *started);
/* gv_store_outbox_add() that also gives the new row's ID. */
GV_MUST_CHECK enum gv_err gv_store_outbox_add_id(struct gv_store *s, enum gv_out_kind kind,
                                                 const char *room, const char *body,
                                                 const char *html, const char *extra, int64_t ts,
                                                 int64_t *id);

/* End-to-end encryption state (store/crypto.c), for bridge/crypto.c only.
 * Pickles are libolm's, already encrypted with the pickle key; the store
 * never sees a key in the clear. Getters return GV_ENOTFOUND when absent;
 * strings handed out are the caller's to free (and wipe). */
GV_MUST_CHECK enum gv_err gv_store_crypto_account_get(struct gv_store *s, char **user_id,
                                                      char **device_id, char **pickle);
GV_MUST_CHECK enum gv_err gv_store_crypto_account_set(struct gv_store *s, const char *user_id,
                                                      const char *device_id, const char *pickle);
/* Named secrets (cross-signing seeds), pickled. */
GV_MUST_CHECK enum gv_err gv_store_crypto_secret_get(struct gv_store *s, const char *name,
                                                     char **pickle);
GV_MUST_CHECK enum gv_err gv_store_crypto_secret_set(struct gv_store *s, const char *name,
                                                     const char *pickle);
/* Olm sessions by the other device's curve25519 key; each most recently
 * used first. cb returns non-zero to stop. */
GV_MUST_CHECK enum gv_err gv_store_olm_session_set(struct gv_store *s, const char *sender_key,
                                                   const char *session_id, const char *pickle,
                                                   int64_t last_used);
GV_MUST_CHECK enum gv_err gv_store_olm_sessions(struct gv_store *s, const char *sender_key,
                                                int (*cb)(void *ud, const char *session_id,
                                                          const char *pickle),
                                                void *ud);
/* Inbound Megolm sessions by room, sender key and session ID, with the
 * ed25519 key the sender claimed. */
GV_MUST_CHECK enum gv_err gv_store_megolm_in_set(struct gv_store *s, const char *room,
                                                 const char *sender_key, const char *session_id,
                                                 const char *ed25519, const char *pickle);
GV_MUST_CHECK enum gv_err gv_store_megolm_in_get(struct gv_store *s, const char *room,
                                                 const char *sender_key, const char *session_id,
                                                 char **ed25519, char **pickle);
/* Records that a session's message index was seen in event_id: *fresh is
 * true when new or seen in the same event, false when another event had it. */
GV_MUST_CHECK enum gv_err gv_store_megolm_seen(struct gv_store *s, const char *room,
                                               const char *sender_key, const char *session_id,
                                               int64_t index, const char *event_id, bool *fresh);
/* The outbound Megolm session of a room. */
struct gv_megolm_out {
        char *session_id;
        char *pickle;
        int64_t created;        /* ms */
        int64_t messages;       /* encrypted with it so far */
};
GV_MUST_CHECK enum gv_err gv_store_megolm_out_get(struct gv_store *s, const char *room,
                                                  struct gv_megolm_out *out);
GV_MUST_CHECK enum gv_err gv_store_megolm_out_set(struct gv_store *s, const char *room,
                                                  const struct gv_megolm_out *o);
/* Drops the room's outbound session and who had it. */
GV_MUST_CHECK enum gv_err gv_store_megolm_out_del(struct gv_store *s, const char *room);
void gv_megolm_out_clear(struct gv_megolm_out *o);
/* Who was given an outbound session's key. */
GV_MUST_CHECK enum gv_err gv_store_megolm_shared_add(struct gv_store *s, const char *room,
                                                     const char *session_id, const char *user_id,
                                                     const char *device_id);
GV_MUST_CHECK enum gv_err gv_store_megolm_shared_has(struct gv_store *s, const char *room,
                                                     const char *session_id, const char *user_id,
                                                     const char *device_id, bool *has);
/* Other users' devices (keys: the signed device_keys JSON) and whether
 * each tracked user's list must be queried again. */
GV_MUST_CHECK enum gv_err gv_store_crypto_device_set(struct gv_store *s, const char *user_id,
                                                     const char *device_id, const char *curve25519,
                                                     const char *ed25519, const char *keys);
GV_MUST_CHECK enum gv_err gv_store_crypto_device_del(struct gv_store *s, const char *user_id,
                                                     const char *device_id);
GV_MUST_CHECK enum gv_err gv_store_crypto_devices(struct gv_store *s, const char *user_id,
                                                  int (*cb)(void *ud, const char *device_id,
                                                            const char *curve25519,
                                                            const char *ed25519, const char *keys),
                                                  void *ud);
GV_MUST_CHECK enum gv_err gv_store_crypto_user_set(struct gv_store *s, const char *user_id,
                                                   bool outdated);
/* Forgets the user and every device of theirs. */
GV_MUST_CHECK enum gv_err gv_store_crypto_user_del(struct gv_store *s, const char *user_id);
GV_MUST_CHECK enum gv_err gv_store_crypto_users_outdated(struct gv_store *s,
                                                         int (*cb)(void *ud, const char *user_id),
                                                         void *ud);
/* Encrypted room events whose key has not arrived (the Matrix client's):
 * the event as received (JSON), since when (ms). Adding one already there
 * is a no-op. each: those of session_id (NULL: all), oldest first; cb
 * returns non-zero to stop. */
struct gv_waiting {
        const char *event_id, *room, *session_id, *event;
        int64_t since;
};
GV_MUST_CHECK enum gv_err gv_store_crypto_wait_add(struct gv_store *s, const char *event_id,
                                                   const char *room, const char *session_id,
                                                   const char *event, int64_t since);
GV_MUST_CHECK enum gv_err gv_store_crypto_wait_each(struct gv_store *s, const char *session_id,
                                                    int (*cb)(void *ud,
                                                              const struct gv_waiting *w),
                                                    void *ud);
GV_MUST_CHECK enum gv_err gv_store_crypto_wait_del(struct gv_store *s, const char *event_id);
GV_MUST_CHECK enum gv_err gv_store_crypto_wait_count(struct gv_store *s, int64_t *n);

#endif
