/* store/series.c - meeting series (issue 10): the timers of each
 * occurrence, the release messages, attendance and why items were
 * postponed. See store.h. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum gv_err gv_store_timer_set(struct gv_store *s, const char *series, int64_t occ,
                               enum gv_timer_kind kind, enum gv_timer_state state, int64_t due,
                               int64_t at, bool *fresh)
{
        sqlite3_stmt *st = store_stmt(s, S_TIMER_SET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, series);
        bi(st, 2, occ);
        bi(st, 3, kind);
        bi(st, 4, state);
        bi(st, 5, due);
        bi(st, 6, at);
        r = store_exec_done(s, st);
        if (r == GV_OK && fresh)
                *fresh = sqlite3_changes(s->db) > 0;
        return r;
}

enum gv_err gv_store_timer_get(struct gv_store *s, const char *series, int64_t occ,
                               enum gv_timer_kind kind, bool *recorded,
                               enum gv_timer_state *state)
{
        sqlite3_stmt *st = store_stmt(s, S_TIMER_GET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, series);
        bi(st, 2, occ);
        bi(st, 3, kind);
        r = store_step_row(s, st);
        *recorded = r == GV_OK;
        if (r == GV_OK) {
                if (state)
                        *state = (enum gv_timer_state)sqlite3_column_int(st, 0);
                sqlite3_reset(st);
        }
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_release_add(struct gv_store *s, int64_t row, const char *series, int64_t occ,
                                 const char *room, int64_t ts)
{
        sqlite3_stmt *st = store_stmt(s, S_REL_ADD);

        if (!st)
                return GV_EDB;
        bi(st, 1, row);
        bt(st, 2, series);
        bi(st, 3, occ);
        bt(st, 4, room);
        bi(st, 5, ts);
        return store_exec_done(s, st);
}

enum gv_err gv_store_release_sent(struct gv_store *s, int64_t row, const char *event_id)
{
        return store_id_text(s, S_REL_SENT, row, event_id);
}

/* Statement id's one row for event_id: (series, occurrence). GV_ENOTFOUND
 * when there is none. */
static enum gv_err series_occ_of_event(struct gv_store *s, enum stmt_id id, const char *event_id,
                                       char **series, int64_t *occ)
{
        sqlite3_stmt *st = store_stmt(s, id);
        enum gv_err r;

        *series = NULL;
        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        r = store_step_row(s, st);
        if (r)
                return r;
        *series = col_dup(st, 0);
        *occ = sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        return *series ? GV_OK : GV_ENOMEM;
}

enum gv_err gv_store_release_by_event(struct gv_store *s, const char *event_id, char **series,
                                      int64_t *occ)
{
        return series_occ_of_event(s, S_REL_BY_EVENT, event_id, series, occ);
}

enum gv_err gv_store_release_event(struct gv_store *s, int64_t row, char **event_id,
                                   int64_t *row_out)
{
        sqlite3_stmt *st = store_stmt(s, row ? S_REL_ROW : S_REL_LAST);
        enum gv_err r;

        *event_id = NULL;
        if (!st)
                return GV_EDB;
        if (row)
                bi(st, 1, row);
        r = store_step_row(s, st);
        if (r)
                return r;
        if (row_out)
                *row_out = row ? row : sqlite3_column_int64(st, 0);
        *event_id = col_dup(st, row ? 0 : 1);
        sqlite3_reset(st);
        return *event_id ? GV_OK : GV_ENOMEM;
}

enum gv_err gv_store_released(struct gv_store *s, const char *series, int64_t occ, bool *released)
{
        sqlite3_stmt *st = store_stmt(s, S_REL_ANY);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, series);
        bi(st, 2, occ);
        r = store_step_row(s, st);
        *released = r == GV_OK;
        if (r == GV_OK)
                sqlite3_reset(st);
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_attend_set(struct gv_store *s, const char *series, int64_t occ,
                                const char *user_id, int64_t item, bool coming,
                                const char *event_id, int64_t ts)
{
        sqlite3_stmt *st = store_stmt(s, S_ATT_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, series);
        bi(st, 2, occ);
        bt(st, 3, user_id);
        bi(st, 4, item);
        bi(st, 5, coming ? 1 : 0);
        bt(st, 6, event_id);
        bi(st, 7, ts);
        return store_exec_done(s, st);
}

