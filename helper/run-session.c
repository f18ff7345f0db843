/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's cells over its Run, one at a time: CH_CELL to the runner, each cell under the
 * helper's own clocks (its wall time from CH_CELL, its CPU from the unit's CPUUsageNSec, the grace
 * after an interrupt), the idle timer between cells and the cells limit; the runner's
 * CH_CELL_RESULT completed (the cell's output emitted first, a last CPU read) and reported by
 * RunOps.cell_result(). The runner's word never decides a limit. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "log.h"
#include "manager.h"

#include "run-internal.h"

/* How often a running cell's CPU time is read, as job-timers.c reads the whole job's. */
#define CELL_CPU_POLL_USEC (100 * 1000U)

static void cell_report(Run *r);

/* "10 s", "1.5 s", "0.25 s": a limit as the messages name it. */
static const char *format_seconds(char *buf, size_t size, uint64_t usec) {
        uint64_t ms = usec / 1000U;
        size_t n;

        if (usec % 1000000U == 0) {
                (void) snprintf(buf, size, "%" PRIu64 " s", usec / 1000000U);
                return buf;
        }
        (void) snprintf(buf, size, "%" PRIu64 ".%03" PRIu64, ms / 1000U, ms % 1000U);
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
                buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
                buf[--n] = '\0';
        (void) snprintf(buf + n, size - n, " s");
        return buf;
}

static uint64_t now_usec(const Run *r) {
        uint64_t t = 0;

        (void) sd_event_now(r->event, CLOCK_MONOTONIC, &t);
        return t;
}

static void timer_off(sd_event_source **s) {
        *s = sd_event_source_disable_unref(*s);
}

static void cell_timers_off(RunSession *s) {
        timer_off(&s->wall_timer);
        timer_off(&s->cpu_timer);
        timer_off(&s->grace_timer);
}

static int arm(Run *r, sd_event_source **s, uint64_t usec, sd_event_time_handler_t cb) {
        int q;

        timer_off(s);
        q = sd_event_add_time_relative(r->event, s, CLOCK_MONOTONIC, usec, 1000U, cb, r);
        if (q < 0)
                log_warning_errno(q, "Failed to arm a timer of session %s: %m", r->p.job_id);
        return q;
}

/* How the helper ended the session, for its RESULT's message: the first reason stays. */
static void session_set_end(Run *r, JobStatus status, const char *fmt, ...) _printf_(3, 4);
static void session_set_end(Run *r, JobStatus status, const char *fmt, ...) {
        RunSession *s = &r->session;
        va_list ap;
        int n;

        if (s->end_message)
                return;
        va_start(ap, fmt);
        n = vasprintf(&s->end_message, fmt, ap);
        va_end(ap);
        if (n < 0) {
                s->end_message = NULL;
                return;
        }
        s->end_status = status;
}

void run_session_init(Run *r) {
        r->session = (RunSession) {
                .state = SESSION_IDLE,
                .cpu_base_nsec = UINT64_MAX,
                .cpu_last_nsec = UINT64_MAX,
                .end_status = _JOB_STATUS_INVALID,
                .pending = CELL_RESULT_INIT,
        };
}

void run_session_done(Run *r) {
        RunSession *s = &r->session;

        cell_timers_off(s);
        timer_off(&s->idle_timer);
        s->slot_cpu = sd_bus_slot_unref(s->slot_cpu);
        cell_result_done(&s->pending);
        free(s->cell_message);
        free(s->end_message);
        s->cell_message = s->end_message = NULL;
}

/* --- the clocks -------------------------------------------------------------------------------- */

static int on_idle(sd_event_source *source, uint64_t usec, void *userdata) {
        Run *r = userdata;
        char t[32];

        timer_off(&r->session.idle_timer);
        format_seconds(t, sizeof(t), r->p.limits[LIMIT_SESSION_IDLE_TIME]);
        log_info("Session %s was idle for %s; ending it.", r->p.job_id, t);
        session_set_end(r, JOB_TIMEOUT, "the session was idle for %s", t);
        run_stop(r, JOB_STOP_IDLE);
        return 0;
}

static void arm_idle(Run *r) {
        if (r->p.limits[LIMIT_SESSION_IDLE_TIME] > 0)
                (void) arm(r, &r->session.idle_timer, r->p.limits[LIMIT_SESSION_IDLE_TIME], on_idle);
}

static int on_grace(sd_event_source *source, uint64_t usec, void *userdata) {
        Run *r = userdata;
        char t[32];

        timer_off(&r->session.grace_timer);
        format_seconds(t, sizeof(t), r->p.limits[LIMIT_CELL_GRACE]);
        log_info("Session %s: cell %" PRIu64 " did not end within %s of its interrupt; ending the session.",
                 r->p.job_id, r->session.cell, t);
        session_set_end(r, JOB_TIMEOUT,
                        "cell %" PRIu64
                        " did not end within %s of its interrupt: the session's state is lost",
                        r->session.cell, t);
        run_stop(r, JOB_STOP_CELL_GRACE);
        return 0;
}

/* The helper interrupts the running cell (a limit, or the client's INTERRUPT): CH_INTERRUPT, and
 * the cell has cell-grace to end. why: its CELL_RESULT's message. */
static void cell_interrupt(Run *r, const char *fmt, ...) _printf_(2, 3);
static void cell_interrupt(Run *r, const char *fmt, ...) {
        RunSession *s = &r->session;
        va_list ap;
        int q;

        if (s->state != SESSION_CELL)
                return;
        s->state = SESSION_INTERRUPTING;
        s->interrupted = true;
        free(s->cell_message);
        va_start(ap, fmt);
        if (vasprintf(&s->cell_message, fmt, ap) < 0)
                s->cell_message = NULL;
        va_end(ap);
        timer_off(&s->wall_timer);
        timer_off(&s->cpu_timer);
        log_info("Session %s: interrupting cell %" PRIu64 " (%s).", r->p.job_id, s->cell,
                 s->cell_message ?: "");
        q = run_channel_send_interrupt(r->channel);
        if (q < 0)
                log_warning_errno(q, "Failed to send CH_INTERRUPT to session %s: %m", r->p.job_id);
        if (arm(r, &s->grace_timer, r->p.limits[LIMIT_CELL_GRACE], on_grace) < 0)
                run_stop(r, JOB_STOP_CELL_GRACE); /* no grace without its timer */
}

static int on_wall(sd_event_source *source, uint64_t usec, void *userdata) {
        Run *r = userdata;
        char t[32];

        timer_off(&r->session.wall_timer);
        cell_interrupt(r, "the cell reached its wall-time limit of %s",
                       format_seconds(t, sizeof(t), r->p.limits[LIMIT_WALL_TIME]));
        return 0;
}

static int cpu_read(Run *r);

static int on_cpu_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Run *r = userdata;
        RunSession *s = &r->session;
        uint64_t nsec = UINT64_MAX, limit = r->p.limits[LIMIT_CPU_TIME];
        char t[32];

        s->slot_cpu = sd_bus_slot_unref(s->slot_cpu);
        if (!sd_bus_message_is_method_error(m, NULL) && sd_bus_message_read(m, "v", "t", &nsec) >= 0 &&
            nsec != UINT64_MAX) {
                s->cpu_last_nsec = nsec;
                if (s->cpu_base_nsec == UINT64_MAX)
                        s->cpu_base_nsec = nsec;
        }
        if (s->cpu_final) {
                s->cpu_final = false;
                cell_report(r);
                return 0;
        }
        if (s->state == SESSION_CELL && limit > 0 && s->cpu_base_nsec != UINT64_MAX &&
            s->cpu_last_nsec != UINT64_MAX && s->cpu_last_nsec - s->cpu_base_nsec > limit * 1000U)
                cell_interrupt(r, "the cell reached its CPU-time limit of %s",
                               format_seconds(t, sizeof(t), limit));
        return 0;
}

