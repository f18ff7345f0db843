/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives one transient unit like systemd-run --wait: matches first, then StartTransientUnit(); "done"
 * is ActiveState inactive/failed with no job pending; the outcome comes from Result and ExecMain*. */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "job-internal.h"
#include "log.h"
#include "macro.h"

/* How long a unit may look down, without a job and without having run, before that is believed. */
#define UNSTARTED_USEC (5 * 1000 * 1000U)

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata);

int job_new(sd_bus *bus, const char *id, unsigned manager_version, Job **ret) {
        return job_new_unit(bus, id, NULL, manager_version, ret);
}

int job_new_unit(sd_bus *bus, const char *id, const char *unit, unsigned manager_version, Job **ret) {
        _cleanup_(job_freep) Job *j = NULL;
        int r;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->bus = sd_bus_ref(bus);
        j->manager_version = manager_version;
        j->state = JOB_STATE_NEW;
        j->cpu_limit_nsec = UINT64_MAX;
        j->pidfd = -EBADF;
        j->result = (JobResult) {
                .exit_code = -1,
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
        };
        j->id = strdup(id);
        if (unit)
                j->unit = strdup(unit);
        else if (asprintf(&j->unit, JOB_UNIT_FMT, id) < 0)
                j->unit = NULL;
        if (!j->id || !j->unit)
                return -ENOMEM;
        r = manager_unit_path(j->unit, &j->unit_path);
        if (r < 0)
                return r;
        j->retry = (ManagerRetry) { .unit = j->unit, .handler = on_retry_timer, .userdata = j };
        j->result.job = strdup(id);
        j->result.unit = strdup(j->unit);
        if (!j->result.job || !j->result.unit)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        sd_bus_slot_unref(j->slot_properties);
        sd_bus_slot_unref(j->slot_job_new);
        sd_bus_slot_unref(j->slot_job_removed);
        sd_bus_slot_unref(j->slot_call);
        sd_bus_slot_unref(j->slot_peak);
        sd_bus_slot_unref(j->slot_attach);
        sd_bus_slot_unref(j->slot_refresh);
        sd_bus_slot_unref(j->slot_cpu);
        sd_bus_slot_unref(j->slot_stop);
        sd_bus_slot_unref(j->slot_subscribe);
        sd_bus_slot_unref(j->slot_pid);
        sd_event_source_disable_unref(j->pidfd_source);
        safe_close(j->pidfd);
        job_timers_stop(j);
        manager_retry_done(&j->retry);
        sd_bus_unref(j->bus);
        job_result_done(&j->result);
        job_collect_done(j);
        free(j->start_job_result);
        free(j->start_job_path);
        free(j->unit_path);
        free(j->unit);
        free(j->id);
        free(j);
        return NULL;
}

bool job_is_done(const Job *j) {
        return j->state == JOB_STATE_DONE;
}

const char *job_unit(const Job *j) {
        return j->unit;
}

bool job_start_refused(const Job *j) {
        return j->state == JOB_STATE_DONE && j->start_refused;
}

bool job_start_rejected_by_bus(const Job *j) {
        return job_start_refused(j) && j->start_rejected_by_bus;
}

const char *job_unit_path(const Job *j) {
        return j->unit_path;
}

bool job_is_running(const Job *j) {
        return j->state == JOB_STATE_RUNNING;
}

void job_exec_timestamps(const Job *j, uint64_t *ret_exec, uint64_t *ret_exit) {
        *ret_exec = j->exec_start_usec;
        *ret_exit = j->exec_exit_usec;
}

JobResult *job_result(Job *j) {
        return &j->result;
}

sd_event *job_event(const Job *j) {
        return sd_bus_get_event(j->bus);
}

