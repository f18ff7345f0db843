/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The allowlist of the helper after lockdown, and its installation with libseccomp. Everything not
 * listed kills the helper: an exploit gets no error to probe with, and systemd logs 31/SYS. */

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lockdown.h"
#include "log.h"
#include "macro.h"

/* What the helper does after lockdown, and the system calls it takes (glibc and libsystemd 252 to
 * 257; names this architecture does not have are skipped):
 *   the event loop (sd-event): epoll, timerfds, clock reads;
 *   the client socket and the bus socket: read/write/send/recv, shutdown, poll for sync bus calls;
 *   the job's stdio: pipe2, fcntl (O_NONBLOCK, pipe size);
 *   job slots and job users: openat(O_CREAT) + flock, pread/pwrite/ftruncate in /run/pyward/slots;
 *   the discovery cache (/run/pyward/discovery): mkdirat if missing, a temporary file renamed
 *   over an entry (renameat), unlinkat of a temporary file left behind;
 *   /proc/self/{status,cgroup}; the listing of / (which top-level directories a job must not see);
 *   the job's main process: pidfd_open() to time its end (it sends no signal);
 *   the journal: sd_journal_send (an AF_UNIX datagram socket, a memfd for large records);
 *   job ids: getrandom; memory: malloc, free; exit.
 * Not in it, among others: execve/execveat, fork/clone/clone3, ptrace, mount, setuid and friends,
 * chmod/chown, link/symlink, kill of other processes, socket() other than AF_UNIX. */
/* clang-format off */
static const char *const allowed_syscalls[] = {
        /* memory */
        "brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
        /* file descriptors */
        "read", "readv", "pread64", "write", "writev", "pwrite64", "close", "close_range", "dup",
        "dup3", "fcntl", "lseek", "fstat", "newfstatat", "statx", "pipe2", "flock", "ftruncate",
        "memfd_create",
        /* libsystemd checks file system types (sd_pid_get_unit(): is /sys/fs/cgroup cgroup2?) */
        "fstatfs", "statfs",
        /* files: slots, /proc/self, / (openat, never execute: the unit has MemoryDenyWriteExecute=
         * and ProtectSystem=strict besides) */
        "openat", "getdents64",
        /* the discovery cache: the unit's ReadWritePaths= keep these to /run/pyward/discovery
         * and the slots (ProtectSystem=strict) */
        "mkdirat", "renameat", "renameat2", "unlinkat",
        /* warm runners (warm.h): a listening socket bound in /run/pyward/warm for each one started,
         * and the connection to one claimed (AF_UNIX only: socket() below, the unit's
         * RestrictAddressFamilies=, PrivateNetwork= or Landlock's TCP rules) */
        "bind", "listen", "connect",
        /* the job's main process, watched for its end (pidfd_send_signal() is not allowed) */
        "pidfd_open",
        /* sockets (socket() itself only for AF_UNIX, below) */
        "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown", "getsockopt", "setsockopt",
        "getsockname", "getpeername",
        /* the event loop */
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "ppoll", "poll",
        "timerfd_create", "timerfd_settime", "timerfd_gettime", "clock_gettime", "clock_getres",
        "gettimeofday", "clock_nanosleep", "nanosleep", "eventfd2",
        /* signals: only our own mask and handlers */
        "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "sigaltstack", "restart_syscall",
        /* identity and process state, read-only */
        "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
        "getresgid", "getgroups", "uname", "getrandom", "futex", "sched_yield", "set_robust_list",
        "rseq",
        "prlimit64", "getrlimit",
        /* the end */
        "exit", "exit_group",
};
/* clang-format on */

static int allow(scmp_filter_ctx ctx, const char *name, unsigned n_args, const struct scmp_arg_cmp *args) {
        int nr, r;

        nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
                return 0; /* not on this architecture (epoll_wait on arm64, ...) */
        r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n_args, args);
        /* -EDOM/-EFAULT: a pseudo-syscall libseccomp knows but cannot filter on this arch. */
        if (r == -EDOM || r == -EFAULT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Failed to allow %s() in the seccomp filter: %m", name);
        return 0;
}

/* What only the front door calls (pyward-door(8)): accept4() of its listening sockets, and
 * signalfd4() for sd-event's SIGTERM source. The rest of its work (share files, the configuration,
 * AF_UNIX connects, SCM_RIGHTS, the event loop, logging) is the helper's too. */
static const char *const door_syscalls[] = { "accept4", "signalfd4", NULL };

