/* util/config.c - see config.h
 *
 * Every key is one row of keys[] below: its type, bounds, default (as JSON
 * text, applied through the same setter as a user's value) and help. The
 * parser, the defaults, gv_config_free() and gv_config_describe() all walk
 * that table; nothing else knows the list of keys. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "recur.h"
#include "text.h"

#define MAX_STRING 4096         /* bytes in any string value */
#define MAX_NAME 64             /* bytes in a tag or agenda name */
#define MAX_USER_ID 255         /* bytes in a Matrix user ID */
#define MAX_PREFIXES 8          /* entries in command_prefixes */
#define MAX_SHOWN 40            /* bytes of user text echoed in an error */
#define SHOWN_SIZE (3 * MAX_SHOWN + 8)  /* show_text() output, cleaned */
#define GOT_SIZE (SHOWN_SIZE + 8)       /* show_value() output */
#define MAX_DOC_LINE 4096       /* bytes in one gv_config_describe() line */
#define MAX_EXDATES 256         /* entries in a series' exdate */
#define TOO_BIG "larger than %d bytes"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum kind {
        K_STRING,       /* char * */
        K_INT,          /* int64_t */
        K_CHOICE,       /* an enum, stored as int: index into choices */
        K_LIST,         /* char ** + size_t count */
        K_PREFIXES,     /* char *: one character per prefix */
        K_TAGS,         /* struct gv_tag_map * + size_t count */
        K_ROOMS,        /* struct gv_room_map * + size_t count */
        K_WIKIS,        /* struct gv_wiki_cfg * + size_t count */
        K_WEBHOOKS,     /* struct gv_webhook_cfg * + size_t count */
        K_SERIES,       /* struct gv_series_cfg * + size_t count */
};

/* An extra rule for a string beyond length and "no control characters". */
struct rule {
        bool (*ok)(const char *s);
        const char *must;       /* error: "must <must>, got ..." */
        const char *doc;        /* type in the docs */
};

struct key {
        const char *name;
        enum kind kind;
        size_t off;                     /* the field in struct gv_config */
        size_t n_off;                   /* K_LIST, K_TAGS, K_ROOMS: its count */
        int64_t min, max;               /* K_INT: value; K_STRING: bytes; else entries */
        const char *const *choices;     /* K_CHOICE: NULL-terminated */
        const struct rule *rule;        /* K_STRING: NULL if none */
        const char *def;                /* JSON text; NULL: derive_default_agenda() */
        const char *help;
};

static bool is_name_char(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '_' || ch == '-';
}

/* Tag and agenda names: 1..64 of [A-Za-z0-9_-]. */
static bool is_name(const char *s)
{
        size_t n;

        for (n = 0; s[n]; n++)
                if (!is_name_char(s[n]))
                        return false;
        return n >= 1 && n <= MAX_NAME;
}

/* @local:server, without spaces. Control characters are refused before. */
static bool is_user_id(const char *s)
{
        const char *colon = strchr(s, ':');

        return s[0] == '@' && colon && colon > s + 1 && colon[1] != '\0' && !strchr(s, ' ') &&
               strlen(s) <= MAX_USER_ID;
}

static const struct rule agenda_rule = {
        is_name, "be an agenda name (1 to 64 of A-Z a-z 0-9 _ -)", "agenda name",
};

static const struct rule user_id_rule = {
        is_user_id, "look like @local:server", "Matrix user ID (@local:server) or empty",
};

