/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The discovery cache: one file per profile, "pyward-discovery 1", the fingerprint lines, an empty
 * line, the report; looked up by recomputing the fingerprint and comparing it byte for byte. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover-cache.h"
#include "str.h"

#define CACHE_MAGIC "pyward-discovery 1\n"

/* --- the fingerprint --------------------------------------------------------------------------- */

/* Under the job's own writable places (each a private tmpfs in the job), or not normalized: the
 * host's file of that name says nothing about what the job saw. */
static bool sitedir_skipped(const char *path) {
        static const char *const own[] = { "/tmp", "/var/tmp", "/dev/shm" };

        for (size_t i = 0; i < ELEMENTSOF(own); i++) {
                size_t n = strlen(own[i]);

                if (strncmp(path, own[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
                        return true;
        }
        for (const char *c = path; *c; c += strcspn(c, "/")) {
                size_t n;

                c += strspn(c, "/");
                n = strcspn(c, "/");
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return true;
        }
        return strstr(path, "//") != NULL;
}

static uint64_t mtime_usec(const struct stat *st) {
        return (uint64_t) st->st_mtim.tv_sec * 1000000U + (uint64_t) st->st_mtim.tv_nsec / 1000U;
}

static bool changed_since(const struct stat *st, uint64_t since_usec) {
        return since_usec != 0 && mtime_usec(st) >= since_usec;
}

int discover_fingerprint(const Profile *p, char *const *sitedirs, size_t n_sitedirs,
                         uint64_t changed_since_usec, Buffer *b) {
        char t[128];
        struct stat st;
        int r;

        r = discover_line_append(b, "interpreter", p->interpreter ?: "");
        if (r < 0)
                return r;
        /* stat() follows the links: a venv's bin/python3 -> /usr/bin/python3.11 is that file. */
        if (!p->interpreter || stat(p->interpreter, &st) < 0)
                snprintf(t, sizeof(t), "missing");
        else {
                if (changed_since(&st, changed_since_usec))
                        return -ESTALE;
                snprintf(t, sizeof(t), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 ".%09ld",
                         (uint64_t) st.st_dev, (uint64_t) st.st_ino, (uint64_t) st.st_size,
                         (uint64_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        }
        r = discover_line_append(b, "interpreter_file", t);
        for (char **a = p->interpreter_args; r >= 0 && a && *a; a++)
                r = discover_line_append(b, "arg", *a);
        for (char **a = p->read_only_paths; r >= 0 && a && *a; a++)
                r = discover_line_append(b, "read_only_path", *a);
        for (size_t i = 0; r >= 0 && i < n_sitedirs; i++) {
                _cleanup_free_ char *line = NULL;

                if (sitedir_skipped(sitedirs[i]))
                        snprintf(t, sizeof(t), "skipped");
                else if (stat(sitedirs[i], &st) < 0)
                        snprintf(t, sizeof(t), "missing");
                else if (changed_since(&st, changed_since_usec))
                        return -ESTALE;
                else
                        snprintf(t, sizeof(t), "%" PRIu64 ".%09ld", (uint64_t) st.st_mtim.tv_sec,
                                 st.st_mtim.tv_nsec);
                if (asprintf(&line, "%s %s", t, sitedirs[i]) < 0)
                        return -ENOMEM;
                r = discover_line_append(b, "sitedir_mtime", line);
        }
        return r;
}

/* --- the directory ----------------------------------------------------------------------------- */

/* The directory, if it is ours alone: the files in it are trusted to be the helper's. */
static int cache_dir_open(const char *dir, bool create) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
                /* Called after the lockdown: mkdirat(), renameat() (renameat2() where there is
                 * no renameat) and unlinkat() are in lockdown.c's allowlist for the cache. */
                if (mkdirat(AT_FDCWD, dir, 0700) < 0 && errno != EEXIST)
                        return -errno;
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_uid != geteuid() || (st.st_mode & 0077) != 0)
                return -EPERM;
        return TAKE_FD(fd);
}

static int cache_file_name(const Profile *p, const char *suffix, char *buf, size_t size) {
        /* Profile names are [A-Za-z0-9_.-], 1..64 (config-parse.c): no '/', and ".info" follows. */
        if (!p->name || strchr(p->name, '/') ||
            (size_t) snprintf(buf, size, "%s.info%s", p->name, suffix) >= size)
                return -EINVAL;
        return 0;
}

/* --- reading ----------------------------------------------------------------------------------- */

static int read_all(int fd, Buffer *b, size_t max) {
        for (;;) {
                ssize_t n;
                int r;

                r = buffer_reserve(b, 64 * 1024);
                if (r < 0)
                        return r;
                n = read(fd, b->data + b->size, b->allocated - b->size);
                if (n < 0)
                        return errno == EINTR ? 0 : -errno;
                if (n == 0)
                        return 0;
                b->size += (size_t) n;
                if (b->size > max)
                        return -EFBIG;
        }
}

int discover_cache_load(const char *dir, const Profile *p, DiscoverInfo *ret, const char **ret_why) {
        _cleanup_(discover_info_done) DiscoverInfo info = {};
        _cleanup_(buffer_done) Buffer file = {}, now = {};
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        const char *why = NULL, **w = ret_why ?: &why;
        const uint8_t *sep;
        char name[128];
        struct stat st;
        size_t head;
        int r;

        if (cache_file_name(p, "", name, sizeof(name)) < 0) {
                *w = "refused: no file name for the profile";
                return 0;
        }
        dfd = cache_dir_open(dir, false);
        if (dfd == -ENOENT) {
                *w = "no cache file";
                return 0;
        }
        if (dfd < 0) {
                *w = dfd == -EPERM ? "refused: the cache directory is not the helper's alone"
                                   : "refused: the cache directory cannot be opened";
                return 0;
        }
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                *w = errno == ENOENT ? "no cache file" : "refused: the cache file cannot be opened";
                return 0;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                *w = "refused: not a regular file";
                return 0;
        }
        if ((uint64_t) st.st_size > DISCOVER_CACHE_FILE_MAX) {
                *w = "refused: larger than DISCOVER_CACHE_FILE_MAX";
                return 0;
        }
        r = read_all(fd, &file, DISCOVER_CACHE_FILE_MAX);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                *w = r == -EFBIG ? "refused: larger than DISCOVER_CACHE_FILE_MAX" : "refused: read failed";
                return 0;
        }
        /* Magic, the fingerprint lines, "\n", the report. */
        if (file.size < strlen(CACHE_MAGIC) || memcmp(file.data, CACHE_MAGIC, strlen(CACHE_MAGIC)) != 0) {
                *w = "refused: not a cache file of this version";
                return 0;
        }
        sep = file.size > 1 ? memmem(file.data, file.size, "\n\n", 2) : NULL;
        if (!sep) {
                *w = "refused: no end of the fingerprint";
                return 0;
        }
        head = (size_t) (sep - file.data) + 1;
        r = discover_info_parse(file.data + head + 1, file.size - head - 1, &info, w);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* *w says why the report is refused */
        r = buffer_append(&now, CACHE_MAGIC, strlen(CACHE_MAGIC));
        if (r >= 0)
                r = discover_fingerprint(p, info.sitedirs, info.n_sitedirs, 0, &now);
        if (r < 0)
                return r;
        if (now.size != head || memcmp(now.data, file.data, head) != 0) {
                *w = "stale";
                return 0;
        }
        *ret = info;
        info = (DiscoverInfo) {};
        return 1;
}

/* --- writing ----------------------------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int discover_cache_store(const char *dir, const Profile *p, const DiscoverInfo *info,
                         uint64_t changed_since_usec) {
        _cleanup_(buffer_done) Buffer b = {};
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        char name[128], tmp[128], pid[32];
        int r;

        snprintf(pid, sizeof(pid), ".%d", (int) getpid());
        if (cache_file_name(p, "", name, sizeof(name)) < 0 ||
            cache_file_name(p, pid, tmp + 1, sizeof(tmp) - 1) < 0)
                return -EINVAL;
        tmp[0] = '.'; /* ".NAME.info.PID": never taken for a cache file */
        r = buffer_append(&b, CACHE_MAGIC, strlen(CACHE_MAGIC));
        if (r >= 0)
                r = discover_fingerprint(p, info->sitedirs, info->n_sitedirs, changed_since_usec, &b);
        if (r >= 0)
                r = buffer_append(&b, "\n", 1);
        if (r >= 0)
                r = discover_info_format(info, &b);
        if (r < 0)
                return r;
        if (b.size > DISCOVER_CACHE_FILE_MAX)
                return -EFBIG;

        dfd = cache_dir_open(dir, true);
        if (dfd < 0)
                return dfd;
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) {
                /* Left by a helper of the same pid that died mid-write. */
                (void) unlinkat(dfd, tmp, 0);
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        }
        if (fd < 0)
                return -errno;
        r = write_all(fd, b.data, b.size);
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, tmp, 0);
        return r;
}
