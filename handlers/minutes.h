/* handlers/minutes.h - renders a meeting from the store: the minutes as a
 * Matrix message (plain body and HTML formatted_body), seed-000 wiki Markdown,
 * and the archive files in MeetBot 0.1.4's layouts (.txt, .html, .log.txt,
 * .log.html; rendered by meetbot.c).
 * Reads the store; writes only into the caller's buffer. */
#ifndef GV_MINUTES_H
#define GV_MINUTES_H

#include <stdint.h>
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/config.h"

/* Ceiling on one rendering (a 64 KiB line limit and long meetings fit). */
#define GV_MINUTES_MAX (256u << 20)
/* Ceiling on the minutes as a message (GV_OUT_MINUTES rows): longer ones are
 * cut at a line with a note pointing at the archive, never refused whole
 * (a Matrix event is cut further, to its size, by bridge/content.c). */
#define GV_MINUTES_MSG_MAX (4u << 20)
#define GV_MINUTES_CUT_NOTE "\n[... cut: the full minutes are in the archive]\n"

enum gv_minutes_fmt {
        GV_MIN_TEXT = 0,        /* the Matrix body */
        GV_MIN_HTML,            /* HTML fragment: Matrix formatted_body */
        GV_MIN_HTML_PAGE,       /* NAME.html: MeetBot's HTML2 page (meetbot.h) */
        GV_MIN_MARKDOWN,        /* wiki section, seed 000 template */
        GV_MIN_LOG_TEXT,        /* NAME.log.txt: MeetBot's TextLog */
        GV_MIN_LOG_HTML,        /* NAME.log.html: MeetBot's HTMLlog2 */
        GV_MIN_MB_TEXT,         /* NAME.txt: MeetBot's Text writer */
};

/* Appends the rendering to out. The meeting may still be running (then
 * "Meeting ended" is left out). */
GV_MUST_CHECK enum gv_err gv_minutes_render(struct gv_store *s, const struct gv_config *cfg,
                                            int64_t meeting, enum gv_minutes_fmt fmt,
                                            struct gv_buf *out);

/* Outbox rows of kind GV_OUT_MINUTES (the minutes as a message; extra holds
 * the meeting and an optional header line) and GV_OUT_FILE (extra holds the
 * meeting and the format) carry no text: it is rendered here when the row is
 * delivered, so megabytes of minutes are never copied through the outbox. For
 * minutes both body and html are filled; over body's ceiling the text is cut
 * at a line with GV_MINUTES_CUT_NOTE, over html's the HTML is left empty. For
 * files only body. */
GV_MUST_CHECK enum gv_err gv_minutes_for_outbox(struct gv_store *s, const struct gv_config *cfg,
                                                enum gv_out_kind kind, const char *extra,
                                                struct gv_buf *body, struct gv_buf *html);
/* Where a streamed rendering goes, a piece at a time. */
struct gv_sink_fn {
        enum gv_err (*write)(void *ud, const char *p, size_t n);
        void *ud;
};

/* Streams a "file" row's rendering to sink, in pieces of about
 * GV_MINUTES_CHUNK bytes: the logs of a long meeting are never held whole. */
#define GV_MINUTES_CHUNK (64u << 10)
GV_MUST_CHECK enum gv_err gv_minutes_file(struct gv_store *s, const struct gv_config *cfg,
                                          const char *extra, const struct gv_sink_fn *sink);
/* gv_minutes_for_outbox(), streaming the log formats to sink when not NULL
 * (body then holds only what is left to write). */
GV_MUST_CHECK enum gv_err gv_minutes_for_outbox_to(struct gv_store *s, const struct gv_config *cfg,
                                                   enum gv_out_kind kind, const char *extra,
                                                   struct gv_buf *body, struct gv_buf *html,
                                                   const struct gv_sink_fn *sink);

/* The "format" words of file rows: "txt", "html", "log.txt", "log.html", "md"
 * ("body" and "fragment" are the Matrix message's). */
const char *gv_minutes_format_name(enum gv_minutes_fmt f);

/* "meeting.2017-05-08-13.00": the name made file-safe ([A-Za-z0-9_-], others
 * become '_', at most 64 bytes, "meeting" if empty) and the start time. */
void gv_minutes_basename(const char *name, int64_t started, char out[96]);

/* Archive file base names: at most GV_MINUTES_BASE_SIZE - 1 bytes, so that
 * "BASE.log.html" stays a plain file name of at most 200 bytes. */
#define GV_MINUTES_BASE_SIZE 160
/* The k-th name a meeting may take, tried in turn until one is free (see
 * gv_store_meeting_reserve_file): k = 0 is gv_minutes_basename(); 1 adds the
 * room made file-safe and the start to the second,
 * "Weekly.abc_example_org.2024-07-12-10.00.05"; k >= 2 adds "-k" to that. */
void gv_minutes_basename_try(const char *name, const char *room, int64_t started, unsigned k,
                             char out[GV_MINUTES_BASE_SIZE]);
/* The base name of a meeting's archive files: the one reserved when it
 * ended, else (running, or ended before names were reserved) gv_minutes_basename(). */
void gv_minutes_file_base(const struct gv_meeting *m, char out[GV_MINUTES_BASE_SIZE]);

/* The archive files of a meeting, in the order #endmeeting queues them:
 * BASE.txt, .html, .log.txt, .log.html, .md (the names are
 * gv_minutes_format_name()). */
#define GV_MINUTES_N_FILES 5
extern const enum gv_minutes_fmt gv_minutes_files[GV_MINUTES_N_FILES];

/* A meeting as its archive files need it (the meeting, its title, noted
 * items, people present, where each item was said, the agenda items taken
 * up), loaded once and kept on the store (gv_store_cache) while the store's
 * content (gv_store_content_version), the meeting and the config's fields
 * that shape the files stay the same: the five files of a meeting, rendered
 * one row after another, come from one load. Borrowed: valid until the
 * next write, gv_store_begin, or a model of another meeting. */
struct gv_minutes_model;
GV_MUST_CHECK enum gv_err gv_minutes_model_get(struct gv_store *s, const struct gv_config *cfg,
                                               int64_t meeting,
                                               const struct gv_minutes_model **ret);
const struct gv_meeting *gv_minutes_model_meeting(const struct gv_minutes_model *md);
const struct gv_mitem *gv_minutes_model_items(const struct gv_minutes_model *md, size_t *n);
/* The agenda items the meeting took up (read with the first call). */
GV_MUST_CHECK enum gv_err gv_minutes_model_agenda(const struct gv_minutes_model *md,
                                                  struct gv_store *s,
                                                  const struct gv_item **items, size_t *n);
/* How many models were loaded since the start (for tests: one per meeting
 * whose files are written together). */
uint64_t gv_minutes_model_loads(void);

/* Upper-case label of a kind: "INFO", "ACTION", ... */
const char *gv_mkind_label(enum gv_mkind k);
/* Command word of a kind: "info", "action", ... */
const char *gv_mkind_command(enum gv_mkind k);

/* matrix.to permalink of an event. */
GV_MUST_CHECK enum gv_err gv_permalink(struct gv_buf *out, const char *room, const char *event_id);
/* matrix.to link of a user: "https://matrix.to/#/@alice:example.org". */
GV_MUST_CHECK enum gv_err gv_permalink_user(struct gv_buf *out, const char *user_id);

#endif
