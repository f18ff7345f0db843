/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's frames after REQUEST_END (frame_after_request() says which): the next cell's input
 * files, collected under the per-cell files-in bounds, CELL, INTERRUPT, SESSION_END, CANCEL; and
 * each cell's result, as a CELL_RESULT frame and a journal record. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "connection-internal.h"
#include "job.h"
#include "journal.h"
#include "log.h"

void cell_input_done(CellInput *in) {
        for (size_t i = 0; i < in->n_files; i++) {
                free(in->files[i].path);
                free(in->files[i].data);
        }
        free(in->files);
        free(in->over);
        *in = (CellInput) {};
}

/* The bound a file breaks, in the words of admission's messages, or NULL. */
static char *cell_input_over(const Connection *c, const CellInput *in) {
        static const LimitKey keys[] = { LIMIT_FILES_IN, LIMIT_FILES_IN_BYTES };
        char *m = NULL;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                LimitKey k = keys[i];
                uint64_t v = k == LIMIT_FILES_IN ? in->n_sent : in->bytes_sent;
                char value[FORMAT_VALUE_MAX], max[FORMAT_VALUE_MAX];

                if (v <= c->limits[k])
                        continue;
                config_format_limit(k, v, value, sizeof(value));
                config_format_limit(k, c->limits[k], max, sizeof(max));
                if (asprintf(&m, "the cell's input files: %s=%s exceeds the limit %s of the session",
                             limit_key_to_string(k), value, max) < 0)
                        return NULL;
                return m;
        }
        return NULL;
}

static void session_file(Connection *c, const void *payload, size_t size) {
        CellInput *in = &c->cell_in;
        char shown[PW_PATH_SHOWN_MAX];
        const char *path, *why;
        size_t path_size;
        uint32_t flags;
        uint64_t file_size;
        RequestFile f = {};

        if (in->data_left > 0) {
                connection_protocol_error(c,
                                          "protocol error in the session: a FILE frame before the last "
                                          "file's %" PRIu64 " bytes of FILE_DATA",
                                          in->data_left);
                return;
        }
        if (file_header_parse(payload, size, &flags, &file_size, &path, &path_size, &why) < 0) {
                connection_protocol_error(c, "protocol error in the session: an input file: %s", why);
                return;
        }
        file_path_escape(path, path_size, shown, sizeof(shown));
        if (flags & ~PW_FILE_EXECUTABLE) {
                connection_protocol_error(c,
                                          "protocol error in the session: input file '%s': unknown flags "
                                          "0x%" PRIx32,
                                          shown, flags);
                return;
        }
        /* Counted whether kept or not; the data of a file over a bound is read and dropped, so
         * memory stays within the admitted files-in-bytes. */
        in->n_sent++;
        in->bytes_sent = file_size > UINT64_MAX - in->bytes_sent ? UINT64_MAX : in->bytes_sent + file_size;
        in->data_left = file_size;
        in->discarding = true;
        if (!in->over)
                in->over = cell_input_over(c, in);
        if (in->over)
                return;
        if (in->n_files == in->n_allocated) {
                size_t n = in->n_allocated < 4 ? 4 : 2 * in->n_allocated;
                RequestFile *l = realloc(in->files, n * sizeof(RequestFile));

                if (!l)
                        goto oom;
                in->files = l;
                in->n_allocated = n;
        }
        f.path = strndup(path, path_size);
        f.data = file_size > 0 ? malloc(file_size) : NULL; /* bounded: within files-in-bytes */
        if (!f.path || (file_size > 0 && !f.data)) {
                free(f.path);
                free(f.data);
                goto oom;
        }
        f.size = file_size;
        f.executable = flags & PW_FILE_EXECUTABLE;
        in->files[in->n_files++] = f;
        in->discarding = false;
        return;
oom:
        log_oom();
        connection_protocol_error(c, "the helper ran out of memory for the cell's input files");
}

static void session_file_data(Connection *c, const void *payload, size_t size) {
        CellInput *in = &c->cell_in;
        RequestFile *f;

        if (size > in->data_left) {
                connection_protocol_error(c,
                                          "protocol error in the session: a FILE_DATA frame of %zu bytes "
                                          "beyond its file (%" PRIu64 " bytes to come)",
                                          size, in->data_left);
                return;
        }
        in->data_left -= size;
        if (in->discarding)
                return;
        f = &in->files[in->n_files - 1];
        memcpy(f->data + f->data_size, payload, size);
        f->data_size += size;
}

