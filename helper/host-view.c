/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a job sees of the host's configuration and of other jobs: its /etc (the host's entries chosen
 * from what Python and its libraries open, neutral files, its own passwd) and its own cgroup. */

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "host-view.h"
#include "log.h"
#include "macro.h"

/* The host's /etc as far as a job needs it, measured with strace -f -e trace=open,openat,stat of
 * python3 importing and using ssl, json, urllib.request, email, mimetypes, zoneinfo, locale,
 * sqlite3, socket, pwd, grp, platform, ctypes, multiprocessing, subprocess and numpy (bookworm and
 * trixie), plus the symlinks from /usr into /etc that such opens follow without naming /etc. All of
 * it is the OS's configuration, not an admin's data. Not here, and so not seen: unit files and
 * drop-ins (/etc/systemd), application configs, passwd, shadow, machine-id, hostname, hosts,
 * resolv.conf (names of the site's hosts and servers; a job has no network), pyward's own config. */
static const char *const etc_host_entries[] = {
        /* the dynamic loader: every process */
        "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ld.so.preload",
        /* shared libraries reached through update-alternatives links: libblas.so.3 for numpy */
        "alternatives",
        /* getaddrinfo() and friends (localhost, service and protocol names) */
        "host.conf", "gai.conf", "services", "protocols",
        /* time zone (time.localtime(), datetime.astimezone()) */
        "localtime", "timezone",
        /* TLS: certificates and OpenSSL's config (ssl.create_default_context()) */
        "ssl",
        /* mimetypes.init() */
        "mime.types",
        /* platform.freedesktop_os_release() */
        "os-release",
        /* the Python installation's own files: sitecustomize.py is a link into /etc/python3.X */
        "python3", "python3.*",
        /* fontconfig and matplotlib, for plotting jobs */
        "fonts", "matplotlibrc",
};

bool host_view_etc_entry(const char *name) {
        if (name[0] == '.')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(etc_host_entries); i++)
                if (fnmatch(etc_host_entries[i], name, FNM_PERIOD) == 0)
                        return true;
        return false;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int host_view_etc_entries(const char *etc, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        size_t n = 0;
        int r;

        d = opendir(etc);
        if (!d)
                return -errno;
        for (;;) {
                char path[NAME_MAX + 6];
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (!host_view_etc_entry(de->d_name))
                        continue;
                if (++n > HOST_VIEW_ETC_MAX)
                        return -E2BIG;
                (void) snprintf(path, sizeof(path), "/etc/%s", de->d_name);
                r = strv_extend(&l, path);
                if (r < 0)
                        return r;
        }
        if (l)
                qsort(l, strv_length(l), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}

/* BindReadOnlyPaths= of pairs: l[2i] bound at l[2i+1]; flags: MS_REC or 0. A missing source is
 * skipped: an entry of the host's /etc removed since the listing is no reason to fail the job, and a
 * missing passwd leaves the job without one, not with the host's. */
static int append_bind_pairs(sd_bus_message *m, const char *const *l, size_t n_pairs, uint64_t flags) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "BindReadOnlyPaths");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(ssbt)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(ssbt)");
        for (size_t i = 0; r >= 0 && i < n_pairs; i++)
                r = sd_bus_message_append(m, "(ssbt)", l[2 * i], l[2 * i + 1], 1, flags);
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The job's /etc: an empty read-only tmpfs with the host's entries of the measured set bound in
 * (host_view_etc_entry()), pyward's neutral hostname, machine-id, hosts and nsswitch.conf, and a passwd and
 * group of root and the job's user. A profile's ReadOnlyPaths= under /etc are mounted inside it
 * (unit-props.c), so an admin brings back what a job needs. */
static int append_etc_view(sd_bus_message *m, const JobSpec *s) {
        static const char *const shared[] = { "hostname", "machine-id", "hosts", "nsswitch.conf" };
        char paths[ELEMENTSOF(shared) + 2][2][PATH_MAX];
        const char *pairs[2 * (ELEMENTSOF(shared) + 2)];
        _cleanup_strv_free_ char **host = NULL;
        size_t n = 0;
        int r;

        r = host_view_etc_entries("/etc", &host);
        if (r < 0)
                return log_error_errno(r, "Failed to list the /etc entries jobs see: %m");
        r = sd_bus_message_append(m, "(sv)", "TemporaryFileSystem", "a(ss)", 1, "/etc",
                                  "ro,mode=0755,nosuid,nodev,noexec");
        if (r < 0)
                return r;
        if (host) {
                _cleanup_free_ const char **l = NULL;
                size_t k = strv_length(host);

                l = malloc(2 * k * sizeof(char *));
                if (!l)
                        return -ENOMEM;
                for (size_t i = 0; i < k; i++)
                        l[2 * i] = l[2 * i + 1] = host[i];
                r = append_bind_pairs(m, l, k, MS_REC);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(shared); i++, n++) {
                (void) snprintf(paths[n][0], PATH_MAX, "%s/%s", HOST_VIEW_SHARED_DIR, shared[i]);
                (void) snprintf(paths[n][1], PATH_MAX, "/etc/%s", shared[i]);
        }
        /* Written by pyward-etc-view.service; missing (it did not run) means no passwd at all, never
         * the host's. */
        for (size_t i = 0; i < 2; i++, n++) {
                (void) snprintf(paths[n][0], PATH_MAX, "%s/%s.%s", HOST_VIEW_USER_DIR, s->user,
                                i == 0 ? "passwd" : "group");
                (void) snprintf(paths[n][1], PATH_MAX, "/etc/%s", i == 0 ? "passwd" : "group");
        }
        for (size_t i = 0; i < n; i++) {
                pairs[2 * i] = paths[i][0];
                pairs[2 * i + 1] = paths[i][1];
        }
        return append_bind_pairs(m, pairs, n, 0);
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
        return append_bind_pairs(m, pair, 1, 0);
}

int host_view_append(sd_bus_message *m, const JobSpec *s) {
        int r;

        r = append_etc_view(m, s);
        return r < 0 ? r : append_cgroup_view(m, s);
}
