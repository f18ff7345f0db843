/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runner channel: the request's encoding read back message by message, the writer passing the
 * stdin fd with GO's first byte over a real socketpair in many partial writes, and the reader's
 * rules (order, bounds, violations) with every split of the bytes. */

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "byteorder.h"
#include "channel.h"
#include "test.h"

static const ChannelBounds wide = { .files_out = 100,
                                    .files_out_bytes = 1U << 30,
                                    .file_out_size = 1U << 30,
                                    .depth = 16,
                                    .collect_usec = 1000000 };

/* --- encoding --------------------------------------------------------------------------------- */

typedef struct Msg {
        uint16_t type;
        const uint8_t *payload;
        uint32_t length;
        size_t offset;
} Msg;

/* The test's own decoder: the messages of b, in order. */
static size_t split_messages(const Buffer *b, Msg *msgs, size_t max) {
        size_t off = 0, n = 0;

        while (off < b->size) {
                assert_se(b->size - off >= PW_FRAME_HEADER_SIZE && n < max);
                msgs[n] = (Msg) { .type = le16_load(b->data + off),
                                  .length = le32_load(b->data + off + 4),
                                  .payload = b->data + off + PW_FRAME_HEADER_SIZE,
                                  .offset = off };
                assert_int(le16_load(b->data + off + 2), ==, 0);
                off += PW_FRAME_HEADER_SIZE + msgs[n].length;
                assert_se(off <= b->size);
                n++;
        }
        return n;
}

static void test_request_append(void) {
        static uint8_t big[70000], none[1];
        char *argv[] = { "a", "", "$HOME", NULL };
        RequestFile files[] = {
                { .path = "data/big.bin", .data = big, .size = sizeof(big), .data_size = sizeof(big) },
                { .path = "empty", .data = none, .size = 0, .data_size = 0, .executable = true },
        };
        Request req = {
                .code = "print(1)\n", .code_size = 9, .argv = argv, .n_args = 3, .files = files, .n_files = 2
        };
        ChannelBounds bounds = { 1, 2, 3, 4, 5 };
        _cleanup_(buffer_done) Buffer b = {};
        Msg m[16];
        size_t go = 0, n;

        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (uint8_t) (i * 7);
        assert_se(buffer_append(&b, "xy", 2) == 0); /* appends after what is there */
        assert_se(channel_request_append(&b, &req, &bounds, CH_GO_COLLECT, &go) == 0);
        assert_se(memcmp(b.data, "xy", 2) == 0);
        buffer_consume(&b, 2);
        go -= 2;
        n = split_messages(&b, m, ELEMENTSOF(m));
        assert_int(n, ==, 11);
        assert_se(m[0].type == CH_CODE && m[0].length == 9 && memcmp(m[0].payload, "print(1)\n", 9) == 0);
        assert_se(m[1].type == CH_FILENAME && m[1].length == 7 && memcmp(m[1].payload, "main.py", 7) == 0);
        assert_se(m[2].type == CH_ARG && m[2].length == 1 && m[2].payload[0] == 'a');
        assert_se(m[3].type == CH_ARG && m[3].length == 0);
        assert_se(m[4].type == CH_ARG && m[4].length == 5 && memcmp(m[4].payload, "$HOME", 5) == 0);
        assert_se(m[5].type == CH_BOUNDS && m[5].length == 40);
        for (unsigned i = 0; i < 5; i++)
                assert_int(le64_load(m[5].payload + 8 * i), ==, i + 1);
        assert_se(m[6].type == CH_FILE && m[6].length == 12 + 12);
        assert_se(le32_load(m[6].payload) == 0 && le64_load(m[6].payload + 4) == sizeof(big));
        assert_se(memcmp(m[6].payload + 12, "data/big.bin", 12) == 0);
        assert_se(m[7].type == CH_FILE_DATA && m[7].length == PW_CHUNK_MAX);
        assert_se(m[8].type == CH_FILE_DATA && m[8].length == sizeof(big) - PW_CHUNK_MAX);
        assert_se(memcmp(m[7].payload, big, PW_CHUNK_MAX) == 0);
        assert_se(memcmp(m[8].payload, big + PW_CHUNK_MAX, sizeof(big) - PW_CHUNK_MAX) == 0);
        assert_se(m[9].type == CH_FILE && le32_load(m[9].payload) == PW_FILE_EXECUTABLE);
        assert_se(le64_load(m[9].payload + 4) == 0 && m[9].length == 12 + 5);
        assert_se(m[10].type == CH_GO && m[10].length == 8 && m[10].offset == go);
        assert_se(le32_load(m[10].payload) == CH_VERSION && le32_load(m[10].payload + 4) == CH_GO_COLLECT);

        /* All or nothing: an incomplete file refuses the whole request. */
        files[1].data_size = 1;
        files[1].size = 2;
        n = b.size;
        assert_se(channel_request_append(&b, &req, &bounds, 0, &go) == -EINVAL);
        assert_int(b.size, ==, n);

        buffer_done(&b);
        assert_se(channel_stop_append(&b) == 0);
        assert_se(b.size == 8 && le16_load(b.data) == CH_STOP && le32_load(b.data + 4) == 0);
}

