/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyward wire protocol v1, files in and out: the one path rule, the skip reasons' names, the
 * encoders and decoders of the fixed parts of FILE, FILE_OUT and FILE_SKIPPED, and the escaping
 * that puts a path into a one-line message. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "protocol.h"

/* clang-format off */
static const char *const file_skip_reason_table[_FILE_SKIP_MAX] = {
        [FILE_SKIP_SYMLINK] = "symlink", [FILE_SKIP_FIFO] = "fifo",   [FILE_SKIP_SOCKET] = "socket",
        [FILE_SKIP_DEVICE] = "device",   [FILE_SKIP_OTHER] = "other", [FILE_SKIP_SIZE] = "size",
        [FILE_SKIP_COUNT] = "count",     [FILE_SKIP_BYTES] = "bytes", [FILE_SKIP_DEPTH] = "depth",
        [FILE_SKIP_TIME] = "time",       [FILE_SKIP_NAME] = "name",   [FILE_SKIP_UNREADABLE] = "unreadable",
};
/* clang-format on */

const char *file_skip_reason_to_string(FileSkipReason r) {
        if ((int) r <= 0 || r >= _FILE_SKIP_MAX)
                return NULL;
        return file_skip_reason_table[r];
}

FileSkipReason file_skip_reason_from_string(const char *s) {
        return string_table_lookup(file_skip_reason_table, _FILE_SKIP_MAX, s); /* [0] has no name */
}

bool file_path_valid(const char *p, size_t n, const char **ret_why) {
        const char *why = NULL;
        size_t components = 0;

        if (n == 0)
                why = "an empty path";
        else if (!p)
                why = "no path";
        else if (n > PW_PATH_MAX)
                why = "longer than 1024 bytes";
        else if (memchr(p, '\0', n))
                why = "a NUL byte";
        else if (p[0] == '/')
                why = "an absolute path";
        for (size_t i = 0; !why && i <= n; components++) {
                const char *c = p + i, *slash = memchr(c, '/', n - i);
                size_t len = slash ? (size_t) (slash - c) : n - i;

                if (len == 0)
                        why = "an empty component";
                else if (len == 1 && c[0] == '.')
                        why = "a '.' component";
                else if (len == 2 && c[0] == '.' && c[1] == '.')
                        why = "a '..' component";
                else if (len > PW_PATH_COMPONENT_MAX)
                        why = "a component longer than 255 bytes";
                else if (components + 1 > PW_PATH_DEPTH_MAX)
                        why = "more than 32 components";
                i += len + 1;
        }
        if (ret_why)
                *ret_why = why;
        return !why;
}

/* One byte as file_path_escape() shows it: into e (4 bytes), its length returned. */
static size_t escape_byte(unsigned char c, char e[static 4]) {
        static const char hex[] = "0123456789abcdef";

        if (c == '\\' || c == '\'') {
                e[0] = '\\';
                e[1] = (char) c;
                return 2;
        }
        if (c >= 0x20 && c < 0x7f) {
                e[0] = (char) c;
                return 1;
        }
        e[0] = '\\';
        e[1] = 'x';
        e[2] = hex[c >> 4];
        e[3] = hex[c & 0xf];
        return 4;
}

char *file_path_escape(const char *p, size_t n, char *buf, size_t size) {
        size_t w = 0, total = 0;
        char e[4];

        if (size == 0)
                return buf;
        for (size_t i = 0; i < n; i++)
                total += escape_byte((unsigned char) p[i], e);
        for (size_t i = 0; i < n; i++) {
                size_t l = escape_byte((unsigned char) p[i], e);

                /* Cut: keep room for "..." and the NUL. */
                if (total >= size && w + l + 3 >= size) {
                        if (w + 3 < size) {
                                memcpy(buf + w, "...", 3);
                                w += 3;
                        }
                        break;
                }
                memcpy(buf + w, e, l);
                w += l;
        }
        buf[w] = '\0';
        return buf;
}

int file_header_append(Buffer *b, uint16_t type, uint32_t flags_or_mode, uint64_t size, const char *path,
                       size_t path_size) {
        uint8_t payload[PW_FILE_HEADER_SIZE + PW_PATH_MAX];

        if (type != FRAME_FILE && type != FRAME_FILE_OUT)
                return -EINVAL;
        if (!file_path_valid(path, path_size, NULL))
                return -EINVAL;
        le32_store(payload, flags_or_mode);
        le64_store(payload + 4, size);
        memcpy(payload + PW_FILE_HEADER_SIZE, path, path_size);
        return frame_append(b, type, payload, PW_FILE_HEADER_SIZE + path_size);
}

int file_header_parse(const void *payload, size_t size, uint32_t *ret_flags_or_mode, uint64_t *ret_size,
                      const char **ret_path, size_t *ret_path_size, const char **ret_why) {
        const uint8_t *p = payload;
        const char *why;

        if (!payload || size < PW_FILE_HEADER_SIZE) {
                if (ret_why)
                        *ret_why = "shorter than its 12-byte header";
                return -EBADMSG;
        }
        if (!file_path_valid((const char *) p + PW_FILE_HEADER_SIZE, size - PW_FILE_HEADER_SIZE, &why)) {
                if (ret_why)
                        *ret_why = why;
                return -EBADMSG;
        }
        *ret_flags_or_mode = le32_load(p);
        *ret_size = le64_load(p + 4);
        *ret_path = (const char *) p + PW_FILE_HEADER_SIZE;
        *ret_path_size = size - PW_FILE_HEADER_SIZE;
        if (ret_why)
                *ret_why = NULL;
        return 0;
}

int file_skipped_append(Buffer *b, FileSkipReason reason, const char *path, size_t path_size) {
        uint8_t payload[PW_SKIPPED_HEADER_SIZE + PW_PATH_MAX];

        if (!file_skip_reason_to_string(reason) || path_size > PW_PATH_MAX || (path_size > 0 && !path))
                return -EINVAL;
        le32_store(payload, (uint32_t) reason);
        if (path_size > 0)
                memcpy(payload + PW_SKIPPED_HEADER_SIZE, path, path_size);
        return frame_append(b, FRAME_FILE_SKIPPED, payload, PW_SKIPPED_HEADER_SIZE + path_size);
}

int file_skipped_parse(const void *payload, size_t size, FileSkipReason *ret_reason, const char **ret_path,
                       size_t *ret_path_size) {
        const uint8_t *p = payload;
        uint32_t reason;

        if (!payload || size < PW_SKIPPED_HEADER_SIZE || size > PW_SKIPPED_HEADER_SIZE + PW_PATH_MAX)
                return -EBADMSG;
        reason = le32_load(p);
        /* A reason this side does not know is an error, not a guess: new ones need a new version. */
        if (reason == 0 || reason >= _FILE_SKIP_MAX)
                return -EBADMSG;
        *ret_reason = (FileSkipReason) reason;
        *ret_path = (const char *) p + PW_SKIPPED_HEADER_SIZE;
        *ret_path_size = size - PW_SKIPPED_HEADER_SIZE;
        return 0;
}
