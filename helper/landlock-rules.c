/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job's Landlock ruleset, by raw system calls (no library): rights per kind of path and ABI,
 * the wrapper's command line, and the ruleset applied to the calling process. */

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock-rules.h"
#include "macro.h"

/* Rights newer than the build host's <linux/landlock.h> (Debian 12's knows ABI 2). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* The ruleset attribute as of ABI 6; the kernel takes a shorter one by its size. */
struct ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
        uint64_t scoped;
};

#define FS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)
/* The rights a rule on a file (not a directory) may hold. */
#define FS_FILE                                                                                      \
        (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
         LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)
#define FS_READ (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_DEVICE                                                                                     \
        (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
         LANDLOCK_ACCESS_FS_IOCTL_DEV | LANDLOCK_ACCESS_FS_READ_DIR)

uint64_t landlock_fs_handled(unsigned abi) {
        uint64_t fs = 0;

        if (abi >= 1)
                fs |= FS_ABI1;
        if (abi >= 2)
                fs |= LANDLOCK_ACCESS_FS_REFER;
        if (abi >= 3)
                fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
        if (abi >= 5)
                fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
        return fs;
}

uint64_t landlock_fs_access(LandlockKind kind, unsigned abi, int dir) {
        uint64_t a = 0;

        switch (kind) {
        case LANDLOCK_READ:
                a = FS_READ;
                break;
        case LANDLOCK_WRITE:
                /* Everything but making device nodes (nodev already makes them useless). Execute
                 * too: the mounts allow it, and Landlock's execute right guards execve() alone, not
                 * mmap(PROT_EXEC) of a library the job wrote, so denying it here would only break
                 * a script run from /tmp. ioctl on devices: there are none in a tmpfs. */
                a = landlock_fs_handled(abi) &
                    ~(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                      LANDLOCK_ACCESS_FS_IOCTL_DEV);
                break;
        case LANDLOCK_DEVICE:
                a = FS_DEVICE;
                break;
        case LANDLOCK_LIST:
                a = LANDLOCK_ACCESS_FS_READ_DIR;
                break;
        default:
                return 0;
        }
        if (!dir)
                a &= FS_FILE;
        return a & landlock_fs_handled(abi);
}

uint64_t landlock_scoped(unsigned abi) {
        return abi >= 6 ? LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL : 0;
}

static int parse_abi(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v > 1000 || s[0] == '-')
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

int landlock_plan_parse(int argc, char *argv[], LandlockPlan *ret, const char **ret_error) {
        static const char *const kinds[_LANDLOCK_KIND_MAX] = {
                [LANDLOCK_READ] = "--read",
                [LANDLOCK_WRITE] = "--write",
                [LANDLOCK_DEVICE] = "--device",
                [LANDLOCK_LIST] = "--list",
        };
        LandlockPlan p = {};
        int i;

        for (i = 1; i < argc; i++) {
                int kind = -1;

                if (strcmp(argv[i], "--") == 0)
                        break;
                if (i + 1 >= argc) {
                        *ret_error = "an option without its value";
                        return -EINVAL;
                }
                if (strcmp(argv[i], "--abi") == 0) {
                        if (parse_abi(argv[++i], &p.abi_min) < 0) {
                                *ret_error = "--abi needs a number";
                                return -EINVAL;
                        }
                        continue;
                }
                for (int k = 0; k < _LANDLOCK_KIND_MAX; k++)
                        if (strcmp(argv[i], kinds[k]) == 0)
                                kind = k;
                if (kind < 0) {
                        *ret_error = "unknown option";
                        return -EINVAL;
                }
                if (argv[i + 1][0] != '/') {
                        *ret_error = "a path must be absolute";
                        return -EINVAL;
                }
                if (p.n_paths >= LANDLOCK_PATHS_MAX) {
                        *ret_error = "too many paths";
                        return -E2BIG;
                }
                p.paths[p.n_paths++] = (LandlockPath) { .kind = kind, .path = argv[++i] };
        }
        if (i + 1 >= argc) {
                *ret_error = "no program after --";
                return -EINVAL;
        }
        p.argv = argv + i + 1;
        *ret = p;
        return 0;
}

int landlock_abi_probe(void) {
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

        if (abi >= 0)
                return (int) abi;
        /* ENOSYS: not built in; EOPNOTSUPP: built in, not enabled at boot. */
        if (errno == ENOSYS || errno == EOPNOTSUPP)
                return 0;
        return -errno;
}

int landlock_abi_usable(void) {
        int abi = landlock_abi_probe();

        return abi > (int) LANDLOCK_ABI_KNOWN ? (int) LANDLOCK_ABI_KNOWN : abi;
}

static int add_rule(int ruleset_fd, const LandlockPath *lp, unsigned abi) {
        struct landlock_path_beneath_attr rule = {};
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(lp->path, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno; /* /lib32 on a host without it: no rule */
        if (fstat(fd, &st) < 0)
                return -errno;
        rule.allowed_access = landlock_fs_access(lp->kind, abi, S_ISDIR(st.st_mode));
        rule.parent_fd = fd;
        if (rule.allowed_access == 0)
                return 0;
        if (syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
                return -errno;
        return 0;
}

int landlock_apply(const LandlockPlan *plan, unsigned abi) {
        struct ruleset_attr attr = {
                .handled_access_fs = landlock_fs_handled(abi),
                .handled_access_net = plan->deny_tcp && abi >= 4
                                              ? LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP
                                              : 0,
                .scoped = landlock_scoped(abi),
        };
        /* The attribute up to the last field this ABI knows: older kernels refuse a larger one
         * with non-zero fields they do not know. */
        size_t size = abi >= 6 ? sizeof(attr) : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
        _cleanup_close_ int ruleset_fd = -EBADF;
        int r;

        if (abi == 0)
                return -EINVAL;
        ruleset_fd = (int) syscall(SYS_landlock_create_ruleset, &attr, size, 0);
        if (ruleset_fd < 0)
                return -errno;
        for (size_t i = 0; i < plan->n_paths; i++) {
                r = add_rule(ruleset_fd, &plan->paths[i], abi);
                if (r < 0)
                        return r;
        }
        /* The unit has NoNewPrivileges=yes; restrict_self() needs it, so do not depend on that. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0)
                return -errno;
        return 0;
}
