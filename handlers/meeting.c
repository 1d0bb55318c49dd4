/* handlers/meeting.c - the MeetBot commands: #startmeeting, #endmeeting,
 * #topic, #chair, #unchair, #undo, #meetingname, #nick. The note commands
 * (#info, #action, ...) are table rows in commands.c over note_item(). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/log.h"
#include "../util/text.h"
#include "internal.h"
#include "meetbot.h"
#include "minutes.h"
#include "standup.h"

#define MAX_NAME_TRIES 100000   /* archive file names one meeting may try */

enum gv_err cmd_startmeeting(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_meeting m;
        struct gv_item *items = NULL;
        const struct gv_series_cfg *se = NULL;
        const char *title = args;
        size_t n = 0;
        char when[32];
        int64_t id;
        enum gv_err r;

        (void)c;
        if (x->in_meeting)
                return replyf(x, "A meeting is already running here (%s, started by %s); "
                                 "#endmeeting ends it.", ech(x, x->m.name), x->m.starter);
        r = series_for_room(x, &se);
        if (r)
                return r;
        memset(&m, 0, sizeof(m));
        m.room = (char *)x->ev->room;
        m.name = *args ? args : x->c->cfg->meeting_label;
        m.agenda = (char *)gv_config_agenda_for_room(x->c->cfg, x->ev->room);
        if (se) {
                /* a series' room: its name, agenda and flavour; a name given
                 * is the meeting's title (MeetBot's topic line) */
                m.name = se->name;
                if (!*args)
                        title = se->name;
                if (se->agenda)
                        m.agenda = se->agenda;
        }
        m.starter = x->nick;
        m.starter_id = (char *)x->ev->sender;
        m.started = x->ev->ts;
        r = gv_store_meeting_start(x->c->s, &m, &id);
        if (r == GV_OK)
                r = gv_store_chair_set(x->c->s, id, x->ev->sender, true);
        if (r == GV_OK) /* MeetBot's meeting topic: the files' title (see meetbot.h) */
                r = gv_store_meeting_set_title(x->c->s, id, title);
        if (r == GV_OK && se)
                r = gv_store_meeting_set_series(x->c->s, id, se->name,
                                                gv_flavour_name(se->flavour));
        if (r == GV_OK)
                r = ctx_load_meeting(x);
        if (r == GV_OK)
                r = ctx_person(x);
        if (r == GV_OK)
                r = gv_store_agenda(x->c->s, x->m.agenda, &items, &n);
        if (r)
                return r;
        gv_items_free(items, n);
        gv_fmt_ctime(x->ev->ts, when);
        r = replyf(x, "Meeting started %s UTC. The chair is %s.\n"
                      "Useful commands: #action #agreed #help #info #idea #link #topic.\n"
                      "The meeting name has been set to '%s'.\n"
                      "The %s agenda has %zu item%s: !agenda lists them, !agenda take N starts one.",
                   when, x->nick, ech(x, x->m.name), x->m.agenda, n, n == 1 ? "" : "s");
        if (r == GV_OK && se && se->flavour == GV_FLAVOUR_STANDUP)
                r = reply(x, "This is a standup: !update <your update> (with the lines after it), "
                             "!question <who> <question>, !other <business>, !checkin <how you are>.");
        return r;
}

/* Does a meeting ended before names were reserved have the files of today's
 * name (the same file-safe name, started in the same minute)? */
struct legacy {
        const char *base;
        int64_t started;
        bool taken;
};

static void legacy_name(void *ud, const char *name)
{
        struct legacy *l = ud;
        char base[96];

        gv_minutes_basename(name, l->started, base);
        l->taken |= strcasecmp(base, l->base) == 0;   /* as the unique index compares */
}

/* minutes_filename's name, then with "-2", "-3", ... until one is free. */
static enum gv_err reserve_pattern_base(struct ctx *x, char base[GV_MINUTES_BASE_SIZE])
{
        char cf[256], nf[256], name[GV_MINUTES_BASE_SIZE - 8];
        char *title = NULL;
        bool reserved = false;
        enum gv_err r;

