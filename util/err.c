/* util/err.c - see err.h */
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

const char *gv_strerror(enum gv_err e)
{
        switch (e) {
        case GV_OK: return "success";
        case GV_ENOMEM: return "out of memory";
        case GV_EINVAL: return "invalid argument";
        case GV_EPARSE: return "parse error";
        case GV_ETOOBIG: return "input too large";
        case GV_EDB: return "database error";
        case GV_EIO: return "I/O error";
        case GV_EPERM: return "permission denied";
        case GV_ENOTFOUND: return "not found";
        case GV_EHTTP: return "HTTP error";
        case GV_ECRYPTO: return "encryption error";
        case GV_ECONFIG: return "configuration error";
        }
        return "unknown error";
}

enum gv_err gv_errf(char *err, size_t errlen, enum gv_err r, const char *fmt, ...)
{
        va_list ap;

        if (err && errlen) {
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}
