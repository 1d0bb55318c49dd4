/* handlers/series.c - meeting series (issue 10): the timers (the agenda
 * released release_before_min ahead, a reminder remind_before_min ahead),
 * attendance (reactions on the release, !canmake / !cantmake) and the items
 * it postpones, !next and !agenda release. No clock: gv_tick() gets now,
 * commands use the event's time. Every timer is recorded in the store in
 * the caller's transaction, with its outbox rows: none fires twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../util/log.h"
#include "../util/recur.h"
#include "../util/text.h"
#include "handlers.h"
#include "internal.h"
#include "minutes.h"

/* An overdue timer is still done (late) while its meeting has not begun
 * and the occurrence started less than this long ago; later it is skipped. */
#define SERIES_GRACE_MS (10 * 60000LL)
/* A timer done more than this after it was due says it is late. */
#define SERIES_LATE_MS 60000LL
/* Occurrences looked at per series and call (a release a week ahead of an
 * hourly series is 168). */
#define SERIES_SCAN_MAX 2000

static int64_t before_ms(const struct gv_series_cfg *sc, enum gv_timer_kind k)
{
        return (k == GV_TIMER_RELEASE ? sc->release_before_min : sc->remind_before_min) * 60000LL;
}

static const char *release_room_of(const struct gv_series_cfg *sc)
{
        return sc->release_room && *sc->release_room ? sc->release_room : sc->room;
}

static const char *agenda_of(const struct gv_config *cfg, const struct gv_series_cfg *sc)
{
        return sc->agenda && *sc->agenda ? sc->agenda : gv_config_agenda_for_room(cfg, sc->room);
}

/* Is the configured room (an ID, an alias or a console room) the room of
 * an event? An alias matches the room ID it resolved to. */
static enum gv_err room_is(struct gv_store *s, const char *cfg_room, const char *room, bool *yes)
{
        char *id = NULL;
        enum gv_err r;

        *yes = cfg_room && strcmp(cfg_room, room) == 0;
        if (*yes || !cfg_room || cfg_room[0] != '#')
                return GV_OK;
        r = gv_store_alias_get(s, cfg_room, &id);
        if (r == GV_ENOTFOUND)
                return GV_OK;
        if (r)
                return r;
        *yes = strcmp(id, room) == 0;
        free(id);
        return GV_OK;
}

/* Where to send to a configured room: the room ID an alias resolved to
 * when known, else the room as given (the bridge resolves at send time). */
static enum gv_err room_target(struct gv_store *s, const char *cfg_room, char **out)
{
        enum gv_err r = GV_ENOTFOUND;

        *out = NULL;
        if (cfg_room[0] == '#')
                r = gv_store_alias_get(s, cfg_room, out);
        if (r == GV_ENOTFOUND)
                *out = strdup(cfg_room);
        else if (r)
                return r;
        return *out ? GV_OK : GV_ENOMEM;
}

/* "13:00" (UTC) */
static void utc_hm(int64_t ms, char out[8])
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;

        gmtime_r(&t, &tm);
        snprintf(out, 8, "%02d:%02d", tm.tm_hour % 24, tm.tm_min % 60);
}

/* "Thu 2026-12-03 15:00 EET (13:00 UTC)"; just the local one in UTC. */
static void occ_text(const struct gv_series_cfg *sc, int64_t occ, char *buf, size_t n)
{
        char hm[8];
        size_t k = gv_recur_local(sc->recur, occ, buf, n);

        if (strcmp(gv_recur_tz(sc->recur), "UTC") == 0 || k + 14 >= n)
                return;
        utc_hm(occ, hm);
        snprintf(buf + k, n - k, " (%s UTC)", hm);
}

/* "Thu 15:00": the weekday and time of gv_recur_local(). */
static void occ_short(const struct gv_series_cfg *sc, int64_t occ, char *buf, size_t n)
{
        char full[96], *sp1, *sp2, *sp3;

        gv_recur_local(sc->recur, occ, full, sizeof(full));
        sp1 = strchr(full, ' ');
        sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        sp3 = sp2 ? strchr(sp2 + 1, ' ') : NULL;
        if (!sp1 || !sp2) {
                snprintf(buf, n, "%s", full);
                return;
        }
        snprintf(buf, n, "%.*s%.*s", (int)(sp1 - full), full,
                 (int)((sp3 ? sp3 : sp2 + strlen(sp2)) - sp2), sp2);
}

