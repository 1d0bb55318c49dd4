/* handlers/wiki.c - see wiki.h */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/text.h"
#include "minutes.h"
#include "standup.h"
#include "wiki.h"
#include "writer.h"

void gv_wiki_marker(int64_t meeting, size_t wiki, char out[GV_WIKI_MARKER_SIZE])
{
        snprintf(out, GV_WIKI_MARKER_SIZE, "<!-- gavel:meeting:%" PRId64 ":wiki:%zu -->", meeting,
                 wiki);
}

enum gv_err gv_wiki_md(struct gv_buf *b, const char *s)
{
        size_t from = b->len;
        enum gv_err r = gv_md_escape(b, s ? s : "");

        if (r == GV_OK)
                gv_one_line(b, from);
        return r;
}

/* Characters that can never be wikitext markup in the middle of a line. */
static bool wt_plain(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ' ' || c == '.' || c == ',' || c == '@' || c == '(' || c == ')' ||
               c == '?' || c == '/' || c == '"' || c == '%' || c == '+' || c >= 0x80;
}

enum gv_err gv_wiki_wikitext(struct gv_buf *b, const char *s)
{
        size_t from = b->len;
        bool plain = true;
        enum gv_err r = GV_OK;

        s = s ? s : "";
        for (const char *p = s; *p; p++)
                if (!wt_plain((unsigned char)*p))
                        plain = false;
        if (!plain)
                r = gv_buf_adds(b, "<nowiki>");
        for (; *s && r == GV_OK; s++) {
                if (*s == '&')
                        r = gv_buf_adds(b, "&amp;");
                else if (*s == '<')
                        r = gv_buf_adds(b, "&lt;");
                else if (*s == '>')
                        r = gv_buf_adds(b, "&gt;");
                else
                        r = gv_buf_addc(b, *s);
        }
        if (r == GV_OK && !plain)
                r = gv_buf_adds(b, "</nowiki>");
        if (r == GV_OK)
                gv_one_line(b, from);
        return r;
}

/* ---- the writer ---- */

struct wr {
        struct gv_buf *b;
        enum gv_err r;
        bool wt;                /* wikitext, else Markdown */
        struct gv_store *s;
        const struct gv_config *cfg;
        struct gv_meeting m;
        struct gv_mitem *mi;
        size_t n_mi;
        struct gv_item *ag;     /* agenda items discussed */
        size_t n_ag;
};

static void raw(struct wr *w, const char *s)
{
        if (w->r == GV_OK)
                w->r = gv_buf_adds(w->b, s);
}

/* User text. */
static void text(struct wr *w, const char *s)
{
        if (w->r == GV_OK)
                w->r = w->wt ? gv_wiki_wikitext(w->b, s) : gv_wiki_md(w->b, s);
}

/* A heading of level (2: "##"/"=="), its content written by the caller
 * between heading_open and heading_close. */
static void heading_open(struct wr *w, int level)
{
        for (int i = 0; i < level; i++)
                raw(w, w->wt ? "=" : "#");
        raw(w, " ");
}

static void heading_close(struct wr *w, int level)
{
        if (w->wt) {
                raw(w, " ");
                for (int i = 0; i < level; i++)
                        raw(w, "=");
        }
        raw(w, "\n");
}

/* A bullet at depth (0: top). */
static void bullet(struct wr *w, int depth)
{
        for (int i = 0; i < depth; i++)
                raw(w, w->wt ? "*" : "    ");
        raw(w, w->wt ? "* " : "- ");
}

static void bold(struct wr *w)
{
        raw(w, w->wt ? "'''" : "**");
}

/* "@name": the @ kept, the name escaped. */
static void at(struct wr *w, const char *s)
{
        s = s ? s : "";
        if (*s == '@')
                s++;
        raw(w, "@");
        text(w, s);
}

/* A URL gavel made (percent-encoded: no spaces, brackets or quotes). */
static void link(struct wr *w, const char *url, const char *label)
{
        if (w->wt) {
                raw(w, "[");
                raw(w, url);
                raw(w, " ");
                raw(w, label);
                raw(w, "]");
        } else {
                raw(w, url);
        }
}

