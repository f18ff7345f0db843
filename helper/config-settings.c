/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The settings table of pyward.conf: every key, its section, field, type, bounds and built-in
 * default (documented in pyward.conf(5)); and the life of Config and Profile, driven by it. */

#include <stddef.h>
#include <string.h>

#include "config-internal.h"

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)
#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_HOUR (3600ULL * USEC_PER_SEC)
#define USEC_PER_WEEK (168ULL * USEC_PER_HOUR)

#define ACCESS(field) .access = true, .offset = offsetof(Config, field)
#define PROFILE(field) .access = false, .offset = offsetof(Profile, field)

/* A limit is two keys: the maximum a request may ask, and what it gets without asking. */
/* clang-format off */
#define LIMIT(key, maxname, defname, t, lo, hi, max_def, default_def)                                   \
        { maxname, PROFILE(limit_max[key]), .type = t, .min = lo, .max = hi, .def = max_def },         \
        { defname, PROFILE(limit_default[key]), .type = t, .min = lo, .max = hi, .def = default_def }
/* clang-format on */

/* A new key is a row here and a field in Config or Profile (config.h); rows are in show order. */
const Setting config_settings[] = {
        { "AllowUsers", ACCESS(allow_users), .type = VALUE_USERS, .def_text = "root" },
        { "AllowGroups", ACCESS(allow_groups), .type = VALUE_GROUPS, .def_text = "pyward" },
        { "JobsPerUser", ACCESS(jobs_per_uid), .type = VALUE_COUNT, .min = 1, .max = 4096, .def = 8 },
        /* 0: CONNECTIONS_PER_JOB x JobsPerUser= (parser_finish() fills it in) */
        { "ConnectionsPerUser", ACCESS(connections_per_uid), .type = VALUE_COUNT, .min = 0, .max = 1024,
          .def = 0 },
        { "RequestTimeoutSec", ACCESS(request_timeout_usec), .type = VALUE_TIME, .min = USEC_PER_MSEC,
          .max = USEC_PER_HOUR, .def = 5 * USEC_PER_SEC },

        { "Enabled", PROFILE(enabled), .type = VALUE_BOOLEAN, .def = true },
        { "Interpreter", PROFILE(interpreter), .type = VALUE_INTERPRETER, .def_text = "/usr/bin/python3" },
        { "InterpreterArgs", PROFILE(interpreter_args), .type = VALUE_ARGS, .def_text = "-I" },
        { "ReadOnlyPaths", PROFILE(read_only_paths), .type = VALUE_PATHS },
        { "Network", PROFILE(network), .type = VALUE_NETWORK, .def = CONFIG_NETWORK_NONE },
        { "SystemCallAllow", PROFILE(syscall_allow), .type = VALUE_SYSCALLS },
        { "SystemCallDeny", PROFILE(syscall_deny), .type = VALUE_SYSCALLS },
        { "AllowUsers", PROFILE(allow_users), .type = VALUE_USERS },
        { "AllowGroups", PROFILE(allow_groups), .type = VALUE_GROUPS },
        /* Warm runners (pyward-helper(8) WARM RUNNERS): 0, none, by default. */
        { "WarmRunners", PROFILE(warm_runners), .type = VALUE_COUNT, .min = 0, .max = WARM_RUNNERS_MAX,
          .def = 0 },
        { "PreloadModules", PROFILE(preload_modules), .type = VALUE_MODULES },
        { "CodeMax", PROFILE(code_max), .type = VALUE_SIZE, .min = 1, .max = PW_CODE_MAX,
          .def = PW_CODE_MAX },
        LIMIT(LIMIT_MEMORY, "MemoryMax", "DefaultMemory", VALUE_SIZE, 1, TIB, 1 * GIB, 256 * MIB),
        LIMIT(LIMIT_TASKS, "TasksMax", "DefaultTasks", VALUE_COUNT, 1, 65536, 256, 32),
        LIMIT(LIMIT_CPU_QUOTA, "CPUQuotaMax", "DefaultCPUQuota", VALUE_PERCENT, 1, 100000, 200, 100),
        LIMIT(LIMIT_CPU_TIME, "CPUTimeMaxSec", "DefaultCPUTimeSec", VALUE_TIME, USEC_PER_MSEC, USEC_PER_WEEK,
              60 * USEC_PER_SEC, 10 * USEC_PER_SEC),
        LIMIT(LIMIT_WALL_TIME, "WallTimeMaxSec", "DefaultWallTimeSec", VALUE_TIME, USEC_PER_MSEC,
              USEC_PER_WEEK, 300 * USEC_PER_SEC, 30 * USEC_PER_SEC),
        LIMIT(LIMIT_OUTPUT, "OutputMax", "DefaultOutput", VALUE_SIZE, 1, TIB, 16 * MIB, 1 * MIB),
        LIMIT(LIMIT_DISK, "DiskMax", "DefaultDisk", VALUE_SIZE, 1, TIB, 256 * MIB, 64 * MIB),
        /* Files in and out (pyward-protocol(7) FILES): 0 is a valid count, size or depth ("none"). */
        LIMIT(LIMIT_FILES_IN, "FilesInMax", "DefaultFilesIn", VALUE_COUNT, 0, PW_FILES_COUNT_MAX, 100, 100),
        LIMIT(LIMIT_FILES_IN_BYTES, "FilesInBytesMax", "DefaultFilesInBytes", VALUE_SIZE, 0,
              PW_FILES_IN_BYTES_MAX, 16 * MIB, 16 * MIB),
        LIMIT(LIMIT_FILES_OUT, "FilesOutMax", "DefaultFilesOut", VALUE_COUNT, 0, PW_FILES_COUNT_MAX, 100,
              100),
        LIMIT(LIMIT_FILES_OUT_BYTES, "FilesOutBytesMax", "DefaultFilesOutBytes", VALUE_SIZE, 0, GIB, 16 * MIB,
              16 * MIB),
        LIMIT(LIMIT_FILE_OUT_SIZE, "FileOutSizeMax", "DefaultFileOutSize", VALUE_SIZE, 0,
              PW_FILE_OUT_SIZE_MAX, 16 * MIB, 16 * MIB),
        LIMIT(LIMIT_FILES_OUT_DEPTH, "FilesOutDepthMax", "DefaultFilesOutDepth", VALUE_COUNT, 0,
              PW_PATH_DEPTH_MAX, 16, 16),
        LIMIT(LIMIT_FILES_OUT_TIME, "FilesOutTimeMaxSec", "DefaultFilesOutTimeSec", VALUE_TIME, USEC_PER_MSEC,
              60 * USEC_PER_SEC, 5 * USEC_PER_SEC, 2 * USEC_PER_SEC),
        /* Sessions (pyward-protocol(7) SESSIONS): wall and CPU time above are then each cell's. */
        LIMIT(LIMIT_SESSION_WALL_TIME, "SessionWallTimeMaxSec", "DefaultSessionWallTimeSec", VALUE_TIME,
              USEC_PER_MSEC, USEC_PER_WEEK, 24 * USEC_PER_HOUR, USEC_PER_HOUR),
        LIMIT(LIMIT_SESSION_CPU_TIME, "SessionCPUTimeMaxSec", "DefaultSessionCPUTimeSec", VALUE_TIME,
              USEC_PER_MSEC, USEC_PER_WEEK, USEC_PER_HOUR, 600 * USEC_PER_SEC),
        LIMIT(LIMIT_SESSION_IDLE_TIME, "SessionIdleTimeMaxSec", "DefaultSessionIdleTimeSec", VALUE_TIME,
              USEC_PER_MSEC, USEC_PER_WEEK, USEC_PER_HOUR, 300 * USEC_PER_SEC),
        LIMIT(LIMIT_SESSION_CELLS, "SessionCellsMax", "DefaultSessionCells", VALUE_COUNT, 1, 1000000, 100000,
              10000),
        LIMIT(LIMIT_CELL_GRACE, "CellGraceMaxSec", "DefaultCellGraceSec", VALUE_TIME, USEC_PER_MSEC,
              60 * USEC_PER_SEC, 30 * USEC_PER_SEC, 2 * USEC_PER_SEC),
};
const size_t config_n_settings = ELEMENTSOF(config_settings);
_Static_assert(ELEMENTSOF(config_settings) <= CONFIG_SETTINGS_MAX, "raise CONFIG_SETTINGS_MAX");

