/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The returned files of a job (collect.h): the helper's FILE_OUT/FILE_OUT_DATA/FILE_SKIPPED
 * frames in order, bounded, each file written as its bytes arrive (never held whole unless
 * --json needs it), and the few stderr lines about them. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collect.h"
#include "json.h"

/* How many skipped files, and write failures, get a line of their own on stderr. */
#define LINES_SHOWN 5
#define FAILURES_SHOWN 10

void fputs_path(const char *p, size_t n, FILE *f) {
        const uint8_t *b = (const uint8_t *) p;

        fputc('\'', f);
        for (size_t i = 0; i < n;) {
                size_t l = utf8_valid_at(b + i, n - i);

                if (l > 1) {
                        fwrite(b + i, 1, l, f);
                        i += l;
                        continue;
                }
                if (l == 1 && b[i] >= 0x20 && b[i] != 0x7f && b[i] != '\\' && b[i] != '\'')
                        fputc(b[i], f);
                else if (b[i] == '\n')
                        fputs("\\n", f);
                else if (b[i] == '\t')
                        fputs("\\t", f);
                else if (b[i] == '\\' || b[i] == '\'')
                        fprintf(f, "\\%c", b[i]);
                else
                        fprintf(f, "\\x%02x", b[i]);
                i++;
        }
        fputc('\'', f);
}

static void report_write_failure(Collect *c, const CollectedFile *f) {
        bool at_file = f->error_where >= f->path_size;

        if (++c->n_failed > FAILURES_SHOWN)
                return;
        fputs("pyward: cannot write ", stderr);
        fputs_path(f->path, f->path_size, stderr);
        fprintf(stderr, " in %s: ", c->dir);
        if (!at_file && f->error_where > 0) {
                fputs_path(f->path, f->error_where, stderr);
                fputs(" is ", stderr);
        }
        fprintf(stderr, "%s\n", files_out_strerror(f->error, at_file));
}

static void fail_file(Collect *c, CollectedFile *f, int r, size_t where) {
        f->error = r;
        f->error_where = where;
        out_file_abandon(&c->file);
        report_write_failure(c, f);
}

static int file_complete(Collect *c) {
        c->receiving = false;
        return 0;
}

/* The last file's bytes are all there, and the frame after them did not say it is incomplete:
 * close it (a failed close() removes it and is reported). */
static void file_settle(Collect *c) {
        CollectedFile *f;
        int r;

        if (c->file.fd < 0 || c->receiving || c->n_files == 0)
                return;
        f = &c->files[c->n_files - 1];
        r = out_file_finish(&c->file);
        if (r < 0) {
                f->error = r;
                f->error_where = f->path_size;
                report_write_failure(c, f);
        }
}

/* gcc 12's analyzer loses the path stored into c->files[c->n_files] (a symbolic index into a heap
 * array) and reports it as leaked; collect_done() frees every one. */
DISABLE_WARNING_ANALYZER_LEAK
static int file_out(Collect *c, const uint8_t *p, size_t n) {
        const char *path, *why = NULL;
        CollectedFile *f;
        size_t path_size, where;
        uint64_t size;
        uint32_t mode;
        int r;

        r = file_header_parse(p, n, &mode, &size, &path, &path_size, &why);
        if (r < 0)
                return fail("protocol error: malformed FILE_OUT from the helper: %s",
                            why ? why : strerror(-r));
        if (size > PW_FILE_OUT_SIZE_MAX)
                return fail("protocol error: FILE_OUT of %" PRIu64 " bytes from the helper", size);
        file_settle(c);
        if (c->n_files >= PW_FILES_COUNT_MAX)
                return fail("protocol error: more than %u FILE_OUT frames from the helper",
                            PW_FILES_COUNT_MAX);
        if (c->n_files % 64 == 0) {
                CollectedFile *a = reallocarray(c->files, c->n_files + 64, sizeof(CollectedFile));
                if (!a)
                        return fail("out of memory");
                c->files = a;
        }
        f = &c->files[c->n_files];
        *f = (CollectedFile) {
                .path = strndup(path, path_size), .path_size = path_size, .mode = mode, .size = size
        };
        if (!f->path)
                return fail("out of memory");
        c->n_files++;
        c->receiving = true;
        c->received = 0;
        if (c->dir_fd >= 0) {
                r = files_out_create(c->dir_fd, path, path_size, mode, c->overwrite, &c->file, &where);
                if (r < 0)
                        fail_file(c, f, r, where);
        }
        return size == 0 ? file_complete(c) : 0;
}
REENABLE_WARNING

static int file_data(Collect *c, const uint8_t *p, size_t n) {
        CollectedFile *f;
        int r;

        if (!c->receiving)
                return fail("protocol error: FILE_OUT_DATA from the helper without a FILE_OUT");
        f = &c->files[c->n_files - 1];
        if (n > f->size - c->received)
                return fail("protocol error: more FILE_OUT_DATA from the helper than the %" PRIu64
                            " bytes announced",
                            f->size);
        c->received += n;
        if (c->file.fd >= 0) {
                r = out_file_write(&c->file, p, n);
                if (r < 0)
                        fail_file(c, f, r, f->path_size);
        }
        if (c->keep) {
                if (c->kept_bytes + n > COLLECT_KEEP_MAX)
                        return fail("the job's files exceed %u bytes, too much for --json (see --files-out)",
                                    COLLECT_KEEP_MAX);
                if (buffer_append(&f->data, p, n) < 0)
                        return fail("out of memory");
                c->kept_bytes += n;
        }
        return c->received == f->size ? file_complete(c) : 0;
}

