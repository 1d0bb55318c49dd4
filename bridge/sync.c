/* bridge/sync.c - see sync.h */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../util/json.h"
#include "sync.h"

/* Fills an array from a JSON array of events; stripped: invite_state
 * events (no event_id, no ts). */
static enum gv_err read_events(const cJSON *arr, bool stripped, struct gv_sync_event **ret,
                               size_t *n, size_t *skipped)
{
        struct gv_sync_event *v;
        const cJSON *e;
        size_t cap = (size_t)cJSON_GetArraySize(arr), len = 0;

        *ret = NULL;
        *n = 0;
        if (!arr || cap == 0)
                return GV_OK;
        v = calloc(cap, sizeof(*v));
        if (!v)
                return GV_ENOMEM;
        cJSON_ArrayForEach(e, arr) {
                struct gv_sync_event *d = &v[len];
                const cJSON *sk = gv_js_get(e, "state_key");

                d->type = gv_js_str(e, "type");
                d->sender = gv_js_str(e, "sender");
                d->event_id = gv_js_str(e, "event_id");
                d->content = gv_js_obj(e, "content");
                d->unsigned_ = gv_js_obj(e, "unsigned");
                d->redacts = gv_js_str(e, "redacts");
                d->ts = gv_js_uint(e, "origin_server_ts", 0);
                d->state_key = cJSON_IsString(sk) ? sk->valuestring : NULL;
                d->json = e;
                if (!d->type || !d->sender || !d->content || (!stripped && !d->event_id) ||
                    (sk && !cJSON_IsString(sk))) {
                        (*skipped)++;
                        continue;
                }
                len++;
        }
        *ret = v;
        *n = len;
        return GV_OK;
}

struct gv_sync *gv_sync_free(struct gv_sync *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_rooms; i++) {
                free(s->rooms[i].state);
                free(s->rooms[i].timeline);
        }
        free(s->rooms);
        free(s->chunk);
        free(s->to_device);
        free(s->dl_changed);
        free(s->dl_left);
        cJSON_Delete(s->root);
        free(s);
        return NULL;
}

static enum gv_err parse_root(const char *json, size_t len, struct gv_sync **ret)
{
        struct gv_sync *s;

        if (len > GV_SYNC_MAX_BYTES)
                return GV_ETOOBIG;
        s = calloc(1, sizeof(*s));
        if (!s)
                return GV_ENOMEM;
        s->root = cJSON_ParseWithLength(json, len);
        if (!cJSON_IsObject(s->root)) {
                gv_sync_free(s);
                return GV_EPARSE;
        }
        *ret = s;
        return GV_OK;
}

static enum gv_err add_rooms(struct gv_sync *s, const cJSON *group, enum gv_room_kind kind)
{
        const cJSON *r;
        size_t extra = (size_t)cJSON_GetArraySize(group);
        struct gv_sync_room *rooms;
        enum gv_err err;

        if (!cJSON_IsObject(group) || extra == 0)
                return GV_OK;
        rooms = realloc(s->rooms, (s->n_rooms + extra) * sizeof(*rooms));
        if (!rooms)
                return GV_ENOMEM;
        s->rooms = rooms;
        cJSON_ArrayForEach(r, group) {
                struct gv_sync_room *d = &s->rooms[s->n_rooms];
                const cJSON *tl = gv_js_obj(r, "timeline");

                memset(d, 0, sizeof(*d));
                if (!r->string || r->string[0] != '!' || !cJSON_IsObject(r)) {
                        s->skipped++;
                        continue;
                }
                d->room_id = r->string;
                d->kind = kind;
                s->n_rooms++;   /* counted now so that gv_sync_free() sees its arrays */
                if (kind == GV_ROOM_INVITE)
                        err = read_events(gv_js_arr(gv_js_obj(r, "invite_state"), "events"), true,
                                          &d->state, &d->n_state, &s->skipped);
                else
                        err = read_events(gv_js_arr(gv_js_obj(r, "state"), "events"), false, &d->state,
                                          &d->n_state, &s->skipped);
                if (err == GV_OK && kind != GV_ROOM_INVITE)
                        err = read_events(gv_js_arr(tl, "events"), false, &d->timeline,
                                          &d->n_timeline, &s->skipped);
                if (err)
                        return err;
                d->limited = cJSON_IsTrue(gv_js_get(tl, "limited"));
                d->prev_batch = gv_js_str(tl, "prev_batch");
        }
        return GV_OK;
}