/* Every change of state, and what it starts and ends, is here. */
void job_set_state(Job *j, JobState state) {
        if (state <= j->state)
                return;
        j->state = state;
        switch (state) {
        case JOB_STATE_NEW:
        case JOB_STATE_STARTING:
                break;
        case JOB_STATE_RUNNING:
                (void) job_arm_recheck(j);
                if (j->event_cb)
                        j->event_cb(j, JOB_EVENT_STARTED, j->userdata);
                /* A stop asked for before the manager knew the unit is sent now. */
                if (j->stop_reason != JOB_STOP_NONE)
                        (void) job_send_stop(j);
                (void) job_refresh(j);
                break;
        case JOB_STATE_COLLECTING:
                job_timers_stop(j);
                j->retry_refresh = false;
                job_collect_call(j);
                break;
        case JOB_STATE_DONE:
                job_timers_stop(j);
                manager_retry_done(&j->retry);
                j->slot_properties = sd_bus_slot_unref(j->slot_properties);
                j->slot_job_new = sd_bus_slot_unref(j->slot_job_new);
                j->slot_job_removed = sd_bus_slot_unref(j->slot_job_removed);
                j->slot_refresh = sd_bus_slot_unref(j->slot_refresh);
                j->slot_cpu = sd_bus_slot_unref(j->slot_cpu);
                j->slot_attach = sd_bus_slot_unref(j->slot_attach);
                j->slot_peak = sd_bus_slot_unref(j->slot_peak);
                if (j->event_cb)
                        j->event_cb(j, JOB_EVENT_DONE, j->userdata);
                break;
        }
}

void job_fail(Job *j, int error, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        j->result.status = JOB_ERROR;
        free(j->result.message);
        j->result.message = m;
        log_error_errno(error, "Job %s: %s", j->unit, m ?: "failed");
        job_set_state(j, JOB_STATE_DONE);
}

/* The unit's invocation id, once it has one, for the result record. */
static void job_note_invocation(Job *j, const uint8_t invocation[static 16]) {
        static const uint8_t zero[16] = {};
        char s[33];

        if (j->result.invocation_id || memcmp(invocation, zero, 16) == 0)
                return;
        for (size_t i = 0; i < 16; i++)
                (void) snprintf(s + 2 * i, 3, "%02x", invocation[i]);
        j->result.invocation_id = strdup(s);
}

/* Done: the unit is down with no job pending, and either we saw its start job end (JobRemoved) or
 * the unit has left "inactive" since (it ran; its start job is over). The second holds even when a
 * JobRemoved was lost (under load, or while the manager re-executes). A unit that looks down with no
 * job but never ran is not trusted at once: 252 shows that for a moment around a daemon-reload while
 * the start job still waits; only if it stays so for UNSTARTED_USEC (a lost JobRemoved of a start job
 * that failed) is it done. Returns true if the unit is taken as down. */
static bool job_unit_is_down(Job *j, const char *active, uint32_t job_id, uint64_t inactive_exit) {
        uint64_t now = 0;
        bool down;

        down = job_id == 0 && active && (strcmp(active, "inactive") == 0 || strcmp(active, "failed") == 0);
        if (down && (j->start_job_done || inactive_exit > 0))
                return true;
        if (!down) {
                j->unstarted_since = 0;
                return false;
        }
        (void) sd_event_now(job_event(j), CLOCK_MONOTONIC, &now);
        if (j->unstarted_since == 0)
                j->unstarted_since = now;
        else if (now - j->unstarted_since >= UNSTARTED_USEC) {
                log_warning(
                        "Job unit %s stayed down without having run and without a start job "
                        "for %u s; taking it as failed to start.",
                        j->unit, (unsigned) (UNSTARTED_USEC / 1000000U));
                return true;
        }
        return false;
}

