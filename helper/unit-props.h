/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The properties of a job's transient service: the sandbox, the limits and how the code is started,
 * appended to a StartTransientUnit() message. Every property is explained in pyward-helper(8). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "config.h"
#include "protocol.h"

#define JOB_SLICE "pyward.slice"
#define JOB_NOFILE_MAX 256U
/* Where the job's files live: the code, its working directory and $HOME. */
#define JOB_DIR "/tmp"
/* LimitFSIZE= is DISK plus this: the tmpfs bound (ENOSPC) comes first. */
#define JOB_FSIZE_SLACK (1024U * 1024U)
/* RuntimeMaxSec= is the wall-clock limit plus this: the layer under the helper's own, more
 * precise timer (job.c). */
#define JOB_RUNTIME_SLACK_USEC (1000U * 1000U)
/* Where no memory controller charges the job, LimitAS= is this many times the memory limit: room
 * for LimitDATA= (the limit itself), the interpreter's and numpy's mappings, thread stacks and a
 * malloc arena, and the bound on what one process holds by shared anonymous mappings. */
#define JOB_AS_FACTOR 4U
/* LimitFSIZE= for a disk limit: infinity (each writable tmpfs bounds its files), disk plus
 * JOB_FSIZE_SLACK where memfd, whose write()s nothing else bounds, is allowed. */
uint64_t fsize_rlimit_bytes(uint64_t disk, bool memfd);

/* Whether a profile's SystemCallAllow= may give memfd_create back: by name or through a group. */
bool profile_allows_memfd(const Profile *p);

/* nr_inodes= of each writable tmpfs: one inode per this many bytes of the memory limit. An empty
 * file pins ~1 KiB of slab (inode, dentry), so the three tmpfs together pin at most 3/16 of it. */
#define JOB_BYTES_PER_INODE (16U * 1024U)
#define JOB_INODES_MIN 1024U
/* Queued real-time signals (~64 bytes of slab each; the default is threads-max / 2, 96364 in a
 * test machine) and POSIX message queue bytes (the kernel's default, 819200), per job user. */
#define JOB_SIGPENDING_MAX 1024U
#define JOB_MSGQUEUE_MAX 819200U
/* Locked memory, io_uring's rings included (two rings of 32768 entries fill it): the manager's
 * default, set so that a DefaultLimitMEMLOCK= does not raise it. */
#define JOB_MEMLOCK_MAX (8U * 1024U * 1024U)

typedef struct JobSpec {
        const char *unit;         /* pyward-job-<id>.service */
        const char *job_id;       /* <id> */
        const char *helper_unit;  /* our own unit, or NULL when not started by systemd */
        unsigned manager_version; /* leading number of the manager's Version, 0 if unknown */
        uid_t uid;                /* the client */
        const char *user;         /* the job user (policy.h) */
        const Profile *profile;
        const uint64_t *limits; /* effective values, _LIMIT_MAX of them */
        const char *runner;     /* the runner's Python (runner.py), for -c; the code, its name and
                             * its arguments reach it over the channel (channel.h) */
        bool collect;           /* the client asked for the files: the runner may take files-out-time
                             * after a limit's stop (RuntimeMaxSec= leaves it that) */
        int stdin_fd;           /* the runner channel's far end */
        int stdout_fd, stderr_fd;
        char *const *hidden_dirs;  /* host_hidden_entries(): "/srv", ...; may be NULL */
        char *const *hidden_other; /* "-/swapfile", ...; may be NULL */
        unsigned landlock_abi;     /* mac_landlock_abi(): 0, no Landlock */
        bool apparmor;             /* the pyward-job profiles are loaded */
        bool memory_cgroup;        /* job_host_memory_cgroup(): MemoryMax= charges the job's shmem */
        bool warm;                 /* a warm runner (warm.h): stdin_fd is its listening socket */
        uint64_t warm_wait_usec;   /* how long a warm runner may wait for its job */
        const char *preload;       /* "PYWARD_PRELOAD=a,b" (PreloadModules=), or NULL */
} JobSpec;

/* Appends the a(sv) array of properties (the message must be positioned where it goes). */
int unit_props_append(sd_bus_message *m, const JobSpec *s);

/* LimitDATA= for a memory limit: the limit itself where the memory controller is missing, a
 * backstop four times as large where MemoryMax= is enforced (so that the cgroup acts, status oom). */
uint64_t data_rlimit_bytes(uint64_t memory, bool memory_cgroup);

/* LimitAS= for a memory limit: JOB_AS_FACTOR times the limit where the memory controller is
 * missing, infinity where MemoryMax= charges every page of the job (shared ones, page tables and
 * kernel objects too), so that reserved address space is not refused for nothing. */
uint64_t as_rlimit_bytes(uint64_t memory, bool memory_cgroup);

/* nr_inodes= of each writable tmpfs for a memory limit: memory / JOB_BYTES_PER_INODE, at least
 * JOB_INODES_MIN. */
uint64_t tmpfs_inodes(uint64_t memory);

/* The seconds RLIMIT_CPU gets for a CPU-time limit in microseconds (rounded up, at least 1). */
uint64_t cpu_rlimit_seconds(uint64_t usec);
