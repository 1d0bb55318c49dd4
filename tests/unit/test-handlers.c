/* tests/unit/test-handlers.c - gv_handle() end to end on a ":memory:" store:
 * tags become agenda items (exactly once), acks, !agenda, a whole meeting
 * with its minutes, files and cross-posts, permissions, ignored events,
 * the size limit and hostile input, edits and redactions, pills; every effect is read back from the store
 * and the outbox. Prints "ok - name" or "FAIL - name: detail" per case and
 * "N passed, M failed" at the end; exits 1 on a failure. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../handlers/event.h"
#include "../../handlers/handlers.h"
#include "../../handlers/minutes.h"
#include "../../store/store.h"
#include "../../util/buf.h"
#include "../../util/config.h"
#include "../../util/err.h"
#include "../../util/text.h"

#define ROOM "!arch:example.org"
#define T0 1494248444000LL      /* Mon May  8 13:00:44 2017 UTC */
#define EYES "\xf0\x9f\x91\x80"
#define MAX_OUT 64

#include "check.h"

static bool has(const char *hay, const char *needle)
{
        return hay && strstr(hay, needle) != NULL;
}

static bool begins(const char *s, const char *prefix)
{
        return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool str_eq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

/* ---- JSON in the outbox's extra column ---- */

/* The string member key, or NULL. Returned text lives in a ring. */
static const char *json_str(const char *json, const char *key)
{
        static char ring[4][256];
        static unsigned next;
        char *out = ring[next++ % 4];
        cJSON *o = json ? cJSON_Parse(json) : NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        const char *res = NULL;

        if (cJSON_IsString(v) && v->valuestring) {
                snprintf(out, sizeof(ring[0]), "%s", v->valuestring);
                res = out;
        }
        cJSON_Delete(o);
        return res;
}

/* Number of entries of the array member key, -1 when it is not an array. */
static int json_array_len(const char *json, const char *key)
{
        cJSON *o = json ? cJSON_Parse(json) : NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;

        cJSON_Delete(o);
        return n;
}

static bool json_array_has(const char *json, const char *key, const char *want)
{
        cJSON *o = json ? cJSON_Parse(json) : NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key), *e;
        bool found = false;

        cJSON_ArrayForEach(e, v)
                if (cJSON_IsString(e) && str_eq(e->valuestring, want))
                        found = true;
        cJSON_Delete(o);
        return found;
}

static bool json_has_key(const char *json, const char *key)
{
        cJSON *o = json ? cJSON_Parse(json) : NULL;
        bool found = cJSON_GetObjectItemCaseSensitive(o, key) != NULL;

        cJSON_Delete(o);
        return found;
}

/* ---- the fixture ---- */

struct fx {
        struct gv_store *s;
        struct gv_config *cfg;
        struct gv_core *core;
        unsigned n;                     /* events made */
        int64_t ts_base;                /* event n is at ts_base + n seconds */
        char last_id[48];               /* the newest event's ID */
        struct gv_out out[MAX_OUT];     /* the last take() */
        size_t n_out;
        unsigned bad_extra;             /* message rows without a proper extra */
        unsigned handle_errors;         /* gv_handle() != GV_OK */
};

static bool fx_open(struct fx *f, const char *json)
{
        char err[512] = "";
        enum gv_err r;

        memset(f, 0, sizeof(*f));
        f->ts_base = T0 - 1000;
        if (json)
                r = gv_config_parse(json, strlen(json), &f->cfg, err, sizeof(err));
        else
                r = gv_config_defaults(&f->cfg);
        if (r == GV_OK)
                r = gv_store_open(":memory:", &f->s);
        if (r == GV_OK)
                r = gv_store_begin(f->s);
        if (r == GV_OK)
                r = gv_core_new(f->s, f->cfg, &f->core);
        if (r != GV_OK) {
                check(false, "fixture", "%s %s (%s)", gv_strerror(r), err, json ? json : "defaults");
                gv_core_free(f->core);
                gv_store_free(f->s);
                gv_config_free(f->cfg);
                memset(f, 0, sizeof(*f));
                return false;
        }
        return true;
}

static void out_clear(struct fx *f)
{
        for (size_t i = 0; i < f->n_out; i++)
                gv_out_clear(&f->out[i]);
        f->n_out = 0;
}

/* Reads every unsent outbox row into f->out and marks it sent. Every message
 * row's extra is checked: JSON with msgtype m.notice and a mentions array. */
static void take(struct fx *f)
{
        int64_t after = 0;
        struct gv_out o;

        out_clear(f);
        memset(&o, 0, sizeof(o));
        while (gv_store_outbox_next(f->s, after, &o) == GV_OK) {
                after = o.id;
                if (gv_store_outbox_sent(f->s, o.id, 1) != GV_OK)
                        f->bad_extra += 1000;
                if ((o.kind == GV_OUT_MESSAGE) &&
                    (json_array_len(o.extra, "mentions") < 0 ||
                     !str_eq(json_str(o.extra, "msgtype"), "m.notice")))
                        f->bad_extra++;
                if (f->n_out < MAX_OUT)
                        f->out[f->n_out++] = o;
                else
                        gv_out_clear(&o);
                memset(&o, 0, sizeof(o));
        }
}

static void fx_close(struct fx *f, const char *name)
{
        char n1[160], n2[160];

        take(f);
        out_clear(f);
        snprintf(n1, sizeof(n1), "%s: every message extra has msgtype and a mentions array", name);
        check(f->bad_extra == 0, n1, "%u bad rows", f->bad_extra);
        snprintf(n2, sizeof(n2), "%s: gv_handle returned GV_OK throughout", name);
        check(f->handle_errors == 0, n2, "%u errors", f->handle_errors);
        if (gv_store_commit(f->s) != GV_OK)
                check(false, name, "commit failed");
        gv_core_free(f->core);
        gv_store_free(f->s);
        gv_config_free(f->cfg);
        memset(f, 0, sizeof(*f));
}

struct ev {
        struct gv_event e;
        char id[48];
};

static struct gv_event *mk(struct fx *f, struct ev *v, const char *sender, const char *body)
{
        memset(v, 0, sizeof(*v));
        f->n++;
        snprintf(v->id, sizeof(v->id), "$event%u:example.org", f->n);
        v->e.room = ROOM;
        v->e.sender = sender;
        v->e.event_id = v->id;
        v->e.ts = f->ts_base + (int64_t)f->n * 1000;
        snprintf(f->last_id, sizeof(f->last_id), "%s", v->id);
        v->e.msgtype = "m.text";
        v->e.body = body;
        v->e.body_len = body ? strlen(body) : 0;
        return &v->e;
}

static enum gv_err handle(struct fx *f, const struct gv_event *e)
{
        enum gv_err r = gv_handle(f->core, e);

        if (r != GV_OK)
                f->handle_errors++;
        return r;
}

/* Sends body as sender and takes the outbox. */
static void say(struct fx *f, const char *sender, const char *body)
{
        struct ev v;

        (void)handle(f, mk(f, &v, sender, body));
        take(f);
}

static void say_power(struct fx *f, const char *sender, const char *body, int power)
{
        struct ev v;

        mk(f, &v, sender, body);
        v.e.power = power;
        (void)handle(f, &v.e);
        take(f);
}

static size_t agenda_len(struct fx *f, const char *agenda)
{
        struct gv_item *items = NULL;
        size_t n = 0;

        if (gv_store_agenda(f->s, agenda, &items, &n) != GV_OK)
                return (size_t)-1;
        gv_items_free(items, n);
        return n;
}

/* The first item on the agenda, cleared by the caller. */
static bool first_item(struct fx *f, const char *agenda, struct gv_item *out)
{
        struct gv_item *items = NULL;
        size_t n = 0;

        memset(out, 0, sizeof(*out));
        if (gv_store_agenda(f->s, agenda, &items, &n) != GV_OK || n == 0) {
                gv_items_free(items, n);
                return false;
        }
        *out = items[0];
        memset(&items[0], 0, sizeof(items[0]));
        gv_items_free(items, n);
        return true;
}

static size_t mitem_count(struct fx *f, int64_t meeting)
{
        struct gv_mitem *v = NULL;
        size_t n = 0;

        if (gv_store_mitems(f->s, meeting, &v, &n) != GV_OK)
                return (size_t)-1;
        gv_mitems_free(v, n);
        return n;
}

static int64_t running(struct fx *f)
{
        struct gv_meeting m;
        int64_t id;

        memset(&m, 0, sizeof(m));
        if (gv_store_meeting_running(f->s, ROOM, &m) != GV_OK)
                return 0;
        id = m.id;
        gv_meeting_clear(&m);
        return id;
}

/* ---- tags ---- */

