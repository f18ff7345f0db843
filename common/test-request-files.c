/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of request.c's files and discovery: FILE and its FILE_DATA in sequence, the path
 * rule's messages, duplicates and directories, the main file's name, the hard caps, COLLECT,
 * the shape of a DISCOVER request, limits of 0, and the encoder's round trip and bytes. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "protocol.h"
#include "test.h"

static char err[512];

static int add(Request *r, uint16_t type, const void *p, size_t n) {
        memset(err, 0, sizeof(err));
        return request_add_frame(r, type, p, n, err, sizeof(err));
}

static int add_file_n(Request *r, uint32_t flags, uint64_t size, const char *path, size_t n) {
        uint8_t b[PW_FILE_HEADER_SIZE + PW_PATH_MAX + 1];

        assert_se(n <= PW_PATH_MAX + 1);
        le32_store(b, flags);
        le64_store(b + 4, size);
        memcpy(b + PW_FILE_HEADER_SIZE, path, n);
        return add(r, FRAME_FILE, b, PW_FILE_HEADER_SIZE + n);
}

static int add_file(Request *r, uint32_t flags, uint64_t size, const char *path) {
        return add_file_n(r, flags, size, path, strlen(path));
}

static int add_limit(Request *r, uint32_t key, uint64_t value) {
        uint8_t b[PW_LIMIT_SIZE];

        limit_payload_format(b, key, value);
        return add(r, FRAME_LIMIT, b, sizeof(b));
}

static Request *hello_request(void) {
        Request *r = NULL;
        uint8_t b[PW_HELLO_SIZE];

        assert_int(request_new(&r), ==, 0);
        hello_payload_format(b, PW_PROTOCOL_VERSION);
        assert_int(add(r, FRAME_HELLO, b, sizeof(b)), ==, 0);
        return r;
}

/* A request with code, ready for files. */
static Request *code_request(void) {
        Request *r = hello_request();

        assert_int(add(r, FRAME_CODE, "pass", 4), ==, 0);
        return r;
}

static void test_files_in(void) {
        _cleanup_(request_freep) Request *r = code_request();

        assert_int(add_file(r, 0, 5, "data/in.csv"), ==, 0);
        assert_int(r->n_files, ==, 1);
        assert_int(add(r, FRAME_FILE_DATA, "ab", 2), ==, 0);
        assert_int(add(r, FRAME_FILE_DATA, "cde", 3), ==, 0);
        /* An empty file has no FILE_DATA. */
        assert_int(add_file(r, PW_FILE_EXECUTABLE, 0, "run.sh"), ==, 0);
        assert_int(add_file(r, 0, 1, "x\n\xff"), ==, 0);
        assert_int(add(r, FRAME_FILE_DATA, "\0", 1), ==, 0);
        assert_int(add(r, FRAME_COLLECT, NULL, 0), ==, 0);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);

        assert_int(r->n_files, ==, 3);
        assert_int(r->files_bytes, ==, 6);
        assert_se(r->collect && !r->discover);
        assert_streq(r->files[0].path, "data/in.csv");
        assert_int(r->files[0].size, ==, 5);
        assert_int(r->files[0].data_size, ==, 5);
        assert_se(memcmp(r->files[0].data, "abcde", 5) == 0);
        assert_se(!r->files[0].executable);
        assert_streq(r->files[1].path, "run.sh");
        assert_se(r->files[1].executable);
        assert_int(r->files[1].size, ==, 0);
        assert_streq(r->files[2].path, "x\n\xff");
        assert_int(r->files[2].data[0], ==, 0);
}

