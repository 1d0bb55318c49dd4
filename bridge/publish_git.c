/* bridge/publish_git.c - gv_publish_git(): a meeting's section on a page of a
 * git-backed wiki (GitHub, GitLab, Gitea wikis), with libgit2, never a
 * shelled-out git. Knows git; knows nothing about Matrix or the store.
 *
 * The local clone in w->workdir is bare and only a cache: every attempt
 * fetches the remote branch and builds gavel's commit on the fetched tip, so
 * a person's edit is never overwritten and a commit left unpushed by a crash
 * is simply replaced (the marker on the remote tip says whether the meeting
 * is already there). Nothing is ever force-pushed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/repository.h>      /* git_repository_set_config */
#include <libssh2.h>                    /* types only: loaded with libgit2 */

#include "../util/buf.h"
#include "../util/log.h"
#include "publish.h"
#include "publish_internal.h"

#define GIT_MAX_PAGE ((size_t)16 << 20)    /* the page blob gavel will edit */
#define GIT_MAX_PATH 1024                   /* w->page */
#define GIT_MAX_BRANCH 200

/* libgit2 is opened when a git wiki is configured (main.c asks at start, so
 * a missing library is a config error) or at the first publish, and
 * initialised at the first publish (git_init below); it is not linked:
 * a bot without a git wiki never maps it, nor mbedTLS, libssh2, OpenSSL's
 * libcrypto, Kerberos, http-parser and PCRE2 that come with it. git2.h still
 * gives the types: each pointer has the type of the function's own
 * prototype (__typeof__), so the list is names only (without "git_") and
 * cannot disagree with the header; a git_ call not in the list does not
 * link. GV_LIBGIT2_SONAME and GV_LIBGIT2_PACKAGE come from meson.build (the
 * SONAME of the libgit2 pkg-config found: libgit2's ABI changes with every
 * minor version, so the name is libgit2.so.MAJOR.MINOR). */
#ifndef GV_LIBGIT2_SONAME
#define GV_LIBGIT2_SONAME "libgit2.so.1.5"
#endif
#ifndef GV_LIBGIT2_PACKAGE
#define GV_LIBGIT2_PACKAGE "libgit2-1.5"
#endif
#define GIT_FUNCS(X) \
        X(blob_create_from_buffer) \
        X(blob_free) \
        X(blob_lookup) \
        X(blob_rawcontent) \
        X(blob_rawsize) \
        X(commit_create) \
        X(commit_free) \
        X(commit_id) \
        X(commit_lookup) \
        X(commit_tree) \
        X(commit_tree_id) \
        X(config_free) \
        X(config_new) \
        X(credential_ssh_key_new) \
        X(credential_username_new) \
        X(credential_userpass_plaintext_new) \
        X(error_last) \
        X(error_set_str) \
        X(fetch_options_init) \
        X(libgit2_init) \
        X(libgit2_opts) \
        X(odb_exists) \
        X(odb_free) \
        X(odb_object_data) \
        X(odb_object_free) \
        X(odb_object_size) \
        X(odb_read) \
        X(odb_write) \
        X(push_options_init) \
        X(reference_create) \
        X(reference_create_matching) \
        X(reference_delete) \
        X(reference_free) \
        X(reference_lookup) \
        X(reference_name_is_valid) \
        X(reference_name_to_id) \
        X(remote_create_anonymous) \
        X(remote_fetch) \
        X(remote_free) \
        X(remote_push) \
        X(repository_free) \
        X(repository_init_ext) \
        X(repository_init_options_init) \
        X(repository_is_bare) \
        X(repository_odb) \
        X(repository_open_ext) \
        X(repository_set_config) \
        X(signature_free) \
        X(signature_now) \
        X(tree_create_updated) \
        X(tree_entry_byindex) \
        X(tree_entry_bypath) \
        X(tree_entry_filemode) \
        X(tree_entry_free) \
        X(tree_entry_id) \
        X(tree_entry_type) \
        X(tree_entrycount) \
        X(tree_free) \
        X(tree_lookup) \
        X(treebuilder_free) \
        X(treebuilder_new) \
        X(treebuilder_write)

static struct {
        void *lib;
#define X(f) __typeof__(&git_##f) f;
        GIT_FUNCS(X)
#undef X
} git;

static pthread_once_t git_load_once = PTHREAD_ONCE_INIT, git_init_once = PTHREAD_ONCE_INIT;
static char git_load_err[400];  /* why libgit2 is not there */
static char git_init_err[400];  /* why it would not initialise; "" when it did */

/* Opens libgit2 and resolves GIT_FUNCS, once per process, whichever thread
 * asks first (main at start, or a publisher's worker). */
