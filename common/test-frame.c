/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of frame.c: every frame type's bounds, the header's decoder and encoder, the frame
 * encoder into buffers, and frame_write over sockets and pipes. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "byteorder.h"
#include "protocol.h"
#include "test.h"

static int header(uint16_t type, uint16_t flags, uint32_t length, FrameHeader *ret) {
        uint8_t b[PW_FRAME_HEADER_SIZE];

        /* Raw bytes, flags included, which no encoder would write. */
        le16_store(b, type);
        le16_store(b + 2, flags);
        le32_store(b + 4, length);
        return frame_header_parse(b, ret);
}

static void test_header_bounds(void) {
        static const struct {
                uint16_t type;
                uint32_t min, max;
        } t[] = {
                { FRAME_HELLO, 4, 4 },
                { FRAME_CODE, 0, PW_CODE_MAX },
                { FRAME_FILENAME, 1, PW_FILENAME_MAX },
                { FRAME_ARG, 0, PW_ARG_MAX },
                { FRAME_PROFILE, 1, PW_PROFILE_NAME_MAX },
                { FRAME_LIMIT, 12, 12 },
                { FRAME_REQUEST_END, 0, 0 },
                { FRAME_FILE, PW_FILE_HEADER_SIZE, PW_FILE_HEADER_SIZE + PW_PATH_MAX },
                { FRAME_FILE_DATA, 1, PW_CHUNK_MAX },
                { FRAME_COLLECT, 0, 0 },
                { FRAME_DISCOVER, 0, 0 },
                { FRAME_STDIN, 1, PW_CHUNK_MAX },
                { FRAME_STDIN_EOF, 0, 0 },
                { FRAME_CANCEL, 0, 0 },
                { FRAME_ACCEPTED, 0, PW_ACCEPTED_MAX },
                { FRAME_STDOUT, 1, PW_CHUNK_MAX },
                { FRAME_STDERR, 1, PW_CHUNK_MAX },
                { FRAME_RESULT, 0, PW_RESULT_MAX },
                { FRAME_FILE_OUT, PW_FILE_HEADER_SIZE + 1, PW_FILE_HEADER_SIZE + PW_PATH_MAX },
                { FRAME_FILE_OUT_DATA, 1, PW_CHUNK_MAX },
                { FRAME_FILE_SKIPPED, PW_SKIPPED_HEADER_SIZE, PW_SKIPPED_HEADER_SIZE + PW_PATH_MAX },
                { FRAME_PROFILE_INFO, 1, PW_PROFILE_INFO_MAX },
                { FRAME_SESSION, 0, 0 },
                { FRAME_CELL, PW_CELL_HEADER_SIZE, PW_CODE_MAX },
                { FRAME_INTERRUPT, 0, 0 },
                { FRAME_SESSION_END, 0, 0 },
                { FRAME_CELL_RESULT, 0, PW_CELL_RESULT_MAX },
        };
        static const struct {
                uint16_t type;
                const char *name;
        } names[] = {
                { FRAME_FILE, "FILE" },
                { FRAME_FILE_DATA, "FILE_DATA" },
                { FRAME_COLLECT, "COLLECT" },
                { FRAME_DISCOVER, "DISCOVER" },
                { FRAME_FILE_OUT, "FILE_OUT" },
                { FRAME_FILE_OUT_DATA, "FILE_OUT_DATA" },
                { FRAME_FILE_SKIPPED, "FILE_SKIPPED" },
                { FRAME_PROFILE_INFO, "PROFILE_INFO" },
                { FRAME_HELLO, "HELLO" },
                { FRAME_RESULT, "RESULT" },
                { FRAME_SESSION, "SESSION" },
                { FRAME_CELL, "CELL" },
                { FRAME_INTERRUPT, "INTERRUPT" },
                { FRAME_SESSION_END, "SESSION_END" },
                { FRAME_CELL_RESULT, "CELL_RESULT" },
        };
        FrameHeader h;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                h = (FrameHeader) {};
                assert_int(header(t[i].type, 0, t[i].min, &h), ==, 0);
                assert_int(h.type, ==, t[i].type);
                assert_int(h.length, ==, t[i].min);
                assert_int(header(t[i].type, 0, t[i].max, &h), ==, 0);
                assert_int(h.length, ==, t[i].max);
                assert_int(header(t[i].type, 0, t[i].max + 1, &h), ==, -EMSGSIZE);
                assert_int(header(t[i].type, 0, UINT32_MAX, &h), ==, -EMSGSIZE);
                if (t[i].min > 0)
                        assert_int(header(t[i].type, 0, t[i].min - 1, &h), ==, -EBADMSG);
                /* Flags must be zero. */
                assert_int(header(t[i].type, 1, t[i].min, &h), ==, -EBADMSG);
                assert_int(header(t[i].type, 0x8000, t[i].min, &h), ==, -EBADMSG);
                assert_streq(frame_type_to_string(t[i].type) ? "known" : NULL, "known");
        }
        /* Unknown types, and ret untouched on failure. */
        h = (FrameHeader) { .type = 42, .length = 42 };
        assert_int(header(0, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0x000D, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0x0016, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0x0100, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0x010A, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0xffff, 0, 0, &h), ==, -EBADMSG);
        assert_int(h.type, ==, 42);
        assert_int(h.length, ==, 42);
        assert_se(!frame_type_to_string(0x000D));
        assert_se(!frame_type_to_string(0x0016));
        assert_se(!frame_type_to_string(0x010A));
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                assert_streq(frame_type_to_string(names[i].type), names[i].name);
}

