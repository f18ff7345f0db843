/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the door over socketpairs: shares taken and given back, the refusal's RESULT, the linger
 * for a client that already sent its request, the share from the configuration, and the cost. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "door.h"
#include "test-door.h"
#include "test.h"

static void remove_tree(const char *dir) {
        char cmd[512];

        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_se(system(cmd) == 0);
}

static void pair(int sv[2]) {
        assert_se(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
}

static void test_shares(const char *dir) {
        int a[2], b[2], c[2], fa = -EBADF, fb = -EBADF, fc = -EBADF;
        char path[256], expect[128];
        JobResult r = {};
        struct stat st;

        pair(a), pair(b), pair(c);
        assert_int(door_enter(a[0], dir, 2, &fa), ==, 1);
        assert_int(door_enter(b[0], dir, 2, &fb), ==, 1);
        assert_se(fa >= 0 && fb >= 0);
        /* The third is refused with a RESULT that says why, and the share fd is untouched. */
        assert_int(door_enter(c[0], dir, 2, &fc), ==, 0);
        assert_int(fc, ==, -EBADF);
        close(c[0]);
        read_result(c[1], &r);
        assert_int(r.status, ==, JOB_REJECTED);
        (void) snprintf(expect, sizeof(expect),
                        "UID %u already holds 2 connections, the maximum (ConnectionsPerUser=)",
                        (unsigned) getuid());
        assert_se(r.message && strcmp(r.message, expect) == 0);
        job_result_done(&r);
        close(c[1]);
        /* The refusal was logged, and the next ones within DOOR_LOG_INTERVAL_SEC are not. */
        (void) snprintf(path, sizeof(path), "%s/%u.log", dir, (unsigned) getuid());
        assert_se(stat(path, &st) == 0 && st.st_size == 1);

        /* A share given back (the helper exited) lets the next connection in. */
        close(fa);
        pair(c);
        assert_int(door_enter(c[0], dir, 2, &fc), ==, 1);
        close(fb), close(fc);
        close(a[0]), close(a[1]), close(b[0]), close(b[1]), close(c[0]), close(c[1]);
}

/* A client that already sent its request reads the verdict, not ECONNRESET; the door waits for it
 * at most DOOR_LINGER_MSEC. */
static void test_linger(const char *dir) {
        int held = -EBADF, fd = -EBADF, c[2];
        static uint8_t request[256 * 1024];
        JobResult r = {};
        double t0, elapsed;
        ssize_t n;

        assert_int(door_enter(-EBADF, dir, 1, &fd), <, 0); /* no socket: no decision */
        pair(c);
        assert_int(door_enter(c[0], dir, 1, &held), ==, 1);
        close(c[0]), close(c[1]);

        pair(c);
        assert_se(fcntl(c[1], F_SETFL, O_NONBLOCK) == 0);
        n = send(c[1], request, sizeof(request), MSG_NOSIGNAL);
        assert_se(n > 0);
        t0 = now_ms();
        assert_int(door_enter(c[0], dir, 1, &fd), ==, 0);
        elapsed = now_ms() - t0;
        assert_se(elapsed >= DOOR_LINGER_MSEC * 0.9 && elapsed < DOOR_LINGER_MSEC * 5);
        close(c[0]);
        assert_se(fcntl(c[1], F_SETFL, 0) == 0);
        read_result(c[1], &r);
        assert_int(r.status, ==, JOB_REJECTED);
        job_result_done(&r);
        close(c[1]);
        close(held);
}

static void test_share_from_config(void) {
        char root[] = "/tmp/test-door-root-XXXXXX";

        assert_se(mkdtemp(root));
        assert_int(door_share(root), ==, 16); /* no file: 2 x JobsPerUser=8 */
        write_conf(root, "[Access]\nJobsPerUser=3\n");
        assert_int(door_share(root), ==, 6);
        write_conf(root, "[Access]\nConnectionsPerUser=5\n");
        assert_int(door_share(root), ==, 5);
        /* A broken configuration still has a door: the built-in share. */
        write_conf(root, "[Access]\nConnectionsPerUser=many\n");
        assert_int(door_share(root), ==, 16);
        remove_tree(root);
}

/* What the door costs a refused connection, and what reading the configuration first costs: the
 * numbers for the README's security model. */
static void test_cost(const char *dir) {
        enum { N = 200 };
        double refuse[N], share[N];
        int held = -EBADF, fd = -EBADF, c[2];

        pair(c);
        assert_int(door_enter(c[0], dir, 1, &held), ==, 1);
        close(c[0]), close(c[1]);
        for (int i = 0; i < N; i++) {
                double t0 = now_ms();

                share[i] = (door_share("/"), now_ms() - t0);
                pair(c);
                t0 = now_ms();
                assert_int(door_enter(c[0], dir, 1, &fd), ==, 0);
                refuse[i] = now_ms() - t0;
                close(c[0]), close(c[1]);
        }
        qsort(refuse, N, sizeof(double), cmp_double);
        qsort(share, N, sizeof(double), cmp_double);
        printf("[measured] door refusal p50 %.3f ms p99 %.3f ms; configuration load p50 %.3f ms p99 %.3f ms\n",
               refuse[N / 2], refuse[N * 99 / 100], share[N / 2], share[N * 99 / 100]);
        /* Loose bounds: a refusal is a few system calls, far from the activation it follows. */
        assert_se(refuse[N / 2] < 5.0);
        close(held);
}

int main(void) {
        char dir[] = "/tmp/test-door-XXXXXX";

        assert_se(mkdtemp(dir));
        test_shares(dir);
        test_linger(dir);
        test_share_from_config();
        test_cost(dir);
        remove_tree(dir);
        return 0;
}
