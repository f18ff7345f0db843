/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The front door (pyward-door(8)): the one long-lived process behind pyward.socket (Accept=no). It
 * accepts every connection at once, reads the peer's UID from the kernel, takes one of the UID's
 * ConnectionsPerUser= shares or refuses the connection within microseconds, and hands an admitted
 * connection and its share to a helper of its own (pyward-helper.socket, Accept=yes). It never
 * reads a byte of a request: a refused client's bytes are discarded unread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "spares.h"

/* Connections taken from the backlog per wake-up, so that the lingering refusals' events and
 * SIGTERM are served during a flood too. */
#define FRONT_DOOR_ACCEPT_BATCH 64
/* A UID found with all its shares held is refused without looking again for this long: a flood of
 * one UID costs an accept, a RESULT and a close per connection, not a configuration read and a look
 * at every share file. Only that UID's own next connections wait for a share given back meanwhile. */
#define FRONT_DOOR_FULL_USEC (10ULL * 1000ULL)
/* How many such UIDs are remembered (beyond them, the oldest is looked at afresh). */
#define FRONT_DOOR_FULL_UIDS 32U
/* Refused clients that already sent bytes are drained (DOOR_LINGER_MSEC, DOOR_LINGER_BYTES_MAX)
 * so that they read their RESULT; at most this many at once, beyond which they are closed at once. */
#define FRONT_DOOR_LINGER_MAX 256U
/* Refusals are logged once per UID per DOOR_LOG_INTERVAL_SEC, remembered for this many UIDs. */
#define FRONT_DOOR_LOG_UIDS 32U
/* After EMFILE/ENFILE, accepting pauses this long instead of spinning on a readable socket. */
#define FRONT_DOOR_PAUSE_USEC (100ULL * 1000ULL)

typedef struct FrontDoorParams {
        const char *config_root;   /* where pyward.conf is read (NULL: /etc/pyward) */
        const char *conn_dir;      /* the share files (CONN_DIR) */
        const char *helper_socket; /* HELPER_SOCKET */
        uint64_t full_usec;        /* 0: FRONT_DOOR_FULL_USEC (the tests choose their own) */
        bool debug_forbidden;      /* -Ddebug-hooks=true builds: a forbidden call at the first connection */
} FrontDoorParams;

/* What the door did, for its status line and the tests. */
typedef struct FrontDoorStats {
        uint64_t admitted; /* handed to a helper */
        uint64_t spared;   /* of those, handed to a waiting spare helper (spares.h) */
        uint64_t refused;  /* over the UID's share: a "rejected" RESULT */
        uint64_t dropped;  /* the helpers' socket was full: closed without a byte, the client redials */
        uint64_t failed;   /* no credentials, no share directory, no helpers' socket: an "error" RESULT */
} FrontDoorStats;

typedef struct FrontDoor FrontDoor;

/* Serves listen_fd (listening; made non-blocking here) on e until e exits. The strings in p must outlive it. */
int front_door_new(sd_event *e, int listen_fd, const FrontDoorParams *p, FrontDoor **ret);
FrontDoor *front_door_free(FrontDoor *d);
static inline void front_door_freep(FrontDoor **d) {
        *d = front_door_free(*d);
}
const FrontDoorStats *front_door_stats(const FrontDoor *d);
/* Hands admitted connections to the spares waiting in s first (spares.h; s outlives d), and to
 * pyward-helper.socket when none waits. */
void front_door_set_spares(FrontDoor *d, Spares *s);
/* Decides one accepted connection (takes client_fd): what the event handler does for each. */
void front_door_admit(FrontDoor *d, int client_fd);
