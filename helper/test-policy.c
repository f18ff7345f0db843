/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests peer credentials over a socketpair, the flock()ed per-UID job slots and job users. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "policy.h"
#include "test.h"

static void test_peer(void) {
        Peer p = {};
        int sv[2];

        assert_se(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        assert_int(peer_from_socket(sv[0], &p), ==, 0);
        assert_int(p.uid, ==, getuid());
        assert_int(p.gid, ==, getgid());
        assert_int(p.pid, ==, getpid());
        assert_se(p.n_gids >= 1);
        assert_int(p.gids[0], ==, getgid());
        peer_done(&p);
        close(sv[0]), close(sv[1]);
}

static void test_slots(void) {
        char dir[] = "/tmp/test-policy-XXXXXX";
        int a = -EBADF, b = -EBADF, c = -EBADF;

        assert_se(mkdtemp(dir));
        assert_int(slot_acquire(dir, 1000, 2, &a), ==, 0);
        assert_int(slot_acquire(dir, 1000, 2, &b), ==, 0);
        /* Both slots taken (flock() conflicts between open file descriptions, also in one process). */
        assert_int(slot_acquire(dir, 1000, 2, &c), ==, -EBUSY);
        assert_int(c, ==, -EBADF);
        /* Another UID has slots of its own. */
        assert_int(slot_acquire(dir, 1001, 2, &c), ==, 0);
        close(c);
        /* Closing releases. */
        close(a);
        assert_int(slot_acquire(dir, 1000, 2, &a), ==, 0);
        close(a), close(b);
        assert_int(slot_acquire("/nonexistent-dir-pyward", 1000, 2, &a), ==, -ENOENT);

        for (unsigned u = 1000; u <= 1001; u++)
                for (unsigned k = 0; k < 2; k++) {
                        char p[128];

                        snprintf(p, sizeof(p), "%s/%u.%u", dir, u, k);
                        (void) unlink(p);
                }
        assert_se(rmdir(dir) == 0);
}

static void test_job_users(void) {
        char dir[] = "/tmp/test-policy-XXXXXX", prev[JOB_USER_FILE_MAX], p[128];
        int a = -EBADF, b = -EBADF;

        assert_se(mkdtemp(dir));
        /* A fresh user names no unit. */
        assert_int(job_user_try(dir, 3, prev, &a), ==, 0);
        assert_se(prev[0] == 0);
        /* Held: nobody else gets it, another k is free. */
        assert_int(job_user_try(dir, 3, prev, &b), ==, -EBUSY);
        assert_int(b, ==, -EBADF);
        assert_int(job_user_try(dir, 4, prev, &b), ==, 0);
        close(b);
        /* What the holder records is what the next taker reads, after the holder is gone. */
        assert_int(job_user_record(a, "pyward-job-0123456789abcdef0123456789abcdef.service"), ==, 0);
        close(a);
        assert_int(job_user_try(dir, 3, prev, &a), ==, 0);
        assert_se(strcmp(prev, "pyward-job-0123456789abcdef0123456789abcdef.service") == 0);
        /* A shorter name replaces a longer one completely. */
        assert_int(job_user_record(a, "x.service"), ==, 0);
        close(a);
        assert_int(job_user_try(dir, 3, prev, &a), ==, 0);
        assert_se(strcmp(prev, "x.service") == 0);
        close(a);
        assert_int(job_user_try("/nonexistent-dir-pyward", 0, prev, &a), ==, -ENOENT);

        for (unsigned k = 3; k <= 4; k++) {
                snprintf(p, sizeof(p), "%s/user.%u", dir, k);
                assert_se(unlink(p) == 0);
        }
        assert_se(rmdir(dir) == 0);
}

int main(void) {
        test_peer();
        test_slots();
        test_job_users();
        return 0;
}
