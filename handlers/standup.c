/* handlers/standup.c - see standup.h: the !update, !question, !other and
 * !checkin commands, the meeting series a #startmeeting belongs to, the
 * reading of an update and the standup layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/recur.h"
#include "../util/text.h"
#include "internal.h"
#include "minutes.h"
#include "standup.h"
#include "wiki.h"
#include "writer.h"

/* ---- an update's text ---- */

static const char *const labels[] = {
        "Last week", "This week", "Next week", "Since last update", "Since last time",
        "Yesterday", "Today", "Tomorrow", "Blockers",
};

#define FLOATING ((size_t)-1)

static bool blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

/* The canonical label s[0..n) starts with, followed (after blanks) by ':';
 * *skip is how far past the colon. NULL when none. */
static const char *label_at(const char *s, size_t n, size_t *skip)
{
        for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
                size_t l = strlen(labels[i]), k;

                if (n < l + 1)
                        continue;
                for (k = 0; k < l; k++) {
                        char a = s[k], b = labels[i][k];

                        if (a >= 'A' && a <= 'Z')
                                a = (char)(a + 32);
                        if (b >= 'A' && b <= 'Z')
                                b = (char)(b + 32);
                        if (a != b)
                                break;
                }
                if (k < l)
                        continue;
                while (k < n && blank(s[k]))
                        k++;
                if (k < n && s[k] == ':') {
                        *skip = k + 1;
                        return labels[i];
                }
        }
        return NULL;
}

/* A bullet mark ("* ", "- ", "+ ", or the mark alone) at s: its length. */
static size_t bullet_at(const char *s, size_t n)
{
        if (n >= 1 && (s[0] == '*' || s[0] == '-' || s[0] == '+') && (n == 1 || blank(s[1])))
                return 1;
        return 0;
}

enum gv_err gv_update_parse(const char *text, struct gv_uline **lines, size_t *n)
{
        size_t cap = 2, k = 0, sp = 0;
        size_t stack[GV_UPDATE_MAX_DEPTH];
        struct gv_uline *v;
        const char *p, *end;

        *lines = NULL;
        *n = 0;
        text = text ? text : "";
        end = text + strlen(text);
        for (p = text; *p; p++)
                cap += *p == '\n' ? 2 : 0;
        v = calloc(cap, sizeof(*v));
        if (!v)
                return GV_ENOMEM;
        for (p = text; p < end;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *e = nl ? nl : end, *s = p;
                size_t col = 0, skip, m;
                const char *label;

                p = nl ? nl + 1 : end;
                while (e > s && blank(e[-1]))
                        e--;
                while (s < e && blank(*s)) {
                        col += *s == '\t' ? 4 - col % 4 : 1;
                        s++;
                }
                if (s == e || k + 2 > cap)
                        continue;
                label = label_at(s, (size_t)(e - s), &skip);
                if (label) {
                        v[k].kind = GV_UL_LABEL;
                        v[k].p = label;
                        v[k].len = strlen(label);
                        k++;
                        sp = 0;
                        col += skip;
                        s += skip;
                        while (s < e && blank(*s)) {
                                col += *s == '\t' ? 4 - col % 4 : 1;
                                s++;
                        }
                        if (s == e)
                                continue;
                        if (bullet_at(s, (size_t)(e - s))) {
                                /* "Last week: * a": where its bullets line up is
                                 * decided by the next one (the line may have
                                 * lost a "!update " before it) */
                                stack[0] = FLOATING;
                                sp = 1;
                        }
                }
                m = bullet_at(s, (size_t)(e - s));
                if (m) {
                        const char *t = s + m;

                        while (t < e && blank(*t))
                                t++;
                        if (t == e)
                                continue;       /* an empty bullet */
                        /* its depth: the columns of the open bullets */
                        if (sp == 1 && stack[0] == FLOATING) {
                                if (!label)
                                        stack[0] = col;
                        } else {
                                while (sp > 0 && stack[sp - 1] > col)
                                        sp--;
                                if (sp == 0 || stack[sp - 1] < col) {
                                        if (sp < GV_UPDATE_MAX_DEPTH)
                                                stack[sp++] = col;
                                        else
                                                stack[sp - 1] = col;
                                }
                        }
                        v[k].kind = GV_UL_BULLET;
                        v[k].depth = (unsigned)(sp - 1);
                        v[k].p = t;
                        v[k].len = (size_t)(e - t);
                        k++;
                        continue;
                }
                v[k].kind = GV_UL_TEXT;
                v[k].p = s;
                v[k].len = (size_t)(e - s);
                k++;
        }
        if (k == 0) {
                free(v);
                return GV_OK;
        }
        *lines = v;
        *n = k;
        return GV_OK;
}

