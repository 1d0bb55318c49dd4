/* tests/unit/test-clock.c - util/clock: GAVEL_TEST_TIME parsing (strict, a
 * table) and the injected clock (starts there, runs at real speed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../util/clock.h"
#include "check.h"

static const struct {
        const char *in;
        int64_t ms;     /* -1: refused */
} cases[] = {
        { "2026-12-07T13:29:57Z", 1796650197000 },
        { "2026-12-07t13:29:57z", 1796650197000 },
        { "2026-12-07T13:29:57+00:00", 1796650197000 },
        { "2026-12-07T13:29:57.250Z", 1796650197250 },
        { "2026-12-07T13:29:57.5Z", 1796650197500 },
        { "2026-12-07T13:29:57.123456Z", 1796650197123 },
        { "1970-01-01T00:00:00Z", 0 },
        { "2024-02-29T12:00:00Z", 1709208000000 },
        { "2000-02-29T00:00:00Z", 951782400000 },
        { "1796650197", 1796650197000 },
        { "0", 0 },
        { "253402300799", 253402300799000 },
        { "253402300800", -1 },         /* past 9999 */
        { "9999999999999", -1 },
        { "", -1 },
        { " 1796650197", -1 },
        { "-1", -1 },
        { "1796650197x", -1 },
        { "1.5", -1 },
        { "2026-12-07T13:29:57", -1 },   /* no zone: not UTC for sure */
        { "2026-12-07T13:29:57+02:00", -1 },
        { "2026-12-07 13:29:57Z", -1 },
        { "2026-12-07T13:29:57Z ", -1 },
        { "2026-13-07T13:29:57Z", -1 },
        { "2026-02-29T13:29:57Z", -1 },  /* not a leap year */
        { "1900-02-29T00:00:00Z", -1 },
        { "2026-04-31T00:00:00Z", -1 },
        { "2026-12-07T24:00:00Z", -1 },
        { "2026-12-07T13:60:00Z", -1 },
        { "2026-12-07T13:29:60Z", -1 },
        { "1969-12-31T23:59:59Z", -1 },
        { "2026-12-07T13:29:57.Z", -1 },
        { "2026-12-07T13:29:57.1234567890Z", -1 },
        { "2026-1-07T13:29:57Z", -1 },
        { "Mon, 07 Dec 2026 13:29:57 GMT", -1 },
};

static void test_parse(void)
{
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t ms = 42;
                enum gv_err r = gv_clock_parse(cases[i].in, &ms);
                char name[96];

                snprintf(name, sizeof(name), "parse \"%s\"", cases[i].in);
                if (cases[i].ms < 0)
                        check(r == GV_EINVAL && ms == 42, name, "got %s, %lld", gv_strerror(r),
                              (long long)ms);
                else
                        check(r == GV_OK && ms == cases[i].ms, name, "got %s, %lld (want %lld)",
                              gv_strerror(r), (long long)ms, (long long)cases[i].ms);
        }
        check(gv_clock_parse(NULL, &(int64_t){ 0 }) == GV_EINVAL, "parse NULL", "accepted");
}

static int64_t real_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The process's clock: GAVEL_TEST_TIME given before the first read. */
static void test_injected(void)
{
        const int64_t start = 1796650197000;    /* 2026-12-07T13:29:57Z */
        struct timespec nap = { 0, 200 * 1000000L };
        char err[160] = "x";
        int64_t a, b;

        setenv("GAVEL_TEST_TIME", "2026-12-07T13:29:57Z", 1);
        check(gv_clock_init(err, sizeof(err)) == GV_OK && err[0] == '\0', "init with a test time",
              "%s", err);
        check(gv_clock_is_test(), "the test clock is on", "off");
        a = gv_clock_now_ms();
        check(a >= start && a < start + 1000, "it starts at GAVEL_TEST_TIME", "%lld",
              (long long)a);
        nanosleep(&nap, NULL);
        b = gv_clock_now_ms();
        check(b - a >= 190 && b - a < 1500, "and runs at real speed", "%lld ms for 200 ms",
              (long long)(b - a));
        check(llabs(real_ms() - b) > 3600000, "not the wall clock", "%lld", (long long)b);
        /* read once: a later change of the environment changes nothing */
        setenv("GAVEL_TEST_TIME", "nonsense", 1);
        check(gv_clock_init(err, sizeof(err)) == GV_OK && gv_clock_now_ms() >= b,
              "GAVEL_TEST_TIME is read once", "%s", err);
}

int main(int argc, char **argv)
{
        test_parse();
        if (argc > 1 && strcmp(argv[1], "--bad") == 0) {
                /* a separate process: a value that cannot be read is an
                 * error naming it, and the clock is the real one */
                char err[160] = "";

                setenv("GAVEL_TEST_TIME", "next tuesday", 1);
                check(gv_clock_init(err, sizeof(err)) == GV_EINVAL &&
                      strstr(err, "GAVEL_TEST_TIME") && strstr(err, "next tuesday") &&
                      strstr(err, "ISO 8601"), "a bad GAVEL_TEST_TIME is refused, naming it", "%s",
                      err);
                check(!gv_clock_is_test() && llabs(gv_clock_now_ms() - real_ms()) < 1000,
                      "and the clock is the real one", "%lld", (long long)gv_clock_now_ms());
        } else if (argc > 1 && strcmp(argv[1], "--none") == 0) {
                unsetenv("GAVEL_TEST_TIME");
                check(!gv_clock_is_test() && llabs(gv_clock_now_ms() - real_ms()) < 1000,
                      "without GAVEL_TEST_TIME: the wall clock", "%lld",
                      (long long)gv_clock_now_ms());
        } else {
                test_injected();
        }
        return check_finish();
}
