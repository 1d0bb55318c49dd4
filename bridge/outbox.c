/* bridge/outbox.c - see outbox.h */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../handlers/minutes.h"
#include "../util/buf.h"
#include "../util/json.h"
#include "../util/log.h"
#include "../util/text.h"
#include "archive.h"
#include "outbox.h"

const char *gv_outbox_lane(const struct gv_out *o)
{
        return o->kind == GV_OUT_FILE ? "" : o->room;
}

int64_t gv_outbox_backoff(int64_t attempts, int64_t max_ms)
{
        int64_t b = GV_OUTBOX_RETRY_MS;

        for (int64_t i = 1; i < attempts && b < max_ms; i++)
                b *= 2;
        return b < max_ms ? b : max_ms;
}

enum gv_err gv_outbox_settle(struct gv_store *s, const struct gv_out *o, enum gv_delivery d,
                             const char *why, int64_t now, int64_t next_at)
{
        const char *kind = gv_out_kind_name(o->kind);

        switch (d) {
        case GV_DELIVERED:
                return gv_store_outbox_sent(s, o->id, now);
        case GV_DELIVER_LATER:
                if (o->attempts == 0)
                        gv_info("outbox", "row %" PRId64 " (%s to %s) not delivered: %s; "
                                "retrying", o->id, kind, o->room, why);
                return gv_store_outbox_later(s, o->id, why, next_at);
        case GV_DELIVER_NEVER:
                gv_err_log("outbox", "row %" PRId64 " (%s to %s) can never be sent: %s; parked "
                           "(see gavel outbox)", o->id, kind, o->room, why);
                return gv_store_outbox_park(s, o->id, why);
        }
        return GV_EINVAL;
}

/* {"msgtype": "m.notice", "mentions": []}, as handlers/effects.c makes it. */
static const char notice_extra[] = "{\"msgtype\":\"m.notice\",\"mentions\":[]}";

/* The first failure of a meeting's files is said once in its room and once
 * in the log: when none of its file rows failed before (o, failing now, is
 * settled after this). */
static enum gv_err said_once(struct gv_store *s, const struct gv_out *o, const char *dir,
                             const char *why, int64_t now)
{
        cJSON *extra = o->extra ? cJSON_Parse(o->extra) : NULL;
        int64_t id = gv_js_uint(extra, "meeting", 0);
        struct gv_meeting m;
        char body[1024];
        bool before = false;
        enum gv_err r;

        cJSON_Delete(extra);
        r = id > 0 ? gv_store_outbox_files_failed(s, id, &before) : GV_OK;
        if (r || before) {
                gv_info("outbox", "minutes file %s/%s still not written: %s", dir, o->room, why);
                return r;
        }
        gv_err_log("outbox", "minutes file %s/%s not written: %s; retrying with backoff "
                   "(gavel outbox lists what waits)", dir, o->room, why);
        if (id <= 0)
                return GV_OK;
        memset(&m, 0, sizeof(m));
        r = gv_store_meeting_get(s, id, &m);
        if (r == GV_OK) {
                snprintf(body, sizeof(body),
                         "The minutes files of this meeting could not be written to %.300s: "
                         "%.300s. gavel keeps trying; nothing is lost.", dir, why);
                r = gv_store_outbox_add(s, GV_OUT_MESSAGE, m.room, body, NULL, notice_extra, now);
        } else if (r == GV_ENOTFOUND) {
                r = GV_OK;
        }
        gv_meeting_clear(&m);
        return r;
}

enum gv_err gv_outbox_file_outcome(struct gv_store *s, const char *dir, const struct gv_out *o,
                                   enum gv_err r, int e, int64_t now, enum gv_delivery *d,
                                   char *why, size_t n)
{
        if (r == GV_OK) {
                *d = GV_DELIVERED;
                return GV_OK;
        }
        if (r == GV_EIO && e)
                snprintf(why, n, "%s (%s)", gv_strerror(r), strerror(e));
        else
                snprintf(why, n, "%s", gv_strerror(r));
        /* the disk or the directory may come back; a row that does not
         * render never will */
        if (r == GV_EIO || r == GV_ENOMEM || r == GV_EDB) {
                *d = GV_DELIVER_LATER;
                return said_once(s, o, dir, why, now);
        }
        *d = GV_DELIVER_NEVER;
        return GV_OK;
}

enum gv_err gv_outbox_write_file(struct gv_store *s, const struct gv_config *cfg, const char *dir,
                                 const struct gv_out *o, int64_t now, enum gv_delivery *d,
                                 char *why, size_t n)
{
        enum gv_err r;
        int e;

        errno = 0;
        r = gv_archive_minutes(dir, o->room, s, cfg, o->extra);
        e = errno;
        return gv_outbox_file_outcome(s, dir, o, r, e, now, d, why, n);
}

static enum gv_err to_buf(void *ud, const char *data, size_t len)
{
        return gv_buf_add(ud, data, len);
}

enum gv_err gv_outbox_file_render(struct gv_store *s, const struct gv_config *cfg,
                                  const struct gv_out *o, struct gv_buf *out)
{
        struct gv_sink_fn sink = { to_buf, out };

        return gv_minutes_file(s, cfg, o->extra, &sink);
}

struct lanes {
        char **key;
        size_t n, cap;
};

static bool lane_blocked(const struct lanes *l, const char *key)
{
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->key[i], key) == 0)
                        return true;
        return false;
}

