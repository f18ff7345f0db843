/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --show-config: the merged settings written back as a valid pyward.conf, every row of the
 * settings table in its order, each value under a comment saying where it came from. */

#include <string.h>

#include "config-internal.h"

/* The origin goes on a comment line of its own: there are no inline comments, and the output is
 * meant to be a valid pyward.conf that yields these very settings when read back. */
static void show_line(FILE *f, const char *key, const char *value, const char *origin) {
        fprintf(f, "# %s\n%s=%s\n", origin_or_builtin(origin), key, value);
}

static void show_list(FILE *f, const Setting *s, char **l, char **origins, const char *reset) {
        /* Always start with a reset so that the list below is the whole list. */
        fprintf(f, "# %s\n%s=\n", reset ? reset : "(the entries below are the whole list)", s->name);
        for (size_t i = 0; l && l[i]; i++)
                show_line(f, s->name, l[i], origins && i < strv_length(origins) ? origins[i] : NULL);
}

static void show_setting(FILE *f, const Setting *s, const void *field, const ConfigOrigins *o) {
        size_t id = setting_index(s);
        char buf[FORMAT_VALUE_MAX];
        const char *value = buf;

        switch (s->type) {
        case VALUE_ARGS:
        case VALUE_PATHS:
        case VALUE_SYSCALLS:
        case VALUE_USERS:
        case VALUE_GROUPS:
        case VALUE_MODULES:
                show_list(f, s, *(char **const *) field, o->list[id], o->reset[id]);
                return;
        case VALUE_INTERPRETER:
                value = *(char *const *) field;
                break;
        case VALUE_NETWORK:
                value = *(const int *) field == CONFIG_NETWORK_LOOPBACK ? "loopback" : "none";
                break;
        case VALUE_BOOLEAN:
                value = *(const bool *) field ? "yes" : "no";
                break;
        case VALUE_SIZE:
        case VALUE_COUNT:
        case VALUE_PERCENT:
        case VALUE_TIME:
                format_number(buf, sizeof(buf), s->type, *(const uint64_t *) field);
                break;
        }
        show_line(f, s->name, value, o->scalar[id]);
}

/* Every row of one section, of c ([Access]) or p ([Profile]). */
static void show_section(FILE *f, bool access, const Config *c, const Profile *p, const ConfigOrigins *o) {
        for (const Setting *s = config_settings; s < config_settings + config_n_settings; s++)
                if (s->access == access)
                        show_setting(f, s, setting_field(s, c, p), o);
}

static void show_profile(FILE *f, const Profile *p) {
        if (strcmp(p->name, "default") == 0)
                fprintf(f, "[Profile]\n");
        else
                fprintf(f, "[Profile \"%s\"]\n", p->name);
        show_section(f, false, NULL, p, p->origins);
}

int config_show(const Config *c, const char *profile, FILE *f) {
        if (!c || !f)
                return -EINVAL;
        if (profile) {
                const Profile *p = config_find_profile(c, profile);

                if (!p)
                        return -ENOENT;
                show_profile(f, p);
                return fflush(f) == 0 ? 0 : -errno;
        }
        fprintf(f, "# Effective pyward configuration. Files, in the order applied:\n");
        if (strv_length(c->files) == 0)
                fprintf(f, "#   (none: built-in defaults only)\n");
        for (char **i = c->files; i && *i; i++)
                fprintf(f, "#   %s\n", *i);
        fprintf(f, "\n[Access]\n");
        show_section(f, true, c, NULL, c->origins);
        for (size_t i = 0; i < c->n_profiles; i++) {
                fputc('\n', f);
                show_profile(f, &c->profiles[i]);
        }
        return fflush(f) == 0 ? 0 : -errno;
}
