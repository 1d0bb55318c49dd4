/* handlers/effects.c - the bottom of handlers/: one event's ctx (the running
 * meeting, cached per room), permission checks, the meeting's record (noted
 * items, topics) and the effects (replies, reactions, outbox rows). Calls
 * the store and util only, never core.c or the commands. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/text.h"
#include "effects.h"
#include "minutes.h"
#include "parse.h"

/* ---- the event's ctx ---- */

void people_forget(struct gv_core *c)
{
        for (size_t i = 0; i < c->n_people; i++) {
                free(c->people[i].sender);
                free(c->people[i].nick);
        }
        c->n_people = 0;
}

void cache_forget(struct gv_core *c)
{
        if (c->cache_set)
                gv_meeting_clear(&c->cache);
        free(c->cache_room);
        c->cache_room = NULL;
        c->cache_set = false;
}

bool gv_fatal(enum gv_err r)
{
        return r == GV_EDB || r == GV_ENOMEM;
}

void ctx_drop_meeting(struct ctx *x)
{
        if (x->in_meeting && x->m_owned)
                gv_meeting_clear(&x->m);
        memset(&x->m, 0, sizeof(x->m));
        x->in_meeting = false;
        x->m_owned = false;
}

void ctx_own_meeting(struct ctx *x)
{
        struct gv_core *c = x->c;

        if (x->in_meeting && !x->m_owned) {
                /* the strings move from the cache to x */
                memset(&c->cache, 0, sizeof(c->cache));
                c->cache_set = false;
                x->m_owned = true;
        }
        cache_forget(c);
}

enum gv_err ctx_load_meeting(struct ctx *x)
{
        struct gv_core *c = x->c;
        uint64_t gen = gv_store_generation(c->s);
        enum gv_err r;

        ctx_drop_meeting(x);
        if (!c->cache_set || c->cache_gen != gen || strcmp(c->cache_room, x->ev->room) != 0) {
                cache_forget(c);
                c->cache_room = strdup(x->ev->room);
                if (!c->cache_room)
                        return GV_ENOMEM;
                r = gv_store_meeting_running(c->s, x->ev->room, &c->cache);
                if (r && r != GV_ENOTFOUND) {
                        memset(&c->cache, 0, sizeof(c->cache));
                        return r;
                }
                c->cache_has = r == GV_OK;
                c->cache_set = true;
                c->cache_gen = gen;
        }
        if (c->cache_has) {
                x->m = c->cache;
                x->in_meeting = true;
                x->m_owned = false;
        }
        return GV_OK;
}

enum gv_err ctx_person(struct ctx *x)
{
        const char *sender = x->ev->sender;
        struct gv_core *c = x->c;
        uint64_t gen = gv_store_generation(c->s);
        char alt[sizeof(x->nick)], *nick = NULL;
        enum gv_err r;

        if (!x->in_meeting)
                return GV_OK;
        if (c->people_meeting != x->m.id || c->people_gen != gen) {
                people_forget(c);
                c->people_meeting = x->m.id;
                c->people_gen = gen;
        }
        for (size_t i = 0; i < c->n_people; i++) {
                if (strcmp(c->people[i].sender, sender) == 0) {
                        /* every line: a copy, not snprintf (1.5 % of a replay) */
                        size_t n = strnlen(c->people[i].nick, sizeof(x->nick) - 1);

                        memcpy(x->nick, c->people[i].nick, n);
                        x->nick[n] = '\0';
                        return GV_OK;
                }
        }
        /* A bare console or IRC nick is its own ID: nothing to add. */
        snprintf(alt, sizeof(alt), is_matrix_user(sender) ? "%s (%s)" : "%.0s%s", x->nick, sender);
        r = gv_store_person_nick(c->s, x->m.id, sender, x->nick, alt, &nick);
        if (r)
                return r;
        snprintf(x->nick, sizeof(x->nick), "%s", nick);
        if (c->n_people < GV_PEOPLE_CACHE) {
                char *sd = strdup(sender);

                if (sd) {
                        c->people[c->n_people].sender = sd;
                        c->people[c->n_people++].nick = nick;
                        return GV_OK;
                }
        }
        free(nick);
        return GV_OK;
}

