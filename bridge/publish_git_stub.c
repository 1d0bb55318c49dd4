/* bridge/publish_git_stub.c - stands in for gv_publish_git() until the git
 * publisher (bridge/publish_git.c, libgit2, branch wiki-git) is merged;
 * remove this file from meson.build then (the two would clash). */
#include <stdio.h>

#include "publish.h"

enum gv_err gv_publish_git(const struct gv_wiki *w, const struct gv_publication *p,
                           enum gv_delivery *d, char *why, size_t n, char **link)
{
        (void)w;
        (void)p;
        if (link)
                *link = NULL;
        *d = GV_DELIVER_LATER;
        snprintf(why, n, "this gavel was built without the git publisher");
        return GV_OK;
}
