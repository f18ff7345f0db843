/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward(1)'s session with the helper (run.h): one poll() loop, frames decoded with the
 * protocol's decoder and sent with its encoder, backpressure towards our stdin. */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"
#include "unix-connect.h"

/* --json collects the streams in memory; refuse a helper that sends more than this. */
#define JSON_STREAM_MAX (256U * 1024U * 1024U)
/* Outgoing bytes buffered before we stop reading our stdin (backpressure towards the producer). */
#define OUT_HIGH_WATER (256U * 1024U)

void session_done(Session *s) {
        s->sock = safe_close(s->sock);
        s->sigfd = safe_close(s->sigfd);
        buffer_done(&s->out);
        buffer_done(&s->in);
        buffer_done(&s->json_stdout);
        buffer_done(&s->json_stderr);
        buffer_done(&s->sent);
        collect_done(&s->collect);
        profiles_done(&s->profiles);
        if (s->have_result)
                job_result_done(&s->result);
}

/* The backoff between connection attempts to a busy socket: the first retry soon (a full backlog
 * drains in milliseconds when systemd keeps up), then doubling, capped so that a client that waits
 * out another user's flood (README, security model) still gets its turn within a quarter second
 * of the backlog having room. */
#define RETRY_FIRST_USEC (5U * 1000U)
#define RETRY_MAX_USEC (250U * 1000U)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
/* What a dropped connection may have to send again: a request with the largest code and a few MiB of
 * stdin; beyond that the job's stdin is a stream we cannot replay, and a drop is reported. */
#define RESEND_MAX (8U * 1024U * 1024U)

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000U;
}

/* Waits up to usec for the backoff, or less if a signal arrives on sigfd: -EINTR then. */
static int backoff_wait(int sigfd, uint64_t usec) {
        struct pollfd p = { .fd = sigfd, .events = POLLIN };
        int n;

        n = poll(&p, sigfd >= 0 ? 1 : 0, (int) ((usec + 999U) / 1000U));
        if (n < 0 && errno != EINTR)
                return -errno;
        return n > 0 ? -EINTR : 0;
}

