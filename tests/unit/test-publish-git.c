/* tests/unit/test-publish-git.c - gv_publish_git() against local bare
 * repositories (file:// URLs) made, read and edited by the git command line,
 * which plays the people editing the wiki: first and later meetings, the same
 * meeting twice, a person's push before and during gavel's, a stop between
 * commit and push, a remote that is away and back, and the refusals (bad
 * page, bad branch, a server that says 401 or 404). git runs through
 * /usr/bin/env so valgrind does not follow it. Prints "N passed, M failed". */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>                       /* constants only: libgit2 is loaded, not linked */

#include "../../bridge/publish.h"
#include "../../bridge/publish_internal.h"
#include "check.h"

#define SEC "Recent Meeting Notes"
#define TOKEN "s3cr3t-t0ken-value"

static char tmp[256];

/* Runs git with the arguments (NULL-terminated) in dir; its stdout, up to
 * outn - 1 bytes, into out when not NULL. Returns the exit status, -1 on failure. */
static int git(const char *dir, char *out, size_t outn, ...)
{
        const char *argv[32] = { "/usr/bin/env", "git" };
        size_t argc = 2, got = 0;
        int fds[2], status;
        va_list ap;
        pid_t pid;

        va_start(ap, outn);
        while (argc < 31 && (argv[argc] = va_arg(ap, const char *)))
                argc++;
        va_end(ap);
        argv[argc] = NULL;
        if (pipe(fds) < 0)
                return -1;
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);

                dup2(out ? fds[1] : null, 1);
                dup2(null, 2);
                close(fds[0]);
                close(fds[1]);
                if (chdir(dir) < 0)
                        _exit(126);
                execv(argv[0], (char *const *)argv);
                _exit(127);
        }
        close(fds[1]);
        for (;;) {
                char junk[4096];
                char *to = out && got + 1 < outn ? out + got : junk;
                size_t room = out && got + 1 < outn ? outn - 1 - got : sizeof(junk);
                ssize_t k = read(fds[0], to, room);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (to != junk)
                        got += (size_t)k;
        }
        close(fds[0]);
        if (out)
                out[got] = '\0';
        if (waitpid(pid, &status, 0) < 0)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *path(const char *name)
{
        static char ring[8][512];
        static unsigned next;
        char *p = ring[next++ % 8];

        snprintf(p, sizeof(ring[0]), "%s/%s", tmp, name);
        return p;
}

static char *url(const char *name)
{
        static char ring[4][600];
        static unsigned next;
        char *p = ring[next++ % 4];

        snprintf(p, sizeof(ring[0]), "file://%s/%s", tmp, name);
        return p;
}

static void bare(const char *name)
{
        if (git(tmp, NULL, 0, "init", "-q", "--bare", "-b", "master", name, NULL) != 0)
                check(false, name, "%s", "git init --bare failed");
}

/* The page on the remote's master ("" if none) and its commit count. */
static const char *remote_page(const char *name, const char *page)
{
        static char buf[65536];
        char spec[512];

        snprintf(spec, sizeof(spec), "master:%s", page);
        if (git(path(name), buf, sizeof(buf), "show", spec, NULL) != 0)
                buf[0] = '\0';
        return buf;
}

static int commits(const char *name)
{
        char buf[64];

        if (git(path(name), buf, sizeof(buf), "rev-list", "--count", "master", NULL) != 0)
                return 0;
        return atoi(buf);
}

static unsigned count(const char *hay, const char *needle)
{
        unsigned k = 0;

        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                k++;
        return k;
}

/* A person's clone of the bare repository name pushes the page with "line"
 * inserted after the first line matching "after" (or at the top). */
