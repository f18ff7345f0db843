/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runner channel's session half: a cell's messages and CH_INTERRUPT/CH_END read back, the
 * reader's CHANNEL_MODE_SESSION (per-cell bounds, the order, its violations, every split of the
 * bytes) and channel_cell_result_parse()'s strictness and cuts. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "channel.h"
#include "test-channel.h"
#include "test.h"

static void msg(Buffer *b, uint16_t type, const void *payload, size_t n) {
        uint8_t h[PW_FRAME_HEADER_SIZE];

        frame_header_format(h, type, (uint32_t) n);
        assert_se(buffer_append(b, h, sizeof(h)) == 0);
        assert_se(buffer_append(b, payload, n) == 0);
}

static void file_out(Buffer *b, const char *path, const char *data) {
        uint8_t p[PW_FILE_HEADER_SIZE + 64];
        size_t n = strlen(path), size = strlen(data);

        le32_store(p, 0644);
        le64_store(p + 4, size);
        memcpy(p + PW_FILE_HEADER_SIZE, path, n);
        msg(b, CH_FILE_OUT, p, PW_FILE_HEADER_SIZE + n);
        if (size > 0)
                msg(b, CH_FILE_OUT_DATA, data, size);
}

static void cell_result(Buffer *b, const char *text) {
        msg(b, CH_CELL_RESULT, text, strlen(text));
}

/* --- encoding --------------------------------------------------------------------------------- */

static void test_cell_append(void) {
        static uint8_t big[70000], x[1] = { 'x' };
        RequestFile files[] = {
                { .path = "in/big.bin", .data = big, .size = sizeof(big), .data_size = sizeof(big) },
                { .path = "run.sh", .data = x, .size = 1, .data_size = 1, .executable = true },
        };
        _cleanup_(buffer_done) Buffer b = {};
        const uint8_t *p;
        size_t n;

        assert_se(channel_cell_append(&b, files, 2, CH_CELL_COLLECT, 7, "x + 1", 5) == 0);
        p = b.data;
        /* FILE, DATA, DATA, FILE, DATA, CELL */
        assert_se(le16_load(p) == CH_FILE && le32_load(p + 4) == 12 + 10);
        assert_se(le64_load(p + 8 + 4) == sizeof(big) && memcmp(p + 8 + 12, "in/big.bin", 10) == 0);
        p += 8 + 22;
        assert_se(le16_load(p) == CH_FILE_DATA && le32_load(p + 4) == PW_CHUNK_MAX);
        p += 8 + PW_CHUNK_MAX;
        assert_se(le16_load(p) == CH_FILE_DATA && le32_load(p + 4) == sizeof(big) - PW_CHUNK_MAX);
        p += 8 + sizeof(big) - PW_CHUNK_MAX;
        assert_se(le16_load(p) == CH_FILE && le32_load(p + 8) == PW_FILE_EXECUTABLE);
        p += 8 + 12 + 6;
        assert_se(le16_load(p) == CH_FILE_DATA && le32_load(p + 4) == 1 && p[8] == 'x');
        p += 9;
        assert_se(le16_load(p) == CH_CELL && le32_load(p + 4) == 8 + 5);
        assert_se(le32_load(p + 8) == CH_CELL_COLLECT && le32_load(p + 12) == 7);
        assert_se(memcmp(p + 16, "x + 1", 5) == 0);
        assert_se(p + 21 == b.data + b.size);

        /* All or nothing. */
        n = b.size;
        files[1].data_size = 0;
        assert_se(channel_cell_append(&b, files, 2, 0, 8, "", 0) == -EINVAL);
        assert_int(b.size, ==, n);
        assert_se(channel_cell_append(&b, NULL, 0, 0, (uint64_t) UINT32_MAX + 1, "", 0) == -EMSGSIZE);
        assert_se(channel_cell_append(&b, NULL, 0, 0x2, 1, "", 0) == -EINVAL);
        assert_int(b.size, ==, n);

        /* A cell without files or code. */
        buffer_done(&b);
        assert_se(channel_cell_append(&b, NULL, 0, 0, 1, "", 0) == 0);
        assert_se(b.size == 16 && le16_load(b.data) == CH_CELL && le32_load(b.data + 12) == 1);

        buffer_done(&b);
        assert_se(channel_interrupt_append(&b) == 0);
        assert_se(channel_end_append(&b) == 0);
        assert_se(b.size == 16 && le16_load(b.data) == CH_INTERRUPT && le32_load(b.data + 4) == 0);
        assert_se(le16_load(b.data + 8) == CH_END && le32_load(b.data + 12) == 0);
}

