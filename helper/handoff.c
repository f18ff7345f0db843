/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hand-off (handoff.h): one byte and two descriptors by SCM_RIGHTS, checked for what they must
 * be before the helper treats the first as its client. */

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "handoff.h"
#include "macro.h"

bool handoff_socket_is(int fd, const char *path) {
        struct sockaddr_un sa = {};
        socklen_t len = sizeof(sa);
        size_t n = strlen(path);

        if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0 || sa.sun_family != AF_UNIX)
                return false;
        if (len < offsetof(struct sockaddr_un, sun_path) + n || n >= sizeof(sa.sun_path))
                return false;
        return memcmp(sa.sun_path, path, n) == 0 &&
               (len == offsetof(struct sockaddr_un, sun_path) + n || sa.sun_path[n] == '\0');
}

int handoff_send(int sock, int client_fd, int share_fd) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(2 * sizeof(int))];
        } control = {};
        char magic = HANDOFF_MAGIC;
        struct iovec iov = { .iov_base = &magic, .iov_len = 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        int fds[2] = { client_fd, share_fd };

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(c), fds, sizeof(fds));
        if (sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

static bool fd_is_stream_socket(int fd) {
        int type = 0;
        socklen_t len = sizeof(type);

        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static bool fd_is_regular(int fd) {
        struct stat st;

        return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

int handoff_receive(int sock, int timeout_msec, int *ret_client_fd, int *ret_share_fd) {
        union {
                struct cmsghdr h;
                /* Room for more than two, so that a message with extra descriptors is seen whole
                 * and every one of them closed, not truncated away. */
                char buf[CMSG_SPACE(8 * sizeof(int))];
        } control = {};
        char magic = 0;
        struct iovec iov = { .iov_base = &magic, .iov_len = 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct pollfd p = { .fd = sock, .events = POLLIN };
        int fds[8], nfds = 0, r;
        ssize_t n;

        r = poll(&p, 1, timeout_msec);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                if (k > (size_t) (8 - nfds))
                        k = (size_t) (8 - nfds);
                memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
                nfds += (int) k;
        }
        if (n == 1 && magic == HANDOFF_MAGIC && !(mh.msg_flags & MSG_CTRUNC) && nfds == 2 &&
            fd_is_stream_socket(fds[0]) && fd_is_regular(fds[1])) {
                *ret_client_fd = fds[0];
                *ret_share_fd = fds[1];
                return 0;
        }
        for (int i = 0; i < nfds; i++)
                (void) close(fds[i]);
        return n == 0 ? -ECONNRESET : -EBADMSG;
}