static int on_unit_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        _cleanup_free_ char *active = NULL, *load = NULL;
        uint32_t job_id = 0;
        uint8_t invocation[16] = {};
        uint64_t active_enter = 0, inactive_exit = 0;
        ManagerProp props[] = {
                { "ActiveState", "s", &active },
                { "LoadState", "s", &load },
                { "Job", "(uo)", &job_id },
                { "InvocationID", "ay", invocation },
                { "ActiveEnterTimestampMonotonic", "t", &active_enter },
                { "InactiveExitTimestampMonotonic", "t", &inactive_exit },
        };
        const sd_bus_error *e;
        int r;

        j->slot_refresh = sd_bus_slot_unref(j->slot_refresh);
        e = manager_reply_error(m);
        if (e) {
                if (manager_retry_later(&j->retry, job_event(j), e, "reading the unit's state")) {
                        j->retry_refresh = true;
                        return 0;
                }
                job_fail(j, -EIO, "could not watch the job's unit: %s", e->message);
                return 0;
        }
        manager_retry_over(&j->retry);
        r = manager_read_props(m, props, ELEMENTSOF(props));
        if (r < 0) {
                job_fail(j, r, "could not parse the job's unit state");
                return 0;
        }
        if (active_enter > 0 && j->active_enter_usec == 0) {
                /* A warm runner's unit was active long before its job: the job's clocks run from
                 * the hand-off. */
                j->active_enter_usec = active_enter > j->handoff_usec ? active_enter : j->handoff_usec;
                job_arm_wall_timer(j);
                job_ask_main_pid(j);
                if (j->event_cb)
                        j->event_cb(j, JOB_EVENT_ACTIVE, j->userdata);
        }
        log_debug("Job unit %s: ActiveState=%s, job %" PRIu32 ", start job %s.", j->unit, active ?: "?",
                  job_id, j->start_job_done ? "done" : "pending");
        job_note_invocation(j, invocation);
        if (load && strcmp(load, "bad-setting") == 0 && !j->load_refused) {
                j->load_refused = true;
                log_warning("Job unit %s: the manager re-read it and refused it (LoadState=bad-setting).",
                            j->unit);
        }
        if (job_unit_is_down(j, active, job_id, inactive_exit)) {
                job_set_state(j, JOB_STATE_COLLECTING);
                return 0;
        }
        if (j->refresh_again) {
                j->refresh_again = false;
                (void) job_refresh(j);
        }
        return 0;
}

int job_refresh(Job *j) {
        int r;

        if (j->state != JOB_STATE_RUNNING)
                return 0;
        if (j->slot_refresh) {
                j->refresh_again = true;
                return 0;
        }
        r = manager_get_unit_props(j->bus, &j->slot_refresh, j->unit_path, on_unit_props, j);
        if (r < 0)
                job_fail(j, r, "could not query the job's unit");
        return r;
}

/* The manager's PropertiesChanged of the Unit interface carries every property of it that emits
 * changes (sd_bus_emit_properties_changed_strv() with no names), and follows the Service interface's
 * for the same change: the manager sends the unit type's first, so that a client can take the pair
 * as one. When it shows a unit that was seen active down with no job pending, the result is read at
 * once, without a GetAll of the unit first. */
static bool job_signal_says_down(Job *j, sd_bus_message *m) {
        _cleanup_free_ char *active = NULL;
        uint32_t job_id = UINT32_MAX;
        uint64_t inactive_exit = UINT64_MAX;
        ManagerProp props[] = {
                { "ActiveState", "s", &active },
                { "Job", "(uo)", &job_id },
                { "InactiveExitTimestampMonotonic", "t", &inactive_exit },
        };

        if (j->state != JOB_STATE_RUNNING || j->active_enter_usec == 0)
                return false;
        if (manager_read_props(m, props, ELEMENTSOF(props)) < 0 || !active || job_id == UINT32_MAX ||
            inactive_exit == UINT64_MAX)
                return false;
        return job_id == 0 && (j->start_job_done || inactive_exit > 0) &&
               (strcmp(active, "inactive") == 0 || strcmp(active, "failed") == 0);
}

