/* bridge/publish_mediawiki.c - gv_publish_mediawiki(): a meeting's section
 * onto a MediaWiki page through the Action API (api.php), over the blocking
 * client of bridge/http.c (libcurl, one connection, cookies in memory).
 *
 * The exchange: a login token, action=login with the bot password; a CSRF
 * token and the site's article path; the page's wikitext and revision id;
 * gv_publish_insert() finds the marker already there (published before:
 * done) or gives the new text for action=edit with baserevid. A person's edit that
 * landed between the read and the edit makes MediaWiki answer editconflict
 * (or articleexists for a page created meanwhile): the page is read again
 * and the section inserted into the new text, a few times at most.
 *
 * No basetimestamp: MediaWiki (EditPage, 1.39) suppresses an edit conflict
 * when basetimestamp is given and the same user made every edit since it -
 * so a second gavel worker publishing another meeting to the same page
 * would silently replace the first one's section. baserevid alone checks the
 * revision, whoever made it (ApiEditPage says as much). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/json.h"
#include "../util/log.h"
#include "http.h"
#include "publish.h"

/* An api.php answer: the page's wikitext JSON-escaped; $wgMaxArticleSize is
 * 2 MiB by default, escaping at most triples it. */
#define MW_MAX_RESPONSE (16u << 20)
/* A POST body: the page text, percent-encoded (at most triple). */
#define MW_MAX_FORM (16u << 20)
/* One request, connection to answer. */
#define MW_TIMEOUT_MS 60000L
/* Reads and edits before an edit conflict that keeps coming back is left
 * for the outbox's next attempt. */
#define MW_EDIT_TRIES 5
/* Seconds of replication lag gavel waits out (maxlag; a bot's manners). */
#define MW_MAXLAG "5"

struct mw {
        const struct gv_wiki *w;
        struct gv_http_client *c;
        enum gv_delivery d;     /* when a step returns GV_EHTTP: the verdict */
        char *why;
        size_t n;
        char *csrf;
        char *server;           /* siteinfo: "http://127.0.0.1:8080", "//wiki.example.org" */
        char *articlepath;      /* siteinfo: "/index.php?title=$1", "/wiki/$1" */
};

/* The verdict of a step that cannot go on: GV_EHTTP, with d and why set. */
__attribute__((format(printf, 3, 4)))
static enum gv_err verdict(struct mw *m, enum gv_delivery d, const char *fmt, ...)
{
        va_list ap;

        m->d = d;
        va_start(ap, fmt);
        vsnprintf(m->why, m->n, fmt, ap);
        va_end(ap);
        return GV_EHTTP;
}

/* Appends "&k=v" (v percent-encoded) to a query or form. */
static enum gv_err param(struct gv_buf *b, const char *k, const char *v)
{
        enum gv_err r;

        if (b->len && (r = gv_buf_addc(b, '&')) != GV_OK)
                return r;
        if ((r = gv_buf_adds(b, k)) != GV_OK || (r = gv_buf_addc(b, '=')) != GV_OK)
                return r;
        return gv_url_escape(b, v);
}

/* Errors of the API that waiting cures; every other one is for good. */
static bool transient(const char *code)
{
        static const char *const later[] = {
                "maxlag", "readonly", "ratelimited", "actionthrottledtext", "databaseerror",
                "internal_api_error_DBQueryError", "internal_api_error_DBConnectionError",
                "internal_api_error_DBQueryTimeoutError", "internal_api_error_DBReadOnlyError",
        };

        for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
                if (strcmp(code, later[i]) == 0)
                        return true;
        return strncmp(code, "internal_api_error_", 19) == 0;
}

/* One API call: GET api.php?query (form NULL) or POST form. *out is the
 * parsed answer when it is JSON without "error"; an API error's code goes to
 * *code (the caller handles the ones it knows: pass code NULL to have every
 * one decided here). GV_EHTTP: the verdict is made (transport, status, not
 * an API, an error the caller did not take). */
