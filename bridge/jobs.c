/* bridge/jobs.c - see jobs.h */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../handlers/minutes.h"
#include "../handlers/wiki.h"
#include "../util/buf.h"
#include "../util/json.h"
#include "../util/log.h"
#include "../util/sha256.h"
#include "../util/text.h"
#include "http.h"
#include "jobs.h"
#include "publish.h"

#define PATH_MAX_BYTES 4096

struct gv_job {
        enum gv_out_kind kind;
        int64_t row;
        int64_t meeting;
        size_t index;           /* wiki or webhook N */
        /* wiki */
        struct gv_wiki w;
        struct gv_publication p;
        char marker[GV_WIKI_MARKER_SIZE];
        char *text, *summary, *token, *password, *workdir, *ssh_key, *known_hosts, *author;
        char *page;             /* the configured url, else the page name */
        /* webhook */
        char *url, *body, *secret;
        char delivery[64];
        /* outcome */
        enum gv_delivery d;
        char why[GV_OUTBOX_WHY_MAX];
        char *link;
};

void gv_job_free(struct gv_job *j)
{
        if (!j)
                return;
        free(j->text);
        free(j->summary);
        if (j->token)
                explicit_bzero(j->token, strlen(j->token));
        free(j->token);
        if (j->password)
                explicit_bzero(j->password, strlen(j->password));
        free(j->password);
        free(j->workdir);
        free(j->ssh_key);
        free(j->known_hosts);
        free(j->author);
        free(j->page);
        free(j->url);
        free(j->body);
        if (j->secret)
                explicit_bzero(j->secret, strlen(j->secret));
        free(j->secret);
        free(j->link);
        free(j);
}

/* A secret file's content without its trailing line end. GV_ENOTFOUND when
 * the file is not there, GV_EIO when it cannot be read. */
static enum gv_err read_secret(const char *path, char **out)
{
        struct gv_buf b = GV_BUF_INIT(GV_JOB_SECRET_MAX);
        char chunk[4096];
        FILE *f = fopen(path, "rb");
        size_t n;
        enum gv_err r = GV_OK;

