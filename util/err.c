/* util/err.c - see err.h */
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
