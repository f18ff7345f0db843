/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Warm runners (pyward-helper(8) WARM RUNNERS): per profile, WarmRunners= job units started ahead
 * of any request, each the sandbox of a cold job of that profile, its runner waiting on a listening
 * socket in WARM_DIR. A connection claims one (warm_claim()), hands it its job over the runner
 * channel, and the runner runs that one job and ends; a helper starts the replacements after its
 * job (warm-fill.h). The names in WARM_DIR are the pool:
 *   r-GEN-RID-PROFILE  ready: the unit pyward-warm-RID.service is active, its runner listens
 *   p-GEN-RID-PROFILE  being started by a helper (renamed to r- once the unit is active)
 *   c-RID              claimed: renamed by one helper (rename() lets one win), connected, unlinked
 * GEN (warm_generation()) is the hash of everything the unit was made from: a runner whose
 * generation is not the current one of its profile is never claimed, and the next fill stops it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job-spec.h"

#define WARM_DIR "/run/pyward/warm"
/* Test builds only: the milliseconds a helper pauses after its claim (run-warm.c). */
#define WARM_DEBUG_PAUSE_FILE "/run/pyward/debug-warm-claim-pause"
#define WARM_UNIT_FMT "pyward-warm-%s.service"
/* How long a runner waits for its job before the manager ends it (its RuntimeMaxSec= is this plus
 * the longest job the profile allows): the pool is renewed at least this often. */
#define WARM_WAIT_MAX_USEC (3600ULL * 1000000ULL)
#define WARM_GEN_LEN 16U
#define WARM_RID_LEN 32U
#define WARM_NAME_MAX 256U

/* The generation of profile p's runners on this host: a hash of the profile's effective settings
 * (config_show()), the host's view (JobHost), this helper's version and its runner's code. */
int warm_generation(const Config *c, const Profile *p, const JobHost *host,
                    char ret[static WARM_GEN_LEN + 1]);

/* A name of WARM_DIR taken apart; false if it is not one of the pool's. */
typedef struct WarmEntry {
        char kind; /* 'r', 'p' or 'c' */
        char gen[WARM_GEN_LEN + 1];
        char rid[WARM_RID_LEN + 1];
        const char *profile; /* into the name; "" for 'c' */
} WarmEntry;
bool warm_entry_parse(const char *name, WarmEntry *ret);
/* "r-GEN-RID-PROFILE" or "p-..." into buf; -ENAMETOOLONG if it does not fit. */
int warm_entry_name(char kind, const char *gen, const char *rid, const char *profile, char *buf, size_t size);

/* Whether a request of these admitted limits may run on a runner started with the profile's
 * defaults: what the unit fixes at its start (memory: LimitDATA=, LimitAS=, the tmpfs' inodes;
 * disk: the tmpfs' size) is the same; tasks and CPU quota at most the defaults (lowered through
 * the manager, and RLIMIT_NPROC by the runner); wall and CPU time the helper's timers and the
 * runner's CH_LIMITS. Sessions and discovery take the cold path. */
bool warm_request_fits(const Profile *p, const uint64_t *limits, bool session, bool discover);

/* The claim of a runner, held by its helper for the length of the job: flock() on
 * SLOT_DIR/claim.RID (policy.h). A fill that can take the lock of a claim finds its helper gone:
 * the job then has no helper to stop it (a warm runner has no BindsTo=), and the fill stops its
 * unit. warm_claim_lock() takes the lock before the claim (as claim.tmp-JOB) and
 * warm_claim_name() gives it the runner's name after it; warm_claim_release() removes it. */
int warm_claim_lock(const char *dir, const char *job_id, int *ret_fd);
int warm_claim_name(const char *dir, const char *job_id, const char *rid);
void warm_claim_release(const char *dir, const char *job_id, const char *rid);

/* The pool of profile in dir as names say: ready runners of generation gen, and those of others
 * (never claimed; the next fill stops them). Their units are not asked about. */
void warm_pool_count(const char *dir, const char *profile, const char *gen, unsigned *ret_ready,
                     unsigned *ret_other);

/* Claims a ready runner of (profile, gen) in dir: the connected channel in *ret_fd (non-blocking,
 * close-on-exec) and its RID. -ENOENT: none is ready (the cold path). A runner whose socket refuses
 * (its unit is gone) is removed and the next one tried. */
int warm_claim(const char *dir, const char *profile, const char *gen, int *ret_fd,
               char ret_rid[static WARM_RID_LEN + 1]);
