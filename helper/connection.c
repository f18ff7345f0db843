/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state machine of a connection: REQUEST (frames under the deadline) -> RUNNING (job started,
 * stdio relayed) -> FINISHING (job done, output drained) -> CLOSING (RESULT written) -> exit. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-login.h>

#include "bootstrap.h"
#include "config-paths.h"
#include "config.h"
#include "connection.h"
#include "frame-reader.h"
#include "job.h"
#include "lockdown.h"
#include "log.h"
#include "policy.h"
#include "relay.h"

typedef enum ConnState {
        CONN_REQUEST,
        CONN_RUNNING,
        CONN_FINISHING,
        CONN_CLOSING,
        CONN_LINGER, /* RESULT written and our side shut down; discarding input until the client closes */
} ConnState;

/* After the RESULT, how long and how much unread input we discard before closing: closing an
 * AF_UNIX socket with unread data makes the client's recv() fail with ECONNRESET, even before it
 * has read our RESULT. */
#define LINGER_USEC (2 * 1000 * 1000U)
#define LINGER_BYTES_MAX (8U * 1024U * 1024U)
/* A client that takes nothing of what we send for this long is given up: its job is stopped and
 * the connection closed. Without it a client that never reads would keep its helper (and, until
 * the wall-clock limit, its job) alive; with it a stuck client costs at most this much more. */
#define WRITE_STALL_USEC (30 * 1000 * 1000U)
#define WRITE_STALL_TEXT "30s"

struct Connection {
        sd_event *event;
        int fd;
        sd_event_source *io;
        sd_event_source *deadline;
        sd_event_source *linger;
        sd_event_source *write_stall; /* armed while output waits and the client takes none */
        size_t lingered;
        ConnState state;
        char *config_root;

        Peer peer;
        Config *config;
        Request *request;
        const Profile *profile;
        uint64_t limits[_LIMIT_MAX];
        int slot_fd;
        int user_fd;       /* the job user held (policy.h) */
        char user[32];     /* its name */

        FrameReader reader;
        uint8_t *out;
        size_t out_size, out_off;
        bool client_gone;
        bool stdin_eof;
        bool input_broken; /* an invalid frame after the request: nothing more is read */

        sd_bus *bus;
        unsigned manager_version;
        char job_id[33];
        Job *job;
        Relay *relay;

        /* When each step of the connection was reached (CLOCK_MONOTONIC usec, 0: not reached), for
         * the journal record's PYWARD_T_* fields: where a job's time goes (scripts/bench). */
        uint64_t t_accept, t_config, t_request, t_bus, t_start;
};

static uint64_t now_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000U;
}

/* The helper's peak RSS (VmHWM) in KiB, or -1. Not getrusage()'s ru_maxrss: that keeps the peak of
 * the manager's forked child from before our execve(). */
static long peak_rss_kb(void) {
        char line[128];
        long kb = -1;
        FILE *f;

        f = fopen("/proc/self/status", "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
                        break;
        (void) fclose(f);
        return kb;
}

static void connection_update_io(Connection *c);
static void write_stall_update(Connection *c, bool progress);

static const char *profile_name(const Connection *c) {
        return c->profile ? c->profile->name : (c->request && c->request->profile ? c->request->profile : "default");
}

/* --- output to the client -------------------------------------------------------------------- */

static int out_append(Connection *c, uint16_t type, const void *data, size_t size) {
        uint8_t *n;

        if (c->client_gone)
                return 0; /* nobody listens; the job's output is dropped */
        if (c->out_off == c->out_size)
                c->out_off = c->out_size = 0;
        n = realloc(c->out, c->out_size + PW_FRAME_HEADER_SIZE + size);
        if (!n)
                return log_oom();
        c->out = n;
        frame_header_format(c->out + c->out_size, type, (uint32_t) size);
        if (size > 0)
                memcpy(c->out + c->out_size + PW_FRAME_HEADER_SIZE, data, size);
        c->out_size += PW_FRAME_HEADER_SIZE + size;
        write_stall_update(c, false);
        connection_update_io(c);
        return 0;
}

static bool out_pending(const Connection *c) {
        return c->out_off < c->out_size;
}

static void connection_client_gone(Connection *c, const char *why);

static int on_linger_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;

        (void) sd_event_exit(c->event, 0);
        return 0;
}