        if (!f)
                return errno == ENOENT ? GV_ENOTFOUND : GV_EIO;
        while (r == GV_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                r = gv_buf_add(&b, chunk, n);
        if (r == GV_OK && ferror(f))
                r = GV_EIO;
        fclose(f);
        explicit_bzero(chunk, sizeof(chunk));
        while (r == GV_OK && b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
                b.p[--b.len] = '\0';
        if (r == GV_OK)
                r = gv_buf_steal(&b, out);
        if (b.p)
                explicit_bzero(b.p, b.len);
        gv_buf_free(&b);
        return r;
}

/* The secret named by file or $CREDENTIALS_DIRECTORY/cred: *out NULL when
 * neither is there and !required. GV_ECONFIG with why when a configured
 * file (or a required one) cannot be read. */
static enum gv_err secret(const char *file, const char *cred, bool required, char **out,
                          char *why, size_t n)
{
        char path[PATH_MAX_BYTES];
        const char *p = gv_config_secret_path(file, cred, path, sizeof(path));
        enum gv_err r;

        *out = NULL;
        if (!p) {
                if (!required)
                        return GV_OK;
                snprintf(why, n, "no secret: set its *_file key or provide "
                         "$CREDENTIALS_DIRECTORY/%s", cred);
                return GV_ECONFIG;
        }
        r = read_secret(p, out);
        if (r == GV_ENOTFOUND && !required && !(file && *file))
                return GV_OK;
        if (r == GV_ENOMEM)
                return r;
        if (r) {
                snprintf(why, n, "cannot read the secret %.200s: %s", p,
                         r == GV_ENOTFOUND ? "no such file" : strerror(errno));
                return GV_ECONFIG;
        }
        return GV_OK;
}

/* ---- wiki ---- */

static enum gv_err prepare_wiki(struct gv_store *s, const struct gv_config *cfg,
                                const struct gv_out *o, const cJSON *extra, struct gv_job *j,
                                enum gv_delivery *d, char *why, size_t n)
{
        const struct gv_wiki_cfg *wc;
        struct gv_buf text = GV_BUF_INIT(GV_MINUTES_MAX), line = GV_BUF_INIT(8192);
        struct gv_meeting m = { 0 };
        char cred[64], date[16];
        enum gv_err r;

        (void)o;
        (void)extra;
        if (j->index >= cfg->n_wiki) {
                snprintf(why, n, "no wiki %zu in the config (any more)", j->index);
                *d = GV_DELIVER_NEVER;
                return GV_OK;
        }
        wc = &cfg->wiki[j->index];
        if (wc->git) {
                char path[PATH_MAX_BYTES];
                const char *kp;

                snprintf(cred, sizeof(cred), "wiki-%zu-token", j->index);
                r = secret(wc->token_file, cred, false, &j->token, why, n);
                if (r == GV_OK) {
                        snprintf(cred, sizeof(cred), "wiki-%zu-ssh-key", j->index);
                        kp = gv_config_secret_path(wc->ssh_key_file, cred, path, sizeof(path));
                        if (kp && (access(kp, R_OK) == 0 || (wc->ssh_key_file && *wc->ssh_key_file)))
                                j->ssh_key = strdup(kp);
                        snprintf(cred, sizeof(cred), "wiki-%zu-known-hosts", j->index);
                        kp = gv_config_secret_path(wc->known_hosts_file, cred, path, sizeof(path));
                        if (kp && (access(kp, R_OK) == 0 ||
                                   (wc->known_hosts_file && *wc->known_hosts_file)))
                                j->known_hosts = strdup(kp);
                }
        } else {
                snprintf(cred, sizeof(cred), "wiki-%zu-password", j->index);
                r = secret(wc->password_file, cred, true, &j->password, why, n);
        }
        if (r == GV_ECONFIG) {
                *d = GV_DELIVER_NEVER;
                return GV_OK;
        }
        if (r)
                return r;
        r = gv_store_meeting_get(s, j->meeting, &m);
        if (r == GV_ENOTFOUND) {
                snprintf(why, n, "no meeting %" PRId64, j->meeting);
                *d = GV_DELIVER_NEVER;
                return GV_OK;
        }
        if (r)
                return r;
        gv_wiki_marker(j->meeting, j->index, j->marker);
        r = gv_wiki_render(s, cfg, j->meeting, wc->flavour, wc->mediawiki != NULL, j->marker,
                           &text);
        if (r == GV_OK)
                r = gv_buf_steal(&text, &j->text);
        gv_fmt_human_date(m.started, date);
        if (r == GV_OK)
                r = gv_buf_printf(&line, "Meeting notes: %s, %s (gavel)", m.name, date);
        if (r == GV_OK)
                r = gv_buf_steal(&line, &j->summary);
        if (r == GV_OK) {
                struct gv_buf wd = GV_BUF_INIT(PATH_MAX_BYTES);

                r = gv_buf_printf(&wd, "%s.wiki-%zu", cfg->database, j->index);
                if (r == GV_OK)
                        r = gv_buf_steal(&wd, &j->workdir);
                gv_buf_free(&wd);
        }
        j->author = strdup(cfg->bot_name);
        j->page = strdup(wc->url ? wc->url : wc->page);
        if (r == GV_OK && (!j->author || !j->page))
                r = GV_ENOMEM;
        gv_buf_free(&text);
        gv_buf_free(&line);
        gv_meeting_clear(&m);
        if (r)
                return r;
        j->w.index = (int)j->index;
        j->w.git = wc->git;
        j->w.branch = wc->branch;
        j->w.token = j->token;
        j->w.ssh_key = j->ssh_key;
        j->w.known_hosts = j->known_hosts;
        j->w.workdir = j->workdir;
        j->w.mediawiki = wc->mediawiki;
        j->w.user = wc->user;
        j->w.password = j->password;
        j->w.page = wc->page;
        j->w.section = wc->section;
        j->p.marker = j->marker;
        j->p.text = j->text;
        j->p.summary = j->summary;
        j->p.author = j->author;
        j->p.email = "gavel@localhost";
        return GV_OK;
}

/* ---- webhook payloads ---- */

static cJSON *mentions_json(const char *s)
{
        cJSON *a = cJSON_CreateArray();

        while (a && s && *s) {
                size_t n;
                char *word;

                while (*s == ' ' || *s == ',')
                        s++;
                for (n = 0; s[n] && s[n] != ' ' && s[n] != ','; n++)
                        ;
                if (n == 0)
                        break;
                word = strndup(s, n);
                if (!word || !cJSON_AddItemToArray(a, cJSON_CreateString(word))) {
                        free(word);
                        cJSON_Delete(a);
                        return NULL;
                }
                free(word);
                s += n;
        }
        return a;
}

static enum gv_err item_json(struct gv_store *s, int64_t id, cJSON *parent)
{
        struct gv_item it = { 0 };
        struct gv_buf link = GV_BUF_INIT(4096);
        cJSON *o, *men;
        char *notes = NULL;
        enum gv_err r = gv_store_item_get(s, id, &it);

        if (r)
                return r;
        r = gv_store_item_notes_link(s, id, &notes);
        if (r == GV_OK && it.event_id)
                r = gv_permalink(&link, it.room, it.event_id);
        if (r)
                goto out;
        r = GV_ENOMEM;
        o = cJSON_AddObjectToObject(parent, "item");
        men = mentions_json(it.mentions);
        if (!o || !men || !cJSON_AddItemToObject(o, "mentions", men)) {
                cJSON_Delete(men);
                goto out;
        }
        if (!cJSON_AddNumberToObject(o, "id", (double)it.id) ||
            !cJSON_AddStringToObject(o, "agenda", it.agenda) ||
            !cJSON_AddStringToObject(o, "description", it.description) ||
            !cJSON_AddStringToObject(o, "reporter", it.reporter) ||
            !cJSON_AddStringToObject(o, "room", it.room) ||
            !(it.event_id ? cJSON_AddStringToObject(o, "permalink", gv_buf_str(&link))
                          : cJSON_AddNullToObject(o, "permalink")) ||
            !(notes ? cJSON_AddStringToObject(o, "notes", notes)
                    : cJSON_AddNullToObject(o, "notes")))
                goto out;
        r = GV_OK;
out:
        free(notes);
        gv_buf_free(&link);
        gv_item_clear(&it);
        return r;
}

struct links {
        cJSON *a;
        bool failed;
        char *first;
};

static void link_one(void *ud, const char *target, const char *url)
{
        struct links *l = ud;
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddStringToObject(o, "target", target) ||
            !cJSON_AddStringToObject(o, "url", url) || !cJSON_AddItemToArray(l->a, o)) {
                cJSON_Delete(o);
                l->failed = true;
                return;
        }
        /* the notes link: the first URL, else the first page name */
        if (!l->first || (strncmp(l->first, "http", 4) != 0 && strncmp(url, "http", 4) == 0)) {
                free(l->first);
                if (!(l->first = strdup(url)))
                        l->failed = true;
        }
}

static enum gv_err meeting_json(struct gv_store *s, int64_t id, cJSON *parent, char **first)
{
        struct gv_meeting m = { 0 };
        struct links l = { NULL, false, NULL };
        char date[11], base[GV_MINUTES_BASE_SIZE + 8];
        cJSON *o, *arch;
        enum gv_err r = gv_store_meeting_get(s, id, &m);

