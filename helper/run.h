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
} RunOps;

/* What the run is of; everything must outlive the Run. */
typedef struct RunParams {
        const char *job_id;
        const Peer *peer;
        const Profile *profile;
        const uint64_t *limits; /* admitted, _LIMIT_MAX of them */
        const Request *request;
        JobTimes *times; /* bus and start are filled in */
        bool discover;   /* run no code: the runner reports its interpreter (RunOps.info) */
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
