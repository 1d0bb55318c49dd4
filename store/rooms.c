/* store/rooms.c - what the Matrix bridge knows of each room: when gavel
 * joined, the power levels, the encryption settings and the newest timeline
 * event applied (where gap filling stops). See store.h. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void gv_room_clear(struct gv_room *r)
{
        free(r->power_levels);
        free(r->encryption);
        free(r->last_event);
        memset(r, 0, sizeof(*r));
}

enum gv_err gv_store_room_get(struct gv_store *s, const char *room, struct gv_room *out)
{
        sqlite3_stmt *st = store_stmt(s, S_ROOM_GET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        r = store_step_row(s, st);
        if (r)
                return r;
        memset(out, 0, sizeof(*out));
        out->joined_at = sqlite3_column_int64(st, 0);
        out->power_levels = col_dup(st, 1);
        out->encryption = col_dup(st, 2);
        out->last_event = col_dup(st, 3);
        out->last_ts = sqlite3_column_int64(st, 4);
        r = (sqlite3_column_type(st, 1) != SQLITE_NULL && !out->power_levels) ||
            (sqlite3_column_type(st, 2) != SQLITE_NULL && !out->encryption) ||
            (sqlite3_column_type(st, 3) != SQLITE_NULL && !out->last_event) ? GV_ENOMEM : GV_OK;
        sqlite3_reset(st);
        if (r)
                gv_room_clear(out);
        return r;
}

static enum gv_err room_text(struct gv_store *s, enum stmt_id id, const char *room,
                             const char *text)
{
        sqlite3_stmt *st = store_stmt(s, id);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, text);
        return store_exec_done(s, st);
}

enum gv_err gv_store_room_set_power_levels(struct gv_store *s, const char *room, const char *json)
{
        return room_text(s, S_ROOM_POWER, room, json);
}

enum gv_err gv_store_room_set_encryption(struct gv_store *s, const char *room, const char *json)
{
        return room_text(s, S_ROOM_ENC, room, json);
}

enum gv_err gv_store_room_set_joined(struct gv_store *s, const char *room, int64_t ts)
{
        sqlite3_stmt *st = store_stmt(s, S_ROOM_JOINED);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bi(st, 2, ts);
        return store_exec_done(s, st);
}

enum gv_err gv_store_room_set_last_event(struct gv_store *s, const char *room,
                                         const char *event_id, int64_t ts)
{
        sqlite3_stmt *st = store_stmt(s, S_ROOM_LAST);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, event_id);
        bi(st, 3, ts);
        return store_exec_done(s, st);
}

enum gv_err gv_store_alias_set(struct gv_store *s, const char *alias, const char *room_id,
                               int64_t ts)
{
        sqlite3_stmt *st = store_stmt(s, S_ALIAS_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, alias);
        bt(st, 2, room_id);
        sqlite3_bind_int64(st, 3, ts);
        return store_exec_done(s, st);
}

enum gv_err gv_store_alias_get(struct gv_store *s, const char *alias, char **room_id)
{
        sqlite3_stmt *st = store_stmt(s, S_ALIAS_GET);
        enum gv_err r;

        *room_id = NULL;
        if (!st)
                return GV_EDB;
        bt(st, 1, alias);
        r = store_step_row(s, st);
        if (r)
                return r;
        *room_id = col_dup(st, 0);
        sqlite3_reset(st);
        return *room_id ? GV_OK : GV_ENOMEM;
}