        if (r)
                return r;
        r = GV_ENOMEM;
        o = cJSON_AddObjectToObject(parent, "meeting");
        l.a = cJSON_AddArrayToObject(parent, "links");
        gv_fmt_date(m.started, date);
        if (!o || !l.a || !cJSON_AddNumberToObject(o, "id", (double)m.id) ||
            !cJSON_AddStringToObject(o, "name", m.name) ||
            !cJSON_AddStringToObject(o, "room", m.room) ||
            !cJSON_AddStringToObject(o, "agenda", m.agenda) ||
            !cJSON_AddStringToObject(o, "date", date) ||
            !cJSON_AddNumberToObject(o, "started", (double)m.started) ||
            !cJSON_AddNumberToObject(o, "ended", (double)m.ended))
                goto out;
        r = gv_store_publications(s, id, link_one, &l);
        if (r)
                goto out;
        gv_minutes_file_base(&m, base);
        memcpy(base + strlen(base), ".html", 6);
        arch = cJSON_CreateObject();
        if (l.failed || !arch || !cJSON_AddStringToObject(arch, "target", "archive") ||
            !cJSON_AddStringToObject(arch, "file", base) || !cJSON_AddItemToArray(l.a, arch)) {
                cJSON_Delete(arch);
                r = GV_ENOMEM;
                goto out;
        }
        if (first) {
                *first = l.first;
                l.first = NULL;
        }
        r = GV_OK;
out:
        free(l.first);
        gv_meeting_clear(&m);
        return r;
}

/* The notes of an item in a meeting, one per line. */
static enum gv_err item_summary(struct gv_store *s, int64_t meeting, int64_t item, char **out)
{
        struct gv_mitem *mi = NULL;
        struct gv_buf b = GV_BUF_INIT(GV_MINUTES_MSG_MAX);
        size_t n = 0;
        enum gv_err r = gv_store_mitems(s, meeting, &mi, &n);

