/* bridge/publish.c - gv_publish_insert(): where a meeting's section goes on a
 * wiki page, shared by the git and MediaWiki publishers. Pure string work:
 * knows Markdown and wikitext headings, nothing about git, HTTP or Matrix.
 *
 * A heading counts only where a wiki renders one: Markdown ATX ("## x") and
 * setext ("x" over "===") headings outside fenced code blocks and HTML
 * comments; wikitext "== x ==" lines outside comments and <pre>/<nowiki>/
 * <syntaxhighlight>/<source> blocks. So a section name in body text, in a
 * code sample or in a comment is not the section. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/buf.h"
#include "publish.h"

/* A page gavel edits is at most this big (it comes from the network). */
#define PUBLISH_MAX_PAGE ((size_t)16 << 20)
/* The name of the section heading, in bytes. */
#define PUBLISH_MAX_SECTION 512

static bool is_ws(char c)
{
        return c == ' ' || c == '\t';
}

static bool is_blank(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!is_ws(s[i]))
                        return false;
        return true;
}

static void trim(const char **s, size_t *n)
{
        while (*n && is_ws(**s)) {
                (*s)++;
                (*n)--;
        }
        while (*n && is_ws((*s)[*n - 1]))
                (*n)--;
}

/* The line at off: [*s, *s + *n) without its "\n" or "\r\n"; returns the
 * offset of the next line. */
static size_t line_at(const char *page, size_t len, size_t off, const char **s, size_t *n)
{
        const char *nl = memchr(page + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - page) : len;

        *s = page + off;
        *n = end - off;
        if (*n && (*s)[*n - 1] == '\r')
                (*n)--;
        return nl ? end + 1 : len;
}

/* "## Title ##" (at most 3 spaces indent): level and trimmed title. */
static bool md_atx(const char *s, size_t n, int *level, const char **t, size_t *tn)
{
        size_t i = 0, k = 0;

        while (i < 3 && i < n && s[i] == ' ')
                i++;
        while (i + k < n && s[i + k] == '#')
                k++;
        if (k < 1 || k > 6 || (i + k < n && !is_ws(s[i + k])))
                return false;
        *t = s + i + k;
        *tn = n - i - k;
        trim(t, tn);
        /* an optional closing sequence of '#'s, preceded by a space */
        size_t e = *tn;
        while (e && (*t)[e - 1] == '#')
                e--;
        if (e < *tn && (e == 0 || is_ws((*t)[e - 1]))) {
                *tn = e;
                trim(t, tn);
        }
        *level = (int)k;
        return true;
}

/* A setext underline: "===" or "---", at most 3 spaces indent. */
static bool md_setext(const char *s, size_t n, int *level)
{
        size_t i = 0;

        while (i < 3 && i < n && s[i] == ' ')
                i++;
        if (i >= n || (s[i] != '=' && s[i] != '-'))
                return false;
        char c = s[i];
        while (i < n && s[i] == c)
                i++;
        if (!is_blank(s + i, n - i))
                return false;
        *level = c == '=' ? 1 : 2;
        return true;
}

/* "```" or "~~~" (3 or more, at most 3 spaces indent): the fence's char and
 * length, *rest the offset after the run. A backtick opener's info string has
 * no backtick (else it is inline code). */
static bool md_fence(const char *s, size_t n, char *ch, size_t *cnt, size_t *rest)
{
        size_t i = 0, k = 0;

        while (i < 3 && i < n && s[i] == ' ')
                i++;
        if (i >= n || (s[i] != '`' && s[i] != '~'))
                return false;
        while (i + k < n && s[i + k] == s[i])
                k++;
        if (k < 3)
                return false;
        *ch = s[i];
        *cnt = k;
        *rest = i + k;
        return true;
}

