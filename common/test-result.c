/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of result.c: status and signal names, the result record's round trip (as a payload
 * and as a RESULT frame), escaping, and the decoder's strictness. */

#include <stdbool.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "test.h"

static void test_job_status(void) {
        static const char *const names[] = { "ok",  "exit",         "signal", "timeout",  "cpu-limit",
                                             "oom", "output-limit", "killed", "rejected", "error" };

        assert_int(ELEMENTSOF(names), ==, _JOB_STATUS_MAX);
        for (int s = 0; s < _JOB_STATUS_MAX; s++) {
                assert_streq(job_status_to_string(s), names[s]);
                assert_int(job_status_from_string(names[s]), ==, s);
        }
        assert_se(!job_status_to_string(_JOB_STATUS_MAX));
        assert_se(!job_status_to_string(-1));
        assert_int(job_status_from_string("OK"), ==, -EINVAL);
        assert_int(job_status_from_string("cpu_limit"), ==, -EINVAL);
}

static void test_signals(void) {
        char b[16];

        assert_int(signal_to_string(SIGKILL, b, sizeof(b)), ==, 0);
        assert_streq(b, "SIGKILL");
        assert_int(signal_from_string("SIGKILL"), ==, SIGKILL);
        for (int s = 1; s <= 64; s++) {
                assert_int(signal_to_string(s, b, sizeof(b)), ==, 0);
                assert_int(signal_from_string(b), ==, s);
        }
        assert_int(signal_to_string(SIGRTMIN, b, sizeof(b)), ==, 0);
        assert_streq(b, "SIG34");
        assert_int(signal_to_string(0, b, sizeof(b)), ==, -EINVAL);
        assert_int(signal_to_string(65, b, sizeof(b)), ==, -EINVAL);
        assert_int(signal_to_string(SIGTERM, b, 4), ==, -ENOBUFS);
        assert_int(signal_from_string("KILL"), ==, -EINVAL);
        assert_int(signal_from_string("SIG0"), ==, -EINVAL);
        assert_int(signal_from_string("SIG65"), ==, -EINVAL);
        assert_int(signal_from_string("SIG09"), ==, -EINVAL);
        assert_int(signal_from_string("SIG9x"), ==, -EINVAL);
        assert_int(signal_from_string("SIG"), ==, -EINVAL);
        assert_int(signal_from_string("sigkill"), ==, -EINVAL);
}

static void test_result_roundtrip(void) {
        JobResult r = {
                .status = JOB_SIGNAL,
                .exit_code = -1,
                .signal = SIGSEGV,
                .wall_ms = 1234,
                .cpu_ms = 0,
                .memory_peak_bytes = UINT64_MAX - 1,
                .memory_peak_reason = NULL,
                .unit = (char *) "pyward-job-17.service",
                .invocation_id = (char *) "0123456789abcdef0123456789abcdef",
                .job = (char *) "17",
                .message = (char *) "line1\nline2 back\\slash \\n literal=x",
        };
        _cleanup_free_ char *text = NULL;
        JobResult p = {};
        size_t n;

        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_int(strlen(text), ==, n);
        assert_streq(text,
                     "status=signal\n"
                     "exit_code=\n"
                     "signal=SIGSEGV\n"
                     "wall_ms=1234\n"
                     "cpu_ms=0\n"
                     "memory_peak_bytes=18446744073709551614\n"
                     "memory_peak_reason=\n"
                     "unit=pyward-job-17.service\n"
                     "invocation_id=0123456789abcdef0123456789abcdef\n"
                     "job=17\n"
                     "message=line1\\nline2 back\\\\slash \\\\n literal=x\n");
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_int(p.status, ==, JOB_SIGNAL);
        assert_int(p.exit_code, ==, -1);
        assert_int(p.signal, ==, SIGSEGV);
        assert_int(p.wall_ms, ==, 1234);
        assert_int(p.cpu_ms, ==, 0);
        assert_se(p.memory_peak_bytes == UINT64_MAX - 1);
        assert_se(!p.memory_peak_reason);
        assert_streq(p.unit, r.unit);
        assert_streq(p.invocation_id, r.invocation_id);
        assert_streq(p.job, "17");
        assert_streq(p.message, r.message);
        job_result_done(&p);
        assert_se(!p.message && !p.unit);
        job_result_done(&p);
        job_result_done(NULL);
}