static void test_request_session(void) {
        Request req = { .session = true };
        _cleanup_(buffer_done) Buffer b = {};
        size_t go = 0;
        char *argv[] = { "a", NULL };

        assert_se(channel_request_append(&b, &req, &wide, CH_GO_SESSION, &go) == 0);
        /* CODE (empty), FILENAME "main.py", BOUNDS, GO */
        assert_se(le16_load(b.data) == CH_CODE && le32_load(b.data + 4) == 0);
        assert_se(le16_load(b.data + go) == CH_GO && le32_load(b.data + go + 12) == CH_GO_SESSION);
        assert_int(go + 16, ==, b.size);

        /* Nothing of a one-shot job rides along. */
        buffer_done(&b);
        req = (Request) { .code = "1", .code_size = 1 };
        assert_se(channel_request_append(&b, &req, &wide, CH_GO_SESSION, &go) == -EINVAL);
        req = (Request) { .argv = argv, .n_args = 1 };
        assert_se(channel_request_append(&b, &req, &wide, CH_GO_SESSION, &go) == -EINVAL);
        assert_int(b.size, ==, 0);
}

/* --- the reader ------------------------------------------------------------------------------- */

/* Feeds b in pieces of at most step bytes, starting a cell before the bytes and after each
 * CELL_RESULT; a trace of the events, "BAD <why>" at a violation. */
static void trace(const ChannelBounds *bounds, const Buffer *b, size_t step, char *out, size_t size) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        size_t off = 0, len = 0;

        out[0] = '\0';
        assert_se(channel_reader_new(bounds, CHANNEL_MODE_SESSION, &r) == 0);
        channel_reader_cell_start(r);
        for (;;) {
                size_t piece = b->size - off < step ? b->size - off : step;
                const char *why = NULL;
                ChannelEvent ev;
                ssize_t n = channel_reader_feed(r, b->data + off, piece, &ev, &why);

                if (n < 0) {
                        assert_se(n == -EBADMSG && why);
                        snprintf(out + len, size - len, "BAD %s", why);
                        return;
                }
                off += (size_t) n;
                switch (ev.type) {
                case CHANNEL_EVENT_NONE:
                        if (off == b->size)
                                return;
                        continue;
                case CHANNEL_EVENT_FILE:
                        len += snprintf(out + len, size - len, "F %.*s;", (int) ev.path_size, ev.path);
                        break;
                case CHANNEL_EVENT_FILE_DATA:
                        len += snprintf(out + len, size - len, "D%zu;", ev.data_size);
                        break;
                case CHANNEL_EVENT_FILE_END:
                        len += snprintf(out + len, size - len, "E;");
                        break;
                case CHANNEL_EVENT_SKIPPED:
                        len += snprintf(out + len, size - len, "S%d %.*s;", ev.reason, (int) ev.path_size,
                                        ev.path ? ev.path : "");
                        break;
                case CHANNEL_EVENT_CELL_RESULT:
                        len += snprintf(out + len, size - len, "R %zu;", ev.data_size);
                        assert_se(!channel_reader_done(r));
                        channel_reader_cell_start(r);
                        break;
                default:
                        len += snprintf(out + len, size - len, "?%d;", ev.type);
                        break;
                }
        }
}

static void expect(const ChannelBounds *bounds, const Buffer *b, const char *want) {
        static const size_t steps[] = { SIZE_MAX, 1, 3, 8, 9, 100 };
        char got[4096];

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                trace(bounds, b, steps[i], got, sizeof(got));
                if (!streq(got, want)) {
                        fprintf(stderr, "step %zu: got \"%s\", want \"%s\"\n", steps[i], got, want);
                        assert_se(false);
                }
        }
}

static void test_reader_cells(void) {
        const ChannelBounds one = {
                .files_out = 1, .files_out_bytes = 100, .file_out_size = 100, .depth = 4
        };
        _cleanup_(buffer_done) Buffer b = {};

        /* Results alone; files of one cell; the same path again in the next cell (a walk of its own). */
        cell_result(&b, "status=ok\n");
        file_out(&b, "a", "12");
        file_out(&b, "b", "");
        msg(&b, CH_SKIPPED, "\x01\0\0\0link", 8);
        cell_result(&b, "");
        file_out(&b, "a", "3");
        cell_result(&b, "status=error\n");
        expect(&wide, &b, "R 10;F a;D2;E;F b;E;S1 link;R 0;F a;D1;E;R 13;");

        /* The per-cell count starts again at each cell. */
        expect(&one, &b, "R 10;F a;D2;E;S7 b;S1 link;R 0;F a;D1;E;R 13;");

        /* The largest result fits. */
        buffer_done(&b);
        static char big[CH_CELL_RESULT_MAX];
        memset(big, 'x', sizeof(big));
        msg(&b, CH_CELL_RESULT, big, sizeof(big));
        expect(&wide, &b, "R 65536;");
}