/* ---- flavours ---- */

const char *gv_flavour_name(enum gv_flavour f)
{
        switch (f) {
        case GV_FLAVOUR_RESIN:
                return "resin";
        case GV_FLAVOUR_AGORA:
                return "agora";
        case GV_FLAVOUR_MEETBOT:
                return "meetbot";
        case GV_FLAVOUR_STANDUP:
                return "standup";
        }
        return "resin";
}

enum gv_err gv_meeting_is_standup(struct gv_store *s, int64_t meeting, bool *yes)
{
        char *series = NULL, *flavour = NULL;
        enum gv_err r = gv_store_meeting_series(s, meeting, &series, &flavour);

        *yes = r == GV_OK && flavour && strcmp(flavour, "standup") == 0;
        free(series);
        free(flavour);
        return r;
}

/* ---- the commands ---- */

/* The configured acknowledgement of a noted update, check-in or other
 * business (the agenda's "ack": a reaction, a short notice, or nothing). */
static enum gv_err ack(struct ctx *x, const char *what)
{
        switch (x->c->cfg->ack) {
        case GV_ACK_REACTION:
                return queue_reaction(x, x->c->cfg->ack_reaction);
        case GV_ACK_NOTICE:
                return replyf(x, "%s noted.", what);
        case GV_ACK_NONE:
                break;
        }
        return GV_OK;
}

enum gv_err cmd_standup_note(struct ctx *x, const struct cmd *c, char *args)
{
        enum gv_mkind kind = command_kind(c);
        enum gv_err r = note_item(x, kind, args, strlen(args));

        if (r)
                return r;
        return ack(x, kind == GV_M_UPDATE ? "Update" : kind == GV_M_CHECKIN ? "Check-in" :
                   "Other business");
}

enum gv_err question_text(struct ctx *x, const char *args, char **text, struct gv_buf *why)
{
        char id[GV_SENDER_MAX + 1];
        const char *rest = NULL;
        struct gv_buf b = GV_BUF_INIT(1u << 20);
        enum gv_err r;

        *text = NULL;
        r = name_person(x, args, id, sizeof(id), &rest, why);
        if (r)
                return r;
        while (*rest == ' ' || *rest == '\t' || *rest == ',' || *rest == ':' || *rest == '\n')
                rest++;
        if (!*rest) {
                r = gv_buf_adds(why, "\nA question needs its text: !question @who <question>");
                return r ? r : GV_EINVAL;
        }
        r = gv_buf_printf(&b, "%s %s", id, rest);
        if (r == GV_OK)
                r = gv_buf_steal(&b, text);
        gv_buf_free(&b);
        return r;
}