static void test_result_unset(void) {
        JobResult r = {
                .status = JOB_REJECTED,
                .exit_code = -1,
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
                .memory_peak_reason = (char *) "no memory accounting",
                .message = (char *) "profile \"big\" not allowed",
        };
        _cleanup_free_ char *text = NULL;
        JobResult p = {};
        size_t n;

        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_streq(text,
                     "status=rejected\nexit_code=\nsignal=\nwall_ms=\ncpu_ms=\nmemory_peak_bytes=\n"
                     "memory_peak_reason=no memory accounting\nunit=\ninvocation_id=\njob=\n"
                     "message=profile \"big\" not allowed\n");
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_int(p.status, ==, JOB_REJECTED);
        assert_int(p.exit_code, ==, -1);
        assert_int(p.signal, ==, 0);
        assert_se(p.wall_ms == RESULT_UNSET && p.cpu_ms == RESULT_UNSET);
        assert_se(p.memory_peak_bytes == RESULT_UNSET);
        assert_streq(p.memory_peak_reason, "no memory accounting");
        assert_se(!p.unit && !p.invocation_id && !p.job);
        job_result_done(&p);

        /* Every status and exit codes at the edges. */
        for (int s = 0; s < _JOB_STATUS_MAX; s++) {
                _cleanup_free_ char *t = NULL;
                r = (JobResult) { .status = s,
                                  .exit_code = s == JOB_EXIT ? 255 : 0,
                                  .wall_ms = RESULT_UNSET,
                                  .cpu_ms = 7,
                                  .memory_peak_bytes = 0 };
                assert_int(job_result_format(&r, &t, &n), ==, 0);
                assert_int(job_result_parse(t, n, &p), ==, 0);
                assert_int(p.status, ==, s);
                assert_int(p.exit_code, ==, r.exit_code);
                assert_se(p.wall_ms == RESULT_UNSET && p.cpu_ms == 7 && p.memory_peak_bytes == 0);
                job_result_done(&p);
        }
}

static void test_result_format_errors(void) {
        JobResult r = { .status = _JOB_STATUS_MAX, .exit_code = -1 };
        char *text = (char *) "untouched";
        size_t n = 42;

        assert_int(job_result_format(&r, &text, &n), ==, -EINVAL);
        r.status = JOB_EXIT;
        r.exit_code = 256;
        assert_int(job_result_format(&r, &text, &n), ==, -EINVAL);
        r.exit_code = 1;
        r.signal = 99;
        assert_int(job_result_format(&r, &text, &n), ==, -EINVAL);
        assert_streq(text, "untouched");
        assert_int(n, ==, 42);
}

static void test_result_long_message(void) {
        /* A huge message is cut so that the record still fits; a UTF-8 sequence is never split. */
        size_t m = 3 * PW_RESULT_MAX;
        char *msg = malloc(m + 1);
        _cleanup_free_ char *text = NULL;
        JobResult p = {};
        size_t n;

        assert_se(msg);
        for (size_t i = 0; i + 2 <= m; i += 2)
                memcpy(msg + i, "\xc3\xa5", 2);
        msg[m] = '\0';
        msg[1] = '\n';
        msg[0] = '\\';
        JobResult r = { .status = JOB_ERROR, .exit_code = -1, .message = msg };
        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_se(n <= PW_RESULT_MAX);
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_se(strncmp(p.message, "\\\n\xc3\xa5", 4) == 0);
        assert_se(strlen(p.message) < m);
        assert_se(strcmp(p.message + strlen(p.message) - 5, "\xc3\xa5...") == 0);
        job_result_done(&p);
        free(msg);
}

