/* bridge/publish.h - publishing a meeting's notes to wikis: a git-backed wiki
 * page (GitHub, GitLab, Gitea wikis are git repositories; libgit2) or a
 * MediaWiki page (the Action API). Each publish is an outbox job, delivered
 * by the outbox drain like any other row; these calls do the network and disk
 * work and BLOCK, so the Matrix client runs them off its event loop (a worker
 * thread whose completion wakes the loop), and the console and replay call
 * them directly.
 *
 * Knows wikis; knows nothing about Matrix, the store or how notes are
 * rendered: the caller hands over the finished section text in the target's
 * markup. */
#ifndef GV_PUBLISH_H
#define GV_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include "../util/err.h"
#include "outbox.h"

/* One configured wiki ("wiki" config array entry N), secrets already read. */
struct gv_wiki {
        int index;              /* N: names the credentials, wiki-N-token etc. */
        /* git: */
        const char *git;        /* remote URL (https://, ssh://, file://) or NULL */
        const char *branch;     /* default "master" */
        const char *token;      /* HTTPS token (user "x-access-token"), may be NULL */
        const char *ssh_key;    /* path of a private key file, may be NULL */
        const char *known_hosts;        /* ssh: the host keys trusted (OpenSSH's
                                         * known_hosts format); NULL: the user's
                                         * ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts */
        const char *workdir;    /* the local clone, under the state directory */
        /* MediaWiki: */
        const char *mediawiki;  /* api.php URL or NULL */
        const char *user;       /* bot-password user, "Name@botname" */
        const char *password;   /* bot password */
        /* both: */
        const char *page;       /* "Architecture-Call.md", "Meetings/Arch call" */
        const char *section;    /* heading the notes go under, e.g. "Recent Meeting Notes" */
};

/* What to put on the page. The section text is complete (its own heading
 * first, in the page's markup) and carries `marker` - a comment line such as
 * "<!-- gavel:meeting:42 -->" that no person writes - so a publish that
 * already happened (a crash after the push, a retry) is recognised on the
 * page and never applied twice. */
struct gv_publication {
        const char *marker;     /* unique per meeting and wiki */
        const char *text;       /* the meeting's section, markup of the target */
        const char *summary;    /* commit message / edit summary naming the meeting */
        const char *author;     /* commit author name, e.g. "gavel" */
        const char *email;      /* commit author email, e.g. "gavel@localhost" */
};

/* The page section: the publication is inserted right under the heading
 * named w->section (creating the heading at the end of the page, and the
 * page, when missing), newest first. Markdown pages ("#"-headings, git) and
 * wikitext pages ("=="-headings, MediaWiki) alike. Returns the new page text
 * (malloc'd) in *out, or NULL in *out when the marker is already on the page.
 * Pure; shared by both publishers. */
GV_MUST_CHECK enum gv_err gv_publish_insert(const char *page_text, bool wikitext,
                                            const char *section, const struct gv_publication *p,
                                            char **out);

/* Each returns GV_OK with *d set: GV_DELIVERED (published, or found already
 * there), GV_DELIVER_LATER (the remote is unreachable, a conflict to retry,
 * a 5xx: back off and try again) or GV_DELIVER_NEVER (refused for good: bad
 * credentials, no such repository or API, a page gavel may not edit), with a
 * reason in why. Other return values: out of memory and the like. A person's
 * concurrent edit is never overwritten: git re-applies on the new tip,
 * MediaWiki edits with baserevid and re-reads on a conflict. *link, when not
 * NULL, gets a malloc'd URL of the published section when one is known. */
/* Loads libgit2 (dlopen, once per process; gavel does not link it; it is
 * initialised at the first publish). gv_publish_git() does it too; main() calls it at start when a
 * git wiki is configured, so that a missing library is a config error, not a
 * failure at the first #endmeeting. On failure err says which file could not
 * be loaded and why ("cannot load libgit2.so.1.5 (is the package libgit2-1.5
 * installed?): <dlerror>"), GV_EIO. Thread-safe. */
GV_MUST_CHECK enum gv_err gv_publish_git_load(char *err, size_t n);
GV_MUST_CHECK enum gv_err gv_publish_git(const struct gv_wiki *w, const struct gv_publication *p,
                                         enum gv_delivery *d, char *why, size_t n, char **link);
GV_MUST_CHECK enum gv_err gv_publish_mediawiki(const struct gv_wiki *w,
                                               const struct gv_publication *p,
                                               enum gv_delivery *d, char *why, size_t n,
                                               char **link);

#endif