static void connection_linger(Connection *c) {
        int r;

        c->state = CONN_LINGER;
        (void) shutdown(c->fd, SHUT_WR);
        r = sd_event_add_time_relative(c->event, &c->linger, CLOCK_MONOTONIC, LINGER_USEC, 0,
                                       on_linger_timeout, c);
        if (r < 0) {
                (void) sd_event_exit(c->event, 0);
                return;
        }
        connection_update_io(c);
}

/* Reads and drops whatever the client still sends, until it closes (bounded in time and bytes). */
static void connection_discard_input(Connection *c) {
        uint8_t buf[16384];

        for (;;) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0 || (c->lingered += (size_t) n) > LINGER_BYTES_MAX) {
                        (void) sd_event_exit(c->event, 0);
                        return;
                }
        }
}

static int on_write_stall(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        char t[FORMAT_VALUE_MAX];

        c->write_stall = sd_event_source_disable_unref(c->write_stall);
        format_timespan(t, sizeof(t), WRITE_STALL_USEC);
        (void) sd_journal_send("MESSAGE=Client (UID %u) of pyward job %s took no output for %s; giving up.",
                               (unsigned) c->peer.uid, c->job_id, t,
                               "PRIORITY=%i", LOG_NOTICE,
                               "PYWARD_JOB=%s", c->job_id,
                               "PYWARD_UID=%u", (unsigned) c->peer.uid,
                               "PYWARD_EVENT=write-stall",
                               NULL);
        if (c->state == CONN_CLOSING) {
                /* Only the RESULT (and output before it) was left: the job is over and logged. */
                (void) sd_event_exit(c->event, 0);
                return 0;
        }
        /* Stops the job (status killed, "the client disconnected"), drops its output; the helper
         * exits once the job is collected. */
        connection_client_gone(c, "it took no output for " WRITE_STALL_TEXT);
        return 0;
}

/* (Re)arms the stall deadline after progress, or when output starts to wait; disarms it when
 * nothing waits. */
static void write_stall_update(Connection *c, bool progress) {
        int r;

        if (!out_pending(c) || c->client_gone) {
                c->write_stall = sd_event_source_disable_unref(c->write_stall);
                return;
        }
        if (c->write_stall && !progress)
                return;
        if (c->write_stall) {
                r = sd_event_source_set_time_relative(c->write_stall, WRITE_STALL_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->write_stall, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(c->event, &c->write_stall, CLOCK_MONOTONIC, WRITE_STALL_USEC,
                                               100 * 1000U, on_write_stall, c);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the write deadline: %m");
}

static void out_flush(Connection *c) {
        bool progress = false;

        while (out_pending(c)) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_size - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        connection_client_gone(c, "write failed");
                        return;
                }
                c->out_off += (size_t) n;
                progress = progress || n > 0;
        }
        write_stall_update(c, progress);
        if (!out_pending(c)) {
                c->out_off = c->out_size = 0;
                if (c->state == CONN_CLOSING) {
                        connection_linger(c);
                        return;
                }
                if (c->relay)
                        relay_resume(c->relay);
        }
        connection_update_io(c);
}

/* --- the journal record ------------------------------------------------------------------------ */

static void log_job(Connection *c, const JobResult *r) {
        int prio = r->status == JOB_ERROR ? LOG_ERR : r->status == JOB_REJECTED ? LOG_NOTICE : LOG_INFO;
        const char *status = job_status_to_string(r->status) ?: "?";
        uint64_t t_exec = 0, t_exit = 0;

        if (c->job)
                job_exec_timestamps(c->job, &t_exec, &t_exit);
        (void) sd_journal_send("MESSAGE=pyward job %s for UID %u (profile %s): %s%s%s",
                               c->job_id, (unsigned) c->peer.uid, profile_name(c), status,
                               r->message ? ": " : "", r->message ?: "",
                               "PRIORITY=%i", prio,
                               "PYWARD_JOB=%s", c->job_id,
                               "PYWARD_UID=%u", (unsigned) c->peer.uid,
                               "PYWARD_PID=%d", (int) c->peer.pid,
                               "PYWARD_STATUS=%s", status,
                               "PYWARD_UNIT=%s", r->unit ?: "",
                               "PYWARD_INVOCATION_ID=%s", r->invocation_id ?: "",
                               "PYWARD_PROFILE=%s", profile_name(c),
                               "PYWARD_EXIT_CODE=%d", r->exit_code,
                               "PYWARD_SIGNAL=%d", r->signal,
                               "PYWARD_T_ACCEPT=%" PRIu64, c->t_accept,
                               "PYWARD_T_CONFIG=%" PRIu64, c->t_config,
                               "PYWARD_T_REQUEST=%" PRIu64, c->t_request,
                               "PYWARD_T_BUS=%" PRIu64, c->t_bus,
                               "PYWARD_T_START=%" PRIu64, c->t_start,
                               "PYWARD_T_EXEC=%" PRIu64, t_exec,
                               "PYWARD_T_EXIT=%" PRIu64, t_exit,
                               "PYWARD_T_RESULT=%" PRIu64, now_usec(),
                               "PYWARD_HELPER_PEAK_RSS_KB=%ld", peak_rss_kb(),
                               NULL);
}

