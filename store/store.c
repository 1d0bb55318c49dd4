/* store/store.c - see store.h. Opening the database, the schema and its
 * migrations, transactions and savepoints, the generation counter, the
 * key-value table and processed event IDs; also the statement cache and the
 * helpers in internal.h. Every statement is prepared once and cached. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/log.h"
#include "internal.h"
/* The schema the migrations leave, generated at build time by
 * store/schema_gen.c (which compiles this file with GV_SCHEMA_GEN: without
 * it). A build without it (tests/bench/run-bench.sh's plain cc fallback)
 * migrates a new database step by step, as before. */
#if !defined(GV_SCHEMA_GEN) && defined(__has_include)
#if __has_include("schema_fresh.h")
#include "schema_fresh.h"
#endif
#endif

#define MEETING_COLS "id, room, name, agenda, starter, started, ended, topic, file_base, " \
                     "coalesce(starter_id, starter)"
/* Whether the lines rowid id is one of meeting m's (schema 14): m << 32
 * plus 1, 2, ... */
#define LINES_OF(id, m) id " BETWEEN (" m ") << 32 AND ((" m ") << 32) + 4294967295"
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
        [S_M_RUNNING] = "SELECT " MEETING_COLS " FROM meetings WHERE room = ?1 AND ended IS NULL",
        [S_M_GET] = "SELECT " MEETING_COLS " FROM meetings WHERE id = ?1",
        [S_M_START] = "INSERT INTO meetings(room, name, agenda, starter, started, starter_id) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
        [S_M_END] = "UPDATE meetings SET ended = ?2 WHERE id = ?1",
        [S_M_NAME] = "UPDATE meetings SET name = ?2 WHERE id = ?1",
        [S_M_TOPIC] = "UPDATE meetings SET topic = nullif(?2, 0) WHERE id = ?1",
        /* A name taken (the unique index) leaves the row alone: no change. */
        [S_M_FILE_BASE] = "UPDATE OR IGNORE meetings SET file_base = ?2 WHERE id = ?1",
        [S_M_TITLE_SET] = "UPDATE meetings SET title = ?2 WHERE id = ?1",
        [S_M_TITLE_GET] = "SELECT title FROM meetings WHERE id = ?1",
        [S_M_SERIES_SET] = "UPDATE meetings SET series = ?2, flavour = ?3 WHERE id = ?1",
        [S_M_SERIES_GET] = "SELECT series, flavour FROM meetings WHERE id = ?1",
        [S_M_ENDED] = "SELECT id FROM meetings WHERE ended IS NOT NULL ORDER BY id",
        [S_M_UNNAMED] = "SELECT name FROM meetings WHERE file_base IS NULL AND ended IS NOT NULL "
                        "AND started >= ?1 AND started < ?2 AND id <> ?3 ORDER BY id",
        [S_CHAIR_ADD] = "INSERT OR IGNORE INTO chairs(meeting, user_id) VALUES(?1, ?2)",
        [S_CHAIR_DEL] = "DELETE FROM chairs WHERE meeting = ?1 AND user_id = ?2",
        [S_CHAIR_IS] = "SELECT 1 FROM chairs WHERE meeting = ?1 AND user_id = ?2",
        [S_CHAIRS] = "SELECT coalesce(p.nick, c.user_id) FROM chairs c LEFT JOIN people p "
                     "ON p.meeting = c.meeting AND p.user_id = c.user_id "
                     "WHERE c.meeting = ?1 ORDER BY c.rowid",
        [S_NICK_ADD] = "INSERT OR IGNORE INTO nicks(meeting, nick) VALUES(?1, ?2)",
        [S_NICKS] = "SELECT nick FROM nicks WHERE meeting = ?1 ORDER BY rowid",
        [S_PERSON_GET] = "SELECT nick FROM people WHERE meeting = ?1 AND user_id = ?2",
        [S_PERSON_TAKEN] = "SELECT 1 FROM people WHERE meeting = ?1 AND nick = ?2 COLLATE NOCASE",
        [S_PERSON_ADD] = "INSERT INTO people(meeting, user_id, nick) VALUES(?1, ?2, ?3)",
        [S_MEMBER_SET] = "INSERT INTO members(room, user_id, nick, display_name, membership) "
                         "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(room, user_id) DO UPDATE SET "
                         "nick = excluded.nick, display_name = excluded.display_name, "
                         "membership = excluded.membership",
        [S_MEMBER_SEEN] = "INSERT INTO members(room, user_id, nick, membership) "
                          "VALUES(?1, ?2, ?3, 'join') ON CONFLICT(room, user_id) DO UPDATE SET "
                          "membership = 'join' WHERE membership <> 'join'",
        [S_MEMBERS_NAMED] = "SELECT user_id FROM members WHERE room = ?1 AND membership = 'join' "
                            "AND (nick = ?2 COLLATE NOCASE OR display_name = ?2 COLLATE NOCASE) "
                            "ORDER BY user_id",
        /* a meeting's lines: the rowids LINES_OF(meeting) (schema 14). By event:
         * the room's meetings, then each one's lines by rowid (CROSS JOIN
         * and the unary + keep SQLite from scanning lines or building an
         * automatic index over them) */
        [S_LINE_ADD] = "INSERT INTO lines(id, meeting, ts, nick, text, action, event_id, sender) "
                       "VALUES((SELECT coalesce(max(id), ?1 << 32) + 1 FROM lines "
                       "WHERE " LINES_OF("id", "?1") "), ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        /* ?8: the rowid S_LINE_ADD would give, known to the store (lines.c) */
        [S_LINE_ADD_AT] = "INSERT INTO lines(id, meeting, ts, nick, text, action, event_id, sender) "
                          "VALUES(?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        [S_LINES] = "SELECT ts, nick, CASE WHEN redacted THEN '[redacted]' ELSE text END, action "
                    "FROM lines WHERE " LINES_OF("id", "?1") " AND meeting = ?1 ORDER BY id",
        [S_COUNTS] = "SELECT nick, count(*) AS n FROM lines WHERE " LINES_OF("id", "?1") " AND meeting = ?1 "
                     "GROUP BY nick ORDER BY n DESC, nick ASC",
        [S_LINES_EVENT] = "SELECT l.id, l.meeting, l.nick, l.sender, l.text, l.action, l.redacted "
                          "FROM meetings m CROSS JOIN lines l ON " LINES_OF("l.id", "m.id") " "
                          "WHERE m.room = ?2 AND +l.meeting = m.id AND +l.event_id = ?1 ORDER BY l.id",
        [S_LINE_TEXT] = "UPDATE lines SET text = ?2 WHERE id = ?1 AND redacted = 0",
        [S_LINE_DEL] = "DELETE FROM lines WHERE id = ?1",
        [S_LINES_REDACT] = "UPDATE lines SET redacted = 1, text = '' WHERE id IN (SELECT l.id "
                           "FROM meetings m CROSS JOIN lines l ON " LINES_OF("l.id", "m.id") " "
                           "WHERE m.room = ?2 AND +l.meeting = m.id AND +l.event_id = ?1 "
                           "AND +l.redacted = 0)",
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
        /* ballots.nick holds the voter's full sender ID (schema 3) */
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
        [S_ALIAS_SET] = "INSERT INTO room_aliases(alias, room_id, ts) VALUES(?1, ?2, ?3) "
                         "ON CONFLICT(alias) DO UPDATE SET room_id = excluded.room_id, ts = excluded.ts",
        [S_ALIAS_GET] = "SELECT room_id FROM room_aliases WHERE alias = ?1",
        /* meeting series (store/series.c) */
        [S_TIMER_SET] = "INSERT OR IGNORE INTO series_timers(series, occ, kind, state, due, at) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
        [S_TIMER_GET] = "SELECT state FROM series_timers WHERE series = ?1 AND occ = ?2 AND kind = ?3",
        [S_REL_ADD] = "INSERT OR REPLACE INTO series_releases(row, series, occ, room, ts) VALUES(?1, ?2, ?3, ?4, ?5)",
        [S_REL_SENT] = "UPDATE series_releases SET event_id = ?2 WHERE row = ?1",
        [S_REL_BY_EVENT] = "SELECT series, occ FROM series_releases WHERE event_id = ?1",
        [S_REL_LAST] = "SELECT row, event_id FROM series_releases WHERE event_id IS NOT NULL "
                       "ORDER BY row DESC LIMIT 1",
        [S_REL_ROW] = "SELECT event_id FROM series_releases WHERE row = ?1 AND event_id IS NOT NULL",
        [S_REL_ANY] = "SELECT 1 FROM series_releases WHERE series = ?1 AND occ = ?2 LIMIT 1",
        [S_ATT_SET] = "INSERT INTO attendance(series, occ, user_id, item, coming, event_id, ts) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(series, occ, user_id, item) "
                      "DO UPDATE SET coming = excluded.coming, event_id = excluded.event_id, "
                      "ts = excluded.ts",
        [S_ATT_DEL_USER] = "DELETE FROM attendance WHERE series = ?1 AND occ = ?2 AND user_id = ?3",
        [S_ATT_EACH] = "SELECT user_id, item, coming FROM attendance WHERE series = ?1 AND occ = ?2 "
                       "ORDER BY ts, user_id, item",
        [S_ATT_BY_EVENT] = "SELECT series, occ FROM attendance WHERE event_id = ?1 LIMIT 1",
        [S_ATT_DEL_EVENT] = "DELETE FROM attendance WHERE event_id = ?1",
        [S_PP_GET] = "SELECT series, occ, reason FROM item_postponed WHERE item = ?1",
        [S_PP_SET] = "INSERT INTO item_postponed(item, series, occ, reason) VALUES(?1, ?2, ?3, ?4) "
                     "ON CONFLICT(item) DO UPDATE SET series = excluded.series, occ = excluded.occ, "
                     "reason = excluded.reason",
        [S_PP_DEL] = "DELETE FROM item_postponed WHERE item = ?1",
        [S_M_SINCE] = "SELECT 1 FROM meetings WHERE (room = ?1 OR room = ?2) AND started >= ?3 "
                      "AND (?4 IS NULL OR series IS NULL OR series = ?4) LIMIT 1",
        [S_ROOM_GET] = "SELECT joined_at, power_levels, encryption, last_event, last_ts FROM rooms "
                       "WHERE id = ?1",
        [S_ROOM_POWER] = "INSERT INTO rooms(id, power_levels) VALUES(?1, ?2) "
                         "ON CONFLICT(id) DO UPDATE SET power_levels = excluded.power_levels",
        [S_ROOM_JOINED] = "INSERT INTO rooms(id, joined_at) VALUES(?1, ?2) "
                          "ON CONFLICT(id) DO UPDATE SET joined_at = excluded.joined_at",
        [S_ROOM_ENC] = "INSERT INTO rooms(id, encryption) VALUES(?1, ?2) "
                       "ON CONFLICT(id) DO UPDATE SET encryption = excluded.encryption",
        [S_ROOM_LAST] = "INSERT INTO rooms(id, last_event, last_ts) VALUES(?1, ?2, ?3) "
                        "ON CONFLICT(id) DO UPDATE SET last_event = excluded.last_event, "
                        "last_ts = excluded.last_ts",
        [S_O_LATER] = "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_at = ?3 "
                      "WHERE id = ?1 AND sent IS NULL",
        [S_O_PARK] = "UPDATE outbox SET state = 1, attempts = attempts + 1, last_error = ?2 "
                     "WHERE id = ?1 AND sent IS NULL",
        [S_O_RETRY] = "UPDATE outbox SET state = 0, next_at = 0 WHERE id = ?1 AND sent IS NULL",
        [S_O_FILES_FAILED] = "SELECT 1 FROM outbox WHERE kind = 'file' AND attempts > 0 "
                             "AND json_extract(extra, '$.meeting') = ?1 LIMIT 1",
        [S_O_WAITS] = "SELECT 1 FROM outbox WHERE kind = ?1 AND sent IS NULL AND state = 0 "
                      "AND json_extract(extra, '$.meeting') = ?2 LIMIT 1",
        [S_PUB_ADD] = "INSERT INTO publications(meeting, target, link, ts) VALUES(?1, ?2, ?3, ?4) "
                      "ON CONFLICT(meeting, target) DO UPDATE SET link = excluded.link",
        [S_PUB_ITEMS] = "UPDATE items SET notes_link = ?2 WHERE (notes_link IS NULL OR "
                        "(?2 GLOB 'http*' AND notes_link NOT GLOB 'http*')) AND id IN "
                        "(SELECT agenda_item FROM mitems WHERE meeting = ?1 AND kind = 0)",
        [S_PUB_EACH] = "SELECT target, link FROM publications WHERE meeting = ?1 ORDER BY ts, target",
        [S_ITEM_LINK] = "SELECT notes_link FROM items WHERE id = ?1",
        [S_O_MINUTES_ROW] = "SELECT id, sent IS NOT NULL, state FROM outbox WHERE kind = 'minutes' "
                            "AND json_extract(extra, '$.meeting') = ?1 "
                            "AND json_extract(extra, '$.header') IS NULL "
                            "AND json_extract(extra, '$.replaces_row') IS NULL ORDER BY id LIMIT 1",
        [S_ITEMS_DONE] = "SELECT id, agenda, description, reporter, mentions, room, event_id, "
                         "created, position, pinned, status, discussed_in FROM items "
                         "WHERE agenda = ?1 AND status = 2 ORDER BY id DESC LIMIT ?2",
        [S_O_EACH] = "SELECT id, kind, room, NULL, NULL, extra, state, attempts, last_error, "
                     "next_at, created FROM outbox WHERE sent IS NULL ORDER BY id",
        /* crypto (store/crypto.c) */
        [S_CX_ACCOUNT_GET] = "SELECT user_id, device_id, pickle FROM crypto_account WHERE id = 1",
        [S_CX_ACCOUNT_SET] = "INSERT INTO crypto_account(id, user_id, device_id, pickle) "
                             "VALUES(1, ?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET "
                             "user_id = excluded.user_id, device_id = excluded.device_id, "
                             "pickle = excluded.pickle",
        [S_CX_SECRET_GET] = "SELECT pickle FROM crypto_secrets WHERE name = ?1",
        [S_CX_SECRET_SET] = "INSERT INTO crypto_secrets(name, pickle) VALUES(?1, ?2) "
                            "ON CONFLICT(name) DO UPDATE SET pickle = excluded.pickle",
        [S_CX_OLM_SET] = "INSERT INTO crypto_olm(sender_key, session_id, pickle, last_used) "
                         "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(sender_key, session_id) DO UPDATE "
                         "SET pickle = excluded.pickle, last_used = excluded.last_used",
        [S_CX_OLM_EACH] = "SELECT session_id, pickle FROM crypto_olm WHERE sender_key = ?1 "
                          "ORDER BY last_used DESC, rowid DESC",
        [S_CX_IN_SET] = "INSERT INTO crypto_megolm_in(room, sender_key, session_id, ed25519, pickle) "
                        "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(room, sender_key, session_id) "
                        "DO UPDATE SET ed25519 = excluded.ed25519, pickle = excluded.pickle",
        [S_CX_IN_GET] = "SELECT ed25519, pickle FROM crypto_megolm_in WHERE room = ?1 "
                        "AND sender_key = ?2 AND session_id = ?3",
        [S_CX_SEEN_GET] = "SELECT event_id FROM crypto_megolm_seen WHERE room = ?1 "
                          "AND sender_key = ?2 AND session_id = ?3 AND idx = ?4",
        [S_CX_SEEN_ADD] = "INSERT OR IGNORE INTO crypto_megolm_seen(room, sender_key, session_id, "
                          "idx, event_id) VALUES(?1, ?2, ?3, ?4, ?5)",
        [S_CX_OUT_GET] = "SELECT session_id, pickle, created, messages FROM crypto_megolm_out "
                         "WHERE room = ?1",
        [S_CX_OUT_SET] = "INSERT INTO crypto_megolm_out(room, session_id, pickle, created, messages) "
                         "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(room) DO UPDATE SET "
                         "session_id = excluded.session_id, pickle = excluded.pickle, "
                         "created = excluded.created, messages = excluded.messages",
        [S_CX_OUT_DEL] = "DELETE FROM crypto_megolm_out WHERE room = ?1",
        [S_CX_SHARED_ADD] = "INSERT OR IGNORE INTO crypto_megolm_shared(room, session_id, user_id, "
                            "device_id) VALUES(?1, ?2, ?3, ?4)",
        [S_CX_SHARED_HAS] = "SELECT 1 FROM crypto_megolm_shared WHERE room = ?1 AND session_id = ?2 "
                            "AND user_id = ?3 AND device_id = ?4",
        [S_CX_SHARED_DEL] = "DELETE FROM crypto_megolm_shared WHERE room = ?1",
        [S_CX_DEV_SET] = "INSERT INTO crypto_devices(user_id, device_id, curve25519, ed25519, keys) "
                         "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id, device_id) DO UPDATE SET "
                         "curve25519 = excluded.curve25519, ed25519 = excluded.ed25519, "
                         "keys = excluded.keys",
        [S_CX_DEV_DEL] = "DELETE FROM crypto_devices WHERE user_id = ?1 AND device_id = ?2",
        [S_CX_DEVS] = "SELECT device_id, curve25519, ed25519, keys FROM crypto_devices "
                      "WHERE user_id = ?1 ORDER BY device_id",
        [S_CX_DEVS_DEL] = "DELETE FROM crypto_devices WHERE user_id = ?1",
        [S_CX_USER_SET] = "INSERT INTO crypto_users(user_id, outdated) VALUES(?1, ?2) "
                          "ON CONFLICT(user_id) DO UPDATE SET outdated = excluded.outdated",
        [S_CX_USER_DEL] = "DELETE FROM crypto_users WHERE user_id = ?1",
        [S_CX_WAIT_ADD] = "INSERT OR IGNORE INTO crypto_waiting(event_id, room, session_id, event, since) "
                          "VALUES(?1, ?2, ?3, ?4, ?5)",
        [S_CX_WAIT_EACH] = "SELECT event_id, room, session_id, event, since FROM crypto_waiting "
                           "WHERE ?1 IS NULL OR session_id = ?1 ORDER BY since, event_id",
        [S_CX_WAIT_DEL] = "DELETE FROM crypto_waiting WHERE event_id = ?1",
        [S_CX_WAIT_COUNT] = "SELECT count(*) FROM crypto_waiting",
        [S_KV_DEL] = "DELETE FROM kv WHERE key = ?1",
        [S_MEMBERS_JOINED] = "SELECT user_id FROM members WHERE room = ?1 AND membership = 'join' "
                             "ORDER BY user_id",
        [S_MEMBERS_ENCRYPTED] = "SELECT DISTINCT m.user_id FROM members m JOIN rooms r ON r.id = m.room "
                                "WHERE r.encryption IS NOT NULL AND m.membership = 'join' "
                                "ORDER BY m.user_id",
        [S_CX_USERS_OUTDATED] = "SELECT user_id FROM crypto_users WHERE outdated = 1 ORDER BY user_id",
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
        /* 3: the base name of each ended meeting's archive files, reserved at
         * #endmeeting so that no two meetings share one (case-insensitively:
         * some file systems are). NULL for meetings ended before. */
        "ALTER TABLE meetings ADD COLUMN file_base TEXT;"
        "CREATE UNIQUE INDEX meetings_file_base ON meetings(file_base COLLATE NOCASE);",
        /* 4: what the bridge knows of each room, out of the kv table */
        "CREATE TABLE rooms(id TEXT PRIMARY KEY, joined_at INTEGER NOT NULL DEFAULT 0,"
        "  power_levels TEXT, encryption TEXT, last_event TEXT,"
        "  last_ts INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
        "INSERT INTO rooms(id, power_levels) SELECT substr(key, 6, length(key) - 11), value "
        "  FROM kv WHERE key GLOB 'room:?*:power';"
        "INSERT INTO rooms(id, joined_at) SELECT substr(key, 6, length(key) - 12),"
        "  CAST(value AS INTEGER) FROM kv WHERE key GLOB 'room:?*:joined'"
        "  ON CONFLICT(id) DO UPDATE SET joined_at = excluded.joined_at;"
        "DELETE FROM kv WHERE key GLOB 'room:?*:power' OR key GLOB 'room:?*:joined';",
        /* 5: chairs and ballots by the full sender ID, not the nick (one
         * "alice" is not another); the nick each person goes by in a
         * meeting; the rooms' members. A nick of an old row becomes the one
         * sender who said lines under it in that meeting, else stays. */
        "CREATE TEMP TABLE who AS SELECT meeting, nick, "
        "  CASE WHEN count(DISTINCT sender) = 1 THEN min(sender) END AS sender "
        "  FROM lines WHERE sender IS NOT NULL GROUP BY meeting, lower(nick);"
        "CREATE TABLE chairs3(meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  user_id TEXT NOT NULL, PRIMARY KEY(meeting, user_id));"
        "INSERT OR IGNORE INTO chairs3(meeting, user_id) SELECT c.meeting, coalesce("
        "  (SELECT w.sender FROM who w WHERE w.meeting = c.meeting AND w.nick = c.nick COLLATE NOCASE),"
        "  c.nick) FROM chairs c ORDER BY c.rowid;"
        "DROP TABLE chairs;"
        "ALTER TABLE chairs3 RENAME TO chairs;"
        "UPDATE OR IGNORE ballots SET nick = coalesce((SELECT w.sender FROM who w JOIN votes v "
        "  ON v.meeting = w.meeting WHERE v.id = ballots.vote AND w.nick = ballots.nick COLLATE NOCASE),"
        "  nick);"
        "ALTER TABLE meetings ADD COLUMN starter_id TEXT;"
        "UPDATE meetings SET starter_id = coalesce((SELECT w.sender FROM who w WHERE "
        "  w.meeting = meetings.id AND w.nick = meetings.starter COLLATE NOCASE), starter);"
        "CREATE TABLE people(meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  user_id TEXT NOT NULL, nick TEXT NOT NULL, PRIMARY KEY(meeting, user_id));"
        "INSERT OR IGNORE INTO people(meeting, user_id, nick) SELECT meeting, sender, nick "
        "  FROM lines WHERE sender IS NOT NULL ORDER BY id;"
        "CREATE TABLE members(room TEXT NOT NULL, user_id TEXT NOT NULL, nick TEXT NOT NULL,"
        "  display_name TEXT, membership TEXT NOT NULL, PRIMARY KEY(room, user_id));"
        "INSERT OR IGNORE INTO members(room, user_id, nick, membership) SELECT m.room, l.sender, "
        "  l.nick, 'join' FROM lines l JOIN meetings m ON m.id = l.meeting "
        "  WHERE l.sender IS NOT NULL ORDER BY l.id;"
        "DROP TABLE temp.who;",
        /* 6: outbox rows that failed: waiting (attempts, last_error, next_at)
         * or parked (state 1) so that no row wedges the others */
        "ALTER TABLE outbox ADD COLUMN state INTEGER NOT NULL DEFAULT 0 CHECK(state IN (0, 1));"
        "ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE outbox ADD COLUMN last_error TEXT;"
        "ALTER TABLE outbox ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0;",
        /* 7: end-to-end encryption (bridge/crypto.c): libolm pickles, each
         * encrypted with the pickle key from a secret file; what was shared
         * with whom; the device keys of other users */
        "CREATE TABLE crypto_account(id INTEGER PRIMARY KEY CHECK(id = 1),"
        "  user_id TEXT NOT NULL, device_id TEXT NOT NULL, pickle TEXT NOT NULL);"
        "CREATE TABLE crypto_secrets(name TEXT PRIMARY KEY, pickle TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE crypto_olm(sender_key TEXT NOT NULL, session_id TEXT NOT NULL,"
        "  pickle TEXT NOT NULL, last_used INTEGER NOT NULL, PRIMARY KEY(sender_key, session_id));"
        "CREATE TABLE crypto_megolm_in(room TEXT NOT NULL, sender_key TEXT NOT NULL,"
        "  session_id TEXT NOT NULL, ed25519 TEXT NOT NULL, pickle TEXT NOT NULL,"
        "  PRIMARY KEY(room, sender_key, session_id)) WITHOUT ROWID;"
        "CREATE TABLE crypto_megolm_seen(room TEXT NOT NULL, sender_key TEXT NOT NULL,"
        "  session_id TEXT NOT NULL, idx INTEGER NOT NULL, event_id TEXT NOT NULL,"
        "  PRIMARY KEY(room, sender_key, session_id, idx)) WITHOUT ROWID;"
        "CREATE TABLE crypto_megolm_out(room TEXT PRIMARY KEY, session_id TEXT NOT NULL,"
        "  pickle TEXT NOT NULL, created INTEGER NOT NULL, messages INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE crypto_megolm_shared(room TEXT NOT NULL, session_id TEXT NOT NULL,"
        "  user_id TEXT NOT NULL, device_id TEXT NOT NULL,"
        "  PRIMARY KEY(room, session_id, user_id, device_id)) WITHOUT ROWID;"
        "CREATE TABLE crypto_devices(user_id TEXT NOT NULL, device_id TEXT NOT NULL,"
        "  curve25519 TEXT NOT NULL, ed25519 TEXT NOT NULL, keys TEXT NOT NULL,"
        "  PRIMARY KEY(user_id, device_id)) WITHOUT ROWID;"
        "CREATE TABLE crypto_users(user_id TEXT PRIMARY KEY, outdated INTEGER NOT NULL) WITHOUT ROWID;",
        /* 8: MeetBot's meeting title (the #startmeeting argument; NULL for
         * meetings started before), out of the kv table */
        "ALTER TABLE meetings ADD COLUMN title TEXT;"
        "UPDATE meetings SET title = (SELECT value FROM kv WHERE key = 'meeting-title:' || meetings.id);"
        "DELETE FROM kv WHERE key GLOB 'meeting-title:*';",
        /* 9: publishing (issue 9): where each meeting's notes were published
         * (a wiki section's URL per target), and an agenda item's link to the
         * notes it was discussed in */
        "CREATE TABLE publications(meeting INTEGER NOT NULL REFERENCES meetings(id),"
        "  target TEXT NOT NULL, link TEXT NOT NULL, ts INTEGER NOT NULL,"
        "  PRIMARY KEY(meeting, target)) WITHOUT ROWID;"
        "ALTER TABLE items ADD COLUMN notes_link TEXT;",
        /* 10: encrypted events whose room key has not arrived yet: they wait
         * (bounded) and are handled when it does */
        "CREATE TABLE crypto_waiting(event_id TEXT PRIMARY KEY, room TEXT NOT NULL,"
        "  session_id TEXT NOT NULL, event TEXT NOT NULL, since INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE INDEX crypto_waiting_session ON crypto_waiting(session_id);",
        /* 11: room aliases ("#arch-call:example.org") as the bridge resolved
         * them (the directory, m.room.canonical_alias), so that handlers
         * match a configured alias against an event's room ID */
        "CREATE TABLE room_aliases(alias TEXT PRIMARY KEY, room_id TEXT NOT NULL,"
        "  ts INTEGER NOT NULL) WITHOUT ROWID;",
        /* 12: the series a meeting belongs to (its "series" config entry's
         * name) and its flavour ("standup", ...); NULL: none, the default */
        "ALTER TABLE meetings ADD COLUMN series TEXT;"
        "ALTER TABLE meetings ADD COLUMN flavour TEXT;",
        /* 13: meeting series (issue 10). A timer (kind 0 release, 1 reminder)
         * of one occurrence (series name, UTC ms) once done (state 0), done
         * late (1) or skipped (2): never again. Each release message (its
         * outbox row, then its event ID once sent) for the reactions to it;
         * who comes (per item, 0: the whole occurrence) and the event that
         * said so, for a redaction to take it back; why an item was
         * postponed by attendance. */
        "CREATE TABLE series_timers(series TEXT NOT NULL, occ INTEGER NOT NULL,"
        "  kind INTEGER NOT NULL, state INTEGER NOT NULL, due INTEGER NOT NULL,"
        "  at INTEGER NOT NULL, PRIMARY KEY(series, occ, kind)) WITHOUT ROWID;"
        "CREATE TABLE series_releases(row INTEGER PRIMARY KEY, series TEXT NOT NULL,"
        "  occ INTEGER NOT NULL, room TEXT NOT NULL, event_id TEXT, ts INTEGER NOT NULL);"
        "CREATE INDEX series_releases_event ON series_releases(event_id);"
        "CREATE INDEX series_releases_occ ON series_releases(series, occ);"
        "CREATE TABLE attendance(series TEXT NOT NULL, occ INTEGER NOT NULL,"
        "  user_id TEXT NOT NULL, item INTEGER NOT NULL, coming INTEGER NOT NULL,"
        "  event_id TEXT, ts INTEGER NOT NULL,"
        "  PRIMARY KEY(series, occ, user_id, item)) WITHOUT ROWID;"
        "CREATE INDEX attendance_event ON attendance(event_id);"
        "CREATE TABLE item_postponed(item INTEGER PRIMARY KEY, series TEXT NOT NULL,"
        "  occ INTEGER NOT NULL, reason TEXT NOT NULL);",
        /* 14: a meeting's lines found by their rowids, meeting << 32 plus a
         * count (LINES_OF), not by an index: the table is clustered by
         * meeting and a line logged writes one B-tree, not two (one WAL
         * page less per message of a live meeting). Old rows keep their
         * order: the old rowid (below 2^32) is the count. */
        "UPDATE lines SET id = (meeting << 32) + id;"
        "DROP INDEX lines_meeting;",
};

