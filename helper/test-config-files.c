/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loading and merging pyward.conf and its drop-ins: built-in defaults, precedence and masking,
 * list resets, profile inheritance and the examples shipped in conf.d/. */

#include "test-config.h"

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
        /* A session's: 24h/1h, 1h/10min, 1h/5min, 100000/10000 cells, 30s/2s grace. */
        assert_int(p->limit_max[LIMIT_SESSION_WALL_TIME], ==, 24ULL * 3600 * 1000000);
        assert_int(p->limit_default[LIMIT_SESSION_WALL_TIME], ==, 3600ULL * 1000000);
        assert_int(p->limit_max[LIMIT_SESSION_CPU_TIME], ==, 3600ULL * 1000000);
        assert_int(p->limit_default[LIMIT_SESSION_CPU_TIME], ==, 600ULL * 1000000);
        assert_int(p->limit_max[LIMIT_SESSION_IDLE_TIME], ==, 3600ULL * 1000000);
        assert_int(p->limit_default[LIMIT_SESSION_IDLE_TIME], ==, 300ULL * 1000000);
        assert_int(p->limit_max[LIMIT_SESSION_CELLS], ==, 100000);
        assert_int(p->limit_default[LIMIT_SESSION_CELLS], ==, 10000);
        assert_int(p->limit_max[LIMIT_CELL_GRACE], ==, 30000000);
        assert_int(p->limit_default[LIMIT_CELL_GRACE], ==, 2000000);
        assert_se(!p->read_only_paths && !p->syscall_allow && !p->syscall_deny);
        assert_se(!p->allow_users && !p->allow_groups);
        assert_se(!config_find_profile(c, "numpy"));
        config_free(c);

        assert_se(config_free(NULL) == NULL);
        assert_se(!config_find_profile(NULL, "default"));
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
        write_file(
                "/etc/pyward/pyward.conf",
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
        assert_int(p->limit_max[LIMIT_TASKS], ==, 64);            /* inherited */
        assert_int(p->limit_max[LIMIT_WALL_TIME], ==, 600000000); /* inherited from a later file */
        assert_int(strv_length(p->interpreter_args), ==, 2);      /* -I inherited, -S added */
        assert_se(p->enabled);

        p = profile(c, "empty");
        assert_int(p->limit_max[LIMIT_MEMORY], ==, 768ULL << 20);
        assert_streq(p->interpreter, "/usr/bin/python3");
        assert_se(!profile(c, "closed")->enabled);
        config_free(c);

        /* A named profile that lowers a maximum below the inherited default must lower the
         * default too; the error names the profile and both settings. */
        write_file("/etc/pyward/pyward.conf.d/95-small.conf", "[Profile \"small\"]\nMemoryMax=64M\n");
        load_fails(
                "/etc/pyward/pyward.conf.d/95-small.conf:2: DefaultMemory=256M exceeds MemoryMax=64M "
                "(/etc/pyward/pyward.conf.d/95-small.conf:2) in profile small");
        write_file("/etc/pyward/pyward.conf.d/95-small.conf",
                   "[Profile \"small\"]\nMemoryMax=64M\nDefaultMemory=64M\n");
        c = load_ok();
        assert_int(profile(c, "small")->limit_default[LIMIT_MEMORY], ==, 64ULL << 20);
        config_free(c);
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
        static void (*const tests[])(void) = {
                test_builtin_defaults, test_precedence_and_masking, test_list_reset,
                test_profiles,         test_shipped_examples,
        };

        return test_config_main(tests, ELEMENTSOF(tests));
}
