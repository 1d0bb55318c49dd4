/* handlers/edits.c - what an edit (m.replace) or a redaction of an earlier
 * event changes: its agenda item, its log lines, its noted items. Called from
 * gv_handle(); runs no command and makes no item. */
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "internal.h"

/* ---- redactions ---- */

/* A redacted topic had taken up agenda item id: unless another topic of the
 * meeting took it up too, it was not discussed there after all (as with
 * #undo), as long as the meeting has not archived it. */
enum gv_err untake_item(struct ctx *x, int64_t meeting, int64_t id)
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
enum gv_err handle_redaction(struct ctx *x)
{
        const struct gv_event *ev = x->ev;
        struct gv_store *s = x->c->s;
        struct gv_item it;
        struct gv_mitem *mi = NULL;
        size_t n_mi = 0, n_lines = 0;
        bool dropped = false;
        enum gv_err r;

        memset(&it, 0, sizeof(it));
        /* a reaction that answered a release: the answer is taken back */
        r = series_redaction(x);
        if (r)
                return r;
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
                              struct span *v, size_t nv, const char *body, size_t n)
{
        size_t cursor[GV_M__COUNT] = { 0 }, ne = 0;
        const char *taken = body;       /* lines before it were a command's text */
        enum gv_err r = GV_OK;

        /* v's spans become the noting lines, in place. */
        for (size_t i = 0; i < nv; i++) {
                struct gv_cmdline cl;
                enum gv_mkind k;

                if (v[i].p < taken)
                        continue;
                if (command_line(x->c->cfg, v[i].p, v[i].len, v[i].p == body, &cl)) {
                        taken = command_body(x->c->cfg, &cl, v[i].p, v[i].len, body + n);
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
                if (mi[i].kind == GV_M_QUESTION) {
                        /* whom it asks is read again; naming nobody keeps it */
                        struct gv_buf why = GV_BUF_INIT(1u << 14);
                        char *q = NULL;

                        r = question_text(x, t, &q, &why);
                        gv_buf_free(&why);
                        free(t);
                        t = q;
                        if (r == GV_EINVAL) {
                                r = GV_OK;
                                continue;
                        }
                        if (r)
                                return r;
                }
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
enum gv_err handle_edit(struct ctx *x, const char *body, size_t n)
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
                r = edit_noted(x, mi, nmi, v, nv, body, n);
        gv_debug("handlers", "edit %s of %s: %s item, %zu lines, %zu noted items", ev->event_id,
                 ev->replaces, have_item ? "an" : "no", nl, nmi);
out:
        free(v);
        gv_item_clear(&it);
        gv_lines_free(lines, nl);
        gv_mitems_free(mi, nmi);
        return r;
}
