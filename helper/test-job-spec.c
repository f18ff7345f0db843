/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the JobSpec built from a request: the runner, collect, the job's fds, the host's lists. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "job-spec.h"
#include "test.h"

static void test_spec(void) {
        char *dirs[] = { (char *) "/srv", NULL }, *other[] = { (char *) "-/swapfile", NULL };
        Request req = {};
        uint64_t limits[_LIMIT_MAX] = { [LIMIT_WALL_TIME] = 5 };
        Profile p = { .name = (char *) "default" };
        int fds[3] = { 10, 11, 12 };
        JobHost host = { .helper_unit = (char *) "pyward@1.service",
                         .hidden_dirs = dirs,
                         .hidden_other = other };
        JobSpec s;

        s = job_spec_make(&(JobSpecInput) { .unit = "pyward-job-x.service",
                                            .job_id = "x",
                                            .manager_version = 257,
                                            .uid = 1000,
                                            .user = "pyward-job3",
                                            .profile = &p,
                                            .limits = limits,
                                            .request = &req,
                                            .job_fds = fds },
                          &host);
        assert_streq(s.unit, "pyward-job-x.service");
        assert_streq(s.user, "pyward-job3");
        assert_streq(s.helper_unit, "pyward@1.service");
        assert_int(s.manager_version, ==, 257);
        assert_int(s.uid, ==, 1000);
        assert_se(s.profile == &p && s.limits == limits);
        assert_int(s.stdin_fd, ==, 10);
        assert_int(s.stdout_fd, ==, 11);
        assert_int(s.stderr_fd, ==, 12);
        assert_se(s.hidden_dirs == dirs && s.hidden_other == other);
        assert_se(s.runner && strlen(s.runner) > 0);
        assert_se(!s.collect);

        /* COLLECT gives the runner its files-out-time after a stop; a discovery run has no files. */
        req.collect = true;
        s = job_spec_make(&(JobSpecInput) { .request = &req, .job_fds = fds }, &host);
        assert_se(s.collect);
        s = job_spec_make(&(JobSpecInput) { .request = &req, .job_fds = fds, .discover = true }, &host);
        assert_se(!s.collect);
}

int main(void) {
        test_spec();
        return 0;
}
