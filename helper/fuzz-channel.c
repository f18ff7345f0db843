/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the runner channel's reader: the bytes a job's runner sends the helper.
 * The first byte chooses the reader (bit 0: discovery, bit 4: a session, whose cells start before
 * the first byte and after each CELL_RESULT) and the bounds (bits 1-3), the second seeds the split
 * sizes; the rest goes through channel_reader_feed() once whole and once in pieces. Both
 * must give the same events, and every event must keep the reader's promises (channel.h). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool b) {
        if (!b)
                abort();
}

/* clang-format off */
static const ChannelBounds bounds_table[] = {
        { 100, 16U << 20, 16U << 20, 16, 2000000 },
        { 0, 0, 0, 0, 0 },
        { 1, 1, 1, 0, 1 },
        { 3, 100, 60, 1, 1 },
        { 2, 70000, 70000, 2, 1 },
        { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX },
        { 10000, 1U << 30, 1U << 30, 32, 60000000 },
        { 5, 10, 5, 3, 1 },
};
/* clang-format on */

typedef struct Run {
        uint64_t hash;
        size_t events;
        bool failed;
} Run;

static void mix(Run *run, const void *p, size_t n) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++)
                run->hash = (run->hash ^ b[i]) * 1099511628211ULL;
}

static void check_path(const char *p, size_t n, uint64_t depth) {
        size_t components = 1;

        check(p && n >= 1 && n <= PW_PATH_MAX && p[0] != '/' && !memchr(p, '\0', n));
        for (size_t i = 0; i < n; i++)
                components += p[i] == '/';
        check(components <= PW_PATH_DEPTH_MAX && components - 1 <= depth);
}

static Run run_reader(const ChannelBounds *bounds, ChannelMode mode, const uint8_t *data, size_t size,
                      uint8_t seed) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        Run run = { .hash = 14695981039346656037ULL };
        uint64_t files = 0, bytes = 0, left = 0, x = seed | 0x100U;
        bool in_file = false, info = mode == CHANNEL_MODE_DISCOVER, session = mode == CHANNEL_MODE_SESSION;
        size_t off = 0;

        if (channel_reader_new(bounds, mode, &r) < 0)
                abort();
        if (session)
                channel_reader_cell_start(r);
        while (true) {
                size_t piece = size - off;
                ChannelEvent ev;
                const char *why = NULL;
                ssize_t n;

                if (seed != 0) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        piece = piece < (x % 300) ? piece : (size_t) (x % 300);
                }
                n = channel_reader_feed(r, data + off, piece, &ev, &why);
                if (n < 0) {
                        check(n == -EBADMSG && why && *why);
                        /* Refused for good. */
                        check(channel_reader_feed(r, data, size, &ev, &why) == -EBADMSG);
                        run.failed = true;
                        return run;
                }
                check((size_t) n <= piece);
                check(ev.type != CHANNEL_EVENT_NONE || (size_t) n == piece);
                off += (size_t) n;
                if (ev.type == CHANNEL_EVENT_NONE) {
                        if (off == size)
                                return run;
                        continue;
                }
                run.events++;
                mix(&run, &ev.type, sizeof(ev.type));
                switch (ev.type) {
                case CHANNEL_EVENT_FILE:
                        check(!info && !in_file);
                        check_path(ev.path, ev.path_size, bounds->depth);
                        check(ev.size <= bounds->file_out_size && ev.size <= PW_FILE_OUT_SIZE_MAX);
                        check((ev.mode & ~07777U) == 0);
                        files++;
                        bytes += ev.size;
                        check(files <= bounds->files_out && bytes <= bounds->files_out_bytes);
                        in_file = true;
                        left = ev.size;
                        mix(&run, ev.path, ev.path_size);
                        mix(&run, &ev.size, sizeof(ev.size));
                        mix(&run, &ev.mode, sizeof(ev.mode));
                        break;
                case CHANNEL_EVENT_FILE_DATA:
                        check(in_file && ev.data_size >= 1 && ev.data_size <= PW_CHUNK_MAX &&
                              ev.data_size <= left);
                        left -= ev.data_size;
                        mix(&run, ev.data, ev.data_size);
                        break;
                case CHANNEL_EVENT_FILE_END:
                        check(in_file && left == 0);
                        in_file = false;
                        break;
                case CHANNEL_EVENT_SKIPPED:
                        check(!info && !in_file && ev.reason >= 1 && ev.reason < _FILE_SKIP_MAX);
                        if (ev.path_size > 0)
                                check_path(ev.path, ev.path_size, PW_PATH_DEPTH_MAX);
                        mix(&run, &ev.reason, sizeof(ev.reason));
                        mix(&run, ev.path, ev.path_size);
                        break;
                case CHANNEL_EVENT_DONE:
                        check(!info && !session && !in_file && channel_reader_done(r));
                        mix(&run, &ev.count, sizeof(ev.count));
                        break;
                case CHANNEL_EVENT_INFO:
                        check(info && ev.data_size <= CH_INFO_MAX && channel_reader_done(r));
                        mix(&run, ev.data, ev.data_size);
                        break;
                case CHANNEL_EVENT_CELL_RESULT:
                        check(session && !in_file && ev.data_size <= CH_CELL_RESULT_MAX &&
                              !channel_reader_done(r));
                        mix(&run, ev.data, ev.data_size);
                        /* The next cell: its own bounds. */
                        files = bytes = 0;
                        channel_reader_cell_start(r);
                        break;
                default:
                        abort();
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const ChannelBounds *bounds;
        ChannelMode mode;
        Run whole, split;

        if (size < 2)
                return 0;
        mode = data[0] & 0x10 ? CHANNEL_MODE_SESSION : data[0] & 1 ? CHANNEL_MODE_DISCOVER : CHANNEL_MODE_JOB;
        bounds = &bounds_table[(data[0] >> 1) & 7];
        whole = run_reader(bounds, mode, data + 2, size - 2, 0);
        split = run_reader(bounds, mode, data + 2, size - 2, data[1] ? data[1] : 1);
        /* However the bytes are split: the same events, and a violation found in the same message. */
        check(whole.failed == split.failed && whole.events == split.events && whole.hash == split.hash);
        return 0;
}