static const char punctuation[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

static const char *const ack_names[] = { "reaction", "notice", "none", NULL };
static const char *const log_level_names[] = { "error", "warning", "info", "debug", NULL };
static const char *const initial_history_names[] = { "skip", "process", NULL };

_Static_assert(GV_ACK_REACTION == 0 && GV_ACK_NOTICE == 1 && GV_ACK_NONE == 2,
               "ack_names[] follows enum gv_ack");
_Static_assert(GV_LOG_ERROR == 0 && GV_LOG_WARN == 1 && GV_LOG_INFO == 2 && GV_LOG_DEBUG == 3,
               "log_level_names[] follows enum gv_log_level");
_Static_assert(sizeof(enum gv_ack) == sizeof(int), "K_CHOICE fields are stored as int");

#define OFF(field) offsetof(struct gv_config, field)
#define STRING(n, lo, hi, r, d, h) { #n, K_STRING, OFF(n), 0, lo, hi, NULL, r, d, h }
#define INT(n, lo, hi, d, h) { #n, K_INT, OFF(n), 0, lo, hi, NULL, NULL, d, h }
#define CHOICE(n, c, d, h) { #n, K_CHOICE, OFF(n), 0, 0, 0, c, NULL, d, h }
#define COUNTED(n, k, lo, hi, d, h) { #n, k, OFF(n), OFF(n_##n), lo, hi, NULL, NULL, d, h }

/* In the order of the docs. "tags" comes before "default_agenda", whose
 * default is derived from it. */
static const struct key keys[] = {
        STRING(homeserver, 0, MAX_STRING, NULL, "\"\"",
               "Matrix homeserver base URL, e.g. \"https://matrix.example.org\"; empty: "
               "found through /.well-known from user_id, or, without a user_id either, "
               "the bot runs on the console (stdin/stdout)"),
        STRING(user_id, 0, MAX_USER_ID, &user_id_rule, "\"\"",
               "the bot's Matrix user ID, used to log in and to ignore its own messages; "
               "empty on the console"),
        STRING(bot_name, 1, MAX_STRING, NULL, "\"gavel\"",
               "the bot's display name and console nick"),
        STRING(database, 1, MAX_STRING, NULL, "\"./gavel.db\"",
               "SQLite database file: meetings, agenda items, the sync token and the outbox"),
        STRING(archive_dir, 1, MAX_STRING, NULL, "\"./minutes\"",
               "directory for MeetBot-style minutes and logs "
               "(NAME.html, NAME.txt, NAME.log.html, NAME.log.txt, index.html)"),
        STRING(channel, 1, MAX_STRING, NULL, "\"#meeting\"",
               "the channel the MeetBot-style files name: their title is \"<channel>: <meeting "
               "title>\" (\"<channel> Meeting\" for a bare #startmeeting) and it is the "
               "{channel} field of minutes_filename and logs_url; `gavel replay` takes it from "
               "--channel, else a .log.html's title, else a \"channel.YYYY-MM-DD-HH.MM.log.txt\" "
               "file name"),
        STRING(minutes_filename, 0, MAX_STRING, NULL, "\"\"",
               "base name of a meeting's archive files, MeetBot's filenamePattern: {channel} "
               "(the channel without '#', lowercased), {meetingname} (the #meetingname or "
               "#startmeeting name, lowercased, spaces as '_'; the channel for a bare "
               "#startmeeting) and the start time in UTC as %Y %m %d %H %M %S, %F (%Y-%m-%d) "
               "and %% ('%'), e.g. \"{channel}.%F-%H.%M\"; characters other than "
               "[A-Za-z0-9._-] become '_' and a name already taken gets \"-2\", \"-3\", ...; "
               "empty: NAME.YYYY-MM-DD-HH.MM"),
        STRING(logs_url, 0, MAX_STRING, NULL, "\"\"",
               "MeetBot's logUrlPrefix: what goes before the log's file name in the minutes' "
               "\"full logs are available at\" link, e.g. \"https://meetbot.example.org/"
               "{channel}/%F/\" (the same fields as minutes_filename; a '/' is added when "
               "missing); empty: the bare file name"),
        { "command_prefixes", K_PREFIXES, OFF(command_prefixes), 0, 1, MAX_PREFIXES, NULL, NULL,
          "[\"#\",\"!\"]",
          "characters that start a meeting command at the beginning of a line: "
          "\"#\" for MeetBot's #startmeeting, \"!\" for Matrix-bot style !startmeeting" },
        COUNTED(tags, K_TAGS, 0, 64,
                "{\"architecture\":\"architecture\",\"cust-arch\":\"architecture\"}",
                "a message whose first line carries #<tag> "
                "(\"#architecture <brief> cc @people\") puts that line on the tag's agenda; "
                "tags match case-insensitively and are written with or without the '#'"),
        STRING(default_agenda, 1, MAX_NAME, &agenda_rule, NULL,
               "the agenda of rooms not listed in \"rooms\""),
        COUNTED(rooms, K_ROOMS, 0, 256, "{}",
                "the agenda of each listed room's meetings, by room ID, alias or console "
                "room name"),
        CHOICE(ack, ack_names, "\"reaction\"",
               "how the bot acknowledges a tagged message it put on the agenda: "
               "a reaction, an m.notice reply, or not at all"),
        STRING(ack_reaction, 1, 64, NULL, "\"\xf0\x9f\x91\x80\"",
               "the reaction key sent when ack is \"reaction\""),
        COUNTED(crosspost_rooms, K_LIST, 0, 64, "[]",
                "rooms that also get the minutes, under a line "
                "\"#meeting-notes for <date> <meeting name>\""),
        STRING(meeting_label, 1, MAX_STRING, NULL, "\"Meeting\"",
               "the name of a meeting started with a bare #startmeeting; it ends the "
               "cross-post heading, e.g. \"#meeting-notes for 12 Jul 2018 Arch call\""),
        INT(chair_power_level, 0, 100, "50",
            "users at or above this power level are chairs"),
        INT(max_message_bytes, 1024, 1048576, "65536",
            "ceiling in bytes on one message body the bot acts on; longer ones are refused with a reply"),
        COUNTED(replay_ignore_nicks, K_LIST, 0, 64, "[\"zodbot\",\"MeetBot\"]",
                "nicks whose lines are skipped when replaying a MeetBot IRC log "
                "(the old meeting bots' own output)"),
        CHOICE(log_level, log_level_names, "\"warning\"",
               "the least severe messages written to stderr"),
        STRING(access_token_file, 0, MAX_STRING, NULL, "\"\"",
               "file holding the bot's access token; empty: $CREDENTIALS_DIRECTORY/access_token "
               "if present (secrets never go in this JSON)"),
        STRING(password_file, 0, MAX_STRING, NULL, "\"\"",
               "file holding the bot's password, used to log in (again) with m.login.password; "
               "empty: $CREDENTIALS_DIRECTORY/password if present"),
        STRING(pickle_key_file, 0, MAX_STRING, NULL, "\"\"",
               "file holding the key that encrypts the end-to-end encryption state in the "
               "database; empty: $CREDENTIALS_DIRECTORY/pickle_key if present (never a constant, "
               "never in this JSON)"),
        COUNTED(allow_invites_from, K_LIST, 0, 256, "[]",
                "invites are accepted when the inviter is listed (\"@alice:example.org\"), or "
                "their server (\":example.org\"), or the room (\"!room:example.org\"); others "
                "are declined"),
        CHOICE(initial_history, initial_history_names, "\"skip\"",
               "on the very first sync, \"skip\" the rooms' old messages or \"process\" them"),
        INT(sync_timeout_ms, 0, 120000, "30000",
            "long-poll timeout of /sync in milliseconds"),
        INT(backoff_max_ms, 100, 3600000, "60000",
            "longest wait in milliseconds between retries after errors (backoff doubles up to it)"),
        INT(gap_fill_max_events, 0, 10000000, "10000",
            "after a time away, how many missed events per room gavel fetches back and handles; "
            "beyond them it posts one notice in the room saying how many it skipped"),
        INT(room_send_per_s, 1, 1000, "10",
            "events a second the bot sends into one room after a burst of twice as many (a "
            "flood in one room never delays another room, and stays under the homeserver's "
            "rate limits)"),
        COUNTED(wiki, K_WIKIS, 0, 16, "[]",
                "wiki pages the notes are published to at #endmeeting, each an object: "
                "{\"git\": remote URL (https://, http://, ssh://, file:// or user@host:path), "
                "\"branch\" (\"master\"), \"page\" (\"Architecture-Call.md\"), \"section\" "
                "(\"Recent Meeting Notes\"), \"flavour\" (\"resin\" | \"agora\" | \"meetbot\" | "
                "\"standup\"), "
                "\"agendas\" (omitted: every agenda), \"url\" (the page on the web, for the links "
                "back; GitHub and GitLab wikis are known without it), \"token_file\", "
                "\"ssh_key_file\", \"known_hosts_file\" (ssh host keys trusted; default "
                "~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)} or "
                "{\"mediawiki\": api.php URL, \"page\", \"user\" (a bot-password user "
                "\"Name@bot\"), \"password_file\", \"section\", \"flavour\", \"agendas\"}; "
                "secrets come from the *_file keys or $CREDENTIALS_DIRECTORY/wiki-N-token, "
                "wiki-N-ssh-key, wiki-N-known-hosts, wiki-N-password (N counting from 0); git work directories are "
                "kept next to the database (<database>.wiki-N)"),
        COUNTED(webhooks, K_WEBHOOKS, 0, 16, "[]",
                "receivers of signed JSON POSTs, each {\"url\", \"events\": any of "
                "\"item.added\", \"item.discussed\", \"minutes.published\" (omitted: all), "
                "\"secret_file\"}; the body's HMAC-SHA256 with the secret (the file, else "
                "$CREDENTIALS_DIRECTORY/webhook-N-secret) goes in X-Gavel-Signature: sha256=<hex>, "
                "the delivery's stable id in X-Gavel-Delivery"),
        COUNTED(series, K_SERIES, 0, 64, "[]",
                "recurring meetings, each an object: {\"name\" (required, unique: the "
                "meeting's name), \"room\" (required: where it meets), \"agenda\" (omitted: "
                "the room's agenda, from \"rooms\" or default_agenda), \"rrule\" (required: "
                "an RFC 5545 RRULE in the zone's wall-clock time, e.g. "
                "\"FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15;BYMINUTE=0\", or iCalendar lines "
                "\"DTSTART:20260105T150000\\nRRULE:...\\nEXDATE:20261224T150000\"; without "
                "DTSTART it starts Monday 2024-01-01 00:00, so minutes not given are :00; "
                "hourly at most), \"tz\" (an IANA zone from the system tzdata, \"UTC\"), "
                "\"exdate\" (local dates \"2026-12-24\" or date-times \"2026-12-24T15:00\" "
                "to skip), \"release_before_min\" (60, 0..10080, 0: no release: the agenda is "
                "posted that long before each meeting), \"release_room\" (the room), "
                "\"remind_before_min\" (5, 0..1440, 0: no reminder), \"flavour\" "
                "(\"resin\" | \"agora\" | \"meetbot\" | \"standup\")}; a wall-clock time "
                "skipped by a DST change is taken with the offset before it (02:30 becomes "
                "03:30), one that happens twice is the first"),
};

#define FIELD(c, k, type) ((type *)(void *)((char *)(c) + (k)->off))
#define COUNT(c, k) ((size_t *)(void *)((char *)(c) + (k)->n_off))

static const struct key *find_key(const char *name)
{
        size_t i;

        for (i = 0; i < ARRAY_SIZE(keys); i++)
                if (strcmp(keys[i].name, name) == 0)
                        return &keys[i];
        return NULL;
}


/* "key \"<name>\": <why>", always GV_ECONFIG. */
__attribute__((format(printf, 4, 5)))
static enum gv_err bad_key(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (!err || !errlen)
                return GV_ECONFIG;
        n = snprintf(err, errlen, "key \"%s\": ", name);
        if (n >= 0 && (size_t)n < errlen) {
                va_start(ap, fmt);
                vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
                va_end(ap);
        }
        return GV_ECONFIG;
}

/* User text for an error message: bounded, one line, no control characters. */
static void show_text(const char *s, char *out, size_t n)
{
        struct gv_buf cut = GV_BUF_INIT(MAX_SHOWN + 3);
        struct gv_buf clean = GV_BUF_INIT(SHOWN_SIZE - 1);

        if (gv_echo(&cut, s, MAX_SHOWN) == GV_OK &&
            gv_utf8_clean(&clean, gv_buf_str(&cut), cut.len) == GV_OK)
                snprintf(out, n, "%s", gv_buf_str(&clean));
        else
                snprintf(out, n, "...");
        gv_buf_free(&cut);
        gv_buf_free(&clean);
}

/* A JSON value as it appears after "got" in an error. */
static void show_value(const cJSON *v, char *out, size_t n)
{
        char s[SHOWN_SIZE];
        double d;

        if (cJSON_IsString(v)) {
                show_text(v->valuestring, s, sizeof(s));
                snprintf(out, n, "\"%s\"", s);
        } else if (cJSON_IsNumber(v)) {
                d = v->valuedouble;
                if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d)
                        snprintf(out, n, "%" PRId64, (int64_t)d);
                else
                        snprintf(out, n, "%g", d);
        } else if (cJSON_IsBool(v)) {
                snprintf(out, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
        } else if (cJSON_IsNull(v)) {
                snprintf(out, n, "null");
        } else if (cJSON_IsArray(v)) {
                snprintf(out, n, "an array");
        } else {
                snprintf(out, n, "an object");
        }
}

/* "\"reaction\", \"notice\", \"none\"" */
static void join_choices(const char *const *choices, char *out, size_t n)
{
        size_t used = 0, i;
        int w;

        out[0] = '\0';
        for (i = 0; choices[i] && used < n; i++) {
                w = snprintf(out + used, n - used, "%s\"%s\"", i ? ", " : "", choices[i]);
                if (w < 0)
                        break;
                used += (size_t)w;
        }
}

/* s: min (0 or 1) to max bytes, no control characters, and the rule if any
 * (an empty string passes the rule when it is allowed at all). */
static enum gv_err check_text(const char *name, const char *s, int64_t min, int64_t max,
                              const struct rule *rule, char *err, size_t errlen)
{
        char got[GOT_SIZE];
        size_t n = strlen(s), i;

        if (n == 0 && min > 0)
                return bad_key(err, errlen, name, "must not be empty");
        if (n > (size_t)max)
                return bad_key(err, errlen, name, "must be at most %" PRId64 " bytes, got %zu",
                               max, n);
        for (i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return bad_key(err, errlen, name, "must not contain control characters");
        if (rule && n > 0 && !rule->ok(s)) {
                show_text(s, got, sizeof(got));
                return bad_key(err, errlen, name, "must %s, got \"%s\"", rule->must, got);
        }
        return GV_OK;
}

static enum gv_err check_string(const char *name, const cJSON *v, int64_t min, int64_t max,
                                const struct rule *rule, char *err, size_t errlen)
{
        char got[GOT_SIZE];

        if (!cJSON_IsString(v)) {
                show_value(v, got, sizeof(got));
                return bad_key(err, errlen, name, "must be a string, got %s", got);
        }
        return check_text(name, v->valuestring, min, max, rule, err, errlen);
}

/* An array (or an object) with k->min..k->max entries. */
static enum gv_err check_entries(const struct key *k, const cJSON *v, bool object, size_t *n,
                                 char *err, size_t errlen)
{
        char got[GOT_SIZE];
        const cJSON *e;
        size_t count = 0;

        if (object ? !cJSON_IsObject(v) : !cJSON_IsArray(v)) {
                show_value(v, got, sizeof(got));
                return bad_key(err, errlen, k->name, "must be %s, got %s",
                               object ? "an object" : "an array", got);
        }
        cJSON_ArrayForEach(e, v)
                count++;
        if (count < (size_t)k->min || count > (size_t)k->max)
                return bad_key(err, errlen, k->name,
                               "must have %" PRId64 " to %" PRId64 " entries, got %zu",
                               k->min, k->max, count);
        *n = count;
        return GV_OK;
}

static void free_strv(char **v, size_t n)
{
        size_t i;

        if (!v)
                return;
        for (i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static void wikis_free(struct gv_wiki_cfg *w, size_t n)
{
        for (size_t i = 0; w && i < n; i++) {
                free(w[i].git);
                free(w[i].branch);
                free(w[i].mediawiki);
                free(w[i].user);
                free(w[i].page);
                free(w[i].url);
                free(w[i].section);
                free_strv(w[i].agendas, w[i].n_agendas);
                free(w[i].token_file);
                free(w[i].ssh_key_file);
                free(w[i].known_hosts_file);
                free(w[i].password_file);
        }
        free(w);
}

static void series_free(struct gv_series_cfg *s, size_t n)
{
        for (size_t i = 0; s && i < n; i++) {
                free(s[i].name);
                free(s[i].room);
                free(s[i].agenda);
                free(s[i].rrule);
                free(s[i].tz);
                free_strv(s[i].exdate, s[i].n_exdate);
                free(s[i].release_room);
                gv_recur_free(s[i].recur);
        }
        free(s);
}

static void hooks_free(struct gv_webhook_cfg *h, size_t n)
{
        for (size_t i = 0; h && i < n; i++) {
                free(h[i].url);
                free(h[i].secret_file);
        }
        free(h);
}

/* Frees the key's value in c and zeroes it. */
static void clear(const struct key *k, struct gv_config *c)
{
        struct gv_tag_map *tags;
        struct gv_room_map *rooms;
        size_t i;

        switch (k->kind) {
        case K_STRING:
        case K_PREFIXES:
                free(*FIELD(c, k, char *));
                *FIELD(c, k, char *) = NULL;
                break;
        case K_INT:
        case K_CHOICE:
                break;
        case K_LIST:
                free_strv(*FIELD(c, k, char **), *COUNT(c, k));
                *FIELD(c, k, char **) = NULL;
                *COUNT(c, k) = 0;
                break;
        case K_TAGS:
                tags = *FIELD(c, k, struct gv_tag_map *);
                for (i = 0; tags && i < *COUNT(c, k); i++) {
                        free(tags[i].tag);
                        free(tags[i].agenda);
                }
                free(tags);
                *FIELD(c, k, struct gv_tag_map *) = NULL;
                *COUNT(c, k) = 0;
                break;
        case K_ROOMS:
                rooms = *FIELD(c, k, struct gv_room_map *);
                for (i = 0; rooms && i < *COUNT(c, k); i++) {
                        free(rooms[i].room);
                        free(rooms[i].agenda);
                }
                free(rooms);
                *FIELD(c, k, struct gv_room_map *) = NULL;
                *COUNT(c, k) = 0;
                break;
        case K_WIKIS:
                wikis_free(*FIELD(c, k, struct gv_wiki_cfg *), *COUNT(c, k));
                *FIELD(c, k, struct gv_wiki_cfg *) = NULL;
                *COUNT(c, k) = 0;
                break;
        case K_WEBHOOKS:
                hooks_free(*FIELD(c, k, struct gv_webhook_cfg *), *COUNT(c, k));
                *FIELD(c, k, struct gv_webhook_cfg *) = NULL;
                *COUNT(c, k) = 0;
                break;
        case K_SERIES:
                series_free(*FIELD(c, k, struct gv_series_cfg *), *COUNT(c, k));
                *FIELD(c, k, struct gv_series_cfg *) = NULL;
                *COUNT(c, k) = 0;
                break;
        }
}

static enum gv_err set_string(const struct key *k, const cJSON *v, struct gv_config *c,
                              char *err, size_t errlen)
{
        enum gv_err r;
        char *s;

        r = check_string(k->name, v, k->min, k->max, k->rule, err, errlen);
        if (r)
                return r;
        s = strdup(v->valuestring);
        if (!s)
                return gv_errf(err, errlen, GV_ENOMEM, "out of memory");
        clear(k, c);
        *FIELD(c, k, char *) = s;
        return GV_OK;
}

static enum gv_err set_int(const struct key *k, const cJSON *v, struct gv_config *c, char *err,
                           size_t errlen)
{
        char got[GOT_SIZE];
        double d = cJSON_IsNumber(v) ? v->valuedouble : 0;

        /* The range test comes first: it makes the cast defined, and NaN fails it. */
        if (!cJSON_IsNumber(v) || !(d >= (double)k->min && d <= (double)k->max) ||
            d != (double)(int64_t)d) {
                show_value(v, got, sizeof(got));
                return bad_key(err, errlen, k->name,
                               "must be an integer from %" PRId64 " to %" PRId64 ", got %s",
                               k->min, k->max, got);
        }
        *FIELD(c, k, int64_t) = (int64_t)d;
        return GV_OK;
}

static enum gv_err set_choice(const struct key *k, const cJSON *v, struct gv_config *c,
                              char *err, size_t errlen)
{
        char got[GOT_SIZE], list[128];
        int i;

        for (i = 0; cJSON_IsString(v) && k->choices[i]; i++) {
                if (strcmp(v->valuestring, k->choices[i]) == 0) {
                        *FIELD(c, k, int) = i;
                        return GV_OK;
                }
        }
        show_value(v, got, sizeof(got));
        join_choices(k->choices, list, sizeof(list));
        return bad_key(err, errlen, k->name, "must be one of %s, got %s", list, got);
}

static enum gv_err set_list(const struct key *k, const cJSON *v, struct gv_config *c,
                            char *err, size_t errlen)
{
        char name[128];
        char **list = NULL;
        const cJSON *e;
        size_t n = 0, i = 0;
        enum gv_err r;

        r = check_entries(k, v, false, &n, err, errlen);
        if (r)
                goto out;
        list = calloc(n ? n : 1, sizeof(*list));
        if (!list) {
                r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                goto out;
        }
        cJSON_ArrayForEach(e, v) {
                snprintf(name, sizeof(name), "%s[%zu]", k->name, i);
                r = check_string(name, e, 1, MAX_STRING, NULL, err, errlen);
                if (r)
                        goto out;
                list[i] = strdup(e->valuestring);
                if (!list[i]) {
                        r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                        goto out;
                }
                i++;
        }
        clear(k, c);
        *FIELD(c, k, char **) = list;
        *COUNT(c, k) = n;
        list = NULL;
        r = GV_OK;
out:
        free_strv(list, i);
        return r;
}

static enum gv_err set_prefixes(const struct key *k, const cJSON *v, struct gv_config *c,
                                char *err, size_t errlen)
{
        char got[GOT_SIZE], name[128];
        char set[MAX_PREFIXES + 1] = "";
        const cJSON *e;
        size_t n = 0, i = 0;
        enum gv_err r;
        char *s;

        r = check_entries(k, v, false, &n, err, errlen);
        if (r)
                return r;
        cJSON_ArrayForEach(e, v) {
                snprintf(name, sizeof(name), "%s[%zu]", k->name, i);
                if (!cJSON_IsString(e) || strlen(e->valuestring) != 1 ||
                    !strchr(punctuation, e->valuestring[0])) {
                        show_value(e, got, sizeof(got));
                        return bad_key(err, errlen, name,
                                       "must be one ASCII punctuation character, got %s", got);
                }
                if (strchr(set, e->valuestring[0]))
                        return bad_key(err, errlen, name, "\"%s\" given twice", e->valuestring);
                set[i++] = e->valuestring[0];
                set[i] = '\0';
        }
        s = strdup(set);
        if (!s)
                return gv_errf(err, errlen, GV_ENOMEM, "out of memory");
        clear(k, c);
        *FIELD(c, k, char *) = s;
        return GV_OK;
}

/* Checks and copies an object of name -> agenda into kv (name at 2i, agenda
 * at 2i + 1). Tag names lose their '#' and are lower-cased; a name given
 * twice (after that) is an error. */
static enum gv_err parse_map(const struct key *k, const cJSON *v, char ***ret, size_t *n_ret,
                             char *err, size_t errlen)
{
        char shown[SHOWN_SIZE], path[256];
        bool tags = k->kind == K_TAGS;
        char **kv = NULL;
        const cJSON *e;
        size_t n = 0, i = 0, j;
        const char *name;
        char *p;
        enum gv_err r;

        r = check_entries(k, v, true, &n, err, errlen);
        if (r)
                goto out;
        kv = calloc(n ? 2 * n : 1, sizeof(*kv));
        if (!kv) {
                r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                goto out;
        }
        cJSON_ArrayForEach(e, v) {
                name = e->string;
                show_text(name, shown, sizeof(shown));
                snprintf(path, sizeof(path), "%s.%s", k->name, shown);
                if (tags) {
                        if (name[0] == '#')
                                name++;
                        if (!is_name(name)) {
                                r = bad_key(err, errlen, path,
                                            "must be a tag name (1 to 64 of A-Z a-z 0-9 _ -, "
                                            "after an optional '#')");
                                goto out;
                        }
                } else {
                        r = check_text(path, name, 1, MAX_STRING, NULL, err, errlen);
                        if (r)
                                goto out;
                }
                r = check_string(path, e, 1, MAX_NAME, &agenda_rule, err, errlen);
                if (r)
                        goto out;
                kv[2 * i] = strdup(name);
                kv[2 * i + 1] = strdup(e->valuestring);
                i++;
                if (!kv[2 * i - 2] || !kv[2 * i - 1]) {
                        r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                        goto out;
                }
                for (p = kv[2 * i - 2]; tags && *p; p++)
                        if (*p >= 'A' && *p <= 'Z')
                                *p = (char)(*p - 'A' + 'a');
                for (j = 0; j + 1 < i; j++) {
                        if (strcmp(kv[2 * j], kv[2 * i - 2]) == 0) {
                                r = bad_key(err, errlen, path, "given twice");
                                goto out;
                        }
                }
        }
        *ret = kv;
        *n_ret = n;
        kv = NULL;
        r = GV_OK;
out:
        free_strv(kv, 2 * i);
        return r;
}

static enum gv_err set_map(const struct key *k, const cJSON *v, struct gv_config *c,
                           char *err, size_t errlen)
{
        struct gv_tag_map *tags = NULL;
        struct gv_room_map *rooms = NULL;
        char **kv = NULL;
        size_t n = 0, i;
        enum gv_err r;

        r = parse_map(k, v, &kv, &n, err, errlen);
        if (r)
                goto out;
        if (k->kind == K_TAGS)
                tags = calloc(n ? n : 1, sizeof(*tags));
        else
                rooms = calloc(n ? n : 1, sizeof(*rooms));
        if (!tags && !rooms) {
                r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                goto out;
        }
        /* The strings move from kv to the map. */
        clear(k, c);
        for (i = 0; i < n; i++) {
                if (tags) {
                        tags[i].tag = kv[2 * i];
                        tags[i].agenda = kv[2 * i + 1];
                } else {
                        rooms[i].room = kv[2 * i];
                        rooms[i].agenda = kv[2 * i + 1];
                }
        }
        if (tags)
                *FIELD(c, k, struct gv_tag_map *) = tags;
        else
                *FIELD(c, k, struct gv_room_map *) = rooms;
        *COUNT(c, k) = n;
        n = 0;
        r = GV_OK;
out:
        free_strv(kv, 2 * n);
        return r;
}

/* ---- "wiki", "webhooks" and "series": arrays of objects ---- */

static bool has_prefix(const char *s, const char *p)
{
        return strncmp(s, p, strlen(p)) == 0;
}

static bool is_http_url(const char *s)
{
        return (has_prefix(s, "https://") && s[8]) || (has_prefix(s, "http://") && s[7]);
}

static bool is_git_url(const char *s)
{
        const char *at = strchr(s, '@'), *colon = strchr(s, ':');

        if (is_http_url(s) || (has_prefix(s, "ssh://") && s[6]) || (has_prefix(s, "file://") && s[7]))
                return true;
        /* scp-like user@host:path */
        return at && colon && at > s && colon > at + 1 && colon[1] && !strchr(s, ' ');
}

static const char *const flavour_names[] = { "resin", "agora", "meetbot", "standup", NULL };
static const char *const hook_names[] = { "item.added", "item.discussed", "minutes.published",
                                          NULL };

_Static_assert(GV_FLAVOUR_RESIN == 0 && GV_FLAVOUR_AGORA == 1 && GV_FLAVOUR_MEETBOT == 2 &&
               GV_FLAVOUR_STANDUP == 3, "flavour_names[] follows enum gv_flavour");

/* A string member of an entry: NULL when absent (and !required). */
static enum gv_err member(const cJSON *o, const char *path, const char *name, bool required,
                          const struct rule *rule, char **out, char *err, size_t errlen)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        char full[160];
        enum gv_err r;

        snprintf(full, sizeof(full), "%s.%s", path, name);
        if (!v) {
                if (required)
                        return bad_key(err, errlen, full, "is required");
                return GV_OK;
        }
        r = check_string(full, v, 1, MAX_STRING, rule, err, errlen);
        if (r)
                return r;
        *out = strdup(v->valuestring);
        return *out ? GV_OK : gv_errf(err, errlen, GV_ENOMEM, "out of memory");
}

/* Only the listed members. */
static enum gv_err only_members(const cJSON *o, const char *path, const char *const *allowed,
                                char *err, size_t errlen)
{
        char got[GOT_SIZE], full[160];
        const cJSON *e;
        size_t i;

        cJSON_ArrayForEach(e, o) {
                for (i = 0; allowed[i] && strcmp(allowed[i], e->string) != 0; i++)
                        ;
                if (!allowed[i]) {
                        show_text(e->string, got, sizeof(got));
                        snprintf(full, sizeof(full), "%s.%s", path, got);
                        return bad_key(err, errlen, full, "unknown key");
                }
                for (const cJSON *f = o->child; f != e; f = f->next) {
                        if (strcmp(f->string, e->string) == 0) {
                                snprintf(full, sizeof(full), "%s.%s", path, e->string);
                                return bad_key(err, errlen, full, "given twice");
                        }
                }
        }
        return GV_OK;
}

static const struct rule http_rule = {
        is_http_url, "be an http:// or https:// URL", "URL",
};

static const struct rule git_rule = {
        is_git_url, "be a git remote (https://, http://, ssh://, file:// or user@host:path)",
        "git remote",
};

/* "flavour": resin (when absent), agora, meetbot or standup. */
static enum gv_err member_flavour(const cJSON *o, const char *path, enum gv_flavour *out,
                                  char *err, size_t errlen)
{
        char got[GOT_SIZE], full[160], list[128], *fl = NULL;
        enum gv_err r;
        size_t i;

        r = member(o, path, "flavour", false, NULL, &fl, err, errlen);
        if (r)
                return r;
        *out = GV_FLAVOUR_RESIN;
        if (!fl)
                return GV_OK;
        for (i = 0; flavour_names[i] && strcmp(flavour_names[i], fl) != 0; i++)
                ;
        if (!flavour_names[i]) {
                snprintf(full, sizeof(full), "%s.flavour", path);
                show_text(fl, got, sizeof(got));
                join_choices(flavour_names, list, sizeof(list));
                r = bad_key(err, errlen, full, "must be one of %s, got \"%s\"", list, got);
        } else {
                *out = (enum gv_flavour)i;
        }
        free(fl);
        return r;
}

static enum gv_err parse_wiki(const cJSON *o, const char *path, struct gv_wiki_cfg *w, char *err,
                              size_t errlen)
{
        static const char *const allowed[] = {
                "git", "branch", "mediawiki", "user", "page", "url", "section", "flavour",
                "agendas", "token_file", "ssh_key_file", "known_hosts_file", "password_file",
                NULL,
        };
        const cJSON *v;
        char got[GOT_SIZE], full[160];
        enum gv_err r;
        size_t i;

        if (!cJSON_IsObject(o)) {
                show_value(o, got, sizeof(got));
                return bad_key(err, errlen, path, "must be an object, got %s", got);
        }
        r = only_members(o, path, allowed, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "git", false, &git_rule, &w->git, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "mediawiki", false, &http_rule, &w->mediawiki, err, errlen);
        if (r)
                return r;
        if (!w->git == !w->mediawiki)
                return bad_key(err, errlen, path, "must have exactly one of \"git\" and "
                               "\"mediawiki\"");
        if (w->git) {
                static const char *const git_only[] = { "user", "password_file", NULL };

                for (i = 0; git_only[i]; i++)
                        if (cJSON_GetObjectItemCaseSensitive(o, git_only[i])) {
                                snprintf(full, sizeof(full), "%s.%s", path, git_only[i]);
                                return bad_key(err, errlen, full, "is for a \"mediawiki\" wiki");
                        }
                r = member(o, path, "branch", false, NULL, &w->branch, err, errlen);
                if (r == GV_OK && !w->branch && !(w->branch = strdup("master")))
                        r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                if (r == GV_OK)
                        r = member(o, path, "token_file", false, NULL, &w->token_file, err, errlen);
                if (r == GV_OK)
                        r = member(o, path, "ssh_key_file", false, NULL, &w->ssh_key_file, err,
                                   errlen);
                if (r == GV_OK)
                        r = member(o, path, "known_hosts_file", false, NULL, &w->known_hosts_file,
                                   err, errlen);
        } else {
                static const char *const mw_only[] = { "branch", "token_file", "ssh_key_file",
                                                       "known_hosts_file", NULL };

                for (i = 0; mw_only[i]; i++)
                        if (cJSON_GetObjectItemCaseSensitive(o, mw_only[i])) {
                                snprintf(full, sizeof(full), "%s.%s", path, mw_only[i]);
                                return bad_key(err, errlen, full, "is for a \"git\" wiki");
                        }
                r = member(o, path, "user", true, NULL, &w->user, err, errlen);
                if (r == GV_OK)
                        r = member(o, path, "password_file", false, NULL, &w->password_file, err,
                                   errlen);
        }
        if (r == GV_OK)
                r = member(o, path, "page", true, NULL, &w->page, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "url", false, &http_rule, &w->url, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "section", false, NULL, &w->section, err, errlen);
        if (r == GV_OK && !w->section && !(w->section = strdup("Recent Meeting Notes")))
                r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
        if (r == GV_OK)
                r = member_flavour(o, path, &w->flavour, err, errlen);
        if (r)
                goto out;
        v = cJSON_GetObjectItemCaseSensitive(o, "agendas");
        snprintf(full, sizeof(full), "%s.agendas", path);
        if (v) {
                const cJSON *e;
                size_t n = 0;

                if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > 64) {
                        r = bad_key(err, errlen, full, "must be an array of 1 to 64 agenda names "
                                    "(omit it for every agenda)");
                        goto out;
                }
                w->agendas = calloc((size_t)cJSON_GetArraySize(v), sizeof(*w->agendas));
                if (!w->agendas) {
                        r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                        goto out;
                }
                cJSON_ArrayForEach(e, v) {
                        char name[192];

                        snprintf(name, sizeof(name), "%s[%zu]", full, n);
                        r = check_string(name, e, 1, MAX_NAME, &agenda_rule, err, errlen);
                        if (r)
                                goto out;
                        w->agendas[n] = strdup(e->valuestring);
                        if (!w->agendas[n]) {
                                r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                                goto out;
                        }
                        w->n_agendas = ++n;
                }
        }
        r = GV_OK;
out:
        return r;
}

static enum gv_err parse_hook(const cJSON *o, const char *path, struct gv_webhook_cfg *h,
                              char *err, size_t errlen)
{
        static const char *const allowed[] = { "url", "events", "secret_file", NULL };
        const cJSON *v, *e;
        char got[GOT_SIZE], full[160], list[128];
        enum gv_err r;
        size_t n = 0;

        if (!cJSON_IsObject(o)) {
                show_value(o, got, sizeof(got));
                return bad_key(err, errlen, path, "must be an object, got %s", got);
        }
        r = only_members(o, path, allowed, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "url", true, &http_rule, &h->url, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "secret_file", false, NULL, &h->secret_file, err, errlen);
        if (r)
                return r;
        v = cJSON_GetObjectItemCaseSensitive(o, "events");
        if (!v) {
                h->events = GV_HOOK_ITEM_ADDED | GV_HOOK_ITEM_DISCUSSED | GV_HOOK_MINUTES_PUBLISHED;
                return GV_OK;
        }
        snprintf(full, sizeof(full), "%s.events", path);
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1)
                return bad_key(err, errlen, full, "must be a non-empty array of event names");
        join_choices(hook_names, list, sizeof(list));
        cJSON_ArrayForEach(e, v) {
                char name[192];
                unsigned bit = cJSON_IsString(e) ? gv_config_hook_event(e->valuestring) : 0;

                snprintf(name, sizeof(name), "%s[%zu]", full, n++);
                if (!bit) {
                        show_value(e, got, sizeof(got));
                        return bad_key(err, errlen, name, "must be one of %s, got %s", list, got);
                }
                if (h->events & bit)
                        return bad_key(err, errlen, name, "\"%s\" given twice", e->valuestring);
                h->events |= bit;
        }
        return GV_OK;
}

/* A required string member that may hold line breaks (iCalendar content
 * lines) but no other control characters. */
static enum gv_err member_lines(const cJSON *o, const char *path, const char *name, char **out,
                                char *err, size_t errlen)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        char full[160], *copy;
        enum gv_err r;

        snprintf(full, sizeof(full), "%s.%s", path, name);
        if (!v)
                return bad_key(err, errlen, full, "is required");
        if (!cJSON_IsString(v))
                return check_string(full, v, 1, MAX_STRING, NULL, err, errlen);
        copy = strdup(v->valuestring);
        if (!copy)
                return gv_errf(err, errlen, GV_ENOMEM, "out of memory");
        for (char *p = copy; *p; p++)   /* the other checks on a copy without them */
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        r = check_text(full, copy, 1, MAX_STRING, NULL, err, errlen);
        free(copy);
        if (r)
                return r;
        *out = strdup(v->valuestring);
        return *out ? GV_OK : gv_errf(err, errlen, GV_ENOMEM, "out of memory");
}