/* Agora's [[wikilinks]] stay links when what is inside is plain words. */
static bool wikilink_ok(const char *p, size_t n)
{
        if (n == 0 || n > 200)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == ' ' || c == '-' || c == '.' || c == '/' || c == '\'' ||
                      c == ',' || c >= 0x80))
                        return false;
        }
        /* no ':': no Category:, File:, Template: or interwiki prefixes */
        return p[0] != ' ' && p[0] != '/';
}

/* User text with [[wikilinks]] kept. */
static void text_links(struct wr *w, const char *s)
{
        struct gv_buf piece = GV_BUF_INIT(w->b->max);

        while (s && *s && w->r == GV_OK) {
                const char *open = strstr(s, "[["), *close = open ? strstr(open + 2, "]]") : NULL;
                size_t n = open ? (size_t)(open - s) : strlen(s);

                gv_buf_reset(&piece);
                if (n && (w->r = gv_buf_add(&piece, s, n)) == GV_OK)
                        text(w, gv_buf_str(&piece));
                if (!open)
                        break;
                if (close && wikilink_ok(open + 2, (size_t)(close - open - 2))) {
                        if (w->r == GV_OK)
                                w->r = gv_buf_add(w->b, open, (size_t)(close + 2 - open));
                        s = close + 2;
                } else {
                        /* not a link: the brackets as text */
                        gv_buf_reset(&piece);
                        if ((w->r = w->r ? w->r : gv_buf_adds(&piece, "[[")) == GV_OK)
                                text(w, gv_buf_str(&piece));
                        s = open + 2;
                }
        }
        gv_buf_free(&piece);
}

/* ---- what the notes are made of ---- */

static const struct gv_item *agenda_item(const struct wr *w, int64_t id)
{
        for (size_t i = 0; id && i < w->n_ag; i++)
                if (w->ag[i].id == id)
                        return &w->ag[i];
        return NULL;
}

/* Whether topic t (an index into mi) belongs to the section of topic first:
 * the same topic, or the same agenda item taken up again. */
static bool same_section(const struct wr *w, size_t first, size_t t)
{
        return t == first || (w->mi[first].agenda_item &&
                              w->mi[first].agenda_item == w->mi[t].agenda_item);
}

/* Whether topic t is the first of its section. */
static bool section_first(const struct wr *w, size_t t)
{
        for (size_t k = 0; k < t; k++)
                if (w->mi[k].kind == GV_M_TOPIC && same_section(w, k, t))
                        return false;
        return true;
}

/* Whether note i (not a topic) falls under the section of topic first
 * (first == SIZE_MAX: under no topic). */
static bool in_section(const struct wr *w, size_t first, size_t i)
{
        if (w->mi[i].kind == GV_M_TOPIC)
                return false;
        if (first == SIZE_MAX)
                return w->mi[i].topic == 0;
        for (size_t t = 0; t < w->n_mi; t++)
                if (w->mi[t].kind == GV_M_TOPIC && w->mi[t].id == w->mi[i].topic)
                        return same_section(w, first, t);
        return false;
}

/* The nick who noted most of the section's notes. */
static const char *author(const struct wr *w, size_t first)
{
        const char *best = NULL;
        size_t best_n = 0;

        for (size_t i = 0; i < w->n_mi; i++) {
                size_t c = 0;

                if (!in_section(w, first, i))
                        continue;
                for (size_t j = 0; j < w->n_mi; j++)
                        if (in_section(w, first, j) && gv_ieq(w->mi[j].nick, w->mi[i].nick))
                                c++;
                if (c > best_n) {
                        best = w->mi[i].nick;
                        best_n = c;
                }
        }
        return best;
}

/* ---- resin (seed 000) ---- */

static void resin_note(struct wr *w, const struct gv_mitem *it)
{
        raw(w, w->wt ? "* " : "* ");
        if (it->kind != GV_M_INFO) {
                raw(w, gv_mkind_label(it->kind));
                raw(w, ": ");
        }
        text(w, it->text);
        raw(w, "\n");
}