/* The message of the last gv_store_open that failed: there is no handle to
 * keep it in. One thread opens databases. */
static char open_err[1024];

const char *gv_store_errmsg(const struct gv_store *s)
{
        if (!s)
                return open_err[0] ? open_err : "no database";
        if (s->errmsg[0])
                return s->errmsg;
        if (s->db && sqlite3_errcode(s->db) != SQLITE_OK)
                return sqlite3_errmsg(s->db);
        return "no database error recorded";
}

int gv_store_schema_version(const struct gv_store *s)
{
        return s->version;
}

/* What a newcomer can do about an SQLite result code, or "". */
static const char *db_hint(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_CANTOPEN:
                return " (is its directory read-only? SQLite creates the -wal and -shm files "
                       "next to the database)";
        case SQLITE_READONLY:
        case SQLITE_PERM:
                return " (is the file or its directory read-only, or owned by another user?)";
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
                return " (not a gavel database, or damaged: restore it from a backup)";
        case SQLITE_FULL:
                return " (the disk is full)";
        default:
                return "";
        }
}

enum gv_err store_db_err(struct gv_store *s, int rc, const char *what)
{
        const char *msg;

        if (rc == SQLITE_OK)
                rc = SQLITE_ERROR;
        /* the handle's message only when it still describes this failure */
        msg = s->db && sqlite3_errcode(s->db) != SQLITE_OK ? sqlite3_errmsg(s->db) :
                                                            sqlite3_errstr(rc);
        snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s%s%s%s", s->path ? s->path : "database",
                 what ? what : "", what ? ": " : "", msg, db_hint(rc));
        return rc == SQLITE_NOMEM ? GV_ENOMEM : GV_EDB;
}

