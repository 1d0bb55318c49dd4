/* util/recur.c - see recur.h
 *
 * What libical does here: it parses the RRULE (icalrecurrencetype_from_string),
 * it expands it (icalrecur_iterator), and it reads the zone from the system
 * tzdata (icaltimezone_get_builtin_timezone: Debian's libical is built
 * without its own copy, so /usr/share/zoneinfo, TZif files and their POSIX
 * footer for the years after the last listed transition) and answers "what
 * is the UTC offset at this instant" (icaltimezone_get_utc_offset_of_utc_time).
 *
 * What it does not do for us, on purpose:
 * - The iterator runs on floating wall-clock times. libical 3.0's iterator
 *   with a zoned DTSTART moves a gap time (02:30 -> 03:30) and then keeps
 *   03:30 for every later day.
 * - A wall-clock time is turned into an instant here, from libical's offsets,
 *   because libical's own local-to-UTC takes a gap time with the offset
 *   after the gap and an ambiguous time as the second (standard) one; recur.h
 *   promises RFC 5545's gap rule and the first of two.
 * - UNTIL is checked here (libical would compare a floating occurrence with
 *   a UTC UNTIL as if both were UTC); a date UNTIL includes its whole day.
 *
 * The cache: one iterator, run forward from DTSTART, and a window of the
 * occurrences it gave (UTC ms, strictly increasing). A clock that moves
 * forward costs a binary search and now and then one step of the iterator;
 * a question from before the window restarts the iterator. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libical/ical.h>

#include "recur.h"

#define MAX_RULE 4096           /* bytes in the rule text */
#define MAX_TZ 64               /* bytes in a zone name */
#define MAX_EXDATES 1024        /* EXDATE values, lines and array together */
#define MAX_SHOWN 48            /* bytes of user text in an error */
#define WINDOW 4096             /* occurrences kept; the older half goes when full */
#define HORIZON_YEAR 2100       /* no occurrences from then on (see set_rule) */

enum until_kind { UNTIL_NONE, UNTIL_LOCAL, UNTIL_UTC };

/* A local EXDATE: a date-time matches one wall-clock time, a date the whole day. */
struct exdate {
        int64_t t;              /* local seconds ("as if UTC"), or a UTC instant */
        bool is_date;
        bool utc;
};

struct gv_recur {
        char *tz;
        icaltimezone *zone;             /* libical's, cached process-wide; never freed here */
        bool utc_zone;
        struct icalrecurrencetype rule; /* until cleared: checked here */
        struct icaltimetype dtstart;    /* floating */
        enum until_kind until_kind;
        int64_t until;                  /* local seconds or UTC seconds */
        struct exdate *ex;
        size_t n_ex;
        /* names for gv_recur_local: the zone's current standard and daylight time */
        char std_name[16], dst_name[16];
        int std_off, dst_off;
        bool has_std, has_dst;
        /* the cache */
        icalrecur_iterator *it;
        int64_t *win;                   /* UTC ms, strictly increasing */
        size_t n_win;
        bool win_from_start;            /* win[0] is the very first occurrence */
        bool ended;                     /* the iterator has no more */
        bool any;                       /* last_ms is set */
        int64_t last_ms;                /* the last occurrence kept, dropped or not */
};

/* libical is opened when the first rule is made (a "series" entry of the
 * config, at start), not linked: a bot without series never maps it, nor ICU
 * and libstdc++ that come with it (about 3 MiB of RSS). Its header still
 * gives the types: each pointer below has the type of the function's own
 * prototype (__typeof__), so the list is names only and cannot disagree with
 * the library's declarations; a call of a libical function that is not in the
 * list does not link. GV_LIBICAL_SONAME and GV_LIBICAL_PACKAGE come from
 * meson.build (the SONAME of the libical pkg-config found). */
