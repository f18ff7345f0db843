/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every part of pyward(1) shares: its exit statuses and its one way of reporting an error
 * (a "pyward: " line on stderr; the caller then exits EXIT_PYWARD). */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "macro.h"

#define EXIT_TIMEOUT 124 /* like timeout(1) */
#define EXIT_PYWARD 125  /* pyward itself failed: like timeout(1) and env(1) */

_printf_(1, 2) static inline int fail(const char *format, ...) {
        va_list ap;

        fputs("pyward: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -EINVAL;
}
