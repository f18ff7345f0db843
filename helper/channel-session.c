/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runner channel's session half (channel.h): the helper's encoders of a cell (its input files,
 * then CH_CELL), CH_INTERRUPT and CH_END, and the strict parser of the runner's CH_CELL_RESULT. The
 * reader's CHANNEL_MODE_SESSION, which bounds that payload before it is kept, is in channel.c. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "channel-internal.h"
#include "channel.h"
#include "str.h"

#define CH_CELL_HEADER_SIZE 8 /* uint32 flags, uint32 cell number */

/* --- helper -> runner ------------------------------------------------------------------------- */

static int cell_messages_append(Buffer *b, const RequestFile *files, size_t n_files, uint32_t flags,
                                uint64_t cell, const char *code, size_t code_size) {
        uint8_t header[CH_CELL_HEADER_SIZE];
        int r;

        if (cell > UINT32_MAX || code_size > PW_FRAME_PAYLOAD_MAX - CH_CELL_HEADER_SIZE)
                return -EMSGSIZE;
        if (flags & ~CH_CELL_COLLECT)
                return -EINVAL;
        for (size_t i = 0; i < n_files; i++) {
                r = channel_file_append(b, &files[i]);
                if (r < 0)
                        return r;
        }
        le32_store(header, flags);
        le32_store(header + 4, (uint32_t) cell);
        r = buffer_reserve(b, PW_FRAME_HEADER_SIZE + CH_CELL_HEADER_SIZE + code_size);
        if (r < 0)
                return r;
        frame_header_format(b->data + b->size, CH_CELL, (uint32_t) (CH_CELL_HEADER_SIZE + code_size));
        b->size += PW_FRAME_HEADER_SIZE;
        (void) buffer_append(b, header, sizeof(header)); /* cannot fail after the reserve */
        (void) buffer_append(b, code, code_size);
        return 0;
}

int channel_cell_append(Buffer *b, const RequestFile *files, size_t n_files, uint32_t flags, uint64_t cell,
                        const char *code, size_t code_size) {
        size_t saved = b->size;
        int r;

        r = cell_messages_append(b, files, n_files, flags, cell, code, code_size);
        if (r < 0)
                b->size = saved; /* all or nothing */
        return r;
}

int channel_interrupt_append(Buffer *b) {
        return channel_message_append(b, CH_INTERRUPT, NULL, 0);
}

int channel_end_append(Buffer *b) {
        return channel_message_append(b, CH_END, NULL, 0);
}

/* --- runner -> helper: CH_CELL_RESULT --------------------------------------------------------- */

typedef enum CellKey {
        KEY_STATUS,
        KEY_VALUE,
        KEY_VALUE_TRUNCATED,
        KEY_ERROR_TYPE,
        KEY_ERROR_MESSAGE,
        KEY_TRACEBACK,
        _KEY_MAX,
} CellKey;

static const struct {
        const char *name;
        size_t max; /* the text's bound; 0: not a text */
} cell_keys[_KEY_MAX] = {
        [KEY_STATUS] = { "status", 0 },
        [KEY_VALUE] = { "value", PW_CELL_VALUE_MAX },
        [KEY_VALUE_TRUNCATED] = { "value_truncated", 0 },
        [KEY_ERROR_TYPE] = { "error_type", PW_CELL_ERROR_TYPE_MAX },
        [KEY_ERROR_MESSAGE] = { "error_message", PW_CELL_ERROR_MESSAGE_MAX },
        [KEY_TRACEBACK] = { "traceback", PW_CELL_TRACEBACK_MAX },
};

static void cell_texts_free(char *texts[static _KEY_MAX]) {
        for (size_t k = 0; k < _KEY_MAX; k++) {
                free(texts[k]);
                texts[k] = NULL;
        }
}

/* One line's value (escaped, n bytes, no newline) for key k into texts[k]: unescaped, cut to its
 * bound. 0, -ENOMEM, -EBADMSG (a bad escape). */
