/* util/err.h - the one error enum every gavel function returns.
 * Knows nothing about Matrix, SQLite or meetings. */
#ifndef GV_ERR_H
#define GV_ERR_H

#include <stddef.h>

#define GV_MUST_CHECK __attribute__((warn_unused_result))

enum gv_err {
        GV_OK = 0,
        GV_ENOMEM,   /* allocation failed */
        GV_EINVAL,   /* bad argument or input */
        GV_EPARSE,   /* input could not be parsed */
        GV_ETOOBIG,  /* input over a named limit */
        GV_EDB,      /* SQLite said no */
        GV_EIO,      /* file or socket I/O failed */
        GV_EPERM,    /* the sender may not do that */
        GV_ENOTFOUND,/* no such item / meeting / key */
        GV_EHTTP,    /* HTTP-level failure */
        GV_ECRYPTO,  /* olm failure */
        GV_ECONFIG,  /* configuration rejected */
};

const char *gv_strerror(enum gv_err e);

/* Writes the message into err (when err and errlen) and returns r: for the
 * functions that answer an error code and a line saying why. */
__attribute__((format(printf, 4, 5)))
enum gv_err gv_errf(char *err, size_t errlen, enum gv_err r, const char *fmt, ...);

#endif