/* The statements that may change a row of meetings (S_MI_DEL: the foreign
 * key's ON DELETE SET NULL of meetings.topic) or end what the running
 * meeting cache may rely on: a new or ended transaction, a rollback. They
 * drop the lines' next rowid too (S_LINE_DEL: for it alone). */
static const bool drops_running[S__COUNT] = {
        [S_BEGIN] = true, [S_COMMIT] = true, [S_ROLLBACK] = true, [S_ROLLBACK_TO] = true,
        [S_M_START] = true, [S_M_END] = true, [S_M_NAME] = true, [S_M_TOPIC] = true,
        [S_M_FILE_BASE] = true, [S_M_TITLE_SET] = true, [S_M_SERIES_SET] = true,
        [S_MI_UNTOPIC] = true, [S_MI_DEL] = true, [S_LINE_DEL] = true,
};

sqlite3_stmt *store_stmt(struct gv_store *s, enum stmt_id id)
{
        if (drops_running[id]) {
                s->line_next = 0;
                if (s->running.valid)
                        store_running_drop(s);
        }
        if (!s->st[id]) {
                int rc = sqlite3_prepare_v3(s->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                            &s->st[id], NULL);

                if (rc != SQLITE_OK) {
                        (void)store_db_err(s, rc, "preparing a statement");
                        gv_err_log("store", "statement %d: %s", (int)id, s->errmsg);
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
        enum gv_err r = store_db_err(s, rc, NULL);

        gv_err_log("store", "%s", s->errmsg);
        return r;
}

/* Runs a statement that returns no rows. */
enum gv_err store_exec_done(struct gv_store *s, sqlite3_stmt *st)
{
        int rc;

        if (!st)
                return GV_EDB;
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
                enum gv_err r = db_err(s, rc);

                sqlite3_reset(st);
                return r;
        }
        sqlite3_reset(st);
        return GV_OK;
}

/* Steps a row: GV_OK with a row, GV_ENOTFOUND when done. */
enum gv_err store_step_row(struct gv_store *s, sqlite3_stmt *st)
{
        enum gv_err r;
        int rc;

        if (!st)
                return GV_EDB;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return GV_OK;
        if (rc == SQLITE_DONE) {
                sqlite3_reset(st);
                return GV_ENOTFOUND;
        }
        r = db_err(s, rc);
        sqlite3_reset(st);
        return r;
}

/* Runs SQL text; a failure is recorded with what (may be NULL), not logged. */
static enum gv_err exec_sql(struct gv_store *s, const char *text, const char *what)
{
        int rc = sqlite3_exec(s->db, text, NULL, NULL, NULL);

        if (rc != SQLITE_OK)
                return store_db_err(s, rc, what);
        return GV_OK;
}

static enum gv_err migrate(struct gv_store *s)
{
        sqlite3_stmt *st = NULL;
#ifdef GV_FRESH_SCHEMA_VERSION
        sqlite3_stmt *st2 = NULL;
#endif
        int n = (int)(sizeof(migrations) / sizeof(migrations[0])), rc;
        enum gv_err r = GV_EDB;

        rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                r = store_db_err(s, rc, NULL);
                goto out;
        }
        s->version = sqlite3_column_int(st, 0);
        sqlite3_reset(st);      /* no statement may be running while a migration drops a table */
        if (s->version > n) {
                snprintf(s->errmsg, sizeof(s->errmsg), "%s: database schema version %d is newer "
                         "than this gavel knows (%d); use a newer gavel", s->path, s->version, n);
                goto out;
        }
#ifdef GV_FRESH_SCHEMA_VERSION
        /* A new, empty database: the folded schema, in one transaction */
        if (s->version == 0 && n == GV_FRESH_SCHEMA_VERSION) {
                char pragma[48];
                bool empty = false;

                rc = sqlite3_prepare_v2(s->db, "SELECT NOT EXISTS (SELECT 1 FROM sqlite_master)",
                                        -1, &st2, NULL);
                if (rc == SQLITE_OK && sqlite3_step(st2) == SQLITE_ROW)
                        empty = sqlite3_column_int(st2, 0) != 0;
                sqlite3_finalize(st2);
                if (empty) {
                        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", n);
                        r = exec_sql(s, "BEGIN IMMEDIATE", "creating the schema");
                        if (r)
                                goto out;
                        for (int i = 0; r == GV_OK && fresh_schema[i]; i++)
                                r = exec_sql(s, fresh_schema[i], "creating the schema");
                        if (r == GV_OK)
                                r = exec_sql(s, pragma, "creating the schema");
                        if (r == GV_OK)
                                r = exec_sql(s, "COMMIT", "creating the schema");
                        if (r) {
                                if (!sqlite3_get_autocommit(s->db))
                                        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
                                goto out;
                        }
                        s->version = n;
                }
        }
#endif
        while (s->version < n) {
                char pragma[48], what[48];

                snprintf(what, sizeof(what), "migrating the schema to version %d", s->version + 1);
                r = exec_sql(s, "BEGIN IMMEDIATE", what);
                if (r)
                        goto out;
                snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", s->version + 1);
                r = exec_sql(s, migrations[s->version], what);
                if (r == GV_OK)
                        r = exec_sql(s, pragma, what);
                if (r) {
                        if (!sqlite3_get_autocommit(s->db))
                                (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
                        goto out;
                }
                r = exec_sql(s, "COMMIT", what);
                if (r)
                        goto out;
                s->version++;
        }
        r = GV_OK;
out:
        sqlite3_finalize(st);
        return r;
}

static bool is_file_path(const char *path)
{
        return strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0;
}

/* Before SQLite sees the path: what is there, and can we write it? A new
 * file is created owner-only whatever the umask: it will hold the access
 * token. *created tells whether we made it. */
static bool check_path(struct gv_store *s, bool *created)
{
        struct stat sb;
        int fd;

        *created = false;
        if (stat(s->path, &sb) != 0) {
                if (errno != ENOENT) {
                        snprintf(s->errmsg, sizeof(s->errmsg), "%s: cannot open: %s", s->path,
                                 strerror(errno));
                        return false;
                }
                fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0) {
                        int e = errno;

                        snprintf(s->errmsg, sizeof(s->errmsg), "%s: cannot create: %s%s", s->path,
                                 strerror(e),
                                 e == EACCES || e == EROFS || e == EPERM ?
                                         " (read-only directory?)" :
                                 e == ENOENT ? " (does its directory exist?)" : "");
                        return false;
                }
                *created = true;
                if (fchmod(fd, 0600) != 0)
                        gv_warn("store", "%s: cannot make it owner-only: %s", s->path,
                                strerror(errno));
                close(fd);
                return true;
        }
        if (S_ISDIR(sb.st_mode)) {
                snprintf(s->errmsg, sizeof(s->errmsg), "%s: cannot open: it is a directory, not "
                         "a database file", s->path);
                return false;
        }
        if (!S_ISREG(sb.st_mode)) {
                snprintf(s->errmsg, sizeof(s->errmsg), "%s: cannot open: not a regular file",
                         s->path);
                return false;
        }
        fd = open(s->path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;

                snprintf(s->errmsg, sizeof(s->errmsg), "%s: cannot open for writing: %s%s",
                         s->path, strerror(e),
                         e == EACCES || e == EROFS || e == EPERM ?
                                 " (read-only file, or owned by another user?)" : "");
                return false;
        }
        close(fd);
        return true;
}

