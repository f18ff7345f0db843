/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the discovery cache in a temporary directory: a miss, a hit, each part of the fingerprint
 * changing, and files that are refused (corrupt, oversized, a symlink, a shared directory) and
 * then refreshed by the next store. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buffer.h"
#include "discover-cache.h"
#include "str.h"
#include "test.h"

static char base[4096]; /* the test's directory, outside the skipped /tmp, /var/tmp, /dev/shm */
static char cache[4200], interp[4200], site[4200];

static bool under_job_tmp(const char *p) {
        return strncmp(p, "/tmp/", 5) == 0 || strncmp(p, "/var/tmp/", 9) == 0 ||
               strncmp(p, "/dev/shm/", 9) == 0;
}

/* The build directory if it is not under /tmp, else $HOME; NULL if neither will do. */
static bool make_base(void) {
        const char *candidates[] = { ".", getenv("HOME") };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                char d[4096], *abs;

                if (!candidates[i] ||
                    snprintf(d, sizeof(d), "%s/test-discover-cache-XXXXXX", candidates[i]) >= (int) sizeof(d))
                        continue;
                if (!mkdtemp(d))
                        continue;
                abs = realpath(d, NULL);
                if (abs && !under_job_tmp(abs)) {
                        snprintf(base, sizeof(base), "%s", abs);
                        free(abs);
                        return true;
                }
                free(abs);
                (void) rmdir(d);
        }
        return false;
}

static void write_file(const char *path, const void *data, size_t n, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_se(fd >= 0);
        assert_int(write(fd, data, n), ==, (ssize_t) n);
        assert_se(close(fd) == 0);
}

