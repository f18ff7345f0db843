/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Builds a job's StartTransientUnit() properties from a profile and limits, reads the message back
 * and checks the sandbox, the limits, the exec line and the version-dependent properties. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host-view.h"
#include "test.h"
#include "unit-props.h"

/* Renders the a(sv) as "Name=value\n" lines; arrays joined by ' ', structs in (). */
static void render(sd_bus_message *m, FILE *f) {
        for (;;) {
                char type;
                const char *contents;
                int r = sd_bus_message_peek_type(m, &type, &contents);

                assert_se(r >= 0);
                if (r == 0)
                        return;
                if (type == 'a' || type == 'r' || type == 'v' || type == 'e') {
                        assert_se(sd_bus_message_enter_container(m, type, contents) > 0);
                        fputc(type == 'a' ? '[' : type == 'r' ? '(' : '<', f);
                        render(m, f);
                        fputc(type == 'a' ? ']' : type == 'r' ? ')' : '>', f);
                        assert_se(sd_bus_message_exit_container(m) > 0);
                } else {
                        union {
                                uint8_t y;
                                int b;
                                int32_t i;
                                uint32_t u;
                                uint64_t t;
                                const char *s;
                                int h;
                        } v;

                        assert_se(sd_bus_message_read_basic(m, type, &v) > 0);
                        switch (type) {
                        case 'y':
                                fprintf(f, "%u ", v.y);
                                break;
                        case 'b':
                                fprintf(f, "%s ", v.b ? "yes" : "no");
                                break;
                        case 'i':
                                fprintf(f, "%d ", v.i);
                                break;
                        case 'u':
                                fprintf(f, "%u ", v.u);
                                break;
                        case 't':
                                fprintf(f, "%llu ", (unsigned long long) v.t);
                                break;
                        case 'h':
                                fprintf(f, "fd ");
                                break;
                        default:
                                fprintf(f, "%s ", v.s);
                                break;
                        }
                }
        }
}

/* build() with COLLECT asked: the runner's files-out-time after a stop. */
static bool build_collect;
/* build() on a host whose memory controller charges a job's shmem (JobHost's probe). */
static bool build_memory_cgroup;

static char *build(unsigned version, int network, char **allow, const char *interpreter, char **ro) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus *bus = NULL;
        char *interp_args[] = { (char *) "-I", NULL };
        char *hidden_dirs[] = { (char *) "/run", (char *) "/srv", (char *) "/var", NULL };
        char *hidden_other[] = { (char *) "-/swapfile", NULL };
        Profile p = {
                .name = (char *) "default",
                .interpreter = (char *) interpreter,
                .read_only_paths = ro,
                .interpreter_args = interp_args,
                .network = network,
                .syscall_allow = allow,
        };
        uint64_t limits[_LIMIT_MAX] = {
                [LIMIT_MEMORY] = 256u << 20,
                [LIMIT_TASKS] = 32,
                [LIMIT_CPU_QUOTA] = 50,
                [LIMIT_CPU_TIME] = 2500000,
                [LIMIT_WALL_TIME] = 30000000,
                [LIMIT_OUTPUT] = 1 << 20,
                [LIMIT_DISK] = 8u << 20,
                /* The files' bounds are the runner's and the channel's, never a unit property: values
                 * no property could have by chance (test_files_limits() looks for them). */
                [LIMIT_FILES_IN] = 987654321001ULL,
                [LIMIT_FILES_IN_BYTES] = 987654321002ULL,
                [LIMIT_FILES_OUT] = 987654321003ULL,
                [LIMIT_FILES_OUT_BYTES] = 987654321004ULL,
                [LIMIT_FILE_OUT_SIZE] = 987654321005ULL,
                [LIMIT_FILES_OUT_DEPTH] = 987654321006ULL,
                [LIMIT_FILES_OUT_TIME] = 987654321007ULL,
        };
        JobSpec s = {
                .unit = "pyward-job-x.service",
                .job_id = "x",
                .helper_unit = "pyward-helper@1.service",
                .manager_version = version,
                .uid = 1000,
                .user = "pyward-job7",
                .profile = &p,
                .limits = limits,
                .runner = "RUNNER",
                .collect = build_collect,
                .memory_cgroup = build_memory_cgroup,
                .stdin_fd = 0,
                .stdout_fd = 1,
                .stderr_fd = 2,
                .hidden_dirs = hidden_dirs,
                .hidden_other = hidden_other,
        };
        char *text = NULL;
        size_t size = 0;
        FILE *f;
        int sv[2];

        /* A bus that never talks: enough to build and read back a message. */
        assert_se(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        assert_se(sd_bus_new(&bus) >= 0);
        assert_se(sd_bus_set_fd(bus, sv[0], sv[0]) >= 0);
        assert_se(sd_bus_start(bus) >= 0);
        assert_se(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1",
                                                 "/org/freedesktop/systemd1",
                                                 "org.freedesktop.systemd1.Manager",
                                                 "StartTransientUnit") >= 0);
        assert_se(unit_props_append(m, &s) >= 0);
        assert_se(sd_bus_message_seal(m, 1, 0) >= 0);
        assert_se(sd_bus_message_rewind(m, true) >= 0);
        f = open_memstream(&text, &size);
        assert_se(f);
        render(m, f);
        fclose(f);
        sd_bus_close_unref(bus);
        close(sv[1]);
        return text;
}

