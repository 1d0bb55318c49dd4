/* bridge/main.c - gavel's command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../handlers/handlers.h"
#include "../util/clock.h"
#include "../util/config.h"
#include "../util/log.h"
#include "console.h"
#include "matrix.h"
#include "jobs.h"
#include "outbox.h"
#include "publish.h"
#include "rebuild.h"
#include "replay.h"

#ifndef GAVEL_VERSION
#define GAVEL_VERSION "0.1.0"
#endif

static void print_line(void *ud, const char *text)
{
        fprintf(ud, "  %s\n", text);
}

static void usage(FILE *f)
{
        fputs("Usage:\n"
              "  gavel [--config FILE] [--db PATH] [--shell]\n"
              "      Run the bot: a Matrix client when \"homeserver\" or \"user_id\" is set,\n"
              "      else (the default) the console adapter, where each input line is a\n"
              "      chat message.\n"
              "  gavel replay LOG [--out DIR] [--channel '#NAME'] [--date YYYY-MM-DD] [--db PATH]\n"
              "               [--config FILE]\n"
              "      Read a MeetBot IRC log (.log.txt or .log.html) and write its minutes\n"
              "      (NAME.txt, .html, .log.txt, .log.html, .md, index.html) to DIR (default .).\n"
              "      The channel (the files' title, {channel}) is --channel, else the one a\n"
              "      .log.html's title names, else NAME of a NAME.YYYY-MM-DD-HH.MM.log.txt\n"
              "      file name, else \"channel\" of the config.\n"
              "      With --db, a log whose contents were replayed into PATH before is refused\n"
              "      (exit status 3, nothing written); any other log is replayed.\n"
              "  gavel archive rebuild [MEETING] [--out DIR] [--db PATH] [--config FILE]\n"
              "      Write the archive files again from the database: the five files of\n"
              "      MEETING (an id, or its files' base name such as Arch_call.2017-05-08-13.00)\n"
              "      or of every ended meeting, and index.html, into DIR (default: the\n"
              "      \"archive_dir\" of the config). Exit status 1 when it cannot.\n"
              "  gavel check-config FILE\n"
              "      Validate a configuration file; exit status 2 if it is rejected.\n"
              "  gavel outbox [--config FILE] [--db PATH]\n"
              "      List what waits in the outbox: each pending row (not sent yet, or\n"
              "      failing for now and retried with backoff) and each parked row (one\n"
              "      that can never be sent as it is: refused by the homeserver, content\n"
              "      that cannot be built), with its ID, kind, room or file, attempts and\n"
              "      the last reason. Parked rows are never retried on their own.\n"
              "  gavel outbox retry ID [--config FILE] [--db PATH]\n"
              "      Put parked row ID back to pending: it is sent again in its turn\n"
              "      (a running Matrix bot picks it up within seconds, the console at\n"
              "      its next line or start).\n"
              "  gavel --help | --version\n"
              "\nOptions:\n"
              "  -c, --config FILE   configuration (JSON); built-in defaults without one\n"
              "      --db PATH       database file, overriding \"database\" in the config\n"
              "                      (replay: keep its state there, not in memory)\n"
              "      --out DIR       replay, archive rebuild: where the files go\n"
              "      --channel NAME  replay: the IRC channel, e.g. '#fedora-meeting'\n"
              "      --shell         run the console adapter even if a homeserver is set\n"
              "  -v, --verbose       log more (repeat for debug)\n"
              "  -q, --quiet         replay, archive rebuild: print nothing but errors\n"
              "\nConfiguration keys:\n", f);
        gv_config_describe(print_line, f);
        fputs("\nChat commands:\n", f);
        gv_commands_describe(print_line, f);
}

static int load_config(const char *path, struct gv_config **cfg)
{
        char err[512];
        enum gv_err r;

        if (path)
                r = gv_config_load(path, cfg, err, sizeof(err));
        else
                r = gv_config_defaults(cfg);
        if (r) {
                fprintf(stderr, "gavel: %s\n", path ? err : gv_strerror(r));
                return 2;
        }
        /* libgit2 is loaded only for a git wiki, and then now: a missing
         * library is said at start (and by check-config), as a config error,
         * not at the first #endmeeting. (libical: util/config.c, per series.) */
        for (size_t i = 0; i < (*cfg)->n_wiki; i++) {
                if (!(*cfg)->wiki[i].git)
                        continue;
                if (gv_publish_git_load(err, sizeof(err)) != GV_OK) {
                        fprintf(stderr, "gavel: %s: key \"wiki[%zu].git\": %s\n",
                                path ? path : "-", i, err);
                        *cfg = gv_config_free(*cfg);
                        return 2;
                }
                break;
        }
        return 0;
}

