/* tests/unit/test-sync.c - reading /sync and /messages responses. */
#include <string.h>

#include "../../bridge/content.h"
#include "../../bridge/matrix_internal.h"
#include "../../bridge/sync.h"
#include "../../store/store.h"
#include "../../util/config.h"
#include "../../util/json.h"
#include <stdlib.h>
#include "check.h"

static bool eq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

static void test_initial(void)
{
        static const char json[] =
                "{\"next_batch\":\"s1\",\"rooms\":{\"join\":{\"!a:x\":{"
                "\"state\":{\"events\":[{\"type\":\"m.room.power_levels\",\"state_key\":\"\","
                "\"sender\":\"@o:x\",\"event_id\":\"$p\",\"content\":{\"users\":{\"@o:x\":100},"
                "\"users_default\":10}}]},"
                "\"timeline\":{\"events\":[{\"type\":\"m.room.message\",\"sender\":\"@a:x\","
                "\"event_id\":\"$1\",\"origin_server_ts\":1700000000000,\"content\":{"
                "\"msgtype\":\"m.text\",\"body\":\"#architecture x cc @b\","
                "\"m.mentions\":{\"user_ids\":[\"@b:x\",7]}}},"
                "{\"type\":\"m.room.message\",\"sender\":\"@a:x\",\"content\":{}}],"
                "\"limited\":true,\"prev_batch\":\"p0\"}}},"
                "\"invite\":{\"!i:x\":{\"invite_state\":{\"events\":[{\"type\":\"m.room.member\","
                "\"state_key\":\"@gavel:x\",\"sender\":\"@o:x\",\"content\":{\"membership\":\"invite\"}}]}}},"
                "\"leave\":{\"!l:x\":{\"timeline\":{\"events\":[]}}}}}";
        struct gv_sync *s = NULL;
        const char *mentions[GV_SYNC_MAX_MENTIONS];
        struct gv_event ev;
        enum gv_err r = gv_sync_parse(json, strlen(json), &s);

        check(r == GV_OK && s, "parse: initial sync", "%s", gv_strerror(r));
        if (!s)
                return;
        check(eq(s->next_batch, "s1"), "parse: next_batch", "%s", s->next_batch);
        check(s->n_rooms == 3, "parse: join, invite, leave rooms", "%zu", s->n_rooms);
        check(s->rooms[0].kind == GV_ROOM_JOIN && eq(s->rooms[0].room_id, "!a:x") &&
              s->rooms[0].limited && eq(s->rooms[0].prev_batch, "p0"),
              "parse: joined room, limited, prev_batch", "kind %d", s->rooms[0].kind);
        check(s->rooms[0].n_timeline == 1 && s->skipped == 1,
              "parse: an event without event_id is skipped and counted",
              "%zu events, %zu skipped", s->rooms[0].n_timeline, s->skipped);
        check(gv_sync_power_of(s->rooms[0].state[0].content, "@o:x") == 100 &&
              gv_sync_power_of(s->rooms[0].state[0].content, "@z:x") == 10 &&
              gv_sync_power_of(NULL, "@o:x") == 0,
              "power_of: users, users_default, none", "wrong level");
        check(s->rooms[1].kind == GV_ROOM_INVITE && s->rooms[1].n_state == 1 &&
              eq(s->rooms[1].state[0].sender, "@o:x") && !s->rooms[1].state[0].event_id,
              "parse: invite_state (stripped, no event_id)", "wrong invite");
        r = gv_sync_event_to_gv(&s->rooms[0].timeline[0], "!a:x", 50, mentions, &ev);
        check(r == GV_OK && eq(ev.body, "#architecture x cc @b") && ev.body_len == 21 &&
              ev.n_mentions == 1 && eq(ev.mentions[0], "@b:x") && ev.power == 50 &&
              ev.ts == 1700000000000 && eq(ev.event_id, "$1") && eq(ev.msgtype, "m.text"),
              "to_gv: message with m.mentions (non-strings dropped)", "%s", gv_strerror(r));
        r = gv_sync_event_to_gv(&s->rooms[0].state[0], "!a:x", 0, mentions, &ev);
        check(r == GV_ENOTFOUND, "to_gv: state events are not messages", "%s", gv_strerror(r));
        gv_sync_free(s);
}

