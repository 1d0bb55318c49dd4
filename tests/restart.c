/* tests/restart.c - crash safety of the console bot (DESIGN.md, "Exactly once").
 *
 *   restart GAVEL SCRIPT [--cuts K] [--bursts N] [--seed S]
 *
 * 1. Reference: `GAVEL --shell` runs SCRIPT uninterrupted in a fresh directory;
 *    its stdout and minutes files are kept. Every prefix of SCRIPT is run the
 *    same way, which tells, without any timing, which output each input line
 *    produces and where it starts.
 * 2. K cut rounds (default 8; they include right after #startmeeting and
 *    right before #endmeeting): the first part of SCRIPT is sent line by line,
 *    waiting after each line that produces output until that output has
 *    arrived; then SIGKILL.
 * 3. N burst rounds (default 8, seeded): the script up to a random line, then
 *    20 lines in one write and SIGKILL 0-2 ms later (gavel commits a line in
 *    about 0.1 ms), mostly mid-burst.
 * After each kill a throwaway gavel opens a *copy* of the database and tags
 * one line in another room; its reaction names the event "$console-N", so
 * N - 1 messages had been committed (the original database is not touched).
 * gavel then restarts on the same database with the console state those
 * lines left (/as, /room, /power and the /at clock: +1 s per message) and the
 * rest of the script. The minutes directory must equal the reference byte for
 * byte, and the two runs' stdout must cover the reference's exactly once,
 * except that the row being delivered at the kill may be printed again: the
 * outbox marks a row sent after delivering it (at least once), and a console
 * has no transaction ID to deduplicate with. So the overlap must start at a
 * line start and lie within the output of one input line. The cut rounds also
 * check that the committed count is exactly the number of messages sent.
 *
 * Timeouts are for inactivity (10 s; under valgrind, seen in LD_PRELOAD,
 * x10 and the burst delays x50). Children are killed
 * on every path; temporary directories are removed unless killed by a signal.
 * Prints one line per round, then "N passed, M failed"; exit 1 on failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define BURST_LINES 20
#define MAX_DELAY_US 2000
#define MAX_SCRIPT_LINES 10000
#define MAX_OUTPUT (64u << 20)
#define WANT_EOF SIZE_MAX
#define PROBE_ROOM "restart-probe"

static const char config_json[] =
        "{\n"
        "  \"database\": \"gavel.db\",\n"
        "  \"archive_dir\": \"minutes\",\n"
        "  \"bot_name\": \"gavel\",\n"
        "  \"tags\": {\"architecture\": \"architecture\"},\n"
        "  \"ack\": \"reaction\",\n"
        "  \"crosspost_rooms\": [],\n"
        "  \"log_level\": \"error\"\n"
        "}\n";

static char gavel[PATH_MAX];
static char config[PATH_MAX];
static char base[PATH_MAX];
static int timeout_ms = 10000;

/* Children alive now, for the signal handler; at most one at a time in
 * practice. */
static volatile pid_t live[4];

/* ---- small buffers ---- */

struct buf {
        char *p;
        size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *p;

                while (cap < b->len + n + 1)
                        cap *= 2;
                if (cap > MAX_OUTPUT)
                        return -1;
                p = realloc(b->p, cap);
                if (!p)
                        return -1;
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
        return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
        return buf_add(b, s, strlen(s));
}

static void buf_free(struct buf *b)
{
        free(b->p);
        memset(b, 0, sizeof(*b));
}

/* A round's verdict, one line. */
struct note {
        char text[1024];
        bool failed;
};

__attribute__((format(printf, 3, 4)))
static void notef(struct note *n, bool failure, const char *fmt, ...)
{
        size_t len = strlen(n->text);
        va_list ap;

        if (n->failed)
                return;                 /* the first failure is the verdict */
        if (failure) {
                n->failed = true;
                len = 0;
        } else if (len && len + 2 < sizeof(n->text)) {
                memcpy(n->text + len, "; ", 3);
                len += 2;
        }
        va_start(ap, fmt);
        vsnprintf(n->text + len, sizeof(n->text) - len, fmt, ap);
        va_end(ap);
}

/* ---- files ---- */

static int write_file(const char *path, const char *data, size_t len)
{
        FILE *f = fopen(path, "wb");

        if (!f)
                return -1;
        if (fwrite(data, 1, len, f) != len) {
                fclose(f);
                return -1;
        }
        return fclose(f) == 0 ? 0 : -1;
}

static int read_file(const char *path, struct buf *b)
{
        char chunk[65536];
        FILE *f = fopen(path, "rb");
        size_t k;
        int r = 0;

        if (!f)
                return -1;
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
                if (buf_add(b, chunk, k) != 0) {
                        r = -1;
                        break;
                }
        if (ferror(f))
                r = -1;
        fclose(f);
        if (r == 0 && !b->p)
                r = buf_add(b, "", 0);
        return r;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        remove(path);
        return 0;
}

