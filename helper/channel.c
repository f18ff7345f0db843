/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runner channel (channel.h): the helper's encoder of the request it hands the runner, the
 * bounded, checking decoder of everything the runner says (the job's one door into the helper),
 * and the non-blocking writer that passes the job's stdin by SCM_RIGHTS with CH_GO's first byte.
 * A session's own messages and the CH_CELL_RESULT parser are in channel-session.c. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "byteorder.h"
#include "channel-internal.h"
#include "channel.h"

#define CH_BOUNDS_SIZE 40 /* 5 x uint64 */
#define CH_GO_SIZE 8      /* uint32 version, uint32 flags */
#define CH_DONE_SIZE 8    /* uint64 count */

/* --- helper -> runner ------------------------------------------------------------------------- */

int channel_message_append(Buffer *b, uint16_t type, const void *payload, size_t length) {
        uint8_t header[PW_FRAME_HEADER_SIZE];
        int r;

        if (length > PW_FRAME_PAYLOAD_MAX)
                return -EMSGSIZE;
        r = buffer_reserve(b, sizeof(header) + length);
        if (r < 0)
                return r;
        frame_header_format(header, type, (uint32_t) length);
        (void) buffer_append(b, header, sizeof(header)); /* cannot fail after the reserve */
        (void) buffer_append(b, payload, length);
        return 0;
}

int channel_file_append(Buffer *b, const RequestFile *f) {
        uint8_t payload[PW_FILE_HEADER_SIZE + PW_PATH_MAX];
        size_t n = strlen(f->path);
        int r;

        if (n > PW_PATH_MAX)
                return -EMSGSIZE;
        if (f->data_size != f->size)
                return -EINVAL; /* an incomplete file: the runner would wait for the rest */
        le32_store(payload, f->executable ? PW_FILE_EXECUTABLE : 0);
        le64_store(payload + 4, f->size);
        memcpy(payload + PW_FILE_HEADER_SIZE, f->path, n);
        r = channel_message_append(b, CH_FILE, payload, PW_FILE_HEADER_SIZE + n);
        for (uint64_t off = 0; r >= 0 && off < f->size; off += PW_CHUNK_MAX) {
                uint64_t chunk = f->size - off < PW_CHUNK_MAX ? f->size - off : PW_CHUNK_MAX;
                r = channel_message_append(b, CH_FILE_DATA, f->data + off, (size_t) chunk);
        }
        return r;
}

static int request_messages_append(Buffer *b, const Request *req, const ChannelBounds *bounds,
                                   uint32_t go_flags, size_t *ret_go_offset) {
        const char *filename = req->filename ? req->filename : "main.py";
        const uint64_t bv[] = { bounds->files_out, bounds->files_out_bytes, bounds->file_out_size,
                                bounds->depth, bounds->collect_usec };
        uint8_t payload[CH_BOUNDS_SIZE];
        size_t go_offset;
        int r;

        /* A session's cells come later (channel_cell_append()): GO opens it with nothing. */
        if ((go_flags & CH_GO_SESSION) &&
            ((req->code && req->code_size > 0) || req->n_args > 0 || req->n_files > 0))
                return -EINVAL;
        r = channel_message_append(b, CH_CODE, req->code, req->code ? req->code_size : 0);
        if (r < 0)
                return r;
        r = channel_message_append(b, CH_FILENAME, filename, strlen(filename));
        if (r < 0)
                return r;
        for (size_t i = 0; i < req->n_args; i++) {
                r = channel_message_append(b, CH_ARG, req->argv[i], strlen(req->argv[i]));
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(bv); i++)
                le64_store(payload + 8 * i, bv[i]);
        r = channel_message_append(b, CH_BOUNDS, payload, CH_BOUNDS_SIZE);
        if (r < 0)
                return r;
        for (size_t i = 0; i < req->n_files; i++) {
                r = channel_file_append(b, &req->files[i]);
                if (r < 0)
                        return r;
        }
        go_offset = b->size;
        le32_store(payload, CH_VERSION);
        le32_store(payload + 4, go_flags);
        r = channel_message_append(b, CH_GO, payload, CH_GO_SIZE);
        if (r < 0)
                return r;
        *ret_go_offset = go_offset;
        return 0;
}

int channel_request_append(Buffer *b, const Request *req, const ChannelBounds *bounds, uint32_t go_flags,
                           size_t *ret_go_offset) {
        size_t saved = b->size;
        int r;

        r = request_messages_append(b, req, bounds, go_flags, ret_go_offset);
        if (r < 0)
                b->size = saved; /* all or nothing */
        return r;
}

int channel_stdio_append(Buffer *b, uint32_t which) {
        uint8_t payload[4];

        le32_store(payload, which);
        return channel_message_append(b, CH_STDIO, payload, sizeof(payload));
}

int channel_limits_append(Buffer *b, uint64_t cpu_seconds, uint64_t wall_usec, uint64_t nproc) {
        uint8_t payload[CH_LIMITS_SIZE];

        le64_store(payload, cpu_seconds);
        le64_store(payload + 8, wall_usec);
        le64_store(payload + 16, nproc);
        return channel_message_append(b, CH_LIMITS, payload, sizeof(payload));
}

int channel_stop_append(Buffer *b) {
        return channel_message_append(b, CH_STOP, NULL, 0);
}

/* --- runner -> helper ------------------------------------------------------------------------- */

typedef enum ReaderState {
        READER_FILES,     /* FILE_OUT, SKIPPED or DONE next */
        READER_FILE_DATA, /* FILE_OUT_DATA of a file being passed on, file_left bytes to come */
        READER_FILE_DROP, /* FILE_OUT_DATA of a file over a bound: consumed and dropped */
        READER_FILE_END,  /* a file's last byte was passed on: FILE_END is due, without bytes */
        READER_INFO,      /* a discovery run: CH_INFO next */
        READER_DONE,      /* after CH_DONE or CH_INFO: nothing more may come */
        READER_IDLE,      /* a session between cells: nothing may come until the next cell starts */
        READER_BROKEN,    /* a violation was reported: everything is refused */
} ReaderState;

struct ChannelReader {
        ChannelBounds bounds;
        ChannelMode mode;
        ReaderState state;
        const char *why; /* the violation, once BROKEN */

        uint8_t header[PW_FRAME_HEADER_SIZE];
        size_t header_have;
        bool have_header;
        uint16_t type;
        uint32_t length;
        uint8_t *payload; /* payload_max bytes: the one message being assembled */
        size_t payload_max, payload_have;
        bool discard; /* FILE_OUT_DATA of a dropped file: counted, not copied */

        uint64_t file_left;          /* bytes of the current file still to come */
        uint64_t files, files_bytes; /* passed on so far, by the announced sizes */
        char last_path[PW_PATH_MAX]; /* FILE_OUT paths come strictly sorted: none twice */
        size_t last_path_size;
};

int channel_reader_new(const ChannelBounds *bounds, ChannelMode mode, ChannelReader **ret) {
        _cleanup_free_ ChannelReader *r = NULL;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->bounds = *bounds;
        r->mode = mode;
        switch (mode) {
        case CHANNEL_MODE_JOB:
                r->state = READER_FILES;
                r->payload_max = PW_CHUNK_MAX;
                break;
        case CHANNEL_MODE_DISCOVER:
                r->state = READER_INFO;
                r->payload_max = CH_INFO_MAX;
                break;
        case CHANNEL_MODE_SESSION:
                r->state = READER_IDLE;
                r->payload_max = PW_CHUNK_MAX > CH_CELL_RESULT_MAX ? PW_CHUNK_MAX : CH_CELL_RESULT_MAX;
                break;
        default:
                return -EINVAL;
        }
        r->payload = malloc(r->payload_max);
        if (!r->payload)
                return -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

ChannelReader *channel_reader_free(ChannelReader *r) {
        if (r)
                free(r->payload);
        free(r);
        return NULL;
}

bool channel_reader_done(const ChannelReader *r) {
        return r->state == READER_DONE;
}

void channel_reader_cell_start(ChannelReader *r) {
        /* Only between cells: a second start before the cell's result changes nothing, and a
         * broken reader stays broken. */
        if (r->mode != CHANNEL_MODE_SESSION || r->state != READER_IDLE)
                return;
        r->files = r->files_bytes = 0;
        r->last_path_size = 0; /* each cell's files are a walk of their own */
        r->state = READER_FILES;
}

/* The header's checks, before a byte of its payload is kept: framing, then whether this type may
 * come now and with this length. NULL, or the violation. */
static const char *header_check(ChannelReader *r) {
        uint16_t flags = le16_load(r->header + 2);
        uint32_t lo, hi;

        r->type = le16_load(r->header);
        r->length = le32_load(r->header + 4);
        if (flags != 0)
                return "a message header with flags set";

        /* clang-format off */
        switch (r->type) {
        case CH_FILE_OUT:      lo = PW_FILE_HEADER_SIZE + 1; hi = PW_FILE_HEADER_SIZE + PW_PATH_MAX; break;
        case CH_FILE_OUT_DATA: lo = 1; hi = PW_CHUNK_MAX; break;
        case CH_SKIPPED:       lo = PW_SKIPPED_HEADER_SIZE; hi = PW_SKIPPED_HEADER_SIZE + PW_PATH_MAX; break;
        case CH_DONE:          lo = hi = CH_DONE_SIZE; break;
        case CH_INFO:          lo = 0; hi = CH_INFO_MAX; break;
        case CH_CELL_RESULT:   lo = 0; hi = CH_CELL_RESULT_MAX; break;
        default:               return "an unknown message type";
        }
        /* clang-format on */
        if (r->length < lo || r->length > hi)
                return "a message length out of its type's bounds";

        if (r->mode == CHANNEL_MODE_SESSION && (r->type == CH_DONE || r->type == CH_INFO))
                return "CH_DONE or CH_INFO in a session";
        if (r->mode != CHANNEL_MODE_SESSION && r->type == CH_CELL_RESULT)
                return "CH_CELL_RESULT outside a session";

        switch (r->state) {
        case READER_IDLE:
                return r->type == CH_CELL_RESULT ? "CH_CELL_RESULT without a cell"
                                                 : "a message between a session's cells";
        case READER_FILES:
                if (r->type == CH_INFO)
                        return "CH_INFO outside a discovery run";
                if (r->type == CH_FILE_OUT_DATA)
                        return "CH_FILE_OUT_DATA without CH_FILE_OUT";
                break;
        case READER_FILE_DATA:
        case READER_FILE_DROP:
                if (r->type != CH_FILE_OUT_DATA)
                        return "a message inside a file's data";
                if (r->length > r->file_left)
                        return "CH_FILE_OUT_DATA beyond the file's announced size";
                break;
        case READER_INFO:
                if (r->type != CH_INFO)
                        return "a file message in a discovery run";
                break;
        case READER_DONE:
                return "a message after the runner's last";
        default:
                return "a message in an impossible state";
        }
        r->discard = r->state == READER_FILE_DROP;
        return NULL;
}

static size_t path_depth(const char *p, size_t n) {
        size_t d = 1;

        for (size_t i = 0; i < n; i++)
                d += p[i] == '/';
        return d;
}

/* Which of the helper's own bounds a file breaks, or 0. */
static FileSkipReason file_over_bounds(const ChannelReader *r, const char *path, size_t n, uint64_t size) {
        uint64_t size_max = r->bounds.file_out_size < PW_FILE_OUT_SIZE_MAX ? r->bounds.file_out_size
                                                                           : PW_FILE_OUT_SIZE_MAX;

        if (path_depth(path, n) - 1 > r->bounds.depth) /* not depth + 1: it may be UINT64_MAX */
                return FILE_SKIP_DEPTH;
        if (size > size_max)
                return FILE_SKIP_SIZE;
        if (r->files >= r->bounds.files_out || r->files >= PW_FILES_COUNT_MAX)
                return FILE_SKIP_COUNT;
        if (r->files_bytes > r->bounds.files_out_bytes || size > r->bounds.files_out_bytes - r->files_bytes)
                return FILE_SKIP_BYTES;
        return 0;
}

static const char *file_out_handle(ChannelReader *r, ChannelEvent *ev) {
        const char *path = (const char *) r->payload + PW_FILE_HEADER_SIZE, *why;
        size_t n = r->length - PW_FILE_HEADER_SIZE;
        uint32_t mode = le32_load(r->payload);
        uint64_t size = le64_load(r->payload + 4);
        FileSkipReason reason;
        int c;

        if (mode & ~07777U)
                return "CH_FILE_OUT with a mode beyond the permission bits";
        if (!file_path_valid(path, n, &why))
                return why;
        c = memcmp(r->last_path, path, n < r->last_path_size ? n : r->last_path_size);
        if (r->last_path_size > 0 && (c > 0 || (c == 0 && r->last_path_size >= n)))
                return "CH_FILE_OUT paths not strictly sorted";
        memcpy(r->last_path, path, n);
        r->last_path_size = n;

        r->file_left = size;
        reason = file_over_bounds(r, path, n, size);
        if (reason != 0) {
                *ev = (ChannelEvent) {
                        .type = CHANNEL_EVENT_SKIPPED, .reason = reason, .path = path, .path_size = n
                };
                r->state = size > 0 ? READER_FILE_DROP : READER_FILES;
                return NULL;
        }
        r->files++;
        r->files_bytes += size;
        *ev = (ChannelEvent) {
                .type = CHANNEL_EVENT_FILE, .mode = mode, .size = size, .path = path, .path_size = n
        };
        r->state = size > 0 ? READER_FILE_DATA : READER_FILE_END;
        return NULL;
}

/* A complete message, checked by header_check(): its payload's syntax, then its event. */
static const char *message_handle(ChannelReader *r, ChannelEvent *ev) {
        const char *why;
        uint32_t reason;

        switch (r->type) {
        case CH_FILE_OUT:
                return file_out_handle(r, ev);
        case CH_FILE_OUT_DATA:
                r->file_left -= r->length;
                if (r->state == READER_FILE_DROP) {
                        if (r->file_left == 0)
                                r->state = READER_FILES;
                        return NULL;
                }
                *ev = (ChannelEvent) { .type = CHANNEL_EVENT_FILE_DATA,
                                       .data = r->payload,
                                       .data_size = r->length };
                if (r->file_left == 0)
                        r->state = READER_FILE_END;
                return NULL;
        case CH_SKIPPED:
                reason = le32_load(r->payload);
                if (reason < 1 || reason >= _FILE_SKIP_MAX)
                        return "CH_SKIPPED with an unknown reason";
                if (r->length > PW_SKIPPED_HEADER_SIZE &&
                    !file_path_valid((const char *) r->payload + PW_SKIPPED_HEADER_SIZE,
                                     r->length - PW_SKIPPED_HEADER_SIZE, &why))
                        return why;
                *ev = (ChannelEvent) {
                        .type = CHANNEL_EVENT_SKIPPED,
                        .reason = (FileSkipReason) reason,
                        .path = r->length > PW_SKIPPED_HEADER_SIZE
                                        ? (const char *) r->payload + PW_SKIPPED_HEADER_SIZE
                                        : NULL,
                        .path_size = r->length - PW_SKIPPED_HEADER_SIZE,
                };
                return NULL;
        case CH_DONE:
                *ev = (ChannelEvent) { .type = CHANNEL_EVENT_DONE, .count = le64_load(r->payload) };
                r->state = READER_DONE;
                return NULL;
        case CH_INFO:
                *ev = (ChannelEvent) { .type = CHANNEL_EVENT_INFO,
                                       .data = r->payload,
                                       .data_size = r->length };
                r->state = READER_DONE;
                return NULL;
        case CH_CELL_RESULT:
                /* Unparsed: channel_cell_result_parse() is the helper's next step. */
                *ev = (ChannelEvent) { .type = CHANNEL_EVENT_CELL_RESULT,
                                       .data = r->payload,
                                       .data_size = r->length };
                r->state = READER_IDLE;
                return NULL;
        default:
                return "an unknown message type";
        }
}

static ssize_t reader_fail(ChannelReader *r, const char *why, const char **ret_why) {
        r->state = READER_BROKEN;
        r->why = why;
        if (ret_why)
                *ret_why = why;
        return -EBADMSG;
}

ssize_t channel_reader_feed(ChannelReader *r, const void *data, size_t size, ChannelEvent *ev,
                            const char **ret_why) {
        const uint8_t *p = data;
        size_t used = 0, n;
        const char *why;

        *ev = (ChannelEvent) { .type = CHANNEL_EVENT_NONE };
        if (r->state == READER_BROKEN)
                return reader_fail(r, r->why, ret_why);
        if (r->state == READER_FILE_END) {
                r->state = READER_FILES;
                ev->type = CHANNEL_EVENT_FILE_END;
                return 0;
        }
        for (;;) {
                if (!r->have_header) {
                        if (used == size)
                                return (ssize_t) used;
                        n = PW_FRAME_HEADER_SIZE - r->header_have;
                        n = n < size - used ? n : size - used;
                        memcpy(r->header + r->header_have, p + used, n);
                        r->header_have += n;
                        used += n;
                        if (r->header_have < PW_FRAME_HEADER_SIZE)
                                return (ssize_t) used;
                        why = header_check(r);
                        if (why)
                                return reader_fail(r, why, ret_why);
                        r->have_header = true;
                        r->payload_have = 0;
                }
                n = r->length - r->payload_have;
                n = n < size - used ? n : size - used;
                if (!r->discard)
                        memcpy(r->payload + r->payload_have, p + used, n);
                r->payload_have += n;
                used += n;
                if (r->payload_have < r->length)
                        return (ssize_t) used;

                r->have_header = false;
                r->header_have = 0;
                why = message_handle(r, ev);
                if (why)
                        return reader_fail(r, why, ret_why);
                if (ev->type != CHANNEL_EVENT_NONE)
                        return (ssize_t) used;
        }
}

/* --- the writer ------------------------------------------------------------------------------- */

typedef struct WriterItem {
        Buffer b;
        size_t pos;       /* bytes of b written */
        int fd;           /* to attach, or -EBADF once sent (or none) */
        size_t fd_offset; /* the byte of b it goes with */
} WriterItem;

struct ChannelWriter {
        int fd; /* not owned */
        WriterItem *items;
        size_t n_items, allocated;
        bool broken;
};

int channel_writer_new(int fd, ChannelWriter **ret) {
        ChannelWriter *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->fd = fd;
        *ret = w;
        return 0;
}

static void item_done(WriterItem *it) {
        buffer_done(&it->b);
        it->fd = safe_close(it->fd);
}

ChannelWriter *channel_writer_free(ChannelWriter *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_items; i++)
                item_done(&w->items[i]);
        free(w->items);
        free(w);
        return NULL;
}

int channel_writer_queue(ChannelWriter *w, Buffer *b, int attach_fd, size_t attach_offset) {
        WriterItem it = { .b = *b, .fd = -EBADF, .fd_offset = attach_offset };

        *b = (Buffer) {}; /* taken, whatever happens */
        if (w->broken) {
                item_done(&it);
                return -EPIPE;
        }
        if (attach_fd >= 0) {
                if (attach_offset >= it.b.size) {
                        item_done(&it);
                        return -EINVAL;
                }
                it.fd = fcntl(attach_fd, F_DUPFD_CLOEXEC, 3);
                if (it.fd < 0) {
                        int r = -errno;
                        item_done(&it);
                        return r;
                }
        }
        if (it.b.size == 0) {
                item_done(&it);
                return 0;
        }
        if (w->n_items == w->allocated) {
                size_t na = w->allocated ? 2 * w->allocated : 4;
                WriterItem *items = reallocarray(w->items, na, sizeof(WriterItem));
                if (!items) {
                        item_done(&it);
                        return -ENOMEM;
                }
                w->items = items;
                w->allocated = na;
        }
        w->items[w->n_items++] = it;
        return 0;
}

/* One sendmsg() of the first item: the bytes before its fd's byte alone, then from that byte on
 * with the fd, so that SCM_RIGHTS arrives with GO's first byte and never earlier. */
static ssize_t item_send(int sock, WriterItem *it) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        size_t end = it->fd >= 0 && it->pos < it->fd_offset ? it->fd_offset : it->b.size;
        struct iovec iov = { .iov_base = it->b.data + it->pos, .iov_len = end - it->pos };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        bool with_fd = it->fd >= 0 && it->pos == it->fd_offset;
        ssize_t n;

        if (with_fd) {
                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &it->fd, sizeof(int));
        }
        n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
                return -errno;
        if (with_fd)
                it->fd = safe_close(it->fd); /* the kernel holds its own reference now */
        it->pos += (size_t) n;
        return n;
}

int channel_writer_flush(ChannelWriter *w) {
        if (w->broken)
                return -EPIPE;
        while (w->n_items > 0) {
                WriterItem *it = &w->items[0];
                ssize_t n = item_send(w->fd, it);

                if (n == -EINTR)
                        continue;
                if (n == -EAGAIN)
                        return 0;
                if (n == -EPIPE || n == -ECONNRESET) {
                        w->broken = true;
                        return -EPIPE;
                }
                if (n < 0)
                        return (int) n;
                if (it->pos == it->b.size && it->fd < 0) {
                        item_done(it);
                        memmove(w->items, w->items + 1, (w->n_items - 1) * sizeof(WriterItem));
                        w->n_items--;
                }
        }
        return 1;
}
