/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Builds the job unit's properties, one setter per aspect in the manner of systemd-run: the unit,
 * how it starts, its sandbox, its system call filter and its limits. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "host-view.h"
#include "log.h"
#include "mac.h"
#include "macro.h"
#include "host-view.h"
#include "unit-props.h"

/* Denied on top of @system-service's allow list: everything that changes the system, peeks at other
 * processes or exists only for compatibility (pyward-helper(8) lists what this keeps from ordinary
 * code). Decision: a denied call fails with EPERM (not SIGSYS),
 * so Python raises PermissionError and the job can report it. */
/* clang-format off */
static const char *const syscall_deny_groups[] = {
        "@privileged", "@resources", "@mount",         "@keyring", "@debug", "@module",
        "@reboot",     "@swap",      "@clock",         "@cpu-emulation", "@obsolete", "@raw-io",
        /* System V message queues on every host: the memory controller charges them (oom at 87 MiB
         * of 300 in a 100M job, tests/integration/vm/test_memfd.py), but no ordinary code needs them
         * and msg_msg is the kernel heap-spraying object of many exploits. */
        "msgget",
};
/* Memory outside the address space that no rlimit bounds: a memfd written with write() (each up to
 * LimitFSIZE=, LimitNOFILE= of them) and System V shared memory (a job with a 64M limit held
 * 480 MiB each way without a memory controller). Denied only there: the kernel charges shmem
 * pages to the memory cgroup of the task that allocates them, so where the manager enforces
 * MemoryMax= a 300 MiB memfd or segment in a 100M job ends oom (tests/integration/vm/test_memfd.py),
 * and a segment left behind dies with the job's IPC namespace (PrivateIPC=). POSIX shared memory
 * lives in the bounded /dev/shm; POSIX queues are bounded by RLIMIT_MSGQUEUE. A profile may allow
 * them everywhere (SystemCallAllow=). */
static const char *const syscall_deny_uncharged[] = { "memfd_create", "shmget" };
/* clang-format on */

/* The sockets through which a process could talk to the system: the bus, the manager and the
 * journal's stream socket. The files themselves, not /run/systemd: systemd needs that directory
 * while it builds the namespace (a job would fail with 226/NAMESPACE). "-": fine if missing. */
/* clang-format off */
static const char *const inaccessible_paths[] = {
        "-/run/dbus/system_bus_socket",  "-/run/systemd/private", "-/run/systemd/notify",
        "-/run/systemd/journal/stdout",  "-/run/systemd/journal/socket",
        "-/run/systemd/journal/syslog",  "-/run/systemd/journal/dev-log", "-/run/systemd/io.system.ManagedOOM",
        "-/run/systemd/userdb",          "-/run/pyward",          "-/var/run/dbus/system_bus_socket",
};
/* clang-format on */

uint64_t cpu_rlimit_seconds(uint64_t usec) {
        uint64_t s = usec / 1000000U + (usec % 1000000U ? 1 : 0);
        return s > 0 ? s : 1;
}

/* Opens the "(sv)" of property name whose value is an array of element ("(ssbt)"), ready for the
 * elements; close_array_property() closes all three containers. */
static int open_array_property(sd_bus_message *m, const char *name, const char *element) {
        char type[16];
        int r;

        (void) snprintf(type, sizeof(type), "a%s", element);
        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', type);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', element);
        return r;
}

