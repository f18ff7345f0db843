/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The unit tests' whole framework: assertions that name file:line and the failed expression, and
 * the exit code meson reads as "skipped". Include once per test program. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_TEST_SKIP 77

#define assert_se(expr)                                                                                    \
        do {                                                                                               \
                if (!(expr)) {                                                                             \
                        fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", __FILE__, __LINE__, __func__, \
                                #expr);                                                                    \
                        abort();                                                                           \
                }                                                                                          \
        } while (0)

/* Compares integers and prints both values on failure. */
#define assert_int(a, op, b)                                                                                \
        do {                                                                                                \
                long long _a = (long long) (a), _b = (long long) (b);                                       \
                if (!(_a op _b)) {                                                                          \
                        fprintf(stderr, "%s:%d: %s: assertion failed: %s %s %s (%lld vs %lld)\n", __FILE__, \
                                __LINE__, __func__, #a, #op, #b, _a, _b);                                   \
                        abort();                                                                            \
                }                                                                                           \
        } while (0)

#define assert_streq(a, b)                                                                            \
        do {                                                                                          \
                const char *_a = (a), *_b = (b);                                                      \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                              \
                        fprintf(stderr, "%s:%d: %s: assertion failed: %s == %s (\"%s\" vs \"%s\")\n", \
                                __FILE__, __LINE__, __func__, #a, #b, _a ? _a : "(null)",             \
                                _b ? _b : "(null)");                                                  \
                        abort();                                                                      \
                }                                                                                     \
        } while (0)