static void git_load(void)
{
        static const struct {
                const char *name;
                size_t off;
        } syms[] = {
#define X(f) { "git_" #f, offsetof(__typeof__(git), f) },
                GIT_FUNCS(X)
#undef X
        };
        /* GAVEL_TEST_LIBGIT2: tests only (tests/meson.build), the file name
         * to load instead, e.g. one that is not there. */
        const char *name = getenv("GAVEL_TEST_LIBGIT2");
        __typeof__(git) t;
        void *lib;

        if (!name || !*name)
                name = GV_LIBGIT2_SONAME;
        lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
                snprintf(git_load_err, sizeof(git_load_err), "cannot load %s (is the package "
                         "%s installed?): %s", name, GV_LIBGIT2_PACKAGE, dlerror());
                return;
        }
        memset(&t, 0, sizeof(t));
        for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
                void *f = dlsym(lib, syms[i].name);

                if (!f) {
                        snprintf(git_load_err, sizeof(git_load_err), "%s has no %s: not the "
                                 "libgit2 gavel was built with (%s)", name, syms[i].name,
                                 GV_LIBGIT2_SONAME);
                        dlclose(lib);
                        return;
                }
                memcpy((char *)&t + syms[i].off, &f, sizeof(f));
        }
        t.lib = lib;
        git = t;
}

/* git_libgit2_init() at the first publish, not at load: it sets up
 * libssh2 (and so OpenSSL's libcrypto) and mbedTLS with the system's CA
 * certificates, 3 MiB of RSS a bot that has not published yet need not pay. */
static void git_init(void)
{
        int rc = git.libgit2_init();

        if (rc < 0) {
                const git_error *e = git.error_last();

                snprintf(git_init_err, sizeof(git_init_err), "libgit2 would not initialise: %s",
                         e && e->message ? e->message : "unknown libgit2 error");
                return;
        }
        (void)git.libgit2_opts(GIT_OPT_SET_USER_AGENT, "gavel/" GAVEL_VERSION);
}

enum gv_err gv_publish_git_load(char *err, size_t n)
{
        if (pthread_once(&git_load_once, git_load) != 0)
                return gv_errf(err, n, GV_EIO, "cannot load %s: pthread_once failed",
                               GV_LIBGIT2_SONAME);
        if (!git.lib)
                return gv_errf(err, n, GV_EIO, "%s", git_load_err);
        return GV_OK;
}

/* Loaded and initialised; NULL, else why not. */
static const char *git_ready(void)
{
        if (gv_publish_git_load(NULL, 0) != GV_OK)
                return git_load_err;
        if (pthread_once(&git_init_once, git_init) != 0)
                return "libgit2 would not initialise: pthread_once failed";
        return git_init_err[0] ? git_init_err : NULL;
}

struct attempt {
        const struct gv_wiki *w;
        git_repository *repo;
        git_remote *remote;
        char tracking[GIT_MAX_BRANCH + 32];     /* refs/remotes/origin/<branch> */
        char local[GIT_MAX_BRANCH + 16];        /* refs/heads/<branch> */
        unsigned creds;                         /* credential callback calls */
        char rejected[256];                     /* the remote's refusal of a pushed ref */
        enum gv_delivery *d;
        char *why;
        size_t n;
};

/* why := the message, with the token and any URL user info blanked. */
__attribute__((format(printf, 2, 3)))
static void say(struct attempt *a, const char *fmt, ...)
{
        va_list ap;
        char *p;

        if (!a->n)
                return;
        va_start(ap, fmt);
        vsnprintf(a->why, a->n, fmt, ap);
        va_end(ap);
        if (a->w->token && strlen(a->w->token) >= 4)
                while ((p = strstr(a->why, a->w->token)))
                        memset(p, '*', strlen(a->w->token));
        /* the user info of any URL (user:secret before an @) becomes stars */
        for (p = a->why; (p = strstr(p, "://")); ) {
                char *s = p + 3, *e = s;
                while (*e && *e != '@' && *e != '/' && *e != ' ' && *e != '\'')
                        e++;
                if (*e == '@' && e > s) {
                        memset(s, '*', (size_t)(e - s));
                }
                p = s;
        }
}

static const char *git_msg(void)
{
        const git_error *e = git.error_last();

        return e && e->message ? e->message : "unknown libgit2 error";
}

static bool local_url(const char *url)
{
        return strncmp(url, "file://", 7) == 0 || url[0] == '/' || url[0] == '.';
}

/* A failed fetch or push: GIT_EAUTH, a refused certificate, a repository the
 * server says is not there are for good; the rest (no network, a 5xx, a
 * local path that is not there right now) is for later. */
static void classify(struct attempt *a, int rc, const char *what)
{
        const char *m = git_msg();
        bool never = rc == GIT_EAUTH || rc == GIT_ECERTIFICATE;

        if (!never && !local_url(a->w->git))
                never = strstr(m, "status code: 404") || strstr(m, "status code: 401") ||
                        strstr(m, "status code: 403") || strcasestr(m, "repository not found") ||
                        strcasestr(m, "not appear to be a git repository") ||
                        strcasestr(m, "authentication required");
        *a->d = never ? GV_DELIVER_NEVER : GV_DELIVER_LATER;
        say(a, "git %s %s: %s", what, a->w->git, m);
}

/* http://127.0.0.1, http://localhost, http://[::1] (any port): a token may
 * go there in clear text; to no other http:// host. */
static bool plain_http_remote(const char *url)
{
        static const char *const loop[] = { "127.0.0.1", "localhost", "[::1]" };
        const char *host, *end;

        if (strncasecmp(url, "http://", 7) != 0)
                return false;
        host = url + 7;
        end = host + strcspn(host, "/?#");
        for (const char *at = host; at < end; at++)
                if (*at == '@')
                        host = at + 1;
        for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
                size_t k = strlen(loop[i]);
                if ((size_t)(end - host) >= k && strncasecmp(host, loop[i], k) == 0 &&
                    (host + k == end || host[k] == ':'))
                        return false;
        }
        return true;
}