/* An integer member of an entry: def when absent. */
static enum gv_err member_int(const cJSON *o, const char *path, const char *name, int64_t min,
                              int64_t max, int64_t def, int64_t *out, char *err, size_t errlen)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        char got[GOT_SIZE], full[160];
        double d = cJSON_IsNumber(v) ? v->valuedouble : 0;

        if (!v) {
                *out = def;
                return GV_OK;
        }
        /* The range test comes first: it makes the cast defined, and NaN fails it. */
        if (!cJSON_IsNumber(v) || !(d >= (double)min && d <= (double)max) ||
            d != (double)(int64_t)d) {
                snprintf(full, sizeof(full), "%s.%s", path, name);
                show_value(v, got, sizeof(got));
                return bad_key(err, errlen, full,
                               "must be an integer from %" PRId64 " to %" PRId64 ", got %s", min,
                               max, got);
        }
        *out = (int64_t)d;
        return GV_OK;
}

static enum gv_err strdup_default(char **field, const char *def, char *err, size_t errlen)
{
        if (*field)
                return GV_OK;
        *field = strdup(def);
        return *field ? GV_OK : gv_errf(err, errlen, GV_ENOMEM, "out of memory");
}

/* A series entry. Its rule, zone and exdates are compiled here (util/recur.h),
 * each error under its own key; agenda, when absent, is filled in by
 * gv_config_parse() once "rooms" and "default_agenda" are known. */
