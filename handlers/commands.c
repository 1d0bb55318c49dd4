/* handlers/commands.c - the one command table and its dispatch. The table
 * drives arity, "meeting running" and permission checks, !help, #commands
 * and gv_commands_describe(); what each command does lives in meeting.c,
 * agenda.c and votes.c (the note commands are note_item() with the row's
 * kind). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

enum {
        F_CHAIR = 1 << 0,       /* chairs only */
        F_MEETING = 1 << 1,     /* only while a meeting runs */
        F_ARG = 1 << 2,         /* needs an argument */
        F_BODY = 1 << 3,        /* the argument goes on over the next lines (command_body) */
};

struct cmd {
        const char *name;
        enum gv_err (*fn)(struct ctx *x, const struct cmd *c, char *args);
        unsigned flags;
        const char *usage;      /* after the command word */
        const char *help;
        enum gv_mkind kind;     /* for the note commands */
};

/* ---- commands that are rows of the table ---- */

static enum gv_err cmd_note(struct ctx *x, const struct cmd *c, char *args)
{
        return note_item(x, c->kind, args, strlen(args));
}

static enum gv_err cmd_help(struct ctx *x, const struct cmd *c, char *args);

static enum gv_err cmd_helpitem(struct ctx *x, const struct cmd *c, char *args)
{
        if (!*args || !x->in_meeting)
                return cmd_help(x, c, args);
        return note_item(x, GV_M_HELP, args, strlen(args));
}

static enum gv_err cmd_commands(struct ctx *x, const struct cmd *c, char *args);

static const struct cmd cmds[] = {
        { "startmeeting", cmd_startmeeting, 0, "[name]", "start a meeting in this room", 0 },
        { "endmeeting", cmd_endmeeting, F_CHAIR | F_MEETING, "", "end the meeting and post the minutes", 0 },
        { "topic", cmd_topic, F_CHAIR | F_MEETING | F_ARG, "<text>", "start a new topic (an agenda item's description takes it up)", 0 },
        { "info", cmd_note, F_MEETING | F_ARG, "<text>", "note information for the minutes", GV_M_INFO },
        { "action", cmd_note, F_MEETING | F_ARG, "<who> <what>", "record an action item", GV_M_ACTION },
        { "agreed", cmd_note, F_CHAIR | F_MEETING | F_ARG, "<text>", "record an agreement", GV_M_AGREED },
        { "accepted", cmd_note, F_CHAIR | F_MEETING | F_ARG, "<text>", "record something accepted", GV_M_ACCEPTED },
        { "rejected", cmd_note, F_CHAIR | F_MEETING | F_ARG, "<text>", "record something rejected", GV_M_REJECTED },
        { "idea", cmd_note, F_MEETING | F_ARG, "<text>", "record an idea", GV_M_IDEA },
        { "link", cmd_note, F_MEETING | F_ARG, "<url> [text]", "record a link (lines starting with a URL are links too)", GV_M_LINK },
        { "help", cmd_helpitem, 0, "[text]", "with text in a meeting: a call for help; else this list", GV_M_HELP },
        { "halp", cmd_note, F_MEETING | F_ARG, "<text>", "record a call for help", GV_M_HELP },
        { "chair", cmd_chair, F_CHAIR | F_MEETING | F_ARG, "<who> [who ...]", "make people chairs (who: @user:server, a pill, or a nick one member of the room has)", 0 },
        { "unchair", cmd_unchair, F_CHAIR | F_MEETING | F_ARG, "<who> [who ...]", "remove chairs", 0 },
        { "undo", cmd_undo, F_CHAIR | F_MEETING, "", "remove the last item from the minutes", 0 },
        { "meetingname", cmd_meetingname, F_CHAIR | F_MEETING | F_ARG, "<name>", "set the meeting's name", 0 },
        { "nick", cmd_nick, F_MEETING | F_ARG, "<nick> [nick ...]", "add people for action items", 0 },
        { "startvote", cmd_startvote, F_CHAIR | F_MEETING | F_ARG, "<question>? <a>, <b>, ...", "open a vote", 0 },
        { "vote", cmd_vote, F_MEETING | F_ARG, "<option>", "vote; only your last vote counts", 0 },
        { "endvote", cmd_endvote, F_CHAIR | F_MEETING, "", "close the vote and record the result", 0 },
        { "agenda", cmd_agenda, 0, "[add <text> | drop|pin|unpin|postpone|done|take N | move N M | release [series]]", "show or change this room's agenda", 0 },
        { "next", cmd_next, 0, "[series]", "when this room's meeting series meets next", 0 },
        { "canmake", cmd_canmake, 0, "[series]", "you come to the series' next meeting (takes back !cantmake)", 0 },
        { "cantmake", cmd_cantmake, 0, "[series] [N ...]", "you can't make the series' next meeting, or only its items N ...", 0 },
        { "commands", cmd_commands, 0, "", "list the commands", 0 },
        { "update", cmd_standup_note, F_MEETING | F_ARG | F_BODY, "<text>", "your standup update: "
          "this line and the ones after it (\"Last week:\" / \"This week:\" and \"* \" bullets, or free text)",
          GV_M_UPDATE },
        { "question", cmd_question, F_MEETING | F_ARG | F_BODY, "<who> <question>",
          "ask someone a question for the minutes (who: @user:server, a pill or a nick; pinged)",
          GV_M_QUESTION },
        { "other", cmd_standup_note, F_MEETING | F_ARG | F_BODY, "<text>", "note other business",
          GV_M_OTHER },
        { "checkin", cmd_standup_note, F_MEETING | F_ARG | F_BODY, "<text>",
          "check in: how you are (listed under \"Check ins\")", GV_M_CHECKIN },
};

