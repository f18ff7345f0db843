/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward.conf: reads /etc/pyward/pyward.conf and the pyward.conf.d drop-ins (systemd's masking and
 * ordering), validates every value with file:line errors, merges profiles and checks requests. */

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "admission.h"
#include "config-paths.h"
#include "config.h"

/* ---- settings table ------------------------------------------------------------------------ */

typedef enum ValueType {
        VALUE_SIZE,
        VALUE_COUNT,
        VALUE_PERCENT,
        VALUE_TIME,
        VALUE_BOOLEAN,
        VALUE_INTERPRETER,
        VALUE_NETWORK,
        VALUE_ARGS,     /* list of words */
        VALUE_PATHS,    /* list of absolute paths that must exist */
        VALUE_SYSCALLS, /* list of syscall names and @groups */
        VALUE_USERS,    /* list of user names or uids */
        VALUE_GROUPS,   /* list of group names or gids */
} ValueType;

typedef enum SettingId {
        /* [Access] */
        SETTING_ACCESS_ALLOW_USERS,
        SETTING_ACCESS_ALLOW_GROUPS,
        SETTING_JOBS_PER_USER,
        SETTING_REQUEST_TIMEOUT,
        /* [Profile] */
        SETTING_INTERPRETER,
        SETTING_INTERPRETER_ARGS,
        SETTING_READ_ONLY_PATHS,
        SETTING_NETWORK,
        SETTING_SYSCALL_ALLOW,
        SETTING_SYSCALL_DENY,
        SETTING_ALLOW_USERS,
        SETTING_ALLOW_GROUPS,
        SETTING_CODE_MAX,
        SETTING_ENABLED,
        _SETTING_LIMIT_MAX_FIRST, /* + LimitKey: the maxima */
        _SETTING_LIMIT_DEFAULT_FIRST = _SETTING_LIMIT_MAX_FIRST + _LIMIT_MAX,
        _SETTING_MAX = _SETTING_LIMIT_DEFAULT_FIRST + _LIMIT_MAX,
} SettingId;

typedef struct Setting {
        const char *name;
        bool access; /* [Access] rather than [Profile] */
        ValueType type;
        uint64_t min, max; /* numbers only, inclusive */
} Setting;

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)
#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_HOUR (3600ULL * USEC_PER_SEC)
#define USEC_PER_WEEK (168ULL * USEC_PER_HOUR)

#define LIMIT_SETTINGS(key, maxname, defname, t, lo, hi)                                           \
        [_SETTING_LIMIT_MAX_FIRST + (key)] = { maxname, false, t, lo, hi },                        \
        [_SETTING_LIMIT_DEFAULT_FIRST + (key)] = { defname, false, t, lo, hi }

static const Setting settings[_SETTING_MAX] = {
        [SETTING_ACCESS_ALLOW_USERS] = { "AllowUsers", true, VALUE_USERS, 0, 0 },
        [SETTING_ACCESS_ALLOW_GROUPS] = { "AllowGroups", true, VALUE_GROUPS, 0, 0 },
        [SETTING_JOBS_PER_USER] = { "JobsPerUser", true, VALUE_COUNT, 1, 4096 },
        [SETTING_REQUEST_TIMEOUT] = { "RequestTimeoutSec", true, VALUE_TIME, USEC_PER_MSEC, USEC_PER_HOUR },
        [SETTING_INTERPRETER] = { "Interpreter", false, VALUE_INTERPRETER, 0, 0 },
        [SETTING_INTERPRETER_ARGS] = { "InterpreterArgs", false, VALUE_ARGS, 0, 0 },
        [SETTING_READ_ONLY_PATHS] = { "ReadOnlyPaths", false, VALUE_PATHS, 0, 0 },
        [SETTING_NETWORK] = { "Network", false, VALUE_NETWORK, 0, 0 },
        [SETTING_SYSCALL_ALLOW] = { "SystemCallAllow", false, VALUE_SYSCALLS, 0, 0 },
        [SETTING_SYSCALL_DENY] = { "SystemCallDeny", false, VALUE_SYSCALLS, 0, 0 },
        [SETTING_ALLOW_USERS] = { "AllowUsers", false, VALUE_USERS, 0, 0 },
        [SETTING_ALLOW_GROUPS] = { "AllowGroups", false, VALUE_GROUPS, 0, 0 },
        [SETTING_CODE_MAX] = { "CodeMax", false, VALUE_SIZE, 1, PW_CODE_MAX },
        [SETTING_ENABLED] = { "Enabled", false, VALUE_BOOLEAN, 0, 0 },
        LIMIT_SETTINGS(LIMIT_MEMORY, "MemoryMax", "DefaultMemory", VALUE_SIZE, 1, TIB),
        LIMIT_SETTINGS(LIMIT_TASKS, "TasksMax", "DefaultTasks", VALUE_COUNT, 1, 65536),
        LIMIT_SETTINGS(LIMIT_CPU_QUOTA, "CPUQuotaMax", "DefaultCPUQuota", VALUE_PERCENT, 1, 100000),
        LIMIT_SETTINGS(LIMIT_CPU_TIME, "CPUTimeMaxSec", "DefaultCPUTimeSec", VALUE_TIME, USEC_PER_MSEC,
                       USEC_PER_WEEK),
        LIMIT_SETTINGS(LIMIT_WALL_TIME, "WallTimeMaxSec", "DefaultWallTimeSec", VALUE_TIME, USEC_PER_MSEC,
                       USEC_PER_WEEK),
        LIMIT_SETTINGS(LIMIT_OUTPUT, "OutputMax", "DefaultOutput", VALUE_SIZE, 1, TIB),
        LIMIT_SETTINGS(LIMIT_DISK, "DiskMax", "DefaultDisk", VALUE_SIZE, 1, TIB),
};

