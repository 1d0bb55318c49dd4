/* tests/unit/test-standup.c - standups and check-ins (issue 10): the
 * update parser on seed 002's shapes, !update/!question/!other/!checkin
 * through gv_handle() (the lines after them, edits, redactions, #undo,
 * refusals), the meeting's series and flavour in the store, and the
 * standup layout of the minutes and the wiki sections (seed 002's
 * template), check-ins in the room minutes and the agora flavour (seed 003). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../handlers/event.h"
#include "../../handlers/handlers.h"
#include "../../handlers/minutes.h"
#include "../../handlers/parse.h"
#include "../../handlers/standup.h"
#include "../../handlers/wiki.h"
#include "../../store/store.h"
#include "../../util/buf.h"
#include "../../util/config.h"
#include "../../util/recur.h"
#include "../../util/text.h"
#include "check.h"

#define ROOM "!standup:example.org"
#define T0 1516000000000LL      /* 2018-01-15 07:06:40 UTC */

/* ---- the parser ---- */

/* The parse as one line: "L:Last week|B0:Reviews|T:free text". */
static void parsed(const char *text, char *out, size_t cap)
{
        struct gv_uline *v = NULL;
        size_t n = 0, o = 0;

        out[0] = '\0';
        if (gv_update_parse(text, &v, &n) != GV_OK) {
                snprintf(out, cap, "(error)");
                return;
        }
        for (size_t i = 0; i < n && o < cap; i++) {
                const char *k = v[i].kind == GV_UL_LABEL ? "L" : v[i].kind == GV_UL_TEXT ? "T" : "B";

                o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "|" : "", k);
                if (v[i].kind == GV_UL_BULLET && o < cap)
                        o += (size_t)snprintf(out + o, cap - o, "%u", v[i].depth);
                if (o < cap)
                        o += (size_t)snprintf(out + o, cap - o, ":%.*s", (int)v[i].len, v[i].p);
        }
        free(v);
}

static const struct {
        const char *name, *text, *want;
} parse_cases[] = {
        { "seed 002: bullets under the labels",
          "Last week:\n\n* Reviews\n* Finalize replication factor PR and docs\n\nThis week:\n\n"
          "* Keep on go-datastore\n* Release\n",
          "L:Last week|B0:Reviews|B0:Finalize replication factor PR and docs|L:This week|"
          "B0:Keep on go-datastore|B0:Release" },
        { "seed 002: inline bullets with continuation lines",
          "Last week: * Connectivity graph\n           * attempted to reproduce #297\n\n"
          "This week: * get conn graph merged\n           * fix second of issue #297 state errors \n"
          "              * write peers from the config\n              * experiment with indexes\n"
          "           * No digest flag",
          "L:Last week|B0:Connectivity graph|B0:attempted to reproduce #297|L:This week|"
          "B0:get conn graph merged|B0:fix second of issue #297 state errors|"
          "B1:write peers from the config|B1:experiment with indexes|B0:No digest flag" },
        { "inline bullets lined up under the message's first line",
          "This week: * a\n                   * b\n                      * c\n                   * d",
          "L:This week|B0:a|B0:b|B1:c|B0:d" },
        { "seed 002: indented bullets, '-' nested",
          "Last week:\n  * Sharding RFC\n  * With remaining time: \n    - factoring out dex\n"
          "    - bringing cmd-kit\n  * Harden sharness",
          "L:Last week|B0:Sharding RFC|B0:With remaining time:|B1:factoring out dex|"
          "B1:bringing cmd-kit|B0:Harden sharness" },
        { "seed 002: Since last update, a text line among bullets",
          "Since last update:\n  * New use cases\n    * POC of multipart\n"
          "    @hsanjuan ^^ Any suggestions?",
          "L:Since last update|B0:New use cases|B1:POC of multipart|T:@hsanjuan ^^ Any suggestions?" },
        { "free text", "worked on the parser; next the renderer",
          "T:worked on the parser; next the renderer" },
        { "empty bullets dropped, blank lines ignored", "This week:\n* a\n* \n\n-\n\n",
          "L:This week|B0:a" },
        { "labels ignore case and blanks before the colon", "LAST WEEK : x\ntoday: y",
          "L:Last week|T:x|L:Today|T:y" },
        { "a colon that is no label is text", "Note: foo\n*bold* is not a bullet",
          "T:Note: foo|T:*bold* is not a bullet" },
        { "tabs indent", "Last week:\n\t* a\n\t\t* b", "L:Last week|B0:a|B1:b" },
        { "deeper than the cap stays at the last depth",
          "* 0\n * 1\n  * 2\n   * 3\n    * 4\n     * 5\n      * 6\n       * 7\n        * 8",
          "B0:0|B1:1|B2:2|B3:3|B4:4|B5:5|B6:6|B7:7|B7:8" },
        { "nothing", "", "" },
};

