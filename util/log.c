/* util/log.c - see log.h */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

enum gv_log_level gv_log_threshold = GV_LOG_WARN;

void gv_log_impl(enum gv_log_level lvl, const char *subsys, const char *fmt, ...)
{
        static const char *const names[] = { "error", "warning", "info", "debug" };
        va_list ap;

        fprintf(stderr, "gavel: %s: %s: ", names[lvl], subsys);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}
