/* bridge/replay.c - see replay.h */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "../handlers/handlers.h"
#include "../handlers/minutes.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "../util/sha256.h"
#include "../util/text.h"
#include "archive.h"
#include "irclog.h"
#include "jobs.h"
#include "outbox.h"
#include "replay.h"

/* A file row written into the batch, not yet durable: marked done in the
 * transaction that commits after the batch's one directory sync. */
struct placed {
        int64_t id, attempts;
        char *name, *extra;
};

struct sink {
        struct gv_store *s;
        const struct gv_config *cfg;
        const char *dir;
        bool quiet;
        unsigned files;
        unsigned failed;
        int64_t now;
        struct gv_archive_batch *batch;         /* the files' pass (write_files) */
        struct placed *placed;
        size_t nplaced;
};

static void placed_free(struct sink *s)
{
        for (size_t i = 0; i < s->nplaced; i++) {
                free(s->placed[i].name);
                free(s->placed[i].extra);
        }
        free(s->placed);
        s->placed = NULL;
        s->nplaced = 0;
}

/* A file in place in the batch: kept for its report once durable. */
static enum gv_err place(struct sink *s, const struct gv_out *o)
{
        struct placed *np = realloc(s->placed, (s->nplaced + 1) * sizeof(*np)), *p;

        if (!np)
                return GV_ENOMEM;
        s->placed = np;
        p = &np[s->nplaced];
        p->id = o->id;
        p->attempts = o->attempts;
        p->name = strdup(o->room);
        p->extra = o->extra ? strdup(o->extra) : NULL;
        if (!p->name || (o->extra && !p->extra)) {
                free(p->name);
                free(p->extra);
                return GV_ENOMEM;
        }
        s->nplaced++;
        return GV_OK;
}

static int64_t wall_ms(void)
{
        return gv_clock_now_ms();
}

