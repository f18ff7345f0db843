/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of cell.c: cell statuses, the CELL frame's round trip and bounds, the CELL_RESULT
 * record (a literal, round trips, texts cut at their bounds and at UTF-8 boundaries, the worst case
 * within the frame's bound) and its decoder's strictness; and str.c's utf8_boundary_cut(). */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "test.h"

static void test_cell_status(void) {
        static const char *const names[] = { "ok", "error", "interrupted" };

        assert_int(ELEMENTSOF(names), ==, _CELL_STATUS_MAX);
        for (int s = 0; s < _CELL_STATUS_MAX; s++) {
                assert_streq(cell_status_to_string(s), names[s]);
                assert_int(cell_status_from_string(names[s]), ==, s);
        }
        assert_se(!cell_status_to_string(_CELL_STATUS_MAX));
        assert_se(!cell_status_to_string(-1));
        assert_int(cell_status_from_string("OK"), ==, -EINVAL);
        assert_int(cell_status_from_string(""), ==, -EINVAL);
        assert_int(cell_status_from_string(NULL), ==, -EINVAL);
}

static void test_utf8_cut(void) {
        /* "aé€😀": 1 + 2 + 3 + 4 bytes. */
        const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
        static const size_t expect[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10 };

        for (size_t max = 0; max <= 10; max++)
                assert_int(utf8_boundary_cut(s, 10, max), ==, expect[max]);
        assert_int(utf8_boundary_cut(s, 10, 20), ==, 10);
        /* Not UTF-8: cut where the bound is. */
        assert_int(utf8_boundary_cut("\x80\x80\x80\x80\x80", 5, 3), ==, 3);
        assert_int(utf8_boundary_cut("ab\xff\x80\x80", 5, 3), ==, 3);
        /* A lead byte whose sequence is broken or ends early. */
        assert_int(utf8_boundary_cut("a\xe2\x82z", 4, 2), ==, 2);
        assert_int(utf8_boundary_cut("a\xe2\x82", 3, 2), ==, 2);
        /* Overlong leads (0xc0, 0xc1) and beyond U+10FFFF (0xf5) are not UTF-8. */
        assert_int(utf8_boundary_cut("a\xc0\x80", 3, 2), ==, 2);
        assert_int(utf8_boundary_cut("a\xf5\x80\x80\x80", 5, 3), ==, 3);
        /* A stray continuation byte after a complete character. */
        assert_int(utf8_boundary_cut("\xc3\xa9\x80x", 4, 2), ==, 2);
}

static void test_cell_frame(void) {
        _cleanup_(buffer_done) Buffer b = {};
        static const uint8_t expected[] = { 0x13, 0, 0, 0,   10,  0,   0,   0,   1,
                                            0,    0, 0, 'p', 'r', 'i', 'n', 't', '(' };
        const char *code;
        uint32_t flags;
        size_t n, big_size = PW_CODE_MAX - PW_CELL_HEADER_SIZE;
        _cleanup_free_ char *big = malloc(big_size + 1);
        FrameHeader h;

        assert_int(cell_frame_append(&b, PW_CELL_COLLECT, "print(", 6), ==, 0);
        assert_int(b.size, ==, sizeof(expected));
        assert_se(memcmp(b.data, expected, sizeof(expected)) == 0);
        assert_int(cell_frame_parse(b.data + PW_FRAME_HEADER_SIZE, b.size - PW_FRAME_HEADER_SIZE, &flags,
                                    &code, &n),
                   ==, 0);
        assert_int(flags, ==, PW_CELL_COLLECT);
        assert_int(n, ==, 6);
        assert_se(memcmp(code, "print(", 6) == 0);

        /* An empty cell is a cell (it does nothing). */
        b.size = 0;
        assert_int(cell_frame_append(&b, 0, NULL, 0), ==, 0);
        assert_int(b.size, ==, PW_FRAME_HEADER_SIZE + PW_CELL_HEADER_SIZE);
        assert_int(cell_frame_parse(b.data + PW_FRAME_HEADER_SIZE, PW_CELL_HEADER_SIZE, &flags, &code, &n),
                   ==, 0);
        assert_int(flags, ==, 0);
        assert_int(n, ==, 0);

        /* The largest code fits the frame exactly; one byte more does not, and nothing is appended. */
        assert_se(big);
        memset(big, '#', big_size + 1);
        b.size = 0;
        assert_int(cell_frame_append(&b, 0, big, big_size), ==, 0);
        assert_int(frame_header_parse(b.data, &h), ==, 0);
        assert_int(h.type, ==, FRAME_CELL);
        assert_int(h.length, ==, PW_CODE_MAX);
        b.size = 0;
        assert_int(cell_frame_append(&b, 0, big, big_size + 1), ==, -EMSGSIZE);
        assert_int(b.size, ==, 0);
        assert_int(cell_frame_append(&b, 0x2, "x", 1), ==, -EINVAL);
        assert_int(cell_frame_append(&b, 0, NULL, 1), ==, -EINVAL);
        assert_int(b.size, ==, 0);

        /* The decoder: short, unknown flags, over the bound. */
        assert_int(cell_frame_parse("\x01\x00\x00", 3, &flags, &code, &n), ==, -EBADMSG);
        assert_int(cell_frame_parse(NULL, 0, &flags, &code, &n), ==, -EBADMSG);
        assert_int(cell_frame_parse("\x02\x00\x00\x00x", 5, &flags, &code, &n), ==, -EBADMSG);
        assert_int(cell_frame_parse("\x01\x00\x00\x80x", 5, &flags, &code, &n), ==, -EBADMSG);
        assert_int(cell_frame_parse(big, PW_CODE_MAX + 1, &flags, &code, &n), ==, -EBADMSG);
}

/* The payload of the one CELL_RESULT frame in b. */
static void frame_payload(const Buffer *b, const uint8_t **ret, size_t *ret_size) {
        FrameHeader h;

        assert_int(frame_header_parse(b->data, &h), ==, 0);
        assert_int(h.type, ==, FRAME_CELL_RESULT);
        assert_int(h.length, ==, b->size - PW_FRAME_HEADER_SIZE);
        assert_int(h.length, <=, PW_CELL_RESULT_MAX);
        *ret = b->data + PW_FRAME_HEADER_SIZE;
        *ret_size = h.length;
}

static bool str_eq(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void assert_cell_result_eq(const CellResult *a, const CellResult *b) {
        assert_int(a->cell, ==, b->cell);
        assert_int(a->status, ==, b->status);
        assert_se(str_eq(a->value, b->value));
        assert_int(a->value_truncated, ==, b->value_truncated);
        assert_se(str_eq(a->error_type, b->error_type));
        assert_se(str_eq(a->error_message, b->error_message));
        assert_se(str_eq(a->traceback, b->traceback));
        assert_se(str_eq(a->message, b->message));
        assert_se(a->wall_ms == b->wall_ms && a->cpu_ms == b->cpu_ms);
        assert_int(a->files_reported, ==, b->files_reported);
        assert_se(a->files_out == b->files_out && a->files_out_bytes == b->files_out_bytes);
        assert_se(a->files_skipped == b->files_skipped);
        assert_se(str_eq(a->files_note, b->files_note));
}

/* Appends r, checks the payload against expected (if any), parses it back; returns the parse. */
static CellResult roundtrip(const CellResult *r, const char *expected) {
        _cleanup_(buffer_done) Buffer b = {};
        CellResult back = CELL_RESULT_INIT;
        const uint8_t *p;
        size_t n;

        assert_int(cell_result_append(&b, r), ==, 0);
        frame_payload(&b, &p, &n);
        if (expected) {
                assert_int(n, ==, strlen(expected));
                assert_se(memcmp(p, expected, n) == 0);
        }
        assert_int(cell_result_parse(p, n, &back), ==, 0);
        return back;
}

static void test_cell_result_literals(void) {
        CellResult ok = CELL_RESULT_INIT, error = CELL_RESULT_INIT, intr = CELL_RESULT_INIT, back;

        ok.cell = 1;
        ok.status = CELL_OK;
        ok.value = (char *) "'a\\\\b\\n'";
        ok.wall_ms = 12;
        ok.cpu_ms = 3;
        back = roundtrip(&ok, "cell=1\nstatus=ok\nvalue='a\\\\\\\\b\\\\n'\nwall_ms=12\ncpu_ms=3\n");
        assert_cell_result_eq(&ok, &back);
        cell_result_done(&back);

        /* No value (None), times unknown: written empty, read back unknown. */
        ok.value = NULL;
        ok.wall_ms = ok.cpu_ms = RESULT_UNSET;
        back = roundtrip(&ok, "cell=1\nstatus=ok\nwall_ms=\ncpu_ms=\n");
        assert_cell_result_eq(&ok, &back);
        cell_result_done(&back);

        /* An ok cell's error fields are not written (the cell caught what it raised). */
        ok.error_type = (char *) "KeyboardInterrupt";
        back = roundtrip(&ok, "cell=1\nstatus=ok\nwall_ms=\ncpu_ms=\n");
        assert_se(!back.error_type);
        cell_result_done(&back);

        error.cell = 7;
        error.status = CELL_ERROR;
        error.error_type = (char *) "ZeroDivisionError";
        error.error_message = (char *) "division by zero";
        error.traceback =
                (char *) "Traceback (most recent call last):\n  File \"<cell 7>\", line 1, in <module>\n"
                         "ZeroDivisionError: division by zero\n";
        error.wall_ms = 1;
        error.cpu_ms = 0;
        error.files_reported = true;
        error.files_out = 2;
        error.files_out_bytes = 10;
        error.files_skipped = 0;
        back = roundtrip(&error,
                         "cell=7\nstatus=error\nerror_type=ZeroDivisionError\n"
                         "error_message=division by zero\n"
                         "traceback=Traceback (most recent call last):\\n  File \"<cell 7>\", line 1, "
                         "in <module>\\nZeroDivisionError: division by zero\\n\n"
                         "wall_ms=1\ncpu_ms=0\nfiles_out=2\nfiles_out_bytes=10\nfiles_skipped=0\n");
        assert_cell_result_eq(&error, &back);
        cell_result_done(&back);

        /* Interrupted: the three texts are written even when unknown (empty), the helper's note. */
        intr.cell = 3;
        intr.status = CELL_INTERRUPTED;
        intr.message = (char *) "the cell reached its wall-time limit of 10 s";
        intr.wall_ms = 10001;
        intr.cpu_ms = 9990;
        intr.files_reported = true;
        intr.files_note = (char *) "the collection's time ran out";
        back = roundtrip(&intr,
                         "cell=3\nstatus=interrupted\nerror_type=\nerror_message=\ntraceback=\n"
                         "message=the cell reached its wall-time limit of 10 s\nwall_ms=10001\n"
                         "cpu_ms=9990\nfiles_out=0\nfiles_out_bytes=0\nfiles_skipped=0\n"
                         "files_note=the collection's time ran out\n");
        assert_cell_result_eq(&intr, &back);
        cell_result_done(&back);

        /* An empty repr is a value, not None. */
        ok.value = (char *) "";
        back = roundtrip(&ok, "cell=1\nstatus=ok\nvalue=\nwall_ms=\ncpu_ms=\n");
        assert_streq(back.value, "");
        cell_result_done(&back);
        /* value_truncated as the runner said, even if this side did not cut. */
        ok.value = (char *) "x";
        ok.value_truncated = true;
        back = roundtrip(&ok, "cell=1\nstatus=ok\nvalue=x\nvalue_truncated=1\nwall_ms=\ncpu_ms=\n");
        assert_se(back.value_truncated);
        cell_result_done(&back);
        /* ... but never without a value. */
        ok.value = NULL;
        back = roundtrip(&ok, "cell=1\nstatus=ok\nwall_ms=\ncpu_ms=\n");
        assert_se(!back.value_truncated);
        cell_result_done(&back);
}

static char *text_of(size_t n, char c) {
        char *s = malloc(n + 1);

        assert_se(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static void test_cell_result_cut(void) {
        _cleanup_free_ char *value = text_of(PW_CELL_VALUE_MAX + 10, 'v');
        _cleanup_free_ char *type = text_of(PW_CELL_ERROR_TYPE_MAX + 1, 't');
        _cleanup_free_ char *msg = text_of(PW_CELL_ERROR_MESSAGE_MAX + 1, 'm');
        _cleanup_free_ char *tb = text_of(PW_CELL_TRACEBACK_MAX + 4, 'b');
        CellResult r = CELL_RESULT_INIT, back;

        r.cell = 2;
        r.status = CELL_ERROR;
        r.value = value;
        r.error_type = type;
        r.error_message = msg;
        r.traceback = tb;
        back = roundtrip(&r, NULL);
        assert_int(strlen(back.value), ==, PW_CELL_VALUE_MAX);
        assert_se(back.value_truncated);
        assert_int(strlen(back.error_type), ==, PW_CELL_ERROR_TYPE_MAX);
        assert_int(strlen(back.error_message), ==, PW_CELL_ERROR_MESSAGE_MAX);
        assert_int(strlen(back.traceback), ==, PW_CELL_TRACEBACK_MAX);
        cell_result_done(&back);

        /* At its bound exactly: not cut. */
        value[PW_CELL_VALUE_MAX] = '\0';
        back = roundtrip(&r, NULL);
        assert_streq(back.value, value);
        assert_se(!back.value_truncated);
        cell_result_done(&back);

        /* A two-byte character across the bound is left out whole. */
        value[PW_CELL_VALUE_MAX - 1] = '\xc3';
        value[PW_CELL_VALUE_MAX] = '\xa9';
        value[PW_CELL_VALUE_MAX + 1] = '\0';
        back = roundtrip(&r, NULL);
        assert_int(strlen(back.value), ==, PW_CELL_VALUE_MAX - 1);
        assert_se(back.value_truncated);
        assert_se(memcmp(back.value, value, PW_CELL_VALUE_MAX - 1) == 0);
        cell_result_done(&back);
        /* The same bytes, not UTF-8 (a continuation byte alone): cut at the bound. */
        value[PW_CELL_VALUE_MAX - 1] = 'v';
        back = roundtrip(&r, NULL);
        assert_int(strlen(back.value), ==, PW_CELL_VALUE_MAX);
        cell_result_done(&back);

        /* A four-byte character across the traceback's bound. */
        memcpy(tb + PW_CELL_TRACEBACK_MAX - 2, "\xf0\x9f\x98\x80", 4);
        back = roundtrip(&r, NULL);
        assert_int(strlen(back.traceback), ==, PW_CELL_TRACEBACK_MAX - 2);
        cell_result_done(&back);
}

/* Every text at its bound, made of the bytes escaping doubles, and the longest numbers: the frame
 * still fits (the static_assert of cell.c, checked for real). */
static void test_cell_result_worst_case(void) {
        _cleanup_free_ char *value = text_of(PW_CELL_VALUE_MAX + 100, '\\');
        _cleanup_free_ char *type = text_of(PW_CELL_ERROR_TYPE_MAX + 100, '\n');
        _cleanup_free_ char *msg = text_of(PW_CELL_ERROR_MESSAGE_MAX + 100, '\\');
        _cleanup_free_ char *tb = text_of(PW_CELL_TRACEBACK_MAX + 100, '\n');
        _cleanup_free_ char *note = text_of(100000, '\\');
        _cleanup_free_ char *message = text_of(100000, '\n');
        _cleanup_(buffer_done) Buffer b = {};
        CellResult r = {
                .cell = UINT64_MAX,
                .status = CELL_INTERRUPTED,
                .value = value,
                .value_truncated = true,
                .error_type = type,
                .error_message = msg,
                .traceback = tb,
                .message = message,
                .wall_ms = UINT64_MAX - 1,
                .cpu_ms = UINT64_MAX - 1,
                .files_reported = true,
                .files_out = UINT64_MAX,
                .files_out_bytes = UINT64_MAX,
                .files_skipped = UINT64_MAX,
                .files_note = note,
        };
        CellResult back = CELL_RESULT_INIT;
        const uint8_t *p;
        size_t n;

        assert_int(cell_result_append(&b, &r), ==, 0);
        frame_payload(&b, &p, &n);
        assert_int(n, <=, PW_CELL_RESULT_MAX);
        assert_int(cell_result_parse(p, n, &back), ==, 0);
        assert_int(back.cell, ==, UINT64_MAX);
        assert_int(strlen(back.value), ==, PW_CELL_VALUE_MAX);
        assert_int(strlen(back.traceback), ==, PW_CELL_TRACEBACK_MAX);
        assert_se(back.files_skipped == UINT64_MAX && back.wall_ms == UINT64_MAX - 1);
        /* message= and files_note= are cut as RESULT's, with "...". */
        assert_se(strlen(back.message) < 4096 && strcmp(back.message + strlen(back.message) - 3, "...") == 0);
        assert_se(strlen(back.files_note) < 1024);
        cell_result_done(&back);
        assert_se(!back.value && back.wall_ms == RESULT_UNSET);
}

static void test_cell_result_append_errors(void) {
        _cleanup_(buffer_done) Buffer b = {};
        CellResult r = CELL_RESULT_INIT;

        r.status = CELL_OK;
        assert_int(cell_result_append(&b, &r), ==, -EINVAL); /* cell 0 */
        r.cell = 1;
        r.status = _CELL_STATUS_MAX;
        assert_int(cell_result_append(&b, &r), ==, -EINVAL);
        r.status = -1;
        assert_int(cell_result_append(&b, &r), ==, -EINVAL);
        assert_int(b.size, ==, 0);
        assert_int(cell_result_append(NULL, &r), ==, -EINVAL);
        cell_result_done(NULL);
}

static int parse(const char *text) {
        CellResult r = CELL_RESULT_INIT;
        int q = cell_result_parse(text, strlen(text), &r);

        cell_result_done(&r);
        return q;
}

static int parse_into(const char *text, CellResult *ret) {
        return cell_result_parse(text, strlen(text), ret);
}

static void test_cell_result_parse(void) {
        CellResult r = CELL_RESULT_INIT;
        static const char *const bad[] = {
                "",                                                 /* empty */
                "status=ok\n",                                      /* no cell */
                "cell=1\n",                                         /* no status */
                "cell=0\nstatus=ok\n",                              /* cells count from 1 */
                "cell=01\nstatus=ok\n",                             /* strict numbers */
                "cell=-1\nstatus=ok\n",                             /* */
                "cell=18446744073709551616\nstatus=ok\n",           /* overflow */
                "cell=1\nstatus=OK\n",                              /* unknown status */
                "cell=1\nstatus=\n",                                /* */
                "cell=1\nstatus=ok\nstatus=ok\n",                   /* a key twice */
                "cell=1\ncell=1\nstatus=ok\n",                      /* */
                "cell=1\nstatus=ok\nvalue=a\\tb\n",                 /* bad escape */
                "cell=1\nstatus=ok\nvalue=a\\\n",                   /* a backslash at the end */
                "cell=1\nstatus=ok\nvalue_truncated=0\n",           /* only 1 */
                "cell=1\nstatus=ok\nvalue_truncated=\n",            /* */
                "cell=1\nstatus=ok\nwall_ms=x\n",                   /* bad number */
                "cell=1\nstatus=ok\ncpu_ms=18446744073709551615\n", /* RESULT_UNSET is no value */
                "cell=1\nstatus=ok\nfiles_out=\n",                  /* counts are always written */
                "cell=1\nstatus=ok\nfiles_skipped=1x\n",            /* */
                "cell=1\nstatus=ok",                                /* no final newline */
                "cell=1\nstatus=ok\nnoequals\n",                    /* a line without '=' */
                "cell=1\nstatus=ok\n=x\n",                          /* an empty key */
                "cell=1\nstatus=ok\n\n",                            /* an empty line */
        };
        _cleanup_free_ char *big = NULL;
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (parse(bad[i]) != -EBADMSG) {
                        fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
                        assert_se(false);
                }
        }
        /* A NUL byte, and over the frame's bound. */
        assert_int(cell_result_parse("cell=1\nstatus=ok\0\n", 18, &r), ==, -EBADMSG);
        n = PW_CELL_RESULT_MAX + 1;
        big = text_of(n, 'x');
        memcpy(big, "cell=1\nstatus=ok\nz=", 19);
        big[n - 1] = '\n';
        assert_int(cell_result_parse(big, n, &r), ==, -EBADMSG);
        /* At the bound: fine, the unknown key ignored. */
        assert_int(cell_result_parse(big, n - 1, &r), ==, -EBADMSG); /* no final newline */
        big[n - 2] = '\n';
        assert_int(cell_result_parse(big, n - 1, &r), ==, 0);
        cell_result_done(&r);

        /* Unknown keys (a newer helper's) are ignored, in any place; any order is read. */
        assert_int(parse_into("future=1\nstatus=interrupted\ncell=9\nfiles_note=n\nfuture2=\\q\n", &r), ==,
                   0);
        assert_int(r.cell, ==, 9);
        assert_int(r.status, ==, CELL_INTERRUPTED);
        assert_se(r.files_reported);
        assert_streq(r.files_note, "n");
        assert_se(!r.value && !r.traceback && r.wall_ms == RESULT_UNSET);
        cell_result_done(&r);
        /* Empty texts are NULL, but for value. */
        assert_int(parse_into("cell=1\nstatus=error\nerror_type=\nmessage=\nvalue=\n", &r), ==, 0);
        assert_se(!r.error_type && !r.message);
        assert_streq(r.value, "");
        cell_result_done(&r);
        /* *ret untouched on failure. */
        r.cell = 77;
        assert_int(parse_into("cell=1\nstatus=bad\n", &r), ==, -EBADMSG);
        assert_int(r.cell, ==, 77);
        assert_int(cell_result_parse("x", 1, NULL), ==, -EINVAL);
}

int main(void) {
        test_cell_status();
        test_utf8_cut();
        test_cell_frame();
        test_cell_result_literals();
        test_cell_result_cut();
        test_cell_result_worst_case();
        test_cell_result_append_errors();
        test_cell_result_parse();
        return 0;
}
