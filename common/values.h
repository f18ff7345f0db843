/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Values in systemd's syntax, shared by pyward.conf (config.c) and the pyward(1) command line, so
 * that "--memory=1.5G" and "MemoryMax=1.5G" mean the same. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Value syntax shared with the man page, in systemd's style. All return 0 or -EINVAL/-ERANGE and
 * leave *ret untouched on failure. */
int parse_size(const char *s, uint64_t *ret);          /* "64M", "1.5G", "4096": K/M/G/T base 1024 */
int parse_timespan(const char *s, uint64_t *ret_usec); /* "2s", "500ms", "1min 30s"; bare: seconds */
int parse_boolean(const char *s, bool *ret);           /* yes/no, true/false, on/off, 1/0, y/n, t/f */
int parse_percent(const char *s, uint64_t *ret);       /* "20%" */
int parse_uint(const char *s, uint64_t *ret);          /* "42": digits only */
/* Exact, re-parseable renderings: 1073741824 -> "1G", 1536 MiB -> "1536M", 90 s -> "1min 30s". */
char *format_size(char *buf, size_t size, uint64_t bytes);
char *format_timespan(char *buf, size_t size, uint64_t usec);
#define FORMAT_VALUE_MAX 64