static void test_reader_violations(void) {
        static const struct {
                const char *what;
                uint16_t type;
                const char *payload;
                size_t n;
                const char *want;
        } cases[] = {
                { "done", CH_DONE, "\0\0\0\0\0\0\0\0", 8, "BAD CH_DONE or CH_INFO in a session" },
                { "info", CH_INFO, "python=3\n", 9, "BAD CH_DONE or CH_INFO in a session" },
                { "unknown", 0x87, "", 0, "BAD an unknown message type" },
                { "helper's", CH_CELL, "", 0, "BAD an unknown message type" },
        };
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        uint8_t h[PW_FRAME_HEADER_SIZE];
        const char *why = NULL;
        ChannelEvent ev;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                buffer_done(&b);
                msg(&b, cases[i].type, cases[i].payload, cases[i].n);
                fprintf(stderr, "violation: %s\n", cases[i].what);
                expect(&wide, &b, cases[i].want);
        }

        /* A second result of one cell: nothing started it. */
        buffer_done(&b);
        cell_result(&b, "status=ok\n");
        cell_result(&b, "status=ok\n");
        assert_se(channel_reader_new(&wide, CHANNEL_MODE_SESSION, &r) == 0);
        assert_se(channel_reader_feed(r, b.data, b.size, &ev, &why) == -EBADMSG); /* no cell started */
        assert_se(streq(why, "CH_CELL_RESULT without a cell"));
        r = channel_reader_free(r);
        assert_se(channel_reader_new(&wide, CHANNEL_MODE_SESSION, &r) == 0);
        channel_reader_cell_start(r);
        channel_reader_cell_start(r); /* twice: still one cell */
        assert_se(channel_reader_feed(r, b.data, b.size, &ev, &why) == 18);
        assert_se(ev.type == CHANNEL_EVENT_CELL_RESULT && ev.data_size == 10);
        assert_se(memcmp(ev.data, "status=ok\n", 10) == 0);
        assert_se(channel_reader_feed(r, b.data + 18, b.size - 18, &ev, &why) == -EBADMSG);
        assert_se(streq(why, "CH_CELL_RESULT without a cell"));
        channel_reader_cell_start(r); /* broken stays broken */
        assert_se(channel_reader_feed(r, b.data, b.size, &ev, &why) == -EBADMSG);

        /* A file between cells. */
        r = channel_reader_free(r);
        buffer_done(&b);
        file_out(&b, "a", "1");
        assert_se(channel_reader_new(&wide, CHANNEL_MODE_SESSION, &r) == 0);
        assert_se(channel_reader_feed(r, b.data, b.size, &ev, &why) == -EBADMSG);
        assert_se(streq(why, "a message between a session's cells"));

        /* A result inside a file's data. */
        buffer_done(&b);
        msg(&b, CH_FILE_OUT, "\x80\x01\0\0\x05\0\0\0\0\0\0\0f", 13);
        msg(&b, CH_FILE_OUT_DATA, "12", 2);
        cell_result(&b, "status=ok\n");
        expect(&wide, &b, "F f;D2;BAD a message inside a file's data");

        /* Over CH_CELL_RESULT_MAX: refused at its header, before a byte of it is kept. */
        frame_header_format(h, CH_CELL_RESULT, CH_CELL_RESULT_MAX + 1);
        r = channel_reader_free(r);
        assert_se(channel_reader_new(&wide, CHANNEL_MODE_SESSION, &r) == 0);
        channel_reader_cell_start(r);
        assert_se(channel_reader_feed(r, h, sizeof(h), &ev, &why) == -EBADMSG);
        assert_se(streq(why, "a message length out of its type's bounds"));

        /* CH_CELL_RESULT in a job or a discovery run. */
        for (ChannelMode m = CHANNEL_MODE_JOB; m <= CHANNEL_MODE_DISCOVER; m++) {
                r = channel_reader_free(r);
                buffer_done(&b);
                cell_result(&b, "status=ok\n");
                assert_se(channel_reader_new(&wide, m, &r) == 0);
                assert_se(channel_reader_feed(r, b.data, b.size, &ev, &why) == -EBADMSG);
                assert_se(streq(why, "CH_CELL_RESULT outside a session"));
        }
}

/* --- channel_cell_result_parse ---------------------------------------------------------------- */

