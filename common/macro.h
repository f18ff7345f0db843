/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by every module: cleanup attributes, ownership transfer, array size.
 * Kept to the handful we actually use; see STYLE.md for why these habits. Includes nothing of the
 * project's, so that every other header can include it. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Around one function gcc's -fanalyzer misreads (scripts/lint), with a comment saying why; clang
 * (the fuzzers) knows no such warning and would fail the build on the pragma. */
#if defined(__GNUC__) && !defined(__clang__)
#define DISABLE_WARNING_ANALYZER_LEAK \
        _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wanalyzer-malloc-leak\"")
#define REENABLE_WARNING _Pragma("GCC diagnostic pop")
#else
#define DISABLE_WARNING_ANALYZER_LEAK
#define REENABLE_WARNING
#endif

/* Hand ownership of a pointer (or fd) to the caller and leave NULL (or -EBADF) behind. */
#define TAKE_PTR(p)                        \
        ({                                 \
                __typeof__(p) _ptr_ = (p); \
                (p) = NULL;                \
                _ptr_;                     \
        })
#define TAKE_FD(fd)              \
        ({                       \
                int _fd_ = (fd); \
                (fd) = -EBADF;   \
                _fd_;            \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p) {   \
                if (*p)                         \
                        *p = func(*p);          \
        }
