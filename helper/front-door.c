/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The front door (front-door.h): accept, SO_PEERCRED, the UID's share (door.c's files, so that the
 * helper and an older helper count alike), the hand-off (handoff.c) or the refusal, and the
 * refused clients' bounded linger, all without ever blocking on a client. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config-paths.h"
#include "door.h"
#include "front-door.h"
#include "handoff.h"
#include "lockdown.h"
#include "log.h"
#include "unix-connect.h"

typedef struct Linger Linger;
struct Linger {
        FrontDoor *door;
        int fd;
        size_t bytes;
        sd_event_source *io;
        sd_event_source *timer;
        Linger *prev, *next;
};

/* A small table of what the door remembers per UID: when it last logged a refusal, and until when
 * a UID found with every share held is refused without a look. */
typedef struct UidMark {
        uid_t uid;
        uint64_t usec;  /* the time the mark is about; 0: slot unused */
        uint64_t share; /* the full marks: ConnectionsPerUser= when all were found held */
} UidMark;
struct FrontDoor {
        sd_event *event;
        FrontDoorParams params;
        sd_event_source *listen_io;
        sd_event_source *pause_timer;
        Spares *spares;
        Linger *lingers;
        unsigned n_lingers;
        UidMark logged[FRONT_DOOR_LOG_UIDS];
        UidMark full[FRONT_DOOR_FULL_UIDS];
        uint64_t last_trouble_usec; /* rate limit of the drop/failure log lines */
        FrontDoorStats stats;
};

/* Read each time, not the event loop's cached wake-up time: the marks must age while the door
 * sleeps, and one clock read is nothing next to the accept() it goes with. */
static uint64_t door_now(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* uid's mark in t, or the slot to put it in: an unused one, else the one with the oldest time. */
static UidMark *uid_mark_find(UidMark *t, size_t n, uid_t uid) {
        UidMark *m = NULL;

        for (size_t i = 0; i < n; i++) {
                if (t[i].usec != 0 && t[i].uid == uid)
                        return &t[i];
                if (!m || t[i].usec < m->usec)
                        m = &t[i];
        }
        return m;
}

/* The share uid was refused at, if that was less than the window (full_usec) ago, or 0. */
static uint64_t front_door_full(FrontDoor *d, uid_t uid) {
        UidMark *m = uid_mark_find(d->full, ELEMENTSOF(d->full), uid);

        return m->usec != 0 && m->uid == uid && door_now() < m->usec ? m->share : 0;
}

static void front_door_mark_full(FrontDoor *d, uid_t uid, uint64_t share) {
        UidMark *m = uid_mark_find(d->full, ELEMENTSOF(d->full), uid);

        /* usec is when the window ends: the oldest end makes room first. */
        *m = (UidMark) { .uid = uid, .usec = door_now() + d->params.full_usec, .share = share };
}

/* Whether this refusal of uid is the first one in DOOR_LOG_INTERVAL_SEC. */
static bool front_door_should_log(FrontDoor *d, uid_t uid) {
        uint64_t now = door_now(), interval = (uint64_t) DOOR_LOG_INTERVAL_SEC * 1000000ULL;
        UidMark *m = uid_mark_find(d->logged, ELEMENTSOF(d->logged), uid);

        if (m->usec != 0 && m->uid == uid && now - m->usec < interval)
                return false;
        *m = (UidMark) { .uid = uid, .usec = now ?: 1 };
        return true;
}

/* Drops and failures (not a client's own doing) are logged at most once a second. */
static bool front_door_should_log_trouble(FrontDoor *d) {
        uint64_t now = door_now();

        if (d->last_trouble_usec != 0 && now - d->last_trouble_usec < 1000000ULL)
                return false;
        d->last_trouble_usec = now ?: 1;
        return true;
}

static Linger *linger_free(Linger *l) {
        if (!l)
                return NULL;
        if (l->door) {
                if (l->prev)
                        l->prev->next = l->next;
                else
                        l->door->lingers = l->next;
                if (l->next)
                        l->next->prev = l->prev;
                l->door->n_lingers--;
        }
        sd_event_source_disable_unref(l->io);
        sd_event_source_disable_unref(l->timer);
        safe_close(l->fd);
        free(l);
        return NULL;
}

static int linger_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Linger *l = userdata;
        uint8_t buf[16 * 1024];
        ssize_t n;

        (void) s, (void) revents;
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0 || (l->bytes += (size_t) n) >= DOOR_LINGER_BYTES_MAX)
                linger_free(l);
        return 0;
}

