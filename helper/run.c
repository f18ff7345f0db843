/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One job from admission to result: STARTING (job user, Subscribe, Version, StartTransientUnit) ->
 * RUNNING (stdio relayed, the runner channel open) -> DRAINING (unit down, pipes and channel
 * emptied) -> OVER (failed() or finished()). */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-paths.h"
#include "job-user.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "relay.h"
#include "run-channel.h"
#include "run.h"

#include "run-internal.h"

void run_close_unit_fds(Run *r) {
        for (size_t i = 0; i < ELEMENTSOF(r->unit_fds); i++)
                r->unit_fds[i] = safe_close(r->unit_fds[i]);
}

int run_new(sd_event *e, sd_bus *bus, const RunParams *p, const RunOps *ops, void *userdata, Run **ret) {
        Run *r;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(e);
        r->bus = bus ? sd_bus_ref(bus) : NULL;
        r->p = *p;
        r->ops = ops;
        r->userdata = userdata;
        r->state = RUN_STARTING;
        r->user_fd = -EBADF;
        r->start_token_fd = -EBADF;
        r->warm_fd = -EBADF;
        r->claim_fd = -EBADF;
        for (size_t i = 0; i < ELEMENTSOF(r->unit_fds); i++)
                r->unit_fds[i] = -EBADF;
        memcpy(r->unit_limits, p->limits, sizeof(r->unit_limits));
        if (p->session) {
                /* The unit, RuntimeMaxSec=, LimitCPU= and the job's own timers are the whole
                 * session's; each cell's wall and CPU time are run-session.c's. */
                r->unit_limits[LIMIT_WALL_TIME] = p->limits[LIMIT_SESSION_WALL_TIME];
                r->unit_limits[LIMIT_CPU_TIME] = p->limits[LIMIT_SESSION_CPU_TIME];
        }
        run_session_init(r);
        *ret = r;
        return 0;
}

