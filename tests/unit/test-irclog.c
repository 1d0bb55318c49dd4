/* tests/unit/test-irclog.c - table-driven tests for bridge/irclog.
 * argv[1] is seed 004 (a zodbot .log.txt). Prints "N passed, M failed". */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bridge/irclog.h"
#include "../../util/text.h"

#define S(lit) lit, sizeof(lit) - 1
#define HMS(h, m, s) ((((int64_t)(h) * 60 + (m)) * 60 + (s)) * 1000)
#define DAY HMS(24, 0, 0)
#define NONE SIZE_MAX           /* idx: check no line */
#define ANY (-2)                /* date: do not check */
#define MAY8_2017 1494201600000LL
#define OCT18_2018 1539820800000LL

enum src {
        LIT,            /* in/len below */
        SEED,           /* the file named by argv[1] */
        LONG_TXT,       /* a text line one byte over GV_IRCLOG_MAX_LINE, then a good one */
        MAX_TXT,        /* a text line of exactly GV_IRCLOG_MAX_LINE bytes */
        LONG_HTML,      /* a decoded HTML line over the limit, then a good one */
        TOO_BIG,        /* len GV_IRCLOG_MAX_BYTES + 1, the data never read */
        NULL_DATA,      /* data NULL, len 0 */
        NULL_DATA_LEN,  /* data NULL, len 1 */
};

struct tcase {
        const char *name;
        enum src src;
        const char *in;
        size_t len;
        enum gv_err err;
        size_t count;
        size_t skipped;
        int64_t date;
        size_t idx;             /* line to check, or NONE */
        int64_t ms;
        const char *nick;
        const char *text;       /* NULL: do not check */
        int action;
};

#define HTML_HEAD "<!DOCTYPE html>\n<html>\n<head><title>#cockpit Meeting</title></head>\n<body>\n"
#define HTML_START "<a name=\"l-1\"></a><tt class=\"tm\">13:00:44 </tt><span class=\"nk\">&lt;mvollmer&gt;</span> <span class=\"cmd\">#startmeeting </span><span class=\"cmdline\">meeting</span><br>\n"
#define HTML_ZOD "<a name=\"l-2\"></a><tt class=\"tm\">13:00:44 </tt><span class=\"nk\">&lt;zodbot&gt;</span> Meeting started Mon May  8 13:00:44 2017 UTC.  The chair is mvollmer.<br>\n"
#define HTML_ACT "<a name=\"l-3\"></a><tt class=\"tm\">13:25:58 </tt><span class=\"nka\">* mvollmer</span> <span class=\"ac\">pokes the robot</span><br>\n"
#define HTML_ENT "<tt class=\"tm\">13:26:00 </tt><span class=\"nk\">&lt;@bob&gt;</span> a &amp; b &quot;c&quot; &#39;d&#39; &apos;&#233; &#x263A; &#X263a;&nbsp;x &bogus; &#0; &#xD800; &#99999999; &#10;&#; &#x; &amp<br>\n"
#define HTML_ENT_TEXT "a & b \"c\" 'd' '\xc3\xa9 \xe2\x98\xba \xe2\x98\xba x &bogus; \xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd  &#; &#x; &amp"
#define HTML_DOC HTML_HEAD HTML_START HTML_ZOD HTML_ACT HTML_ENT "</body></html>\n"

