/* bridge/publish_internal.h - seams of the wiki publishers for their tests,
 * not for the rest of gavel: a hook between commit and push lets a test push
 * a person's edit at the worst moment, or stop there as a crash would. */
#ifndef GV_PUBLISH_INTERNAL_H
#define GV_PUBLISH_INTERNAL_H

#include "publish.h"

/* Pushes are retried this often after a concurrent edit, then GV_DELIVER_LATER. */
#define GV_PUBLISH_GIT_TRIES 4

struct gv_publish_git_hooks {
        /* After the commit, before push attempt 0, 1, ...: nonzero stops
         * right there (GV_DELIVER_LATER), the commit made but not pushed. */
        int (*before_push)(void *ud, unsigned attempt);
        void *ud;
};

/* gv_publish_git() with hooks (NULL: none). */
GV_MUST_CHECK enum gv_err gv_publish_git_hooked(const struct gv_wiki *w,
                                                const struct gv_publication *p,
                                                const struct gv_publish_git_hooks *h,
                                                enum gv_delivery *d, char *why, size_t n,
                                                char **link);

/* The ssh host key check behind libgit2's certificate callback: 0 when
 * `key` (raw, of libgit2's GIT_CERT_SSH_RAW_TYPE_* raw_type) is the key
 * w->known_hosts (or the default files) holds for host and port; else
 * GIT_ECERTIFICATE with why said (not listed, a different key, no file). */
int gv_publish_git_hostkey(const struct gv_wiki *w, const char *host, int port, int raw_type,
                           const unsigned char *key, size_t len, char *why, size_t n);

#endif