/* "== Title ==" at the start of the line: level and trimmed title. */
static bool wt_heading(const char *s, size_t n, int *level, const char **t, size_t *tn)
{
        size_t k = 0, j = 0;

        while (n && is_ws(s[n - 1]))
                n--;
        while (k < n && s[k] == '=')
                k++;
        while (j < n && s[n - 1 - j] == '=')
                j++;
        if (k == 0 || j == 0 || k == n)
                return false;
        size_t l = k < j ? k : j;
        if (l > 6)
                l = 6;
        if (2 * l >= n)
                return false;
        *t = s + l;
        *tn = n - 2 * l;
        trim(t, tn);
        if (*tn == 0)
                return false;
        *level = (int)l;
        return true;
}

static const char *memmem_ci(const char *s, size_t n, const char *needle)
{
        size_t k = strlen(needle);

        for (size_t i = 0; i + k <= n; i++)
                if (strncasecmp(s + i, needle, k) == 0)
                        return s + i;
        return NULL;
}

/* Where headings cannot be: inside a comment, a code fence, a verbatim block. */
struct scan {
        bool wikitext;
        bool comment;           /* inside <!-- ... --> */
        char fence;             /* Markdown: inside a fence of this char */
        size_t fence_len;
        const char *verbatim;   /* wikitext: inside <pre> etc., its closing tag */
};

static const char *const wt_verbatim[][2] = {
        { "<pre", "</pre>" },
        { "<nowiki", "</nowiki>" },
        { "<syntaxhighlight", "</syntaxhighlight>" },
        { "<source", "</source>" },
};

#define N_VERBATIM (sizeof(wt_verbatim) / sizeof(wt_verbatim[0]))

/* The next opener v (N_VERBATIM: "<!--") at or after rest, through a cache
 * of where each was found last (NULL: none on the line), so a line of many
 * openers is searched once per opener kind, not once per opener. */
static const char *next_opener(const char **cache, bool *known, size_t v, const char *rest,
                               const char *end)
{
        if (known[v] && (!cache[v] || cache[v] >= rest))
                return cache[v];
        known[v] = true;
        if (v == N_VERBATIM)
                cache[v] = memmem(rest, (size_t)(end - rest), "<!--", 4);
        else
                cache[v] = memmem_ci(rest, (size_t)(end - rest), wt_verbatim[v][0]);
        return cache[v];
}

/* Follows comments and verbatim blocks through a line. */
static void scan_inline(struct scan *sc, const char *s, size_t n)
{
        const char *cache[N_VERBATIM + 1];
        bool known[N_VERBATIM + 1] = { false };
        const char *end = s + n, *gt = NULL;    /* the next '>' */
        bool gt_known = false;
        size_t i = 0;

        while (i < n) {
                const char *rest = s + i;
                size_t rn = n - i;

                if (sc->comment) {
                        const char *e = memmem(rest, rn, "-->", 3);
                        if (!e)
                                return;
                        sc->comment = false;
                        i = (size_t)(e - s) + 3;
                        continue;
                }
                if (sc->verbatim) {
                        const char *e = memmem_ci(rest, rn, sc->verbatim);
                        if (!e)
                                return;
                        i = (size_t)(e - s) + strlen(sc->verbatim);
                        sc->verbatim = NULL;
                        continue;
                }
                /* the earliest opener on the rest of the line */
                const char *first = next_opener(cache, known, N_VERBATIM, rest, end);
                const char *close = NULL;
                size_t skip = 4;
                for (size_t v = 0; sc->wikitext && v < N_VERBATIM; v++) {
                        const char *o = rest;
                        size_t ol = strlen(wt_verbatim[v][0]);

                        /* "<pre>" or "<pre ...>", not "<prefix>" or "<pre/>" */
                        while ((o = next_opener(cache, known, v, o, end))) {
                                if (!gt_known || (gt && gt < o)) {
                                        gt = memchr(o, '>', (size_t)(end - o));
                                        gt_known = true;
                                }
                                if ((o + ol == end || o[ol] == '>' || is_ws(o[ol])) &&
                                    !(gt && gt[-1] == '/'))
                                        break;
                                o += ol;
                        }
                        if (o && (!first || o < first)) {
                                first = o;
                                close = wt_verbatim[v][1];
                                skip = ol;
                        }
                }
                if (!first)
                        return;
                if (close)
                        sc->verbatim = close;
                else
                        sc->comment = true;
                i = (size_t)(first - s) + skip;
        }
}

