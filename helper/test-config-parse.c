/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward.conf's syntax and values: every key, every error with its file:line, profile names and
 * in-memory parsing edge cases. */

#include "config-internal.h"
#include "test-config.h"

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
        assert_int(c->connections_per_uid, ==, 6); /* unset: 2 x JobsPerUser= */
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

/* The session's limits (pyward-protocol(7) SESSIONS): five pairs like the others. */
static void test_session_keys(void) {
        Config *c;
        const Profile *p;

        clean_root();
        write_file("/etc/pyward/pyward.conf",
                   "[Profile]\n"
                   "SessionWallTimeMaxSec=2d\n"
                   "DefaultSessionWallTimeSec=3h\n"
                   "SessionCPUTimeMaxSec=2h\n"
                   "DefaultSessionCPUTimeSec=1min\n"
                   "SessionIdleTimeMaxSec=10min\n"
                   "DefaultSessionIdleTimeSec=30s\n"
                   "SessionCellsMax=1000000\n"
                   "DefaultSessionCells=1\n"
                   "CellGraceMaxSec=1min\n"
                   "DefaultCellGraceSec=500ms\n");
        c = load_ok();
        p = profile(c, NULL);
        assert_int(p->limit_max[LIMIT_SESSION_WALL_TIME], ==, 48ULL * 3600 * 1000000);
        assert_int(p->limit_default[LIMIT_SESSION_WALL_TIME], ==, 3ULL * 3600 * 1000000);
        assert_int(p->limit_max[LIMIT_SESSION_CPU_TIME], ==, 2ULL * 3600 * 1000000);
        assert_int(p->limit_default[LIMIT_SESSION_CPU_TIME], ==, 60000000);
        assert_int(p->limit_max[LIMIT_SESSION_IDLE_TIME], ==, 600000000);
        assert_int(p->limit_default[LIMIT_SESSION_IDLE_TIME], ==, 30000000);
        assert_int(p->limit_max[LIMIT_SESSION_CELLS], ==, 1000000);
        assert_int(p->limit_default[LIMIT_SESSION_CELLS], ==, 1);
        assert_int(p->limit_max[LIMIT_CELL_GRACE], ==, 60000000);
        assert_int(p->limit_default[LIMIT_CELL_GRACE], ==, 500000);
        /* A job's limits are untouched by them. */
        assert_int(p->limit_max[LIMIT_WALL_TIME], ==, 300000000);
        config_free(c);

        parse_fails("[Profile]\nSessionWallTimeMaxSec=8d\n",
                    "/t.conf:2: SessionWallTimeMaxSec=8d: out of range (1ms..168h)");
        parse_fails("[Profile]\nSessionCPUTimeMaxSec=0\n", "/t.conf:2: SessionCPUTimeMaxSec=0: out of range");
        parse_fails("[Profile]\nDefaultSessionIdleTimeSec=500us\n",
                    "/t.conf:2: DefaultSessionIdleTimeSec=500us: out of range (1ms..168h)");
        parse_fails("[Profile]\nSessionCellsMax=0\n",
                    "/t.conf:2: SessionCellsMax=0: out of range (1..1000000)");
        parse_fails("[Profile]\nDefaultSessionCells=1000001\n",
                    "/t.conf:2: DefaultSessionCells=1000001: out of range (1..1000000)");
        parse_fails("[Profile]\nSessionCellsMax=1e3\n", "/t.conf:2: SessionCellsMax=1e3: expected a number");
        parse_fails("[Profile]\nCellGraceMaxSec=61s\n",
                    "/t.conf:2: CellGraceMaxSec=61s: out of range (1ms..1min)");
        /* A default above its maximum, the built-in one or the file's. */
        parse_fails(
                "[Profile]\nDefaultSessionIdleTimeSec=2h\n",
                "/t.conf:2: DefaultSessionIdleTimeSec=2h exceeds SessionIdleTimeMaxSec=1h (built-in default) "
                "in profile default");
        parse_fails("[Profile]\nSessionCellsMax=10\n",
                    "/t.conf:2: DefaultSessionCells=10000 exceeds SessionCellsMax=10 (/t.conf:2)");
        parse_fails("[Profile]\nCellGraceMaxSec=1s\n",
                    "/t.conf:2: DefaultCellGraceSec=2s exceeds CellGraceMaxSec=1s (/t.conf:2)");
}

