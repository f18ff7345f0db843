/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A job's /etc: which of the host's entries it sees (the set measured from what Python and its
 * libraries open), the neutral files pyward ships, and where the job users' passwd and group are. */
#pragma once

#include <stdbool.h>

#include "config-paths.h"

/* The neutral files every job's /etc gets instead of the host's (etc-view/ in the source tree):
 * hostname, machine-id, hosts, nsswitch.conf. */
#define ETC_VIEW_SHARED_DIR PKGLIBDIR "/etc"
/* Where pyward-etc-view.service keeps each pool user's USER.passwd and USER.group (root's, written
 * once when pyward.socket starts): the jobs' /etc/passwd and /etc/group. */
#define ETC_VIEW_USER_DIR "/run/pyward/view"
/* More matching entries than this in /etc is an error, not a longer list. */
#define ETC_VIEW_ENTRIES_MAX 64U

/* Whether the host's /etc/NAME belongs to what a job sees. */
bool etc_view_host_entry(const char *name);

/* The entries of etc (the host's "/etc") that a job sees, as "/etc/NAME", sorted. -E2BIG beyond
 * ETC_VIEW_ENTRIES_MAX. */
int etc_view_host_entries(const char *etc, char ***ret);
