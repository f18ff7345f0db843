/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of protocol.c: every frame type's bounds, every request order rule, frame_write over
 * sockets and pipes, and the result record's round trip, escaping and strictness. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"
#include "test.h"

static char err[256];

static int header(uint16_t type, uint16_t flags, uint32_t length, FrameHeader *ret) {
        uint8_t b[PW_FRAME_HEADER_SIZE] = {
                (uint8_t) type, (uint8_t) (type >> 8), (uint8_t) flags, (uint8_t) (flags >> 8),
                (uint8_t) length, (uint8_t) (length >> 8), (uint8_t) (length >> 16), (uint8_t) (length >> 24),
        };
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
                { FRAME_STDIN, 1, PW_CHUNK_MAX },
                { FRAME_STDIN_EOF, 0, 0 },
                { FRAME_CANCEL, 0, 0 },
                { FRAME_ACCEPTED, 0, PW_ACCEPTED_MAX },
                { FRAME_STDOUT, 1, PW_CHUNK_MAX },
                { FRAME_STDERR, 1, PW_CHUNK_MAX },
                { FRAME_RESULT, 0, PW_RESULT_MAX },
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
        assert_int(header(0x0008, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0x0013, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0x0100, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0x0105, 0, 0, &h), ==, -EBADMSG);
        assert_int(header(0xffff, 0, 0, &h), ==, -EBADMSG);
        assert_int(h.type, ==, 42);
        assert_int(h.length, ==, 42);
        assert_se(!frame_type_to_string(0x0008));
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

static int add(Request *r, uint16_t type, const void *p, size_t n) {
        err[0] = '\0';
        return request_add_frame(r, type, p, n, err, sizeof(err));
}

static int add_str(Request *r, uint16_t type, const char *s) {
        return add(r, type, s, strlen(s));
}

static int add_hello(Request *r, uint32_t version) {
        uint8_t b[4] = { (uint8_t) version, (uint8_t) (version >> 8), (uint8_t) (version >> 16),
                         (uint8_t) (version >> 24) };
        return add(r, FRAME_HELLO, b, 4);
}

static int add_limit(Request *r, uint32_t key, uint64_t value) {
        uint8_t b[12];
        for (int i = 0; i < 4; i++)
                b[i] = (uint8_t) (key >> (8 * i));
        for (int i = 0; i < 8; i++)
                b[4 + i] = (uint8_t) (value >> (8 * i));
        return add(r, FRAME_LIMIT, b, 12);
}

static Request *new_request(void) {
        Request *r = NULL;
        assert_int(request_new(&r), ==, 0);
        assert_se(r);
        return r;
}

static Request *hello_request(void) {
        Request *r = new_request();
        assert_int(add_hello(r, 1), ==, 0);
        return r;
}

static void test_request_full(void) {
        _cleanup_(request_freep) Request *r = new_request();

        assert_int(add_hello(r, PW_PROTOCOL_VERSION), ==, 0);
        assert_int(add_str(r, FRAME_CODE, "import sys\nprint(sys.argv)\n"), ==, 0);
        assert_int(add_str(r, FRAME_FILENAME, "job.py"), ==, 0);
        assert_int(add_str(r, FRAME_ARG, "one"), ==, 0);
        assert_int(add_str(r, FRAME_ARG, ""), ==, 0);
        assert_int(add_str(r, FRAME_ARG, "thr\xff" "ee"), ==, 0);
        assert_int(add_str(r, FRAME_PROFILE, "small-1.x_Y"), ==, 0);
        assert_int(add_limit(r, LIMIT_MEMORY, 64ULL << 20), ==, 0);
        assert_int(add_limit(r, LIMIT_WALL_TIME, UINT64_MAX), ==, 0);
        assert_se(!r->complete);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        assert_se(r->complete);

        assert_int(r->version, ==, 1);
        assert_streq(r->code, "import sys\nprint(sys.argv)\n");
        assert_int(r->code_size, ==, strlen(r->code));
        assert_streq(r->filename, "job.py");
        assert_int(r->n_args, ==, 3);
        assert_streq(r->argv[0], "one");
        assert_streq(r->argv[1], "");
        assert_streq(r->argv[2], "thr\xff" "ee");
        assert_se(r->argv[3] == NULL);
        assert_streq(r->profile, "small-1.x_Y");
        assert_se(r->limit_set[LIMIT_MEMORY] && r->limits[LIMIT_MEMORY] == 64ULL << 20);
        assert_se(r->limit_set[LIMIT_WALL_TIME] && r->limits[LIMIT_WALL_TIME] == UINT64_MAX);
        assert_se(!r->limit_set[LIMIT_TASKS]);

        /* After REQUEST_END the request takes nothing more; stdin is the relay's business. */
        assert_int(add(r, FRAME_STDIN, "x", 1), ==, -EBADMSG);
        assert_se(strstr(err, "already complete"));
        assert_int(add(r, FRAME_CODE, "x", 1), ==, -EBADMSG);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, -EBADMSG);
}