/* Each GetAll costs a round trip of the manager, which at a job's end is busy taking its unit down:
 * the Service interface's signal asks for none (the Unit interface's follows it; what it says of the
 * main process and the Result is kept for the result), and the Unit interface's none when it says
 * the unit is down. Anything else is read with GetAll; the recheck timer reads it every
 * RECHECK_USEC anyway. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        bool paired;

        switch (manager_changed_interface(m)) {
        case MANAGER_INTERFACE_SERVICE:
                job_collect_note_signal(j, m);
                return 0;
        case MANAGER_INTERFACE_UNIT:
                paired = j->signal_unpaired;
                j->signal_unpaired = false;
                if (job_signal_says_down(j, m)) {
                        log_debug("Job unit %s is down, as its PropertiesChanged says.", j->unit);
                        j->collect_signalled = paired;
                        job_set_state(j, JOB_STATE_COLLECTING);
                        return 0;
                }
                break;
        case MANAGER_INTERFACE_OTHER:
                break;
        }
        log_debug("PropertiesChanged on %s", sd_bus_message_get_path(m));
        (void) job_refresh(j);
        return 0;
}

static int on_job_new(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const char *path, *unit;
        uint32_t id;

        if (sd_bus_message_read(m, "uos", &id, &path, &unit) < 0 || strcmp(unit, j->unit) != 0)
                return 0;
        log_debug("JobNew %" PRIu32 " %s %s", id, path, unit);

        /* The first job on our unit is our start job; any later one we did not queue ourselves (we
         * record a reason before we call StopUnit) was queued by someone else: systemctl stop. */
        if (j->n_jobs_seen++ > 0 && j->stop_reason == JOB_STOP_NONE && !j->stopped_externally) {
                j->stopped_externally = true;
                log_info("Job unit %s is being stopped by someone else.", j->unit);
        }
        return 0;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(m, "uoss", &id, &path, &unit, &result);
        if (r < 0 || strcmp(unit, j->unit) != 0)
                return 0;
        log_debug("JobRemoved %" PRIu32 " %s %s: %s", id, path, unit, result);
        /* Only the start job's end says whether the unit started; another job's (a stop job, or
         * one the manager reports around a re-exec) does not. */
        if (!j->start_job_done && (!j->start_job_path || strcmp(path, j->start_job_path) == 0)) {
                j->start_job_done = true;
                j->start_job_result = strdup(result);
                if (!j->start_job_result)
                        log_oom();
                if (strcmp(result, "done") != 0)
                        log_warning("Job unit %s failed to start: start job result %s.", j->unit, result);
        }
        (void) job_refresh(j);
        return 0;
}

static int on_subscribe_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;

        j->slot_subscribe = sd_bus_slot_unref(j->slot_subscribe);
        /* "already subscribed" is what a manager that kept us across its re-exec says. */
        if (sd_bus_message_is_method_error(m, NULL))
                log_debug("Subscribe: %s", sd_bus_message_get_error(m)->message);
        return 0;
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;
        int r;

        if (j->state == JOB_STATE_DONE)
                return 0;
        /* A re-executed manager may not send us the unit's signals any more: subscribe again. */
        if (j->retry.transient_since > 0 && !j->slot_subscribe) {
                r = manager_subscribe(j->bus, &j->slot_subscribe, on_subscribe_reply, j);
                if (r < 0)
                        log_debug_errno(r, "Failed to call Subscribe: %m");
        }
        if (j->retry_stop) {
                j->retry_stop = false;
                (void) job_send_stop(j);
        }
        if (j->retry_collect) {
                j->retry_collect = false;
                job_collect_call(j);
        } else if (j->retry_refresh) {
                j->retry_refresh = false;
                (void) job_refresh(j);
        }
        return 0;
}

static int on_start_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const sd_bus_error *e;
        const char *path;

        j->slot_call = sd_bus_slot_unref(j->slot_call);
        e = manager_reply_error(m);
        if (e) {
                /* A unit of this name still loaded: the one a start before this was refused with
                 * (job_start_refused()), not collected yet. */
                j->start_refused = sd_bus_error_has_name(e, "org.freedesktop.systemd1.UnitExists");
                /* Not delivered (the manager's queue was full, a storm of starts): it created nothing. */
                if (manager_error_is_bus_rejection(e))
                        j->start_refused = j->start_rejected_by_bus = true;
                job_fail(j, -sd_bus_error_get_errno(e), "systemd refused to start the job: %s",
                         e->message ?: e->name);
                return 0;
        }
        if (sd_bus_message_read(m, "o", &path) >= 0) {
                j->start_job_path = strdup(path);
                if (!j->start_job_path)
                        log_oom();
        }
        job_set_state(j, JOB_STATE_RUNNING);
        return 0;
}

