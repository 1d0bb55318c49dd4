/* handlers/meeting.c - the MeetBot commands: #startmeeting, #endmeeting,
 * #topic, #chair, #unchair, #undo, #meetingname, #nick. The note commands
 * (#info, #action, ...) are table rows in commands.c over note_item(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/text.h"
#include "internal.h"
#include "minutes.h"

enum gv_err cmd_startmeeting(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_meeting m;
        struct gv_item *items = NULL;
        size_t n = 0;
        char when[32];
        int64_t id;
        enum gv_err r;

        (void)c;
        if (x->in_meeting)
                return replyf(x, "A meeting is already running here (%s, started by %s); "
                                 "#endmeeting ends it.", ech(x, x->m.name), x->m.starter);
        memset(&m, 0, sizeof(m));
        m.room = (char *)x->ev->room;
        m.name = *args ? args : x->c->cfg->meeting_label;
        m.agenda = (char *)gv_config_agenda_for_room(x->c->cfg, x->ev->room);
        m.starter = x->nick;
        m.started = x->ev->ts;
        r = gv_store_meeting_start(x->c->s, &m, &id);
        if (r == GV_OK)
                r = gv_store_chair_set(x->c->s, id, x->nick, true);
        if (r == GV_OK)
                r = ctx_load_meeting(x);
        if (r == GV_OK)
                r = gv_store_agenda(x->c->s, x->m.agenda, &items, &n);
        if (r)
                return r;
        gv_items_free(items, n);
        gv_fmt_ctime(x->ev->ts, when);
        return replyf(x, "Meeting started %s UTC. The chair is %s.\n"
                         "Useful commands: #action #agreed #help #info #idea #link #topic.\n"
                         "The meeting name has been set to '%s'.\n"
                         "The %s agenda has %zu item%s: !agenda lists them, !agenda take N starts one.",
                      when, x->nick, ech(x, x->m.name), x->m.agenda, n, n == 1 ? "" : "s");
}

/* The minutes go out as outbox rows that name the meeting; the text is
 * rendered from the store when each row is delivered (see minutes.h). */
enum gv_err cmd_endmeeting(struct ctx *x, const struct cmd *c, char *args)
{
        static const enum gv_minutes_fmt files[] = {
                GV_MIN_TEXT, GV_MIN_HTML_PAGE, GV_MIN_LOG_TEXT, GV_MIN_LOG_HTML, GV_MIN_MARKDOWN,
        };
        char base[96], date[16], name[128], header[512];
        enum gv_err r;

        (void)c;
        (void)args;
        r = gv_store_meeting_end(x->c->s, x->m.id, x->ev->ts);
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
        gv_minutes_basename(x->m.name, x->m.started, base);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && r == GV_OK; i++) {
                const char *fmt = gv_minutes_format_name(files[i]);

                snprintf(name, sizeof(name), "%s.%s", base, fmt);
                r = queue_minutes(x, GV_OUT_FILE, name, fmt, NULL);
        }
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

static enum gv_err split_nicks(struct ctx *x, char *args, bool chair)
{
        struct gv_buf b = GV_BUF_INIT(1 << 16);
        enum gv_err r = GV_OK;
        char *save = NULL;

        for (char *w = strtok_r(args, " ,", &save); w && r == GV_OK; w = strtok_r(NULL, " ,", &save)) {
                char nick[128];

                gv_nick_of(w, nick, sizeof(nick));
                if (!chair && gv_ieq(nick, x->m.starter)) {
                        r = replyf(x, "%s started the meeting and stays a chair.", x->m.starter);
                        continue;
                }
                r = gv_store_chair_set(x->c->s, x->m.id, nick, chair);
        }
        if (r == GV_OK)
                r = chairs_text(x, &b);
        if (r == GV_OK)
                r = replyf(x, "Current chairs: %s", gv_buf_str(&b));
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
                        r = gv_store_item_set_discussed(x->c->s, it.agenda_item, 0);
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