enum gv_err cmd_question(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_buf why = GV_BUF_INIT(1u << 14);
        char *text = NULL;
        const char *asked, *q;
        const char *pings[1];
        size_t n;
        enum gv_err r;

        (void)c;
        r = question_text(x, args, &text, &why);
        if (r == GV_EINVAL) {
                r = replyf(x, "No question noted.%s", gv_buf_str(&why));
                goto out;
        }
        if (r == GV_OK)
                r = note_item(x, GV_M_QUESTION, text, strlen(text));
        if (r)
                goto out;
        gv_question_split(text, &asked, &n, &q);
        text[n] = '\0';
        pings[0] = text;
        {
                struct gv_buf t = GV_BUF_INIT(1u << 10);

                r = gv_buf_printf(&t, "Question for %s noted.", text);
                if (r == GV_OK)
                        r = reply_pinging(x, gv_buf_str(&t), pings, 1);
                gv_buf_free(&t);
        }
out:
        free(text);
        gv_buf_free(&why);
        return r;
}

void gv_question_split(const char *text, const char **asked, size_t *asked_len,
                       const char **question)
{
        const char *sp;

        text = text ? text : "";
        sp = strchr(text, ' ');
        *asked = text;
        *asked_len = sp ? (size_t)(sp - text) : strlen(text);
        *question = sp ? sp + 1 : "";
}

/* ---- the series a meeting belongs to ---- */

/* How far ts is from the series' nearest occurrence (the last one at or
 * before it, or the next one), ms; INT64_MAX when it has none. */
static int64_t series_distance(const struct gv_series_cfg *se, int64_t ts)
{
        int64_t prev = 0, next = 0, d = INT64_MAX;

        if (!se->recur)
                return d;
        if (gv_recur_prev(se->recur, ts, &prev) == GV_OK && prev <= ts)
                d = ts - prev;
        if (gv_recur_next(se->recur, ts, &next) == GV_OK && next > ts && next - ts < d)
                d = next - ts;
        return d;
}

enum gv_err series_for_room(struct ctx *x, const struct gv_series_cfg **out)
{
        const struct gv_config *cfg = x->c->cfg;
        int64_t best_d = INT64_MAX;
        enum gv_err r = GV_OK;

        *out = NULL;
        for (size_t i = 0; i < cfg->n_series; i++) {
                const struct gv_series_cfg *se = &cfg->series[i];
                bool match = false;
                int64_t d;

                r = series_room_is(x->c->s, se->room, x->ev->room, &match);
                if (r)
                        return r;
                if (!match)
                        continue;
                d = series_distance(se, x->ev->ts);
                if (!*out || d < best_d) {
                        *out = se;
                        best_d = d;
                }
        }
        return r;
}

/* ---- rendering ---- */

struct sw {
        struct w w;
        enum gv_markup mk;
        int list;               /* HTML: the depth of the open list, -1 for none */
        bool in_list;           /* text markups: a list was written */
        struct gv_buf scratch;
};

/* User text, one line, escaped for the markup. */
static void s_text(struct sw *o, const char *s)
{
        size_t from = o->w.b->len;

        if (o->w.r)
                return;
        s = s ? s : "";
        switch (o->mk) {
        case GV_MK_TEXT:
                o->w.r = gv_buf_adds(o->w.b, s);
                break;
        case GV_MK_HTML:
                o->w.r = gv_html_escape(o->w.b, s);
                break;
        case GV_MK_MD:
                o->w.r = gv_wiki_md(o->w.b, s);
                break;
        case GV_MK_WIKITEXT:
                o->w.r = gv_wiki_wikitext(o->w.b, s);
                break;
        }
        if (o->w.r == GV_OK)
                gv_one_line(o->w.b, from);
}

static void s_textn(struct sw *o, const char *p, size_t n)
{
        gv_buf_reset(&o->scratch);
        if (o->w.r == GV_OK)
                o->w.r = gv_buf_add(&o->scratch, p, n);
        s_text(o, gv_buf_str(&o->scratch));
}

/* "@name": the @ kept, the name escaped. */
static void s_at(struct sw *o, const char *s)
{
        s = s ? s : "";
        if (*s == '@')
                s++;
        put(&o->w, "@");
        s_text(o, s);
}

