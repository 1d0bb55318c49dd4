/* tests/unit/test-publish.c - table-driven tests for gv_publish_insert():
 * where a meeting's section lands on a wiki page, in Markdown and wikitext,
 * on new, ordinary and hostile pages. Prints "N passed, M failed". */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bridge/publish.h"
#include "check.h"

#define MD false
#define WT true
#define SEC "Recent Meeting Notes"
#define M1 "<!-- gavel:meeting:1 -->"
#define M2 "<!-- gavel:meeting:2 -->"
#define T1 "### 4 Oct 2018\n" M1 "\n- item one\n"
#define T2 "### 11 Oct 2018\n" M2 "\n- item two\n"
#define W1 "=== 4 Oct 2018 ===\n" M1 "\n* item one\n"
#define W2 "=== 11 Oct 2018 ===\n" M2 "\n* item two\n"
#define SAME NULL       /* want: *out NULL (already there) */

struct tcase {
        const char *name;
        bool wikitext;
        const char *page;       /* NULL: a new page */
        const char *section;
        const char *marker;
        const char *text;
        enum gv_err err;
        const char *want;       /* the new page; SAME: *out stays NULL */
};

static const struct tcase cases[] = {
        /* new and empty pages */
        { "new page", MD, NULL, SEC, M1, T1, GV_OK,
          "## " SEC "\n\n" T1 },
        { "empty page", MD, "", SEC, M1, T1, GV_OK,
          "## " SEC "\n\n" T1 },
        { "new page, text without LF", MD, "", SEC, M1, "### x\n" M1, GV_OK,
          "## " SEC "\n\n### x\n" M1 "\n" },
        { "new page, text without heading", MD, NULL, SEC, M1, M1 "\n- a\n", GV_OK,
          "## " SEC "\n\n" M1 "\n- a\n" },
        { "new page, text at level 2", MD, NULL, SEC, M1, "## [[2024-01-01]]\n" M1 "\n", GV_OK,
          "# " SEC "\n\n## [[2024-01-01]]\n" M1 "\n" },
        { "new page, text at level 1", MD, NULL, SEC, M1, "# x\n" M1 "\n", GV_OK,
          "# " SEC "\n\n# x\n" M1 "\n" },
        { "new wikitext page", WT, NULL, SEC, M1, W1, GV_OK,
          "== " SEC " ==\n\n" W1 },
        { "new wikitext page, no heading in text", WT, "", SEC, M1, M1 "\n* a\n", GV_OK,
          "== " SEC " ==\n\n" M1 "\n* a\n" },
        { "section name trimmed", MD, NULL, "  " SEC "\t", M1, T1, GV_OK,
          "## " SEC "\n\n" T1 },

        /* the section exists */
        { "under the heading", MD, "# Arch\n\nintro\n\n## " SEC "\n\n" T1, SEC, M2, T2, GV_OK,
          "# Arch\n\nintro\n\n## " SEC "\n\n" T2 "\n" T1 },
        { "heading without blank line", MD, "## " SEC "\n" T1, SEC, M2, T2, GV_OK,
          "## " SEC "\n\n" T2 "\n" T1 },
        { "two blank lines kept", MD, "## " SEC "\n\n\n" T1, SEC, M2, T2, GV_OK,
          "## " SEC "\n\n\n" T2 "\n" T1 },
        { "heading is the last line, no LF", MD, "intro\n\n## " SEC, SEC, M1, T1, GV_OK,
          "intro\n\n## " SEC "\n\n" T1 },
        { "heading with closing hashes", MD, "## " SEC " ##\nold\n", SEC, M1, T1, GV_OK,
          "## " SEC " ##\n\n" T1 "\nold\n" },
        { "heading at another level", MD, "#### " SEC "\n", SEC, M1, T1, GV_OK,
          "#### " SEC "\n\n" T1 },
        { "heading indented 3 spaces", MD, "   ## " SEC "\n", SEC, M1, T1, GV_OK,
          "   ## " SEC "\n\n" T1 },
        { "setext heading", MD, "Intro\n\n" SEC "\n---\nold\n", SEC, M1, T1, GV_OK,
          "Intro\n\n" SEC "\n---\n\n" T1 "\nold\n" },
        { "setext heading ===", MD, SEC "\n====\n\nold\n", SEC, M1, T1, GV_OK,
          SEC "\n====\n\n" T1 "\nold\n" },
        { "CRLF page", MD, "## " SEC "\r\n\r\nold\r\n", SEC, M1, T1, GV_OK,
          "## " SEC "\r\n\r\n" T1 "\nold\r\n" },
        { "next section follows", MD, "## " SEC "\n\n## Other\nx\n", SEC, M1, T1, GV_OK,
          "## " SEC "\n\n" T1 "\n## Other\nx\n" },
        { "first of two headings", MD, "## " SEC "\na\n## " SEC "\nb\n", SEC, M1, T1, GV_OK,
          "## " SEC "\n\n" T1 "\na\n## " SEC "\nb\n" },
        { "wikitext under heading", WT, "Intro\n== " SEC " ==\n" W1, SEC, M2, W2, GV_OK,
          "Intro\n== " SEC " ==\n\n" W2 "\n" W1 },
        { "wikitext tight heading", WT, "=="SEC"==\nold\n", SEC, M1, W1, GV_OK,
          "=="SEC"==\n\n" W1 "\nold\n" },
        { "wikitext heading trailing space", WT, "== " SEC " ==  \nold\n", SEC, M1, W1, GV_OK,
          "== " SEC " ==  \n\n" W1 "\nold\n" },

        /* already there */
        { "marker on page", MD, "## " SEC "\n\n" T1, SEC, M1, T1, GV_OK, SAME },
        { "marker line indented", MD, "  " M1 "\t\r\n", SEC, M1, T1, GV_OK, SAME },
        { "marker quoted in a list item", MD, "## " SEC "\n\n- alice: " M1 "\n", SEC, M1, T1,
          GV_OK, "## " SEC "\n\n" T1 "\n- alice: " M1 "\n" },
        { "inline marker anywhere on page", MD, "x " M1 " y\n", SEC, M1, "### a " M1 "\n",
          GV_OK, SAME },
        { "inline marker in the text", MD, "## " SEC "\n", SEC, M1, "### a " M1 "\n", GV_OK,
          "## " SEC "\n\n### a " M1 "\n" },
        { "marker on wikitext page", WT, "== " SEC " ==\n" W1, SEC, M1, W1, GV_OK, SAME },
        { "other meeting's marker", MD, "## " SEC "\n\n" T2, SEC, M1, T1, GV_OK,
          "## " SEC "\n\n" T1 "\n" T2 },

        /* the name in places that are not the section's heading */
        { "name in body text", MD, "We keep " SEC " below.\n" SEC "\n", SEC, M1, T1, GV_OK,
          "We keep " SEC " below.\n" SEC "\n\n## " SEC "\n\n" T1 },
        { "name in a longer heading", MD, "## " SEC " (old)\n", SEC, M1, T1, GV_OK,
          "## " SEC " (old)\n\n## " SEC "\n\n" T1 },
        { "name without space after #", MD, "##" SEC "\n", SEC, M1, T1, GV_OK,
          "##" SEC "\n\n## " SEC "\n\n" T1 },
        { "name as a 7-hash line", MD, "####### " SEC "\n", SEC, M1, T1, GV_OK,
          "####### " SEC "\n\n## " SEC "\n\n" T1 },
        { "name indented 4 spaces (code)", MD, "    ## " SEC "\n", SEC, M1, T1, GV_OK,
          "    ## " SEC "\n\n## " SEC "\n\n" T1 },
        { "name in a code fence", MD, "```\n## " SEC "\n```\n", SEC, M1, T1, GV_OK,
          "```\n## " SEC "\n```\n\n## " SEC "\n\n" T1 },
        { "name in a tilde fence", MD, "~~~~ md\n## " SEC "\n~~~\n~~~~\n## " SEC "\n", SEC, M1,
          T1, GV_OK, "~~~~ md\n## " SEC "\n~~~\n~~~~\n## " SEC "\n\n" T1 },
        { "inline code is no fence", MD, "```x``` inline\n## " SEC "\n", SEC, M1, T1, GV_OK,
          "```x``` inline\n## " SEC "\n\n" T1 },
        { "name in an HTML comment", MD, "<!--\n## " SEC "\n-->\n", SEC, M1, T1, GV_OK,
          "<!--\n## " SEC "\n-->\n\n## " SEC "\n\n" T1 },
        { "after a closed comment", MD, "<!-- x -->\n## " SEC "\n", SEC, M1, T1, GV_OK,
          "<!-- x -->\n## " SEC "\n\n" T1 },
        { "setext under two lines", MD, "a\n" SEC "\n---\n", SEC, M1, T1, GV_OK,
          "a\n" SEC "\n---\n\n## " SEC "\n\n" T1 },
        { "wikitext name in body", WT, "See " SEC " == x ==\n", SEC, M1, W1, GV_OK,
          "See " SEC " == x ==\n\n== " SEC " ==\n\n" W1 },
        { "wikitext indented heading", WT, " == " SEC " ==\n", SEC, M1, W1, GV_OK,
          " == " SEC " ==\n\n== " SEC " ==\n\n" W1 },
        { "wikitext one-sided", WT, "== " SEC "\n", SEC, M1, W1, GV_OK,
          "== " SEC "\n\n== " SEC " ==\n\n" W1 },
        { "wikitext in nowiki", WT, "<nowiki>\n== " SEC " ==\n</nowiki>\n", SEC, M1, W1, GV_OK,
          "<nowiki>\n== " SEC " ==\n</nowiki>\n\n== " SEC " ==\n\n" W1 },
        { "wikitext in pre", WT, "<PRE class=\"x\">\n== " SEC " ==\n</pre>\n", SEC, M1, W1,
          GV_OK, "<PRE class=\"x\">\n== " SEC " ==\n</pre>\n\n== " SEC " ==\n\n" W1 },
        { "wikitext in comment", WT, "<!-- \n== " SEC " ==\n-->", SEC, M1, W1, GV_OK,
          "<!-- \n== " SEC " ==\n-->\n\n== " SEC " ==\n\n" W1 },
        { "wikitext <prefix> is no pre", WT, "<prefix>\n== " SEC " ==\n", SEC, M1, W1, GV_OK,
          "<prefix>\n== " SEC " ==\n\n" W1 },
        { "wikitext self-closed nowiki", WT, "<nowiki/>\n== " SEC " ==\n", SEC, M1, W1, GV_OK,
          "<nowiki/>\n== " SEC " ==\n\n" W1 },
        { "markdown heading on wikitext page", WT, "## " SEC "\n", SEC, M1, W1, GV_OK,
          "## " SEC "\n\n== " SEC " ==\n\n" W1 },
        { "wikitext heading on markdown page", MD, "== " SEC " ==\n", SEC, M1, T1, GV_OK,
          "== " SEC " ==\n\n## " SEC "\n\n" T1 },

        /* hostile page contents */
        { "page without final LF", MD, "a\nb", SEC, M1, T1, GV_OK,
          "a\nb\n\n## " SEC "\n\n" T1 },
        { "page ending in blank line", MD, "a\n\n", SEC, M1, T1, GV_OK,
          "a\n\n## " SEC "\n\n" T1 },
        { "unclosed fence hides the rest", MD, "```\n## " SEC "\n", SEC, M1, T1, GV_OK,
          "```\n## " SEC "\n\n## " SEC "\n\n" T1 },
        { "unclosed comment", MD, "<!-- ## " SEC "\n## " SEC "\n", SEC, M1, T1, GV_OK,
          "<!-- ## " SEC "\n## " SEC "\n\n## " SEC "\n\n" T1 },
        { "only hashes", MD, "#\n######\n", SEC, M1, T1, GV_OK,
          "#\n######\n\n## " SEC "\n\n" T1 },
        { "only equals", WT, "=\n==\n=====\n", SEC, M1, W1, GV_OK,
          "=\n==\n=====\n\n== " SEC " ==\n\n" W1 },
        { "NUL-free binary junk", MD, "\x01\x02\xff\xfe\n## " SEC "\n", SEC, M1, T1, GV_OK,
          "\x01\x02\xff\xfe\n## " SEC "\n\n" T1 },
        { "lone CR lines", MD, "\r\r\n## " SEC "\r", SEC, M1, T1, GV_OK,
          "\r\r\n## " SEC "\r\n\n" T1 },

        /* refused */
        { "no section", MD, "", NULL, M1, T1, GV_EINVAL, SAME },
        { "blank section", MD, "", " \t", M1, T1, GV_EINVAL, SAME },
        { "section with LF", MD, "", "a\n## b", M1, T1, GV_EINVAL, SAME },
        { "section with CR", MD, "", "a\rb", M1, T1, GV_EINVAL, SAME },
        { "section ending in #", MD, "", "Notes #", M1, T1, GV_EINVAL, SAME },
        { "section with comment", WT, "", "a <!-- b", M1, W1, GV_EINVAL, SAME },
        { "wikitext section of =", WT, "", "=", M1, W1, GV_OK, "== = ==\n\n" W1 },
        { "section with DEL", WT, "", "a\x7f", M1, W1, GV_EINVAL, SAME },
        { "no marker", MD, "", SEC, NULL, T1, GV_EINVAL, SAME },
        { "empty marker", MD, "", SEC, "", T1, GV_EINVAL, SAME },
        { "no text", MD, "", SEC, M1, NULL, GV_EINVAL, SAME },
        { "text without its marker", MD, "", SEC, M1, T2, GV_EINVAL, SAME },
};

