/* tests/unit/test-minutes.c - handlers/minutes against meetings built in a
 * ":memory:" store through the store API. Prints "N passed, M failed". */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../bridge/archive.h"
#include "../../handlers/meetbot.h"
#include "../../handlers/minutes.h"
#include "../../util/text.h"

#ifndef GAVEL_VERSION
#define GAVEL_VERSION "0.1.0"
#endif

#define MAY8_2017 1494201600000LL
#define T(h, m, s) (MAY8_2017 + ((((int64_t)(h) * 60 + (m)) * 60 + (s)) * 1000))
#define OUT_MAX (64 * 1024 * 1024)

static int passed, failed;

static void check(bool ok, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void check(bool ok, int line, const char *fmt, ...)
{
        va_list ap;

        if (ok) {
                passed++;
                return;
        }
        failed++;
        fprintf(stderr, "FAIL (line %d): ", line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

#define CHECK(ok, ...) check((ok), __LINE__, __VA_ARGS__)

/* Compares whole strings; on a mismatch shows where they part. */
static void check_str(int line, const char *name, const char *got, const char *want)
{
        size_t i = 0;

        if (got && strcmp(got, want) == 0) {
                passed++;
                return;
        }
        failed++;
        if (!got) {
                fprintf(stderr, "FAIL (line %d): %s: got NULL\n", line, name);
                return;
        }
        while (got[i] && got[i] == want[i])
                i++;
        fprintf(stderr, "FAIL (line %d): %s: differs at byte %zu\n--- got:\n%s\n--- want:\n%s\n---\n",
                line, name, i, got, want);
}

#define CHECK_STR(name, got, want) check_str(__LINE__, (name), (got), (want))

/* Setup must work, or nothing below means anything. */
static void must(enum gv_err r, const char *what, int line)
{
        if (r != GV_OK) {
                fprintf(stderr, "setup failed (line %d): %s: %s\n", line, what, gv_strerror(r));
                exit(1);
        }
}

#define MUST(expr) must((expr), #expr, __LINE__)

static struct gv_store *st;
static struct gv_config cfg;

static int64_t meeting(const char *name, const char *starter, int64_t started)
{
        struct gv_meeting m = { 0 };
        int64_t id = 0;
        static int n;
        char room[32];

        snprintf(room, sizeof(room), "!m%d:example.org", ++n);
        m.room = room;
        m.name = (char *)name;
        m.agenda = (char *)"architecture";
        m.starter = (char *)starter;
        m.started = started;
        MUST(gv_store_meeting_start(st, &m, &id));
        MUST(gv_store_chair_set(st, id, starter, true));
        return id;
}

static int64_t note(int64_t mtg, int64_t ts, const char *nick, enum gv_mkind kind, const char *text,
                    int64_t topic, int64_t agenda_item)
{
        struct gv_mitem it = { 0 };
        int64_t id = 0;

        it.ts = ts;
        it.nick = (char *)nick;
        it.kind = kind;
        it.text = (char *)text;
        it.topic = topic;
        it.agenda_item = agenda_item;
        MUST(gv_store_mitem_add(st, mtg, &it, &id));
        return id;
}

static void say(int64_t mtg, int64_t ts, const char *nick, const char *text, bool action)
{
        MUST(gv_store_line_add(st, mtg, ts, nick, text, action, NULL));
}

static int64_t agenda_item(int64_t mtg, const char *desc, const char *reporter, const char *mentions,
                           const char *event_id)
{
        struct gv_item it = { 0 };
        int64_t id = 0;

        it.agenda = (char *)"architecture";
        it.description = (char *)desc;
        it.reporter = (char *)reporter;
        it.mentions = (char *)mentions;
        it.room = (char *)"!room:ex.org";
        it.event_id = (char *)event_id;
        it.created = T(9, 0, 0);
        MUST(gv_store_item_add(st, &it, &id));
        MUST(gv_store_item_set_discussed(st, id, mtg));
        return id;
}

/* Renders into a fresh string the caller frees; NULL on error. */
static char *render(int64_t mtg, enum gv_minutes_fmt fmt)
{
        struct gv_buf b = GV_BUF_INIT(OUT_MAX);
        char *s = NULL;
        enum gv_err r = gv_minutes_render(st, &cfg, mtg, fmt, &b);

        if (r != GV_OK) {
                fprintf(stderr, "render(%lld, %d): %s\n", (long long)mtg, (int)fmt, gv_strerror(r));
                gv_buf_free(&b);
                return NULL;
        }
        if (gv_buf_steal(&b, &s) != GV_OK)
                s = NULL;
        gv_buf_free(&b);
        return s;
}

/* The text between the first `from` and the following `to`, in a static
 * buffer; "" when either is missing. */
static const char *between(const char *s, const char *from, const char *to)
{
        static char out[4096];
        const char *a = s ? strstr(s, from) : NULL, *b;
        size_t n;

        out[0] = '\0';
        if (!a)
                return out;
        a += strlen(from);
        b = strstr(a, to);
        if (!b)
                return out;
        n = (size_t)(b - a);
        if (n >= sizeof(out))
                n = sizeof(out) - 1;
        memcpy(out, a, n);
        out[n] = '\0';
        return out;
}

/* ---- exact plain-text minutes ---- */

static const char want_text[] =
        "=====================\n"
        "#meeting: weekly sync\n"
        "=====================\n"
        "\n"
        "\n"
        "Meeting started by alice at 13:00:44 UTC. The full logs are available at "
        "weekly_sync.2017-05-08-13.00.log.html .\n"
        "\n"
        "\n"
        "\n"
        "Meeting summary\n"
        "---------------\n"
        "* INFO: early note  (alice, 13:02:00)\n"
        "\n"
        "* Agenda  (alice, 13:02:42)\n"
        "  * INFO: first thing  (bob, 13:03:29)\n"
        "  * ACTION: bob to fix the build  (alice, 13:04:00)\n"
        "\n"
        "* Discuss keyframes  (alice, 13:05:40)\n"
        "  * LINK: https://example.com/x?a=1&b=2  (carol, 13:27:10)\n"
        "  * ACTION: @CAROL: review the PR  (alice, 13:28:00)\n"
        "  * ACTION: someone should write docs  (alice, 13:29:00)\n"
        "  * AGREED: ship it  (bob, 13:30:00)\n"
        "\n"
        "Meeting ended at 13:42:33 UTC.\n"
        "\n"
        "\n"
        "\n"
        "Action Items\n"
        "------------\n"
        "* bob to fix the build\n"
        "* @CAROL: review the PR\n"
        "* someone should write docs\n"
        "\n"
        "\n"
        "\n"
        "Action Items, by person\n"
        "-----------------------\n"
        "* bob\n"
        "  * bob to fix the build\n"
        "* carol\n"
        "  * @CAROL: review the PR\n"
        "* **UNASSIGNED**\n"
        "  * someone should write docs\n"
        "\n"
        "\n"
        "\n"
        "People Present (lines said)\n"
        "---------------------------\n"
        "* alice (8)\n"
        "* bob (3)\n"
        "* carol (3)\n"
        "* gavel (1)\n"
        "\n"
        "\n"
        "\n"
        "Generated by gavel " GAVEL_VERSION "\n";

static int64_t build_weekly(bool end)
{
        int64_t m = meeting("weekly sync", "alice", T(13, 0, 44));
        int64_t agenda, keyframes, ag;

        MUST(gv_store_chair_set(st, m, "Bob", true));
        say(m, T(13, 0, 44), "alice", "#startmeeting weekly sync", false);
        say(m, T(13, 0, 45), "gavel", "Meeting started", false);
        say(m, T(13, 1, 0), "bob", "hi", false);
        say(m, T(13, 1, 10), "carol", "hello", false);
        say(m, T(13, 2, 0), "alice", "#info early note", false);
        say(m, T(13, 2, 42), "alice", "#topic Agenda", false);
        say(m, T(13, 3, 29), "bob", "#info first thing", false);
        say(m, T(13, 4, 0), "alice", "#action bob to fix the build", false);
        say(m, T(13, 5, 40), "alice", "#topic Discuss keyframes", false);
        say(m, T(13, 6, 0), "carol", "waves", true);
        say(m, T(13, 27, 10), "carol", "#link https://example.com/x?a=1&b=2", false);
        say(m, T(13, 28, 0), "alice", "#action @CAROL: review the PR", false);
        say(m, T(13, 29, 0), "alice", "#action someone should write docs", false);
        say(m, T(13, 30, 0), "bob", "#agreed ship it", false);
        say(m, T(13, 42, 33), "alice", "#endmeeting", false);

        ag = agenda_item(m, "Discuss keyframes cc @jviotti", "hedss", "@jviotti", "$kf");
        note(m, T(13, 2, 0), "alice", GV_M_INFO, "early note", 0, 0);
        agenda = note(m, T(13, 2, 42), "alice", GV_M_TOPIC, "Agenda", 0, 0);
        note(m, T(13, 3, 29), "bob", GV_M_INFO, "first thing", agenda, 0);
        note(m, T(13, 4, 0), "alice", GV_M_ACTION, "bob to fix the build", agenda, 0);
        keyframes = note(m, T(13, 5, 40), "alice", GV_M_TOPIC, "Discuss keyframes", agenda, ag);
        note(m, T(13, 27, 10), "carol", GV_M_LINK, "https://example.com/x?a=1&b=2", keyframes, 0);
        note(m, T(13, 28, 0), "alice", GV_M_ACTION, "@CAROL: review the PR", keyframes, 0);
        note(m, T(13, 29, 0), "alice", GV_M_ACTION, "someone should write docs", keyframes, 0);
        note(m, T(13, 30, 0), "bob", GV_M_AGREED, "ship it", keyframes, 0);
        if (end)
                MUST(gv_store_meeting_end(st, m, T(13, 42, 33)));
        return m;
}

static void test_text(void)
{
        int64_t m = build_weekly(true), running = build_weekly(false);
        char *s = render(m, GV_MIN_TEXT);

        CHECK_STR("full text minutes", s, want_text);
        free(s);

        s = render(running, GV_MIN_TEXT);
        CHECK(s && !strstr(s, "Meeting ended"), "running meeting: no \"Meeting ended\" line");
        CHECK(s && strstr(s, "  * AGREED: ship it  (bob, 13:30:00)\n\n\n\n\nAction Items\n"),
              "running meeting: summary runs into Action Items");
        free(s);
}

/* ---- actions by person ---- */

struct person_case {
        const char *name;
        const char *actions[3];
        const char *want;       /* the "Action Items, by person" body */
};

static const struct person_case person_cases[] = {
        { "case-insensitive",  { "ALICE to write it" },       "* alice\n  * ALICE to write it\n" },
        { "@nick of #nick",    { "ping @dave about it" },     "* dave\n  * ping @dave about it\n" },
        { "nick: address",     { "dave: look at it" },        "* dave\n  * dave: look at it\n" },
        { "chair, two people", { "erin and Bob pair" },       "* bob\n  * erin and Bob pair\n* Erin\n  * erin and Bob pair\n" },
        { "slash separates",   { "alice/bob decide" },        "* alice\n  * alice/bob decide\n* bob\n  * alice/bob decide\n" },
        { "whole words only",  { "alicex and bobcat" },       "* **UNASSIGNED**\n  * alicex and bobcat\n" },
        { "bot holds nothing", { "GAVEL posts the minutes" }, "* **UNASSIGNED**\n  * GAVEL posts the minutes\n" },
        { "some unassigned",   { "bob does a", "nobody b" },  "* bob\n  * bob does a\n* **UNASSIGNED**\n  * nobody b\n" },
        { "order of actions",  { "x for bob", "bob again" },  "* bob\n  * x for bob\n  * bob again\n" },
        { "sorted by nick",    { "zoe and alice" },           "* alice\n  * zoe and alice\n* zoe\n  * zoe and alice\n" },
        { "no actions",        { NULL },                      "* **UNASSIGNED**\n  * (none)\n" },
};

static void test_by_person(void)
{
        size_t i, j;

        for (i = 0; i < sizeof(person_cases) / sizeof(person_cases[0]); i++) {
                const struct person_case *c = &person_cases[i];
                int64_t m = meeting("people", "alice", T(13, 0, 0)), topic;
                char *s;

                MUST(gv_store_chair_set(st, m, "Erin", true));
                MUST(gv_store_nick_add(st, m, "dave"));
                say(m, T(13, 0, 1), "alice", "hi", false);
                say(m, T(13, 0, 2), "bob", "hi", false);
                say(m, T(13, 0, 3), "gavel", "hi", false);
                say(m, T(13, 0, 4), "zoe", "hi", false);
                say(m, T(13, 0, 5), "zoe", "hi", false);
                topic = note(m, T(13, 1, 0), "alice", GV_M_TOPIC, "t", 0, 0);
                for (j = 0; j < 3 && c->actions[j]; j++)
                        note(m, T(13, 2, (int)j), "alice", GV_M_ACTION, c->actions[j], topic, 0);
                s = render(m, GV_MIN_TEXT);
                CHECK_STR(c->name, between(s, "Action Items, by person\n-----------------------\n",
                                           "\n\n\nPeople Present"),
                          c->want);
                free(s);
        }
}

/* ---- HTML ---- */

struct html_case {
        const char *what;
        const char *needle;
        bool present;
};

static const struct html_case html_cases[] = {
        { "no raw <script> anywhere",   "<script",                                     false },
        { "name escaped",               "<h3>#meeting: &lt;script&gt;alert(1)&lt;/script&gt;</h3>", true },
        { "starter quote escaped",      "Meeting started by ev&quot;il at 13:00:00 UTC.</p>", true },
        { "topic escaped",              "<li><b>&lt;script&gt;x&lt;/script&gt; &quot;q&quot;</b> (ev&quot;il, 13:01:00)", true },
        { "nick escaped",               "(&lt;b&gt;nick, 13:02:00)",                   true },
        { "no raw quote in a nick",     "ev\"il",                                      false },
        { "safe link",                  "<li><b>LINK:</b> <a href=\"https://ok.example/a?b=1&amp;c=2\">https://ok.example/a?b=1&amp;c=2</a> (", true },
        { "javascript: not a link",     "<li><b>LINK:</b> javascript:alert(1) (",     true },
        { "no javascript href",         "href=\"javascript",                           false },
        { "quote in URL: not a link",   "<li><b>LINK:</b> https://ex.com/?q=&quot;&gt;&lt;b&gt; (", true },
        { "no href into ex.com",        "href=\"https://ex.com",                       false },
        { "lone quote: not a link",     "<li><b>LINK:</b> https://q.example/a&quot;onmouseover=x (", true },
        { "no href into q.example",     "href=\"https://q.example",                    false },
        { "URL first word of INFO",     "<b>INFO:</b> <a href=\"http://x.org/y\">http://x.org/y</a> and more (", true },
        { "URL later in text: no link", "<b>INFO:</b> see http://x.org/z (",           true },
        { "action item listed",         "<h4>Action items</h4>\n<ul>\n<li>ask &lt;b&gt;nick &amp; co</li>\n</ul>", true },
        { "by person, escaped nick",    "<li>&lt;b&gt;nick<ul>\n<li>ask &lt;b&gt;nick &amp; co</li>", true },
        { "people present",             "<h4>People present (lines said)</h4>\n<ul>\n<li>&lt;b&gt;nick (2)</li>", true },
        { "newline collapsed",          "two lines", true },
};

static void test_html(void)
{
        int64_t m = meeting("<script>alert(1)</script>", "ev\"il", T(13, 0, 0)), topic;
        char *s, *page;
        size_t i;

        say(m, T(13, 0, 1), "<b>nick", "x", false);
        say(m, T(13, 0, 2), "<b>nick", "y", false);
        topic = note(m, T(13, 1, 0), "ev\"il", GV_M_TOPIC, "<script>x</script> \"q\"", 0, 0);
        note(m, T(13, 2, 0), "<b>nick", GV_M_INFO, "two\nlines", topic, 0);
        note(m, T(13, 2, 1), "a", GV_M_LINK, "https://ok.example/a?b=1&c=2", topic, 0);
        note(m, T(13, 2, 2), "a", GV_M_LINK, "javascript:alert(1)", topic, 0);
        note(m, T(13, 2, 3), "a", GV_M_LINK, "https://ex.com/?q=\"><b>", topic, 0);
        note(m, T(13, 2, 3), "a", GV_M_LINK, "https://q.example/a\"onmouseover=x", topic, 0);
        note(m, T(13, 2, 4), "a", GV_M_INFO, "http://x.org/y and more", topic, 0);
        note(m, T(13, 2, 5), "a", GV_M_INFO, "see http://x.org/z", topic, 0);
        note(m, T(13, 2, 6), "a", GV_M_ACTION, "ask <b>nick & co", topic, 0);
        s = render(m, GV_MIN_HTML);
        CHECK(s != NULL, "html renders");
        for (i = 0; s && i < sizeof(html_cases) / sizeof(html_cases[0]); i++)
                CHECK((strstr(s, html_cases[i].needle) != NULL) == html_cases[i].present,
                      "html: %s", html_cases[i].what);

        page = render(m, GV_MIN_HTML_PAGE);
        /* MeetBot's HTML2 page, with the title escaped (MeetBot leaves it raw) */
        CHECK(page && strncmp(page, "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n",
                              64) == 0, "html page: head");
        CHECK(page && strstr(page, "<title>#meeting: &lt;script&gt;alert(1)&lt;/script&gt;</title>"),
              "html page: title escaped");
        CHECK(page && strstr(page, "<span class=\"INFO\">two lines</span>"),
              "html page: an item on one line");
        CHECK(page && strstr(page, "href=\"https://ok.example/a?b=1&amp;c=2\">"),
              "html page: a link");
        CHECK(page && !strstr(page, "href=\"javascript"), "html page: no javascript: link");
        CHECK(page && strstr(page, "https://ex.com/?q=%22&gt;&lt;b&gt;\">"),
              "html page: a quote in a URL is %%22");
        CHECK(page && strstr(page, "<li> &lt;b&gt;nick <ol>\n    <li>ask &lt;b&gt;nick &amp; co</li>"),
              "html page: actions by person, escaped");
        CHECK(page && strlen(page) > 15 && strcmp(page + strlen(page) - 15, "</body></html>\n") == 0,
              "html page: tail");
        CHECK(page && !strstr(page, "<script"), "html page: no raw <script>");
        free(page);
        free(s);

        /* No actions at all. */
        m = meeting("quiet", "alice", T(13, 0, 0));
        s = render(m, GV_MIN_HTML);
        CHECK(s && strstr(s, "<h4>Action items</h4>\n<ul>\n<li>(none)</li>\n</ul>\n"
                             "<h4>Action items, by person</h4>\n<ul>\n<li><b>UNASSIGNED</b><ul>\n"
                             "<li>(none)</li>\n</ul></li>\n</ul>\n"),
              "html: no actions");
        free(s);

        /* The plain text takes user text as-is, on one line. */
        m = meeting("nl", "alice", T(13, 0, 0));
        note(m, T(13, 1, 0), "alice", GV_M_TOPIC, "line1\nline2\r\nx", 0, 0);
        s = render(m, GV_MIN_TEXT);
        CHECK(s && strstr(s, "\n* line1 line2  x  (alice, 13:01:00)\n"), "text: CR/LF collapsed");
        free(s);
}

/* ---- Markdown ---- */

/* A printf format: %s is the escaped General item. */
static const char want_md[] =
        "### 8 May 2017\n"
        "\n"
        "**General**\n"
        "- Summary (author: @bob)\n"
        "\n"
        "- INFO: %s\n"
        "\n"
        "\n"
        "**Discuss \\*keyframes\\***\n"
        "- Reporter: @hedss\n"
        "- Mentions: @jviotti @b\\_c\n"
        "- Ticket: https://matrix.to/#/!room:ex.org/%%24ev%%231\n"
        "- Summary (author: @dave)\n"
        "\n"
        "- INFO: c1\n"
        "- ACTION: d1\n"
        "- AGREED: d2\n"
        "\n"
        "\n"
        "**Plain \\_topic\\_**\n"
        "- Summary (author: @bob)\n"
        "\n"
        "No notes.\n"
        "\n"
        "\n"
        "**Tie topic**\n"
        "- Summary (author: @erin)\n"
        "\n"
        "- INFO: e1\n"
        "- INFO: f1\n"
        "\n"
        "\n"
        "**Item B**\n"
        "- Reporter: @zed\\_z\n"
        "- Summary (author: @alice)\n"
        "\n"
        "No notes.\n"
        "\n"
        "\n"
        "Minutes: md\\_test.2017-05-08-13.00.html\n"
        "\n";

/* Every character that could start inline Markdown is backslash-escaped. */
static bool md_inert(const char *s)
{
        size_t i;

        for (i = 0; s[i]; i++) {
                if (s[i] == '\\') {
                        if (s[i + 1])
                                i++;
                        continue;
                }
                if (strchr("*_[]`<>", s[i]))
                        return false;
        }
        return true;
}

static void test_markdown(void)
{
        int64_t m = meeting("md test", "alice", T(13, 0, 44));
        struct gv_buf esc = GV_BUF_INIT(256);
        int64_t a, b, t1, t2, t3, t4;
        char want[2048];
        const char *line;
        char *s;

        a = agenda_item(m, "Discuss *keyframes*", "@hedss", "@jviotti @b_c", "$ev#1");
        b = agenda_item(m, "Item B", "zed_z", "", NULL);
        note(m, T(13, 1, 0), "bob", GV_M_INFO, "*bold* [x](y)", 0, 0);
        t1 = note(m, T(13, 2, 0), "alice", GV_M_TOPIC, "Discuss keyframes", 0, a);
        note(m, T(13, 3, 0), "carol", GV_M_INFO, "c1", t1, 0);
        note(m, T(13, 4, 0), "dave", GV_M_ACTION, "d1", t1, 0);
        t2 = note(m, T(13, 5, 0), "bob", GV_M_TOPIC, "Plain _topic_", t1, 0);
        (void)t2;
        t3 = note(m, T(13, 6, 0), "alice", GV_M_TOPIC, "back to keyframes", t2, a);
        note(m, T(13, 7, 0), "dave", GV_M_AGREED, "d2", t3, 0);
        t4 = note(m, T(13, 8, 0), "alice", GV_M_TOPIC, "Tie topic", t3, 0);
        note(m, T(13, 9, 0), "erin", GV_M_INFO, "e1", t4, 0);
        note(m, T(13, 9, 1), "frank", GV_M_INFO, "f1", t4, 0);
        note(m, T(13, 10, 0), "alice", GV_M_TOPIC, "B", t4, b);
        MUST(gv_store_meeting_end(st, m, T(13, 30, 0)));
        s = render(m, GV_MIN_MARKDOWN);
        /* The template exactly; the escaping of the General item is judged
         * below, by what it must prevent, not by gv_md_escape's exact form. */
        MUST(gv_md_escape(&esc, "*bold* [x](y)"));
        snprintf(want, sizeof(want), want_md, gv_buf_str(&esc));
        CHECK_STR("markdown section", s, want);
        line = between(s, "- INFO: ", "\n");
        CHECK(strncmp(line, "\\*bold\\* \\[x\\]", 14) == 0, "markdown: *bold* [x] escaped (%s)", line);
        CHECK(md_inert(line), "markdown: no live markup in %s", line);
        CHECK(strstr(s, "\n- Summary (author: @bob)\n\nNo notes.\n"), "markdown: no notes");
        CHECK(!strstr(s, "Mentions: @\n") && !strstr(s, "Mentions:  "), "markdown: no empty mentions");
        free(s);
        gv_buf_free(&esc);

        /* A meeting with nothing noted: the heading and the link. */
        m = meeting("", "alice", T(13, 0, 44));
        s = render(m, GV_MIN_MARKDOWN);
        CHECK_STR("markdown, empty meeting", s,
                  "### 8 May 2017\n\nMinutes: meeting.2017-05-08-13.00.html\n\n");
        free(s);
}

/* ---- logs ---- */

static const int64_t times[] = {
        0, 999, 1000, -1, -999, -1000, -1500, 86399999, 86400000, T(23, 59, 59) + 999,
        4102444799000LL, -86400001LL,
};

static void test_logs(void)
{
        int64_t m = meeting("log", "alice", T(13, 0, 44));
        const char *p;
        char *s;
        size_t i;

        say(m, T(13, 0, 44), "alice", "hello <b>&", false);
        say(m, T(13, 0, 45), "carol", "waves \"hi\"", true);
        say(m, T(13, 0, 46), "bob", "multi\nline\r", false);
        say(m, T(13, 0, 47), "Mr X", "yo", false);
        say(m, T(13, 0, 48), "bob", "", false);

        s = render(m, GV_MIN_LOG_TEXT);
        CHECK_STR("log text", s,
                  "13:00:44 <alice> hello <b>&\n"
                  "13:00:45 * carol waves \"hi\"\n"
                  "13:00:46 <bob> multi line \n"
                  "13:00:47 <Mr_X> yo\n"
                  "13:00:48 <bob> ");
        free(s);

        s = render(m, GV_MIN_LOG_HTML);
        CHECK(s && strncmp(s, "<!DOCTYPE HTML PUBLIC", 21) == 0, "log html: a document");
        CHECK(s && strstr(s, "<title>#meeting log</title>"), "log html: title");
        CHECK(s && strstr(s, "<pre><a name=\"l-1\"></a><span class=\"tm\">13:00:44</span><span "
                             "class=\"nk\"> &lt;alice&gt;</span> hello &lt;b&gt;&amp;\n"),
              "log html: line");
        CHECK(s && strstr(s, "\n<a name=\"l-2\"></a><span class=\"tm\">13:00:45 </span><span "
                             "class=\"nka\">* carol</span> <span class=\"ac\">waves \"hi\"</span>\n"),
              "log html: action");
        CHECK(s && strstr(s, "<a name=\"l-3\"></a><span class=\"tm\">13:00:46</span><span "
                             "class=\"nk\"> &lt;bob&gt;</span> multi line \n"),
              "log html: newline collapsed");
        CHECK(s && strstr(s, "<span class=\"nk\"> &lt;Mr_X&gt;</span> yo\n"), "log html: nick one word");
        CHECK(s && strstr(s, "<a name=\"l-5\"></a>") && !strstr(s, "l-6"), "log html: numbered from 1");
        CHECK(s && strstr(s, "&lt;bob&gt;</span> </pre>\n</body></html>\n"), "log html: MeetBot's end");
        CHECK(s && strlen(s) > 15 && strcmp(s + strlen(s) - 15, "</body></html>\n") == 0,
              "log html: tail");
        free(s);

        /* Control characters (not a tab) become spaces, in both logs, with
         * the HTML escapes around them. */
        m = meeting("controls", "alice", T(13, 0, 44));
        say(m, T(13, 0, 44), "al\x01ice", "a\x01<b>\x7f&\tc\x1b", false);
        s = render(m, GV_MIN_LOG_TEXT);
        CHECK_STR("log text, control characters", s, "13:00:44 <al_ice> a <b> &\tc ");
        free(s);
        s = render(m, GV_MIN_LOG_HTML);
        CHECK(s && strstr(s, "&lt;al_ice&gt;</span> a &lt;b&gt; &amp;\tc </pre>"),
              "log html: control characters are spaces, escapes kept");
        free(s);

        m = meeting("empty", "alice", T(13, 0, 44));
        s = render(m, GV_MIN_LOG_TEXT);
        CHECK_STR("log text, no lines", s, "");
        free(s);

        /* The log's own time formatting agrees with gv_fmt_hms. */
        m = meeting("times", "alice", T(13, 0, 44));
        for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
                say(m, times[i], "x", "y", false);
        s = render(m, GV_MIN_LOG_TEXT);
        for (i = 0, p = s; p && i < sizeof(times) / sizeof(times[0]); i++) {
                char want[9];

                gv_fmt_hms(times[i], want);
                CHECK(strncmp(p, want, 8) == 0 && p[8] == ' ', "log time %lld: want %s, got %.8s",
                      (long long)times[i], want, p);
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        free(s);
}

/* ---- small functions ---- */

struct base_case {
        const char *name;
        int64_t started;
        const char *want;
};

static const struct base_case base_cases[] = {
        { "weekly sync",        T(13, 0, 44),          "weekly_sync.2017-05-08-13.00" },
        { "",                   T(13, 0, 44),          "meeting.2017-05-08-13.00" },
        { NULL,                 T(9, 5, 0),            "meeting.2017-05-08-09.05" },
        { "a/b..c",             T(13, 0, 44),          "a_b__c.2017-05-08-13.00" },
        { "../../etc/passwd",   T(13, 0, 44),          "______etc_passwd.2017-05-08-13.00" },
        { "caf\xc3\xa9 x-y_z",  T(13, 0, 44),          "caf__x-y_z.2017-05-08-13.00" },
        { "\xe2\x98\xba",       T(13, 0, 44),          "_.2017-05-08-13.00" },
        { "a\nb\tc\"d'e<f>",    T(13, 0, 44),          "a_b_c_d_e_f_.2017-05-08-13.00" },
        { "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", T(13, 0, 44),
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.2017-05-08-13.00" },
        { "new year",           1514764799000LL,       "new_year.2017-12-31-23.59" },
};

struct base_try_case {
        const char *name;
        const char *room;
        int64_t started;
        unsigned k;
        const char *want;
};

static const struct base_try_case base_try_cases[] = {
        { "Weekly",    "!abc:example.org", T(10, 0, 5),  0, "Weekly.2017-05-08-10.00" },
        { "Weekly",    "!abc:example.org", T(10, 0, 5),  1, "Weekly.abc_example_org.2017-05-08-10.00.05" },
        { "Weekly",    "!abc:example.org", T(10, 0, 5),  2, "Weekly.abc_example_org.2017-05-08-10.00.05-2" },
        { "Weekly",    "!abc:example.org", T(10, 0, 59), 17, "Weekly.abc_example_org.2017-05-08-10.00.59-17" },
        { "Arch call", "r/one",            T(13, 0, 44), 1, "Arch_call.r_one.2017-05-08-13.00.44" },
        { "\xc3\xa9t\xc3\xa9", "#\xc3\xa9:x", T(13, 0, 0),  1, "_t_.__x.2017-05-08-13.00.00" },
        { "",          "!!!",              T(13, 0, 0),  1, "meeting.room.2017-05-08-13.00.00" },
        { "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
          "!yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy:example.org",
          T(13, 0, 0), 4294967295u,
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx."
          "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy.2017-05-08-13.00.00-4294967295" },
};

struct link_case {
        const char *room;
        const char *event;
        enum gv_err err;
        const char *want;
};

static const struct link_case link_cases[] = {
        { "!room:ex.org",     "$abc",           GV_OK,     "https://matrix.to/#/!room:ex.org/%24abc" },
        { "#alias:ex.org",    "$e",             GV_OK,     "https://matrix.to/#/%23alias:ex.org/%24e" },
        { "!r:ex.org",        "$a/b?c d&e=f",   GV_OK,     "https://matrix.to/#/!r:ex.org/%24a%2Fb%3Fc%20d%26e%3Df" },
        { "!r-._~@:x",        "$A9-._~",        GV_OK,     "https://matrix.to/#/!r-._~@:x/%24A9-._~" },
        { "!r:x",             "$\xc3\xa9%",     GV_OK,     "https://matrix.to/#/!r:x/%24%C3%A9%25" },
        { NULL,               "$e",             GV_EINVAL, "" },
        { "!r:x",             NULL,             GV_EINVAL, "" },
};

static void test_small(void)
{
        static const char *const want_label[GV_M__COUNT] = {
                "TOPIC", "INFO", "ACTION", "AGREED", "ACCEPTED", "REJECTED", "IDEA", "LINK",
                "HELP", "VOTE", "UPDATE", "QUESTION", "OTHER", "CHECKIN",
        };
        static const char *const want_cmd[GV_M__COUNT] = {
                "topic", "info", "action", "agreed", "accepted", "rejected", "idea", "link",
                "help", "vote", "update", "question", "other", "checkin",
        };
        char base[96];
        size_t i;

        for (i = 0; i < sizeof(base_cases) / sizeof(base_cases[0]); i++) {
                memset(base, 'Z', sizeof(base));
                gv_minutes_basename(base_cases[i].name, base_cases[i].started, base);
                CHECK_STR("basename", base, base_cases[i].want);
        }
        for (i = 0; i < sizeof(base_try_cases) / sizeof(base_try_cases[0]); i++) {
                const struct base_try_case *c = &base_try_cases[i];
                char b[GV_MINUTES_BASE_SIZE];

                memset(b, 'Z', sizeof(b));
                gv_minutes_basename_try(c->name, c->room, c->started, c->k, b);
                CHECK_STR("basename try", b, c->want);
                CHECK(strlen(b) + strlen(".log.html") <= 200, "basename try %zu: too long", i);
        }
        {
                struct gv_meeting m = { .name = "Arch call", .started = T(13, 0, 44) };
                char b[GV_MINUTES_BASE_SIZE];

                gv_minutes_file_base(&m, b);
                CHECK_STR("file base, none reserved", b, "Arch_call.2017-05-08-13.00");
                m.file_base = "Arch_call.r_one.2017-05-08-13.00.44";
                gv_minutes_file_base(&m, b);
                CHECK_STR("file base, reserved", b, "Arch_call.r_one.2017-05-08-13.00.44");
        }
        for (i = 0; i < sizeof(link_cases) / sizeof(link_cases[0]); i++) {
                struct gv_buf b = GV_BUF_INIT(4096);
                enum gv_err r = gv_permalink(&b, link_cases[i].room, link_cases[i].event);

                CHECK(r == link_cases[i].err, "permalink %zu: error %d", i, (int)r);
                CHECK_STR("permalink", gv_buf_str(&b), link_cases[i].want);
                gv_buf_free(&b);
        }
        for (i = 0; i < GV_M__COUNT; i++) {
                CHECK_STR("label", gv_mkind_label((enum gv_mkind)i), want_label[i]);
                CHECK_STR("command", gv_mkind_command((enum gv_mkind)i), want_cmd[i]);
        }
}

/* ---- errors leave the buffer alone ---- */

static void test_errors(void)
{
        int64_t m = build_weekly(true);
        int fmt;

        for (fmt = GV_MIN_TEXT; fmt <= GV_MIN_MB_TEXT; fmt++) {
                struct gv_buf b = GV_BUF_INIT(200);
                enum gv_err r;

                MUST(gv_buf_adds(&b, "keep"));
                r = gv_minutes_render(st, &cfg, m, (enum gv_minutes_fmt)fmt, &b);
                CHECK(r == GV_ETOOBIG, "format %d over the limit: %s", fmt, gv_strerror(r));
                CHECK(b.len == 4 && strcmp(gv_buf_str(&b), "keep") == 0, "format %d: buffer restored",
                      fmt);
                r = gv_minutes_render(st, &cfg, 999999, (enum gv_minutes_fmt)fmt, &b);
                CHECK(r == GV_ENOTFOUND, "format %d, no such meeting: %s", fmt, gv_strerror(r));
                CHECK(b.len == 4, "buffer untouched when not found");
                gv_buf_free(&b);
        }
        {
                struct gv_buf b = GV_BUF_INIT(200);

                CHECK(gv_minutes_render(st, &cfg, m, (enum gv_minutes_fmt)42, &b) == GV_EINVAL,
                      "unknown format");
                gv_buf_free(&b);
        }
        /* The minutes as a message over its ceiling are cut, never refused:
         * the text at a line with the note, the HTML left out. */
        {
                struct gv_buf body = GV_BUF_INIT(300), html = GV_BUF_INIT(100), full = GV_BUF_INIT(1 << 20);
                const char *note = GV_MINUTES_CUT_NOTE;
                char extra[64];
                enum gv_err r;
                size_t keep;

                snprintf(extra, sizeof(extra), "{\"meeting\":%lld}", (long long)m);
                MUST(gv_minutes_render(st, &cfg, m, GV_MIN_TEXT, &full));
                r = gv_minutes_for_outbox(st, &cfg, GV_OUT_MINUTES, extra, &body, &html);
                keep = body.len > strlen(note) ? body.len - strlen(note) : 0;
                CHECK(r == GV_OK, "minutes over the ceiling render: %s", gv_strerror(r));
                CHECK(full.len > 300 && body.len <= 300 && body.len > strlen(note) &&
                      strcmp(body.p + keep, note) == 0 && strncmp(body.p, full.p, keep) == 0 &&
                      (keep == 0 || full.p[keep] == '\n'),
                      "minutes over the ceiling are cut at a line with a note: [%s]",
                      gv_buf_str(&body));
                CHECK(html.len == 0, "HTML over its ceiling is left out (%zu bytes)", html.len);
                gv_buf_free(&body);
                gv_buf_free(&html);
                gv_buf_free(&full);
        }
}

/* ---- a big meeting: every format, timed (reported, not asserted) ---- */

static void test_big(void)
{
        int64_t m = meeting("big", "alice", T(10, 0, 0)), topic = 0;
        static const char *const nicks[] = { "alice", "bob", "carol", "dave", "erin" };
        char text[128];
        size_t nl = 0;
        clock_t c0;
        int i, fmt;

        MUST(gv_store_begin(st));
        for (i = 0; i < 10000; i++) {
                const char *nick = nicks[i % 5];

                snprintf(text, sizeof(text), "line %d with <html> & \"quotes\" and *markdown*", i);
                say(m, T(10, 0, 0) + i * 1000LL, nick, text, i % 50 == 0);
                if (i % 500 == 0)
                        topic = note(m, T(10, 0, 0) + i * 1000LL, nick, GV_M_TOPIC, text, 0, 0);
                else if (i % 20 == 0)
                        note(m, T(10, 0, 0) + i * 1000LL, nick, (enum gv_mkind)(1 + i % 9), text,
                             topic, 0);
        }
        MUST(gv_store_meeting_end(st, m, T(13, 0, 0)));
        MUST(gv_store_commit(st));

        c0 = clock();
        for (fmt = GV_MIN_TEXT; fmt <= GV_MIN_MB_TEXT; fmt++) {
                char *s = render(m, (enum gv_minutes_fmt)fmt);

                CHECK(s != NULL, "big meeting renders in format %d", fmt);
                if (s && fmt == GV_MIN_LOG_TEXT)
                        for (const char *p = s; (p = strchr(p, '\n')); p++)
                                nl++;
                free(s);
        }
        CHECK(nl == 9999, "big log text has 10000 lines, no final newline (%zu)", nl);
        fprintf(stderr, "info: 10,000-line meeting, all seven formats: %.1f ms\n",
                (double)(clock() - c0) * 1000.0 / CLOCKS_PER_SEC);
}


/* ---- MeetBot's layouts (handlers/meetbot.c) ---- */

/* Expected values from Python's textwrap, called as MeetBot calls it
 * (TextWrapper with wordsep_re (\s+), width 72, break_long_words False). */
static const struct {
        const char *in;
        size_t indent, sub;
        const char *want;
} wrap_cases[] = {
        { "* short", 0, 2,
          "* short" },
        { "* We have a quorum of Board members, safe to proceed :)  (quaid, 21:58:58)", 0, 2,
          "* We have a quorum of Board members, safe to proceed :)  (quaid,\n  21:58:58)" },
        { "* current boundaries for the SIG are to include alternate desktop environments (DEs) with the future expansion in to styling  (quaid, 22:18:46)", 2, 4,
          "  * current boundaries for the SIG are to include alternate desktop\n    environments (DEs) with the future expansion in to styling  (quaid,\n    22:18:46)" },
        { "* xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx tail  (nick, 10:00:00)", 0, 2,
          "*\n  xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n  tail  (nick, 10:00:00)" },
        { "* a  yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy   b", 2, 4,
          "  * a\n    yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n    b" },
        { "* tab\there and\tthere w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w ", 0, 2,
          "* tab   here and        there w w w w w w w w w w w w w w w w w w w w w\n  w w w w w w w w w w w w w w w w w w w" },
        { "* héllo wörld üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü end", 0, 2,
          "* héllo wörld\n  üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü end" },
        { "Meeting started by quaid at 21:55:53 UTC. The full logs are available at centos-devel/2014/centos-devel.2014-04-02-21.55.log.html .", 0, 0,
          "Meeting started by quaid at 21:55:53 UTC. The full logs are available at\ncentos-devel/2014/centos-devel.2014-04-02-21.55.log.html ." },
        { "   lead z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z ", 0, 2,
          "   lead z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z z\n  z z z z z z z z" },
        { "* trailing spaces at the very end          ", 0, 2,
          "* trailing spaces at the very end" },
        { "* aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b", 0, 2,
          "* aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  b" },
        { "* aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b", 0, 2,
          "* aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  b" },
};

static void test_meetbot_wrap(void)
{
        for (size_t i = 0; i < sizeof(wrap_cases) / sizeof(wrap_cases[0]); i++) {
                struct gv_buf b = GV_BUF_INIT(1 << 20);
                char name[64];

                snprintf(name, sizeof(name), "textwrap case %zu", i);
                CHECK(gv_meetbot_wrap(&b, wrap_cases[i].in, wrap_cases[i].indent,
                                      wrap_cases[i].sub) == GV_OK, "%s runs", name);
                CHECK_STR(name, gv_buf_str(&b), wrap_cases[i].want);
                gv_buf_free(&b);
        }
}

static void test_meetbot_fields(void)
{
        char out[256];

        gv_meetbot_channel_field("#Fedora-Meeting/x ", out, sizeof(out));
        CHECK_STR("{channel}: no '#', lowercase, no '/'", out, "fedora-meetingx");
        gv_meetbot_name_field("  Fedora  QA\tMeeting ", out, sizeof(out));
        CHECK_STR("{meetingname}: lowercase, '_' for blanks", out, "fedora_qa_meeting");
        gv_meetbot_pattern("{channel}.%F-%H.%M", "centos-devel", "x", T(21, 55, 53), true, out,
                           sizeof(out));
        CHECK_STR("pattern: centbot's", out, "centos-devel.2017-05-08-21.55");
        gv_meetbot_pattern("{meetingname}.%Y-%m-%d-%H.%M.%S%%", "c", "a b/é", T(9, 5, 7), true, out,
                           sizeof(out));
        CHECK_STR("pattern: file-safe", out, "a_b___.2017-05-08-09.05.07_");
        gv_meetbot_pattern("https://meetbot.example.org/{channel}/%F/%q", "fedora-qa", "", T(9, 0, 0),
                           false, out, sizeof(out));
        CHECK_STR("pattern: a URL prefix", out, "https://meetbot.example.org/fedora-qa/2017-05-08/%q");
        gv_meetbot_pattern("{channel}{channel}{channel}", "0123456789", "", 0, true, out, 12);
        CHECK_STR("pattern: cut at the buffer", out, "01234567890");
}

/* Ties in "People Present" come out in the order of a Python 2 dict of the
 * nicks (CPython 2.7, 64-bit, UCS-4): the expected order was computed by an
 * independent emulation in Python. Chairs said nothing: (0). */
static void test_meetbot_people(void)
{
        static const char *const nicks[] = { "alice", "bob", "carol", "dave", "eve", "mallory",
                                             "trent", "peggy", "victor", "walter",
                                             "Zo\xc3\xab", ("\xce\xb6" "eta"), "x" };
        int64_t m = meeting("ties", "alice", T(10, 0, 0));
        char *s;

        for (size_t i = 0; i < sizeof(nicks) / sizeof(nicks[0]); i++)
                say(m, T(10, 0, (int)i), nicks[i], i == 0 ? "#chair range, bob" : "hi", false);
        say(m, T(10, 1, 0), "mallory", "#chair nobody", false);  /* not a chair: no effect */
        say(m, T(10, 1, 1), "mallory", "#nick ghost", false);
        note(m, T(10, 1, 2), "alice", GV_M_ACTION, "ghost and Bob to do it", 0, 0);
        s = render(m, GV_MIN_MB_TEXT);
        CHECK(s && strstr(s, "People Present (lines said)\n---------------------------\n"
                             "* mallory (3)\n* \xce\xb6" "eta (1)\n* eve (1)\n* Zo\xc3\xab (1)\n"
                             "* dave (1)\n* alice (1)\n* peggy (1)\n* trent (1)\n* x (1)\n"
                             "* carol (1)\n* walter (1)\n* bob (1)\n* victor (1)\n* ghost (0)\n"
                             "* range (0)\n\n"),
              "people present: by lines, ties in Python 2 dict order, chairs and #nick with 0");
        CHECK(s && !strstr(s, "nobody"), "people present: #chair by a non-chair adds no one");
        CHECK(s && strstr(s, "Action Items, by person\n-----------------------\n* bob\n"
                             "  * ghost and Bob to do it\n* ghost\n  * ghost and Bob to do it\n"
                             "* **UNASSIGNED**\n  * (none)\n"),
              "actions by person: sorted case-insensitively, an item under each nick it names");
        CHECK(s && strncmp(s, "==============\n#meeting: ties\n==============\n\n\n", 47) == 0,
              "title: channel and name (a meeting without a kept title)");
        free(s);
}


/* ---- the five files of a meeting come from one model ---- */

static enum gv_err to_buf(void *ud, const char *p, size_t n)
{
        return gv_buf_add(ud, p, n);
}

/* The file rows' renderings, as the outbox writes them: gv_minutes_file()
 * per row, the row marked sent after each (the drain's bookkeeping). */
static void render_files(int64_t m, struct gv_buf got[GV_MINUTES_N_FILES])
{
        size_t k;

        for (k = 0; k < GV_MINUTES_N_FILES; k++) {
                char extra[96];

                snprintf(extra, sizeof(extra), "{\"meeting\":%lld,\"format\":\"%s\"}",
                         (long long)m, gv_minutes_format_name(gv_minutes_files[k]));
                MUST(gv_store_outbox_add(st, GV_OUT_FILE, "f", "", NULL, extra, 1));
        }
        for (k = 0; k < GV_MINUTES_N_FILES; k++) {
                struct gv_sink_fn sink = { to_buf, &got[k] };
                struct gv_out o;

                MUST(gv_store_outbox_next(st, 0, &o));
                MUST(gv_minutes_file(st, &cfg, o.extra, &sink));
                MUST(gv_store_outbox_sent(st, o.id, 2));
                gv_out_clear(&o);
        }
}

static void test_one_model(void)
{
        int64_t m = build_weekly(true), other = build_weekly(true);
        struct gv_buf want[GV_MINUTES_N_FILES], got[GV_MINUTES_N_FILES];
        uint64_t loads;
        size_t k;

        /* each file alone, from a model of its own */
        for (k = 0; k < GV_MINUTES_N_FILES; k++) {
                gv_buf_init(&want[k], OUT_MAX);
                gv_buf_init(&got[k], OUT_MAX);
                gv_store_cache_set(st, NULL, NULL);
                MUST(gv_minutes_render(st, &cfg, m, gv_minutes_files[k], &want[k]));
        }
        gv_store_cache_set(st, NULL, NULL);
        loads = gv_minutes_model_loads();
        render_files(m, got);   /* (the rows are added first, as #endmeeting does) */
        CHECK(gv_minutes_model_loads() - loads == 1,
              "the five files of a meeting come from one load of its model, not %llu",
              (unsigned long long)(gv_minutes_model_loads() - loads));
        for (k = 0; k < GV_MINUTES_N_FILES; k++)
                CHECK(got[k].len == want[k].len && memcmp(got[k].p, want[k].p, got[k].len) == 0,
                      "file %s from the shared model is byte for byte the file rendered alone",
                      gv_minutes_format_name(gv_minutes_files[k]));

        /* the rows marked sent in between were no change: the same model */
        loads = gv_minutes_model_loads();
        free(render(m, GV_MIN_MB_TEXT));
        CHECK(gv_minutes_model_loads() == loads, "marking a row sent keeps the model");

        /* anything written: loaded again, and the files show it */
        say(m, T(13, 42, 40), "dave", "one more line", false);
        {
                char *log = render(m, GV_MIN_LOG_TEXT);

                CHECK(gv_minutes_model_loads() == loads + 1, "a new line: the model is loaded again");
                CHECK(log && strstr(log, "<dave> one more line") != NULL,
                      "the log rendered after a write has the new line");
                free(log);
        }
        /* another meeting, then back: a model each time */
        loads = gv_minutes_model_loads();
        free(render(other, GV_MIN_MB_TEXT));
        free(render(m, GV_MIN_MB_TEXT));
        CHECK(gv_minutes_model_loads() == loads + 2, "one model at a time, per meeting");
        /* the config's fields that shape the files: a change renders anew */
        {
                char *before = render(m, GV_MIN_MB_TEXT), *after;
                char *keep = cfg.channel;

                cfg.channel = (char *)"#elsewhere";
                after = render(m, GV_MIN_MB_TEXT);
                cfg.channel = keep;
                CHECK(before && after && strstr(after, "#elsewhere") && !strstr(before, "#elsewhere"),
                      "a changed channel is in the next rendering");
                free(before);
                free(after);
        }
        /* a rollback undoes what the model saw */
        MUST(gv_store_begin(st));
        say(m, T(13, 42, 50), "erin", "rolled back", false);
        free(render(m, GV_MIN_LOG_TEXT));
        gv_store_rollback(st);
        {
                char *log = render(m, GV_MIN_LOG_TEXT);

                CHECK(log && !strstr(log, "rolled back"), "a rolled-back line is not rendered");
                free(log);
        }
        for (k = 0; k < GV_MINUTES_N_FILES; k++) {
                gv_buf_free(&want[k]);
                gv_buf_free(&got[k]);
        }
}

/* ---- a meeting's files in one batch: one directory sync ---- */

static int file_syncs, dir_syncs, fail_dir_sync;

static int count_sync(int fd)
{
        struct stat sb;

        if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                dir_syncs++;
                if (fail_dir_sync) {
                        errno = EIO;
                        return -1;
                }
        } else {
                file_syncs++;
        }
        return 0;
}

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        struct gv_buf b = GV_BUF_INIT(OUT_MAX);
        char chunk[65536];
        size_t n;

        if (!f)
                return NULL;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                if (gv_buf_add(&b, chunk, n) != GV_OK)
                        break;
        fclose(f);
        *len = b.len;
        if (!b.p)
                return calloc(1, 1);
        return b.p;
}

static size_t count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
                        n++;
        closedir(d);
        return n;
}

static void batch_files(const char *dir, int64_t m, const char *base, bool batched)
{
        struct gv_archive_batch b;

        gv_archive_batch_init(&b, dir);
        for (size_t k = 0; k < GV_MINUTES_N_FILES; k++) {
                char extra[96], name[64];

                snprintf(extra, sizeof(extra), "{\"meeting\":%lld,\"format\":\"%s\"}",
                         (long long)m, gv_minutes_format_name(gv_minutes_files[k]));
                snprintf(name, sizeof(name), "%s.%s", base,
                         gv_minutes_format_name(gv_minutes_files[k]));
                if (batched)
                        MUST(gv_archive_batch_minutes(&b, name, st, &cfg, extra));
                else
                        MUST(gv_archive_minutes(dir, name, st, &cfg, extra));
        }
        if (batched) {
                enum gv_err r = gv_archive_batch_finish(&b);

                CHECK(fail_dir_sync ? r == GV_EIO : r == GV_OK,
                      "a batch's finish: %s", gv_strerror(r));
        }
}

static void test_batch(void)
{
        char dir[] = "/tmp/gavel-test-batch-XXXXXX";
        int64_t m = build_weekly(true);
        size_t n;

        if (!mkdtemp(dir)) {
                CHECK(false, "mkdtemp: %s", strerror(errno));
                return;
        }
        gv_archive_set_sync(count_sync);
        /* one at a time: each file synced, the directory after each (the
         * .html's by index.html's, written after it) */
        file_syncs = dir_syncs = 0;
        batch_files(dir, m, "alone", false);
        CHECK(file_syncs == GV_MINUTES_N_FILES + 1 && dir_syncs == GV_MINUTES_N_FILES,
              "files one at a time: %d file syncs (want %d), %d directory syncs (want %d)",
              file_syncs, GV_MINUTES_N_FILES + 1, dir_syncs, GV_MINUTES_N_FILES);
        /* in a batch: each file synced, index.html once, the directory once */
        file_syncs = dir_syncs = 0;
        batch_files(dir, m, "batch", true);
        CHECK(file_syncs == GV_MINUTES_N_FILES + 1 && dir_syncs == 1,
              "files in a batch: %d file syncs (want %d), %d directory syncs (want 1)",
              file_syncs, GV_MINUTES_N_FILES + 1, dir_syncs);
        CHECK(count_entries(dir) == 2 * GV_MINUTES_N_FILES + 1,
              "both sets of files and index.html, no leftovers: %zu entries",
              count_entries(dir));
        for (size_t k = 0; k < GV_MINUTES_N_FILES; k++) {
                const char *f = gv_minutes_format_name(gv_minutes_files[k]);
                char pa[512], pb[512];
                size_t la = 0, lb = 0;
                char *a, *b;

                snprintf(pa, sizeof(pa), "%s/alone.%s", dir, f);
                snprintf(pb, sizeof(pb), "%s/batch.%s", dir, f);
                a = slurp(pa, &la);
                b = slurp(pb, &lb);
                CHECK(a && b && la == lb && la > 0 && memcmp(a, b, la) == 0,
                      "file %s: the batch's is byte for byte the one written alone", f);
                free(a);
                free(b);
        }
        {
                char pi[512];
                size_t li = 0;
                char *idx;

                snprintf(pi, sizeof(pi), "%s/index.html", dir);
                idx = slurp(pi, &li);
                CHECK(idx && strstr(idx, "batch.html") && strstr(idx, "alone.html"),
                      "index.html lists both meetings");
                free(idx);
        }
        /* the directory sync fails: finish says so (the caller keeps the
         * rows pending) */
        file_syncs = dir_syncs = 0;
        fail_dir_sync = 1;
        batch_files(dir, m, "failing", true);
        fail_dir_sync = 0;
        CHECK(dir_syncs == 1, "a failing batch tried its directory sync once: %d", dir_syncs);
        gv_archive_set_sync(NULL);
        /* clean up */
        {
                DIR *d = opendir(dir);
                struct dirent *de;

                n = 0;
                while (d && (de = readdir(d))) {
                        char p[600];

                        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                                continue;
                        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                        if (unlink(p) == 0)
                                n++;
                }
                if (d)
                        closedir(d);
                rmdir(dir);
        }
}

int main(void)
{
        memset(&cfg, 0, sizeof(cfg));
        cfg.bot_name = (char *)"gavel";
        MUST(gv_store_open(":memory:", &st));

        test_text();
        test_by_person();
        test_html();
        test_markdown();
        test_logs();
        test_meetbot_wrap();
        test_meetbot_fields();
        test_meetbot_people();
        test_small();
        test_errors();
        test_one_model();
        test_batch();
        test_big();

        gv_store_free(st);
        printf("%d passed, %d failed\n", passed, failed);
        return failed ? 1 : 0;
}
