/* store/crypto.c - end-to-end encryption state for bridge/crypto.c: the Olm
 * account, cross-signing seeds, Olm sessions, inbound and outbound Megolm
 * sessions (with the seen message indexes and who was given each outbound
 * key), and other users' device keys. Pickles arrive encrypted by libolm;
 * this file never sees key material in the clear. See store.h. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Frees a string that may hold a pickle, wiping it first. */
static void wipe_free(char *p)
{
        if (p) {
                explicit_bzero(p, strlen(p));
                free(p);
        }
}

enum gv_err gv_store_crypto_account_get(struct gv_store *s, char **user_id, char **device_id,
                                        char **pickle)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_ACCOUNT_GET);
        enum gv_err r;
        char *u, *d, *p;

        if (!st)
                return GV_EDB;
        r = store_step_row(s, st);
        if (r)
                return r;
        u = col_dup(st, 0);
        d = col_dup(st, 1);
        p = col_dup(st, 2);
        sqlite3_reset(st);
        if (!u || !d || !p) {
                free(u);
                free(d);
                wipe_free(p);
                return GV_ENOMEM;
        }
        *user_id = u;
        *device_id = d;
        *pickle = p;
        return GV_OK;
}

enum gv_err gv_store_crypto_account_set(struct gv_store *s, const char *user_id,
                                        const char *device_id, const char *pickle)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_ACCOUNT_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, user_id);
        bt(st, 2, device_id);
        bt(st, 3, pickle);
        return store_exec_done(s, st);
}

/* One text column of the one row of st, or GV_ENOTFOUND. */
static enum gv_err one_text(struct gv_store *s, sqlite3_stmt *st, int col, char **ret)
{
        enum gv_err r = store_step_row(s, st);
        char *v;

        if (r)
                return r;
        v = col_dup(st, col);
        sqlite3_reset(st);
        if (!v)
                return GV_ENOMEM;
        *ret = v;
        return GV_OK;
}

enum gv_err gv_store_crypto_secret_get(struct gv_store *s, const char *name, char **pickle)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_SECRET_GET);

        if (!st)
                return GV_EDB;
        bt(st, 1, name);
        return one_text(s, st, 0, pickle);
}

enum gv_err gv_store_crypto_secret_set(struct gv_store *s, const char *name, const char *pickle)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_SECRET_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, name);
        bt(st, 2, pickle);
        return store_exec_done(s, st);
}

enum gv_err gv_store_olm_session_set(struct gv_store *s, const char *sender_key,
                                     const char *session_id, const char *pickle, int64_t last_used)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_OLM_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, sender_key);
        bt(st, 2, session_id);
        bt(st, 3, pickle);
        bi(st, 4, last_used);
        return store_exec_done(s, st);
}

/* Rows of up to four text columns, read whole before any callback runs (a
 * callback may write the very table being read). */
struct rows {
        char **v;
        size_t n, cols;
};

static void rows_free(struct rows *rs)
{
        for (size_t i = 0; i < rs->n * rs->cols; i++)
                wipe_free(rs->v[i]);
        free(rs->v);
        rs->v = NULL;
        rs->n = 0;
}

static enum gv_err rows_read(struct gv_store *s, sqlite3_stmt *st, size_t cols, struct rows *rs)
{
        size_t cap = 0;
        enum gv_err r;

        rs->v = NULL;
        rs->n = 0;
        rs->cols = cols;
        while ((r = store_step_row(s, st)) == GV_OK) {
                if (rs->n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        char **nv = realloc(rs->v, ncap * cols * sizeof(*nv));

                        if (!nv) {
                                r = GV_ENOMEM;
                                break;
                        }
                        rs->v = nv;
                        cap = ncap;
                }
                for (size_t c = 0; c < cols; c++) {
                        rs->v[rs->n * cols + c] = col_dup(st, (int)c);
                        if (!rs->v[rs->n * cols + c]) {
                                for (size_t k = 0; k < c; k++)
                                        wipe_free(rs->v[rs->n * cols + k]);
                                r = GV_ENOMEM;
                                break;
                        }
                }
                if (r)
                        break;
                rs->n++;
        }
        if (r == GV_ENOTFOUND)
                return GV_OK;
        sqlite3_reset(st);
        rows_free(rs);
        return r;
}

