/* tests/unit/test-store.c - store/store on ":memory:" and on a file: schema
 * version, key-value, processed events, agenda items and their order,
 * meetings, chairs, nicks, lines, meeting items and undo, votes, the outbox,
 * transactions and savepoints, edits and redactions by event ID, and the
 * migration of a version-1 file. Prints "ok - name" or "FAIL - name: detail"
 * per case and "N passed, M failed" at the end; exits 1 on a failure. */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../store/store.h"
#include "../../util/err.h"

/* The schema version a new file has (one per migration in store.c). */
#define SCHEMA_LATEST 14

static unsigned passed, failed;
static const char *prefix = "";        /* "file: " while the file store runs */

__attribute__((format(printf, 3, 4)))
static void check(bool ok, const char *name, const char *fmt, ...)
{
        va_list ap;

        if (ok) {
                passed++;
                printf("ok - %s%s\n", prefix, name);
                return;
        }
        failed++;
        printf("FAIL - %s%s: ", prefix, name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

static bool str_eq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

static const char *nn(const char *s)
{
        return s ? s : "(null)";
}

/* Joins callback results: "a,b,c" or "a=2,b=1". */
struct list {
        char s[1024];
};

static void list_add(struct list *l, const char *text)
{
        size_t used = strlen(l->s);

        snprintf(l->s + used, sizeof(l->s) - used, "%s%s", used ? "," : "", text);
}

static void on_nick(void *ud, const char *nick)
{
        list_add(ud, nick);
}

static void on_count(void *ud, const char *name, int64_t n)
{
        char t[256];

        snprintf(t, sizeof(t), "%s=%" PRId64, name, n);
        list_add(ud, t);
}

static int on_line(void *ud, int64_t ts, const char *nick, const char *text, bool action)
{
        char t[256];

        snprintf(t, sizeof(t), "%" PRId64 "/%s/%s%s", ts, nick, text, action ? "/me" : "");
        list_add(ud, t);
        return 0;
}

static int on_line_stop(void *ud, int64_t ts, const char *nick, const char *text, bool action)
{
        (void)on_line(ud, ts, nick, text, action);
        return 1;
}

/* The agenda's item IDs in shown order, "3,1,2". */
static void agenda_ids(struct gv_store *s, const char *agenda, struct list *l)
{
        struct gv_item *items = NULL;
        size_t n = 0;

        l->s[0] = '\0';
        if (gv_store_agenda(s, agenda, &items, &n) != GV_OK) {
                snprintf(l->s, sizeof(l->s), "error");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                char t[32];

                snprintf(t, sizeof(t), "%" PRId64, items[i].id);
                list_add(l, t);
        }
        gv_items_free(items, n);
}

static int64_t add_item(struct gv_store *s, const char *agenda, const char *desc,
                        const char *event_id, int64_t created)
{
        struct gv_item it;
        int64_t id = -1;

        memset(&it, 0, sizeof(it));
        it.agenda = (char *)agenda;
        it.description = (char *)desc;
        it.reporter = "@alice:example.org";
        it.mentions = "@bob @carol:example.org";
        it.room = "!room:example.org";
        it.event_id = (char *)event_id;
        it.created = created;
        if (gv_store_item_add(s, &it, &id) != GV_OK)
                return -1;
        return id;
}

/* "A,B" from item IDs. */
static void ids(struct list *l, int n, ...)
{
        va_list ap;

        l->s[0] = '\0';
        va_start(ap, n);
        for (int i = 0; i < n; i++) {
                char t[32];

                snprintf(t, sizeof(t), "%" PRId64, va_arg(ap, int64_t));
                list_add(l, t);
        }
        va_end(ap);
}

static void check_order(struct gv_store *s, const char *name, const char *agenda,
                        struct list *want)
{
        struct list got;

        agenda_ids(s, agenda, &got);
        check(strcmp(got.s, want->s) == 0, name, "got [%s], want [%s]", got.s, want->s);
}

static int64_t count_rows(struct gv_store *s, const char *agenda)
{
        struct gv_item *items = NULL;
        size_t n = 0;

        if (gv_store_agenda(s, agenda, &items, &n) != GV_OK)
                return -1;
        gv_items_free(items, n);
        return (int64_t)n;
}

/* ---- cases ---- */

static void test_kv(struct gv_store *s)
{
        char *v = (char *)"untouched";
        enum gv_err r;

        r = gv_store_kv_get(s, "next_batch", &v);
        check(r == GV_OK && v == NULL, "kv absent key", "got %s %s", gv_strerror(r), nn(v));
        r = gv_store_kv_set(s, "next_batch", "s1_abc");
        check(r == GV_OK, "kv set", "%s", gv_strerror(r));
        r = gv_store_kv_get(s, "next_batch", &v);
        check(r == GV_OK && str_eq(v, "s1_abc"), "kv get", "got %s \"%s\"", gv_strerror(r), nn(v));
        free(v);
        r = gv_store_kv_set(s, "next_batch", "s2_def");
        if (r == GV_OK)
                r = gv_store_kv_get(s, "next_batch", &v);
        check(r == GV_OK && str_eq(v, "s2_def"), "kv overwrite", "got %s \"%s\"", gv_strerror(r),
              nn(v));
        free(v);
        r = gv_store_kv_set(s, "empty", "");
        if (r == GV_OK)
                r = gv_store_kv_get(s, "empty", &v);
        check(r == GV_OK && str_eq(v, ""), "kv empty value", "got %s \"%s\"", gv_strerror(r), nn(v));
        free(v);
        r = gv_store_kv_get(s, "NEXT_BATCH", &v);
        check(r == GV_OK && v == NULL, "kv keys are case-sensitive", "got \"%s\"", nn(v));
        free(v);
}

static void test_events(struct gv_store *s)
{
        bool seen = true;
        enum gv_err r;

        r = gv_store_event_seen(s, "$e1", &seen);
        check(r == GV_OK && !seen, "event unseen", "got %s seen %d", gv_strerror(r), seen);
        r = gv_store_event_mark(s, "$e1", 1000);
        check(r == GV_OK, "event mark", "%s", gv_strerror(r));
        r = gv_store_event_seen(s, "$e1", &seen);
        check(r == GV_OK && seen, "event seen after mark", "got %s seen %d", gv_strerror(r), seen);
        r = gv_store_event_mark(s, "$e1", 2000);
        check(r == GV_OK, "event mark twice is fine", "%s", gv_strerror(r));
        r = gv_store_event_seen(s, "$e1", &seen);
        check(r == GV_OK && seen, "event still seen", "got %s seen %d", gv_strerror(r), seen);
        r = gv_store_event_seen(s, "$e2", &seen);
        check(r == GV_OK && !seen, "other event unseen", "got %s seen %d", gv_strerror(r), seen);
}

static void test_items(struct gv_store *s)
{
        struct gv_item it;
        struct list want;
        int64_t a, b, c, d, again;
        enum gv_err r;

        a = add_item(s, "arch", "Discuss keyframes", "$a", 1000);
        b = add_item(s, "arch", "Discuss billing", "$b", 2000);
        c = add_item(s, "arch", "No event", NULL, 3000);
        d = add_item(s, "other", "Elsewhere", "$d", 4000);
        check(a > 0 && b > 0 && c > 0 && d > 0 && a != b && b != c && c != d,
              "item add gives distinct ids", "%" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, a, b, c, d);
        again = add_item(s, "arch", "Discuss keyframes (again)", "$a", 5000);
        check(again == a, "item add same event_id gives the same id", "got %" PRId64 ", want %" PRId64,
              again, a);
        check(count_rows(s, "arch") == 3, "item add same event_id adds no row", "%" PRId64 " rows",
              count_rows(s, "arch"));

        memset(&it, 0, sizeof(it));
        r = gv_store_item_get(s, a, &it);
        check(r == GV_OK && it.id == a && str_eq(it.agenda, "arch") &&
              str_eq(it.description, "Discuss keyframes") &&
              str_eq(it.reporter, "@alice:example.org") &&
              str_eq(it.mentions, "@bob @carol:example.org") &&
              str_eq(it.room, "!room:example.org") && str_eq(it.event_id, "$a") &&
              it.created == 1000 && it.position == 1 && !it.pinned &&
              it.status == GV_ITEM_OPEN && it.discussed_in == 0,
              "item get fields", "got %s \"%s\" pos %" PRId64 " status %d", gv_strerror(r),
              nn(it.description), it.position, (int)it.status);
        gv_item_clear(&it);
        r = gv_store_item_get(s, c, &it);
        check(r == GV_OK && it.event_id == NULL && it.position == 3, "item without event_id",
              "got %s event_id %s pos %" PRId64, gv_strerror(r), nn(it.event_id), it.position);
        gv_item_clear(&it);
        r = gv_store_item_get(s, d, &it);
        check(r == GV_OK && it.position == 1, "positions are per agenda", "pos %" PRId64,
              it.position);
        gv_item_clear(&it);
        r = gv_store_item_get(s, 999999, &it);
        check(r == GV_ENOTFOUND, "item get missing", "got %s", gv_strerror(r));
        {
                struct gv_item e;
                int64_t id = 0;

                memset(&e, 0, sizeof(e));
                e.agenda = "arch";
                e.description = "no mentions";
                e.reporter = "r";
                e.room = "!x";
                r = gv_store_item_add(s, &e, &id);
                if (r == GV_OK)
                        r = gv_store_item_get(s, id, &it);
                check(r == GV_OK && str_eq(it.mentions, ""), "item NULL mentions stored as \"\"",
                      "got %s \"%s\"", gv_strerror(r), nn(it.mentions));
                gv_item_clear(&it);
                r = gv_store_item_set_status(s, id, GV_ITEM_DROPPED);
                check(r == GV_OK && count_rows(s, "arch") == 3, "dropped item leaves the agenda",
                      "%s, %" PRId64 " rows", gv_strerror(r), count_rows(s, "arch"));
        }

        ids(&want, 3, a, b, c);
        check_order(s, "agenda by position", "arch", &want);

        r = gv_store_item_set_pinned(s, c, true);
        check(r == GV_OK, "item pin", "%s", gv_strerror(r));
        ids(&want, 3, c, a, b);
        check_order(s, "agenda pinned first", "arch", &want);

        r = gv_store_item_set_status(s, a, GV_ITEM_POSTPONED);
        check(r == GV_OK, "item postpone", "%s", gv_strerror(r));
        ids(&want, 3, c, b, a);
        check_order(s, "agenda postponed last", "arch", &want);

        r = gv_store_item_set_status(s, b, GV_ITEM_DONE);
        ids(&want, 2, c, a);
        check_order(s, "agenda hides done items", "arch", &want);
        r = gv_store_item_set_status(s, b, GV_ITEM_OPEN);
        r = r ? r : gv_store_item_set_pinned(s, c, false);
        r = r ? r : gv_store_item_set_status(s, a, GV_ITEM_OPEN);
        ids(&want, 3, a, b, c);
        check(r == GV_OK, "item reopen and unpin", "%s", gv_strerror(r));
        check_order(s, "agenda back to position order", "arch", &want);

        r = gv_store_item_set_discussed(s, b, 42);
        if (r == GV_OK)
                r = gv_store_item_get(s, b, &it);
        check(r == GV_OK && it.discussed_in == 42, "item set discussed", "got %s %" PRId64,
              gv_strerror(r), it.discussed_in);
        gv_item_clear(&it);
        ids(&want, 1, d);
        check_order(s, "agendas are separate", "other", &want);
        check(count_rows(s, "nosuch") == 0, "unknown agenda is empty", "%" PRId64,
              count_rows(s, "nosuch"));
}

static void test_move(struct gv_store *s)
{
        struct list want;
        int64_t m1 = add_item(s, "mv", "one", NULL, 1), m2 = add_item(s, "mv", "two", NULL, 2);
        int64_t m3 = add_item(s, "mv", "three", NULL, 3), m4 = add_item(s, "mv", "four", NULL, 4);
        struct gv_item *items = NULL;
        size_t n = 0;
        bool renumbered = true;
        enum gv_err r;
        int64_t m5;

        r = gv_store_item_move(s, "mv", m4, m2);
        ids(&want, 4, m1, m4, m2, m3);
        check(r == GV_OK, "move before another", "%s", gv_strerror(r));
        check_order(s, "move before another: order", "mv", &want);
        r = gv_store_item_move(s, "mv", m1, 0);
        ids(&want, 4, m4, m2, m3, m1);
        check(r == GV_OK, "move to the end", "%s", gv_strerror(r));
        check_order(s, "move to the end: order", "mv", &want);
        r = gv_store_item_move(s, "mv", m3, m4);
        ids(&want, 4, m3, m4, m2, m1);
        check(r == GV_OK, "move to the front", "%s", gv_strerror(r));
        check_order(s, "move to the front: order", "mv", &want);
        r = gv_store_agenda(s, "mv", &items, &n);
        for (size_t i = 0; r == GV_OK && i < n; i++)
                renumbered = renumbered && items[i].position == (int64_t)i + 1;
        check(r == GV_OK && n == 4 && renumbered, "move renumbers positions 1..n", "got %s n %zu",
              gv_strerror(r), n);
        gv_items_free(items, n);

        /* A new item after moves still goes last. */
        m5 = add_item(s, "mv", "five", NULL, 5);
        ids(&want, 5, m3, m4, m2, m1, m5);
        check_order(s, "add after moves goes last", "mv", &want);

        /* Moving an item before itself leaves the agenda as it was. */
        r = gv_store_item_move(s, "mv", m2, m2);
        ids(&want, 5, m3, m4, m2, m1, m5);
        check(r == GV_OK, "move before itself", "%s", gv_strerror(r));
        check_order(s, "move before itself changes nothing", "mv", &want);
}

static void test_close_meeting(struct gv_store *s)
{
        struct gv_item it;
        int64_t x1 = add_item(s, "cl", "discussed", NULL, 1);
        int64_t x2 = add_item(s, "cl", "discussed pinned", NULL, 2);
        int64_t x3 = add_item(s, "cl", "postponed", NULL, 3);
        int64_t x4 = add_item(s, "cl", "untouched", NULL, 4);
        int64_t x5 = add_item(s, "cl", "other meeting", NULL, 5);
        int64_t y1 = add_item(s, "cl2", "other agenda postponed", NULL, 6);
        static const struct {
                const char *name;
                int which;
                enum gv_item_status st;
                bool pinned;
        } want[] = {
                { "close: discussed unpinned -> done", 1, GV_ITEM_DONE, false },
                { "close: discussed pinned stays open", 2, GV_ITEM_OPEN, true },
                { "close: postponed -> open", 3, GV_ITEM_OPEN, false },
                { "close: undiscussed stays open", 4, GV_ITEM_OPEN, false },
                { "close: discussed in another meeting stays", 5, GV_ITEM_OPEN, false },
                { "close: other agenda untouched", 6, GV_ITEM_POSTPONED, false },
        };
        int64_t idv[7] = { 0, x1, x2, x3, x4, x5, y1 };
        enum gv_err r = GV_OK;

        r = r ? r : gv_store_item_set_discussed(s, x1, 7);
        r = r ? r : gv_store_item_set_discussed(s, x2, 7);
        r = r ? r : gv_store_item_set_pinned(s, x2, true);
        r = r ? r : gv_store_item_set_status(s, x3, GV_ITEM_POSTPONED);
        r = r ? r : gv_store_item_set_discussed(s, x5, 8);
        r = r ? r : gv_store_item_set_status(s, y1, GV_ITEM_POSTPONED);
        r = r ? r : gv_store_agenda_close_meeting(s, "cl", 7);
        check(r == GV_OK, "agenda_close_meeting", "%s", gv_strerror(r));
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                memset(&it, 0, sizeof(it));
                r = gv_store_item_get(s, idv[want[i].which], &it);
                check(r == GV_OK && it.status == want[i].st && it.pinned == want[i].pinned,
                      want[i].name, "got %s status %d pinned %d", gv_strerror(r), (int)it.status,
                      it.pinned);
                gv_item_clear(&it);
        }
        check(count_rows(s, "cl") == 4, "close: agenda shows the four left", "%" PRId64,
              count_rows(s, "cl"));
}

static void test_meetings(struct gv_store *s, int64_t *meeting)
{
        struct gv_meeting m, got;
        int64_t id = 0, id2 = 0, id3 = 0, again = 0;
        enum gv_err r;

        memset(&m, 0, sizeof(m));
        m.room = "!room:example.org";
        m.name = "Arch call";
        m.agenda = "arch";
        m.starter = "alice";
        m.started = 1494248444000LL;
        r = gv_store_meeting_start(s, &m, &id);
        check(r == GV_OK && id > 0, "meeting start", "got %s id %" PRId64, gv_strerror(r), id);

        memset(&got, 0, sizeof(got));
        r = gv_store_meeting_running(s, "!room:example.org", &got);
        check(r == GV_OK && got.id == id && str_eq(got.room, "!room:example.org") &&
              str_eq(got.name, "Arch call") && str_eq(got.agenda, "arch") &&
              str_eq(got.starter, "alice") && got.started == 1494248444000LL && got.ended == 0 &&
              got.topic == 0, "meeting running fields", "got %s id %" PRId64 " name \"%s\"",
              gv_strerror(r), got.id, nn(got.name));
        gv_meeting_clear(&got);

        {
                char *title = NULL;

                r = gv_store_meeting_title(s, id, &title);
                check(r == GV_OK && !title, "a meeting's title: none yet", "got %s %s",
                      gv_strerror(r), nn(title));
                free(title);
                title = NULL;
                r = gv_store_meeting_set_title(s, id, "SIG proposals & other business");
                r = r ? r : gv_store_meeting_title(s, id, &title);
                check(r == GV_OK && str_eq(title, "SIG proposals & other business"),
                      "a meeting's title: set and read", "got %s %s", gv_strerror(r), nn(title));
                free(title);
                title = NULL;
                r = gv_store_meeting_title(s, id + 1000, &title);
                check(r == GV_ENOTFOUND && !title, "a meeting's title: no such meeting", "got %s",
                      gv_strerror(r));
        }

        r = gv_store_meeting_running(s, "!other:example.org", &got);
        check(r == GV_ENOTFOUND, "meeting running in another room", "got %s", gv_strerror(r));

        r = gv_store_meeting_start(s, &m, &again);
        check(r != GV_OK, "second running meeting in the same room rejected", "got %s id %" PRId64,
              gv_strerror(r), again);
        r = gv_store_meeting_running(s, "!room:example.org", &got);
        check(r == GV_OK && got.id == id, "first meeting still the running one",
              "got %s id %" PRId64, gv_strerror(r), got.id);
        gv_meeting_clear(&got);

        m.room = "!other:example.org";
        r = gv_store_meeting_start(s, &m, &id2);
        check(r == GV_OK && id2 != id, "meeting in another room at the same time", "got %s",
              gv_strerror(r));

        r = gv_store_meeting_set_name(s, id, "Renamed call");
        if (r == GV_OK)
                r = gv_store_meeting_get(s, id, &got);
        check(r == GV_OK && str_eq(got.name, "Renamed call"), "meeting set name", "got %s \"%s\"",
              gv_strerror(r), nn(got.name));
        gv_meeting_clear(&got);

        {
                struct gv_mitem t;
                int64_t tid = 0;

                memset(&t, 0, sizeof(t));
                t.ts = 1;
                t.nick = "alice";
                t.kind = GV_M_TOPIC;
                t.text = "first topic";
                r = gv_store_mitem_add(s, id, &t, &tid);
                if (r == GV_OK)
                        r = gv_store_meeting_set_topic(s, id, tid);
                if (r == GV_OK)
                        r = gv_store_meeting_get(s, id, &got);
                check(r == GV_OK && got.topic == tid && tid > 0, "meeting set topic",
                      "got %s topic %" PRId64 " want %" PRId64, gv_strerror(r), got.topic, tid);
                gv_meeting_clear(&got);
                r = gv_store_meeting_set_topic(s, id, 0);
                if (r == GV_OK)
                        r = gv_store_meeting_get(s, id, &got);
                check(r == GV_OK && got.topic == 0, "meeting clear topic", "got %s topic %" PRId64,
                      gv_strerror(r), got.topic);
                gv_meeting_clear(&got);
        }

        r = gv_store_meeting_end(s, id2, 1494250000000LL);
        check(r == GV_OK, "meeting end", "%s", gv_strerror(r));
        r = gv_store_meeting_running(s, "!other:example.org", &got);
        check(r == GV_ENOTFOUND, "ended meeting is not running", "got %s", gv_strerror(r));
        r = gv_store_meeting_get(s, id2, &got);
        check(r == GV_OK && got.ended == 1494250000000LL, "meeting get after end",
              "got %s ended %" PRId64, gv_strerror(r), got.ended);
        gv_meeting_clear(&got);
        r = gv_store_meeting_start(s, &m, &id3);
        check(r == GV_OK && id3 != id2, "new meeting after the end", "got %s", gv_strerror(r));
        r = gv_store_meeting_running(s, "!other:example.org", &got);
        check(r == GV_OK && got.id == id3, "the new meeting runs", "got %s id %" PRId64,
              gv_strerror(r), got.id);
        gv_meeting_clear(&got);
        r = gv_store_meeting_get(s, 999999, &got);
        check(r == GV_ENOTFOUND, "meeting get missing", "got %s", gv_strerror(r));
        *meeting = id;
}

/* Archive file base names: each reserved by one meeting only, ignoring case. */
static void test_file_base(struct gv_store *s)
{
        struct gv_meeting m, got;
        int64_t a = 0, b = 0, *ids = NULL;
        size_t n = 0;
        bool ok = false, a_ended = false, b_ended = false;
        enum gv_err r;

        memset(&m, 0, sizeof(m));
        m.room = "!fb1:example.org";
        m.name = "Weekly";
        m.agenda = "arch";
        m.starter = "alice";
        m.started = 1720778405000LL;
        r = gv_store_meeting_start(s, &m, &a);
        m.room = "!fb2:example.org";
        r = r ? r : gv_store_meeting_start(s, &m, &b);
        r = r ? r : gv_store_meeting_get(s, a, &got);
        check(r == GV_OK && got.file_base == NULL, "file base NULL while running", "got %s \"%s\"",
              gv_strerror(r), nn(got.file_base));
        gv_meeting_clear(&got);
        r = r ? r : gv_store_meeting_end(s, a, 1720778406000LL);
        r = r ? r : gv_store_meeting_end(s, b, 1720778407000LL);
        r = r ? r : gv_store_meeting_reserve_file(s, a, "Weekly.2024-07-12-10.00", &ok);
        check(r == GV_OK && ok, "file base reserved", "got %s %d", gv_strerror(r), ok);
        r = r ? r : gv_store_meeting_reserve_file(s, b, "Weekly.2024-07-12-10.00", &ok);
        check(r == GV_OK && !ok, "a taken file base is refused", "got %s %d", gv_strerror(r), ok);
        r = r ? r : gv_store_meeting_reserve_file(s, b, "weekly.2024-07-12-10.00", &ok);
        check(r == GV_OK && !ok, "a taken file base is refused whatever its case", "got %s %d",
              gv_strerror(r), ok);
        r = r ? r : gv_store_meeting_reserve_file(s, b, "Weekly.fb2.2024-07-12-10.00.05", &ok);
        check(r == GV_OK && ok, "another file base reserved", "got %s %d", gv_strerror(r), ok);
        memset(&got, 0, sizeof(got));
        r = r ? r : gv_store_meeting_get(s, a, &got);
        check(r == GV_OK && str_eq(got.file_base, "Weekly.2024-07-12-10.00"), "file base kept",
              "got %s \"%s\"", gv_strerror(r), nn(got.file_base));
        gv_meeting_clear(&got);
        r = r ? r : gv_store_meeting_get(s, b, &got);
        check(r == GV_OK && str_eq(got.file_base, "Weekly.fb2.2024-07-12-10.00.05"),
              "second file base kept", "got %s \"%s\"", gv_strerror(r), nn(got.file_base));
        gv_meeting_clear(&got);
        {
                struct list l;
                int64_t c = 0;

                m.room = "!fb3:example.org";
                m.name = "Unnamed";
                l.s[0] = '\0';
                r = r ? r : gv_store_meeting_start(s, &m, &c);
                r = r ? r : gv_store_meetings_unnamed(s, 1720778400000LL, 1720778460000LL, c,
                                                      on_nick, &l);
                check(r == GV_OK && l.s[0] == '\0', "unnamed: running and named meetings left out",
                      "got %s [%s]", gv_strerror(r), l.s);
                r = r ? r : gv_store_meeting_end(s, c, 1720778408000LL);
                r = r ? r : gv_store_meetings_unnamed(s, 1720778400000LL, 1720778460000LL, c,
                                                      on_nick, &l);
                check(r == GV_OK && l.s[0] == '\0', "unnamed: the meeting asking is left out",
                      "got %s [%s]", gv_strerror(r), l.s);
                r = r ? r : gv_store_meetings_unnamed(s, 1720778400000LL, 1720778460000LL, a,
                                                      on_nick, &l);
                check(r == GV_OK && strcmp(l.s, "Unnamed") == 0, "unnamed: an ended, unnamed one",
                      "got %s [%s]", gv_strerror(r), l.s);
                l.s[0] = '\0';
                r = r ? r : gv_store_meetings_unnamed(s, 1720778460000LL, 1720778520000LL, a,
                                                      on_nick, &l);
                check(r == GV_OK && l.s[0] == '\0', "unnamed: only in the minute asked",
                      "got %s [%s]", gv_strerror(r), l.s);
                r = r ? r : gv_store_meeting_reserve_file(s, c, "Unnamed.x", &ok);
        }
        r = r ? r : gv_store_meetings_ended(s, &ids, &n);
        for (size_t i = 0; i < n; i++) {
                a_ended |= ids[i] == a;
                b_ended |= ids[i] == b;
                if (i > 0 && ids[i] <= ids[i - 1])
                        a_ended = false;
        }
        check(r == GV_OK && a_ended && b_ended, "ended meetings listed, oldest first",
              "got %s n %zu", gv_strerror(r), n);
        free(ids);
}

static void test_chairs_nicks(struct gv_store *s, int64_t meeting, int64_t other)
{
        struct list l;
        bool is = false;
        enum gv_err r;

        /* Chairs are people: full IDs, compared exactly. */
        r = gv_store_chair_set(s, meeting, "@alice:good.org", true);
        check(r == GV_OK, "chair set", "%s", gv_strerror(r));
        r = gv_store_chair_is(s, meeting, "@alice:good.org", &is);
        check(r == GV_OK && is, "chair is", "got %s %d", gv_strerror(r), is);
        r = gv_store_chair_is(s, meeting, "@alice:evil.org", &is);
        check(r == GV_OK && !is, "same localpart, other server: no chair", "got %s %d",
              gv_strerror(r), is);
        r = gv_store_chair_is(s, meeting, "alice", &is);
        check(r == GV_OK && !is, "the bare nick is no chair", "got %s %d", gv_strerror(r), is);
        r = gv_store_chair_is(s, meeting, "@bob:good.org", &is);
        check(r == GV_OK && !is, "not a chair", "got %s %d", gv_strerror(r), is);
        r = gv_store_chair_is(s, other, "@alice:good.org", &is);
        check(r == GV_OK && !is, "chairs are per meeting", "got %s %d", gv_strerror(r), is);
        r = gv_store_chair_set(s, meeting, "@alice:good.org", true);
        r = r ? r : gv_store_chair_set(s, meeting, "@bob:good.org", true);
        l.s[0] = '\0';
        r = r ? r : gv_store_chairs(s, meeting, on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "@alice:good.org,@bob:good.org") == 0,
              "chairs listed once each, by ID without a nick", "got %s [%s]", gv_strerror(r), l.s);
        {
                char *nick = NULL;

                r = gv_store_person_nick(s, meeting, "@alice:good.org", "alice", "alt1", &nick);
                check(r == GV_OK && str_eq(nick, "alice"), "person: first alice is alice", "got %s %s",
                      gv_strerror(r), nick ? nick : "-");
                free(nick);
                nick = NULL;
                r = gv_store_person_nick(s, meeting, "@alice:evil.org", "ALICE", "alt2", &nick);
                check(r == GV_OK && str_eq(nick, "alt2"), "person: a second alice takes the alternative",
                      "got %s %s", gv_strerror(r), nick ? nick : "-");
                free(nick);
                nick = NULL;
                r = gv_store_person_nick(s, meeting, "@alice:good.org", "alice", "alt3", &nick);
                check(r == GV_OK && str_eq(nick, "alice"), "person: a nick stays fixed", "got %s %s",
                      gv_strerror(r), nick ? nick : "-");
                free(nick);
                nick = NULL;
                r = gv_store_person_nick(s, other, "@alice:evil.org", "alice", "alt4", &nick);
                check(r == GV_OK && str_eq(nick, "alice"), "person: nicks are per meeting", "got %s %s",
                      gv_strerror(r), nick ? nick : "-");
                free(nick);
        }
        l.s[0] = '\0';
        r = gv_store_chairs(s, meeting, on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "alice,@bob:good.org") == 0, "chairs listed by nick",
              "got %s [%s]", gv_strerror(r), l.s);
        r = gv_store_chair_set(s, meeting, "@bob:good.org", false);
        l.s[0] = '\0';
        r = r ? r : gv_store_chairs(s, meeting, on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "alice") == 0, "unchair", "got %s [%s]",
              gv_strerror(r), l.s);
        r = gv_store_chair_is(s, meeting, "@bob:good.org", &is);
        check(r == GV_OK && !is, "unchaired is no chair", "got %s %d", gv_strerror(r), is);
        r = gv_store_chair_set(s, meeting, "nobody", false);
        check(r == GV_OK, "unchair someone who is not a chair", "%s", gv_strerror(r));

        /* Room members, found by nick or display name. */
        r = gv_store_member_set(s, "!r", "@alice:good.org", "alice", "Alice Liddell", "join");
        r = r ? r : gv_store_member_set(s, "!r", "@alice:evil.org", "alice", NULL, "join");
        r = r ? r : gv_store_member_set(s, "!r", "@bob:good.org", "bob", "Robert", "join");
        r = r ? r : gv_store_member_set(s, "!r", "@carol:good.org", "carol", NULL, "leave");
        r = r ? r : gv_store_member_seen(s, "!other", "@carol:good.org", "carol");
        r = r ? r : gv_store_member_seen(s, "!r", "@bob:good.org", "bob");
        check(r == GV_OK, "members set", "%s", gv_strerror(r));
        l.s[0] = '\0';
        r = gv_store_members_named(s, "!r", "ALICE", on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "@alice:evil.org,@alice:good.org") == 0,
              "members: a shared localpart names both", "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_members_named(s, "!r", "alice liddell", on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "@alice:good.org") == 0, "members: by display name",
              "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_members_named(s, "!r", "robert", on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "@bob:good.org") == 0,
              "members: seen keeps the display name", "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_members_named(s, "!r", "carol", on_nick, &l);
        check(r == GV_OK && l.s[0] == '\0', "members: who left is no member", "got %s [%s]",
              gv_strerror(r), l.s);
        r = gv_store_member_seen(s, "!r", "@carol:good.org", "carol");
        l.s[0] = '\0';
        r = r ? r : gv_store_members_named(s, "!r", "carol", on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "@carol:good.org") == 0,
              "members: who speaks is joined again", "got %s [%s]", gv_strerror(r), l.s);

        r = gv_store_nick_add(s, meeting, "carol");
        r = r ? r : gv_store_nick_add(s, meeting, "CAROL");
        r = r ? r : gv_store_nick_add(s, meeting, "dave");
        l.s[0] = '\0';
        r = r ? r : gv_store_nicks(s, meeting, on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "carol,dave") == 0, "nicks deduplicated case-insensitively",
              "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_nicks(s, other, on_nick, &l);
        check(r == GV_OK && l.s[0] == '\0', "nicks are per meeting", "got [%s]", l.s);
}

