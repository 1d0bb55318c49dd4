/* bridge/archive.h - the static minutes archive: files written atomically
 * into one directory, plus an index.html listing every meeting. */
#ifndef GV_ARCHIVE_H
#define GV_ARCHIVE_H

#include <stddef.h>
#include "../util/err.h"

/* name must be a plain file name ([A-Za-z0-9._-], no leading dot).
 * Creates dir (one level) if needed; writes NAME via a temporary file and
 * rename(); regenerates index.html when NAME ends in ".html". */
GV_MUST_CHECK enum gv_err gv_archive_write(const char *dir, const char *name, const char *data,
                                           size_t len);

#endif
