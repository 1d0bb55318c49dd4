/* tests/unit/test-config.c - util/config: the defaults, config.sample.json
 * (argv[1]), a good and a bad value for every key with the exact error text,
 * the size limits, gv_config_load(), the lookups and the docs.
 * Prints one line per case and "N passed, M failed"; exits 1 on a failure. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../util/buf.h"
#include "../../util/config.h"
#include "../../util/log.h"
#include "../../util/recur.h"

#include "check.h"

/* Appends to out[n] (always NUL-terminated). */
__attribute__((format(printf, 3, 4)))
static void add(char *out, size_t n, const char *fmt, ...)
{
        size_t used = strlen(out);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(out + used, n - used, fmt, ap);
        va_end(ap);
}

static void add_list(char *out, size_t n, char **v, size_t count)
{
        size_t i;

        for (i = 0; i < count; i++)
                add(out, n, "%s%s", i ? "," : "", v[i]);
}

/* One key of c as text, written independently of util/config.c's table:
 * strings as they are, lists as "a,b", maps as "k=v,k=v". */
static void render(const struct gv_config *c, const char *key, char *out, size_t n)
{
        size_t i;

        out[0] = '\0';
        if (!strcmp(key, "database"))
                add(out, n, "%s", c->database);
        else if (!strcmp(key, "archive_dir"))
                add(out, n, "%s", c->archive_dir);
        else if (!strcmp(key, "channel"))
                add(out, n, "%s", c->channel);
        else if (!strcmp(key, "minutes_filename"))
                add(out, n, "%s", c->minutes_filename);
        else if (!strcmp(key, "logs_url"))
                add(out, n, "%s", c->logs_url);
        else if (!strcmp(key, "bot_name"))
                add(out, n, "%s", c->bot_name);
        else if (!strcmp(key, "homeserver"))
                add(out, n, "%s", c->homeserver);
        else if (!strcmp(key, "user_id"))
                add(out, n, "%s", c->user_id);
        else if (!strcmp(key, "command_prefixes"))
                add(out, n, "%s", c->command_prefixes);
        else if (!strcmp(key, "default_agenda"))
                add(out, n, "%s", c->default_agenda);
        else if (!strcmp(key, "ack_reaction"))
                add(out, n, "%s", c->ack_reaction);
        else if (!strcmp(key, "meeting_label"))
                add(out, n, "%s", c->meeting_label);
        else if (!strcmp(key, "chair_power_level"))
                add(out, n, "%lld", (long long)c->chair_power_level);
        else if (!strcmp(key, "max_message_bytes"))
                add(out, n, "%lld", (long long)c->max_message_bytes);
        else if (!strcmp(key, "crosspost_rooms"))
                add_list(out, n, c->crosspost_rooms, c->n_crosspost_rooms);
        else if (!strcmp(key, "replay_ignore_nicks"))
                add_list(out, n, c->replay_ignore_nicks, c->n_replay_ignore_nicks);
        else if (!strcmp(key, "tags"))
                for (i = 0; i < c->n_tags; i++)
                        add(out, n, "%s%s=%s", i ? "," : "", c->tags[i].tag, c->tags[i].agenda);
        else if (!strcmp(key, "rooms"))
                for (i = 0; i < c->n_rooms; i++)
                        add(out, n, "%s%s=%s", i ? "," : "", c->rooms[i].room,
                            c->rooms[i].agenda);
        else if (!strcmp(key, "ack"))
                add(out, n, "%s", c->ack == GV_ACK_REACTION ? "reaction" :
                                  c->ack == GV_ACK_NOTICE ? "notice" :
                                  c->ack == GV_ACK_NONE ? "none" : "?");
        else if (!strcmp(key, "access_token_file"))
                add(out, n, "%s", c->access_token_file);
        else if (!strcmp(key, "password_file"))
                add(out, n, "%s", c->password_file);
        else if (!strcmp(key, "pickle_key_file"))
                add(out, n, "%s", c->pickle_key_file);
        else if (!strcmp(key, "allow_invites_from"))
                add_list(out, n, c->allow_invites_from, c->n_allow_invites_from);
        else if (!strcmp(key, "initial_history"))
                add(out, n, "%s", c->initial_history == 0 ? "skip" :
                                  c->initial_history == 1 ? "process" : "?");
        else if (!strcmp(key, "sync_timeout_ms"))
                add(out, n, "%lld", (long long)c->sync_timeout_ms);
        else if (!strcmp(key, "backoff_max_ms"))
                add(out, n, "%lld", (long long)c->backoff_max_ms);
        else if (!strcmp(key, "gap_fill_max_events"))
                add(out, n, "%lld", (long long)c->gap_fill_max_events);
        else if (!strcmp(key, "room_send_per_s"))
                add(out, n, "%lld", (long long)c->room_send_per_s);
        else if (!strcmp(key, "wiki"))
                for (i = 0; i < c->n_wiki; i++) {
                        const struct gv_wiki_cfg *w = &c->wiki[i];

                        add(out, n, "%s%s:%s|%s|%s|%s|%d|", i ? ";" : "",
                            w->git ? "git" : "mw", w->git ? w->git : w->mediawiki,
                            w->git ? w->branch : w->user, w->page, w->section, (int)w->flavour);
                        add_list(out, n, w->agendas, w->n_agendas);
                        add(out, n, "|%s|%s|%s", w->token_file ? w->token_file : "-",
                            w->ssh_key_file ? w->ssh_key_file : "-",
                            w->password_file ? w->password_file : "-");
                }
        else if (!strcmp(key, "webhooks"))
                for (i = 0; i < c->n_webhooks; i++)
                        add(out, n, "%s%s|%u|%s", i ? ";" : "", c->webhooks[i].url,
                            c->webhooks[i].events,
                            c->webhooks[i].secret_file ? c->webhooks[i].secret_file : "-");
        else if (!strcmp(key, "series"))
                for (i = 0; i < c->n_series; i++) {
                        const struct gv_series_cfg *x = &c->series[i];

                        add(out, n, "%s%s|%s|%s|%s|%s|", i ? ";" : "", x->name, x->room,
                            x->agenda ? x->agenda : "(null)", x->rrule, x->tz);
                        add_list(out, n, x->exdate, x->n_exdate);
                        add(out, n, "|%lld|%s|%lld|%d|%s", (long long)x->release_before_min,
                            x->release_room, (long long)x->remind_before_min, (int)x->flavour,
                            x->recur && !strcmp(gv_recur_tz(x->recur), x->tz) ? "compiled"
                                                                              : "NOT COMPILED");
                }
        else if (!strcmp(key, "log_level"))
                add(out, n, "%s", c->log_level == GV_LOG_ERROR ? "error" :
                                  c->log_level == GV_LOG_WARN ? "warning" :
                                  c->log_level == GV_LOG_INFO ? "info" :
                                  c->log_level == GV_LOG_DEBUG ? "debug" : "?");
        else
                add(out, n, "<no such key in the test>");
}

struct expect {
        const char *key;
        const char *value;
};

/* Every key, in the order of the docs, with its default. */
static const struct expect defaults[] = {
        { "homeserver", "" },
        { "user_id", "" },
        { "bot_name", "gavel" },
        { "database", "./gavel.db" },
        { "archive_dir", "./minutes" },
        { "channel", "#meeting" },
        { "minutes_filename", "" },
        { "logs_url", "" },
        { "command_prefixes", "#!" },
        { "tags", "architecture=architecture,cust-arch=architecture" },
        { "default_agenda", "architecture" },
        { "rooms", "" },
        { "ack", "reaction" },
        { "ack_reaction", "\xf0\x9f\x91\x80" },
        { "crosspost_rooms", "" },
        { "meeting_label", "Meeting" },
        { "chair_power_level", "50" },
        { "max_message_bytes", "65536" },
        { "replay_ignore_nicks", "zodbot,MeetBot" },
        { "log_level", "warning" },
        { "access_token_file", "" },
        { "password_file", "" },
        { "pickle_key_file", "" },
        { "allow_invites_from", "" },
        { "initial_history", "skip" },
        { "sync_timeout_ms", "30000" },
        { "backoff_max_ms", "60000" },
        { "gap_fill_max_events", "10000" },
        { "room_send_per_s", "10" },
        { "wiki", "" },
        { "webhooks", "" },
        { "series", "" },
};

