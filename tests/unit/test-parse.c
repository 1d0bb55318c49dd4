/* tests/unit/test-parse.c - handlers/parse with the built-in default config
 * (tags architecture and cust-arch -> agenda "architecture", prefixes "#!"):
 * command lines, seed-000 agenda tags, rich-reply fallbacks, nicks and link
 * lines. Prints "ok - name" or "FAIL - name: detail" per case and
 * "N passed, M failed" at the end; exits 1 on a failure. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../handlers/parse.h"
#include "../../util/config.h"
#include "../../util/err.h"

#include "check.h"

static bool span_eq(const char *p, size_t n, const char *want)
{
        return p && strlen(want) == n && memcmp(p, want, n) == 0;
}

/* ---- gv_parse_command ---- */

static void test_command(const struct gv_config *cfg)
{
        static const struct {
                const char *line;
                bool ok;
                char prefix;
                const char *name, *args;
        } cases[] = {
                { "#topic Foo bar", true, '#', "topic", "Foo bar" },
                { "  !agenda", true, '!', "agenda", "" },
                { "#info", true, '#', "info", "" },
                { "!agenda   add  x  ", true, '!', "agenda", "add  x" },
                { "\t#info\tx\t", true, '#', "info", "x" },
                { "#startmeeting\r", true, '#', "startmeeting", "" },
                { "#TOPIC Mixed Case", true, '#', "TOPIC", "Mixed Case" },
                { "#architecture Discuss keyframes", true, '#', "architecture", "Discuss keyframes" },
                { "!x", true, '!', "x", "" },
                { "#abcdefghijklmnopqrstuvwxyzabcdefghijklmn", true, '#',
                  "abcdefghijklmnopqrstuvwxyzabcdefghijklmn", "" },
                { "#link https://example.org/a b", true, '#', "link", "https://example.org/a b" },
                { "#123", false, 0, NULL, NULL },
                { "#room:server.org", false, 0, NULL, NULL },
                { "# x", false, 0, NULL, NULL },
                { "#tag-with-dash", false, 0, NULL, NULL },
                { "#info:", false, 0, NULL, NULL },
                { "#info,x", false, 0, NULL, NULL },
                { "#", false, 0, NULL, NULL },
                { "!", false, 0, NULL, NULL },
                { "", false, 0, NULL, NULL },
                { "   ", false, 0, NULL, NULL },
                { "?topic", false, 0, NULL, NULL },
                { "/topic x", false, 0, NULL, NULL },
                { "topic #info x", false, 0, NULL, NULL },
                { "##info", false, 0, NULL, NULL },
                { "#\xc3\xa9t\xc3\xa9", false, 0, NULL, NULL },
                { "\n#info", false, 0, NULL, NULL },
        };
        char name[160];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct gv_cmdline cl;
                bool ok;

                memset(&cl, 0, sizeof(cl));
                ok = gv_parse_command(cfg, cases[i].line, strlen(cases[i].line), &cl);
                snprintf(name, sizeof(name), "command \"%s\"", show(cases[i].line));
                if (!cases[i].ok) {
                        check(!ok, name, "parsed as name \"%s\"", shown(cl.name, cl.name_len));
                        continue;
                }
                check(ok && cl.prefix == cases[i].prefix &&
                      span_eq(cl.name, cl.name_len, cases[i].name) &&
                      span_eq(cl.args, cl.args_len, cases[i].args), name,
                      "got %s prefix '%c' name \"%s\" args \"%s\"; want '%c' \"%s\" \"%s\"",
                      ok ? "command" : "no command", cl.prefix ? cl.prefix : '0',
                      shown(cl.name, ok ? cl.name_len : 0), shown(cl.args, ok ? cl.args_len : 0),
                      cases[i].prefix, cases[i].name, cases[i].args);
        }

        /* Only len bytes are looked at. */
        {
                struct gv_cmdline cl;
                const char *line = "#info xyz";
                bool ok = gv_parse_command(cfg, line, 5, &cl);

                check(ok && span_eq(cl.name, cl.name_len, "info") && cl.args_len == 0,
                      "command bounded by len", "got %d name \"%s\" args_len %zu", ok,
                      shown(cl.name, ok ? cl.name_len : 0), ok ? cl.args_len : 0);
                ok = gv_parse_command(cfg, "#infox", 5, &cl);
                check(ok && span_eq(cl.name, cl.name_len, "info"), "command ends at len",
                      "got %d", ok);
                ok = gv_parse_command(cfg, "#info", 0, &cl);
                check(!ok, "command len 0", "parsed");
        }
        /* Pointers point into the line. */
        {
                struct gv_cmdline cl;
                const char *line = " #topic  x y ";
                bool ok = gv_parse_command(cfg, line, strlen(line), &cl);

                check(ok && cl.name == line + 2 && cl.args == line + 9 && cl.args_len == 3,
                      "command spans point into the line", "name at %td args at %td len %zu",
                      ok ? cl.name - line : -1, ok ? cl.args - line : -1, ok ? cl.args_len : 0);
        }
        /* NUL is never a prefix. */
        {
                struct gv_cmdline cl;
                bool ok = gv_parse_command(cfg, "\0info", 5, &cl);

                check(!ok, "command NUL prefix", "NUL accepted as a prefix");
        }
}