static void test_lines(struct gv_store *s, int64_t meeting, int64_t other)
{
        static const struct {
                const char *nick;
                int n;
        } who[] = { { "bob", 2 }, { "zed", 4 }, { "alice", 2 }, { "carol", 1 } };
        struct list l;
        int64_t ts = 100;
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++)
                for (int k = 0; k < who[i].n && r == GV_OK; k++)
                        r = gv_store_line_add(s, meeting, ts++, who[i].nick, "hello", false, NULL);
        r = r ? r : gv_store_line_add(s, meeting, ts++, "carol", "waves", true, "$ev");
        r = r ? r : gv_store_line_add(s, other, ts++, "zed", "elsewhere", false, NULL);
        check(r == GV_OK, "line add", "%s", gv_strerror(r));
        l.s[0] = '\0';
        r = gv_store_line_counts(s, meeting, on_count, &l);
        check(r == GV_OK && strcmp(l.s, "zed=4,alice=2,bob=2,carol=2") == 0,
              "line counts: most first, then nick", "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_lines(s, other, on_line, &l);
        check(r == GV_OK && strcmp(l.s, "110/zed/elsewhere") == 0, "lines per meeting",
              "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_lines(s, meeting, on_line, &l);
        check(r == GV_OK && strncmp(l.s, "100/bob/hello,101/bob/hello,102/zed/hello,", 42) == 0 &&
              strstr(l.s, ",109/carol/waves/me") && !strstr(l.s, "elsewhere"),
              "lines in order with the action flag", "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_lines(s, meeting, on_line_stop, &l);
        check(r == GV_OK && strcmp(l.s, "100/bob/hello") == 0, "lines callback stops",
              "got %s [%s]", gv_strerror(r), l.s);
        /* The statement is reset after a stop: it runs again from the start. */
        l.s[0] = '\0';
        r = gv_store_lines(s, meeting, on_line_stop, &l);
        check(r == GV_OK && strcmp(l.s, "100/bob/hello") == 0, "lines again after a stop",
              "got %s [%s]", gv_strerror(r), l.s);
        /* The log .txt and .log.html read a meeting's lines one after the
         * other: the second read is the first one kept, until the lines
         * change (a write, a rollback). */
        {
                struct list first;

                first.s[0] = l.s[0] = '\0';
                r = gv_store_lines(s, meeting, on_line, &first);
                r = r ? r : gv_store_lines(s, meeting, on_line, &l);
                check(r == GV_OK && strcmp(first.s, l.s) == 0 && strstr(l.s, "109/carol/waves/me"),
                      "a second read of the lines gives the same lines", "[%s] [%s]", first.s,
                      l.s);
                l.s[0] = '\0';
                r = gv_store_lines(s, meeting, on_line_stop, &l);
                check(r == GV_OK && strcmp(l.s, "100/bob/hello") == 0,
                      "a kept read stops when the callback says so", "[%s]", l.s);
                r = gv_store_line_add(s, meeting, 200, "dan", "late", false, NULL);
                l.s[0] = '\0';
                r = r ? r : gv_store_lines(s, meeting, on_line, &l);
                check(r == GV_OK && strstr(l.s, ",200/dan/late") != NULL,
                      "a line added after a read is in the next read", "[%s]", l.s);
                r = gv_store_begin(s);
                r = r ? r : gv_store_line_add(s, meeting, 201, "eve", "undone", false, NULL);
                l.s[0] = '\0';
                r = r ? r : gv_store_lines(s, meeting, on_line, &l);
                check(r == GV_OK && strstr(l.s, "201/eve/undone") != NULL,
                      "a line added in a transaction is read in it", "[%s]", l.s);
                gv_store_rollback(s);
                l.s[0] = '\0';
                r = gv_store_lines(s, meeting, on_line, &l);
                check(r == GV_OK && !strstr(l.s, "eve") && strstr(l.s, "200/dan/late"),
                      "after a rollback the line is gone from the next read too", "[%s]", l.s);
                l.s[0] = '\0';
                r = gv_store_lines(s, other, on_line, &l);
                check(r == GV_OK && strcmp(l.s, "110/zed/elsewhere") == 0,
                      "another meeting's lines are its own", "[%s]", l.s);
        }
}

static void test_mitems(struct gv_store *s, int64_t meeting, int64_t item)
{
        struct gv_mitem it, out;
        struct gv_mitem *v = NULL;
        struct gv_meeting m;
        size_t n = 0;
        int64_t t1 = 0, i1 = 0, t2 = 0, i2 = 0, last = -1;
        enum gv_err r;

        memset(&out, 0, sizeof(out));
        /* A fresh meeting: nothing to undo. */
        r = gv_store_mitem_undo(s, meeting, &out);
        check(r == GV_ENOTFOUND, "undo with no items", "got %s", gv_strerror(r));
        r = gv_store_last_topic(s, meeting, &last);
        check(r == GV_OK && last == 0, "last topic with none", "got %s %" PRId64, gv_strerror(r), last);

        memset(&it, 0, sizeof(it));
        it.nick = "alice";
        it.ts = 10;
        it.kind = GV_M_TOPIC;
        it.text = "Discuss keyframes";
        it.agenda_item = item;
        r = gv_store_mitem_add(s, meeting, &it, &t1);
        it.ts = 11;
        it.kind = GV_M_INFO;
        it.text = "keyframes are hard";
        it.topic = t1;
        it.agenda_item = 0;
        r = r ? r : gv_store_mitem_add(s, meeting, &it, &i1);
        it.ts = 12;
        it.kind = GV_M_TOPIC;
        it.text = "second topic";
        it.topic = 0;
        r = r ? r : gv_store_mitem_add(s, meeting, &it, &t2);
        it.ts = 13;
        it.nick = "bob";
        it.kind = GV_M_ACTION;
        it.text = "bob to write it up";
        it.topic = t2;
        r = r ? r : gv_store_mitem_add(s, meeting, &it, &i2);
        check(r == GV_OK && t1 < i1 && i1 < t2 && t2 < i2, "mitem add", "got %s", gv_strerror(r));
        r = gv_store_mitem_add(s, meeting, &it, NULL);
        check(r == GV_OK, "mitem add with NULL id", "%s", gv_strerror(r));
        memset(&out, 0, sizeof(out));
        r = gv_store_mitem_undo(s, meeting, &out);
        gv_mitem_clear(&out);

        r = gv_store_mitems(s, meeting, &v, &n);
        check(r == GV_OK && n == 4 && v[0].id == t1 && v[0].kind == GV_M_TOPIC &&
              v[0].agenda_item == item && v[0].topic == 0 && str_eq(v[0].nick, "alice") &&
              v[1].id == i1 && v[1].topic == t1 && str_eq(v[1].text, "keyframes are hard") &&
              v[3].id == i2 && v[3].kind == GV_M_ACTION && v[3].ts == 13 && str_eq(v[3].nick, "bob"),
              "mitems in order with fields", "got %s n %zu", gv_strerror(r), n);
        gv_mitems_free(v, n);

        r = gv_store_last_topic(s, meeting, &last);
        check(r == GV_OK && last == t2, "last topic", "got %s %" PRId64 " want %" PRId64,
              gv_strerror(r), last, t2);
        r = gv_store_meeting_set_topic(s, meeting, t2);
        check(r == GV_OK, "meeting topic set to the second topic", "%s", gv_strerror(r));

        memset(&out, 0, sizeof(out));
        r = gv_store_mitem_undo(s, meeting, &out);
        check(r == GV_OK && out.id == i2 && out.kind == GV_M_ACTION &&
              str_eq(out.text, "bob to write it up") && str_eq(out.nick, "bob") && out.topic == t2,
              "undo returns the newest", "got %s id %" PRId64 " \"%s\"", gv_strerror(r), out.id,
              nn(out.text));
        gv_mitem_clear(&out);
        r = gv_store_mitem_undo(s, meeting, &out);
        check(r == GV_OK && out.id == t2 && out.kind == GV_M_TOPIC, "undo the second topic",
              "got %s id %" PRId64, gv_strerror(r), out.id);
        gv_mitem_clear(&out);
        r = gv_store_mitems(s, meeting, &v, &n);
        check(r == GV_OK && n == 2, "undo removed two rows", "got %s n %zu", gv_strerror(r), n);
        gv_mitems_free(v, n);
        r = gv_store_last_topic(s, meeting, &last);
        check(r == GV_OK && last == t1, "last topic after undo", "got %s %" PRId64, gv_strerror(r),
              last);
        memset(&m, 0, sizeof(m));
        r = gv_store_meeting_get(s, meeting, &m);
        check(r == GV_OK && m.topic == 0, "undone topic no longer the meeting's topic",
              "got %s topic %" PRId64, gv_strerror(r), m.topic);
        gv_meeting_clear(&m);
        {
                struct gv_item *d = NULL;
                size_t dn = 0;

                r = gv_store_items_discussed(s, meeting, &d, &dn);
                check(r == GV_OK && dn == 1 && d[0].id == item, "items discussed via topics",
                      "got %s n %zu", gv_strerror(r), dn);
                gv_items_free(d, dn);
        }
        r = gv_store_mitem_undo(s, meeting, &out);
        gv_mitem_clear(&out);
        r = r ? r : gv_store_mitem_undo(s, meeting, &out);
        gv_mitem_clear(&out);
        check(r == GV_OK, "undo everything", "%s", gv_strerror(r));
        r = gv_store_mitem_undo(s, meeting, &out);
        check(r == GV_ENOTFOUND, "undo when empty again", "got %s", gv_strerror(r));
}

/* Lines, meeting items and agenda items found by event ID: edits and redactions. */
static void test_by_event(struct gv_store *s)
{
        static const char room[] = "!edits:example.org";
        struct gv_meeting m;
        struct gv_line *ln = NULL;
        struct gv_mitem *mi = NULL, it;
        struct gv_item item;
        struct list l;
        size_t n = 0, k = 0;
        int64_t mtg = 0, t1 = 0, i1 = 0, t2 = 0, i2 = 0, i3 = 0, item_id;
        bool changed = true;
        enum gv_err r;

        memset(&m, 0, sizeof(m));
        m.room = (char *)room;
        m.name = "edits";
        m.agenda = "edits";
        m.starter = "alice";
        m.started = 1;
        r = gv_store_meeting_start(s, &m, &mtg);
        r = r ? r : gv_store_line_add_from(s, mtg, 1, "alice", "#info old", false, "$e1",
                                           "@alice:example.org");
        r = r ? r : gv_store_line_add_from(s, mtg, 1, "alice", "second line", false, "$e1",
                                           "@alice:example.org");
        r = r ? r : gv_store_line_add_from(s, mtg, 2, "bob", "chatter", false, "$e2",
                                           "@bob:example.org");
        r = r ? r : gv_store_line_add(s, mtg, 3, "carol", "no sender", false, "$e3");
        check(r == GV_OK, "line add with a sender", "%s", gv_strerror(r));

        r = gv_store_lines_by_event(s, room, "$e1", &ln, &n);
        check(r == GV_OK && n == 2 && ln[0].id < ln[1].id && ln[0].meeting == mtg &&
              str_eq(ln[0].nick, "alice") && str_eq(ln[0].sender, "@alice:example.org") &&
              str_eq(ln[0].text, "#info old") && str_eq(ln[1].text, "second line") &&
              !ln[0].action && !ln[0].redacted,
              "lines by event: both lines with sender, in order", "got %s n %zu", gv_strerror(r), n);
        if (r == GV_OK && n == 2) {
                r = gv_store_line_set_text(s, ln[0].id, "#info new", &changed);
                check(r == GV_OK && changed, "line set text", "%s", gv_strerror(r));
                r = gv_store_line_delete(s, ln[1].id);
                check(r == GV_OK, "line delete", "%s", gv_strerror(r));
        }
        gv_lines_free(ln, n);
        ln = NULL;
        r = gv_store_lines_by_event(s, "!elsewhere:example.org", "$e1", &ln, &n);
        check(r == GV_OK && n == 0, "lines by event: another room's meeting finds none",
              "got %s n %zu", gv_strerror(r), n);
        gv_lines_free(ln, n);
        ln = NULL;
        r = gv_store_lines_by_event(s, room, "$e3", &ln, &n);
        check(r == GV_OK && n == 1 && ln[0].sender == NULL, "lines by event: no sender is NULL",
              "got %s n %zu", gv_strerror(r), n);
        gv_lines_free(ln, n);
        ln = NULL;
        r = gv_store_lines_by_event(s, room, "$nosuch", &ln, &n);
        check(r == GV_OK && n == 0, "lines by event: unknown event", "got %s n %zu", gv_strerror(r),
              n);
        gv_lines_free(ln, n);
        ln = NULL;

        r = gv_store_lines_redact(s, "!elsewhere:example.org", "$e2", &k);
        check(r == GV_OK && k == 0, "redact in another room changes nothing", "got %s %zu",
              gv_strerror(r), k);
        r = gv_store_lines_redact(s, room, "$e2", &k);
        check(r == GV_OK && k == 1, "redact a line", "got %s %zu", gv_strerror(r), k);
        r = gv_store_lines_redact(s, room, "$e2", &k);
        check(r == GV_OK && k == 0, "redact again is a no-op", "got %s %zu", gv_strerror(r), k);
        l.s[0] = '\0';
        r = gv_store_lines(s, mtg, on_line, &l);
        check(r == GV_OK &&
              strcmp(l.s, "1/alice/#info new,2/bob/[redacted],3/carol/no sender") == 0,
              "lines: edited text, a redacted line reads [redacted]", "got %s [%s]",
              gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_line_counts(s, mtg, on_count, &l);
        check(r == GV_OK && strcmp(l.s, "alice=1,bob=1,carol=1") == 0,
              "line counts keep redacted lines", "got %s [%s]", gv_strerror(r), l.s);
        r = gv_store_lines_by_event(s, room, "$e2", &ln, &n);
        check(r == GV_OK && n == 1 && ln[0].redacted && str_eq(ln[0].text, ""),
              "a redacted line's text is forgotten", "got %s n %zu \"%s\"", gv_strerror(r), n,
              n ? nn(ln[0].text) : "-");
        if (r == GV_OK && n == 1) {
                r = gv_store_line_set_text(s, ln[0].id, "back", &changed);
                check(r == GV_OK && !changed, "a redacted line cannot be edited", "%s changed %d",
                      gv_strerror(r), changed);
        }
        gv_lines_free(ln, n);
        ln = NULL;

        /* Meeting items: t1 <- i1, t2 <- i2, i3; t2 and i2 from one event. */
        memset(&it, 0, sizeof(it));
        it.nick = "alice";
        it.sender = "@alice:example.org";
        it.ts = 10;
        it.kind = GV_M_TOPIC;
        it.text = "first";
        it.event_id = "$t1";
        r = gv_store_mitem_add(s, mtg, &it, &t1);
        it.kind = GV_M_INFO;
        it.text = "under first";
        it.topic = t1;
        it.event_id = "$i1";
        r = r ? r : gv_store_mitem_add(s, mtg, &it, &i1);
        it.kind = GV_M_TOPIC;
        it.text = "second";
        it.topic = 0;
        it.event_id = "$two";
        r = r ? r : gv_store_mitem_add(s, mtg, &it, &t2);
        it.kind = GV_M_INFO;
        it.text = "under second";
        it.topic = t2;
        r = r ? r : gv_store_mitem_add(s, mtg, &it, &i2);
        it.kind = GV_M_ACTION;
        it.text = "no event";
        it.event_id = NULL;
        it.sender = NULL;
        r = r ? r : gv_store_mitem_add(s, mtg, &it, &i3);
        r = r ? r : gv_store_meeting_set_topic(s, mtg, t2);
        check(r == GV_OK, "mitem add with event and sender", "%s", gv_strerror(r));

        r = gv_store_mitems_by_event(s, room, "$two", &mi, &n);
        check(r == GV_OK && n == 2 && mi[0].id == t2 && mi[1].id == i2 &&
              mi[1].kind == GV_M_INFO && str_eq(mi[1].event_id, "$two") &&
              str_eq(mi[1].sender, "@alice:example.org") && mi[1].meeting == mtg &&
              mi[1].topic == t2, "mitems by event: fields", "got %s n %zu", gv_strerror(r), n);
        gv_mitems_free(mi, n);
        mi = NULL;
        r = gv_store_mitems_by_event(s, "!elsewhere:example.org", "$two", &mi, &n);
        check(r == GV_OK && n == 0, "mitems by event: another room finds none", "got %s n %zu",
              gv_strerror(r), n);
        gv_mitems_free(mi, n);
        mi = NULL;

        r = gv_store_mitem_set_text(s, i1, "edited");
        check(r == GV_OK, "mitem set text", "%s", gv_strerror(r));
        /* Deleting the current topic: its items move to the first, the meeting's topic too. */
        r = gv_store_mitem_delete(s, t2);
        check(r == GV_OK, "mitem delete a topic with items under it", "%s", gv_strerror(r));
        r = gv_store_mitem_delete(s, t2);
        check(r == GV_ENOTFOUND, "mitem delete twice", "got %s", gv_strerror(r));
        r = gv_store_mitems(s, mtg, &mi, &n);
        check(r == GV_OK && n == 4 && mi[0].id == t1 && str_eq(mi[1].text, "edited") &&
              mi[2].id == i2 && mi[2].topic == t1 && mi[3].id == i3 && mi[3].topic == t1 &&
              mi[3].event_id == NULL && mi[3].sender == NULL,
              "mitem delete: items under the topic move to the one before", "got %s n %zu",
              gv_strerror(r), n);
        gv_mitems_free(mi, n);
        mi = NULL;
        memset(&m, 0, sizeof(m));
        r = gv_store_meeting_get(s, mtg, &m);
        check(r == GV_OK && m.topic == t1, "mitem delete: the meeting falls back to the first topic",
              "got %s topic %" PRId64, gv_strerror(r), m.topic);
        gv_meeting_clear(&m);
        r = gv_store_mitem_delete(s, t1);
        r = r ? r : gv_store_meeting_get(s, mtg, &m);
        check(r == GV_OK && m.topic == 0, "mitem delete the last topic: no topic", "got %s %" PRId64,
              gv_strerror(r), m.topic);
        gv_meeting_clear(&m);
        r = gv_store_mitems(s, mtg, &mi, &n);
        check(r == GV_OK && n == 3 && mi[0].topic == 0 && mi[1].topic == 0 && mi[2].topic == 0,
              "mitem delete the first topic: items under none", "got %s n %zu", gv_strerror(r), n);
        gv_mitems_free(mi, n);
        mi = NULL;

        /* Agenda items. */
        item_id = add_item(s, "edits", "tagged", "$tag", 5);
        memset(&item, 0, sizeof(item));
        r = gv_store_item_by_event(s, "!room:example.org", "$tag", &item);
        check(r == GV_OK && item.id == item_id && str_eq(item.description, "tagged"),
              "item by event", "got %s", gv_strerror(r));
        gv_item_clear(&item);
        r = gv_store_item_by_event(s, room, "$tag", &item);
        check(r == GV_ENOTFOUND, "item by event in another room", "got %s", gv_strerror(r));
        r = gv_store_item_by_event(s, "!room:example.org", "$nosuch", &item);
        check(r == GV_ENOTFOUND, "item by unknown event", "got %s", gv_strerror(r));
        r = gv_store_item_set_text(s, item_id, "retagged", "@x:example.org @y");
        r = r ? r : gv_store_item_get(s, item_id, &item);
        check(r == GV_OK && str_eq(item.description, "retagged") &&
              str_eq(item.mentions, "@x:example.org @y"), "item set description and mentions",
              "got %s \"%s\" \"%s\"", gv_strerror(r), nn(item.description), nn(item.mentions));
        gv_item_clear(&item);
        r = gv_store_item_set_text(s, item_id, "no mentions", NULL);
        r = r ? r : gv_store_item_get(s, item_id, &item);
        check(r == GV_OK && str_eq(item.mentions, ""), "item set text: NULL mentions stored as \"\"",
              "got %s", gv_strerror(r));
        gv_item_clear(&item);
        r = gv_store_meeting_end(s, mtg, 100);
        check(r == GV_OK, "end the edits meeting", "%s", gv_strerror(r));
}

static void test_votes(struct gv_store *s, int64_t meeting)
{
        struct gv_vote v;
        struct list l;
        int64_t id = 0, id2 = 0;
        enum gv_err r;

        memset(&v, 0, sizeof(v));
        r = gv_store_vote_current(s, meeting, &v);
        check(r == GV_ENOTFOUND, "no vote open", "got %s", gv_strerror(r));
        r = gv_store_vote_open(s, meeting, "Ship it?", "Yes, No", 500, &id);
        check(r == GV_OK && id > 0, "vote open", "got %s", gv_strerror(r));
        r = gv_store_vote_current(s, meeting, &v);
        check(r == GV_OK && v.id == id && str_eq(v.question, "Ship it?") &&
              str_eq(v.options, "Yes, No") && v.opened == 500, "vote current", "got %s \"%s\"",
              gv_strerror(r), nn(v.question));
        gv_vote_clear(&v);
        r = gv_store_vote_cast(s, id, "alice", "Yes", 501);
        r = r ? r : gv_store_vote_cast(s, id, "bob", "No", 502);
        r = r ? r : gv_store_vote_cast(s, id, "carol", "Yes", 503);
        r = r ? r : gv_store_vote_cast(s, id, "alice", "No", 504);
        check(r == GV_OK, "vote cast and recast", "%s", gv_strerror(r));
        l.s[0] = '\0';
        r = gv_store_vote_tally(s, id, on_count, &l);
        check(r == GV_OK && strcmp(l.s, "No=2,Yes=1") == 0, "vote tally: recast replaces",
              "got %s [%s]", gv_strerror(r), l.s);
        r = gv_store_vote_cast(s, id, "dave", "Yes", 505);
        l.s[0] = '\0';
        r = r ? r : gv_store_vote_tally(s, id, on_count, &l);
        check(r == GV_OK && strcmp(l.s, "No=2,Yes=2") == 0, "vote tally: ties by choice",
              "got %s [%s]", gv_strerror(r), l.s);
        r = gv_store_vote_close(s, id, 600);
        check(r == GV_OK, "vote close", "%s", gv_strerror(r));
        r = gv_store_vote_current(s, meeting, &v);
        check(r == GV_ENOTFOUND, "no vote open after close", "got %s", gv_strerror(r));
        l.s[0] = '\0';
        r = gv_store_vote_tally(s, id, on_count, &l);
        check(r == GV_OK && strcmp(l.s, "No=2,Yes=2") == 0, "tally kept after close",
              "got %s [%s]", gv_strerror(r), l.s);
        r = gv_store_vote_open(s, meeting, "Again?", "A, B", 700, &id2);
        r = r ? r : gv_store_vote_current(s, meeting, &v);
        check(r == GV_OK && v.id == id2 && id2 != id, "a second vote", "got %s", gv_strerror(r));
        gv_vote_clear(&v);
        l.s[0] = '\0';
        r = gv_store_vote_tally(s, id2, on_count, &l);
        check(r == GV_OK && l.s[0] == '\0', "a new vote has no ballots", "got [%s]", l.s);
}

static void test_outbox(struct gv_store *s)
{
        struct gv_out o, o2, o3;
        uint64_t adds = gv_store_outbox_adds(s);
        enum gv_err r;

        memset(&o, 0, sizeof(o));
        r = gv_store_outbox_next(s, 0, &o);
        check(r == GV_ENOTFOUND, "outbox empty", "got %s", gv_strerror(r));
        check(gv_store_outbox_adds(s) == adds, "reading the outbox adds nothing", "%llu",
              (unsigned long long)gv_store_outbox_adds(s));
        r = gv_store_outbox_add(s, GV_OUT_MESSAGE, "!room:example.org", "hello", "<b>hello</b>",
                                "{\"msgtype\":\"m.notice\"}", 10);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_REACTION, "!room:example.org", "\xf0\x9f\x91\x80",
                                        NULL, "{\"event_id\":\"$e\"}", 11);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_FILE, "meeting.txt", "minutes", NULL, NULL, 12);
        check(r == GV_OK, "outbox add", "%s", gv_strerror(r));
        check(gv_store_outbox_adds(s) == adds + 3, "three rows added are counted (the Matrix loop "
              "skips the sender after a batch that added none)", "%llu",
              (unsigned long long)(gv_store_outbox_adds(s) - adds));
        r = gv_store_sync(s);
        check(r == GV_OK, "gv_store_sync: what is committed is checkpointed to the disk", "%s: %s",
              gv_strerror(r), gv_store_errmsg(s));

        r = gv_store_outbox_next(s, 0, &o);
        check(r == GV_OK && (o.kind == GV_OUT_MESSAGE) && str_eq(o.room, "!room:example.org") &&
              str_eq(o.body, "hello") && str_eq(o.html, "<b>hello</b>") &&
              str_eq(o.extra, "{\"msgtype\":\"m.notice\"}"), "outbox next: oldest first",
              "got %s kind %s", gv_strerror(r), gv_out_kind_name(o.kind));
        memset(&o2, 0, sizeof(o2));
        r = gv_store_outbox_next(s, o.id, &o2);
        check(r == GV_OK && o2.id > o.id && (o2.kind == GV_OUT_REACTION) && o2.html == NULL &&
              str_eq(o2.body, "\xf0\x9f\x91\x80"), "outbox next after id", "got %s kind %s",
              gv_strerror(r), gv_out_kind_name(o2.kind));
        r = gv_store_outbox_sent(s, o2.id, 20);
        check(r == GV_OK, "outbox sent", "%s", gv_strerror(r));
        memset(&o3, 0, sizeof(o3));
        r = gv_store_outbox_next(s, o.id, &o3);
        check(r == GV_OK && (o3.kind == GV_OUT_FILE) && str_eq(o3.room, "meeting.txt") &&
              o3.extra == NULL && o3.html == NULL, "outbox skips sent rows", "got %s kind %s",
              gv_strerror(r), gv_out_kind_name(o3.kind));
        gv_out_clear(&o3);
        r = gv_store_outbox_next(s, 0, &o3);
        check(r == GV_OK && o3.id == o.id, "outbox unsent first row still first",
              "got %s id %" PRId64, gv_strerror(r), o3.id);
        gv_out_clear(&o3);
        r = gv_store_outbox_sent(s, o.id, 21);
        r = r ? r : gv_store_outbox_next(s, 0, &o3);
        check(r == GV_OK && (o3.kind == GV_OUT_FILE), "outbox after sending the first",
              "got %s kind %s", gv_strerror(r), gv_out_kind_name(o3.kind));
        r = gv_store_outbox_sent(s, o3.id, 22);
        gv_out_clear(&o3);
        r = r ? r : gv_store_outbox_next(s, 0, &o3);
        check(r == GV_ENOTFOUND, "outbox drained", "got %s", gv_strerror(r));
        gv_out_clear(&o);
        gv_out_clear(&o2);
        gv_out_clear(&o3);
}

struct rows {
        char s[1024];
};

static int on_out(void *ud, const struct gv_out *o)
{
        struct rows *l = ud;
        size_t used = strlen(l->s);

        snprintf(l->s + used, sizeof(l->s) - used, "%s%" PRId64 "/%s/%s/%s/%" PRId64 "/%s",
                 used ? "," : "", o->id, o->state == GV_OUT_PARKED ? "parked" : "pending",
                 gv_out_kind_name(o->kind), o->room, o->attempts, o->last_error ? o->last_error : "-");
        return 0;
}

/* Kinds are words in the file; rows wait (attempts, reason, next attempt) or
 * are parked, are listed, and come back with retry. */
static void test_outbox_states(struct gv_store *s)
{
        static const char *const words[] = { "message", "reaction", "minutes", "file", "join",
                                              "leave", "wiki", "webhook" };
        struct gv_out o;
        struct rows l;
        int64_t a, b;
        enum gv_err r;
        bool ok = true;

        for (unsigned k = 0; k < GV_OUT__COUNT; k++)
                ok = ok && str_eq(gv_out_kind_name((enum gv_out_kind)k), words[k]) &&
                     gv_out_kind_parse(words[k]) == (enum gv_out_kind)k;
        check(ok && gv_out_kind_parse("fax") == GV_OUT_UNKNOWN &&
              gv_out_kind_parse(NULL) == GV_OUT_UNKNOWN, "outbox kinds are the stored words", "-");
        check(gv_store_outbox_add(s, GV_OUT__COUNT, "!r", "", NULL, NULL, 1) == GV_EINVAL,
              "outbox refuses a kind it does not know", "-");
        memset(&o, 0, sizeof(o));
        r = gv_store_outbox_add(s, GV_OUT_JOIN, "!a:x", "", NULL, NULL, 30);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_LEAVE, "!b:x", "", NULL, NULL, 31);
        r = r ? r : gv_store_outbox_next(s, 0, &o);
        a = o.id;
        check(r == GV_OK && o.kind == GV_OUT_JOIN && o.state == GV_OUT_PENDING && o.attempts == 0 &&
              o.last_error == NULL && o.next_at == 0 && o.created == 30,
              "outbox: a new row is pending, never tried", "got %s", gv_strerror(r));
        gv_out_clear(&o);
        r = gv_store_outbox_later(s, a, "500 M_UNKNOWN", 5000);
        r = r ? r : gv_store_outbox_later(s, a, "timed out", 9000);
        r = r ? r : gv_store_outbox_next(s, 0, &o);
        check(r == GV_OK && o.id == a && o.attempts == 2 && str_eq(o.last_error, "timed out") &&
              o.next_at == 9000 && o.state == GV_OUT_PENDING,
              "outbox: a failed row waits with its attempts and reason", "got %s attempts %" PRId64,
              gv_strerror(r), o.attempts);
        gv_out_clear(&o);
        r = gv_store_outbox_park(s, a, "403 M_FORBIDDEN");
        r = r ? r : gv_store_outbox_next(s, 0, &o);
        b = o.id;
        check(r == GV_OK && b != a && o.kind == GV_OUT_LEAVE,
              "outbox: a parked row is skipped, the next goes on", "got %s", gv_strerror(r));
        gv_out_clear(&o);
        memset(&l, 0, sizeof(l));
        r = gv_store_outbox_each(s, on_out, &l);
        {
                char want[256];

                snprintf(want, sizeof(want), "%" PRId64 "/parked/join/!a:x/3/403 M_FORBIDDEN,"
                         "%" PRId64 "/pending/leave/!b:x/0/-", a, b);
                check(r == GV_OK && str_eq(l.s, want), "outbox: list pending and parked rows",
                      "got [%s] want [%s]", l.s, want);
        }
        r = gv_store_outbox_retry(s, a);
        r = r ? r : gv_store_outbox_next(s, 0, &o);
        check(r == GV_OK && o.id == a && o.state == GV_OUT_PENDING && o.next_at == 0,
              "outbox: retry puts a parked row back", "got %s", gv_strerror(r));
        gv_out_clear(&o);
        r = gv_store_outbox_sent(s, a, 40);
        r = r ? r : gv_store_outbox_sent(s, b, 40);
        check(r == GV_OK && gv_store_outbox_retry(s, a) == GV_ENOTFOUND &&
              gv_store_outbox_retry(s, 999999) == GV_ENOTFOUND &&
              gv_store_outbox_park(s, a, "late") == GV_OK &&
              gv_store_outbox_next(s, 0, &o) == GV_ENOTFOUND,
              "outbox: a sent row is never retried or parked", "-");
        gv_out_clear(&o);
        {
                bool f1 = true, f2 = true;

                r = gv_store_outbox_add(s, GV_OUT_FILE, "m.txt", "", NULL, "{\"meeting\":41}", 50);
                r = r ? r : gv_store_outbox_add(s, GV_OUT_FILE, "n.txt", "", NULL,
                                                "{\"meeting\":42}", 50);
                r = r ? r : gv_store_outbox_next(s, 0, &o);
                r = r ? r : gv_store_outbox_files_failed(s, 41, &f1);
                check(r == GV_OK && !f1, "outbox: no file of a meeting failed yet", "%s",
                      gv_strerror(r));
                r = r ? r : gv_store_outbox_later(s, o.id, "I/O error", 60);
                r = r ? r : gv_store_outbox_sent(s, o.id, 70);
                r = r ? r : gv_store_outbox_files_failed(s, 41, &f1);
                r = r ? r : gv_store_outbox_files_failed(s, 42, &f2);
                check(r == GV_OK && f1 && !f2, "outbox: a meeting's file failed once, sent or not",
                      "%s %d %d", gv_strerror(r), f1, f2);
                gv_out_clear(&o);
                r = gv_store_outbox_next(s, 0, &o);
                r = r ? r : gv_store_outbox_sent(s, o.id, 70);
                gv_out_clear(&o);
                check(r == GV_OK, "outbox: cleared", "%s", gv_strerror(r));
        }
}

