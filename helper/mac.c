/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mandatory access control layers under a job: the Landlock wrapper's command line, AppArmor's
 * profile when it is loaded, and in test builds the profiles that show each layer acting alone. */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config-paths.h"
#include "landlock-rules.h"
#include "host-view.h"
#include "log.h"
#include "mac.h"
#include "macro.h"

static unsigned landlock_abi = 0;
static int apparmor_state = -1; /* -1: not read yet */
static char layers_started[64] = "";

void mac_probe_landlock(void) {
        int r = landlock_abi_usable();

        if (r < 0) {
                log_warning_errno(r, "Cannot query Landlock; jobs run without it: %m");
                r = 0;
        }
        landlock_abi = (unsigned) r;
}

unsigned mac_landlock_abi(void) {
        return landlock_abi;
}

/* Whether both job profiles are in the kernel's list ("NAME (MODE)" per line); a bounded read. */
static int apparmor_profiles_loaded(void) {
        bool job = false, loopback = false;
        char line[512];
        unsigned n = 0;
        FILE *f;

        f = fopen(MAC_APPARMOR_PROFILES, "re");
        if (!f)
                return -errno;
        while (n++ < 100000 && fgets(line, sizeof(line), f)) {
                if (strncmp(line, MAC_APPARMOR_JOB " (", strlen(MAC_APPARMOR_JOB) + 2) == 0)
                        job = true;
                if (strncmp(line, MAC_APPARMOR_JOB_LOOPBACK " (", strlen(MAC_APPARMOR_JOB_LOOPBACK) + 2) == 0)
                        loopback = true;
        }
        (void) fclose(f);
        return job && loopback;
}

bool mac_apparmor_loaded(void) {
        int r;

        if (apparmor_state >= 0)
                return apparmor_state;
        r = apparmor_profiles_loaded();
        apparmor_state = r > 0;
        if (r < 0)
                log_internal(LOG_INFO, r,
                             "AppArmor is not available (%s: %m); jobs run without the %s profile.",
                             MAC_APPARMOR_PROFILES, MAC_APPARMOR_JOB);
        else if (r == 0)
                log_info("The AppArmor profiles %s and %s are not loaded; jobs run without them.",
                         MAC_APPARMOR_JOB, MAC_APPARMOR_JOB_LOOPBACK);
        return apparmor_state;
}

static bool profile_is(const JobSpec *s, const char *name) {
#if PYWARD_DEBUG_HOOKS
        return s->profile->name && strcmp(s->profile->name, name) == 0;
#else
        return false;
#endif
}

bool mac_job_landlock(const JobSpec *s) {
        return s->landlock_abi > 0 && !profile_is(s, MAC_DEBUG_PROFILE_SYSTEMD_ONLY) &&
               !profile_is(s, MAC_DEBUG_PROFILE_NEITHER);
}

static const char *apparmor_profile(const JobSpec *s) {
        return s->profile->network == CONFIG_NETWORK_LOOPBACK ? MAC_APPARMOR_JOB_LOOPBACK : MAC_APPARMOR_JOB;
}

const char *mac_job_layers(const JobSpec *s, char *buf, size_t size) {
        if (mac_job_landlock(s))
                (void) snprintf(buf, size, "landlock-abi%u%s", s->landlock_abi,
                                s->apparmor ? ",apparmor" : "");
        else
                (void) snprintf(buf, size, "%s", s->apparmor ? "apparmor" : "none");
        return buf;
}

const char *mac_layers_started(void) {
        return layers_started;
}

const char *mac_exec_path(const JobSpec *s) {
        return mac_job_landlock(s) ? MAC_LANDLOCK_WRAPPER : s->profile->interpreter;
}

/* What the job sees of the OS (unit-props.c's host_os_entries() without the writable /tmp and the
 * inaccessible /home and /root), read and execute; missing ones get no rule. */
/* clang-format off */
static const char *const landlock_read[] = {
        "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/dev", "/proc", "/sys",
};
/* The job's own tmpfs mounts (append_sandbox()), and POSIX queues (mq_open(), bounded by
 * LimitMSGQUEUE=; test_memory_bounds got EACCES without). */
