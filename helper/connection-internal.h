/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Connection object shared by connection.c (transport: frames in and out, the deadline, the
 * exit) and connection-job.c (admission, the Run, the frames of a running job). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "cell-input.h"
#include "config.h"
#include "connection.h"
#include "frame-reader.h"
#include "journal.h"
#include "out-queue.h"
#include "policy.h"
#include "run.h"

/* REQUEST (frames under the deadline) -> RUNNING (job starting or started, stdio relayed) ->
 * FINISHING (job done, output drained) -> CLOSING (RESULT written) -> LINGER -> exit. */
typedef enum ConnState {
        CONN_REQUEST,
        CONN_RUNNING,
        CONN_FINISHING,
        CONN_CLOSING,
        CONN_LINGER, /* RESULT written and our side shut down; discarding input until the client closes */
} ConnState;

struct Connection {
        sd_event *event;
        int fd;
        sd_event_source *io;
        sd_event_source *deadline;
        ConnState state;
        char *config_root;

        Peer peer;
        Config *config;
        Request *request;
        const Profile *profile;
        uint64_t limits[_LIMIT_MAX];
        int slot_fd;

        FrameReader reader;
        OutQueue *out;
        bool client_gone;
        bool stdin_eof;
        bool input_broken;    /* an invalid frame after the request: nothing more is read */
        bool stop_asked;      /* CANCEL or a protocol error already stopped the job */
        char *protocol_error; /* the problem after REQUEST_END that stopped the job, for RESULT */

        sd_bus *bus;
        char job_id[33];
        Run *run;
        JobTimes times;
        CellInput cell_in; /* a session's next cell's input files */
};

/* connection.c */
void connection_exit(Connection *c, int code);
const char *profile_name(const Connection *c);
int out_append(Connection *c, uint16_t type, const void *data, size_t size);
void out_flush(Connection *c);
void connection_send_result(Connection *c, const JobResult *r);
void connection_finish(Connection *c, JobStatus status, const char *fmt, ...) _printf_(3, 4);
void connection_update_io(Connection *c);
void connection_client_gone(Connection *c, const char *why);

/* connection-job.c */
void connection_request_complete(Connection *c);
void connection_protocol_error(Connection *c, const char *fmt, ...) _printf_(2, 3);
void connection_handle_job_frame(Connection *c, const FrameHeader *h, const void *payload);
/* The Run's callbacks, shared with a session's (connection-session.c). */
extern const RunOps connection_run_ops;

/* connection-session.c */
void connection_handle_session_frame(Connection *c, const FrameHeader *h, const void *payload);
void connection_run_cell_result(void *userdata, const CellResult *result);
