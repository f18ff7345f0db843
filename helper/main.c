/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward-helper: started by pyward-helper@.service for one connection (fd 3, from pyward-door); runs that client's
 * Python job in a transient sandboxed unit. Also --check-config and --show-config for admins. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "config-paths.h"
#include "config.h"
#include "confine.h"
#include "connection.h"
#include "door.h"
#include "handoff.h"
#include "journal.h"
#include "landlock-rules.h"
#include "lockdown.h"
#include "log.h"
#include "mac.h"
#include "macro.h"
#include "manager.h"
#include "policy.h"
#include "spares.h"
#include "unit-props.h"
#include "unix-connect.h"
#include "job-spec.h"
#include "warm-fill.h"
#include "warm.h"

static const char *arg_root = "/";
static const char *arg_profile = NULL;
static enum { ACTION_SERVE, ACTION_CHECK, ACTION_SHOW, ACTION_FILL } arg_action = ACTION_SERVE;
static bool arg_spare = false;

static void help(void) {
        printf("Usage: pyward-helper [OPTIONS]\n"
               "\n"
               "Runs one pyward job for the client whose connection pyward-door hands over on the\n"
               "socket that systemd passes (pyward-helper.socket, Accept=yes). Not meant to be\n"
               "started by hand.\n"
               "\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --check-config    Load " SYSCONFDIR
               "/pyward/pyward.conf and its drop-ins, report\n"
               "                       errors, exit 0 if the configuration is valid, 1 if not\n"
               "     --show-config     Print the effective configuration, with where each value\n"
               "                       comes from\n"
               "     --fill-pool       Start the warm runners that the profiles' WarmRunners= ask\n"
               "                       for and stop those of an older configuration, then exit\n"
               "                       (pyward-pool.service)\n"
               "     --spare           Wait for a connection from pyward-door as a spare helper\n"
               "                       (pyward-helper-spare@.service), serve it and exit\n"
               "     --profile NAME    With --show-config: only this profile\n"
               "     --root DIR        Read the configuration below DIR instead of /\n"
               "\n"
               "See pyward-helper(8).\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CHECK, ARG_SHOW, ARG_FILL, ARG_SPARE, ARG_PROFILE, ARG_ROOT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "check-config", no_argument, NULL, ARG_CHECK },
                { "show-config", no_argument, NULL, ARG_SHOW },
                { "fill-pool", no_argument, NULL, ARG_FILL },
                { "spare", no_argument, NULL, ARG_SPARE },
                { "profile", required_argument, NULL, ARG_PROFILE },
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
                        printf("pyward-helper %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_CHECK:
                        arg_action = ACTION_CHECK;
                        break;
                case ARG_SHOW:
                        arg_action = ACTION_SHOW;
                        break;
                case ARG_FILL:
                        arg_action = ACTION_FILL;
                        break;
                case ARG_SPARE:
                        arg_spare = true;
                        break;
                case ARG_PROFILE:
                        arg_profile = optarg;
                        break;
                case ARG_ROOT:
                        arg_root = optarg;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("This program takes no arguments.");
                return -EINVAL;
        }
        if (arg_spare && arg_action != ACTION_SERVE) {
                log_error("--spare does not go with --check-config, --show-config or --fill-pool.");
                return -EINVAL;
        }
        if (arg_profile && arg_action != ACTION_SHOW) {
                log_error("--profile only goes with --show-config.");
                return -EINVAL;
        }
        return 1;
}

/* How the helpers are confined on this kernel (confine.h), and whether the generator's drop-in
 * agrees with it: -EOPNOTSUPP if helpers would refuse to serve. */
static int check_confinement(void) {
        int abi = landlock_abi_usable();
        bool dropin = access(CONFINE_GENERATOR_DIR "/" CONFINE_DROPIN, F_OK) >= 0;

        if (dropin && abi < (int) CONFINE_ABI_MIN) {
                fprintf(stderr,
                        "pyward-helper@.service relies on Landlock ABI %u (%s/%s), but the kernel offers %d: "
                        "helpers refuse to serve until systemctl daemon-reload runs the generator again.\n",
                        CONFINE_ABI_MIN, CONFINE_GENERATOR_DIR, CONFINE_DROPIN, abi < 0 ? 0 : abi);
                return -EOPNOTSUPP;
        }
        if (dropin)
                printf("Helpers: Landlock ABI %d in place of pyward-helper@.service's mount, network and IPC "
                       "namespaces (pyward-helper-generator).\n",
                       abi);
        else if (abi >= (int) CONFINE_ABI_MIN)
                printf("Helpers: pyward-helper@.service's namespaces and Landlock ABI %d; the kernel allows "
                       "the cheaper confinement: systemctl daemon-reload runs pyward-helper-generator "
                       "(unless an admin disabled it).\n",
                       abi);
        else if (abi > 0)
                printf("Helpers: pyward-helper@.service's namespaces, Landlock ABI %d under them (ABI %u would "
                       "let them do without the namespaces).\n",
                       abi, CONFINE_ABI_MIN);
        else
                printf("Helpers: pyward-helper@.service's namespaces; no Landlock on this kernel.\n");
        return 0;
}

/* --check-config of the running system (no --root): what the configuration files cannot show. The
 * job users must exist (sysusers.d ran), else every job fails with 217/USER; and pyward-helper.socket
 * should not accept more connections at once than there are job users, else the jobs beyond them
 * are turned away. Returns 0 if nothing is wrong (a warning is no error). */
static int check_system(const Config *c) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned missing = 0, first_missing = 0;
        uint32_t max_connections = 0, spares = 0;
        uint64_t warm = 0;
        int r;

        /* Each waiting runner holds a job user, as a connection's job does. */
        for (size_t i = 0; i < c->n_profiles; i++)
                warm += c->profiles[i].warm_runners;

        for (unsigned k = 0; k < JOB_USERS; k++) {
                char name[sizeof(JOB_USER_PREFIX) + 10];

                (void) snprintf(name, sizeof(name), JOB_USER_PREFIX "%u", k);
                if (!getpwnam(name) && missing++ == 0)
                        first_missing = k;
        }
        if (missing > 0)
                fprintf(stderr,
                        "%u of the %u job users do not exist (the first: " JOB_USER_PREFIX
                        "%u); "
                        "jobs fail with 217/USER until systemd-sysusers has run.\n",
                        missing, (unsigned) JOB_USERS, first_missing);

        r = sd_bus_open_system(&bus);
        /* Each spare helper serves a connection beside pyward-helper.socket's MaxConnections=. */
        if (r >= 0 && manager_count_active_units(bus, "pyward-helper-spare@*.service", &spares, &error) >= 0)
                printf("Spare helpers: %" PRIu32 " running (pyward-helper-spare@.service, pyward-door(8)).\n",
                       spares);
        sd_bus_error_free(&error);
        if (r >= 0)
                r = manager_socket_max_connections(bus, &max_connections, &error);
        if (r < 0)
                printf("Not checked: pyward-helper.socket's MaxConnections= against the %u job users (%s).\n",
                       (unsigned) JOB_USERS, error.message ?: strerror(-r));
        else if (max_connections + spares + warm > JOB_USERS) {
                char kept[256] = "";

                if (spares > 0)
                        (void) snprintf(kept, sizeof(kept),
                                        ", %" PRIu32 " spare helpers serve one each besides", spares);
                if (warm > 0)
                        (void) snprintf(kept + strlen(kept), sizeof(kept) - strlen(kept),
                                        " and the profiles keep %" PRIu64
                                        " warm runners (WarmRunners=), each holding a job user",
                                        warm);
                printf("Warning: pyward-helper.socket accepts %" PRIu32
                       " connections at once (MaxConnections=)%s, but there are %u job users: the jobs "
                       "beyond %" PRIu64
                       " fail with \"all %u job users are in use\". Lower "
                       "MaxConnections=%s or build with -Djob-users=%" PRIu64 ".\n",
                       max_connections, kept, (unsigned) JOB_USERS, warm < JOB_USERS ? JOB_USERS - warm : 0,
                       (unsigned) JOB_USERS, warm > 0 ? " or WarmRunners=," : "",
                       max_connections + spares + warm);
        }
        return missing > 0 || check_confinement() < 0 ? -ENOENT : 0;
}