static enum gv_err parse_series(const cJSON *o, const char *path, struct gv_series_cfg *s,
                                char *err, size_t errlen)
{
        static const char *const allowed[] = {
                "name", "room", "agenda", "rrule", "tz", "exdate", "release_before_min",
                "release_room", "remind_before_min", "flavour", NULL,
        };
        struct gv_recur *probe = NULL;
        const cJSON *v, *e;
        char got[GOT_SIZE], full[160], why[256];
        enum gv_err r;
        size_t n = 0;

        if (!cJSON_IsObject(o)) {
                show_value(o, got, sizeof(got));
                return bad_key(err, errlen, path, "must be an object, got %s", got);
        }
        r = only_members(o, path, allowed, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "name", true, NULL, &s->name, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "room", true, NULL, &s->room, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "agenda", false, &agenda_rule, &s->agenda, err, errlen);
        if (r == GV_OK)
                r = member_lines(o, path, "rrule", &s->rrule, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "tz", false, NULL, &s->tz, err, errlen);
        if (r == GV_OK)
                r = strdup_default(&s->tz, "UTC", err, errlen);
        if (r == GV_OK)
                r = member_int(o, path, "release_before_min", 0, 10080, 60,
                               &s->release_before_min, err, errlen);
        if (r == GV_OK)
                r = member(o, path, "release_room", false, NULL, &s->release_room, err, errlen);
        if (r == GV_OK)
                r = strdup_default(&s->release_room, s->room, err, errlen);
        if (r == GV_OK)
                r = member_int(o, path, "remind_before_min", 0, 1440, 5, &s->remind_before_min,
                               err, errlen);
        if (r == GV_OK)
                r = member_flavour(o, path, &s->flavour, err, errlen);
        if (r)
                return r;
        /* libical first (gavel loads it when a series needs it): a library
         * that is missing is the rule's problem, not the zone's. */
        snprintf(full, sizeof(full), "%s.rrule", path);
        r = gv_recur_load(why, sizeof(why));
        if (r)
                return bad_key(err, errlen, full, "%s", why);
        /* The zone first, so that its error names "tz", not "rrule". */
        snprintf(full, sizeof(full), "%s.tz", path);
        r = gv_recur_new("FREQ=DAILY", s->tz, NULL, 0, &probe, why, sizeof(why));
        probe = gv_recur_free(probe);
        if (r == GV_ENOMEM)
                return gv_errf(err, errlen, r, "out of memory");
        if (r)
                return bad_key(err, errlen, full, "%s", why);
        v = cJSON_GetObjectItemCaseSensitive(o, "exdate");
        snprintf(full, sizeof(full), "%s.exdate", path);
        if (v) {
                if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > MAX_EXDATES) {
                        show_value(v, got, sizeof(got));
                        return bad_key(err, errlen, full, "must be an array of at most %d local "
                                       "dates or date-times, got %s", MAX_EXDATES, got);
                }
                s->exdate = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*s->exdate));
                if (!s->exdate)
                        return gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                cJSON_ArrayForEach(e, v) {
                        char name[192];
                        const char *one[1];

                        snprintf(name, sizeof(name), "%s[%zu]", full, n);
                        r = check_string(name, e, 1, 64, NULL, err, errlen);
                        if (r)
                                return r;
                        one[0] = e->valuestring;
                        r = gv_recur_new("FREQ=DAILY", "UTC", one, 1, &probe, why, sizeof(why));
                        probe = gv_recur_free(probe);
                        if (r == GV_ENOMEM)
                                return gv_errf(err, errlen, r, "out of memory");
                        if (r)
                                return bad_key(err, errlen, name, "%s", why);
                        s->exdate[n] = strdup(e->valuestring);
                        if (!s->exdate[n])
                                return gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                        s->n_exdate = ++n;
                }
        }
        snprintf(full, sizeof(full), "%s.rrule", path);
        r = gv_recur_new(s->rrule, s->tz, (const char *const *)s->exdate, s->n_exdate, &s->recur,
                         why, sizeof(why));
        if (r == GV_ENOMEM)
                return gv_errf(err, errlen, r, "out of memory");
        if (r)
                return bad_key(err, errlen, full, "%s", why);
        return GV_OK;
}