static void run(const struct tcase *c)
{
        struct gv_publication p = { .marker = c->marker, .text = c->text, .summary = "s",
                                    .author = "gavel", .email = "gavel@localhost" };
        char *out = (char *)"untouched";
        enum gv_err r = gv_publish_insert(c->page, c->wikitext, c->section, &p, &out);

        if (r != c->err) {
                check(false, c->name, "err %d, want %d", (int)r, (int)c->err);
                if (r == GV_OK)
                        free(out);
                return;
        }
        if (r != GV_OK) {
                check(true, c->name, "%s", "");
                return;
        }
        if (!c->want) {
                check(out == NULL, c->name, "want NULL, got \"%s\"", show(out));
                if (out)
                        free(out);
                return;
        }
        check(out && strcmp(out, c->want) == 0, c->name, "got \"%s\"\n        want \"%s\"",
              show(out), show(c->want));
        free(out);
}

/* Publishing twice is once; three meetings stack newest first. */
static void sequence(bool wikitext)
{
        const char *texts[] = { wikitext ? W1 : T1, wikitext ? W2 : T2,
                                wikitext ? "=== 3 ===\n<!-- gavel:meeting:3 -->\n"
                                         : "### 3\n<!-- gavel:meeting:3 -->\n" };
        const char *markers[] = { M1, M2, "<!-- gavel:meeting:3 -->" };
        char *page = strdup("Intro text mentioning " SEC ".\n");
        bool ok = page != NULL;

        for (size_t i = 0; ok && i < 3; i++) {
                struct gv_publication p = { .marker = markers[i], .text = texts[i] };
                char *out = NULL;

                ok = gv_publish_insert(page, wikitext, SEC, &p, &out) == GV_OK && out;
                if (ok) {
                        free(page);
                        page = out;
                        ok = gv_publish_insert(page, wikitext, SEC, &p, &out) == GV_OK && !out;
                }
        }
        const char *a = page ? strstr(page, "meeting:3") : NULL;
        const char *b = page ? strstr(page, "meeting:2") : NULL;
        const char *c = page ? strstr(page, "meeting:1") : NULL;
        const char *h = page ? strstr(page, wikitext ? "== " SEC " ==" : "## " SEC) : NULL;
        const char *h2 = h ? strstr(h + 3, SEC) : NULL;   /* after "## " or "== " */
        h2 = h2 ? strstr(h2 + 1, SEC) : NULL;
        check(ok && h && a && b && c && h < a && a < b && b < c && !h2,
              wikitext ? "wikitext: three meetings, newest first, once each"
                       : "markdown: three meetings, newest first, once each",
              "page \"%s\"", show(page));
        free(page);
}

