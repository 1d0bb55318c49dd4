/* handlers/parse.c - see parse.h */
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/text.h"
#include "parse.h"

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static bool is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_tagchar(char c)
{
        return is_alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

const char *gv_strip_reply_fallback(const char *body, size_t len, size_t *rest)
{
        size_t i = 0;

        if (len == 0 || body[0] != '>') {
                *rest = len;
                return body;
        }
        while (i < len && body[i] == '>') {
                const char *nl = memchr(body + i, '\n', len - i);

                if (!nl) {
                        /* the whole body is quoted: nothing left */
                        *rest = 0;
                        return body + len;
                }
                i = (size_t)(nl - body) + 1;
        }
        if (i < len && body[i] == '\n')
                i++;
        *rest = len - i;
        return body + i;
}

bool gv_parse_command(const struct gv_config *cfg, const char *line, size_t len,
                      struct gv_cmdline *out)
{
        size_t i = 0, start;

        while (i < len && is_blank(line[i]))
                i++;
        if (i >= len || !gv_config_is_prefix(cfg, line[i]))
                return false;
        out->prefix = line[i++];
        start = i;
        while (i < len && is_alpha(line[i]))
                i++;
        if (i == start)
                return false;
        if (i < len && !is_blank(line[i]))
                return false;
        out->name = line + start;
        out->name_len = i - start;
        while (i < len && is_blank(line[i]))
                i++;
        while (len > i && is_blank(line[len - 1]))
                len--;
        out->args = line + i;
        out->args_len = len - i;
        return true;
}

void gv_tagged_clear(struct gv_tagged *t)
{
        free(t->description);
        for (size_t i = 0; i < t->n_mentions; i++)
                free(t->mentions[i]);
        memset(t, 0, sizeof(*t));
}

/* A word of the line: [s, e). */
struct word {
        size_t s, e;
};

#define MAX_WORDS 512

static size_t split_words(const char *line, size_t len, struct word *w, size_t max)
{
        size_t n = 0, i = 0;

        while (i < len && n < max) {
                while (i < len && is_blank(line[i]))
                        i++;
                if (i >= len)
                        break;
                w[n].s = i;
                while (i < len && !is_blank(line[i]))
                        i++;
                w[n].e = i;
                n++;
        }
        return n;
}

/* "@name", "@name," or "@user:server.org" */
static bool mention_word(const char *line, struct word w, size_t *name_len)
{
        size_t n = w.e - w.s;

        while (n > 1 && (line[w.s + n - 1] == ',' || line[w.s + n - 1] == '.' ||
                         line[w.s + n - 1] == ';'))
                n--;
        if (n < 2 || line[w.s] != '@')
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = line[w.s + i];

                if (!(is_tagchar(c) || c == ':' || c == '.' || c == '=' || c == '/' ||
                      (unsigned char)c >= 0x80))
                        return false;
        }
        *name_len = n;
        return true;
}

static enum gv_err add_mention(struct gv_tagged *t, const char *s, size_t n)
{
        char *m;

        for (size_t i = 0; i < t->n_mentions; i++)
                if (strlen(t->mentions[i]) == n && strncmp(t->mentions[i], s, n) == 0)
                        return GV_OK;
        if (t->n_mentions >= GV_MAX_MENTIONS)
                return GV_OK;
        m = strndup(s, n);
        if (!m)
                return GV_ENOMEM;
        t->mentions[t->n_mentions++] = m;
        return GV_OK;
}

enum gv_err gv_parse_tag(const struct gv_config *cfg, const char *line, size_t len,
                         struct gv_tagged *out)
{
        struct word *w;
        size_t n, i, tag = (size_t)-1, cc = (size_t)-1;
        const char *agenda = NULL;
        struct gv_buf d = GV_BUF_INIT(GV_MAX_DESCRIPTION);
        struct gv_tagged t;
        enum gv_err r = GV_ENOMEM;

        if (!memchr(line, '#', len))
                return GV_ENOTFOUND;    /* no word can be a tag (most lines) */
        memset(&t, 0, sizeof(t));
        w = malloc(MAX_WORDS * sizeof(*w));
        if (!w)
                return GV_ENOMEM;
        n = split_words(line, len, w, MAX_WORDS);
        for (i = 0; i < n; i++) {
                size_t wl = w[i].e - w[i].s;
                const char *p = line + w[i].s;

                /* "#tag", "#tag:" or "#tag," */
                while (wl > 1 && (p[wl - 1] == ':' || p[wl - 1] == ',' || p[wl - 1] == '.'))
                        wl--;
                if (wl < 2 || p[0] != '#')
                        continue;
                agenda = gv_config_agenda_for_tag(cfg, p + 1, wl - 1);
                if (agenda) {
                        tag = i;
                        break;
                }
        }
        if (!agenda) {
                r = GV_ENOTFOUND;
                goto out;
        }
        /* The cc tail: the last "cc" word followed only by mentions. */
        for (i = n; i-- > tag + 1;) {
                size_t ml;

                if (w[i].e - w[i].s == 2 && gv_iprefix(line + w[i].s, "cc")) {
                        if (i + 1 < n)
                                cc = i;
                        break;
                }
                if (!mention_word(line, w[i], &ml))
                        break;
        }
        for (i = 0; i < n; i++) {
                if (i == tag)
                        continue;
                if (cc != (size_t)-1 && i >= cc) {
                        size_t ml;

                        if (i > cc && mention_word(line, w[i], &ml)) {
                                r = add_mention(&t, line + w[i].s, ml);
                                if (r)
                                        goto out;
                        }
                        continue;
                }
                if (d.len && gv_buf_addc(&d, ' '))
                        break;
                if (gv_buf_add(&d, line + w[i].s, w[i].e - w[i].s))
                        break;
        }
        if (i < n) {
                r = GV_ETOOBIG;
                goto out;
        }
        r = gv_buf_steal(&d, &t.description);
        if (r)
                goto out;
        t.agenda = agenda;
        *out = t;
        memset(&t, 0, sizeof(t));
        r = GV_OK;
out:
        gv_tagged_clear(&t);
        gv_buf_free(&d);
        free(w);
        return r;
}

void gv_nick_of(const char *sender, char *out, size_t n)
{
        size_t i = 0;

        if (n == 0)
                return;
        if (sender[0] == '@' && strchr(sender, ':'))
                sender++;
        while (sender[i] && sender[i] != ':' && i + 1 < n) {
                out[i] = sender[i];
                i++;
        }
        if (i == 0 && sender[0] && n > 1) /* ":x" or "@:x": keep something */
                out[i++] = '?';
        out[i] = '\0';
}

bool gv_is_link_line(const char *line, size_t len)
{
        while (len && is_blank(*line)) {
                line++;
                len--;
        }
        return (len > 7 && strncmp(line, "http://", 7) == 0) ||
               (len > 8 && strncmp(line, "https://", 8) == 0);
}