/* Built-in defaults, documented in pyward.conf(5). */
static const uint64_t builtin_limit_default[_LIMIT_MAX] = {
        [LIMIT_MEMORY] = 256 * MIB,         [LIMIT_TASKS] = 32,
        [LIMIT_CPU_QUOTA] = 100,            [LIMIT_CPU_TIME] = 10 * USEC_PER_SEC,
        [LIMIT_WALL_TIME] = 30 * USEC_PER_SEC, [LIMIT_OUTPUT] = 1 * MIB,
        [LIMIT_DISK] = 64 * MIB,
};
static const uint64_t builtin_limit_max[_LIMIT_MAX] = {
        [LIMIT_MEMORY] = 1 * GIB,            [LIMIT_TASKS] = 256,
        [LIMIT_CPU_QUOTA] = 200,             [LIMIT_CPU_TIME] = 60 * USEC_PER_SEC,
        [LIMIT_WALL_TIME] = 300 * USEC_PER_SEC, [LIMIT_OUTPUT] = 16 * MIB,
        [LIMIT_DISK] = 256 * MIB,
};
#define BUILTIN_INTERPRETER "/usr/bin/python3"
#define BUILTIN_INTERPRETER_ARGS "-I"
#define BUILTIN_ALLOW_USERS "root"
#define BUILTIN_ALLOW_GROUPS "pyward"
#define BUILTIN_JOBS_PER_USER 8
#define BUILTIN_REQUEST_TIMEOUT (5 * USEC_PER_SEC)

/* systemd 252's syscall groups (src/shared/seccomp-util.c); later versions only add to them. */
static const char *const syscall_groups[] = {
        "@aio",       "@basic-io", "@chown",     "@clock",    "@cpu-emulation", "@debug",
        "@file-system", "@io-event", "@ipc",     "@keyring",  "@memlock",       "@module",
        "@mount",     "@network-io", "@obsolete", "@pkey",    "@privileged",    "@process",
        "@raw-io",    "@reboot",   "@resources", "@sandbox",  "@setuid",        "@signal",
        "@swap",      "@sync",     "@system-service", "@timer", "@known",
};

struct ConfigOrigins {
        char *scalar[_SETTING_MAX]; /* "file:line"; NULL: built-in default */
        char **list[_SETTING_MAX];  /* one origin per list element */
        char *reset[_SETTING_MAX];  /* where the list was last emptied, if it was */
};

static ConfigOrigins *origins_free(ConfigOrigins *o) {
        if (!o)
                return NULL;
        for (size_t i = 0; i < _SETTING_MAX; i++) {
                free(o->scalar[i]);
                strv_free(o->list[i]);
                free(o->reset[i]);
        }
        free(o);
        return NULL;
}

static ConfigOrigins *origins_copy(const ConfigOrigins *o) {
        ConfigOrigins *c = calloc(1, sizeof(ConfigOrigins));

        if (!c)
                return NULL;
        for (size_t i = 0; i < _SETTING_MAX; i++) {
                if ((o->scalar[i] && !(c->scalar[i] = strdup(o->scalar[i]))) ||
                    (o->reset[i] && !(c->reset[i] = strdup(o->reset[i]))) ||
                    (o->list[i] && !(c->list[i] = strv_copy(o->list[i]))))
                        return origins_free(c);
        }
        return c;
}

/* ---- profiles and config ------------------------------------------------------------------- */

static void profile_done(Profile *p) {
        free(p->name);
        free(p->interpreter);
        strv_free(p->interpreter_args);
        strv_free(p->read_only_paths);
        strv_free(p->syscall_allow);
        strv_free(p->syscall_deny);
        strv_free(p->allow_users);
        strv_free(p->allow_groups);
        origins_free(p->origins);
        *p = (Profile) {};
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        strv_free(c->allow_users);
        strv_free(c->allow_groups);
        for (size_t i = 0; i < c->n_profiles; i++)
                profile_done(&c->profiles[i]);
        free(c->profiles);
        strv_free(c->files);
        origins_free(c->origins);
        free(c);
        return NULL;
}

