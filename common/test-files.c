/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of files.c: the path rule with each way to break it, the escaping of paths for
 * messages, the skip reasons' names, and FILE/FILE_OUT/FILE_SKIPPED's encoders and decoders. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "test.h"

static void check_path(const char *p, size_t n, const char *why) {
        const char *got = "unset";
        bool valid = file_path_valid(p, n, &got);

        if (valid != !why || (why && (!got || strcmp(got, why) != 0)) || (!why && got)) {
                fprintf(stderr, "path of %zu bytes: expected %s, got %s (%s)\n", n, why ?: "valid",
                        valid ? "valid" : "invalid", got ?: "(null)");
                assert_se(false);
        }
}

#define PATH(s, why) check_path((s), sizeof(s) - 1, (why))

static void test_path_valid(void) {
        char buf[2048];

        PATH("x", NULL);
        PATH("a/b/c.txt", NULL);
        PATH(".hidden", NULL);
        PATH("..x", NULL);
        PATH("x..", NULL);
        PATH("...", NULL);
        PATH("a\nb", NULL);     /* newlines are allowed */
        PATH("\xff\xfe", NULL); /* and non-UTF-8 */
        PATH("sk\xc3\xa5l/\x01", NULL);
        PATH("", "an empty path");
        PATH("../x", "a '..' component");
        PATH("a/../../x", "a '..' component");
        PATH("a/..", "a '..' component");
        PATH("..", "a '..' component");
        PATH("./x", "a '.' component");
        PATH("a/.", "a '.' component");
        PATH(".", "a '.' component");
        PATH("/etc/x", "an absolute path");
        PATH("/", "an absolute path");
        PATH("a//b", "an empty component");
        PATH("a/", "an empty component");
        PATH("a\0b", "a NUL byte");
        PATH("\0", "a NUL byte");
        assert_se(!file_path_valid(NULL, 1, NULL));
        assert_se(file_path_valid("x", 1, NULL)); /* ret_why may be NULL */

        /* Not NUL-terminated: only n bytes count. */
        assert_se(file_path_valid("ab/../c", 2, NULL));

        /* 32 components are fine, 33 are not. */
        buf[0] = '\0';
        for (int i = 0; i < 32; i++)
                strcat(buf, i ? "/d" : "d");
        check_path(buf, strlen(buf), NULL);
        strcat(buf, "/d");
        check_path(buf, strlen(buf), "more than 32 components");

        /* A component of 255 bytes is fine, 256 are not. */
        memset(buf, 'c', 256);
        check_path(buf, 255, NULL);
        check_path(buf, 256, "a component longer than 255 bytes");
        memcpy(buf + 256, "/x", 2);
        check_path(buf, 258, "a component longer than 255 bytes");

        /* 1024 bytes are fine, 1025 are not. */
        memset(buf, 'a', sizeof(buf));
        for (size_t i = 200; i < sizeof(buf); i += 200)
                buf[i] = '/';
        check_path(buf, PW_PATH_MAX, NULL);
        check_path(buf, PW_PATH_MAX + 1, "longer than 1024 bytes");
}

static void test_path_escape(void) {
        char buf[64], small[8];

        assert_streq(file_path_escape("a/b.txt", 7, buf, sizeof(buf)), "a/b.txt");
        assert_streq(file_path_escape("a\nb", 3, buf, sizeof(buf)), "a\\x0ab");
        assert_streq(file_path_escape("\xff'\\", 3, buf, sizeof(buf)), "\\xff\\'\\\\");
        assert_streq(file_path_escape("a\0b", 3, buf, sizeof(buf)), "a\\x00b");
        assert_streq(file_path_escape("", 0, buf, sizeof(buf)), "");
        /* Cut to fit, with a marker; never half an escape. */
        assert_streq(file_path_escape("abcdefghij", 10, small, sizeof(small)), "abcd...");
        assert_streq(file_path_escape("abcdefg", 7, small, sizeof(small)), "abcdefg");
        assert_streq(file_path_escape("ab\xff\xff", 4, small, sizeof(small)), "ab...");
        assert_streq(file_path_escape("\xff", 1, small, 4), "...");
        assert_streq(file_path_escape("\xff", 1, small, 5), "\\xff");
        /* A path at its longest, all escapes, fits a message's share. */
        {
                char p[PW_PATH_MAX], shown[PW_PATH_SHOWN_MAX];

                memset(p, '\n', sizeof(p));
                file_path_escape(p, sizeof(p), shown, sizeof(shown));
                assert_int(strlen(shown), <, PW_PATH_SHOWN_MAX);
                assert_se(strstr(shown, "..."));
                assert_se(!strchr(shown, '\n'));
        }
}

