/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One job's session with the helper: the poll() loop over the socket, our stdin and a signalfd,
 * relaying stdin as STDIN frames and STDOUT/STDERR frames to ours (or to --json's buffers),
 * until the RESULT frame. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "buffer.h"
#include "collect.h"
#include "profiles.h"
#include "protocol.h"

typedef struct Session {
        const Args *args;
        int sock;
        int sigfd;
        Buffer out;         /* bytes queued for the socket */
        Buffer in;          /* a partial frame from the socket */
        bool stdin_open;    /* still forwarding our stdin */
        bool send_closed;   /* the helper stopped reading; drop what we would send */
        bool stdout_broken; /* our stdout is gone: we cancelled the job, its output is dropped */
        bool cancel_sent;
        int n_signals;
        int abandon_signal; /* the second SIGINT/SIGTERM/SIGHUP: we quit without a result */
        Buffer json_stdout, json_stderr;
        bool have_accepted;
        bool have_result;
        JobResult result;
        bool collecting; /* COLLECT was sent: FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED may come */
        Collect collect;
        bool discovering; /* DISCOVER was sent: PROFILE_INFO may come */
        Profiles profiles;
        /* Redialling a connection that was dropped before the helper said anything (systemd
         * closes a connection over MaxConnections= at once): what was sent so far, to send again. */
        uint64_t connect_deadline; /* CLOCK_MONOTONIC usec: --connect-timeout after the first attempt */
        uint64_t redial_delay;
        unsigned redials;
        bool heard;      /* a byte came from the helper: no redial any more */
        bool stdin_done; /* STDIN_EOF is queued: the request is whole and can be sent again */
        bool resend_off; /* too much sent to keep, or cancelled */
        Buffer sent;
} Session;

void session_done(Session *s);
/* Connects to path (non-blocking), retrying with backoff for up to timeout_usec while the socket
 * exists but is busy (EAGAIN: backlog full; ECONNREFUSED); a missing socket fails at once. A signal
 * on sigfd (-1: none) ends the wait. A failure is reported, naming the cause. */
int connect_with_retry(const char *path, uint64_t timeout_usec, int sigfd, int *ret);
/* connect_with_retry() with the session's --connect-timeout and signalfd. */
int session_connect(Session *s, const char *path);
/* Queues one frame for the helper (dropped once the helper stopped reading). */
int session_queue_frame(Session *s, uint16_t type, const void *p, size_t n);
/* Runs until the result (0) or a failure, already reported; -ECANCELED when a second signal
 * abandoned the job (s->abandon_signal says which). */
int session_run(Session *s);
