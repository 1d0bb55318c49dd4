/* tests/fuzz/fuzz-irclog.c - any bytes through gv_irclog_parse; every line
 * must have a non-empty nick, valid UTF-8 and a time that never goes back. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../bridge/irclog.h"
#include "../../util/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct gv_irclog *l = NULL;
        size_t i, n;
        int64_t prev = 0;

        if (gv_irclog_parse((const char *)data, size, &l) != GV_OK)
                return 0;
        n = gv_irclog_count(l);
        for (i = 0; i < n; i++) {
                const struct gv_irc_line *ln = gv_irclog_line(l, i);
                size_t nl = strlen(ln->nick), tl = strlen(ln->text);

                if (nl == 0 || !gv_utf8_valid(ln->nick, nl) || !gv_utf8_valid(ln->text, tl) ||
                    ln->ms < prev)
                        abort();
                prev = ln->ms;
        }
        if (gv_irclog_line(l, n) != NULL || gv_irclog_skipped(l) > size ||
            gv_irclog_date(l) < -1)
                abort();
        gv_irclog_free(l);
        return 0;
}