static void s_list_end(struct sw *o)
{
        if (o->mk == GV_MK_HTML) {
                if (o->list < 0)
                        return;
                put(&o->w, "</li>");
                for (; o->list > 0; o->list--)
                        put(&o->w, "</ul></li>");
                put(&o->w, "</ul>\n");
                o->list = -1;
                return;
        }
        if (o->in_list)
                put(&o->w, "\n");
        o->in_list = false;
}

static void s_heading_open(struct sw *o, int level)
{
        s_list_end(o);
        if (o->mk == GV_MK_HTML) {
                char h[8] = { '<', 'h', (char)('0' + level), '>', '\0' };

                put(&o->w, h);
                return;
        }
        for (int i = 0; i < level; i++)
                put(&o->w, o->mk == GV_MK_WIKITEXT ? "=" : "#");
        put(&o->w, " ");
}

static void s_heading_close(struct sw *o, int level)
{
        if (o->mk == GV_MK_HTML) {
                char h[8] = { '<', '/', 'h', (char)('0' + level), '>', '\n', '\0' };

                put(&o->w, h);
                return;
        }
        if (o->mk == GV_MK_WIKITEXT) {
                put(&o->w, " ");
                for (int i = 0; i < level; i++)
                        put(&o->w, "=");
        }
        put(&o->w, "\n\n");
}

/* A heading of fixed text (gavel's own words). */
static void s_heading(struct sw *o, int level, const char *title)
{
        s_heading_open(o, level);
        put(&o->w, title);
        s_heading_close(o, level);
}

static void s_para_open(struct sw *o)
{
        s_list_end(o);
        if (o->mk == GV_MK_HTML)
                put(&o->w, "<p>");
}

static void s_para_close(struct sw *o)
{
        put(&o->w, o->mk == GV_MK_HTML ? "</p>\n" : "\n\n");
}

/* Opens a bullet at depth; its content follows, s_item_close() ends it. */
static void s_item_open(struct sw *o, unsigned depth)
{
        if (o->mk == GV_MK_HTML) {
                int d = (int)depth;

                if (d > o->list + 1)
                        d = o->list + 1;
                if (o->list < 0) {
                        put(&o->w, "<ul>\n");
                        o->list = 0;
                } else if (d > o->list) {
                        put(&o->w, "\n<ul>\n");
                        o->list = d;
                } else {
                        put(&o->w, "</li>\n");
                        for (; o->list > d; o->list--)
                                put(&o->w, "</ul></li>\n");
                }
                put(&o->w, "<li>");
                return;
        }
        o->in_list = true;
        for (unsigned i = 0; i < depth; i++)
                put(&o->w, o->mk == GV_MK_WIKITEXT ? "*" : o->mk == GV_MK_MD ? "    " : "  ");
        put(&o->w, o->mk == GV_MK_WIKITEXT ? "* " : "* ");
}

static void s_item_close(struct sw *o)
{
        if (o->mk != GV_MK_HTML)
                put(&o->w, "\n");
}

struct sections {
        struct gv_store *s;
        const struct gv_config *cfg;
        struct gv_meeting m;
        struct gv_mitem *mi;
        size_t n_mi;
};

/* The person an item is by: its sender, else its nick. */
static const char *who_key(const struct gv_mitem *it)
{
        return it->sender && *it->sender ? it->sender : it->nick;
}

/* text's lines (gv_update_parse); false, with the writer's error set, when
 * they cannot be had. */
static bool parse_lines(struct sw *o, const char *text, struct gv_uline **v, size_t *n)
{
        enum gv_err r = gv_update_parse(text, v, n);

        if (r && o->w.r == GV_OK)
                o->w.r = r;
        return r == GV_OK;
}

