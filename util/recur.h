/* util/recur.h - when a meeting series meets: an RFC 5545 recurrence rule in
 * an IANA time zone, computed with libical (never by hand). Pure but for
 * reading the system's tzdata. Not thread-safe (libical's zone cache): the
 * event loop's thread only.
 *
 * Local times (DTSTART, EXDATE, an UNTIL without "Z") are wall-clock times in
 * the zone, so "BYHOUR=15" stays 15:00 across DST. A wall-clock time that
 * does not exist (a spring-forward gap) is taken with the offset before the
 * gap (02:30 becomes 03:30, RFC 5545 3.3.5); one that happens twice (fall
 * back) is the first. */
#ifndef GV_RECUR_H
#define GV_RECUR_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct gv_recur;

/* Loads libical (dlopen, once per process; gavel does not link it): the
 * first gv_recur_new() does it too. The config calls it first so that a
 * missing library is named under the series' "rrule" key. On failure err
 * says which file could not be loaded and why ("cannot load libical.so.3 (is
 * the package libical3 installed?): <dlerror>"), GV_EIO. */
GV_MUST_CHECK enum gv_err gv_recur_load(char *err, size_t errlen);

/* rule: a bare RRULE value ("FREQ=WEEKLY;BYDAY=MO;BYHOUR=16") or iCalendar
 * content lines separated by newlines ("DTSTART:20260105T150000",
 * "RRULE:...", "EXDATE:20261224T150000,20261231T150000"); tz: an IANA zone
 * name ("Europe/Athens", "UTC"); exdates: extra local date-times
 * ("2026-12-24T15:00") or whole dates ("2026-12-24") to skip. Without
 * DTSTART the rule starts on Monday 2024-01-01 00:00:00 local, so minutes
 * and seconds not given are 0. On failure err says what is wrong, without a
 * key name ("BYDAY=XX: not a recurrence rule", "Mars/Base: no such time
 * zone"): the caller names the key.
 * Details: DTSTART/EXDATE values may carry ";TZID=<tz>" (the same zone
 * only) or ";VALUE=DATE", and end in "Z" for a UTC instant; other lines
 * (RDATE, ...) are refused; an EXDATE date skips its whole local day; a
 * date UNTIL includes its day; COUNT counts the EXDATEs too (RFC 5545);
 * FREQ=MINUTELY/SECONDLY are refused (GV_EPARSE), an unknown zone is
 * GV_ENOTFOUND; nothing occurs from 2100 on (a rule that never matches
 * ends there). A wall-clock time that a spring-forward gap moves onto or
 * before the previous occurrence's instant (BYHOUR=2,3 on that day) is
 * dropped: occurrences are strictly increasing instants. */
GV_MUST_CHECK enum gv_err gv_recur_new(const char *rule, const char *tz,
                                       const char *const *exdates, size_t n_exdates,
                                       struct gv_recur **ret, char *err, size_t errlen);
struct gv_recur *gv_recur_free(struct gv_recur *r);     /* NULL is fine; returns NULL */

/* The first occurrence strictly after after_ms (UTC, ms since the epoch), in
 * UTC ms. GV_ENOTFOUND when the rule has no more (COUNT/UNTIL). Cheap enough
 * to call on every loop turn: the object keeps a window of the occurrences
 * it has walked (up to 4096), so a clock that moves forward costs a binary
 * search; the first call walks from DTSTART (about 1 ms for a weekly rule
 * from 2024, 60 ms for an hourly one), and so does a time before the
 * window. Not const: it updates that cache. */
GV_MUST_CHECK enum gv_err gv_recur_next(struct gv_recur *r, int64_t after_ms, int64_t *occ_ms);
/* The last occurrence at or before at_ms; GV_ENOTFOUND when none. */
GV_MUST_CHECK enum gv_err gv_recur_prev(struct gv_recur *r, int64_t at_ms, int64_t *occ_ms);

/* ms as the zone's wall clock: "Mon 2026-12-07 15:00 EET" (the zone's
 * abbreviation, or "+0530" when it has none). Returns the length written
 * (always NUL-terminated, cut to n). */
size_t gv_recur_local(const struct gv_recur *r, int64_t ms, char *buf, size_t n);
/* The zone's name as given. */
const char *gv_recur_tz(const struct gv_recur *r);

#endif
