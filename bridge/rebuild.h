/* bridge/rebuild.h - `gavel archive rebuild [MEETING]`: every archive file
 * (the five minutes files of each ended meeting and index.html) written
 * again from the database, at any time, alongside a running bot. */
#ifndef GV_REBUILD_H
#define GV_REBUILD_H

#include <stdbool.h>
#include "../util/config.h"

/* which: NULL for every ended meeting, else one meeting's id or its files'
 * base name. out_dir: NULL for cfg->archive_dir. Reads cfg->database, which
 * must exist. Returns the exit status: 0 done, 1 failure (said on stderr). */
int gv_rebuild_run(const struct gv_config *cfg, const char *which, const char *out_dir, bool quiet);

#endif
