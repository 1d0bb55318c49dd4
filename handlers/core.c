/* handlers/core.c - gv_handle(): one event through tags and commands into the
 * store and the outbox; edits and redactions of earlier events. The command
 * table lives in commands.c. */
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "../util/text.h"
#include "handlers.h"
#include "internal.h"
#include "parse.h"

static void cache_forget(struct gv_core *c)
{
        if (c->cache_set)
                gv_meeting_clear(&c->cache);
        free(c->cache_room);
        c->cache_room = NULL;
        c->cache_set = false;
}

enum gv_err gv_core_new(struct gv_store *s, const struct gv_config *cfg, struct gv_core **ret)
{
        struct gv_core *c = calloc(1, sizeof(*c));

        if (!c)
                return GV_ENOMEM;
        c->s = s;
        c->cfg = cfg;
        *ret = c;
        return GV_OK;
}

struct gv_core *gv_core_free(struct gv_core *c)
{
        if (c)
                cache_forget(c);
        free(c);
        return NULL;
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

static bool own_event(const struct gv_core *c, const struct gv_event *ev)
{
        const char *uid = c->cfg->user_id;

        if (uid && *uid && strcmp(ev->sender, uid) == 0)
                return true;
        return strcmp(ev->sender, c->cfg->bot_name) == 0;
}

static enum gv_err log_line(struct ctx *x, const char *line, size_t len, bool action)
{
        char *t;
        enum gv_err r;

