/* handlers/commands.c - the one command table and what each command does.
 * The table drives dispatch, arity and permission checks, !help, #commands
 * and gv_commands_describe(). */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/log.h"
#include "../util/text.h"
#include "internal.h"
#include "minutes.h"

#define MAX_VOTE_OPTIONS 20
#define MAX_OPTION_BYTES 64
#define MAX_ITEM_NUMBER 100000

enum {
        F_CHAIR = 1 << 0,       /* chairs only */
        F_MEETING = 1 << 1,     /* only while a meeting runs */
        F_ARG = 1 << 2,         /* needs an argument */
};

struct cmd {
        const char *name;
        enum gv_err (*fn)(struct ctx *x, const struct cmd *c, char *args);
        unsigned flags;
        const char *usage;      /* after the command word */
        const char *help;
        enum gv_mkind kind;     /* for the note commands */
};

static const struct cmd *find_cmd(const char *name, size_t len);

/* ---- effects ---- */

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

static bool is_matrix_user(const char *s)
{
        return s && s[0] == '@' && strchr(s, ':') && !strchr(s, ' ');
}

/* extra: {"msgtype":..., "in_reply_to":..., "thread":..., "mentions":[...]} */
static enum gv_err message_extra(struct ctx *x, bool as_reply, const char *const *mentions,
                                 size_t n, char **ret)
{
        cJSON *o = cJSON_CreateObject(), *m = NULL;
        enum gv_err r = GV_ENOMEM;

        if (!o || !cJSON_AddStringToObject(o, "msgtype", "m.notice"))
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

static enum gv_err queue_message(struct ctx *x, const char *room, const char *body,
                                 const char *html, bool as_reply, const char *const *mentions,
                                 size_t n_mentions)
{
        char *extra = NULL;
        enum gv_err r;

        r = message_extra(x, as_reply, mentions, n_mentions, &extra);
        if (r == GV_OK)
                r = gv_store_outbox_add(x->c->s, "message", room, body, html, extra, x->ev->ts);
        cJSON_free(extra);
        return r;
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
static enum gv_err text_html(const char *text, const char *const *pings, size_t n_pings,
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
static enum gv_err reply_pinging(struct ctx *x, const char *text, const char *const *mentions,
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

        if (!o || !cJSON_AddStringToObject(o, "event_id", x->ev->event_id) ||
            !cJSON_AddStringToObject(o, "key", key))
                goto out;
        extra = cJSON_PrintUnformatted(o);
        if (!extra)
                goto out;
        r = gv_store_outbox_add(x->c->s, "reaction", x->ev->room, key, NULL, extra, x->ev->ts);
out:
        cJSON_free(extra);
        cJSON_Delete(o);
        return r;
}

/* ---- permissions ---- */

static enum gv_err is_chair(struct ctx *x, bool *chair)
{
        *chair = x->ev->power >= x->c->cfg->chair_power_level;
        if (*chair || !x->in_meeting)
                return GV_OK;
        return gv_store_chair_is(x->c->s, x->m.id, x->nick, chair);
}

static void add_nick(void *ud, const char *nick)
{
        struct gv_buf *b = ud;

        if (gv_buf_printf(b, "%s%s", b->len ? ", " : "", nick))
                return;
}

static enum gv_err chairs_text(struct ctx *x, struct gv_buf *b)
{
        return gv_store_chairs(x->c->s, x->m.id, add_nick, b);
}

/* ---- agenda helpers ---- */

const char *tag_for_agenda(const struct gv_config *cfg, const char *agenda)
{
        for (size_t i = 0; i < cfg->n_tags; i++)
                if (strcmp(cfg->tags[i].agenda, agenda) == 0)
                        return cfg->tags[i].tag;
        return agenda;
}

static const char *room_agenda(struct ctx *x)
{
        return x->in_meeting ? x->m.agenda : gv_config_agenda_for_room(x->c->cfg, x->ev->room);
}

enum gv_err agenda_index_of(struct ctx *x, const char *agenda, int64_t id, size_t *index)
{
        struct gv_item *items = NULL;
        size_t n = 0;
        enum gv_err r;

        *index = 0;
        r = gv_store_agenda(x->c->s, agenda, &items, &n);
        if (r)
                return r;
        for (size_t i = 0; i < n; i++)
                if (items[i].id == id)
                        *index = i + 1;
        gv_items_free(items, n);
        return GV_OK;
}

/* Resolves "N" against the room's agenda; replies and returns GV_EINVAL when
 * it does not name an item. */
static enum gv_err resolve_item(struct ctx *x, const char *arg, struct gv_item *out, size_t *index)
{
        struct gv_item *items = NULL;
        size_t n = 0;
        uint64_t k;
        enum gv_err r;

        if (gv_parse_u64(arg, MAX_ITEM_NUMBER, &k) != GV_OK || k == 0) {
                r = replyf(x, "'%s' is not an agenda item number; see !agenda for the numbers.",
                           ech(x, arg));
                return r ? r : GV_EINVAL;
        }
        r = gv_store_agenda(x->c->s, room_agenda(x), &items, &n);
        if (r)
                return r;
        if (k > n) {
                gv_items_free(items, n);
                if (n == 0)
                        r = replyf(x, "There is no item %llu: the %s agenda is empty.",
                                   (unsigned long long)k, room_agenda(x));
                else
                        r = replyf(x, "There is no item %llu: the %s agenda has %zu item%s.",
                                   (unsigned long long)k, room_agenda(x), n, n == 1 ? "" : "s");
                return r ? r : GV_EINVAL;
        }
        *out = items[k - 1];
        memset(&items[k - 1], 0, sizeof(items[k - 1]));
        *index = (size_t)k;
        gv_items_free(items, n);
        return GV_OK;
}

static enum gv_err format_agenda(struct ctx *x, const char *agenda, struct gv_buf *t,
                                 struct gv_buf *h)
{
        struct gv_item *items = NULL;
        size_t n = 0;
        enum gv_err r;

        r = gv_store_agenda(x->c->s, agenda, &items, &n);
        if (r)
                return r;
        if (n == 0) {
                const char *tag = tag_for_agenda(x->c->cfg, agenda);

                r = gv_buf_printf(t, "The %s agenda is empty. Tag a message with #%s to add an item.",
                                  agenda, tag);
                if (r == GV_OK)
                        r = gv_buf_printf(h, "The <b>%s</b> agenda is empty. Tag a message with "
                                             "<code>#%s</code> to add an item.", agenda, tag);
                goto out;
        }
        r = gv_buf_printf(t, "Agenda for %s (%zu item%s):", agenda, n, n == 1 ? "" : "s");
        if (r == GV_OK)
                r = gv_buf_printf(h, "<p>Agenda for <b>%s</b> (%zu item%s):</p>\n<ol>", agenda, n,
                                  n == 1 ? "" : "s");
        for (size_t i = 0; i < n && r == GV_OK; i++) {
                const struct gv_item *it = &items[i];
                const char *flag = it->pinned ? " [pinned]" :
                                   it->status == GV_ITEM_POSTPONED ? " [postponed]" :
                                   (x->in_meeting && it->discussed_in == x->m.id) ? " [discussed]" : "";

                r = gv_buf_printf(t, "\n%zu. %s%s (reporter %s", i + 1, it->description, flag,
                                  it->reporter);
                if (r == GV_OK && it->mentions[0])
                        r = gv_buf_printf(t, "; mentions %s", it->mentions);
                if (r == GV_OK)
                        r = gv_buf_adds(t, ")");
                if (r == GV_OK)
                        r = gv_buf_adds(h, "\n<li>");
                if (r == GV_OK && it->event_id) {
                        r = gv_buf_adds(h, "<a href=\"");
                        if (r == GV_OK) {
                                struct gv_buf link = GV_BUF_INIT(4096);

                                r = gv_permalink(&link, it->room, it->event_id);
                                if (r == GV_OK)
                                        r = gv_html_escape(h, gv_buf_str(&link));
                                gv_buf_free(&link);
                        }
                        if (r == GV_OK)
                                r = gv_buf_adds(h, "\">");
                }
                if (r == GV_OK)
                        r = gv_html_escape(h, it->description);
                if (r == GV_OK && it->event_id)
                        r = gv_buf_adds(h, "</a>");
                if (r == GV_OK && *flag)
                        r = gv_buf_printf(h, " <i>%s</i>", flag + 1);
                if (r == GV_OK)
                        r = gv_buf_adds(h, " (reporter ");
                if (r == GV_OK)
                        r = gv_html_escape(h, it->reporter);
                if (r == GV_OK && it->mentions[0]) {
                        r = gv_buf_adds(h, "; mentions ");
                        if (r == GV_OK)
                                r = gv_html_escape(h, it->mentions);
                }
                if (r == GV_OK)
                        r = gv_buf_adds(h, ")</li>");
        }
        if (r == GV_OK)
                r = gv_buf_adds(h, "\n</ol>");
out:
        gv_items_free(items, n);
        return r;
}

static enum gv_err show_agenda(struct ctx *x)
{
        struct gv_buf t = GV_BUF_INIT(1 << 20), h = GV_BUF_INIT(4 << 20);
        enum gv_err r;

        r = format_agenda(x, room_agenda(x), &t, &h);
        if (r == GV_OK)
                r = queue_message(x, x->ev->room, gv_buf_str(&t), gv_buf_str(&h), true, NULL, 0);
        gv_buf_free(&t);
        gv_buf_free(&h);
        return r;
}

/* ---- meeting items ---- */

enum gv_err note_item(struct ctx *x, enum gv_mkind kind, const char *text, size_t len)
{
        struct gv_mitem it;
        enum gv_err r;

        memset(&it, 0, sizeof(it));
        it.ts = x->ev->ts;
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

static enum gv_err start_topic(struct ctx *x, const char *text, const struct gv_item *item)
{
        struct gv_mitem it;
        int64_t id;
        enum gv_err r;
        const char *pings[GV_MAX_MENTIONS + 1];
        size_t n = 0;
        char *mentions = NULL;

        memset(&it, 0, sizeof(it));
        it.ts = x->ev->ts;
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

/* ---- commands ---- */

static enum gv_err cmd_note(struct ctx *x, const struct cmd *c, char *args)
{
        return note_item(x, c->kind, args, strlen(args));
}

static enum gv_err cmd_startmeeting(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_meeting m;
        struct gv_item *items = NULL;
        size_t n = 0;
        char when[32];
        int64_t id;
        enum gv_err r;

        (void)c;
        if (x->in_meeting)
                return replyf(x, "A meeting is already running here (%s, started by %s); "
                                 "#endmeeting ends it.", ech(x, x->m.name), x->m.starter);
        memset(&m, 0, sizeof(m));
        m.room = (char *)x->ev->room;
        m.name = *args ? args : x->c->cfg->meeting_label;
        m.agenda = (char *)gv_config_agenda_for_room(x->c->cfg, x->ev->room);
        m.starter = x->nick;
        m.started = x->ev->ts;
        r = gv_store_meeting_start(x->c->s, &m, &id);
        if (r == GV_OK)
                r = gv_store_chair_set(x->c->s, id, x->nick, true);
        if (r == GV_OK)
                r = ctx_load_meeting(x);
        if (r == GV_OK)
                r = gv_store_agenda(x->c->s, x->m.agenda, &items, &n);
        if (r)
                return r;
        gv_items_free(items, n);
        gv_fmt_ctime(x->ev->ts, when);
        return replyf(x, "Meeting started %s UTC. The chair is %s.\n"
                         "Useful commands: #action #agreed #help #info #idea #link #topic.\n"
                         "The meeting name has been set to '%s'.\n"
                         "The %s agenda has %zu item%s: !agenda lists them, !agenda take N starts one.",
                      when, x->nick, ech(x, x->m.name), x->m.agenda, n, n == 1 ? "" : "s");
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

static enum gv_err queue_minutes(struct ctx *x, const char *kind, const char *room,
                                 const char *format, const char *header)
{
        char *extra = NULL;
        enum gv_err r = minutes_extra(x, format, header, &extra);

        if (r == GV_OK)
                r = gv_store_outbox_add(x->c->s, kind, room, "", NULL, extra, x->ev->ts);
        cJSON_free(extra);
        return r;
}

/* The minutes go out as outbox rows that name the meeting; the text is
 * rendered from the store when each row is delivered (see minutes.h). */
static enum gv_err cmd_endmeeting(struct ctx *x, const struct cmd *c, char *args)
{
        static const enum gv_minutes_fmt files[] = {
                GV_MIN_TEXT, GV_MIN_HTML_PAGE, GV_MIN_LOG_TEXT, GV_MIN_LOG_HTML, GV_MIN_MARKDOWN,
        };
        char base[96], date[16], name[128], header[512];
        enum gv_err r;

        (void)c;
        (void)args;
        r = gv_store_meeting_end(x->c->s, x->m.id, x->ev->ts);
        if (r == GV_OK)
                r = gv_store_agenda_close_meeting(x->c->s, x->m.agenda, x->m.id);
        if (r == GV_OK)
                r = queue_minutes(x, "minutes", x->ev->room, NULL, NULL);
        gv_fmt_human_date(x->m.started, date);
        snprintf(header, sizeof(header), "#meeting-notes for %s %s", date, ech(x, x->m.name));
        for (size_t i = 0; i < x->c->cfg->n_crosspost_rooms && r == GV_OK; i++) {
                const char *room = x->c->cfg->crosspost_rooms[i];

                if (strcmp(room, x->ev->room) != 0)
                        r = queue_minutes(x, "minutes", room, NULL, header);
        }
        gv_minutes_basename(x->m.name, x->m.started, base);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && r == GV_OK; i++) {
                const char *fmt = gv_minutes_format_name(files[i]);

                snprintf(name, sizeof(name), "%s.%s", base, fmt);
                r = queue_minutes(x, "file", name, fmt, NULL);
        }
        if (r)
                return r;
        ctx_drop_meeting(x);
        return GV_OK;
}

static enum gv_err cmd_topic(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_item *items = NULL;
        size_t n = 0;
        enum gv_err r;
        const struct gv_item *match = NULL;

        (void)c;
        r = gv_store_agenda(x->c->s, x->m.agenda, &items, &n);
        if (r)
                return r;
        for (size_t i = 0; i < n && !match; i++)
                if (gv_ieq(items[i].description, args))
                        match = &items[i];
        r = start_topic(x, args, match);
        gv_items_free(items, n);
        return r;
}

static enum gv_err cmd_help(struct ctx *x, const struct cmd *c, char *args);

static enum gv_err cmd_helpitem(struct ctx *x, const struct cmd *c, char *args)
{
        if (!*args || !x->in_meeting)
                return cmd_help(x, c, args);
        return note_item(x, GV_M_HELP, args, strlen(args));
}

static enum gv_err split_nicks(struct ctx *x, char *args, bool chair)
{
        struct gv_buf b = GV_BUF_INIT(1 << 16);
        enum gv_err r = GV_OK;
        char *save = NULL;

        for (char *w = strtok_r(args, " ,", &save); w && r == GV_OK; w = strtok_r(NULL, " ,", &save)) {
                char nick[128];

                gv_nick_of(w, nick, sizeof(nick));
                if (!chair && gv_ieq(nick, x->m.starter)) {
                        r = replyf(x, "%s started the meeting and stays a chair.", x->m.starter);
                        continue;
                }
                r = gv_store_chair_set(x->c->s, x->m.id, nick, chair);
        }
        if (r == GV_OK)
                r = chairs_text(x, &b);
        if (r == GV_OK)
                r = replyf(x, "Current chairs: %s", gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}

static enum gv_err cmd_chair(struct ctx *x, const struct cmd *c, char *args)
{
        (void)c;
        return split_nicks(x, args, true);
}

static enum gv_err cmd_unchair(struct ctx *x, const struct cmd *c, char *args)
{
        (void)c;
        return split_nicks(x, args, false);
}

static enum gv_err cmd_undo(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_mitem it;
        int64_t topic;
        enum gv_err r;

        (void)c;
        (void)args;
        r = gv_store_mitem_undo(x->c->s, x->m.id, &it);
        if (r == GV_ENOTFOUND)
                return reply(x, "Nothing to undo: no items have been noted yet.");
        if (r)
                return r;
        if (it.kind == GV_M_TOPIC) {
                r = gv_store_last_topic(x->c->s, x->m.id, &topic);
                if (r == GV_OK)
                        r = gv_store_meeting_set_topic(x->c->s, x->m.id, topic);
                if (r == GV_OK && it.agenda_item)
                        r = gv_store_item_set_discussed(x->c->s, it.agenda_item, 0);
        }
        if (r == GV_OK)
                r = replyf(x, "Removed item from minutes: %s: %s", gv_mkind_label(it.kind),
                           ech(x, it.text));
        gv_mitem_clear(&it);
        return r;
}

static enum gv_err cmd_meetingname(struct ctx *x, const struct cmd *c, char *args)
{
        enum gv_err r;

        (void)c;
        r = gv_store_meeting_set_name(x->c->s, x->m.id, args);
        if (r)
                return r;
        return replyf(x, "The meeting name has been set to '%s'.", ech(x, args));
}

static enum gv_err cmd_nick(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_buf b = GV_BUF_INIT(1 << 16);
        enum gv_err r = GV_OK;
        char *save = NULL;

        (void)c;
        for (char *w = strtok_r(args, " ,", &save); w && r == GV_OK; w = strtok_r(NULL, " ,", &save)) {
                char nick[128];

                gv_nick_of(w, nick, sizeof(nick));
                r = gv_store_nick_add(x->c->s, x->m.id, nick);
        }
        if (r == GV_OK)
                r = gv_store_nicks(x->c->s, x->m.id, add_nick, &b);
        if (r == GV_OK)
                r = replyf(x, "Nicks added for action items: %s", gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}

/* "Question? A, B, C" -> question "Question?" and options "A, B, C". */
static enum gv_err cmd_startvote(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_vote v;
        struct gv_buf opts = GV_BUF_INIT(MAX_VOTE_OPTIONS * (MAX_OPTION_BYTES + 2));
        char *q = strrchr(args, '?'), *save = NULL;
        size_t n = 0;
        int64_t id;
        enum gv_err r;

        (void)c;
        r = gv_store_vote_current(x->c->s, x->m.id, &v);
        if (r == GV_OK) {
                r = replyf(x, "A vote is already open: %s #endvote closes it.", ech(x, v.question));
                gv_vote_clear(&v);
                return r;
        }
        if (r != GV_ENOTFOUND)
                return r;
        if (!q || q == args)
                return reply(x, "Usage: #startvote <question>? <option>, <option>, ...");
        *q++ = '\0';
        for (char *w = strtok_r(q, ",/", &save); w; w = strtok_r(NULL, ",/", &save)) {
                size_t l;

                while (*w == ' ' || *w == '\t')
                        w++;
                l = strlen(w);
                while (l && (w[l - 1] == ' ' || w[l - 1] == '\t'))
                        w[--l] = '\0';
                if (!l)
                        continue;
                if (l > MAX_OPTION_BYTES || n >= MAX_VOTE_OPTIONS)
                        return replyf(x, "A vote takes at most %d options of at most %d bytes each.",
                                      MAX_VOTE_OPTIONS, MAX_OPTION_BYTES);
                if (gv_buf_printf(&opts, "%s%s", n ? ", " : "", w))
                        break;
                n++;
        }
        if (n < 2) {
                gv_buf_free(&opts);
                return reply(x, "A vote needs at least two options: #startvote <question>? A, B");
        }
        r = gv_buf_addc(&opts, '\0') ? GV_ETOOBIG : GV_OK;
        {
                struct gv_buf qq = GV_BUF_INIT(8192);

                if (r == GV_OK)
                        r = gv_buf_printf(&qq, "%s?", args);
                if (r == GV_OK)
                        r = gv_store_vote_open(x->c->s, x->m.id, gv_buf_str(&qq), gv_buf_str(&opts),
                                               x->ev->ts, &id);
                if (r == GV_OK)
                        r = replyf(x, "Begin voting on: %s Valid vote options are %s.\n"
                                      "Vote with #vote <option>. Only your last vote counts.",
                                   ech(x, gv_buf_str(&qq)), ech(x, gv_buf_str(&opts)));
                gv_buf_free(&qq);
        }
        gv_buf_free(&opts);
        return r;
}

/* The canonical spelling of choice among options, or NULL. */
static char *match_option(const char *options, const char *choice)
{
        char *copy = strdup(options), *save = NULL, *hit = NULL;

        if (!copy)
                return NULL;
        for (char *w = strtok_r(copy, ",", &save); w && !hit; w = strtok_r(NULL, ",", &save)) {
                while (*w == ' ')
                        w++;
                if (gv_ieq(w, choice))
                        hit = strdup(w);
        }
        free(copy);
        return hit;
}

static enum gv_err cmd_vote(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_vote v;
        char *choice;
        enum gv_err r;

        (void)c;
        r = gv_store_vote_current(x->c->s, x->m.id, &v);
        if (r == GV_ENOTFOUND)
                return reply(x, "No vote is open; a chair starts one with #startvote.");
        if (r)
                return r;
        choice = match_option(v.options, args);
        if (!choice)
                r = replyf(x, "'%s' is not a valid option; valid options are %s.", ech(x, args),
                           ech(x, v.options));
        else
                r = gv_store_vote_cast(x->c->s, v.id, x->nick, choice, x->ev->ts);
        free(choice);
        gv_vote_clear(&v);
        return r;
}

struct tally {
        struct gv_buf *b;
        enum gv_err r;
};

static void add_tally(void *ud, const char *choice, int64_t n)
{
        struct tally *t = ud;

        if (t->r == GV_OK)
                t->r = gv_buf_printf(t->b, "%s%s (%lld)", t->b->len ? ", " : "", choice,
                                     (long long)n);
}

static enum gv_err cmd_endvote(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_vote v;
        struct gv_buf res = GV_BUF_INIT(1 << 16), text = GV_BUF_INIT(1 << 17);
        struct tally t = { &res, GV_OK };
        enum gv_err r;

        (void)c;
        (void)args;
        r = gv_store_vote_current(x->c->s, x->m.id, &v);
        if (r == GV_ENOTFOUND)
                return reply(x, "No vote is open.");
        if (r)
                return r;
        r = gv_store_vote_close(x->c->s, v.id, x->ev->ts);
        if (r == GV_OK)
                r = gv_store_vote_tally(x->c->s, v.id, add_tally, &t);
        if (r == GV_OK)
                r = t.r;
        if (r == GV_OK)
                r = gv_buf_printf(&text, "%s Results: %s", v.question,
                                  res.len ? gv_buf_str(&res) : "no votes");
        if (r == GV_OK)
                r = note_item(x, GV_M_VOTE, text.p, text.len);
        if (r == GV_OK)
                r = replyf(x, "Voted on: %s", ech(x, gv_buf_str(&text)));
        gv_buf_free(&res);
        gv_buf_free(&text);
        gv_vote_clear(&v);
        return r;
}

static enum gv_err cmd_agenda(struct ctx *x, const struct cmd *c, char *args)
{
        char *sub = args, *rest, *save = NULL;
        struct gv_item it;
        size_t index = 0;
        bool chair = false;
        enum gv_err r;

        (void)c;
        if (!*args)
                return show_agenda(x);
        rest = strpbrk(args, " \t");
        if (rest) {
                *rest++ = '\0';
                while (*rest == ' ' || *rest == '\t')
                        rest++;
        } else {
                rest = args + strlen(args);
        }
        if (gv_ieq(sub, "add")) {
                struct gv_item add;
                int64_t id;

                if (!*rest)
                        return reply(x, "Usage: !agenda add <text>");
                if (strlen(rest) > 1024)
                        return reply(x, "An agenda item may be at most 1024 bytes long.");
                memset(&add, 0, sizeof(add));
                add.agenda = (char *)room_agenda(x);
                add.description = rest;
                add.reporter = (char *)x->ev->sender;
                add.mentions = "";
                add.room = (char *)x->ev->room;
                add.created = x->ev->ts;
                r = gv_store_item_add(x->c->s, &add, &id);
                if (r == GV_OK)
                        r = agenda_index_of(x, add.agenda, id, &index);
                if (r)
                        return r;
                return replyf(x, "Added to the %s agenda as item %zu: %s", add.agenda, index,
                              ech(x, rest));
        }
        if (!gv_ieq(sub, "drop") && !gv_ieq(sub, "pin") && !gv_ieq(sub, "unpin") &&
            !gv_ieq(sub, "postpone") && !gv_ieq(sub, "done") && !gv_ieq(sub, "move") &&
            !gv_ieq(sub, "take"))
                return replyf(x, "Unknown agenda command '%s'. Try: !agenda, !agenda add <text>, "
                                 "drop N, pin N, unpin N, postpone N, move N M, done N, take N.",
                              ech(x, sub));
        {
                char *num = strtok_r(rest, " \t", &save);

                if (!num)
                        return replyf(x, "Usage: !agenda %s N%s", sub,
                                      gv_ieq(sub, "move") ? " M" : "");
                r = resolve_item(x, num, &it, &index);
                if (r)
                        return r == GV_EINVAL ? GV_OK : r;
        }
        r = is_chair(x, &chair);
        if (r)
                goto out;
        if (gv_ieq(sub, "drop")) {
                if (!chair && strcmp(it.reporter, x->ev->sender) != 0) {
                        r = replyf(x, "Only chairs or the reporter (%s) can drop item %zu.",
                                   it.reporter, index);
                        goto out;
                }
                r = gv_store_item_set_status(x->c->s, it.id, GV_ITEM_DROPPED);
                if (r == GV_OK)
                        r = replyf(x, "Dropped item %zu: %s", index, ech(x, it.description));
        } else if (gv_ieq(sub, "pin") || gv_ieq(sub, "unpin")) {
                bool pin = gv_ieq(sub, "pin");

                r = gv_store_item_set_pinned(x->c->s, it.id, pin);
                if (r == GV_OK)
                        r = replyf(x, "%s item: %s", pin ? "Pinned" : "Unpinned",
                                   ech(x, it.description));
        } else if (gv_ieq(sub, "postpone")) {
                r = gv_store_item_set_status(x->c->s, it.id, GV_ITEM_POSTPONED);
                if (r == GV_OK)
                        r = replyf(x, "Postponed to the next meeting: %s", ech(x, it.description));
        } else if (gv_ieq(sub, "done")) {
                r = gv_store_item_set_status(x->c->s, it.id, GV_ITEM_DONE);
                if (r == GV_OK)
                        r = replyf(x, "Marked done: %s", ech(x, it.description));
        } else if (gv_ieq(sub, "move")) {
                char *to = strtok_r(NULL, " \t", &save);
                struct gv_item dest;
                size_t dindex = 0;

                if (!to) {
                        r = reply(x, "Usage: !agenda move N M");
                        goto out;
                }
                r = resolve_item(x, to, &dest, &dindex);
                if (r) {
                        r = r == GV_EINVAL ? GV_OK : r;
                        goto out;
                }
                /* Moving down places it after M, moving up before M. */
                if (dindex > index) {
                        struct gv_item *all = NULL;
                        size_t n = 0;

                        r = gv_store_agenda(x->c->s, room_agenda(x), &all, &n);
                        if (r == GV_OK)
                                r = gv_store_item_move(x->c->s, room_agenda(x), it.id,
                                                       dindex < n ? all[dindex].id : 0);
                        gv_items_free(all, n);
                } else if (dindex < index) {
                        r = gv_store_item_move(x->c->s, room_agenda(x), it.id, dest.id);
                }
                gv_item_clear(&dest);
                if (r == GV_OK)
                        r = agenda_index_of(x, room_agenda(x), it.id, &dindex);
                if (r == GV_OK)
                        r = replyf(x, "Moved to position %zu: %s", dindex, ech(x, it.description));
        } else { /* take */
                if (!x->in_meeting) {
                        r = reply(x, "No meeting is running here; #startmeeting first, then "
                                     "!agenda take N.");
                        goto out;
                }
                if (!chair) {
                        struct gv_buf b = GV_BUF_INIT(1 << 16);

                        r = chairs_text(x, &b);
                        if (r == GV_OK)
                                r = replyf(x, "Only chairs can take up agenda items. Chairs: %s",
                                           gv_buf_str(&b));
                        gv_buf_free(&b);
                        goto out;
                }
                r = start_topic(x, it.description, &it);
        }
out:
        gv_item_clear(&it);
        return r;
}

static enum gv_err cmd_commands(struct ctx *x, const struct cmd *c, char *args);

static const struct cmd cmds[] = {
        { "startmeeting", cmd_startmeeting, 0, "[name]", "start a meeting in this room", 0 },
        { "endmeeting", cmd_endmeeting, F_CHAIR | F_MEETING, "", "end the meeting and post the minutes", 0 },
        { "topic", cmd_topic, F_CHAIR | F_MEETING | F_ARG, "<text>", "start a new topic (an agenda item's description takes it up)", 0 },
        { "info", cmd_note, F_MEETING | F_ARG, "<text>", "note information for the minutes", GV_M_INFO },
        { "action", cmd_note, F_MEETING | F_ARG, "<who> <what>", "record an action item", GV_M_ACTION },
        { "agreed", cmd_note, F_CHAIR | F_MEETING | F_ARG, "<text>", "record an agreement", GV_M_AGREED },
        { "accepted", cmd_note, F_CHAIR | F_MEETING | F_ARG, "<text>", "record something accepted", GV_M_ACCEPTED },
        { "rejected", cmd_note, F_CHAIR | F_MEETING | F_ARG, "<text>", "record something rejected", GV_M_REJECTED },
        { "idea", cmd_note, F_MEETING | F_ARG, "<text>", "record an idea", GV_M_IDEA },
        { "link", cmd_note, F_MEETING | F_ARG, "<url> [text]", "record a link (lines starting with a URL are links too)", GV_M_LINK },
        { "help", cmd_helpitem, 0, "[text]", "with text in a meeting: a call for help; else this list", GV_M_HELP },
        { "halp", cmd_note, F_MEETING | F_ARG, "<text>", "record a call for help", GV_M_HELP },
        { "chair", cmd_chair, F_CHAIR | F_MEETING | F_ARG, "<nick> [nick ...]", "make people chairs", 0 },
        { "unchair", cmd_unchair, F_CHAIR | F_MEETING | F_ARG, "<nick> [nick ...]", "remove chairs", 0 },
        { "undo", cmd_undo, F_CHAIR | F_MEETING, "", "remove the last item from the minutes", 0 },
        { "meetingname", cmd_meetingname, F_CHAIR | F_MEETING | F_ARG, "<name>", "set the meeting's name", 0 },
        { "nick", cmd_nick, F_MEETING | F_ARG, "<nick> [nick ...]", "add people for action items", 0 },
        { "startvote", cmd_startvote, F_CHAIR | F_MEETING | F_ARG, "<question>? <a>, <b>, ...", "open a vote", 0 },
        { "vote", cmd_vote, F_MEETING | F_ARG, "<option>", "vote; only your last vote counts", 0 },
        { "endvote", cmd_endvote, F_CHAIR | F_MEETING, "", "close the vote and record the result", 0 },
        { "agenda", cmd_agenda, 0, "[add <text> | drop|pin|unpin|postpone|done|take N | move N M]", "show or change this room's agenda", 0 },
        { "commands", cmd_commands, 0, "", "list the commands", 0 },
};

static const struct cmd *find_cmd(const char *name, size_t len)
{
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                if (strlen(cmds[i].name) == len &&
                    strncasecmp(cmds[i].name, name, len) == 0)
                        return &cmds[i];
        return NULL;
}

static enum gv_err cmd_commands(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_buf b = GV_BUF_INIT(4096);
        enum gv_err r = gv_buf_adds(&b, "Available commands:");

        (void)c;
        (void)args;
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && r == GV_OK; i++)
                r = gv_buf_printf(&b, " #%s", cmds[i].name);
        if (r == GV_OK)
                r = reply(x, gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}

static enum gv_err cmd_help(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_buf b = GV_BUF_INIT(16384);
        enum gv_err r = gv_buf_adds(&b, "gavel commands (# or ! work alike; (chairs) = chairs only):");

        (void)c;
        (void)args;
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && r == GV_OK; i++)
                r = gv_buf_printf(&b, "\n#%s%s%s  %s%s", cmds[i].name, cmds[i].usage[0] ? " " : "",
                                  cmds[i].usage, cmds[i].help,
                                  (cmds[i].flags & F_CHAIR) ? " (chairs)" : "");
        if (r == GV_OK) {
                const char *tag = x->c->cfg->n_tags ? x->c->cfg->tags[0].tag : "architecture";

                r = gv_buf_printf(&b, "\nTag a message with #%s <what to discuss> cc @people to "
                                      "put it on the agenda.", tag);
        }
        if (r == GV_OK)
                r = reply(x, gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}

void gv_commands_describe(void (*line)(void *ud, const char *text), void *ud)
{
        char buf[512];

        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                snprintf(buf, sizeof(buf), "#%s%s%s  %s%s", cmds[i].name,
                         cmds[i].usage[0] ? " " : "", cmds[i].usage, cmds[i].help,
                         (cmds[i].flags & F_CHAIR) ? " (chairs)" : "");
                line(ud, buf);
        }
}

bool is_command(const struct gv_cmdline *cl)
{
        return find_cmd(cl->name, cl->name_len) != NULL;
}

bool note_command_kind(const struct gv_cmdline *cl, enum gv_mkind *kind)
{
        const struct cmd *c = find_cmd(cl->name, cl->name_len);

        if (!c || (c->fn != cmd_note && c->fn != cmd_helpitem))
                return false;
        *kind = c->kind;
        return true;
}

enum gv_err run_command(struct ctx *x, const struct gv_cmdline *cl)
{
        const struct cmd *c = find_cmd(cl->name, cl->name_len);
        char *args = NULL;
        bool chair = false;
        enum gv_err r;

        if (!c) {
                char name[40];

                /* '#word' is a hashtag unless it is a command; '!word' asks the bot. */
                if (cl->prefix == '#')
                        return GV_OK;
                snprintf(name, sizeof(name), "%.*s%s", cl->name_len > 32 ? 32 : (int)cl->name_len,
                         cl->name, cl->name_len > 32 ? "..." : "");
                return replyf(x, "Unknown command %c%s. Try %chelp.", cl->prefix, name, cl->prefix);
        }
        if ((c->flags & F_MEETING) && !x->in_meeting) {
                if (cl->prefix == '#')
                        return GV_OK;   /* MeetBot ignores these outside meetings */
                return replyf(x, "No meeting is running in this room; start one with "
                                 "%cstartmeeting.", cl->prefix);
        }
        if ((c->flags & F_ARG) && cl->args_len == 0)
                return replyf(x, "Usage: %c%s %s", cl->prefix, c->name, c->usage);
        if (c->flags & F_CHAIR) {
                r = is_chair(x, &chair);
                if (r)
                        return r;
                if (!chair) {
                        struct gv_buf b = GV_BUF_INIT(1 << 16);

                        r = chairs_text(x, &b);
                        if (r == GV_OK)
                                r = replyf(x, "Only chairs can use %c%s. Chairs: %s", cl->prefix,
                                           c->name, gv_buf_str(&b));
                        gv_buf_free(&b);
                        return r;
                }
        }
        args = strndup(cl->args, cl->args_len);
        if (!args)
                return GV_ENOMEM;
        ctx_own_meeting(x);
        r = c->fn(x, c, args);
        free(args);
        return r;
}
