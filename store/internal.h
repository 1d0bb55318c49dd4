/* store/internal.h - private to store/: the store handle, the prepared
 * statement cache and the bind, column and row helpers its files share.
 * Never included from outside store/. */
#ifndef GV_STORE_INTERNAL_H
#define GV_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "store.h"

/* One id per statement; the SQL text is the table sql[] in store.c. */
enum stmt_id {
        S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
        S_KV_GET, S_KV_SET, S_SEEN, S_MARK,
        S_ITEM_BY_EVENT, S_ITEM_MAXPOS, S_ITEM_ADD, S_ITEM_GET, S_ITEM_GET_EVENT, S_ITEM_TEXT,
        S_AGENDA, S_DISCUSSED,
        S_ITEM_STATUS, S_ITEM_PIN, S_ITEM_DISC, S_ITEM_SETPOS, S_CLOSE_DONE, S_CLOSE_POSTPONED,
        S_M_RUNNING, S_M_GET, S_M_START, S_M_END, S_M_NAME, S_M_TOPIC, S_M_FILE_BASE, S_M_TITLE_SET, S_M_TITLE_GET, S_M_SERIES_SET, S_M_SERIES_GET, S_M_ENDED, S_M_UNNAMED,
        S_CHAIR_ADD, S_CHAIR_DEL, S_CHAIR_IS, S_CHAIRS, S_NICK_ADD, S_NICKS,
        S_PERSON_GET, S_PERSON_TAKEN, S_PERSON_ADD, S_MEMBER_SET, S_MEMBER_SEEN, S_MEMBERS_NAMED,
        S_LINE_ADD, S_LINE_ADD_AT, S_LINES, S_COUNTS, S_LINES_EVENT, S_LINE_TEXT, S_LINE_DEL, S_LINES_REDACT,
        S_MI_ADD, S_MI_LAST, S_MI_DEL, S_MITEMS, S_LAST_TOPIC, S_MI_EVENT, S_MI_TEXT, S_MI_GET,
        S_MI_REPARENT, S_MI_UNTOPIC,
        S_V_OPEN, S_V_CUR, S_V_CAST, S_V_CLOSE, S_V_TALLY,
        S_O_ADD, S_O_NEXT, S_O_SENT, S_O_LATER, S_O_PARK, S_O_RETRY, S_O_EACH, S_O_FILES_FAILED,
        S_O_WAITS, S_PUB_ADD, S_PUB_ITEMS, S_PUB_EACH, S_ITEM_LINK, S_ITEMS_DONE, S_O_MINUTES_ROW,
        S_ROOM_GET, S_ROOM_POWER, S_ROOM_JOINED, S_ROOM_ENC, S_ROOM_LAST,
        S_ALIAS_SET, S_ALIAS_GET,
        S_TIMER_SET, S_TIMER_GET, S_REL_ADD, S_REL_SENT, S_REL_BY_EVENT, S_REL_LAST, S_REL_ROW,
        S_REL_ANY, S_ATT_SET, S_ATT_DEL_USER, S_ATT_EACH, S_ATT_BY_EVENT, S_ATT_DEL_EVENT,
        S_PP_GET, S_PP_SET, S_PP_DEL, S_M_SINCE,
        S_CX_ACCOUNT_GET, S_CX_ACCOUNT_SET, S_CX_SECRET_GET, S_CX_SECRET_SET,
        S_CX_OLM_SET, S_CX_OLM_EACH, S_CX_IN_SET, S_CX_IN_GET, S_CX_SEEN_GET, S_CX_SEEN_ADD,
        S_CX_OUT_GET, S_CX_OUT_SET, S_CX_OUT_DEL, S_CX_SHARED_ADD, S_CX_SHARED_HAS,
        S_CX_SHARED_DEL, S_CX_DEV_SET, S_CX_DEV_DEL, S_CX_DEVS, S_CX_DEVS_DEL, S_CX_USER_SET,
        S_CX_USER_DEL, S_CX_USERS_OUTDATED,
        S_CX_WAIT_ADD, S_CX_WAIT_EACH, S_CX_WAIT_DEL, S_CX_WAIT_COUNT, S_KV_DEL, S_MEMBERS_JOINED, S_MEMBERS_ENCRYPTED,
        S__COUNT
};

