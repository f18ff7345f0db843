/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyward wire protocol v1, a session's cells (pyward-protocol(7) "SESSIONS"): the CELL frame's
 * encoder and decoder, and the CELL_RESULT record's, escaped as RESULT's (record.h). */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "protocol.h"
#include "record.h"

/* The longest record's fixed part: every key, "=", "\n", and numbers of 20 digits; counted
 * generously so that the assertion below holds with room to spare. */
#define CELL_RESULT_KEYS_MAX 512
/* record_add_escaped() appends "..." to a cut text. */
#define CELL_CUT_MARKER 3

/* The four texts are bounded escaped; message= and files_note= are cut before escaping, which may
 * double them. The record at every bound must still fit its frame. */
static_assert((size_t) PW_CELL_VALUE_MAX + PW_CELL_ERROR_TYPE_MAX + PW_CELL_ERROR_MESSAGE_MAX +
                              PW_CELL_TRACEBACK_MAX + 2 * (PW_RESULT_MESSAGE_MAX + CELL_CUT_MARKER) +
                              2 * (PW_RESULT_NOTE_MAX + CELL_CUT_MARKER) + CELL_RESULT_KEYS_MAX <=
                      PW_CELL_RESULT_MAX,
              "a CELL_RESULT at every bound must fit PW_CELL_RESULT_MAX");

static const char *const cell_status_table[_CELL_STATUS_MAX] = {
        [CELL_OK] = "ok",
        [CELL_ERROR] = "error",
        [CELL_INTERRUPTED] = "interrupted",
};

const char *cell_status_to_string(CellStatus s) {
        if ((int) s < 0 || s >= _CELL_STATUS_MAX)
                return NULL;
        return cell_status_table[s];
}

CellStatus cell_status_from_string(const char *s) {
        return string_table_lookup(cell_status_table, _CELL_STATUS_MAX, s);
}

/* ---- CELL --------------------------------------------------------------------------------- */

int cell_frame_append(Buffer *b, uint32_t flags, const char *code, size_t code_size) {
        _cleanup_free_ uint8_t *payload = NULL;

        if (!b || (flags & ~PW_CELL_COLLECT) || (!code && code_size > 0))
                return -EINVAL;
        if (code_size > PW_CODE_MAX - PW_CELL_HEADER_SIZE)
                return -EMSGSIZE;
        /* Bounded by the check above (1 MiB); one frame, one encoder: frame_append(). */
        payload = malloc(PW_CELL_HEADER_SIZE + code_size);
        if (!payload)
                return -ENOMEM;
        le32_store(payload, flags);
        if (code_size > 0)
                memcpy(payload + PW_CELL_HEADER_SIZE, code, code_size);
        return frame_append(b, FRAME_CELL, payload, PW_CELL_HEADER_SIZE + code_size);
}

int cell_frame_parse(const void *payload, size_t size, uint32_t *ret_flags, const char **ret_code,
                     size_t *ret_code_size) {
        uint32_t flags;

        if (!payload || size < PW_CELL_HEADER_SIZE || size > PW_CODE_MAX)
                return -EBADMSG;
        flags = le32_load(payload);
        if (flags & ~PW_CELL_COLLECT)
                return -EBADMSG;
        *ret_flags = flags;
        *ret_code = (const char *) payload + PW_CELL_HEADER_SIZE;
        *ret_code_size = size - PW_CELL_HEADER_SIZE;
        return 0;
}

/* ---- CELL_RESULT -------------------------------------------------------------------------- */

void cell_result_done(CellResult *r) {
        if (!r)
                return;
        free(r->value);
        free(r->error_type);
        free(r->error_message);
        free(r->traceback);
        free(r->message);
        free(r->files_note);
        *r = CELL_RESULT_INIT;
}

/* The bytes of text whose escaped form fits max bytes (never half an escape), backed up to a
 * UTF-8 character boundary where the text is UTF-8. */
