/* tests/fuzz/fuzz-tag.c - any bytes through gv_parse_tag() with the default
 * config (#architecture and #cust-arch): no crash, no leak, and a success
 * obeys the limits: a description of at most GV_MAX_DESCRIPTION bytes, at
 * most GV_MAX_MENTIONS distinct "@" mentions, the configured agenda. */
#include <stdlib.h>
#include <string.h>

#include "../../handlers/parse.h"
#include "../../util/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct gv_config *cfg;
        struct gv_tagged t;
        enum gv_err r;

        if (!cfg && gv_config_defaults(&cfg) != GV_OK)
                abort();
        memset(&t, 0, sizeof(t));
        r = gv_parse_tag(cfg, (const char *)data, size, &t);
        if (r == GV_OK) {
                if (!t.description || strlen(t.description) > GV_MAX_DESCRIPTION ||
                    strlen(t.description) > size || !t.agenda ||
                    strcmp(t.agenda, "architecture") != 0 || t.n_mentions > GV_MAX_MENTIONS)
                        abort();
                /* No blank at either end, none doubled (NUL bytes cut the
                 * C string anywhere, so only without them). */
                if (!memchr(data, 0, size) && (t.description[0] == ' ' ||
                    (t.description[0] && t.description[strlen(t.description) - 1] == ' ') ||
                    strstr(t.description, "  ")))
                        abort();
                for (size_t i = 0; i < t.n_mentions; i++) {
                        if (!t.mentions[i] || t.mentions[i][0] != '@' || strlen(t.mentions[i]) < 2 ||
                            strlen(t.mentions[i]) > size)
                                abort();
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(t.mentions[i], t.mentions[j]) == 0)
                                        abort();
                }
        } else if (r != GV_ENOTFOUND && r != GV_ETOOBIG && r != GV_ENOMEM) {
                abort();
        } else if (t.description || t.n_mentions) {
                abort();
        }
        gv_tagged_clear(&t);
        if (t.description || t.n_mentions)
                abort();
        return 0;
}