static enum gv_err set_objects(const struct key *k, const cJSON *v, struct gv_config *c,
                               char *err, size_t errlen)
{
        struct gv_wiki_cfg *w = NULL;
        struct gv_webhook_cfg *h = NULL;
        struct gv_series_cfg *s = NULL;
        const cJSON *e;
        size_t n = 0, i = 0;
        char path[64], got[GOT_SIZE];
        enum gv_err r;

        r = check_entries(k, v, false, &n, err, errlen);
        if (r)
                return r;
        if (k->kind == K_WIKIS)
                w = calloc(n ? n : 1, sizeof(*w));
        else if (k->kind == K_WEBHOOKS)
                h = calloc(n ? n : 1, sizeof(*h));
        else
                s = calloc(n ? n : 1, sizeof(*s));
        if (!w && !h && !s)
                return gv_errf(err, errlen, GV_ENOMEM, "out of memory");
        cJSON_ArrayForEach(e, v) {
                snprintf(path, sizeof(path), "%s[%zu]", k->name, i);
                if (w)
                        r = parse_wiki(e, path, &w[i], err, errlen);
                else if (h)
                        r = parse_hook(e, path, &h[i], err, errlen);
                else
                        r = parse_series(e, path, &s[i], err, errlen);
                i++;
                if (r)
                        goto out;
                for (size_t j = 0; s && j + 1 < i; j++) {
                        if (strcmp(s[j].name, s[i - 1].name) == 0) {
                                snprintf(path, sizeof(path), "%s[%zu].name", k->name, i - 1);
                                show_text(s[j].name, got, sizeof(got));
                                r = bad_key(err, errlen, path, "\"%s\" is already the name of "
                                            "%s[%zu]", got, k->name, j);
                                goto out;
                        }
                }
        }
        clear(k, c);
        if (w)
                *FIELD(c, k, struct gv_wiki_cfg *) = w;
        else if (h)
                *FIELD(c, k, struct gv_webhook_cfg *) = h;
        else
                *FIELD(c, k, struct gv_series_cfg *) = s;
        *COUNT(c, k) = n;
        w = NULL;
        h = NULL;
        s = NULL;
        r = GV_OK;
out:
        wikis_free(w, i);
        hooks_free(h, i);
        series_free(s, i);
        return r;
}

