/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pipes between the client and the job, with backpressure both ways: client stdin waits while the
 * pipe is full, and the job's output waits (blocking the job) while the client is not reading. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "protocol.h"
#include "relay.h"

typedef struct RelayStream {
        int fd;
        sd_event_source *source;
        uint16_t frame_type;
        uint64_t emitted;
        bool eof;
        bool sync_pending; /* relay_sync(): not read until empty yet */
} RelayStream;

struct Relay {
        sd_event *event;
        const RelayOps *ops;
        void *userdata;
        uint64_t cap;

        int stdin_fd;
        sd_event_source *stdin_source;
        uint8_t *stdin_buf;
        size_t stdin_size, stdin_off;
        bool stdin_close_requested;

        RelayStream out[2];
        bool finishing;
        bool drained;
        bool capped;
        bool syncing;
        uint8_t chunk[PW_CHUNK_MAX];
};

static int make_pipe(int ret[2]) {
        if (pipe2(ret, O_CLOEXEC) < 0)
                return -errno;
        return 0;
}

static void stdin_close(Relay *r) {
        r->stdin_source = sd_event_source_disable_unref(r->stdin_source);
        r->stdin_fd = safe_close(r->stdin_fd);
        free(r->stdin_buf);
        r->stdin_buf = NULL;
        r->stdin_size = r->stdin_off = 0;
}

static void stream_close(RelayStream *s) {
        s->source = sd_event_source_disable_unref(s->source);
        s->fd = safe_close(s->fd);
        s->eof = true;
        s->sync_pending = false;
}

static void relay_check_synced(Relay *r) {
        if (!r->syncing || r->out[0].sync_pending || r->out[1].sync_pending)
                return;
        r->syncing = false;
        r->ops->event(r->userdata, RELAY_SYNCED);
}

static void relay_check_drained(Relay *r) {
        if (!r->finishing || r->drained || !r->out[0].eof || !r->out[1].eof)
                return;
        r->drained = true;
        r->ops->event(r->userdata, RELAY_DRAINED);
}

/* Reads and emits while the connection takes output. Returns <0 only on a relay failure. */
static void stream_pump(Relay *r, RelayStream *s) {
        while (!s->eof) {
                ssize_t n;

                if (!r->ops->can_emit(r->userdata)) {
                        /* Backpressure: stop reading; the job blocks once the pipe is full. */
                        if (s->source)
                                (void) sd_event_source_set_enabled(s->source, SD_EVENT_OFF);
                        return;
                }
                n = read(s->fd, r->chunk, sizeof(r->chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                s->sync_pending = false;
                                /* After the job is gone nothing more can arrive. */
                                if (r->finishing)
                                        stream_close(s);
                                else if (s->source)
                                        (void) sd_event_source_set_enabled(s->source, SD_EVENT_ON);
                                break;
                        }
                        log_warning_errno(errno, "Failed to read the job's output: %m");
                        stream_close(s);
                        break;
                }
                if (n == 0) {
                        stream_close(s);
                        break;
                }
                if (s->emitted + (uint64_t) n > r->cap) {
                        size_t part = (size_t) (r->cap - s->emitted);

                        /* Deliver exactly the cap, then nothing more from this stream. */
                        if (part > 0)
                                (void) r->ops->emit(r->userdata, s->frame_type, r->chunk, part);
                        s->emitted = r->cap;
                        stream_close(s);
                        if (!r->capped) {
                                r->capped = true;
                                r->ops->event(r->userdata, RELAY_OUTPUT_LIMIT);
                        }
                        break;
                }
                s->emitted += (uint64_t) n;
                if (r->ops->emit(r->userdata, s->frame_type, r->chunk, (size_t) n) < 0) {
                        stream_close(s);
                        break;
                }
        }
        relay_check_drained(r);
        relay_check_synced(r);
}

static int on_output(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Relay *r = userdata;

        for (size_t i = 0; i < ELEMENTSOF(r->out); i++)
                if (r->out[i].source == source)
                        stream_pump(r, &r->out[i]);
        return 0;
}

