/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the warm pool's pure parts (warm.h): its names, which requests fit a runner, the
 * generation (which changes with the profile and the host's view, and nothing else), and the claim
 * over real sockets in a temporary directory: one taker wins, a dead runner's name is removed. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "test.h"
#include "warm.h"

#define GEN "0123456789abcdef"
#define RID "00112233445566778899aabbccddeeff"

static void test_names(void) {
        char buf[WARM_NAME_MAX];
        WarmEntry e;

        assert_se(warm_entry_name('r', GEN, RID, "data.science-1", buf, sizeof(buf)) == 0);
        assert_streq(buf, "r-" GEN "-" RID "-data.science-1");
        assert_se(warm_entry_parse(buf, &e));
        assert_se(e.kind == 'r');
        assert_streq(e.gen, GEN);
        assert_streq(e.rid, RID);
        assert_streq(e.profile, "data.science-1");
        assert_se(warm_entry_name('c', NULL, RID, NULL, buf, sizeof(buf)) == 0);
        assert_streq(buf, "c-" RID);
        assert_se(warm_entry_parse(buf, &e) && e.kind == 'c' && strcmp(e.rid, RID) == 0);
        assert_se(warm_entry_name('p', GEN, RID, "x", buf, 20) == -ENAMETOOLONG);

        /* Not the pool's: left alone. */
        assert_se(!warm_entry_parse(".fill-default", &e));
        assert_se(!warm_entry_parse("r-" GEN "-" RID "-", &e));           /* no profile */
        assert_se(!warm_entry_parse("r-" GEN "-" RID, &e));               /* too short */
        assert_se(!warm_entry_parse("x-" GEN "-" RID "-default", &e));    /* unknown kind */
        assert_se(!warm_entry_parse("r-0123456789ABCDEF-" RID "-d", &e)); /* upper-case hex */
        assert_se(!warm_entry_parse("c-" RID "0", &e));
        assert_se(!warm_entry_parse("", &e));
}

static void test_fits(void) {
        Profile p = { .name = (char *) "default", .warm_runners = 2 };
        uint64_t l[_LIMIT_MAX];

        for (int k = 0; k < _LIMIT_MAX; k++)
                p.limit_default[k] = p.limit_max[k] = 100;
        p.limit_max[LIMIT_WALL_TIME] = 300;
        memcpy(l, p.limit_default, sizeof(l));
        assert_se(warm_request_fits(&p, l, false, false));
        assert_se(!warm_request_fits(&p, l, true, false)); /* a session */
        assert_se(!warm_request_fits(&p, l, false, true)); /* discovery */
        l[LIMIT_WALL_TIME] = 300;                          /* the helper's timer: fits */
        l[LIMIT_CPU_TIME] = 50;                            /* lowered by the runner: fits */
        l[LIMIT_OUTPUT] = 7;                               /* the relay's: fits */
        assert_se(warm_request_fits(&p, l, false, false));
        l[LIMIT_CPU_TIME] = 101; /* above the unit's RLIMIT_CPU */
        assert_se(!warm_request_fits(&p, l, false, false));
        l[LIMIT_CPU_TIME] = 100;
        l[LIMIT_WALL_TIME] = 301; /* above the runner's RuntimeMaxSec= share */
        assert_se(!warm_request_fits(&p, l, false, false));
        l[LIMIT_WALL_TIME] = 100;
        /* Fixed when the unit started: the same or cold. */
        l[LIMIT_MEMORY] = 99;
        assert_se(!warm_request_fits(&p, l, false, false));
        l[LIMIT_MEMORY] = 100;
        l[LIMIT_DISK] = 99;
        assert_se(!warm_request_fits(&p, l, false, false));
        l[LIMIT_DISK] = 100;
        /* Lowered for the job (the manager, RLIMIT_NPROC), never raised. */
        l[LIMIT_TASKS] = 7;
        l[LIMIT_CPU_QUOTA] = 50;
        assert_se(warm_request_fits(&p, l, false, false));
        l[LIMIT_TASKS] = 101;
        assert_se(!warm_request_fits(&p, l, false, false));
        l[LIMIT_TASKS] = 100;
        l[LIMIT_CPU_QUOTA] = 101;
        assert_se(!warm_request_fits(&p, l, false, false));
        l[LIMIT_CPU_QUOTA] = 100;
        p.warm_runners = 0;
        assert_se(!warm_request_fits(&p, l, false, false));
}

static void test_generation(void) {
        char root[] = "/tmp/test-warm-XXXXXX", *errors = NULL, g1[WARM_GEN_LEN + 1], g2[WARM_GEN_LEN + 1],
             g3[WARM_GEN_LEN + 1];
        char *dirs[] = { (char *) "/srv", NULL };
        JobHost host = {}, host2 = { .hidden_dirs = dirs };
        const char *t1 = "[Profile]\nWarmRunners=2\n", *t2 = "[Profile]\nWarmRunners=2\nDefaultMemory=128M\n";
        Config *a, *b;

        assert_se(mkdtemp(root));
        assert_se(config_parse_string(root, "/a.conf", t1, strlen(t1), &a, &errors) == 0);
        assert_se(config_parse_string(root, "/a.conf", t1, strlen(t1), &b, &errors) == 0);
        assert_se(warm_generation(a, config_find_profile(a, NULL), &host, g1) == 0);
        assert_se(warm_generation(b, config_find_profile(b, NULL), &host, g2) == 0);
        assert_streq(g1, g2); /* the same configuration: the same generation */
        assert_se(strlen(g1) == WARM_GEN_LEN);
        assert_se(warm_generation(a, config_find_profile(a, NULL), &host2, g3) == 0);
        assert_se(strcmp(g1, g3) != 0); /* the host's view changed */
        config_free(b);
        assert_se(config_parse_string(root, "/a.conf", t2, strlen(t2), &b, &errors) == 0);
        assert_se(warm_generation(b, config_find_profile(b, NULL), &host, g2) == 0);
        assert_se(strcmp(g1, g2) != 0); /* a setting changed */
        config_free(a);
        config_free(b);
        assert_se(rmdir(root) == 0);
}

static int listen_at(const char *dir, const char *name) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        assert_se(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name) > 0);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_se(fd >= 0);
        assert_se(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        assert_se(listen(fd, 1) == 0);
        return fd;
}

