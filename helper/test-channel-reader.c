/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runner channel from the runner to the helper: the ChannelReader's rules (order, bounds,
 * violations) with every split of the bytes, and the bytes the real runner sent. The helper's
 * side (the request's encoding, the writer) is test-channel.c's. */

#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "channel.h"
#include "test.h"
#include "test-channel.h"

/* --- the reader ------------------------------------------------------------------------------- */

static void msg(Buffer *b, uint16_t type, const void *payload, size_t length) {
        uint8_t h[PW_FRAME_HEADER_SIZE];

        frame_header_format(h, type, (uint32_t) length);
        assert_se(buffer_append(b, h, sizeof(h)) == 0 && buffer_append(b, payload, length) == 0);
}

static void file_out(Buffer *b, uint32_t mode, uint64_t size, const char *path) {
        uint8_t p[PW_FILE_HEADER_SIZE + PW_PATH_MAX + 8];
        size_t n = strlen(path);

        le32_store(p, mode);
        le64_store(p + 4, size);
        memcpy(p + PW_FILE_HEADER_SIZE, path, n);
        msg(b, CH_FILE_OUT, p, PW_FILE_HEADER_SIZE + n);
}

static void file_data(Buffer *b, uint64_t size, uint8_t fill) {
        static uint8_t chunk[PW_CHUNK_MAX];

        while (size > 0) {
                size_t n = size < PW_CHUNK_MAX ? size : PW_CHUNK_MAX;
                memset(chunk, fill, n);
                msg(b, CH_FILE_OUT_DATA, chunk, n);
                size -= n;
        }
}

static void skipped(Buffer *b, uint32_t reason, const char *path) {
        uint8_t p[PW_SKIPPED_HEADER_SIZE + PW_PATH_MAX + 8];
        size_t n = strlen(path);

        le32_store(p, reason);
        memcpy(p + PW_SKIPPED_HEADER_SIZE, path, n);
        msg(b, CH_SKIPPED, p, PW_SKIPPED_HEADER_SIZE + n);
}

static void done(Buffer *b, uint64_t count) {
        uint8_t p[8];

        le64_store(p, count);
        msg(b, CH_DONE, p, 8);
}

/* Feeds b in pieces of step bytes (0: whole) and writes the events as text into trace; returns 0,
 * or -EBADMSG with the violation in *ret_why. Events are drained as channel.h says: called again
 * until NONE, the last call with no bytes left. */
static int trace(const ChannelBounds *bounds, bool info, const Buffer *b, size_t step, char *trace,
                 size_t size, const char **ret_why) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        size_t off = 0, len = 0;

        assert_se(channel_reader_new(bounds, info, &r) == 0);
        trace[0] = '\0';
        while (true) {
                size_t piece = step == 0 || b->size - off < step ? b->size - off : step;
                ChannelEvent ev;
                ssize_t n = channel_reader_feed(r, b->data + off, piece, &ev, ret_why);
                unsigned sum = 0;

                if (n < 0)
                        return (int) n;
                assert_se((size_t) n <= piece);
                assert_se(ev.type != CHANNEL_EVENT_NONE || (size_t) n == piece);
                off += (size_t) n;
                switch (ev.type) {
                case CHANNEL_EVENT_NONE:
                        if (off == b->size)
                                return 0;
                        continue;
                case CHANNEL_EVENT_FILE:
                        len += snprintf(trace + len, size - len, "FILE %.*s %o %llu;", (int) ev.path_size,
                                        ev.path, ev.mode, (unsigned long long) ev.size);
                        break;
                case CHANNEL_EVENT_FILE_DATA:
                        for (size_t i = 0; i < ev.data_size; i++)
                                sum += ((const uint8_t *) ev.data)[i];
                        len += snprintf(trace + len, size - len, "DATA %zu %u;", ev.data_size, sum);
                        break;
                case CHANNEL_EVENT_FILE_END:
                        len += snprintf(trace + len, size - len, "END;");
                        break;
                case CHANNEL_EVENT_CELL_RESULT:
                        len += snprintf(trace + len, size - len, "CELL_RESULT %zu;", ev.data_size);
                        break;
                case CHANNEL_EVENT_SKIPPED:
                        len += snprintf(trace + len, size - len, "SKIPPED %d %.*s;", ev.reason,
                                        (int) ev.path_size, ev.path ? ev.path : "");
                        break;
                case CHANNEL_EVENT_DONE:
                        assert_se(channel_reader_done(r));
                        len += snprintf(trace + len, size - len, "DONE %llu;", (unsigned long long) ev.count);
                        break;
                case CHANNEL_EVENT_INFO:
                        assert_se(channel_reader_done(r));
                        len += snprintf(trace + len, size - len, "INFO %.*s;", (int) ev.data_size,
                                        (const char *) ev.data);
                        break;
                }
                assert_se(len < size);
        }
}

