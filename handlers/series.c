/* handlers/series.c - meeting series (issue 10): releases, reminders,
 * attendance. Placeholder until the series work lands: no timers yet. */
#include <stdint.h>

#include "handlers.h"

enum gv_err gv_tick(struct gv_core *c, int64_t now_ms)
{
        (void)c;
        (void)now_ms;
        return GV_OK;
}

enum gv_err gv_next_due(struct gv_core *c, int64_t now_ms, int64_t *due_ms)
{
        (void)c;
        (void)now_ms;
        *due_ms = INT64_MAX;
        return GV_OK;
}