/* A page of many openers on one line is scanned in linear time: a
 * quadratic scan would take minutes here. */
static void long_line(bool wikitext, const char *unit)
{
        size_t k = strlen(unit), reps = (2u << 20) / k;
        char *page = malloc(reps * k + 64), *out = NULL;
        struct gv_publication p = { .marker = M1, .text = wikitext ? W1 : T1 };
        char name[96];

        snprintf(name, sizeof(name), "%s: 2 MiB of \"%s\" on one line", wikitext ? "wikitext" : "markdown",
                 unit);
        if (!page) {
                check(false, name, "%s", "out of memory");
                return;
        }
        for (size_t i = 0; i < reps; i++)
                memcpy(page + i * k, unit, k);
        strcpy(page + reps * k, "\n== " SEC " ==\n## " SEC "\n");
        enum gv_err r = gv_publish_insert(page, wikitext, SEC, &p, &out);
        check(r == GV_OK && out && strlen(out) > reps * k, name, "err %d", (int)r);
        free(out);
        free(page);
}

int main(void)
{
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                run(&cases[i]);
        sequence(false);
        sequence(true);
        long_line(true, "<!---->");
        long_line(true, "<pre ");
        long_line(true, "<prefix>");
        long_line(true, "<nowiki/><pre/>");
        long_line(false, "<!---->");
        {
                struct gv_publication p = { .marker = M1, .text = T1 };
                check(gv_publish_insert("", MD, SEC, &p, NULL) == GV_EINVAL, "NULL out", "%s",
                      "not EINVAL");
                char *out = (char *)"x";
                check(gv_publish_insert("", MD, SEC, NULL, &out) == GV_EINVAL, "NULL publication",
                      "%s", "not EINVAL");
        }
        return check_finish();
}