static const char *const landlock_write[] = { "/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue" };
/* What PrivateDevices= leaves in /dev to write to; ptys for os.openpty() and pty. */
static const char *const landlock_devices[] = {
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx",
        "/dev/pts",
};
/* clang-format on */

static int append_paths(sd_bus_message *m, const char *option, const char *const *l, size_t n) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(m, "ss", option, l[i]);
        return r;
}

int mac_exec_args_append(sd_bus_message *m, const JobSpec *s) {
        char abi[16], tree[PATH_MAX];
        const char *t = tree;
        int r;

        if (!mac_job_landlock(s))
                return 0;
        (void) snprintf(abi, sizeof(abi), "%u", s->landlock_abi);
        r = sd_bus_message_append(m, "ss", MAC_LANDLOCK_WRAPPER, "--abi");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", abi);
        if (r >= 0)
                r = append_paths(m, "--read", landlock_read, ELEMENTSOF(landlock_read));
        /* What a profile brings into view, and an interpreter's own tree (a venv in /opt). */
        for (char **p = s->profile->read_only_paths; r >= 0 && p && *p; p++)
                r = sd_bus_message_append(m, "ss", "--read", *p);
        interpreter_tree(s->profile->interpreter, tree, sizeof(tree));
        if (r >= 0 && !path_in_host_os(tree))
                r = append_paths(m, "--read", &t, 1);
        if (r >= 0)
                r = append_paths(m, "--write", landlock_write, ELEMENTSOF(landlock_write));
        if (r >= 0)
                r = append_paths(m, "--device", landlock_devices, ELEMENTSOF(landlock_devices));
        /* Directories listed anywhere (os.listdir("/"), glob): what a job sees beyond the OS are
         * empty tmpfs; their files' contents stay denied. */
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", "--list", "/");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "--");
        return r;
}

int mac_props_append(sd_bus_message *m, const JobSpec *s) {
        const char *landlock_calls[] = { "landlock_create_ruleset", "landlock_add_rule",
                                         "landlock_restrict_self" };
        char layers[64];
        int r;

        (void) snprintf(layers_started, sizeof(layers_started), "%s",
                        mac_job_layers(s, layers, sizeof(layers)));
        if (s->apparmor) {
                r = sd_bus_message_append(m, "(sv)", "AppArmorProfile", "(bs)", 0, apparmor_profile(s));
                if (r < 0)
                        return r;
        }
        if (mac_job_landlock(s)) {
                /* systemd 252's @system-service has none of them; the first allow-list entry of the
                 * job's SystemCallFilter= (append_syscalls() adds the rest after it). */
                r = sd_bus_message_append(m, "(sv)", "SystemCallFilter", "(bas)", 1, 3, landlock_calls[0],
                                          landlock_calls[1], landlock_calls[2]);
                if (r < 0)
                        return r;
        }
#if PYWARD_DEBUG_HOOKS
        /* The systemd settings under the MAC layers turned off: a writable path outside the tmpfs,
         * a hidden host path in view, the host's network namespace (its abstract sockets). Landlock
         * is not told (its rules stay the default's), so what it denies is its own doing. */
        if (profile_is(s, MAC_DEBUG_PROFILE_LANDLOCK_ONLY) || profile_is(s, MAC_DEBUG_PROFILE_NEITHER)) {
                /* clang-format off */
                r = sd_bus_message_append(m, "(sv)(sv)(sv)",
                                          "ReadWritePaths", "as", 1, MAC_DEBUG_RW_PATH,
                                          "BindReadOnlyPaths", "a(ssbt)", 1, MAC_DEBUG_HIDDEN_PATH,
                                          MAC_DEBUG_HIDDEN_PATH, 1, UINT64_C(0),
                                          "PrivateNetwork", "b", 0);
                /* clang-format on */
                if (r < 0)
                        return r;
        }
#endif
        return 0;
}
