/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Value syntax of pyward.conf and the command line (values.c): sizes, time spans, booleans,
 * percentages, and formatting that parses back to the same value. */

#include "test-config.h"

static void test_parse_size(void) {
        uint64_t v = 7;

        assert_se(parse_size("0", &v) == 0 && v == 0);
        assert_se(parse_size("4096", &v) == 0 && v == 4096);
        assert_se(parse_size("512B", &v) == 0 && v == 512);
        assert_se(parse_size("1K", &v) == 0 && v == 1024);
        assert_se(parse_size("64M", &v) == 0 && v == 64ULL << 20);
        assert_se(parse_size("1G", &v) == 0 && v == 1ULL << 30);
        assert_se(parse_size("2T", &v) == 0 && v == 2ULL << 40);
        assert_se(parse_size("1.5G", &v) == 0 && v == 3ULL << 29);
        assert_se(parse_size("0.5K", &v) == 0 && v == 512);
        assert_se(parse_size("1.5T", &v) == 0 && v == 3ULL << 39); /* exact, even for large units */
        assert_se(parse_size("0.000000001T", &v) == 0 && v == 1099);
        assert_se(parse_size("16777215T", &v) == 0 && v == 16777215ULL << 40);

        v = 7;
        assert_int(parse_size("", &v), ==, -EINVAL);
        assert_int(parse_size("M", &v), ==, -EINVAL);
        assert_int(parse_size("-1M", &v), ==, -EINVAL);
        assert_int(parse_size("1m", &v), ==, -EINVAL); /* systemd's suffixes are upper case */
        assert_int(parse_size("1 M", &v), ==, -EINVAL);
        assert_int(parse_size("1MB", &v), ==, -EINVAL);
        assert_int(parse_size("1.5", &v), ==, -EINVAL);
        assert_int(parse_size("1.M", &v), ==, -EINVAL);
        assert_int(parse_size("1X", &v), ==, -EINVAL);
        assert_int(parse_size("16777216T", &v), ==, -ERANGE);
        assert_int(parse_size("99999999999999999999", &v), ==, -ERANGE);
        assert_int(parse_size(NULL, &v), ==, -EINVAL);
        assert_int(v, ==, 7); /* untouched on failure */
}

static void test_parse_timespan(void) {
        uint64_t v = 7;

        assert_se(parse_timespan("2s", &v) == 0 && v == 2000000);
        assert_se(parse_timespan("2", &v) == 0 && v == 2000000); /* bare: seconds */
        assert_se(parse_timespan("500ms", &v) == 0 && v == 500000);
        assert_se(parse_timespan("250us", &v) == 0 && v == 250);
        assert_se(parse_timespan("1min 30s", &v) == 0 && v == 90000000);
        assert_se(parse_timespan("1min30s", &v) == 0 && v == 90000000);
        assert_se(parse_timespan("1h", &v) == 0 && v == 3600000000ULL);
        assert_se(parse_timespan("2 hours 5 minutes", &v) == 0 && v == 7500000000ULL);
        assert_se(parse_timespan("1.5s", &v) == 0 && v == 1500000);
        assert_se(parse_timespan("1d", &v) == 0 && v == 86400000000ULL);
        assert_se(parse_timespan("1.000000001d", &v) == 0 && v == 86400000086ULL);
        assert_se(parse_timespan("5sec 10msec 3usec", &v) == 0 && v == 5010003);
        assert_se(parse_timespan("2m", &v) == 0 && v == 120000000);

        v = 7;
        assert_int(parse_timespan("", &v), ==, -EINVAL);
        assert_int(parse_timespan("   ", &v), ==, -EINVAL);
        assert_int(parse_timespan("s", &v), ==, -EINVAL);
        assert_int(parse_timespan("1x", &v), ==, -EINVAL);
        assert_int(parse_timespan("1 fortnight", &v), ==, -EINVAL);
        assert_int(parse_timespan("-1s", &v), ==, -EINVAL);
        assert_int(parse_timespan("1s,", &v), ==, -EINVAL);
        assert_int(parse_timespan("99999999999999d", &v), ==, -ERANGE);
        assert_int(v, ==, 7);
}

static void test_parse_boolean_percent(void) {
        static const char *const yes[] = { "1", "yes", "YES", "y", "true", "t", "on", "On" };
        static const char *const no[] = { "0", "no", "n", "false", "False", "f", "off" };
        uint64_t v = 7;
        bool b;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                b = false;
                assert_se(parse_boolean(yes[i], &b) == 0 && b);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                b = true;
                assert_se(parse_boolean(no[i], &b) == 0 && !b);
        }
        b = true;
        assert_int(parse_boolean("", &b), ==, -EINVAL);
        assert_int(parse_boolean("2", &b), ==, -EINVAL);
        assert_int(parse_boolean("yess", &b), ==, -EINVAL);
        assert_se(b);

        assert_se(parse_percent("20%", &v) == 0 && v == 20);
        assert_se(parse_percent("250%", &v) == 0 && v == 250);
        v = 7;
        assert_int(parse_percent("20", &v), ==, -EINVAL);
        assert_int(parse_percent("%", &v), ==, -EINVAL);
        assert_int(parse_percent("1.5%", &v), ==, -EINVAL);
        assert_int(parse_percent("20%%", &v), ==, -EINVAL);
        assert_int(v, ==, 7);
}

static void test_format(void) {
        char buf[FORMAT_VALUE_MAX];
        uint64_t v;

        assert_streq(format_size(buf, sizeof(buf), 0), "0");
        assert_streq(format_size(buf, sizeof(buf), 1000), "1000");
        assert_streq(format_size(buf, sizeof(buf), 1024), "1K");
        assert_streq(format_size(buf, sizeof(buf), 512ULL << 20), "512M");
        assert_streq(format_size(buf, sizeof(buf), 1ULL << 30), "1G");
        assert_streq(format_size(buf, sizeof(buf), 3ULL << 29), "1536M");
        assert_streq(format_size(buf, sizeof(buf), 5ULL << 40), "5T");
        assert_streq(format_timespan(buf, sizeof(buf), 0), "0");
        assert_streq(format_timespan(buf, sizeof(buf), 500000), "500ms");
        assert_streq(format_timespan(buf, sizeof(buf), 90000000), "1min 30s");
        assert_streq(format_timespan(buf, sizeof(buf), 3600000000ULL + 1001), "1h 1ms 1us");
        assert_streq(format_timespan(buf, sizeof(buf), 30000000), "30s");

        /* What we print, we parse back to the same value. */
        for (uint64_t x = 1; x < UINT64_MAX / 7; x = x * 7 + 3) {
                assert_se(parse_size(format_size(buf, sizeof(buf), x), &v) == 0 && v == x);
                assert_se(parse_timespan(format_timespan(buf, sizeof(buf), x), &v) == 0 && v == x);
        }
}

int main(void) {
        static void (*const tests[])(void) = {
                test_parse_size,
                test_parse_timespan,
                test_parse_boolean_percent,
                test_format,
        };

        return test_config_main(tests, ELEMENTSOF(tests));
}
