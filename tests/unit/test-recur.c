/* tests/unit/test-recur.c - util/recur.c against instants computed
 * independently: every expected UTC time below was computed with Python's
 * zoneinfo (datetime(..., tzinfo=ZoneInfo(zone)).astimezone(timezone.utc),
 * fold=0, the system tzdata) while writing this test, and hard-coded. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libical/ical.h>

#include "../../util/recur.h"
#include "check.h"

/* "2026-03-26T13:00Z" -> ms; -1 on a typo in the table. */
static int64_t utc(const char *s)
{
        struct tm tm = { 0 };
        const char *end = strptime(s, "%Y-%m-%dT%H:%MZ", &tm);

        if (!end || *end)
                return -1;
        return (int64_t)timegm(&tm) * 1000;
}

static void iso(int64_t ms, char *out, size_t n)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(out, n, "%Y-%m-%dT%H:%MZ", &tm);
}

#define MAX_EX 4
#define MAX_OCC 4

struct next_case {
        const char *name;
        const char *rule;
        const char *tz;
        const char *ex[MAX_EX];         /* the exdates array */
        const char *after;              /* UTC */
        const char *want[MAX_OCC];      /* UTC, then "END" when the rule ends */
};

static const struct next_case next_cases[] = {
        /* Europe/Athens: EET -> EEST on 2026-03-29, back on 2026-10-25. */
        { "athens weekly 15:00 across spring", "FREQ=WEEKLY;BYDAY=TH;BYHOUR=15", "Europe/Athens",
          { NULL }, "2026-03-20T00:00Z", { "2026-03-26T13:00Z", "2026-04-02T12:00Z" } },
        { "athens weekly 15:00 across autumn", "FREQ=WEEKLY;BYDAY=TH;BYHOUR=15", "Europe/Athens",
          { NULL }, "2026-10-20T00:00Z", { "2026-10-22T12:00Z", "2026-10-29T13:00Z" } },
        /* America/Los_Angeles: PST -> PDT on 2026-03-08, back on 2026-11-01. */
        { "la weekly 15:00 across spring", "FREQ=WEEKLY;BYDAY=TH;BYHOUR=15",
          "America/Los_Angeles", { NULL }, "2026-03-01T00:00Z",
          { "2026-03-05T23:00Z", "2026-03-12T22:00Z" } },
        { "la weekly 15:00 across autumn", "FREQ=WEEKLY;BYDAY=TH;BYHOUR=15",
          "America/Los_Angeles", { NULL }, "2026-10-25T00:00Z",
          { "2026-10-29T22:00Z", "2026-11-05T23:00Z" } },
        /* 02:30 does not exist on 2026-03-08: 03:30 PDT, then 02:30 again */
        { "la daily 02:30 spring-forward gap", "FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
          "America/Los_Angeles", { NULL }, "2026-03-07T00:00Z",
          { "2026-03-07T10:30Z", "2026-03-08T10:30Z", "2026-03-09T09:30Z" } },
        /* 01:30 happens twice on 2026-11-01: the first, PDT */
        { "la daily 01:30 fall-back first", "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
          "America/Los_Angeles", { NULL }, "2026-10-31T00:00Z",
          { "2026-10-31T08:30Z", "2026-11-01T08:30Z", "2026-11-02T09:30Z" } },
        { "issue 10's arch call", "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15;BYMINUTE=0", "UTC",
          { NULL }, "2026-12-01T00:00Z",
          { "2026-12-03T15:00Z", "2026-12-07T15:00Z", "2026-12-10T15:00Z" } },
        { "BYHOUR=16 alone is 16:00", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=16", "UTC", { NULL },
          "2026-12-01T00:00Z", { "2026-12-07T16:00Z", "2026-12-14T16:00Z" } },
        { "strictly after", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=16", "UTC", { NULL },
          "2026-12-07T16:00Z", { "2026-12-14T16:00Z" } },
        /* counted from Monday 2024-01-01: 2026-12-07 is week 153, odd */
        { "INTERVAL=2", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;BYHOUR=15", "UTC", { NULL },
          "2026-12-01T00:00Z", { "2026-12-14T15:00Z", "2026-12-28T15:00Z" } },
        { "EXDATE content line", "DTSTART:20261207T150000\nRRULE:FREQ=WEEKLY;BYDAY=MO\n"
          "EXDATE:20261214T150000,20261228", "Europe/Athens", { NULL }, "2026-12-01T00:00Z",
          { "2026-12-07T13:00Z", "2026-12-21T13:00Z", "2027-01-04T13:00Z" } },
        { "EXDATE with TZID, CRLF", "DTSTART;TZID=Europe/Athens:20261207T150000\r\n"
          "RRULE:FREQ=WEEKLY\r\nEXDATE;TZID=Europe/Athens:20261214T150000\r\n",
          "Europe/Athens", { NULL }, "2026-12-01T00:00Z",
          { "2026-12-07T13:00Z", "2026-12-21T13:00Z" } },
        { "exdates array", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15", "Europe/Athens",
          { "2026-12-14T15:00", "2026-12-28" }, "2026-12-01T00:00Z",
          { "2026-12-07T13:00Z", "2026-12-21T13:00Z", "2027-01-04T13:00Z" } },
        { "exdate at another time skips nothing", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15",
          "Europe/Athens", { "2026-12-14T16:00" }, "2026-12-10T00:00Z",
          { "2026-12-14T13:00Z" } },
        { "DTSTART in UTC", "DTSTART:20261207T130000Z\nRRULE:FREQ=WEEKLY", "Europe/Athens",
          { NULL }, "2026-12-01T00:00Z", { "2026-12-07T13:00Z", "2026-12-14T13:00Z" } },
        { "COUNT ends", "DTSTART:20261207T150000\nRRULE:FREQ=WEEKLY;COUNT=3", "UTC", { NULL },
          "2026-01-01T00:00Z",
          { "2026-12-07T15:00Z", "2026-12-14T15:00Z", "2026-12-21T15:00Z", "END" } },
        { "COUNT counts exdates", "DTSTART:20261207T150000\nRRULE:FREQ=WEEKLY;COUNT=3", "UTC",
          { "2026-12-14" }, "2026-01-01T00:00Z",
          { "2026-12-07T15:00Z", "2026-12-21T15:00Z", "END" } },
        { "UNTIL local, inclusive", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15;UNTIL=20261221T150000",
          "Europe/Athens", { NULL }, "2026-12-10T00:00Z",
          { "2026-12-14T13:00Z", "2026-12-21T13:00Z", "END" } },
        { "UNTIL UTC", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15;UNTIL=20261221T125959Z",
          "Europe/Athens", { NULL }, "2026-12-10T00:00Z", { "2026-12-14T13:00Z", "END" } },
        { "UNTIL date takes its whole day", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15;UNTIL=20261221",
          "Europe/Athens", { NULL }, "2026-12-10T00:00Z",
          { "2026-12-14T13:00Z", "2026-12-21T13:00Z", "END" } },
        { "after the end", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15;UNTIL=20261221", "Europe/Athens",
          { NULL }, "2027-06-01T00:00Z", { "END" } },
        { "a rule that never matches ends", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "UTC",
          { NULL }, "2026-01-01T00:00Z", { "END" } },
        { "nothing from 2100 on", "FREQ=YEARLY;BYMONTH=6;BYHOUR=12", "UTC", { NULL },
          "2098-07-01T00:00Z", { "2099-06-01T12:00Z", "END" } },
        { "DAILY without BYHOUR is midnight", "FREQ=DAILY", "Asia/Kolkata", { NULL },
          "2026-07-06T00:00Z", { "2026-07-06T18:30Z" } },
};

