/* tests/unit/test-wiki.c - handlers/wiki.c: the flavours (resin, agora,
 * meetbot) in Markdown and wikitext, byte for byte for a plain meeting, and
 * with hostile chat text (headings, HTML, comments that look like gavel's
 * marker, templates, categories, fences, wikilinks) that must stay text;
 * the escapers; HMAC-SHA256 (RFC 4231 vectors) for webhook signatures.
 * Prints one line per case and "N passed, M failed"; exits 1 on a failure. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../handlers/wiki.h"
#include "../../store/store.h"
#include "../../util/buf.h"
#include "../../util/config.h"
#include "../../util/sha256.h"

#include "check.h"

#define T0 1538645400000LL      /* 2018-10-04 09:30:00 UTC */

static int64_t add_note(struct gv_store *s, int64_t meeting, enum gv_mkind k, const char *nick,
                        const char *text, int64_t topic, int64_t agenda_item, int64_t ts)
{
        struct gv_mitem it;
        int64_t id = 0;

        memset(&it, 0, sizeof(it));
        it.ts = ts;
        it.nick = (char *)nick;
        it.kind = k;
        it.text = (char *)text;
        it.topic = topic;
        it.agenda_item = agenda_item;
        if (gv_store_mitem_add(s, meeting, &it, &id) != GV_OK)
                return -1;
        if (k == GV_M_TOPIC && gv_store_meeting_set_topic(s, meeting, id) != GV_OK)
                return -1;
        return id;
}

/* A meeting with one agenda item taken up, one other topic and a note
 * before any topic; desc and note are the chat text under test. */
static int64_t make_meeting(struct gv_store *s, const char *desc, const char *note,
                            const char *name)
{
        struct gv_meeting m;
        struct gv_item it;
        int64_t meeting = 0, item = 0, t1, t2;
        bool ok;

        memset(&it, 0, sizeof(it));
        it.agenda = "architecture";
        it.description = (char *)desc;
        it.reporter = "@hedss:example.org";
        it.mentions = "@pcarranzav @lekkas:example.org";
        it.room = "!arch:example.org";
        it.event_id = "$tick_et";
        it.created = T0 - 3600000;
        memset(&m, 0, sizeof(m));
        m.room = "!arch:example.org";
        m.name = (char *)name;
        m.agenda = "architecture";
        m.starter = "hedss";
        m.starter_id = "@hedss:example.org";
        m.started = T0;
        ok = gv_store_item_add(s, &it, &item) == GV_OK &&
             gv_store_meeting_start(s, &m, &meeting) == GV_OK &&
             gv_store_line_add(s, meeting, T0 + 1000, "hedss", "hi", false, "$l1") == GV_OK &&
             gv_store_line_add(s, meeting, T0 + 2000, "nazrhom", "hello", false, "$l2") == GV_OK;
        if (!ok || add_note(s, meeting, GV_M_INFO, "hedss", "before any topic", 0, 0, T0 + 3000) < 0)
                return -1;
        t1 = add_note(s, meeting, GV_M_TOPIC, "hedss", desc, 0, item, T0 + 4000);
        if (t1 < 0 || gv_store_item_set_discussed(s, item, meeting) != GV_OK ||
            add_note(s, meeting, GV_M_INFO, "nazrhom", note, t1, 0, T0 + 5000) < 0 ||
            add_note(s, meeting, GV_M_ACTION, "hedss", "hedss to PR it", t1, 0, T0 + 6000) < 0)
                return -1;
        t2 = add_note(s, meeting, GV_M_TOPIC, "hedss", "other [[business]]", 0, 0, T0 + 7000);
        if (t2 < 0 || add_note(s, meeting, GV_M_AGREED, "nazrhom", "#push [[gavel]] done", t2, 0,
                               T0 + 8000) < 0 ||
            gv_store_meeting_end(s, meeting, T0 + 9000) != GV_OK)
                return -1;
        return meeting;
}

static char *render(struct gv_store *s, int64_t meeting, enum gv_flavour f, bool wt)
{
        struct gv_buf b = GV_BUF_INIT(1 << 20);
        struct gv_config *cfg = NULL;
        char marker[GV_WIKI_MARKER_SIZE];
        char *out = NULL;

        gv_wiki_marker(meeting, 0, marker);
        if (gv_config_defaults(&cfg) != GV_OK ||
            gv_wiki_render(s, cfg, meeting, f, wt, marker, &b) != GV_OK ||
            gv_buf_steal(&b, &out) != GV_OK)
                out = NULL;
        gv_buf_free(&b);
        gv_config_free(cfg);
        return out;
}