int connect_with_retry(const char *path, uint64_t timeout_usec, int sigfd, int *ret) {
        uint64_t deadline, delay = RETRY_FIRST_USEC;
        unsigned attempts = 0;
        int r;

        if (strlen(path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return fail("socket path too long: %s", path);
        deadline = now_usec() + timeout_usec;
        for (;;) {
                uint64_t now;

                attempts++;
                r = unix_connect(path, ret); /* EAGAIN: the listen backlog is full */
                if (r >= 0)
                        return 0;
                /* Only a socket that exists and is merely busy is worth waiting for; a missing one
                 * (ENOENT) or a refused permission fails at once. */
                if (r != -EAGAIN && r != -ECONNREFUSED)
                        break;
                if (access(path, F_OK) < 0)
                        break;
                now = now_usec();
                if (now >= deadline)
                        break;
                r = backoff_wait(sigfd, MIN(delay, deadline - now));
                if (r == -EINTR)
                        return fail("interrupted while waiting to connect to %s", path);
                if (r < 0)
                        return fail("cannot wait to connect to %s: %s", path, strerror(-r));
                delay = MIN(delay * 2, (uint64_t) RETRY_MAX_USEC);
        }
        if (r == -EAGAIN)
                return fail(
                        "cannot connect to %s: %s: the socket's backlog stayed full for %.1fs "
                        "(%u attempts; the service is overloaded, see --connect-timeout)",
                        path, strerror(-r), (double) timeout_usec / 1e6, attempts);
        if (r == -ECONNREFUSED && attempts > 1)
                return fail("cannot connect to %s: %s for %.1fs (%u attempts; is pyward.socket running?)",
                            path, strerror(-r), (double) timeout_usec / 1e6, attempts);
        if (r == -ENOENT || r == -ECONNREFUSED)
                return fail("cannot connect to %s: %s (is pyward.socket running?)", path, strerror(-r));
        if (r == -EACCES)
                return fail("cannot connect to %s: %s (are you in the pyward group?)", path, strerror(-r));
        return fail("cannot connect to %s: %s", path, strerror(-r));
}

int session_queue_frame(Session *s, uint16_t type, const void *p, size_t n) {
        if (s->send_closed)
                return 0;
        if (frame_append(&s->out, type, p, n) < 0)
                return fail("out of memory");
        if (type == FRAME_STDIN_EOF)
                s->stdin_done = true;
        return 0;
}

static int cancel_job(Session *s) {
        if (s->cancel_sent)
                return 0;
        s->cancel_sent = true;
        s->resend_off = true; /* a cancelled job is not dialled again */
        /* Nothing more from our stdin after a cancel; the job is going away. */
        s->stdin_open = false;
        return session_queue_frame(s, FRAME_CANCEL, NULL, 0);
}

/* Writes all of p to a blocking (or, if inherited so, non-blocking) fd. */
static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                                (void) poll(&pfd, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int handle_output(Session *s, uint16_t type, const uint8_t *p, size_t n) {
        Buffer *b = type == FRAME_STDOUT ? &s->json_stdout : &s->json_stderr;
        int fd = type == FRAME_STDOUT ? STDOUT_FILENO : STDERR_FILENO;
        int r;

        if (s->args->json) {
                if (b->size + n > JSON_STREAM_MAX)
                        return fail("the job's %s exceeds %u bytes, too much for --json",
                                    type == FRAME_STDOUT ? "stdout" : "stderr", JSON_STREAM_MAX);
                if (buffer_append(b, p, n) < 0)
                        return fail("out of memory");
                return 0;
        }
        if (fd == STDOUT_FILENO && s->stdout_broken)
                return 0;
        r = write_all(fd, p, n);
        if (r < 0 && fd == STDOUT_FILENO) {
                /* Like a local process killed by SIGPIPE: whoever reads us is gone, stop the job. */
                s->stdout_broken = true;
                if (r != -EPIPE)
                        fprintf(stderr, "pyward: cannot write the job's output: %s\n", strerror(-r));
                return cancel_job(s);
        }
        return 0; /* a broken stderr has nobody left to tell */
}

static int handle_frame(Session *s, uint16_t type, const uint8_t *p, size_t n) {
        int r;

        switch (type) {
        case FRAME_STDOUT:
        case FRAME_STDERR:
                return handle_output(s, type, p, n);
        case FRAME_ACCEPTED:
                if (s->have_accepted)
                        return fail("protocol error: duplicate ACCEPTED frame from the helper");
                s->have_accepted = true;
                return 0;
        case FRAME_FILE_OUT:
        case FRAME_FILE_OUT_DATA:
        case FRAME_FILE_SKIPPED:
                if (!s->collecting)
                        break;
                return collect_frame(&s->collect, type, p, n);
        case FRAME_PROFILE_INFO:
                if (!s->discovering)
                        break;
                return profiles_add(&s->profiles, p, n);
        case FRAME_RESULT:
                if (s->collecting) {
                        r = collect_finish(&s->collect);
                        if (r < 0)
                                return r;
                }
                r = job_result_parse(p, n, &s->result);
                if (r < 0)
                        return fail("protocol error: malformed RESULT from the helper: %s", strerror(-r));
                s->have_result = true;
                return 0;
        default:
                break;
        }
        /* Also a file or profile frame nobody asked for: a client that sent no new frame gets
         * none (pyward-protocol(7)). */
        return fail("protocol error: unexpected %s frame from the helper", frame_type_to_string(type));
}

/* Decodes whole frames from s->in. */
static int process_input(Session *s) {
        size_t off = 0;
        int r = 0;

        while (!s->have_result && s->in.size - off >= PW_FRAME_HEADER_SIZE) {
                FrameHeader h;

                r = frame_header_parse(s->in.data + off, &h);
                if (r < 0) {
                        r = fail("protocol error: invalid frame header from the helper (type 0x%04x)",
                                 (unsigned) (s->in.data[off] | s->in.data[off + 1] << 8));
                        break;
                }
                if (s->in.size - off - PW_FRAME_HEADER_SIZE < h.length)
                        break;
                r = handle_frame(s, h.type, s->in.data + off + PW_FRAME_HEADER_SIZE, h.length);
                if (r < 0)
                        break;
                off += PW_FRAME_HEADER_SIZE + h.length;
        }
        buffer_consume(&s->in, off);
        return r;
}

/* Whether a connection that ended now may be dialled again: nothing came from the helper (so no
 * job was started: the helper sends ACCEPTED first), the whole request is at hand, and the
 * --connect-timeout wait is not over. */
static bool can_redial(const Session *s) {
        return !s->heard && !s->resend_off && s->stdin_done && now_usec() < s->connect_deadline;
}

static int redial(Session *s) {
        uint64_t now = now_usec(), delay;
        Buffer b = {};
        int r;

        delay = MIN(s->redial_delay ?: RETRY_FIRST_USEC, s->connect_deadline - now);
        s->redial_delay = MIN(delay * 2, (uint64_t) RETRY_MAX_USEC);
        s->sock = safe_close(s->sock);
        r = backoff_wait(s->sigfd, delay);
        if (r == -EINTR)
                return fail("interrupted while waiting to connect to %s", s->args->socket_path);
        now = now_usec();
        r = connect_with_retry(s->args->socket_path,
                               now < s->connect_deadline ? s->connect_deadline - now : 0, s->sigfd, &s->sock);
        if (r < 0)
                return r;
        /* Everything again, in order: what the dropped connection took, then what it did not. */
        if (buffer_append(&b, s->sent.data, s->sent.size) < 0 ||
            buffer_append(&b, s->out.data, s->out.size) < 0) {
                buffer_done(&b);
                return fail("out of memory");
        }
        buffer_done(&s->out);
        buffer_done(&s->sent);
        s->out = b;
        s->send_closed = false;
        s->redials++;
        return 0;
}

static int read_socket(Session *s) {
        uint8_t buf[64 * 1024];
        ssize_t n;

        n = recv(s->sock, buf, sizeof(buf), 0);
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                if (can_redial(s))
                        return redial(s);
                if (s->redials > 0)
                        return fail(
                                "connection to the helper failed: %m (dropped before the helper answered, "
                                "%u times; the service is overloaded, see --connect-timeout)",
                                s->redials + 1);
                return fail("connection to the helper failed: %m");
        }
        if (n == 0) {
                if (s->in.size > 0)
                        return fail("protocol error: the helper closed the connection inside a frame");
                if (can_redial(s))
                        return redial(s);
                return fail("the helper closed the connection without a result");
        }
        if (!s->heard) {
                s->heard = true;
                buffer_done(&s->sent);
        }
        if (buffer_append(&s->in, buf, (size_t) n) < 0)
                return fail("out of memory");
        return process_input(s);
}

/* Keeps a copy of n bytes about to leave s->out while a redial may need them. */
static void keep_sent(Session *s, size_t n) {
        if (s->heard || s->resend_off)
                return;
        if (s->sent.size + n > RESEND_MAX || buffer_append(&s->sent, s->out.data, n) < 0) {
                s->resend_off = true;
                buffer_done(&s->sent);
        }
}

static int write_socket(Session *s) {
        ssize_t n = send(s->sock, s->out.data, s->out.size, MSG_NOSIGNAL);

        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                if (errno == EPIPE || errno == ECONNRESET) {
                        /* The helper stopped reading, e.g. it rejected the request. Its verdict is
                         * still on its way to us; stop sending and keep reading. (Or systemd dropped
                         * the connection: then what is left goes with a redial.) */
                        keep_sent(s, s->out.size);
                        s->send_closed = true;
                        s->stdin_open = false;
                        s->out.size = 0;
                        return 0;
                }
                return fail("cannot send to the helper: %m");
        }
        keep_sent(s, (size_t) n);
        buffer_consume(&s->out, (size_t) n);
        return 0;
}

static int read_stdin(Session *s) {
        uint8_t buf[PW_CHUNK_MAX];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                fprintf(stderr, "pyward: cannot read stdin, closing the job's stdin: %m\n");
                n = 0;
        }
        if (n == 0) {
                s->stdin_open = false;
                return session_queue_frame(s, FRAME_STDIN_EOF, NULL, 0);
        }
        return session_queue_frame(s, FRAME_STDIN, buf, (size_t) n);
}

