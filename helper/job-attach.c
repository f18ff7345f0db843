/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A Job on a warm runner's unit, which another helper started long before (job_attach()): the
 * watch, a reference of our own, the runner's CPU time so far and the last look at its state
 * before the hand-off. */

#include <errno.h>
#include <string.h>

#include "job-internal.h"
#include "log.h"

/* Both replies of the attach in (they are asked for together): the hand-off. */
static void job_attach_ready(Job *j) {
        if (j->slot_call || j->slot_attach)
                return;
        (void) sd_event_now(job_event(j), CLOCK_MONOTONIC, &j->handoff_usec);
        job_set_state(j, JOB_STATE_RUNNING);
}

/* The last look before the hand-off: a runner whose unit is not active any more (killed, stopped,
 * collected) gets no job; the Job is done without having run (the caller's cold path). */
static int on_attach_state(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const sd_bus_error *e = manager_reply_error(m);
        const char *active = NULL;

        j->slot_attach = sd_bus_slot_unref(j->slot_attach);
        if (!e && sd_bus_message_read(m, "v", "s", &active) >= 0 && active && strcmp(active, "active") == 0) {
                job_attach_ready(j);
                return 0;
        }
        job_fail(j, e ? -sd_bus_error_get_errno(e) : -ESRCH, "the warm runner's unit is %s",
                 e ? (e->message ?: e->name) : (active ?: "in an unknown state"));
        return 0;
}

/* The runner's CPU time so far: the base the job's is counted from. */
static int on_attach_cpu(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const sd_bus_error *e = manager_reply_error(m);
        uint64_t nsec = UINT64_MAX;

        j->slot_call = sd_bus_slot_unref(j->slot_call);
        if (e) {
                job_fail(j, -sd_bus_error_get_errno(e), "could not read the warm runner's unit: %s",
                         e->message ?: e->name);
                return 0;
        }
        if (sd_bus_message_read(m, "v", "t", &nsec) >= 0 && nsec != UINT64_MAX)
                j->cpu_base_nsec = nsec;
        job_attach_ready(j);
        return 0;
}

int job_attach(Job *j, uint64_t wall_limit_usec, uint64_t cpu_limit_usec, job_event_func_t cb,
               void *userdata) {
        int r;

        r = job_watch(j, cb, userdata);
        if (r < 0)
                return r;
        /* Its start job ended long ago: any job on the unit now is someone else's (systemctl stop). */
        j->start_job_done = true;
        j->n_jobs_seen = 1;
        j->wall_limit_usec = wall_limit_usec;
        r = job_arm_cpu_poll(j, cpu_limit_usec);
        if (r < 0)
                return r;
        /* Ours from now on: the manager keeps it after it ends until the result is read (AddRef=
         * of a cold job's start does that). */
        r = manager_ref_unit(j->bus, j->unit_path);
        if (r < 0)
                return log_error_errno(r, "Failed to reference %s: %m", j->unit);
        /* Its CPU time so far, then its state: asked for together, answered in this order. */
        r = manager_get_service_property(j->bus, &j->slot_call, j->unit_path, "CPUUsageNSec", on_attach_cpu,
                                         j);
        if (r >= 0)
                r = manager_get_unit_property(j->bus, &j->slot_attach, j->unit_path, "ActiveState",
                                              on_attach_state, j);
        if (r < 0)
                return r;
        job_set_state(j, JOB_STATE_STARTING);
        return 0;
}

void job_set_manager_version(Job *j, unsigned manager_version) {
        j->manager_version = manager_version;
}
