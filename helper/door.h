/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The door: the first thing a helper does for its connection, before the system bus or a byte of the
 * request. The peer's UID takes one of its ConnectionsPerUser= shares, or is refused at once. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

/* Below the job slots' directory, which every installed version's helper may write
 * (ReadWritePaths=), so that a helper can create it after an upgrade from a version without it. */
#define CONN_DIR "/run/pyward/slots/conns"
/* A refused client that already sent its request is drained this long (and this much) after the
 * RESULT, so that it reads the RESULT instead of ECONNRESET; one that sent nothing is closed at
 * once, so that an idle flood costs no helper time beyond the refusal. */
#define DOOR_LINGER_MSEC 100
#define DOOR_LINGER_BYTES_MAX (2U * 1024U * 1024U)
/* Refusals of one UID are logged at most once per this many seconds: each refused connection is
 * its own helper process, so the rate limit lives in a file (DIR/<uid>.log, its mtime). */
#define DOOR_LOG_INTERVAL_SEC 10

/* How many connections a UID may hold: ConnectionsPerUser= of the configuration below config_root;
 * if that does not load, the built-in default (the connection then rejects the request, naming the
 * configuration's errors). */
uint64_t door_share(const char *config_root);
/* The same; where the configuration does not load, *ret_errors (if not NULL) says why (malloc'd). */
uint64_t door_share_load(const char *config_root, char **ret_errors);

/* Reads the peer's UID of fd (SO_PEERCRED) and takes one of its share files DIR/<uid>.<k>, k < share
 * (flock()ed; held while *ret_fd is open, released by the kernel when the helper exits).
 * 1: the peer came in, *ret_fd is the share. 0: refused, a "rejected" RESULT was written to fd,
 * which the caller closes by exiting. Negative errno: the door could not decide (no credentials,
 * DIR not writable); an "error" RESULT was written if possible. fd is left open in all cases. */
int door_enter(int fd, const char *dir, uint64_t share, int *ret_fd);

/* The pieces of door_enter(), for the front door (front-door.h), which refuses without blocking. */
/* The UID of fd's peer, from the kernel (SO_PEERCRED). */
int door_peer_uid(int fd, uid_t *ret_uid);
/* Takes one of uid's shares DIR/<uid>.<k>, k < share, creating DIR if it is missing: 0, -EBUSY when
 * all are held, another negative errno when DIR is not usable. */
int door_take_share(const char *dir, uid_t uid, uint64_t share, int *ret_fd);
/* What a refused client reads in its "rejected" RESULT. */
void door_refusal_message(uid_t uid, uint64_t share, char *buf, size_t size);
/* One RESULT frame (status, message) written to a fresh connection without blocking. */
int door_send_result(int fd, JobStatus status, const char *message);
