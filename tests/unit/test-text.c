/* tests/unit/test-text.c - util/text and util/buf: strict number parsing,
 * UTF-8 checks and cleaning, HTML and Markdown escaping, bounded echo, ASCII
 * case folding, time formatting and parsing, and the buffer's hard ceiling.
 * Prints "ok - name" or "FAIL - name: detail" per case and
 * "N passed, M failed" at the end; exits 1 on a failure. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../util/buf.h"
#include "../../util/err.h"
#include "../../util/sha256.h"
#include "../../util/text.h"

#include "check.h"

static void check_str(const char *name, const char *got, const char *want)
{
        check(got && strcmp(got, want) == 0, name, "got \"%s\", want \"%s\"", show(got), show(want));
}

/* ---- gv_parse_u64 / gv_parse_un ---- */

static void test_parse_u64(void)
{
        static const struct {
                const char *s;
                uint64_t max;
                enum gv_err r;
                uint64_t want;
        } cases[] = {
                { "0", UINT64_MAX, GV_OK, 0 },
                { "42", 100, GV_OK, 42 },
                { "100", 100, GV_OK, 100 },
                { "007", 100, GV_OK, 7 },
                { "101", 100, GV_ETOOBIG, 0 },
                { "18446744073709551615", UINT64_MAX, GV_OK, UINT64_MAX },
                { "18446744073709551615", UINT64_MAX - 1, GV_ETOOBIG, 0 },
                { "18446744073709551616", UINT64_MAX, GV_ETOOBIG, 0 },
                { "99999999999999999999", UINT64_MAX, GV_ETOOBIG, 0 },
                { "", UINT64_MAX, GV_EPARSE, 0 },
                { " 1", UINT64_MAX, GV_EPARSE, 0 },
                { "1 ", UINT64_MAX, GV_EPARSE, 0 },
                { "-1", UINT64_MAX, GV_EPARSE, 0 },
                { "+1", UINT64_MAX, GV_EPARSE, 0 },
                { "1x", UINT64_MAX, GV_EPARSE, 0 },
                { "0x10", UINT64_MAX, GV_EPARSE, 0 },
                { "1.5", UINT64_MAX, GV_EPARSE, 0 },
                { "\xd9\xa1", UINT64_MAX, GV_EPARSE, 0 },  /* ARABIC-INDIC DIGIT ONE */
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t out = 777;
                enum gv_err r = gv_parse_u64(cases[i].s, cases[i].max, &out);

                snprintf(name, sizeof(name), "parse_u64 \"%s\" max %" PRIu64, show(cases[i].s),
                         cases[i].max);
                if (cases[i].r == GV_OK)
                        check(r == GV_OK && out == cases[i].want, name,
                              "got %s / %" PRIu64 ", want %" PRIu64, gv_strerror(r), out,
                              cases[i].want);
                else
                        check(r == cases[i].r && out == 777, name,
                              "got %s / out %" PRIu64 ", want %s and out untouched (777)",
                              gv_strerror(r), out, gv_strerror(cases[i].r));
        }
        {
                uint64_t out = 777;

                check(gv_parse_u64(NULL, 10, &out) == GV_EPARSE && out == 777,
                      "parse_u64 NULL", "accepted NULL or touched out (%" PRIu64 ")", out);
        }
}

static void test_parse_un(void)
{
        static const struct {
                const char *s;
                size_t n;
                enum gv_err r;
                uint64_t want;
        } cases[] = {
                { "123abc", 3, GV_OK, 123 },
                { "123abc", 4, GV_EPARSE, 0 },
                { "12", 0, GV_EPARSE, 0 },
                { "2017-05-08", 4, GV_OK, 2017 },
                { "1\0" "2", 3, GV_EPARSE, 0 },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t out = 777;
                enum gv_err r = gv_parse_un(cases[i].s, cases[i].n, UINT64_MAX, &out);

                snprintf(name, sizeof(name), "parse_un \"%s\" n=%zu", shown(cases[i].s, cases[i].n),
                         cases[i].n);
                if (cases[i].r == GV_OK)
                        check(r == GV_OK && out == cases[i].want, name,
                              "got %s / %" PRIu64 ", want %" PRIu64, gv_strerror(r), out,
                              cases[i].want);
                else
                        check(r == cases[i].r && out == 777, name,
                              "got %s / out %" PRIu64 ", want %s and out untouched",
                              gv_strerror(r), out, gv_strerror(cases[i].r));
        }
}

