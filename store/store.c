/* store/store.c - see store.h. Every statement is prepared once and cached. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "store.h"

enum stmt_id {
        S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
        S_KV_GET, S_KV_SET, S_SEEN, S_MARK,
        S_ITEM_BY_EVENT, S_ITEM_MAXPOS, S_ITEM_ADD, S_ITEM_GET, S_ITEM_GET_EVENT, S_ITEM_TEXT,
        S_AGENDA, S_DISCUSSED,
        S_ITEM_STATUS, S_ITEM_PIN, S_ITEM_DISC, S_ITEM_SETPOS, S_CLOSE_DONE, S_CLOSE_POSTPONED,
        S_M_RUNNING, S_M_GET, S_M_START, S_M_END, S_M_NAME, S_M_TOPIC,
        S_CHAIR_ADD, S_CHAIR_DEL, S_CHAIR_IS, S_CHAIRS, S_NICK_ADD, S_NICKS,
        S_LINE_ADD, S_LINES, S_COUNTS, S_LINES_EVENT, S_LINE_TEXT, S_LINE_DEL, S_LINES_REDACT,
        S_MI_ADD, S_MI_LAST, S_MI_DEL, S_MITEMS, S_LAST_TOPIC, S_MI_EVENT, S_MI_TEXT, S_MI_GET,
        S_MI_REPARENT, S_MI_UNTOPIC,
        S_V_OPEN, S_V_CUR, S_V_CAST, S_V_CLOSE, S_V_TALLY,
        S_O_ADD, S_O_NEXT, S_O_SENT,
        S__COUNT
};

#define MITEM_COLS "id, ts, nick, kind, text, coalesce(topic, 0), coalesce(agenda_item, 0), " \
                   "event_id, sender, meeting"

static const char *const sql[S__COUNT] = {
        [S_BEGIN] = "BEGIN IMMEDIATE",
        [S_COMMIT] = "COMMIT",
        [S_ROLLBACK] = "ROLLBACK",
        [S_SAVEPOINT] = "SAVEPOINT ev",
        [S_RELEASE] = "RELEASE ev",
        [S_ROLLBACK_TO] = "ROLLBACK TO ev",
        [S_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
        [S_KV_SET] = "INSERT INTO kv(key, value) VALUES(?1, ?2) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [S_SEEN] = "SELECT 1 FROM processed WHERE event_id = ?1",
        [S_MARK] = "INSERT OR IGNORE INTO processed(event_id, ts) VALUES(?1, ?2)",
        [S_ITEM_BY_EVENT] = "SELECT id FROM items WHERE event_id = ?1",
        [S_ITEM_MAXPOS] = "SELECT coalesce(max(position), 0) FROM items WHERE agenda = ?1",
        [S_ITEM_ADD] = "INSERT INTO items(agenda, description, reporter, mentions, room, event_id, "
                       "created, position, pinned, status) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
        [S_ITEM_GET] = "SELECT id, agenda, description, reporter, mentions, room, event_id, created, "
                       "position, pinned, status, discussed_in FROM items WHERE id = ?1",
        [S_ITEM_GET_EVENT] = "SELECT id, agenda, description, reporter, mentions, room, event_id, "
                             "created, position, pinned, status, discussed_in FROM items "
                             "WHERE event_id = ?1 AND room = ?2",
        [S_ITEM_TEXT] = "UPDATE items SET description = ?2, mentions = ?3 WHERE id = ?1",
        [S_AGENDA] = "SELECT id, agenda, description, reporter, mentions, room, event_id, created, "
                     "position, pinned, status, discussed_in FROM items "
                     "WHERE agenda = ?1 AND status IN (0, 1) "
                     "ORDER BY pinned DESC, status ASC, position ASC, id ASC",
        [S_DISCUSSED] = "SELECT i.id, i.agenda, i.description, i.reporter, i.mentions, i.room, "
                        "i.event_id, i.created, i.position, i.pinned, i.status, i.discussed_in "
                        "FROM items i JOIN mitems m ON m.agenda_item = i.id "
                        "WHERE m.meeting = ?1 AND m.kind = 0 GROUP BY i.id ORDER BY min(m.id)",
        [S_ITEM_STATUS] = "UPDATE items SET status = ?2 WHERE id = ?1",
        [S_ITEM_PIN] = "UPDATE items SET pinned = ?2 WHERE id = ?1",
        [S_ITEM_DISC] = "UPDATE items SET discussed_in = ?2 WHERE id = ?1",
        [S_ITEM_SETPOS] = "UPDATE items SET position = ?2 WHERE id = ?1",
        [S_CLOSE_DONE] = "UPDATE items SET status = 2 WHERE agenda = ?1 AND discussed_in = ?2 "
                         "AND pinned = 0 AND status IN (0, 1)",
        [S_CLOSE_POSTPONED] = "UPDATE items SET status = 0 WHERE agenda = ?1 AND status = 1",
        [S_M_RUNNING] = "SELECT id, room, name, agenda, starter, started, ended, topic FROM meetings "
                        "WHERE room = ?1 AND ended IS NULL",
        [S_M_GET] = "SELECT id, room, name, agenda, starter, started, ended, topic FROM meetings "
                    "WHERE id = ?1",
        [S_M_START] = "INSERT INTO meetings(room, name, agenda, starter, started) "
                      "VALUES(?1, ?2, ?3, ?4, ?5)",
        [S_M_END] = "UPDATE meetings SET ended = ?2 WHERE id = ?1",
        [S_M_NAME] = "UPDATE meetings SET name = ?2 WHERE id = ?1",
        [S_M_TOPIC] = "UPDATE meetings SET topic = nullif(?2, 0) WHERE id = ?1",
        [S_CHAIR_ADD] = "INSERT OR IGNORE INTO chairs(meeting, nick) VALUES(?1, ?2)",
        [S_CHAIR_DEL] = "DELETE FROM chairs WHERE meeting = ?1 AND nick = ?2 COLLATE NOCASE",
        [S_CHAIR_IS] = "SELECT 1 FROM chairs WHERE meeting = ?1 AND nick = ?2 COLLATE NOCASE",
        [S_CHAIRS] = "SELECT nick FROM chairs WHERE meeting = ?1 ORDER BY rowid",
        [S_NICK_ADD] = "INSERT OR IGNORE INTO nicks(meeting, nick) VALUES(?1, ?2)",
        [S_NICKS] = "SELECT nick FROM nicks WHERE meeting = ?1 ORDER BY rowid",
        [S_LINE_ADD] = "INSERT INTO lines(meeting, ts, nick, text, action, event_id, sender) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        [S_LINES] = "SELECT ts, nick, CASE WHEN redacted THEN '[redacted]' ELSE text END, action "
                    "FROM lines WHERE meeting = ?1 ORDER BY id",
        [S_COUNTS] = "SELECT nick, count(*) AS n FROM lines WHERE meeting = ?1 "
                     "GROUP BY nick ORDER BY n DESC, nick ASC",
        [S_LINES_EVENT] = "SELECT id, meeting, nick, sender, text, action, redacted FROM lines "
                          "WHERE event_id = ?1 AND meeting IN (SELECT id FROM meetings WHERE room = ?2) "
                          "ORDER BY id",
        [S_LINE_TEXT] = "UPDATE lines SET text = ?2 WHERE id = ?1 AND redacted = 0",
        [S_LINE_DEL] = "DELETE FROM lines WHERE id = ?1",
        [S_LINES_REDACT] = "UPDATE lines SET redacted = 1, text = '' WHERE event_id = ?1 "
                           "AND redacted = 0 AND meeting IN (SELECT id FROM meetings WHERE room = ?2)",
        [S_MI_ADD] = "INSERT INTO mitems(meeting, ts, nick, kind, text, topic, agenda_item, event_id, "
                     "sender) VALUES(?1, ?2, ?3, ?4, ?5, nullif(?6, 0), nullif(?7, 0), ?8, ?9)",
        [S_MI_LAST] = "SELECT " MITEM_COLS " FROM mitems WHERE meeting = ?1 ORDER BY id DESC LIMIT 1",
        [S_MI_DEL] = "DELETE FROM mitems WHERE id = ?1",
        [S_MITEMS] = "SELECT " MITEM_COLS " FROM mitems WHERE meeting = ?1 ORDER BY id",
        [S_LAST_TOPIC] = "SELECT id FROM mitems WHERE meeting = ?1 AND kind = 0 ORDER BY id DESC LIMIT 1",
        [S_MI_EVENT] = "SELECT " MITEM_COLS " FROM mitems WHERE event_id = ?1 "
                       "AND meeting IN (SELECT id FROM meetings WHERE room = ?2) ORDER BY id",
        [S_MI_TEXT] = "UPDATE mitems SET text = ?2 WHERE id = ?1",
        [S_MI_GET] = "SELECT " MITEM_COLS " FROM mitems WHERE id = ?1",
        /* ?1 the item going away, ?2 its meeting */
        [S_MI_REPARENT] = "UPDATE mitems SET topic = (SELECT max(id) FROM mitems WHERE meeting = ?2 "
                          "AND kind = 0 AND id < ?1) WHERE topic = ?1",
        [S_MI_UNTOPIC] = "UPDATE meetings SET topic = (SELECT max(id) FROM mitems WHERE meeting = ?2 "
                         "AND kind = 0 AND id <> ?1) WHERE id = ?2 AND topic = ?1",
        [S_V_OPEN] = "INSERT INTO votes(meeting, question, options, opened) VALUES(?1, ?2, ?3, ?4)",
        [S_V_CUR] = "SELECT id, question, options, opened FROM votes WHERE meeting = ?1 "
                    "AND closed IS NULL ORDER BY id DESC LIMIT 1",
        [S_V_CAST] = "INSERT INTO ballots(vote, nick, choice, ts) VALUES(?1, ?2, ?3, ?4) "
                     "ON CONFLICT(vote, nick) DO UPDATE SET choice = excluded.choice, ts = excluded.ts",
        [S_V_CLOSE] = "UPDATE votes SET closed = ?2 WHERE id = ?1",
        [S_V_TALLY] = "SELECT choice, count(*) AS n FROM ballots WHERE vote = ?1 "
                      "GROUP BY choice ORDER BY n DESC, choice ASC",
        [S_O_ADD] = "INSERT INTO outbox(kind, room, body, html, extra, created) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
        [S_O_NEXT] = "SELECT id, kind, room, body, html, extra FROM outbox "
                     "WHERE sent IS NULL AND id > ?1 ORDER BY id LIMIT 1",
        [S_O_SENT] = "UPDATE outbox SET sent = ?2 WHERE id = ?1",
};

