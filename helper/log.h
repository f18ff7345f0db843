/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging: one line per decision, to stderr (which systemd hands to the journal) with an
 * sd-daemon level prefix, so `journalctl -u pyward-helper@*` shows priorities. */
#pragma once

#include <errno.h>
#include <syslog.h>

#include "macro.h"

extern int log_max_level;

/* Where log_internal() sends a formatted line; NULL (the default): stderr. The helper sets one that
 * writes to the journal with the connection's fields (PYWARD_JOB=, journal.c), and falls back to
 * stderr. */
typedef int (*log_sink_t)(int level, int error, const char *message);
extern log_sink_t log_sink;

/* Logs and returns -abs(error) so callers can `return log_error_errno(r, "...: %m");`.
 * %m expands to strerror(abs(error)). */
int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);

#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_internal(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_ERR, (e), __VA_ARGS__)
#define log_oom() log_internal(LOG_ERR, ENOMEM, "Out of memory.")
