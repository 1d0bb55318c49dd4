/* util/buf.h - growable NUL-terminated byte buffer with a hard ceiling.
 * Every buffer fed by users or the network is created with a limit; going over
 * is GV_ETOOBIG and leaves the buffer as it was. */
#ifndef GV_BUF_H
#define GV_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "err.h"

struct gv_buf {
        char *p;        /* NUL-terminated when non-NULL */
        size_t len;
        size_t cap;
        size_t max;     /* ceiling on len */
};

#define GV_BUF_INIT(limit) { NULL, 0, 0, (limit) }

void gv_buf_init(struct gv_buf *b, size_t max);
void gv_buf_free(struct gv_buf *b);
void gv_buf_reset(struct gv_buf *b);
GV_MUST_CHECK enum gv_err gv_buf_add(struct gv_buf *b, const void *p, size_t n);
GV_MUST_CHECK enum gv_err gv_buf_adds(struct gv_buf *b, const char *s);
GV_MUST_CHECK enum gv_err gv_buf_addc(struct gv_buf *b, char c);
GV_MUST_CHECK enum gv_err gv_buf_printf(struct gv_buf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
GV_MUST_CHECK enum gv_err gv_buf_vprintf(struct gv_buf *b, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
/* "" when empty, never NULL */
const char *gv_buf_str(const struct gv_buf *b);
/* Hands the string to the caller (never NULL on success; "" when empty). */
GV_MUST_CHECK enum gv_err gv_buf_steal(struct gv_buf *b, char **ret);

#endif