enum gv_err gv_store_olm_sessions(struct gv_store *s, const char *sender_key,
                                  int (*cb)(void *ud, const char *session_id, const char *pickle),
                                  void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_OLM_EACH);
        struct rows rs;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, sender_key);
        r = rows_read(s, st, 2, &rs);
        if (r)
                return r;
        for (size_t i = 0; i < rs.n; i++)
                if (cb(ud, rs.v[i * 2], rs.v[i * 2 + 1]))
                        break;
        rows_free(&rs);
        return GV_OK;
}

enum gv_err gv_store_megolm_in_set(struct gv_store *s, const char *room, const char *sender_key,
                                   const char *session_id, const char *ed25519, const char *pickle)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_IN_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, sender_key);
        bt(st, 3, session_id);
        bt(st, 4, ed25519);
        bt(st, 5, pickle);
        return store_exec_done(s, st);
}

enum gv_err gv_store_megolm_in_get(struct gv_store *s, const char *room, const char *sender_key,
                                   const char *session_id, char **ed25519, char **pickle)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_IN_GET);
        enum gv_err r;
        char *e, *p;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, sender_key);
        bt(st, 3, session_id);
        r = store_step_row(s, st);
        if (r)
                return r;
        e = col_dup(st, 0);
        p = col_dup(st, 1);
        sqlite3_reset(st);
        if (!e || !p) {
                free(e);
                wipe_free(p);
                return GV_ENOMEM;
        }
        *ed25519 = e;
        *pickle = p;
        return GV_OK;
}

enum gv_err gv_store_megolm_seen(struct gv_store *s, const char *room, const char *sender_key,
                                 const char *session_id, int64_t index, const char *event_id,
                                 bool *fresh)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_SEEN_GET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, sender_key);
        bt(st, 3, session_id);
        bi(st, 4, index);
        r = store_step_row(s, st);
        if (r == GV_OK) {
                *fresh = strcmp(col_str(st, 0), event_id) == 0;
                sqlite3_reset(st);
                return GV_OK;
        }
        if (r != GV_ENOTFOUND)
                return r;
        st = store_stmt(s, S_CX_SEEN_ADD);
        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, sender_key);
        bt(st, 3, session_id);
        bi(st, 4, index);
        bt(st, 5, event_id);
        r = store_exec_done(s, st);
        if (r == GV_OK)
                *fresh = true;
        return r;
}

void gv_megolm_out_clear(struct gv_megolm_out *o)
{
        free(o->session_id);
        wipe_free(o->pickle);
        memset(o, 0, sizeof(*o));
}

enum gv_err gv_store_megolm_out_get(struct gv_store *s, const char *room, struct gv_megolm_out *out)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_OUT_GET);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        r = store_step_row(s, st);
        if (r)
                return r;
        memset(out, 0, sizeof(*out));
        out->session_id = col_dup(st, 0);
        out->pickle = col_dup(st, 1);
        out->created = sqlite3_column_int64(st, 2);
        out->messages = sqlite3_column_int64(st, 3);
        sqlite3_reset(st);
        if (!out->session_id || !out->pickle) {
                gv_megolm_out_clear(out);
                return GV_ENOMEM;
        }
        return GV_OK;
}

enum gv_err gv_store_megolm_out_set(struct gv_store *s, const char *room,
                                    const struct gv_megolm_out *o)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_OUT_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, o->session_id);
        bt(st, 3, o->pickle);
        bi(st, 4, o->created);
        bi(st, 5, o->messages);
        return store_exec_done(s, st);
}

enum gv_err gv_store_megolm_out_del(struct gv_store *s, const char *room)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_OUT_DEL);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        r = store_exec_done(s, st);
        if (r)
                return r;
        st = store_stmt(s, S_CX_SHARED_DEL);
        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        return store_exec_done(s, st);
}

enum gv_err gv_store_megolm_shared_add(struct gv_store *s, const char *room, const char *session_id,
                                       const char *user_id, const char *device_id)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_SHARED_ADD);

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, session_id);
        bt(st, 3, user_id);
        bt(st, 4, device_id);
        return store_exec_done(s, st);
}

enum gv_err gv_store_megolm_shared_has(struct gv_store *s, const char *room, const char *session_id,
                                       const char *user_id, const char *device_id, bool *has)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_SHARED_HAS);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, room);
        bt(st, 2, session_id);
        bt(st, 3, user_id);
        bt(st, 4, device_id);
        r = store_step_row(s, st);
        if (r == GV_OK)
                sqlite3_reset(st);
        if (r && r != GV_ENOTFOUND)
                return r;
        *has = r == GV_OK;
        return GV_OK;
}

