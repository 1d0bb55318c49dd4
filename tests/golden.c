/* tests/golden.c - golden-file driver (curl's tests/data habit).
 *
 *   golden console GAVEL SCRIPT.in EXPECTED.out
 *       Runs `GAVEL --shell` in a fresh temporary directory with SCRIPT.in on
 *       stdin. SCRIPT.in may start with "%config <json>" lines, which form the
 *       config file. stdout must equal EXPECTED.out byte for byte; then each
 *       "%file NAME" line of the script names an archive file whose content
 *       must equal EXPECTED.out's sibling EXPECTED.NAME.
 *   golden replay GAVEL LOG EXPECTED_DIR [ARG...]
 *       Runs `GAVEL replay LOG --out TMP --quiet ARG...`; every file in
 *       EXPECTED_DIR must equal TMP's file of the same name.
 *
 *   golden status N NEEDLE CMD [ARG...]
 *       Runs CMD; it must exit with status N and write NEEDLE on stderr (a
 *       rejected config file: status 2 and the key named).
 *
 * GAVEL_UPDATE_GOLDEN=1 writes the actual outputs over the expected ones
 * (review the diff before committing). Exit 0 pass, 1 fail. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int update;

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *p = NULL;
        size_t cap = 0, n = 0, k;

        if (!f)
                return NULL;
        do {
                if (n + 65536 > cap) {
                        char *q = realloc(p, cap = n + 65536 + cap);

                        if (!q) {
                                free(p);
                                fclose(f);
                                return NULL;
                        }
                        p = q;
                }
                k = fread(p + n, 1, cap - n - 1, f);
                n += k;
        } while (k > 0);
        fclose(f);
        p[n] = '\0';
        *len = n;
        return p;
}

static int spit(const char *path, const char *data, size_t len)
{
        FILE *f = fopen(path, "wb");

        if (!f || fwrite(data, 1, len, f) != len) {
                if (f)
                        fclose(f);
                return -1;
        }
        return fclose(f);
}

/* Prints the first differing line. */
static int compare(const char *what, const char *exp_path, const char *act, size_t alen)
{
        size_t elen = 0, line = 1, i;
        char *exp = slurp(exp_path, &elen);

        if (update) {
                free(exp);
                if (spit(exp_path, act, alen) != 0) {
                        fprintf(stderr, "cannot write %s\n", exp_path);
                        return 1;
                }
                fprintf(stderr, "updated %s\n", exp_path);
                return 0;
        }
        if (!exp) {
                fprintf(stderr, "%s: cannot read %s\n", what, exp_path);
                return 1;
        }
        for (i = 0; i < elen && i < alen && exp[i] == act[i]; i++)
                if (exp[i] == '\n')
                        line++;
        if (i == elen && i == alen) {
                free(exp);
                return 0;
        }
        {
                size_t s = i;
                while (s > 0 && exp[s - 1] != '\n' && act[s - 1] != '\n')
                        s--;
                fprintf(stderr, "%s differs from %s at line %zu:\n  expected: %.*s\n  actual:   %.*s\n",
                        what, exp_path, line, (int)(strcspn(exp + s, "\n") > 300 ? 300 : strcspn(exp + s, "\n")),
                        exp + s, (int)(strcspn(act + s, "\n") > 300 ? 300 : strcspn(act + s, "\n")),
                        act + s);
        }
        free(exp);
        return 1;
}

static int run(char *const argv[], const char *dir, const char *in, size_t inlen, char **out,
               size_t *outlen)
{
        char tmpl[] = "/tmp/gavel-golden-out-XXXXXX";
        int ofd = mkstemp(tmpl), ifd, status;
        char inpath[] = "/tmp/gavel-golden-in-XXXXXX";
        pid_t pid;

        ifd = mkstemp(inpath);
        if (ofd < 0 || ifd < 0)
                return -1;
        if (in && write(ifd, in, inlen) != (ssize_t)inlen)
                return -1;
        lseek(ifd, 0, SEEK_SET);
        pid = fork();
        if (pid == 0) {
                if (chdir(dir) != 0)
                        _exit(127);
                dup2(ifd, 0);
                dup2(ofd, 1);
                execv(argv[0], argv);
                _exit(127);
        }
        close(ifd);
        close(ofd);
        unlink(inpath);
        if (pid < 0 || waitpid(pid, &status, 0) < 0)
                return -1;
        *out = slurp(tmpl, outlen);
        unlink(tmpl);
        if (!WIFEXITED(status)) {
                fprintf(stderr, "%s died with signal %d\n", argv[0], WTERMSIG(status));
                return -1;
        }
        return WEXITSTATUS(status);
}