static void test_request_minimal(void) {
        _cleanup_(request_freep) Request *r = hello_request();

        /* Empty code is a valid (empty) program. */
        assert_int(add(r, FRAME_CODE, "", 0), ==, 0);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        assert_streq(r->code, "");
        assert_int(r->code_size, ==, 0);
        assert_se(!r->filename && !r->profile && !r->argv && r->n_args == 0);
}

static void test_request_hello(void) {
        Request *r = new_request();

        /* Anything before HELLO. */
        assert_int(add_str(r, FRAME_CODE, "x"), ==, -EBADMSG);
        assert_streq(err, "CODE frame before HELLO: the request must start with HELLO");
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, -EBADMSG);
        assert_int(add_limit(r, LIMIT_TASKS, 1), ==, -EBADMSG);
        /* Wrong version, wrong size. */
        assert_int(add_hello(r, 2), ==, -EPROTONOSUPPORT);
        assert_streq(err, "unsupported protocol version 2, this helper speaks 1");
        assert_int(add_hello(r, 0), ==, -EPROTONOSUPPORT);
        assert_int(add(r, FRAME_HELLO, "\x01\x00\x00", 3), ==, -EBADMSG);
        assert_streq(err, "HELLO frame must be exactly 4 bytes, got 3");
        assert_int(add(r, FRAME_HELLO, "\x01\x00\x00\x00\x00", 5), ==, -EMSGSIZE);
        assert_int(add_hello(r, 1), ==, 0);
        assert_int(add_hello(r, 1), ==, -EBADMSG);
        assert_streq(err, "duplicate HELLO frame");
        request_free(r);
        assert_se(request_free(NULL) == NULL);
}

static void test_request_code(void) {
        _cleanup_(request_freep) Request *r = hello_request();
        char *big = calloc(1, PW_CODE_MAX + 1);

        assert_se(big);
        memset(big, 'x', PW_CODE_MAX + 1);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, -EBADMSG);
        assert_streq(err, "REQUEST_END without CODE: the request has no code");
        assert_int(add(r, FRAME_CODE, big, PW_CODE_MAX + 1), ==, -EMSGSIZE);
        assert_se(strstr(err, "CODE frame of 1048577 bytes exceeds the maximum of 1048576 bytes"));
        assert_int(add(r, FRAME_CODE, "a\0b", 3), ==, -EINVAL);
        assert_streq(err, "CODE contains a NUL byte");
        assert_se(!r->code);
        assert_int(add(r, FRAME_CODE, big, PW_CODE_MAX), ==, 0);
        assert_int(r->code_size, ==, PW_CODE_MAX);
        assert_int(add_str(r, FRAME_CODE, "x"), ==, -EBADMSG);
        assert_se(strstr(err, "duplicate CODE"));
        free(big);
}