/* ---- UTF-8 ---- */

static void test_utf8_valid(void)
{
        static const struct {
                const char *name;
                const char *s;
                size_t n;
                bool valid;
        } cases[] = {
                { "empty", "", 0, true },
                { "ascii", "abc", 3, true },
                { "2-byte e-acute", "\xc3\xa9", 2, true },
                { "3-byte euro", "\xe2\x82\xac", 3, true },
                { "4-byte emoji", "\xf0\x9f\x98\x80", 4, true },
                { "U+FFFD", "\xef\xbf\xbd", 3, true },
                { "U+10FFFF", "\xf4\x8f\xbf\xbf", 4, true },
                { "U+0800 smallest 3-byte", "\xe0\xa0\x80", 3, true },
                { "NUL is valid UTF-8", "a\0b", 3, true },
                { "overlong 2-byte slash c0 af", "\xc0\xaf", 2, false },
                { "overlong 2-byte c1 bf", "\xc1\xbf", 2, false },
                { "overlong 3-byte e0 80 af", "\xe0\x80\xaf", 3, false },
                { "overlong 3-byte e0 9f bf", "\xe0\x9f\xbf", 3, false },
                { "overlong 4-byte f0 80 80 af", "\xf0\x80\x80\xaf", 4, false },
                { "overlong 4-byte f0 8f bf bf", "\xf0\x8f\xbf\xbf", 4, false },
                { "surrogate U+D800", "\xed\xa0\x80", 3, false },
                { "surrogate U+DFFF", "\xed\xbf\xbf", 3, false },
                { "above U+10FFFF", "\xf4\x90\x80\x80", 4, false },
                { "lead f5", "\xf5\x80\x80\x80", 4, false },
                { "byte ff", "\xff", 1, false },
                { "lone continuation", "a\x80", 2, false },
                { "truncated 3-byte", "\xe2\x82", 2, false },
                { "truncated at the length", "\xc3\xa9", 1, false },
                { "lead then ascii", "\xc3" "a", 2, false },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bool v = gv_utf8_valid(cases[i].s, cases[i].n);

                snprintf(name, sizeof(name), "utf8_valid %s", cases[i].name);
                check(v == cases[i].valid, name, "\"%s\" gave %s", shown(cases[i].s, cases[i].n),
                      v ? "valid" : "invalid");
        }
}

#define FFFD "\xef\xbf\xbd"

