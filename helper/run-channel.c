/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's end of the runner channel: one non-blocking socket, written by the ChannelWriter
 * and read in chunks into the ChannelReader (channel.c checks every byte); its events become the
 * client's FILE_OUT, FILE_OUT_DATA and FILE_SKIPPED frames, one at a time while the client reads. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "log.h"
#include "run-channel.h"

#define CHANNEL_READ_MAX (64U * 1024U)

struct RunChannel {
        sd_event *event;
        const RunChannelOps *ops;
        void *userdata;
        ChannelBounds bounds;
        ChannelMode mode;

        int fd;
        sd_event_source *source;
        ChannelWriter *writer;
        bool write_pending;
        bool stop_sent;

        ChannelReader *reader;
        uint8_t in[CHANNEL_READ_MAX];
        size_t in_size, in_off;
        bool paused;    /* the client takes no more output for now */
        bool eof;       /* nothing more is read: EOF, an error, a violation, or the job gone */
        bool finishing; /* the job is gone: what is in the socket is all there is */
        bool drained;
        bool done;          /* CH_DONE (or CH_INFO) arrived */
        const char *broken; /* the violation, static */

        /* The file being relayed: if the channel ends inside it, the client still gets exactly
         * size bytes (zeros) and then a FILE_SKIPPED of its path. */
        bool in_file;
        char path[PW_PATH_MAX];
        size_t path_size;
        uint64_t size, sent;
        uint64_t pad;  /* zeros still owed */
        bool pad_skip; /* the FILE_SKIPPED after the zeros is owed */

        uint64_t files_out, files_out_bytes, skipped, skipped_listed;
        /* A session: the same counts for the running cell (the listing cap is per cell too),
         * and whether its output was synced before its first message. */
        uint64_t cell_files_out, cell_files_out_bytes, cell_skipped;
        bool cell_synced;
};

static const uint8_t zeros[PW_CHUNK_MAX];

static void channel_broke(RunChannel *c, const char *why);

