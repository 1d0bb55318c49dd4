/* handlers/meetbot_wrap.c - the small pure pieces of MeetBot's layouts (see
 * meetbot.h): Python 2 textwrap's fill() as MeetBot calls it, and the file
 * name / link patterns with MeetBot's {channel} and {meetingname}. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meetbot.h"

#define WIDTH 72
#define FIELD_MAX 256

/* Python 2's \s (re without UNICODE) and textwrap's whitespace */
static bool ws(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The end of the chunk at p: a run of whitespace or a run of anything else. */
static const char *chunk_end(const char *p)
{
        bool w0 = ws(*p);

        while (*p && ws(*p) == w0)
                p++;
        return p;
}

/* chunk_end(p), and the characters (not continuation bytes) up to it:
 * after the expansion the only whitespace is ' ' */
static const char *chunk_end_chars(const char *p, size_t *n)
{
        size_t c = 0;

        if (*p == ' ') {
                const char *b = p;

                while (*p == ' ')
                        p++;
                *n = (size_t)(p - b);
                return p;
        }
        for (; *p && *p != ' '; p++)
                c += ((unsigned char)*p & 0xc0) != 0x80;
        *n = c;
        return p;
}

enum gv_err gv_meetbot_wrap(struct gv_buf *out, const char *s, size_t indent, size_t sub_indent)
{
        static const char spaces[WIDTH] = "                                        "
                                          "                                ";
        size_t col = 0, start = out->len, n = strlen(s), tabs = 0, k = 0;
        bool first = true;
        enum gv_err r = GV_OK;
        const char *p;
        char *m;

        if (!s[strcspn(s, "\t\n\v\f\r")]) {
                /* only spaces: nothing to expand (most items) */
                m = NULL;
                k = n;
                goto wrap;
        }
        for (p = memchr(s, '\t', n); p; p = memchr(p + 1, '\t', n - (size_t)(p + 1 - s)))
                tabs++;
        m = malloc(n + 7 * tabs + 1);
        if (!m)
                return GV_ENOMEM;
        /* expandtabs(), then every whitespace character is a space */
        for (p = s; *p; p++) {
                if (*p == '\t') {
                        do
                                m[k++] = ' ';
                        while (++col % 8);
                        continue;
                }
                if (*p == '\n' || *p == '\r')
                        col = 0;
                else if (((unsigned char)*p & 0xc0) != 0x80)
                        col++;
                m[k++] = ws(*p) ? ' ' : *p;
        }
        m[k] = '\0';
wrap:
        if (k > out->max) {             /* the expanded text has the output's ceiling */
                free(m);
                return GV_ETOOBIG;
        }
        p = m ? m : s;
        while (r == GV_OK && *p) {
                size_t ind = first ? indent : sub_indent;
                size_t width = WIDTH > ind ? WIDTH - ind : 1, len = 0;
                const char *b, *e, *last = NULL;

                if (!first && *p == ' ')
                        p = chunk_end(p);       /* a line never starts with blanks */
                if (!*p)
                        break;
                b = e = p;
                while (*e) {
                        size_t cl;
                        const char *ce = chunk_end_chars(e, &cl);

                        if (len + cl > width)
                                break;
                        len += cl;
                        last = e;
                        e = ce;
                }
                if (e == b) {           /* a word longer than the line: alone */
                        last = e;
                        e = chunk_end(e);
                }
                p = e;
                if (*last == ' ')       /* nor ends with them */
                        e = last;
                if (e == b)
                        continue;
                if (!first)
                        r = gv_buf_addc(out, '\n');
                for (size_t i = 0; i < ind && r == GV_OK; i += WIDTH)
                        r = gv_buf_add(out, spaces, ind - i < WIDTH ? ind - i : WIDTH);
                if (r == GV_OK)
                        r = gv_buf_add(out, b, (size_t)(e - b));
                first = false;
        }
        free(m);
        if (r != GV_OK && out->p) {
                out->len = start;
                out->p[start] = '\0';
        }
        return r;
}

static void lower_into(const char *s, size_t n, char *out, size_t *k, size_t cap)
{
        for (size_t i = 0; i < n && *k + 1 < cap; i++) {
                char c = s[i];

                out[(*k)++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
}

void gv_meetbot_channel_field(const char *channel, char *out, size_t cap)
{
        const char *b = channel ? channel : "";
        size_t n, k = 0;

        while (*b == '#' || *b == ' ')
                b++;
        n = strlen(b);
        while (n && (b[n - 1] == '#' || b[n - 1] == ' '))
                n--;
        for (size_t i = 0; i < n && k + 1 < cap; i++)
                if (b[i] != '/')
                        lower_into(b + i, 1, out, &k, cap);
        out[k] = '\0';
}

void gv_meetbot_name_field(const char *name, char *out, size_t cap)
{
        const char *p = name ? name : "";
        size_t k = 0;

        while (*p && k + 1 < cap) {
                size_t n;

                while (ws(*p))
                        p++;
                for (n = 0; p[n] && !ws(p[n]); n++)
                        ;
                if (n == 0)
                        break;
                if (k > 0 && k + 1 < cap)
                        out[k++] = '_';
                for (size_t i = 0; i < n; i++)
                        if (p[i] != '/')
                                lower_into(p + i, 1, out, &k, cap);
                p += n;
        }
        out[k] = '\0';
}

static void add_str(char *out, size_t *k, size_t cap, const char *s)
{
        for (; *s && *k + 1 < cap; s++)
                out[(*k)++] = *s;
}

static void add_num(char *out, size_t *k, size_t cap, unsigned v, int digits)
{
        char d[8];

        for (int i = digits - 1; i >= 0; i--) {
                d[i] = (char)('0' + v % 10);
                v /= 10;
        }
        d[digits] = '\0';
        add_str(out, k, cap, d);
}

void gv_meetbot_pattern(const char *pattern, const char *channel, const char *meetingname,
                        int64_t started, bool file_safe, char *out, size_t cap)
{
        time_t t = (time_t)(started / 1000 - (started % 1000 < 0));
        struct tm tm;
        size_t k = 0, from;
        const char *p;

        if (cap == 0)
                return;
        memset(&tm, 0, sizeof(tm));
        gmtime_r(&t, &tm);
        for (p = pattern ? pattern : ""; *p && k + 1 < cap; p++) {
                from = k;
                if (strncmp(p, "{channel}", 9) == 0) {
                        add_str(out, &k, cap, channel);
                        p += 8;
                } else if (strncmp(p, "{meetingname}", 13) == 0) {
                        add_str(out, &k, cap, meetingname);
                        p += 12;
                } else if (*p == '%' && p[1]) {
                        switch (p[1]) {
                        case 'Y': add_num(out, &k, cap, (unsigned)(tm.tm_year + 1900) % 10000u, 4); break;
                        case 'm': add_num(out, &k, cap, (unsigned)tm.tm_mon + 1, 2); break;
                        case 'd': add_num(out, &k, cap, (unsigned)tm.tm_mday, 2); break;
                        case 'H': add_num(out, &k, cap, (unsigned)tm.tm_hour, 2); break;
                        case 'M': add_num(out, &k, cap, (unsigned)tm.tm_min, 2); break;
                        case 'S': add_num(out, &k, cap, (unsigned)tm.tm_sec, 2); break;
                        case 'F':
                                add_num(out, &k, cap, (unsigned)(tm.tm_year + 1900) % 10000u, 4);
                                add_str(out, &k, cap, "-");
                                add_num(out, &k, cap, (unsigned)tm.tm_mon + 1, 2);
                                add_str(out, &k, cap, "-");
                                add_num(out, &k, cap, (unsigned)tm.tm_mday, 2);
                                break;
                        case '%': add_str(out, &k, cap, "%"); break;
                        default: add_str(out, &k, cap, "%"); p--; break;
                        }
                        p++;
                } else {
                        out[k++] = *p;
                }
                if (!file_safe)
                        continue;
                for (size_t i = from; i < k; i++) {
                        char c = out[i];

                        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
                                out[i] = '_';
                }
        }
        out[k] = '\0';
}

void gv_meetbot_fields(const struct gv_config *cfg, const struct gv_meeting *m, const char *title,
                       char cf[FIELD_MAX], char nf[FIELD_MAX])
{
        const char *label = cfg && cfg->meeting_label ? cfg->meeting_label : "Meeting";

        gv_meetbot_channel_field(cfg && cfg->channel ? cfg->channel : "#meeting", cf, FIELD_MAX);
        if (title && !*title && m->name && strcmp(m->name, label) == 0)
                memcpy(nf, cf, strlen(cf) + 1);
        else
                gv_meetbot_name_field(m->name, nf, FIELD_MAX);
}

