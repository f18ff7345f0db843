/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who may run what with which limits: one pure function of the peer's credentials, the
 * configuration, the request and the outcome of taking a job slot, unit-tested in test-admission.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "policy.h"
#include "protocol.h"

/* The matching rules, used by admission_decide(). */
/* May the peer (uid, its groups) connect at all? And use this profile? Returns true/false. */
bool config_peer_allowed(const Config *c, uid_t uid, const gid_t *gids, size_t n_gids);
bool profile_peer_allowed(const Profile *p, uid_t uid, const gid_t *gids, size_t n_gids);
/* May the peer use profile p at all: it may connect, and p is enabled and allows it (what a
 * request naming p would pass before its code, limits and slot are looked at). The answer to
 * DISCOVER lists exactly the profiles for which this is true. */
bool admission_profile_usable(const Config *c, const Peer *peer, const Profile *p);

/* Merges the request's limits into the profile's: unset -> default; above max -> -EPERM with an
 * error naming the key, the asked value and the maximum. ret_limits gets the effective values. */
int profile_resolve_limits(const Profile *p, const Request *req, uint64_t ret_limits[static _LIMIT_MAX],
                           char *error_buf, size_t error_buf_size);

/* slot_acquire() not called yet. */
#define ADMISSION_SLOT_UNTRIED 1

/* The decision is taken in up to three calls, each with what is known by then, because the job
 * slot is a flock() (policy.c) that must not be taken for a request that is refused anyway:
 *   at connect, request NULL:          the peer may use pyward at all (the request is not read
 *                                      from a peer that may not);
 *   request complete, slot UNTRIED:    profile, code size, limits -> ADMISSION_NEED_SLOT;
 *   slot = slot_acquire()'s return:    the same checks again, then the slot -> ADMITTED.
 * With a request: profile, code size, limits, then the input files against the effective
 * files-in and files-in-bytes. A DISCOVER request names no profile and has no code: only the slot
 * rule applies to it (Admission.profile stays NULL); which profiles its answer lists is
 * admission_profile_usable()'s. A SESSION request is admitted as a job without code (one slot
 * for the whole session); its limits 15..19 are resolved as every other key.
 * The connect check is not repeated with a request: it is made once, before the request is read. */
typedef struct AdmissionInput {
        const Config *config;
        const Peer *peer;
        const Request *request; /* NULL: at connect time */
        int slot;               /* ADMISSION_SLOT_UNTRIED, or 0 / -EBUSY (all JobsPerUser= taken) / -errno */
} AdmissionInput;

typedef enum AdmissionVerdict {
        ADMISSION_ADMITTED,  /* at connect: the request may be read; with a slot: the job may run */
        ADMISSION_NEED_SLOT, /* everything but the slot passed: take one, ask again with its outcome */
        ADMISSION_REFUSED,   /* status and message say why */
} AdmissionVerdict;

#define ADMISSION_MESSAGE_MAX 512U

typedef struct Admission {
        AdmissionVerdict verdict;
        JobStatus status; /* REFUSED: JOB_REJECTED, or JOB_ERROR if no slot could be taken */
        char message[ADMISSION_MESSAGE_MAX];
        const Profile *profile;      /* with a request, once found */
        uint64_t limits[_LIMIT_MAX]; /* with a request, once resolved */
} Admission;

void admission_decide(const AdmissionInput *in, Admission *ret);