static void test_header_format(void) {
        uint8_t b[PW_FRAME_HEADER_SIZE];
        FrameHeader h;

        frame_header_format(b, FRAME_RESULT, 0x01020304);
        assert_se(memcmp(b, "\x04\x01\x00\x00\x04\x03\x02\x01", 8) == 0);
        frame_header_format(b, FRAME_CODE, 5);
        assert_int(frame_header_parse(b, &h), ==, 0);
        assert_int(h.type, ==, FRAME_CODE);
        assert_int(h.flags, ==, 0);
        assert_int(h.length, ==, 5);
}

static void test_frame_write_fd(int wfd, int rfd) {
        uint8_t b[PW_FRAME_HEADER_SIZE + 16];
        FrameHeader h;

        assert_int(frame_write(wfd, FRAME_CODE, "print(1)", 8), ==, 0);
        assert_int(read(rfd, b, PW_FRAME_HEADER_SIZE + 8), ==, PW_FRAME_HEADER_SIZE + 8);
        assert_int(frame_header_parse(b, &h), ==, 0);
        assert_int(h.type, ==, FRAME_CODE);
        assert_int(h.length, ==, 8);
        assert_se(memcmp(b + PW_FRAME_HEADER_SIZE, "print(1)", 8) == 0);

        assert_int(frame_write(wfd, FRAME_REQUEST_END, NULL, 0), ==, 0);
        assert_int(read(rfd, b, sizeof(b)), ==, PW_FRAME_HEADER_SIZE);
        assert_se(memcmp(b, "\x07\x00\x00\x00\x00\x00\x00\x00", 8) == 0);

        /* frame_write refuses to emit a frame the peer would reject. */
        assert_int(frame_write(wfd, FRAME_HELLO, "abc", 3), ==, -EMSGSIZE);
        assert_int(frame_write(wfd, FRAME_STDOUT, "", 0), ==, -EMSGSIZE);
        assert_int(frame_write(wfd, 0x4242, "", 0), ==, -EBADMSG);
        assert_int(frame_write(-EBADF, FRAME_CANCEL, NULL, 0), ==, -EBADF);
}

