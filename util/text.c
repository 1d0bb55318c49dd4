/* util/text.c - see text.h */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "text.h"

enum gv_err gv_parse_un(const char *s, size_t n, uint64_t max, uint64_t *out)
{
        uint64_t v = 0;
        size_t i;

        if (!s || n == 0 || n > 20)
                return GV_EPARSE;
        for (i = 0; i < n; i++) {
                unsigned d;

                if (s[i] < '0' || s[i] > '9')
                        return GV_EPARSE;
                d = (unsigned)(s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return GV_ETOOBIG;
                v = v * 10 + d;
        }
        if (v > max)
                return GV_ETOOBIG;
        *out = v;
        return GV_OK;
}

enum gv_err gv_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
        if (!s)
                return GV_EPARSE;
        return gv_parse_un(s, strlen(s), max, out);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
        unsigned c = s[0];
        size_t len, i;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                len = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                len = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                len = 4;
                cp = c & 0x07;
        } else {
                return 0;
        }
        if (n < len)
                return 0;
        for (i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        if (cp >= 0xd800 && cp <= 0xdfff)
                return 0;
        return len;
}

bool gv_utf8_valid(const char *s, size_t n)
{
        size_t i = 0;

        while (i < n) {
                size_t l = utf8_seq((const unsigned char *)s + i, n - i);

                if (!l)
                        return false;
                i += l;
        }
        return true;
}

enum gv_err gv_utf8_clean(struct gv_buf *b, const char *s, size_t n)
{
        static const char repl[] = "\xef\xbf\xbd";
        size_t i = 0;
        enum gv_err r = GV_OK;

        while (i < n && r == GV_OK) {
                unsigned char c = (unsigned char)s[i];
                size_t l, run = i;

                /* printable ASCII, the common case, is copied in one piece */
                while (run < n && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f)
                        run++;
                if (run > i) {
                        r = gv_buf_add(b, s + i, run - i);
                        i = run;
                        continue;
                }
                l = utf8_seq((const unsigned char *)s + i, n - i);

                if (c == 0 || l == 0) {
                        r = gv_buf_add(b, repl, 3);
                        i++;
                } else if (c < 0x20 && c != '\n' && c != '\t') {
                        r = gv_buf_addc(b, ' ');
                        i++;
                } else if (c == 0x7f) {
                        r = gv_buf_addc(b, ' ');
                        i++;
                } else {
                        r = gv_buf_add(b, s + i, l);
                        i += l;
                }
        }
        return r;
}

enum gv_err gv_html_escape(struct gv_buf *b, const char *s)
{
        enum gv_err r = GV_OK;
        const char *run = s;

        for (; *s && r == GV_OK; s++) {
                const char *e = NULL;

                switch (*s) {
                case '&': e = "&amp;"; break;
                case '<': e = "&lt;"; break;
                case '>': e = "&gt;"; break;
                case '"': e = "&quot;"; break;
                case '\'': e = "&#39;"; break;
                default: continue;
                }
                r = gv_buf_add(b, run, (size_t)(s - run));
                if (r == GV_OK)
                        r = gv_buf_adds(b, e);
                run = s + 1;
        }
        if (r == GV_OK)
                r = gv_buf_add(b, run, strlen(run));
        return r;
}

enum gv_err gv_md_escape(struct gv_buf *b, const char *s)
{
        enum gv_err r = GV_OK;

        const char *start = s;

        for (; *s && r == GV_OK; s++) {
                /* inline markup anywhere; block markup only where a line starts */
                if (strchr("\\`*_[]<>~&", *s) || (s == start && strchr("#+-=>|", *s)))
                        r = gv_buf_addc(b, '\\');
                if (r == GV_OK)
                        r = gv_buf_addc(b, (*s == '\n' || *s == '\r') ? ' ' : *s);
        }
        return r;
}

enum gv_err gv_echo(struct gv_buf *b, const char *s, size_t max)
{
        size_t n = strlen(s), i;
        bool cut = false;
        enum gv_err r = GV_OK;

        if (n > max) {
                n = max;
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                        n--;
                cut = true;
        }
        for (i = 0; i < n && r == GV_OK; i++)
                r = gv_buf_addc(b, (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i]);
        if (cut && r == GV_OK)
                r = gv_buf_adds(b, "...");
        return r;
}

