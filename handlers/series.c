/* handlers/series.c - meeting series (issue 10): the timers (the agenda
 * released release_before_min ahead of each occurrence, a reminder
 * remind_before_min ahead), !next and !agenda release; attendance is
 * attendance.c. No clock: gv_tick() gets now, commands use the event's
 * time. Every timer is recorded in the store in the caller's transaction,
 * with its outbox rows: none fires twice. */
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

const char *series_release_room(const struct gv_series_cfg *sc)
{
        return sc->release_room && *sc->release_room ? sc->release_room : sc->room;
}

const char *series_agenda_of(const struct gv_config *cfg, const struct gv_series_cfg *sc)
{
        return sc->agenda && *sc->agenda ? sc->agenda : gv_config_agenda_for_room(cfg, sc->room);
}

/* Is the configured room (an ID, an alias or a console room) the room of
 * an event? An alias matches the room ID it resolved to. */
enum gv_err series_room_is(struct gv_store *s, const char *cfg_room, const char *room, bool *yes)
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
void series_occ_text(const struct gv_series_cfg *sc, int64_t occ, char *buf, size_t n)
{
        char hm[8];
        size_t k = gv_recur_local(sc->recur, occ, buf, n);

        if (strcmp(gv_recur_tz(sc->recur), "UTC") == 0 || k + 14 >= n)
                return;
        utc_hm(occ, hm);
        snprintf(buf + k, n - k, " (%s UTC)", hm);
}

/* "Thu 15:00": the weekday and time of gv_recur_local(). */
void series_occ_short(const struct gv_series_cfg *sc, int64_t occ, char *buf, size_t n)
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

/* ---- the release and the reminder ---- */

static enum gv_err add_ping(const char **pings, size_t *n, const char *who)
{
        for (size_t i = 0; i < *n; i++)
                if (series_names_user(pings[i], who) || series_names_user(who, pings[i]))
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
        const char *agenda = series_agenda_of(x->c->cfg, sc);
        struct gv_buf t = GV_BUF_INIT(GV_REPLY_MAX_BODY);
        struct gv_buf h = GV_BUF_INIT(4 * (size_t)GV_REPLY_MAX_BODY);
        struct gv_buf line = GV_BUF_INIT(GV_REPLY_MAX_BODY);
        struct gv_item *items = NULL;
        const char *pings[GV_REPLY_MAX_MENTIONS];
        char **words = NULL, when[128], hm[8], *room = NULL;
        size_t n = 0, n_pings = 0;
        int64_t row = 0;
        enum gv_err r;

        r = series_reconsider(x, sc, occ, NULL);
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
        series_occ_text(sc, occ, when, sizeof(when));
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
                r = room_target(s, series_release_room(sc), &room);
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

        series_occ_text(sc, occ, when, sizeof(when));
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
                /* the occurrence's meeting: one of this series (or of none)
                 * started since its first timer was due */
                r = gv_store_meeting_started_since(s, sc->room, id, sc->name,
                                                   occ - (rel > rem ? rel : rem), &started);
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

                series_occ_text(sc, occ, when, sizeof(when));
                gv_warn("series", "%s: the %s of %s cannot be sent: %s; skipped", sc->name,
                        k == GV_TIMER_RELEASE ? "release" : "reminder", when, gv_strerror(r));
                state = GV_TIMER_SKIPPED;
                r = GV_OK;
        }
        if (r == GV_OK)
                r = gv_store_timer_set(s, sc->name, occ, k, state, due, now, NULL);
        return r;
}

/* Every timer of the series due by now (the event's time), in the window:
 * from the first occurrence not started SERIES_GRACE_MS ago to the last
 * whose earliest timer is due. gv_next_due() walks the same window. */
static enum gv_err tick_series(struct ctx *x, const struct gv_series_cfg *sc)
{
        int64_t rel = before_ms(sc, GV_TIMER_RELEASE), rem = before_ms(sc, GV_TIMER_REMIND);
        int64_t now = x->ev->ts, maxb = rel > rem ? rel : rem, after = now - SERIES_GRACE_MS;
        int64_t occ = 0;
        enum gv_err r = GV_OK;

        if (!sc->recur || !sc->name || !sc->room || !maxb)
                return GV_OK;
        for (int i = 0; i < SERIES_SCAN_MAX && r == GV_OK; i++) {
                r = gv_recur_next(sc->recur, after, &occ);
                if (r == GV_ENOTFOUND)
                        return GV_OK;
                if (r || occ - maxb > now)
                        break;
                after = occ;
                if (rel && occ - rel <= now)
                        r = fire(x, sc, occ, GV_TIMER_RELEASE, occ - rel);
                if (r == GV_OK && rem && occ - rem <= now)
                        r = fire(x, sc, occ, GV_TIMER_REMIND, occ - rem);
        }
        return r;
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
                ev.room = series_release_room(sc);
                ev.sender = cfg->bot_name;
                ev.event_id = "";
                ev.ts = now_ms;
                ctx_init(&x, c, &ev);
                r = tick_series(&x, sc);
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
enum gv_err series_pick(struct ctx *x, char **args, const struct gv_series_cfg **out,
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
                r = series_room_is(x->c->s, sc->room, x->ev->room, &here);
                if (r == GV_OK && !here)
                        r = series_room_is(x->c->s, series_release_room(sc), x->ev->room, &here);
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

                r = series_pick(x, &a, &sc, &occ);
                if (r || !sc)
                        return r;
                if (a == args)
                        return replyf(x, "No series named '%s' meets in this room.", ech(x, args));
                series_occ_text(sc, occ, when, sizeof(when));
                return replyf(x, "Next %s: %s", sc->name, when);
        }
        for (size_t i = 0; i < cfg->n_series; i++) {
                bool here = false;

                sc = &cfg->series[i];
                if (!sc->recur || !sc->name)
                        continue;
                r = series_room_is(x->c->s, sc->room, x->ev->room, &here);
                if (r == GV_OK && !here)
                        r = series_room_is(x->c->s, series_release_room(sc), x->ev->room, &here);
                if (r)
                        goto out;
                if (!here)
                        continue;
                r = gv_recur_next(sc->recur, x->ev->ts, &occ);
                if (r == GV_ENOTFOUND) {
                        r = gv_buf_printf(&t, "%s%s meets no more.", shown++ ? "\n" : "",
                                          sc->name);
                } else if (r == GV_OK) {
                        series_occ_text(sc, occ, when, sizeof(when));
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

enum gv_err series_release_cmd(struct ctx *x, char *args)
{
        const struct gv_series_cfg *sc = NULL;
        char *room = NULL;
        int64_t occ = 0;
        enum gv_err r;

        r = series_pick(x, &args, &sc, &occ);
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
                r = room_target(x->c->s, series_release_room(sc), &room);
        if (r == GV_OK && strcmp(room, x->ev->room) != 0)
                r = replyf(x, "Released the %s agenda to %s.", sc->name, series_release_room(sc));
        free(room);
        return r;
}