#define N_KEYS (sizeof(defaults) / sizeof(defaults[0]))

static const struct expect sample[] = {
        { "homeserver", "" },
        { "tags", "architecture=architecture,cust-arch=architecture" },
        { "default_agenda", "architecture" },
        { "crosspost_rooms", "#r-architecture:example.org" },
        { "meeting_label", "Arch call" },
        { "ack", "reaction" },
        { "log_level", "warning" },
        { "wiki", "git:https://github.com/org/hq.wiki.git|master|Architecture-Call.md|"
                  "Recent Meeting Notes|0|architecture|-|-|-;"
                  "mw:https://wiki.example.org/w/api.php|Gavel@minutes|Meetings/Arch call|"
                  "Recent Meeting Notes|0||-|-|-" },
        { "webhooks", "https://hooks.example.org/gavel|7|-" },
};

static void check_values(const char *name, const struct gv_config *c, const struct expect *e,
                         size_t n)
{
        char got[8192], label[256];
        size_t i;

        for (i = 0; i < n; i++) {
                render(c, e[i].key, got, sizeof(got));
                snprintf(label, sizeof(label), "%s: %s", name, e[i].key);
                check(strcmp(got, e[i].value) == 0, label, "got \"%s\", want \"%s\"", got,
                      e[i].value);
        }
}

/* Stands in for *ret to show that a failure leaves it untouched. */
static struct gv_config sentinel_storage;
#define SENTINEL (&sentinel_storage)

struct pcase {
        const char *name;
        const char *json;
        size_t len;             /* 0: strlen(json) */
        enum gv_err want;
        const char *want_err;   /* when want != GV_OK: the exact text (a final '*': a prefix) */
        const char *key;        /* when want == GV_OK: a key */
        const char *value;      /*   and its rendering */
};

static bool err_matches(const char *got, const char *want)
{
        size_t n = strlen(want);

        if (n && want[n - 1] == '*')
                return strncmp(got, want, n - 1) == 0;
        return strcmp(got, want) == 0;
}

static void run_case(const struct pcase *t)
{
        struct gv_config *c = SENTINEL;
        char err[1024] = "", got[8192];
        size_t len = t->len ? t->len : strlen(t->json);
        enum gv_err r;

        r = gv_config_parse(t->json, len, &c, err, sizeof(err));
        if (t->want == GV_OK) {
                if (r != GV_OK || c == SENTINEL || !c) {
                        check(false, t->name, "rc %d (%s), want success", (int)r, err);
                        return;
                }
                render(c, t->key, got, sizeof(got));
                check(strcmp(got, t->value) == 0, t->name, "%s is \"%s\", want \"%s\"", t->key,
                      got, t->value);
                gv_config_free(c);
                return;
        }
        if (r == GV_OK) {
                check(false, t->name, "accepted, want rc %d \"%s\"", (int)t->want, t->want_err);
                if (c != SENTINEL)
                        gv_config_free(c);
                return;
        }
        check(r == t->want && c == SENTINEL && err_matches(err, t->want_err), t->name,
              "rc %d, want %d; *ret %s; err \"%s\", want \"%s\"", (int)r, (int)t->want,
              c == SENTINEL ? "untouched" : "CHANGED", err, t->want_err);
}

#define GOOD(n, j, k, v) { n, j, 0, GV_OK, NULL, k, v }
#define BAD(n, j, rc, e) { n, j, 0, rc, e, NULL, NULL }
#define CONF(n, j, e) BAD(n, j, GV_ECONFIG, e)
#define AGENDA_RULE "must be an agenda name (1 to 64 of A-Z a-z 0-9 _ -)"
#define TAG_RULE "must be a tag name (1 to 64 of A-Z a-z 0-9 _ -, after an optional '#')"

