/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The output queue of a connection: frames appended whole, sent with MSG_DONTWAIT as the socket
 * takes them, and the write-stall deadline, re-armed whenever the client takes something. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "out-queue.h"
#include "protocol.h"

struct OutQueue {
        sd_event *event;
        int fd; /* not owned */
        uint8_t *buf;
        size_t size, off;
        bool dropped;
        sd_event_source *stall; /* armed while output waits and the client takes none */
        sd_event_source *linger;
        size_t lingered_bytes;
        out_queue_func_t stalled, lingered;
        void *userdata;
};

int out_queue_new(sd_event *e, int fd, out_queue_func_t stalled, out_queue_func_t lingered, void *userdata,
                  OutQueue **ret) {
        OutQueue *q;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->event = sd_event_ref(e);
        q->fd = fd;
        q->stalled = stalled;
        q->lingered = lingered;
        q->userdata = userdata;
        *ret = q;
        return 0;
}

OutQueue *out_queue_free(OutQueue *q) {
        if (!q)
                return NULL;
        sd_event_source_disable_unref(q->stall);
        sd_event_source_disable_unref(q->linger);
        sd_event_unref(q->event);
        free(q->buf);
        free(q);
        return NULL;
}

bool out_queue_pending(const OutQueue *q) {
        return q->off < q->size;
}

size_t out_queue_waiting(const OutQueue *q) {
        return q->size - q->off;
}

static int on_stall(sd_event_source *s, uint64_t usec, void *userdata) {
        OutQueue *q = userdata;

        q->stall = sd_event_source_disable_unref(q->stall);
        q->stalled(q->userdata);
        return 0;
}

/* (Re)arms the stall deadline after progress, or when output starts to wait; disarms it when
 * nothing waits. */
static void stall_update(OutQueue *q, bool progress) {
        int r;

        if (!out_queue_pending(q) || q->dropped) {
                q->stall = sd_event_source_disable_unref(q->stall);
                return;
        }
        if (q->stall && !progress)
                return;
        if (q->stall) {
                r = sd_event_source_set_time_relative(q->stall, WRITE_STALL_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(q->stall, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(q->event, &q->stall, CLOCK_MONOTONIC, WRITE_STALL_USEC,
                                               100 * 1000U, on_stall, q);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the write deadline: %m");
}

int out_queue_append(OutQueue *q, uint16_t type, const void *data, size_t size) {
        uint8_t *n;
        int r;

        if (q->dropped)
                return 0; /* nobody listens; the job's output is dropped */
        if (q->off == q->size)
                q->off = q->size = 0;
        n = realloc(q->buf, q->size + PW_FRAME_HEADER_SIZE + size);
        if (!n)
                return log_oom();
        q->buf = n;
        r = frame_encode(q->buf + q->size, PW_FRAME_HEADER_SIZE + size, type, data, size);
        if (r < 0)
                return log_error_errno(r, "Failed to encode a frame of type %u (%zu bytes): %m", type, size);
        q->size += (size_t) r;
        stall_update(q, false);
        return 0;
}

int out_queue_flush(OutQueue *q) {
        bool progress = false;

        while (out_queue_pending(q)) {
                ssize_t n = send(q->fd, q->buf + q->off, q->size - q->off, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                q->off += (size_t) n;
                progress = progress || n > 0;
        }
        stall_update(q, progress);
        if (!out_queue_pending(q))
                q->off = q->size = 0;
        return 0;
}

void out_queue_drop(OutQueue *q) {
        q->dropped = true;
        free(q->buf);
        q->buf = NULL;
        q->size = q->off = 0;
        q->stall = sd_event_source_disable_unref(q->stall);
}

static int on_linger_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        OutQueue *q = userdata;

        q->lingered(q->userdata);
        return 0;
}

void out_queue_linger(OutQueue *q) {
        int r;

        (void) shutdown(q->fd, SHUT_WR);
        r = sd_event_add_time_relative(q->event, &q->linger, CLOCK_MONOTONIC, LINGER_USEC, 0,
                                       on_linger_timeout, q);
        if (r < 0)
                q->lingered(q->userdata);
}

/* Reads and drops whatever the client still sends, until it closes (bounded in time and bytes). */
void out_queue_discard_input(OutQueue *q) {
        uint8_t buf[16384];

        for (;;) {
                ssize_t n = recv(q->fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0 || (q->lingered_bytes += (size_t) n) > LINGER_BYTES_MAX) {
                        q->lingered(q->userdata);
                        return;
                }
        }
}
