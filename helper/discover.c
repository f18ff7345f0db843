/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The report of a discovery run, checked line by line within fixed bounds (its bytes come from
 * inside a sandbox, or from the cache that copied them), and the ProfileInfo built from it. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "discover.h"
#include "str.h"

void discover_info_done(DiscoverInfo *i) {
        if (!i)
                return;
        free(i->python);
        strv_free(i->packages);
        strv_free(i->sitedirs);
        *i = (DiscoverInfo) {};
}

/* --- one value --------------------------------------------------------------------------------- */

static bool python_valid(const char *s, size_t n) {
        if (n == 0 || n > DISCOVER_PYTHON_MAX || s[0] < '0' || s[0] > '9')
                return false;
        return strspn(s, "0123456789.+-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

/* "NAME VERSION": a distribution name (PEP 508's characters), one space, a version of printable
 * ASCII without spaces. */
static bool package_valid(const char *s, size_t n) {
        size_t name = strspn(s, "0123456789._-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

        if (n > DISCOVER_PACKAGE_MAX || name == 0 || name + 1 >= n || s[name] != ' ')
                return false;
        for (size_t i = name + 1; i < n; i++)
                if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f)
                        return false;
        return true;
}

/* Digits only, no leading zero, at most DISCOVER_PACKAGES_OMITTED_MAX (what a report of
 * DISCOVER_INFO_MAX bytes could have left out, and then some). */
static int parse_count(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t) (*s - '0');
                if (v > DISCOVER_PACKAGES_OMITTED_MAX)
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

static bool sitedir_valid(const char *s, size_t n) {
        return n > 0 && n <= DISCOVER_SITEDIR_MAX && s[0] == '/';
}

/* --- the report -------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Appends value to a vector of at most max entries, counted in *n; duplicates are kept here (the
 * packages are sorted and deduplicated at the end) unless unique is set. gcc 12's analyzer loses
 * the copy once it is stored through *v (a DiscoverInfo field); discover_info_done() frees it. */
DISABLE_WARNING_ANALYZER_LEAK
static int vector_add(char ***v, size_t *n, size_t max, const char *value, bool unique, const char **ret_why,
                      const char *too_many) {
        char **nv, *copy;

        if (unique)
                for (size_t i = 0; i < *n; i++)
                        if (streq((*v)[i], value))
                                return 0;
        if (*n >= max) {
                *ret_why = too_many;
                return -EBADMSG;
        }
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        nv = realloc(*v, (*n + 2) * sizeof(char *));
        if (!nv) {
                free(copy);
                return -ENOMEM;
        }
        nv[*n] = copy;
        nv[*n + 1] = NULL;
        *v = nv;
        ++*n;
        return 0;
}
REENABLE_WARNING

static void packages_sort_unique(DiscoverInfo *i) {
        size_t w = 0;

        if (i->n_packages == 0)
                return;
        qsort(i->packages, i->n_packages, sizeof(char *), cmp_str);
        for (size_t k = 0; k < i->n_packages; k++) {
                if (w > 0 && streq(i->packages[w - 1], i->packages[k])) {
                        free(i->packages[k]);
                        continue;
                }
                i->packages[w++] = i->packages[k];
        }
        i->packages[w] = NULL;
        i->n_packages = w;
}

static int info_add_line(DiscoverInfo *i, char *line, bool *seen_omitted, const char **ret_why) {
        char *eq = strchr(line, '='), *value;
        uint64_t count;
        size_t n;

        if (!eq || eq == line) {
                *ret_why = "a line without key=";
                return -EBADMSG;
        }
        *eq = '\0';
        value = eq + 1;
        if (record_value_unescape(value) < 0) {
                *ret_why = "a bad escape (only \\\\ and \\n)";
                return -EBADMSG;
        }
        n = strlen(value); /* the unescaped value holds no NUL */
        if (streq(line, "python")) {
                if (i->python) {
                        *ret_why = "python= twice";
                        return -EBADMSG;
                }
                if (!python_valid(value, n)) {
                        *ret_why = "python= is not a version";
                        return -EBADMSG;
                }
                i->python = strdup(value);
                return i->python ? 0 : -ENOMEM;
        }
        if (streq(line, "package")) {
                /* A distribution whose name or version the helper does not pass on (a legacy
                 * name with a space, say), or one too many, is counted rather than listed: one
                 * odd package does not cost the profile its whole list. */
                if (!package_valid(value, n) || i->n_packages >= DISCOVER_PACKAGES_MAX) {
                        i->packages_omitted++;
                        return 0;
                }
                return vector_add(&i->packages, &i->n_packages, DISCOVER_PACKAGES_MAX, value, false, ret_why,
                                  "more than DISCOVER_PACKAGES_MAX packages");
        }
        if (streq(line, "packages_omitted")) {
                if (*seen_omitted) {
                        *ret_why = "packages_omitted= twice";
                        return -EBADMSG;
                }
                *seen_omitted = true;
                if (parse_count(value, &count) < 0) {
                        *ret_why = "packages_omitted= is not a count";
                        return -EBADMSG;
                }
                i->packages_omitted += count;
                return 0;
        }
        if (streq(line, "sitedir")) {
                if (!sitedir_valid(value, n)) {
                        *ret_why = "sitedir= is not an absolute path";
                        return -EBADMSG;
                }
                return vector_add(&i->sitedirs, &i->n_sitedirs, DISCOVER_SITEDIRS_MAX, value, true, ret_why,
                                  "more than DISCOVER_SITEDIRS_MAX sitedirs");
        }
        return 0; /* unknown key: a newer runner */
}

int discover_info_parse(const void *data, size_t size, DiscoverInfo *ret, const char **ret_why) {
        _cleanup_(discover_info_done) DiscoverInfo i = {};
        _cleanup_free_ char *text = NULL;
        const char *why = NULL, **w = ret_why ?: &why;
        char *line, *next;
        bool seen_omitted = false;
        int r;

        if (size > 0 && !data)
                return -EINVAL;
        if (size > DISCOVER_INFO_MAX) {
                *w = "report larger than DISCOVER_INFO_MAX";
                return -EBADMSG;
        }
        if (size == 0 || ((const char *) data)[size - 1] != '\n') {
                *w = "report does not end with a newline";
                return -EBADMSG;
        }
        if (memchr(data, '\0', size)) {
                *w = "a NUL byte in the report";
                return -EBADMSG;
        }
        text = memdup_str(data, size);
        if (!text)
                return -ENOMEM;
        for (line = text; *line; line = next) {
                char *nl = strchrnul(line, '\n'); /* a '\n' always: the text ends with one */

                next = *nl ? nl + 1 : nl;
                *nl = '\0';
                r = info_add_line(&i, line, &seen_omitted, w);
                if (r < 0)
                        return r;
        }
        if (!i.python) {
                *w = "no python= line";
                return -EBADMSG;
        }
        packages_sort_unique(&i);
        *ret = i;
        i = (DiscoverInfo) {};
        return 0;
}

/* --- the report written back ------------------------------------------------------------------- */

int discover_line_append(Buffer *b, const char *key, const char *value) {
        size_t n = strlen(value);
        int r;

        r = buffer_append(b, key, strlen(key));
        if (r >= 0)
                r = buffer_append(b, "=", 1);
        for (size_t k = 0; r >= 0 && k < n; k++) {
                if (value[k] == '\\')
                        r = buffer_append(b, "\\\\", 2);
                else if (value[k] == '\n')
                        r = buffer_append(b, "\\n", 2);
                else
                        r = buffer_append(b, value + k, 1);
        }
        return r < 0 ? r : buffer_append(b, "\n", 1);
}

int discover_info_format(const DiscoverInfo *i, Buffer *b) {
        size_t start = b->size;
        int r;

        r = discover_line_append(b, "python", i->python ?: "");
        for (size_t k = 0; r >= 0 && k < i->n_packages; k++)
                r = discover_line_append(b, "package", i->packages[k]);
        for (size_t k = 0; r >= 0 && k < i->n_sitedirs; k++)
                r = discover_line_append(b, "sitedir", i->sitedirs[k]);
        if (r >= 0 && i->packages_omitted > 0) {
                char t[32];

                snprintf(t, sizeof(t), "%" PRIu64, i->packages_omitted);
                r = discover_line_append(b, "packages_omitted", t);
        }
        if (r < 0)
                b->size = start; /* all or nothing */
        return r;
}

/* --- the answer for one profile ---------------------------------------------------------------- */

int discover_profile_info(const Profile *p, const DiscoverInfo *info, const char *note, ProfileInfo *ret) {
        ProfileInfo pi = {
                .name = strdup(p->name),
                .interpreter = strdup(p->interpreter ?: ""),
                .python = strdup(info && info->python ? info->python : ""),
                .network = strdup(p->network == CONFIG_NETWORK_LOOPBACK ? "loopback" : "none"),
                .note = strdup(note ?: ""),
        };

        memcpy(pi.limit_default, p->limit_default, sizeof(pi.limit_default));
        memcpy(pi.limit_max, p->limit_max, sizeof(pi.limit_max));
        if (info && info->n_packages > 0) {
                pi.packages = strv_copy(info->packages);
                pi.n_packages = info->n_packages;
        }
        if (info)
                pi.packages_omitted = info->packages_omitted;
        if (!pi.name || !pi.interpreter || !pi.python || !pi.network || !pi.note ||
            (info && info->n_packages > 0 && !pi.packages)) {
                profile_info_done(&pi);
                return -ENOMEM;
        }
        *ret = pi;
        return 0;
}
