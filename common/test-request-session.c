/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of request.c's sessions: the shape of a SESSION request (HELLO, SESSION, PROFILE,
 * LIMIT, REQUEST_END), every frame it refuses in either order and the message that says so, the
 * session frames that only follow REQUEST_END, and the encoder's bytes and round trip. */

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

static Request *session_request(void) {
        Request *r = hello_request();

        assert_int(add(r, FRAME_SESSION, NULL, 0), ==, 0);
        assert_se(r->session);
        return r;
}

static void test_session_minimal(void) {
        _cleanup_(request_freep) Request *r = session_request();

        /* No code: a session's code comes in cells. */
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        assert_se(r->complete && r->session && !r->code && r->code_size == 0);
        assert_se(!r->filename && r->n_args == 0 && r->n_files == 0 && !r->collect && !r->discover);
}

static void test_session_full(void) {
        _cleanup_(request_freep) Request *r = hello_request();

        /* PROFILE and LIMIT before and after SESSION; every limit key, the session's too. */
        assert_int(add(r, FRAME_PROFILE, "small", 5), ==, 0);
        assert_int(add_limit(r, LIMIT_MEMORY, 1 << 20), ==, 0);
        assert_int(add(r, FRAME_SESSION, NULL, 0), ==, 0);
        for (uint32_t k = LIMIT_TASKS; k < _LIMIT_MAX; k++)
                assert_int(add_limit(r, k, k * 1000), ==, 0);
        assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        assert_se(r->session && !r->code);
        assert_streq(r->profile, "small");
        assert_se(r->limit_set[LIMIT_SESSION_WALL_TIME] && r->limits[LIMIT_SESSION_WALL_TIME] == 15000);
        assert_se(r->limit_set[LIMIT_CELL_GRACE] && r->limits[LIMIT_CELL_GRACE] == 19000);
        /* The session's limits are never 0. */
        for (uint32_t k = LIMIT_SESSION_WALL_TIME; k <= LIMIT_CELL_GRACE; k++) {
                _cleanup_(request_freep) Request *z = session_request();
                char expected[128];

                assert_se(!limit_key_allows_zero(k));
                assert_int(add_limit(z, k, 0), ==, -EINVAL);
                (void) snprintf(expected, sizeof(expected), "LIMIT %s must be greater than 0",
                                limit_key_to_string(k));
                assert_streq(err, expected);
        }
}

static void test_session_frame_rules(void) {
        {
                Request *r = NULL;

                assert_int(request_new(&r), ==, 0);
                assert_int(add(r, FRAME_SESSION, NULL, 0), ==, -EBADMSG);
                assert_streq(err, "SESSION frame before HELLO: the request must start with HELLO");
                request_free(r);
        }
        {
                _cleanup_(request_freep) Request *r = session_request();

                assert_int(add(r, FRAME_SESSION, NULL, 0), ==, -EBADMSG);
                assert_streq(err, "duplicate SESSION frame");
                assert_int(add(r, FRAME_SESSION, "x", 1), ==, -EMSGSIZE);
                assert_streq(err, "SESSION frame of 1 bytes exceeds the maximum of 0 bytes");
                assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
                /* After REQUEST_END: frame_after_request()'s business, not the request's. */
                assert_int(add(r, FRAME_SESSION, NULL, 0), ==, -EBADMSG);
                assert_se(strstr(err, "already complete"));
                assert_int(add(r, FRAME_CELL, "\0\0\0\0", 4), ==, -EBADMSG);
                assert_se(strstr(err, "already complete"));
        }
}

/* The frames a SESSION request may not hold, with a payload each would be valid with. */
static const struct {
        uint16_t type;
        const char *payload;
        size_t size;
} job_frames[] = {
        { FRAME_CODE, "pass", 4 },  { FRAME_FILENAME, "job.py", 6 },
        { FRAME_ARG, "a", 1 },      { FRAME_FILE, "\0\0\0\0\0\0\0\0\0\0\0\0f", 13 }, /* an empty file "f" */
        { FRAME_COLLECT, NULL, 0 }, { FRAME_DISCOVER, NULL, 0 },
};

static void test_session_refuses(void) {
        for (size_t i = 0; i < ELEMENTSOF(job_frames); i++) {
                _cleanup_(request_freep) Request *r = session_request(), *r2 = hello_request();
                uint16_t t = job_frames[i].type;
                const char *name = frame_type_to_string(t);
                char expected[512];

                /* After SESSION... */
                assert_int(add(r, t, job_frames[i].payload, job_frames[i].size), ==, -EBADMSG);
                (void) snprintf(expected, sizeof(expected),
                                "a SESSION request has no %s: it holds HELLO, SESSION, PROFILE, LIMIT and "
                                "REQUEST_END only (each cell's code and files follow REQUEST_END)",
                                name);
                assert_streq(err, expected);
                /* ...the request is unchanged and still completes as a session. */
                assert_se(!r->code && !r->filename && r->n_args == 0 && r->n_files == 0 && !r->collect &&
                          !r->discover);
                assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);

                /* ...and before it. */
                assert_int(add(r2, t, job_frames[i].payload, job_frames[i].size), ==, 0);
                assert_int(add(r2, FRAME_SESSION, NULL, 0), ==, -EBADMSG);
                if (t == FRAME_DISCOVER)
                        assert_streq(err,
                                     "SESSION frame in a DISCOVER request, which holds HELLO, DISCOVER and "
                                     "REQUEST_END only");
                else {
                        (void) snprintf(
                                expected, sizeof(expected),
                                "SESSION frame after %s: a SESSION request has no %s (it holds HELLO, "
                                "SESSION, PROFILE, LIMIT and REQUEST_END only)",
                                name, name);
                        assert_streq(err, expected);
                }
                assert_se(!r2->session);
        }
        {
                /* FILE_DATA after SESSION: no FILE can have announced it. */
                _cleanup_(request_freep) Request *r = session_request();

                assert_int(add(r, FRAME_FILE_DATA, "x", 1), ==, -EBADMSG);
                assert_se(strstr(err, "a SESSION request has no FILE_DATA"));
        }
        {
                /* SESSION while a file's data is due: the file's rule speaks first. */
                _cleanup_(request_freep) Request *r = hello_request();

                assert_int(add(r, FRAME_FILE, "\0\0\0\0\x05\0\0\0\0\0\0\0f", 13), ==, 0);
                assert_int(add(r, FRAME_SESSION, NULL, 0), ==, -EBADMSG);
                assert_se(strstr(err, "its FILE_DATA must come first"));
        }
}