static void test_result_message_cut(void) {
        /* The cut is at exactly 2,048 bytes of message (before escaping): 2,048 pass untouched,
         * 2,049 become 2,048 and "...", and a cut inside a UTF-8 sequence backs up to its start. */
        static const struct {
                size_t len;
                bool utf8;
                size_t want_kept;
                bool want_marker;
        } cases[] = {
                { 2047, false, 2047, false }, { 2048, false, 2048, false }, { 2049, false, 2048, true },
                { 5000, false, 2048, true },  { 2049, true, 2047, true },
        };

        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                _cleanup_free_ char *msg = malloc(cases[c].len + 1), *text = NULL;
                JobResult p = {};
                size_t n, got;

                assert_se(msg);
                memset(msg, 'x', cases[c].len);
                msg[cases[c].len] = '\0';
                if (cases[c].utf8) /* "x" then "\xc3\xa5" pairs: byte 2048 is a continuation */
                        for (size_t i = 1; i + 2 <= cases[c].len; i += 2)
                                memcpy(msg + i, "\xc3\xa5", 2);
                JobResult r = { .status = JOB_ERROR, .exit_code = -1, .message = msg };
                assert_int(job_result_format(&r, &text, &n), ==, 0);
                assert_int(job_result_parse(text, n, &p), ==, 0);
                got = strlen(p.message);
                assert_int(got, ==, cases[c].want_kept + (cases[c].want_marker ? 3 : 0));
                assert_se(memcmp(p.message, msg, cases[c].want_kept) == 0);
                if (cases[c].want_marker)
                        assert_streq(p.message + cases[c].want_kept, "...");
                job_result_done(&p);
        }
}

static void test_result_parse_lenient(void) {
        static const char text[] =
                "future_key=whatever \\q goes\n"
                "status=ok\n"
                "exit_code=0\n"
                "another=\n";
        JobResult p = {};

        /* Unknown keys are ignored, even with what would be a bad escape; missing keys are unset. */
        assert_int(job_result_parse(text, sizeof(text) - 1, &p), ==, 0);
        assert_int(p.status, ==, JOB_OK);
        assert_int(p.exit_code, ==, 0);
        assert_int(p.signal, ==, 0);
        assert_se(p.wall_ms == RESULT_UNSET && p.cpu_ms == RESULT_UNSET &&
                  p.memory_peak_bytes == RESULT_UNSET);
        assert_se(!p.message && !p.unit && !p.job && !p.invocation_id && !p.memory_peak_reason);
        job_result_done(&p);

        assert_int(job_result_parse("status=exit\nexit_code=3\nsignal=SIG40\n", 37, &p), ==, 0);
        assert_int(p.exit_code, ==, 3);
        assert_int(p.signal, ==, 40);
        job_result_done(&p);
}

static void test_result_parse_malformed(void) {
        static const char *const bad[] = {
                "",
                "\n",
                "status=ok",     /* no final newline */
                "status=ok\n\n", /* empty line */
                "status=ok\nnoequals\n",
                "status=ok\n=value\n",
                "exit_code=0\n", /* no status */
                "status=OK\n",
                "status=\n",
                "status=ok\nstatus=ok\n", /* duplicate */
                "status=ok\nexit_code=256\n",
                "status=ok\nexit_code=-1\n",
                "status=ok\nexit_code=01\n",
                "status=ok\nexit_code= 1\n",
                "status=ok\nexit_code=1x\n",
                "status=ok\nsignal=9\n",
                "status=ok\nsignal=SIGFOO\n",
                "status=ok\nwall_ms=18446744073709551616\n",
                "status=ok\nwall_ms=18446744073709551615\n", /* the unset sentinel is not a value */
                "status=ok\ncpu_ms=+5\n",
                "status=ok\nmemory_peak_bytes=1e3\n",
                "status=ok\nmessage=a\\tb\n", /* only \\ and \n are escapes */
                "status=ok\nmessage=trailing\\\n",
                "status=ok\nunit=a\rb\\x\n",
        };
        JobResult p = { .status = JOB_KILLED, .exit_code = 99 };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = job_result_parse(bad[i], strlen(bad[i]), &p);
                if (r != -EBADMSG)
                        fprintf(stderr, "case %zu: \"%s\"\n", i, bad[i]);
                assert_int(r, ==, -EBADMSG);
                assert_int(p.status, ==, JOB_KILLED);
                assert_int(p.exit_code, ==, 99);
        }
        /* Embedded NUL, oversize. */
        assert_int(job_result_parse("status=ok\nmessage=a\0b\n", 22, &p), ==, -EBADMSG);
        char *big = malloc(PW_RESULT_MAX + 1);
        assert_se(big);
        memset(big, 'x', PW_RESULT_MAX + 1);
        assert_int(job_result_parse(big, PW_RESULT_MAX + 1, &p), ==, -EMSGSIZE);
        free(big);
        /* A failure after strings were already parsed leaks nothing (checked under valgrind/ASan). */
        assert_int(job_result_parse("status=ok\nmessage=m\nunit=u\nexit_code=x\n", 39, &p), ==, -EBADMSG);
        assert_int(p.status, ==, JOB_KILLED);
}