/* One read of the unit's CPUUsageNSec; a read in flight is replaced. */
static int cpu_read(Run *r) {
        RunSession *s = &r->session;
        int q;

        s->slot_cpu = sd_bus_slot_unref(s->slot_cpu);
        if (!r->job || !job_is_running(r->job))
                return -ESRCH;
        q = manager_get_service_property(r->bus, &s->slot_cpu, job_unit_path(r->job), "CPUUsageNSec",
                                         on_cpu_reply, r);
        if (q < 0)
                log_debug_errno(q, "Failed to read the CPU time of session %s: %m", r->p.job_id);
        return q;
}

static int on_cpu_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Run *r = userdata;
        RunSession *s = &r->session;
        int q;

        if (s->state != SESSION_CELL)
                return 0;
        if (!s->slot_cpu)
                (void) cpu_read(r);
        q = sd_event_source_set_time_relative(source, CELL_CPU_POLL_USEC);
        if (q >= 0)
                q = sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        if (q < 0)
                log_warning_errno(q, "Failed to re-arm the CPU poll of session %s: %m", r->p.job_id);
        return 0;
}

/* --- cells ------------------------------------------------------------------------------------- */

/* A cell's clocks start when its CH_CELL is queued, or, for a cell sent while the unit was still
 * being set up (the first, pipelined after REQUEST_END), when the unit is active: the sandbox's
 * setup is not the cell's time. */