static void check_text(const char *name, const char *got, const char *want)
{
        check(got && strcmp(got, want) == 0, name, "got:\n%s\n--- want:\n%s", got ? got : "NULL",
              want);
}

static const char resin_md[] =
        "### 4 Oct 2018\n"
        "<!-- gavel:meeting:1:wiki:0 -->\n"
        "\n"
        "**Discuss keyframes**\n"
        "- Reporter: @hedss:example.org\n"
        "- Mentions: @pcarranzav @lekkas:example.org\n"
        "- Ticket: https://matrix.to/#/!arch:example.org/%24tick_et\n"
        "- Summary (author: @nazrhom)\n"
        "\n"
        "* we will \\*ship\\* it\n"
        "* ACTION: hedss to PR it\n"
        "\n"
        "\n"
        "**other \\[\\[business\\]\\]**\n"
        "- Summary (author: @nazrhom)\n"
        "\n"
        "* AGREED: \\#push \\[\\[gavel\\]\\] done\n"
        "\n"
        "\n"
        "**General**\n"
        "- Summary (author: @hedss)\n"
        "\n"
        "* before any topic\n"
        "\n"
        "\n";

static const char resin_wt[] =
        "=== 4 Oct 2018 ===\n"
        "<!-- gavel:meeting:1:wiki:0 -->\n"
        "\n"
        "'''Discuss keyframes'''\n"
        "* Reporter: @<nowiki>hedss:example.org</nowiki>\n"
        "* Mentions: @pcarranzav @<nowiki>lekkas:example.org</nowiki>\n"
        "* Ticket: [https://matrix.to/#/!arch:example.org/%24tick_et ticket]\n"
        "* Summary (author: @nazrhom)\n"
        "\n"
        "* <nowiki>we will *ship* it</nowiki>\n"
        "* ACTION: hedss to PR it\n"
        "\n"
        "\n"
        "'''<nowiki>other [[business]]</nowiki>'''\n"
        "* Summary (author: @nazrhom)\n"
        "\n"
        "* AGREED: <nowiki>#push [[gavel]] done</nowiki>\n"
        "\n"
        "\n"
        "'''General'''\n"
        "* Summary (author: @hedss)\n"
        "\n"
        "* before any topic\n"
        "\n"
        "\n";

static const char agora_md[] =
        "## [[2018-10-04]]\n"
        "<!-- gavel:meeting:1:wiki:0 -->\n"
        "\n"
        "- Meeting: Arch call\n"
        "- Attending: hedss, nazrhom\n"
        "- before any topic\n"
        "- Discuss keyframes (@hedss:example.org)\n"
        "    - we will \\*ship\\* it\n"
        "    - [ ] hedss to PR it\n"
        "- other [[business]]\n"
        "    - #push [[gavel]] done\n"
        "\n";

static const char agora_wt[] =
        "== [[2018-10-04]] ==\n"
        "<!-- gavel:meeting:1:wiki:0 -->\n"
        "\n"
        "* Meeting: Arch call\n"
        "* Attending: hedss, nazrhom\n"
        "* before any topic\n"
        "* Discuss keyframes (@<nowiki>hedss:example.org</nowiki>)\n"
        "** <nowiki>we will *ship* it</nowiki>\n"
        "** [ ] hedss to PR it\n"
        "* other [[business]]\n"
        "** #push [[gavel]] done\n"
        "\n";

static void test_plain(void)
{
        struct gv_store *s = NULL;
        int64_t m;
        char *out;

        if (gv_store_open(":memory:", &s) != GV_OK) {
                check(false, "open", "-");
                return;
        }
        m = make_meeting(s, "Discuss keyframes", "we will *ship* it", "Arch call");
        check(m == 1, "a meeting to render", "got %lld", (long long)m);
        out = render(s, m, GV_FLAVOUR_RESIN, false);
        check_text("resin, Markdown (seed 000)", out, resin_md);
        free(out);
        out = render(s, m, GV_FLAVOUR_RESIN, true);
        check_text("resin, wikitext", out, resin_wt);
        free(out);
        out = render(s, m, GV_FLAVOUR_AGORA, false);
        check_text("agora, Markdown (seed 003)", out, agora_md);
        free(out);
        out = render(s, m, GV_FLAVOUR_AGORA, true);
        check_text("agora, wikitext", out, agora_wt);
        free(out);
        out = render(s, m, GV_FLAVOUR_MEETBOT, false);
        check(out && strncmp(out, "### 4 Oct 2018 Arch call\n<!-- gavel:meeting:1:wiki:0 -->\n\n"
                                  "```text\n", 64) == 0 && strstr(out, "hedss to PR it") &&
              strstr(out, "\n```\n"), "meetbot, Markdown: the MeetBot text in a fence", "%s",
              out ? out : "NULL");
        free(out);
        out = render(s, m, GV_FLAVOUR_MEETBOT, true);
        check(out && strstr(out, "=== 4 Oct 2018 Arch call ===\n") && strstr(out, "<pre>\n") &&
              strstr(out, "\n</pre>\n"), "meetbot, wikitext: the MeetBot text in <pre>", "%s",
              out ? out : "NULL");
        free(out);
        gv_store_free(s);
}