static void test_files_sequence(void) {
        _cleanup_(request_freep) Request *r = code_request();
        char chunk[PW_CHUNK_MAX + 1];

        assert_int(add(r, FRAME_FILE_DATA, "x", 1), ==, -EBADMSG);
        assert_streq(err, "FILE_DATA frame without a FILE before it");
        assert_int(add_file(r, 0, 3, "a.txt"), ==, 0);
        /* Nothing else until its bytes are in: not the request's end, not another file. */
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, -EBADMSG);
        assert_streq(err,
                     "input file 'a.txt': REQUEST_END frame after 0 of its 3 bytes: its FILE_DATA must "
                     "come first");
        assert_int(add(r, FRAME_FILE_DATA, "a", 1), ==, 0);
        assert_int(add_file(r, 0, 1, "b.txt"), ==, -EBADMSG);
        assert_streq(err,
                     "input file 'a.txt': FILE frame after 1 of its 3 bytes: its FILE_DATA must come first");
        assert_int(add(r, FRAME_ARG, "x", 1), ==, -EBADMSG);
        assert_int(add(r, FRAME_COLLECT, NULL, 0), ==, -EBADMSG);
        assert_int(add(r, FRAME_FILE_DATA, "bcd", 3), ==, -EBADMSG);
        assert_streq(err, "input file 'a.txt': FILE_DATA frame of 3 bytes exceeds the 2 bytes still to come");
        assert_int(add(r, FRAME_FILE_DATA, "", 0), ==, -EBADMSG);
        memset(chunk, 'c', sizeof(chunk));
        assert_int(add(r, FRAME_FILE_DATA, chunk, sizeof(chunk)), ==, -EMSGSIZE);
        assert_int(r->files[0].data_size, ==, 1);
        assert_int(add(r, FRAME_FILE_DATA, "bc", 2), ==, 0);
        assert_int(add(r, FRAME_FILE_DATA, "d", 1), ==, -EBADMSG);
        assert_streq(err, "input file 'a.txt': FILE_DATA frame beyond its 3 bytes");
        /* Other frames may come between files. */
        assert_int(add(r, FRAME_ARG, "x", 1), ==, 0);
        assert_int(add_file(r, 0, PW_CHUNK_MAX + 1, "big"), ==, 0);
        assert_int(add(r, FRAME_FILE_DATA, chunk, PW_CHUNK_MAX), ==, 0);
        assert_int(add(r, FRAME_FILE_DATA, chunk, 1), ==, 0);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        assert_int(r->files_bytes, ==, PW_CHUNK_MAX + 4);
        /* After REQUEST_END: as every request frame. */
        assert_int(add_file(r, 0, 0, "late"), ==, -EBADMSG);
        assert_se(strstr(err, "already complete"));
        assert_int(add(r, FRAME_COLLECT, NULL, 0), ==, -EBADMSG);
        assert_int(add(r, FRAME_DISCOVER, NULL, 0), ==, -EBADMSG);
        assert_int(add(r, FRAME_FILE_DATA, "x", 1), ==, -EBADMSG);
}

