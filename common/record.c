/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's "key=value" records: one text buffer, one escaping, one line splitter, so that
 * RESULT, ACCEPTED and PROFILE_INFO are written and read alike (record.h). */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "record.h"

void record_add(RecordBuf *b, const char *p, size_t n) {
        if (b->oom)
                return;
        if (b->size + n + 1 > b->allocated) {
                size_t a = (b->size + n + 1) * 2;
                char *d = realloc(b->data, a);
                if (!d) {
                        b->oom = true;
                        return;
                }
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
        b->data[b->size] = '\0';
}

void record_add_escaped(RecordBuf *b, const char *s, size_t max) {
        size_t n = s ? strlen(s) : 0;
        bool cut = n > max;

        if (cut) {
                n = max;
                /* Do not split a UTF-8 sequence: back up over continuation bytes. */
                while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                        n--;
        }
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\')
                        record_add(b, "\\\\", 2);
                else if (s[i] == '\n')
                        record_add(b, "\\n", 2);
                else
                        record_add(b, s + i, 1);
        }
        if (cut)
                record_add(b, "...", 3);
}

void record_add_number(RecordBuf *b, uint64_t v) {
        char t[24];

        record_add(b, t, (size_t) snprintf(t, sizeof(t), "%" PRIu64, v));
}

void record_add_u64(RecordBuf *b, uint64_t v) {
        if (v != RESULT_UNSET)
                record_add_number(b, v);
}

void record_add_line(RecordBuf *b, const char *key, const char *value, size_t max) {
        record_add_str(b, key);
        record_add(b, "=", 1);
        record_add_escaped(b, value, max);
        record_add(b, "\n", 1);
}

int record_set_string(char **field, const char *value) {
        char *v;

        if (*value == '\0')
                return 0;
        v = strdup(value);
        if (!v)
                return -ENOMEM;
        *field = v;
        return 0;
}

int record_parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return 0;
}

int record_unescape(char *s) {
        char *w = s;

        for (char *p = s; *p; p++) {
                if (*p != '\\') {
                        *w++ = *p;
                        continue;
                }
                p++;
                if (*p == '\\')
                        *w++ = '\\';
                else if (*p == 'n')
                        *w++ = '\n';
                else
                        return -EBADMSG;
        }
        *w = '\0';
        return 0;
}

int record_value_unescape(char *s) {
        return record_unescape(s);
}

int record_text_dup(const void *payload, size_t size, size_t max, char **ret) {
        char *text;

        if (!ret || (size > 0 && !payload))
                return -EINVAL;
        if (size > max)
                return -EMSGSIZE;
        if (memchr(payload, '\0', size))
                return -EBADMSG;
        if (size == 0 || ((const char *) payload)[size - 1] != '\n')
                return -EBADMSG;
        text = memdup_str(payload, size);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

int record_next_line(char **pos, char **ret_key, char **ret_value) {
        char *line = *pos, *nl, *eq;

        if (*line == '\0')
                return 0;
        /* record_text_dup() guarantees the text ends with '\n'; a text that does not ends here. */
        nl = strchr(line, '\n');
        if (!nl)
                return -EBADMSG;
        *nl = '\0';
        *pos = nl + 1;
        eq = strchr(line, '=');
        if (!eq || eq == line)
                return -EBADMSG;
        *eq = '\0';
        *ret_key = line;
        *ret_value = eq + 1;
        return 1;
}

int record_known_key(const char *const *keys, size_t n, bool *seen, const char *key, char *value) {
        int k = string_table_lookup(keys, n, key), r;

        if (k < 0)
                return -ENOENT;
        if (seen[k])
                return -EBADMSG;
        seen[k] = true;
        r = record_unescape(value);
        return r < 0 ? r : k;
}