static const struct pcase cases[] = {
        /* "wiki" and "webhooks" (issue 9) */
        GOOD("wiki: a git wiki with defaults", "{\"wiki\": [{\"git\": \"file:///srv/w.git\", "
             "\"page\": \"Home.md\"}]}", "wiki",
             "git:file:///srv/w.git|master|Home.md|Recent Meeting Notes|0||-|-|-"),
        GOOD("wiki: scp-like remote, agora, agendas, key files",
             "{\"wiki\": [{\"git\": \"git@example.org:org/w.git\", \"branch\": \"main\", "
             "\"page\": \"p.md\", \"section\": \"Notes\", \"flavour\": \"agora\", "
             "\"agendas\": [\"a\", \"b\"], \"token_file\": \"/t\", \"ssh_key_file\": \"/k\"}]}",
             "wiki", "git:git@example.org:org/w.git|main|p.md|Notes|1|a,b|/t|/k|-"),
        GOOD("wiki: mediawiki, meetbot flavour",
             "{\"wiki\": [{\"mediawiki\": \"https://w.example/api.php\", \"page\": \"M\", "
             "\"user\": \"G@b\", \"flavour\": \"meetbot\", \"password_file\": \"/p\"}]}",
             "wiki", "mw:https://w.example/api.php|G@b|M|Recent Meeting Notes|2||-|-|/p"),
        CONF("wiki: not an array", "{\"wiki\": {}}", "key \"wiki\": must be an array, got an object"),
        CONF("wiki: entry not an object", "{\"wiki\": [1]}",
             "key \"wiki[0]\": must be an object, got 1"),
        CONF("wiki: neither git nor mediawiki", "{\"wiki\": [{\"page\": \"p\"}]}",
             "key \"wiki[0]\": must have exactly one of \"git\" and \"mediawiki\""),
        CONF("wiki: both git and mediawiki",
             "{\"wiki\": [{\"git\": \"file:///g\", \"mediawiki\": \"https://m/api.php\", "
             "\"page\": \"p\", \"user\": \"u\"}]}",
             "key \"wiki[0]\": must have exactly one of \"git\" and \"mediawiki\""),
        CONF("wiki[1].page missing",
             "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\"}, {\"git\": \"file:///g\"}]}",
             "key \"wiki[1].page\": is required"),
        CONF("wiki: empty page", "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"\"}]}",
             "key \"wiki[0].page\": must not be empty"),
        CONF("wiki: bad git URL", "{\"wiki\": [{\"git\": \"ftp://x\", \"page\": \"p\"}]}",
             "key \"wiki[0].git\": must be a git remote (https://, http://, ssh://, file:// or "
             "user@host:path), got \"ftp://x\""),
        CONF("wiki: bad mediawiki URL",
             "{\"wiki\": [{\"mediawiki\": \"wiki.example\", \"page\": \"p\", \"user\": \"u\"}]}",
             "key \"wiki[0].mediawiki\": must be an http:// or https:// URL, got \"wiki.example\""),
        CONF("wiki: mediawiki without user",
             "{\"wiki\": [{\"mediawiki\": \"https://m/api.php\", \"page\": \"p\"}]}",
             "key \"wiki[0].user\": is required"),
        CONF("wiki: user on a git wiki",
             "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\", \"user\": \"u\"}]}",
             "key \"wiki[0].user\": is for a \"mediawiki\" wiki"),
        CONF("wiki: branch on a mediawiki",
             "{\"wiki\": [{\"mediawiki\": \"https://m/api.php\", \"page\": \"p\", "
             "\"user\": \"u\", \"branch\": \"b\"}]}",
             "key \"wiki[0].branch\": is for a \"git\" wiki"),
        CONF("wiki: a secret in the JSON",
             "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\", \"token\": \"ghp_x\"}]}",
             "key \"wiki[0].token\": unknown key"),
        GOOD("wiki: the page's url", "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\", "
             "\"url\": \"https://w.example/p\"}]}", "wiki",
             "git:file:///g|master|p|Recent Meeting Notes|0||-|-|-"),
        CONF("wiki: a url that is not one", "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\", "
             "\"url\": \"javascript:alert(1)\"}]}",
             "key \"wiki[0].url\": must be an http:// or https:// URL, got \"javascript:alert(1)\""),
        CONF("wiki: bad flavour",
             "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\", \"flavour\": \"fancy\"}]}",
             "key \"wiki[0].flavour\": must be one of \"resin\", \"agora\", \"meetbot\", "
             "\"standup\", got \"fancy\""),
        GOOD("wiki: standup flavour",
             "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\", \"flavour\": \"standup\"}]}",
             "wiki", "git:file:///g|master|p|Recent Meeting Notes|3||-|-|-"),
        /* "series" (issue 10) */
        GOOD("series: defaults",
             "{\"series\": [{\"name\": \"Cluster standup\", \"room\": \"#cluster:example.org\", "
             "\"rrule\": \"FREQ=WEEKLY;BYDAY=MO;BYHOUR=16\"}]}", "series",
             "Cluster standup|#cluster:example.org|architecture|FREQ=WEEKLY;BYDAY=MO;BYHOUR=16|UTC|"
             "|60|#cluster:example.org|5|0|compiled"),
        GOOD("series: everything given",
             "{\"series\": [{\"name\": \"Arch call\", \"room\": \"#arch-call:example.org\", "
             "\"agenda\": \"architecture\", \"rrule\": \"FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15;"
             "BYMINUTE=0\", \"tz\": \"Europe/Athens\", \"exdate\": [\"2026-12-24\", "
             "\"2026-12-31T15:00\"], \"release_before_min\": 90, \"release_room\": "
             "\"#r-process:example.org\", \"remind_before_min\": 0, \"flavour\": \"standup\"}]}",
             "series",
             "Arch call|#arch-call:example.org|architecture|FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15;"
             "BYMINUTE=0|Europe/Athens|2026-12-24,2026-12-31T15:00|90|#r-process:example.org|0|3|"
             "compiled"),
        /* the room's agenda, whatever the order of the keys */
        GOOD("series: agenda from rooms",
             "{\"series\": [{\"name\": \"S\", \"room\": \"!r:x\", \"rrule\": \"FREQ=DAILY\"},"
             " {\"name\": \"T\", \"room\": \"!other:x\", \"rrule\": \"FREQ=DAILY\"}], "
             "\"rooms\": {\"!r:x\": \"ops\"}, \"default_agenda\": \"misc\"}", "series",
             "S|!r:x|ops|FREQ=DAILY|UTC||60|!r:x|5|0|compiled;"
             "T|!other:x|misc|FREQ=DAILY|UTC||60|!other:x|5|0|compiled"),
        GOOD("series: iCalendar lines",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": "
             "\"DTSTART:20260105T150000\\nRRULE:FREQ=WEEKLY\\nEXDATE:20261228T150000\", "
             "\"tz\": \"America/Los_Angeles\"}]}", "series",
             "S|r|architecture|DTSTART:20260105T150000\nRRULE:FREQ=WEEKLY\nEXDATE:20261228T150000|"
             "America/Los_Angeles||60|r|5|0|compiled"),
        GOOD("series: none", "{\"series\": []}", "series", ""),
        CONF("series: not an array", "{\"series\": {}}",
             "key \"series\": must be an array, got an object"),
        CONF("series: entry not an object", "{\"series\": [\"Arch call\"]}",
             "key \"series[0]\": must be an object, got \"Arch call\""),
        CONF("series: bad rrule",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=SOMETIMES\"}]}",
             "key \"series[0].rrule\": FREQ=SOMETIMES: not a recurrence rule*"),
        CONF("series: bad tz",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\"},"
             " {\"name\": \"T\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"tz\": \"Mars/Base\"}]}",
             "key \"series[1].tz\": Mars/Base: no such time zone"),
        CONF("series: bad tz and bad rrule name the tz",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=NEVER\", "
             "\"tz\": \"Europe/Atlantis\"}]}",
             "key \"series[0].tz\": Europe/Atlantis: no such time zone"),
        CONF("series: bad exdate",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"exdate\": [\"2026-12-24\", \"24.12.2026\"]}]}",
             "key \"series[0].exdate[1]\": 24.12.2026: not a local date (2026-12-24) or "
             "date-time (2026-12-24T15:00)"),
        CONF("series: exdate not an array",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"exdate\": \"2026-12-24\"}]}",
             "key \"series[0].exdate\": must be an array of at most 256 local dates or "
             "date-times, got \"2026-12-24\""),
        CONF("series: exdate entry not a string",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"exdate\": [20261224]}]}",
             "key \"series[0].exdate[0]\": must be a string, got 20261224"),
        CONF("series: name missing",
             "{\"series\": [{\"room\": \"r\", \"rrule\": \"FREQ=DAILY\"}]}",
             "key \"series[0].name\": is required"),
        CONF("series: room missing",
             "{\"series\": [{\"name\": \"S\", \"rrule\": \"FREQ=DAILY\"}]}",
             "key \"series[0].room\": is required"),
        CONF("series: rrule missing", "{\"series\": [{\"name\": \"S\", \"room\": \"r\"}]}",
             "key \"series[0].rrule\": is required"),
        CONF("series: names are unique",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\"},"
             " {\"name\": \"S\", \"room\": \"q\", \"rrule\": \"FREQ=WEEKLY\"}]}",
             "key \"series[1].name\": \"S\" is already the name of series[0]"),
        CONF("series: bad agenda",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"agenda\": \"a b\"}]}",
             "key \"series[0].agenda\": " AGENDA_RULE ", got \"a b\""),
        CONF("series: release_before_min too big",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"release_before_min\": 10081}]}",
             "key \"series[0].release_before_min\": must be an integer from 0 to 10080, got 10081"),
        CONF("series: remind_before_min negative",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"remind_before_min\": -1}]}",
             "key \"series[0].remind_before_min\": must be an integer from 0 to 1440, got -1"),
        CONF("series: remind_before_min a string",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"remind_before_min\": \"5\"}]}",
             "key \"series[0].remind_before_min\": must be an integer from 0 to 1440, got \"5\""),
        CONF("series: bad flavour",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"flavour\": \"daily\"}]}",
             "key \"series[0].flavour\": must be one of \"resin\", \"agora\", \"meetbot\", "
             "\"standup\", got \"daily\""),
        CONF("series: unknown key",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"timezone\": \"UTC\"}]}",
             "key \"series[0].timezone\": unknown key"),
        CONF("series: rrule with a control character",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\\u0007\"}]}",
             "key \"series[0].rrule\": must not contain control characters"),
        CONF("series: bad BYDAY in content lines",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": "
             "\"DTSTART:20260105T150000\\nRRULE:FREQ=WEEKLY;BYDAY=XX\"}]}",
             "key \"series[0].rrule\": BYDAY=XX: not a recurrence rule*"),
        CONF("series: empty tz",
             "{\"series\": [{\"name\": \"S\", \"room\": \"r\", \"rrule\": \"FREQ=DAILY\", "
             "\"tz\": \"\"}]}",
             "key \"series[0].tz\": must not be empty"),
        CONF("wiki: empty agendas",
             "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\", \"agendas\": []}]}",
             "key \"wiki[0].agendas\": must be an array of 1 to 64 agenda names (omit it for "
             "every agenda)"),
        CONF("wiki: bad agenda name",
             "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"p\", \"agendas\": [\"a b\"]}]}",
             "key \"wiki[0].agendas[0]\": must be an agenda name (1 to 64 of A-Z a-z 0-9 _ -), "
             "got \"a b\""),
        CONF("wiki: page with a newline",
             "{\"wiki\": [{\"git\": \"file:///g\", \"page\": \"a\\nb\"}]}",
             "key \"wiki[0].page\": must not contain control characters"),
        GOOD("webhooks: events default to all", "{\"webhooks\": [{\"url\": \"http://127.0.0.1:1/h\"}]}",
             "webhooks", "http://127.0.0.1:1/h|7|-"),
        GOOD("webhooks: two events and a secret file",
             "{\"webhooks\": [{\"url\": \"https://h/\", \"events\": [\"minutes.published\", "
             "\"item.added\"], \"secret_file\": \"/s\"}]}", "webhooks", "https://h/|5|/s"),
        CONF("webhooks[0].url missing", "{\"webhooks\": [{}]}",
             "key \"webhooks[0].url\": is required"),
        CONF("webhooks: bad url", "{\"webhooks\": [{\"url\": \"file:///x\"}]}",
             "key \"webhooks[0].url\": must be an http:// or https:// URL, got \"file:///x\""),
        CONF("webhooks: unknown event",
             "{\"webhooks\": [{\"url\": \"https://h\", \"events\": [\"item.added\", \"x\"]}]}",
             "key \"webhooks[0].events[1]\": must be one of \"item.added\", \"item.discussed\", "
             "\"minutes.published\", got \"x\""),
        CONF("webhooks: event twice",
             "{\"webhooks\": [{\"url\": \"https://h\", \"events\": [\"item.added\", "
             "\"item.added\"]}]}",
             "key \"webhooks[0].events[1]\": \"item.added\" given twice"),
        CONF("webhooks: no events", "{\"webhooks\": [{\"url\": \"https://h\", \"events\": []}]}",
             "key \"webhooks[0].events\": must be a non-empty array of event names"),
        CONF("webhooks: a secret in the JSON",
             "{\"webhooks\": [{\"url\": \"https://h\", \"secret\": \"s\"}]}",
             "key \"webhooks[0].secret\": unknown key"),
        /* the document */
        GOOD("empty object", "{}", "bot_name", "gavel"),
        GOOD("white space around", " \n\t{ }\r\n", "database", "./gavel.db"),
        BAD("empty input", "", GV_EPARSE, "empty input"),
        BAD("only white space", " \n\t ", GV_EPARSE, "empty input"),
        BAD("invalid JSON", "{\"bot_name\": }", GV_EPARSE, "not valid JSON near byte 13"),
        BAD("unterminated", "{\"bot_name\": \"x", GV_EPARSE, "not valid JSON near byte*"),
        BAD("trailing garbage", "{} x", GV_EPARSE, "not valid JSON near byte 3"),
        BAD("two objects", "{}{}", GV_EPARSE, "not valid JSON near byte 2"),
        { "NUL byte", "{}\0 ", 4, GV_EPARSE, "not valid JSON near byte 2", NULL, NULL },
        BAD("invalid UTF-8", "{\"bot_name\": \"\xff\"}", GV_EPARSE, "not valid UTF-8"),
        CONF("top-level array", "[]", "top level must be a JSON object, got an array"),
        CONF("top-level string", "\"x\"", "top level must be a JSON object, got \"x\""),
        CONF("top-level number", "5", "top level must be a JSON object, got 5"),
        CONF("top-level null", "null", "top level must be a JSON object, got null"),
        CONF("unknown key", "{\"foo\": 1}", "key \"foo\": unknown key"),
        CONF("keys are case-sensitive", "{\"Database\": \"x\"}", "key \"Database\": unknown key"),
        CONF("long unknown key is cut",
             "{\"aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee\": 1}",
             "key \"aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd...\": unknown key"),
        CONF("unknown key with control characters", "{\"a\\u001b[2Jb\": 1}",
             "key \"a [2Jb\": unknown key"),
        CONF("duplicate key", "{\"bot_name\": \"a\", \"bot_name\": \"b\"}",
             "key \"bot_name\": given twice"),
        CONF("error after a good key", "{\"bot_name\": \"a\", \"ack\": 1}",
             "key \"ack\": must be one of \"reaction\", \"notice\", \"none\", got 1"),

        /* strings */
        GOOD("database", "{\"database\": \"/var/lib/gavel/gavel.db\"}", "database",
             "/var/lib/gavel/gavel.db"),
        CONF("database empty", "{\"database\": \"\"}", "key \"database\": must not be empty"),
        CONF("database number", "{\"database\": 5}", "key \"database\": must be a string, got 5"),
        GOOD("archive_dir", "{\"archive_dir\": \"/srv/minutes\"}", "archive_dir", "/srv/minutes"),
        CONF("archive_dir empty", "{\"archive_dir\": \"\"}",
             "key \"archive_dir\": must not be empty"),
        GOOD("channel", "{\"channel\": \"#centos-devel\"}", "channel", "#centos-devel"),
        CONF("channel empty", "{\"channel\": \"\"}", "key \"channel\": must not be empty"),
        GOOD("minutes_filename", "{\"minutes_filename\": \"{channel}.%F-%H.%M\"}",
             "minutes_filename", "{channel}.%F-%H.%M"),
        CONF("minutes_filename number", "{\"minutes_filename\": 1}",
             "key \"minutes_filename\": must be a string, got 1"),
        GOOD("logs_url", "{\"logs_url\": \"https://meetbot.example.org/{channel}/\"}",
             "logs_url", "https://meetbot.example.org/{channel}/"),
        CONF("logs_url array", "{\"logs_url\": []}",
             "key \"logs_url\": must be a string, got an array"),
        GOOD("bot_name", "{\"bot_name\": \"chairbot\"}", "bot_name", "chairbot"),
        CONF("bot_name array", "{\"bot_name\": []}",
             "key \"bot_name\": must be a string, got an array"),
        CONF("bot_name control character", "{\"bot_name\": \"a\\u0001b\"}",
             "key \"bot_name\": must not contain control characters"),
        BAD("NUL escape in a string", "{\"bot_name\": \"gavel\\u0000evil\"}", GV_ECONFIG,
            "key \"bot_name\": must not contain \\u0000 (a NUL character)"),
        BAD("NUL escape in a map key", "{\"tags\": {\"arch\\u0000x\": \"architecture\"}}",
            GV_ECONFIG, "key \"tags\": must not contain \\u0000 (a NUL character)"),
        BAD("NUL escape in a list", "{\"crosspost_rooms\": [\"!a:b\", \"\\u0000\"]}", GV_ECONFIG,
            "key \"crosspost_rooms\": must not contain \\u0000 (a NUL character)"),
        BAD("NUL escape in a top-level key", "{\"bot\\u0000name\": \"x\"}", GV_ECONFIG,
            "a key must not contain \\u0000"),
        GOOD("escaped backslash before u0000", "{\"bot_name\": \"a\\\\u0000\"}", "bot_name",
             "a\\u0000"),
        GOOD("bot_name escapes", "{\"bot_name\": \"g\\u00e4vel\"}", "bot_name", "g\xc3\xa4vel"),
        GOOD("homeserver", "{\"homeserver\": \"https://matrix.example.org\"}", "homeserver",
             "https://matrix.example.org"),
        GOOD("homeserver empty", "{\"homeserver\": \"\"}", "homeserver", ""),
        CONF("homeserver object", "{\"homeserver\": {}}",
             "key \"homeserver\": must be a string, got an object"),
        GOOD("user_id", "{\"user_id\": \"@gavel:example.org\"}", "user_id",
             "@gavel:example.org"),
        GOOD("user_id empty", "{\"user_id\": \"\"}", "user_id", ""),
        CONF("user_id no @", "{\"user_id\": \"gavel\"}",
             "key \"user_id\": must look like @local:server, got \"gavel\""),
        CONF("user_id no server", "{\"user_id\": \"@gavel:\"}",
             "key \"user_id\": must look like @local:server, got \"@gavel:\""),
        CONF("user_id no local part", "{\"user_id\": \"@:example.org\"}",
             "key \"user_id\": must look like @local:server, got \"@:example.org\""),
        GOOD("meeting_label", "{\"meeting_label\": \"Arch call\"}", "meeting_label", "Arch call"),
        CONF("meeting_label empty", "{\"meeting_label\": \"\"}",
             "key \"meeting_label\": must not be empty"),
        CONF("meeting_label true", "{\"meeting_label\": true}",
             "key \"meeting_label\": must be a string, got true"),
        GOOD("ack_reaction", "{\"ack_reaction\": \"\xe2\x9c\x85\"}", "ack_reaction",
             "\xe2\x9c\x85"),
        CONF("ack_reaction empty", "{\"ack_reaction\": \"\"}",
             "key \"ack_reaction\": must not be empty"),
        CONF("ack_reaction 65 bytes",
             "{\"ack_reaction\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaa\"}",
             "key \"ack_reaction\": must be at most 64 bytes, got 65"),

        /* integers */
        GOOD("chair_power_level 0", "{\"chair_power_level\": 0}", "chair_power_level", "0"),
        GOOD("chair_power_level 100", "{\"chair_power_level\": 100}", "chair_power_level",
             "100"),
        GOOD("chair_power_level 50.0", "{\"chair_power_level\": 50.0}", "chair_power_level",
             "50"),
        GOOD("chair_power_level 1e1", "{\"chair_power_level\": 1e1}", "chair_power_level", "10"),
        CONF("chair_power_level string", "{\"chair_power_level\": \"x\"}",
             "key \"chair_power_level\": must be an integer from 0 to 100, got \"x\""),
        CONF("chair_power_level 500", "{\"chair_power_level\": 500}",
             "key \"chair_power_level\": must be an integer from 0 to 100, got 500"),
        CONF("chair_power_level -1", "{\"chair_power_level\": -1}",
             "key \"chair_power_level\": must be an integer from 0 to 100, got -1"),
        CONF("chair_power_level 50.5", "{\"chair_power_level\": 50.5}",
             "key \"chair_power_level\": must be an integer from 0 to 100, got 50.5"),
        CONF("chair_power_level null", "{\"chair_power_level\": null}",
             "key \"chair_power_level\": must be an integer from 0 to 100, got null"),
        CONF("chair_power_level huge", "{\"chair_power_level\": 1e300}",
             "key \"chair_power_level\": must be an integer from 0 to 100, got 1e+300"),
        CONF("chair_power_level overflow", "{\"chair_power_level\": 1e999}",
             "key \"chair_power_level\": must be an integer from 0 to 100, got inf"),
        GOOD("max_message_bytes 1024", "{\"max_message_bytes\": 1024}", "max_message_bytes",
             "1024"),
        GOOD("max_message_bytes 1048576", "{\"max_message_bytes\": 1048576}",
             "max_message_bytes", "1048576"),
        CONF("max_message_bytes 1023", "{\"max_message_bytes\": 1023}",
             "key \"max_message_bytes\": must be an integer from 1024 to 1048576, got 1023"),
        CONF("max_message_bytes 1048577", "{\"max_message_bytes\": 1048577}",
             "key \"max_message_bytes\": must be an integer from 1024 to 1048576, got 1048577"),

        /* choices */
        GOOD("ack notice", "{\"ack\": \"notice\"}", "ack", "notice"),
        GOOD("ack none", "{\"ack\": \"none\"}", "ack", "none"),
        GOOD("ack_reaction ASCII", "{\"ack_reaction\": \"+1\"}", "ack_reaction", "+1"),
        CONF("ack yes", "{\"ack\": \"yes\"}",
             "key \"ack\": must be one of \"reaction\", \"notice\", \"none\", got \"yes\""),
        CONF("ack is case-sensitive", "{\"ack\": \"Notice\"}",
             "key \"ack\": must be one of \"reaction\", \"notice\", \"none\", got \"Notice\""),
        GOOD("log_level debug", "{\"log_level\": \"debug\"}", "log_level", "debug"),
        GOOD("initial_history process", "{\"initial_history\": \"process\"}", "initial_history",
             "process"),
        GOOD("sync_timeout_ms 0", "{\"sync_timeout_ms\": 0}", "sync_timeout_ms", "0"),
        GOOD("allow_invites_from", "{\"allow_invites_from\": [\"@a:b\", \":example.org\"]}",
             "allow_invites_from", "@a:b,:example.org"),
        CONF("sync_timeout_ms too big", "{\"sync_timeout_ms\": 200000}",
             "key \"sync_timeout_ms\": must be an integer from 0 to 120000, got 200000"),
        GOOD("gap_fill_max_events small", "{\"gap_fill_max_events\": 200}",
             "gap_fill_max_events", "200"),
        GOOD("gap_fill_max_events 0", "{\"gap_fill_max_events\": 0}", "gap_fill_max_events", "0"),
        CONF("gap_fill_max_events negative", "{\"gap_fill_max_events\": -1}",
             "key \"gap_fill_max_events\": must be an integer from 0 to 10000000, got -1"),
        CONF("gap_fill_max_events not a number", "{\"gap_fill_max_events\": \"10\"}",
             "key \"gap_fill_max_events\": must be an integer from 0 to 10000000, got \"10\""),
        CONF("initial_history unknown", "{\"initial_history\": \"all\"}",
             "key \"initial_history\": must be one of \"skip\", \"process\", got \"all\""),
        GOOD("password_file", "{\"password_file\": \"/run/pw\"}", "password_file", "/run/pw"),
        GOOD("pickle_key_file", "{\"pickle_key_file\": \"/run/pk\"}", "pickle_key_file", "/run/pk"),
        GOOD("log_level error", "{\"log_level\": \"error\"}", "log_level", "error"),
        GOOD("log_level info", "{\"log_level\": \"info\"}", "log_level", "info"),
        CONF("log_level verbose", "{\"log_level\": \"verbose\"}",
             "key \"log_level\": must be one of \"error\", \"warning\", \"info\", \"debug\", "
             "got \"verbose\""),
        CONF("log_level number", "{\"log_level\": 3}",
             "key \"log_level\": must be one of \"error\", \"warning\", \"info\", \"debug\", "
             "got 3"),

        /* command_prefixes */
        GOOD("command_prefixes", "{\"command_prefixes\": [\".\", \"#\"]}", "command_prefixes",
             ".#"),
        GOOD("command_prefixes 8", "{\"command_prefixes\": [\"!\",\"#\",\".\",\"@\",\"$\","
             "\"%\",\"&\",\"~\"]}", "command_prefixes", "!#.@$%&~"),
        CONF("command_prefixes string", "{\"command_prefixes\": \"#\"}",
             "key \"command_prefixes\": must be an array, got \"#\""),
        CONF("command_prefixes empty", "{\"command_prefixes\": []}",
             "key \"command_prefixes\": must have 1 to 8 entries, got 0"),
        CONF("command_prefixes 9", "{\"command_prefixes\": [\"!\",\"#\",\".\",\"@\",\"$\","
             "\"%\",\"&\",\"~\",\"*\"]}",
             "key \"command_prefixes\": must have 1 to 8 entries, got 9"),
        CONF("command_prefixes letter", "{\"command_prefixes\": [\"#\", \"a\"]}",
             "key \"command_prefixes[1]\": must be one ASCII punctuation character, got \"a\""),
        CONF("command_prefixes two characters", "{\"command_prefixes\": [\"##\"]}",
             "key \"command_prefixes[0]\": must be one ASCII punctuation character, got \"##\""),
        CONF("command_prefixes space", "{\"command_prefixes\": [\" \"]}",
             "key \"command_prefixes[0]\": must be one ASCII punctuation character, got \" \""),
        CONF("command_prefixes empty string", "{\"command_prefixes\": [\"\"]}",
             "key \"command_prefixes[0]\": must be one ASCII punctuation character, got \"\""),
        CONF("command_prefixes number", "{\"command_prefixes\": [1]}",
             "key \"command_prefixes[0]\": must be one ASCII punctuation character, got 1"),
        CONF("command_prefixes duplicate", "{\"command_prefixes\": [\"#\", \"!\", \"#\"]}",
             "key \"command_prefixes[2]\": \"#\" given twice"),

        /* tags and default_agenda */
        GOOD("tags", "{\"tags\": {\"#Ops\": \"ops\", \"standup\": \"team-sync\"}}", "tags",
             "ops=ops,standup=team-sync"),
        GOOD("default_agenda from the first tag",
             "{\"tags\": {\"#Ops\": \"ops\", \"standup\": \"team-sync\"}}", "default_agenda",
             "ops"),
        GOOD("tags empty", "{\"tags\": {}}", "tags", ""),
        GOOD("default_agenda without tags", "{\"tags\": {}}", "default_agenda", "agenda"),
        GOOD("default_agenda given after tags",
             "{\"tags\": {\"a\": \"x\"}, \"default_agenda\": \"y\"}", "default_agenda", "y"),
        GOOD("default_agenda given before tags",
             "{\"default_agenda\": \"y\", \"tags\": {\"a\": \"x\"}}", "default_agenda", "y"),
        CONF("tags array", "{\"tags\": []}", "key \"tags\": must be an object, got an array"),
        CONF("tag name with a space", "{\"tags\": {\"a b\": \"x\"}}",
             "key \"tags.a b\": " TAG_RULE),
        CONF("tag name only #", "{\"tags\": {\"#\": \"x\"}}", "key \"tags.#\": " TAG_RULE),
        CONF("tag name ##a", "{\"tags\": {\"##a\": \"x\"}}", "key \"tags.##a\": " TAG_RULE),
        CONF("tag name empty", "{\"tags\": {\"\": \"x\"}}", "key \"tags.\": " TAG_RULE),
        CONF("tag agenda empty", "{\"tags\": {\"a\": \"\"}}", "key \"tags.a\": must not be empty"),
        CONF("tag agenda bad", "{\"tags\": {\"a\": \"x y\"}}",
             "key \"tags.a\": " AGENDA_RULE ", got \"x y\""),
        CONF("tag agenda number", "{\"tags\": {\"a\": 1}}",
             "key \"tags.a\": must be a string, got 1"),
        CONF("tag given twice after normalising", "{\"tags\": {\"Arch\": \"x\", \"#arch\": \"y\"}}",
             "key \"tags.#arch\": given twice"),
        GOOD("default_agenda", "{\"default_agenda\": \"ops\"}", "default_agenda", "ops"),
        CONF("default_agenda empty", "{\"default_agenda\": \"\"}",
             "key \"default_agenda\": must not be empty"),
        CONF("default_agenda bad", "{\"default_agenda\": \"a/b\"}",
             "key \"default_agenda\": " AGENDA_RULE ", got \"a/b\""),

        /* rooms */
        GOOD("rooms", "{\"rooms\": {\"!abc:example.org\": \"ops\", \"#arch:example.org\": \"a\"}}",
             "rooms", "!abc:example.org=ops,#arch:example.org=a"),
        CONF("rooms array", "{\"rooms\": [\"x\"]}",
             "key \"rooms\": must be an object, got an array"),
        CONF("room name empty", "{\"rooms\": {\"\": \"x\"}}", "key \"rooms.\": must not be empty"),
        CONF("room agenda bad", "{\"rooms\": {\"!a:x\": \"x y\"}}",
             "key \"rooms.!a:x\": " AGENDA_RULE ", got \"x y\""),
        CONF("room given twice", "{\"rooms\": {\"!a:x\": \"a\", \"!a:x\": \"b\"}}",
             "key \"rooms.!a:x\": given twice"),

        /* lists */
        GOOD("crosspost_rooms", "{\"crosspost_rooms\": [\"#a:x\", \"#b:x\"]}", "crosspost_rooms",
             "#a:x,#b:x"),
        CONF("crosspost_rooms string", "{\"crosspost_rooms\": \"#a:x\"}",
             "key \"crosspost_rooms\": must be an array, got \"#a:x\""),
        CONF("crosspost_rooms empty entry", "{\"crosspost_rooms\": [\"#a:x\", \"\"]}",
             "key \"crosspost_rooms[1]\": must not be empty"),
        CONF("crosspost_rooms number", "{\"crosspost_rooms\": [1]}",
             "key \"crosspost_rooms[0]\": must be a string, got 1"),
        GOOD("replay_ignore_nicks", "{\"replay_ignore_nicks\": [\"zodbot\"]}",
             "replay_ignore_nicks", "zodbot"),
        GOOD("replay_ignore_nicks empty", "{\"replay_ignore_nicks\": []}", "replay_ignore_nicks",
             ""),
        CONF("replay_ignore_nicks null entry", "{\"replay_ignore_nicks\": [null]}",
             "key \"replay_ignore_nicks[0]\": must be a string, got null"),
        CONF("replay_ignore_nicks object", "{\"replay_ignore_nicks\": {}}",
             "key \"replay_ignore_nicks\": must be an array, got an object"),
};

