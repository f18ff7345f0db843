/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of pyward.conf: value syntax, file precedence and masking, list resets, every error
 * (with file:line), profile inheritance, access checks, limit resolution and --show-config. */

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "admission.h"
#include "config.h"
#include "test.h"

static char root[] = "/tmp/test-config-XXXXXX";

/* ---- helpers ------------------------------------------------------------------------------- */

static void mkdir_parents(const char *path) {
        char buf[4096];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *s = buf + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        assert_se(mkdir(buf, 0755) >= 0 || errno == EEXIST);
                        *s = '/';
                }
}

/* Writes root + path with the given text (creating parent directories). */
static void write_file(const char *path, const char *text) {
        char full[4096];
        FILE *f;

        snprintf(full, sizeof(full), "%s%s", root, path);
        mkdir_parents(full);
        f = fopen(full, "we");
        assert_se(f);
        assert_se(fputs(text, f) >= 0);
        assert_se(fclose(f) == 0);
}

static void write_exec(const char *path) {
        char full[4096];

        write_file(path, "#!/bin/sh\n");
        snprintf(full, sizeof(full), "%s%s", root, path);
        assert_se(chmod(full, 0755) == 0);
}

static void remove_file(const char *path) {
        char full[4096];

        snprintf(full, sizeof(full), "%s%s", root, path);
        assert_se(unlink(full) == 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* Removes everything below root but keeps root itself. */
static void clean_root(void) {
        static const char *const top[] = { "/etc", "/run", "/usr", "/opt" };

        for (size_t i = 0; i < ELEMENTSOF(top); i++) {
                char full[4096];

                snprintf(full, sizeof(full), "%s%s", root, top[i]);
                (void) nftw(full, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        }
}

/* Loads the config below root; asserts success and returns it. */
static Config *load_ok(void) {
        Config *c = NULL;
        char *errors = NULL;
        int r = config_load(root, &c, &errors);

        if (r < 0)
                fprintf(stderr, "unexpected errors:\n%s", errors ?: "(none)\n");
        assert_int(r, ==, 0);
        assert_se(c);
        assert_se(!errors);
        return c;
}

/* Loads the config below root; asserts failure and that the errors contain `expected`. */
static void load_fails(const char *expected) {
        Config *c = NULL;
        char *errors = NULL;
        int r = config_load(root, &c, &errors);

        if (r >= 0 || !errors || !strstr(errors, expected))
                fprintf(stderr, "expected an error containing \"%s\", got r=%d:\n%s", expected, r,
                        errors ?: "(none)\n");
        assert_int(r, ==, -EINVAL);
        assert_se(!c);
        assert_se(errors && strstr(errors, expected));
        free(errors);
}

/* Parses one in-memory file of `size` bytes; asserts failure with `expected` in the errors. */
static void parse_fails_size(const char *text, size_t size, const char *expected) {
        Config *c = NULL;
        char *errors = NULL;
        int r = config_parse_string(root, "/t.conf", text, size, &c, &errors);

        if (r >= 0 || !errors || !strstr(errors, expected))
                fprintf(stderr, "text:\n%s\nexpected an error containing \"%s\", got r=%d:\n%s", text, expected,
                        r, errors ?: "(none)\n");
        assert_int(r, ==, -EINVAL);
        assert_se(!c);
        assert_se(errors && strstr(errors, expected));
        free(errors);
}

static void parse_fails(const char *text, const char *expected) {
        parse_fails_size(text, strlen(text), expected);
}

static Config *parse_ok(const char *text) {
        Config *c = NULL;
        char *errors = NULL;
        int r = config_parse_string(root, "/t.conf", text, strlen(text), &c, &errors);

        if (r < 0)
                fprintf(stderr, "text:\n%s\nunexpected errors:\n%s", text, errors ?: "(none)\n");
        assert_int(r, ==, 0);
        assert_se(!errors);
        return c;
}

static const Profile *profile(const Config *c, const char *name) {
        const Profile *p = config_find_profile(c, name);

        assert_se(p);
        return p;
}

/* ---- value syntax -------------------------------------------------------------------------- */

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

/* ---- loading and merging ------------------------------------------------------------------- */

static void test_builtin_defaults(void) {
        Config *c;
        const Profile *p;

        clean_root();
        c = load_ok();
        assert_int(c->n_profiles, ==, 1);
        assert_int(strv_length(c->files), ==, 0);
        assert_int(strv_length(c->allow_users), ==, 1);
        assert_streq(c->allow_users[0], "root");
        assert_streq(c->allow_groups[0], "pyward");
        assert_int(c->jobs_per_uid, ==, 8);
        assert_int(c->request_timeout_usec, ==, 5000000);

        p = profile(c, NULL);
        assert_se(p == profile(c, "default"));
        assert_streq(p->name, "default");
        assert_se(p->enabled);
        assert_streq(p->interpreter, "/usr/bin/python3");
        assert_int(strv_length(p->interpreter_args), ==, 1);
        assert_streq(p->interpreter_args[0], "-I");
        assert_int(p->network, ==, CONFIG_NETWORK_NONE);
        assert_int(p->code_max, ==, PW_CODE_MAX);
        assert_int(p->limit_default[LIMIT_MEMORY], ==, 256ULL << 20);
        assert_int(p->limit_max[LIMIT_MEMORY], ==, 1ULL << 30);
        assert_int(p->limit_default[LIMIT_TASKS], ==, 32);
        assert_int(p->limit_max[LIMIT_TASKS], ==, 256);
        assert_int(p->limit_default[LIMIT_CPU_QUOTA], ==, 100);
        assert_int(p->limit_max[LIMIT_CPU_QUOTA], ==, 200);
        assert_int(p->limit_default[LIMIT_CPU_TIME], ==, 10000000);
        assert_int(p->limit_max[LIMIT_CPU_TIME], ==, 60000000);
        assert_int(p->limit_default[LIMIT_WALL_TIME], ==, 30000000);
        assert_int(p->limit_max[LIMIT_WALL_TIME], ==, 300000000);
        assert_int(p->limit_default[LIMIT_OUTPUT], ==, 1ULL << 20);
        assert_int(p->limit_max[LIMIT_OUTPUT], ==, 16ULL << 20);
        assert_int(p->limit_default[LIMIT_DISK], ==, 64ULL << 20);
        assert_int(p->limit_max[LIMIT_DISK], ==, 256ULL << 20);
        assert_se(!p->read_only_paths && !p->syscall_allow && !p->syscall_deny);
        assert_se(!p->allow_users && !p->allow_groups);
        assert_se(!config_find_profile(c, "numpy"));
        config_free(c);

        assert_se(config_free(NULL) == NULL);
        assert_se(!config_find_profile(NULL, "default"));
}

static void test_every_key(void) {
        Config *c;
        const Profile *p;

        clean_root();
        write_exec("/opt/py/bin/python3.11");
        write_file("/srv/data/x", "");
        write_file("/etc/pyward/pyward.conf",
                   "# comment\n"
                   "; another comment\n"
                   "\n"
                   "[Access]\n"
                   "AllowUsers=alice 1000\n"
                   "AllowGroups=wheel 100\n"
                   "JobsPerUser=3\n"
                   "RequestTimeoutSec=1min 30s\n"
                   "\n"
                   "[Profile]\n"
                   "  Interpreter = /opt/py/bin/python3.11  \n"
                   "InterpreterArgs=-S -X importtime\n"
                   "ReadOnlyPaths=/srv/data /srv/data/x\n"
                   "Network=loopback\n"
                   "SystemCallAllow=@aio personality\n"
                   "SystemCallDeny=@debug ptrace\n"
                   "AllowUsers=bob\n"
                   "AllowGroups=staff\n"
                   "CodeMax=64K\n"
                   "Enabled=yes\n"
                   "MemoryMax=2G\n"
                   "DefaultMemory=128M\n"
                   "TasksMax=100\n"
                   "DefaultTasks=10\n"
                   "CPUQuotaMax=400%\n"
                   "DefaultCPUQuota=50%\n"
                   "CPUTimeMaxSec=2min\n"
                   "DefaultCPUTimeSec=500ms\n"
                   "WallTimeMaxSec=1h\n"
                   "DefaultWallTimeSec=1min 30s\n"
                   "OutputMax=32M\n"
                   "DefaultOutput=64K\n"
                   "DiskMax=1G\n"
                   "DefaultDisk=1.5M\n");
        c = load_ok();
        assert_int(strv_length(c->files), ==, 1);
        assert_streq(c->files[0], "/etc/pyward/pyward.conf");
        /* Lists accumulate onto the built-in default: "root" stays unless reset. */
        assert_int(strv_length(c->allow_users), ==, 3);
        assert_streq(c->allow_users[0], "root");
        assert_streq(c->allow_users[1], "alice");
        assert_streq(c->allow_users[2], "1000");
        assert_int(strv_length(c->allow_groups), ==, 3);
        assert_int(c->jobs_per_uid, ==, 3);
        assert_int(c->request_timeout_usec, ==, 90000000);
        p = profile(c, NULL);
        assert_streq(p->interpreter, "/opt/py/bin/python3.11");
        assert_int(strv_length(p->interpreter_args), ==, 4);
        assert_streq(p->interpreter_args[0], "-I");
        assert_streq(p->interpreter_args[1], "-S");
        assert_streq(p->interpreter_args[3], "importtime");
        assert_int(strv_length(p->read_only_paths), ==, 2);
        assert_streq(p->read_only_paths[1], "/srv/data/x");
        assert_int(p->network, ==, CONFIG_NETWORK_LOOPBACK);
        assert_streq(p->syscall_allow[0], "@aio");
        assert_streq(p->syscall_allow[1], "personality");
        assert_streq(p->syscall_deny[0], "@debug");
        assert_streq(p->syscall_deny[1], "ptrace");
        assert_streq(p->allow_users[0], "bob");
        assert_streq(p->allow_groups[0], "staff");
        assert_int(p->code_max, ==, 65536);
        assert_se(p->enabled);
        assert_int(p->limit_max[LIMIT_MEMORY], ==, 2ULL << 30);
        assert_int(p->limit_default[LIMIT_MEMORY], ==, 128ULL << 20);
        assert_int(p->limit_max[LIMIT_TASKS], ==, 100);
        assert_int(p->limit_default[LIMIT_TASKS], ==, 10);
        assert_int(p->limit_max[LIMIT_CPU_QUOTA], ==, 400);
        assert_int(p->limit_default[LIMIT_CPU_QUOTA], ==, 50);
        assert_int(p->limit_max[LIMIT_CPU_TIME], ==, 120000000);
        assert_int(p->limit_default[LIMIT_CPU_TIME], ==, 500000);
        assert_int(p->limit_max[LIMIT_WALL_TIME], ==, 3600000000ULL);
        assert_int(p->limit_default[LIMIT_WALL_TIME], ==, 90000000);
        assert_int(p->limit_max[LIMIT_OUTPUT], ==, 32ULL << 20);
        assert_int(p->limit_default[LIMIT_OUTPUT], ==, 65536);
        assert_int(p->limit_max[LIMIT_DISK], ==, 1ULL << 30);
        assert_int(p->limit_default[LIMIT_DISK], ==, 3ULL << 19);
        config_free(c);
}

static void test_precedence_and_masking(void) {
        Config *c;

        clean_root();
        /* Main file first, then drop-ins in lexical order of file name, whatever their directory. */
        write_file("/etc/pyward/pyward.conf", "[Profile]\nMemoryMax=100M\nTasksMax=10\nDefaultTasks=5\n");
        write_file("/usr/lib/pyward/pyward.conf.d/10-a.conf", "[Profile]\nMemoryMax=200M\nTasksMax=20\n");
        write_file("/etc/pyward/pyward.conf.d/20-b.conf", "[Profile]\nMemoryMax=300M\n");
        write_file("/run/pyward/pyward.conf.d/30-c.conf", "[Profile]\nTasksMax=30\n");
        write_file("/usr/lib/pyward/pyward.conf.d/ignored.txt", "garbage\n");
        write_file("/etc/pyward/pyward.conf.d/.hidden.conf", "garbage\n");
        c = load_ok();
        assert_int(profile(c, NULL)->limit_max[LIMIT_MEMORY], ==, 300ULL << 20);
        assert_int(profile(c, NULL)->limit_max[LIMIT_TASKS], ==, 30);
        assert_int(strv_length(c->files), ==, 4);
        assert_streq(c->files[0], "/etc/pyward/pyward.conf");
        assert_streq(c->files[1], "/usr/lib/pyward/pyward.conf.d/10-a.conf");
        assert_streq(c->files[2], "/etc/pyward/pyward.conf.d/20-b.conf");
        assert_streq(c->files[3], "/run/pyward/pyward.conf.d/30-c.conf");
        config_free(c);

        /* Same name in /usr/lib, /run and /etc: /etc masks /run masks /usr/lib. */
        write_file("/usr/lib/pyward/pyward.conf.d/50-x.conf", "[Profile]\nDiskMax=11M\n");
        write_file("/run/pyward/pyward.conf.d/50-x.conf", "[Profile]\nDiskMax=22M\n");
        write_file("/etc/pyward/pyward.conf.d/50-x.conf", "[Profile]\nDiskMax=33M\nDefaultDisk=1M\n");
        c = load_ok();
        assert_int(profile(c, NULL)->limit_max[LIMIT_DISK], ==, 33ULL << 20);
        assert_int(strv_length(c->files), ==, 5);
        assert_streq(c->files[4], "/etc/pyward/pyward.conf.d/50-x.conf");
        config_free(c);

        remove_file("/etc/pyward/pyward.conf.d/50-x.conf");
        write_file("/run/pyward/pyward.conf.d/50-x.conf", "[Profile]\nDiskMax=22M\nDefaultDisk=1M\n");
        c = load_ok();
        assert_int(profile(c, NULL)->limit_max[LIMIT_DISK], ==, 22ULL << 20);
        assert_streq(c->files[4], "/run/pyward/pyward.conf.d/50-x.conf");
        config_free(c);

        /* The /usr/lib one alone is broken (default 64M > max 11M): proves it is really masked above. */
        remove_file("/run/pyward/pyward.conf.d/50-x.conf");
        load_fails("/usr/lib/pyward/pyward.conf.d/50-x.conf:2: DefaultDisk=64M exceeds DiskMax=11M");

        /* An empty file or a symlink to /dev/null in /etc masks it entirely. */
        write_file("/etc/pyward/pyward.conf.d/50-x.conf", "");
        c = load_ok();
        assert_int(profile(c, NULL)->limit_max[LIMIT_DISK], ==, 256ULL << 20);
        config_free(c);
        remove_file("/etc/pyward/pyward.conf.d/50-x.conf");
        {
                char full[4096];

                snprintf(full, sizeof(full), "%s/etc/pyward/pyward.conf.d/50-x.conf", root);
                assert_se(symlink("/dev/null", full) == 0);
        }
        c = load_ok();
        assert_int(profile(c, NULL)->limit_max[LIMIT_DISK], ==, 256ULL << 20);
        assert_int(strv_length(c->files), ==, 4);
        config_free(c);
}

static void test_list_reset(void) {
        Config *c;
        const Profile *p;

        clean_root();
        write_file("/a/b", "");
        write_file("/a/c", "");
        write_file("/etc/pyward/pyward.conf",
                   "[Access]\nAllowUsers=\nAllowUsers=alice\nAllowGroups=\n"
                   "[Profile]\nReadOnlyPaths=/a/b\nReadOnlyPaths=/a/c\nInterpreterArgs=\nInterpreterArgs=-I -S\n");
        write_file("/etc/pyward/pyward.conf.d/10-x.conf", "[Profile]\nReadOnlyPaths=\nReadOnlyPaths=/a/c\n");
        c = load_ok();
        assert_int(strv_length(c->allow_users), ==, 1);
        assert_streq(c->allow_users[0], "alice");
        assert_int(strv_length(c->allow_groups), ==, 0);
        p = profile(c, NULL);
        assert_int(strv_length(p->read_only_paths), ==, 1);
        assert_streq(p->read_only_paths[0], "/a/c");
        assert_int(strv_length(p->interpreter_args), ==, 2);
        assert_streq(p->interpreter_args[1], "-S");
        config_free(c);
        /* clean_root does not know /a */
        remove_file("/a/b");
        remove_file("/a/c");
}

static void test_profiles(void) {
        Config *c;
        const Profile *p, *d;

        clean_root();
        write_exec("/opt/venv/bin/python3");
        write_file("/opt/venv/pyvenv.cfg", "home = /usr/bin\n");
        write_file("/etc/pyward/pyward.conf",
                   "[Profile \"numpy\"]\n"
                   "Interpreter=/opt/venv\n"
                   "MemoryMax=2G\n"
                   "DefaultMemory=512M\n"
                   "[Profile \"empty\"]\n"
                   "[Profile \"closed\"]\n"
                   "Enabled=no\n"
                   "[Profile \"default\"]\n"
                   "TasksMax=64\n");
        /* A later file changes the default profile: the named profiles inherit the merged result,
         * whatever the file order, except for what they override themselves. */
        write_file("/etc/pyward/pyward.conf.d/90-late.conf",
                   "[Profile]\nMemoryMax=768M\nWallTimeMaxSec=10min\n"
                   "[Profile \"numpy\"]\nInterpreterArgs=-S\n");
        c = load_ok();
        assert_int(c->n_profiles, ==, 4);
        d = profile(c, "default");
        assert_se(d == &c->profiles[0]);
        assert_int(d->limit_max[LIMIT_MEMORY], ==, 768ULL << 20);
        assert_int(d->limit_max[LIMIT_TASKS], ==, 64);
        assert_streq(d->interpreter, "/usr/bin/python3");

        p = profile(c, "numpy");
        assert_streq(p->name, "numpy");
        assert_streq(p->interpreter, "/opt/venv/bin/python3"); /* a venv directory means its python3 */
        assert_int(p->limit_max[LIMIT_MEMORY], ==, 2ULL << 30);
        assert_int(p->limit_default[LIMIT_MEMORY], ==, 512ULL << 20);
        assert_int(p->limit_max[LIMIT_TASKS], ==, 64);                  /* inherited */
        assert_int(p->limit_max[LIMIT_WALL_TIME], ==, 600000000);       /* inherited from a later file */
        assert_int(strv_length(p->interpreter_args), ==, 2);            /* -I inherited, -S added */
        assert_se(p->enabled);

        p = profile(c, "empty");
        assert_int(p->limit_max[LIMIT_MEMORY], ==, 768ULL << 20);
        assert_streq(p->interpreter, "/usr/bin/python3");
        assert_se(!profile(c, "closed")->enabled);
        config_free(c);

        /* A named profile that lowers a maximum below the inherited default must lower the
         * default too; the error names the profile and both settings. */
        write_file("/etc/pyward/pyward.conf.d/95-small.conf", "[Profile \"small\"]\nMemoryMax=64M\n");
        load_fails("/etc/pyward/pyward.conf.d/95-small.conf:2: DefaultMemory=256M exceeds MemoryMax=64M "
                   "(/etc/pyward/pyward.conf.d/95-small.conf:2) in profile small");
        write_file("/etc/pyward/pyward.conf.d/95-small.conf",
                   "[Profile \"small\"]\nMemoryMax=64M\nDefaultMemory=64M\n");
        c = load_ok();
        assert_int(profile(c, "small")->limit_default[LIMIT_MEMORY], ==, 64ULL << 20);
        config_free(c);
}

static void test_errors(void) {
        clean_root();
        write_file("/srv/f", "");
        write_file("/opt/notexec", "");
        write_exec("/opt/emptyvenv/python3");

        /* Syntax */
        parse_fails("[Access]\nAllowUsers root\n", "/t.conf:2: expected a [Section] or Key=value");
        parse_fails("[Access\n", "/t.conf:1: section header lacks the closing ']'");
        parse_fails("[Accesss]\nJobsPerUser=1\n", "/t.conf:1: unknown section [Accesss]");
        parse_fails("[Profile numpy]\n", "/t.conf:1: unknown section [Profile numpy]");
        parse_fails("[Profile \"a/b\"]\n", "/t.conf:1: invalid profile name \"a/b\"");
        parse_fails("[Profile \"\"]\n", "/t.conf:1: unknown section");
        parse_fails("JobsPerUser=1\n", "/t.conf:1: assignment outside of a section");
        parse_fails("[Access]\nJobsPerUser=1 ; comment\n", "/t.conf:2: ';' is not allowed in values");
        parse_fails("[Access]\nJobs:PerUser=1\n", "/t.conf:2: expected a [Section] or Key=value");
        parse_fails("[Access]\nFoo=1\n", "/t.conf:2: unknown key Foo= in section [Access]");
        parse_fails("[Profile]\nJobsPerUser=1\n", "/t.conf:2: unknown key JobsPerUser= in section [Profile]");
        parse_fails("[Access]\nMemoryMax=1G\n", "/t.conf:2: unknown key MemoryMax= in section [Access]");
        parse_fails("[Access]\n\n\n   JobsPerUser=x\n", "/t.conf:4: JobsPerUser=x: expected a number");
        {
                char text[512];

                snprintf(text, sizeof(text), "[Access]\nAllowUsers=%0200d\n", 1);
                parse_fails(text, "/t.conf:2: line too long");
                parse_fails_size("[Access]\nAllowUsers=a\0b\n", 22, "/t.conf:2: line contains a NUL byte");
        }
        /* Only the header error, not one per key of the broken section. */
        {
                Config *c = NULL;
                char *errors = NULL;
                const char *t = "[Bogus]\nA=1\nB=2\n";

                assert_int(config_parse_string(root, "/t.conf", t, strlen(t), &c, &errors), ==, -EINVAL);
                assert_streq(errors, "/t.conf:1: unknown section [Bogus] (expected [Access], [Profile] or "
                                     "[Profile \"NAME\"])\n");
                free(errors);
        }

        /* Values */
        parse_fails("[Profile]\nMemoryMax=1Q\n", "/t.conf:2: MemoryMax=1Q: expected a size such as 64M");
        parse_fails("[Profile]\nMemoryMax=\n", "/t.conf:2: MemoryMax=: expected a size");
        parse_fails("[Profile]\nMemoryMax=0\n", "/t.conf:2: MemoryMax=0: out of range (1..1T)");
        parse_fails("[Profile]\nMemoryMax=2T\n", "/t.conf:2: MemoryMax=2T: out of range (1..1T)");
        parse_fails("[Profile]\nMemoryMax=99999999999T\n", "MemoryMax=99999999999T: out of range");
        parse_fails("[Profile]\nCodeMax=2M\n", "/t.conf:2: CodeMax=2M: out of range (1..1M)");
        parse_fails("[Profile]\nTasksMax=1.5\n", "/t.conf:2: TasksMax=1.5: expected a number");
        parse_fails("[Profile]\nCPUQuotaMax=200\n", "/t.conf:2: CPUQuotaMax=200: expected a percentage");
        parse_fails("[Profile]\nDefaultCPUQuota=0%\n", "/t.conf:2: DefaultCPUQuota=0%: out of range (1%..100000%)");
        parse_fails("[Profile]\nWallTimeMaxSec=soon\n", "/t.conf:2: WallTimeMaxSec=soon: expected a time span");
        parse_fails("[Profile]\nWallTimeMaxSec=500us\n", "/t.conf:2: WallTimeMaxSec=500us: out of range (1ms..168h)");
        parse_fails("[Access]\nRequestTimeoutSec=2h\n", "/t.conf:2: RequestTimeoutSec=2h: out of range (1ms..1h)");
        parse_fails("[Access]\nJobsPerUser=0\n", "/t.conf:2: JobsPerUser=0: out of range (1..4096)");
        parse_fails("[Profile]\nEnabled=maybe\n", "/t.conf:2: Enabled=maybe: not a boolean");
        parse_fails("[Profile]\nNetwork=full\n", "/t.conf:2: Network=full: expected none or loopback");
        parse_fails("[Profile]\nDefaultTasks=300\n", "/t.conf:2: DefaultTasks=300 exceeds TasksMax=256 (built-in default) in profile default");
        parse_fails("[Profile]\nCPUTimeMaxSec=5s\n", "/t.conf:2: DefaultCPUTimeSec=10s exceeds CPUTimeMaxSec=5s (/t.conf:2)");

        /* Paths */
        parse_fails("[Profile]\nInterpreter=python3\n", "/t.conf:2: Interpreter=python3: not a normalized absolute path");
        parse_fails("[Profile]\nInterpreter=/usr/../bin/sh\n", "/t.conf:2: Interpreter=/usr/../bin/sh: not a normalized");
        parse_fails("[Profile]\nInterpreter=/nonexistent/python3\n",
                    "/t.conf:2: Interpreter=/nonexistent/python3: No such file or directory");
        parse_fails("[Profile]\nInterpreter=/opt/notexec\n", "/t.conf:2: Interpreter=/opt/notexec: /opt/notexec is not an executable file");
        parse_fails("[Profile]\nInterpreter=/opt/emptyvenv\n",
                    "/t.conf:2: Interpreter=/opt/emptyvenv: a directory, but /opt/emptyvenv/bin/python3: No such file");
        parse_fails("[Profile]\nReadOnlyPaths=srv\n", "/t.conf:2: ReadOnlyPaths=srv: not a normalized absolute path");
        parse_fails("[Profile]\nReadOnlyPaths=/srv/./f\n", "/t.conf:2: ReadOnlyPaths=/srv/./f: not a normalized");
        parse_fails("[Profile]\nReadOnlyPaths=/srv//f\n", "/t.conf:2: ReadOnlyPaths=/srv//f: not a normalized");
        parse_fails("[Profile]\nReadOnlyPaths=/srv/f:/x\n", "/t.conf:2: ReadOnlyPaths=/srv/f:/x: not a normalized");
        parse_fails("[Profile]\nReadOnlyPaths=/srv/f /srv/missing\n",
                    "/t.conf:2: ReadOnlyPaths=/srv/missing: No such file or directory");

        /* Syscalls */
        parse_fails("[Profile]\nSystemCallAllow=not_a_syscall\n",
                    "/t.conf:2: SystemCallAllow=not_a_syscall: unknown system call or @group");
        parse_fails("[Profile]\nSystemCallDeny=@bogus\n", "/t.conf:2: SystemCallDeny=@bogus: unknown system call or @group");
        parse_fails("[Profile]\nSystemCallDeny=~ptrace\n", "/t.conf:2: SystemCallDeny=~ptrace: '~' is not allowed");
        parse_fails("[Profile]\nSystemCallAllow=PTRACE\n", "SystemCallAllow=PTRACE: unknown system call");

        /* Users and groups */
        parse_fails("[Access]\nAllowUsers=bad/name\n", "/t.conf:2: AllowUsers=bad/name: not a valid name or numeric id");
        parse_fails("[Access]\nAllowGroups=-x\n", "/t.conf:2: AllowGroups=-x: not a valid name");
        parse_fails("[Access]\nAllowUsers=4294967295\n", "/t.conf:2: AllowUsers=4294967295: not a valid");
        parse_fails("[Profile]\nInterpreterArgs=-c \"x\"\n", "/t.conf:2: InterpreterArgs=\"x\": quotes");

        /* Several errors are all reported, each with its own line. */
        {
                Config *c = NULL;
                char *errors = NULL;
                const char *t = "[Access]\nJobsPerUser=x\nRequestTimeoutSec=1y\n[Profile]\nNetwork=wan\n";

                assert_int(config_parse_string(root, "/t.conf", t, strlen(t), &c, &errors), ==, -EINVAL);
                assert_se(strstr(errors, "/t.conf:2: JobsPerUser=x"));
                assert_se(strstr(errors, "/t.conf:3: RequestTimeoutSec=1y"));
                assert_se(strstr(errors, "/t.conf:5: Network=wan"));
                free(errors);
        }

        /* From files: the error names the file below the root and the line; a broken file never
         * falls back to defaults. */
        write_file("/etc/pyward/pyward.conf", "[Profile]\nMemoryMax=1G\n");
        write_file("/run/pyward/pyward.conf.d/10-bad.conf", "[Profile]\n# fine\nMemoryMax=lots\n");
        load_fails("/run/pyward/pyward.conf.d/10-bad.conf:3: MemoryMax=lots: expected a size");
        remove_file("/run/pyward/pyward.conf.d/10-bad.conf");

        /* A directory named *.conf is not a file. */
        {
                char full[4096];

                snprintf(full, sizeof(full), "%s/etc/pyward/pyward.conf.d/20-dir.conf", root);
                mkdir_parents(full);
                assert_se(mkdir(full, 0755) == 0);
                load_fails("/etc/pyward/pyward.conf.d/20-dir.conf: not a regular file");
                assert_se(rmdir(full) == 0);
        }
        {
                Config *c = load_ok();
                config_free(c);
        }
}

static void test_access(void) {
        Config *c;
        const Profile *p;
        gid_t g100 = 100, groups[] = { 5, 100, 7 }, g0 = 0;

        clean_root();
        /* Numeric ids avoid depending on the host's user database; "root" is uid 0 everywhere. */
        write_file("/etc/pyward/pyward.conf",
                   "[Access]\nAllowUsers=1000\nAllowGroups=\nAllowGroups=100\n"
                   "[Profile \"team\"]\nAllowUsers=1001\nAllowGroups=7\n"
                   "[Profile \"rootonly\"]\nAllowUsers=root\n"
                   "[Profile \"off\"]\nEnabled=off\n");
        c = load_ok();
        assert_se(config_peer_allowed(c, 0, NULL, 0));          /* root by name (built-in) */
        assert_se(config_peer_allowed(c, 1000, NULL, 0));       /* by uid */
        assert_se(!config_peer_allowed(c, 1001, NULL, 0));
        assert_se(config_peer_allowed(c, 1001, &g100, 1));      /* by group */
        assert_se(config_peer_allowed(c, 1002, groups, 3));
        assert_se(!config_peer_allowed(c, 1002, &g0, 1));
        assert_se(!config_peer_allowed(NULL, 0, NULL, 0));

        p = profile(c, "default"); /* no restriction: whoever may connect */
        assert_se(profile_peer_allowed(p, 1000, NULL, 0));
        assert_se(profile_peer_allowed(p, 12345, NULL, 0));
        p = profile(c, "team");
        assert_se(profile_peer_allowed(p, 1001, NULL, 0));
        assert_se(!profile_peer_allowed(p, 1000, &g100, 1));
        assert_se(profile_peer_allowed(p, 1000, groups, 3));    /* gid 7 */
        assert_se(!profile_peer_allowed(p, 0, NULL, 0));
        p = profile(c, "rootonly");
        assert_se(profile_peer_allowed(p, 0, NULL, 0));
        assert_se(!profile_peer_allowed(p, 1000, groups, 3));
        p = profile(c, "off");
        assert_se(!profile_peer_allowed(p, 0, NULL, 0));
        assert_se(!profile_peer_allowed(NULL, 0, NULL, 0));
        config_free(c);

        /* Resetting both lists locks everybody out, root included: the admin said so. */
        write_file("/etc/pyward/pyward.conf", "[Access]\nAllowUsers=\nAllowGroups=\n");
        c = load_ok();
        assert_se(!config_peer_allowed(c, 0, &g0, 1));
        config_free(c);
}

static void test_resolve_limits(void) {
        Config *c;
        const Profile *p;
        Request req = {};
        uint64_t limits[_LIMIT_MAX], sentinel[_LIMIT_MAX];
        char err[256];

        clean_root();
        write_file("/etc/pyward/pyward.conf",
                   "[Profile]\nMemoryMax=512M\n"
                   "[Profile \"big\"]\nMemoryMax=4G\nCPUQuotaMax=400%\nWallTimeMaxSec=10min\n");
        c = load_ok();
        p = profile(c, NULL);

        /* Nothing asked: the profile's defaults. */
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, 0);
        for (LimitKey k = 1; k < _LIMIT_MAX; k++)
                assert_int(limits[k], ==, p->limit_default[k]);

        /* Equal to the maximum is fine; below too. */
        req.limit_set[LIMIT_MEMORY] = true;
        req.limits[LIMIT_MEMORY] = 512ULL << 20;
        req.limit_set[LIMIT_TASKS] = true;
        req.limits[LIMIT_TASKS] = 3;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, 0);
        assert_int(limits[LIMIT_MEMORY], ==, 512ULL << 20);
        assert_int(limits[LIMIT_TASKS], ==, 3);
        assert_int(limits[LIMIT_DISK], ==, 64ULL << 20);

        /* Above: rejected, with key, asked value and maximum in human units; output untouched. */
        memset(sentinel, 0xaa, sizeof(sentinel));
        memcpy(limits, sentinel, sizeof(limits));
        req.limits[LIMIT_MEMORY] = 1ULL << 30;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "memory=1G exceeds the maximum 512M of profile default");
        assert_se(memcmp(limits, sentinel, sizeof(limits)) == 0);
        req.limits[LIMIT_MEMORY] = (512ULL << 20) + 1;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "memory=536870913 exceeds the maximum 512M of profile default");

        /* The same request fits another profile. */
        req.limits[LIMIT_MEMORY] = 1ULL << 30;
        assert_int(profile_resolve_limits(profile(c, "big"), &req, limits, err, sizeof(err)), ==, 0);
        assert_int(limits[LIMIT_MEMORY], ==, 1ULL << 30);

        req = (Request) {};
        req.limit_set[LIMIT_WALL_TIME] = true;
        req.limits[LIMIT_WALL_TIME] = 330000000;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "wall-time=5min 30s exceeds the maximum 5min of profile default");
        req = (Request) {};
        req.limit_set[LIMIT_CPU_QUOTA] = true;
        req.limits[LIMIT_CPU_QUOTA] = 250;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "cpu-quota=250% exceeds the maximum 200% of profile default");
        assert_int(profile_resolve_limits(profile(c, "big"), &req, limits, err, sizeof(err)), ==, 0);
        req.limits[LIMIT_CPU_QUOTA] = 0;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EINVAL);
        assert_streq(err, "cpu-quota=0 is not a valid limit");
        /* A tiny error buffer truncates, never overflows. */
        req.limits[LIMIT_CPU_QUOTA] = 250;
        assert_int(profile_resolve_limits(p, &req, limits, err, 8), ==, -EPERM);
        assert_int(strlen(err), ==, 7);
        config_free(c);
}

