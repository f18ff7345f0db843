/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward.conf: ini files with drop-ins and named profiles (see man/pyward.conf.5), loaded per
 * connection. Pure logic plus file reading; no D-Bus. A new key is one row of the settings table
 * in config-settings.c plus its field below; config-parse.c reads the syntax, config-apply.c stores
 * values, config-files.c finds the files, config-show.c prints them; who may use which profile is
 * admission.c's. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "macro.h"
#include "protocol.h"
#include "values.h"

#define CONFIG_NETWORK_NONE 0     /* PrivateNetwork=yes, IPAddressDeny=any, AF_UNIX only */
#define CONFIG_NETWORK_LOOPBACK 1 /* PrivateNetwork=yes: a private loopback, AF_INET/AF_INET6 allowed */

/* Bounds on what a configuration may contain (the files are the admin's, but the parser is fuzzed
 * and a typo must not make the helper allocate without end). */
#define CONFIG_FILES_MAX 256 /* pyward.conf plus drop-ins */
#define CONFIG_FILE_SIZE_MAX (1024 * 1024)
#define CONFIG_LINE_MAX 198     /* inih's line buffer is 200 bytes incl. newline and NUL */
#define CONFIG_PROFILES_MAX 256 /* named profiles besides "default" */
#define CONFIG_LIST_MAX 1024    /* entries in any one list (paths, users, syscalls, ...) */
#define CONFIG_ERRORS_MAX 64    /* reported errors; the rest are counted */

/* Where each setting came from, for --show-config; private to the config-*.c files. */
typedef struct ConfigOrigins ConfigOrigins;

typedef struct Profile {
        char *name;
        uint64_t limit_default[_LIMIT_MAX]; /* used when the request does not ask */
        uint64_t limit_max[_LIMIT_MAX];     /* a request may ask up to this, never more */
        uint64_t code_max;                  /* bytes of source accepted */
        char *interpreter;                  /* absolute path, e.g. /usr/bin/python3 */
        char **interpreter_args;            /* e.g. {"-I", NULL} */
        char **read_only_paths;             /* extra paths bound read-only into the job */
        int network;                        /* CONFIG_NETWORK_* */
        char **syscall_allow;               /* extra SystemCallFilter= entries */
        char **syscall_deny;                /* extra ~SystemCallFilter= entries */
        char **allow_users;                 /* who may use this profile; both lists NULL/empty: anyone */
        char **allow_groups;                /*   allowed to connect; else uid or a gid must match */
        bool enabled;                       /* Enabled=no: nobody may use this profile */
        uint64_t warm_runners;              /* WarmRunners=: runners kept started (warm.h) */
        char **preload_modules;             /* PreloadModules=: what they import while they wait */
        ConfigOrigins *origins;
} Profile;

/* ConnectionsPerUser= left unset (or 0) is this many times JobsPerUser=: room for every job the
 * UID may run plus as many connections that are still sending their request or being told that the
 * UID's jobs are all in use. */
#define CONNECTIONS_PER_JOB 2U

/* WarmRunners= at most, per profile: each holds a job user of the pool while it waits. */
#define WARM_RUNNERS_MAX 16U

typedef struct Config {
        char **allow_users;            /* who may connect at all (names; "root" by default) */
        char **allow_groups;           /* ("pyward" by default) */
        uint64_t jobs_per_uid;         /* concurrent jobs one uid may run */
        uint64_t connections_per_uid;  /* connections one uid may hold at once (door.h); never 0 */
        uint64_t request_timeout_usec; /* deadline for the whole request to arrive */
        Profile *profiles;             /* "default" always exists, and comes first */
        size_t n_profiles;
        char **files; /* files read, in order of application (logical paths) */
        ConfigOrigins *origins;
} Config;

/* pyward-helper loads the configuration once per connection (it is never cached, so a change
 * applies to the next job without a reload): config_load("/", &c, &errors), -EINVAL: log `errors`
 * once, reject with them; no fallback to defaults. Who may use it, with which profile and limits,
 * is admission_decide() (admission.h); p's interpreter, args, paths, network and syscalls go into
 * the transient unit (see pyward.conf(5) for the property each maps to); c->connections_per_uid is
 * door.c's, before everything else.
 * --check-config: config_load("/", ...); print errors, exit 1; else exit 0.
 * --show-config [--profile NAME]: config_load (errors: print, exit 1), then
 *   config_show(c, NAME or NULL, stdout); -ENOENT: "no such profile", exit 1. */

Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Loads /etc/pyward/pyward.conf and the drop-ins below root ("/" normally; tests pass a temp dir).
 * On any error returns -EINVAL and sets *ret_errors to a malloc'd text, one "file:line: message"
 * per line. Never falls back to defaults when a file is broken. */
int config_load(const char *root, Config **ret, char **ret_errors);

/* The same parser and merge for one in-memory file named `name` (used by config_load for every
 * file, by the fuzzer and by the tests); paths are still checked below root. text need not be
 * NUL-terminated (a NUL byte inside is an error). Same return convention as config_load. */
int config_parse_string(const char *root, const char *name, const char *text, size_t size, Config **ret,
                        char **ret_errors);

/* The profile called name (NULL: "default"), or NULL. Who may use it, and with which limits, is
 * admission.h's (config_peer_allowed, profile_peer_allowed, profile_resolve_limits). */
const Profile *config_find_profile(const Config *c, const char *name);

/* A limit's value as pyward.conf writes it ("1G", "1min 30s", "150%", "32"), for messages that
 * name a limit; returns buf. */
char *config_format_limit(LimitKey k, uint64_t v, char *buf, size_t size);

/* For `pyward-helper --show-config [--profile NAME]`: writes the merged effective settings as a
 * valid pyward.conf, each line commented with where it came from ("file:line" or "built-in
 * default"). profile NULL: [Access] and every profile; else only that profile (-ENOENT if unknown).
 * `pyward-helper --check-config` is config_load() printing *ret_errors, exit 0 or 1. */
int config_show(const Config *c, const char *profile, FILE *f);