static void test_utf8_clean(void)
{
        static const struct {
                const char *name;
                const char *s;
                size_t n;
                const char *want;
        } cases[] = {
                { "ascii kept", "hello", 5, "hello" },
                { "multibyte kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
                { "NUL -> U+FFFD", "a\0b", 3, "a" FFFD "b" },
                { "newline and tab kept", "a\nb\tc", 5, "a\nb\tc" },
                { "C0 controls -> space", "a\x01" "b\x1b" "c\x1f" "d", 7, "a b c d" },
                { "CR -> space", "a\rb", 3, "a b" },
                { "overlong -> U+FFFD per byte", "x\xc0\xafy", 4, "x" FFFD FFFD "y" },
                { "surrogate -> U+FFFD", "\xed\xa0\x80", 3, FFFD FFFD FFFD },
                { "lone continuation", "a\x80z", 3, "a" FFFD "z" },
                { "truncated tail", "ab\xe2\x82", 4, "ab" FFFD FFFD },
                { "byte ff", "\xff", 1, FFFD },
                { "bounded by n", "abcdef", 3, "abc" },
                { "empty", "", 0, "" },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct gv_buf b = GV_BUF_INIT(4096);
                enum gv_err r = gv_utf8_clean(&b, cases[i].s, cases[i].n);

                snprintf(name, sizeof(name), "utf8_clean %s", cases[i].name);
                check(r == GV_OK && strcmp(gv_buf_str(&b), cases[i].want) == 0 &&
                      b.len == strlen(cases[i].want) &&
                      gv_utf8_valid(gv_buf_str(&b), b.len), name,
                      "got %s \"%s\", want \"%s\"", gv_strerror(r), show(gv_buf_str(&b)),
                      show(cases[i].want));
                gv_buf_free(&b);
        }
        {
                struct gv_buf b = GV_BUF_INIT(4);
                enum gv_err r = gv_utf8_clean(&b, "abcdef", 6);

                check(r == GV_ETOOBIG, "utf8_clean over the buffer limit", "got %s",
                      gv_strerror(r));
                gv_buf_free(&b);
        }
}

/* ---- escaping ---- */

static void test_html_escape(void)
{
        static const struct {
                const char *s, *want;
        } cases[] = {
                { "", "" },
                { "plain text", "plain text" },
                { "&", "&amp;" },
                { "<", "&lt;" },
                { ">", "&gt;" },
                { "\"", "&quot;" },
                { "'", "&#39;" },
                { "a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&#39;f" },
                { "<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" },
                { "&amp;", "&amp;amp;" },
                { "caf\xc3\xa9 <b>", "caf\xc3\xa9 &lt;b&gt;" },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct gv_buf b = GV_BUF_INIT(4096);
                enum gv_err r = gv_html_escape(&b, cases[i].s);

                snprintf(name, sizeof(name), "html_escape \"%s\"", show(cases[i].s));
                check(r == GV_OK && strcmp(gv_buf_str(&b), cases[i].want) == 0, name,
                      "got %s \"%s\", want \"%s\"", gv_strerror(r), show(gv_buf_str(&b)),
                      show(cases[i].want));
                gv_buf_free(&b);
        }
        {
                struct gv_buf b = GV_BUF_INIT(4096);
                enum gv_err r = gv_buf_adds(&b, "x=");

                if (r == GV_OK)
                        r = gv_html_escape(&b, "<y>");
                check(r == GV_OK && strcmp(gv_buf_str(&b), "x=&lt;y&gt;") == 0,
                      "html_escape appends", "got \"%s\"", show(gv_buf_str(&b)));
                gv_buf_free(&b);
        }
        {
                struct gv_buf b = GV_BUF_INIT(6);
                enum gv_err r = gv_html_escape(&b, "<<");

                check(r == GV_ETOOBIG, "html_escape over the limit", "got %s", gv_strerror(r));
                gv_buf_free(&b);
        }
}

static void test_md_escape(void)
{
        static const struct {
                const char *s, *want;
        } cases[] = {
                { "", "" },
                { "plain words, and a full stop.", "plain words, and a full stop." },
                { "a*b_c", "a\\*b\\_c" },
                { "`code`", "\\`code\\`" },
                { "[x](http://y)", "\\[x\\](http://y)" },
                { "<b>html</b>", "\\<b\\>html\\</b\\>" },
                { "back\\slash", "back\\\\slash" },
                { "~strike~", "\\~strike\\~" },
                /* block markup only at the start */
                { "# heading", "\\# heading" },
                { "a # b", "a # b" },
                { "- list", "\\- list" },
                { "a-b - c", "a-b - c" },
                { "+ list", "\\+ list" },
                { "= setext", "\\= setext" },
                { "| table", "\\| table" },
                { "a|b", "a|b" },
                { "> quote", "\\> quote" },
                { "x > y", "x \\> y" },
                { "!image {c}", "!image {c}" },
                { "line1\nline2", "line1 line2" },
                { "cr\r\nlf", "cr  lf" },
                { "caf\xc3\xa9", "caf\xc3\xa9" },
                /* CommonMark turns "&amp;" into "&": the text would not
                 * render as itself unless '&' is escaped too. */
                { "AT&amp;T", "AT\\&amp;T" },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct gv_buf b = GV_BUF_INIT(4096);
                enum gv_err r = gv_md_escape(&b, cases[i].s);

                snprintf(name, sizeof(name), "md_escape \"%s\"", show(cases[i].s));
                check(r == GV_OK && strcmp(gv_buf_str(&b), cases[i].want) == 0, name,
                      "got %s \"%s\", want \"%s\"", gv_strerror(r), show(gv_buf_str(&b)),
                      show(cases[i].want));
                gv_buf_free(&b);
        }
}

static void test_echo(void)
{
        static const struct {
                const char *name, *s;
                size_t max;
                const char *want;
        } cases[] = {
                { "short", "hello", 10, "hello" },
                { "exactly max", "hello", 5, "hello" },
                { "cut", "hello world", 5, "hello..." },
                { "empty", "", 5, "" },
                { "max 0", "abc", 0, "..." },
                { "CR LF -> spaces", "a\r\nb", 10, "a  b" },
                { "newline in the cut part", "ab\ncd\nef", 4, "ab c..." },
                { "cut inside 2-byte", "a\xc3\xa9z", 2, "a..." },
                { "cut after 2-byte", "a\xc3\xa9z", 3, "a\xc3\xa9..." },
                { "cut inside 3-byte", "\xc3\xa9\xc3\xa9\xc3\xa9", 3, "\xc3\xa9..." },
                { "cut inside 4-byte", "x\xf0\x9f\x98\x80y", 3, "x..." },
                { "cut inside leading 4-byte", "\xf0\x9f\x98\x80y", 2, "..." },
                { "whole multibyte kept", "\xe2\x82\xac", 3, "\xe2\x82\xac" },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct gv_buf b = GV_BUF_INIT(4096);
                enum gv_err r = gv_echo(&b, cases[i].s, cases[i].max);

                snprintf(name, sizeof(name), "echo %s", cases[i].name);
                check(r == GV_OK && strcmp(gv_buf_str(&b), cases[i].want) == 0 &&
                      gv_utf8_valid(gv_buf_str(&b), b.len), name,
                      "got %s \"%s\", want \"%s\"", gv_strerror(r), show(gv_buf_str(&b)),
                      show(cases[i].want));
                gv_buf_free(&b);
        }
}

/* ---- case folding ---- */

static void test_ieq(void)
{
        static const struct {
                const char *a, *b;
                bool eq, prefix;        /* gv_ieq(a, b), gv_iprefix(a, b) */
        } cases[] = {
                { "Hello", "hELLO", true, true },
                { "", "", true, true },
                { "a", "ab", false, false },
                { "ab", "a", false, true },
                { "abc", "", false, true },
                { "", "a", false, false },
                { "#StartMeeting now", "#startmeeting", false, true },
                { "#start", "#startmeeting", false, false },
                { "[", "{", false, false },     /* 0x5b vs 0x7b: not letters */
                { "@", "`", false, false },
                { "Z", "z", true, true },
                { "\xc3\x89", "\xc3\xa9", false, false },     /* ASCII only */
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bool eq = gv_ieq(cases[i].a, cases[i].b);
                bool pre = gv_iprefix(cases[i].a, cases[i].b);

                snprintf(name, sizeof(name), "ieq \"%s\" \"%s\"", show(cases[i].a), show(cases[i].b));
                check(eq == cases[i].eq, name, "got %d", eq);
                snprintf(name, sizeof(name), "iprefix \"%s\" \"%s\"", show(cases[i].a),
                         show(cases[i].b));
                check(pre == cases[i].prefix, name, "got %d", pre);
        }
        check(!gv_ieq(NULL, "a") && !gv_ieq("a", NULL) && !gv_ieq(NULL, NULL), "ieq NULL",
              "NULL compared equal");
        check(!gv_iprefix(NULL, "a") && !gv_iprefix("a", NULL), "iprefix NULL",
              "NULL matched");
}

/* ---- times ---- */

static void test_fmt_times(void)
{
        static const struct {
                int64_t ms;
                const char *hms, *date, *human, *stamp, *ctime;
        } cases[] = {
                { 1494248444000LL, "13:00:44", "2017-05-08", "8 May 2017", "2017-05-08-13.00",
                  "Mon May  8 13:00:44 2017" },
                { 1494248444999LL, "13:00:44", "2017-05-08", "8 May 2017", "2017-05-08-13.00",
                  "Mon May  8 13:00:44 2017" },
                { 0, "00:00:00", "1970-01-01", "1 Jan 1970", "1970-01-01-00.00",
                  "Thu Jan  1 00:00:00 1970" },
                { 1531396800000LL, "12:00:00", "2018-07-12", "12 Jul 2018", "2018-07-12-12.00",
                  "Thu Jul 12 12:00:00 2018" },
                { 1456790399999LL, "23:59:59", "2016-02-29", "29 Feb 2016", "2016-02-29-23.59",
                  "Mon Feb 29 23:59:59 2016" },
                { 2147483648000LL, "03:14:08", "2038-01-19", "19 Jan 2038", "2038-01-19-03.14",
                  "Tue Jan 19 03:14:08 2038" },
                { 1538611200000LL, "00:00:00", "2018-10-04", "4 Oct 2018", "2018-10-04-00.00",
                  "Thu Oct  4 00:00:00 2018" },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char hms[9], date[11], human[16], stamp[17], ct[32];

                memset(hms, 'X', sizeof(hms));
                memset(date, 'X', sizeof(date));
                memset(human, 'X', sizeof(human));
                memset(stamp, 'X', sizeof(stamp));
                memset(ct, 'X', sizeof(ct));
                gv_fmt_hms(cases[i].ms, hms);
                gv_fmt_date(cases[i].ms, date);
                gv_fmt_human_date(cases[i].ms, human);
                gv_fmt_stamp(cases[i].ms, stamp);
                gv_fmt_ctime(cases[i].ms, ct);
                snprintf(name, sizeof(name), "fmt_hms %" PRId64, cases[i].ms);
                check_str(name, hms, cases[i].hms);
                snprintf(name, sizeof(name), "fmt_date %" PRId64, cases[i].ms);
                check_str(name, date, cases[i].date);
                snprintf(name, sizeof(name), "fmt_human_date %" PRId64, cases[i].ms);
                check_str(name, human, cases[i].human);
                snprintf(name, sizeof(name), "fmt_stamp %" PRId64, cases[i].ms);
                check_str(name, stamp, cases[i].stamp);
                snprintf(name, sizeof(name), "fmt_ctime %" PRId64, cases[i].ms);
                check_str(name, ct, cases[i].ctime);
        }
        /* gv_fmt_hms() counts the second of the day itself: as gmtime_r()
         * does, before 1970 and after 2038 too, milliseconds cut towards 0 */
        {
                static const int64_t ms[] = { -1, -999, -1000, -1500, -86400000, -86401000,
                                              -1234567890123LL, 1, 999, 86399999, 86400000,
                                              4102444799999LL, 253402300799000LL,
                                              -62135596800000LL, INT64_C(1) << 62,
                                              -(INT64_C(1) << 62) };
                int bad = 0;

                for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]) + 2000; i++) {
                        int64_t v = i < sizeof(ms) / sizeof(ms[0]) ? ms[i] :
                                    (int64_t)(i * 7919) * 4099999 - 3000000000000LL;
                        time_t t = (time_t)(v / 1000);
                        struct tm tm;
                        char want[9] = "00:00:00", got[9];

                        if (gmtime_r(&t, &tm))
                                snprintf(want, sizeof(want), "%02u:%02u:%02u",
                                         (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
                                         (unsigned)tm.tm_sec % 100u);
                        gv_fmt_hms(v, got);
                        if (strcmp(want, got) != 0 && bad++ < 3)
                                fprintf(stderr, "  fmt_hms %" PRId64 ": %s, gmtime_r %s\n", v, got,
                                        want);
                }
                check_str("fmt_hms agrees with gmtime_r", bad ? "differs" : "agrees", "agrees");
        }
}

