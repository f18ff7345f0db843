/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cache of discovery reports: DIR/<profile>.info (DIR is /run/pyward/discovery, root-only),
 * valid while the fingerprint of the profile's interpreter it was written with still holds. */
#pragma once

#include <stdint.h>

#include "buffer.h"
#include "config.h"
#include "discover.h"

#define DISCOVER_CACHE_DIR "/run/pyward/discovery"
/* A cache file: the fingerprint (interpreter args and read-only paths are the admin's, at most
 * CONFIG_LIST_MAX each; DISCOVER_SITEDIRS_MAX sitedirs) and a report of at most DISCOVER_INFO_MAX. */
#define DISCOVER_CACHE_FILE_MAX (2U * 1024U * 1024U)

/* The fingerprint of profile p's interpreter as it is now, as text lines: the interpreter's path;
 * stat() of the file it resolves to (device, inode, size, mtime); its arguments; the read-only
 * paths; the mtime of each of sitedirs (stat() of the host path; "skipped" for one under /tmp,
 * /var/tmp or /dev/shm, or not normalized: those are the job's own, not the host's). When
 * changed_since_usec is not 0 (CLOCK_REALTIME_COARSE) and the interpreter or a sitedir changed at
 * or after it, -ESTALE: a report from a run that started before the change must not be kept. */
int discover_fingerprint(const Profile *p, char *const *sitedirs, size_t n_sitedirs,
                         uint64_t changed_since_usec, Buffer *b);

/* Looks profile p up in dir: 1 with the report in *ret if its file exists, is well-formed and its
 * fingerprint holds now; 0 (a miss) if not, with why in *ret_why ("no cache file", "stale",
 * "refused: ..."); -ENOMEM. The file's bytes are re-parsed by discover_info_parse(): they came
 * from a sandbox. */
int discover_cache_load(const char *dir, const Profile *p, DiscoverInfo *ret, const char **ret_why);

/* Writes p's report to dir atomically (a temporary file renamed over the old one), creating dir
 * (0700) if missing; dir must be the caller's alone (owned by it, no access for others), or
 * -EPERM. changed_since_usec: as discover_fingerprint() (-ESTALE: nothing written). */
int discover_cache_store(const char *dir, const Profile *p, const DiscoverInfo *info,
                         uint64_t changed_since_usec);
