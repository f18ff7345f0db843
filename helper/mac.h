/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mandatory access control layers under a job: Landlock (applied by pyward-landlock, the job's
 * first program) and AppArmor (the pyward-job profile, where it is loaded); what the journal says. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>

#include "unit-props.h"

#define MAC_LANDLOCK_WRAPPER PKGLIBDIR "/pyward-landlock"
#define MAC_APPARMOR_PROFILES "/sys/kernel/security/apparmor/profiles"
#define MAC_APPARMOR_JOB "pyward-job"
#define MAC_APPARMOR_JOB_LOOPBACK "pyward-job-loopback"

/* Test builds only: profiles that turn one layer off to show the other acting alone. */
#define MAC_DEBUG_PROFILE_LANDLOCK_ONLY "__pyward_debug_mac_landlock_only"
#define MAC_DEBUG_PROFILE_SYSTEMD_ONLY "__pyward_debug_mac_systemd_only"
#define MAC_DEBUG_PROFILE_NEITHER "__pyward_debug_mac_neither"
#define MAC_DEBUG_RW_PATH "/usr/lib/pyward-mac-test"
#define MAC_DEBUG_HIDDEN_PATH "/srv/pyward-mac-test"

/* The kernel's Landlock ABI, asked once before the lockdown (whose allowlist has no landlock_*):
 * capped at what pyward-landlock knows, 0 without Landlock. */
void mac_probe_landlock(void);
unsigned mac_landlock_abi(void);

/* Whether the pyward-job profiles are loaded, read once per helper from securityfs (after the
 * lockdown too: an open and reads); when they are not, says so in the journal once. */
bool mac_apparmor_loaded(void);

/* Whether this job's ExecStart goes through pyward-landlock. */
bool mac_job_landlock(const JobSpec *s);
/* The job's layers as the journal's PYWARD_MAC= says: "landlock-abi6,apparmor", or "none". */
const char *mac_job_layers(const JobSpec *s, char *buf, size_t size);
/* The same for the job of this helper, once its unit was built (journal.c); "" before. */
const char *mac_layers_started(void);

/* ExecStartEx's path and the wrapper's arguments before the interpreter's argv (none without
 * Landlock): --abi, the OS read-only, the writable tmpfs, the devices. */
const char *mac_exec_path(const JobSpec *s);
int mac_exec_args_append(sd_bus_message *m, const JobSpec *s);

/* AppArmorProfile=, the system calls pyward-landlock makes, and in test builds the debug profiles'
 * systemd settings turned off. */
int mac_props_append(sd_bus_message *m, const JobSpec *s);