/* The same for c->skipped[c->n_skipped]. */
DISABLE_WARNING_ANALYZER_LEAK
static int file_skipped(Collect *c, const uint8_t *p, size_t n) {
        FileSkipReason reason;
        const char *path;
        size_t path_size;
        CollectedSkip *s;

        /* An unknown reason too: new reasons need a new protocol version. */
        if (file_skipped_parse(p, n, &reason, &path, &path_size) < 0)
                return fail("protocol error: malformed FILE_SKIPPED from the helper");
        if (c->n_skipped >= PW_SKIPPED_LISTED_MAX)
                return fail("protocol error: more than %d FILE_SKIPPED frames from the helper",
                            PW_SKIPPED_LISTED_MAX);
        if (!c->skipped) {
                c->skipped = calloc(PW_SKIPPED_LISTED_MAX, sizeof(CollectedSkip));
                if (!c->skipped)
                        return fail("out of memory");
        }
        s = &c->skipped[c->n_skipped];
        /* A skipped path is shown, never used: a NUL in it would only cut the message short. */
        s->path = malloc(path_size + 1);
        if (!s->path)
                return fail("out of memory");
        memcpy(s->path, path, path_size);
        s->path[path_size] = '\0';
        s->path_size = path_size;
        s->reason = reason;
        c->n_skipped++;
        /* The helper names the file it just sent when the channel ended inside it: the announced
         * size was filled up with zeros. Such a file is not kept. */
        if (c->n_files > 0 && !c->receiving) {
                CollectedFile *f = &c->files[c->n_files - 1];

                if (!f->incomplete && f->path_size == path_size && memcmp(f->path, path, path_size) == 0) {
                        f->incomplete = true;
                        out_file_abandon(&c->file);
                        buffer_done(&f->data);
                }
        }
        file_settle(c);
        return 0;
}
REENABLE_WARNING

int collect_frame(Collect *c, uint16_t type, const uint8_t *p, size_t n) {
        if (type != FRAME_FILE_OUT_DATA && c->receiving)
                return fail("protocol error: %s from the helper before the last file's bytes",
                            frame_type_to_string(type));
        switch (type) {
        case FRAME_FILE_OUT:
                return file_out(c, p, n);
        case FRAME_FILE_OUT_DATA:
                return file_data(c, p, n);
        case FRAME_FILE_SKIPPED:
                return file_skipped(c, p, n);
        default:
                return -EINVAL;
        }
}

int collect_finish(Collect *c) {
        if (c->receiving)
                return fail("protocol error: RESULT from the helper before the last file's bytes");
        file_settle(c);
        return 0;
}

void collect_report(const Collect *c, const JobResult *r, bool quiet) {
        uint64_t total =
                r->files_reported && r->files_skipped > c->n_skipped ? r->files_skipped : c->n_skipped;
        size_t shown = c->n_skipped < LINES_SHOWN ? c->n_skipped : LINES_SHOWN;
        uint64_t bytes = 0;

        if (c->n_failed > FAILURES_SHOWN)
                fprintf(stderr, "pyward: %zu more file%s could not be written\n",
                        c->n_failed - FAILURES_SHOWN, c->n_failed - FAILURES_SHOWN == 1 ? "" : "s");
        if (c->n_failed > 0)
                fprintf(stderr, "pyward: %zu of %zu files could not be written in %s\n", c->n_failed,
                        c->n_files, c->dir);
        if (quiet)
                return;
        for (size_t i = 0; i < shown; i++) {
                const char *why = file_skip_reason_to_string(c->skipped[i].reason);

                fputs("pyward: left out ", stderr);
                if (c->skipped[i].path_size > 0)
                        fputs_path(c->skipped[i].path, c->skipped[i].path_size, stderr);
                else
                        fputs("a file without a usable name", stderr);
                fprintf(stderr, ": %s\n", why ? why : "unknown reason");
        }
        if (total > shown)
                fprintf(stderr, "pyward: left out %" PRIu64 " %sfile%s%s\n", total - shown,
                        shown ? "more " : "", total - shown == 1 ? "" : "s",
                        c->n_skipped > shown ? " (--json lists them)" : "");
        if (r->files_note)
                fprintf(stderr, "pyward: files: %s\n", r->files_note);
        if (c->dir_fd < 0 && c->n_files > 0) {
                for (size_t i = 0; i < c->n_files; i++)
                        bytes += c->files[i].size;
                fprintf(stderr,
                        "pyward: the job returned %zu file%s (%" PRIu64
                        " bytes), not written: see --files-out\n",
                        c->n_files, c->n_files == 1 ? "" : "s", bytes);
        }
}

void collect_done(Collect *c) {
        out_file_done(&c->file);
        for (size_t i = 0; i < c->n_files; i++) {
                free(c->files[i].path);
                buffer_done(&c->files[i].data);
        }
        free(c->files);
        for (size_t i = 0; i < c->n_skipped; i++)
                free(c->skipped[i].path);
        free(c->skipped);
        c->dir_fd = safe_close(c->dir_fd);
        *c = COLLECT_NULL;
}