static size_t n_ex(const char *const *ex)
{
        size_t n = 0;

        while (n < MAX_EX && ex[n])
                n++;
        return n;
}

static void test_next(void)
{
        for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
                const struct next_case *c = &next_cases[i];
                struct gv_recur *r = NULL;
                char err[256] = "", got[512] = "", want[512] = "", one[32];
                int64_t t = utc(c->after), occ = 0;
                enum gv_err e;

                e = gv_recur_new(c->rule, c->tz, c->ex, n_ex(c->ex), &r, err, sizeof(err));
                if (e) {
                        check(false, c->name, "gv_recur_new: %s", err);
                        continue;
                }
                for (size_t k = 0; k < MAX_OCC && c->want[k]; k++) {
                        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s ",
                                 c->want[k]);
                        e = gv_recur_next(r, t, &occ);
                        if (e == GV_ENOTFOUND) {
                                snprintf(got + strlen(got), sizeof(got) - strlen(got), "END ");
                                break;
                        }
                        if (e) {
                                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s ",
                                         gv_strerror(e));
                                break;
                        }
                        iso(occ, one, sizeof(one));
                        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s ", one);
                        t = occ;
                }
                check(strcmp(got, want) == 0, c->name, "got %s, want %s", got, want);
                gv_recur_free(r);
        }
}

