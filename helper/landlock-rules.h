/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job's Landlock ruleset: which access each kind of path gets on each ABI, the wrapper's
 * command line (the paths, the ABI the helper saw, the program), and applying it to ourselves. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The newest ABI whose rights we know (Linux 6.12: scoped abstract sockets and signals). A newer
 * kernel is used at this ABI: its further rights stay unhandled, i.e. allowed. */
#define LANDLOCK_ABI_KNOWN 6U
/* Paths on one command line: the OS, a profile's ReadOnlyPaths= (bounded by the config), the
 * writable places and devices. */
#define LANDLOCK_PATHS_MAX 128U

typedef enum LandlockKind {
        LANDLOCK_READ,   /* the OS: read and execute */
        LANDLOCK_WRITE,  /* the job's own tmpfs: everything but device nodes */
        LANDLOCK_DEVICE, /* /dev/null, /dev/pts...: read, write, ioctl */
        LANDLOCK_LIST,   /* /: directories listed, no file read */
        _LANDLOCK_KIND_MAX,
} LandlockKind;

typedef struct LandlockPath {
        LandlockKind kind;
        const char *path;
} LandlockPath;

typedef struct LandlockPlan {
        unsigned abi_min; /* the helper's probe: fail rather than run with less */
        LandlockPath paths[LANDLOCK_PATHS_MAX];
        size_t n_paths;
        char *const *argv; /* the program and its whole argv, argv[0] its path */
        bool deny_tcp;     /* ABI >= 4: no TCP bind() or connect() at all (the helper's domain) */
} LandlockPlan;

/* pyward-landlock [--abi N] [--read P]... [--write P]... [--device P]... [--list P]... -- PROGRAM ARGS...
 * -EINVAL with a message in ret_error on a bad command line; -E2BIG beyond LANDLOCK_PATHS_MAX. */
int landlock_plan_parse(int argc, char *argv[], LandlockPlan *ret, const char **ret_error);

/* The file system rights a ruleset of ABI abi handles (all it knows, so none stays allowed). */
uint64_t landlock_fs_handled(unsigned abi);
/* The rights a path of this kind gets on ABI abi; dir: a directory (else only file rights). */
uint64_t landlock_fs_access(LandlockKind kind, unsigned abi, int dir);
/* The scopes of ABI abi: abstract Unix sockets and signals stay inside the domain (ABI 6). */
uint64_t landlock_scoped(unsigned abi);

/* The kernel's Landlock ABI: > 0, 0 when it has none (not built, disabled at boot), or -errno
 * (refused, e.g. by a seccomp filter). */
int landlock_abi_probe(void);
/* The same, capped at LANDLOCK_ABI_KNOWN: the ABI the rules of this file are built for. */
int landlock_abi_usable(void);

/* Restricts this process (and what it executes) to plan's paths at ABI abi (> 0): opens each path
 * (a missing one gets no rule), adds the rules, sets no_new_privs and restricts itself. */
int landlock_apply(const LandlockPlan *plan, unsigned abi);
