/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyward wire protocol v1, the request: its decoder (a state machine fed frame by frame, the
 * one place for the request's rules), its encoder, and the preamble the job's bootstrap reads. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "protocol.h"

static const char *const limit_key_table[_LIMIT_MAX] = {
        [LIMIT_MEMORY] = "memory",
        [LIMIT_TASKS] = "tasks",
        [LIMIT_CPU_QUOTA] = "cpu-quota",
        [LIMIT_CPU_TIME] = "cpu-time",
        [LIMIT_WALL_TIME] = "wall-time",
        [LIMIT_OUTPUT] = "output",
        [LIMIT_DISK] = "disk",
        [LIMIT_FILES_IN] = "files-in",
        [LIMIT_FILES_IN_BYTES] = "files-in-bytes",
        [LIMIT_FILES_OUT] = "files-out",
        [LIMIT_FILES_OUT_BYTES] = "files-out-bytes",
        [LIMIT_FILE_OUT_SIZE] = "file-out-size",
        [LIMIT_FILES_OUT_DEPTH] = "files-out-depth",
        [LIMIT_FILES_OUT_TIME] = "files-out-time",
        [LIMIT_SESSION_WALL_TIME] = "session-wall-time",
        [LIMIT_SESSION_CPU_TIME] = "session-cpu-time",
        [LIMIT_SESSION_IDLE_TIME] = "session-idle-time",
        [LIMIT_SESSION_CELLS] = "session-cells",
        [LIMIT_CELL_GRACE] = "cell-grace",
};

const char *limit_key_to_string(LimitKey k) {
        if ((int) k <= 0 || k >= _LIMIT_MAX)
                return NULL;
        return limit_key_table[k];
}

LimitKey limit_key_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (int k = 1; k < _LIMIT_MAX; k++)
                if (streq(limit_key_table[k], s))
                        return k;
        return -EINVAL;
}

bool limit_key_allows_zero(LimitKey k) {
        return k >= LIMIT_FILES_IN && k <= LIMIT_FILES_OUT_DEPTH;
}

int request_new(Request **ret) {
        Request *r = calloc(1, sizeof(Request));

        if (!r)
                return -ENOMEM;
        *ret = r;
        return 0;
}

Request *request_free(Request *r) {
        if (!r)
                return NULL;
        free(r->code);
        free(r->filename);
        strv_free(r->argv);
        free(r->profile);
        for (size_t i = 0; i < r->n_files; i++) {
                free(r->files[i].path);
                free(r->files[i].data);
        }
        free(r->files);
        free(r);
        return NULL;
}

_printf_(4, 5) static int request_error(int error, char *buf, size_t size, const char *format, ...) {
        va_list ap;

        if (buf && size > 0) {
                va_start(ap, format);
                (void) vsnprintf(buf, size, format, ap);
                va_end(ap);
        }
        return error;
}

#define ERR(e, ...) request_error((e), error_buf, error_buf_size, __VA_ARGS__)

static bool filename_valid(const char *p, size_t n) {
        if (n == 0 || n > PW_FILENAME_MAX)
                return false;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];
                if (c == '/' || c < 0x20 || c == 0x7f)
                        return false;
        }
        return true;
}

/* By length, because a PROFILE payload may hold a NUL byte, which the character set refuses. */
bool profile_name_valid(const char *p, size_t n) {
        if (n == 0 || n > PW_PROFILE_NAME_MAX)
                return false;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '-'))
                        return false;
        }
        return true;
}

bool profile_name_is_valid(const char *name) {
        return name && profile_name_valid(name, strlen(name));
}

static int request_add_hello(Request *r, const void *payload, char *error_buf, size_t error_buf_size) {
        uint32_t v = le32_load(payload);

        if (r->version != 0)
                return ERR(-EBADMSG, "duplicate HELLO frame");
        if (v != PW_PROTOCOL_VERSION)
                return ERR(-EPROTONOSUPPORT,
                           "unsupported protocol version %" PRIu32 ", this helper speaks %d", v,
                           PW_PROTOCOL_VERSION);
        r->version = v;
        return 0;
}

