/* bridge/replay.c - see replay.h */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../handlers/handlers.h"
#include "../handlers/minutes.h"
#include "../util/log.h"
#include "../util/text.h"
#include "archive.h"
#include "irclog.h"
#include "outbox.h"
#include "replay.h"

struct sink {
        struct gv_store *s;
        const struct gv_config *cfg;
        const char *dir;
        bool quiet;
        unsigned files;
        unsigned failed;
        int64_t now;
};

static int64_t wall_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum gv_err deliver(void *ud, const struct gv_out *o, enum gv_delivery *d, char *why,
                           size_t n)
{
        struct sink *s = ud;
        enum gv_err r;

        *d = GV_DELIVERED;
        if (o->kind != GV_OUT_FILE)
                return GV_OK;   /* the room's messages stay in the log's past */
        r = gv_outbox_write_file(s->s, s->cfg, s->dir, o, s->now, d, why, n);
        if (r == GV_OK && *d == GV_DELIVERED) {
                s->files++;
                if (!s->quiet)
                        printf("wrote %s/%s\n", s->dir, o->room);
        } else if (r == GV_OK) {
                fprintf(stderr, "gavel: %s/%s not written: %s\n", s->dir, o->room, why);
                s->failed++;
        }
        return r;
}

static enum gv_err read_all(const char *path, char **data, size_t *len)
{
        FILE *f = fopen(path, "rb");
        struct gv_buf b = GV_BUF_INIT(GV_IRCLOG_MAX_BYTES);
        char chunk[65536];
        size_t n;
        enum gv_err r = GV_OK;

