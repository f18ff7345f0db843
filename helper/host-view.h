/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a job sees of the host: its /etc (a prepared tree of the host's entries Python needs and
 * pyward's neutral files, its own passwd and group) and its own cgroup alone. */
#pragma once

#include <systemd/sd-bus.h>

#include "unit-props.h"

/* The trees jobs get as /etc, prepared by pyward-etc-view (units/etc-view/ in the source tree) when
 * pyward.socket starts: CURRENT/USER for each job user (with its own passwd and group), CURRENT/base
 * without them. Root's, nothing a job or a client could write. "current" is a symlink, switched at
 * once when the trees are prepared again. */
#define HOST_VIEW_DIR "/run/pyward/etc-view/current"
/* More entries than this in the tree is an error, not a longer list of mounts. */
#define HOST_VIEW_ETC_MAX 64U

/* Appends the view's properties: BindReadOnlyPaths= of the job user's tree at /etc, and the cgroup
 * view for s->manager_version (ProtectControlGroupsEx=strict from
 * 257 on, else ProtectControlGroups=yes and the job's own cgroup directory bound at /sys/fs/cgroup). */
int host_view_append(sd_bus_message *m, const JobSpec *s);

/* The top-level entries of root ("/") that are not the OS a job needs (/usr, /etc, ...): the
 * directories as "/NAME" (the job gets an empty read-only tmpfs there), anything else but a symlink
 * as "-/NAME" (inaccessible), both sorted. -E2BIG beyond HOST_HIDDEN_MAX entries. */
#define HOST_HIDDEN_MAX 256U
int host_hidden_entries(const char *root, char ***ret_dirs, char ***ret_other);

/* Whether path lies below a top-level entry jobs see (/usr, /etc, /tmp, ...). */
bool path_in_host_os(const char *path);

/* The tree an interpreter needs: the directory above its bin/ (a venv, an installation prefix),
 * else its own directory; a file at the top level is its own tree. */
void interpreter_tree(const char *interpreter, char *buf, size_t size);