static int close_array_property(sd_bus_message *m) {
        int r = 0;

        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The "as" part of a property: the n strings of l. */
static int append_string_array(sd_bus_message *m, const char *const *l, size_t n) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "s");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = sd_bus_message_append(m, "s", l[i]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int append_strv(sd_bus_message *m, const char *name, const char *const *l, size_t n) {
        int r;

        r = open_array_property(m, name, "s");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(m, "s", l[i]);
        return r < 0 ? r : close_array_property(m);
}

/* BindReadOnlyPaths= for paths bound onto themselves: a(ssbt), recursive, a missing source an error. */
static int append_bind_read_only(sd_bus_message *m, const char *const *l, size_t n) {
        int r;

        r = open_array_property(m, "BindReadOnlyPaths", "(ssbt)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(m, "(ssbt)", l[i], l[i], 0, (uint64_t) MS_REC);
        return r < 0 ? r : close_array_property(m);
}

/* A "(bas)" property: SystemCallFilter=, RestrictAddressFamilies=. allow: an allow list (else a deny
 * list, like a leading "~" in a unit file). */
static int append_bool_strv(sd_bus_message *m, const char *name, int allow, const char *const *l, size_t n) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'v', "(bas)");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'r', "bas");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "b", allow);
        if (r < 0)
                return r;
        r = append_string_array(m, l, n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < 2; i++) {
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int append_unit(sd_bus_message *m, const JobSpec *s) {
        char desc[128];
        int r;

        if (s->warm)
                (void) snprintf(desc, sizeof(desc), "pyward warm runner %s (profile %s)", s->job_id,
                                s->profile->name);
        else
                (void) snprintf(desc, sizeof(desc), "pyward job %s for UID %u", s->job_id, (unsigned) s->uid);
        r = sd_bus_message_append(m, "(sv)(sv)", "Description", "s", desc, "CollectMode", "s",
                                  "inactive-or-failed");
        if (r < 0)
                return r;
        /* A warm runner outlives the helper that started it; once it has a job, it ends when the
         * helper that handed it over goes (the channel's EOF: the runner kills the code and exits). */
        if (!s->helper_unit || s->warm)
                return 0;
        /* The job cannot outlive its helper: when the helper's unit goes down, so does the job. */
        return sd_bus_message_append(m, "(sv)(sv)", "BindsTo", "as", 1, s->helper_unit, "After", "as", 1,
                                     s->helper_unit);
}

static int append_exec(sd_bus_message *m, const JobSpec *s) {
        const Profile *p = s->profile;
        /* MALLOC_ARENA_MAX=2: every further glibc malloc arena (one per thread, up to 8 per CPU)
         * reserves 64 MiB of address space, which under LimitAS= would leave no room for thread
         * stacks (16 threads could not start under 512 MiB); with the GIL, two arenas lose nothing.
         * OPENBLAS_NUM_THREADS=1: OpenBLAS (numpy's BLAS) starts a thread per CPU of the host, not of
         * CPUQuota=, and reserves 128 MiB per thread, which LimitDATA= counts though it stays
         * untouched; when that mmap() fails, its allocator retries forever, so numpy.linalg.inv()
         * spun until the CPU-time limit in a 256M job with two CPUs (282 MiB reserved; one thread:
         * 146 MiB). A job may ask for more threads: os.environ before it imports numpy. */
        /* clang-format off */
        const char *env[] = {
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "LANG=C.UTF-8",
                "HOME=" JOB_DIR,
                "TMPDIR=" JOB_DIR,
                "PYTHONDONTWRITEBYTECODE=1",
                "MALLOC_ARENA_MAX=2",
                "OPENBLAS_NUM_THREADS=1",
        };
        /* clang-format on */
        int r;

        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)", "Type", "s", "exec", "AddRef", "b", 1,
                                  "WorkingDirectory", "s", JOB_DIR, "UMask", "u", (uint32_t) 0077);
        if (r < 0)
                return r;
        /* clang-format off */
        r = sd_bus_message_append(m, "(sv)(sv)(sv)", "StandardInputFileDescriptor", "h", s->stdin_fd,
                                  "StandardOutputFileDescriptor", "h", s->stdout_fd,
                                  "StandardErrorFileDescriptor", "h", s->stderr_fd);
        /* clang-format on */
        if (r < 0)
                return r;
        r = open_array_property(m, "Environment", "s");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(env); i++)
                r = sd_bus_message_append(m, "s", env[i]);
        /* On both paths, so that a warm job and a cold one see the same environment (the runner
         * removes it from os.environ before the code runs); only a warm runner imports them. */
        if (r >= 0 && s->preload)
                r = sd_bus_message_append(m, "s", s->preload);
        r = r < 0 ? r : close_array_property(m);
        if (r < 0)
                return r;

        /* ExecStartEx=, flag no-env-expand: nothing of ours is expanded by the manager ("$HOME"
         * stays as written). argv: [pyward-landlock OPTIONS... --] INTERPRETER ARGS... -c RUNNER; the
         * client's file name and arguments reach the runner over the channel, not on argv. */
        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "ExecStartEx");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(sasas)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sasas)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sasas");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", mac_exec_path(s));
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "s");
        /* pyward-landlock's own arguments first (mac.c); it executes the rest unchanged. */
        if (r >= 0)
                r = mac_exec_args_append(m, s);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", p->interpreter);
        for (char **a = p->interpreter_args; r >= 0 && a && *a; a++)
                r = sd_bus_message_append(m, "s", *a);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", "-c", s->runner);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "as", 1, "no-env-expand");
        for (int i = 0; r >= 0 && i < 4; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* Over 100 lines on purpose: one flat list of the sandbox's properties in the order pyward-helper(8)
 * lists them, each a single append; split, a reviewer would have to join them again to see the
 * whole sandbox. */
static int append_sandbox(sd_bus_message *m, const JobSpec *s) {
        const bool loopback = s->profile->network == CONFIG_NETWORK_LOOPBACK;
        const char *families[] = { "AF_UNIX", "AF_INET", "AF_INET6" };
        char tmpfs_opts[96], tree[PATH_MAX];
        int r;

        /* A user of pyward's own pool, held by this helper for the job alone (policy.h), not
         * DynamicUser=: that forces PrivateTmp=, whose /tmp and /var/tmp no per-job size bound
         * reaches without mounts in the manager's own namespace, and on systemd 252 a few job starts
         * a second worth of those stall the manager (pyward-helper(8), "JOB USERS"). Everything
         * DynamicUser= would imply is set here: ProtectSystem=strict, ProtectHome=, RemoveIPC=,
         * NoNewPrivileges=, RestrictSUIDSGID=, and a private /tmp and /var/tmp below. */
        /* clang-format off */
        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                                  "User", "s", s->user,
                                  "Group", "s", s->user,
                                  "ProtectSystem", "s", "strict",
                                  "ProtectHome", "s", "yes",
                                  "PrivateDevices", "b", 1,
                                  "PrivateNetwork", "b", 1,
                                  "PrivateIPC", "b", 1,
                                  "PrivateUsers", "b", 1);
        /* clang-format on */
        if (r < 0)
                return r;
        /* ProtectControlGroups=: host_view_append(). */
        /* clang-format off */
        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                                  "ProtectProc", "s", "invisible",
                                  "ProcSubset", "s", "pid",
                                  "ProtectKernelTunables", "b", 1,
                                  "ProtectKernelModules", "b", 1,
                                  "ProtectKernelLogs", "b", 1,
                                  "ProtectClock", "b", 1,
                                  "ProtectHostname", "b", 1);
        /* clang-format on */
        if (r < 0)
                return r;
        /* clang-format off */
        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                                  "RestrictNamespaces", "t", UINT64_C(0), /* allowed: none */
                                  "RestrictRealtime", "b", 1,
                                  "RestrictSUIDSGID", "b", 1,
                                  "LockPersonality", "b", 1,
                                  "NoNewPrivileges", "b", 1,
                                  "MemoryDenyWriteExecute", "b", 1,
                                  "CapabilityBoundingSet", "t", UINT64_C(0),
                                  "AmbientCapabilities", "t", UINT64_C(0),
                                  "RemoveIPC", "b", 1);
        /* clang-format on */
        if (r < 0)
                return r;
        /* Not PrivatePIDs=yes (257+), although the manager has it: it makes the interpreter PID 1 of
         * its namespace, and PID 1 is immune to its own signals, so os.kill(os.getpid(), SIGKILL)
         * would not end the job; and orphans would be reaped by nobody. ProtectProc=invisible
         * already hides every process of other users. */

        /* The network: never anything but the job's own loopback (PrivateNetwork=yes). */
        r = append_bool_strv(m, "RestrictAddressFamilies", 1, families, loopback ? 3 : 1);
        if (r < 0)
                return r;
        /* clang-format off */
        r = sd_bus_message_append(m, "(sv)", "IPAddressDeny", "a(iayu)", 2,
                                  AF_INET, 4, 0, 0, 0, 0, 0,
                                  AF_INET6, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        /* clang-format on */
        if (r < 0)
                return r;
        if (loopback) {
                /* clang-format off */
                r = sd_bus_message_append(m, "(sv)", "IPAddressAllow", "a(iayu)", 2,
                                          AF_INET, 4, 127, 0, 0, 0, 8,
                                          AF_INET6, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                                          128);
                /* clang-format on */
                if (r < 0)
                        return r;
        }

        r = append_strv(m, "InaccessiblePaths", (const char *const *) inaccessible_paths,
                        ELEMENTSOF(inaccessible_paths));
        if (r < 0)
                return r;
        if (s->hidden_other) {
                r = append_strv(m, "InaccessiblePaths", (const char *const *) s->hidden_other,
                                strv_length(s->hidden_other));
                if (r < 0)
                        return r;
        }
        if (s->profile->read_only_paths) {
                r = append_bind_read_only(m, (const char *const *) s->profile->read_only_paths,
                                          strv_length(s->profile->read_only_paths));
                if (r < 0)
                        return r;
        }
        /* An interpreter outside the OS (a venv in /opt) brings its own tree back into view. */
        interpreter_tree(s->profile->interpreter, tree, sizeof(tree));
        if (!path_in_host_os(tree)) {
                const char *l[] = { tree };

                r = append_bind_read_only(m, l, 1);
                if (r < 0)
                        return r;
        }

        /* The host's data hidden, each top-level directory under an empty read-only tmpfs (a
         * profile's ReadOnlyPaths= and the bounded /var/tmp are mounted inside); the writable
         * places: /tmp, /var/tmp and /dev/shm, each a tmpfs of size=DISK that exists only in the
         * job's mount namespace (no mount in the manager's, nothing left on the host). nr_inodes=:
         * tmpfs inodes are never reclaimed while the job lives, and size= does not count empty
         * files (systemd's default, 400k, let a 64M job pin 1.2 GiB of slab with three mounts). */
        (void) snprintf(tmpfs_opts, sizeof(tmpfs_opts),
                        "size=%" PRIu64 ",nr_inodes=%" PRIu64 ",mode=1777,nosuid,nodev",
                        s->limits[LIMIT_DISK], tmpfs_inodes(s->limits[LIMIT_MEMORY]));
        r = open_array_property(m, "TemporaryFileSystem", "(ss)");
        for (char *const *d = s->hidden_dirs; r >= 0 && d && *d; d++)
                r = sd_bus_message_append(m, "(ss)", *d, "ro,mode=0755,nosuid,nodev,noexec");
        if (r >= 0)
                r = sd_bus_message_append(m, "(ss)(ss)(ss)", "/tmp", tmpfs_opts, "/var/tmp", tmpfs_opts,
                                          "/dev/shm", tmpfs_opts);
        return r < 0 ? r : close_array_property(m);
}

