/* tests/unit/test-series.c - handlers/series.c with an injected clock on a
 * ":memory:" store: releases and reminders at the right UTC instant on
 * both sides of the DST switches of Europe/Athens and America/Los_Angeles,
 * an EXDATE skipping an occurrence's timers, a release missed while down
 * done once and late (or skipped once the meeting began or long after),
 * never twice across ticks, two series in one room, attendance from
 * reactions (and their redaction) and !cantmake / !canmake postponing items
 * with the reason, !next, !agenda release. The config's series are filled
 * by hand (gv_recur_new), not parsed. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../handlers/event.h"
#include "../../handlers/handlers.h"
#include "../../store/store.h"
#include "../../util/config.h"
#include "../../util/err.h"
#include "../../util/recur.h"

#include "check.h"

#define ROOM "!arch:example.org"
#define PROCESS "!process:example.org"
#define ALICE "@alice:example.org"
#define BOB "@bob:example.org"
#define MAX_SERIES 4
#define MAX_LOG 256

/* UTC ms of a date-time */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
        struct tm tm;

        memset(&tm, 0, sizeof(tm));
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        return (int64_t)timegm(&tm) * 1000;
}

static const char *hm(int64_t ms)
{
        static char ring[4][64];
        static unsigned k;
        char *o = ring[k++ % 4];
        time_t t = (time_t)(ms / 1000);
        struct tm tm;

        gmtime_r(&t, &tm);
        snprintf(o, 64, "%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min);
        return o;
}

struct spec {
        const char *name, *room, *rrule, *tz, *release_room;
        int64_t release, remind;
        const char *exdate;
};

/* What came out: per outbox row, when (the tick's time), room and body. */
struct logged {
        int64_t at, row;
        char room[64];
        char *body, *extra, *html;
};

struct fx {
        struct gv_store *s;
        struct gv_config *cfg;
        struct gv_core *core;
        struct gv_series_cfg series[MAX_SERIES];
        char *exd[MAX_SERIES];
        struct logged log[MAX_LOG];
        size_t n_log;
        int64_t after;  /* outbox rows taken */
        unsigned n_ev;
        bool ok;
};

static void take(struct fx *f, int64_t at)
{
        struct gv_out o;

        memset(&o, 0, sizeof(o));
        while (gv_store_outbox_next(f->s, f->after, &o) == GV_OK) {
                f->after = o.id;
                if (f->n_log < MAX_LOG && o.kind == GV_OUT_MESSAGE) {
                        struct logged *l = &f->log[f->n_log++];

                        l->at = at;
                        l->row = o.id;
                        snprintf(l->room, sizeof(l->room), "%s", o.room);
                        l->body = o.body;
                        l->extra = o.extra;
                        l->html = o.html;
                        o.body = o.extra = o.html = NULL;
                }
                gv_out_clear(&o);
        }
}

static void log_clear(struct fx *f)
{
        for (size_t i = 0; i < f->n_log; i++) {
                free(f->log[i].body);
                free(f->log[i].extra);
                free(f->log[i].html);
        }
        f->n_log = 0;
}

static bool fx_open(struct fx *f, const struct spec *sp, size_t n)
{
        char err[256];

        memset(f, 0, sizeof(*f));
        if (gv_config_defaults(&f->cfg) != GV_OK || gv_store_open(":memory:", &f->s) != GV_OK ||
            gv_store_begin(f->s) != GV_OK) {
                check(false, "fixture", "cannot open");
                return false;
        }
        for (size_t i = 0; i < n; i++) {
                struct gv_series_cfg *sc = &f->series[i];
                const char *ex[1] = { sp[i].exdate };

                sc->name = (char *)sp[i].name;
                sc->room = (char *)sp[i].room;
                sc->rrule = (char *)sp[i].rrule;
                sc->tz = (char *)sp[i].tz;
                sc->release_room = (char *)sp[i].release_room;
                sc->release_before_min = sp[i].release;
                sc->remind_before_min = sp[i].remind;
                if (gv_recur_new(sp[i].rrule, sp[i].tz, ex, sp[i].exdate ? 1 : 0, &sc->recur, err,
                                 sizeof(err)) != GV_OK) {
                        check(false, "fixture recur", "%s: %s", sp[i].rrule, err);
                        return false;
                }
        }
        free(f->cfg->series);   /* the defaults' empty list (no entries to free) */
        f->cfg->series = f->series;
        f->cfg->n_series = n;
        if (gv_core_new(f->s, f->cfg, &f->core) != GV_OK)
                return false;
        f->ok = true;
        return true;
}

static void fx_close(struct fx *f)
{
        log_clear(f);
        if (f->s && gv_store_commit(f->s) != GV_OK)
                check(false, "commit", "failed");
        gv_core_free(f->core);
        gv_store_free(f->s);
        for (size_t i = 0; i < MAX_SERIES; i++)
                gv_recur_free(f->series[i].recur);
        if (f->cfg) {
                f->cfg->series = NULL;
                f->cfg->n_series = 0;
        }
        gv_config_free(f->cfg);
        memset(f, 0, sizeof(*f));
}

static void tick(struct fx *f, int64_t now)
{
        enum gv_err r = gv_tick(f->core, now);

        if (r)
                check(false, "gv_tick", "%s at %s", gv_strerror(r), hm(now));
        take(f, now);
}

/* Like the console's /at: every timer from `from` to `until`, one due time
 * at a time. Returns how many ticks fired. */
static int run(struct fx *f, int64_t from, int64_t until)
{
        int64_t at = from, due = 0;
        int n = 0;

        for (int guard = 0; guard < 1000; guard++) {
                if (gv_next_due(f->core, at, &due) != GV_OK) {
                        check(false, "gv_next_due", "error at %s", hm(at));
                        return n;
                }
                if (due > until)
                        break;
                if (due > at)
                        at = due;
                else if (guard > 0)
                        break;
                tick(f, at);
                n++;
        }
        return n;
}

static struct gv_event *ev(struct fx *f, struct gv_event *e, char id[48], const char *room,
                           const char *sender, int64_t ts, const char *body)
{
        memset(e, 0, sizeof(*e));
        snprintf(id, 48, "$ev%u", ++f->n_ev);
        e->room = room;
        e->sender = sender;
        e->event_id = id;
        e->ts = ts;
        e->msgtype = "m.text";
        e->body = body;
        e->body_len = strlen(body);
        return e;
}

static void say(struct fx *f, const char *room, const char *sender, int64_t ts, const char *body,
                int power)
{
        struct gv_event e;
        char id[48];

        ev(f, &e, id, room, sender, ts, body);
        e.power = power;
        if (gv_handle(f->core, &e) != GV_OK)
                check(false, "gv_handle", "%s", body);
        take(f, ts);
}

static void react(struct fx *f, const char *room, const char *sender, int64_t ts,
                  const char *target, const char *key, char id[48])
{
        struct gv_event e;

        ev(f, &e, id, room, sender, ts, "");
        e.reaction_key = key;
        e.relates_to = target;
        if (gv_handle(f->core, &e) != GV_OK)
                check(false, "gv_handle reaction", "%s", key);
        take(f, ts);
}

static size_t count(const struct fx *f, const char *needle)
{
        size_t n = 0;

        for (size_t i = 0; i < f->n_log; i++)
                if (strstr(f->log[i].body, needle))
                        n++;
        return n;
}

static const struct logged *find(const struct fx *f, const char *needle)
{
        for (size_t i = 0; i < f->n_log; i++)
                if (strstr(f->log[i].body, needle))
                        return &f->log[i];
        return NULL;
}

static const char *last_body(const struct fx *f)
{
        return f->n_log ? f->log[f->n_log - 1].body : "(none)";
}

/* ---- DST ---- */

static void test_dst_athens(void)
{
        struct spec sp[] = { { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15;BYMINUTE=0",
                               "Europe/Athens", PROCESS, 90, 5, NULL } };
        struct fx f;
        const struct logged *l;
        int64_t due = 0;

        if (!fx_open(&f, sp, 1))
                return;
        /* EEST (UTC+3) until Sun 2026-10-25 04:00 local, then EET (UTC+2) */
        check(gv_next_due(f.core, utc(2026, 10, 21, 0, 0), &due) == GV_OK &&
              due == utc(2026, 10, 22, 10, 30), "athens: Thu before the switch released at 10:30 UTC",
              "due %s", hm(due));
        run(&f, utc(2026, 10, 21, 0, 0), utc(2026, 10, 27, 0, 0));
        l = find(&f, "Arch call, Thu 2026-10-22 15:00");
        check(l && l->at == utc(2026, 10, 22, 10, 30) && strcmp(l->room, PROCESS) == 0,
              "athens: release of Thu 22 at 10:30 UTC in the release room", "%s %s",
              l ? hm(l->at) : "none", l ? l->room : "");
        check(l && strstr(l->body, "(12:00 UTC)"), "athens: release says 15:00 local is 12:00 UTC",
              "%s", l ? l->body : "none");
        l = find(&f, "Reminder: Arch call starts in 5 minutes, Thu 2026-10-22");
        check(l && l->at == utc(2026, 10, 22, 11, 55) && strcmp(l->room, ROOM) == 0,
              "athens: reminder of Thu 22 at 11:55 UTC in the series' room", "%s",
              l ? hm(l->at) : "none");
        l = find(&f, "Arch call, Mon 2026-10-26 15:00");
        check(l && l->at == utc(2026, 10, 26, 11, 30), "athens: Mon after the switch released at 11:30 UTC",
              "%s", l ? hm(l->at) : "none");
        l = find(&f, "Reminder: Arch call starts in 5 minutes, Mon 2026-10-26");
        check(l && l->at == utc(2026, 10, 26, 12, 55), "athens: Mon reminder at 12:55 UTC", "%s",
              l ? hm(l->at) : "none");
        check(f.n_log == 4, "athens: two releases and two reminders in the week", "%zu rows",
              f.n_log);
        log_clear(&f);
        /* spring forward: Sun 2026-03-29 03:00 local */
        run(&f, utc(2026, 3, 25, 0, 0), utc(2026, 3, 31, 0, 0));
        l = find(&f, "Arch call, Thu 2026-03-26 15:00");
        check(l && l->at == utc(2026, 3, 26, 11, 30), "athens: Thu before spring forward at 11:30 UTC",
              "%s", l ? hm(l->at) : "none");
        l = find(&f, "Arch call, Mon 2026-03-30 15:00");
        check(l && l->at == utc(2026, 3, 30, 10, 30), "athens: Mon after spring forward at 10:30 UTC",
              "%s", l ? hm(l->at) : "none");
        fx_close(&f);
}

static void test_dst_los_angeles(void)
{
        struct spec sp[] = { { "LA sync", ROOM, "FREQ=WEEKLY;BYDAY=TU;BYHOUR=9",
                               "America/Los_Angeles", NULL, 60, 0, NULL } };
        struct fx f;
        const struct logged *l;

        if (!fx_open(&f, sp, 1))
                return;
        /* PST (UTC-8) until Sun 2026-03-08, then PDT (UTC-7) until Sun 2026-11-01 */
        run(&f, utc(2026, 3, 1, 0, 0), utc(2026, 3, 12, 0, 0));
        l = find(&f, "LA sync, Tue 2026-03-03 09:00");
        check(l && l->at == utc(2026, 3, 3, 16, 0) && strcmp(l->room, ROOM) == 0,
              "los angeles: PST Tuesday released at 16:00 UTC", "%s", l ? hm(l->at) : "none");
        l = find(&f, "LA sync, Tue 2026-03-10 09:00");
        check(l && l->at == utc(2026, 3, 10, 15, 0), "los angeles: PDT Tuesday released at 15:00 UTC",
              "%s", l ? hm(l->at) : "none");
        check(f.n_log == 2 && count(&f, "Reminder") == 0,
              "los angeles: remind_before_min 0 is no reminder", "%zu rows", f.n_log);
        log_clear(&f);
        run(&f, utc(2026, 10, 26, 0, 0), utc(2026, 11, 5, 0, 0));
        l = find(&f, "LA sync, Tue 2026-10-27 09:00");
        check(l && l->at == utc(2026, 10, 27, 15, 0), "los angeles: last PDT Tuesday at 15:00 UTC",
              "%s", l ? hm(l->at) : "none");
        l = find(&f, "LA sync, Tue 2026-11-03 09:00");
        check(l && l->at == utc(2026, 11, 3, 16, 0), "los angeles: first PST Tuesday at 16:00 UTC",
              "%s", l ? hm(l->at) : "none");
        fx_close(&f);
}

/* ---- EXDATE ---- */

static void test_exdate(void)
{
        struct spec sp[] = { { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15", "UTC",
                               NULL, 60, 5, "2026-12-24T15:00" } };
        struct fx f;

        if (!fx_open(&f, sp, 1))
                return;
        run(&f, utc(2026, 12, 20, 0, 0), utc(2026, 12, 29, 0, 0));
        check(count(&f, "Thu 2026-12-24") == 0, "exdate: no release nor reminder on Thu 24",
              "%zu", count(&f, "Thu 2026-12-24"));
        check(count(&f, "Arch call, Mon 2026-12-21") == 1 && count(&f, "Arch call, Mon 2026-12-28") == 1,
              "exdate: the Mondays around it are released", "%zu rows", f.n_log);
        check(f.n_log == 4, "exdate: two releases and two reminders", "%zu rows", f.n_log);
        fx_close(&f);
}

/* ---- missed while down, never twice ---- */

static void test_missed(void)
{
        struct spec sp[] = { { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15", "UTC",
                               NULL, 90, 5, NULL } };
        struct fx f;
        const struct logged *l;
        bool rec = false;
        enum gv_timer_state st = GV_TIMER_DONE;
        int64_t occ = utc(2026, 12, 7, 15, 0), due = 0;

        if (!fx_open(&f, sp, 1))
                return;
        /* down from before 13:30 until 14:10: the release is done late, once */
        tick(&f, utc(2026, 12, 7, 14, 10));
        l = find(&f, "(late: due 13:30 UTC) Arch call, Mon 2026-12-07 15:00");
        check(l != NULL && f.n_log == 1, "missed: the release is done at start, saying it is late",
              "%zu rows: %s", f.n_log, last_body(&f));
        for (int i = 0; i < 3; i++)
                tick(&f, utc(2026, 12, 7, 14, 10) + i * 1000);
        tick(&f, utc(2026, 12, 7, 14, 30));
        check(count(&f, "Arch call, Mon 2026-12-07") == 1, "missed: never twice across ticks",
              "%zu", count(&f, "Arch call, Mon 2026-12-07"));
        check(gv_next_due(f.core, utc(2026, 12, 7, 14, 31), &due) == GV_OK &&
              due == utc(2026, 12, 7, 14, 55), "missed: next due is the reminder", "%s", hm(due));
        /* the meeting begins at 14:50: the reminder, missed, is skipped */
        say(&f, ROOM, ALICE, utc(2026, 12, 7, 14, 50), "#startmeeting Arch call", 100);
        log_clear(&f);
        tick(&f, utc(2026, 12, 7, 14, 58));
        check(f.n_log == 0, "missed: a reminder overdue once the meeting began is skipped",
              "%s", last_body(&f));
        check(gv_store_timer_get(f.s, "Arch call", occ, GV_TIMER_REMIND, &rec, &st) == GV_OK &&
              rec && st == GV_TIMER_SKIPPED, "missed: the skip is recorded", "rec %d state %d",
              rec, st);
        tick(&f, utc(2026, 12, 7, 14, 59));
        check(f.n_log == 0, "missed: a skipped timer is never done later", "%zu", f.n_log);
        check(gv_store_timer_get(f.s, "Arch call", occ, GV_TIMER_RELEASE, &rec, &st) == GV_OK &&
              rec && st == GV_TIMER_LATE, "missed: the release is recorded late", "state %d", st);
        fx_close(&f);

        /* down from Wed until Thu 16:00 (the Thursday meeting is long past):
         * both its timers are dropped, Monday's come in time */
        if (!fx_open(&f, sp, 1))
                return;
        tick(&f, utc(2026, 12, 10, 16, 0));
        check(f.n_log == 0, "missed: nothing for an occurrence well past", "%s", last_body(&f));
        check(gv_next_due(f.core, utc(2026, 12, 10, 16, 0), &due) == GV_OK &&
              due == utc(2026, 12, 14, 13, 30), "missed: next due is Monday's release", "%s",
              hm(due));
        /* the meeting started at 15:02 and no meeting: 15:05 is within the grace */
        fx_close(&f);

        if (!fx_open(&f, sp, 1))
                return;
        /* the meeting of Mon 7 began at 13:40, gavel came back at 13:45:
         * the release (due 13:30) is skipped, the reminder is on time */
        say(&f, ROOM, ALICE, utc(2026, 12, 7, 13, 40), "#startmeeting early", 100);
        log_clear(&f);
        tick(&f, utc(2026, 12, 7, 13, 45));
        check(f.n_log == 0, "missed: a release overdue once the meeting began is skipped",
              "%s", last_body(&f));
        run(&f, utc(2026, 12, 7, 13, 45), utc(2026, 12, 7, 15, 0));
        check(f.n_log == 1 && count(&f, "Reminder: Arch call starts in 5 minutes") == 1,
              "missed: the reminder on time still comes", "%s", last_body(&f));
        fx_close(&f);
}

/* ---- two series in one room ---- */

static void test_two_series(void)
{
        struct spec sp[] = {
                { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15", "Europe/Athens", NULL, 60,
                  5, NULL },
                { "Retro", ROOM, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=17", "UTC", NULL, 30, 10, NULL },
        };
        struct fx f;
        const struct logged *l;

        if (!fx_open(&f, sp, 2))
                return;
        run(&f, utc(2026, 12, 6, 0, 0), utc(2026, 12, 8, 0, 0));
        check(count(&f, "Arch call, Mon 2026-12-07 15:00") == 1 &&
              count(&f, "Retro, Mon 2026-12-07 17:00") == 1,
              "two series: each releases its own occurrence", "%zu rows", f.n_log);
        l = find(&f, "Retro, Mon");
        check(l && l->at == utc(2026, 12, 7, 16, 30), "two series: Retro at 16:30 UTC", "%s",
              l ? hm(l->at) : "none");
        l = find(&f, "Arch call, Mon");
        check(l && l->at == utc(2026, 12, 7, 12, 0), "two series: Arch call at 12:00 UTC", "%s",
              l ? hm(l->at) : "none");
        check(count(&f, "Reminder: Retro") == 1 && count(&f, "Reminder: Arch call") == 1,
              "two series: each its reminder", "%zu", f.n_log);
        log_clear(&f);
        say(&f, ROOM, BOB, utc(2026, 12, 8, 9, 0), "!next", 0);
        check(strstr(last_body(&f), "Next Arch call: Mon 2026-12-14 15:00") &&
              strstr(last_body(&f), "(13:00 UTC)") &&
              strstr(last_body(&f), "Next Retro: Mon 2026-12-14 17:00"),
              "two series: !next lists each, local and UTC", "%s", last_body(&f));
        say(&f, ROOM, BOB, utc(2026, 12, 14, 12, 0), "!cantmake", 0);
        check(strstr(last_body(&f), "can't make Arch call, Mon 2026-12-14 15:00") != NULL,
              "two series: a command acts on the soonest", "%s", last_body(&f));
        say(&f, ROOM, BOB, utc(2026, 12, 14, 12, 0), "!cantmake retro", 0);
        check(strstr(last_body(&f), "can't make Retro, Mon 2026-12-14 17:00") != NULL,
              "two series: or on the one named", "%s", last_body(&f));
        say(&f, ROOM, BOB, utc(2026, 12, 14, 16, 0), "!cantmake", 0);
        check(strstr(last_body(&f), "can't make Retro, Mon 2026-12-14 17:00") != NULL,
              "two series: after the first has started, the other is the soonest", "%s",
              last_body(&f));
        say(&f, "!elsewhere:example.org", BOB, utc(2026, 12, 14, 16, 0), "!next", 0);
        check(strstr(last_body(&f), "No meeting series meets in this room") != NULL,
              "two series: !next elsewhere says there is none", "%s", last_body(&f));
        fx_close(&f);
}

/* ---- attendance ---- */

static void test_attendance(void)
{
        struct spec sp[] = { { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15",
                               "Europe/Athens", PROCESS, 90, 5, NULL } };
        struct fx f;
        const struct logged *l;
        char ev_no[48], ev_yes[48], rel_ev[64];
        struct gv_event e;
        char id[48];
        int64_t t0 = utc(2026, 12, 3, 9, 0);

        if (!fx_open(&f, sp, 1))
                return;
        say(&f, ROOM, ALICE, t0, "#architecture Discuss keyframes cc " BOB, 0);
        say(&f, ROOM, BOB, t0 + 1000, "#architecture Rotate the keys cc @carol:example.org", 0);
        say(&f, ROOM, "@carol:example.org", t0 + 2000, "#architecture Pinned review", 0);
        say(&f, ROOM, ALICE, t0 + 3000, "!agenda pin 3", 100);
        log_clear(&f);
        run(&f, t0, utc(2026, 12, 3, 11, 40));
        l = find(&f, "Arch call, Thu 2026-12-03 15:00");
        check(l != NULL, "attendance: released", "%s", last_body(&f));
        if (!l) {
                fx_close(&f);
                return;
        }
        check(strstr(l->body, "1. Pinned review [pinned]") && strstr(l->body, "2. Discuss keyframes") &&
              strstr(l->body, "https://matrix.to/#/!arch:example.org/%24ev1") &&
              strstr(l->body, "(reporter " ALICE "; cc " BOB ")"),
              "attendance: the release lists items with their links, reporters and mentions",
              "%s", l->body);
        check(strstr(l->body, "React \u2705 or \u274c") != NULL, "attendance: it asks to confirm",
              "%s", l->body);
        check(l->html && strstr(l->html, "<ol>\n<li><a href=\"https://matrix.to/#/!arch:example.org/%24ev3\">"
                                        "Pinned review</a> <i>[pinned]</i> (reporter <a href=\"https://matrix.to/#/"
                                        "@carol:example.org\">@carol:example.org</a>)</li>"),
              "attendance: the release's HTML links each item and pills its people", "%s",
              l->html ? l->html : "(null)");
        {
                cJSON *x = cJSON_Parse(l->extra), *m = cJSON_GetObjectItemCaseSensitive(x, "mentions");
                bool keep = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "keep_event"));
                int n = cJSON_GetArraySize(m);

                check(keep && n == 3, "attendance: m.mentions has reporters and mentions, keep_event set",
                      "%s", l->extra);
                cJSON_Delete(x);
        }
        /* the sender kept the release's event ID */
        snprintf(rel_ev, sizeof(rel_ev), "$release-%lld", (long long)l->row);
        check(gv_store_release_sent(f.s, l->row, rel_ev) == GV_OK, "attendance: release sent", "%s", rel_ev);
        log_clear(&f);
        /* alice can't make it: her item is postponed, with why */
        react(&f, PROCESS, ALICE, utc(2026, 12, 3, 11, 45), rel_ev, "\u274c\xef\xb8\x8f", ev_no);
        check(count(&f, "Postponed: Discuss keyframes (" ALICE " can't make Thu 15:00)") == 1,
              "attendance: ❌ from the reporter postpones her item, saying why", "%s",
              last_body(&f));
        say(&f, ROOM, BOB, utc(2026, 12, 3, 11, 50), "!agenda", 0);
        check(strstr(last_body(&f), "Discuss keyframes [postponed: " ALICE " can't make Thu 15:00]") &&
              strstr(last_body(&f), "can't make it: " ALICE),
              "attendance: !agenda shows the reason and who can't", "%s", last_body(&f));
        /* the reaction redacted: her answer is gone, the item back */
        ev(&f, &e, id, PROCESS, ALICE, utc(2026, 12, 3, 11, 55), "");
        e.redacts = ev_no;
        if (gv_handle(f.core, &e) != GV_OK)
                check(false, "gv_handle redaction", "%s", ev_no);
        take(&f, e.ts);
        check(count(&f, "Back on the agenda: Discuss keyframes") == 1,
              "attendance: redacting the reaction takes the answer back", "%s", last_body(&f));
        /* bob, the only one mentioned, can't make item 2 only */
        say(&f, ROOM, BOB, utc(2026, 12, 3, 12, 0), "!cantmake 2", 0);
        check(strstr(last_body(&f), "Noted: " BOB " can't make item 2 of Arch call") &&
              strstr(last_body(&f), "Postponed: Discuss keyframes (" BOB " can't make Thu 15:00)"),
              "attendance: !cantmake 2 by everyone mentioned postpones item 2", "%s",
              last_body(&f));
        /* his own item (3, rotate the keys) stays */
        say(&f, ROOM, ALICE, utc(2026, 12, 3, 12, 1), "!agenda", 0);
        check(strstr(last_body(&f), "Rotate the keys (reporter") != NULL &&
              strstr(last_body(&f), "can't make item 3: " BOB) != NULL,
              "attendance: only item 2 is postponed (now last, as postponed items are); !agenda shows it", "%s", last_body(&f));
        react(&f, PROCESS, "@carol:example.org", utc(2026, 12, 3, 12, 2), rel_ev, "\U0001F44D\xf0\x9f\x8f\xbd", ev_yes);
        say(&f, ROOM, ALICE, utc(2026, 12, 3, 12, 3), "!agenda", 0);
        check(strstr(last_body(&f), "coming: @carol:example.org") != NULL,
              "attendance: 👍 (with a skin tone) confirms", "%s", last_body(&f));
        say(&f, ROOM, BOB, utc(2026, 12, 3, 12, 4), "!canmake", 0);
        check(strstr(last_body(&f), "Back on the agenda: Discuss keyframes") != NULL,
              "attendance: !canmake takes it back", "%s", last_body(&f));
        say(&f, ROOM, BOB, utc(2026, 12, 3, 12, 5), "!cantmake 9", 0);
        check(strstr(last_body(&f), "There is no item 9") != NULL, "attendance: a bad item number is refused",
              "%s", last_body(&f));
        say(&f, ROOM, BOB, utc(2026, 12, 3, 12, 5), "!cantmake x", 0);
        check(strstr(last_body(&f), "'x' is not an agenda item number") != NULL,
              "attendance: a word is refused", "%s", last_body(&f));
        /* a reaction on some other message, or another key, is no answer */
        react(&f, PROCESS, BOB, utc(2026, 12, 3, 12, 6), "$other", "\u274c", ev_no);
        react(&f, PROCESS, BOB, utc(2026, 12, 3, 12, 6), rel_ev, "\U0001F440", ev_no);
        say(&f, ROOM, ALICE, utc(2026, 12, 3, 12, 7), "!agenda", 0);
        check(strstr(last_body(&f), "can't make it: " BOB) == NULL &&
              strstr(last_body(&f), "coming: @carol:example.org, " BOB) != NULL,
              "attendance: other reactions are no answers", "%s", last_body(&f));
        fx_close(&f);
}