static void test_result_append(void) {
        JobResult r = {
                .status = JOB_SIGNAL,
                .exit_code = -1,
                .signal = SIGKILL,
                .wall_ms = 12,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = 4096,
                .message = (char *) "two\nlines",
        };
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_free_ char *text = NULL;
        JobResult p = {};
        FrameHeader h;
        size_t n;

        assert_int(job_result_append(&b, &r), ==, 0);
        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_int(frame_header_parse(b.data, &h), ==, 0);
        assert_int(h.type, ==, FRAME_RESULT);
        assert_int(h.length, ==, n);
        assert_int(b.size, ==, PW_FRAME_HEADER_SIZE + n);
        assert_se(memcmp(b.data + PW_FRAME_HEADER_SIZE, text, n) == 0);
        assert_int(job_result_parse(b.data + PW_FRAME_HEADER_SIZE, h.length, &p), ==, 0);
        assert_int(p.status, ==, JOB_SIGNAL);
        assert_int(p.signal, ==, SIGKILL);
        assert_streq(p.message, "two\nlines");
        job_result_done(&p);

        r.status = _JOB_STATUS_MAX;
        assert_int(job_result_append(&b, &r), ==, -EINVAL);
        assert_int(b.size, ==, PW_FRAME_HEADER_SIZE + n);
}

/* A client that sends no new frame gets today's record byte for byte: the literal below is the
 * format before files and discovery existed, and the new fields, unless reported, change nothing. */
static void test_result_compatible(void) {
        static const char today[] =
                "status=ok\n"
                "exit_code=0\n"
                "signal=\n"
                "wall_ms=12\n"
                "cpu_ms=3\n"
                "memory_peak_bytes=4096\n"
                "memory_peak_reason=\n"
                "unit=pyward-job-1.service\n"
                "invocation_id=0123456789abcdef0123456789abcdef\n"
                "job=1\n"
                "message=\n";
        JobResult r = {
                .status = JOB_OK,
                .exit_code = 0,
                .wall_ms = 12,
                .cpu_ms = 3,
                .memory_peak_bytes = 4096,
                .unit = (char *) "pyward-job-1.service",
                .invocation_id = (char *) "0123456789abcdef0123456789abcdef",
                .job = (char *) "1",
                /* Set but not reported: not written. */
                .files_out = 3,
                .files_out_bytes = 100,
                .files_skipped = 1,
                .files_note = (char *) "not written",
                .profiles = 2,
                .cells = 4,
        };
        _cleanup_free_ char *text = NULL;
        JobResult p = {};
        size_t n;

        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_int(n, ==, sizeof(today) - 1);
        assert_se(memcmp(text, today, n) == 0);
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_se(!p.files_reported && !p.profiles_reported && !p.cells_reported);
        assert_se(p.files_out == 0 && p.files_out_bytes == 0 && p.files_skipped == 0 && !p.files_note);
        assert_se(p.profiles == 0 && p.cells == 0);
        job_result_done(&p);
}

