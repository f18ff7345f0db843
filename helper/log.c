/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's log sink declared in log.h: one line per message, to the sink the helper set
 * (the journal with the connection's fields) or to stderr with an sd-daemon level prefix. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

int log_max_level = LOG_INFO;
log_sink_t log_sink = NULL;

int log_internal(int level, int error, const char *format, ...) {
        int saved = errno;
        va_list ap;

        if (error < 0)
                error = -error;
        if (level <= log_max_level && log_sink) {
                char buf[2048];

                errno = error;
                va_start(ap, format);
                (void) vsnprintf(buf, sizeof(buf), format, ap);
                va_end(ap);
                if (log_sink(level, error, buf) >= 0) {
                        errno = saved;
                        return -error;
                }
                fprintf(stderr, "<%d>%s\n", level, buf);
        } else if (level <= log_max_level) {
                /* Make %m print the error we were handed, not whatever errno happens to be. */
                errno = error;
                fprintf(stderr, "<%d>", level);
                va_start(ap, format);
                vfprintf(stderr, format, ap);
                va_end(ap);
                fputc('\n', stderr);
        }
        errno = saved;
        return -error;
}
