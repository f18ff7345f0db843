/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the JobSpec built from a request: the runner, collect, the job's fds, the host's lists. */

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job-spec.h"
#include "test.h"

static void test_spec(void) {
        char *dirs[] = { (char *) "/srv", NULL }, *other[] = { (char *) "-/swapfile", NULL };
        Request req = {};
        uint64_t limits[_LIMIT_MAX] = { [LIMIT_WALL_TIME] = 5 };
        Profile p = { .name = (char *) "default" };
        int fds[3] = { 10, 11, 12 };
        JobHost host = { .helper_unit = (char *) "pyward-helper@1.service",
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
        assert_streq(s.helper_unit, "pyward-helper@1.service");
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

static void put(const char *dir, const char *name, const char *text) {
        char path[PATH_MAX];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_se(f = fopen(path, "we"));
        assert_se(fputs(text, f) >= 0);
        assert_se(fclose(f) == 0);
}

/* The memory controller as the host offers it: the slice's controllers once it exists, the root's
 * before; anything unreadable is no controller. */
static void test_memory_cgroup(void) {
        char root[] = "/tmp/test-job-spec.XXXXXX", slice[PATH_MAX / 2], path[PATH_MAX];
        uint64_t limits[_LIMIT_MAX] = {};
        Request req = {};
        Profile p = { .name = (char *) "default" };
        int fds[3] = { 10, 11, 12 };
        JobHost host = { .memory_cgroup = true };

        assert_se(mkdtemp(root));
        assert_se(!job_host_memory_cgroup(root)); /* no cgroup.controllers: a host without cgroup v2 */
        put(root, "cgroup.controllers", "");      /* a container's: nothing delegated */
        assert_se(!job_host_memory_cgroup(root));
        put(root, "cgroup.controllers", "cpuset cpu io pids\n");
        assert_se(!job_host_memory_cgroup(root));
        put(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
        assert_se(job_host_memory_cgroup(root)); /* no slice yet: the manager enables it down */
        (void) snprintf(slice, sizeof(slice), "%s/pyward.slice", root);
        assert_se(mkdir(slice, 0755) == 0);
        put(slice, "cgroup.controllers", "cpu pids\n");
        assert_se(!job_host_memory_cgroup(root)); /* the slice's parent does not pass memory down */
        put(slice, "cgroup.controllers", "cpu memory pids\n");
        assert_se(job_host_memory_cgroup(root));
        put(slice, "cgroup.controllers", "memoryx pids\n");
        assert_se(!job_host_memory_cgroup(root));

        assert_se(job_spec_make(&(JobSpecInput) { .profile = &p,
                                                  .limits = limits,
                                                  .request = &req,
                                                  .job_fds = fds },
                                &host)
                          .memory_cgroup);
        host.memory_cgroup = false;
        assert_se(!job_spec_make(&(JobSpecInput) { .profile = &p,
                                                   .limits = limits,
                                                   .request = &req,
                                                   .job_fds = fds },
                                 &host)
                           .memory_cgroup);

        (void) snprintf(path, sizeof(path), "%s/cgroup.controllers", slice);
        assert_se(unlink(path) == 0 && rmdir(slice) == 0);
        (void) snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
        assert_se(unlink(path) == 0 && rmdir(root) == 0);
}

int main(void) {
        test_spec();
        test_memory_cgroup();
        return 0;
}
