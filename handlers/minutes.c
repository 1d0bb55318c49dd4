/* handlers/minutes.c - see minutes.h.
 *
 * Every rendering writes through a writer whose first error sticks, so the
 * code below reads like the layout it produces; when anything fails the
 * caller's buffer is put back as it was. Noted items are loaded once and
 * grouped by topic with a counting sort. The archive files (.txt, .html and
 * the logs) are MeetBot's layouts, rendered by meetbot.c. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/json.h"

#include "meetbot.h"
#include "minutes.h"
#include "standup.h"
#include "writer.h"
#include "../util/text.h"

#ifndef GAVEL_VERSION
#define GAVEL_VERSION "0.1.0"
#endif

#define BASENAME_NAME_MAX 64    /* bytes of the file-safe meeting name */
#define BASENAME_ROOM_MAX 48    /* bytes of the file-safe room, when it is needed */

static const char *const labels[GV_M__COUNT] = {
        [GV_M_TOPIC] = "TOPIC",       [GV_M_INFO] = "INFO",         [GV_M_ACTION] = "ACTION",
        [GV_M_AGREED] = "AGREED",     [GV_M_ACCEPTED] = "ACCEPTED", [GV_M_REJECTED] = "REJECTED",
        [GV_M_IDEA] = "IDEA",         [GV_M_LINK] = "LINK",         [GV_M_HELP] = "HELP",
        [GV_M_VOTE] = "VOTE",         [GV_M_UPDATE] = "UPDATE",     [GV_M_QUESTION] = "QUESTION",
        [GV_M_OTHER] = "OTHER",       [GV_M_CHECKIN] = "CHECKIN",
};

static const char *const commands[GV_M__COUNT] = {
        [GV_M_TOPIC] = "topic",       [GV_M_INFO] = "info",         [GV_M_ACTION] = "action",
        [GV_M_AGREED] = "agreed",     [GV_M_ACCEPTED] = "accepted", [GV_M_REJECTED] = "rejected",
        [GV_M_IDEA] = "idea",         [GV_M_LINK] = "link",         [GV_M_HELP] = "help",
        [GV_M_VOTE] = "vote",         [GV_M_UPDATE] = "update",     [GV_M_QUESTION] = "question",
        [GV_M_OTHER] = "other",       [GV_M_CHECKIN] = "checkin",
};

const char *gv_mkind_label(enum gv_mkind k)
{
        return ((unsigned)k < GV_M__COUNT) ? labels[k] : "INFO";
}

const char *gv_mkind_command(enum gv_mkind k)
{
        return ((unsigned)k < GV_M__COUNT) ? commands[k] : "info";
}

/* s made file-safe into out: [A-Za-z0-9_-] kept, any other character (not
 * byte: UTF-8 continuations are dropped) becomes '_', at most max bytes.
 * Returns the length. */
static size_t file_safe(const char *s, char *out, size_t max)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "");
        size_t n = 0;

        for (; *p && n < max; p++) {
                unsigned char c = *p;

                if ((c & 0xc0) == 0x80)
                        continue;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-')
                        out[n++] = (char)c;
                else
                        out[n++] = '_';
        }
        return n;
}

void gv_minutes_basename(const char *name, int64_t started, char out[96])
{
        char stamp[17];
        size_t n = file_safe(name, out, BASENAME_NAME_MAX);

        if (n == 0) {
                memcpy(out, "meeting", 7);
                n = 7;
        }
        gv_fmt_stamp(started, stamp);
        out[n++] = '.';
        memcpy(out + n, stamp, strlen(stamp) + 1);
}