static bool person_edit(const char *name, const char *page, const char *after, const char *line)
{
        char dir[600], file[700], buf[65536], *p;
        FILE *f;
        size_t at = 0;

        snprintf(dir, sizeof(dir), "%s/person-%s", tmp, name);
        if (access(dir, F_OK) != 0) {
                if (git(tmp, NULL, 0, "clone", "-q", url(name), dir, NULL) != 0)
                        return false;
        } else if (git(dir, NULL, 0, "pull", "-q", "--rebase", NULL) != 0) {
                return false;
        }
        snprintf(file, sizeof(file), "%s/%s", dir, page);
        if ((p = strrchr(file, '/')) && p > file + strlen(dir)) {
                *p = '\0';
                mkdir(file, 0777);      /* one level is enough here */
                *p = '/';
        }
        f = fopen(file, "r");
        size_t len = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
                fclose(f);
        buf[len] = '\0';
        if (after && (p = strstr(buf, after))) {
                char *nl = strchr(p, '\n');
                at = nl ? (size_t)(nl + 1 - buf) : len;
        }
        f = fopen(file, "w");
        if (!f)
                return false;
        fwrite(buf, 1, at, f);
        fputs(line, f);
        fputs("\n", f);
        fwrite(buf + at, 1, len - at, f);
        fclose(f);
        return git(dir, NULL, 0, "add", "-A", NULL) == 0 &&
               git(dir, NULL, 0, "commit", "-q", "-m", "a person's edit", NULL) == 0 &&
               git(dir, NULL, 0, "push", "-q", "origin", "master", NULL) == 0;
}

struct pub {
        enum gv_err r;
        enum gv_delivery d;
        char why[512];
};

static struct pub publish(const struct gv_wiki *w, int meeting,
                          const struct gv_publish_git_hooks *h)
{
        char marker[64], text[256], summary[64];
        struct gv_publication p = { .marker = marker, .text = text, .summary = summary,
                                    .author = "gavel", .email = "gavel@example.org" };
        struct pub o = { .r = GV_EINVAL, .d = GV_DELIVER_NEVER };
        char *link = (char *)"untouched";

        snprintf(marker, sizeof(marker), "<!-- gavel:meeting:%d -->", meeting);
        snprintf(summary, sizeof(summary), "Meeting %d notes", meeting);
        if (strstr(w->page, ".mediawiki"))
                snprintf(text, sizeof(text), "=== Meeting %d ===\n%s\n* item of %d\n", meeting,
                         marker, meeting);
        else
                snprintf(text, sizeof(text), "### Meeting %d\n%s\n- item of %d\n", meeting,
                         marker, meeting);
        o.r = gv_publish_git_hooked(w, &p, h, &o.d, o.why, sizeof(o.why), &link);
        if (link && strcmp(link, "untouched") != 0)
                free(link);
        return o;
}

static const char *dname(enum gv_delivery d)
{
        return d == GV_DELIVERED ? "DELIVERED" : d == GV_DELIVER_LATER ? "LATER" : "NEVER";
}

#define EXPECT(o, want, name)                                                                \
        check((o).r == GV_OK && (o).d == (want), name, "r %d, %s (%s), want %s", (int)(o).r, \
              dname((o).d), (o).why, dname(want))

static struct gv_wiki wiki(const char *name, const char *page)
{
        static char work[16][600];
        static unsigned next;
        char *wd = work[next++ % 16];

        snprintf(wd, sizeof(work[0]), "%s/state/%s.work", tmp, name);
        return (struct gv_wiki){ .index = 0, .git = url(name), .branch = NULL, .workdir = wd,
                                 .page = page, .section = SEC };
}

/* Hooks: a person pushes an edit of the lines right under the heading
 * before gavel's push; on the first attempt only, or on every one. */
struct race {
        const char *name, *page;
        unsigned every, stop, calls;
};

static int race_hook(void *ud, unsigned attempt)
{
        struct race *r = ud;
        char line[64];

        r->calls++;
        if (r->stop)
                return 1;
        if (r->every || attempt == 0) {
                snprintf(line, sizeof(line), "A person's note %u.", r->calls);
                if (!person_edit(r->name, r->page, "## " SEC, line))
                        check(false, "race hook", "%s", "the person's push failed");
        }
        return 0;
}