/* Moves a path's mtime one second away, as a package install would. */
static void touch_later(const char *path) {
        struct stat st;
        struct timespec ts[2];

        assert_se(stat(path, &st) == 0);
        ts[0] = st.st_atim;
        ts[1] = st.st_mtim;
        ts[1].tv_sec += 1;
        assert_se(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

static int load(const Profile *p, DiscoverInfo *i, const char **why) {
        discover_info_done(i);
        *why = NULL;
        return discover_cache_load(cache, p, i, why);
}

static void test_cache(void) {
        char *args[] = { (char *) "-I", NULL, NULL };
        char *ro[] = { NULL, NULL };
        char *sitedirs[] = { site, (char *) "/tmp/pyward-test-job-own", NULL };
        Profile p = {
                .name = (char *) "numpy",
                .interpreter = interp,
                .interpreter_args = args,
                .read_only_paths = ro,
                .enabled = true,
        };
        DiscoverInfo info = {
                .python = (char *) "3.11.2",
                .packages = (char *[]) { (char *) "numpy 1.24.2", NULL },
                .n_packages = 1,
                .sitedirs = sitedirs,
                .n_sitedirs = 2,
        };
        DiscoverInfo got = {};
        const char *why = NULL;
        char path[4400];
        struct stat st;

        /* No directory yet: a miss; the store creates it 0700. */
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "no cache file");
        assert_int(discover_cache_store(cache, &p, &info, 0), ==, 0);
        assert_se(stat(cache, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
        snprintf(path, sizeof(path), "%s/numpy.info", cache);
        assert_se(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);

        /* A hit, parsed back; another profile is a miss. */
        assert_int(load(&p, &got, &why), ==, 1);
        assert_streq(got.python, "3.11.2");
        assert_int(got.n_packages, ==, 1);
        assert_streq(got.packages[0], "numpy 1.24.2");
        assert_int(got.n_sitedirs, ==, 2);
        p.name = (char *) "other";
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "no cache file");
        p.name = (char *) "numpy";

        /* The fingerprint: the sitedir's mtime (a new .dist-info), the interpreter file, its args,
         * the read-only paths, the interpreter path; each change makes the entry stale. */
        touch_later(site);
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "stale");
        assert_int(discover_cache_store(cache, &p, &info, 0), ==, 0);
        assert_int(load(&p, &got, &why), ==, 1);

        /* A sitedir under /tmp is the job's own: not part of the fingerprint's mtimes. */
        (void) mkdir("/tmp/pyward-test-job-own", 0700);
        touch_later("/tmp/pyward-test-job-own");
        assert_int(load(&p, &got, &why), ==, 1);
        (void) rmdir("/tmp/pyward-test-job-own");
        assert_int(load(&p, &got, &why), ==, 1);

        touch_later(interp);
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "stale");
        assert_int(discover_cache_store(cache, &p, &info, 0), ==, 0);
        assert_int(load(&p, &got, &why), ==, 1);
        write_file(interp, "#!/bin/sh\n#longer\n", 18, 0755); /* same mtime second maybe, other size */
        assert_int(load(&p, &got, &why), ==, 0);
        assert_int(discover_cache_store(cache, &p, &info, 0), ==, 0);

        args[1] = (char *) "-S";
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "stale");
        args[1] = NULL;
        assert_int(load(&p, &got, &why), ==, 1);
        ro[0] = (char *) "/opt/pyward-numpy";
        assert_int(load(&p, &got, &why), ==, 0);
        ro[0] = NULL;
        p.interpreter = (char *) "/nonexistent/python3";
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "stale");
        p.interpreter = interp;
        assert_int(load(&p, &got, &why), ==, 1);

        /* A report from a run that started before the last change is not kept. */
        assert_int(discover_cache_store(cache, &p, &info, 1), ==, -ESTALE);
        assert_int(discover_cache_store(cache, &p, &info, (uint64_t) (time(NULL) + 3600) * 1000000U), ==, 0);

        /* Corrupt files are refused, and the next store replaces them. */
        static const struct {
                const char *text, *why;
        } corrupt[] = {
                { "", "refused: not a cache file of this version" },
                { "garbage\n", "refused: not a cache file of this version" },
                { "pyward-discovery 1\ninterpreter=/x\n", "refused: no end of the fingerprint" },
                { "pyward-discovery 1\ninterpreter=/x\n\npython=3\nsitedir=relative\n",
                  "sitedir= is not an absolute path" },
                { "pyward-discovery 1\ninterpreter=/x\n\npackage=a 1\n", "no python= line" },
                { "pyward-discovery 1\ninterpreter=/x\n\npython=3\n", "stale" },
        };
        for (size_t k = 0; k < ELEMENTSOF(corrupt); k++) {
                write_file(path, corrupt[k].text, strlen(corrupt[k].text), 0600);
                assert_int(load(&p, &got, &why), ==, 0);
                assert_streq(why, corrupt[k].why);
                assert_int(discover_cache_store(cache, &p, &info, 0), ==, 0);
                assert_int(load(&p, &got, &why), ==, 1);
        }
        {
                /* The fingerprint line of a real entry, with a report that is not one. */
                _cleanup_(buffer_done) Buffer b = {};
                char sitedir_line[8192];
                int n;

                assert_int(buffer_append(&b, "pyward-discovery 1\n", 19), ==, 0);
                assert_int(discover_fingerprint(&p, sitedirs, 0, 0, &b), ==, 0);
                n = snprintf(sitedir_line, sizeof(sitedir_line), "\npython=3.11.2\npython=3.11.2\n");
                assert_int(buffer_append(&b, sitedir_line, (size_t) n), ==, 0);
                write_file(path, b.data, b.size, 0600);
                assert_int(load(&p, &got, &why), ==, 0);
                assert_streq(why, "python= twice");
        }

        /* Oversized: refused without being parsed. */
        {
                int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

                assert_se(fd >= 0);
                assert_se(ftruncate(fd, DISCOVER_CACHE_FILE_MAX + 1) == 0);
                assert_se(close(fd) == 0);
        }
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "refused: larger than DISCOVER_CACHE_FILE_MAX");
        assert_int(discover_cache_store(cache, &p, &info, 0), ==, 0);
        assert_int(load(&p, &got, &why), ==, 1);

        /* A symlink in its place is not followed. */
        assert_se(unlink(path) == 0);
        assert_se(symlink(interp, path) == 0);
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "refused: the cache file cannot be opened");
        assert_int(discover_cache_store(cache, &p, &info, 0), ==, 0);
        assert_se(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
        assert_int(load(&p, &got, &why), ==, 1);

        /* A directory others may read is not trusted: neither read nor written. */
        assert_se(chmod(cache, 0755) == 0);
        assert_int(load(&p, &got, &why), ==, 0);
        assert_streq(why, "refused: the cache directory is not the helper's alone");
        assert_int(discover_cache_store(cache, &p, &info, 0), ==, -EPERM);
        assert_se(chmod(cache, 0700) == 0);
        assert_int(load(&p, &got, &why), ==, 1);

        /* No temporary file is left behind. */
        snprintf(path, sizeof(path), "%s/.numpy.info.%d", cache, (int) getpid());
        assert_se(access(path, F_OK) < 0 && errno == ENOENT);
        discover_info_done(&got);
}