static void test_tag(void)
{
        static const char *const mentions[] = { "@bob:example.org" };
        struct fx f;
        struct ev v;
        struct gv_item it;
        enum gv_err r;
        bool ok;

        if (!fx_open(&f, NULL))
                return;
        mk(&f, &v, "@alice:example.org", "#architecture Discuss keyframes cc @jviotti @hedss");
        v.e.mentions = mentions;
        v.e.n_mentions = 1;
        r = handle(&f, &v.e);
        check(r == GV_OK, "tag: handled", "%s", gv_strerror(r));
        ok = first_item(&f, "architecture", &it);
        check(ok && agenda_len(&f, "architecture") == 1 && str_eq(it.description, "Discuss keyframes") &&
              str_eq(it.reporter, "@alice:example.org") &&
              str_eq(it.mentions, "@jviotti @hedss @bob:example.org") && str_eq(it.room, ROOM) &&
              str_eq(it.event_id, v.id) && it.created == v.e.ts && it.status == GV_ITEM_OPEN,
              "tag: one item with reporter, cc and m.mentions",
              "%zu items; description \"%s\" reporter \"%s\" mentions \"%s\" event \"%s\"",
              agenda_len(&f, "architecture"), show(it.description), show(it.reporter),
              show(it.mentions), show(it.event_id));
        gv_item_clear(&it);
        take(&f);
        check(f.n_out == 1 && (f.out[0].kind == GV_OUT_REACTION) && str_eq(f.out[0].room, ROOM) &&
              str_eq(f.out[0].body, EYES) && str_eq(json_str(f.out[0].extra, "event_id"), v.id) &&
              str_eq(json_str(f.out[0].extra, "key"), EYES),
              "tag: reaction ack queued", "%zu rows; first kind %s body \"%s\" extra %s", f.n_out,
              f.n_out ? gv_out_kind_name(f.out[0].kind) : "-", f.n_out ? show(f.out[0].body) : "-",
              f.n_out ? show(f.out[0].extra) : "-");

        /* The same event again: nothing new. */
        r = handle(&f, &v.e);
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 && f.n_out == 0,
              "tag: same event twice creates and queues nothing", "%s, %zu items, %zu rows",
              gv_strerror(r), agenda_len(&f, "architecture"), f.n_out);
        /* Even when a replay brings it with another body. */
        v.e.body = "#architecture Something else entirely";
        v.e.body_len = strlen(v.e.body);
        r = handle(&f, &v.e);
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 && f.n_out == 0,
              "tag: same event ID with another body is still a no-op", "%zu items, %zu rows",
              agenda_len(&f, "architecture"), f.n_out);

        /* Duplicates inside m.mentions, and against the cc list. */
        {
                static const char *const dup[] = { "@carol:example.org", "@carol:example.org",
                                                   "@dave:example.org", "", "@not valid" };

                mk(&f, &v, "@bob:example.org", "#cust-arch Billing questions cc @dave:example.org");
                v.e.mentions = dup;
                v.e.n_mentions = sizeof(dup) / sizeof(dup[0]);
                (void)handle(&f, &v.e);
                take(&f);
                ok = false;
                {
                        struct gv_item *items = NULL;
                        size_t n = 0;

                        if (gv_store_agenda(f.s, "architecture", &items, &n) == GV_OK && n == 2) {
                                ok = str_eq(items[1].description, "Billing questions") &&
                                     str_eq(items[1].mentions,
                                            "@dave:example.org @carol:example.org");
                                check(ok, "tag: mentions deduplicated, blanks and bad IDs dropped",
                                      "mentions \"%s\"", show(items[1].mentions));
                        } else {
                                check(false, "tag: mentions deduplicated, blanks and bad IDs dropped",
                                      "%zu items", n);
                        }
                        gv_items_free(items, n);
                }
        }

        /* Only the first line is the item; the tag elsewhere is ignored. */
        say(&f, "@carol:example.org",
            "#architecture First line only cc @x\nmore context #architecture not a second item");
        check(agenda_len(&f, "architecture") == 3, "tag: only the first line makes an item",
              "%zu items", agenda_len(&f, "architecture"));
        /* A tag with no description gets a reply and no item. */
        say(&f, "@carol:example.org", "#architecture cc @x");
        check(agenda_len(&f, "architecture") == 3 && f.n_out == 1 &&
              (f.out[0].kind == GV_OUT_MESSAGE) && has(f.out[0].body, "needs a description"),
              "tag: empty description refused with a reply", "%zu items, %zu rows, body \"%s\"",
              agenda_len(&f, "architecture"), f.n_out, f.n_out ? show(f.out[0].body) : "-");
        /* An unconfigured tag is just a hashtag. */
        say(&f, "@carol:example.org", "#random thoughts");
        check(agenda_len(&f, "architecture") == 3 && f.n_out == 0,
              "tag: unknown hashtag ignored quietly", "%zu items, %zu rows",
              agenda_len(&f, "architecture"), f.n_out);
        /* A quoted tag in a rich-reply fallback is not a tag. */
        say(&f, "@carol:example.org",
            "> <@x:example.org> #architecture quoted item\n> more\n\n!agenda");
        check(agenda_len(&f, "architecture") == 3 && f.n_out == 1 &&
              begins(f.out[0].body, "Agenda for architecture (3 items):"),
              "tag: reply fallback stripped before parsing", "%zu items, %zu rows, \"%s\"",
              agenda_len(&f, "architecture"), f.n_out, f.n_out ? show(f.out[0].body) : "-");
        fx_close(&f, "tag");
}

static void test_ack_variants(void)
{
        struct fx f;
        struct ev v;

        if (fx_open(&f, "{\"ack\": \"notice\"}")) {
                mk(&f, &v, "@alice:example.org", "#architecture Discuss keyframes cc @hedss");
                (void)handle(&f, &v.e);
                take(&f);
                check(f.n_out == 1 && (f.out[0].kind == GV_OUT_MESSAGE) &&
                      str_eq(f.out[0].room, ROOM) &&
                      str_eq(f.out[0].body,
                             "Added to the architecture agenda as item 1: Discuss keyframes") &&
                      str_eq(json_str(f.out[0].extra, "in_reply_to"), v.id) &&
                      json_array_len(f.out[0].extra, "mentions") == 0 && f.out[0].html,
                      "ack notice: a reply naming the item", "%zu rows; \"%s\" extra %s", f.n_out,
                      f.n_out ? show(f.out[0].body) : "-", f.n_out ? show(f.out[0].extra) : "-");
                mk(&f, &v, "@alice:example.org", "#architecture <b>second</b> & more");
                (void)handle(&f, &v.e);
                take(&f);
                check(f.n_out == 1 && has(f.out[0].body, "item 2: <b>second</b> & more") &&
                      has(f.out[0].html, "item 2: &lt;b&gt;second&lt;/b&gt; &amp; more"),
                      "ack notice: text plain, HTML escaped", "body \"%s\" html \"%s\"",
                      f.n_out ? show(f.out[0].body) : "-", f.n_out ? show(f.out[0].html) : "-");
                fx_close(&f, "ack notice");
        }
        if (fx_open(&f, "{\"ack\": \"none\"}")) {
                say(&f, "@alice:example.org", "#architecture Quiet item");
                check(f.n_out == 0 && agenda_len(&f, "architecture") == 1,
                      "ack none: item added, nothing queued", "%zu rows, %zu items", f.n_out,
                      agenda_len(&f, "architecture"));
                fx_close(&f, "ack none");
        }
        if (fx_open(&f, "{\"ack_reaction\": \"+1\"}")) {
                say(&f, "@alice:example.org", "#architecture Custom reaction");
                check(f.n_out == 1 && (f.out[0].kind == GV_OUT_REACTION) &&
                      str_eq(f.out[0].body, "+1") && str_eq(json_str(f.out[0].extra, "key"), "+1"),
                      "ack reaction key from the config", "%zu rows, body \"%s\"", f.n_out,
                      f.n_out ? show(f.out[0].body) : "-");
                fx_close(&f, "ack reaction");
        }
}

/* ---- !agenda ---- */