/* ---- gv_parse_tag ---- */

#define M(...) { __VA_ARGS__ }

static void test_tag(const struct gv_config *cfg)
{
        static const struct {
                const char *name, *line;
                enum gv_err r;
                const char *agenda, *description;
                size_t n;
                const char *mentions[6];
        } cases[] = {
                { "seed 000 example",
                  "#architecture Discuss keyframes cc @jviotti @brownjohnf @hedss @mikesimos",
                  GV_OK, "architecture", "Discuss keyframes", 4,
                  M("@jviotti", "@brownjohnf", "@hedss", "@mikesimos") },
                { "tag in the middle, comma",
                  "Discuss how to use a better endpoint in the ALB #architecture cc @brownjohnf "
                  "@flesler, @mikesimos",
                  GV_OK, "architecture", "Discuss how to use a better endpoint in the ALB", 3,
                  M("@brownjohnf", "@flesler", "@mikesimos") },
                { "no cc", "#architecture Discuss automated test/release of resinOS",
                  GV_OK, "architecture", "Discuss automated test/release of resinOS", 0, M(NULL) },
                { "cc followed by words", "#architecture talk about cc licences",
                  GV_OK, "architecture", "talk about cc licences", 0, M(NULL) },
                { "cc followed by a mention then a word", "#architecture foo cc @a bar",
                  GV_OK, "architecture", "foo cc @a bar", 0, M(NULL) },
                { "cc at the end", "#architecture foo cc",
                  GV_OK, "architecture", "foo cc", 0, M(NULL) },
                { "the last cc counts", "#architecture a cc b cc @x",
                  GV_OK, "architecture", "a cc b", 1, M("@x") },
                { "CC upper case", "#architecture x CC @a",
                  GV_OK, "architecture", "x", 1, M("@a") },
                { "mentions outside cc stay", "#architecture ask @hedss about it",
                  GV_OK, "architecture", "ask @hedss about it", 0, M(NULL) },
                { "cust-arch", "#cust-arch discuss Rombit's fast boot question",
                  GV_OK, "architecture", "discuss Rombit's fast boot question", 0, M(NULL) },
                { "case-insensitive tag", "#ARCHITECTURE x",
                  GV_OK, "architecture", "x", 0, M(NULL) },
                { "case-insensitive cust-arch", "#Cust-Arch x",
                  GV_OK, "architecture", "x", 0, M(NULL) },
                { "longer word is no tag", "#architectures x", GV_ENOTFOUND, NULL, NULL, 0, M(NULL) },
                { "shorter word is no tag", "#architect x", GV_ENOTFOUND, NULL, NULL, 0, M(NULL) },
                { "no tag", "Discuss keyframes cc @jviotti", GV_ENOTFOUND, NULL, NULL, 0, M(NULL) },
                { "empty line", "", GV_ENOTFOUND, NULL, NULL, 0, M(NULL) },
                { "tag glued to a word", "foo#architecture bar", GV_ENOTFOUND, NULL, NULL, 0, M(NULL) },
                { "bare hash", "# architecture x", GV_ENOTFOUND, NULL, NULL, 0, M(NULL) },
                { "room alias", "#room:server.org hello", GV_ENOTFOUND, NULL, NULL, 0, M(NULL) },
                { "tag alone", "#architecture", GV_OK, "architecture", "", 0, M(NULL) },
                { "tag and blanks", "  #architecture \t ", GV_OK, "architecture", "", 0, M(NULL) },
                { "tag with colon", "#architecture: foo", GV_OK, "architecture", "foo", 0, M(NULL) },
                { "tag with comma", "#architecture, foo", GV_OK, "architecture", "foo", 0, M(NULL) },
                { "blanks collapsed", "#architecture   spaced \t  words  ",
                  GV_OK, "architecture", "spaced words", 0, M(NULL) },
                { "duplicate mentions", "#architecture foo cc @a @b @a @b, @a",
                  GV_OK, "architecture", "foo", 2, M("@a", "@b") },
                { "matrix IDs and trailing punctuation",
                  "#architecture foo cc @alice:example.org @b. @c;",
                  GV_OK, "architecture", "foo", 3, M("@alice:example.org", "@b", "@c") },
                { "only a cc list", "#architecture cc @a", GV_OK, "architecture", "", 1, M("@a") },
                { "seed 000 cc without tag word first",
                  "#architecture discuss how to get on-prem ready with balena-on-balena for SoCal "
                  "Edison cc @pcarranzav @hedss @CameronDiver",
                  GV_OK, "architecture",
                  "discuss how to get on-prem ready with balena-on-balena for SoCal Edison", 3,
                  M("@pcarranzav", "@hedss", "@CameronDiver") },
                { "markup kept as text", "#architecture <script>alert(1)</script>",
                  GV_OK, "architecture", "<script>alert(1)</script>", 0, M(NULL) },
        };
        char name[160];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct gv_tagged t;
                enum gv_err r;
                bool ok;

                memset(&t, 0, sizeof(t));
                r = gv_parse_tag(cfg, cases[i].line, strlen(cases[i].line), &t);
                snprintf(name, sizeof(name), "tag %s", cases[i].name);
                if (cases[i].r != GV_OK) {
                        check(r == cases[i].r && t.description == NULL && t.n_mentions == 0, name,
                              "got %s, want %s", gv_strerror(r), gv_strerror(cases[i].r));
                        gv_tagged_clear(&t);
                        continue;
                }
                ok = r == GV_OK && t.agenda && strcmp(t.agenda, cases[i].agenda) == 0 &&
                     t.description && strcmp(t.description, cases[i].description) == 0 &&
                     t.n_mentions == cases[i].n;
                for (size_t j = 0; ok && j < cases[i].n; j++)
                        ok = t.mentions[j] && strcmp(t.mentions[j], cases[i].mentions[j]) == 0;
                {
                        char got[256] = "";

                        for (size_t j = 0; r == GV_OK && j < t.n_mentions; j++) {
                                strncat(got, j ? " " : "", sizeof(got) - strlen(got) - 1);
                                strncat(got, t.mentions[j], sizeof(got) - strlen(got) - 1);
                        }
                        check(ok, name, "got %s agenda \"%s\" description \"%s\" %zu mentions [%s]",
                              gv_strerror(r), show(t.agenda), show(t.description), t.n_mentions,
                              show(got));
                }
                gv_tagged_clear(&t);
                check(t.description == NULL && t.n_mentions == 0 && t.agenda == NULL,
                      "tagged_clear resets", "fields left");
        }
}