/* CELL, INTERRUPT and SESSION_END follow REQUEST_END only; before it they are refused. */
static void test_session_frames_early(void) {
        static const struct {
                uint16_t type;
                const char *payload;
                size_t size;
        } after[] = {
                { FRAME_CELL, "\x01\0\0\0print(1)", 12 },
                { FRAME_CELL, "\0\0\0\0", 4 },
                { FRAME_INTERRUPT, NULL, 0 },
                { FRAME_SESSION_END, NULL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(after); i++) {
                _cleanup_(request_freep) Request *r = session_request(), *j = hello_request();
                char expected[256];

                (void) snprintf(expected, sizeof(expected),
                                "%s frame before REQUEST_END: the request is not complete yet",
                                frame_type_to_string(after[i].type));
                assert_int(add(r, after[i].type, after[i].payload, after[i].size), ==, -EBADMSG);
                assert_streq(err, expected);
                assert_int(add(j, after[i].type, after[i].payload, after[i].size), ==, -EBADMSG);
                assert_streq(err, expected);
                assert_int(add(r, FRAME_REQUEST_END, NULL, 0), ==, 1);
        }
        {
                /* The frame bounds: CELL needs its flags, INTERRUPT and SESSION_END are empty. */
                _cleanup_(request_freep) Request *r = session_request();

                assert_int(add(r, FRAME_CELL, "\0\0\0", 3), ==, -EBADMSG);
                assert_streq(err, "CELL frame must not be empty");
                assert_int(add(r, FRAME_INTERRUPT, "x", 1), ==, -EMSGSIZE);
                assert_int(add(r, FRAME_SESSION_END, "x", 1), ==, -EMSGSIZE);
                assert_int(add(r, FRAME_CELL_RESULT, "cell=1\n", 7), ==, -EBADMSG);
                assert_se(strstr(err, "a frame the helper sends"));
        }
}

/* Feeds encoded bytes to the decoder, frame by frame, as the helper's reader does. */
static Request *decode_all(const Buffer *b) {
        Request *r = NULL;
        size_t off = 0;
        int q = 0;

        assert_int(request_new(&r), ==, 0);
        while (off < b->size) {
                FrameHeader h;

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

static void test_session_append(void) {
        static const uint8_t expected[] = {
                0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* HELLO 1 */
                0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* SESSION */
                0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 'p',                    /* PROFILE */
                0x06, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, /* LIMIT 17 */
                0x40, 0x42, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* 1 s */
                0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* REQUEST_END */
        };
        char *argv[] = { (char *) "a", NULL };
        RequestFile f = { .path = (char *) "f", .data = (uint8_t *) "y", .size = 1 };
        Request s = { .session = true, .profile = (char *) "p" };
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_(request_freep) Request *out = NULL;
        size_t before;

        s.limits[LIMIT_SESSION_IDLE_TIME] = 1000000;
        s.limit_set[LIMIT_SESSION_IDLE_TIME] = true;
        assert_int(request_append(&b, &s), ==, 0);
        assert_int(b.size, ==, sizeof(expected));
        assert_se(memcmp(b.data, expected, sizeof(expected)) == 0);
        out = decode_all(&b);
        assert_se(out->session && !out->code && !out->discover);
        assert_streq(out->profile, "p");
        assert_se(out->limit_set[LIMIT_SESSION_IDLE_TIME] && out->limits[LIMIT_SESSION_IDLE_TIME] == 1000000);

        /* A session with what its request may not hold is not encoded, and nothing is appended. */
        before = b.size;
        s.code = (char *) "x";
        s.code_size = 1;
        assert_int(request_append(&b, &s), ==, -EINVAL);
        s.code = (char *) "";
        s.code_size = 0;
        assert_int(request_append(&b, &s), ==, -EINVAL);
        s.code = NULL;
        s.filename = (char *) "job.py";
        assert_int(request_append(&b, &s), ==, -EINVAL);
        s.filename = NULL;
        s.argv = argv;
        s.n_args = 1;
        assert_int(request_append(&b, &s), ==, -EINVAL);
        s.argv = NULL;
        s.n_args = 0;
        s.files = &f;
        s.n_files = 1;
        assert_int(request_append(&b, &s), ==, -EINVAL);
        s.files = NULL;
        s.n_files = 0;
        s.collect = true;
        assert_int(request_append(&b, &s), ==, -EINVAL);
        s.collect = false;
        s.discover = true;
        assert_int(request_append(&b, &s), ==, -EINVAL);
        assert_int(b.size, ==, before);
}

int main(void) {
        test_session_minimal();
        test_session_full();
        test_session_frame_rules();
        test_session_refuses();
        test_session_frames_early();
        test_session_append();
        return 0;
}
