/* store/outbox.c - the outbox: rows waiting to be delivered, oldest first,
 * each pending or parked. See store.h. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The stored words, indexed by enum gv_out_kind: never change one. */
static const char *const kind_words[GV_OUT__COUNT] = {
        [GV_OUT_MESSAGE] = "message", [GV_OUT_REACTION] = "reaction",
        [GV_OUT_MINUTES] = "minutes", [GV_OUT_FILE] = "file",
        [GV_OUT_JOIN] = "join",       [GV_OUT_LEAVE] = "leave",
        [GV_OUT_WIKI] = "wiki",       [GV_OUT_WEBHOOK] = "webhook",
};

const char *gv_out_kind_name(enum gv_out_kind k)
{
        return (unsigned)k < GV_OUT__COUNT ? kind_words[k] : "unknown";
}

enum gv_out_kind gv_out_kind_parse(const char *word)
{
        for (unsigned k = 0; word && k < GV_OUT__COUNT; k++)
                if (strcmp(kind_words[k], word) == 0)
                        return (enum gv_out_kind)k;
        return GV_OUT_UNKNOWN;
}

void gv_out_clear(struct gv_out *o)
{
        free(o->room);
        free(o->body);
        free(o->html);
        free(o->extra);
        free(o->last_error);
        memset(o, 0, sizeof(*o));
}

enum gv_err gv_store_outbox_add(struct gv_store *s, enum gv_out_kind kind, const char *room,
                                const char *body, const char *html, const char *extra, int64_t ts)
{
        sqlite3_stmt *st;

        if ((unsigned)kind >= GV_OUT__COUNT)
                return GV_EINVAL;
        st = store_stmt(s, S_O_ADD);
        if (!st)
                return GV_EDB;
        bt(st, 1, kind_words[kind]);
        bt(st, 2, room);
        bt(st, 3, body);
        bt(st, 4, html);
        bt(st, 5, extra);
        bi(st, 6, ts);
        s->outbox_adds++;
        return store_exec_done(s, st);
}

uint64_t gv_store_outbox_adds(const struct gv_store *s)
{
        return s->outbox_adds;
}

/* Reads the columns id, kind, room, body, html, extra, state, attempts,
 * last_error, next_at, created; body NULL is read as "" when want_body. */
static enum gv_err read_out(sqlite3_stmt *st, struct gv_out *out, bool want_body)
{
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(st, 0);
        out->kind = gv_out_kind_parse(col_str(st, 1));
        out->room = col_dup(st, 2);
        out->body = want_body ? strdup(col_str(st, 3)) : NULL;
        out->html = col_dup(st, 4);
        out->extra = col_dup(st, 5);
        out->state = sqlite3_column_int(st, 6) ? GV_OUT_PARKED : GV_OUT_PENDING;
        out->attempts = sqlite3_column_int64(st, 7);
        out->last_error = col_dup(st, 8);
        out->next_at = sqlite3_column_int64(st, 9);
        out->created = sqlite3_column_int64(st, 10);
        if (!out->room || (want_body && !out->body) ||
            (sqlite3_column_type(st, 5) != SQLITE_NULL && !out->extra) ||
            (sqlite3_column_type(st, 8) != SQLITE_NULL && !out->last_error)) {
                gv_out_clear(out);
                return GV_ENOMEM;
        }
        return GV_OK;
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
        r = read_out(st, out, true);
        sqlite3_reset(st);
        return r;
}

/* The outbox's bookkeeping is no change of content (gv_store_content_version). */
static enum gv_err bookkept(struct gv_store *s, enum gv_err r)
{
        if (r == GV_OK)
                s->bookkeeping += sqlite3_changes64(s->db);
        return r;
}

enum gv_err gv_store_outbox_sent(struct gv_store *s, int64_t id, int64_t ts)
{
        return bookkept(s, store_set_int(s, S_O_SENT, id, ts));
}