static void test_parse(void) {
        static const struct {
                const char *text;
                const char *why; /* NULL: parses */
        } bad[] = {
                { "", "CH_CELL_RESULT without status" },
                { "value=1\n", "CH_CELL_RESULT without status" },
                { "status=ok", "CH_CELL_RESULT not ending with a newline" },
                { "status=ok\nstatus=ok\n", "CH_CELL_RESULT with a key twice" },
                { "status=ok\ncell=1\n", "CH_CELL_RESULT with an unknown key" },
                { "status=ok\nwall_ms=1\n", "CH_CELL_RESULT with an unknown key" },
                { "status=ok\n=1\n", "CH_CELL_RESULT with an unknown key" },
                { "status=ok\nvalue\n", "CH_CELL_RESULT with a line without '='" },
                { "status=ok\nvalue=a\\tb\n", "CH_CELL_RESULT with a bad escape" },
                { "status=ok\nvalue=a\\\n", "CH_CELL_RESULT with a bad escape" },
                { "status=interrupted\n", "CH_CELL_RESULT with a status other than ok or error" },
                { "status=\n", "CH_CELL_RESULT with a status other than ok or error" },
                { "status=OK\n", "CH_CELL_RESULT with a status other than ok or error" },
                { "status=ok\nvalue_truncated=0\n", "CH_CELL_RESULT with a value_truncated other than 1" },
        };
        CellResult c = { .cell = 99 };
        const char *why;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                why = NULL;
                assert_se(channel_cell_result_parse(bad[i].text, strlen(bad[i].text), &c, &why) == -EBADMSG);
                if (!why || !streq(why, bad[i].why)) {
                        fprintf(stderr, "\"%s\": %s\n", bad[i].text, why ? why : "(null)");
                        assert_se(false);
                }
                assert_se(c.cell == 99); /* untouched */
        }
        assert_se(channel_cell_result_parse("status=ok\0\n", 11, &c, &why) == -EBADMSG);
        assert_se(streq(why, "CH_CELL_RESULT with a NUL byte"));

        const char *ok =
                "error_type=ZeroDivisionError\nstatus=error\nerror_message=division by zero\n"
                "traceback=Traceback (most recent call last):\\n  File \"<cell 2>\", line 1, in "
                "<module>\\nZeroDivisionError: division by zero\\n\nvalue=\n";
        assert_se(channel_cell_result_parse(ok, strlen(ok), &c, NULL) == 0);
        assert_se(c.status == CELL_ERROR && c.value == NULL && !c.value_truncated);
        assert_se(streq(c.error_type, "ZeroDivisionError") && streq(c.error_message, "division by zero"));
        assert_se(streq(c.traceback,
                        "Traceback (most recent call last):\n  File \"<cell 2>\", line 1, in "
                        "<module>\nZeroDivisionError: division by zero\n"));
        assert_se(c.wall_ms == RESULT_UNSET && c.cpu_ms == RESULT_UNSET && c.message == NULL);
        cell_result_done(&c);

        const char *t = "status=ok\nvalue='a\\\\b'\nvalue_truncated=1\n";
        assert_se(channel_cell_result_parse(t, strlen(t), &c, NULL) == 0);
        assert_se(c.status == CELL_OK && streq(c.value, "'a\\b'") && c.value_truncated);
        assert_se(!c.error_type && !c.traceback);
        cell_result_done(&c);
}