struct prev_case {
        const char *name, *rule, *tz, *at, *want;       /* want NULL: none */
};

static const struct prev_case prev_cases[] = {
        { "prev at the occurrence itself", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15", "Europe/Athens",
          "2026-12-07T13:00Z", "2026-12-07T13:00Z" },
        { "prev a minute before", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15", "Europe/Athens",
          "2026-12-07T12:59Z", "2026-11-30T13:00Z" },
        { "prev across autumn", "FREQ=WEEKLY;BYDAY=TH;BYHOUR=15", "America/Los_Angeles",
          "2026-11-05T22:00Z", "2026-10-29T22:00Z" },
        { "prev before the first", "DTSTART:20261207T150000\nRRULE:FREQ=WEEKLY", "UTC",
          "2026-12-07T14:59Z", NULL },
        { "prev after COUNT's end", "DTSTART:20261207T150000\nRRULE:FREQ=WEEKLY;COUNT=2", "UTC",
          "2027-06-01T00:00Z", "2026-12-14T15:00Z" },
};

static void test_prev(void)
{
        for (size_t i = 0; i < sizeof(prev_cases) / sizeof(prev_cases[0]); i++) {
                const struct prev_case *c = &prev_cases[i];
                struct gv_recur *r = NULL;
                char err[256] = "", got[32] = "none";
                int64_t occ = 0;
                enum gv_err e;

                if (gv_recur_new(c->rule, c->tz, NULL, 0, &r, err, sizeof(err))) {
                        check(false, c->name, "gv_recur_new: %s", err);
                        continue;
                }
                e = gv_recur_prev(r, utc(c->at), &occ);
                if (e == GV_OK)
                        iso(occ, got, sizeof(got));
                else if (e != GV_ENOTFOUND)
                        snprintf(got, sizeof(got), "%s", gv_strerror(e));
                check(strcmp(got, c->want ? c->want : "none") == 0, c->name, "got %s, want %s",
                      got, c->want ? c->want : "none");
                gv_recur_free(r);
        }
}

struct local_case {
        const char *tz, *at, *want;
};

static const struct local_case local_cases[] = {
        { "Europe/Athens", "2026-12-07T13:00Z", "Mon 2026-12-07 15:00 EET" },
        { "Europe/Athens", "2026-07-06T12:00Z", "Mon 2026-07-06 15:00 EEST" },
        { "America/Los_Angeles", "2026-12-07T23:00Z", "Mon 2026-12-07 15:00 PST" },
        { "America/Los_Angeles", "2026-07-06T22:00Z", "Mon 2026-07-06 15:00 PDT" },
        { "America/Los_Angeles", "2026-11-01T08:30Z", "Sun 2026-11-01 01:30 PDT" },
        { "America/Los_Angeles", "2026-11-01T09:30Z", "Sun 2026-11-01 01:30 PST" },
        { "UTC", "2026-12-07T16:00Z", "Mon 2026-12-07 16:00 UTC" },
        { "Asia/Kolkata", "2026-07-06T09:30Z", "Mon 2026-07-06 15:00 IST" },
        /* tzdata has no abbreviation for Dubai ("+04") */
        { "Asia/Dubai", "2026-07-06T11:00Z", "Mon 2026-07-06 15:00 +0400" },
};

