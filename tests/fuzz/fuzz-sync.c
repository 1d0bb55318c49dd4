/* tests/fuzz/fuzz-sync.c - /sync and /messages responses: parse, walk every
 * room and event, turn every timeline event into a handlers' event. */
#include <stdlib.h>
#include <string.h>

#include "../../bridge/sync.h"
#include "fuzz.h"

static void walk(const struct gv_sync *s)
{
        const char *mentions[GV_SYNC_MAX_MENTIONS];
        struct gv_event ev;

        for (size_t i = 0; i < s->n_rooms; i++) {
                const struct gv_sync_room *r = &s->rooms[i];

                if (strlen(r->room_id) == 0 || r->room_id[0] != '!')
                        __builtin_trap();
                for (size_t j = 0; j < r->n_state; j++)
                        (void)gv_sync_power_of(r->state[j].content, r->state[j].sender);
                for (size_t j = 0; j < r->n_timeline; j++) {
                        if (!r->timeline[j].event_id || !r->timeline[j].content)
                                __builtin_trap();
                        if (gv_sync_event_to_gv(&r->timeline[j], r->room_id, 0, mentions, &ev) ==
                            GV_OK) {
                                if (ev.n_mentions > GV_SYNC_MAX_MENTIONS || !ev.body ||
                                    strlen(ev.body) != ev.body_len)
                                        __builtin_trap();
                                /* a reaction: a key in bounds on an event ID */
                                if (!ev.reaction_key != !ev.relates_to ||
                                    (ev.reaction_key &&
                                     (!*ev.reaction_key ||
                                      strlen(ev.reaction_key) > GV_SYNC_MAX_REACTION_KEY ||
                                      ev.relates_to[0] != '$')))
                                        __builtin_trap();
                        }
                }
        }
        for (size_t j = 0; j < s->n_to_device; j++)
                if (!s->to_device[j].type || !s->to_device[j].sender ||
                    !cJSON_IsObject(s->to_device[j].content) || !s->to_device[j].json)
                        __builtin_trap();
        for (size_t j = 0; j < s->n_dl_changed; j++)
                if (s->dl_changed[j][0] != '@')
                        __builtin_trap();
        for (size_t j = 0; j < s->n_dl_left; j++)
                if (s->dl_left[j][0] != '@')
                        __builtin_trap();
        if (s->n_dl_changed > GV_SYNC_MAX_USERS || s->n_dl_left > GV_SYNC_MAX_USERS ||
            (s->fallback_unused && !s->fallback_known))
                __builtin_trap();
        for (size_t j = 0; j < s->n_chunk; j++)
                if (gv_sync_event_to_gv(&s->chunk[j], "!r:x", 0, mentions, &ev) == GV_OK &&
                    !ev.body)
                        __builtin_trap();
}

/* The split of a big initial sync: spans inside the text, each slice of
 * joined rooms parsed as the whole would be. */
static void split(const char *json, size_t len)
{
        struct gv_sync_span *spans = NULL;
        struct gv_sync *s = NULL;
        char *skeleton = NULL;
        size_t n = 0, sk_len = 0;

        if (gv_sync_split(json, len, &spans, &n, &skeleton, &sk_len) != GV_OK)
                return;
        if (!skeleton || strlen(skeleton) != sk_len || sk_len > len + 2)
                __builtin_trap();
        for (size_t i = 0; i < n; i++)
                if (spans[i].off >= len || spans[i].len > len - spans[i].off ||
                    json[spans[i].off] != '"')
                        __builtin_trap();
        if (gv_sync_parse(skeleton, sk_len, &s) == GV_OK) {
                walk(s);
                gv_sync_free(s);
        }
        for (size_t i = 0; i < n; i += 2) {
                if (gv_sync_parse_slice(json, spans + i, n - i < 2 ? n - i : 2, &s) == GV_OK) {
                        walk(s);
                        gv_sync_free(s);
                }
        }
        free(spans);
        free(skeleton);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct gv_sync *s = NULL;

        if (gv_sync_parse((const char *)data, size, &s) == GV_OK) {
                if (!s->next_batch)
                        __builtin_trap();
                walk(s);
                gv_sync_free(s);
        }
        if (gv_sync_parse_messages((const char *)data, size, &s) == GV_OK) {
                walk(s);
                gv_sync_free(s);
        }
        split((const char *)data, size);
        return 0;
}
