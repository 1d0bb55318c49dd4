/* util/recur.c - TEMPORARY stand-in on the series branch so that
 * handlers/series.c links and its tests run before the recur branch's
 * implementation lands; replaced by that one at the merge (take theirs).
 * See recur.h. */
#include <libical/ical.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

struct gv_recur {
        struct icalrecurrencetype rule;
        icaltimezone *zone;
        char *tz;
        struct icaltimetype dtstart;
        int64_t *ex;
        size_t n_ex;
};

static int64_t local_ms(const struct gv_recur *r, struct icaltimetype t)
{
        return (int64_t)icaltime_as_timet_with_zone(t, r->zone) * 1000;
}

static enum gv_err add_ex(struct gv_recur *r, const char *s)
{
        char buf[32];
        size_t k = 0;
        struct icaltimetype t;
        int64_t *nv;

        for (const char *p = s; *p && k < sizeof(buf) - 1; p++)
                if (*p != '-' && *p != ':')
                        buf[k++] = *p;
        buf[k] = '\0';
        if (k == 8) {
                snprintf(buf + 8, sizeof(buf) - 8, "T%02d%02d00", r->dtstart.hour, r->dtstart.minute);
                if (r->rule.by_hour[0] != ICAL_RECURRENCE_ARRAY_MAX)
                        snprintf(buf + 8, sizeof(buf) - 8, "T%02d%02d00", r->rule.by_hour[0],
                                 r->rule.by_minute[0] != ICAL_RECURRENCE_ARRAY_MAX ?
                                 r->rule.by_minute[0] : 0);
        } else if (k == 13) {
                snprintf(buf + 13, sizeof(buf) - 13, "00");
        }
        t = icaltime_from_string(buf);
        if (icaltime_is_null_time(t))
                return GV_EINVAL;
        nv = realloc(r->ex, (r->n_ex + 1) * sizeof(*nv));
        if (!nv)
                return GV_ENOMEM;
        r->ex = nv;
        r->ex[r->n_ex++] = local_ms(r, t);
        return GV_OK;
}

enum gv_err gv_recur_new(const char *rule, const char *tz, const char *const *exdates,
                         size_t n_exdates, struct gv_recur **ret, char *err, size_t errlen)
{
        struct gv_recur *r = calloc(1, sizeof(*r));
        char *copy = NULL, *save = NULL, *exlist = NULL;
        const char *rr = rule;

        if (!r)
                return GV_ENOMEM;
        r->tz = strdup(tz ? tz : "UTC");
        copy = strdup(rule);
        if (!r->tz || !copy)
                goto nomem;
        r->zone = strcmp(r->tz, "UTC") == 0 ? icaltimezone_get_utc_timezone() :
                  icaltimezone_get_builtin_timezone(r->tz);
        if (!r->zone) {
                snprintf(err, errlen, "%s: no such time zone", r->tz);
                goto bad;
        }
        r->dtstart = icaltime_from_string("20240101T000000");
        if (strchr(rule, ':')) {
                rr = NULL;
                for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                        if (strncmp(l, "DTSTART:", 8) == 0)
                                r->dtstart = icaltime_from_string(l + 8);
                        else if (strncmp(l, "RRULE:", 6) == 0)
                                rr = rule + (l + 6 - copy);
                        else if (strncmp(l, "EXDATE:", 7) == 0)
                                exlist = l + 7;
                }
                if (rr) {
                        const char *nl = strchr(rr, '\n');
                        char *one = strndup(rr, nl ? (size_t)(nl - rr) : strlen(rr));

                        if (!one)
                                goto nomem;
                        r->rule = icalrecurrencetype_from_string(one);
                        free(one);
                }
        } else {
                r->rule = icalrecurrencetype_from_string(rr);
        }
        if (!rr || r->rule.freq == ICAL_NO_RECURRENCE) {
                snprintf(err, errlen, "%s: not a recurrence rule", rule);
                goto bad;
        }
        for (char *s2 = NULL, *e = exlist ? strtok_r(exlist, ",", &s2) : NULL; e;
             e = strtok_r(NULL, ",", &s2))
                if (add_ex(r, e)) {
                        snprintf(err, errlen, "%s: not a date-time", e);
                        goto bad;
                }
        for (size_t i = 0; i < n_exdates; i++)
                if (add_ex(r, exdates[i])) {
                        snprintf(err, errlen, "%s: not a date-time", exdates[i]);
                        goto bad;
                }
        free(copy);
        *ret = r;
        return GV_OK;
