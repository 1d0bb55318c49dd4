/* bridge/archive.c - see archive.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/text.h"
#include "../handlers/minutes.h"
#include "archive.h"

#define MAX_INDEX_ENTRIES 100000

static int (*sync_fn)(int fd) = fsync;

void gv_archive_set_sync(int (*fn)(int fd))
{
        sync_fn = fn ? fn : fsync;
}

static int valid_name(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n > 200 || name[0] == '.')
                return 0;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return 0;
        }
        return 1;
}

/* A file being written: .NAME.<random>.tmp, created owner-only and never
 * through a planted file or symlink (O_EXCL|O_NOFOLLOW), until finish()
 * renames it and syncs the directory. */
struct out {
        char path[4096], tmp[4096];
        const char *dir, *name;
        int fd;
};

static enum gv_err out_open(struct out *o, const char *dir, const char *name)
{
        o->fd = -1;
        o->dir = dir;
        o->name = name;
        if ((size_t)snprintf(o->path, sizeof(o->path), "%s/%s", dir, name) >= sizeof(o->path))
                return GV_ETOOBIG;
        for (int attempt = 0; attempt < 8 && o->fd < 0; attempt++) {
                uint64_t rnd = 0;

                if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
                        gv_info("archive", "getrandom: %s", strerror(errno));
                        return GV_EIO;
                }
                if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.%016" PRIx64 ".tmp", dir, name,
                                     rnd) >= sizeof(o->tmp))
                        return GV_ETOOBIG;
                o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (o->fd < 0 && errno != EEXIST)
                        break;
        }
        if (o->fd < 0) {
                gv_info("archive", "cannot create a file in %s: %s", dir, strerror(errno));
                return GV_EIO;
        }
        return GV_OK;
}

/* A writer killed between open and rename leaves .NAME.<16 hex>.tmp behind;
 * once NAME is in place such leftovers are removed (unlink never follows a
 * link, and only names of exactly that shape are touched). */
static void sweep_leftovers(const char *dir, const char *name)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = strlen(name);

        if (!d)
                return;
        while ((de = readdir(d))) {
                const char *e = de->d_name;
                size_t len = strlen(e), i;

                if (len != 1 + n + 1 + 16 + 4 || e[0] != '.' || strncmp(e + 1, name, n) != 0 ||
                    e[1 + n] != '.' || strcmp(e + len - 4, ".tmp") != 0)
                        continue;
                for (i = 2 + n; i < 2 + n + 16; i++)
                        if (!((e[i] >= '0' && e[i] <= '9') || (e[i] >= 'a' && e[i] <= 'f')))
                                break;
                if (i == 2 + n + 16 && unlinkat(dirfd(d), e, 0) != 0)
                        gv_warn("archive", "%s/%s: cannot remove a leftover: %s", dir, e,
                                strerror(errno));
        }
        closedir(d);
}

/* After a rename, the directory entry itself is made durable. */
static enum gv_err sync_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || sync_fn(fd) != 0) {
                gv_info("archive", "%s: cannot sync the directory: %s", dir, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return GV_EIO;
        }
        close(fd);
        return GV_OK;
}

static enum gv_err out_write(void *ud, const char *data, size_t len)
{
        struct out *o = ud;
        size_t off = 0;

        while (off < len) {
                ssize_t w = write(o->fd, data + off, len - off);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        gv_info("archive", "%s: %s", o->tmp, strerror(errno));
                        return GV_EIO;
                }
                off += (size_t)w;
        }
        return GV_OK;
}

/* r == GV_OK: make it the real file (its data synced, then renamed into
 * place); else throw it away. The directory is not synced: the caller
 * does, once for all it renamed. */
static enum gv_err out_place(struct out *o, enum gv_err r)
{
        if (r == GV_OK && (sync_fn(o->fd) != 0 || close(o->fd) != 0)) {
                o->fd = -1;
                gv_info("archive", "%s: %s", o->tmp, strerror(errno));
                r = GV_EIO;
        }
        if (o->fd >= 0 && r != GV_OK)
                close(o->fd);
        o->fd = -1;
        if (r == GV_OK && rename(o->tmp, o->path) != 0) {
                gv_info("archive", "%s: %s", o->path, strerror(errno));
                r = GV_EIO;
        }
        if (r)
                unlink(o->tmp);
        return r;
}

/* out_place(), the leftovers swept and the directory synced. */
static enum gv_err out_finish(struct out *o, enum gv_err r)
{
        r = out_place(o, r);
        if (r)
                return r;
        sweep_leftovers(o->dir, o->name);
        return sync_dir(o->dir);
}

