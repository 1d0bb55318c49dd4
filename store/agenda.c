/* store/agenda.c - agenda items: adding, reading, editing, ordering, and
 * closing them after a meeting. See store.h. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void gv_item_clear(struct gv_item *it)
{
        free(it->agenda);
        free(it->description);
        free(it->reporter);
        free(it->mentions);
        free(it->room);
        free(it->event_id);
        memset(it, 0, sizeof(*it));
}

void gv_items_free(struct gv_item *items, size_t n)
{
        for (size_t i = 0; i < n; i++)
                gv_item_clear(&items[i]);
        free(items);
}

static enum gv_err read_item(sqlite3_stmt *st, struct gv_item *it)
{
        memset(it, 0, sizeof(*it));
        it->id = sqlite3_column_int64(st, 0);
        it->agenda = col_dup(st, 1);
        it->description = col_dup(st, 2);
        it->reporter = col_dup(st, 3);
        it->mentions = col_dup(st, 4);
        it->room = col_dup(st, 5);
        it->event_id = col_dup(st, 6);
        it->created = sqlite3_column_int64(st, 7);
        it->position = sqlite3_column_int64(st, 8);
        it->pinned = sqlite3_column_int(st, 9) != 0;
        it->status = (enum gv_item_status)sqlite3_column_int(st, 10);
        it->discussed_in = sqlite3_column_int64(st, 11);
        if (!it->agenda || !it->description || !it->reporter || !it->mentions || !it->room ||
            (!it->event_id && sqlite3_column_type(st, 6) != SQLITE_NULL)) {
                gv_item_clear(it);
                return GV_ENOMEM;
        }
        return GV_OK;
}

enum gv_err gv_store_item_add(struct gv_store *s, const struct gv_item *it, int64_t *id)
{
        sqlite3_stmt *st;
        int64_t pos;
        enum gv_err r;

        if (it->event_id) {
                st = store_stmt(s, S_ITEM_BY_EVENT);
                if (!st)
                        return GV_EDB;
                bt(st, 1, it->event_id);
                r = store_step_row(s, st);
                if (r == GV_OK) {
                        *id = sqlite3_column_int64(st, 0);
                        sqlite3_reset(st);
                        return GV_OK;
                }
                if (r != GV_ENOTFOUND)
                        return r;
        }
        st = store_stmt(s, S_ITEM_MAXPOS);
        if (!st)
                return GV_EDB;
        bt(st, 1, it->agenda);
        r = store_step_row(s, st);
        if (r)
                return r == GV_ENOTFOUND ? GV_EDB : r;
        pos = sqlite3_column_int64(st, 0) + 1;
        sqlite3_reset(st);

        st = store_stmt(s, S_ITEM_ADD);
        if (!st)
                return GV_EDB;
        bt(st, 1, it->agenda);
        bt(st, 2, it->description);
        bt(st, 3, it->reporter);
        bt(st, 4, it->mentions ? it->mentions : "");
        bt(st, 5, it->room);
        bt(st, 6, it->event_id);
        bi(st, 7, it->created);
        bi(st, 8, pos);
        bi(st, 9, it->pinned ? 1 : 0);
        r = store_exec_done(s, st);
        if (r)
                return r;
        *id = sqlite3_last_insert_rowid(s->db);
        return GV_OK;
}

enum gv_err gv_store_item_get(struct gv_store *s, int64_t id, struct gv_item *out)
{
        sqlite3_stmt *st = store_stmt(s, S_ITEM_GET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        r = store_step_row(s, st);
        if (r)
                return r;
        r = read_item(st, out);
        sqlite3_reset(st);
        return r;
}

enum gv_err gv_store_item_by_event(struct gv_store *s, const char *room, const char *event_id,
                                   struct gv_item *out)
{
        sqlite3_stmt *st = store_stmt(s, S_ITEM_GET_EVENT);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = store_step_row(s, st);
        if (r)
                return r;
        r = read_item(st, out);
        sqlite3_reset(st);
        return r;
}

enum gv_err gv_store_item_set_text(struct gv_store *s, int64_t id, const char *description,
                                   const char *mentions)
{
        sqlite3_stmt *st = store_stmt(s, S_ITEM_TEXT);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        bt(st, 2, description);
        bt(st, 3, mentions ? mentions : "");
        return store_exec_done(s, st);
}

static enum gv_err read_item_rec(sqlite3_stmt *st, void *rec)
{
        return read_item(st, rec);
}

static void clear_item_rec(void *rec)
{
        gv_item_clear(rec);
}

static enum gv_err read_items(struct gv_store *s, sqlite3_stmt *st, struct gv_item **items,
                              size_t *n)
{
        void *v = NULL;
        enum gv_err r = store_read_rows(s, st, sizeof(**items), read_item_rec, clear_item_rec,
                                        &v, n);

        if (r == GV_OK)
                *items = v;
        return r;
}

enum gv_err gv_store_agenda(struct gv_store *s, const char *agenda, struct gv_item **items, size_t *n)
{
        sqlite3_stmt *st = store_stmt(s, S_AGENDA);

        if (!st)
                return GV_EDB;
        bt(st, 1, agenda);
        return read_items(s, st, items, n);
}

enum gv_err gv_store_items_done(struct gv_store *s, const char *agenda, int64_t limit,
                                struct gv_item **items, size_t *n)
{
        sqlite3_stmt *st = store_stmt(s, S_ITEMS_DONE);

        if (!st)
                return GV_EDB;
        bt(st, 1, agenda);
        bi(st, 2, limit);
        return read_items(s, st, items, n);
}

enum gv_err gv_store_items_discussed(struct gv_store *s, int64_t meeting, struct gv_item **items,
                                     size_t *n)
{
        sqlite3_stmt *st = store_stmt(s, S_DISCUSSED);

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        return read_items(s, st, items, n);
}

enum gv_err gv_store_item_set_status(struct gv_store *s, int64_t id, enum gv_item_status stt)
{
        return store_set_int(s, S_ITEM_STATUS, id, stt);
}

enum gv_err gv_store_item_set_pinned(struct gv_store *s, int64_t id, bool pinned)
{
        return store_set_int(s, S_ITEM_PIN, id, pinned ? 1 : 0);
}

enum gv_err gv_store_item_set_discussed(struct gv_store *s, int64_t id, int64_t meeting)
{
        return store_set_int(s, S_ITEM_DISC, id, meeting);
}

enum gv_err gv_store_item_move(struct gv_store *s, const char *agenda, int64_t id, int64_t before)
{
        struct gv_item *items = NULL;
        size_t n = 0, i;
        int64_t pos = 1;
        enum gv_err r;

        if (id == before)
                return GV_OK;
        r = gv_store_agenda(s, agenda, &items, &n);
        if (r)
                return r;
        /* A `before` not on the agenda means the end. */
        for (i = 0; i < n && items[i].id != before; i++)
                ;
        if (i == n)
                before = 0;
        /* Renumber in shown order, with id placed before `before`. */
        for (i = 0; i < n && r == GV_OK; i++) {
                if (items[i].id == id)
                        continue;
                if (items[i].id == before)
                        r = store_set_int(s, S_ITEM_SETPOS, id, pos++);
                if (r == GV_OK)
                        r = store_set_int(s, S_ITEM_SETPOS, items[i].id, pos++);
        }
        if (r == GV_OK && before == 0)
                r = store_set_int(s, S_ITEM_SETPOS, id, pos++);
        gv_items_free(items, n);
        return r;
}

enum gv_err gv_store_agenda_close_meeting(struct gv_store *s, const char *agenda, int64_t meeting)
{
        sqlite3_stmt *st = store_stmt(s, S_CLOSE_DONE);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, agenda);
        bi(st, 2, meeting);
        r = store_exec_done(s, st);
        if (r)
                return r;
        st = store_stmt(s, S_CLOSE_POSTPONED);
        if (!st)
                return GV_EDB;
        bt(st, 1, agenda);
        return store_exec_done(s, st);
}