enum gv_err gv_store_outbox_later(struct gv_store *s, int64_t id, const char *why, int64_t next_at)
{
        sqlite3_stmt *st = store_stmt(s, S_O_LATER);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        bt(st, 2, why);
        bi(st, 3, next_at);
        return bookkept(s, store_exec_done(s, st));
}

enum gv_err gv_store_outbox_park(struct gv_store *s, int64_t id, const char *why)
{
        return bookkept(s, store_id_text(s, S_O_PARK, id, why));
}

enum gv_err gv_store_outbox_retry(struct gv_store *s, int64_t id)
{
        sqlite3_stmt *st = store_stmt(s, S_O_RETRY);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        r = store_exec_done(s, st);
        if (r == GV_OK && sqlite3_changes(s->db) == 0)
                r = GV_ENOTFOUND;
        return r;
}

enum gv_err gv_store_outbox_files_failed(struct gv_store *s, int64_t meeting, bool *failed)
{
        sqlite3_stmt *st = store_stmt(s, S_O_FILES_FAILED);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = store_step_row(s, st);
        sqlite3_reset(st);
        if (r == GV_OK || r == GV_ENOTFOUND)
                *failed = r == GV_OK;
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_outbox_each(struct gv_store *s, int (*cb)(void *ud, const struct gv_out *o),
                                 void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_O_EACH);
        struct gv_out o;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        while ((r = store_step_row(s, st)) == GV_OK) {
                int stop;

                r = read_out(st, &o, false);
                if (r)
                        break;
                stop = cb(ud, &o);
                gv_out_clear(&o);
                if (stop)
                        break;
        }
        sqlite3_reset(st);
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_outbox_meeting_waits(struct gv_store *s, enum gv_out_kind kind,
                                          int64_t meeting, bool *waits)
{
        sqlite3_stmt *st = store_stmt(s, S_O_WAITS);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        if ((unsigned)kind >= GV_OUT__COUNT)
                return GV_EINVAL;
        bt(st, 1, kind_words[kind]);
        bi(st, 2, meeting);
        r = store_step_row(s, st);
        sqlite3_reset(st);
        if (r == GV_OK || r == GV_ENOTFOUND)
                *waits = r == GV_OK;
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_publication_add(struct gv_store *s, int64_t meeting, const char *target,
                                     const char *link, int64_t ts)
{
        sqlite3_stmt *st = store_stmt(s, S_PUB_ADD);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bt(st, 2, target);
        bt(st, 3, link);
        bi(st, 4, ts);
        r = store_exec_done(s, st);
        if (r == GV_OK)
                r = store_id_text(s, S_PUB_ITEMS, meeting, link);
        return r;
}

enum gv_err gv_store_publications(struct gv_store *s, int64_t meeting,
                                  void (*cb)(void *ud, const char *target, const char *link),
                                  void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_PUB_EACH);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        while ((r = store_step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0), col_str(st, 1));
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_item_notes_link(struct gv_store *s, int64_t id, char **link)
{
        sqlite3_stmt *st = store_stmt(s, S_ITEM_LINK);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        r = store_step_row(s, st);
        if (r)
                return r;
        *link = NULL;
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
                *link = col_dup(st, 0);
                if (!*link)
                        r = GV_ENOMEM;
        }
        sqlite3_reset(st);
        return r;
}

enum gv_err gv_store_outbox_minutes_row(struct gv_store *s, int64_t meeting, int64_t *id,
                                        bool *sent, bool *parked)
{
        sqlite3_stmt *st = store_stmt(s, S_O_MINUTES_ROW);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = store_step_row(s, st);
        if (r)
                return r;
        *id = sqlite3_column_int64(st, 0);
        *sent = sqlite3_column_int(st, 1) != 0;
        *parked = sqlite3_column_int(st, 2) != 0;
        sqlite3_reset(st);
        return GV_OK;
}