/* Queues the RESULT frame, the last one, and closes once it is written. */
static void connection_send_result(Connection *c, const JobResult *r) {
        _cleanup_free_ char *payload = NULL;
        size_t size;
        int q;

        log_job(c, r);
        c->state = CONN_CLOSING;
        c->deadline = sd_event_source_disable_unref(c->deadline);
        if (c->client_gone) {
                (void) sd_event_exit(c->event, 0);
                return;
        }
        q = job_result_format(r, &payload, &size);
        if (q < 0) {
                log_error_errno(q, "Failed to format the result: %m");
                (void) sd_event_exit(c->event, 1);
                return;
        }
        (void) out_append(c, FRAME_RESULT, payload, size);
        out_flush(c);
}

static void connection_finish(Connection *c, JobStatus status, const char *fmt, ...) _printf_(3, 4);
static void connection_finish(Connection *c, JobStatus status, const char *fmt, ...) {
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
        if (status == JOB_REJECTED)
                log_notice("Rejected request of UID %u: %s", (unsigned) c->peer.uid, r.message ?: "");
        else
                log_error("Request of UID %u failed: %s", (unsigned) c->peer.uid, r.message ?: "");
        connection_send_result(c, &r);
        job_result_done(&r);
}

/* --- the job ----------------------------------------------------------------------------------- */

static int relay_emit(void *userdata, uint16_t type, const void *data, size_t size) {
        return out_append(userdata, type, data, size);
}

static bool relay_can_emit(void *userdata) {
        Connection *c = userdata;

        /* At most one chunk waits for the client; beyond that the job waits for the client. */
        return c->client_gone || c->out_size - c->out_off < PW_CHUNK_MAX;
}

static void relay_event(void *userdata, RelayEvent ev) {
        Connection *c = userdata;

        switch (ev) {
        case RELAY_STDIN_IDLE:
                connection_update_io(c);
                break;
        case RELAY_OUTPUT_LIMIT:
                log_info("Job %s exceeded its output limit; stopping it.", c->job_id);
                (void) job_stop(c->job, JOB_STOP_OUTPUT_LIMIT);
                break;
        case RELAY_DRAINED:
                if (c->state == CONN_FINISHING)
                        connection_send_result(c, job_result(c->job));
                break;
        }
}

static const RelayOps relay_ops = {
        .emit = relay_emit,
        .can_emit = relay_can_emit,
        .event = relay_event,
};

static void on_job_event(Job *j, JobEvent ev, void *userdata) {
        Connection *c = userdata;
        char accepted[256];
        int n;

        switch (ev) {
        case JOB_EVENT_STARTED:
                c->t_start = now_usec();
                n = snprintf(accepted, sizeof(accepted), "job=%s\nunit=%s\n", c->job_id, job_unit(j));
                (void) out_append(c, FRAME_ACCEPTED, accepted, (size_t) n);
                out_flush(c);
                break;
        case JOB_EVENT_DONE:
                c->state = CONN_FINISHING;
                connection_update_io(c);
                /* Whatever the job wrote is in the pipes now; send it before the result. */
                relay_finish(c->relay);
                break;
        }
}

/* Does the manager still have this unit loaded? 1 yes, 0 no, < 0 cannot tell. */
static int unit_exists(sd_bus *bus, const char *unit) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "GetUnit", &error, NULL, "s", unit);
        if (r >= 0)
                return 1;
        if (sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit"))
                return 0;
        return r;
}