static int strv_split_words(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        for (;;) {
                char word[CONFIG_LINE_MAX + 1];
                size_t n;
                int r;

                s += strspn(s, " \t");
                if (!*s)
                        break;
                n = strcspn(s, " \t");
                if (n >= sizeof(word))
                        return -E2BIG;
                memcpy(word, s, n);
                word[n] = '\0';
                r = strv_extend(&l, word);
                if (r < 0)
                        return r;
                s += n;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int profile_init_builtin(Profile *p) {
        *p = (Profile) {
                .code_max = PW_CODE_MAX,
                .network = CONFIG_NETWORK_NONE,
                .enabled = true,
        };
        memcpy(p->limit_default, builtin_limit_default, sizeof(p->limit_default));
        memcpy(p->limit_max, builtin_limit_max, sizeof(p->limit_max));
        p->name = strdup("default");
        p->interpreter = strdup(BUILTIN_INTERPRETER);
        p->origins = calloc(1, sizeof(ConfigOrigins));
        if (!p->name || !p->interpreter || !p->origins ||
            strv_split_words(BUILTIN_INTERPRETER_ARGS, &p->interpreter_args) < 0 ||
            strv_extend(&p->origins->list[SETTING_INTERPRETER_ARGS], "built-in default") < 0) {
                profile_done(p);
                return -ENOMEM;
        }
        return 0;
}

static int profile_copy(const Profile *p, const char *name, Profile *ret) {
        Profile c = *p;

        c.name = strdup(name);
        c.interpreter = p->interpreter ? strdup(p->interpreter) : NULL;
        c.interpreter_args = p->interpreter_args ? strv_copy(p->interpreter_args) : NULL;
        c.read_only_paths = p->read_only_paths ? strv_copy(p->read_only_paths) : NULL;
        c.syscall_allow = p->syscall_allow ? strv_copy(p->syscall_allow) : NULL;
        c.syscall_deny = p->syscall_deny ? strv_copy(p->syscall_deny) : NULL;
        c.allow_users = p->allow_users ? strv_copy(p->allow_users) : NULL;
        c.allow_groups = p->allow_groups ? strv_copy(p->allow_groups) : NULL;
        c.origins = origins_copy(p->origins);
        if (!c.name || (p->interpreter && !c.interpreter) || (p->interpreter_args && !c.interpreter_args) ||
            (p->read_only_paths && !c.read_only_paths) || (p->syscall_allow && !c.syscall_allow) ||
            (p->syscall_deny && !c.syscall_deny) || (p->allow_users && !c.allow_users) ||
            (p->allow_groups && !c.allow_groups) || !c.origins) {
                profile_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

/* ---- the parser ---------------------------------------------------------------------------- */

typedef struct Assignment {
        SettingId id;
        char *profile; /* NULL for [Access] */
        char *value;
        char *origin; /* "file:line" */
} Assignment;

typedef struct Parser {
        const char *root;
        /* Deferred assignments, applied once every file is read: a named profile inherits the
         * default profile as merged from *all* files, whatever the file order. */
        Assignment *assignments;
        size_t n_assignments, n_allocated;
        char **profile_names; /* named profiles in order of first appearance */
        char **files;

        FILE *errors;
        char *errors_buf;
        size_t errors_size;
        unsigned n_errors;

        /* The file being read: our own line reader feeds inih, so we always know the line. */
        const char *file;
        const char *pos, *end;
        unsigned line;
        bool in_section;
        bool section_access;
        bool section_bad; /* a broken header was reported; its keys are skipped silently */
        char *section_profile; /* profile of the current [Profile ...] section */
} Parser;

static void parser_done(Parser *p) {
        for (size_t i = 0; i < p->n_assignments; i++) {
                free(p->assignments[i].profile);
                free(p->assignments[i].value);
                free(p->assignments[i].origin);
        }
        free(p->assignments);
        strv_free(p->profile_names);
        strv_free(p->files);
        if (p->errors)
                fclose(p->errors);
        free(p->errors_buf);
        free(p->section_profile);
}

static int parser_init(Parser *p, const char *root) {
        *p = (Parser) { .root = root };
        p->errors = open_memstream(&p->errors_buf, &p->errors_size);
        if (!p->errors)
                return -ENOMEM;
        return 0;
}

/* Records one error; origin is "file:line", "file" or "built-in default". Returns -EINVAL so that
 * callers can `return parser_error(...)`: the error is recorded, parsing goes on. */
_printf_(3, 4) static int parser_error(Parser *p, const char *origin, const char *format, ...) {
        va_list ap;

        p->n_errors++;
        if (p->n_errors > CONFIG_ERRORS_MAX)
                return -EINVAL;
        fprintf(p->errors, "%s: ", origin);
        va_start(ap, format);
        vfprintf(p->errors, format, ap);
        va_end(ap);
        fputc('\n', p->errors);
        return -EINVAL;
}

_printf_(2, 3) static int parser_line_error(Parser *p, const char *format, ...) {
        char origin[PATH_MAX + 16], msg[512];
        va_list ap;

        snprintf(origin, sizeof(origin), "%s:%u", p->file, p->line);
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        return parser_error(p, origin, "%s", msg);
}

static bool profile_name_valid(const char *s, size_t n) {
        if (n == 0 || n > PW_PROFILE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("_.-", s[i]))
                        return false;
        return true;
}

static int parser_note_profile(Parser *p, const char *name) {
        size_t n = strv_length(p->profile_names);

        for (size_t i = 0; i < n; i++)
                if (strcmp(p->profile_names[i], name) == 0)
                        return 0;
        if (n >= CONFIG_PROFILES_MAX) {
                parser_line_error(p, "too many profiles (at most %d)", CONFIG_PROFILES_MAX);
                return 0;
        }
        return strv_extend(&p->profile_names, name);
}

/* A section line, already known to start with '['. Sets the parser's current section. */
static int parser_section(Parser *p, const char *s, size_t n) {
        p->in_section = false;
        p->section_access = false;
        p->section_bad = true; /* until proven otherwise: no cascade of errors for its keys */
        free(p->section_profile);
        p->section_profile = NULL;

        if (n < 2 || s[n - 1] != ']') {
                parser_line_error(p, "section header lacks the closing ']'");
                return 0;
        }
        s++;
        n -= 2;
        if (n == 6 && memcmp(s, "Access", 6) == 0) {
                p->in_section = p->section_access = true;
                p->section_bad = false;
                return 0;
        }
        if (n == 7 && memcmp(s, "Profile", 7) == 0) {
                p->section_profile = strdup("default");
                if (!p->section_profile)
                        return -ENOMEM;
                p->in_section = true;
                p->section_bad = false;
                return 0;
        }
        if (n > 10 && memcmp(s, "Profile \"", 9) == 0 && s[n - 1] == '"') {
                if (!profile_name_valid(s + 9, n - 10)) {
                        parser_line_error(p, "invalid profile name \"%.*s\" (1..%d of A-Z a-z 0-9 _ . -)",
                                          (int) (n - 10), s + 9, PW_PROFILE_NAME_MAX);
                        return 0;
                }
                p->section_profile = strndup(s + 9, n - 10);
                if (!p->section_profile)
                        return -ENOMEM;
                p->in_section = true;
                p->section_bad = false;
                if (strcmp(p->section_profile, "default") == 0)
                        return 0;
                return parser_note_profile(p, p->section_profile);
        }
        parser_line_error(p, "unknown section [%.*s] (expected [Access], [Profile] or [Profile \"NAME\"])",
                          (int) n, s);
        return 0;
}

/* inih's reader callback: hands inih one line at a time. We check each line's shape here (inih
 * would silently fold indented lines into the previous value, cut ';' comments, truncate long
 * lines and section names), so what inih sees is either a clean line or an empty one. */
static char *parser_read_line(char *str, int num, void *stream) {
        Parser *p = stream;
        const char *nl, *s;
        size_t n;

        if (p->pos >= p->end)
                return NULL;
        p->line++;
        nl = memchr(p->pos, '\n', (size_t) (p->end - p->pos));
        s = p->pos;
        n = (size_t) ((nl ? nl : p->end) - s);
        p->pos = nl ? nl + 1 : p->end;

        str[0] = '\n';
        str[1] = '\0';
        if (num < CONFIG_LINE_MAX + 2)
                return str; /* cannot happen with inih's 200-byte buffer */

        if (memchr(s, '\0', n)) {
                parser_line_error(p, "line contains a NUL byte");
                return str;
        }
        /* Leading whitespace is not a continuation line for us (systemd has none). */
        while (n > 0 && isspace((unsigned char) *s)) {
                s++;
                n--;
        }
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                n--;
        if (n == 0 || *s == '#' || *s == ';')
                return str;
        if (n > CONFIG_LINE_MAX) {
                parser_line_error(p, "line too long (at most %d bytes; split a list over several lines)",
                                  CONFIG_LINE_MAX);
                return str;
        }
        if (*s == '[') {
                if (parser_section(p, s, n) < 0) {
                        parser_line_error(p, "out of memory");
                        return str;
                }
                if (!p->in_section)
                        return str;
        } else {
                const char *eq = memchr(s, '=', n);

                if (!eq || memchr(s, ':', (size_t) (eq - s))) {
                        parser_line_error(p, "expected a [Section] or Key=value, got \"%.*s\"", (int) n, s);
                        return str;
                }
                if (memchr(eq, ';', n - (size_t) (eq - s))) {
                        parser_line_error(p, "';' is not allowed in values (there are no inline comments)");
                        return str;
                }
                if (!p->in_section) {
                        if (!p->section_bad)
                                parser_line_error(p, "assignment outside of a section");
                        return str;
                }
        }
        memcpy(str, s, n);
        str[n] = '\n';
        str[n + 1] = '\0';
        return str;
}

static int parser_handler(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;
        char origin[PATH_MAX + 16];
        Assignment *a;
        size_t i;

        /* The section comes from our reader, not inih (which truncates long section names). */
        for (i = 0; i < _SETTING_MAX; i++)
                if (settings[i].name && settings[i].access == p->section_access &&
                    strcmp(settings[i].name, name) == 0)
                        break;
        if (i >= _SETTING_MAX) {
                parser_line_error(p, "unknown key %s= in section [%s]", name,
                                  p->section_access ? "Access" : "Profile");
                return 1;
        }
        if (p->n_assignments >= (size_t) CONFIG_FILES_MAX * CONFIG_LIST_MAX) {
                parser_line_error(p, "too many assignments");
                return 1;
        }
        if (p->n_assignments >= p->n_allocated) {
                size_t n = p->n_allocated ? p->n_allocated * 2 : 32;

                a = realloc(p->assignments, sizeof(Assignment) * n);
                if (!a)
                        goto oom;
                p->assignments = a;
                p->n_allocated = n;
        }
        snprintf(origin, sizeof(origin), "%s:%u", p->file, p->line);
        a = &p->assignments[p->n_assignments];
        *a = (Assignment) {
                .id = (SettingId) i,
                .profile = p->section_access ? NULL : strdup(p->section_profile),
                .value = strdup(value),
                .origin = strdup(origin),
        };
        if ((!p->section_access && !a->profile) || !a->value || !a->origin) {
                free(a->profile);
                free(a->value);
                free(a->origin);
                goto oom;
        }
        p->n_assignments++;
        return 1;
oom:
        parser_line_error(p, "out of memory");
        return 1;
}

static int parser_feed(Parser *p, const char *name, const char *text, size_t size) {
        unsigned before = p->n_errors;
        int r;

        if (strv_length(p->files) >= CONFIG_FILES_MAX) {
                parser_error(p, name, "too many configuration files (at most %d)", CONFIG_FILES_MAX);
                return 0;
        }
        r = strv_extend(&p->files, name);
        if (r < 0)
                return r;
        p->file = name;
        p->pos = text;
        p->end = text + size;
        p->line = 0;
        p->in_section = p->section_access = p->section_bad = false;
        free(p->section_profile);
        p->section_profile = NULL;
        /* Skip a UTF-8 byte order mark ourselves: inih only does so for its own readers' first line. */
        if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
                p->pos += 3;

        r = ini_parse_stream(parser_read_line, p, parser_handler, p);
        if (r == -2)
                return -ENOMEM;
        if (r > 0 && p->n_errors == before) {
                /* Our reader should have caught every syntax error; be loud if inih disagrees. */
                p->line = (unsigned) r;
                parser_line_error(p, "syntax error");
        }
        return 0;
}

/* ---- applying values ----------------------------------------------------------------------- */

static uint64_t *setting_number(Config *c, Profile *pr, SettingId id) {
        if (id == SETTING_JOBS_PER_USER)
                return &c->jobs_per_uid;
        if (id == SETTING_REQUEST_TIMEOUT)
                return &c->request_timeout_usec;
        if (id == SETTING_CODE_MAX)
                return &pr->code_max;
        if (id >= _SETTING_LIMIT_MAX_FIRST && id < _SETTING_LIMIT_DEFAULT_FIRST)
                return &pr->limit_max[id - _SETTING_LIMIT_MAX_FIRST];
        if (id >= _SETTING_LIMIT_DEFAULT_FIRST && id < _SETTING_MAX)
                return &pr->limit_default[id - _SETTING_LIMIT_DEFAULT_FIRST];
        return NULL;
}

static char ***setting_list(Config *c, Profile *pr, SettingId id) {
        switch (id) {
        case SETTING_ACCESS_ALLOW_USERS:
                return &c->allow_users;
        case SETTING_ACCESS_ALLOW_GROUPS:
                return &c->allow_groups;
        case SETTING_INTERPRETER_ARGS:
                return &pr->interpreter_args;
        case SETTING_READ_ONLY_PATHS:
                return &pr->read_only_paths;
        case SETTING_SYSCALL_ALLOW:
                return &pr->syscall_allow;
        case SETTING_SYSCALL_DENY:
                return &pr->syscall_deny;
        case SETTING_ALLOW_USERS:
                return &pr->allow_users;
        case SETTING_ALLOW_GROUPS:
                return &pr->allow_groups;
        default:
                return NULL;
        }
}

static void format_number(char *buf, size_t size, ValueType type, uint64_t v) {
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

static bool path_is_normalized_absolute(const char *s) {
        if (s[0] != '/')
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f || *c == ':' || *c == '\\')
                        return false;
        /* No "." or ".." components and no "//": what the admin reads is what gets bound. */
        for (const char *c = s; (c = strchr(c, '/')); c++)
                if (c[1] == '/' || (c[1] == '.' && (c[2] == '/' || c[2] == '\0')) ||
                    (c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == '\0')))
                        return false;
        return strlen(s) < PATH_MAX / 2;
}

static int root_stat(const char *root, const char *path, struct stat *st) {
        char full[PATH_MAX];

        if ((size_t) snprintf(full, sizeof(full), "%s%s", strcmp(root, "/") == 0 ? "" : root, path) >=
            sizeof(full))
                return -ENAMETOOLONG;
        if (stat(full, st) < 0)
                return -errno;
        return 0;
}

static bool name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32 || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("_.-", s[i]))
                        return false;
        if (strspn(s, "0123456789") == n) {
                uint64_t v;

                /* Numeric ids: reject (uid_t) -1 and -2, which mean "none" and "nobody". */
                if (parse_uint(s, &v) < 0 || v >= UINT32_MAX - 1)
                        return false;
        }
        return true;
}

static bool syscall_name_valid(const char *s) {
        if (s[0] == '@') {
                for (size_t i = 0; i < ELEMENTSOF(syscall_groups); i++)
                        if (strcmp(s, syscall_groups[i]) == 0)
                                return true;
                return false;
        }
        for (const char *c = s; *c; c++)
                if (!islower((unsigned char) *c) && !isdigit((unsigned char) *c) && *c != '_')
                        return false;
        return seccomp_syscall_resolve_name(s) != __NR_SCMP_ERROR;
}

/* Checks one list element; returns NULL or a static/buf error text. */
static const char *list_element_error(Parser *p, ValueType type, const char *w, char *buf, size_t size) {
        struct stat st;
        int r;

        switch (type) {
        case VALUE_ARGS:
                for (const char *c = w; *c; c++)
                        if ((unsigned char) *c < 0x20 || *c == 0x7f || *c == '"' || *c == '\'' || *c == '\\')
                                return "quotes, backslashes and control characters are not allowed";
                return NULL;
        case VALUE_PATHS:
                if (!path_is_normalized_absolute(w))
                        return "not a normalized absolute path (no '.', '..', '//', ':' or '\\')";
                r = root_stat(p->root, w, &st);
                if (r < 0) {
                        snprintf(buf, size, "%s", strerror(-r));
                        return buf;
                }
                return NULL;
        case VALUE_SYSCALLS:
                if (w[0] == '~')
                        return "'~' is not allowed: the key says whether entries are allowed or denied";
                if (!syscall_name_valid(w))
                        return "unknown system call or @group";
                return NULL;
        case VALUE_USERS:
        case VALUE_GROUPS:
                if (!name_valid(w))
                        return "not a valid name or numeric id";
                return NULL;
        default:
                return "internal error";
        }
}

static int apply_list(Parser *p, Config *c, Profile *pr, const Assignment *a) {
        char ***l = setting_list(c, pr, a->id);
        ConfigOrigins *o = settings[a->id].access ? c->origins : pr->origins;
        _cleanup_strv_free_ char **words = NULL;
        size_t n;
        int r;

        r = strv_split_words(a->value, &words);
        if (r == -E2BIG)
                return parser_error(p, a->origin, "%s=: word too long", settings[a->id].name);
        if (r < 0)
                return parser_error(p, a->origin, "out of memory");
        if (!words || !words[0]) {
                /* An empty assignment resets the list, as in systemd. */
                *l = strv_free(*l);
                o->list[a->id] = strv_free(o->list[a->id]);
                free(o->reset[a->id]);
                o->reset[a->id] = strdup(a->origin);
                return o->reset[a->id] ? 0 : parser_error(p, a->origin, "out of memory");
        }
        n = strv_length(*l);
        for (char **w = words; *w; w++) {
                char buf[256];
                const char *e = list_element_error(p, settings[a->id].type, *w, buf, sizeof(buf));

                if (e) {
                        parser_error(p, a->origin, "%s=%s: %s", settings[a->id].name, *w, e);
                        continue;
                }
                if (n >= CONFIG_LIST_MAX) {
                        return parser_error(p, a->origin, "%s=: too many entries (at most %d)",
                                            settings[a->id].name, CONFIG_LIST_MAX);
                }
                if (strv_extend(l, *w) < 0 || strv_extend(&o->list[a->id], a->origin) < 0)
                        return parser_error(p, a->origin, "out of memory");
                n++;
        }
        return 0;
}

static int apply_interpreter(Parser *p, Profile *pr, const Assignment *a) {
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
        free(pr->interpreter);
        pr->interpreter = strdup(path);
        if (!pr->interpreter)
                return parser_error(p, a->origin, "out of memory");
        return 0;
}

static int apply(Parser *p, Config *c, Profile *pr, const Assignment *a) {
        const Setting *s = &settings[a->id];
        ConfigOrigins *o = s->access ? c->origins : pr->origins;
        uint64_t v = 0;
        int r = 0;

        switch (s->type) {
        case VALUE_ARGS:
        case VALUE_PATHS:
        case VALUE_SYSCALLS:
        case VALUE_USERS:
        case VALUE_GROUPS:
                return apply_list(p, c, pr, a);
        case VALUE_INTERPRETER:
                r = apply_interpreter(p, pr, a);
                if (r < 0)
                        return r;
                break;
        case VALUE_NETWORK:
                if (strcmp(a->value, "none") == 0)
                        pr->network = CONFIG_NETWORK_NONE;
                else if (strcmp(a->value, "loopback") == 0)
                        pr->network = CONFIG_NETWORK_LOOPBACK;
                else
                        return parser_error(p, a->origin, "Network=%s: expected none or loopback", a->value);
                break;
        case VALUE_BOOLEAN: {
                bool b;

                if (parse_boolean(a->value, &b) < 0)
                        return parser_error(p, a->origin, "%s=%s: not a boolean (yes/no, true/false, on/off, 1/0)",
                                            s->name, a->value);
                pr->enabled = b;
                break;
        }
        case VALUE_SIZE:
        case VALUE_COUNT:
        case VALUE_PERCENT:
        case VALUE_TIME: {
                static const char *const what[] = {
                        [VALUE_SIZE] = "a size such as 64M (K, M, G, T: base 1024)",
                        [VALUE_COUNT] = "a number",
                        [VALUE_PERCENT] = "a percentage such as 150%",
                        [VALUE_TIME] = "a time span such as 2s, 500ms or 1min 30s",
                };
                char lo[FORMAT_VALUE_MAX], hi[FORMAT_VALUE_MAX];

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
                *setting_number(c, pr, a->id) = v;
                break;
        }
        }
        free(o->scalar[a->id]);
        o->scalar[a->id] = strdup(a->origin);
        return o->scalar[a->id] ? 0 : parser_error(p, a->origin, "out of memory");
}

static const char *origin_or_builtin(const char *o) {
        return o ?: "built-in default";
}

static void profile_check(Parser *p, const Profile *pr) {
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                SettingId dk = _SETTING_LIMIT_DEFAULT_FIRST + k, mk = _SETTING_LIMIT_MAX_FIRST + k;
                char d[FORMAT_VALUE_MAX], m[FORMAT_VALUE_MAX];
                const char *od = pr->origins->scalar[dk], *om = pr->origins->scalar[mk];

                if (pr->limit_default[k] <= pr->limit_max[k])
                        continue;
                format_number(d, sizeof(d), settings[dk].type, pr->limit_default[k]);
                format_number(m, sizeof(m), settings[mk].type, pr->limit_max[k]);
                parser_error(p, origin_or_builtin(od ?: om), "%s=%s exceeds %s=%s (%s) in profile %s",
                             settings[dk].name, d, settings[mk].name, m, origin_or_builtin(om), pr->name);
        }
}