static void test_files_paths(void) {
        static const struct {
                const char *path;
                const char *message;
        } bad[] = {
                { "../x", "input file '../x': a '..' component" },
                { "/etc/x", "input file '/etc/x': an absolute path" },
                { "a/../../x", "input file 'a/../../x': a '..' component" },
                { "./x", "input file './x': a '.' component" },
                { "a//b", "input file 'a//b': an empty component" },
                { "a/", "input file 'a/': an empty component" },
                { "\n/..", "input file '\\x0a/..': a '..' component" },
                { "it's\\/..", "input file 'it\\'s\\\\/..': a '..' component" },
                { "", "input file '': an empty path" },
        };
        _cleanup_(request_freep) Request *r = code_request();
        char p[PW_PATH_MAX + 1];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int(add_file(r, 0, 1, bad[i].path), ==, -EINVAL);
                assert_streq(err, bad[i].message);
        }
        assert_int(add_file_n(r, 0, 1, "a\0b", 3), ==, -EINVAL);
        assert_streq(err, "input file 'a\\x00b': a NUL byte");
        /* 33 components, a component of 256 bytes, 1025 bytes (over the frame's bound). */
        p[0] = '\0';
        for (int i = 0; i < 33; i++)
                strcat(p, i ? "/d" : "d");
        assert_int(add_file(r, 0, 0, p), ==, -EINVAL);
        assert_se(strstr(err, "': more than 32 components"));
        memset(p, 'c', 256);
        assert_int(add_file_n(r, 0, 0, p, 256), ==, -EINVAL);
        assert_se(strstr(err, "': a component longer than 255 bytes"));
        memset(p, '\n', sizeof(p));
        assert_int(add_file_n(r, 0, 0, p, PW_PATH_MAX + 1), ==, -EMSGSIZE);
        /* A path at its longest, all escapes: the message stays one short line. */
        memset(p, '\n', PW_PATH_MAX);
        p[0] = '/';
        assert_int(add_file_n(r, 0, 0, p, PW_PATH_MAX), ==, -EINVAL);
        assert_se(!strchr(err, '\n'));
        assert_int(strlen(err), <, 256);
        assert_se(strstr(err, "...': an absolute path"));
        /* Unknown flags. */
        assert_int(add_file(r, 0x2, 0, "x"), ==, -EINVAL);
        assert_streq(err, "input file 'x': unknown flags 0x2");
        assert_int(add_file(r, 0x80000001, 0, "x"), ==, -EINVAL);
        /* Nothing of the refused frames stayed. */
        assert_int(r->n_files, ==, 0);
        assert_int(r->files_bytes, ==, 0);
        /* Newlines, non-UTF-8 and odd but valid names are fine. */
        assert_int(add_file(r, 0, 0, "a\nb/\xff\xfe/..x/.hidden"), ==, 0);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
}

/* A request of these 0-byte files: REQUEST_END's verdict, and its message. */
static int end_with(const char *filename, const char *const *paths) {
        _cleanup_(request_freep) Request *r = code_request();

        if (filename)
                assert_int(add(r, FRAME_FILENAME, filename, strlen(filename)), ==, 0);
        for (const char *const *p = paths; *p; p++)
                assert_int(add_file(r, 0, 0, *p), ==, 0);
        return add(r, FRAME_REQUEST_END, NULL, 0);
}

#define PATHS(...) ((const char *const[]) { __VA_ARGS__, NULL })

static void test_files_unique(void) {
        assert_int(end_with(NULL, PATHS("a", "b", "c/d", "c/e", "cc", "c!", "c.d/x")), ==, 1);
        assert_int(end_with(NULL, PATHS("x", "y", "x")), ==, -EINVAL);
        assert_streq(err, "input file 'x': sent twice");
        assert_int(end_with(NULL, PATHS("a/b", "a")), ==, -EINVAL);
        assert_streq(err, "input file 'a': also a directory of input file 'a/b'");
        assert_int(end_with(NULL, PATHS("a", "a/b/c")), ==, -EINVAL);
        assert_streq(err, "input file 'a': also a directory of input file 'a/b/c'");
        /* A name that sorts between "a" and "a/b" in plain byte order ('!' < '/') does not hide it. */
        assert_int(end_with(NULL, PATHS("a", "a!b", "a.b", "a/b")), ==, -EINVAL);
        assert_streq(err, "input file 'a': also a directory of input file 'a/b'");
        assert_int(end_with(NULL, PATHS("d/a", "d/a\x01", "d/a/b")), ==, -EINVAL);
        assert_streq(err, "input file 'd/a': also a directory of input file 'd/a/b'");
        /* A prefix that is not a directory is not a conflict. */
        assert_int(end_with(NULL, PATHS("ab", "a/b", "a.txt", "ab/c")), ==, -EINVAL);
        assert_streq(err, "input file 'ab': also a directory of input file 'ab/c'");
        assert_int(end_with(NULL, PATHS("ab", "a/b", "a.txt", "abc/d")), ==, 1);

        /* The main file's name: main.py unless FILENAME says otherwise. */
        assert_int(end_with(NULL, PATHS("x", "main.py")), ==, -EINVAL);
        assert_streq(err, "input file 'main.py': the main file's name (FILENAME)");
        assert_int(end_with(NULL, PATHS("main.py/x")), ==, -EINVAL);
        assert_streq(err, "input file 'main.py/x': below the main file's name 'main.py' (FILENAME)");
        assert_int(end_with("job.py", PATHS("main.py", "main.py.bak", "x/job.py")), ==, 1);
        assert_int(end_with("job.py", PATHS("job.py")), ==, -EINVAL);
        assert_streq(err, "input file 'job.py': the main file's name (FILENAME)");
}

