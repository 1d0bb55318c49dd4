/* bridge/jobs.h - delivering the outbox's GV_OUT_WIKI and GV_OUT_WEBHOOK
 * rows: a wiki publish (bridge/publish.h) or a signed webhook POST.
 *
 * Each delivery has three steps so that the slow part never runs on the
 * Matrix loop: gv_job_prepare() reads the store and the secrets and builds
 * a self-contained job (the rendered section, the JSON payload);
 * gv_job_run() does the network and disk work, BLOCKING, touching neither
 * the store nor the config (a worker thread may run it); gv_job_finish()
 * records what came of it in the store (the publication's link, the items'
 * notes links, the links-back message). gv_job_deliver() runs all three in
 * a row, for the console and the replay.
 *
 * Webhook POSTs carry X-Gavel-Signature: sha256=<hex HMAC-SHA256 of the
 * body with the webhook's secret> and X-Gavel-Delivery: <a stable id of the
 * row> (the receiver's idempotency key). 2xx: delivered; 4xx: parked; 5xx,
 * a timeout or no answer: later. An item.discussed or minutes.published
 * webhook waits (later) while a wiki publish of its meeting is pending, so
 * it carries the links. */
#ifndef GV_JOBS_H
#define GV_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"
#include "../util/config.h"
#include "outbox.h"

#define GV_JOB_KINDS (GV_OUT_BIT(GV_OUT_WIKI) | GV_OUT_BIT(GV_OUT_WEBHOOK))
/* Ceiling on a secret file and on a webhook's answer. */
#define GV_JOB_SECRET_MAX 65536
#define GV_JOB_TIMEOUT_MS 30000L

struct gv_job;

/* *ret is NULL (and *d, why set) when the row is settled without running:
 * bad config (never), a webhook waiting for its wiki (later). Returns only
 * database and memory errors. */
GV_MUST_CHECK enum gv_err gv_job_prepare(struct gv_store *s, const struct gv_config *cfg,
                                         const struct gv_out *o, struct gv_job **ret,
                                         enum gv_delivery *d, char *why, size_t n);
/* Blocking. Thread-safe as long as each job runs in one thread. */
void gv_job_run(struct gv_job *j);
/* The outcome of the run in *d and why; records a delivered publication. */
GV_MUST_CHECK enum gv_err gv_job_finish(struct gv_store *s, struct gv_job *j, int64_t now,
                                        enum gv_delivery *d, char *why, size_t n);
void gv_job_free(struct gv_job *j);

GV_MUST_CHECK enum gv_err gv_job_deliver(struct gv_store *s, const struct gv_config *cfg,
                                         const struct gv_out *o, int64_t now,
                                         enum gv_delivery *d, char *why, size_t n);

/* Builds a webhook row's payload (JSON text, malloc'd) from the store. */
GV_MUST_CHECK enum gv_err gv_job_webhook_payload(struct gv_store *s, const struct gv_config *cfg,
                                                 const struct gv_out *o, char **json);

#endif
