/* bridge/console.c - see console.h */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../handlers/handlers.h"
#include "../handlers/minutes.h"
#include "../handlers/parse.h"
#include "../util/buf.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "../util/text.h"
#include "archive.h"
#include "console.h"
#include "../util/json.h"
#include "jobs.h"
#include "outbox.h"

struct console {
        const struct gv_config *cfg;
        struct gv_store *s;
        struct gv_core *core;
        FILE *out;
        char user[256];
        char room[256];
        int power;
        int64_t clock;          /* ms; 0: wall clock */
        int64_t ticked;         /* the time of the last gv_tick(); 0: none yet */
};

/* The process clock (util/clock.h), until /at sets the console's own. */
static int64_t now_ms(void)
{
        return gv_clock_now_ms();
}

static void print_prefixed(struct console *c, const char *room, const char *body)
{
        const char *p = body;
        size_t len = strlen(body);

        /* one trailing newline ends the message; it starts no empty line */
        if (len && body[len - 1] == '\n')
                len--;
        do {
                const char *nl = memchr(p, '\n', (size_t)(body + len - p));
                int n = nl ? (int)(nl - p) : (int)(body + len - p);

                if (strcmp(room, c->room) != 0)
                        fprintf(c->out, "[%s] ", room);
                fprintf(c->out, "<%s> %.*s\n", c->cfg->bot_name, n, p);
                p = nl ? nl + 1 : NULL;
        } while (p);
}

static int64_t console_now(const struct console *c)
{
        return c->clock ? c->clock : now_ms();
}

/* A row that cannot be built now: out of memory or the database may pass,
 * anything else never will. */
static enum gv_delivery failed(enum gv_err r, char *why, size_t n)
{
        snprintf(why, n, "cannot build it: %s", gv_strerror(r));
        return r == GV_ENOMEM || r == GV_EDB ? GV_DELIVER_LATER : GV_DELIVER_NEVER;
}