/* ---- attendance ---- */

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
static bool names_user(const char *who, const char *user)
{
        if (strcmp(who, user) == 0)
                return true;
        return who[0] == '@' && !strchr(user, ':') && strcmp(who + 1, user) == 0;
}

static bool cant_make(const struct answers *a, const char *who, int64_t item)
{
        for (size_t i = 0; i < a->n; i++)
                if (!a->v[i].coming && (a->v[i].item == 0 || a->v[i].item == item) &&
                    names_user(who, a->v[i].user))
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
        occ_short(sc, occ, when, sizeof(when));
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
static enum gv_err reconsider(struct ctx *x, const struct gv_series_cfg *sc, int64_t occ,
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
        r = gv_store_agenda(s, agenda_of(x->c->cfg, sc), &items, &n);
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

/* ---- the release and the reminder ---- */

static enum gv_err add_ping(const char **pings, size_t *n, const char *who)
{
        for (size_t i = 0; i < *n; i++)
                if (names_user(pings[i], who) || names_user(who, pings[i]))
                        return GV_OK;   /* the same person (also "@nick" and "nick") */
        if (*n < GV_REPLY_MAX_MENTIONS)
                pings[(*n)++] = who;
        return GV_OK;
}

/* The agenda of the series' agenda for occ, posted to the release room:
 * each item with its link, its reporter and mentions pinged, asking them
 * to confirm. late_due: when it was due, for one done late (else 0). */
static enum gv_err do_release(struct ctx *x, const struct gv_series_cfg *sc, int64_t occ,
                              int64_t late_due)
{
        struct gv_store *s = x->c->s;
        const char *agenda = agenda_of(x->c->cfg, sc);
        struct gv_buf t = GV_BUF_INIT(GV_REPLY_MAX_BODY);
        struct gv_buf h = GV_BUF_INIT(4 * (size_t)GV_REPLY_MAX_BODY);
        struct gv_buf line = GV_BUF_INIT(1 << 16);
        struct gv_item *items = NULL;
        const char *pings[GV_REPLY_MAX_MENTIONS];
        char **words = NULL, when[128], hm[8], *room = NULL;
        size_t n = 0, n_pings = 0;
        int64_t row = 0;
        enum gv_err r;

        r = reconsider(x, sc, occ, NULL);
        if (r == GV_OK)
                r = gv_store_agenda(s, agenda, &items, &n);
        if (r)
                goto out;
        /* who is pinged: every reporter and person mentioned, once */
        words = calloc(n ? n : 1, sizeof(*words));
        if (!words) {
                r = GV_ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n && r == GV_OK; i++) {
                char *save = NULL;

                r = add_ping(pings, &n_pings, items[i].reporter);
                words[i] = strdup(items[i].mentions);
                if (!words[i]) {
                        r = GV_ENOMEM;
                        break;
                }
                for (char *w = strtok_r(words[i], " ", &save); w && r == GV_OK;
                     w = strtok_r(NULL, " ", &save))
                        r = add_ping(pings, &n_pings, w);
        }
        occ_text(sc, occ, when, sizeof(when));
        if (r == GV_OK && late_due) {
                utc_hm(late_due, hm);
                r = gv_buf_printf(&line, "(late: due %s UTC) ", hm);
        }
        if (r == GV_OK)
                r = gv_buf_printf(&line, "%s, %s: the %s agenda", sc->name, when, agenda);
        if (r == GV_OK && n == 0)
                r = gv_buf_printf(&line, " is empty. Tag a message with #%s to add an item.",
                                  tag_for_agenda(x->c->cfg, agenda));
        else if (r == GV_OK)
                r = gv_buf_printf(&line, " (%zu item%s):", n, n == 1 ? "" : "s");
        if (r == GV_OK)
                r = gv_buf_adds(&t, gv_buf_str(&line));
        if (r == GV_OK)
                r = gv_buf_adds(&h, "<p>");
        if (r == GV_OK)
                r = gv_html_escape(&h, gv_buf_str(&line));
        if (r == GV_OK)
                r = gv_buf_adds(&h, n ? "</p>\n<ol>" : "</p>");
        for (size_t i = 0; i < n && r == GV_OK; i++) {
                const struct gv_item *it = &items[i];
                struct gv_buf link = GV_BUF_INIT(4096);
                char *pser = NULL, *why = NULL;
                int64_t pocc = 0;

                gv_buf_reset(&line);
                if (it->pinned)
                        r = gv_buf_adds(&line, " [pinned]");
                if (r == GV_OK && it->status == GV_ITEM_POSTPONED) {
                        r = gv_store_postponed_get(s, it->id, &pser, &pocc, &why);
                        if (r == GV_OK)
                                r = gv_buf_printf(&line, " [postponed: %s]", why);
                        else if (r == GV_ENOTFOUND)
                                r = gv_buf_adds(&line, " [postponed]");
                        free(pser);
                        free(why);
                }
                if (r == GV_OK && it->event_id)
                        r = gv_permalink(&link, it->room, it->event_id);
                /* text: "N. description [flags] - link (reporter R; cc M)" */
                if (r == GV_OK)
                        r = gv_buf_printf(&t, "\n%zu. %s%s", i + 1, it->description,
                                          gv_buf_str(&line));
                if (r == GV_OK && link.len)
                        r = gv_buf_printf(&t, " - %s", gv_buf_str(&link));
                /* html: the description links to the item's message */
                if (r == GV_OK)
                        r = gv_buf_adds(&h, "\n<li>");
                if (r == GV_OK && link.len) {
                        r = gv_buf_adds(&h, "<a href=\"");
                        if (r == GV_OK)
                                r = gv_html_escape(&h, gv_buf_str(&link));
                        if (r == GV_OK)
                                r = gv_buf_adds(&h, "\">");
                }
                if (r == GV_OK)
                        r = gv_html_escape(&h, it->description);
                if (r == GV_OK && link.len)
                        r = gv_buf_adds(&h, "</a>");
                if (r == GV_OK && line.len) {
                        r = gv_buf_adds(&h, " <i>");
                        if (r == GV_OK)
                                r = gv_html_escape(&h, gv_buf_str(&line) + 1);
                        if (r == GV_OK)
                                r = gv_buf_adds(&h, "</i>");
                }
                gv_buf_free(&link);
                gv_buf_reset(&line);
                if (r == GV_OK)
                        r = gv_buf_printf(&line, " (reporter %s", it->reporter);
                if (r == GV_OK && it->mentions[0])
                        r = gv_buf_printf(&line, "; cc %s", it->mentions);
                if (r == GV_OK)
                        r = gv_buf_adds(&line, ")");
                if (r == GV_OK)
                        r = gv_buf_adds(&t, gv_buf_str(&line));
                if (r == GV_OK)
                        r = text_html(gv_buf_str(&line), pings, n_pings, &h);
                if (r == GV_OK)
                        r = gv_buf_adds(&h, "</li>");
        }
        if (r == GV_OK && n) {
                gv_buf_reset(&line);
                for (size_t i = 0; i < n_pings && r == GV_OK; i++)
                        r = gv_buf_printf(&line, "%s%s", i ? " " : "", pings[i]);
                if (r == GV_OK)
                        r = gv_buf_adds(&line, n_pings ? ": can" : "Can");
                if (r == GV_OK)
                        r = gv_buf_adds(&line, " you make it? React \u2705 or \u274c to this "
                                               "message, or say !canmake / !cantmake (!cantmake "
                                               "N for item N only).");
                if (r == GV_OK)
                        r = gv_buf_printf(&t, "\n%s", gv_buf_str(&line));
                if (r == GV_OK)
                        r = gv_buf_adds(&h, "\n</ol>\n<p>");
                if (r == GV_OK)
                        r = text_html(gv_buf_str(&line), pings, n_pings, &h);
                if (r == GV_OK)
                        r = gv_buf_adds(&h, "</p>");
        }
        if (r == GV_OK)
                r = room_target(s, release_room_of(sc), &room);
        if (r == GV_OK)
                r = queue_release(x, room, gv_buf_str(&t), gv_buf_str(&h), pings, n_pings, &row);
        if (r == GV_OK)
                r = gv_store_release_add(s, row, sc->name, occ, room, x->ev->ts);
        if (r == GV_OK)
                gv_info("series", "%s: released the agenda of %s%s", sc->name, when,
                        late_due ? " (late)" : "");
out:
        for (size_t i = 0; words && i < n; i++)
                free(words[i]);
        free(words);
        free(room);
        gv_items_free(items, n);
        gv_buf_free(&t);
        gv_buf_free(&h);
        gv_buf_free(&line);
        return r;
}

static enum gv_err do_remind(struct ctx *x, const struct gv_series_cfg *sc, int64_t occ,
                             int64_t late_due)
{
        struct gv_buf t = GV_BUF_INIT(1 << 16);
        char when[128], hm[8], *room = NULL;
        int64_t left = (occ - x->ev->ts + 59999) / 60000;
        enum gv_err r = GV_OK;

        occ_text(sc, occ, when, sizeof(when));
        if (late_due) {
                utc_hm(late_due, hm);
                r = gv_buf_printf(&t, "(late: due %s UTC) ", hm);
        }
        if (r == GV_OK && left > 0)
                r = gv_buf_printf(&t, "Reminder: %s starts in %lld minute%s, %s. ", sc->name,
                                  (long long)left, left == 1 ? "" : "s", when);
        else if (r == GV_OK)
                r = gv_buf_printf(&t, "Reminder: %s starts now, %s. ", sc->name, when);
        if (r == GV_OK)
                r = gv_buf_adds(&t, "A chair starts it with #startmeeting.");
        if (r == GV_OK)
                r = room_target(x->c->s, sc->room, &room);
        if (r == GV_OK)
                r = queue_message(x, room, gv_buf_str(&t), NULL, false, NULL, 0);
        free(room);
        gv_buf_free(&t);
        return r;
}

/* One timer of occ, due at due (<= now): done, done late or skipped, and
 * recorded so; nothing when recorded already. */
static enum gv_err fire(struct ctx *x, const struct gv_series_cfg *sc, int64_t occ,
                        enum gv_timer_kind k, int64_t due)
{
        struct gv_store *s = x->c->s;
        int64_t now = x->ev->ts;
        int64_t rel = before_ms(sc, GV_TIMER_RELEASE), rem = before_ms(sc, GV_TIMER_REMIND);
        bool recorded = false, late = now - due > SERIES_LATE_MS, started = false;
        enum gv_timer_state state = late ? GV_TIMER_LATE : GV_TIMER_DONE;
        char *id = NULL;
        enum gv_err r;

        r = gv_store_timer_get(s, sc->name, occ, k, &recorded, NULL);
        if (r || recorded)
                return r;
        if (late) {
                if (sc->room[0] == '#') {
                        r = gv_store_alias_get(s, sc->room, &id);
                        if (r && r != GV_ENOTFOUND)
                                return r;
                }
                /* the occurrence's meeting: one started since its first timer was due */
                r = gv_store_meeting_started_since(s, sc->room, id, occ - (rel > rem ? rel : rem),
                                                   &started);
                free(id);
                if (r)
                        return r;
                if (started || now >= occ + SERIES_GRACE_MS) {
                        char hm[8];

                        utc_hm(due, hm);
                        gv_info("series", "%s: the %s due %s UTC skipped (%s)", sc->name,
                                k == GV_TIMER_RELEASE ? "release" : "reminder", hm,
                                started ? "the meeting has begun" : "too late");
                        return gv_store_timer_set(s, sc->name, occ, k, GV_TIMER_SKIPPED, due, now,
                                                  NULL);
                }
        }
        if (k == GV_TIMER_RELEASE)
                r = do_release(x, sc, occ, late ? due : 0);
        else
                r = do_remind(x, sc, occ, late ? due : 0);
        if (r && !gv_fatal(r)) {
                /* it cannot be built (an agenda over the message ceiling):
                 * trying again on every turn of the loop would not help */
                char when[128];

                occ_text(sc, occ, when, sizeof(when));
                gv_warn("series", "%s: the %s of %s cannot be sent: %s; skipped", sc->name,
                        k == GV_TIMER_RELEASE ? "release" : "reminder", when, gv_strerror(r));
                state = GV_TIMER_SKIPPED;
                r = GV_OK;
        }
        if (r == GV_OK)
                r = gv_store_timer_set(s, sc->name, occ, k, state, due, now, NULL);
        return r;
}

/* Calls fn for each timer of the series' occurrences in the window: from
 * the first occurrence not started SERIES_GRACE_MS ago to the last whose
 * earliest timer is due by `until`. */
static enum gv_err each_timer(struct gv_core *c, const struct gv_series_cfg *sc, int64_t now,
                              int64_t until,
                              enum gv_err (*fn)(void *ud, const struct gv_series_cfg *sc,
                                                int64_t occ, enum gv_timer_kind k, int64_t due),
                              void *ud)
{
        int64_t rel = before_ms(sc, GV_TIMER_RELEASE), rem = before_ms(sc, GV_TIMER_REMIND);
        int64_t maxb = rel > rem ? rel : rem, after = now - SERIES_GRACE_MS, occ = 0;
        enum gv_err r = GV_OK;

        (void)c;
        if (!sc->recur || !sc->name || !sc->room || (!rel && !rem))
                return GV_OK;
        for (int i = 0; i < SERIES_SCAN_MAX && r == GV_OK; i++) {
                r = gv_recur_next(sc->recur, after, &occ);
                if (r == GV_ENOTFOUND)
                        return GV_OK;
                if (r || occ - maxb > until)
                        break;
                after = occ;
                if (rel && occ - rel <= until)
                        r = fn(ud, sc, occ, GV_TIMER_RELEASE, occ - rel);
                if (r == GV_OK && rem && occ - rem <= until)
                        r = fn(ud, sc, occ, GV_TIMER_REMIND, occ - rem);
        }
        return r;
}

static enum gv_err fire_cb(void *ud, const struct gv_series_cfg *sc, int64_t occ,
                           enum gv_timer_kind k, int64_t due)
{
        return fire(ud, sc, occ, k, due);
}

enum gv_err gv_tick(struct gv_core *c, int64_t now_ms)
{
        const struct gv_config *cfg = c->cfg;
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < cfg->n_series && r == GV_OK; i++) {
                const struct gv_series_cfg *sc = &cfg->series[i];
                struct gv_event ev;
                struct ctx x;

                if (!sc->recur || !sc->room)
                        continue;
                memset(&ev, 0, sizeof(ev));
                ev.room = release_room_of(sc);
                ev.sender = cfg->bot_name;
                ev.event_id = "";
                ev.ts = now_ms;
                ctx_init(&x, c, &ev);
                r = each_timer(c, sc, now_ms, now_ms, fire_cb, &x);
                if (r == GV_OK)
                        r = flush_replies(&x);
                ctx_fini(&x);
        }
        if (r)
                cache_forget(c);
        if (r && !gv_fatal(r)) {
                gv_warn("series", "tick: %s", gv_strerror(r));
                r = GV_OK;
        }
        return r;
}

enum gv_err gv_next_due(struct gv_core *c, int64_t now_ms, int64_t *due_ms)
{
        const struct gv_config *cfg = c->cfg;
        int64_t best = INT64_MAX;
        enum gv_err r = GV_OK;

        /* the same occurrences as gv_tick() looks at, from the first not
         * started SERIES_GRACE_MS ago, as long as one could beat the best */
        for (size_t i = 0; i < cfg->n_series && r == GV_OK; i++) {
                const struct gv_series_cfg *sc = &cfg->series[i];
                int64_t rel = before_ms(sc, GV_TIMER_RELEASE), rem = before_ms(sc, GV_TIMER_REMIND);
                int64_t maxb = rel > rem ? rel : rem, after = now_ms - SERIES_GRACE_MS, occ = 0;

                if (!sc->recur || !sc->name || !sc->room || !maxb)
                        continue;
                for (int k = 0; k < SERIES_SCAN_MAX && r == GV_OK; k++) {
                        r = gv_recur_next(sc->recur, after, &occ);
                        if (r == GV_ENOTFOUND) {
                                r = GV_OK;
                                break;
                        }
                        if (r || occ - maxb >= best)
                                break;
                        after = occ;
                        for (int kind = GV_TIMER_RELEASE; kind <= GV_TIMER_REMIND && r == GV_OK;
                             kind++) {
                                int64_t b = before_ms(sc, (enum gv_timer_kind)kind);
                                bool recorded = false;

                                if (!b || occ - b >= best)
                                        continue;
                                r = gv_store_timer_get(c->s, sc->name, occ,
                                                       (enum gv_timer_kind)kind, &recorded, NULL);
                                if (r == GV_OK && !recorded)
                                        best = occ - b;
                        }
                }
        }
        *due_ms = best;
        return r;
}

/* ---- commands ---- */

/* The series meeting in the event's room (its room or its release room):
 * one named at the head of *args (which then moves past the name), else
 * the one whose next occurrence is soonest. *sc NULL when none (replied). */
static enum gv_err pick_series(struct ctx *x, char **args, const struct gv_series_cfg **out,
                               int64_t *occ)
{
        const struct gv_config *cfg = x->c->cfg;
        const struct gv_series_cfg *best = NULL, *named_sc = NULL;
        int64_t best_occ = INT64_MAX, named_occ = 0;
        size_t n_here = 0, named_len = 0;
        enum gv_err r;

        *out = NULL;
        for (size_t i = 0; i < cfg->n_series; i++) {
                const struct gv_series_cfg *sc = &cfg->series[i];
                bool here = false, named = false;
                size_t len = sc->name ? strlen(sc->name) : 0;
                int64_t o = 0;

                if (!sc->recur || !sc->name)
                        continue;
                r = room_is(x->c->s, sc->room, x->ev->room, &here);
                if (r == GV_OK && !here)
                        r = room_is(x->c->s, release_room_of(sc), x->ev->room, &here);
                if (r)
                        return r;
                if (!here)
                        continue;
                n_here++;
                named = args && len && strncasecmp(*args, sc->name, len) == 0 &&
                        ((*args)[len] == '\0' || (*args)[len] == ' ');
                r = gv_recur_next(sc->recur, x->ev->ts, &o);
                if (r == GV_ENOTFOUND)
                        continue;
                if (r)
                        return r;
                if (named && len > named_len) {        /* the longest name given */
                        named_sc = sc;
                        named_occ = o;
                        named_len = len;
                }
                if (o < best_occ) {
                        best = sc;
                        best_occ = o;
                }
        }
        if (named_sc) {
                best = named_sc;
                best_occ = named_occ;
                *args += named_len;
                while (**args == ' ')
                        (*args)++;
        }
        if (!best)
                return reply(x, n_here ? "This room's meeting series meets no more (its rule "
                                         "has ended)." :
                                         "No meeting series meets in this room (see \"series\" "
                                         "in the config).");
        *out = best;
        *occ = best_occ;
        return GV_OK;
}

enum gv_err cmd_next(struct ctx *x, const struct cmd *c, char *args)
{
        const struct gv_config *cfg = x->c->cfg;
        const struct gv_series_cfg *sc = NULL;
        struct gv_buf t = GV_BUF_INIT(1 << 16);
        char when[128];
        int64_t occ = 0;
        size_t shown = 0;
        enum gv_err r;

        (void)c;
        if (*args) {
                char *a = args;

                r = pick_series(x, &a, &sc, &occ);
                if (r || !sc)
                        return r;
                if (a == args)
                        return replyf(x, "No series named '%s' meets in this room.", ech(x, args));
                occ_text(sc, occ, when, sizeof(when));
                return replyf(x, "Next %s: %s", sc->name, when);
        }
        for (size_t i = 0; i < cfg->n_series; i++) {
                bool here = false;

                sc = &cfg->series[i];
                if (!sc->recur || !sc->name)
                        continue;
                r = room_is(x->c->s, sc->room, x->ev->room, &here);
                if (r == GV_OK && !here)
                        r = room_is(x->c->s, release_room_of(sc), x->ev->room, &here);
                if (r)
                        goto out;
                if (!here)
                        continue;
                r = gv_recur_next(sc->recur, x->ev->ts, &occ);
                if (r == GV_ENOTFOUND) {
                        r = gv_buf_printf(&t, "%s%s meets no more.", shown++ ? "\n" : "",
                                          sc->name);
                } else if (r == GV_OK) {
                        occ_text(sc, occ, when, sizeof(when));
                        r = gv_buf_printf(&t, "%sNext %s: %s", shown++ ? "\n" : "", sc->name,
                                          when);
                }
                if (r)
                        goto out;
        }
        r = shown ? reply(x, gv_buf_str(&t)) :
                    reply(x, "No meeting series meets in this room (see \"series\" in the config).");
out:
        gv_buf_free(&t);
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
        r = gv_store_agenda(x->c->s, agenda_of(x->c->cfg, sc), &items, &n);
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

                if (!sc->recur || !sc->name || strcmp(agenda_of(cfg, sc), agenda) != 0)
                        continue;
                r = room_is(x->c->s, sc->room, x->ev->room, &here);
                if (r == GV_OK && !here)
                        r = room_is(x->c->s, release_room_of(sc), x->ev->room, &here);
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
                occ_text(sc, occ, when, sizeof(when));
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
        r = gv_store_agenda(x->c->s, agenda_of(x->c->cfg, sc), &items, &n);
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
                                   (unsigned long long)num, agenda_of(x->c->cfg, sc), n,
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
                r = reconsider(x, sc, occ, changes);
        return r;
}

static enum gv_err cmd_answer(struct ctx *x, char *args, bool coming)
{
        const struct gv_series_cfg *sc = NULL;
        struct gv_buf t = GV_BUF_INIT(1 << 16);
        int64_t occ = 0, *ids = NULL;
        size_t n_ids = 0;
        char when[128];
        enum gv_err r;

        r = pick_series(x, &args, &sc, &occ);
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
        occ_text(sc, occ, when, sizeof(when));
        if (coming)
                r = gv_buf_printf(&t, "Noted: %s comes to %s, %s.", x->ev->sender, sc->name, when);
        else if (n_ids) {
                r = gv_buf_printf(&t, "Noted: %s can't make item%s", x->ev->sender,
                                  n_ids == 1 ? "" : "s");
                for (size_t i = 0; i < n_ids && r == GV_OK; i++) {
                        size_t index = 0;

                        r = agenda_index_of(x, agenda_of(x->c->cfg, sc), ids[i], &index);
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
                struct gv_buf changes = GV_BUF_INIT(1 << 16);

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

enum gv_err series_release_cmd(struct ctx *x, char *args)
{
        const struct gv_series_cfg *sc = NULL;
        char *room = NULL;
        int64_t occ = 0;
        enum gv_err r;

        r = pick_series(x, &args, &sc, &occ);
        if (r || !sc)
                return r;
        if (*args)
                return replyf(x, "Usage: !agenda release [series]: '%s' names no series of this "
                                 "room.", ech(x, args));
        r = do_release(x, sc, occ, 0);
        /* the timer's release of that occurrence is done now */
        if (r == GV_OK)
                r = gv_store_timer_set(x->c->s, sc->name, occ, GV_TIMER_RELEASE, GV_TIMER_DONE,
                                       occ - before_ms(sc, GV_TIMER_RELEASE), x->ev->ts, NULL);
        if (r == GV_OK)
                r = room_target(x->c->s, release_room_of(sc), &room);
        if (r == GV_OK && strcmp(room, x->ev->room) != 0)
                r = replyf(x, "Released the %s agenda to %s.", sc->name, release_room_of(sc));
        free(room);
        return r;
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

static const struct gv_series_cfg *series_named(const struct gv_config *cfg, const char *name)
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
        struct gv_buf changes = GV_BUF_INIT(1 << 16);
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
        struct gv_buf changes = GV_BUF_INIT(1 << 16);
        char *name = NULL;
        int64_t occ = 0;
        enum gv_err r;

        r = gv_store_attend_del_event(x->c->s, x->ev->redacts, &name, &occ);
        if (r || !name)
                return r;
        sc = series_named(x->c->cfg, name);
        free(name);
        if (sc && occ > x->ev->ts)
                r = reconsider(x, sc, occ, &changes);
        if (r == GV_OK)
                r = announce(x, &changes);
        gv_buf_free(&changes);
        return r;
}