static void basics(void)
{
        struct gv_wiki w = wiki("basic", "Architecture-Call.md");
        struct pub o;
        const char *pg;
        char buf[256];

        bare("basic");
        o = publish(&w, 1, NULL);
        EXPECT(o, GV_DELIVERED, "first publish on an empty wiki");
        pg = remote_page("basic", w.page);
        check(strcmp(pg, "## " SEC "\n\n### Meeting 1\n<!-- gavel:meeting:1 -->\n- item of 1\n") ==
                      0,
              "first publish: page and section created", "page \"%s\"", show(pg));
        check(commits("basic") == 1, "first publish: one commit", "%d commits", commits("basic"));
        git(path("basic"), buf, sizeof(buf), "log", "-1", "--format=%an <%ae>|%cn|%s", NULL);
        check(strcmp(buf, "gavel <gavel@example.org>|gavel|Meeting 1 notes\n") == 0,
              "first publish: author and message", "log \"%s\"", show(buf));

        o = publish(&w, 2, NULL);
        EXPECT(o, GV_DELIVERED, "second meeting");
        pg = remote_page("basic", w.page);
        {
                const char *h = strstr(pg, "## " SEC), *a = strstr(pg, "meeting:2"),
                           *b = strstr(pg, "meeting:1");
                check(h && a && b && h < a && a < b && count(pg, SEC) == 1,
                      "second meeting goes on top", "page \"%s\"", show(pg));
        }
        check(commits("basic") == 2, "second meeting: two commits", "%d", commits("basic"));

        o = publish(&w, 2, NULL);
        EXPECT(o, GV_DELIVERED, "same meeting again");
        check(commits("basic") == 2, "same meeting again: no commit", "%d", commits("basic"));
        check(count(remote_page("basic", w.page), "meeting:2 ") == 1,
              "same meeting again: once on the page", "%s", "twice");

        /* a person's edit pushed before gavel's fetch */
        if (!person_edit("basic", w.page, NULL, "# Architecture call\nIntro by a person."))
                check(false, "person edit", "%s", "push failed");
        o = publish(&w, 3, NULL);
        EXPECT(o, GV_DELIVERED, "after a person's edit");
        pg = remote_page("basic", w.page);
        check(strncmp(pg, "# Architecture call\nIntro by a person.\n", 39) == 0 &&
                      count(pg, "meeting:") == 3 && strstr(pg, "meeting:3") < strstr(pg, "meeting:2"),
              "after a person's edit: both kept", "page \"%s\"", show(pg));
        check(commits("basic") == 4, "after a person's edit: on top of it", "%d",
              commits("basic"));

        /* a person edits the very lines under the heading while gavel pushes */
        {
                struct race r = { .name = "basic", .page = w.page };
                struct gv_publish_git_hooks h = { race_hook, &r };
                o = publish(&w, 4, &h);
                EXPECT(o, GV_DELIVERED, "concurrent edit of the same lines");
                pg = remote_page("basic", w.page);
                check(r.calls == 2 && strstr(pg, "A person's note 1.") &&
                              strstr(pg, "Intro by a person.") && count(pg, "meeting:4 ") == 1 &&
                              count(pg, "meeting:") == 4,
                      "concurrent edit: the person's line kept, gavel re-applied",
                      "%u hook calls, page \"%s\"", r.calls, show(pg));
                check(commits("basic") == 6, "concurrent edit: no commit lost", "%d",
                      commits("basic"));
        }

        /* the branch keeps moving: LATER after the tries, then delivered */
        {
                struct race r = { .name = "basic", .page = w.page, .every = 1 };
                struct gv_publish_git_hooks h = { race_hook, &r };
                o = publish(&w, 5, &h);
                EXPECT(o, GV_DELIVER_LATER, "a branch that keeps moving");
                check(r.calls == GV_PUBLISH_GIT_TRIES && !strstr(remote_page("basic", w.page),
                                                                  "meeting:5 "),
                      "keeps moving: tried, nothing of gavel's pushed", "%u calls", r.calls);
                o = publish(&w, 5, NULL);
                EXPECT(o, GV_DELIVERED, "keeps moving, then still");
                pg = remote_page("basic", w.page);
                check(count(pg, "meeting:5 ") == 1 && count(pg, "A person's note") == 5,
                      "keeps moving: every person's line kept", "page \"%s\"", show(pg));
        }

        /* a stop (crash) between commit and push: once on the remote */
        {
                struct race r = { .name = "basic", .page = w.page, .stop = 1 };
                struct gv_publish_git_hooks h = { race_hook, &r };
                int before = commits("basic");
                o = publish(&w, 6, &h);
                EXPECT(o, GV_DELIVER_LATER, "stop between commit and push");
                check(commits("basic") == before, "stop: nothing pushed", "%d",
                      commits("basic"));
                o = publish(&w, 6, NULL);
                EXPECT(o, GV_DELIVERED, "restart after the stop");
                check(count(remote_page("basic", w.page), "meeting:6 ") == 1 &&
                              commits("basic") == before + 1,
                      "restart: exactly one section, one commit", "%d commits",
                      commits("basic"));
                o = publish(&w, 6, NULL);
                EXPECT(o, GV_DELIVERED, "restart, again");
                check(commits("basic") == before + 1, "restart again: no commit", "%d",
                      commits("basic"));
        }

        /* a stop, then a person pushes, then the restart */
        {
                struct race r = { .name = "basic", .page = w.page, .stop = 1 };
                struct gv_publish_git_hooks h = { race_hook, &r };
                o = publish(&w, 7, &h);
                EXPECT(o, GV_DELIVER_LATER, "stop, person pushes");
                if (!person_edit("basic", w.page, "## " SEC, "Edited while gavel was down."))
                        check(false, "person edit", "%s", "push failed");
                o = publish(&w, 7, NULL);
                EXPECT(o, GV_DELIVERED, "stop, person pushes, restart");
                pg = remote_page("basic", w.page);
                check(count(pg, "meeting:7 ") == 1 && strstr(pg, "Edited while gavel was down."),
                      "stop, person, restart: both, once", "page \"%s\"", show(pg));
        }
}