        for (size_t i = 0; i < n && r == GV_OK; i++) {
                bool under = false;

                if (mi[i].kind == GV_M_TOPIC)
                        continue;
                for (size_t t = 0; t < n && !under; t++)
                        under = mi[t].kind == GV_M_TOPIC && mi[t].id == mi[i].topic &&
                                mi[t].agenda_item == item;
                if (!under)
                        continue;
                if (b.len)
                        r = gv_buf_addc(&b, '\n');
                if (r == GV_OK && mi[i].kind != GV_M_INFO)
                        r = gv_buf_printf(&b, "%s: ", gv_mkind_label(mi[i].kind));
                if (r == GV_OK)
                        r = gv_buf_adds(&b, mi[i].text);
        }
        if (r == GV_OK)
                r = b.len ? gv_buf_steal(&b, out) : ((*out = strdup("")) ? GV_OK : GV_ENOMEM);
        gv_buf_free(&b);
        gv_mitems_free(mi, n);
        return r;
}

enum gv_err gv_job_webhook_payload(struct gv_store *s, const struct gv_config *cfg,
                                   const struct gv_out *o, char **json)
{
        cJSON *extra = o->extra ? cJSON_Parse(o->extra) : NULL;
        const char *event = gv_js_str(extra, "event");
        unsigned bit = gv_config_hook_event(event);
        int64_t meeting = gv_js_uint(extra, "meeting", 0), item = gv_js_uint(extra, "item", 0);
        cJSON *p = cJSON_CreateObject();
        char *first = NULL, *summary = NULL, delivery[64];
        enum gv_err r = GV_ENOMEM;

        (void)cfg;
        snprintf(delivery, sizeof(delivery), "gavel-%" PRId64 "-%" PRId64, o->created, o->id);
        if (!p || !bit) {
                r = p ? GV_EINVAL : GV_ENOMEM;
                goto out;
        }
        if (!cJSON_AddStringToObject(p, "event", event) ||
            !cJSON_AddStringToObject(p, "delivery", delivery))
                goto out;
        r = GV_OK;
        if (bit == GV_HOOK_ITEM_ADDED || bit == GV_HOOK_ITEM_DISCUSSED)
                r = item ? item_json(s, item, p) : GV_EINVAL;
        if (r == GV_OK && bit != GV_HOOK_ITEM_ADDED)
                r = meeting ? meeting_json(s, meeting, p, &first) : GV_EINVAL;
        if (r == GV_OK && bit == GV_HOOK_ITEM_DISCUSSED) {
                r = item_summary(s, meeting, item, &summary);
                if (r == GV_OK && (!cJSON_AddStringToObject(p, "summary", summary) ||
                                   !(first ? cJSON_AddStringToObject(p, "notes", first)
                                           : cJSON_AddNullToObject(p, "notes"))))
                        r = GV_ENOMEM;
        }
        if (r)
                goto out;
        *json = cJSON_PrintUnformatted(p);
        r = *json ? GV_OK : GV_ENOMEM;
out:
        free(first);
        free(summary);
        cJSON_Delete(p);
        cJSON_Delete(extra);
        return r;
}

static enum gv_err prepare_hook(struct gv_store *s, const struct gv_config *cfg,
                                const struct gv_out *o, const cJSON *extra, struct gv_job *j,
                                enum gv_delivery *d, char *why, size_t n)
{
        unsigned bit = gv_config_hook_event(gv_js_str(extra, "event"));
        char cred[64];
        bool waits = false;
        enum gv_err r;

