/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyward wire protocol v1, frames: the header's decoder and encoder, each type's length
 * bounds, and frame_write() for blocking fds. Every header comes from a peer: checked first. */

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "byteorder.h"
#include "protocol.h"

const char *frame_type_to_string(uint16_t type) {
        /* clang-format off */
        switch (type) {
        case FRAME_HELLO:         return "HELLO";
        case FRAME_CODE:          return "CODE";
        case FRAME_FILENAME:      return "FILENAME";
        case FRAME_ARG:           return "ARG";
        case FRAME_PROFILE:       return "PROFILE";
        case FRAME_LIMIT:         return "LIMIT";
        case FRAME_REQUEST_END:   return "REQUEST_END";
        case FRAME_FILE:          return "FILE";
        case FRAME_FILE_DATA:     return "FILE_DATA";
        case FRAME_COLLECT:       return "COLLECT";
        case FRAME_DISCOVER:      return "DISCOVER";
        case FRAME_SESSION:       return "SESSION";
        case FRAME_STDIN:         return "STDIN";
        case FRAME_STDIN_EOF:     return "STDIN_EOF";
        case FRAME_CANCEL:        return "CANCEL";
        case FRAME_CELL:          return "CELL";
        case FRAME_INTERRUPT:     return "INTERRUPT";
        case FRAME_SESSION_END:   return "SESSION_END";
        case FRAME_ACCEPTED:      return "ACCEPTED";
        case FRAME_STDOUT:        return "STDOUT";
        case FRAME_STDERR:        return "STDERR";
        case FRAME_RESULT:        return "RESULT";
        case FRAME_FILE_OUT:      return "FILE_OUT";
        case FRAME_FILE_OUT_DATA: return "FILE_OUT_DATA";
        case FRAME_FILE_SKIPPED:  return "FILE_SKIPPED";
        case FRAME_PROFILE_INFO:  return "PROFILE_INFO";
        case FRAME_CELL_RESULT:   return "CELL_RESULT";
        default:                  return NULL;
        }
        /* clang-format on */
}

bool frame_type_bounds(uint16_t type, uint32_t *ret_min, uint32_t *ret_max) {
        uint32_t lo = 0, hi;

        /* clang-format off */
        switch (type) {
        case FRAME_HELLO:         lo = hi = PW_HELLO_SIZE; break;
        case FRAME_CODE:          hi = PW_CODE_MAX; break;
        case FRAME_FILENAME:      lo = 1; hi = PW_FILENAME_MAX; break;
        case FRAME_ARG:           hi = PW_ARG_MAX; break;
        case FRAME_PROFILE:       lo = 1; hi = PW_PROFILE_NAME_MAX; break;
        case FRAME_LIMIT:         lo = hi = PW_LIMIT_SIZE; break;
        /* FILE's path may be empty on the frame level, so that the request's decoder names it. */
        case FRAME_FILE:          lo = PW_FILE_HEADER_SIZE; hi = PW_FILE_HEADER_SIZE + PW_PATH_MAX; break;
        case FRAME_FILE_OUT:      lo = PW_FILE_HEADER_SIZE + 1; hi = PW_FILE_HEADER_SIZE + PW_PATH_MAX; break;
        case FRAME_FILE_SKIPPED:  lo = PW_SKIPPED_HEADER_SIZE; hi = PW_SKIPPED_HEADER_SIZE + PW_PATH_MAX; break;
        case FRAME_PROFILE_INFO:  lo = 1; hi = PW_PROFILE_INFO_MAX; break;
        case FRAME_CELL:          lo = PW_CELL_HEADER_SIZE; hi = PW_CODE_MAX; break;
        case FRAME_CELL_RESULT:   hi = PW_CELL_RESULT_MAX; break;
        case FRAME_REQUEST_END:
        case FRAME_COLLECT:
        case FRAME_DISCOVER:
        case FRAME_SESSION:
        case FRAME_STDIN_EOF:
        case FRAME_CANCEL:
        case FRAME_INTERRUPT:
        case FRAME_SESSION_END:   hi = 0; break;
        case FRAME_STDIN:
        case FRAME_FILE_DATA:
        case FRAME_FILE_OUT_DATA:
        case FRAME_STDOUT:
        case FRAME_STDERR:        lo = 1; hi = PW_CHUNK_MAX; break;
        case FRAME_ACCEPTED:      hi = PW_ACCEPTED_MAX; break;
        case FRAME_RESULT:        hi = PW_RESULT_MAX; break;
        default:                  return false;
        }
        /* clang-format on */
        *ret_min = lo;
        *ret_max = hi;
        return true;
}

