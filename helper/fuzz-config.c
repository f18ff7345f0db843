/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point for the pyward.conf parser: the input is one configuration file, parsed
 * below a small fake root; what parses must show, re-parse to the same settings, and bound requests. */

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admission.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[] = "/tmp/fuzz-config-XXXXXX";
static bool root_ready;

static void check(bool b) {
        if (!b)
                abort();
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void root_remove(void) {
        (void) nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A root with the things a config can point at, so the path checks have something to find. */
static void root_create(const char *path, bool exec) {
        char full[4096];
        FILE *f;

        snprintf(full, sizeof(full), "%s%s", root, path);
        for (char *s = full + strlen(root) + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        (void) mkdir(full, 0755);
                        *s = '/';
                }
        f = fopen(full, "we");
        check(f);
        check(fclose(f) == 0);
        check(chmod(full, exec ? 0755 : 0644) == 0);
}

static void setup(void) {
        if (root_ready)
                return;
        check(mkdtemp(root));
        root_create("/usr/bin/python3", true);
        root_create("/opt/venv/bin/python3", true);
        root_create("/opt/venv/pyvenv.cfg", false);
        root_create("/srv/data/file", false);
        atexit(root_remove);
        root_ready = true;
}

static void check_same(const Config *a, const Config *b) {
        check(a->n_profiles == b->n_profiles);
        check(a->jobs_per_uid == b->jobs_per_uid);
        check(a->connections_per_uid == b->connections_per_uid);
        check(a->request_timeout_usec == b->request_timeout_usec);
        check(strv_length(a->allow_users) == strv_length(b->allow_users));
        check(strv_length(a->allow_groups) == strv_length(b->allow_groups));
        for (size_t i = 0; i < a->n_profiles; i++) {
                const Profile *p = &a->profiles[i], *q = config_find_profile(b, p->name);

                check(q);
                check(memcmp(p->limit_max, q->limit_max, sizeof(p->limit_max)) == 0);
                check(memcmp(p->limit_default, q->limit_default, sizeof(p->limit_default)) == 0);
                check(p->code_max == q->code_max);
                check(p->network == q->network);
                check(p->enabled == q->enabled);
                check(strcmp(p->interpreter, q->interpreter) == 0);
                check(strv_length(p->interpreter_args) == strv_length(q->interpreter_args));
                check(strv_length(p->read_only_paths) == strv_length(q->read_only_paths));
                check(strv_length(p->syscall_allow) == strv_length(q->syscall_allow));
                check(strv_length(p->syscall_deny) == strv_length(q->syscall_deny));
                check(strv_length(p->allow_users) == strv_length(q->allow_users));
                check(strv_length(p->allow_groups) == strv_length(q->allow_groups));
        }
}

static void check_limits(const Profile *p) {
        Request req = {};
        uint64_t limits[_LIMIT_MAX];
        char err[256];

        check(profile_resolve_limits(p, &req, limits, err, sizeof(err)) == 0);
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                check(limits[k] == p->limit_default[k] && limits[k] <= p->limit_max[k]);
                req.limit_set[k] = true;
                req.limits[k] = p->limit_max[k];
        }
        check(profile_resolve_limits(p, &req, limits, err, sizeof(err)) == 0);
        req.limits[LIMIT_MEMORY]++;
        check(profile_resolve_limits(p, &req, limits, err, sizeof(err)) == -EPERM);
        check(strstr(err, "exceeds the maximum"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) Config *c = NULL, *c2 = NULL;
        _cleanup_free_ char *errors = NULL, *shown = NULL, *errors2 = NULL;
        size_t shown_size = 0;
        FILE *f;
        int r;

        if (size > CONFIG_FILE_SIZE_MAX)
                return 0;
        setup();
        r = config_parse_string(root, "/fuzz.conf", (const char *) data, size, &c, &errors);
        if (r < 0) {
                /* A rejected config always says why, one "origin: message" line per error. */
                check(r == -EINVAL && !c && errors && errors[0] && errors[strlen(errors) - 1] == '\n');
                return 0;
        }
        check(c && !errors && c->n_profiles >= 1 && strcmp(c->profiles[0].name, "default") == 0);

        f = open_memstream(&shown, &shown_size);
        check(f);
        check(config_show(c, NULL, f) == 0);
        check(fclose(f) == 0);
        r = config_parse_string(root, "/shown.conf", shown, shown_size, &c2, &errors2);
        if (r < 0)
                fprintf(stderr, "--show-config output does not parse back:\n%s\n%s", shown, errors2);
        check(r == 0);
        check_same(c, c2);

        for (size_t i = 0; i < c->n_profiles; i++)
                check_limits(&c->profiles[i]);
        return 0;
}
