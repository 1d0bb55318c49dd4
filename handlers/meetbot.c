/* handlers/meetbot.c - see meetbot.h.
 *
 * What MeetBot 0.1.4 does, and so what this file does:
 * - Minutes items come in the order they were noted; a #topic opens a group,
 *   items before the first topic stand alone.
 * - Every bullet of the .txt (and every item of the .html summary) is
 *   wrapped by Python's textwrap at 72 columns, with a hanging indent.
 * - "People Present (lines said)" counts every line of the log, the meeting
 *   bot's own included, plus everyone #chair'ed or #nick'ed (with 0); it is
 *   sorted by count, and ties keep the order of a Python 2 dict of the nicks
 *   (the order MeetBot's files show), emulated below.
 * - The HTML escapes &, < and > of user text, as MeetBot does; unlike
 *   MeetBot, the title and the meeting's owner are escaped too, and a link
 *   item's URL is a link only with a known scheme.
 * All four files (and minutes.c's .md) render from one model of the meeting
 * (gv_minutes_model_get, below), loaded once and kept on the store while
 * nothing changes: a meeting's five file rows cost one load (issue 11). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/text.h"
#include "meetbot.h"
#include "writer.h"
#include "parse.h"

#define MEETBOT_URL "http://wiki.debian.org/MeetBot"
#define MEETBOT_VERSION "0.1.4"
#define FIELD_MAX 256

/* ---- the writer: the first error sticks ---- */

/* What stops a run of plain text: the NUL, the control characters
 * gv_one_line() makes spaces (all below 0x20 but tab, and DEL) and, for
 * HTML, MeetBot's &, < and >. One pass instead of an append and a rescan. */
enum { STOP_TEXT = 1, STOP_HTML = 2, STOP_ALL = STOP_TEXT | STOP_HTML };
static const unsigned char stop[256] = {
        [0] = STOP_ALL, [1] = STOP_ALL, [2] = STOP_ALL, [3] = STOP_ALL, [4] = STOP_ALL,
        [5] = STOP_ALL, [6] = STOP_ALL, [7] = STOP_ALL, [8] = STOP_ALL, [10] = STOP_ALL,
        [11] = STOP_ALL, [12] = STOP_ALL, [13] = STOP_ALL, [14] = STOP_ALL, [15] = STOP_ALL,
        [16] = STOP_ALL, [17] = STOP_ALL, [18] = STOP_ALL, [19] = STOP_ALL, [20] = STOP_ALL,
        [21] = STOP_ALL, [22] = STOP_ALL, [23] = STOP_ALL, [24] = STOP_ALL, [25] = STOP_ALL,
        [26] = STOP_ALL, [27] = STOP_ALL, [28] = STOP_ALL, [29] = STOP_ALL, [30] = STOP_ALL,
        [31] = STOP_ALL, [127] = STOP_ALL,
        ['&'] = STOP_HTML, ['<'] = STOP_HTML, ['>'] = STOP_HTML,
};

/* s on one line (gv_one_line), escaped as MeetBot's html() when mask has
 * STOP_HTML. */
static void put_line(struct w *w, const char *s, unsigned mask)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "");

        while (w->r == GV_OK) {
                const unsigned char *b = p;

                while (!(stop[*p] & mask))
                        p++;
                if (p > b)
                        putn(w, (const char *)b, (size_t)(p - b));
                if (!*p)
                        return;
                put(w, *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : " ");
                p++;
        }
}

static void put_text(struct w *w, const char *s)
{
        put_line(w, s, STOP_TEXT);
}

/* MeetBot's html(): &, < and > (enough in element content and in the
 * attributes below, which are all quoted and never hold user quotes). */
static void put_html(struct w *w, const char *s)
{
        put_line(w, s, STOP_TEXT | STOP_HTML);
}

/* ---- textwrap ---- */

static size_t chars(const char *s, size_t n)
{
        size_t c = 0;

        for (size_t i = 0; i < n; i++)
                if (((unsigned char)s[i] & 0xc0) != 0x80)
                        c++;
        return c;
}

static bool ws(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* MeetBot's wrapList(): a hanging indent of two more. */
static void put_wrapped(struct w *w, const struct gv_buf *item, size_t indent)
{
        if (w->r == GV_OK)
                w->r = gv_meetbot_wrap(w->b, gv_buf_str(item), indent, indent + 2);
}

/* ---- people present: a Python 2 dict of nick -> lines said ---- */

struct person {
        char *nick;
        int64_t lines;
        size_t slot_order;      /* position in the dict's table when iterated */
};

struct dict {
        struct person *p;
        size_t n, cap;
        size_t *table;          /* index + 1 into p, 0 for an empty slot */
        size_t mask;
        enum gv_err r;
};

/* The hash of a Python 2 unicode string (of code points; UCS-4 build),
 * which for ASCII is that of str. */
static uint64_t py_hash(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        uint64_t x = 0, len = 0;
        bool any = false;

        while (*p) {
                uint32_t cp = *p++;

                if (cp >= 0xc0) {
                        int more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : 1;

                        cp &= 0x3fu >> more;
                        while (more-- && (*p & 0xc0) == 0x80)
                                cp = (cp << 6) | (*p++ & 0x3fu);
                }
                if (!any) {
                        x = (uint64_t)cp << 7;
                        any = true;
                }
                x = (1000003u * x) ^ cp;
                len++;
        }
        if (!any)
                return 0;
        x ^= len;
        if (x == UINT64_MAX)
                x = UINT64_MAX - 1;
        return x;
}

/* The slot CPython 2.7's lookdict finds for key in a table of mask + 1. */
static size_t dict_slot(const struct dict *d, const size_t *table, size_t mask, const char *key)
{
        uint64_t h = py_hash(key), perturb = h, i = h & mask;

        for (;;) {
                size_t e = table[i & mask];

                if (e == 0 || strcmp(d->p[e - 1].nick, key) == 0)
                        return (size_t)(i & mask);
                i = (i << 2) + i + perturb + 1;
                perturb >>= 5;
        }
}

static void dict_resize(struct dict *d)
{
        size_t size = 8, *t, *old = d->table, old_size = d->mask + 1;

        while (size <= 4 * d->n)
                size <<= 1;
        t = calloc(size, sizeof(*t));
        if (!t) {
                d->r = GV_ENOMEM;
                return;
        }
        d->table = t;
        d->mask = size - 1;
        for (size_t i = 0; i < old_size; i++)
                if (old[i])
                        t[dict_slot(d, t, d->mask, d->p[old[i] - 1].nick)] = old[i];
        free(old);
}

static void dict_add(struct dict *d, const char *nick, int64_t lines)
{
        size_t slot;

        if (d->r || !nick || !*nick)
                return;
        if (!d->table) {
                d->table = calloc(8, sizeof(*d->table));
                d->mask = 7;
                if (!d->table) {
                        d->r = GV_ENOMEM;
                        return;
                }
        }
        slot = dict_slot(d, d->table, d->mask, nick);
        if (d->table[slot]) {
                d->p[d->table[slot] - 1].lines += lines;
                return;
        }
        if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 16;
                struct person *p = realloc(d->p, cap * sizeof(*p));

                if (!p) {
                        d->r = GV_ENOMEM;
                        return;
                }
                d->p = p;
                d->cap = cap;
        }
        d->p[d->n].nick = strdup(nick);
        if (!d->p[d->n].nick) {
                d->r = GV_ENOMEM;
                return;
        }
        d->p[d->n].lines = lines;
        d->table[slot] = ++d->n;
        if (d->n * 3 >= (d->mask + 1) * 2)
                dict_resize(d);
}

