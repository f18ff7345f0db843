/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the helper's frame reader over a real socketpair: the client's bytes
 * arrive in pieces whose sizes the input chooses, then the client closes; the reader must hold. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame-reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool b) {
        if (!b)
                abort();
}

/* Reads everything available; returns false once the reader reported an end (EOF or bad frame). */
static bool drain(FrameReader *reader, int fd, bool eof_sent) {
        for (;;) {
                int r = frame_reader_read(reader, fd);

                if (r == 0) {
                        check(!eof_sent); /* after EOF the reader must say so, not wait */
                        return true;
                }
                if (r == 1) {
                        FrameHeader h;

                        /* A complete frame: a header that parses as itself, all its payload. */
                        check(reader->have_header);
                        check(reader->payload_have == reader->h.length);
                        check(reader->h.length <= PW_FRAME_PAYLOAD_MAX);
                        check(reader->h.length == 0 || reader->payload);
                        check(frame_header_parse(reader->header, &h) == 0);
                        check(h.type == reader->h.type && h.length == reader->h.length);
                        frame_reader_next(reader);
                        check(!frame_reader_mid_frame(reader));
                        continue;
                }
                check(r == -ECONNRESET || r == -EBADMSG || r == -EMSGSIZE);
                if (r == -ECONNRESET)
                        check(eof_sent);
                return false;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FrameReader reader = {};
        size_t chunk;
        int sv[2];
        bool open = true;

        if (size < 1)
                return 0;
        /* The first byte chooses how the bytes are cut: 1 to 256 bytes per write. */
        chunk = (size_t) data[0] + 1;
        data++;
        size--;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                abort();
        while (size > 0 && open) {
                size_t n = size < chunk ? size : chunk;
                ssize_t w = write(sv[1], data, n);

                check(w > 0);
                data += w;
                size -= (size_t) w;
                open = drain(&reader, sv[0], false);
        }
        if (open) {
                (void) shutdown(sv[1], SHUT_WR);
                check(!drain(&reader, sv[0], true));
        }
        frame_reader_done(&reader);
        (void) close(sv[0]);
        (void) close(sv[1]);
        return 0;
}
