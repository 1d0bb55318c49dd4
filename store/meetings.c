/* store/meetings.c - meetings, their chairs and nicks, meeting items and
 * votes. See store.h. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void gv_meeting_clear(struct gv_meeting *m)
{
        free(m->room);
        free(m->name);
        free(m->agenda);
        free(m->starter);
        free(m->file_base);
        free(m->starter_id);
        memset(m, 0, sizeof(*m));
}

static enum gv_err read_meeting(struct gv_store *s, sqlite3_stmt *st, struct gv_meeting *m)
{
        enum gv_err r = store_step_row(s, st);
        bool oom;

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
        m->file_base = col_dup(st, 8);
        oom = !m->file_base && sqlite3_column_type(st, 8) != SQLITE_NULL;
        m->starter_id = col_dup(st, 9);
        sqlite3_reset(st);
        if (!m->room || !m->name || !m->agenda || !m->starter || !m->starter_id || oom) {
                gv_meeting_clear(m);
                return GV_ENOMEM;
        }
        return GV_OK;
}

void store_running_drop(struct gv_store *s)
{
        struct running_cache *c = &s->running;

        free(c->room);
        gv_meeting_clear(&c->m);
        memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *p, bool *oom)
{
        char *d;

        if (!p)
                return NULL;
        d = strdup(p);
        if (!d)
                *oom = true;
        return d;
}

static enum gv_err meeting_copy(struct gv_meeting *out, const struct gv_meeting *m)
{
        bool oom = false;

        *out = *m;
        out->room = dup_or_null(m->room, &oom);
        out->name = dup_or_null(m->name, &oom);
        out->agenda = dup_or_null(m->agenda, &oom);
        out->starter = dup_or_null(m->starter, &oom);
        out->starter_id = dup_or_null(m->starter_id, &oom);
        out->file_base = dup_or_null(m->file_base, &oom);
        if (oom) {
                gv_meeting_clear(out);
                return GV_ENOMEM;
        }
        return GV_OK;
}

enum gv_err gv_store_meeting_running(struct gv_store *s, const char *room, struct gv_meeting *out)
{
        struct running_cache *c = &s->running;
        sqlite3_stmt *st;
        enum gv_err r;

        /* a re-read was 5 % of a 10,000-line replay */
        if (c->valid && strcmp(c->room, room) == 0 && !sqlite3_get_autocommit(s->db)) {
                if (!c->found)
                        return GV_ENOTFOUND;
                return meeting_copy(out, &c->m);
        }
        st = store_stmt(s, S_M_RUNNING);
        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        r = read_meeting(s, st, out);
        if ((r != GV_OK && r != GV_ENOTFOUND) || sqlite3_get_autocommit(s->db))
                return r;
        store_running_drop(s);
        if (!(c->room = strdup(room)))
                return r;
        if (r == GV_OK && meeting_copy(&c->m, out) != GV_OK) {
                store_running_drop(s);
                return r;
        }
        c->found = r == GV_OK;
        c->valid = true;
        return r;
}

enum gv_err gv_store_meeting_get(struct gv_store *s, int64_t id, struct gv_meeting *out)
{
        sqlite3_stmt *st = store_stmt(s, S_M_GET);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        return read_meeting(s, st, out);
}

enum gv_err gv_store_meeting_start(struct gv_store *s, const struct gv_meeting *m, int64_t *id)
{
        sqlite3_stmt *st = store_stmt(s, S_M_START);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, m->room);
        bt(st, 2, m->name);
        bt(st, 3, m->agenda);
        bt(st, 4, m->starter);
        bi(st, 5, m->started);
        bt(st, 6, m->starter_id ? m->starter_id : m->starter);
        r = store_exec_done(s, st);
        if (r)
                return r;
        *id = sqlite3_last_insert_rowid(s->db);
        store_lines_cache_start(s, *id);
        return GV_OK;
}

enum gv_err gv_store_meeting_end(struct gv_store *s, int64_t id, int64_t ts)
{
        return store_set_int(s, S_M_END, id, ts);
}

