/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward.conf: ini files with drop-ins and named profiles (see man/pyward.conf.5), loaded per
 * connection. Pure logic plus file reading; no D-Bus. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "protocol.h"

#define CONFIG_NETWORK_NONE 0     /* PrivateNetwork=yes, IPAddressDeny=any, AF_UNIX only */
#define CONFIG_NETWORK_LOOPBACK 1 /* PrivateNetwork=yes: a private loopback, AF_INET/AF_INET6 allowed */

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
        char **allow_users;                 /* who may use this profile; NULL: anyone allowed to connect */
        char **allow_groups;
} Profile;

typedef struct Config {
        char **allow_users;            /* who may connect at all (names; "root" by default) */
        char **allow_groups;           /* ("pyward" by default) */
        uint64_t jobs_per_uid;         /* concurrent jobs one uid may run */
        uint64_t request_timeout_usec; /* deadline for the whole request to arrive */
        Profile *profiles;             /* "default" always exists */
        size_t n_profiles;
} Config;

Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Loads /etc/pyward/pyward.conf and the drop-ins below root ("/" normally; tests pass a temp dir).
 * On any error returns -EINVAL and sets *ret_errors to a malloc'd text, one "file:line: message"
 * per line. Never falls back to defaults when a file is broken. */
int config_load(const char *root, Config **ret, char **ret_errors);

const Profile *config_find_profile(const Config *c, const char *name);

/* May the peer (uid, its groups) connect at all? And use this profile? Returns true/false. */
bool config_peer_allowed(const Config *c, uid_t uid, const gid_t *gids, size_t n_gids);
bool profile_peer_allowed(const Profile *p, uid_t uid, const gid_t *gids, size_t n_gids);

/* Merges the request's limits into the profile's: unset -> default; above max -> -EPERM with an
 * error naming the key, the asked value and the maximum. ret_limits gets the effective values. */
int profile_resolve_limits(const Profile *p, const Request *req, uint64_t ret_limits[static _LIMIT_MAX],
                           char *error_buf, size_t error_buf_size);
