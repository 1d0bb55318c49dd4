/* tests/unit/test-outbox.c - bridge/outbox.c: the drain the console and the
 * replay share. Rows go out per lane in order; a row that fails for now
 * holds back its own lane only, until its backoff passed; a parked row lets
 * its lane go on; a sink leaves the kinds it does not claim alone. Prints
 * "ok - name" or "FAIL - name: detail" per case and "N passed, M failed". */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bridge/outbox.h"
#include "../../store/store.h"

static unsigned passed, failed;

__attribute__((format(printf, 3, 4)))
static void check(bool ok, const char *name, const char *fmt, ...)
{
        va_list ap;

        if (ok) {
                passed++;
                printf("ok - %s\n", name);
                return;
        }
        failed++;
        printf("FAIL - %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

/* The sink: a row whose body is listed in `later` or `never` fails so;
 * every delivered body is appended to `got`. */
struct fake {
        const char *later, *never;
        char got[512];
};

static bool listed(const char *list, const char *body)
{
        size_t n = strlen(body);

        for (const char *p = list; p && (p = strstr(p, body)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

static enum gv_err deliver(void *ud, const struct gv_out *o, enum gv_delivery *d, char *why,
                           size_t n)
{
        struct fake *f = ud;
        size_t used = strlen(f->got);

        if (listed(f->later, o->body)) {
                *d = GV_DELIVER_LATER;
                snprintf(why, n, "later %s", o->body);
        } else if (listed(f->never, o->body)) {
                *d = GV_DELIVER_NEVER;
                snprintf(why, n, "never %s", o->body);
        } else {
                *d = GV_DELIVERED;
                snprintf(f->got + used, sizeof(f->got) - used, "%s%s", used ? " " : "", o->body);
        }
        return GV_OK;
}

struct rows {
        char s[1024];
};

static int on_row(void *ud, const struct gv_out *o)
{
        struct rows *l = ud;
        size_t used = strlen(l->s);

        snprintf(l->s + used, sizeof(l->s) - used, "%s#%" PRId64 ":%s:%" PRId64 "%s", used ? " " : "",
                 o->id, o->state == GV_OUT_PARKED ? "parked" : "pending", o->attempts,
                 o->last_error ? "!" : "");
        return 0;
}

static const char *waiting_rows(struct gv_store *s, struct rows *l)
{
        memset(l, 0, sizeof(*l));
        if (gv_store_outbox_each(s, on_row, l) != GV_OK)
                snprintf(l->s, sizeof(l->s), "(error)");
        return l->s;
}

#define T0 1700000000000LL

int main(void)
{
        struct gv_store *s = NULL;
        struct fake f;
        struct gv_sink all = { &f, GV_OUT_ALL, deliver };
        struct gv_sink files = { &f, GV_OUT_BIT(GV_OUT_FILE), deliver };
        struct rows l;
        size_t waiting = 0;
        enum gv_err r;

        /* lanes and the backoff */
        {
                struct gv_out a = { .kind = GV_OUT_MESSAGE, .room = "!a" };
                struct gv_out fl = { .kind = GV_OUT_FILE, .room = "x.txt" };

                check(strcmp(gv_outbox_lane(&a), "!a") == 0 && strcmp(gv_outbox_lane(&fl), "") == 0,
                      "a room's rows are its lane, the files one lane", "-");
                check(gv_outbox_backoff(1, 60000) == 1000 && gv_outbox_backoff(2, 60000) == 2000 &&
                      gv_outbox_backoff(3, 60000) == 4000 && gv_outbox_backoff(40, 5000) == 5000 &&
                      gv_outbox_backoff(1, 500) == 500,
                      "the backoff doubles per attempt up to the ceiling", "%" PRId64,
                      gv_outbox_backoff(3, 60000));
        }
        if (gv_store_open(":memory:", &s) != GV_OK) {
                check(false, "open", "-");
                return 1;
        }
        r = gv_store_outbox_add(s, GV_OUT_MESSAGE, "!a", "a1", NULL, NULL, 1);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_MESSAGE, "!b", "b2", NULL, NULL, 2);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_MESSAGE, "!a", "a3", NULL, NULL, 3);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_FILE, "m.txt", "f4", NULL, NULL, 4);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_REACTION, "!b", "b5", NULL, NULL, 5);
        check(r == GV_OK, "rows added", "%s", gv_strerror(r));

        memset(&f, 0, sizeof(f));
        f.later = "a1";
        r = gv_outbox_drain(s, T0, 60000, &all, &waiting);
        check(r == GV_OK && strcmp(f.got, "b2 f4 b5") == 0 && waiting == 2,
              "a failing room backs off alone: its later rows wait, other lanes go on",
              "%s got [%s] waiting %zu", gv_strerror(r), f.got, waiting);
        check(strcmp(waiting_rows(s, &l), "#1:pending:1! #3:pending:0") == 0,
              "the failed row keeps its attempts and reason", "[%s]", l.s);

        memset(&f, 0, sizeof(f));
        r = gv_outbox_drain(s, T0 + 999, 60000, &all, &waiting);
        check(r == GV_OK && f.got[0] == '\0' && waiting == 2, "nothing before the backoff passed",
              "got [%s] waiting %zu", f.got, waiting);

        memset(&f, 0, sizeof(f));
        f.later = "a1";
        r = gv_outbox_drain(s, T0 + 1000, 60000, &all, &waiting);
        check(r == GV_OK && f.got[0] == '\0' && waiting == 2 &&
              strcmp(waiting_rows(s, &l), "#1:pending:2! #3:pending:0") == 0,
              "failing again: a second attempt", "got [%s] [%s]", f.got, l.s);
        memset(&f, 0, sizeof(f));
        r = gv_outbox_drain(s, T0 + 1000 + 1999, 60000, &all, &waiting);
        check(r == GV_OK && f.got[0] == '\0', "the wait doubled", "got [%s]", f.got);
        r = gv_outbox_drain(s, T0 + 1000 + 2000, 60000, &all, &waiting);
        check(r == GV_OK && strcmp(f.got, "a1 a3") == 0 && waiting == 0 &&
              strcmp(waiting_rows(s, &l), "") == 0,
              "once it goes, the lane follows in order", "got [%s] [%s]", f.got, l.s);

        r = gv_store_outbox_add(s, GV_OUT_MESSAGE, "!a", "a6", NULL, NULL, 6);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_MESSAGE, "!a", "a7", NULL, NULL, 7);
        memset(&f, 0, sizeof(f));
        f.never = "a6";
        r = r ? r : gv_outbox_drain(s, T0 + 10000, 60000, &all, &waiting);
        check(r == GV_OK && strcmp(f.got, "a7") == 0 && waiting == 0 &&
              strcmp(waiting_rows(s, &l), "#6:parked:1!") == 0,
              "a row that can never be sent is parked, its lane goes on", "got [%s] [%s]", f.got,
              l.s);
        memset(&f, 0, sizeof(f));
        r = gv_outbox_drain(s, T0 + 20000, 60000, &all, &waiting);
        check(r == GV_OK && f.got[0] == '\0', "a parked row is not tried again", "got [%s]", f.got);
        r = gv_store_outbox_retry(s, 6);
        r = r ? r : gv_outbox_drain(s, T0 + 20000, 60000, &all, &waiting);
        check(r == GV_OK && strcmp(f.got, "a6") == 0 && strcmp(waiting_rows(s, &l), "") == 0,
              "retried, it is sent", "got [%s] [%s]", f.got, l.s);

        r = gv_store_outbox_add(s, GV_OUT_MESSAGE, "!a", "a8", NULL, NULL, 8);
        r = r ? r : gv_store_outbox_add(s, GV_OUT_FILE, "n.txt", "f9", NULL, NULL, 9);
        memset(&f, 0, sizeof(f));
        r = r ? r : gv_outbox_drain(s, T0 + 30000, 60000, &files, &waiting);
        check(r == GV_OK && strcmp(f.got, "f9") == 0 &&
              strcmp(waiting_rows(s, &l), "#8:pending:0") == 0,
              "a sink leaves the kinds it does not claim alone", "got [%s] [%s]", f.got, l.s);

        gv_store_free(s);
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}
