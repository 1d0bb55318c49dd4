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

/* The most of body, cut at a line end (or, with no line end in reach, at a
 * UTF-8 boundary), that is at most max bytes. */
static size_t cut_at(const char *body, size_t len, size_t max)
{
        size_t keep = len < max ? len : max, at = keep;

        if (keep == len)
                return keep;
        while (at > 0 && body[at] != '\n')
                at--;
        if (at > 0)
                return at;
        while (keep > 0 && ((unsigned char)body[keep] & 0xc0) == 0x80)
                keep--;
        return keep;
}

static char *build(const char *msgtype, const char *body, const char *html,
                   const cJSON *mentions, const cJSON *extra)
{
        cJSON *c = cJSON_CreateObject();
        char *text = NULL;

        if (c && cJSON_AddStringToObject(c, "msgtype", msgtype ? msgtype : "m.notice") &&
            cJSON_AddStringToObject(c, "body", body) &&
            (!html || !*html ||
             (cJSON_AddStringToObject(c, "format", "org.matrix.custom.html") &&
              cJSON_AddStringToObject(c, "formatted_body", html))) &&
            add_mentions(c, mentions) == GV_OK && add_relation(c, extra) == GV_OK)
                text = cJSON_PrintUnformatted(c);
        cJSON_Delete(c);
        return text;
}

/* The content of a message row; over the event size: HTML dropped, then the
 * text cut at a line with a note, shorter each time until it fits (escaping
 * can make a body's JSON six times its length). Never refused whole. */
char *gv_content_message(const char *body, const char *html, const cJSON *extra)
{
        static const char note[] = "\n[... cut: the full minutes are in the archive]";
        const char *msgtype = gv_js_str(extra, "msgtype");
        const cJSON *mentions = gv_js_arr(extra, "mentions");
        struct gv_buf cut = GV_BUF_INIT(GV_CONTENT_MAX_BYTES);
        size_t len = strlen(body), max = GV_CONTENT_MAX_BYTES;
        char *text, *out = NULL;

        text = build(msgtype, body, html, mentions, extra);
        if (text && strlen(text) > GV_CONTENT_MAX_BYTES && html && *html) {
                cJSON_free(text);
                text = build(msgtype, body, NULL, mentions, extra);
        }
        while (text && strlen(text) > GV_CONTENT_MAX_BYTES && max > 0) {
                size_t keep;

                cJSON_free(text);
                text = NULL;
                max = max > len ? len / 2 : max / 2;
                keep = cut_at(body, len, max);
                gv_buf_reset(&cut);
                if (gv_buf_add(&cut, body, keep) || gv_buf_adds(&cut, note))
                        break;
                text = build(msgtype, gv_buf_str(&cut), NULL, mentions, extra);
        }
        if (text && strlen(text) <= GV_CONTENT_MAX_BYTES)
                out = strdup(text);
        cJSON_free(text);
        gv_buf_free(&cut);
        return out;
}