static void test_frame_write(void) {
        int sv[2], p[2];

        assert_int(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        test_frame_write_fd(sv[0], sv[1]);
        /* A closed peer is -EPIPE, not SIGPIPE (SIGPIPE is left at its default, which would kill us). */
        close(sv[1]);
        assert_int(frame_write(sv[0], FRAME_CANCEL, NULL, 0), ==, -EPIPE);
        close(sv[0]);

        /* A pipe is not a socket: the fallback to writev(). */
        assert_int(pipe2(p, O_CLOEXEC), ==, 0);
        test_frame_write_fd(p[1], p[0]);
        close(p[0]);
        close(p[1]);
}

static void test_frame_write_large(void) {
        /* A CODE frame larger than the socket buffer arrives whole from a non-blocking socket. */
        size_t n = PW_CODE_MAX;
        char *code = malloc(n), *got = malloc(n + PW_FRAME_HEADER_SIZE);
        size_t have = 0;
        int sv[2];
        pid_t pid;

        assert_se(code && got);
        for (size_t i = 0; i < n; i++)
                code[i] = (char) ('a' + i % 26);
        assert_int(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), ==, 0);
        pid = fork();
        assert_se(pid >= 0);
        if (pid == 0) {
                close(sv[1]);
                _exit(frame_write(sv[0], FRAME_CODE, code, n) == 0 ? 0 : 1);
        }
        close(sv[0]);
        assert_int(fcntl(sv[1], F_SETFL, 0), ==, 0);
        while (have < n + PW_FRAME_HEADER_SIZE) {
                ssize_t k = read(sv[1], got + have, n + PW_FRAME_HEADER_SIZE - have);
                assert_se(k > 0);
                have += (size_t) k;
        }
        assert_se(memcmp(got + PW_FRAME_HEADER_SIZE, code, n) == 0);
        int status;
        assert_int(waitpid(pid, &status, 0), ==, pid);
        assert_se(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(sv[1]);
        free(code);
        free(got);
}

static void test_frame_encode(void) {
        static const uint8_t expected[] = { 0x04, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 'a', 'b', 'c' };
        uint8_t b[PW_FRAME_HEADER_SIZE + 8];
        FrameHeader h;

        assert_int(frame_encode(b, sizeof(b), FRAME_ARG, "abc", 3), ==, (int) sizeof(expected));
        assert_se(memcmp(b, expected, sizeof(expected)) == 0);
        assert_int(frame_header_parse(b, &h), ==, 0);
        assert_int(h.type, ==, FRAME_ARG);
        assert_int(h.length, ==, 3);
        assert_int(frame_encode(b, sizeof(b), FRAME_REQUEST_END, NULL, 0), ==, PW_FRAME_HEADER_SIZE);

        /* What would break the framing is refused; under the minimum is the peer's to judge. */
        assert_int(frame_encode(b, sizeof(b), 0x4242, "", 0), ==, -EBADMSG);
        assert_int(frame_encode(b, sizeof(b), FRAME_HELLO, "abcde", 5), ==, -EMSGSIZE);
        assert_int(frame_encode(b, sizeof(b), FRAME_CANCEL, "x", 1), ==, -EMSGSIZE);
        assert_int(frame_encode(b, sizeof(b), FRAME_PROFILE, "", 0), ==, PW_FRAME_HEADER_SIZE);
        assert_int(frame_encode(b, sizeof(b), FRAME_ARG, NULL, 1), ==, -EINVAL);
        assert_int(frame_encode(b, sizeof(b), FRAME_ARG, "123456789", 9), ==, -ENOBUFS);
}

static void test_frame_append(void) {
        _cleanup_(buffer_done) Buffer b = {};
        char *big = calloc(1, PW_CHUNK_MAX + 1);
        FrameHeader h;

        assert_se(big);
        assert_int(frame_append(&b, FRAME_STDOUT, "hi", 2), ==, 0);
        assert_int(frame_append(&b, FRAME_STDIN_EOF, NULL, 0), ==, 0);
        /* Larger than the first allocation: the buffer grows. */
        assert_int(frame_append(&b, FRAME_STDERR, big, PW_CHUNK_MAX), ==, 0);
        assert_int(b.size, ==, 3 * PW_FRAME_HEADER_SIZE + 2 + PW_CHUNK_MAX);
        /* A refused frame leaves the buffer as it was. */
        assert_int(frame_append(&b, FRAME_STDERR, big, PW_CHUNK_MAX + 1), ==, -EMSGSIZE);
        assert_int(b.size, ==, 3 * PW_FRAME_HEADER_SIZE + 2 + PW_CHUNK_MAX);

        assert_int(frame_header_parse(b.data, &h), ==, 0);
        assert_int(h.type, ==, FRAME_STDOUT);
        assert_se(memcmp(b.data + PW_FRAME_HEADER_SIZE, "hi", 2) == 0);
        assert_int(frame_header_parse(b.data + PW_FRAME_HEADER_SIZE + 2, &h), ==, 0);
        assert_int(h.type, ==, FRAME_STDIN_EOF);
        assert_int(h.length, ==, 0);
        assert_int(frame_header_parse(b.data + 2 * PW_FRAME_HEADER_SIZE + 2, &h), ==, 0);
        assert_int(h.type, ==, FRAME_STDERR);
        assert_int(h.length, ==, PW_CHUNK_MAX);
        free(big);
}

int main(void) {
        test_header_bounds();
        test_header_format();
        test_frame_encode();
        test_frame_append();
        test_frame_write();
        test_frame_write_large();
        return 0;
}