static void test_errors_syntax(void) {
        clean_root();
        parse_fails("[Access]\nAllowUsers root\n", "/t.conf:2: expected a [Section] or Key=value");
        parse_fails("[Access\n", "/t.conf:1: section header lacks the closing ']'");
        parse_fails("[Accesss]\nJobsPerUser=1\n", "/t.conf:1: unknown section [Accesss]");
        parse_fails("[Profile numpy]\n", "/t.conf:1: unknown section [Profile numpy]");
        parse_fails("[Profile \"a/b\"]\n", "/t.conf:1: invalid profile name \"a/b\"");
        /* "." and ".." are refused, as by the wire protocol: a profile name is never a path component. */
        parse_fails("[Profile \".\"]\n", "/t.conf:1: invalid profile name \".\"");
        parse_fails("[Profile \"..\"]\nTasksMax=3\n", "/t.conf:1: invalid profile name \"..\"");
        {
                Config *c = parse_ok("[Profile \"...\"]\n[Profile \".a\"]\n[Profile \"a..\"]\n");

                assert_int(c->n_profiles, ==, 4);
                assert_se(profile(c, "...") && profile(c, ".a") && profile(c, "a.."));
                config_free(c);
        }
        assert_se(profile_name_valid("a", 1) && profile_name_valid("...", 3));
        assert_se(!profile_name_valid(".", 1) && !profile_name_valid("..", 2));
        assert_se(!profile_name_valid("", 0) && !profile_name_valid("a b", 3));
        assert_se(profile_name_valid(".a", 2) && !profile_name_valid("..x", 2));
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
                assert_streq(errors,
                             "/t.conf:1: unknown section [Bogus] (expected [Access], [Profile] or "
                             "[Profile \"NAME\"])\n");
                free(errors);
        }
}

static void test_errors_values(void) {
        clean_root();
        parse_fails("[Profile]\nMemoryMax=1Q\n", "/t.conf:2: MemoryMax=1Q: expected a size such as 64M");
        parse_fails("[Profile]\nMemoryMax=\n", "/t.conf:2: MemoryMax=: expected a size");
        parse_fails("[Profile]\nMemoryMax=0\n", "/t.conf:2: MemoryMax=0: out of range (1..1T)");
        parse_fails("[Profile]\nMemoryMax=2T\n", "/t.conf:2: MemoryMax=2T: out of range (1..1T)");
        parse_fails("[Profile]\nMemoryMax=99999999999T\n", "MemoryMax=99999999999T: out of range");
        parse_fails("[Profile]\nCodeMax=2M\n", "/t.conf:2: CodeMax=2M: out of range (1..1M)");
        parse_fails("[Profile]\nTasksMax=1.5\n", "/t.conf:2: TasksMax=1.5: expected a number");
        parse_fails("[Profile]\nCPUQuotaMax=200\n", "/t.conf:2: CPUQuotaMax=200: expected a percentage");
        parse_fails("[Profile]\nDefaultCPUQuota=0%\n",
                    "/t.conf:2: DefaultCPUQuota=0%: out of range (1%..100000%)");
        parse_fails("[Profile]\nWallTimeMaxSec=soon\n",
                    "/t.conf:2: WallTimeMaxSec=soon: expected a time span");
        parse_fails("[Profile]\nWallTimeMaxSec=500us\n",
                    "/t.conf:2: WallTimeMaxSec=500us: out of range (1ms..168h)");
        parse_fails("[Access]\nRequestTimeoutSec=2h\n",
                    "/t.conf:2: RequestTimeoutSec=2h: out of range (1ms..1h)");
        parse_fails("[Access]\nJobsPerUser=0\n", "/t.conf:2: JobsPerUser=0: out of range (1..4096)");
        parse_fails("[Profile]\nEnabled=maybe\n", "/t.conf:2: Enabled=maybe: not a boolean");
        parse_fails("[Profile]\nNetwork=full\n", "/t.conf:2: Network=full: expected none or loopback");
        parse_fails("[Profile]\nDefaultTasks=300\n",
                    "/t.conf:2: DefaultTasks=300 exceeds TasksMax=256 (built-in default) in profile default");
        parse_fails("[Profile]\nCPUTimeMaxSec=5s\n",
                    "/t.conf:2: DefaultCPUTimeSec=10s exceeds CPUTimeMaxSec=5s (/t.conf:2)");
}

