/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A job's clocks: the CPU-time poll, the periodic re-read under the signals, the helper's own
 * wall-clock timer, and the main process' pidfd that times its exit to the millisecond. */

#include <errno.h>
#include <inttypes.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>

#include "job-internal.h"
#include "log.h"

#define CPU_POLL_USEC (100 * 1000U)
/* The safety net under the signals: while the job runs, its unit's state is read this often anyway
 * (a signal can be lost: a manager that re-executes, a bus that drops messages under load). */
#define RECHECK_USEC (2 * 1000 * 1000U)

static int rearm(sd_event_source *s, uint64_t usec) {
        int r;

        r = sd_event_source_set_time_relative(s, usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return r;
}

static int on_cpu_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        uint64_t nsec;

        j->slot_cpu = sd_bus_slot_unref(j->slot_cpu);
        if (sd_bus_message_is_method_error(m, NULL))
                return 0;
        if (sd_bus_message_read(m, "v", "t", &nsec) < 0)
                return 0;
        if (nsec != UINT64_MAX)
                nsec = nsec > j->cpu_base_nsec ? nsec - j->cpu_base_nsec : 0;
        if (nsec != UINT64_MAX && nsec > j->cpu_limit_nsec) {
                log_info("Job unit %s used %" PRIu64 " ms of CPU, over its limit; stopping it.", j->unit,
                         nsec / 1000000U);
                (void) job_stop(j, JOB_STOP_CPU_LIMIT);
        }
        return 0;
}

static int on_cpu_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;
        int r;

        if (j->state >= JOB_STATE_COLLECTING)
                return 0;
        if (!j->slot_cpu && j->state == JOB_STATE_RUNNING) {
                r = manager_get_service_property(j->bus, &j->slot_cpu, j->unit_path, "CPUUsageNSec",
                                                 on_cpu_reply, j);
                if (r < 0)
                        log_debug_errno(r, "Failed to poll CPUUsageNSec: %m");
        }
        r = rearm(s, CPU_POLL_USEC);
        return r < 0 ? log_error_errno(r, "Failed to re-arm the CPU poll timer: %m") : 0;
}

int job_arm_cpu_poll(Job *j, uint64_t cpu_limit_usec) {
        int r;

        if (cpu_limit_usec == 0 || cpu_limit_usec >= UINT64_MAX / 1000U)
                return 0;
        j->cpu_limit_nsec = cpu_limit_usec * 1000U;
        r = sd_event_add_time_relative(job_event(j), &j->cpu_timer, CLOCK_MONOTONIC, CPU_POLL_USEC,
                                       10 * 1000U, on_cpu_timer, j);
        if (r < 0)
                return log_error_errno(r, "Failed to add the CPU poll timer: %m");
        return 0;
}

static int on_recheck_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;
        int r;

        if (j->state != JOB_STATE_RUNNING)
                return 0;
        (void) job_refresh(j);
        r = rearm(s, RECHECK_USEC);
        return r < 0 ? log_error_errno(r, "Failed to re-arm the recheck timer: %m") : 0;
}

int job_arm_recheck(Job *j) {
        int r;

        r = sd_event_add_time_relative(job_event(j), &j->recheck_timer, CLOCK_MONOTONIC, RECHECK_USEC,
                                       100 * 1000U, on_recheck_timer, j);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the recheck timer of %s: %m", j->unit);
        return r;
}

static int on_wall_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;

        j->wall_timer = sd_event_source_disable_unref(j->wall_timer);
        log_info("Job unit %s reached its wall-clock limit of %" PRIu64 " ms; stopping it.", j->unit,
                 j->wall_limit_usec / 1000U);
        (void) job_stop(j, JOB_STOP_TIMEOUT);
        return 0;
}

/* RuntimeMaxSec= ends the job too, but the manager's timer may fire up to 250 ms late (sd-event's
 * default accuracy): ours, from the same activation time on the same clock, is armed to within a
 * millisecond, and RuntimeMaxSec= (a second later) is the layer under it. */