static void test_transactions(struct gv_store *s)
{
        char *v = NULL;
        int64_t before, after;
        enum gv_err r;

        r = gv_store_begin(s);
        r = r ? r : gv_store_kv_set(s, "tx", "1");
        r = r ? r : gv_store_savepoint(s);
        r = r ? r : gv_store_kv_set(s, "tx", "2");
        check(r == GV_OK, "savepoint setup", "%s", gv_strerror(r));
        before = count_rows(s, "sp");
        (void)add_item(s, "sp", "inside the savepoint", "$sp", 1);
        check(count_rows(s, "sp") == before + 1, "item visible inside the savepoint",
              "%" PRId64, count_rows(s, "sp"));
        gv_store_rollback_savepoint(s);
        r = gv_store_kv_get(s, "tx", &v);
        check(r == GV_OK && str_eq(v, "1"), "rollback_savepoint discards kv", "got \"%s\"", nn(v));
        free(v);
        v = NULL;
        after = count_rows(s, "sp");
        check(after == before, "rollback_savepoint discards the item", "%" PRId64 " rows", after);
        r = gv_store_savepoint(s);
        r = r ? r : gv_store_kv_set(s, "tx", "3");
        r = r ? r : gv_store_release(s);
        r = r ? r : gv_store_commit(s);
        check(r == GV_OK, "savepoint release and commit", "%s", gv_strerror(r));
        r = gv_store_kv_get(s, "tx", &v);
        check(r == GV_OK && str_eq(v, "3"), "released savepoint kept", "got \"%s\"", nn(v));
        free(v);
        v = NULL;

        r = gv_store_begin(s);
        r = r ? r : gv_store_kv_set(s, "tx", "4");
        r = r ? r : gv_store_kv_set(s, "tx-new", "x");
        (void)add_item(s, "sp", "rolled back", "$rb", 1);
        check(r == GV_OK, "begin", "%s", gv_strerror(r));
        gv_store_rollback(s);
        r = gv_store_kv_get(s, "tx", &v);
        check(r == GV_OK && str_eq(v, "3"), "rollback discards the update", "got \"%s\"", nn(v));
        free(v);
        v = (char *)"untouched";
        r = gv_store_kv_get(s, "tx-new", &v);
        check(r == GV_OK && v == NULL, "rollback discards the insert", "got \"%s\"", nn(v));
        check(count_rows(s, "sp") == before, "rollback discards the item", "%" PRId64,
              count_rows(s, "sp"));
        gv_store_rollback(s);   /* no transaction: harmless */
        r = gv_store_begin(s);
        r = r ? r : gv_store_commit(s);
        check(r == GV_OK, "begin after rollback", "%s", gv_strerror(r));
        r = gv_store_commit(s);
        check(r != GV_OK, "commit without a transaction fails", "got %s", gv_strerror(r));
}