static void rm_rf(const char *path)
{
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int path_join(char *out, const char *dir, const char *name)
{
        return (size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_size(const void *a, const void *b)
{
        size_t x = *(const size_t *)a, y = *(const size_t *)b;

        return x < y ? -1 : x > y;
}

/* Sorted names in dir (hidden ones too); a missing dir lists nothing. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t cap = 0;

        *names = NULL;
        *n = 0;
        if (!d)
                return errno == ENOENT ? 0 : -1;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (*n == cap) {
                        char **p = realloc(*names, (cap = cap ? cap * 2 : 16) * sizeof(*p));

                        if (!p)
                                break;
                        *names = p;
                }
                if (!((*names)[*n] = strdup(de->d_name)))
                        break;
                (*n)++;
        }
        closedir(d);
        if (*n)
                qsort(*names, *n, sizeof(**names), cmp_str);
        return 0;
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

static size_t line_of(const char *p, size_t off)
{
        size_t line = 1;

        for (size_t i = 0; i < off; i++)
                line += p[i] == '\n';
        return line;
}

/* The minutes directories must hold the same names with the same bytes. */
static void compare_dirs(const char *ref, const char *dir, struct note *note, size_t *nfiles)
{
        char **a = NULL, **b = NULL;
        size_t na = 0, nb = 0;

        *nfiles = 0;
        if (list_dir(ref, &a, &na) != 0 || list_dir(dir, &b, &nb) != 0) {
                notef(note, true, "cannot list %s or %s", ref, dir);
                goto out;
        }
        for (size_t i = 0, j = 0; i < na || j < nb;) {
                int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
                char pa[PATH_MAX], pb[PATH_MAX];
                struct buf fa = { 0 }, fb = { 0 };
                size_t k = 0;

                if (c < 0) {
                        notef(note, true, "minutes file %s is missing", a[i]);
                        goto out;
                }
                if (c > 0) {
                        notef(note, true, "unexpected file %s in the minutes directory", b[j]);
                        goto out;
                }
                if (path_join(pa, ref, a[i]) || path_join(pb, dir, b[j]) ||
                    read_file(pa, &fa) != 0 || read_file(pb, &fb) != 0) {
                        notef(note, true, "cannot read %s", a[i]);
                        buf_free(&fa);
                        buf_free(&fb);
                        goto out;
                }
                while (k < fa.len && k < fb.len && fa.p[k] == fb.p[k])
                        k++;
                if (k < fa.len || k < fb.len)
                        notef(note, true, "%s differs from the uninterrupted run at line %zu",
                              a[i], line_of(fa.p, k));
                buf_free(&fa);
                buf_free(&fb);
                if (note->failed)
                        goto out;
                i++;
                j++;
                (*nfiles)++;
        }
out:
        free_names(a, na);
        free_names(b, nb);
}

/* ---- children ---- */

static void track(pid_t pid, bool add)
{
        for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
                if (add && live[i] == 0) {
                        live[i] = pid;
                        return;
                }
                if (!add && live[i] == pid) {
                        live[i] = 0;
                        return;
                }
        }
}

static void on_signal(int sig)
{
        for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
                if (live[i] > 0)
                        kill(live[i], SIGKILL);
        signal(sig, SIG_DFL);
        raise(sig);
}

struct proc {
        pid_t pid;      /* 0 once reaped */
        int in;         /* its stdin; -1 once closed */
        int out;        /* its stdout; -1 at EOF */
        int status;     /* from waitpid */
        struct buf o;   /* all it printed */
};

static void proc_close_in(struct proc *p)
{
        if (p->in >= 0)
                close(p->in);
        p->in = -1;
}

static void proc_reap(struct proc *p, bool block)
{
        pid_t w;

        if (p->pid <= 0)
                return;
        do
                w = waitpid(p->pid, &p->status, block ? 0 : WNOHANG);
        while (w < 0 && errno == EINTR);
        if (w == p->pid || (w < 0 && errno == ECHILD)) {
                track(p->pid, false);
                p->pid = 0;
        }
}

/* Kills (if still running) and reaps; safe on every path. */
static void proc_free(struct proc *p)
{
        if (p->pid > 0) {
                kill(p->pid, SIGKILL);
                proc_reap(p, true);
        }
        proc_close_in(p);
        if (p->out >= 0)
                close(p->out);
        p->out = -1;
        buf_free(&p->o);
}

/* Starts `gavel --shell --config CONFIG` in dir with pipes on stdin/stdout. */
static int proc_start(struct proc *p, const char *dir)
{
        int in[2] = { -1, -1 }, out[2] = { -1, -1 };
        char *argv[] = { gavel, "--shell", "--config", config, NULL };

        memset(p, 0, sizeof(*p));
        p->in = p->out = -1;
        if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
                goto fail;
        p->pid = fork();
        if (p->pid < 0)
                goto fail;
        if (p->pid == 0) {
#ifdef __linux__
                prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
                signal(SIGPIPE, SIG_DFL);
                if (chdir(dir) != 0 || dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
                        _exit(126);
                execv(gavel, argv);
                _exit(127);
        }
        track(p->pid, true);
        close(in[0]);
        close(out[1]);
        p->in = in[1];
        p->out = out[0];
        fcntl(p->in, F_SETFL, O_NONBLOCK);
        fcntl(p->out, F_SETFL, O_NONBLOCK);
        return 0;
fail:
        fprintf(stderr, "restart: cannot start %s: %s\n", gavel, strerror(errno));
        for (int i = 0; i < 2; i++) {
                if (in[i] >= 0)
                        close(in[i]);
                if (out[i] >= 0)
                        close(out[i]);
        }
        p->pid = 0;
        return -1;
}

enum pump_result { PUMP_OK = 0, PUMP_TIMEOUT, PUMP_EOF, PUMP_EPIPE, PUMP_ERR };

static const char *pump_what(enum pump_result r)
{
        switch (r) {
        case PUMP_OK:
                return "ok";
        case PUMP_TIMEOUT:
                return "no progress for the timeout";
        case PUMP_EOF:
                return "gavel closed its stdout early";
        case PUMP_EPIPE:
                return "gavel stopped reading its stdin";
        case PUMP_ERR:
                break;
        }
        return "I/O error";
}

/* Writes data to p's stdin while reading its stdout, until everything is
 * written and p->o.len >= want (want == WANT_EOF: until its stdout closes).
 * The timeout counts time without progress, so a slow machine is fine as
 * long as gavel moves. */
static enum pump_result pump(struct proc *p, const char *data, size_t len, size_t want)
{
        size_t off = 0;

        for (;;) {
                struct pollfd fds[2];
                nfds_t n = 0;
                int w = -1, rd = -1, k;

                if (off < len && p->in >= 0) {
                        fds[n] = (struct pollfd){ .fd = p->in, .events = POLLOUT };
                        w = (int)n++;
                }
                if (p->out >= 0 && (want == WANT_EOF || p->o.len < want)) {
                        fds[n] = (struct pollfd){ .fd = p->out, .events = POLLIN };
                        rd = (int)n++;
                }
                if (n == 0)
                        break;
                k = poll(fds, n, timeout_ms);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return PUMP_ERR;
                if (k == 0)
                        return PUMP_TIMEOUT;
                if (w >= 0 && (fds[w].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t x = write(p->in, data + off, len - off);

                        if (x > 0)
                                off += (size_t)x;
                        else if (x < 0 && errno == EPIPE)
                                return PUMP_EPIPE;
                        else if (x < 0 && errno != EAGAIN && errno != EINTR)
                                return PUMP_ERR;
                }
                if (rd >= 0 && (fds[rd].revents & (POLLIN | POLLERR | POLLHUP))) {
                        char chunk[65536];
                        ssize_t x = read(p->out, chunk, sizeof(chunk));

                        if (x > 0) {
                                if (buf_add(&p->o, chunk, (size_t)x) != 0)
                                        return PUMP_ERR;
                        } else if (x == 0) {
                                close(p->out);
                                p->out = -1;
                        } else if (errno != EAGAIN && errno != EINTR) {
                                return PUMP_ERR;
                        }
                }
        }
        if (off < len)
                return PUMP_EPIPE;
        if (want != WANT_EOF && p->o.len < want)
                return PUMP_EOF;
        return PUMP_OK;
}

/* Closes stdin, reads to EOF and reaps. 0 when gavel exited with status 0. */
static int proc_finish(struct proc *p, struct note *note, const char *what)
{
        enum pump_result r;

        proc_close_in(p);
        r = pump(p, NULL, 0, WANT_EOF);
        if (r != PUMP_OK) {
                notef(note, true, "%s: %s", what, pump_what(r));
                return -1;
        }
        for (int waited = 0; p->pid > 0; waited += 10) {
                proc_reap(p, false);
                if (p->pid > 0 && waited >= timeout_ms) {
                        notef(note, true, "%s: gavel did not exit after closing its stdout", what);
                        return -1;
                }
                if (p->pid > 0)
                        nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
        }
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
                notef(note, true, "%s: gavel %s %d", what,
                      WIFEXITED(p->status) ? "exited with status" : "died of signal",
                      WIFEXITED(p->status) ? WEXITSTATUS(p->status) : WTERMSIG(p->status));
                return -1;
        }
        return 0;
}

/* SIGKILL, reap, then collect what it had printed before dying. */
static int proc_crash(struct proc *p, struct note *note)
{
        enum pump_result r;

        if (p->pid > 0)
                kill(p->pid, SIGKILL);
        proc_reap(p, true);
        proc_close_in(p);
        if (!WIFSIGNALED(p->status) || WTERMSIG(p->status) != SIGKILL) {
                notef(note, true, "gavel was gone before the SIGKILL (%s %d)",
                      WIFEXITED(p->status) ? "exit status" : "signal",
                      WIFEXITED(p->status) ? WEXITSTATUS(p->status) : WTERMSIG(p->status));
                return -1;
        }
        r = pump(p, NULL, 0, WANT_EOF);
        if (r != PUMP_OK) {
                notef(note, true, "reading after the kill: %s", pump_what(r));
                return -1;
        }
        return 0;
}

/* One uninterrupted run of input in dir; stdout into out. */
static int run_whole(const char *dir, const char *input, size_t len, struct buf *out,
                     struct note *note)
{
        struct proc p;
        enum pump_result r;
        int rc = -1;

        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                notef(note, true, "mkdir %s: %s", dir, strerror(errno));
                return -1;
        }
        if (proc_start(&p, dir) != 0) {
                notef(note, true, "cannot start gavel");
                return -1;
        }
        r = pump(&p, input, len, 0);
        if (r != PUMP_OK)
                notef(note, true, "writing the script: %s", pump_what(r));
        else if (proc_finish(&p, note, "uninterrupted run") == 0)
                rc = 0;
        if (rc == 0) {
                *out = p.o;
                memset(&p.o, 0, sizeof(p.o));
        }
        proc_free(&p);
        return rc;
}

/* ---- the script, as the console reads it ---- */

enum kind { L_BLANK, L_STATE, L_AT, L_MSG };

struct script {
        char **line;            /* without the newline */
        enum kind *kind;
        size_t n;
        size_t *msgs;           /* msgs[i]: messages in lines [0, i) */
        size_t start, end;      /* lines of #startmeeting and #endmeeting */
};

static bool has_word(const char *line, const char *w)
{
        size_t n = strlen(w);

        return strncmp(line, w, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

static int classify(const char *line, enum kind *k)
{
        if (!*line)
                *k = L_BLANK;
        else if (line[0] != '/' || line[1] == '/')
                *k = L_MSG;
        else if (has_word(line, "/me") && line[3] == ' ' && line[4])
                *k = L_MSG;
        else if (has_word(line, "/as") || has_word(line, "/room") || has_word(line, "/power"))
                *k = L_STATE;
        else if (has_word(line, "/at"))
                *k = L_AT;
        else
                return -1;      /* /quit, /help, ...: not for this test */
        return 0;
}

static void script_free(struct script *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->line[i]);
        free(s->line);
        free(s->kind);
        free(s->msgs);
        memset(s, 0, sizeof(*s));
}

static int script_load(const char *path, struct script *s, struct buf *text)
{
        size_t i = 0;
        bool have_start = false, have_end = false;

        memset(s, 0, sizeof(*s));
        if (read_file(path, text) != 0) {
                fprintf(stderr, "restart: cannot read %s\n", path);
                return -1;
        }
        for (size_t k = 0; k < text->len; k++)
                s->n += text->p[k] == '\n';
        if (text->len && text->p[text->len - 1] != '\n')
                s->n++;
        if (s->n == 0 || s->n > MAX_SCRIPT_LINES) {
                fprintf(stderr, "restart: %s: want 1 to %d lines\n", path, MAX_SCRIPT_LINES);
                return -1;
        }
        s->line = calloc(s->n, sizeof(*s->line));
        s->kind = calloc(s->n, sizeof(*s->kind));
        s->msgs = calloc(s->n + 1, sizeof(*s->msgs));
        if (!s->line || !s->kind || !s->msgs)
                return -1;
        for (const char *p = text->p; i < s->n; i++) {
                const char *nl = memchr(p, '\n', (size_t)(text->p + text->len - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(text->p + text->len - p);

                if (!(s->line[i] = strndup(p, len)))
                        return -1;
                if (classify(s->line[i], &s->kind[i]) != 0) {
                        fprintf(stderr, "restart: %s:%zu: unsupported directive '%s'\n", path,
                                i + 1, s->line[i]);
                        return -1;
                }
                s->msgs[i + 1] = s->msgs[i] + (s->kind[i] == L_MSG);
                if (has_word(s->line[i], "#startmeeting") && !have_start) {
                        s->start = i;
                        have_start = true;
                }
                if (has_word(s->line[i], "#endmeeting")) {
                        s->end = i;
                        have_end = true;
                }
                p = nl ? nl + 1 : p + len;
        }
        if (!have_start || !have_end || s->end <= s->start + 1 || s->kind[0] != L_AT) {
                fprintf(stderr, "restart: %s must start with /at and hold #startmeeting, "
                                "then #endmeeting\n", path);
                return -1;
        }
        return 0;
}

/* Proleptic Gregorian calendar, days since 1970-01-01 (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned)(y - era * 400);
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
        int64_t era;
        unsigned doe, yoe, doy, mp;

        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = (unsigned)(z - era * 146097);
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = doy - (153 * mp + 2) / 5 + 1;
        *m = mp < 10 ? mp + 3 : mp - 9;
        *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t n, unsigned max, unsigned *out)
{
        unsigned v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (v > max)
                return -1;
        *out = v;
        return 0;
}

static int parse_hms(const char *s, int64_t *ms)
{
        unsigned h, mi, se;

        if (strlen(s) != 8 || s[2] != ':' || s[5] != ':' || digits(s, 2, 23, &h) ||
            digits(s + 3, 2, 59, &mi) || digits(s + 6, 2, 59, &se))
                return -1;
        *ms = ((int64_t)h * 3600 + mi * 60 + se) * 1000;
        return 0;
}

/* The console's /at: "YYYY-MM-DD HH:MM:SS", "...THH:MM:SS" or "HH:MM:SS". */
static int parse_at(const char *arg, int64_t clock, int64_t *out)
{
        unsigned y, m, d;
        int64_t tod;

        if (strlen(arg) == 19 && (arg[10] == ' ' || arg[10] == 'T') && arg[4] == '-' &&
            arg[7] == '-' && !digits(arg, 4, 9999, &y) && !digits(arg + 5, 2, 12, &m) &&
            !digits(arg + 8, 2, 31, &d) && m && d && !parse_hms(arg + 11, &tod)) {
                *out = days_from_civil(y, m, d) * 86400000 + tod;
                return 0;
        }
        if (clock && !parse_hms(arg, &tod)) {
                *out = clock - clock % 86400000 + tod;
                return 0;
        }
        return -1;
}

/* The second run's input after m committed messages: the console state the
 * first part left (not stored in the database), the clock the uninterrupted
 * run would have at that point, then the rest of the script. */
static int resume_input(const struct script *s, size_t m, struct buf *out, size_t *from)
{
        const char *as = NULL, *room = NULL, *power = NULL;
        int64_t clock = 0;
        size_t i = 0;

        while (i < s->n && s->msgs[i] < m) {
                if (s->kind[i] == L_STATE) {
                        const char **slot = s->line[i][1] == 'a' ? &as :
                                            s->line[i][1] == 'r' ? &room : &power;

                        *slot = s->line[i];
                } else if (s->kind[i] == L_AT) {
                        if (parse_at(s->line[i] + 4, clock, &clock) != 0)
                                return -1;
                } else if (s->kind[i] == L_MSG && clock) {
                        clock += 1000;
                }
                i++;
        }
        *from = i;
        if ((as && (buf_adds(out, as) || buf_adds(out, "\n"))) ||
            (room && (buf_adds(out, room) || buf_adds(out, "\n"))) ||
            (power && (buf_adds(out, power) || buf_adds(out, "\n"))))
                return -1;
        if (clock) {
                int64_t y;
                unsigned mo, d, sec = (unsigned)(clock % 86400000 / 1000);
                char at[64];

                civil_from_days(clock / 86400000, &y, &mo, &d);
                snprintf(at, sizeof(at), "/at %04" PRId64 "-%02u-%02u %02u:%02u:%02u\n", y, mo, d,
                         sec / 3600, sec / 60 % 60, sec % 60);
                if (buf_adds(out, at))
                        return -1;
        }
        for (; i < s->n; i++)
                if (buf_adds(out, s->line[i]) || buf_adds(out, "\n"))
                        return -1;
        return 0;
}

/* ---- the checks ---- */

struct ref {
        struct buf out;         /* stdout of the uninterrupted run */
        size_t *after;          /* after[i]: its length after lines [0, i) */
        char dir[PATH_MAX];     /* where it ran */
        char mdir[PATH_MAX];    /* its minutes */
};

/* Which line's output holds byte off of the reference stdout. */
static size_t chunk_of(const struct script *s, const struct ref *ref, size_t off)
{
        size_t i = 0;

        while (i < s->n && ref->after[i + 1] <= off)
                i++;
        return i;
}

/* out1 + out2 must be the reference output with nothing lost, nothing
 * reordered, and at most the row in flight at the kill printed twice. */
static void check_stdout(const struct script *s, const struct ref *ref, const struct buf *o1,
                         const struct buf *o2, struct note *note, size_t *again)
{
        size_t p1 = o1->len, st;

        *again = 0;
        if (p1 > ref->out.len || memcmp(o1->p ? o1->p : "", ref->out.p, p1) != 0) {
                notef(note, true, "the killed run printed something the uninterrupted run did "
                                  "not (first run, stdout line %zu)",
                      line_of(o1->p, p1 ? p1 - 1 : 0));
                return;
        }
        if (o2->len > ref->out.len ||
            memcmp(o2->p ? o2->p : "", ref->out.p + ref->out.len - o2->len, o2->len) != 0) {
                notef(note, true, "the restarted run's stdout is not the end of the "
                                  "uninterrupted run's");
                return;
        }
        st = ref->out.len - o2->len;
        if (st > p1) {
                notef(note, true, "output lost across the crash: stdout lines %zu-%zu of the "
                                  "uninterrupted run were never printed",
                      line_of(ref->out.p, p1) , line_of(ref->out.p, st - 1));
                return;
        }
        if (st == p1)
                return;
        if (st > 0 && ref->out.p[st - 1] != '\n') {
                notef(note, true, "the restarted run starts in the middle of a line");
                return;
        }
        if (chunk_of(s, ref, st) != chunk_of(s, ref, p1 - 1)) {
                notef(note, true, "output printed twice across the crash spans more than one "
                                  "input line's output (stdout lines %zu-%zu)",
                      line_of(ref->out.p, st), line_of(ref->out.p, p1 - 1));
                return;
        }
        *again = line_of(ref->out.p, p1) - line_of(ref->out.p, st) + (ref->out.p[p1 - 1] != '\n');
}

/* Committed messages in dir's database, asked of a throwaway copy. */
static int probe(const char *dir, size_t *m, struct note *note)
{
        static const char input[] = "/room " PROBE_ROOM "\n#architecture restart probe\n";
        char pdir[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
        char **names = NULL;
        size_t n = 0;
        struct buf out = { 0 };
        const char *last = NULL, *key = " to $console-";
        int rc = -1;

        if (path_join(pdir, dir, "probe") != 0 || mkdir(pdir, 0755) != 0 ||
            list_dir(dir, &names, &n) != 0) {
                notef(note, true, "cannot make %s/probe", dir);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                struct buf f = { 0 };
                int bad;

                if (strncmp(names[i], "gavel.db", 8) != 0 || strcmp(names[i], "gavel.db-shm") == 0)
                        continue;
                bad = path_join(src, dir, names[i]) || path_join(dst, pdir, names[i]) ||
                      read_file(src, &f) || write_file(dst, f.p, f.len);
                buf_free(&f);
                if (bad) {
                        notef(note, true, "cannot copy %s", names[i]);
                        goto out;
                }
        }
        if (run_whole(pdir, input, sizeof(input) - 1, &out, note) != 0)
                goto out;
        for (const char *p = out.p; p && (p = strstr(p, "* gavel reacts ")); p++)
                last = p;
        /* the probe's reaction is the last line, after what the restart drained */
        if (last && !strchr(last, '\n')[1] && (last = strstr(last, key)) &&
            (last += strlen(key)) && *last >= '1' && *last <= '9') {
                unsigned long long v = strtoull(last, NULL, 10);

                *m = (size_t)v - 1;
                rc = 0;
        } else {
                notef(note, true, "the probe got no reaction naming $console-N");
        }
out:
        buf_free(&out);
        free_names(names, n);
        rm_rf(pdir);
        return rc;
}

/* ---- rounds ---- */

struct round {
        bool burst;
        size_t cut;             /* cut: lines [0, cut) go to the first run */
        size_t from, to;        /* burst: lines [from, to) in one write */
        unsigned delay_us;      /* burst: SIGKILL this long after the write */
};

/* The restart and the checks common to both kinds of round. */
static void finish_round(const struct script *s, const struct ref *ref, const char *dir,
                         const struct buf *o1, size_t m, struct note *note)
{
        struct buf input = { 0 };
        struct proc p;
        size_t from = 0, nfiles = 0, again = 0;
        char mdir[PATH_MAX];

        memset(&p, 0, sizeof(p));
        p.in = p.out = -1;
        if (resume_input(s, m, &input, &from) != 0) {
                notef(note, true, "cannot build the restart input");
                goto out;
        }
        if (proc_start(&p, dir) != 0) {
                notef(note, true, "cannot restart gavel");
                goto out;
        }
        {
                enum pump_result r = pump(&p, input.p, input.len, 0);

                if (r != PUMP_OK) {
                        notef(note, true, "restart: writing the rest: %s", pump_what(r));
                        goto out;
                }
        }
        if (proc_finish(&p, note, "restarted run") != 0)
                goto out;
        if (o1->len > ref->after[from]) {
                notef(note, true, "the killed run printed output of line %zu, which it had not "
                                  "committed", chunk_of(s, ref, ref->after[from]) + 1);
                goto out;
        }
        if (path_join(mdir, dir, "minutes") != 0)
                goto out;
        compare_dirs(ref->mdir, mdir, note, &nfiles);
        if (note->failed)
                goto out;
        check_stdout(s, ref, o1, &p.o, note, &again);
        if (note->failed)
                goto out;
        notef(note, false, "restarted at line %zu; %zu minutes files identical", from + 1, nfiles);
        if (again)
                notef(note, false, "%zu stdout line%s of the row in flight printed again", again,
                      again == 1 ? "" : "s");
        else
                notef(note, false, "stdout exactly once");
out:
        proc_free(&p);
        buf_free(&input);
}

static void run_round(const struct script *s, const struct ref *ref, const struct round *rd,
                      size_t num, struct note *note)
{
        char dir[PATH_MAX], name[32];
        struct proc p;
        size_t m = 0;
        enum pump_result r;

        memset(&p, 0, sizeof(p));
        p.in = p.out = -1;
        snprintf(name, sizeof(name), "round-%zu", num);
        if (path_join(dir, base, name) != 0 || mkdir(dir, 0755) != 0) {
                notef(note, true, "cannot make %s", name);
                return;
        }
        if (proc_start(&p, dir) != 0) {
                notef(note, true, "cannot start gavel");
                goto out;
        }
        if (!rd->burst) {
                /* line by line; after a line with output, wait for all of it */
                for (size_t i = 0; i < rd->cut; i++) {
                        struct buf l = { 0 };

                        r = buf_adds(&l, s->line[i]) || buf_adds(&l, "\n") ? PUMP_ERR :
                            pump(&p, l.p, l.len, ref->after[i + 1]);
                        buf_free(&l);
                        if (r != PUMP_OK) {
                                notef(note, true, "line %zu: %s", i + 1, pump_what(r));
                                goto out;
                        }
                }
        } else {
                struct buf head = { 0 }, burst = { 0 };
                int bad = 0;

                for (size_t i = 0; i < rd->to && !bad; i++)
                        bad = buf_adds(i < rd->from ? &head : &burst, s->line[i]) ||
                              buf_adds(i < rd->from ? &head : &burst, "\n");
                r = bad ? PUMP_ERR : pump(&p, head.p, head.len, ref->after[rd->from]);
                if (r == PUMP_OK)
                        r = pump(&p, burst.p, burst.len, 0);
                if (r == PUMP_OK)
                        nanosleep(&(struct timespec){ rd->delay_us / 1000000,
                                                      rd->delay_us % 1000000 * 1000L }, NULL);
                buf_free(&head);
                buf_free(&burst);
                if (r != PUMP_OK) {
                        notef(note, true, "before the kill: %s", pump_what(r));
                        goto out;
                }
        }
        if (proc_crash(&p, note) != 0 || probe(dir, &m, note) != 0)
                goto out;
        if (!rd->burst) {
                if (m != s->msgs[rd->cut] || p.o.len != ref->after[rd->cut]) {
                        notef(note, true, "after its output was printed, %zu of %zu messages "
                                          "were committed", m, s->msgs[rd->cut]);
                        goto out;
                }
                notef(note, false, "%zu messages committed at the kill", m);
        } else {
                if (m > s->msgs[rd->to]) {
                        notef(note, true, "%zu messages committed, only %zu sent", m,
                              s->msgs[rd->to]);
                        goto out;
                }
                if (m < s->msgs[rd->from])
                        notef(note, false, "%zu messages before the burst still uncommitted",
                              s->msgs[rd->from] - m);
                notef(note, false, "%zu of %zu burst messages committed",
                      m > s->msgs[rd->from] ? m - s->msgs[rd->from] : 0,
                      s->msgs[rd->to] - s->msgs[rd->from]);
        }
        finish_round(s, ref, dir, &p.o, m, note);
out:
        proc_free(&p);
        rm_rf(dir);
}

/* ---- setup ---- */

static uint64_t rng;

static uint64_t next_rand(void)
{
        /* xorshift64*: the seed is all that matters, not quality */
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return rng * 2685821657736338717ull;
}

/* The reference run and every prefix, in fresh directories. */
static int build_ref(const struct script *s, const struct buf *text, struct ref *ref)
{
        struct note note = { "", false };
        struct buf o = { 0 };
        const char *p = text->p;

        ref->after = calloc(s->n + 1, sizeof(*ref->after));
        if (!ref->after || path_join(ref->dir, base, "reference") != 0)
                return -1;
        if (run_whole(ref->dir, text->p, text->len, &ref->out, &note) != 0) {
                fprintf(stderr, "restart: reference run: %s\n", note.text);
                return -1;
        }
        if (strstr(ref->out.p ? ref->out.p : "", "! console:") || ref->out.len == 0) {
                fprintf(stderr, "restart: the console rejected a line of the script:\n%s",
                        ref->out.p ? ref->out.p : "(no output)\n");
                return -1;
        }
        if (path_join(ref->mdir, ref->dir, "minutes") != 0)
                return -1;
        ref->after[s->n] = ref->out.len;
        for (size_t i = 1; i < s->n; i++) {
                char dir[PATH_MAX], name[32];

                while (*p++ != '\n')
                        ;
                snprintf(name, sizeof(name), "prefix-%zu", i);
                if (path_join(dir, base, name) != 0)
                        return -1;
                buf_free(&o);
                if (run_whole(dir, text->p, (size_t)(p - text->p), &o, &note) != 0) {
                        fprintf(stderr, "restart: run of lines 1-%zu: %s\n", i, note.text);
                        return -1;
                }
                rm_rf(dir);
                if (o.len > ref->out.len || (o.len && memcmp(o.p, ref->out.p, o.len) != 0) ||
                    o.len < ref->after[i - 1]) {
                        fprintf(stderr, "restart: the output of lines 1-%zu is not a prefix of "
                                        "the whole run's: gavel is not deterministic\n", i);
                        buf_free(&o);
                        return -1;
                }
                ref->after[i] = o.len;
        }
        buf_free(&o);
        return 0;
}

/* K cut points: after #startmeeting, before #endmeeting, and the rest spread
 * evenly over the lines whose output shows that they were committed. */
static size_t pick_cuts(const struct script *s, const struct ref *ref, size_t k, size_t *cuts)
{
        size_t *cand = calloc(s->n + 1, sizeof(*cand)), nc = 0, nw = 0, n = 0;
        size_t *want = calloc(2 + k + s->n, sizeof(*want));

        if (!cand || !want) {
                free(cand);
                free(want);
                return 0;
        }
        for (size_t c = 1; c <= s->end; c++)
                if (s->kind[c - 1] == L_MSG && ref->after[c] > ref->after[c - 1])
                        cand[nc++] = c;
        /* wanted, in order: the two fixed ones, the even spread, then any */
        want[nw++] = s->start + 1;
        want[nw++] = s->end;
        for (size_t j = 0; k > 1 && nc && j < k; j++)
                want[nw++] = cand[j * (nc - 1) / (k - 1)];
        for (size_t j = 0; j < nc; j++)
                want[nw++] = cand[j];
        for (size_t j = 0; j < nw && n < k; j++) {
                bool is_cand = false, dup = false;

                for (size_t i = 0; i < nc; i++)
                        is_cand = is_cand || cand[i] == want[j];
                for (size_t i = 0; i < n; i++)
                        dup = dup || cuts[i] == want[j];
                if (!is_cand && j < 2)
                        printf("# line %zu gives no output to wait for: not a cut point\n",
                               want[j]);
                if (is_cand && !dup)
                        cuts[n++] = want[j];
        }
        free(want);
        free(cand);
        qsort(cuts, n, sizeof(*cuts), cmp_size);
        return n;
}

static int parse_count(const char *s, unsigned long max, unsigned long *out)
{
        char *end;
        unsigned long v;

        if (!s || *s < '0' || *s > '9')
                return -1;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > max)
                return -1;
        *out = v;
        return 0;
}

int main(int argc, char **argv)
{
        struct script s;
        struct buf text = { 0 };
        struct ref ref;
        unsigned long k = 8, bursts = 8, seed = 20240305;
        unsigned slow = 1;
        size_t *cuts = NULL, ncuts = 0, passed = 0, failed = 0, num = 0, first = 1;
        const char *tmp = getenv("TMPDIR"), *pre = getenv("LD_PRELOAD");
        char tmpl[PATH_MAX];
        int status = 1;

        memset(&s, 0, sizeof(s));
        memset(&ref, 0, sizeof(ref));
        if (argc < 3) {
                fprintf(stderr, "usage: restart GAVEL SCRIPT [--cuts K] [--bursts N] [--seed S]\n");
                return 2;
        }
        for (int i = 3; i < argc; i += 2) {
                unsigned long *v = strcmp(argv[i], "--cuts") == 0 ? &k :
                                   strcmp(argv[i], "--bursts") == 0 ? &bursts :
                                   strcmp(argv[i], "--seed") == 0 ? &seed : NULL;

                if (!v || i + 1 >= argc || parse_count(argv[i + 1], 100000, v) != 0) {
                        fprintf(stderr, "restart: bad option %s\n", argv[i]);
                        return 2;
                }
        }
        if (!realpath(argv[1], gavel)) {
                fprintf(stderr, "restart: %s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        /* valgrind --trace-children runs gavel some 50 times slower */
        if (pre && strstr(pre, "vgpreload")) {
                timeout_ms *= 10;
                slow = 50;
                printf("# under valgrind: timeouts and burst delays scaled\n");
        }
        signal(SIGPIPE, SIG_IGN);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        if (script_load(argv[2], &s, &text) != 0)
                goto out;
        snprintf(tmpl, sizeof(tmpl), "%s/gavel-restart-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(tmpl) || !realpath(tmpl, base)) {
                fprintf(stderr, "restart: mkdtemp %s: %s\n", tmpl, strerror(errno));
                goto out;
        }
        if (path_join(config, base, "gavel.json") != 0 ||
            write_file(config, config_json, sizeof(config_json) - 1) != 0) {
                fprintf(stderr, "restart: cannot write %s\n", config);
                goto out;
        }
        if (build_ref(&s, &text, &ref) != 0)
                goto out;
        {
                char **names = NULL;
                size_t n = 0;

                if (list_dir(ref.mdir, &names, &n) != 0 || n == 0) {
                        fprintf(stderr, "restart: the uninterrupted run wrote no minutes\n");
                        goto out;
                }
                free_names(names, n);
                printf("# %zu script lines, %zu messages; the uninterrupted run printed %zu "
                       "lines and wrote %zu files\n", s.n, s.msgs[s.n],
                       line_of(ref.out.p, ref.out.len) - 1, n);
        }
        cuts = calloc(k ? k : 1, sizeof(*cuts));
        if (!cuts)
                goto out;
        ncuts = pick_cuts(&s, &ref, k, cuts);
        if (ncuts < k)
                printf("# only %zu cut points give output to wait for\n", ncuts);
        /* bursts start once gavel has shown it is up: after its first output */
        while (first < s.n - 1 && ref.after[first] == 0)
                first++;
        rng = seed ? seed : 1;
        for (size_t i = 0; i < ncuts + bursts; i++) {
                struct round rd;
                struct note note = { "", false };

                memset(&rd, 0, sizeof(rd));
                if (i < ncuts) {
                        rd.cut = cuts[i];
                } else {
                        rd.burst = true;
                        rd.from = first + next_rand() % (s.n > first + 10 ? s.n - first - 10 : 1);
                        rd.to = rd.from + BURST_LINES < s.n ? rd.from + BURST_LINES : s.n;
                        rd.delay_us = (unsigned)(next_rand() % MAX_DELAY_US) * slow;
                }
                run_round(&s, &ref, &rd, ++num, &note);
                if (rd.burst)
                        printf("%s %zu - burst of lines %zu-%zu, SIGKILL after %.1f ms: %s\n",
                               note.failed ? "not ok" : "ok", num, rd.from + 1, rd.to,
                               rd.delay_us / 1000.0, note.text);
                else
                        printf("%s %zu - cut after line %zu (%.40s): %s\n",
                               note.failed ? "not ok" : "ok", num, rd.cut, s.line[rd.cut - 1],
                               note.text);
                fflush(stdout);
                if (note.failed)
                        failed++;
                else
                        passed++;
        }
        printf("%zu passed, %zu failed\n", passed, failed);
        status = failed || passed == 0;
out:
        if (base[0])
                rm_rf(base);
        free(cuts);
        free(ref.after);
        buf_free(&ref.out);
        buf_free(&text);
        script_free(&s);
        return status;
}
