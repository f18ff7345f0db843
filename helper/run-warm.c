/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A job on a warm runner (warm.h): claimed before the job user and the unit would be, its unit
 * watched instead of started, its stdio and limits handed over the channel before the request. The
 * runner's unit and user are the ones it was started with; the status still comes from the manager
 * and the helper's timers, exactly as on the cold path. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config-paths.h"
#include "job-spec.h"
#include "log.h"
#include "manager.h"
#include "policy.h"
#include "run-internal.h"
#include "unit-props.h"
#include "warm.h"

#if PYWARD_DEBUG_HOOKS
/* Test builds only (-Ddebug-hooks=true): a pause of the milliseconds in WARM_DEBUG_PAUSE_FILE
 * after the claim, before the runner's unit is watched, in which a test stops or kills the claimed
 * runner (test_warm.py). The whole helper waits: it serves one connection. */
static void warm_debug_pause(void) {
        char buf[16] = {};
        unsigned long ms = 0;
        ssize_t n;
        int fd;

        fd = open(WARM_DEBUG_PAUSE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return;
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        if (n > 0)
                ms = strtoul(buf, NULL, 10);
        if (ms == 0 || ms > 10000)
                return;
        log_info("Debug hook: pausing %lu ms after the claim.", ms);
        (void) nanosleep(&(struct timespec) { .tv_sec = (time_t) (ms / 1000U),
                                              .tv_nsec = (long) (ms % 1000U) * 1000000L },
                         NULL);
}
#endif

bool run_warm_claim(Run *r) {
        _cleanup_(job_host_done) JobHost host = {};
        char gen[WARM_GEN_LEN + 1];
        int q;

        if (!r->p.config || !r->p.request ||
            !warm_request_fits(r->p.profile, r->p.limits, r->p.session, r->p.discover))
                return false;
        q = job_host_probe(&host);
        if (q >= 0)
                q = warm_generation(r->p.config, r->p.profile, &host, gen);
        if (q < 0) {
                log_warning_errno(q,
                                  "Job %s: cannot tell the generation of the warm runners (%m); cold path.",
                                  r->p.job_id);
                return false;
        }
        /* The claim's lock first: a fill that sees it free takes the job as helperless. */
        q = warm_claim_lock(SLOT_DIR, r->p.job_id, &r->claim_fd);
        if (q < 0) {
                log_warning_errno(q, "Job %s: cannot lock a claim in %s (%m); cold path.", r->p.job_id,
                                  SLOT_DIR);
                return false;
        }
        q = warm_claim(WARM_DIR, r->p.profile->name, gen, &r->warm_fd, r->warm_rid);
        if (q >= 0)
                q = warm_claim_name(SLOT_DIR, r->p.job_id, r->warm_rid);
        if (q < 0) {
                r->warm_fd = safe_close(r->warm_fd);
                warm_claim_release(SLOT_DIR, r->p.job_id, NULL);
                r->claim_fd = safe_close(r->claim_fd);
                if (q != -ENOENT)
                        log_warning_errno(q, "Job %s: cannot claim a warm runner (%m); cold path.",
                                          r->p.job_id);
                else
                        log_debug("Job %s: no warm runner of profile %s is ready; cold path.", r->p.job_id,
                                  r->p.profile->name);
                return false;
        }
        log_info("Job %s runs on warm runner %s.", r->p.job_id, r->warm_rid);
        r->warm = true;
#if PYWARD_DEBUG_HOOKS
        warm_debug_pause();
#endif
        return true;
}

int run_warm_start_job(Run *r) {
        char unit[sizeof(WARM_UNIT_FMT) + WARM_RID_LEN];
        int q;

        q = relay_new(r->event, r->p.limits[LIMIT_OUTPUT], &run_relay_ops, r, r->unit_fds, &r->relay);
        if (q < 0)
                return log_error_errno(q, "Failed to set up the job's stdio: %m");
        q = run_channel_new_connected(r->event, r->p.limits, &run_channel_ops, r, TAKE_FD(r->warm_fd),
                                      &r->channel);
        if (q < 0)
                return log_error_errno(q, "Failed to set up the warm runner's channel: %m");
        (void) snprintf(unit, sizeof(unit), WARM_UNIT_FMT, r->warm_rid);
        q = job_new_unit(r->bus, r->p.job_id, unit, r->manager_version, &r->job);
        if (q < 0)
                return q;
        if (r->p.request->collect)
                job_set_stop_grace(r->job, r->p.limits[LIMIT_FILES_OUT_TIME]);
        q = job_attach(r->job, r->unit_limits[LIMIT_WALL_TIME], r->unit_limits[LIMIT_CPU_TIME],
                       run_on_job_event, r);
        if (q < 0)
                return q;
        r->start_attempts = 1;
        journal_job_started(r->p.job_id, r->p.peer, r->p.profile->name, unit, r->p.session);
        r->state = RUN_RUNNING;
        if (r->pending_stop != JOB_STOP_NONE)
                (void) job_stop(r->job, r->pending_stop);
        return 0;
}

static int warm_send(Run *r) {
        /* The runner's own backstop, under the helper's timer: the wall limit and the unit's slack. */
        uint64_t wall = r->unit_limits[LIMIT_WALL_TIME] + JOB_RUNTIME_SLACK_USEC;
        uint64_t nproc = r->unit_limits[LIMIT_TASKS] < r->p.profile->limit_default[LIMIT_TASKS]
                                 ? r->unit_limits[LIMIT_TASKS]
                                 : 0;
        int q;

        q = run_channel_send_warm(r->channel, r->unit_fds[1], r->unit_fds[2],
                                  cpu_rlimit_seconds(r->unit_limits[LIMIT_CPU_TIME]), wall, nproc);
        if (q >= 0)
                q = run_channel_send_request(r->channel, r->p.request, r->unit_fds[0]);
        r->warm_handed_off = q >= 0;
        /* The writer holds its own copies until they are sent; the runner dup2()s them. */
        run_close_unit_fds(r);
        return q;
}

static int on_limits_set(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Run *r = userdata;
        const sd_bus_error *e = manager_reply_error(m);

        r->slot_limits = sd_bus_slot_unref(r->slot_limits);
        /* Not handed over under limits it did not get: the runner is stopped and the job goes
         * cold (run_warm_fall_back()). */
        if (e || warm_send(r) < 0) {
                log_error("Job %s: could not give warm runner %s its limits: %s", r->p.job_id, r->warm_rid,
                          e && e->message ? e->message : "out of memory");
                (void) job_stop(r->job, JOB_STOP_CANCEL);
        }
        return 0;
}

int run_warm_handoff(Run *r) {
        const uint64_t *l = r->unit_limits, *def = r->p.profile->limit_default;

        if (l[LIMIT_TASKS] == def[LIMIT_TASKS] && l[LIMIT_CPU_QUOTA] == def[LIMIT_CPU_QUOTA])
                return warm_send(r);
        /* Lower than the runner's: the manager's first, and the job only after its answer. */
        return manager_set_job_limits(r->bus, &r->slot_limits, job_unit(r->job), l[LIMIT_TASKS],
                                      l[LIMIT_CPU_QUOTA] * UINT64_C(10000), on_limits_set, r);
}

static int on_fall_back(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *r = userdata;

        /* What the warm start made goes, the claim with it; the cold path makes its own. */
        r->restart_timer = sd_event_source_disable_unref(r->restart_timer);
        r->job = job_free(r->job);
        r->relay = relay_free(r->relay);
        r->channel = run_channel_free(r->channel);
        r->relay_drained = r->channel_drained = false;
        run_close_unit_fds(r);
        run_warm_done(r);
        r->warm = false;
        r->start_attempts = 0;
        r->state = RUN_STARTING;
        run_start_cold(r);
        return 0;
}

bool run_warm_fall_back(Run *r) {
        int q;

        if (!r->warm || r->warm_handed_off || r->stop_asked)
                return false;
        /* Not from inside the Job's own callback: the Job goes in on_fall_back(). */
        q = sd_event_add_time_relative(r->event, &r->restart_timer, CLOCK_MONOTONIC, 0, 0, on_fall_back, r);
        if (q < 0) {
                log_warning_errno(q, "Job %s: cannot arm the cold path's start: %m", r->p.job_id);
                return false;
        }
        log_notice("Job %s: warm runner %s ended before it was handed the job; cold path.", r->p.job_id,
                   r->warm_rid);
        return true;
}

void run_warm_done(Run *r) {
        r->slot_limits = sd_bus_slot_unref(r->slot_limits);
        if (r->claim_fd < 0)
                return;
        warm_claim_release(SLOT_DIR, r->p.job_id, r->warm_rid);
        r->claim_fd = safe_close(r->claim_fd);
}