static int request_add_arg(Request *r, const void *payload, size_t length, char *error_buf,
                           size_t error_buf_size) {
        _cleanup_free_ char *a = NULL;
        char **l;

        if (r->n_args >= PW_ARGS_MAX)
                return ERR(-E2BIG, "ARG #%zu exceeds the maximum of %d arguments", r->n_args + 1,
                           PW_ARGS_MAX);
        if (memchr(payload, '\0', length))
                return ERR(-EINVAL, "ARG #%zu contains a NUL byte", r->n_args + 1);
        a = memdup_str(payload, length);
        if (!a)
                return -ENOMEM;
        l = realloc(r->argv, sizeof(char *) * (r->n_args + 2));
        if (!l)
                return -ENOMEM;
        r->argv = l;
        r->argv[r->n_args++] = TAKE_PTR(a);
        r->argv[r->n_args] = NULL;
        return 0;
}

static int request_add_limit(Request *r, const void *payload, char *error_buf, size_t error_buf_size) {
        uint32_t k = le32_load(payload);
        uint64_t v = le64_load((const uint8_t *) payload + 4);
        const char *key = limit_key_to_string((LimitKey) k);

        if (!key)
                return ERR(-EINVAL, "unknown LIMIT key %" PRIu32, k);
        if (r->limit_set[k])
                return ERR(-EBADMSG, "duplicate LIMIT %s", key);
        if (v == 0 && !limit_key_allows_zero(k))
                return ERR(-EINVAL, "LIMIT %s must be greater than 0", key);
        r->limits[k] = v;
        r->limit_set[k] = true;
        return 0;
}

/* ---- input files ------------------------------------------------------------------------- */

/* The file the last FILE announced while FILE_DATA for it is still due, or NULL. */
static RequestFile *request_pending_file(const Request *r) {
        RequestFile *f = r->n_files > 0 ? &r->files[r->n_files - 1] : NULL;

        return f && f->data_size < f->size ? f : NULL;
}

/* Room for one more file: the array doubles from 4, so its size follows from n_files alone. */
static int request_files_grow(Request *r) {
        size_t n = r->n_files;
        RequestFile *l;

        if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
                return 0;
        l = realloc(r->files, sizeof(RequestFile) * (n < 4 ? 4 : 2 * n));
        if (!l)
                return -ENOMEM;
        r->files = l;
        return 0;
}

/* gcc 12's analyzer loses f.data once f is copied into the array r->files points to and reports
 * it as leaked: a false positive, request_free() frees every file's data. */
DISABLE_WARNING_ANALYZER_LEAK
static int request_add_file(Request *r, const void *payload, size_t length, char *error_buf,
                            size_t error_buf_size) {
        char shown[PW_PATH_SHOWN_MAX];
        const char *path, *why;
        size_t path_size;
        uint32_t flags;
        uint64_t size;
        RequestFile f = {};

        if (file_header_parse(payload, length, &flags, &size, &path, &path_size, &why) < 0) {
                /* The frame's bounds guarantee a header (the path may be empty). */
                file_path_escape((const char *) payload + PW_FILE_HEADER_SIZE, length - PW_FILE_HEADER_SIZE,
                                 shown, sizeof(shown));
                return ERR(-EINVAL, "input file '%s': %s", shown, why);
        }
        file_path_escape(path, path_size, shown, sizeof(shown));
        if (flags & ~PW_FILE_EXECUTABLE)
                return ERR(-EINVAL, "input file '%s': unknown flags 0x%" PRIx32, shown, flags);
        if (r->n_files >= PW_FILES_COUNT_MAX)
                return ERR(-E2BIG, "input file '%s': more than %u input files", shown, PW_FILES_COUNT_MAX);
        if (size > PW_FILES_IN_BYTES_MAX - r->files_bytes)
                return ERR(-E2BIG,
                           "input file '%s' of %" PRIu64
                           " bytes: the input files exceed the maximum of "
                           "%u bytes",
                           shown, size, PW_FILES_IN_BYTES_MAX);

        /* Bounded: size is within the cap just checked. */
        f.path = memdup_str(path, path_size);
        f.data = size > 0 ? malloc(size) : NULL;
        if (!f.path || (size > 0 && !f.data) || request_files_grow(r) < 0) {
                free(f.path);
                free(f.data);
                return -ENOMEM;
        }
        f.size = size;
        f.executable = flags & PW_FILE_EXECUTABLE;
        r->files[r->n_files++] = f;
        r->files_bytes += size;
        return 0;
}
REENABLE_WARNING