/* The bridge's rooms: joined-at, power levels, encryption, the last event. */
static void test_rooms(struct gv_store *s)
{
        struct gv_room rm;
        enum gv_err r;

        memset(&rm, 0, sizeof(rm));
        r = gv_store_room_get(s, "!none:x", &rm);
        check(r == GV_ENOTFOUND, "rooms: an unknown room is not found", "got %s", gv_strerror(r));
        r = gv_store_begin(s);
        r = r ? r : gv_store_room_set_joined(s, "!r:x", 1234);
        r = r ? r : gv_store_room_set_power_levels(s, "!r:x", "{\"users\":{\"@a:x\":100}}");
        r = r ? r : gv_store_room_set_encryption(s, "!r:x", "{\"algorithm\":\"m.megolm.v1.aes-sha2\"}");
        r = r ? r : gv_store_room_set_last_event(s, "!r:x", "$last", 99);
        r = r ? r : gv_store_room_set_last_event(s, "!other:x", "$o", 7);
        r = r ? r : gv_store_commit(s);
        check(r == GV_OK, "rooms: set joined, power levels, encryption, last event", "%s",
              gv_strerror(r));
        r = gv_store_room_get(s, "!r:x", &rm);
        check(r == GV_OK && rm.joined_at == 1234 &&
              str_eq(rm.power_levels, "{\"users\":{\"@a:x\":100}}") &&
              str_eq(rm.encryption, "{\"algorithm\":\"m.megolm.v1.aes-sha2\"}") &&
              str_eq(rm.last_event, "$last") && rm.last_ts == 99,
              "rooms: read back", "got %s joined %lld power %s enc %s last %s/%lld",
              gv_strerror(r), (long long)rm.joined_at, nn(rm.power_levels), nn(rm.encryption),
              nn(rm.last_event), (long long)rm.last_ts);
        gv_room_clear(&rm);
        r = gv_store_room_get(s, "!other:x", &rm);
        check(r == GV_OK && rm.joined_at == 0 && !rm.power_levels && !rm.encryption &&
              str_eq(rm.last_event, "$o"), "rooms: a room known only by its last event",
              "got %s", gv_strerror(r));
        gv_room_clear(&rm);
        r = gv_store_begin(s);
        r = r ? r : gv_store_room_set_joined(s, "!r:x", 2000);
        if (r == GV_OK)
                gv_store_rollback(s);
        r = r ? r : gv_store_room_get(s, "!r:x", &rm);
        check(r == GV_OK && rm.joined_at == 1234, "rooms: a rollback undoes a change",
              "got %s %lld", gv_strerror(r), (long long)rm.joined_at);
        gv_room_clear(&rm);
}