static void test_show_roundtrip(void) {
        Config *c, *c2;
        char *out = NULL, *errors = NULL;
        size_t size = 0;
        FILE *f;

        clean_root();
        write_exec("/opt/venv/bin/python3");
        write_exec("/usr/bin/python3"); /* the output names the built-in interpreter explicitly */
        write_file("/srv/data/x", "");
        write_file("/etc/pyward/pyward.conf",
                   "[Access]\nAllowUsers=alice\nJobsPerUser=2\n"
                   "[Profile]\nReadOnlyPaths=/srv/data\nSystemCallDeny=@debug\nMemoryMax=768M\n");
        write_file("/usr/lib/pyward/pyward.conf.d/50-numpy.conf",
                   "[Profile \"numpy\"]\nInterpreter=/opt/venv\nInterpreterArgs=\nInterpreterArgs=-S\n"
                   "Network=loopback\nMemoryMax=2G\nDefaultMemory=1G\n");
        c = load_ok();

        f = open_memstream(&out, &size);
        assert_se(f);
        assert_int(config_show(c, NULL, f), ==, 0);
        assert_se(fclose(f) == 0);
        assert_se(strstr(out, "#   /etc/pyward/pyward.conf\n#   /usr/lib/pyward/pyward.conf.d/50-numpy.conf\n"));
        assert_se(strstr(out, "# /etc/pyward/pyward.conf:7\nMemoryMax=768M\n"));
        assert_se(strstr(out, "# built-in default\nDefaultMemory=256M\n"));
        assert_se(strstr(out, "# built-in default\nAllowUsers=root\n# /etc/pyward/pyward.conf:2\nAllowUsers=alice\n"));
        assert_se(strstr(out, "[Profile \"numpy\"]\n"));
        assert_se(strstr(out, "# /usr/lib/pyward/pyward.conf.d/50-numpy.conf:2\nInterpreter=/opt/venv/bin/python3\n"));
        assert_se(strstr(out, "# /usr/lib/pyward/pyward.conf.d/50-numpy.conf:3\nInterpreterArgs=\n"));

        /* The output is itself a valid configuration with the same effective settings. */
        if (config_parse_string(root, "/shown.conf", out, size, &c2, &errors) < 0)
                fprintf(stderr, "%s\n---\n%s", out, errors);
        assert_se(c2 && !errors);
        assert_int(c2->n_profiles, ==, c->n_profiles);
        assert_int(c2->jobs_per_uid, ==, 2);
        assert_int(strv_length(c2->allow_users), ==, 2);
        for (size_t i = 0; i < c->n_profiles; i++) {
                const Profile *a = &c->profiles[i], *b = profile(c2, a->name);

                assert_se(memcmp(a->limit_max, b->limit_max, sizeof(a->limit_max)) == 0);
                assert_se(memcmp(a->limit_default, b->limit_default, sizeof(a->limit_default)) == 0);
                assert_streq(a->interpreter, b->interpreter);
                assert_int(strv_length(a->interpreter_args), ==, strv_length(b->interpreter_args));
                assert_int(strv_length(a->read_only_paths), ==, strv_length(b->read_only_paths));
                assert_int(a->network, ==, b->network);
        }
        config_free(c2);
        free(out);
        out = NULL;

        f = open_memstream(&out, &size);
        assert_se(f);
        assert_int(config_show(c, "numpy", f), ==, 0);
        assert_int(config_show(c, "nope", f), ==, -ENOENT);
        assert_se(fclose(f) == 0);
        assert_se(strncmp(out, "[Profile \"numpy\"]\n", 18) == 0);
        assert_se(!strstr(out, "[Access]"));
        free(out);
        config_free(c);
}