static int linger_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s, (void) usec;
        linger_free(userdata);
        return 0;
}

/* A refused client that already sent bytes keeps its connection for DOOR_LINGER_MSEC, its bytes
 * discarded, so that it reads the RESULT instead of ECONNRESET; one that sent nothing (an idle
 * flood) is closed at once, as is any beyond FRONT_DOOR_LINGER_MAX. Takes fd. */
static void front_door_linger(FrontDoor *d, int fd) {
        _cleanup_close_ int owned = fd;
        uint8_t buf[16 * 1024];
        Linger *l;
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0 || d->n_lingers >= FRONT_DOOR_LINGER_MAX)
                return;
        (void) shutdown(fd, SHUT_WR);
        l = calloc(1, sizeof(*l));
        if (!l)
                return;
        l->fd = TAKE_FD(owned);
        l->bytes = (size_t) n;
        if (sd_event_add_io(d->event, &l->io, l->fd, EPOLLIN, linger_on_io, l) < 0 ||
            sd_event_add_time_relative(d->event, &l->timer, CLOCK_MONOTONIC,
                                       (uint64_t) DOOR_LINGER_MSEC * 1000ULL, 0, linger_on_timer, l) < 0) {
                linger_free(l);
                return;
        }
        l->door = d;
        l->next = d->lingers;
        if (l->next)
                l->next->prev = l;
        d->lingers = l;
        d->n_lingers++;
}

static void front_door_fail(FrontDoor *d, int client_fd, int error, const char *message) {
        (void) door_send_result(client_fd, JOB_ERROR, message);
        d->stats.failed++;
        if (front_door_should_log_trouble(d))
                log_error_errno(error, "Refusing a connection: %s", message);
}

void front_door_admit(FrontDoor *d, int client_fd) {
        _cleanup_close_ int client = client_fd, share_fd = -EBADF, helper = -EBADF;
        char message[512];
        uint64_t share;
        uid_t uid;
        int r;

#if PYWARD_DEBUG_HOOKS
        /* Test builds only: prove that the door's lockdown (door-main.c) kills it. */
        if (d->params.debug_forbidden)
                (void) lockdown_debug_forbidden_syscall();
#endif
        r = door_peer_uid(client, &uid);
        if (r < 0) {
                (void) snprintf(message, sizeof(message), "cannot read the peer's credentials: %s",
                                strerror(-r));
                front_door_fail(d, client, r, message);
                return;
        }
        /* The configuration is read for every connection that is looked at, as a helper did, so
         * that an edit of ConnectionsPerUser= applies to the next one. */
        share = front_door_full(d, uid);
        if (share > 0)
                r = -EBUSY;
        else {
                _cleanup_free_ char *errors = NULL;

                share = door_share_load(d->params.config_root, &errors);
                if (errors && front_door_should_log_trouble(d))
                        log_warning("The configuration does not load, ConnectionsPerUser=%" PRIu64
                                    " (the built-in default) applies: %s",
                                    share, errors);
                r = door_take_share(d->params.conn_dir, uid, share, &share_fd);
                if (r == -EBUSY)
                        front_door_mark_full(d, uid, share);
        }
        if (r == -EBUSY) {
                door_refusal_message(uid, share, message, sizeof(message));
                (void) door_send_result(client, JOB_REJECTED, message);
                d->stats.refused++;
                if (front_door_should_log(d, uid))
                        log_notice("Refusing connections: %s; not logged again for %ds.", message,
                                   DOOR_LOG_INTERVAL_SEC);
                front_door_linger(d, TAKE_FD(client));
                return;
        }
        if (r < 0) {
                (void) snprintf(message, sizeof(message), "cannot take a connection share in %s: %s",
                                d->params.conn_dir, strerror(-r));
                front_door_fail(d, client, r, message);
                return;
        }
        /* A spare helper waiting since before the request (spares.h), the oldest first: one
         * whose send fails went away meanwhile, and the next is tried. */
        for (int spare; (spare = spares_take(d->spares)) >= 0;) {
                _cleanup_close_ int owned = spare;

                if (handoff_send(spare, client, share_fd) >= 0) {
                        d->stats.admitted++;
                        d->stats.spared++;
                        return;
                }
        }
        r = unix_connect(d->params.helper_socket, &helper); /* a full backlog: -EAGAIN */
        if (r == -EAGAIN) {
                /* Every helper slot is queued: closed without a byte, which the clients redial
                 * (with backoff, within their --connect-timeout=) as a connection systemd dropped. */
                d->stats.dropped++;
                if (front_door_should_log_trouble(d))
                        log_warning(
                                "The helpers' socket %s is full; dropping connections (the clients dial again).",
                                d->params.helper_socket);
                return;
        }
        if (r < 0) {
                (void) snprintf(message, sizeof(message),
                                "cannot reach the helpers' socket %s: %s (is pyward-helper.socket running?)",
                                d->params.helper_socket, strerror(-r));
                front_door_fail(d, client, r, message);
                return;
        }
        r = handoff_send(helper, client, share_fd);
        if (r < 0) {
                (void) snprintf(message, sizeof(message), "cannot hand the connection to a helper: %s",
                                strerror(-r));
                front_door_fail(d, client, r, message);
                return;
        }
        /* The helper holds both now; the door's copies go, so that the share is the helper's alone. */
        d->stats.admitted++;
}

