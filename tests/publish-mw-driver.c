/* tests/publish-mw-driver.c - one gv_publish_mediawiki() call from the
 * command line, for tests/mediawiki/test_mediawiki.py:
 *
 *   publish-mw-driver API_URL USER PAGE SECTION MARKER TEXT_FILE SUMMARY
 *
 * The bot password comes from $MW_PASSWORD (never argv: ps shows argv).
 * Prints one line: "DELIVERED <link or ->", "LATER <why>" or "NEVER <why>";
 * exit status 0, or 1 when the call itself failed (its gv_strerror). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bridge/publish.h"
#include "../util/log.h"

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "rb");
        char *p = NULL;
        size_t len = 0, cap = 0, got;

        if (!f)
                return NULL;
        do {
                if (len + 4096 + 1 > cap) {
                        char *q;

                        cap = cap ? cap * 2 : 8192;
                        q = realloc(p, cap);
                        if (!q) {
                                free(p);
                                fclose(f);
                                return NULL;
                        }
                        p = q;
                }
                got = fread(p + len, 1, 4096, f);
                len += got;
        } while (got > 0);
        fclose(f);
        p[len] = '\0';
        return p;
}

int main(int argc, char **argv)
{
        struct gv_wiki w = { 0 };
        struct gv_publication p = { 0 };
        enum gv_delivery d = GV_DELIVER_NEVER;
        char why[256] = "";
        char *link = NULL, *text;
        enum gv_err r;

        if (argc != 8) {
                fprintf(stderr, "usage: %s API_URL USER PAGE SECTION MARKER TEXT_FILE SUMMARY\n",
                        argv[0]);
                return 2;
        }
        if (getenv("MW_DEBUG"))
                gv_log_threshold = GV_LOG_DEBUG;
        text = slurp(argv[6]);
        if (!text) {
                perror(argv[6]);
                return 1;
        }
        w.index = 0;
        w.mediawiki = argv[1];
        w.user = argv[2];
        w.password = getenv("MW_PASSWORD");
        w.page = argv[3];
        w.section = argv[4];
        p.marker = argv[5];
        p.text = text;
        p.summary = argv[7];
        p.author = "gavel";
        p.email = "gavel@localhost";
        r = gv_publish_mediawiki(&w, &p, &d, why, sizeof(why), &link);
        free(text);
        if (r != GV_OK) {
                fprintf(stderr, "gv_publish_mediawiki: %s\n", gv_strerror(r));
                return 1;
        }
        if (d == GV_DELIVERED)
                printf("DELIVERED %s\n", link ? link : "-");
        else
                printf("%s %s\n", d == GV_DELIVER_LATER ? "LATER" : "NEVER", why);
        free(link);
        return 0;
}
