/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the bytes a client sends: framing as the helper's reader splits it,
 * then the request state machine, whose result must encode and decode again to the same; the same
 * bytes also go through the RESULT parser (round trip). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool b) {
        if (!b)
                abort();
}

static bool str_eq(const char *a, const char *b);

/* A request the decoder accepted goes through the encoder and the decoder again unchanged. */
static void check_reencode(const Request *req) {
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_(request_freep) Request *again = NULL;
        size_t off = 0;
        int r = 0;

        if (request_append(&b, req) < 0 || request_new(&again) < 0)
                return; /* out of memory */
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
        check(r == 1 && again->code_size == req->code_size && again->n_args == req->n_args);
        check(memcmp(again->code, req->code, req->code_size) == 0);
        check(str_eq(again->filename, req->filename) && str_eq(again->profile, req->profile));
        for (size_t i = 0; i < req->n_args; i++)
                check(str_eq(again->argv[i], req->argv[i]));
        check(memcmp(again->limit_set, req->limit_set, sizeof(req->limit_set)) == 0);
        for (int k = 1; k < _LIMIT_MAX; k++)
                check(!req->limit_set[k] || again->limits[k] == req->limits[k]);
}

static void fuzz_frames(const uint8_t *data, size_t size) {
        _cleanup_(request_freep) Request *req = NULL;
        char error[256];
        bool complete = false;

        if (request_new(&req) < 0)
                return;
        while (size >= PW_FRAME_HEADER_SIZE) {
                FrameHeader h;
                int r;

                if (frame_header_parse(data, &h) < 0)
                        return;
                data += PW_FRAME_HEADER_SIZE;
                size -= PW_FRAME_HEADER_SIZE;
                if (h.length > size)
                        return; /* the reader would wait for more, then time out */

                if (complete) {
                        /* After the request only stdin and cancel frames may come. */
                        if (h.type != FRAME_STDIN && h.type != FRAME_STDIN_EOF && h.type != FRAME_CANCEL)
                                return;
                } else {
                        error[0] = '\0';
                        r = request_add_frame(req, h.type, data, h.length, error, sizeof(error));
                        if (r < 0) {
                                /* Every refusal must say why. */
                                check(error[0] != '\0' || r == -ENOMEM);
                                return;
                        }
                        if (r > 0) {
                                complete = true;
                                check(req->complete && req->code && req->version == PW_PROTOCOL_VERSION);
                                check(req->n_args <= PW_ARGS_MAX);
                                check(req->n_args == 0 || req->argv[req->n_args] == NULL);
                                check(strlen(req->code) == req->code_size);
                                check(!req->filename || !strchr(req->filename, '/'));
                                check(!req->profile || profile_name_is_valid(req->profile));
                                check_reencode(req);
                        }
                }
                data += h.length;
                size -= h.length;
        }
}

static bool str_eq(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool str_short(const char *s) {
        return !s || strlen(s) <= 2048;
}

static void fuzz_result(const uint8_t *data, size_t size) {
        JobResult a = {}, b = {};
        _cleanup_free_ char *text = NULL;
        size_t n;
        int r;

        if (job_result_parse(data, size, &a) < 0)
                return;
        r = job_result_format(&a, &text, &n);
        /* Whatever parses must format again, and (if nothing was cut) parse back to the same. */
        if (r >= 0 && str_short(a.message) && str_short(a.unit) && str_short(a.job) &&
            str_short(a.invocation_id) && str_short(a.memory_peak_reason)) {
                check(job_result_parse(text, n, &b) == 0);
                check(a.status == b.status && a.exit_code == b.exit_code && a.signal == b.signal);
                check(a.wall_ms == b.wall_ms && a.cpu_ms == b.cpu_ms);
                check(a.memory_peak_bytes == b.memory_peak_bytes);
                check(str_eq(a.message, b.message) && str_eq(a.unit, b.unit) && str_eq(a.job, b.job));
                check(str_eq(a.invocation_id, b.invocation_id));
                check(str_eq(a.memory_peak_reason, b.memory_peak_reason));
                job_result_done(&b);
        } else
                check(r == -EMSGSIZE || r == -ENOMEM || !str_short(a.message) || !str_short(a.unit) ||
                      !str_short(a.job) || !str_short(a.invocation_id) || !str_short(a.memory_peak_reason));
        job_result_done(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_frames(data, size);
        fuzz_result(data, size);
        return 0;
}