enum gv_err gv_store_meeting_set_name(struct gv_store *s, int64_t id, const char *name)
{
        sqlite3_stmt *st = store_stmt(s, S_M_NAME);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        bt(st, 2, name);
        return store_exec_done(s, st);
}

enum gv_err gv_store_meeting_set_title(struct gv_store *s, int64_t id, const char *title)
{
        return store_id_text(s, S_M_TITLE_SET, id, title);
}

enum gv_err gv_store_meeting_title(struct gv_store *s, int64_t id, char **title)
{
        sqlite3_stmt *st = store_stmt(s, S_M_TITLE_GET);
        enum gv_err r;

        *title = NULL;
        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        r = store_step_row(s, st);
        if (r == GV_OK) {
                *title = col_dup(st, 0);
                if (!*title && sqlite3_column_type(st, 0) != SQLITE_NULL)
                        r = GV_ENOMEM;
        }
        sqlite3_reset(st);
        return r;
}

enum gv_err gv_store_meeting_set_series(struct gv_store *s, int64_t id, const char *series,
                                       const char *flavour)
{
        sqlite3_stmt *st = store_stmt(s, S_M_SERIES_SET);

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        bt(st, 2, series);
        bt(st, 3, flavour);
        return store_exec_done(s, st);
}

enum gv_err gv_store_meeting_series(struct gv_store *s, int64_t id, char **series, char **flavour)
{
        sqlite3_stmt *st = store_stmt(s, S_M_SERIES_GET);
        enum gv_err r;

        *series = NULL;
        *flavour = NULL;
        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        r = store_step_row(s, st);
        if (r == GV_OK) {
                *series = col_dup(st, 0);
                *flavour = col_dup(st, 1);
                if ((!*series && sqlite3_column_type(st, 0) != SQLITE_NULL) ||
                    (!*flavour && sqlite3_column_type(st, 1) != SQLITE_NULL)) {
                        free(*series);
                        free(*flavour);
                        *series = *flavour = NULL;
                        r = GV_ENOMEM;
                }
        }
        sqlite3_reset(st);
        return r;
}

enum gv_err gv_store_meeting_reserve_file(struct gv_store *s, int64_t id, const char *base,
                                          bool *reserved)
{
        enum gv_err r = store_id_text(s, S_M_FILE_BASE, id, base);

        if (r)
                return r;
        *reserved = sqlite3_changes(s->db) > 0;
        return GV_OK;
}

enum gv_err gv_store_meetings_unnamed(struct gv_store *s, int64_t from, int64_t to, int64_t except,
                                      void (*cb)(void *ud, const char *name), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_M_UNNAMED);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, from);
        bi(st, 2, to);
        bi(st, 3, except);
        while ((r = store_step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0));
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_meetings_ended(struct gv_store *s, int64_t **ids, size_t *n)
{
        sqlite3_stmt *st = store_stmt(s, S_M_ENDED);
        int64_t *v = NULL;
        size_t len = 0, cap = 0;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        while ((r = store_step_row(s, st)) == GV_OK) {
                if (len == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        int64_t *nv = realloc(v, nc * sizeof(*nv));

                        if (!nv) {
                                sqlite3_reset(st);
                                r = GV_ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = nc;
                }
                v[len++] = sqlite3_column_int64(st, 0);
        }
        if (r != GV_ENOTFOUND) {
                free(v);
                return r;
        }
        *ids = v;
        *n = len;
        return GV_OK;
}

enum gv_err gv_store_meeting_set_topic(struct gv_store *s, int64_t id, int64_t topic)
{
        return store_set_int(s, S_M_TOPIC, id, topic);
}

static enum gv_err each_nick(struct gv_store *s, enum stmt_id id, int64_t meeting,
                             void (*cb)(void *ud, const char *nick), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, id);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        while ((r = store_step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0));
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_chair_set(struct gv_store *s, int64_t meeting, const char *user_id,
                               bool chair)
{
        return store_id_text(s, chair ? S_CHAIR_ADD : S_CHAIR_DEL, meeting, user_id);
}

/* Runs statement id with ?1 = a, ?2 = t: does it give a row? */
static enum gv_err has_row(struct gv_store *s, enum stmt_id id, int64_t a, const char *t,
                           bool *is)
{
        sqlite3_stmt *st = store_stmt(s, id);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, a);
        bt(st, 2, t);
        r = store_step_row(s, st);
        if (r == GV_OK)
                sqlite3_reset(st);
        else if (r != GV_ENOTFOUND)
                return r;
        *is = r == GV_OK;
        return GV_OK;
}

