/* tests/unit/check.h - the one check() every table-driven unit test uses:
 * "ok - name" or "FAIL - name: detail" per case, and the closing
 * "N passed, M failed" line that CI reads. */
#ifndef GV_TEST_CHECK_H
#define GV_TEST_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static unsigned passed, failed;

__attribute__((format(printf, 3, 4)))
static void check(bool ok, const char *name, const char *fmt, ...)
{
        va_list ap;

        if (ok) {
                passed++;
                printf("ok - %s\n", name);
                return;
        }
        failed++;
        printf("FAIL - %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

/* Prints the closing line; the exit status of main(). */
static int check_finish(void)
{
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}

#endif
