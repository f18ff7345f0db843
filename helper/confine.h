/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's own Landlock domain: read-only where it reads, writable only its slot files and the
 * discovery cache. With it, pyward-helper@.service can do without its mount namespace (the costly part of
 * a helper's activation): pyward-helper-generator says so in a drop-in where the kernel allows. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The ABI the helper's domain must have to stand in for the unit's mount and network namespace:
 * writes and truncation of every file (ABI 3), device ioctls (5), and abstract Unix sockets and
 * signals kept inside the domain (6), which PrivateNetwork= and ProcSubset= gave before. */
#define CONFINE_ABI_MIN 6U

/* What the generator's drop-in puts in the helper's environment: the unit's namespaces are off,
 * so the helper must confine itself at CONFINE_ABI_MIN or serve nobody. */
#define CONFINE_ENV "PYWARD_HELPER_CONFINE"
#define CONFINE_ENV_LANDLOCK "landlock"

/* The drop-in's name under pyward-helper@.service.d/ in the generator's directory, and where systemd
 * puts that directory (its "normal" one) on a running system. */
#define CONFINE_DROPIN "50-pyward-landlock.conf"
#define CONFINE_GENERATOR_DIR "/run/systemd/generator/pyward-helper@.service.d"

/* Puts the helper in its Landlock domain, creating its writable directories first. required:
 * the unit has no mount namespace (CONFINE_ENV), so anything less than CONFINE_ABI_MIN is an
 * error; otherwise the domain is a second layer under the namespace, applied where the kernel
 * has any Landlock and skipped (logged) where it has none. Returns the ABI applied (0: none) or
 * -errno. Call before the lockdown (whose allowlist has no landlock_*()). */
int confine_self(bool required);

/* Whether the unit asked for confinement in place of its namespaces (CONFINE_ENV). */
bool confine_required(void);

/* The ABI confine_self() applied, 0 if none (for --check-config and the debug hook). */
unsigned confine_abi(void);

/* The request profile that, in builds with -Ddebug-hooks=true only, makes the locked-down helper
 * try what its confinement must deny (CONFINE_DEBUG_PROBES), and one write it must allow, and
 * answer with the outcome of each: the integration test of the confinement. */
#define CONFINE_DEBUG_PROFILE "__pyward_debug_confinement"
/* Tries each probe; writes "MECHANISM; PATH: OUTCOME; ..." into buf. */
void confine_debug_probe(char *buf, size_t size);