enum gv_err gv_store_chair_is(struct gv_store *s, int64_t meeting, const char *user_id, bool *is)
{
        return has_row(s, S_CHAIR_IS, meeting, user_id, is);
}

enum gv_err gv_store_person_nick(struct gv_store *s, int64_t meeting, const char *user_id,
                                 const char *nick, const char *alt, char **out)
{
        sqlite3_stmt *st = store_stmt(s, S_PERSON_GET);
        bool taken = false;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bt(st, 2, user_id);
        r = store_step_row(s, st);
        if (r == GV_OK) {
                *out = col_dup(st, 0);
                sqlite3_reset(st);
                return *out ? GV_OK : GV_ENOMEM;
        }
        if (r != GV_ENOTFOUND)
                return r;
        r = has_row(s, S_PERSON_TAKEN, meeting, nick, &taken);
        if (r)
                return r;
        if (taken)
                nick = alt;
        st = store_stmt(s, S_PERSON_ADD);
        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bt(st, 2, user_id);
        bt(st, 3, nick);
        r = store_exec_done(s, st);
        if (r)
                return r;
        *out = strdup(nick);
        return *out ? GV_OK : GV_ENOMEM;
}

/* ---- room members ---- */

enum gv_err gv_store_member_set(struct gv_store *s, const char *room, const char *user_id,
                                const char *nick, const char *display_name,
                                const char *membership)
{
        sqlite3_stmt *st = store_stmt(s, S_MEMBER_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, user_id);
        bt(st, 3, nick);
        bt(st, 4, display_name);
        bt(st, 5, membership);
        return store_exec_done(s, st);
}

enum gv_err gv_store_member_seen(struct gv_store *s, const char *room, const char *user_id,
                                 const char *nick)
{
        sqlite3_stmt *st = store_stmt(s, S_MEMBER_SEEN);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, user_id);
        bt(st, 3, nick);
        return store_exec_done(s, st);
}

enum gv_err gv_store_members_named(struct gv_store *s, const char *room, const char *name,
                                   void (*cb)(void *ud, const char *user_id), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_MEMBERS_NAMED);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, name);
        while ((r = store_step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0));
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_members_joined(struct gv_store *s, const char *room,
                                    void (*cb)(void *ud, const char *user_id), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_MEMBERS_JOINED);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        while ((r = store_step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0));
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_members_encrypted(struct gv_store *s,
                                       void (*cb)(void *ud, const char *user_id), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_MEMBERS_ENCRYPTED);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        while ((r = store_step_row(s, st)) == GV_OK)
                cb(ud, col_str(st, 0));
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_chairs(struct gv_store *s, int64_t meeting,
                            void (*cb)(void *ud, const char *nick), void *ud)
{
        return each_nick(s, S_CHAIRS, meeting, cb, ud);
}

enum gv_err gv_store_nick_add(struct gv_store *s, int64_t meeting, const char *nick)
{
        return store_id_text(s, S_NICK_ADD, meeting, nick);
}

enum gv_err gv_store_nicks(struct gv_store *s, int64_t meeting,
                           void (*cb)(void *ud, const char *nick), void *ud)
{
        return each_nick(s, S_NICKS, meeting, cb, ud);
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
        sqlite3_stmt *st = store_stmt(s, S_MI_ADD);
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
        r = store_exec_done(s, st);
        if (r)
                return r;
        if (id)
                *id = sqlite3_last_insert_rowid(s->db);
        return GV_OK;
}