/* The database, its -wal and its -shm owner-only, also when an older gavel
 * or a loose umask made them readable by others. */
static void tighten(const struct gv_store *s)
{
        static const char *const ext[] = { "", "-wal", "-shm" };
        char p[4200];
        struct stat sb;

        for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
                if ((size_t)snprintf(p, sizeof(p), "%s%s", s->path, ext[i]) >= sizeof(p))
                        return;
                if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077) &&
                    chmod(p, sb.st_mode & 0700) == 0)
                        gv_info("store", "%s: made owner-only (it holds the access token)", p);
        }
}

static void unlink_created(const struct gv_store *s)
{
        static const char *const ext[] = { "", "-wal", "-shm", "-journal" };
        char p[4200];

        for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
                if ((size_t)snprintf(p, sizeof(p), "%s%s", s->path, ext[i]) < sizeof(p))
                        (void)unlink(p);
}

static enum gv_err store_open(const char *path, bool fk, struct gv_store **ret)
{
        struct gv_store *s;
        bool file, created = false;
        enum gv_err r = GV_EDB;
        int rc;

        /* One connection, one thread: no mutexes, no global memory statistics
         * (each of which costs a lock per malloc). Only possible before
         * SQLite initialises; later calls are refused, harmlessly. */
        (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        open_err[0] = '\0';
        if (!path || !*path) {
                snprintf(open_err, sizeof(open_err), "no database file given");
                return GV_EDB;
        }
        s = calloc(1, sizeof(*s));
        if (!s || !(s->path = strdup(path))) {
                snprintf(open_err, sizeof(open_err), "%s: out of memory", path);
                free(s);
                return GV_ENOMEM;
        }
        file = is_file_path(path);
        if (file && !check_path(s, &created))
                goto fail;
        rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                r = store_db_err(s, rc, "cannot open");
                goto fail;
        }
        if (sqlite3_db_readonly(s->db, "main") == 1) {
                snprintf(s->errmsg, sizeof(s->errmsg), "%s: cannot open for writing: SQLite could "
                         "open it read-only only (read-only file or directory?)", path);
                goto fail;
        }
        sqlite3_busy_timeout(s->db, 5000);
        rc = sqlite3_exec(s->db, fk ? "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;"
                                      "PRAGMA synchronous = NORMAL;" :
                                      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                          NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                int base = rc & 0xff;

                r = store_db_err(s, rc, base == SQLITE_CANTOPEN || base == SQLITE_READONLY ||
                                        base == SQLITE_PERM ? "cannot open" : NULL);
                goto fail;
        }
        r = migrate(s);
        if (r)
                goto fail;
        if (file)
                tighten(s);
        *ret = s;
        return GV_OK;
fail:
        snprintf(open_err, sizeof(open_err), "%s", s->errmsg[0] ? s->errmsg : "cannot open");
        if (s->db) {            /* closed before its files go */
                for (int i = 0; i < S__COUNT; i++) {
                        sqlite3_finalize(s->st[i]);
                        s->st[i] = NULL;
                }
                sqlite3_close(s->db);
                s->db = NULL;
        }
        if (created)
                unlink_created(s);
        gv_store_free(s);
        return r ? r : GV_EDB;
}

