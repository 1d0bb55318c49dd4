/* handlers/internal.h - the command layer and the event path, for the files
 * of handlers/ only (not the bridge). Who calls whom, never the other way:
 *   core.c -> commands.c -> meeting.c, agenda.c, votes.c -> effects.c
 *   core.c -> edits.c -> commands.c (which lines are commands)
 *   meeting.c -> edits.c (untake_item, for #undo)
 *   commands.c, agenda.c, core.c, edits.c -> series.c <-> attendance.c (issue 10)
 *   meeting.c -> standup.c (series_for_room); standup.c -> meeting.c (name_person),
 *   series.c (series_room_is), attendance.c (series_named)
 * core.c and edits.c also use agenda.c's tag helpers and effects.c. */
#ifndef GV_HANDLERS_INTERNAL_H
#define GV_HANDLERS_INTERNAL_H

#include <stdbool.h>
#include "effects.h"
#include "parse.h"

/* ---- commands.c: the one command table ---- */

/* Is this line run as a command rather than read as a tag? A known command
 * wins; "#architecture ..." on the first line is a tag, not a command. */
bool command_line(const struct gv_config *cfg, const char *line, size_t len, bool first,
                  struct gv_cmdline *cl);
/* Does the line count as a command toward GV_MAX_COMMANDS_PER_MESSAGE? A
 * known command or an unknown "!word" (which is answered) does; an unknown
 * "#word" is a hashtag and does not. */
bool command_counts(const struct gv_cmdline *cl);
/* True for the commands that note an item (#info, #action, #idea, #link,
 * #agreed, #accepted, #rejected, #help, #halp, !update, !question, !other,
 * !checkin), with the item's kind. */
bool note_command_kind(const struct gv_cmdline *cl, enum gv_mkind *kind);
/* The commands that take the lines after them as their text too (!update,
 * !question, !other, !checkin): the text runs from the command's argument
 * over the following lines of the message up to the next line that is a
 * known command (#info, #topic, ...) or the end of the message (end).
 * cl->args/args_len grow to cover it (blank lines and blanks around it
 * trimmed); returns where the last line taken ends (line + len for any
 * other command). The lines taken are logged as said but never read as
 * commands, tags or links. */
const char *command_body(const struct gv_config *cfg, struct gv_cmdline *cl, const char *line,
                         size_t len, const char *end);
GV_MUST_CHECK enum gv_err run_command(struct ctx *x, const struct gv_cmdline *cl);

/* The commands, each a row of the table in commands.c, which checks arity,
 * "meeting running" and permission first; c is the row. */
struct cmd;
/* The kind of item a note command's row notes. */
enum gv_mkind command_kind(const struct cmd *c);