static enum gv_err call(struct mw *m, const char *query, const char *form, cJSON **out,
                        char *code, size_t code_n)
{
        struct gv_buf url = GV_BUF_INIT(16384);
        struct gv_http_resp resp;
        const cJSON *err;
        cJSON *js = NULL;
        enum gv_err r;

        *out = NULL;
        if (code && code_n)
                code[0] = '\0';
        r = gv_buf_adds(&url, m->w->mediawiki);
        if (r == GV_OK && query)
                r = gv_buf_printf(&url, "%s%s", strchr(m->w->mediawiki, '?') ? "&" : "?", query);
        if (r != GV_OK) {
                gv_buf_free(&url);
                return r == GV_ETOOBIG ? verdict(m, GV_DELIVER_NEVER, "page name too long")
                                       : r;
        }
        r = gv_http_client_do(m->c, url.p, form, MW_TIMEOUT_MS, MW_MAX_RESPONSE, &resp);
        gv_buf_free(&url);
        if (r != GV_OK)
                return r;
        if (resp.err == GV_ETOOBIG)
                return verdict(m, GV_DELIVER_NEVER, "%s: answer over %u bytes", m->w->mediawiki,
                               MW_MAX_RESPONSE);
        if (resp.err != GV_OK)
                return verdict(m, GV_DELIVER_LATER, "%s: %s", m->w->mediawiki,
                               resp.errmsg ? resp.errmsg : "no answer");
        if (resp.status >= 500 || resp.status == 429 || resp.status == 408)
                return verdict(m, GV_DELIVER_LATER, "%s: HTTP %ld", m->w->mediawiki, resp.status);
        if (resp.status >= 300 && resp.status < 400)
                return verdict(m, GV_DELIVER_NEVER, "%s: HTTP %ld, a redirect: configure the "
                               "api.php URL it names (https? /w/api.php?)", m->w->mediawiki,
                               resp.status);
        if (resp.status != 200)
                return verdict(m, GV_DELIVER_NEVER, "%s: HTTP %ld, not a MediaWiki API",
                               m->w->mediawiki, resp.status);
        js = cJSON_ParseWithLength(resp.body, resp.len);
        if (!cJSON_IsObject(js)) {
                cJSON_Delete(js);
                return verdict(m, GV_DELIVER_NEVER, "%s: the answer is not JSON, not a MediaWiki API",
                               m->w->mediawiki);
        }
        err = gv_js_obj(js, "error");
        if (err) {
                const char *c = gv_js_str(err, "code"), *info = gv_js_str(err, "info");

                if (!c)
                        c = "unknown";
                if (code && code_n) {
                        snprintf(code, code_n, "%s", c);
                        if (m->n)
                                snprintf(m->why, m->n, "%s: %s", c, info ? info : "");
                        cJSON_Delete(js);
                        return GV_OK;
                }
                r = verdict(m, transient(c) ? GV_DELIVER_LATER : GV_DELIVER_NEVER, "%s: %s", c,
                            info ? info : "");
                cJSON_Delete(js);
                return r;
        }
        *out = js;
        return GV_OK;
}

/* A GET query from key/value pairs (NULL-terminated), format=json etc. added. */
static enum gv_err get(struct mw *m, const char *const *kv, cJSON **out, char *code,
                       size_t code_n)
{
        struct gv_buf q = GV_BUF_INIT(16384);
        enum gv_err r;

        r = param(&q, "format", "json");
        if (r == GV_OK)
                r = param(&q, "formatversion", "2");
        if (r == GV_OK)
                r = param(&q, "maxlag", MW_MAXLAG);
        for (size_t i = 0; kv[i] && r == GV_OK; i += 2)
                r = param(&q, kv[i], kv[i + 1]);
        if (r == GV_OK)
                r = call(m, q.p, NULL, out, code, code_n);
        else if (r == GV_ETOOBIG)
                r = verdict(m, GV_DELIVER_NEVER, "page name too long");
        gv_buf_free(&q);
        return r;
}

/* A POST form from key/value pairs; the form is wiped afterwards (it may
 * carry the password). */
static enum gv_err post(struct mw *m, const char *const *kv, cJSON **out, char *code,
                        size_t code_n)
{
        struct gv_buf f = GV_BUF_INIT(MW_MAX_FORM);
        enum gv_err r;

        r = param(&f, "format", "json");
        if (r == GV_OK)
                r = param(&f, "formatversion", "2");
        if (r == GV_OK)
                r = param(&f, "maxlag", MW_MAXLAG);
        for (size_t i = 0; kv[i] && r == GV_OK; i += 2)
                r = param(&f, kv[i], kv[i + 1]);
        if (r == GV_OK)
                r = call(m, NULL, f.p, out, code, code_n);
        else if (r == GV_ETOOBIG)
                r = verdict(m, GV_DELIVER_NEVER, "the page would be over %u bytes", MW_MAX_FORM);
        if (f.p)
                explicit_bzero(f.p, f.len);
        gv_buf_free(&f);
        return r;
}