static void dict_free(struct dict *d)
{
        for (size_t i = 0; i < d->n; i++)
                free(d->p[i].nick);
        free(d->p);
        free(d->table);
}

/* ---- what a rendering knows ---- */

struct mb {
        struct gv_store *s;
        const struct gv_config *cfg;
        struct w w;
        const struct gv_sink_fn *sink;
        struct gv_meeting m;
        bool have_m;
        char *title;            /* NULL: no title (bare #startmeeting) */
        struct gv_mitem *mi;
        size_t n_mi;
        uint64_t *anchor;       /* per item: its line number in the log, 0 if unknown */
        bool *assigned;
        struct dict people;
        struct person **present;        /* people, most lines first */
        struct person **by_nick;        /* people, by nick case-insensitively */
        char chairs[64][128];   /* MeetBot's own chair list while the log is read */
        size_t n_chairs;
        uint64_t n_lines;
        int64_t last_ts;
        size_t next_item;
        char base[GV_MINUTES_BASE_SIZE];
        char channel[FIELD_MAX];
        char logs_link[1280];   /* the .txt's "full logs" URL */
        struct gv_buf item;     /* one item before it is wrapped */
        const size_t *named, *named_start;      /* the model's (model_named) */
};

static bool is_chair(const struct mb *x, const char *nick)
{
        for (size_t i = 0; i < x->n_chairs; i++)
                if (strcmp(x->chairs[i], nick) == 0)
                        return true;
        return false;
}

/* "#chair a b" / "#nick a, b" said by nick: MeetBot's do_chair and do_nick. */
static void command_line(struct mb *x, const char *nick, const char *text)
{
        const char *p = text;
        bool chair, unchair;

        if (!*p || !strchr(x->cfg && x->cfg->command_prefixes ? x->cfg->command_prefixes : "#", *p))
                return;
        p++;
        chair = gv_iprefix(p, "chair") && (p[5] == ' ' || p[5] == '\t');
        unchair = gv_iprefix(p, "unchair") && (p[7] == ' ' || p[7] == '\t');
        if (!chair && !unchair && !(gv_iprefix(p, "nick") && (p[4] == ' ' || p[4] == '\t')))
                return;
        if ((chair || unchair) && strcmp(nick, x->m.starter ? x->m.starter : "") != 0 &&
            !is_chair(x, nick))
                return;
        p += chair ? 5 : unchair ? 7 : 4;
        while (*p) {
                char word[128];
                size_t n;

                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                for (n = 0; p[n] && p[n] != ' ' && p[n] != '\t' && p[n] != ','; n++)
                        ;
                if (n == 0)
                        break;
                if (n < sizeof(word)) {
                        memcpy(word, p, n);
                        word[n] = '\0';
                        if (word[0] == '@' && strchr(word, ':')) {      /* a Matrix ID: its nick */
                                char id[sizeof(word)];

                                memcpy(id, word, n + 1);
                                gv_nick_of(id, word, sizeof(word));
                        }
                        if (unchair) {
                                for (size_t i = 0; i < x->n_chairs; i++)
                                        if (strcmp(x->chairs[i], word) == 0)
                                                x->chairs[i][0] = '\0';
                        } else {
                                if (chair && !is_chair(x, word) &&
                                    x->n_chairs < sizeof(x->chairs) / sizeof(x->chairs[0]))
                                        memcpy(x->chairs[x->n_chairs++], word, strlen(word) + 1);
                                dict_add(&x->people, word, 0);
                        }
                }
                p += n;
        }
}

/* Whether a line holds an item's text: its first line, for the items whose
 * text runs over several (!update and the like take the lines after them). */
static bool said_in(const char *line, const char *item)
{
        const char *nl = strchr(item, '\n');

        if (!nl)
                return strstr(line, item) != NULL;
        return nl > item && memmem(line, strlen(line), item, (size_t)(nl - item)) != NULL;
}