static void test_relations(void)
{
        static const char json[] =
                "{\"next_batch\":\"s2\",\"rooms\":{\"join\":{\"!a:x\":{\"timeline\":{\"events\":["
                "{\"type\":\"m.room.message\",\"sender\":\"@a:x\",\"event_id\":\"$2\",\"content\":{"
                "\"msgtype\":\"m.text\",\"body\":\"* #info new\",\"m.new_content\":{\"msgtype\":"
                "\"m.text\",\"body\":\"#info new\"},\"m.relates_to\":{\"rel_type\":\"m.replace\","
                "\"event_id\":\"$1\"}}},"
                "{\"type\":\"m.room.redaction\",\"sender\":\"@a:x\",\"event_id\":\"$3\","
                "\"redacts\":\"$1\",\"content\":{}},"
                "{\"type\":\"m.room.redaction\",\"sender\":\"@a:x\",\"event_id\":\"$4\","
                "\"content\":{\"redacts\":\"$2\"}},"
                "{\"type\":\"m.room.message\",\"sender\":\"@a:x\",\"event_id\":\"$5\",\"content\":{"
                "\"msgtype\":\"m.text\",\"body\":\"!agenda\",\"m.relates_to\":{\"rel_type\":"
                "\"m.thread\",\"event_id\":\"$root\",\"m.in_reply_to\":{\"event_id\":\"$q\"}}}},"
                "{\"type\":\"m.reaction\",\"sender\":\"@a:x\",\"event_id\":\"$6\",\"content\":{}}"
                "]}}}}}";
        struct gv_sync *s = NULL;
        const char *mentions[GV_SYNC_MAX_MENTIONS];
        struct gv_event ev;
        enum gv_err r = gv_sync_parse(json, strlen(json), &s);

        check(r == GV_OK && s && s->n_rooms == 1 && s->rooms[0].n_timeline == 5,
              "parse: relations batch", "%s", gv_strerror(r));
        if (!s || s->n_rooms != 1 || s->rooms[0].n_timeline != 5) {
                gv_sync_free(s);
                return;
        }
        r = gv_sync_event_to_gv(&s->rooms[0].timeline[0], "!a:x", 0, mentions, &ev);
        check(r == GV_OK && eq(ev.replaces, "$1") && eq(ev.body, "#info new"),
              "to_gv: an edit carries m.new_content and what it replaces", "%s",
              ev.body ? ev.body : "NULL");
        r = gv_sync_event_to_gv(&s->rooms[0].timeline[1], "!a:x", 0, mentions, &ev);
        check(r == GV_OK && eq(ev.redacts, "$1") && eq(ev.body, ""),
              "to_gv: redaction with top-level redacts (rooms v1-v10)", "%s", gv_strerror(r));
        r = gv_sync_event_to_gv(&s->rooms[0].timeline[2], "!a:x", 0, mentions, &ev);
        check(r == GV_OK && eq(ev.redacts, "$2"), "to_gv: redaction with content.redacts (v11)",
              "%s", gv_strerror(r));
        r = gv_sync_event_to_gv(&s->rooms[0].timeline[3], "!a:x", 0, mentions, &ev);
        check(r == GV_OK && eq(ev.thread_root, "$root") && eq(ev.reply_to, "$q"),
              "to_gv: thread root and reply", "%s", gv_strerror(r));
        r = gv_sync_event_to_gv(&s->rooms[0].timeline[4], "!a:x", 0, mentions, &ev);
        check(r == GV_ENOTFOUND, "to_gv: a reaction with no annotation is not for the handlers",
              "%s", gv_strerror(r));
        gv_sync_free(s);
}

/* m.reaction: rel_type m.annotation with a key and the event it annotates
 * becomes reaction_key/relates_to; anything else is left out. */