static void test_local(void)
{
        for (size_t i = 0; i < sizeof(local_cases) / sizeof(local_cases[0]); i++) {
                const struct local_case *c = &local_cases[i];
                struct gv_recur *r = NULL;
                char err[256] = "", buf[64] = "", name[96];
                size_t n;

                snprintf(name, sizeof(name), "local %s %s", c->tz, c->at);
                if (gv_recur_new("FREQ=DAILY", c->tz, NULL, 0, &r, err, sizeof(err))) {
                        check(false, name, "gv_recur_new: %s", err);
                        continue;
                }
                n = gv_recur_local(r, utc(c->at), buf, sizeof(buf));
                check(strcmp(buf, c->want) == 0 && n == strlen(c->want), name,
                      "got \"%s\" (%zu), want \"%s\"", buf, n, c->want);
                check(strcmp(gv_recur_tz(r), c->tz) == 0, "gv_recur_tz", "got %s",
                      gv_recur_tz(r));
                /* cut to the buffer, still terminated */
                n = gv_recur_local(r, utc(c->at), buf, 8);
                check(n == 7 && strncmp(buf, c->want, 7) == 0 && buf[7] == '\0', "local cut",
                      "got \"%s\" (%zu)", buf, n);
                gv_recur_free(r);
        }
}

struct err_case {
        const char *name, *rule, *tz, *ex;
        enum gv_err code;
        const char *want;       /* the error starts so */
};

static const struct err_case err_cases[] = {
        { "bad FREQ", "FREQ=SOMETIMES", "UTC", NULL, GV_EPARSE,
          "FREQ=SOMETIMES: not a recurrence rule" },
        { "bad BYDAY", "FREQ=WEEKLY;BYDAY=XX;BYHOUR=15", "UTC", NULL, GV_EPARSE,
          "BYDAY=XX: not a recurrence rule" },
        { "BYHOUR out of range", "FREQ=WEEKLY;BYHOUR=25", "UTC", NULL, GV_EPARSE,
          "BYHOUR=25: not a recurrence rule" },
        { "no FREQ", "BYDAY=MO", "UTC", NULL, GV_EPARSE, "BYDAY=MO: not a recurrence rule" },
        { "empty rule", "", "UTC", NULL, GV_EPARSE, ": not a recurrence rule" },
        { "COUNT and UNTIL", "FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z", "UTC", NULL, GV_EPARSE,
          "FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z: not a recurrence rule" },
        { "RSCALE", "FREQ=DAILY;RSCALE=HEBREW", "UTC", NULL, GV_EPARSE,
          "RSCALE=HEBREW: not a recurrence rule" },
        { "minutely", "FREQ=MINUTELY", "UTC", NULL, GV_EPARSE,
          "FREQ=MINUTELY: meets more often than hourly" },
        { "bad zone", "FREQ=DAILY", "Mars/Base", NULL, GV_ENOTFOUND,
          "Mars/Base: no such time zone" },
        { "zone path", "FREQ=DAILY", "../../etc/passwd", NULL, GV_ENOTFOUND,
          "../../etc/passwd: no such time zone" },
        { "zone not a file", "FREQ=DAILY", "zone.tab", NULL, GV_ENOTFOUND,
          "zone.tab: no such time zone" },
        { "zone a directory", "FREQ=DAILY", "Europe", NULL, GV_ENOTFOUND,
          "Europe: no such time zone" },
        { "empty zone", "FREQ=DAILY", "", NULL, GV_ENOTFOUND, ": no such time zone" },
        { "bad exdate", "FREQ=DAILY", "UTC", "2026-13-01", GV_EPARSE,
          "2026-13-01: not a local date (2026-12-24) or date-time (2026-12-24T15:00)" },
        { "exdate with Z", "FREQ=DAILY", "UTC", "2026-12-01T15:00Z", GV_EPARSE,
          "2026-12-01T15:00Z: not a local date" },
        { "exdate 31 Feb", "FREQ=DAILY", "UTC", "2026-02-31", GV_EPARSE,
          "2026-02-31: not a local date" },
        { "bad EXDATE line", "RRULE:FREQ=DAILY\nEXDATE:20261301", "UTC", NULL, GV_EPARSE,
          "EXDATE 20261301: not a date" },
        { "bad DTSTART", "DTSTART:2026\nRRULE:FREQ=DAILY", "UTC", NULL, GV_EPARSE,
          "DTSTART:2026: not a date" },
        { "no RRULE line", "DTSTART:20261207T150000", "UTC", NULL, GV_EPARSE, "no RRULE line" },
        { "two RRULE lines", "RRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY", "UTC", NULL, GV_EPARSE,
          "more than one RRULE" },
        { "unknown line", "RRULE:FREQ=DAILY\nRDATE:20261207T150000", "UTC", NULL, GV_EPARSE,
          "RDATE: not DTSTART, RRULE or EXDATE" },
        { "TZID of another zone", "DTSTART;TZID=Europe/Paris:20261207T150000\nRRULE:FREQ=DAILY",
          "Europe/Athens", NULL, GV_EPARSE,
          "DTSTART;TZID=Europe/Paris: TZID must be the series' zone Europe/Athens" },
        { "long text is cut",
          "FREQ=DAILY;BYDAY=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
          "UTC", NULL, GV_EPARSE,
          "BYDAY=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX...: not a recurrence rule" },
};

