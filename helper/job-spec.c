/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JobSpec of a job from the admitted request, its user and a probe of the host; the request
 * itself reaches the runner over the channel (run-channel.c). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-login.h>

#include "bootstrap.h"
#include "job-spec.h"
#include "host-view.h"
#include "log.h"
#include "mac.h"

int job_host_probe(JobHost *ret) {
        JobHost h = {};
        int r;

        if (sd_pid_get_unit(0, &h.helper_unit) < 0)
                h.helper_unit = NULL; /* run by hand, outside a unit: nothing to bind to */
        r = host_hidden_entries("/", &h.hidden_dirs, &h.hidden_other);
        if (r < 0) {
                job_host_done(&h);
                return log_error_errno(r, "Failed to list the host's top-level directories: %m");
        }
        h.landlock_abi = mac_landlock_abi();
        h.apparmor = mac_apparmor_loaded();
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
        };
}