enum gv_err gv_store_open(const char *path, struct gv_store **ret)
{
        return store_open(path, true, ret);
}

enum gv_err gv_store_open_scratch(struct gv_store **ret)
{
        enum gv_err r = store_open(":memory:", false, ret);

        /* Its indexes on meeting items by meeting and by event: a replay
         * holds one meeting (or a few) and no edits, so they find nothing a
         * scan by rowid does not (every statement that reads the table
         * orders its rows itself), and updating them cost more than the
         * items themselves. (The lines need none since schema 14.) */
        if (r == GV_OK) {
                r = exec_sql(*ret, "DROP INDEX mitems_meeting; DROP INDEX mitems_event;",
                             "dropping the scratch store's indexes");
                if (r) {
                        snprintf(open_err, sizeof(open_err), "%s", (*ret)->errmsg);
                        *ret = gv_store_free(*ret);
                }
        }
        return r;
}

struct gv_store *gv_store_free(struct gv_store *s)
{
        if (!s)
                return NULL;
        for (int i = 0; i < S__COUNT; i++)
                sqlite3_finalize(s->st[i]);
        sqlite3_close(s->db);
        store_lines_cache_free(s);
        store_running_drop(s);
        gv_store_cache_set(s, NULL, NULL);
        free(s->path);
        free(s);
        return NULL;
}