/* The strings of a JSON array of user IDs (others skipped and counted). */
static enum gv_err read_users(const cJSON *arr, const char ***ret, size_t *n, size_t *skipped)
{
        size_t cap = (size_t)cJSON_GetArraySize(arr);
        const cJSON *u;

        *ret = NULL;
        *n = 0;
        if (!cJSON_IsArray(arr) || cap == 0)
                return GV_OK;
        if (cap > GV_SYNC_MAX_USERS) {
                *skipped += cap - GV_SYNC_MAX_USERS;
                cap = GV_SYNC_MAX_USERS;
        }
        *ret = calloc(cap, sizeof(**ret));
        if (!*ret)
                return GV_ENOMEM;
        cJSON_ArrayForEach(u, arr) {
                if (*n >= cap)
                        break;
                if (cJSON_IsString(u) && u->valuestring[0] == '@')
                        (*ret)[(*n)++] = u->valuestring;
                else
                        (*skipped)++;
        }
        return GV_OK;
}

/* to_device, device_lists and the key counts of a /sync response. */
static enum gv_err read_e2ee(struct gv_sync *s)
{
        const cJSON *dl = gv_js_obj(s->root, "device_lists"), *fb, *t;
        enum gv_err r;

        r = read_events(gv_js_arr(gv_js_obj(s->root, "to_device"), "events"), true, &s->to_device,
                        &s->n_to_device, &s->skipped);
        if (r == GV_OK)
                r = read_users(gv_js_arr(dl, "changed"), &s->dl_changed, &s->n_dl_changed,
                               &s->skipped);
        if (r == GV_OK)
                r = read_users(gv_js_arr(dl, "left"), &s->dl_left, &s->n_dl_left, &s->skipped);
        s->otk_signed_curve25519 = gv_js_uint(gv_js_obj(s->root, "device_one_time_keys_count"),
                                              "signed_curve25519", -1);
        fb = gv_js_arr(s->root, "device_unused_fallback_key_types");
        s->fallback_known = fb != NULL;
        cJSON_ArrayForEach(t, fb)
                if (cJSON_IsString(t) && strcmp(t->valuestring, "signed_curve25519") == 0)
                        s->fallback_unused = true;
        return r;
}

/* ---- the tree of what is read ----
 *
 * A /sync answer carries much that gavel never reads: presence,
 * account_data, each room's ephemeral events, summary and unread counts,
 * knocks. Those are stepped over as text (their nesting and strings
 * checked by the scan, their contents not judged); only the members below
 * are built into the tree. */

static const char *js_ws(const char *p, const char *e);
static const char *js_string_end(const char *p, const char *e);
static const char *js_value_end(const char *p, const char *e);

struct keep {
        const char *key;                /* NULL: every key (room IDs) */
        const struct keep *sub;         /* an object value kept in part; NULL: whole */
};

static const struct keep keep_room[] = {
        { "timeline", NULL }, { "state", NULL }, { "invite_state", NULL }, { "", NULL },
};
static const struct keep keep_rooms_of[] = { { NULL, keep_room } };
static const struct keep keep_rooms[] = {
        { "join", keep_rooms_of }, { "invite", keep_rooms_of }, { "leave", keep_rooms_of },
        { "", NULL },
};
static const struct keep keep_root[] = {
        { "next_batch", NULL }, { "rooms", keep_rooms }, { "to_device", NULL },
        { "device_lists", NULL }, { "device_one_time_keys_count", NULL },
        { "device_unused_fallback_key_types", NULL }, { "", NULL },
};