static void session_cell(Connection *c, const void *payload, size_t size) {
        _cleanup_(cell_input_done) CellInput in = c->cell_in;
        const char *code;
        size_t code_size;
        uint32_t flags;
        char *m = NULL;
        int r;

        c->cell_in = (CellInput) {};
        if (in.data_left > 0) {
                connection_protocol_error(c,
                                          "protocol error in the session: a CELL frame before the last "
                                          "file's %" PRIu64 " bytes of FILE_DATA",
                                          in.data_left);
                return;
        }
        if (run_cell_running(c->run)) {
                connection_protocol_error(c, "protocol error in the session: a CELL frame while a cell runs");
                return;
        }
        if (cell_frame_parse(payload, size, &flags, &code, &code_size) < 0) {
                connection_protocol_error(c,
                                          "protocol error in the session: an invalid CELL frame (unknown "
                                          "flags, or shorter than its header)");
                return;
        }
        if (in.over)
                r = run_cell_refuse(c->run, "pyward.FilesInLimit", in.over);
        else if (code_size > c->profile->code_max) {
                if (asprintf(&m,
                             "code of %zu bytes exceeds the maximum of %" PRIu64 " bytes of profile \"%s\"",
                             code_size, c->profile->code_max, c->profile->name) < 0)
                        m = NULL;
                r = run_cell_refuse(c->run, "pyward.CodeLimit", m ?: "the cell's code is too large");
                free(m);
        } else
                r = run_cell(c->run, in.files, in.n_files, flags, code, code_size);
        if (r == -ESHUTDOWN)
                log_info("Session %s is ending; a CELL frame is ignored.", c->job_id);
        else if (r < 0)
                connection_protocol_error(c, "the session could not run the cell: %s", strerror(-r));
}

void connection_handle_session_frame(Connection *c, const FrameHeader *h, const void *payload) {
        FrameAction a = frame_after_request(h->type, true, false);

        /* After a protocol error, CANCEL or the client's end nothing it sends matters. */
        if (c->stop_asked && a != FRAME_ACTION_VIOLATION)
                return;
        switch (a) {
        case FRAME_ACTION_FILE:
                session_file(c, payload, h->length);
                break;
        case FRAME_ACTION_FILE_DATA:
                session_file_data(c, payload, h->length);
                break;
        case FRAME_ACTION_CELL:
                session_cell(c, payload, h->length);
                break;
        case FRAME_ACTION_INTERRUPT:
                run_interrupt(c->run);
                break;
        case FRAME_ACTION_SESSION_END:
                log_info("Client ends session %s.", c->job_id);
                run_end_session(c->run);
                break;
        case FRAME_ACTION_CANCEL:
                log_info("Client cancelled session %s.", c->job_id);
                c->stop_asked = true;
                run_stop(c->run, JOB_STOP_CANCEL);
                break;
        case FRAME_ACTION_STDIN:
        case FRAME_ACTION_STDIN_EOF:
        case FRAME_ACTION_LATE_STDIN:
        case FRAME_ACTION_VIOLATION:
                if (frame_type_to_string(h->type))
                        connection_protocol_error(c,
                                                  "protocol error after REQUEST_END: a %s frame in a session",
                                                  frame_type_to_string(h->type));
                else
                        connection_protocol_error(c,
                                                  "protocol error after REQUEST_END: unknown frame type "
                                                  "0x%04x",
                                                  (unsigned) h->type);
                break;
        }
}

void connection_run_cell_result(void *userdata, const CellResult *result) {
        Connection *c = userdata;
        _cleanup_(buffer_done) Buffer b = {};
        char unit[sizeof(JOB_UNIT_FMT) + sizeof(c->job_id)];

        (void) snprintf(unit, sizeof(unit), JOB_UNIT_FMT, c->job_id);
        journal_cell(c->job_id, c->peer.uid, unit, result);
        if (cell_result_append(&b, result) < 0 || b.size < PW_FRAME_HEADER_SIZE) {
                log_oom();
                return;
        }
        (void) out_append(c, FRAME_CELL_RESULT, b.data + PW_FRAME_HEADER_SIZE, b.size - PW_FRAME_HEADER_SIZE);
}