static void test_files_caps(void) {
        _cleanup_(request_freep) Request *r = code_request();
        char name[16];

        /* The bytes: checked on FILE, before anything is allocated. */
        assert_int(add_file(r, 0, UINT64_MAX, "huge"), ==, -E2BIG);
        assert_streq(err,
                     "input file 'huge' of 18446744073709551615 bytes: the input files exceed the maximum "
                     "of 33554432 bytes");
        assert_int(add_file(r, 0, PW_FILES_IN_BYTES_MAX + 1ULL, "huge"), ==, -E2BIG);
        assert_int(add_file(r, 0, PW_FILES_IN_BYTES_MAX - 1ULL, "big"), ==, 0);
        r->files[0].data_size = r->files[0].size; /* as if its FILE_DATA had come */
        assert_int(add_file(r, 0, 2, "two"), ==, -E2BIG);
        assert_int(add_file(r, 0, 1, "one"), ==, 0);
        assert_int(add(r, FRAME_FILE_DATA, "1", 1), ==, 0);
        assert_int(r->files_bytes, ==, PW_FILES_IN_BYTES_MAX);
        assert_int(add_file(r, 0, 1, "more"), ==, -E2BIG);

        /* The count. */
        for (unsigned i = 2; i < PW_FILES_COUNT_MAX; i++) {
                (void) snprintf(name, sizeof(name), "f%u", i);
                assert_int(add_file(r, 0, 0, name), ==, 0);
        }
        assert_int(r->n_files, ==, PW_FILES_COUNT_MAX);
        assert_int(add_file(r, 0, 0, "last"), ==, -E2BIG);
        assert_streq(err, "input file 'last': more than 10000 input files");
        assert_int(r->n_files, ==, PW_FILES_COUNT_MAX);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
}

static void test_collect(void) {
        _cleanup_(request_freep) Request *r = hello_request();

        /* Anywhere in the request, before or after the code; once. */
        assert_int(add(r, FRAME_COLLECT, NULL, 0), ==, 0);
        assert_int(add(r, FRAME_COLLECT, NULL, 0), ==, -EBADMSG);
        assert_streq(err, "duplicate COLLECT frame");
        assert_int(add(r, FRAME_COLLECT, "x", 1), ==, -EMSGSIZE);
        assert_int(add(r, FRAME_CODE, "pass", 4), ==, 0);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        assert_se(r->collect);
}

