/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's input files for its next cell, collected from the client's FILE and FILE_DATA
 * frames after REQUEST_END under the admitted per-cell files-in and files-in-bytes: a pure
 * decoder (no I/O), unit-tested in test-cell-input.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

typedef struct CellInput {
        uint64_t files_max, bytes_max; /* the admitted files-in, files-in-bytes */
        RequestFile *files;
        size_t n_files, n_allocated;
        uint64_t n_sent, bytes_sent; /* all that was announced, kept or not */
        uint64_t data_left;          /* FILE_DATA bytes the last FILE still announces */
        bool discarding;             /* the last file is over a bound: its bytes are dropped */
        char *over;                  /* the bound broken, for the cell's CELL_RESULT; NULL: none */
} CellInput;

/* An empty collection under these bounds. */
void cell_input_init(CellInput *in, uint64_t files_max, uint64_t bytes_max);
void cell_input_done(CellInput *in); /* frees, and leaves an empty one with the same bounds */

/* A FILE frame, a FILE_DATA frame. Over a bound the file is counted, its bytes read and dropped,
 * and over says which bound (memory stays within files-in-bytes). A frame out of order or
 * malformed is the client's protocol error: -EBADMSG with the reason in error. -ENOMEM. */
int cell_input_file(CellInput *in, const void *payload, size_t size, char *error, size_t error_size);
int cell_input_data(CellInput *in, const void *payload, size_t size, char *error, size_t error_size);
/* Before the CELL: every announced byte must have come. 0, or -EBADMSG with the reason. */
int cell_input_check_complete(const CellInput *in, char *error, size_t error_size);
