/* util/clock.h - the process's wall clock, injectable for tests. Knows
 * nothing about Matrix or meetings.
 *
 * gv_clock_now_ms() is CLOCK_REALTIME, or, when the environment has
 * GAVEL_TEST_TIME ("2026-12-07T13:29:57Z", ISO 8601 UTC, or epoch seconds
 * "1796650197"), a clock that reads that time when the process starts and
 * runs at real speed from there (CLOCK_MONOTONIC). Every wall-clock read that
 * feeds meeting logic (timers, the timestamps of local events) goes through
 * it; timeouts and backoff stay on the monotonic clock. */
#ifndef GV_CLOCK_H
#define GV_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

/* Upper bound on GAVEL_TEST_TIME: 9999-12-31T23:59:59Z. */
#define GV_CLOCK_MAX_S 253402300799LL

/* Reads GAVEL_TEST_TIME once (later calls do nothing and return the first
 * answer). GV_EINVAL with err set ("GAVEL_TEST_TIME: \"x\" is neither ISO 8601
 * UTC (2026-12-07T13:29:57Z) nor epoch seconds") when it is set but
 * unreadable: the clock is then the real one. main() calls it first thing;
 * gv_clock_now_ms() calls it when nobody did. */
GV_MUST_CHECK enum gv_err gv_clock_init(char *err, size_t errlen);
/* ms since the epoch, UTC. */
int64_t gv_clock_now_ms(void);
/* Whether GAVEL_TEST_TIME set the clock. */
int gv_clock_is_test(void);
/* Strict: "YYYY-MM-DDTHH:MM:SS[.fff]Z" (also "+00:00" for Z, lower-case t
 * and z) or digits only (epoch seconds), 1970..9999; *ms untouched on
 * failure (GV_EINVAL). */
GV_MUST_CHECK enum gv_err gv_clock_parse(const char *s, int64_t *ms);

#endif