static void test_reactions(void)
{
        static char long_key[GV_SYNC_MAX_REACTION_KEY + 2];
        static const struct {
                const char *name, *content;     /* content; NULL: a key over the limit */
                const char *key, *target;       /* key NULL: GV_ENOTFOUND */
        } cases[] = {
                { "a check mark", "{\"m.relates_to\":{\"rel_type\":\"m.annotation\","
                  "\"event_id\":\"$rel\",\"key\":\"\u2705\"}}", "\u2705", "$rel" },
                { "a cross mark with a variation selector",
                  "{\"m.relates_to\":{\"rel_type\":\"m.annotation\",\"event_id\":\"$r2\","
                  "\"key\":\"\u274c\ufe0f\"}}", "\u274c\ufe0f", "$r2" },
                { "a text key", "{\"m.relates_to\":{\"rel_type\":\"m.annotation\","
                  "\"event_id\":\"$r3\",\"key\":\"+1\"},\"shortcode\":\":+1:\"}", "+1",
                  "$r3" },
                { "no relation", "{}", NULL, NULL },
                { "relation not an object", "{\"m.relates_to\":\"$x\"}", NULL, NULL },
                { "another rel_type", "{\"m.relates_to\":{\"rel_type\":\"m.reference\","
                  "\"event_id\":\"$x\",\"key\":\"\u2705\"}}", NULL, NULL },
                { "rel_type not a string", "{\"m.relates_to\":{\"rel_type\":1,"
                  "\"event_id\":\"$x\",\"key\":\"\u2705\"}}", NULL, NULL },
                { "RelType in another case", "{\"m.relates_to\":{\"Rel_type\":\"m.annotation\","
                  "\"event_id\":\"$x\",\"key\":\"\u2705\"}}", NULL, NULL },
                { "no key", "{\"m.relates_to\":{\"rel_type\":\"m.annotation\","
                  "\"event_id\":\"$x\"}}", NULL, NULL },
                { "an empty key", "{\"m.relates_to\":{\"rel_type\":\"m.annotation\","
                  "\"event_id\":\"$x\",\"key\":\"\"}}", NULL, NULL },
                { "a key not a string", "{\"m.relates_to\":{\"rel_type\":\"m.annotation\","
                  "\"event_id\":\"$x\",\"key\":[\"\u2705\"]}}", NULL, NULL },
                { "no event_id", "{\"m.relates_to\":{\"rel_type\":\"m.annotation\","
                  "\"key\":\"\u2705\"}}", NULL, NULL },
                { "event_id not an event ID", "{\"m.relates_to\":{\"rel_type\":"
                  "\"m.annotation\",\"event_id\":\"!room:x\",\"key\":\"\u2705\"}}", NULL,
                  NULL },
                { "a key over the limit", NULL, NULL, NULL },
        };
        char json[4096];

        memset(long_key, 'k', sizeof(long_key) - 1);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *mentions[GV_SYNC_MAX_MENTIONS];
                struct gv_sync *s = NULL;
                struct gv_event ev;
                enum gv_err r;
                char name[128];

                if (cases[i].content)
                        snprintf(json, sizeof(json), "{\"next_batch\":\"s\",\"rooms\":{\"join\":"
                                 "{\"!a:x\":{\"timeline\":{\"events\":[{\"type\":\"m.reaction\","
                                 "\"sender\":\"@b:x\",\"event_id\":\"$e\",\"origin_server_ts\":7,"
                                 "\"content\":%s}]}}}}}", cases[i].content);
                else
                        snprintf(json, sizeof(json), "{\"next_batch\":\"s\",\"rooms\":{\"join\":"
                                 "{\"!a:x\":{\"timeline\":{\"events\":[{\"type\":\"m.reaction\","
                                 "\"sender\":\"@b:x\",\"event_id\":\"$e\",\"content\":{"
                                 "\"m.relates_to\":{\"rel_type\":\"m.annotation\",\"event_id\":"
                                 "\"$x\",\"key\":\"%s\"}}}]}}}}}", long_key);
                snprintf(name, sizeof(name), "reaction: %s", cases[i].name);
                r = gv_sync_parse(json, strlen(json), &s);
                if (r || s->n_rooms != 1 || s->rooms[0].n_timeline != 1) {
                        check(false, name, "parse: %s", gv_strerror(r));
                        gv_sync_free(s);
                        continue;
                }
                r = gv_sync_event_to_gv(&s->rooms[0].timeline[0], "!a:x", 3, mentions, &ev);
                if (cases[i].key)
                        check(r == GV_OK && eq(ev.reaction_key, cases[i].key) &&
                              eq(ev.relates_to, cases[i].target) && eq(ev.body, "") &&
                              ev.body_len == 0 && eq(ev.sender, "@b:x") && eq(ev.event_id, "$e") &&
                              ev.ts == 7 && ev.power == 3 && !ev.redacts && !ev.replaces &&
                              !ev.reply_to, name, "%s key %s on %s", gv_strerror(r),
                              ev.reaction_key ? ev.reaction_key : "NULL",
                              ev.relates_to ? ev.relates_to : "NULL");
                else
                        check(r == GV_ENOTFOUND, name, "%s (key %s)", gv_strerror(r),
                              ev.reaction_key ? ev.reaction_key : "NULL");
                gv_sync_free(s);
        }
        /* a message is never a reaction, whatever it relates to */
        {
                static const char msg[] =
                        "{\"next_batch\":\"s\",\"rooms\":{\"join\":{\"!a:x\":{\"timeline\":{"
                        "\"events\":[{\"type\":\"m.room.message\",\"sender\":\"@b:x\","
                        "\"event_id\":\"$m\",\"content\":{\"msgtype\":\"m.text\",\"body\":\"hi\","
                        "\"m.relates_to\":{\"rel_type\":\"m.annotation\",\"event_id\":\"$x\","
                        "\"key\":\"\u2705\"}}}]}}}}}";
                const char *mentions[GV_SYNC_MAX_MENTIONS];
                struct gv_sync *s = NULL;
                struct gv_event ev;
                enum gv_err r = gv_sync_parse(msg, strlen(msg), &s);

                if (r == GV_OK && s->n_rooms == 1 && s->rooms[0].n_timeline == 1)
                        r = gv_sync_event_to_gv(&s->rooms[0].timeline[0], "!a:x", 0, mentions, &ev);
                check(r == GV_OK && !ev.reaction_key && !ev.relates_to && eq(ev.body, "hi"),
                      "reaction: an m.room.message with an annotation is a plain message", "%s",
                      gv_strerror(r));
                gv_sync_free(s);
        }
}