static void cell_clocks_start(Run *r) {
        RunSession *s = &r->session;

        s->cell_start_usec = now_usec(r);
        if (r->p.limits[LIMIT_WALL_TIME] > 0)
                (void) arm(r, &s->wall_timer, r->p.limits[LIMIT_WALL_TIME], on_wall);
        /* The base: the last value read (the previous cell's end: the interpreter is idle in
         * between), or a read now for the first cell. */
        if (s->cpu_base_nsec == UINT64_MAX)
                (void) cpu_read(r);
        if (r->p.limits[LIMIT_CPU_TIME] > 0)
                (void) arm(r, &s->cpu_timer, CELL_CPU_POLL_USEC, on_cpu_timer);
}

void run_session_active(Run *r) {
        RunSession *s = &r->session;

        if (s->active)
                return;
        s->active = true;
        if (s->state == SESSION_CELL)
                cell_clocks_start(r);
        else if (s->state == SESSION_IDLE && !s->idle_timer)
                arm_idle(r); /* from the moment a cell could run */
}

static int cell_check_can_start(const Run *r) {
        if (!r->p.session)
                return -EINVAL;
        if (r->state == RUN_STARTING)
                return -EAGAIN; /* before ACCEPTED: pyward-protocol(7) says a client waits for it */
        if (r->state != RUN_RUNNING || !r->channel || r->session.state == SESSION_ENDING)
                return -ESHUTDOWN;
        if (r->session.state != SESSION_IDLE)
                return -EBUSY;
        return 0;
}

static void session_send_end(Run *r) {
        RunSession *s = &r->session;
        int q;

        s->state = SESSION_ENDING;
        cell_timers_off(s);
        timer_off(&s->idle_timer);
        if (r->state != RUN_RUNNING)
                return;
        q = run_channel_send_end(r->channel);
        if (q < 0)
                log_warning_errno(q, "Failed to send CH_END to session %s: %m", r->p.job_id);
}

/* A cell's result is out: the next one may come, unless the session is at its end. */
static void cell_after_result(Run *r) {
        RunSession *s = &r->session;

        s->state = SESSION_IDLE;
        if (r->p.limits[LIMIT_SESSION_CELLS] > 0 && s->cells >= r->p.limits[LIMIT_SESSION_CELLS]) {
                session_set_end(r, JOB_OK, "the session reached its limit of %" PRIu64 " cells", s->cells);
                session_send_end(r);
        } else if (s->end_asked)
                session_send_end(r);
        else if (r->state == RUN_RUNNING && s->active)
                arm_idle(r);
}

int run_cell(Run *r, const RequestFile *files, size_t n_files, uint32_t flags, const char *code,
             size_t code_size) {
        RunSession *s = &r->session;
        uint64_t cell = s->cells + 1;
        int q;

        q = cell_check_can_start(r);
        if (q < 0)
                return q;
        q = run_channel_send_cell(r->channel, files, n_files, flags & PW_CELL_COLLECT ? CH_CELL_COLLECT : 0,
                                  cell, code, code_size);
        if (q < 0)
                return q;
        s->state = SESSION_CELL;
        s->cell = cell;
        s->collect = flags & PW_CELL_COLLECT;
        s->interrupted = false;
        s->synced = s->syncing = false;
        free(s->cell_message);
        s->cell_message = NULL;
        timer_off(&s->idle_timer);
        s->cpu_base_nsec = s->cpu_last_nsec;
        s->cell_start_usec = now_usec(r); /* again once the unit is active, if it is not yet */
        if (s->active)
                cell_clocks_start(r);
        return 0;
}

int run_cell_refuse(Run *r, const char *error_type, const char *error_message) {
        RunSession *s = &r->session;
        CellResult c = CELL_RESULT_INIT;
        int q;

        q = cell_check_can_start(r);
        if (q < 0)
                return q;
        s->cell = ++s->cells;
        c.cell = s->cell;
        c.status = CELL_ERROR;
        c.error_type = (char *) error_type;
        c.error_message = (char *) error_message;
        c.wall_ms = c.cpu_ms = 0;
        timer_off(&s->idle_timer);
        if (r->ops->cell_result)
                r->ops->cell_result(r->userdata, &c);
        cell_after_result(r);
        return 0;
}

void run_interrupt(Run *r) {
        if (r->p.session && r->session.state == SESSION_CELL)
                cell_interrupt(r, "interrupted by the client");
}

void run_end_session(Run *r) {
        RunSession *s = &r->session;

        if (!r->p.session || s->state == SESSION_ENDING)
                return;
        if (s->state != SESSION_IDLE) {
                s->end_asked = true; /* after the running cell's result */
                return;
        }
        session_send_end(r);
}