/* Every property name some has() checked: check_all_asserted() fails on a property the helper sets
 * that no assertion looks at, so a new property cannot go in unchecked. */
static char asserted[128][48];
static size_t n_asserted;

static void note_asserted(const char *needle) {
        size_t n;

        if (needle[0] != '(')
                return;
        n = strcspn(needle + 1, " ");
        if (n == 0 || n >= sizeof(asserted[0]))
                return;
        for (size_t i = 0; i < n_asserted; i++)
                if (strlen(asserted[i]) == n && strncmp(asserted[i], needle + 1, n) == 0)
                        return;
        assert_se(n_asserted < sizeof(asserted) / sizeof(asserted[0]));
        memcpy(asserted[n_asserted], needle + 1, n);
        asserted[n_asserted++][n] = '\0';
}

static void has(const char *text, const char *needle) {
        if (!strstr(text, needle)) {
                fprintf(stderr, "missing: %s\nin: %s\n", needle, text);
                abort();
        }
        note_asserted(needle);
}

/* The names of the top-level properties of a rendered message: "(Name <" right inside the first
 * array (depth 1). */
static void check_all_asserted(const char *text) {
        unsigned depth = 0;
        bool missing = false;

        for (const char *p = text; *p; p++) {
                if (*p == '[' || *p == '(' || *p == '<') {
                        if (*p == '(' && depth == 1) {
                                size_t n = strcspn(p + 1, " ");
                                bool found = false;

                                for (size_t i = 0; i < n_asserted && !found; i++)
                                        found = strlen(asserted[i]) == n &&
                                                strncmp(asserted[i], p + 1, n) == 0;
                                if (!found) {
                                        fprintf(stderr, "property set but never asserted: %.*s\n", (int) n,
                                                p + 1);
                                        missing = true;
                                }
                        }
                        depth++;
                } else if ((*p == ']' || *p == ')' || *p == '>') && depth > 0)
                        depth--;
        }
        if (missing)
                fprintf(stderr, "in: %s\n", text);
        assert_se(!missing);
}

/* The limits of files in and out (keys >= LIMIT_FILES_IN) set no property; COLLECT moves only
 * RuntimeMaxSec=, by files-out-time: the runner's time to hand the files back after a stop. */