static void test_bad(void)
{
        static const struct {
                const char *name, *json;
                enum gv_err want;
        } cases[] = {
                { "empty", "", GV_EPARSE },
                { "not JSON", "{\"next_batch\":", GV_EPARSE },
                { "array", "[]", GV_EPARSE },
                { "no next_batch", "{\"rooms\":{}}", GV_EPARSE },
                { "next_batch not a string", "{\"next_batch\":5}", GV_EPARSE },
                { "rooms of the wrong type", "{\"next_batch\":\"a\",\"rooms\":[1]}", GV_OK },
                { "room not an object", "{\"next_batch\":\"a\",\"rooms\":{\"join\":{\"!a:x\":5}}}",
                  GV_OK },
        };
        struct gv_sync *s;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                enum gv_err r;

                s = NULL;
                r = gv_sync_parse(cases[i].json, strlen(cases[i].json), &s);
                check(r == cases[i].want && (r != GV_OK || s->n_rooms == 0), cases[i].name,
                      "got %s", gv_strerror(r));
                gv_sync_free(s);
        }
        check(gv_sync_parse("{}", GV_SYNC_MAX_BYTES + 1, &s) == GV_ETOOBIG,
              "over the size ceiling", "accepted");
}

/* What gavel does not read is never built: presence, account_data, a
 * room's ephemeral events, summary, unread counts, knocks. What it reads is
 * as cJSON reads it: a room ID with escapes, the first of a key said
 * twice, errors in kept parts. */
static void test_pruned(void)
{
        static const char json[] =
                " {\"presence\":{\"events\":[{\"type\":\"m.presence\",\"sender\":\"@a:x\","
                "\"content\":{\"presence\":\"online\"}}]},"
                "\"account_data\":{\"events\":[{\"type\":\"m.direct\",\"content\":{}}]},"
                "\"next_batch\":\"s7\",\"next_batch\":\"s8\","
                "\"rooms\":{\"knock\":{\"!k:x\":{}},\"join\":{\"\\u0021a:x\":{"
                "\"summary\":{\"m.heroes\":[\"@a:x\"],\"m.joined_member_count\":2},"
                "\"unread_notifications\":{\"notification_count\":1},"
                "\"ephemeral\":{\"events\":[{\"type\":\"m.typing\",\"content\":"
                "{\"user_ids\":[\"@a:x\"]}}]},"
                "\"timeline\":{\"events\":[{\"type\":\"m.room.message\",\"sender\":\"@a:x\","
                "\"event_id\":\"$1\",\"origin_server_ts\":5,\"content\":{\"msgtype\":\"m.text\","
                "\"body\":\"a \\\"quoted\\\" } { line\"},\"unsigned\":{\"age\":0}}],"
                "\"limited\":false}}}},"
                "\"device_one_time_keys_count\":{\"signed_curve25519\":3},"
                "\"device_unused_fallback_key_types\":[\"signed_curve25519\"]} ";
        static const struct {
                const char *name, *json;
        } bad[] = {
                { "pruned: a kept value malformed",
                  "{\"next_batch\":\"a\",\"rooms\":{\"join\":{\"!a:x\":{\"timeline\":{x}}}}}" },
                { "pruned: a skipped value unterminated",
                  "{\"next_batch\":\"a\",\"presence\":{\"events\":[}" },
                { "pruned: a skipped string unterminated",
                  "{\"next_batch\":\"a\",\"presence\":\"abc}" },
                { "pruned: no colon", "{\"next_batch\" \"a\"}" },
                { "pruned: a number with junk", "{\"next_batch\":\"a\",\"to_device\":1x}" },
                { "pruned: no closing brace", "{\"next_batch\":\"a\"," },
        };
        struct gv_sync *s = NULL;
        const cJSON *room;
        enum gv_err r = gv_sync_parse(json, strlen(json), &s);

        check(r == GV_OK && s, "pruned: parses", "%s", gv_strerror(r));
        if (!s)
                return;
        check(eq(s->next_batch, "s7"), "pruned: the first of a key said twice", "%s",
              s->next_batch);
        check(!cJSON_GetObjectItemCaseSensitive(s->root, "presence") &&
              !cJSON_GetObjectItemCaseSensitive(s->root, "account_data") &&
              !cJSON_GetObjectItemCaseSensitive(gv_js_obj(s->root, "rooms"), "knock"),
              "pruned: presence, account_data, knock not built", "built");
        check(s->n_rooms == 1 && eq(s->rooms[0].room_id, "!a:x") && s->rooms[0].n_timeline == 1 &&
              eq(gv_js_str(s->rooms[0].timeline[0].content, "body"),
                 "a \"quoted\" } { line") && !s->rooms[0].limited,
              "pruned: the room ID unescaped, its timeline whole", "%zu rooms", s->n_rooms);
        room = gv_js_obj(gv_js_obj(gv_js_obj(s->root, "rooms"), "join"), "!a:x");
        check(room && !cJSON_GetObjectItemCaseSensitive(room, "summary") &&
              !cJSON_GetObjectItemCaseSensitive(room, "ephemeral") &&
              !cJSON_GetObjectItemCaseSensitive(room, "unread_notifications") &&
              cJSON_GetObjectItemCaseSensitive(room, "timeline"),
              "pruned: a room's summary, ephemeral, unread counts not built", "built");
        check(s->otk_signed_curve25519 == 3 && s->fallback_known && s->fallback_unused,
              "pruned: key counts read", "%lld", (long long)s->otk_signed_curve25519);
        gv_sync_free(s);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                s = NULL;
                r = gv_sync_parse(bad[i].json, strlen(bad[i].json), &s);
                check(r == GV_EPARSE, bad[i].name, "got %s", gv_strerror(r));
                gv_sync_free(s);
        }
}

