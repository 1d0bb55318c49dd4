/* handlers/attendance.c - who comes to a series' next meeting (issue 10):
 * reactions on the release (and their redaction), !canmake / !cantmake
 * [N ...], the items postponed because their people can't come (and back
 * when they can), and who answered, for !agenda. Answers are kept by full
 * user ID. No clock: the event's time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/recur.h"
#include "../util/text.h"
#include "handlers.h"
#include "internal.h"

struct answer {
        char *user;
        int64_t item;   /* 0: the whole occurrence */
        bool coming;
};

struct answers {
        struct answer *v;
        size_t n, cap;
        enum gv_err r;
};

static void answers_free(struct answers *a)
{
        for (size_t i = 0; i < a->n; i++)
                free(a->v[i].user);
        free(a->v);
        memset(a, 0, sizeof(*a));
}

static void add_answer(void *ud, const char *user, int64_t item, bool coming)
{
        struct answers *a = ud;

        if (a->r)
                return;
        if (a->n == a->cap) {
                size_t nc = a->cap ? a->cap * 2 : 16;
                struct answer *nv = realloc(a->v, nc * sizeof(*nv));

                if (!nv) {
                        a->r = GV_ENOMEM;
                        return;
                }
                a->v = nv;
                a->cap = nc;
        }
        a->v[a->n].user = strdup(user);
        if (!a->v[a->n].user) {
                a->r = GV_ENOMEM;
                return;
        }
        a->v[a->n].item = item;
        a->v[a->n].coming = coming;
        a->n++;
}

static enum gv_err load_answers(struct gv_store *s, const struct gv_series_cfg *sc, int64_t occ,
                                struct answers *a)
{
        enum gv_err r;

        memset(a, 0, sizeof(*a));
        r = gv_store_attend_each(s, sc->name, occ, add_answer, a);
        if (r == GV_OK)
                r = a->r;
        if (r)
                answers_free(a);
        return r;
}

/* Does a person named in an item (a full ID, or "@nick" on the console)
 * stand for user? */
bool series_names_user(const char *who, const char *user)
{
        if (strcmp(who, user) == 0)
                return true;
        return who[0] == '@' && !strchr(user, ':') && strcmp(who + 1, user) == 0;
}

static bool cant_make(const struct answers *a, const char *who, int64_t item)
{
        for (size_t i = 0; i < a->n; i++)
                if (!a->v[i].coming && (a->v[i].item == 0 || a->v[i].item == item) &&
                    series_names_user(who, a->v[i].user))
                        return true;
        return false;
}

/* Why the item cannot be discussed at the occurrence ("@alice can't make
 * Thu 15:00"), or false: its reporter can't come, or every person it
 * mentions can't. */
static enum gv_err item_blocked(const struct gv_series_cfg *sc, int64_t occ,
                                const struct answers *a, const struct gv_item *it,
                                struct gv_buf *why, bool *blocked)
{
        struct gv_buf names = GV_BUF_INIT(GV_REPLY_MAX_BODY);
        char when[128], *m = NULL, *save = NULL;
        size_t n = 0, out = 0;
        enum gv_err r = GV_OK;

        *blocked = false;
        series_occ_short(sc, occ, when, sizeof(when));
        if (cant_make(a, it->reporter, it->id)) {
                *blocked = true;
                return gv_buf_printf(why, "%s can't make %s", it->reporter, when);
        }
        if (!it->mentions[0])
                return GV_OK;
        m = strdup(it->mentions);
        if (!m)
                return GV_ENOMEM;
        for (char *w = strtok_r(m, " ", &save); w && r == GV_OK; w = strtok_r(NULL, " ", &save)) {
                n++;
                if (cant_make(a, w, it->id))
                        out++;
                r = gv_buf_printf(&names, "%s%s", n > 1 ? ", " : "", w);
        }
        if (r == GV_OK && n && out == n) {
                r = gv_buf_printf(why, "%s can't make %s", gv_buf_str(&names), when);
                *blocked = true;
        }
        gv_buf_free(&names);
        free(m);
        return r;
}

/* Items of the series' agenda whose people can't come to occ are
 * postponed (with why); those postponed so whose people can again come
 * back. An item postponed by hand (!agenda postpone) is left alone. What
 * changed is appended to changes (may be NULL), a line each. */
enum gv_err series_reconsider(struct ctx *x, const struct gv_series_cfg *sc, int64_t occ,
                              struct gv_buf *changes)
{
        struct gv_store *s = x->c->s;
        struct gv_item *items = NULL;
        struct answers a;
        size_t n = 0;
        enum gv_err r;