#ifndef GV_LIBICAL_SONAME
#define GV_LIBICAL_SONAME "libical.so.3"
#endif
#ifndef GV_LIBICAL_PACKAGE
#define GV_LIBICAL_PACKAGE "libical3"
#endif
#define ICAL_FUNCS(X) \
        X(icalcomponent_get_first_component) \
        X(icalcomponent_get_first_property) \
        X(icalcomponent_get_next_component) \
        X(icalcomponent_isa) \
        X(icalerror_clear_errno) \
        X(icalmemory_free_ring) \
        X(icalproperty_get_dtstart) \
        X(icalproperty_get_tzname) \
        X(icalproperty_get_tzoffsetto) \
        X(icalrecur_iterator_free) \
        X(icalrecur_iterator_new) \
        X(icalrecur_iterator_next) \
        X(icalrecurrencetype_from_string) \
        X(icaltime_as_timet) \
        X(icaltime_compare) \
        X(icaltime_days_in_month) \
        X(icaltime_from_timet_with_zone) \
        X(icaltime_is_null_time) \
        X(icaltime_is_utc) \
        X(icaltime_null_time) \
        X(icaltimezone_free_builtin_timezones) \
        X(icaltimezone_get_builtin_timezone) \
        X(icaltimezone_get_component) \
        X(icaltimezone_get_utc_offset_of_utc_time) \
        X(icaltimezone_get_utc_timezone)

static struct {
        void *lib;
#define X(f) __typeof__(&f) f;
        ICAL_FUNCS(X)
#undef X
} ical;

enum gv_err gv_recur_load(char *err, size_t errlen)
{
        static const struct {
                const char *name;
                size_t off;
        } syms[] = {
#define X(f) { #f, offsetof(__typeof__(ical), f) },
                ICAL_FUNCS(X)
#undef X
        };
        /* GAVEL_TEST_LIBICAL: tests only (tests/meson.build), the file name
         * to load instead, e.g. one that is not there. */
        const char *name = getenv("GAVEL_TEST_LIBICAL");
        __typeof__(ical) t;
        void *lib;

        if (ical.lib)
                return GV_OK;
        if (!name || !*name)
                name = GV_LIBICAL_SONAME;
        lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!lib)
                return gv_errf(err, errlen, GV_EIO, "cannot load %s (is the package %s "
                               "installed?): %s", name, GV_LIBICAL_PACKAGE, dlerror());
        memset(&t, 0, sizeof(t));
        for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
                void *f = dlsym(lib, syms[i].name);

                if (!f) {
                        dlclose(lib);
                        return gv_errf(err, errlen, GV_EIO, "%s has no %s: not the libical "
                                       "gavel was built with (%s)", name, syms[i].name,
                                       GV_LIBICAL_SONAME);
                }
                memcpy((char *)&t + syms[i].off, &f, sizeof(f));
        }
        t.lib = lib;
        ical = t;
        return GV_OK;
}

static bool cleanup_registered;

/* libical keeps the zones it loaded (and a ring of temporary strings) for
 * the life of the process; they go back at exit, when no gv_recur is used
 * any more (one still allocated only holds a dangling zone pointer). What
 * valgrind still shows as "still reachable" after that is ICU's own caches
 * (libical's iterator opens an ICU calendar): not a leak, and not counted by
 * the valgrind setup (--errors-for-leak-kinds=definite), so no suppression. */
static void recur_atexit(void)
{
        ical.icaltimezone_free_builtin_timezones();
        ical.icalmemory_free_ring();
}

