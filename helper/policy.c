/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Peer credentials and the flock()ed files behind per-UID concurrency and the job users: the
 * mechanisms. The access decision that uses them is admission_decide() (admission.c). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "policy.h"

void peer_done(Peer *p) {
        free(p->gids);
        p->gids = NULL;
        p->n_gids = 0;
}

int peer_from_socket(int fd, Peer *ret) {
        struct ucred cred = {};
        socklen_t len = sizeof(cred), glen;
        _cleanup_free_ gid_t *gids = NULL;
        size_t n = 64;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (len != sizeof(cred))
                return -EIO;

        for (;;) {
                gid_t *g;

                g = realloc(gids, sizeof(gid_t) * (n + 1));
                if (!g)
                        return -ENOMEM;
                gids = g;
                glen = (socklen_t) (sizeof(gid_t) * n);
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gids + 1, &glen) >= 0)
                        break;
                if (errno != ERANGE)
                        return -errno;
                /* glen now says how much is needed; bounded, the kernel's own limit is 65536. */
                if (glen / sizeof(gid_t) <= n || glen / sizeof(gid_t) > PEER_GROUPS_MAX)
                        return -E2BIG;
                n = glen / sizeof(gid_t);
        }
        gids[0] = cred.gid;
        *ret = (Peer) {
                .pid = cred.pid,
                .uid = cred.uid,
                .gid = cred.gid,
                .gids = TAKE_PTR(gids),
                .n_gids = 1 + glen / sizeof(gid_t),
        };
        return 0;
}

/* Opens path (creating it) and takes flock(LOCK_EX|LOCK_NB) on it: the lock is held while the fd is
 * open. -EBUSY: another process holds it. */
static int open_locked(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int slot_acquire(const char *dir, uid_t uid, uint64_t n, int *ret_fd) {
        if (n > SLOTS_MAX)
                n = SLOTS_MAX;
        for (uint64_t k = 0; k < n; k++) {
                char path[256];
                int r;

                (void) snprintf(path, sizeof(path), "%s/%u.%llu", dir, (unsigned) uid,
                                (unsigned long long) k);
                r = open_locked(path, ret_fd);
                if (r != -EBUSY)
                        return r;
        }
        return -EBUSY;
}

int start_token_acquire(const char *dir, unsigned n, int *ret_fd) {
        for (unsigned k = 0; k < n; k++) {
                char path[256];
                int r;

                (void) snprintf(path, sizeof(path), "%s/start.%u", dir, k);
                r = open_locked(path, ret_fd);
                if (r != -EBUSY)
                        return r;
        }
        return -EBUSY;
}

int job_user_try(const char *dir, unsigned k, char prev[static JOB_USER_FILE_MAX], int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        char path[256];
        ssize_t n;
        int r;

        (void) snprintf(path, sizeof(path), "%s/user.%u", dir, k);
        r = open_locked(path, &fd);
        if (r < 0)
                return r;
        n = pread(fd, prev, JOB_USER_FILE_MAX - 1, 0);
        if (n < 0)
                return -errno;
        prev[n] = 0;
        prev[strcspn(prev, "\n")] = 0;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int job_user_record(int fd, const char *unit) {
        size_t len = strlen(unit);
        char buf[JOB_USER_FILE_MAX];
        ssize_t n;

        if (len + 1 >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, unit, len);
        buf[len] = '\n';
        if (ftruncate(fd, 0) < 0)
                return -errno;
        n = pwrite(fd, buf, len + 1, 0);
        if (n < 0)
                return -errno;
        return (size_t) n == len + 1 ? 0 : -EIO;
}