Run *run_free(Run *r) {
        if (!r)
                return NULL;
        run_session_done(r);
        sd_event_source_disable_unref(r->restart_timer);
        sd_event_source_disable_unref(r->token_timer);
        safe_close(r->start_token_fd);
        safe_close(r->warm_fd);
        run_warm_done(r);
        run_close_unit_fds(r);
        job_free(r->job);
        relay_free(r->relay);
        run_channel_free(r->channel);
        sd_bus_slot_unref(r->slot_subscribe);
        sd_bus_slot_unref(r->slot_version);
        job_user_pick_free(r->pick);
        safe_close(r->user_fd);
        sd_bus_unref(r->bus);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

static void run_fail(Run *r, const char *fmt, ...) _printf_(2, 3);
static void run_fail(Run *r, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        r->state = RUN_OVER;
        r->ops->failed(r->userdata, m ?: "out of memory");
}

/* --- the job's stdio --------------------------------------------------------------------------- */

static int relay_emit(void *userdata, uint16_t type, const void *data, size_t size) {
        Run *r = userdata;

        return r->ops->emit(r->userdata, type, data, size);
}

static bool relay_can_emit(void *userdata) {
        Run *r = userdata;

        return r->ops->can_emit(r->userdata);
}

/* The result, once the job is down and everything it wrote (output, then files) is emitted: the
 * FILE frames always precede RESULT. */
static void run_check_over(Run *r) {
        JobResult *result;

        if (r->state != RUN_DRAINING || !r->relay_drained || !r->channel_drained)
                return;
        r->state = RUN_OVER;
        result = job_result(r->job);
        result->path_reported = r->p.profile->warm_runners > 0;
        result->warm = r->warm;
        if (r->p.session)
                run_session_finish(r, result);
        if (r->p.request->collect && !r->p.discover && !r->p.session &&
            run_channel_result(r->channel, result->status, job_grace_ran_out(r->job), result) < 0)
                log_oom();
        r->ops->finished(r->userdata, result);
}

static void relay_event(void *userdata, RelayEvent ev) {
        Run *r = userdata;

        switch (ev) {
        case RELAY_STDIN_IDLE:
                r->ops->stdin_idle(r->userdata);
                break;
        case RELAY_OUTPUT_LIMIT:
                log_info("Job %s exceeded its output limit; stopping it.", r->p.job_id);
                (void) job_stop(r->job, JOB_STOP_OUTPUT_LIMIT);
                break;
        case RELAY_DRAINED:
                r->relay_drained = true;
                run_check_over(r);
                break;
        case RELAY_SYNCED:
                run_session_synced(r);
                break;
        }
}

const RelayOps run_relay_ops = {
        .emit = relay_emit,
        .can_emit = relay_can_emit,
        .event = relay_event,
};

/* --- the runner channel ------------------------------------------------------------------------ */

static void channel_info(void *userdata, const void *data, size_t size) {
        Run *r = userdata;

        if (r->p.discover && r->ops->info)
                r->ops->info(r->userdata, data, size);
}

static void channel_drained(void *userdata) {
        Run *r = userdata;

        r->channel_drained = true;
        run_check_over(r);
}

static bool channel_sync(void *userdata) {
        return run_session_sync(userdata);
}

static void channel_cell_result(void *userdata, const void *data, size_t size) {
        run_session_cell_result(userdata, data, size);
}

static void channel_broken(void *userdata, const char *why) {
        run_session_broken(userdata, why);
}

const RunChannelOps run_channel_ops = {
        .emit = relay_emit,
        .can_emit = relay_can_emit,
        .info = channel_info,
        .drained = channel_drained,
        .sync = channel_sync,
        .cell_result = channel_cell_result,
        .broken = channel_broken,
};

/* --- the job ----------------------------------------------------------------------------------- */

void run_on_job_event(Job *j, JobEvent ev, void *userdata) {
        Run *r = userdata;

        switch (ev) {
        case JOB_EVENT_STARTED:
                r->start_token_fd = safe_close(r->start_token_fd);
                if (r->warm && run_warm_handoff(r) < 0) {
                        /* Nothing of the job reached the runner: it ends with the channel. */
                        log_error("Job %s: could not hand the job to its warm runner; stopping it.",
                                  r->p.job_id);
                        (void) job_stop(r->job, JOB_STOP_CANCEL);
                }
                /* A start made again (run_restart(), run_warm_fall_back()) is the same job to the
                 * client: one ACCEPTED. */
                if (r->told_started)
                        break;
                r->told_started = true;
                r->p.times->start = journal_now_usec();
                r->ops->started(r->userdata, job_unit(j));
                break;
        case JOB_EVENT_DONE:
                r->start_token_fd = safe_close(r->start_token_fd);
                if (run_restart(r) || run_warm_fall_back(r))
                        break;
                run_close_unit_fds(r);
                r->state = RUN_DRAINING;
                r->ops->job_done(r->userdata);
                /* Whatever the job wrote is in the pipes and the channel now; send it before the
                 * result. */
                relay_finish(r->relay);
                run_channel_finish(r->channel);
                break;
        case JOB_EVENT_ACTIVE:
                /* The job's process holds its own copies now: ours would keep the pipes open after
                 * it is gone. */
                run_close_unit_fds(r);
                if (r->p.session)
                        run_session_active(r);
                break;
        case JOB_EVENT_WINDING_UP:
                /* A limit stopped it and it has files to hand back: the runner ends the code and
                 * returns them within files-out-time, then the Job kills what is left. */
                log_info("Job %s: a limit stopped it; its runner has %" PRIu64 " ms to return its files.",
                         r->p.job_id, r->p.limits[LIMIT_FILES_OUT_TIME] / 1000U);
                run_channel_stop(r->channel);
                break;
        }
}

/* The relay, the runner channel with the request on its way, the unit. */
static int run_start_job(Run *r) {
        int job_fds[3] = { -EBADF, -EBADF, -EBADF };
        int channel_fd = -EBADF;
        int q;

        if (r->warm)
                return run_warm_start_job(r);
        q = relay_new(r->event, r->p.limits[LIMIT_OUTPUT], &run_relay_ops, r, job_fds, &r->relay);
        if (q < 0)
                return log_error_errno(q, "Failed to set up the job's stdio: %m");
        q = run_channel_new(r->event, r->p.limits,
                            r->p.discover  ? CHANNEL_MODE_DISCOVER
                            : r->p.session ? CHANNEL_MODE_SESSION
                                           : CHANNEL_MODE_JOB,
                            &run_channel_ops, r, &channel_fd, &r->channel);
        if (q < 0) {
                for (size_t i = 0; i < 3; i++)
                        safe_close(job_fds[i]);
                return log_error_errno(q, "Failed to set up the runner channel: %m");
        }
        /* The stdin pipe reaches the runner with CH_GO, never the manager. */
        q = run_channel_send_request(r->channel, r->p.request, job_fds[0]);
        safe_close(job_fds[0]);
        r->unit_fds[0] = channel_fd;
        r->unit_fds[1] = job_fds[1];
        r->unit_fds[2] = job_fds[2];
        /* A session's cells read no stdin: the runner's copy of the pipe is at EOF at once. */
        if (r->p.session)
                relay_close_stdin(r->relay);
        if (q >= 0)
                q = run_start_unit_when_free(r);
        if (q < 0) {
                run_close_unit_fds(r);
                return log_error_errno(q, "Failed to start the job: %m");
        }
        return 0;
}

void run_start_failed(Run *r, int q) {
        r->job = job_free(r->job);
        run_fail(r, "could not start the job: %s", strerror(-q));
}

/* --- the manager, before the job --------------------------------------------------------------- */

/* Both replies in: the job's start (or a warm runner's hand-off). */
static void run_manager_known(Run *r) {
        int q;

        if (!r->subscribed || !r->version_known)
                return;
        r->p.times->bus = journal_now_usec();
        if (r->warm) {
                /* Attached already (run_start()); its replies come after these. */
                if (r->job)
                        job_set_manager_version(r->job, r->manager_version);
                return;
        }
        q = run_start_job(r);
        if (q < 0)
                run_start_failed(r, q);
}

/* A reply that failed ends the start; the other call's reply is not waited for. */
static void run_manager_failed(Run *r, int q) {
        r->slot_subscribe = sd_bus_slot_unref(r->slot_subscribe);
        r->slot_version = sd_bus_slot_unref(r->slot_version);
        run_start_failed(r, q);
}

static int on_version(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Run *r = userdata;
        const sd_bus_error *e = manager_reply_error(m);
        int q;

        r->slot_version = sd_bus_slot_unref(r->slot_version);
        q = manager_read_version(m, &r->manager_version);
        if (q < 0) {
                log_error_errno(q, "Failed to read the manager's version: %s",
                                e && e->message ? e->message : "unknown error");
                run_manager_failed(r, q);
                return 0;
        }
        r->version_known = true;
        run_manager_known(r);
        return 0;
}

static int on_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Run *r = userdata;
        const sd_bus_error *e = manager_reply_error(m);
        int q;

        r->slot_subscribe = sd_bus_slot_unref(r->slot_subscribe);
        /* A connection's second Run (a DISCOVER request's runs, one after the other) finds the
         * bus subscribed already: the signals it needs arrive all the same. */
        if (e && !sd_bus_error_has_name(e, "org.freedesktop.systemd1.AlreadySubscribed")) {
                q = log_error_errno(manager_reply_errno(m), "Failed to subscribe to the manager: %s",
                                    e->message ?: "unknown error");
                run_manager_failed(r, q);
                return 0;
        }
        r->subscribed = true;
        run_manager_known(r);
        return 0;
}

