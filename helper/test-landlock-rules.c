/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the job's Landlock rules: the rights per kind and ABI, the wrapper's command line, and the
 * ruleset applied for real in a child (where the kernel has Landlock): what it still may, what not. */

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "landlock-rules.h"
#include "macro.h"
#include "test.h"

#define RIGHT(n) (UINT64_C(1) << (n))

static void test_rights(void) {
        /* ABI 1: 13 rights, 2: + refer, 3: + truncate, 4 (network) nothing new here, 5: + ioctl. */
        assert_int(landlock_fs_handled(0), ==, 0);
        assert_int(landlock_fs_handled(1), ==, RIGHT(13) - 1);
        assert_int(landlock_fs_handled(2), ==, RIGHT(14) - 1);
        assert_int(landlock_fs_handled(3), ==, RIGHT(15) - 1);
        assert_int(landlock_fs_handled(4), ==, RIGHT(15) - 1);
        assert_int(landlock_fs_handled(5), ==, RIGHT(16) - 1);
        assert_int(landlock_fs_handled(6), ==, RIGHT(16) - 1);

        /* The OS: execute, read file, read dir; a file gets no read-dir. */
        for (unsigned abi = 1; abi <= LANDLOCK_ABI_KNOWN; abi++) {
                assert_int(landlock_fs_access(LANDLOCK_READ, abi, 1), ==, RIGHT(0) | RIGHT(2) | RIGHT(3));
                assert_int(landlock_fs_access(LANDLOCK_READ, abi, 0), ==, RIGHT(0) | RIGHT(2));
                /* Never device nodes in the writable places, never write in the OS. */
                assert_se(!(landlock_fs_access(LANDLOCK_WRITE, abi, 1) & (RIGHT(6) | RIGHT(11))));
                assert_se(!(landlock_fs_access(LANDLOCK_READ, abi, 1) & RIGHT(1)));
                assert_se((landlock_fs_access(LANDLOCK_WRITE, abi, 1) & ~landlock_fs_handled(abi)) == 0);
        }
        /* Renames within the tmpfs need refer (ABI 2), O_TRUNC truncate (ABI 3). */
        assert_se(landlock_fs_access(LANDLOCK_WRITE, 2, 1) & RIGHT(13));
        assert_se(landlock_fs_access(LANDLOCK_WRITE, 3, 1) & RIGHT(14));
        assert_se(!(landlock_fs_access(LANDLOCK_WRITE, 3, 1) & RIGHT(15)));
        /* Devices: read, write; truncate from 3, ioctl from 5 (a pty's termios). */
        assert_int(landlock_fs_access(LANDLOCK_DEVICE, 2, 0), ==, RIGHT(1) | RIGHT(2));
        assert_int(landlock_fs_access(LANDLOCK_DEVICE, 5, 0), ==,
                   RIGHT(1) | RIGHT(2) | RIGHT(14) | RIGHT(15));
        assert_int(landlock_fs_access(LANDLOCK_DEVICE, 5, 1), ==,
                   RIGHT(1) | RIGHT(2) | RIGHT(3) | RIGHT(14) | RIGHT(15));
        assert_int(landlock_fs_access(LANDLOCK_LIST, 6, 1), ==, RIGHT(3));
        assert_int(landlock_fs_access(LANDLOCK_LIST, 6, 0), ==, 0);
        assert_int(landlock_fs_access(_LANDLOCK_KIND_MAX, 6, 1), ==, 0);

        assert_int(landlock_scoped(5), ==, 0);
        assert_int(landlock_scoped(6), ==, 3);
        assert_int(landlock_scoped(7), ==, 3);
}

static int parse(char **argv, LandlockPlan *p, const char **error) {
        int argc = 0;

        while (argv[argc])
                argc++;
        *error = NULL;
        return landlock_plan_parse(argc, argv, p, error);
}

static void test_parse(void) {
        char *ok[] = { "w",        "--abi",     "6",  "--read",           "/usr", "--write", "/tmp",
                       "--device", "/dev/null", "--", "/usr/bin/python3", "-c",   "x",       NULL };
        char *bare[] = { "w", "--", "/bin/true", NULL };
        char *bad[][6] = {
                { "w", NULL },
                { "w", "--", NULL },
                { "w", "--read", NULL },
                { "w", "--read", "usr", "--", "/bin/true", NULL },
                { "w", "--abi", "x", "--", "/bin/true", NULL },
                { "w", "--abi", "-1", "--", "/bin/true", NULL },
                { "w", "--nope", "/x", "--", "/bin/true", NULL },
                { "w", "--read", "/usr", "/bin/true", NULL },
        };
        const char *error;
        LandlockPlan p;

        assert_int(parse(ok, &p, &error), ==, 0);
        assert_int(p.abi_min, ==, 6);
        assert_int(p.n_paths, ==, 3);
        assert_se(p.paths[0].kind == LANDLOCK_READ && strcmp(p.paths[0].path, "/usr") == 0);
        assert_se(p.paths[1].kind == LANDLOCK_WRITE && strcmp(p.paths[1].path, "/tmp") == 0);
        assert_se(p.paths[2].kind == LANDLOCK_DEVICE && strcmp(p.paths[2].path, "/dev/null") == 0);
        /* The program's argv whole: argv[0] is the path it is executed by. */
        assert_se(strcmp(p.argv[0], "/usr/bin/python3") == 0 && strcmp(p.argv[2], "x") == 0 && !p.argv[3]);

        assert_int(parse(bare, &p, &error), ==, 0);
        assert_int(p.abi_min, ==, 0);
        assert_int(p.n_paths, ==, 0);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int(parse(bad[i], &p, &error), ==, -EINVAL);
                assert_se(error);
        }
}