static enum gv_err deliver(void *ud, const struct gv_out *o, enum gv_delivery *d, char *why,
                           size_t n)
{
        struct sink *s = ud;
        enum gv_err r;

        *d = GV_DELIVERED;
        if (o->kind == GV_OUT_WIKI || o->kind == GV_OUT_WEBHOOK) {
                r = gv_job_deliver(s->s, s->cfg, o, s->now, d, why, n);
                if (r == GV_OK && *d != GV_DELIVERED)
                        fprintf(stderr, "gavel: %s %s not delivered: %s\n",
                                gv_out_kind_name(o->kind), o->room, why);
                return r;
        }
        if (o->kind != GV_OUT_FILE)
                return GV_OK;   /* the room's messages stay in the log's past */
        if (s->batch) {
                int e;

                errno = 0;
                r = gv_archive_batch_minutes(s->batch, o->room, s->s, s->cfg, o->extra);
                e = errno;
                r = gv_outbox_file_outcome(s->s, s->dir, o, r, e, s->now, d, why, n);
                if (r == GV_OK && *d == GV_DELIVERED)
                        return place(s, o);     /* reported once durable */
        } else {
                r = gv_outbox_write_file(s->s, s->cfg, s->dir, o, s->now, d, why, n);
        }
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

/* The minutes files, in the replay's own transaction: every due file row
 * written into one batch (each file synced and renamed into place),
 * index.html once, the directory synced once; the transaction commits
 * (rows marked done, and with --db the replay recorded) only after that
 * sync. A crash before leaves the replay undone: replayed again, it writes
 * the same files. When the sync fails, the rows are marked as failed
 * instead: pending, retried. */
static enum gv_err write_files(struct sink *sk, int64_t backoff_max_ms)
{
        struct gv_sink files = { sk, GV_OUT_BIT(GV_OUT_FILE), deliver };
        struct gv_archive_batch batch;
        enum gv_err r, fr;
        int e;

        gv_archive_batch_init(&batch, sk->dir);
        sk->batch = &batch;
        r = gv_store_savepoint(sk->s);
        if (r == GV_OK)
                r = gv_outbox_drain(sk->s, sk->now, backoff_max_ms, &files, NULL);
        sk->batch = NULL;
        if (r) {
                gv_archive_batch_free(&batch);
                placed_free(sk);
                return r;
        }
        errno = 0;
        fr = gv_archive_batch_finish(&batch);
        e = errno;
        if (fr == GV_OK) {
                r = gv_store_release(sk->s);
                for (size_t i = 0; r == GV_OK && i < sk->nplaced; i++) {
                        sk->files++;
                        if (!sk->quiet)
                                printf("wrote %s/%s\n", sk->dir, sk->placed[i].name);
                }
                placed_free(sk);
                return r;
        }
        /* not durable: the rows stay pending, each with its failure */
        gv_store_rollback_savepoint(sk->s);
        for (size_t i = 0; r == GV_OK && i < sk->nplaced; i++) {
                struct gv_out o;
                enum gv_delivery d = GV_DELIVER_LATER;
                char why[GV_OUTBOX_WHY_MAX] = "";

                memset(&o, 0, sizeof(o));
                o.id = sk->placed[i].id;
                o.kind = GV_OUT_FILE;
                o.room = sk->placed[i].name;
                o.extra = sk->placed[i].extra;
                o.attempts = sk->placed[i].attempts;
                r = gv_outbox_file_outcome(sk->s, sk->dir, &o, fr, e, sk->now, &d, why,
                                           sizeof(why));
                if (r == GV_OK)
                        r = gv_outbox_settle(sk->s, &o, d, why, sk->now,
                                             sk->now + gv_outbox_backoff(o.attempts + 1,
                                                                         backoff_max_ms));
                fprintf(stderr, "gavel: %s/%s not written: %s\n", sk->dir, o.room, why);
                sk->failed++;
        }
        placed_free(sk);
        return r;
}

/* The whole log, or a message saying what went wrong where. */
static enum gv_err read_all(const char *path, char **data, size_t *len)
{
        struct gv_buf b = GV_BUF_INIT(GV_IRCLOG_MAX_BYTES);
        char chunk[65536];
        struct stat st;
        enum gv_err r = GV_OK;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t n;

        if (fd < 0) {
                fprintf(stderr, "gavel: %s: cannot open the log: %s\n", path, strerror(errno));
                return GV_EIO;
        }
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                fprintf(stderr, "gavel: %s: is a directory, not a MeetBot log file "
                                "(give one .log.txt or .log.html)\n", path);
                close(fd);
                return GV_EIO;
        }
        for (;;) {
                ssize_t got = read(fd, chunk, sizeof(chunk));

                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {
                        fprintf(stderr, "gavel: %s: cannot read the log: %s\n", path,
                                strerror(errno));
                        r = GV_EIO;
                        break;
                }
                if (got == 0)
                        break;
                r = gv_buf_add(&b, chunk, (size_t)got);
                if (r == GV_ETOOBIG)
                        fprintf(stderr, "gavel: %s: larger than %d bytes\n", path,
                                GV_IRCLOG_MAX_BYTES);
                else if (r)
                        fprintf(stderr, "gavel: %s: %s\n", path, gv_strerror(r));
                if (r)
                        break;
        }
        close(fd);
        n = b.len;
        if (r == GV_OK)
                r = gv_buf_steal(&b, data);
        if (r == GV_OK)
                *len = n;
        gv_buf_free(&b);
        return r;
}