/* --- the writer ------------------------------------------------------------------------------- */

static void test_writer_passes_fd_with_go(void) {
        static char code[200000];
        Request req = { .code = code, .code_size = sizeof(code), .filename = "f.py" };
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_(channel_writer_freep) ChannelWriter *w = NULL;
        _cleanup_close_ int pipe_r = -EBADF, pipe_w = -EBADF, got_fd = -EBADF;
        int sv[2], p[2], small = 4096, partial = 0, r;
        size_t go, total, received = 0, fd_at_start = SIZE_MAX, fd_at_end = 0;
        uint8_t *copy;

        memset(code, 'x', sizeof(code));
        assert_se(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        assert_se(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
        assert_se(pipe2(p, O_CLOEXEC) == 0);
        pipe_r = p[0];
        pipe_w = p[1];
        assert_se(channel_request_append(&b, &req, &wide, 0, &go) == 0);
        total = b.size;
        copy = malloc(total);
        assert_se(copy);
        memcpy(copy, b.data, total);
        assert_se(channel_writer_new(sv[0], &w) == 0);
        assert_se(channel_writer_queue(w, &b, pipe_r, go) == 0);
        assert_se(b.data == NULL && b.size == 0); /* taken */
        pipe_r = safe_close(pipe_r);              /* the writer holds its own copy */
        assert_se(channel_stop_append(&b) == 0);
        assert_se(channel_writer_queue(w, &b, -1, 0) == 0);
        total += 8;

        uint8_t *seen = malloc(total);
        assert_se(seen);
        while (received < total) {
                union {
                        struct cmsghdr h;
                        uint8_t buf[CMSG_SPACE(sizeof(int) * 4)];
                } control;
                struct iovec iov = { .iov_base = seen + received,
                                     .iov_len = total - received < 3000 ? total - received : 3000 };
                struct msghdr mh = { .msg_iov = &iov,
                                     .msg_iovlen = 1,
                                     .msg_control = control.buf,
                                     .msg_controllen = sizeof(control.buf) };
                ssize_t n;

                r = channel_writer_flush(w);
                assert_se(r >= 0);
                partial += r == 0;
                n = recvmsg(sv[1], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        assert_se(errno == EAGAIN);
                        continue;
                }
                assert_se(n > 0);
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                        assert_se(c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS);
                        assert_se(c->cmsg_len == CMSG_LEN(sizeof(int)) && got_fd < 0);
                        memcpy(&got_fd, CMSG_DATA(c), sizeof(int));
                        fd_at_start = received;
                        fd_at_end = received + (size_t) n;
                }
                received += (size_t) n;
        }
        assert_int(channel_writer_flush(w), ==, 1);
        assert_int(partial, >, 2); /* the small buffer made it take several writes */
        assert_se(memcmp(seen, copy, total - 8) == 0);
        assert_se(le16_load(seen + total - 8) == CH_STOP);
        /* The fd came with the read that holds GO's first byte, not before. */
        assert_se(got_fd >= 0);
        assert_int(fd_at_start, <=, go);
        assert_int(go, <, fd_at_end);
        /* ... and it is the pipe's read end. */
        assert_se(write(pipe_w, "hi", 2) == 2);
        char hi[2];
        assert_se(read(got_fd, hi, 2) == 2 && memcmp(hi, "hi", 2) == 0);
        free(seen);
        free(copy);
        safe_close(sv[0]);
        safe_close(sv[1]);
}

static void test_writer_eagain_and_epipe(void) {
        _cleanup_(channel_writer_freep) ChannelWriter *w = NULL;
        _cleanup_(buffer_done) Buffer b = {};
        int sv[2], small = 4096;

        assert_se(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        assert_se(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
        assert_se(channel_writer_new(sv[0], &w) == 0);
        assert_se(buffer_reserve(&b, 1 << 20) == 0);
        memset(b.data, 0, 1 << 20);
        b.size = 1 << 20;
        assert_se(channel_writer_queue(w, &b, -1, 0) == 0);
        assert_int(channel_writer_flush(w), ==, 0); /* nobody reads: EAGAIN */
        assert_int(channel_writer_flush(w), ==, 0);
        safe_close(sv[1]);
        /* The runner is gone: -EPIPE, and no SIGPIPE (MSG_NOSIGNAL), then -EPIPE for good. */
        assert_int(channel_writer_flush(w), ==, -EPIPE);
        assert_int(channel_writer_flush(w), ==, -EPIPE);
        assert_se(channel_stop_append(&b) == 0);
        assert_int(channel_writer_queue(w, &b, -1, 0), ==, -EPIPE);
        assert_se(b.data == NULL);
        /* An fd offset outside the buffer is refused. */
        _cleanup_(channel_writer_freep) ChannelWriter *w2 = NULL;
        assert_se(channel_writer_new(sv[0], &w2) == 0);
        assert_se(channel_stop_append(&b) == 0);
        assert_int(channel_writer_queue(w2, &b, 0, 8), ==, -EINVAL);
        safe_close(sv[0]);
}

/* --- the reader ------------------------------------------------------------------------------- */

static void msg(Buffer *b, uint16_t type, const void *payload, size_t length) {
        uint8_t h[PW_FRAME_HEADER_SIZE];

        frame_header_format(h, type, (uint32_t) length);
        assert_se(buffer_append(b, h, sizeof(h)) == 0 && buffer_append(b, payload, length) == 0);
}

static void file_out(Buffer *b, uint32_t mode, uint64_t size, const char *path) {
        uint8_t p[PW_FILE_HEADER_SIZE + PW_PATH_MAX + 8];
        size_t n = strlen(path);

        le32_store(p, mode);
        le64_store(p + 4, size);
        memcpy(p + PW_FILE_HEADER_SIZE, path, n);
        msg(b, CH_FILE_OUT, p, PW_FILE_HEADER_SIZE + n);
}

static void file_data(Buffer *b, uint64_t size, uint8_t fill) {
        static uint8_t chunk[PW_CHUNK_MAX];

        while (size > 0) {
                size_t n = size < PW_CHUNK_MAX ? size : PW_CHUNK_MAX;
                memset(chunk, fill, n);
                msg(b, CH_FILE_OUT_DATA, chunk, n);
                size -= n;
        }
}

static void skipped(Buffer *b, uint32_t reason, const char *path) {
        uint8_t p[PW_SKIPPED_HEADER_SIZE + PW_PATH_MAX + 8];
        size_t n = strlen(path);

        le32_store(p, reason);
        memcpy(p + PW_SKIPPED_HEADER_SIZE, path, n);
        msg(b, CH_SKIPPED, p, PW_SKIPPED_HEADER_SIZE + n);
}

static void done(Buffer *b, uint64_t count) {
        uint8_t p[8];

        le64_store(p, count);
        msg(b, CH_DONE, p, 8);
}

/* Feeds b in pieces of step bytes (0: whole) and writes the events as text into trace; returns 0,
 * or -EBADMSG with the violation in *ret_why. Events are drained as channel.h says: called again
 * until NONE, the last call with no bytes left. */
static int trace(const ChannelBounds *bounds, bool info, const Buffer *b, size_t step, char *trace,
                 size_t size, const char **ret_why) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        size_t off = 0, len = 0;

        assert_se(channel_reader_new(bounds, info, &r) == 0);
        trace[0] = '\0';
        while (true) {
                size_t piece = step == 0 || b->size - off < step ? b->size - off : step;
                ChannelEvent ev;
                ssize_t n = channel_reader_feed(r, b->data + off, piece, &ev, ret_why);
                unsigned sum = 0;

                if (n < 0)
                        return (int) n;
                assert_se((size_t) n <= piece);
                assert_se(ev.type != CHANNEL_EVENT_NONE || (size_t) n == piece);
                off += (size_t) n;
                switch (ev.type) {
                case CHANNEL_EVENT_NONE:
                        if (off == b->size)
                                return 0;
                        continue;
                case CHANNEL_EVENT_FILE:
                        len += snprintf(trace + len, size - len, "FILE %.*s %o %llu;", (int) ev.path_size,
                                        ev.path, ev.mode, (unsigned long long) ev.size);
                        break;
                case CHANNEL_EVENT_FILE_DATA:
                        for (size_t i = 0; i < ev.data_size; i++)
                                sum += ((const uint8_t *) ev.data)[i];
                        len += snprintf(trace + len, size - len, "DATA %zu %u;", ev.data_size, sum);
                        break;
                case CHANNEL_EVENT_FILE_END:
                        len += snprintf(trace + len, size - len, "END;");
                        break;
                case CHANNEL_EVENT_CELL_RESULT:
                        len += snprintf(trace + len, size - len, "CELL_RESULT %zu;", ev.data_size);
                        break;
                case CHANNEL_EVENT_SKIPPED:
                        len += snprintf(trace + len, size - len, "SKIPPED %d %.*s;", ev.reason,
                                        (int) ev.path_size, ev.path ? ev.path : "");
                        break;
                case CHANNEL_EVENT_DONE:
                        assert_se(channel_reader_done(r));
                        len += snprintf(trace + len, size - len, "DONE %llu;", (unsigned long long) ev.count);
                        break;
                case CHANNEL_EVENT_INFO:
                        assert_se(channel_reader_done(r));
                        len += snprintf(trace + len, size - len, "INFO %.*s;", (int) ev.data_size,
                                        (const char *) ev.data);
                        break;
                }
                assert_se(len < size);
        }
}

/* The same trace for every split: whole, byte by byte, and a few in between. */
static void expect_trace(const ChannelBounds *bounds, bool info, const Buffer *b, const char *expected) {
        const size_t steps[] = { 0, 1, 2, 7, 8, 9, 4096, 65543 };
        char t[4096];
        const char *why = NULL;

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                int r = trace(bounds, info, b, steps[i], t, sizeof(t), &why);
                if (r < 0)
                        fprintf(stderr, "step %zu: %s\n", steps[i], why);
                assert_int(r, ==, 0);
                assert_streq(t, expected);
        }
}

static void expect_violation(const ChannelBounds *bounds, bool info, const Buffer *b, const char *why_part) {
        const size_t steps[] = { 0, 1, 3 };
        char t[4096];

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                const char *why = NULL;
                assert_int(trace(bounds, info, b, steps[i], t, sizeof(t), &why), ==, -EBADMSG);
                assert_se(why);
                if (!strstr(why, why_part))
                        fprintf(stderr, "expected '%s' in '%s'\n", why_part, why);
                assert_se(strstr(why, why_part));
        }
}