static int handle_signal(Session *s) {
        struct signalfd_siginfo si;
        ssize_t n = read(s->sigfd, &si, sizeof(si));

        if (n != sizeof(si))
                return 0;
        if (++s->n_signals == 1) {
                if (!s->args->quiet)
                        fprintf(stderr, "pyward: %s received, cancelling the job (again to abandon it)\n",
                                strsignal((int) si.ssi_signo));
                return cancel_job(s);
        }
        /* A second signal: give up waiting. Closing the connection makes the helper stop the job. */
        fprintf(stderr, "pyward: abandoning the job\n");
        s->abandon_signal = (int) si.ssi_signo;
        return -ECANCELED;
}

int session_run(Session *s) {
        for (;;) {
                struct pollfd p[3] = {
                        { .fd = s->sock, .events = POLLIN },
                        { .fd = s->sigfd, .events = POLLIN },
                        { .fd = -1 },
                };
                int r;

                if (s->out.size > 0)
                        p[0].events |= POLLOUT;
                if (s->stdin_open && s->out.size < OUT_HIGH_WATER) {
                        p[2].fd = STDIN_FILENO;
                        p[2].events = POLLIN;
                }
                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail("poll failed: %m");
                }
                if (p[1].revents & POLLIN) {
                        r = handle_signal(s);
                        if (r < 0)
                                return r;
                }
                if (p[0].revents & POLLOUT) {
                        r = write_socket(s);
                        if (r < 0)
                                return r;
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = read_socket(s);
                        if (r < 0)
                                return r;
                        if (s->have_result)
                                return 0;
                }
                if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = read_stdin(s);
                        if (r < 0)
                                return r;
                }
                if (p[2].revents & POLLNVAL) {
                        s->stdin_open = false;
                        r = session_queue_frame(s, FRAME_STDIN_EOF, NULL, 0);
                        if (r < 0)
                                return r;
                }
        }
}

int session_connect(Session *s, const char *path) {
        s->connect_deadline = now_usec() + s->args->connect_timeout_usec;
        return connect_with_retry(path, s->args->connect_timeout_usec, s->sigfd, &s->sock);
}
