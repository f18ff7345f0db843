/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's own Landlock domain (confine.h): the paths it reads and writes after it starts, as
 * one plan for landlock_apply(), the same code that confines every job's first program. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-paths.h"
#include "confine.h"
#include "discover-cache.h"
#include "warm.h"
#include "landlock-rules.h"
#include "log.h"
#include "policy.h"

static unsigned confined_abi = 0;

bool confine_required(void) {
        const char *e = getenv(CONFINE_ENV);

        return e && strcmp(e, CONFINE_ENV_LANDLOCK) == 0;
}

unsigned confine_abi(void) {
        return confined_abi;
}

/* The directories the helper writes: made now (tmpfiles.d makes them at boot; an upgrade may run
 * a new helper before it does), as a rule needs the directory to exist. */
static int make_writable_dirs(bool required) {
        static const char *const dirs[] = { SLOT_DIR, DISCOVER_CACHE_DIR, WARM_DIR };

        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                if (mkdir(dirs[i], 0700) >= 0 || errno == EEXIST)
                        continue;
                /* Under the unit's read-only file system a missing one stays missing: no rule. */
                if (required)
                        return log_error_errno(errno, "Failed to create %s: %m", dirs[i]);
                log_debug_errno(errno, "Cannot create %s: %m", dirs[i]);
        }
        return 0;
}

int confine_self(bool required) {
        char proc_self[32];
        LandlockPlan plan = { .deny_tcp = true };
        unsigned abi;
        int r;

        r = landlock_abi_usable();
        if (r < 0 && required)
                return log_error_errno(r, "Cannot query Landlock, which this helper's unit relies on: %m");
        abi = r < 0 ? 0 : (unsigned) r;
        if (required && abi < CONFINE_ABI_MIN)
                return log_error_errno(EOPNOTSUPP,
                                       "The unit relies on Landlock ABI %u, the kernel offers %u: "
                                       "refusing to serve (run systemctl daemon-reload so that "
                                       "pyward-helper-generator sees this kernel).",
                                       CONFINE_ABI_MIN, abi);
        if (abi == 0) {
                log_debug("No Landlock: the helper relies on its unit's namespaces alone.");
                return 0;
        }
        r = make_writable_dirs(required);
        if (r < 0)
                return r;
        /* The pid's directory, not /proc/self: a rule is on the inode the path resolves to now. */
        (void) snprintf(proc_self, sizeof(proc_self), "/proc/%d", (int) getpid());
        const LandlockPath paths[] = {
                /* Libraries, and of /etc only the configuration and what NSS reads for
                 * admission's users and groups: not /etc/shadow, not the world-readable files an
                 * admin keeps secrets in (a helper its client took over would hand them on). */
                { LANDLOCK_READ, "/usr" },
                { LANDLOCK_READ, "/etc/pyward" },
                { LANDLOCK_READ, "/etc/passwd" },
                { LANDLOCK_READ, "/etc/group" },
                { LANDLOCK_READ, "/etc/nsswitch.conf" },
                { LANDLOCK_READ, "/etc/ld.so.cache" }, /* NSS modules are dlopen()ed */
                { LANDLOCK_READ, "/etc/localtime" },
                /* The slots, the discovery cache, the jobs' /etc trees (host-view.c). */
                { LANDLOCK_READ, "/run/pyward" },
                { LANDLOCK_WRITE, SLOT_DIR },
                { LANDLOCK_WRITE, DISCOVER_CACHE_DIR },
                { LANDLOCK_WRITE, WARM_DIR },
                /* Its own status and cgroup; the controllers of the hierarchy; AppArmor's list. */
                { LANDLOCK_READ, proc_self },
                /* sd_pid_get_unit() strips the manager's own cgroup (a container's root) from ours. */
                { LANDLOCK_READ, "/proc/1/cgroup" },
                { LANDLOCK_READ, "/sys/fs/cgroup" },
                { LANDLOCK_READ, "/sys/kernel/security/apparmor" },
                { LANDLOCK_DEVICE, "/dev/null" },
                /* Which top-level directories a job must not see: names only, no file read. */
                { LANDLOCK_LIST, "/" },
        };
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
                plan.paths[plan.n_paths++] = paths[i];
        r = landlock_apply(&plan, abi);
        if (r < 0) {
                if (required)
                        return log_error_errno(r, "Failed to confine the helper with Landlock: %m");
                log_warning_errno(r,
                                  "Failed to confine the helper with Landlock (its unit's namespaces "
                                  "still hold): %m");
                return 0;
        }
        confined_abi = abi;
        log_debug("Confined with Landlock ABI %u%s.", abi,
                  required ? " in place of the unit's namespaces" : " under the unit's namespaces");
        return (int) abi;
}

#if PYWARD_DEBUG_HOOKS
/* Appends "TEXT; " to the answer, whole or not at all. */
static void append(char **p, size_t *left, const char *what, const char *path, const char *text) {
        int n = path ? snprintf(*p, *left, "%s %s: %s; ", what, path, text)
                     : snprintf(*p, *left, "%s; ", text);

        if (n > 0 && (size_t) n < *left) {
                *p += n;
                *left -= (size_t) n;
        }
}

/* The outcome of one probe: "ok" or the errno's text; a file made is removed again. */
static void probe(char **p, size_t *left, const char *what, const char *path, int flags) {
        int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        int e = errno;

        if (fd >= 0) {
                (void) close(fd);
                if (flags & O_CREAT)
                        (void) unlinkat(AT_FDCWD, path, 0); /* unlink(): not in the allowlist */
        }
        append(p, left, what, path, fd >= 0 ? "ok" : strerror(e));
}

void confine_debug_probe(char *buf, size_t size) {
        char *p = buf;
        size_t left = size;

        append(&p, &left, NULL, NULL,
               confined_abi == 0    ? "namespaces"
               : confine_required() ? "landlock in place of namespaces"
                                    : "landlock under namespaces");
        /* Root-owned places a root process without capabilities could write by its uid alone. */
        probe(&p, &left, "write", "/etc/pyward-confine-test", O_WRONLY | O_CREAT | O_EXCL);
        probe(&p, &left, "write", "/var/lib/pyward-confine-test", O_WRONLY | O_CREAT | O_EXCL);
        probe(&p, &left, "write", "/tmp/pyward-confine-test", O_WRONLY | O_CREAT | O_EXCL);
        probe(&p, &left, "write", "/run/pyward/pyward-confine-test", O_WRONLY | O_CREAT | O_EXCL);
        /* Reads: another process, the kernel log, a home directory. */
        probe(&p, &left, "read", "/proc/1/status", O_RDONLY);
        probe(&p, &left, "read", "/root/pyward-confine-secret", O_RDONLY);
        /* And of /etc: the password hashes, a world-readable file (test_confine.py plants it). */
        probe(&p, &left, "read", "/etc/shadow", O_RDONLY);
        probe(&p, &left, "read", "/etc/pyward-confine-secret", O_RDONLY);
        /* What it must keep: a slot file. */
        probe(&p, &left, "write", SLOT_DIR "/pyward-confine-test", O_WRONLY | O_CREAT | O_EXCL);
}
#endif