static void test_release_by_hand(void)
{
        struct spec sp[] = { { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15", "UTC",
                               PROCESS, 60, 0, NULL } };
        struct fx f;
        int64_t t0 = utc(2026, 12, 7, 9, 0);

        if (!fx_open(&f, sp, 1))
                return;
        say(&f, ROOM, BOB, t0, "!agenda release", 0);
        check(strstr(last_body(&f), "Only chairs") != NULL, "by hand: refused to non-chairs", "%s",
              last_body(&f));
        say(&f, ROOM, BOB, t0, "!agenda release", 100);
        check(count(&f, "Arch call, Mon 2026-12-07 15:00") == 1 &&
              count(&f, "the architecture agenda is empty") == 1 &&
              count(&f, "Released the Arch call agenda to " PROCESS) == 1,
              "by hand: a chair releases the next occurrence to the release room", "%s",
              last_body(&f));
        log_clear(&f);
        run(&f, t0, utc(2026, 12, 7, 15, 0));
        check(f.n_log == 0, "by hand: the timer's release of that occurrence is done", "%s",
              last_body(&f));
        fx_close(&f);
}


/* ---- aliases, read-only next_due, late answers, postponed by hand ---- */

static void test_alias(void)
{
        struct spec sp[] = { { "Arch call", "#arch-call:example.org", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15",
                               "UTC", "#r-process:example.org", 60, 5, NULL } };
        struct fx f;
        int64_t due = 0;
        const struct logged *l;

        if (!fx_open(&f, sp, 1))
                return;
        check(gv_store_alias_set(f.s, "#arch-call:example.org", ROOM, 1) == GV_OK, "alias: set",
              "%s", ROOM);
        say(&f, ROOM, BOB, utc(2026, 12, 7, 9, 0), "!next", 0);
        check(strstr(last_body(&f), "Next Arch call: Mon 2026-12-07 15:00") != NULL,
              "alias: a series configured by alias answers in the room it resolved to", "%s",
              last_body(&f));
        /* read-only: asking when is due queues nothing and records nothing */
        log_clear(&f);
        check(gv_next_due(f.core, utc(2026, 12, 7, 14, 30), &due) == GV_OK &&
              due == utc(2026, 12, 7, 14, 0), "alias: next due is the overdue release", "%s",
              hm(due));
        take(&f, 0);
        check(f.n_log == 0 && gv_next_due(f.core, utc(2026, 12, 7, 14, 30), &due) == GV_OK &&
              due == utc(2026, 12, 7, 14, 0), "alias: gv_next_due is read-only", "%zu rows", f.n_log);
        run(&f, utc(2026, 12, 7, 13, 0), utc(2026, 12, 7, 15, 0));
        l = find(&f, "Arch call, Mon 2026-12-07 15:00");
        check(l && strcmp(l->room, "#r-process:example.org") == 0,
              "alias: a release room not resolved yet is queued to the alias", "%s",
              l ? l->room : "none");
        l = find(&f, "Reminder: Arch call");
        check(l && strcmp(l->room, ROOM) == 0, "alias: the reminder goes to the resolved room ID",
              "%s", l ? l->room : "none");
        fx_close(&f);

        if (!fx_open(&f, NULL, 0))
                return;
        check(gv_next_due(f.core, utc(2026, 12, 7, 14, 30), &due) == GV_OK && due == INT64_MAX,
              "no series: nothing is ever due", "%lld", (long long)due);
        fx_close(&f);
}

