/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a job sees of the host: which top-level entries are the OS it needs and which are hidden,
 * its /etc (the tree pyward-etc-view prepares, its own passwd and group) and its cgroup view. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "host-view.h"
#include "log.h"
#include "macro.h"

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* The part of the host's tree a job sees: the OS (/usr, /etc and the /bin, /lib... links into
 * /usr), the file systems systemd builds for it (/dev, /proc, /sys), its own /tmp, and /home and
 * /root, which ProtectHome= makes inaccessible already. Every other top-level entry is the host's
 * data, not the OS: /srv, /opt, /mnt, /boot, an admin's /data, /var with its logs and databases,
 * /run with every service's socket (mode 0666 often: AF_UNIX, which asyncio needs, would reach
 * them). Those are hidden (host_hidden_entries()), unless a profile's ReadOnlyPaths= names them. */
/* clang-format off */
static const char *const host_os_entries[] = {
        "usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32",
        "dev", "proc", "sys", "tmp", "home", "root",
};
/* clang-format on */

static bool host_os_entry(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(host_os_entries); i++)
                if (strlen(host_os_entries[i]) == n && strncmp(host_os_entries[i], name, n) == 0)
                        return true;
        return false;
}

bool path_in_host_os(const char *path) {
        size_t n;

        if (path[0] != '/')
                return false;
        path += strspn(path, "/");
        n = strcspn(path, "/");
        return n > 0 && host_os_entry(path, n);
}

void interpreter_tree(const char *interpreter, char *buf, size_t size) {
        char *slash;

        (void) snprintf(buf, size, "%s", interpreter);
        slash = strrchr(buf, '/');
        if (!slash || slash == buf)
                return; /* /python3: the file alone */
        *slash = '\0';
        slash = strrchr(buf, '/');
        if (slash && slash != buf && strcmp(slash + 1, "bin") == 0)
                *slash = '\0';
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int host_hidden_entries(const char *root, char ***ret_dirs, char ***ret_other) {
        _cleanup_strv_free_ char **dirs = NULL, **other = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        size_t n = 0;
        int r;

        d = opendir(root);
        if (!d)
                return -errno;
        for (;;) {
                char path[NAME_MAX + 3];
                struct dirent *de;
                bool dir;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    host_os_entry(de->d_name, strlen(de->d_name)))
                        continue;
                dir = de->d_type == DT_DIR;
                if (de->d_type == DT_UNKNOWN) {
                        struct stat st;

                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                if (errno == ENOENT)
                                        continue;
                                return -errno;
                        }
                        if (S_ISLNK(st.st_mode))
                                continue;
                        dir = S_ISDIR(st.st_mode);
                } else if (de->d_type == DT_LNK)
                        continue; /* its target lies below an entry of its own, hidden or not */
                if (++n > HOST_HIDDEN_MAX)
                        return -E2BIG;
                /* "-": a file that is gone by the time the job starts is no error. */
                (void) snprintf(path, sizeof(path), "%s/%s", dir ? "" : "-", de->d_name);
                r = strv_extend(dir ? &dirs : &other, path);
                if (r < 0)
                        return r;
        }
        if (dirs)
                qsort(dirs, strv_length(dirs), sizeof(char *), cmp_str);
        if (other)
                qsort(other, strv_length(other), sizeof(char *), cmp_str);
        *ret_dirs = TAKE_PTR(dirs);
        *ret_other = TAKE_PTR(other);
        return 0;
}

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
 * tmpfs. */
static int append_etc_entries(sd_bus_message *m, const char *tree) {
        _cleanup_(closedirp) DIR *d = NULL;
        unsigned n = 0;
        int r;

        d = opendir(tree);
        if (!d)
                return log_error_errno(errno, "Failed to read the jobs' /etc (%s): %m", tree);
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
                char src[PATH_MAX + NAME_MAX + 2], dst[NAME_MAX + 6];
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = errno > 0 ? -errno : 0;
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;
                if (++n > HOST_VIEW_ETC_MAX)
                        return log_error_errno(E2BIG, "More than %u entries in %s.", HOST_VIEW_ETC_MAX, tree);
                (void) snprintf(src, sizeof(src), "%s/%s", tree, de->d_name);
                (void) snprintf(dst, sizeof(dst), "/etc/%s", de->d_name);
                r = sd_bus_message_append(m, "(ssbt)", src, dst, 1, UINT64_C(0));
        }
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The job's /etc: its user's tree that pyward-etc-view prepares (the host's entries Python and its
 * libraries open, copied; pyward's neutral hostname, machine-id, hosts and nsswitch.conf; a passwd
 * and group of root and the user), one bind mount. A bind per entry of the host's /etc instead
 * costs ~1.5 ms each per job (about 25 ms), which only a profile with ReadOnlyPaths= under /etc
 * pays (append_etc_entries()). A user without a tree yet (added since) gets "base", without any
 * passwd; without any tree (the service did not run) the job gets an empty /etc, never the host's. */
static int append_etc_view(sd_bus_message *m, const JobSpec *s) {
        char tree[PATH_MAX];
        const char *pair[] = { tree, "/etc" };
        struct stat st;

        (void) snprintf(tree, sizeof(tree), "%s/%s", HOST_VIEW_DIR, s->user);
        if (stat(tree, &st) < 0) {
                log_warning_errno(errno, "The jobs' /etc for %s (%s) is missing: %m", s->user, tree);
                (void) snprintf(tree, sizeof(tree), "%s/base", HOST_VIEW_DIR);
                if (stat(tree, &st) < 0) {
                        log_warning_errno(errno, "No jobs' /etc (%s), the job gets an empty one: %m", tree);
                        return sd_bus_message_append(m, "(sv)", "TemporaryFileSystem", "a(ss)", 1, "/etc",
                                                     "ro,mode=0755,nosuid,nodev,noexec");
                }
        }
        if (profile_binds_into_etc(s->profile))
                return append_etc_entries(m, tree);
        /* Not skipped if missing (gone since the stat()): that would leave the host's /etc. */
        return append_bind_pairs(m, pair, 1, false);
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
