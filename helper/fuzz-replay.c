/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs a fuzzer's entry point over corpus files without libFuzzer, so every checked-in seed and
 * crash reproducer is replayed by the normal test suite. Arguments: files or directories. */

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Corpus files are small; anything larger than this is a mistake in the corpus. */
#define REPLAY_FILE_MAX (4U * 1024U * 1024U)

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int replay_file(int dir_fd, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -errno;
        }
        if (st.st_size > REPLAY_FILE_MAX) {
                fprintf(stderr, "%s: larger than %u bytes\n", path, REPLAY_FILE_MAX);
                return -EFBIG;
        }
        /* One extra byte, so an empty file still gets a valid pointer. */
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        fprintf(stderr, "%s: short read\n", path);
                        return -EIO;
                }
                n += (size_t) k;
        }
        LLVMFuzzerTestOneInput(buf, n);
        return 0;
}

int main(int argc, char **argv) {
        size_t count = 0;
        int failed = 0;

        for (int i = 1; i < argc; i++) {
                _cleanup_close_ int dfd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                DIR *d;
                struct dirent *de;

                if (dfd < 0) {
                        if (replay_file(AT_FDCWD, argv[i]) < 0)
                                failed++;
                        else
                                count++;
                        continue;
                }
                d = fdopendir(TAKE_FD(dfd));
                if (!d)
                        return 1;
                while ((de = readdir(d))) {
                        /* Skip dot files and the generator script that lives beside the seeds. */
                        if (de->d_name[0] == '.' || has_suffix(de->d_name, ".py") ||
                            has_suffix(de->d_name, ".md"))
                                continue;
                        if (replay_file(dirfd(d), de->d_name) < 0)
                                failed++;
                        else
                                count++;
                }
                closedir(d);
        }
        printf("replayed %zu inputs\n", count);
        if (count == 0) {
                fprintf(stderr, "no corpus inputs found\n");
                return 1;
        }
        return failed > 0 ? 1 : 0;
}