static void test_parse_date(void)
{
        static const struct {
                const char *s;
                enum gv_err r;
                int64_t ms;
        } cases[] = {
                { "2017-05-08", GV_OK, 1494201600000LL },
                { "1970-01-01", GV_OK, 0 },
                { "2016-02-29", GV_OK, 1456704000000LL },
                { "2018-07-12", GV_OK, 1531353600000LL },
                { "2000-02-29", GV_OK, 951782400000LL },
                { "2017-12-31", GV_OK, 1514678400000LL },
                { "", GV_EPARSE, 0 },
                { "2017-5-8", GV_EPARSE, 0 },
                { "2017-05-8", GV_EPARSE, 0 },
                { "2017-05-08x", GV_EPARSE, 0 },
                { " 2017-05-08", GV_EPARSE, 0 },
                { "2017/05/08", GV_EPARSE, 0 },
                { "20170508", GV_EPARSE, 0 },
                { "2017-13-01", GV_EPARSE, 0 },
                { "2017-00-10", GV_EPARSE, 0 },
                { "2017-05-00", GV_EPARSE, 0 },
                { "2017-05-32", GV_EPARSE, 0 },
                { "1969-12-31", GV_EPARSE, 0 },
                { "abcd-ef-gh", GV_EPARSE, 0 },
                { "2017--5-08", GV_EPARSE, 0 },
                { "2017-+5-08", GV_EPARSE, 0 },
                /* days that do not exist */
                { "2017-02-30", GV_EPARSE, 0 },
                { "2017-04-31", GV_EPARSE, 0 },
                { "2017-02-29", GV_EPARSE, 0 },
                { "2100-02-29", GV_EPARSE, 0 },
                { "2017-06-31", GV_EPARSE, 0 },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t ms = 777;
                enum gv_err r = gv_parse_date(cases[i].s, &ms);

                snprintf(name, sizeof(name), "parse_date \"%s\"", show(cases[i].s));
                if (cases[i].r == GV_OK)
                        check(r == GV_OK && ms == cases[i].ms, name,
                              "got %s / %" PRId64 ", want %" PRId64, gv_strerror(r), ms,
                              cases[i].ms);
                else
                        check(r == cases[i].r && ms == 777, name,
                              "got %s / %" PRId64 ", want %s and the output untouched",
                              gv_strerror(r), ms, gv_strerror(cases[i].r));
        }
        {
                int64_t ms = 777;

                check(gv_parse_date(NULL, &ms) == GV_EPARSE && ms == 777, "parse_date NULL",
                      "accepted");
        }
        /* Round trip through the formatter. */
        {
                int64_t ms = 0;
                char out[11] = "";
                enum gv_err r = gv_parse_date("2038-01-19", &ms);

                if (r == GV_OK)
                        gv_fmt_date(ms, out);
                check(r == GV_OK && strcmp(out, "2038-01-19") == 0, "parse_date round trip",
                      "got %s \"%s\"", gv_strerror(r), out);
        }
}

