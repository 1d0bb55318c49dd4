/* store/lines.c - every line said during a meeting: logging, edits,
 * redactions, who spoke how often. See store.h. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum gv_err gv_store_line_add(struct gv_store *s, int64_t meeting, int64_t ts, const char *nick,
                              const char *text, bool action, const char *event_id)
{
        return gv_store_line_add_from(s, meeting, ts, nick, text, action, event_id, NULL);
}

enum gv_err gv_store_line_add_from(struct gv_store *s, int64_t meeting, int64_t ts,
                                   const char *nick, const char *text, bool action,
                                   const char *event_id, const char *sender)
{
        sqlite3_stmt *st = store_stmt(s, S_LINE_ADD);

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bi(st, 2, ts);
        bt(st, 3, nick);
        bt(st, 4, text);
        bi(st, 5, action ? 1 : 0);
        bt(st, 6, event_id);
        bt(st, 7, sender);
        return store_exec_done(s, st);
}

void gv_line_clear(struct gv_line *l)
{
        free(l->nick);
        free(l->sender);
        free(l->text);
        memset(l, 0, sizeof(*l));
}

void gv_lines_free(struct gv_line *lines, size_t n)
{
        for (size_t i = 0; i < n; i++)
                gv_line_clear(&lines[i]);
        free(lines);
}

static enum gv_err read_line_rec(sqlite3_stmt *st, void *rec)
{
        struct gv_line *l = rec;

        memset(l, 0, sizeof(*l));
        l->id = sqlite3_column_int64(st, 0);
        l->meeting = sqlite3_column_int64(st, 1);
        l->nick = col_dup(st, 2);
        l->sender = col_dup(st, 3);
        l->text = col_dup(st, 4);
        l->action = sqlite3_column_int(st, 5) != 0;
        l->redacted = sqlite3_column_int(st, 6) != 0;
        if (!l->nick || !l->text || (!l->sender && sqlite3_column_type(st, 3) != SQLITE_NULL)) {
                gv_line_clear(l);
                return GV_ENOMEM;
        }
        return GV_OK;
}

static void clear_line_rec(void *rec)
{
        gv_line_clear(rec);
}

enum gv_err gv_store_lines_by_event(struct gv_store *s, const char *room, const char *event_id,
                                    struct gv_line **lines, size_t *n)
{
        sqlite3_stmt *st = store_stmt(s, S_LINES_EVENT);
        void *v = NULL;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = store_read_rows(s, st, sizeof(**lines), read_line_rec, clear_line_rec, &v, n);
        if (r == GV_OK)
                *lines = v;
        return r;
}

enum gv_err gv_store_line_set_text(struct gv_store *s, int64_t id, const char *text, bool *changed)
{
        enum gv_err r = store_id_text(s, S_LINE_TEXT, id, text);

        if (r == GV_OK && changed)
                *changed = sqlite3_changes(s->db) > 0;
        return r;
}

enum gv_err gv_store_line_delete(struct gv_store *s, int64_t id)
{
        sqlite3_stmt *st = store_stmt(s, S_LINE_DEL);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        return store_exec_done(s, st);
}

enum gv_err gv_store_lines_redact(struct gv_store *s, const char *room, const char *event_id,
                                  size_t *n)
{
        sqlite3_stmt *st = store_stmt(s, S_LINES_REDACT);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = store_exec_done(s, st);
        if (r == GV_OK && n)
                *n = (size_t)sqlite3_changes(s->db);
        return r;
}

enum gv_err gv_store_lines(struct gv_store *s, int64_t meeting,
                           int (*cb)(void *ud, int64_t ts, const char *nick, const char *text,
                                     bool action),
                           void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_LINES);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        while ((r = store_step_row(s, st)) == GV_OK) {
                if (cb(ud, sqlite3_column_int64(st, 0), col_str(st, 1), col_str(st, 2),
                       sqlite3_column_int(st, 3) != 0)) {
                        sqlite3_reset(st);
                        return GV_OK;
                }
        }
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_line_counts(struct gv_store *s, int64_t meeting,
                                 void (*cb)(void *ud, const char *nick, int64_t n), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_COUNTS);

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        return store_each_count(s, st, cb, ud);
}
