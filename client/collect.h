/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward --collect / --files-out: the files a job returned (FILE_OUT, FILE_OUT_DATA and
 * FILE_SKIPPED from the helper), checked frame by frame, written under DIR as they arrive
 * (files-out.c) or kept for --json, and what is said about them on stderr. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "files-out.h"
#include "protocol.h"

/* --json without --files-out keeps the files' bytes in memory; refuse more than this. */
#define COLLECT_KEEP_MAX (256U * 1024U * 1024U)

typedef struct CollectedFile {
        char *path; /* NUL-terminated copy; no NUL inside (file_path_valid()) */
        size_t path_size;
        uint32_t mode;
        uint64_t size;
        Buffer data;        /* its bytes, when kept */
        int error;          /* 0, or why it could not be written (negative errno) */
        size_t error_where; /* files_out_create()'s *ret_where */
        bool incomplete;    /* a FILE_SKIPPED named it right after its bytes: they are not all
                             * the job's (pyward-protocol(7)); removed from --files-out DIR */
} CollectedFile;

typedef struct CollectedSkip {
        char *path; /* may be empty: a name the runner could not give */
        size_t path_size;
        FileSkipReason reason;
} CollectedSkip;

typedef struct Collect {
        int dir_fd;      /* --files-out DIR, or -EBADF: nothing is written */
        const char *dir; /* its name, for messages */
        bool overwrite;
        bool keep; /* keep the bytes (for --json's content_base64) */
        CollectedFile *files;
        size_t n_files;
        CollectedSkip *skipped;
        size_t n_skipped;
        bool receiving;    /* the last FILE_OUT's bytes are still due */
        uint64_t received; /* of them */
        OutFile file;      /* where they go, when writing; kept open after the last byte until
                            * the next frame says whether the file is complete */
        uint64_t kept_bytes;
        size_t n_failed; /* files that could not be written */
} Collect;

#define COLLECT_NULL ((Collect) { .dir_fd = -EBADF, .file = OUT_FILE_NULL })

/* One FILE_OUT, FILE_OUT_DATA or FILE_SKIPPED frame. A frame out of order or malformed is a
 * protocol error (reported, negative); a file that cannot be written is reported and counted
 * (n_failed), and the job's other files still are. */
int collect_frame(Collect *c, uint16_t type, const uint8_t *p, size_t n);
/* At RESULT: no file may be left half sent. */
int collect_finish(Collect *c);
/* The stderr lines of the non-JSON mode: what was left out (a few, then a count), the note, and
 * returned files that nothing wrote. quiet: only the write failures' count. */
void collect_report(const Collect *c, const JobResult *r, bool quiet);
void collect_done(Collect *c);

/* A path for a message, quoted: bytes that are not printable UTF-8 escaped (\n, \xff). */
void fputs_path(const char *p, size_t n, FILE *f);
