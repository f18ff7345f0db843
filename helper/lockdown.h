/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's own seccomp filter: once it holds its connection, its bus and its configuration (a
 * spare helper: its bus, before it waits for a connection), it keeps only the system calls it still
 * needs, so a bug in its parsing cannot become a shell. */
#pragma once

#include <stdint.h>

/* The request profile that, in builds with -Ddebug-hooks=true only, makes the locked-down helper
 * call execve(): the integration test of the filter. */
#define LOCKDOWN_DEBUG_PROFILE "__pyward_debug_forbidden_syscall"

/* The default action: a system call outside the allowlist kills the whole process (SIGSYS).
 * LOCKDOWN_LOG instead lets it through and has the kernel log it (finding the allowlist). */
typedef enum LockdownMode {
        LOCKDOWN_KILL,
        LOCKDOWN_LOG,
} LockdownMode;

/* Installs the filter on the calling thread (the helper has no other). Returns 0 or a negative
 * errno; on failure nothing is installed. */
int lockdown_apply(LockdownMode mode);

/* The front door's filter (door-main.c): the helper's allowlist and accept4(), signalfd4(). */
int lockdown_apply_door(LockdownMode mode);

/* In builds with -Ddebug-hooks=true only: the front door with this variable set to 1 in its
 * environment calls lockdown_debug_forbidden_syscall() at its first connection after lockdown. */
#define LOCKDOWN_DEBUG_DOOR_ENV "PYWARD_DEBUG_DOOR_FORBIDDEN_SYSCALL"

/* Debug hook: tries execve("/bin/sh"). Returns only if the filter did not stop it, with -errno. */
int lockdown_debug_forbidden_syscall(void);
