/* store/outbox.c - the outbox: rows waiting to be delivered, oldest first.
 * See store.h. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void gv_out_clear(struct gv_out *o)
{
        free(o->kind);
        free(o->room);
        free(o->body);
        free(o->html);
        free(o->extra);
        memset(o, 0, sizeof(*o));
}

enum gv_err gv_store_outbox_add(struct gv_store *s, const char *kind, const char *room,
                                const char *body, const char *html, const char *extra, int64_t ts)
{
        sqlite3_stmt *st = store_stmt(s, S_O_ADD);

        if (!st)
                return GV_EDB;
        bt(st, 1, kind);
        bt(st, 2, room);
        bt(st, 3, body);
        bt(st, 4, html);
        bt(st, 5, extra);
        bi(st, 6, ts);
        return store_exec_done(s, st);
}

enum gv_err gv_store_outbox_next(struct gv_store *s, int64_t after, struct gv_out *out)
{
        sqlite3_stmt *st = store_stmt(s, S_O_NEXT);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, after);
        r = store_step_row(s, st);
        if (r)
                return r;
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(st, 0);
        out->kind = col_dup(st, 1);
        out->room = col_dup(st, 2);
        out->body = col_dup(st, 3);
        out->html = col_dup(st, 4);
        out->extra = col_dup(st, 5);
        sqlite3_reset(st);
        if (!out->kind || !out->room || !out->body) {
                gv_out_clear(out);
                return GV_ENOMEM;
        }
        return GV_OK;
}

enum gv_err gv_store_outbox_sent(struct gv_store *s, int64_t id, int64_t ts)
{
        return store_set_int(s, S_O_SENT, id, ts);
}
