/* bridge/archive.h - the static minutes archive: files written atomically
 * into one directory, plus an index.html listing every meeting. */
#ifndef GV_ARCHIVE_H
#define GV_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include "../util/err.h"

/* A "file" outbox row: its minutes rendered straight into dir/name, in
 * pieces (a long meeting's log is never held whole in memory), through a
 * temporary file and rename(). name must be a plain file name ([A-Za-z0-9._-],
 * no leading dot). dir is created (one level) if needed; index.html is
 * written anew after every NAME.html. A failed write is logged here only
 * at info level, with errno left as the failing call set it: the caller
 * retries and logs it once (bridge/outbox.c). */
struct gv_store;
struct gv_config;
GV_MUST_CHECK enum gv_err gv_archive_minutes(const char *dir, const char *name, struct gv_store *s,
                                             const struct gv_config *cfg, const char *extra);
/* gv_archive_minutes() without index.html (for writing many files at once). */
GV_MUST_CHECK enum gv_err gv_archive_write(const char *dir, const char *name, struct gv_store *s,
                                           const struct gv_config *cfg, const char *extra);
/* gv_archive_minutes() of minutes already rendered (data, len): touches
 * neither the store nor the config, so a worker thread may run it (one at a
 * time per dir: index.html is rewritten). */
GV_MUST_CHECK enum gv_err gv_archive_put(const char *dir, const char *name, const char *data,
                                         size_t len);
/* Many minutes files into one directory, with one directory sync (a
 * meeting's five files and index.html: 7 fsyncs instead of 12), the
 * files' writeback overlapping the rendering of the next.
 * gv_archive_batch_minutes() renders a file into its temporary file and
 * starts its writeback; gv_archive_batch_finish() syncs each and renames it
 * into place, writes index.html once (when a NAME.html was written) and
 * syncs the directory once. Only after finish returned GV_OK are the files
 * durable: mark their outbox rows done then (a crash before leaves them
 * pending, written again identically; a temporary file left behind is
 * swept by the next write of its name). finish frees the batch;
 * gv_archive_batch_free() gives one up (its temporary files removed). */
struct gv_archive_file;
struct gv_archive_batch {
        const char *dir;
        bool dirty;             /* a file renamed into dir, not yet synced */
        bool index;             /* a NAME.html written: index.html due */
        struct gv_archive_file *files;  /* written, not yet in place */
        size_t n;
};
void gv_archive_batch_init(struct gv_archive_batch *b, const char *dir);
GV_MUST_CHECK enum gv_err gv_archive_batch_minutes(struct gv_archive_batch *b, const char *name,
                                                   struct gv_store *s,
                                                   const struct gv_config *cfg,
                                                   const char *extra);
GV_MUST_CHECK enum gv_err gv_archive_batch_finish(struct gv_archive_batch *b);
void gv_archive_batch_free(struct gv_archive_batch *b);

/* For tests: fn instead of fsync(2) for every file and directory sync
 * (to count them, or fail them); NULL: fsync again. */
void gv_archive_set_sync(int (*fn)(int fd));

/* Writes dir/index.html anew: every NAME.html in dir, newest name first. */
GV_MUST_CHECK enum gv_err gv_archive_index(const char *dir);

#endif