int64_t meeting_ts(const struct ctx *x)
{
        if (x->in_meeting && x->ev->ts < x->m.started)
                return x->m.started;
        return x->ev->ts;
}

const char *ech(struct ctx *x, const char *s)
{
        char *out = x->echo[x->echo_next++ % 4];
        size_t n = strlen(s), i, max = GV_ECHO_MAX;

        if (n > max) {
                n = max;
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                        n--;
        }
        for (i = 0; i < n; i++)
                out[i] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
        if (n < strlen(s)) {
                memcpy(out + i, "...", 3);
                i += 3;
        }
        out[i] = '\0';
        return out;
}

/* ---- effects ---- */

bool is_matrix_user(const char *s)
{
        return s && s[0] == '@' && strchr(s, ':') && !strchr(s, ' ');
}

/* extra: {"msgtype":..., "in_reply_to":..., "thread":..., "mentions":[...]}
 * (and "keep_event": true for a release) */
static enum gv_err message_extra_keep(struct ctx *x, bool as_reply, bool keep,
                                      const char *const *mentions, size_t n, char **ret)
{
        cJSON *o = cJSON_CreateObject(), *m = NULL;
        enum gv_err r = GV_ENOMEM;

        if (!o || !cJSON_AddStringToObject(o, "msgtype", "m.notice"))
                goto out;
        if (keep && !cJSON_AddTrueToObject(o, "keep_event"))
                goto out;
        if (as_reply && !cJSON_AddStringToObject(o, "in_reply_to", x->ev->event_id))
                goto out;
        if (as_reply && x->ev->thread_root &&
            !cJSON_AddStringToObject(o, "thread", x->ev->thread_root))
                goto out;
        m = cJSON_AddArrayToObject(o, "mentions");
        if (!m)
                goto out;
        for (size_t i = 0; i < n; i++) {
                cJSON *s;

                if (!is_matrix_user(mentions[i]))
                        continue;
                s = cJSON_CreateString(mentions[i]);
                if (!s || !cJSON_AddItemToArray(m, s)) {
                        cJSON_Delete(s);
                        goto out;
                }
        }
        *ret = cJSON_PrintUnformatted(o);
        if (*ret)
                r = GV_OK;
out:
        cJSON_Delete(o);
        return r;
}

static enum gv_err message_extra(struct ctx *x, bool as_reply, const char *const *mentions,
                                 size_t n, char **ret)
{
        return message_extra_keep(x, as_reply, false, mentions, n, ret);
}

void ctx_init(struct ctx *x, struct gv_core *c, const struct gv_event *ev)
{
        memset(x, 0, sizeof(*x));
        x->c = c;
        x->ev = ev;
        gv_buf_init(&x->rbody, GV_REPLY_MAX_BODY);
        gv_buf_init(&x->rhtml, 4 * (size_t)GV_REPLY_MAX_BODY);
}

static void replies_reset(struct ctx *x)
{
        gv_buf_reset(&x->rbody);
        gv_buf_reset(&x->rhtml);
        for (size_t i = 0; i < x->n_rmentions; i++)
                free(x->rmentions[i]);
        x->n_rmentions = 0;
        x->rpending = false;
}

void ctx_fini(struct ctx *x)
{
        replies_reset(x);
        gv_buf_free(&x->rbody);
        gv_buf_free(&x->rhtml);
}

static enum gv_err queue_now(struct ctx *x, const char *room, const char *body, const char *html,
                             bool as_reply, const char *const *mentions, size_t n_mentions)
{
        char *extra = NULL;
        enum gv_err r;

        r = message_extra(x, as_reply, mentions, n_mentions, &extra);
        if (r == GV_OK)
                r = gv_store_outbox_add(x->c->s, GV_OUT_MESSAGE, room, body, html, extra, x->ev->ts);
        cJSON_free(extra);
        return r;
}

