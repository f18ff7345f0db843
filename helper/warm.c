/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pool's names, its generation hash and the claim of a ready runner (warm.h). Nothing here
 * talks to the manager: warm-fill.c starts and prunes runners, run-warm.c runs a job on one. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bootstrap.h"
#include "config-paths.h"
#include "log.h"
#include "macro.h"
#include "unix-connect.h"
#include "warm.h"

/* FNV-1a, 64 bits: the inputs are the admin's configuration and this build, never a client's or a
 * job's bytes, so a hash that tells generations apart is enough; no adversary picks a collision. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t size) {
        const unsigned char *p = data;

        for (size_t i = 0; i < size; i++) {
                h ^= p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

static uint64_t fnv1a_str(uint64_t h, const char *s) {
        /* The terminating NUL too: "ab" + "c" is not "a" + "bc". */
        return fnv1a(h, s ?: "", strlen(s ?: "") + 1);
}

int warm_generation(const Config *c, const Profile *p, const JobHost *host,
                    char ret[static WARM_GEN_LEN + 1]) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        unsigned flags;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        r = config_show(c, p->name, f);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        h = fnv1a(h, text, size);
        h = fnv1a_str(h, PACKAGE_VERSION);
        h = fnv1a_str(h, BOOTSTRAP_PY);
        for (char **d = host->hidden_dirs; d && *d; d++)
                h = fnv1a_str(h, *d);
        h = fnv1a_str(h, "--");
        for (char **d = host->hidden_other; d && *d; d++)
                h = fnv1a_str(h, *d);
        flags = host->landlock_abi << 2 | (unsigned) host->apparmor << 1 | (unsigned) host->memory_cgroup;
        h = fnv1a(h, &flags, sizeof(flags));
        (void) snprintf(ret, WARM_GEN_LEN + 1, "%016llx", (unsigned long long) h);
        return 0;
}