static void test_errors_paths(void) {
        clean_root();
        write_file("/srv/f", "");
        write_file("/opt/notexec", "");
        write_exec("/opt/emptyvenv/python3");
        parse_fails("[Profile]\nInterpreter=python3\n",
                    "/t.conf:2: Interpreter=python3: not a normalized absolute path");
        parse_fails("[Profile]\nInterpreter=/usr/../bin/sh\n",
                    "/t.conf:2: Interpreter=/usr/../bin/sh: not a normalized");
        parse_fails("[Profile]\nInterpreter=/nonexistent/python3\n",
                    "/t.conf:2: Interpreter=/nonexistent/python3: No such file or directory");
        parse_fails("[Profile]\nInterpreter=/opt/notexec\n",
                    "/t.conf:2: Interpreter=/opt/notexec: /opt/notexec is not an executable file");
        parse_fails(
                "[Profile]\nInterpreter=/opt/emptyvenv\n",
                "/t.conf:2: Interpreter=/opt/emptyvenv: a directory, but /opt/emptyvenv/bin/python3: No such file");
        parse_fails("[Profile]\nReadOnlyPaths=srv\n",
                    "/t.conf:2: ReadOnlyPaths=srv: not a normalized absolute path");
        parse_fails("[Profile]\nReadOnlyPaths=/srv/./f\n",
                    "/t.conf:2: ReadOnlyPaths=/srv/./f: not a normalized");
        parse_fails("[Profile]\nReadOnlyPaths=/srv//f\n",
                    "/t.conf:2: ReadOnlyPaths=/srv//f: not a normalized");
        parse_fails("[Profile]\nReadOnlyPaths=/srv/f:/x\n",
                    "/t.conf:2: ReadOnlyPaths=/srv/f:/x: not a normalized");
        parse_fails("[Profile]\nReadOnlyPaths=/srv/f /srv/missing\n",
                    "/t.conf:2: ReadOnlyPaths=/srv/missing: No such file or directory");
}

static void test_warm_keys(void) {
        Config *c;
        const Profile *p;

        clean_root();
        write_file("/etc/pyward/pyward.conf",
                   "[Profile]\n"
                   "WarmRunners=4\n"
                   "PreloadModules=numpy json\n"
                   "PreloadModules=os.path _ssl\n");
        c = load_ok();
        p = profile(c, NULL);
        assert_int(p->warm_runners, ==, 4);
        assert_int(strv_length(p->preload_modules), ==, 4);
        assert_streq(p->preload_modules[0], "numpy");
        assert_streq(p->preload_modules[2], "os.path");
        config_free(c);

        parse_fails("[Profile]\nWarmRunners=17\n", "/t.conf:2: WarmRunners=17: out of range (0..16)");
        parse_fails("[Profile]\nPreloadModules=a,b\n",
                    "/t.conf:2: PreloadModules=a,b: not a Python module name");
        parse_fails("[Profile]\nPreloadModules=.x\n", "PreloadModules=.x: not a Python module name");
        parse_fails("[Profile]\nPreloadModules=x.\n", "PreloadModules=x.: not a Python module name");
        parse_fails("[Profile]\nPreloadModules=a..b\n", "PreloadModules=a..b: not a Python module name");
        parse_fails("[Profile]\nPreloadModules=1up\n", "PreloadModules=1up: not a Python module name");
}

static void test_errors_syscalls_and_ids(void) {
        clean_root();
        parse_fails("[Profile]\nSystemCallAllow=not_a_syscall\n",
                    "/t.conf:2: SystemCallAllow=not_a_syscall: unknown system call or @group");
        parse_fails("[Profile]\nSystemCallDeny=@bogus\n",
                    "/t.conf:2: SystemCallDeny=@bogus: unknown system call or @group");
        parse_fails("[Profile]\nSystemCallDeny=~ptrace\n",
                    "/t.conf:2: SystemCallDeny=~ptrace: '~' is not allowed");
        parse_fails("[Profile]\nSystemCallAllow=PTRACE\n", "SystemCallAllow=PTRACE: unknown system call");

        /* Users and groups */
        parse_fails("[Access]\nAllowUsers=bad/name\n",
                    "/t.conf:2: AllowUsers=bad/name: not a valid name or numeric id");
        parse_fails("[Access]\nAllowGroups=-x\n", "/t.conf:2: AllowGroups=-x: not a valid name");
        parse_fails("[Access]\nAllowUsers=4294967295\n", "/t.conf:2: AllowUsers=4294967295: not a valid");
        parse_fails("[Profile]\nInterpreterArgs=-c \"x\"\n", "/t.conf:2: InterpreterArgs=\"x\": quotes");
}

/* Several errors are all reported, each with its own line; from files, the error names the file. */
static void test_errors_reported(void) {
        clean_root();
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
        c = parse_ok("[Access]\nConnectionsPerUser=3\nJobsPerUser=4\n");
        assert_int(c->connections_per_uid, ==, 3);
        config_free(c);
        c = parse_ok("[Access]\nConnectionsPerUser=0\n"); /* 0: the proportional default */
        assert_int(c->connections_per_uid, ==, 16);
        config_free(c);
        assert_int(config_parse_string(root, "/t.conf", NULL, 1, &c, NULL), ==, -EINVAL);
        assert_int(config_load("relative", &c, NULL), ==, -EINVAL);
}

int main(void) {
        test_warm_keys();
        static void (*const tests[])(void) = {
                test_every_key,
                test_errors_syntax,
                test_errors_values,
                test_errors_paths,
                test_errors_syscalls_and_ids,
                test_errors_reported,
                test_parse_string_edges,
                test_session_keys,
        };

        return test_config_main(tests, ELEMENTSOF(tests));
}
