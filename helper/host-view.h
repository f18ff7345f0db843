/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a job sees of the host: its /etc (the host's entries measured from what Python and its
 * libraries open, pyward's neutral files, its own passwd and group) and its own cgroup alone. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>

#include "config-paths.h"
#include "unit-props.h"

/* The neutral files every job's /etc gets instead of the host's (etc-view/ in the source tree):
 * hostname, machine-id, hosts, nsswitch.conf. */
#define HOST_VIEW_SHARED_DIR PKGLIBDIR "/etc"
/* Where pyward-etc-view.service keeps each pool user's USER.passwd and USER.group (root's, written
 * once when pyward.socket starts): the jobs' /etc/passwd and /etc/group. */
#define HOST_VIEW_USER_DIR "/run/pyward/view"
/* More matching entries than this in /etc is an error, not a longer list. */
#define HOST_VIEW_ETC_MAX 64U

/* Whether the host's /etc/NAME belongs to what a job sees. */
bool host_view_etc_entry(const char *name);

/* The entries of etc (the host's "/etc") that a job sees, as "/etc/NAME", sorted. -E2BIG beyond
 * HOST_VIEW_ETC_MAX. */
int host_view_etc_entries(const char *etc, char ***ret);

/* Appends the view's properties: TemporaryFileSystem=/etc with its BindReadOnlyPaths=, and the
 * cgroup view for s->manager_version (ProtectControlGroupsEx=strict from 257 on, else
 * ProtectControlGroups=yes and the job's own cgroup directory bound at /sys/fs/cgroup). Lists the
 * host's /etc. */
int host_view_append(sd_bus_message *m, const JobSpec *s);