/* {"<key>": <open>e0, e1, ...<close>} with count entries printed by entry_fmt
 * from their index. */
/* entry_fmt is one of this file's literals, taking the index as size_t */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *make_json(const char *key, const char *open, const char *close, size_t count,
                       const char *entry_fmt)
{
        struct gv_buf b = GV_BUF_INIT(GV_CONFIG_MAX_BYTES * 2);
        enum gv_err r;
        char *s = NULL;
        size_t i;

        r = gv_buf_printf(&b, "{\"%s\": %s", key, open);
        for (i = 0; i < count && !r; i++) {
                if (i)
                        r = gv_buf_adds(&b, ", ");
                if (!r)
                        r = gv_buf_printf(&b, entry_fmt, i);
        }
        if (!r)
                r = gv_buf_printf(&b, "%s}", close);
        if (!r)
                r = gv_buf_steal(&b, &s);
        gv_buf_free(&b);
        if (r) {
                fprintf(stderr, "test-config: out of memory\n");
                exit(1);
        }
        return s;
}
#pragma GCC diagnostic pop

__attribute__((format(printf, 1, 2)))
static char *json_printf(const char *fmt, ...)
{
        struct gv_buf b = GV_BUF_INIT(GV_CONFIG_MAX_BYTES);
        va_list ap;
        enum gv_err r;
        char *s = NULL;

        va_start(ap, fmt);
        r = gv_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        if (!r)
                r = gv_buf_steal(&b, &s);
        gv_buf_free(&b);
        if (r) {
                fprintf(stderr, "test-config: out of memory\n");
                exit(1);
        }
        return s;
}