static void test_tag_limits(const struct gv_config *cfg)
{
        struct gv_tagged t;
        char line[2200];
        enum gv_err r;
        size_t at;

        /* The description limit: exactly GV_MAX_DESCRIPTION bytes is fine. */
        at = (size_t)snprintf(line, sizeof(line), "#architecture ");
        memset(line + at, 'x', GV_MAX_DESCRIPTION);
        line[at + GV_MAX_DESCRIPTION] = '\0';
        memset(&t, 0, sizeof(t));
        r = gv_parse_tag(cfg, line, strlen(line), &t);
        check(r == GV_OK && t.description && strlen(t.description) == GV_MAX_DESCRIPTION,
              "tag description at the limit", "got %s length %zu", gv_strerror(r),
              t.description ? strlen(t.description) : 0);
        gv_tagged_clear(&t);

        line[at + GV_MAX_DESCRIPTION] = 'x';
        line[at + GV_MAX_DESCRIPTION + 1] = '\0';
        memset(&t, 0, sizeof(t));
        r = gv_parse_tag(cfg, line, strlen(line), &t);
        check(r == GV_ETOOBIG && t.description == NULL, "tag description one over the limit",
              "got %s", gv_strerror(r));
        gv_tagged_clear(&t);

        /* Many words over the limit, the tag at the end. */
        at = 0;
        for (int i = 0; i < 300; i++)
                at += (size_t)snprintf(line + at, sizeof(line) - at, "word ");
        snprintf(line + at, sizeof(line) - at, "#architecture");
        memset(&t, 0, sizeof(t));
        r = gv_parse_tag(cfg, line, strlen(line), &t);
        check(r == GV_ETOOBIG && t.description == NULL, "tag many words over the limit",
              "got %s", gv_strerror(r));
        gv_tagged_clear(&t);

        /* A long cc list does not count against the description. */
        at = (size_t)snprintf(line, sizeof(line), "#architecture short cc");
        for (int i = 0; i < 100; i++)
                at += (size_t)snprintf(line + at, sizeof(line) - at, " @person%d", i);
        memset(&t, 0, sizeof(t));
        r = gv_parse_tag(cfg, line, strlen(line), &t);
        check(r == GV_OK && t.description && strcmp(t.description, "short") == 0 &&
              t.n_mentions == GV_MAX_MENTIONS && strcmp(t.mentions[0], "@person0") == 0 &&
              strcmp(t.mentions[GV_MAX_MENTIONS - 1], "@person63") == 0,
              "tag mentions capped at GV_MAX_MENTIONS", "got %s \"%s\" %zu mentions",
              gv_strerror(r), show(t.description), t.n_mentions);
        gv_tagged_clear(&t);

        /* Only len bytes are read. */
        {
                const char *l = "#architecture foo cc @a";

                memset(&t, 0, sizeof(t));
                r = gv_parse_tag(cfg, l, 17, &t);
                check(r == GV_OK && t.description && strcmp(t.description, "foo") == 0 &&
                      t.n_mentions == 0, "tag bounded by len", "got %s \"%s\" %zu",
                      gv_strerror(r), show(t.description), t.n_mentions);
                gv_tagged_clear(&t);
                memset(&t, 0, sizeof(t));
                r = gv_parse_tag(cfg, l, 10, &t);
                check(r == GV_ENOTFOUND, "tag cut by len is no tag", "got %s", gv_strerror(r));
                gv_tagged_clear(&t);
        }
        /* A config without that tag. */
        {
                struct gv_config *c2 = NULL;
                char err[256] = "";
                static const char json[] = "{\"tags\": {\"standup\": \"weekly\"}}";

                r = gv_config_parse(json, sizeof(json) - 1, &c2, err, sizeof(err));
                check(r == GV_OK, "config with other tags", "%s", err);
                if (r == GV_OK) {
                        memset(&t, 0, sizeof(t));
                        r = gv_parse_tag(c2, "#architecture x", 15, &t);
                        check(r == GV_ENOTFOUND, "tag not configured", "got %s", gv_strerror(r));
                        gv_tagged_clear(&t);
                        memset(&t, 0, sizeof(t));
                        r = gv_parse_tag(c2, "#Standup Last week cc @hector",
                                         strlen("#Standup Last week cc @hector"), &t);
                        check(r == GV_OK && t.agenda && strcmp(t.agenda, "weekly") == 0 &&
                              strcmp(t.description, "Last week") == 0 && t.n_mentions == 1,
                              "tag from a custom config", "got %s \"%s\"", gv_strerror(r),
                              show(t.agenda));
                        gv_tagged_clear(&t);
                }
                gv_config_free(c2);
        }
}

