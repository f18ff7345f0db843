/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a job sees of the host's configuration and of other jobs: the properties of its /etc (the tree
 * pyward-etc-view prepares, its own passwd and group) and of its cgroup view. */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "host-view.h"
#include "log.h"
#include "macro.h"

/* BindReadOnlyPaths= of pairs: l[2i] bound at l[2i+1], not recursive; ignore_missing: a missing
 * source is skipped, else the job fails to start. */
static int append_bind_pairs(sd_bus_message *m, const char *const *l, size_t n_pairs, bool ignore_missing) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "BindReadOnlyPaths");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(ssbt)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(ssbt)");
        for (size_t i = 0; r >= 0 && i < n_pairs; i++)
                r = sd_bus_message_append(m, "(ssbt)", l[2 * i], l[2 * i + 1], ignore_missing, UINT64_C(0));
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* Whether the profile's ReadOnlyPaths= names a path below /etc: its mount point must not be made
 * in the shared tree, where every job would see it (an empty file or directory of that name). */
static bool profile_binds_into_etc(const Profile *p) {
        for (char **l = p->read_only_paths; l && *l; l++)
                if (strncmp(*l, "/etc/", 5) == 0)
                        return true;
        return false;
}

/* The tree's entries bound one by one into an empty read-only tmpfs at /etc (about 1.5 ms per entry
 * and job): for a profile that binds paths into /etc, whose mount points then go into the job's own
 * tmpfs. passwd and group are left to the caller. */
static int append_etc_entries(sd_bus_message *m) {
        _cleanup_(closedirp) DIR *d = NULL;
        unsigned n = 0;
        int r;

        d = opendir(HOST_VIEW_TREE);
        if (!d)
                return log_error_errno(errno, "Failed to read the jobs' /etc (%s): %m", HOST_VIEW_TREE);
        r = sd_bus_message_append(m, "(sv)", "TemporaryFileSystem", "a(ss)", 1, "/etc",
                                  "ro,mode=0755,nosuid,nodev,noexec");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "BindReadOnlyPaths");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(ssbt)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(ssbt)");
        while (r >= 0) {
                char src[PATH_MAX], dst[PATH_MAX];
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = errno > 0 ? -errno : 0;
                        break;
                }
                if (de->d_name[0] == '.' || strcmp(de->d_name, "passwd") == 0 ||
                    strcmp(de->d_name, "group") == 0)
                        continue;
                if (++n > HOST_VIEW_ETC_MAX)
                        return log_error_errno(E2BIG, "More than %u entries in %s.", HOST_VIEW_ETC_MAX,
                                               HOST_VIEW_TREE);
                (void) snprintf(src, sizeof(src), "%s/%s", HOST_VIEW_TREE, de->d_name);
                (void) snprintf(dst, sizeof(dst), "/etc/%s", de->d_name);
                r = sd_bus_message_append(m, "(ssbt)", src, dst, 1, UINT64_C(0));
        }
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The job's /etc: the tree pyward-etc-view prepares (the host's entries Python and its libraries
 * open, copied; pyward's neutral hostname, machine-id, hosts and nsswitch.conf; empty passwd and
 * group), one bind mount, and the job user's own passwd and group bound over those. A bind per
 * entry of the host's /etc instead costs ~1.5 ms each per job (about 25 ms), which only a profile
 * with ReadOnlyPaths= under /etc pays (append_etc_entries()). Without the tree (the service did not
 * run) the job gets an empty /etc, never the host's. */
static int append_etc_view(sd_bus_message *m, const JobSpec *s) {
        const char *tree[] = { HOST_VIEW_TREE, "/etc" };
        char passwd[PATH_MAX], group[PATH_MAX];
        const char *own[] = { passwd, "/etc/passwd", group, "/etc/group" };
        struct stat st;
        int r;

        if (stat(HOST_VIEW_TREE, &st) < 0) {
                log_warning_errno(errno, "The jobs' /etc (%s) is missing, job gets an empty one: %m",
                                  HOST_VIEW_TREE);
                return sd_bus_message_append(m, "(sv)", "TemporaryFileSystem", "a(ss)", 1, "/etc",
                                             "ro,mode=0755,nosuid,nodev,noexec");
        }
        if (profile_binds_into_etc(s->profile))
                r = append_etc_entries(m);
        else
                /* Not skipped if missing (gone since the stat()): that would leave the host's /etc. */
                r = append_bind_pairs(m, tree, 1, false);
        if (r < 0)
                return r;
        /* A missing one leaves the tree's empty passwd or group (or none), never the host's. */
        (void) snprintf(passwd, sizeof(passwd), "%s/%s.passwd", HOST_VIEW_USER_DIR, s->user);
        (void) snprintf(group, sizeof(group), "%s/%s.group", HOST_VIEW_USER_DIR, s->user);
        return append_bind_pairs(m, own, ELEMENTSOF(own) / 2, true);
}

/* The job's cgroup view: its own cgroup at /sys/fs/cgroup, nothing of other jobs or the host's
 * services. systemd 257 gives it a cgroup namespace with a read-only /sys/fs/cgroup of its own
 * (/proc/self/cgroup reads "0::/"). 252 has no such setting: the job's own directory is bound
 * there, read-only, so its memory.max, pids.max and cpu.max are where they are on 257 (and where
 * container-aware code looks); a bind wins over ProtectControlGroups=yes on the same path, which
 * stays for a host without the unified hierarchy. What differs: /proc/self/cgroup still names
 * /pyward.slice/UNIT (mountinfo shows that as the mount's root). */
static int append_cgroup_view(sd_bus_message *m, const JobSpec *s) {
        char own[PATH_MAX];
        const char *pair[2] = { own, "/sys/fs/cgroup" };
        int r;

        if (s->manager_version >= 257)
                return sd_bus_message_append(m, "(sv)", "ProtectControlGroupsEx", "s", "strict");
        r = sd_bus_message_append(m, "(sv)", "ProtectControlGroups", "b", 1);
        if (r < 0)
                return r;
        (void) snprintf(own, sizeof(own), "/sys/fs/cgroup/%s/%s", JOB_SLICE, s->unit);
        return append_bind_pairs(m, pair, 1, true);
}

int host_view_append(sd_bus_message *m, const JobSpec *s) {
        int r;

        r = append_etc_view(m, s);
        return r < 0 ? r : append_cgroup_view(m, s);
}
