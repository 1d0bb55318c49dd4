/* handlers/votes.c - #startvote, #vote, #endvote. */
#include <stdlib.h>
#include <string.h>

#include "../util/text.h"
#include "internal.h"

#define MAX_VOTE_OPTIONS 20
#define MAX_OPTION_BYTES 64
#define MAX_QUESTION_BYTES 1024

/* "Question? A, B, C" -> question "Question?" and options "A, B, C". Every
 * refusal answers with what is wrong; nothing is stored then. */
enum gv_err cmd_startvote(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_vote v;
        struct gv_buf opts = GV_BUF_INIT(MAX_VOTE_OPTIONS * (MAX_OPTION_BYTES + 2) + 1);
        struct gv_buf qq = GV_BUF_INIT(MAX_QUESTION_BYTES + 2);
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
        if (strlen(args) + 1 > MAX_QUESTION_BYTES)
                return replyf(x, "A vote's question may be at most %d bytes; this one is %zu. "
                                 "No vote was opened.", MAX_QUESTION_BYTES, strlen(args) + 1);
        for (char *w = strtok_r(q, ",/", &save); w; w = strtok_r(NULL, ",/", &save)) {
                size_t l;

                while (*w == ' ' || *w == '\t')
                        w++;
                l = strlen(w);
                while (l && (w[l - 1] == ' ' || w[l - 1] == '\t'))
                        w[--l] = '\0';
                if (!l)
                        continue;
                if (l > MAX_OPTION_BYTES || n >= MAX_VOTE_OPTIONS) {
                        r = replyf(x, "A vote takes at most %d options of at most %d bytes each. "
                                      "No vote was opened.", MAX_VOTE_OPTIONS, MAX_OPTION_BYTES);
                        goto out;
                }
                r = gv_buf_printf(&opts, "%s%s", n ? ", " : "", w);
                if (r)
                        goto out;
                n++;
        }
        if (n < 2) {
                r = reply(x, "A vote needs at least two options: #startvote <question>? A, B");
                goto out;
        }
        r = gv_buf_printf(&qq, "%s?", args);
        if (r == GV_OK)
                r = gv_store_vote_open(x->c->s, x->m.id, gv_buf_str(&qq), gv_buf_str(&opts),
                                       meeting_ts(x), &id);
        if (r == GV_OK)
                r = replyf(x, "Begin voting on: %s Valid vote options are %s.\n"
                              "Vote with #vote <option>. Only your last vote counts.",
                           ech(x, gv_buf_str(&qq)), ech(x, gv_buf_str(&opts)));
out:
        gv_buf_free(&qq);
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

enum gv_err cmd_vote(struct ctx *x, const struct cmd *c, char *args)
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
                r = gv_store_vote_cast(x->c->s, v.id, x->ev->sender, choice, meeting_ts(x));
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

enum gv_err cmd_endvote(struct ctx *x, const struct cmd *c, char *args)
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
        r = gv_store_vote_close(x->c->s, v.id, meeting_ts(x));
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
