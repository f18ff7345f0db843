/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Applying pyward.conf's assignments: each value is checked and stored in the field its row of
 * the settings table names; named profiles start from the merged default profile. */

#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "config-internal.h"

void format_number(char *buf, size_t size, ValueType type, uint64_t v) {
        switch (type) {
        case VALUE_SIZE:
                format_size(buf, size, v);
                break;
        case VALUE_TIME:
                format_timespan(buf, size, v);
                break;
        case VALUE_PERCENT:
                snprintf(buf, size, "%" PRIu64 "%%", v);
                break;
        default:
                snprintf(buf, size, "%" PRIu64, v);
        }
}

/* gcc 12's analyzer loses a string stored into o->reset[id] (a symbolic index) and reports it
 * as leaked; origins_free() frees every entry. */
DISABLE_WARNING_ANALYZER_LEAK
static int apply_list(Parser *p, char ***l, ConfigOrigins *o, const Assignment *a) {
        const Setting *s = a->setting;
        size_t id = setting_index(s);
        _cleanup_strv_free_ char **words = NULL;
        size_t n;
        int r;

        r = strv_split_words(a->value, &words);
        if (r == -E2BIG)
                return parser_error(p, a->origin, "%s=: word too long", s->name);
        if (r < 0)
                return parser_error(p, a->origin, "out of memory");
        if (!words || !words[0]) {
                /* An empty assignment resets the list, as in systemd. */
                *l = strv_free(*l);
                o->list[id] = strv_free(o->list[id]);
                free(o->reset[id]);
                o->reset[id] = strdup(a->origin);
                return o->reset[id] ? 0 : parser_error(p, a->origin, "out of memory");
        }
        n = strv_length(*l);
        for (char **w = words; *w; w++) {
                char buf[256];
                const char *e = list_element_error(p->root, s->type, *w, buf, sizeof(buf));

                if (e) {
                        parser_error(p, a->origin, "%s=%s: %s", s->name, *w, e);
                        continue;
                }
                if (n >= CONFIG_LIST_MAX)
                        return parser_error(p, a->origin, "%s=: too many entries (at most %d)", s->name,
                                            CONFIG_LIST_MAX);
                if (strv_extend(l, *w) < 0 || strv_extend(&o->list[id], a->origin) < 0)
                        return parser_error(p, a->origin, "out of memory");
                n++;
        }
        return 0;
}
REENABLE_WARNING

/* gcc 12's analyzer loses a string stored through field when field is setting_field()'s
 * pointer (a Config or Profile plus a symbolic offset); fields_free() frees it. */