static void test_reader_files(void) {
        _cleanup_(buffer_done) Buffer b = {};

        file_out(&b, 0644, 70000, "a.txt");
        file_data(&b, 70000, 1);
        file_out(&b, 0755, 0, "a/b\nc");
        skipped(&b, FILE_SKIP_SYMLINK, "l");
        skipped(&b, FILE_SKIP_NAME, "");
        file_out(&b, 0600, 3, "z");
        file_data(&b, 3, 2);
        done(&b, 5);
        expect_trace(&wide, false, &b,
                     "FILE a.txt 644 70000;DATA 65536 65536;DATA 4464 4464;END;FILE a/b\nc 755 0;END;"
                     "SKIPPED 1 l;SKIPPED 11 ;FILE z 600 3;DATA 3 6;END;DONE 5;");
}

static void test_reader_bounds(void) {
        ChannelBounds bounds = { .files_out = 3, .files_out_bytes = 100, .file_out_size = 60, .depth = 1 };
        _cleanup_(buffer_done) Buffer b = {};

        file_out(&b, 0600, 50, "a");
        file_data(&b, 50, 1);
        file_out(&b, 0600, 61, "b"); /* over file_out_size */
        file_data(&b, 61, 1);
        file_out(&b, 0600, 51, "c"); /* 50 + 51 over files_out_bytes */
        file_data(&b, 51, 1);
        file_out(&b, 0600, 50, "d/e"); /* exactly the bytes left */
        file_data(&b, 50, 1);
        file_out(&b, 0600, 0, "d/e/f"); /* three components, depth 1 allows two */
        file_out(&b, 0600, 0, "e");     /* the third file */
        file_out(&b, 0600, 0, "f");     /* a fourth: over files_out */
        file_out(&b, 0600, 7, "g");
        file_data(&b, 7, 1);
        done(&b, 0);
        expect_trace(&bounds, false, &b,
                     "FILE a 600 50;DATA 50 50;END;SKIPPED 6 b;SKIPPED 8 c;FILE d/e 600 50;DATA 50 50;END;"
                     "SKIPPED 9 d/e/f;FILE e 600 0;END;SKIPPED 7 f;SKIPPED 7 g;DONE 0;");

        /* Depth 0: only the working directory's own files. */
        buffer_done(&b);
        bounds = wide;
        bounds.depth = 0;
        file_out(&b, 0600, 1, "x/y");
        file_data(&b, 1, 1);
        file_out(&b, 0600, 1, "y");
        file_data(&b, 1, 1);
        done(&b, 0);
        expect_trace(&bounds, false, &b, "SKIPPED 9 x/y;FILE y 600 1;DATA 1 1;END;DONE 0;");

        /* No bound at all: nothing wraps around. */
        buffer_done(&b);
        bounds = (ChannelBounds) { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX };
        file_out(&b, 0600, 1, "x/y");
        file_data(&b, 1, 1);
        done(&b, 0);
        expect_trace(&bounds, false, &b, "FILE x/y 600 1;DATA 1 1;END;DONE 0;");
}

