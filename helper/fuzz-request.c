/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the bytes a client sends: framing as the helper's reader splits it,
 * then the request state machine (files and discovery included), whose result must encode and
 * decode again to the same; the same bytes also go through the decoders of what the helper sends:
 * RESULT and PROFILE_INFO (round trips), FILE_OUT and FILE_SKIPPED. */

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
        check(str_eq(again->code, req->code)); /* NULL in a DISCOVER or SESSION request */
        check(req->code_size == 0 || memcmp(again->code, req->code, req->code_size) == 0);
        check(str_eq(again->filename, req->filename) && str_eq(again->profile, req->profile));
        for (size_t i = 0; i < req->n_args; i++)
                check(str_eq(again->argv[i], req->argv[i]));
        check(memcmp(again->limit_set, req->limit_set, sizeof(req->limit_set)) == 0);
        for (int k = 1; k < _LIMIT_MAX; k++)
                check(!req->limit_set[k] || again->limits[k] == req->limits[k]);
        check(again->n_files == req->n_files && again->files_bytes == req->files_bytes);
        for (size_t i = 0; i < req->n_files; i++) {
                const RequestFile *a = &again->files[i], *f = &req->files[i];

                check(str_eq(a->path, f->path) && a->size == f->size && a->data_size == f->data_size);
                check(a->executable == f->executable);
                check(f->size == 0 || memcmp(a->data, f->data, f->size) == 0);
        }
        check(again->collect == req->collect && again->discover == req->discover);
        check(again->session == req->session);
}

/* What a complete request holds, whatever the bytes were. */
static void check_complete(const Request *req) {
        uint64_t bytes = 0;

        check(req->complete && req->version == PW_PROTOCOL_VERSION);
        /* A DISCOVER request holds nothing but itself; a SESSION request no code, files or
         * arguments; any other has its code. */
        check(!(req->discover && req->session));
        if (req->discover)
                check(!req->code && !req->filename && req->n_args == 0 && !req->profile &&
                      req->n_files == 0 && !req->collect);
        else if (req->session)
                check(!req->code && !req->filename && req->n_args == 0 && req->n_files == 0 && !req->collect);
        else
                check(req->code && strlen(req->code) == req->code_size);
        check(req->n_args <= PW_ARGS_MAX);
        check(req->n_args == 0 || req->argv[req->n_args] == NULL);
        check(!req->filename || !strchr(req->filename, '/'));
        check(!req->profile || profile_name_is_valid(req->profile));
        check(req->n_files <= PW_FILES_COUNT_MAX && req->files_bytes <= PW_FILES_IN_BYTES_MAX);
        for (size_t i = 0; i < req->n_files; i++) {
                const RequestFile *f = &req->files[i];

                check(file_path_valid(f->path, strlen(f->path), NULL));
                check(f->data_size == f->size);
                check(!str_eq(f->path, req->filename ?: "main.py"));
                for (size_t j = 0; j < i; j++) {
                        const char *a = req->files[j].path, *b = f->path;
                        size_t na = strlen(a), nb = strlen(b);

                        /* Unique, and neither is the other's directory. */
                        check(!str_eq(a, b));
                        check(!(na < nb && strncmp(a, b, na) == 0 && b[na] == '/'));
                        check(!(nb < na && strncmp(a, b, nb) == 0 && a[nb] == '/'));
                }
                bytes += f->size;
        }
        check(bytes == req->files_bytes);
        for (int k = 1; k < _LIMIT_MAX; k++)
                check(!req->limit_set[k] || req->limits[k] > 0 || limit_key_allows_zero(k));
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
                                check_complete(req);
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

/* RESULT's files_note= is cut shorter (common/result.c). */
static bool note_short(const char *s) {
        return !s || strlen(s) <= 512;
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
            str_short(a.invocation_id) && str_short(a.memory_peak_reason) && note_short(a.files_note)) {
                check(job_result_parse(text, n, &b) == 0);
                check(a.status == b.status && a.exit_code == b.exit_code && a.signal == b.signal);
                check(a.wall_ms == b.wall_ms && a.cpu_ms == b.cpu_ms);
                check(a.memory_peak_bytes == b.memory_peak_bytes);
                check(str_eq(a.message, b.message) && str_eq(a.unit, b.unit) && str_eq(a.job, b.job));
                check(str_eq(a.invocation_id, b.invocation_id));
                check(str_eq(a.memory_peak_reason, b.memory_peak_reason));
                check(a.files_reported == b.files_reported && a.profiles_reported == b.profiles_reported);
                check(a.files_out == b.files_out && a.files_out_bytes == b.files_out_bytes);
                check(a.files_skipped == b.files_skipped && str_eq(a.files_note, b.files_note));
                check(a.profiles == b.profiles);
                check(a.cells_reported == b.cells_reported && a.cells == b.cells);
                job_result_done(&b);
        } else
                check(r == -EMSGSIZE || r == -ENOMEM || !str_short(a.message) || !str_short(a.unit) ||
                      !str_short(a.job) || !str_short(a.invocation_id) || !str_short(a.memory_peak_reason) ||
                      !note_short(a.files_note));
        job_result_done(&a);
}

