/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The profiles of --list-profiles (profiles.h): decoded with the protocol's decoder, printed one
 * block each. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "profiles.h"
#include "values.h"

int profiles_add(Profiles *p, const uint8_t *payload, size_t size) {
        ProfileInfo info = {};
        ProfileInfo *a;
        int r;

        if (p->n >= PROFILES_MAX)
                return fail("protocol error: more than %d PROFILE_INFO frames from the helper", PROFILES_MAX);
        r = profile_info_parse(payload, size, &info);
        if (r == -ENOMEM)
                return fail("out of memory");
        if (r < 0)
                return fail("protocol error: malformed PROFILE_INFO from the helper: %s", strerror(-r));
        a = reallocarray(p->items, p->n + 1, sizeof(ProfileInfo));
        if (!a) {
                profile_info_done(&info);
                return fail("out of memory");
        }
        p->items = a;
        p->items[p->n++] = info;
        return 0;
}

char *limit_value_format(LimitKey k, uint64_t v, char *buf, size_t size) {
        /* clang-format off */
        switch (k) {
        case LIMIT_MEMORY: case LIMIT_OUTPUT: case LIMIT_DISK: case LIMIT_FILES_IN_BYTES:
        case LIMIT_FILES_OUT_BYTES: case LIMIT_FILE_OUT_SIZE:
                return format_size(buf, size, v);
        case LIMIT_CPU_TIME: case LIMIT_WALL_TIME: case LIMIT_FILES_OUT_TIME:
                return format_timespan(buf, size, v);
        case LIMIT_CPU_QUOTA:
                snprintf(buf, size, "%" PRIu64 "%%", v);
                return buf;
        default:
                snprintf(buf, size, "%" PRIu64, v);
                return buf;
        }
        /* clang-format on */
}

/* A value of the helper's: control bytes shown escaped (nothing in it moves a terminal), a line
 * break continued under the value. */
static void print_value(FILE *f, const char *s) {
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c == '\n')
                        fprintf(f, "\n%20s", "");
                else if (*c < 0x20 || *c == 0x7f)
                        fprintf(f, "\\x%02x", *c);
                else
                        fputc(*c, f);
}

static void print_field(FILE *f, const char *name, const char *value) {
        fprintf(f, "  %-17s ", name);
        print_value(f, value);
        fputc('\n', f);
}

static void print_limits(const ProfileInfo *p, FILE *f, const char *title, int from, int to) {
        fprintf(f, "  %-17s %-12s %s\n", title, "default", "max");
        for (int k = from; k < to; k++) {
                char d[FORMAT_VALUE_MAX], m[FORMAT_VALUE_MAX];

                fprintf(f, "    %-15s %-12s %s\n", limit_key_to_string(k),
                        limit_value_format(k, p->limit_default[k], d, sizeof(d)),
                        limit_value_format(k, p->limit_max[k], m, sizeof(m)));
        }
}

static void print_one(const ProfileInfo *p, FILE *f) {
        fputs("profile ", f);
        print_value(f, p->name ? p->name : "?");
        fputc('\n', f);
        print_field(f, "interpreter", p->interpreter ? p->interpreter : "?");
        print_field(f, "python", p->python && *p->python ? p->python : "unknown");
        print_field(f, "network", p->network ? p->network : "?");
        print_limits(p, f, "limits", 1, LIMIT_FILES_IN);
        print_limits(p, f, "files", LIMIT_FILES_IN, _LIMIT_MAX);
        fprintf(f, "  %-17s %zu", "packages", p->n_packages);
        if (p->packages_omitted > 0)
                fprintf(f, " (and %" PRIu64 " not listed)", p->packages_omitted);
        fputc('\n', f);
        for (size_t i = 0; i < p->n_packages; i++) {
                fputs("    ", f);
                print_value(f, p->packages[i]);
                fputc('\n', f);
        }
        if (p->note && *p->note)
                print_field(f, "note", p->note);
}

void profiles_print(const Profiles *p, FILE *f) {
        for (size_t i = 0; i < p->n; i++) {
                if (i > 0)
                        fputc('\n', f);
                print_one(&p->items[i], f);
        }
}

void profiles_done(Profiles *p) {
        for (size_t i = 0; i < p->n; i++)
                profile_info_done(&p->items[i]);
        free(p->items);
        *p = (Profiles) {};
}