static int request_add_file_data(Request *r, const void *payload, size_t length, char *error_buf,
                                 size_t error_buf_size) {
        RequestFile *f = request_pending_file(r);
        char shown[PW_PATH_SHOWN_MAX];

        if (!f && r->n_files == 0)
                return ERR(-EBADMSG, "FILE_DATA frame without a FILE before it");
        if (!f) {
                f = &r->files[r->n_files - 1];
                return ERR(-EBADMSG, "input file '%s': FILE_DATA frame beyond its %" PRIu64 " bytes",
                           file_path_escape(f->path, strlen(f->path), shown, sizeof(shown)), f->size);
        }
        if (length > f->size - f->data_size)
                return ERR(-EBADMSG,
                           "input file '%s': FILE_DATA frame of %zu bytes exceeds the %" PRIu64
                           " bytes still to come",
                           file_path_escape(f->path, strlen(f->path), shown, sizeof(shown)), length,
                           f->size - f->data_size);
        memcpy(f->data + f->data_size, payload, length);
        f->data_size += length;
        return 0;
}

/* Sorts paths so that '/' comes before every other byte: then "a/..." follows "a" directly, and a
 * path that is another's directory is next to it (or to its duplicate). */
static int path_cmp(const void *a, const void *b) {
        const unsigned char *x = *(const unsigned char *const *) a, *y = *(const unsigned char *const *) b;

        for (;; x++, y++) {
                unsigned cx = *x == '/' ? 1U : *x == 0 ? 0U : *x + 1U;
                unsigned cy = *y == '/' ? 1U : *y == 0 ? 0U : *y + 1U;

                if (cx != cy)
                        return cx < cy ? -1 : 1;
                if (cx == 0)
                        return 0;
        }
}

/* At REQUEST_END, once all files are in: unique paths, none another's directory, none the main
 * file's name or below it. O(n log n), for up to PW_FILES_COUNT_MAX files. */
static int request_check_files(const Request *r, char *error_buf, size_t error_buf_size) {
        const char *main_name = r->filename ?: "main.py";
        size_t main_size = strlen(main_name);
        char shown[PW_PATH_SHOWN_MAX], other[PW_PATH_SHOWN_MAX];
        _cleanup_free_ const char **sorted = NULL;

        for (size_t i = 0; i < r->n_files; i++) {
                const char *p = r->files[i].path;

                if (strncmp(p, main_name, main_size) != 0 || (p[main_size] != '\0' && p[main_size] != '/'))
                        continue;
                file_path_escape(p, strlen(p), shown, sizeof(shown));
                if (p[main_size] == '\0')
                        return ERR(-EINVAL, "input file '%s': the main file's name (FILENAME)", shown);
                return ERR(-EINVAL, "input file '%s': below the main file's name '%s' (FILENAME)", shown,
                           file_path_escape(main_name, main_size, other, sizeof(other)));
        }
        if (r->n_files < 2)
                return 0;
        sorted = malloc(sizeof(char *) * r->n_files);
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_files; i++)
                sorted[i] = r->files[i].path;
        qsort(sorted, r->n_files, sizeof(char *), path_cmp);
        for (size_t i = 1; i < r->n_files; i++) {
                const char *a = sorted[i - 1], *b = sorted[i];
                size_t n = strlen(a);

                if (streq(a, b))
                        return ERR(-EINVAL, "input file '%s': sent twice",
                                   file_path_escape(a, n, shown, sizeof(shown)));
                if (strncmp(a, b, n) == 0 && b[n] == '/')
                        return ERR(-EINVAL, "input file '%s': also a directory of input file '%s'",
                                   file_path_escape(a, n, shown, sizeof(shown)),
                                   file_path_escape(b, strlen(b), other, sizeof(other)));
        }
        return 0;
}