static bool packages_short(const ProfileInfo *p) {
        for (size_t i = 0; i < p->n_packages; i++)
                if (!str_short(p->packages[i]))
                        return false;
        return true;
}

/* Whatever parses encodes again within the frame's bound, and parses back to the same, but for
 * packages the encoder had to count instead of listing. */
static void fuzz_profile_info(const uint8_t *data, size_t size) {
        _cleanup_(buffer_done) Buffer b = {};
        ProfileInfo a = {}, c = {};
        FrameHeader h;
        int r;

        if (profile_info_parse(data, size, &a) < 0)
                return;
        check(a.name && (a.n_packages == 0 || a.packages[a.n_packages] == NULL));
        r = profile_info_append(&b, &a);
        if (r == -ENOMEM || !str_short(a.name) || !str_short(a.interpreter) || !str_short(a.python) ||
            !str_short(a.network) || !str_short(a.note) || !packages_short(&a)) {
                profile_info_done(&a);
                return;
        }
        check(r == 0);
        check(frame_header_parse(b.data, &h) == 0 && h.type == FRAME_PROFILE_INFO);
        check(h.length == b.size - PW_FRAME_HEADER_SIZE && h.length <= PW_PROFILE_INFO_MAX);
        r = profile_info_parse(b.data + PW_FRAME_HEADER_SIZE, h.length, &c);
        if (r != -ENOMEM) {
                check(r == 0);
                check(str_eq(a.name, c.name) && str_eq(a.interpreter, c.interpreter));
                check(str_eq(a.python, c.python) && str_eq(a.network, c.network) && str_eq(a.note, c.note));
                check(memcmp(a.limit_default, c.limit_default, sizeof(a.limit_default)) == 0);
                check(memcmp(a.limit_max, c.limit_max, sizeof(a.limit_max)) == 0);
                check(c.n_packages <= a.n_packages);
                for (size_t i = 0; i < c.n_packages; i++)
                        check(str_eq(a.packages[i], c.packages[i]));
                if (a.packages_omitted <= UINT64_MAX - a.n_packages)
                        check(c.packages_omitted == a.packages_omitted + (a.n_packages - c.n_packages));
        }
        profile_info_done(&c);
        profile_info_done(&a);
}

/* The fixed parts of FILE_OUT and FILE_SKIPPED: what decodes is within its rule and encodes again
 * to the same bytes. */
static void fuzz_file_frames(const uint8_t *data, size_t size) {
        _cleanup_(buffer_done) Buffer b = {}, s = {};
        const char *path, *why = NULL;
        size_t path_size;
        uint32_t mode;
        uint64_t file_size;
        FileSkipReason reason;

        if (file_header_parse(data, size, &mode, &file_size, &path, &path_size, &why) == 0) {
                check(file_path_valid(path, path_size, NULL) && !why);
                if (file_header_append(&b, FRAME_FILE_OUT, mode, file_size, path, path_size) == 0)
                        check(b.size == PW_FRAME_HEADER_SIZE + size &&
                              memcmp(b.data + PW_FRAME_HEADER_SIZE, data, size) == 0);
        } else
                check(why != NULL);
        if (file_skipped_parse(data, size, &reason, &path, &path_size) == 0) {
                check(file_skip_reason_to_string(reason) && path_size <= PW_PATH_MAX);
                if (file_skipped_append(&s, reason, path, path_size) == 0)
                        check(s.size == PW_FRAME_HEADER_SIZE + size &&
                              memcmp(s.data + PW_FRAME_HEADER_SIZE, data, size) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_frames(data, size);
        fuzz_result(data, size);
        fuzz_profile_info(data, size);
        fuzz_file_frames(data, size);
        return 0;
}