/* User text in an error: at most MAX_SHOWN bytes, printable ASCII, "..." when cut. */
static void show(const char *s, size_t n, char *out, size_t outlen)
{
        size_t o = 0, i;

        for (i = 0; i < n && o + 4 < outlen; i++) {
                unsigned char c = (unsigned char)s[i];

                if (i == MAX_SHOWN) {
                        snprintf(out + o, outlen - o, "...");
                        return;
                }
                out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        out[o] = '\0';
}


/* ---- wall clock <-> UTC, from libical's offsets ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;

        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Local seconds of a floating time, counted as if it were UTC. */
static int64_t local_secs(struct icaltimetype t)
{
        return (int64_t)ical.icaltime_as_timet(t);
}

/* The zone's UTC offset in seconds at the UTC instant s. */
static int offset_at(const struct gv_recur *r, int64_t s, int *is_daylight)
{
        struct icaltimetype u;
        int dl = 0, off;

        if (r->utc_zone) {
                if (is_daylight)
                        *is_daylight = 0;
                return 0;
        }
        u = ical.icaltime_from_timet_with_zone((time_t)s, 0,
                                               ical.icaltimezone_get_utc_timezone());
        off = ical.icaltimezone_get_utc_offset_of_utc_time(r->zone, &u, &dl);
        if (is_daylight)
                *is_daylight = dl;
        return off;
}

/* The UTC instant (seconds) of wall-clock time loc (local seconds). Offsets
 * are looked up a day either side: no zone changes twice within two days.
 * A time valid with both offsets (fall back) takes the earlier instant; a
 * time valid with neither (spring forward) the offset before the gap. */
static int64_t to_utc(const struct gv_recur *r, int64_t loc)
{
        int before, after;
        bool ok_before, ok_after;

        if (r->utc_zone)
                return loc;
        before = offset_at(r, loc - 86400, NULL);
        after = offset_at(r, loc + 86400, NULL);
        if (before == after)
                return loc - before;
        ok_before = offset_at(r, loc - before, NULL) == before;
        ok_after = offset_at(r, loc - after, NULL) == after;
        if (ok_before && ok_after)
                return loc - before < loc - after ? loc - before : loc - after;
        if (ok_after)
                return loc - after;
        return loc - before;    /* valid before, or in the gap */
}

/* ---- parsing ---- */

static bool all_digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static int num(const char *s, size_t n)
{
        int v = 0;

        for (size_t i = 0; i < n; i++)
                v = v * 10 + (s[i] - '0');
        return v;
}

/* Fields of a date or date-time, range-checked. */
static bool fields_ok(int y, int mo, int d, int h, int mi, int s)
{
        return y >= 1970 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 &&
               d <= ical.icaltime_days_in_month(mo, y) && h >= 0 && h <= 23 && mi >= 0 &&
               mi <= 59 && s >= 0 && s <= 59;
}

static struct icaltimetype make_time(int y, int mo, int d, int h, int mi, int s)
{
        struct icaltimetype t = ical.icaltime_null_time();

        t.year = y;
        t.month = mo;
        t.day = d;
        t.hour = h;
        t.minute = mi;
        t.second = s;
        return t;
}

/* iCalendar basic form: YYYYMMDD, YYYYMMDDTHHMMSS, YYYYMMDDTHHMMSSZ. */
static bool parse_ical_time(const char *s, size_t n, struct icaltimetype *t, bool *is_date,
                            bool *utc)
{
        int y, mo, d, h = 0, mi = 0, sec = 0;

        if (n != 8 && n != 15 && n != 16)
                return false;
        if (!all_digits(s, 8))
                return false;
        y = num(s, 4);
        mo = num(s + 4, 2);
        d = num(s + 6, 2);
        *is_date = n == 8;
        *utc = n == 16;
        if (n > 8) {
                if (s[8] != 'T' || !all_digits(s + 9, 6) || (n == 16 && s[15] != 'Z'))
                        return false;
                h = num(s + 9, 2);
                mi = num(s + 11, 2);
                sec = num(s + 13, 2);
        }
        if (!fields_ok(y, mo, d, h, mi, sec))
                return false;
        *t = make_time(y, mo, d, h, mi, sec);
        return true;
}

/* The exdates array's form: 2026-12-24, 2026-12-24T15:00, 2026-12-24T15:00:00. */
static bool parse_iso_time(const char *s, struct icaltimetype *t, bool *is_date)
{
        size_t n = strlen(s);
        int h = 0, mi = 0, sec = 0, y, mo, d;

        if (n != 10 && n != 16 && n != 19)
                return false;
        if (!all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) || s[7] != '-' ||
            !all_digits(s + 8, 2))
                return false;
        y = num(s, 4);
        mo = num(s + 5, 2);
        d = num(s + 8, 2);
        if (n > 10) {
                if (s[10] != 'T' || !all_digits(s + 11, 2) || s[13] != ':' ||
                    !all_digits(s + 14, 2))
                        return false;
                h = num(s + 11, 2);
                mi = num(s + 14, 2);
                if (n == 19) {
                        if (s[16] != ':' || !all_digits(s + 17, 2))
                                return false;
                        sec = num(s + 17, 2);
                }
        }
        if (!fields_ok(y, mo, d, h, mi, sec))
                return false;
        *t = make_time(y, mo, d, h, mi, sec);
        *is_date = n == 10;
        return true;
}

static enum gv_err add_exdate(struct gv_recur *r, struct icaltimetype t, bool is_date, bool utc,
                              char *err, size_t errlen)
{
        struct exdate *e;

        if (r->n_ex == MAX_EXDATES)
                return gv_errf(err, errlen, GV_ETOOBIG, "more than %d EXDATE values", MAX_EXDATES);
        e = realloc(r->ex, (r->n_ex + 1) * sizeof(*r->ex));
        if (!e)
                return gv_errf(err, errlen, GV_ENOMEM, "out of memory");
        r->ex = e;
        e[r->n_ex].t = local_secs(t);
        if (is_date)
                e[r->n_ex].t = floor_div(e[r->n_ex].t, 86400);
        e[r->n_ex].is_date = is_date;
        e[r->n_ex].utc = utc;
        r->n_ex++;
        return GV_OK;
}