static void on_pub(void *ud, const char *target, const char *link)
{
        char line[512];

        snprintf(line, sizeof(line), "%s=%s", target, link);
        list_add(ud, line);
}

/* Publications: a delivered wiki gives the meeting a link and its discussed
 * items their notes link (the first one only); waiting rows by meeting. */
static void test_publications(struct gv_store *s)
{
        struct gv_meeting m;
        struct gv_mitem t;
        struct list l = { "" };
        int64_t meeting = 0, item, other, tid = 0;
        char *link = (char *)"unset";
        bool waits = true;
        enum gv_err r;

        memset(&m, 0, sizeof(m));
        m.room = "!pub:example.org";
        m.name = "pub";
        m.agenda = "pubs";
        m.starter = "bob";
        m.started = 5;
        r = gv_store_meeting_start(s, &m, &meeting);
        item = add_item(s, "pubs", "published item", "$pub-item", 5);
        other = add_item(s, "pubs", "not discussed", "$pub-other", 6);
        memset(&t, 0, sizeof(t));
        t.nick = "bob";
        t.ts = 6;
        t.kind = GV_M_TOPIC;
        t.text = "published item";
        t.agenda_item = item;
        r = r ? r : gv_store_mitem_add(s, meeting, &t, &tid);
        r = r ? r : gv_store_item_notes_link(s, item, &link);
        check(r == GV_OK && link == NULL, "no notes link before a publication", "%s",
              gv_strerror(r));
        r = r ? r : gv_store_outbox_meeting_waits(s, GV_OUT_WIKI, meeting, &waits);
        check(r == GV_OK && !waits, "no wiki row waits", "%s", gv_strerror(r));
        r = r ? r : gv_store_outbox_add(s, GV_OUT_WIKI, "wiki:0", "", NULL, "{\"meeting\":99999}", 7);
        r = r ? r : gv_store_outbox_meeting_waits(s, GV_OUT_WIKI, meeting, &waits);
        check(r == GV_OK && !waits, "another meeting's wiki row is not this one's", "%s",
              gv_strerror(r));
        r = r ? r : gv_store_publication_add(s, meeting, "wiki:0", "https://w/a#x", 8);
        r = r ? r : gv_store_publication_add(s, meeting, "wiki:1", "https://w/b#y", 9);
        r = r ? r : gv_store_publications(s, meeting, on_pub, &l);
        check(r == GV_OK && str_eq(l.s, "wiki:0=https://w/a#x,wiki:1=https://w/b#y"),
              "publications in order", "%s: %s", gv_strerror(r), l.s);
        r = r ? r : gv_store_item_notes_link(s, item, &link);
        check(r == GV_OK && str_eq(link, "https://w/a#x"), "a discussed item gets the first link",
              "%s: %s", gv_strerror(r), nn(link));
        free(link);
        link = NULL;
        r = r ? r : gv_store_item_notes_link(s, other, &link);
        check(r == GV_OK && link == NULL, "an item not discussed gets none", "%s", nn(link));
        free(link);
        check(gv_store_item_notes_link(s, 987654, &link) == GV_ENOTFOUND, "no such item",
              "-");
}

struct waits {
        char ids[8][32];
        int64_t since[8];
        size_t n;
        size_t stop_at;
};

static int waits_cb(void *ud, const struct gv_waiting *w)
{
        struct waits *l = ud;

        if (l->n < 8) {
                snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", w->event_id);
                l->since[l->n] = w->since;
        }
        l->n++;
        return l->stop_at && l->n >= l->stop_at;
}

static void joined_cb(void *ud, const char *user_id)
{
        char *buf = ud;

        strncat(buf, user_id, 200 - strlen(buf) - 2);
        strcat(buf, " ");
}

/* Encrypted events waiting for their key; kv_del; joined members. */
static void test_e2ee_store(struct gv_store *s)
{
        struct waits l;
        int64_t n = -1;
        char *v = NULL, joined[200] = "";
        enum gv_err r;

        r = gv_store_crypto_wait_add(s, "$b", "!r:x", "S1", "{\"e\":2}", 20);
        r = r ? r : gv_store_crypto_wait_add(s, "$a", "!r:x", "S1", "{\"e\":1}", 10);
        r = r ? r : gv_store_crypto_wait_add(s, "$c", "!q:x", "S2", "{\"e\":3}", 30);
        r = r ? r : gv_store_crypto_wait_add(s, "$a", "!r:x", "S9", "{\"other\":1}", 99);
        r = r ? r : gv_store_crypto_wait_count(s, &n);
        check(r == GV_OK && n == 3, "waiting: three events, a second add of one is a no-op",
              "%s, %lld", gv_strerror(r), (long long)n);
        memset(&l, 0, sizeof(l));
        r = gv_store_crypto_wait_each(s, "S1", waits_cb, &l);
        check(r == GV_OK && l.n == 2 && strcmp(l.ids[0], "$a") == 0 && l.since[0] == 10 &&
              strcmp(l.ids[1], "$b") == 0, "waiting: by session, oldest first",
              "%s, %zu", gv_strerror(r), l.n);
        memset(&l, 0, sizeof(l));
        r = gv_store_crypto_wait_each(s, NULL, waits_cb, &l);
        check(r == GV_OK && l.n == 3 && strcmp(l.ids[2], "$c") == 0, "waiting: all, oldest first",
              "%s, %zu", gv_strerror(r), l.n);
        memset(&l, 0, sizeof(l));
        l.stop_at = 1;
        r = gv_store_crypto_wait_each(s, NULL, waits_cb, &l);
        check(r == GV_OK && l.n == 1, "waiting: the callback stops the walk", "%zu", l.n);
        r = gv_store_crypto_wait_del(s, "$a");
        r = r ? r : gv_store_crypto_wait_del(s, "$nothing");
        r = r ? r : gv_store_crypto_wait_count(s, &n);
        check(r == GV_OK && n == 2, "waiting: deleted (an absent one is fine)", "%lld",
              (long long)n);
        r = gv_store_kv_set(s, "e2ee.x", "1");
        r = r ? r : gv_store_kv_del(s, "e2ee.x");
        r = r ? r : gv_store_kv_del(s, "e2ee.x");
        r = r ? r : gv_store_kv_get(s, "e2ee.x", &v);
        check(r == GV_OK && !v, "kv_del: gone, twice is fine", "%s", gv_strerror(r));
        free(v);
        r = gv_store_member_set(s, "!j:x", "@b:x", "b", NULL, "join");
        r = r ? r : gv_store_member_set(s, "!j:x", "@a:x", "a", NULL, "join");
        r = r ? r : gv_store_member_set(s, "!j:x", "@c:x", "c", NULL, "leave");
        r = r ? r : gv_store_member_set(s, "!k:x", "@d:x", "d", NULL, "join");
        r = r ? r : gv_store_members_joined(s, "!j:x", joined_cb, joined);
        check(r == GV_OK && strcmp(joined, "@a:x @b:x ") == 0,
              "members_joined: the room's joined members by ID", "%s: %s", gv_strerror(r),
              joined);
}

/* Meeting series (issue 10): timers recorded once, releases found by their
 * sent event, attendance set, listed and taken back by event, postponement
 * reasons, meetings started since. */
static void on_answer(void *ud, const char *user, int64_t item, bool coming)
{
        char line[512];

        snprintf(line, sizeof(line), "%s/%lld/%d", user, (long long)item, coming ? 1 : 0);
        list_add(ud, line);
}

static void test_series(struct gv_store *s)
{
        struct list l = { "" };
        char *ser = NULL, *ev = NULL, *why = NULL;
        int64_t occ = 0, row = 0, id1 = 0, id2 = 0;
        bool fresh = false, again = true, rec = false, rel = false, started = true;
        enum gv_timer_state st = GV_TIMER_DONE;
        enum gv_err r;

        r = gv_store_begin(s);
        r = r ? r : gv_store_timer_set(s, "S", 100, GV_TIMER_RELEASE, GV_TIMER_LATE, 90, 95, &fresh);
        r = r ? r : gv_store_timer_set(s, "S", 100, GV_TIMER_RELEASE, GV_TIMER_DONE, 90, 96, &again);
        r = r ? r : gv_store_timer_get(s, "S", 100, GV_TIMER_RELEASE, &rec, &st);
        check(r == GV_OK && fresh && !again && rec && st == GV_TIMER_LATE,
              "series: a timer is recorded once; the first record stays",
              "%s fresh %d again %d rec %d st %d", gv_strerror(r), fresh, again, rec, st);
        r = gv_store_timer_get(s, "S", 100, GV_TIMER_REMIND, &rec, NULL);
        check(r == GV_OK && !rec, "series: another kind is not recorded", "%s", gv_strerror(r));
        r = gv_store_outbox_add_id(s, GV_OUT_MESSAGE, "!p:x", "agenda", NULL, NULL, 1, &id1);
        r = r ? r : gv_store_outbox_add_id(s, GV_OUT_MESSAGE, "!p:x", "agenda 2", NULL, NULL, 2, &id2);
        check(r == GV_OK && id1 > 0 && id2 == id1 + 1, "series: outbox_add_id gives the row",
              "%lld %lld", (long long)id1, (long long)id2);
        r = gv_store_release_add(s, id1, "S", 100, "!p:x", 1);
        r = r ? r : gv_store_release_add(s, id2, "S", 200, "!p:x", 2);
        r = r ? r : gv_store_released(s, "S", 100, &rel);
        check(r == GV_OK && rel, "series: released", "%s", gv_strerror(r));
        r = gv_store_released(s, "S", 300, &rel);
        check(r == GV_OK && !rel, "series: not released", "%s", gv_strerror(r));
        r = gv_store_release_event(s, 0, &ev, &row);
        check(r == GV_ENOTFOUND, "series: no release sent yet", "%s", gv_strerror(r));
        r = gv_store_release_sent(s, id1, "$r1");
        r = r ? r : gv_store_release_sent(s, 999, "$nothing");
        r = r ? r : gv_store_release_event(s, 0, &ev, &row);
        check(r == GV_OK && str_eq(ev, "$r1") && row == id1,
              "series: the newest sent release, by row", "%s %s", gv_strerror(r), nn(ev));
        free(ev);
        ev = NULL;
        r = gv_store_release_event(s, id2, &ev, NULL);
        check(r == GV_ENOTFOUND, "series: a release not sent has no event", "%s", gv_strerror(r));
        r = gv_store_release_by_event(s, "$r1", &ser, &occ);
        check(r == GV_OK && str_eq(ser, "S") && occ == 100, "series: a release by its event",
              "%s", gv_strerror(r));
        free(ser);
        r = gv_store_release_by_event(s, "$nothing", &ser, &occ);
        check(r == GV_ENOTFOUND && !ser, "series: a row that is no release stays none", "%s",
              gv_strerror(r));
        r = gv_store_attend_set(s, "S", 100, "@a:x", 0, false, "$e1", 10);
        r = r ? r : gv_store_attend_set(s, "S", 100, "@b:x", 7, false, "$e2", 11);
        r = r ? r : gv_store_attend_set(s, "S", 100, "@a:x", 0, true, "$e3", 12);
        r = r ? r : gv_store_attend_set(s, "S", 200, "@c:x", 0, true, "$e4", 13);
        r = r ? r : gv_store_attend_each(s, "S", 100, on_answer, &l);
        check(r == GV_OK && strcmp(l.s, "@b:x/7/0,@a:x/0/1") == 0,
              "series: one answer per person and item, the latest", "%s", l.s);
        r = gv_store_attend_del_event(s, "$e1", &ser, &occ);
        check(r == GV_OK && !ser, "series: an event whose answer was replaced takes nothing back",
              "%s", gv_strerror(r));
        r = gv_store_attend_del_event(s, "$e2", &ser, &occ);
        check(r == GV_OK && str_eq(ser, "S") && occ == 100, "series: a redacted answer is gone",
              "%s", gv_strerror(r));
        free(ser);
        l.s[0] = '\0';
        r = gv_store_attend_clear(s, "S", 100, "@a:x");
        r = r ? r : gv_store_attend_each(s, "S", 100, on_answer, &l);
        check(r == GV_OK && l.s[0] == '\0', "series: clear forgets a person's answers", "%s", l.s);
        r = gv_store_postponed_set(s, 5, "S", 100, "@a:x can't make Mon 15:00");
        r = r ? r : gv_store_postponed_set(s, 5, "S", 200, "@b:x can't make Thu 15:00");
        r = r ? r : gv_store_postponed_get(s, 5, &ser, &occ, &why);
        check(r == GV_OK && str_eq(ser, "S") && occ == 200 && str_eq(why, "@b:x can't make Thu 15:00"),
              "series: one postponement reason per item, the latest", "%s %s", gv_strerror(r),
              nn(why));
        free(ser);
        free(why);
        r = gv_store_postponed_del(s, 5);
        r = r ? r : gv_store_postponed_get(s, 5, &ser, &occ, &why);
        check(r == GV_ENOTFOUND, "series: a reason removed", "%s", gv_strerror(r));
        r = gv_store_meeting_started_since(s, "!nomeetings:x", NULL, NULL, 0, &started);
        check(r == GV_OK && !started, "series: no meeting started in a room without any", "%s",
              gv_strerror(r));
        r = gv_store_commit(s);
        check(r == GV_OK, "series: commit", "%s", gv_strerror(r));
}

static void test_all_on(struct gv_store *s, const char *where)
{
        int64_t meeting = 0, other = 0;
        struct gv_meeting m;
        int64_t item;
        char name[128];

        (void)where;
        test_kv(s);
        test_events(s);
        test_items(s);
        test_move(s);
        test_close_meeting(s);
        test_meetings(s, &meeting);
        test_file_base(s);
        memset(&m, 0, sizeof(m));
        m.room = "!third:example.org";
        m.name = "x";
        m.agenda = "arch";
        m.starter = "bob";
        m.started = 1;
        snprintf(name, sizeof(name), "second meeting for per-meeting checks (%s)", where);
        check(gv_store_meeting_start(s, &m, &other) == GV_OK, name, "failed");
        test_chairs_nicks(s, meeting, other);
        test_lines(s, meeting, other);
        item = add_item(s, "arch", "for a topic", "$topic-item", 1);
        test_mitems(s, other, item);
        test_by_event(s);
        test_votes(s, meeting);
        test_outbox(s);
        test_outbox_states(s);
        test_publications(s);
        test_transactions(s);
        test_rooms(s);
        test_e2ee_store(s);
        test_series(s);
}