enum gv_err gv_store_begin(struct gv_store *s)
{
        s->errmsg[0] = '\0';   /* a new unit of work: older errors are done with */
        store_lines_cache_free(s);      /* kept from one render to the next only */
        gv_store_cache_set(s, NULL, NULL);
        return store_exec_done(s, store_stmt(s, S_BEGIN));
}

enum gv_err gv_store_commit(struct gv_store *s)
{
        return store_exec_done(s, store_stmt(s, S_COMMIT));
}

enum gv_err gv_store_sync(struct gv_store *s)
{
        /* synchronous=NORMAL: a commit is in the WAL, not yet on the disk; a
         * checkpoint syncs the WAL, then copies it into the database file and
         * syncs that */
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

        if (rc != SQLITE_OK) {
                snprintf(s->errmsg, sizeof(s->errmsg), "%s: syncing to disk: %s",
                         s->path ? s->path : "database", sqlite3_errmsg(s->db));
                return GV_EDB;
        }
        return GV_OK;
}

uint64_t gv_store_generation(const struct gv_store *s)
{
        return s->generation;
}

uint64_t gv_store_content_version(struct gv_store *s)
{
        /* every row written, also by a transaction later rolled back */
        return (uint64_t)(sqlite3_total_changes64(s->db) - s->bookkeeping);
}

void *gv_store_cache(const struct gv_store *s)
{
        return s->cache;
}

void gv_store_cache_set(struct gv_store *s, void *cache, void (*free_fn)(void *))
{
        if (s->cache && s->cache_free)
                s->cache_free(s->cache);
        s->cache = cache;
        s->cache_free = free_fn;
}

void gv_store_rollback(struct gv_store *s)
{
        s->generation++;
        store_running_drop(s);
        s->line_next = 0;
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

enum gv_err gv_store_kv_del(struct gv_store *s, const char *key)
{
        sqlite3_stmt *st = store_stmt(s, S_KV_DEL);

        if (!st)
                return GV_EDB;
        bt(st, 1, key);
        return store_exec_done(s, st);
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