static void test_request_filename(void) {
        static const char *const bad[] = { ".", "..", "a/b", "/x.py", "x.py/", "a\nb", "a\tb", "\x7f" };
        _cleanup_(request_freep) Request *r = hello_request();
        char name[PW_FILENAME_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int(add_str(r, FRAME_FILENAME, bad[i]), ==, -EINVAL);
                assert_se(strstr(err, "invalid FILENAME"));
        }
        assert_int(add(r, FRAME_FILENAME, "a\0.py", 5), ==, -EINVAL);
        assert_int(add(r, FRAME_FILENAME, "", 0), ==, -EBADMSG);
        assert_streq(err, "FILENAME frame must not be empty");
        memset(name, 'n', sizeof(name));
        assert_int(add(r, FRAME_FILENAME, name, PW_FILENAME_MAX + 1), ==, -EMSGSIZE);
        assert_se(!r->filename);
        /* Names need not end in .py; dots elsewhere and non-ASCII are fine. */
        assert_int(add(r, FRAME_FILENAME, name, PW_FILENAME_MAX), ==, 0);
        assert_int(strlen(r->filename), ==, PW_FILENAME_MAX);
        assert_int(add_str(r, FRAME_FILENAME, "x.py"), ==, -EBADMSG);
        assert_streq(err, "duplicate FILENAME frame");

        _cleanup_(request_freep) Request *r2 = hello_request();
        assert_int(add_str(r2, FRAME_FILENAME, "..py"), ==, 0);
        _cleanup_(request_freep) Request *r3 = hello_request();
        assert_int(add_str(r3, FRAME_FILENAME, "sk\xc3\xa5l.txt"), ==, 0);
}

static void test_request_args(void) {
        _cleanup_(request_freep) Request *r = hello_request();
        char arg[PW_ARG_MAX + 1];

        memset(arg, 'a', sizeof(arg));
        assert_int(add(r, FRAME_ARG, arg, PW_ARG_MAX + 1), ==, -EMSGSIZE);
        assert_int(add(r, FRAME_ARG, "a\0", 2), ==, -EINVAL);
        assert_streq(err, "ARG #1 contains a NUL byte");
        assert_int(r->n_args, ==, 0);
        assert_int(add(r, FRAME_ARG, arg, PW_ARG_MAX), ==, 0);
        for (int i = 1; i < PW_ARGS_MAX; i++)
                assert_int(add_str(r, FRAME_ARG, "x"), ==, 0);
        assert_int(r->n_args, ==, PW_ARGS_MAX);
        assert_int(add_str(r, FRAME_ARG, "x"), ==, -E2BIG);
        assert_streq(err, "ARG #257 exceeds the maximum of 256 arguments");
        assert_int(r->n_args, ==, PW_ARGS_MAX);
        assert_se(r->argv[PW_ARGS_MAX] == NULL);
        assert_int(strlen(r->argv[0]), ==, PW_ARG_MAX);
        /* Arguments may come before and after CODE: only their mutual order matters. */
        assert_int(add_str(r, FRAME_CODE, "pass"), ==, 0);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
}

static void test_request_profile(void) {
        static const char *const bad[] = { ".", "..", "a b", "a/b", "ä", "x:y", "a\n" };
        _cleanup_(request_freep) Request *r = hello_request();
        char name[PW_PROFILE_NAME_MAX + 1];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int(add_str(r, FRAME_PROFILE, bad[i]), ==, -EINVAL);
                assert_se(strstr(err, "invalid PROFILE name"));
        }
        assert_int(add(r, FRAME_PROFILE, "", 0), ==, -EBADMSG);
        memset(name, 'p', sizeof(name));
        assert_int(add(r, FRAME_PROFILE, name, PW_PROFILE_NAME_MAX + 1), ==, -EMSGSIZE);
        assert_int(add(r, FRAME_PROFILE, name, PW_PROFILE_NAME_MAX), ==, 0);
        assert_int(add_str(r, FRAME_PROFILE, "default"), ==, -EBADMSG);
        assert_streq(err, "duplicate PROFILE frame");
}

