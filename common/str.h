/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strings and NULL-terminated string vectors (strv), as the protocol, the configuration and the
 * helper's unit properties pass them around. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "macro.h"

#define streq(a, b) (strcmp((a), (b)) == 0)

/* A NUL-terminated copy of n bytes at p (which need not be NUL-terminated); NULL on OOM. */
char *memdup_str(const void *p, size_t n);

/* Where to cut n bytes at p to keep at most max: max itself, or, if a UTF-8 character (a valid,
 * complete sequence) straddles max, the start of that character. Bytes that are not UTF-8 are cut
 * where they are. n when n <= max. */
size_t utf8_boundary_cut(const char *p, size_t n, size_t max);

/* The index of s in an enum's name table (table[i] NULL: no name), or -EINVAL: the one lookup behind
 * every *_from_string() of common/. */
int string_table_lookup(const char *const *table, size_t n, const char *s);

char **strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
int strv_extend(char ***l, const char *value);
char **strv_copy(char *const *l);