static void channel_update_io(RunChannel *c) {
        uint32_t events = 0;

        if (!c->source)
                return;
        if (!c->eof && !c->paused)
                events |= EPOLLIN;
        if (c->write_pending)
                events |= EPOLLOUT;
        if (events == 0) {
                (void) sd_event_source_set_enabled(c->source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(c->source, events);
        (void) sd_event_source_set_enabled(c->source, SD_EVENT_ON);
}

static void channel_flush(RunChannel *c) {
        int r;

        if (!c->write_pending)
                return;
        r = channel_writer_flush(c->writer);
        if (r == 0)
                return;
        c->write_pending = false;
        if (r < 0 && r != -EPIPE)
                log_warning_errno(r, "Failed to write to the job's runner: %m");
}

/* Emits a frame built by a wire encoder (file_header_append() etc.): its payload, without the
 * header the encoder put in front. */
static int emit_built(RunChannel *c, const Buffer *b) {
        uint16_t type;

        if (b->size < PW_FRAME_HEADER_SIZE)
                return -EINVAL;
        type = (uint16_t) (b->data[0] | (b->data[1] << 8));
        return c->ops->emit(c->userdata, type, b->data + PW_FRAME_HEADER_SIZE,
                            b->size - PW_FRAME_HEADER_SIZE);
}

/* The last of the PW_SKIPPED_LISTED_MAX listed places is kept for a file the channel ended inside
 * (cut: true): the client must learn that the file it was given is not the job's. */
static void emit_skipped(RunChannel *c, FileSkipReason reason, const char *path, size_t path_size, bool cut) {
        _cleanup_(buffer_done) Buffer b = {};

        c->skipped++;
        c->cell_skipped++;
        if (c->skipped_listed >= PW_SKIPPED_LISTED_MAX - (cut ? 0 : 1))
                return; /* counted only */
        if (file_skipped_append(&b, reason, path, path_size) < 0 || emit_built(c, &b) < 0) {
                log_oom();
                return;
        }
        c->skipped_listed++;
}

static void emit_file(RunChannel *c, const ChannelEvent *ev) {
        _cleanup_(buffer_done) Buffer b = {};

        if (ev->path_size > sizeof(c->path)) {
                channel_broke(c, "a path longer than allowed");
                return;
        }
        c->in_file = true;
        memcpy(c->path, ev->path, ev->path_size);
        c->path_size = ev->path_size;
        c->size = ev->size;
        c->sent = 0;
        if (file_header_append(&b, FRAME_FILE_OUT, ev->mode, ev->size, ev->path, ev->path_size) < 0 ||
            emit_built(c, &b) < 0)
                log_oom();
}

/* The channel ends with no more from the runner: a file it was in the middle of is completed with
 * zeros and listed as skipped, so that the client's stream of frames stays well-formed. */
static void channel_end(RunChannel *c) {
        c->eof = true;
        if (c->in_file) {
                c->in_file = false;
                c->pad = c->size - c->sent;
                c->pad_skip = true;
        }
}

static void channel_broke(RunChannel *c, const char *why) {
        if (c->broken)
                return;
        c->broken = why ?: "unknown violation";
        log_warning("The job's runner broke the channel (%s); reading nothing more from it.", c->broken);
        c->in_size = c->in_off = 0;
        /* The runner's further writes fail (EPIPE) instead of blocking it; CH_STOP can still go. */
        (void) shutdown(c->fd, SHUT_RD);
        channel_end(c);
        if (c->mode == CHANNEL_MODE_SESSION && !c->finishing && c->ops->broken)
                c->ops->broken(c->userdata, c->broken);
}

static void handle_event(RunChannel *c, const ChannelEvent *ev) {
        switch (ev->type) {
        case CHANNEL_EVENT_NONE:
                break;
        case CHANNEL_EVENT_FILE:
                emit_file(c, ev);
                break;
        case CHANNEL_EVENT_FILE_DATA:
                if (!c->in_file || ev->data_size == 0 || ev->data_size > c->size - c->sent) {
                        channel_broke(c, "file data outside a file");
                        break;
                }
                c->sent += ev->data_size;
                (void) c->ops->emit(c->userdata, FRAME_FILE_OUT_DATA, ev->data, ev->data_size);
                break;
        case CHANNEL_EVENT_FILE_END:
                if (!c->in_file || c->sent != c->size) {
                        channel_broke(c, "a file ended before its size");
                        break;
                }
                c->in_file = false;
                c->files_out++;
                c->files_out_bytes += c->size;
                c->cell_files_out++;
                c->cell_files_out_bytes += c->size;
                break;
        case CHANNEL_EVENT_SKIPPED:
                emit_skipped(c, ev->reason, ev->path, ev->path_size, false);
                break;
        case CHANNEL_EVENT_DONE:
                c->done = true;
                c->skipped += ev->count;
                break;
        case CHANNEL_EVENT_CELL_RESULT:
                if (c->ops->cell_result)
                        c->ops->cell_result(c->userdata, ev->data, ev->data_size);
                break;
        case CHANNEL_EVENT_INFO:
                c->done = true;
                if (c->ops->info)
                        c->ops->info(c->userdata, ev->data, ev->data_size);
                break;
        }
}

static void channel_check_drained(RunChannel *c) {
        if (!c->finishing || c->drained || !c->eof || c->pad > 0 || c->pad_skip)
                return;
        c->drained = true;
        c->ops->drained(c->userdata);
}

/* What is owed after the channel ended inside a file. Returns false while it waits for the client. */
static bool pump_padding(RunChannel *c) {
        while (c->pad > 0) {
                size_t n = c->pad < sizeof(zeros) ? (size_t) c->pad : sizeof(zeros);

                if (!c->ops->can_emit(c->userdata))
                        return false;
                (void) c->ops->emit(c->userdata, FRAME_FILE_OUT_DATA, zeros, n);
                c->pad -= n;
        }
        if (c->pad_skip) {
                if (!c->ops->can_emit(c->userdata))
                        return false;
                c->pad_skip = false;
                emit_skipped(c, c->stop_sent ? FILE_SKIP_TIME : FILE_SKIP_UNREADABLE, c->path, c->path_size,
                             true);
        }
        return true;
}

/* Reads and emits while the client takes output; every event emits at most one frame. */
static void channel_pump(RunChannel *c) {
        c->paused = false;
        for (;;) {
                ChannelEvent ev = {};
                const char *why = NULL;
                ssize_t n;

                if (c->eof) {
                        if (!pump_padding(c))
                                return;
                        break;
                }
                if (!c->ops->can_emit(c->userdata)) {
                        /* Backpressure: the runner blocks once the socket is full. */
                        c->paused = true;
                        channel_update_io(c);
                        return;
                }
                if (c->in_off < c->in_size && c->mode == CHANNEL_MODE_SESSION && !c->cell_synced) {
                        /* The cell's first message: its output first. */
                        if (c->ops->sync && !c->ops->sync(c->userdata)) {
                                c->paused = true;
                                channel_update_io(c);
                                return;
                        }
                        c->cell_synced = true;
                }
                if (c->in_off < c->in_size) {
                        n = channel_reader_feed(c->reader, c->in + c->in_off, c->in_size - c->in_off, &ev,
                                                &why);
                        if (n < 0) {
                                channel_broke(c, why);
                                continue;
                        }
                        c->in_off += (size_t) n;
                        handle_event(c, &ev);
                        if (n == 0 && ev.type == CHANNEL_EVENT_NONE)
                                c->in_off = c->in_size; /* cannot happen: the reader takes what it gets */
                        continue;
                }
                n = read(c->fd, c->in, sizeof(c->in));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                if (!c->finishing) {
                                        channel_update_io(c);
                                        return;
                                }
                                /* After the job is gone nothing more can arrive. */
                                channel_end(c);
                                continue;
                        }
                        log_warning_errno(errno, "Failed to read from the job's runner: %m");
                        channel_end(c);
                        continue;
                }
                if (n == 0) {
                        channel_end(c);
                        continue;
                }
                c->in_size = (size_t) n;
                c->in_off = 0;
        }
        channel_update_io(c);
        channel_check_drained(c);
}