static enum gv_err write_file(const char *dir, const char *name, const char *data, size_t len)
{
        struct out o;
        enum gv_err r = out_open(&o, dir, name);

        if (r)
                return r;
        return out_finish(&o, out_write(&o, data, len));
}

static int cmp_desc(const void *a, const void *b)
{
        return strcmp(*(char *const *)b, *(char *const *)a);
}

static int ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* index.html: every NAME.html minutes page, newest name first. */
enum gv_err gv_archive_index(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct gv_buf b = GV_BUF_INIT(64u << 20);
        enum gv_err r = GV_ENOMEM;

        if (!d) {
                gv_err_log("archive", "%s: cannot list the directory: %s", dir, strerror(errno));
                return GV_EIO;
        }
        while ((de = readdir(d)) && n < MAX_INDEX_ENTRIES) {
                const char *nm = de->d_name;

                if (nm[0] == '.' || !ends_with(nm, ".html") || ends_with(nm, ".log.html") ||
                    strcmp(nm, "index.html") == 0)
                        continue;
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 32;
                        char **nn = realloc(names, nc * sizeof(*nn));

                        if (!nn)
                                goto out;
                        names = nn;
                        cap = nc;
                }
                names[n] = strndup(nm, strlen(nm) - 5);
                if (!names[n])
                        goto out;
                n++;
        }
        if (n)
                qsort(names, n, sizeof(*names), cmp_desc);
        r = gv_buf_adds(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                            "<title>Meeting minutes</title></head><body>\n"
                            "<h1>Meeting minutes</h1>\n<ul>\n");
        for (size_t i = 0; i < n && r == GV_OK; i++) {
                /* names are plain file names (see valid_name), still escaped */
                r = gv_buf_adds(&b, "<li><a href=\"");
                if (r == GV_OK)
                        r = gv_html_escape(&b, names[i]);
                if (r == GV_OK)
                        r = gv_buf_adds(&b, ".html\">");
                if (r == GV_OK)
                        r = gv_html_escape(&b, names[i]);
                if (r == GV_OK)
                        r = gv_buf_adds(&b, "</a> (<a href=\"");
                if (r == GV_OK)
                        r = gv_html_escape(&b, names[i]);
                if (r == GV_OK)
                        r = gv_buf_adds(&b, ".txt\">text</a>, <a href=\"");
                if (r == GV_OK)
                        r = gv_html_escape(&b, names[i]);
                if (r == GV_OK)
                        r = gv_buf_adds(&b, ".log.html\">log</a>)</li>\n");
        }
        if (r == GV_OK)
                r = gv_buf_adds(&b, "</ul>\n</body></html>\n");
        if (r == GV_OK)
                r = write_file(dir, "index.html", b.p, b.len);
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        gv_buf_free(&b);
        closedir(d);
        return r;
}

static enum gv_err prepare(const char *dir, const char *name)
{
        if (!valid_name(name) || strcmp(name, "index.html") == 0) {
                gv_err_log("archive", "refusing to write a file named '%s'", name);
                return GV_EINVAL;
        }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                gv_info("archive", "%s: %s", dir, strerror(errno));
                return GV_EIO;
        }
        return GV_OK;
}

static bool needs_index(const char *name)
{
        return ends_with(name, ".html") && !ends_with(name, ".log.html");
}

/* A file in place: the directory synced, by index.html's own write (whose
 * directory sync covers this rename too) after a NAME.html, else alone. */
static enum gv_err placed(struct out *o)
{
        sweep_leftovers(o->dir, o->name);
        return needs_index(o->name) ? gv_archive_index(o->dir) : sync_dir(o->dir);
}

enum gv_err gv_archive_write(const char *dir, const char *name, struct gv_store *s,
                             const struct gv_config *cfg, const char *extra)
{
        struct out o;
        struct gv_sink_fn sink = { out_write, &o };
        enum gv_err r = prepare(dir, name);

        if (r == GV_OK)
                r = out_open(&o, dir, name);
        if (r)
                return r;
        return out_finish(&o, gv_minutes_file(s, cfg, extra, &sink));
}

enum gv_err gv_archive_put(const char *dir, const char *name, const char *data, size_t len)
{
        struct out o;
        enum gv_err r = prepare(dir, name);

        if (r == GV_OK)
                r = out_open(&o, dir, name);
        if (r == GV_OK)
                r = out_place(&o, out_write(&o, data, len));
        if (r == GV_OK)
                r = placed(&o);
        return r;
}