enum gv_err flush_replies(struct ctx *x)
{
        enum gv_err r;

        if (!x->rpending)
                return GV_OK;
        r = queue_now(x, x->ev->room, gv_buf_str(&x->rbody), gv_buf_str(&x->rhtml), true,
                      (const char *const *)x->rmentions, x->n_rmentions);
        replies_reset(x);
        return r;
}

/* One more reply joins the pending ones; a full message goes out first. */
static enum gv_err gather_reply(struct ctx *x, const char *body, const char *html,
                                const char *const *mentions, size_t n_mentions)
{
        size_t bl = x->rbody.len, hl = x->rhtml.len;
        enum gv_err r = GV_OK;

        for (int attempt = 0; attempt < 2; attempt++) {
                r = GV_OK;
                if (x->rpending)
                        r = gv_buf_addc(&x->rbody, '\n');
                if (r == GV_OK)
                        r = gv_buf_adds(&x->rbody, body);
                if (r == GV_OK && x->rpending)
                        r = gv_buf_adds(&x->rhtml, "<br>\n");
                if (r == GV_OK)
                        r = gv_buf_adds(&x->rhtml, html ? html : "");
                if (r != GV_ETOOBIG)
                        break;
                /* undo the partial append, send what is gathered, start over */
                x->rbody.len = bl;
                x->rhtml.len = hl;
                if (x->rbody.p)
                        x->rbody.p[bl] = '\0';
                if (x->rhtml.p)
                        x->rhtml.p[hl] = '\0';
                if (!x->rpending)
                        return GV_ETOOBIG;      /* too big alone */
                r = flush_replies(x);
                if (r)
                        return r;
                bl = hl = 0;
        }
        if (r)
                return r;
        x->rpending = true;
        for (size_t i = 0; i < n_mentions; i++) {
                bool dup = false;

                if (!is_matrix_user(mentions[i]))
                        continue;
                for (size_t k = 0; k < x->n_rmentions && !dup; k++)
                        dup = strcmp(x->rmentions[k], mentions[i]) == 0;
                if (dup || x->n_rmentions == GV_REPLY_MAX_MENTIONS)
                        continue;
                x->rmentions[x->n_rmentions] = strdup(mentions[i]);
                if (!x->rmentions[x->n_rmentions])
                        return GV_ENOMEM;
                x->n_rmentions++;
        }
        return GV_OK;
}

enum gv_err queue_message(struct ctx *x, const char *room, const char *body,
                          const char *html, bool as_reply, const char *const *mentions,
                          size_t n_mentions)
{
        enum gv_err r;

        if (as_reply && strcmp(room, x->ev->room) == 0)
                return gather_reply(x, body, html, mentions, n_mentions);
        r = flush_replies(x);
        return r ? r : queue_now(x, room, body, html, as_reply, mentions, n_mentions);
}

/* Bytes that may continue a Matrix user ID: a pill needs none on either side. */
static bool id_byte(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c != '\0' && strchr("._=-/+:@[]", c));
}

/* Length of the pinged user ID that starts at p (a whole word of line), or 0. */
static size_t pill_at(const char *line, const char *p, const char *const *pings, size_t n)
{
        if (*p != '@' || (p > line && id_byte(p[-1])))
                return 0;
        for (size_t i = 0; i < n; i++) {
                size_t len;

                if (!is_matrix_user(pings[i]))
                        continue;
                len = strlen(pings[i]);
                if (strncmp(p, pings[i], len) != 0)
                        continue;
                /* "@a:b.org." ends a sentence; "@a:b.org.uk" is someone else. */
                if (!id_byte(p[len]) || (p[len] == '.' && !id_byte(p[len + 1])))
                        return len;
        }
        return 0;
}

/* <a href="https://matrix.to/#/@alice:example.org">@alice:example.org</a> */
static enum gv_err put_pill(struct gv_buf *html, const char *user_id)
{
        struct gv_buf link = GV_BUF_INIT(4096);
        enum gv_err r;