static void test_result_files(void) {
        JobResult r = {
                .status = JOB_TIMEOUT,
                .exit_code = -1,
                .signal = SIGKILL,
                .wall_ms = 5000,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
                .files_reported = true,
                .files_out = 2,
                .files_out_bytes = UINT64_MAX,
                .files_skipped = 0,
                .files_note = (char *) "the collection's time ran out\nafter 2s",
        };
        _cleanup_free_ char *text = NULL, *text2 = NULL;
        JobResult p = {};
        size_t n, n2;

        assert_int(job_result_format(&r, &text, &n), ==, 0);
        /* After all of today's keys, in this order. */
        assert_streq(text,
                     "status=timeout\nexit_code=\nsignal=SIGKILL\nwall_ms=5000\ncpu_ms=\nmemory_peak_bytes=\n"
                     "memory_peak_reason=\nunit=\ninvocation_id=\njob=\nmessage=\n"
                     "files_out=2\nfiles_out_bytes=18446744073709551615\nfiles_skipped=0\n"
                     "files_note=the collection's time ran out\\nafter 2s\n");
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_se(p.files_reported && !p.profiles_reported);
        assert_int(p.files_out, ==, 2);
        assert_se(p.files_out_bytes == UINT64_MAX);
        assert_int(p.files_skipped, ==, 0);
        assert_streq(p.files_note, r.files_note);
        job_result_done(&p);
        assert_se(!p.files_note);

        /* A discovery's answer: profiles= alone. */
        r = (JobResult) { .status = JOB_OK,
                          .exit_code = -1,
                          .wall_ms = RESULT_UNSET,
                          .cpu_ms = RESULT_UNSET,
                          .memory_peak_bytes = RESULT_UNSET,
                          .profiles_reported = true,
                          .profiles = 3 };
        assert_int(job_result_format(&r, &text2, &n2), ==, 0);
        assert_se(n2 > 12 && memcmp(text2 + n2 - 12, "\nprofiles=3\n", 12) == 0);
        assert_se(!strstr(text2, "files_"));
        assert_int(job_result_parse(text2, n2, &p), ==, 0);
        assert_se(p.profiles_reported && !p.files_reported);
        assert_int(p.profiles, ==, 3);
        job_result_done(&p);

        /* The decoder: one key is enough to say files were reported; empty counts are 0. */
        assert_int(job_result_parse("status=ok\nfiles_note=\n", strlen("status=ok\nfiles_note=\n"), &p), ==,
                   0);
        assert_se(p.files_reported && !p.files_note && p.files_out == 0);
        job_result_done(&p);
        assert_int(job_result_parse("status=ok\nfiles_out=\n", strlen("status=ok\nfiles_out=\n"), &p), ==, 0);
        assert_se(p.files_reported && p.files_out == 0);
        job_result_done(&p);
        assert_int(job_result_parse("status=ok\nfiles_out=x\n", strlen("status=ok\nfiles_out=x\n"), &p), ==,
                   -EBADMSG);
        assert_int(job_result_parse("status=ok\nfiles_out=01\n", strlen("status=ok\nfiles_out=01\n"), &p), ==,
                   -EBADMSG);
        assert_int(job_result_parse("status=ok\nprofiles=1\nprofiles=1\n",
                                    strlen("status=ok\nprofiles=1\nprofiles=1\n"), &p),
                   ==, -EBADMSG);
        assert_int(job_result_parse("status=ok\nfiles_note=a\\qb\n", strlen("status=ok\nfiles_note=a\\qb\n"),
                                    &p),
                   ==, -EBADMSG);
        assert_int(job_result_parse("status=ok\nfiles_note=a\nfiles_note=b\n",
                                    strlen("status=ok\nfiles_note=a\nfiles_note=b\n"), &p),
                   ==, -EBADMSG);

        /* A long note is cut, so a record that fit before still fits. */
        {
                char note[4096];

                memset(note, 'n', sizeof(note) - 1);
                note[sizeof(note) - 1] = '\0';
                r = (JobResult) {
                        .status = JOB_OOM, .exit_code = -1, .files_reported = true, .files_note = note
                };
                free(text);
                text = NULL;
                assert_int(job_result_format(&r, &text, &n), ==, 0);
                assert_se(strstr(text, "\nfiles_note=nnn"));
                assert_se(strstr(text, "n...\n"));
                assert_int(n, <, 1024);
        }
}

/* A session's RESULT: cells= after today's keys (and after files_*, before profiles=, should a
 * record ever hold them all). */