/* ---- the request's frames ------------------------------------------------------------------ */

/* What a SESSION request may not hold (its code and files come after REQUEST_END, in cells): the
 * first such frame seen, or NULL. */
static const char *request_first_job_content(const Request *r) {
        if (r->code)
                return "CODE";
        if (r->filename)
                return "FILENAME";
        if (r->n_args > 0)
                return "ARG";
        if (r->n_files > 0)
                return "FILE";
        if (r->collect)
                return "COLLECT";
        if (r->discover)
                return "DISCOVER";
        return NULL;
}

static bool frame_is_job_content(uint16_t type) {
        switch (type) {
        case FRAME_CODE:
        case FRAME_FILENAME:
        case FRAME_ARG:
        case FRAME_FILE:
        case FRAME_FILE_DATA:
        case FRAME_COLLECT:
        case FRAME_DISCOVER:
                return true;
        default:
                return false;
        }
}

/* A DISCOVER request holds HELLO, DISCOVER and REQUEST_END only: the first other frame seen, or
 * NULL. */
static const char *request_first_content(const Request *r) {
        if (r->code)
                return "CODE";
        if (r->filename)
                return "FILENAME";
        if (r->n_args > 0)
                return "ARG";
        if (r->profile)
                return "PROFILE";
        for (int k = 1; k < _LIMIT_MAX; k++)
                if (r->limit_set[k])
                        return "LIMIT";
        if (r->n_files > 0)
                return "FILE";
        if (r->collect)
                return "COLLECT";
        return NULL;
}

/* The checks every frame of the request passes before its type's own: known, from the client,
 * before REQUEST_END, within its bounds, after HELLO. */
static int request_check_frame(const Request *r, uint16_t type, size_t length, char *error_buf,
                               size_t error_buf_size) {
        const char *name = frame_type_to_string(type);
        uint32_t lo, hi;

        if (!name || !frame_type_bounds(type, &lo, &hi))
                return ERR(-EBADMSG, "unknown frame type 0x%04x", type);
        if (type >= FRAME_ACCEPTED)
                return ERR(-EBADMSG, "%s is a frame the helper sends, not the client", name);
        if (r->complete)
                return ERR(-EBADMSG, "%s frame after REQUEST_END: the request is already complete", name);
        if (length > hi)
                return ERR(-EMSGSIZE, "%s frame of %zu bytes exceeds the maximum of %" PRIu32 " bytes", name,
                           length, hi);
        if (length < lo) {
                if (lo == hi)
                        return ERR(-EBADMSG, "%s frame must be exactly %" PRIu32 " bytes, got %zu", name, lo,
                                   length);
                return ERR(-EBADMSG, "%s frame must not be empty", name);
        }
        if (type != FRAME_HELLO && r->version == 0)
                return ERR(-EBADMSG, "%s frame before HELLO: the request must start with HELLO", name);
        return 0;
}

/* The order rules of files, DISCOVER and SESSION: FILE_DATA right after its FILE, nothing else in
 * a DISCOVER request, no code, files or arguments in a SESSION request (in either order). */