/* Takes the value of "--opt VALUE"; NULL (after a message) when missing. */
static const char *value(int argc, char **argv, int *i)
{
        if (*i + 1 >= argc) {
                fprintf(stderr, "gavel: %s needs a value (see gavel --help)\n", argv[*i]);
                return NULL;
        }
        return argv[++*i];
}

int main(int argc, char **argv)
{
        const char *config = NULL, *db = NULL, *cmd = NULL, *arg = NULL, *arg2 = NULL;
        struct gv_replay_opts ro;
        struct gv_config *cfg = NULL;
        bool shell = false;
        int verbose = 0, status;
        char clock_err[160];

        memset(&ro, 0, sizeof(ro));
        /* the process clock starts now (GAVEL_TEST_TIME: tests) */
        if (gv_clock_init(clock_err, sizeof(clock_err)) != GV_OK) {
                fprintf(stderr, "gavel: %s\n", clock_err);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        usage(stdout);
                        return 0;
                } else if (strcmp(a, "--version") == 0) {
                        printf("gavel %s\n", GAVEL_VERSION);
                        return 0;
                } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
                        if (!(config = value(argc, argv, &i)))
                                return 2;
                } else if (strcmp(a, "--db") == 0) {
                        if (!(db = value(argc, argv, &i)))
                                return 2;
                } else if (strcmp(a, "--out") == 0) {
                        if (!(ro.out_dir = value(argc, argv, &i)))
                                return 2;
                } else if (strcmp(a, "--channel") == 0) {
                        if (!(ro.channel = value(argc, argv, &i)))
                                return 2;
                } else if (strcmp(a, "--date") == 0) {
                        if (!(ro.date = value(argc, argv, &i)))
                                return 2;
                } else if (strcmp(a, "--shell") == 0) {
                        shell = true;
                } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
                        verbose++;
                } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
                        ro.quiet = true;
                } else if (a[0] == '-' && a[1]) {
                        fprintf(stderr, "gavel: unknown option %s (see gavel --help)\n", a);
                        return 2;
                } else if (!cmd && (strcmp(a, "replay") == 0 || strcmp(a, "check-config") == 0 ||
                                    strcmp(a, "archive") == 0 || strcmp(a, "outbox") == 0)) {
                        cmd = a;
                } else if (cmd && !arg) {
                        arg = a;
                } else if (cmd && (strcmp(cmd, "archive") == 0 || strcmp(cmd, "outbox") == 0) &&
                           !arg2) {
                        arg2 = a;
                } else {
                        fprintf(stderr, "gavel: unexpected argument '%s' (see gavel --help)\n", a);
                        return 2;
                }
        }
        if (cmd && strcmp(cmd, "archive") == 0 && (!arg || strcmp(arg, "rebuild") != 0)) {
                fprintf(stderr, "gavel: archive: %s%s%s (see gavel --help)\n",
                        arg ? "unknown subcommand '" : "needs a subcommand: rebuild",
                        arg ? arg : "", arg ? "'" : "");
                return 2;
        }
        if (cmd && !arg && strcmp(cmd, "outbox") != 0) {
                fprintf(stderr, "gavel: %s needs a file (see gavel --help)\n", cmd);
                return 2;
        }
        if (cmd && strcmp(cmd, "check-config") == 0) {
                status = load_config(arg, &cfg);
                if (status == 0) {
                        /* the secrets it names: said, not judged (they may
                         * only exist where the service runs) */
                        (void)gv_job_check_secrets(cfg, stdout);
                        printf("%s: ok\n", arg);
                }
                gv_config_free(cfg);
                return status;
        }
        status = load_config(config, &cfg);
        if (status)
                return status;
        if (verbose)
                gv_log_threshold = verbose > 1 ? GV_LOG_DEBUG : GV_LOG_INFO;
        else
                gv_log_threshold = (enum gv_log_level)cfg->log_level;
        if (db) {
                char *d = strdup(db);

                if (!d) {
                        gv_config_free(cfg);
                        return 1;
                }
                free(cfg->database);
                cfg->database = d;
        }
        if (cmd && strcmp(cmd, "archive") == 0) {
                status = gv_rebuild_run(cfg, arg2, ro.out_dir, ro.quiet);
        } else if (cmd && strcmp(cmd, "outbox") == 0) {
                status = gv_outbox_command(cfg, arg, arg2, stdout);
        } else if (cmd) {
                ro.log_path = arg;
                ro.db_path = db; /* replay keeps its state only when asked to */
                status = gv_replay_run(cfg, &ro);
        } else if (shell || ((!cfg->homeserver || !cfg->homeserver[0]) &&
                             (!cfg->user_id || !cfg->user_id[0]))) {
                status = gv_console_run(cfg, stdin, stdout);
        } else {
                status = gv_matrix_run(cfg);
        }
        gv_config_free(cfg);
        return status;
}