/* A kept member of obj, its key as cJSON reads it (escapes and all) unless
 * it is static; false when out of memory. Takes v. */
static bool add_member(cJSON *obj, const struct keep *k, const char *kb, size_t n, cJSON *v)
{
        cJSON *key;
        char *plain;
        const char *name;
        bool ok;

        if (k->key)
                return cJSON_AddItemToObjectCS(obj, k->key, v); /* static: not copied */
        key = memchr(kb, '\\', n) ? cJSON_ParseWithLength(kb - 1, n + 2) : NULL;
        plain = key ? NULL : strndup(kb, n);
        name = key ? cJSON_GetStringValue(key) : plain;
        ok = name && cJSON_AddItemToObject(obj, name, v);
        if (!ok)
                cJSON_Delete(v);
        cJSON_Delete(key);
        free(plain);
        return ok;
}

/* The object at p (text up to e) with only the members spec keeps, built
 * in one pass: a kept value is parsed by cJSON where it starts (cJSON says
 * where it ends), a skipped one is stepped over by the scan. *endp: just
 * past the object. NULL when it is malformed (or out of memory). */
static cJSON *prune(const char *p, const char *e, const struct keep *spec, const char **endp)
{
        cJSON *obj = cJSON_CreateObject();

        if (!obj || p >= e || *p != '{')
                goto bad;
        p = js_ws(p + 1, e);
        if (p < e && *p == '}') {
                *endp = p + 1;
                return obj;
        }
        while (p < e) {
                const char *kb = p + 1, *ke = js_string_end(p, e), *vend = NULL;
                const struct keep *k = spec;
                size_t n;
                cJSON *v = NULL;

                if (*p != '"' || !ke)
                        goto bad;
                n = (size_t)(ke - 1 - kb);
                p = js_ws(ke, e);
                if (p >= e || *p != ':')
                        goto bad;
                p = js_ws(p + 1, e);
                for (; k->key && *k->key; k++)
                        if (strlen(k->key) == n && memcmp(kb, k->key, n) == 0)
                                break;
                /* not read, or a key said again (the first counts, as
                 * cJSON_GetObjectItem reads): stepped over */
                if ((k->key && !*k->key) ||
                    (k->key && cJSON_GetObjectItemCaseSensitive(obj, k->key))) {
                        vend = js_value_end(p, e);
                } else if (k->sub && p < e && *p == '{') {
                        v = prune(p, e, k->sub, &vend);
                } else {
                        /* on an error cJSON points vend at it: no value, bad */
                        v = cJSON_ParseWithLengthOpts(p, (size_t)(e - p), &vend, false);
                        if (!v)
                                goto bad;
                }
                if (!vend) {
                        cJSON_Delete(v);
                        goto bad;
                }
                if (v && !add_member(obj, k, kb, n, v))
                        goto bad;
                p = js_ws(vend, e);
                if (p < e && *p == '}') {
                        *endp = p + 1;
                        return obj;
                }
                if (p >= e || *p != ',')
                        goto bad;
                p = js_ws(p + 1, e);
        }
bad:
        cJSON_Delete(obj);
        return NULL;
}

static enum gv_err parse_sync_root(const char *json, size_t len, struct gv_sync **ret)
{
        struct gv_sync *s;
        const char *end = NULL;

        if (len > GV_SYNC_MAX_BYTES)
                return GV_ETOOBIG;
        s = calloc(1, sizeof(*s));
        if (!s)
                return GV_ENOMEM;
        s->root = prune(js_ws(json, json + len), json + len, keep_root, &end);
        if (!s->root) {
                gv_sync_free(s);
                return GV_EPARSE;
        }
        *ret = s;
        return GV_OK;
}

