/* util/config.h - gavel's configuration: one table of keys (type, bounds,
 * default, help) drives parsing, validation, defaults and the docs.
 * Pure: parses a JSON text; gv_config_load() only adds reading the file.
 * Knows nothing about Matrix or meetings beyond the names of its keys. */
#ifndef GV_CONFIG_H
#define GV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define GV_CONFIG_MAX_BYTES (1024 * 1024)

enum gv_ack { GV_ACK_REACTION = 0, GV_ACK_NOTICE, GV_ACK_NONE };

struct gv_tag_map {
        char *tag;      /* lower case, without the leading '#' */
        char *agenda;
};

struct gv_room_map {
        char *room;     /* room ID, alias or console room name */
        char *agenda;
};

struct gv_config {
        char *database;                 /* "database": "./gavel.db" */
        char *archive_dir;              /* "archive_dir": "./minutes" */
        char *bot_name;                 /* "bot_name": "gavel" */
        char *homeserver;               /* "homeserver": "" (console) */
        char *user_id;                  /* "user_id": "" */
        char *channel;                  /* "channel": "#meeting" (MeetBot files' title) */
        char *minutes_filename;         /* "minutes_filename": "" or "{channel}.%F-%H.%M" */
        char *logs_url;                 /* "logs_url": "" (MeetBot's logUrlPrefix) */
        char *command_prefixes;         /* "command_prefixes": ["#", "!"] -> "#!" */
        struct gv_tag_map *tags;        /* "tags": {"architecture": "architecture", ...} */
        size_t n_tags;
        char *default_agenda;           /* "default_agenda": agenda of the first tag */
        struct gv_room_map *rooms;      /* "rooms": {"!abc:example.org": "architecture"} */
        size_t n_rooms;
        enum gv_ack ack;                /* "ack": "reaction" | "notice" | "none" */
        char *ack_reaction;             /* "ack_reaction": "👀" */
        char **crosspost_rooms;         /* "crosspost_rooms": [] */
        size_t n_crosspost_rooms;
        char *meeting_label;            /* "meeting_label": "Arch call" */
        int64_t chair_power_level;      /* "chair_power_level": 50 (0..100) */
        int64_t max_message_bytes;      /* "max_message_bytes": 65536 (1024..1048576) */
        char **replay_ignore_nicks;     /* "replay_ignore_nicks": ["zodbot", "MeetBot"] */
        size_t n_replay_ignore_nicks;
        int log_level;                  /* "log_level": "warning" -> enum gv_log_level */
        /* Matrix */
        char *access_token_file;        /* "access_token_file": "" ($CREDENTIALS_DIRECTORY) */
        char *password_file;            /* "password_file": "" ($CREDENTIALS_DIRECTORY) */
        char *pickle_key_file;          /* "pickle_key_file": "" ($CREDENTIALS_DIRECTORY) */
        char **allow_invites_from;      /* "allow_invites_from": [] users "@a:b" or servers ":b" */
        size_t n_allow_invites_from;
        int initial_history;            /* "initial_history": "skip" (0) | "process" (1) */
        int64_t sync_timeout_ms;        /* "sync_timeout_ms": 30000 (0..120000) */
        int64_t backoff_max_ms;         /* "backoff_max_ms": 60000 (100..3600000) */
        int64_t gap_fill_max_events;    /* "gap_fill_max_events": 10000 (0..10000000) */
        int64_t room_send_per_s;        /* "room_send_per_s": 10 (1..1000) */
};

/* The built-in defaults: with no config file at all seed 000's flow works
 * (#architecture and #cust-arch -> agenda "architecture"). */
GV_MUST_CHECK enum gv_err gv_config_defaults(struct gv_config **ret);
/* Parses JSON text over the defaults. On failure *ret is untouched and err
 * holds one line naming the key and why, e.g.
 * "key \"chair_power_level\": must be an integer from 0 to 100, got 500". */
GV_MUST_CHECK enum gv_err gv_config_parse(const char *json, size_t len, struct gv_config **ret,
                                          char *err, size_t errlen);
/* Reads path (at most GV_CONFIG_MAX_BYTES) and parses it; err is prefixed
 * with the path: "gavel.json: key \"tags\": ...". */
GV_MUST_CHECK enum gv_err gv_config_load(const char *path, struct gv_config **ret, char *err,
                                         size_t errlen);
struct gv_config *gv_config_free(struct gv_config *c); /* NULL is fine; returns NULL */

/* tag: without '#', need not be NUL-terminated, matched case-insensitively.
 * NULL when the word is not a configured tag. */
const char *gv_config_agenda_for_tag(const struct gv_config *c, const char *tag, size_t len);
/* The room's agenda: its "rooms" entry, else default_agenda. Never NULL. */
const char *gv_config_agenda_for_room(const struct gv_config *c, const char *room);
bool gv_config_is_prefix(const struct gv_config *c, char ch);
/* Writes the key table as documentation (one line per key) to a buffer-
 * free callback: used by --help-config. */
void gv_config_describe(void (*line)(void *ud, const char *text), void *ud);

#endif