static void test_skip_reasons(void) {
        static const char *const names[] = { NULL,    "symlink", "fifo",      "socket", "device",
                                             "other", "size",    "count",     "bytes",  "depth",
                                             "time",  "name",    "unreadable" };

        assert_int(ELEMENTSOF(names), ==, _FILE_SKIP_MAX);
        for (int r = 1; r < _FILE_SKIP_MAX; r++) {
                assert_streq(file_skip_reason_to_string(r), names[r]);
                assert_int(file_skip_reason_from_string(names[r]), ==, r);
        }
        assert_se(!file_skip_reason_to_string(0));
        assert_se(!file_skip_reason_to_string(_FILE_SKIP_MAX));
        assert_se(!file_skip_reason_to_string(-1));
        assert_int(file_skip_reason_from_string("Symlink"), ==, -EINVAL);
        assert_int(file_skip_reason_from_string(""), ==, -EINVAL);
        assert_int(file_skip_reason_from_string(NULL), ==, -EINVAL);
}

static void test_file_header(void) {
        static const uint8_t expected[] = {
                0x08, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, /* FILE, 15 bytes */
                0x01, 0x00, 0x00, 0x00,                         /* flags: executable */
                0x05, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00, 0x00, /* size */
                'a',  '/',  'b',                                /* path */
        };
        _cleanup_(buffer_done) Buffer b = {};
        const char *path, *why;
        size_t path_size;
        uint32_t flags;
        uint64_t size;
        FrameHeader h;

        assert_int(file_header_append(&b, FRAME_FILE, PW_FILE_EXECUTABLE, 0x0102030405, "a/b", 3), ==, 0);
        assert_int(b.size, ==, sizeof(expected));
        assert_se(memcmp(b.data, expected, sizeof(expected)) == 0);
        assert_int(frame_header_parse(b.data, &h), ==, 0);
        assert_int(file_header_parse(b.data + PW_FRAME_HEADER_SIZE, h.length, &flags, &size, &path,
                                     &path_size, &why),
                   ==, 0);
        assert_int(flags, ==, PW_FILE_EXECUTABLE);
        assert_se(size == 0x0102030405);
        assert_int(path_size, ==, 3);
        assert_se(memcmp(path, "a/b", 3) == 0);
        assert_se(path == (const char *) b.data + PW_FRAME_HEADER_SIZE + PW_FILE_HEADER_SIZE);
        assert_se(!why);

        /* FILE_OUT: the same layout, a mode in the first field. */
        assert_int(file_header_append(&b, FRAME_FILE_OUT, 0644, 0, "out.png", 7), ==, 0);
        assert_int(frame_header_parse(b.data + sizeof(expected), &h), ==, 0);
        assert_int(h.type, ==, FRAME_FILE_OUT);
        assert_int(h.length, ==, PW_FILE_HEADER_SIZE + 7);

        /* What would break the rule is never encoded, and all or nothing. */
        size_t before = b.size;
        assert_int(file_header_append(&b, FRAME_FILE, 0, 1, "../x", 4), ==, -EINVAL);
        assert_int(file_header_append(&b, FRAME_FILE, 0, 1, "", 0), ==, -EINVAL);
        assert_int(file_header_append(&b, FRAME_STDOUT, 0, 1, "x", 1), ==, -EINVAL);
        assert_int(b.size, ==, before);

        /* The decoder: short, invalid paths, with the reason. */
        uint8_t p[PW_FILE_HEADER_SIZE + 8] = { 0 };
        why = NULL;
        assert_int(file_header_parse(p, PW_FILE_HEADER_SIZE, &flags, &size, &path, &path_size, &why), ==,
                   -EBADMSG);
        assert_se(why);
        memcpy(p + PW_FILE_HEADER_SIZE, "/etc/x", 6);
        assert_int(file_header_parse(p, PW_FILE_HEADER_SIZE + 6, &flags, &size, &path, &path_size, &why), ==,
                   -EBADMSG);
        assert_streq(why, "an absolute path");
        memcpy(p + PW_FILE_HEADER_SIZE, "a\0b", 3);
        assert_int(file_header_parse(p, PW_FILE_HEADER_SIZE + 3, &flags, &size, &path, &path_size, NULL), ==,
                   -EBADMSG);
}

