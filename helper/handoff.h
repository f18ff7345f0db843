/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The front door's hand-off (pyward-door(8)): an admitted client's connection and the UID's
 * connection share, passed by SCM_RIGHTS over a connection to pyward-helper.socket. */
#pragma once

#include <stdbool.h>

/* pyward-helper.socket (Accept=yes, 0600 root): only the front door connects to it. */
#define HELPER_SOCKET "/run/pyward/helper.sock"
/* The one data byte beside the two descriptors: a hand-off, version 1. */
#define HANDOFF_MAGIC 'P'
/* The door sends the hand-off before the helper is started, so it is there when the helper looks;
 * this is only the bound for a door that died between connect() and sendmsg(). */
#define HANDOFF_TIMEOUT_MSEC 2000

/* Whether fd is a connection accepted on the listening socket bound at path (getsockname()): a
 * helper started by pyward-helper.socket gets the door's connection, one started by an older
 * Accept=yes pyward.socket (an upgrade, until the socket restarts) the client's own. */
bool handoff_socket_is(int fd, const char *path);

/* The door's side: the client's connection and its share fd, in one message; nothing blocks (sock
 * is a fresh connection, its buffer empty). 0 or negative errno. */
int handoff_send(int sock, int client_fd, int share_fd);

/* The helper's side: waits up to timeout_msec for the hand-off, then takes exactly two descriptors,
 * a stream socket and a regular file, or fails (-EBADMSG) and closes whatever came. */
int handoff_receive(int sock, int timeout_msec, int *ret_client_fd, int *ret_share_fd);
