/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Run object shared by run.c (a job's life: user, manager, unit, stdio, channel, result) and
 * run-session.c (a session's cells over that same job: their timers, CPU reads and results). */
#pragma once

#include "job-user.h"
#include "job.h"
#include "relay.h"
#include "run-channel.h"
#include "run.h"

typedef enum RunState {
        RUN_STARTING,
        RUN_RUNNING,
        RUN_DRAINING,
        RUN_OVER,
} RunState;

/* A session between cells and within one: IDLE -> (run_cell) CELL -> (a limit or INTERRUPT)
 * INTERRUPTING -> (the runner's CH_CELL_RESULT) REPORTING (output synced, the last CPU read) ->
 * IDLE; ENDING once CH_END is sent (SESSION_END, the cells limit): nothing more runs. */
typedef enum SessionState {
        SESSION_IDLE,
        SESSION_CELL,
        SESSION_INTERRUPTING,
        SESSION_REPORTING,
        SESSION_ENDING,
} SessionState;

typedef struct RunSession {
        SessionState state;
        uint64_t cells;     /* CELL_RESULTs reported */
        uint64_t cell;      /* the number of the running (or last) cell */
        bool collect;       /* the running cell asked for its files */
        bool interrupted;   /* the helper interrupted the running cell */
        char *cell_message; /* why it was interrupted, for its CELL_RESULT */
        bool end_asked;     /* SESSION_END while a cell ran: CH_END after its result */
        bool active;        /* the unit is active: before, a cell's clocks wait for it */
        bool synced;        /* the running cell's output is emitted up to its channel messages */
        bool syncing;       /* relay_sync() is under way for the channel */
        bool sync_call;     /* inside run_session_sync(): RELAY_SYNCED resumes nothing then */
        uint64_t cell_start_usec;

        /* The unit's CPUUsageNSec: the base at the cell's start (UINT64_MAX until read), the
         * latest value read, and the read in flight. */
        uint64_t cpu_base_nsec, cpu_last_nsec;
        sd_bus_slot *slot_cpu;
        bool cpu_final; /* the read in flight is the one at the result */

        sd_event_source *wall_timer, *cpu_timer, *grace_timer, *idle_timer;
        CellResult pending; /* the runner's CH_CELL_RESULT, completed before it is reported */

        /* The session's end as the helper caused it: the message its RESULT gets if it ends
         * with end_status. */
        JobStatus end_status;
        char *end_message;
} RunSession;

struct Run {
        sd_event *event;
        sd_bus *bus;
        RunParams p;
        const RunOps *ops;
        void *userdata;
        RunState state;
        JobStopReason pending_stop; /* asked for before the Job existed */
        bool stop_asked;            /* run_stop() was called: the job is not started again */
        bool told_started;          /* RunOps.started() called: once per job, whatever its units */
        /* What the unit and the job's own timers get: the admitted limits, or for a session
         * those with LIMIT_WALL_TIME and LIMIT_CPU_TIME replaced by the session's. */
        uint64_t unit_limits[_LIMIT_MAX];

        JobUserPick *pick;
        int user_fd; /* the job user held (policy.h) */
        char user[JOB_USER_NAME_MAX];
        /* Subscribe and Version, asked for together (run_ask_manager()): the job starts once both
         * replies are in. */
        sd_bus_slot *slot_subscribe, *slot_version;
        bool subscribed, version_known;
        unsigned manager_version;

        Relay *relay;
        RunChannel *channel;
        bool relay_drained, channel_drained;
        Job *job;
        /* The unit's fds (the runner's end of the channel, stdout's and stderr's write ends), kept
         * until the unit is active in case its start must be made again (run_restart()). */
        int unit_fds[3];
        unsigned start_attempts;
        uint64_t first_refusal_usec;    /* CLOCK_MONOTONIC: the first job_start_refused() */
        sd_event_source *restart_timer; /* armed: r->job is a refused start's, done */
        int start_token_fd;             /* held from StartTransientUnit() to its reply (policy.h) */
        sd_event_source *token_timer;   /* armed: the first start waits for a token */
        uint64_t token_wait_since;      /* CLOCK_MONOTONIC: since when the start waits; 0: not */

        RunSession session;

        /* A warm runner claimed (run-warm.c): its channel until the Job exists, its id. */
        bool warm;
        int warm_fd;
        int claim_fd;             /* warm.h: the claim's lock, for the length of the job */
        sd_bus_slot *slot_limits; /* SetUnitProperties() of the job's lower limits */
        bool warm_handed_off;     /* its stdio, limits and request are on their way to the runner */
        char warm_rid[33];
};

/* run.c, for run-warm.c */
extern const RelayOps run_relay_ops;
extern const RunChannelOps run_channel_ops;
void run_on_job_event(Job *j, JobEvent ev, void *userdata);
/* The job on the cold path from here: a job user, then the manager, then its own unit. */
void run_start_cold(Run *r);
/* The unit's fds closed (ours: the unit has its own copies once it runs). */
void run_close_unit_fds(Run *r);
/* The Job let go and failed() with why it could not start. */
void run_start_failed(Run *r, int q);

/* run-start.c: the unit's first start once a start token is held; run_restart(), on
 * JOB_EVENT_DONE: the manager refused the unit before anything of the job ran (job_start_refused())
 * and the client asked for no stop: the same start is made again; true if so. */
int run_start_unit_when_free(Run *r);
bool run_restart(Run *r);

/* run-warm.c: a job on a warm runner (warm.h). run_warm_claim(): the request fits one and one was
 * claimed (r->warm, r->warm_fd). run_warm_start_job(): right behind Subscribe and Version (the
 * manager answers them first), instead of the unit's start: the relay, the channel, the Job
 * attached to the runner's unit. On
 * JOB_EVENT_STARTED, run_warm_handoff() sends the runner its stdio, limits and the request. */
bool run_warm_claim(Run *r);
int run_warm_start_job(Run *r);
int run_warm_handoff(Run *r);
/* On JOB_EVENT_DONE: the runner's unit went down (or could not be watched, or given the job's
 * limits) before the hand-off, so nothing of the job reached it, and the client asked for no stop:
 * the job is started again on the cold path, as if no runner had been ready. True if so. */
bool run_warm_fall_back(Run *r);
/* run_free(): the claim let go. */
void run_warm_done(Run *r);

/* run-session.c */
void run_session_init(Run *r);
void run_session_done(Run *r);
/* The unit is active (its sandbox built, the runner exec()ed): a cell's clocks, or the idle
 * timer, run from now. */
void run_session_active(Run *r);
/* The channel's hooks (RunChannelOps.sync, .cell_result) and the relay's RELAY_SYNCED. */
bool run_session_sync(Run *r);
void run_session_synced(Run *r);
void run_session_cell_result(Run *r, const void *data, size_t size);
/* The runner broke the channel: no cell can report any more, the session is stopped. */
void run_session_broken(Run *r, const char *why);
/* The job is down: a result not reported yet goes out now; the RESULT gets cells= and the
 * session's own message. */
void run_session_finish(Run *r, JobResult *result);
