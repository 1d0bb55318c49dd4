/* tests/unit/check.h - the one check() every table-driven unit test uses:
 * "ok - name" or "FAIL - name: detail" per case, and the closing
 * "N passed, M failed" line that CI reads. */
#ifndef GV_TEST_CHECK_H
#define GV_TEST_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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

/* s[0..n) made printable for failure messages: C escapes for anything
 * outside ASCII 0x20..0x7e. A ring of buffers, so several fit in one printf. */
__attribute__((unused))
static const char *shown(const char *s, size_t n)
{
        static char ring[6][512];
        static unsigned next;
        char *out = ring[next++ % 6];
        size_t o = 0;

        if (!s)
                return "(null)";
        for (size_t i = 0; i < n && o + 8 < sizeof(ring[0]); i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '\n')
                        o += (size_t)snprintf(out + o, sizeof(ring[0]) - o, "\\n");
                else if (c == '\t')
                        o += (size_t)snprintf(out + o, sizeof(ring[0]) - o, "\\t");
                else if (c == '\\' || c == '"')
                        o += (size_t)snprintf(out + o, sizeof(ring[0]) - o, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        o += (size_t)snprintf(out + o, sizeof(ring[0]) - o, "\\x%02x", c);
                else
                        out[o++] = (char)c;
        }
        out[o] = '\0';
        return out;
}

__attribute__((unused))
static const char *show(const char *s)
{
        return s ? shown(s, strlen(s)) : "(null)";
}

/* Prints the closing line; the exit status of main(). */
static int check_finish(void)
{
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}

#endif