static enum gv_err deliver(void *ud, const struct gv_out *o, enum gv_delivery *d, char *why,
                           size_t n)
{
        struct console *c = ud;
        enum gv_err r;

        *d = GV_DELIVERED;
        switch (o->kind) {
        case GV_OUT_MESSAGE:
                print_prefixed(c, o->room, o->body);
                if (gv_job_keeps_event(o)) {
                        /* a series' release: reactions point at this ID (/react) */
                        char ev[64], when[32];
                        time_t t = (time_t)(o->created / 1000);
                        struct tm tm;

                        snprintf(ev, sizeof(ev), "$console-msg-%lld", (long long)o->id);
                        r = gv_job_sent_event(c->s, o->id, ev);
                        if (r)
                                return r;
                        gmtime_r(&t, &tm);
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
                        fprintf(c->out, "* release %lld (%s) is %s: /react %lld KEY answers it\n",
                                (long long)o->id, when, ev, (long long)o->id);
                }
                break;
        case GV_OUT_MINUTES: {
                struct gv_buf body = GV_BUF_INIT(GV_MINUTES_MSG_MAX);
                struct gv_buf html = GV_BUF_INIT(GV_MINUTES_MSG_MAX);

                char *target = NULL, ev[64];

                r = gv_job_edit_target(c->s, o->extra, &target, d, why, n);
                if (r || *d != GV_DELIVERED) {
                        gv_buf_free(&body);
                        gv_buf_free(&html);
                        return r;
                }
                r = gv_minutes_for_outbox(c->s, c->cfg, o->kind, o->extra, &body, &html);
                if (r == GV_OK && target) {
                        /* the edit that adds the links: only what it adds is shown */
                        cJSON *x = cJSON_Parse(o->extra);

                        gv_buf_reset(&body);
                        r = gv_job_links_append(c->s, gv_js_uint(x, "meeting", 0), &body, NULL);
                        cJSON_Delete(x);
                        if (r == GV_OK)
                                fprintf(c->out, "* %s edits the minutes (%s):%s", c->cfg->bot_name,
                                        target, gv_buf_str(&body));
                } else if (r == GV_OK) {
                        print_prefixed(c, o->room, gv_buf_str(&body));
                        snprintf(ev, sizeof(ev), "$console-minutes-%lld", (long long)o->id);
                        r = gv_job_sent_event(c->s, o->id, ev);
                        if (r) {
                                free(target);
                                gv_buf_free(&body);
                                gv_buf_free(&html);
                                return r;
                        }
                }
                if (r)
                        *d = failed(r, why, n);
                free(target);
                gv_buf_free(&body);
                gv_buf_free(&html);
                break;
        }
        case GV_OUT_REACTION: {
                const char *ev = o->extra ? strstr(o->extra, "\"event_id\":\"") : NULL;
                int k = 0;

                if (ev) {
                        ev += strlen("\"event_id\":\"");
                        while (ev[k] && ev[k] != '"')
                                k++;
                }
                fprintf(c->out, "* %s reacts %s to %.*s\n", c->cfg->bot_name, o->body, k,
                        ev ? ev : "");
                break;
        }
        case GV_OUT_FILE:
                r = gv_outbox_write_file(c->s, c->cfg, c->cfg->archive_dir, o, console_now(c), d,
                                         why, n);
                if (r)
                        return r;
                if (*d == GV_DELIVERED)
                        fprintf(c->out, "* %s wrote %s/%s\n", c->cfg->bot_name, c->cfg->archive_dir,
                                o->room);
                break;
        case GV_OUT_WIKI:
        case GV_OUT_WEBHOOK:
                r = gv_job_deliver(c->s, c->cfg, o, console_now(c), d, why, n);
                if (r)
                        return r;
                if (*d == GV_DELIVERED)
                        fprintf(c->out, "* %s delivered %s %s\n", c->cfg->bot_name,
                                gv_out_kind_name(o->kind), o->room);
                break;
        default:
                snprintf(why, n, "the console cannot deliver a %s", gv_out_kind_name(o->kind));
                *d = GV_DELIVER_NEVER;
                break;
        }
        fflush(c->out);
        return GV_OK;
}

/* What the console shows: messages, reactions and minutes, and the files. */
#define CONSOLE_KINDS (GV_OUT_BIT(GV_OUT_MESSAGE) | GV_OUT_BIT(GV_OUT_REACTION) | \
                       GV_OUT_BIT(GV_OUT_MINUTES) | GV_OUT_BIT(GV_OUT_FILE) | GV_JOB_KINDS)

static enum gv_err drain(struct console *c)
{
        struct gv_sink sink = { c, CONSOLE_KINDS, deliver };

        return gv_outbox_drain(c->s, console_now(c), c->cfg->backoff_max_ms, &sink, NULL);
}

/* Next event ID: "$console-N", N kept in the store so a restart goes on. */
static enum gv_err next_id(struct console *c, char out[48])
{
        char *v = NULL;
        uint64_t n = 0;
        char buf[32];
        enum gv_err r = gv_store_kv_get(c->s, "console_seq", &v);

        if (r)
                return r;
        if (v && gv_parse_u64(v, UINT64_MAX - 1, &n) != GV_OK)
                n = 0;
        free(v);
        n++;
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)n);
        snprintf(out, 48, "$console-%llu", (unsigned long long)n);
        return gv_store_kv_set(c->s, "console_seq", buf);
}

/* The timers (series releases and reminders, issue 10) due by `until`,
 * one due time at a time from the last tick, each in its own transaction
 * and its rows delivered before the next: a scripted week prints each
 * release and reminder at its time. */
static enum gv_err tick_to(struct console *c, int64_t until)
{
        int64_t at = c->ticked && c->ticked < until ? c->ticked : until, saved = c->clock;
        enum gv_err r = GV_OK;