static void resin_section(struct wr *w, size_t first, const char *title, const struct gv_item *ag,
                          const char *fallback)
{
        const char *who = author(w, first);
        struct gv_buf url = GV_BUF_INIT(4096);
        bool any = false;

        bold(w);
        text(w, title);
        bold(w);
        raw(w, "\n");
        if (ag && ag->reporter && *ag->reporter) {
                bullet(w, 0);
                raw(w, "Reporter: ");
                at(w, ag->reporter);
                raw(w, "\n");
        }
        if (ag && ag->mentions && *ag->mentions) {
                const char *s = ag->mentions;
                bool head = false;

                while (*s) {
                        size_t n;

                        while (*s == ' ' || *s == ',')
                                s++;
                        for (n = 0; s[n] && s[n] != ' ' && s[n] != ','; n++)
                                ;
                        if (n == 0)
                                break;
                        if (!head) {
                                bullet(w, 0);
                                raw(w, "Mentions:");
                                head = true;
                        }
                        raw(w, " ");
                        gv_buf_reset(&url);
                        if (w->r == GV_OK)
                                w->r = gv_buf_add(&url, s, n);
                        at(w, gv_buf_str(&url));
                        s += n;
                }
                if (head)
                        raw(w, "\n");
        }
        if (ag && ag->event_id && *ag->event_id && ag->room) {
                gv_buf_reset(&url);
                bullet(w, 0);
                raw(w, "Ticket: ");
                if (w->r == GV_OK)
                        w->r = gv_permalink(&url, ag->room, ag->event_id);
                link(w, gv_buf_str(&url), "ticket");
                raw(w, "\n");
        }
        bullet(w, 0);
        raw(w, "Summary (author: ");
        at(w, who ? who : fallback);
        raw(w, ")\n\n");
        for (size_t i = 0; i < w->n_mi; i++) {
                if (in_section(w, first, i)) {
                        resin_note(w, &w->mi[i]);
                        any = true;
                }
        }
        if (!any)
                raw(w, "No notes.\n");
        raw(w, "\n\n");
        gv_buf_free(&url);
}

static void render_resin(struct wr *w)
{
        bool general = false;

        /* agenda items in the order they were taken up, then other topics */
        for (size_t a = 0; a < w->n_ag; a++) {
                for (size_t t = 0; t < w->n_mi; t++) {
                        if (w->mi[t].kind == GV_M_TOPIC && w->mi[t].agenda_item == w->ag[a].id) {
                                resin_section(w, t, w->ag[a].description, &w->ag[a],
                                              w->mi[t].nick);
                                break;
                        }
                }
        }
        for (size_t t = 0; t < w->n_mi; t++) {
                if (w->mi[t].kind != GV_M_TOPIC || agenda_item(w, w->mi[t].agenda_item) ||
                    !section_first(w, t))
                        continue;
                resin_section(w, t, w->mi[t].text, NULL, w->mi[t].nick);
        }
        for (size_t i = 0; i < w->n_mi && !general; i++)
                general = in_section(w, SIZE_MAX, i);
        if (general)
                resin_section(w, SIZE_MAX, "General", NULL, w->m.starter);
}

/* ---- agora (seed 003) ---- */

static void agora_note(struct wr *w, const struct gv_mitem *it, int depth)
{
        const char *s = it->text ? it->text : "";

        bullet(w, depth);
        if (strncmp(s, "#push", 5) == 0 && (s[5] == ' ' || s[5] == '\0')) {
                raw(w, "#push");
                s += 5;
        } else if (it->kind == GV_M_ACTION) {
                raw(w, "[ ] ");
        } else if (it->kind != GV_M_INFO) {
                raw(w, gv_mkind_label(it->kind));
                raw(w, ": ");
        }
        text_links(w, s);
        raw(w, "\n");
}

/* A check-in's first line, then the lines after it as bullets under it
 * (seed 003's Ian: "playing with monitoring" over "added live process
 * monitoring", "hooked up logging"). */
