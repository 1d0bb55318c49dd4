/* util/text.h - small text helpers shared by every layer: strict number
 * parsing, UTF-8 checks, escaping for HTML and Markdown, time formatting.
 * Pure functions; no I/O. */
#ifndef GV_TEXT_H
#define GV_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "err.h"

/* Decimal digits only ("" " 1" "-1" "1x" and overflow are rejected);
 * *out untouched on failure. */
GV_MUST_CHECK enum gv_err gv_parse_u64(const char *s, uint64_t max, uint64_t *out);
GV_MUST_CHECK enum gv_err gv_parse_un(const char *s, size_t n, uint64_t max, uint64_t *out);

bool gv_utf8_valid(const char *s, size_t n);
/* Copies s[0..n) into b, replacing invalid UTF-8 and NUL with U+FFFD and
 * other C0 controls except \n and \t with a space. */
GV_MUST_CHECK enum gv_err gv_utf8_clean(struct gv_buf *b, const char *s, size_t n);

/* & < > " ' escaped. */
GV_MUST_CHECK enum gv_err gv_html_escape(struct gv_buf *b, const char *s);
/* Markdown that could start markup is backslash-escaped (\ ` * _ [ ] < > ~ &
 * anywhere; # + - = > | at the start) and newlines become spaces: the text
 * renders as itself on one line. */
GV_MUST_CHECK enum gv_err gv_md_escape(struct gv_buf *b, const char *s);
/* Bounded echo of user text for replies and logs: at most max bytes (cut
 * on a UTF-8 boundary, "..." appended), CR/LF mapped to spaces. */
GV_MUST_CHECK enum gv_err gv_echo(struct gv_buf *b, const char *s, size_t max);

/* Case-insensitive ASCII compare. */
bool gv_ieq(const char *a, const char *b);
bool gv_iprefix(const char *s, const char *prefix);

/* Times are milliseconds since the epoch, UTC. */
/* "HH:MM:SS" */
void gv_fmt_hms(int64_t ms, char out[9]);
/* "YYYY-MM-DD" */
void gv_fmt_date(int64_t ms, char out[11]);
/* "4 Oct 2018" (seed 000 headings) */
void gv_fmt_human_date(int64_t ms, char out[16]);
/* "YYYY-MM-DD-HH.MM" (MeetBot file names) */
void gv_fmt_stamp(int64_t ms, char out[17]);
/* "Mon May  8 13:00:44 2017" */
void gv_fmt_ctime(int64_t ms, char out[32]);
/* Days since the epoch -> ms, for "YYYY-MM-DD"; GV_EPARSE if malformed. */
GV_MUST_CHECK enum gv_err gv_parse_date(const char *s, int64_t *ms_out);
/* "HH:MM:SS" -> ms since midnight */
GV_MUST_CHECK enum gv_err gv_parse_hms(const char *s, int64_t *ms_out);

#endif
