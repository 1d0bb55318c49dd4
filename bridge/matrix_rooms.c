/* bridge/matrix_rooms.c - what gavel knows of its rooms (power levels,
 * when it joined, its members, kept in the store), invites and whom to
 * accept them from, and one timeline event on its way to gv_handle(). What is
 * known of a room lives in the store's rooms and members tables
 * (gv_store_room_*, gv_store_member_*); struct room caches it. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../handlers/handlers.h"
#include "../handlers/parse.h"
#include "../store/store.h"
#include "../util/log.h"
#include "../util/json.h"
#include "matrix_internal.h"
#include "sync.h"

/* ---- rooms: power levels, when we joined, encryption, the last event ---- */

static void room_free(struct room *r)
{
        cJSON_Delete(r->power);
        cJSON_Delete(r->enc);
        free(r->last_event);
        free(r->id);
        free(r);
}

struct room *mx_room_get(struct mx *m, const char *id)
{
        struct room *r, **pp;
        struct gv_room row;
        enum gv_err e;

        /* most recently used first: the rooms that talk are found at once
         * among thousands (mx_rooms_trim() keeps the list short between
         * batches) */
        for (pp = &m->rooms; (r = *pp); pp = &r->next)
                if (strcmp(r->id, id) == 0) {
                        *pp = r->next;
                        r->next = m->rooms;
                        m->rooms = r;
                        return r;
                }
        r = calloc(1, sizeof(*r));
        if (!r || !(r->id = strdup(id))) {
                free(r);
                return NULL;
        }
        memset(&row, 0, sizeof(row));
        e = gv_store_room_get(m->s, id, &row);
        if (e == GV_OK) {
                r->power = row.power_levels ? cJSON_Parse(row.power_levels) : NULL;
                r->joined_at = row.joined_at;
                r->encrypted = row.encryption != NULL;
                r->enc = row.encryption ? cJSON_Parse(row.encryption) : NULL;
                r->last_event = row.last_event;
                row.last_event = NULL;
                r->last_ts = row.last_ts;
                gv_room_clear(&row);
        } else if (e != GV_ENOTFOUND) {
                room_free(r);
                return NULL;
        }
        r->next = m->rooms;
        m->rooms = r;
        return r;
}

void mx_rooms_free(struct mx *m)
{
        while (m->rooms) {
                struct room *r = m->rooms;

                m->rooms = r->next;
                room_free(r);
        }
}

void mx_rooms_trim(struct mx *m, size_t keep)
{
        struct room **pp = &m->rooms, *r;
        size_t freed = 0;

        for (size_t n = 0; *pp && n < keep; n++)
                pp = &(*pp)->next;
        while ((r = *pp)) {
                *pp = r->next;
                room_free(r);
                freed++;
        }
        /* after an initial sync of thousands of rooms: give the pages back */
        if (freed > keep)
                malloc_trim(0);
}

/* Forgets the cached rooms: after a rollback the store is the truth. */
void mx_rooms_forget(struct mx *m)
{
        mx_rooms_free(m);
}

/* An event the handlers claimed (the processed table) stops a gap by itself
 * (known() in matrix_sync.c): the room's last event is written only when it
 * is one they did not (our own, a state event, history, ...), so that a
 * batch of messages does not dirty a page of the rooms table as well. */
enum gv_err mx_room_set_last(struct mx *m, struct room *rm, const struct gv_sync_event *e)
{
        char *id;
        bool claimed = false;
        enum gv_err r = gv_store_event_seen(m->s, e->event_id, &claimed);

        if (r || claimed)
                return r;
        id = strdup(e->event_id);
        if (!id)
                return GV_ENOMEM;
        r = gv_store_room_set_last_event(m->s, rm->id, e->event_id, e->ts);
        if (r) {
                free(id);
                return r;
        }
        free(rm->last_event);
        rm->last_event = id;
        rm->last_ts = e->ts;
        return GV_OK;
}

