/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's side of the framing: bounded reads straight into the frame being assembled. The
 * meaning of a frame is common/request.c's business (request_add_frame) until REQUEST_END, then
 * frame_after_request()'s. */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "frame-reader.h"

static ssize_t read_some(int fd, void *buf, size_t size) {
        ssize_t n;

        do
                n = read(fd, buf, size);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

int frame_reader_read(FrameReader *reader, int fd) {
        ssize_t n;
        int r;

        if (reader->have_header && reader->payload_have == reader->h.length)
                return 1; /* not consumed yet */

        while (!reader->have_header) {
                n = read_some(fd, reader->header + reader->header_have,
                              PW_FRAME_HEADER_SIZE - reader->header_have);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return -ECONNRESET;
                reader->header_have += (size_t) n;
                if (reader->header_have < PW_FRAME_HEADER_SIZE)
                        continue;
                r = frame_header_parse(reader->header, &reader->h);
                if (r < 0)
                        return r;
                reader->have_header = true;
                if (reader->h.length > 0) {
                        /* Bounded: frame_header_parse() checked the length against the type's maximum. */
                        reader->payload = malloc(reader->h.length);
                        if (!reader->payload)
                                return -ENOMEM;
                }
        }
        while (reader->payload_have < reader->h.length) {
                n = read_some(fd, reader->payload + reader->payload_have,
                              reader->h.length - reader->payload_have);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return -ECONNRESET;
                reader->payload_have += (size_t) n;
        }
        return 1;
}

void frame_reader_next(FrameReader *reader) {
        free(reader->payload);
        *reader = (FrameReader) {};
}

bool frame_reader_mid_frame(const FrameReader *reader) {
        return reader->header_have > 0;
}

void frame_reader_done(FrameReader *reader) {
        frame_reader_next(reader);
}

static FrameAction session_frame(uint16_t type) {
        switch (type) {
        case FRAME_FILE:
                return FRAME_ACTION_FILE;
        case FRAME_FILE_DATA:
                return FRAME_ACTION_FILE_DATA;
        case FRAME_CELL:
                return FRAME_ACTION_CELL;
        case FRAME_INTERRUPT:
                return FRAME_ACTION_INTERRUPT;
        case FRAME_SESSION_END:
                return FRAME_ACTION_SESSION_END;
        case FRAME_CANCEL:
                return FRAME_ACTION_CANCEL;
        default: /* STDIN and STDIN_EOF too: a cell's stdin is at EOF */
                return FRAME_ACTION_VIOLATION;
        }
}

FrameAction frame_after_request(uint16_t type, bool session, bool stdin_eof) {
        if (session)
                return session_frame(type);
        switch (type) {
        case FRAME_STDIN:
                return stdin_eof ? FRAME_ACTION_LATE_STDIN : FRAME_ACTION_STDIN;
        case FRAME_STDIN_EOF:
                return FRAME_ACTION_STDIN_EOF;
        case FRAME_CANCEL:
                return FRAME_ACTION_CANCEL;
        default: /* every request frame (FILE, COLLECT, DISCOVER... too), every helper frame */
                return FRAME_ACTION_VIOLATION;
        }
}
