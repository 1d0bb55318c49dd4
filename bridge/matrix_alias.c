/* bridge/matrix_alias.c - room aliases ("#arch-call:example.org") and the
 * room IDs they stand for.
 *
 * Every alias the config names (series[].room, series[].release_room,
 * crosspost_rooms, the keys of rooms) is resolved with
 * GET /_matrix/client/v3/directory/room/{alias} once the client runs (the
 * first sync waits for the answers, at most ALIAS_START_WAIT_MS), again
 * every ALIAS_REFRESH_MS, and after a failure with backoff (the loop's
 * timers: nothing blocks). Each answer is recorded with gv_store_alias_set(),
 * as is every m.room.canonical_alias (alias and alt_aliases) seen in a sync
 * (matrix_rooms.c), so handlers can match a configured alias against an
 * event's room ID. An outbox row addressed to an alias asks mx_alias_lookup()
 * where to go: the recorded room ID; or wait (not resolved yet); or never
 * (the directory answered 404). Rows for an alias the config does not name
 * add it here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../store/store.h"
#include "../util/log.h"
#include "../util/json.h"
#include "matrix_internal.h"

#define ALIAS_REFRESH_MS (60 * 60 * 1000)       /* a resolved alias is looked up again */
#define ALIAS_MISSING_MS (10 * 60 * 1000)       /* one the directory does not know */
#define ALIAS_MAX_BYTES 255                     /* the spec's limit on an alias */
#define ALIAS_MAX 1000                          /* aliases tracked at most */
#define ALIAS_MAX_IN_FLIGHT 4
#define ALIAS_START_WAIT_MS 5000                /* the first sync waits for them at most */

struct alias {
        struct mx *m;
        char *alias;
        bool busy;              /* a directory request in flight */
        bool missing;           /* the directory's last word was 404 */
        bool resolved;          /* the directory answered this run */
        bool said;              /* the current failure was logged */
        bool configured;        /* named by the config (not only by an outbox row) */
        bool answered;          /* the directory answered (anything) this run */
        char why[400];          /* why it is not resolved, for the outbox */
        int64_t at;             /* monotonic ms: the next request */
        int64_t backoff;
        struct alias *next;
};

/* Whether s looks like a room alias: "#localpart:server", within the limit. */
bool mx_is_alias(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        return n >= 4 && n <= ALIAS_MAX_BYTES && s[0] == '#' && strchr(s + 2, ':') &&
               s[n - 1] != ':';
}

static struct alias *find(struct mx *m, const char *alias)
{
        for (struct alias *a = m->aliases; a; a = a->next)
                if (strcmp(a->alias, alias) == 0)
                        return a;
        return NULL;
}

static struct alias *add(struct mx *m, const char *alias)
{
        struct alias *a = find(m, alias);
        size_t n = 0;

        if (a || !mx_is_alias(alias))
                return a;
        for (a = m->aliases; a; a = a->next)
                n++;
        if (n >= ALIAS_MAX)
                return NULL;
        a = calloc(1, sizeof(*a));
        if (!a || !(a->alias = strdup(alias))) {
                free(a);
                return NULL;
        }
        a->m = m;
        snprintf(a->why, sizeof(a->why), "the room alias %s is not resolved yet", alias);
        a->next = m->aliases;
        m->aliases = a;
        return a;
}

static void add_configured(struct mx *m, const char *alias)
{
        struct alias *a = add(m, alias);

        if (a)
                a->configured = true;
}

void mx_aliases_init(struct mx *m)
{
        const struct gv_config *c = m->cfg;

        for (size_t i = 0; i < c->n_series; i++) {
                add_configured(m, c->series[i].room);
                if (c->series[i].release_room)
                        add_configured(m, c->series[i].release_room);
        }
        for (size_t i = 0; i < c->n_crosspost_rooms; i++)
                add_configured(m, c->crosspost_rooms[i]);
        for (size_t i = 0; i < c->n_rooms; i++)
                add_configured(m, c->rooms[i].room);
}

bool mx_aliases_ready(struct mx *m)
{
        int64_t now = mx_now_ms();

        if (!m->aliases_since)
                m->aliases_since = now;
        if (now - m->aliases_since >= ALIAS_START_WAIT_MS)
                return true;
        for (const struct alias *a = m->aliases; a; a = a->next)
                if (a->configured && !a->answered)
                        return false;
        return true;
}

void mx_aliases_free(struct mx *m)
{
        while (m->aliases) {
                struct alias *a = m->aliases;

                m->aliases = a->next;
                free(a->alias);
                free(a);
        }
}

/* A lane waiting for this alias goes again now. */
static void wake_rows(struct mx *m)
{
        m->outbox_empty = false;
        mx_lanes_wake_aliases(m);
}

