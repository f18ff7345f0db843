/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the parser of discovery reports (what it takes, what it refuses, its bounds), its writer,
 * and the ProfileInfo built from a profile and a report. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buffer.h"
#include "discover.h"
#include "str.h"
#include "test.h"

static int parse(const char *text, DiscoverInfo *ret, const char **ret_why) {
        return discover_info_parse(text, strlen(text), ret, ret_why);
}

static void test_parse_ok(void) {
        const char *text =
                "python=3.11.2\n"
                "package=zipp 3.15.0\n"
                "package=numpy 1.24.2\n"
                "sitedir=/usr/lib/python3.11\n"
                "package=numpy 1.24.2\n"
                "future=ignored\n"
                "sitedir=/opt/v\\nx\\\\y\n"
                "sitedir=/usr/lib/python3.11\n"
                "package=Babel 2.10.3\n";
        DiscoverInfo i = {};
        const char *why = NULL;

        assert_int(parse(text, &i, &why), ==, 0);
        assert_streq(i.python, "3.11.2");
        /* Sorted by bytes, the duplicate dropped. */
        assert_int(i.n_packages, ==, 3);
        assert_int(strv_length(i.packages), ==, 3);
        assert_streq(i.packages[0], "Babel 2.10.3");
        assert_streq(i.packages[1], "numpy 1.24.2");
        assert_streq(i.packages[2], "zipp 3.15.0");
        /* In the order reported, unique, unescaped. */
        assert_int(i.n_sitedirs, ==, 2);
        assert_streq(i.sitedirs[0], "/usr/lib/python3.11");
        assert_streq(i.sitedirs[1], "/opt/v\nx\\y");
        assert_se(i.sitedirs[2] == NULL);
        discover_info_done(&i);
        discover_info_done(&i); /* twice is fine */

        assert_int(parse("python=3.13.0rc1\n", &i, NULL), ==, 0);
        assert_streq(i.python, "3.13.0rc1");
        assert_int(i.n_packages, ==, 0);
        assert_se(!i.packages && !i.sitedirs);
        discover_info_done(&i);
}

static void test_parse_refused(void) {
        static const struct {
                const char *text;
                const char *why;
        } cases[] = {
                { "", "report does not end with a newline" },
                { "python=3.11.2", "report does not end with a newline" },
                { "package=a 1\n", "no python= line" },
                { "python=3.11.2\npython=3.11.2\n", "python= twice" },
                { "python=\n", "python= is not a version" },
                { "python=v3\n", "python= is not a version" },
                { "python=3.11 2\n", "python= is not a version" },
                { "python=3.11.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0\n", "python= is not a version" },
                { "python=3\n\n", "a line without key=" },
                { "python=3\n=x\n", "a line without key=" },
                { "python=3\nnoequals\n", "a line without key=" },
                { "python=3\npackages_omitted=1\npackages_omitted=1\n", "packages_omitted= twice" },
                { "python=3\npackages_omitted=\n", "packages_omitted= is not a count" },
                { "python=3\npackages_omitted=01\n", "packages_omitted= is not a count" },
                { "python=3\npackages_omitted=-1\n", "packages_omitted= is not a count" },
                { "python=3\npackages_omitted=1000000001\n", "packages_omitted= is not a count" },
                { "python=3\npackages_omitted=99999999999999999999999\n",
                  "packages_omitted= is not a count" },
                { "python=3\nsitedir=relative\n", "sitedir= is not an absolute path" },
                { "python=3\nsitedir=\n", "sitedir= is not an absolute path" },
                { "python=3\nsitedir=/a\\x\n", "a bad escape (only \\\\ and \\n)" },
                { "python=3\nsitedir=/a\\\n", "a bad escape (only \\\\ and \\n)" },
        };
        DiscoverInfo i = { .python = (char *) "untouched" };

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                const char *why = NULL;

                if (parse(cases[k].text, &i, &why) != -EBADMSG || !why || strcmp(why, cases[k].why) != 0) {
                        fprintf(stderr, "case %zu: \"%s\": got \"%s\", want \"%s\"\n", k, cases[k].text,
                                why ?: "(none)", cases[k].why);
                        assert_se(false);
                }
                assert_streq(i.python, "untouched");
        }
        /* A NUL anywhere, and why may be NULL. */
        assert_int(discover_info_parse("python=3\0\n", 10, &i, NULL), ==, -EBADMSG);
        assert_streq(i.python, "untouched");
}

