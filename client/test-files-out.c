/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of files-out.c in real temporary directories: planted symbolic links (as the file,
 * as a directory on the way) are never followed nor written through, --overwrite replaces the
 * link itself, nested directories are made, odd names are written as they are, and invalid paths
 * create nothing. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files-out.h"
#include "macro.h"
#include "test.h"

static char root[] = "/tmp/test-files-out-XXXXXX";
static char out[64], victim[64];

static void write_at(const char *path, const char *content) {
        FILE *f = fopen(path, "we");

        assert_se(f);
        assert_se(fputs(content, f) >= 0);
        assert_se(fclose(f) == 0);
}

static void assert_content(const char *path, const char *content) {
        char buf[256] = "";
        FILE *f = fopen(path, "re");
        size_t n;

        assert_se(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        assert_streq(buf, content);
}

static int count_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *e;
        int n = 0;

        assert_se(d);
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

/* files_out_create() + write + finish, the way collect.c does it. */
static int put(int dir, const char *path, size_t n, mode_t mode, bool overwrite, const char *content,
               size_t *ret_where) {
        OutFile f = OUT_FILE_NULL;
        int r;

        r = files_out_create(dir, path, n, mode, overwrite, &f, ret_where);
        if (r < 0)
                return r;
        assert_int(out_file_write(&f, content, strlen(content)), ==, 0);
        return out_file_finish(&f);
}

static void reset(void) {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", root);
        assert_se(system(cmd) == 0);
        snprintf(out, sizeof(out), "%s/out", root);
        snprintf(victim, sizeof(victim), "%s/victim", root);
        write_at(victim, "precious");
}

static void test_open_dir(void) {
        char missing[PATH_MAX];
        struct stat st;
        int fd = -EBADF;

        reset();
        snprintf(missing, sizeof(missing), "%s/no/such", root);
        assert_int(files_out_open_dir(missing, &fd), ==, -ENOENT); /* only the last component is made */
        assert_int(files_out_open_dir(out, &fd), ==, 0);
        assert_se(stat(out, &st) == 0 && S_ISDIR(st.st_mode));
        assert_int(st.st_mode & 07777, ==, FILES_OUT_DIR_MODE & ~(mode_t) 022 & 0700);
        safe_close(fd);
        assert_int(files_out_open_dir(out, &fd), ==, 0); /* exists: opened */
        safe_close(fd);
        assert_int(files_out_open_dir(victim, &fd), ==, -ENOTDIR);
}

static void test_plain_and_nested(void) {
        char p[PATH_MAX];
        struct stat st;
        size_t where;
        int dir = -EBADF;

        reset();
        assert_int(files_out_open_dir(out, &dir), ==, 0);
        assert_int(put(dir, "plot.png", 8, 04755, false, "PNG", &where), ==, 0);
        snprintf(p, sizeof(p), "%s/plot.png", out);
        assert_content(p, "PNG");
        assert_se(stat(p, &st) == 0);
        assert_int(st.st_mode & 07000, ==, 0); /* never setuid/setgid/sticky */
        assert_int(st.st_mode & 0700, ==, 0700);

        assert_int(put(dir, "a/b/c/d.csv", 11, 0644, false, "1,2\n", &where), ==, 0);
        snprintf(p, sizeof(p), "%s/a/b/c/d.csv", out);
        assert_content(p, "1,2\n");
        snprintf(p, sizeof(p), "%s/a/b", out);
        assert_se(lstat(p, &st) == 0 && S_ISDIR(st.st_mode));
        /* A second file in an existing directory. */
        assert_int(put(dir, "a/b/e", 5, 0600, false, "e", &where), ==, 0);

        /* Exists: an error without overwrite, replaced with it. */
        assert_int(put(dir, "plot.png", 8, 0644, false, "X", &where), ==, -EEXIST);
        assert_int(where, ==, 8);
        snprintf(p, sizeof(p), "%s/plot.png", out);
        assert_content(p, "PNG");
        assert_int(put(dir, "plot.png", 8, 0644, true, "NEW", &where), ==, 0);
        assert_content(p, "NEW");
        /* A directory is never removed for a file. */
        assert_int(put(dir, "a/b", 3, 0644, true, "X", &where), ==, -EISDIR);
        /* A regular file where a directory is needed. */
        assert_int(put(dir, "plot.png/x", 10, 0644, true, "X", &where), ==, -ENOTDIR);
        assert_int(where, ==, 8);
        safe_close(dir);
}

static void test_symlink_file(void) {
        char p[PATH_MAX];
        struct stat st;
        size_t where;
        int dir = -EBADF;

        reset();
        assert_int(files_out_open_dir(out, &dir), ==, 0);
        snprintf(p, sizeof(p), "%s/result.txt", out);
        assert_se(symlink(victim, p) == 0);

        assert_int(put(dir, "result.txt", 10, 0644, false, "EVIL", &where), ==, -EEXIST);
        assert_content(victim, "precious");
        assert_se(lstat(p, &st) == 0 && S_ISLNK(st.st_mode)); /* left as it was */

        /* --overwrite replaces the link itself; the target stays untouched. */
        assert_int(put(dir, "result.txt", 10, 0644, true, "mine", &where), ==, 0);
        assert_content(victim, "precious");
        assert_se(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
        assert_content(p, "mine");

        /* A dangling link, which O_CREAT without O_EXCL would create the target of. */
        snprintf(p, sizeof(p), "%s/dangling", out);
        assert_se(symlink("/tmp/test-files-out-created-through-link", p) == 0);
        assert_int(put(dir, "dangling", 8, 0644, false, "EVIL", &where), ==, -EEXIST);
        assert_se(access("/tmp/test-files-out-created-through-link", F_OK) < 0 && errno == ENOENT);
        safe_close(dir);
}

static void test_symlink_directory(void) {
        char p[PATH_MAX], elsewhere[64];
        size_t where;
        int dir = -EBADF;

        reset();
        assert_int(files_out_open_dir(out, &dir), ==, 0);
        snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", root);
        assert_se(mkdir(elsewhere, 0700) == 0);
        snprintf(p, sizeof(p), "%s/sub", out);
        assert_se(symlink(elsewhere, p) == 0);

        for (int overwrite = 0; overwrite <= 1; overwrite++) {
                assert_int(put(dir, "sub/x", 5, 0644, overwrite, "EVIL", &where), ==, -ELOOP);
                assert_int(where, ==, 3);
                assert_int(count_entries(elsewhere), ==, 0);
                assert_int(put(dir, "sub/deeper/x", 12, 0644, overwrite, "EVIL", &where), ==, -ELOOP);
                assert_int(count_entries(elsewhere), ==, 0);
        }
        /* A link to a directory deeper down. */
        assert_se(mkdir(strcat(strcpy(p, out), "/real"), 0700) == 0);
        assert_se(symlink(elsewhere, strcat(p, "/link")) == 0);
        assert_int(put(dir, "real/link/x", 11, 0644, true, "EVIL", &where), ==, -ELOOP);
        assert_int(where, ==, 9);
        assert_int(count_entries(elsewhere), ==, 0);
        safe_close(dir);
}

static void test_odd_names(void) {
        static const char nl[] = "line\nbreak.txt", bin[] = "caf\xe9\xff.bin";
        char p[PATH_MAX];
        size_t where;
        int dir = -EBADF;

        reset();
        assert_int(files_out_open_dir(out, &dir), ==, 0);
        assert_int(put(dir, nl, strlen(nl), 0644, false, "nl", &where), ==, 0);
        snprintf(p, sizeof(p), "%s/%s", out, nl);
        assert_content(p, "nl");
        assert_int(put(dir, bin, strlen(bin), 0644, false, "bin", &where), ==, 0);
        snprintf(p, sizeof(p), "%s/%s", out, bin);
        assert_content(p, "bin");
        assert_int(put(dir, ".hidden", 7, 0644, false, "h", &where), ==, 0);
        /* The path's n bytes count, not a NUL: "abc" of "abcdef". */
        assert_int(put(dir, "abcdef", 3, 0644, false, "3", &where), ==, 0);
        snprintf(p, sizeof(p), "%s/abc", out);
        assert_content(p, "3");
        assert_int(count_entries(out), ==, 4);
        safe_close(dir);
}

static void test_invalid_paths(void) {
        static const char *const bad[] = { "../x", "/abs", "a/../../x", "a//b", "./x", "x/", "", "..", "." };
        size_t where = 99;
        int dir = -EBADF;

        reset();
        assert_int(files_out_open_dir(out, &dir), ==, 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int(put(dir, bad[i], strlen(bad[i]), 0644, true, "EVIL", &where), ==, -EINVAL);
                assert_int(where, ==, 0);
        }
        assert_int(put(dir, "a\0b", 3, 0644, true, "EVIL", &where), ==, -EINVAL);
        assert_int(count_entries(out), ==, 0);  /* not even a directory on the way */
        assert_int(count_entries(root), ==, 2); /* out and victim: nothing above out either */
        assert_content(victim, "precious");
        safe_close(dir);
}

int main(void) {
        char cmd[PATH_MAX + 16];

        umask(022);
        assert_se(mkdtemp(root));
        test_open_dir();
        test_plain_and_nested();
        test_symlink_file();
        test_symlink_directory();
        test_odd_names();
        test_invalid_paths();
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        assert_se(system(cmd) == 0);
        return 0;
}