static void test_reader_info(void) {
        _cleanup_(buffer_done) Buffer b = {};
        const char info[] = "python=3.11.2\npackage=numpy 1.24.2\nsitedir=/usr/lib/python3/dist-packages\n";

        msg(&b, CH_INFO, info, strlen(info));
        expect_trace(&wide, true, &b,
                     "INFO python=3.11.2\npackage=numpy 1.24.2\nsitedir=/usr/lib/python3/dist-packages\n;");
        buffer_done(&b);
        msg(&b, CH_INFO, "", 0);
        expect_trace(&wide, true, &b, "INFO ;");
}

typedef void (*Build)(Buffer *b);

static void bad_flags(Buffer *b) {
        done(b, 0);
        b->data[2] = 1;
}
static void bad_type(Buffer *b) {
        msg(b, 0x87, "", 0);
}
static void helper_type(Buffer *b) {
        msg(b, CH_STOP, "", 0);
}
static void done_short(Buffer *b) {
        msg(b, CH_DONE, "1234567", 7);
}
static void data_empty(Buffer *b) {
        file_out(b, 0600, 1, "a");
        msg(b, CH_FILE_OUT_DATA, "", 0);
}
static void data_long(Buffer *b) {
        uint8_t h[PW_FRAME_HEADER_SIZE];
        file_out(b, 0600, 1U << 20, "a");
        frame_header_format(h, CH_FILE_OUT_DATA, PW_CHUNK_MAX + 1);
        assert_se(buffer_append(b, h, sizeof(h)) == 0);
}
static void info_long(Buffer *b) {
        uint8_t h[PW_FRAME_HEADER_SIZE];
        frame_header_format(h, CH_INFO, CH_INFO_MAX + 1);
        assert_se(buffer_append(b, h, sizeof(h)) == 0);
}
static void path_dotdot(Buffer *b) {
        file_out(b, 0600, 0, "a/../b");
}
static void path_absolute(Buffer *b) {
        file_out(b, 0600, 0, "/etc/x");
}
static void path_empty_component(Buffer *b) {
        file_out(b, 0600, 0, "a//b");
}
static void path_nul(Buffer *b) {
        file_out(b, 0600, 0, "a");
        b->data[b->size - 1] = '\0';
}
static void path_empty(Buffer *b) {
        uint8_t p[PW_FILE_HEADER_SIZE] = {};
        msg(b, CH_FILE_OUT, p, sizeof(p));
}
static void bad_mode(Buffer *b) {
        file_out(b, 010600, 0, "a");
}
static void unsorted(Buffer *b) {
        file_out(b, 0600, 0, "b");
        file_out(b, 0600, 0, "a");
}
static void duplicate(Buffer *b) {
        file_out(b, 0600, 0, "a");
        file_out(b, 0600, 0, "a");
}
static void data_first(Buffer *b) {
        file_data(b, 1, 0);
}
static void inside_file(Buffer *b) {
        file_out(b, 0600, 2, "a");
        file_data(b, 1, 0);
        skipped(b, FILE_SKIP_FIFO, "f");
}
static void file_in_file(Buffer *b) {
        file_out(b, 0600, 2, "a");
        file_out(b, 0600, 2, "b");
}
static void inside_dropped_file(Buffer *b) {
        file_out(b, 0600, 2U << 30, "a"); /* over the size bound: dropped, but must still be complete */
        done(b, 0);
}
static void beyond_size(Buffer *b) {
        file_out(b, 0600, 2, "a");
        file_data(b, 3, 0);
}
static void reason_zero(Buffer *b) {
        skipped(b, 0, "a");
}
static void reason_unknown(Buffer *b) {
        skipped(b, _FILE_SKIP_MAX, "a");
}
static void skipped_bad_path(Buffer *b) {
        skipped(b, FILE_SKIP_FIFO, "../a");
}
static void after_done(Buffer *b) {
        done(b, 0);
        done(b, 0);
}
static void file_after_done(Buffer *b) {
        done(b, 0);
        file_out(b, 0600, 0, "a");
}
static void info_in_files(Buffer *b) {
        msg(b, CH_INFO, "python=3\n", 9);
}