static int on_channel(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RunChannel *c = userdata;

        if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                channel_flush(c);
        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
                channel_pump(c);
        else
                channel_update_io(c);
        return 0;
}

/* Our end of the channel is fd (taken, whatever happens): non-blocking, watched. */
static int run_channel_make(sd_event *e, const uint64_t *limits, ChannelMode mode, const RunChannelOps *ops,
                            void *userdata, int fd, RunChannel **ret) {
        _cleanup_(run_channel_freep) RunChannel *c = NULL;
        int q;

        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->event = sd_event_ref(e);
        c->ops = ops;
        c->userdata = userdata;
        c->mode = mode;
        c->fd = fd;
        c->bounds = (ChannelBounds) {
                .files_out = limits[LIMIT_FILES_OUT],
                .files_out_bytes = limits[LIMIT_FILES_OUT_BYTES],
                .file_out_size = limits[LIMIT_FILE_OUT_SIZE],
                .depth = limits[LIMIT_FILES_OUT_DEPTH],
                .collect_usec = limits[LIMIT_FILES_OUT_TIME],
        };
        /* Our end never blocks the event loop; the runner's stays blocking. */
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        q = channel_reader_new(&c->bounds, mode, &c->reader);
        if (q >= 0)
                q = channel_writer_new(c->fd, &c->writer);
        if (q >= 0)
                q = sd_event_add_io(e, &c->source, c->fd, EPOLLIN, on_channel, c);
        if (q < 0)
                return q;
        *ret = TAKE_PTR(c);
        return 0;
}

int run_channel_new(sd_event *e, const uint64_t *limits, ChannelMode mode, const RunChannelOps *ops,
                    void *userdata, int *ret_job_fd, RunChannel **ret) {
        int sv[2], q;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        q = run_channel_make(e, limits, mode, ops, userdata, sv[0], ret);
        if (q < 0) {
                safe_close(sv[1]);
                return q;
        }
        *ret_job_fd = sv[1];
        return 0;
}

int run_channel_new_connected(sd_event *e, const uint64_t *limits, const RunChannelOps *ops, void *userdata,
                              int fd, RunChannel **ret) {
        return run_channel_make(e, limits, CHANNEL_MODE_JOB, ops, userdata, fd, ret);
}

int run_channel_send_warm(RunChannel *c, int stdout_fd, int stderr_fd, uint64_t cpu_seconds,
                          uint64_t wall_usec, uint64_t nproc) {
        _cleanup_(buffer_done) Buffer out = {}, err = {}, lim = {};
        int q;

        q = channel_stdio_append(&out, CH_STDIO_STDOUT);
        if (q >= 0)
                q = channel_stdio_append(&err, CH_STDIO_STDERR);
        if (q >= 0)
                q = channel_limits_append(&lim, cpu_seconds, wall_usec, nproc);
        if (q >= 0)
                q = channel_writer_queue(c->writer, &out, stdout_fd, 0);
        if (q >= 0)
                q = channel_writer_queue(c->writer, &err, stderr_fd, 0);
        if (q >= 0)
                q = channel_writer_queue(c->writer, &lim, -EBADF, 0);
        if (q < 0)
                return q;
        c->write_pending = true;
        channel_flush(c);
        channel_update_io(c);
        return 0;
}

RunChannel *run_channel_free(RunChannel *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->source);
        channel_writer_free(c->writer);
        channel_reader_free(c->reader);
        safe_close(c->fd);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

