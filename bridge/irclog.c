/* bridge/irclog.c - see irclog.h
 *
 * Memory: the cleaned nick and text of every line go, NUL-terminated, into one
 * growing arena; the lines live in one growing array. While parsing, the arena
 * may move, so a line holds offsets into it; once the arena is final each slot
 * is rewritten in place as the public struct gv_irc_line. A parse therefore
 * costs a handful of reallocs whatever the number of lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "irclog.h"
#include "../util/buf.h"
#include "../util/text.h"

#define NICK_MAX 64
#define DAY_MS (24LL * 3600 * 1000)
/* Cleaning turns one bad byte into three (U+FFFD) and adds two NULs per line
 * of at least twelve bytes, so the arena never needs more than this. */
#define ARENA_MAX ((size_t)GV_IRCLOG_MAX_BYTES * 4)
#define LINES_MIN 256

struct rec {
        int64_t ms;
        size_t nick;            /* offsets into the arena */
        size_t text;
        bool action;
};

union slot {
        struct rec r;           /* while parsing */
        struct gv_irc_line l;   /* once the arena is final */
};

struct gv_irclog {
        struct gv_buf arena;
        union slot *lines;
        size_t n;
        size_t cap;
        size_t skipped;
        int64_t date;
};

struct parser {
        struct gv_irclog *log;
        struct gv_buf line;     /* HTML: the decoded line being built */
        bool overlong;          /* HTML: the line went over GV_IRCLOG_MAX_LINE */
        bool seen;              /* a line was parsed: prev is valid */
        int64_t prev;           /* time of day of the previous line */
        int64_t day;            /* ms added by rollovers so far */
};

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* Nicks are printable and contain no spaces; anything >= 0x80 is left to
 * gv_utf8_clean. */
static bool nick_byte(char c)
{
        unsigned char u = (unsigned char)c;

        return u > 0x20 && u != 0x7f;
}

static bool mode_prefix(char c)
{
        return c == '@' || c == '+' || c == '%' || c == '~' || c == '&';
}

/* Index of the three-letter word at s (followed by a space) in tab, or -1. */
static int word3(const char *s, const char *const *tab, int n)
{
        int i;

        for (i = 0; i < n; i++)
                if (strncmp(s, tab[i], 3) == 0 && s[3] == ' ')
                        return i;
        return -1;
}

/* s holds at least n bytes before its NUL. */
static bool has_bytes(const char *s, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++)
                if (s[i] == '\0')
                        return false;
        return true;
}

static bool leap(uint64_t y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "Meeting started Mon May  8 13:00:44 2017 UTC." -> 2017-05-08 00:00 UTC in
 * ms since the epoch; -1 when s is not such a line. */
static int64_t meeting_date(const char *s)
{
        static const char pre[] = "Meeting started ";
        static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        char ymd[11], hms[9];
        int mon;
        size_t dl;
        uint64_t day, year;
        int64_t ms, tod;

        if (strncmp(s, pre, sizeof(pre) - 1) != 0)
                return -1;
        s += sizeof(pre) - 1;
        if (word3(s, wdays, 7) < 0)
                return -1;
        s += 4;
        mon = word3(s, months, 12);
        if (mon < 0)
                return -1;
        s += 4;
        if (*s == ' ')          /* ctime pads single-digit days */
                s++;
        for (dl = 0; dl < 2 && is_digit(s[dl]); dl++)
                ;
        if (dl == 0 || s[dl] != ' ' || gv_parse_un(s, dl, 31, &day) != GV_OK || day == 0)
                return -1;
        s += dl + 1;
        if (!has_bytes(s, 8) || s[8] != ' ')
                return -1;
        memcpy(hms, s, 8);
        hms[8] = '\0';
        if (gv_parse_hms(hms, &tod) != GV_OK)
                return -1;
        s += 9;
        if (!has_bytes(s, 4) || s[4] != ' ' || gv_parse_un(s, 4, 9999, &year) != GV_OK)
                return -1;
        if (strncmp(s + 5, "UTC", 3) != 0 || (s[8] != '.' && s[8] != ' ' && s[8] != '\0'))
                return -1;
        if (day > mdays[mon] || (mon == 1 && day == 29 && !leap(year)))
                return -1;
        memcpy(ymd, s, 4);
        ymd[4] = '-';
        ymd[5] = (char)('0' + (mon + 1) / 10);
        ymd[6] = (char)('0' + (mon + 1) % 10);
        ymd[7] = '-';
        ymd[8] = (char)('0' + day / 10);
        ymd[9] = (char)('0' + day % 10);
        ymd[10] = '\0';
        if (gv_parse_date(ymd, &ms) != GV_OK)
                return -1;
        return ms;
}

/* Appends s[0..n) cleaned, then a NUL. Printable ASCII, the common case, is
 * copied in one go; anything else goes through gv_utf8_clean. */
static enum gv_err add_str(struct gv_buf *b, const char *s, size_t n)
{
        enum gv_err r;
        size_t i;

        for (i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c < 0x20 || c > 0x7e)
                        break;
        }
        r = gv_buf_add(b, s, i);
        if (r == GV_OK && i < n)
                r = gv_utf8_clean(b, s + i, n - i);
        if (r == GV_OK)
                r = gv_buf_addc(b, '\0');
        return r;
}

