/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One non-blocking connect() to an AF_UNIX stream socket by path, as the CLI, the warm-runner claim
 * and the front door's hand-off all do. */
#pragma once

/* 0 and the connected socket (CLOEXEC, O_NONBLOCK) in *ret_fd, or a negative errno: -ENAMETOOLONG
 * for a path that does not fit sun_path, -EAGAIN when the listen backlog is full (a local stream
 * socket connects at once or fails; EINPROGRESS does not happen for AF_UNIX). */
int unix_connect(const char *path, int *ret_fd);