static void render_update(struct sw *o, const char *text)
{
        struct gv_uline *v = NULL;
        size_t n = 0;

        if (!parse_lines(o, text, &v, &n))
                return;
        for (size_t i = 0; i < n; i++) {
                switch (v[i].kind) {
                case GV_UL_LABEL:
                        s_para_open(o);
                        putn(&o->w, v[i].p, v[i].len);  /* gavel's own word */
                        put(&o->w, ":");
                        s_para_close(o);
                        break;
                case GV_UL_BULLET:
                        s_item_open(o, v[i].depth);
                        s_textn(o, v[i].p, v[i].len);
                        s_item_close(o);
                        break;
                case GV_UL_TEXT:
                        s_para_open(o);
                        s_textn(o, v[i].p, v[i].len);
                        s_para_close(o);
                        break;
                }
        }
        s_list_end(o);
        free(v);
}

static void render_updates(struct sw *o, const struct sections *sc)
{
        s_heading(o, 3, "Updates since last time");
        for (size_t i = 0; i < sc->n_mi; i++) {
                const struct gv_mitem *it = &sc->mi[i];
                bool seen = false;

                if (it->kind != GV_M_UPDATE)
                        continue;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = sc->mi[j].kind == GV_M_UPDATE &&
                               strcmp(who_key(&sc->mi[j]), who_key(it)) == 0;
                if (seen)
                        continue;       /* under the person's first update */
                s_heading_open(o, 5);
                s_at(o, it->nick);
                s_heading_close(o, 5);
                for (size_t j = i; j < sc->n_mi; j++)
                        if (sc->mi[j].kind == GV_M_UPDATE &&
                            strcmp(who_key(&sc->mi[j]), who_key(it)) == 0)
                                render_update(o, sc->mi[j].text);
        }
}

/* The text of a check-in, question or other business: its first line
 * ends the open item, the lines after it are items under it (depth + 1,
 * deeper as they nest). */
static void s_lines(struct sw *o, const char *text, unsigned depth)
{
        struct gv_uline *v = NULL;
        size_t n = 0;

        if (!parse_lines(o, text, &v, &n))
                return;
        for (size_t i = 0; i < n; i++) {
                if (i > 0) {
                        s_item_close(o);
                        s_item_open(o, depth + 1 + (v[i].kind == GV_UL_BULLET ? v[i].depth : 0));
                }
                if (v[i].kind == GV_UL_LABEL) {
                        putn(&o->w, v[i].p, v[i].len);
                        put(&o->w, ":");
                } else {
                        s_textn(o, v[i].p, v[i].len);
                }
        }
        free(v);
}

/* The asked person of a question as shown: "@localpart". */
static void s_asked(struct sw *o, const char *asked, size_t n)
{
        char id[GV_SENDER_MAX + 1], nick[GV_SENDER_MAX + 1];

        snprintf(id, sizeof(id), "%.*s", (int)n, asked);
        gv_nick_of(id, nick, sizeof(nick));
        s_at(o, nick);
}

static void render_questions(struct sw *o, const struct sections *sc)
{
        s_heading(o, 3, "Questions, announcements and comments");
        for (size_t i = 0; i < sc->n_mi; i++) {
                const struct gv_mitem *it = &sc->mi[i];
                const char *asked, *q;
                size_t n;
                bool seen = false;

                if (it->kind != GV_M_QUESTION)
                        continue;
                gv_question_split(it->text, &asked, &n, &q);
                /* one "asker -> asked:" per pair, its questions under it */
                for (size_t j = 0; j < i && !seen; j++) {
                        const char *a2, *q2;
                        size_t n2;

                        if (sc->mi[j].kind != GV_M_QUESTION)
                                continue;
                        gv_question_split(sc->mi[j].text, &a2, &n2, &q2);
                        seen = n2 == n && strncmp(a2, asked, n) == 0 &&
                               strcmp(who_key(&sc->mi[j]), who_key(it)) == 0;
                }
                if (seen)
                        continue;
                s_item_open(o, 0);
                s_at(o, it->nick);
                put(&o->w, o->mk == GV_MK_HTML ? " -&gt; " : " -> ");
                s_asked(o, asked, n);
                put(&o->w, ":");
                s_item_close(o);
                for (size_t j = i; j < sc->n_mi; j++) {
                        const char *a2, *q2;
                        size_t n2;

                        if (sc->mi[j].kind != GV_M_QUESTION)
                                continue;
                        gv_question_split(sc->mi[j].text, &a2, &n2, &q2);
                        if (n2 != n || strncmp(a2, asked, n) != 0 ||
                            strcmp(who_key(&sc->mi[j]), who_key(it)) != 0)
                                continue;
                        s_item_open(o, 1);
                        s_lines(o, q2, 1);
                        s_item_close(o);
                }
        }
        s_list_end(o);
}