static int cred_cb(git_credential **out, const char *url, const char *user, unsigned int allowed,
                   void *payload)
{
        struct attempt *a = payload;

        /* ssh asks for the user name first, when the URL has none */
        if (allowed == GIT_CREDENTIAL_USERNAME)
                return git.credential_username_new(out, user ? user : "git");
        /* the same credentials again would fail again */
        if (a->creds++ > 0) {
                git.error_set_str(GIT_ERROR_NET, "authentication failed");
                return GIT_EAUTH;
        }
        if ((allowed & GIT_CREDENTIAL_SSH_KEY) && a->w->ssh_key)
                return git.credential_ssh_key_new(out, user ? user : "git", NULL, a->w->ssh_key,
                                                  NULL);
        if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && a->w->token &&
            plain_http_remote(url ? url : a->w->git)) {
                git.error_set_str(GIT_ERROR_NET, "the token is not sent over plain http; "
                                                 "use an https:// URL");
                return GIT_EAUTH;
        }
        if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && a->w->token)
                return git.credential_userpass_plaintext_new(out, user ? user : "x-access-token",
                                                             a->w->token);
        git.error_set_str(GIT_ERROR_NET, "authentication required, and no token or ssh key "
                                         "is configured for this wiki");
        return GIT_EAUTH;
}

/* ---- ssh host keys ----
 *
 * An ssh server's host key decides whether the wiki's pages go to it: a
 * server that is not the wiki's could read every page pushed. libgit2 before
 * 1.5.1 checked none (CVE-2023-22742); 1.5.1 checks ~/.ssh/known_hosts only,
 * with an error that says neither which host nor what to do. This callback
 * decides instead: the wiki's known_hosts_file (or credential), else
 * ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts, read with libssh2's own
 * reader (hashed entries and [host]:port ones too), and a reason naming the
 * host, the file and the fix. libssh2 is libgit2's, already loaded with it,
 * so its few functions are found with dlsym like libgit2's. */
#define SSH2_FUNCS(X) \
        X(session_init_ex) \
        X(session_free) \
        X(knownhost_init) \
        X(knownhost_readfile) \
        X(knownhost_checkp) \
        X(knownhost_free)

static struct {
        void *lib;
#define X(f) __typeof__(&libssh2_##f) f;
        SSH2_FUNCS(X)
#undef X
} ssh2;

static pthread_once_t ssh2_once = PTHREAD_ONCE_INIT;

/* libssh2's functions through libgit2's handle (dlsym searches a library's
 * dependencies too): no dlopen of a library already mapped as a dependency,
 * which costs glibc an allocation it never frees. */
static void ssh2_load(void)
{
        __typeof__(ssh2) t;

        (void)pthread_once(&git_load_once, git_load);
        if (!git.lib)
                return;
        memset(&t, 0, sizeof(t));
        t.lib = git.lib;
#define X(f) if (!(*(void **)&t.f = dlsym(t.lib, "libssh2_" #f))) return;
        SSH2_FUNCS(X)
#undef X
        ssh2 = t;
}

static int ssh2_key_type(int raw_type)
{
        switch (raw_type) {
        case GIT_CERT_SSH_RAW_TYPE_RSA:
                return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
        case GIT_CERT_SSH_RAW_TYPE_DSS:
                return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256:
                return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384:
                return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521:
                return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
        case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519:
                return LIBSSH2_KNOWNHOST_KEY_ED25519;
        default:
                return -1;
        }
}