static enum gv_err dup_str(const char *s, char **ret)
{
        free(*ret);
        *ret = s ? strdup(s) : NULL;
        return s && !*ret ? GV_ENOMEM : GV_OK;
}

/* Bot-password login: a login token, then action=login. */
static enum gv_err login(struct mw *m)
{
        static const char *const tok_q[] = { "action", "query", "meta", "tokens", "type", "login",
                                             NULL };
        cJSON *js = NULL;
        char *token = NULL;
        const char *res, *reason;
        enum gv_err r;

        r = get(m, tok_q, &js, NULL, 0);
        if (r != GV_OK)
                return r;
        r = dup_str(gv_js_str(gv_js_obj(gv_js_obj(js, "query"), "tokens"), "logintoken"), &token);
        cJSON_Delete(js);
        js = NULL;
        if (r != GV_OK)
                return r;
        if (!token)
                return verdict(m, GV_DELIVER_NEVER, "%s: no login token in the answer",
                               m->w->mediawiki);
        {
                const char *const kv[] = { "action", "login", "lgname", m->w->user, "lgpassword",
                                           m->w->password, "lgtoken", token, NULL };

                r = post(m, kv, &js, NULL, 0);
        }
        free(token);
        if (r != GV_OK)
                return r;
        res = gv_js_str(gv_js_obj(js, "login"), "result");
        reason = gv_js_str(gv_js_obj(js, "login"), "reason");
        if (!res)
                r = verdict(m, GV_DELIVER_NEVER, "login: no result in the answer");
        else if (strcmp(res, "Success") == 0)
                r = GV_OK;
        else if (strcmp(res, "Throttled") == 0)
                r = verdict(m, GV_DELIVER_LATER, "login as %s throttled: %s", m->w->user,
                            reason ? reason : "");
        else if (strcmp(res, "NeedToken") == 0 || strcmp(res, "WrongToken") == 0)
                r = verdict(m, GV_DELIVER_LATER, "login as %s: %s (session cookie lost?)",
                            m->w->user, res);
        else
                r = verdict(m, GV_DELIVER_NEVER, "login as %s refused (%s): %s", m->w->user, res,
                            reason ? reason : "");
        cJSON_Delete(js);
        return r;
}

/* The CSRF token, and where articles are (for the link). */
static enum gv_err tokens(struct mw *m)
{
        static const char *const q[] = { "action", "query", "meta", "tokens|siteinfo",
                                         "siprop", "general", NULL };
        const cJSON *general;
        const char *csrf;
        cJSON *js = NULL;
        enum gv_err r;

        r = get(m, q, &js, NULL, 0);
        if (r != GV_OK)
                return r;
        csrf = gv_js_str(gv_js_obj(gv_js_obj(js, "query"), "tokens"), "csrftoken");
        general = gv_js_obj(gv_js_obj(js, "query"), "general");
        if (!csrf || strcmp(csrf, "+\\") == 0)  /* "+\": the token of a logged-out session */
                r = verdict(m, GV_DELIVER_LATER, "no edit token: the login did not hold");
        else if ((r = dup_str(csrf, &m->csrf)) == GV_OK &&
                 (r = dup_str(gv_js_str(general, "server"), &m->server)) == GV_OK)
                r = dup_str(gv_js_str(general, "articlepath"), &m->articlepath);
        cJSON_Delete(js);
        return r;
}

struct page {
        bool exists;
        char *text;             /* "" for a missing page */
        char revid[24];
        char now[32];           /* curtimestamp: starttimestamp of the edit */
};

static void page_free(struct page *pg)
{
        free(pg->text);
        memset(pg, 0, sizeof(*pg));
}

static enum gv_err read_page(struct mw *m, struct page *pg)
{
        const char *const q[] = { "action", "query", "prop", "revisions", "titles", m->w->page,
                                  "rvprop", "content|ids", "rvslots", "main", "curtimestamp", "1",
                                  NULL };
        const cJSON *pages, *pgo, *rev, *main;
        const char *text, *model, *now;
        cJSON *js = NULL;
        int64_t revid;
        enum gv_err r;