        r = gv_permalink_user(&link, user_id);
        if (r == GV_OK)
                r = gv_buf_adds(html, "<a href=\"");
        if (r == GV_OK)
                r = gv_html_escape(html, gv_buf_str(&link));
        if (r == GV_OK)
                r = gv_buf_adds(html, "\">");
        if (r == GV_OK)
                r = gv_html_escape(html, user_id);
        if (r == GV_OK)
                r = gv_buf_adds(html, "</a>");
        gv_buf_free(&link);
        return r;
}

/* The text escaped, lines joined by <br>, and each pinged Matrix ID a pill. */
enum gv_err text_html(const char *text, const char *const *pings, size_t n_pings,
                             struct gv_buf *html)
{
        enum gv_err r = GV_OK;
        const char *p = text;

        while (r == GV_OK && *p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                char *line = strndup(p, n), *seg, *q;

                if (!line)
                        return GV_ENOMEM;
                for (seg = q = line; r == GV_OK && *q;) {
                        size_t len = pill_at(line, q, pings, n_pings);
                        char saved;

                        if (!len) {
                                q++;
                                continue;
                        }
                        saved = *q;
                        *q = '\0';
                        r = gv_html_escape(html, seg);
                        *q = saved;
                        saved = q[len];
                        q[len] = '\0';
                        if (r == GV_OK)
                                r = put_pill(html, q);
                        q[len] = saved;
                        seg = q += len;
                }
                if (r == GV_OK)
                        r = gv_html_escape(html, seg);
                free(line);
                if (r == GV_OK && nl)
                        r = gv_buf_adds(html, "<br>");
                p += n + (nl ? 1 : 0);
        }
        return r;
}

/* A reply; the Matrix IDs among mentions are pinged: listed in m.mentions and
 * shown as pills. */
enum gv_err reply_pinging(struct ctx *x, const char *text, const char *const *mentions,
                          size_t n)
{
        struct gv_buf html = GV_BUF_INIT(1 << 20);
        enum gv_err r;

        r = text_html(text, mentions, n, &html);
        if (r == GV_OK)
                r = queue_message(x, x->ev->room, text, gv_buf_str(&html), true, mentions, n);
        gv_buf_free(&html);
        return r == GV_ETOOBIG ? GV_OK : r;
}

enum gv_err reply(struct ctx *x, const char *text)
{
        return reply_pinging(x, text, NULL, 0);
}

enum gv_err replyf(struct ctx *x, const char *fmt, ...)
{
        struct gv_buf b = GV_BUF_INIT(1 << 20);
        va_list ap;
        enum gv_err r;

        va_start(ap, fmt);
        r = gv_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        if (r == GV_OK)
                r = reply(x, gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}

enum gv_err queue_reaction(struct ctx *x, const char *key)
{
        cJSON *o = cJSON_CreateObject();
        char *extra = NULL;
        enum gv_err r = GV_ENOMEM;

        r = flush_replies(x);
        if (r)
                goto out;
        r = GV_ENOMEM;
        if (!o || !cJSON_AddStringToObject(o, "event_id", x->ev->event_id) ||
            !cJSON_AddStringToObject(o, "key", key))
                goto out;
        extra = cJSON_PrintUnformatted(o);
        if (!extra)
                goto out;
        r = gv_store_outbox_add(x->c->s, GV_OUT_REACTION, x->ev->room, key, NULL, extra, x->ev->ts);
out:
        cJSON_free(extra);
        cJSON_Delete(o);
        return r;
}

enum gv_err queue_release(struct ctx *x, const char *room, const char *text, const char *html,
                          const char *const *pings, size_t n, int64_t *row)
{
        char *extra = NULL;
        enum gv_err r = flush_replies(x);

        if (r == GV_OK)
                r = message_extra_keep(x, false, true, pings, n, &extra);
        if (r == GV_OK)
                r = gv_store_outbox_add_id(x->c->s, GV_OUT_MESSAGE, room, text, html, extra,
                                           x->ev->ts, row);
        cJSON_free(extra);
        return r;
}

/* {"meeting": id, "format": f} or {"meeting": id, "header": h} */
static enum gv_err minutes_extra(struct ctx *x, const char *format, const char *header, char **ret)
{
        cJSON *o = cJSON_CreateObject();
        enum gv_err r = GV_ENOMEM;

