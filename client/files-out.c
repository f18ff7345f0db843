/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The no-follow writer of pyward --files-out (files-out.h): openat() from DIR one component at a
 * time, O_NOFOLLOW everywhere, O_EXCL for the file, never a path resolved as a whole. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files-out.h"
#include "macro.h"
#include "protocol.h"

int files_out_open_dir(const char *path, int *ret_fd) {
        for (int attempt = 0; attempt < 2; attempt++) {
                int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0) {
                        *ret_fd = fd;
                        return 0;
                }
                if (errno != ENOENT)
                        return -errno;
                if (mkdir(path, FILES_OUT_DIR_MODE) < 0 && errno != EEXIST)
                        return -errno;
        }
        return -ENOENT;
}

/* -ELOOP for a symbolic link even where the kernel said ENOTDIR (O_DIRECTORY checked first). */
static int why_not_directory(int parent, const char *name, int r) {
        struct stat st;

        if (r == -ENOTDIR && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
                return -ELOOP;
        return r;
}

/* The directory `name` below parent, made if missing; never a link to one. */
static int open_subdir(int parent, const char *name, int *ret) {
        for (int attempt = 0; attempt < 2; attempt++) {
                int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0) {
                        *ret = fd;
                        return 0;
                }
                if (errno != ENOENT)
                        return why_not_directory(parent, name, -errno);
                if (mkdirat(parent, name, FILES_OUT_SUBDIR_MODE) < 0 && errno != EEXIST)
                        return -errno;
        }
        return -ENOENT;
}

static int create_exclusive(int parent, const char *name, mode_t mode) {
        int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode);

        return fd >= 0 ? fd : -errno;
}

/* O_EXCL: whatever is there (a link, a FIFO, a file) is never opened. With overwrite, an entry
 * that is not a directory is removed first; a second EEXIST (a race with someone else) fails. */
static int create_file(int parent, const char *name, mode_t mode, bool overwrite) {
        struct stat st;
        int fd;

        fd = create_exclusive(parent, name, mode);
        if (fd != -EEXIST || !overwrite)
                return fd;
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return create_exclusive(parent, name, mode);
}

int files_out_create(int dir_fd, const char *path, size_t n, mode_t mode, bool overwrite, OutFile *ret,
                     size_t *ret_where) {
        _cleanup_free_ char *copy = NULL;
        _cleanup_close_ int cur = -EBADF;
        const char *why;
        char *comp, *slash;
        int fd, r;

        *ret_where = 0;
        if (!file_path_valid(path, n, &why))
                return -EINVAL;
        copy = strndup(path, n); /* no NUL inside: file_path_valid() */
        if (!copy)
                return -ENOMEM;
        cur = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;
        for (comp = copy; (slash = strchr(comp, '/')); comp = slash + 1) {
                int next = -EBADF;

                *slash = '\0';
                r = open_subdir(cur, comp, &next);
                if (r < 0) {
                        *ret_where = (size_t) (slash - copy);
                        return r;
                }
                safe_close(cur);
                cur = next;
        }
        fd = create_file(cur, comp, mode & FILES_OUT_MODE_MASK, overwrite);
        if (fd < 0) {
                *ret_where = n;
                return fd;
        }
        memmove(copy, comp, strlen(comp) + 1);
        *ret = (OutFile) { .fd = fd, .parent_fd = TAKE_FD(cur), .name = TAKE_PTR(copy) };
        return 0;
}

const char *files_out_strerror(int r, bool at_file) {
        /* clang-format off */
        switch (r) {
        case -EINVAL: return "not a valid path";
        case -ELOOP:  return "a symbolic link: not followed";
        case -ENOTDIR: return "not a directory";
        case -EISDIR: return "a directory is in the way";
        case -EEXIST: return at_file ? "it exists (--overwrite replaces it)" : strerror(-r);
        default:      return strerror(-r);
        }
        /* clang-format on */
}

int out_file_write(OutFile *f, const void *p, size_t n) {
        const uint8_t *b = p;

        while (n > 0) {
                ssize_t k = write(f->fd, b, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

int out_file_finish(OutFile *f) {
        int r = 0;

        /* close() reports a delayed write error (NFS, quotas): then the file is not whole. */
        if (f->fd >= 0 && close(f->fd) < 0 && errno != EINTR)
                r = -errno;
        f->fd = -EBADF;
        if (r < 0)
                out_file_abandon(f);
        out_file_done(f);
        return r;
}

void out_file_abandon(OutFile *f) {
        if (f->parent_fd >= 0 && f->name)
                (void) unlinkat(f->parent_fd, f->name, 0);
        out_file_done(f);
}

void out_file_done(OutFile *f) {
        f->fd = safe_close(f->fd);
        f->parent_fd = safe_close(f->parent_fd);
        free(f->name);
        f->name = NULL;
}
