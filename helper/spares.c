/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The door's list of waiting spare helpers (spares.h): accepted from SPARE_SOCKET, root's only,
 * watched until they are taken or go away. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "door.h"
#include "log.h"
#include "macro.h"
#include "spares.h"

typedef struct Spare Spare;
struct Spare {
        Spares *owner;
        int fd;
        sd_event_source *io;
        Spare *prev, *next;
};

struct Spares {
        sd_event_source *listen_io;
        sd_event_source *pause_timer; /* enabled: accepting is paused after an error */
        Spare *head, *tail;           /* oldest first */
        unsigned n;
};

static bool spares_paused(const Spares *s) {
        int enabled = SD_EVENT_OFF;

        (void) sd_event_source_get_enabled(s->pause_timer, &enabled);
        return enabled != SD_EVENT_OFF;
}

static void spare_unlink(Spare *sp) {
        Spares *s = sp->owner;

        if (sp->prev)
                sp->prev->next = sp->next;
        else
                s->head = sp->next;
        if (sp->next)
                sp->next->prev = sp->prev;
        else
                s->tail = sp->prev;
        s->n--;
        /* Room again: the spares waiting in the backlog are accepted (after a pause, at its end). */
        if (s->n == SPARES_MAX - 1 && !spares_paused(s))
                (void) sd_event_source_set_enabled(s->listen_io, SD_EVENT_ON);
}

/* Frees sp; returns its connection if keep, else closes it. */
static int spare_free(Spare *sp, bool keep) {
        int fd = sp->fd;

        spare_unlink(sp);
        sd_event_source_disable_unref(sp->io);
        free(sp);
        if (keep)
                return fd;
        safe_close(fd);
        return -EBADF;
}

/* A spare sends nothing: whatever it does (a byte, a hang-up, its exit) ends its turn. */
static int spare_on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        (void) src, (void) fd, (void) revents;
        (void) spare_free(userdata, false);
        return 0;
}

static void spares_add(Spares *s, sd_event *e, int fd) {
        _cleanup_close_ int owned = fd;
        Spare *sp;
        uid_t uid;

        /* The socket is root's alone (0600); the peer is checked all the same, as the client's is. */
        if (door_peer_uid(fd, &uid) < 0 || uid != 0)
                return;
        sp = calloc(1, sizeof(*sp));
        if (!sp)
                return;
        if (sd_event_add_io(e, &sp->io, fd, EPOLLIN | EPOLLRDHUP, spare_on_io, sp) < 0) {
                free(sp);
                return;
        }
        sp->fd = TAKE_FD(owned);
        sp->owner = s;
        sp->prev = s->tail;
        if (s->tail)
                s->tail->next = sp;
        else
                s->head = sp;
        s->tail = sp;
        if (++s->n >= SPARES_MAX)
                (void) sd_event_source_set_enabled(s->listen_io, SD_EVENT_OFF);
}

static int spares_on_pause_end(sd_event_source *src, uint64_t usec, void *userdata) {
        Spares *s = userdata;

        (void) src, (void) usec; /* a ONESHOT source is off again when this runs */
        return s->n < SPARES_MAX ? sd_event_source_set_enabled(s->listen_io, SD_EVENT_ON) : 0;
}

/* The timer exists from spares_new() on, disabled: a pause needs no new descriptor. */
static int spares_pause(Spares *s, int error) {
        int r;

        log_warning_errno(error, "Failed to accept a spare helper, pausing for %llu ms: %m",
                          (unsigned long long) (SPARES_PAUSE_USEC / 1000));
        r = sd_event_source_set_enabled(s->listen_io, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_source_set_time_relative(s->pause_timer, SPARES_PAUSE_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->pause_timer, SD_EVENT_ONESHOT);
        return r < 0 ? log_error_errno(r, "Failed to pause accepting spares: %m") : 0;
}

static int spares_on_listen(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Spares *s = userdata;

        (void) revents;
        while (s->n < SPARES_MAX) {
                int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (c >= 0) {
                        spares_add(s, sd_event_source_get_event(src), c);
                        continue;
                }
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return 0;
                /* Out of descriptors, say: the spares wait in the backlog for a while, as the
                 * clients do at the same error, rather than the loop spin on a socket that stays
                 * readable. */
                return spares_pause(s, errno);
        }
        return 0;
}

int spares_new(sd_event *e, int listen_fd, Spares **ret) {
        Spares *s;
        int r;

        if (fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the spares' socket non-blocking: %m");
        s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        r = sd_event_add_io(e, &s->listen_io, listen_fd, EPOLLIN, spares_on_listen, s);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &s->pause_timer, CLOCK_MONOTONIC, SPARES_PAUSE_USEC, 0,
                                               spares_on_pause_end, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->pause_timer, SD_EVENT_OFF);
        if (r < 0) {
                sd_event_source_disable_unref(s->listen_io);
                sd_event_source_disable_unref(s->pause_timer);
                free(s);
                return log_error_errno(r, "Failed to watch the spares' socket: %m");
        }
        *ret = s;
        return 0;
}

Spares *spares_free(Spares *s) {
        if (!s)
                return NULL;
        while (s->head)
                (void) spare_free(s->head, false);
        sd_event_source_disable_unref(s->listen_io);
        sd_event_source_disable_unref(s->pause_timer);
        free(s);
        return NULL;
}

int spares_take(Spares *s) {
        if (!s || !s->head)
                return -EAGAIN;
        return spare_free(s->head, true);
}

unsigned spares_waiting(const Spares *s) {
        return s ? s->n : 0;
}