enum gv_err gv_store_mitem_undo(struct gv_store *s, int64_t meeting, struct gv_mitem *out)
{
        sqlite3_stmt *st = store_stmt(s, S_MI_LAST);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = store_step_row(s, st);
        if (r)
                return r;
        r = read_mitem(st, out);
        sqlite3_reset(st);
        if (r)
                return r;
        st = store_stmt(s, S_MI_DEL);
        if (!st) {
                gv_mitem_clear(out);
                return GV_EDB;
        }
        bi(st, 1, out->id);
        r = store_exec_done(s, st);
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
        sqlite3_stmt *st = store_stmt(s, S_MITEMS);
        void *v = NULL;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = store_read_rows(s, st, sizeof(**items), read_mitem_rec, clear_mitem_rec, &v, n);
        if (r == GV_OK)
                *items = v;
        return r;
}

enum gv_err gv_store_mitems_by_event(struct gv_store *s, const char *room, const char *event_id,
                                     struct gv_mitem **items, size_t *n)
{
        sqlite3_stmt *st = store_stmt(s, S_MI_EVENT);
        void *v = NULL;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        r = store_read_rows(s, st, sizeof(**items), read_mitem_rec, clear_mitem_rec, &v, n);
        if (r == GV_OK)
                *items = v;
        return r;
}

enum gv_err gv_store_mitem_set_text(struct gv_store *s, int64_t id, const char *text)
{
        return store_id_text(s, S_MI_TEXT, id, text);
}

enum gv_err gv_store_mitem_delete(struct gv_store *s, int64_t id)
{
        sqlite3_stmt *st = store_stmt(s, S_MI_GET);
        int64_t meeting;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, id);
        r = store_step_row(s, st);
        if (r)
                return r;
        meeting = sqlite3_column_int64(st, 9);
        sqlite3_reset(st);
        /* The foreign keys would refuse to delete a topic with items under it. */
        r = store_set_int(s, S_MI_REPARENT, id, meeting);
        if (r == GV_OK)
                r = store_set_int(s, S_MI_UNTOPIC, id, meeting);
        if (r == GV_OK) {
                st = store_stmt(s, S_MI_DEL);
                if (!st)
                        return GV_EDB;
                bi(st, 1, id);
                r = store_exec_done(s, st);
        }
        return r;
}

enum gv_err gv_store_last_topic(struct gv_store *s, int64_t meeting, int64_t *topic)
{
        sqlite3_stmt *st = store_stmt(s, S_LAST_TOPIC);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = store_step_row(s, st);
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
        sqlite3_stmt *st = store_stmt(s, S_V_OPEN);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        bt(st, 2, question);
        bt(st, 3, options);
        bi(st, 4, ts);
        r = store_exec_done(s, st);
        if (r)
                return r;
        *id = sqlite3_last_insert_rowid(s->db);
        return GV_OK;
}

enum gv_err gv_store_vote_current(struct gv_store *s, int64_t meeting, struct gv_vote *out)
{
        sqlite3_stmt *st = store_stmt(s, S_V_CUR);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bi(st, 1, meeting);
        r = store_step_row(s, st);
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

enum gv_err gv_store_vote_cast(struct gv_store *s, int64_t vote, const char *voter,
                               const char *choice, int64_t ts)
{
        sqlite3_stmt *st = store_stmt(s, S_V_CAST);

        if (!st)
                return GV_EDB;
        bi(st, 1, vote);
        bt(st, 2, voter);
        bt(st, 3, choice);
        bi(st, 4, ts);
        return store_exec_done(s, st);
}

enum gv_err gv_store_vote_close(struct gv_store *s, int64_t vote, int64_t ts)
{
        return store_set_int(s, S_V_CLOSE, vote, ts);
}

enum gv_err gv_store_vote_tally(struct gv_store *s, int64_t vote,
                                void (*cb)(void *ud, const char *choice, int64_t n), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_V_TALLY);

        if (!st)
                return GV_EDB;
        bi(st, 1, vote);
        return store_each_count(s, st, cb, ud);
}