/* Tries one RRULE value with libical: true when it is one. */
static bool rule_parses(const char *s, struct icalrecurrencetype *out)
{
        struct icalrecurrencetype rt;

        ical.icalerror_clear_errno();
        rt = ical.icalrecurrencetype_from_string(s);
        if (rt.rscale) {        /* only the Gregorian calendar */
                free(rt.rscale);
                rt.rscale = NULL;
                rt.freq = ICAL_NO_RECURRENCE;
        }
        ical.icalerror_clear_errno();
        if (rt.freq == ICAL_NO_RECURRENCE)
                return false;
        if (out)
                *out = rt;
        return true;
}

/* Says which part of a bad RRULE value is wrong. */
static enum gv_err bad_rule(const char *v, size_t n, char *err, size_t errlen)
{
        char part[MAX_RULE + 16], shown[4 * MAX_SHOWN];
        const char *p = v, *end = v + n, *semi;
        bool freq = false;

        while (p < end) {
                size_t len;

                semi = memchr(p, ';', (size_t)(end - p));
                len = (size_t)((semi ? semi : end) - p);
                if (len) {
                        bool is_freq = len >= 5 && strncasecmp(p, "FREQ=", 5) == 0;

                        freq |= is_freq;
                        snprintf(part, sizeof(part), "%s%.*s", is_freq ? "" : "FREQ=DAILY;",
                                 (int)len, p);
                        if (!rule_parses(part, NULL) ||
                            (len >= 7 && strncasecmp(p, "RSCALE=", 7) == 0)) {
                                show(p, len, shown, sizeof(shown));
                                return gv_errf(err, errlen, GV_EPARSE,
                                               "%s: not a recurrence rule (RFC 5545 RRULE, e.g. "
                                               "FREQ=WEEKLY;BYDAY=MO;BYHOUR=15)", shown);
                        }
                }
                p += len + 1;
        }
        show(v, n, shown, sizeof(shown));
        return gv_errf(err, errlen, GV_EPARSE, "%s: not a recurrence rule%s", shown,
                       freq ? "" : " (no FREQ=; e.g. FREQ=WEEKLY;BYDAY=MO;BYHOUR=15)");
}

static enum gv_err set_rule(struct gv_recur *r, const char *v, size_t n, char *err, size_t errlen)
{
        char *s = strndup(v, n), shown[4 * MAX_SHOWN];
        struct icalrecurrencetype rt;
        bool ok;

        if (!s)
                return gv_errf(err, errlen, GV_ENOMEM, "out of memory");
        ok = rule_parses(s, &rt);
        free(s);
        if (!ok)
                return bad_rule(v, n, err, errlen);
        if (rt.freq == ICAL_SECONDLY_RECURRENCE || rt.freq == ICAL_MINUTELY_RECURRENCE) {
                show(v, n, shown, sizeof(shown));
                return gv_errf(err, errlen, GV_EPARSE, "%s: meets more often than hourly", shown);
        }
        if (!ical.icaltime_is_null_time(rt.until)) {
                if (ical.icaltime_is_utc(rt.until)) {       /* "Z": an instant */
                        r->until_kind = UNTIL_UTC;
                        r->until = local_secs(rt.until);
                } else {
                        r->until_kind = UNTIL_LOCAL;
                        r->until = local_secs(rt.until) + (rt.until.is_date ? 86399 : 0);
                }
        }
        /* libical checks its UNTIL at every step it takes, so a rule that
         * never matches ("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30") stops at the
         * horizon (about 1.5 s for an hourly one) instead of walking on to
         * 2582 (12 s). A UTC UNTIL becomes a local one a day later here; the
         * exact test is in step(). */
        rt.until = make_time(HORIZON_YEAR, 1, 1, 0, 0, 0);
        if (r->until_kind != UNTIL_NONE) {
                int64_t u = r->until + (r->until_kind == UNTIL_UTC ? 86400 : 0);
                time_t tt = (time_t)u;
                struct tm tm;

                if (u < local_secs(rt.until) && gmtime_r(&tt, &tm))
                        rt.until = make_time(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                             tm.tm_hour, tm.tm_min, tm.tm_sec);
        }
        r->rule = rt;
        return GV_OK;
}

