/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who is on the other end of the socket (SO_PEERCRED, SO_PEERGROUPS, from the kernel, not from the
 * client), and how many jobs each UID may run at once (flock()ed slot files). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

#define PEER_GROUPS_MAX 65536U
#define SLOT_DIR "/run/pyward/slots"
#define SLOTS_MAX 1024U

typedef struct Peer {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        gid_t *gids; /* the primary group first, then the supplementary ones */
        size_t n_gids;
} Peer;

void peer_done(Peer *p);
int peer_from_socket(int fd, Peer *ret);

/* Takes one of n slot files DIR/<uid>.<k> with flock(LOCK_EX|LOCK_NB) and returns its fd: the slot is
 * held while the fd is open, and released by the kernel even if the helper dies.
 * -EBUSY: all n are taken. */
int slot_acquire(const char *dir, uid_t uid, uint64_t n, int *ret_fd);
