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

#include "channel.h"
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
        /* A session (CHANNEL_MODE_SESSION): before the first message of a cell is read, whether
         * the cell's stdout and stderr are emitted so far; false: the channel waits for
         * run_channel_resume(). So a cell's output precedes its files and its result. */
        bool (*sync)(void *userdata);
        /* A session's CH_CELL_RESULT payload (untrusted, unparsed, at most CH_CELL_RESULT_MAX). */
        void (*cell_result)(void *userdata, const void *data, size_t size);
        /* A session's channel broke (why: static): no cell can report any more. May be NULL. */
        void (*broken)(void *userdata, const char *why);
} RunChannelOps;

typedef struct RunChannel RunChannel;

/* The socketpair: *ret_job_fd gets the runner's end (blocking, for the unit's stdin), which the
 * caller hands to the manager and then closes. mode: a job, a discovery run (CH_INFO, no files)
 * or a session (GO with CH_GO_SESSION; per cell files and CH_CELL_RESULT). */
int run_channel_new(sd_event *e, const uint64_t *limits, ChannelMode mode, const RunChannelOps *ops,
                    void *userdata, int *ret_job_fd, RunChannel **ret);
/* A warm runner's channel (warm.h): fd is the connection to its listening socket, taken. A job
 * only (no session, no discovery). */
int run_channel_new_connected(sd_event *e, const uint64_t *limits, const RunChannelOps *ops, void *userdata,
                              int fd, RunChannel **ret);
/* A warm runner's first messages: CH_STDIO with each pipe's write end (dup'ed), CH_LIMITS. Before
 * run_channel_send_request(). */
int run_channel_send_warm(RunChannel *c, int stdout_fd, int stderr_fd, uint64_t cpu_seconds,
                          uint64_t wall_usec, uint64_t nproc);
RunChannel *run_channel_free(RunChannel *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RunChannel *, run_channel_free);

/* Queues the request for the runner (channel_request_append(): code, files, GO with stdin_fd, which
 * is dup'ed) and starts writing it as the socket takes it. */
int run_channel_send_request(RunChannel *c, const Request *req, int stdin_fd);
/* A limit stopped the job: CH_STOP, the runner's signal to end the code and return the files. */
void run_channel_stop(RunChannel *c);
/* The client can take output again (or, in a session, the cell's output is synced). */
void run_channel_resume(RunChannel *c);
/* A session's messages: a cell (its files, then CH_CELL; the per-cell file counts start again),
 * CH_INTERRUPT, CH_END. 0, or a negative errno (-ENOMEM, -EMSGSIZE, -EINVAL from the encoder). */
int run_channel_send_cell(RunChannel *c, const RequestFile *files, size_t n_files, uint32_t ch_flags,
                          uint64_t cell, const char *code, size_t code_size);
int run_channel_send_interrupt(RunChannel *c);
int run_channel_send_end(RunChannel *c);
/* The running cell's files so far (CH_CELL_COLLECT): counts and, if the channel broke, a note
 * (allocated). Sets files_reported, files_* of *r. */
int run_channel_cell_files(const RunChannel *c, CellResult *r);
/* The job is gone: read what is left (never blocks), then report drained(). */
void run_channel_finish(RunChannel *c);

/* What the channel gave, for the result. grace_ran_out: the job was killed at the end of its stop
 * grace. status: how the job ended, for the note. Sets files_reported, files_*, files_note. */
int run_channel_result(const RunChannel *c, JobStatus status, bool grace_ran_out, JobResult *r);
