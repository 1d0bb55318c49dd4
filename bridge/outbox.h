/* bridge/outbox.h - drains the outbox: each unsent row is handed to a sink
 * and marked sent only after the sink said it was delivered. */
#ifndef GV_OUTBOX_H
#define GV_OUTBOX_H

#include "../store/store.h"

struct gv_sink {
        void *ud;
        /* GV_OK: delivered, mark sent. Anything else: stop, retry later. */
        enum gv_err (*deliver)(void *ud, const struct gv_out *o);
};

/* Delivers every unsent row in order; returns the first failure. */
GV_MUST_CHECK enum gv_err gv_outbox_drain(struct gv_store *s, int64_t now,
                                          const struct gv_sink *sink);

#endif