static char *repeat(char ch, size_t n)
{
        char *s = malloc(n + 1);

        if (!s) {
                fprintf(stderr, "test-config: out of memory\n");
                exit(1);
        }
        memset(s, ch, n);
        s[n] = '\0';
        return s;
}

/* Cases whose JSON is built at run time: the limits. */
static void run_built_cases(void)
{
        struct pcase t;
        char *a4096 = repeat('a', 4096), *a4097 = repeat('a', 4097), *big, *json;
        char want[256];

        json = json_printf("{\"bot_name\": \"%s\"}", a4096);
        t = (struct pcase)GOOD("bot_name of 4096 bytes", json, "bot_name", a4096);
        run_case(&t);
        free(json);

        json = json_printf("{\"bot_name\": \"%s\"}", a4097);
        t = (struct pcase)CONF("bot_name of 4097 bytes", json,
                               "key \"bot_name\": must be at most 4096 bytes, got 4097");
        run_case(&t);
        free(json);

        json = make_json("tags", "{", "}", 64, "\"t%zu\": \"x\"");
        t = (struct pcase)GOOD("64 tags", json, "default_agenda", "x");
        run_case(&t);
        free(json);

        json = make_json("tags", "{", "}", 65, "\"t%zu\": \"x\"");
        t = (struct pcase)CONF("65 tags", json, "key \"tags\": must have 0 to 64 entries, got 65");
        run_case(&t);
        free(json);

        json = make_json("rooms", "{", "}", 256, "\"!r%zu:x\": \"x\"");
        t = (struct pcase)GOOD("256 rooms", json, "default_agenda", "architecture");
        run_case(&t);
        free(json);

        json = make_json("rooms", "{", "}", 257, "\"!r%zu:x\": \"x\"");
        t = (struct pcase)CONF("257 rooms", json,
                               "key \"rooms\": must have 0 to 256 entries, got 257");
        run_case(&t);
        free(json);

        json = make_json("crosspost_rooms", "[", "]", 64, "\"#r%zu:x\"");
        t = (struct pcase)GOOD("64 crosspost_rooms", json, "ack", "reaction");
        run_case(&t);
        free(json);

        json = make_json("crosspost_rooms", "[", "]", 65, "\"#r%zu:x\"");
        t = (struct pcase)CONF("65 crosspost_rooms", json,
                               "key \"crosspost_rooms\": must have 0 to 64 entries, got 65");
        run_case(&t);
        free(json);

        json = make_json("replay_ignore_nicks", "[", "]", 65, "\"n%zu\"");
        t = (struct pcase)CONF("65 replay_ignore_nicks", json,
                               "key \"replay_ignore_nicks\": must have 0 to 64 entries, got 65");
        run_case(&t);
        free(json);

        /* A tag name of 64 characters after the '#' is fine, 65 is not. */
        json = json_printf("{\"tags\": {\"#A%.63s\": \"x\"}}", a4096);
        t = (struct pcase)GOOD("tag name of 64", json, "tags", "");
        snprintf(want, sizeof(want), "a%.63s=x", a4096);
        t.value = want;
        run_case(&t);
        free(json);

        json = json_printf("{\"tags\": {\"A%.64s\": \"x\"}}", a4096);
        /* The name is cut to 40 bytes in the message. */
        snprintf(want, sizeof(want), "key \"tags.A%.39s...\": " TAG_RULE, a4096);
        t = (struct pcase)CONF("tag name of 65", json, want);
        run_case(&t);
        free(json);

        /* Deeper than cJSON's nesting limit. */
        big = repeat('[', 5000);
        t = (struct pcase)BAD("deep nesting", big, GV_EPARSE, "not valid JSON near byte*");
        run_case(&t);
        free(big);

        /* Exactly the limit is fine, one byte more is not. */
        big = repeat(' ', GV_CONFIG_MAX_BYTES + 1);
        memcpy(big, "{\"bot_name\": \"big\"}", 19);
        t = (struct pcase){ "input of 1048576 bytes", big, GV_CONFIG_MAX_BYTES, GV_OK, NULL,
                            "bot_name", "big" };
        run_case(&t);
        snprintf(want, sizeof(want), "larger than %d bytes", GV_CONFIG_MAX_BYTES);
        t = (struct pcase){ "input of 1048577 bytes", big, GV_CONFIG_MAX_BYTES + 1, GV_ETOOBIG,
                            want, NULL, NULL };
        run_case(&t);
        free(big);

        free(a4096);
        free(a4097);
}