unsigned gv_config_hook_event(const char *name)
{
        for (unsigned i = 0; name && hook_names[i]; i++)
                if (strcmp(hook_names[i], name) == 0)
                        return 1u << i;
        return 0;
}

const char *gv_config_hook_name(unsigned event)
{
        for (unsigned i = 0; hook_names[i]; i++)
                if (event == 1u << i)
                        return hook_names[i];
        return NULL;
}

bool gv_config_wiki_wants(const struct gv_config *c, size_t i, const char *agenda)
{
        const struct gv_wiki_cfg *w = i < c->n_wiki ? &c->wiki[i] : NULL;

        if (!w)
                return false;
        if (w->n_agendas == 0)
                return true;
        for (size_t k = 0; agenda && k < w->n_agendas; k++)
                if (strcmp(w->agendas[k], agenda) == 0)
                        return true;
        return false;
}

const char *gv_config_secret_path(const char *file, const char *cred, char *out, size_t n)
{
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        int w;

        if (file && *file)
                w = snprintf(out, n, "%s", file);
        else if (dir && *dir)
                w = snprintf(out, n, "%s/%s", dir, cred);
        else
                return NULL;
        return w > 0 && (size_t)w < n ? out : NULL;
}

static enum gv_err set(const struct key *k, const cJSON *v, struct gv_config *c, char *err,
                       size_t errlen)
{
        switch (k->kind) {
        case K_STRING:
                return set_string(k, v, c, err, errlen);
        case K_INT:
                return set_int(k, v, c, err, errlen);
        case K_CHOICE:
                return set_choice(k, v, c, err, errlen);
        case K_LIST:
                return set_list(k, v, c, err, errlen);
        case K_PREFIXES:
                return set_prefixes(k, v, c, err, errlen);
        case K_TAGS:
        case K_ROOMS:
                return set_map(k, v, c, err, errlen);
        case K_WIKIS:
        case K_WEBHOOKS:
        case K_SERIES:
                return set_objects(k, v, c, err, errlen);
        }
        return gv_errf(err, errlen, GV_EINVAL, "key \"%s\": no setter", k->name);
}

