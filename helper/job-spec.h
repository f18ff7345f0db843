/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a job's unit is built from (unit-props.h's JobSpec): the admitted request, the job user and
 * the host as it is now. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "protocol.h"
#include "unit-props.h"

/* The host, read per job like the config: a directory an admin adds to / is hidden from the next
 * job; our own unit (NULL when run by hand) is what the job's unit binds to. */
typedef struct JobHost {
        char *helper_unit;
        char **hidden_dirs;
        char **hidden_other;
        unsigned landlock_abi;
        bool apparmor;
        bool memory_cgroup; /* job_host_memory_cgroup() */
} JobHost;

int job_host_probe(JobHost *ret);

/* Whether the manager can enable the memory controller for a job's cgroup: "memory" in the
 * cgroup.controllers of JOB_SLICE under cgroup_root, or of cgroup_root itself while the slice does
 * not exist (the manager creates it for the first job and enables what its children need). Only
 * read, and never inside a job's cgroup. */
bool job_host_memory_cgroup(const char *cgroup_root);
void job_host_done(JobHost *h);

/* Everything of one job but the host; the strings and arrays must outlive the JobSpec. */
typedef struct JobSpecInput {
        const char *unit;
        const char *job_id;
        unsigned manager_version;
        uid_t uid;
        const char *user;
        const Profile *profile;
        const uint64_t *limits;
        const Request *request;
        const int *job_fds;  /* the runner channel's far end, stdout, stderr of the job */
        bool discover;       /* a discovery run: no code, no files */
        bool warm;           /* a warm runner: job_fds[0] is its listening socket (warm.h) */
        const char *preload; /* job_preload_env() */
} JobSpecInput;

/* "PYWARD_PRELOAD=" and the profile's PreloadModules= joined by commas, in *ret (NULL: none). */
int job_preload_env(const Profile *p, char **ret);

JobSpec job_spec_make(const JobSpecInput *in, const JobHost *host);