static void test_messages(void)
{
        static const char json[] =
                "{\"start\":\"t5\",\"end\":\"t2\",\"chunk\":[{\"type\":\"m.room.message\","
                "\"sender\":\"@a:x\",\"event_id\":\"$9\",\"origin_server_ts\":9,\"content\":{"
                "\"msgtype\":\"m.text\",\"body\":\"late\"}}]}";
        struct gv_sync *s = NULL;
        enum gv_err r = gv_sync_parse_messages(json, strlen(json), &s);

        check(r == GV_OK && s && s->n_chunk == 1 && eq(s->next_batch, "t2") &&
              eq(s->chunk[0].event_id, "$9"), "messages: chunk and end", "%s", gv_strerror(r));
        gv_sync_free(s);
}

static cJSON *content_of(const char *body, const char *html, const char *extra)
{
        cJSON *e = cJSON_Parse(extra);
        char *c = gv_content_message(body, html, e);
        cJSON *j = c ? cJSON_Parse(c) : NULL;

        if (c && strlen(c) > GV_CONTENT_MAX_BYTES) {
                cJSON_Delete(j);
                j = NULL;
        }
        free(c);
        cJSON_Delete(e);
        return j;
}

static const char *jstr(const cJSON *o, const char *path1, const char *path2)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);

        if (path2)
                v = cJSON_GetObjectItemCaseSensitive(v, path2);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_content(void)
{
        cJSON *c, *mm, *rel;
        char *big;
        size_t n = 200000;

        c = content_of("hi", "<b>hi</b>",
                       "{\"msgtype\":\"m.notice\",\"in_reply_to\":\"$a\",\"mentions\":[]}");
        mm = cJSON_GetObjectItemCaseSensitive(c, "m.mentions");
        rel = cJSON_GetObjectItemCaseSensitive(c, "m.relates_to");
        check(c && eq(jstr(c, "msgtype", NULL), "m.notice") && eq(jstr(c, "body", NULL), "hi") &&
              eq(jstr(c, "format", NULL), "org.matrix.custom.html") &&
              eq(jstr(c, "formatted_body", NULL), "<b>hi</b>") && cJSON_IsObject(mm) &&
              cJSON_GetArraySize(mm) == 0 &&
              eq(jstr(rel, "m.in_reply_to", "event_id"), "$a") && !jstr(rel, "rel_type", NULL),
              "content: a reply, HTML, m.mentions {} when nobody is pinged", "wrong content");
        cJSON_Delete(c);
        c = content_of("x", NULL, "{\"mentions\":[\"@a:x\",5,\"@b:x\"]}");
        mm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "m.mentions"),
                                              "user_ids");
        check(c && cJSON_GetArraySize(mm) == 2 && !jstr(c, "formatted_body", NULL) &&
              !cJSON_GetObjectItemCaseSensitive(c, "m.relates_to"),
              "content: pinged users in m.mentions.user_ids, no HTML when there is none",
              "wrong content");
        cJSON_Delete(c);
        c = content_of("x", "", "{\"thread\":\"$root\",\"in_reply_to\":\"$q\",\"mentions\":[]}");
        rel = cJSON_GetObjectItemCaseSensitive(c, "m.relates_to");
        check(c && eq(jstr(rel, "rel_type", NULL), "m.thread") &&
              eq(jstr(rel, "event_id", NULL), "$root") &&
              cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rel, "is_falling_back")) &&
              eq(jstr(rel, "m.in_reply_to", "event_id"), "$q"),
              "content: a reply in a thread stays in the thread", "wrong relation");
        cJSON_Delete(c);
        big = malloc(n + 1);
        if (!big)
                return;
        for (size_t i = 0; i < n; i++)
                big[i] = (i % 80 == 79) ? '\n' : 'a';
        big[n] = '\0';
        c = content_of("short text", big, "{\"mentions\":[]}");
        check(c && eq(jstr(c, "body", NULL), "short text") && !jstr(c, "formatted_body", NULL),
              "content: HTML over the event size is dropped, the text kept", "wrong content");
        cJSON_Delete(c);
        c = content_of(big, big, "{\"mentions\":[]}");
        check(c && jstr(c, "body", NULL) && strlen(jstr(c, "body", NULL)) < n &&
              strstr(jstr(c, "body", NULL), "[... cut: the full minutes are in the archive]") &&
              !jstr(c, "formatted_body", NULL),
              "content: text over the event size is cut at a line, with a note", "wrong content");
        cJSON_Delete(c);
        /* Short in bytes, long as JSON: quotes double, control characters
         * become \u00XX. The cut stays inside the body (ASan: no over-read)
         * and the result fits. Exactly n bytes, no slack past the NUL. */
        for (size_t len = 20000; len <= 40000; len += 20000) {
                char *q = malloc(len + 1);

                if (!q)
                        break;
                for (size_t i = 0; i < len; i++)
                        q[i] = i % 3 == 0 ? '"' : (i % 3 == 1 ? '\x01' : '\\');
                q[len] = '\0';
                c = content_of(q, q, "{\"mentions\":[]}");
                check(c && jstr(c, "body", NULL) && strlen(jstr(c, "body", NULL)) < len &&
                      strstr(jstr(c, "body", NULL), "[... cut: the full minutes are in the archive]"),
                      "content: a quote- and control-heavy body is cut to fit, never refused",
                      "len %zu: no content", len);
                cJSON_Delete(c);
                free(q);
        }
        free(big);
}