/* gv_store_meeting_running answers from a cache inside a transaction: every
 * change to the running meeting (start, topic, name, an undone topic, end,
 * a rolled-back savepoint) shows in the next answer. scratch: the replay's
 * store, without foreign-key checks (an undone topic is then not unset by
 * the foreign key: the handlers set the topic themselves). */
static void test_running_cache(bool scratch)
{
        const char *what = scratch ? "scratch store" : ":memory: store";
        struct gv_store *s = NULL;
        struct gv_meeting m, got;
        struct gv_mitem t, undone;
        int64_t id = 0, tid = 0;
        char label[160];
        enum gv_err r = scratch ? gv_store_open_scratch(&s) : gv_store_open(":memory:", &s);

#define RC_CHECK(cond, name, ...) do { \
                snprintf(label, sizeof(label), "running cache (%s): %s", what, name); \
                check(cond, label, __VA_ARGS__); \
        } while (0)
        RC_CHECK(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST, "open", "%s",
                 gv_strerror(r));
        if (r != GV_OK)
                return;
        memset(&got, 0, sizeof(got));
        r = gv_store_begin(s);
        r = r ? r : gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_ENOTFOUND, "none running", "%s", gv_strerror(r));
        r = gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_ENOTFOUND, "none running, asked again", "%s", gv_strerror(r));
        memset(&m, 0, sizeof(m));
        m.room = "!r:x";
        m.name = "first";
        m.agenda = "arch";
        m.starter = "alice";
        m.started = 10;
        r = gv_store_meeting_start(s, &m, &id);
        r = r ? r : gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_OK && got.id == id && str_eq(got.name, "first") && got.topic == 0,
                 "started", "%s", gv_strerror(r));
        gv_meeting_clear(&got);
        r = gv_store_meeting_running(s, "!other:x", &got);
        RC_CHECK(r == GV_ENOTFOUND, "another room", "%s", gv_strerror(r));
        r = gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_OK && got.id == id && str_eq(got.starter, "alice"), "asked again",
                 "%s", gv_strerror(r));
        gv_meeting_clear(&got);
        memset(&t, 0, sizeof(t));
        t.ts = 11;
        t.nick = "alice";
        t.kind = GV_M_TOPIC;
        t.text = "a topic";
        r = gv_store_mitem_add(s, id, &t, &tid);
        r = r ? r : gv_store_meeting_set_topic(s, id, tid);
        r = r ? r : gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_OK && got.topic == tid && tid > 0, "topic set", "%s topic %" PRId64,
                 gv_strerror(r), got.topic);
        gv_meeting_clear(&got);
        r = gv_store_meeting_set_name(s, id, "renamed");
        r = r ? r : gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_OK && str_eq(got.name, "renamed"), "renamed", "%s %s", gv_strerror(r),
                 nn(got.name));
        gv_meeting_clear(&got);
        memset(&undone, 0, sizeof(undone));
        r = gv_store_mitem_undo(s, id, &undone);
        gv_mitem_clear(&undone);
        r = r ? r : gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_OK && got.topic == (scratch ? tid : 0), "topic undone",
                 "%s topic %" PRId64, gv_strerror(r), got.topic);
        gv_meeting_clear(&got);
        r = gv_store_savepoint(s);
        r = r ? r : gv_store_meeting_end(s, id, 20);
        r = r ? r : gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_ENOTFOUND, "ended in a savepoint", "%s", gv_strerror(r));
        gv_store_rollback_savepoint(s);
        r = gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_OK && got.id == id, "the end rolled back", "%s", gv_strerror(r));
        gv_meeting_clear(&got);
        gv_store_rollback(s);
        r = gv_store_meeting_running(s, "!r:x", &got);
        RC_CHECK(r == GV_ENOTFOUND, "the start rolled back", "%s", gv_strerror(r));
        /* the foreign keys: checked in a real store, not in the scratch one */
        r = gv_store_begin(s);
        r = r ? r : gv_store_line_add(s, 999, 1, "bob", "no such meeting", false, NULL);
        RC_CHECK(scratch ? r == GV_OK : r != GV_OK, "a line of no meeting", "%s", gv_strerror(r));
        gv_store_rollback(s);
#undef RC_CHECK
        gv_store_free(s);
}

/* What a store answers about two interleaved meetings, as text. */
struct dump {
        char buf[8192];
        size_t len;
};

static void dump_add(struct dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dump_add(struct dump *d, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(d->buf + d->len, sizeof(d->buf) - d->len, fmt, ap);
        va_end(ap);
        if (n > 0 && (size_t)n < sizeof(d->buf) - d->len)
                d->len += (size_t)n;
}

static int dump_line(void *ud, int64_t ts, const char *nick, const char *text, bool action)
{
        dump_add(ud, "line %" PRId64 " %s %s %d\n", ts, nick, text, action);
        return 0;
}

static void dump_count(void *ud, const char *nick, int64_t n)
{
        dump_add(ud, "count %s %" PRId64 "\n", nick, n);
}

static void scratch_scenario(struct gv_store *s, struct dump *d)
{
        int64_t m[2] = { 0, 0 }, topic = 0;
        struct gv_meeting mt;
        enum gv_err r = gv_store_begin(s);

        memset(&mt, 0, sizeof(mt));
        mt.name = "x";
        mt.agenda = "arch";
        mt.starter = "alice";
        for (int k = 0; k < 2 && r == GV_OK; k++) {
                mt.room = k ? "!b:x" : "!a:x";
                mt.started = k + 1;
                r = gv_store_meeting_start(s, &mt, &m[k]);
        }
        for (int i = 0; i < 40 && r == GV_OK; i++) {
                char text[32];
                struct gv_mitem it;
                int64_t id = 0;

                snprintf(text, sizeof(text), "said %d", i);
                r = gv_store_line_add(s, m[i % 2], 100 + i, i % 3 ? "bob" : "carol", text, i % 5 == 0,
                                      NULL);
                if (r == GV_OK && i % 4 == 0) {
                        char ev[16];

                        memset(&it, 0, sizeof(it));
                        snprintf(ev, sizeof(ev), "$e%d", i % 8);
                        it.ts = 100 + i;
                        it.nick = "bob";
                        it.kind = i % 8 ? GV_M_INFO : GV_M_TOPIC;
                        it.text = text;
                        it.event_id = ev;
                        r = gv_store_mitem_add(s, m[(i / 4) % 2], &it, &id);
                }
        }
        for (int k = 0; k < 2 && r == GV_OK; k++) {
                struct gv_mitem *items = NULL;
                size_t n = 0;

                dump_add(d, "meeting %d\n", k);
                r = gv_store_lines(s, m[k], dump_line, d);
                if (r == GV_OK)
                        r = gv_store_line_counts(s, m[k], dump_count, d);
                if (r == GV_OK)
                        r = gv_store_mitems(s, m[k], &items, &n);
                for (size_t i = 0; r == GV_OK && i < n; i++)
                        dump_add(d, "item %s %d %s\n", items[i].text, (int)items[i].kind,
                                 items[i].event_id ? items[i].event_id : "-");
                if (items)
                        gv_mitems_free(items, n);
                if (r == GV_OK)
                        r = gv_store_last_topic(s, m[k], &topic);
                dump_add(d, "last topic %s\n", r == GV_OK ? "yes" : gv_strerror(r));
                if (r == GV_ENOTFOUND)
                        r = GV_OK;
        }
        for (int e = 0; e < 8 && r == GV_OK; e += 4) {
                struct gv_mitem *items = NULL;
                size_t n = 0;
                char ev[16];

                snprintf(ev, sizeof(ev), "$e%d", e);
                r = gv_store_mitems_by_event(s, "!a:x", ev, &items, &n);
                dump_add(d, "by event %s: %zu\n", ev, n);
                for (size_t i = 0; r == GV_OK && i < n; i++)
                        dump_add(d, "  %s\n", items[i].text);
                if (items)
                        gv_mitems_free(items, n);
        }
        dump_add(d, "end %s\n", gv_strerror(r));
        gv_store_rollback(s);
}

/* The scratch store (no foreign keys, no indexes on lines and meeting
 * items) answers every read the same as a real one, rows in the same
 * order. */
static void test_scratch_same(void)
{
        struct gv_store *a = NULL, *b = NULL;
        static struct dump da, db;
        enum gv_err r = gv_store_open(":memory:", &a);

        if (r == GV_OK)
                r = gv_store_open_scratch(&b);
        check(r == GV_OK, "scratch: open both", "%s", gv_strerror(r));
        if (r == GV_OK) {
                scratch_scenario(a, &da);
                scratch_scenario(b, &db);
                check(da.len > 500 && strstr(da.buf, "end success") &&
                      strcmp(da.buf, db.buf) == 0,
                      "scratch: every read as a real store's, in the same order",
                      "real:\n%s\nscratch:\n%s", da.buf, db.buf);
        }
        gv_store_free(a);
        gv_store_free(b);
}

/* The id of the line said as event ev in room, or -1. */
static int64_t line_id_of(struct gv_store *s, const char *room, const char *ev)
{
        struct gv_line *l = NULL;
        size_t n = 0;
        int64_t id = -1;

        if (gv_store_lines_by_event(s, room, ev, &l, &n) == GV_OK && n == 1)
                id = l[0].id;
        gv_lines_free(l, n);
        return id;
}

/* A line's rowid given by the store from the last one it added (not by
 * S_LINE_ADD's max() search) is the very one the search would give: after
 * another meeting's line, a deleted last line and a rolled-back savepoint. */
static void test_line_ids(bool scratch)
{
        struct gv_store *s = NULL;
        struct gv_meeting mt;
        int64_t m1 = 0, m2 = 0, id[8];
        char label[128];
        enum gv_err r = scratch ? gv_store_open_scratch(&s) : gv_store_open(":memory:", &s);

        if (r != GV_OK) {
                check(false, "line ids: open", "%s", gv_strerror(r));
                return;
        }
        memset(&mt, 0, sizeof(mt));
        mt.name = "x";
        mt.agenda = "arch";
        mt.starter = "alice";
        mt.room = "!a:x";
        r = gv_store_begin(s);
        r = r ? r : gv_store_meeting_start(s, &mt, &m1);
        mt.room = "!b:x";
        r = r ? r : gv_store_meeting_start(s, &mt, &m2);
        r = r ? r : gv_store_line_add(s, m1, 1, "bob", "one", false, "$1");
        r = r ? r : gv_store_line_add(s, m1, 2, "bob", "two", false, "$2");
        r = r ? r : gv_store_line_add(s, m2, 3, "bob", "other", false, "$o");
        r = r ? r : gv_store_line_add(s, m1, 4, "bob", "three", false, "$3");
        id[1] = line_id_of(s, "!a:x", "$1");
        id[2] = line_id_of(s, "!a:x", "$2");
        id[3] = line_id_of(s, "!a:x", "$3");
        id[0] = line_id_of(s, "!b:x", "$o");
        snprintf(label, sizeof(label), "line ids (%s): each meeting's in a row",
                 scratch ? "scratch" : "memory");
        check(r == GV_OK && id[1] == (m1 << 32) + 1 && id[2] == id[1] + 1 && id[3] == id[2] + 1 &&
              id[0] == (m2 << 32) + 1, label, "%s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64,
              gv_strerror(r), id[1], id[2], id[3], id[0]);
        r = r ? r : gv_store_line_delete(s, id[3]);
        r = r ? r : gv_store_line_add(s, m1, 5, "bob", "four", false, "$4");
        id[4] = line_id_of(s, "!a:x", "$4");
        snprintf(label, sizeof(label), "line ids (%s): after the last one deleted, its id again",
                 scratch ? "scratch" : "memory");
        check(r == GV_OK && id[4] == id[3], label, "%s %" PRId64 " want %" PRId64,
              gv_strerror(r), id[4], id[3]);
        r = r ? r : gv_store_savepoint(s);
        r = r ? r : gv_store_line_add(s, m1, 6, "bob", "gone", false, "$5");
        id[5] = line_id_of(s, "!a:x", "$5");
        gv_store_rollback_savepoint(s);
        r = r ? r : gv_store_line_add(s, m1, 7, "bob", "kept", false, "$6");
        r = r ? r : gv_store_line_add(s, m1, 8, "bob", "next", false, "$7");
        id[6] = line_id_of(s, "!a:x", "$6");
        id[7] = line_id_of(s, "!a:x", "$7");
        snprintf(label, sizeof(label), "line ids (%s): after a rolled-back savepoint, its id again",
                 scratch ? "scratch" : "memory");
        check(r == GV_OK && id[5] == id[4] + 1 && id[6] == id[5] && id[7] == id[6] + 1, label,
              "%s %" PRId64 " %" PRId64 " %" PRId64, gv_strerror(r), id[5], id[6], id[7]);
        gv_store_rollback(s);
        gv_store_free(s);
}

static void test_memory(void)
{
        struct gv_store *s = NULL;
        enum gv_err r = gv_store_open(":memory:", &s);

        check(r == GV_OK && s, "open :memory:", "%s", gv_strerror(r));
        if (r != GV_OK)
                return;
        check(gv_store_schema_version(s) == SCHEMA_LATEST, "schema version latest after open", "got %d",
              gv_store_schema_version(s));
        test_all_on(s, ":memory:");
        gv_store_free(s);
}

static void remove_db(const char *path)
{
        char p[600];

        unlink(path);
        snprintf(p, sizeof(p), "%s-wal", path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", path);
        unlink(p);
}

static void test_file(void)
{
        char dir[] = "/tmp/gavel-test-store-XXXXXX";
        char path[512];
        struct gv_store *s = NULL;
        char *v = NULL;
        bool seen = false;
        int64_t id = 0;
        enum gv_err r;

        if (!mkdtemp(dir)) {
                check(false, "temporary directory", "mkdtemp failed");
                return;
        }
        snprintf(path, sizeof(path), "%s/gavel.db", dir);
        r = gv_store_open(path, &s);
        check(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST, "open a new file: latest version",
              "got %s", gv_strerror(r));
        if (r == GV_OK) {
                r = gv_store_begin(s);
                r = r ? r : gv_store_kv_set(s, "next_batch", "s42");
                r = r ? r : gv_store_event_mark(s, "$persist", 5);
                if (r == GV_OK)
                        id = add_item(s, "arch", "persisted item", "$pi", 7);
                r = r ? r : gv_store_commit(s);
                check(r == GV_OK && id > 0, "write to the file", "%s", gv_strerror(r));
                gv_store_free(s);
                s = NULL;
        }
        r = gv_store_open(path, &s);
        check(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST, "reopen keeps the version", "got %s",
              gv_strerror(r));
        if (r == GV_OK) {
                struct gv_item it;

                r = gv_store_kv_get(s, "next_batch", &v);
                check(r == GV_OK && str_eq(v, "s42"), "reopen keeps kv", "got \"%s\"", nn(v));
                free(v);
                r = gv_store_event_seen(s, "$persist", &seen);
                check(r == GV_OK && seen, "reopen keeps processed events", "seen %d", seen);
                memset(&it, 0, sizeof(it));
                r = gv_store_item_get(s, id, &it);
                check(r == GV_OK && str_eq(it.description, "persisted item"), "reopen keeps items",
                      "got %s \"%s\"", gv_strerror(r), nn(it.description));
                gv_item_clear(&it);
                check(add_item(s, "arch", "dup", "$pi", 8) == id, "reopen: event_id dedup holds",
                      "new row");
                gv_store_free(s);
                s = NULL;
        }
        /* Everything else on a file too. */
        remove_db(path);
        r = gv_store_open(path, &s);
        if (r == GV_OK) {
                prefix = "file: ";
                test_all_on(s, "file");
                prefix = "";
                gv_store_free(s);
                s = NULL;
        } else {
                check(false, "open a fresh file", "%s", gv_strerror(r));
        }
        /* A schema newer than this build is refused. */
        {
                sqlite3 *db = NULL;

                if (sqlite3_open(path, &db) == SQLITE_OK)
                        (void)sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
                sqlite3_close(db);
                r = gv_store_open(path, &s);
                check(r != GV_OK && s == NULL, "newer schema refused", "got %s", gv_strerror(r));
                gv_store_free(s);
        }
        remove_db(path);
        rmdir(dir);
}

/* Schema version 1 as gavel 0.1 created it: a frozen copy, not the store's. */
static const char v1_schema[] =
        "CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE processed(event_id TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE items("
        "  id INTEGER PRIMARY KEY, agenda TEXT NOT NULL, description TEXT NOT NULL,"
        "  reporter TEXT NOT NULL, mentions TEXT NOT NULL DEFAULT '', room TEXT NOT NULL,"
        "  event_id TEXT UNIQUE, created INTEGER NOT NULL, position INTEGER NOT NULL,"
        "  pinned INTEGER NOT NULL DEFAULT 0 CHECK(pinned IN (0, 1)),"
        "  status INTEGER NOT NULL DEFAULT 0 CHECK(status BETWEEN 0 AND 3),"
        "  discussed_in INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX items_agenda ON items(agenda, status);"
        "CREATE TABLE meetings("
        "  id INTEGER PRIMARY KEY, room TEXT NOT NULL, name TEXT NOT NULL, agenda TEXT NOT NULL,"
        "  starter TEXT NOT NULL, started INTEGER NOT NULL, ended INTEGER,"
        "  topic INTEGER REFERENCES mitems(id) ON DELETE SET NULL);"
        "CREATE UNIQUE INDEX meetings_running ON meetings(room) WHERE ended IS NULL;"
        "CREATE TABLE chairs(meeting INTEGER NOT NULL REFERENCES meetings(id), nick TEXT NOT NULL,"
        "  PRIMARY KEY(meeting, nick COLLATE NOCASE));"
        "CREATE TABLE nicks(meeting INTEGER NOT NULL REFERENCES meetings(id), nick TEXT NOT NULL,"
        "  PRIMARY KEY(meeting, nick COLLATE NOCASE));"
        "CREATE TABLE lines(id INTEGER PRIMARY KEY, meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  ts INTEGER NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL,"
        "  action INTEGER NOT NULL DEFAULT 0, event_id TEXT, redacted INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX lines_meeting ON lines(meeting);"
        "CREATE TABLE mitems(id INTEGER PRIMARY KEY, meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  ts INTEGER NOT NULL, nick TEXT NOT NULL, kind INTEGER NOT NULL, text TEXT NOT NULL,"
        "  topic INTEGER REFERENCES mitems(id), agenda_item INTEGER REFERENCES items(id));"
        "CREATE INDEX mitems_meeting ON mitems(meeting);"
        "CREATE TABLE votes(id INTEGER PRIMARY KEY, meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  question TEXT NOT NULL, options TEXT NOT NULL, opened INTEGER NOT NULL, closed INTEGER);"
        "CREATE TABLE ballots(vote INTEGER NOT NULL REFERENCES votes(id), nick TEXT NOT NULL,"
        "  choice TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY(vote, nick));"
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, room TEXT NOT NULL,"
        "  body TEXT NOT NULL, html TEXT, extra TEXT, created INTEGER NOT NULL, sent INTEGER);"
        "CREATE INDEX outbox_unsent ON outbox(id) WHERE sent IS NULL;";

static const char v1_data[] =
        "INSERT INTO items(id, agenda, description, reporter, mentions, room, event_id, created,"
        "  position) VALUES(1, 'arch', 'old item', '@alice:example.org', '@bob', '!old:example.org',"
        "  '$old-tag', 1, 1);"
        "INSERT INTO meetings(id, room, name, agenda, starter, started) VALUES(1, '!old:example.org',"
        "  'Old call', 'arch', 'alice', 2);"
        "INSERT INTO lines(meeting, ts, nick, text, action, event_id) VALUES(1, 3, 'alice',"
        "  '#info before', 0, '$old-info');"
        "INSERT INTO mitems(id, meeting, ts, nick, kind, text) VALUES(1, 1, 3, 'alice', 1, 'before');"
        "INSERT INTO processed(event_id, ts) VALUES('$old-info', 3);"
        /* the Matrix bridge's room cache as gavel 0.1 kept it */
        "INSERT INTO kv(key, value) VALUES"
        "  ('room:!old:example.org:power', '{\"users\":{\"@alice:example.org\":100}}'),"
        "  ('room:!old:example.org:joined', '1'), ('room:!j:x:joined', '42'),"
        "  ('next_batch', 's9');"
        "INSERT INTO outbox(id, kind, room, body, extra, created) VALUES(7, 'minutes', "
        "'!old:example.org', '', '{\"meeting\":1}', 5);"
        "INSERT INTO outbox(id, kind, room, body, created) VALUES(8, 'fax', '!old:example.org', "
        "'', 6);"
        "PRAGMA user_version = 1;";

/* sqlite_master of a database file, one line per object, and its
 * user_version: what its schema is. */
static char *schema_of(const char *path)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        size_t len = 0, cap = 1 << 16;
        char *out = calloc(1, cap);

        if (!out || sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT type || ' ' || name || ' ' || tbl_name || ' ' || "
                                   "coalesce(sql, '-') FROM sqlite_master UNION ALL "
                                   "SELECT 'version ' || user_version FROM pragma_user_version "
                                   "ORDER BY 1", -1, &st, NULL) != SQLITE_OK) {
                sqlite3_close(db);
                free(out);
                return NULL;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *row = (const char *)sqlite3_column_text(st, 0);
                size_t n = strlen(row);

                if (len + n + 2 > cap)
                        break;
                memcpy(out + len, row, n);
                len += n;
                out[len++] = '\n';
        }
        out[len] = '\0';
        sqlite3_finalize(st);
        sqlite3_close(db);
        return out;
}