/* Subscribe (signals about units reach only subscribed clients) and the manager's Version, sent
 * together: the manager answers a client's calls in order, and the start waits for one round
 * trip instead of two. */
static int run_ask_manager(Run *r) {
        int q;

        r->subscribed = r->version_known = false;
        q = manager_subscribe(r->bus, &r->slot_subscribe, on_subscribe, r);
        if (q < 0) {
                log_error_errno(q, "Failed to subscribe to the manager: %s", "unknown error");
                run_manager_failed(r, q);
                return q;
        }
        q = manager_get_version(r->bus, &r->slot_version, on_version, r);
        if (q < 0) {
                log_error_errno(q, "Failed to read the manager's version: %s", "unknown error");
                run_manager_failed(r, q);
        }
        return q;
}

static void on_job_user(JobUserPick *p, int q, void *userdata) {
        Run *r = userdata;

        if (q == -EBUSY) {
                run_fail(r, "all %u job users are in use; try again later", (unsigned) JOB_USERS);
                return;
        }
        if (q < 0) {
                run_fail(r, "cannot take a job user: %s", strerror(-q));
                return;
        }
        job_user_pick_take(p, &r->user_fd, r->user);
        (void) run_ask_manager(r);
}

void run_start_cold(Run *r) {
        int q;

        q = job_user_pick_new(r->bus, r->p.job_id, on_job_user, r, &r->pick);
        if (q < 0) {
                run_fail(r, "cannot take a job user: %s", strerror(-q));
                return;
        }
        job_user_pick_start(r->pick);
}

void run_start(Run *r) {
        /* A warm runner of the profile, if one is ready and the request fits it: its unit, user
         * and sandbox exist already; the manager is only asked to watch it. */
        if (run_warm_claim(r)) {
                int q = run_ask_manager(r);

                /* The runner's unit exists already and its watch needs nothing of the version:
                 * its reads go out right behind Subscribe and Version, and the hand-off waits for
                 * one round trip of the manager instead of two. */
                if (q >= 0)
                        q = run_warm_start_job(r);
                if (q < 0 && r->state != RUN_OVER)
                        run_manager_failed(r, q);
                return;
        }
        run_start_cold(r);
}

/* --- what the connection asks ------------------------------------------------------------------ */

void run_stop(Run *r, JobStopReason reason) {
        r->stop_asked = true;
        if (r->job && !r->restart_timer) {
                (void) job_stop(r->job, reason);
                return;
        }
        if (r->pending_stop == JOB_STOP_NONE)
                r->pending_stop = reason;
}

bool run_is_active(const Run *r) {
        return r->state == RUN_STARTING ||
               (r->state == RUN_RUNNING && (r->restart_timer || !job_is_done(r->job)));
}

bool run_takes_stdin(const Run *r) {
        return r->relay && !relay_stdin_busy(r->relay);
}

int run_write_stdin(Run *r, const void *data, size_t size) {
        return relay_write_stdin(r->relay, data, size);
}

void run_close_stdin(Run *r) {
        relay_close_stdin(r->relay);
}

void run_resume(Run *r) {
        if (r->relay)
                relay_resume(r->relay);
        if (r->channel)
                run_channel_resume(r->channel);
}

void run_exec_timestamps(const Run *r, uint64_t *ret_exec, uint64_t *ret_exit) {
        *ret_exec = *ret_exit = 0;
        if (r->job)
                job_exec_timestamps(r->job, ret_exec, ret_exit);
}