static void test_claim(void) {
        char dir[] = "/tmp/test-warm-claim-XXXXXX", rid[WARM_RID_LEN + 1], name[WARM_NAME_MAX];
        const char *dead = "ffffffffffffffffffffffffffffffff";
        int live, gone, other, fd = -1;

        assert_se(mkdtemp(dir));
        assert_se(warm_claim(dir, "default", GEN, &fd, rid) == -ENOENT); /* empty */
        /* A runner whose unit is gone: its name stays, its socket refuses. */
        assert_se(warm_entry_name('r', GEN, dead, "default", name, sizeof(name)) == 0);
        gone = listen_at(dir, name);
        close(gone);
        /* Another profile's, and another generation's: never claimed. */
        assert_se(warm_entry_name('r', GEN, RID, "other", name, sizeof(name)) == 0);
        other = listen_at(dir, name);
        assert_se(warm_entry_name('r', "fedcba9876543210", RID, "default", name, sizeof(name)) == 0);
        close(listen_at(dir, name));
        assert_se(warm_claim(dir, "default", GEN, &fd, rid) == -ENOENT);
        assert_se(faccessat(AT_FDCWD, dir, F_OK, 0) == 0);
        /* The dead one is gone now; a live one is claimed once. */
        assert_se(warm_entry_name('r', GEN, dead, "default", name, sizeof(name)) == 0);
        live = listen_at(dir, name);
        assert_se(warm_claim(dir, "default", GEN, &fd, rid) == 0);
        assert_streq(rid, dead);
        assert_se(fd >= 0);
        {
                int a = accept(live, NULL, NULL);
                char c = 'x';

                assert_se(a >= 0);
                assert_se(write(fd, &c, 1) == 1);
                assert_se(read(a, &c, 1) == 1 && c == 'x');
                close(a);
        }
        close(fd);
        assert_se(warm_claim(dir, "default", GEN, &fd, rid) == -ENOENT); /* claimed: its name is gone */
        close(live);
        close(other);
        /* What is left: the other profile's and the other generation's names. */
        assert_se(warm_entry_name('r', GEN, RID, "other", name, sizeof(name)) == 0);
        assert_se(unlinkat(open(dir, O_RDONLY | O_DIRECTORY), name, 0) == 0);
        assert_se(warm_entry_name('r', "fedcba9876543210", RID, "default", name, sizeof(name)) == 0);
        assert_se(unlinkat(open(dir, O_RDONLY | O_DIRECTORY), name, 0) == 0);
        assert_se(rmdir(dir) == 0);
}

int main(void) {
        test_names();
        test_fits();
        test_generation();
        test_claim();
        return 0;
}
