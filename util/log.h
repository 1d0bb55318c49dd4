/* util/log.h - levelled logging to stderr, by subsystem. The level is
 * tested before formatting. The caller that gives up on an error logs it once. */
#ifndef GV_LOG_H
#define GV_LOG_H

enum gv_log_level { GV_LOG_ERROR = 0, GV_LOG_WARN, GV_LOG_INFO, GV_LOG_DEBUG };

extern enum gv_log_level gv_log_threshold;

void gv_log_impl(enum gv_log_level lvl, const char *subsys, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define gv_log(lvl, subsys, ...)                                \
        do {                                                    \
                if ((lvl) <= gv_log_threshold)                  \
                        gv_log_impl((lvl), (subsys), __VA_ARGS__); \
        } while (0)

#define gv_err_log(subsys, ...) gv_log(GV_LOG_ERROR, subsys, __VA_ARGS__)
#define gv_warn(subsys, ...) gv_log(GV_LOG_WARN, subsys, __VA_ARGS__)
#define gv_info(subsys, ...) gv_log(GV_LOG_INFO, subsys, __VA_ARGS__)
#define gv_debug(subsys, ...) gv_log(GV_LOG_DEBUG, subsys, __VA_ARGS__)

#endif
