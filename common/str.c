/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strings and string vectors declared in str.h; shared by the helper and the CLI, so nothing
 * here logs. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

char *memdup_str(const void *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        if (n > 0)
                memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

/* The length of the UTF-8 sequence lead byte c starts (2..4), or 0 if c cannot start one. */
static size_t utf8_lead_length(unsigned char c) {
        if (c >= 0xc2 && c <= 0xdf)
                return 2;
        if (c >= 0xe0 && c <= 0xef)
                return 3;
        if (c >= 0xf0 && c <= 0xf4)
                return 4;
        return 0;
}

size_t utf8_boundary_cut(const char *p, size_t n, size_t max) {
        const unsigned char *s = (const unsigned char *) p;
        size_t lead = max, len;

        if (n <= max)
                return n;
        /* At most 3 continuation bytes back to the lead byte of the character at max. */
        while (lead > 0 && max - lead < 3 && (s[lead] & 0xc0) == 0x80)
                lead--;
        if (lead == max)
                return max; /* s[max] starts a character (or is not UTF-8) */
        len = utf8_lead_length(s[lead]);
        if (len == 0 || lead + len <= max || lead + len > n)
                return max;
        for (size_t i = lead + 1; i < lead + len; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return max;
        return lead;
}

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        if (l)
                while (l[n])
                        n++;
        return n;
}

int strv_extend(char ***l, const char *value) {
        size_t n = strv_length(*l);
        char **c, *v;

        v = strdup(value);
        if (!v)
                return -ENOMEM;
        c = realloc(*l, sizeof(char *) * (n + 2));
        if (!c) {
                free(v);
                return -ENOMEM;
        }
        c[n] = v;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

/* gcc 12's analyzer forgets what c[i - 1] held when c[i] (a symbolic index) is stored, and
 * reports the earlier copies as leaked; strv_freep() frees them on the failure path, and the
 * unit tests run under valgrind and ASan. */
DISABLE_WARNING_ANALYZER_LEAK
char **strv_copy(char *const *l) {
        _cleanup_strv_free_ char **c = NULL;
        size_t n = strv_length(l);

        c = calloc(n + 1, sizeof(char *));
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i])
                        return NULL;
        }
        return TAKE_PTR(c);
}
REENABLE_WARNING

int string_table_lookup(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}