bool run_cell_running(const Run *r) {
        return r->p.session && r->session.state != SESSION_IDLE && r->session.state != SESSION_ENDING;
}

/* --- the end of a cell ------------------------------------------------------------------------- */

bool run_session_sync(Run *r) {
        RunSession *s = &r->session;

        if (s->synced || !r->relay)
                return true;
        if (!s->syncing) {
                s->syncing = true;
                s->sync_call = true;
                relay_sync(r->relay); /* RELAY_SYNCED may come from within */
                s->sync_call = false;
        }
        return s->synced;
}

void run_session_synced(Run *r) {
        RunSession *s = &r->session;

        s->syncing = false;
        s->synced = true;
        if (!s->sync_call && r->channel)
                run_channel_resume(r->channel);
}

void run_session_cell_result(Run *r, const void *data, size_t size) {
        RunSession *s = &r->session;
        const char *why = NULL;
        int q;

        if (s->state != SESSION_CELL && s->state != SESSION_INTERRUPTING) {
                /* The reader admits one per CH_CELL; this cannot be. */
                log_warning("Session %s: a cell result while no cell runs; ignored.", r->p.job_id);
                return;
        }
        cell_result_done(&s->pending);
        q = channel_cell_result_parse(data, size, &s->pending, &why);
        if (q < 0) {
                /* The runner (or what the code made of it) broke its word: the cell failed. */
                log_warning("Session %s: the runner's result of cell %" PRIu64 " is invalid (%s).",
                            r->p.job_id, s->cell, why ?: strerror(-q));
                cell_result_done(&s->pending);
                s->pending.status = CELL_ERROR;
                s->pending.error_type = strdup("pyward.RunnerError");
                s->pending.error_message = strdup(why ?: "the runner's cell result is invalid");
        }
        s->pending.cell = s->cell;
        s->pending.wall_ms = (now_usec(r) - s->cell_start_usec) / 1000U;
        s->pending.cpu_ms = RESULT_UNSET;
        cell_timers_off(s);
        s->state = SESSION_REPORTING;
        /* The CPU the cell used, to its end. */
        s->cpu_final = cpu_read(r) >= 0;
        if (!s->cpu_final)
                cell_report(r);
}

/* The runner's result, completed by what the helper knows itself, to the client. */
static void cell_report(Run *r) {
        RunSession *s = &r->session;
        CellResult *c = &s->pending;

        if (s->state != SESSION_REPORTING)
                return;
        s->slot_cpu = sd_bus_slot_unref(s->slot_cpu);
        s->cpu_final = false;
        if (s->cpu_base_nsec != UINT64_MAX && s->cpu_last_nsec != UINT64_MAX &&
            s->cpu_last_nsec >= s->cpu_base_nsec)
                c->cpu_ms = (s->cpu_last_nsec - s->cpu_base_nsec) / 1000000U;
        /* Interrupted: the helper interrupted it and it ended in an exception (KeyboardInterrupt,
         * or what the code made of it); a cell that caught it and ended well stays ok. */
        if (s->interrupted && c->status == CELL_ERROR)
                c->status = CELL_INTERRUPTED;
        free(c->message);
        c->message = TAKE_PTR(s->cell_message);
        if (s->collect && run_channel_cell_files(r->channel, c) < 0)
                log_oom();
        s->cells++;
        if (r->ops->cell_result)
                r->ops->cell_result(r->userdata, c);
        cell_result_done(c); /* CELL_RESULT_INIT again */
        cell_after_result(r);
}

void run_session_broken(Run *r, const char *why) {
        log_warning("Session %s: the runner broke its channel (%s); stopping the session.", r->p.job_id, why);
        session_set_end(r, JOB_KILLED,
                        "the session's runner broke its channel (%s): the session's state is lost", why);
        cell_timers_off(&r->session);
        timer_off(&r->session.idle_timer);
        run_stop(r, JOB_STOP_PROTOCOL);
}

void run_session_finish(Run *r, JobResult *result) {
        RunSession *s = &r->session;

        /* A result on its way (its last CPU read) still precedes the RESULT. */
        if (s->state == SESSION_REPORTING)
                cell_report(r);
        s->state = SESSION_ENDING;
        cell_timers_off(s);
        timer_off(&s->idle_timer);
        s->slot_cpu = sd_bus_slot_unref(s->slot_cpu);
        result->cells_reported = true;
        result->cells = s->cells;
        if (s->end_message && result->status == s->end_status) {
                free(result->message);
                result->message = TAKE_PTR(s->end_message);
        }
}
