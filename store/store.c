/* store/store.c - see store.h. Opening the database, the schema and its
 * migrations, transactions and savepoints, the generation counter, the
 * key-value table and processed event IDs; also the statement cache and the
 * helpers in internal.h. Every statement is prepared once and cached. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "internal.h"

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
        [S_O_NEXT] = "SELECT id, kind, room, body, html, extra, state, attempts, last_error, "
                     "next_at, created FROM outbox "
                     "WHERE sent IS NULL AND state = 0 AND id > ?1 ORDER BY id LIMIT 1",
        [S_O_SENT] = "UPDATE outbox SET sent = ?2 WHERE id = ?1",
        [S_O_LATER] = "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_at = ?3 "
                      "WHERE id = ?1 AND sent IS NULL",
        [S_O_PARK] = "UPDATE outbox SET state = 1, attempts = attempts + 1, last_error = ?2 "
                     "WHERE id = ?1 AND sent IS NULL",
        [S_O_RETRY] = "UPDATE outbox SET state = 0, next_at = 0 WHERE id = ?1 AND sent IS NULL",
        [S_O_FILES_FAILED] = "SELECT 1 FROM outbox WHERE kind = 'file' AND attempts > 0 "
                             "AND json_extract(extra, '$.meeting') = ?1 LIMIT 1",
        [S_O_EACH] = "SELECT id, kind, room, NULL, NULL, extra, state, attempts, last_error, "
                     "next_at, created FROM outbox WHERE sent IS NULL ORDER BY id",
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
        /* 3: outbox rows that failed: waiting (attempts, last_error, next_at)
         * or parked (state 1) so that no row wedges the others */
        "ALTER TABLE outbox ADD COLUMN state INTEGER NOT NULL DEFAULT 0 CHECK(state IN (0, 1));"
        "ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE outbox ADD COLUMN last_error TEXT;"
        "ALTER TABLE outbox ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0;",
};

const char *gv_store_errmsg(const struct gv_store *s)
{
        return s && s->db ? sqlite3_errmsg(s->db) : "no database";
}

int gv_store_schema_version(const struct gv_store *s)
{
        return s->version;
}

sqlite3_stmt *store_stmt(struct gv_store *s, enum stmt_id id)
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

static enum gv_err db_err(struct gv_store *s, int rc)
{
        gv_err_log("store", "%s", sqlite3_errmsg(s->db));
        return rc == SQLITE_NOMEM ? GV_ENOMEM : GV_EDB;
}

/* Runs a statement that returns no rows. */
enum gv_err store_exec_done(struct gv_store *s, sqlite3_stmt *st)
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
enum gv_err store_step_row(struct gv_store *s, sqlite3_stmt *st)
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
        return store_exec_done(s, store_stmt(s, S_BEGIN));
}

enum gv_err gv_store_commit(struct gv_store *s)
{
        return store_exec_done(s, store_stmt(s, S_COMMIT));
}

uint64_t gv_store_generation(const struct gv_store *s)
{
        return s->generation;
}

void gv_store_rollback(struct gv_store *s)
{
        s->generation++;
        if (!sqlite3_get_autocommit(s->db))
                (void)store_exec_done(s, store_stmt(s, S_ROLLBACK));
}

enum gv_err gv_store_savepoint(struct gv_store *s)
{
        return store_exec_done(s, store_stmt(s, S_SAVEPOINT));
}

enum gv_err gv_store_release(struct gv_store *s)
{
        return store_exec_done(s, store_stmt(s, S_RELEASE));
}

void gv_store_rollback_savepoint(struct gv_store *s)
{
        s->generation++;
        if (store_exec_done(s, store_stmt(s, S_ROLLBACK_TO)) == GV_OK)
                (void)store_exec_done(s, store_stmt(s, S_RELEASE));
}

enum gv_err gv_store_kv_get(struct gv_store *s, const char *key, char **val)
{
        sqlite3_stmt *st = store_stmt(s, S_KV_GET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, key);
        r = store_step_row(s, st);
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
        sqlite3_stmt *st = store_stmt(s, S_KV_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, key);
        bt(st, 2, val);
        return store_exec_done(s, st);
}

enum gv_err gv_store_event_seen(struct gv_store *s, const char *event_id, bool *seen)
{
        sqlite3_stmt *st = store_stmt(s, S_SEEN);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        r = store_step_row(s, st);
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
        sqlite3_stmt *st = store_stmt(s, S_MARK);

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bi(st, 2, ts);
        return store_exec_done(s, st);
}

/* Reads every row of st into a growing array of elem-sized records. */
enum gv_err store_read_rows(struct gv_store *s, sqlite3_stmt *st, size_t elem,
                            enum gv_err (*read)(sqlite3_stmt *st, void *rec),
                            void (*clear)(void *rec), void **ret, size_t *n)
{
        char *v = NULL;
        size_t len = 0, cap = 0;
        enum gv_err r;

        while ((r = store_step_row(s, st)) == GV_OK) {
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

enum gv_err store_set_int(struct gv_store *s, enum stmt_id id, int64_t a, int64_t b)
{
        sqlite3_stmt *st = store_stmt(s, id);

        if (!st)
                return GV_EDB;
        bi(st, 1, a);
        bi(st, 2, b);
        return store_exec_done(s, st);
}

enum gv_err store_id_text(struct gv_store *s, enum stmt_id id, int64_t a, const char *t)
{
        sqlite3_stmt *st = store_stmt(s, id);

        if (!st)
                return GV_EDB;
        bi(st, 1, a);
        bt(st, 2, t);
        return store_exec_done(s, st);
}

enum gv_err store_each_count(struct gv_store *s, sqlite3_stmt *st,
                             void (*cb)(void *ud, const char *name, int64_t n), void *ud)
{
        enum gv_err r;

        while ((r = store_step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0), sqlite3_column_int64(st, 1));
        return r == GV_ENOTFOUND ? GV_OK : r;
}
