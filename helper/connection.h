/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One client connection, from the first byte to the RESULT frame: the request under its bounds and
 * deadline, admission, the run of the job and its output. Everything runs on one sd-event. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Connection Connection;

/* Takes over fd; takes a reference on bus, the system bus attached to e (NULL: the helper could not
 * connect; a request then gets an error). Loads the configuration. Exits the event loop when the
 * connection is finished (result sent or the client gone and the job stopped). */
int connection_new(sd_event *e, int fd, const char *config_root, sd_bus *bus, Connection **ret);
Connection *connection_free(Connection *c);
/* After the job: the name of its profile if that keeps warm runners (WarmRunners=), malloc'd, for
 * the refill (warm-fill.h); NULL if no job ran or the profile keeps none. */
char *connection_warm_profile(const Connection *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Connection *, connection_free);