static void rm_rf(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (d) {
                while ((de = readdir(d))) {
                        char p[4096];
                        struct stat st;

                        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                                continue;
                        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                                rm_rf(p);
                        else
                                unlink(p);
                }
                closedir(d);
        }
        rmdir(dir);
}

static char *absolute(const char *p)
{
        char *r = realpath(p, NULL);

        if (!r) {
                fprintf(stderr, "%s: %s\n", p, strerror(errno));
                exit(1);
        }
        return r;
}

/* "%repeat N TEXT" lines become TEXT repeated N times (for huge inputs
 * without huge files); everything else is copied as is. */
static char *expand(const char *in, size_t len, size_t *outlen)
{
        size_t cap = len + 1, n = 0;
        char *out = malloc(cap);
        const char *p = in, *end = in + len;

        while (out && p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
                size_t count = 0, tl = 0;
                const char *text = NULL;

                if (l > 8 && strncmp(p, "%repeat ", 8) == 0) {
                        char *e;

                        count = strtoul(p + 8, &e, 10);
                        text = e + 1;
                        tl = (size_t)(p + l - text) - (nl ? 1 : 0);
                }
                if (n + l + count * tl + 2 > cap) {
                        char *q = realloc(out, cap = (n + l + count * tl + 2) * 2);

                        if (!q) {
                                free(out);
                                return NULL;
                        }
                        out = q;
                }
                if (text) {
                        for (size_t i = 0; i < count; i++, n += tl)
                                memcpy(out + n, text, tl);
                        out[n++] = '\n';
                } else {
                        memcpy(out + n, p, l);
                        n += l;
                }
                p += l;
        }
        *outlen = n;
        return out;
}

static int console(const char *gavel, const char *script, const char *expected)
{
        char dir[] = "/tmp/gavel-golden-XXXXXX";
        char cfgpath[4200];
        size_t slen = 0, olen = 0;
        char *s = slurp(script, &slen), *out = NULL, *p, *in, *body;
        size_t blen = 0;
        FILE *cfg;
        int fail = 0, rc;
        char *argv[] = { (char *)gavel, "--shell", "--config", cfgpath, NULL };

        if (!s || !mkdtemp(dir)) {
                fprintf(stderr, "cannot read %s\n", script);
                return 1;
        }
        snprintf(cfgpath, sizeof(cfgpath), "%s/gavel.json", dir);
        cfg = fopen(cfgpath, "w");
        if (!cfg)
                return 1;
        /* %config lines form the config; %file lines name files to check */
        in = s;
        fputs("{\"database\": \"gavel.db\", \"archive_dir\": \"minutes\"", cfg);
        while (strncmp(in, "%config ", 8) == 0 || strncmp(in, "%file ", 6) == 0) {
                char *nl = strchr(in, '\n');

                if (!nl)
                        break;
                if (in[1] == 'c')
                        fprintf(cfg, ", %.*s", (int)(nl - in - 8), in + 8);
                in = nl + 1;
        }
        fputs("}\n", cfg);
        fclose(cfg);
        body = expand(in, slen - (size_t)(in - s), &blen);
        if (!body)
                return 1;
        rc = run(argv, dir, body, blen, &out, &olen);
        free(body);
        if (rc != 0) {
                fprintf(stderr, "gavel exited with %d\n", rc);
                fail = 1;
        }
        if (out)
                fail |= compare("console output", expected, out, olen);
        else
                fail = 1;
        for (p = s; p < in; p = strchr(p, '\n') + 1) {
                if (strncmp(p, "%file ", 6) == 0) {
                        char name[256], apath[4400], epath[4400];
                        size_t n = strcspn(p + 6, "\n"), alen = 0;
                        char *act;

                        snprintf(name, sizeof(name), "%.*s", (int)n, p + 6);
                        snprintf(apath, sizeof(apath), "%s/minutes/%s", dir, name);
                        snprintf(epath, sizeof(epath), "%.*s.%s",
                                 (int)(strlen(expected) - 4), expected, name);
                        act = slurp(apath, &alen);
                        if (!act) {
                                fprintf(stderr, "gavel did not write %s\n", name);
                                fail = 1;
                                continue;
                        }
                        fail |= compare(name, epath, act, alen);
                        free(act);
                }
        }
        free(out);
        free(s);
        rm_rf(dir);
        if (!fail)
                printf("ok: %s\n", script);
        return fail;
}