/* A package the helper does not pass on is counted, not listed, and the rest of the report stays. */
static void test_parse_omitted(void) {
        const char *text =
                "python=3.11.2\n"
                "package=numpy\n"
                "package=numpy \n"
                "package= 1.0\n"
                "package=num py 1.0\n"
                "package=numpy 1.0\\n\n"
                "package=n/p 1.0\n"
                "package=ok 1.0\n"
                "packages_omitted=5\n";
        _cleanup_(buffer_done) Buffer b = {};
        DiscoverInfo i = {}, j = {};

        assert_int(parse(text, &i, NULL), ==, 0);
        assert_int(i.n_packages, ==, 1);
        assert_streq(i.packages[0], "ok 1.0");
        assert_int(i.packages_omitted, ==, 6 + 5);
        /* Written back as one count, read back the same. */
        assert_int(discover_info_format(&i, &b), ==, 0);
        assert_se(memmem(b.data, b.size, "\npackages_omitted=11\n", 21));
        assert_int(discover_info_parse(b.data, b.size, &j, NULL), ==, 0);
        assert_int(j.packages_omitted, ==, 11);
        assert_int(j.n_packages, ==, 1);
        discover_info_done(&i);
        discover_info_done(&j);

        assert_int(parse("python=3\npackages_omitted=0\n", &i, NULL), ==, 0);
        assert_int(i.packages_omitted, ==, 0);
        discover_info_done(&i);
        assert_int(parse("python=3\npackages_omitted=1000000000\n", &i, NULL), ==, 0);
        assert_int(i.packages_omitted, ==, 1000000000);
        discover_info_done(&i);
}

static void test_parse_bounds(void) {
        _cleanup_(buffer_done) Buffer b = {};
        DiscoverInfo i = {};
        const char *why = NULL;
        char line[DISCOVER_SITEDIR_MAX + 32];

        /* DISCOVER_SITEDIRS_MAX sitedirs, then one more. */
        assert_int(buffer_append(&b, "python=3.11.2\n", 14), ==, 0);
        for (unsigned k = 0; k < DISCOVER_SITEDIRS_MAX; k++) {
                int n = snprintf(line, sizeof(line), "sitedir=/s%u\n", k);
                assert_int(buffer_append(&b, line, (size_t) n), ==, 0);
        }
        assert_int(discover_info_parse(b.data, b.size, &i, &why), ==, 0);
        assert_int(i.n_sitedirs, ==, DISCOVER_SITEDIRS_MAX);
        discover_info_done(&i);
        assert_int(buffer_append(&b, "sitedir=/one-more\n", 18), ==, 0);
        assert_int(discover_info_parse(b.data, b.size, &i, &why), ==, -EBADMSG);
        assert_streq(why, "more than DISCOVER_SITEDIRS_MAX sitedirs");

        /* A sitedir of DISCOVER_SITEDIR_MAX bytes, then one byte longer. */
        b.size = 0;
        memset(line, 'a', sizeof(line));
        memcpy(line, "python=3\nsitedir=/", 18);
        line[9 + 8 + DISCOVER_SITEDIR_MAX] = '\n';
        assert_int(discover_info_parse(line, 9 + 8 + DISCOVER_SITEDIR_MAX + 1, &i, &why), ==, 0);
        discover_info_done(&i);
        line[9 + 8 + DISCOVER_SITEDIR_MAX] = 'a';
        line[9 + 8 + DISCOVER_SITEDIR_MAX + 1] = '\n';
        assert_int(discover_info_parse(line, 9 + 8 + DISCOVER_SITEDIR_MAX + 2, &i, &why), ==, -EBADMSG);
        assert_streq(why, "sitedir= is not an absolute path");

        /* DISCOVER_PACKAGES_MAX packages are listed, the ones beyond are counted. */
        assert_int(buffer_append(&b, "python=3.11.2\n", 14), ==, 0);
        for (unsigned k = 0; k < DISCOVER_PACKAGES_MAX + 3; k++) {
                int n = snprintf(line, sizeof(line), "package=p%05u 1\n", k);
                assert_int(buffer_append(&b, line, (size_t) n), ==, 0);
        }
        assert_int(discover_info_parse(b.data, b.size, &i, &why), ==, 0);
        assert_int(i.n_packages, ==, DISCOVER_PACKAGES_MAX);
        assert_int(i.packages_omitted, ==, 3);
        assert_streq(i.packages[DISCOVER_PACKAGES_MAX - 1], "p08191 1");
        discover_info_done(&i);

        /* The whole report: DISCOVER_INFO_MAX bytes, then one more. */
        b.size = 0;
        assert_int(buffer_append(&b, "python=3.11.2\nx=", 16), ==, 0);
        while (b.size < DISCOVER_INFO_MAX - 1)
                assert_int(buffer_append(&b, "a", 1), ==, 0);
        assert_int(buffer_append(&b, "\n", 1), ==, 0);
        assert_int(discover_info_parse(b.data, b.size, &i, &why), ==, 0);
        discover_info_done(&i);
        b.data[b.size - 1] = 'a';
        assert_int(buffer_append(&b, "\n", 1), ==, 0);
        assert_int(discover_info_parse(b.data, b.size, &i, &why), ==, -EBADMSG);
        assert_streq(why, "report larger than DISCOVER_INFO_MAX");
}