int gv_publish_git_hostkey(const struct gv_wiki *w, const char *host, int port, int raw_type,
                           const unsigned char *key, size_t len, char *why, size_t n)
{
        char home[4096] = "", files[4200] = "";
        const char *paths[2] = { w->known_hosts, NULL };
        const char *home_dir = getenv("HOME");
        LIBSSH2_SESSION *ss = NULL;
        LIBSSH2_KNOWNHOSTS *kh = NULL;
        struct libssh2_knownhost *found = NULL;
        int type = ssh2_key_type(raw_type), rc = GIT_ECERTIFICATE, nread = 0, check;

        if (!w->known_hosts) {
                if (home_dir && *home_dir)
                        snprintf(home, sizeof(home), "%s/.ssh/known_hosts", home_dir);
                paths[0] = home[0] ? home : NULL;
                paths[1] = "/etc/ssh/ssh_known_hosts";
        }
        (void)pthread_once(&ssh2_once, ssh2_load);
        if (!ssh2.lib) {
                snprintf(why, n, "cannot check the ssh host key of %s: %s", host,
                         git_load_err[0] ? git_load_err : "libgit2 has no libssh2");
                return rc;
        }
        if (type < 0) {
                snprintf(why, n, "cannot check the ssh host key of %s: a key type libssh2 does "
                                 "not know (%d)", host, raw_type);
                return rc;
        }
        if (!(ss = ssh2.session_init_ex(NULL, NULL, NULL, NULL)) ||
            !(kh = ssh2.knownhost_init(ss))) {
                snprintf(why, n, "cannot check the ssh host key of %s: out of memory", host);
                goto out;
        }
        for (size_t i = 0; i < 2; i++) {
                if (!paths[i])
                        continue;
                snprintf(files + strlen(files), sizeof(files) - strlen(files), "%s%s",
                         files[0] ? " or " : "", paths[i]);
                if (access(paths[i], R_OK) == 0 &&
                    ssh2.knownhost_readfile(kh, paths[i], LIBSSH2_KNOWNHOST_FILE_OPENSSH) >= 0)
                        nread++;
                else if (w->known_hosts)
                        snprintf(why, n, "cannot read the known hosts file %s", paths[i]);
        }
        if (!nread) {
                if (!w->known_hosts)
                        snprintf(why, n, "the ssh host key of %s cannot be checked: no known "
                                         "hosts file (%s); add the key with ssh-keyscan, or set "
                                         "known_hosts_file", host, files);
                goto out;
        }
        check = ssh2.knownhost_checkp(kh, host, port == 22 ? -1 : port, (const char *)key, len,
                                      LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                              LIBSSH2_KNOWNHOST_KEYENC_RAW | type,
                                      &found);
        if (check == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
                rc = 0;
        } else if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
                snprintf(why, n, "the ssh host key of %s is not the one in %s: refused (the "
                                 "server's key changed, or someone is in the middle)", host, files);
        } else if (check == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND) {
                char p_opt[16] = "";

                if (port != 22)
                        snprintf(p_opt, sizeof(p_opt), " -p %d", port);
                snprintf(why, n, "the ssh host key of %s is not in %s: add it, after checking it "
                                 "(ssh-keyscan%s %s >> the file)", host, files, p_opt, host);
        } else {
                snprintf(why, n, "cannot check the ssh host key of %s against %s", host, files);
        }
out:
        if (kh)
                ssh2.knownhost_free(kh);
        if (ss)
                ssh2.session_free(ss);
        return rc;
}

/* The port of an ssh remote URL: ssh://[user@]host[:port]/path (also
 * ssh+git://, git+ssh://) or 22 (user@host:path has none). */
static int ssh_port(const char *url)
{
        const char *p = strstr(url, "://"), *end;

        if (!p)
                return 22;
        p += 3;
        end = p + strcspn(p, "/");
        for (const char *at = p; at < end; at++)
                if (*at == '@')
                        p = at + 1;
        if (*p == '[') {                /* [::1]:2222 */
                const char *close = memchr(p, ']', (size_t)(end - p));

                p = close ? close : end;
        }
        p = memchr(p, ':', (size_t)(end - p));
        if (p && p + 1 < end) {
                long v = strtol(p + 1, NULL, 10);

                if (v > 0 && v < 65536)
                        return (int)v;
        }
        return 22;
}

static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
        struct attempt *a = payload;
        const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
        char why[600] = "";
        int rc;

        (void)valid;
        if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
                return GIT_PASSTHROUGH;         /* TLS: libgit2's own checks */
        if (!(hk->type & GIT_CERT_SSH_RAW)) {
                git.error_set_str(GIT_ERROR_SSH, "the ssh host key cannot be checked "
                                                 "(libgit2 gave no raw key)");
                return GIT_ECERTIFICATE;
        }
        rc = gv_publish_git_hostkey(a->w, host, ssh_port(a->w->git), (int)hk->raw_type,
                                    (const unsigned char *)hk->hostkey, hk->hostkey_len, why,
                                    sizeof(why));
        if (rc)
                git.error_set_str(GIT_ERROR_SSH, why);
        return rc;
}

static int push_status_cb(const char *ref, const char *status, void *payload)
{
        struct attempt *a = payload;

        if (status)
                snprintf(a->rejected, sizeof(a->rejected), "%s: %s", ref, status);
        return 0;
}

static void callbacks(struct attempt *a, git_remote_callbacks *cb)
{
        cb->credentials = cred_cb;
        cb->certificate_check = cert_cb;
        cb->push_update_reference = push_status_cb;
        cb->payload = a;
}

/* The bare cache clone and a remote at w->git. */
static enum gv_err open_repo(struct attempt *a)
{
        const struct gv_wiki *w = a->w;
        git_repository_init_options io;
        git_config *cfg = NULL;
        int rc;

        rc = git.repository_open_ext(&a->repo, w->workdir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
        if (rc == GIT_ENOTFOUND) {
                git.repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
                io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
                rc = git.repository_init_ext(&a->repo, w->workdir, &io);
        }
        if (rc < 0) {
                *a->d = GV_DELIVER_LATER;
                say(a, "git work directory %s: %s", w->workdir, git_msg());
                return GV_EIO;
        }
        /* No configuration at all: the user's ~/.gitconfig does not rewrite
         * URLs behind gavel's back, and libgit2 1.5 leaks a PCRE2 match block
         * per configuration entry its insteadOf scan does not match. The
         * remote is anonymous; the refspecs are always explicit. */
        rc = git.config_new(&cfg);
        if (rc == 0)
                rc = git.repository_set_config(a->repo, cfg);
        git.config_free(cfg);
        if (rc == 0)
                rc = git.remote_create_anonymous(&a->remote, a->repo, w->git);
        if (rc < 0) {
                *a->d = GV_DELIVER_NEVER;
                say(a, "git remote %s: %s", w->git, git_msg());
                return GV_EIO;
        }
        return GV_OK;
}

/* Fetches the branch; *tip = its commit, NULL when the remote has none yet. */
static enum gv_err fetch(struct attempt *a, git_commit **tip)
{
        git_fetch_options fo;
        char spec[2 * GIT_MAX_BRANCH + 64];
        char *specs[] = { spec };
        git_strarray refspecs = { specs, 1 };
        git_reference *old = NULL;
        git_oid id;
        int rc;