/* "NAME;PARAM=X;PARAM=Y": checks the parameters (TZID must be the zone,
 * VALUE DATE or DATE-TIME). */
static enum gv_err check_params(const struct gv_recur *r, const char *line, const char *params,
                                const char *colon, char *err, size_t errlen)
{
        const char *p = params;
        char shown[4 * MAX_SHOWN];

        while (p && p < colon) {
                const char *semi = memchr(p + 1, ';', (size_t)(colon - p - 1));
                const char *e = semi ? semi : colon;
                size_t len = (size_t)(e - p - 1);
                const char *val = p + 1;

                if (len > 5 && strncasecmp(val, "TZID=", 5) == 0) {
                        if (len - 5 != strlen(r->tz) || strncmp(val + 5, r->tz, len - 5) != 0) {
                                show(line, (size_t)(colon - line), shown, sizeof(shown));
                                return gv_errf(err, errlen, GV_EPARSE,
                                               "%s: TZID must be the series' zone %s", shown, r->tz);
                        }
                } else if (!(len == 10 && strncasecmp(val, "VALUE=DATE", 10) == 0) &&
                           !(len == 15 && strncasecmp(val, "VALUE=DATE-TIME", 15) == 0)) {
                        show(line, (size_t)(colon - line), shown, sizeof(shown));
                        return gv_errf(err, errlen, GV_EPARSE, "%s: unknown parameter", shown);
                }
                p = semi;
        }
        return GV_OK;
}

/* One content line: DTSTART, RRULE or EXDATE. */
static enum gv_err content_line(struct gv_recur *r, const char *line, size_t n, bool *have_rule,
                                bool *have_start, char *err, size_t errlen)
{
        const char *colon = memchr(line, ':', n), *end = line + n, *params, *v;
        char shown[4 * MAX_SHOWN];
        size_t name_len;
        enum gv_err e;

        if (!colon) {
                show(line, n, shown, sizeof(shown));
                return gv_errf(err, errlen, GV_EPARSE, "%s: not a content line (NAME:value)", shown);
        }
        params = memchr(line, ';', (size_t)(colon - line));
        name_len = (size_t)((params ? params : colon) - line);
        v = colon + 1;
        e = check_params(r, line, params, colon, err, errlen);
        if (e)
                return e;
        if (name_len == 5 && strncasecmp(line, "RRULE", 5) == 0) {
                if (*have_rule)
                        return gv_errf(err, errlen, GV_EPARSE, "more than one RRULE");
                if (params) {
                        show(line, n, shown, sizeof(shown));
                        return gv_errf(err, errlen, GV_EPARSE, "%s: RRULE takes no parameters",
                                       shown);
                }
                *have_rule = true;
                return set_rule(r, v, (size_t)(end - v), err, errlen);
        }
        if (name_len == 7 && strncasecmp(line, "DTSTART", 7) == 0) {
                struct icaltimetype t;
                bool is_date, utc;

                if (*have_start)
                        return gv_errf(err, errlen, GV_EPARSE, "more than one DTSTART");
                if (!parse_ical_time(v, (size_t)(end - v), &t, &is_date, &utc)) {
                        show(line, n, shown, sizeof(shown));
                        return gv_errf(err, errlen, GV_EPARSE, "%s: not a date (20260105) or "
                                       "date-time (20260105T150000)", shown);
                }
                if (utc) {      /* the wall-clock time it is in the zone */
                        int64_t s = local_secs(t);

                        time_t tt;
                        struct tm tm;

                        s += offset_at(r, s, NULL);
                        tt = (time_t)s;
                        if (!gmtime_r(&tt, &tm))
                                return gv_errf(err, errlen, GV_EPARSE, "DTSTART out of range");
                        t = make_time(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                      tm.tm_min, tm.tm_sec);
                }
                t.is_date = 0;
                r->dtstart = t;
                *have_start = true;
                return GV_OK;
        }
        if (name_len == 6 && strncasecmp(line, "EXDATE", 6) == 0) {
                const char *p = v;

                while (p <= end) {
                        const char *comma = memchr(p, ',', (size_t)(end - p));
                        const char *ve = comma ? comma : end;
                        struct icaltimetype t;
                        bool is_date, utc;

                        if (!parse_ical_time(p, (size_t)(ve - p), &t, &is_date, &utc)) {
                                show(p, (size_t)(ve - p), shown, sizeof(shown));
                                return gv_errf(err, errlen, GV_EPARSE, "EXDATE %s: not a date "
                                               "(20261224) or date-time (20261224T150000)", shown);
                        }
                        e = add_exdate(r, t, is_date, utc, err, errlen);
                        if (e)
                                return e;
                        p = ve + 1;
                }
                return GV_OK;
        }
        show(line, name_len, shown, sizeof(shown));
        return gv_errf(err, errlen, GV_EPARSE, "%s: not DTSTART, RRULE or EXDATE", shown);
}

