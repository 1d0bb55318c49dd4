/* bridge/matrix_rooms.c - what gavel knows of its rooms (power levels,
 * when it joined, kept in the store), invites and whom to accept them from,
 * and one timeline event on its way to gv_handle(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../handlers/handlers.h"
#include "../store/store.h"
#include "../util/log.h"
#include "../util/text.h"
#include "../util/json.h"
#include "matrix_internal.h"
#include "sync.h"

/* ---- rooms: power levels, when we joined ---- */

struct room *mx_room_get(struct mx *m, const char *id)
{
        struct room *r;
        char key[600], *v = NULL;
        uint64_t n;

        for (r = m->rooms; r; r = r->next)
                if (strcmp(r->id, id) == 0)
                        return r;
        r = calloc(1, sizeof(*r));
        if (!r || !(r->id = strdup(id))) {
                free(r);
                return NULL;
        }
        snprintf(key, sizeof(key), "room:%s:power", id);
        if (gv_store_kv_get(m->s, key, &v) == GV_OK && v)
                r->power = cJSON_Parse(v);
        free(v);
        v = NULL;
        snprintf(key, sizeof(key), "room:%s:joined", id);
        if (gv_store_kv_get(m->s, key, &v) == GV_OK && v && gv_parse_u64(v, INT64_MAX, &n) == GV_OK)
                r->joined_at = (int64_t)n;
        free(v);
        r->next = m->rooms;
        m->rooms = r;
        return r;
}

void mx_rooms_free(struct mx *m)
{
        while (m->rooms) {
                struct room *r = m->rooms;

                m->rooms = r->next;
                cJSON_Delete(r->power);
                free(r->id);
                free(r);
        }
}

/* Forgets the cached rooms: after a rollback the store is the truth. */
void mx_rooms_forget(struct mx *m)
{
        mx_rooms_free(m);
}

static enum gv_err room_set(struct mx *m, const char *id, const char *what, const char *value)
{
        char key[600];

        snprintf(key, sizeof(key), "room:%s:%s", id, what);
        return gv_store_kv_set(m->s, key, value);
}

enum gv_err mx_track_state(struct mx *m, struct room *rm, const struct gv_sync_event *e)
{
        char *text;
        enum gv_err r = GV_OK;

        if (!e->state_key)
                return GV_OK;
        if (strcmp(e->type, "m.room.power_levels") == 0 && !*e->state_key) {
                text = cJSON_PrintUnformatted(e->content);
                if (!text)
                        return GV_ENOMEM;
                r = room_set(m, rm->id, "power", text);
                cJSON_free(text);
                cJSON_Delete(rm->power);
                rm->power = cJSON_Duplicate(e->content, 1);
                return r;
        }
        if (strcmp(e->type, "m.room.member") == 0 && strcmp(e->state_key, m->cfg->user_id) == 0) {
                const char *ms = gv_js_str(e->content, "membership");
                char ts[24];

                if (ms && strcmp(ms, "join") == 0 && (!rm->joined_at || e->ts > rm->joined_at) &&
                    e->ts) {
                        rm->joined_at = e->ts;
                        snprintf(ts, sizeof(ts), "%lld", (long long)e->ts);
                        r = room_set(m, rm->id, "joined", ts);
                } else if (ms && (strcmp(ms, "leave") == 0 || strcmp(ms, "ban") == 0)) {
                        if (strcmp(e->sender, m->cfg->user_id) == 0)
                                gv_info("matrix", "left %s", rm->id);
                        else
                                gv_warn("matrix", "%s from %s by %s", ms[0] == 'b' ? "banned" :
                                        "removed", rm->id, e->sender);
                }
        }
        return r;
}

/* ---- timeline events and invites ---- */

enum gv_err mx_handle_timeline_event(struct mx *m, struct room *rm,
                                         const struct gv_sync_event *e, bool history)
{
        const char *mentions[GV_SYNC_MAX_MENTIONS];
        struct gv_event ev;
        enum gv_err r;

        if (e->state_key)
                return mx_track_state(m, rm, e);
        if (e->ts > rm->last_ts)
                rm->last_ts = e->ts;
        if (history) {
                /* first start: old messages stay old, and count as seen, so that
                 * no later gap filling goes back to them */
                bool fresh;

                return gv_store_event_claim(m->s, e->event_id, e->ts, &fresh);
        }
        if (strcmp(e->sender, m->cfg->user_id) == 0)
                return GV_OK;                   /* never our own */
        if (rm->joined_at && e->ts && e->ts < rm->joined_at)
                return GV_OK;                   /* from before we joined */
        r = gv_sync_event_to_gv(e, rm->id, gv_sync_power_of(rm->power, e->sender), mentions, &ev);
        if (r == GV_ENOTFOUND)
                return GV_OK;
        if (r)
                return r;
        return gv_handle(m->core, &ev);
}

static bool invite_allowed(const struct gv_config *cfg, const char *room, const char *inviter)
{
        const char *server = inviter ? strchr(inviter, ':') : NULL;

        for (size_t i = 0; i < cfg->n_allow_invites_from; i++) {
                const char *a = cfg->allow_invites_from[i];

                if ((inviter && strcmp(a, inviter) == 0) || strcmp(a, room) == 0 ||
                    (server && a[0] == ':' && strcmp(a, server) == 0))
                        return true;
        }
        return false;
}

enum gv_err mx_handle_invite(struct mx *m, const struct gv_sync_room *sr)
{
        const char *inviter = NULL;
        bool ok;

        for (size_t i = 0; i < sr->n_state; i++) {
                const struct gv_sync_event *e = &sr->state[i];

                if (e->state_key && strcmp(e->type, "m.room.member") == 0 &&
                    strcmp(e->state_key, m->cfg->user_id) == 0)
                        inviter = e->sender;
        }
        ok = invite_allowed(m->cfg, sr->room_id, inviter);
        if (ok)
                gv_info("matrix", "invited to %s by %s: joining", sr->room_id,
                        inviter ? inviter : "?");
        else
                gv_warn("matrix", "invite to %s by %s declined: not in allow_invites_from",
                        sr->room_id, inviter ? inviter : "an unknown user");
        return gv_store_outbox_add(m->s, ok ? GV_OUT_JOIN : GV_OUT_LEAVE, sr->room_id, "", NULL, NULL,
                                   mx_wall_ms());
}