        if (!f) {
                fprintf(stderr, "gavel: %s: cannot open: %s\n", path, strerror(errno));
                return GV_EIO;
        }
        while (r == GV_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                r = gv_buf_add(&b, chunk, n);
        if (r == GV_OK && ferror(f))
                r = GV_EIO;
        fclose(f);
        if (r == GV_ETOOBIG)
                fprintf(stderr, "gavel: %s: larger than %d bytes\n", path, GV_IRCLOG_MAX_BYTES);
        else if (r)
                fprintf(stderr, "gavel: %s: %s\n", path, gv_strerror(r));
        n = b.len;
        if (r == GV_OK)
                r = gv_buf_steal(&b, data);
        if (r == GV_OK)
                *len = n;
        gv_buf_free(&b);
        return r;
}

/* A "YYYY-MM-DD" anywhere in the file name (MeetBot names its logs so). */
static int64_t date_from_name(const char *path)
{
        const char *base = strrchr(path, '/');
        int64_t ms;

        base = base ? base + 1 : path;
        for (const char *p = base; strlen(p) >= 10; p++) {
                char d[11];

                memcpy(d, p, 10);
                d[10] = '\0';
                if (gv_parse_date(d, &ms) == GV_OK)
                        return ms;
        }
        return -1;
}

static bool ignored(const struct gv_config *cfg, const char *nick)
{
        for (size_t i = 0; i < cfg->n_replay_ignore_nicks; i++)
                if (gv_ieq(cfg->replay_ignore_nicks[i], nick))
                        return true;
        return gv_ieq(cfg->bot_name, nick);
}

int gv_replay_run(const struct gv_config *cfg, const struct gv_replay_opts *o)
{
        struct gv_irclog *log = NULL;
        struct gv_store *s = NULL;
        struct gv_core *core = NULL;
        struct sink sk = { NULL, cfg, o->out_dir ? o->out_dir : ".", o->quiet, 0, 0, 0 };
        struct gv_sink sink = { &sk, GV_OUT_ALL, deliver };
        struct gv_meeting m;
        char *data = NULL;
        size_t len = 0, n;
        int64_t day = -1, last = 0;
        int status = 1;
        enum gv_err r;

        memset(&m, 0, sizeof(m));
        r = read_all(o->log_path, &data, &len);
        if (r)
                return r == GV_EIO ? 1 : 2;
        r = gv_irclog_parse(data, len, &log);
        free(data);
        if (r) {
                fprintf(stderr, "gavel: %s: %s\n", o->log_path, gv_strerror(r));
                return 2;
        }
        if (o->date && gv_parse_date(o->date, &day) != GV_OK) {
                fprintf(stderr, "gavel: --date %s: expected YYYY-MM-DD\n", o->date);
                status = 2;
                goto out;
        }
        if (day < 0)
                day = gv_irclog_date(log);
        if (day < 0)
                day = date_from_name(o->log_path);
        if (day < 0) {
                fprintf(stderr, "gavel: %s: cannot tell the log's date (no \"Meeting started\" "
                                "line, no YYYY-MM-DD in the name); pass --date YYYY-MM-DD\n",
                        o->log_path);
                status = 2;
                goto out;
        }
        r = gv_store_open(o->db_path ? o->db_path : ":memory:", &s);
        if (r == GV_OK)
                r = gv_core_new(s, cfg, &core);
        if (r == GV_OK)
                r = gv_store_begin(s);
        sk.s = s;
        if (r)
                goto fail;
        n = gv_irclog_count(log);
        for (size_t i = 0; i < n; i++) {
                const struct gv_irc_line *l = gv_irclog_line(log, i);
                struct gv_event ev;
                char id[40];

                if (ignored(cfg, l->nick))
                        continue;
                snprintf(id, sizeof(id), "$replay-%zu", i + 1);
                memset(&ev, 0, sizeof(ev));
                ev.room = "replay";
                ev.sender = l->nick;
                ev.event_id = id;
                ev.ts = day + l->ms;
                ev.msgtype = l->action ? "m.emote" : "m.text";
                ev.body = l->text;
                ev.body_len = strlen(l->text);
                last = ev.ts;
                r = gv_handle(core, &ev);
                if (r)
                        goto fail;
        }
        if (!o->quiet)
                printf("%zu lines replayed, %zu skipped\n", n, gv_irclog_skipped(log));
        log = gv_irclog_free(log); /* the store has it all now */
        /* A log cut off before #endmeeting still gets its minutes. */
        r = gv_store_meeting_running(s, "replay", &m);
        if (r == GV_OK) {
                struct gv_event ev;

                fprintf(stderr, "gavel: %s: the log ends without #endmeeting; ending the meeting "
                                "at its last line\n", o->log_path);
                memset(&ev, 0, sizeof(ev));
                ev.room = "replay";
                ev.sender = m.starter;
                ev.event_id = "$replay-end";
                ev.ts = last;
                ev.body = "#endmeeting";
                ev.body_len = strlen(ev.body);
                ev.power = 100;
                r = gv_handle(core, &ev);
        } else if (r == GV_ENOTFOUND) {
                r = GV_OK;
        }
        if (r == GV_OK)
                r = gv_store_commit(s);
        /* the outbox runs on the wall clock: a file that failed in an
         * earlier replay into the same --db is due again after its backoff */
        sk.now = wall_ms();
        if (r == GV_OK)
                r = gv_outbox_drain(s, sk.now, cfg->backoff_max_ms, &sink, NULL);
        if (r)
                goto fail;
        if (sk.failed) {
                /* kept pending: with --db a later replay or run writes them */
                fprintf(stderr, "gavel: %u minutes file%s not written to %s\n", sk.failed,
                        sk.failed == 1 ? "" : "s", sk.dir);
                status = 1;
                goto out;
        }
        if (sk.files == 0) {
                fprintf(stderr, "gavel: %s: no meeting in this log (no #startmeeting)\n",
                        o->log_path);
                status = 2;
                goto out;
        }
        status = 0;
        goto out;
fail:
        fprintf(stderr, "gavel: replay: %s%s%s\n", gv_strerror(r), s ? ": " : "",
                s ? gv_store_errmsg(s) : "");
out:
        gv_meeting_clear(&m);
        gv_core_free(core);
        gv_store_free(s);
        gv_irclog_free(log);
        return status;
}