static void test_late_answers(void)
{
        struct spec sp[] = { { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15", "UTC", NULL,
                               60, 0, NULL } };
        struct fx f;
        const struct logged *l;
        char ev_no[48], rel_ev[64];
        struct gv_item *items = NULL;
        size_t n = 0;

        if (!fx_open(&f, sp, 1))
                return;
        say(&f, ROOM, ALICE, utc(2026, 12, 7, 9, 0), "#architecture Discuss keyframes", 0);
        run(&f, utc(2026, 12, 7, 9, 0), utc(2026, 12, 7, 14, 0));
        l = find(&f, "Arch call, Mon 2026-12-07 15:00");
        if (!l) {
                check(false, "late answers: released", "%s", last_body(&f));
                fx_close(&f);
                return;
        }
        snprintf(rel_ev, sizeof(rel_ev), "$rel%lld", (long long)l->row);
        if (gv_store_release_sent(f.s, l->row, rel_ev) != GV_OK)
                check(false, "late answers: sent", "%s", rel_ev);
        log_clear(&f);
        /* a ❌ on Monday's release on Tuesday changes nothing */
        react(&f, ROOM, ALICE, utc(2026, 12, 8, 9, 0), rel_ev, "\u274c", ev_no);
        check(f.n_log == 0 && gv_store_agenda(f.s, "architecture", &items, &n) == GV_OK && n == 1 &&
              items[0].status == GV_ITEM_OPEN,
              "late answers: a reaction to a release whose meeting began postpones nothing",
              "%s", last_body(&f));
        gv_items_free(items, n);
        /* postponed by hand, then can again: it stays postponed */
        say(&f, ROOM, ALICE, utc(2026, 12, 8, 10, 0), "!cantmake", 0);
        check(strstr(last_body(&f), "Postponed: Discuss keyframes") != NULL,
              "late answers: !cantmake for the next Monday postpones", "%s", last_body(&f));
        say(&f, ROOM, ALICE, utc(2026, 12, 8, 10, 1), "!agenda postpone 1", 0);
        say(&f, ROOM, ALICE, utc(2026, 12, 8, 10, 2), "!canmake", 0);
        check(strstr(last_body(&f), "Back on the agenda") == NULL,
              "late answers: an item postponed by hand is not brought back by !canmake", "%s",
              last_body(&f));
        fx_close(&f);
}

