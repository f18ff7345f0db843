/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pool's refill (warm-fill.h): prune, then start the missing runners, each through the same
 * job-user.c, job-spec.c, unit-props.c and job.c as a cold job, with the profile's default limits. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "config-paths.h"
#include "job-spec.h"
#include "job-user.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "policy.h"
#include "warm-fill.h"
#include "warm.h"

typedef struct WarmFill WarmFill;

/* One runner being started: its user, its listening socket (named p-... until the unit is active),
 * its Job until then. */
typedef struct WarmStart {
        WarmFill *fill;
        char rid[WARM_RID_LEN + 1];
        char unit[sizeof(WARM_UNIT_FMT) + WARM_RID_LEN];
        char pending[WARM_NAME_MAX], ready[WARM_NAME_MAX];
        JobUserPick *pick;
        int user_fd, listen_fd, null_fds[2], token_fd;
        char user[JOB_USER_NAME_MAX];
        Job *job;
        bool over, ok;
} WarmStart;

struct WarmFill {
        sd_event *event;
        sd_bus *bus;
        const Config *config;
        const Profile *profile;
        JobHost host;
        char gen[WARM_GEN_LEN + 1];
        char *preload;
        unsigned manager_version;
        int dfd;
        WarmStart starts[WARM_RUNNERS_MAX];
        size_t n_starts, n_over;
        bool timed_out;
};

static void start_over(WarmStart *s, bool ok) {
        if (s->over)
                return;
        s->over = true;
        s->ok = ok;
        if (!ok)
                (void) unlinkat(s->fill->dfd, s->pending, 0);
        s->listen_fd = safe_close(s->listen_fd);
        s->null_fds[0] = safe_close(s->null_fds[0]);
        s->null_fds[1] = safe_close(s->null_fds[1]);
        s->token_fd = safe_close(s->token_fd);
        /* The unit's name in the user's file keeps the user from any other job while it exists. */
        s->user_fd = safe_close(s->user_fd);
        s->fill->n_over++;
}

static void on_start_event(Job *j, JobEvent ev, void *userdata) {
        WarmStart *s = userdata;

        switch (ev) {
        case JOB_EVENT_STARTED:
                s->token_fd = safe_close(s->token_fd);
                break;
        case JOB_EVENT_ACTIVE:
                /* Its runner is exec()ed and its socket listens: claimable from now on. */
                if (renameat(s->fill->dfd, s->pending, s->fill->dfd, s->ready) < 0) {
                        log_warning_errno(errno, "Cannot make warm runner %s ready: %m", s->rid);
                        (void) manager_kill_unit(s->fill->bus, s->unit, SIGKILL);
                        start_over(s, false);
                        break;
                }
                log_debug("Warm runner %s of profile %s is ready.", s->rid, s->fill->profile->name);
                start_over(s, true);
                break;
        case JOB_EVENT_DONE:
                log_warning("Warm runner %s of profile %s did not start: %s", s->rid, s->fill->profile->name,
                            job_result(j)->message ?: "its unit went down");
                start_over(s, false);
                break;
        case JOB_EVENT_WINDING_UP:
                break;
        }
}

static int start_listen(WarmStart *s) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if ((size_t) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", WARM_DIR, s->pending) >=
            sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->listen_fd < 0)
                return -errno;
        if (bind(s->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(s->listen_fd, 1) < 0)
                return -errno;
        for (size_t i = 0; i < 2; i++) {
                s->null_fds[i] = open("/dev/null", O_WRONLY | O_CLOEXEC | O_NOCTTY);
                if (s->null_fds[i] < 0)
                        return -errno;
        }
        return 0;
}

static int start_unit(WarmStart *s) {
        WarmFill *f = s->fill;
        static const Request empty = {};
        int fds[3] = { s->listen_fd, s->null_fds[0], s->null_fds[1] };
        JobSpec spec;
        int q;

        q = start_listen(s);
        if (q < 0)
                return log_error_errno(q, "Warm runner %s: cannot make its socket: %m", s->rid);
        fds[0] = s->listen_fd;
        fds[1] = s->null_fds[0];
        fds[2] = s->null_fds[1];
        /* Bounded like every start (policy.h); a fill that finds all tokens taken starts without:
         * it runs after its job, and at most WARM_RUNNERS_MAX of them. */
        if (start_token_acquire(SLOT_DIR, START_TOKENS, &s->token_fd) < 0)
                s->token_fd = -EBADF;
        q = job_new_unit(f->bus, s->rid, s->unit, f->manager_version, &s->job);
        if (q < 0)
                return q;
        spec = job_spec_make(
                &(JobSpecInput) {
                        .unit = s->unit,
                        .job_id = s->rid,
                        .manager_version = f->manager_version,
                        .uid = 0,
                        .user = s->user,
                        .profile = f->profile,
                        .limits = f->profile->limit_default,
                        .request = &empty,
                        .job_fds = fds,
                        .warm = true,
                        .preload = f->preload,
                },
                &f->host);
        q = job_start(s->job, &spec, 0, on_start_event, s);
        if (q < 0)
                return q;
        job_keep_running(s->job);
        return 0;
}

