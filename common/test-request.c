/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of request.c: every request order rule of the decoder, the encoder's bytes and its
 * round trip through the decoder, the profile name rule and the bootstrap's preamble. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "test.h"

static char err[256];

static int add(Request *r, uint16_t type, const void *p, size_t n) {
        err[0] = '\0';
        return request_add_frame(r, type, p, n, err, sizeof(err));
}

static int add_str(Request *r, uint16_t type, const char *s) {
        return add(r, type, s, strlen(s));
}

static int add_hello(Request *r, uint32_t version) {
        uint8_t b[PW_HELLO_SIZE];

        hello_payload_format(b, version);
        return add(r, FRAME_HELLO, b, sizeof(b));
}

static int add_limit(Request *r, uint32_t key, uint64_t value) {
        uint8_t b[PW_LIMIT_SIZE];

        limit_payload_format(b, key, value);
        return add(r, FRAME_LIMIT, b, sizeof(b));
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
        assert_int(add_str(r, FRAME_ARG,
                           "thr\xff"
                           "ee"),
                   ==, 0);
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
        assert_streq(r->argv[2],
                     "thr\xff"
                     "ee");
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
        assert_int(add(r, FRAME_LIMIT, "\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00", 13), ==,
                   -EMSGSIZE);

        _cleanup_(request_freep) Request *r2 = hello_request();
        assert_int(add_limit(r2, LIMIT_MEMORY, 0), ==, -EINVAL);
        assert_streq(err, "LIMIT memory must be greater than 0");
        assert_se(!r2->limit_set[LIMIT_MEMORY]);
        assert_int(add_limit(r2, LIMIT_MEMORY, 1), ==, 0);
}