/* Two gavels (two work directories) publish to one wiki at once. */
struct racer {
        struct gv_wiki w;
        int meeting;
        struct pub o;
};

static void *racer_run(void *ud)
{
        struct racer *r = ud;

        r->o = publish(&r->w, r->meeting, NULL);
        return NULL;
}

static void threads(void)
{
        struct racer r[4];
        pthread_t t[4];
        char wd[4][600];
        const char *pg;

        bare("threads");
        for (int i = 0; i < 4; i++) {
                r[i].w = wiki("threads", "Page.md");
                snprintf(wd[i], sizeof(wd[i]), "%s/state/threads-%d.work", tmp, i);
                r[i].w.workdir = wd[i];
                r[i].meeting = 10 + i;
                if (pthread_create(&t[i], NULL, racer_run, &r[i]) != 0)
                        r[i].o.r = GV_ENOMEM;
        }
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        /* a gavel that lost every race delivers on its next turn */
        for (int i = 0; i < 4; i++)
                if (r[i].o.r == GV_OK && r[i].o.d == GV_DELIVER_LATER)
                        r[i].o = publish(&r[i].w, r[i].meeting, NULL);
        for (int i = 0; i < 4; i++)
                EXPECT(r[i].o, GV_DELIVERED, "four at once: delivered");
        pg = remote_page("threads", "Page.md");
        check(count(pg, "meeting:1") == 4 && count(pg, "## " SEC) == 1 && commits("threads") == 4,
              "four at once: each once, one heading, four commits", "%d commits, page \"%s\"",
              commits("threads"), show(pg));
}

static void layouts(void)
{
        struct gv_wiki w = wiki("nested", "meetings/arch/Call.md");
        struct pub o;
        const char *pg;

        bare("nested");
        w.branch = "main";
        o = publish(&w, 1, NULL);
        EXPECT(o, GV_DELIVERED, "page in a subdirectory, branch main");
        {
                char buf[65536];
                if (git(path("nested"), buf, sizeof(buf), "show", "main:meetings/arch/Call.md",
                        NULL) != 0)
                        buf[0] = '\0';
                check(strstr(buf, "meeting:1") != NULL, "subdirectory page on branch main",
                      "page \"%s\"", show(buf));
        }

        /* the page and other files exist already */
        bare("existing");
        if (!person_edit("existing", "Home.md", NULL, "# Home\nWelcome."))
                check(false, "existing", "%s", "push failed");
        w = wiki("existing", "Home.md");
        o = publish(&w, 1, NULL);
        EXPECT(o, GV_DELIVERED, "existing page without the section");
        pg = remote_page("existing", "Home.md");
        check(strcmp(pg, "# Home\nWelcome.\n\n## " SEC "\n\n### Meeting 1\n"
                         "<!-- gavel:meeting:1 -->\n- item of 1\n") == 0,
              "existing page: section at the end", "page \"%s\"", show(pg));

        w = wiki("existing", "Notes.mediawiki");
        o = publish(&w, 2, NULL);
        EXPECT(o, GV_DELIVERED, "a .mediawiki page");
        pg = remote_page("existing", "Notes.mediawiki");
        check(strncmp(pg, "== " SEC " ==\n\n=== Meeting 2 ===\n", 35) == 0 &&
                      strstr(remote_page("existing", "Home.md"), "Welcome."),
              "a .mediawiki page: wikitext heading, other pages kept", "page \"%s\"", show(pg));
}