/* ---- gv_strip_reply_fallback ---- */

static void test_strip(void)
{
        static const struct {
                const char *name, *body, *want;
        } cases[] = {
                { "fallback stripped", "> <@a:b> quoted\n> more\n\n!agenda", "!agenda" },
                { "multi-line rest", "> <@a:b> q\n\n#info one\n#info two", "#info one\n#info two" },
                { "no blank line after", "> <@a:b> q\ntext", "text" },
                { "no fallback unchanged", "!agenda", "!agenda" },
                { "quote later is kept", "hello\n> not a fallback", "hello\n> not a fallback" },
                { "all quoted", "> only a quote", "" },
                { "all quoted with newline", "> a\n> b\n", "" },
                { "quote and blank line only", "> a\n\n", "" },
                { "empty", "", "" },
                { "only one blank line dropped", "> a\n\n\nx", "\nx" },
        };
        char name[160];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t len = strlen(cases[i].body), rest = 12345;
                const char *p = gv_strip_reply_fallback(cases[i].body, len, &rest);

                snprintf(name, sizeof(name), "strip_reply %s", cases[i].name);
                check(p && p >= cases[i].body && p + rest == cases[i].body + len &&
                      span_eq(p, rest, cases[i].want), name, "got \"%s\" (rest %zu), want \"%s\"",
                      p ? shown(p, rest) : "(null)", rest, show(cases[i].want));
        }
        {
                const char *b = "!agenda";
                size_t rest = 0;

                check(gv_strip_reply_fallback(b, 7, &rest) == b && rest == 7,
                      "strip_reply returns body itself", "different pointer or length %zu", rest);
        }
        {
                /* Bounded by len: the quote ends before the newline. */
                const char *b = "> a\n!agenda";
                size_t rest = 99;
                const char *p = gv_strip_reply_fallback(b, 3, &rest);

                check(rest == 0 && p == b + 3, "strip_reply bounded by len", "rest %zu", rest);
        }
}