struct gv_store {
        sqlite3 *db;
        sqlite3_stmt *st[S__COUNT];
        int version;
        uint64_t generation;
        uint64_t outbox_adds;   /* rows added to the outbox (gv_store_outbox_adds) */
        /* The last meeting's lines as gv_store_lines() read them to the end,
         * so that its log .txt and .log.html (rendered one after the other)
         * read them once: valid while lines_gen and generation are as they
         * were (see lines.c). A meeting started in this transaction has its
         * lines appended as they are added: they are never read back. */
        uint64_t lines_gen;     /* bumped by every write to the lines table */
        struct lines_cache *lc;
        /* One caller's cache of what it derived from the store (the
         * handlers' minutes model, handlers/meetbot.c): freed with the
         * store and at gv_store_begin, like the lines cache. */
        void *cache;
        void (*cache_free)(void *);
        /* gv_store_meeting_running()'s last answer (meetings.c), a command
         * asks it once or more: kept only inside a transaction, and dropped
         * by store_stmt() when any statement that may change a meetings row
         * (or begins, commits or rolls back) is about to run. */
        struct running_cache {
                bool valid, found;
                char *room;
                struct gv_meeting m;
        } running;
        /* The rowid the next line of line_meeting gets (lines.c): the last
         * one added plus one, what S_LINE_ADD's max() would find, kept
         * only inside a transaction and dropped with the running meeting
         * cache (store_stmt()) and by a line deleted. 0: unknown. */
        int64_t line_meeting, line_next;
        /* Rows changed by the outbox's own bookkeeping (a row marked sent,
         * due later, parked): left out of gv_store_content_version(). */
        int64_t bookkeeping;
        char *path;             /* as given to gv_store_open, for messages */
        char errmsg[1024];      /* the last error, with the path; "" if none */
};

/* Forgets gv_store_meeting_running()'s cached answer (meetings.c). */
void store_running_drop(struct gv_store *s);

/* Frees the lines cache (lines.c). */
void store_lines_cache_free(struct gv_store *s);
/* A meeting just started: its (empty) lines are the cache (lines.c). */
void store_lines_cache_start(struct gv_store *s, int64_t meeting);

/* The cached statement id, prepared on first use, else reset with its
 * bindings cleared. NULL (logged) when it does not prepare. */
sqlite3_stmt *store_stmt(struct gv_store *s, enum stmt_id id);

/* Binding helpers; any failure is caught at the step. Text is bound
 * without a copy: every caller's string outlives the step that reads it,
 * and store_stmt() clears the bindings before the statement is used again. */
static inline void bt(sqlite3_stmt *st, int i, const char *v)
{
        if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, i);
}

static inline void bi(sqlite3_stmt *st, int i, int64_t v)
{
        sqlite3_bind_int64(st, i, v);
}

static inline char *col_dup(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);

        return t ? strdup((const char *)t) : NULL;
}

static inline const char *col_str(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);

        return t ? (const char *)t : "";
}

/* Records (and logs) the last error of s->db: rc, what failed, with the path. */
enum gv_err store_db_err(struct gv_store *s, int rc, const char *what);

/* Runs a statement that returns no rows. */
enum gv_err store_exec_done(struct gv_store *s, sqlite3_stmt *st);
/* Steps a row: GV_OK with a row, GV_ENOTFOUND when done. */
enum gv_err store_step_row(struct gv_store *s, sqlite3_stmt *st);
/* Reads every row of st into a growing array of elem-sized records. */
enum gv_err store_read_rows(struct gv_store *s, sqlite3_stmt *st, size_t elem,
                            enum gv_err (*read)(sqlite3_stmt *st, void *rec),
                            void (*clear)(void *rec), void **ret, size_t *n);
/* Runs statement id with ?1 = a and ?2 = b (or ?2 = t). */
enum gv_err store_set_int(struct gv_store *s, enum stmt_id id, int64_t a, int64_t b);
enum gv_err store_id_text(struct gv_store *s, enum stmt_id id, int64_t a, const char *t);
/* Calls cb for each (text, count) row of st. */
enum gv_err store_each_count(struct gv_store *s, sqlite3_stmt *st,
                             void (*cb)(void *ud, const char *name, int64_t n), void *ud);

#endif