static int front_door_on_pause_end(sd_event_source *s, uint64_t usec, void *userdata) {
        FrontDoor *d = userdata;

        (void) s, (void) usec;
        d->pause_timer = sd_event_source_disable_unref(d->pause_timer);
        return sd_event_source_set_enabled(d->listen_io, SD_EVENT_ON);
}

static int front_door_on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        FrontDoor *d = userdata;
        int r;

        (void) s, (void) revents;
        for (unsigned i = 0; i < FRONT_DOOR_ACCEPT_BATCH; i++) {
                int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (c >= 0) {
                        front_door_admit(d, c);
                        continue;
                }
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return 0;
                if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
                        return log_error_errno(errno, "Failed to accept a connection: %m");
                /* Out of descriptors: pause rather than spin on a socket that stays readable. */
                if (front_door_should_log_trouble(d))
                        log_error_errno(errno, "Failed to accept a connection, pausing for %llu ms: %m",
                                        FRONT_DOOR_PAUSE_USEC / 1000ULL);
                r = sd_event_source_set_enabled(d->listen_io, SD_EVENT_OFF);
                if (r >= 0 && !d->pause_timer)
                        r = sd_event_add_time_relative(d->event, &d->pause_timer, CLOCK_MONOTONIC,
                                                       FRONT_DOOR_PAUSE_USEC, 0, front_door_on_pause_end, d);
                return r < 0 ? log_error_errno(r, "Failed to pause accepting: %m") : 0;
        }
        return 0;
}

int front_door_new(sd_event *e, int listen_fd, const FrontDoorParams *p, FrontDoor **ret) {
        FrontDoor *d;
        int r;

        /* systemd passes the listening socket as it made it, blocking: accept4() in the batch loop
         * would then wait for the next client instead of returning to the event loop. */
        if (fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the listening socket non-blocking: %m");
        d = calloc(1, sizeof(*d));
        if (!d)
                return log_oom();
        d->event = sd_event_ref(e);
        d->params = *p;
        if (d->params.full_usec == 0)
                d->params.full_usec = FRONT_DOOR_FULL_USEC;
        r = sd_event_add_io(e, &d->listen_io, listen_fd, EPOLLIN, front_door_on_listen, d);
        if (r < 0) {
                front_door_free(d);
                return log_error_errno(r, "Failed to watch the listening socket: %m");
        }
        *ret = d;
        return 0;
}

FrontDoor *front_door_free(FrontDoor *d) {
        if (!d)
                return NULL;
        while (d->lingers)
                linger_free(d->lingers);
        sd_event_source_disable_unref(d->listen_io);
        sd_event_source_disable_unref(d->pause_timer);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

void front_door_set_spares(FrontDoor *d, Spares *s) {
        d->spares = s;
}

const FrontDoorStats *front_door_stats(const FrontDoor *d) {
        return &d->stats;
}
