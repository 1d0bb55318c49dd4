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

/* How a wiki page lays out a meeting (handlers/wiki.h renders each). */
enum gv_flavour { GV_FLAVOUR_RESIN = 0, GV_FLAVOUR_AGORA, GV_FLAVOUR_MEETBOT, GV_FLAVOUR_STANDUP };

struct gv_recur;

/* One "wiki" entry: exactly one of git and mediawiki is set. Secrets are
 * never here, only the files that hold them (see gv_config_secret_path). */
struct gv_wiki_cfg {
        char *git;              /* remote URL, or NULL */
        char *branch;           /* git: "master" */
        char *mediawiki;        /* api.php URL, or NULL */
        char *user;             /* MediaWiki bot-password user, NULL for git */
        char *page;
        char *url;              /* the page on the web, for links back; NULL: what the
                                 * publisher knows (GitHub, GitLab, MediaWiki) */
        char *section;          /* "Recent Meeting Notes" */
        enum gv_flavour flavour;
        char **agendas;         /* NULL (n_agendas 0): every agenda */
        size_t n_agendas;
        char *token_file;       /* git HTTPS token, "" or NULL: $CREDENTIALS_DIRECTORY */
        char *ssh_key_file;
        char *known_hosts_file; /* ssh host keys; NULL: $CREDENTIALS_DIRECTORY/wiki-N-known-hosts
                                 * if there, else ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts */
        char *password_file;    /* MediaWiki bot password */
};

/* Webhook events, as bits of gv_webhook_cfg.events. */
#define GV_HOOK_ITEM_ADDED 1u
#define GV_HOOK_ITEM_DISCUSSED 2u
#define GV_HOOK_MINUTES_PUBLISHED 4u

struct gv_webhook_cfg {
        char *url;
        unsigned events;        /* GV_HOOK_* */
        char *secret_file;      /* the HMAC key; NULL: $CREDENTIALS_DIRECTORY/webhook-N-secret */
};

/* One "series" entry: a recurring meeting (issue 10). */
struct gv_series_cfg {
        char *name;                     /* "Arch call" (required, unique) */
        char *room;                     /* where it meets: room ID, alias or console room */
        char *agenda;                   /* default: the room's agenda (gv_config_agenda_for_room,
                                         * filled in by the parser: never NULL) */
        char *rrule;                    /* as given (see util/recur.h); may hold content lines */
        char *tz;                       /* IANA zone, default "UTC" */
        char **exdate;                  /* local "2026-12-24T15:00" or "2026-12-24" to skip */
        size_t n_exdate;
        int64_t release_before_min;     /* 60 (0..10080); 0: no release */
        char *release_room;             /* default: room */
        int64_t remind_before_min;      /* 5 (0..1440); 0: no reminder */
        enum gv_flavour flavour;        /* resin (default), agora, meetbot, standup */
        struct gv_recur *recur;         /* rrule + tz + exdate, compiled when parsed */
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
        /* Publishing (issue 9) */
        struct gv_wiki_cfg *wiki;       /* "wiki": [] */
        size_t n_wiki;
        struct gv_webhook_cfg *webhooks;        /* "webhooks": [] */
        size_t n_webhooks;
        /* Meeting series (issue 10) */
        struct gv_series_cfg *series;   /* "series": [] */
        size_t n_series;
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
/* Whether wiki i publishes meetings of agenda. */
bool gv_config_wiki_wants(const struct gv_config *c, size_t i, const char *agenda);
/* The webhook event's bit ("item.added" -> GV_HOOK_ITEM_ADDED), 0 if none;
 * and its name. */
unsigned gv_config_hook_event(const char *name);
const char *gv_config_hook_name(unsigned event);
/* The file holding a secret: the configured *_file when set, else
 * $CREDENTIALS_DIRECTORY/<cred> (e.g. "wiki-0-token"); NULL when neither.
 * Writes into out. */
const char *gv_config_secret_path(const char *file, const char *cred, char *out, size_t n);
/* Writes the key table as documentation (one line per key) to a buffer-
 * free callback: used by --help-config. */
void gv_config_describe(void (*line)(void *ud, const char *text), void *ud);

#endif