/* An agenda over the message ceiling: the release is skipped (logged), not
 * tried again on every tick; the reminder still comes. */
static void test_too_big(void)
{
        struct spec sp[] = { { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15", "UTC", NULL,
                               60, 5, NULL } };
        struct fx f;
        char desc[1001];
        bool rec = false;
        enum gv_timer_state st = GV_TIMER_DONE;
        int64_t due = 0, id = 0;

        if (!fx_open(&f, sp, 1))
                return;
        memset(desc, 'x', sizeof(desc) - 1);
        desc[sizeof(desc) - 1] = '\0';
        for (int i = 0; i < 1100; i++) {
                struct gv_item it;

                memset(&it, 0, sizeof(it));
                it.agenda = "architecture";
                it.description = desc;
                it.reporter = ALICE;
                it.mentions = "";
                it.room = ROOM;
                if (gv_store_item_add(f.s, &it, &id) != GV_OK)
                        break;
        }
        tick(&f, utc(2026, 12, 7, 14, 0));
        check(f.n_log == 0 && gv_store_timer_get(f.s, "Arch call", utc(2026, 12, 7, 15, 0),
                                                 GV_TIMER_RELEASE, &rec, &st) == GV_OK &&
              rec && st == GV_TIMER_SKIPPED, "too big: the release is skipped and recorded so",
              "%zu rows, recorded %d state %d", f.n_log, rec, st);
        check(gv_next_due(f.core, utc(2026, 12, 7, 14, 0), &due) == GV_OK &&
              due == utc(2026, 12, 7, 14, 55), "too big: next due is the reminder", "%s", hm(due));
        fx_close(&f);
}

