/* bridge/outbox.c - see outbox.h */
#include "outbox.h"

enum gv_err gv_outbox_drain(struct gv_store *s, int64_t now, const struct gv_sink *sink)
{
        struct gv_out o;
        int64_t after = 0;
        enum gv_err r;

        while ((r = gv_store_outbox_next(s, after, &o)) == GV_OK) {
                after = o.id;
                r = sink->deliver(sink->ud, &o);
                if (r == GV_OK)
                        r = gv_store_outbox_sent(s, o.id, now);
                gv_out_clear(&o);
                if (r)
                        return r;
        }
        return r == GV_ENOTFOUND ? GV_OK : r;
}