static void away(void)
{
        struct gv_wiki w = wiki("away", "Page.md");
        struct pub o;
        char from[600], to[600];

        bare("away");
        o = publish(&w, 1, NULL);
        EXPECT(o, GV_DELIVERED, "away: first");
        snprintf(from, sizeof(from), "%s", path("away"));
        snprintf(to, sizeof(to), "%s", path("away-moved"));
        if (rename(from, to) != 0)
                check(false, "away", "rename: %s", strerror(errno));
        o = publish(&w, 2, NULL);
        EXPECT(o, GV_DELIVER_LATER, "remote path gone: later");
        check(o.why[0] != '\0', "remote path gone: says why", "%s", "empty why");
        o = publish(&w, 2, NULL);
        EXPECT(o, GV_DELIVER_LATER, "remote path gone, again: later");
        if (rename(to, from) != 0)
                check(false, "away", "rename back: %s", strerror(errno));
        o = publish(&w, 2, NULL);
        EXPECT(o, GV_DELIVERED, "remote back: delivered");
        check(count(remote_page("away", "Page.md"), "meeting:2 ") == 1 && commits("away") == 2,
              "remote back: once", "%d commits", commits("away"));

        /* the wiki wiped and made again: published again */
        {
                const char *argv[] = { "/usr/bin/env", "rm", "-rf", from, NULL };
                pid_t pid = fork();
                if (pid == 0) {
                        execv(argv[0], (char *const *)argv);
                        _exit(127);
                }
                if (pid > 0)
                        waitpid(pid, NULL, 0);
        }
        bare("away");
        o = publish(&w, 2, NULL);
        EXPECT(o, GV_DELIVERED, "wiki made again: delivered");
        check(count(remote_page("away", "Page.md"), "meeting:2 ") == 1 && commits("away") == 1,
              "wiki made again: published again, as a first commit", "%d commits",
              commits("away"));

        /* never there at all */
        w = wiki("never-created", "Page.md");
        o = publish(&w, 1, NULL);
        EXPECT(o, GV_DELIVER_LATER, "no such local repository: later");
}

/* A one-thread HTTP server answering every request with one status. */
struct server {
        int fd;
        int status;
        unsigned port;
        unsigned requests;
        char auth[256];         /* the last Authorization header */
        pthread_t thread;
};

static void *serve(void *ud)
{
        struct server *s = ud;
        int c;

        while ((c = accept(s->fd, NULL, NULL)) >= 0) {
                char req[8192], resp[512];
                ssize_t k = read(c, req, sizeof(req) - 1);
                if (k > 0) {
                        req[k] = '\0';
                        s->requests++;
                        char *a = strcasestr(req, "\nAuthorization: ");
                        if (a)
                                snprintf(s->auth, sizeof(s->auth), "%.*s",
                                         (int)strcspn(a + 1, "\r\n"), a + 1);
                }
                int n = snprintf(resp, sizeof(resp),
                                 "HTTP/1.1 %d X\r\nWWW-Authenticate: Basic realm=\"wiki\"\r\n"
                                 "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                 s->status);
                if (write(c, resp, (size_t)n) < 0)
                        break;
                close(c);
        }
        return NULL;
}

/* On 127.0.0.1, or on 127.0.0.2 when other_host. */
static bool server_at(struct server *s, int status, bool other_host)
{
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK + other_host) };
        socklen_t al = sizeof(a);

        memset(s, 0, sizeof(*s));
        s->status = status;
        s->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            listen(s->fd, 8) < 0 || getsockname(s->fd, (struct sockaddr *)&a, &al) < 0 ||
            pthread_create(&s->thread, NULL, serve, s) != 0) {
                check(false, "HTTP server", "cannot listen: %s", strerror(errno));
                if (s->fd >= 0)
                        close(s->fd);
                return false;
        }
        s->port = ntohs(a.sin_port);
        return true;
}

static bool server_start(struct server *s, int status)
{
        return server_at(s, status, false);
}

static void server_stop(struct server *s)
{
        shutdown(s->fd, SHUT_RDWR);
        close(s->fd);
        pthread_join(s->thread, NULL);
}

