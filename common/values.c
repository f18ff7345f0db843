/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Values in systemd's syntax (sizes, time spans, booleans, percentages) as pyward.conf and the
 * pyward(1) command line take them, with exact integer arithmetic. */

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "values.h"

static int parse_decimal(const char **p, uint64_t *ret_int, uint64_t *ret_frac, unsigned *ret_digits) {
        const char *s = *p;
        uint64_t v = 0, frac = 0;
        unsigned digits = 0;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        if (*s == '.') {
                s++;
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                /* More than 9 fractional digits add nothing at byte or microsecond resolution. */
                for (; isdigit((unsigned char) *s); s++)
                        if (digits < 9) {
                                frac = frac * 10 + (uint64_t) (*s - '0');
                                digits++;
                        }
        }
        *p = s;
        *ret_int = v;
        *ret_frac = frac;
        *ret_digits = digits;
        return 0;
}

/* int.frac * unit, exactly rounded down, or -ERANGE. */
static int scale(uint64_t v, uint64_t frac, unsigned digits, uint64_t unit, uint64_t *ret) {
        uint64_t div = 1, f;

        if (v > UINT64_MAX / unit)
                return -ERANGE;
        for (unsigned i = 0; i < digits; i++)
                div *= 10;
        /* frac < 10^9 times a unit of up to a day in microseconds overflows 64 bits; 128 do not,
         * and the quotient is below unit. */
        f = (uint64_t) ((unsigned __int128) frac * unit / div);
        if (v * unit > UINT64_MAX - f)
                return -ERANGE;
        *ret = v * unit + f;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                char suffix;
                uint64_t factor;
        } table[] = {
                { 'B', 1ULL },       { 'K', 1ULL << 10 }, { 'M', 1ULL << 20 },
                { 'G', 1ULL << 30 }, { 'T', 1ULL << 40 },
        };
        uint64_t v, frac, unit = 1, r;
        unsigned digits;
        int k;

        if (!s)
                return -EINVAL;
        k = parse_decimal(&s, &v, &frac, &digits);
        if (k < 0)
                return k;
        if (*s) {
                size_t i;

                for (i = 0; i < ELEMENTSOF(table); i++)
                        if (*s == table[i].suffix)
                                break;
                if (i >= ELEMENTSOF(table) || s[1] != '\0')
                        return -EINVAL;
                unit = table[i].factor;
        } else if (digits > 0)
                return -EINVAL; /* "1.5" bytes makes no sense */
        k = scale(v, frac, digits, unit, &r);
        if (k < 0)
                return k;
        *ret = r;
        return 0;
}

int parse_timespan(const char *s, uint64_t *ret_usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } table[] = {
                /* Longest first so that "ms" is not read as "m" + garbage. */
                { "seconds", 1000000ULL },  { "second", 1000000ULL },
                { "minutes", 60000000ULL }, { "minute", 60000000ULL },
                { "hours", 3600000000ULL }, { "hour", 3600000000ULL },
                { "days", 86400000000ULL }, { "day", 86400000000ULL },
                { "usec", 1ULL },           { "msec", 1000ULL },
                { "sec", 1000000ULL },      { "min", 60000000ULL },
                { "hr", 3600000000ULL },    { "us", 1ULL },
                { "ms", 1000ULL },          { "s", 1000000ULL },
                { "m", 60000000ULL },       { "h", 3600000000ULL },
                { "d", 86400000000ULL },
        };
        uint64_t total = 0;
        bool any = false;

        if (!s)
                return -EINVAL;
        for (;;) {
                uint64_t v, frac, unit = 1000000ULL, part;
                unsigned digits;
                int k;

                while (*s == ' ' || *s == '\t')
                        s++;
                if (!*s)
                        break;
                k = parse_decimal(&s, &v, &frac, &digits);
                if (k < 0)
                        return k;
                while (*s == ' ' || *s == '\t')
                        s++;
                if (isalpha((unsigned char) *s)) {
                        size_t i, l = 0;

                        while (isalpha((unsigned char) s[l]))
                                l++;
                        for (i = 0; i < ELEMENTSOF(table); i++)
                                if (strlen(table[i].suffix) == l && strncmp(s, table[i].suffix, l) == 0)
                                        break;
                        if (i >= ELEMENTSOF(table))
                                return -EINVAL;
                        unit = table[i].usec;
                        s += l;
                }
                k = scale(v, frac, digits, unit, &part);
                if (k < 0)
                        return k;
                if (total > UINT64_MAX - part)
                        return -ERANGE;
                total += part;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret_usec = total;
        return 0;
}

int parse_boolean(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        return -EINVAL;
}

int parse_uint(const char *s, uint64_t *ret) {
        uint64_t v, frac;
        unsigned digits;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_decimal(&s, &v, &frac, &digits);
        if (r < 0)
                return r;
        if (*s || digits > 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_percent(const char *s, uint64_t *ret) {
        char buf[32];
        size_t l;

        if (!s)
                return -EINVAL;
        l = strlen(s);
        if (l < 2 || l >= sizeof(buf) || s[l - 1] != '%')
                return -EINVAL;
        memcpy(buf, s, l - 1);
        buf[l - 1] = '\0';
        return parse_uint(buf, ret);
}

char *format_size(char *buf, size_t size, uint64_t bytes) {
        static const char suffixes[] = "TGMK";

        for (unsigned i = 0; i < 4; i++) {
                uint64_t unit = 1ULL << (10 * (4 - i));

                if (bytes > 0 && bytes % unit == 0) {
                        snprintf(buf, size, "%" PRIu64 "%c", bytes / unit, suffixes[i]);
                        return buf;
                }
        }
        snprintf(buf, size, "%" PRIu64, bytes);
        return buf;
}

char *format_timespan(char *buf, size_t size, uint64_t usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } table[] = {
                { "h", 3600000000ULL }, { "min", 60000000ULL }, { "s", 1000000ULL },
                { "ms", 1000ULL },      { "us", 1ULL },
        };
        size_t n = 0;

        if (size == 0)
                return buf;
        buf[0] = '\0';
        if (usec == 0) {
                snprintf(buf, size, "0");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(table) && usec > 0; i++) {
                uint64_t v = usec / table[i].usec;
                int k;

                if (v == 0)
                        continue;
                usec -= v * table[i].usec;
                k = snprintf(buf + n, size - n, "%s%" PRIu64 "%s", n > 0 ? " " : "", v, table[i].suffix);
                if (k < 0 || (size_t) k >= size - n)
                        break;
                n += (size_t) k;
        }
        return buf;
}