/* The same trace for every split: whole, byte by byte, and a few in between. */
static void expect_trace(const ChannelBounds *bounds, bool info, const Buffer *b, const char *expected) {
        const size_t steps[] = { 0, 1, 2, 7, 8, 9, 4096, 65543 };
        char t[4096];
        const char *why = NULL;

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                int r = trace(bounds, info, b, steps[i], t, sizeof(t), &why);
                if (r < 0)
                        fprintf(stderr, "step %zu: %s\n", steps[i], why);
                assert_int(r, ==, 0);
                assert_streq(t, expected);
        }
}

static void expect_violation(const ChannelBounds *bounds, bool info, const Buffer *b, const char *why_part) {
        const size_t steps[] = { 0, 1, 3 };
        char t[4096];

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                const char *why = NULL;
                assert_int(trace(bounds, info, b, steps[i], t, sizeof(t), &why), ==, -EBADMSG);
                assert_se(why);
                if (!strstr(why, why_part))
                        fprintf(stderr, "expected '%s' in '%s'\n", why_part, why);
                assert_se(strstr(why, why_part));
        }
}

static void test_reader_files(void) {
        _cleanup_(buffer_done) Buffer b = {};

        file_out(&b, 0644, 70000, "a.txt");
        file_data(&b, 70000, 1);
        file_out(&b, 0755, 0, "a/b\nc");
        skipped(&b, FILE_SKIP_SYMLINK, "l");
        skipped(&b, FILE_SKIP_NAME, "");
        file_out(&b, 0600, 3, "z");
        file_data(&b, 3, 2);
        done(&b, 5);
        expect_trace(&wide, false, &b,
                     "FILE a.txt 644 70000;DATA 65536 65536;DATA 4464 4464;END;FILE a/b\nc 755 0;END;"
                     "SKIPPED 1 l;SKIPPED 11 ;FILE z 600 3;DATA 3 6;END;DONE 5;");
}

static void test_reader_bounds(void) {
        ChannelBounds bounds = { .files_out = 3, .files_out_bytes = 100, .file_out_size = 60, .depth = 1 };
        _cleanup_(buffer_done) Buffer b = {};

        file_out(&b, 0600, 50, "a");
        file_data(&b, 50, 1);
        file_out(&b, 0600, 61, "b"); /* over file_out_size */
        file_data(&b, 61, 1);
        file_out(&b, 0600, 51, "c"); /* 50 + 51 over files_out_bytes */
        file_data(&b, 51, 1);
        file_out(&b, 0600, 50, "d/e"); /* exactly the bytes left */
        file_data(&b, 50, 1);
        file_out(&b, 0600, 0, "d/e/f"); /* three components, depth 1 allows two */
        file_out(&b, 0600, 0, "e");     /* the third file */
        file_out(&b, 0600, 0, "f");     /* a fourth: over files_out */
        file_out(&b, 0600, 7, "g");
        file_data(&b, 7, 1);
        done(&b, 0);
        expect_trace(&bounds, false, &b,
                     "FILE a 600 50;DATA 50 50;END;SKIPPED 6 b;SKIPPED 8 c;FILE d/e 600 50;DATA 50 50;END;"
                     "SKIPPED 9 d/e/f;FILE e 600 0;END;SKIPPED 7 f;SKIPPED 7 g;DONE 0;");

        /* Depth 0: only the working directory's own files. */
        buffer_done(&b);
        bounds = wide;
        bounds.depth = 0;
        file_out(&b, 0600, 1, "x/y");
        file_data(&b, 1, 1);
        file_out(&b, 0600, 1, "y");
        file_data(&b, 1, 1);
        done(&b, 0);
        expect_trace(&bounds, false, &b, "SKIPPED 9 x/y;FILE y 600 1;DATA 1 1;END;DONE 0;");

        /* No bound at all: nothing wraps around. */
        buffer_done(&b);
        bounds = (ChannelBounds) { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX };
        file_out(&b, 0600, 1, "x/y");
        file_data(&b, 1, 1);
        done(&b, 0);
        expect_trace(&bounds, false, &b, "FILE x/y 600 1;DATA 1 1;END;DONE 0;");
}

