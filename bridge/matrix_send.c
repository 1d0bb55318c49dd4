/* bridge/matrix_send.c - the outbox sender: the oldest unsent row goes out
 * (a message, a reaction, the minutes, a join or leave, a minutes file), one
 * at a time, with a txnId derived from the row, and is marked sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../handlers/minutes.h"
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/log.h"
#include "../util/json.h"
#include "archive.h"
#include "content.h"
#include "http.h"
#include "matrix_internal.h"

/* ---- sending ---- */

static void on_sent(void *ud, const struct gv_http_resp *resp);

static void mark_sent(struct mx *m, int64_t id)
{
        enum gv_err r = gv_store_outbox_sent(m->s, id, mx_wall_ms());

        if (r) {
                mx_fatal(m, 1, "cannot record a sent message: %s", gv_store_errmsg(m->s));
                return;
        }
        m->send_backoff = 0;
}

static void send_row(struct mx *m, const struct gv_out *o)
{
        cJSON *extra = o->extra ? cJSON_Parse(o->extra) : NULL;
        char txn[96], *content = NULL;
        const char *type = "m.room.message";

        snprintf(txn, sizeof(txn), "gv%s.%lld", m->nonce, (long long)o->id);
        if (strcmp(o->kind, "file") == 0) {
                enum gv_err r = gv_archive_minutes(m->cfg->archive_dir, o->room, m->s, m->cfg,
                                                   o->extra);

                if (r)
                        gv_err_log("matrix", "minutes file %s not written: %s", o->room,
                                   gv_strerror(r));
                mark_sent(m, o->id);
                goto out;
        }
        if (strcmp(o->kind, "join") == 0 || strcmp(o->kind, "leave") == 0) {
                m->send_busy = true;
                m->send_row = o->id;
                mx_request(m, "POST",
                        o->kind[0] == 'j' ? mx_url(m, "/_matrix/client/v3/join/%s", o->room) :
                                            mx_url(m, "/_matrix/client/v3/rooms/%s/leave", o->room),
                        "{}", REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_sent);
                goto out;
        }
        if (strcmp(o->kind, "reaction") == 0) {
                cJSON *c = cJSON_CreateObject(), *rel = cJSON_AddObjectToObject(c, "m.relates_to");

                type = "m.reaction";
                if (rel && cJSON_AddStringToObject(rel, "rel_type", "m.annotation") &&
                    gv_js_str(extra, "event_id") &&
                    cJSON_AddStringToObject(rel, "event_id", gv_js_str(extra, "event_id")) &&
                    cJSON_AddStringToObject(rel, "key", o->body)) {
                        char *t = cJSON_PrintUnformatted(c);

                        content = t ? strdup(t) : NULL;
                        cJSON_free(t);
                }
                cJSON_Delete(c);
        } else if (strcmp(o->kind, "minutes") == 0) {
                struct gv_buf body = GV_BUF_INIT(GV_MINUTES_MAX), html = GV_BUF_INIT(GV_MINUTES_MAX);

                if (gv_minutes_for_outbox(m->s, m->cfg, o->kind, o->extra, &body, &html) == GV_OK)
                        content = gv_content_message(gv_buf_str(&body), gv_buf_str(&html), extra);
                gv_buf_free(&body);
                gv_buf_free(&html);
        } else if (strcmp(o->kind, "message") == 0) {
                content = gv_content_message(o->body, o->html, extra);
        }
        if (!content) {
                gv_err_log("matrix", "outbox row %lld (%s) cannot be sent; dropped",
                           (long long)o->id, o->kind);
                mark_sent(m, o->id);
                goto out;
        }
        m->send_busy = true;
        m->send_row = o->id;
        mx_request(m, "PUT", mx_url(m, "/_matrix/client/v3/rooms/%s/send/%s/%s", o->room, type, txn),
                content, REQUEST_TIMEOUT_MS, MAX_SMALL_BODY, on_sent);
out:
        free(content);
        cJSON_Delete(extra);
}

void mx_start_sender(struct mx *m)
{
        struct gv_out o;
        enum gv_err r;

        while (!m->send_busy && !m->outbox_empty && !m->stop && !m->relogin && m->phase == PH_RUN &&
               mx_now_ms() >= m->send_at) {
                r = gv_store_outbox_next(m->s, 0, &o);
                if (r == GV_ENOTFOUND) {
                        m->outbox_empty = true;
                        return;
                }
                if (r) {
                        mx_fatal(m, 1, "cannot read the outbox: %s", gv_store_errmsg(m->s));
                        return;
                }
                send_row(m, &o);
                gv_out_clear(&o);
        }
}

static void on_sent(void *ud, const struct gv_http_resp *resp)
{
        struct mx *m = ud;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);

        m->send_busy = false;
        if (resp->err == GV_OK && resp->status == 200) {
                mark_sent(m, m->send_row);
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                mx_start_relogin(m);
        } else if (resp->status == 429) {
                int64_t ra = mx_retry_after(resp, json);

                m->send_at = mx_now_ms() + (ra >= 0 ? ra : mx_backoff(m, &m->send_backoff));
        } else if (resp->err || resp->status >= 500 || resp->status == 408) {
                if (resp->err)
                        gv_info("matrix", "sending failed (%s); retrying", resp->errmsg);
                m->send_at = mx_now_ms() + mx_backoff(m, &m->send_backoff);
        } else if (resp->status == 400 && code && strcmp(code, "M_DUPLICATE_ANNOTATION") == 0) {
                mark_sent(m, m->send_row);     /* the reaction is there already */
        } else {
                gv_err_log("matrix", "outbox row %lld refused by the homeserver: %ld %s; dropped",
                           (long long)m->send_row, resp->status, code ? code : "");
                mark_sent(m, m->send_row);
        }
        cJSON_Delete(json);
        mx_start_sender(m);
}