static void refusals(void)
{
        struct gv_wiki w;
        struct pub o;
        struct server s;
        char u[128];

        bare("refuse");
        const char *bad_pages[] = { "../outside.md", "/etc/passwd", "a/../../b.md", ".git/config",
                                    "x/.GIT/y", "", "dir/", "a//b.md", "Notes.rst",
                                    "Notes.AsciiDoc", "Notes.org" };
        for (size_t i = 0; i < sizeof(bad_pages) / sizeof(bad_pages[0]); i++) {
                char name[96];
                w = wiki("refuse", bad_pages[i]);
                o = publish(&w, 1, NULL);
                snprintf(name, sizeof(name), "page \"%s\": never", bad_pages[i]);
                EXPECT(o, GV_DELIVER_NEVER, name);
        }
        w = wiki("refuse", "Page.md");
        w.branch = "a..b";
        o = publish(&w, 1, NULL);
        EXPECT(o, GV_DELIVER_NEVER, "branch a..b: never");
        w = wiki("refuse", "Page.md");
        w.section = "bad\nsection";
        o = publish(&w, 1, NULL);
        EXPECT(o, GV_DELIVER_NEVER, "section with LF: never");
        check(commits("refuse") == 0, "refusals: nothing pushed", "%d", commits("refuse"));

        /* a directory where the page should be */
        if (!person_edit("refuse", "Dir.md/inner.md", NULL, "x"))
                check(false, "refuse", "%s", "push failed");
        w = wiki("refuse", "Dir.md");
        o = publish(&w, 1, NULL);
        EXPECT(o, GV_DELIVER_NEVER, "page is a directory: never");

        /* a closed port */
        if (server_start(&s, 500)) {
                unsigned port = s.port;
                server_stop(&s);
                snprintf(u, sizeof(u), "http://127.0.0.1:%u/wiki.git", port);
                w = wiki("refuse", "Page.md");
                w.git = u;
                o = publish(&w, 1, NULL);
                EXPECT(o, GV_DELIVER_LATER, "closed port: later");
        }
        /* 5xx: later */
        if (server_start(&s, 503)) {
                snprintf(u, sizeof(u), "http://127.0.0.1:%u/wiki.git", s.port);
                w = wiki("refuse", "Page.md");
                w.git = u;
                o = publish(&w, 1, NULL);
                server_stop(&s);
                EXPECT(o, GV_DELIVER_LATER, "HTTP 503: later");
        }
        /* 404: never */
        if (server_start(&s, 404)) {
                snprintf(u, sizeof(u), "http://127.0.0.1:%u/wiki.git", s.port);
                w = wiki("refuse", "Page.md");
                w.git = u;
                o = publish(&w, 1, NULL);
                server_stop(&s);
                EXPECT(o, GV_DELIVER_NEVER, "HTTP 404: never");
        }
        /* 401 with a token: tried once, never, the token not in why */
        if (server_start(&s, 401)) {
                snprintf(u, sizeof(u), "http://127.0.0.1:%u/wiki.git", s.port);
                w = wiki("refuse", "Page.md");
                w.git = u;
                w.token = TOKEN;
                o = publish(&w, 1, NULL);
                server_stop(&s);
                EXPECT(o, GV_DELIVER_NEVER, "HTTP 401 with a token: never");
                check(s.requests == 2 && strstr(s.auth, "Basic ") &&
                              !strstr(o.why, TOKEN),
                      "HTTP 401: the token sent once, not in why", "%u requests, auth \"%s\", why \"%s\"",
                      s.requests, show(s.auth), show(o.why));
        }
        /* 401 over plain http to a host not on loopback's names: the token stays */
        if (server_at(&s, 401, true)) {
                snprintf(u, sizeof(u), "http://127.0.0.2:%u/wiki.git", s.port);
                w = wiki("refuse", "Page.md");
                w.git = u;
                w.token = TOKEN;
                o = publish(&w, 1, NULL);
                server_stop(&s);
                EXPECT(o, GV_DELIVER_NEVER, "HTTP 401 on plain http elsewhere: never");
                check(s.requests == 1 && !s.auth[0] && strstr(o.why, "plain http"),
                      "plain http elsewhere: the token not sent", "%u requests, auth \"%s\", why \"%s\"",
                      s.requests, show(s.auth), show(o.why));
        }
        /* 401 without credentials: never */
        if (server_start(&s, 401)) {
                snprintf(u, sizeof(u), "http://x-access-token:%s@127.0.0.1:%u/wiki.git", TOKEN,
                         s.port);
                w = wiki("refuse", "Page.md");
                w.git = u;
                o = publish(&w, 1, NULL);
                server_stop(&s);
                EXPECT(o, GV_DELIVER_NEVER, "HTTP 401, token in the URL: never");
                check(!strstr(o.why, TOKEN), "token in the URL: not in why", "why \"%s\"",
                      show(o.why));
        }
}