        for (int guard = 0; guard < 100000 && r == GV_OK; guard++) {
                int64_t due = INT64_MAX;

                r = gv_next_due(c->core, at, &due);
                if (r)
                        break;
                if (due > until)
                        break;
                if (due > at)
                        at = due;
                else if (guard > 0 && at < until)
                        at = until;     /* still pending where it was done: on to the end */
                else if (guard > 0)
                        break;
                r = gv_store_begin(c->s);
                if (r)
                        break;
                r = gv_tick(c->core, at);
                if (r == GV_OK)
                        r = gv_store_commit(c->s);
                if (r) {
                        gv_store_rollback(c->s);
                        break;
                }
                if (c->clock)
                        c->clock = at;
                r = drain(c);
                if (at == until)
                        break;
        }
        c->clock = saved;
        if (r == GV_OK)
                c->ticked = until;
        return r;
}

static enum gv_err send_event(struct console *c, const char *body, size_t len,
                              const char *msgtype, const char *key, const char *target);

static enum gv_err send_line(struct console *c, const char *body, size_t len, const char *msgtype)
{
        return send_event(c, body, len, msgtype, NULL, NULL);
}

/* "/react [N] KEY": a reaction as the current user to release N (its
 * outbox row, as printed) or to the newest release. */
static enum gv_err react(struct console *c, char *arg)
{
        char *key = strchr(arg, ' '), *target = NULL;
        uint64_t n = 0;
        enum gv_err r;

        if (key) {
                *key++ = '\0';
                if (gv_parse_u64(arg, INT64_MAX, &n) != GV_OK || n == 0 || !*key ||
                    strchr(key, ' ')) {
                        fprintf(c->out, "! console: /react [N] KEY: N is a release's number\n");
                        return GV_OK;
                }
        } else {
                key = arg;
        }
        r = gv_store_release_event(c->s, (int64_t)n, &target, NULL);
        if (r == GV_ENOTFOUND) {
                if (n)
                        fprintf(c->out, "! console: no release %llu was sent\n",
                                (unsigned long long)n);
                else
                        fprintf(c->out, "! console: no release was sent yet\n");
                return GV_OK;
        }
        if (r == GV_OK)
                r = send_event(c, "", 0, NULL, key, target);
        free(target);
        return r;
}

static enum gv_err send_event(struct console *c, const char *body, size_t len,
                              const char *msgtype, const char *key, const char *target)
{
        struct gv_event ev;
        char id[48], nick[256];
        enum gv_err r;

        memset(&ev, 0, sizeof(ev));
        r = gv_store_begin(c->s);
        if (r)
                return r;
        r = next_id(c, id);
        if (r)
                goto fail;
        ev.room = c->room;
        ev.sender = c->user;
        ev.event_id = id;
        ev.ts = c->clock ? c->clock : now_ms();
        ev.msgtype = msgtype;
        ev.body = body;
        ev.body_len = len;
        ev.power = c->power;
        ev.reaction_key = key;
        ev.relates_to = target;
        /* Whoever speaks is a member of the room (for #chair by nick). */
        gv_nick_of(c->user, nick, sizeof(nick));
        r = gv_store_member_seen(c->s, c->room, c->user, nick);
        if (r)
                goto fail;
        r = gv_handle(c->core, &ev);
        if (r)
                goto fail;
        r = gv_store_commit(c->s);
        if (r)
                goto fail;
        if (c->clock)
                c->clock += 1000;
        return drain(c);
fail:
        gv_store_rollback(c->s);
        return r;
}

/* "/at 2017-05-08 13:00:44", "/at 2017-05-08T13:00:44" or "/at 13:00:44" (same day). */
/* "HH:MM:SS" or "HH:MM" (":00" then) into ms of the day. */
static int parse_time(const char *arg, int64_t *tod)
{
        char t[9];
        size_t n = strlen(arg);

        if (n == 5) {
                memcpy(t, arg, 5);
                memcpy(t + 5, ":00", 4);
                arg = t;
        } else if (n != 8) {
                return -1;
        }
        return gv_parse_hms(arg, tod) ? -1 : 0;
}