static const struct cmd *find_cmd(const char *name, size_t len)
{
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                if (strlen(cmds[i].name) == len &&
                    strncasecmp(cmds[i].name, name, len) == 0)
                        return &cmds[i];
        return NULL;
}

static enum gv_err cmd_commands(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_buf b = GV_BUF_INIT(4096);
        enum gv_err r = gv_buf_adds(&b, "Available commands:");

        (void)c;
        (void)args;
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && r == GV_OK; i++)
                r = gv_buf_printf(&b, " #%s", cmds[i].name);
        if (r == GV_OK)
                r = reply(x, gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}

static enum gv_err cmd_help(struct ctx *x, const struct cmd *c, char *args)
{
        struct gv_buf b = GV_BUF_INIT(16384);
        enum gv_err r = gv_buf_adds(&b, "gavel commands (# or ! work alike; (chairs) = chairs only):");

        (void)c;
        (void)args;
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && r == GV_OK; i++)
                r = gv_buf_printf(&b, "\n#%s%s%s  %s%s", cmds[i].name, cmds[i].usage[0] ? " " : "",
                                  cmds[i].usage, cmds[i].help,
                                  (cmds[i].flags & F_CHAIR) ? " (chairs)" : "");
        if (r == GV_OK) {
                const char *tag = x->c->cfg->n_tags ? x->c->cfg->tags[0].tag : "architecture";

                r = gv_buf_printf(&b, "\nTag a message with #%s <what to discuss> cc @people to "
                                      "put it on the agenda.", tag);
        }
        if (r == GV_OK)
                r = reply(x, gv_buf_str(&b));
        gv_buf_free(&b);
        return r;
}

void gv_commands_describe(void (*line)(void *ud, const char *text), void *ud)
{
        char buf[512];

        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                snprintf(buf, sizeof(buf), "#%s%s%s  %s%s", cmds[i].name,
                         cmds[i].usage[0] ? " " : "", cmds[i].usage, cmds[i].help,
                         (cmds[i].flags & F_CHAIR) ? " (chairs)" : "");
                line(ud, buf);
        }
}