static void test_parse(void)
{
        char got[2048];

        for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
                parsed(parse_cases[i].text, got, sizeof(got));
                check(strcmp(got, parse_cases[i].want) == 0, parse_cases[i].name,
                      "got %s\nwant %s", show(got), show(parse_cases[i].want));
        }
}

/* ---- a fixture: gv_handle() on a ":memory:" store ---- */

struct fx {
        struct gv_store *s;
        struct gv_config *cfg;
        struct gv_core *core;
        unsigned n;
        char ids[64][48];
        unsigned errors;
        int64_t shift;          /* added to every event's time */
        char *replies;          /* the newest event's replies, bodies joined by "\n" */
        char *mentions;         /* and their extras */
};

static bool fx_open(struct fx *f)
{
        static const char json[] = "{\"ack\": \"none\"}";
        char err[256];

        memset(f, 0, sizeof(*f));
        if (gv_config_parse(json, strlen(json), &f->cfg, err, sizeof(err)) != GV_OK ||
            gv_store_open(":memory:", &f->s) != GV_OK || gv_store_begin(f->s) != GV_OK ||
            gv_core_new(f->s, f->cfg, &f->core) != GV_OK) {
                check(false, "fixture", "%s", err);
                return false;
        }
        return true;
}

static void fx_close(struct fx *f)
{
        check(f->errors == 0, "gv_handle returned GV_OK throughout", "%u errors", f->errors);
        free(f->replies);
        free(f->mentions);
        if (gv_store_commit(f->s) != GV_OK)
                check(false, "commit", "failed");
        gv_core_free(f->core);
        gv_store_free(f->s);
        gv_config_free(f->cfg);
}

static void take(struct fx *f)
{
        struct gv_buf b = GV_BUF_INIT(1 << 20), m = GV_BUF_INIT(1 << 20);
        struct gv_out o;
        int64_t after = 0;

        memset(&o, 0, sizeof(o));
        while (gv_store_outbox_next(f->s, after, &o) == GV_OK) {
                after = o.id;
                if (gv_store_outbox_sent(f->s, o.id, 1) != GV_OK)
                        f->errors++;
                if (o.kind == GV_OUT_MESSAGE) {
                        if (gv_buf_printf(&b, "%s%s", b.len ? "\n" : "", o.body) != GV_OK ||
                            gv_buf_adds(&m, o.extra ? o.extra : "") != GV_OK)
                                f->errors++;
                }
                gv_out_clear(&o);
                memset(&o, 0, sizeof(o));
        }
        free(f->replies);
        free(f->mentions);
        f->replies = strdup(gv_buf_str(&b));
        f->mentions = strdup(gv_buf_str(&m));
        gv_buf_free(&b);
        gv_buf_free(&m);
}

/* An event of sender: a message, or an edit (replaces) or a redaction
 * (redacts) of the k-th event; returns its index. */
static unsigned send_ev(struct fx *f, const char *sender, const char *body, int replaces,
                        int redacts, const char *html)
{
        struct gv_event e;
        unsigned k = f->n++;

        memset(&e, 0, sizeof(e));
        snprintf(f->ids[k], sizeof(f->ids[k]), "$e%u", k);
        e.room = ROOM;
        e.sender = sender;
        e.event_id = f->ids[k];
        e.ts = T0 + f->shift + (int64_t)k * 1000;
        e.msgtype = "m.text";
        e.body = body;
        e.body_len = strlen(body);
        e.formatted_body = html;
        if (replaces >= 0)
                e.replaces = f->ids[replaces];
        if (redacts >= 0) {
                e.redacts = f->ids[redacts];
                e.body_len = 0;
                e.msgtype = NULL;
        }
        {
                char nick[64];

                gv_nick_of(sender, nick, sizeof(nick));
                if (gv_store_member_seen(f->s, ROOM, sender, nick) != GV_OK)
                        f->errors++;
        }
        if (gv_handle(f->core, &e) != GV_OK)
                f->errors++;
        take(f);
        return k;
}