enum gv_err gv_sync_parse(const char *json, size_t len, struct gv_sync **ret)
{
        struct gv_sync *s = NULL;
        const cJSON *rooms;
        enum gv_err r = parse_sync_root(json, len, &s);

        if (r)
                return r;
        s->next_batch = gv_js_str(s->root, "next_batch");
        if (!s->next_batch) {
                gv_sync_free(s);
                return GV_EPARSE;
        }
        rooms = gv_js_obj(s->root, "rooms");
        r = add_rooms(s, gv_js_obj(rooms, "join"), GV_ROOM_JOIN);
        if (r == GV_OK)
                r = add_rooms(s, gv_js_obj(rooms, "invite"), GV_ROOM_INVITE);
        if (r == GV_OK)
                r = add_rooms(s, gv_js_obj(rooms, "leave"), GV_ROOM_LEAVE);
        if (r == GV_OK)
                r = read_e2ee(s);
        if (r) {
                gv_sync_free(s);
                return r;
        }
        *ret = s;
        return GV_OK;
}

/* ---- splitting a big response (no tree: a scan of the text) ---- */

static const char *js_ws(const char *p, const char *e)
{
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
        return p;
}

/* p at a '"': just past the closing quote, NULL if there is none. */
static const char *js_string_end(const char *p, const char *e)
{
        for (p++; p < e; p++) {
                if (*p == '\\') {
                        p++;
                        continue;
                }
                if (*p == '"')
                        return p + 1;
        }
        return NULL;
}

/* p at a value: just past it, NULL when it does not end. (Checks only the
 * nesting: cJSON judges the rest when the pieces are parsed.) */
static const char *js_value_end(const char *p, const char *e)
{
        size_t depth = 0;

        if (p >= e)
                return NULL;
        if (*p != '{' && *p != '[' && *p != '"') {
                const char *b = p;

                while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
                       *p != '\n' && *p != '\r')
                        p++;
                return p > b ? p : NULL;
        }
        while (p < e) {
                if (*p == '"') {
                        p = js_string_end(p, e);
                        if (!p)
                                return NULL;
                        if (depth == 0)
                                return p;
                        continue;
                }
                if (*p == '{' || *p == '[') {
                        depth++;
                } else if (*p == '}' || *p == ']') {
                        if (depth == 0)
                                return NULL;
                        if (--depth == 0)
                                return p + 1;
                }
                p++;
        }
        return NULL;
}

/* Calls each(ud, key_begin, key_end, value_begin, value_end) for the members
 * of the object at p (key_* without the quotes); false when it is not one
 * or each() says stop. */
static bool js_members(const char *p, const char *e,
                       bool (*each)(void *ud, const char *kb, const char *ke, const char *vb,
                                    const char *ve),
                       void *ud)
{
        p = js_ws(p, e);
        if (p >= e || *p != '{')
                return false;
        p = js_ws(p + 1, e);
        if (p < e && *p == '}')
                return true;
        while (p < e) {
                const char *kb = p, *ke, *vb, *ve;

                if (*p != '"' || !(ke = js_string_end(p, e)))
                        return false;
                p = js_ws(ke, e);
                if (p >= e || *p != ':')
                        return false;
                vb = js_ws(p + 1, e);
                ve = js_value_end(vb, e);
                if (!ve || !each(ud, kb + 1, ke - 1, vb, ve))
                        return false;
                p = js_ws(ve, e);
                if (p < e && *p == '}')
                        return true;
                if (p >= e || *p != ',')
                        return false;
                p = js_ws(p + 1, e);
        }
        return false;
}

struct split {
        const char *json;
        const char *want;               /* the key looked for */
        const char *vb, *ve;            /* its value */
        struct gv_sync_span *spans;
        size_t n, cap;
        bool nomem;
};

static bool find_key(void *ud, const char *kb, const char *ke, const char *vb, const char *ve)
{
        struct split *x = ud;

        if ((size_t)(ke - kb) == strlen(x->want) && memcmp(kb, x->want, (size_t)(ke - kb)) == 0 &&
            !x->vb) {
                x->vb = vb;
                x->ve = ve;
        }
        return true;
}

