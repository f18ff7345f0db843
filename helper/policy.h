/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who is on the other end of the socket (SO_PEERCRED, SO_PEERGROUPS, from the kernel, not from the
 * client), how many jobs each UID may run at once (flock()ed slot files), and which user of the pool
 * a job runs as (flock()ed too). */
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

/* Starts in flight, host-wide: a helper holds one of START_TOKENS files DIR/start.<k> with flock()
 * from its StartTransientUnit() call to the manager's reply. dbus-daemon queues at most
 * max_outgoing_unix_fds (64 on the system bus) of the fds that calls bring for one receiver, and
 * turns away every call for the manager beyond them, its own replies to the manager's calls too
 * (the manager then waits 25 s for an answer that never comes); each start brings 3 fds, so 16
 * starts in flight stay below that with room for everybody else's. -EBUSY: all are taken. */
#define START_TOKENS 16U
int start_token_acquire(const char *dir, unsigned n, int *ret_fd);

/* The users jobs run as: JOB_USERS static users JOB_USER_PREFIX<k> (units/pyward.sysusers.in). A
 * helper holds user k for the length of its job with flock() on DIR/user.<k>; the file names the
 * job's unit, so that the next taker can tell whether that unit (and so anything running as the
 * user) may still exist after a helper died. */
#define JOB_USER_PREFIX "pyward-job"
#define JOB_USER_FILE_MAX 128U

/* Tries to take user k: returns its fd (0) and in prev the unit its last holder recorded ("" if
 * none). -EBUSY: another helper holds it. */
int job_user_try(const char *dir, unsigned k, char prev[static JOB_USER_FILE_MAX], int *ret_fd);

/* Records the unit that is about to run as the user held by fd. */
int job_user_record(int fd, const char *unit);
