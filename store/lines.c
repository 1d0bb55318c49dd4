/* store/lines.c - every line said during a meeting: logging, edits,
 * redactions, who spoke how often. See store.h. */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void lines_cache_append(struct gv_store *s, int64_t meeting, int64_t ts, const char *nick,
                               const char *text, bool action);

enum gv_err gv_store_line_add(struct gv_store *s, int64_t meeting, int64_t ts, const char *nick,
                              const char *text, bool action, const char *event_id)
{
        return gv_store_line_add_from(s, meeting, ts, nick, text, action, event_id, NULL);
}

enum gv_err gv_store_line_add_from(struct gv_store *s, int64_t meeting, int64_t ts,
                                   const char *nick, const char *text, bool action,
                                   const char *event_id, const char *sender)
{
        /* the next rowid known (the meeting's last line added in this
         * transaction): given, instead of S_LINE_ADD's max() search (a
         * third of a replayed line) */
        bool known = s->line_next && s->line_meeting == meeting &&
                     !sqlite3_get_autocommit(s->db);
        sqlite3_stmt *st = store_stmt(s, known ? S_LINE_ADD_AT : S_LINE_ADD);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        if (known)
                bi(st, 8, s->line_next);
        bi(st, 1, meeting);
        bi(st, 2, ts);
        bt(st, 3, nick);
        bt(st, 4, text);
        bi(st, 5, action ? 1 : 0);
        bt(st, 6, event_id);
        bt(st, 7, sender);
        s->lines_gen++;
        r = store_exec_done(s, st);
        s->line_next = 0;
        if (r == GV_OK) {
                int64_t id = sqlite3_last_insert_rowid(s->db);

                /* S_LINE_ADD's max() + 1 for the next, while in the
                 * meeting's range (its last rowid gets no successor) */
                if (!sqlite3_get_autocommit(s->db) && (id & 0xffffffff) != 0xffffffff) {
                        s->line_meeting = meeting;
                        s->line_next = id + 1;
                }
                lines_cache_append(s, meeting, ts, nick, text, action);
        }
        return r;
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

        s->lines_gen++;

        if (r == GV_OK && changed)
                *changed = sqlite3_changes(s->db) > 0;
        return r;
}

enum gv_err gv_store_line_delete(struct gv_store *s, int64_t id)
{
        sqlite3_stmt *st = store_stmt(s, S_LINE_DEL);

        s->lines_gen++;
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

        s->lines_gen++;
        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = store_exec_done(s, st);
        if (r == GV_OK && n)
                *n = (size_t)sqlite3_changes(s->db);
        return r;
}

/* The lines cache: one meeting's rows, strings in one arena (offsets, as
 * it grows). */
struct lines_cache {
        int64_t meeting;
        uint64_t gen, lines_gen;
        struct lc_row {
                int64_t ts;
                size_t nick, text;      /* offsets into arena */
                bool action;
        } *rows;
        size_t n, cap;
        char *arena;
        size_t len, acap;
};

void store_lines_cache_free(struct gv_store *s)
{
        if (!s->lc)
                return;
        free(s->lc->rows);
        free(s->lc->arena);
        free(s->lc);
        s->lc = NULL;
}

static bool lc_str(struct lines_cache *c, const char *str, size_t *off)
{
        size_t n = strlen(str) + 1;

        if (c->len + n > c->acap) {
                size_t nc = c->acap ? c->acap : 65536;
                char *na;

                while (nc < c->len + n)
                        nc *= 2;
                na = realloc(c->arena, nc);
                if (!na)
                        return false;
                c->arena = na;
                c->acap = nc;
        }
        memcpy(c->arena + c->len, str, n);
        *off = c->len;
        c->len += n;
        return true;
}

/* Keeps one row; false (and the cache is given up) when out of memory. */
static bool lc_add(struct lines_cache *c, int64_t ts, const char *nick, const char *text,
                   bool action)
{
        struct lc_row *row;

        if (c->n == c->cap) {
                size_t nc = c->cap ? c->cap * 2 : 1024;
                struct lc_row *nr = realloc(c->rows, nc * sizeof(*nr));

                if (!nr)
                        return false;
                c->rows = nr;
                c->cap = nc;
        }
        row = &c->rows[c->n];
        row->ts = ts;
        row->action = action;
        if (!lc_str(c, nick, &row->nick) || !lc_str(c, text, &row->text))
                return false;
        c->n++;
        return true;
}

/* A new meeting has no lines yet: its cache starts empty and complete, and
 * every line added to it is appended (lines_cache_append), so that its
 * files read no line back from SQLite. */
void store_lines_cache_start(struct gv_store *s, int64_t meeting)
{
        struct lines_cache *c;

        store_lines_cache_free(s);
        c = calloc(1, sizeof(*c));
        if (!c)
                return;         /* read from SQLite when asked, then */
        c->meeting = meeting;
        c->gen = s->generation;
        c->lines_gen = s->lines_gen;
        s->lc = c;
}

/* The row just inserted (lines_gen already bumped for it) is the meeting's
 * last by id: appended when the cache held the meeting whole until it. */
static void lines_cache_append(struct gv_store *s, int64_t meeting, int64_t ts, const char *nick,
                               const char *text, bool action)
{
        struct lines_cache *c = s->lc;

        if (!c)
                return;
        if (c->gen == s->generation && c->lines_gen + 1 == s->lines_gen &&
            (c->meeting != meeting || lc_add(c, ts, nick, text, action))) {
                c->lines_gen = s->lines_gen;    /* (another meeting's line: this one's as it was) */
                return;
        }
        store_lines_cache_free(s);      /* stale: dropped now */
}

enum gv_err gv_store_lines(struct gv_store *s, int64_t meeting,
                           int (*cb)(void *ud, int64_t ts, const char *nick, const char *text,
                                     bool action),
                           void *ud)
{
        struct lines_cache *c = s->lc;
        sqlite3_stmt *st;
        enum gv_err r;

        if (c && c->meeting == meeting && c->gen == s->generation &&
            c->lines_gen == s->lines_gen) {
                for (size_t i = 0; i < c->n; i++)
                        if (cb(ud, c->rows[i].ts, c->arena + c->rows[i].nick,
                               c->arena + c->rows[i].text, c->rows[i].action))
                                break;
                return GV_OK;
        }
        store_lines_cache_free(s);
        st = store_stmt(s, S_LINES);
        if (!st)
                return GV_EDB;
        c = calloc(1, sizeof(*c));      /* NULL: read without keeping */
        if (c) {
                c->meeting = meeting;
                c->gen = s->generation;
                c->lines_gen = s->lines_gen;
        }
        bi(st, 1, meeting);
        while ((r = store_step_row(s, st)) == GV_OK) {
                int64_t ts = sqlite3_column_int64(st, 0);
                const char *nick = col_str(st, 1), *text = col_str(st, 2);
                bool action = sqlite3_column_int(st, 3) != 0;

                if (c && !lc_add(c, ts, nick, text, action)) {
                        free(c->rows);
                        free(c->arena);
                        free(c);
                        c = NULL;
                }
                if (cb(ud, ts, nick, text, action)) {
                        sqlite3_reset(st);
                        r = GV_ENOTFOUND;
                        goto partial;
                }
        }
        if (r == GV_ENOTFOUND && c) {
                s->lc = c;      /* read to the end: kept */
                return GV_OK;
        }
partial:
        if (c) {
                free(c->rows);
                free(c->arena);
                free(c);
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