static void test_errors(void)
{
        for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
                const struct err_case *c = &err_cases[i];
                struct gv_recur *r = NULL;
                const char *ex[1] = { c->ex };
                char err[256] = "";
                enum gv_err e;

                e = gv_recur_new(c->rule, c->tz, ex, c->ex ? 1 : 0, &r, err, sizeof(err));
                check(e == c->code && !r && strncmp(err, c->want, strlen(c->want)) == 0, c->name,
                      "got %s \"%s\", want %s \"%s...\"", gv_strerror(e), err,
                      gv_strerror(c->code), c->want);
                gv_recur_free(r);
        }
}

/* One object asked 1,000 random questions in random order answers as a
 * fresh object does for each. */
static void test_cache(void)
{
        /* DTSTART in 2026 keeps the fresh objects' walks short (valgrind).
         * The hourly one has more occurrences than the cache's window
         * (4096): it drops the older half and restarts for earlier times. */
        static const struct {
                const char *rule, *tz;
                int asks;
        } rules[] = {
                { "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15;BYMINUTE=0", "Europe/Athens", 1000 },
                { "DTSTART:20260101T023000\nRRULE:FREQ=DAILY;BYHOUR=1,2", "America/Los_Angeles",
                  1000 },
                { "DTSTART:20260101T000000\nRRULE:FREQ=HOURLY;INTERVAL=7;UNTIL=20260401",
                  "Europe/Athens", 1000 },
                { "DTSTART:20260101T090000\nRRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=12\n"
                  "EXDATE:20260227T090000", "UTC", 1000 },
                { "DTSTART:20260101T000000\nRRULE:FREQ=HOURLY;UNTIL=20261231",
                  "America/Los_Angeles", 60 },
        };
        const int64_t lo = utc("2025-12-01T00:00Z"), hi = utc("2027-06-30T00:00Z");
        unsigned seed = 42;

        for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
                struct gv_recur *shared = NULL;
                char err[256], name[128];
                unsigned bad = 0, asked = 0;

                snprintf(name, sizeof(name), "cache = fresh: %s %s", rules[k].rule, rules[k].tz);
                for (char *q = name; *q; q++)
                        if (*q == '\n')
                                *q = ' ';
                if (gv_recur_new(rules[k].rule, rules[k].tz, NULL, 0, &shared, err, sizeof(err))) {
                        check(false, name, "%s", err);
                        continue;
                }
                for (int i = 0; i < rules[k].asks; i++) {
                        struct gv_recur *fresh = NULL;
                        int64_t t = lo + (int64_t)(rand_r(&seed) % 1000000) * ((hi - lo) / 1000000);
                        int64_t a = -1, b = -2;
                        bool prev = rand_r(&seed) % 2;
                        enum gv_err ea, eb;

                        if (gv_recur_new(rules[k].rule, rules[k].tz, NULL, 0, &fresh, err,
                                         sizeof(err)))
                                break;
                        ea = prev ? gv_recur_prev(shared, t, &a) : gv_recur_next(shared, t, &a);
                        eb = prev ? gv_recur_prev(fresh, t, &b) : gv_recur_next(fresh, t, &b);
                        if (ea != eb || (ea == GV_OK && a != b))
                                bad++;
                        /* and the answer is right: nothing between t and it */
                        if (!prev && ea == GV_OK && (a <= t || (gv_recur_prev(fresh, a - 1, &b) ==
                                                                    GV_OK && b > t)))
                                bad++;
                        asked++;
                        gv_recur_free(fresh);
                }
                check(bad == 0 && asked == (unsigned)rules[k].asks, name, "%u of %u differ", bad,
                      asked);
                gv_recur_free(shared);
        }
}