static void test_request_limits(void) {
        _cleanup_(request_freep) Request *r = hello_request();

        for (uint32_t k = 1; k < _LIMIT_MAX; k++)
                assert_int(add_limit(r, k, k), ==, 0);
        for (uint32_t k = 1; k < _LIMIT_MAX; k++) {
                assert_se(r->limit_set[k]);
                assert_int(r->limits[k], ==, k);
                assert_int(add_limit(r, k, 5), ==, -EBADMSG);
                assert_se(strstr(err, "duplicate LIMIT"));
                assert_se(strstr(err, limit_key_to_string(k)));
                assert_int(r->limits[k], ==, k);
        }
        assert_int(add_limit(r, 0, 1), ==, -EINVAL);
        assert_streq(err, "unknown LIMIT key 0");
        assert_int(add_limit(r, _LIMIT_MAX, 1), ==, -EINVAL);
        assert_int(add_limit(r, UINT32_MAX, 1), ==, -EINVAL);
        assert_int(add(r, FRAME_LIMIT, "\x01\x00\x00\x00\x01\x00\x00\x00", 8), ==, -EBADMSG);
        assert_int(add(r, FRAME_LIMIT, "\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00", 13),
                   ==, -EMSGSIZE);

        _cleanup_(request_freep) Request *r2 = hello_request();
        assert_int(add_limit(r2, LIMIT_MEMORY, 0), ==, -EINVAL);
        assert_streq(err, "LIMIT memory must be greater than 0");
        assert_se(!r2->limit_set[LIMIT_MEMORY]);
        assert_int(add_limit(r2, LIMIT_MEMORY, 1), ==, 0);
}

static void test_request_order(void) {
        static const uint16_t after_only[] = { FRAME_STDIN, FRAME_STDIN_EOF, FRAME_CANCEL };
        static const uint16_t helper_only[] = { FRAME_ACCEPTED, FRAME_STDOUT, FRAME_STDERR, FRAME_RESULT };
        _cleanup_(request_freep) Request *r = hello_request();

        for (size_t i = 0; i < ELEMENTSOF(after_only); i++) {
                uint16_t t = after_only[i];
                assert_int(add(r, t, "x", t == FRAME_STDIN ? 1 : 0), ==, -EBADMSG);
                assert_se(strstr(err, "before REQUEST_END"));
        }
        for (size_t i = 0; i < ELEMENTSOF(helper_only); i++) {
                assert_int(add(r, helper_only[i], "x", 1), ==, -EBADMSG);
                assert_se(strstr(err, "a frame the helper sends"));
        }
        assert_int(add(r, 0x0042, NULL, 0), ==, -EBADMSG);
        assert_streq(err, "unknown frame type 0x0042");
        assert_int(add(r, FRAME_REQUEST_END, "x", 1), ==, -EMSGSIZE);
        assert_int(add(r, FRAME_STDIN, "", 0), ==, -EBADMSG);
        /* A failed frame leaves the request usable and unchanged. */
        assert_int(add_str(r, FRAME_CODE, "pass"), ==, 0);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        /* NULL error buffer is allowed. */
        assert_int(request_add_frame(r, FRAME_CODE, "x", 1, NULL, 0), ==, -EBADMSG);
}

static void test_limit_keys(void) {
        static const char *const names[] = { NULL, "memory", "tasks", "cpu-quota", "cpu-time",
                                             "wall-time", "output", "disk" };

        assert_int(ELEMENTSOF(names), ==, _LIMIT_MAX);
        for (int k = 1; k < _LIMIT_MAX; k++) {
                assert_streq(limit_key_to_string(k), names[k]);
                assert_int(limit_key_from_string(names[k]), ==, k);
        }
        assert_se(!limit_key_to_string(0));
        assert_se(!limit_key_to_string(_LIMIT_MAX));
        assert_se(!limit_key_to_string(-1));
        assert_int(limit_key_from_string("Memory"), ==, -EINVAL);
        assert_int(limit_key_from_string(""), ==, -EINVAL);
        assert_int(limit_key_from_string(NULL), ==, -EINVAL);
}