void job_arm_wall_timer(Job *j) {
        int r;

        if (j->wall_limit_usec == 0 || j->wall_timer || j->state >= JOB_STATE_COLLECTING)
                return;
        r = sd_event_add_time(job_event(j), &j->wall_timer, CLOCK_MONOTONIC,
                              j->active_enter_usec + j->wall_limit_usec, 1000U, on_wall_timer, j);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the wall-clock timer of %s, RuntimeMaxSec= remains: %m",
                                  j->unit);
}

static int on_grace_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;

        j->grace_timer = sd_event_source_disable_unref(j->grace_timer);
        if (j->state >= JOB_STATE_COLLECTING)
                return 0;
        log_info("Job unit %s did not end within its %" PRIu64 " ms to wind up; killing it.", j->unit,
                 j->grace_usec / 1000U);
        j->grace_ran_out = true;
        (void) job_send_stop(j);
        return 0;
}

/* A limit stopped the job, which now has grace_usec to hand back what it made (run-channel.c):
 * then it is killed, whatever it is doing. */
int job_arm_grace_timer(Job *j) {
        int r;

        r = sd_event_add_time_relative(job_event(j), &j->grace_timer, CLOCK_MONOTONIC, j->grace_usec, 1000U,
                                       on_grace_timer, j);
        if (r < 0)
                return log_warning_errno(r, "Failed to arm the stop grace of %s, killing it at once: %m",
                                         j->unit);
        return 0;
}

void job_timers_stop(Job *j) {
        j->grace_timer = sd_event_source_disable_unref(j->grace_timer);
        j->cpu_timer = sd_event_source_disable_unref(j->cpu_timer);
        j->recheck_timer = sd_event_source_disable_unref(j->recheck_timer);
        j->wall_timer = sd_event_source_disable_unref(j->wall_timer);
}

/* The main process' end as the kernel reports it, to the millisecond: the manager records it only
 * once it has reaped the process, which can be 100 ms later on a busy machine (under emulation), and
 * the wall-clock limit is about the job, not about the manager's latency. */
static int on_main_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Job *j = userdata;

        /* The loop's wake-up time: when epoll said the pidfd was readable. */
        (void) sd_event_now(job_event(j), CLOCK_MONOTONIC, &j->main_exit_usec);
        j->pidfd_source = sd_event_source_disable_unref(j->pidfd_source);
        j->pidfd = safe_close(j->pidfd);
        return 0;
}

/* MainPID is asked twice around pidfd_open(): if the manager still names the same PID after the
 * pidfd exists, it had not reaped that process by then, so the PID cannot have been reused in
 * between and the pidfd is the job's main process. Anything else: no pidfd, and wall_ms comes from
 * the manager's record alone. */
static int on_main_pid(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        uint32_t pid = 0;
        int r;

        j->slot_pid = sd_bus_slot_unref(j->slot_pid);
        if (sd_bus_message_is_method_error(m, NULL) || sd_bus_message_read(m, "v", "u", &pid) < 0 ||
            pid == 0 || j->state >= JOB_STATE_COLLECTING || (j->pidfd >= 0 && pid != j->main_pid)) {
                j->pidfd = safe_close(j->pidfd);
                return 0;
        }
        if (j->pidfd < 0) {
                j->pidfd = pidfd_open((pid_t) pid, 0);
                if (j->pidfd < 0) {
                        log_debug_errno(errno, "pidfd_open(%" PRIu32 ") of %s failed: %m", pid, j->unit);
                        j->pidfd = -EBADF;
                        return 0;
                }
                j->main_pid = pid;
                job_ask_main_pid(j);
                return 0;
        }
        r = sd_event_add_io(job_event(j), &j->pidfd_source, j->pidfd, EPOLLIN, on_main_exit, j);
        if (r < 0) {
                log_debug_errno(r, "Cannot watch the main process of %s: %m", j->unit);
                j->pidfd = safe_close(j->pidfd);
        }
        return 0;
}

void job_ask_main_pid(Job *j) {
        if (manager_get_service_property(j->bus, &j->slot_pid, j->unit_path, "MainPID", on_main_pid, j) < 0)
                j->pidfd = safe_close(j->pidfd);
}
