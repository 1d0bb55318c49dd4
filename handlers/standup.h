/* handlers/standup.h - standups (seed 002) and check-ins (seed 003): the
 * reading of an !update's text, the meeting flavour's names, and the
 * standup layout of a meeting (the room's minutes, the wiki section) in
 * plain text, HTML, Markdown and wikitext, every user string escaped for the
 * markup it lands in. Reads the store; writes only into the caller's buffer.
 * The commands themselves (!update, !question, !other, !checkin) are in
 * standup.c too, declared in internal.h. */
#ifndef GV_STANDUP_H
#define GV_STANDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/config.h"

/* ---- an update's text ----
 *
 * An update is free text or blocks under a label line: "Last week:",
 * "This week:", "Next week:", "Since last update:", "Since last time:",
 * "Yesterday:", "Today:", "Tomorrow:", "Blockers:" (ASCII case ignored, at
 * the start of a line). A block's entries are bullets ("* ", "- " or "+ "
 * lines; deeper indentation nests them) or text lines. Seed 002's two shapes
 * both read so: bullets on the lines under "Last week:", and
 * "Last week: * a" with more bullets on continuation lines lined up under
 * the first. Blank lines separate; an empty bullet is dropped. */
enum gv_uline_kind { GV_UL_LABEL, GV_UL_BULLET, GV_UL_TEXT };

#define GV_UPDATE_MAX_DEPTH 8

struct gv_uline {
        enum gv_uline_kind kind;
        unsigned depth;         /* bullets: 0 at the top, < GV_UPDATE_MAX_DEPTH */
        const char *p;          /* into the text (a label: the canonical label,
                                 * "Last week"), without the bullet or colon, trimmed */
        size_t len;
};

/* Parses text into *lines (the caller frees it; *n may be 0). */
GV_MUST_CHECK enum gv_err gv_update_parse(const char *text, struct gv_uline **lines, size_t *n);

/* ---- flavours ---- */

/* The word of a flavour ("resin", "agora", "meetbot", "standup"). */
const char *gv_flavour_name(enum gv_flavour f);
/* Whether meeting is a standup (its stored flavour is "standup"). */
GV_MUST_CHECK enum gv_err gv_meeting_is_standup(struct gv_store *s, int64_t meeting, bool *yes);

/* ---- rendering ---- */

enum gv_markup { GV_MK_TEXT = 0, GV_MK_HTML, GV_MK_MD, GV_MK_WIKITEXT };

/* "Standup meeting - 2017-01-22": the meeting's date, in its series' zone
 * when it has one, else UTC. */
#define GV_STANDUP_TITLE_SIZE 48
void gv_standup_title(struct gv_store *s, const struct gv_config *cfg, const struct gv_meeting *m,
                      char out[GV_STANDUP_TITLE_SIZE]);

/* Appends seed 002's template for meeting: with_title, the
 * "## Standup meeting - DATE" heading first; then "### Updates since last
 * time" with a "##### @person" per person (in the order of their first
 * update), "### Questions, announcements and comments" ("* asker -> asked:"
 * and the questions under it), "### Other business"; then, when there are
 * any, "### Check ins" (with "Attending: ...") and "### Notes" (#info,
 * #action, ... noted in the standup). */
GV_MUST_CHECK enum gv_err gv_standup_render(struct gv_store *s, const struct gv_config *cfg,
                                            int64_t meeting, enum gv_markup mk, bool with_title,
                                            struct gv_buf *out);
/* The same, but over out's ceiling (GV_ETOOBIG) what fitted stays, to be
 * cut there (the minutes as a message); other errors leave out as it was. */
GV_MUST_CHECK enum gv_err gv_standup_render_partial(struct gv_store *s, const struct gv_config *cfg,
                                                    int64_t meeting, enum gv_markup mk,
                                                    struct gv_buf *out);

/* Who attended (seed 003's "Attending"): everyone who said a line in the
 * meeting (most lines first), then anyone who checked in without one,
 * never the bot; ", "-separated, unescaped, appended to out. */
GV_MUST_CHECK enum gv_err gv_attending(struct gv_store *s, const struct gv_config *cfg,
                                       int64_t meeting, const struct gv_mitem *mi, size_t n_mi,
                                       struct gv_buf *out);

/* A question's stored text is "<asked> <question>", asked being the full
 * ID (or console nick) of the person asked: splits it. */
void gv_question_split(const char *text, const char **asked, size_t *asked_len,
                       const char **question);

#endif