bool command_line(const struct gv_config *cfg, const char *line, size_t len, bool first,
                  struct gv_cmdline *cl)
{
        return gv_parse_command(cfg, line, len, cl) &&
               (find_cmd(cl->name, cl->name_len) || !first || cl->prefix != '#');
}

bool command_counts(const struct gv_cmdline *cl)
{
        return cl->prefix != '#' || find_cmd(cl->name, cl->name_len) != NULL;
}

bool note_command_kind(const struct gv_cmdline *cl, enum gv_mkind *kind)
{
        const struct cmd *c = find_cmd(cl->name, cl->name_len);

        if (!c || (c->fn != cmd_note && c->fn != cmd_helpitem && c->fn != cmd_standup_note &&
                   c->fn != cmd_question))
                return false;
        *kind = c->kind;
        return true;
}

enum gv_mkind command_kind(const struct cmd *c)
{
        return c->kind;
}

static bool is_blank_or_nl(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

const char *command_body(const struct gv_config *cfg, struct gv_cmdline *cl, const char *line,
                         size_t len, const char *end)
{
        const struct cmd *c = find_cmd(cl->name, cl->name_len);
        const char *last = line + len, *p = line + len, *from, *to;

        if (!c || !(c->flags & F_BODY))
                return line + len;
        while (p < end) {
                const char *q = p + 1, *nl;
                size_t n;
                struct gv_cmdline next;

                nl = memchr(q, '\n', (size_t)(end - q));
                n = nl ? (size_t)(nl - q) : (size_t)(end - q);
                if (gv_parse_command(cfg, q, n, &next) && find_cmd(next.name, next.name_len))
                        break;
                last = q + n;
                p = q + n;
        }
        from = cl->args_len ? cl->args : line + len;
        to = last;
        /* blank lines before it go; the first line keeps its indentation */
        for (const char *q = from, *ls = from; q <= to; q++) {
                if (q == to || !is_blank_or_nl(*q)) {
                        from = q == to ? to : ls;
                        break;
                }
                if (*q == '\n')
                        ls = q + 1;
        }
        while (to > from && is_blank_or_nl(to[-1]))
                to--;
        cl->args = from;
        cl->args_len = (size_t)(to - from);
        return last;
}

enum gv_err run_command(struct ctx *x, const struct gv_cmdline *cl)
{
        const struct cmd *c = find_cmd(cl->name, cl->name_len);
        char *args = NULL;
        bool chair = false;
        enum gv_err r;

        if (!c) {
                char name[40];

                /* '#word' is a hashtag unless it is a command; '!word' asks the bot. */
                if (cl->prefix == '#')
                        return GV_OK;
                snprintf(name, sizeof(name), "%.*s%s", cl->name_len > 32 ? 32 : (int)cl->name_len,
                         cl->name, cl->name_len > 32 ? "..." : "");
                return replyf(x, "Unknown command %c%s. Try %chelp.", cl->prefix, name, cl->prefix);
        }
        if ((c->flags & F_MEETING) && !x->in_meeting) {
                if (cl->prefix == '#')
                        return GV_OK;   /* MeetBot ignores these outside meetings */
                return replyf(x, "No meeting is running in this room; start one with "
                                 "%cstartmeeting.", cl->prefix);
        }
        if ((c->flags & F_ARG) && cl->args_len == 0)
                return replyf(x, "Usage: %c%s %s", cl->prefix, c->name, c->usage);
        if (c->flags & F_CHAIR) {
                r = is_chair(x, &chair);
                if (r)
                        return r;
                if (!chair) {
                        struct gv_buf b = GV_BUF_INIT(1 << 16);

                        r = chairs_text(x, &b);
                        if (r == GV_OK)
                                r = replyf(x, "Only chairs can use %c%s. Chairs: %s", cl->prefix,
                                           c->name, gv_buf_str(&b));
                        gv_buf_free(&b);
                        return r;
                }
        }
        args = strndup(cl->args, cl->args_len);
        if (!args)
                return GV_ENOMEM;
        ctx_own_meeting(x);
        r = c->fn(x, c, args);
        free(args);
        return r;
}
