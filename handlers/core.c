/* handlers/core.c - gv_handle(): one event claimed, then read line by line:
 * logged, run as a command (commands.c) or read as a tag; edits and
 * redactions go to edits.c. */
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "../util/text.h"
#include "handlers.h"
#include "internal.h"

enum gv_err gv_core_new(struct gv_store *s, const struct gv_config *cfg, struct gv_core **ret)
{
        struct gv_core *c = calloc(1, sizeof(*c));

        if (!c)
                return GV_ENOMEM;
        c->s = s;
        c->cfg = cfg;
        *ret = c;
        return GV_OK;
}

void gv_core_fresh_ids(struct gv_core *c)
{
        c->fresh_ids = true;
}

struct gv_core *gv_core_free(struct gv_core *c)
{
        if (c) {
                cache_forget(c);
                people_forget(c);
        }
        free(c);
        return NULL;
}

static bool own_event(const struct gv_core *c, const struct gv_event *ev)
{
        const char *uid = c->cfg->user_id;

        if (uid && *uid && strcmp(ev->sender, uid) == 0)
                return true;
        return strcmp(ev->sender, c->cfg->bot_name) == 0;
}

static enum gv_err log_line(struct ctx *x, const char *line, size_t len, bool action)
{
        char *t;
        enum gv_err r;

        if (len == 0)
                return GV_OK;
        if (line[len] == '\0')         /* the message's last line (most): as it is */
                return gv_store_line_add_from(x->c->s, x->m.id, meeting_ts(x), x->nick, line,
                                              action, x->ev->event_id, x->ev->sender);
        t = strndup(line, len);
        if (!t)
                return GV_ENOMEM;
        r = gv_store_line_add_from(x->c->s, x->m.id, meeting_ts(x), x->nick, t, action,
                                   x->ev->event_id, x->ev->sender);
        free(t);
        return r;
}

static enum gv_err handle_tag(struct ctx *x, const char *line, size_t len)
{
        struct gv_tagged t;
        struct gv_item it;
        struct gv_buf mentions = GV_BUF_INIT(16384);
        int64_t id;
        size_t index = 0;
        enum gv_err r;

        memset(&t, 0, sizeof(t));
        r = gv_parse_tag(x->c->cfg, line, len, &t);
        if (r == GV_ENOTFOUND)
                return GV_OK;
        if (r == GV_ETOOBIG)
                return replyf(x, "That agenda item is too long: the first line may hold at most "
                                 "%d bytes.", GV_MAX_DESCRIPTION);
        if (r)
                return r;
        if (!t.description[0]) {
                r = replyf(x, "An agenda item needs a description: #%s <what to discuss> cc @people",
                           tag_for_agenda(x->c->cfg, t.agenda));
                goto out;
        }
        r = tag_mentions(x, &t, &mentions);
        if (r)
                goto out;
        memset(&it, 0, sizeof(it));
        it.agenda = (char *)t.agenda;
        it.description = t.description;
        it.reporter = (char *)x->ev->sender;
        it.mentions = (char *)gv_buf_str(&mentions);
        it.room = (char *)x->ev->room;
        it.event_id = (char *)x->ev->event_id;
        it.created = x->ev->ts;
        r = gv_store_item_add(x->c->s, &it, &id);
        if (r)
                goto out;
        r = agenda_index_of(x, t.agenda, id, &index);
        if (r == GV_OK)
                r = queue_hooks(x, GV_HOOK_ITEM_ADDED, 0, id);
        if (r)
                goto out;
        switch (x->c->cfg->ack) {
        case GV_ACK_REACTION:
                r = queue_reaction(x, x->c->cfg->ack_reaction);
                break;
        case GV_ACK_NOTICE:
                r = replyf(x, "Added to the %s agenda as item %zu: %s", t.agenda, index,
                           ech(x, t.description));
                break;
        case GV_ACK_NONE:
                break;
        }
out:
        gv_buf_free(&mentions);
        gv_tagged_clear(&t);
        return r;
}

/* The lines of [from, to) logged one by one, as said. */
static enum gv_err log_lines(struct ctx *x, const char *from, const char *to)
{
        enum gv_err r = GV_OK;