static int lower(int c)
{
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

bool gv_ieq(const char *a, const char *b)
{
        if (!a || !b)
                return false;
        while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) {
                a++;
                b++;
        }
        return *a == *b;
}

bool gv_iprefix(const char *s, const char *prefix)
{
        if (!s || !prefix)
                return false;
        for (; *prefix; s++, prefix++)
                if (!*s || lower((unsigned char)*s) != lower((unsigned char)*prefix))
                        return false;
        return true;
}

static void to_tm(int64_t ms, struct tm *tm)
{
        time_t t = (time_t)(ms / 1000);

        if (!gmtime_r(&t, tm))
                memset(tm, 0, sizeof(*tm));
}

void gv_fmt_hms(int64_t ms, char out[9])
{
        /* a log's every line has one: the second of the day, as gmtime_r()
         * has it, without gmtime_r() and snprintf() */
        int64_t t = ms / 1000, sod;
        unsigned v[3];

        if (t > (INT64_C(1) << 55) || t < -(INT64_C(1) << 55)) {
                struct tm tm;

                to_tm(ms, &tm);
                v[0] = (unsigned)tm.tm_hour % 100u;
                v[1] = (unsigned)tm.tm_min % 100u;
                v[2] = (unsigned)tm.tm_sec % 100u;
        } else {
                sod = t % 86400;
                if (sod < 0)
                        sod += 86400;
                v[0] = (unsigned)(sod / 3600);
                v[1] = (unsigned)(sod / 60 % 60);
                v[2] = (unsigned)(sod % 60);
        }
        for (int i = 0; i < 3; i++) {
                out[3 * i] = (char)('0' + v[i] / 10);
                out[3 * i + 1] = (char)('0' + v[i] % 10);
                out[3 * i + 2] = i < 2 ? ':' : '\0';
        }
}

void gv_fmt_date(int64_t ms, char out[11])
{
        struct tm tm;

        to_tm(ms, &tm);
        snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
                 (unsigned)tm.tm_mday % 100u);
}

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

void gv_fmt_human_date(int64_t ms, char out[16])
{
        struct tm tm;

        to_tm(ms, &tm);
        snprintf(out, 16, "%u %s %04u", (unsigned)tm.tm_mday % 100u, months[(unsigned)tm.tm_mon % 12u],
                 (unsigned)(tm.tm_year + 1900) % 10000u);
}

void gv_fmt_stamp(int64_t ms, char out[17])
{
        struct tm tm;

        to_tm(ms, &tm);
        snprintf(out, 17, "%04u-%02u-%02u-%02u.%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
                 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u);
}

void gv_fmt_ctime(int64_t ms, char out[32])
{
        struct tm tm;

        to_tm(ms, &tm);
        snprintf(out, 32, "%s %s %2u %02u:%02u:%02u %04u", wdays[(unsigned)tm.tm_wday % 7u],
                 months[(unsigned)tm.tm_mon % 12u], (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
                 (unsigned)tm.tm_sec % 100u, (unsigned)(tm.tm_year + 1900) % 10000u);
}

/* Days from civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned)(y - era * 400);
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

enum gv_err gv_parse_date(const char *s, int64_t *ms_out)
{
        uint64_t y, m, d;

        if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return GV_EPARSE;
        if (gv_parse_un(s, 4, 9999, &y) || gv_parse_un(s + 5, 2, 12, &m) ||
            gv_parse_un(s + 8, 2, 31, &d) || m == 0 || d == 0 || y < 1970)
                return GV_EPARSE;
        {
                static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
                bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

                if (d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
                        return GV_EPARSE;
        }
        *ms_out = days_from_civil((int64_t)y, (unsigned)m, (unsigned)d) * 86400000LL;
        return GV_OK;
}

enum gv_err gv_parse_hms(const char *s, int64_t *ms_out)
{
        uint64_t h, m, sec;

        if (!s || strlen(s) != 8 || s[2] != ':' || s[5] != ':')
                return GV_EPARSE;
        if (gv_parse_un(s, 2, 23, &h) || gv_parse_un(s + 3, 2, 59, &m) ||
            gv_parse_un(s + 6, 2, 59, &sec))
                return GV_EPARSE;
        *ms_out = (int64_t)((h * 3600 + m * 60 + sec) * 1000);
        return GV_OK;
}