/* A new database gets the migrations folded (schema_fresh.h, generated from
 * them at build time): the very schema of one migrated step by step from
 * version 1. */
static void test_schema_fold(void)
{
        char dir[] = "/tmp/gavel-test-store-fold-XXXXXX";
        char fresh[512], old[512];
        struct gv_store *s = NULL;
        sqlite3 *db = NULL;
        char *a = NULL, *b = NULL;
        enum gv_err r;

        if (!mkdtemp(dir)) {
                check(false, "fold: temporary directory", "mkdtemp failed");
                return;
        }
        snprintf(fresh, sizeof(fresh), "%s/new.db", dir);
        snprintf(old, sizeof(old), "%s/v1.db", dir);
        r = gv_store_open(fresh, &s);
        check(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST, "fold: a new file",
              "%s", gv_strerror(r));
        gv_store_free(s);
        s = NULL;
        if (sqlite3_open(old, &db) == SQLITE_OK &&
            sqlite3_exec(db, v1_schema, NULL, NULL, NULL) == SQLITE_OK &&
            sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL) == SQLITE_OK) {
                sqlite3_close(db);
                r = gv_store_open(old, &s);
                check(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST,
                      "fold: a version-1 file migrated", "%s", gv_strerror(r));
                gv_store_free(s);
        } else {
                check(false, "fold: make a version-1 file", "%s", sqlite3_errmsg(db));
                sqlite3_close(db);
        }
        a = schema_of(fresh);
        b = schema_of(old);
        check(a && b && strlen(a) > 1000 && strcmp(a, b) == 0,
              "fold: a new database and one migrated from version 1 have the same schema",
              "new:\n%s\nmigrated:\n%s", a ? a : "?", b ? b : "?");
        free(a);
        free(b);
        remove_db(fresh);
        remove_db(old);
        rmdir(dir);
}

/* A file made at version 1 is migrated to 2 on open, its data kept. */
static void test_migrate_v1(void)
{
        char dir[] = "/tmp/gavel-test-store-v1-XXXXXX";
        char path[512];
        sqlite3 *db = NULL;
        struct gv_store *s = NULL;
        struct gv_item it;
        struct gv_line *ln = NULL;
        struct gv_mitem *mi = NULL;
        struct list l;
        size_t n = 0;
        bool seen = false;
        int64_t id = 0;
        enum gv_err r;

        if (!mkdtemp(dir)) {
                check(false, "v1: temporary directory", "mkdtemp failed");
                return;
        }
        snprintf(path, sizeof(path), "%s/gavel.db", dir);
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, v1_schema, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, v1_data, NULL, NULL, NULL) != SQLITE_OK) {
                check(false, "v1: make a version-1 file", "%s", sqlite3_errmsg(db));
                sqlite3_close(db);
                remove_db(path);
                rmdir(dir);
                return;
        }
        sqlite3_close(db);
        r = gv_store_open(path, &s);
        check(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST, "v1: reopened at the latest version",
              "got %s version %d", gv_strerror(r), s ? gv_store_schema_version(s) : -1);
        if (r != GV_OK) {
                remove_db(path);
                rmdir(dir);
                return;
        }
        memset(&it, 0, sizeof(it));
        r = gv_store_item_by_event(s, "!old:example.org", "$old-tag", &it);
        check(r == GV_OK && str_eq(it.description, "old item") && str_eq(it.mentions, "@bob"),
              "v1: items kept and found by event", "got %s", gv_strerror(r));
        gv_item_clear(&it);
        r = gv_store_event_seen(s, "$old-info", &seen);
        check(r == GV_OK && seen, "v1: processed events kept", "seen %d", seen);
        r = gv_store_lines_by_event(s, "!old:example.org", "$old-info", &ln, &n);
        check(r == GV_OK && n == 1 && str_eq(ln[0].text, "#info before") && ln[0].sender == NULL,
              "v1: lines kept, without a sender", "got %s n %zu", gv_strerror(r), n);
        gv_lines_free(ln, n);
        r = gv_store_mitems(s, 1, &mi, &n);
        check(r == GV_OK && n == 1 && str_eq(mi[0].text, "before") && mi[0].event_id == NULL &&
              mi[0].sender == NULL, "v1: meeting items kept, without event or sender",
              "got %s n %zu", gv_strerror(r), n);
        gv_mitems_free(mi, n);
        {
                struct gv_meeting om;

                memset(&om, 0, sizeof(om));
                r = gv_store_meeting_get(s, 1, &om);
                check(r == GV_OK && str_eq(om.name, "Old call") && om.file_base == NULL,
                      "v1: meetings kept, without a file base", "got %s", gv_strerror(r));
                gv_meeting_clear(&om);
        }
        /* The kv room cache moved into the rooms table; singletons stay. */
        {
                struct gv_room rm;
                char *v = NULL;

                memset(&rm, 0, sizeof(rm));
                r = gv_store_room_get(s, "!old:example.org", &rm);
                check(r == GV_OK && rm.joined_at == 1 &&
                      str_eq(rm.power_levels, "{\"users\":{\"@alice:example.org\":100}}"),
                      "v1: room power levels and join moved to rooms", "got %s %lld %s",
                      gv_strerror(r), (long long)rm.joined_at, nn(rm.power_levels));
                gv_room_clear(&rm);
                r = gv_store_room_get(s, "!j:x", &rm);
                check(r == GV_OK && rm.joined_at == 42 && !rm.power_levels,
                      "v1: a room with only a join moved", "got %s", gv_strerror(r));
                gv_room_clear(&rm);
                r = gv_store_kv_get(s, "room:!old:example.org:power", &v);
                check(r == GV_OK && !v, "v1: room keys left kv", "got %s", nn(v));
                free(v);
                v = NULL;
                r = gv_store_kv_get(s, "next_batch", &v);
                check(r == GV_OK && str_eq(v, "s9"), "v1: kv singletons kept", "got %s", nn(v));
                free(v);
        }
        /* The new columns work on the migrated file. */
        r = gv_store_begin(s);
        r = r ? r : gv_store_line_add_from(s, 1, 4, "bob", "new line", false, "$new", "@bob:x");
        if (r == GV_OK) {
                struct gv_mitem m;

                memset(&m, 0, sizeof(m));
                m.ts = 4;
                m.nick = "bob";
                m.kind = GV_M_INFO;
                m.text = "new";
                m.event_id = "$new";
                m.sender = "@bob:x";
                r = gv_store_mitem_add(s, 1, &m, &id);
        }
        r = r ? r : gv_store_lines_redact(s, "!old:example.org", "$old-info", &n);
        r = r ? r : gv_store_commit(s);
        check(r == GV_OK, "v1: write with the new columns", "%s", gv_strerror(r));
        gv_store_free(s);
        s = NULL;
        r = gv_store_open(path, &s);
        check(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST, "v1: reopened again, same version",
              "got %s", gv_strerror(r));
        if (r == GV_OK) {
                l.s[0] = '\0';
                r = gv_store_lines(s, 1, on_line, &l);
                check(r == GV_OK && strcmp(l.s, "3/alice/[redacted],4/bob/new line") == 0,
                      "v1: old and new lines", "got %s [%s]", gv_strerror(r), l.s);
                r = gv_store_mitems_by_event(s, "!old:example.org", "$new", &mi, &n);
                check(r == GV_OK && n == 1 && mi[0].id == id && str_eq(mi[0].sender, "@bob:x"),
                      "v1: new meeting item found by event", "got %s n %zu", gv_strerror(r), n);
                gv_mitems_free(mi, n);
                {
                        struct rows rl;

                        memset(&rl, 0, sizeof(rl));
                        r = gv_store_outbox_each(s, on_out, &rl);
                        check(r == GV_OK && str_eq(rl.s, "7/pending/minutes/!old:example.org/0/-,"
                                                         "8/pending/unknown/!old:example.org/0/-"),
                              "v1: old outbox words read as kinds, pending, never tried",
                              "got %s [%s]", gv_strerror(r), rl.s);
                }
                gv_store_free(s);
        }
        remove_db(path);
        rmdir(dir);
}

static unsigned mode_of(const char *path)
{
        struct stat sb;

        return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 01000000;
}

/* The database holds the access token: it, its -wal and its -shm are
 * owner-only whatever the umask, and an old 0644 file is tightened. */
static void test_modes(void)
{
        char dir[] = "/tmp/gavel-test-store-mode-XXXXXX";
        char path[512], wal[520], shm[520];
        struct gv_store *s = NULL;
        mode_t old;
        enum gv_err r;

        if (!mkdtemp(dir)) {
                check(false, "modes: temporary directory", "mkdtemp failed");
                return;
        }
        snprintf(path, sizeof(path), "%s/gavel.db", dir);
        snprintf(wal, sizeof(wal), "%s-wal", path);
        snprintf(shm, sizeof(shm), "%s-shm", path);
        old = umask(0);
        r = gv_store_open(path, &s);
        if (r == GV_OK) {
                r = gv_store_begin(s);
                r = r ? r : gv_store_kv_set(s, "access_token", "syt_secret");
                r = r ? r : gv_store_commit(s);
        }
        check(r == GV_OK, "modes: open and write with umask 000", "%s", gv_store_errmsg(s));
        check(mode_of(path) == 0600, "modes: the database is created 0600 under umask 000",
              "mode %o", mode_of(path));
        check(mode_of(wal) == 0600, "modes: its -wal is 0600", "mode %o", mode_of(wal));
        check(mode_of(shm) == 0600, "modes: its -shm is 0600", "mode %o", mode_of(shm));
        gv_store_free(s);
        s = NULL;
        /* an older gavel's 0644 files, -wal and -shm kept by another connection */
        {
                sqlite3 *db = NULL;

                if (sqlite3_open(path, &db) != SQLITE_OK ||
                    sqlite3_exec(db, "PRAGMA journal_mode = WAL; SELECT * FROM kv", NULL, NULL,
                                 NULL) != SQLITE_OK ||
                    chmod(path, 0644) != 0 || chmod(wal, 0644) != 0 || chmod(shm, 0644) != 0)
                        check(false, "modes: make 0644 files", "%s", strerror(errno));
                r = gv_store_open(path, &s);
                sqlite3_close(db);
        }
        check(r == GV_OK && mode_of(path) == 0600 && mode_of(wal) == 0600 &&
              mode_of(shm) == 0600, "modes: an existing 0644 database is made owner-only",
              "got %s, modes %o %o %o", gv_strerror(r), mode_of(path), mode_of(wal),
              mode_of(shm));
        gv_store_free(s);
        umask(old);
        remove_db(path);
        rmdir(dir);
}

/* Runs gv_store_open(path) in a child, as "nobody" when we are root (root
 * writes read-only files): the message it leaves, and whether it failed. */
static bool open_as_user(const char *path, char *msg, size_t len)
{
        int fd[2];
        pid_t pid;
        int st = 0;
        ssize_t n;

        if (pipe(fd) != 0)
                return false;
        pid = fork();
        if (pid == 0) {
                struct gv_store *s = NULL;
                enum gv_err r;

                close(fd[0]);
                if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
                        _exit(3);
                r = gv_store_open(path, &s);
                if (write(fd[1], gv_store_errmsg(s), strlen(gv_store_errmsg(s))) < 0)
                        _exit(4);
                gv_store_free(s);
                _exit(r == GV_OK ? 0 : 1);
        }
        close(fd[1]);
        n = pid > 0 ? read(fd[0], msg, len - 1) : -1;
        msg[n > 0 ? n : 0] = '\0';
        close(fd[0]);
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
                return false;
        return WIFEXITED(st) && WEXITSTATUS(st) == 1;
}

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *p = f ? malloc(1 << 16) : NULL;

        *len = p ? fread(p, 1, 1 << 16, f) : 0;
        if (f)
                fclose(f);
        return p;
}

/* Every way the database cannot be opened says what and where, and changes
 * nothing. */