static void test_parse_hms(void)
{
        static const struct {
                const char *s;
                enum gv_err r;
                int64_t ms;
        } cases[] = {
                { "13:00:44", GV_OK, 46844000 },
                { "00:00:00", GV_OK, 0 },
                { "23:59:59", GV_OK, 86399000 },
                { "09:05:01", GV_OK, 32701000 },
                { "", GV_EPARSE, 0 },
                { "24:00:00", GV_EPARSE, 0 },
                { "12:60:00", GV_EPARSE, 0 },
                { "12:00:61", GV_EPARSE, 0 },
                { "1:00:00", GV_EPARSE, 0 },
                { "12:0:00", GV_EPARSE, 0 },
                { "12-00-00", GV_EPARSE, 0 },
                { "12:00", GV_EPARSE, 0 },
                { "ab:cd:ef", GV_EPARSE, 0 },
                { " 1:00:00", GV_EPARSE, 0 },
                { "-1:00:00", GV_EPARSE, 0 },
        };
        char name[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t ms = 777;
                enum gv_err r = gv_parse_hms(cases[i].s, &ms);

                snprintf(name, sizeof(name), "parse_hms \"%s\"", show(cases[i].s));
                if (cases[i].r == GV_OK)
                        check(r == GV_OK && ms == cases[i].ms, name,
                              "got %s / %" PRId64 ", want %" PRId64, gv_strerror(r), ms,
                              cases[i].ms);
                else
                        check(r == cases[i].r && ms == 777, name,
                              "got %s / %" PRId64 ", want %s and the output untouched",
                              gv_strerror(r), ms, gv_strerror(cases[i].r));
        }
}