static void file_in_discovery(Buffer *b) {
        file_out(b, 0600, 0, "a");
}
static void done_in_discovery(Buffer *b) {
        done(b, 0);
}
static void after_info(Buffer *b) {
        msg(b, CH_INFO, "", 0);
        msg(b, CH_INFO, "", 0);
}

static void test_reader_violations(void) {
        /* clang-format off */
        static const struct {
                Build build;
                bool info;
                const char *why;
        } table[] = {
                { bad_flags,            false, "flags" },
                { bad_type,             false, "unknown message type" },
                { helper_type,          false, "unknown message type" },
                { done_short,           false, "length" },
                { data_empty,           false, "length" },
                { data_long,            false, "length" },
                { info_long,            true,  "length" },
                { path_dotdot,          false, "'..'" },
                { path_absolute,        false, "absolute" },
                { path_empty_component, false, "empty component" },
                { path_nul,             false, "NUL" },
                { path_empty,           false, "length" },
                { bad_mode,             false, "mode" },
                { unsorted,             false, "sorted" },
                { duplicate,            false, "sorted" },
                { data_first,           false, "without CH_FILE_OUT" },
                { inside_file,          false, "inside a file" },
                { file_in_file,         false, "inside a file" },
                { inside_dropped_file,  false, "inside a file" },
                { beyond_size,          false, "beyond" },
                { reason_zero,          false, "reason" },
                { reason_unknown,       false, "reason" },
                { skipped_bad_path,     false, "'..'" },
                { after_done,           false, "after" },
                { file_after_done,      false, "after" },
                { info_in_files,        false, "outside a discovery" },
                { file_in_discovery,    true,  "discovery" },
                { done_in_discovery,    true,  "discovery" },
                { after_info,           true,  "after" },
        };
        /* clang-format on */

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_(buffer_done) Buffer b = {};
                table[i].build(&b);
                expect_violation(&wide, table[i].info, &b, table[i].why);
        }
}