        if (len == 0)
                return GV_OK;
        t = strndup(line, len);
        if (!t)
                return GV_ENOMEM;
        r = gv_store_line_add_from(x->c->s, x->m.id, x->ev->ts, x->nick, t, action,
                                   x->ev->event_id, x->ev->sender);
        free(t);
        return r;
}

/* Is w one of the space-separated words of list? */
static bool has_word(const char *list, const char *w)
{
        size_t n = strlen(w);

        for (const char *p = list; (p = strstr(p, w)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

/* An item's mentions: the cc names, then the event's m.mentions not among them. */
static enum gv_err tag_mentions(struct ctx *x, const struct gv_tagged *t, struct gv_buf *mentions)
{
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < t->n_mentions && r == GV_OK; i++)
                r = gv_buf_printf(mentions, "%s%s", mentions->len ? " " : "", t->mentions[i]);
        for (size_t i = 0; i < x->ev->n_mentions && r == GV_OK; i++) {
                const char *m = x->ev->mentions[i];

                if (!m || !*m || strchr(m, ' ') || strlen(m) >= 256 ||
                    has_word(gv_buf_str(mentions), m))
                        continue;
                r = gv_buf_printf(mentions, "%s%s", mentions->len ? " " : "", m);
        }
        return r;
}

static enum gv_err handle_tag(struct ctx *x, const char *line, size_t len)
{
        struct gv_tagged t;
        struct gv_item it;
        struct gv_buf mentions = GV_BUF_INIT(16384);
        int64_t id;
        size_t index = 0;
        enum gv_err r;

        memset(&t, 0, sizeof(t));
        r = gv_parse_tag(x->c->cfg, line, len, &t);
        if (r == GV_ENOTFOUND)
                return GV_OK;
        if (r == GV_ETOOBIG)
                return replyf(x, "That agenda item is too long: the first line may hold at most "
                                 "%d bytes.", GV_MAX_DESCRIPTION);
        if (r)
                return r;
        if (!t.description[0]) {
                r = replyf(x, "An agenda item needs a description: #%s <what to discuss> cc @people",
                           tag_for_agenda(x->c->cfg, t.agenda));
                goto out;
        }
        r = tag_mentions(x, &t, &mentions);
        if (r)
                goto out;
        memset(&it, 0, sizeof(it));
        it.agenda = (char *)t.agenda;
        it.description = t.description;
        it.reporter = (char *)x->ev->sender;
        it.mentions = (char *)gv_buf_str(&mentions);
        it.room = (char *)x->ev->room;
        it.event_id = (char *)x->ev->event_id;
        it.created = x->ev->ts;
        r = gv_store_item_add(x->c->s, &it, &id);
        if (r)
                goto out;
        r = agenda_index_of(x, t.agenda, id, &index);
        if (r)
                goto out;
        switch (x->c->cfg->ack) {
        case GV_ACK_REACTION:
                r = queue_reaction(x, x->c->cfg->ack_reaction);
                break;
        case GV_ACK_NOTICE:
                r = replyf(x, "Added to the %s agenda as item %zu: %s", t.agenda, index,
                           ech(x, t.description));
                break;
        case GV_ACK_NONE:
                break;
        }
out:
        gv_buf_free(&mentions);
        gv_tagged_clear(&t);
        return r;
}

static enum gv_err handle_line(struct ctx *x, const char *line, size_t len, bool first)
{
        struct gv_cmdline cl;
        bool before = x->in_meeting;
        enum gv_err r = GV_OK;

        if (before) {
                r = log_line(x, line, len, false);
                if (r)
                        return r;
        }
        /* A known command wins; "#architecture ..." is a tag, not a command. */
        if (gv_parse_command(x->c->cfg, line, len, &cl) &&
            (is_command(&cl) || !first || cl.prefix != '#')) {
                r = run_command(x, &cl);
        } else {
                if (first)
                        r = handle_tag(x, line, len);
                if (r == GV_OK && x->in_meeting && gv_is_link_line(line, len))
                        r = note_item(x, GV_M_LINK, line, len);
        }
        if (gv_fatal(r))
                return r;
        if (!before && x->in_meeting)
                r = log_line(x, line, len, false);
        return gv_fatal(r) ? r : GV_OK;
}

/* Would handle_line() run this line as a command (rather than read a tag)? */
static bool command_line(const struct gv_config *cfg, const char *line, size_t len, bool first,
                         struct gv_cmdline *cl)
{
        return gv_parse_command(cfg, line, len, cl) &&
               (is_command(cl) || !first || cl->prefix != '#');
}

/* ---- redactions ---- */

/* A redacted topic had taken up agenda item id: unless another topic of the
 * meeting took it up too, it was not discussed there after all (as with
 * #undo), as long as the meeting has not archived it. */
static enum gv_err untake_item(struct ctx *x, int64_t meeting, int64_t id)
{
        struct gv_item *items = NULL, it;
        size_t n = 0;
        bool still = false;
        enum gv_err r;

        r = gv_store_items_discussed(x->c->s, meeting, &items, &n);
        if (r)
                return r;
        for (size_t i = 0; i < n; i++)
                still = still || items[i].id == id;
        gv_items_free(items, n);
        if (still)
                return GV_OK;
        memset(&it, 0, sizeof(it));
        r = gv_store_item_get(x->c->s, id, &it);
        if (r == GV_ENOTFOUND)
                return GV_OK;
        if (r == GV_OK && it.discussed_in == meeting &&
            (it.status == GV_ITEM_OPEN || it.status == GV_ITEM_POSTPONED))
                r = gv_store_item_set_discussed(x->c->s, id, 0);
        gv_item_clear(&it);
        return r;
}

/* The agenda item raised by the redacted event is dropped (unless a meeting
 * already archived it as done), the lines said in it read "[redacted]" and
 * what it noted leaves the minutes. No reply; a redaction of an event gavel
 * knows nothing of, or of one already redacted, changes nothing. */
static enum gv_err handle_redaction(struct ctx *x)
{
        const struct gv_event *ev = x->ev;
        struct gv_store *s = x->c->s;
        struct gv_item it;
        struct gv_mitem *mi = NULL;
        size_t n_mi = 0, n_lines = 0;
        bool dropped = false;
        enum gv_err r;

        memset(&it, 0, sizeof(it));
        r = gv_store_item_by_event(s, ev->room, ev->redacts, &it);
        if (r == GV_OK && (it.status == GV_ITEM_OPEN || it.status == GV_ITEM_POSTPONED)) {
                r = gv_store_item_set_status(s, it.id, GV_ITEM_DROPPED);
                dropped = r == GV_OK;
        }
        gv_item_clear(&it);
        if (r && r != GV_ENOTFOUND)
                return r;
        r = gv_store_lines_redact(s, ev->room, ev->redacts, &n_lines);
        if (r == GV_OK)
                r = gv_store_mitems_by_event(s, ev->room, ev->redacts, &mi, &n_mi);
        if (r)
                return r;
        for (size_t i = 0; i < n_mi && r == GV_OK; i++) {
                r = gv_store_mitem_delete(s, mi[i].id);
                if (r == GV_OK && mi[i].kind == GV_M_TOPIC && mi[i].agenda_item)
                        r = untake_item(x, mi[i].meeting, mi[i].agenda_item);
        }
        gv_mitems_free(mi, n_mi);
        if (n_mi)
                cache_forget(x->c);     /* a meeting's topic may have moved */
        gv_debug("handlers", "%s redacts %s: %s, %zu lines, %zu noted items", ev->event_id,
                 ev->redacts, dropped ? "item dropped" : "no open item", n_lines, n_mi);
        return r;
}

/* ---- edits ---- */

struct span {
        const char *p;
        size_t len;
        enum gv_mkind kind;     /* for noted items */
};

/* The non-empty lines of body; *n is 0 for none. */
static enum gv_err split_lines(const char *body, size_t n, struct span **ret, size_t *count)
{
        size_t cap = 1, k = 0;
        struct span *v;

        for (size_t i = 0; i < n; i++)
                cap += body[i] == '\n';
        v = calloc(cap, sizeof(*v));
        if (!v)
                return GV_ENOMEM;
        for (const char *p = body; p < body + n;) {
                const char *nl = memchr(p, '\n', (size_t)(body + n - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(body + n - p);

                if (len && k < cap) {
                        v[k].p = p;
                        v[k].len = len;
                        k++;
                }
                p += len + 1;
        }
        *ret = v;
        *count = k;
        return GV_OK;
}

/* The edited first line is re-read as a tag: new description and mentions.
 * A first line with no tag (or a command, or no description) leaves the
 * item as it is. */
static enum gv_err edit_item(struct ctx *x, const struct gv_item *it, const char *line, size_t len)
{
        struct gv_tagged t;
        struct gv_cmdline cl;
        struct gv_buf mentions = GV_BUF_INIT(16384);
        enum gv_err r;

        if (command_line(x->c->cfg, line, len, true, &cl)) {
                gv_debug("handlers", "edit %s: the first line is a command; item %lld kept",
                         x->ev->event_id, (long long)it->id);
                return GV_OK;
        }
        memset(&t, 0, sizeof(t));
        r = gv_parse_tag(x->c->cfg, line, len, &t);
        if (r == GV_ENOTFOUND || r == GV_ETOOBIG) {
                gv_debug("handlers", "edit %s: %s; item %lld kept", x->ev->event_id,
                         r == GV_ENOTFOUND ? "no tag" : "too long", (long long)it->id);
                return GV_OK;
        }
        if (r)
                return r;
        if (t.description[0])
                r = tag_mentions(x, &t, &mentions);
        if (r == GV_OK && t.description[0])
                r = gv_store_item_set_text(x->c->s, it->id, t.description, gv_buf_str(&mentions));
        gv_buf_free(&mentions);
        gv_tagged_clear(&t);
        return r;
}

/* The event's log lines take the new lines in order: the last one takes
 * whatever is left, lines beyond the new text go. An emote is one line. */
static enum gv_err edit_lines(struct ctx *x, const struct gv_line *lines, size_t nl,
                              const struct span *v, size_t nv, const char *body, size_t n)
{
        const struct span all = { body, n, GV_M_INFO };
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < nl; i++)
                if (lines[i].redacted)
                        return GV_OK;
        if (nl && lines[0].action) {
                v = &all;
                nv = n ? 1 : 0;
        }
        if (nv == 0)
                return GV_OK;
        for (size_t i = 0; i < nl && r == GV_OK; i++) {
                size_t len;
                char *t;

                if (i >= nv) {
                        r = gv_store_line_delete(x->c->s, lines[i].id);
                        continue;
                }
                len = (i + 1 == nl) ? (size_t)(v[nv - 1].p + v[nv - 1].len - v[i].p) : v[i].len;
                t = strndup(v[i].p, len);
                if (!t)
                        return GV_ENOMEM;
                if (strcmp(t, lines[i].text) != 0)
                        r = gv_store_line_set_text(x->c->s, lines[i].id, t, NULL);
                free(t);
        }
        return r;
}

/* The k-th item of a kind noted from the event takes the text of the k-th
 * line of the new text that notes that kind (#info, #action, ..., a link
 * line) with an argument; other items are left as they are. */
static enum gv_err edit_noted(struct ctx *x, const struct gv_mitem *mi, size_t nmi,
                              struct span *v, size_t nv, const char *body)
{
        size_t cursor[GV_M__COUNT] = { 0 }, ne = 0;
        enum gv_err r = GV_OK;

        /* v's spans become the noting lines, in place. */
        for (size_t i = 0; i < nv; i++) {
                struct gv_cmdline cl;
                enum gv_mkind k;

                if (command_line(x->c->cfg, v[i].p, v[i].len, v[i].p == body, &cl)) {
                        if (!note_command_kind(&cl, &k) || cl.args_len == 0)
                                continue;
                        v[ne].p = cl.args;
                        v[ne].len = cl.args_len;
                        v[ne].kind = k;
                        ne++;
                } else if (gv_is_link_line(v[i].p, v[i].len)) {
                        v[ne] = v[i];
                        v[ne].kind = GV_M_LINK;
                        ne++;
                }
        }
        for (size_t i = 0; i < nmi && r == GV_OK; i++) {
                unsigned k = (unsigned)mi[i].kind;
                char *t;

                if (k >= GV_M__COUNT)
                        continue;
                while (cursor[k] < ne && v[cursor[k]].kind != mi[i].kind)
                        cursor[k]++;
                if (cursor[k] == ne)
                        continue;
                t = strndup(v[cursor[k]].p, v[cursor[k]].len);
                cursor[k]++;
                if (!t)
                        return GV_ENOMEM;
                if (strcmp(t, mi[i].text) != 0)
                        r = gv_store_mitem_set_text(x->c->s, mi[i].id, t);
                free(t);
        }
        return r;
}

/* An edit (m.replace) by the original's sender updates what the original
 * made: its agenda item, its log lines, its noted items. It runs no command
 * and makes no item; edits by anyone else and of unknown events change
 * nothing. body is the new text, cleaned. */
static enum gv_err handle_edit(struct ctx *x, const char *body, size_t n)
{
        const struct gv_event *ev = x->ev;
        struct gv_store *s = x->c->s;
        struct gv_item it;
        struct gv_line *lines = NULL;
        struct gv_mitem *mi = NULL;
        struct span *v = NULL;
        size_t nl = 0, nmi = 0, nv = 0;
        const char *orig = NULL, *nl1;
        bool have_item = false;
        enum gv_err r;

        memset(&it, 0, sizeof(it));
        r = gv_store_item_by_event(s, ev->room, ev->replaces, &it);
        have_item = r == GV_OK;
        if (r && r != GV_ENOTFOUND)
                return r;
        r = gv_store_lines_by_event(s, ev->room, ev->replaces, &lines, &nl);
        if (r == GV_OK)
                r = gv_store_mitems_by_event(s, ev->room, ev->replaces, &mi, &nmi);
        if (r)
                goto out;
        if (have_item)
                orig = it.reporter;
        for (size_t i = 0; i < nl && !orig; i++)
                orig = lines[i].sender;
        for (size_t i = 0; i < nmi && !orig; i++)
                orig = mi[i].sender;
        if (!have_item && nl == 0 && nmi == 0) {
                gv_debug("handlers", "edit %s of unknown event %s ignored", ev->event_id,
                         ev->replaces);
                goto out;
        }
        if (!orig || strcmp(orig, ev->sender) != 0) {
                gv_debug("handlers", "edit %s of %s by %s, not its sender (%s): ignored",
                         ev->event_id, ev->replaces, ev->sender, orig ? orig : "unknown");
                goto out;
        }
        r = split_lines(body, n, &v, &nv);
        if (r)
                goto out;
        nl1 = memchr(body, '\n', n);
        if (have_item)
                r = edit_item(x, &it, body, nl1 ? (size_t)(nl1 - body) : n);
        if (r == GV_OK)
                r = edit_lines(x, lines, nl, v, nv, body, n);
        if (r == GV_OK)
                r = edit_noted(x, mi, nmi, v, nv, body);
        gv_debug("handlers", "edit %s of %s: %s item, %zu lines, %zu noted items", ev->event_id,
                 ev->replaces, have_item ? "an" : "no", nl, nmi);
out:
        free(v);
        gv_item_clear(&it);
        gv_lines_free(lines, nl);
        gv_mitems_free(mi, nmi);
        return r;
}

static bool starts_with_prefix(const struct gv_config *cfg, const char *s, size_t n)
{
        while (n && (*s == ' ' || *s == '\t')) {
                s++;
                n--;
        }
        return n && gv_config_is_prefix(cfg, *s);
}

static enum gv_err handle_inner(struct ctx *x)
{
        const struct gv_event *ev = x->ev;
        const struct gv_config *cfg = x->c->cfg;
        size_t max = (size_t)cfg->max_message_bytes;
        struct gv_buf clean = GV_BUF_INIT(max * 3 + 16);
        const char *body, *p;
        size_t n;
        enum gv_err r;

        if (own_event(x->c, ev))
                return GV_OK;
        if (ev->redacts)
                return handle_redaction(x);
        if (ev->msgtype && strcmp(ev->msgtype, "m.notice") == 0)
                return GV_OK;
        gv_nick_of(ev->sender, x->nick, sizeof(x->nick));
        if (ev->replaces) {
                /* Never new commands or a new tag: only what the original made changes. */
                if (ev->body_len > max) {
                        gv_debug("handlers", "edit %s: %zu bytes, over the limit: ignored",
                                 ev->event_id, ev->body_len);
                        return GV_OK;
                }
                r = gv_utf8_clean(&clean, ev->body ? ev->body : "", ev->body_len);
                if (r == GV_OK) {
                        body = gv_strip_reply_fallback(gv_buf_str(&clean), clean.len, &n);
                        r = handle_edit(x, body, n);
                }
                goto out;
        }
        r = ctx_load_meeting(x);
        if (r)
                return r;
        if (ev->redacted) {
                /* redacted before we saw it: said, but nothing of it is kept */
                if (x->in_meeting) {
                        r = log_line(x, "-", 1, false);
                        if (r == GV_OK)
                                r = gv_store_lines_redact(x->c->s, ev->room, ev->event_id, &n);
                }
                goto out;
        }
        if (ev->body_len > max) {
                if (x->in_meeting) {
                        r = gv_utf8_clean(&clean, ev->body, max);
                        if (r == GV_OK)
                                r = gv_buf_adds(&clean, "...");
                        if (r == GV_OK)
                                r = log_line(x, clean.p, clean.len, false);
                }
                if (r == GV_OK && starts_with_prefix(cfg, ev->body, ev->body_len))
                        r = replyf(x, "That message is %zu bytes, over the %zu-byte limit; "
                                      "nothing in it was done.", ev->body_len, max);
                goto out;
        }
        r = gv_utf8_clean(&clean, ev->body ? ev->body : "", ev->body_len);
        if (r)
                goto out;
        body = gv_strip_reply_fallback(gv_buf_str(&clean), clean.len, &n);
        if (ev->msgtype && strcmp(ev->msgtype, "m.emote") == 0) {
                if (x->in_meeting)
                        r = log_line(x, body, n, true);
                goto out;
        }
        for (p = body; p < body + n && r == GV_OK;) {
                const char *nl = memchr(p, '\n', (size_t)(body + n - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(body + n - p);

                r = handle_line(x, p, len, p == body);
                p += len + 1;
        }
out:
        gv_buf_free(&clean);
        return r;
}

enum gv_err gv_handle(struct gv_core *c, const struct gv_event *ev)
{
        struct ctx x;
        bool fresh = false;
        enum gv_err r;

        if (!ev->event_id || !ev->room || !ev->sender || !*ev->event_id || !*ev->room ||
            !*ev->sender) {
                gv_warn("handlers", "event without ID, room or sender ignored");
                return GV_OK;
        }
        /* Claimed in the caller's transaction: a rollback un-claims it too. */
        r = gv_store_event_claim(c->s, ev->event_id, ev->ts, &fresh);
        if (r || !fresh)
                return r;
        memset(&x, 0, sizeof(x));
        x.c = c;
        x.ev = ev;
        r = handle_inner(&x);
        ctx_drop_meeting(&x);
        if (r)
                cache_forget(c); /* the caller may roll back what it saw */
        if (gv_fatal(r))
                return r;
        if (r)
                gv_warn("handlers", "event %s: %s", ev->event_id, gv_strerror(r));
        return GV_OK;
}