static unsigned say(struct fx *f, const char *sender, const char *body)
{
        return send_ev(f, sender, body, -1, -1, NULL);
}

/* The meeting's items as "KIND:text" lines. */
static char *items(struct fx *f, int64_t meeting)
{
        struct gv_mitem *mi = NULL;
        struct gv_buf b = GV_BUF_INIT(1 << 20);
        size_t n = 0;
        char *out;

        if (gv_store_mitems(f->s, meeting, &mi, &n) != GV_OK)
                return strdup("(error)");
        for (size_t i = 0; i < n; i++)
                if (gv_buf_printf(&b, "%s%s:%s", i ? "\n" : "", gv_mkind_label(mi[i].kind),
                                  mi[i].text) != GV_OK)
                        break;
        gv_mitems_free(mi, n);
        out = strdup(gv_buf_str(&b));
        gv_buf_free(&b);
        return out;
}

#define ALICE "@alice:example.org"
#define BOB "@bob:example.org"
#define CAROL "@carol:example.org"

static void check_items(struct fx *f, const char *name, const char *want)
{
        char *got = items(f, 1);

        check(got && strcmp(got, want) == 0, name, "got %s\nwant %s", show(got), show(want));
        free(got);
}

static void test_commands(void)
{
        struct fx f;
        unsigned upd, q, q2;

        if (!fx_open(&f))
                return;
        say(&f, ALICE, "!update Last week: * a");
        check(strstr(f.replies, "No meeting is running in this room") != NULL,
              "!update outside a meeting: a clear reply", "%s", show(f.replies));
        say(&f, CAROL, "hello");        /* carol is a member of the room */
        say(&f, ALICE, "#startmeeting Standup");
        upd = say(&f, ALICE, "!update Last week:\n* Reviews\n* https://example.org/pr/40 (Docs)\n"
                              "\nThis week:\n* Release\nhttps://example.org/notes are not a #link\n"
                              "#info an info after it");
        check_items(&f, "!update takes the lines after it (a URL line too), up to the next command",
                    "UPDATE:Last week:\n* Reviews\n* https://example.org/pr/40 (Docs)\n\n"
                    "This week:\n* Release\nhttps://example.org/notes are not a #link\n"
                    "INFO:an info after it");
        say(&f, BOB, "!update\n\n  This week:  \n    * x\n\n");
        check_items(&f, "!update on a line of its own: the lines after it, indentation kept",
                    "UPDATE:Last week:\n* Reviews\n* https://example.org/pr/40 (Docs)\n\n"
                    "This week:\n* Release\nhttps://example.org/notes are not a #link\n"
                    "INFO:an info after it\nUPDATE:  This week:  \n    * x");
        q = say(&f, ALICE, "!question @bob:example.org is it common\nfor bootstrapping to fail?");
        check(strstr(f.replies, "Question for @bob:example.org noted.") != NULL &&
              strstr(f.mentions, BOB) != NULL, "!question pings the person asked",
              "%s %s", show(f.replies), show(f.mentions));
        q2 = send_ev(&f, BOB, "!question Carol: and the sharding RFC?", -1, -1,
                     "!question <a href=\"https://matrix.to/#/@carol:example.org\">Carol</a>: "
                     "and the sharding RFC?");
        say(&f, BOB, "!question carol a nick works too");
        say(&f, ALICE, "!question nobody what?");
        check(strstr(f.replies, "No question noted.") && strstr(f.replies, "'nobody'"),
              "!question naming nobody: refused, saying why", "%s", show(f.replies));
        say(&f, ALICE, "!question @bob:example.org");
        check(strstr(f.replies, "needs its text") != NULL, "!question without a question: refused",
              "%s", show(f.replies));
        say(&f, CAROL, "!other release party on Friday");
        say(&f, CAROL, "!checkin well\n- tired");
        check_items(&f, "questions stored with the full ID of the person asked",
                    "UPDATE:Last week:\n* Reviews\n* https://example.org/pr/40 (Docs)\n\n"
                    "This week:\n* Release\nhttps://example.org/notes are not a #link\n"
                    "INFO:an info after it\nUPDATE:  This week:  \n    * x\n"
                    "QUESTION:@bob:example.org is it common\nfor bootstrapping to fail?\n"
                    "QUESTION:@carol:example.org and the sharding RFC?\n"
                    "QUESTION:@carol:example.org a nick works too\n"
                    "OTHER:release party on Friday\nCHECKIN:well\n- tired");
        /* edits and redactions */
        send_ev(&f, ALICE, "!update Last week:\n* Reviews, more\n\nThis week:\n* Release\n"
                           "#info an edited info", upd, -1, NULL);
        send_ev(&f, ALICE, "!question carol is it?", q, -1, NULL);
        send_ev(&f, BOB, "!question nobody at all", q2, -1, NULL);
        send_ev(&f, BOB, "!update nope", upd, -1, NULL);        /* not the sender's */
        check_items(&f, "an edit updates the update whole, the question with whom it asks",
                    "UPDATE:Last week:\n* Reviews, more\n\nThis week:\n* Release\n"
                    "INFO:an edited info\nUPDATE:  This week:  \n    * x\n"
                    "QUESTION:@carol:example.org is it?\n"
                    "QUESTION:@carol:example.org and the sharding RFC?\n"
                    "QUESTION:@carol:example.org a nick works too\n"
                    "OTHER:release party on Friday\nCHECKIN:well\n- tired");
        send_ev(&f, ALICE, "", -1, (int)q, NULL);
        send_ev(&f, ALICE, "", -1, (int)upd, NULL);
        say(&f, ALICE, "#undo");
        check(strstr(f.replies, "Removed item from minutes: CHECKIN: well - tired") != NULL,
              "#undo removes a check-in", "%s", show(f.replies));
        check_items(&f, "a redaction removes the update and the question",
                    "UPDATE:  This week:  \n    * x\n"
                    "QUESTION:@carol:example.org and the sharding RFC?\n"
                    "QUESTION:@carol:example.org a nick works too\n"
                    "OTHER:release party on Friday");
        fx_close(&f);
}