DISABLE_WARNING_ANALYZER_LEAK
static int apply_interpreter(Parser *p, char **field, const Assignment *a) {
        char path[PATH_MAX];
        struct stat st;
        int r;

        if (!path_is_normalized_absolute(a->value) || strpbrk(a->value, " \t"))
                return parser_error(p, a->origin, "Interpreter=%s: not a normalized absolute path", a->value);
        r = root_stat(p->root, a->value, &st);
        if (r < 0)
                return parser_error(p, a->origin, "Interpreter=%s: %s", a->value, strerror(-r));
        snprintf(path, sizeof(path), "%s", a->value);
        if (S_ISDIR(st.st_mode)) {
                /* A directory is a virtual environment: its bin/python3 is the interpreter, and
                 * Python finds the venv from that path (pyvenv.cfg one level up). */
                snprintf(path, sizeof(path), "%s%sbin/python3", a->value,
                         a->value[strlen(a->value) - 1] == '/' ? "" : "/");
                r = root_stat(p->root, path, &st);
                if (r < 0)
                        return parser_error(p, a->origin, "Interpreter=%s: a directory, but %s: %s", a->value,
                                            path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                return parser_error(p, a->origin, "Interpreter=%s: %s is not an executable file", a->value,
                                    path);
        free(*field);
        *field = strdup(path);
        if (!*field)
                return parser_error(p, a->origin, "out of memory");
        return 0;
}
REENABLE_WARNING

static int apply_number(Parser *p, uint64_t *field, const Assignment *a) {
        static const char *const what[] = {
                [VALUE_SIZE] = "a size such as 64M (K, M, G, T: base 1024)",
                [VALUE_COUNT] = "a number",
                [VALUE_PERCENT] = "a percentage such as 150%",
                [VALUE_TIME] = "a time span such as 2s, 500ms or 1min 30s",
        };
        const Setting *s = a->setting;
        char lo[FORMAT_VALUE_MAX], hi[FORMAT_VALUE_MAX];
        uint64_t v = 0;
        int r;

        r = s->type == VALUE_SIZE      ? parse_size(a->value, &v)
            : s->type == VALUE_COUNT   ? parse_uint(a->value, &v)
            : s->type == VALUE_PERCENT ? parse_percent(a->value, &v)
                                       : parse_timespan(a->value, &v);
        if (r == -EINVAL)
                return parser_error(p, a->origin, "%s=%s: expected %s", s->name, a->value, what[s->type]);
        if (r < 0 || v < s->min || v > s->max) {
                format_number(lo, sizeof(lo), s->type, s->min);
                format_number(hi, sizeof(hi), s->type, s->max);
                return parser_error(p, a->origin, "%s=%s: out of range (%s..%s)", s->name, a->value, lo, hi);
        }
        *field = v;
        return 0;
}

/* gcc 12's analyzer loses a string stored into o->scalar[id] (a symbolic index) and reports it
 * as leaked; origins_free() frees every entry. */
DISABLE_WARNING_ANALYZER_LEAK
static int apply(Parser *p, Config *c, Profile *pr, const Assignment *a) {
        const Setting *s = a->setting;
        ConfigOrigins *o = s->access ? c->origins : pr->origins;
        void *field = setting_field(s, c, pr);
        size_t id = setting_index(s);
        int r = 0;

        switch (s->type) {
        case VALUE_ARGS:
        case VALUE_PATHS:
        case VALUE_SYSCALLS:
        case VALUE_USERS:
        case VALUE_GROUPS:
        case VALUE_MODULES:
                return apply_list(p, field, o, a);
        case VALUE_INTERPRETER:
                r = apply_interpreter(p, field, a);
                break;
        case VALUE_NETWORK:
                if (strcmp(a->value, "none") == 0)
                        *(int *) field = CONFIG_NETWORK_NONE;
                else if (strcmp(a->value, "loopback") == 0)
                        *(int *) field = CONFIG_NETWORK_LOOPBACK;
                else
                        return parser_error(p, a->origin, "Network=%s: expected none or loopback", a->value);
                break;
        case VALUE_BOOLEAN:
                if (parse_boolean(a->value, field) < 0)
                        return parser_error(p, a->origin,
                                            "%s=%s: not a boolean (yes/no, true/false, on/off, 1/0)", s->name,
                                            a->value);
                break;
        case VALUE_SIZE:
        case VALUE_COUNT:
        case VALUE_PERCENT:
        case VALUE_TIME:
                r = apply_number(p, field, a);
                break;
        }
        if (r < 0)
                return r;
        free(o->scalar[id]);
        o->scalar[id] = strdup(a->origin);
        return o->scalar[id] ? 0 : parser_error(p, a->origin, "out of memory");
}
REENABLE_WARNING

/* A default above its maximum would make every request without that limit fail. */
static void profile_check(Parser *p, const Profile *pr) {
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                const Setting *ds = config_setting_limit(k, false), *ms = config_setting_limit(k, true);
                char d[FORMAT_VALUE_MAX], m[FORMAT_VALUE_MAX];
                const char *od = pr->origins->scalar[setting_index(ds)],
                           *om = pr->origins->scalar[setting_index(ms)];

                if (pr->limit_default[k] <= pr->limit_max[k])
                        continue;
                parser_error(p, origin_or_builtin(od ?: om), "%s=%s exceeds %s=%s (%s) in profile %s",
                             ds->name, config_format_limit(k, pr->limit_default[k], d, sizeof(d)), ms->name,
                             config_format_limit(k, pr->limit_max[k], m, sizeof(m)), origin_or_builtin(om),
                             pr->name);
        }
}

static void apply_profile(Parser *p, Config *c, Profile *pr) {
        bool is_default = strcmp(pr->name, "default") == 0;

        /* [Access] assignments go along with the default profile's, in file order. */
        for (size_t i = 0; i < p->n_assignments; i++) {
                const char *name = p->assignments[i].profile;

                if (is_default ? !name || strcmp(name, "default") == 0 : name && strcmp(name, pr->name) == 0)
                        (void) apply(p, c, pr, &p->assignments[i]);
        }
        profile_check(p, pr);
}

/* ConnectionsPerUser= unset: in proportion to JobsPerUser=, so that raising one raises the other;
 * --show-config says so in the value's origin. gcc 12's analyzer loses the string stored into
 * origins->scalar[id] (a symbolic index); origins_free() frees every entry. */
DISABLE_WARNING_ANALYZER_LEAK
static int connections_derive(Config *c) {
        const Setting *s = config_setting_find(true, "ConnectionsPerUser");
        char **origin = &c->origins->scalar[setting_index(s)];

        if (c->connections_per_uid > 0)
                return 0;
        c->connections_per_uid = CONNECTIONS_PER_JOB * c->jobs_per_uid;
        free(*origin);
        *origin = strdup("built-in default: 2 x JobsPerUser=");
        return *origin ? 0 : -ENOMEM;
}
REENABLE_WARNING

int parser_finish(Parser *p, Config **ret, char **ret_errors) {
        _cleanup_(config_freep) Config *c = NULL;
        Profile *def;
        int r;

        c = config_new_builtin();
        if (!c)
                return -ENOMEM;
        c->profiles = calloc(1 + strv_length(p->profile_names), sizeof(Profile));
        if (!c->profiles)
                return -ENOMEM;
        r = profile_init_builtin(&c->profiles[0]);
        if (r < 0)
                return r;
        c->n_profiles = 1;
        def = &c->profiles[0];
        apply_profile(p, c, def);

        for (char **name = p->profile_names; name && *name; name++) {
                Profile *pr = &c->profiles[c->n_profiles];

                r = profile_copy(def, *name, pr);
                if (r < 0)
                        return r;
                c->n_profiles++;
                apply_profile(p, c, pr);
        }
        c->files = TAKE_PTR(p->files);
        r = connections_derive(c);
        if (r < 0)
                return r;

        if (p->n_errors > 0) {
                if (p->n_errors > CONFIG_ERRORS_MAX)
                        fprintf(p->errors, "(%u more errors not shown)\n", p->n_errors - CONFIG_ERRORS_MAX);
                if (fflush(p->errors) != 0)
                        return -ENOMEM;
                if (ret_errors) {
                        *ret_errors = strdup(p->errors_buf ?: "");
                        if (!*ret_errors)
                                return -ENOMEM;
                }
                return -EINVAL;
        }
        *ret = TAKE_PTR(c);
        if (ret_errors)
                *ret_errors = NULL;
        return 0;
}

const Profile *config_find_profile(const Config *c, const char *name) {
        if (!c)
                return NULL;
        if (!name)
                name = "default";
        for (size_t i = 0; i < c->n_profiles; i++)
                if (strcmp(c->profiles[i].name, name) == 0)
                        return &c->profiles[i];
        return NULL;
}