static void test_parse_string_edges(void) {
        Config *c;

        clean_root();
        c = parse_ok("");
        assert_int(strv_length(c->files), ==, 1);
        config_free(c);
        c = parse_ok("\xEF\xBB\xBF[Access]\r\nJobsPerUser=4\r\n");
        assert_int(c->jobs_per_uid, ==, 4);
        config_free(c);
        c = parse_ok("[Access]\nJobsPerUser=4"); /* no final newline */
        assert_int(c->jobs_per_uid, ==, 4);
        config_free(c);
        assert_int(config_parse_string(root, "/t.conf", NULL, 1, &c, NULL), ==, -EINVAL);
        assert_int(config_load("relative", &c, NULL), ==, -EINVAL);
}

/* The examples shipped in conf.d/ must stay valid: load each as a drop-in. */
static void test_shipped_examples(void) {
        static const char *const examples[] = { "pyward.conf", "50-numpy.conf", "50-bigmem.conf",
                                                "50-loopback.conf" };

        clean_root();
        write_exec("/opt/pyward-numpy/bin/python3");
        for (size_t i = 0; i < ELEMENTSOF(examples); i++) {
                char src[4096], dst[4096], text[65536];
                size_t n;
                FILE *f;

                snprintf(src, sizeof(src), "%s/conf.d/%s", SRCDIR, examples[i]);
                f = fopen(src, "re");
                assert_se(f);
                n = fread(text, 1, sizeof(text) - 1, f);
                assert_se(fclose(f) == 0);
                text[n] = '\0';
                snprintf(dst, sizeof(dst), "/etc/pyward/pyward.conf.d/%s", examples[i]);
                write_file(dst, text);
        }
        {
                Config *c = load_ok();

                assert_int(c->n_profiles, ==, 4);
                assert_streq(profile(c, "numpy")->interpreter, "/opt/pyward-numpy/bin/python3");
                assert_int(profile(c, "bigmem")->limit_max[LIMIT_MEMORY], ==, 8ULL << 30);
                assert_int(profile(c, "loopback")->network, ==, CONFIG_NETWORK_LOOPBACK);
                assert_int(profile(c, "default")->network, ==, CONFIG_NETWORK_NONE);
                config_free(c);
        }
}

int main(void) {
        if (!mkdtemp(root)) {
                perror("mkdtemp");
                return EXIT_TEST_SKIP;
        }
        test_parse_size();
        test_parse_timespan();
        test_parse_boolean_percent();
        test_format();
        test_builtin_defaults();
        test_every_key();
        test_precedence_and_masking();
        test_list_reset();
        test_profiles();
        test_errors();
        test_access();
        test_resolve_limits();
        test_show_roundtrip();
        test_parse_string_edges();
        test_shipped_examples();

        clean_root();
        {
                char full[4096];

                snprintf(full, sizeof(full), "%s/srv", root);
                (void) nftw(full, rm_one, 16, FTW_DEPTH | FTW_PHYS);
                snprintf(full, sizeof(full), "%s/a", root);
                (void) rmdir(full);
        }
        assert_se(rmdir(root) == 0);
        return 0;
}