static int lockdown_install(LockdownMode mode, const char *const *extra) {
        uint32_t kill_action, action;
        size_t n_extra = 0;
        scmp_filter_ctx ctx;
        int r;

        /* KILL_PROCESS and LOG need libseccomp API level 3, found by probing the kernel with
         * seccomp(2), which a unit filter may deny (systemd 252's @system-service has no seccomp;
         * pyward-helper@.service adds it). Without it, kill the thread: the helper has only one, so that
         * still ends the process with SIGSYS. */
        kill_action = seccomp_api_get() >= 3 ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_KILL_THREAD;
        action = kill_action;
        if (mode == LOCKDOWN_LOG) {
                if (seccomp_api_get() < 3)
                        return log_error_errno(EOPNOTSUPP, "seccomp log mode is not available: %m");
                action = SCMP_ACT_LOG;
        }
        ctx = seccomp_init(action);
        if (!ctx)
                return log_error_errno(ENOMEM, "Failed to allocate the seccomp filter: %m");
        /* The unit has NoNewPrivileges=yes; set it here too so the filter never depends on it. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
        if (r < 0) {
                log_error_errno(r, "Failed to set no_new_privs for the seccomp filter: %m");
                goto finish;
        }
        /* Only the native ABI: seccomp_init() adds it alone, and the filter kills any other (x32,
         * i386 syscalls on x86_64) through the default action of the architecture check. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, kill_action);
        if (r < 0) {
                log_error_errno(r, "Failed to set the seccomp filter's bad-architecture action: %m");
                goto finish;
        }

        for (size_t i = 0; i < ELEMENTSOF(allowed_syscalls); i++) {
                r = allow(ctx, allowed_syscalls[i], 0, NULL);
                if (r < 0)
                        goto finish;
        }
        for (; extra && extra[n_extra]; n_extra++) {
                r = allow(ctx, extra[n_extra], 0, NULL);
                if (r < 0)
                        goto finish;
        }
        /* The journal's datagram socket is opened lazily, at the first sd_journal_send(). */
        r = allow(ctx, "socket", 1, (struct scmp_arg_cmp[]) { SCMP_A0(SCMP_CMP_EQ, AF_UNIX) });
        /* The runner channel (run-channel.c): one AF_UNIX socketpair per job. */
        if (r >= 0)
                r = allow(ctx, "socketpair", 1, (struct scmp_arg_cmp[]) { SCMP_A0(SCMP_CMP_EQ, AF_UNIX) });
        if (r < 0)
                goto finish;
        /* FIONREAD (sd-bus), TCGETS (stdio's isatty() on stderr): nothing else of ioctl(). */
        r = allow(ctx, "ioctl", 1, (struct scmp_arg_cmp[]) { SCMP_A1(SCMP_CMP_EQ, FIONREAD) });
        if (r >= 0)
                r = allow(ctx, "ioctl", 1, (struct scmp_arg_cmp[]) { SCMP_A1(SCMP_CMP_EQ, TCGETS) });
        if (r < 0)
                goto finish;
        /* abort() raises SIGABRT with tgkill() on ourselves: allow that one target only, so an
         * assertion still ends in a core dump with its own signal. */
        r = allow(ctx, "tgkill", 2,
                  (struct scmp_arg_cmp[]) { SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) getpid()),
                                            SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t) gettid()) });
        if (r < 0)
                goto finish;

        r = seccomp_load(ctx);
        if (r < 0)
                log_error_errno(r, "Failed to install the seccomp filter: %m");
        else
                log_debug("Locked down: seccomp filter of %zu system calls installed%s.",
                          ELEMENTSOF(allowed_syscalls) + n_extra + 4,
                          mode == LOCKDOWN_LOG ? " (log mode: nothing is killed)" : "");
finish:
        seccomp_release(ctx);
        return r < 0 ? r : 0;
}

int lockdown_apply(LockdownMode mode) {
        return lockdown_install(mode, NULL);
}

int lockdown_apply_door(LockdownMode mode) {
        return lockdown_install(mode, door_syscalls);
}

int lockdown_debug_forbidden_syscall(void) {
        char *const argv[] = { (char *) "sh", (char *) "-c",
                               (char *) "echo 'pyward-helper: execve() was not stopped' >&2; exit 1", NULL };
        char *const envp[] = { NULL };

        log_notice(
                "Debug hook: calling execve(\"/bin/sh\") after lockdown; the filter must kill "
                "us.");
        (void) execve("/bin/sh", argv, envp);
        return log_error_errno(errno,
                               "Debug hook: execve(\"/bin/sh\") was not stopped by the "
                               "filter: %m");
}
