/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's frames after REQUEST_END (frame_after_request() says which): the next cell's input
 * files, collected under the per-cell files-in bounds, CELL, INTERRUPT, SESSION_END, CANCEL; and
 * each cell's result, as a CELL_RESULT frame and a journal record. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connection-internal.h"
#include "job.h"
#include "journal.h"
#include "log.h"

/* FILE, FILE_DATA: cell-input.c decides; what it refuses is a protocol error. */
static void session_file_frame(Connection *c, uint16_t type, const void *payload, size_t size) {
        char error[256] = "";
        int r;

        r = type == FRAME_FILE ? cell_input_file(&c->cell_in, payload, size, error, sizeof(error))
                               : cell_input_data(&c->cell_in, payload, size, error, sizeof(error));
        if (r == -ENOMEM) {
                log_oom();
                connection_protocol_error(c, "the helper ran out of memory for the cell's input files");
        } else if (r < 0)
                connection_protocol_error(c, "protocol error in the session: %s", error);
}

static void session_cell(Connection *c, const void *payload, size_t size) {
        _cleanup_(cell_input_done) CellInput in = c->cell_in;
        const char *code;
        size_t code_size;
        uint32_t flags;
        char *m = NULL, error[256] = "";
        int r;

        /* The files sent so far are this cell's; the next cell's start again. */
        cell_input_init(&c->cell_in, in.files_max, in.bytes_max);
        if (cell_input_check_complete(&in, error, sizeof(error)) < 0) {
                connection_protocol_error(c, "protocol error in the session: %s", error);
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
        else if (r == -EAGAIN)
                connection_protocol_error(c, "protocol error in the session: a CELL frame before ACCEPTED");
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
        case FRAME_ACTION_FILE_DATA:
                session_file_frame(c, h->type, payload, h->length);
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