/* Migrations: migrations[i] takes the schema from version i to i + 1.
 * Only ever append. */
static const char *const migrations[] = {
        "CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE processed(event_id TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE items("
        "  id INTEGER PRIMARY KEY, agenda TEXT NOT NULL, description TEXT NOT NULL,"
        "  reporter TEXT NOT NULL, mentions TEXT NOT NULL DEFAULT '', room TEXT NOT NULL,"
        "  event_id TEXT UNIQUE, created INTEGER NOT NULL, position INTEGER NOT NULL,"
        "  pinned INTEGER NOT NULL DEFAULT 0 CHECK(pinned IN (0, 1)),"
        "  status INTEGER NOT NULL DEFAULT 0 CHECK(status BETWEEN 0 AND 3),"
        "  discussed_in INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX items_agenda ON items(agenda, status);"
        "CREATE TABLE meetings("
        "  id INTEGER PRIMARY KEY, room TEXT NOT NULL, name TEXT NOT NULL, agenda TEXT NOT NULL,"
        "  starter TEXT NOT NULL, started INTEGER NOT NULL, ended INTEGER,"
        "  topic INTEGER REFERENCES mitems(id) ON DELETE SET NULL);"
        "CREATE UNIQUE INDEX meetings_running ON meetings(room) WHERE ended IS NULL;"
        "CREATE TABLE chairs(meeting INTEGER NOT NULL REFERENCES meetings(id), nick TEXT NOT NULL,"
        "  PRIMARY KEY(meeting, nick COLLATE NOCASE));"
        "CREATE TABLE nicks(meeting INTEGER NOT NULL REFERENCES meetings(id), nick TEXT NOT NULL,"
        "  PRIMARY KEY(meeting, nick COLLATE NOCASE));"
        "CREATE TABLE lines(id INTEGER PRIMARY KEY, meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  ts INTEGER NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL,"
        "  action INTEGER NOT NULL DEFAULT 0, event_id TEXT, redacted INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX lines_meeting ON lines(meeting);"
        "CREATE TABLE mitems(id INTEGER PRIMARY KEY, meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  ts INTEGER NOT NULL, nick TEXT NOT NULL, kind INTEGER NOT NULL, text TEXT NOT NULL,"
        "  topic INTEGER REFERENCES mitems(id), agenda_item INTEGER REFERENCES items(id));"
        "CREATE INDEX mitems_meeting ON mitems(meeting);"
        "CREATE TABLE votes(id INTEGER PRIMARY KEY, meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  question TEXT NOT NULL, options TEXT NOT NULL, opened INTEGER NOT NULL, closed INTEGER);"
        "CREATE TABLE ballots(vote INTEGER NOT NULL REFERENCES votes(id), nick TEXT NOT NULL,"
        "  choice TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY(vote, nick));"
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, room TEXT NOT NULL,"
        "  body TEXT NOT NULL, html TEXT, extra TEXT, created INTEGER NOT NULL, sent INTEGER);"
        "CREATE INDEX outbox_unsent ON outbox(id) WHERE sent IS NULL;",
        /* 2: who said each line and noted each item, for edits and redactions */
        "ALTER TABLE lines ADD COLUMN sender TEXT;"
        "ALTER TABLE mitems ADD COLUMN event_id TEXT;"
        "ALTER TABLE mitems ADD COLUMN sender TEXT;"
        "CREATE INDEX mitems_event ON mitems(event_id);",
};