/* ---- ssh host keys: libgit2 1.5 checks none unless its certificate
 * callback does; gv_publish_git_hostkey is that check (OpenSSH's
 * known_hosts, via libssh2). Keys made with ssh-keygen. ---- */

static bool run_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool run_sh(const char *fmt, ...)
{
        char cmd[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd) == 0;
}

/* The raw key of an OpenSSH .pub file (its base64 blob decoded). */
static size_t raw_key(const char *pub, unsigned char *out, size_t n)
{
        char raw[600];
        FILE *f;
        size_t len = 0;

        snprintf(raw, sizeof(raw), "%s.raw", pub);
        if (!run_sh("cut -d' ' -f2 '%s' | base64 -d > '%s'", pub, raw))
                return 0;
        f = fopen(raw, "rb");
        if (f) {
                len = fread(out, 1, n, f);
                fclose(f);
        }
        return len;
}

static void hostkeys(void)
{
        char dir[600], kh[700], hashed[700], home[700], why[600];
        unsigned char key[512], other[512];
        size_t klen, olen;
        struct gv_wiki w = { 0 };
        int rc;

        snprintf(dir, sizeof(dir), "%s/hostkeys", tmp);
        if (!run_sh("mkdir -p '%s/home/.ssh' && ssh-keygen -q -t ed25519 -N '' -f '%s/host' && "
                    "ssh-keygen -q -t ed25519 -N '' -f '%s/other'", dir, dir, dir)) {
                check(false, "ssh host keys: ssh-keygen makes keys", "ssh-keygen failed");
                return;
        }
        snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
        snprintf(hashed, sizeof(hashed), "%s/hashed", dir);
        snprintf(home, sizeof(home), "%s/home/.ssh/known_hosts", dir);
        klen = raw_key(strcat(strcpy(why, dir), "/host.pub"), key, sizeof(key));
        olen = raw_key(strcat(strcpy(why, dir), "/other.pub"), other, sizeof(other));
        check(klen > 32 && olen > 32, "ssh host keys: raw keys", "%zu %zu", klen, olen);
        check(run_sh("(printf 'wiki.example.org '; cut -d' ' -f1,2 '%s/host.pub'; "
                     "printf '[127.0.0.1]:2222 '; cut -d' ' -f1,2 '%s/host.pub'; "
                     "printf 'moved.example.org '; cut -d' ' -f1,2 '%s/other.pub') > '%s' && "
                     "cp '%s' '%s' && ssh-keygen -q -H -f '%s' && rm -f '%s.old' && "
                     "cp '%s' '%s'", dir, dir, dir, kh, kh, hashed, hashed, hashed, kh, home),
              "ssh host keys: known_hosts files, plain and hashed", "shell failed");

        w.known_hosts = kh;
        rc = gv_publish_git_hostkey(&w, "wiki.example.org", 22, GIT_CERT_SSH_RAW_TYPE_KEY_ED25519,
                                    key, klen, why, sizeof(why));
        check(rc == 0, "ssh host keys: the listed key is accepted", "%d %s", rc, why);
        why[0] = '\0';
        rc = gv_publish_git_hostkey(&w, "moved.example.org", 22,
                                    GIT_CERT_SSH_RAW_TYPE_KEY_ED25519, key, klen, why, sizeof(why));
        check(rc == GIT_ECERTIFICATE && strstr(why, "is not the one in") && strstr(why, kh),
              "ssh host keys: another key for a listed host is refused, naming the file", "%d %s",
              rc, why);
        why[0] = '\0';
        rc = gv_publish_git_hostkey(&w, "unknown.example.org", 22,
                                    GIT_CERT_SSH_RAW_TYPE_KEY_ED25519, key, klen, why, sizeof(why));
        check(rc == GIT_ECERTIFICATE && strstr(why, "is not in") && strstr(why, "ssh-keyscan"),
              "ssh host keys: an unlisted host is refused, saying how to add it", "%d %s", rc,
              why);
        rc = gv_publish_git_hostkey(&w, "127.0.0.1", 2222, GIT_CERT_SSH_RAW_TYPE_KEY_ED25519, key,
                                    klen, why, sizeof(why));
        check(rc == 0, "ssh host keys: a [host]:port entry for that port", "%d %s", rc, why);
        why[0] = '\0';
        rc = gv_publish_git_hostkey(&w, "127.0.0.1", 22, GIT_CERT_SSH_RAW_TYPE_KEY_ED25519, key,
                                    klen, why, sizeof(why));
        check(rc == GIT_ECERTIFICATE && strstr(why, "is not in"),
              "ssh host keys: ... and not for port 22", "%d %s", rc, why);
        w.known_hosts = hashed;
        rc = gv_publish_git_hostkey(&w, "wiki.example.org", 22, GIT_CERT_SSH_RAW_TYPE_KEY_ED25519,
                                    key, klen, why, sizeof(why));
        check(rc == 0, "ssh host keys: a hashed known_hosts (ssh-keygen -H)", "%d %s", rc, why);
        rc = gv_publish_git_hostkey(&w, "wiki.example.org", 22, GIT_CERT_SSH_RAW_TYPE_KEY_ED25519,
                                    other, olen, why, sizeof(why));
        check(rc == GIT_ECERTIFICATE, "ssh host keys: ... and a wrong key against it", "%d", rc);
        w.known_hosts = "/nonexistent/known_hosts";
        why[0] = '\0';
        rc = gv_publish_git_hostkey(&w, "wiki.example.org", 22, GIT_CERT_SSH_RAW_TYPE_KEY_ED25519,
                                    key, klen, why, sizeof(why));
        check(rc == GIT_ECERTIFICATE && strstr(why, "/nonexistent/known_hosts"),
              "ssh host keys: a configured file that cannot be read refuses, naming it", "%d %s",
              rc, why);
        /* no known_hosts_file: the user's ~/.ssh/known_hosts */
        w.known_hosts = NULL;
        snprintf(home, sizeof(home), "%s/home", dir);
        setenv("HOME", home, 1);
        rc = gv_publish_git_hostkey(&w, "wiki.example.org", 22, GIT_CERT_SSH_RAW_TYPE_KEY_ED25519,
                                    key, klen, why, sizeof(why));
        check(rc == 0, "ssh host keys: by default ~/.ssh/known_hosts", "%d %s", rc, why);
        setenv("HOME", tmp, 1);
        why[0] = '\0';
        rc = gv_publish_git_hostkey(&w, "wiki.example.org", 22, GIT_CERT_SSH_RAW_TYPE_KEY_ED25519,
                                    key, klen, why, sizeof(why));
        check(rc == GIT_ECERTIFICATE && strstr(why, "known_hosts"),
              "ssh host keys: no known_hosts at all refuses, saying where it looked", "%d %s", rc,
              why);
}