enum gv_err gv_store_attend_clear(struct gv_store *s, const char *series, int64_t occ,
                                  const char *user_id)
{
        sqlite3_stmt *st = store_stmt(s, S_ATT_DEL_USER);

        if (!st)
                return GV_EDB;
        bt(st, 1, series);
        bi(st, 2, occ);
        bt(st, 3, user_id);
        return store_exec_done(s, st);
}

enum gv_err gv_store_attend_each(struct gv_store *s, const char *series, int64_t occ,
                                 void (*cb)(void *ud, const char *user_id, int64_t item,
                                            bool coming),
                                 void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_ATT_EACH);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, series);
        bi(st, 2, occ);
        while ((r = store_step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0), sqlite3_column_int64(st, 1),
                   sqlite3_column_int(st, 2) != 0);
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_attend_del_event(struct gv_store *s, const char *event_id, char **series,
                                      int64_t *occ)
{
        sqlite3_stmt *st;
        enum gv_err r = series_occ_of_event(s, S_ATT_BY_EVENT, event_id, series, occ);

        if (r == GV_ENOTFOUND)
                return GV_OK;
        if (r)
                return r;
        st = store_stmt(s, S_ATT_DEL_EVENT);
        if (!st) {
                r = GV_EDB;
        } else {
                bt(st, 1, event_id);
                r = store_exec_done(s, st);
        }
        if (r) {
                free(*series);
                *series = NULL;
        }
        return r;
}

enum gv_err gv_store_postponed_get(struct gv_store *s, int64_t item, char **series, int64_t *occ,
                                   char **reason)
{
        sqlite3_stmt *st = store_stmt(s, S_PP_GET);
        enum gv_err r;

        *series = *reason = NULL;
        if (!st)
                return GV_EDB;
        bi(st, 1, item);
        r = store_step_row(s, st);
        if (r)
                return r;
        *series = col_dup(st, 0);
        *occ = sqlite3_column_int64(st, 1);
        *reason = col_dup(st, 2);
        sqlite3_reset(st);
        if (!*series || !*reason) {
                free(*series);
                free(*reason);
                *series = *reason = NULL;
                return GV_ENOMEM;
        }
        return GV_OK;
}

enum gv_err gv_store_postponed_set(struct gv_store *s, int64_t item, const char *series,
                                   int64_t occ, const char *reason)
{
        sqlite3_stmt *st = store_stmt(s, S_PP_SET);

        if (!st)
                return GV_EDB;
        bi(st, 1, item);
        bt(st, 2, series);
        bi(st, 3, occ);
        bt(st, 4, reason);
        return store_exec_done(s, st);
}

enum gv_err gv_store_postponed_del(struct gv_store *s, int64_t item)
{
        sqlite3_stmt *st = store_stmt(s, S_PP_DEL);

        if (!st)
                return GV_EDB;
        bi(st, 1, item);
        return store_exec_done(s, st);
}

enum gv_err gv_store_meeting_started_since(struct gv_store *s, const char *room, const char *room2,
                                           const char *series, int64_t since, bool *started)
{
        sqlite3_stmt *st = store_stmt(s, S_M_SINCE);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, room2 ? room2 : room);
        bi(st, 3, since);
        bt(st, 4, series);
        r = store_step_row(s, st);
        *started = r == GV_OK;
        if (r == GV_OK)
                sqlite3_reset(st);
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_outbox_add_id(struct gv_store *s, enum gv_out_kind kind, const char *room,
                                   const char *body, const char *html, const char *extra,
                                   int64_t ts, int64_t *id)
{
        enum gv_err r = gv_store_outbox_add(s, kind, room, body, html, extra, ts);

        if (r == GV_OK)
                *id = sqlite3_last_insert_rowid(s->db);
        return r;
}
