/* tests/fuzz/fuzz-handle.c - event sequences through gv_handle() on an
 * in-memory store, then every minutes format of every meeting and every
 * queued outbox row rendered. The input is split into lines; each line is
 * one event: its first byte picks the sender (among IDs that share a
 * localpart, a bare console nick and the bot itself), the power level, the
 * room and whether it is a message, a message with the clock set back, an
 * edit of an earlier event or a redaction of one; the rest of the line is
 * the body ("\\n" in a line is a newline, so messages hold several lines).
 * A message whose body starts with '+' is a reaction (the rest its key) to
 * the newest series release. A meeting series in the first room (hourly at
 * :05, released 30 minutes ahead in the second: late at the first event;
 * reminded a minute ahead: on time at the 240th) ticks before every event,
 * and every release is "sent" (gets an event ID) at once. Meetings in the
 * second room are a standup series' (its flavour's minutes).
 * No crash, no leak, gv_handle() and gv_tick() always GV_OK, and no meeting
 * ends before it started. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../handlers/event.h"
#include "../../handlers/handlers.h"
#include "../../handlers/minutes.h"
#include "../../handlers/parse.h"
#include "../../store/store.h"
#include "../../util/buf.h"
#include "../../util/config.h"
#include "fuzz.h"

#define MAX_EVENTS 512
#define T0 1720778400000LL      /* 2024-07-12 10:00:00 UTC */

static const char *const senders[] = {
        "@alice:good.org", "@alice:evil.org", "@bob:good.org", "carol", "@gavel:example.org",
        "@ALICE:good.org", "@bob:evil.org", "@dave:good.org",
};
static const char *const rooms[] = { "!one:good.org", "!two:good.org" };
static const int powers[] = { 0, 0, 50, 100 };