/* The one derived default (keys[] has NULL for it): the agenda of the
 * first tag, else "agenda". */
#define DERIVED_DEFAULT "the first tag's agenda, else \"agenda\""
static enum gv_err derive_default_agenda(struct gv_config *c)
{
        char *s = strdup(c->n_tags ? c->tags[0].agenda : "agenda");

        if (!s)
                return GV_ENOMEM;
        free(c->default_agenda);
        c->default_agenda = s;
        return GV_OK;
}

struct gv_config *gv_config_free(struct gv_config *c)
{
        size_t i;

        if (!c)
                return NULL;
        for (i = 0; i < ARRAY_SIZE(keys); i++)
                clear(&keys[i], c);
        free(c);
        return NULL;
}

enum gv_err gv_config_defaults(struct gv_config **ret)
{
        struct gv_config *c = NULL;
        cJSON *v = NULL;
        char err[256] = "";
        size_t i;
        enum gv_err r = GV_ENOMEM;

        c = calloc(1, sizeof(*c));
        if (!c)
                goto out;
        for (i = 0; i < ARRAY_SIZE(keys); i++) {
                if (!keys[i].def)
                        continue;
                v = cJSON_Parse(keys[i].def);
                if (!v) {
                        r = GV_ENOMEM;
                        goto out;
                }
                r = set(&keys[i], v, c, err, sizeof(err));
                cJSON_Delete(v);
                v = NULL;
                if (r) {
                        if (r != GV_ENOMEM)
                                gv_err_log("config", "built-in default: %s", err);
                        goto out;
                }
        }
        r = derive_default_agenda(c);
        if (r)
                goto out;
        *ret = c;
        c = NULL;
        r = GV_OK;
out:
        gv_config_free(c);
        return r;
}

static size_t skip_space(const char *s, size_t i, size_t len)
{
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                i++;
        return i;
}

/* cJSON turns "\u0000" into a NUL that silently ends the string ("tag\u0000x"
 * would read as "tag"), so the raw text is scanned for it first. Returns the
 * offset of the first string holding one (or len), and in *key the top-level
 * key it sits under (NULL when it is in a top-level key itself). */
static size_t find_escaped_nul(const char *s, size_t len, const char **key, size_t *keylen)
{
        const char *cur = NULL;
        size_t curlen = 0, i = 0;
        int depth = 0;

        *key = NULL;
        *keylen = 0;
        while (i < len) {
                char ch = s[i];

                if (ch == '{' || ch == '[') {
                        depth++;
                        i++;
                } else if (ch == '}' || ch == ']') {
                        depth--;
                        i++;
                } else if (ch == '"') {
                        size_t start = ++i;
                        bool nul = false, is_key;

                        while (i < len && s[i] != '"') {
                                if (s[i] == '\\' && i + 1 < len) {
                                        if (s[i + 1] == 'u' && i + 5 < len &&
                                            memcmp(s + i + 2, "0000", 4) == 0)
                                                nul = true;
                                        i += 2;
                                } else {
                                        i++;
                                }
                        }
                        is_key = depth == 1 && skip_space(s, i + 1, len) < len &&
                                 s[skip_space(s, i + 1, len)] == ':';
                        if (nul) {
                                if (!is_key) {
                                        *key = cur;
                                        *keylen = curlen;
                                }
                                return start - 1;
                        }
                        if (is_key) {
                                cur = s + start;
                                curlen = i - start;
                        }
                        i++;
                } else {
                        i++;
                }
        }
        return len;
}