static enum gv_err lane_block(struct lanes *l, const char *key)
{
        if (l->n == l->cap) {
                size_t nc = l->cap ? l->cap * 2 : 8;
                char **nk = realloc(l->key, nc * sizeof(*nk));

                if (!nk)
                        return GV_ENOMEM;
                l->key = nk;
                l->cap = nc;
        }
        l->key[l->n] = strdup(key);
        if (!l->key[l->n])
                return GV_ENOMEM;
        l->n++;
        return GV_OK;
}

enum gv_err gv_outbox_drain(struct gv_store *s, int64_t now, int64_t backoff_max_ms,
                            const struct gv_sink *sink, size_t *waiting)
{
        struct lanes blocked = { NULL, 0, 0 };
        struct gv_out o;
        int64_t after = 0;
        size_t left = 0;
        enum gv_err r;

        while ((r = gv_store_outbox_next(s, after, &o)) == GV_OK) {
                const char *lane = gv_outbox_lane(&o);
                enum gv_delivery d = GV_DELIVER_NEVER;
                char why[GV_OUTBOX_WHY_MAX] = "";

                after = o.id;
                if (o.kind == GV_OUT_UNKNOWN) {
                        r = gv_outbox_settle(s, &o, GV_DELIVER_NEVER,
                                             "a kind this gavel does not know", now, 0);
                } else if (!(sink->kinds & GV_OUT_BIT(o.kind))) {
                        /* another sender's */
                } else if (lane_blocked(&blocked, lane)) {
                        left++;
                } else if (o.next_at > now) {
                        left++;
                        r = lane_block(&blocked, lane);
                } else {
                        r = sink->deliver(sink->ud, &o, &d, why, sizeof(why));
                        if (r == GV_OK)
                                r = gv_outbox_settle(s, &o, d, why, now,
                                                     now + gv_outbox_backoff(o.attempts + 1,
                                                                             backoff_max_ms));
                        if (r == GV_OK && d == GV_DELIVER_LATER) {
                                left++;
                                r = lane_block(&blocked, lane);
                        }
                }
                gv_out_clear(&o);
                if (r)
                        break;
        }
        for (size_t i = 0; i < blocked.n; i++)
                free(blocked.key[i]);
        free(blocked.key);
        if (waiting)
                *waiting = left;
        return r == GV_ENOTFOUND ? GV_OK : r;
}

/* ---- gavel outbox ---- */

static int list_row(void *ud, const struct gv_out *o)
{
        FILE *out = ud;
        char attempts[24], next[64] = "";

        snprintf(attempts, sizeof(attempts), "%" PRId64, o->attempts);
        if (o->state == GV_OUT_PENDING && o->next_at > 0) {
                time_t t = (time_t)(o->next_at / 1000);
                struct tm tm;

                if (gmtime_r(&t, &tm))
                        strftime(next, sizeof(next), " (next try %Y-%m-%d %H:%M:%S UTC)", &tm);
        }
        fprintf(out, "%-8" PRId64 " %-8s %-9s %8s  %-40s %s%s\n", o->id,
                o->state == GV_OUT_PARKED ? "parked" : "pending", gv_out_kind_name(o->kind),
                attempts, o->room, o->last_error ? o->last_error : "-", next);
        return 0;
}

int gv_outbox_command(const struct gv_config *cfg, const char *action, const char *id, FILE *out)
{
        struct gv_store *s = NULL;
        uint64_t row = 0;
        int status = 1;
        enum gv_err r;

        if (action && (strcmp(action, "retry") != 0 || !id ||
                       gv_parse_u64(id, INT64_MAX, &row) != GV_OK || row == 0)) {
                fprintf(stderr, "gavel: usage: gavel outbox [retry ID] (ID: a row number from "
                                "gavel outbox)\n");
                return 2;
        }
        if (!action && id) {
                fprintf(stderr, "gavel: unexpected argument '%s' (see gavel --help)\n", id);
                return 2;
        }
        if (strcmp(cfg->database, ":memory:") != 0 && access(cfg->database, F_OK) != 0) {
                fprintf(stderr, "gavel: no database at %s: %s\n", cfg->database, strerror(errno));
                return 1;
        }
        r = gv_store_open(cfg->database, &s);
        if (r) {
                fprintf(stderr, "gavel: cannot open the database %s: %s\n", cfg->database,
                        gv_strerror(r));
                return 1;
        }
        if (action) {
                r = gv_store_outbox_retry(s, (int64_t)row);
                if (r == GV_OK) {
                        fprintf(out, "row %" PRIu64 " is pending again: it goes out in its "
                                     "turn\n", row);
                        status = 0;
                } else if (r == GV_ENOTFOUND) {
                        fprintf(stderr, "gavel: outbox row %" PRIu64 " is not waiting (already "
                                        "sent, or no such row)\n", row);
                } else {
                        fprintf(stderr, "gavel: %s: %s\n", gv_strerror(r), gv_store_errmsg(s));
                }
                gv_store_free(s);
                return status;
        }
        fprintf(out, "%-8s %-8s %-9s %8s  %-40s %s\n", "ID", "STATE", "KIND", "ATTEMPTS", "ROOM",
                "REASON");
        r = gv_store_outbox_each(s, list_row, out);
        if (r == GV_OK)
                status = 0;
        else
                fprintf(stderr, "gavel: %s: %s\n", gv_strerror(r), gv_store_errmsg(s));
        gv_store_free(s);
        return status;
}