static int parser_finish(Parser *p, Config **ret, char **ret_errors) {
        _cleanup_(config_freep) Config *c = NULL;
        Profile *def;
        int r;

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        c->jobs_per_uid = BUILTIN_JOBS_PER_USER;
        c->request_timeout_usec = BUILTIN_REQUEST_TIMEOUT;
        c->origins = calloc(1, sizeof(ConfigOrigins));
        c->profiles = calloc(1 + strv_length(p->profile_names), sizeof(Profile));
        if (!c->origins || !c->profiles || strv_extend(&c->allow_users, BUILTIN_ALLOW_USERS) < 0 ||
            strv_extend(&c->allow_groups, BUILTIN_ALLOW_GROUPS) < 0 ||
            strv_extend(&c->origins->list[SETTING_ACCESS_ALLOW_USERS], "built-in default") < 0 ||
            strv_extend(&c->origins->list[SETTING_ACCESS_ALLOW_GROUPS], "built-in default") < 0)
                return -ENOMEM;
        r = profile_init_builtin(&c->profiles[0]);
        if (r < 0)
                return r;
        c->n_profiles = 1;
        def = &c->profiles[0];

        for (size_t i = 0; i < p->n_assignments; i++)
                if (!p->assignments[i].profile || strcmp(p->assignments[i].profile, "default") == 0)
                        (void) apply(p, c, def, &p->assignments[i]);
        profile_check(p, def);

        for (char **name = p->profile_names; name && *name; name++) {
                Profile *pr = &c->profiles[c->n_profiles];

                r = profile_copy(def, *name, pr);
                if (r < 0)
                        return r;
                c->n_profiles++;
                for (size_t i = 0; i < p->n_assignments; i++)
                        if (p->assignments[i].profile && strcmp(p->assignments[i].profile, *name) == 0)
                                (void) apply(p, c, pr, &p->assignments[i]);
                profile_check(p, pr);
        }
        c->files = TAKE_PTR(p->files);

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

int config_parse_string(const char *root, const char *name, const char *text, size_t size, Config **ret,
                        char **ret_errors) {
        Parser p;
        int r;

        if (!root || !name || (!text && size > 0) || !ret)
                return -EINVAL;
        r = parser_init(&p, root);
        if (r < 0)
                return r;
        r = parser_feed(&p, name, text ?: "", size);
        if (r >= 0)
                r = parser_finish(&p, ret, ret_errors);
        parser_done(&p);
        return r;
}

/* ---- files --------------------------------------------------------------------------------- */

static int read_file_below(const char *root, const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL, *full = NULL;
        struct stat st;
        size_t n = 0;

        if (asprintf(&full, "%s%s", strcmp(root, "/") == 0 ? "" : root, path) < 0)
                return -ENOMEM;
        /* O_NONBLOCK: a FIFO dropped into a conf.d must not hang the helper. */
        fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (st.st_size > CONFIG_FILE_SIZE_MAX)
                return -EFBIG;
        buf = malloc(CONFIG_FILE_SIZE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, CONFIG_FILE_SIZE_MAX + 1 - n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > CONFIG_FILE_SIZE_MAX)
                        return -EFBIG;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static int feed_file(Parser *p, const char *path, bool missing_ok) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r;

        r = read_file_below(p->root, path, &text, &size);
        if (r == -ENOENT && missing_ok)
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r == -EBADFD) {
                parser_error(p, path, "not a regular file");
                return 0;
        }
        if (r == -EFBIG) {
                parser_error(p, path, "file too large (at most %d bytes)", CONFIG_FILE_SIZE_MAX);
                return 0;
        }
        if (r < 0) {
                parser_error(p, path, "cannot read: %s", strerror(-r));
                return 0;
        }
        return parser_feed(p, path, text, size);
}

