/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --show-config and the settings table behind it: the exact output of the built-in defaults, and
 * output that reads back as the same configuration, with origins. */

#include "config-internal.h"
#include "test-config.h"

/* The whole output for the built-in defaults, byte for byte: the settings table must keep the
 * order, the formatting and the origins that --show-config has always printed. */
static void test_show_builtin(void) {
        static const char expected[] =
                "# Effective pyward configuration. Files, in the order applied:\n"
                "#   (none: built-in defaults only)\n"
                "\n"
                "[Access]\n"
                "# (the entries below are the whole list)\n"
                "AllowUsers=\n"
                "# built-in default\n"
                "AllowUsers=root\n"
                "# (the entries below are the whole list)\n"
                "AllowGroups=\n"
                "# built-in default\n"
                "AllowGroups=pyward\n"
                "# built-in default\n"
                "JobsPerUser=8\n"
                "# built-in default: 2 x JobsPerUser=\n"
                "ConnectionsPerUser=16\n"
                "# built-in default\n"
                "RequestTimeoutSec=5s\n"
                "\n"
                "[Profile]\n"
                "# built-in default\n"
                "Enabled=yes\n"
                "# built-in default\n"
                "Interpreter=/usr/bin/python3\n"
                "# (the entries below are the whole list)\n"
                "InterpreterArgs=\n"
                "# built-in default\n"
                "InterpreterArgs=-I\n"
                "# (the entries below are the whole list)\n"
                "ReadOnlyPaths=\n"
                "# built-in default\n"
                "Network=none\n"
                "# (the entries below are the whole list)\n"
                "SystemCallAllow=\n"
                "# (the entries below are the whole list)\n"
                "SystemCallDeny=\n"
                "# (the entries below are the whole list)\n"
                "AllowUsers=\n"
                "# (the entries below are the whole list)\n"
                "AllowGroups=\n"
                "# built-in default\n"
                "WarmRunners=0\n"
                "# (the entries below are the whole list)\n"
                "PreloadModules=\n"
                "# built-in default\n"
                "CodeMax=1M\n"
                "# built-in default\n"
                "MemoryMax=1G\n"
                "# built-in default\n"
                "DefaultMemory=256M\n"
                "# built-in default\n"
                "TasksMax=256\n"
                "# built-in default\n"
                "DefaultTasks=32\n"
                "# built-in default\n"
                "CPUQuotaMax=200%\n"
                "# built-in default\n"
                "DefaultCPUQuota=100%\n"
                "# built-in default\n"
                "CPUTimeMaxSec=1min\n"
                "# built-in default\n"
                "DefaultCPUTimeSec=10s\n"
                "# built-in default\n"
                "WallTimeMaxSec=5min\n"
                "# built-in default\n"
                "DefaultWallTimeSec=30s\n"
                "# built-in default\n"
                "OutputMax=16M\n"
                "# built-in default\n"
                "DefaultOutput=1M\n"
                "# built-in default\n"
                "DiskMax=256M\n"
                "# built-in default\n"
                "DefaultDisk=64M\n"
                "# built-in default\n"
                "FilesInMax=100\n"
                "# built-in default\n"
                "DefaultFilesIn=100\n"
                "# built-in default\n"
                "FilesInBytesMax=16M\n"
                "# built-in default\n"
                "DefaultFilesInBytes=16M\n"
                "# built-in default\n"
                "FilesOutMax=100\n"
                "# built-in default\n"
                "DefaultFilesOut=100\n"
                "# built-in default\n"
                "FilesOutBytesMax=16M\n"
                "# built-in default\n"
                "DefaultFilesOutBytes=16M\n"
                "# built-in default\n"
                "FileOutSizeMax=16M\n"
                "# built-in default\n"
                "DefaultFileOutSize=16M\n"
                "# built-in default\n"
                "FilesOutDepthMax=16\n"
                "# built-in default\n"
                "DefaultFilesOutDepth=16\n"
                "# built-in default\n"
                "FilesOutTimeMaxSec=5s\n"
                "# built-in default\n"
                "DefaultFilesOutTimeSec=2s\n"
                "# built-in default\n"
                "SessionWallTimeMaxSec=24h\n"
                "# built-in default\n"
                "DefaultSessionWallTimeSec=1h\n"
                "# built-in default\n"
                "SessionCPUTimeMaxSec=1h\n"
                "# built-in default\n"
                "DefaultSessionCPUTimeSec=10min\n"
                "# built-in default\n"
                "SessionIdleTimeMaxSec=1h\n"
                "# built-in default\n"
                "DefaultSessionIdleTimeSec=5min\n"
                "# built-in default\n"
                "SessionCellsMax=100000\n"
                "# built-in default\n"
                "DefaultSessionCells=10000\n"
                "# built-in default\n"
                "CellGraceMaxSec=30s\n"
                "# built-in default\n"
                "DefaultCellGraceSec=2s\n";
        char *out = NULL;
        size_t size = 0;
        Config *c;
        FILE *f;

        clean_root();
        c = load_ok();
        f = open_memstream(&out, &size);
        assert_se(f);
        assert_int(config_show(c, NULL, f), ==, 0);
        assert_se(fclose(f) == 0);
        assert_streq(out, expected);
        free(out);
        config_free(c);
}