static void checkin_lines(struct wr *w, const char *s)
{
        struct gv_uline *v = NULL;
        size_t n = 0;
        struct gv_buf piece = GV_BUF_INIT(w->b->max);
        enum gv_err r = gv_update_parse(s, &v, &n);

        if (r) {
                if (w->r == GV_OK)
                        w->r = r;
                return;
        }
        for (size_t i = 0; i < n && w->r == GV_OK; i++) {
                if (i > 0)
                        bullet(w, 2 + (v[i].kind == GV_UL_BULLET ? (int)v[i].depth : 0));
                gv_buf_reset(&piece);
                w->r = gv_buf_add(&piece, v[i].p, v[i].len);
                if (w->r == GV_OK && v[i].kind == GV_UL_LABEL)
                        w->r = gv_buf_addc(&piece, ':');
                text_links(w, gv_buf_str(&piece));
                raw(w, "\n");
        }
        if (n == 0)
                raw(w, "\n");
        gv_buf_free(&piece);
        free(v);
}

static void render_agora(struct wr *w)
{
        struct gv_buf names = GV_BUF_INIT(1u << 20);
        bool checkins = false;
        enum gv_err r;

        bullet(w, 0);
        raw(w, "Meeting: ");
        text_links(w, w->m.name);
        raw(w, "\n");
        bullet(w, 0);
        raw(w, "Attending: ");
        r = gv_attending(w->s, w->cfg, w->m.id, w->mi, w->n_mi, &names);
        if (w->r == GV_OK)
                w->r = r;
        text(w, gv_buf_str(&names));
        raw(w, "\n");
        /* seed 003: "- Check ins" with "    - Name: how they are" */
        for (size_t i = 0; i < w->n_mi; i++) {
                if (w->mi[i].kind != GV_M_CHECKIN)
                        continue;
                if (!checkins) {
                        bullet(w, 0);
                        raw(w, "Check ins\n");
                        checkins = true;
                }
                bullet(w, 1);
                text(w, w->mi[i].nick);
                raw(w, ": ");
                checkin_lines(w, w->mi[i].text);
        }
        gv_buf_free(&names);
        for (size_t i = 0; i < w->n_mi; i++)
                if (in_section(w, SIZE_MAX, i) && w->mi[i].kind != GV_M_CHECKIN)
                        agora_note(w, &w->mi[i], 0);
        for (size_t t = 0; t < w->n_mi; t++) {
                const struct gv_item *ag;

                if (w->mi[t].kind != GV_M_TOPIC || !section_first(w, t))
                        continue;
                ag = agenda_item(w, w->mi[t].agenda_item);
                bullet(w, 0);
                text_links(w, ag ? ag->description : w->mi[t].text);
                if (ag && ag->reporter && *ag->reporter) {
                        raw(w, " (");
                        at(w, ag->reporter);
                        raw(w, ")");
                }
                raw(w, "\n");
                for (size_t i = 0; i < w->n_mi; i++)
                        if (in_section(w, t, i) && w->mi[i].kind != GV_M_CHECKIN)
                                agora_note(w, &w->mi[i], 1);
        }
        raw(w, "\n");
}

/* ---- meetbot: MeetBot's text minutes, verbatim ---- */