/* Collects drop-in names from the directories in priority order: a name seen in an earlier
 * (higher-priority) directory masks the same name in later ones, as systemd's conf.d do. */
static int collect_dropins(Parser *p, const char *const *dirs, size_t n_dirs, char ***ret_paths) {
        _cleanup_strv_free_ char **names = NULL, **paths = NULL;
        size_t n = 0;

        for (size_t d = 0; d < n_dirs; d++) {
                _cleanup_free_ char *full = NULL;
                DIR *dir;
                struct dirent *de;

                if (asprintf(&full, "%s%s", strcmp(p->root, "/") == 0 ? "" : p->root, dirs[d]) < 0)
                        return -ENOMEM;
                dir = opendir(full);
                if (!dir) {
                        if (errno != ENOENT && errno != ENOTDIR)
                                parser_error(p, dirs[d], "cannot read directory: %s", strerror(errno));
                        continue;
                }
                while ((de = readdir(dir))) {
                        size_t l = strlen(de->d_name);
                        bool seen = false;
                        char *path;

                        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".conf") != 0)
                                continue;
                        for (size_t i = 0; i < n && !seen; i++)
                                seen = strcmp(names[i], de->d_name) == 0;
                        if (seen)
                                continue;
                        if (n >= CONFIG_FILES_MAX) {
                                parser_error(p, dirs[d], "too many drop-ins (at most %d)", CONFIG_FILES_MAX);
                                break;
                        }
                        if (asprintf(&path, "%s/%s", dirs[d], de->d_name) < 0) {
                                closedir(dir);
                                return -ENOMEM;
                        }
                        if (strv_extend(&names, de->d_name) < 0 || strv_extend(&paths, path) < 0) {
                                free(path);
                                closedir(dir);
                                return -ENOMEM;
                        }
                        free(path);
                        n++;
                }
                closedir(dir);
        }
        /* Apply in lexical order of the file name, whichever directory it came from. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                        char *t = names[j];
                        names[j] = names[j - 1];
                        names[j - 1] = t;
                        t = paths[j];
                        paths[j] = paths[j - 1];
                        paths[j - 1] = t;
                }
        *ret_paths = TAKE_PTR(paths);
        return 0;
}

int config_load(const char *root, Config **ret, char **ret_errors) {
        static const char *const dirs[] = {
                SYSCONFDIR "/pyward/pyward.conf.d",
                RUNSTATEDIR "/pyward/pyward.conf.d",
                PKGLIBDIR "/pyward.conf.d",
        };
        _cleanup_strv_free_ char **dropins = NULL;
        Parser p;
        int r;

        if (!root || root[0] != '/' || !ret)
                return -EINVAL;
        r = parser_init(&p, root);
        if (r < 0)
                return r;
        r = feed_file(&p, SYSCONFDIR "/pyward/pyward.conf", true);
        if (r >= 0)
                r = collect_dropins(&p, dirs, ELEMENTSOF(dirs), &dropins);
        for (char **d = dropins; r >= 0 && d && *d; d++) {
                struct stat st;

                /* A symlink to /dev/null (or any non-regular file that stat resolves to a
                 * character device) masks the drop-in, as in systemd. */
                if (root_stat(root, *d, &st) >= 0 && S_ISCHR(st.st_mode))
                        continue;
                r = feed_file(&p, *d, true);
        }
        if (r >= 0)
                r = parser_finish(&p, ret, ret_errors);
        parser_done(&p);
        return r;
}

