/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward.conf's syntax: our line reader in front of inih (sections, Key=value lines, file:line
 * errors), the deferred assignments it collects, and the syntax of list values. */

#include <ctype.h>
#include <ini.h>
#include <limits.h>
#include <seccomp.h>
#include <stdarg.h>
#include <string.h>

#include "config-internal.h"

/* systemd 252's syscall groups (src/shared/seccomp-util.c); later versions only add to them. */
/* clang-format off */
static const char *const syscall_groups[] = {
        "@aio",       "@basic-io", "@chown",     "@clock",    "@cpu-emulation", "@debug",
        "@file-system", "@io-event", "@ipc",     "@keyring",  "@memlock",       "@module",
        "@mount",     "@network-io", "@obsolete", "@pkey",    "@privileged",    "@process",
        "@raw-io",    "@reboot",   "@resources", "@sandbox",  "@setuid",        "@signal",
        "@swap",      "@sync",     "@system-service", "@timer", "@known",
};
/* clang-format on */

/* ---- the parser ---------------------------------------------------------------------------- */

void parser_done(Parser *p) {
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

int parser_init(Parser *p, const char *root) {
        *p = (Parser) { .root = root };
        p->errors = open_memstream(&p->errors_buf, &p->errors_size);
        if (!p->errors)
                return -ENOMEM;
        return 0;
}

int parser_error(Parser *p, const char *origin, const char *format, ...) {
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

/* gcc 12's analyzer loses the strings stored into p->assignments[p->n_assignments] (a symbolic
 * index into a heap array) and reports them as leaked; parser_done() frees every assignment. */
DISABLE_WARNING_ANALYZER_LEAK
static int parser_handler(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;
        char origin[PATH_MAX + 16];
        const Setting *s;
        Assignment *a;

        /* The section comes from our reader, not inih (which truncates long section names). */
        s = config_setting_find(p->section_access, name);
        if (!s) {
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
                .setting = s,
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
REENABLE_WARNING

int parser_feed(Parser *p, const char *name, const char *text, size_t size) {
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

/* ---- value syntax -------------------------------------------------------------------------- */

int strv_split_words(const char *s, char ***ret) {
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

bool path_is_normalized_absolute(const char *s) {
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

int root_stat(const char *root, const char *path, struct stat *st) {
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

/* An absolute module name: ASCII identifiers joined by single dots, at most 128 bytes (what the
 * runner imports while it waits; $PYWARD_PRELOAD joins them with commas). */
static bool module_name_valid(const char *s) {
        size_t n = strlen(s);
        bool start = true;

        if (n == 0 || n > 128)
                return false;
        for (const char *c = s; *c; c++) {
                if (*c == '.') {
                        if (start)
                                return false;
                        start = true;
                        continue;
                }
                if (!isalpha((unsigned char) *c) && *c != '_' && (start || !isdigit((unsigned char) *c)))
                        return false;
                start = false;
        }
        return !start;
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

const char *list_element_error(const char *root, ValueType type, const char *w, char *buf, size_t size) {
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
                r = root_stat(root, w, &st);
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
        case VALUE_MODULES:
                if (!module_name_valid(w))
                        return "not a Python module name (identifiers joined by '.')";
                return NULL;
        default:
                return "internal error";
        }
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
