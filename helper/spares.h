/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Spare helpers (pyward-door(8), "SPARE HELPERS"): pyward-helper-spare@.service instances, started
 * by systemd before any request, that connect to the door's second socket (pyward-spare.socket)
 * and wait there. The door keeps their connections, oldest first, and hands an admitted client to
 * one of them instead of activating a helper for it; the spare serves that one connection and
 * exits, and systemd starts it afresh (Restart=always). A spare only ever receives: any byte or
 * hang-up from one takes it off the list. */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

/* The door's second listening socket (pyward-spare.socket, 0600 root). */
#define SPARE_SOCKET "/run/pyward/spare.sock"
/* Waiting spares the door keeps at most; beyond them it stops accepting on SPARE_SOCKET, so that
 * the others wait in its backlog instead of being closed and started again in a loop. */
#define SPARES_MAX 256U
/* A failed accept() of a spare (out of descriptors, say) pauses accepting spares this long. */
#define SPARES_PAUSE_USEC (100ULL * 1000ULL)
/* How long a spare waits for a connection before it exits (and is started afresh): it leaves a job
 * on a spare at least the helper's RuntimeMaxSec= less this (pyward-helper-spare@.service). */
#define SPARE_IDLE_MSEC (10 * 60 * 1000)
/* A spare that cannot reach SPARE_SOCKET (pyward-spare.socket stopped) exits with this status,
 * which its unit's RestartPreventExitStatus= names: it is not restarted in a loop. */
#define SPARE_EXIT_NO_DOOR 78

typedef struct Spares Spares;

/* Accepts spares on listen_fd (listening; made non-blocking here) on e. */
int spares_new(sd_event *e, int listen_fd, Spares **ret);
Spares *spares_free(Spares *s);
static inline void spares_freep(Spares **s) {
        *s = spares_free(*s);
}
/* The oldest waiting spare's connection, taken off the list (the caller owns it), or -EAGAIN when
 * none waits. NULL s: none. */
int spares_take(Spares *s);
/* Spares waiting now. */
unsigned spares_waiting(const Spares *s);
