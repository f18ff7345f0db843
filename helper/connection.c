/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client's connection: frames in under the request deadline, out through the output queue
 * (out-queue.h) with backpressure; admission (admission.h) hands the request to a Run (run.h). */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "admission.h"
#include "config-paths.h"
#include "config.h"
#include "connection.h"
#include "frame-reader.h"
#include "journal.h"
#include "lockdown.h"
#include "log.h"
#include "out-queue.h"
#include "policy.h"
#include "run.h"

#include "connection-internal.h"

/* The one way out: the event loop ends, main() returns code (0, or 1 when no result could be
 * formatted), and the connection is freed. */
void connection_exit(Connection *c, int code) {
        (void) sd_event_exit(c->event, code);
}

const char *profile_name(const Connection *c) {
        return c->profile ? c->profile->name
                          : (c->request && c->request->profile ? c->request->profile : "default");
}

/* --- output to the client -------------------------------------------------------------------- */

int out_append(Connection *c, uint16_t type, const void *data, size_t size) {
        int r;

        if (c->client_gone)
                return 0; /* nobody listens; the job's output is dropped */
        r = out_queue_append(c->out, type, data, size);
        if (r < 0)
                return r;
        connection_update_io(c);
        return 0;
}

static bool out_pending(const Connection *c) {
        return out_queue_pending(c->out);
}

static void on_lingered(void *userdata) {
        connection_exit(userdata, 0);
}

static void connection_linger(Connection *c) {
        c->state = CONN_LINGER;
        out_queue_linger(c->out);
        connection_update_io(c);
}

static void on_write_stall(void *userdata) {
        Connection *c = userdata;
        char t[FORMAT_VALUE_MAX];

        format_timespan(t, sizeof(t), WRITE_STALL_USEC);
        journal_write_stall(c->job_id, c->peer.uid, t);
        if (c->state == CONN_CLOSING) {
                /* Only the RESULT (and output before it) was left: the job is over and logged. */
                connection_exit(c, 0);
                return;
        }
        /* Stops the job (status killed, "the client disconnected"), drops its output; the helper
         * exits once the job is collected. */
        connection_client_gone(c, "it took no output for " WRITE_STALL_TEXT);
}

void out_flush(Connection *c) {
        if (out_queue_flush(c->out) < 0) {
                connection_client_gone(c, "write failed");
                return;
        }
        if (!out_pending(c)) {
                if (c->state == CONN_CLOSING) {
                        connection_linger(c);
                        return;
                }
                if (c->run)
                        run_resume(c->run);
        }
        connection_update_io(c);
}

/* --- the result -------------------------------------------------------------------------------- */

/* Queues the RESULT frame, the last one, and closes once it is written. The frame goes to the
 * socket before the journal record is sent, so that a journald slow to take it does not hold up the
 * client; the process ends only after both (connection_exit() is reached through out_flush()). */
void connection_send_result(Connection *c, const JobResult *r) {
        _cleanup_free_ char *payload = NULL;
        size_t size;
        int q = 0;

        if (c->run)
                run_exec_timestamps(c->run, &c->times.exec, &c->times.exit);
        c->times.result = journal_now_usec();
        c->state = CONN_CLOSING;
        c->deadline = sd_event_source_disable_unref(c->deadline);
        if (!c->client_gone) {
                q = job_result_format(r, &payload, &size);
                if (q >= 0 && out_append(c, FRAME_RESULT, payload, size) >= 0)
                        (void) out_queue_flush(c->out); /* a failure is out_flush()'s, below */
        }
        journal_job_result(c->job_id, &c->peer, profile_name(c), r, &c->times,
                           c->request && c->request->session);
        if (c->client_gone) {
                connection_exit(c, 0);
                return;
        }
        if (q < 0) {
                log_error_errno(q, "Failed to format the result: %m");
                connection_exit(c, 1);
                return;
        }
        out_flush(c);
}

void connection_finish(Connection *c, JobStatus status, const char *fmt, ...) {
        JobResult r = {
                .status = status,
                .exit_code = -1,
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
        };
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&r.message, fmt, ap) < 0)
                r.message = NULL;
        va_end(ap);
        r.job = strdup(c->job_id);
        /* A job admitted with COLLECT that could not run: its RESULT has the files' keys too. */
        if (c->run && c->request->collect && !c->request->discover) {
                r.files_reported = true;
                r.files_note = strdup("the job did not run: no files are collected");
        }
        if (c->run && c->request->session)
                r.cells_reported = true; /* cells=0 */
        if (status == JOB_REJECTED)
                log_notice("Rejected request of UID %u: %s", (unsigned) c->peer.uid, r.message ?: "");
        else
                log_error("Request of UID %u failed: %s", (unsigned) c->peer.uid, r.message ?: "");
        connection_send_result(c, &r);
        job_result_done(&r);
}