static void test_reader_refuses_after_violation(void) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        _cleanup_(buffer_done) Buffer b = {}, ok = {};
        ChannelEvent ev;
        const char *why = NULL;

        bad_type(&b);
        done(&ok, 0);
        assert_se(channel_reader_new(&wide, false, &r) == 0);
        assert_int(channel_reader_feed(r, b.data, b.size, &ev, &why), ==, -EBADMSG);
        assert_se(why);
        why = NULL;
        assert_int(channel_reader_feed(r, ok.data, ok.size, &ev, &why), ==, -EBADMSG);
        assert_se(why && strstr(why, "unknown"));
        assert_se(!channel_reader_done(r));
}

static void test_reader_file_end_without_bytes(void) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        _cleanup_(buffer_done) Buffer b = {};
        ChannelEvent ev;
        const char *why;

        file_out(&b, 0600, 0, "empty");
        assert_se(channel_reader_new(&wide, false, &r) == 0);
        assert_int(channel_reader_feed(r, b.data, b.size, &ev, &why), ==, (ssize_t) b.size);
        assert_se(ev.type == CHANNEL_EVENT_FILE && ev.size == 0);
        /* The file's end comes with the next call, even one with no bytes. */
        assert_int(channel_reader_feed(r, NULL, 0, &ev, &why), ==, 0);
        assert_se(ev.type == CHANNEL_EVENT_FILE_END);
        assert_int(channel_reader_feed(r, NULL, 0, &ev, &why), ==, 0);
        assert_se(ev.type == CHANNEL_EVENT_NONE);
}

