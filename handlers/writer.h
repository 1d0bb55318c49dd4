/* handlers/writer.h - the renderers' writer: appends to a buffer and keeps
 * the first error, so a rendering is a run of put()s checked once at the
 * end. Shared by minutes.c (the room's minutes), meetbot.c (MeetBot's file
 * layouts) and wiki.c (wiki flavours); private to handlers/. */
#ifndef GV_HANDLERS_WRITER_H
#define GV_HANDLERS_WRITER_H

#include <stdint.h>
#include "../util/buf.h"
#include "../util/text.h"

struct w {
        struct gv_buf *b;
        enum gv_err r;          /* the first error; later puts do nothing */
};

static inline void put(struct w *w, const char *s)
{
        if (w->r == GV_OK)
                w->r = gv_buf_adds(w->b, s ? s : "");
}

static inline void putn(struct w *w, const char *s, size_t n)
{
        if (w->r == GV_OK)
                w->r = gv_buf_add(w->b, s, n);
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

#endif
