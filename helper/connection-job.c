/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A connection's job: admission of the complete request, the Run it hands the request to and the
 * callbacks by which the Run reports, and the frames a client may send while its job runs. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "admission.h"
#include "config-paths.h"
#include "confine.h"
#include "connection-discover.h"
#include "connection-internal.h"
#include "journal.h"
#include "lockdown.h"
#include "log.h"
#include "policy.h"

/* --- the run of the job ------------------------------------------------------------------------ */

static int run_emit(void *userdata, uint16_t type, const void *data, size_t size) {
        return out_append(userdata, type, data, size);
}

static bool run_can_emit(void *userdata) {
        Connection *c = userdata;

        /* At most one chunk waits for the client; beyond that the job waits for the client. */
        return c->client_gone || out_queue_waiting(c->out) < PW_CHUNK_MAX;
}

static void run_stdin_idle(void *userdata) {
        connection_update_io(userdata);
}

static void run_started(void *userdata, const char *unit) {
        Connection *c = userdata;
        _cleanup_free_ char *accepted = NULL;
        size_t n;

        if (job_accepted_format(c->job_id, unit, &accepted, &n) >= 0)
                (void) out_append(c, FRAME_ACCEPTED, accepted, n);
        out_flush(c);
}

static void run_job_done(void *userdata) {
        Connection *c = userdata;

        c->state = CONN_FINISHING;
        connection_update_io(c);
}

static void run_failed(void *userdata, const char *message) {
        connection_finish(userdata, JOB_ERROR, "%s", message);
}

static void run_finished(void *userdata, const JobResult *result) {
        Connection *c = userdata;
        JobResult r = *result;

        if (c->state != CONN_FINISHING)
                return;
        /* pyward-protocol(7): the RESULT of a job ended by a protocol error names the problem. */
        if (c->protocol_error && r.status == JOB_KILLED)
                r.message = c->protocol_error;
        connection_send_result(c, &r);
}

const RunOps connection_run_ops = {
        .emit = run_emit,
        .can_emit = run_can_emit,
        .stdin_idle = run_stdin_idle,
        .started = run_started,
        .job_done = run_job_done,
        .failed = run_failed,
        .finished = run_finished,
        .cell_result = connection_run_cell_result,
};

/* --- the request ------------------------------------------------------------------------------- */

/* Asks admission_decide() about the request, and takes the job slot in between (admission.h). */
static bool connection_admit(Connection *c) {
        AdmissionInput in = {
                .config = c->config,
                .peer = &c->peer,
                .request = c->request,
                .slot = ADMISSION_SLOT_UNTRIED,
        };
        Admission a;

        admission_decide(&in, &a);
        if (a.verdict == ADMISSION_NEED_SLOT) {
                in.slot = slot_acquire(SLOT_DIR, c->peer.uid, c->config->jobs_per_uid, &c->slot_fd);
                admission_decide(&in, &a);
        }
        if (a.verdict != ADMISSION_ADMITTED) {
                connection_finish(c, a.status, "%s", a.message);
                return false;
        }
        c->profile = a.profile;
        memcpy(c->limits, a.limits, sizeof(c->limits));
        return true;
}

void connection_request_complete(Connection *c) {
        int r;

        c->times.request = journal_now_usec();
        c->deadline = sd_event_source_disable_unref(c->deadline);
        c->state = CONN_RUNNING;
        if (c->request->discover) {
                connection_discover(c);
                return;
        }

#if PYWARD_DEBUG_HOOKS
        /* Test builds only (-Ddebug-hooks=true): prove that the lockdown kills the helper. */
        if (strcmp(c->request->profile ?: "default", LOCKDOWN_DEBUG_PROFILE) == 0) {
                r = lockdown_debug_forbidden_syscall();
                connection_finish(c, JOB_ERROR, "the lockdown did not stop execve(): %s", strerror(-r));
                return;
        }
        /* And show what the helper's confinement denies it (confine.h). */
        if (strcmp(c->request->profile ?: "default", CONFINE_DEBUG_PROFILE) == 0) {
                char outcome[1024];

                confine_debug_probe(outcome, sizeof(outcome));
                connection_finish(c, JOB_ERROR, "confinement: %s", outcome);
                return;
        }
#endif
        if (!connection_admit(c))
                return;
        if (c->request->session)
                cell_input_init(&c->cell_in, c->limits[LIMIT_FILES_IN], c->limits[LIMIT_FILES_IN_BYTES]);
        r = run_new(c->event, c->bus,
                    &(RunParams) {
                            .job_id = c->job_id,
                            .config = c->config,
                            .peer = &c->peer,
                            .profile = c->profile,
                            .limits = c->limits,
                            .request = c->request,
                            .times = &c->times,
                            .session = c->request->session,
                    },
                    &connection_run_ops, c, &c->run);
        if (r < 0) {
                connection_finish(c, JOB_ERROR, "could not start the job: %s", strerror(-r));
                return;
        }
        run_start(c->run);
        connection_update_io(c);
}

/* A protocol error after REQUEST_END: the job is stopped, its RESULT is killed with this message. */
void connection_protocol_error(Connection *c, const char *fmt, ...) {
        va_list ap;
        int r;

        if (c->stop_asked)
                return; /* the first reason wins, as in job_stop() */
        c->stop_asked = true;
        va_start(ap, fmt);
        r = vasprintf(&c->protocol_error, fmt, ap);
        va_end(ap);
        if (r < 0)
                c->protocol_error = NULL; /* job-status.c's generic message is sent instead */
        log_warning("Client of job %s broke the protocol (%s); stopping the job.", c->job_id,
                    c->protocol_error ?: "out of memory");
        run_stop(c->run, JOB_STOP_PROTOCOL);
}

void connection_handle_job_frame(Connection *c, const FrameHeader *h, const void *payload) {
        int r;

        if (c->request->session) {
                connection_handle_session_frame(c, h, payload);
                return;
        }
        switch (frame_after_request(h->type, false, c->stdin_eof)) {
        case FRAME_ACTION_STDIN:
                r = run_write_stdin(c->run, payload, h->length);
                if (r < 0)
                        log_warning_errno(r, "Failed to queue stdin for job %s: %m", c->job_id);
                break;
        case FRAME_ACTION_LATE_STDIN:
                connection_protocol_error(c, "protocol error after REQUEST_END: STDIN after STDIN_EOF");
                break;
        case FRAME_ACTION_STDIN_EOF:
                c->stdin_eof = true;
                run_close_stdin(c->run);
                break;
        case FRAME_ACTION_CANCEL:
                log_info("Client cancelled job %s.", c->job_id);
                if (!c->stop_asked) {
                        c->stop_asked = true;
                        run_stop(c->run, JOB_STOP_CANCEL);
                }
                break;
        case FRAME_ACTION_FILE:
        case FRAME_ACTION_FILE_DATA:
        case FRAME_ACTION_CELL:
        case FRAME_ACTION_INTERRUPT:
        case FRAME_ACTION_SESSION_END: /* a session's, never a job's */
        case FRAME_ACTION_VIOLATION:
                if (frame_type_to_string(h->type))
                        connection_protocol_error(c,
                                                  "protocol error after REQUEST_END: a %s frame "
                                                  "while the job runs",
                                                  frame_type_to_string(h->type));
                else
                        connection_protocol_error(c,
                                                  "protocol error after REQUEST_END: unknown "
                                                  "frame type 0x%04x",
                                                  (unsigned) h->type);
                break;
        }
}