void connection_client_gone(Connection *c, const char *why) {
        if (c->client_gone)
                return;
        c->client_gone = true;
        out_queue_drop(c->out);
        if (c->run && run_is_active(c->run)) {
                log_info("Client of job %s went away (%s); stopping the job.", c->job_id, why);
                run_stop(c->run, JOB_STOP_DISCONNECT);
                run_resume(c->run); /* output is dropped from now on */
                connection_update_io(c);
                return;
        }
        if (c->state == CONN_FINISHING)
                return; /* the result is logged once the output is drained */
        log_info("Client (UID %u) went away (%s).", (unsigned) c->peer.uid, why);
        connection_exit(c, 0);
}

/* Handles one complete frame. Returns false to stop reading for now. */
static bool connection_handle_frame(Connection *c) {
        const FrameHeader *h = &c->reader.h;
        char error[512] = "";
        int r;

        if (c->state == CONN_REQUEST) {
                r = request_add_frame(c->request, h->type, c->reader.payload, h->length, error,
                                      sizeof(error));
                frame_reader_next(&c->reader);
                if (r < 0) {
                        connection_finish(c, JOB_REJECTED, "invalid request: %s",
                                          error[0] ? error : strerror(-r));
                        return false;
                }
                if (r > 0) {
                        connection_request_complete(c);
                        return c->state == CONN_RUNNING;
                }
                return true;
        }

        connection_handle_job_frame(c, h, c->reader.payload);
        frame_reader_next(&c->reader);
        return run_takes_stdin(c->run);
}

static bool connection_wants_input(const Connection *c) {
        if (c->state == CONN_LINGER)
                return true;
        if (c->client_gone || c->input_broken)
                return false;
        if (c->state == CONN_REQUEST)
                return true;
        /* Backpressure: no new STDIN frame while the last one is not in the pipe yet. */
        return c->state == CONN_RUNNING && c->run && run_takes_stdin(c->run);
}

static void connection_read(Connection *c) {
        while (connection_wants_input(c)) {
                int r = frame_reader_read(&c->reader, c->fd);

                if (r == 0)
                        return;
                if (r == -ECONNRESET) {
                        /* A client that shut down its side mid-request may still listen: tell it. */
                        if (c->state == CONN_REQUEST) {
                                connection_finish(c, JOB_REJECTED,
                                                  "invalid request: the client closed the "
                                                  "connection %s",
                                                  frame_reader_mid_frame(&c->reader)
                                                          ? "in the middle of a frame"
                                                          : "before REQUEST_END");
                                return;
                        }
                        connection_client_gone(c, "connection closed");
                        return;
                }
                if (r == -EBADMSG || r == -EMSGSIZE) {
                        if (c->state == CONN_REQUEST) {
                                connection_finish(c, JOB_REJECTED, "invalid request: %s",
                                                  r == -EMSGSIZE ? "frame larger than allowed for its type"
                                                                 : "unknown frame type or non-zero flags");
                                return;
                        }
                        /* The next frame boundary is lost: read nothing more, stop the job, still
                         * send what it wrote and its result. */
                        frame_reader_next(&c->reader);
                        c->input_broken = true;
                        connection_protocol_error(c, "protocol error after REQUEST_END: %s",
                                                  r == -EMSGSIZE ? "frame larger than allowed for its type"
                                                                 : "unknown frame type or non-zero flags");
                        connection_update_io(c);
                        return;
                }
                if (r < 0) {
                        if (r == -ENOMEM) {
                                log_oom();
                                connection_finish(c, JOB_ERROR, "out of memory");
                                return;
                        }
                        connection_client_gone(c, "read failed");
                        return;
                }
                if (!connection_handle_frame(c))
                        return;
        }
}

static int on_socket(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;

        if (c->state == CONN_LINGER) {
                out_queue_discard_input(c->out);
                return 0;
        }
        if (revents & EPOLLOUT)
                out_flush(c);
        if (revents & EPOLLIN)
                connection_read(c);
        else if (revents & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
                /* Not reading (backpressure or done), but the peer is gone. */
                if (c->state == CONN_RUNNING || c->state == CONN_REQUEST)
                        connection_client_gone(c, "connection closed");
                else if (c->state == CONN_CLOSING && (revents & (EPOLLHUP | EPOLLERR)))
                        connection_client_gone(c, "connection closed");
        }
        return 0;
}