static int append_syscalls(sd_bus_message *m, const JobSpec *s) {
        const char *service[] = { "@system-service" };
        char **allow = s->profile->syscall_allow, **deny = s->profile->syscall_deny;
        const char *deny_list[ELEMENTSOF(syscall_deny_groups) + ELEMENTSOF(syscall_deny_uncharged)];
        size_t n;
        int r;

        r = sd_bus_message_append(m, "(sv)(sv)", "SystemCallArchitectures", "as", 1, "native",
                                  "SystemCallErrorNumber", "i", (int32_t) EPERM);
        if (r < 0)
                return r;
        /* Applied in order, like lines in a unit file: allow @system-service, take away the dangerous
         * groups, then the profile's extra allow and deny entries. @chown, the setuid twins and the
         * own-scheduling calls of @resources stay denied although the kernel bounds them (no
         * capability, a UID of its own): systemd-analyze security counts a group with one call
         * allowed as open, and the job's exposure would go from 0.4 to 0.6 (measured);
         * pyward-helper(8), "RESTRICTIONS A JOB KEEPS", gives the reviewed SystemCallAllow= line
         * that lifts them. */
        r = append_bool_strv(m, "SystemCallFilter", 1, service, 1);
        if (r < 0)
                return r;
        n = 0;
        for (size_t i = 0; i < ELEMENTSOF(syscall_deny_groups); i++)
                deny_list[n++] = syscall_deny_groups[i];
        for (size_t i = 0; !s->memory_cgroup && i < ELEMENTSOF(syscall_deny_uncharged); i++)
                deny_list[n++] = syscall_deny_uncharged[i];
        r = append_bool_strv(m, "SystemCallFilter", 0, deny_list, n);
        if (r < 0)
                return r;
        if (allow && *allow) {
                r = append_bool_strv(m, "SystemCallFilter", 1, (const char *const *) allow,
                                     strv_length(allow));
                if (r < 0)
                        return r;
        }
        if (deny && *deny) {
                r = append_bool_strv(m, "SystemCallFilter", 0, (const char *const *) deny, strv_length(deny));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Whether the manager can enforce MemoryMax=: the memory controller is available at the root of
 * the unified hierarchy (a VM or a real host; not our nspawn machines). */
static bool memory_controller_available(void) {
        char buf[256] = {};
        FILE *f;
        size_t n;

        f = fopen("/sys/fs/cgroup/cgroup.controllers", "re");
        if (!f)
                return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        for (char *w = strtok(buf, " \n"); w; w = strtok(NULL, " \n"))
                if (strcmp(w, "memory") == 0)
                        return true;
        return false;
}

uint64_t data_rlimit_bytes(uint64_t memory, bool memory_cgroup) {
        /* Where MemoryMax= holds, it is the memory limit (the whole job, status oom) and LimitDATA=
         * only a per-process backstop at four times that; elsewhere LimitDATA= is the limit. */
        if (!memory_cgroup)
                return memory;
        return memory > UINT64_MAX / 4 ? UINT64_MAX : memory * 4;
}

uint64_t as_rlimit_bytes(uint64_t memory, bool memory_cgroup) {
        if (memory_cgroup || memory > UINT64_MAX / JOB_AS_FACTOR)
                return UINT64_MAX;
        return memory * JOB_AS_FACTOR;
}

uint64_t tmpfs_inodes(uint64_t memory) {
        uint64_t n = memory / JOB_BYTES_PER_INODE;

        return n > JOB_INODES_MIN ? n : JOB_INODES_MIN;
}

bool profile_allows_memfd(const Profile *p) {
        for (char **a = p->syscall_allow; a && *a; a++)
                if ((*a)[0] == '@' || strcmp(*a, "memfd_create") == 0)
                        return true;
        return false;
}

uint64_t fsize_rlimit_bytes(uint64_t disk, bool memfd) {
        /* Every place a job can write is a tmpfs of size=DISK (append_sandbox()), which answers
         * ENOSPC when full and does not count a file's holes: no file limit is needed there, and
         * one would refuse a sparse file the tmpfs holds (EFBIG at disk + slack). Only a memfd
         * written with write() has no bound but this one, so a profile that allows memfd_create
         * keeps it. Where the memory controller gives it back (append_syscalls()), MemoryMax=
         * bounds a memfd's pages and there is no file limit. */
        if (!memfd || disk > UINT64_MAX - JOB_FSIZE_SLACK)
                return UINT64_MAX;
        return disk + JOB_FSIZE_SLACK;
}

static int append_limits(sd_bus_message *m, const JobSpec *s) {
        const uint64_t *l = s->limits;
        uint64_t cpu_s = cpu_rlimit_seconds(l[LIMIT_CPU_TIME]);
        bool memory_cgroup = memory_controller_available();
        /* A job whose files are asked for may hand them back for files-out-time after the
         * helper's wall-clock stop (job.c's stop grace); the manager's layer leaves it that. */
        uint64_t runtime_max =
                l[LIMIT_WALL_TIME] + JOB_RUNTIME_SLACK_USEC + (s->collect ? l[LIMIT_FILES_OUT_TIME] : 0);
        /* A warm runner waits for its job first, then runs one the profile allows; the helper's
         * timer and the runner's own (CH_LIMITS) end the job itself in time. */
        if (s->warm)
                runtime_max = s->warm_wait_usec + s->profile->limit_max[LIMIT_WALL_TIME] +
                              JOB_RUNTIME_SLACK_USEC + s->profile->limit_max[LIMIT_FILES_OUT_TIME];
        int r;

        /* cgroup layer: enforced where the manager has the controllers (a VM, a real host). */
        /* clang-format off */
        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                                  "Slice", "s", JOB_SLICE,
                                  "MemoryAccounting", "b", 1,
                                  "MemoryMax", "t", l[LIMIT_MEMORY],
                                  "MemorySwapMax", "t", UINT64_C(0),
                                  "TasksMax", "t", l[LIMIT_TASKS],
                                  "CPUQuotaPerSecUSec", "t", l[LIMIT_CPU_QUOTA] * UINT64_C(10000),
                                  "RuntimeMaxUSec", "t", runtime_max);
        /* clang-format on */
        if (r < 0)
                return r;
        /* rlimit layer, per process, enforced everywhere (also where cgroup controllers are missing).
         * LimitFSIZE=: fsize_rlimit_bytes(). RLIMIT_NPROC counts per UID, and each job has a UID of its own. RLIMIT_CPU: the soft limit
         * sends SIGXCPU (reported as cpu-limit), the hard one a second later SIGKILL.
         * RLIMIT_DATA counts private writable mappings only; LimitAS= bounds the rest: shared
         * anonymous mappings (a 64M job held 2 GiB with sixteen mmap(-1, 128M)) and the page
         * tables of a sparse read-only mapping (128 MiB for 64 GiB read once every 2 MiB). */
        /* clang-format off */
        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)",
                                  "LimitAS", "t", as_rlimit_bytes(l[LIMIT_MEMORY], memory_cgroup),
                                  "LimitMEMLOCK", "t", (uint64_t) JOB_MEMLOCK_MAX,
                                  "LimitSIGPENDING", "t", (uint64_t) JOB_SIGPENDING_MAX,
                                  "LimitMSGQUEUE", "t", (uint64_t) JOB_MSGQUEUE_MAX,
                                  "LimitDATA", "t", data_rlimit_bytes(l[LIMIT_MEMORY], memory_cgroup));
        /* clang-format on */
        if (r < 0)
                return r;
        /* clang-format off */
        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)",
                                  "LimitNPROC", "t", l[LIMIT_TASKS],
                                  "LimitFSIZE", "t",
                                  fsize_rlimit_bytes(l[LIMIT_DISK], profile_allows_memfd(s->profile)),
                                  "LimitNOFILE", "t", (uint64_t) JOB_NOFILE_MAX,
                                  "LimitCORE", "t", UINT64_C(0),
                                  "LimitCPU", "t", cpu_s + 1,
                                  "LimitCPUSoft", "t", cpu_s);
        /* clang-format on */
        if (r < 0)
                return r;
        /* One process of the job killed by the kernel's OOM killer ends the whole job as "oom" (the
         * default, OOMPolicy=stop, would too, but say it: a half-dead job is no result). */
        r = sd_bus_message_append(m, "(sv)", "OOMPolicy", "s", "kill");
        if (r < 0)
                return r;
        /* Stopping is immediate: nothing in a job deserves a graceful shutdown. */
        return sd_bus_message_append(m, "(sv)(sv)(sv)", "KillMode", "s", "control-group", "KillSignal", "i",
                                     (int32_t) SIGKILL, "TimeoutStopUSec", "t", UINT64_C(2000000));
}

int unit_props_append(sd_bus_message *m, const JobSpec *s) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r < 0)
                return r;
        r = append_unit(m, s);
        if (r >= 0)
                r = append_exec(m, s);
        if (r >= 0)
                r = append_sandbox(m, s);
        if (r >= 0)
                r = host_view_append(m, s);
        if (r >= 0)
                r = mac_props_append(m, s);
        if (r >= 0)
                r = append_syscalls(m, s);
        if (r >= 0)
                r = append_limits(m, s);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}