/* "* @nick: text" for each item of kind. */
static void render_said(struct sw *o, const struct sections *sc, enum gv_mkind kind)
{
        for (size_t i = 0; i < sc->n_mi; i++) {
                if (sc->mi[i].kind != kind)
                        continue;
                s_item_open(o, 0);
                if (kind == GV_M_CHECKIN) {
                        s_text(o, sc->mi[i].nick);
                } else {
                        s_at(o, sc->mi[i].nick);
                }
                put(&o->w, ": ");
                s_lines(o, sc->mi[i].text, 0);
                s_item_close(o);
        }
        s_list_end(o);
}

static void render_checkins(struct sw *o, const struct sections *sc)
{
        struct gv_buf names = GV_BUF_INIT(1u << 20);
        bool any = false;
        enum gv_err r;

        for (size_t i = 0; i < sc->n_mi && !any; i++)
                any = sc->mi[i].kind == GV_M_CHECKIN;
        if (!any)
                return;
        s_heading(o, 3, "Check ins");
        r = gv_attending(sc->s, sc->cfg, sc->m.id, sc->mi, sc->n_mi, &names);
        if (r && o->w.r == GV_OK)
                o->w.r = r;
        s_para_open(o);
        put(&o->w, "Attending: ");
        s_text(o, gv_buf_str(&names));
        s_para_close(o);
        gv_buf_free(&names);
        render_said(o, sc, GV_M_CHECKIN);
}

/* Whatever else was noted in the standup (#info, #action, #topic, ...). */
static void render_notes(struct sw *o, const struct sections *sc)
{
        bool head = false;

        for (size_t i = 0; i < sc->n_mi; i++) {
                const struct gv_mitem *it = &sc->mi[i];

                if (it->kind == GV_M_UPDATE || it->kind == GV_M_QUESTION ||
                    it->kind == GV_M_OTHER || it->kind == GV_M_CHECKIN)
                        continue;
                if (!head)
                        s_heading(o, 3, "Notes");
                head = true;
                s_item_open(o, 0);
                put(&o->w, gv_mkind_label(it->kind));
                put(&o->w, ": ");
                s_text(o, it->text);
                put(&o->w, " (");
                s_text(o, it->nick);
                put(&o->w, ")");
                s_item_close(o);
        }
        s_list_end(o);
}

void gv_standup_title(struct gv_store *s, const struct gv_config *cfg, const struct gv_meeting *m,
                      char out[GV_STANDUP_TITLE_SIZE])
{
        char date[11], local[64], *series = NULL, *flavour = NULL;

        gv_fmt_date(m->started, date);
        /* in the series' zone: "Mon 2026-12-07 15:00 EET" */
        if (cfg && gv_store_meeting_series(s, m->id, &series, &flavour) == GV_OK && series) {
                const struct gv_series_cfg *se = series_named(cfg, series);

                if (se && gv_recur_local(se->recur, m->started, local, sizeof(local)) >= 14 &&
                    local[3] == ' ' && local[8] == '-' && local[11] == '-') {
                        memcpy(date, local + 4, 10);
                        date[10] = '\0';
                }
        }
        free(series);
        free(flavour);
        snprintf(out, GV_STANDUP_TITLE_SIZE, "Standup meeting - %s", date);
}