/* --check-config: each profile's pool of warm runners (warm.h), as WARM_DIR's names say. */
static void check_warm_pools(const Config *c) {
        _cleanup_(job_host_done) JobHost host = {};

        mac_probe_landlock(); /* as a helper sees the host (job-spec.h): the same generation */
        if (job_host_probe(&host) < 0)
                return;
        for (size_t i = 0; i < c->n_profiles; i++) {
                const Profile *p = &c->profiles[i];
                char gen[WARM_GEN_LEN + 1];
                unsigned ready, other;

                if (p->warm_runners == 0 || warm_generation(c, p, &host, gen) < 0)
                        continue;
                warm_pool_count(WARM_DIR, p->name, gen, &ready, &other);
                printf("Profile %s: WarmRunners=%" PRIu64 ", %u ready (generation %s)", p->name,
                       p->warm_runners, ready, gen);
                if (other > 0)
                        printf(", %u of an older configuration (stopped by the next fill)", other);
                printf(".\n");
        }
}

static int run_config_action(void) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *errors = NULL;
        int r;

        r = config_load(arg_root, &c, &errors);
        if (r < 0) {
                fputs(errors ?: "Failed to load the configuration.\n", stderr);
                return 1;
        }
        if (arg_action == ACTION_CHECK) {
                printf("Configuration OK (%zu profile%s).\n", c->n_profiles, c->n_profiles == 1 ? "" : "s");
                if (strcmp(arg_root, "/") == 0) {
                        check_warm_pools(c);
                        if (check_system(c) < 0)
                                return 1;
                }
                return 0;
        }
        r = config_show(c, arg_profile, stdout);
        if (r == -ENOENT) {
                fprintf(stderr, "No profile \"%s\".\n", arg_profile);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "Failed to show the configuration: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}

/* The client on fd 3 and its UID's connection share. From pyward-helper.socket, fd 3 is the front
 * door's connection with both on it (handoff.h): the door counted the share before systemd started
 * us. Otherwise (an Accept=yes pyward.socket of an older package, until it restarts) fd 3 is the
 * client itself, and the door (door.h) counts it here, before the bus and before a byte of the
 * request. 1: served, 0: refused, negative errno. */
static int enter(int *ret_share_fd) {
        _cleanup_close_ int client = -EBADF;
        int r;

        if (!handoff_socket_is(SD_LISTEN_FDS_START, HELPER_SOCKET))
                return door_enter(SD_LISTEN_FDS_START, CONN_DIR, door_share(arg_root), ret_share_fd);
        r = handoff_receive(SD_LISTEN_FDS_START, HANDOFF_TIMEOUT_MSEC, &client, ret_share_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to receive the connection from pyward-door: %m");
        /* The client takes fd 3's place, where the connection expects it. */
        if (dup3(client, SD_LISTEN_FDS_START, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to move the client's connection to fd 3: %m");
        return 1;
}

/* A spare helper's wait (spares.h): its bus is open and said Hello before the wait, so that a
 * connection finds it as far as a helper gets before the client's first byte. 1 and the client's
 * connection and share; 0 when the wait ended without one (exit 0, systemd starts it afresh). */
static int spare_wait(sd_bus *bus, int *ret_client_fd, int *ret_share_fd, uint64_t *ret_t_main) {
        _cleanup_close_ int sock = -EBADF;
        const char *unique = NULL;
        struct pollfd p[2];
        int r;

        if (!bus)
                return -ENOTCONN;
        r = sd_bus_get_unique_name(bus, &unique); /* waits for the Hello's reply */
        if (r < 0)
                return log_error_errno(r, "Failed to say Hello on the system bus: %m");
        r = unix_connect(SPARE_SOCKET, &sock);
        if (r == -EAGAIN)
                return 0; /* the door's backlog is full: started afresh, this spare tries again */
        if (r < 0) {
                log_error_errno(r, "Failed to reach pyward-door at %s (is pyward-spare.socket running?): %m",
                                SPARE_SOCKET);
                return -SPARE_EXIT_NO_DOOR;
        }
        (void) sd_notify(false, "READY=1\nSTATUS=Waiting for a connection from pyward-door.");
        /* The bus is watched for its end only (events 0: a hang-up or an error, never a message
         * it may still send us): a spare whose bus went away (the bus daemon restarted) would
         * serve its client an error, so it ends its wait and is started afresh instead. */
        p[0] = (struct pollfd) { .fd = sock, .events = POLLIN };
        p[1] = (struct pollfd) { .fd = sd_bus_get_fd(bus) };
        r = poll(p, p[1].fd >= 0 ? 2 : 1, SPARE_IDLE_MSEC);
        if (r < 0)
                return log_error_errno(errno, "Failed to wait for a connection from pyward-door: %m");
        if (p[1].revents != 0) {
                log_notice("The system bus connection ended while waiting; exiting, to be started afresh.");
                return 0;
        }
        /* The door sends nothing but the hand-off: a timeout, its end closed (it restarted) or a
         * malformed message all end this spare's wait without a client. */
        r = r == 0 ? -ETIMEDOUT : handoff_receive(sock, 0, ret_client_fd, ret_share_fd);
        if (r < 0) {
                if (r != -ETIMEDOUT && r != -ECONNRESET)
                        log_warning_errno(r, "The wait for a connection from pyward-door failed: %m");
                return 0;
        }
        /* The activation of this connection's helper ends here, as a socket-activated one's at main(). */
        *ret_t_main = journal_now_usec();
        (void) sd_notify(false, "STATUS=Serving a connection.");
        return 1;
}

/* From here on a system call outside the allowlist kills the helper (pyward-helper(8), SECURITY).
 * Fail closed: a helper that cannot lock itself down serves nobody. */
static int lockdown_self(void) {
        mac_probe_landlock(); /* landlock_*() are not in the lockdown's allowlist */
        return lockdown_apply(LOCKDOWN_KILL);
}

static int serve(uint64_t t_main) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(connection_freep) Connection *c = NULL;
        _cleanup_close_ int share_fd = -EBADF, spare_client = -EBADF;
        _cleanup_free_ char *profile = NULL;
        int n, r, client_fd = SD_LISTEN_FDS_START, code = 0;

        n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "Failed to get the connection from systemd: %m");
        if (n != (arg_spare ? 0 : 1)) {
                log_error(arg_spare ? "A spare helper takes no descriptor from systemd, got %d."
                                    : "Expected exactly one connection from systemd (pyward-helper.socket, "
                                      "Accept=yes), got %d.",
                          n);
                return -EBADF;
        }
        /* A client that goes away must not kill us in the middle of a write. */
        (void) signal(SIGPIPE, SIG_IGN);
        /* Landlock first (confine.h): from here on the helper writes only its slots and the
         * discovery cache, whether or not its unit has a mount namespace. */
        r = confine_self(confine_required());
        if (r < 0)
                return r;
        if (!arg_spare) {
                r = enter(&share_fd);
                if (r <= 0)
                        return r;
        }

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        /* The system bus is opened now, before the first byte from the client, so that the
         * helper can lock itself down before it parses anything. A helper without a bus still
         * answers its client (with an error, once the request is in). */
        r = manager_open(e, &bus);
        if (r < 0)
                log_error_errno(r, "Failed to connect to the system bus: %m");
        /* The bus outlives the connection's event loop: the refill after the job uses it. */
        if (bus)
                (void) sd_bus_set_close_on_exit(bus, false);
        if (arg_spare) {
                /* A spare locks itself down before it waits: the filter (0.3-0.45 ms, most of it
                 * the kernel's) is not on its connection's path, and what it does from the
                 * hand-off to the request (the configuration, the peer's credentials) is within
                 * the allowlist, which a locked-down helper's later work needs anyway. */
                r = lockdown_self();
                if (r < 0)
                        return r;
                /* A spare without a bus serves nobody: the door activates a helper instead. */
                r = spare_wait(bus, &spare_client, &share_fd, &t_main);
                if (r < 0)
                        return r;
                if (r == 0)
                        return 0;
                client_fd = TAKE_FD(spare_client); /* the connection's from here on */
        }
        journal_note_helper_start(t_main, journal_now_usec());
        /* Loads the configuration too: after this, only the request is left to read. */
        r = connection_new(e, client_fd, arg_root, bus, &c);
        if (r < 0)
                return r;
        if (!arg_spare) {
                r = lockdown_self();
                if (r < 0)
                        return r;
        }
        r = sd_event_loop(e);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        code = r;
        /* After the RESULT: the warm runners of the job's profile refilled (warm-fill.h), the
         * client and the UID's share let go first. */
        profile = connection_warm_profile(c);
        if (profile && bus) {
                c = connection_free(c);
                share_fd = safe_close(share_fd);
                (void) warm_fill_all(bus, arg_root, profile);
        }
        return code;
}

/* --fill-pool: as a helper's refill, for every profile with WarmRunners= (pyward-pool.service). */
static int fill_pool(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = confine_self(confine_required());
        if (r < 0)
                return r;
        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = manager_open(e, &bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        mac_probe_landlock(); /* as serve(): the runners' units are made as the helpers' jobs are */
        r = lockdown_apply(LOCKDOWN_KILL);
        if (r < 0)
                return r;
        r = warm_fill_all(bus, arg_root, NULL);
        if (r < 0)
                return r;
        log_info("Warm runners: %d started.", r);
        return 0;
}

int main(int argc, char *argv[]) {
        /* The first mark of the connection's timing fields: the activation ends here. */
        uint64_t t_main = journal_now_usec();
        int r;

        /* Debug logging for one instance: systemctl edit pyward-helper@.service, Environment=PYWARD_LOG_LEVEL=debug */
        if (getenv("PYWARD_LOG_LEVEL") && strcmp(getenv("PYWARD_LOG_LEVEL"), "debug") == 0)
                log_max_level = LOG_DEBUG;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (arg_action == ACTION_FILL)
                return fill_pool() < 0 ? 1 : 0;
        if (arg_action != ACTION_SERVE)
                return run_config_action();
        r = serve(t_main);
        if (r == -SPARE_EXIT_NO_DOOR)
                return SPARE_EXIT_NO_DOOR;
        /* A spare is started again at once (Restart=always, RestartSec=0, for the refill's sake):
         * one that failed waits a second first, so that a lasting failure (no bus) does not spin. */
        if (r < 0 && arg_spare)
                (void) sleep(1);
        return r < 0 ? 1 : r;
}