static int request_check_sequence(const Request *r, uint16_t type, char *error_buf, size_t error_buf_size) {
        const RequestFile *f = request_pending_file(r);
        char shown[PW_PATH_SHOWN_MAX];
        const char *content;

        if (f && type != FRAME_FILE_DATA)
                return ERR(-EBADMSG,
                           "input file '%s': %s frame after %" PRIu64 " of its %" PRIu64
                           " bytes: its FILE_DATA must come first",
                           file_path_escape(f->path, strlen(f->path), shown, sizeof(shown)),
                           frame_type_to_string(type), f->data_size, f->size);
        if (r->discover && type != FRAME_HELLO && type != FRAME_REQUEST_END && type < FRAME_STDIN)
                return ERR(-EBADMSG,
                           "%s frame in a DISCOVER request, which holds HELLO, DISCOVER and REQUEST_END "
                           "only",
                           frame_type_to_string(type));
        if (r->session && frame_is_job_content(type))
                return ERR(-EBADMSG,
                           "a SESSION request has no %s: it holds HELLO, SESSION, PROFILE, LIMIT and "
                           "REQUEST_END only (each cell's code and files follow REQUEST_END)",
                           frame_type_to_string(type));
        content = type == FRAME_SESSION ? request_first_job_content(r) : NULL;
        if (content)
                return ERR(-EBADMSG,
                           "SESSION frame after %s: a SESSION request has no %s (it holds HELLO, SESSION, "
                           "PROFILE, LIMIT and REQUEST_END only)",
                           content, content);
        content = type == FRAME_DISCOVER ? request_first_content(r) : NULL;
        if (content)
                return ERR(-EBADMSG,
                           "DISCOVER frame after %s: a DISCOVER request holds HELLO, DISCOVER and "
                           "REQUEST_END only",
                           content);
        return 0;
}

int request_add_frame(Request *r, uint16_t type, const void *payload, size_t length, char *error_buf,
                      size_t error_buf_size) {
        int q;

        if (!r || (length > 0 && !payload))
                return -EINVAL;
        q = request_check_frame(r, type, length, error_buf, error_buf_size);
        if (q >= 0)
                q = request_check_sequence(r, type, error_buf, error_buf_size);
        if (q < 0)
                return q;

        switch (type) {
        case FRAME_HELLO:
                return request_add_hello(r, payload, error_buf, error_buf_size);

        case FRAME_CODE:
                if (r->code)
                        return ERR(-EBADMSG, "duplicate CODE frame: the code must be sent exactly once");
                if (memchr(payload, '\0', length))
                        return ERR(-EINVAL, "CODE contains a NUL byte");
                r->code = memdup_str(payload, length);
                if (!r->code)
                        return -ENOMEM;
                r->code_size = length;
                return 0;

        case FRAME_FILENAME:
                if (r->filename)
                        return ERR(-EBADMSG, "duplicate FILENAME frame");
                if (!filename_valid(payload, length))
                        return ERR(-EINVAL,
                                   "invalid FILENAME: must be 1..%d bytes without '/', NUL or control "
                                   "characters, and not \".\" or \"..\"",
                                   PW_FILENAME_MAX);
                r->filename = memdup_str(payload, length);
                return r->filename ? 0 : -ENOMEM;

        case FRAME_ARG:
                return request_add_arg(r, payload, length, error_buf, error_buf_size);

        case FRAME_PROFILE:
                if (r->profile)
                        return ERR(-EBADMSG, "duplicate PROFILE frame");
                if (!profile_name_valid(payload, length))
                        return ERR(-EINVAL,
                                   "invalid PROFILE name: must be 1..%d characters of [A-Za-z0-9_.-], "
                                   "not \".\" or \"..\"",
                                   PW_PROFILE_NAME_MAX);
                r->profile = memdup_str(payload, length);
                return r->profile ? 0 : -ENOMEM;

        case FRAME_LIMIT:
                return request_add_limit(r, payload, error_buf, error_buf_size);

        case FRAME_FILE:
                return request_add_file(r, payload, length, error_buf, error_buf_size);

        case FRAME_FILE_DATA:
                return request_add_file_data(r, payload, length, error_buf, error_buf_size);

        case FRAME_COLLECT:
                if (r->collect)
                        return ERR(-EBADMSG, "duplicate COLLECT frame");
                r->collect = true;
                return 0;

        case FRAME_DISCOVER:
                r->discover = true; /* a second one: request_check_sequence() */
                return 0;

        case FRAME_SESSION:
                if (r->session)
                        return ERR(-EBADMSG, "duplicate SESSION frame");
                r->session = true;
                return 0;

        case FRAME_REQUEST_END:
                if (!r->code && !r->discover && !r->session)
                        return ERR(-EBADMSG, "REQUEST_END without CODE: the request has no code");
                q = request_check_files(r, error_buf, error_buf_size);
                if (q < 0)
                        return q;
                r->complete = true;
                return 1;

        default: /* STDIN, STDIN_EOF, CANCEL; a session's CELL, INTERRUPT, SESSION_END */
                return ERR(-EBADMSG, "%s frame before REQUEST_END: the request is not complete yet",
                           frame_type_to_string(type));
        }
}