        r = gv_store_meeting_title(x->c->s, x->m.id, &title);
        if (r)
                return r;
        gv_meetbot_fields(x->c->cfg, &x->m, title, cf, nf);
        free(title);
        gv_meetbot_pattern(x->c->cfg->minutes_filename, cf, nf, x->m.started, true, name,
                           sizeof(name));
        if (!name[0])
                memcpy(name, "meeting", 8);
        else if (name[0] == '.')
                name[0] = '_';     /* never a hidden file */
        for (unsigned k = 1; r == GV_OK && !reserved; k++) {
                if (k > MAX_NAME_TRIES) {
                        gv_err_log("meeting", "no free archive file name for meeting %" PRId64
                                   " after %d tries", x->m.id, MAX_NAME_TRIES);
                        return GV_EINVAL;
                }
                if (k == 1)
                        snprintf(base, GV_MINUTES_BASE_SIZE, "%s", name);
                else
                        snprintf(base, GV_MINUTES_BASE_SIZE, "%s-%u", name, k);
                r = gv_store_meeting_reserve_file(x->c->s, x->m.id, base, &reserved);
        }
        return r;
}

static enum gv_err reserve_file_base(struct ctx *x, char base[GV_MINUTES_BASE_SIZE])
{
        int64_t minute = x->m.started / 60000 - (x->m.started % 60000 < 0);
        bool reserved = false;
        enum gv_err r = GV_OK;

        if (x->c->cfg->minutes_filename && x->c->cfg->minutes_filename[0])
                return reserve_pattern_base(x, base);
        /* The files' names are the meeting's alone: today's NAME.YYYY-MM-DD-HH.MM
         * when free, else with the room and seconds, then a -2, -3, ... */
        for (unsigned k = 0; r == GV_OK && !reserved; k++) {
                struct legacy l = { base, x->m.started, false };

                if (k > MAX_NAME_TRIES) {
                        gv_err_log("meeting", "no free archive file name for meeting %" PRId64
                                   " after %d tries", x->m.id, MAX_NAME_TRIES);
                        return GV_EINVAL;
                }
                gv_minutes_basename_try(x->m.name, x->m.room, x->m.started, k, base);
                if (k == 0) {
                        r = gv_store_meetings_unnamed(x->c->s, minute * 60000, minute * 60000 + 60000,
                                                      x->m.id, legacy_name, &l);
                        if (r || l.taken)
                                continue;
                }
                r = gv_store_meeting_reserve_file(x->c->s, x->m.id, base, &reserved);
        }
        return r;
}

/* The minutes go out as outbox rows that name the meeting; the text is
 * rendered from the store when each row is delivered (see minutes.h). */
enum gv_err cmd_endmeeting(struct ctx *x, const struct cmd *c, char *args)
{
        char base[GV_MINUTES_BASE_SIZE], date[16], name[GV_MINUTES_BASE_SIZE + 16], header[512];
        enum gv_err r;

        (void)c;
        (void)args;
        r = gv_store_meeting_end(x->c->s, x->m.id, meeting_ts(x));
        if (r == GV_OK)
                r = gv_store_agenda_close_meeting(x->c->s, x->m.agenda, x->m.id);
        if (r == GV_OK)
                r = queue_minutes(x, GV_OUT_MINUTES, x->ev->room, NULL, NULL);
        gv_fmt_human_date(x->m.started, date);
        snprintf(header, sizeof(header), "#meeting-notes for %s %s", date, ech(x, x->m.name));
        for (size_t i = 0; i < x->c->cfg->n_crosspost_rooms && r == GV_OK; i++) {
                const char *room = x->c->cfg->crosspost_rooms[i];

                if (strcmp(room, x->ev->room) != 0)
                        r = queue_minutes(x, GV_OUT_MINUTES, room, NULL, header);
        }
        if (r == GV_OK)
                r = reserve_file_base(x, base);
        for (size_t i = 0; i < GV_MINUTES_N_FILES && r == GV_OK; i++) {
                const char *fmt = gv_minutes_format_name(gv_minutes_files[i]);

                snprintf(name, sizeof(name), "%s.%s", base, fmt);
                r = queue_minutes(x, GV_OUT_FILE, name, fmt, NULL);
        }
        if (r == GV_OK)
                r = queue_publish(x);
        if (r)
                return r;
        ctx_drop_meeting(x);
        return GV_OK;
}

