/* handlers/writer.h - the renderers' writer: appends to a buffer and keeps
 * the first error, so a rendering is a run of put()s checked once at the
 * end. Shared by minutes.c (the room's minutes), meetbot.c (MeetBot's file
 * layouts) and wiki.c (wiki flavours); private to handlers/. */
#ifndef GV_HANDLERS_WRITER_H
#define GV_HANDLERS_WRITER_H

#include <stdint.h>
#include <string.h>
#include "../util/buf.h"
#include "../util/text.h"

struct w {
        struct gv_buf *b;
        enum gv_err r;          /* the first error; later puts do nothing */
};

/* gv_buf_add() with its common case inline: it fits without growing
 * (the renderers add a few bytes at a time, millions of times). */
static inline void putn(struct w *w, const char *s, size_t n)
{
        struct gv_buf *b = w->b;

        if (w->r != GV_OK)
                return;
        if (n < b->cap - b->len && n <= b->max - b->len) {
                memcpy(b->p + b->len, s, n);
                b->len += n;
                b->p[b->len] = '\0';
                return;
        }
        w->r = gv_buf_add(b, s, n);
}

/* (a literal's length is known when this is inlined) */
static inline void put(struct w *w, const char *s)
{
        if (!s)
                s = "";
        putn(w, s, strlen(s));
}

static inline void put_u64(struct w *w, uint64_t v)
{
        char d[24];
        size_t i = sizeof(d);

        do {
                d[--i] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        putn(w, d + i, sizeof(d) - i);
}

static inline void put_hms(struct w *w, int64_t ms)
{
        char t[9];

        gv_fmt_hms(ms, t);
        put(w, t);
}

/* What was appended to b since `from` goes on one line: CR, LF and the
 * other C0 controls but tab, and DEL, become spaces (none occur inside UTF-8
 * sequences or in anything the escapers add). */
static inline void gv_one_line(struct gv_buf *b, size_t from)
{
        for (size_t i = from; i < b->len; i++) {
                unsigned char c = (unsigned char)b->p[i];

                if ((c < 0x20 && c != '\t') || c == 0x7f)
                        b->p[i] = ' ';
        }
}

/* What was appended to b since `from`, its lines joined: each line break,
 * with the blanks around it, becomes one space (an item whose text runs
 * over several lines, such as an !update, shown on one line); then
 * gv_one_line(). Text without a line break is left as it is. */
static inline void gv_join_lines(struct gv_buf *b, size_t from)
{
        size_t o = from;

        if (!memchr(b->p + from, '\n', b->len - from))
                return;
        for (size_t i = from; i < b->len; i++) {
                if (b->p[i] != '\n') {
                        b->p[o++] = b->p[i];
                        continue;
                }
                while (o > from && (b->p[o - 1] == ' ' || b->p[o - 1] == '\t'))
                        o--;
                while (i + 1 < b->len &&
                       (b->p[i + 1] == ' ' || b->p[i + 1] == '\t' || b->p[i + 1] == '\n'))
                        i++;
                b->p[o++] = ' ';
        }
        b->len = o;
        b->p[o] = '\0';
        gv_one_line(b, from);
}

#endif