static enum gv_err add_line(struct parser *ps, int64_t tod, bool action, const char *nick,
                            size_t nick_len, const char *text, size_t text_len)
{
        struct gv_irclog *l = ps->log;
        struct rec *rec;
        size_t nick_off, text_off;
        enum gv_err r;

        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : LINES_MIN;
                union slot *s;

                if (cap > SIZE_MAX / sizeof(*s))
                        return GV_ENOMEM;
                s = realloc(l->lines, cap * sizeof(*s));
                if (!s)
                        return GV_ENOMEM;
                l->lines = s;
                l->cap = cap;
        }
        nick_off = l->arena.len;
        r = add_str(&l->arena, nick, nick_len);
        text_off = l->arena.len;
        if (r == GV_OK)
                r = add_str(&l->arena, text, text_len);
        if (r != GV_OK)
                return r;

        /* Midnight when the clock goes back by more than an hour; a line a
         * little out of order (a clock step, a bouncer's replay) keeps its
         * day and takes the previous line's time: times never go back. */
        if (ps->seen && ps->prev - tod > 3600 * 1000)
                ps->day += DAY_MS;
        ps->prev = tod;
        ps->seen = true;

        rec = &l->lines[l->n++].r;
        rec->ms = tod + ps->day;
        if (l->n > 1 && rec->ms < l->lines[l->n - 2].r.ms)
                rec->ms = l->lines[l->n - 2].r.ms;
        rec->nick = nick_off;
        rec->text = text_off;
        rec->action = action;
        if (l->date < 0)
                l->date = meeting_date(l->arena.p + text_off);
        return GV_OK;
}

/* "HH:MM:SS" or "[HH:MM:SS]" at p; *used is the length consumed. */
static bool parse_time(const char *p, size_t n, size_t *used, int64_t *tod)
{
        char hms[9];
        size_t off = 0;
        bool bracket = n > 0 && p[0] == '[';

        if (bracket)
                off = 1;
        if (n < off + 8)
                return false;
        memcpy(hms, p + off, 8);
        hms[8] = '\0';
        if (gv_parse_hms(hms, tod) != GV_OK)
                return false;
        off += 8;
        if (bracket) {
                if (off >= n || p[off] != ']')
                        return false;
                off++;
        }
        *used = off;
        return true;
}

/* One logical line, not NUL-terminated, any bytes. A line that is blank is
 * ignored; one that does not parse is counted as skipped. */
static enum gv_err parse_line(struct parser *ps, const char *p, size_t n)
{
        size_t i, nick, nick_len;
        int64_t tod;
        bool action;

        while (n > 0 && is_space(p[n - 1]))
                n--;
        while (n > 0 && is_space(*p)) {
                p++;
                n--;
        }
        if (n == 0)
                return GV_OK;
        if (!parse_time(p, n, &i, &tod) || i >= n || p[i] != ' ')
                goto skip;
        while (i < n && p[i] == ' ')
                i++;
        if (i >= n)
                goto skip;
        if (p[i] == '<') {
                action = false;
                i++;
                if (i < n && mode_prefix(p[i]))
                        i++;
                nick = i;
                while (i < n && p[i] != '>' && nick_byte(p[i]))
                        i++;
                if (i >= n || p[i] != '>')
                        goto skip;
                nick_len = i - nick;
                i++;
        } else if (p[i] == '*') {
                action = true;
                i++;
                if (i >= n || p[i] != ' ')
                        goto skip;
                while (i < n && p[i] == ' ')
                        i++;
                if (i < n && mode_prefix(p[i]))
                        i++;
                nick = i;
                while (i < n && nick_byte(p[i]))
                        i++;
                nick_len = i - nick;
        } else {
                goto skip;
        }
        if (nick_len == 0 || nick_len > NICK_MAX)
                goto skip;
        if (i < n) {
                if (p[i] != ' ')
                        goto skip;
                i++;
        }
        return add_line(ps, tod, action, p + nick, nick_len, p + i, n - i);
skip:
        ps->log->skipped++;
        return GV_OK;
}