static const struct tcase cases[] = {
        /* name                     src   input                                                      err        count skip date       idx   ms                     nick        text                        action */
        { "seed first line",        SEED, NULL, 0,                                                   GV_OK,     196, 2,   MAY8_2017, 0,    HMS(13, 0, 44),        "mvollmer", "#startmeeting meeting",    0 },
        { "seed zodbot line",       SEED, NULL, 0,                                                   GV_OK,     196, 2,   MAY8_2017, 1,    HMS(13, 0, 44),        "zodbot",   NULL,                       0 },
        { "seed action",            SEED, NULL, 0,                                                   GV_OK,     196, 2,   MAY8_2017, 140,  HMS(13, 25, 58),       "mvollmer", "pokes the robot to change the topic", 1 },
        { "seed last line, no LF",  SEED, NULL, 0,                                                   GV_OK,     196, 2,   MAY8_2017, 195,  HMS(13, 42, 33),       "mvollmer", "#endmeeting",              0 },
        { "empty input",            LIT,  S(""),                                                     GV_OK,     0,   0,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "NULL data, len 0",       NULL_DATA, NULL, 0,                                              GV_OK,     0,   0,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "NULL data, len 1",       NULL_DATA_LEN, NULL, 0,                                          GV_EINVAL, 0,   0,   ANY,       NONE, 0,                     NULL,       NULL,                       0 },
        { "over max bytes",         TOO_BIG, NULL, 0,                                                GV_ETOOBIG, 0,  0,   ANY,       NONE, 0,                     NULL,       NULL,                       0 },
        { "blank lines ignored",    LIT,  S("\n\n  \r\n\t\n"),                                       GV_OK,     0,   0,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "plain line",             LIT,  S("13:00:44 <nick> hello world\n"),                        GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "nick",     "hello world",              0 },
        { "CRLF and trailing ws",   LIT,  S("13:00:44 <nick> hello  \r\n"),                          GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "nick",     "hello",                    0 },
        { "leading ws",             LIT,  S("  13:00:44 <nick> hi"),                                 GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "nick",     "hi",                       0 },
        { "text keeps inner ws",    LIT,  S("13:00:44 <nick>   a  b\tc"),                            GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "nick",     "  a  b\tc",                0 },
        { "empty text",             LIT,  S("13:00:44 <nick>"),                                      GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "nick",     "",                         0 },
        { "text with <>",           LIT,  S("13:00:44 <a> <b> said * x"),                            GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "a",        "<b> said * x",             0 },
        { "action one space",       LIT,  S("13:25:58 * mvollmer pokes the robot"),                  GV_OK,     1,   0,   -1,        0,    HMS(13, 25, 58),       "mvollmer", "pokes the robot",          1 },
        { "action two spaces",      LIT,  S("13:25:58  * mvollmer pokes the robot"),                 GV_OK,     1,   0,   -1,        0,    HMS(13, 25, 58),       "mvollmer", "pokes the robot",          1 },
        { "action no text",         LIT,  S("13:25:58 * mvollmer"),                                  GV_OK,     1,   0,   -1,        0,    HMS(13, 25, 58),       "mvollmer", "",                         1 },
        { "action mode prefix",     LIT,  S("13:25:58 * @op waves"),                                 GV_OK,     1,   0,   -1,        0,    HMS(13, 25, 58),       "op",       "waves",                    1 },
        { "action no nick",         LIT,  S("13:25:58 *  \n"),                                       GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "action needs space",     LIT,  S("13:25:58 *nick waves"),                                 GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "brackets",               LIT,  S("[13:00:44] <nick> hi"),                                 GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "nick",     "hi",                       0 },
        { "brackets action",        LIT,  S("[23:59:59]  * nick waves"),                             GV_OK,     1,   0,   -1,        0,    HMS(23, 59, 59),       "nick",     "waves",                    1 },
        { "bracket unclosed",       LIT,  S("[13:00:44 <nick> hi"),                                  GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "bracket no space",       LIT,  S("[13:00:44]<nick> hi"),                                  GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "op prefix",              LIT,  S("13:00:44 <@chair> hi"),                                 GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "chair",    "hi",                       0 },
        { "voice prefix",           LIT,  S("13:00:44 <+voiced> hi"),                                GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "voiced",   "hi",                       0 },
        { "prefix only",            LIT,  S("13:00:44 <@> hi"),                                      GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "empty nick",             LIT,  S("13:00:44 <> hi"),                                       GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "nick with space",        LIT,  S("13:00:44 <a b> hi"),                                    GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "nick unclosed",          LIT,  S("13:00:44 <nick hi"),                                    GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "nick no space after",    LIT,  S("13:00:44 <nick>hi"),                                    GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "nick 64 chars",          LIT,  S("13:00:44 <nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn> hi"), GV_OK, 1, 0, -1, 0, HMS(13, 0, 44), "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn", "hi", 0 },
        { "nick 65 chars",          LIT,  S("13:00:44 <nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn> hi"), GV_OK, 0, 1, -1, NONE, 0, NULL, NULL, 0 },
        { "no space after time",    LIT,  S("13:00:44<nick> hi"),                                    GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "short time",             LIT,  S("13:00 <nick> hi"),                                      GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "hour 24",                LIT,  S("24:00:00 <nick> hi"),                                   GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "minute 60",              LIT,  S("13:60:00 <nick> hi"),                                   GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "time letters",           LIT,  S("1a:00:00 <nick> hi"),                                   GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "time only",              LIT,  S("13:00:00"),                                             GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "time and spaces",        LIT,  S("13:00:00 -!- nick has joined"),                         GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "junk then line",         LIT,  S("meeting\nLOGS\n09:00:00 <a> x\n"),                      GV_OK,     1,   2,   -1,        0,    HMS(9, 0, 0),          "a",        "x",                        0 },
        { "rollover",               LIT,  S("23:59:58 <a> x\n00:00:01 <b> y\n"),                     GV_OK,     2,   0,   -1,        1,    DAY + HMS(0, 0, 1),    "b",        "y",                        0 },
        { "rollover accumulates",   LIT,  S("23:00:00 <a> 1\n01:00:00 <a> 2\n23:30:00 <a> 3\n00:10:00 <a> 4\n"), GV_OK, 4, 0, -1, 3, 2 * DAY + HMS(0, 10, 0), "a", "4",                   0 },
        { "a step back is no midnight", LIT, S("23:00:00 <a> 1\n01:00:00 <a> 2\n00:30:00 <a> 3\n"),   GV_OK,     3,   0,   -1,        2,    DAY + HMS(1, 0, 0),    "a",        "3",                        0 },
        { "minutes back same day",  LIT,  S("13:00:00 <a> 1\n12:58:00 <a> 2\n"),                     GV_OK,     2,   0,   -1,        1,    HMS(13, 0, 0),         "a",        "2",                        0 },
        { "rollover stays",         LIT,  S("23:00:00 <a> 1\n01:00:00 <a> 2\n05:00:00 <a> 3\n"),     GV_OK,     3,   0,   -1,        2,    DAY + HMS(5, 0, 0),    "a",        "3",                        0 },
        { "same time no rollover",  LIT,  S("13:00:00 <a> 1\n13:00:00 <a> 2\n"),                     GV_OK,     2,   0,   -1,        1,    HMS(13, 0, 0),         "a",        "2",                        0 },
        { "skipped line no rollover", LIT, S("13:00:00 <a> 1\n12:00:00 x\n13:00:01 <a> 2\n"),       GV_OK,     2,   1,   -1,        1,    HMS(13, 0, 1),         "a",        "2",                        0 },
        { "NUL in text",            LIT,  S("13:00:44 <a> b\0c\n"),                                  GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "a",        "b\xef\xbf\xbd" "c",        0 },
        { "NUL in nick",            LIT,  S("13:00:44 <a\0b> c\n13:00:45 <d> e"),                    GV_OK,     1,   1,   -1,        0,    HMS(13, 0, 45),        "d",        "e",                        0 },
        { "NUL in time",            LIT,  S("13:0\0:44 <a> c\n"),                                    GV_OK,     0,   1,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "only NULs",              LIT,  S("\0\0\0\n\0"),                                           GV_OK,     0,   2,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "control chars in text",  LIT,  S("13:00:44 <a> b\x01" "c\x7f" "d\re"),                    GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "a",        "b c d e",                  0 },
        { "invalid UTF-8 text",     LIT,  S("13:00:44 <a> \xff\xfe ok \xc3"),                        GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "a",        "\xef\xbf\xbd\xef\xbf\xbd ok \xef\xbf\xbd", 0 },
        { "invalid UTF-8 nick",     LIT,  S("13:00:44 <\xffz> hi"),                                  GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "\xef\xbf\xbdz", "hi",                  0 },
        { "valid UTF-8 kept",       LIT,  S("13:00:44 <j\xc3\xb6rg> gr\xc3\xbc\xc3\x9f \xf0\x9f\x98\x80"), GV_OK, 1, 0,   -1,        0,    HMS(13, 0, 44),        "j\xc3\xb6rg", "gr\xc3\xbc\xc3\x9f \xf0\x9f\x98\x80", 0 },
        { "BOM",                    LIT,  S("\xef\xbb\xbf" "13:00:44 <a> b"),                        GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 44),        "a",        "b",                        0 },
        { "over-long line",         LONG_TXT, NULL, 0,                                               GV_OK,     1,   1,   -1,        0,    HMS(13, 0, 1),         "b",        "ok",                       0 },
        { "line at the limit",      MAX_TXT, NULL, 0,                                                GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 0),         "a",        NULL,                       0 },
        { "over-long HTML line",    LONG_HTML, NULL, 0,                                              GV_OK,     1,   1,   -1,        0,    HMS(13, 0, 1),         "b",        "ok",                       0 },
        { "date zodbot",            LIT,  S("13:00:44 <zodbot> Meeting started Mon May  8 13:00:44 2017 UTC.  The chair is x."), GV_OK, 1, 0, MAY8_2017, NONE, 0, NULL, NULL, 0 },
        { "date two-digit day",     LIT,  S("15:00:00 <b> Meeting started Thu Oct 18 15:00:00 2018 UTC."), GV_OK, 1, 0, OCT18_2018, NONE, 0, NULL, NULL,                      0 },
        { "date single space",      LIT,  S("13:00:44 <zodbot> Meeting started Mon May 8 13:00:44 2017 UTC"), GV_OK, 1, 0, MAY8_2017, NONE, 0, NULL, NULL,                       0 },
        { "date first wins",        LIT,  S("1:0:0\n13:00:44 <z> Meeting started Mon May  8 13:00:44 2017 UTC.\n13:00:45 <z> Meeting started Thu Oct 18 15:00:00 2018 UTC."), GV_OK, 2, 1, MAY8_2017, NONE, 0, NULL, NULL, 0 },
        { "date in an action",      LIT,  S("13:00:44 * z Meeting started Mon May  8 13:00:44 2017 UTC."), GV_OK, 1, 0, MAY8_2017, NONE, 0, NULL, NULL,                                  0 },
        { "date Feb 30",            LIT,  S("13:00:44 <z> Meeting started Mon Feb 30 13:00:44 2017 UTC."), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                                 0 },
        { "date Feb 29 leap",       LIT,  S("13:00:44 <z> Meeting started Mon Feb 29 13:00:44 2016 UTC."), GV_OK, 1, 0, 1456704000000LL, NONE, 0, NULL, NULL,                    0 },
        { "date Feb 29 no leap",    LIT,  S("13:00:44 <z> Meeting started Mon Feb 29 13:00:44 2017 UTC."), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                                 0 },
        { "date bad month",         LIT,  S("13:00:44 <z> Meeting started Mon Mai  8 13:00:44 2017 UTC."), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                                 0 },
        { "date bad weekday",       LIT,  S("13:00:44 <z> Meeting started Xyz May  8 13:00:44 2017 UTC."), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                                 0 },
        { "date bad time",          LIT,  S("13:00:44 <z> Meeting started Mon May  8 13:00 2017 UTC."), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                                    0 },
        { "date not UTC",           LIT,  S("13:00:44 <z> Meeting started Mon May  8 13:00:44 2017 CEST."), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                                0 },
        { "date truncated",         LIT,  S("13:00:44 <z> Meeting started Mon May  8 13:00:44 20"), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                                        0 },
        { "date day 0",             LIT,  S("13:00:44 <z> Meeting started Mon May  0 13:00:44 2017 UTC."), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                                 0 },
        { "date not at start",      LIT,  S("13:00:44 <z> x Meeting started Mon May  8 13:00:44 2017 UTC."), GV_OK, 1, 0, -1, NONE, 0, NULL, NULL,                               0 },
        { "html start",             LIT,  S(HTML_DOC),                                               GV_OK,     4,   1,   MAY8_2017, 0,    HMS(13, 0, 44),        "mvollmer", "#startmeeting meeting",    0 },
        { "html zodbot",            LIT,  S(HTML_DOC),                                               GV_OK,     4,   1,   MAY8_2017, 1,    HMS(13, 0, 44),        "zodbot",   "Meeting started Mon May  8 13:00:44 2017 UTC.  The chair is mvollmer.", 0 },
        { "html action",            LIT,  S(HTML_DOC),                                               GV_OK,     4,   1,   MAY8_2017, 2,    HMS(13, 25, 58),       "mvollmer", "pokes the robot",          1 },
        { "html entities",          LIT,  S(HTML_DOC),                                               GV_OK,     4,   1,   MAY8_2017, 3,    HMS(13, 26, 0),        "bob",      HTML_ENT_TEXT,              0 },
        { "html <tt not at start",  LIT,  S("junk\n<tt class=\"tm\">13:00:00 </tt>&lt;a&gt; hi"),                GV_OK,     1,   1,   -1,        0,    HMS(13, 0, 0),         "a",        "hi",                       0 },
        { "html br on one line",    LIT,  S("<tt>13:00:00 </tt>&lt;a&gt; one<br><tt>13:00:01 </tt>&lt;b&gt; two<BR/>"), GV_OK, 2, 0, -1, 1, HMS(13, 0, 1), "b", "two",                             0 },
        { "html br with attrs",     LIT,  S("<p>13:00:00 &lt;a&gt; one<br class=\"x\">13:00:01 &lt;b&gt; two<bra>x"), GV_OK, 2, 0, -1, 1, HMS(13, 0, 1), "b", "twox",                          0 },
        { "html literal <",         LIT,  S("<p>\n13:00:00 &lt;a&gt; x < y\n13:00:01 &lt;b&gt; z"), GV_OK,    2,   0,   -1,        0,    HMS(13, 0, 0),         "a",        "x < y",                    0 },
        { "html tag spans no LF",   LIT,  S("<p>\n13:00:00 &lt;a&gt; x <b\n13:00:01 &lt;b&gt; z>w"), GV_OK,   2,   0,   -1,        1,    HMS(13, 0, 1),         "b",        "z>w",                      0 },
        { "html rollover",          LIT,  S("<tt>23:59:59 </tt>&lt;a&gt; x<br>\n<tt>00:00:00 </tt>&lt;a&gt; y<br>\n"), GV_OK, 2, 0, -1, 1, DAY, "a", "y",                                   0 },
        { "html NUL and bad UTF-8", LIT,  S("<tt>13:00:00 </tt>&lt;a\xff&gt; b\0c\xfe<br>"),         GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 0),         "a\xef\xbf\xbd", "b\xef\xbf\xbd" "c\xef\xbf\xbd", 0 },
        { "html mode prefix",       LIT,  S("<tt>13:00:00 </tt>&lt;+v&gt; hi<br>"),                 GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 0),         "v",        "hi",                       0 },
        { "html only tags",         LIT,  S("<html><body></body></html>"),                           GV_OK,     0,   0,   -1,        NONE, 0,                     NULL,       NULL,                       0 },
        { "html unterminated",      LIT,  S("<tt>13:00:00 </tt>&lt;a&gt; x &am"),                    GV_OK,     1,   0,   -1,        0,    HMS(13, 0, 0),         "a",        "x &am",                    0 },
};