static void stdin_pump(Relay *r) {
        while (r->stdin_fd >= 0 && r->stdin_off < r->stdin_size) {
                ssize_t n = write(r->stdin_fd, r->stdin_buf + r->stdin_off, r->stdin_size - r->stdin_off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                (void) sd_event_source_set_enabled(r->stdin_source, SD_EVENT_ON);
                                return;
                        }
                        /* EPIPE: the job closed its stdin or is gone; the rest is dropped. */
                        if (errno != EPIPE)
                                log_warning_errno(errno, "Failed to write the job's stdin: %m");
                        stdin_close(r);
                        break;
                }
                r->stdin_off += (size_t) n;
        }
        free(r->stdin_buf);
        r->stdin_buf = NULL;
        r->stdin_size = r->stdin_off = 0;
        if (r->stdin_source)
                (void) sd_event_source_set_enabled(r->stdin_source, SD_EVENT_OFF);
        if (r->stdin_close_requested)
                stdin_close(r);
        r->ops->event(r->userdata, RELAY_STDIN_IDLE);
}

static int on_stdin(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        stdin_pump(userdata);
        return 0;
}

int relay_new(sd_event *e, uint64_t output_cap, const RelayOps *ops, void *userdata,
              int ret_job_fds[static 3], Relay **ret) {
        _cleanup_(relay_freep) Relay *r = NULL;
        int in[2] = { -EBADF, -EBADF }, out[2] = { -EBADF, -EBADF }, err[2] = { -EBADF, -EBADF };
        int q;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(e);
        r->ops = ops;
        r->userdata = userdata;
        r->cap = output_cap;
        r->stdin_fd = r->out[0].fd = r->out[1].fd = -EBADF;
        r->out[0].frame_type = FRAME_STDOUT;
        r->out[1].frame_type = FRAME_STDERR;

        q = make_pipe(in);
        if (q >= 0)
                q = make_pipe(out);
        if (q >= 0)
                q = make_pipe(err);
        if (q < 0) {
                safe_close(in[0]), safe_close(in[1]), safe_close(out[0]), safe_close(out[1]);
                safe_close(err[0]), safe_close(err[1]);
                return q;
        }
        r->stdin_fd = in[1];
        r->out[0].fd = out[0];
        r->out[1].fd = err[0];
        /* Our ends never block the event loop; the job's ends stay blocking, as programs expect. */
        if (fcntl(r->stdin_fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(r->out[0].fd, F_SETFL, O_NONBLOCK) < 0 ||
            fcntl(r->out[1].fd, F_SETFL, O_NONBLOCK) < 0)
                q = -errno;
        if (q >= 0)
                q = sd_event_add_io(e, &r->stdin_source, r->stdin_fd, EPOLLOUT, on_stdin, r);
        if (q >= 0)
                q = sd_event_source_set_enabled(r->stdin_source, SD_EVENT_OFF);
        for (size_t i = 0; q >= 0 && i < 2; i++)
                q = sd_event_add_io(e, &r->out[i].source, r->out[i].fd, EPOLLIN, on_output, r);
        if (q < 0) {
                safe_close(in[0]), safe_close(out[1]), safe_close(err[1]);
                return q;
        }
        ret_job_fds[0] = in[0];
        ret_job_fds[1] = out[1];
        ret_job_fds[2] = err[1];
        *ret = TAKE_PTR(r);
        return 0;
}

Relay *relay_free(Relay *r) {
        if (!r)
                return NULL;
        stdin_close(r);
        for (size_t i = 0; i < ELEMENTSOF(r->out); i++)
                stream_close(&r->out[i]);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

int relay_write_stdin(Relay *r, const void *data, size_t size) {
        if (r->stdin_fd < 0 || size == 0)
                return 0; /* the job closed its stdin (or we did): drop */
        if (r->stdin_buf)
                return -EBUSY; /* the connection does not read while busy */
        r->stdin_buf = malloc(size);
        if (!r->stdin_buf)
                return -ENOMEM;
        memcpy(r->stdin_buf, data, size);
        r->stdin_size = size;
        r->stdin_off = 0;
        stdin_pump(r);
        return 0;
}

bool relay_stdin_busy(const Relay *r) {
        return r->stdin_buf != NULL;
}

void relay_close_stdin(Relay *r) {
        r->stdin_close_requested = true;
        if (!r->stdin_buf)
                stdin_close(r);
}

void relay_resume(Relay *r) {
        for (size_t i = 0; i < ELEMENTSOF(r->out); i++)
                if (!r->out[i].eof)
                        stream_pump(r, &r->out[i]);
}

void relay_finish(Relay *r) {
        r->finishing = true;
        /* Nobody reads the job's stdin anymore. */
        stdin_close(r);
        relay_resume(r);
        relay_check_drained(r);
}

void relay_sync(Relay *r) {
        r->syncing = true;
        for (size_t i = 0; i < ELEMENTSOF(r->out); i++)
                r->out[i].sync_pending = !r->out[i].eof;
        relay_resume(r);
        relay_check_synced(r);
}
