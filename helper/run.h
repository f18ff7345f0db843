/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The run of one admitted job: its user, the manager's version, the unit (job.h) and its stdio
 * (relay.h), from the first call to the result; it reports its steps and its end by callbacks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "job-status.h"
#include "journal.h"
#include "policy.h"
#include "protocol.h"

typedef struct RunOps {
        /* The job's output as STDOUT/STDERR frames, only while can_emit() is true. */
        int (*emit)(void *userdata, uint16_t type, const void *data, size_t size);
        bool (*can_emit)(void *userdata);
        /* The stdin queued so far is written: run_takes_stdin() is true again. */
        void (*stdin_idle)(void *userdata);
        /* The manager accepted the unit. */
        void (*started)(void *userdata, const char *unit);
        /* The job is over; what it wrote is being drained, then finished() follows. */
        void (*job_done)(void *userdata);
        /* The end, exactly one of the two: the job could not be started (status error, with the
         * reason), or its result, after all of its output was emitted. */
        void (*failed)(void *userdata, const char *message);
        void (*finished)(void *userdata, const JobResult *result);
        /* Output files (request->collect): a FILE_OUT, FILE_OUT_DATA or FILE_SKIPPED frame, built
         * from the channel (channel.h) and within the admitted bounds; emitted as STDOUT is,
         * only while can_emit() is true. The counts go into the result (files_*). Via emit(). */
        /* A discovery run (RunParams.discover): the runner's CH_INFO payload, unparsed and
         * untrusted (at most CH_INFO_MAX bytes), before finished(). May be NULL otherwise. */
        void (*info)(void *userdata, const void *data, size_t size);
        /* A session's cell ended (RunParams.session): its result, after every STDOUT, STDERR and
         * FILE_OUT frame of the cell was emitted. May be NULL otherwise. */
        void (*cell_result)(void *userdata, const CellResult *result);
} RunOps;

/* What the run is of; everything must outlive the Run. */
typedef struct RunParams {
        const char *job_id;
        const Config *config; /* for a warm runner's generation (warm.h); NULL: the cold path */
        const Peer *peer;
        const Profile *profile;
        const uint64_t *limits; /* admitted, _LIMIT_MAX of them */
        const Request *request;
        JobTimes *times; /* bus and start are filled in */
        bool discover;   /* run no code: the runner reports its interpreter (RunOps.info) */
        bool session;    /* a session: no code, cells follow (run_cell()); the unit's wall and
                          * CPU limits are the session's, the cells' are the helper's timers */
} RunParams;

typedef struct Run Run;

int run_new(sd_event *e, sd_bus *bus, const RunParams *p, const RunOps *ops, void *userdata, Run **ret);
Run *run_free(Run *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Run *, run_free);

/* Takes a job user, asks the manager's version, starts the unit: asynchronously; its end comes by
 * failed() or finished(), possibly from within this call. */
void run_start(Run *r);
/* Stops the job (the first reason is reported); before the unit exists, once it does. */
void run_stop(Run *r, JobStopReason reason);
/* Starting or running: the job may still need stopping. */
bool run_is_active(const Run *r);

/* The client's stdin for the job; false while the last of it is not in the pipe yet. */
bool run_takes_stdin(const Run *r);
int run_write_stdin(Run *r, const void *data, size_t size);
void run_close_stdin(Run *r);
/* The client can take output again. */
void run_resume(Run *r);
/* The manager's execve() and exit times of the job's main process (0: unknown). */
void run_exec_timestamps(const Run *r, uint64_t *ret_exec, uint64_t *ret_exit);

/* A session's cell: its input files (complete; copied into the channel), PW_CELL_* flags, its
 * code. Only while no cell runs: -EBUSY otherwise, -ESHUTDOWN once the session ends. Its result
 * comes by RunOps.cell_result(). */
int run_cell(Run *r, const RequestFile *files, size_t n_files, uint32_t flags, const char *code,
             size_t code_size);
/* INTERRUPT: the running cell gets SIGINT (KeyboardInterrupt); nothing if none runs. */
void run_interrupt(Run *r);
/* SESSION_END: the runner exits 0 once no cell runs (at once, or after the running cell). */
void run_end_session(Run *r);
/* A cell runs (or its result is on its way). */
bool run_cell_running(const Run *r);
/* A cell the helper answers itself, running nothing (its input files broke the per-cell
 * bounds): a CELL_RESULT status=error with error_type and error_message, counted as a cell. The
 * same preconditions and errors as run_cell(). */
int run_cell_refuse(Run *r, const char *error_type, const char *error_message);