static enum gv_err parse_text(struct parser *ps, const char *d, size_t len)
{
        enum gv_err r = GV_OK;

        while (len > 0 && r == GV_OK) {
                const char *nl = memchr(d, '\n', len);
                size_t n = nl ? (size_t)(nl - d) : len;

                if (n > GV_IRCLOG_MAX_LINE)
                        ps->log->skipped++;
                else
                        r = parse_line(ps, d, n);
                if (!nl)
                        break;
                d = nl + 1;
                len -= n + 1;
        }
        return r;
}

/* HTML: appends decoded bytes to the current line; going over the line limit
 * marks the line as overlong instead of failing. */
static enum gv_err emit(struct parser *ps, const char *p, size_t n)
{
        enum gv_err r;

        if (ps->overlong || n == 0)
                return GV_OK;
        r = gv_buf_add(&ps->line, p, n);
        if (r == GV_ETOOBIG) {
                ps->overlong = true;
                r = GV_OK;
        }
        return r;
}

static enum gv_err flush(struct parser *ps)
{
        enum gv_err r = GV_OK;

        if (ps->overlong)
                ps->log->skipped++;
        else
                r = parse_line(ps, gv_buf_str(&ps->line), ps->line.len);
        gv_buf_reset(&ps->line);
        ps->overlong = false;
        return r;
}