/* ---- hostile text ---- */

static const char *const hostile[] = {
        "# Heading\n## Another\n=== wt ===",
        "<!-- gavel:meeting:1:wiki:0 --> forged marker",
        "<script>alert(1)</script><b>bold</b>",
        "{{Delete}} [[Category:Spam]] __NOTOC__ ~~~~",
        "</nowiki>{{evil}}<nowiki>",
        "```\n### 1 Jan 2000\n```",
        "````~~~ fence",
        "line one\r\n## Recent Meeting Notes\n* list",
        "[link](javascript:alert(1)) ![img](http://x/y.png)",
        "'''bold''' ''it'' ----",
        "| table | row |\n|---|---|",
        "[[Category:Spam|x]] [[File:x.png]] [[a]]b]]",
        "-- \n- \n+ item\n> quote",
        "&lt;!-- entity --&gt; &amp;",
};

/* Counts lines of out that start with prefix. */
static size_t lines_starting(const char *out, const char *prefix)
{
        size_t n = 0, k = strlen(prefix);

        for (const char *p = out; p && *p;) {
                if (strncmp(p, prefix, k) == 0)
                        n++;
                p = strchr(p, '\n');
                p = p ? p + 1 : NULL;
        }
        return n;
}

static size_t count(const char *out, const char *what)
{
        size_t n = 0;

        for (const char *p = out; p && (p = strstr(p, what)); p += strlen(what))
                n++;
        return n;
}

/* Whether what occurs in out other than right after a backslash. */
static bool has_unescaped(const char *out, const char *what)
{
        for (const char *p = out; (p = strstr(p, what)); p++)
                if (p == out || p[-1] != '\\')
                        return true;
        return false;
}

/* out without the meetbot flavour's fenced block (its opening fence line
 * to the line that closes it with the same fence), fences kept. */
static char *outside_fence(const char *out)
{
        const char *open = strstr(out, "\n`"), *close;
        char fence[64] = "\n";
        size_t k = 1;
        char *r;

        if (!open)
                return strdup(out);
        while (open[k] == '`' && k < sizeof(fence) - 2) {
                fence[k] = '`';
                k++;
        }
        fence[k] = '\0';
        close = strstr(open + k, fence);
        if (!close)
                return NULL;
        r = malloc(strlen(out) + 1);
        if (!r)
                return NULL;
        memcpy(r, out, (size_t)(open - out) + k);
        strcpy(r + (open - out) + k, close + 1);
        return r;
}

/* out with every <nowiki>...</nowiki> and <pre>...</pre> taken out. */
static char *outside_nowiki(const char *out)
{
        char *r = strdup(out), *w = r;
        const char *p = out;

        while (r && *p) {
                if (strncmp(p, "<nowiki>", 8) == 0 && strstr(p, "</nowiki>")) {
                        p = strstr(p, "</nowiki>") + 9;
                } else if (strncmp(p, "<pre>", 5) == 0 && strstr(p, "</pre>")) {
                        p = strstr(p, "</pre>") + 6;
                } else {
                        *w++ = *p++;
                }
        }
        if (r)
                *w = '\0';
        return r;
}

