/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The next cell's input files as they arrive: FILE (path rule and flags as a request's), its
 * FILE_DATA, bounded by the admitted per-cell files-in and files-in-bytes; what goes over them is
 * counted and dropped, and the cell is then answered without running (connection-session.c). */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell-input.h"
#include "config.h"

static int fail(char *error, size_t error_size, const char *fmt, ...) _printf_(3, 4);
static int fail(char *error, size_t error_size, const char *fmt, ...) {
        va_list ap;

        if (error && error_size > 0) {
                va_start(ap, fmt);
                (void) vsnprintf(error, error_size, fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

void cell_input_init(CellInput *in, uint64_t files_max, uint64_t bytes_max) {
        *in = (CellInput) { .files_max = files_max, .bytes_max = bytes_max };
}

void cell_input_done(CellInput *in) {
        for (size_t i = 0; i < in->n_files; i++) {
                free(in->files[i].path);
                free(in->files[i].data);
        }
        free(in->files);
        free(in->over);
        cell_input_init(in, in->files_max, in->bytes_max);
}

/* The bound the files sent so far break, in the words of admission's messages, or NULL. */
static int check_bounds(CellInput *in) {
        const LimitKey keys[] = { LIMIT_FILES_IN, LIMIT_FILES_IN_BYTES };
        const uint64_t values[] = { in->n_sent, in->bytes_sent }, maxima[] = { in->files_max, in->bytes_max };

        for (size_t i = 0; i < ELEMENTSOF(keys) && !in->over; i++) {
                char value[FORMAT_VALUE_MAX], max[FORMAT_VALUE_MAX];

                if (values[i] <= maxima[i])
                        continue;
                config_format_limit(keys[i], values[i], value, sizeof(value));
                config_format_limit(keys[i], maxima[i], max, sizeof(max));
                if (asprintf(&in->over, "the cell's input files: %s=%s exceeds the limit %s of the session",
                             limit_key_to_string(keys[i]), value, max) < 0) {
                        in->over = NULL;
                        return -ENOMEM;
                }
        }
        return 0;
}

int cell_input_file(CellInput *in, const void *payload, size_t size, char *error, size_t error_size) {
        char shown[PW_PATH_SHOWN_MAX];
        const char *path, *why;
        size_t path_size;
        uint32_t flags;
        uint64_t file_size;
        RequestFile f = {};

        if (in->data_left > 0)
                return fail(error, error_size,
                            "a FILE frame before the last file's %" PRIu64 " bytes of FILE_DATA",
                            in->data_left);
        if (file_header_parse(payload, size, &flags, &file_size, &path, &path_size, &why) < 0)
                return fail(error, error_size, "an input file: %s", why);
        file_path_escape(path, path_size, shown, sizeof(shown));
        if (flags & ~PW_FILE_EXECUTABLE)
                return fail(error, error_size, "input file '%s': unknown flags 0x%" PRIx32, shown, flags);
        in->n_sent++;
        in->bytes_sent = file_size > UINT64_MAX - in->bytes_sent ? UINT64_MAX : in->bytes_sent + file_size;
        in->data_left = file_size;
        in->discarding = true;
        if (check_bounds(in) < 0)
                return -ENOMEM;
        if (in->over)
                return 0;
        if (in->n_files == in->n_allocated) {
                size_t n = in->n_allocated < 4 ? 4 : 2 * in->n_allocated;
                RequestFile *l = realloc(in->files, n * sizeof(RequestFile));

                if (!l)
                        return -ENOMEM;
                in->files = l;
                in->n_allocated = n;
        }
        f.path = strndup(path, path_size);
        f.data = file_size > 0 ? malloc(file_size) : NULL; /* bounded: within files-in-bytes */
        if (!f.path || (file_size > 0 && !f.data)) {
                free(f.path);
                free(f.data);
                return -ENOMEM;
        }
        f.size = file_size;
        f.executable = flags & PW_FILE_EXECUTABLE;
        in->files[in->n_files++] = f;
        in->discarding = false;
        return 0;
}

int cell_input_data(CellInput *in, const void *payload, size_t size, char *error, size_t error_size) {
        RequestFile *f;

        if (in->data_left == 0)
                return fail(error, error_size, "a FILE_DATA frame without a FILE before it");
        if (size > in->data_left)
                return fail(error, error_size,
                            "a FILE_DATA frame of %zu bytes beyond its file (%" PRIu64 " bytes to come)",
                            size, in->data_left);
        in->data_left -= size;
        if (in->discarding)
                return 0;
        f = &in->files[in->n_files - 1];
        memcpy(f->data + f->data_size, payload, size);
        f->data_size += size;
        return 0;
}

int cell_input_check_complete(const CellInput *in, char *error, size_t error_size) {
        if (in->data_left > 0)
                return fail(error, error_size,
                            "a CELL frame before the last file's %" PRIu64 " bytes of FILE_DATA",
                            in->data_left);
        return 0;
}
