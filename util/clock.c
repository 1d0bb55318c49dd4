/* util/clock.c - see clock.h */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static bool inited;
static enum gv_err init_result;
static char init_err[160];
static bool test_clock;
static int64_t test_start_ms;   /* GAVEL_TEST_TIME */
static int64_t mono_start_ms;   /* CLOCK_MONOTONIC when it was read */

static int64_t clock_ms(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* n digits at p, as a number; -1 if any is not a digit. */
static int64_t digits(const char *p, int n)
{
        int64_t v = 0;

        for (int i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return -1;
                v = v * 10 + (p[i] - '0');
        }
        return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static bool leap(int64_t y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

enum gv_err gv_clock_parse(const char *s, int64_t *ms)
{
        static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int64_t y, mo, d, h, mi, sec, frac = 0, secs;
        size_t n, i;

        if (!s || !*s)
                return GV_EINVAL;
        n = strlen(s);
        if (strspn(s, "0123456789") == n) {
                if (n > 12)
                        return GV_EINVAL;
                secs = digits(s, (int)n);
                if (secs < 0 || secs > GV_CLOCK_MAX_S)
                        return GV_EINVAL;
                *ms = secs * 1000;
                return GV_OK;
        }
        /* YYYY-MM-DDTHH:MM:SS */
        if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
            s[13] != ':' || s[16] != ':')
                return GV_EINVAL;
        y = digits(s, 4);
        mo = digits(s + 5, 2);
        d = digits(s + 8, 2);
        h = digits(s + 11, 2);
        mi = digits(s + 14, 2);
        sec = digits(s + 17, 2);
        if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
            sec < 0 || sec > 59)
                return GV_EINVAL;
        if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
                return GV_EINVAL;
        i = 19;
        if (s[i] == '.') {
                int k = 0;

                for (i++; s[i] >= '0' && s[i] <= '9'; i++, k++)
                        if (k < 3)
                                frac = frac * 10 + (s[i] - '0');
                if (k == 0 || k > 9)
                        return GV_EINVAL;
                for (; k < 3; k++)
                        frac *= 10;
        }
        if (!((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0') && strcmp(s + i, "+00:00") != 0)
                return GV_EINVAL;
        secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
        *ms = secs * 1000 + frac;
        return GV_OK;
}

static void init_once(void)
{
        const char *v;

        if (inited)
                return;
        inited = true;
        v = getenv("GAVEL_TEST_TIME");
        if (v && gv_clock_parse(v, &test_start_ms) == GV_OK) {
                test_clock = true;
                mono_start_ms = clock_ms(CLOCK_MONOTONIC);
        } else if (v) {
                snprintf(init_err, sizeof(init_err),
                         "GAVEL_TEST_TIME: \"%.40s\" is neither ISO 8601 UTC "
                         "(2026-12-07T13:29:57Z) nor epoch seconds", v);
                init_result = GV_EINVAL;
        }
}

enum gv_err gv_clock_init(char *err, size_t errlen)
{
        init_once();
        if (err && errlen)
                snprintf(err, errlen, "%s", init_err);
        return init_result;
}

int64_t gv_clock_now_ms(void)
{
        init_once();
        if (test_clock)
                return test_start_ms + (clock_ms(CLOCK_MONOTONIC) - mono_start_ms);
        return clock_ms(CLOCK_REALTIME);
}

int gv_clock_is_test(void)
{
        init_once();
        return test_clock;
}
