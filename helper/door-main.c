/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward-door: the front door behind pyward.socket (Accept=no, pyward-door.service). Counts each
 * user's connections before systemd starts a helper for any of them (front-door.h). */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config-paths.h"
#include "confine.h"
#include "door.h"
#include "front-door.h"
#include "handoff.h"
#include "lockdown.h"
#include "log.h"
#include "macro.h"
#include "spares.h"

static const char *arg_root = "/";

static void help(void) {
        printf("Usage: pyward-door [OPTIONS]\n"
               "\n"
               "Accepts the connections to pyward's socket that systemd passes (pyward.socket,\n"
               "Accept=no), refuses a user's connections beyond ConnectionsPerUser= at once, and\n"
               "hands the others to a helper each (pyward-helper.socket). Not meant to be started\n"
               "by hand.\n"
               "\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --root DIR        Read the configuration below DIR instead of /\n"
               "\n"
               "See pyward-door(8).\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_ROOT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "root", required_argument, NULL, ARG_ROOT },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("pyward-door %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_ROOT:
                        arg_root = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("This program takes no arguments.");
                return -EINVAL;
        }
        return 1;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) si, (void) userdata;
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int serve(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(front_door_freep) FrontDoor *d = NULL;
        _cleanup_(spares_freep) Spares *spares = NULL;
        _cleanup_(strv_freep) char **names = NULL;
        const FrontDoorParams params = {
                .config_root = arg_root,
                .conn_dir = CONN_DIR,
                .helper_socket = HELPER_SOCKET,
                .debug_forbidden = PYWARD_DEBUG_HOOKS && getenv(LOCKDOWN_DEBUG_DOOR_ENV) &&
                                   strcmp(getenv(LOCKDOWN_DEBUG_DOOR_ENV), "1") == 0,
        };
        const FrontDoorStats *st;
        sigset_t mask;
        int n, r, client_fd = -EBADF, spare_fd = -EBADF;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to get the listening sockets from systemd: %m");
        /* pyward.socket's (FileDescriptorName=clients; the only one, unnamed, when started by
         * hand) and pyward-spare.socket's, if it runs (FileDescriptorName=spares). */
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                        continue;
                if (names && names[i] && strcmp(names[i], "spares") == 0)
                        spare_fd = fd;
                else if (client_fd < 0)
                        client_fd = fd;
        }
        if (client_fd < 0) {
                log_error(
                        "Expected pyward.socket's listening socket from systemd (Accept=no), got %d sockets.",
                        n);
                return -EBADF;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        /* The helper's own Landlock domain (confine.h): from here on the door writes only the share
         * files; its unit's mount namespace is a second layer, not the only one. */
        r = confine_self(false);
        if (r < 0)
                return r;
        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block SIGTERM: %m");
        /* The signal ends the loop (a handler of our own: libsystemd 252's sd_event_add_signal()
         * does not take NULL for one). The listening socket stays systemd's, so connections that
         * arrive while the door restarts wait in its backlog. */
        r = sd_event_add_signal(e, NULL, SIGTERM, on_signal, NULL);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGINT, on_signal, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGTERM: %m");
        r = front_door_new(e, client_fd, &params, &d);
        if (r < 0)
                return r;
        if (spare_fd >= 0) {
                r = spares_new(e, spare_fd, &spares);
                if (r < 0)
                        return r;
                front_door_set_spares(d, spares);
        }
        /* Its own seccomp filter, the helper's allowlist and accept4()/signalfd4() (lockdown.h),
         * before the first connection: a system call outside it kills the door, which systemd
         * starts again (its unit's SystemCallFilter= is the layer under it). */
        r = lockdown_apply_door(LOCKDOWN_KILL);
        if (r < 0)
                return r;
        (void) sd_notify(false, "READY=1\nSTATUS=Accepting connections.");
        r = sd_event_loop(e);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        st = front_door_stats(d);
        log_info(
                "Stopping: %llu connections handed to helpers (%llu of them to spare helpers), %llu refused over their share, %llu dropped "
                "while the helpers' socket was full, %llu failed.",
                (unsigned long long) st->admitted, (unsigned long long) st->spared,
                (unsigned long long) st->refused, (unsigned long long) st->dropped,
                (unsigned long long) st->failed);
        return 0;
}

int main(int argc, char *argv[]) {
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        return serve() < 0 ? 1 : 0;
}
