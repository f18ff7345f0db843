/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What test-door.c and test-front-door.c share: a clock in ms and its sort, the one RESULT frame a
 * door wrote to a connection (read to end of stream), and a pyward.conf below a temporary root. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "test.h"

static inline double now_ms(void) {
        struct timespec ts;

        assert_se(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static inline int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* Everything up to end of stream, which must not be ECONNRESET: the door's RESULT, if any. */
static inline size_t read_all(int fd, uint8_t *buf, size_t size) {
        size_t got = 0;
        ssize_t n;

        while ((n = recv(fd, buf + got, size - got, 0)) > 0)
                got += (size_t) n;
        assert_int(n, ==, 0);
        return got;
}

/* The one RESULT frame the door wrote to the other end, then end of stream. */
static inline void read_result(int fd, JobResult *ret) {
        uint8_t buf[PW_FRAME_HEADER_SIZE + PW_RESULT_MAX];
        size_t got = read_all(fd, buf, sizeof(buf));
        FrameHeader h;

        assert_se(got >= PW_FRAME_HEADER_SIZE);
        assert_int(frame_header_parse(buf, &h), ==, 0);
        assert_int(h.type, ==, FRAME_RESULT);
        assert_int(got, ==, PW_FRAME_HEADER_SIZE + h.length);
        assert_int(job_result_parse(buf + PW_FRAME_HEADER_SIZE, h.length, ret), ==, 0);
}

/* ROOT/etc/pyward/pyward.conf with text. */
static inline void write_conf(const char *root, const char *text) {
        char path[512];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/etc", root);
        (void) mkdir(path, 0755);
        (void) snprintf(path, sizeof(path), "%s/etc/pyward", root);
        (void) mkdir(path, 0755);
        (void) snprintf(path, sizeof(path), "%s/etc/pyward/pyward.conf", root);
        f = fopen(path, "we");
        assert_se(f);
        fputs(text, f);
        assert_se(fclose(f) == 0);
}