        if (!o || !cJSON_AddNumberToObject(o, "meeting", (double)x->m.id) ||
            (format && !cJSON_AddStringToObject(o, "format", format)) ||
            (header && !cJSON_AddStringToObject(o, "header", header)) ||
            !cJSON_AddStringToObject(o, "msgtype", "m.notice") ||
            !cJSON_AddArrayToObject(o, "mentions"))
                goto out;
        *ret = cJSON_PrintUnformatted(o);
        if (*ret)
                r = GV_OK;
out:
        cJSON_Delete(o);
        return r;
}

enum gv_err queue_minutes(struct ctx *x, enum gv_out_kind kind, const char *room,
                          const char *format, const char *header)
{
        char *extra = NULL;
        enum gv_err r = flush_replies(x);

        if (r == GV_OK)
                r = minutes_extra(x, format, header, &extra);
        if (r == GV_OK)
                r = gv_store_outbox_add(x->c->s, kind, room, "", NULL, extra, x->ev->ts);
        cJSON_free(extra);
        return r;
}

/* ---- wikis and webhooks (issue 9) ---- */

static enum gv_err queue_job(struct ctx *x, enum gv_out_kind kind, const char *lane,
                             cJSON *extra)
{
        char *text = cJSON_PrintUnformatted(extra);
        enum gv_err r = text ? GV_OK : GV_ENOMEM;

        if (r == GV_OK)
                r = gv_store_outbox_add(x->c->s, kind, lane, "", NULL, text, x->ev->ts);
        cJSON_free(text);
        return r;
}

enum gv_err queue_hooks(struct ctx *x, unsigned event, int64_t meeting, int64_t item)
{
        const struct gv_config *cfg = x->c->cfg;
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < cfg->n_webhooks && r == GV_OK; i++) {
                cJSON *o;
                char lane[32];

                if (!(cfg->webhooks[i].events & event))
                        continue;
                o = cJSON_CreateObject();
                if (!o || !cJSON_AddStringToObject(o, "event", gv_config_hook_name(event)) ||
                    !cJSON_AddNumberToObject(o, "webhook", (double)i) ||
                    (meeting && !cJSON_AddNumberToObject(o, "meeting", (double)meeting)) ||
                    (item && !cJSON_AddNumberToObject(o, "item", (double)item))) {
                        cJSON_Delete(o);
                        return GV_ENOMEM;
                }
                snprintf(lane, sizeof(lane), "webhook:%zu", i);
                r = queue_job(x, GV_OUT_WEBHOOK, lane, o);
                cJSON_Delete(o);
        }
        return r;
}

enum gv_err queue_publish(struct ctx *x)
{
        const struct gv_config *cfg = x->c->cfg;
        struct gv_item *items = NULL;
        size_t n = 0;
        enum gv_err r = flush_replies(x);

        for (size_t i = 0; i < cfg->n_wiki && r == GV_OK; i++) {
                cJSON *o;
                char lane[32];

                if (!gv_config_wiki_wants(cfg, i, x->m.agenda))
                        continue;
                o = cJSON_CreateObject();
                if (!o || !cJSON_AddNumberToObject(o, "meeting", (double)x->m.id) ||
                    !cJSON_AddNumberToObject(o, "wiki", (double)i)) {
                        cJSON_Delete(o);
                        return GV_ENOMEM;
                }
                snprintf(lane, sizeof(lane), "wiki:%zu", i);
                r = queue_job(x, GV_OUT_WIKI, lane, o);
                cJSON_Delete(o);
        }
        if (r == GV_OK && cfg->n_webhooks)
                r = gv_store_items_discussed(x->c->s, x->m.id, &items, &n);
        for (size_t i = 0; i < n && r == GV_OK; i++)
                r = queue_hooks(x, GV_HOOK_ITEM_DISCUSSED, x->m.id, items[i].id);
        gv_items_free(items, n);
        if (r == GV_OK)
                r = queue_hooks(x, GV_HOOK_MINUTES_PUBLISHED, x->m.id, 0);
        return r;
}