int main(void)
{
        const char *base = getenv("TMPDIR");

        snprintf(tmp, sizeof(tmp), "%s/gavel-publish-git-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmp)) {
                perror("mkdtemp");
                return 1;
        }
        /* the git command line: no user or system configuration */
        setenv("HOME", tmp, 1);
        setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
        setenv("GIT_AUTHOR_NAME", "A Person", 1);
        setenv("GIT_AUTHOR_EMAIL", "person@example.org", 1);
        setenv("GIT_COMMITTER_NAME", "A Person", 1);
        setenv("GIT_COMMITTER_EMAIL", "person@example.org", 1);
        if (git(tmp, NULL, 0, "--version", NULL) != 0) {
                printf("skip: no git command line\n");
                return 77;
        }
        /* libgit2 is not linked: the first publish loads it */
        check(!dlopen(GV_LIBGIT2_SONAME, RTLD_NOW | RTLD_NOLOAD), "libgit2 not loaded at start",
              "%s is mapped before any publish", GV_LIBGIT2_SONAME);
        basics();
        check(dlopen(GV_LIBGIT2_SONAME, RTLD_NOW | RTLD_NOLOAD) != NULL,
              "libgit2 loaded by the first publish", "%s is not mapped", GV_LIBGIT2_SONAME);
        threads();
        layouts();
        away();
        refusals();
        hostkeys();

        int rc = check_finish();
        if (rc == 0) {
                const char *argv[] = { "/usr/bin/env", "rm", "-rf", tmp, NULL };
                pid_t pid = fork();
                if (pid == 0) {
                        execv(argv[0], (char *const *)argv);
                        _exit(127);
                }
                if (pid > 0)
                        waitpid(pid, NULL, 0);
        } else {
                printf("kept %s\n", tmp);
        }
        return rc;
}