static void on_directory(void *ud, const struct gv_http_resp *resp)
{
        struct alias *a = ud;
        struct mx *m = a->m;
        cJSON *json = NULL;
        const char *code = resp->err ? NULL : mx_errcode(resp, &json);
        const char *rid = gv_js_str(json, "room_id");
        int64_t now = mx_now_ms();

        a->busy = false;
        a->answered = true;
        m->alias_in_flight--;
        if (resp->err == GV_OK && resp->status == 200 && rid && rid[0] == '!' &&
            strlen(rid) <= ALIAS_MAX_BYTES) {
                char *old = NULL;
                enum gv_err r = gv_store_alias_get(m->s, a->alias, &old);

                if (r == GV_OK || r == GV_ENOTFOUND)
                        r = gv_store_alias_set(m->s, a->alias, rid, mx_wall_ms());
                if (r) {
                        gv_err_log("matrix", "cannot record the room alias %s: %s", a->alias,
                                   gv_store_errmsg(m->s));
                        a->at = now + mx_backoff(m, &a->backoff);
                } else {
                        if (!old || strcmp(old, rid) != 0 || a->missing || a->said)
                                gv_info("matrix", "room alias %s is %s", a->alias, rid);
                        a->missing = false;
                        a->resolved = true;
                        a->said = false;
                        a->backoff = 0;
                        a->at = now + ALIAS_REFRESH_MS;
                        wake_rows(m);
                }
                free(old);
        } else if (resp->status == 404) {
                if (!a->missing || !a->said)
                        gv_warn("matrix", "room alias %s does not exist (the directory answered "
                                "404 %s); what is addressed to it is parked", a->alias,
                                code ? code : "");
                snprintf(a->why, sizeof(a->why), "the room alias %s does not exist (the "
                         "directory answered 404 %s)", a->alias, code ? code : "");
                a->missing = true;
                a->said = true;
                a->backoff = 0;
                a->at = now + ALIAS_MISSING_MS;
                wake_rows(m);
        } else if (resp->status == 401 && code && strcmp(code, "M_UNKNOWN_TOKEN") == 0) {
                a->at = now;
                mx_start_relogin(m);
        } else {
                int64_t ra = resp->status == 429 ? mx_retry_after(resp, json) : -1;

                if (resp->err)
                        snprintf(a->why, sizeof(a->why), "the room alias %s is not resolved "
                                 "yet: %s", a->alias, resp->errmsg ? resp->errmsg : "no answer");
                else
                        snprintf(a->why, sizeof(a->why), "the room alias %s is not resolved "
                                 "yet: the directory answered %ld %s", a->alias, resp->status,
                                 code ? code : "");
                if (!a->said)
                        gv_warn("matrix", "%s; retrying with backoff", a->why);
                a->said = true;
                a->at = now + (ra >= 0 ? ra : mx_backoff(m, &a->backoff));
        }
        cJSON_Delete(json);
}

void mx_aliases_step(struct mx *m)
{
        int64_t now = mx_now_ms();

        if (m->phase != PH_RUN || m->relogin || m->stop)
                return;
        for (struct alias *a = m->aliases; a && m->alias_in_flight < ALIAS_MAX_IN_FLIGHT;
             a = a->next) {
                char *url;
                enum gv_err r;

                if (a->busy || now < a->at)
                        continue;
                url = mx_url(m, "/_matrix/client/v3/directory/room/%s", a->alias);
                r = url ? gv_http_request(m->http, "GET", url, m->token, NULL, REQUEST_TIMEOUT_MS,
                                          MAX_SMALL_BODY, on_directory, a) : GV_ENOMEM;
                free(url);
                if (r) {
                        mx_fatal(m, 1, "cannot start a request: %s", gv_strerror(r));
                        return;
                }
                a->busy = true;
                m->alias_in_flight++;
        }
}

bool mx_aliases_due(const struct mx *m, int64_t *at)
{
        bool any = false;

        if (m->phase != PH_RUN || m->relogin)
                return false;
        for (const struct alias *a = m->aliases; a; a = a->next) {
                if (a->busy)
                        continue;
                if (!any || a->at < *at)
                        *at = a->at;
                any = true;
        }
        return any;
}

static void mx_alias_seen(struct mx *m, const char *alias)
{
        struct alias *a = find(m, alias);

        /* m.room.canonical_alias: the room says it has it (recorded in the
         * store by the caller); rows waiting for it go */
        if (a) {
                a->missing = false;
                wake_rows(m);
        }
}

enum mx_alias_state mx_alias_lookup(struct mx *m, const char *alias, char **room_id, char *why,
                                    size_t n)
{
        struct alias *a = add(m, alias);
        enum gv_err r;

        *room_id = NULL;
        if (!mx_is_alias(alias)) {
                snprintf(why, n, "%.200s is not a room alias (#name:server, at most %d bytes)",
                         alias, ALIAS_MAX_BYTES);
                return MX_ALIAS_NEVER;
        }
        if (a && a->missing) {
                snprintf(why, n, "%s", a->why);
                return MX_ALIAS_NEVER;
        }
        r = gv_store_alias_get(m->s, alias, room_id);
        if (r == GV_OK)
                return MX_ALIAS_OK;
        if (r == GV_ENOTFOUND) {
                snprintf(why, n, "%s", a ? a->why : "too many room aliases to resolve");
                return MX_ALIAS_WAIT;
        }
        snprintf(why, n, "cannot read the room alias %s: %s", alias, gv_strerror(r));
        return r == GV_EDB ? MX_ALIAS_ERROR : MX_ALIAS_WAIT;
}

enum gv_err mx_track_aliases(struct mx *m, struct room *rm, const struct gv_sync_event *e)
{
        const cJSON *c = e->content, *alt, *v;
        const char *alias = gv_js_str(c, "alias");
        int64_t ts = e->ts ? e->ts : mx_wall_ms();
        unsigned k = 0;
        enum gv_err r = GV_OK;

        if (alias && mx_is_alias(alias)) {
                r = gv_store_alias_set(m->s, alias, rm->id, ts);
                if (r == GV_OK)
                        mx_alias_seen(m, alias);
        }
        alt = gv_js_arr(c, "alt_aliases");
        cJSON_ArrayForEach(v, alt) {
                if (r || ++k > 100)
                        break;
                if (!cJSON_IsString(v) || !mx_is_alias(v->valuestring))
                        continue;
                r = gv_store_alias_set(m->s, v->valuestring, rm->id, ts);
                if (r == GV_OK)
                        mx_alias_seen(m, v->valuestring);
        }
        return r;
}