static double now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Not a timed assertion: the numbers go to the log (and the README). */
static void measure(void)
{
        static const char *const rules[][2] = {
                { "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15;BYMINUTE=0", "Europe/Athens" },
                { "FREQ=DAILY;BYHOUR=9", "America/Los_Angeles" },
                { "FREQ=HOURLY", "Europe/Athens" },
        };
        const int64_t now = utc("2026-12-02T01:00Z");

        for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
                struct gv_recur *r = NULL;
                char err[256];
                double t0, first, again, walk;
                int64_t occ = 0, t = now, sink = 0;
                bool ok = true;
                int i;

                if (gv_recur_new(rules[k][0], rules[k][1], NULL, 0, &r, err, sizeof(err)))
                        continue;
                t0 = now_us();
                ok &= gv_recur_next(r, now, &occ) == GV_OK;
                first = now_us() - t0;
                t0 = now_us();
                for (i = 0; i < 100000; i++) {  /* a loop turn: the clock moves a second */
                        ok &= gv_recur_next(r, now + i * 1000, &occ) == GV_OK;
                        sink += occ;
                }
                again = (now_us() - t0) / 100000;
                t0 = now_us();
                for (i = 0; i < 1000; i++) {    /* walking occurrence to occurrence */
                        ok &= gv_recur_next(r, t, &t) == GV_OK;
                }
                walk = (now_us() - t0) / 1000;
                printf("# gv_recur_next %s %s: first call %.0f us (from 2024-01-01), repeated "
                       "%.3f us, next occurrence %.2f us (%lld)\n",
                       rules[k][0], rules[k][1], first, again, walk, (long long)(sink % 7));
                check(ok, "measure", "a call failed");
                gv_recur_free(r);
        }
}

/* libical is not linked: it is loaded by the first rule, not before; a
 * library that cannot be loaded is an error naming it, and nothing is
 * remembered of the failure. */