/* ---- rendering ---- */

static char *minutes(struct fx *f, enum gv_minutes_fmt fmt)
{
        struct gv_buf b = GV_BUF_INIT(1 << 20);
        char *out = NULL;

        if (gv_minutes_render(f->s, f->cfg, 1, fmt, &b) == GV_OK)
                out = strdup(gv_buf_str(&b));
        gv_buf_free(&b);
        return out ? out : strdup("(error)");
}

static char *wiki(struct fx *f, enum gv_flavour fl, bool wt)
{
        struct gv_buf b = GV_BUF_INIT(1 << 20);
        char *out = NULL;

        if (gv_wiki_render(f->s, f->cfg, 1, fl, wt, "<!-- m -->", &b) == GV_OK)
                out = strdup(gv_buf_str(&b));
        gv_buf_free(&b);
        return out ? out : strdup("(error)");
}

static void want_eq(const char *name, char *got, const char *want)
{
        check(strcmp(got, want) == 0, name, "got\n%s\nwant\n%s", got, want);
        free(got);
}

static void standup_meeting(struct fx *f)
{
        say(f, ALICE, "hi");
        say(f, BOB, "hi");
        say(f, CAROL, "hi");
        say(f, ALICE, "#startmeeting");
        say(f, ALICE, "!update Last week:\n\n* Reviews\n* <b>Testing</b>\n\nThis week:\n\n"
                      "* Release\n  * changelog first");
        say(f, BOB, "!update Last week: * Connectivity graph\n"
                    "                   * #297 state errors\n"
                    "This week: * get conn graph merged\n"
                    "just free text too");
        say(f, ALICE, "!update (one more thing)");
        say(f, BOB, "!question @alice:example.org Is it common\nfor bootstrapping to fail?");
        say(f, BOB, "!question alice Do we want cleanup to wipe peers?");
        say(f, CAROL, "!question bob ok?");
        say(f, CAROL, "!other v0.3.1 *tagged*");
        say(f, CAROL, "#info a note");
        say(f, ALICE, "#endmeeting");
}

