/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who may connect and use which profile, and a request's limits against a profile's: to move, as
 * they are, into the admission module. */

#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "config-internal.h"

const Profile *config_find_profile(const Config *c, const char *name) {
        if (!c)
                return NULL;
        if (!name)
                name = "default";
        for (size_t i = 0; i < c->n_profiles; i++)
                if (strcmp(c->profiles[i].name, name) == 0)
                        return &c->profiles[i];
        return NULL;
}

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

bool profile_peer_allowed(const Profile *p, uid_t uid, const gid_t *gids, size_t n_gids) {
        if (!p || !p->enabled)
                return false;
        if (strv_length(p->allow_users) == 0 && strv_length(p->allow_groups) == 0)
                return true;
        return lists_match(p->allow_users, p->allow_groups, uid, gids, n_gids);
}

static ValueType limit_value_type(LimitKey k) {
        return config_setting_limit(k, true)->type;
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
                format_number(asked, sizeof(asked), limit_value_type(k), req->limits[k]);
                if (req->limits[k] == 0) {
                        if (error_buf && error_buf_size > 0)
                                snprintf(error_buf, error_buf_size, "%s=0 is not a valid limit", key);
                        return -EINVAL;
                }
                if (req->limits[k] > p->limit_max[k]) {
                        format_number(max, sizeof(max), limit_value_type(k), p->limit_max[k]);
                        if (error_buf && error_buf_size > 0)
                                snprintf(error_buf, error_buf_size, "%s=%s exceeds the maximum %s of profile %s",
                                         key, asked, max, p->name);
                        return -EPERM;
                }
                limits[k] = req->limits[k];
        }
        memcpy(ret_limits, limits, sizeof(limits));
        return 0;
}
