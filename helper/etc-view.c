/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A job's /etc: the host's entries a job sees, chosen from what Python and its libraries open, for
 * the mounts of unit-props.c. */

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etc-view.h"
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

bool etc_view_host_entry(const char *name) {
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

int etc_view_host_entries(const char *etc, char ***ret) {
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
                if (!etc_view_host_entry(de->d_name))
                        continue;
                if (++n > ETC_VIEW_ENTRIES_MAX)
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