static void test_reader_info(void) {
        _cleanup_(buffer_done) Buffer b = {};
        const char info[] = "python=3.11.2\npackage=numpy 1.24.2\nsitedir=/usr/lib/python3/dist-packages\n";

        msg(&b, CH_INFO, info, strlen(info));
        expect_trace(&wide, true, &b,
                     "INFO python=3.11.2\npackage=numpy 1.24.2\nsitedir=/usr/lib/python3/dist-packages\n;");
        buffer_done(&b);
        msg(&b, CH_INFO, "", 0);
        expect_trace(&wide, true, &b, "INFO ;");
}

typedef void (*Build)(Buffer *b);

static void bad_flags(Buffer *b) {
        done(b, 0);
        b->data[2] = 1;
}
static void bad_type(Buffer *b) {
        msg(b, 0x87, "", 0);
}
static void helper_type(Buffer *b) {
        msg(b, CH_STOP, "", 0);
}
static void done_short(Buffer *b) {
        msg(b, CH_DONE, "1234567", 7);
}
static void data_empty(Buffer *b) {
        file_out(b, 0600, 1, "a");
        msg(b, CH_FILE_OUT_DATA, "", 0);
}
static void data_long(Buffer *b) {
        uint8_t h[PW_FRAME_HEADER_SIZE];
        file_out(b, 0600, 1U << 20, "a");
        frame_header_format(h, CH_FILE_OUT_DATA, PW_CHUNK_MAX + 1);
        assert_se(buffer_append(b, h, sizeof(h)) == 0);
}
static void info_long(Buffer *b) {
        uint8_t h[PW_FRAME_HEADER_SIZE];
        frame_header_format(h, CH_INFO, CH_INFO_MAX + 1);
        assert_se(buffer_append(b, h, sizeof(h)) == 0);
}
static void path_dotdot(Buffer *b) {
        file_out(b, 0600, 0, "a/../b");
}
static void path_absolute(Buffer *b) {
        file_out(b, 0600, 0, "/etc/x");
}
static void path_empty_component(Buffer *b) {
        file_out(b, 0600, 0, "a//b");
}
static void path_nul(Buffer *b) {
        file_out(b, 0600, 0, "a");
        b->data[b->size - 1] = '\0';
}
static void path_empty(Buffer *b) {
        uint8_t p[PW_FILE_HEADER_SIZE] = {};
        msg(b, CH_FILE_OUT, p, sizeof(p));
}
static void bad_mode(Buffer *b) {
        file_out(b, 010600, 0, "a");
}
static void unsorted(Buffer *b) {
        file_out(b, 0600, 0, "b");
        file_out(b, 0600, 0, "a");
}
static void duplicate(Buffer *b) {
        file_out(b, 0600, 0, "a");
        file_out(b, 0600, 0, "a");
}
static void data_first(Buffer *b) {
        file_data(b, 1, 0);
}
static void inside_file(Buffer *b) {
        file_out(b, 0600, 2, "a");
        file_data(b, 1, 0);
        skipped(b, FILE_SKIP_FIFO, "f");
}
static void file_in_file(Buffer *b) {
        file_out(b, 0600, 2, "a");
        file_out(b, 0600, 2, "b");
}
static void inside_dropped_file(Buffer *b) {
        file_out(b, 0600, 2U << 30, "a"); /* over the size bound: dropped, but must still be complete */
        done(b, 0);
}
static void beyond_size(Buffer *b) {
        file_out(b, 0600, 2, "a");
        file_data(b, 3, 0);
}
static void reason_zero(Buffer *b) {
        skipped(b, 0, "a");
}
static void reason_unknown(Buffer *b) {
        skipped(b, _FILE_SKIP_MAX, "a");
}
static void skipped_bad_path(Buffer *b) {
        skipped(b, FILE_SKIP_FIFO, "../a");
}
static void after_done(Buffer *b) {
        done(b, 0);
        done(b, 0);
}
static void file_after_done(Buffer *b) {
        done(b, 0);
        file_out(b, 0600, 0, "a");
}
static void info_in_files(Buffer *b) {
        msg(b, CH_INFO, "python=3\n", 9);
}

static void file_in_discovery(Buffer *b) {
        file_out(b, 0600, 0, "a");
}
static void done_in_discovery(Buffer *b) {
        done(b, 0);
}
static void after_info(Buffer *b) {
        msg(b, CH_INFO, "", 0);
        msg(b, CH_INFO, "", 0);
}

