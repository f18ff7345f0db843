/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of profile-info.c: PROFILE_INFO's exact text, its round trip, the packages that do
 * not fit its bound counted instead, and the decoder's refusals and leniency. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "test.h"

static ProfileInfo sample(char **packages, size_t n) {
        ProfileInfo p = {
                .name = (char *) "default",
                .interpreter = (char *) "/usr/bin/python3",
                .python = (char *) "3.11.2",
                .network = (char *) "none",
                .packages = packages,
                .n_packages = n,
                .note = NULL,
        };

        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                p.limit_default[k] = k;
                p.limit_max[k] = 1000 + k;
        }
        return p;
}

/* The frame's payload, checked to be one whole PROFILE_INFO frame. */
static const char *payload_of(const Buffer *b, size_t *ret_size) {
        FrameHeader h;

        assert_se(b->size >= PW_FRAME_HEADER_SIZE);
        assert_int(frame_header_parse(b->data, &h), ==, 0);
        assert_int(h.type, ==, FRAME_PROFILE_INFO);
        assert_int(h.length, ==, b->size - PW_FRAME_HEADER_SIZE);
        *ret_size = h.length;
        return (const char *) b->data + PW_FRAME_HEADER_SIZE;
}

static void test_profile_info_text(void) {
        char *packages[] = { (char *) "numpy 1.24.2", (char *) "odd\\name\n 1", NULL };
        ProfileInfo p = sample(packages, 2);
        _cleanup_(buffer_done) Buffer b = {};
        const char *text;
        size_t size;

        assert_int(profile_info_append(&b, &p), ==, 0);
        text = payload_of(&b, &size);
        assert_se(memchr(text, '\0', size) == NULL);
        assert_se(size > 0 && text[size - 1] == '\n');
        /* The order of pyward-protocol(7): the fixed keys, the limits in key order, packages, omitted, note. */
        assert_se(strncmp(text,
                          "name=default\ninterpreter=/usr/bin/python3\npython=3.11.2\nnetwork=none\n"
                          "limit.memory.default=1\nlimit.memory.max=1001\nlimit.tasks.default=2\n",
                          strlen("name=default\ninterpreter=/usr/bin/python3\npython=3.11.2\nnetwork=none\n"
                                 "limit.memory.default=1\nlimit.memory.max=1001\nlimit.tasks.default=2\n")) ==
                  0);
#define TAIL                                                                     \
        "\nlimit.files-out-time.default=14\nlimit.files-out-time.max=1014\n"     \
        "limit.session-wall-time.default=15\nlimit.session-wall-time.max=1015\n" \
        "limit.session-cpu-time.default=16\nlimit.session-cpu-time.max=1016\n"   \
        "limit.session-idle-time.default=17\nlimit.session-idle-time.max=1017\n" \
        "limit.session-cells.default=18\nlimit.session-cells.max=1018\n"         \
        "limit.cell-grace.default=19\nlimit.cell-grace.max=1019\n"               \
        "package=numpy 1.24.2\npackage=odd\\\\name\\n 1\npackages_omitted=0\n"   \
        "note=\n"
        assert_se(memmem(text, size, TAIL, strlen(TAIL)));
#undef TAIL
        assert_se(memcmp(text + size - 6, "note=\n", 6) == 0);
}

static void test_profile_info_roundtrip(void) {
        char *packages[] = { (char *) "attrs 22.2.0", (char *) "numpy 1.24.2", (char *) "z\n 0", NULL };
        ProfileInfo p = sample(packages, 3), q = {};
        _cleanup_(buffer_done) Buffer b = {};
        const char *text;
        size_t size;

        p.note = (char *) "python and packages from a run of 2026-12-01";
        p.packages_omitted = 7;
        p.limit_max[LIMIT_MEMORY] = UINT64_MAX;
        assert_int(profile_info_append(&b, &p), ==, 0);
        text = payload_of(&b, &size);
        assert_int(profile_info_parse(text, size, &q), ==, 0);
        assert_streq(q.name, "default");
        assert_streq(q.interpreter, "/usr/bin/python3");
        assert_streq(q.python, "3.11.2");
        assert_streq(q.network, "none");
        assert_streq(q.note, p.note);
        assert_int(q.n_packages, ==, 3);
        for (size_t i = 0; i < 3; i++)
                assert_streq(q.packages[i], packages[i]);
        assert_se(q.packages[3] == NULL);
        assert_int(q.packages_omitted, ==, 7);
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                assert_se(q.limit_default[k] == p.limit_default[k]);
                assert_se(q.limit_max[k] == p.limit_max[k]);
        }
        profile_info_done(&q);
        assert_se(q.name == NULL && q.packages == NULL && q.n_packages == 0);
        profile_info_done(&q);
        profile_info_done(NULL);

        /* Unknown values are empty and read back as NULL. */
        ProfileInfo bare = sample(NULL, 0);
        bare.python = NULL;
        _cleanup_(buffer_done) Buffer b2 = {};
        assert_int(profile_info_append(&b2, &bare), ==, 0);
        text = payload_of(&b2, &size);
        assert_se(memmem(text, size, "\npython=\n", 9));
        assert_int(profile_info_parse(text, size, &q), ==, 0);
        assert_se(!q.python && !q.note && !q.packages && q.n_packages == 0);
        profile_info_done(&q);
}

