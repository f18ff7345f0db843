/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the helper's end of the runner channel with a fake runner on the far end of the socket:
 * the request and the stdin fd it carries, files relayed as frames, the listing cap, a channel
 * that ends inside a file (padded and listed), a violation, backpressure and the notes. */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "run-channel.h"
#include "test.h"

typedef struct Sink {
        Buffer frames; /* what was emitted, each as a whole frame (type, 0, length, payload) */
        size_t n_frames;
        bool blocked; /* can_emit() says no */
        bool drained;
        char info[64];
        bool sync_ok;       /* a session's sync(): the cell's output is emitted */
        unsigned syncs;     /* sync() calls */
        char cell[64];      /* the last CH_CELL_RESULT payload */
        unsigned n_results; /* cell_result() calls */
        size_t frames_at_result;
        unsigned broken; /* a session's broken() calls */
} Sink;

static int sink_emit(void *userdata, uint16_t type, const void *data, size_t size) {
        Sink *s = userdata;
        uint8_t h[8] = {
                type & 0xff, type >> 8, 0, 0, size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, 0
        };

        assert_se(!s->blocked);
        assert_se(buffer_append(&s->frames, h, sizeof(h)) == 0);
        assert_se(buffer_append(&s->frames, data, size) == 0);
        s->n_frames++;
        return 0;
}

static bool sink_can_emit(void *userdata) {
        return !((Sink *) userdata)->blocked;
}

static void sink_info(void *userdata, const void *data, size_t size) {
        Sink *s = userdata;

        assert_se(size < sizeof(s->info));
        memcpy(s->info, data, size);
}

static void sink_drained(void *userdata) {
        ((Sink *) userdata)->drained = true;
}

static bool sink_sync(void *userdata) {
        Sink *s = userdata;

        s->syncs++;
        return s->sync_ok;
}

static void sink_cell_result(void *userdata, const void *data, size_t size) {
        Sink *s = userdata;

        assert_se(size < sizeof(s->cell));
        memcpy(s->cell, data, size);
        s->cell[size] = '\0';
        s->n_results++;
        s->frames_at_result = s->n_frames;
}

static void sink_broken(void *userdata, const char *why) {
        assert_se(why);
        ((Sink *) userdata)->broken++;
}

static const RunChannelOps ops = {
        .emit = sink_emit,
        .can_emit = sink_can_emit,
        .info = sink_info,
        .drained = sink_drained,
        .sync = sink_sync,
        .cell_result = sink_cell_result,
        .broken = sink_broken,
};

/* One runner -> helper message. */
static void ch_send(int fd, uint8_t type, const void *payload, size_t size) {
        uint8_t h[8] = { type, 0, 0, 0, size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, 0 };

        assert_se(write(fd, h, sizeof(h)) == (ssize_t) sizeof(h));
        if (size > 0)
                assert_se(write(fd, payload, size) == (ssize_t) size);
}

static void ch_file(int fd, uint32_t mode, uint64_t size, const char *path) {
        uint8_t p[12 + 64];
        size_t n = strlen(path);

        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (mode >> (8 * i));
        for (int i = 0; i < 8; i++)
                p[4 + i] = (uint8_t) (size >> (8 * i));
        memcpy(p + 12, path, n);
        ch_send(fd, CH_FILE_OUT, p, 12 + n);
}

static void ch_skipped(int fd, uint32_t reason, const char *path) {
        uint8_t p[4 + 64] = { (uint8_t) reason };
        size_t n = strlen(path);

        memcpy(p + 4, path, n);
        ch_send(fd, CH_SKIPPED, p, 4 + n);
}

static void ch_done(int fd, uint64_t count) {
        uint8_t p[8];

        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (count >> (8 * i));
        ch_send(fd, CH_DONE, p, sizeof(p));
}

/* Runs the loop until the channel is drained (after run_channel_finish()) or nothing happens. */
static void loop(sd_event *e, Sink *s) {
        for (int i = 0; i < 20 && !s->drained; i++)
                assert_se(sd_event_run(e, 10 * 1000) >= 0);
}

