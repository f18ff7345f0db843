/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward-helper-generator: a systemd generator (systemd.generator(7)). Where the kernel's Landlock
 * can confine the helper in-process (confine.h), it writes a drop-in for pyward-helper@.service that turns
 * the unit's mount, network and IPC namespaces off, which cost most of a helper's activation,
 * and tells the helper to confine itself or serve nobody. Elsewhere it writes nothing: the unit's
 * namespaces stay. Runs at boot and at every daemon-reload; libc only. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confine.h"
#include "landlock-rules.h"

#define UNIT_DIR "pyward-helper@.service.d"

/* Each line the drop-in resets, and what the helper does instead (pyward-helper(8), SECURITY). */
static const char dropin[] =
        "# Written by pyward-helper-generator at boot and daemon-reload: this kernel's Landlock\n"
        "# (ABI %u) confines the helper in-process, so its unit does without the namespaces below,\n"
        "# the costly part of its activation. See pyward-helper(8), SECURITY. To keep them, disable\n"
        "# the generator: ln -s /dev/null /etc/systemd/system-generators/pyward-helper-generator\n"
        "[Service]\n"
        "Environment=" CONFINE_ENV "=" CONFINE_ENV_LANDLOCK
        "\n"
        "# Landlock: writes only in /run/pyward/slots and /run/pyward/discovery\n"
        "ProtectSystem=no\n"
        "ReadWritePaths=\n"
        "ProtectKernelTunables=no\n"
        "ProtectControlGroups=no\n"
        "# Landlock: reads only /usr, /etc, /run/pyward, its own /proc/PID, /proc/1/cgroup,\n"
        "# /sys/fs/cgroup, AppArmor's profile list and /dev/null; it lists / (names only)\n"
        "ProtectHome=no\n"
        "PrivateTmp=no\n"
        "PrivateDevices=no\n"
        "ProtectKernelLogs=no\n"
        "ProtectKernelModules=no\n"
        "ProtectProc=default\n"
        "ProcSubset=all\n"
        "# Landlock scopes abstract Unix sockets and signals to the helper and denies TCP; the unit\n"
        "# keeps RestrictAddressFamilies=AF_UNIX and IPAddressDeny=any; the lockdown's allowlist has\n"
        "# no System V IPC, POSIX queue or socket() but AF_UNIX. (ProtectHostname= stays: a UTS\n"
        "# namespace costs nothing measurable.)\n"
        "PrivateNetwork=no\n"
        "PrivateIPC=no\n";

int main(int argc, char *argv[]) {
        char path[4096];
        unsigned abi;
        FILE *f;
        int r, dfd;

        if (argc != 2 && argc != 4) {
                fprintf(stderr, "pyward-helper-generator: expected 1 or 3 directories, got %d\n", argc - 1);
                return 1;
        }
        r = landlock_abi_usable();
        if (r < 0) {
                /* Nothing written: the unit's namespaces stay, the helper applies what it can. */
                fprintf(stderr, "pyward-helper-generator: cannot query Landlock: %s\n", strerror(-r));
                return 0;
        }
        abi = (unsigned) r;
        if (abi < CONFINE_ABI_MIN)
                return 0;
        if (snprintf(path, sizeof(path), "%s/" UNIT_DIR, argv[1]) >= (int) sizeof(path))
                return 1;
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "pyward-helper-generator: cannot create %s: %s\n", path, strerror(errno));
                return 1;
        }
        dfd = open(path, O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return 1;
        r = openat(dfd, CONFINE_DROPIN, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        (void) close(dfd);
        if (r < 0 || !(f = fdopen(r, "we"))) {
                fprintf(stderr, "pyward-helper-generator: cannot write %s/%s: %s\n", path, CONFINE_DROPIN,
                        strerror(errno));
                if (r >= 0)
                        (void) close(r);
                return 1;
        }
        fprintf(f, dropin, abi);
        if (fclose(f) != 0) {
                fprintf(stderr, "pyward-helper-generator: cannot write %s/%s: %s\n", path, CONFINE_DROPIN,
                        strerror(errno));
                return 1;
        }
        return 0;
}