        page_free(pg);
        r = get(m, q, &js, NULL, 0);
        if (r != GV_OK)
                return r;
        pages = gv_js_arr(gv_js_obj(js, "query"), "pages");
        pgo = cJSON_IsArray(pages) ? cJSON_GetArrayItem(pages, 0) : NULL;
        now = gv_js_str(js, "curtimestamp");
        if (now)
                snprintf(pg->now, sizeof(pg->now), "%s", now);
        if (!cJSON_IsObject(pgo)) {
                r = verdict(m, GV_DELIVER_NEVER, "%s: no page in the answer", m->w->page);
        } else if (cJSON_IsTrue(gv_js_get(pgo, "invalid"))) {
                r = verdict(m, GV_DELIVER_NEVER, "\"%s\" is not a valid page title: %s", m->w->page,
                            gv_js_str(pgo, "invalidreason") ? gv_js_str(pgo, "invalidreason") : "");
        } else if (cJSON_IsTrue(gv_js_get(pgo, "missing"))) {
                pg->exists = false;
                pg->text = strdup("");
                r = pg->text ? GV_OK : GV_ENOMEM;
        } else {
                rev = cJSON_GetArrayItem(gv_js_arr(pgo, "revisions"), 0);
                main = gv_js_obj(gv_js_obj(rev, "slots"), "main");
                text = gv_js_str(main, "content");
                model = gv_js_str(main, "contentmodel");
                revid = gv_js_uint(rev, "revid", -1);
                if (model && strcmp(model, "wikitext") != 0)
                        r = verdict(m, GV_DELIVER_NEVER, "%s is %s, not wikitext", m->w->page,
                                    model);
                else if (!text || revid <= 0)
                        r = verdict(m, GV_DELIVER_NEVER, "%s: no revision text in the answer "
                                    "(may the bot read it?)", m->w->page);
                else {
                        pg->exists = true;
                        snprintf(pg->revid, sizeof(pg->revid), "%lld", (long long)revid);
                        pg->text = strdup(text);
                        r = pg->text ? GV_OK : GV_ENOMEM;
                }
        }
        cJSON_Delete(js);
        return r;
}

/* Title or fragment for a URL: spaces as underscores (MediaWiki's own
 * spelling), the rest percent-encoded but for the path characters. */
static enum gv_err url_part(struct gv_buf *b, const char *s, bool title)
{
        enum gv_err r = GV_OK;

        for (; *s && r == GV_OK; s++) {
                char one[2] = { *s == ' ' ? '_' : *s, '\0' };

                if (one[0] == '_' || (title && (one[0] == '/' || one[0] == ':')))
                        r = gv_buf_addc(b, one[0]);
                else
                        r = gv_url_escape(b, one);
        }
        return r;
}

/* The marker on a line of its own (as gv_publish_insert() counts it), else
 * anywhere; NULL when not on the page. */
static const char *marker_line(const char *text, const char *marker)
{
        size_t ml = strlen(marker);

        for (const char *at = strstr(text, marker); at; at = strstr(at + 1, marker))
                if ((at == text || at[-1] == '\n') &&
                    (at[ml] == '\0' || at[ml] == '\n' || at[ml] == '\r'))
                        return at;
        return strstr(text, marker);
}

/* The URL of the meeting's section on revision revid: the parser's section
 * list with byte offsets, matched against the heading right above the
 * marker in that revision's wikitext. The page's URL when the section is
 * not found; nothing (NULL) when even that is unknown. */
static enum gv_err section_link(struct mw *m, const char *revid, const char *marker, char **link)
{
        const char *const q[] = { "action", "parse", "oldid", revid, "prop", "sections|wikitext",
                                  NULL };
        struct gv_buf u = GV_BUF_INIT(65536);
        const char *title, *text, *at, *anchor = NULL, *dollar, *ap;
        const cJSON *sec;
        cJSON *js = NULL;
        enum gv_err r;