/* meeting.c */
enum gv_err cmd_startmeeting(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_endmeeting(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_topic(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_chair(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_unchair(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_undo(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_meetingname(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_nick(struct ctx *x, const struct cmd *c, char *args);

/* The person the start of s names: a pill's text (from the event's
 * formatted body), a matrix.to link, a full user ID, or a nick that exactly
 * one joined member of the room has (localpart or display name, "@" before
 * it allowed). GV_OK with the ID and *rest just past the name; GV_EINVAL
 * after appending why not (a line starting "\n") to why. */
GV_MUST_CHECK enum gv_err name_person(struct ctx *x, const char *s, char *id, size_t cap,
                                      const char **rest, struct gv_buf *why);

/* standup.c */
enum gv_err cmd_standup_note(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_question(struct ctx *x, const struct cmd *c, char *args);
/* A question's text as stored: "<asked ID> <question>", from !question's
 * argument "@who question". GV_EINVAL (why appended to) when who names
 * nobody or the question is missing. */
GV_MUST_CHECK enum gv_err question_text(struct ctx *x, const char *args, char **text,
                                        struct gv_buf *why);
/* The series whose room the event's room is (its room ID, or its alias as
 * the bridge resolved it); of two in one room, the one whose occurrence is
 * nearest the event's time. *out NULL when none. */
GV_MUST_CHECK enum gv_err series_for_room(struct ctx *x, const struct gv_series_cfg **out);

/* votes.c */
enum gv_err cmd_startvote(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_vote(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_endvote(struct ctx *x, const struct cmd *c, char *args);

/* ---- agenda.c ---- */

enum gv_err cmd_agenda(struct ctx *x, const struct cmd *c, char *args);
const char *tag_for_agenda(const struct gv_config *cfg, const char *agenda);
/* 1-based index of item id in the agenda as shown; 0 when not shown. */
GV_MUST_CHECK enum gv_err agenda_index_of(struct ctx *x, const char *agenda, int64_t id, size_t *index);
/* An item's mentions: the cc names, then the event's m.mentions not among them. */
GV_MUST_CHECK enum gv_err tag_mentions(struct ctx *x, const struct gv_tagged *t,
                                       struct gv_buf *mentions);

/* ---- series.c (issue 10): timers, releases, !next ---- */

enum gv_err cmd_next(struct ctx *x, const struct cmd *c, char *args);
/* `!agenda release [series]` (the caller checked the sender is a chair). */
GV_MUST_CHECK enum gv_err series_release_cmd(struct ctx *x, char *args);
/* Where a series releases its agenda: release_room, else its room. */
const char *series_release_room(const struct gv_series_cfg *sc);
/* The series' agenda: its "agenda", else its room's. */
const char *series_agenda_of(const struct gv_config *cfg, const struct gv_series_cfg *sc);
/* Is a configured room (an ID, an alias, a console room) the event's room?
 * An alias matches the room ID it resolved to (gv_store_alias_get). */
GV_MUST_CHECK enum gv_err series_room_is(struct gv_store *s, const char *cfg_room,
                                         const char *room, bool *yes);
/* The configured series of that name (with a compiled rule), else NULL. */
const struct gv_series_cfg *series_named(const struct gv_config *cfg, const char *name);
/* "Thu 2026-12-03 15:00 EET (13:00 UTC)"; "Thu 15:00". */
void series_occ_text(const struct gv_series_cfg *sc, int64_t occ, char *buf, size_t n);
void series_occ_short(const struct gv_series_cfg *sc, int64_t occ, char *buf, size_t n);
/* The series meeting in the event's room (its room or its release room):
 * the one named at the head of *args (the longest name; *args then moves
 * past it), else the one whose next occurrence is soonest; *occ its next
 * occurrence. *out NULL when none: the sender was told. */
GV_MUST_CHECK enum gv_err series_pick(struct ctx *x, char **args,
                                      const struct gv_series_cfg **out, int64_t *occ);

/* ---- attendance.c (issue 10): who comes, postponed items ---- */

enum gv_err cmd_canmake(struct ctx *x, const struct cmd *c, char *args);
enum gv_err cmd_cantmake(struct ctx *x, const struct cmd *c, char *args);
/* Does a person named in an item (a full ID, or "@nick" on the console)
 * stand for user? */
bool series_names_user(const char *who, const char *user);
/* Items of the series' agenda whose reporter, or every person mentioned,
 * can't come to occ are postponed (with why); those so postponed whose
 * people can come again are back. Items postponed by hand stay. What
 * changed is appended to changes (may be NULL), a line each. */
GV_MUST_CHECK enum gv_err series_reconsider(struct ctx *x, const struct gv_series_cfg *sc,
                                            int64_t occ, struct gv_buf *changes);
/* A reaction (ev->reaction_key) on a release message: an answer. */
GV_MUST_CHECK enum gv_err series_reaction(struct ctx *x);
/* A redaction of an event that answered (a reaction): the answer is gone. */
GV_MUST_CHECK enum gv_err series_redaction(struct ctx *x);
/* For !agenda between a release and its meeting: per series of the room
 * on that agenda, who comes and who can't, appended to t. */
GV_MUST_CHECK enum gv_err series_agenda_notes(struct ctx *x, const char *agenda, struct gv_buf *t);

/* ---- edits.c ---- */

/* An edit (m.replace; body is the new text, cleaned) or a redaction of an
 * earlier event changes what that event made. */
GV_MUST_CHECK enum gv_err handle_edit(struct ctx *x, const char *body, size_t n);
GV_MUST_CHECK enum gv_err handle_redaction(struct ctx *x);
/* A topic that had taken up agenda item id is gone (redacted or #undo):
 * unless another topic of the meeting took it up too, it was not discussed
 * there after all, as long as the meeting has not archived it. */
GV_MUST_CHECK enum gv_err untake_item(struct ctx *x, int64_t meeting, int64_t id);

#endif