static bool zone_name_ok(const char *tz)
{
        size_t n = strlen(tz), i, seg = 0;

        if (n == 0 || n > MAX_TZ)
                return false;
        for (i = 0; i <= n; i++) {
                char c = tz[i];

                if (c == '/' || c == '\0') {
                        if (seg == 0)
                                return false;   /* "", "/x", "x//y", "x/" */
                        seg = 0;
                        continue;
                }
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '+'))
                        return false;   /* no ".", so no ".." either */
                seg++;
        }
        return true;
}

/* Names for gv_recur_local: the latest STANDARD and DAYLIGHT of the zone's
 * VTIMEZONE (libical's, built from the TZif file), with their offsets. */
static void zone_names(struct gv_recur *r)
{
        icalcomponent *vtz = r->utc_zone ? NULL : ical.icaltimezone_get_component(r->zone);
        icalcomponent *c;
        struct icaltimetype best_std = ical.icaltime_null_time();
        struct icaltimetype best_dst = ical.icaltime_null_time();

        for (c = vtz ? ical.icalcomponent_get_first_component(vtz, ICAL_ANY_COMPONENT) : NULL; c;
             c = ical.icalcomponent_get_next_component(vtz, ICAL_ANY_COMPONENT)) {
                icalcomponent_kind k = ical.icalcomponent_isa(c);
                icalproperty *name, *off, *start;
                struct icaltimetype t;
                bool dst = k == ICAL_XDAYLIGHT_COMPONENT;

                name = ical.icalcomponent_get_first_property(c, ICAL_TZNAME_PROPERTY);
                off = ical.icalcomponent_get_first_property(c, ICAL_TZOFFSETTO_PROPERTY);
                start = ical.icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
                if ((k != ICAL_XSTANDARD_COMPONENT && !dst) || !name || !off || !start)
                        continue;
                t = ical.icalproperty_get_dtstart(start);
                if ((dst ? r->has_dst : r->has_std) &&
                    ical.icaltime_compare(t, dst ? best_dst : best_std) <= 0)
                        continue;
                if (dst) {
                        best_dst = t;
                        r->has_dst = true;
                        r->dst_off = ical.icalproperty_get_tzoffsetto(off);
                        snprintf(r->dst_name, sizeof(r->dst_name), "%s",
                                 ical.icalproperty_get_tzname(name));
                } else {
                        best_std = t;
                        r->has_std = true;
                        r->std_off = ical.icalproperty_get_tzoffsetto(off);
                        snprintf(r->std_name, sizeof(r->std_name), "%s",
                                 ical.icalproperty_get_tzname(name));
                }
        }
}