static void test_job_status(void) {
        static const char *const names[] = { "ok", "exit", "signal", "timeout", "cpu-limit", "oom",
                                             "output-limit", "killed", "rejected", "error" };

        assert_int(ELEMENTSOF(names), ==, _JOB_STATUS_MAX);
        for (int s = 0; s < _JOB_STATUS_MAX; s++) {
                assert_streq(job_status_to_string(s), names[s]);
                assert_int(job_status_from_string(names[s]), ==, s);
        }
        assert_se(!job_status_to_string(_JOB_STATUS_MAX));
        assert_se(!job_status_to_string(-1));
        assert_int(job_status_from_string("OK"), ==, -EINVAL);
        assert_int(job_status_from_string("cpu_limit"), ==, -EINVAL);
}

static void test_signals(void) {
        char b[16];

        assert_int(signal_to_string(SIGKILL, b, sizeof(b)), ==, 0);
        assert_streq(b, "SIGKILL");
        assert_int(signal_from_string("SIGKILL"), ==, SIGKILL);
        for (int s = 1; s <= 64; s++) {
                assert_int(signal_to_string(s, b, sizeof(b)), ==, 0);
                assert_int(signal_from_string(b), ==, s);
        }
        assert_int(signal_to_string(SIGRTMIN, b, sizeof(b)), ==, 0);
        assert_streq(b, "SIG34");
        assert_int(signal_to_string(0, b, sizeof(b)), ==, -EINVAL);
        assert_int(signal_to_string(65, b, sizeof(b)), ==, -EINVAL);
        assert_int(signal_to_string(SIGTERM, b, 4), ==, -ENOBUFS);
        assert_int(signal_from_string("KILL"), ==, -EINVAL);
        assert_int(signal_from_string("SIG0"), ==, -EINVAL);
        assert_int(signal_from_string("SIG65"), ==, -EINVAL);
        assert_int(signal_from_string("SIG09"), ==, -EINVAL);
        assert_int(signal_from_string("SIG9x"), ==, -EINVAL);
        assert_int(signal_from_string("SIG"), ==, -EINVAL);
        assert_int(signal_from_string("sigkill"), ==, -EINVAL);
}

static void test_result_roundtrip(void) {
        JobResult r = {
                .status = JOB_SIGNAL,
                .exit_code = -1,
                .signal = SIGSEGV,
                .wall_ms = 1234,
                .cpu_ms = 0,
                .memory_peak_bytes = UINT64_MAX - 1,
                .memory_peak_reason = NULL,
                .unit = (char *) "pyward-job-17.service",
                .invocation_id = (char *) "0123456789abcdef0123456789abcdef",
                .job = (char *) "17",
                .message = (char *) "line1\nline2 back\\slash \\n literal=x",
        };
        _cleanup_free_ char *text = NULL;
        JobResult p = {};
        size_t n;

        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_int(strlen(text), ==, n);
        assert_streq(text,
                     "status=signal\n"
                     "exit_code=\n"
                     "signal=SIGSEGV\n"
                     "wall_ms=1234\n"
                     "cpu_ms=0\n"
                     "memory_peak_bytes=18446744073709551614\n"
                     "memory_peak_reason=\n"
                     "unit=pyward-job-17.service\n"
                     "invocation_id=0123456789abcdef0123456789abcdef\n"
                     "job=17\n"
                     "message=line1\\nline2 back\\\\slash \\\\n literal=x\n");
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_int(p.status, ==, JOB_SIGNAL);
        assert_int(p.exit_code, ==, -1);
        assert_int(p.signal, ==, SIGSEGV);
        assert_int(p.wall_ms, ==, 1234);
        assert_int(p.cpu_ms, ==, 0);
        assert_se(p.memory_peak_bytes == UINT64_MAX - 1);
        assert_se(!p.memory_peak_reason);
        assert_streq(p.unit, r.unit);
        assert_streq(p.invocation_id, r.invocation_id);
        assert_streq(p.job, "17");
        assert_streq(p.message, r.message);
        job_result_done(&p);
        assert_se(!p.message && !p.unit);
        job_result_done(&p);
        job_result_done(NULL);
}

