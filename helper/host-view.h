/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a job sees of the host: its /etc (a prepared tree of the host's entries Python needs and
 * pyward's neutral files, its own passwd and group) and its own cgroup alone. */
#pragma once

#include <systemd/sd-bus.h>

#include "unit-props.h"

/* The tree every job gets as /etc and the job users' passwd and group, prepared by
 * pyward-etc-view (etc-view/ in the source tree) when pyward.socket starts: root's, nothing a job or a
 * client could write. "current" is a symlink, switched at once when the tree is prepared again. */
#define HOST_VIEW_TREE "/run/pyward/etc-view/current"
#define HOST_VIEW_USER_DIR "/run/pyward/etc-view/users"
/* More entries than this in the tree is an error, not a longer list of mounts. */
#define HOST_VIEW_ETC_MAX 64U

/* Appends the view's properties: BindReadOnlyPaths= of the tree at /etc and of the job user's
 * passwd and group, and the cgroup view for s->manager_version (ProtectControlGroupsEx=strict from
 * 257 on, else ProtectControlGroups=yes and the job's own cgroup directory bound at /sys/fs/cgroup). */
int host_view_append(sd_bus_message *m, const JobSpec *s);