struct gv_store {
        sqlite3 *db;
        sqlite3_stmt *st[S__COUNT];
        int version;
        uint64_t generation;
};

const char *gv_store_errmsg(const struct gv_store *s)
{
        return s && s->db ? sqlite3_errmsg(s->db) : "no database";
}

int gv_store_schema_version(const struct gv_store *s)
{
        return s->version;
}

static sqlite3_stmt *stmt(struct gv_store *s, enum stmt_id id)
{
        if (!s->st[id]) {
                if (sqlite3_prepare_v3(s->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id],
                                       NULL) != SQLITE_OK) {
                        gv_err_log("store", "preparing statement %d: %s", (int)id,
                                   sqlite3_errmsg(s->db));
                        return NULL;
                }
        } else {
                sqlite3_reset(s->st[id]);
                sqlite3_clear_bindings(s->st[id]);
        }
        return s->st[id];
}

/* Binding helpers; any failure is caught at the step. Text is bound
 * without a copy: every caller's string outlives the step that reads it,
 * and stmt() clears the bindings before the statement is used again. */
static void bt(sqlite3_stmt *st, int i, const char *v)
{
        if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, i);
}

static void bi(sqlite3_stmt *st, int i, int64_t v)
{
        sqlite3_bind_int64(st, i, v);
}

static enum gv_err db_err(struct gv_store *s, int rc)
{
        gv_err_log("store", "%s", sqlite3_errmsg(s->db));
        return rc == SQLITE_NOMEM ? GV_ENOMEM : GV_EDB;
}

/* Runs a statement that returns no rows. */
static enum gv_err exec_done(struct gv_store *s, sqlite3_stmt *st)
{
        int rc;

        if (!st)
                return GV_EDB;
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return db_err(s, rc);
        return GV_OK;
}