static int set_clock(struct console *c, const char *arg)
{
        int64_t day, tod;
        char date[11];

        if (strlen(arg) >= 16 && (arg[10] == ' ' || arg[10] == 'T')) {
                memcpy(date, arg, 10);
                date[10] = '\0';
                if (gv_parse_date(date, &day) || parse_time(arg + 11, &tod))
                        return -1;
        } else if (c->clock) {
                day = c->clock - c->clock % 86400000;
                if (parse_time(arg, &tod))
                        return -1;
        } else {
                return -1;
        }
        c->clock = day + tod;
        return 0;
}

static void console_help(FILE *out)
{
        fputs("  /as NAME        speak as NAME\n"
              "  /room NAME      speak in room NAME\n"
              "  /power N        give the current user power level N (0-100)\n"
              "  /at YYYY-MM-DD HH:MM[:SS] | /at HH:MM[:SS]   set the clock (then +1 s a line)\n"
              "                  timers due by then (series releases, reminders) fire first\n"
              "  /react [N] KEY  react with KEY (\u2705, \u274c, ...) to release N as printed\n"
              "                  (\"* release N ...\"), or to the latest release\n"
              "  /me TEXT        an emote\n"
              "  TEXT \\         a line ending in a backslash continues on the next line\n"
              "  /quit           leave\n"
              "  anything else   a message; !help lists the bot's commands\n", out);
}

/* Returns 1 to quit, 0 to go on, -1 on a fatal error. */
static int directive(struct console *c, char *line)
{
        char *arg = strchr(line, ' ');
        uint64_t p;

        if (arg)
                *arg++ = '\0';
        else
                arg = line + strlen(line);
        if (strcmp(line, "/quit") == 0)
                return 1;
        if (strcmp(line, "/help") == 0) {
                console_help(c->out);
        } else if ((strcmp(line, "/as") == 0 || strcmp(line, "/room") == 0) && *arg &&
                   strlen(arg) < sizeof(c->user) && !strchr(arg, ' ')) {
                snprintf(line[1] == 'a' ? c->user : c->room, sizeof(c->user), "%s", arg);
        } else if (strcmp(line, "/power") == 0 && gv_parse_u64(arg, 100, &p) == GV_OK) {
                c->power = (int)p;
        } else if (strcmp(line, "/at") == 0) {
                int64_t old = c->clock;
                enum gv_err r;

                if (set_clock(c, arg) != 0) {
                        fprintf(c->out, "! console: /at wants YYYY-MM-DD HH:MM[:SS] or HH:MM[:SS]\n");
                        fflush(c->out);
                        return 0;
                }
                /* every timer due by then fires first; the first /at of a
                 * run is where the clock starts (nothing before it fires) */
                if (!old || old > c->clock)
                        c->ticked = 0;
                r = tick_to(c, c->clock);
                if (r) {
                        fprintf(stderr, "gavel: %s: %s\n", gv_strerror(r), gv_store_errmsg(c->s));
                        return -1;
                }
        } else if (strcmp(line, "/react") == 0 && *arg) {
                enum gv_err r = react(c, arg);

                if (r) {
                        fprintf(stderr, "gavel: %s: %s\n", gv_strerror(r), gv_store_errmsg(c->s));
                        return -1;
                }
        } else if (strcmp(line, "/me") == 0 && *arg) {
                enum gv_err r = send_line(c, arg, strlen(arg), "m.emote");

                if (r) {
                        fprintf(stderr, "gavel: %s: %s\n", gv_strerror(r), gv_store_errmsg(c->s));
                        return -1;
                }
        } else {
                fprintf(c->out, "! console: cannot use '%.64s%s%.64s' (try /help)\n", line,
                        *arg ? " " : "", arg);
        }
        fflush(c->out);
        return 0;
}

/* Reads one line into b; returns 1 with a line, 0 at EOF, -1 for a line over
 * the limit (consumed and dropped). */
