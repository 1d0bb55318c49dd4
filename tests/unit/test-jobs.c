/* tests/unit/test-jobs.c - bridge/jobs.c without the network: what a
 * delivered wiki records (publication, notes links, the edit of the minutes
 * message and when it may go), the links appended to the minutes, and the
 * webhook payloads built from the store.
 * Prints one line per case and "N passed, M failed"; exits 1 on a failure. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../bridge/jobs.h"
#include "../../store/store.h"
#include "../../util/buf.h"
#include "../../util/config.h"
#include "../../util/json.h"

#include "check.h"

static int64_t setup(struct gv_store *s, int64_t *item)
{
        struct gv_meeting m;
        struct gv_item it;
        struct gv_mitem t;
        int64_t meeting = 0, tid = 0;

        memset(&it, 0, sizeof(it));
        it.agenda = "architecture";
        it.description = "Discuss <keyframes>";
        it.reporter = "@hedss:example.org";
        it.mentions = "@a:example.org @b";
        it.room = "!arch:example.org";
        it.event_id = "$tagged";
        it.created = 1000;
        memset(&m, 0, sizeof(m));
        m.room = "!arch:example.org";
        m.name = "Arch call";
        m.agenda = "architecture";
        m.starter = "hedss";
        m.started = 1538645400000LL;
        memset(&t, 0, sizeof(t));
        if (gv_store_item_add(s, &it, item) != GV_OK ||
            gv_store_meeting_start(s, &m, &meeting) != GV_OK)
                return -1;
        t.nick = "hedss";
        t.ts = m.started + 1000;
        t.kind = GV_M_TOPIC;
        t.text = it.description;
        t.agenda_item = *item;
        if (gv_store_mitem_add(s, meeting, &t, &tid) != GV_OK)
                return -1;
        t.kind = GV_M_INFO;
        t.text = "we agreed on <b>it</b>";
        t.topic = tid;
        t.agenda_item = 0;
        t.ts += 1000;
        if (gv_store_mitem_add(s, meeting, &t, &tid) != GV_OK ||
            gv_store_meeting_end(s, meeting, m.started + 5000) != GV_OK)
                return -1;
        return meeting;
}

static int count_rows(void *ud, const struct gv_out *o)
{
        (void)o;
        (*(int *)ud)++;
        return 0;
}

static int rows(struct gv_store *s)
{
        int n = 0;

        if (gv_store_outbox_each(s, count_rows, &n) != GV_OK)
                return -1;
        return n;
}

static void test_links_back(void)
{
        struct gv_store *s = NULL;
        struct gv_out o;
        struct gv_buf body = GV_BUF_INIT(1 << 16), html = GV_BUF_INIT(1 << 16);
        char why[256] = "", *ev = NULL, *link = NULL;
        enum gv_delivery d;
        int64_t meeting, item = 0, edit;
        enum gv_err r;

        if (gv_store_open(":memory:", &s) != GV_OK)
                return;
        meeting = setup(s, &item);
        check(meeting == 1, "a meeting", "-");
        r = gv_store_outbox_add(s, GV_OUT_MINUTES, "!arch:example.org", "", NULL,
                                "{\"meeting\":1,\"msgtype\":\"m.notice\",\"mentions\":[]}", 1);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_MINUTES, "!other:example.org", "", NULL,
                                        "{\"meeting\":1,\"header\":\"#meeting-notes\"}", 1);
        r = r ? r : gv_job_published(s, meeting, 0, "Architecture-Call.md", 2);
        check(r == GV_OK && rows(s) == 2, "a page name (no URL): no edit of the minutes", "%d",
              rows(s));
        r = gv_store_item_notes_link(s, item, &link);
        check(r == GV_OK && link && !strcmp(link, "Architecture-Call.md"),
              "the item gets the page name for now", "%s", link ? link : "NULL");
        free(link);
        r = gv_job_published(s, meeting, 1, "https://wiki.example.org/A#4_Oct_2018", 3);
        check(r == GV_OK && rows(s) == 3, "a URL: the edit is queued", "%d", rows(s));
        r = gv_store_item_notes_link(s, item, &link);
        check(r == GV_OK && link && !strcmp(link, "https://wiki.example.org/A#4_Oct_2018"),
              "a URL replaces the page name as the notes link", "%s", link ? link : "NULL");
        free(link);
        r = gv_job_published(s, meeting, 2, "https://other.example.org/B", 4);
        r = r ? r : gv_store_item_notes_link(s, item, &link);
        check(r == GV_OK && link && !strcmp(link, "https://wiki.example.org/A#4_Oct_2018"),
              "a later URL does not replace the first", "%s", link ? link : "NULL");
        free(link);
        memset(&o, 0, sizeof(o));
        r = gv_store_outbox_next(s, 2, &o);
        edit = o.id;
        check(r == GV_OK && o.kind == GV_OUT_MINUTES && !strcmp(o.room, "!arch:example.org") &&
              strstr(o.extra, "\"replaces_row\":1"), "the edit names the room's minutes row",
              "%s", o.extra ? o.extra : "NULL");
        r = gv_job_edit_target(s, o.extra, &ev, &d, why, sizeof(why));
        check(r == GV_OK && !ev && d == GV_DELIVER_LATER, "it waits while the minutes are unsent",
              "%d %s", (int)d, why);
        r = gv_store_outbox_sent(s, 1, 5);
        r = r ? r : gv_job_edit_target(s, o.extra, &ev, &d, why, sizeof(why));
        check(r == GV_OK && !ev && d == GV_DELIVER_NEVER,
              "sent without a known event ID: it never can", "%d %s", (int)d, why);
        r = gv_job_sent_event(s, 1, "$minutes:example.org");
        r = r ? r : gv_job_edit_target(s, o.extra, &ev, &d, why, sizeof(why));
        check(r == GV_OK && ev && !strcmp(ev, "$minutes:example.org") && d == GV_DELIVERED,
              "once the event ID is kept, the edit targets it", "%s", ev ? ev : "NULL");
        free(ev);
        r = gv_job_edit_target(s, "{\"meeting\":1}", &ev, &d, why, sizeof(why));
        check(r == GV_OK && !ev && d == GV_DELIVERED, "a row that edits nothing", "-");
        r = gv_job_links_append(s, meeting, &body, &html);
        check(r == GV_OK && !strcmp(gv_buf_str(&body),
                                    "\nPublished: https://wiki.example.org/A#4_Oct_2018 (wiki:1), "
                                    "https://other.example.org/B (wiki:2)\n") &&
              strstr(gv_buf_str(&html), "<a href=\"https://wiki.example.org/A#4_Oct_2018\">wiki:1</a>"),
              "the links appended to the minutes (URLs only)", "%s | %s", gv_buf_str(&body),
              gv_buf_str(&html));
        (void)edit;
        gv_out_clear(&o);
        gv_buf_free(&body);
        gv_buf_free(&html);
        gv_store_free(s);
}

static cJSON *payload(struct gv_store *s, const char *extra)
{
        struct gv_out o;
        cJSON *p = NULL;
        char *json = NULL;

        memset(&o, 0, sizeof(o));
        o.id = 42;
        o.created = 1234;
        o.kind = GV_OUT_WEBHOOK;
        o.extra = (char *)extra;
        if (gv_job_webhook_payload(s, NULL, &o, &json) == GV_OK)
                p = cJSON_Parse(json);
        free(json);
        return p;
}

static void test_payloads(void)
{
        struct gv_store *s = NULL;
        int64_t meeting, item = 0;
        cJSON *p;
        const cJSON *it, *men, *links;
        struct gv_out o;
        char *json = NULL;

        if (gv_store_open(":memory:", &s) != GV_OK)
                return;
        meeting = setup(s, &item);
        if (gv_job_published(s, meeting, 0, "https://wiki.example.org/A", 2) != GV_OK)
                check(false, "published", "-");
        p = payload(s, "{\"event\":\"item.added\",\"webhook\":0,\"item\":1}");
        it = gv_js_obj(p, "item");
        men = gv_js_arr(it, "mentions");
        json = p ? cJSON_PrintUnformatted(p) : NULL;
        check(p && !strcmp(gv_js_str(p, "event"), "item.added") &&
              !strcmp(gv_js_str(p, "delivery"), "gavel-1234-42") &&
              !strcmp(gv_js_str(it, "description"), "Discuss <keyframes>") &&
              !strcmp(gv_js_str(it, "reporter"), "@hedss:example.org") &&
              !strcmp(gv_js_str(it, "permalink"),
                      "https://matrix.to/#/!arch:example.org/%24tagged") &&
              cJSON_GetArraySize(men) == 2 && !gv_js_obj(p, "meeting"),
              "item.added: description, reporter, mentions, permalink", "%s",
              json ? json : "NULL");
        cJSON_free(json);
        json = NULL;
        cJSON_Delete(p);
        p = payload(s, "{\"event\":\"item.discussed\",\"webhook\":0,\"item\":1,\"meeting\":1}");
        check(p && !strcmp(gv_js_str(p, "summary"), "we agreed on <b>it</b>") &&
              !strcmp(gv_js_str(p, "notes"), "https://wiki.example.org/A") &&
              !strcmp(gv_js_str(gv_js_obj(p, "item"), "notes"), "https://wiki.example.org/A") &&
              !strcmp(gv_js_str(gv_js_obj(p, "meeting"), "date"), "2018-10-04"),
              "item.discussed: the item, its summary, the notes link", "-");
        cJSON_Delete(p);
        p = payload(s, "{\"event\":\"minutes.published\",\"webhook\":0,\"meeting\":1}");
        links = gv_js_arr(p, "links");
        check(p && cJSON_GetArraySize(links) == 2 &&
              !strcmp(gv_js_str(cJSON_GetArrayItem(links, 0), "url"), "https://wiki.example.org/A") &&
              !strcmp(gv_js_str(cJSON_GetArrayItem(links, 1), "target"), "archive") &&
              !strcmp(gv_js_str(gv_js_obj(p, "meeting"), "name"), "Arch call"),
              "minutes.published: the meeting and every copy", "-");
        cJSON_Delete(p);
        memset(&o, 0, sizeof(o));
        o.kind = GV_OUT_WEBHOOK;
        o.extra = (char *)"{\"event\":\"item.added\",\"webhook\":0,\"item\":999}";
        check(gv_job_webhook_payload(s, NULL, &o, &json) == GV_ENOTFOUND && !json,
              "an item that is gone: no payload", "-");
        o.extra = (char *)"{\"event\":\"nope\",\"webhook\":0}";
        check(gv_job_webhook_payload(s, NULL, &o, &json) == GV_EINVAL && !json,
              "an unknown event: no payload", "-");
        gv_store_free(s);
}

/* A series' release (issue 10): its event ID is kept once sent, so that
 * reactions to it find its occurrence; other messages' are not. */