/* ---- permissions ---- */

enum gv_err is_chair(struct ctx *x, bool *chair)
{
        *chair = x->ev->power >= x->c->cfg->chair_power_level;
        if (*chair || !x->in_meeting)
                return GV_OK;
        return gv_store_chair_is(x->c->s, x->m.id, x->ev->sender, chair);
}

void add_nick(void *ud, const char *nick)
{
        struct gv_buf *b = ud;

        if (gv_buf_printf(b, "%s%s", b->len ? ", " : "", nick))
                return;
}

enum gv_err chairs_text(struct ctx *x, struct gv_buf *b)
{
        return gv_store_chairs(x->c->s, x->m.id, add_nick, b);
}

/* ---- the meeting's record ---- */

enum gv_err note_item(struct ctx *x, enum gv_mkind kind, const char *text, size_t len)
{
        struct gv_mitem it;
        enum gv_err r;

        memset(&it, 0, sizeof(it));
        it.ts = meeting_ts(x);
        it.nick = x->nick;
        it.kind = kind;
        it.text = strndup(text, len);
        if (!it.text)
                return GV_ENOMEM;
        it.topic = x->m.topic;
        it.event_id = (char *)x->ev->event_id;
        it.sender = (char *)x->ev->sender;
        r = gv_store_mitem_add(x->c->s, x->m.id, &it, NULL);
        free(it.text);
        return r;
}

enum gv_err start_topic(struct ctx *x, const char *text, const struct gv_item *item)
{
        struct gv_mitem it;
        int64_t id;
        enum gv_err r;
        const char *pings[GV_MAX_MENTIONS + 1];
        size_t n = 0;
        char *mentions = NULL;

        memset(&it, 0, sizeof(it));
        it.ts = meeting_ts(x);
        it.nick = x->nick;
        it.kind = GV_M_TOPIC;
        it.text = (char *)text;
        it.agenda_item = item ? item->id : 0;
        it.event_id = (char *)x->ev->event_id;
        it.sender = (char *)x->ev->sender;
        r = gv_store_mitem_add(x->c->s, x->m.id, &it, &id);
        if (r == GV_OK)
                r = gv_store_meeting_set_topic(x->c->s, x->m.id, id);
        if (r)
                return r;
        x->m.topic = id;
        if (!item)
                return replyf(x, "Topic: %s", ech(x, text));
        r = gv_store_item_set_discussed(x->c->s, item->id, x->m.id);
        if (r)
                return r;
        mentions = strdup(item->mentions);
        if (!mentions)
                return GV_ENOMEM;
        pings[n++] = item->reporter;
        for (char *save = NULL, *w = strtok_r(mentions, " ", &save); w && n < GV_MAX_MENTIONS + 1;
             w = strtok_r(NULL, " ", &save))
                pings[n++] = w;
        {
                struct gv_buf t = GV_BUF_INIT(1 << 16);

                r = gv_buf_printf(&t, "Topic: %s (agenda item raised by %s", ech(x, text),
                                  item->reporter);
                if (r == GV_OK && item->mentions[0])
                        r = gv_buf_printf(&t, "; cc %s", item->mentions);
                if (r == GV_OK)
                        r = gv_buf_adds(&t, ")");
                if (r == GV_OK)
                        r = reply_pinging(x, gv_buf_str(&t), pings, n);
                gv_buf_free(&t);
        }
        free(mentions);
        return r;
}
