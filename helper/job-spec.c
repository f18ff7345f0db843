/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JobSpec of a job from the admitted request, its user and a probe of the host; the request
 * itself reaches the runner over the channel (run-channel.c). */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-login.h>

#include "bootstrap.h"
#include "job-spec.h"
#include "host-view.h"
#include "log.h"
#include "warm.h"
#include "mac.h"

/* "memory" among the words of a cgroup.controllers file; -errno if it cannot be read. */
static int controllers_have_memory(const char *path) {
        char buf[256] = {};
        FILE *f;
        size_t n;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        (void) fclose(f);
        buf[n] = '\0';
        for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
                if (strcmp(w, "memory") == 0)
                        return 1;
        return 0;
}

bool job_host_memory_cgroup(const char *cgroup_root) {
        char path[PATH_MAX];
        int r;

        (void) snprintf(path, sizeof(path), "%s/" JOB_SLICE "/cgroup.controllers", cgroup_root);
        r = controllers_have_memory(path);
        if (r == -ENOENT) {
                (void) snprintf(path, sizeof(path), "%s/cgroup.controllers", cgroup_root);
                r = controllers_have_memory(path);
        }
        return r > 0;
}

/* Said once per helper, and again should it change: what the job's filter does with the calls. */
static void log_memory_cgroup(bool memory_cgroup) {
        static int said = -1;

        if (said == (int) memory_cgroup)
                return;
        said = memory_cgroup;
        if (memory_cgroup)
                log_info("Memory controller for " JOB_SLICE
                         ": jobs may use memfd_create() and System V "
                         "shared memory (MemoryMax= charges their pages to the job).");
        else
                log_info("No memory controller for " JOB_SLICE
                         ": memfd_create() and System V shared "
                         "memory stay denied to jobs (no rlimit bounds their pages).");
}

int job_host_probe(JobHost *ret) {
        JobHost h = {};
        int r;

        r = sd_pid_get_unit(0, &h.helper_unit);
        if (r < 0) {
                /* Run by hand, outside a unit: nothing to bind to. Under systemd it is a bug (the
                 * helper's Landlock domain once hid /proc/1/cgroup, which this needs): say so. */
                log_warning_errno(r,
                                  "Cannot find the helper's own unit; its jobs are not bound to it "
                                  "(BindsTo=) and outlive a killed helper until their time limit: %m");
                h.helper_unit = NULL;
        }
        r = host_hidden_entries("/", &h.hidden_dirs, &h.hidden_other);
        if (r < 0) {
                job_host_done(&h);
                return log_error_errno(r, "Failed to list the host's top-level directories: %m");
        }
        h.landlock_abi = mac_landlock_abi();
        h.apparmor = mac_apparmor_loaded();
        h.memory_cgroup = job_host_memory_cgroup("/sys/fs/cgroup");
        log_memory_cgroup(h.memory_cgroup);
        *ret = h;
        return 0;
}

void job_host_done(JobHost *h) {
        free(h->helper_unit);
        strv_free(h->hidden_dirs);
        strv_free(h->hidden_other);
        *h = (JobHost) {};
}

JobSpec job_spec_make(const JobSpecInput *in, const JobHost *host) {
        return (JobSpec) {
                .unit = in->unit,
                .job_id = in->job_id,
                .helper_unit = host->helper_unit,
                .manager_version = in->manager_version,
                .uid = in->uid,
                .user = in->user,
                .profile = in->profile,
                .limits = in->limits,
                .runner = BOOTSTRAP_PY,
                .collect = in->request->collect && !in->discover,
                .stdin_fd = in->job_fds[0],
                .stdout_fd = in->job_fds[1],
                .stderr_fd = in->job_fds[2],
                .hidden_dirs = host->hidden_dirs,
                .hidden_other = host->hidden_other,
                .landlock_abi = host->landlock_abi,
                .apparmor = host->apparmor,
                .memory_cgroup = host->memory_cgroup,
                .warm = in->warm,
                .warm_wait_usec = WARM_WAIT_MAX_USEC,
                .preload = in->preload,
        };
}

int job_preload_env(const Profile *p, char **ret) {
        size_t n = strlen("PYWARD_PRELOAD=") + 1;
        char *s;

        *ret = NULL;
        if (!p->preload_modules || !p->preload_modules[0])
                return 0;
        for (char **m = p->preload_modules; *m; m++)
                n += strlen(*m) + 1;
        s = malloc(n);
        if (!s)
                return -ENOMEM;
        strcpy(s, "PYWARD_PRELOAD=");
        for (char **m = p->preload_modules; *m; m++) {
                if (m != p->preload_modules)
                        strcat(s, ",");
                strcat(s, *m);
        }
        *ret = s;
        return 0;
}
