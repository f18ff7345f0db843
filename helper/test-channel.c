/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runner channel from the helper to the runner: the request's encoding read back message by
 * message, and the writer passing the stdin fd with GO's first byte over a real socketpair in many
 * partial writes. The reader's rules are test-channel-reader.c's. */

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "byteorder.h"
#include "channel.h"
#include "test.h"
#include "test-channel.h"

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

int main(void) {
        test_request_append();
        test_writer_passes_fd_with_go();
        test_writer_eagain_and_epipe();
        return 0;
}