void gv_minutes_basename_try(const char *name, const char *room, int64_t started, unsigned k,
                             char out[GV_MINUTES_BASE_SIZE])
{
        char legacy[96], safe_room[BASENAME_ROOM_MAX + 1], stamp[17];
        const char *r = room ? room : "";
        size_t n, rn;
        int64_t secs = started / 1000 - (started % 1000 < 0);
        unsigned sec = (unsigned)(secs % 60 + (secs % 60 < 0 ? 60 : 0));

        if (k == 0) {
                gv_minutes_basename(name, started, legacy);
                memcpy(out, legacy, strlen(legacy) + 1);
                return;
        }
        n = file_safe(name, out, BASENAME_NAME_MAX);
        if (n == 0) {
                memcpy(out, "meeting", 7);
                n = 7;
        }
        /* "!abc:example.org" reads better as "abc_example_org" */
        while (*r && !((*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z') ||
                       (*r >= '0' && *r <= '9') || (unsigned char)*r >= 0x80))
                r++;
        rn = file_safe(r, safe_room, BASENAME_ROOM_MAX);
        if (rn == 0) {
                memcpy(safe_room, "room", 4);
                rn = 4;
        }
        safe_room[rn] = '\0';
        gv_fmt_stamp(started, stamp);
        if (k == 1)
                snprintf(out + n, GV_MINUTES_BASE_SIZE - n, ".%s.%s.%02u", safe_room, stamp, sec);
        else
                snprintf(out + n, GV_MINUTES_BASE_SIZE - n, ".%s.%s.%02u-%u", safe_room, stamp, sec, k);
}

void gv_minutes_file_base(const struct gv_meeting *m, char out[GV_MINUTES_BASE_SIZE])
{
        char legacy[96];
        size_t n = m->file_base ? strlen(m->file_base) : 0;

        if (n > 0 && n < GV_MINUTES_BASE_SIZE) {
                memcpy(out, m->file_base, n + 1);
                return;
        }
        gv_minutes_basename(m->name, m->started, legacy);
        memcpy(out, legacy, strlen(legacy) + 1);
}

const enum gv_minutes_fmt gv_minutes_files[GV_MINUTES_N_FILES] = {
        GV_MIN_MB_TEXT, GV_MIN_HTML_PAGE, GV_MIN_LOG_TEXT, GV_MIN_LOG_HTML, GV_MIN_MARKDOWN,
};

static bool url_keep(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~' || c == '!' || c == '@' || c == ':';
}

static enum gv_err pct_encode(struct gv_buf *out, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        enum gv_err r = GV_OK;

        for (; *s && r == GV_OK; s++) {
                unsigned char c = (unsigned char)*s;
                char e[3] = { '%', hex[c >> 4], hex[c & 15] };

                if (url_keep(c))
                        r = gv_buf_addc(out, (char)c);
                else
                        r = gv_buf_add(out, e, 3);
        }
        return r;
}

enum gv_err gv_permalink(struct gv_buf *out, const char *room, const char *event_id)
{
        size_t start;
        enum gv_err r;

        if (!out || !room || !event_id)
                return GV_EINVAL;
        start = out->len;
        r = gv_buf_adds(out, "https://matrix.to/#/");
        if (r == GV_OK)
                r = pct_encode(out, room);
        if (r == GV_OK)
                r = gv_buf_addc(out, '/');
        if (r == GV_OK)
                r = pct_encode(out, event_id);
        if (r != GV_OK && out->p) {
                out->len = start;
                out->p[start] = '\0';
        }
        return r;
}

enum gv_err gv_permalink_user(struct gv_buf *out, const char *user_id)
{
        size_t start;
        enum gv_err r;

        if (!out || !user_id)
                return GV_EINVAL;
        start = out->len;
        r = gv_buf_adds(out, "https://matrix.to/#/");
        if (r == GV_OK)
                r = pct_encode(out, user_id);
        if (r != GV_OK && out->p) {
                out->len = start;
                out->p[start] = '\0';
        }
        return r;
}

/* ---- the writer ---- */

/* What was appended since `from` goes on one line. */
static void flatten(struct w *w, size_t from)
{
        if (w->r == GV_OK)
                gv_one_line(w->b, from);
}

/* User text, plain: on one line (an item's lines joined). */
static void put_text(struct w *w, const char *s)
{
        size_t from = w->b->len;

        put(w, s);
        if (w->r == GV_OK)
                gv_join_lines(w->b, from);
        flatten(w, from);
}

/* User text, HTML element content or attribute value. */
static void put_html(struct w *w, const char *s)
{
        size_t from = w->b->len;

        if (w->r == GV_OK)
                w->r = gv_html_escape(w->b, s ? s : "");
        flatten(w, from);
}

/* User text, Markdown. */
static void put_md(struct w *w, const char *s)
{
        size_t from = w->b->len;

        if (w->r == GV_OK)
                w->r = gv_md_escape(w->b, s ? s : "");
        flatten(w, from);
}

/* "@name" in Markdown: the @ stays readable, the name is escaped. */
static void put_md_at(struct w *w, const char *s)
{
        if (!s)
                s = "";
        if (*s == '@')
                s++;
        put(w, "@");
        put_md(w, s);
}

static void put_i64(struct w *w, int64_t v)
{
        if (v < 0) {
                put(w, "-");
                put_u64(w, (uint64_t)0 - (uint64_t)v);
        } else {
                put_u64(w, (uint64_t)v);
        }
}

/* ---- what a rendering knows ---- */

struct minutes {
        struct gv_store *s;
        const struct gv_config *cfg;
        struct w w;
        struct gv_meeting m;
        bool have_m;
        struct gv_mitem *mi;    /* every noted item, in order */
        size_t n_mi;
        size_t *topics;         /* ordinal -> index into mi */
        size_t n_topics;
        size_t n_actions;
        size_t *order;          /* non-topic items, grouped: before any topic, then per topic */
        size_t *grp_start;      /* n_topics + 2 offsets into order */
        bool *assigned;         /* per item: an action somebody holds */
        struct gv_item *agenda; /* agenda items taken up */
        size_t n_agenda;
        char **present;         /* people present, most lines first */
        int64_t *lines;
        size_t n_present, cap_present;
        char **people;          /* everyone who can hold an action */
        size_t n_people, cap_people;
        size_t n_checkins;      /* !checkin items */
        struct gv_buf attending;        /* who attended, when there are check-ins */
        enum gv_err cb_r;       /* first error inside a store callback */
        struct gv_buf scratch;  /* reused for substrings that need a NUL */
        const struct gv_minutes_model *model;   /* m, mi and agenda borrowed from it */
};

static void minutes_clear(struct minutes *mn)
{
        size_t i;

        if (mn->have_m && !mn->model)
                gv_meeting_clear(&mn->m);
        if (!mn->model)
                gv_mitems_free(mn->mi, mn->n_mi);
        free(mn->topics);
        free(mn->order);
        free(mn->grp_start);
        free(mn->assigned);
        if (!mn->model)
                gv_items_free(mn->agenda, mn->n_agenda);
        for (i = 0; i < mn->n_present; i++)
                free(mn->present[i]);
        free(mn->present);
        free(mn->lines);
        for (i = 0; i < mn->n_people; i++)
                free(mn->people[i]);
        free(mn->people);
        gv_buf_free(&mn->scratch);
        gv_buf_free(&mn->attending);
}

/* Index of the item with this id (ids ascend), or SIZE_MAX. */
static size_t find_item(const struct minutes *mn, int64_t id)
{
        size_t lo = 0, hi = mn->n_mi;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (mn->mi[mid].id == id)
                        return mid;
                if (mn->mi[mid].id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return SIZE_MAX;
}

/* Group 0: items under no (known) topic; group k + 1: items under topic k. */
static size_t group_of(const struct minutes *mn, const size_t *ordinal, const struct gv_mitem *it)
{
        size_t j;

        if (it->topic == 0)
                return 0;
        j = find_item(mn, it->topic);
        if (j == SIZE_MAX || mn->mi[j].kind != GV_M_TOPIC)
                return 0;
        return ordinal[j] + 1;
}

static enum gv_err load_items(struct minutes *mn)
{
        size_t *ordinal = NULL, *fill = NULL, i, n;
        enum gv_err r;

        if (!mn->model) {
                r = gv_store_mitems(mn->s, mn->m.id, &mn->mi, &mn->n_mi);
                if (r)
                        return r;
        }
        r = GV_ENOMEM;
        n = mn->n_mi ? mn->n_mi : 1;
        mn->topics = calloc(n, sizeof(*mn->topics));
        mn->order = calloc(n, sizeof(*mn->order));
        mn->grp_start = calloc(n + 2, sizeof(*mn->grp_start));
        mn->assigned = calloc(n, sizeof(*mn->assigned));
        ordinal = calloc(n, sizeof(*ordinal));
        fill = calloc(n + 2, sizeof(*fill));
        if (!mn->topics || !mn->order || !mn->grp_start || !mn->assigned || !ordinal || !fill)
                goto out;
        for (i = 0; i < mn->n_mi; i++) {
                if (mn->mi[i].kind == GV_M_TOPIC) {
                        ordinal[i] = mn->n_topics;
                        mn->topics[mn->n_topics++] = i;
                } else if (mn->mi[i].kind == GV_M_ACTION) {
                        mn->n_actions++;
                } else if (mn->mi[i].kind == GV_M_CHECKIN) {
                        mn->n_checkins++;
                }
        }
        /* Counting sort, stable: grp_start[g] is where group g begins. */
        for (i = 0; i < mn->n_mi; i++)
                if (mn->mi[i].kind != GV_M_TOPIC)
                        mn->grp_start[group_of(mn, ordinal, &mn->mi[i]) + 1]++;
        for (i = 1; i < mn->n_topics + 2; i++)
                mn->grp_start[i] += mn->grp_start[i - 1];
        memcpy(fill, mn->grp_start, (mn->n_topics + 2) * sizeof(*fill));
        for (i = 0; i < mn->n_mi; i++)
                if (mn->mi[i].kind != GV_M_TOPIC)
                        mn->order[fill[group_of(mn, ordinal, &mn->mi[i])]++] = i;
        r = GV_OK;
out:
        free(ordinal);
        free(fill);
        return r;
}

static void on_count(void *ud, const char *nick, int64_t n)
{
        struct minutes *mn = ud;
        char *dup;

        if (mn->cb_r)
                return;
        if (mn->n_present == mn->cap_present) {
                size_t cap = mn->cap_present ? mn->cap_present * 2 : 16;
                char **p = realloc(mn->present, cap * sizeof(*p));
                int64_t *l;

                if (!p) {
                        mn->cb_r = GV_ENOMEM;
                        return;
                }
                mn->present = p;
                l = realloc(mn->lines, cap * sizeof(*l));
                if (!l) {
                        mn->cb_r = GV_ENOMEM;
                        return;
                }
                mn->lines = l;
                mn->cap_present = cap;
        }
        dup = strdup(nick);
        if (!dup) {
                mn->cb_r = GV_ENOMEM;
                return;
        }
        mn->present[mn->n_present] = dup;
        mn->lines[mn->n_present++] = n;
}

/* Adds a person once (case-insensitively), never the bot. */
static void on_person(void *ud, const char *nick)
{
        struct minutes *mn = ud;
        char *dup;
        size_t i;

        if (mn->cb_r || !nick || !*nick)
                return;
        if (mn->cfg && mn->cfg->bot_name && gv_ieq(nick, mn->cfg->bot_name))
                return;
        for (i = 0; i < mn->n_people; i++)
                if (gv_ieq(mn->people[i], nick))
                        return;
        if (mn->n_people == mn->cap_people) {
                size_t cap = mn->cap_people ? mn->cap_people * 2 : 16;
                char **p = realloc(mn->people, cap * sizeof(*p));

                if (!p) {
                        mn->cb_r = GV_ENOMEM;
                        return;
                }
                mn->people = p;
                mn->cap_people = cap;
        }
        dup = strdup(nick);
        if (!dup) {
                mn->cb_r = GV_ENOMEM;
                return;
        }
        mn->people[mn->n_people++] = dup;
}

static int lower(int c)
{
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int cmp_nick(const void *a, const void *b)
{
        const char *x = *(const char *const *)a;
        const char *y = *(const char *const *)b;
        size_t i = 0;

        while (x[i] && lower((unsigned char)x[i]) == lower((unsigned char)y[i]))
                i++;
        if (lower((unsigned char)x[i]) != lower((unsigned char)y[i]))
                return lower((unsigned char)x[i]) - lower((unsigned char)y[i]);
        return strcmp(x, y);
}

static enum gv_err load_people(struct minutes *mn)
{
        enum gv_err r;
        size_t i;

        r = gv_store_line_counts(mn->s, mn->m.id, on_count, mn);
        if (r == GV_OK)
                r = mn->cb_r;
        if (r)
                return r;
        for (i = 0; i < mn->n_present; i++)
                on_person(mn, mn->present[i]);
        r = gv_store_nicks(mn->s, mn->m.id, on_person, mn);
        if (r == GV_OK)
                r = gv_store_chairs(mn->s, mn->m.id, on_person, mn);
        if (r == GV_OK)
                r = mn->cb_r;
        if (r)
                return r;
        if (mn->n_people > 1)
                qsort(mn->people, mn->n_people, sizeof(*mn->people), cmp_nick);
        return GV_OK;
}

/* ---- actions, by person ---- */

static bool word_byte(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c >= 0x80;
}

/* nick occurs in text as a whole word, ASCII case-insensitively; "@nick" and
 * "nick:" count, since '@' and ':' are not word characters. */
static bool names(const char *text, const char *nick)
{
        size_t n = strlen(nick), i, k;
        const unsigned char *t = (const unsigned char *)text;
        const unsigned char *w = (const unsigned char *)nick;

        if (n == 0)
                return false;
        for (i = 0; t[i]; i++) {
                if (i > 0 && word_byte(t[i - 1]))
                        continue;
                for (k = 0; k < n && t[i + k] && lower(t[i + k]) == lower(w[k]); k++)
                        ;
                if (k == n && !word_byte(t[i + n]))
                        return true;
        }
        return false;
}

/* ---- links ---- */

static bool url_safe(unsigned char c)
{
        return c > 0x20 && c < 0x7f && c != '"' && c != '\'' && c != '<' && c != '>' &&
               c != '`' && c != '\\';
}

/* Length of the http(s) URL that is the whole first word of s, 0 if none or
 * if it holds anything that could leave an attribute. */
static size_t lead_url(const char *s)
{
        size_t i, skip;

        if (gv_iprefix(s, "http://"))
                skip = 7;
        else if (gv_iprefix(s, "https://"))
                skip = 8;
        else
                return 0;
        for (i = skip; s[i] && s[i] != ' ' && s[i] != '\t'; i++)
                if (!url_safe((unsigned char)s[i]))
                        return 0;
        return i > skip ? i : 0;
}

/* Item text as HTML: a leading safe URL becomes a link. */
static void put_html_item(struct minutes *mn, const char *text)
{
        struct w *w = &mn->w;
        size_t n = lead_url(text ? text : "");

        if (n == 0) {
                put_html(w, text);
                return;
        }
        gv_buf_reset(&mn->scratch);
        if (w->r == GV_OK)
                w->r = gv_buf_add(&mn->scratch, text, n);
        put(w, "<a href=\"");
        put_html(w, gv_buf_str(&mn->scratch));
        put(w, "\">");
        put_html(w, gv_buf_str(&mn->scratch));
        put(w, "</a>");
        put_html(w, text + n);
}

/* ---- GV_MIN_TEXT ---- */

static void text_item(struct minutes *mn, const struct gv_mitem *it, const char *indent)
{
        struct w *w = &mn->w;

        put(w, indent);
        put(w, "* ");
        if (it->kind != GV_M_TOPIC) {
                put(w, gv_mkind_label(it->kind));
                put(w, ": ");
        }
        put_text(w, it->text);
        put(w, "  (");
        put_text(w, it->nick);
        put(w, ", ");
        put_hms(w, it->ts);
        put(w, ")\n");
}

static void text_heading(struct w *w, const char *title, char rule)
{
        size_t i, n = strlen(title);

        put(w, title);
        put(w, "\n");
        for (i = 0; i < n; i++)
                putn(w, &rule, 1);
        put(w, "\n");
}

static size_t utf8_chars(const char *s, size_t n)
{
        size_t i, c = 0;

        for (i = 0; i < n; i++)
                if (((unsigned char)s[i] & 0xc0) != 0x80)
                        c++;
        return c;
}

/* A check-in: its first line, the lines after it as items under it. */
static void checkin_lines(struct minutes *mn, const char *text, bool html)
{
        struct w *w = &mn->w;
        struct gv_uline *v = NULL;
        size_t n = 0;
        enum gv_err r = gv_update_parse(text, &v, &n);

        if (r) {
                if (w->r == GV_OK)
                        w->r = r;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (i == 1)
                        put(w, html ? "<ul>\n" : "");
                if (i > 0 && html) {
                        put(w, "<li>");
                } else if (i > 0) {
                        put(w, "\n  ");
                        for (unsigned d = 0; v[i].kind == GV_UL_BULLET && d < v[i].depth; d++)
                                put(w, "  ");
                        put(w, "* ");
                }
                gv_buf_reset(&mn->scratch);
                if (w->r == GV_OK)
                        w->r = gv_buf_add(&mn->scratch, v[i].p, v[i].len);
                if (v[i].kind == GV_UL_LABEL && w->r == GV_OK)
                        w->r = gv_buf_addc(&mn->scratch, ':');
                if (html)
                        put_html(w, gv_buf_str(&mn->scratch));
                else
                        put_text(w, gv_buf_str(&mn->scratch));
                if (i > 0 && html)
                        put(w, "</li>\n");
        }
        if (n > 1 && html)
                put(w, "</ul>");
        free(v);
}

static void render_text(struct minutes *mn)
{
        struct w *w = &mn->w;
        char base[GV_MINUTES_BASE_SIZE];
        size_t i, t, o, cols;
        bool any = false;

        /* The rules are as wide as the title, in characters. */
        cols = strlen("#meeting: ") + utf8_chars(mn->m.name, strlen(mn->m.name));
        for (i = 0; i < cols; i++)
                put(w, "=");
        put(w, "\n#meeting: ");
        put_text(w, mn->m.name);
        put(w, "\n");
        for (i = 0; i < cols; i++)
                put(w, "=");
        put(w, "\n");
        gv_minutes_file_base(&mn->m, base);
        put(w, "\n\nMeeting started by ");
        put_text(w, mn->m.starter);
        put(w, " at ");
        put_hms(w, mn->m.started);
        put(w, " UTC. The full logs are available at ");
        put(w, base);
        put(w, ".log.html .\n\n\n\n");

        if (mn->n_checkins) {
                text_heading(w, "Check ins", '-');
                put(w, "Attending: ");
                put_text(w, gv_buf_str(&mn->attending));
                put(w, "\n");
                for (i = 0; i < mn->n_mi; i++) {
                        if (mn->mi[i].kind != GV_M_CHECKIN)
                                continue;
                        put(w, "* ");
                        put_text(w, mn->mi[i].nick);
                        put(w, ": ");
                        checkin_lines(mn, mn->mi[i].text, false);
                        put(w, "\n");
                }
                put(w, "\n\n\n");
        }
        text_heading(w, "Meeting summary", '-');
        any = false;
        for (o = mn->grp_start[0]; o < mn->grp_start[1]; o++) {
                if (mn->mi[mn->order[o]].kind == GV_M_CHECKIN)
                        continue;       /* under "Check ins" */
                text_item(mn, &mn->mi[mn->order[o]], "");
                any = true;
        }
        if (any)
                put(w, "\n");
        any = false;
        for (t = 0; t < mn->n_topics; t++) {
                text_item(mn, &mn->mi[mn->topics[t]], "");
                for (o = mn->grp_start[t + 1]; o < mn->grp_start[t + 2]; o++)
                        if (mn->mi[mn->order[o]].kind != GV_M_CHECKIN)
                                text_item(mn, &mn->mi[mn->order[o]], "  ");
                put(w, "\n");
        }
        if (mn->m.ended) {
                put(w, "Meeting ended at ");
                put_hms(w, mn->m.ended);
                put(w, " UTC.\n");
        }
        put(w, "\n\n\n");

        text_heading(w, "Action Items", '-');
        for (i = 0; i < mn->n_mi; i++) {
                if (mn->mi[i].kind != GV_M_ACTION)
                        continue;
                put(w, "* ");
                put_text(w, mn->mi[i].text);
                put(w, "\n");
                any = true;
        }
        if (!any)
                put(w, "* (none)\n");
        put(w, "\n\n\n");

        text_heading(w, "Action Items, by person", '-');
        for (t = 0; t < mn->n_people; t++) {
                bool head = false;

                for (i = 0; i < mn->n_mi; i++) {
                        if (mn->mi[i].kind != GV_M_ACTION || !names(mn->mi[i].text, mn->people[t]))
                                continue;
                        if (!head) {
                                put(w, "* ");
                                put_text(w, mn->people[t]);
                                put(w, "\n");
                                head = true;
                        }
                        put(w, "  * ");
                        put_text(w, mn->mi[i].text);
                        put(w, "\n");
                        mn->assigned[i] = true;
                }
        }
        any = false;
        for (i = 0; i < mn->n_mi; i++) {
                if (mn->mi[i].kind != GV_M_ACTION || mn->assigned[i])
                        continue;
                if (!any)
                        put(w, "* **UNASSIGNED**\n");
                put(w, "  * ");
                put_text(w, mn->mi[i].text);
                put(w, "\n");
                any = true;
        }
        if (mn->n_actions == 0)
                put(w, "* **UNASSIGNED**\n  * (none)\n");
        put(w, "\n\n\n");

        text_heading(w, "People Present (lines said)", '-');
        for (i = 0; i < mn->n_present; i++) {
                put(w, "* ");
                put_text(w, mn->present[i]);
                put(w, " (");
                put_i64(w, mn->lines[i]);
                put(w, ")\n");
        }
        put(w, "\n\n\nGenerated by gavel " GAVEL_VERSION "\n");
}

/* ---- GV_MIN_HTML ---- */

static void html_item(struct minutes *mn, const struct gv_mitem *it, bool close)
{
        struct w *w = &mn->w;

        put(w, "<li><b>");
        if (it->kind == GV_M_TOPIC) {
                put_html_item(mn, it->text);
                put(w, "</b> (");
        } else {
                put(w, gv_mkind_label(it->kind));
                put(w, ":</b> ");
                put_html_item(mn, it->text);
                put(w, " (");
        }
        put_html(w, it->nick);
        put(w, ", ");
        put_hms(w, it->ts);
        put(w, close ? ")</li>\n" : ")");
}

static void render_html(struct minutes *mn)
{
        struct w *w = &mn->w;
        size_t i, t, o;
        bool any = false;

        put(w, "<h3>#meeting: ");
        put_html(w, mn->m.name);
        put(w, "</h3>\n<p>Meeting started by ");
        put_html(w, mn->m.starter);
        put(w, " at ");
        put_hms(w, mn->m.started);
        put(w, " UTC.</p>\n");
        if (mn->n_checkins) {
                put(w, "<h4>Check ins</h4>\n<p>Attending: ");
                put_html(w, gv_buf_str(&mn->attending));
                put(w, "</p>\n<ul>\n");
                for (i = 0; i < mn->n_mi; i++) {
                        if (mn->mi[i].kind != GV_M_CHECKIN)
                                continue;
                        put(w, "<li>");
                        put_html(w, mn->mi[i].nick);
                        put(w, ": ");
                        checkin_lines(mn, mn->mi[i].text, true);
                        put(w, "</li>\n");
                }
                put(w, "</ul>\n");
        }
        put(w, "<h4>Meeting summary</h4>\n");
        if (mn->n_mi > mn->n_checkins)
                put(w, "<ol>\n");
        for (o = mn->grp_start[0]; o < mn->grp_start[1]; o++)
                if (mn->mi[mn->order[o]].kind != GV_M_CHECKIN)
                        html_item(mn, &mn->mi[mn->order[o]], true);
        for (t = 0; t < mn->n_topics; t++) {
                bool sub = false;

                for (o = mn->grp_start[t + 1]; o < mn->grp_start[t + 2]; o++)
                        sub = sub || mn->mi[mn->order[o]].kind != GV_M_CHECKIN;
                html_item(mn, &mn->mi[mn->topics[t]], !sub);
                if (!sub)
                        continue;
                put(w, "<ul>\n");
                for (o = mn->grp_start[t + 1]; o < mn->grp_start[t + 2]; o++)
                        if (mn->mi[mn->order[o]].kind != GV_M_CHECKIN)
                                html_item(mn, &mn->mi[mn->order[o]], true);
                put(w, "</ul></li>\n");
        }
        if (mn->n_mi > mn->n_checkins)
                put(w, "</ol>\n");
        if (mn->m.ended) {
                put(w, "<p>Meeting ended at ");
                put_hms(w, mn->m.ended);
                put(w, " UTC.</p>\n");
        }

        put(w, "<h4>Action items</h4>\n<ul>\n");
        for (i = 0; i < mn->n_mi; i++) {
                if (mn->mi[i].kind != GV_M_ACTION)
                        continue;
                put(w, "<li>");
                put_html_item(mn, mn->mi[i].text);
                put(w, "</li>\n");
                any = true;
        }
        if (!any)
                put(w, "<li>(none)</li>\n");
        put(w, "</ul>\n");

        put(w, "<h4>Action items, by person</h4>\n<ul>\n");
        for (t = 0; t < mn->n_people; t++) {
                bool head = false;

                for (i = 0; i < mn->n_mi; i++) {
                        if (mn->mi[i].kind != GV_M_ACTION || !names(mn->mi[i].text, mn->people[t]))
                                continue;
                        if (!head) {
                                put(w, "<li>");
                                put_html(w, mn->people[t]);
                                put(w, "<ul>\n");
                                head = true;
                        }
                        put(w, "<li>");
                        put_html_item(mn, mn->mi[i].text);
                        put(w, "</li>\n");
                        mn->assigned[i] = true;
                }
                if (head)
                        put(w, "</ul></li>\n");
        }
        any = false;
        for (i = 0; i < mn->n_mi; i++) {
                if (mn->mi[i].kind != GV_M_ACTION || mn->assigned[i])
                        continue;
                if (!any)
                        put(w, "<li><b>UNASSIGNED</b><ul>\n");
                put(w, "<li>");
                put_html_item(mn, mn->mi[i].text);
                put(w, "</li>\n");
                any = true;
        }
        if (any)
                put(w, "</ul></li>\n");
        else if (mn->n_actions == 0)
                put(w, "<li><b>UNASSIGNED</b><ul>\n<li>(none)</li>\n</ul></li>\n");
        put(w, "</ul>\n");

        put(w, "<h4>People present (lines said)</h4>\n<ul>\n");
        for (i = 0; i < mn->n_present; i++) {
                put(w, "<li>");
                put_html(w, mn->present[i]);
                put(w, " (");
                put_i64(w, mn->lines[i]);
                put(w, ")</li>\n");
        }
        put(w, "</ul>\n");
}

/* ---- GV_MIN_MARKDOWN ---- */

static const struct gv_item *agenda_item(const struct minutes *mn, int64_t id)
{
        size_t i;

        for (i = 0; i < mn->n_agenda; i++)
                if (mn->agenda[i].id == id)
                        return &mn->agenda[i];
        return NULL;
}

/* The nick who noted most of items[0..n); ties go to whoever noted first. */
static const char *author(const struct minutes *mn, const size_t *items, size_t n)
{
        const char *best = NULL;
        size_t best_n = 0, i, j;

        for (i = 0; i < n; i++) {
                const char *nick = mn->mi[items[i]].nick;
                size_t c = 0;

                for (j = 0; j < i; j++)
                        if (gv_ieq(mn->mi[items[j]].nick, nick))
                                break;
                if (j < i)
                        continue;       /* counted at its first item */
                for (j = i; j < n; j++)
                        if (gv_ieq(mn->mi[items[j]].nick, nick))
                                c++;
                if (c > best_n) {
                        best = nick;
                        best_n = c;
                }
        }
        return best;
}

static void md_mentions(struct minutes *mn, const char *s)
{
        struct w *w = &mn->w;
        bool head = false;

        while (s && *s) {
                size_t n;

                while (*s == ' ' || *s == '\t' || *s == ',')
                        s++;
                for (n = 0; s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != ','; n++)
                        ;
                if (n == 0 || (n == 1 && *s == '@')) {
                        s += n;
                        continue;
                }
                gv_buf_reset(&mn->scratch);
                if (w->r == GV_OK)
                        w->r = gv_buf_add(&mn->scratch, s, n);
                put(w, head ? " " : "- Mentions: ");
                put_md_at(w, gv_buf_str(&mn->scratch));
                head = true;
                s += n;
        }
        if (head)
                put(w, "\n");
}

/* One section: title, fields, "- Summary (author: @x)", then the items. */
static void md_section(struct minutes *mn, const char *title, const struct gv_item *ag,
                       const char *fallback_author, const size_t *items, size_t n)
{
        struct w *w = &mn->w;
        const char *who = author(mn, items, n);
        size_t i;

        put(w, "**");
        put_md(w, title);
        put(w, "**\n");
        if (ag) {
                if (ag->reporter && *ag->reporter) {
                        put(w, "- Reporter: ");
                        put_md_at(w, ag->reporter);
                        put(w, "\n");
                }
                md_mentions(mn, ag->mentions);
                if (ag->event_id && *ag->event_id && ag->room) {
                        put(w, "- Ticket: ");
                        if (w->r == GV_OK)
                                w->r = gv_permalink(w->b, ag->room, ag->event_id);
                        put(w, "\n");
                }
        }
        put(w, "- Summary (author: ");
        put_md_at(w, who ? who : fallback_author);
        put(w, ")\n\n");
        for (i = 0; i < n; i++) {
                const struct gv_mitem *it = &mn->mi[items[i]];

                put(w, "- ");
                put(w, gv_mkind_label(it->kind));
                put(w, ": ");
                put_md(w, it->text);
                put(w, "\n");
        }
        if (n == 0)
                put(w, "No notes.\n");
        put(w, "\n\n");
}

static enum gv_err render_markdown(struct minutes *mn)
{
        struct w *w = &mn->w;
        size_t *sec_of = NULL, *items = NULL, n_sec = 0, next = 0, t, k, n, o;
        char date[16], base[GV_MINUTES_BASE_SIZE];
        const char *p;
        enum gv_err r;

        if (mn->model) {
                const struct gv_item *ag = NULL;

                r = gv_minutes_model_agenda(mn->model, mn->s, &ag, &mn->n_agenda);
                mn->agenda = (struct gv_item *)ag;      /* read only, never freed here */
        } else {
                r = gv_store_items_discussed(mn->s, mn->m.id, &mn->agenda, &mn->n_agenda);
        }
        if (r)
                return r;
        sec_of = calloc(mn->n_topics ? mn->n_topics : 1, sizeof(*sec_of));
        items = calloc(mn->n_mi ? mn->n_mi : 1, sizeof(*items));
        if (!sec_of || !items) {
                r = GV_ENOMEM;
                goto out;
        }
        /* A section per topic, but an agenda item taken up again joins the
         * section of its first topic. */
        for (t = 0; t < mn->n_topics; t++) {
                int64_t ag = mn->mi[mn->topics[t]].agenda_item;

                sec_of[t] = n_sec;
                for (k = 0; ag && k < t; k++) {
                        if (mn->mi[mn->topics[k]].agenda_item == ag) {
                                sec_of[t] = sec_of[k];
                                break;
                        }
                }
                if (sec_of[t] == n_sec)
                        n_sec++;
        }

        gv_fmt_human_date(mn->m.started, date);
        put(w, "### ");
        put(w, date);
        put(w, "\n\n");
        n = mn->grp_start[1] - mn->grp_start[0];
        if (n)
                md_section(mn, "General", NULL, mn->m.starter, mn->order + mn->grp_start[0], n);
        for (t = 0; t < mn->n_topics; t++) {
                const struct gv_mitem *topic = &mn->mi[mn->topics[t]];
                const struct gv_item *ag = NULL;

                if (sec_of[t] != next)
                        continue;       /* merged into an earlier section */
                next++;
                n = 0;
                for (k = t; k < mn->n_topics; k++) {
                        if (sec_of[k] != sec_of[t])
                                continue;
                        for (o = mn->grp_start[k + 1]; o < mn->grp_start[k + 2]; o++)
                                items[n++] = mn->order[o];
                }
                if (topic->agenda_item)
                        ag = agenda_item(mn, topic->agenda_item);
                md_section(mn, ag ? ag->description : topic->text, ag, topic->nick, items, n);
        }
        /* The basename is file-safe; only '_' could start emphasis. */
        gv_minutes_file_base(&mn->m, base);
        put(w, "Minutes: ");
        for (p = base; *p; p++) {
                if (*p == '_')
                        put(w, "\\");
                putn(w, p, 1);
        }
        put(w, ".html\n\n");
        r = GV_OK;
out:
        free(sec_of);
        free(items);
        return r;
}

/* keep_partial: over out's ceiling, what fitted stays (to be cut there);
 * otherwise every error leaves out as it was. */
static enum gv_err render(struct gv_store *s, const struct gv_config *cfg, int64_t meeting,
                          enum gv_minutes_fmt fmt, struct gv_buf *out,
                          const struct gv_sink_fn *sink, bool keep_partial)
{
        struct minutes mn = { 0 };
        size_t start;
        enum gv_err r;

        if (!s || !out)
                return GV_EINVAL;
        if ((unsigned)fmt > GV_MIN_MB_TEXT)
                return GV_EINVAL;
        /* The archive files are in MeetBot's layouts (meetbot.c). */
        if (fmt == GV_MIN_MB_TEXT || fmt == GV_MIN_HTML_PAGE || fmt == GV_MIN_LOG_TEXT ||
            fmt == GV_MIN_LOG_HTML)
                return gv_meetbot_render(s, cfg, meeting, fmt, out, sink);
        if (fmt == GV_MIN_TEXT || fmt == GV_MIN_HTML || fmt == GV_MIN_MARKDOWN) {
                bool standup = false;

                /* a standup's minutes are seed 002's template (standup.c) */
                r = gv_meeting_is_standup(s, meeting, &standup);
                if (r)
                        return r;
                if (standup && keep_partial)
                        return gv_standup_render_partial(s, cfg, meeting,
                                                         fmt == GV_MIN_TEXT ? GV_MK_TEXT :
                                                         fmt == GV_MIN_HTML ? GV_MK_HTML : GV_MK_MD,
                                                         out);
                if (standup)
                        return gv_standup_render(s, cfg, meeting,
                                                 fmt == GV_MIN_TEXT ? GV_MK_TEXT :
                                                 fmt == GV_MIN_HTML ? GV_MK_HTML : GV_MK_MD,
                                                 true, out);
        }
        start = out->len;
        mn.s = s;
        mn.cfg = cfg;
        mn.w.b = out;
        gv_buf_init(&mn.scratch, out->max);
        gv_buf_init(&mn.attending, 1u << 20);

        if (fmt == GV_MIN_MARKDOWN) {
                /* an archive file: from the meeting's one model, as the
                 * MeetBot files are */
                const struct gv_mitem *mi;

                r = gv_minutes_model_get(s, cfg, meeting, &mn.model);
                if (r)
                        goto out;
                mn.m = *gv_minutes_model_meeting(mn.model);
                mi = gv_minutes_model_items(mn.model, &mn.n_mi);
                mn.mi = (struct gv_mitem *)mi;  /* read only, never freed here */
        } else {
                r = gv_store_meeting_get(s, meeting, &mn.m);
        }
        if (r)
                goto out;
        mn.have_m = true;
        r = load_items(&mn);
        if (r)
                goto out;
        if (fmt == GV_MIN_MARKDOWN) {
                r = render_markdown(&mn);
                if (r == GV_OK)
                        r = mn.w.r;
                goto out;
        }
        r = load_people(&mn);
        if (r == GV_OK && mn.n_checkins)
                r = gv_attending(s, cfg, meeting, mn.mi, mn.n_mi, &mn.attending);
        if (r)
                goto out;
        if (fmt == GV_MIN_TEXT)
                render_text(&mn);
        else
                render_html(&mn);
        r = mn.w.r;
out:
        if (r != GV_OK && !(r == GV_ETOOBIG && keep_partial) && out->p) {
                out->len = start;
                out->p[start] = '\0';
        }
        minutes_clear(&mn);
        return r;
}

enum gv_err gv_minutes_render(struct gv_store *s, const struct gv_config *cfg, int64_t meeting,
                              enum gv_minutes_fmt fmt, struct gv_buf *out)
{
        return render(s, cfg, meeting, fmt, out, NULL, false);
}

static const char *const format_names[] = {
        [GV_MIN_TEXT] = "body",         [GV_MIN_HTML] = "fragment",
        [GV_MIN_HTML_PAGE] = "html",    [GV_MIN_MARKDOWN] = "md",
        [GV_MIN_LOG_TEXT] = "log.txt",  [GV_MIN_LOG_HTML] = "log.html",
        [GV_MIN_MB_TEXT] = "txt",
};

const char *gv_minutes_format_name(enum gv_minutes_fmt f)
{
        return (unsigned)f < sizeof(format_names) / sizeof(format_names[0]) ? format_names[f] : "txt";
}

enum gv_err gv_minutes_file(struct gv_store *s, const struct gv_config *cfg, const char *extra,
                            const struct gv_sink_fn *sink)
{
        struct gv_buf b = GV_BUF_INIT(GV_MINUTES_MAX);
        enum gv_err r = gv_minutes_for_outbox_to(s, cfg, GV_OUT_FILE, extra, &b, NULL, sink);

        if (r == GV_OK && b.len)
                r = sink->write(sink->ud, b.p, b.len);
        gv_buf_free(&b);
        return r;
}

enum gv_err gv_minutes_for_outbox(struct gv_store *s, const struct gv_config *cfg,
                                  enum gv_out_kind kind, const char *extra, struct gv_buf *body,
                                  struct gv_buf *html)
{
        return gv_minutes_for_outbox_to(s, cfg, kind, extra, body, html, NULL);
}

/* body was filled up to its ceiling: cut it at a line end (or a UTF-8
 * boundary) so that the note fits after it. */
static enum gv_err cut_with_note(struct gv_buf *body, size_t from)
{
        static const char note[] = GV_MINUTES_CUT_NOTE;
        size_t at, room = body->max > sizeof(note) ? body->max - sizeof(note) : 0;

        if (room < from)
                return GV_ETOOBIG;
        at = body->len < room ? body->len : room;
        while (at > from && body->p[at] != '\n')
                at--;
        if (at == from) {
                at = body->len < room ? body->len : room;
                while (at > from && ((unsigned char)body->p[at] & 0xc0) == 0x80)
                        at--;
        }
        body->len = at;
        body->p[at] = '\0';
        return gv_buf_adds(body, note);
}

enum gv_err gv_minutes_for_outbox_to(struct gv_store *s, const struct gv_config *cfg,
                                     enum gv_out_kind kind, const char *extra, struct gv_buf *body,
                                     struct gv_buf *html, const struct gv_sink_fn *sink)
{
        cJSON *o = extra ? cJSON_Parse(extra) : NULL;
        const char *format = gv_js_str(o, "format"), *header = gv_js_str(o, "header");
        int64_t meeting = gv_js_uint(o, "meeting", 0);
        enum gv_err r = GV_EPARSE;

        if (meeting < 1)
                goto out;
        if (kind == GV_OUT_FILE) {
                size_t i;

                if (!format)
                        goto out;
                for (i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
                        if (strcmp(format_names[i], format) == 0)
                                break;
                if (i == sizeof(format_names) / sizeof(format_names[0]))
                        goto out;
                r = render(s, cfg, meeting, (enum gv_minutes_fmt)i, body, sink, false);
        } else if (kind == GV_OUT_MINUTES) {
                size_t from;

                r = GV_OK;
                if (header)
                        r = gv_buf_printf(body, "%s\n\n", header);
                if (r == GV_OK && html && header) {
                        r = gv_buf_adds(html, "<p>");
                        if (r == GV_OK)
                                r = gv_html_escape(html, header);
                        if (r == GV_OK)
                                r = gv_buf_adds(html, "</p>\n");
                }
                from = body->len;
                if (r == GV_OK)
                        r = render(s, cfg, meeting, GV_MIN_TEXT, body, NULL, true);
                if (r == GV_ETOOBIG)
                        r = cut_with_note(body, from);
                if (r == GV_OK && html) {
                        r = gv_minutes_render(s, cfg, meeting, GV_MIN_HTML, html);
                        if (r == GV_ETOOBIG) {
                                gv_buf_reset(html);
                                r = GV_OK;
                        }
                }
        }
out:
        cJSON_Delete(o);
        return r;
}