/* Looks for the heading named sec on page: true with *after = the offset of
 * the line after the heading (after its underline for setext). */
static bool find_section(const char *page, size_t len, bool wikitext, const char *sec,
                         size_t *after)
{
        struct scan sc = { .wikitext = wikitext };
        size_t off = 0, seclen = strlen(sec);
        const char *prev = NULL;        /* Markdown: the paragraph's line */
        size_t prevn = 0, para = 0;     /* and how many lines it has */

        for (; off < len; off = *after) {
                const char *s, *t;
                size_t n, tn, cnt, rest;
                int level;
                char ch;

                *after = line_at(page, len, off, &s, &n);
                if (sc.fence) {
                        if (md_fence(s, n, &ch, &cnt, &rest) && ch == sc.fence &&
                            cnt >= sc.fence_len && is_blank(s + rest, n - rest))
                                sc.fence = 0;
                        continue;
                }
                if (!sc.comment && !sc.verbatim) {
                        bool title = false;

                        if (wikitext) {
                                title = wt_heading(s, n, &level, &t, &tn);
                        } else if (md_fence(s, n, &ch, &cnt, &rest) &&
                                   (ch == '~' || !memchr(s + rest, '`', n - rest))) {
                                sc.fence = ch;
                                sc.fence_len = cnt;
                                para = 0;
                                continue;
                        } else if (md_atx(s, n, &level, &t, &tn)) {
                                title = true;
                                para = 0;
                        } else if (para && md_setext(s, n, &level)) {
                                t = prev;
                                tn = prevn;
                                trim(&t, &tn);
                                title = para == 1;
                                para = 0;
                        } else if (is_blank(s, n)) {
                                para = 0;
                        } else {
                                prev = s;
                                prevn = n;
                                para++;
                        }
                        if (title && tn == seclen && memcmp(t, sec, seclen) == 0)
                                return true;
                }
                scan_inline(&sc, s, n);
                if (sc.comment || sc.verbatim)
                        para = 0;
        }
        return false;
}

/* The level of the first heading in the publication's text, 0 if none. */
static int text_level(const char *text, bool wikitext)
{
        size_t len = strlen(text), off = 0;

        while (off < len) {
                const char *s, *t;
                size_t n, tn, next = line_at(text, len, off, &s, &n);
                int level;

                if (wikitext ? wt_heading(s, n, &level, &t, &tn) : md_atx(s, n, &level, &t, &tn))
                        return level;
                off = next;
        }
        return 0;
}

static enum gv_err heading_line(struct gv_buf *b, bool wikitext, int level, const char *sec)
{
        static const char marks[] = "======";
        static const char hashes[] = "######";

        if (wikitext)
                return gv_buf_printf(b, "%.*s %s %.*s\n", level, marks, sec, level, marks);
        return gv_buf_printf(b, "%.*s %s\n", level, hashes, sec);
}

/* The section name, trimmed, as a heading gives it back: else GV_EINVAL. */
static enum gv_err section_name(const char *section, bool wikitext, char **ret)
{
        const char *s = section, *t;
        size_t n = section ? strlen(section) : 0, tn;
        struct gv_buf b = GV_BUF_INIT(PUBLISH_MAX_SECTION * 2);
        enum gv_err r = GV_EINVAL;
        int level;
        char *name = NULL;

        trim(&s, &n);
        if (n == 0 || n > PUBLISH_MAX_SECTION || memmem(s, n, "<!--", 4) || memmem(s, n, "-->", 3))
                goto out;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        goto out;
        name = strndup(s, n);
        if (!name) {
                r = GV_ENOMEM;
                goto out;
        }
        r = heading_line(&b, wikitext, 2, name);
        if (r != GV_OK)
                goto out;
        r = GV_EINVAL;
        if (!(wikitext ? wt_heading(b.p, b.len - 1, &level, &t, &tn)
                       : md_atx(b.p, b.len - 1, &level, &t, &tn)) ||
            tn != n || memcmp(t, name, n) != 0)
                goto out;
        *ret = name;
        name = NULL;
        r = GV_OK;
out:
        free(name);
        gv_buf_free(&b);
        return r;
}

