/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward --files-out: creating the files a job returned under one directory without ever following
 * a link or leaving it. Every component is opened relative to its parent with O_NOFOLLOW, the file
 * itself is created with O_EXCL; the helper's path is checked again with file_path_valid(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define FILES_OUT_DIR_MODE 0700    /* DIR itself, when pyward creates it */
#define FILES_OUT_SUBDIR_MODE 0755 /* directories below DIR (the umask applies) */
#define FILES_OUT_MODE_MASK 0755   /* what of the helper's mode a file keeps: no setuid/setgid/sticky */

/* One file being written: its descriptor, its directory and its last component, so that a file
 * whose writing failed can be removed without resolving its path again. */
typedef struct OutFile {
        int fd;
        int parent_fd;
        char *name;
} OutFile;

#define OUT_FILE_NULL ((OutFile) { .fd = -EBADF, .parent_fd = -EBADF })

/* Opens DIR for --files-out (following links: it is the user's own path), creating it with
 * FILES_OUT_DIR_MODE if it does not exist (its parent must). 0 or a negative errno. */
int files_out_open_dir(const char *path, int *ret_fd);

/* Creates `path` (n bytes, not NUL-terminated) below dir_fd, making the missing directories on
 * the way. An existing entry is an error (-EEXIST) unless overwrite: then a non-directory entry
 * (a symbolic link too: it is never written through) is removed and the file created anew. On
 * failure a negative errno, with *ret_where the length of the prefix of path whose last component
 * failed (n for the file itself, 0 for a path that is not valid: -EINVAL); nothing is created
 * then, except directories on the way. */
int files_out_create(int dir_fd, const char *path, size_t n, mode_t mode, bool overwrite, OutFile *ret,
                     size_t *ret_where);
/* What a failure of files_out_create() means, for the message naming the file. */
const char *files_out_strerror(int r, bool at_file);

int out_file_write(OutFile *f, const void *p, size_t n);
/* Closes the file: 0, or the negative errno of a failed close() (the file is removed then). */
int out_file_finish(OutFile *f);
/* Removes and closes a file whose writing failed. */
void out_file_abandon(OutFile *f);
void out_file_done(OutFile *f);