static void test_result_cells(void) {
        JobResult r = {
                .status = JOB_TIMEOUT,
                .exit_code = -1,
                .signal = SIGKILL,
                .wall_ms = 300000,
                .cpu_ms = 12,
                .memory_peak_bytes = RESULT_UNSET,
                .message = (char *) "the session was idle for 300 s",
                .cells_reported = true,
                .cells = 7,
        };
        _cleanup_free_ char *text = NULL, *text2 = NULL;
        JobResult p = {};
        size_t n, n2;

        assert_int(job_result_format(&r, &text, &n), ==, 0);
        assert_streq(
                text,
                "status=timeout\nexit_code=\nsignal=SIGKILL\nwall_ms=300000\ncpu_ms=12\nmemory_peak_bytes=\n"
                "memory_peak_reason=\nunit=\ninvocation_id=\njob=\n"
                "message=the session was idle for 300 s\ncells=7\n");
        assert_int(job_result_parse(text, n, &p), ==, 0);
        assert_se(p.cells_reported && !p.files_reported && !p.profiles_reported);
        assert_int(p.cells, ==, 7);
        assert_streq(p.message, r.message);
        job_result_done(&p);

        /* No cell ran: cells=0 is still written; and the order beside the other optional keys. */
        r.cells = 0;
        r.files_reported = true;
        r.profiles_reported = true;
        r.profiles = 1;
        assert_int(job_result_format(&r, &text2, &n2), ==, 0);
        assert_se(strstr(text2, "\nfiles_skipped=0\nfiles_note=\ncells=0\nprofiles=1\n"));
        assert_int(job_result_parse(text2, n2, &p), ==, 0);
        assert_se(p.cells_reported && p.cells == 0 && p.files_reported && p.profiles_reported);
        job_result_done(&p);

        /* The decoder: strict numbers, once; empty reads as 0 as the other counts do. */
        assert_int(job_result_parse("status=ok\ncells=\n", strlen("status=ok\ncells=\n"), &p), ==, 0);
        assert_se(p.cells_reported && p.cells == 0);
        job_result_done(&p);
        assert_int(job_result_parse("status=ok\ncells=18446744073709551615\n",
                                    strlen("status=ok\ncells=18446744073709551615\n"), &p),
                   ==, 0);
        assert_se(p.cells == UINT64_MAX);
        job_result_done(&p);
        assert_int(job_result_parse("status=ok\ncells=x\n", strlen("status=ok\ncells=x\n"), &p), ==,
                   -EBADMSG);
        assert_int(job_result_parse("status=ok\ncells=01\n", strlen("status=ok\ncells=01\n"), &p), ==,
                   -EBADMSG);
        assert_int(job_result_parse("status=ok\ncells=-1\n", strlen("status=ok\ncells=-1\n"), &p), ==,
                   -EBADMSG);
        assert_int(job_result_parse("status=ok\ncells=1\ncells=1\n", strlen("status=ok\ncells=1\ncells=1\n"),
                                    &p),
                   ==, -EBADMSG);
}

static void test_accepted(void) {
        /* man/pyward-protocol.7's example, header included. */
        static const char expected[] =
                "\x01\x01\x00\x00\x22\x00\x00\x00"
                "job=42\nunit=pyward-job-42.service\n";
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_free_ char *text = NULL, *big = NULL;
        size_t n;

        assert_int(job_accepted_append(&b, "42", "pyward-job-42.service"), ==, 0);
        assert_int(b.size, ==, sizeof(expected) - 1);
        assert_se(memcmp(b.data, expected, b.size) == 0);
        /* Escaped as the result's values, so no value can add a line. */
        assert_int(job_accepted_format("a\nb", "c\\", &text, &n), ==, 0);
        assert_int(n, ==, strlen("job=a\\nb\nunit=c\\\\\n"));
        assert_se(memcmp(text, "job=a\\nb\nunit=c\\\\\n", n) == 0);
        big = calloc(1, PW_ACCEPTED_MAX + 1);
        assert_se(big);
        memset(big, 'u', PW_ACCEPTED_MAX);
        assert_int(job_accepted_append(&b, "1", big), ==, -EMSGSIZE);
        assert_int(b.size, ==, sizeof(expected) - 1);
}

int main(void) {
        test_job_status();
        test_signals();
        test_result_roundtrip();
        test_result_unset();
        test_result_format_errors();
        test_result_long_message();
        test_result_message_cut();
        test_result_parse_lenient();
        test_result_parse_malformed();
        test_result_append();
        test_result_compatible();
        test_result_files();
        test_result_cells();
        test_accepted();
        return 0;
}