static void on_user(JobUserPick *p, int q, void *userdata) {
        WarmStart *s = userdata;

        if (q < 0) {
                log_warning_errno(q, "Warm runner %s: no job user for it (%m).", s->rid);
                start_over(s, false);
                return;
        }
        job_user_pick_take(p, &s->user_fd, s->user);
        q = start_unit(s);
        if (q < 0)
                start_over(s, false);
}

static int start_one(WarmFill *f) {
        WarmStart *s = &f->starts[f->n_starts];
        char rid[WARM_RID_LEN + 1];
        sd_id128_t id;
        int q;

        *s = (WarmStart) { .fill = f,
                           .user_fd = -EBADF,
                           .listen_fd = -EBADF,
                           .null_fds = { -EBADF, -EBADF },
                           .token_fd = -EBADF };
        q = sd_id128_randomize(&id);
        if (q < 0)
                return q;
        (void) sd_id128_to_string(id, rid);
        memcpy(s->rid, rid, sizeof(s->rid));
        (void) snprintf(s->unit, sizeof(s->unit), WARM_UNIT_FMT, rid);
        q = warm_entry_name('p', f->gen, s->rid, f->profile->name, s->pending, sizeof(s->pending));
        if (q >= 0)
                q = warm_entry_name('r', f->gen, s->rid, f->profile->name, s->ready, sizeof(s->ready));
        if (q < 0)
                return q;
        q = job_user_pick_new(f->bus, s->rid, on_user, s, &s->pick);
        if (q < 0)
                return q;
        job_user_pick_set_unit(s->pick, s->unit);
        f->n_starts++;
        job_user_pick_start(s->pick);
        return 0;
}

/* Whether the manager still has unit (a synchronous GetUnit: the fill runs after the job). */
static bool unit_exists(sd_bus *bus, const char *unit) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "GetUnit", &e, &reply, "s", unit);
        return r >= 0 || !sd_bus_error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit");
}

static void stop_unit(sd_bus *bus, const char *rid) {
        char unit[sizeof(WARM_UNIT_FMT) + WARM_RID_LEN];

        (void) snprintf(unit, sizeof(unit), WARM_UNIT_FMT, rid);
        (void) manager_kill_unit(bus, unit, SIGKILL);
        (void) sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                  "org.freedesktop.systemd1.Manager", "StopUnit", NULL, NULL, "ss", unit,
                                  "replace");
}

/* The profile's runners that are ready; the others of the profile removed (stale generation,
 * a fill that died half-way, a unit gone). With f->profile NULL: those of every profile that c
 * does not have any more (f->config), removed and stopped. */
