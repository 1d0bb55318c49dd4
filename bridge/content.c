/* bridge/content.c - see content.h */
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/json.h"
#include "content.h"

static enum gv_err add_mentions(cJSON *content, const cJSON *list)
{
        cJSON *mm = cJSON_AddObjectToObject(content, "m.mentions"), *ids = NULL;
        const cJSON *u;

        if (!mm)
                return GV_ENOMEM;
        cJSON_ArrayForEach(u, list) {
                cJSON *s;

                if (!cJSON_IsString(u))
                        continue;
                if (!ids && !(ids = cJSON_AddArrayToObject(mm, "user_ids")))
                        return GV_ENOMEM;
                s = cJSON_CreateString(u->valuestring);
                if (!s || !cJSON_AddItemToArray(ids, s)) {
                        cJSON_Delete(s);
                        return GV_ENOMEM;
                }
        }
        return GV_OK;
}

static enum gv_err add_relation(cJSON *content, const cJSON *extra)
{
        const char *reply = gv_js_str(extra, "in_reply_to"), *thread = gv_js_str(extra, "thread");
        cJSON *rel, *irt;

        if (!reply && !thread)
                return GV_OK;
        rel = cJSON_AddObjectToObject(content, "m.relates_to");
        if (!rel)
                return GV_ENOMEM;
        if (thread && (!cJSON_AddStringToObject(rel, "rel_type", "m.thread") ||
                       !cJSON_AddStringToObject(rel, "event_id", thread) ||
                       !cJSON_AddBoolToObject(rel, "is_falling_back", !reply)))
                return GV_ENOMEM;
        if (reply) {
                irt = cJSON_AddObjectToObject(rel, "m.in_reply_to");
                if (!irt || !cJSON_AddStringToObject(irt, "event_id", reply))
                        return GV_ENOMEM;
        }
        return GV_OK;
}

/* The content of a message row; over the event size: HTML dropped, then the
 * text cut at a line with a note. */
char *gv_content_message(const char *body, const char *html, const cJSON *extra)
{
        const char *msgtype = gv_js_str(extra, "msgtype");
        const cJSON *mentions = gv_js_arr(extra, "mentions");
        struct gv_buf cut = GV_BUF_INIT(GV_CONTENT_MAX_BYTES);
        char *out = NULL;

        for (int attempt = 0; attempt < 3 && !out; attempt++) {
                cJSON *c = cJSON_CreateObject();
                char *text;

                if (!c || !cJSON_AddStringToObject(c, "msgtype", msgtype ? msgtype : "m.notice") ||
                    !cJSON_AddStringToObject(c, "body", body) ||
                    (attempt == 0 && html && *html &&
                     (!cJSON_AddStringToObject(c, "format", "org.matrix.custom.html") ||
                      !cJSON_AddStringToObject(c, "formatted_body", html))) ||
                    add_mentions(c, mentions) || add_relation(c, extra)) {
                        cJSON_Delete(c);
                        break;
                }
                text = cJSON_PrintUnformatted(c);
                cJSON_Delete(c);
                if (!text)
                        break;
                if (strlen(text) <= GV_CONTENT_MAX_BYTES) {
                        out = strdup(text);
                        cJSON_free(text);
                        break;
                }
                cJSON_free(text);
                if (attempt == 1) {
                        /* text alone is too big: keep whole lines that fit */
                        static const char note[] = "\n[... cut: the full minutes are in the archive]";
                        size_t keep = GV_CONTENT_MAX_BYTES / 2;

                        while (keep > 0 && body[keep] != '\n')
                                keep--;
                        gv_buf_reset(&cut);
                        if (gv_buf_add(&cut, body, keep) || gv_buf_adds(&cut, note))
                                break;
                        body = cut.p;
                }
        }
        gv_buf_free(&cut);
        return out;
}