/* Takes a user of the pool for the job, trying them from a place derived from the job's random
 * id: one whose last job's unit may still exist is skipped (its helper died and the manager is
 * still stopping it), so that two jobs never share a user. */
static int connection_take_job_user(Connection *c) {
        unsigned start = 0;
        char unit[64];
        int r, last = -EBUSY;

        if (!c->bus)
                return -ENOTCONN;
        (void) sscanf(c->job_id, "%4x", &start);
        for (unsigned i = 0; i < JOB_USERS; i++) {
                unsigned k = (start + i) % JOB_USERS;
                char prev[JOB_USER_FILE_MAX];
                _cleanup_close_ int fd = -EBADF;

                r = job_user_try(SLOT_DIR, k, prev, &fd);
                if (r == -EBUSY)
                        continue;
                if (r < 0)
                        return r;
                if (prev[0]) {
                        r = unit_exists(c->bus, prev);
                        if (r != 0) {
                                if (r < 0)
                                        last = r;
                                log_debug("Job user %s%u: %s still exists, trying the next one.",
                                          JOB_USER_PREFIX, k, prev);
                                continue;
                        }
                }
                (void) snprintf(unit, sizeof(unit), JOB_UNIT_FMT, c->job_id);
                r = job_user_record(fd, unit);
                if (r < 0)
                        return r;
                (void) snprintf(c->user, sizeof(c->user), JOB_USER_PREFIX "%u", k);
                c->user_fd = TAKE_FD(fd);
                return 0;
        }
        return last;
}

static int connection_start_job(Connection *c) {
        _cleanup_strv_free_ char **hidden_dirs = NULL, **hidden_other = NULL;
        _cleanup_free_ char *helper_unit = NULL;
        int job_fds[3] = { -EBADF, -EBADF, -EBADF };
        uint8_t preamble[8];
        JobSpec spec;
        int r;

        /* Opened by main() before the lockdown; a failure there is already logged. */
        if (!c->bus)
                return -ENOTCONN;
        {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *version = NULL;

                /* Signals about units reach only subscribed clients. */
                r = sd_bus_call_method(c->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                       "org.freedesktop.systemd1.Manager", "Subscribe", &error, NULL, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to subscribe to the manager: %s",
                                               error.message ?: "unknown error");
                r = sd_bus_get_property_string(c->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                               "org.freedesktop.systemd1.Manager", "Version", &error, &version);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the manager's version: %s",
                                               error.message ?: "unknown error");
                /* "252.39-1~deb12u2", "257.9": the leading number decides which properties exist. */
                c->manager_version = (unsigned) strtoul(version, NULL, 10);
        }
        c->t_bus = now_usec();
        if (sd_pid_get_unit(0, &helper_unit) < 0)
                helper_unit = NULL; /* run by hand, outside a unit: nothing to bind to */

        /* Read per job, like the config: a directory an admin adds to / is hidden from the next job. */
        r = host_hidden_entries("/", &hidden_dirs, &hidden_other);
        if (r < 0)
                return log_error_errno(r, "Failed to list the host's top-level directories: %m");

        r = relay_new(c->event, c->limits[LIMIT_OUTPUT], &relay_ops, c, job_fds, &c->relay);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the job's stdio: %m");
        /* The bootstrap reads this first: the code's length, then the code; then the client's stdin. */
        for (size_t i = 0; i < 8; i++)
                preamble[i] = (uint8_t) ((uint64_t) c->request->code_size >> (8 * i));
        {
                _cleanup_free_ uint8_t *buf = malloc(8 + c->request->code_size);

                if (!buf)
                        r = -ENOMEM;
                else {
                        memcpy(buf, preamble, 8);
                        memcpy(buf + 8, c->request->code, c->request->code_size);
                        r = relay_write_stdin(c->relay, buf, 8 + c->request->code_size);
                }
        }
        if (r >= 0)
                r = job_new(c->bus, c->job_id, c->manager_version, &c->job);
        if (r >= 0) {
                spec = (JobSpec) {
                        .unit = job_unit(c->job),
                        .job_id = c->job_id,
                        .helper_unit = helper_unit,
                        .manager_version = c->manager_version,
                        .uid = c->peer.uid,
                        .user = c->user,
                        .profile = c->profile,
                        .limits = c->limits,
                        .filename = c->request->filename ?: "main.py",
                        .argv = c->request->argv,
                        .bootstrap = BOOTSTRAP_PY,
                        .stdin_fd = job_fds[0],
                        .stdout_fd = job_fds[1],
                        .stderr_fd = job_fds[2],
                        .hidden_dirs = hidden_dirs,
                        .hidden_other = hidden_other,
                };
                r = job_start(c->job, &spec, c->limits[LIMIT_CPU_TIME], on_job_event, c);
        }
        /* The message holds its own copies; ours would keep the pipes open after the job is gone. */
        for (size_t i = 0; i < 3; i++)
                safe_close(job_fds[i]);
        if (r < 0)
                return log_error_errno(r, "Failed to start the job: %m");
        /* The first of the job's two journal records (the second has its status), so a job is on
         * record even if the helper dies before it ends. */
        (void) sd_journal_send("MESSAGE=Starting pyward job %s for UID %u (profile %s) as %s.", c->job_id,
                               (unsigned) c->peer.uid, c->profile->name, job_unit(c->job),
                               "PRIORITY=%i", LOG_INFO,
                               "PYWARD_JOB=%s", c->job_id,
                               "PYWARD_UID=%u", (unsigned) c->peer.uid,
                               "PYWARD_PID=%d", (int) c->peer.pid,
                               "PYWARD_STATUS=started",
                               "PYWARD_UNIT=%s", job_unit(c->job),
                               "PYWARD_PROFILE=%s", c->profile->name,
                               NULL);
        return 0;
}