/* ---- room members from m.room.member state (matrix_rooms.c) ---- */

struct names {
        char s[512];
};

static void on_member(void *ud, const char *user_id)
{
        struct names *n = ud;
        size_t l = strlen(n->s);

        snprintf(n->s + l, sizeof(n->s) - l, "%s%s", l ? "," : "", user_id);
}

static void member_event(struct mx *m, struct room *rm, const char *json, const char *who)
{
        cJSON *c = cJSON_Parse(json);
        struct gv_sync_event e;
        enum gv_err r;

        memset(&e, 0, sizeof(e));
        e.type = "m.room.member";
        e.sender = who;
        e.event_id = "$m";
        e.state_key = who;
        e.ts = 1;
        e.content = c;
        r = c ? mx_track_state(m, rm, &e) : GV_ENOMEM;
        check(r == GV_OK, "members: state event tracked", "%s", gv_strerror(r));
        cJSON_Delete(c);
}

static const char *named(struct mx *m, const char *name)
{
        static struct names n;

        n.s[0] = '\0';
        if (gv_store_members_named(m->s, "!r:x", name, on_member, &n) != GV_OK)
                return "(error)";
        return n.s;
}

static void test_members(void)
{
        struct gv_config *cfg = NULL;
        struct mx m;
        struct room *rm;

        memset(&m, 0, sizeof(m));
        if (gv_config_defaults(&cfg) != GV_OK || gv_store_open(":memory:", &m.s) != GV_OK) {
                check(false, "members: fixture", "cannot open");
                gv_config_free(cfg);
                return;
        }
        m.cfg = cfg;
        rm = mx_room_get(&m, "!r:x");
        if (rm) {
                member_event(&m, rm, "{\"membership\":\"join\",\"displayname\":\"Alice L\"}",
                             "@alice:good.org");
                member_event(&m, rm, "{\"membership\":\"join\"}", "@alice:evil.org");
                member_event(&m, rm, "{\"membership\":\"join\",\"displayname\":\"Bobby\"}",
                             "@bob:good.org");
                check(eq(named(&m, "alice"), "@alice:evil.org,@alice:good.org"),
                      "members: joins recorded by localpart", "[%s]", named(&m, "alice"));
                check(eq(named(&m, "alice l"), "@alice:good.org"),
                      "members: display names recorded", "[%s]", named(&m, "alice l"));
                member_event(&m, rm, "{\"membership\":\"leave\"}", "@alice:evil.org");
                member_event(&m, rm, "{\"membership\":\"join\",\"displayname\":\"Robert\"}",
                             "@bob:good.org");
                check(eq(named(&m, "alice"), "@alice:good.org"), "members: a leave recorded",
                      "[%s]", named(&m, "alice"));
                check(eq(named(&m, "bobby"), "") && eq(named(&m, "robert"), "@bob:good.org"),
                      "members: a new display name replaces the old", "[%s]",
                      named(&m, "robert"));
        } else {
                check(false, "members: room", "out of memory");
        }
        mx_rooms_free(&m);
        gv_store_free(m.s);
        gv_config_free(cfg);
}