static size_t escaped_cut(const char *text, size_t n, size_t max) {
        size_t keep = 0, escaped = 0;

        for (; keep < n; keep++) {
                size_t w = text[keep] == '\\' || text[keep] == '\n' ? 2 : 1;

                if (escaped + w > max)
                        break;
                escaped += w;
        }
        return utf8_boundary_cut(text, n, keep);
}

/* "key=" text escaped and cut to max bytes without a marker, "\n". Returns whether it was cut. */
static bool add_cut_line(RecordBuf *b, const char *key, const char *text, size_t max) {
        size_t n = text ? strlen(text) : 0, keep = escaped_cut(text, n, max);

        record_add_str(b, key);
        record_add(b, "=", 1);
        for (size_t i = 0; i < keep; i++) {
                if (text[i] == '\\')
                        record_add(b, "\\\\", 2);
                else if (text[i] == '\n')
                        record_add(b, "\\n", 2);
                else
                        record_add(b, text + i, 1);
        }
        record_add(b, "\n", 1);
        return keep < n;
}

static void add_number_line(RecordBuf *b, const char *key, uint64_t v, bool unset_empty) {
        record_add_str(b, key);
        record_add(b, "=", 1);
        if (unset_empty)
                record_add_u64(b, v);
        else
                record_add_number(b, v);
        record_add(b, "\n", 1);
}

int cell_result_append(Buffer *out, const CellResult *r) {
        const char *status;
        RecordBuf b = {};
        int q;

        if (!out || !r)
                return -EINVAL;
        status = cell_status_to_string(r->status);
        if (!status || r->cell == 0)
                return -EINVAL;

        add_number_line(&b, "cell", r->cell, false);
        record_add_line(&b, "status", status, PW_RESULT_MESSAGE_MAX);
        if (r->value) {
                bool cut = add_cut_line(&b, "value", r->value, PW_CELL_VALUE_MAX);

                if (cut || r->value_truncated)
                        record_add_str(&b, "value_truncated=1\n");
        }
        if (r->status != CELL_OK) {
                (void) add_cut_line(&b, "error_type", r->error_type, PW_CELL_ERROR_TYPE_MAX);
                (void) add_cut_line(&b, "error_message", r->error_message, PW_CELL_ERROR_MESSAGE_MAX);
                (void) add_cut_line(&b, "traceback", r->traceback, PW_CELL_TRACEBACK_MAX);
        }
        if (r->message)
                record_add_line(&b, "message", r->message, PW_RESULT_MESSAGE_MAX);
        add_number_line(&b, "wall_ms", r->wall_ms, true);
        add_number_line(&b, "cpu_ms", r->cpu_ms, true);
        if (r->files_reported) {
                add_number_line(&b, "files_out", r->files_out, false);
                add_number_line(&b, "files_out_bytes", r->files_out_bytes, false);
                add_number_line(&b, "files_skipped", r->files_skipped, false);
                if (r->files_note)
                        record_add_line(&b, "files_note", r->files_note, PW_RESULT_NOTE_MAX);
        }

        if (b.oom)
                q = -ENOMEM;
        else if (b.size > PW_CELL_RESULT_MAX)
                q = -EMSGSIZE; /* cannot happen: the static_assert above */
        else
                q = frame_append(out, FRAME_CELL_RESULT, b.data, b.size);
        free(b.data);
        return q;
}

enum {
        CK_CELL,
        CK_STATUS,
        CK_VALUE,
        CK_VALUE_TRUNCATED,
        CK_ERROR_TYPE,
        CK_ERROR_MESSAGE,
        CK_TRACEBACK,
        CK_MESSAGE,
        CK_WALL_MS,
        CK_CPU_MS,
        CK_FILES_OUT,
        CK_FILES_OUT_BYTES,
        CK_FILES_SKIPPED,
        CK_FILES_NOTE,
        _CK_MAX,
};

