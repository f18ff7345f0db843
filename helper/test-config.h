/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the test-config-*.c programs share: a temporary root to write configuration files below,
 * loading and parsing that asserts success or an expected error, and the program's main(). */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static char root[] = "/tmp/test-config-XXXXXX";

/* ---- helpers ------------------------------------------------------------------------------- */

static inline void mkdir_parents(const char *path) {
        char buf[4096];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *s = buf + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        assert_se(mkdir(buf, 0755) >= 0 || errno == EEXIST);
                        *s = '/';
                }
}

/* root + path into buf; a path that does not fit fails the test rather than being cut. */
static inline void root_path(char *buf, size_t size, const char *path) {
        assert_se((size_t) snprintf(buf, size, "%s%s", root, path) < size);
}

/* Writes root + path with the given text (creating parent directories). */
static inline void write_file(const char *path, const char *text) {
        char full[4096];
        FILE *f;

        root_path(full, sizeof(full), path);
        mkdir_parents(full);
        f = fopen(full, "we");
        assert_se(f);
        assert_se(fputs(text, f) >= 0);
        assert_se(fclose(f) == 0);
}

static inline void write_exec(const char *path) {
        char full[4096];

        write_file(path, "#!/bin/sh\n");
        root_path(full, sizeof(full), path);
        assert_se(chmod(full, 0755) == 0);
}

static inline void remove_file(const char *path) {
        char full[4096];

        root_path(full, sizeof(full), path);
        assert_se(unlink(full) == 0);
}

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* Removes everything below root but keeps root itself. */
static inline void clean_root(void) {
        static const char *const top[] = { "/etc", "/run", "/usr", "/opt" };

        for (size_t i = 0; i < ELEMENTSOF(top); i++) {
                char full[4096];

                root_path(full, sizeof(full), top[i]);
                (void) nftw(full, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        }
}

/* Loads the config below root; asserts success and returns it. */
static inline Config *load_ok(void) {
        Config *c = NULL;
        char *errors = NULL;
        int r = config_load(root, &c, &errors);

        if (r < 0)
                fprintf(stderr, "unexpected errors:\n%s", errors ?: "(none)\n");
        assert_int(r, ==, 0);
        assert_se(c);
        assert_se(!errors);
        return c;
}

/* Loads the config below root; asserts failure and that the errors contain `expected`. */
static inline void load_fails(const char *expected) {
        Config *c = NULL;
        char *errors = NULL;
        int r = config_load(root, &c, &errors);

        if (r >= 0 || !errors || !strstr(errors, expected))
                fprintf(stderr, "expected an error containing \"%s\", got r=%d:\n%s", expected, r,
                        errors ?: "(none)\n");
        assert_int(r, ==, -EINVAL);
        assert_se(!c);
        assert_se(errors && strstr(errors, expected));
        free(errors);
}

/* Parses one in-memory file of `size` bytes; asserts failure with `expected` in the errors. */
static inline void parse_fails_size(const char *text, size_t size, const char *expected) {
        Config *c = NULL;
        char *errors = NULL;
        int r = config_parse_string(root, "/t.conf", text, size, &c, &errors);

        if (r >= 0 || !errors || !strstr(errors, expected))
                fprintf(stderr, "text:\n%s\nexpected an error containing \"%s\", got r=%d:\n%s", text,
                        expected, r, errors ?: "(none)\n");
        assert_int(r, ==, -EINVAL);
        assert_se(!c);
        assert_se(errors && strstr(errors, expected));
        free(errors);
}

static inline void parse_fails(const char *text, const char *expected) {
        parse_fails_size(text, strlen(text), expected);
}

static inline Config *parse_ok(const char *text) {
        Config *c = NULL;
        char *errors = NULL;
        int r = config_parse_string(root, "/t.conf", text, strlen(text), &c, &errors);

        if (r < 0)
                fprintf(stderr, "text:\n%s\nunexpected errors:\n%s", text, errors ?: "(none)\n");
        assert_int(r, ==, 0);
        assert_se(!errors);
        return c;
}

static inline const Profile *profile(const Config *c, const char *name) {
        const Profile *p = config_find_profile(c, name);

        assert_se(p);
        return p;
}

/* Each program's main(): runs the tests with a fresh temporary root, then removes it. */
static inline int test_config_main(void (*const tests[])(void), size_t n_tests) {
        if (!mkdtemp(root)) {
                perror("mkdtemp");
                return EXIT_TEST_SKIP;
        }
        for (size_t i = 0; i < n_tests; i++)
                tests[i]();

        clean_root();
        {
                char full[4096];

                snprintf(full, sizeof(full), "%s/srv", root);
                (void) nftw(full, rm_one, 16, FTW_DEPTH | FTW_PHYS);
                snprintf(full, sizeof(full), "%s/a", root);
                (void) rmdir(full);
        }
        assert_se(rmdir(root) == 0);
        return 0;
}