enum gv_err cmd_topic(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_item *items = NULL;
        size_t n = 0;
        enum gv_err r;
        const struct gv_item *match = NULL;

        (void)c;
        r = gv_store_agenda(x->c->s, x->m.agenda, &items, &n);
        if (r)
                return r;
        for (size_t i = 0; i < n && !match; i++)
                if (gv_ieq(items[i].description, args))
                        match = &items[i];
        r = start_topic(x, args, match);
        gv_items_free(items, n);
        return r;
}

/* ---- #chair and #unchair: whom a word names ---- */

#define MAX_PILLS 32
#define MAX_CHAIR_ARGS 32
#define MATRIX_TO "https://matrix.to/#/"

/* A pill of the formatted body: <a href="https://matrix.to/#/@id">text</a>. */
struct pill {
        char text[256];
        char id[GV_SENDER_MAX + 1];
};

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* The user ID a matrix.to link of n bytes names ("%40a%3Ab.org" decoded,
 * "?via=" dropped) into out; false when it names no user. */
static bool link_user(const char *p, size_t n, char *out, size_t cap)
{
        size_t k = 0;

        if (n < strlen(MATRIX_TO) || strncmp(p, MATRIX_TO, strlen(MATRIX_TO)) != 0)
                return false;
        p += strlen(MATRIX_TO);
        n -= strlen(MATRIX_TO);
        for (size_t i = 0; i < n && p[i] != '?'; i++) {
                char c = p[i];

                if (c == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
                        c = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
                        i += 2;
                }
                if (k + 1 >= cap || c == '\0')
                        return false;
                out[k++] = c;
        }
        out[k] = '\0';
        return is_matrix_user(out);
}

