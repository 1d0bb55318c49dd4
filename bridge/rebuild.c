/* bridge/rebuild.c - see rebuild.h */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../handlers/minutes.h"
#include "../util/text.h"
#include "archive.h"
#include "rebuild.h"

/* The archive directory: created (owner-only) when missing, refused when
 * something else stands there. */
static int check_dir(const char *dir)
{
        struct stat st;

        if (stat(dir, &st) == 0) {
                if (S_ISDIR(st.st_mode))
                        return 0;
                fprintf(stderr, "gavel: archive rebuild: %s: exists and is not a directory\n", dir);
                return 1;
        }
        if (errno == ENOENT && mkdir(dir, 0700) == 0)
                return 0;
        fprintf(stderr, "gavel: archive rebuild: cannot create the archive directory %s: %s\n", dir,
                strerror(errno));
        return 1;
}

/* All five files of one ended meeting. */
static int write_meeting(struct gv_store *s, const struct gv_config *cfg, const char *dir,
                         const struct gv_meeting *m, bool quiet)
{
        char base[GV_MINUTES_BASE_SIZE];

        gv_minutes_file_base(m, base);
        for (size_t i = 0; i < GV_MINUTES_N_FILES; i++) {
                const char *fmt = gv_minutes_format_name(gv_minutes_files[i]);
                char name[GV_MINUTES_BASE_SIZE + 16], extra[96];
                enum gv_err r;

                snprintf(name, sizeof(name), "%s.%s", base, fmt);
                snprintf(extra, sizeof(extra), "{\"meeting\":%" PRId64 ",\"format\":\"%s\"}", m->id,
                         fmt);
                errno = 0;
                r = gv_archive_write(dir, name, s, cfg, extra);
                if (r) {
                        int e = errno;

                        fprintf(stderr, "gavel: archive rebuild: cannot write %s/%s: %s%s%s\n", dir,
                                name, gv_strerror(r), r == GV_EIO && e ? ": " : "",
                                r == GV_EIO && e ? strerror(e) : "");
                        return 1;
                }
                if (!quiet)
                        printf("wrote %s/%s\n", dir, name);
        }
        return 0;
}

/* Finds the ended meeting `which` names (an id or its files' base name)
 * among ids; 0 when none. */
static int64_t find(struct gv_store *s, const int64_t *ids, size_t n, const char *which,
                    enum gv_err *err)
{
        uint64_t want = 0;
        bool by_id = gv_parse_u64(which, INT64_MAX, &want) == GV_OK;

        *err = GV_OK;
        for (size_t i = 0; i < n; i++) {
                struct gv_meeting m;
                char base[GV_MINUTES_BASE_SIZE];

                if (by_id) {
                        if ((uint64_t)ids[i] == want)
                                return ids[i];
                        continue;
                }
                *err = gv_store_meeting_get(s, ids[i], &m);
                if (*err)
                        return 0;
                gv_minutes_file_base(&m, base);
                gv_meeting_clear(&m);
                if (strcmp(base, which) == 0)
                        return ids[i];
        }
        return 0;
}

int gv_rebuild_run(const struct gv_config *cfg, const char *which, const char *out_dir, bool quiet)
{
        const char *dir = out_dir ? out_dir : cfg->archive_dir, *db = cfg->database;
        struct gv_store *s = NULL;
        int64_t *ids = NULL, one = 0;
        size_t n = 0, done = 0;
        struct stat st;
        int status = 1;
        enum gv_err r;

        if (stat(db, &st) != 0) {
                fprintf(stderr, "gavel: archive rebuild: no database at %s: %s (see --db)\n", db,
                        strerror(errno));
                return 1;
        }
        if (!S_ISREG(st.st_mode)) {
                fprintf(stderr, "gavel: archive rebuild: %s is not a database file\n", db);
                return 1;
        }
        r = gv_store_open(db, &s);
        if (r) {
                fprintf(stderr, "gavel: archive rebuild: cannot open the database %s: %s\n", db,
                        gv_strerror(r));
                return 1;
        }
        r = gv_store_meetings_ended(s, &ids, &n);
        if (r == GV_OK && which) {
                one = find(s, ids, n, which, &r);
                if (r == GV_OK && one == 0) {
                        fprintf(stderr, "gavel: archive rebuild: no ended meeting \"%s\" in %s "
                                        "(name one by its id or its files' base name, "
                                        "e.g. Arch_call.2017-05-08-13.00)\n", which, db);
                        goto out;
                }
        }
        if (r) {
                fprintf(stderr, "gavel: archive rebuild: %s: %s: %s\n", db, gv_strerror(r),
                        gv_store_errmsg(s));
                goto out;
        }
        if (check_dir(dir))
                goto out;
        for (size_t i = 0; i < n; i++) {
                struct gv_meeting m;

                if (one && ids[i] != one)
                        continue;
                r = gv_store_meeting_get(s, ids[i], &m);
                if (r) {
                        fprintf(stderr, "gavel: archive rebuild: %s: meeting %" PRId64 ": %s\n", db,
                                ids[i], gv_strerror(r));
                        goto out;
                }
                status = write_meeting(s, cfg, dir, &m, quiet);
                gv_meeting_clear(&m);
                if (status)
                        goto out;
                status = 1;
                done++;
        }
        r = gv_archive_index(dir);
        if (r) {
                fprintf(stderr, "gavel: archive rebuild: cannot write %s/index.html: %s\n", dir,
                        gv_strerror(r));
                goto out;
        }
        if (!quiet)
                printf("wrote %s/index.html; %zu meeting%s rebuilt\n", dir, done,
                       done == 1 ? "" : "s");
        status = 0;
out:
        free(ids);
        gv_store_free(s);
        return status;
}