/* Steps a row: GV_OK with a row, GV_ENOTFOUND when done. */
static enum gv_err step_row(struct gv_store *s, sqlite3_stmt *st)
{
        int rc;

        if (!st)
                return GV_EDB;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return GV_OK;
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
                return GV_ENOTFOUND;
        return db_err(s, rc);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);

        return t ? strdup((const char *)t) : NULL;
}

static const char *col_str(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);

        return t ? (const char *)t : "";
}

static enum gv_err exec_sql(struct gv_store *s, const char *text)
{
        char *msg = NULL;

        if (sqlite3_exec(s->db, text, NULL, NULL, &msg) != SQLITE_OK) {
                gv_err_log("store", "%s", msg ? msg : sqlite3_errmsg(s->db));
                sqlite3_free(msg);
                return GV_EDB;
        }
        return GV_OK;
}

static enum gv_err migrate(struct gv_store *s)
{
        sqlite3_stmt *st = NULL;
        int n = (int)(sizeof(migrations) / sizeof(migrations[0]));
        enum gv_err r = GV_EDB;

        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW)
                goto out;
        s->version = sqlite3_column_int(st, 0);
        if (s->version > n) {
                gv_err_log("store", "database schema version %d is newer than this gavel (%d)",
                           s->version, n);
                goto out;
        }
        while (s->version < n) {
                char pragma[48];

                if (exec_sql(s, "BEGIN IMMEDIATE"))
                        goto out;
                snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", s->version + 1);
                if (exec_sql(s, migrations[s->version]) || exec_sql(s, pragma)) {
                        (void)exec_sql(s, "ROLLBACK");
                        goto out;
                }
                if (exec_sql(s, "COMMIT"))
                        goto out;
                s->version++;
        }
        r = GV_OK;
out:
        sqlite3_finalize(st);
        return r;
}

enum gv_err gv_store_open(const char *path, struct gv_store **ret)
{
        struct gv_store *s;
        enum gv_err r;

        /* One connection, one thread: no mutexes, no global memory statistics
         * (each of which costs a lock per malloc). Only possible before
         * SQLite initialises; later calls are refused, harmlessly. */
        (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        s = calloc(1, sizeof(*s));
        if (!s)
                return GV_ENOMEM;
        if (sqlite3_open_v2(path, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL) !=
            SQLITE_OK) {
                gv_err_log("store", "%s: %s", path, gv_store_errmsg(s));
                r = GV_EDB;
                goto fail;
        }
        sqlite3_busy_timeout(s->db, 5000);
        r = exec_sql(s, "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;"
                        "PRAGMA synchronous = NORMAL;");
        if (r)
                goto fail;
        r = migrate(s);
        if (r)
                goto fail;
        *ret = s;
        return GV_OK;
fail:
        gv_store_free(s);
        return r;
}

struct gv_store *gv_store_free(struct gv_store *s)
{
        if (!s)
                return NULL;
        for (int i = 0; i < S__COUNT; i++)
                sqlite3_finalize(s->st[i]);
        sqlite3_close(s->db);
        free(s);
        return NULL;
}

enum gv_err gv_store_begin(struct gv_store *s)
{
        return exec_done(s, stmt(s, S_BEGIN));
}

enum gv_err gv_store_commit(struct gv_store *s)
{
        return exec_done(s, stmt(s, S_COMMIT));
}

uint64_t gv_store_generation(const struct gv_store *s)
{
        return s->generation;
}

void gv_store_rollback(struct gv_store *s)
{
        s->generation++;
        if (!sqlite3_get_autocommit(s->db))
                (void)exec_done(s, stmt(s, S_ROLLBACK));
}

enum gv_err gv_store_savepoint(struct gv_store *s)
{
        return exec_done(s, stmt(s, S_SAVEPOINT));
}

enum gv_err gv_store_release(struct gv_store *s)
{
        return exec_done(s, stmt(s, S_RELEASE));
}

void gv_store_rollback_savepoint(struct gv_store *s)
{
        s->generation++;
        if (exec_done(s, stmt(s, S_ROLLBACK_TO)) == GV_OK)
                (void)exec_done(s, stmt(s, S_RELEASE));
}

enum gv_err gv_store_kv_get(struct gv_store *s, const char *key, char **val)
{
        sqlite3_stmt *st = stmt(s, S_KV_GET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, key);
        r = step_row(s, st);
        if (r == GV_ENOTFOUND) {
                *val = NULL;
                return GV_OK;
        }
        if (r)
                return r;
        *val = col_dup(st, 0);
        sqlite3_reset(st);
        return *val ? GV_OK : GV_ENOMEM;
}

enum gv_err gv_store_kv_set(struct gv_store *s, const char *key, const char *val)
{
        sqlite3_stmt *st = stmt(s, S_KV_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, key);
        bt(st, 2, val);
        return exec_done(s, st);
}

enum gv_err gv_store_event_seen(struct gv_store *s, const char *event_id, bool *seen)
{
        sqlite3_stmt *st = stmt(s, S_SEEN);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        r = step_row(s, st);
        if (r == GV_OK)
                sqlite3_reset(st);
        else if (r != GV_ENOTFOUND)
                return r;
        *seen = r == GV_OK;
        return GV_OK;
}

enum gv_err gv_store_event_claim(struct gv_store *s, const char *event_id, int64_t ts, bool *fresh)
{
        enum gv_err r = gv_store_event_mark(s, event_id, ts);