static void test_files_limits(void) {
        char *t;

        t = build(257, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        assert_se(!strstr(t, "98765432100"));
        has(t, "(RuntimeMaxUSec <31000000 >)");
        free(t);
        build_collect = true;
        t = build(252, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        build_collect = false;
        has(t, "(RuntimeMaxUSec <987685321007 >)");
        assert_se(!strstr(t, "98765432100"));
        has(t, "(ExecStartEx <[(/usr/bin/python3 [/usr/bin/python3 -I -c RUNNER ][no-env-expand ])]>)");
        free(t);
}

static void test_host_view(void) {
        char root[] = "/tmp/test-unit-props-XXXXXX", path[PATH_MAX], buf[PATH_MAX];
        const char *dirs[] = { "usr", "etc", "proc", "tmp", "home", "srv", "var", "run", "data", "opt" };
        char **hidden_dirs = NULL, **hidden_other = NULL;

        assert_se(mkdtemp(root));
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                (void) snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
                assert_se(mkdir(path, 0755) == 0);
        }
        (void) snprintf(path, sizeof(path), "%s/bin", root);
        assert_se(symlink("usr/bin", path) == 0);
        (void) snprintf(path, sizeof(path), "%s/vmlinuz", root);
        assert_se(symlink("boot/vmlinuz-6.1", path) == 0);
        (void) snprintf(path, sizeof(path), "%s/swapfile", root);
        assert_se(close(open(path, O_CREAT | O_WRONLY, 0600)) == 0);

        assert_se(host_hidden_entries(root, &hidden_dirs, &hidden_other) == 0);
        assert_int(strv_length(hidden_dirs), ==, 5);
        assert_streq(hidden_dirs[0], "/data");
        assert_streq(hidden_dirs[1], "/opt");
        assert_streq(hidden_dirs[2], "/run");
        assert_streq(hidden_dirs[3], "/srv");
        assert_streq(hidden_dirs[4], "/var");
        assert_int(strv_length(hidden_other), ==, 1);
        assert_streq(hidden_other[0], "-/swapfile");
        strv_free(hidden_dirs);
        strv_free(hidden_other);
        assert_int(host_hidden_entries("/nonexistent-root", &hidden_dirs, &hidden_other), ==, -ENOENT);

        assert_se(path_in_host_os("/usr/bin/python3"));
        assert_se(path_in_host_os("/etc"));
        assert_se(path_in_host_os("//lib64/ld.so"));
        assert_se(!path_in_host_os("/usrx/bin"));
        assert_se(!path_in_host_os("/opt/venv"));
        assert_se(!path_in_host_os("/"));
        assert_se(!path_in_host_os("usr"));

        interpreter_tree("/opt/venv/bin/python3", buf, sizeof(buf));
        assert_streq(buf, "/opt/venv");
        interpreter_tree("/usr/bin/python3", buf, sizeof(buf));
        assert_streq(buf, "/usr");
        interpreter_tree("/opt/py/python3", buf, sizeof(buf));
        assert_streq(buf, "/opt/py");
        interpreter_tree("/bin/python3", buf, sizeof(buf));
        assert_streq(buf, "/bin");
        interpreter_tree("/python3", buf, sizeof(buf));
        assert_streq(buf, "/python3");

        (void) snprintf(path, sizeof(path), "rm -rf '%s'", root);
        assert_se(system(path) == 0);
}

/* The job's /etc: its user's prepared tree, one bind that must exist; never the host's passwd,
 * machine-id or unit files. */
static void test_etc_view(void) {
        struct stat st;
        char *t;

        t = build(252, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        if (stat(HOST_VIEW_DIR "/pyward-job7", &st) == 0)
                has(t, "(BindReadOnlyPaths <[(/run/pyward/etc-view/current/pyward-job7 /etc no 0 )]>)");
        else if (stat(HOST_VIEW_DIR "/base", &st) == 0)
                has(t, "(BindReadOnlyPaths <[(/run/pyward/etc-view/current/base /etc no 0 )]>)");
        else /* not prepared on this host: an empty /etc */
                has(t, "(TemporaryFileSystem <[(/etc ro,mode=0755,nosuid,nodev,noexec )]>)");
        assert_se(!strstr(t, "(/etc/passwd "));
        assert_se(!strstr(t, "(/etc/machine-id "));
        assert_se(!strstr(t, "(/etc /etc "));
        free(t);
}

/* The job's cgroup view: a cgroup namespace on 257, its own directory bound at /sys/fs/cgroup on 252. */
static void test_cgroup_view(void) {
        char *t;

        t = build(252, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        has(t,
            "(BindReadOnlyPaths <[(/sys/fs/cgroup/pyward.slice/pyward-job-x.service "
            "/sys/fs/cgroup yes 0 )]>)");
        has(t, "(ProtectControlGroups <yes >)"); /* for a host without the unified hierarchy */
        assert_se(!strstr(t, "ProtectControlGroupsEx"));
        free(t);
        t = build(257, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        has(t, "(ProtectControlGroupsEx <strict >)");
        assert_se(!strstr(t, "(ProtectControlGroups <"));
        assert_se(!strstr(t, "/sys/fs/cgroup"));
        free(t);
}

/* LimitFSIZE= only where memfd is allowed: elsewhere each writable tmpfs bounds its files. The
 * filter's groups stay whole (pyward-helper(8)): no allow list after the deny list but a profile's. */
static void test_restrictions_lifted(void) {
        char *allow[] = { (char *) "memfd_create", NULL };
        char *t;
        const char *deny;

        t = build(257, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        deny = strstr(t, "(SystemCallFilter <(no [@privileged");
        assert_se(deny && !strstr(deny + 1, "(SystemCallFilter <(yes"));
        has(t, "(LimitFSIZE <18446744073709551615 >)");
        free(t);

        t = build(257, CONFIG_NETWORK_NONE, allow, "/usr/bin/python3", NULL);
        has(t, "(SystemCallFilter <(yes [memfd_create ])>)");
        has(t, "(LimitFSIZE <9437184 >)"); /* disk + 1 MiB: a memfd's write()s have no other bound */
        free(t);

        assert_int(fsize_rlimit_bytes(8u << 20, false), ==, UINT64_MAX);
        assert_int(fsize_rlimit_bytes(8u << 20, true), ==, (8u << 20) + JOB_FSIZE_SLACK);
        assert_int(fsize_rlimit_bytes(UINT64_MAX, true), ==, UINT64_MAX);
}

/* memfd_create and shmget: denied where no memory controller charges their pages to the job,
 * allowed where one does (no allow list after the deny list, no file limit); msgget stays denied. */
static void test_memfd_by_host(void) {
        char *allow[] = { (char *) "memfd_create", NULL };
        char *t;

        t = build(257, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        has(t, "@obsolete @raw-io msgget memfd_create shmget ])>)");
        free(t);

        build_memory_cgroup = true;
        t = build(257, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        has(t, "@obsolete @raw-io msgget ])>)");
        assert_se(!strstr(t, "memfd_create") && !strstr(t, "shmget"));
        assert_se(!strstr(strstr(t, "(SystemCallFilter <(no [@privileged"), "(SystemCallFilter <(yes"));
        has(t, "(LimitFSIZE <18446744073709551615 >)"); /* MemoryMax= bounds a memfd's pages */
        free(t);
        /* A profile's allow list as before: LimitFSIZE= is a profile's memfd bound on every host. */
        t = build(257, CONFIG_NETWORK_NONE, allow, "/usr/bin/python3", NULL);
        has(t, "(SystemCallFilter <(yes [memfd_create ])>)");
        has(t, "(LimitFSIZE <9437184 >)");
        free(t);
        build_memory_cgroup = false;
}

int main(void) {
        char *allow[] = { (char *) "@sync", NULL };
        char *ro[] = { (char *) "/srv/data", NULL };
        char *t;

        t = build(252, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        has(t, "(Type <exec >)");
        /* A user of the pool, and everything DynamicUser= would imply, but not PrivateTmp= (which
         * would win over the bounded /tmp below). */
        has(t, "(User <pyward-job7 >)");
        has(t, "(Group <pyward-job7 >)");
        has(t, "(RemoveIPC <yes >)");
        has(t, "(NoNewPrivileges <yes >)");
        has(t, "(RestrictSUIDSGID <yes >)");
        has(t, "(ProtectHome <yes >)");
        assert_se(!strstr(t, "DynamicUser"));
        assert_se(!strstr(t, "PrivateTmp"));
        assert_se(!strstr(t, "BindPaths"));
        has(t, "(ProtectSystem <strict >)");
        has(t, "(PrivateNetwork <yes >)");
        has(t, "(PrivateUsers <yes >)");
        has(t, "(CapabilityBoundingSet <0 >)");
        has(t, "(RestrictAddressFamilies <(yes [AF_UNIX ])>)");
        has(t, "(SystemCallFilter <(yes [@system-service ])>)");
        has(t, "(SystemCallFilter <(no [@privileged @resources @mount");
        has(t, "@raw-io msgget memfd_create shmget ])>)"); /* memory no rlimit counts (no controller) */
        has(t, "(SystemCallErrorNumber <1 >)");
        has(t, "(BindsTo <[pyward-helper@1.service ]>)");
        has(t, "(Slice <pyward.slice >)");
        has(t, "(MemoryMax <268435456 >)");
        has(t, "(MemorySwapMax <0 >)");
        has(t, "(TasksMax <32 >)");
        has(t, "(LimitNPROC <32 >)");
        has(t, "(CPUQuotaPerSecUSec <500000 >)");
        has(t, "(RuntimeMaxUSec <31000000 >)"); /* the helper stops it at 30 s; this is the layer under it */
        /* 2.5 s of CPU: SIGXCPU after 3 s (soft), SIGKILL after 4 s (hard). */
        has(t, "(LimitCPU <4 >)");
        has(t, "(LimitCPUSoft <3 >)");
        has(t, "(LimitFSIZE <18446744073709551615 >)"); /* each tmpfs bounds its files */
        /* The host's data hidden: read-only empty directories, and the bounded /var/tmp inside /var. */
        has(t,
            "(TemporaryFileSystem <[(/run ro,mode=0755,nosuid,nodev,noexec )"
            "(/srv ro,mode=0755,nosuid,nodev,noexec )(/var ro,mode=0755,nosuid,nodev,noexec )"
            "(/tmp size=8388608,nr_inodes=16384,mode=1777,nosuid,nodev )"
            "(/var/tmp size=8388608,nr_inodes=16384,mode=1777,nosuid,nodev )"
            "(/dev/shm size=8388608,nr_inodes=16384,mode=1777,nosuid,nodev )]>)");
        /* Memory no rlimit counted before: shared mappings, queued signals, message queues. */
        has(t, "(LimitSIGPENDING <1024 >)");
        has(t, "(LimitMSGQUEUE <819200 >)");
        has(t, "(LimitMEMLOCK <8388608 >)");
        /* The job's whole environment: nothing of the helper's or the client's. */
        has(t,
            "(Environment <[PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME=/tmp TMPDIR=/tmp "
            "PYTHONDONTWRITEBYTECODE=1 MALLOC_ARENA_MAX=2 OPENBLAS_NUM_THREADS=1 ]>)");
        /* The unit itself: named for the job and its UID, collected when done, tied to its helper. */
        has(t, "(Description <pyward job x for UID 1000 >)");
        has(t, "(CollectMode <inactive-or-failed >)");
        has(t, "(After <[pyward-helper@1.service ]>)");
        has(t, "(AddRef <yes >)");
        has(t, "(WorkingDirectory </tmp >)");
        has(t, "(UMask <63 >)"); /* 077 */
        has(t, "(StandardInputFileDescriptor <fd >)");
        has(t, "(StandardOutputFileDescriptor <fd >)");
        has(t, "(StandardErrorFileDescriptor <fd >)");
        /* The rest of the sandbox (README, pyward-helper(8)). */
        has(t, "(PrivateDevices <yes >)");
        has(t, "(PrivateIPC <yes >)");
        has(t, "(ProtectProc <invisible >)");
        has(t, "(ProcSubset <pid >)");
        has(t, "(ProtectKernelTunables <yes >)");
        has(t, "(ProtectKernelModules <yes >)");
        has(t, "(ProtectKernelLogs <yes >)");
        has(t, "(ProtectClock <yes >)");
        has(t, "(ProtectHostname <yes >)");
        has(t, "(RestrictNamespaces <0 >)"); /* 0: no namespace type at all (the flags are a bitmask) */
        has(t, "(RestrictRealtime <yes >)");
        has(t, "(LockPersonality <yes >)");
        has(t, "(MemoryDenyWriteExecute <yes >)");
        has(t, "(AmbientCapabilities <0 >)");
        /* Every IPv4 and IPv6 address denied: 0.0.0.0/0 and ::/0. */
        has(t, "(IPAddressDeny <[(2 [0 0 0 0 ]0 )(10 [0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 ]0 )]>)");
        has(t, "(SystemCallArchitectures <[native ]>)");
        has(t, "(MemoryAccounting <yes >)");
        has(t, "(LimitNOFILE <256 >)");
        has(t, "(LimitCORE <0 >)");
        has(t, "(OOMPolicy <kill >)");
        /* Stopping is immediate: the whole cgroup, SIGKILL, and 2 s for the manager at most. */
        has(t, "(KillMode <control-group >)");
        has(t, "(KillSignal <9 >)");
        has(t, "(TimeoutStopUSec <2000000 >)");
        has(t, "(ExecStartEx <[(/usr/bin/python3 [/usr/bin/python3 -I -c RUNNER ][no-env-expand ])]>)");
        {
                /* The unit test runs where it runs: either layer, consistent with LimitDATA=. */
                char as[64], data[64];
                bool cg = strstr(t, "(LimitDATA <1073741824 >)") != NULL;

                (void) snprintf(as, sizeof(as), "(LimitAS <%llu >)",
                                cg ? (unsigned long long) UINT64_MAX : 1073741824ULL);
                (void) snprintf(data, sizeof(data), "(LimitDATA <%u >)", cg ? 1073741824U : 268435456U);
                has(t, as);
                has(t, data);
        }
        has(t, "/usr/bin/python3 [/usr/bin/python3 -I -c RUNNER ][no-env-expand ]");
        has(t, "HOME=/tmp");
        has(t, "-/run/dbus/system_bus_socket");
        has(t, "(InaccessiblePaths <[-/swapfile ]>)");
        assert_se(!strstr(t, "(/usr /usr ")); /* /usr is in view anyway */
        assert_se(!strstr(t, "PrivatePIDs"));
        assert_se(!strstr(t, "IPAddressAllow"));
        assert_se(!strstr(t, "@sync"));
        free(t);

        t = build(257, CONFIG_NETWORK_LOOPBACK, allow, "/opt/venv/bin/python3", ro);
        assert_se(!strstr(t, "PrivatePIDs"));
        has(t, "(RestrictAddressFamilies <(yes [AF_UNIX AF_INET AF_INET6 ])>)");
        has(t, "(PrivateNetwork <yes >)");
        has(t, "(IPAddressAllow <[(2 [127 0 0 0 ]8 )");
        has(t, "(SystemCallFilter <(yes [@sync ])>)");
        /* A profile's ReadOnlyPaths=, and the venv of the interpreter, back in view. */
        has(t, "(BindReadOnlyPaths <[(/srv/data /srv/data no 16384 )]>)");
        has(t, "(BindReadOnlyPaths <[(/opt/venv /opt/venv no 16384 )]>)");
        free(t);

        test_files_limits();
        test_host_view();
        test_restrictions_lifted();
        test_memfd_by_host();
        test_etc_view();
        test_cgroup_view();

        /* Last: every property of either build was looked at by some has() above. */
        t = build(252, CONFIG_NETWORK_NONE, NULL, "/usr/bin/python3", NULL);
        check_all_asserted(t);
        free(t);
        t = build(257, CONFIG_NETWORK_LOOPBACK, allow, "/opt/venv/bin/python3", ro);
        check_all_asserted(t);
        free(t);

        assert_int(cpu_rlimit_seconds(1), ==, 1);
        assert_int(cpu_rlimit_seconds(1000000), ==, 1);
        assert_int(cpu_rlimit_seconds(1000001), ==, 2);
        assert_int(data_rlimit_bytes(64u << 20, false), ==, 64u << 20);
        assert_int(data_rlimit_bytes(64u << 20, true), ==, 256u << 20);
        assert_int(data_rlimit_bytes(UINT64_MAX / 2, true), ==, UINT64_MAX);
        assert_int(as_rlimit_bytes(64u << 20, false), ==, 256u << 20);
        assert_int(as_rlimit_bytes(64u << 20, true), ==, UINT64_MAX);
        assert_int(as_rlimit_bytes(UINT64_MAX / 2, false), ==, UINT64_MAX);
        assert_int(tmpfs_inodes(64u << 20), ==, 4096);
        assert_int(tmpfs_inodes(256u << 20), ==, 16384);
        assert_int(tmpfs_inodes(1u << 30), ==, 65536);
        assert_int(tmpfs_inodes(1), ==, 1024);
        assert_int(tmpfs_inodes(0), ==, 1024);
        return 0;
}