/* ---- gv_buf ---- */

static void test_buf(void)
{
        struct gv_buf b;
        enum gv_err r;
        char *s = NULL;

        gv_buf_init(&b, 5);
        check(b.p == NULL && b.len == 0 && b.max == 5 && strcmp(gv_buf_str(&b), "") == 0,
              "buf init: empty, str \"\"", "p %p len %zu max %zu", (void *)b.p, b.len, b.max);

        r = gv_buf_add(&b, "abcdef", 6);
        check(r == GV_ETOOBIG && b.len == 0 && strcmp(gv_buf_str(&b), "") == 0,
              "buf add over the limit when empty", "got %s len %zu", gv_strerror(r), b.len);

        r = gv_buf_adds(&b, "hello");
        check(r == GV_OK && b.len == 5 && strcmp(gv_buf_str(&b), "hello") == 0,
              "buf adds up to the limit", "got %s \"%s\"", gv_strerror(r), show(gv_buf_str(&b)));

        r = gv_buf_addc(&b, 'x');
        check(r == GV_ETOOBIG && b.len == 5 && strcmp(gv_buf_str(&b), "hello") == 0,
              "buf addc over the limit leaves it unchanged", "got %s \"%s\"", gv_strerror(r),
              show(gv_buf_str(&b)));

        r = gv_buf_printf(&b, "%d", 7);
        check(r == GV_ETOOBIG && b.len == 5 && strcmp(gv_buf_str(&b), "hello") == 0,
              "buf printf over the limit leaves it unchanged", "got %s \"%s\"", gv_strerror(r),
              show(gv_buf_str(&b)));

        r = gv_buf_add(&b, "", 0);
        check(r == GV_OK && b.len == 5, "buf add 0 bytes at the limit", "got %s", gv_strerror(r));

        gv_buf_reset(&b);
        check(b.len == 0 && strcmp(gv_buf_str(&b), "") == 0 && b.max == 5, "buf reset",
              "len %zu \"%s\"", b.len, show(gv_buf_str(&b)));
        gv_buf_free(&b);
        check(b.p == NULL && b.len == 0, "buf free", "p %p len %zu", (void *)b.p, b.len);

        /* printf */
        gv_buf_init(&b, 64);
        r = gv_buf_printf(&b, "%d-%s", 42, "x");
        if (r == GV_OK)
                r = gv_buf_printf(&b, "/%05.1f/%c", 3.14159, 'z');
        check(r == GV_OK && strcmp(gv_buf_str(&b), "42-x/003.1/z") == 0 && b.len == 12,
              "buf printf appends", "got %s \"%s\" len %zu", gv_strerror(r), show(gv_buf_str(&b)),
              b.len);
        r = gv_buf_printf(&b, "%s", "");
        check(r == GV_OK && b.len == 12, "buf printf empty", "got %s len %zu", gv_strerror(r), b.len);
        gv_buf_free(&b);

        gv_buf_init(&b, 10);
        r = gv_buf_adds(&b, "abc");
        if (r == GV_OK)
                r = gv_buf_printf(&b, "%s", "1234567");
        check(r == GV_OK && strcmp(gv_buf_str(&b), "abc1234567") == 0,
              "buf printf exactly to the limit", "got %s \"%s\"", gv_strerror(r),
              show(gv_buf_str(&b)));
        gv_buf_reset(&b);
        r = gv_buf_adds(&b, "abc");
        if (r == GV_OK)
                r = gv_buf_printf(&b, "%s", "12345678");
        check(r == GV_ETOOBIG && strcmp(gv_buf_str(&b), "abc") == 0 && b.len == 3,
              "buf printf one over the limit", "got %s \"%s\"", gv_strerror(r),
              show(gv_buf_str(&b)));
        gv_buf_free(&b);

        /* Embedded NUL bytes count and the buffer stays terminated. */
        gv_buf_init(&b, 16);
        r = gv_buf_add(&b, "a\0b", 3);
        check(r == GV_OK && b.len == 3 && b.p && b.p[0] == 'a' && b.p[1] == '\0' &&
              b.p[2] == 'b' && b.p[3] == '\0', "buf add with NUL inside", "got %s len %zu",
              gv_strerror(r), b.len);
        gv_buf_free(&b);

        /* Growth across many reallocations. */
        gv_buf_init(&b, 1000);
        r = GV_OK;
        for (size_t i = 0; i < 1000 && r == GV_OK; i++)
                r = gv_buf_addc(&b, (char)('a' + i % 26));
        {
                bool same = r == GV_OK && b.len == 1000 && b.p && b.p[1000] == '\0';

                for (size_t i = 0; same && i < 1000; i++)
                        same = b.p[i] == (char)('a' + i % 26);
                check(same, "buf grows to 1000 bytes intact", "got %s len %zu", gv_strerror(r),
                      b.len);
        }
        r = gv_buf_addc(&b, 'x');
        check(r == GV_ETOOBIG && b.len == 1000 && b.p[999] == (char)('a' + 999 % 26),
              "buf 1001st byte refused", "got %s len %zu", gv_strerror(r), b.len);
        gv_buf_free(&b);

        /* A zero limit takes nothing but the empty string. */
        gv_buf_init(&b, 0);
        r = gv_buf_adds(&b, "");
        check(r == GV_OK && strcmp(gv_buf_str(&b), "") == 0, "buf max 0 takes \"\"", "got %s",
              gv_strerror(r));
        r = gv_buf_addc(&b, 'a');
        check(r == GV_ETOOBIG && b.len == 0, "buf max 0 refuses a byte", "got %s",
              gv_strerror(r));
        gv_buf_free(&b);

        /* steal */
        gv_buf_init(&b, 64);
        r = gv_buf_steal(&b, &s);
        check(r == GV_OK && s && strcmp(s, "") == 0 && b.p == NULL && b.len == 0,
              "buf steal empty gives \"\"", "got %s %s", gv_strerror(r), s ? "non-NULL" : "NULL");
        free(s);
        s = NULL;
        r = gv_buf_adds(&b, "stolen");
        if (r == GV_OK)
                r = gv_buf_steal(&b, &s);
        check(r == GV_OK && s && strcmp(s, "stolen") == 0 && b.p == NULL && b.len == 0 &&
              b.cap == 0 && b.max == 64, "buf steal hands over the string",
              "got %s \"%s\" p %p len %zu", gv_strerror(r), show(s), (void *)b.p, b.len);
        r = gv_buf_adds(&b, "again");
        check(r == GV_OK && strcmp(gv_buf_str(&b), "again") == 0 && s && strcmp(s, "stolen") == 0,
              "buf reusable after steal", "got %s \"%s\"", gv_strerror(r), show(gv_buf_str(&b)));
        free(s);
        gv_buf_free(&b);

        {
                struct gv_buf c = GV_BUF_INIT(3);

                check(c.p == NULL && c.len == 0 && c.cap == 0 && c.max == 3, "GV_BUF_INIT",
                      "fields wrong");
                r = gv_buf_adds(&c, "abcd");
                check(r == GV_ETOOBIG && c.len == 0, "GV_BUF_INIT limit holds", "got %s",
                      gv_strerror(r));
                gv_buf_free(&c);
        }
}

/* FIPS 180-4 vectors and the padding edges (55, 56, 64 bytes). */
static void test_sha256(void)
{
        static const char *const inputs[] = {
                "", "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        };
        static const struct {
                size_t len;
                const char *hex;
        } want[] = {
        { 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { 56, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        { 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
        { 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
        { 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
        { 1000, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3" },
        };
        char buf[1000], hex[2 * GV_SHA256_LEN + 1];

        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                const char *in = buf;

                if (i < sizeof(inputs) / sizeof(inputs[0]))
                        in = inputs[i];
                else
                        memset(buf, 'a', want[i].len);
                gv_sha256_hex(in, want[i].len, hex);
                check(strcmp(hex, want[i].hex) == 0, "sha256", "case %zu: got %s", i, hex);
        }
}

int main(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        test_parse_u64();
        test_parse_un();
        test_utf8_valid();
        test_utf8_clean();
        test_html_escape();
        test_md_escape();
        test_echo();
        test_ieq();
        test_fmt_times();
        test_parse_date();
        test_parse_hms();
        test_buf();
        test_sha256();
        return check_finish();
}