/* ---- limits -------------------------------------------------------------------------------- */

static ValueType limit_value_type(LimitKey k) {
        return settings[_SETTING_LIMIT_MAX_FIRST + k].type;
}

/* For profile_resolve_limits()'s messages: a limit's value in the syntax of its setting. */
char *config_format_limit(char *buf, size_t size, LimitKey k, uint64_t v) {
        format_number(buf, size, limit_value_type(k), v);
        return buf;
}

/* ---- --show-config ------------------------------------------------------------------------- */

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

static void show_profile(FILE *f, const Profile *p) {
        const ConfigOrigins *o = p->origins;
        char buf[FORMAT_VALUE_MAX];

        if (strcmp(p->name, "default") == 0)
                fprintf(f, "[Profile]\n");
        else
                fprintf(f, "[Profile \"%s\"]\n", p->name);
        show_line(f, "Enabled", p->enabled ? "yes" : "no", o->scalar[SETTING_ENABLED]);
        show_line(f, "Interpreter", p->interpreter, o->scalar[SETTING_INTERPRETER]);
        show_list(f, &settings[SETTING_INTERPRETER_ARGS], p->interpreter_args, o->list[SETTING_INTERPRETER_ARGS],
                  o->reset[SETTING_INTERPRETER_ARGS]);
        show_list(f, &settings[SETTING_READ_ONLY_PATHS], p->read_only_paths, o->list[SETTING_READ_ONLY_PATHS],
                  o->reset[SETTING_READ_ONLY_PATHS]);
        show_line(f, "Network", p->network == CONFIG_NETWORK_LOOPBACK ? "loopback" : "none",
                  o->scalar[SETTING_NETWORK]);
        show_list(f, &settings[SETTING_SYSCALL_ALLOW], p->syscall_allow, o->list[SETTING_SYSCALL_ALLOW],
                  o->reset[SETTING_SYSCALL_ALLOW]);
        show_list(f, &settings[SETTING_SYSCALL_DENY], p->syscall_deny, o->list[SETTING_SYSCALL_DENY],
                  o->reset[SETTING_SYSCALL_DENY]);
        show_list(f, &settings[SETTING_ALLOW_USERS], p->allow_users, o->list[SETTING_ALLOW_USERS],
                  o->reset[SETTING_ALLOW_USERS]);
        show_list(f, &settings[SETTING_ALLOW_GROUPS], p->allow_groups, o->list[SETTING_ALLOW_GROUPS],
                  o->reset[SETTING_ALLOW_GROUPS]);
        show_line(f, "CodeMax", format_size(buf, sizeof(buf), p->code_max), o->scalar[SETTING_CODE_MAX]);
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                SettingId mk = _SETTING_LIMIT_MAX_FIRST + k, dk = _SETTING_LIMIT_DEFAULT_FIRST + k;

                format_number(buf, sizeof(buf), settings[mk].type, p->limit_max[k]);
                show_line(f, settings[mk].name, buf, o->scalar[mk]);
                format_number(buf, sizeof(buf), settings[dk].type, p->limit_default[k]);
                show_line(f, settings[dk].name, buf, o->scalar[dk]);
        }
}

int config_show(const Config *c, const char *profile, FILE *f) {
        char buf[FORMAT_VALUE_MAX];

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
        show_list(f, &settings[SETTING_ACCESS_ALLOW_USERS], c->allow_users,
                  c->origins->list[SETTING_ACCESS_ALLOW_USERS], c->origins->reset[SETTING_ACCESS_ALLOW_USERS]);
        show_list(f, &settings[SETTING_ACCESS_ALLOW_GROUPS], c->allow_groups,
                  c->origins->list[SETTING_ACCESS_ALLOW_GROUPS], c->origins->reset[SETTING_ACCESS_ALLOW_GROUPS]);
        snprintf(buf, sizeof(buf), "%" PRIu64, c->jobs_per_uid);
        show_line(f, "JobsPerUser", buf, c->origins->scalar[SETTING_JOBS_PER_USER]);
        show_line(f, "RequestTimeoutSec", format_timespan(buf, sizeof(buf), c->request_timeout_usec),
                  c->origins->scalar[SETTING_REQUEST_TIMEOUT]);
        for (size_t i = 0; i < c->n_profiles; i++) {
                fputc('\n', f);
                show_profile(f, &c->profiles[i]);
        }
        return fflush(f) == 0 ? 0 : -errno;
}