        *link = NULL;
        if (!m->server || !m->articlepath || !(dollar = strstr(m->articlepath, "$1")))
                return GV_OK;
        r = get(m, q, &js, NULL, 0);
        if (r == GV_EHTTP)
                return GV_OK;   /* published all the same; no link is no failure */
        if (r != GV_OK)
                return r;
        title = gv_js_str(gv_js_obj(js, "parse"), "title");
        text = gv_js_str(gv_js_obj(js, "parse"), "wikitext");
        at = text ? marker_line(text, marker) : NULL;
        if (at) {
                /* the last heading line ("=...") before the marker */
                const cJSON *secs = gv_js_arr(gv_js_obj(js, "parse"), "sections");
                const char *h = NULL, *nl;

                for (const char *l = text; l < at; l = nl ? nl + 1 : at) {
                        nl = strchr(l, '\n');
                        if (*l == '=')
                                h = l;
                }
                for (sec = secs ? secs->child : NULL; sec; sec = sec->next) {
                        if (h && gv_js_uint(sec, "byteoffset", -1) == (int64_t)(h - text)) {
                                anchor = gv_js_str(sec, "anchor");
                                break;
                        }
                }
        }
        if (!title)
                title = m->w->page;
        ap = m->articlepath;
        if (strncmp(m->server, "//", 2) == 0) {
                /* protocol-relative: the scheme the API is reached by */
                const char *colon = strstr(m->w->mediawiki, "://");

                r = gv_buf_add(&u, m->w->mediawiki,
                               colon ? (size_t)(colon - m->w->mediawiki) + 1 : 0);
        }
        if (r == GV_OK)
                r = gv_buf_adds(&u, m->server);
        if (r == GV_OK)
                r = gv_buf_add(&u, ap, (size_t)(dollar - ap));
        if (r == GV_OK)
                r = url_part(&u, title, true);
        if (r == GV_OK)
                r = gv_buf_adds(&u, dollar + 2);
        if (r == GV_OK && anchor && (r = gv_buf_addc(&u, '#')) == GV_OK)
                r = url_part(&u, anchor, false);
        if (r == GV_OK)
                r = gv_buf_steal(&u, link);
        if (r == GV_ETOOBIG)
                r = GV_OK;      /* a link too long to be useful: none */
        gv_buf_free(&u);
        cJSON_Delete(js);
        return r;
}

/* One edit of the page read into pg. *again: MediaWiki saw a conflict (or
 * a page created meanwhile, a lost token or session): read and retry.
 * *revid: the new revision. */
static enum gv_err edit(struct mw *m, const struct gv_publication *p, const struct page *pg,
                        const char *text, bool *again, char *revid, size_t revid_n)
{
        const char *kv[32];
        char code[64];
        size_t k = 0;
        cJSON *js = NULL;
        const char *res;
        int64_t newrev;
        enum gv_err r;

        *again = false;
        kv[k++] = "action";
        kv[k++] = "edit";
        kv[k++] = "title";
        kv[k++] = m->w->page;
        kv[k++] = "text";
        kv[k++] = text;
        kv[k++] = "summary";
        kv[k++] = p->summary ? p->summary : "meeting notes";
        kv[k++] = "bot";
        kv[k++] = "1";
        kv[k++] = "assert";
        kv[k++] = "user";
        if (pg->exists) {
                kv[k++] = "baserevid";
                kv[k++] = pg->revid;
                kv[k++] = "nocreate";
                kv[k++] = "1";
        } else {
                kv[k++] = "createonly";
                kv[k++] = "1";
        }
        if (pg->now[0]) {
                kv[k++] = "starttimestamp";
                kv[k++] = pg->now;
        }
        kv[k++] = "token";      /* last: a body cut short is refused, not half applied */
        kv[k++] = m->csrf;
        kv[k] = NULL;
        r = post(m, kv, &js, code, sizeof(code));
        if (r != GV_OK)
                return r;
        if (!js) {
                /* the API's error: m->why holds "code: info" */
                if (strcmp(code, "editconflict") == 0 || strcmp(code, "articleexists") == 0 ||
                    strcmp(code, "missingtitle") == 0 || strcmp(code, "pagedeleted") == 0 ||
                    strcmp(code, "badtoken") == 0 || strcmp(code, "assertuserfailed") == 0 ||
                    strcmp(code, "assertnameduserfailed") == 0) {
                        gv_info("mediawiki", "%s: %s, reading the page again", m->w->page, code);
                        *again = true;
                        if (strcmp(code, "badtoken") == 0 || strncmp(code, "assert", 6) == 0)
                                m->csrf[0] = '\0';      /* log in again, new token */
                        return GV_OK;
                }
                m->d = transient(code) ? GV_DELIVER_LATER : GV_DELIVER_NEVER;
                return GV_EHTTP;
        }
        res = gv_js_str(gv_js_obj(js, "edit"), "result");
        newrev = gv_js_uint(gv_js_obj(js, "edit"), "newrevid", -1);
        if (res && strcmp(res, "Success") == 0) {
                if (newrev > 0)
                        snprintf(revid, revid_n, "%lld", (long long)newrev);
                else    /* nochange: the text was the same */
                        snprintf(revid, revid_n, "%s", pg->revid);
                r = GV_OK;
        } else {
                /* "Failure": an extension said no (captcha, abuse filter, spam list) */
                char *s = cJSON_PrintUnformatted(gv_js_obj(js, "edit"));

                r = verdict(m, GV_DELIVER_NEVER, "edit refused: %.200s", s ? s : "?");
                free(s);
        }
        cJSON_Delete(js);
        return r;
}