/* --- the request ------------------------------------------------------------------------------- */

static void connection_request_complete(Connection *c) {
        char error[256] = "";
        const char *name = c->request->profile ?: "default";
        int r;

        c->t_request = now_usec();
        c->deadline = sd_event_source_disable_unref(c->deadline);
        c->state = CONN_RUNNING;

#if PYWARD_DEBUG_HOOKS
        /* Test builds only (-Ddebug-hooks=true): prove that the lockdown kills the helper. */
        if (strcmp(name, LOCKDOWN_DEBUG_PROFILE) == 0) {
                r = lockdown_debug_forbidden_syscall();
                connection_finish(c, JOB_ERROR, "the lockdown did not stop execve(): %s", strerror(-r));
                return;
        }
#endif
        c->profile = config_find_profile(c->config, name);
        if (!c->profile || !c->profile->enabled) {
                connection_finish(c, JOB_REJECTED, "unknown profile \"%s\"", name);
                return;
        }
        if (!profile_peer_allowed(c->profile, c->peer.uid, c->peer.gids, c->peer.n_gids)) {
                connection_finish(c, JOB_REJECTED, "UID %u may not use profile \"%s\"",
                                  (unsigned) c->peer.uid, name);
                return;
        }
        if (c->request->code_size > c->profile->code_max) {
                connection_finish(c, JOB_REJECTED,
                                  "code of %zu bytes exceeds the maximum of %" PRIu64
                                  " bytes of profile \"%s\"",
                                  c->request->code_size, c->profile->code_max, name);
                return;
        }
        r = profile_resolve_limits(c->profile, c->request, c->limits, error, sizeof(error));
        if (r < 0) {
                connection_finish(c, JOB_REJECTED, "%s", error[0] ? error : "invalid limits");
                return;
        }

        r = slot_acquire(SLOT_DIR, c->peer.uid, c->config->jobs_per_uid, &c->slot_fd);
        if (r == -EBUSY) {
                connection_finish(c, JOB_REJECTED,
                                  "UID %u already runs %" PRIu64 " jobs, the maximum (JobsPerUser=)",
                                  (unsigned) c->peer.uid, c->config->jobs_per_uid);
                return;
        }
        if (r < 0) {
                connection_finish(c, JOB_ERROR, "cannot take a job slot in " SLOT_DIR ": %s",
                                  strerror(-r));
                return;
        }

        r = connection_take_job_user(c);
        if (r == -EBUSY) {
                connection_finish(c, JOB_ERROR, "all %u job users are in use; try again later",
                                  (unsigned) JOB_USERS);
                return;
        }
        if (r < 0) {
                connection_finish(c, JOB_ERROR, "cannot take a job user: %s", strerror(-r));
                return;
        }

        r = connection_start_job(c);
        if (r < 0) {
                c->job = job_free(c->job);
                connection_finish(c, JOB_ERROR, "could not start the job: %s", strerror(-r));
                return;
        }
        connection_update_io(c);
}