static void test_agenda(void)
{
        struct fx f;
        struct ev v;

        if (!fx_open(&f, NULL))
                return;
        say(&f, "@bob:example.org", "!agenda");
        check(f.n_out == 1 && (f.out[0].kind == GV_OUT_MESSAGE) &&
              begins(f.out[0].body, "The architecture agenda is empty."),
              "agenda: empty", "%zu rows, \"%s\"", f.n_out, f.n_out ? show(f.out[0].body) : "-");

        say(&f, "@alice:example.org", "#architecture Discuss keyframes cc @jviotti @hedss");
        say(&f, "@carol:example.org", "Discuss remaining billing model #cust-arch cc @pimterry");
        mk(&f, &v, "@bob:example.org", "!agenda");
        (void)handle(&f, &v.e);
        take(&f);
        check(f.n_out == 1 && (f.out[0].kind == GV_OUT_MESSAGE) && str_eq(f.out[0].room, ROOM) &&
              str_eq(f.out[0].body,
                     "Agenda for architecture (2 items):\n"
                     "1. Discuss keyframes (reporter @alice:example.org; mentions @jviotti @hedss)\n"
                     "2. Discuss remaining billing model (reporter @carol:example.org; "
                     "mentions @pimterry)"),
              "agenda: reply lists the items", "%zu rows, \"%s\"", f.n_out,
              f.n_out ? show(f.out[0].body) : "-");
        check(f.n_out == 1 && has(f.out[0].html, "<ol>") &&
              has(f.out[0].html, "<li><a href=\"https://matrix.to/#/") &&
              has(f.out[0].html, ">Discuss keyframes</a>") &&
              has(f.out[0].html, ">Discuss remaining billing model</a>"),
              "agenda: HTML list with permalinks", "html \"%s\"",
              f.n_out ? show(f.out[0].html) : "-");
        check(f.n_out == 1 && str_eq(json_str(f.out[0].extra, "in_reply_to"), v.id) &&
              json_array_len(f.out[0].extra, "mentions") == 0 &&
              !json_has_key(f.out[0].extra, "thread"),
              "agenda: extra has in_reply_to and an empty mentions array", "extra %s",
              f.n_out ? show(f.out[0].extra) : "-");

        /* In a thread: the reply carries the thread root. */
        mk(&f, &v, "@bob:example.org", "!agenda");
        v.e.thread_root = "$root:example.org";
        v.e.reply_to = "$other:example.org";
        (void)handle(&f, &v.e);
        take(&f);
        check(f.n_out == 1 && str_eq(json_str(f.out[0].extra, "thread"), "$root:example.org") &&
              str_eq(json_str(f.out[0].extra, "in_reply_to"), v.id),
              "agenda: thread_root carried as \"thread\"", "extra %s",
              f.n_out ? show(f.out[0].extra) : "-");

        /* #agenda works like !agenda, "  !AGENDA" too. */
        say(&f, "@bob:example.org", "  !AGENDA");
        check(f.n_out == 1 && begins(f.out[0].body, "Agenda for architecture (2 items):"),
              "agenda: case-insensitive command", "%zu rows", f.n_out);
        say(&f, "@bob:example.org", "#agenda");
        check(f.n_out == 1 && begins(f.out[0].body, "Agenda for architecture (2 items):"),
              "agenda: # prefix", "%zu rows", f.n_out);

        /* Sub-commands through the agenda. */
        say(&f, "@bob:example.org", "!agenda add Something typed by hand");
        check(f.n_out == 1 && str_eq(f.out[0].body,
                                      "Added to the architecture agenda as item 3: Something typed by hand") &&
              agenda_len(&f, "architecture") == 3, "agenda add", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@bob:example.org", "!agenda drop 1");
        check(f.n_out == 1 && begins(f.out[0].body, "Only chairs or the reporter") &&
              agenda_len(&f, "architecture") == 3, "agenda drop by someone else refused",
              "\"%s\", %zu items", f.n_out ? show(f.out[0].body) : "-",
              agenda_len(&f, "architecture"));
        say(&f, "@alice:example.org", "!agenda drop 1");
        check(f.n_out == 1 && begins(f.out[0].body, "Dropped item 1: Discuss keyframes") &&
              agenda_len(&f, "architecture") == 2, "agenda drop by the reporter", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@bob:example.org", "!agenda drop 99999999999999999999999");
        check(f.n_out == 1 && has(f.out[0].body, "is not an agenda item number") &&
              agenda_len(&f, "architecture") == 2, "agenda huge number refused", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@bob:example.org", "!agenda pin 7");
        check(f.n_out == 1 && str_eq(f.out[0].body, "There is no item 7: the architecture agenda has 2 items."),
              "agenda out-of-range number", "\"%s\"", f.n_out ? show(f.out[0].body) : "-");
        fx_close(&f, "agenda");
}

/* ---- a meeting ---- */

static void test_meeting(void)
{
        static const char *const files[] = { ".txt", ".html", ".log.txt", ".log.html", ".md" };
        static const char *const cc[] = { "@dave:example.org" };
        struct fx f;
        struct ev v;
        struct gv_item it;
        struct gv_meeting m;
        struct gv_buf text = GV_BUF_INIT(1 << 20);
        int64_t id, item_id = 0;
        size_t before;
        enum gv_err r;
        bool chair = false;

        if (!fx_open(&f, "{\"crosspost_rooms\": [\"!notes:example.org\", \"!arch:example.org\", "
                         "\"#wiki:example.org\"], \"meeting_label\": \"Arch call\"}"))
                return;
        mk(&f, &v, "@carol:example.org", "#architecture Discuss keyframes cc @jviotti");
        v.e.mentions = cc;
        v.e.n_mentions = 1;
        (void)handle(&f, &v.e);
        take(&f);
        f.ts_base = T0 - (int64_t)(f.n + 1) * 1000;    /* the meeting starts at T0 */
        say(&f, "@alice:example.org", "#startmeeting Arch call");
        id = running(&f);
        memset(&m, 0, sizeof(m));
        r = gv_store_meeting_running(f.s, ROOM, &m);
        check(r == GV_OK && str_eq(m.name, "Arch call") && str_eq(m.starter, "alice") &&
              str_eq(m.agenda, "architecture") && m.started == T0,
              "meeting: started", "%s name \"%s\" starter \"%s\"", gv_strerror(r), show(m.name),
              show(m.starter));
        gv_meeting_clear(&m);
        check(f.n_out == 1 && begins(f.out[0].body,
                                      "Meeting started Mon May  8 13:00:44 2017 UTC. The chair is alice.") &&
              has(f.out[0].body, "The architecture agenda has 1 item"),
              "meeting: start reply", "\"%s\"", f.n_out ? show(f.out[0].body) : "-");
        r = gv_store_chair_is(f.s, id, "@alice:example.org", &chair);
        check(r == GV_OK && chair, "meeting: the starter is a chair", "%d", chair);

        say(&f, "@alice:example.org", "#startmeeting again");
        check(f.n_out == 1 && begins(f.out[0].body, "A meeting is already running here") &&
              running(&f) == id, "meeting: a second start is refused", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");

        say(&f, "@bob:example.org", "#info general note");
        say(&f, "@alice:example.org", "#topic Discuss keyframes");
        check(f.n_out == 1 &&
              str_eq(f.out[0].body, "Topic: Discuss keyframes (agenda item raised by "
                                    "@carol:example.org; cc @jviotti @dave:example.org)") &&
              json_array_has(f.out[0].extra, "mentions", "@carol:example.org") &&
              json_array_has(f.out[0].extra, "mentions", "@dave:example.org") &&
              json_array_len(f.out[0].extra, "mentions") == 2,
              "meeting: topic takes up the agenda item and pings its people",
              "\"%s\" extra %s", f.n_out ? show(f.out[0].body) : "-",
              f.n_out ? show(f.out[0].extra) : "-");
        if (first_item(&f, "architecture", &it)) {
                item_id = it.id;
                check(it.discussed_in == id, "meeting: item marked discussed", "discussed_in %" PRId64,
                      it.discussed_in);
                gv_item_clear(&it);
        } else {
                check(false, "meeting: item marked discussed", "agenda empty");
        }
        say(&f, "@bob:example.org", "#info keyframes are hard");
        say(&f, "@alice:example.org", "#action bob to write it up");
        say(&f, "@dave:example.org", "hello everyone");
        say(&f, "@dave:example.org", "https://example.org/keyframes is the spec");

        /* Permissions. */
        before = mitem_count(&f, id);
        say(&f, "@bob:example.org", "#topic Sneaky topic");
        check(f.n_out == 1 && str_eq(f.out[0].body, "Only chairs can use #topic. Chairs: alice") &&
              str_eq(json_str(f.out[0].extra, "in_reply_to"), f.last_id) &&
              mitem_count(&f, id) == before,
              "meeting: non-chair #topic refused, nothing noted", "\"%s\" %zu -> %zu items",
              f.n_out ? show(f.out[0].body) : "-", before, mitem_count(&f, id));
        say_power(&f, "@erin:example.org", "#agreed not yet", 49);
        check(f.n_out == 1 && begins(f.out[0].body, "Only chairs can use #agreed.") &&
              mitem_count(&f, id) == before, "meeting: power 49 is no chair", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        say_power(&f, "@erin:example.org", "#agreed keyframes go in", 50);
        check(f.n_out == 0 && mitem_count(&f, id) == before + 1,
              "meeting: power 50 (chair_power_level) makes a chair", "%zu rows, %zu items",
              f.n_out, mitem_count(&f, id));
        say(&f, "@alice:example.org", "#chair @bob:example.org");
        say(&f, "@bob:example.org", "#idea sneaky no more");
        say(&f, "@bob:example.org", "#undo");
        check(f.n_out == 1 && str_eq(f.out[0].body, "Removed item from minutes: IDEA: sneaky no more") &&
              mitem_count(&f, id) == before + 1, "meeting: #chair then #undo by the new chair",
              "\"%s\"", f.n_out ? show(f.out[0].body) : "-");

        r = gv_minutes_render(f.s, f.cfg, id, GV_MIN_TEXT, &text);
        check(r == GV_OK && has(text.p, "#meeting: Arch call") &&
              has(text.p, "Meeting started by alice at 13:00:44 UTC") &&
              has(text.p, "Discuss keyframes") && has(text.p, "keyframes are hard") &&
              has(text.p, "general note") && has(text.p, "bob to write it up") &&
              has(text.p, "keyframes go in") && has(text.p, "https://example.org/keyframes") &&
              !has(text.p, "Sneaky topic") && !has(text.p, "sneaky no more") &&
              !has(text.p, "Meeting ended"),
              "meeting: running minutes hold the items", "%s \"%s\"", gv_strerror(r),
              show(text.p));

        say(&f, "@bob:example.org", "#endmeeting");
        check(running(&f) == 0, "meeting: #endmeeting by a chair ends it", "still running");
        {
                size_t msgs = 0, xposts = 0, nfiles = 0;
                bool files_ok = true, body_ok = false, order_ok = true;
                char base[96], name[128];
                struct gv_buf fin = GV_BUF_INIT(1 << 20);

                r = gv_minutes_render(f.s, f.cfg, id, GV_MIN_TEXT, &fin);
                gv_minutes_basename("Arch call", T0, base);
                for (size_t i = 0; i < f.n_out; i++) {
                        /* minutes and files are rendered when delivered: render
                         * them here the way the bridge does */
                        struct gv_out ro = f.out[i];
                        const struct gv_out *o = &ro;
                        struct gv_buf rb = GV_BUF_INIT(1 << 24), rh = GV_BUF_INIT(1 << 24);

                        if ((ro.kind == GV_OUT_MINUTES) || (ro.kind == GV_OUT_FILE)) {
                                enum gv_err rr = gv_minutes_for_outbox(f.s, f.cfg, ro.kind, ro.extra,
                                                                       &rb, &rh);

                                check(rr == GV_OK && ro.body[0] == '\0', "meeting: outbox row renders",
                                      "%s %s", gv_out_kind_name(ro.kind), gv_strerror(rr));
                                ro.body = (char *)gv_buf_str(&rb);
                                ro.html = (ro.kind == GV_OUT_MINUTES) ? (char *)gv_buf_str(&rh) : NULL;
                                ro.kind = GV_OUT_MESSAGE;
                                if (f.out[i].kind == GV_OUT_FILE)
                                        ro.kind = GV_OUT_FILE;
                        }
                        if ((o->kind == GV_OUT_MESSAGE) && str_eq(o->room, ROOM)) {
                                msgs++;
                                body_ok = str_eq(o->body, fin.p) && has(o->body, "Meeting ended at") &&
                                          o->html && has(o->html, "keyframes are hard") &&
                                          !json_has_key(o->extra, "in_reply_to") && i == 0;
                        } else if (o->kind == GV_OUT_MESSAGE) {
                                xposts++;
                                order_ok = order_ok && i >= 1 && i <= 2;
                                check(begins(o->body, "#meeting-notes for 8 May 2017 Arch call\n\n") &&
                                      has(o->body, "keyframes are hard") &&
                                      begins(o->html, "<p>#meeting-notes for 8 May 2017 Arch call</p>") &&
                                      (str_eq(o->room, "!notes:example.org") ||
                                       str_eq(o->room, "#wiki:example.org")),
                                      "meeting: cross-post begins \"#meeting-notes for \"",
                                      "room %s body \"%s\"", show(o->room), show(o->body));
                        } else if (o->kind == GV_OUT_FILE) {
                                order_ok = order_ok && i >= 3;
                                if (nfiles < 5) {
                                        snprintf(name, sizeof(name), "%s%s", base, files[nfiles]);
                                        files_ok = files_ok && str_eq(o->room, name) && o->body[0];
                                }
                                if (nfiles == 0)        /* MeetBot's layout, not the message's */
                                        files_ok = files_ok && !str_eq(o->body, fin.p) &&
                                                   has(o->body, "Generated by `MeetBot`_ 0.1.4");
                                if (nfiles == 2)
                                        files_ok = files_ok && has(o->body, "hello everyone") &&
                                                   has(o->body, "Sneaky topic");
                                nfiles++;
                        }
                        gv_buf_free(&rb);
                        gv_buf_free(&rh);
                }
                check(r == GV_OK && msgs == 1 && body_ok, "meeting: one message with the minutes to the room",
                      "%zu messages, body ok %d", msgs, body_ok);
                check(xposts == 2, "meeting: one cross-post per other configured room",
                      "%zu cross-posts", xposts);
                check(nfiles == 5 && files_ok && order_ok,
                      "meeting: files .txt .html .log.txt .log.html .md queued",
                      "%zu files, names ok %d, order ok %d (base %s)", nfiles, files_ok, order_ok, base);
                check(f.n_out == 8, "meeting: nothing else queued at the end", "%zu rows", f.n_out);
                gv_buf_free(&fin);
        }
        {
                struct gv_item got;

                memset(&got, 0, sizeof(got));
                r = gv_store_item_get(f.s, item_id, &got);
                check(r == GV_OK && got.status == GV_ITEM_DONE && agenda_len(&f, "architecture") == 0,
                      "meeting: discussed item archived as done", "%s status %d", gv_strerror(r),
                      (int)got.status);
                gv_item_clear(&got);
        }
        say(&f, "@alice:example.org", "#info after the end");
        check(f.n_out == 0 && mitem_count(&f, id) == before + 1,
              "meeting: #info after the end is ignored", "%zu rows", f.n_out);
        say(&f, "@alice:example.org", "!info after the end");
        check(f.n_out == 1 && begins(f.out[0].body, "No meeting is running in this room"),
              "meeting: !info after the end gets a reply", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        gv_buf_free(&text);
        fx_close(&f, "meeting");
}

/* ---- events that are ignored ---- */

static void test_ignored(void)
{
        struct fx f;
        struct ev v;

        if (fx_open(&f, NULL)) {
                mk(&f, &v, "@alice:example.org", "#architecture From a notice");
                v.e.msgtype = "m.notice";
                (void)handle(&f, &v.e);
                mk(&f, &v, "@alice:example.org", "!agenda");
                v.e.msgtype = "m.notice";
                (void)handle(&f, &v.e);
                take(&f);
                check(f.n_out == 0 && agenda_len(&f, "architecture") == 0,
                      "m.notice events ignored", "%zu rows, %zu items", f.n_out,
                      agenda_len(&f, "architecture"));
                say(&f, "gavel", "!agenda");
                say(&f, "gavel", "#architecture from the bot");
                check(f.n_out == 0 && agenda_len(&f, "architecture") == 0,
                      "the bot's own events ignored (bot_name)", "%zu rows", f.n_out);
                mk(&f, &v, "@alice:example.org", "!agenda");
                v.e.event_id = "";
                (void)handle(&f, &v.e);
                mk(&f, &v, "@alice:example.org", "!agenda");
                v.e.event_id = NULL;
                (void)handle(&f, &v.e);
                mk(&f, &v, "", "!agenda");
                (void)handle(&f, &v.e);
                take(&f);
                check(f.n_out == 0, "events without ID or sender ignored", "%zu rows", f.n_out);
                mk(&f, &v, "@alice:example.org", "/me waves #architecture nope");
                v.e.msgtype = "m.emote";
                (void)handle(&f, &v.e);
                take(&f);
                check(f.n_out == 0 && agenda_len(&f, "architecture") == 0,
                      "m.emote is no tag and no command", "%zu rows", f.n_out);
                say(&f, "@alice:example.org", "#topic outside a meeting");
                check(f.n_out == 0, "#topic outside a meeting ignored like MeetBot", "%zu rows",
                      f.n_out);
                say(&f, "@alice:example.org", "!topic outside a meeting");
                check(f.n_out == 1 && begins(f.out[0].body, "No meeting is running in this room"),
                      "!topic outside a meeting gets a reply", "%zu rows", f.n_out);
                say(&f, "@alice:example.org", "!nosuchcommand");
                check(f.n_out == 1 && str_eq(f.out[0].body, "Unknown command !nosuchcommand. Try !help."),
                      "unknown !command gets a reply", "\"%s\"", f.n_out ? show(f.out[0].body) : "-");
                say(&f, "@alice:example.org", "#nosuchcommand");
                check(f.n_out == 0, "unknown #word is a hashtag", "%zu rows", f.n_out);
                fx_close(&f, "ignored");
        }
        if (fx_open(&f, "{\"user_id\": \"@gavel:example.org\"}")) {
                say(&f, "@gavel:example.org", "!agenda");
                check(f.n_out == 0, "the bot's own events ignored (user_id)", "%zu rows", f.n_out);
                say(&f, "@alice:example.org", "!agenda");
                check(f.n_out == 1, "others still answered", "%zu rows", f.n_out);
                fx_close(&f, "user_id");
        }
}

/* ---- edits and redactions ---- */

/* An m.replace of target by sender with the new body. */
static struct gv_event *mk_edit(struct fx *f, struct ev *v, const char *sender, const char *target,
                                const char *body)
{
        mk(f, v, sender, body);
        v->e.replaces = target;
        return &v->e;
}

/* An m.room.redaction of target by sender. */
static struct gv_event *mk_redact(struct fx *f, struct ev *v, const char *sender, const char *target)
{
        mk(f, v, sender, "");
        v->e.msgtype = NULL;
        v->e.redacts = target;
        return &v->e;
}

/* The meeting rendered in fmt; "" on failure. Freed by the caller. */
static char *render(struct fx *f, int64_t meeting, enum gv_minutes_fmt fmt)
{
        struct gv_buf b = GV_BUF_INIT(1 << 20);
        char *out = NULL;

        if (gv_minutes_render(f->s, f->cfg, meeting, fmt, &b) == GV_OK && b.p)
                out = strdup(b.p);
        gv_buf_free(&b);
        return out ? out : strdup("");
}

static void test_redactions(void)
{
        struct fx f;
        struct ev v;
        struct gv_item it;
        char tag_id[48], info_id[48], keep_id[48], topic_id[48], under_id[48];
        char *log = NULL, *min = NULL;
        int64_t id, item_id = 0;
        size_t before;
        enum gv_err r;

        if (!fx_open(&f, NULL))
                return;
        /* A tag, redacted: the item is dropped, quietly. */
        say(&f, "@alice:example.org", "#architecture Redact me cc @bob:example.org");
        snprintf(tag_id, sizeof(tag_id), "%s", f.last_id);
        say(&f, "@alice:example.org", "#architecture Keep me");
        check(agenda_len(&f, "architecture") == 2, "redact: two items to start with", "%zu items",
              agenda_len(&f, "architecture"));
        r = handle(&f, mk_redact(&f, &v, "@mod:example.org", tag_id));
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 && f.n_out == 0,
              "redact: a tag's item is dropped with no reply", "%s, %zu items, %zu rows",
              gv_strerror(r), agenda_len(&f, "architecture"), f.n_out);
        if (first_item(&f, "architecture", &it)) {
                check(str_eq(it.description, "Keep me"), "redact: the other item stays", "\"%s\"",
                      show(it.description));
                gv_item_clear(&it);
        }
        /* The same redaction event again, and another redaction of the same tag. */
        r = handle(&f, &v.e);
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 && f.n_out == 0,
              "redact: the same redaction event twice is a no-op", "%zu items, %zu rows",
              agenda_len(&f, "architecture"), f.n_out);
        r = handle(&f, mk_redact(&f, &v, "@alice:example.org", tag_id));
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 && f.n_out == 0,
              "redact: a redacted tag redacted again is a no-op", "%zu items, %zu rows",
              agenda_len(&f, "architecture"), f.n_out);
        /* Unknown targets. */
        r = handle(&f, mk_redact(&f, &v, "@alice:example.org", "$nosuch:example.org"));
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 && f.n_out == 0,
              "redact: an unknown event is a no-op", "%zu items, %zu rows",
              agenda_len(&f, "architecture"), f.n_out);

        /* In a meeting: lines become "[redacted]", noted items leave the minutes. */
        say(&f, "@alice:example.org", "#startmeeting Redactions");
        id = running(&f);
        say(&f, "@bob:example.org", "#info secret plans");
        snprintf(info_id, sizeof(info_id), "%s", f.last_id);
        say(&f, "@bob:example.org", "#info public plans");
        snprintf(keep_id, sizeof(keep_id), "%s", f.last_id);
        say(&f, "@alice:example.org", "#topic Keep me");
        snprintf(topic_id, sizeof(topic_id), "%s", f.last_id);
        say(&f, "@bob:example.org", "#idea under the topic");
        snprintf(under_id, sizeof(under_id), "%s", f.last_id);
        if (first_item(&f, "architecture", &it)) {
                item_id = it.id;
                check(it.discussed_in == id, "redact: the topic took up the item", "%" PRId64,
                      it.discussed_in);
                gv_item_clear(&it);
        }
        before = mitem_count(&f, id);
        r = handle(&f, mk_redact(&f, &v, "@bob:example.org", info_id));
        take(&f);
        log = render(&f, id, GV_MIN_LOG_TEXT);
        min = render(&f, id, GV_MIN_TEXT);
        check(r == GV_OK && f.n_out == 0 && has(log, "<bob> [redacted]") &&
              !has(log, "secret plans") && has(log, "<bob> #info public plans"),
              "redact: the log line reads [redacted]", "%s %zu rows log \"%s\"", gv_strerror(r),
              f.n_out, show(log));
        check(mitem_count(&f, id) == before - 1 && !has(min, "secret plans") &&
              has(min, "public plans") && has(min, "under the topic"),
              "redact: its #info leaves the minutes", "%zu -> %zu items, minutes \"%s\"", before,
              mitem_count(&f, id), show(min));
        free(log);
        free(min);
        /* A topic with an item under it: the item stays, the agenda item is not discussed. */
        r = handle(&f, mk_redact(&f, &v, "@alice:example.org", topic_id));
        take(&f);
        min = render(&f, id, GV_MIN_TEXT);
        check(r == GV_OK && f.handle_errors == 0 && mitem_count(&f, id) == before - 2 &&
              !has(min, "Keep me") && has(min, "under the topic"),
              "redact: a topic goes, what was noted under it stays", "%s %zu items \"%s\"",
              gv_strerror(r), mitem_count(&f, id), show(min));
        free(min);
        memset(&it, 0, sizeof(it));
        r = gv_store_item_get(f.s, item_id, &it);
        check(r == GV_OK && it.discussed_in == 0 && it.status == GV_ITEM_OPEN,
              "redact: the topic's agenda item is no longer discussed", "%s discussed %" PRId64,
              gv_strerror(r), it.discussed_in);
        gv_item_clear(&it);
        say(&f, "@bob:example.org", "#info after the redacted topic");
        check(f.handle_errors == 0 && mitem_count(&f, id) == before - 1,
              "redact: noting goes on after a redacted topic", "%zu items", mitem_count(&f, id));
        /* Redacted in another room: nothing. */
        mk_redact(&f, &v, "@bob:example.org", under_id);
        v.e.room = "!elsewhere:example.org";
        r = handle(&f, &v.e);
        take(&f);
        check(r == GV_OK && mitem_count(&f, id) == before - 1,
              "redact: a redaction in another room changes nothing", "%zu items",
              mitem_count(&f, id));
        say(&f, "@alice:example.org", "#endmeeting");
        check(running(&f) == 0, "redact: the meeting ends", "still running");
        fx_close(&f, "redact");
}

static void test_edits(void)
{
        static const char *const cc[] = { "@dave:example.org" };
        struct fx f;
        struct ev v;
        struct gv_item it;
        char tag_id[48], info_id[48], multi_id[48], chat_id[48];
        char *log = NULL, *min = NULL;
        int64_t id;
        size_t before;
        bool got;
        enum gv_err r;

        if (!fx_open(&f, NULL))
                return;
        say(&f, "@alice:example.org", "#architecture Old description cc @bob:example.org");
        snprintf(tag_id, sizeof(tag_id), "%s", f.last_id);
        /* Someone else's edit changes nothing. */
        r = handle(&f, mk_edit(&f, &v, "@mallory:example.org", tag_id,
                               "#architecture Hijacked cc @mallory:example.org"));
        take(&f);
        got = first_item(&f, "architecture", &it);
        check(r == GV_OK && got &&
              str_eq(it.description, "Old description") && str_eq(it.mentions, "@bob:example.org") &&
              f.n_out == 0 && agenda_len(&f, "architecture") == 1,
              "edit: by another sender changes nothing", "\"%s\" \"%s\" %zu rows",
              show(it.description), show(it.mentions), f.n_out);
        gv_item_clear(&it);
        /* The sender's edit: new description and mentions, no new item, no reply. */
        mk_edit(&f, &v, "@alice:example.org", tag_id,
                "#architecture New description cc @carol:example.org");
        v.e.mentions = cc;
        v.e.n_mentions = 1;
        r = handle(&f, &v.e);
        take(&f);
        got = first_item(&f, "architecture", &it);
        check(r == GV_OK && got &&
              str_eq(it.description, "New description") &&
              str_eq(it.mentions, "@carol:example.org @dave:example.org") &&
              str_eq(it.event_id, tag_id) && agenda_len(&f, "architecture") == 1 && f.n_out == 0,
              "edit: by the sender changes description and mentions", "\"%s\" \"%s\" %zu items %zu rows",
              show(it.description), show(it.mentions), agenda_len(&f, "architecture"), f.n_out);
        gv_item_clear(&it);
        /* An edit without the tag leaves the item as it is. */
        r = handle(&f, mk_edit(&f, &v, "@alice:example.org", tag_id, "no tag any more"));
        take(&f);
        got = first_item(&f, "architecture", &it);
        check(r == GV_OK && got &&
              str_eq(it.description, "New description") && f.n_out == 0,
              "edit: a first line without a tag leaves the item", "\"%s\"", show(it.description));
        gv_item_clear(&it);
        /* An edit runs no command. */
        r = handle(&f, mk_edit(&f, &v, "@alice:example.org", tag_id, "!agenda"));
        take(&f);
        got = first_item(&f, "architecture", &it);
        check(r == GV_OK && f.n_out == 0 && got &&
              str_eq(it.description, "New description"),
              "edit: an edit to !agenda gets no reply and leaves the item", "%zu rows", f.n_out);
        gv_item_clear(&it);
        /* Unknown targets. */
        r = handle(&f, mk_edit(&f, &v, "@alice:example.org", "$nosuch:example.org",
                               "#architecture Unknown"));
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 && f.n_out == 0,
              "edit: of an unknown event is a no-op", "%zu items, %zu rows",
              agenda_len(&f, "architecture"), f.n_out);

        /* In a meeting. */
        say(&f, "@alice:example.org", "#startmeeting Edits");
        id = running(&f);
        say(&f, "@bob:example.org", "#info old");
        snprintf(info_id, sizeof(info_id), "%s", f.last_id);
        before = mitem_count(&f, id);
        r = handle(&f, mk_edit(&f, &v, "@bob:example.org", info_id, "#info new"));
        take(&f);
        log = render(&f, id, GV_MIN_LOG_TEXT);
        min = render(&f, id, GV_MIN_TEXT);
        check(r == GV_OK && has(min, "new") && !has(min, "old") && mitem_count(&f, id) == before &&
              f.n_out == 0, "edit: #info old -> #info new changes the item",
              "%zu -> %zu items, minutes \"%s\"", before, mitem_count(&f, id), show(min));
        check(has(log, "<bob> #info new") && !has(log, "#info old") && !has(log, "* #info"),
              "edit: ... and its log line, with no new line", "log \"%s\"", show(log));
        free(log);
        free(min);
        /* Another sender's edit of a line: nothing. */
        r = handle(&f, mk_edit(&f, &v, "@alice:example.org", info_id, "#info hijacked"));
        take(&f);
        min = render(&f, id, GV_MIN_TEXT);
        log = render(&f, id, GV_MIN_LOG_TEXT);
        check(r == GV_OK && !has(min, "hijacked") && !has(log, "hijacked"),
              "edit: another sender's edit of a line changes nothing", "minutes \"%s\"", show(min));
        free(log);
        free(min);
        /* A different command, or no argument: the item stays. */
        r = handle(&f, mk_edit(&f, &v, "@bob:example.org", info_id, "#idea not an info"));
        take(&f);
        min = render(&f, id, GV_MIN_TEXT);
        check(r == GV_OK && has(min, "new") && !has(min, "not an info") &&
              mitem_count(&f, id) == before, "edit: another command leaves the item",
              "minutes \"%s\"", show(min));
        free(min);
        /* Several lines: each #info keeps its place. */
        say(&f, "@bob:example.org", "#info first\nchatter\n#action bob: one\n#info second");
        snprintf(multi_id, sizeof(multi_id), "%s", f.last_id);
        before = mitem_count(&f, id);
        r = handle(&f, mk_edit(&f, &v, "@bob:example.org", multi_id,
                               "#info first!\n#info second!\n#action bob: one"));
        take(&f);
        min = render(&f, id, GV_MIN_TEXT);
        log = render(&f, id, GV_MIN_LOG_TEXT);
        check(r == GV_OK && has(min, "first!") && has(min, "second!") && has(min, "bob: one") &&
              mitem_count(&f, id) == before, "edit: several items edited in their order",
              "minutes \"%s\"", show(min));
        check(has(log, "<bob> #info first!\n") && has(log, "<bob> #info second!\n") &&
              has(log, "<bob> #action bob: one") && !has(log, "chatter"),
              "edit: the lines follow, the extra line goes", "log \"%s\"", show(log));
        free(log);
        free(min);
        /* An edit whose new text is #endmeeting does not end the meeting. */
        say(&f, "@alice:example.org", "almost done");
        snprintf(chat_id, sizeof(chat_id), "%s", f.last_id);
        r = handle(&f, mk_edit(&f, &v, "@alice:example.org", chat_id, "#endmeeting"));
        take(&f);
        log = render(&f, id, GV_MIN_LOG_TEXT);
        check(r == GV_OK && running(&f) == id && f.n_out == 0 && has(log, "<alice> #endmeeting") &&
              !has(log, "almost done"),
              "edit: an edit to #endmeeting does not end the meeting", "running %" PRId64
              ", %zu rows, log \"%s\"", running(&f), f.n_out, show(log));
        free(log);
        r = handle(&f, mk_edit(&f, &v, "@alice:example.org", chat_id,
                               "#info from an edit\n#architecture Sneaked in by an edit"));
        take(&f);
        check(r == GV_OK && mitem_count(&f, id) == before && agenda_len(&f, "architecture") == 1 &&
              f.n_out == 0, "edit: an edit adds no #info and no item", "%zu notes, %zu items",
              mitem_count(&f, id), agenda_len(&f, "architecture"));
        /* The same edit event twice, and an edit of a redacted line. */
        r = handle(&f, &v.e);
        take(&f);
        check(r == GV_OK && f.n_out == 0 && mitem_count(&f, id) == before,
              "edit: the same edit event twice is a no-op", "%zu rows", f.n_out);
        r = handle(&f, mk_redact(&f, &v, "@bob:example.org", info_id));
        take(&f);
        r = r ? r : handle(&f, mk_edit(&f, &v, "@bob:example.org", info_id, "#info back again"));
        take(&f);
        log = render(&f, id, GV_MIN_LOG_TEXT);
        min = render(&f, id, GV_MIN_TEXT);
        check(r == GV_OK && !has(log, "back again") && !has(min, "back again") &&
              has(log, "<bob> [redacted]"), "edit: of a redacted line changes nothing",
              "log \"%s\"", show(log));
        free(log);
        free(min);
        say(&f, "@alice:example.org", "#endmeeting");
        check(running(&f) == 0, "edit: #endmeeting still works", "still running");
        fx_close(&f, "edit");
}

/* ---- pills ---- */

static void test_pills(void)
{
        struct fx f;

        if (!fx_open(&f, NULL))
                return;
        say(&f, "@alice:example.org", "#architecture Pill <me> cc @bob:example.org @nick");
        say(&f, "@alice:example.org", "#startmeeting");
        say(&f, "@alice:example.org", "!agenda take 1");
        check(f.n_out == 1 &&
              str_eq(f.out[0].body, "Topic: Pill <me> (agenda item raised by @alice:example.org; "
                                    "cc @bob:example.org @nick)") &&
              json_array_has(f.out[0].extra, "mentions", "@alice:example.org") &&
              json_array_has(f.out[0].extra, "mentions", "@bob:example.org") &&
              json_array_len(f.out[0].extra, "mentions") == 2,
              "pills: the topic reply pings reporter and mentions", "\"%s\" extra %s",
              f.n_out ? show(f.out[0].body) : "-", f.n_out ? show(f.out[0].extra) : "-");
        check(f.n_out == 1 &&
              str_eq(f.out[0].html,
                     "Topic: Pill &lt;me&gt; (agenda item raised by "
                     "<a href=\"https://matrix.to/#/@alice:example.org\">@alice:example.org</a>; "
                     "cc <a href=\"https://matrix.to/#/@bob:example.org\">@bob:example.org</a> "
                     "@nick)"),
              "pills: pinged IDs are matrix.to pills, the rest escaped", "html \"%s\"",
              f.n_out ? show(f.out[0].html) : "-");
        say(&f, "@alice:example.org", "#topic nobody");
        check(f.n_out == 1 && json_array_len(f.out[0].extra, "mentions") == 0 &&
              !has(f.out[0].html, "<a "), "pills: a reply pinging nobody has mentions []",
              "extra %s html \"%s\"", f.n_out ? show(f.out[0].extra) : "-",
              f.n_out ? show(f.out[0].html) : "-");
        fx_close(&f, "pills");

        /* IDs that need escaping, and IDs inside longer words. */
        if (!fx_open(&f, NULL))
                return;
        say(&f, "@a&b:example.org",
            "#architecture Odd @x:example.org.uk x@x:example.org @x:example.org. cc @x:example.org");
        say(&f, "@a&b:example.org", "#startmeeting");
        say(&f, "@a&b:example.org", "!agenda take 1");
        check(f.n_out == 1 &&
              has(f.out[0].html, "raised by <a href=\"https://matrix.to/#/@a%26b:example.org\">"
                                 "@a&amp;b:example.org</a>;") &&
              begins(f.out[0].html, "Topic: Odd @x:example.org.uk x@x:example.org "
                                    "<a href=\"https://matrix.to/#/@x:example.org\">"
                                    "@x:example.org</a>. (agenda") &&
              has(f.out[0].html, "; cc <a href=\"https://matrix.to/#/@x:example.org\">"
                                 "@x:example.org</a>)") &&
              json_array_len(f.out[0].extra, "mentions") == 2,
              "pills: href percent-encoded, text escaped, only whole IDs", "html \"%s\" extra %s",
              f.n_out ? show(f.out[0].html) : "-", f.n_out ? show(f.out[0].extra) : "-");
        fx_close(&f, "pills escaped");
}

/* ---- the size limit ---- */

static void test_limit(void)
{
        struct fx f;
        char *big;

        if (!fx_open(&f, "{\"max_message_bytes\": 1024}"))
                return;
        big = malloc(4096);
        if (!big) {
                check(false, "limit", "out of memory");
                fx_close(&f, "limit");
                return;
        }
        snprintf(big, 4096, "!agenda ");
        memset(big + 8, 'x', 2000);
        big[2008] = '\0';
        say(&f, "@alice:example.org", big);
        check(f.n_out == 1 &&
              str_eq(f.out[0].body, "That message is 2008 bytes, over the 1024-byte limit; "
                                    "nothing in it was done.") &&
              str_eq(json_str(f.out[0].extra, "in_reply_to"), f.last_id),
              "limit: an over-long command is refused naming the limit", "%zu rows, \"%s\"",
              f.n_out, f.n_out ? show(f.out[0].body) : "-");

        memcpy(big, "#architecture ", 14);
        memset(big + 14, 'y', 2000);
        big[2014] = '\0';
        say(&f, "@alice:example.org", big);
        check(f.n_out == 1 && has(f.out[0].body, "over the 1024-byte limit") &&
              agenda_len(&f, "architecture") == 0, "limit: an over-long tag makes no item",
              "%zu rows, %zu items", f.n_out, agenda_len(&f, "architecture"));

        memset(big, 'z', 2000);
        big[2000] = '\0';
        say(&f, "@alice:example.org", big);
        check(f.n_out == 0, "limit: over-long chatter gets no reply", "%zu rows", f.n_out);

        /* Exactly at the limit is fine. */
        memcpy(big, "#architecture ", 14);
        memset(big + 14, 'w', 1010);
        big[1024] = '\0';
        say(&f, "@alice:example.org", big);
        check(f.n_out == 1 && (f.out[0].kind == GV_OUT_REACTION) &&
              agenda_len(&f, "architecture") == 1, "limit: a message of exactly the limit works",
              "%zu rows, %zu items", f.n_out, agenda_len(&f, "architecture"));
        /* One byte over. */
        memcpy(big, "#architecture ", 14);
        memset(big + 14, 'v', 1011);
        big[1025] = '\0';
        say(&f, "@alice:example.org", big);
        check(f.n_out == 1 && has(f.out[0].body, "1025 bytes, over the 1024-byte limit") &&
              agenda_len(&f, "architecture") == 1, "limit: one byte over is refused",
              "%zu rows", f.n_out);
        free(big);
        fx_close(&f, "limit");
}

/* ---- hostile input ---- */

static void test_hostile(void)
{
        struct fx f;
        struct ev v;
        struct gv_item *items = NULL;
        size_t n = 0;
        enum gv_err r;

        if (!fx_open(&f, NULL))
                return;
        /* NUL inside body_len. */
        mk(&f, &v, "@mallory:example.org", "#architecture foo\0bar cc @x");
        v.e.body_len = sizeof("#architecture foo\0bar cc @x") - 1;
        r = handle(&f, &v.e);
        take(&f);
        check(r == GV_OK, "hostile: NUL bytes handled", "%s", gv_strerror(r));
        /* Invalid UTF-8. */
        say(&f, "@mallory:example.org", "#architecture caf\xc3 \xff\xfe \xed\xa0\x80 x");
        /* Markup. */
        say(&f, "@mallory:example.org", "#architecture <script>alert(1)</script> & \"q\" cc @x");
        /* Control characters. */
        say(&f, "@mallory:example.org", "#architecture bell\x07 esc\x1b[31m red");
        r = gv_store_agenda(f.s, "architecture", &items, &n);
        check(r == GV_OK && n == 4, "hostile: four items", "%s %zu", gv_strerror(r), n);
        if (r == GV_OK && n == 4) {
                check(str_eq(items[0].description, "foo\xef\xbf\xbd" "bar") &&
                      str_eq(items[0].mentions, "@x"),
                      "hostile: NUL stored as U+FFFD, nothing cut", "\"%s\" mentions \"%s\"",
                      show(items[0].description), show(items[0].mentions));
                check(gv_utf8_valid(items[1].description, strlen(items[1].description)) &&
                      str_eq(items[1].description, "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd x"),
                      "hostile: invalid UTF-8 stored cleaned", "\"%s\"", show(items[1].description));
                check(str_eq(items[2].description, "<script>alert(1)</script> & \"q\""),
                      "hostile: markup stored as text", "\"%s\"", show(items[2].description));
                check(str_eq(items[3].description, "bell esc [31m red"),
                      "hostile: control characters become spaces", "\"%s\"",
                      show(items[3].description));
        }
        gv_items_free(items, n);
        say(&f, "@bob:example.org", "!agenda");
        check(f.n_out == 1 && has(f.out[0].body, "3. <script>alert(1)</script> & \"q\" (reporter") &&
              has(f.out[0].html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;") &&
              !has(f.out[0].html, "<script") && gv_utf8_valid(f.out[0].html, strlen(f.out[0].html)),
              "hostile: !agenda HTML escapes &lt;script&gt;", "html \"%s\"",
              f.n_out ? show(f.out[0].html) : "-");

        /* Commands with hostile arguments never fail the event. */
        {
                static const char *const bodies[] = {
                        "!agenda take 1",
                        "!agenda move 1",
                        "!agenda move 1 99",
                        "!agenda move -1 2",
                        "!agenda frobnicate 1",
                        "!agenda pin 0",
                        "!agenda pin 18446744073709551616",
                        "!agenda add",
                        "!help",
                        "!commands",
                        "!vote yes",
                        "\n\n\n",
                        "",
                        "!",
                        "#",
                        "> \n> \n",
                        "!aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                };
                bool ok = true;
                size_t replies = 0;

                for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                        r = handle(&f, mk(&f, &v, "@mallory:example.org", bodies[i]));
                        ok = ok && r == GV_OK;
                        take(&f);
                        replies += f.n_out;
                        for (size_t j = 0; j < f.n_out; j++)
                                ok = ok && strlen(f.out[j].body) < 4096 &&
                                     gv_utf8_valid(f.out[j].body, strlen(f.out[j].body));
                }
                check(ok && replies >= 11, "hostile: odd commands answered, never an error",
                      "ok %d, %zu replies", ok, replies);
                check(agenda_len(&f, "architecture") == 4, "hostile: odd commands change nothing",
                      "%zu items", agenda_len(&f, "architecture"));
        }
        say(&f, "@mallory:example.org",
            "!aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        check(f.n_out == 1 && strlen(f.out[0].body) < 80 && has(f.out[0].body, "..."),
              "hostile: a long unknown command is echoed cut", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        /* A NULL body with length 0. */
        mk(&f, &v, "@mallory:example.org", NULL);
        r = handle(&f, &v.e);
        take(&f);
        check(r == GV_OK && f.n_out == 0, "hostile: NULL body", "%s %zu", gv_strerror(r), f.n_out);
        /* A huge echo is bounded. */
        {
                char body[600];

                snprintf(body, sizeof(body), "!agenda ");
                memset(body + 8, 'q', 500);
                body[508] = '\0';
                say(&f, "@mallory:example.org", body);
                size_t run = 0, longest = 0;

                for (const char *p = f.n_out ? f.out[0].body : ""; *p; p++) {
                        run = *p == 'q' ? run + 1 : 0;
                        longest = run > longest ? run : longest;
                }
                check(f.n_out == 1 && longest > 0 && longest <= GV_ECHO_MAX &&
                      has(f.out[0].body, "q..."), "hostile: echoed text bounded by GV_ECHO_MAX",
                      "%zu rows, longest echo %zu bytes", f.n_out, longest);
        }
        fx_close(&f, "hostile");
}

/* ---- issue 6: chairs are people ---- */

static bool chair_of(struct fx *f, int64_t meeting, const char *id)
{
        bool is = false;

        return gv_store_chair_is(f->s, meeting, id, &is) == GV_OK && is;
}

static void test_people(void)
{
        struct fx f;
        struct ev v;
        struct gv_buf text = GV_BUF_INIT(1 << 20);
        int64_t id;
        size_t before;
        enum gv_err r;

        if (!fx_open(&f, NULL))
                return;
        r = gv_store_member_set(f.s, ROOM, "@alice:good.org", "alice", "Alice Liddell", "join");
        r = r ? r : gv_store_member_set(f.s, ROOM, "@alice:evil.org", "alice", NULL, "join");
        r = r ? r : gv_store_member_set(f.s, ROOM, "@bob:good.org", "bob", "Robert", "join");
        r = r ? r : gv_store_member_set(f.s, ROOM, "@carol:good.org", "carol", NULL, "join");
        r = r ? r : gv_store_member_set(f.s, ROOM, "@dave:good.org", "dave", NULL, "leave");
        check(r == GV_OK, "people: members", "%s", gv_strerror(r));
        say(&f, "@alice:good.org", "#startmeeting People");
        id = running(&f);
        before = mitem_count(&f, id);
        say(&f, "@alice:evil.org", "#agreed the impostor decides");
        check(f.n_out == 1 && begins(f.out[0].body, "Only chairs can use #agreed. Chairs: alice") &&
              mitem_count(&f, id) == before, "people: a same-localpart impostor is no chair",
              "\"%s\"", f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@alice:evil.org", "#endmeeting");
        check(running(&f) == id, "people: the impostor cannot end the meeting", "ended");

        say(&f, "@alice:good.org", "#chair alice");
        check(f.n_out == 1 && has(f.out[0].body, "'alice' is ambiguous here: @alice:evil.org, "
                                                 "@alice:good.org") &&
              !chair_of(&f, id, "@alice:evil.org"), "people: an ambiguous nick changes nothing",
              "\"%s\"", f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@alice:good.org", "#chair bob dave");
        check(f.n_out == 1 && has(f.out[0].body, "Nobody in this room goes by 'dave'") &&
              !chair_of(&f, id, "@bob:good.org"),
              "people: one unknown nick (a member who left) changes nothing", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@alice:good.org", "#chair robert");
        check(chair_of(&f, id, "@bob:good.org") && f.n_out == 1 &&
              str_eq(f.out[0].body, "Current chairs: alice, bob"),
              "people: a display name names one member", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        mk(&f, &v, "@alice:good.org", "#chair Alice Liddell");
        v.e.formatted_body = "#chair <a href=\"https://matrix.to/#/@alice:evil.org\">Alice "
                             "Liddell</a>";
        (void)handle(&f, &v.e);
        take(&f);
        check(chair_of(&f, id, "@alice:evil.org"),
              "people: a pill's text names the pill's user", "%zu rows \"%s\"", f.n_out,
              f.n_out ? show(f.out[0].body) : "-");
        check(f.n_out == 1 && str_eq(f.out[0].body,
                                     "Current chairs: alice, bob, alice (@alice:evil.org)"),
              "people: a second alice is shown with her ID", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@alice:good.org", "#unchair https://matrix.to/#/%40alice%3Aevil.org");
        check(!chair_of(&f, id, "@alice:evil.org") && chair_of(&f, id, "@alice:good.org"),
              "people: a matrix.to link names its user", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@alice:good.org", "#unchair @alice:good.org");
        check(f.n_out >= 1 && has(f.out[0].body, "alice started the meeting and stays a chair") &&
              chair_of(&f, id, "@alice:good.org"), "people: the starter stays a chair",
              "\"%s\"", f.n_out ? show(f.out[0].body) : "-");

        /* Votes: one ballot per person, not per nick. */
        say(&f, "@alice:good.org", "#startvote Lunch? pizza, sushi");
        say(&f, "@alice:good.org", "#vote pizza");
        say(&f, "@alice:evil.org", "#vote sushi");
        say(&f, "@alice:evil.org", "#vote sushi");
        say(&f, "@alice:good.org", "#endvote");
        check(f.n_out == 1 && has(f.out[0].body, "Results: pizza (1), sushi (1)"),
              "people: two alices each have a vote, the last counting", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        r = gv_minutes_render(f.s, f.cfg, id, GV_MIN_TEXT, &text);
        check(r == GV_OK && has(text.p, "* alice (@alice:evil.org) (") &&
              has(text.p, "Meeting started by alice at"),
              "people: minutes tell the two alices apart", "%s", gv_strerror(r));
        gv_buf_free(&text);
        fx_close(&f, "people");
}

/* The core keeps each sender's nick in the running meeting (ctx_person):
 * after a rollback what it kept is gone with the people row, so a sender
 * seen before it gets the row again, and a second "bob" who comes after is
 * told apart by his ID, as without the cache. */
static void test_people_rollback(void)
{
        struct fx f;
        int64_t id;
        char *nick = NULL;
        enum gv_err r;

        if (!fx_open(&f, NULL))
                return;
        say(&f, "@alice:good.org", "#startmeeting Rollback");
        id = running(&f);
        r = gv_store_commit(f.s);
        r = r ? r : gv_store_begin(f.s);
        say(&f, "@bob:a.org", "hello");         /* bob's row and the core's note of it */
        gv_store_rollback(f.s);                 /* both gone: the store rolled back */
        r = r ? r : gv_store_begin(f.s);
        say(&f, "@bob:a.org", "hello again");   /* the row again */
        say(&f, "@bob:b.org", "me too");        /* a second bob */
        r = r ? r : gv_store_person_nick(f.s, id, "@bob:b.org", "x", "x", &nick);
        check(r == GV_OK && str_eq(nick, "bob (@bob:b.org)"),
              "people: after a rollback a sender seen before is in the meeting again",
              "%s: %s", gv_strerror(r), nick ? nick : "-");
        free(nick);
        nick = NULL;
        r = gv_store_person_nick(f.s, id, "@bob:a.org", "x", "x", &nick);
        check(r == GV_OK && str_eq(nick, "bob"), "people: the first bob keeps his nick", "%s: %s",
              gv_strerror(r), nick ? nick : "-");
        free(nick);
        fx_close(&f, "people rollback");
}

/* ---- issue 6: one message cannot flood a room ---- */

static void test_flood(void)
{
        struct fx f;
        struct ev v;
        struct gv_buf big = GV_BUF_INIT(1 << 20);
        enum gv_err r = GV_OK;
        size_t lines = 0;

        if (!fx_open(&f, NULL))
                return;
        for (int i = 0; i < 6000 && r == GV_OK; i++)
                r = gv_buf_adds(&big, "!agenda\n");
        check(r == GV_OK, "flood: built", "%s", gv_strerror(r));
        say(&f, "@mallory:example.org", gv_buf_str(&big));
        for (const char *p = f.n_out ? f.out[0].body : ""; *p; p++)
                lines += *p == '\n';
        check(f.n_out == 1 && f.out[0].kind == GV_OUT_MESSAGE &&
              has(f.out[0].body, "5980 more commands in this message were ignored: at most 20") &&
              str_eq(json_str(f.out[0].extra, "in_reply_to"), f.last_id),
              "flood: 6,000 !agenda lines make one message, saying 5,980 were ignored",
              "%zu rows, \"%.80s\"", f.n_out, f.n_out ? show(f.out[0].body) : "-");
        check(lines == 20, "flood: that message holds 20 answers and the note", "%zu newlines",
              lines);
        check(f.n_out == 1 && has(f.out[0].html, "<br>\n") && has(f.out[0].html, "ignored"),
              "flood: the HTML is joined too", "%.80s", f.n_out ? show(f.out[0].html) : "-");

        /* Hashtags are no commands; replies in a thread stay there; pings merge. */
        say(&f, "@carol:example.org", "#architecture first cc @dave:example.org");
        say(&f, "@erin:example.org", "#architecture second");
        say(&f, "@alice:example.org", "#startmeeting Flood");
        mk(&f, &v, "@alice:example.org", "!agenda take 1\n#notacommand\n!agenda take 2\n#info x");
        v.e.thread_root = "$root:example.org";
        v.e.power = 100;
        (void)handle(&f, &v.e);
        take(&f);
        check(f.n_out == 1 && str_eq(json_str(f.out[0].extra, "thread"), "$root:example.org") &&
              json_array_has(f.out[0].extra, "mentions", "@carol:example.org") &&
              json_array_has(f.out[0].extra, "mentions", "@erin:example.org") &&
              begins(f.out[0].body, "Topic: first") && has(f.out[0].body, "\nTopic: second"),
              "flood: two replies are one message in the thread, pinging both reporters",
              "%zu rows, \"%s\" %s", f.n_out, f.n_out ? show(f.out[0].body) : "-",
              f.n_out ? show(f.out[0].extra) : "-");
        gv_buf_reset(&big);
        r = GV_OK;
        for (int i = 0; i < 25 && r == GV_OK; i++)
                r = gv_buf_adds(&big, "#hashtag\n");
        r = r ? r : gv_buf_adds(&big, "!agenda");
        say(&f, "@alice:example.org", gv_buf_str(&big));
        check(r == GV_OK && f.n_out == 1 && !has(f.out[0].body, "ignored"),
              "flood: hashtags do not count toward the cap", "%zu rows", f.n_out);
        gv_buf_free(&big);
        fx_close(&f, "flood");
}

/* ---- issue 6: votes, #undo, clocks ---- */

static bool item_discussed_in(struct fx *f, const char *agenda, int64_t *meeting)
{
        struct gv_item it;

        if (!first_item(f, agenda, &it))
                return false;
        *meeting = it.discussed_in;
        gv_item_clear(&it);
        return true;
}

static void test_undo_votes(void)
{
        struct fx f;
        struct gv_buf q = GV_BUF_INIT(1 << 16);
        int64_t id, disc = -1;
        bool ok;

        if (!fx_open(&f, NULL))
                return;
        say(&f, "@carol:example.org", "#architecture Discuss keyframes");
        say(&f, "@alice:example.org", "#startmeeting Undo");
        id = running(&f);
        say(&f, "@alice:example.org", "!agenda take 1");
        say(&f, "@alice:example.org", "#info first pass");
        say(&f, "@alice:example.org", "!agenda take 1");
        say(&f, "@alice:example.org", "#undo");
        check(f.n_out == 1 && begins(f.out[0].body, "Removed item from minutes: TOPIC"),
              "undo: the second topic is undone", "%zu rows, \"%s\"", f.n_out,
              f.n_out ? show(f.out[0].body) : "-");
        ok = item_discussed_in(&f, "architecture", &disc);
        check(ok && disc == id,
              "undo: an item another topic took up stays discussed (as with a redaction)",
              "discussed_in %" PRId64 ", meeting %" PRId64, disc, id);
        say(&f, "@alice:example.org", "#undo");
        say(&f, "@alice:example.org", "#undo");
        ok = item_discussed_in(&f, "architecture", &disc);
        check(ok && disc == 0,
              "undo: undoing the last topic that took it up reopens the item",
              "discussed_in %" PRId64, disc);

        /* #startvote: every failure answers, nothing leaks (valgrind). */
        say(&f, "@alice:example.org", "#startvote Lunch? a, b, c, d, e, f, g, h, i, j, k, l, m, "
                                       "n, o, p, q, r, s, t, u, v, w");
        check(f.n_out == 1 && has(f.out[0].body, "at most 20 options"),
              "startvote: 23 options are refused with the limit", "%zu rows, \"%s\"", f.n_out,
              f.n_out ? show(f.out[0].body) : "-");
        {
                enum gv_err qr = gv_buf_adds(&q, "#startvote ");

                for (int i = 0; i < 900 && qr == GV_OK; i++)
                        qr = gv_buf_adds(&q, "0123456789");
                if (qr == GV_OK)
                        qr = gv_buf_adds(&q, "? yes, no");
                check(qr == GV_OK, "startvote: the long question is built", "%s", gv_strerror(qr));
        }
        say(&f, "@alice:example.org", gv_buf_str(&q));
        check(f.n_out == 1 && has(f.out[0].body, "question may be at most 1024 bytes") &&
              has(f.out[0].body, "this one is 9001"),
              "startvote: a 9,000-byte question is refused with the limit", "%zu rows, \"%s\"",
              f.n_out, f.n_out ? show(f.out[0].body) : "-");
        say(&f, "@alice:example.org", "#startvote Lunch? pizza, sushi");
        check(f.n_out == 1 && begins(f.out[0].body, "Begin voting on: Lunch?"),
              "startvote: a vote opens after the refusals", "\"%s\"",
              f.n_out ? show(f.out[0].body) : "-");
        gv_buf_free(&q);
        fx_close(&f, "undo-votes");
}

static void test_clock_back(void)
{
        struct fx f;
        struct ev v;
        struct gv_meeting m;
        struct gv_mitem *mi = NULL;
        size_t n = 0;
        int64_t id;
        bool ok = true;

        if (!fx_open(&f, NULL))
                return;
        say(&f, "@alice:example.org", "#startmeeting Clock");
        id = running(&f);
        f.ts_base -= 3600 * 1000;       /* the clock goes back an hour */
        say(&f, "@alice:example.org", "#info from the past");
        mk(&f, &v, "@alice:example.org", "#endmeeting");
        (void)handle(&f, &v.e);
        take(&f);
        memset(&m, 0, sizeof(m));
        ok = gv_store_meeting_get(f.s, id, &m) == GV_OK;
        check(ok && m.ended >= m.started && m.ended,
              "clock: a meeting never ends before it started", "started %" PRId64 " ended %" PRId64,
              m.started, m.ended);
        if (gv_store_mitems(f.s, id, &mi, &n) == GV_OK)
                for (size_t i = 0; i < n; i++)
                        ok = ok && mi[i].ts >= m.started;
        else
                ok = false;
        check(n == 1 && ok, "clock: items are stamped no earlier than the start", "%zu items", n);
        gv_mitems_free(mi, n);
        gv_meeting_clear(&m);
        fx_close(&f, "clock");
}

/* A source that vouches for fresh IDs (the replay, gv_core_fresh_ids) is
 * not claimed: nothing is recorded as processed (a repeat is what the
 * replay's one transaction and its log identity rule out). Another core on
 * the same store still claims. */
static void test_fresh_ids(void)
{
        struct fx f;
        struct ev v;
        struct gv_core *claims = NULL;
        bool seen = true;
        enum gv_err r;

        if (!fx_open(&f, NULL))
                return;
        gv_core_fresh_ids(f.core);
        mk(&f, &v, "@alice:example.org", "#architecture Discuss keyframes");
        r = handle(&f, &v.e);
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 &&
              gv_store_event_seen(f.s, v.id, &seen) == GV_OK && !seen,
              "fresh IDs: handled, not claimed", "%s, %zu items, seen %d", gv_strerror(r),
              agenda_len(&f, "architecture"), (int)seen);
        r = gv_core_new(f.s, f.cfg, &claims);
        r = r ? r : gv_handle(claims, &v.e);
        take(&f);
        check(r == GV_OK && agenda_len(&f, "architecture") == 1 &&
              gv_store_event_seen(f.s, v.id, &seen) == GV_OK && seen,
              "a core without fresh IDs claims the event", "%zu items, seen %d",
              agenda_len(&f, "architecture"), (int)seen);
        gv_core_free(claims);
        fx_close(&f, "fresh IDs");
}

int main(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        test_tag();
        test_fresh_ids();
        test_ack_variants();
        test_agenda();
        test_meeting();
        test_ignored();
        test_limit();
        test_hostile();
        test_redactions();
        test_edits();
        test_pills();
        test_undo_votes();
        test_people();
        test_people_rollback();
        test_flood();
        test_clock_back();
        return check_finish();
}