static enum gv_err add_text(struct gv_buf *b, const char *text)
{
        size_t n = strlen(text);
        enum gv_err r = gv_buf_add(b, text, n);

        if (r == GV_OK && (n == 0 || text[n - 1] != '\n'))
                r = gv_buf_addc(b, '\n');
        return r;
}

/* Is the marker on the page? Where the publication has it on a line of its
 * own, only a line of its own counts: chat text quoted in another meeting's
 * section (a list item, a quote) cannot claim this meeting is published. */
static bool marker_on(const char *page, size_t len, const char *marker, bool own_line)
{
        size_t ml = strlen(marker), off = 0;

        if (!own_line)
                return strstr(page, marker) != NULL;
        while (off < len) {
                const char *s;
                size_t n, next = line_at(page, len, off, &s, &n);

                trim(&s, &n);
                if (n == ml && memcmp(s, marker, ml) == 0)
                        return true;
                off = next;
        }
        return false;
}

enum gv_err gv_publish_insert(const char *page_text, bool wikitext, const char *section,
                              const struct gv_publication *p, char **out)
{
        struct gv_buf b = GV_BUF_INIT(PUBLISH_MAX_PAGE);
        const char *page = page_text ? page_text : "";
        size_t len, after;
        char *sec = NULL;
        enum gv_err r;

        if (!out || !p || !p->marker || !*p->marker || !p->text || !strstr(p->text, p->marker))
                return GV_EINVAL;
        *out = NULL;
        len = strlen(page);
        if (len > PUBLISH_MAX_PAGE)
                return GV_ETOOBIG;
        if (marker_on(page, len, p->marker,
                      marker_on(p->text, strlen(p->text), p->marker, true)))
                return GV_OK;   /* already published */
        r = section_name(section, wikitext, &sec);
        if (r != GV_OK)
                return r;

        if (find_section(page, len, wikitext, sec, &after)) {
                const char *s;
                size_t n, end = after;

                r = gv_buf_add(&b, page, after);
                if (r == GV_OK && (after == 0 || page[after - 1] != '\n'))
                        r = gv_buf_addc(&b, '\n');      /* the heading was the last line */
                /* the blank lines under the heading stay; at least one */
                while (end < len) {
                        size_t next = line_at(page, len, end, &s, &n);
                        if (!is_blank(s, n))
                                break;
                        end = next;
                }
                if (r == GV_OK)
                        r = end > after ? gv_buf_add(&b, page + after, end - after)
                                        : gv_buf_addc(&b, '\n');
                if (r == GV_OK)
                        r = add_text(&b, p->text);
                if (r == GV_OK && end < len)
                        r = gv_buf_addc(&b, '\n');
                if (r == GV_OK)
                        r = gv_buf_add(&b, page + end, len - end);
        } else {
                /* one level above the meeting's own heading; "##" without one */
                int level = text_level(p->text, wikitext);

                level = level == 0 ? 2 : level > 1 ? level - 1 : 1;
                r = gv_buf_add(&b, page, len);
                if (r == GV_OK && len && page[len - 1] != '\n')
                        r = gv_buf_addc(&b, '\n');
                if (r == GV_OK && len && !(b.len >= 2 && b.p[b.len - 2] == '\n'))
                        r = gv_buf_addc(&b, '\n');
                if (r == GV_OK)
                        r = heading_line(&b, wikitext, level, sec);
                if (r == GV_OK)
                        r = gv_buf_addc(&b, '\n');
                if (r == GV_OK)
                        r = add_text(&b, p->text);
        }
        if (r == GV_OK)
                r = gv_buf_steal(&b, out);
        gv_buf_free(&b);
        free(sec);
        return r;
}
