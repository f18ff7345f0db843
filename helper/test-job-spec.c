/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the bootstrap's preamble (the code's length, 8 bytes little-endian, then the code) and the
 * JobSpec built from a request: the default filename, the job's fds, the host's lists. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "job-spec.h"
#include "test.h"

static void test_preamble(void) {
        static const char code[] = "print('hi')\n";
        uint8_t *buf = NULL;
        size_t size = 0;

        assert_int(job_preamble_build(code, strlen(code), &buf, &size), ==, 0);
        assert_int(size, ==, 8 + strlen(code));
        assert_int(buf[0], ==, strlen(code));
        for (size_t i = 1; i < 8; i++)
                assert_int(buf[i], ==, 0);
        assert_se(memcmp(buf + 8, code, strlen(code)) == 0);
        free(buf);

        /* The length's bytes in order, low first: the bootstrap reads int.from_bytes(..., "little"). */
        buf = NULL;
        assert_int(job_preamble_build(NULL, 0, &buf, &size), ==, 0);
        assert_int(size, ==, 8);
        free(buf);
        {
                size_t n = 0x10203;
                char *big = calloc(1, n);

                assert_se(big);
                assert_int(job_preamble_build(big, n, &buf, &size), ==, 0);
                assert_int(buf[0], ==, 0x03);
                assert_int(buf[1], ==, 0x02);
                assert_int(buf[2], ==, 0x01);
                assert_int(buf[3], ==, 0x00);
                free(buf);
                free(big);
        }
}

static void test_spec(void) {
        char *argv[] = { (char *) "a", NULL };
        char *dirs[] = { (char *) "/srv", NULL }, *other[] = { (char *) "-/swapfile", NULL };
        Request req = { .argv = argv };
        uint64_t limits[_LIMIT_MAX] = { [LIMIT_WALL_TIME] = 5 };
        Profile p = { .name = (char *) "default" };
        int fds[3] = { 10, 11, 12 };
        JobHost host = { .helper_unit = (char *) "pyward@1.service", .hidden_dirs = dirs, .hidden_other = other };
        JobSpec s;

        s = job_spec_make(&(JobSpecInput) { .unit = "pyward-job-x.service", .job_id = "x", .manager_version = 257,
                                            .uid = 1000, .user = "pyward-job3", .profile = &p, .limits = limits,
                                            .request = &req, .job_fds = fds }, &host);
        assert_streq(s.unit, "pyward-job-x.service");
        assert_streq(s.filename, "main.py");
        assert_streq(s.user, "pyward-job3");
        assert_streq(s.helper_unit, "pyward@1.service");
        assert_int(s.manager_version, ==, 257);
        assert_int(s.uid, ==, 1000);
        assert_se(s.profile == &p && s.limits == limits && s.argv == argv);
        assert_int(s.stdin_fd, ==, 10);
        assert_int(s.stdout_fd, ==, 11);
        assert_int(s.stderr_fd, ==, 12);
        assert_se(s.hidden_dirs == dirs && s.hidden_other == other);
        assert_se(s.bootstrap && strlen(s.bootstrap) > 0);

        req.filename = (char *) "job.py";
        s = job_spec_make(&(JobSpecInput) { .request = &req, .job_fds = fds }, &host);
        assert_streq(s.filename, "job.py");
}

int main(void) {
        test_preamble();
        test_spec();
        return 0;
}