        if (r)
                return r;
        *fresh = sqlite3_changes(s->db) > 0;
        return GV_OK;
}

enum gv_err gv_store_event_mark(struct gv_store *s, const char *event_id, int64_t ts)
{
        sqlite3_stmt *st = stmt(s, S_MARK);

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bi(st, 2, ts);
        return exec_done(s, st);
}

/* ---- agenda items ---- */

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
                st = stmt(s, S_ITEM_BY_EVENT);
                if (!st)
                        return GV_EDB;
                bt(st, 1, it->event_id);
                r = step_row(s, st);
                if (r == GV_OK) {
                        *id = sqlite3_column_int64(st, 0);
                        sqlite3_reset(st);
                        return GV_OK;
                }
                if (r != GV_ENOTFOUND)
                        return r;
        }
        st = stmt(s, S_ITEM_MAXPOS);
        if (!st)
                return GV_EDB;
        bt(st, 1, it->agenda);
        r = step_row(s, st);
        if (r)
                return r == GV_ENOTFOUND ? GV_EDB : r;
        pos = sqlite3_column_int64(st, 0) + 1;
        sqlite3_reset(st);

        st = stmt(s, S_ITEM_ADD);
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
        r = exec_done(s, st);
        if (r)
                return r;
        *id = sqlite3_last_insert_rowid(s->db);
        return GV_OK;
}

enum gv_err gv_store_item_get(struct gv_store *s, int64_t id, struct gv_item *out)
{
        sqlite3_stmt *st = stmt(s, S_ITEM_GET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        r = step_row(s, st);
        if (r)
                return r;
        r = read_item(st, out);
        sqlite3_reset(st);
        return r;
}

enum gv_err gv_store_item_by_event(struct gv_store *s, const char *room, const char *event_id,
                                   struct gv_item *out)
{
        sqlite3_stmt *st = stmt(s, S_ITEM_GET_EVENT);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = step_row(s, st);
        if (r)
                return r;
        r = read_item(st, out);
        sqlite3_reset(st);
        return r;
}

enum gv_err gv_store_item_set_text(struct gv_store *s, int64_t id, const char *description,
                                   const char *mentions)
{
        sqlite3_stmt *st = stmt(s, S_ITEM_TEXT);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        bt(st, 2, description);
        bt(st, 3, mentions ? mentions : "");
        return exec_done(s, st);
}

/* Reads every row of st into a growing array of elem-sized records. */
static enum gv_err read_rows(struct gv_store *s, sqlite3_stmt *st, size_t elem,
                             enum gv_err (*read)(sqlite3_stmt *st, void *rec),
                             void (*clear)(void *rec), void **ret, size_t *n)
{
        char *v = NULL;
        size_t len = 0, cap = 0;
        enum gv_err r;

        while ((r = step_row(s, st)) == GV_OK) {
                if (len == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        char *nv = realloc(v, nc * elem);

                        if (!nv) {
                                r = GV_ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = nc;
                }
                r = read(st, v + len * elem);
                if (r)
                        break;
                len++;
        }
        if (r != GV_ENOTFOUND) {
                sqlite3_reset(st);
                for (size_t k = 0; k < len; k++)
                        clear(v + k * elem);
                free(v);
                return r;
        }
        *ret = v;
        *n = len;
        return GV_OK;
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
        enum gv_err r = read_rows(s, st, sizeof(**items), read_item_rec, clear_item_rec, &v, n);

        if (r == GV_OK)
                *items = v;
        return r;
}

enum gv_err gv_store_agenda(struct gv_store *s, const char *agenda, struct gv_item **items, size_t *n)
{
        sqlite3_stmt *st = stmt(s, S_AGENDA);

        if (!st)
                return GV_EDB;
        bt(st, 1, agenda);
        return read_items(s, st, items, n);
}

enum gv_err gv_store_items_discussed(struct gv_store *s, int64_t meeting, struct gv_item **items,
                                     size_t *n)
{
        sqlite3_stmt *st = stmt(s, S_DISCUSSED);

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        return read_items(s, st, items, n);
}

static enum gv_err set_int(struct gv_store *s, enum stmt_id id, int64_t a, int64_t b)
{
        sqlite3_stmt *st = stmt(s, id);

        if (!st)
                return GV_EDB;
        bi(st, 1, a);
        bi(st, 2, b);
        return exec_done(s, st);
}

enum gv_err gv_store_item_set_status(struct gv_store *s, int64_t id, enum gv_item_status stt)
{
        return set_int(s, S_ITEM_STATUS, id, stt);
}

enum gv_err gv_store_item_set_pinned(struct gv_store *s, int64_t id, bool pinned)
{
        return set_int(s, S_ITEM_PIN, id, pinned ? 1 : 0);
}

enum gv_err gv_store_item_set_discussed(struct gv_store *s, int64_t id, int64_t meeting)
{
        return set_int(s, S_ITEM_DISC, id, meeting);
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
                        r = set_int(s, S_ITEM_SETPOS, id, pos++);
                if (r == GV_OK)
                        r = set_int(s, S_ITEM_SETPOS, items[i].id, pos++);
        }
        if (r == GV_OK && before == 0)
                r = set_int(s, S_ITEM_SETPOS, id, pos++);
        gv_items_free(items, n);
        return r;
}

enum gv_err gv_store_agenda_close_meeting(struct gv_store *s, const char *agenda, int64_t meeting)
{
        sqlite3_stmt *st = stmt(s, S_CLOSE_DONE);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, agenda);
        bi(st, 2, meeting);
        r = exec_done(s, st);
        if (r)
                return r;
        st = stmt(s, S_CLOSE_POSTPONED);
        if (!st)
                return GV_EDB;
        bt(st, 1, agenda);
        return exec_done(s, st);
}