/* The callback, and the matches on the unit and its jobs. */
int job_watch(Job *j, job_event_func_t cb, void *userdata) {
        int r;

        j->event_cb = cb;
        j->userdata = userdata;
        r = manager_watch_unit(j->bus, &j->slot_properties, j->unit_path, on_properties_changed, j);
        if (r < 0)
                return log_error_errno(r, "Failed to watch %s: %m", j->unit);
        r = manager_watch_jobs(j->bus, &j->slot_job_new, &j->slot_job_removed, on_job_new, on_job_removed, j);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the jobs of %s: %m", j->unit);
        return 0;
}

int job_start(Job *j, const JobSpec *spec, uint64_t cpu_limit_usec, job_event_func_t cb, void *userdata) {
        int r;

        /* Matches before the call, so that no change of the new unit can slip past us. */
        r = job_watch(j, cb, userdata);
        if (r < 0)
                return r;

        j->wall_limit_usec = spec->limits[LIMIT_WALL_TIME];
        r = job_arm_cpu_poll(j, cpu_limit_usec);
        if (r < 0)
                return r;
        r = manager_start_transient_unit(j->bus, &j->slot_call, spec, on_start_reply, j);
        if (r < 0)
                return r;
        job_set_state(j, JOB_STATE_STARTING);
        return 0;
}

static int on_stop_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const sd_bus_error *e;

        j->slot_stop = sd_bus_slot_unref(j->slot_stop);
        e = manager_reply_error(m);
        if (e) {
                if (j->state < JOB_STATE_COLLECTING &&
                    manager_retry_later(&j->retry, job_event(j), e, "stopping the unit")) {
                        j->retry_stop = true;
                        return 0;
                }
                log_debug("StopUnit %s: %s", j->unit, e->message);
        }
        return 0;
}

int job_send_stop(Job *j) {
        int r;

        if (j->slot_stop)
                return 0;
        /* KillUnit() signals at once, in the manager's method handler; the stop job of StopUnit()
         * waits for the manager's run queue, which it dispatches last (seen: 150 ms late under
         * TCG). The unit's KillSignal= is SIGKILL anyway; the stop follows, to take the unit down
         * in order (and to retry if the manager was busy). */
        j->kill_sent = true;
        j->grace_timer = sd_event_source_disable_unref(j->grace_timer);
        r = manager_kill_unit(j->bus, j->unit, SIGKILL);
        if (r < 0)
                log_debug_errno(r, "Failed to call KillUnit on %s: %m", j->unit);
        r = manager_stop_unit(j->bus, &j->slot_stop, j->unit, on_stop_reply, j);
        if (r < 0)
                return log_error_errno(r, "Failed to stop %s: %m", j->unit);
        return 0;
}

/* The limits whose stop leaves the job its grace: the client still wants what it made. */
static bool stop_reason_winds_up(JobStopReason reason) {
        return reason == JOB_STOP_TIMEOUT || reason == JOB_STOP_CPU_LIMIT || reason == JOB_STOP_OUTPUT_LIMIT;
}

int job_stop(Job *j, JobStopReason reason) {
        if (j->state >= JOB_STATE_COLLECTING)
                return 0;
        if (j->stop_reason == JOB_STOP_NONE && !j->stopped_externally)
                j->stop_reason = reason;
        if (j->state < JOB_STATE_RUNNING)
                return 0; /* the start reply finds the reason set and stops it then */
        if (stop_reason_winds_up(reason) && j->grace_usec > 0 && !j->kill_sent) {
                if (j->grace_timer)
                        return 0; /* winding up already; the first reason stays */
                if (job_arm_grace_timer(j) >= 0) {
                        if (j->event_cb)
                                j->event_cb(j, JOB_EVENT_WINDING_UP, j->userdata);
                        return 0;
                }
        }
        return job_send_stop(j);
}

void job_set_stop_grace(Job *j, uint64_t usec) {
        j->grace_usec = usec;
}

bool job_grace_ran_out(const Job *j) {
        return j->grace_ran_out;
}

void job_keep_running(Job *j) {
        j->wall_limit_usec = 0;
}