/* The text of an <a> element, tags dropped and the usual entities decoded. */
static void pill_text(const char *p, size_t n, char *out, size_t cap)
{
        static const struct { const char *ent; char c; } ents[] = {
                { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
                { "&#39;", '\'' }, { "&#x27;", '\'' },
        };
        size_t k = 0;
        bool in_tag = false;

        for (size_t i = 0; i < n && k + 1 < cap; i++) {
                bool done = false;

                if (p[i] == '<' || p[i] == '>') {
                        in_tag = p[i] == '<';
                        continue;
                }
                if (in_tag)
                        continue;
                for (size_t e = 0; e < sizeof(ents) / sizeof(ents[0]) && !done; e++) {
                        size_t l = strlen(ents[e].ent);

                        if (n - i >= l && strncmp(p + i, ents[e].ent, l) == 0) {
                                out[k++] = ents[e].c;
                                i += l - 1;
                                done = true;
                        }
                }
                if (!done)
                        out[k++] = p[i];
        }
        out[k] = '\0';
}

/* The pills of the event's formatted body (what a client shows as a name
 * and sends as a matrix.to link). */
static size_t find_pills(const char *html, struct pill *pills, size_t max)
{
        size_t n = 0;
        const char *p = html;

        while (p && n < max && (p = strstr(p, "<a "))) {
                const char *gt = strchr(p, '>'), *end, *href, *q;

                if (!gt)
                        break;
                end = strstr(gt, "</a>");
                if (!end)
                        break;
                /* only inside this tag: no quadratic scan of a hostile body */
                href = memmem(p, (size_t)(gt - p), "href=\"", 6);
                if (href) {
                        href += 6;
                        q = memchr(href, '"', (size_t)(gt - href));
                        if (q && link_user(href, (size_t)(q - href), pills[n].id,
                                           sizeof(pills[n].id))) {
                                pill_text(gt + 1, (size_t)(end - gt - 1), pills[n].text,
                                          sizeof(pills[n].text));
                                if (pills[n].text[0])
                                        n++;
                        }
                }
                p = end + 4;
        }
        return n;
}

struct named {
        char ids[4][GV_SENDER_MAX + 1];
        size_t n;
};

static void on_named(void *ud, const char *user_id)
{
        struct named *nm = ud;

        if (nm->n < 4)
                snprintf(nm->ids[nm->n], sizeof(nm->ids[0]), "%s", user_id);
        nm->n++;
}

/* The next person args names at *pp: a pill's text, a matrix.to link, a full
 * user ID, or a nick one joined member of the room has (localpart or display
 * name). *pp moves past it. Returns GV_OK with the ID, or GV_EINVAL after
 * appending why not to why; *pp is NULL at the end. */
static enum gv_err next_person(struct ctx *x, const char **pp, const struct pill *pills,
                               size_t n_pills, char *id, size_t cap, struct gv_buf *why)
{
        const char *p = *pp;
        struct named nm;
        char word[GV_SENDER_MAX + 1];
        const char *name;
        size_t len;
        enum gv_err r;

        while (*p == ' ' || *p == ',' || *p == '\t')
                p++;
        if (!*p) {
                *pp = NULL;
                return GV_OK;
        }
        for (size_t i = 0; i < n_pills; i++) {
                size_t l = strlen(pills[i].text);

                if (strncmp(p, pills[i].text, l) == 0 &&
                    (p[l] == '\0' || p[l] == ' ' || p[l] == ',' || p[l] == '\t' ||
                     p[l] == ':' || p[l] == '\n')) {
                        snprintf(id, cap, "%s", pills[i].id);
                        *pp = p + l + (p[l] == ':');    /* Element's "Name: " */
                        return GV_OK;
                }
        }
        len = strcspn(p, " ,\t\n");
        *pp = p + len;
        if (len >= sizeof(word)) {
                r = gv_buf_printf(why, "\n'%s' is too long to name anyone.", ech(x, p));
                return r ? r : GV_EINVAL;
        }
        memcpy(word, p, len);
        word[len] = '\0';
        if (link_user(word, len, id, cap))
                return GV_OK;
        if (is_matrix_user(word)) {
                snprintf(id, cap, "%s", word);
                return GV_OK;
        }
        name = word[0] == '@' && word[1] ? word + 1 : word;
        memset(&nm, 0, sizeof(nm));
        r = gv_store_members_named(x->c->s, x->ev->room, name, on_named, &nm);
        if (r)
                return r;
        if (nm.n == 1) {
                snprintf(id, cap, "%s", nm.ids[0]);
                return GV_OK;
        }
        if (nm.n == 0)
                r = gv_buf_printf(why, "\nNobody in this room goes by '%s'; name them by their "
                                       "Matrix ID (@name:server) or a pill.", ech(x, name));
        else
                r = gv_buf_printf(why, "\n'%s' is ambiguous here: %s, %s%s; name them by their "
                                       "Matrix ID.", ech(x, name), nm.ids[0], nm.ids[1],
                                  nm.n > 2 ? ", ..." : "");
        return r ? r : GV_EINVAL;
}

enum gv_err name_person(struct ctx *x, const char *s, char *id, size_t cap, const char **rest,
                        struct gv_buf *why)
{
        struct pill *pills = calloc(MAX_PILLS, sizeof(*pills));
        size_t n_pills = 0;
        const char *p = s;
        enum gv_err r;

        if (!pills)
                return GV_ENOMEM;
        if (x->ev->formatted_body)
                n_pills = find_pills(x->ev->formatted_body, pills, MAX_PILLS);
        r = next_person(x, &p, pills, n_pills, id, cap, why);
        free(pills);
        if (r == GV_OK && !p) {
                r = gv_buf_adds(why, "\nName whom: a pill, @name:server or a nick.");
                return r ? r : GV_EINVAL;
        }
        if (r == GV_OK)
                *rest = p;
        return r;
}

/* #chair / #unchair: every name is resolved first; if any names nobody (or
 * several people) the command changes nothing and says why. */
static enum gv_err split_nicks(struct ctx *x, char *args, bool chair)
{
        struct gv_buf b = GV_BUF_INIT(1 << 16), why = GV_BUF_INIT(1 << 14);
        struct pill *pills = NULL;
        char (*ids)[GV_SENDER_MAX + 1] = NULL;
        size_t n_pills = 0, n = 0;
        const char *p = args;
        enum gv_err r = GV_ENOMEM;

        pills = calloc(MAX_PILLS, sizeof(*pills));
        ids = calloc(MAX_CHAIR_ARGS, sizeof(*ids));
        if (!pills || !ids)
                goto out;
        if (x->ev->formatted_body)
                n_pills = find_pills(x->ev->formatted_body, pills, MAX_PILLS);
        r = GV_OK;
        while (p && r == GV_OK) {
                char id[GV_SENDER_MAX + 1];
                enum gv_err k = next_person(x, &p, pills, n_pills, id, sizeof(id), &why);

                if (k == GV_EINVAL)
                        continue;
                if (k) {
                        r = k;
                        break;
                }
                if (!p)
                        break;
                if (n == MAX_CHAIR_ARGS) {
                        r = replyf(x, "At most %d people at a time; nobody's chair changed.",
                                   MAX_CHAIR_ARGS);
                        goto out;
                }
                snprintf(ids[n++], sizeof(ids[0]), "%s", id);
        }
        if (r)
                goto out;
        if (why.len) {
                r = replyf(x, "Nobody's chair changed.%s", gv_buf_str(&why));
                goto out;
        }
        for (size_t i = 0; i < n && r == GV_OK; i++) {
                char nick[GV_NICK_BYTES], alt[GV_NICK_BYTES], *shown = NULL;

                if (!chair && strcmp(ids[i], x->m.starter_id) == 0) {
                        r = replyf(x, "%s started the meeting and stays a chair.", x->m.starter);
                        continue;
                }
                /* The person's nick in this meeting, fixed now if not yet. */
                gv_nick_of(ids[i], nick, sizeof(nick));
                snprintf(alt, sizeof(alt), is_matrix_user(ids[i]) ? "%s (%s)" : "%.0s%s", nick,
                         ids[i]);
                r = gv_store_person_nick(x->c->s, x->m.id, ids[i], nick, alt, &shown);
                free(shown);
                if (r == GV_OK)
                        r = gv_store_chair_set(x->c->s, x->m.id, ids[i], chair);
        }
        if (r == GV_OK)
                r = chairs_text(x, &b);
        if (r == GV_OK)
                r = replyf(x, "Current chairs: %s", gv_buf_str(&b));
out:
        free(pills);
        free(ids);
        gv_buf_free(&why);
        gv_buf_free(&b);
        return r;
}

enum gv_err cmd_chair(struct ctx *x, const struct cmd *c, char *args)
{
        (void)c;
        return split_nicks(x, args, true);
}

enum gv_err cmd_unchair(struct ctx *x, const struct cmd *c, char *args)
{
        (void)c;
        return split_nicks(x, args, false);
}

enum gv_err cmd_undo(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_mitem it;
        int64_t topic;
        enum gv_err r;

        (void)c;
        (void)args;
        r = gv_store_mitem_undo(x->c->s, x->m.id, &it);
        if (r == GV_ENOTFOUND)
                return reply(x, "Nothing to undo: no items have been noted yet.");
        if (r)
                return r;
        if (it.kind == GV_M_TOPIC) {
                r = gv_store_last_topic(x->c->s, x->m.id, &topic);
                if (r == GV_OK)
                        r = gv_store_meeting_set_topic(x->c->s, x->m.id, topic);
                if (r == GV_OK && it.agenda_item)
                        r = untake_item(x, x->m.id, it.agenda_item);
        }
        if (r == GV_OK)
                r = replyf(x, "Removed item from minutes: %s: %s", gv_mkind_label(it.kind),
                           ech(x, it.text));
        gv_mitem_clear(&it);
        return r;
}

enum gv_err cmd_meetingname(struct ctx *x, const struct cmd *c, char *args)
{
        enum gv_err r;

        (void)c;
        r = gv_store_meeting_set_name(x->c->s, x->m.id, args);
        if (r)
                return r;
        return replyf(x, "The meeting name has been set to '%s'.", ech(x, args));
}

enum gv_err cmd_nick(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_buf b = GV_BUF_INIT(1 << 16);
        enum gv_err r = GV_OK;
        char *save = NULL;

        (void)c;
        for (char *w = strtok_r(args, " ,", &save); w && r == GV_OK; w = strtok_r(NULL, " ,", &save)) {
                char nick[128];

                gv_nick_of(w, nick, sizeof(nick));
                r = gv_store_nick_add(x->c->s, x->m.id, nick);
        }
        if (r == GV_OK)
                r = gv_store_nicks(x->c->s, x->m.id, add_nick, &b);
        if (r == GV_OK)
                r = replyf(x, "Nicks added for action items: %s", gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}