/* What the real runner sent (tests/fuzz/channel/make-runner-seeds.py): the reader takes it whole
 * and in every split, so runner.py and channel.c agree on the order and the layouts. */
static void read_seed(const char *name, Buffer *b) {
        char path[4096];
        uint8_t chunk[4096];
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/tests/fuzz/channel/%s", SRCDIR, name);
        f = fopen(path, "rbe");
        assert_se(f);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                assert_se(buffer_append(b, chunk, n) == 0);
        fclose(f);
        buffer_consume(b, 2); /* the fuzzer's two bytes */
}

static void test_reader_takes_the_runners_bytes(void) {
        _cleanup_(buffer_done) Buffer collect = {}, info = {};
        char t[8192];
        const char *why = NULL;

        read_seed("seed-runner-collect", &collect);
        expect_trace(&wide, false, &collect,
                     "FILE .hidden 644 0;END;FILE caf\xe9 644 1;DATA 1 99;END;SKIPPED 2 fifo;"
                     "FILE out/a.csv 644 8;DATA 8 448;END;SKIPPED 9 out/deep;SKIPPED 1 shadow;DONE 0;");
        read_seed("seed-runner-info", &info);
        assert_int(trace(&wide, true, &info, 0, t, sizeof(t), &why), ==, 0);
        assert_se(strncmp(t, "INFO python=3.", 14) == 0 && strstr(t, "\nsitedir=/"));
}

int main(void) {
        test_request_append();
        test_writer_passes_fd_with_go();
        test_writer_eagain_and_epipe();
        test_reader_files();
        test_reader_bounds();
        test_reader_info();
        test_reader_violations();
        test_reader_refuses_after_violation();
        test_reader_file_end_without_bytes();
        test_reader_takes_the_runners_bytes();
        return 0;
}