enum gv_err gv_store_crypto_device_set(struct gv_store *s, const char *user_id,
                                       const char *device_id, const char *curve25519,
                                       const char *ed25519, const char *keys)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_DEV_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, user_id);
        bt(st, 2, device_id);
        bt(st, 3, curve25519);
        bt(st, 4, ed25519);
        bt(st, 5, keys);
        return store_exec_done(s, st);
}

enum gv_err gv_store_crypto_device_del(struct gv_store *s, const char *user_id,
                                       const char *device_id)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_DEV_DEL);

        if (!st)
                return GV_EDB;
        bt(st, 1, user_id);
        bt(st, 2, device_id);
        return store_exec_done(s, st);
}

enum gv_err gv_store_crypto_devices(struct gv_store *s, const char *user_id,
                                    int (*cb)(void *ud, const char *device_id,
                                              const char *curve25519, const char *ed25519,
                                              const char *keys),
                                    void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_DEVS);
        struct rows rs;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, user_id);
        r = rows_read(s, st, 4, &rs);
        if (r)
                return r;
        for (size_t i = 0; i < rs.n; i++)
                if (cb(ud, rs.v[i * 4], rs.v[i * 4 + 1], rs.v[i * 4 + 2], rs.v[i * 4 + 3]))
                        break;
        rows_free(&rs);
        return GV_OK;
}

enum gv_err gv_store_crypto_user_set(struct gv_store *s, const char *user_id, bool outdated)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_USER_SET);

        if (!st)
                return GV_EDB;
        bt(st, 1, user_id);
        bi(st, 2, outdated ? 1 : 0);
        return store_exec_done(s, st);
}

enum gv_err gv_store_crypto_user_del(struct gv_store *s, const char *user_id)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_USER_DEL);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        bt(st, 1, user_id);
        r = store_exec_done(s, st);
        if (r)
                return r;
        st = store_stmt(s, S_CX_DEVS_DEL);
        if (!st)
                return GV_EDB;
        bt(st, 1, user_id);
        return store_exec_done(s, st);
}

enum gv_err gv_store_crypto_users_outdated(struct gv_store *s,
                                           int (*cb)(void *ud, const char *user_id), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_USERS_OUTDATED);
        struct rows rs;
        enum gv_err r;

        if (!st)
                return GV_EDB;
        r = rows_read(s, st, 1, &rs);
        if (r)
                return r;
        for (size_t i = 0; i < rs.n; i++)
                if (cb(ud, rs.v[i]))
                        break;
        rows_free(&rs);
        return GV_OK;
}

/* ---- encrypted events waiting for their key ---- */

enum gv_err gv_store_crypto_wait_add(struct gv_store *s, const char *event_id, const char *room,
                                     const char *session_id, const char *event, int64_t since)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_WAIT_ADD);

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        bt(st, 2, room);
        bt(st, 3, session_id);
        bt(st, 4, event);
        bi(st, 5, since);
        return store_exec_done(s, st);
}

enum gv_err gv_store_crypto_wait_each(struct gv_store *s, const char *session_id,
                                      int (*cb)(void *ud, const struct gv_waiting *w), void *ud)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_WAIT_EACH);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        if (session_id)
                bt(st, 1, session_id);
        while ((r = store_step_row(s, st)) == GV_OK) {
                struct gv_waiting w = { col_str(st, 0), col_str(st, 1), col_str(st, 2),
                                        col_str(st, 3), sqlite3_column_int64(st, 4) };

                if (cb(ud, &w)) {
                        sqlite3_reset(st);
                        return GV_OK;
                }
        }
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_store_crypto_wait_del(struct gv_store *s, const char *event_id)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_WAIT_DEL);

        if (!st)
                return GV_EDB;
        bt(st, 1, event_id);
        return store_exec_done(s, st);
}

enum gv_err gv_store_crypto_wait_count(struct gv_store *s, int64_t *n)
{
        sqlite3_stmt *st = store_stmt(s, S_CX_WAIT_COUNT);
        enum gv_err r;

        if (!st)
                return GV_EDB;
        r = store_step_row(s, st);
        if (r)
                return r;
        *n = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return GV_OK;
}