static void render_all(struct gv_store *s, const struct gv_config *cfg)
{
        static const enum gv_minutes_fmt fmts[] = {
                GV_MIN_TEXT, GV_MIN_HTML, GV_MIN_HTML_PAGE, GV_MIN_MARKDOWN, GV_MIN_LOG_TEXT,
                GV_MIN_LOG_HTML,
        };
        struct gv_meeting m;
        struct gv_out o;
        int64_t after = 0;

        for (int64_t id = 1;; id++) {
                memset(&m, 0, sizeof(m));
                if (gv_store_meeting_get(s, id, &m) != GV_OK)
                        break;
                if (m.ended && m.ended < m.started)
                        abort();        /* a meeting ended before it started */
                gv_meeting_clear(&m);
                for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
                        struct gv_buf b = GV_BUF_INIT(GV_MINUTES_MAX);

                        if (gv_minutes_render(s, cfg, id, fmts[f], &b) != GV_OK)
                                abort();
                        gv_buf_free(&b);
                }
        }
        memset(&o, 0, sizeof(o));
        while (gv_store_outbox_next(s, after, &o) == GV_OK) {
                after = o.id;
                if (o.kind == GV_OUT_MINUTES || o.kind == GV_OUT_FILE) {
                        struct gv_buf body = GV_BUF_INIT(GV_MINUTES_MAX);
                        struct gv_buf html = GV_BUF_INIT(GV_MINUTES_MAX);

                        if (gv_minutes_for_outbox(s, cfg, o.kind, o.extra, &body, &html) != GV_OK)
                                abort();
                        gv_buf_free(&body);
                        gv_buf_free(&html);
                }
                gv_out_clear(&o);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct gv_config *cfg;
        struct gv_store *s = NULL;
        struct gv_core *core = NULL;
        char ids[MAX_EVENTS][32], release[48] = "";
        size_t n = 0, i = 0;
        int64_t seen = 0;

        if (!cfg) {
                static const char json[] = "{\"user_id\": \"@gavel:example.org\", "
                                           "\"max_message_bytes\": 4096, "
                                           "\"crosspost_rooms\": [\"!two:good.org\"], "
                                           "\"series\": [{\"name\": \"Hourly\", "
                                           "\"room\": \"!one:good.org\", "
                                           "\"rrule\": \"FREQ=HOURLY;BYMINUTE=5\", "
                                           "\"release_before_min\": 30, "
                                           "\"release_room\": \"!two:good.org\", "
                                           "\"remind_before_min\": 1}, "
                                           "{\"name\": \"Standup\", "
                                           "\"room\": \"!two:good.org\", \"rrule\": "
                                           "\"FREQ=WEEKLY;BYDAY=MO;BYHOUR=16\", "
                                           "\"flavour\": \"standup\"}]}";
                char err[256];

                if (gv_config_parse(json, strlen(json), &cfg, err, sizeof(err)) != GV_OK)
                        abort();
        }
        if (gv_store_open(":memory:", &s) != GV_OK || gv_core_new(s, cfg, &core) != GV_OK ||
            gv_store_begin(s) != GV_OK)
                abort();
        while (i < size && n < MAX_EVENTS) {
                const uint8_t *nl = memchr(data + i, '\n', size - i);
                size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
                struct gv_event ev;
                char *body, nick[256];
                size_t blen = 0;
                unsigned b, kind;

                if (len == 0) {
                        i++;
                        continue;
                }
                b = data[i];
                body = malloc(len);
                if (!body)
                        abort();
                /* "\n" (backslash, n) in a line is a newline of the body */
                for (size_t k = 1; k < len; k++) {
                        if (data[i + k] == '\\' && k + 1 < len && data[i + k + 1] == 'n') {
                                body[blen++] = '\n';
                                k++;
                        } else {
                                body[blen++] = (char)data[i + k];
                        }
                }
                i += len + 1;
                kind = b >> 6;
                memset(&ev, 0, sizeof(ev));
                snprintf(ids[n], sizeof(ids[n]), "$e%zu", n);
                ev.event_id = ids[n];
                ev.sender = senders[b & 7];
                ev.power = powers[(b >> 3) & 3];
                ev.room = rooms[(b >> 5) & 1];
                ev.ts = T0 + (int64_t)n * 1000;
                ev.msgtype = "m.text";
                ev.body = body;
                ev.body_len = blen;
                if (kind == 1)
                        ev.ts -= 3600 * 1000;   /* a clock set back */
                else if (kind == 2 && n > 0)
                        ev.replaces = ids[(n - 1) - (blen ? (unsigned char)body[0] % n : 0)];
                else if (kind == 3 && n > 0) {
                        ev.redacts = ids[(n - 1) - (blen ? (unsigned char)body[0] % n : 0)];
                        ev.body_len = 0;
                }
                if (blen && body[0] == '<') {
                        ev.formatted_body = "<a href=\"https://matrix.to/#/@alice:evil.org\">"
                                            "Alice</a> and <a href=\"https://matrix.to/#/%40bob"
                                            "%3Agood.org\">bob</a>";
                        ev.thread_root = "$root";
                }
                if (blen > 1 && body[0] == '+' && kind == 0) {
                        body[blen] = '\0';
                        ev.reaction_key = body + 1;
                        ev.relates_to = release[0] ? release : "$none";
                        ev.body_len = 0;
                }
                /* the series' timers due by now, their releases sent */
                if (gv_tick(core, ev.ts) != GV_OK)
                        abort();
                {
                        struct gv_out o;

                        memset(&o, 0, sizeof(o));
                        while (gv_store_outbox_next(s, seen, &o) == GV_OK) {
                                char rel[48];

                                seen = o.id;
                                snprintf(rel, sizeof(rel), "$rel%lld", (long long)o.id);
                                if (o.extra && strstr(o.extra, "keep_event")) {
                                        if (gv_store_release_sent(s, o.id, rel) != GV_OK)
                                                abort();
                                        snprintf(release, sizeof(release), "%s", rel);
                                }
                                gv_out_clear(&o);
                        }
                }
                gv_nick_of(ev.sender, nick, sizeof(nick));
                if (gv_store_member_seen(s, ev.room, ev.sender, nick) != GV_OK)
                        abort();
                if (gv_handle(core, &ev) != GV_OK)
                        abort();
                free(body);
                n++;
        }
        render_all(s, cfg);
        if (gv_store_commit(s) != GV_OK)
                abort();
        gv_core_free(core);
        gv_store_free(s);
        return 0;
}