static void test_release_event(void)
{
        struct gv_store *s = NULL;
        struct gv_out o;
        char *series = NULL;
        int64_t row = 0, plain = 0, occ = 0;
        enum gv_err r;

        if (gv_store_open(":memory:", &s) != GV_OK)
                return;
        r = gv_store_outbox_add_id(s, GV_OUT_MESSAGE, "!p:example.org", "agenda", NULL,
                                   "{\"msgtype\":\"m.notice\",\"keep_event\":true,\"mentions\":[]}",
                                   1, &row);
        r = r ? r : gv_store_outbox_add_id(s, GV_OUT_MESSAGE, "!p:example.org", "hi", NULL,
                                           "{\"msgtype\":\"m.notice\",\"keep_event\":false,"
                                           "\"mentions\":[]}", 1, &plain);
        r = r ? r : gv_store_release_add(s, row, "Arch call", 1765119600000LL, "!p:example.org", 1);
        memset(&o, 0, sizeof(o));
        r = r ? r : gv_store_outbox_next(s, 0, &o);
        check(r == GV_OK && o.id == row && gv_job_keeps_event(&o), "a release keeps its event ID",
              "%s", o.extra ? o.extra : "(none)");
        gv_out_clear(&o);
        r = r ? r : gv_store_outbox_next(s, row, &o);
        check(r == GV_OK && o.id == plain && !gv_job_keeps_event(&o),
              "a plain message (keep_event false) does not", "%s", o.extra ? o.extra : "(none)");
        gv_out_clear(&o);
        r = gv_store_release_by_event(s, "$rel:example.org", &series, &occ);
        check(r == GV_ENOTFOUND, "before it is sent no event finds it", "%s", gv_strerror(r));
        r = gv_job_sent_event(s, row, "$rel:example.org");
        r = r ? r : gv_store_release_by_event(s, "$rel:example.org", &series, &occ);
        check(r == GV_OK && series && strcmp(series, "Arch call") == 0 && occ == 1765119600000LL,
              "once sent, its event ID finds the series and occurrence", "%s",
              series ? series : gv_strerror(r));
        free(series);
        gv_store_free(s);
}

int main(void)
{
        test_links_back();
        test_payloads();
        test_release_event();
        return check_finish();
}
