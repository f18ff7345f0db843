/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job's stdio: three pipes whose far ends the manager hands to the job. Client stdin is written
 * to the job as the pipe takes it; stdout/stderr are read in chunks under a per-stream byte cap. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef enum RelayEvent {
        RELAY_STDIN_IDLE,   /* the queued stdin data is written: the connection may read more */
        RELAY_OUTPUT_LIMIT, /* a stream went over its cap: exactly the cap was emitted */
        RELAY_DRAINED,      /* after relay_finish(): everything the job wrote has been emitted */
        RELAY_SYNCED,       /* after relay_sync(): what was in the pipes then has been emitted */
} RelayEvent;

typedef struct RelayOps {
        /* Emits one STDOUT/STDERR frame; only called while can_emit() is true. */
        int (*emit)(void *userdata, uint16_t type, const void *data, size_t size);
        bool (*can_emit)(void *userdata);
        void (*event)(void *userdata, RelayEvent ev);
} RelayOps;

typedef struct Relay Relay;

/* Creates the three pipes; *ret_job_fds gets the job's ends (stdin read, stdout write, stderr
 * write), which the caller hands to the manager and then closes. */
int relay_new(sd_event *e, uint64_t output_cap, const RelayOps *ops, void *userdata,
              int ret_job_fds[static 3], Relay **ret);
Relay *relay_free(Relay *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Relay *, relay_free);

/* Queues bytes for the job's stdin (copied). While something is queued relay_stdin_busy() is true;
 * RELAY_STDIN_IDLE reports when it is written. If the job closed its stdin, data is dropped. */
int relay_write_stdin(Relay *r, const void *data, size_t size);
bool relay_stdin_busy(const Relay *r);
/* Closes the job's stdin once the queue is written. */
void relay_close_stdin(Relay *r);
/* Called by the connection when it can take output again. */
void relay_resume(Relay *r);
/* The job is gone: read what is left in the pipes (never blocks), then report RELAY_DRAINED. */
void relay_finish(Relay *r);
/* A session's cell ended: read stdout and stderr until each is empty (EAGAIN) or closed,
 * emitting as always (backpressure, the output cap), then report RELAY_SYNCED, possibly from
 * within this call. So everything the cell wrote precedes its CELL_RESULT. */
void relay_sync(Relay *r);