        r = load_answers(s, sc, occ, &a);
        if (r)
                return r;
        r = gv_store_agenda(s, series_agenda_of(x->c->cfg, sc), &items, &n);
        for (size_t i = 0; i < n && r == GV_OK; i++) {
                struct gv_buf why = GV_BUF_INIT(GV_REPLY_MAX_BODY);
                char *pser = NULL, *preason = NULL;
                int64_t pocc = 0;
                bool blocked = false, mine;

                r = item_blocked(sc, occ, &a, &items[i], &why, &blocked);
                if (r == GV_OK) {
                        r = gv_store_postponed_get(s, items[i].id, &pser, &pocc, &preason);
                        if (r == GV_ENOTFOUND)
                                r = GV_OK;
                }
                /* postponed for another series' meeting still to come: its own */
                if (pser && strcmp(pser, sc->name) != 0 && pocc > x->ev->ts) {
                        free(pser);
                        free(preason);
                        gv_buf_free(&why);
                        continue;
                }
                mine = pser != NULL;
                if (r == GV_OK && blocked && (items[i].status == GV_ITEM_OPEN || mine) &&
                    !(mine && pocc == occ && strcmp(preason, gv_buf_str(&why)) == 0 &&
                      items[i].status == GV_ITEM_POSTPONED)) {
                        r = gv_store_postponed_set(s, items[i].id, sc->name, occ, gv_buf_str(&why));
                        if (r == GV_OK)
                                r = gv_store_item_set_status(s, items[i].id, GV_ITEM_POSTPONED);
                        if (r == GV_OK && changes)
                                r = gv_buf_printf(changes, "%sPostponed: %s (%s)",
                                                  changes->len ? "\n" : "", items[i].description,
                                                  gv_buf_str(&why));
                } else if (r == GV_OK && !blocked && mine) {
                        r = gv_store_postponed_del(s, items[i].id);
                        if (r == GV_OK && items[i].status == GV_ITEM_POSTPONED) {
                                r = gv_store_item_set_status(s, items[i].id, GV_ITEM_OPEN);
                                if (r == GV_OK && changes)
                                        r = gv_buf_printf(changes, "%sBack on the agenda: %s",
                                                          changes->len ? "\n" : "",
                                                          items[i].description);
                        }
                }
                free(pser);
                free(preason);
                gv_buf_free(&why);
        }
        gv_items_free(items, n);
        answers_free(&a);
        return r;
}

/* Who answered for occ, appended to t: "coming: a, b; can't make it: c". */
static enum gv_err answers_text(struct ctx *x, const struct gv_series_cfg *sc, int64_t occ,
                                struct gv_buf *t)
{
        struct gv_item *items = NULL;
        struct answers a;
        size_t n = 0;
        int any;
        enum gv_err r = load_answers(x->c->s, sc, occ, &a);

        if (r)
                return r;
        r = gv_store_agenda(x->c->s, series_agenda_of(x->c->cfg, sc), &items, &n);
        for (int pass = 0; pass < 2 && r == GV_OK; pass++) {
                any = 0;
                for (size_t i = 0; i < a.n && r == GV_OK; i++)
                        if (a.v[i].item == 0 && a.v[i].coming == (pass == 0))
                                r = gv_buf_printf(t, "%s%s", any++ ? ", " : pass ? "; can't make it: " :
                                                  " coming: ", a.v[i].user);
                if (r == GV_OK && pass == 0 && !any)
                        r = gv_buf_adds(t, " coming: nobody yet");
        }
        for (size_t k = 0; k < n && r == GV_OK; k++) {
                any = 0;
                for (size_t i = 0; i < a.n && r == GV_OK; i++)
                        if (a.v[i].item == items[k].id && !a.v[i].coming)
                                r = any++ ? gv_buf_printf(t, ", %s", a.v[i].user) :
                                            gv_buf_printf(t, "; can't make item %zu: %s", k + 1,
                                                          a.v[i].user);
        }
        gv_items_free(items, n);
        answers_free(&a);
        return r;
}

enum gv_err series_agenda_notes(struct ctx *x, const char *agenda, struct gv_buf *t)
{
        const struct gv_config *cfg = x->c->cfg;
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < cfg->n_series && r == GV_OK; i++) {
                const struct gv_series_cfg *sc = &cfg->series[i];
                bool here = false, released = false;
                char when[128];
                int64_t occ = 0;

                if (!sc->recur || !sc->name || strcmp(series_agenda_of(cfg, sc), agenda) != 0)
                        continue;
                r = series_room_is(x->c->s, sc->room, x->ev->room, &here);
                if (r == GV_OK && !here)
                        r = series_room_is(x->c->s, series_release_room(sc), x->ev->room, &here);
                if (r || !here)
                        continue;
                r = gv_recur_next(sc->recur, x->ev->ts, &occ);
                if (r == GV_ENOTFOUND) {
                        r = GV_OK;
                        continue;
                }
                if (r == GV_OK)
                        r = gv_store_released(x->c->s, sc->name, occ, &released);
                if (r || !released)
                        continue;
                series_occ_text(sc, occ, when, sizeof(when));
                r = gv_buf_printf(t, "\n%s, %s:", sc->name, when);
                if (r == GV_OK)
                        r = answers_text(x, sc, occ, t);
        }
        return r;
}