const Setting *config_setting_find(bool access, const char *name) {
        for (size_t i = 0; i < config_n_settings; i++)
                if (config_settings[i].access == access && strcmp(config_settings[i].name, name) == 0)
                        return &config_settings[i];
        return NULL;
}

const Setting *config_setting_limit(LimitKey k, bool max) {
        size_t offset = max ? offsetof(Profile, limit_max[0]) : offsetof(Profile, limit_default[0]);

        offset += (size_t) k * sizeof(uint64_t);
        for (size_t i = 0; i < config_n_settings; i++)
                if (!config_settings[i].access && config_settings[i].offset == offset)
                        return &config_settings[i];
        return NULL; /* not reached: test-config-settings checks that every limit has both rows */
}

char *config_format_limit(LimitKey k, uint64_t v, char *buf, size_t size) {
        const Setting *s = k > 0 && k < _LIMIT_MAX ? config_setting_limit(k, true) : NULL;

        format_number(buf, size, s ? s->type : VALUE_COUNT, v);
        return buf;
}

/* ---- origins ------------------------------------------------------------------------------- */

static ConfigOrigins *origins_free(ConfigOrigins *o) {
        if (!o)
                return NULL;
        for (size_t i = 0; i < config_n_settings; i++) {
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
        for (size_t i = 0; i < config_n_settings; i++) {
                if ((o->scalar[i] && !(c->scalar[i] = strdup(o->scalar[i]))) ||
                    (o->reset[i] && !(c->reset[i] = strdup(o->reset[i]))) ||
                    (o->list[i] && !(c->list[i] = strv_copy(o->list[i]))))
                        return origins_free(c);
        }
        return c;
}

/* ---- the fields of one section ------------------------------------------------------------- */

/* Frees the strings and lists of one section's rows in c or p. */
static void fields_free(bool access, Config *c, Profile *p) {
        for (const Setting *s = config_settings; s < config_settings + config_n_settings; s++) {
                if (s->access != access)
                        continue;
                if (s->type == VALUE_INTERPRETER)
                        free(*(char **) setting_field(s, c, p));
                else if (value_type_is_list(s->type))
                        strv_free(*(char ***) setting_field(s, c, p));
        }
}

/* Sets one section's fields to their built-in defaults; list elements get "built-in default" as
 * their origin. The fields must be zero (and the strings and lists NULL) before. gcc 12's
 * analyzer loses a string stored through setting_field()'s pointer (a Config or Profile plus a
 * symbolic offset) and reports it as leaked: a false positive, fields_free() frees it. */
DISABLE_WARNING_ANALYZER_LEAK
static int fields_init_builtin(bool access, Config *c, Profile *p, ConfigOrigins *o) {
        for (const Setting *s = config_settings; s < config_settings + config_n_settings; s++) {
                void *field;
                int r;

                if (s->access != access)
                        continue;
                field = setting_field(s, c, p);
                switch (s->type) {
                case VALUE_BOOLEAN:
                        *(bool *) field = s->def;
                        break;
                case VALUE_NETWORK:
                        *(int *) field = (int) s->def;
                        break;
                case VALUE_INTERPRETER:
                        if (s->def_text && !(*(char **) field = strdup(s->def_text)))
                                return -ENOMEM;
                        break;
                case VALUE_SIZE:
                case VALUE_COUNT:
                case VALUE_PERCENT:
                case VALUE_TIME:
                        *(uint64_t *) field = s->def;
                        break;
                default: /* the lists */
                        if (!s->def_text)
                                break;
                        r = strv_split_words(s->def_text, (char ***) field);
                        if (r < 0)
                                return r;
                        for (size_t i = strv_length(*(char ***) field); i > 0; i--)
                                if (strv_extend(&o->list[setting_index(s)], "built-in default") < 0)
                                        return -ENOMEM;
                }
        }
        return 0;
}
REENABLE_WARNING

/* Copies one section's strings and lists from src (already copied bytewise into c or p). On
 * failure every field of the copy is either a copy or NULL, so that it can be freed. */
static int fields_copy(bool access, const Config *src_c, const Profile *src_p, Config *c, Profile *p) {
        int r = 0;

        for (const Setting *s = config_settings; s < config_settings + config_n_settings; s++) {
                void *field;
                const void *src;

                if (s->access != access)
                        continue;
                field = setting_field(s, c, p);
                src = setting_field(s, src_c, src_p);
                if (s->type == VALUE_INTERPRETER) {
                        const char *v = *(char *const *) src;

                        *(char **) field = v ? strdup(v) : NULL;
                        if (v && !*(char **) field)
                                r = -ENOMEM;
                } else if (value_type_is_list(s->type)) {
                        char *const *v = *(char **const *) src;

                        *(char ***) field = v ? strv_copy(v) : NULL;
                        if (v && !*(char ***) field)
                                r = -ENOMEM;
                }
        }
        return r;
}

/* ---- profiles and config ------------------------------------------------------------------- */

void profile_done(Profile *p) {
        free(p->name);
        fields_free(false, NULL, p);
        origins_free(p->origins);
        *p = (Profile) {};
}

int profile_init_builtin(Profile *p) {
        *p = (Profile) {};
        p->name = strdup("default");
        p->origins = calloc(1, sizeof(ConfigOrigins));
        if (!p->name || !p->origins || fields_init_builtin(false, NULL, p, p->origins) < 0) {
                profile_done(p);
                return -ENOMEM;
        }
        return 0;
}

int profile_copy(const Profile *p, const char *name, Profile *ret) {
        Profile c = *p;
        int r;

        c.name = strdup(name);
        c.origins = origins_copy(p->origins);
        r = fields_copy(false, NULL, p, NULL, &c);
        if (!c.name || !c.origins || r < 0) {
                profile_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

Config *config_new_builtin(void) {
        Config *c = calloc(1, sizeof(Config));

        if (!c)
                return NULL;
        c->origins = calloc(1, sizeof(ConfigOrigins));
        if (!c->origins || fields_init_builtin(true, c, NULL, c->origins) < 0)
                return config_free(c);
        return c;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        fields_free(true, c, NULL);
        for (size_t i = 0; i < c->n_profiles; i++)
                profile_done(&c->profiles[i]);
        free(c->profiles);
        strv_free(c->files);
        origins_free(c->origins);
        free(c);
        return NULL;
}