void hello_payload_format(uint8_t buf[static PW_HELLO_SIZE], uint32_t version) {
        le32_store(buf, version);
}

void limit_payload_format(uint8_t buf[static PW_LIMIT_SIZE], uint32_t key, uint64_t value) {
        le32_store(buf, key);
        le64_store(buf + 4, value);
}

/* FILE, then its bytes in FILE_DATA chunks of PW_CHUNK_MAX. */
static int request_file_append(Buffer *b, const RequestFile *f) {
        int q;

        if (!f->path || (f->size > 0 && !f->data))
                return -EINVAL;
        q = file_header_append(b, FRAME_FILE, f->executable ? PW_FILE_EXECUTABLE : 0, f->size, f->path,
                               strlen(f->path));
        for (uint64_t off = 0; q >= 0 && off < f->size; off += PW_CHUNK_MAX)
                q = frame_append(b, FRAME_FILE_DATA, f->data + off,
                                 f->size - off < PW_CHUNK_MAX ? (size_t) (f->size - off) : PW_CHUNK_MAX);
        return q;
}

int request_append(Buffer *b, const Request *r) {
        uint8_t v[PW_LIMIT_SIZE];
        size_t start = b->size;
        int q;

        if (!r->code && r->code_size > 0)
                return -EINVAL;
        /* What the decoder would refuse of a session is not encoded. */
        if (r->session &&
            (r->code || r->filename || r->n_args > 0 || r->n_files > 0 || r->collect || r->discover))
                return -EINVAL;
        hello_payload_format(v, r->version != 0 ? r->version : PW_PROTOCOL_VERSION);
        q = frame_append(b, FRAME_HELLO, v, PW_HELLO_SIZE);
        if (q >= 0 && r->session)
                q = frame_append(b, FRAME_SESSION, NULL, 0);
        if (q >= 0 && !r->discover && !r->session)
                q = frame_append(b, FRAME_CODE, r->code, r->code_size);
        if (q >= 0 && r->filename)
                q = frame_append(b, FRAME_FILENAME, r->filename, strlen(r->filename));
        for (size_t i = 0; q >= 0 && i < r->n_args; i++)
                q = frame_append(b, FRAME_ARG, r->argv[i], strlen(r->argv[i]));
        if (q >= 0 && r->profile)
                q = frame_append(b, FRAME_PROFILE, r->profile, strlen(r->profile));
        for (int k = 1; q >= 0 && k < _LIMIT_MAX; k++) {
                if (!r->limit_set[k])
                        continue;
                limit_payload_format(v, (uint32_t) k, r->limits[k]);
                q = frame_append(b, FRAME_LIMIT, v, PW_LIMIT_SIZE);
        }
        for (size_t i = 0; q >= 0 && i < r->n_files; i++)
                q = request_file_append(b, &r->files[i]);
        if (q >= 0 && r->collect)
                q = frame_append(b, FRAME_COLLECT, NULL, 0);
        if (q >= 0 && r->discover)
                q = frame_append(b, FRAME_DISCOVER, NULL, 0);
        if (q >= 0)
                q = frame_append(b, FRAME_REQUEST_END, NULL, 0);
        if (q < 0)
                b->size = start; /* no half request */
        return q;
}

int bootstrap_preamble_append(Buffer *b, const char *code, size_t code_size) {
        uint8_t n[8];
        int q;

        if (!code && code_size > 0)
                return -EINVAL;
        le64_store(n, (uint64_t) code_size);
        q = buffer_reserve(b, sizeof(n) + code_size);
        if (q < 0)
                return q;
        (void) buffer_append(b, n, sizeof(n));
        (void) buffer_append(b, code, code_size);
        return 0;
}