/* Item numbers (as !agenda shows them) into IDs; replies and returns
 * GV_EINVAL for one that names no item. */
static enum gv_err item_ids(struct ctx *x, const struct gv_series_cfg *sc, char *args,
                            int64_t **ids, size_t *n_ids)
{
        struct gv_item *items = NULL;
        size_t n = 0, k = 0;
        char *save = NULL;
        enum gv_err r;

        *ids = NULL;
        *n_ids = 0;
        r = gv_store_agenda(x->c->s, series_agenda_of(x->c->cfg, sc), &items, &n);
        if (r)
                return r;
        for (char *w = strtok_r(args, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save))
                k++;
        *ids = calloc(k ? k : 1, sizeof(**ids));
        if (!*ids) {
                gv_items_free(items, n);
                return GV_ENOMEM;
        }
        /* strtok_r cut args: walk the words again */
        for (char *w = args; k--; w += strlen(w) + 1) {
                uint64_t num = 0;

                while (*w == '\0' || *w == ' ' || *w == '\t' || *w == ',')
                        w++;
                if (gv_parse_u64(w, 100000, &num) != GV_OK || num == 0) {
                        r = replyf(x, "'%s' is not an agenda item number; see !agenda for the "
                                      "numbers.", ech(x, w));
                        r = r ? r : GV_EINVAL;
                        break;
                }
                if (num > n) {
                        r = replyf(x, "There is no item %llu: the %s agenda has %zu item%s.",
                                   (unsigned long long)num, series_agenda_of(x->c->cfg, sc), n,
                                   n == 1 ? "" : "s");
                        r = r ? r : GV_EINVAL;
                        break;
                }
                (*ids)[(*n_ids)++] = items[num - 1].id;
        }
        gv_items_free(items, n);
        if (r) {
                free(*ids);
                *ids = NULL;
                *n_ids = 0;
        }
        return r;
}

/* Records an answer and reconsiders the agenda; the changes it made are
 * appended to changes. items NULL: the whole occurrence. */
static enum gv_err answer(struct ctx *x, const struct gv_series_cfg *sc, int64_t occ,
                          bool coming, const int64_t *items, size_t n_items,
                          struct gv_buf *changes)
{
        struct gv_store *s = x->c->s;
        enum gv_err r = GV_OK;

        if (coming || !n_items)
                r = gv_store_attend_clear(s, sc->name, occ, x->ev->sender);
        if (r == GV_OK && !n_items)
                r = gv_store_attend_set(s, sc->name, occ, x->ev->sender, 0, coming,
                                        x->ev->event_id, x->ev->ts);
        for (size_t i = 0; i < n_items && r == GV_OK; i++)
                r = gv_store_attend_set(s, sc->name, occ, x->ev->sender, items[i], false,
                                        x->ev->event_id, x->ev->ts);
        if (r == GV_OK)
                r = series_reconsider(x, sc, occ, changes);
        return r;
}

static enum gv_err cmd_answer(struct ctx *x, char *args, bool coming)
{
        const struct gv_series_cfg *sc = NULL;
        struct gv_buf t = GV_BUF_INIT(GV_REPLY_MAX_BODY);
        int64_t occ = 0, *ids = NULL;
        size_t n_ids = 0;
        char when[128];
        enum gv_err r;