static unsigned passed, failed;
static bool case_failed;
static max_align_t sentinel_mem;        /* *ret must stay pointing here on failure */

static void fail(const struct tcase *c, const char *what)
{
        printf("FAIL %s: %s\n", c->name, what);
        case_failed = true;
}

static char *read_file(const char *path, size_t *len)
{
        FILE *f;
        char *d = NULL;
        long n;

        if (!path)
                return NULL;
        f = fopen(path, "rb");
        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
                goto out;
        d = malloc((size_t)n + 1);
        if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
                free(d);
                d = NULL;
        }
        *len = (size_t)n;
out:
        fclose(f);
        return d;
}

/* prefix + 'x' * fill + suffix */
static char *make(const char *prefix, size_t fill, const char *suffix, size_t *len)
{
        size_t pl = strlen(prefix), sl = strlen(suffix);
        char *d = malloc(pl + fill + sl);

        if (!d)
                return NULL;
        memcpy(d, prefix, pl);
        memset(d + pl, 'x', fill);
        memcpy(d + pl + fill, suffix, sl);
        *len = pl + fill + sl;
        return d;
}

/* Every line: nick non-empty, nick and text valid UTF-8, times never go back. */
static bool invariants(const struct gv_irclog *l)
{
        size_t i, n = gv_irclog_count(l);
        int64_t prev = 0;

        for (i = 0; i < n; i++) {
                const struct gv_irc_line *ln = gv_irclog_line(l, i);

                if (!ln || !ln->nick || !ln->text || !ln->nick[0] || ln->ms < prev ||
                    !gv_utf8_valid(ln->nick, strlen(ln->nick)) ||
                    !gv_utf8_valid(ln->text, strlen(ln->text)))
                        return false;
                prev = ln->ms;
        }
        return gv_irclog_line(l, n) == NULL;
}