static const char *const cell_result_keys[_CK_MAX] = {
        [CK_CELL] = "cell",
        [CK_STATUS] = "status",
        [CK_VALUE] = "value",
        [CK_VALUE_TRUNCATED] = "value_truncated",
        [CK_ERROR_TYPE] = "error_type",
        [CK_ERROR_MESSAGE] = "error_message",
        [CK_TRACEBACK] = "traceback",
        [CK_MESSAGE] = "message",
        [CK_WALL_MS] = "wall_ms",
        [CK_CPU_MS] = "cpu_ms",
        [CK_FILES_OUT] = "files_out",
        [CK_FILES_OUT_BYTES] = "files_out_bytes",
        [CK_FILES_SKIPPED] = "files_skipped",
        [CK_FILES_NOTE] = "files_note",
};

/* Sets one decoded (unescaped) key of the record; 0 or -EBADMSG/-ENOMEM. */
static int cell_result_set(CellResult *r, int k, const char *value) {
        char **strings[_CK_MAX] = {
                [CK_ERROR_TYPE] = &r->error_type, [CK_ERROR_MESSAGE] = &r->error_message,
                [CK_TRACEBACK] = &r->traceback,   [CK_MESSAGE] = &r->message,
                [CK_FILES_NOTE] = &r->files_note,
        };
        uint64_t *numbers[_CK_MAX] = {
                [CK_CELL] = &r->cell,
                [CK_WALL_MS] = &r->wall_ms,
                [CK_CPU_MS] = &r->cpu_ms,
                [CK_FILES_OUT] = &r->files_out,
                [CK_FILES_OUT_BYTES] = &r->files_out_bytes,
                [CK_FILES_SKIPPED] = &r->files_skipped,
        };
        uint64_t u;

        if (k >= CK_FILES_OUT && k <= CK_FILES_NOTE)
                r->files_reported = true;
        switch (k) {
        case CK_STATUS:
                r->status = cell_status_from_string(value);
                return (int) r->status < 0 ? -EBADMSG : 0;
        case CK_VALUE:
                /* Present: a value, even "" (a repr may be empty); absent: None. */
                r->value = strdup(value);
                return r->value ? 0 : -ENOMEM;
        case CK_VALUE_TRUNCATED:
                if (!streq(value, "1"))
                        return -EBADMSG;
                r->value_truncated = true;
                return 0;
        case CK_CELL:
                if (record_parse_u64(value, &u) < 0 || u == 0)
                        return -EBADMSG;
                r->cell = u;
                return 0;
        case CK_WALL_MS:
        case CK_CPU_MS:
                /* Empty: unknown. */
                if (*value == '\0')
                        return 0;
                if (record_parse_u64(value, &u) < 0 || u == RESULT_UNSET)
                        return -EBADMSG;
                *numbers[k] = u;
                return 0;
        case CK_FILES_OUT:
        case CK_FILES_OUT_BYTES:
        case CK_FILES_SKIPPED:
                return record_parse_u64(value, numbers[k]) < 0 ? -EBADMSG : 0;
        default:
                return record_set_string(strings[k], value);
        }
}

int cell_result_parse(const void *payload, size_t size, CellResult *ret) {
        _cleanup_free_ char *text = NULL;
        CellResult r = CELL_RESULT_INIT;
        bool seen[_CK_MAX] = {};
        char *pos, *key, *value;
        int error;

        if (!ret)
                return -EINVAL;
        r.status = _CELL_STATUS_INVALID;
        error = record_text_dup(payload, size, PW_CELL_RESULT_MAX, &text);
        if (error < 0)
                return error == -EMSGSIZE ? -EBADMSG : error;

        for (pos = text; (error = record_next_line(&pos, &key, &value)) > 0;) {
                int k = record_known_key(cell_result_keys, _CK_MAX, seen, key, value);

                if (k == -ENOENT)
                        continue; /* unknown key: a newer helper; ignore it */
                error = k < 0 ? k : cell_result_set(&r, k, value);
                if (error < 0)
                        break;
        }
        if (error >= 0 && (!seen[CK_CELL] || !seen[CK_STATUS]))
                error = -EBADMSG;
        if (error < 0) {
                cell_result_done(&r);
                return error;
        }
        *ret = r;
        return 0;
}