static void test_discover(void) {
        static const uint16_t others[] = { FRAME_CODE,  FRAME_FILENAME, FRAME_ARG,    FRAME_PROFILE,
                                           FRAME_LIMIT, FRAME_FILE,     FRAME_COLLECT };
        uint8_t payload[PW_FILE_HEADER_SIZE + 1] = { [PW_FILE_HEADER_SIZE] = 'x' }, limit[PW_LIMIT_SIZE];

        limit_payload_format(limit, LIMIT_MEMORY, 1);

        {
                _cleanup_(request_freep) Request *r = hello_request();

                /* No code: CODE's "exactly once" is not a DISCOVER request's rule. */
                assert_int(add(r, FRAME_DISCOVER, NULL, 0), ==, 0);
                assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
                assert_se(r->discover && !r->code && r->complete);
        }
        {
                Request *r = NULL;

                assert_int(request_new(&r), ==, 0);
                assert_int(add(r, FRAME_DISCOVER, NULL, 0), ==, -EBADMSG);
                assert_streq(err, "DISCOVER frame before HELLO: the request must start with HELLO");
                request_free(r);
        }
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                _cleanup_(request_freep) Request *r = hello_request(), *r2 = hello_request();
                uint16_t t = others[i];
                const void *p = "x";
                size_t n = t == FRAME_COLLECT ? 0 : 1;
                char expected[256];

                if (t == FRAME_FILE) {
                        p = payload;
                        n = sizeof(payload);
                } else if (t == FRAME_LIMIT) {
                        p = limit;
                        n = sizeof(limit);
                }
                /* After DISCOVER, nothing else... */
                assert_int(add(r, FRAME_DISCOVER, NULL, 0), ==, 0);
                assert_int(add(r, t, p, n), ==, -EBADMSG);
                (void) snprintf(
                        expected, sizeof(expected),
                        "%s frame in a DISCOVER request, which holds HELLO, DISCOVER and REQUEST_END only",
                        frame_type_to_string(t));
                assert_streq(err, expected);
                assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
                /* ...and before it neither. */
                assert_int(add(r2, t, p, n), ==, 0);
                assert_int(add(r2, FRAME_DISCOVER, NULL, 0), ==, -EBADMSG);
                (void) snprintf(
                        expected, sizeof(expected),
                        "DISCOVER frame after %s: a DISCOVER request holds HELLO, DISCOVER and REQUEST_END only",
                        frame_type_to_string(t));
                assert_streq(err, expected);
                assert_se(!r2->discover);
        }
        {
                _cleanup_(request_freep) Request *r = hello_request();

                assert_int(add(r, FRAME_DISCOVER, NULL, 0), ==, 0);
                assert_int(add(r, FRAME_DISCOVER, NULL, 0), ==, -EBADMSG);
                assert_se(strstr(err, "DISCOVER frame in a DISCOVER request"));
                assert_int(add(r, FRAME_DISCOVER, "x", 1), ==, -EMSGSIZE);
                assert_int(add(r, FRAME_FILE_DATA, "x", 1), ==, -EBADMSG);
                assert_int(add(r, FRAME_STDIN, "x", 1), ==, -EBADMSG);
                assert_se(strstr(err, "before REQUEST_END"));
                assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        }
}

static void test_limits_zero(void) {
        _cleanup_(request_freep) Request *r = code_request();

        /* 0 is "none" for the files' counts, bytes and depth; a time must be more. */
        for (uint32_t k = LIMIT_FILES_IN; k <= LIMIT_FILES_OUT_DEPTH; k++) {
                assert_se(limit_key_allows_zero(k));
                assert_int(add_limit(r, k, 0), ==, 0);
                assert_se(r->limit_set[k] && r->limits[k] == 0);
        }
        assert_se(!limit_key_allows_zero(LIMIT_FILES_OUT_TIME));
        assert_int(add_limit(r, LIMIT_FILES_OUT_TIME, 0), ==, -EINVAL);
        assert_streq(err, "LIMIT files-out-time must be greater than 0");
        for (uint32_t k = 1; k < LIMIT_FILES_IN; k++) {
                assert_se(!limit_key_allows_zero(k));
                assert_int(add_limit(r, k, 0), ==, -EINVAL);
        }
        assert_se(!limit_key_allows_zero(0) && !limit_key_allows_zero(_LIMIT_MAX));
        assert_int(add_limit(r, LIMIT_FILES_OUT_TIME, 1), ==, 0);
}

/* Feeds encoded bytes to the decoder, frame by frame, as the helper's reader does. */
static Request *decode_all(const Buffer *b) {
        Request *r = NULL;
        size_t off = 0;
        int q = 0;

        assert_int(request_new(&r), ==, 0);
        while (off < b->size) {
                FrameHeader h;

                assert_se(b->size - off >= PW_FRAME_HEADER_SIZE);
                assert_int(frame_header_parse(b->data + off, &h), ==, 0);
                off += PW_FRAME_HEADER_SIZE;
                assert_se(b->size - off >= h.length);
                q = add(r, h.type, b->data + off, h.length);
                if (q < 0)
                        fprintf(stderr, "%s\n", err);
                assert_int(q, >=, 0);
                off += h.length;
        }
        assert_int(q, ==, 1);
        return r;
}