/* ---- meetings ---- */

void gv_meeting_clear(struct gv_meeting *m)
{
        free(m->room);
        free(m->name);
        free(m->agenda);
        free(m->starter);
        memset(m, 0, sizeof(*m));
}

static enum gv_err read_meeting(struct gv_store *s, sqlite3_stmt *st, struct gv_meeting *m)
{
        enum gv_err r = step_row(s, st);

        if (r)
                return r;
        memset(m, 0, sizeof(*m));
        m->id = sqlite3_column_int64(st, 0);
        m->room = col_dup(st, 1);
        m->name = col_dup(st, 2);
        m->agenda = col_dup(st, 3);
        m->starter = col_dup(st, 4);
        m->started = sqlite3_column_int64(st, 5);
        m->ended = sqlite3_column_int64(st, 6);
        m->topic = sqlite3_column_int64(st, 7);
        sqlite3_reset(st);
        if (!m->room || !m->name || !m->agenda || !m->starter) {
                gv_meeting_clear(m);
                return GV_ENOMEM;
        }
        return GV_OK;
}

enum gv_err gv_store_meeting_running(struct gv_store *s, const char *room, struct gv_meeting *out)
{
        sqlite3_stmt *st = stmt(s, S_M_RUNNING);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        return read_meeting(s, st, out);
}

enum gv_err gv_store_meeting_get(struct gv_store *s, int64_t id, struct gv_meeting *out)
{
        sqlite3_stmt *st = stmt(s, S_M_GET);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        return read_meeting(s, st, out);
}

enum gv_err gv_store_meeting_start(struct gv_store *s, const struct gv_meeting *m, int64_t *id)
{
        sqlite3_stmt *st = stmt(s, S_M_START);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, m->room);
        bt(st, 2, m->name);
        bt(st, 3, m->agenda);
        bt(st, 4, m->starter);
        bi(st, 5, m->started);
        r = exec_done(s, st);
        if (r)
                return r;
        *id = sqlite3_last_insert_rowid(s->db);
        return GV_OK;
}

enum gv_err gv_store_meeting_end(struct gv_store *s, int64_t id, int64_t ts)
{
        return set_int(s, S_M_END, id, ts);
}

enum gv_err gv_store_meeting_set_name(struct gv_store *s, int64_t id, const char *name)
{
        sqlite3_stmt *st = stmt(s, S_M_NAME);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        bt(st, 2, name);
        return exec_done(s, st);
}

enum gv_err gv_store_meeting_set_topic(struct gv_store *s, int64_t id, int64_t topic)
{
        return set_int(s, S_M_TOPIC, id, topic);
}

static enum gv_err id_text(struct gv_store *s, enum stmt_id id, int64_t a, const char *t)
{
        sqlite3_stmt *st = stmt(s, id);

        if (!st)
                return GV_EDB;
        bi(st, 1, a);
        bt(st, 2, t);
        return exec_done(s, st);
}

