/* bridge/matrix.h - gavel as a Matrix client: login, the /sync loop, the
 * outbox sender, invites and power levels, all in one event loop over
 * libcurl multi. Knows the client-server API; the meeting logic stays in
 * handlers/, reached only through gv_handle(). */
#ifndef GV_MATRIX_H
#define GV_MATRIX_H

#include "../util/config.h"

/* Runs until SIGTERM/SIGINT (exit status 0) or a fatal error (1; 2 for a
 * configuration that cannot work, e.g. no credentials). */
int gv_matrix_run(const struct gv_config *cfg);

#endif