static int on_line(void *ud, int64_t ts, const char *nick, const char *text, bool action)
{
        struct mb *x = ud;

        x->n_lines++;
        x->last_ts = ts;
        dict_add(&x->people, nick, 1);
        if (!action)
                command_line(x, nick, text);
        /* The items noted from this line link to it. */
        while (x->next_item < x->n_mi &&
               (x->anchor[x->next_item] || x->mi[x->next_item].ts < ts))
                x->next_item++;         /* lines come in time order: never again */
        for (size_t i = x->next_item; i < x->n_mi && x->mi[i].ts <= ts; i++) {
                const struct gv_mitem *it = &x->mi[i];

                if (!x->anchor[i] && it->ts == ts && it->nick && strcmp(it->nick, nick) == 0 &&
                    it->text && said_in(text, it->text))
                        x->anchor[i] = x->n_lines;
        }
        return x->people.r != GV_OK;
}

static int cmp_lines(const void *a, const void *b)
{
        const struct person *x = *(const struct person *const *)a;
        const struct person *y = *(const struct person *const *)b;

        if (x->lines != y->lines)
                return x->lines < y->lines ? 1 : -1;
        return x->slot_order < y->slot_order ? -1 : x->slot_order > y->slot_order;
}

static int lower(int c)
{
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int cmp_nick(const void *a, const void *b)
{
        const struct person *x = *(const struct person *const *)a;
        const struct person *y = *(const struct person *const *)b;
        size_t i = 0;

        while (x->nick[i] && lower((unsigned char)x->nick[i]) == lower((unsigned char)y->nick[i]))
                i++;
        if (lower((unsigned char)x->nick[i]) != lower((unsigned char)y->nick[i]))
                return lower((unsigned char)x->nick[i]) - lower((unsigned char)y->nick[i]);
        return x->slot_order < y->slot_order ? -1 : x->slot_order > y->slot_order;
}

static enum gv_err load(struct mb *x)
{
        char cf[FIELD_MAX], nf[FIELD_MAX], pat[1024];
        char *title = NULL;
        size_t k = 0;
        bool known;
        enum gv_err r;

        gv_minutes_file_base(&x->m, x->base);
        snprintf(x->channel, sizeof(x->channel), "%s",
                 x->cfg && x->cfg->channel ? x->cfg->channel : "#meeting");
        r = gv_store_meeting_title(x->s, x->m.id, &title);
        if (r)
                return r;
        known = title != NULL;
        if (!title)             /* ended before titles were kept: its name */
                title = strdup(x->m.name ? x->m.name : "");
        if (!title)
                return GV_ENOMEM;
        gv_meetbot_fields(x->cfg, &x->m, known ? title : NULL, cf, nf);
        if (*title)
                x->title = title;
        else
                free(title);
        /* the "full logs" link: logs_url, then the log's file name */
        gv_meetbot_pattern(x->cfg ? x->cfg->logs_url : "", cf, nf, x->m.started, false, pat,
                           sizeof(pat));
        k = strlen(pat);
        snprintf(x->logs_link, sizeof(x->logs_link), "%s%s%s.log.html", pat,
                 k && pat[k - 1] != '/' ? "/" : "", x->base);

        r = gv_store_mitems(x->s, x->m.id, &x->mi, &x->n_mi);
        if (r)
                return r;
        x->anchor = calloc(x->n_mi ? x->n_mi : 1, sizeof(*x->anchor));
        if (!x->anchor)
                return GV_ENOMEM;
        r = gv_store_lines(x->s, x->m.id, on_line, x);
        if (r == GV_OK)
                r = x->people.r;
        if (r)
                return r;
        x->present = calloc(x->people.n ? x->people.n : 1, sizeof(*x->present));
        x->by_nick = calloc(x->people.n ? x->people.n : 1, sizeof(*x->by_nick));
        if (!x->present || !x->by_nick)
                return GV_ENOMEM;
        k = 0;
        for (size_t i = 0; i <= x->people.mask && x->people.table; i++) {
                size_t e = x->people.table[i];

                if (!e)
                        continue;
                x->people.p[e - 1].slot_order = k;
                x->present[k] = &x->people.p[e - 1];
                x->by_nick[k++] = &x->people.p[e - 1];
        }
        qsort(x->present, k, sizeof(*x->present), cmp_lines);
        qsort(x->by_nick, k, sizeof(*x->by_nick), cmp_nick);
        return GV_OK;
}

static void mb_clear(struct mb *x)
{
        if (x->have_m)
                gv_meeting_clear(&x->m);
        free(x->title);
        gv_mitems_free(x->mi, x->n_mi);
        free(x->anchor);
        free(x->assigned);
        dict_free(&x->people);
        free(x->present);
        free(x->by_nick);
        gv_buf_free(&x->item);
}

/* ---- actions, by person ---- */

static bool word_byte(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
}

/* MeetBot's \bNICK\b, case-insensitively. */
static bool names(const char *text, const char *nick)
{
        size_t n = strlen(nick), i, k;
        const unsigned char *t = (const unsigned char *)text;
        const unsigned char *w = (const unsigned char *)nick;

        if (n == 0)
                return false;
        for (i = 0; t[i]; i++) {
                if (word_byte(w[0]) && i > 0 && word_byte(t[i - 1]))
                        continue;
                for (k = 0; k < n && t[i + k] && lower(t[i + k]) == lower(w[k]); k++)
                        ;
                if (k == n && !(word_byte(w[n - 1]) && word_byte(t[i + n])))
                        return true;
        }
        return false;
}

/* ---- items ---- */

static const char *label(enum gv_mkind k)
{
        return gv_mkind_label(k);
}

/* A link item: the URL is the first word, the rest is its description. */
static void link_split(const char *text, size_t *url_len, const char **rest)
{
        const char *sp = strchr(text, ' ');

        *url_len = sp ? (size_t)(sp - text) : strlen(text);
        *rest = sp ? sp + 1 : "";
        while (**rest == ' ' || **rest == '\t')
                (*rest)++;
}

static void item_time(struct w *w, const struct gv_mitem *it)
{
        put_hms(w, it->ts);
}

/* "* " + MeetBot's Item.text(). */
static void text_item(struct mb *x, const struct gv_mitem *it)
{
        struct w w = { &x->item, GV_OK };
        size_t n;

        gv_buf_reset(&x->item);
        put(&w, "* ");
        if (it->kind == GV_M_LINK) {
                const char *rest;
                size_t rl;

                link_split(it->text ? it->text : "", &n, &rest);
                put(&w, "LINK: ");
                putn(&w, it->text, n);
                put(&w, " ");
                rl = strlen(rest);
                while (rl && (rest[rl - 1] == ' ' || rest[rl - 1] == '\t'))
                        rl--;
                putn(&w, rest, rl);
        } else {
                size_t from;

                if (it->kind != GV_M_TOPIC && it->kind != GV_M_INFO) {
                        put(&w, label(it->kind));
                        put(&w, ": ");
                }
                from = x->item.len;
                put(&w, it->text);
                if (w.r == GV_OK)
                        gv_join_lines(&x->item, from);
        }
        put(&w, "  (");
        put(&w, it->nick);
        put(&w, ", ");
        item_time(&w, it);
        put(&w, ")");
        if (w.r == GV_OK)
                gv_one_line(&x->item, 0);
        if (x->w.r == GV_OK)
                x->w.r = w.r;
}

static void line_item(struct mb *x, const char *prefix, const char *text, size_t indent)
{
        struct w w = { &x->item, GV_OK };

        gv_buf_reset(&x->item);
        put(&w, prefix);
        put(&w, text);
        if (w.r == GV_OK)
                gv_one_line(&x->item, 0);
        if (x->w.r == GV_OK)
                x->w.r = w.r;
        put_wrapped(&x->w, &x->item, indent);
}

static void heading(struct w *w, const char *title)
{
        size_t n = strlen(title);

        put(w, title);
        put(w, "\n");
        for (size_t i = 0; i < n; i++)
                put(w, "-");
        put(w, "\n");
}

static int64_t end_time(const struct mb *x)
{
        return x->m.ended ? x->m.ended : x->last_ts ? x->last_ts : x->m.started;
}

static void render_text(struct mb *x)
{
        struct w *w = &x->w;
        size_t cols, i, from;
        bool have_topic = false, any = false;
        struct gv_buf title = GV_BUF_INIT(GV_MINUTES_MAX);
        struct w tw = { &title, GV_OK };

        put_text(&tw, x->channel);
        if (x->title) {
                put(&tw, ": ");
                put_text(&tw, x->title);
        } else {
                put(&tw, " Meeting");
        }
        if (tw.r && w->r == GV_OK)
                w->r = tw.r;
        cols = chars(gv_buf_str(&title), title.len);
        for (i = 0; i < cols; i++)
                put(w, "=");
        put(w, "\n");
        put(w, gv_buf_str(&title));
        put(w, "\n");
        for (i = 0; i < cols; i++)
                put(w, "=");
        put(w, "\n\n\n");
        gv_buf_free(&title);

        gv_buf_reset(&x->item);
        tw.b = &x->item;
        put(&tw, "Meeting started by ");
        put_text(&tw, x->m.starter);
        put(&tw, " at ");
        put_hms(&tw, x->m.started);
        put(&tw, " UTC. The full logs are available at ");
        from = x->item.len;
        put(&tw, x->logs_link);
        if (tw.r == GV_OK)
                gv_one_line(&x->item, from);
        put(&tw, " .");
        if (tw.r && w->r == GV_OK)
                w->r = tw.r;
        if (w->r == GV_OK)      /* MeetBot's replaceWRAP(): no indent */
                w->r = gv_meetbot_wrap(w->b, gv_buf_str(&x->item), 0, 0);
        put(w, "\n\n\n\n");

        heading(w, "Meeting summary");
        for (i = 0; i < x->n_mi; i++) {
                const struct gv_mitem *it = &x->mi[i];

                if (i > 0)
                        put(w, "\n");
                if (it->kind == GV_M_TOPIC) {
                        if (have_topic)
                                put(w, "\n");
                        have_topic = true;
                }
                text_item(x, it);
                put_wrapped(w, &x->item, it->kind != GV_M_TOPIC && have_topic ? 2 : 0);
        }
        put(w, "\n\nMeeting ended at ");
        put_hms(w, end_time(x));
        put(w, " UTC.\n\n\n\n\n");

        heading(w, "Action Items");
        for (i = 0; i < x->n_mi; i++) {
                if (x->mi[i].kind != GV_M_ACTION)
                        continue;
                if (any)
                        put(w, "\n");
                line_item(x, "* ", x->mi[i].text, 0);
                any = true;
        }
        put(w, "\n\n\n\n\n");

        heading(w, "Action Items, by person");
        any = false;
        for (size_t p = 0; p < x->people.n; p++) {
                const char *nick = x->by_nick[p]->nick;
                bool head = false;

                for (size_t k = x->named_start[p]; k < x->named_start[p + 1]; k++) {
                        i = x->named[k];
                        if (!head) {
                                if (any)
                                        put(w, "\n");
                                put(w, "* ");
                                put_text(w, nick);
                                head = any = true;
                        }
                        put(w, "\n");
                        line_item(x, "* ", x->mi[i].text, 2);
                        x->assigned[i] = true;
                }
        }
        if (any)
                put(w, "\n");
        put(w, "* **UNASSIGNED**");
        any = false;
        for (i = 0; i < x->n_mi; i++) {
                if (x->mi[i].kind != GV_M_ACTION || x->assigned[i])
                        continue;
                put(w, "\n");
                line_item(x, "* ", x->mi[i].text, 2);
                any = true;
        }
        if (!any)
                put(w, "\n  * (none)");
        put(w, "\n\n\n\n\n");

        heading(w, "People Present (lines said)");
        for (i = 0; i < x->people.n; i++) {
                if (i)
                        put(w, "\n");
                put(w, "* ");
                put_text(w, x->present[i]->nick);
                put(w, " (");
                put_u64(w, (uint64_t)x->present[i]->lines);
                put(w, ")");
        }
        put(w, "\n\n\n\n\nGenerated by `MeetBot`_ " MEETBOT_VERSION "\n\n.. _`MeetBot`: "
               MEETBOT_URL "\n");
}

/* ---- NAME.html ---- */

static const char css_minutes[] =
        "/* This is for the .html in the HTML2 writer */\n"
        "body {\n"
        "    font-family: Helvetica, sans-serif;\n"
        "    font-size:14px;\n"
        "}\n"
        "h1 {\n"
        "    text-align: center;\n"
        "}\n"
        "a {\n"
        "    color:navy;\n"
        "    text-decoration: none;\n"
        "    border-bottom:1px dotted navy;\n"
        "}\n"
        "a:hover {\n"
        "    text-decoration:none;\n"
        "    border-bottom: 0;\n"
        "    color:#0000B9;\n"
        "}\n"
        "hr {\n"
        "    border: 1px solid #ccc;\n"
        "}\n"
        "/* The (nick, time) item pairs, and other body text things. */\n"
        ".details {\n"
        "    font-size: 12px;\n"
        "    font-weight:bold;\n"
        "}\n"
        "/* The 'AGREED:', 'IDEA', etc, prefix to lines. */\n"
        ".itemtype {\n"
        "    font-style: normal;    /* un-italics it */\n"
        "    font-weight: bold;\n"
        "}\n"
        "/* Example: change single item types.  Capitalized command name.\n"
        "/* .TOPIC  {  color:navy;  } */\n"
        "/* .AGREED {  color:lime;  } */\n";

static const char css_log[] =
        "/* For the .log.html */\n"
        "pre { /*line-height: 125%;*/\n"
        "      white-space: pre-wrap; }\n"
        "body { background: #f0f0f0; }\n"
        "\n"
        "body .tm  { color: #007020 }                      /* time */\n"
        "body .nk  { color: #062873; font-weight: bold }   /* nick, regular */\n"
        "body .nka { color: #007020; font-weight: bold }  /* action nick */\n"
        "body .ac  { color: #00A000 }                      /* action line */\n"
        "body .hi  { color: #4070a0 }                 /* hilights */\n"
        "/* Things to make particular MeetBot commands stick out */\n"
        "body .topic     { color: #007020; font-weight: bold }\n"
        "body .topicline { color: #000080; font-weight: bold }\n"
        "body .cmd       { color: #007020; font-weight: bold }\n"
        "body .cmdline  { font-weight: bold }\n";

static void page_head(struct w *w, const char *title_html, const char *css)
{
        put(w, "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n<html>\n"
               "<head>\n<meta http-equiv=\"Content-type\" content=\"text/html;charset=UTF-8\">\n"
               "<title>");
        put(w, title_html);
        put(w, "</title>\n<style type=\"text/css\">\n");
        put(w, css);
        put(w, "\n</style>\n</head>\n\n<body>\n");
}

static bool link_scheme_ok(const char *url, size_t n)
{
        static const char *const ok[] = { "http://", "https://", "ftp://", "ftps://", "irc://",
                                          "ircs://", "mailto:", "news:", "gopher://", "sftp://",
                                          "git://", "ssh://", "svn://", "nntp://" };

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                if (n > strlen(ok[i]) && gv_iprefix(url, ok[i]))
                        return true;
        return false;
}

/* '<li>' + MeetBot's Item.html2(). */
static void html_item(struct mb *x, const struct gv_mitem *it)
{
        struct w w = { &x->item, GV_OK };
        const char *text = it->text ? it->text : "";

        gv_buf_reset(&x->item);
        put(&w, "<li>");
        if (it->kind == GV_M_TOPIC) {
                put(&w, "<b class=\"TOPIC\">");
                put_html(&w, text);
                put(&w, "</b>");
        } else if (it->kind == GV_M_INFO) {
                put(&w, "<span class=\"INFO\">");
                put_html(&w, text);
                put(&w, "</span>");
        } else if (it->kind == GV_M_LINK) {
                const char *rest;
                size_t n, rl;
                struct gv_buf url = GV_BUF_INIT(1 << 20);

                link_split(text, &n, &rest);
                if (w.r == GV_OK)
                        w.r = gv_buf_add(&url, text, n);
                if (link_scheme_ok(text, n)) {
                        put(&w, "<a href=\"");
                        for (size_t i = 0; i < n; i++) {
                                if (text[i] == '"') {
                                        put(&w, "%22");
                                } else {
                                        char c[2] = { text[i], '\0' };

                                        put_html(&w, c);
                                }
                        }
                        put(&w, "\">");
                        put_html(&w, gv_buf_str(&url));
                        put(&w, "</a> ");
                } else {
                        put_html(&w, gv_buf_str(&url));
                        put(&w, " ");
                }
                gv_buf_free(&url);
                rl = strlen(rest);
                while (rl && (rest[rl - 1] == ' ' || rest[rl - 1] == '\t'))
                        rl--;
                {
                        char *r = strndup(rest, rl);

                        if (!r && w.r == GV_OK)
                                w.r = GV_ENOMEM;
                        put_html(&w, r);
                        free(r);
                }
        } else {
                put(&w, "<i class=\"itemtype\">");
                put(&w, label(it->kind));
                put(&w, "</i>: <span class=\"");
                put(&w, label(it->kind));
                put(&w, "\">");
                if (it->kind == GV_M_ACCEPTED)
                        put(&w, "<font color=\"green\">");
                else if (it->kind == GV_M_REJECTED)
                        put(&w, "<font color=\"red\">");
                put_html(&w, text);
                if (it->kind == GV_M_ACCEPTED || it->kind == GV_M_REJECTED)
                        put(&w, "</font>");
                put(&w, "</span>");
        }
        put(&w, " <span class=\"details\">(<a href='");
        put(&w, x->base);
        put(&w, ".log.html#l-");
        put_u64(&w, x->anchor[it - x->mi]);
        put(&w, "'>");
        put_html(&w, it->nick);
        put(&w, "</a>, ");
        item_time(&w, it);
        put(&w, ")</span>");
        if (x->w.r == GV_OK)
                x->w.r = w.r;
}

static void html_sep(struct w *w)
{
        put(w, "\n<br><br>\n\n\n\n");
}

static void render_html(struct mb *x)
{
        struct w *w = &x->w;
        struct gv_buf t = GV_BUF_INIT(GV_MINUTES_MAX);
        struct w tw = { &t, GV_OK };
        bool have_topic = false, sub = false, any = false;
        size_t i, assigned = 0, unassigned = 0;

        put_html(&tw, x->channel);
        if (x->title) {
                put(&tw, ": ");
                put_html(&tw, x->title);
        } else {
                put(&tw, " Meeting");
        }
        if (tw.r && w->r == GV_OK)
                w->r = tw.r;
        page_head(w, gv_buf_str(&t), css_minutes);
        put(w, "<h1>");
        put(w, gv_buf_str(&t));
        gv_buf_free(&t);
        put(w, "</h1>\n<span class=\"details\">\nMeeting started by ");
        put_html(w, x->m.starter);
        put(w, " at ");
        put_hms(w, x->m.started);
        put(w, " UTC\n(<a href=\"");
        put(w, x->base);
        put(w, ".log.html\">full logs</a>).</span>\n");
        html_sep(w);

        put(w, "<h3>Meeting summary</h3>\n<ol>");
        for (i = 0; i < x->n_mi; i++) {
                const struct gv_mitem *it = &x->mi[i];

                if (it->kind == GV_M_TOPIC) {
                        if (sub)
                                put(w, "\n</ol>");
                        sub = false;
                        if (have_topic)
                                put(w, "\n<br></li>");
                        have_topic = true;
                        html_item(x, it);
                        put(w, "\n");
                        put(w, gv_buf_str(&x->item));
                        continue;
                }
                if (!sub) {
                        if (!have_topic)
                                put(w, "\n<li>");
                        have_topic = sub = true;
                        put(w, "\n<ol type=\"a\">");
                }
                html_item(x, it);
                put(w, "\n");
                put_wrapped(w, &x->item, 2);
                put(w, "</li>");
        }
        if (sub)
                put(w, "\n</ol>");
        if (have_topic)
                put(w, "\n</li>");
        put(w, "\n</ol>");
        html_sep(w);

        put(w, "<span class=\"details\">\nMeeting ended at ");
        put_hms(w, end_time(x));
        put(w, " UTC\n(<a href=\"");
        put(w, x->base);
        put(w, ".log.html\">full logs</a>).</span>\n");
        html_sep(w);

        put(w, "<h3>Action items</h3>\n<ol>\n");
        for (i = 0; i < x->n_mi; i++) {
                if (x->mi[i].kind != GV_M_ACTION)
                        continue;
                put(w, "  <li>");
                put_html(w, x->mi[i].text);
                put(w, "</li>\n");
                any = true;
        }
        if (!any)
                put(w, "  <li>(none)</li>\n");
        put(w, "</ol>");
        html_sep(w);

        for (i = 0; i < x->n_mi; i++)
                x->assigned[i] = false;
        for (size_t k = 0; k < x->named_start[x->people.n]; k++) {
                assigned++;
                x->assigned[x->named[k]] = true;
        }
        for (i = 0; i < x->n_mi; i++)
                unassigned += x->mi[i].kind == GV_M_ACTION && !x->assigned[i];
        if (assigned) {
                put(w, "<h3>Action items, by person</h3>\n<ol>\n");
                for (size_t p = 0; p < x->people.n; p++) {
                        const char *nick = x->by_nick[p]->nick;
                        bool head = false;

                        for (size_t k = x->named_start[p]; k < x->named_start[p + 1]; k++) {
                                i = x->named[k];
                                if (!head) {
                                        put(w, "  <li> ");
                                        put_html(w, nick);
                                        put(w, " <ol>\n");
                                        head = true;
                                }
                                put(w, "    <li>");
                                put_html(w, x->mi[i].text);
                                put(w, "</li>\n");
                        }
                        if (head)
                                put(w, "  </ol></li>\n");
                }
                /* MeetBot lists the unassigned ones only when there are two or more. */
                if (unassigned > 1) {
                        put(w, "  <li><b>UNASSIGNED</b><ol>\n");
                        for (i = 0; i < x->n_mi; i++) {
                                if (x->mi[i].kind != GV_M_ACTION || x->assigned[i])
                                        continue;
                                put(w, "    <li>");
                                put_html(w, x->mi[i].text);
                                put(w, "</li>\n");
                        }
                        put(w, "  </ol>\n</li>\n");
                }
                put(w, "</ol>");
                html_sep(w);
        }

        put(w, "<h3>People present (lines said)</h3>\n<ol>\n");
        for (i = 0; i < x->people.n; i++) {
                put(w, "  <li>");
                put_html(w, x->present[i]->nick);
                put(w, " (");
                put_u64(w, (uint64_t)x->present[i]->lines);
                put(w, ")</li>\n");
        }
        put(w, "</ol>");
        html_sep(w);
        put(w, "<span class=\"details\">Generated by <a href=\"" MEETBOT_URL "\">MeetBot</a> "
               MEETBOT_VERSION ".</span>\n</body></html>\n");
}

/* ---- the logs ---- */

struct log_ctx {
        struct mb *x;
        bool html;
        uint64_t n;
};

/* Nicks in a log are one word so that the line reads back. */
static void put_log_nick(struct w *w, const char *nick, bool html)
{
        size_t from = w->b->len;

        if (html)
                put_html(w, nick);
        else
                put_text(w, nick);
        if (w->r != GV_OK)
                return;
        for (size_t i = from; i < w->b->len; i++)
                if (w->b->p[i] == ' ' || w->b->p[i] == '\t')
                        w->b->p[i] = '_';
}

static void maybe_flush(struct mb *x)
{
        struct w *w = &x->w;

        if (!x->sink || w->r != GV_OK || w->b->len < GV_MINUTES_CHUNK)
                return;
        w->r = x->sink->write(x->sink->ud, w->b->p, w->b->len);
        gv_buf_reset(w->b);
}

static bool space_tab(char c)
{
        return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/* A log line's text as MeetBot's HTMLlog2 marks it up: #topic, other
 * #commands, "nick: " highlights. */
static void log_html_text(struct w *w, const char *t)
{
        size_t n = 0, k;

        while (ws(*t))
                t++;
        if (strncmp(t, "#topic", 6) == 0) {
                for (n = 6; space_tab(t[n]); n++)
                        ;
                put(w, "<span class=\"topic\">");
                goto split;
        }
        if (t[0] == '#' && t[1] && !ws(t[1])) {
                for (n = 1; t[n] && !ws(t[n]); n++)
                        ;
                while (space_tab(t[n]))
                        n++;
                put(w, "<span class=\"cmd\">");
                goto split;
        }
        /* ([^\s]+:)( .*): the longest first word ending in ':' before a space */
        for (k = 0; t[k] && !ws(t[k]); k++)
                ;
        for (size_t j = k; j > 0; j--) {
                if (t[j - 1] == ':' && t[j] == ' ' && j > 1) {
                        char *h = strndup(t, j);

                        if (!h) {
                                if (w->r == GV_OK)
                                        w->r = GV_ENOMEM;
                                return;
                        }
                        put(w, "<span class=\"hi\">");
                        put_html(w, h);
                        put(w, "</span>");
                        free(h);
                        put_html(w, t + j);
                        return;
                }
                if (j < k)
                        break;  /* only the word's own end can be followed by ' ' */
        }
        put_html(w, t);
        return;
split:
        {
                char *head = strndup(t, n);
                bool topic = strncmp(t, "#topic", 6) == 0;

                if (!head) {
                        if (w->r == GV_OK)
                                w->r = GV_ENOMEM;
                        return;
                }
                put_html(w, head);
                free(head);
                put(w, topic ? "</span><span class=\"topicline\">" : "</span><span class=\"cmdline\">");
                put_html(w, t + n);
                put(w, "</span>");
        }
}

static int on_log_line(void *ud, int64_t ts, const char *nick, const char *text, bool action)
{
        struct log_ctx *lc = ud;
        struct mb *x = lc->x;
        struct w *w = &x->w;
        char hms[9];

        maybe_flush(x);
        gv_fmt_hms(ts, hms);
        if (lc->n++ > 0)
                put(w, "\n");
        if (!lc->html) {
                put(w, hms);
                put(w, action ? " * " : " <");
                put_log_nick(w, nick, false);
                put(w, action ? " " : "> ");
                put_text(w, text);
                return w->r != GV_OK;
        }
        put(w, "<a name=\"l-");
        put_u64(w, lc->n);
        put(w, "\"></a><span class=\"tm\">");
        put(w, hms);
        if (action) {
                put(w, " </span><span class=\"nka\">* ");
                put_log_nick(w, nick, true);
                put(w, "</span> <span class=\"ac\">");
                put_html(w, text);
                put(w, "</span>");
        } else {
                put(w, "</span><span class=\"nk\"> &lt;");
                put_log_nick(w, nick, true);
                put(w, "&gt;</span> ");
                log_html_text(w, text);
        }
        return w->r != GV_OK;
}

static enum gv_err render_log(struct mb *x, bool html)
{
        struct w *w = &x->w;
        struct log_ctx lc = { x, html, 0 };
        enum gv_err r;

        if (html) {
                struct gv_buf t = GV_BUF_INIT(1 << 20);
                struct w tw = { &t, GV_OK };

                put_html(&tw, x->channel);
                put(&tw, " log");
                if (tw.r && w->r == GV_OK)
                        w->r = tw.r;
                page_head(w, gv_buf_str(&t), css_log);
                gv_buf_free(&t);
                put(w, "<pre>");
        }
        if (w->r)
                return w->r;
        r = gv_store_lines(x->s, x->m.id, on_log_line, &lc);
        if (r)
                return r;
        if (html)
                put(w, "</pre>\n</body></html>\n");
        return w->r;
}

/* ---- the model: a meeting as its archive files need it, loaded once ---- */

/* The cfg fields a model depends on, one string: a model is reused only
 * for the same ones (a config changed in place renders anew). */
static void cfg_key(const struct gv_config *cfg, struct gv_buf *out)
{
        const char *f[] = {
                cfg ? cfg->channel : NULL, cfg ? cfg->command_prefixes : NULL,
                cfg ? cfg->logs_url : NULL, cfg ? cfg->meeting_label : NULL,
                cfg ? cfg->bot_name : NULL,
        };

        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                if (gv_buf_adds(out, f[i] ? f[i] : "\x02") || gv_buf_addc(out, '\x01'))
                        return;
        }
}

struct gv_minutes_model {
        struct mb x;            /* loaded; its w, sink, assigned and item unused */
        int64_t meeting;
        const struct gv_config *cfg;
        struct gv_buf key;      /* cfg_key() */
        uint64_t version, gen;  /* gv_store_content_version(), _generation() then */
        /* per person (by_nick order), the actions naming them: computed
         * once for both the .txt and the .html */
        size_t *named, *named_start;
        struct gv_item *agenda; /* agenda items taken up (the .md), once asked */
        size_t n_agenda;
        bool have_agenda;
};

static uint64_t model_loads;

uint64_t gv_minutes_model_loads(void)
{
        return model_loads;
}

static void model_free(void *p)
{
        struct gv_minutes_model *md = p;

        if (!md)
                return;
        mb_clear(&md->x);
        gv_buf_free(&md->key);
        free(md->named);
        free(md->named_start);
        gv_items_free(md->agenda, md->n_agenda);
        free(md);
}

/* Per person, the actions whose text names them (MeetBot's \bNICK\b). */
static enum gv_err model_named(struct gv_minutes_model *md)
{
        const struct mb *x = &md->x;
        size_t n = 0, cap = 16, *named = malloc(cap * sizeof(*named));

        md->named_start = calloc(x->people.n + 1, sizeof(*md->named_start));
        if (!named || !md->named_start) {
                free(named);
                return GV_ENOMEM;
        }
        for (size_t p = 0; p < x->people.n; p++) {
                const char *nick = x->by_nick[p]->nick;

                md->named_start[p] = n;
                for (size_t i = 0; i < x->n_mi; i++) {
                        if (x->mi[i].kind != GV_M_ACTION || !names(x->mi[i].text, nick))
                                continue;
                        if (n == cap) {
                                size_t *nn = realloc(named, cap * 2 * sizeof(*nn));

                                if (!nn) {
                                        free(named);
                                        return GV_ENOMEM;
                                }
                                named = nn;
                                cap *= 2;
                        }
                        named[n++] = i;
                }
        }
        md->named_start[x->people.n] = n;
        md->named = named;
        return GV_OK;
}

enum gv_err gv_minutes_model_get(struct gv_store *s, const struct gv_config *cfg, int64_t meeting,
                                 const struct gv_minutes_model **ret)
{
        struct gv_minutes_model *md = gv_store_cache(s);
        struct gv_buf key = GV_BUF_INIT(1u << 20);
        uint64_t version = gv_store_content_version(s), gen = gv_store_generation(s);
        enum gv_err r;

        cfg_key(cfg, &key);
        if (md && md->meeting == meeting && md->cfg == cfg && md->version == version && md->gen == gen &&
            md->key.len == key.len && memcmp(gv_buf_str(&md->key), gv_buf_str(&key), key.len) == 0) {
                gv_buf_free(&key);
                *ret = md;
                return GV_OK;
        }
        gv_store_cache_set(s, NULL, NULL);      /* one model at a time */
        md = calloc(1, sizeof(*md));
        if (!md) {
                gv_buf_free(&key);
                return GV_ENOMEM;
        }
        md->meeting = meeting;
        md->cfg = cfg;
        md->key = key;
        md->version = version;
        md->gen = gen;
        md->x.s = s;
        md->x.cfg = cfg;
        r = gv_store_meeting_get(s, meeting, &md->x.m);
        if (r == GV_OK) {
                md->x.have_m = true;
                r = load(&md->x);
        }
        if (r == GV_OK)
                r = model_named(md);
        if (r) {
                model_free(md);
                return r;
        }
        model_loads++;
        gv_store_cache_set(s, md, model_free);
        *ret = md;
        return GV_OK;
}

const struct gv_meeting *gv_minutes_model_meeting(const struct gv_minutes_model *md)
{
        return &md->x.m;
}

const struct gv_mitem *gv_minutes_model_items(const struct gv_minutes_model *md, size_t *n)
{
        *n = md->x.n_mi;
        return md->x.mi;
}

enum gv_err gv_minutes_model_agenda(const struct gv_minutes_model *cmd, struct gv_store *s,
                                    const struct gv_item **items, size_t *n)
{
        struct gv_minutes_model *md = (struct gv_minutes_model *)cmd;   /* filled once, lazily */

        if (!md->have_agenda) {
                enum gv_err r = gv_store_items_discussed(s, md->meeting, &md->agenda,
                                                         &md->n_agenda);

                if (r)
                        return r;
                md->have_agenda = true;
        }
        *items = md->agenda;
        *n = md->n_agenda;
        return GV_OK;
}

enum gv_err gv_meetbot_render(struct gv_store *s, const struct gv_config *cfg, int64_t meeting,
                              enum gv_minutes_fmt fmt, struct gv_buf *out,
                              const struct gv_sink_fn *sink)
{
        const struct gv_minutes_model *md = NULL;
        struct mb x;
        size_t start;
        bool logs = fmt == GV_MIN_LOG_TEXT || fmt == GV_MIN_LOG_HTML;
        enum gv_err r;

        if (!s || !out)
                return GV_EINVAL;
        if (fmt != GV_MIN_MB_TEXT && fmt != GV_MIN_HTML_PAGE && !logs)
                return GV_EINVAL;
        start = out->len;
        r = gv_minutes_model_get(s, cfg, meeting, &md);
        if (r)
                return r;
        /* the model's fields, borrowed: what a rendering changes is its own */
        x = md->x;
        x.named = md->named;
        x.named_start = md->named_start;
        x.sink = logs ? sink : NULL;
        x.w.b = out;
        x.w.r = GV_OK;
        gv_buf_init(&x.item, out->max);
        x.assigned = calloc(x.n_mi ? x.n_mi : 1, sizeof(*x.assigned));
        if (!x.assigned) {
                r = GV_ENOMEM;
                goto out;
        }
        if (logs) {
                r = render_log(&x, fmt == GV_MIN_LOG_HTML);
                goto out;
        }
        if (fmt == GV_MIN_MB_TEXT)
                render_text(&x);
        else
                render_html(&x);
        r = x.w.r;
out:
        if (r != GV_OK && out->p) {
                out->len = start;
                out->p[start] = '\0';
        }
        free(x.assigned);
        gv_buf_free(&x.item);
        return r;
}