/* Every limit has its two rows, of one type; no key is in a section twice. */
static void test_settings_table(void) {
        assert_int(config_n_settings, <=, CONFIG_SETTINGS_MAX);
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                const Setting *m = config_setting_limit(k, true), *d = config_setting_limit(k, false);

                assert_se(m && d && m != d);
                assert_int(m->type, ==, d->type);
                assert_se(m->def >= d->def && m->def <= m->max && d->def >= d->min);
                /* A limit whose LIMIT may be 0 may be 0 in pyward.conf too, and only such a limit. */
                assert_int(m->min == 0, ==, limit_key_allows_zero(k));
                assert_int(d->min == 0, ==, limit_key_allows_zero(k));
        }
        for (size_t i = 0; i < config_n_settings; i++) {
                const Setting *s = &config_settings[i];

                assert_se(config_setting_find(s->access, s->name) == s);
                if (!value_type_is_list(s->type) && s->type != VALUE_INTERPRETER && s->max > 0)
                        assert_se(s->def >= s->min && s->def <= s->max);
        }
        {
                char buf[FORMAT_VALUE_MAX];

                assert_streq(config_format_limit(LIMIT_MEMORY, 1ULL << 30, buf, sizeof(buf)), "1G");
                assert_streq(config_format_limit(LIMIT_CPU_QUOTA, 150, buf, sizeof(buf)), "150%");
                assert_streq(config_format_limit(LIMIT_WALL_TIME, 90000000, buf, sizeof(buf)), "1min 30s");
                assert_streq(config_format_limit(LIMIT_TASKS, 32, buf, sizeof(buf)), "32");
                assert_streq(config_format_limit(LIMIT_FILES_IN_BYTES, 16ULL << 20, buf, sizeof(buf)), "16M");
                assert_streq(config_format_limit(LIMIT_FILES_OUT_TIME, 2000000, buf, sizeof(buf)), "2s");
                assert_streq(config_format_limit(LIMIT_FILES_OUT_DEPTH, 0, buf, sizeof(buf)), "0");
        }
        assert_se(!config_setting_find(true, "MemoryMax"));
        assert_se(!config_setting_find(false, "JobsPerUser"));
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
                   "Network=loopback\nMemoryMax=2G\nDefaultMemory=1G\n"
                   "FilesInMax=0\nDefaultFilesIn=0\nFileOutSizeMax=0\nDefaultFileOutSize=0\n");
        c = load_ok();

        f = open_memstream(&out, &size);
        assert_se(f);
        assert_int(config_show(c, NULL, f), ==, 0);
        assert_se(fclose(f) == 0);
        assert_se(strstr(out,
                         "#   /etc/pyward/pyward.conf\n#   /usr/lib/pyward/pyward.conf.d/50-numpy.conf\n"));
        assert_se(strstr(out, "# /etc/pyward/pyward.conf:7\nMemoryMax=768M\n"));
        assert_se(strstr(out, "# built-in default\nDefaultMemory=256M\n"));
        assert_se(strstr(
                out, "# built-in default\nAllowUsers=root\n# /etc/pyward/pyward.conf:2\nAllowUsers=alice\n"));
        /* Derived from JobsPerUser=2 of the file, and saying so. */
        assert_se(strstr(out, "# built-in default: 2 x JobsPerUser=\nConnectionsPerUser=4\n"));
        assert_se(strstr(out, "[Profile \"numpy\"]\n"));
        assert_se(strstr(
                out, "# /usr/lib/pyward/pyward.conf.d/50-numpy.conf:2\nInterpreter=/opt/venv/bin/python3\n"));
        assert_se(strstr(out, "# /usr/lib/pyward/pyward.conf.d/50-numpy.conf:3\nInterpreterArgs=\n"));
        /* 0 is a valid files limit ("none"), shown as such. */
        assert_se(strstr(out, "# /usr/lib/pyward/pyward.conf.d/50-numpy.conf:8\nFilesInMax=0\n"));
        assert_se(strstr(out, "# /usr/lib/pyward/pyward.conf.d/50-numpy.conf:11\nDefaultFileOutSize=0\n"));

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

int main(void) {
        static void (*const tests[])(void) = {
                test_show_builtin,
                test_settings_table,
                test_show_roundtrip,
        };

        return test_config_main(tests, ELEMENTSOF(tests));
}