static void test_profile_info_omitted(void) {
        size_t n = 20000;
        char **packages = calloc(n + 1, sizeof(char *));
        ProfileInfo p, q = {};
        _cleanup_(buffer_done) Buffer b = {};
        const char *text;
        size_t size;

        assert_se(packages);
        for (size_t i = 0; i < n; i++) {
                packages[i] = malloc(64);
                assert_se(packages[i]);
                (void) snprintf(packages[i], 64, "package-with-a-long-name-%06zu 1.0.0", i);
        }
        p = sample(packages, n);
        p.note = (char *) "a note that must survive";
        assert_int(profile_info_append(&b, &p), ==, 0);
        text = payload_of(&b, &size);
        assert_int(size, <=, PW_PROFILE_INFO_MAX);
        assert_int(size, >, PW_PROFILE_INFO_MAX - 100);
        assert_int(profile_info_parse(text, size, &q), ==, 0);
        assert_int(q.n_packages, <, n);
        assert_int(q.n_packages, >, 1000);
        assert_int(q.n_packages + q.packages_omitted, ==, n);
        /* The first ones, in order. */
        for (size_t i = 0; i < q.n_packages; i++)
                assert_streq(q.packages[i], packages[i]);
        assert_streq(q.note, "a note that must survive");
        profile_info_done(&q);
        for (size_t i = 0; i < n; i++)
                free(packages[i]);
        free(packages);
}

static void test_profile_info_parse(void) {
        static const struct {
                const char *text;
                int expected;
        } cases[] = {
                { "name=x\n", 0 },
                { "name=x\nfuture=\\q\nlimit.future.max=abc\nlimit.memory.min=3\n", 0 }, /* ignored */
                { "", -EBADMSG },
                { "name=x", -EBADMSG },
                { "python=3\n", -EBADMSG }, /* no name */
                { "name=\n", -EBADMSG },
                { "name=x\nname=y\n", -EBADMSG },
                { "name=x\n=y\n", -EBADMSG },
                { "name=x\nnoequals\n", -EBADMSG },
                { "name=x\nnote=a\\tb\n", -EBADMSG },
                { "name=x\npackage=a\\qb\n", -EBADMSG },
                { "name=x\nlimit.memory.max=\n", -EBADMSG },
                { "name=x\nlimit.memory.max=01\n", -EBADMSG },
                { "name=x\nlimit.memory.max=1\nlimit.memory.max=2\n", -EBADMSG },
                { "name=x\nlimit.memory.max=18446744073709551616\n", -EBADMSG },
                { "name=x\npackages_omitted=-1\n", -EBADMSG },
                { "name=x\npackages_omitted=1\npackages_omitted=1\n", -EBADMSG },
        };
        ProfileInfo q = {};

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = profile_info_parse(cases[i].text, strlen(cases[i].text), &q);

                if (r != cases[i].expected) {
                        fprintf(stderr, "case %zu: %d\n", i, r);
                        assert_se(false);
                }
                profile_info_done(&q);
        }
        assert_int(profile_info_parse("name=x\n\0", 8, &q), ==, -EBADMSG);
        assert_int(profile_info_parse("name=x\nlimit.tasks.default=9\npackage=a 1\npackage=a 1\n", 53, &q),
                   ==, 0);
        assert_int(q.limit_default[LIMIT_TASKS], ==, 9);
        assert_int(q.n_packages, ==, 2); /* packages repeat; the helper deduplicates them */
        profile_info_done(&q);
        {
                char *big = malloc(PW_PROFILE_INFO_MAX + 1);

                assert_se(big);
                memset(big, 'a', PW_PROFILE_INFO_MAX + 1);
                memcpy(big, "name=", 5);
                big[PW_PROFILE_INFO_MAX] = '\n';
                assert_int(profile_info_parse(big, PW_PROFILE_INFO_MAX + 1, &q), ==, -EBADMSG);
                big[PW_PROFILE_INFO_MAX - 1] = '\n';
                assert_int(profile_info_parse(big, PW_PROFILE_INFO_MAX, &q), ==, 0);
                profile_info_done(&q);
                free(big);
        }
}

int main(void) {
        test_profile_info_text();
        test_profile_info_roundtrip();
        test_profile_info_omitted();
        test_profile_info_parse();
        return 0;
}