static unsigned prune(WarmFill *f) {
        DIR *d;
        struct dirent *de;
        unsigned alive = 0;

        d = fdopendir(fcntl(f->dfd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return 0;
        /* The duplicate shares f->dfd's offset, at the end after the last round's listing. */
        rewinddir(d);
        while ((de = readdir(d))) {
                char unit[sizeof(WARM_UNIT_FMT) + WARM_RID_LEN];
                WarmEntry e;

                if (!warm_entry_parse(de->d_name, &e) || e.kind == 'c')
                        continue;
                if (!f->profile) {
                        if (config_find_profile(f->config, e.profile))
                                continue;
                        if (unlinkat(f->dfd, de->d_name, 0) >= 0) {
                                log_info("Stopping warm runner %s (its profile %s is gone).", e.rid,
                                         e.profile);
                                stop_unit(f->bus, e.rid);
                        }
                        continue;
                }
                if (strcmp(e.profile, f->profile->name) != 0)
                        continue;
                (void) snprintf(unit, sizeof(unit), WARM_UNIT_FMT, e.rid);
                if (e.kind == 'r' && strcmp(e.gen, f->gen) == 0 && alive < f->profile->warm_runners &&
                    unit_exists(f->bus, unit)) {
                        alive++;
                        continue;
                }
                /* Unlinked first: no helper claims it while it is being stopped. */
                if (unlinkat(f->dfd, de->d_name, 0) < 0)
                        continue;
                if (strcmp(e.gen, f->gen) != 0 || e.kind == 'p' || alive >= f->profile->warm_runners) {
                        log_info("Stopping warm runner %s of profile %s (%s).", e.rid, f->profile->name,
                                 strcmp(e.gen, f->gen) != 0 ? "started under another configuration"
                                 : e.kind == 'p'            ? "its start was not finished"
                                                            : "more than WarmRunners=");
                        stop_unit(f->bus, e.rid);
                }
        }
        closedir(d);
        return alive;
}

static int fill_prepare(WarmFill *f) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = job_host_probe(&f->host);
        if (r >= 0)
                r = warm_generation(f->config, f->profile, &f->host, f->gen);
        if (r >= 0)
                r = job_preload_env(f->profile, &f->preload);
        if (r < 0)
                return r;
        /* Signals about the new units reach subscribed clients only ("already subscribed": fine). */
        (void) sd_bus_call_method(f->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                  "org.freedesktop.systemd1.Manager", "Subscribe", NULL, NULL, NULL);
        r = sd_bus_call_method(f->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.DBus.Properties", "Get", &e, &reply, "ss",
                               "org.freedesktop.systemd1.Manager", "Version");
        if (r >= 0)
                r = manager_read_version(reply, &f->manager_version);
        if (r < 0)
                return log_error_errno(r, "Failed to read the manager's version: %s", e.message ?: "unknown");
        return 0;
}

static int on_fill_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        WarmFill *f = userdata;

        log_warning("Warm runners of profile %s: %zu of %zu starts not answered within %llu s; leaving them.",
                    f->profile->name, f->n_starts - f->n_over, f->n_starts,
                    (unsigned long long) (WARM_FILL_TIMEOUT_USEC / 1000000U));
        f->timed_out = true;
        return 0;
}

/* The starts of one round, all over: their Jobs and fds let go (the units stay). */
static void starts_done(WarmFill *f) {
        for (size_t i = 0; i < f->n_starts; i++) {
                WarmStart *s = &f->starts[i];

                if (!s->over) {
                        /* Its start was not answered in time: it may still come up, nameless and
                         * never claimed; stopped rather than left waiting for an hour. */
                        (void) unlinkat(f->dfd, s->pending, 0);
                        if (s->job)
                                stop_unit(f->bus, s->rid);
                }
                job_user_pick_free(s->pick);
                job_free(s->job);
                safe_close(s->listen_fd);
                safe_close(s->null_fds[0]);
                safe_close(s->null_fds[1]);
                safe_close(s->token_fd);
                safe_close(s->user_fd);
        }
        f->n_starts = f->n_over = 0;
        f->timed_out = false;
}

static void fill_done(WarmFill *f) {
        starts_done(f);
        job_host_done(&f->host);
        free(f->preload);
        safe_close(f->dfd);
        sd_event_unref(f->event);
}

/* Starts the missing runners and waits for their units (or WARM_FILL_TIMEOUT_USEC): the runners
 * that became ready, or a negative errno. */
static int fill_round(WarmFill *f, unsigned alive) {
        _cleanup_(sd_event_source_disable_unrefp) sd_event_source *timeout = NULL;
        int r = 0, started = 0;

        for (unsigned i = alive; i < f->profile->warm_runners && f->n_starts < WARM_RUNNERS_MAX; i++) {
                r = start_one(f);
                if (r < 0) {
                        log_warning_errno(r, "Cannot start a warm runner of profile %s: %m",
                                          f->profile->name);
                        break;
                }
        }
        if (f->n_starts > f->n_over) {
                r = sd_event_add_time_relative(f->event, &timeout, CLOCK_MONOTONIC, WARM_FILL_TIMEOUT_USEC, 0,
                                               on_fill_timeout, f);
                while (r >= 0 && f->n_over < f->n_starts && !f->timed_out)
                        r = sd_event_run(f->event, UINT64_MAX);
        }
        for (size_t i = 0; i < f->n_starts; i++)
                started += f->starts[i].ok;
        starts_done(f);
        return r < 0 ? r : started;
}

/* The fill's lock: with wait, as long as the fill under way takes; else for up to
 * WARM_FILL_LOCK_USEC (a fill under way that began before our claim may not have seen it: it
 * would have left the pool short). 0: busy all that time. */