static void test_reader_violations(void) {
        /* clang-format off */
        static const struct {
                Build build;
                bool info;
                const char *why;
        } table[] = {
                { bad_flags,            false, "flags" },
                { bad_type,             false, "unknown message type" },
                { helper_type,          false, "unknown message type" },
                { done_short,           false, "length" },
                { data_empty,           false, "length" },
                { data_long,            false, "length" },
                { info_long,            true,  "length" },
                { path_dotdot,          false, "'..'" },
                { path_absolute,        false, "absolute" },
                { path_empty_component, false, "empty component" },
                { path_nul,             false, "NUL" },
                { path_empty,           false, "length" },
                { bad_mode,             false, "mode" },
                { unsorted,             false, "sorted" },
                { duplicate,            false, "sorted" },
                { data_first,           false, "without CH_FILE_OUT" },
                { inside_file,          false, "inside a file" },
                { file_in_file,         false, "inside a file" },
                { inside_dropped_file,  false, "inside a file" },
                { beyond_size,          false, "beyond" },
                { reason_zero,          false, "reason" },
                { reason_unknown,       false, "reason" },
                { skipped_bad_path,     false, "'..'" },
                { after_done,           false, "after" },
                { file_after_done,      false, "after" },
                { info_in_files,        false, "outside a discovery" },
                { file_in_discovery,    true,  "discovery" },
                { done_in_discovery,    true,  "discovery" },
                { after_info,           true,  "after" },
        };
        /* clang-format on */

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_(buffer_done) Buffer b = {};
                table[i].build(&b);
                expect_violation(&wide, table[i].info, &b, table[i].why);
        }
}

static void test_reader_refuses_after_violation(void) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        _cleanup_(buffer_done) Buffer b = {}, ok = {};
        ChannelEvent ev;
        const char *why = NULL;

        bad_type(&b);
        done(&ok, 0);
        assert_se(channel_reader_new(&wide, false, &r) == 0);
        assert_int(channel_reader_feed(r, b.data, b.size, &ev, &why), ==, -EBADMSG);
        assert_se(why);
        why = NULL;
        assert_int(channel_reader_feed(r, ok.data, ok.size, &ev, &why), ==, -EBADMSG);
        assert_se(why && strstr(why, "unknown"));
        assert_se(!channel_reader_done(r));
}

static void test_reader_file_end_without_bytes(void) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        _cleanup_(buffer_done) Buffer b = {};
        ChannelEvent ev;
        const char *why;

        file_out(&b, 0600, 0, "empty");
        assert_se(channel_reader_new(&wide, false, &r) == 0);
        assert_int(channel_reader_feed(r, b.data, b.size, &ev, &why), ==, (ssize_t) b.size);
        assert_se(ev.type == CHANNEL_EVENT_FILE && ev.size == 0);
        /* The file's end comes with the next call, even one with no bytes. */
        assert_int(channel_reader_feed(r, NULL, 0, &ev, &why), ==, 0);
        assert_se(ev.type == CHANNEL_EVENT_FILE_END);
        assert_int(channel_reader_feed(r, NULL, 0, &ev, &why), ==, 0);
        assert_se(ev.type == CHANNEL_EVENT_NONE);
}

/* What the real runner sent (tests/fuzz/channel/make-runner-seeds.py): the reader takes it whole
 * and in every split, so runner.py and channel.c agree on the order and the layouts. */
static void read_seed(const char *name, Buffer *b) {
        char path[4096];
        uint8_t chunk[4096];
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/tests/fuzz/channel/%s", SRCDIR, name);
        f = fopen(path, "rbe");
        assert_se(f);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                assert_se(buffer_append(b, chunk, n) == 0);
        fclose(f);
        buffer_consume(b, 2); /* the fuzzer's two bytes */
}

static void test_reader_takes_the_runners_bytes(void) {
        _cleanup_(buffer_done) Buffer collect = {}, info = {};
        char t[8192];
        const char *why = NULL;

        read_seed("seed-runner-collect", &collect);
        expect_trace(&wide, false, &collect,
                     "FILE .hidden 644 0;END;FILE caf\xe9 644 1;DATA 1 99;END;SKIPPED 2 fifo;"
                     "FILE out/a.csv 644 8;DATA 8 448;END;SKIPPED 9 out/deep;SKIPPED 1 shadow;DONE 0;");
        read_seed("seed-runner-info", &info);
        assert_int(trace(&wide, true, &info, 0, t, sizeof(t), &why), ==, 0);
        assert_se(strncmp(t, "INFO python=3.", 14) == 0 && strstr(t, "\nsitedir=/"));
}

int main(void) {
        test_reader_files();
        test_reader_bounds();
        test_reader_info();
        test_reader_violations();
        test_reader_refuses_after_violation();
        test_reader_file_end_without_bytes();
        test_reader_takes_the_runners_bytes();
        return 0;
}