        r = series_pick(x, &args, &sc, &occ);
        if (r || !sc)
                return r;
        if (coming && *args)
                return replyf(x, "Usage: !canmake [series]: takes back your !cantmake for the "
                                 "next %s.", sc->name);
        if (*args) {
                r = item_ids(x, sc, args, &ids, &n_ids);
                if (r)
                        return r == GV_EINVAL ? GV_OK : r;
        }
        series_occ_text(sc, occ, when, sizeof(when));
        if (coming)
                r = gv_buf_printf(&t, "Noted: %s comes to %s, %s.", x->ev->sender, sc->name, when);
        else if (n_ids) {
                r = gv_buf_printf(&t, "Noted: %s can't make item%s", x->ev->sender,
                                  n_ids == 1 ? "" : "s");
                for (size_t i = 0; i < n_ids && r == GV_OK; i++) {
                        size_t index = 0;

                        r = agenda_index_of(x, series_agenda_of(x->c->cfg, sc), ids[i], &index);
                        if (r == GV_OK)
                                r = gv_buf_printf(&t, "%s %zu", i ? "," : "", index);
                }
                if (r == GV_OK)
                        r = gv_buf_printf(&t, " of %s, %s.", sc->name, when);
        } else {
                r = gv_buf_printf(&t, "Noted: %s can't make %s, %s.", x->ev->sender, sc->name,
                                  when);
        }
        if (r == GV_OK) {
                struct gv_buf changes = GV_BUF_INIT(GV_REPLY_MAX_BODY);

                r = answer(x, sc, occ, coming, ids, n_ids, &changes);
                if (r == GV_OK && changes.len)
                        r = gv_buf_printf(&t, "\n%s", gv_buf_str(&changes));
                gv_buf_free(&changes);
        }
        if (r == GV_OK)
                r = reply(x, gv_buf_str(&t));
        free(ids);
        gv_buf_free(&t);
        return r;
}

enum gv_err cmd_canmake(struct ctx *x, const struct cmd *c, char *args)
{
        (void)c;
        return cmd_answer(x, args, true);
}

enum gv_err cmd_cantmake(struct ctx *x, const struct cmd *c, char *args)
{
        (void)c;
        return cmd_answer(x, args, false);
}

/* ✅ 👍 (yes), ❌ 👎 (no); skin tones and the emoji presentation selector
 * do not matter. Returns -1 for any other key. */
static int reaction_answer(const char *key)
{
        static const char *const yes[] = { "\u2705", "\U0001F44D", "\u2714" };
        static const char *const no[] = { "\u274c", "\U0001F44E", "\u2716" };
        char k[32];
        size_t n = 0;

        for (const char *p = key; *p && n < sizeof(k) - 1;) {
                if (strncmp(p, "\xef\xb8\x8f", 3) == 0) {                       /* U+FE0F */
                        p += 3;
                } else if (strncmp(p, "\xf0\x9f\x8f", 3) == 0 &&                /* U+1F3FB-F */
                           (unsigned char)p[3] >= 0xbb && (unsigned char)p[3] <= 0xbf) {
                        p += 4;
                } else {
                        k[n++] = *p++;
                }
        }
        k[n] = '\0';
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
                if (strcmp(k, yes[i]) == 0)
                        return 1;
                if (strcmp(k, no[i]) == 0)
                        return 0;
        }
        return -1;
}

const struct gv_series_cfg *series_named(const struct gv_config *cfg, const char *name)
{
        for (size_t i = 0; i < cfg->n_series; i++)
                if (cfg->series[i].name && strcmp(cfg->series[i].name, name) == 0 &&
                    cfg->series[i].recur)
                        return &cfg->series[i];
        return NULL;
}

static enum gv_err announce(struct ctx *x, struct gv_buf *changes)
{
        if (!changes->len)
                return GV_OK;
        return queue_message(x, x->ev->room, gv_buf_str(changes), NULL, false, NULL, 0);
}

enum gv_err series_reaction(struct ctx *x)
{
        const struct gv_series_cfg *sc;
        struct gv_buf changes = GV_BUF_INIT(GV_REPLY_MAX_BODY);
        char *name = NULL;
        int64_t occ = 0;
        int yes = reaction_answer(x->ev->reaction_key);
        enum gv_err r;

        if (yes < 0 || !x->ev->relates_to)
                return GV_OK;
        r = gv_store_release_by_event(x->c->s, x->ev->relates_to, &name, &occ);
        if (r == GV_ENOTFOUND)
                return GV_OK;
        if (r)
                return r;
        sc = series_named(x->c->cfg, name);
        free(name);
        if (!sc)
                return GV_OK;
        if (occ <= x->ev->ts)
                return GV_OK;   /* that meeting has begun: too late to answer */
        r = answer(x, sc, occ, yes == 1, NULL, 0, &changes);
        if (r == GV_OK)
                r = announce(x, &changes);
        gv_buf_free(&changes);
        return r;
}

enum gv_err series_redaction(struct ctx *x)
{
        const struct gv_series_cfg *sc;
        struct gv_buf changes = GV_BUF_INIT(GV_REPLY_MAX_BODY);
        char *name = NULL;
        int64_t occ = 0;
        enum gv_err r;

        r = gv_store_attend_del_event(x->c->s, x->ev->redacts, &name, &occ);
        if (r || !name)
                return r;
        sc = series_named(x->c->cfg, name);
        free(name);
        if (sc && occ > x->ev->ts)
                r = series_reconsider(x, sc, occ, &changes);
        if (r == GV_OK)
                r = announce(x, &changes);
        gv_buf_free(&changes);
        return r;
}