static bool add_span(void *ud, const char *kb, const char *ke, const char *vb, const char *ve)
{
        struct split *x = ud;

        (void)ke;
        (void)vb;
        if (x->n == x->cap) {
                size_t nc = x->cap ? x->cap * 2 : 256;
                struct gv_sync_span *v = realloc(x->spans, nc * sizeof(*v));

                if (!v) {
                        x->nomem = true;
                        return false;
                }
                x->spans = v;
                x->cap = nc;
        }
        x->spans[x->n].off = (size_t)(kb - 1 - x->json);
        x->spans[x->n++].len = (size_t)(ve - (kb - 1));
        return true;
}

enum gv_err gv_sync_split(const char *json, size_t len, struct gv_sync_span **spans, size_t *n,
                          char **skeleton, size_t *skeleton_len)
{
        struct split x = { json, "rooms", NULL, NULL, NULL, 0, 0, false };
        const char *e = json + len, *jb, *je;
        char *sk;

        *spans = NULL;
        *n = 0;
        *skeleton = NULL;
        if (!js_members(json, e, find_key, &x) || !x.vb)
                return GV_ENOTFOUND;
        jb = x.vb;
        je = x.ve;
        x.want = "join";
        x.vb = x.ve = NULL;
        if (!js_members(jb, je, find_key, &x) || !x.vb)
                return GV_ENOTFOUND;
        jb = x.vb;
        je = x.ve;
        if (!js_members(jb, je, add_span, &x)) {
                free(x.spans);
                return x.nomem ? GV_ENOMEM : GV_ENOTFOUND;
        }
        sk = malloc(len - (size_t)(je - jb) + 3);
        if (!sk) {
                free(x.spans);
                return GV_ENOMEM;
        }
        memcpy(sk, json, (size_t)(jb - json));
        memcpy(sk + (jb - json), "{}", 2);
        memcpy(sk + (jb - json) + 2, je, (size_t)(e - je));
        *skeleton_len = len - (size_t)(je - jb) + 2;
        sk[*skeleton_len] = '\0';
        *skeleton = sk;
        *spans = x.spans;
        *n = x.n;
        return GV_OK;
}

enum gv_err gv_sync_parse_slice(const char *json, const struct gv_sync_span *spans, size_t n,
                                struct gv_sync **ret)
{
        static const char head[] = "{\"next_batch\":\"-\",\"rooms\":{\"join\":{";
        size_t len = sizeof(head) - 1 + 3 + 1;
        char *text, *p;
        enum gv_err r;

        for (size_t i = 0; i < n; i++)
                len += spans[i].len + 1;
        text = malloc(len);
        if (!text)
                return GV_ENOMEM;
        p = text;
        memcpy(p, head, sizeof(head) - 1);
        p += sizeof(head) - 1;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        *p++ = ',';
                memcpy(p, json + spans[i].off, spans[i].len);
                p += spans[i].len;
        }
        memcpy(p, "}}}", 4);
        r = gv_sync_parse(text, (size_t)(p + 3 - text), ret);
        free(text);
        return r;
}

enum gv_err gv_sync_parse_messages(const char *json, size_t len, struct gv_sync **ret)
{
        struct gv_sync *s = NULL;
        enum gv_err r = parse_root(json, len, &s);

        if (r)
                return r;
        s->next_batch = gv_js_str(s->root, "end");
        r = read_events(gv_js_arr(s->root, "chunk"), false, &s->chunk, &s->n_chunk, &s->skipped);
        if (r) {
                gv_sync_free(s);
                return r;
        }
        *ret = s;
        return GV_OK;
}

