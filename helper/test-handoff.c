/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the hand-off over socketpairs: both descriptors arrive and are what they must be; a message
 * with too few, too many or the wrong descriptors, or the wrong byte, is refused with every
 * descriptor closed; a door that sent nothing is a timeout; the listening path is recognised. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "handoff.h"
#include "test.h"

static void pair(int sv[2]) {
        assert_se(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
}

static int open_file(void) {
        char path[] = "/tmp/test-handoff-file-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);

        assert_se(fd >= 0);
        assert_se(unlink(path) == 0);
        return fd;
}

/* How many descriptors this process has open: nothing may leak from a refused message. */
static int count_fds(void) {
        int n = 0;

        for (int fd = 0; fd < 1024; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        n++;
        return n;
}

/* Sends one message of byte b with the descriptors fds[0..n). */
static void send_raw(int sock, char b, const int *fds, size_t n) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(4 * sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = &b, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n > 0) {
                struct cmsghdr *c;

                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
                c = CMSG_FIRSTHDR(&mh);
                assert_se(c);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(n * sizeof(int));
                memcpy(CMSG_DATA(c), fds, n * sizeof(int));
        }
        assert_se(sendmsg(sock, &mh, MSG_NOSIGNAL) == 1);
}

static void test_roundtrip(void) {
        int link[2], client[2], share = open_file(), got_client = -EBADF, got_share = -EBADF;
        struct stat a, b;
        char c = 0;

        pair(link), pair(client);
        assert_int(handoff_send(link[0], client[0], share), ==, 0);
        /* The door's copies go at once; what was sent stays in flight. */
        close(link[0]), close(client[0]);
        assert_int(handoff_receive(link[1], 1000, &got_client, &got_share), ==, 0);
        assert_se(fstat(share, &a) == 0 && fstat(got_share, &b) == 0);
        assert_se(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
        assert_se(fcntl(got_client, F_GETFD) & FD_CLOEXEC);
        /* It is the client's connection: bytes cross it. */
        assert_se(write(client[1], "x", 1) == 1);
        assert_se(read(got_client, &c, 1) == 1 && c == 'x');
        close(got_client), close(got_share), close(share), close(client[1]), close(link[1]);
}

static void test_refused(void) {
        int before = count_fds(), link[2], s[2], file = open_file(), got_client = -EBADF, got_share = -EBADF;
        int wrong_order[2], three[3], one[1];

        pair(s);
        wrong_order[0] = file, wrong_order[1] = s[0];
        three[0] = s[0], three[1] = file, three[2] = s[1];
        one[0] = s[0];
        struct {
                const char *name;
                char byte;
                const int *fds;
                size_t n;
        } cases[] = {
                { "no descriptors", HANDOFF_MAGIC, NULL, 0 },
                { "one descriptor", HANDOFF_MAGIC, one, 1 },
                { "three descriptors", HANDOFF_MAGIC, three, 3 },
                { "file first, socket second", HANDOFF_MAGIC, wrong_order, 2 },
                { "another byte", 'Q', three, 2 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int r;

                pair(link);
                send_raw(link[0], cases[i].byte, cases[i].fds, cases[i].n);
                r = handoff_receive(link[1], 1000, &got_client, &got_share);
                if (r != -EBADMSG)
                        fprintf(stderr, "case \"%s\": %d\n", cases[i].name, r);
                assert_int(r, ==, -EBADMSG);
                assert_int(got_client, ==, -EBADF);
                assert_int(got_share, ==, -EBADF);
                close(link[0]), close(link[1]);
                /* Nothing that came with the message is left open. */
                assert_int(count_fds(), ==, before + 3);
        }
        /* A door that closed without sending, and one that sends nothing in time. */
        pair(link);
        close(link[0]);
        assert_int(handoff_receive(link[1], 1000, &got_client, &got_share), ==, -ECONNRESET);
        close(link[1]);
        pair(link);
        assert_int(handoff_receive(link[1], 50, &got_client, &got_share), ==, -ETIMEDOUT);
        close(link[0]), close(link[1]);
        close(s[0]), close(s[1]), close(file);
        assert_int(count_fds(), ==, before);
}

static void test_socket_is(void) {
        char dir[] = "/tmp/test-handoff-XXXXXX", path[256], other[256];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int l, c, a, sv[2];

        assert_se(mkdtemp(dir));
        (void) snprintf(path, sizeof(path), "%s/helper.sock", dir);
        (void) snprintf(other, sizeof(other), "%s/helper.sock2", dir);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_se(l >= 0 && bind(l, (struct sockaddr *) &sa, sizeof(sa)) == 0 && listen(l, 4) == 0);
        c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_se(c >= 0 && connect(c, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_se(a >= 0);
        /* The accepted end is on the listening path; a prefix or a longer path is not it. */
        assert_se(handoff_socket_is(a, path));
        assert_se(!handoff_socket_is(a, other));
        path[strlen(path) - 1] = '\0';
        assert_se(!handoff_socket_is(a, path));
        /* A client's own connection (unbound) and a socketpair are not it either. */
        assert_se(!handoff_socket_is(c, HELPER_SOCKET));
        pair(sv);
        assert_se(!handoff_socket_is(sv[0], HELPER_SOCKET));
        assert_se(!handoff_socket_is(-1, HELPER_SOCKET));
        close(a), close(c), close(l), close(sv[0]), close(sv[1]);
        (void) snprintf(path, sizeof(path), "%s/helper.sock", dir);
        assert_se(unlink(path) == 0 && rmdir(dir) == 0);
}

int main(void) {
        test_roundtrip();
        test_refused();
        test_socket_is();
        return 0;
}