static void test_parse_cuts(void) {
        /* value= of PW_CELL_VALUE_MAX - 1 bytes of 'x' then "å" (2 bytes): the cut may not split it. */
        _cleanup_free_ char *text = malloc(PW_CELL_RESULT_MAX + 1);
        CellResult c;
        size_t n;

        assert_se(text);
        n = (size_t) sprintf(text, "status=ok\nvalue=");
        memset(text + n, 'x', PW_CELL_VALUE_MAX - 1);
        n += PW_CELL_VALUE_MAX - 1;
        n += (size_t) sprintf(text + n, "\xc3\xa5\n");
        assert_se(channel_cell_result_parse(text, n, &c, NULL) == 0);
        assert_int(strlen(c.value), ==, PW_CELL_VALUE_MAX - 1);
        assert_se(c.value_truncated);
        cell_result_done(&c);

        /* Exactly at the bound: not cut. */
        n = (size_t) sprintf(text, "status=ok\nvalue=");
        memset(text + n, 'y', PW_CELL_VALUE_MAX);
        n += PW_CELL_VALUE_MAX;
        text[n++] = '\n';
        assert_se(channel_cell_result_parse(text, n, &c, NULL) == 0);
        assert_int(strlen(c.value), ==, PW_CELL_VALUE_MAX);
        assert_se(!c.value_truncated);
        cell_result_done(&c);

        /* Not UTF-8 (continuation bytes alone): cut where the bound is, kept as they are. */
        n = (size_t) sprintf(text, "status=error\nerror_type=");
        memset(text + n, 0x80, PW_CELL_ERROR_TYPE_MAX + 10);
        n += PW_CELL_ERROR_TYPE_MAX + 10;
        n += (size_t) sprintf(text + n, "\ntraceback=");
        memset(text + n, 't', PW_CELL_TRACEBACK_MAX + 1);
        n += PW_CELL_TRACEBACK_MAX + 1;
        n += (size_t) sprintf(text + n, "\nerror_message=m\n");
        assert_se(channel_cell_result_parse(text, n, &c, NULL) == 0);
        assert_int(strlen(c.error_type), ==, PW_CELL_ERROR_TYPE_MAX);
        assert_int(strlen(c.traceback), ==, PW_CELL_TRACEBACK_MAX);
        assert_se(streq(c.error_message, "m") && !c.value_truncated); /* only the value's cut is told */
        cell_result_done(&c);

        /* Over CH_CELL_RESULT_MAX. */
        const char *why = NULL;
        memset(text, 'z', PW_CELL_RESULT_MAX);
        assert_se(channel_cell_result_parse(text, PW_CELL_RESULT_MAX + 1, &c, &why) == -EBADMSG);
        assert_se(streq(why, "CH_CELL_RESULT over its bound"));
}

/* What the real runner sent in a session (tests/fuzz/channel/make-runner-seeds.py): the reader and
 * the parser take it, so runner-session.py, channel.c and channel-session.c agree. */
static void test_the_runners_session(void) {
        _cleanup_(channel_reader_freep) ChannelReader *r = NULL;
        _cleanup_(buffer_done) Buffer b = {};
        char path[4096], got[4096] = "";
        uint8_t chunk[4096];
        size_t n, off = 2, len = 0; /* after the fuzzer's two bytes */
        FILE *f;

        snprintf(path, sizeof(path), "%s/tests/fuzz/channel/seed-runner-session", SRCDIR);
        f = fopen(path, "rbe");
        assert_se(f);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                assert_se(buffer_append(&b, chunk, n) == 0);
        fclose(f);
        assert_se(channel_reader_new(&wide, CHANNEL_MODE_SESSION, &r) == 0);
        channel_reader_cell_start(r);
        for (;;) {
                const char *why = NULL;
                ChannelEvent ev;
                ssize_t k = channel_reader_feed(r, b.data + off, b.size - off, &ev, &why);
                CellResult c;

                assert_se(k >= 0);
                off += (size_t) k;
                if (ev.type == CHANNEL_EVENT_NONE)
                        break;
                if (ev.type == CHANNEL_EVENT_FILE)
                        len += snprintf(got + len, sizeof(got) - len, "F %.*s;", (int) ev.path_size, ev.path);
                else if (ev.type == CHANNEL_EVENT_SKIPPED)
                        len += snprintf(got + len, sizeof(got) - len, "S%d;", ev.reason);
                if (ev.type != CHANNEL_EVENT_CELL_RESULT)
                        continue;
                assert_se(channel_cell_result_parse(ev.data, ev.data_size, &c, &why) == 0);
                len += snprintf(got + len, sizeof(got) - len, "%s %s %s;",
                                c.status == CELL_OK ? "ok" : "error", c.value ? c.value : "-",
                                c.error_type ? c.error_type : "-");
                if (c.error_type && streq(c.error_type, "ZeroDivisionError"))
                        assert_se(strncmp(c.traceback,
                                          "Traceback (most recent call last):\n  File \"<cell 3>\"",
                                          50) == 0);
                cell_result_done(&c);
                channel_reader_cell_start(r);
        }
        assert_int(off, ==, b.size);
        /* in.txt was sent: not returned; a link is told of at every collection. */
        if (!streq(got,
                   "ok - -;ok 42 -;error - ZeroDivisionError;error - KeyboardInterrupt;S1;F out.txt;ok - -;S1;"
                   "ok 'caf\xc3\xa9\\ncaf\xc3\xa9\\ncaf\xc3\xa9\\n' -;")) {
                fprintf(stderr, "got %s\n", got);
                assert_se(false);
        }
}

int main(void) {
        test_cell_append();
        test_request_session();
        test_reader_cells();
        test_reader_violations();
        test_parse();
        test_parse_cuts();
        test_the_runners_session();
        return 0;
}