/* The i-th emitted frame's type, payload and size. */
static uint16_t frame_at(const Sink *s, size_t i, const uint8_t **ret_payload, size_t *ret_size) {
        const uint8_t *p = s->frames.data;

        for (;;) {
                size_t len = p[4] | (p[5] << 8) | ((size_t) p[6] << 16);

                if (i-- == 0) {
                        *ret_payload = p + 8;
                        *ret_size = len;
                        return (uint16_t) (p[0] | (p[1] << 8));
                }
                p += 8 + len;
        }
}

static uint64_t limits_default[_LIMIT_MAX] = {
        [LIMIT_FILES_OUT] = 100,      [LIMIT_FILES_OUT_BYTES] = 1 << 20, [LIMIT_FILE_OUT_SIZE] = 1 << 20,
        [LIMIT_FILES_OUT_DEPTH] = 16, [LIMIT_FILES_OUT_TIME] = 2000000,
};

static void test_request_and_files(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(run_channel_freep) RunChannel *c = NULL;
        _cleanup_(buffer_done) Buffer got = {};
        JobResult r = {};
        Request req = { .code = (char *) "print(1)", .code_size = 8, .collect = true };
        Sink s = {};
        int job_fd = -EBADF, pipefd[2], stdin_fd = -EBADF;
        const uint8_t *p;
        size_t n;

        assert_se(sd_event_new(&e) >= 0);
        assert_se(pipe2(pipefd, O_CLOEXEC) == 0);
        assert_se(run_channel_new(e, limits_default, CHANNEL_MODE_JOB, &ops, &s, &job_fd, &c) == 0);
        assert_se(run_channel_send_request(c, &req, pipefd[0]) == 0);
        close(pipefd[0]);

        /* The runner's end gets the request, CH_GO last, with the stdin pipe's read end. */
        for (;;) {
                uint8_t buf[4096];
                char control[CMSG_SPACE(sizeof(int))];
                struct iovec iov = { buf, sizeof(buf) };
                struct msghdr mh = { .msg_iov = &iov,
                                     .msg_iovlen = 1,
                                     .msg_control = control,
                                     .msg_controllen = sizeof(control) };
                ssize_t k;

                (void) sd_event_run(e, 0);
                k = recvmsg(job_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (k < 0 && errno == EAGAIN)
                        break;
                assert_se(k > 0);
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                                memcpy(&stdin_fd, CMSG_DATA(cm), sizeof(int));
                assert_se(buffer_append(&got, buf, (size_t) k) == 0);
        }
        assert_se(got.size > 8 && got.data[0] == CH_CODE);
        assert_se(stdin_fd >= 0);
        assert_se(write(pipefd[1], "x", 1) == 1);
        {
                char x = 0;
                assert_se(read(stdin_fd, &x, 1) == 1 && x == 'x'); /* the very pipe */
        }
        close(stdin_fd);
        close(pipefd[1]);

        /* The runner's files: one returned, one skipped, DONE with 5 left out unlisted. */
        ch_file(job_fd, 0644, 3, "dir/a.txt");
        ch_send(job_fd, CH_FILE_OUT_DATA, "abc", 3);
        ch_skipped(job_fd, FILE_SKIP_SYMLINK, "link");
        ch_done(job_fd, 5);
        close(job_fd);
        loop(e, &s);
        assert_se(!s.drained); /* not before the job is gone */
        run_channel_finish(c);
        loop(e, &s);
        assert_se(s.drained);
        assert_int(s.n_frames, ==, 3);
        assert_int(frame_at(&s, 0, &p, &n), ==, FRAME_FILE_OUT);
        assert_int(n, ==, 12 + 9);
        assert_se(p[0] == 0xa4 && p[1] == 0x01 && p[4] == 3 && memcmp(p + 12, "dir/a.txt", 9) == 0);
        assert_int(frame_at(&s, 1, &p, &n), ==, FRAME_FILE_OUT_DATA);
        assert_se(n == 3 && memcmp(p, "abc", 3) == 0);
        assert_int(frame_at(&s, 2, &p, &n), ==, FRAME_FILE_SKIPPED);
        assert_se(n == 8 && p[0] == FILE_SKIP_SYMLINK && memcmp(p + 4, "link", 4) == 0);
        assert_se(run_channel_result(c, JOB_OK, false, &r) == 0);
        assert_se(r.files_reported);
        assert_int(r.files_out, ==, 1);
        assert_int(r.files_out_bytes, ==, 3);
        assert_int(r.files_skipped, ==, 6);
        assert_se(!r.files_note);
        buffer_done(&s.frames);
}

/* The runner is killed inside a file: the client still gets its announced size (zeros after what
 * came), then the file listed as skipped; and more skips than PW_SKIPPED_LISTED_MAX are counted. */
static void test_cut_inside_a_file(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(run_channel_freep) RunChannel *c = NULL;
        JobResult r = {};
        Sink s = {};
        uint64_t data = 0;
        int job_fd = -EBADF;
        const uint8_t *p;
        size_t n;

        assert_se(sd_event_new(&e) >= 0);
        assert_se(run_channel_new(e, limits_default, CHANNEL_MODE_JOB, &ops, &s, &job_fd, &c) == 0);
        for (unsigned i = 0; i < PW_SKIPPED_LISTED_MAX + 20; i++)
                ch_skipped(job_fd, FILE_SKIP_FIFO, "f");
        ch_file(job_fd, 0600, 200000, "big");
        ch_send(job_fd, CH_FILE_OUT_DATA, "0123456789", 10);
        close(job_fd);
        /* The client takes nothing for a while: nothing is emitted, nothing is lost. */
        s.blocked = true;
        run_channel_stop(c); /* the runner is gone: nothing to write it to, and no harm */
        run_channel_finish(c);
        loop(e, &s);
        assert_se(!s.drained && s.n_frames == 0);
        s.blocked = false;
        run_channel_resume(c);
        loop(e, &s);
        assert_se(s.drained);
        /* 99 of the runner's skips listed: the last place is the cut file's. */
        assert_int(s.n_frames, ==, PW_SKIPPED_LISTED_MAX - 1 + 1 + 5 + 1);
        assert_int(frame_at(&s, PW_SKIPPED_LISTED_MAX - 1, &p, &n), ==, FRAME_FILE_OUT);
        for (size_t i = PW_SKIPPED_LISTED_MAX; i < s.n_frames - 1; i++) {
                assert_int(frame_at(&s, i, &p, &n), ==, FRAME_FILE_OUT_DATA);
                if (data == 0)
                        assert_se(n == 10 && memcmp(p, "0123456789", 10) == 0);
                else
                        assert_se(p[0] == 0 && p[n - 1] == 0);
                data += n;
        }
        assert_int(data, ==, 200000);
        /* After the stop the channel's end is the grace's: listed as "time". */
        assert_int(frame_at(&s, s.n_frames - 1, &p, &n), ==, FRAME_FILE_SKIPPED);
        assert_se(n == 7 && p[0] == FILE_SKIP_TIME && memcmp(p + 4, "big", 3) == 0);
        assert_se(run_channel_result(c, JOB_TIMEOUT, true, &r) == 0);
        assert_int(r.files_out, ==, 0);
        assert_int(r.files_skipped, ==, PW_SKIPPED_LISTED_MAX + 20 + 1);
        assert_streq(r.files_note, "the collection's time ran out");
        job_result_done(&r);
        r = (JobResult) {};
        assert_se(run_channel_result(c, JOB_OOM, false, &r) == 0);
        assert_streq(r.files_note, "the job ended by oom: the files are incomplete");
        job_result_done(&r);
        buffer_done(&s.frames);
}

/* Bytes that break the framing: reading stops, the note says why; an OOM before any file. */
static void test_violation(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(run_channel_freep) RunChannel *c = NULL;
        JobResult r = {};
        Sink s = {};
        int job_fd = -EBADF;

        assert_se(sd_event_new(&e) >= 0);
        assert_se(run_channel_new(e, limits_default, CHANNEL_MODE_JOB, &ops, &s, &job_fd, &c) == 0);
        ch_send(job_fd, CH_CODE, "x", 1); /* a helper -> runner type */
        loop(e, &s);
        run_channel_finish(c);
        loop(e, &s);
        assert_se(s.drained && s.n_frames == 0);
        assert_int(s.broken, ==, 0); /* a job goes on: only a session is stopped */
        assert_se(run_channel_result(c, JOB_OK, false, &r) == 0);
        assert_se(r.files_note && strncmp(r.files_note, "the runner broke the channel: ", 30) == 0);
        job_result_done(&r);
        close(job_fd);

        c = run_channel_free(c);
        s = (Sink) {};
        assert_se(run_channel_new(e, limits_default, CHANNEL_MODE_JOB, &ops, &s, &job_fd, &c) == 0);
        close(job_fd);
        run_channel_finish(c);
        loop(e, &s);
        assert_se(s.drained);
        r = (JobResult) {};
        assert_se(run_channel_result(c, JOB_OOM, false, &r) == 0);
        assert_streq(r.files_note, "the job ended by oom: no files are collected");
        job_result_done(&r);
}

/* A discovery run: CH_INFO goes to info(), and no file is expected. */
static void test_info(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(run_channel_freep) RunChannel *c = NULL;
        Sink s = {};
        int job_fd = -EBADF;

        assert_se(sd_event_new(&e) >= 0);
        assert_se(run_channel_new(e, limits_default, CHANNEL_MODE_DISCOVER, &ops, &s, &job_fd, &c) == 0);
        ch_send(job_fd, CH_INFO, "python=3.11.2\n", 14);
        close(job_fd);
        run_channel_finish(c);
        loop(e, &s);
        assert_se(s.drained && s.n_frames == 0);
        assert_streq(s.info, "python=3.11.2\n");
}

/* What the helper wrote to the runner's end so far, as it arrives. */
static void ch_read_all(sd_event *e, int job_fd, Buffer *got) {
        for (int i = 0; i < 5; i++) {
                uint8_t buf[4096];
                ssize_t k;

                (void) sd_event_run(e, 1000);
                while ((k = recv(job_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                        assert_se(buffer_append(got, buf, (size_t) k) == 0);
        }
}

/* The i-th message in what the runner got: its type, payload and size. */
static uint8_t ch_at(const Buffer *b, size_t i, const uint8_t **ret_payload, size_t *ret_size) {
        size_t off = 0;

        for (;;) {
                size_t len;

                assert_se(off + 8 <= b->size);
                len = b->data[off + 4] | (b->data[off + 5] << 8) | ((size_t) b->data[off + 6] << 16);
                if (i-- == 0) {
                        *ret_payload = b->data + off + 8;
                        *ret_size = len;
                        return b->data[off];
                }
                off += 8 + len;
        }
}

static void loop_a_while(sd_event *e) {
        for (int i = 0; i < 5; i++)
                assert_se(sd_event_run(e, 2000) >= 0);
}

/* A session: GO with CH_GO_SESSION; per cell its files and CH_CELL; the cell's first message
 * waits for sync() (its output first), files are relayed and counted per cell, CH_CELL_RESULT
 * goes to cell_result(); a result no cell was sent for breaks the channel. */
static void test_session(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(run_channel_freep) RunChannel *c = NULL;
        _cleanup_(buffer_done) Buffer got = {};
        Request req = { .session = true };
        RequestFile in = { .path = (char *) "in.txt", .data = (uint8_t *) "hi", .size = 2, .data_size = 2 };
        CellResult r = {};
        Sink s = {};
        int job_fd = -EBADF, pipefd[2];
        const uint8_t *p;
        size_t n;

        assert_se(sd_event_new(&e) >= 0);
        assert_se(pipe2(pipefd, O_CLOEXEC) == 0);
        assert_se(run_channel_new(e, limits_default, CHANNEL_MODE_SESSION, &ops, &s, &job_fd, &c) == 0);
        assert_se(run_channel_send_request(c, &req, pipefd[0]) == 0);
        close(pipefd[0]);
        close(pipefd[1]);
        ch_read_all(e, job_fd, &got);
        /* CODE (empty), FILENAME, BOUNDS, GO */
        assert_int(ch_at(&got, 0, &p, &n), ==, CH_CODE);
        assert_int(n, ==, 0);
        assert_int(ch_at(&got, 3, &p, &n), ==, CH_GO);
        assert_se(n == 8 && p[4] == CH_GO_SESSION);
        got.size = 0;

        /* Cell 1, with an input file and COLLECT. */
        assert_se(run_channel_send_cell(c, &in, 1, CH_CELL_COLLECT, 1, "x = 1", 5) == 0);
        ch_read_all(e, job_fd, &got);
        assert_int(ch_at(&got, 0, &p, &n), ==, CH_FILE);
        assert_se(n == 12 + 6 && memcmp(p + 12, "in.txt", 6) == 0);
        assert_int(ch_at(&got, 1, &p, &n), ==, CH_FILE_DATA);
        assert_se(n == 2 && memcmp(p, "hi", 2) == 0);
        assert_int(ch_at(&got, 2, &p, &n), ==, CH_CELL);
        assert_se(n == 8 + 5 && p[0] == CH_CELL_COLLECT && p[4] == 1 && memcmp(p + 8, "x = 1", 5) == 0);
        got.size = 0;

        /* Its output is not synced yet: nothing of the runner's is read. */
        ch_file(job_fd, 0600, 2, "out.txt");
        ch_send(job_fd, CH_FILE_OUT_DATA, "ok", 2);
        ch_send(job_fd, CH_CELL_RESULT, "status=ok\n", 10);
        loop_a_while(e);
        assert_se(s.syncs >= 1);
        assert_int(s.n_frames, ==, 0);
        assert_int(s.n_results, ==, 0);
        s.sync_ok = true;
        run_channel_resume(c);
        loop_a_while(e);
        assert_int(s.n_results, ==, 1);
        assert_streq(s.cell, "status=ok\n");
        assert_int(s.frames_at_result, ==, 2); /* FILE_OUT, FILE_OUT_DATA before the result */
        assert_int(frame_at(&s, 0, &p, &n), ==, FRAME_FILE_OUT);
        assert_se(run_channel_cell_files(c, &r) == 0);
        assert_se(r.files_reported && r.files_out == 1 && r.files_out_bytes == 2 && r.files_skipped == 0);
        assert_se(!r.files_note);

        /* Cell 2: the counts start again; sync() is asked again for its first message. */
        s.syncs = 0;
        assert_se(run_channel_send_cell(c, NULL, 0, 0, 2, "x", 1) == 0);
        ch_read_all(e, job_fd, &got);
        assert_int(ch_at(&got, 0, &p, &n), ==, CH_CELL);
        assert_se(p[0] == 0 && p[4] == 2);
        got.size = 0;
        ch_send(job_fd, CH_CELL_RESULT, "status=error\n", 13);
        loop_a_while(e);
        assert_int(s.syncs, ==, 1);
        assert_int(s.n_results, ==, 2);
        assert_streq(s.cell, "status=error\n");
        assert_se(run_channel_cell_files(c, &r) == 0);
        assert_se(r.files_out == 0 && r.files_out_bytes == 0 && !r.files_note);

        /* INTERRUPT and END reach the runner as they are. */
        assert_se(run_channel_send_interrupt(c) == 0);
        assert_se(run_channel_send_end(c) == 0);
        ch_read_all(e, job_fd, &got);
        assert_int(ch_at(&got, 0, &p, &n), ==, CH_INTERRUPT);
        assert_int(ch_at(&got, 1, &p, &n), ==, CH_END);

        /* A result without a cell: the channel is broken, and the note says so. */
        ch_send(job_fd, CH_CELL_RESULT, "status=ok\n", 10);
        loop_a_while(e);
        assert_int(s.n_results, ==, 2);
        assert_int(s.broken, ==, 1);
        assert_se(run_channel_cell_files(c, &r) == 0);
        assert_se(r.files_note && strncmp(r.files_note, "the runner broke the channel: ", 30) == 0);
        cell_result_done(&r);
        close(job_fd);
        run_channel_finish(c);
        loop(e, &s);
        assert_se(s.drained);
        assert_se(run_channel_send_end(c) == -ESHUTDOWN);
        buffer_done(&s.frames);
}

int main(void) {
        test_request_and_files();
        test_cut_inside_a_file();
        test_violation();
        test_info();
        test_session();
        return 0;
}