/* E2EE parts of a /sync response: to-device events, device lists, counts. */
static void test_e2ee(void)
{
        static const struct {
                const char *json;
                size_t n_td, n_changed, n_left, skipped;
                int64_t otk;
                bool fb_known, fb_unused;
                const char *name;
        } cases[] = {
                { "{\"next_batch\":\"s\",\"to_device\":{\"events\":[{\"type\":\"m.room.encrypted\","
                  "\"sender\":\"@a:x\",\"content\":{\"algorithm\":\"m.olm.v1.curve25519-aes-sha2\"}},"
                  "{\"type\":\"m.room_key_request\",\"sender\":\"@b:x\",\"content\":{}}]},"
                  "\"device_lists\":{\"changed\":[\"@a:x\",\"@c:x\"],\"left\":[\"@d:x\"]},"
                  "\"device_one_time_keys_count\":{\"signed_curve25519\":42},"
                  "\"device_unused_fallback_key_types\":[\"signed_curve25519\"]}",
                  2, 2, 1, 0, 42, true, true, "everything" },
                { "{\"next_batch\":\"s\"}", 0, 0, 0, 0, -1, false, false, "nothing: counts unknown" },
                { "{\"next_batch\":\"s\",\"device_unused_fallback_key_types\":[],"
                  "\"device_one_time_keys_count\":{}}",
                  0, 0, 0, 0, -1, true, false, "no fallback key unused, no count" },
                { "{\"next_batch\":\"s\",\"to_device\":{\"events\":[{\"type\":\"x\"},"
                  "{\"sender\":\"@a:x\",\"content\":{}},{\"type\":\"x\",\"sender\":\"@a:x\","
                  "\"content\":[]},7]},\"device_lists\":{\"changed\":[7,\"\",\"a\",null,"
                  "\"@ok:x\"],\"left\":{}},\"device_one_time_keys_count\":{\"signed_curve25519\":"
                  "-3},\"device_unused_fallback_key_types\":\"signed_curve25519\"}",
                  0, 1, 0, 8, -1, false, false, "malformed: skipped and counted" },
                { "{\"next_batch\":\"s\",\"to_device\":[],\"device_lists\":[],"
                  "\"device_one_time_keys_count\":{\"signed_curve25519\":1.5}}",
                  0, 0, 0, 0, -1, false, false, "wrong shapes are absent" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct gv_sync *s = NULL;
                enum gv_err r = gv_sync_parse(cases[i].json, strlen(cases[i].json), &s);

                check(r == GV_OK && s && s->n_to_device == cases[i].n_td &&
                      s->n_dl_changed == cases[i].n_changed && s->n_dl_left == cases[i].n_left &&
                      s->skipped == cases[i].skipped &&
                      s->otk_signed_curve25519 == cases[i].otk &&
                      s->fallback_known == cases[i].fb_known &&
                      s->fallback_unused == cases[i].fb_unused,
                      cases[i].name, "%s: %zu to-device, %zu changed, %zu left, %zu skipped, "
                      "otk %lld, fallback %d/%d", gv_strerror(r), s ? s->n_to_device : 0,
                      s ? s->n_dl_changed : 0, s ? s->n_dl_left : 0, s ? s->skipped : 0,
                      s ? (long long)s->otk_signed_curve25519 : 0LL, s ? s->fallback_known : 0,
                      s ? s->fallback_unused : 0);
                if (s && i == 0)
                        check(eq(s->to_device[0].type, "m.room.encrypted") &&
                              eq(s->to_device[0].sender, "@a:x") && !s->to_device[0].event_id &&
                              s->to_device[0].json && eq(s->dl_changed[1], "@c:x") &&
                              eq(s->dl_left[0], "@d:x"),
                              "to-device event and user IDs read", "wrong values");
                gv_sync_free(s);
        }
}

/* A response split (gv_sync_split) and its slices parsed: the same rooms,
 * events and next_batch as the whole parsed at once; a text the scan does
 * not find its way in is GV_ENOTFOUND (the caller parses the whole). */
static void test_split(void)
{
        static const char json[] =
                "{ \"next_batch\" : \"s9\", \"rooms\": {\"invite\":{}, \"join\" : {"
                "\"!a:x\":{\"timeline\":{\"events\":[{\"type\":\"m.room.message\",\"sender\":\"@a:x\","
                "\"event_id\":\"$1\",\"content\":{\"body\":\"}{ \\\" ]\",\"msgtype\":\"m.text\"}}]}},"
                "\"!b:x\" : {\"timeline\":{\"events\":[{\"type\":\"m.room.message\",\"sender\":\"@b:x\","
                "\"event_id\":\"$2\",\"origin_server_ts\":5,\"content\":{\"body\":\"x\"}}],"
                "\"limited\":false}},"
                "\"!c:x\":{\"state\":{\"events\":[]},\"timeline\":{\"events\":[]}}},"
                "\"leave\":{}}, \"to_device\":{\"events\":[{\"type\":\"m.x\",\"sender\":\"@d:x\","
                "\"content\":{}}]}}";
        static const char *const bad[] = {
                "{\"next_batch\":\"s\"}",
                "{\"next_batch\":\"s\",\"rooms\":{\"leave\":{}}}",
                "{\"rooms\":{\"join\":{\"!a:x\":}}}",
                "{\"rooms\":{\"join\":{\"!a:x\":{\"t\":\"unterminated}}}}",
                "{\"rooms\":{\"join\":{\"!a:x\" {}}}}",
                "[1,2]",
                "",
        };
        static const char bad_room[] = "{\"rooms\":{\"join\":{\"!a:x\":{\"t\":}}}}";
        struct gv_sync_span *spans = NULL;
        struct gv_sync *sk = NULL, *s1 = NULL, *s2 = NULL;
        char *skeleton = NULL;
        size_t n = 0, sk_len = 0;
        enum gv_err r = gv_sync_split(json, strlen(json), &spans, &n, &skeleton, &sk_len);

        check(r == GV_OK && n == 3 && skeleton && strlen(skeleton) == sk_len, "split: 3 joined rooms",
              "%s, %zu rooms", gv_strerror(r), n);
        if (r != GV_OK || n != 3)
                return;
        check(strncmp(json + spans[1].off, "\"!b:x\" : {", 10) == 0 &&
              json[spans[1].off + spans[1].len - 1] == '}',
              "split: a room's span is its key and value", "%s",
              shown(json + spans[1].off, spans[1].len));
        r = gv_sync_parse(skeleton, sk_len, &sk);
        check(r == GV_OK && sk && sk->n_rooms == 0 && eq(sk->next_batch, "s9") &&
              sk->n_to_device == 1, "split: the skeleton keeps all but the joined rooms",
              "%s: %s", gv_strerror(r), skeleton);
        r = gv_sync_parse_slice(json, spans, 2, &s1);
        if (r == GV_OK)
                r = gv_sync_parse_slice(json, spans + 2, 1, &s2);
        check(r == GV_OK && s1 && s2 && s1->n_rooms == 2 && s2->n_rooms == 1 &&
              eq(s1->rooms[0].room_id, "!a:x") && s1->rooms[0].n_timeline == 1 &&
              eq(gv_js_str(s1->rooms[0].timeline[0].content, "body"), "}{ \" ]") &&
              eq(s1->rooms[1].room_id, "!b:x") && s1->rooms[1].timeline[0].ts == 5 &&
              eq(s2->rooms[0].room_id, "!c:x") && s2->rooms[0].n_timeline == 0,
              "split: slices parse to the rooms and events", "%s", gv_strerror(r));
        gv_sync_free(sk);
        gv_sync_free(s1);
        gv_sync_free(s2);
        free(spans);
        free(skeleton);
        /* the scan checks the nesting only: the rest is the slice's parse */
        r = gv_sync_split(bad_room, strlen(bad_room), &spans, &n, &skeleton, &sk_len);
        if (r == GV_OK)
                r = gv_sync_parse_slice(bad_room, spans, n, &s1);
        check(r == GV_EPARSE, "split: a bad room is an error of its slice", "%s", gv_strerror(r));
        free(spans);
        free(skeleton);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                r = gv_sync_split(bad[i], strlen(bad[i]), &spans, &n, &skeleton, &sk_len);
                check(r == GV_ENOTFOUND && !spans && !skeleton, "split: not found in a bad text",
                      "%s: %s", shown(bad[i], strlen(bad[i])), gv_strerror(r));
                free(spans);
                free(skeleton);
        }
}

int main(void)
{
        test_split();
        test_e2ee();
        test_content();
        test_initial();
        test_relations();
        test_reactions();
        test_bad();
        test_pruned();
        test_messages();
        test_members();
        return check_finish();
}