enum gv_err gv_config_parse(const char *json, size_t len, struct gv_config **ret, char *err,
                            size_t errlen)
{
        struct gv_config *c = NULL;
        cJSON *root = NULL;
        const cJSON *v;
        const struct key *k;
        const char *end = NULL, *nul, *nulkey;
        size_t nulkeylen;
        bool seen[ARRAY_SIZE(keys)] = { false };
        char got[GOT_SIZE];
        size_t pos;
        enum gv_err r;

        if (len > GV_CONFIG_MAX_BYTES) {
                r = gv_errf(err, errlen, GV_ETOOBIG, TOO_BIG, GV_CONFIG_MAX_BYTES);
                goto out;
        }
        if (!json || skip_space(json, 0, len) == len) {
                r = gv_errf(err, errlen, GV_EPARSE, "empty input");
                goto out;
        }
        nul = memchr(json, '\0', len);
        if (nul) {
                r = gv_errf(err, errlen, GV_EPARSE, "not valid JSON near byte %zu",
                            (size_t)(nul - json));
                goto out;
        }
        if (!gv_utf8_valid(json, len)) {
                r = gv_errf(err, errlen, GV_EPARSE, "not valid UTF-8");
                goto out;
        }
        root = cJSON_ParseWithLengthOpts(json, len, &end, false);
        /* On failure end is where cJSON gave up; on success nothing but
         * white space may follow the value. */
        pos = end ? (size_t)(end - json) : 0;
        if (root)
                pos = skip_space(json, pos, len);
        if (!root || pos < len) {
                r = gv_errf(err, errlen, GV_EPARSE, "not valid JSON near byte %zu", pos);
                goto out;
        }
        if (find_escaped_nul(json, len, &nulkey, &nulkeylen) < len) {
                if (!nulkey) {
                        r = gv_errf(err, errlen, GV_ECONFIG, "a key must not contain \\u0000");
                } else {
                        snprintf(got, sizeof(got), "%.*s", (int)(nulkeylen < 64 ? nulkeylen : 64),
                                 nulkey);
                        show_text(got, got, sizeof(got));
                        r = bad_key(err, errlen, got, "must not contain \\u0000 (a NUL character)");
                }
                goto out;
        }
        if (!cJSON_IsObject(root)) {
                show_value(root, got, sizeof(got));
                r = gv_errf(err, errlen, GV_ECONFIG, "top level must be a JSON object, got %s", got);
                goto out;
        }
        r = gv_config_defaults(&c);
        if (r) {
                gv_errf(err, errlen, r, "built-in defaults: %s", gv_strerror(r));
                goto out;
        }
        cJSON_ArrayForEach(v, root) {
                k = find_key(v->string);
                if (!k) {
                        show_text(v->string, got, sizeof(got));
                        r = bad_key(err, errlen, got, "unknown key");
                        goto out;
                }
                if (seen[k - keys]) {
                        r = bad_key(err, errlen, k->name, "given twice");
                        goto out;
                }
                seen[k - keys] = true;
                r = set(k, v, c, err, errlen);
                if (r)
                        goto out;
        }
        if (!seen[find_key("default_agenda") - keys]) {
                r = derive_default_agenda(c);
                if (r) {
                        gv_errf(err, errlen, r, "out of memory");
                        goto out;
                }
        }
        /* A series without "agenda" takes its room's, known only now. */
        for (size_t i = 0; i < c->n_series; i++) {
                if (!c->series[i].agenda &&
                    !(c->series[i].agenda = strdup(gv_config_agenda_for_room(c,
                                                                             c->series[i].room)))) {
                        r = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                        goto out;
                }
        }
        *ret = c;
        c = NULL;
        r = GV_OK;
out:
        cJSON_Delete(root);
        gv_config_free(c);
        return r;
}

enum gv_err gv_config_load(const char *path, struct gv_config **ret, char *err, size_t errlen)
{
        struct gv_buf b = GV_BUF_INIT(GV_CONFIG_MAX_BYTES);
        char chunk[16384], msg[512];
        FILE *f = NULL;
        size_t n;
        enum gv_err r;

        f = fopen(path, "rb");
        if (!f) {
                r = gv_errf(err, errlen, GV_EIO, "%s: cannot open: %s", path, strerror(errno));
                goto out;
        }
        do {
                n = fread(chunk, 1, sizeof(chunk), f);
                if (n < sizeof(chunk) && ferror(f)) {
                        r = gv_errf(err, errlen, GV_EIO, "%s: cannot read: %s", path,
                                    strerror(errno));
                        goto out;
                }
                r = gv_buf_add(&b, chunk, n);
                if (r == GV_ETOOBIG) {
                        r = gv_errf(err, errlen, r, "%s: " TOO_BIG, path, GV_CONFIG_MAX_BYTES);
                        goto out;
                }
                if (r) {
                        r = gv_errf(err, errlen, r, "%s: out of memory", path);
                        goto out;
                }
        } while (n == sizeof(chunk));
        r = gv_config_parse(gv_buf_str(&b), b.len, ret, msg, sizeof(msg));
        if (r)
                gv_errf(err, errlen, r, "%s: %s", path, msg);
out:
        if (f)
                fclose(f);
        gv_buf_free(&b);
        return r;
}

const char *gv_config_agenda_for_tag(const struct gv_config *c, const char *tag, size_t len)
{
        size_t i;

        /* Stored tags are NUL-terminated and hold no NUL, so gv_iprefix()
         * reads no further than len bytes of tag when the lengths agree. */
        for (i = 0; i < c->n_tags; i++)
                if (strlen(c->tags[i].tag) == len && gv_iprefix(tag, c->tags[i].tag))
                        return c->tags[i].agenda;
        return NULL;
}

const char *gv_config_agenda_for_room(const struct gv_config *c, const char *room)
{
        size_t i;

        for (i = 0; room && i < c->n_rooms; i++)
                if (strcmp(c->rooms[i].room, room) == 0)
                        return c->rooms[i].agenda;
        return c->default_agenda;
}

bool gv_config_is_prefix(const struct gv_config *c, char ch)
{
        return ch != '\0' && strchr(c->command_prefixes, ch) != NULL;
}

/* "name  type, default X: help" */
static enum gv_err describe_key(const struct key *k, struct gv_buf *b)
{
        char type[192], list[128];

        switch (k->kind) {
        case K_STRING:
                if (k->rule)
                        snprintf(type, sizeof(type), "%s", k->rule->doc);
                else if (k->max < MAX_STRING)
                        snprintf(type, sizeof(type), "%sstring of at most %" PRId64 " bytes",
                                 k->min ? "non-empty " : "", k->max);
                else
                        snprintf(type, sizeof(type), "%sstring", k->min ? "non-empty " : "");
                break;
        case K_INT:
                snprintf(type, sizeof(type), "integer %" PRId64 "..%" PRId64, k->min, k->max);
                break;
        case K_CHOICE:
                join_choices(k->choices, list, sizeof(list));
                snprintf(type, sizeof(type), "one of %s", list);
                break;
        case K_LIST:
                snprintf(type, sizeof(type), "array of at most %" PRId64 " non-empty strings",
                         k->max);
                break;
        case K_PREFIXES:
                snprintf(type, sizeof(type),
                         "array of %" PRId64 "..%" PRId64 " ASCII punctuation characters",
                         k->min, k->max);
                break;
        case K_TAGS:
                snprintf(type, sizeof(type), "object {tag: agenda} of at most %" PRId64
                         " entries", k->max);
                break;
        case K_ROOMS:
                snprintf(type, sizeof(type), "object {room: agenda} of at most %" PRId64
                         " entries", k->max);
                break;
        case K_WIKIS:
        case K_WEBHOOKS:
        case K_SERIES:
                snprintf(type, sizeof(type), "array of at most %" PRId64 " objects", k->max);
                break;
        }
        return gv_buf_printf(b, "%s  %s, default %s: %s", k->name, type,
                             k->def ? k->def : DERIVED_DEFAULT, k->help);
}

void gv_config_describe(void (*line)(void *ud, const char *text), void *ud)
{
        struct gv_buf b = GV_BUF_INIT(MAX_DOC_LINE);
        size_t i;

        for (i = 0; i < ARRAY_SIZE(keys); i++) {
                gv_buf_reset(&b);
                if (describe_key(&keys[i], &b) == GV_OK)
                        line(ud, gv_buf_str(&b));
        }
        gv_buf_free(&b);
}