static enum gv_err standup_render(struct gv_store *s, const struct gv_config *cfg, int64_t meeting,
                                  enum gv_markup mk, bool with_title, bool keep_partial,
                                  struct gv_buf *out)
{
        struct sw o = { .w = { out, GV_OK }, .mk = mk, .list = -1 };
        struct sections sc = { .s = s, .cfg = cfg };
        size_t start = out->len;
        enum gv_err r;

        gv_buf_init(&o.scratch, out->max);
        r = gv_store_meeting_get(s, meeting, &sc.m);
        if (r)
                goto done;
        r = gv_store_mitems(s, meeting, &sc.mi, &sc.n_mi);
        if (r)
                goto out;
        if (with_title) {
                char title[GV_STANDUP_TITLE_SIZE];

                gv_standup_title(s, cfg, &sc.m, title);
                s_heading(&o, 2, title);
        }
        render_updates(&o, &sc);
        render_questions(&o, &sc);
        s_heading(&o, 3, "Other business");
        render_said(&o, &sc, GV_M_OTHER);
        render_checkins(&o, &sc);
        render_notes(&o, &sc);
        s_list_end(&o);
        r = o.w.r;
out:
        gv_meeting_clear(&sc.m);
        gv_mitems_free(sc.mi, sc.n_mi);
done:
        gv_buf_free(&o.scratch);
        if (r && !(r == GV_ETOOBIG && keep_partial) && out->p) {
                out->len = start;
                out->p[start] = '\0';
        }
        return r;
}

enum gv_err gv_standup_render(struct gv_store *s, const struct gv_config *cfg, int64_t meeting,
                              enum gv_markup mk, bool with_title, struct gv_buf *out)
{
        return standup_render(s, cfg, meeting, mk, with_title, false, out);
}

enum gv_err gv_standup_render_partial(struct gv_store *s, const struct gv_config *cfg,
                                      int64_t meeting, enum gv_markup mk, struct gv_buf *out)
{
        return standup_render(s, cfg, meeting, mk, true, true, out);
}

/* ---- attending ---- */

struct att {
        const struct gv_config *cfg;
        struct gv_buf *out;
        char **names;
        size_t n, cap;
        enum gv_err r;
};

static void att_add(struct att *a, const char *nick)
{
        if (a->r || !nick || !*nick)
                return;
        if (a->cfg && a->cfg->bot_name && gv_ieq(nick, a->cfg->bot_name))
                return;
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->names[i], nick) == 0)
                        return;
        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 16;
                char **p = realloc(a->names, cap * sizeof(*p));

                if (!p) {
                        a->r = GV_ENOMEM;
                        return;
                }
                a->names = p;
                a->cap = cap;
        }
        a->names[a->n] = strdup(nick);
        if (!a->names[a->n]) {
                a->r = GV_ENOMEM;
                return;
        }
        a->r = gv_buf_printf(a->out, "%s%s", a->n ? ", " : "", nick);
        a->n++;
}

static void att_line(void *ud, const char *nick, int64_t n)
{
        (void)n;
        att_add(ud, nick);
}

enum gv_err gv_attending(struct gv_store *s, const struct gv_config *cfg, int64_t meeting,
                         const struct gv_mitem *mi, size_t n_mi, struct gv_buf *out)
{
        struct att a = { .cfg = cfg, .out = out };
        enum gv_err r = gv_store_line_counts(s, meeting, att_line, &a);

        for (size_t i = 0; i < n_mi && r == GV_OK; i++)
                if (mi[i].kind == GV_M_CHECKIN)
                        att_add(&a, mi[i].nick);
        if (r == GV_OK)
                r = a.r;
        for (size_t i = 0; i < a.n; i++)
                free(a.names[i]);
        free(a.names);
        return r;
}
