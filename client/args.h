/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward(1)'s command line: options (limits in pyward.conf(5)'s value syntax), the FILE or -c
 * CODE, and the job's own arguments, which pass through untouched. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"

/* How long pyward(1) waits for a busy socket to take its connection (--connect-timeout). Long enough to ride out another user's connection flood (README, security model), short enough
 * that a dead service is reported soon. */
#define CONNECT_TIMEOUT_DEFAULT_USEC (10ULL * 1000ULL * 1000ULL)
#define CONNECT_TIMEOUT_MAX_USEC (3600ULL * 1000ULL * 1000ULL)

/* One --file LOCAL[=PATH]: LOCAL read here, PATH (default LOCAL's base name) inside the job. */
typedef struct ArgFile {
        char *local;
        char *path;
} ArgFile;

typedef struct Args {
        const char *code;
        const char *file;
        char **job_argv; /* NULL-terminated: the tail of main()'s argv */
        int n_job_args;
        const char *profile;
        const char *socket_path;
        uint64_t connect_timeout_usec; /* --connect-timeout, CONNECT_TIMEOUT_DEFAULT_USEC */
        const char *filename;
        uint64_t limits[_LIMIT_MAX];
        bool limit_set[_LIMIT_MAX];
        bool no_stdin;
        bool json;
        bool quiet;
        ArgFile *files; /* --file, in order */
        size_t n_files;
        const char *files_out; /* --files-out DIR */
        bool collect;          /* --collect or --files-out: send COLLECT */
        bool overwrite;
        bool list_profiles;
        bool interactive; /* -i: a session, through the Python client's front end */
} Args;

/* 1: run the job (or, with a->interactive, the session); 0: done (--help, --version); negative: bad
 * usage, already reported. */
int args_parse(int argc, char **argv, Args *a);
void args_done(Args *a);