        if (j->index >= cfg->n_webhooks || !bit) {
                snprintf(why, n, "no webhook %zu in the config (any more), or no event", j->index);
                *d = GV_DELIVER_NEVER;
                return GV_OK;
        }
        if (bit != GV_HOOK_ITEM_ADDED && j->meeting) {
                r = gv_store_outbox_meeting_waits(s, GV_OUT_WIKI, j->meeting, &waits);
                if (r)
                        return r;
                if (waits) {
                        snprintf(why, n, "waiting for the wiki publication of meeting %" PRId64,
                                 j->meeting);
                        *d = GV_DELIVER_LATER;
                        return GV_OK;
                }
        }
        snprintf(cred, sizeof(cred), "webhook-%zu-secret", j->index);
        r = secret(cfg->webhooks[j->index].secret_file, cred, true, &j->secret, why, n);
        if (r == GV_ECONFIG) {
                *d = GV_DELIVER_NEVER;
                return GV_OK;
        }
        if (r)
                return r;
        r = gv_job_webhook_payload(s, cfg, o, &j->body);
        if (r == GV_ENOTFOUND || r == GV_EINVAL) {
                snprintf(why, n, "cannot build the payload: %s", gv_strerror(r));
                *d = GV_DELIVER_NEVER;
                return GV_OK;
        }
        if (r)
                return r;
        j->url = strdup(cfg->webhooks[j->index].url);
        snprintf(j->delivery, sizeof(j->delivery), "gavel-%" PRId64 "-%" PRId64, o->created,
                 o->id);
        return j->url ? GV_OK : GV_ENOMEM;
}

enum gv_err gv_job_prepare(struct gv_store *s, const struct gv_config *cfg, const struct gv_out *o,
                           struct gv_job **ret, enum gv_delivery *d, char *why, size_t n)
{
        cJSON *extra = o->extra ? cJSON_Parse(o->extra) : NULL;
        struct gv_job *j = calloc(1, sizeof(*j));
        enum gv_err r = GV_ENOMEM;