static void test_lazy_load(void)
{
        struct gv_recur *r = NULL;
        char err[512] = "";
        enum gv_err e;

        check(!dlopen(GV_LIBICAL_SONAME, RTLD_NOW | RTLD_NOLOAD), "libical not loaded at start",
              "%s is mapped before any rule was made", GV_LIBICAL_SONAME);
        setenv("GAVEL_TEST_LIBICAL", "libgavel-no-such-lib.so.0", 1);
        e = gv_recur_load(err, sizeof(err));
        check(e == GV_EIO && strstr(err, "cannot load libgavel-no-such-lib.so.0 (is the package "
                                         GV_LIBICAL_PACKAGE " installed?): ") &&
              strstr(err, "No such file"), "a missing libical is named", "%d %s", e, err);
        err[0] = '\0';
        e = gv_recur_new("FREQ=DAILY", "UTC", NULL, 0, &r, err, sizeof(err));
        check(e == GV_EIO && !r && strstr(err, "cannot load libgavel-no-such-lib.so.0"),
              "gv_recur_new without libical", "%d %s", e, err);
        check(!dlopen(GV_LIBICAL_SONAME, RTLD_NOW | RTLD_NOLOAD), "still not loaded",
              "%s is mapped", GV_LIBICAL_SONAME);
        unsetenv("GAVEL_TEST_LIBICAL");
        e = gv_recur_new("FREQ=DAILY", "UTC", NULL, 0, &r, err, sizeof(err));
        check(e == GV_OK && r, "the first rule loads libical", "%d %s", e, err);
        gv_recur_free(r);
        check(gv_recur_load(err, sizeof(err)) == GV_OK, "loaded once", "%s", err);
}

/* The zones are the system's tzdata, not a copy inside libical (asked of
 * the libical gavel loaded, which is not linked into this test either). */
static void test_system_tzdata(void)
{
        void *lib = dlopen(GV_LIBICAL_SONAME, RTLD_NOW | RTLD_NOLOAD);
        __typeof__(&icaltzutil_get_zone_directory) zone_dir = NULL;
        __typeof__(&icaltimezone_get_builtin_tzdata) builtin = NULL;
        void *f;
        const char *dir = NULL;

        check(lib != NULL, "libical loaded", "%s is not mapped after gv_recur_new",
              GV_LIBICAL_SONAME);
        if (!lib)
                return;
        if ((f = dlsym(lib, "icaltzutil_get_zone_directory")))
                memcpy(&zone_dir, &f, sizeof(f));
        if ((f = dlsym(lib, "icaltimezone_get_builtin_tzdata")))
                memcpy(&builtin, &f, sizeof(f));
        check(zone_dir && builtin, "libical's tzdata calls", "not found");
        if (zone_dir && builtin) {
                dir = zone_dir();
                check(builtin() == 0 && dir && strcmp(dir, "/usr/share/zoneinfo") == 0,
                      "libical reads /usr/share/zoneinfo", "builtin tzdata %d, directory %s",
                      builtin(), dir ? dir : "(none)");
        }
        dlclose(lib);   /* the NOLOAD reference only */
}

/* A gap moves 02:30 onto 03:30's instant: one occurrence, not two. */
static void test_gap_twice(void)
{
        struct gv_recur *r = NULL;
        char err[256], a[32] = "", b[32] = "";
        int64_t o1 = 0, o2 = 0;

        if (gv_recur_new("FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30", "America/Los_Angeles", NULL, 0, &r,
                         err, sizeof(err))) {
                check(false, "gap: two times on one instant", "%s", err);
                return;
        }
        if (gv_recur_next(r, utc("2026-03-08T09:00Z"), &o1) == GV_OK &&
            gv_recur_next(r, o1, &o2) == GV_OK) {
                iso(o1, a, sizeof(a));
                iso(o2, b, sizeof(b));
        }
        /* 02:30 and 03:30 are both 03:30 PDT (10:30Z) on the 8th: once;
         * then 02:30 PDT on the 9th */
        check(!strcmp(a, "2026-03-08T10:30Z") && !strcmp(b, "2026-03-09T09:30Z"),
              "gap: two times on one instant", "got %s %s", a, b);
        gv_recur_free(r);
}

int main(void)
{
        test_lazy_load();
        test_system_tzdata();
        test_gap_twice();
        test_next();
        test_prev();
        test_local();
        test_errors();
        test_cache();
        measure();
        return check_finish();
}