#define WARM_FILL_LOCK_USEC (1000ULL * 1000ULL)
static int fill_lock(const char *path, bool wait, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        for (unsigned i = 0;; i++) {
                if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) >= 0)
                        break;
                if (errno != EWOULDBLOCK)
                        return -errno;
                if (i >= WARM_FILL_LOCK_USEC / 50000U)
                        return 0;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
        *ret_fd = TAKE_FD(fd);
        return 1;
}

/* Under the fill's lock. */
static int warm_fill(sd_bus *bus, const Config *c, const Profile *p) {
        WarmFill f = { .bus = bus, .config = c, .profile = p, .dfd = -EBADF };
        unsigned alive = 0, first = 0;
        int r, started = 0;

        f.dfd = open(WARM_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (f.dfd < 0)
                return log_warning_errno(errno, "Cannot open %s, no warm runners: %m", WARM_DIR);
        /* None wanted: every runner of the profile goes, whatever its generation. */
        if (p->warm_runners == 0) {
                (void) prune(&f);
                r = 0;
                goto finish;
        }
        r = fill_prepare(&f);
        if (r < 0) {
                log_warning_errno(r, "Not filling the warm runners of profile %s: %m", p->name);
                goto finish;
        }
        r = sd_event_new(&f.event);
        if (r < 0)
                goto finish;
        (void) sd_bus_detach_event(bus);
        r = sd_bus_attach_event(bus, f.event, 0);
        if (r < 0)
                goto finish;
        /* Again while jobs claimed runners during the round (their helpers find us filling). */
        for (unsigned round = 0; round < 3; round++) {
                alive = prune(&f);
                if (round == 0)
                        first = alive;
                if (alive >= p->warm_runners)
                        break;
                r = fill_round(&f, alive);
                if (r <= 0)
                        break;
                started += r;
        }
        log_info("Warm runners of profile %s: %u were ready, %d started.", p->name, first, started);
finish:
        if (f.event)
                (void) sd_bus_detach_event(bus);
        fill_done(&f);
        return r < 0 ? r : started;
}

/* Claims whose helper is gone (warm.h): nobody holds their lock. The job on that runner has no
 * helper to stop it, and its runner, told by the channel's end, may be stopped itself (a job can
 * signal its runner, its own uid): the fill stops the unit. A claim left before its rename
 * (claim.tmp-JOB) only goes. */
static void prune_orphans(sd_bus *bus) {
        DIR *d;
        struct dirent *de;

        d = opendir(SLOT_DIR);
        if (!d)
                return;
        while ((de = readdir(d))) {
                const char *id;
                bool tmp;
                int fd;

                if (strncmp(de->d_name, "claim.", 6) != 0)
                        continue;
                id = de->d_name + 6;
                tmp = strncmp(id, "tmp-", 4) == 0;
                fd = openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        continue;
                if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        safe_close(fd); /* its helper holds it: the job is watched */
                        continue;
                }
                if (!tmp && strlen(id) == WARM_RID_LEN) {
                        log_notice("Warm runner %s has lost its helper; stopping it and its job.", id);
                        stop_unit(bus, id);
                }
                (void) unlinkat(dirfd(d), de->d_name, 0);
                safe_close(fd);
        }
        closedir(d);
}

/* The runners of profiles c does not have (renamed, removed): stopped. */
static void warm_prune_gone(sd_bus *bus, const Config *c) {
        WarmFill f = { .bus = bus, .config = c, .dfd = -EBADF };

        f.dfd = open(WARM_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (f.dfd < 0)
                return;
        (void) prune(&f);
        safe_close(f.dfd);
}

int warm_fill_all(sd_bus *bus, const char *root, const char *only) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *errors = NULL;
        _cleanup_close_ int lock = -EBADF;
        int r, started = 0;

        /* The configuration is read once the lock is ours: a fill that waited for another one
         * applies what is configured now, never what was when its job began. pyward-pool.service
         * (only NULL) waits for a fill under way; a helper waits a little, then leaves it. */
        r = fill_lock(SLOT_DIR "/fill", !only, &lock);
        if (r <= 0)
                return r;
        prune_orphans(bus);
        r = config_load(root, &c, &errors);
        if (r < 0) {
                log_error("Not filling the warm runners: the configuration is broken: %s", errors ?: "");
                return r;
        }
        for (size_t i = 0; i < c->n_profiles; i++) {
                const Profile *p = &c->profiles[i];

                if (only && strcmp(p->name, only) != 0)
                        continue;
                r = warm_fill(bus, c, p);
                if (r > 0)
                        started += r;
        }
        if (!only)
                warm_prune_gone(bus, c);
        return started;
}