        for (const char *p = from; p < to && r == GV_OK;) {
                const char *nl = memchr(p, '\n', (size_t)(to - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(to - p);

                r = log_line(x, p, len, false);
                p += len + 1;
        }
        return r;
}

/* One line of the message at [line, line + len), the message ending at end;
 * *next is where the line after it (or after the lines a command took as
 * its text, see command_body) starts. */
static enum gv_err handle_line(struct ctx *x, const char *line, size_t len, bool first,
                               const char *end, const char **next)
{
        struct gv_cmdline cl;
        bool before = x->in_meeting;
        enum gv_err r = GV_OK;

        *next = line + len + 1;
        if (before) {
                r = log_line(x, line, len, false);
                if (r)
                        return r;
        }
        /* A known command wins; "#architecture ..." is a tag, not a command. */
        if (command_line(x->c->cfg, line, len, first, &cl)) {
                const char *last = command_body(x->c->cfg, &cl, line, len, end);

                *next = last + 1;
                if (before && last > line + len) {
                        r = log_lines(x, line + len + 1, last);
                        if (r)
                                return r;
                }
                if (!command_counts(&cl))
                        r = GV_OK;      /* a #hashtag: not a command, no reply */
                else if (x->n_commands >= GV_MAX_COMMANDS_PER_MESSAGE)
                        x->n_ignored++;
                else {
                        x->n_commands++;
                        r = run_command(x, &cl);
                }
        } else {
                if (first)
                        r = handle_tag(x, line, len);
                if (r == GV_OK && x->in_meeting && gv_is_link_line(line, len))
                        r = note_item(x, GV_M_LINK, line, len);
        }
        if (gv_fatal(r))
                return r;
        if (!before && x->in_meeting)
                r = log_line(x, line, len, false);
        return gv_fatal(r) ? r : GV_OK;
}

static bool starts_with_prefix(const struct gv_config *cfg, const char *s, size_t n)
{
        while (n && (*s == ' ' || *s == '\t')) {
                s++;
                n--;
        }
        return n && gv_config_is_prefix(cfg, *s);
}

static enum gv_err handle_inner(struct ctx *x)
{
        const struct gv_event *ev = x->ev;
        const struct gv_config *cfg = x->c->cfg;
        size_t max = (size_t)cfg->max_message_bytes;
        struct gv_buf clean = GV_BUF_INIT(max * 3 + 16);
        const char *body, *p;
        size_t n;
        enum gv_err r;

        if (own_event(x->c, ev))
                return GV_OK;
        if (ev->redacts)
                return handle_redaction(x);
        if (ev->reaction_key)
                return series_reaction(x);
        if (ev->msgtype && strcmp(ev->msgtype, "m.notice") == 0)
                return GV_OK;
        gv_nick_of(ev->sender, x->nick, sizeof(x->nick));
        if (ev->replaces) {
                /* Never new commands or a new tag: only what the original made changes. */
                if (ev->body_len > max) {
                        gv_debug("handlers", "edit %s: %zu bytes, over the limit: ignored",
                                 ev->event_id, ev->body_len);
                        return GV_OK;
                }
                r = gv_utf8_clean(&clean, ev->body ? ev->body : "", ev->body_len);
                if (r == GV_OK) {
                        body = gv_strip_reply_fallback(gv_buf_str(&clean), clean.len, &n);
                        r = handle_edit(x, body, n);
                }
                goto out;
        }
        r = ctx_load_meeting(x);
        if (r == GV_OK)
                r = ctx_person(x);
        if (r)
                return r;
        if (ev->redacted) {
                /* redacted before we saw it: said, but nothing of it is kept */
                if (x->in_meeting) {
                        r = log_line(x, "-", 1, false);
                        if (r == GV_OK)
                                r = gv_store_lines_redact(x->c->s, ev->room, ev->event_id, &n);
                }
                goto out;
        }
        if (ev->body_len > max) {
                if (x->in_meeting) {
                        r = gv_utf8_clean(&clean, ev->body, max);
                        if (r == GV_OK)
                                r = gv_buf_adds(&clean, "...");
                        if (r == GV_OK)
                                r = log_line(x, clean.p, clean.len, false);
                }
                if (r == GV_OK && starts_with_prefix(cfg, ev->body, ev->body_len))
                        r = replyf(x, "That message is %zu bytes, over the %zu-byte limit; "
                                      "nothing in it was done.", ev->body_len, max);
                goto out;
        }
        r = gv_utf8_clean(&clean, ev->body ? ev->body : "", ev->body_len);
        if (r)
                goto out;
        body = gv_strip_reply_fallback(gv_buf_str(&clean), clean.len, &n);
        if (ev->msgtype && strcmp(ev->msgtype, "m.emote") == 0) {
                if (x->in_meeting)
                        r = log_line(x, body, n, true);
                goto out;
        }
        for (p = body; p < body + n && r == GV_OK;) {
                const char *nl = memchr(p, '\n', (size_t)(body + n - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(body + n - p);

                r = handle_line(x, p, len, p == body, body + n, &p);
        }
        if (r == GV_OK && x->n_ignored)
                r = replyf(x, "%u more command%s in this message %s ignored: at most %d are run "
                              "per message.", x->n_ignored, x->n_ignored == 1 ? "" : "s",
                           x->n_ignored == 1 ? "was" : "were", GV_MAX_COMMANDS_PER_MESSAGE);
out:
        gv_buf_free(&clean);
        return r;
}

enum gv_err gv_handle(struct gv_core *c, const struct gv_event *ev)
{
        struct ctx x;
        bool fresh = false;
        enum gv_err r = GV_OK;

        if (!ev->event_id || !ev->room || !ev->sender || !*ev->event_id || !*ev->room ||
            !*ev->sender) {
                gv_warn("handlers", "event without ID, room or sender ignored");
                return GV_OK;
        }
        if (strlen(ev->sender) > GV_SENDER_MAX) {
                gv_warn("handlers", "event from a sender ID over %d bytes ignored", GV_SENDER_MAX);
                return GV_OK;
        }
        /* Claimed in the caller's transaction: a rollback un-claims it too. */
        if (c->fresh_ids)
                fresh = true;   /* new by construction (gv_core_fresh_ids) */
        else
                r = gv_store_event_claim(c->s, ev->event_id, ev->ts, &fresh);
        if (r || !fresh)
                return r;
        ctx_init(&x, c, ev);
        r = handle_inner(&x);
        if (!gv_fatal(r)) {
                enum gv_err f = flush_replies(&x);

                r = f ? f : r;
        }
        ctx_drop_meeting(&x);
        ctx_fini(&x);
        if (r) {
                cache_forget(c); /* the caller may roll back what it saw */
                people_forget(c);
        }
        if (gv_fatal(r))
                return r;
        if (r)
                gv_warn("handlers", "event %s: %s", ev->event_id, gv_strerror(r));
        return GV_OK;
}