static void test_files_append(void) {
        size_t big_size = 2 * PW_CHUNK_MAX + 7;
        uint8_t *big = malloc(big_size);
        RequestFile files[] = {
                { .path = (char *) "in/big.bin", .data = big, .size = big_size },
                { .path = (char *) "empty", .size = 0, .executable = true },
                { .path = (char *) "n\nl", .data = (uint8_t *) "xy", .size = 2 },
        };
        Request in = {
                .code = (char *) "pass", .code_size = 4, .files = files, .n_files = 3, .collect = true
        };
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_(request_freep) Request *out = NULL;
        size_t n_data = 0;

        assert_se(big);
        for (size_t i = 0; i < big_size; i++)
                big[i] = (uint8_t) (i * 7);
        in.limits[LIMIT_FILES_IN] = 0;
        in.limit_set[LIMIT_FILES_IN] = true;
        assert_int(request_append(&b, &in), ==, 0);
        out = decode_all(&b);
        assert_int(out->n_files, ==, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_streq(out->files[i].path, files[i].path);
                assert_int(out->files[i].size, ==, files[i].size);
                assert_int(out->files[i].executable, ==, files[i].executable);
                assert_se(files[i].size == 0 ||
                          memcmp(out->files[i].data, files[i].data, files[i].size) == 0);
        }
        assert_se(out->collect && !out->discover);
        assert_se(out->limit_set[LIMIT_FILES_IN] && out->limits[LIMIT_FILES_IN] == 0);
        /* The big file in chunks of at most PW_CHUNK_MAX: three of them. */
        for (size_t off = 0; off < b.size;) {
                FrameHeader h;

                assert_int(frame_header_parse(b.data + off, &h), ==, 0);
                if (h.type == FRAME_FILE_DATA)
                        n_data++;
                off += PW_FRAME_HEADER_SIZE + h.length;
        }
        assert_int(n_data, ==, 4);

        /* All or nothing: a file whose path breaks the rule leaves the buffer as it was. */
        size_t before = b.size;
        files[1].path = (char *) "../x";
        assert_int(request_append(&b, &in), ==, -EINVAL);
        assert_int(b.size, ==, before);
        files[1].path = (char *) "ok";
        files[1].size = 1; /* and no data */
        assert_int(request_append(&b, &in), ==, -EINVAL);
        assert_int(b.size, ==, before);
        free(big);
}

static void test_discover_append(void) {
        static const uint8_t expected[] = {
                0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* HELLO 1 */
                0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* DISCOVER */
                0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* REQUEST_END */
        };
        static const uint8_t collect[] = {
                0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* HELLO 1 */
                0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 'x',                    /* CODE */
                0x08, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* FILE, 13 bytes */
                0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'f',                    /* size 1, "f" */
                0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 'y',                    /* FILE_DATA */
                0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* COLLECT */
                0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* REQUEST_END */
        };
        Request d = { .discover = true };
        RequestFile f = { .path = (char *) "f", .data = (uint8_t *) "y", .size = 1 };
        Request c = { .code = (char *) "x", .code_size = 1, .files = &f, .n_files = 1, .collect = true };
        _cleanup_(buffer_done) Buffer b = {}, cb = {};
        _cleanup_(request_freep) Request *out = NULL;

        assert_int(request_append(&b, &d), ==, 0);
        assert_int(b.size, ==, sizeof(expected));
        assert_se(memcmp(b.data, expected, sizeof(expected)) == 0);
        out = decode_all(&b);
        assert_se(out->discover && !out->code);
        assert_int(request_append(&cb, &c), ==, 0);
        assert_int(cb.size, ==, sizeof(collect));
        assert_se(memcmp(cb.data, collect, sizeof(collect)) == 0);
}

int main(void) {
        test_files_in();
        test_files_sequence();
        test_files_paths();
        test_files_unique();
        test_files_caps();
        test_collect();
        test_discover();
        test_limits_zero();
        test_files_append();
        test_discover_append();
        return 0;
}
