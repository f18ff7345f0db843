/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's end of the runner channel (channel.h) for one Run: the request and CH_STOP out, the
 * runner's files (or its CH_INFO) in, turned into FILE_OUT, FILE_OUT_DATA and FILE_SKIPPED frames
 * for the client under the same backpressure as the job's output. A channel that ends inside a
 * file (the runner killed, or broken) still gives the client the announced size, zeros after what
 * came, then a FILE_SKIPPED of that path ("time" after a stop, else "unreadable"): the client
 * discards it. The runner's skips are listed up to PW_SKIPPED_LISTED_MAX - 1 frames, the last
 * place is kept for that one; the rest are counted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "protocol.h"

typedef struct RunChannelOps {
        /* One FILE_OUT, FILE_OUT_DATA or FILE_SKIPPED frame; only called while can_emit() is true. */
        int (*emit)(void *userdata, uint16_t type, const void *data, size_t size);
        bool (*can_emit)(void *userdata);
        /* A discovery run's CH_INFO payload (untrusted, unparsed, at most CH_INFO_MAX bytes). */
        void (*info)(void *userdata, const void *data, size_t size);
        /* After run_channel_finish(): everything the runner wrote has been read and emitted. */
        void (*drained)(void *userdata);
} RunChannelOps;

typedef struct RunChannel RunChannel;

/* The socketpair: *ret_job_fd gets the runner's end (blocking, for the unit's stdin), which the
 * caller hands to the manager and then closes. discover: a discovery run (CH_INFO, no files). */
int run_channel_new(sd_event *e, const uint64_t *limits, bool discover, const RunChannelOps *ops,
                    void *userdata, int *ret_job_fd, RunChannel **ret);
RunChannel *run_channel_free(RunChannel *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RunChannel *, run_channel_free);

/* Queues the request for the runner (channel_request_append(): code, files, GO with stdin_fd, which
 * is dup'ed) and starts writing it as the socket takes it. */
int run_channel_send_request(RunChannel *c, const Request *req, int stdin_fd);
/* A limit stopped the job: CH_STOP, the runner's signal to end the code and return the files. */
void run_channel_stop(RunChannel *c);
/* The client can take output again. */
void run_channel_resume(RunChannel *c);
/* The job is gone: read what is left (never blocks), then report drained(). */
void run_channel_finish(RunChannel *c);

/* What the channel gave, for the result. grace_ran_out: the job was killed at the end of its stop
 * grace. status: how the job ended, for the note. Sets files_reported, files_*, files_note. */
int run_channel_result(const RunChannel *c, JobStatus status, bool grace_ran_out, JobResult *r);