nomem:
        free(copy);
        gv_recur_free(r);
        return GV_ENOMEM;
bad:
        free(copy);
        gv_recur_free(r);
        return GV_EINVAL;
}

struct gv_recur *gv_recur_free(struct gv_recur *r)
{
        if (r) {
                free(r->tz);
                free(r->ex);
                free(r);
        }
        return NULL;
}

static bool excluded(const struct gv_recur *r, int64_t ms)
{
        for (size_t i = 0; i < r->n_ex; i++)
                if (r->ex[i] == ms)
                        return true;
        return false;
}

/* Walks from dtstart (or a little before from) and calls back per occurrence. */
static enum gv_err walk(struct gv_recur *r, int64_t from_ms, int64_t stop_ms, bool want_last,
                        int64_t *occ)
{
        icalrecur_iterator *it = icalrecur_iterator_new(r->rule, r->dtstart);
        struct icaltimetype t;
        bool found = false;
        int guard = 0;

        if (!it)
                return GV_ENOMEM;
        if (r->rule.count == 0 && from_ms / 1000 - 8 * 86400 > local_ms(r, r->dtstart) / 1000) {
                struct icaltimetype s = icaltime_from_timet_with_zone(
                        (time_t)(from_ms / 1000 - 8 * 86400), 0, r->zone);

                s.zone = NULL;
                (void)icalrecur_iterator_set_start(it, s);
        }
        while (guard++ < 1000000) {
                int64_t ms;

                t = icalrecur_iterator_next(it);
                if (icaltime_is_null_time(t))
                        break;
                ms = local_ms(r, t);
                if (excluded(r, ms))
                        continue;
                if (want_last) {
                        if (ms > stop_ms)
                                break;
                        *occ = ms;
                        found = true;
                } else if (ms > from_ms) {
                        *occ = ms;
                        found = true;
                        break;
                }
        }
        icalrecur_iterator_free(it);
        return found ? GV_OK : GV_ENOTFOUND;
}

enum gv_err gv_recur_next(struct gv_recur *r, int64_t after_ms, int64_t *occ_ms)
{
        return walk(r, after_ms, 0, false, occ_ms);
}

enum gv_err gv_recur_prev(struct gv_recur *r, int64_t at_ms, int64_t *occ_ms)
{
        return walk(r, at_ms - 40LL * 86400 * 1000, at_ms, true, occ_ms);
}

size_t gv_recur_local(const struct gv_recur *r, int64_t ms, char *buf, size_t n)
{
        static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        int is_dst = 0;
        struct icaltimetype t = icaltime_from_timet_with_zone((time_t)(ms / 1000), 0, r->zone);
        const char *abbr = icaltimezone_get_tznames((icaltimezone *)r->zone);
        int off = icaltimezone_get_utc_offset((icaltimezone *)r->zone, &t, &is_dst);
        int k;

        (void)abbr;
        k = snprintf(buf, n, "%s %04d-%02d-%02d %02d:%02d %c%02d%02d",
                     wd[icaltime_day_of_week(t) - 1], t.year, t.month, t.day, t.hour, t.minute,
                     off < 0 ? '-' : '+', abs(off) / 3600, abs(off) / 60 % 60);
        if (k < 0)
                return 0;
        return (size_t)k < n ? (size_t)k : n ? n - 1 : 0;
}

const char *gv_recur_tz(const struct gv_recur *r)
{
        return r->tz;
}