        *tip = NULL;
        /* What the remote had last time is no answer: a wiki wiped and made
         * again must not look published. Only what this fetch brings counts. */
        if (git.reference_lookup(&old, a->repo, a->tracking) == 0) {
                rc = git.reference_delete(old);
                git.reference_free(old);
                if (rc < 0) {
                        *a->d = GV_DELIVER_LATER;
                        say(a, "git %s: %s", a->w->workdir, git_msg());
                        return GV_EIO;
                }
        }
        snprintf(spec, sizeof(spec), "+%s:%s", a->local, a->tracking);
        git.fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
        callbacks(a, &fo.callbacks);
        fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
        a->creds = 0;
        rc = git.remote_fetch(a->remote, &refspecs, &fo, "gavel: fetch");
        if (rc < 0) {
                classify(a, rc, "fetch from");
                return GV_EIO;
        }
        rc = git.reference_name_to_id(&id, a->repo, a->tracking);
        if (rc == GIT_ENOTFOUND)
                return GV_OK;   /* a new wiki: no such branch yet */
        if (rc == 0)
                rc = git.commit_lookup(tip, a->repo, &id);
        if (rc < 0) {
                *a->d = GV_DELIVER_LATER;
                say(a, "git fetch %s: %s: %s", a->w->git, a->tracking, git_msg());
                return GV_EIO;
        }
        return GV_OK;
}

/* The page's text at tip (malloc'd; "" when the page or tip is missing) and
 * its file mode. */
static enum gv_err read_page(struct attempt *a, git_commit *tip, char **text,
                             git_filemode_t *mode)
{
        git_tree *tree = NULL;
        git_tree_entry *e = NULL;
        git_blob *blob = NULL;
        enum gv_err r = GV_EIO;
        int rc;

        *mode = GIT_FILEMODE_BLOB;
        *text = NULL;
        if (tip) {
                rc = git.commit_tree(&tree, tip);
                if (rc == 0)
                        rc = git.tree_entry_bypath(&e, tree, a->w->page);
                if (rc == GIT_ENOTFOUND) {
                        rc = 0;
                } else if (rc == 0) {
                        *mode = git.tree_entry_filemode(e);
                        if (*mode != GIT_FILEMODE_BLOB && *mode != GIT_FILEMODE_BLOB_EXECUTABLE) {
                                *a->d = GV_DELIVER_NEVER;
                                say(a, "git %s: %s is not a file in the repository", a->w->git,
                                    a->w->page);
                                goto out;
                        }
                        rc = git.blob_lookup(&blob, a->repo, git.tree_entry_id(e));
                }
                if (rc < 0) {
                        *a->d = GV_DELIVER_LATER;
                        say(a, "git %s: reading %s: %s", a->w->git, a->w->page, git_msg());
                        goto out;
                }
        }
        if (blob) {
                git_object_size_t size = git.blob_rawsize(blob);
                const void *raw = git.blob_rawcontent(blob);
                if (size > GIT_MAX_PAGE) {
                        *a->d = GV_DELIVER_NEVER;
                        say(a, "git %s: %s is over %zu bytes", a->w->git, a->w->page,
                            GIT_MAX_PAGE);
                        goto out;
                }
                if (memchr(raw, '\0', (size_t)size)) {
                        *a->d = GV_DELIVER_NEVER;
                        say(a, "git %s: %s is not a text file", a->w->git, a->w->page);
                        goto out;
                }
                *text = strndup(raw, (size_t)size);
        } else {
                *text = strdup("");
        }
        r = *text ? GV_OK : GV_ENOMEM;
out:
        git.blob_free(blob);
        git.tree_entry_free(e);
        git.tree_free(tree);
        return r;
}

/* gavel's commit of text as the page on top of tip (a root commit when the
 * branch is new); refs/heads/<branch> points at it. */
static enum gv_err commit_page(struct attempt *a, git_commit *tip, const char *text,
                               git_filemode_t mode, const struct gv_publication *p)
{
        git_tree *base = NULL, *tree = NULL;
        git_treebuilder *tb = NULL;
        git_signature *sig = NULL;
        git_reference *ref = NULL;
        git_oid blob_id, tree_id, commit_id;
        git_tree_update up;
        struct gv_buf msg = GV_BUF_INIT(4096);
        const git_commit *parents[1] = { tip };
        enum gv_err r = GV_EIO;
        int rc;

        if (gv_buf_adds(&msg, p->summary && *p->summary ? p->summary : p->marker) != GV_OK ||
            gv_buf_addc(&msg, '\n') != GV_OK) {
                r = GV_ENOMEM;
                goto out;
        }
        rc = git.signature_now(&sig, p->author && *p->author ? p->author : "gavel",
                               p->email && *p->email ? p->email : "gavel@localhost");
        if (rc < 0) {
                *a->d = GV_DELIVER_NEVER;
                say(a, "git commit author: %s", git_msg());
                goto out;
        }
        rc = git.blob_create_from_buffer(&blob_id, a->repo, text, strlen(text));
        if (rc == 0) {
                if (tip) {
                        rc = git.commit_tree(&base, tip);
                } else {
                        rc = git.treebuilder_new(&tb, a->repo, NULL);
                        if (rc == 0)
                                rc = git.treebuilder_write(&tree_id, tb);
                        if (rc == 0)
                                rc = git.tree_lookup(&base, a->repo, &tree_id);
                }
        }
        if (rc == 0) {
                up.action = GIT_TREE_UPDATE_UPSERT;
                up.id = blob_id;
                up.filemode = mode;
                up.path = a->w->page;
                rc = git.tree_create_updated(&tree_id, a->repo, base, 1, &up);
        }
        if (rc == 0)
                rc = git.tree_lookup(&tree, a->repo, &tree_id);
        if (rc == 0)
                rc = git.commit_create(&commit_id, a->repo, NULL, sig, sig, NULL, msg.p, tree,
                                       tip ? 1 : 0, parents);
        if (rc == 0)
                rc = git.reference_create(&ref, a->repo, a->local, &commit_id, 1,
                                          "gavel: publish");
        if (rc < 0) {
                *a->d = GV_DELIVER_LATER;
                say(a, "git commit in %s: %s", a->w->workdir, git_msg());
                goto out;
        }
        r = GV_OK;
out:
        git.reference_free(ref);
        git.tree_free(tree);
        git.tree_free(base);
        git.treebuilder_free(tb);
        git.signature_free(sig);
        gv_buf_free(&msg);
        return r;
}

/* Copies the objects of tree id that dst lacks (a tree dst has is complete). */
static int copy_tree(git_odb *src, git_odb *dst, git_repository *repo, const git_oid *id)
{
        git_odb_object *o = NULL;
        git_tree *tree = NULL;
        git_oid written;
        int rc;

        if (git.odb_exists(dst, id))
                return 0;
        rc = git.tree_lookup(&tree, repo, id);
        for (size_t i = 0; rc == 0 && i < git.tree_entrycount(tree); i++) {
                const git_tree_entry *e = git.tree_entry_byindex(tree, i);
                const git_oid *eid = git.tree_entry_id(e);

                if (git.tree_entry_type(e) == GIT_OBJECT_TREE) {
                        rc = copy_tree(src, dst, repo, eid);
                } else if (git.tree_entry_type(e) == GIT_OBJECT_BLOB && !git.odb_exists(dst, eid)) {
                        rc = git.odb_read(&o, src, eid);
                        if (rc == 0)
                                rc = git.odb_write(&written, dst, git.odb_object_data(o),
                                                   git.odb_object_size(o), GIT_OBJECT_BLOB);
                        git.odb_object_free(o);
                        o = NULL;
                }
        }
        if (rc == 0)
                rc = git.odb_read(&o, src, id);
        if (rc == 0)
                rc = git.odb_write(&written, dst, git.odb_object_data(o), git.odb_object_size(o),
                                   GIT_OBJECT_TREE);
        git.odb_object_free(o);
        git.tree_free(tree);
        return rc;
}

/* A push to a repository on this machine. libgit2's own local transport
 * (1.5) checks fast-forward when it connects and then overwrites the ref,
 * so a push landing in between would be lost; here the objects are copied
 * and the branch moves only if it is still at tip (under the ref's lock, the
 * lock git itself takes). 1: pushed; 0: the branch moved; <0: failed. */
static int push_local(struct attempt *a, const git_commit *tip)
{
        const char *url = a->w->git;
        const char *path = strncmp(url, "file://", 7) == 0 ? url + 7 : url;
        git_repository *remote = NULL;
        git_odb *src = NULL, *dst = NULL;
        git_odb_object *o = NULL;
        git_commit *mine = NULL;
        git_reference *ref = NULL;
        git_oid id, written;
        int rc, ret = -1;

        rc = git.repository_open_ext(&remote, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
        if (rc < 0) {
                classify(a, rc, "push to");
                goto out;
        }
        if (!git.repository_is_bare(remote)) {
                *a->d = GV_DELIVER_NEVER;
                say(a, "git push to %s: not a bare repository", url);
                goto out;
        }
        rc = git.reference_name_to_id(&id, a->repo, a->local);
        if (rc == 0)
                rc = git.commit_lookup(&mine, a->repo, &id);
        if (rc == 0)
                rc = git.repository_odb(&src, a->repo);
        if (rc == 0)
                rc = git.repository_odb(&dst, remote);
        if (rc == 0)
                rc = copy_tree(src, dst, a->repo, git.commit_tree_id(mine));
        if (rc == 0 && !git.odb_exists(dst, &id)) {
                rc = git.odb_read(&o, src, &id);
                if (rc == 0)
                        rc = git.odb_write(&written, dst, git.odb_object_data(o),
                                           git.odb_object_size(o), GIT_OBJECT_COMMIT);
        }
        /* Compare-and-swap under the ref's lock: from the fetched tip, or
         * from nothing (a zero id: the branch must not exist yet). A plain
         * create checks for an existing branch before taking the lock, so
         * two first publishes could both "create" it and one be lost. */
        if (rc == 0) {
                git_oid none;

                memset(&none, 0, sizeof(none));
                rc = git.reference_create_matching(&ref, remote, a->local, &id, 1,
                                                   tip ? git.commit_id(tip) : &none,
                                                   "gavel: publish");
        }
        if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || rc == GIT_ELOCKED) {
                say(a, "git push to %s: %s", url, git_msg());
                ret = 0;
        } else if (rc < 0) {
                *a->d = GV_DELIVER_LATER;
                say(a, "git push to %s: %s", url, git_msg());
        } else {
                ret = 1;
        }
out:
        git.reference_free(ref);
        git.odb_object_free(o);
        git.commit_free(mine);
        git.odb_free(dst);
        git.odb_free(src);
        git.repository_free(remote);
        return ret;
}

/* 1: pushed; 0: rejected, someone pushed first; <0: failed (d and why set). */
static int push(struct attempt *a, const git_commit *tip)
{
        git_push_options po;
        char spec[2 * GIT_MAX_BRANCH + 64];
        char *specs[] = { spec };
        git_strarray refspecs = { specs, 1 };
        int rc;

        if (local_url(a->w->git))
                return push_local(a, tip);
        snprintf(spec, sizeof(spec), "%s:%s", a->local, a->local);   /* never "+" */
        git.push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
        callbacks(a, &po.callbacks);
        a->creds = 0;
        a->rejected[0] = '\0';
        rc = git.remote_push(a->remote, &refspecs, &po);
        if (rc == GIT_ENONFASTFORWARD) {
                say(a, "git push to %s: %s", a->w->git, git_msg());
                return 0;
        }
        if (rc < 0) {
                classify(a, rc, "push to");
                return -1;
        }
        if (a->rejected[0]) {
                say(a, "git push to %s refused: %s", a->w->git, a->rejected);
                if (strstr(a->rejected, "fast-forward") || strstr(a->rejected, "fetch first") ||
                    strstr(a->rejected, "stale") || strstr(a->rejected, "lock"))
                        return 0;
                *a->d = GV_DELIVER_LATER;
                return -1;
        }
        return 1;
}

/* The page inside the repository: relative, no "." or ".." or ".git" parts. */
static bool page_path_ok(const char *page)
{
        size_t len = strlen(page);

        if (len == 0 || len > GIT_MAX_PATH || page[0] == '/' || page[len - 1] == '/')
                return false;
        for (const char *s = page; *s; ) {
                size_t k = strcspn(s, "/");
                if (k == 0 || (k == 1 && s[0] == '.') || (k == 2 && strncmp(s, "..", 2) == 0) ||
                    (k == 4 && strncasecmp(s, ".git", 4) == 0))
                        return false;
                for (size_t i = 0; i < k; i++)
                        if ((unsigned char)s[i] < 0x20 || s[i] == '\\')
                                return false;
                s += k;
                if (*s == '/')
                        s++;
        }
        return true;
}

/* GitHub and GitLab show wiki pages at known URLs; others: none. */
static char *page_link(const struct gv_wiki *w)
{
        static const struct { const char *host, *wiki; } hosts[] = {
                { "https://github.com/", "/wiki/" },
                { "https://gitlab.com/", "/-/wikis/" },
        };
        const char *url = w->git;
        struct gv_buf b = GV_BUF_INIT(4096);
        char *out = NULL;

        for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
                size_t hl = strlen(hosts[i].host), ul = strlen(url);
                const char *dot = ul > 9 ? url + ul - 9 : NULL;
                const char *page = w->page;
                size_t pl = strlen(page);

                if (strncmp(url, hosts[i].host, hl) != 0 || !dot || strcmp(dot, ".wiki.git") != 0)
                        continue;
                if (pl > 3 && strcmp(page + pl - 3, ".md") == 0)
                        pl -= 3;
                if (gv_buf_add(&b, url, (size_t)(dot - url)) != GV_OK ||
                    gv_buf_adds(&b, hosts[i].wiki) != GV_OK)
                        break;
                for (size_t k = 0; k < pl; k++) {
                        unsigned char c = (unsigned char)page[k];
                        enum gv_err r = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                                (c >= '0' && c <= '9') || strchr("-._~/", c)
                                                ? gv_buf_addc(&b, (char)c)
                                                : gv_buf_printf(&b, "%%%02X", c);
                        if (r != GV_OK)
                                goto out;
                }
                if (gv_buf_steal(&b, &out) != GV_OK)
                        out = NULL;
                break;
        }
out:
        gv_buf_free(&b);
        return out;
}