int frame_header_parse(const uint8_t buf[static PW_FRAME_HEADER_SIZE], FrameHeader *ret) {
        FrameHeader h = {
                .type = le16_load(buf),
                .flags = le16_load(buf + 2),
                .length = le32_load(buf + 4),
        };
        uint32_t lo, hi;

        if (!frame_type_bounds(h.type, &lo, &hi) || h.flags != 0)
                return -EBADMSG;
        if (h.length > hi)
                return -EMSGSIZE;
        if (h.length < lo)
                return -EBADMSG;
        *ret = h;
        return 0;
}

void frame_header_format(uint8_t buf[static PW_FRAME_HEADER_SIZE], uint16_t type, uint32_t length) {
        le16_store(buf, type);
        le16_store(buf + 2, 0);
        le32_store(buf + 4, length);
}

int frame_encode(uint8_t *buf, size_t size, uint16_t type, const void *payload, size_t length) {
        uint32_t lo, hi;

        if (!frame_type_bounds(type, &lo, &hi))
                return -EBADMSG;
        if (length > hi)
                return -EMSGSIZE;
        if (length > 0 && !payload)
                return -EINVAL;
        if (size < PW_FRAME_HEADER_SIZE + length)
                return -ENOBUFS;
        frame_header_format(buf, type, (uint32_t) length);
        if (length > 0)
                memcpy(buf + PW_FRAME_HEADER_SIZE, payload, length);
        return (int) (PW_FRAME_HEADER_SIZE + length);
}

int frame_append(Buffer *b, uint16_t type, const void *payload, size_t length) {
        int r;

        r = buffer_reserve(b, PW_FRAME_HEADER_SIZE + length);
        if (r < 0)
                return r;
        r = frame_encode(b->data + b->size, b->allocated - b->size, type, payload, length);
        if (r < 0)
                return r;
        b->size += (size_t) r;
        return 0;
}

int frame_write(int fd, uint16_t type, const void *payload, size_t length) {
        uint8_t header[PW_FRAME_HEADER_SIZE];
        struct iovec iov[2] = {
                { .iov_base = header, .iov_len = sizeof(header) },
                { .iov_base = (void *) payload, .iov_len = length },
        };
        struct iovec *v = iov;
        size_t n_iov = length > 0 ? 2 : 1;
        bool is_socket = true;
        uint32_t lo, hi;

        if (fd < 0)
                return -EBADF;
        if (!frame_type_bounds(type, &lo, &hi))
                return -EBADMSG;
        /* Unlike frame_encode(), below the minimum is refused too: see protocol.h. */
        if (length < lo || length > hi)
                return -EMSGSIZE;
        if (length > 0 && !payload)
                return -EINVAL;
        frame_header_format(header, type, (uint32_t) length);

        while (n_iov > 0) {
                ssize_t n;

                if (is_socket) {
                        /* MSG_NOSIGNAL: a peer that went away is -EPIPE here, never SIGPIPE. */
                        struct msghdr mh = { .msg_iov = v, .msg_iovlen = n_iov };
                        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
                        if (n < 0 && errno == ENOTSOCK) {
                                is_socket = false;
                                continue;
                        }
                } else
                        n = writev(fd, v, (int) n_iov);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* Tolerate a non-blocking fd: wait until it drains. */
                                struct pollfd p = { .fd = fd, .events = POLLOUT };
                                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                                        return -errno;
                                continue;
                        }
                        return -errno;
                }
                while (n_iov > 0 && (size_t) n >= v->iov_len) {
                        n -= (ssize_t) v->iov_len;
                        v++;
                        n_iov--;
                }
                if (n_iov > 0) {
                        v->iov_base = (uint8_t *) v->iov_base + n;
                        v->iov_len -= (size_t) n;
                }
        }
        return 0;
}