/* The output directory: made (owner-only, one level) when missing. */
static int check_out_dir(const char *dir)
{
        struct stat st;

        if (stat(dir, &st) == 0) {
                if (S_ISDIR(st.st_mode))
                        return 0;
                fprintf(stderr, "gavel: --out %s: exists and is not a directory\n", dir);
                return 1;
        }
        if (errno == ENOENT && mkdir(dir, 0700) == 0)
                return 0;
        fprintf(stderr, "gavel: --out %s: cannot create the directory: %s\n", dir, strerror(errno));
        return 1;
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

/* MeetBot's log file name "channel.YYYY-MM-DD-HH.MM.log.txt" (or .html)
 * names its channel: "#channel" into out, else out is left alone. */
static void channel_from_name(const char *path, char *out, size_t cap)
{
        const char *base = strrchr(path, '/');
        size_t n;

        base = base ? base + 1 : path;
        n = strlen(base);
        if (n > 9 && strcmp(base + n - 8, ".log.txt") == 0)
                n -= 8;
        else if (n > 10 && strcmp(base + n - 9, ".log.html") == 0)
                n -= 9;
        else
                return;
        /* ".YYYY-MM-DD-HH.MM" */
        if (n < 18 || base[n - 17] != '.')
                return;
        for (size_t i = 0; i < 16; i++) {
                char c = base[n - 16 + i], want = "0000-00-00-00.00"[i];

                if (want == '0' ? !(c >= '0' && c <= '9') : c != want)
                        return;
        }
        n -= 17;
        if (n + 2 > cap)
                return;
        out[0] = '#';
        memcpy(out + 1, base, n);
        out[n + 1] = '\0';
}

/* The channel a MeetBot .log.html names in its title ("<title>#chan log</title>"),
 * into out; else out is left alone. */
static void channel_from_html(const char *data, size_t len, char *out, size_t cap)
{
        size_t lim = len < 4096 ? len : 4096, i, k = 0;
        const char *t = NULL, *e;

        for (i = 0; i + 7 <= lim; i++)
                if (memcmp(data + i, "<title>", 7) == 0) {
                        t = data + i + 7;
                        break;
                }
        if (!t || t >= data + lim || *t != '#')
                return;
        for (e = t; e + 12 <= data + lim && memcmp(e, " log</title>", 12) != 0; e++)
                if (*e == '<' || *e == '\n')
                        return;
        if (e + 12 > data + lim)
                return;
        for (const char *p = t; p < e && k + 1 < cap; p++) {
                if (*p == '&') {
                        static const struct { const char *ent; char c; } ents[] = {
                                { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
                                { "&quot;", '"' }, { "&#39;", '\'' },
                        };
                        size_t j;

                        for (j = 0; j < sizeof(ents) / sizeof(ents[0]); j++) {
                                size_t n = strlen(ents[j].ent);

                                if ((size_t)(e - p) >= n && memcmp(p, ents[j].ent, n) == 0) {
                                        out[k++] = ents[j].c;
                                        p += n - 1;
                                        break;
                                }
                        }
                        if (j < sizeof(ents) / sizeof(ents[0]))
                                continue;
                }
                out[k++] = *p;
        }
        out[k] = '\0';
}

static bool ignored(const struct gv_config *cfg, const char *nick)
{
        for (size_t i = 0; i < cfg->n_replay_ignore_nicks; i++)
                if (gv_ieq(cfg->replay_ignore_nicks[i], nick))
                        return true;
        return gv_ieq(cfg->bot_name, nick);
}

/* "PREFIX-N", as snprintf("%s-%zu") writes it (which was 2 % of a
 * 10,000-line replay); prefix_len < cap - 22 */
static void line_id(char *out, size_t cap, const char *prefix, size_t prefix_len, size_t n)
{
        char d[24];
        size_t k = sizeof(d);

        do
                d[--k] = (char)('0' + n % 10);
        while ((n /= 10) && k > 0);
        if (prefix_len + 1 + (sizeof(d) - k) + 1 > cap) {
                out[0] = '\0';
                return;
        }
        memcpy(out, prefix, prefix_len);
        out[prefix_len] = '-';
        memcpy(out + prefix_len + 1, d + k, sizeof(d) - k);
        out[prefix_len + 1 + sizeof(d) - k] = '\0';
}

static size_t fnv1a(const char *s)
{
        uint64_t h = 1469598103934665603u;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                h = (h ^ *p) * 1099511628211u;
        return (size_t)h;
}

/* Everyone who speaks in the log, once each (a set of the nicks, exact
 * bytes as the members table keys them): a query per line was 9 % of a
 * 10,000-line replay. */
static enum gv_err members_seen(const struct gv_config *cfg, struct gv_store *s,
                                const struct gv_irclog *log, size_t n)
{
        size_t cap = 64, used = 0;
        const char **set = calloc(cap, sizeof(*set));
        enum gv_err r = GV_OK;

        if (!set)
                return GV_ENOMEM;
        for (size_t i = 0; i < n && r == GV_OK; i++) {
                const char *nick = gv_irclog_line(log, i)->nick;
                size_t k;

                for (k = fnv1a(nick) & (cap - 1); set[k]; k = (k + 1) & (cap - 1))
                        if (strcmp(set[k], nick) == 0)
                                break;
                if (set[k])
                        continue;
                set[k] = nick;
                if (!ignored(cfg, nick))
                        r = gv_store_member_seen(s, "replay", nick, nick);
                if (++used * 2 > cap) {         /* grow: rehash into twice the room */
                        const char **bigger = calloc(cap * 2, sizeof(*bigger));

                        if (!bigger) {
                                r = GV_ENOMEM;
                                break;
                        }
                        for (size_t j = 0; j < cap; j++) {
                                size_t q;

                                if (!set[j])
                                        continue;
                                for (q = fnv1a(set[j]) & (cap * 2 - 1); bigger[q]; q = (q + 1) & (cap * 2 - 1))
                                        ;
                                bigger[q] = set[j];
                        }
                        free(set);
                        set = bigger;
                        cap *= 2;
                }
        }
        free(set);
        return r;
}

int gv_replay_run(const struct gv_config *cfg_in, const struct gv_replay_opts *o)
{
        struct gv_config cfg_copy = *cfg_in;
        const struct gv_config *cfg = &cfg_copy;
        char channel[256];
        struct gv_irclog *log = NULL;
        struct gv_store *s = NULL;
        struct gv_core *core = NULL;
        struct sink sk = { NULL, cfg, o->out_dir ? o->out_dir : ".", o->quiet, 0, 0, 0, NULL,
                           NULL, 0 };
        /* after write_files(): the wiki and webhook rows */
        struct gv_sink sink = { &sk, GV_OUT_ALL & ~GV_OUT_BIT(GV_OUT_FILE), deliver };
        struct gv_meeting m;
        char *data = NULL, *seen_as = NULL;
        char hash[2 * GV_SHA256_LEN + 1], kv_key[2 * GV_SHA256_LEN + 16];
        char id_prefix[2 * GV_SHA256_LEN + 16];
        size_t len = 0, n, prefix_len;
        int64_t day = -1, last = 0;
        int status = 1;
        enum gv_err r;

        memset(&m, 0, sizeof(m));
        /* A one-shot command: what it frees stays in the heap for what it
         * allocates next, instead of going back to the system and faulting
         * in again (a fifth of the page faults of a 10,000-line replay, and
         * of its time in the kernel) */
        (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
        (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
        r = read_all(o->log_path, &data, &len);
        if (r)
                return r == GV_EIO ? 1 : 2;
        /* --channel, else the title of a .log.html, else the log's file name,
         * else "channel" of the config */
        snprintf(channel, sizeof(channel), "%s", cfg_in->channel ? cfg_in->channel : "#meeting");
        if (o->channel) {
                snprintf(channel, sizeof(channel), "%s", o->channel);
        } else {
                char from_html[256] = "";

                channel_from_html(data, len, from_html, sizeof(from_html));
                if (from_html[0])
                        memcpy(channel, from_html, strlen(from_html) + 1);
                else
                        channel_from_name(o->log_path, channel, sizeof(channel));
        }
        cfg_copy.channel = channel;
        /* The log's identity: with --db its events are "$replay-SHA256-N", so
         * that another log replayed into the same database is never taken for
         * this one. A fresh in-memory store needs no identity: "$replay-N"
         * keeps a long log's processed-events table small. */
        if (o->db_path) {
                /* hashed only then: a fresh in-memory store forgets it anyway
                 * (and the hash was 6 % of a 10,000-line replay) */
                gv_sha256_hex(data, len, hash);
                snprintf(kv_key, sizeof(kv_key), "replayed:%s", hash);
                snprintf(id_prefix, sizeof(id_prefix), "$replay-%s", hash);
        } else {
                hash[0] = kv_key[0] = '\0';
                snprintf(id_prefix, sizeof(id_prefix), "$replay");
        }
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
        r = o->db_path ? gv_store_open(o->db_path, &s) : gv_store_open_scratch(&s);
        if (r == GV_OK && o->db_path)
                r = gv_store_kv_get(s, kv_key, &seen_as);
        if (r == GV_OK && seen_as) {
                fprintf(stderr, "gavel: %s: already replayed into %s (as %s, same contents, "
                                "sha256 %.16s...); nothing written\n",
                        o->log_path, o->db_path, seen_as, hash);
                status = 3;
                goto out;
        }
        if (r == GV_OK && check_out_dir(sk.dir))
                goto out;
        if (r == GV_OK)
                r = gv_core_new(s, cfg, &core);
        /* Every line's ID is new: "$replay[-SHA256]-N" and "-end", handled
         * in the one transaction below that also records (with --db) that
         * this log was replayed; a failure rolls it all back. So the
         * processed-events claim, a third of a line's cost, has nothing to
         * catch here. */
        if (r == GV_OK)
                gv_core_fresh_ids(core);
        if (r == GV_OK)
                r = gv_store_begin(s);
        if (r == GV_OK && o->db_path)
                r = gv_store_kv_set(s, kv_key, o->log_path);
        sk.s = s;
        if (r)
                goto fail;
        n = gv_irclog_count(log);
        prefix_len = strlen(id_prefix);
        /* Everyone who speaks in the log is a member of its channel, from
         * the start (for #chair by nick). */
        r = members_seen(cfg, s, log, n);
        if (r)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                const struct gv_irc_line *l = gv_irclog_line(log, i);
                struct gv_event ev;
                char id[128];

                line_id(id, sizeof(id), id_prefix, prefix_len, i + 1);
                if (ignored(cfg, l->nick)) {
                        /* Not handled, but in the meeting's log: MeetBot counts
                         * its own lines among the people present. */
                        r = gv_store_meeting_running(s, "replay", &m);
                        if (r == GV_OK) {
                                int64_t ts = day + l->ms;

                                r = gv_store_line_add(s, m.id, ts < m.started ? m.started : ts,
                                                      l->nick, l->text, l->action, id);
                                gv_meeting_clear(&m);
                                memset(&m, 0, sizeof(m));
                        } else if (r == GV_ENOTFOUND) {
                                r = GV_OK;
                        }
                        if (r)
                                goto fail;
                        continue;
                }
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
                char id[128];

                fprintf(stderr, "gavel: %s: the log ends without #endmeeting; ending the meeting "
                                "at its last line\n", o->log_path);
                memset(&ev, 0, sizeof(ev));
                ev.room = "replay";
                ev.sender = m.starter_id;
                snprintf(id, sizeof(id), "%s-end", id_prefix);
                ev.event_id = id;
                ev.ts = last;
                ev.body = "#endmeeting";
                ev.body_len = strlen(ev.body);
                ev.power = 100;
                r = gv_handle(core, &ev);
        } else if (r == GV_ENOTFOUND) {
                r = GV_OK;
        }
        /* the outbox runs on the wall clock: a file that failed in an
         * earlier replay into the same --db is due again after its backoff */
        sk.now = wall_ms();
        if (r == GV_OK)
                r = write_files(&sk, cfg->backoff_max_ms);
        if (r == GV_OK)
                r = gv_store_commit(s);
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
        fprintf(stderr, "gavel: replay: %s: %s\n", gv_strerror(r), gv_store_errmsg(s));
out:
        free(seen_as);
        gv_meeting_clear(&m);
        gv_core_free(core);
        gv_store_free(s);
        gv_irclog_free(log);
        return status;
}
