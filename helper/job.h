/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One job's transient unit over the manager (manager.h): start it, watch it until it is done, stop
 * it on request and collect how it ended (the status mapping is job-status.h). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "job-status.h"
#include "protocol.h"
#include "unit-props.h"

/* The name of a job's unit, from its 32-hex-digit id. */
#define JOB_UNIT_FMT "pyward-job-%s.service"

typedef struct Job Job;
typedef enum JobEvent {
        JOB_EVENT_STARTED,    /* the manager accepted the unit */
        JOB_EVENT_DONE,       /* the result is complete (also when starting failed); sent exactly once */
        JOB_EVENT_WINDING_UP, /* a limit stopped the job and it has its stop grace (job_set_stop_grace())
                               * to end itself before it is killed; at most once */
        JOB_EVENT_ACTIVE,     /* the unit became active (Type=exec: the job's execve() is done, its
                               * sandbox built): its clocks run from now; at most once */
} JobEvent;
typedef void (*job_event_func_t)(Job *j, JobEvent ev, void *userdata);

int job_new(sd_bus *bus, const char *id, unsigned manager_version, Job **ret);
/* The same for a unit of another name (NULL: JOB_UNIT_FMT of id): a warm runner's. */
int job_new_unit(sd_bus *bus, const char *id, const char *unit, unsigned manager_version, Job **ret);
Job *job_free(Job *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(Job *, job_free);

/* Installs the signal matches, then calls StartTransientUnit(). The Job must stay alive until
 * JOB_EVENT_DONE. cpu_limit_usec: whole-job CPU time, polled (0: none). */
int job_start(Job *j, const JobSpec *spec, uint64_t cpu_limit_usec, job_event_func_t cb, void *userdata);
/* Instead of job_start(): the unit is a warm runner's, already active; the job handed to it is
 * watched from now on like a started one (JOB_EVENT_STARTED once the runner's CPU time so far is
 * read: the job's is counted from it; its wall clock runs from then, not from the unit's start). */
int job_attach(Job *j, uint64_t wall_limit_usec, uint64_t cpu_limit_usec, job_event_func_t cb,
               void *userdata);
/* Asks the manager to stop the unit; the first reason is the one reported. With a stop grace, a
 * limit's stop (timeout, cpu-limit, output-limit) first reports JOB_EVENT_WINDING_UP and kills the
 * unit only when the grace is over (or at once on a later CANCEL, disconnect or protocol error). */
int job_stop(Job *j, JobStopReason reason);
/* Before job_start(): how long a job stopped by one of its limits may wind up (0: none, the
 * default: killed at once). */
void job_set_stop_grace(Job *j, uint64_t usec);
/* The manager's version, once known, for a Job made before it was (a warm runner's, attached
 * while the version is asked for: it matters only for the result). */
void job_set_manager_version(Job *j, unsigned manager_version);
/* After job_start() of a warm runner: no wall-clock timer; the Job may be freed once the unit is
 * active, which leaves the unit running. */
void job_keep_running(Job *j);
/* The grace ran out before the unit was down: it was killed. */
bool job_grace_ran_out(const Job *j);
bool job_is_done(const Job *j);
const char *job_unit(const Job *j);
/* The unit's D-Bus object path, for a caller's own reads of its properties (a session's per-cell
 * CPU, run-session.c). */
const char *job_unit_path(const Job *j);
/* Running: the manager has the unit and it is not down yet. */
bool job_is_running(const Job *j);
/* When the job's main process was exec()ed and when it exited (CLOCK_MONOTONIC usec, from the
 * manager; 0 if unknown), valid once done() was called. For the helper's timing fields. */
void job_exec_timestamps(const Job *j, uint64_t *ret_exec, uint64_t *ret_exit);
/* Once done: the manager refused the unit before its process existed, having re-read it from
 * /run/systemd/transient (LoadState=bad-setting: systemd 252 cannot read back the ExecStartEx= it
 * wrote there, so a daemon-reload while a start job waits fails that start), or a new unit of
 * this name was refused because the refused one was not collected yet, or the bus did not
 * deliver the start (job_start_rejected_by_bus()). Nothing of the job ran: the caller may start it
 * again under a new Job (run.c). */
bool job_start_refused(const Job *j);
/* Of those, the start the bus did not deliver: the manager's queue was full (a storm of starts). */
bool job_start_rejected_by_bus(const Job *j);
/* The result, valid once done() was called; the caller may take strings out of it. */
JobResult *job_result(Job *j);