static void test_result_unset(void) {
        JobResult r = {
                .status = JOB_REJECTED,
                .exit_code = -1,
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
                .memory_peak_reason = (char *) "no memory accounting",
                .message = (char *) "profile \"big\" not allowed",
        };
        _cleanup_free_ char *text = NULL;
        JobResult p = {};
        size_t n;

        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_streq(text, "status=rejected\nexit_code=\nsignal=\nwall_ms=\ncpu_ms=\nmemory_peak_bytes=\n"
                           "memory_peak_reason=no memory accounting\nunit=\ninvocation_id=\njob=\n"
                           "message=profile \"big\" not allowed\n");
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_int(p.status, ==, JOB_REJECTED);
        assert_int(p.exit_code, ==, -1);
        assert_int(p.signal, ==, 0);
        assert_se(p.wall_ms == RESULT_UNSET && p.cpu_ms == RESULT_UNSET);
        assert_se(p.memory_peak_bytes == RESULT_UNSET);
        assert_streq(p.memory_peak_reason, "no memory accounting");
        assert_se(!p.unit && !p.invocation_id && !p.job);
        job_result_done(&p);

        /* Every status and exit codes at the edges. */
        for (int s = 0; s < _JOB_STATUS_MAX; s++) {
                _cleanup_free_ char *t = NULL;
                r = (JobResult) { .status = s, .exit_code = s == JOB_EXIT ? 255 : 0,
                                  .wall_ms = RESULT_UNSET, .cpu_ms = 7, .memory_peak_bytes = 0 };
                assert_int(job_result_format(&r, &t, &n), ==, 0);
                assert_int(job_result_parse(t, n, &p), ==, 0);
                assert_int(p.status, ==, s);
                assert_int(p.exit_code, ==, r.exit_code);
                assert_se(p.wall_ms == RESULT_UNSET && p.cpu_ms == 7 && p.memory_peak_bytes == 0);
                job_result_done(&p);
        }
}

static void test_result_format_errors(void) {
        JobResult r = { .status = _JOB_STATUS_MAX, .exit_code = -1 };
        char *text = (char *) "untouched";
        size_t n = 42;

        assert_int(job_result_format(&r, &text, &n), ==, -EINVAL);
        r.status = JOB_EXIT;
        r.exit_code = 256;
        assert_int(job_result_format(&r, &text, &n), ==, -EINVAL);
        r.exit_code = 1;
        r.signal = 99;
        assert_int(job_result_format(&r, &text, &n), ==, -EINVAL);
        assert_streq(text, "untouched");
        assert_int(n, ==, 42);
}

static void test_result_long_message(void) {
        /* A huge message is cut so that the record still fits; a UTF-8 sequence is never split. */
        size_t m = 3 * PW_RESULT_MAX;
        char *msg = malloc(m + 1);
        _cleanup_free_ char *text = NULL;
        JobResult p = {};
        size_t n;

        assert_se(msg);
        for (size_t i = 0; i + 2 <= m; i += 2)
                memcpy(msg + i, "\xc3\xa5", 2);
        msg[m] = '\0';
        msg[1] = '\n';
        msg[0] = '\\';
        JobResult r = { .status = JOB_ERROR, .exit_code = -1, .message = msg };
        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_se(n <= PW_RESULT_MAX);
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_se(strncmp(p.message, "\\\n\xc3\xa5", 4) == 0);
        assert_se(strlen(p.message) < m);
        assert_se(strcmp(p.message + strlen(p.message) - 5, "\xc3\xa5...") == 0);
        job_result_done(&p);
        free(msg);
}