static void test_open_errors(void)
{
        char dir[] = "/tmp/gavel-test-store-err-XXXXXX";
        char path[512], aux[600], msg[1100];
        struct gv_store *s = NULL;
        unsigned char junk[8192];
        size_t n0 = 0, n1 = 0;
        char *before, *after;
        FILE *f;
        enum gv_err r;

        if (!mkdtemp(dir) || chmod(dir, 0755) != 0) {
                check(false, "errors: temporary directory", "mkdtemp failed");
                return;
        }
        /* a directory where the file should be */
        snprintf(path, sizeof(path), "%s/dir.db", dir);
        mkdir(path, 0755);
        r = gv_store_open(path, &s);
        check(r != GV_OK && !s && strstr(gv_store_errmsg(NULL), path) &&
              strstr(gv_store_errmsg(NULL), "is a directory"),
              "errors: a directory in its place: named, and why", "got %s: %s", gv_strerror(r),
              gv_store_errmsg(NULL));
        rmdir(path);

        /* random bytes */
        snprintf(path, sizeof(path), "%s/junk.db", dir);
        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (unsigned char)(i * 7919u + 13u + (i >> 3));
        f = fopen(path, "wb");
        if (f) {
                fwrite(junk, 1, sizeof(junk), f);
                fclose(f);
        }
        chmod(path, 0644);
        before = slurp(path, &n0);
        r = gv_store_open(path, &s);
        after = slurp(path, &n1);
        check(r != GV_OK && !s && strstr(gv_store_errmsg(NULL), path) &&
              strstr(gv_store_errmsg(NULL), "file is not a database"),
              "errors: a corrupt file: named, and why", "got %s: %s", gv_strerror(r),
              gv_store_errmsg(NULL));
        snprintf(aux, sizeof(aux), "%s-wal", path);
        check(before && after && n0 == n1 && memcmp(before, after, n0) == 0 &&
              mode_of(path) == 0644 && access(aux, F_OK) != 0,
              "errors: a corrupt file is left as it was", "size %zu -> %zu, mode %o", n0, n1,
              mode_of(path));
        free(before);
        free(after);
        remove_db(path);

        /* a read-only file */
        snprintf(path, sizeof(path), "%s/ro.db", dir);
        r = gv_store_open(path, &s);
        gv_store_free(s);
        s = NULL;
        remove_db(path);        /* a valid, checkpointed database ... */
        r = gv_store_open(path, &s);
        if (r == GV_OK) {
                r = gv_store_begin(s);
                r = r ? r : gv_store_kv_set(s, "next_batch", "s1");
                r = r ? r : gv_store_commit(s);
        }
        gv_store_free(s);
        s = NULL;
        chmod(path, 0444);      /* ... made read-only */
        before = slurp(path, &n0);
        check(r == GV_OK && open_as_user(path, msg, sizeof(msg)) && strstr(msg, path) &&
              strstr(msg, "cannot open") && strstr(msg, "read-only"),
              "errors: a read-only file: named, and why", "got: %s", msg);
        after = slurp(path, &n1);
        check(before && after && n0 == n1 && memcmp(before, after, n0) == 0 &&
              mode_of(path) == 0444, "errors: a read-only file is left as it was",
              "size %zu -> %zu, mode %o", n0, n1, mode_of(path));
        free(before);
        free(after);

        /* a read-only directory: no file can be made in it */
        remove_db(path);
        chmod(dir, 0555);
        check(open_as_user(path, msg, sizeof(msg)) && strstr(msg, path) &&
              strstr(msg, "read-only directory") && access(path, F_OK) != 0,
              "errors: a read-only directory: named, and why, nothing made", "got: %s", msg);
        chmod(dir, 0755);
        remove_db(path);
        rmdir(dir);
}

/* Version 2's additions to version 1, frozen. */
static const char v2_schema[] =
        "ALTER TABLE lines ADD COLUMN sender TEXT;"
        "ALTER TABLE mitems ADD COLUMN event_id TEXT;"
        "ALTER TABLE mitems ADD COLUMN sender TEXT;"
        "CREATE INDEX mitems_event ON mitems(event_id);";

/* Two meetings at version 2: in the first only @alice:good.org said lines as
 * "alice"; in the second two alices did. Chairs and ballots were nicks. */
static const char v2_data[] =
        "INSERT INTO meetings(id, room, name, agenda, starter, started, ended) VALUES"
        "  (1, '!r', 'One', 'arch', 'alice', 1, 5), (2, '!r', 'Two', 'arch', 'alice', 10, NULL);"
        "INSERT INTO lines(meeting, ts, nick, text, sender) VALUES"
        "  (1, 1, 'alice', '#startmeeting One', '@alice:good.org'),"
        "  (1, 2, 'bob', 'hi', '@bob:good.org'),"
        "  (2, 10, 'alice', '#startmeeting Two', '@alice:good.org'),"
        "  (2, 11, 'alice', 'me too', '@alice:evil.org');"
        "INSERT INTO chairs(meeting, nick) VALUES(1, 'alice'), (1, 'Bob'), (1, 'carol'),"
        "  (2, 'alice');"
        "INSERT INTO votes(id, meeting, question, options, opened) VALUES(1, 1, 'Q?', 'a, b', 3);"
        "INSERT INTO ballots(vote, nick, choice, ts) VALUES(1, 'alice', 'a', 4), (1, 'bob', 'b', 5);"
        "PRAGMA user_version = 2;";

static void test_migrate_v2(void)
{
        char dir[] = "/tmp/gavel-test-store-v2-XXXXXX";
        char path[512];
        sqlite3 *db = NULL;
        struct gv_store *s = NULL;
        struct gv_meeting m;
        struct list l;
        bool is = false;
        enum gv_err r;

        if (!mkdtemp(dir)) {
                check(false, "v2: temporary directory", "mkdtemp failed");
                return;
        }
        snprintf(path, sizeof(path), "%s/gavel.db", dir);
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, v1_schema, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, v2_schema, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, v2_data, NULL, NULL, NULL) != SQLITE_OK) {
                check(false, "v2: make a version-2 file", "%s", sqlite3_errmsg(db));
                sqlite3_close(db);
                remove_db(path);
                rmdir(dir);
                return;
        }
        sqlite3_close(db);
        r = gv_store_open(path, &s);
        check(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST, "v2: migrated",
              "got %s", gv_strerror(r));
        if (r != GV_OK) {
                remove_db(path);
                rmdir(dir);
                return;
        }
        r = gv_store_chair_is(s, 1, "@alice:good.org", &is);
        check(r == GV_OK && is, "v2: a chair nick becomes its one sender", "%d", is);
        r = gv_store_chair_is(s, 1, "@bob:good.org", &is);
        check(r == GV_OK && is, "v2: case-insensitively", "%d", is);
        r = gv_store_chair_is(s, 2, "@alice:evil.org", &is);
        check(r == GV_OK && !is, "v2: a nick two people shared chairs neither", "%d", is);
        l.s[0] = '\0';
        r = gv_store_chairs(s, 1, on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "alice,bob,carol") == 0, "v2: chairs shown by nick",
              "got %s [%s]", gv_strerror(r), l.s);
        memset(&m, 0, sizeof(m));
        r = gv_store_meeting_get(s, 1, &m);
        check(r == GV_OK && str_eq(m.starter, "alice") && str_eq(m.starter_id, "@alice:good.org"),
              "v2: the starter's ID found", "got %s %s", gv_strerror(r), m.starter_id);
        gv_meeting_clear(&m);
        l.s[0] = '\0';
        r = gv_store_members_named(s, "!r", "bob", on_nick, &l);
        check(r == GV_OK && strcmp(l.s, "@bob:good.org") == 0, "v2: who spoke is a member",
              "got %s [%s]", gv_strerror(r), l.s);
        r = gv_store_begin(s);
        r = r ? r : gv_store_vote_cast(s, 1, "@alice:good.org", "b", 6);
        l.s[0] = '\0';
        r = r ? r : gv_store_vote_tally(s, 1, on_count, &l);
        r = r ? r : gv_store_commit(s);
        check(r == GV_OK && strcmp(l.s, "b=2") == 0, "v2: an old ballot is the voter's",
              "got %s [%s]", gv_strerror(r), l.s);
        gv_store_free(s);
        remove_db(path);
        rmdir(dir);
}

/* A meeting started here has its lines kept as they are added: its files
 * read none back from SQLite. Shown with a second connection that changes
 * a committed line behind the store's back (which gavel never does: one
 * process owns the file): the store's read is still the line as added,
 * until its next transaction drops what it kept. */
static void test_lines_kept(void)
{
        char dir[] = "/tmp/gavel-test-lines-XXXXXX", path[512];
        struct gv_store *s = NULL;
        struct gv_meeting m = { 0 };
        sqlite3 *db = NULL;
        struct list l;
        int64_t id = 0;
        enum gv_err r;

        if (!mkdtemp(dir)) {
                check(false, "lines kept: temporary directory", "mkdtemp failed");
                return;
        }
        snprintf(path, sizeof(path), "%s/gavel.db", dir);
        m.room = "!r:x";
        m.name = "kept";
        m.agenda = "a";
        m.starter = "alice";
        m.started = 1;
        r = gv_store_open(path, &s);
        r = r ? r : gv_store_begin(s);
        r = r ? r : gv_store_meeting_start(s, &m, &id);
        r = r ? r : gv_store_line_add(s, id, 2, "alice", "as said", false, "$1");
        r = r ? r : gv_store_line_add(s, id, 3, "bob", "waves", true, "$2");
        r = r ? r : gv_store_commit(s);
        check(r == GV_OK, "lines kept: a meeting with lines", "%s", gv_strerror(r));
        if (r == GV_OK && (sqlite3_open(path, &db) != SQLITE_OK ||
                           sqlite3_exec(db, "UPDATE lines SET text = 'changed'", NULL, NULL,
                                        NULL) != SQLITE_OK))
                check(false, "lines kept: a second connection", "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        l.s[0] = '\0';
        r = r ? r : gv_store_lines(s, id, on_line, &l);
        check(r == GV_OK && strcmp(l.s, "2/alice/as said,3/bob/waves/me") == 0,
              "lines kept: a new meeting's lines are read as they were added, not from SQLite",
              "%s [%s]", gv_strerror(r), l.s);
        r = r ? r : gv_store_begin(s);
        l.s[0] = '\0';
        r = r ? r : gv_store_lines(s, id, on_line, &l);
        gv_store_rollback(s);
        check(r == GV_OK && strcmp(l.s, "2/alice/changed,3/bob/changed/me") == 0,
              "lines kept: until the next transaction", "%s [%s]", gv_strerror(r), l.s);
        gv_store_free(s);
        snprintf(path, sizeof(path), "rm -rf '%s'", dir);
        if (system(path) != 0)
                fprintf(stderr, "cannot remove %s\n", dir);
}

/* Schema 14: a meeting's lines are found by their rowids (meeting << 32
 * plus a count), not by an index. Two meetings in two rooms whose lines
 * were interleaved (global rowids 1..5) keep each its own lines, in order;
 * a line logged after the migration follows them; by event, a room sees
 * only its own meetings' lines. */
static const char lines_data[] =
        "INSERT INTO meetings(id, room, name, agenda, starter, started) VALUES"
        "  (1, '!r', 'One', 'arch', 'alice', 1), (2, '!s', 'Two', 'arch', 'bob', 2);"
        "INSERT INTO lines(id, meeting, ts, nick, text, event_id, sender) VALUES"
        "  (1, 1, 1, 'alice', 'a', '$a', '@alice:x'), (2, 2, 2, 'bob', 'b', '$same', '@bob:x'),"
        "  (3, 1, 3, 'alice', 'c', '$same', '@alice:x'), (4, 2, 4, 'bob', 'd', '$d', '@bob:x'),"
        "  (5, 1, 5, 'carol', 'e', '$e', '@carol:x');"
        "PRAGMA user_version = 2;";

static void test_migrate_lines(void)
{
        char dir[] = "/tmp/gavel-test-store-lines-XXXXXX";
        char path[512];
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        struct gv_store *s = NULL;
        struct gv_line *ln = NULL;
        struct list l;
        size_t n = 0;
        bool changed = false;
        int indexes = -1;
        int64_t min2 = 0, max1 = 0;
        enum gv_err r;

        if (!mkdtemp(dir)) {
                check(false, "lines: temporary directory", "mkdtemp failed");
                return;
        }
        snprintf(path, sizeof(path), "%s/gavel.db", dir);
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, v1_schema, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, v2_schema, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, lines_data, NULL, NULL, NULL) != SQLITE_OK) {
                check(false, "lines: make a version-2 file", "%s", sqlite3_errmsg(db));
                sqlite3_close(db);
                remove_db(path);
                rmdir(dir);
                return;
        }
        sqlite3_close(db);
        db = NULL;
        r = gv_store_open(path, &s);
        check(r == GV_OK && gv_store_schema_version(s) == SCHEMA_LATEST, "lines: migrated",
              "got %s", gv_strerror(r));
        if (r != GV_OK) {
                remove_db(path);
                rmdir(dir);
                return;
        }
        l.s[0] = '\0';
        r = gv_store_lines(s, 1, on_line, &l);
        check(r == GV_OK && strcmp(l.s, "1/alice/a,3/alice/c,5/carol/e") == 0,
              "lines: a meeting's old lines, in order", "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_lines(s, 2, on_line, &l);
        check(r == GV_OK && strcmp(l.s, "2/bob/b,4/bob/d") == 0,
              "lines: the other meeting's, interleaved before", "got %s [%s]", gv_strerror(r),
              l.s);
        r = gv_store_begin(s);
        r = r ? r : gv_store_line_add_from(s, 1, 6, "bob", "f", false, "$f", "@bob:x");
        r = r ? r : gv_store_line_add_from(s, 2, 7, "bob", "g", false, "$g", "@bob:x");
        r = r ? r : gv_store_commit(s);
        l.s[0] = '\0';
        r = r ? r : gv_store_lines(s, 1, on_line, &l);
        check(r == GV_OK && strcmp(l.s, "1/alice/a,3/alice/c,5/carol/e,6/bob/f") == 0,
              "lines: a new line follows the old ones", "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_line_counts(s, 1, on_count, &l);
        check(r == GV_OK && strcmp(l.s, "alice=2,bob=1,carol=1") == 0,
              "lines: counts of one meeting", "got %s [%s]", gv_strerror(r), l.s);
        r = gv_store_lines_by_event(s, "!r", "$same", &ln, &n);
        check(r == GV_OK && n == 1 && ln[0].meeting == 1 && str_eq(ln[0].text, "c") &&
              ln[0].id == ((int64_t)1 << 32) + 3,
              "lines: by event, only the room's meetings", "got %s n %zu", gv_strerror(r), n);
        r = gv_store_begin(s);
        if (r == GV_OK && n == 1)
                r = gv_store_line_set_text(s, ln[0].id, "c2", &changed);
        gv_lines_free(ln, n);
        ln = NULL;
        n = 0;
        r = r ? r : gv_store_lines_redact(s, "!s", "$same", &n);
        r = r ? r : gv_store_commit(s);
        check(r == GV_OK && changed && n == 1, "lines: edit by id, redact by event in one room",
              "got %s changed %d n %zu", gv_strerror(r), changed, n);
        l.s[0] = '\0';
        r = gv_store_lines(s, 1, on_line, &l);
        check(r == GV_OK && strcmp(l.s, "1/alice/a,3/alice/c2,5/carol/e,6/bob/f") == 0,
              "lines: the edit in its meeting only", "got %s [%s]", gv_strerror(r), l.s);
        l.s[0] = '\0';
        r = gv_store_lines(s, 2, on_line, &l);
        check(r == GV_OK && strcmp(l.s, "2/bob/[redacted],4/bob/d,7/bob/g") == 0,
              "lines: the redaction in its room only", "got %s [%s]", gv_strerror(r), l.s);
        gv_store_free(s);
        if (sqlite3_open(path, &db) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                   "AND tbl_name = 'lines'), (SELECT min(id) FROM lines WHERE "
                                   "meeting = 2), (SELECT max(id) FROM lines WHERE meeting = 1)",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
                indexes = sqlite3_column_int(st, 0);
                min2 = sqlite3_column_int64(st, 1);
                max1 = sqlite3_column_int64(st, 2);
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        check(indexes == 0 && min2 == ((int64_t)2 << 32) + 2 && max1 == ((int64_t)1 << 32) + 6,
              "lines: no index on lines; rowids meeting << 32 plus a count",
              "%d indexes, min %" PRId64 ", max %" PRId64, indexes, min2, max1);
        remove_db(path);
        rmdir(dir);
}

int main(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        test_memory();
        test_running_cache(false);
        test_running_cache(true);
        test_scratch_same();
        test_line_ids(false);
        test_line_ids(true);
        test_file();
        test_migrate_v1();
        test_schema_fold();
        test_modes();
        test_open_errors();
        test_migrate_v2();
        test_lines_kept();
        test_migrate_lines();
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}
