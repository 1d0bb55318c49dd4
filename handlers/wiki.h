/* handlers/wiki.h - a meeting's section for a wiki page, in the page's
 * flavour (resin: seed 000's template; agora: seed 003's notes; meetbot:
 * MeetBot's text minutes) and markup (Markdown for git wikis, wikitext for
 * MediaWiki). Every user string is escaped for the markup it lands in, so
 * chat text cannot add headings, templates, categories or links of its own,
 * nor break the page around the section.
 * Reads the store; writes only into the caller's buffer. */
#ifndef GV_WIKI_H
#define GV_WIKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../store/store.h"
#include "../util/buf.h"
#include "../util/config.h"

/* The marker line of a meeting's section on wiki N (an HTML comment, hidden
 * in both markups): "<!-- gavel:meeting:42:wiki:0 -->". */
#define GV_WIKI_MARKER_SIZE 64
void gv_wiki_marker(int64_t meeting, size_t wiki, char out[GV_WIKI_MARKER_SIZE]);

/* Appends the section: its heading, the marker line, the notes. */
GV_MUST_CHECK enum gv_err gv_wiki_render(struct gv_store *s, const struct gv_config *cfg,
                                         int64_t meeting, enum gv_flavour flavour, bool wikitext,
                                         const char *marker, struct gv_buf *out);

/* The escapers, one line each (newlines and controls become spaces).
 * Markdown: see gv_md_escape. Wikitext: & < > as entities, inside
 * <nowiki>...</nowiki> when anything else could be markup. */
GV_MUST_CHECK enum gv_err gv_wiki_md(struct gv_buf *b, const char *s);
GV_MUST_CHECK enum gv_err gv_wiki_wikitext(struct gv_buf *b, const char *s);

#endif