/* Two series in one room: the meeting of one does not make the other's
 * missed release "begun". */
static void test_two_series_missed(void)
{
        struct spec sp[] = {
                { "Arch call", ROOM, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15", "UTC", NULL, 60, 0, NULL },
                { "Retro", ROOM, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15;BYMINUTE=40", "UTC", NULL, 60, 0,
                  NULL },
        };
        struct fx f;
        struct gv_meeting m;
        char *ser = NULL, *flav = NULL;

        if (!fx_open(&f, sp, 2))
                return;
        /* gavel is down from 13:50; the Arch call begins at 15:00 */
        say(&f, ROOM, ALICE, utc(2026, 12, 7, 15, 0), "#startmeeting", 100);
        memset(&m, 0, sizeof(m));
        if (gv_store_meeting_running(f.s, ROOM, &m) == GV_OK) {
                if (gv_store_meeting_series(f.s, m.id, &ser, &flav) != GV_OK)
                        ser = NULL;
                gv_meeting_clear(&m);
        }
        check(ser && strcmp(ser, "Arch call") == 0, "two series missed: the meeting is the Arch call's",
              "%s", ser ? ser : "(none)");
        free(ser);
        free(flav);
        log_clear(&f);
        /* back at 15:05: the Arch call's release is skipped, Retro's done late */
        tick(&f, utc(2026, 12, 7, 15, 5));
        check(count(&f, "Arch call, Mon") == 0 &&
              count(&f, "(late: due 14:40 UTC) Retro, Mon 2026-12-07 15:40") == 1,
              "two series missed: one series' meeting does not skip the other's release", "%zu: %s",
              f.n_log, last_body(&f));
        fx_close(&f);
}

int main(void)
{
        test_dst_athens();
        test_dst_los_angeles();
        test_exdate();
        test_missed();
        test_two_series();
        test_attendance();
        test_release_by_hand();
        test_alias();
        test_late_answers();
        test_too_big();
        test_two_series_missed();
        return check_finish();
}