/* The fingerprint's text: what each line says of each part. */
static void test_fingerprint(void) {
        char *args[] = { (char *) "-I", NULL };
        char *ro[] = { (char *) "/opt/x", NULL };
        char *sitedirs[] = { site,
                             (char *) "/tmp",
                             (char *) "/var/tmp/v",
                             (char *) "/dev/shm/s",
                             (char *) "/usr/../tmp/x",
                             (char *) "/usr/./lib",
                             (char *) "/usr//lib",
                             (char *) "/tmpfoo-not-skipped-but-missing",
                             NULL };
        Profile p = {
                .name = (char *) "fp",
                .interpreter = (char *) "/nonexistent/python3",
                .interpreter_args = args,
                .read_only_paths = ro,
        };
        _cleanup_(buffer_done) Buffer b = {};
        struct stat st;
        char want[8192], link[4400];
        int n;

        assert_se(stat(site, &st) == 0);
        assert_int(discover_fingerprint(&p, sitedirs, 8, 0, &b), ==, 0);
        n = snprintf(want, sizeof(want),
                     "interpreter=/nonexistent/python3\n"
                     "interpreter_file=missing\n"
                     "arg=-I\n"
                     "read_only_path=/opt/x\n"
                     "sitedir_mtime=%lld.%09ld %s\n"
                     "sitedir_mtime=skipped /tmp\n"
                     "sitedir_mtime=skipped /var/tmp/v\n"
                     "sitedir_mtime=skipped /dev/shm/s\n"
                     "sitedir_mtime=skipped /usr/../tmp/x\n"
                     "sitedir_mtime=skipped /usr/./lib\n"
                     "sitedir_mtime=skipped /usr//lib\n"
                     "sitedir_mtime=missing /tmpfoo-not-skipped-but-missing\n",
                     (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec, site);
        assert_int(b.size, ==, n);
        assert_se(memcmp(b.data, want, b.size) == 0);

        /* The interpreter as stat() sees it, through a link (a venv's bin/python3): the file's
         * device, inode, size, mtime. */
        snprintf(link, sizeof(link), "%s/python3-link", base);
        assert_se(symlink(interp, link) == 0);
        p.interpreter = link;
        b.size = 0;
        assert_int(discover_fingerprint(&p, NULL, 0, 0, &b), ==, 0);
        assert_se(unlink(link) == 0);
        assert_se(stat(interp, &st) == 0);
        n = snprintf(want, sizeof(want), "interpreter=%s\ninterpreter_file=%llu %llu %lld %lld.%09ld\n", link,
                     (unsigned long long) st.st_dev, (unsigned long long) st.st_ino, (long long) st.st_size,
                     (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        assert_se(b.size > (size_t) n && memcmp(b.data, want, (size_t) n) == 0);
}

int main(void) {
        char path[4400];

        if (!make_base()) {
                fprintf(stderr, "No directory outside /tmp to test in (build dir, $HOME); skipping.\n");
                return EXIT_TEST_SKIP;
        }
        snprintf(cache, sizeof(cache), "%s/discovery", base);
        snprintf(interp, sizeof(interp), "%s/python3", base);
        snprintf(site, sizeof(site), "%s/site-packages", base);
        write_file(interp, "#!/bin/sh\n", 10, 0755);
        assert_se(mkdir(site, 0755) == 0);

        test_fingerprint();
        test_cache();

        snprintf(path, sizeof(path), "%s/numpy.info", cache);
        (void) unlink(path);
        (void) rmdir(cache);
        (void) rmdir(site);
        (void) unlink(interp);
        assert_se(rmdir(base) == 0);
        return 0;
}