static bool hex_run(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

bool warm_entry_parse(const char *name, WarmEntry *ret) {
        size_t n = strlen(name);

        *ret = (WarmEntry) { .profile = "" };
        if (n < 2 || name[1] != '-')
                return false;
        ret->kind = name[0];
        if (ret->kind == 'c') {
                if (n != 2 + WARM_RID_LEN || !hex_run(name + 2, WARM_RID_LEN))
                        return false;
                memcpy(ret->rid, name + 2, WARM_RID_LEN);
                return true;
        }
        if ((ret->kind != 'r' && ret->kind != 'p') || n < 2 + WARM_GEN_LEN + 1 + WARM_RID_LEN + 2)
                return false;
        name += 2;
        if (!hex_run(name, WARM_GEN_LEN) || name[WARM_GEN_LEN] != '-')
                return false;
        memcpy(ret->gen, name, WARM_GEN_LEN);
        name += WARM_GEN_LEN + 1;
        if (!hex_run(name, WARM_RID_LEN) || name[WARM_RID_LEN] != '-')
                return false;
        memcpy(ret->rid, name, WARM_RID_LEN);
        ret->profile = name + WARM_RID_LEN + 1;
        return ret->profile[0] != '\0';
}

int warm_entry_name(char kind, const char *gen, const char *rid, const char *profile, char *buf,
                    size_t size) {
        int n;

        if (kind == 'c')
                n = snprintf(buf, size, "c-%s", rid);
        else
                n = snprintf(buf, size, "%c-%s-%s-%s", kind, gen, rid, profile);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

bool warm_request_fits(const Profile *p, const uint64_t *limits, bool session, bool discover) {
        /* The tmpfs' size (disk) and its inodes (one per JOB_BYTES_PER_INODE of memory), LimitDATA=
         * and LimitAS= (memory) are fixed when the runner starts: its job must have the same. */
        static const LimitKey fixed[] = { LIMIT_MEMORY, LIMIT_DISK };
        /* Lowered for the job: TasksMax= and CPUQuota= by the manager, RLIMIT_NPROC by the runner. */
        static const LimitKey lowered[] = { LIMIT_TASKS, LIMIT_CPU_QUOTA };

        if (session || discover || p->warm_runners == 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                if (limits[fixed[i]] != p->limit_default[fixed[i]])
                        return false;
        for (size_t i = 0; i < ELEMENTSOF(lowered); i++)
                if (limits[lowered[i]] > p->limit_default[lowered[i]])
                        return false;
        /* RuntimeMaxSec= of the runner leaves room for the profile's longest job; RLIMIT_CPU can
         * only be lowered by the runner. */
        return limits[LIMIT_CPU_TIME] <= p->limit_default[LIMIT_CPU_TIME] &&
               limits[LIMIT_WALL_TIME] <= p->limit_max[LIMIT_WALL_TIME];
}

/* Connects to dir/name without blocking: a listening socket takes the connection into its backlog
 * even before the runner calls accept(). */
static int warm_connect(const char *dir, const char *name, int *ret_fd) {
        char path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                return -ENAMETOOLONG;
        return unix_connect(path, ret_fd);
}

int warm_claim(const char *dir, const char *profile, const char *gen, int *ret_fd,
               char ret_rid[static WARM_RID_LEN + 1]) {
        _cleanup_close_ int dfd = -EBADF;
        DIR *d;
        struct dirent *de;
        int r = -ENOENT;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char claimed[WARM_NAME_MAX];
                WarmEntry e;
                int q;

                if (!warm_entry_parse(de->d_name, &e) || e.kind != 'r' || strcmp(e.gen, gen) != 0 ||
                    strcmp(e.profile, profile) != 0)
                        continue;
                if (warm_entry_name('c', NULL, e.rid, NULL, claimed, sizeof(claimed)) < 0)
                        continue;
                /* One helper wins the rename; the others find the name gone. */
                if (renameat(dfd, de->d_name, dfd, claimed) < 0) {
                        if (errno != ENOENT)
                                log_debug_errno(errno, "Cannot claim warm runner %s: %m", e.rid);
                        continue;
                }
                q = warm_connect(dir, claimed, ret_fd);
                (void) unlinkat(dfd, claimed, 0);
                if (q < 0) {
                        /* Its unit is gone (stopped, its wait over, killed): the name was stale. */
                        log_debug_errno(q, "Warm runner %s does not answer (%m); trying the next one.",
                                        e.rid);
                        continue;
                }
                memcpy(ret_rid, e.rid, WARM_RID_LEN + 1);
                r = 0;
                break;
        }
        closedir(d);
        return r;
}

void warm_pool_count(const char *dir, const char *profile, const char *gen, unsigned *ret_ready,
                     unsigned *ret_other) {
        DIR *d;
        struct dirent *de;

        *ret_ready = *ret_other = 0;
        d = opendir(dir);
        if (!d)
                return;
        while ((de = readdir(d))) {
                WarmEntry e;

                if (!warm_entry_parse(de->d_name, &e) || e.kind != 'r' || strcmp(e.profile, profile) != 0)
                        continue;
                if (strcmp(e.gen, gen) == 0)
                        (*ret_ready)++;
                else
                        (*ret_other)++;
        }
        closedir(d);
}

static int claim_path(const char *dir, const char *what, const char *id, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/claim.%s%s", dir, what, id);

        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

int warm_claim_lock(const char *dir, const char *job_id, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        char path[WARM_NAME_MAX];
        int r;

        r = claim_path(dir, "tmp-", job_id, path, sizeof(path));
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                r = -errno;
                (void) unlinkat(AT_FDCWD, path, 0);
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int warm_claim_name(const char *dir, const char *job_id, const char *rid) {
        char from[WARM_NAME_MAX], to[WARM_NAME_MAX];
        int r;

        r = claim_path(dir, "tmp-", job_id, from, sizeof(from));
        if (r >= 0)
                r = claim_path(dir, "", rid, to, sizeof(to));
        if (r < 0)
                return r;
        /* *at(): the lockdown's allowlist has them, not rename() and unlink() (lockdown.c). */
        return renameat(AT_FDCWD, from, AT_FDCWD, to) < 0 ? -errno : 0;
}

void warm_claim_release(const char *dir, const char *job_id, const char *rid) {
        char path[WARM_NAME_MAX];

        if (rid && rid[0] && claim_path(dir, "", rid, path, sizeof(path)) >= 0)
                (void) unlinkat(AT_FDCWD, path, 0);
        if (claim_path(dir, "tmp-", job_id, path, sizeof(path)) >= 0)
                (void) unlinkat(AT_FDCWD, path, 0);
}
