/* tests/fuzz/fuzz-config.c - any bytes through gv_config_parse(): no crash,
 * no leak; a success gives a config that answers the lookups, a failure
 * leaves *ret alone and says why. */
#include <stdlib.h>

#include "../../util/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct gv_config *c = NULL;
        char err[512] = "";

        if (gv_config_parse((const char *)data, size, &c, err, sizeof(err)) == GV_OK) {
                /* Whatever was accepted answers the lookups. */
                if (!c || !gv_config_agenda_for_room(c, "!room:example.org"))
                        abort();
                (void)gv_config_agenda_for_tag(c, (const char *)data, size < 64 ? size : 64);
                (void)gv_config_is_prefix(c, size ? (char)data[0] : '#');
        } else if (c || err[0] == '\0') {
                abort();
        }
        gv_config_free(c);
        return 0;
}
