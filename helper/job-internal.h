/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Job object shared by job.c (state and signals), job-collect.c (the result) and job-timers.c
 * (CPU polling, the wall-clock timer, the main process' pidfd). Not for other modules. */
#pragma once

#include "job.h"
#include "manager.h"

/* What the Service interface says of the finished unit: Result and ExecMain* from its
 * PropertiesChanged or a GetAll, CPUUsageNSec and MemoryPeak (they emit no change) from a read. */
typedef struct ServiceProps {
        char *result;
        int32_t code, status;
        uint64_t cpu, peak, start_ts, exit_ts;
} ServiceProps;

/* A job's life. Only job_set_state() moves it, always forward. */
typedef enum JobState {
        JOB_STATE_NEW,        /* job_start() not called yet */
        JOB_STATE_STARTING,   /* StartTransientUnit() sent, no reply yet */
        JOB_STATE_RUNNING,    /* the manager has the unit: watching it until it is down */
        JOB_STATE_COLLECTING, /* the unit is down: reading its result, then Unref */
        JOB_STATE_DONE,       /* the result is complete and JOB_EVENT_DONE sent */
} JobState;

struct Job {
        sd_bus *bus;
        char *id;
        char *unit;
        char *unit_path;
        unsigned manager_version;
        JobState state;

        sd_bus_slot *slot_properties;
        sd_bus_slot *slot_job_new;
        sd_bus_slot *slot_job_removed;
        sd_bus_slot *slot_call;    /* StartTransientUnit or a warm runner's CPU time; the final GetAll
                                    * or Get of CPUUsageNSec */
        sd_bus_slot *slot_peak;    /* the final Get of MemoryPeak */
        sd_bus_slot *slot_attach;  /* a warm runner's ActiveState, asked with its CPU time */
        sd_bus_slot *slot_refresh; /* GetAll of the Unit interface */
        sd_bus_slot *slot_cpu;
        sd_bus_slot *slot_stop;
        sd_bus_slot *slot_subscribe;
        sd_bus_slot *slot_pid; /* Get of MainPID, twice: see on_main_pid() */
        sd_event_source *cpu_timer;
        sd_event_source *recheck_timer; /* periodic refresh while the job runs */
        sd_event_source *wall_timer;    /* the wall-clock limit, from the unit's activation */
        ManagerRetry retry;             /* a call to repeat after a transient bus error */
        sd_event_source *grace_timer;   /* the stop grace is running: the kill follows when it fires */
        uint64_t grace_usec;            /* 0: a limit's stop kills at once */
        bool grace_ran_out;
        bool kill_sent;           /* KillUnit() was called: no grace any more */
        uint64_t wall_limit_usec; /* 0: none */
        uint64_t cpu_limit_nsec;  /* UINT64_MAX: none */
        unsigned exit_requeries;
        uint64_t unstarted_since; /* CLOCK_MONOTONIC usec since when the unit looks down without having run */
        bool retry_refresh, retry_collect, retry_stop;

        bool start_job_done;
        char *start_job_result;
        char *start_job_path; /* from StartTransientUnit()'s reply: which JobRemoved is the start job's */
        unsigned n_jobs_seen;
        bool stopped_externally;
        JobStopReason stop_reason;
        bool refresh_again;
        bool load_refused; /* LoadState= was seen "bad-setting": the manager re-read the unit and refused it */
        bool start_refused;         /* see job_start_refused() */
        bool start_rejected_by_bus; /* see job_start_rejected_by_bus() */
        uint64_t exec_start_usec, exec_exit_usec;
        uint64_t active_enter_usec; /* when the unit became active: Type=exec, after the execve(); for
                                     * a warm runner's unit (job_attach()), the hand-off */
        uint64_t handoff_usec;      /* job_attach(): CLOCK_MONOTONIC when the job was handed over */
        uint64_t cpu_base_nsec;     /* job_attach(): the runner's CPUUsageNSec before its job, or 0 */
        int pidfd;                  /* the main process, once it is known for certain; else -EBADF */
        uint32_t main_pid;          /* what pidfd was opened on */
        sd_event_source *pidfd_source;
        uint64_t main_exit_usec; /* CLOCK_MONOTONIC when pidfd said the process had died; 0: not seen */
        ServiceProps signalled;  /* the Service interface's last PropertiesChanged */
        bool signal_unpaired;    /* ... and no Unit interface's has come since (its pair) */
        bool collect_signalled;  /* the pair said the unit is down: the result is read from it */

        JobResult result;
        job_event_func_t event_cb;
        void *userdata;
};

/* job.c */
void job_set_state(Job *j, JobState state);
int job_send_stop(Job *j);
void job_fail(Job *j, int error, const char *fmt, ...) _printf_(3, 4);
int job_refresh(Job *j);
sd_event *job_event(const Job *j);
/* The callback, and the matches on the unit and its jobs. */
int job_watch(Job *j, job_event_func_t cb, void *userdata);

/* job-collect.c: the result once the unit is down (the Service interface's signal and a Get of the
 * CPU time and memory peak, or a GetAll of it), then Unref. */
void job_collect_call(Job *j);
void job_collect_note_signal(Job *j, sd_bus_message *m);
void job_collect_done(Job *j);

/* job-timers.c */
int job_arm_cpu_poll(Job *j, uint64_t cpu_limit_usec);
int job_arm_recheck(Job *j);
void job_arm_wall_timer(Job *j);
void job_ask_main_pid(Job *j);
void job_timers_stop(Job *j);
int job_arm_grace_timer(Job *j);