        *ret = NULL;
        *d = GV_DELIVERED;      /* the prepare steps set later or never to settle it now */
        if (!j)
                goto out;
        j->kind = o->kind;
        j->row = o->id;
        j->meeting = gv_js_uint(extra, "meeting", 0);
        j->index = (size_t)gv_js_uint(extra, o->kind == GV_OUT_WIKI ? "wiki" : "webhook", 1 << 30);
        j->d = GV_DELIVERED;    /* until run says otherwise */
        if (o->kind == GV_OUT_WIKI)
                r = prepare_wiki(s, cfg, o, extra, j, d, why, n);
        else if (o->kind == GV_OUT_WEBHOOK)
                r = prepare_hook(s, cfg, o, extra, j, d, why, n);
        else {
                snprintf(why, n, "a %s row is not a publishing job", gv_out_kind_name(o->kind));
                *d = GV_DELIVER_NEVER;
                r = GV_OK;
                goto out;
        }
        if (r || *d != GV_DELIVERED)
                goto out;       /* settled without running */
        *ret = j;
        j = NULL;
out:
        gv_job_free(j);
        cJSON_Delete(extra);
        return r;
}

static enum gv_err queue_links_back(struct gv_store *s, int64_t meeting, int64_t now);

/* ---- running ---- */

struct done {
        bool done;
        long status;
        enum gv_err err;
        char msg[160];
};

static void on_hook(void *ud, const struct gv_http_resp *resp)
{
        struct done *x = ud;

        x->done = true;
        x->status = resp->status;
        x->err = resp->err;
        snprintf(x->msg, sizeof(x->msg), "%s", resp->errmsg ? resp->errmsg : "");
}

static void run_hook(struct gv_job *j)
{
        char sig[2 * GV_SHA256_LEN + 1], h_sig[96], h_id[128];
        const char *headers[] = { h_sig, h_id, "User-Agent: gavel", NULL };
        struct gv_http *http = NULL;
        struct done x = { false, 0, GV_OK, "" };
        enum gv_err r;

        r = gv_hmac_sha256_hex(j->secret, strlen(j->secret), j->body, strlen(j->body), sig);
        if (r == GV_OK)
                r = gv_http_new(&http);
        snprintf(h_sig, sizeof(h_sig), "X-Gavel-Signature: sha256=%s", sig);
        snprintf(h_id, sizeof(h_id), "X-Gavel-Delivery: %s", j->delivery);
        if (r == GV_OK)
                r = gv_http_request_h(http, "POST", j->url, NULL, headers, j->body,
                                      GV_JOB_TIMEOUT_MS, 65536, on_hook, &x);
        while (r == GV_OK && !x.done)
                r = gv_http_poll(http, 1000, -1, NULL);
        gv_http_free(http);
        if (r) {
                j->d = GV_DELIVER_LATER;
                snprintf(j->why, sizeof(j->why), "cannot POST: %s", gv_strerror(r));
        } else if (x.err) {
                j->d = GV_DELIVER_LATER;
                snprintf(j->why, sizeof(j->why), "no answer from the webhook: %s",
                         x.msg[0] ? x.msg : gv_strerror(x.err));
        } else if (x.status >= 200 && x.status < 300) {
                j->d = GV_DELIVERED;
        } else if (x.status >= 400 && x.status < 500 && x.status != 408 && x.status != 429) {
                j->d = GV_DELIVER_NEVER;
                snprintf(j->why, sizeof(j->why), "the webhook refused it: HTTP %ld", x.status);
        } else {
                j->d = GV_DELIVER_LATER;
                snprintf(j->why, sizeof(j->why), "the webhook answered HTTP %ld", x.status);
        }
}

void gv_job_run(struct gv_job *j)
{
        enum gv_err r;

        if (!j)
                return;
        if (j->kind == GV_OUT_WEBHOOK) {
                run_hook(j);
                return;
        }
        if (j->w.git)
                r = gv_publish_git(&j->w, &j->p, &j->d, j->why, sizeof(j->why), &j->link);
        else
                r = gv_publish_mediawiki(&j->w, &j->p, &j->d, j->why, sizeof(j->why), &j->link);
        if (r) {
                j->d = GV_DELIVER_LATER;
                snprintf(j->why, sizeof(j->why), "publishing failed: %s", gv_strerror(r));
        }
}

enum gv_err gv_job_finish(struct gv_store *s, struct gv_job *j, int64_t now, enum gv_delivery *d,
                          char *why, size_t n)
{
        enum gv_err r = GV_OK;

        *d = j->d;
        snprintf(why, n, "%s", j->why);
        if (j->kind == GV_OUT_WIKI && j->d == GV_DELIVERED) {
                r = gv_job_published(s, j->meeting, j->index, j->link ? j->link : j->page, now);
                if (r == GV_OK)
                        gv_info("jobs", "meeting %" PRId64 " published to wiki %zu%s%s",
                                j->meeting, j->index, j->link ? ": " : "",
                                j->link ? j->link : "");
        }
        return r;
}

enum gv_err gv_job_sent_event(struct gv_store *s, int64_t row, const char *event_id)
{
        char key[48];

        enum gv_err r;

        snprintf(key, sizeof(key), "sent-event:%" PRId64, row);
        r = gv_store_kv_set(s, key, event_id);
        /* a series' release: the reactions to it are answers (issue 10) */
        return r ? r : gv_store_release_sent(s, row, event_id);
}

bool gv_job_keeps_event(const struct gv_out *o)
{
        cJSON *x;
        bool keep;

        if (o->kind == GV_OUT_MINUTES)
                return true;
        if (o->kind != GV_OUT_MESSAGE || !o->extra || !strstr(o->extra, "keep_event"))
                return false;
        x = cJSON_Parse(o->extra);
        keep = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "keep_event"));
        cJSON_Delete(x);
        return keep;
}