int gv_sync_power_of(const cJSON *pl, const char *user)
{
        const cJSON *v = gv_js_get(gv_js_obj(pl, "users"), user);

        if (!cJSON_IsNumber(v))
                v = gv_js_get(pl, "users_default");
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return 0;
        if (v->valuedouble > 1000000)
                return 1000000;
        if (v->valuedouble < -1000000)
                return -1000000;
        return (int)v->valuedouble;
}

enum gv_err gv_sync_event_to_gv(const struct gv_sync_event *e, const char *room, int power,
                                const char **mentions, struct gv_event *out)
{
        const cJSON *c = e->content, *rel, *ids, *id;
        const char *rel_type;

        memset(out, 0, sizeof(*out));
        out->room = room;
        out->sender = e->sender;
        out->event_id = e->event_id;
        out->ts = e->ts;
        out->power = power;
        out->mentions = mentions;
        if (e->state_key || !e->event_id)
                return GV_ENOTFOUND;
        if (strcmp(e->type, "m.room.redaction") == 0) {
                /* v1-v10 rooms: top-level "redacts"; v11: in content */
                out->redacts = e->redacts ? e->redacts : gv_js_str(c, "redacts");
                if (!out->redacts)
                        return GV_ENOTFOUND;
                out->body = "";
                return GV_OK;
        }
        if (strcmp(e->type, "m.reaction") == 0) {
                /* an annotation: {"m.relates_to": {"rel_type": "m.annotation",
                 * "event_id": "$...", "key": "✅"}} */
                const char *key, *target;

                rel = gv_js_obj(c, "m.relates_to");
                rel_type = gv_js_str(rel, "rel_type");
                key = gv_js_str(rel, "key");
                target = gv_js_str(rel, "event_id");
                if (!rel_type || strcmp(rel_type, "m.annotation") != 0 || !key || !*key ||
                    strlen(key) > GV_SYNC_MAX_REACTION_KEY || !target || target[0] != '$' ||
                    strlen(target) > GV_SYNC_MAX_EVENT_ID)
                        return GV_ENOTFOUND;
                out->reaction_key = key;
                out->relates_to = target;
                out->body = "";
                return GV_OK;
        }
        if (strcmp(e->type, "m.room.message") != 0)
                return GV_ENOTFOUND;
        out->msgtype = gv_js_str(c, "msgtype");
        rel = gv_js_obj(c, "m.relates_to");
        rel_type = gv_js_str(rel, "rel_type");
        if (rel_type && strcmp(rel_type, "m.replace") == 0) {
                const cJSON *nc = gv_js_obj(c, "m.new_content");

                out->replaces = gv_js_str(rel, "event_id");
                if (!out->replaces || !nc)
                        return GV_ENOTFOUND;
                c = nc;
                out->msgtype = gv_js_str(c, "msgtype");
        } else if (rel_type && strcmp(rel_type, "m.thread") == 0) {
                out->thread_root = gv_js_str(rel, "event_id");
        }
        out->reply_to = gv_js_str(gv_js_obj(rel, "m.in_reply_to"), "event_id");
        out->body = gv_js_str(c, "body");
        if (!out->body && gv_js_get(e->unsigned_, "redacted_because")) {
                out->redacted = true;   /* redacted before we saw it */
                out->body = "";
                return GV_OK;
        }
        if (!out->body || !out->msgtype)
                return GV_ENOTFOUND;
        out->body_len = strlen(out->body);
        if (gv_js_str(c, "format") && strcmp(gv_js_str(c, "format"), "org.matrix.custom.html") == 0)
                out->formatted_body = gv_js_str(c, "formatted_body");
        ids = gv_js_arr(gv_js_obj(c, "m.mentions"), "user_ids"); /* an edit: the new content's */
        cJSON_ArrayForEach(id, ids) {
                if (out->n_mentions >= GV_SYNC_MAX_MENTIONS)
                        break;
                if (cJSON_IsString(id) && id->valuestring)
                        mentions[out->n_mentions++] = id->valuestring;
        }
        return GV_OK;
}