enum gv_err gv_archive_minutes(const char *dir, const char *name, struct gv_store *s,
                               const struct gv_config *cfg, const char *extra)
{
        struct out o;
        struct gv_sink_fn sink = { out_write, &o };
        enum gv_err r = prepare(dir, name);

        if (r == GV_OK)
                r = out_open(&o, dir, name);
        if (r == GV_OK)
                r = out_place(&o, gv_minutes_file(s, cfg, extra, &sink));
        if (r == GV_OK)
                r = placed(&o);
        return r;
}

/* ---- many files, one directory sync ---- */

/* A batch holds at most this many written, unsynced files open: more are
 * put in place (synced, renamed) at once. */
#define BATCH_OPEN_MAX 32

struct gv_archive_file {
        int fd;
        char *tmp, *path, *name;
};

void gv_archive_batch_init(struct gv_archive_batch *b, const char *dir)
{
        memset(b, 0, sizeof(*b));
        b->dir = dir;
}

/* The files written so far synced and renamed into place (not the
 * directory); the first failure is returned, every file is dealt with. */
static enum gv_err batch_place(struct gv_archive_batch *b)
{
        enum gv_err r = GV_OK;

        for (size_t i = 0; i < b->n; i++) {
                struct gv_archive_file *f = &b->files[i];
                enum gv_err fr = GV_OK;
                int e = 0;

                if (f->fd >= 0 && (sync_fn(f->fd) != 0 || close(f->fd) != 0)) {
                        e = errno;
                        gv_info("archive", "%s: %s", f->tmp, strerror(e));
                        fr = GV_EIO;
                }
                f->fd = -1;
                if (fr == GV_OK && rename(f->tmp, f->path) != 0) {
                        e = errno;
                        gv_info("archive", "%s: %s", f->path, strerror(e));
                        fr = GV_EIO;
                }
                if (fr) {
                        unlink(f->tmp);
                        if (r == GV_OK) {
                                r = fr;
                                errno = e;
                        }
                        continue;
                }
                b->dirty = true;
                sweep_leftovers(b->dir, f->name);
        }
        return r;
}

static void batch_files_free(struct gv_archive_batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                struct gv_archive_file *f = &b->files[i];

                if (f->fd >= 0) {       /* never put in place */
                        close(f->fd);
                        unlink(f->tmp);
                }
                free(f->tmp);
                free(f->path);
                free(f->name);
        }
        free(b->files);
        b->files = NULL;
        b->n = 0;
}

enum gv_err gv_archive_batch_minutes(struct gv_archive_batch *b, const char *name,
                                     struct gv_store *s, const struct gv_config *cfg,
                                     const char *extra)
{
        struct out o;
        struct gv_sink_fn sink = { out_write, &o };
        struct gv_archive_file *nf, *f;
        enum gv_err r = prepare(b->dir, name);

        if (r == GV_OK && b->n == BATCH_OPEN_MAX) {
                r = batch_place(b);
                batch_files_free(b);
        }
        if (r == GV_OK)
                r = out_open(&o, b->dir, name);
        if (r)
                return r;
        r = gv_minutes_file(s, cfg, extra, &sink);
        nf = r ? NULL : realloc(b->files, (b->n + 1) * sizeof(*nf));
        if (!nf) {
                int e = errno;  /* the failed write's, for the caller's message */

                close(o.fd);
                unlink(o.tmp);
                errno = e;
                return r ? r : GV_ENOMEM;
        }
        b->files = nf;
        f = &nf[b->n];
        f->fd = o.fd;
        f->tmp = strdup(o.tmp);
        f->path = strdup(o.path);
        f->name = strdup(name);
        if (!f->tmp || !f->path || !f->name) {
                free(f->tmp);
                free(f->path);
                free(f->name);
                close(o.fd);
                unlink(o.tmp);
                return GV_ENOMEM;
        }
        b->n++;
        /* its writeback starts now, while the next file renders; finish
         * waits for it (fsync) before the rename */
        (void)sync_file_range(o.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        if (needs_index(name))
                b->index = true;
        return GV_OK;
}

enum gv_err gv_archive_batch_finish(struct gv_archive_batch *b)
{
        enum gv_err r = batch_place(b);
        int e = errno;

        batch_files_free(b);
        if (r) {
                errno = e;
                return r;
        }
        if (b->index)
                r = gv_archive_index(b->dir);   /* its own sync covers the renames */
        else if (b->dirty)
                r = sync_dir(b->dir);
        if (r == GV_OK) {
                b->dirty = false;
                b->index = false;
        }
        return r;
}

void gv_archive_batch_free(struct gv_archive_batch *b)
{
        batch_files_free(b);
}