enum gv_err gv_recur_new(const char *rule, const char *tz, const char *const *exdates,
                         size_t n_exdates, struct gv_recur **ret, char *err, size_t errlen)
{
        struct gv_recur *r = NULL;
        char shown[4 * MAX_SHOWN];
        bool have_rule = false, have_start = false, lines;
        const char *p, *end;
        enum gv_err e;
        size_t i;

        if (!rule || !tz || (n_exdates && !exdates)) {
                e = gv_errf(err, errlen, GV_EINVAL, "no rule or zone");
                goto out;
        }
        if (strlen(rule) > MAX_RULE) {
                e = gv_errf(err, errlen, GV_ETOOBIG, "rule longer than %d bytes", MAX_RULE);
                goto out;
        }
        if (n_exdates > MAX_EXDATES) {
                e = gv_errf(err, errlen, GV_ETOOBIG, "more than %d EXDATE values", MAX_EXDATES);
                goto out;
        }
        e = gv_recur_load(err, errlen);
        if (e)
                goto out;
        r = calloc(1, sizeof(*r));
        if (!r || !(r->tz = strdup(tz))) {
                e = gv_errf(err, errlen, GV_ENOMEM, "out of memory");
                goto out;
        }
        if (!cleanup_registered) {
                cleanup_registered = true;
                atexit(recur_atexit);
        }
        r->zone = zone_name_ok(tz) ? ical.icaltimezone_get_builtin_timezone(tz) : NULL;
        ical.icalerror_clear_errno();
        if (!r->zone) {
                show(tz, strlen(tz), shown, sizeof(shown));
                e = gv_errf(err, errlen, GV_ENOTFOUND, "%s: no such time zone", shown);
                goto out;
        }
        r->utc_zone = r->zone == ical.icaltimezone_get_utc_timezone();
        r->dtstart = make_time(2024, 1, 1, 0, 0, 0);    /* a Monday */
        r->win_from_start = true;

        /* A bare RRULE value, or content lines ("NAME[;PARAM=X]:value"). */
        p = rule + strspn(rule, " \t\r\n");
        lines = strchr(p, ':') != NULL;        /* an RRULE value has no ':' */
        if (!lines) {
                size_t n = strlen(p);

                while (n && strchr(" \t\r\n", p[n - 1]))
                        n--;
                e = set_rule(r, p, n, err, errlen);
                if (e)
                        goto out;
                have_rule = true;
        } else {
                for (; *p; p = *end ? end + 1 : end) {
                        size_t n;

                        end = p + strcspn(p, "\n");
                        n = (size_t)(end - p);
                        while (n && strchr(" \t\r", p[n - 1]))
                                n--;
                        while (n && strchr(" \t", *p)) {
                                p++;
                                n--;
                        }
                        if (!n)
                                continue;
                        e = content_line(r, p, n, &have_rule, &have_start, err, errlen);
                        if (e)
                                goto out;
                }
                if (!have_rule) {
                        e = gv_errf(err, errlen, GV_EPARSE, "no RRULE line");
                        goto out;
                }
        }
        for (i = 0; i < n_exdates; i++) {
                struct icaltimetype t;
                bool is_date;

                if (!exdates[i] || !parse_iso_time(exdates[i], &t, &is_date)) {
                        show(exdates[i] ? exdates[i] : "", exdates[i] ? strlen(exdates[i]) : 0,
                             shown, sizeof(shown));
                        e = gv_errf(err, errlen, GV_EPARSE, "%s: not a local date (2026-12-24) or "
                                    "date-time (2026-12-24T15:00)", shown);
                        goto out;
                }
                e = add_exdate(r, t, is_date, false, err, errlen);
                if (e)
                        goto out;
        }
        zone_names(r);
        *ret = r;
        r = NULL;
        e = GV_OK;
out:
        gv_recur_free(r);
        return e;
}

static void reset_cache(struct gv_recur *r)
{
        if (r->it)
                ical.icalrecur_iterator_free(r->it);
        r->it = NULL;
        r->n_win = 0;
        r->win_from_start = true;
        r->ended = false;
        r->any = false;
}

struct gv_recur *gv_recur_free(struct gv_recur *r)
{
        if (!r)
                return NULL;
        reset_cache(r);
        free(r->win);
        free(r->ex);
        free(r->tz);
        free(r);
        return NULL;
}

const char *gv_recur_tz(const struct gv_recur *r)
{
        return r->tz;
}

/* ---- the cache ---- */

static bool excluded(const struct gv_recur *r, int64_t loc, int64_t utc)
{
        for (size_t i = 0; i < r->n_ex; i++) {
                const struct exdate *x = &r->ex[i];

                if (x->utc ? x->t == utc
                           : x->is_date ? x->t == floor_div(loc, 86400) : x->t == loc)
                        return true;
        }
        return false;
}

