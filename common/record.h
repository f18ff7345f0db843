/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the helper's "key=value" records share (RESULT, ACCEPTED, PROFILE_INFO): a growing text
 * buffer, the one escaping of values and its inverse, strict numbers, and the line splitter of a
 * received record. Internal to common/: clients see protocol.h only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A value longer than this (a result's "message") is cut, with a marker, so the record fits. */
#define PW_RESULT_MESSAGE_MAX 2048
/* files_note= (RESULT's and CELL_RESULT's) is a short sentence of the helper's; cut shorter, so
 * the new keys never make a record that fit before too large. */
#define PW_RESULT_NOTE_MAX 512

/* A growing text buffer, always NUL-terminated; allocation failure sticks (oom). */
typedef struct RecordBuf {
        char *data;
        size_t size, allocated;
        bool oom;
} RecordBuf;

void record_add(RecordBuf *b, const char *p, size_t n);
static inline void record_add_str(RecordBuf *b, const char *s) {
        record_add(b, s, strlen(s));
}
/* s (NULL: nothing) with '\\' as "\\\\" and newline as "\\n", cut after max bytes (never inside a
 * UTF-8 sequence) with "..." appended. */
void record_add_escaped(RecordBuf *b, const char *s, size_t max);
/* Decimal, any value; and the same with RESULT_UNSET as nothing (an unknown value is written empty). */
void record_add_number(RecordBuf *b, uint64_t v);
void record_add_u64(RecordBuf *b, uint64_t v);
/* "key=" escaped(value) "\n". */
void record_add_line(RecordBuf *b, const char *key, const char *value, size_t max);

/* A copy of value into *field, unless value is empty (unknown: *field stays NULL). 0 or -ENOMEM. */
int record_set_string(char **field, const char *value);

/* Strict unsigned decimal: digits only, no sign, no leading zeros, no overflow. */
int record_parse_u64(const char *s, uint64_t *ret);
/* Undoes record_add_escaped() in place: only \\ and \n are escapes; anything else after '\' is bad. */
int record_unescape(char *s);

/* A received record's text: size <= max bytes, no NUL, ends with '\n'. Returns a NUL-terminated
 * copy to split with record_next_line(); -EMSGSIZE, -EBADMSG, -ENOMEM. */
int record_text_dup(const void *payload, size_t size, size_t max, char **ret);
/* Splits the next "key=value" line of such a text at *pos in place. 1 with *ret_key and *ret_value
 * set (the value still escaped: an unknown key's value is never looked at), 0 at the end, -EBADMSG
 * for a line without '=' or with an empty key. */
int record_next_line(char **pos, char **ret_key, char **ret_value);
/* One line of such a text against the record's known keys[0..n): the key's index, once it is
 * marked in seen[] and its value unescaped in place; -ENOENT for a key not among them (a newer
 * peer's: skip it, its value unread), -EBADMSG for a key seen before or a bad escape. */
int record_known_key(const char *const *keys, size_t n, bool *seen, const char *key, char *value);