static const char want_text[] =
        "## Standup meeting - 2018-01-15\n\n"
        "### Updates since last time\n\n"
        "##### @alice\n\n"
        "Last week:\n\n"
        "* Reviews\n"
        "* <b>Testing</b>\n\n"
        "This week:\n\n"
        "* Release\n"
        "  * changelog first\n\n"
        "(one more thing)\n\n"
        "##### @bob\n\n"
        "Last week:\n\n"
        "* Connectivity graph\n"
        "* #297 state errors\n\n"
        "This week:\n\n"
        "* get conn graph merged\n\n"
        "just free text too\n\n"
        "### Questions, announcements and comments\n\n"
        "* @bob -> @alice:\n"
        "  * Is it common\n"
        "    * for bootstrapping to fail?\n"
        "  * Do we want cleanup to wipe peers?\n"
        "* @carol -> @bob:\n"
        "  * ok?\n\n"
        "### Other business\n\n"
        "* @carol: v0.3.1 *tagged*\n\n"
        "### Notes\n\n"
        "* INFO: a note (carol)\n\n";

static void test_render(void)
{
        struct fx f;
        char *series = NULL, *flavour = NULL;
        char *s;

        if (!fx_open(&f))
                return;
        standup_meeting(&f);
        check(gv_store_meeting_series(f.s, 1, &series, &flavour) == GV_OK && !series && !flavour,
              "a meeting outside a series: no series, no flavour", "%s %s", show(series),
              show(flavour));
        s = minutes(&f, GV_MIN_TEXT);
        check(strstr(s, "#meeting: ") != NULL, "not a standup: MeetBot's minutes", "%s", s);
        free(s);
        check(gv_store_meeting_set_series(f.s, 1, "Cluster standup", "standup") == GV_OK &&
              gv_store_meeting_series(f.s, 1, &series, &flavour) == GV_OK && series && flavour &&
              strcmp(series, "Cluster standup") == 0 && strcmp(flavour, "standup") == 0,
              "the series and flavour stored and read back", "%s %s", show(series), show(flavour));
        free(series);
        free(flavour);
        check(gv_store_meeting_series(f.s, 99, &series, &flavour) == GV_ENOTFOUND,
              "no such meeting: GV_ENOTFOUND", "%s", "");
        want_eq("standup: the room's minutes, plain (seed 002's template)", minutes(&f, GV_MIN_TEXT),
                want_text);
        want_eq("standup: the room's minutes, HTML", minutes(&f, GV_MIN_HTML),
                "<h2>Standup meeting - 2018-01-15</h2>\n"
                "<h3>Updates since last time</h3>\n"
                "<h5>@alice</h5>\n"
                "<p>Last week:</p>\n"
                "<ul>\n<li>Reviews</li>\n<li>&lt;b&gt;Testing&lt;/b&gt;</li></ul>\n"
                "<p>This week:</p>\n"
                "<ul>\n<li>Release\n<ul>\n<li>changelog first</li></ul></li></ul>\n"
                "<p>(one more thing)</p>\n"
                "<h5>@bob</h5>\n"
                "<p>Last week:</p>\n"
                "<ul>\n<li>Connectivity graph</li>\n<li>#297 state errors</li></ul>\n"
                "<p>This week:</p>\n"
                "<ul>\n<li>get conn graph merged</li></ul>\n"
                "<p>just free text too</p>\n"
                "<h3>Questions, announcements and comments</h3>\n"
                "<ul>\n<li>@bob -&gt; @alice:\n<ul>\n<li>Is it common\n<ul>\n"
                "<li>for bootstrapping to fail?</li>\n</ul></li>\n"
                "<li>Do we want cleanup to wipe peers?</li>\n</ul></li>\n"
                "<li>@carol -&gt; @bob:\n<ul>\n<li>ok?</li></ul></li></ul>\n"
                "<h3>Other business</h3>\n"
                "<ul>\n<li>@carol: v0.3.1 *tagged*</li></ul>\n"
                "<h3>Notes</h3>\n"
                "<ul>\n<li>INFO: a note (carol)</li></ul>\n");
        {
                /* over the message's ceiling: cut at a line, with the note */
                struct gv_buf body = GV_BUF_INIT(300), html = GV_BUF_INIT(1 << 20);
                enum gv_err r = gv_minutes_for_outbox(f.s, f.cfg, GV_OUT_MINUTES, "{\"meeting\": 1}",
                                                      &body, &html);

                check(r == GV_OK && strncmp(gv_buf_str(&body), want_text, 40) == 0 &&
                      strstr(gv_buf_str(&body), GV_MINUTES_CUT_NOTE) != NULL && body.len <= 300,
                      "a standup over the message's ceiling is cut, not refused", "%s %s",
                      gv_strerror(r), show(gv_buf_str(&body)));
                gv_buf_free(&body);
                gv_buf_free(&html);
        }
        s = minutes(&f, GV_MIN_MARKDOWN);
        check(strstr(s, "## Standup meeting - 2018-01-15\n\n### Updates since last time\n\n"
                        "##### @alice\n\nLast week:\n\n* Reviews\n* \\<b\\>Testing\\</b\\>\n") &&
              strstr(s, "* @carol: v0.3.1 \\*tagged\\*\n"),
              "standup: the .md archive file, Markdown escaped", "%s", s);
        free(s);
        s = wiki(&f, GV_FLAVOUR_RESIN, false);
        check(strncmp(s, "## Standup meeting - 2018-01-15\n<!-- m -->\n\n### Updates since last "
                         "time\n\n##### @alice\n\n", 80) == 0 &&
              strstr(s, "* @bob -> @alice:\n    * Is it common\n        * for bootstrapping") &&
              strstr(s, "\\<b\\>Testing"),
              "standup meeting on a resin wiki: the standup layout, Markdown", "%s", s);
        free(s);
        s = wiki(&f, GV_FLAVOUR_STANDUP, true);
        check(strncmp(s, "== Standup meeting - 2018-01-15 ==\n<!-- m -->\n\n=== Updates since last "
                         "time ===\n\n===== @alice =====\n\nLast week:\n\n* Reviews\n"
                         "* <nowiki>&lt;b&gt;Testing&lt;/b&gt;</nowiki>\n", 160) == 0 &&
              strstr(s, "* @bob -> @alice:\n** Is it common\n*** for bootstrapping") &&
              strstr(s, "** <nowiki>changelog first</nowiki>") == NULL &&
              strstr(s, "** changelog first\n"),
              "standup on a MediaWiki: wikitext, escaped", "%s", s);
        free(s);
        fx_close(&f);
}

