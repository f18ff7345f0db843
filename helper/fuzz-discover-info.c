/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for a discovery report (CH_INFO from inside a sandbox, or the cache's copy
 * of it): what the parser accepts is within its bounds, and writes out and parses back the same. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool b) {
        if (!b)
                abort();
}

static void check_info(const DiscoverInfo *i) {
        check(i->python && strlen(i->python) >= 1 && strlen(i->python) <= DISCOVER_PYTHON_MAX);
        check(i->n_packages <= DISCOVER_PACKAGES_MAX && i->n_sitedirs <= DISCOVER_SITEDIRS_MAX);
        check(i->packages_omitted <= DISCOVER_PACKAGES_OMITTED_MAX + DISCOVER_INFO_MAX);
        check(i->n_packages == 0 || i->packages[i->n_packages] == NULL);
        check(i->n_sitedirs == 0 || i->sitedirs[i->n_sitedirs] == NULL);
        for (size_t k = 0; k < i->n_packages; k++) {
                check(strlen(i->packages[k]) <= DISCOVER_PACKAGE_MAX && strchr(i->packages[k], ' '));
                check(k == 0 || strcmp(i->packages[k - 1], i->packages[k]) < 0); /* sorted, unique */
        }
        for (size_t k = 0; k < i->n_sitedirs; k++)
                check(i->sitedirs[k][0] == '/' && strlen(i->sitedirs[k]) <= DISCOVER_SITEDIR_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(buffer_done) Buffer b = {};
        DiscoverInfo a = {}, again = {};
        const char *why = NULL;
        int r;

        r = discover_info_parse(data, size, &a, &why);
        if (r < 0) {
                check(r == -ENOMEM || (r == -EBADMSG && why));
                return 0;
        }
        check_info(&a);
        if (discover_info_format(&a, &b) >= 0) {
                r = discover_info_parse(b.data, b.size, &again, &why);
                check(r == 0 || r == -ENOMEM);
                if (r == 0) {
                        /* Nothing grows but by the one packages_omitted= line that counts the
                         * packages left out: unknown keys and duplicates go. */
                        check(b.size <= size + 32);
                        check(strcmp(a.python, again.python) == 0);
                        check(a.n_packages == again.n_packages && a.n_sitedirs == again.n_sitedirs);
                        check(a.packages_omitted == again.packages_omitted);
                        for (size_t k = 0; k < a.n_packages; k++)
                                check(strcmp(a.packages[k], again.packages[k]) == 0);
                        for (size_t k = 0; k < a.n_sitedirs; k++)
                                check(strcmp(a.sitedirs[k], again.sitedirs[k]) == 0);
                }
        }
        discover_info_done(&again);
        discover_info_done(&a);
        return 0;
}
