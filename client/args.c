/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward(1)'s option parsing; see args.h and man/pyward.1.scd, which lists the same options as
 * help() here. */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "config-paths.h"
#include "values.h"

/* Limits are the same syntax as in pyward.conf(5) (values.c); zero is never a useful limit. */
static int parse_positive(int (*parse)(const char *, uint64_t *), const char *s, uint64_t *ret) {
        uint64_t v;
        int r;

        r = parse(s, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void help(void) {
        printf("Usage: pyward [OPTIONS] -c CODE [ARGS...]\n"
               "       pyward [OPTIONS] FILE [ARGS...]\n"
               "       pyward --list-profiles [--json]\n"
               "       pyward -i [OPTIONS]\n"
               "\n"
               "Run Python code in a sandboxed, resource-limited systemd unit via the pyward helper.\n"
               "The job's stdout and stderr are streamed to ours; our stdin is forwarded to the job\n"
               "unless it is a terminal.\n"
               "\n"
               "  -i, --interactive      a session: one interpreter that keeps its state across cells;\n"
               "                         a Python prompt on a terminal (Ctrl-C interrupts the cell,\n"
               "                         Ctrl-D ends), else cells read from stdin, separated by lines\n"
               "                         that are exactly '# %%%%'\n"
               "  -c, --code=CODE        run CODE (instead of FILE)\n"
               "      --filename=NAME    name of the main file inside the job (default: FILE's base\n"
               "                         name, or main.py)\n"
               "  -t, --timeout=TIME     wall-clock limit, e.g. 10, 500ms, 2min (with -i: each cell's)\n"
               "      --cpu-time=TIME    CPU-time limit, same syntax (with -i: each cell's)\n"
               "  -m, --memory=BYTES     memory limit, e.g. 64M, 1G\n"
               "      --tasks=N          limit on processes and threads\n"
               "      --cpu-quota=PERCENT  CPU share in percent of one CPU (200 = two CPUs)\n"
               "      --output-max=BYTES limit on stdout and on stderr, each\n"
               "      --disk=BYTES       limit on each writable directory\n"
               "      --session-timeout=TIME  with -i: the session's wall-clock limit\n"
               "      --session-cpu-time=TIME  with -i: the session's CPU-time limit\n"
               "      --idle-timeout=TIME  with -i: the longest wait for the next cell\n"
               "      --cells=N          with -i: the most cells the session runs\n"
               "      --cell-grace=TIME  with -i: how long an interrupted cell has to end before the\n"
               "                         session does (its state is then lost)\n"
               "  -p, --profile=NAME     configuration profile (default: default)\n"
               "  -n, --no-stdin         do not forward stdin; the job sees end-of-file at once\n"
               "      --socket=PATH      helper socket (default: $PYWARD_SOCKET or %s)\n"
               "      --connect-timeout=TIME  how long to wait for a busy socket (default: 10s;\n"
               "                         0: try once)\n"
               "      --file=LOCAL[=PATH]  send the file LOCAL as PATH in the job's working directory\n"
               "                         (default: LOCAL's base name; repeatable; executable if LOCAL is)\n"
               "      --files-out=DIR    write the files the job leaves into DIR (made if missing);\n"
               "                         links are never followed, existing names are errors\n"
               "      --overwrite        with --files-out: replace existing files (never directories)\n"
               "      --collect          ask for the job's files without writing them (see --json)\n"
               "      --list-profiles    list the profiles you may use (with --json: as JSON), run nothing\n"
               "      --json             print one JSON document with the result and output at the end\n"
               "  -q, --quiet            no message about how the job ended\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n"
               "\n"
               "Exit status: the job's exit code; 128+N if it was killed by signal N; 124 on a time or\n"
               "CPU limit; 125 if pyward itself failed, the request was rejected or a file could not be\n"
               "written under --files-out. With -i: 0; 1 if a cell from stdin failed; else as a job's, if\n"
               "the session ended otherwise. See pyward(1).\n",
               PYWARD_SOCKET_PATH);
}

/* --file LOCAL[=PATH], split at the last '=' (a LOCAL whose name has one takes an explicit =PATH).
 * gcc 12's analyzer loses the strings stored into a->files[a->n_files] (a symbolic index into a
 * heap array) and reports them as leaked; args_done() frees every one. */
DISABLE_WARNING_ANALYZER_LEAK
static int add_file(Args *a, const char *arg) {
        const char *eq = strrchr(arg, '='), *why = NULL, *slash;
        ArgFile *n, *f;

        if (a->n_files >= PW_FILES_COUNT_MAX)
                return fail("too many --file options: the maximum is %u", PW_FILES_COUNT_MAX);
        n = reallocarray(a->files, a->n_files + 1, sizeof(ArgFile));
        if (!n)
                return fail("out of memory");
        a->files = n;
        /* Filled in place, and counted only once whole: args_done() frees what is counted. */
        f = &a->files[a->n_files];
        *f = (ArgFile) { .local = eq ? strndup(arg, (size_t) (eq - arg)) : strdup(arg) };
        if (f->local) {
                slash = strrchr(f->local, '/');
                f->path = strdup(eq ? eq + 1 : slash ? slash + 1 : f->local);
        }
        if (!f->local || !f->path) {
                free(f->local);
                free(f->path);
                return fail("out of memory");
        }
        a->n_files++;
        if (!*f->local)
                return fail("--file '%s': no local file before '='", arg);
        if (!file_path_valid(f->path, strlen(f->path), &why))
                return fail("--file '%s': invalid path '%s' in the job: %s%s", arg, f->path, why,
                            eq ? "" : " (give one with LOCAL=PATH)");
        return 0;
}
REENABLE_WARNING

/* -i runs cells, not a job: the options of a job's code, files and output are refused, and a
 * session's own limit (session_option, the first one given) needs -i. n_rest: the arguments left
 * after the options. */
static int args_check_interactive(const Args *a, int n_rest, const char *session_option) {
        const char *what = NULL;

        if (!a->interactive)
                return fail("--%s is for sessions: give -i", session_option);
        /* clang-format off */
        if (a->code)               what = "-c";
        else if (n_rest > 0)       what = "a FILE or arguments";
        else if (a->filename)      what = "--filename";
        else if (a->n_files > 0)   what = "--file";
        else if (a->files_out)     what = "--files-out";
        else if (a->collect)       what = "--collect";
        else if (a->json)          what = "--json";
        else if (a->list_profiles) what = "--list-profiles";
        else if (a->no_stdin)      what = "--no-stdin";
        else if (a->quiet)         what = "--quiet";
        /* clang-format on */
        if (what)
                return fail("-i runs cells, not a job: %s is not for it", what);
        return 0;
}

void args_done(Args *a) {
        for (size_t i = 0; i < a->n_files; i++) {
                free(a->files[i].local);
                free(a->files[i].path);
        }
        free(a->files);
        a->files = NULL;
        a->n_files = 0;
}

int args_parse(int argc, char **argv, Args *a) {
        enum {
                ARG_VERSION = 0x100,
                ARG_FILENAME,
                ARG_CPU_TIME,
                ARG_TASKS,
                ARG_CPU_QUOTA,
                ARG_OUTPUT_MAX,
                ARG_DISK,
                ARG_SOCKET,
                ARG_JSON,
                ARG_CONNECT_TIMEOUT,
                ARG_FILE,
                ARG_FILES_OUT,
                ARG_COLLECT,
                ARG_OVERWRITE,
                ARG_LIST_PROFILES,
                ARG_SESSION_TIMEOUT,
                ARG_SESSION_CPU_TIME,
                ARG_IDLE_TIMEOUT,
                ARG_CELLS,
                ARG_CELL_GRACE,
        };
        static const struct option options[] = {
                { "code", required_argument, NULL, 'c' },
                { "filename", required_argument, NULL, ARG_FILENAME },
                { "timeout", required_argument, NULL, 't' },
                { "cpu-time", required_argument, NULL, ARG_CPU_TIME },
                { "memory", required_argument, NULL, 'm' },
                { "tasks", required_argument, NULL, ARG_TASKS },
                { "cpu-quota", required_argument, NULL, ARG_CPU_QUOTA },
                { "output-max", required_argument, NULL, ARG_OUTPUT_MAX },
                { "disk", required_argument, NULL, ARG_DISK },
                { "profile", required_argument, NULL, 'p' },
                { "no-stdin", no_argument, NULL, 'n' },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", no_argument, NULL, ARG_JSON },
                { "connect-timeout", required_argument, NULL, ARG_CONNECT_TIMEOUT },
                { "file", required_argument, NULL, ARG_FILE },
                { "files-out", required_argument, NULL, ARG_FILES_OUT },
                { "collect", no_argument, NULL, ARG_COLLECT },
                { "overwrite", no_argument, NULL, ARG_OVERWRITE },
                { "list-profiles", no_argument, NULL, ARG_LIST_PROFILES },
                { "interactive", no_argument, NULL, 'i' },
                { "session-timeout", required_argument, NULL, ARG_SESSION_TIMEOUT },
                { "session-cpu-time", required_argument, NULL, ARG_SESSION_CPU_TIME },
                { "idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT },
                { "cells", required_argument, NULL, ARG_CELLS },
                { "cell-grace", required_argument, NULL, ARG_CELL_GRACE },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *session_option = NULL; /* the first limit only a session has */
        bool connect_timeout_set = false;
        int c, r;

        /* "+": stop at the first non-option, so the job's own arguments pass through untouched. */
        while ((c = getopt_long(argc, argv, "+c:t:m:p:inqh", options, NULL)) >= 0) {
                LimitKey key = 0;
                int (*parse)(const char *, uint64_t *) = NULL;

                /* clang-format off */
                switch (c) {
                case 'c': a->code = optarg; break;
                case ARG_FILENAME: a->filename = optarg; break;
                case 't': key = LIMIT_WALL_TIME; parse = parse_timespan; break;
                case ARG_CPU_TIME: key = LIMIT_CPU_TIME; parse = parse_timespan; break;
                case 'm': key = LIMIT_MEMORY; parse = parse_size; break;
                case ARG_TASKS: key = LIMIT_TASKS; parse = parse_uint; break;
                case ARG_CPU_QUOTA: key = LIMIT_CPU_QUOTA; parse = parse_uint; break;
                case ARG_OUTPUT_MAX: key = LIMIT_OUTPUT; parse = parse_size; break;
                case ARG_DISK: key = LIMIT_DISK; parse = parse_size; break;
                case 'p': a->profile = optarg; break;
                case 'n': a->no_stdin = true; break;
                case ARG_SOCKET: a->socket_path = optarg; break;
                case ARG_JSON: a->json = true; break;
                case ARG_CONNECT_TIMEOUT:
                        /* 0 is useful here: one attempt, no wait. */
                        if (parse_timespan(optarg, &a->connect_timeout_usec) < 0 ||
                            a->connect_timeout_usec > CONNECT_TIMEOUT_MAX_USEC)
                                return fail("invalid value for --connect-timeout: '%s' (0 to 1h)", optarg);
                        connect_timeout_set = true;
                        break;
                case ARG_FILE:
                        if (add_file(a, optarg) < 0)
                                return -EINVAL;
                        break;
                case ARG_FILES_OUT: a->files_out = optarg; a->collect = true; break;
                case ARG_COLLECT: a->collect = true; break;
                case ARG_OVERWRITE: a->overwrite = true; break;
                case ARG_LIST_PROFILES: a->list_profiles = true; break;
                case 'i': a->interactive = true; break;
                case ARG_SESSION_TIMEOUT: key = LIMIT_SESSION_WALL_TIME; parse = parse_timespan; break;
                case ARG_SESSION_CPU_TIME: key = LIMIT_SESSION_CPU_TIME; parse = parse_timespan; break;
                case ARG_IDLE_TIMEOUT: key = LIMIT_SESSION_IDLE_TIME; parse = parse_timespan; break;
                case ARG_CELLS: key = LIMIT_SESSION_CELLS; parse = parse_uint; break;
                case ARG_CELL_GRACE: key = LIMIT_CELL_GRACE; parse = parse_timespan; break;
                case 'q': a->quiet = true; break;
                case 'h': help(); return 0;
                case ARG_VERSION: printf("pyward %s (protocol %d)\n", PACKAGE_VERSION, PW_PROTOCOL_VERSION); return 0;
                default: return -EINVAL; /* getopt printed why */
                }
                /* clang-format on */
                if (parse) {
                        const char *s = options[0].name;

                        for (const struct option *o = options; o->name; o++)
                                if (o->val == c)
                                        s = o->name;
                        if (parse_positive(parse, optarg, &a->limits[key]) < 0)
                                return fail("invalid value for --%s: '%s'", s, optarg);
                        a->limit_set[key] = true;
                        if (key >= LIMIT_SESSION_WALL_TIME && !session_option) /* keys 15..19 */
                                session_option = s;
                }
        }
        if (a->overwrite && !a->files_out)
                return fail("--overwrite is for --files-out");
        if (a->interactive || session_option) {
                r = args_check_interactive(a, argc - optind, session_option);
                if (r < 0)
                        return r;
        } else if (a->list_profiles) {
                if (a->code || optind < argc || a->n_files > 0 || a->collect || a->filename)
                        return fail("--list-profiles runs no code: give no code, file or arguments");
        } else if (!a->code) {
                if (optind >= argc)
                        return fail("nothing to run: give -c CODE or a FILE (see --help)");
                a->file = argv[optind++];
        }
        a->job_argv = argv + optind;
        a->n_job_args = argc - optind;
        if (a->n_job_args > PW_ARGS_MAX)
                return fail("too many arguments for the job: %d, the maximum is %d", a->n_job_args,
                            PW_ARGS_MAX);
        if (!connect_timeout_set)
                a->connect_timeout_usec = CONNECT_TIMEOUT_DEFAULT_USEC;
        if (!a->socket_path) {
                const char *e = getenv("PYWARD_SOCKET");
                a->socket_path = e && *e ? e : PYWARD_SOCKET_PATH;
        }
        return 1;
}
