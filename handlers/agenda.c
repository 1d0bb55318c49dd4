/* handlers/agenda.c - the !agenda command and its subcommands, and what a
 * tag puts on an agenda (the item's mentions, its number as shown). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/text.h"
#include "internal.h"
#include "minutes.h"

#define MAX_ITEM_NUMBER 100000

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
enum gv_err tag_mentions(struct ctx *x, const struct gv_tagged *t, struct gv_buf *mentions)
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
                char why_flag[1024];

                /* postponed because its people can't come (series.c): why */
                if (it->status == GV_ITEM_POSTPONED && !it->pinned) {
                        char *pser = NULL, *why = NULL;
                        int64_t pocc = 0;

                        r = gv_store_postponed_get(x->c->s, it->id, &pser, &pocc, &why);
                        if (r == GV_OK) {
                                snprintf(why_flag, sizeof(why_flag), " [postponed: %s]", why);
                                flag = why_flag;
                        }
                        free(pser);
                        free(why);
                        if (r && r != GV_ENOTFOUND)
                                break;
                        r = GV_OK;
                }

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
        if (r == GV_OK) {
                /* between a series' release and its meeting: who comes */
                size_t before = t.len;

                r = series_agenda_notes(x, room_agenda(x), &t);
                if (r == GV_OK && t.len > before) {
                        r = gv_buf_adds(&h, "\n<p>");
                        if (r == GV_OK)
                                r = gv_html_escape(&h, gv_buf_str(&t) + before + 1);
                        if (r == GV_OK)
                                r = gv_buf_adds(&h, "</p>");
                }
        }
        if (r == GV_OK)
                r = queue_message(x, x->ev->room, gv_buf_str(&t), gv_buf_str(&h), true, NULL, 0);
        gv_buf_free(&t);
        gv_buf_free(&h);
        return r;
}

#define DONE_SHOWN 20

/* `!agenda done`: the latest done items, each with the link to its notes
 * once the meeting's notes are published. */
static enum gv_err show_done(struct ctx *x)
{
        struct gv_buf t = GV_BUF_INIT(1 << 20), h = GV_BUF_INIT(4 << 20);
        struct gv_item *items = NULL;
        size_t n = 0;
        enum gv_err r;

        r = gv_store_items_done(x->c->s, room_agenda(x), DONE_SHOWN, &items, &n);
        if (r == GV_OK && n == 0)
                r = gv_buf_printf(&t, "No done items on the %s agenda yet.", room_agenda(x));
        else if (r == GV_OK)
                r = gv_buf_printf(&t, "Done on the %s agenda (newest first):", room_agenda(x));
        if (r == GV_OK)
                r = gv_html_escape(&h, gv_buf_str(&t));
        if (r == GV_OK && n)
                r = gv_buf_adds(&h, "\n<ul>");
        for (size_t i = 0; i < n && r == GV_OK; i++) {
                char *link = NULL;

                r = gv_store_item_notes_link(x->c->s, items[i].id, &link);
                if (r == GV_OK)
                        r = gv_buf_printf(&t, "\n- %s", ech(x, items[i].description));
                if (r == GV_OK && link)
                        r = gv_buf_printf(&t, " (notes: %s)", link);
                if (r == GV_OK)
                        r = gv_buf_adds(&h, "\n<li>");
                if (r == GV_OK)
                        r = gv_html_escape(&h, items[i].description);
                if (r == GV_OK && link) {
                        r = gv_buf_adds(&h, " (<a href=\"");
                        if (r == GV_OK)
                                r = gv_html_escape(&h, link);
                        if (r == GV_OK)
                                r = gv_buf_adds(&h, "\">notes</a>)");
                }
                if (r == GV_OK)
                        r = gv_buf_adds(&h, "</li>");
                free(link);
        }
        if (r == GV_OK && n)
                r = gv_buf_adds(&h, "\n</ul>");
        if (r == GV_OK)
                r = queue_message(x, x->ev->room, gv_buf_str(&t), gv_buf_str(&h), true, NULL, 0);
        gv_items_free(items, n);
        gv_buf_free(&t);
        gv_buf_free(&h);
        return r;
}

/* "Only chairs can pin agenda items. Chairs: ..." in a meeting; outside one,
 * who counts as a chair: the power level. */
static enum gv_err refuse_not_chair(struct ctx *x, const char *sub)
{
        struct gv_buf b = GV_BUF_INIT(1 << 16);
        const char *what = gv_ieq(sub, "take") ? "take up" : sub;
        enum gv_err r = GV_OK;

        if (!x->in_meeting)
                return replyf(x, "Only chairs (power level %lld or more in this room) can %s "
                                 "agenda items.", (long long)x->c->cfg->chair_power_level, what);
        r = chairs_text(x, &b);
        if (r == GV_OK)
                r = replyf(x, "Only chairs can %s agenda items. Chairs: %s", what, gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}

enum gv_err cmd_agenda(struct ctx *x, const struct cmd *c, char *args)
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
        if (gv_ieq(sub, "done") && !*rest)
                return show_done(x);
        if (gv_ieq(sub, "release")) {
                r = is_chair(x, &chair);
                if (r)
                        return r;
                if (!chair)
                        return x->in_meeting ? refuse_not_chair(x, "release") :
                               replyf(x, "Only chairs (power level %lld or more in this room) can "
                                         "release the agenda.",
                                      (long long)x->c->cfg->chair_power_level);
                return series_release_cmd(x, rest);
        }
        if (!gv_ieq(sub, "drop") && !gv_ieq(sub, "pin") && !gv_ieq(sub, "unpin") &&
            !gv_ieq(sub, "postpone") && !gv_ieq(sub, "done") && !gv_ieq(sub, "move") &&
            !gv_ieq(sub, "take"))
                return replyf(x, "Unknown agenda command '%s'. Try: !agenda, !agenda add <text>, "
                                 "drop N, pin N, unpin N, postpone N, move N M, done N, take N, release.",
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
        if (gv_ieq(sub, "take") && !x->in_meeting) {
                r = reply(x, "No meeting is running here; #startmeeting first, then "
                             "!agenda take N.");
                goto out;
        }
        /* The reporter may drop, postpone or close their own item; ordering
         * the agenda and taking items up is for chairs only. */
        if (!chair && (gv_ieq(sub, "drop") || gv_ieq(sub, "postpone") || gv_ieq(sub, "done"))) {
                if (strcmp(it.reporter, x->ev->sender) != 0) {
                        r = replyf(x, "Only chairs or the reporter (%s) can %s item %zu%s.",
                                   it.reporter, gv_ieq(sub, "done") ? "mark" : sub, index,
                                   gv_ieq(sub, "done") ? " done" : "");
                        goto out;
                }
        } else if (!chair) {
                r = refuse_not_chair(x, sub);
                goto out;
        }
        if (gv_ieq(sub, "drop")) {
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
                /* by hand now: attendance (series.c) no longer brings it back */
                if (r == GV_OK)
                        r = gv_store_postponed_del(x->c->s, it.id);
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
                r = start_topic(x, it.description, &it);
        }
out:
        gv_item_clear(&it);
        return r;
}
