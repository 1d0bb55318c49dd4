/* tests/fuzz/fuzz-sync.c - /sync and /messages responses: parse, walk every
 * room and event, turn every timeline event into a handlers' event. */
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
        return 0;
}