/* ---- gv_nick_of ---- */

static void test_nick(void)
{
        static const struct {
                const char *sender;
                size_t n;
                const char *want;
        } cases[] = {
                { "@alice:example.org", 128, "alice" },
                { "bob", 128, "bob" },
                { "@alice:example.org", 4, "ali" },
                { "@alice:example.org", 6, "alice" },
                { "@alice:example.org", 2, "a" },
                { "bob", 1, "" },
                { "bob", 3, "bo" },
                { "@carol", 128, "@carol" },
                { "", 128, "" },
                { ":x", 128, "?" },
                { "@:x", 128, "?" },
                { "@d:matrix.org:8448", 128, "d" },
        };
        char name[160];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char out[128];

                memset(out, 'Z', sizeof(out));
                gv_nick_of(cases[i].sender, out, cases[i].n);
                snprintf(name, sizeof(name), "nick_of \"%s\" n=%zu", show(cases[i].sender),
                         cases[i].n);
                check(memchr(out, '\0', cases[i].n) && strcmp(out, cases[i].want) == 0 &&
                      (cases[i].n == sizeof(out) || out[cases[i].n] == 'Z'), name,
                      "got \"%s\", want \"%s\"", memchr(out, '\0', sizeof(out)) ? show(out) : "?",
                      cases[i].want);
        }
        {
                char out[4] = "ZZZ";

                gv_nick_of("@alice:example.org", out, 0);
                check(strcmp(out, "ZZZ") == 0, "nick_of n=0 writes nothing", "got \"%s\"", show(out));
        }
}

/* ---- gv_is_link_line ---- */

static void test_link(void)
{
        static const struct {
                const char *line;
                bool link;
        } cases[] = {
                { "http://example.org", true },
                { "https://example.org/a?b=c", true },
                { "  https://x", true },
                { "\thttp://x some text", true },
                { "https://www.youtube.com/watch?v=Pmi6AJanRtk", true },
                { "http://", false },
                { "https://", false },
                { "https:/x", false },
                { "see https://x", false },
                { "ftp://x", false },
                { "", false },
                { "#link https://x", false },
        };
        char name[160];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bool l = gv_is_link_line(cases[i].line, strlen(cases[i].line));

                snprintf(name, sizeof(name), "is_link_line \"%s\"", show(cases[i].line));
                check(l == cases[i].link, name, "got %d", l);
        }
        check(!gv_is_link_line("https://example.org", 8), "is_link_line bounded by len",
              "\"https://\" cut to 8 bytes counted as a link");
        check(gv_is_link_line("https://example.org", 9), "is_link_line one byte past the scheme",
              "not a link");
}

int main(int argc, char **argv)
{
        struct gv_config *cfg = NULL;
        enum gv_err r;

        (void)argc;
        (void)argv;
        r = gv_config_defaults(&cfg);
        check(r == GV_OK && cfg, "config defaults", "%s", gv_strerror(r));
        if (r != GV_OK) {
                check_finish();
                return 1;
        }
        check(strcmp(cfg->command_prefixes, "#!") == 0, "default prefixes \"#!\"", "got \"%s\"",
              show(cfg->command_prefixes));
        test_command(cfg);
        test_tag(cfg);
        test_tag_limits(cfg);
        test_strip();
        test_nick();
        test_link();
        gv_config_free(cfg);
        return check_finish();
}