static void test_file_skipped(void) {
        static const uint8_t expected[] = {
                0x07, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, /* FILE_SKIPPED, 7 bytes */
                0x01, 0x00, 0x00, 0x00,                         /* symlink */
                'l',  'n',  'k',
        };
        _cleanup_(buffer_done) Buffer b = {};
        FileSkipReason reason;
        const char *path;
        size_t path_size;
        FrameHeader h;

        assert_int(file_skipped_append(&b, FILE_SKIP_SYMLINK, "lnk", 3), ==, 0);
        assert_int(b.size, ==, sizeof(expected));
        assert_se(memcmp(b.data, expected, sizeof(expected)) == 0);
        assert_int(file_skipped_parse(b.data + PW_FRAME_HEADER_SIZE, 7, &reason, &path, &path_size), ==, 0);
        assert_int(reason, ==, FILE_SKIP_SYMLINK);
        assert_int(path_size, ==, 3);
        assert_se(memcmp(path, "lnk", 3) == 0);

        /* An empty path (a name the runner could not give) and an unchecked one. */
        assert_int(file_skipped_append(&b, FILE_SKIP_NAME, NULL, 0), ==, 0);
        assert_int(frame_header_parse(b.data + sizeof(expected), &h), ==, 0);
        assert_int(h.length, ==, PW_SKIPPED_HEADER_SIZE);
        assert_int(file_skipped_parse(b.data + sizeof(expected) + PW_FRAME_HEADER_SIZE, h.length, &reason,
                                      &path, &path_size),
                   ==, 0);
        assert_int(reason, ==, FILE_SKIP_NAME);
        assert_int(path_size, ==, 0);
        assert_int(file_skipped_append(&b, FILE_SKIP_DEPTH, "../odd\n", 7), ==, 0);

        size_t before = b.size;
        char long_path[PW_PATH_MAX + 1];
        memset(long_path, 'a', sizeof(long_path));
        assert_int(file_skipped_append(&b, FILE_SKIP_SIZE, long_path, PW_PATH_MAX), ==, 0);
        assert_int(file_skipped_append(&b, FILE_SKIP_SIZE, long_path, PW_PATH_MAX + 1), ==, -EINVAL);
        assert_int(file_skipped_append(&b, 0, "x", 1), ==, -EINVAL);
        assert_int(file_skipped_append(&b, _FILE_SKIP_MAX, "x", 1), ==, -EINVAL);
        assert_int(b.size, ==, before + PW_FRAME_HEADER_SIZE + PW_SKIPPED_HEADER_SIZE + PW_PATH_MAX);

        /* The decoder: short, an unknown reason. */
        assert_int(file_skipped_parse("\x01\x00\x00", 3, &reason, &path, &path_size), ==, -EBADMSG);
        assert_int(file_skipped_parse("\x00\x00\x00\x00x", 5, &reason, &path, &path_size), ==, -EBADMSG);
        assert_int(file_skipped_parse("\x0d\x00\x00\x00x", 5, &reason, &path, &path_size), ==, -EBADMSG);
        assert_int(file_skipped_parse("\x0c\x00\x00\x00x", 5, &reason, &path, &path_size), ==, 0);
        assert_int(reason, ==, FILE_SKIP_UNREADABLE);
        assert_int(file_skipped_parse("\x01\x00\x00\x80x", 5, &reason, &path, &path_size), ==, -EBADMSG);
}

int main(void) {
        test_path_valid();
        test_path_escape();
        test_skip_reasons();
        test_file_header();
        test_file_skipped();
        return 0;
}
