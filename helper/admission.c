/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The admission decision: the configuration's access rules (who may connect, who may use which
 * profile), the code's size, the limits asked against the profile's maxima, the per-UID job slots. */

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "admission.h"
#include "values.h"

/* ---- the matching rules -------------------------------------------------------------------- */

static bool user_matches(const char *entry, uid_t uid) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        uint64_t v;

        if (parse_uint(entry, &v) >= 0)
                return v == (uint64_t) uid;
        if (getpwnam_r(entry, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return false;
        return res->pw_uid == uid;
}

static bool group_matches(const char *entry, const gid_t *gids, size_t n_gids) {
        struct group gr, *res = NULL;
        char buf[16384];
        uint64_t v;
        gid_t gid;

        if (parse_uint(entry, &v) >= 0)
                gid = (gid_t) v;
        else if (getgrnam_r(entry, &gr, buf, sizeof(buf), &res) != 0 || !res)
                return false;
        else
                gid = res->gr_gid;
        for (size_t i = 0; i < n_gids; i++)
                if (gids[i] == gid)
                        return true;
        return false;
}

static bool lists_match(char **users, char **groups, uid_t uid, const gid_t *gids, size_t n_gids) {
        for (char **u = users; u && *u; u++)
                if (user_matches(*u, uid))
                        return true;
        for (char **g = groups; g && *g; g++)
                if (group_matches(*g, gids, n_gids))
                        return true;
        return false;
}

bool config_peer_allowed(const Config *c, uid_t uid, const gid_t *gids, size_t n_gids) {
        if (!c)
                return false;
        return lists_match(c->allow_users, c->allow_groups, uid, gids, n_gids);
}

bool admission_profile_usable(const Config *c, const Peer *peer, const Profile *p) {
        return peer && config_peer_allowed(c, peer->uid, peer->gids, peer->n_gids) &&
               profile_peer_allowed(p, peer->uid, peer->gids, peer->n_gids);
}

bool profile_peer_allowed(const Profile *p, uid_t uid, const gid_t *gids, size_t n_gids) {
        if (!p || !p->enabled)
                return false;
        if (strv_length(p->allow_users) == 0 && strv_length(p->allow_groups) == 0)
                return true;
        return lists_match(p->allow_users, p->allow_groups, uid, gids, n_gids);
}

int profile_resolve_limits(const Profile *p, const Request *req, uint64_t ret_limits[static _LIMIT_MAX],
                           char *error_buf, size_t error_buf_size) {
        uint64_t limits[_LIMIT_MAX] = {};

        if (!p || !req)
                return -EINVAL;
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                char asked[FORMAT_VALUE_MAX], max[FORMAT_VALUE_MAX];
                const char *key = limit_key_to_string(k) ?: "?";

                if (!req->limit_set[k]) {
                        limits[k] = p->limit_default[k];
                        continue;
                }
                config_format_limit(k, req->limits[k], asked, sizeof(asked));
                if (req->limits[k] == 0 && !limit_key_allows_zero(k)) {
                        if (error_buf && error_buf_size > 0)
                                snprintf(error_buf, error_buf_size, "%s=0 is not a valid limit", key);
                        return -EINVAL;
                }
                if (req->limits[k] > p->limit_max[k]) {
                        config_format_limit(k, p->limit_max[k], max, sizeof(max));
                        if (error_buf && error_buf_size > 0)
                                snprintf(error_buf, error_buf_size,
                                         "%s=%s exceeds the maximum %s of profile %s", key, asked, max,
                                         p->name);
                        return -EPERM;
                }
                limits[k] = req->limits[k];
        }
        memcpy(ret_limits, limits, sizeof(limits));
        return 0;
}

/* ---- the decision -------------------------------------------------------------------------- */

static void refuse(Admission *a, JobStatus status, const char *fmt, ...) _printf_(3, 4);
static void refuse(Admission *a, JobStatus status, const char *fmt, ...) {
        va_list ap;

        a->verdict = ADMISSION_REFUSED;
        a->status = status;
        va_start(ap, fmt);
        (void) vsnprintf(a->message, sizeof(a->message), fmt, ap);
        va_end(ap);
}

/* The input files against the effective limits (the profile's defaults, or what the request
 * asked within the maxima): false with the message in a. */
static bool files_within_limits(Admission *a, const Request *req, const char *name) {
        static const LimitKey keys[] = { LIMIT_FILES_IN, LIMIT_FILES_IN_BYTES };

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                LimitKey k = keys[i];
                uint64_t v = k == LIMIT_FILES_IN ? (uint64_t) req->n_files : req->files_bytes;
                char value[FORMAT_VALUE_MAX], max[FORMAT_VALUE_MAX];

                if (v <= a->limits[k])
                        continue;
                config_format_limit(k, v, value, sizeof(value));
                config_format_limit(k, a->limits[k], max, sizeof(max));
                if (req->limit_set[k])
                        refuse(a, JOB_REJECTED, "%s=%s exceeds the limit %s the request asked",
                               limit_key_to_string(k), value, max);
                else
                        refuse(a, JOB_REJECTED, "%s=%s exceeds the maximum %s of profile %s",
                               limit_key_to_string(k), value, max, name);
                return false;
        }
        return true;
}

/* A DISCOVER request runs no code under a profile of its own: which profiles it lists is
 * admission_profile_usable()'s, for each; here only the slot rule applies. */
static void decide_slot(const AdmissionInput *in, Admission *a) {
        if (in->slot == ADMISSION_SLOT_UNTRIED)
                a->verdict = ADMISSION_NEED_SLOT;
        else if (in->slot == -EBUSY)
                refuse(a, JOB_REJECTED, "UID %u already runs %" PRIu64 " jobs, the maximum (JobsPerUser=)",
                       (unsigned) in->peer->uid, in->config->jobs_per_uid);
        else if (in->slot < 0)
                refuse(a, JOB_ERROR, "cannot take a job slot in " SLOT_DIR ": %s", strerror(-in->slot));
}

/* The order of the checks is the order of the messages a client sees; test-admission.c holds it. */
void admission_decide(const AdmissionInput *in, Admission *ret) {
        const Peer *peer = in->peer;
        const Request *req = in->request;
        const char *name;
        char error[256] = "";
        Admission a = { .verdict = ADMISSION_ADMITTED };

        if (!req) {
                if (!config_peer_allowed(in->config, peer->uid, peer->gids, peer->n_gids))
                        refuse(&a, JOB_REJECTED, "UID %u is not allowed to use pyward", (unsigned) peer->uid);
                *ret = a;
                return;
        }

        if (req->discover) {
                decide_slot(in, &a);
                *ret = a;
                return;
        }
        name = req->profile ?: "default";
        a.profile = config_find_profile(in->config, name);
        if (!a.profile || !a.profile->enabled)
                refuse(&a, JOB_REJECTED, "unknown profile \"%s\"", name);
        else if (!profile_peer_allowed(a.profile, peer->uid, peer->gids, peer->n_gids))
                refuse(&a, JOB_REJECTED, "UID %u may not use profile \"%s\"", (unsigned) peer->uid, name);
        else if (req->code_size > a.profile->code_max)
                refuse(&a, JOB_REJECTED,
                       "code of %zu bytes exceeds the maximum of %" PRIu64 " bytes of profile \"%s\"",
                       req->code_size, a.profile->code_max, name);
        else if (profile_resolve_limits(a.profile, req, a.limits, error, sizeof(error)) < 0)
                refuse(&a, JOB_REJECTED, "%s", error[0] ? error : "invalid limits");
        else if (files_within_limits(&a, req, name))
                decide_slot(in, &a);
        *ret = a;
}