static int read_line(FILE *in, struct gv_buf *b)
{
        int ch, over = 0;

        gv_buf_reset(b);
        while ((ch = getc(in)) != EOF && ch != '\n') {
                if (!over && gv_buf_addc(b, (char)ch) != GV_OK)
                        over = 1;
        }
        if (ch == EOF && b->len == 0 && !over)
                return 0;
        if (over)
                return -1;
        if (b->len && b->p[b->len - 1] == '\r')
                b->p[--b->len] = '\0';
        return 1;
}

int gv_console_run(const struct gv_config *cfg, FILE *in, FILE *out)
{
        struct console c;
        struct gv_buf line = GV_BUF_INIT(GV_CONSOLE_MAX_LINE);
        struct gv_buf msg = GV_BUF_INIT(GV_CONSOLE_MAX_LINE);
        bool tty = isatty(fileno(in)) && isatty(fileno(out));
        int status = 1, k;
        enum gv_err r;

        memset(&c, 0, sizeof(c));
        c.cfg = cfg;
        c.out = out;
        snprintf(c.user, sizeof(c.user), "%s", "user");
        snprintf(c.room, sizeof(c.room), "%s", "console");
        r = gv_store_open(cfg->database, &c.s);
        if (r) {
                fprintf(stderr, "gavel: %s\n", gv_store_errmsg(NULL));
                return 1;
        }
        r = gv_core_new(c.s, cfg, &c.core);
        if (r == GV_OK)
                r = drain(&c); /* what a crash left unsent */
        if (r)
                goto out;
        if (r == GV_OK && tty)
                r = tick_to(&c, console_now(&c));
        if (r)
                goto out;
        if (tty)
                fprintf(out, "gavel console: you are %s in %s. /help lists console commands, "
                             "!help the bot's.\n", c.user, c.room);
        for (;;) {
                if (tty) {
                        fprintf(out, "%s@%s> ", c.user, c.room);
                        fflush(out);
                }
                k = read_line(in, &line);
                if (k == 0)
                        break;
                if (k < 0) {
                        fprintf(out, "! console: line over %u bytes dropped\n", GV_CONSOLE_MAX_LINE);
                        continue;
                }
                /* the timers due by now fire before the line (the start's
                 * tick waits for a first /at, which sets the clock) */
                if (!msg.len && (c.ticked || strncmp(line.p, "/at ", 4) != 0)) {
                        r = tick_to(&c, console_now(&c));
                        if (r)
                                goto out;
                }
                if (!msg.len && line.len && line.p[0] == '/' && line.p[1] != '/') {
                        k = directive(&c, line.p);
                        if (k > 0)
                                break;
                        if (k < 0)
                                goto out;
                        continue;
                }
                /* "text \" continues the message on the next line */
                if (line.len && line.p[line.len - 1] == '\\') {
                        line.p[--line.len] = '\0';
                        if (gv_buf_add(&msg, line.p, line.len) || gv_buf_addc(&msg, '\n'))
                                fprintf(out, "! console: message over %u bytes dropped\n",
                                        GV_CONSOLE_MAX_LINE);
                        continue;
                }
                if (msg.len) {
                        if (gv_buf_add(&msg, line.p, line.len)) {
                                fprintf(out, "! console: message over %u bytes dropped\n",
                                        GV_CONSOLE_MAX_LINE);
                                gv_buf_reset(&msg);
                                continue;
                        }
                        r = send_line(&c, msg.p, msg.len, "m.text");
                        gv_buf_reset(&msg);
                } else if (line.len) {
                        r = send_line(&c, line.p[0] == '/' ? line.p + 1 : line.p,
                                      line.len - (line.p[0] == '/'), "m.text");
                }
                if (r)
                        goto out;
        }
        status = 0;
out:
        if (r)
                fprintf(stderr, "gavel: %s: %s\n", gv_strerror(r), gv_store_errmsg(c.s));
        gv_buf_free(&line);
        gv_buf_free(&msg);
        gv_core_free(c.core);
        gv_store_free(c.s);
        return status;
}