enum gv_err gv_publish_mediawiki(const struct gv_wiki *w, const struct gv_publication *p,
                                 enum gv_delivery *d, char *why, size_t n, char **link)
{
        struct mw m = { .w = w, .d = GV_DELIVER_LATER, .why = why, .n = n };
        struct page pg = { 0 };
        char revid[24] = "";
        char *text = NULL;
        enum gv_err r;
        int tries;

        if (link)
                *link = NULL;
        if (n)
                why[0] = '\0';
        if (!w || !p || !d || !w->mediawiki || !w->page || !p->marker || !p->text)
                return GV_EINVAL;
        if (!w->section || !*w->section) {
                *d = GV_DELIVER_NEVER;
                snprintf(why, n, "%s: no section to publish under", w->page);
                return GV_OK;
        }
        if (!w->user || !w->password) {
                *d = GV_DELIVER_NEVER;
                snprintf(why, n, "%s: no bot password (user and wiki-%d-password)", w->mediawiki,
                         w->index);
                return GV_OK;
        }
        r = gv_http_client_new(&m.c);
        if (r == GV_EHTTP) {
                *d = GV_DELIVER_LATER;
                snprintf(why, n, "libcurl cannot be loaded");
                return GV_OK;
        }
        if (r != GV_OK)
                return r;
        for (tries = 0; tries < MW_EDIT_TRIES; tries++) {
                bool again = false;

                if (!m.csrf || !m.csrf[0]) {
                        if ((r = login(&m)) != GV_OK || (r = tokens(&m)) != GV_OK)
                                goto out;
                }
                if ((r = read_page(&m, &pg)) != GV_OK)
                        goto out;
                free(text);
                text = NULL;
                r = gv_publish_insert(pg.text, true, w->section, p, &text);
                if (r == GV_EINVAL) {
                        r = verdict(&m, GV_DELIVER_NEVER, "\"%s\" cannot be a section heading "
                                    "(or the text lacks its marker)", w->section);
                        goto out;
                }
                if (r == GV_ETOOBIG) {
                        r = verdict(&m, GV_DELIVER_NEVER, "%s is too big to edit", w->page);
                        goto out;
                }
                if (r != GV_OK)
                        goto out;
                if (!text) {    /* the marker is on the page: published before */
                        gv_info("mediawiki", "%s: %s already there (revision %s)", w->page,
                                p->marker, pg.revid);
                        snprintf(revid, sizeof(revid), "%s", pg.revid);
                        break;
                }
                r = edit(&m, p, &pg, text, &again, revid, sizeof(revid));
                if (r != GV_OK)
                        goto out;
                if (!again) {
                        gv_info("mediawiki", "%s: published %s (revision %s)", w->page, p->marker,
                                revid);
                        break;
                }
        }
        if (tries == MW_EDIT_TRIES) {
                char last[GV_OUTBOX_WHY_MAX];

                snprintf(last, sizeof(last), "%s", n ? why : "");
                r = verdict(&m, GV_DELIVER_LATER, "%s: %d conflicting edits in a row, last %s",
                            w->page, MW_EDIT_TRIES, last);
                goto out;
        }
        m.d = GV_DELIVERED;
        if (n)
                why[0] = '\0';
        if (link && revid[0])
                r = section_link(&m, revid, p->marker, link);
out:
        if (r == GV_EHTTP) {
                *d = m.d;
                r = GV_OK;
        } else if (r == GV_OK) {
                *d = m.d;
        }
        page_free(&pg);
        if (m.csrf)
                explicit_bzero(m.csrf, strlen(m.csrf));
        free(m.csrf);
        free(m.server);
        free(m.articlepath);
        free(text);
        gv_http_client_free(m.c);
        return r;
}