void connection_update_io(Connection *c) {
        uint32_t events = 0;

        if (!c->io)
                return;
        if (connection_wants_input(c))
                events |= EPOLLIN;
        if (!c->client_gone && out_pending(c))
                events |= EPOLLOUT;
        if (!c->client_gone && c->state == CONN_RUNNING)
                events |= EPOLLRDHUP;
        if (events == 0) {
                (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(c->io, events);
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_ON);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        char t[FORMAT_VALUE_MAX];

        c->deadline = sd_event_source_disable_unref(c->deadline);
        connection_finish(c, JOB_REJECTED, "request not received within %s (request deadline)",
                          format_timespan(t, sizeof(t), c->config->request_timeout_usec));
        /* One attempt: a client that does not read gets closed, result or not. */
        if (out_pending(c)) {
                log_notice("Client (UID %u) does not read; closing.", (unsigned) c->peer.uid);
                connection_exit(c, 0);
        }
        return 0;
}

/* Who is on the other end, the configuration, and whether that peer may use pyward at all: false
 * if not, with the RESULT that says why on its way. */
static bool connection_admit_peer(Connection *c) {
        _cleanup_free_ char *errors = NULL;
        Admission a;
        int r;

        r = peer_from_socket(c->fd, &c->peer);
        if (r < 0) {
                c->peer.uid = (uid_t) -1;
                connection_finish(c, JOB_ERROR, "cannot read the peer's credentials: %s", strerror(-r));
                return false;
        }
        /* The configuration is read afresh for every connection, so edits apply to the next job. */
        r = config_load(c->config_root, &c->config, &errors);
        c->times.config = journal_now_usec();
        if (r < 0) {
                for (char *p = errors; p && *p; p++)
                        if (*p == '\n' && p[1])
                                *p = ';';
                if (errors && *errors && errors[strlen(errors) - 1] == '\n')
                        errors[strlen(errors) - 1] = '\0';
                log_error("The configuration is broken, rejecting the request: %s", errors ?: strerror(-r));
                connection_finish(c, JOB_REJECTED, "the pyward configuration is broken: %s",
                                  errors ?: strerror(-r));
                return false;
        }
        admission_decide(&(AdmissionInput) { .config = c->config, .peer = &c->peer }, &a);
        if (a.verdict != ADMISSION_ADMITTED) {
                connection_finish(c, a.status, "%s", a.message);
                return false;
        }
        return true;
}

int connection_new(sd_event *e, int fd, const char *config_root, sd_bus *bus, Connection **ret) {
        _cleanup_(connection_freep) Connection *c = NULL;
        sd_id128_t id;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->times.accept = journal_now_usec();
        c->event = sd_event_ref(e);
        c->bus = sd_bus_ref(bus);
        c->fd = fd;
        c->slot_fd = -EBADF;
        c->state = CONN_REQUEST;
        /* The job id names the connection from its first moment (and later its unit,
         * pyward-job-ID.service): a request rejected before any job exists is on record under it
         * too, and its RESULT quotes it. */
        r = sd_id128_randomize(&id);
        if (r < 0)
                return log_error_errno(r, "Failed to generate a job id: %m");
        (void) sd_id128_to_string(id, c->job_id);
        journal_log_job_begin(c->job_id);
        c->config_root = strdup(config_root);
        if (!c->config_root)
                return -ENOMEM;
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the connection non-blocking: %m");
        r = out_queue_new(e, c->fd, on_write_stall, on_lingered, c, &c->out);
        if (r < 0)
                return log_oom();
        r = sd_event_add_io(e, &c->io, c->fd, EPOLLIN, on_socket, c);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the connection: %m");
        r = request_new(&c->request);
        if (r < 0)
                return log_oom();

        if (!connection_admit_peer(c)) {
                *ret = TAKE_PTR(c);
                return 0;
        }
        r = sd_event_add_time_relative(e, &c->deadline, CLOCK_MONOTONIC, c->config->request_timeout_usec, 0,
                                       on_deadline, c);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the request deadline: %m");
        connection_update_io(c);
        *ret = TAKE_PTR(c);
        return 0;
}

Connection *connection_free(Connection *c) {
        if (!c)
                return NULL;
        journal_log_job_end(c->job_id);
        c->run = run_free(c->run);
        cell_input_done(&c->cell_in);
        /* serve() owns the bus and flushes it at the end (a refill may still use it after us). */
        sd_bus_unref(c->bus);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->deadline);
        frame_reader_done(&c->reader);
        request_free(c->request);
        config_free(c->config);
        peer_done(&c->peer);
        safe_close(c->slot_fd);
        safe_close(c->fd);
        out_queue_free(c->out);
        free(c->config_root);
        free(c->protocol_error);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

char *connection_warm_profile(const Connection *c) {
        if (!c || !c->run || !c->profile || c->profile->warm_runners == 0)
                return NULL;
        return strdup(c->profile->name);
}