/* Appends the iterator's next kept occurrence to the window; false at the end. */
static enum gv_err step(struct gv_recur *r)
{
        for (;;) {
                struct icaltimetype t;
                int64_t loc, utc;

                if (r->ended)
                        return GV_ENOTFOUND;
                if (!r->it) {
                        r->it = ical.icalrecur_iterator_new(r->rule, r->dtstart);
                        ical.icalerror_clear_errno();
                        if (!r->it) {
                                r->ended = true;
                                return GV_ENOTFOUND;
                        }
                }
                t = ical.icalrecur_iterator_next(r->it);
                if (ical.icaltime_is_null_time(t)) {
                        r->ended = true;
                        return GV_ENOTFOUND;
                }
                loc = local_secs(t);
                if (r->until_kind == UNTIL_LOCAL && loc > r->until) {
                        r->ended = true;
                        return GV_ENOTFOUND;
                }
                utc = to_utc(r, loc);
                if (r->until_kind == UNTIL_UTC && utc > r->until) {
                        r->ended = true;
                        return GV_ENOTFOUND;
                }
                /* Two wall-clock times in one spring-forward hour can land on
                 * the same instant or out of order: the first one stays. */
                if (r->any && utc * 1000 <= r->last_ms)
                        continue;
                r->any = true;
                r->last_ms = utc * 1000;
                if (excluded(r, loc, utc))
                        continue;
                if (!r->win) {
                        r->win = malloc(WINDOW * sizeof(*r->win));
                        if (!r->win)
                                return GV_ENOMEM;
                }
                if (r->n_win == WINDOW) {
                        memmove(r->win, r->win + WINDOW / 2, (WINDOW / 2) * sizeof(*r->win));
                        r->n_win = WINDOW / 2;
                        r->win_from_start = false;
                }
                r->win[r->n_win++] = utc * 1000;
                return GV_OK;
        }
}

/* The first index of the window whose occurrence is > t (n_win if none). */
static size_t upper(const struct gv_recur *r, int64_t t)
{
        size_t lo = 0, hi = r->n_win;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (r->win[mid] <= t)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* Makes the window hold the first occurrence > t, unless there is none:
 * restarts when t is before a window that does not begin at the start. */
static enum gv_err cover(struct gv_recur *r, int64_t t)
{
        enum gv_err e;

        if (r->n_win && t < r->win[0] && !r->win_from_start)
                reset_cache(r);
        while (r->n_win == 0 || r->win[r->n_win - 1] <= t) {
                e = step(r);
                if (e)
                        return e;
        }
        return GV_OK;
}

enum gv_err gv_recur_next(struct gv_recur *r, int64_t after_ms, int64_t *occ_ms)
{
        enum gv_err e = cover(r, after_ms);
        size_t i;

        if (e == GV_ENOMEM)
                return e;
        i = upper(r, after_ms);
        if (i == r->n_win)
                return GV_ENOTFOUND;
        *occ_ms = r->win[i];
        return GV_OK;
}

enum gv_err gv_recur_prev(struct gv_recur *r, int64_t at_ms, int64_t *occ_ms)
{
        enum gv_err e = cover(r, at_ms);
        size_t i;

        if (e == GV_ENOMEM)
                return e;
        i = upper(r, at_ms);
        if (i == 0 && !r->win_from_start) {
                /* Before the window: from the start again; the window then
                 * ends just past at_ms and holds its predecessor. */
                reset_cache(r);
                e = cover(r, at_ms);
                if (e == GV_ENOMEM)
                        return e;
                i = upper(r, at_ms);
        }
        if (i == 0)
                return GV_ENOTFOUND;
        *occ_ms = r->win[i - 1];
        return GV_OK;
}

size_t gv_recur_local(const struct gv_recur *r, int64_t ms, char *buf, size_t n)
{
        static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        int64_t s = floor_div(ms, 1000), loc;
        int dl = 0, off = offset_at(r, s, &dl), w;
        char name[24];
        struct tm tm;
        time_t tt;

        if (!n)
                return 0;
        loc = s + off;
        tt = (time_t)loc;
        if (!gmtime_r(&tt, &tm)) {
                buf[0] = '\0';
                return 0;
        }
        if (r->utc_zone)
                snprintf(name, sizeof(name), "UTC");
        else if (dl && r->has_dst && r->dst_off == off && r->dst_name[0] &&
                 r->dst_name[0] != '+' && r->dst_name[0] != '-')
                snprintf(name, sizeof(name), "%s", r->dst_name);
        else if (!dl && r->has_std && r->std_off == off && r->std_name[0] &&
                 r->std_name[0] != '+' && r->std_name[0] != '-')
                snprintf(name, sizeof(name), "%s", r->std_name);
        else
                snprintf(name, sizeof(name), "%c%02d%02d", off < 0 ? '-' : '+',
                         abs(off) / 3600, abs(off) / 60 % 60);
        w = snprintf(buf, n, "%s %04d-%02d-%02d %02d:%02d %s", days[tm.tm_wday],
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, name);
        if (w < 0) {
                buf[0] = '\0';
                return 0;
        }
        return (size_t)w < n ? (size_t)w : n - 1;
}