int run_channel_send_request(RunChannel *c, const Request *req, int stdin_fd) {
        _cleanup_(buffer_done) Buffer b = {};
        uint32_t flags = 0;
        size_t go = 0;
        int q;

        if (c->mode == CHANNEL_MODE_DISCOVER)
                flags |= CH_GO_DISCOVER;
        else if (c->mode == CHANNEL_MODE_SESSION)
                flags |= CH_GO_SESSION;
        else if (req->collect)
                flags |= CH_GO_COLLECT;
        q = channel_request_append(&b, req, &c->bounds, flags, &go);
        if (q >= 0)
                q = channel_writer_queue(c->writer, &b, stdin_fd, go);
        if (q < 0)
                return q;
        c->write_pending = true;
        channel_flush(c);
        channel_update_io(c);
        return 0;
}

void run_channel_stop(RunChannel *c) {
        _cleanup_(buffer_done) Buffer b = {};

        if (c->stop_sent || c->finishing)
                return;
        c->stop_sent = true;
        if (channel_stop_append(&b) < 0 || channel_writer_queue(c->writer, &b, -EBADF, 0) < 0) {
                log_oom();
                return;
        }
        c->write_pending = true;
        channel_flush(c);
        channel_update_io(c);
}

static int channel_queue(RunChannel *c, Buffer *b) {
        int q;

        if (c->finishing)
                return -ESHUTDOWN;
        q = channel_writer_queue(c->writer, b, -EBADF, 0);
        if (q < 0)
                return q;
        c->write_pending = true;
        channel_flush(c);
        channel_update_io(c);
        return 0;
}

int run_channel_send_cell(RunChannel *c, const RequestFile *files, size_t n_files, uint32_t ch_flags,
                          uint64_t cell, const char *code, size_t code_size) {
        _cleanup_(buffer_done) Buffer b = {};
        int q;

        q = channel_cell_append(&b, files, n_files, ch_flags, cell, code, code_size);
        if (q < 0)
                return q;
        channel_reader_cell_start(c->reader);
        c->cell_files_out = c->cell_files_out_bytes = c->cell_skipped = 0;
        c->skipped_listed = 0;
        c->cell_synced = false;
        return channel_queue(c, &b);
}

int run_channel_send_interrupt(RunChannel *c) {
        _cleanup_(buffer_done) Buffer b = {};
        int q;

        q = channel_interrupt_append(&b);
        return q < 0 ? q : channel_queue(c, &b);
}

int run_channel_send_end(RunChannel *c) {
        _cleanup_(buffer_done) Buffer b = {};
        int q;

        q = channel_end_append(&b);
        return q < 0 ? q : channel_queue(c, &b);
}

int run_channel_cell_files(const RunChannel *c, CellResult *r) {
        r->files_reported = true;
        r->files_out = c->cell_files_out;
        r->files_out_bytes = c->cell_files_out_bytes;
        r->files_skipped = c->cell_skipped;
        free(r->files_note);
        r->files_note = NULL;
        if (c->broken && asprintf(&r->files_note, "the runner broke the channel: %s", c->broken) < 0)
                return -ENOMEM;
        return 0;
}

void run_channel_resume(RunChannel *c) {
        if (!c->drained)
                channel_pump(c);
}

void run_channel_finish(RunChannel *c) {
        c->finishing = true;
        /* Nobody reads the request any more. */
        c->write_pending = false;
        channel_pump(c);
}

int run_channel_result(const RunChannel *c, JobStatus status, bool grace_ran_out, JobResult *r) {
        char *note = NULL;
        int n = 0;

        r->files_reported = true;
        r->files_out = c->files_out;
        r->files_out_bytes = c->files_out_bytes;
        r->files_skipped = c->skipped;
        if (c->broken)
                n = asprintf(&note, "the runner broke the channel: %s", c->broken);
        else if (c->done)
                note = NULL;
        else if (status == JOB_OOM || status == JOB_KILLED)
                n = asprintf(&note, "the job ended by %s: %s", job_status_to_string(status),
                             c->files_out + c->skipped == 0 ? "no files are collected"
                                                            : "the files are incomplete");
        else if (grace_ran_out)
                note = strdup("the collection's time ran out");
        else
                n = asprintf(&note, "the job ended (%s) before its files were returned",
                             job_status_to_string(status) ?: "unknown");
        if (n < 0 || (!note && !c->done && !c->broken))
                return -ENOMEM;
        free(r->files_note);
        r->files_note = note;
        return 0;
}