enum gv_err gv_job_edit_target(struct gv_store *s, const char *extra, char **event_id,
                               enum gv_delivery *d, char *why, size_t n)
{
        cJSON *x = extra ? cJSON_Parse(extra) : NULL;
        int64_t row = gv_js_uint(x, "replaces_row", 0), meeting = gv_js_uint(x, "meeting", 0);
        int64_t id = 0;
        bool sent = false, parked = false;
        char key[48];
        enum gv_err r;

        cJSON_Delete(x);
        *event_id = NULL;
        *d = GV_DELIVERED;
        if (!row)
                return GV_OK;
        snprintf(key, sizeof(key), "sent-event:%" PRId64, row);
        r = gv_store_kv_get(s, key, event_id);
        if (r || *event_id)
                return r;
        r = gv_store_outbox_minutes_row(s, meeting, &id, &sent, &parked);
        if (r && r != GV_ENOTFOUND)
                return r;
        if (r == GV_OK && id == row && !sent && !parked) {
                *d = GV_DELIVER_LATER;
                snprintf(why, n, "the minutes message it edits is not sent yet");
        } else {
                *d = GV_DELIVER_NEVER;
                snprintf(why, n, "the minutes message it edits was never sent");
        }
        return GV_OK;
}

struct pubs {
        struct gv_buf *body, *html;
        enum gv_err r;
        bool any;
};