static void test_checkins(void)
{
        struct fx f;
        char *s;

        if (!fx_open(&f))
                return;
        say(&f, ALICE, "#startmeeting Tech group");
        say(&f, ALICE, "!checkin working from home *today*");
        say(&f, BOB, "!checkin playing with monitoring\n- added live process monitoring\n"
                     "- hooked up logging");
        say(&f, CAROL, "lurking");
        say(&f, ALICE, "#topic [[backups]]");
        say(&f, ALICE, "#info postmortem");
        say(&f, ALICE, "#endmeeting");
        s = minutes(&f, GV_MIN_TEXT);
        check(strstr(s, "Check ins\n---------\nAttending: alice, bob, carol\n"
                        "* alice: working from home *today*\n"
                        "* bob: playing with monitoring\n  * added live process monitoring\n"
                        "  * hooked up logging\n\n\n\nMeeting summary\n---------------\n"
                        "* [[backups]]  (alice, ") != NULL,
              "check-ins in the room's minutes: Attending, Check ins, not in the summary", "%s", s);
        free(s);
        s = minutes(&f, GV_MIN_HTML);
        check(strstr(s, "<h4>Check ins</h4>\n<p>Attending: alice, bob, carol</p>\n<ul>\n"
                        "<li>alice: working from home *today*</li>\n"
                        "<li>bob: playing with monitoring<ul>\n"
                        "<li>added live process monitoring</li>\n<li>hooked up logging</li>\n"
                        "</ul></li>\n</ul>\n<h4>Meeting summary</h4>\n") != NULL,
              "check-ins in the room's minutes, HTML", "%s", s);
        free(s);
        s = wiki(&f, GV_FLAVOUR_AGORA, false);
        check(strstr(s, "- Attending: alice, bob, carol\n- Check ins\n"
                        "    - alice: working from home \\*today\\*\n"
                        "    - bob: playing with monitoring\n"
                        "        - added live process monitoring\n"
                        "        - hooked up logging\n- [[backups]]\n    - postmortem\n") != NULL,
              "check-ins in the agora flavour (seed 003)", "%s", s);
        free(s);
        s = wiki(&f, GV_FLAVOUR_AGORA, true);
        check(strstr(s, "* Attending: alice, bob, carol\n* Check ins\n"
                        "** alice: <nowiki>working from home *today*</nowiki>\n") != NULL,
              "check-ins in the agora flavour, wikitext", "%s", s);
        free(s);
        fx_close(&f);
}

