/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Refilling a profile's pool of warm runners (warm.h), by a helper after its job's RESULT (or by
 * pyward-helper --fill-pool): the names of runners whose unit is gone are removed, runners of
 * another generation are stopped, and the missing ones are started, each a transient unit made by
 * unit-props.c exactly as a cold job of the profile, its stdin a listening socket in WARM_DIR. One
 * helper fills at a time (flock() on /run/pyward/slots/fill); another finds it busy and leaves it.
 * systemd runs every runner; nothing of pyward's own stays behind to watch them. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"

/* Each fill runs its own event loop on bus until its profile is filled, or for
 * WARM_FILL_TIMEOUT_USEC. */
#define WARM_FILL_TIMEOUT_USEC (10ULL * 1000000ULL)
/* Under the fill's lock (/run/pyward/slots/fill), the configuration below root is loaded (so that
 * a change since the job applies), then the pool of the profile called only is filled, or of every
 * profile (only NULL: pyward-helper --fill-pool, which also stops the runners of profiles that are
 * gone, and waits for a fill under way; a helper waits for it a second at most). Returns the
 * runners started (0 too when the lock stayed busy), or a negative errno. */
int warm_fill_all(sd_bus *bus, const char *root, const char *only);
