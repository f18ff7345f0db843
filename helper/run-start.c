/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A job's unit started (run-internal.h): its spec and StartTransientUnit() once a start token is
 * held (at most START_TOKENS starts in flight host-wide, policy.h), and the same start made again
 * when the manager refused it before anything of the job ran. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <systemd/sd-id128.h>

#include "config-paths.h"
#include "job-spec.h"
#include "job.h"
#include "log.h"
#include "policy.h"

#include "run-internal.h"

/* A start the manager refused after re-reading the unit, or the bus did not deliver, is made again
 * about this long after the refusal (the refused unit is collected meanwhile: its name is free),
 * for as long as the refusals have not gone on for RUN_RESTART_WITHIN_USEC (a manager reloading
 * all the time, a bus full for that long). */
#define RUN_RESTART_USEC (200 * 1000U)
#define RUN_RESTART_WITHIN_USEC (15 * 1000 * 1000U)

/* The unit: its spec from the request and the kept unit fds, StartTransientUnit(). */
static int run_start_unit(Run *r) {
        _cleanup_(job_host_done) JobHost host = {};
        _cleanup_free_ char *preload = NULL;
        JobSpec spec;
        int q;

        q = job_preload_env(r->p.profile, &preload);
        if (q >= 0)
                q = job_host_probe(&host);
        if (q < 0)
                return q;
        q = job_new(r->bus, r->p.job_id, r->manager_version, &r->job);
        if (q < 0)
                return q;
        if (r->p.request->collect && !r->p.discover)
                job_set_stop_grace(r->job, r->p.limits[LIMIT_FILES_OUT_TIME]);
        spec = job_spec_make(
                &(JobSpecInput) {
                        .unit = job_unit(r->job),
                        .job_id = r->p.job_id,
                        .manager_version = r->manager_version,
                        .uid = r->p.peer->uid,
                        .user = r->user,
                        .profile = r->p.profile,
                        .limits = r->unit_limits,
                        .request = r->p.request,
                        .job_fds = r->unit_fds,
                        .discover = r->p.discover,
                        .preload = preload,
                },
                &host);
        q = job_start(r->job, &spec, r->unit_limits[LIMIT_CPU_TIME], run_on_job_event, r);
        if (q < 0)
                return q;
        if (r->start_attempts++ == 0)
                journal_job_started(r->p.job_id, r->p.peer, r->p.profile->name, job_unit(r->job),
                                    r->p.session);
        r->state = RUN_RUNNING;
        if (r->pending_stop != JOB_STOP_NONE)
                (void) job_stop(r->job, r->pending_stop);
        return 0;
}

/* START_TOKEN_WAIT_USEC, give or take half of it: how long a start waits before it asks for a
 * start token again. */
#define START_TOKEN_WAIT_USEC (10 * 1000U)

static uint64_t run_token_delay_usec(void) {
        sd_id128_t id;

        if (sd_id128_randomize(&id) < 0)
                return START_TOKEN_WAIT_USEC;
        return START_TOKEN_WAIT_USEC / 2 + id.qwords[0] % START_TOKEN_WAIT_USEC;
}

/* True if the start may be made now: this Run holds one of the START_TOKENS, or the tokens cannot
 * be had at all (their directory is not there: starting beats failing). */
static bool run_has_start_token(Run *r) {
        uint64_t now = 0;
        int q;

        if (r->start_token_fd >= 0)
                return true;
        q = start_token_acquire(SLOT_DIR, START_TOKENS, &r->start_token_fd);
        if (q == -EBUSY) {
                if (r->token_wait_since == 0) {
                        (void) sd_event_now(r->event, CLOCK_MONOTONIC, &r->token_wait_since);
                        log_debug("Job %s: %u starts are in flight; waiting for one of them.", r->p.job_id,
                                  START_TOKENS);
                }
                return false;
        }
        if (q < 0)
                log_warning_errno(q, "Job %s: cannot take a start token in %s (%m); starting without one.",
                                  r->p.job_id, SLOT_DIR);
        if (r->token_wait_since > 0) {
                (void) sd_event_now(r->event, CLOCK_MONOTONIC, &now);
                log_debug("Job %s: waited %" PRIu64 " ms for a start token.", r->p.job_id,
                          (now - r->token_wait_since) / 1000U);
                r->token_wait_since = 0;
        }
        return true;
}

static int on_token_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *r = userdata;
        int q;

        r->token_timer = sd_event_source_disable_unref(r->token_timer);
        q = run_start_unit_when_free(r);
        if (q < 0) {
                run_close_unit_fds(r);
                run_start_failed(r, q);
        }
        return 0;
}

/* The first start of the unit, once a start token is held. */
int run_start_unit_when_free(Run *r) {
        if (!run_has_start_token(r))
                return sd_event_add_time_relative(r->event, &r->token_timer, CLOCK_MONOTONIC,
                                                  run_token_delay_usec(), 0, on_token_timer, r);
        return run_start_unit(r);
}

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *r = userdata;
        int q;

        r->restart_timer = sd_event_source_disable_unref(r->restart_timer);
        if (!run_has_start_token(r)) {
                q = sd_event_add_time_relative(r->event, &r->restart_timer, CLOCK_MONOTONIC,
                                               run_token_delay_usec(), 0, on_restart_timer, r);
                if (q >= 0)
                        return 0;
        }
        r->job = job_free(r->job);
        q = run_start_unit(r);
        if (q < 0)
                run_start_failed(r, q);
        return 0;
}

/* RUN_RESTART_USEC, give or take half of it. */
static uint64_t run_restart_delay_usec(void) {
        sd_id128_t id;

        if (sd_id128_randomize(&id) < 0)
                return RUN_RESTART_USEC;
        return RUN_RESTART_USEC / 2 + id.qwords[0] % RUN_RESTART_USEC;
}

/* The manager refused the unit before anything of the job ran (job_start_refused(): a
 * daemon-reload while the start job waited, on systemd 252): the same request under a new unit
 * of the same name, with the same channel and pipes. Returns true if the start is made again. */
bool run_restart(Run *r) {
        uint64_t now = 0;
        int q;

        if (!job_start_refused(r->job) || r->stop_asked || r->unit_fds[0] < 0)
                return false;
        (void) sd_event_now(r->event, CLOCK_MONOTONIC, &now);
        if (r->first_refusal_usec == 0)
                r->first_refusal_usec = now;
        else if (now - r->first_refusal_usec >= RUN_RESTART_WITHIN_USEC) {
                log_warning("Job %s: the manager refused its unit %u times in %u s; giving up.", r->p.job_id,
                            r->start_attempts, (unsigned) (RUN_RESTART_WITHIN_USEC / 1000000U));
                return false;
        }
        /* Spread out: the starts the bus turned away together must not all come back together. */
        q = sd_event_add_time_relative(r->event, &r->restart_timer, CLOCK_MONOTONIC, run_restart_delay_usec(),
                                       0, on_restart_timer, r);
        if (q < 0) {
                log_warning_errno(q, "Failed to arm the restart timer of job %s: %m", r->p.job_id);
                return false;
        }
        if (job_start_rejected_by_bus(r->job))
                log_notice(
                        "Job %s: the bus did not deliver its start (the manager's queue was full); "
                        "starting it again (attempt %u).",
                        r->p.job_id, r->start_attempts + 1);
        else
                log_warning(
                        "Job %s: the manager refused its unit before it ran (systemd %u re-read it on a "
                        "daemon-reload); starting it again (attempt %u).",
                        r->p.job_id, r->manager_version, r->start_attempts + 1);
        return true;
}
