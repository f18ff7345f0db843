/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests a session's per-cell input files (cell-input.c): files kept in order with their bytes,
 * the files-in and files-in-bytes bounds (counted, dropped, named), and the order rules whose
 * breach is a protocol error. */

#include <errno.h>
#include <string.h>

#include "cell-input.h"
#include "test.h"

/* A FILE frame's payload (file_header_append() without its frame header). */
static size_t file_payload(uint8_t *buf, size_t size, uint32_t flags, uint64_t file_size, const char *path) {
        _cleanup_(buffer_done) Buffer b = {};

        assert_se(file_header_append(&b, FRAME_FILE, flags, file_size, path, strlen(path)) == 0);
        assert_se(b.size - PW_FRAME_HEADER_SIZE <= size);
        memcpy(buf, b.data + PW_FRAME_HEADER_SIZE, b.size - PW_FRAME_HEADER_SIZE);
        return b.size - PW_FRAME_HEADER_SIZE;
}

static int add_file(CellInput *in, uint32_t flags, const char *path, const char *data, char *error) {
        uint8_t p[PW_FILE_HEADER_SIZE + PW_PATH_MAX];
        size_t n = strlen(data);
        int r;

        r = cell_input_file(in, p, file_payload(p, sizeof(p), flags, n, path), error, 256);
        if (r < 0 || n == 0)
                return r;
        /* In two pieces. */
        r = cell_input_data(in, data, n / 2, error, 256);
        if (r >= 0 && n - n / 2 > 0)
                r = cell_input_data(in, data + n / 2, n - n / 2, error, 256);
        return r;
}

static void test_within_bounds(void) {
        CellInput in;
        char error[256] = "";

        cell_input_init(&in, 3, 10);
        assert_int(add_file(&in, 0, "a.txt", "hello", error), ==, 0);
        assert_int(add_file(&in, PW_FILE_EXECUTABLE, "dir/run.sh", "echo", error), ==, 0);
        assert_int(add_file(&in, 0, "empty", "", error), ==, 0);
        assert_int(cell_input_check_complete(&in, error, sizeof(error)), ==, 0);
        assert_int(in.n_files, ==, 3);
        assert_se(!in.over);
        assert_streq(in.files[0].path, "a.txt");
        assert_se(in.files[0].size == 5 && in.files[0].data_size == 5 &&
                  memcmp(in.files[0].data, "hello", 5) == 0);
        assert_se(!in.files[0].executable && in.files[1].executable);
        assert_streq(in.files[1].path, "dir/run.sh");
        assert_se(in.files[2].size == 0 && in.files[2].data == NULL);
        /* Done: empty again, the bounds kept for the next cell. */
        cell_input_done(&in);
        assert_se(in.n_files == 0 && in.n_sent == 0 && in.files_max == 3 && in.bytes_max == 10);
        cell_input_done(&in);
}

static void test_over_bounds(void) {
        CellInput in;
        char error[256] = "";

        /* files-in: the third file is counted, its bytes dropped, and the bound named. */
        cell_input_init(&in, 2, 1000);
        assert_int(add_file(&in, 0, "a", "1", error), ==, 0);
        assert_int(add_file(&in, 0, "b", "2", error), ==, 0);
        assert_int(add_file(&in, 0, "c", "3", error), ==, 0);
        assert_int(add_file(&in, 0, "d", "4", error), ==, 0);
        assert_int(cell_input_check_complete(&in, error, sizeof(error)), ==, 0);
        assert_int(in.n_files, ==, 2);
        assert_int(in.n_sent, ==, 4);
        assert_streq(in.over, "the cell's input files: files-in=3 exceeds the limit 2 of the session");
        cell_input_done(&in);

        /* files-in-bytes: by the announced sizes, before a byte of the file is kept. */
        cell_input_init(&in, 100, 8);
        assert_int(add_file(&in, 0, "a", "12345", error), ==, 0);
        assert_int(add_file(&in, 0, "b", "12345", error), ==, 0);
        assert_int(in.n_files, ==, 1);
        assert_streq(in.over, "the cell's input files: files-in-bytes=10 exceeds the limit 8 of the session");
        cell_input_done(&in);

        /* files-in=0: no file at all. */
        cell_input_init(&in, 0, 8);
        assert_int(add_file(&in, 0, "a", "", error), ==, 0);
        assert_se(in.over && in.n_files == 0);
        cell_input_done(&in);
}

static void test_protocol_errors(void) {
        uint8_t p[PW_FILE_HEADER_SIZE + PW_PATH_MAX];
        CellInput in;
        char error[256] = "";
        size_t n;

        cell_input_init(&in, 10, 100);
        /* FILE_DATA with no FILE before it. */
        assert_int(cell_input_data(&in, "x", 1, error, sizeof(error)), ==, -EBADMSG);
        assert_streq(error, "a FILE_DATA frame without a FILE before it");
        /* A FILE, then another FILE or the CELL before its bytes. */
        n = file_payload(p, sizeof(p), 0, 4, "a");
        assert_int(cell_input_file(&in, p, n, error, sizeof(error)), ==, 0);
        assert_int(cell_input_file(&in, p, n, error, sizeof(error)), ==, -EBADMSG);
        assert_streq(error, "a FILE frame before the last file's 4 bytes of FILE_DATA");
        assert_int(cell_input_check_complete(&in, error, sizeof(error)), ==, -EBADMSG);
        assert_streq(error, "a CELL frame before the last file's 4 bytes of FILE_DATA");
        /* More bytes than announced. */
        assert_int(cell_input_data(&in, "12345", 5, error, sizeof(error)), ==, -EBADMSG);
        assert_streq(error, "a FILE_DATA frame of 5 bytes beyond its file (4 bytes to come)");
        cell_input_done(&in);
        /* Unknown flags; a path the rule refuses; a short header. */
        n = file_payload(p, sizeof(p), 0, 0, "a");
        p[0] = 0x80;
        assert_int(cell_input_file(&in, p, n, error, sizeof(error)), ==, -EBADMSG);
        assert_streq(error, "input file 'a': unknown flags 0x80");
        n = file_payload(p, sizeof(p), 0, 0, "ok");
        memcpy(p + PW_FILE_HEADER_SIZE, "..", 2);
        assert_int(cell_input_file(&in, p, n, error, sizeof(error)), ==, -EBADMSG);
        assert_se(strncmp(error, "an input file: ", 15) == 0);
        assert_int(cell_input_file(&in, p, 3, error, sizeof(error)), ==, -EBADMSG);
        assert_se(in.n_sent == 0);
        cell_input_done(&in);
}

int main(void) {
        test_within_bounds();
        test_over_bounds();
        test_protocol_errors();
        return 0;
}