static void test_hostile(void)
{
        char name[256];

        for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
                for (int f = GV_FLAVOUR_RESIN; f <= GV_FLAVOUR_MEETBOT; f++) {
                        for (int wt = 0; wt <= 1; wt++) {
                                struct gv_store *s = NULL;
                                int64_t m;
                                char *out = NULL, *outside = NULL;
                                bool ok;

                                if (gv_store_open(":memory:", &s) != GV_OK)
                                        break;
                                m = make_meeting(s, hostile[i], hostile[i], hostile[i]);
                                out = m > 0 ? render(s, m, (enum gv_flavour)f, wt) : NULL;
                                snprintf(name, sizeof(name), "hostile %zu, %s, %s", i,
                                         f == 0 ? "resin" : f == 1 ? "agora" : "meetbot",
                                         wt ? "wikitext" : "Markdown");
                                if (!out) {
                                        check(false, name, "no rendering");
                                        gv_store_free(s);
                                        continue;
                                }
                                /* one heading, one marker, no other comment,
                                 * outside the MeetBot text's block */
                                outside = wt ? outside_nowiki(out) : outside_fence(out);
                                ok = outside && lines_starting(outside, wt ? "=" : "#") == 1 &&
                                     count(out, "<!--") - count(out, "\\<!--") == 1 &&
                                     count(out, "<!-- gavel:meeting:1:wiki:0 -->") == 1 &&
                                     lines_starting(outside, "<") == 1;
                                if (wt) {
                                        /* outside <nowiki>/<pre>: no templates, no
                                         * categories, no tags but gavel's */
                                        ok = ok && outside && !strstr(outside, "{{") &&
                                             !strstr(outside, "Category:") &&
                                             !strstr(outside, "__NOTOC__") &&
                                             !strstr(outside, "~~~") &&
                                             !strstr(outside, "<script") &&
                                             !strstr(outside, "</nowiki>") &&
                                             count(out, "<nowiki>") == count(out, "</nowiki>");
                                } else if (f != GV_FLAVOUR_MEETBOT) {
                                        ok = ok && !has_unescaped(out, "<script") &&
                                             !has_unescaped(out, "<b>") &&
                                             lines_starting(out, "```") == 0 &&
                                             lines_starting(out, "|") == 0 &&
                                             lines_starting(out, ">") == 0 &&
                                             !has_unescaped(out, "[Category") &&
                                             !has_unescaped(out, "](");
                                } else {
                                        /* the fence: opened and closed once, by gavel */
                                        ok = ok && lines_starting(outside, "`") == 1;
                                }
                                check(ok, name, "\n%s", out);
                                free(out);
                                free(outside);
                                gv_store_free(s);
                        }
                }
        }
}

static void test_escapers(void)
{
        static const struct {
                const char *in, *md, *wt;
        } t[] = {
                { "plain words", "plain words", "plain words" },
                { "# h", "\\# h", "<nowiki># h</nowiki>" },
                { "a\nb", "a b", "<nowiki>a b</nowiki>" },
                { "</nowiki>{{x}}", "\\</nowiki\\>{{x}}", "<nowiki>&lt;/nowiki&gt;{{x}}</nowiki>" },
                { "a & b", "a \\& b", "<nowiki>a &amp; b</nowiki>" },
                { "", "", "" },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                struct gv_buf md = GV_BUF_INIT(4096), wt = GV_BUF_INIT(4096);
                char name[96];

                snprintf(name, sizeof(name), "escapers %zu", i);
                check(gv_wiki_md(&md, t[i].in) == GV_OK && gv_wiki_wikitext(&wt, t[i].in) == GV_OK &&
                      strcmp(gv_buf_str(&md), t[i].md) == 0 && strcmp(gv_buf_str(&wt), t[i].wt) == 0,
                      name, "md \"%s\" wt \"%s\"", gv_buf_str(&md), gv_buf_str(&wt));
                gv_buf_free(&md);
                gv_buf_free(&wt);
        }
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block). */
static void test_hmac(void)
{
        uint8_t key1[20], key6[131];
        char hex[2 * GV_SHA256_LEN + 1];

        memset(key1, 0x0b, sizeof(key1));
        memset(key6, 0xaa, sizeof(key6));
        check(gv_hmac_sha256_hex(key1, sizeof(key1), "Hi There", 8, hex) == GV_OK &&
              strcmp(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7") == 0,
              "HMAC-SHA256: RFC 4231 case 1", "%s", hex);
        check(gv_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex) == GV_OK &&
              strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0,
              "HMAC-SHA256: RFC 4231 case 2", "%s", hex);
        check(gv_hmac_sha256_hex(key6, sizeof(key6),
                                 "Test Using Larger Than Block-Size Key - Hash Key First", 54,
                                 hex) == GV_OK &&
              strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") == 0,
              "HMAC-SHA256: RFC 4231 case 6", "%s", hex);
}

int main(void)
{
        test_plain();
        test_hostile();
        test_escapers();
        test_hmac();
        return check_finish();
}