static void connection_client_gone(Connection *c, const char *why) {
        if (c->client_gone)
                return;
        c->client_gone = true;
        free(c->out);
        c->out = NULL;
        c->out_size = c->out_off = 0;
        c->write_stall = sd_event_source_disable_unref(c->write_stall);
        if (c->job && !job_is_done(c->job)) {
                log_info("Client of job %s went away (%s); stopping the job.", c->job_id, why);
                (void) job_stop(c->job, JOB_STOP_DISCONNECT);
                if (c->relay)
                        relay_resume(c->relay); /* output is dropped from now on */
                connection_update_io(c);
                return;
        }
        if (c->state == CONN_FINISHING)
                return; /* the result is logged once the output is drained */
        log_info("Client (UID %u) went away (%s).", (unsigned) c->peer.uid, why);
        (void) sd_event_exit(c->event, 0);
}

/* Handles one complete frame. Returns false to stop reading for now. */
static bool connection_handle_frame(Connection *c) {
        const FrameHeader *h = &c->reader.h;
        char error[512] = "";
        int r;

        if (c->state == CONN_REQUEST) {
                r = request_add_frame(c->request, h->type, c->reader.payload, h->length, error, sizeof(error));
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

        switch (h->type) {
        case FRAME_STDIN:
                if (c->stdin_eof) {
                        log_warning("Client of job %s sent STDIN after STDIN_EOF; ignored.", c->job_id);
                        break;
                }
                r = relay_write_stdin(c->relay, c->reader.payload, h->length);
                if (r < 0)
                        log_warning_errno(r, "Failed to queue stdin for job %s: %m", c->job_id);
                break;
        case FRAME_STDIN_EOF:
                c->stdin_eof = true;
                relay_close_stdin(c->relay);
                break;
        case FRAME_CANCEL:
                log_info("Client cancelled job %s.", c->job_id);
                (void) job_stop(c->job, JOB_STOP_CANCEL);
                break;
        default:
                /* The job already runs: a protocol violation now ends it like a cancel. */
                log_warning("Client of job %s sent a %s frame while the job runs; stopping the job.",
                            c->job_id, frame_type_to_string(h->type) ?: "unknown");
                (void) job_stop(c->job, JOB_STOP_CANCEL);
                break;
        }
        frame_reader_next(&c->reader);
        return !relay_stdin_busy(c->relay);
}

static bool connection_wants_input(const Connection *c) {
        if (c->state == CONN_LINGER)
                return true;
        if (c->client_gone || c->input_broken)
                return false;
        if (c->state == CONN_REQUEST)
                return true;
        /* Backpressure: no new STDIN frame while the last one is not in the pipe yet. */
        return c->state == CONN_RUNNING && c->relay && !relay_stdin_busy(c->relay);
}

static void connection_read(Connection *c) {
        while (connection_wants_input(c)) {
                int r = frame_reader_read(&c->reader, c->fd);

                if (r == 0)
                        return;
                if (r == -ECONNRESET) {
                        /* A client that shut down its side mid-request may still listen: tell it. */
                        if (c->state == CONN_REQUEST) {
                                connection_finish(c, JOB_REJECTED, "invalid request: the client closed the "
                                                  "connection %s", frame_reader_mid_frame(&c->reader) ?
                                                  "in the middle of a frame" : "before REQUEST_END");
                                return;
                        }
                        connection_client_gone(c, "connection closed");
                        return;
                }
                if (r == -EBADMSG || r == -EMSGSIZE) {
                        if (c->state == CONN_REQUEST) {
                                connection_finish(c, JOB_REJECTED, "invalid request: %s",
                                           r == -EMSGSIZE ? "frame larger than allowed for its type" :
                                                            "unknown frame type or non-zero flags");
                                return;
                        }
                        /* The next frame boundary is lost: read nothing more, stop the job, still
                         * send what it wrote and its result. */
                        log_warning("Client of job %s sent an invalid frame; stopping the job.", c->job_id);
                        frame_reader_next(&c->reader);
                        c->input_broken = true;
                        (void) job_stop(c->job, JOB_STOP_CANCEL);
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
                connection_discard_input(c);
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

static void connection_update_io(Connection *c) {
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
                (void) sd_event_exit(c->event, 0);
        }
        return 0;
}

/* Every line the helper logs for its connection carries the connection's job id, so that
 * `journalctl PYWARD_JOB=ID` finds all of it, a rejection before any unit existed included. */
static const char *log_job_id = NULL;

static int log_to_journal(int level, int error, const char *message) {
        if (error > 0)
                return sd_journal_send("MESSAGE=%s", message, "PRIORITY=%i", level,
                                       "SYSLOG_IDENTIFIER=%s", program_invocation_short_name,
                                       "PYWARD_JOB=%s", log_job_id ?: "", "ERRNO=%i", error, NULL);
        return sd_journal_send("MESSAGE=%s", message, "PRIORITY=%i", level,
                               "SYSLOG_IDENTIFIER=%s", program_invocation_short_name,
                               "PYWARD_JOB=%s", log_job_id ?: "", NULL);
}

int connection_new(sd_event *e, int fd, const char *config_root, sd_bus *bus, Connection **ret) {
        _cleanup_(connection_freep) Connection *c = NULL;
        _cleanup_free_ char *errors = NULL;
        sd_id128_t id;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->t_accept = now_usec();
        c->event = sd_event_ref(e);
        c->bus = sd_bus_ref(bus);
        c->fd = fd;
        c->slot_fd = -EBADF;
        c->user_fd = -EBADF;
        c->state = CONN_REQUEST;
        /* The job id names the connection from its first moment (and later its unit,
         * pyward-job-ID.service): a request rejected before any job exists is on record under it
         * too, and its RESULT quotes it. */
        r = sd_id128_randomize(&id);
        if (r < 0)
                return log_error_errno(r, "Failed to generate a job id: %m");
        (void) sd_id128_to_string(id, c->job_id);
        log_job_id = c->job_id;
        log_sink = log_to_journal;
        c->config_root = strdup(config_root);
        if (!c->config_root)
                return -ENOMEM;
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the connection non-blocking: %m");
        r = sd_event_add_io(e, &c->io, c->fd, EPOLLIN, on_socket, c);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the connection: %m");
        r = request_new(&c->request);
        if (r < 0)
                return log_oom();

        r = peer_from_socket(c->fd, &c->peer);
        if (r < 0) {
                c->peer.uid = (uid_t) -1;
                connection_finish(c, JOB_ERROR, "cannot read the peer's credentials: %s", strerror(-r));
                *ret = TAKE_PTR(c);
                return 0;
        }

        /* The configuration is read afresh for every connection, so edits apply to the next job. */
        r = config_load(c->config_root, &c->config, &errors);
        c->t_config = now_usec();
        if (r < 0) {
                char *p;

                for (p = errors; p && *p; p++)
                        if (*p == '\n' && p[1])
                                *p = ';';
                if (errors && *errors && errors[strlen(errors) - 1] == '\n')
                        errors[strlen(errors) - 1] = '\0';
                log_error("The configuration is broken, rejecting the request: %s", errors ?: strerror(-r));
                connection_finish(c, JOB_REJECTED, "the pyward configuration is broken: %s",
                                  errors ?: strerror(-r));
                *ret = TAKE_PTR(c);
                return 0;
        }
        if (!config_peer_allowed(c->config, c->peer.uid, c->peer.gids, c->peer.n_gids)) {
                connection_finish(c, JOB_REJECTED, "UID %u is not allowed to use pyward", (unsigned) c->peer.uid);
                *ret = TAKE_PTR(c);
                return 0;
        }
        r = sd_event_add_time_relative(e, &c->deadline, CLOCK_MONOTONIC, c->config->request_timeout_usec,
                                       0, on_deadline, c);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the request deadline: %m");
        connection_update_io(c);
        *ret = TAKE_PTR(c);
        return 0;
}

Connection *connection_free(Connection *c) {
        if (!c)
                return NULL;
        if (log_job_id == c->job_id) {
                log_sink = NULL;
                log_job_id = NULL;
        }
        c->job = job_free(c->job);
        c->relay = relay_free(c->relay);
        sd_bus_flush_close_unref(c->bus);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->deadline);
        sd_event_source_disable_unref(c->linger);
        sd_event_source_disable_unref(c->write_stall);
        frame_reader_done(&c->reader);
        request_free(c->request);
        config_free(c->config);
        peer_done(&c->peer);
        safe_close(c->slot_fd);
        safe_close(c->user_fd);
        safe_close(c->fd);
        free(c->out);
        free(c->config_root);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}
