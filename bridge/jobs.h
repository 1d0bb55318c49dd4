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
#include <stdio.h>

#include "../store/store.h"
#include "../util/buf.h"
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

/* Links back: once a wiki has the notes, the minutes message in the
 * meeting's room is edited (m.replace) to carry the links. The edit is a
 * GV_OUT_MINUTES row whose extra has "replaces_row": the row of the
 * original message. When that message is sent, its event ID is kept
 * (gv_job_sent_event); the edit goes out once it is known. */
GV_MUST_CHECK enum gv_err gv_job_sent_event(struct gv_store *s, int64_t row, const char *event_id);
/* Is the event ID of this row kept once sent? The minutes (for the edit)
 * and a series' release ("keep_event" in its extra: reactions answer it). */
bool gv_job_keeps_event(const struct gv_out *o);
/* For a row with "replaces_row": the original's event ID in *event_id
 * (malloc'd), or *event_id NULL with *d later (not sent yet) or never (it
 * never will be). Rows without it: *event_id NULL, *d GV_DELIVERED. */
GV_MUST_CHECK enum gv_err gv_job_edit_target(struct gv_store *s, const char *extra, char **event_id,
                                             enum gv_delivery *d, char *why, size_t n);
/* Appends the meeting's published links (http and https ones) to the
 * minutes' body and html (html may be NULL). */
GV_MUST_CHECK enum gv_err gv_job_links_append(struct gv_store *s, int64_t meeting,
                                              struct gv_buf *body, struct gv_buf *html);

/* Records that wiki N has the meeting's notes at link (a URL, or the page
 * name when the publisher knows no URL): the publication, the discussed
 * items' notes links and, for a URL, the edit of the minutes message. */
GV_MUST_CHECK enum gv_err gv_job_published(struct gv_store *s, int64_t meeting, size_t wiki,
                                           const char *link, int64_t now);

/* `gavel check-config`: says on out, per wiki and webhook, which secret it
 * will read and whether it is there (a webhook without its secret and a
 * MediaWiki without its password are parked when they come to be sent).
 * Returns how many required secrets are missing. */
size_t gv_job_check_secrets(const struct gv_config *cfg, FILE *out);

/* Builds a webhook row's payload (JSON text, malloc'd) from the store. */
GV_MUST_CHECK enum gv_err gv_job_webhook_payload(struct gv_store *s, const struct gv_config *cfg,
                                                 const struct gv_out *o, char **json);

#endif