static void test_defaults(void)
{
        struct gv_config *c = NULL;
        enum gv_err r;

        r = gv_config_defaults(&c);
        check(r == GV_OK && c, "gv_config_defaults", "rc %d", (int)r);
        if (c)
                check_values("defaults", c, defaults, N_KEYS);
        gv_config_free(c);
        c = NULL;
        r = gv_config_parse("{}", 2, &c, NULL, 0);
        check(r == GV_OK && c, "parse {} with no err buffer", "rc %d", (int)r);
        if (c)
                check_values("defaults via {}", c, defaults, N_KEYS);
        gv_config_free(c);
}

static void test_sample(const char *path)
{
        struct gv_config *c = NULL;
        const char *got;
        char err[1024] = "";
        enum gv_err r;

        if (!path) {
                check(false, "config.sample.json", "no path given as argv[1]");
                return;
        }
        r = gv_config_load(path, &c, err, sizeof(err));
        check(r == GV_OK && c, "config.sample.json loads", "rc %d: %s", (int)r, err);
        if (!c)
                return;
        check_values("config.sample.json", c, sample, sizeof(sample) / sizeof(sample[0]));
        got = gv_config_agenda_for_tag(c, "cust-arch", 9);
        check(got && !strcmp(got, "architecture"), "config.sample.json: #cust-arch",
              "agenda %s", got ? got : "NULL");
        check(c->n_series == 1 && !strcmp(c->series[0].name, "Arch call") &&
              c->series[0].recur && c->series[0].release_before_min == 90 &&
              c->series[0].remind_before_min == 5 && c->series[0].n_exdate == 1 &&
              !strcmp(c->series[0].release_room, "#r-process:example.org"),
              "config.sample.json: the Arch call series", "%zu series", c->n_series);
        gv_config_free(c);
}