static void test_no_checkins(void)
{
        struct fx f;
        char *s;

        if (!fx_open(&f))
                return;
        say(&f, ALICE, "#startmeeting Plain");
        say(&f, ALICE, "#info x");
        say(&f, ALICE, "#endmeeting");
        s = minutes(&f, GV_MIN_TEXT);
        check(strstr(s, "Check ins") == NULL && strstr(s, "Attending") == NULL,
              "no check-ins: no Check ins section, no Attending", "%s", s);
        free(s);
        fx_close(&f);
}

/* ---- #startmeeting in a series' room ---- */

static struct gv_series_cfg series[3];
static struct gv_series_cfg *saved;     /* the config's own (empty) series */
static size_t n_saved;

static void series_cfg(struct fx *f)
{
        saved = f->cfg->series;
        n_saved = f->cfg->n_series;
        memset(series, 0, sizeof(series));
        series[0].name = "Arch call";
        series[0].room = "#arch-call:example.org";
        series[0].agenda = "architecture";
        series[0].flavour = GV_FLAVOUR_RESIN;
        series[1].name = "Cluster standup";
        series[1].room = ROOM;
        series[1].agenda = "cluster";
        series[1].flavour = GV_FLAVOUR_STANDUP;
        series[2].name = "Elsewhere";
        series[2].room = "!elsewhere:example.org";
        f->cfg->series = series;
        f->cfg->n_series = 3;
}

static void series_done(struct fx *f)
{
        f->cfg->series = saved; /* ours are static: not the config's to free */
        f->cfg->n_series = n_saved;
}

static void check_meeting(struct fx *f, int64_t id, const char *name, const char *want_name,
                          const char *want_agenda, const char *want_series,
                          const char *want_flavour, const char *want_title)
{
        struct gv_meeting m;
        char *se = NULL, *fl = NULL, *title = NULL;
        bool ok;

        memset(&m, 0, sizeof(m));
        ok = gv_store_meeting_get(f->s, id, &m) == GV_OK &&
             gv_store_meeting_series(f->s, id, &se, &fl) == GV_OK &&
             gv_store_meeting_title(f->s, id, &title) == GV_OK;
        ok = ok && strcmp(m.name, want_name) == 0 && strcmp(m.agenda, want_agenda) == 0 &&
             (want_series ? se && strcmp(se, want_series) == 0 : !se) &&
             (want_flavour ? fl && strcmp(fl, want_flavour) == 0 : !fl) &&
             (want_title ? title && strcmp(title, want_title) == 0 : true);
        check(ok, name, "name %s agenda %s series %s flavour %s title %s", show(m.name),
              show(m.agenda), show(se), show(fl), show(title));
        gv_meeting_clear(&m);
        free(se);
        free(fl);
        free(title);
}

static void test_series(void)
{
        struct fx f;

        if (!fx_open(&f))
                return;
        series_cfg(&f);
        say(&f, ALICE, "#startmeeting");
        check_meeting(&f, 1, "#startmeeting in a series' room: its name, agenda and flavour",
                      "Cluster standup", "cluster", "Cluster standup", "standup", "Cluster standup");
        check(strstr(f.replies, "This is a standup: !update") != NULL,
              "a standup's start says which commands it takes", "%s", show(f.replies));
        say(&f, ALICE, "#endmeeting");
        {
                char *s = minutes(&f, GV_MIN_TEXT);

                check(strncmp(s, "## Standup meeting - 2018-01-15\n", 32) == 0,
                      "a standup's minutes in the room: seed 002's template", "%s", show(s));
                free(s);
        }
        say(&f, ALICE, "#startmeeting Special edition");
        check_meeting(&f, 2, "a name given is the title; the series' name, agenda and flavour stay",
                      "Cluster standup", "cluster", "Cluster standup", "standup",
                      "Special edition");
        say(&f, ALICE, "#endmeeting");
        /* the room an alias of a series resolved to */
        series[1].room = "#cluster:example.org";
        say(&f, ALICE, "#startmeeting");
        check_meeting(&f, 3, "an alias never resolved: not the series' room", "Meeting",
                      "architecture", NULL, NULL, NULL);
        say(&f, ALICE, "#endmeeting");
        check(gv_store_alias_set(f.s, "#cluster:example.org", ROOM, T0) == GV_OK, "alias set", "%s",
              "");
        say(&f, ALICE, "#startmeeting");
        check_meeting(&f, 4, "#startmeeting in the room a series' alias resolved to",
                      "Cluster standup", "cluster", "Cluster standup", "standup", NULL);
        say(&f, ALICE, "#endmeeting");
        series_done(&f);
        fx_close(&f);
}