static void test_result_parse_lenient(void) {
        static const char text[] = "future_key=whatever \\q goes\n"
                                   "status=ok\n"
                                   "exit_code=0\n"
                                   "another=\n";
        JobResult p = {};

        /* Unknown keys are ignored, even with what would be a bad escape; missing keys are unset. */
        assert_int(job_result_parse(text, sizeof(text) - 1, &p), ==, 0);
        assert_int(p.status, ==, JOB_OK);
        assert_int(p.exit_code, ==, 0);
        assert_int(p.signal, ==, 0);
        assert_se(p.wall_ms == RESULT_UNSET && p.cpu_ms == RESULT_UNSET &&
                  p.memory_peak_bytes == RESULT_UNSET);
        assert_se(!p.message && !p.unit && !p.job && !p.invocation_id && !p.memory_peak_reason);
        job_result_done(&p);

        assert_int(job_result_parse("status=exit\nexit_code=3\nsignal=SIG40\n", 37, &p), ==, 0);
        assert_int(p.exit_code, ==, 3);
        assert_int(p.signal, ==, 40);
        job_result_done(&p);
}

static void test_result_parse_malformed(void) {
        static const char *const bad[] = {
                "",
                "\n",
                "status=ok",                        /* no final newline */
                "status=ok\n\n",                    /* empty line */
                "status=ok\nnoequals\n",
                "status=ok\n=value\n",
                "exit_code=0\n",                    /* no status */
                "status=OK\n",
                "status=\n",
                "status=ok\nstatus=ok\n",           /* duplicate */
                "status=ok\nexit_code=256\n",
                "status=ok\nexit_code=-1\n",
                "status=ok\nexit_code=01\n",
                "status=ok\nexit_code= 1\n",
                "status=ok\nexit_code=1x\n",
                "status=ok\nsignal=9\n",
                "status=ok\nsignal=SIGFOO\n",
                "status=ok\nwall_ms=18446744073709551616\n",
                "status=ok\nwall_ms=18446744073709551615\n", /* the unset sentinel is not a value */
                "status=ok\ncpu_ms=+5\n",
                "status=ok\nmemory_peak_bytes=1e3\n",
                "status=ok\nmessage=a\\tb\n",       /* only \\ and \n are escapes */
                "status=ok\nmessage=trailing\\\n",
                "status=ok\nunit=a\rb\\x\n",
        };
        JobResult p = { .status = JOB_KILLED, .exit_code = 99 };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = job_result_parse(bad[i], strlen(bad[i]), &p);
                if (r != -EBADMSG)
                        fprintf(stderr, "case %zu: \"%s\"\n", i, bad[i]);
                assert_int(r, ==, -EBADMSG);
                assert_int(p.status, ==, JOB_KILLED);
                assert_int(p.exit_code, ==, 99);
        }
        /* Embedded NUL, oversize. */
        assert_int(job_result_parse("status=ok\nmessage=a\0b\n", 22, &p), ==, -EBADMSG);
        char *big = malloc(PW_RESULT_MAX + 1);
        assert_se(big);
        memset(big, 'x', PW_RESULT_MAX + 1);
        assert_int(job_result_parse(big, PW_RESULT_MAX + 1, &p), ==, -EMSGSIZE);
        free(big);
        /* A failure after strings were already parsed leaks nothing (checked under valgrind/ASan). */
        assert_int(job_result_parse("status=ok\nmessage=m\nunit=u\nexit_code=x\n", 39, &p), ==, -EBADMSG);
        assert_int(p.status, ==, JOB_KILLED);
}

int main(void) {
        test_header_bounds();
        test_header_format();
        test_frame_write();
        test_frame_write_large();
        test_request_full();
        test_request_minimal();
        test_request_hello();
        test_request_code();
        test_request_filename();
        test_request_args();
        test_request_profile();
        test_request_limits();
        test_request_order();
        test_limit_keys();
        test_job_status();
        test_signals();
        test_result_roundtrip();
        test_result_unset();
        test_result_format_errors();
        test_result_long_message();
        test_result_parse_lenient();
        test_result_parse_malformed();
        return 0;
}
