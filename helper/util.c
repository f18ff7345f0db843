/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The few generic helpers declared in macro.h and log.h: string vectors and the log sink. */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "macro.h"

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

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
        return NULL;
}

size_t strv_length(char * const *l) {
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

char **strv_copy(char * const *l) {
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
