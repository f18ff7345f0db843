/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the bounded frame reader over a real socketpair: split frames, several frames in one write,
 * oversized and invalid headers, EOF at and inside a frame. */

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame-reader.h"
#include "test.h"

static void write_all(int fd, const void *p, size_t n) {
        assert_int(write(fd, p, n), ==, (ssize_t) n);
}

static void put_frame(int fd, uint16_t type, const void *payload, uint32_t len) {
        assert_int(frame_write(fd, type, payload, len), ==, 0);
}

static void pair(int sv[2]) {
        assert_se(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
}

static void test_split_and_batched(void) {
        FrameReader r = {};
        uint8_t h[PW_FRAME_HEADER_SIZE + 5];
        int sv[2];

        pair(sv);
        /* A header in two pieces, then the payload in two pieces. */
        assert_int(frame_encode(h, sizeof(h), FRAME_ARG, "abcde", 5), ==, sizeof(h));
        write_all(sv[1], h, 3);
        assert_int(frame_reader_read(&r, sv[0]), ==, 0);
        assert_se(frame_reader_mid_frame(&r));
        write_all(sv[1], h + 3, 5);
        write_all(sv[1], h + 8, 2);
        assert_int(frame_reader_read(&r, sv[0]), ==, 0);
        write_all(sv[1], h + 10, 3);
        assert_int(frame_reader_read(&r, sv[0]), ==, 1);
        assert_int(r.h.type, ==, FRAME_ARG);
        assert_int(r.h.length, ==, 5);
        assert_se(memcmp(r.payload, "abcde", 5) == 0);
        /* Not consumed: still there. */
        assert_int(frame_reader_read(&r, sv[0]), ==, 1);
        frame_reader_next(&r);
        assert_se(!frame_reader_mid_frame(&r));

        /* Two frames in one write: the reader never reads past the first. */
        put_frame(sv[1], FRAME_REQUEST_END, NULL, 0);
        put_frame(sv[1], FRAME_STDIN, "xyz", 3);
        assert_int(frame_reader_read(&r, sv[0]), ==, 1);
        assert_int(r.h.type, ==, FRAME_REQUEST_END);
        assert_se(r.payload == NULL);
        frame_reader_next(&r);
        assert_int(frame_reader_read(&r, sv[0]), ==, 1);
        assert_int(r.h.type, ==, FRAME_STDIN);
        frame_reader_next(&r);
        assert_int(frame_reader_read(&r, sv[0]), ==, 0);

        /* EOF at a frame boundary and inside one. */
        write_all(sv[1], h, 4);
        close(sv[1]);
        assert_int(frame_reader_read(&r, sv[0]), ==, -ECONNRESET);
        assert_se(frame_reader_mid_frame(&r));
        frame_reader_done(&r);
        close(sv[0]);
}

/* Headers that lie, which no encoder writes: frame_header_format() as is. */
static void test_bad_headers(void) {
        FrameReader r = {};
        uint8_t h[PW_FRAME_HEADER_SIZE];
        int sv[2];

        /* Oversized for its type: refused before anything is allocated. */
        pair(sv);
        frame_header_format(h, FRAME_STDIN, PW_CHUNK_MAX + 1);
        write_all(sv[1], h, sizeof(h));
        assert_int(frame_reader_read(&r, sv[0]), ==, -EMSGSIZE);
        assert_se(r.payload == NULL);
        frame_reader_done(&r);
        close(sv[0]), close(sv[1]);

        /* Unknown type. */
        pair(sv);
        frame_header_format(h, 0x7777, 1);
        write_all(sv[1], h, sizeof(h));
        assert_int(frame_reader_read(&r, sv[0]), ==, -EBADMSG);
        frame_reader_done(&r);
        close(sv[0]), close(sv[1]);

        /* Non-zero flags. */
        pair(sv);
        frame_header_format(h, FRAME_CODE, 1);
        h[2] = 1;
        write_all(sv[1], h, sizeof(h));
        assert_int(frame_reader_read(&r, sv[0]), ==, -EBADMSG);
        frame_reader_done(&r);
        close(sv[0]), close(sv[1]);

        /* Clean EOF before any byte. */
        pair(sv);
        close(sv[1]);
        assert_int(frame_reader_read(&r, sv[0]), ==, -ECONNRESET);
        assert_se(!frame_reader_mid_frame(&r));
        frame_reader_done(&r);
        close(sv[0]);
}

static void test_after_request(void) {
        assert_int(frame_after_request(FRAME_STDIN, false, false), ==, FRAME_ACTION_STDIN);
        assert_int(frame_after_request(FRAME_STDIN, false, true), ==, FRAME_ACTION_LATE_STDIN);
        assert_int(frame_after_request(FRAME_STDIN_EOF, false, false), ==, FRAME_ACTION_STDIN_EOF);
        assert_int(frame_after_request(FRAME_CANCEL, false, true), ==, FRAME_ACTION_CANCEL);
        /* A request frame once the job runs, a helper's frame, an unknown type: a violation. */
        assert_int(frame_after_request(FRAME_CODE, false, false), ==, FRAME_ACTION_VIOLATION);
        assert_int(frame_after_request(FRAME_RESULT, false, false), ==, FRAME_ACTION_VIOLATION);
        assert_int(frame_after_request(0x7777, false, false), ==, FRAME_ACTION_VIOLATION);
        /* The files' and discovery's request frames are request frames like the others; the
         * helper's new frames never come from a client. */
        static const uint16_t late[] = { FRAME_FILE,         FRAME_FILE_DATA,   FRAME_COLLECT,
                                         FRAME_DISCOVER,     FRAME_FILE_OUT,    FRAME_FILE_OUT_DATA,
                                         FRAME_FILE_SKIPPED, FRAME_PROFILE_INFO };
        for (size_t i = 0; i < ELEMENTSOF(late); i++) {
                assert_int(frame_after_request(late[i], false, false), ==, FRAME_ACTION_VIOLATION);
                assert_int(frame_after_request(late[i], false, true), ==, FRAME_ACTION_VIOLATION);
        }
        /* The session's frames are violations in a job. */
        static const uint16_t session_only[] = { FRAME_CELL, FRAME_INTERRUPT, FRAME_SESSION_END,
                                                 FRAME_SESSION, FRAME_CELL_RESULT };
        for (size_t i = 0; i < ELEMENTSOF(session_only); i++)
                assert_int(frame_after_request(session_only[i], false, false), ==, FRAME_ACTION_VIOLATION);
}

static void test_after_session_request(void) {
        assert_int(frame_after_request(FRAME_FILE, true, false), ==, FRAME_ACTION_FILE);
        assert_int(frame_after_request(FRAME_FILE_DATA, true, false), ==, FRAME_ACTION_FILE_DATA);
        assert_int(frame_after_request(FRAME_CELL, true, false), ==, FRAME_ACTION_CELL);
        assert_int(frame_after_request(FRAME_INTERRUPT, true, false), ==, FRAME_ACTION_INTERRUPT);
        assert_int(frame_after_request(FRAME_SESSION_END, true, false), ==, FRAME_ACTION_SESSION_END);
        assert_int(frame_after_request(FRAME_CANCEL, true, false), ==, FRAME_ACTION_CANCEL);
        /* A cell's stdin is at EOF: the client has none to send. */
        assert_int(frame_after_request(FRAME_STDIN, true, false), ==, FRAME_ACTION_VIOLATION);
        assert_int(frame_after_request(FRAME_STDIN_EOF, true, false), ==, FRAME_ACTION_VIOLATION);
        /* Request frames, the helper's frames, unknown types. */
        static const uint16_t bad[] = { FRAME_HELLO,       FRAME_CODE,        FRAME_SESSION,
                                        FRAME_LIMIT,       FRAME_COLLECT,     FRAME_RESULT,
                                        FRAME_CELL_RESULT, FRAME_REQUEST_END, 0x7777 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int(frame_after_request(bad[i], true, false), ==, FRAME_ACTION_VIOLATION);
}

int main(void) {
        test_split_and_batched();
        test_bad_headers();
        test_after_request();
        test_after_session_request();
        return 0;
}