static char *write_temp(const char *data, size_t n)
{
        char tmpl[] = "/tmp/test-config-XXXXXX";
        int fd = mkstemp(tmpl);
        char *path;

        if (fd < 0 || write(fd, data, n) != (ssize_t)n || close(fd) != 0) {
                fprintf(stderr, "test-config: cannot write %s\n", tmpl);
                exit(1);
        }
        path = strdup(tmpl);
        if (!path)
                exit(1);
        return path;
}

static void check_load(const char *name, const char *path, enum gv_err want,
                       const char *want_err)
{
        struct gv_config *c = SENTINEL;
        char err[1024] = "";
        enum gv_err r = gv_config_load(path, &c, err, sizeof(err));

        check(r == want && c == SENTINEL && !strcmp(err, want_err), name,
              "rc %d, want %d; err \"%s\", want \"%s\"", (int)r, (int)want, err, want_err);
        if (r == GV_OK && c != SENTINEL)
                gv_config_free(c);
}

static void test_load(void)
{
        char want[4200];
        char *big, *path;

        check_load("load missing file", "/nonexistent/gavel.json", GV_EIO,
                   "/nonexistent/gavel.json: cannot open: No such file or directory");
        check_load("load a directory", "/", GV_EIO, "/: cannot read: Is a directory");

        path = write_temp("{\"foo\": 1}\n", 11);
        snprintf(want, sizeof(want), "%s: key \"foo\": unknown key", path);
        check_load("load prefixes errors with the path", path, GV_ECONFIG, want);
        unlink(path);
        free(path);

        path = write_temp("", 0);
        snprintf(want, sizeof(want), "%s: empty input", path);
        check_load("load empty file", path, GV_EPARSE, want);
        unlink(path);
        free(path);

        big = repeat(' ', GV_CONFIG_MAX_BYTES + 1);
        big[0] = '{';
        big[GV_CONFIG_MAX_BYTES - 1] = '}';
        path = write_temp(big, GV_CONFIG_MAX_BYTES + 1);
        snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
        check_load("load over the limit", path, GV_ETOOBIG, want);
        unlink(path);
        free(path);
        free(big);
}

