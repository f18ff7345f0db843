/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for what a client parses of the helper's answer (pyward(1)'s side of the
 * wire): a stream of frames split by frame_header_parse(); FILE_OUT, FILE_OUT_DATA and
 * FILE_SKIPPED go through client/collect.c (keeping the bytes, as --json does, writing nothing),
 * PROFILE_INFO through profile_info_parse(), RESULT through job_result_parse(). What they accept
 * stays within the protocol's bounds, and what is parsed encodes and parses back the same. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../client/collect.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool b) {
        if (!b)
                abort();
}

static void check_profile(const void *payload, size_t n) {
        _cleanup_(buffer_done) Buffer b = {};
        ProfileInfo p = {}, again = {};
        FrameHeader h;

        if (profile_info_parse(payload, n, &p) < 0)
                return;
        check(p.n_packages == 0 || p.packages[p.n_packages] == NULL);
        if (profile_info_append(&b, &p) >= 0) {
                check(b.size >= PW_FRAME_HEADER_SIZE && frame_header_parse(b.data, &h) >= 0);
                check(h.type == FRAME_PROFILE_INFO && h.length == b.size - PW_FRAME_HEADER_SIZE);
                check(profile_info_parse(b.data + PW_FRAME_HEADER_SIZE, h.length, &again) >= 0);
                check(again.n_packages + again.packages_omitted == p.n_packages + p.packages_omitted);
                profile_info_done(&again);
        }
        profile_info_done(&p);
}

static void check_result(const void *payload, size_t n) {
        _cleanup_free_ char *text = NULL;
        JobResult r = {}, again = {};
        size_t text_size;

        if (job_result_parse(payload, n, &r) < 0)
                return;
        check(r.status >= 0 && r.status < _JOB_STATUS_MAX);
        if (job_result_format(&r, &text, &text_size) >= 0) {
                check(text_size <= PW_RESULT_MAX);
                check(job_result_parse(text, text_size, &again) >= 0);
                check(again.status == r.status && again.exit_code == r.exit_code);
                check(again.files_reported == r.files_reported && again.files_out == r.files_out);
                job_result_done(&again);
        }
        job_result_done(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Collect c = COLLECT_NULL;
        FILE *saved = stderr;
        bool broken = false;

        /* collect.c reports protocol errors and skipped files on stderr: keep libFuzzer's clean. */
        stderr = fopen("/dev/null", "w");
        if (!stderr)
                stderr = saved;
        c.keep = true;
        while (size >= PW_FRAME_HEADER_SIZE) {
                FrameHeader h;

                if (frame_header_parse(data, &h) < 0 || h.length > size - PW_FRAME_HEADER_SIZE)
                        break;
                const uint8_t *p = data + PW_FRAME_HEADER_SIZE;

                switch (h.type) {
                case FRAME_FILE_OUT:
                case FRAME_FILE_OUT_DATA:
                case FRAME_FILE_SKIPPED:
                        if (!broken && collect_frame(&c, h.type, p, h.length) < 0)
                                broken = true; /* the CLI stops at the first protocol error */
                        break;
                case FRAME_PROFILE_INFO:
                        check_profile(p, h.length);
                        break;
                case FRAME_RESULT:
                        check_result(p, h.length);
                        if (!broken)
                                (void) collect_finish(&c);
                        break;
                default:
                        break;
                }
                data += PW_FRAME_HEADER_SIZE + h.length;
                size -= PW_FRAME_HEADER_SIZE + h.length;
        }
        check(c.n_files <= PW_FILES_COUNT_MAX && c.n_skipped <= PW_SKIPPED_LISTED_MAX);
        check(c.kept_bytes <= COLLECT_KEEP_MAX);
        for (size_t i = 0; i < c.n_files; i++) {
                const char *why;

                check(file_path_valid(c.files[i].path, c.files[i].path_size, &why));
                check(c.files[i].incomplete || c.files[i].data.size <= c.files[i].size);
        }
        collect_done(&c);
        if (stderr != saved) {
                fclose(stderr);
                stderr = saved;
        }
        return 0;
}