/* Two series in one room: the one whose occurrence is nearest; a standup's
 * date in its series' zone. */
static void test_two_series(void)
{
        struct gv_series_cfg two[2];
        struct gv_recur *r0 = NULL, *r1 = NULL;
        struct fx f;
        char err[256] = "", *s;
        int64_t mon = 0, thu = 0, tue = 0;

        if (!fx_open(&f))
                return;
        if (gv_recur_new("FREQ=WEEKLY;BYDAY=MO;BYHOUR=16", "America/Los_Angeles", NULL, 0, &r0, err,
                         sizeof(err)) != GV_OK ||
            gv_recur_new("FREQ=WEEKLY;BYDAY=TH;BYHOUR=15", "Europe/Athens", NULL, 0, &r1, err,
                         sizeof(err)) != GV_OK ||
            gv_parse_date("2026-01-12", &mon) != GV_OK || gv_parse_date("2026-01-15", &thu) != GV_OK ||
            gv_parse_date("2026-01-13", &tue) != GV_OK) {
                check(false, "two series: set up", "%s", err);
                gv_recur_free(r0);
                gv_recur_free(r1);
                fx_close(&f);
                return;
        }
        memset(two, 0, sizeof(two));
        two[0].name = "Arch call";
        two[0].room = ROOM;
        two[0].agenda = "architecture";
        two[0].flavour = GV_FLAVOUR_RESIN;
        two[0].recur = r1;
        two[1].name = "Cluster standup";
        two[1].room = ROOM;
        two[1].agenda = "cluster";
        two[1].flavour = GV_FLAVOUR_STANDUP;
        two[1].recur = r0;
        saved = f.cfg->series;
        n_saved = f.cfg->n_series;
        f.cfg->series = two;
        f.cfg->n_series = 2;
        /* Tuesday 00:02 UTC is Monday 16:02 in Los Angeles: the standup */
        f.shift = tue + 2 * 60000 - T0;
        say(&f, ALICE, "#startmeeting");
        check_meeting(&f, 1, "two series in a room: the standup, two minutes after it began",
                      "Cluster standup", "cluster", "Cluster standup", "standup", NULL);
        say(&f, ALICE, "#endmeeting");
        s = minutes(&f, GV_MIN_TEXT);
        check(strncmp(s, "## Standup meeting - 2026-01-12\n", 32) == 0,
              "a standup's date is its series' (Los Angeles: Monday, not UTC's Tuesday)", "%s",
              show(s));
        free(s);
        /* Thursday 12:50 UTC is 14:50 in Athens: the arch call in ten minutes */
        f.shift = thu + (12 * 60 + 50) * 60000LL - T0;
        say(&f, ALICE, "#startmeeting");
        check_meeting(&f, 2, "two series in a room: the arch call, ten minutes before it",
                      "Arch call", "architecture", "Arch call", "resin", NULL);
        say(&f, ALICE, "#endmeeting");
        /* (rules without DTSTART start in 2024: these are 2026 dates)
         * Monday 2026-01-12 23:00 UTC: the standup an hour ahead, not Thursday's */
        f.shift = mon + 23 * 3600000LL - T0;
        say(&f, ALICE, "#startmeeting");
        check_meeting(&f, 3, "two series in a room: the standup an hour ahead",
                      "Cluster standup", "cluster", "Cluster standup", "standup", NULL);
        say(&f, ALICE, "#endmeeting");
        f.cfg->series = saved;
        f.cfg->n_series = n_saved;
        gv_recur_free(r0);
        gv_recur_free(r1);
        fx_close(&f);
}

int main(void)
{
        test_parse();
        test_commands();
        test_render();
        test_checkins();
        test_no_checkins();
        test_series();
        test_two_series();
        return check_finish();
}