enum gv_err mx_track_state(struct mx *m, struct room *rm, const struct gv_sync_event *e)
{
        char *text;
        enum gv_err r = GV_OK;

        if (!e->state_key)
                return GV_OK;
        if (strcmp(e->type, "m.room.canonical_alias") == 0 && !*e->state_key)
                return mx_track_aliases(m, rm, e);
        if ((strcmp(e->type, "m.room.power_levels") == 0 ||
             strcmp(e->type, "m.room.encryption") == 0) && !*e->state_key) {
                bool power = e->type[7] == 'p';

                text = cJSON_PrintUnformatted(e->content);
                if (!text)
                        return GV_ENOMEM;
                r = power ? gv_store_room_set_power_levels(m->s, rm->id, text) :
                            gv_store_room_set_encryption(m->s, rm->id, text);
                cJSON_free(text);
                if (r)
                        return r;
                if (power) {
                        cJSON_Delete(rm->power);
                        rm->power = cJSON_Duplicate(e->content, 1);
                } else {
                        bool was = rm->encrypted;

                        rm->encrypted = true;
                        cJSON_Delete(rm->enc);
                        rm->enc = cJSON_Duplicate(e->content, 1);
                        if (!was)
                                gv_info("e2ee", "%s is encrypted", rm->id);
                        return mx_e2ee_member(m, rm, NULL, NULL);
                }
                return GV_OK;
        }
        if (strcmp(e->type, "m.room.member") == 0 && e->state_key[0] == '@' &&
            strlen(e->state_key) <= GV_SENDER_MAX) {
                /* every member, for #chair by nick or display name */
                const char *ms = gv_js_str(e->content, "membership");
                char nick[GV_SENDER_MAX + 1];

                gv_nick_of(e->state_key, nick, sizeof(nick));
                r = gv_store_member_set(m->s, rm->id, e->state_key, nick,
                                        gv_js_str(e->content, "displayname"), ms ? ms : "leave");
                if (r == GV_OK && rm->encrypted)
                        r = mx_e2ee_member(m, rm, e->state_key, ms ? ms : "leave");
                if (r)
                        return r;
        }
        if (strcmp(e->type, "m.room.member") == 0 && strcmp(e->state_key, m->cfg->user_id) == 0) {
                const char *ms = gv_js_str(e->content, "membership");

                if (ms && strcmp(ms, "join") == 0 && (!rm->joined_at || e->ts > rm->joined_at) &&
                    e->ts) {
                        r = gv_store_room_set_joined(m->s, rm->id, e->ts);
                        if (r == GV_OK)
                                rm->joined_at = e->ts;
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
        if (history)
                return GV_OK;   /* first start: old messages stay old; the room's last
                                 * event (set after the batch) keeps gap filling off them */
        if (strcmp(e->sender, m->cfg->user_id) == 0)
                return GV_OK;                   /* never our own */
        if (rm->joined_at && e->ts && e->ts < rm->joined_at)
                return GV_OK;                   /* from before we joined */
        if (strcmp(e->type, "m.room.encrypted") == 0)
                return mx_e2ee_timeline(m, rm, e);      /* back here decrypted */
        r = gv_sync_event_to_gv(e, rm->id, gv_sync_power_of(rm->power, e->sender), mentions, &ev);
        if (r == GV_ENOTFOUND) {
                if (strcmp(e->type, "m.reaction") == 0)
                        gv_debug("matrix", "%s: reaction %s from %s ignored: not an m.annotation "
                                 "with a key and an event ID", rm->id, e->event_id, e->sender);
                return GV_OK;
        }
        if (r)
                return r;
        if (strlen(e->sender) <= GV_SENDER_MAX) {
                /* whoever speaks is joined (members from before a lazy sync) */
                char nick[GV_SENDER_MAX + 1];

                gv_nick_of(e->sender, nick, sizeof(nick));
                r = gv_store_member_seen(m->s, rm->id, e->sender, nick);
                if (r)
                        return r;
        }
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