static void run(const struct tcase *c, const char *seed, size_t seed_len)
{
        struct gv_irclog *l = NULL, *sentinel = (struct gv_irclog *)&sentinel_mem;
        struct gv_irclog *out = sentinel;
        const struct gv_irc_line *ln;
        const char *in = c->in;
        char *owned = NULL;
        size_t len = c->len;
        enum gv_err r;

        case_failed = false;
        switch (c->src) {
        case LIT:
                break;
        case SEED:
                if (!seed) {
                        fail(c, "seed file not readable (argv[1])");
                        goto out;
                }
                in = seed;
                len = seed_len;
                break;
        case LONG_TXT:
                in = owned = make("13:00:00 <a> ", GV_IRCLOG_MAX_LINE - 12, "\n13:00:01 <b> ok\n", &len);
                break;
        case MAX_TXT:
                in = owned = make("13:00:00 <a> ", GV_IRCLOG_MAX_LINE - 13, "\n", &len);
                break;
        case LONG_HTML:
                in = owned = make("<tt>13:00:00 </tt>&lt;a&gt; ", GV_IRCLOG_MAX_LINE,
                                  "<br>\n<tt>13:00:01 </tt>&lt;b&gt; ok<br>\n", &len);
                break;
        case TOO_BIG:
                in = "x";       /* never read: the length is checked first */
                len = (size_t)GV_IRCLOG_MAX_BYTES + 1;
                break;
        case NULL_DATA:
                in = NULL;
                len = 0;
                break;
        case NULL_DATA_LEN:
                in = NULL;
                len = 1;
                break;
        }
        if (c->src != LIT && c->src != SEED && c->src != NULL_DATA && c->src != NULL_DATA_LEN &&
            c->src != TOO_BIG && !owned) {
                fail(c, "out of memory building input");
                goto out;
        }

        r = gv_irclog_parse(in, len, &out);
        if (r != c->err) {
                char msg[128];

                snprintf(msg, sizeof(msg), "returned %s, want %s", gv_strerror(r),
                         gv_strerror(c->err));
                fail(c, msg);
                goto out;
        }
        if (r != GV_OK) {
                if (out != sentinel)
                        fail(c, "*ret written on failure");
                goto out;
        }
        l = out;
        if (gv_irclog_count(l) != c->count) {
                printf("  %s: count %zu, want %zu\n", c->name, gv_irclog_count(l), c->count);
                fail(c, "count");
        }
        if (gv_irclog_skipped(l) != c->skipped) {
                printf("  %s: skipped %zu, want %zu\n", c->name, gv_irclog_skipped(l), c->skipped);
                fail(c, "skipped");
        }
        if (c->date != ANY && gv_irclog_date(l) != c->date) {
                printf("  %s: date %lld, want %lld\n", c->name, (long long)gv_irclog_date(l),
                       (long long)c->date);
                fail(c, "date");
        }
        if (!invariants(l))
                fail(c, "invariants");
        if (c->idx != NONE) {
                ln = gv_irclog_line(l, c->idx);
                if (!ln) {
                        fail(c, "no such line");
                        goto out;
                }
                if (ln->ms != c->ms) {
                        printf("  %s: ms %lld, want %lld\n", c->name, (long long)ln->ms,
                               (long long)c->ms);
                        fail(c, "ms");
                }
                if (strcmp(ln->nick, c->nick) != 0) {
                        printf("  %s: nick \"%s\", want \"%s\"\n", c->name, ln->nick, c->nick);
                        fail(c, "nick");
                }
                if (c->text && strcmp(ln->text, c->text) != 0) {
                        printf("  %s: text \"%s\", want \"%s\"\n", c->name, ln->text, c->text);
                        fail(c, "text");
                }
                if (!c->text && c->src == MAX_TXT && strlen(ln->text) != GV_IRCLOG_MAX_LINE - 13)
                        fail(c, "text length");
                if (ln->action != (c->action != 0))
                        fail(c, "action");
        }
out:
        if (case_failed)
                failed++;
        else
                passed++;
        gv_irclog_free(l);
        free(owned);
}

int main(int argc, char **argv)
{
        size_t seed_len = 0, i;
        char *seed = read_file(argc > 1 ? argv[1] : NULL, &seed_len);

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                run(&cases[i], seed, seed_len);

        /* The API on NULL handles and a NULL ret. */
        if (gv_irclog_count(NULL) == 0 && gv_irclog_skipped(NULL) == 0 &&
            gv_irclog_date(NULL) == -1 && gv_irclog_line(NULL, 0) == NULL &&
            gv_irclog_free(NULL) == NULL && gv_irclog_parse("x", 1, NULL) == GV_EINVAL) {
                passed++;
        } else {
                printf("FAIL NULL handling\n");
                failed++;
        }

        free(seed);
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}