static int replay(const char *gavel, const char *log, const char *expdir, int nextra,
                  char **extra)
{
        char dir[] = "/tmp/gavel-replay-XXXXXX";
        char *argv[16] = { (char *)gavel, "replay", (char *)log, "--out", dir, "--quiet", NULL };

        if (nextra > 9)
                return 1;
        for (int i = 0; i < nextra; i++)
                argv[6 + i] = extra[i];
        argv[6 + nextra] = NULL;
        char *out = NULL;
        size_t olen;
        int fail = 0, rc, n = 0;
        DIR *d;
        struct dirent *de;

        if (!mkdtemp(dir))
                return 1;
        rc = run(argv, "/", NULL, 0, &out, &olen);
        free(out);
        if (rc != 0) {
                fprintf(stderr, "gavel replay exited with %d\n", rc);
                rm_rf(dir);
                return 1;
        }
        if (update)
                mkdir(expdir, 0755);
        d = opendir(update ? dir : expdir);
        if (!d) {
                fprintf(stderr, "%s: %s\n", expdir, strerror(errno));
                return 1;
        }
        while ((de = readdir(d))) {
                char a[4400], e[4400];
                size_t alen = 0;
                char *act;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(a, sizeof(a), "%s/%s", dir, de->d_name);
                snprintf(e, sizeof(e), "%s/%s", expdir, de->d_name);
                act = slurp(a, &alen);
                if (!act) {
                        fprintf(stderr, "replay did not write %s\n", de->d_name);
                        fail = 1;
                        continue;
                }
                fail |= compare(de->d_name, e, act, alen);
                free(act);
                n++;
        }
        closedir(d);
        if (n == 0) {
                fprintf(stderr, "no files compared\n");
                fail = 1;
        }
        rm_rf(dir);
        if (!fail)
                printf("ok: %d files\n", n);
        return fail;
}

static int expect_status(int want, const char *needle, char *const argv[])
{
        char tmpl[] = "/tmp/gavel-golden-err-XXXXXX";
        int efd = mkstemp(tmpl), status, fail = 0;
        char *err;
        size_t len;
        pid_t pid;

        if (efd < 0)
                return 1;
        pid = fork();
        if (pid == 0) {
                dup2(efd, 2);
                execv(argv[0], argv);
                _exit(127);
        }
        close(efd);
        if (pid < 0 || waitpid(pid, &status, 0) < 0) {
                unlink(tmpl);
                return 1;
        }
        err = slurp(tmpl, &len);
        unlink(tmpl);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != want) {
                fprintf(stderr, "%s: expected exit status %d, got %s %d\n", argv[0], want,
                        WIFEXITED(status) ? "status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                fail = 1;
        }
        if (!err || !strstr(err, needle)) {
                fprintf(stderr, "stderr does not name \"%s\":\n%s\n", needle, err ? err : "");
                fail = 1;
        }
        if (!fail)
                printf("ok: status %d, stderr: %s", want, err);
        free(err);
        return fail;
}

int main(int argc, char **argv)
{
        update = getenv("GAVEL_UPDATE_GOLDEN") && strcmp(getenv("GAVEL_UPDATE_GOLDEN"), "1") == 0;
        if ((argc == 5 && strcmp(argv[1], "console") == 0) ||
            (argc >= 5 && strcmp(argv[1], "replay") == 0)) {
                char *gavel = absolute(argv[2]), *log = NULL;
                int rc;

                if (argv[1][0] == 'c') {
                        rc = console(gavel, argv[3], argv[4]);
                } else {
                        log = absolute(argv[3]);
                        rc = replay(gavel, log, argv[4], argc - 5, argv + 5);
                }
                free(gavel);
                free(log);
                return rc;
        }
        if (argc >= 5 && strcmp(argv[1], "status") == 0)
                return expect_status((int)strtol(argv[2], NULL, 10), argv[3], argv + 4);
        fprintf(stderr, "usage: golden console GAVEL IN OUT | golden replay GAVEL LOG DIR [ARG...]\n");
        return 2;
}