static int cell_value_take(CellKey k, const char *v, size_t n, char *texts[static _KEY_MAX],
                           bool *truncated) {
        _cleanup_free_ char *s = memdup_str(v, n);
        size_t len, cut;

        if (!s)
                return -ENOMEM;
        if (record_value_unescape(s) < 0)
                return -EBADMSG;
        len = strlen(s);
        cut = cell_keys[k].max > 0 ? utf8_boundary_cut(s, len, cell_keys[k].max) : len;
        if (cut < len) {
                s[cut] = '\0';
                *truncated = *truncated || k == KEY_VALUE;
        }
        texts[k] = TAKE_PTR(s);
        return 0;
}

int channel_cell_result_parse(const void *payload, size_t size, CellResult *ret, const char **ret_why) {
        char *texts[_KEY_MAX] = {};
        bool seen[_KEY_MAX] = {}, truncated = false;
        const char *p = payload, *end = p + size, *why = NULL;
        CellStatus status = CELL_OK;

        if (size > CH_CELL_RESULT_MAX)
                why = "CH_CELL_RESULT over its bound";
        else if (size > 0 && memchr(p, '\0', size))
                why = "CH_CELL_RESULT with a NUL byte";
        else if (size > 0 && p[size - 1] != '\n')
                why = "CH_CELL_RESULT not ending with a newline";
        while (!why && p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *eq;
                size_t klen;
                CellKey k;

                eq = memchr(p, '=', (size_t) (nl - p));
                if (!eq) {
                        why = "CH_CELL_RESULT with a line without '='";
                        break;
                }
                klen = (size_t) (eq - p);
                for (k = 0; k < _KEY_MAX; k++)
                        if (strlen(cell_keys[k].name) == klen && memcmp(cell_keys[k].name, p, klen) == 0)
                                break;
                if (k == _KEY_MAX)
                        why = "CH_CELL_RESULT with an unknown key";
                else if (seen[k])
                        why = "CH_CELL_RESULT with a key twice";
                else {
                        int r = cell_value_take(k, eq + 1, (size_t) (nl - eq - 1), texts, &truncated);
                        if (r == -ENOMEM) {
                                cell_texts_free(texts);
                                return r;
                        }
                        if (r < 0)
                                why = "CH_CELL_RESULT with a bad escape";
                        seen[k] = true;
                }
                p = nl + 1;
        }
        if (!why && !seen[KEY_STATUS])
                why = "CH_CELL_RESULT without status";
        /* The runner says only whether the code raised; "interrupted" is the helper's word. */
        if (!why && streq(texts[KEY_STATUS], "ok"))
                status = CELL_OK;
        else if (!why && streq(texts[KEY_STATUS], "error"))
                status = CELL_ERROR;
        else if (!why)
                why = "CH_CELL_RESULT with a status other than ok or error";
        if (!why && texts[KEY_VALUE_TRUNCATED] && !streq(texts[KEY_VALUE_TRUNCATED], "1"))
                why = "CH_CELL_RESULT with a value_truncated other than 1";
        if (why) {
                cell_texts_free(texts);
                if (ret_why)
                        *ret_why = why;
                return -EBADMSG;
        }

        /* An empty text is no text (as record_set_string() has it). */
        for (size_t k = 0; k < _KEY_MAX; k++)
                if (texts[k] && !texts[k][0]) {
                        free(texts[k]);
                        texts[k] = NULL;
                }
        *ret = (CellResult) {
                .status = status,
                .value = TAKE_PTR(texts[KEY_VALUE]),
                .value_truncated = truncated || seen[KEY_VALUE_TRUNCATED],
                .error_type = TAKE_PTR(texts[KEY_ERROR_TYPE]),
                .error_message = TAKE_PTR(texts[KEY_ERROR_MESSAGE]),
                .traceback = TAKE_PTR(texts[KEY_TRACEBACK]),
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
        };
        cell_texts_free(texts);
        return 0;
}