static void pub_one(void *ud, const char *target, const char *url)
{
        struct pubs *p = ud;

        if (p->r || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
                return;
        p->r = gv_buf_printf(p->body, "%s%s (%s)", p->any ? ", " : "\nPublished: ", url, target);
        if (p->r == GV_OK && p->html) {
                p->r = gv_buf_adds(p->html, p->any ? ", <a href=\"" : "\n<p>Published: <a href=\"");
                if (p->r == GV_OK)
                        p->r = gv_html_escape(p->html, url);
                if (p->r == GV_OK)
                        p->r = gv_buf_adds(p->html, "\">");
                if (p->r == GV_OK)
                        p->r = gv_html_escape(p->html, target);
                if (p->r == GV_OK)
                        p->r = gv_buf_adds(p->html, "</a>");
        }
        p->any = true;
}

enum gv_err gv_job_links_append(struct gv_store *s, int64_t meeting, struct gv_buf *body,
                                struct gv_buf *html)
{
        struct pubs p = { body, html, GV_OK, false };
        enum gv_err r = gv_store_publications(s, meeting, pub_one, &p);

        if (r == GV_OK)
                r = p.r;
        if (r == GV_OK && p.any) {
                r = gv_buf_adds(body, "\n");
                if (r == GV_OK && html)
                        r = gv_buf_adds(html, "</p>\n");
        }
        return r;
}

/* Queues the edit of the meeting's minutes message that carries the links. */
static enum gv_err queue_links_back(struct gv_store *s, int64_t meeting, int64_t now)
{
        struct gv_meeting m = { 0 };
        int64_t row = 0;
        bool sent = false, parked = false;
        char extra[256];
        enum gv_err r = gv_store_outbox_minutes_row(s, meeting, &row, &sent, &parked);

        if (r == GV_ENOTFOUND || (r == GV_OK && parked))
                return GV_OK;   /* no message to edit */
        if (r)
                return r;
        r = gv_store_meeting_get(s, meeting, &m);
        if (r == GV_OK) {
                snprintf(extra, sizeof(extra),
                         "{\"meeting\":%" PRId64 ",\"replaces_row\":%" PRId64 ","
                         "\"msgtype\":\"m.notice\",\"mentions\":[]}", meeting, row);
                r = gv_store_outbox_add(s, GV_OUT_MINUTES, m.room, "", NULL, extra, now);
        }
        gv_meeting_clear(&m);
        return r == GV_ENOTFOUND ? GV_OK : r;
}

enum gv_err gv_job_published(struct gv_store *s, int64_t meeting, size_t wiki, const char *link,
                             int64_t now)
{
        char target[32];
        enum gv_err r;

        snprintf(target, sizeof(target), "wiki:%zu", wiki);
        r = gv_store_publication_add(s, meeting, target, link, now);
        if (r == GV_OK && (strncmp(link, "https://", 8) == 0 || strncmp(link, "http://", 7) == 0))
                r = queue_links_back(s, meeting, now);
        return r;
}

enum gv_err gv_job_deliver(struct gv_store *s, const struct gv_config *cfg, const struct gv_out *o,
                           int64_t now, enum gv_delivery *d, char *why, size_t n)
{
        struct gv_job *j = NULL;
        enum gv_err r = gv_job_prepare(s, cfg, o, &j, d, why, n);

        if (r || !j)
                return r;
        gv_job_run(j);
        r = gv_job_finish(s, j, now, d, why, n);
        gv_job_free(j);
        return r;
}

/* One secret's line: "wiki[0] token: /run/credentials/gavel/wiki-0-token (found)". */
/* ssh://, ssh+git://, git+ssh:// or scp-like user@host:path. */
static bool ssh_remote(const char *url)
{
        const char *colon = strchr(url, ':');

        if (strstr(url, "ssh://"))
                return true;
        return colon && !strstr(url, "://") && url[0] != '/' && url[0] != '.' &&
               memchr(url, '/', (size_t)(colon - url)) == NULL;
}

static size_t check_one(FILE *out, const char *what, const char *file, const char *cred,
                        bool required)
{
        char path[PATH_MAX_BYTES];
        const char *p = gv_config_secret_path(file, cred, path, sizeof(path));
        bool there = p && access(p, R_OK) == 0;

        if (there)
                fprintf(out, "%s: %s (found)\n", what, p);
        else if (p)
                fprintf(out, "%s: %s (%s)\n", what, p,
                        required ? "MISSING: its deliveries will be parked" : "not there: none used");
        else
                fprintf(out, "%s: none (%s)\n", what,
                        required ? "MISSING: set its *_file key or $CREDENTIALS_DIRECTORY/" :
                                   "optional; $CREDENTIALS_DIRECTORY/ is not set");
        return required && !there;
}

size_t gv_job_check_secrets(const struct gv_config *cfg, FILE *out)
{
        char what[64], cred[64];
        size_t missing = 0;

        for (size_t i = 0; i < cfg->n_wiki; i++) {
                const struct gv_wiki_cfg *w = &cfg->wiki[i];

                if (w->git) {
                        snprintf(what, sizeof(what), "wiki[%zu] token", i);
                        snprintf(cred, sizeof(cred), "wiki-%zu-token", i);
                        missing += check_one(out, what, w->token_file, cred, false);
                        snprintf(what, sizeof(what), "wiki[%zu] ssh key", i);
                        snprintf(cred, sizeof(cred), "wiki-%zu-ssh-key", i);
                        missing += check_one(out, what, w->ssh_key_file, cred, false);
                        if (ssh_remote(w->git)) {
                                char path[PATH_MAX_BYTES];
                                const char *p;

                                snprintf(cred, sizeof(cred), "wiki-%zu-known-hosts", i);
                                p = gv_config_secret_path(w->known_hosts_file, cred, path,
                                                          sizeof(path));
                                if (p && (access(p, R_OK) == 0 || w->known_hosts_file))
                                        fprintf(out, "wiki[%zu] ssh host keys: %s (%s)\n", i, p,
                                                access(p, R_OK) == 0 ? "found" :
                                                "MISSING: every push will be refused");
                                else
                                        fprintf(out, "wiki[%zu] ssh host keys: ~/.ssh/known_hosts "
                                                "and /etc/ssh/ssh_known_hosts\n", i);
                        }
                } else {
                        snprintf(what, sizeof(what), "wiki[%zu] password", i);
                        snprintf(cred, sizeof(cred), "wiki-%zu-password", i);
                        missing += check_one(out, what, w->password_file, cred, true);
                }
        }
        for (size_t i = 0; i < cfg->n_webhooks; i++) {
                snprintf(what, sizeof(what), "webhooks[%zu] secret", i);
                snprintf(cred, sizeof(cred), "webhook-%zu-secret", i);
                missing += check_one(out, what, cfg->webhooks[i].secret_file, cred, true);
        }
        return missing;
}
