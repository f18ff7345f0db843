/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for a session's bytes (pyward-protocol(7) "SESSIONS"): the same input is a
 * CELL payload (the helper's decoder, re-encoded to the same bytes), a CELL_RESULT payload (the
 * client's decoder; whatever parses encodes within the frame's bound and parses back to the same),
 * frames of a request that starts with HELLO and SESSION (the request's rules), and a runner's
 * CH_CELL_RESULT (channel_cell_result_parse(): the texts within their bounds). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool b) {
        if (!b)
                abort();
}

static bool str_eq(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool within(const char *s, size_t max) {
        return !s || strlen(s) <= max;
}

/* The CELL_RESULT texts' bounds are of their escaped form. */
static bool fits(const char *s, size_t max) {
        size_t n = 0;

        for (; s && *s; s++)
                n += *s == '\\' || *s == '\n' ? 2 : 1;
        return n <= max;
}

/* A CELL payload decodes to flags and code that encode to the same bytes. */
static void fuzz_cell_frame(const uint8_t *data, size_t size) {
        _cleanup_(buffer_done) Buffer b = {};
        const char *code;
        uint32_t flags;
        size_t n;
        int r;

        if (cell_frame_parse(data, size, &flags, &code, &n) < 0)
                return;
        check((flags & ~PW_CELL_COLLECT) == 0 && n + PW_CELL_HEADER_SIZE == size);
        check(code == (const char *) data + PW_CELL_HEADER_SIZE);
        r = cell_frame_append(&b, flags, code, n);
        if (r == -ENOMEM)
                return;
        check(r == 0 && b.size == PW_FRAME_HEADER_SIZE + size);
        check(memcmp(b.data + PW_FRAME_HEADER_SIZE, data, size) == 0);
}

/* What a CELL_RESULT says once encoded: the encoder writes the three error texts only for error
 * and interrupted, value_truncated only with a value, and cuts texts over their bounds. */
static void check_cell_result_again(const CellResult *a, const CellResult *b) {
        bool errors = a->status != CELL_OK;

        check(a->cell == b->cell && a->status == b->status);
        check(str_eq(a->value, b->value));
        check(b->value_truncated == (a->value && a->value_truncated));
        check(str_eq(errors ? a->error_type : NULL, b->error_type));
        check(str_eq(errors ? a->error_message : NULL, b->error_message));
        check(str_eq(errors ? a->traceback : NULL, b->traceback));
        check(str_eq(a->message, b->message));
        check(a->wall_ms == b->wall_ms && a->cpu_ms == b->cpu_ms);
        check(a->files_reported == b->files_reported);
        if (a->files_reported) {
                check(a->files_out == b->files_out && a->files_out_bytes == b->files_out_bytes);
                check(a->files_skipped == b->files_skipped && str_eq(a->files_note, b->files_note));
        }
}

/* The client's decoder: whatever it accepts encodes again (never over the frame's bound) and, if
 * nothing had to be cut, decodes back to the same. */
static void fuzz_cell_result(const uint8_t *data, size_t size) {
        _cleanup_(buffer_done) Buffer b = {};
        CellResult a = CELL_RESULT_INIT, c = CELL_RESULT_INIT;
        FrameHeader h;
        int r;

        r = cell_result_parse(data, size, &a);
        check(r == 0 || r == -EBADMSG || r == -ENOMEM);
        if (r < 0)
                return;
        check(a.cell > 0 && cell_status_to_string(a.status));
        r = cell_result_append(&b, &a);
        if (r == -ENOMEM) {
                cell_result_done(&a);
                return;
        }
        check(r == 0);
        check(frame_header_parse(b.data, &h) == 0 && h.type == FRAME_CELL_RESULT);
        check(h.length == b.size - PW_FRAME_HEADER_SIZE && h.length <= PW_CELL_RESULT_MAX);
        r = cell_result_parse(b.data + PW_FRAME_HEADER_SIZE, h.length, &c);
        check(r == 0 || r == -ENOMEM);
        if (r == 0 && fits(a.value, PW_CELL_VALUE_MAX) && fits(a.error_type, PW_CELL_ERROR_TYPE_MAX) &&
            fits(a.error_message, PW_CELL_ERROR_MESSAGE_MAX) && fits(a.traceback, PW_CELL_TRACEBACK_MAX) &&
            within(a.message, 2048) && within(a.files_note, 512))
                check_cell_result_again(&a, &c);
        if (r == 0) {
                /* Cut or not, every text is within its bound now. */
                check(fits(c.value, PW_CELL_VALUE_MAX) && fits(c.error_type, PW_CELL_ERROR_TYPE_MAX));
                check(fits(c.error_message, PW_CELL_ERROR_MESSAGE_MAX));
                check(fits(c.traceback, PW_CELL_TRACEBACK_MAX));
                check(!a.value || fits(a.value, PW_CELL_VALUE_MAX) || c.value_truncated);
        }
        cell_result_done(&c);
        cell_result_done(&a);
}

/* The input as frames of a request that began with HELLO and SESSION. */
static void fuzz_session_request(const uint8_t *data, size_t size) {
        _cleanup_(request_freep) Request *req = NULL;
        uint8_t hello[PW_HELLO_SIZE];
        char error[512];

        if (request_new(&req) < 0)
                return;
        hello_payload_format(hello, PW_PROTOCOL_VERSION);
        check(request_add_frame(req, FRAME_HELLO, hello, sizeof(hello), NULL, 0) == 0);
        check(request_add_frame(req, FRAME_SESSION, NULL, 0, NULL, 0) == 0);

        while (size >= PW_FRAME_HEADER_SIZE && !req->complete) {
                FrameHeader h;
                int r;

                if (frame_header_parse(data, &h) < 0)
                        return;
                data += PW_FRAME_HEADER_SIZE;
                size -= PW_FRAME_HEADER_SIZE;
                if (h.length > size)
                        return;
                error[0] = '\0';
                r = request_add_frame(req, h.type, data, h.length, error, sizeof(error));
                if (r < 0) {
                        check(error[0] != '\0' || r == -ENOMEM);
                        return;
                }
                /* Whatever was accepted, the request is a session and holds none of a job's parts. */
                check(req->session && !req->discover && !req->code && !req->filename && req->n_args == 0);
                check(req->n_files == 0 && !req->collect);
                check(h.type == FRAME_PROFILE || h.type == FRAME_LIMIT || h.type == FRAME_REQUEST_END);
                check((r == 1) == (h.type == FRAME_REQUEST_END));
                data += h.length;
                size -= h.length;
        }
        if (req->complete) {
                /* It encodes and decodes again to the same. */
                _cleanup_(buffer_done) Buffer b = {};
                _cleanup_(request_freep) Request *again = NULL;
                size_t off = 0;
                int r = 0;

                if (request_append(&b, req) < 0 || request_new(&again) < 0)
                        return;
                while (off < b.size) {
                        FrameHeader h;

                        check(frame_header_parse(b.data + off, &h) == 0);
                        off += PW_FRAME_HEADER_SIZE;
                        r = request_add_frame(again, h.type, b.data + off, h.length, NULL, 0);
                        if (r == -ENOMEM)
                                return;
                        check(r >= 0);
                        off += h.length;
                }
                check(r == 1 && again->session && !again->code);
                check(str_eq(again->profile, req->profile));
                check(memcmp(again->limit_set, req->limit_set, sizeof(req->limit_set)) == 0);
                for (int k = 1; k < _LIMIT_MAX; k++)
                        check(!req->limit_set[k] || again->limits[k] == req->limits[k]);
        }
}

/* A runner's CH_CELL_RESULT (untrusted): accepted only with ok or error, each text within its
 * bound; the helper's record built from it always encodes. */
static void fuzz_channel_cell_result(const uint8_t *data, size_t size) {
        _cleanup_(buffer_done) Buffer b = {};
        CellResult c = CELL_RESULT_INIT;
        const char *why = NULL;
        int r;

        r = channel_cell_result_parse(data, size, &c, &why);
        if (r == -ENOMEM)
                return;
        if (r < 0) {
                check(r == -EBADMSG && why);
                return;
        }
        check(c.status == CELL_OK || c.status == CELL_ERROR);
        check(within(c.value, PW_CELL_VALUE_MAX) && within(c.error_type, PW_CELL_ERROR_TYPE_MAX));
        check(within(c.error_message, PW_CELL_ERROR_MESSAGE_MAX) &&
              within(c.traceback, PW_CELL_TRACEBACK_MAX));
        c.cell = 1;
        r = cell_result_append(&b, &c);
        check(r == 0 || r == -ENOMEM);
        check(r < 0 || b.size - PW_FRAME_HEADER_SIZE <= PW_CELL_RESULT_MAX);
        cell_result_done(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_cell_frame(data, size);
        fuzz_cell_result(data, size);
        fuzz_session_request(data, size);
        fuzz_channel_cell_result(data, size);
        return 0;
}
