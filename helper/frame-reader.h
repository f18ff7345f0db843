/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reads frames from a non-blocking socket without ever reading past the current frame: first the
 * 8-byte header (validated), then a buffer of exactly its length, so memory stays within header+bound. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

typedef struct FrameReader {
        uint8_t header[PW_FRAME_HEADER_SIZE];
        size_t header_have;
        bool have_header;
        FrameHeader h;
        uint8_t *payload; /* h.length bytes once the header is in */
        size_t payload_have;
} FrameReader;

/* Returns 1 when a whole frame is in reader->h and reader->payload, 0 when the socket has nothing
 * more for now, -ECONNRESET when the peer closed it (frame_reader_mid_frame() says whether inside a
 * frame), -EBADMSG/-EMSGSIZE for an invalid header, or another negative errno from read(). */
int frame_reader_read(FrameReader *reader, int fd);
/* Forgets the complete frame, ready for the next. */
void frame_reader_next(FrameReader *reader);
bool frame_reader_mid_frame(const FrameReader *reader);
void frame_reader_done(FrameReader *reader);

/* What the helper does with a frame that comes after REQUEST_END, while the job runs (before it,
 * request_add_frame() decides): the one place that says which frames may come then. */
typedef enum FrameAction {
        FRAME_ACTION_STDIN,       /* to the job's stdin */
        FRAME_ACTION_STDIN_EOF,   /* close the job's stdin */
        FRAME_ACTION_CANCEL,      /* stop the job */
        FRAME_ACTION_LATE_STDIN,  /* STDIN after STDIN_EOF: a protocol error, ends the job */
        FRAME_ACTION_VIOLATION,   /* anything else: a protocol error, ends the job */
        FRAME_ACTION_FILE,        /* session: an input file of the next cell */
        FRAME_ACTION_FILE_DATA,   /* session: its bytes */
        FRAME_ACTION_CELL,        /* session: the next cell */
        FRAME_ACTION_INTERRUPT,   /* session: interrupt the running cell */
        FRAME_ACTION_SESSION_END, /* session: end once no cell runs */
} FrameAction;

/* session: the request was a SESSION (cells follow; STDIN and STDIN_EOF are violations then). */
FrameAction frame_after_request(uint16_t type, bool session, bool stdin_eof);