static enum gv_err each_nick(struct gv_store *s, enum stmt_id id, int64_t meeting,
                             void (*cb)(void *ud, const char *nick), void *ud)
{
        sqlite3_stmt *st = stmt(s, id);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        while ((r = step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0));
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_chair_set(struct gv_store *s, int64_t meeting, const char *nick, bool chair)
{
        return id_text(s, chair ? S_CHAIR_ADD : S_CHAIR_DEL, meeting, nick);
}

enum gv_err gv_store_chair_is(struct gv_store *s, int64_t meeting, const char *nick, bool *is)
{
        sqlite3_stmt *st = stmt(s, S_CHAIR_IS);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bt(st, 2, nick);
        r = step_row(s, st);
        if (r == GV_OK)
                sqlite3_reset(st);
        else if (r != GV_ENOTFOUND)
                return r;
        *is = r == GV_OK;
        return GV_OK;
}

enum gv_err gv_store_chairs(struct gv_store *s, int64_t meeting,
                            void (*cb)(void *ud, const char *nick), void *ud)
{
        return each_nick(s, S_CHAIRS, meeting, cb, ud);
}

enum gv_err gv_store_nick_add(struct gv_store *s, int64_t meeting, const char *nick)
{
        return id_text(s, S_NICK_ADD, meeting, nick);
}

enum gv_err gv_store_nicks(struct gv_store *s, int64_t meeting,
                           void (*cb)(void *ud, const char *nick), void *ud)
{
        return each_nick(s, S_NICKS, meeting, cb, ud);
}

/* ---- lines ---- */

enum gv_err gv_store_line_add(struct gv_store *s, int64_t meeting, int64_t ts, const char *nick,
                              const char *text, bool action, const char *event_id)
{
        return gv_store_line_add_from(s, meeting, ts, nick, text, action, event_id, NULL);
}

enum gv_err gv_store_line_add_from(struct gv_store *s, int64_t meeting, int64_t ts,
                                   const char *nick, const char *text, bool action,
                                   const char *event_id, const char *sender)
{
        sqlite3_stmt *st = stmt(s, S_LINE_ADD);

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bi(st, 2, ts);
        bt(st, 3, nick);
        bt(st, 4, text);
        bi(st, 5, action ? 1 : 0);
        bt(st, 6, event_id);
        bt(st, 7, sender);
        return exec_done(s, st);
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
        sqlite3_stmt *st = stmt(s, S_LINES_EVENT);
        void *v = NULL;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = read_rows(s, st, sizeof(**lines), read_line_rec, clear_line_rec, &v, n);
        if (r == GV_OK)
                *lines = v;
        return r;
}

enum gv_err gv_store_line_set_text(struct gv_store *s, int64_t id, const char *text, bool *changed)
{
        enum gv_err r = id_text(s, S_LINE_TEXT, id, text);

        if (r == GV_OK && changed)
                *changed = sqlite3_changes(s->db) > 0;
        return r;
}

enum gv_err gv_store_line_delete(struct gv_store *s, int64_t id)
{
        sqlite3_stmt *st = stmt(s, S_LINE_DEL);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        return exec_done(s, st);
}

enum gv_err gv_store_lines_redact(struct gv_store *s, const char *room, const char *event_id,
                                  size_t *n)
{
        sqlite3_stmt *st = stmt(s, S_LINES_REDACT);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = exec_done(s, st);
        if (r == GV_OK && n)
                *n = (size_t)sqlite3_changes(s->db);
        return r;
}

enum gv_err gv_store_lines(struct gv_store *s, int64_t meeting,
                           int (*cb)(void *ud, int64_t ts, const char *nick, const char *text,
                                     bool action),
                           void *ud)
{
        sqlite3_stmt *st = stmt(s, S_LINES);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        while ((r = step_row(s, st)) == GV_OK) {
                if (cb(ud, sqlite3_column_int64(st, 0), col_str(st, 1), col_str(st, 2),
                       sqlite3_column_int(st, 3) != 0)) {
                        sqlite3_reset(st);
                        return GV_OK;
                }
        }
        return r == GV_ENOTFOUND ? GV_OK : r;
}

static enum gv_err each_count(struct gv_store *s, sqlite3_stmt *st,
                              void (*cb)(void *ud, const char *name, int64_t n), void *ud)
{
        enum gv_err r;

        while ((r = step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0), sqlite3_column_int64(st, 1));
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_line_counts(struct gv_store *s, int64_t meeting,
                                 void (*cb)(void *ud, const char *nick, int64_t n), void *ud)
{
        sqlite3_stmt *st = stmt(s, S_COUNTS);

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        return each_count(s, st, cb, ud);
}

/* ---- meeting items ---- */

void gv_mitem_clear(struct gv_mitem *it)
{
        free(it->nick);
        free(it->text);
        free(it->event_id);
        free(it->sender);
        memset(it, 0, sizeof(*it));
}

void gv_mitems_free(struct gv_mitem *items, size_t n)
{
        for (size_t i = 0; i < n; i++)
                gv_mitem_clear(&items[i]);
        free(items);
}

static enum gv_err read_mitem(sqlite3_stmt *st, struct gv_mitem *it)
{
        int kind = sqlite3_column_int(st, 3);

        memset(it, 0, sizeof(*it));
        it->id = sqlite3_column_int64(st, 0);
        it->ts = sqlite3_column_int64(st, 1);
        it->nick = col_dup(st, 2);
        it->kind = (kind >= 0 && kind < GV_M__COUNT) ? (enum gv_mkind)kind : GV_M_INFO;
        it->text = col_dup(st, 4);
        it->topic = sqlite3_column_int64(st, 5);
        it->agenda_item = sqlite3_column_int64(st, 6);
        it->event_id = col_dup(st, 7);
        it->sender = col_dup(st, 8);
        it->meeting = sqlite3_column_int64(st, 9);
        if (!it->nick || !it->text ||
            (!it->event_id && sqlite3_column_type(st, 7) != SQLITE_NULL) ||
            (!it->sender && sqlite3_column_type(st, 8) != SQLITE_NULL)) {
                gv_mitem_clear(it);
                return GV_ENOMEM;
        }
        return GV_OK;
}

enum gv_err gv_store_mitem_add(struct gv_store *s, int64_t meeting, const struct gv_mitem *it,
                               int64_t *id)
{
        sqlite3_stmt *st = stmt(s, S_MI_ADD);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bi(st, 2, it->ts);
        bt(st, 3, it->nick);
        bi(st, 4, it->kind);
        bt(st, 5, it->text);
        bi(st, 6, it->topic);
        bi(st, 7, it->agenda_item);
        bt(st, 8, it->event_id);
        bt(st, 9, it->sender);
        r = exec_done(s, st);
        if (r)
                return r;
        if (id)
                *id = sqlite3_last_insert_rowid(s->db);
        return GV_OK;
}

enum gv_err gv_store_mitem_undo(struct gv_store *s, int64_t meeting, struct gv_mitem *out)
{
        sqlite3_stmt *st = stmt(s, S_MI_LAST);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = step_row(s, st);
        if (r)
                return r;
        r = read_mitem(st, out);
        sqlite3_reset(st);
        if (r)
                return r;
        st = stmt(s, S_MI_DEL);
        if (!st) {
                gv_mitem_clear(out);
                return GV_EDB;
        }
        bi(st, 1, out->id);
        r = exec_done(s, st);
        if (r)
                gv_mitem_clear(out);
        return r;
}

static enum gv_err read_mitem_rec(sqlite3_stmt *st, void *rec)
{
        return read_mitem(st, rec);
}

static void clear_mitem_rec(void *rec)
{
        gv_mitem_clear(rec);
}

enum gv_err gv_store_mitems(struct gv_store *s, int64_t meeting, struct gv_mitem **items, size_t *n)
{
        sqlite3_stmt *st = stmt(s, S_MITEMS);
        void *v = NULL;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = read_rows(s, st, sizeof(**items), read_mitem_rec, clear_mitem_rec, &v, n);
        if (r == GV_OK)
                *items = v;
        return r;
}

enum gv_err gv_store_mitems_by_event(struct gv_store *s, const char *room, const char *event_id,
                                     struct gv_mitem **items, size_t *n)
{
        sqlite3_stmt *st = stmt(s, S_MI_EVENT);
        void *v = NULL;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = read_rows(s, st, sizeof(**items), read_mitem_rec, clear_mitem_rec, &v, n);
        if (r == GV_OK)
                *items = v;
        return r;
}

enum gv_err gv_store_mitem_set_text(struct gv_store *s, int64_t id, const char *text)
{
        return id_text(s, S_MI_TEXT, id, text);
}

enum gv_err gv_store_mitem_delete(struct gv_store *s, int64_t id)
{
        sqlite3_stmt *st = stmt(s, S_MI_GET);
        int64_t meeting;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        r = step_row(s, st);
        if (r)
                return r;
        meeting = sqlite3_column_int64(st, 9);
        sqlite3_reset(st);
        /* The foreign keys would refuse to delete a topic with items under it. */
        r = set_int(s, S_MI_REPARENT, id, meeting);
        if (r == GV_OK)
                r = set_int(s, S_MI_UNTOPIC, id, meeting);
        if (r == GV_OK) {
                st = stmt(s, S_MI_DEL);
                if (!st)
                        return GV_EDB;
                bi(st, 1, id);
                r = exec_done(s, st);
        }
        return r;
}

enum gv_err gv_store_last_topic(struct gv_store *s, int64_t meeting, int64_t *topic)
{
        sqlite3_stmt *st = stmt(s, S_LAST_TOPIC);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = step_row(s, st);
        if (r == GV_ENOTFOUND) {
                *topic = 0;
                return GV_OK;
        }
        if (r)
                return r;
        *topic = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return GV_OK;
}

/* ---- votes ---- */

void gv_vote_clear(struct gv_vote *v)
{
        free(v->question);
        free(v->options);
        memset(v, 0, sizeof(*v));
}

enum gv_err gv_store_vote_open(struct gv_store *s, int64_t meeting, const char *question,
                               const char *options, int64_t ts, int64_t *id)
{
        sqlite3_stmt *st = stmt(s, S_V_OPEN);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bt(st, 2, question);
        bt(st, 3, options);
        bi(st, 4, ts);
        r = exec_done(s, st);
        if (r)
                return r;
        *id = sqlite3_last_insert_rowid(s->db);
        return GV_OK;
}

enum gv_err gv_store_vote_current(struct gv_store *s, int64_t meeting, struct gv_vote *out)
{
        sqlite3_stmt *st = stmt(s, S_V_CUR);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = step_row(s, st);
        if (r)
                return r;
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(st, 0);
        out->question = col_dup(st, 1);
        out->options = col_dup(st, 2);
        out->opened = sqlite3_column_int64(st, 3);
        sqlite3_reset(st);
        if (!out->question || !out->options) {
                gv_vote_clear(out);
                return GV_ENOMEM;
        }
        return GV_OK;
}

enum gv_err gv_store_vote_cast(struct gv_store *s, int64_t vote, const char *nick,
                               const char *choice, int64_t ts)
{
        sqlite3_stmt *st = stmt(s, S_V_CAST);

        if (!st)
                return GV_EDB;
        bi(st, 1, vote);
        bt(st, 2, nick);
        bt(st, 3, choice);
        bi(st, 4, ts);
        return exec_done(s, st);
}

enum gv_err gv_store_vote_close(struct gv_store *s, int64_t vote, int64_t ts)
{
        return set_int(s, S_V_CLOSE, vote, ts);
}

enum gv_err gv_store_vote_tally(struct gv_store *s, int64_t vote,
                                void (*cb)(void *ud, const char *choice, int64_t n), void *ud)
{
        sqlite3_stmt *st = stmt(s, S_V_TALLY);

        if (!st)
                return GV_EDB;
        bi(st, 1, vote);
        return each_count(s, st, cb, ud);
}

/* ---- outbox ---- */

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
        sqlite3_stmt *st = stmt(s, S_O_ADD);

        if (!st)
                return GV_EDB;
        bt(st, 1, kind);
        bt(st, 2, room);
        bt(st, 3, body);
        bt(st, 4, html);
        bt(st, 5, extra);
        bi(st, 6, ts);
        return exec_done(s, st);
}

enum gv_err gv_store_outbox_next(struct gv_store *s, int64_t after, struct gv_out *out)
{
        sqlite3_stmt *st = stmt(s, S_O_NEXT);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, after);
        r = step_row(s, st);
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
        return set_int(s, S_O_SENT, id, ts);
}
