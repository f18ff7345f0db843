/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the config-*.c files share: the settings table (one row per key drives parsing, applying,
 * built-in defaults and --show-config), the origins of values, and the parser's state. */
#pragma once

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "config.h"

/* A value type names the syntax a key accepts, how it is shown, and the C type of its field. */
typedef enum ValueType {
        VALUE_SIZE,        /* uint64_t, bytes: "64M" */
        VALUE_COUNT,       /* uint64_t: "42" */
        VALUE_PERCENT,     /* uint64_t: "150%" */
        VALUE_TIME,        /* uint64_t, microseconds: "1min 30s" */
        VALUE_BOOLEAN,     /* bool */
        VALUE_INTERPRETER, /* char *: an executable, or a venv directory */
        VALUE_NETWORK,     /* int: CONFIG_NETWORK_* */
        VALUE_ARGS,        /* char **: list of words */
        VALUE_PATHS,       /* char **: list of absolute paths that must exist */
        VALUE_SYSCALLS,    /* char **: list of syscall names and @groups */
        VALUE_USERS,       /* char **: list of user names or uids */
        VALUE_GROUPS,      /* char **: list of group names or gids */
        VALUE_MODULES,     /* char **: list of Python module names ("numpy", "os.path") */
} ValueType;

static inline bool value_type_is_list(ValueType t) {
        return t >= VALUE_ARGS;
}

/* One key. Rows are in the order --show-config prints them; a row's index in config_settings[]
 * is its index in ConfigOrigins. */
typedef struct Setting {
        const char *name;
        bool access; /* [Access], a field of Config; else [Profile], a field of Profile */
        ValueType type;
        size_t offset;        /* of the field in Config or Profile */
        uint64_t min, max;    /* numbers only, inclusive */
        uint64_t def;         /* built-in default of a number, boolean or Network= */
        const char *def_text; /* built-in default of Interpreter= or a list (words); NULL: none */
} Setting;

#define CONFIG_SETTINGS_MAX 64
extern const Setting config_settings[];
extern const size_t config_n_settings;

/* The row of [Section] Key=, or NULL; and the rows of a limit's maximum and default. */
const Setting *config_setting_find(bool access, const char *name);
const Setting *config_setting_limit(LimitKey k, bool max);

static inline size_t setting_index(const Setting *s) {
        return (size_t) (s - config_settings);
}

/* The field a row describes, in c (an [Access] key) or p (a [Profile] key). */
static inline void *setting_field(const Setting *s, const Config *c, const Profile *p) {
        return (char *) (s->access ? (const void *) c : (const void *) p) + s->offset;
}

struct ConfigOrigins {
        char *scalar[CONFIG_SETTINGS_MAX]; /* "file:line"; NULL: built-in default */
        char **list[CONFIG_SETTINGS_MAX];  /* one origin per list element */
        char *reset[CONFIG_SETTINGS_MAX];  /* where the list was last emptied, if it was */
};

static inline const char *origin_or_builtin(const char *o) {
        return o ?: "built-in default";
}

/* Config and Profile with every field of the table set to its built-in default; copies. */
Config *config_new_builtin(void);
int profile_init_builtin(Profile *p);
int profile_copy(const Profile *p, const char *name, Profile *ret);
void profile_done(Profile *p);

/* A number of the given type as the config writes it ("64M", "1min 30s", "150%", "42"). */
void format_number(char *buf, size_t size, ValueType type, uint64_t v);

/* ---- the parser (config-parse.c) ------------------------------------------------------------ */

typedef struct Assignment {
        const Setting *setting;
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
        bool section_bad;      /* a broken header was reported; its keys are skipped silently */
        char *section_profile; /* profile of the current [Profile ...] section */
} Parser;

int parser_init(Parser *p, const char *root);
void parser_done(Parser *p);
/* Records one error; origin is "file:line", "file" or "built-in default". Returns -EINVAL so that
 * callers can `return parser_error(...)`: the error is recorded, parsing goes on. */
_printf_(3, 4) int parser_error(Parser *p, const char *origin, const char *format, ...);
/* Reads one file's text into the parser's assignments. */
int parser_feed(Parser *p, const char *name, const char *text, size_t size);

/* Value syntax: splits on blanks; checks one list element (NULL, or a static or buf error text). */
int strv_split_words(const char *s, char ***ret);
const char *list_element_error(const char *root, ValueType type, const char *w, char *buf, size_t size);
bool path_is_normalized_absolute(const char *s);
/* stat() of path below root. */
int root_stat(const char *root, const char *path, struct stat *st);

/* ---- applying (config-apply.c) -------------------------------------------------------------- */

/* Applies every assignment to the built-in defaults, checks the result; the config_load() return
 * convention. */
int parser_finish(Parser *p, Config **ret, char **ret_errors);