static void test_lookups(void)
{
        static const struct {
                const char *tag;
                size_t len;
                const char *want;
        } tags[] = {
                { "architecture", 12, "architecture" },
                { "ARCHITECTURE", 12, "architecture" },
                { "Cust-Arch", 9, "architecture" },
                { "cust-archive", 9, "architecture" },  /* not NUL-terminated at len */
                { "architecture", 4, NULL },
                { "arch", 4, NULL },
                { "#architecture", 13, NULL },
                { "", 0, NULL },
        };
        static const char json[] =
                "{\"rooms\": {\"!a:x\": \"ops\"}, \"command_prefixes\": [\"!\"]}";
        struct gv_config *c = NULL;
        const char *got;
        char label[128];
        size_t i;

        if (gv_config_defaults(&c) != GV_OK) {
                check(false, "lookups", "no defaults");
                return;
        }
        for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
                got = gv_config_agenda_for_tag(c, tags[i].tag, tags[i].len);
                snprintf(label, sizeof(label), "agenda_for_tag(\"%s\", %zu)", tags[i].tag,
                         tags[i].len);
                check(tags[i].want ? got && !strcmp(got, tags[i].want) : !got, label,
                      "got %s, want %s", got ? got : "NULL", tags[i].want ? tags[i].want : "NULL");
        }
        check(gv_config_is_prefix(c, '#') && gv_config_is_prefix(c, '!'), "is_prefix # !",
              "not a prefix");
        check(!gv_config_is_prefix(c, '.') && !gv_config_is_prefix(c, 'a') &&
              !gv_config_is_prefix(c, '\0'), "is_prefix . a NUL", "a prefix");
        c = gv_config_free(c);

        if (gv_config_parse(json, strlen(json), &c, NULL, 0) != GV_OK) {
                check(false, "lookups", "rooms config rejected");
                return;
        }
        got = gv_config_agenda_for_room(c, "!a:x");
        check(got && !strcmp(got, "ops"), "agenda_for_room listed", "got %s", got ? got : "NULL");
        got = gv_config_agenda_for_room(c, "!A:x");
        check(got && !strcmp(got, "architecture"), "agenda_for_room unlisted", "got %s",
              got ? got : "NULL");
        check(gv_config_is_prefix(c, '!') && !gv_config_is_prefix(c, '#'),
              "is_prefix configured", "wrong prefixes \"%s\"", c->command_prefixes);
        gv_config_free(c);
}

struct lines {
        unsigned n;
        char names[48][32];
        char chair[256];
};

static void collect(void *ud, const char *text)
{
        struct lines *l = ud;
        size_t len = strcspn(text, " ");

        if (l->n < 48)
                snprintf(l->names[l->n], sizeof(l->names[0]), "%.*s", (int)len, text);
        if (!strncmp(text, "chair_power_level ", 18))
                snprintf(l->chair, sizeof(l->chair), "%s", text);
        l->n++;
}

static void test_describe(void)
{
        static const char chair[] = "chair_power_level  integer 0..100, default 50: "
                                    "users at or above this power level are chairs";
        struct lines l;
        unsigned i;

        memset(&l, 0, sizeof(l));
        gv_config_describe(collect, &l);
        check(l.n == N_KEYS, "describe: one line per key", "%u lines, want %zu", l.n, N_KEYS);
        for (i = 0; i < l.n && i < N_KEYS; i++)
                if (strcmp(l.names[i], defaults[i].key))
                        break;
        check(i == N_KEYS, "describe: the keys in order", "line %u names \"%s\"", i,
              i < 48 ? l.names[i] : "");
        check(!strcmp(l.chair, chair), "describe: chair_power_level", "got \"%s\"", l.chair);
}

static void test_misc(void)
{
        struct gv_config *c = SENTINEL;
        char small[8];
        enum gv_err r;

        check(gv_config_free(NULL) == NULL, "gv_config_free(NULL)", "not NULL");
        r = gv_config_parse("{\"foo\": 1}", 10, &c, small, sizeof(small));
        check(r == GV_ECONFIG && !strcmp(small, "key \"fo") && c == SENTINEL,
              "short err buffer is cut and terminated", "rc %d, err \"%s\"", (int)r, small);
        r = gv_config_parse("{\"foo\": 1}", 10, &c, NULL, 0);
        check(r == GV_ECONFIG && c == SENTINEL, "no err buffer", "rc %d", (int)r);
        r = gv_config_parse(NULL, 0, &c, NULL, 0);
        check(r == GV_EPARSE && c == SENTINEL, "NULL input", "rc %d", (int)r);
}

/* The publishing lookups: which wiki takes which agenda, event names,
 * where a secret is read from. */
static void test_publishing(void)
{
        static const char json[] =
                "{\"wiki\": [{\"git\": \"file:///a\", \"page\": \"p\"},"
                " {\"git\": \"file:///b\", \"page\": \"p\", \"agendas\": [\"standup\"]}]}";
        struct gv_config *c = NULL;
        char path[64];
        const char *got;

        if (gv_config_parse(json, strlen(json), &c, NULL, 0) != GV_OK) {
                check(false, "publishing config", "does not parse");
                return;
        }
        check(gv_config_wiki_wants(c, 0, "architecture") && gv_config_wiki_wants(c, 0, "standup") &&
              !gv_config_wiki_wants(c, 1, "architecture") && gv_config_wiki_wants(c, 1, "standup") &&
              !gv_config_wiki_wants(c, 2, "standup"),
              "wiki agendas: omitted takes every agenda, listed only those", "-");
        gv_config_free(c);
        check(gv_config_hook_event("item.added") == GV_HOOK_ITEM_ADDED &&
              gv_config_hook_event("minutes.published") == GV_HOOK_MINUTES_PUBLISHED &&
              gv_config_hook_event("item.Added") == 0 && gv_config_hook_event(NULL) == 0 &&
              !strcmp(gv_config_hook_name(GV_HOOK_ITEM_DISCUSSED), "item.discussed") &&
              gv_config_hook_name(3) == NULL, "webhook event names", "-");
        unsetenv("CREDENTIALS_DIRECTORY");
        check(gv_config_secret_path(NULL, "wiki-0-token", path, sizeof(path)) == NULL,
              "no file, no $CREDENTIALS_DIRECTORY: no secret", "-");
        got = gv_config_secret_path("/etc/gavel/t", "wiki-0-token", path, sizeof(path));
        check(got && !strcmp(got, "/etc/gavel/t"), "the *_file key wins", "%s", got ? got : "NULL");
        setenv("CREDENTIALS_DIRECTORY", "/run/credentials/gavel.service", 1);
        got = gv_config_secret_path("", "webhook-1-secret", path, sizeof(path));
        check(got && !strcmp(got, "/run/credentials/gavel.service/webhook-1-secret"),
              "else $CREDENTIALS_DIRECTORY/<name>", "%s", got ? got : "NULL");
        got = gv_config_secret_path(NULL, "webhook-1-secret", path, 16);
        check(got == NULL, "a path that does not fit is none", "%s", got ? got : "NULL");
        unsetenv("CREDENTIALS_DIRECTORY");
}

int main(int argc, char **argv)
{
        size_t i;

        test_defaults();
        test_sample(argc > 1 ? argv[1] : NULL);
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                run_case(&cases[i]);
        run_built_cases();
        test_load();
        test_lookups();
        test_describe();
        test_misc();
        test_publishing();
        return check_finish();
}
