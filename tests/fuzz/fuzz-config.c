/* tests/fuzz/fuzz-config.c - any bytes through gv_config_parse(): no crash,
 * no leak; a success gives a config that answers the lookups, a failure
 * leaves *ret alone and says why. */
#include <stdlib.h>

#include "../../util/config.h"
#include "../../util/recur.h"
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
                /* and every series is compiled, with an agenda */
                for (size_t i = 0; i < c->n_series; i++) {
                        struct gv_series_cfg *s = &c->series[i];
                        int64_t occ = 0;
                        char when[64];

                        if (!s->recur || !s->agenda || !s->release_room)
                                abort();
                        if (gv_recur_next(s->recur, 1796601600000, &occ) == GV_OK &&
                            occ <= 1796601600000)
                                abort();
                        (void)gv_recur_local(s->recur, occ, when, sizeof(when));
                }
        } else if (c || err[0] == '\0') {
                abort();
        }
        gv_config_free(c);
        return 0;
}