static void test_too_many(void) {
        char *argv[2 * LANDLOCK_PATHS_MAX + 6];
        const char *error;
        LandlockPlan p;
        size_t n = 0;

        argv[n++] = "w";
        for (size_t i = 0; i <= LANDLOCK_PATHS_MAX; i++) {
                argv[n++] = "--read";
                argv[n++] = "/usr";
        }
        argv[n++] = "--";
        argv[n++] = "/bin/true";
        argv[n] = NULL;
        assert_int(parse(argv, &p, &error), ==, -E2BIG);
}

/* What the child may still do under the rules, as an errno (0: it may). */
static int try_write(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0)
                return errno;
        close(fd);
        return 0;
}

static int try_read(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return errno;
        close(fd);
        return 0;
}

static int try_abstract(const char *name) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r = 0;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errno;
        memcpy(sa.sun_path + 1, name, strlen(name));
        if (connect(fd, (struct sockaddr *) &sa, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name)) <
            0)
                r = errno;
        close(fd);
        return r;
}

/* The ruleset for real: in a child, so the test process stays free. */
static void test_apply(void) {
        char base[] = "/tmp/test-landlock-XXXXXX", rw[64], ro[64], hidden[64], f[96];
        char *argv[] = { "w", "--", "/bin/true", NULL };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *error, *name = "pyward-test-landlock";
        LandlockPlan plan;
        int abi, status, srv;
        pid_t pid;

        abi = landlock_abi_probe();
        if (abi <= 0) {
                printf("no Landlock here (%d): the ruleset is not applied\n", abi);
                return;
        }
        if ((unsigned) abi > LANDLOCK_ABI_KNOWN)
                abi = LANDLOCK_ABI_KNOWN;
        assert_se(mkdtemp(base));
        (void) snprintf(rw, sizeof(rw), "%s/rw", base);
        (void) snprintf(ro, sizeof(ro), "%s/ro", base);
        (void) snprintf(hidden, sizeof(hidden), "%s/hidden", base);
        assert_se(mkdir(rw, 0700) == 0 && mkdir(ro, 0700) == 0 && mkdir(hidden, 0700) == 0);
        (void) snprintf(f, sizeof(f), "%s/secret", hidden);
        assert_int(try_write(f), ==, 0);
        (void) snprintf(f, sizeof(f), "%s/file", ro);
        assert_int(try_write(f), ==, 0);

        srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_se(srv >= 0);
        memcpy(sa.sun_path + 1, name, strlen(name));
        assert_se(bind(srv, (struct sockaddr *) &sa,
                       offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name)) == 0);
        assert_se(listen(srv, 4) == 0);
        assert_int(try_abstract(name), ==, 0);

        assert_int(parse(argv, &plan, &error), ==, 0);
        plan.paths[plan.n_paths++] = (LandlockPath) { LANDLOCK_READ, ro };
        plan.paths[plan.n_paths++] = (LandlockPath) { LANDLOCK_WRITE, rw };
        plan.paths[plan.n_paths++] = (LandlockPath) { LANDLOCK_DEVICE, "/dev/null" };
        plan.paths[plan.n_paths++] = (LandlockPath) { LANDLOCK_READ, "/nonexistent-pyward" };
        plan.paths[plan.n_paths++] = (LandlockPath) { LANDLOCK_LIST, base };

        pid = fork();
        assert_se(pid >= 0);
        if (pid == 0) {
                char p[128], q[128];

                if (landlock_apply(&plan, (unsigned) abi) < 0)
                        _exit(10);
                (void) snprintf(p, sizeof(p), "%s/new", rw);
                if (try_write(p) != 0)
                        _exit(11);
                (void) snprintf(q, sizeof(q), "%s/x", rw);
                if (rename(p, q) < 0)
                        _exit(12);
                if (try_write("/dev/null") != 0)
                        _exit(13);
                (void) snprintf(p, sizeof(p), "%s/file", ro);
                if (try_read(p) != 0)
                        _exit(14);
                if (try_write(p) != EACCES)
                        _exit(15);
                (void) snprintf(p, sizeof(p), "%s/secret", hidden);
                if (try_read(p) != EACCES)
                        _exit(16);
                /* Listed, not read. */
                if (try_read(hidden) != 0)
                        _exit(20);
                if (try_write("/tmp/pyward-test-landlock-outside") != EACCES)
                        _exit(17);
                /* Scoped on ABI 6: the abstract socket outside the domain is out of reach. */
                if (try_abstract(name) != (abi >= 6 ? EPERM : 0))
                        _exit(18);
                /* So are signals to processes outside it (our parent). */
                if (abi >= 6 && (kill(getppid(), 0) == 0 || errno != EPERM))
                        _exit(19);
                _exit(0);
        }
        assert_se(waitpid(pid, &status, 0) == pid);
        assert_se(WIFEXITED(status));
        assert_int(WEXITSTATUS(status), ==, 0);
        printf("Landlock ABI %d applied and enforced in a child\n", abi);
        close(srv);

        (void) snprintf(f, sizeof(f), "rm -rf '%s'", base);
        assert_int(system(f), ==, 0);
}

int main(void) {
        test_rights();
        test_parse();
        test_too_many();
        test_apply();
        return 0;
}