static void test_format_roundtrip(void) {
        const char *text = "python=3.11.2\npackage=b 2\npackage=a 1\nsitedir=/x\\ny\nsitedir=/z\\\\\n";
        _cleanup_(buffer_done) Buffer b = {};
        DiscoverInfo i = {}, j = {};

        assert_int(parse(text, &i, NULL), ==, 0);
        assert_int(discover_info_format(&i, &b), ==, 0);
        assert_int(b.size, ==,
                   strlen("python=3.11.2\npackage=a 1\npackage=b 2\nsitedir=/x\\ny\nsitedir=/z\\\\\n"));
        assert_se(memcmp(b.data, "python=3.11.2\npackage=a 1\npackage=b 2\nsitedir=/x\\ny\nsitedir=/z\\\\\n",
                         b.size) == 0);
        assert_int(discover_info_parse(b.data, b.size, &j, NULL), ==, 0);
        assert_streq(j.python, i.python);
        assert_int(j.n_packages, ==, 2);
        assert_streq(j.packages[1], "b 2");
        assert_streq(j.sitedirs[0], "/x\ny");
        assert_streq(j.sitedirs[1], "/z\\");
        discover_info_done(&i);
        discover_info_done(&j);
}

static void test_profile_info(void) {
        char *args[] = { (char *) "-I", NULL };
        Profile p = {
                .name = (char *) "numpy",
                .interpreter = (char *) "/opt/pyward-numpy/bin/python3",
                .interpreter_args = args,
                .network = CONFIG_NETWORK_LOOPBACK,
                .enabled = true,
        };
        DiscoverInfo i = {};
        ProfileInfo pi = {}, back = {};
        _cleanup_(buffer_done) Buffer b = {};

        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                p.limit_default[k] = 100 + (uint64_t) k;
                p.limit_max[k] = 1000 + (uint64_t) k;
        }
        assert_int(
                parse("python=3.11.2\npackage=numpy 1.24.2\npackage=attrs 22.2.0\nsitedir=/x\npackages_omitted=4\n",
                      &i, NULL),
                ==, 0);
        assert_int(discover_profile_info(&p, &i, NULL, &pi), ==, 0);
        assert_streq(pi.name, "numpy");
        assert_streq(pi.interpreter, "/opt/pyward-numpy/bin/python3");
        assert_streq(pi.python, "3.11.2");
        assert_streq(pi.network, "loopback");
        assert_int(pi.n_packages, ==, 2);
        assert_int(pi.packages_omitted, ==, 4);
        assert_streq(pi.packages[0], "attrs 22.2.0");
        assert_streq(pi.packages[1], "numpy 1.24.2");
        assert_int(pi.limit_default[LIMIT_FILES_OUT_TIME], ==, 100 + LIMIT_FILES_OUT_TIME);
        assert_int(pi.limit_max[LIMIT_MEMORY], ==, 1000 + LIMIT_MEMORY);

        /* What the client gets: the frame, parsed back. */
        assert_int(profile_info_append(&b, &pi), ==, 0);
        assert_se(b.size > PW_FRAME_HEADER_SIZE);
        assert_int(profile_info_parse(b.data + PW_FRAME_HEADER_SIZE, b.size - PW_FRAME_HEADER_SIZE, &back),
                   ==, 0);
        assert_streq(back.name, "numpy");
        assert_streq(back.python, "3.11.2");
        assert_streq(back.network, "loopback");
        assert_int(back.n_packages, ==, 2);
        assert_int(back.packages_omitted, ==, 4);
        assert_streq(back.packages[1], "numpy 1.24.2");
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                assert_int(back.limit_default[k], ==, 100 + (uint64_t) k);
                assert_int(back.limit_max[k], ==, 1000 + (uint64_t) k);
        }
        profile_info_done(&back);
        profile_info_done(&pi);

        /* Unknown: no python, no packages, the note says why; network none. */
        p.network = CONFIG_NETWORK_NONE;
        assert_int(discover_profile_info(&p, NULL, "the discovery run failed", &pi), ==, 0);
        assert_streq(pi.python, "");
        assert_streq(pi.network, "none");
        assert_streq(pi.note, "the discovery run failed");
        assert_int(pi.n_packages, ==, 0);
        profile_info_done(&pi);
        discover_info_done(&i);
}

int main(void) {
        test_parse_ok();
        test_parse_refused();
        test_parse_omitted();
        test_parse_bounds();
        test_format_roundtrip();
        test_profile_info();
        return 0;
}