static void render_meetbot(struct wr *w)
{
        struct gv_buf t = GV_BUF_INIT(GV_MINUTES_MAX);
        size_t run = 0, longest = 0;
        enum gv_err r = gv_minutes_render(w->s, w->cfg, w->m.id, GV_MIN_MB_TEXT, &t);

        if (r) {
                if (w->r == GV_OK)
                        w->r = r;
                gv_buf_free(&t);
                return;
        }
        if (w->wt) {
                /* in <pre> entities are decoded and nothing else is markup */
                raw(w, "<pre>\n");
                for (const char *p = gv_buf_str(&t); *p && w->r == GV_OK; p++) {
                        if (*p == '&')
                                raw(w, "&amp;");
                        else if (*p == '<')
                                raw(w, "&lt;");
                        else if (*p == '>')
                                raw(w, "&gt;");
                        else
                                w->r = gv_buf_addc(w->b, *p);
                }
                raw(w, "\n</pre>\n\n");
                gv_buf_free(&t);
                return;
        }
        /* a fence longer than any backtick run inside; no "<!--" inside,
         * so no marker can be forged in the block */
        for (const char *p = gv_buf_str(&t); *p; p++) {
                run = *p == '`' ? run + 1 : 0;
                if (run > longest)
                        longest = run;
        }
        for (size_t i = 0; i < (longest < 3 ? 3 : longest + 1); i++)
                raw(w, "`");
        raw(w, "text\n");
        for (const char *p = gv_buf_str(&t); *p && w->r == GV_OK; p++) {
                if (strncmp(p, "<!--", 4) == 0)
                        raw(w, "<!-\\");
                else
                        w->r = gv_buf_addc(w->b, *p);
        }
        if (t.len && t.p[t.len - 1] != '\n')
                raw(w, "\n");
        for (size_t i = 0; i < (longest < 3 ? 3 : longest + 1); i++)
                raw(w, "`");
        raw(w, "\n\n");
        gv_buf_free(&t);
}

enum gv_err gv_wiki_render(struct gv_store *s, const struct gv_config *cfg, int64_t meeting,
                           enum gv_flavour flavour, bool wikitext, const char *marker,
                           struct gv_buf *out)
{
        struct wr w = { .b = out, .r = GV_OK, .wt = wikitext, .s = s, .cfg = cfg };
        size_t start = out->len;
        char date[16];
        int level = flavour == GV_FLAVOUR_AGORA ? 2 : 3;
        enum gv_err r;

        r = gv_store_meeting_get(s, meeting, &w.m);
        if (r)
                return r;
        if (flavour != GV_FLAVOUR_STANDUP) {
                bool standup = false;

                /* a standup meeting (its series' flavour) is laid out as one
                 * on every wiki; the other flavours are the wiki's */
                r = gv_meeting_is_standup(s, meeting, &standup);
                if (r)
                        goto out;
                if (standup)
                        flavour = GV_FLAVOUR_STANDUP;
        }
        if (flavour == GV_FLAVOUR_STANDUP)
                level = 2;
        r = gv_store_mitems(s, meeting, &w.mi, &w.n_mi);
        if (r == GV_OK)
                r = gv_store_items_discussed(s, meeting, &w.ag, &w.n_ag);
        if (r)
                goto out;
        heading_open(&w, level);
        if (flavour == GV_FLAVOUR_AGORA) {
                gv_fmt_date(w.m.started, date);
                raw(&w, "[[");
                raw(&w, date);
                raw(&w, "]]");
        } else if (flavour == GV_FLAVOUR_STANDUP) {
                char title[GV_STANDUP_TITLE_SIZE];

                gv_standup_title(s, cfg, &w.m, title);
                raw(&w, title);
        } else {
                gv_fmt_human_date(w.m.started, date);
                raw(&w, date);
                if (flavour == GV_FLAVOUR_MEETBOT) {
                        raw(&w, " ");
                        text(&w, w.m.name);
                }
        }
        heading_close(&w, level);
        raw(&w, marker);
        raw(&w, "\n\n");
        switch (flavour) {
        case GV_FLAVOUR_RESIN:
                render_resin(&w);
                break;
        case GV_FLAVOUR_STANDUP:
                if (w.r == GV_OK)
                        w.r = gv_standup_render(s, cfg, meeting,
                                                wikitext ? GV_MK_WIKITEXT : GV_MK_MD, false, out);
                break;
        case GV_FLAVOUR_AGORA:
                render_agora(&w);
                break;
        case GV_FLAVOUR_MEETBOT:
                render_meetbot(&w);
                break;
        }
        r = w.r;
out:
        if (r && out->p) {
                out->len = start;
                out->p[start] = '\0';
        }
        gv_meeting_clear(&w.m);
        gv_mitems_free(w.mi, w.n_mi);
        gv_items_free(w.ag, w.n_ag);
        return r;
}