/* Markup gavel cannot write: wikis render these pages as something other
 * than Markdown or MediaWiki text. */
static bool foreign_markup(const char *page)
{
        static const char *const ext[] = { ".rst", ".asciidoc", ".adoc", ".org", ".textile",
                                           ".creole", ".pod", ".rdoc" };
        const char *dot = strrchr(page, '.');

        for (size_t i = 0; dot && !strchr(dot, '/') && i < sizeof(ext) / sizeof(ext[0]); i++)
                if (strcasecmp(dot, ext[i]) == 0)
                        return true;
        return false;
}

static bool wikitext_page(const char *page)
{
        size_t n = strlen(page);

        return (n > 10 && strcmp(page + n - 10, ".mediawiki") == 0) ||
               (n > 5 && strcmp(page + n - 5, ".wiki") == 0);
}

enum gv_err gv_publish_git_hooked(const struct gv_wiki *w, const struct gv_publication *p,
                                  const struct gv_publish_git_hooks *h, enum gv_delivery *d,
                                  char *why, size_t n, char **link)
{
        struct attempt a = { .w = w, .d = d, .why = why, .n = n };
        const char *branch, *not_ready;
        git_commit *tip = NULL;
        char *page = NULL, *next = NULL;
        git_filemode_t mode;
        enum gv_err r = GV_EINVAL;
        int valid = 0;

        if (link)
                *link = NULL;
        if (!w || !p || !d || (n && !why) || !w->git || !w->workdir || !w->page || !w->section ||
            !p->marker || !*p->marker || !p->text)
                return GV_EINVAL;
        if (n)
                why[0] = '\0';
        *d = GV_DELIVER_LATER;
        if ((not_ready = git_ready())) {
                say(&a, "%s", not_ready);       /* d: later, once it is installed */
                return GV_OK;
        }
        branch = w->branch && *w->branch ? w->branch : "master";
        if (strlen(branch) > GIT_MAX_BRANCH)
                goto never_branch;
        snprintf(a.local, sizeof(a.local), "refs/heads/%s", branch);
        snprintf(a.tracking, sizeof(a.tracking), "refs/remotes/origin/%s", branch);
        if (git.reference_name_is_valid(&valid, a.local) < 0 || !valid) {
never_branch:
                *d = GV_DELIVER_NEVER;
                say(&a, "git %s: \"%.*s\" is not a branch name", w->git, GIT_MAX_BRANCH, branch);
                return GV_OK;
        }
        if (!page_path_ok(w->page)) {
                *d = GV_DELIVER_NEVER;
                say(&a, "git %s: \"%.*s\" is not a path inside the repository", w->git,
                    GIT_MAX_PATH, w->page);
                return GV_OK;
        }
        if (foreign_markup(w->page)) {
                *d = GV_DELIVER_NEVER;
                say(&a, "git %s: %s: gavel writes Markdown (.md) and MediaWiki (.mediawiki) "
                        "pages only", w->git, w->page);
                return GV_OK;
        }

        r = open_repo(&a);
        for (unsigned attempt = 0; r == GV_OK && attempt < GV_PUBLISH_GIT_TRIES; attempt++) {
                int pushed;

                git.commit_free(tip);
                tip = NULL;
                free(page);
                page = NULL;
                free(next);
                next = NULL;
                r = fetch(&a, &tip);
                if (r == GV_OK)
                        r = read_page(&a, tip, &page, &mode);
                if (r != GV_OK)
                        break;
                r = gv_publish_insert(page, wikitext_page(w->page), w->section, p, &next);
                if (r == GV_ENOMEM)
                        break;
                if (r != GV_OK) {
                        *d = GV_DELIVER_NEVER;
                        say(&a, "git %s: cannot place the notes on %s under \"%s\": %s", w->git,
                            w->page, w->section, gv_strerror(r));
                        r = GV_EIO;
                        break;
                }
                if (!next) {
                        /* already there (pushed before a crash, or a retry) */
                        git_reference *ref = NULL;
                        if (tip && git.reference_create(&ref, a.repo, a.local, git.commit_id(tip),
                                                        1, "gavel: already published") == 0)
                                git.reference_free(ref);
                        *d = GV_DELIVERED;
                        say(&a, "already on %s", w->page);
                        break;
                }
                r = commit_page(&a, tip, next, mode, p);
                if (r != GV_OK)
                        break;
                if (h && h->before_push && h->before_push(h->ud, attempt)) {
                        *d = GV_DELIVER_LATER;
                        say(&a, "stopped before the push");
                        r = GV_EIO;
                        break;
                }
                pushed = push(&a, tip);
                if (pushed < 0) {
                        r = GV_EIO;
                        break;
                }
                if (pushed > 0) {
                        *d = GV_DELIVERED;
                        say(&a, "published on %s", w->page);
                        gv_info("publish", "wiki %d: %s published on %s", w->index, p->marker,
                                w->page);
                        break;
                }
                gv_info("publish", "wiki %d: someone pushed first (attempt %u), re-applying",
                        w->index, attempt + 1);
                if (attempt + 1 == GV_PUBLISH_GIT_TRIES) {
                        *d = GV_DELIVER_LATER;
                        say(&a, "git %s: the branch kept moving, %d pushes refused", w->git,
                            GV_PUBLISH_GIT_TRIES);
                }
        }
        if (r == GV_EIO)
                r = GV_OK;      /* d and why say it */
        if (r == GV_OK && *d == GV_DELIVERED && link)
                *link = page_link(w);
        git.commit_free(tip);
        free(page);
        free(next);
        git.remote_free(a.remote);
        git.repository_free(a.repo);
        return r;
}

enum gv_err gv_publish_git(const struct gv_wiki *w, const struct gv_publication *p,
                           enum gv_delivery *d, char *why, size_t n, char **link)
{
        return gv_publish_git_hooked(w, p, NULL, d, why, n, link);
}
