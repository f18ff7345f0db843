/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding and reading pyward.conf and its drop-ins (systemd's masking and ordering), each file
 * bounded in size and count, and fed to the parser in the order of application. */

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config-internal.h"
#include "config-paths.h"

static int read_file_below(const char *root, const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL, *full = NULL;
        struct stat st;
        size_t n = 0;

        if (asprintf(&full, "%s%s", strcmp(root, "/") == 0 ? "" : root, path) < 0)
                return -ENOMEM;
        /* O_NONBLOCK: a FIFO dropped into a conf.d must not hang the helper. */
        fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (st.st_size > CONFIG_FILE_SIZE_MAX)
                return -EFBIG;
        buf = malloc(CONFIG_FILE_SIZE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, CONFIG_FILE_SIZE_MAX + 1 - n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > CONFIG_FILE_SIZE_MAX)
                        return -EFBIG;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static int feed_file(Parser *p, const char *path, bool missing_ok) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r;

        r = read_file_below(p->root, path, &text, &size);
        if (r == -ENOENT && missing_ok)
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r == -EBADFD) {
                parser_error(p, path, "not a regular file");
                return 0;
        }
        if (r == -EFBIG) {
                parser_error(p, path, "file too large (at most %d bytes)", CONFIG_FILE_SIZE_MAX);
                return 0;
        }
        if (r < 0) {
                parser_error(p, path, "cannot read: %s", strerror(-r));
                return 0;
        }
        return parser_feed(p, path, text, size);
}

/* Collects drop-in names from the directories in priority order: a name seen in an earlier
 * (higher-priority) directory masks the same name in later ones, as systemd's conf.d do. */
static int collect_dropins(Parser *p, const char *const *dirs, size_t n_dirs, char ***ret_paths) {
        _cleanup_strv_free_ char **names = NULL, **paths = NULL;
        size_t n = 0;

        for (size_t d = 0; d < n_dirs; d++) {
                char *full;
                DIR *dir;
                struct dirent *de;
                int r;

                /* No _cleanup_ here: asprintf() leaves full undefined when it fails, and gcc 12's
                 * analyzer reports a _cleanup_ variable of a loop body left by continue as
                 * uninitialized. Freed right after its one use. */
                if (asprintf(&full, "%s%s", strcmp(p->root, "/") == 0 ? "" : p->root, dirs[d]) < 0)
                        return -ENOMEM;
                dir = opendir(full);
                r = dir ? 0 : -errno;
                free(full);
                if (!dir) {
                        if (r != -ENOENT && r != -ENOTDIR)
                                parser_error(p, dirs[d], "cannot read directory: %s", strerror(-r));
                        continue;
                }
                while ((de = readdir(dir))) {
                        size_t l = strlen(de->d_name);
                        bool seen = false;
                        char *path;

                        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".conf") != 0)
                                continue;
                        for (size_t i = 0; i < n && !seen; i++)
                                seen = strcmp(names[i], de->d_name) == 0;
                        if (seen)
                                continue;
                        if (n >= CONFIG_FILES_MAX) {
                                parser_error(p, dirs[d], "too many drop-ins (at most %d)", CONFIG_FILES_MAX);
                                break;
                        }
                        if (asprintf(&path, "%s/%s", dirs[d], de->d_name) < 0) {
                                closedir(dir);
                                return -ENOMEM;
                        }
                        if (strv_extend(&names, de->d_name) < 0 || strv_extend(&paths, path) < 0) {
                                free(path);
                                closedir(dir);
                                return -ENOMEM;
                        }
                        free(path);
                        n++;
                }
                closedir(dir);
        }
        /* Apply in lexical order of the file name, whichever directory it came from. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                        char *t = names[j];
                        names[j] = names[j - 1];
                        names[j - 1] = t;
                        t = paths[j];
                        paths[j] = paths[j - 1];
                        paths[j - 1] = t;
                }
        *ret_paths = TAKE_PTR(paths);
        return 0;
}

int config_load(const char *root, Config **ret, char **ret_errors) {
        static const char *const dirs[] = {
                SYSCONFDIR "/pyward/pyward.conf.d",
                RUNSTATEDIR "/pyward/pyward.conf.d",
                PKGLIBDIR "/pyward.conf.d",
        };
        _cleanup_strv_free_ char **dropins = NULL;
        Parser p;
        int r;

        if (!root || root[0] != '/' || !ret)
                return -EINVAL;
        r = parser_init(&p, root);
        if (r < 0)
                return r;
        r = feed_file(&p, SYSCONFDIR "/pyward/pyward.conf", true);
        if (r >= 0)
                r = collect_dropins(&p, dirs, ELEMENTSOF(dirs), &dropins);
        for (char **d = dropins; r >= 0 && d && *d; d++) {
                struct stat st;

                /* A symlink to /dev/null (or any non-regular file that stat resolves to a
                 * character device) masks the drop-in, as in systemd. */
                if (root_stat(root, *d, &st) >= 0 && S_ISCHR(st.st_mode))
                        continue;
                r = feed_file(&p, *d, true);
        }
        if (r >= 0)
                r = parser_finish(&p, ret, ret_errors);
        parser_done(&p);
        return r;
}