static void test_request_order(void) {
        static const uint16_t after_only[] = { FRAME_STDIN, FRAME_STDIN_EOF, FRAME_CANCEL, FRAME_INTERRUPT,
                                               FRAME_SESSION_END };
        static const uint16_t helper_only[] = { FRAME_ACCEPTED, FRAME_STDOUT, FRAME_STDERR, FRAME_RESULT,
                                                FRAME_CELL_RESULT };
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
        /* A CELL (a session's, after REQUEST_END) before the request is complete. */
        assert_int(add(r, FRAME_CELL, "\0\0\0\0x", 5), ==, -EBADMSG);
        assert_streq(err, "CELL frame before REQUEST_END: the request is not complete yet");
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
        /* clang-format off */
        static const char *const names[] = {
                NULL,                "memory",           "tasks",             "cpu-quota",
                "cpu-time",          "wall-time",        "output",            "disk",
                "files-in",          "files-in-bytes",   "files-out",         "files-out-bytes",
                "file-out-size",     "files-out-depth",  "files-out-time",    "session-wall-time",
                "session-cpu-time",  "session-idle-time", "session-cells",    "cell-grace",
        };
        /* clang-format on */

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

/* Feeds encoded bytes to the decoder, frame by frame, as the helper's reader does. */
static Request *decode_all(const Buffer *b) {
        Request *r = new_request();
        size_t off = 0;
        int q = 0;

        while (off < b->size) {
                FrameHeader h;

                assert_se(b->size - off >= PW_FRAME_HEADER_SIZE);
                assert_int(frame_header_parse(b->data + off, &h), ==, 0);
                off += PW_FRAME_HEADER_SIZE;
                assert_se(b->size - off >= h.length);
                q = add(r, h.type, b->data + off, h.length);
                assert_int(q, >=, 0);
                off += h.length;
        }
        assert_int(q, ==, 1);
        return r;
}

static void test_request_append(void) {
        char *argv[] = { "one", "",
                         "thr\xff"
                         "ee",
                         NULL };
        Request in = {
                .code = (char *) "print(1)\n",
                .code_size = 9,
                .filename = (char *) "job.py",
                .argv = argv,
                .n_args = 3,
                .profile = (char *) "small",
        };
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_(request_freep) Request *out = NULL;

        in.limits[LIMIT_WALL_TIME] = 1500000;
        in.limit_set[LIMIT_WALL_TIME] = true;
        in.limits[LIMIT_MEMORY] = UINT64_MAX;
        in.limit_set[LIMIT_MEMORY] = true;
        assert_int(request_append(&b, &in), ==, 0);
        out = decode_all(&b);
        assert_int(out->version, ==, PW_PROTOCOL_VERSION);
        assert_int(out->code_size, ==, 9);
        assert_streq(out->code, "print(1)\n");
        assert_streq(out->filename, "job.py");
        assert_int(out->n_args, ==, 3);
        assert_streq(out->argv[0], "one");
        assert_streq(out->argv[1], "");
        assert_streq(out->argv[2],
                     "thr\xff"
                     "ee");
        assert_streq(out->profile, "small");
        for (int k = 1; k < _LIMIT_MAX; k++)
                assert_int(out->limit_set[k], ==, k == LIMIT_WALL_TIME || k == LIMIT_MEMORY);
        assert_se(out->limits[LIMIT_WALL_TIME] == 1500000);
        assert_se(out->limits[LIMIT_MEMORY] == UINT64_MAX);

        /* The minimal request, byte for byte as man/pyward-protocol.7 draws it. */
        static const uint8_t minimal[] = {
                0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* HELLO 1 */
                0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 'x',                    /* CODE */
                0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* REQUEST_END */
        };
        Request m = { .code = (char *) "x", .code_size = 1 };
        _cleanup_(buffer_done) Buffer mb = {};
        assert_int(request_append(&mb, &m), ==, 0);
        assert_int(mb.size, ==, sizeof(minimal));
        assert_se(memcmp(mb.data, minimal, sizeof(minimal)) == 0);

        /* All or nothing: a field over its bound leaves the buffer as it was. */
        char *long_arg = calloc(1, PW_ARG_MAX + 2);
        assert_se(long_arg);
        memset(long_arg, 'a', PW_ARG_MAX + 1);
        char *bad_argv[] = { long_arg, NULL };
        Request bad = { .code = (char *) "x", .code_size = 1, .argv = bad_argv, .n_args = 1 };
        assert_int(request_append(&mb, &bad), ==, -EMSGSIZE);
        assert_int(mb.size, ==, sizeof(minimal));
        free(long_arg);
}

static void test_limit_payload(void) {
        static const uint8_t expected[PW_LIMIT_SIZE] = { 0x05, 0,    0,    0,    0x08, 0x07,
                                                         0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
        uint8_t b[PW_LIMIT_SIZE], h[PW_HELLO_SIZE];

        limit_payload_format(b, LIMIT_WALL_TIME, UINT64_C(0x0102030405060708));
        assert_se(memcmp(b, expected, sizeof(b)) == 0);
        hello_payload_format(h, 0x01020304);
        assert_se(memcmp(h, "\x04\x03\x02\x01", 4) == 0);
}

static void test_profile_name_is_valid(void) {
        static const struct {
                const char *name;
                bool valid;
        } cases[] = {
                { "default", true }, { "small-1.x_Y", true },  { "a", true },
                { "...", true },     { ".hidden", true },      { "", false },
                { ".", false },      { "..", false },          { "a/b", false },
                { "a b", false },    { "caf\xc3\xa9", false }, { "x\n", false },
                { "tab\t", false },
        };
        char max[PW_PROFILE_NAME_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (profile_name_is_valid(cases[i].name) != cases[i].valid) {
                        fprintf(stderr, "case %zu: \"%s\"\n", i, cases[i].name);
                        assert_se(false);
                }
        assert_se(!profile_name_is_valid(NULL));
        memset(max, 'p', PW_PROFILE_NAME_MAX);
        max[PW_PROFILE_NAME_MAX] = '\0';
        assert_se(profile_name_is_valid(max));
        max[PW_PROFILE_NAME_MAX] = 'p';
        max[PW_PROFILE_NAME_MAX + 1] = '\0';
        assert_se(!profile_name_is_valid(max));
}

static void test_bootstrap_preamble(void) {
        static const uint8_t expected[] = { 0x03, 0, 0, 0, 0, 0, 0, 0, 'a', '=', '1' };
        _cleanup_(buffer_done) Buffer b = {};

        assert_int(bootstrap_preamble_append(&b, "a=1", 3), ==, 0);
        assert_int(b.size, ==, sizeof(expected));
        assert_se(memcmp(b.data, expected, sizeof(expected)) == 0);
        assert_int(bootstrap_preamble_append(&b, NULL, 0), ==, 0);
        assert_int(b.size, ==, sizeof(expected) + 8);
        assert_int(bootstrap_preamble_append(&b, NULL, 1), ==, -EINVAL);
        {
                /* The length's bytes in order, low first: the bootstrap reads int.from_bytes(..., "little"). */
                _cleanup_(buffer_done) Buffer big = {};
                size_t n = 0x10203;
                char *code = calloc(1, n);

                assert_se(code);
                assert_int(bootstrap_preamble_append(&big, code, n), ==, 0);
                assert_int(big.size, ==, 8 + n);
                assert_int(big.data[0], ==, 0x03);
                assert_int(big.data[1], ==, 0x02);
                assert_int(big.data[2], ==, 0x01);
                for (size_t i = 3; i < 8; i++)
                        assert_int(big.data[i], ==, 0);
                free(code);
        }
}

int main(void) {
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
        test_limit_payload();
        test_request_append();
        test_profile_name_is_valid();
        test_bootstrap_preamble();
        return 0;
}