static size_t utf8_put(uint32_t cp, char out[4])
{
        if (cp < 0x80) {
                out[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char)(0xc0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char)(0xe0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

static int hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* The entity at p (p[0] == '&', n bytes left): its length including the ';'
 * and its code point, or 0 when it is not one we know (the '&' is literal). */
static size_t entity(const char *p, size_t n, uint32_t *cp)
{
        static const struct {
                const char *name;
                uint32_t cp;
        } named[] = {
                { "lt", '<' }, { "gt", '>' }, { "amp", '&' }, { "quot", '"' },
                { "apos", '\'' }, { "nbsp", ' ' },
        };
        const char *semi;
        size_t len, i;
        uint64_t v = 0;

        semi = memchr(p, ';', n < 12 ? n : 12);
        if (!semi)
                return 0;
        len = (size_t)(semi - p) - 1;   /* between '&' and ';' */
        if (len >= 2 && p[1] == '#' && (p[2] == 'x' || p[2] == 'X')) {
                if (len < 3 || len > 8)
                        return 0;
                for (i = 3; i <= len; i++) {
                        int h = hex_digit(p[i]);

                        if (h < 0)
                                return 0;
                        v = v * 16 + (unsigned)h;
                }
        } else if (len >= 1 && p[1] == '#') {
                enum gv_err r = gv_parse_un(p + 2, len - 1, 0x10ffff, &v);

                if (r == GV_EPARSE)
                        return 0;
                if (r != GV_OK)
                        v = 0xfffd;
        } else {
                for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
                        if (strlen(named[i].name) == len && memcmp(p + 1, named[i].name, len) == 0)
                                break;
                if (i == sizeof(named) / sizeof(named[0]))
                        return 0;
                v = named[i].cp;
        }
        if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                v = 0xfffd;
        else if (v < 0x20 || v == 0x7f)
                v = ' ';        /* a decoded newline must not split the line */
        *cp = (uint32_t)v;
        return len + 2;
}

/* "<br>", "<BR/>", "<br class=x>": tag is what lies between '<' and '>'. */
static bool is_br(const char *tag, size_t n)
{
        if (n < 2 || (tag[0] != 'b' && tag[0] != 'B') || (tag[1] != 'r' && tag[1] != 'R'))
                return false;
        return n == 2 || tag[2] == ' ' || tag[2] == '\t' || tag[2] == '/';
}

/* One pass over the document: lines end at '\n' and at <br>; other tags are
 * dropped; a '<' with no '>' before the end of its line is literal text.
 * gt and nl cache the next '>' and '\n' so the pass stays linear. */
static enum gv_err parse_html(struct parser *ps, const char *d, size_t len)
{
        size_t i = 0, run = 0, gt = 0, nl = 0;
        bool have_gt = false, have_nl = false;
        enum gv_err r = GV_OK;

        while (i < len && r == GV_OK) {
                char c = d[i];

                if (c != '\n' && c != '<' && c != '&') {
                        i++;
                        continue;
                }
                r = emit(ps, d + run, i - run);
                if (r != GV_OK)
                        break;
                if (c == '\n') {
                        r = flush(ps);
                        i++;
                } else if (c == '<') {
                        const char *q;

                        if (!have_gt || gt < i) {
                                q = memchr(d + i, '>', len - i);
                                gt = q ? (size_t)(q - d) : len;
                                have_gt = true;
                        }
                        if (!have_nl || nl < i) {
                                q = memchr(d + i, '\n', len - i);
                                nl = q ? (size_t)(q - d) : len;
                                have_nl = true;
                        }
                        if (gt < nl) {
                                if (is_br(d + i + 1, gt - i - 1))
                                        r = flush(ps);
                                i = gt + 1;
                        } else {
                                r = emit(ps, "<", 1);
                                i++;
                        }
                } else {
                        uint32_t cp;
                        size_t el = entity(d + i, len - i, &cp);

                        if (el) {
                                char u[4];

                                r = emit(ps, u, utf8_put(cp, u));
                                i += el;
                        } else {
                                r = emit(ps, "&", 1);
                                i++;
                        }
                }
                run = i;
        }
        if (r == GV_OK)
                r = emit(ps, d + run, i - run);
        if (r == GV_OK)
                r = flush(ps);
        return r;
}

static bool contains(const char *d, size_t len, const char *needle)
{
        size_t nlen = strlen(needle);
        const char *p = d, *end = d + len;

        while ((size_t)(end - p) >= nlen) {
                p = memchr(p, needle[0], (size_t)(end - p) - nlen + 1);
                if (!p)
                        return false;
                if (memcmp(p, needle, nlen) == 0)
                        return true;
                p++;
        }
        return false;
}

static void finish(struct gv_irclog *l)
{
        size_t i;

        for (i = 0; i < l->n; i++) {
                struct rec rec = l->lines[i].r;

                l->lines[i].l = (struct gv_irc_line){
                        .ms = rec.ms,
                        .nick = l->arena.p + rec.nick,
                        .text = l->arena.p + rec.text,
                        .action = rec.action,
                };
        }
}

enum gv_err gv_irclog_parse(const char *data, size_t len, struct gv_irclog **ret)
{
        struct parser ps = { 0 };
        struct gv_irclog *l = NULL;
        enum gv_err r;

        if (!ret || (!data && len > 0))
                return GV_EINVAL;
        if (len > GV_IRCLOG_MAX_BYTES)
                return GV_ETOOBIG;
        l = calloc(1, sizeof(*l));
        if (!l)
                return GV_ENOMEM;
        gv_buf_init(&l->arena, ARENA_MAX);
        l->date = -1;
        ps.log = l;
        gv_buf_init(&ps.line, GV_IRCLOG_MAX_LINE);

        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
                data += 3;
                len -= 3;
        }
        if (len > 0 && (data[0] == '<' || contains(data, len, "<tt class=\"tm\">")))
                r = parse_html(&ps, data, len);
        else
                r = parse_text(&ps, data, len);
        if (r != GV_OK)
                goto out;
        finish(l);
        *ret = l;
        l = NULL;
out:
        gv_buf_free(&ps.line);
        gv_irclog_free(l);
        return r;
}

size_t gv_irclog_count(const struct gv_irclog *l)
{
        return l ? l->n : 0;
}

const struct gv_irc_line *gv_irclog_line(const struct gv_irclog *l, size_t i)
{
        if (!l || i >= l->n)
                return NULL;
        return &l->lines[i].l;
}

size_t gv_irclog_skipped(const struct gv_irclog *l)
{
        return l ? l->skipped : 0;
}

int64_t gv_irclog_date(const struct gv_irclog *l)
{
        return l ? l->date : -1;
}

struct gv_irclog *gv_irclog_free(struct gv_irclog *l)
{
        if (!l)
                return NULL;
        gv_buf_free(&l->arena);
        free(l->lines);
        free(l);
        return NULL;
}
