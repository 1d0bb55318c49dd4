/* util/buf.c - see buf.h */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void gv_buf_init(struct gv_buf *b, size_t max)
{
        b->p = NULL;
        b->len = 0;
        b->cap = 0;
        b->max = max;
}

void gv_buf_free(struct gv_buf *b)
{
        free(b->p);
        b->p = NULL;
        b->len = 0;
        b->cap = 0;
}

void gv_buf_reset(struct gv_buf *b)
{
        b->len = 0;
        if (b->p)
                b->p[0] = '\0';
}

static enum gv_err grow(struct gv_buf *b, size_t need)
{
        size_t cap;
        char *p;

        if (need > b->max || need + 1 < need)
                return GV_ETOOBIG;
        if (need + 1 <= b->cap)
                return GV_OK;
        cap = b->cap ? b->cap : 64;
        while (cap < need + 1)
                cap *= 2;
        if (b->max < SIZE_MAX && cap > b->max + 1)
                cap = b->max + 1;
        p = realloc(b->p, cap);
        if (!p)
                return GV_ENOMEM;
        b->p = p;
        b->cap = cap;
        return GV_OK;
}

enum gv_err gv_buf_add(struct gv_buf *b, const void *p, size_t n)
{
        enum gv_err r;

        if (n > b->max - b->len)
                return GV_ETOOBIG;
        if (n >= b->cap - b->len) {     /* no room for n and the NUL (or no buffer yet) */
                r = grow(b, b->len + n);
                if (r)
                        return r;
        }
        if (n)
                memcpy(b->p + b->len, p, n);
        b->len += n;
        b->p[b->len] = '\0';
        return GV_OK;
}

enum gv_err gv_buf_adds(struct gv_buf *b, const char *s)
{
        return gv_buf_add(b, s, strlen(s));
}

enum gv_err gv_buf_addc(struct gv_buf *b, char c)
{
        /* the renderers add text a byte at a time: no call when it fits */
        if (b->cap - b->len > 1 && b->len < b->max) {
                b->p[b->len++] = c;
                b->p[b->len] = '\0';
                return GV_OK;
        }
        return gv_buf_add(b, &c, 1);
}

enum gv_err gv_buf_vprintf(struct gv_buf *b, const char *fmt, va_list ap)
{
        va_list ap2;
        int n;
        enum gv_err r;

        va_copy(ap2, ap);
        n = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        if (n < 0)
                return GV_EINVAL;
        if ((size_t)n > b->max - b->len)
                return GV_ETOOBIG;
        r = grow(b, b->len + (size_t)n);
        if (r)
                return r;
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
        return GV_OK;
}

enum gv_err gv_buf_printf(struct gv_buf *b, const char *fmt, ...)
{
        va_list ap;
        enum gv_err r;

        va_start(ap, fmt);
        r = gv_buf_vprintf(b, fmt, ap);
        va_end(ap);
        return r;
}

const char *gv_buf_str(const struct gv_buf *b)
{
        return b->p ? b->p : "";
}

enum gv_err gv_buf_steal(struct gv_buf *b, char **ret)
{
        if (!b->p) {
                b->p = strdup("");
                if (!b->p)
                        return GV_ENOMEM;
        }
        *ret = b->p;
        b->p = NULL;
        b->len = 0;
        b->cap = 0;
        return GV_OK;
}
