/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The matching rules of admission.c (who may connect, who may use which profile, limits against a
 * profile's maxima) against a configuration loaded from files, as the helper loads it. */

#include "admission.h"
#include "test-config.h"

static void test_access(void) {
        Config *c;
        const Profile *p;
        gid_t g100 = 100, groups[] = { 5, 100, 7 }, g0 = 0;

        clean_root();
        /* Numeric ids avoid depending on the host's user database; "root" is uid 0 everywhere. */
        write_file("/etc/pyward/pyward.conf",
                   "[Access]\nAllowUsers=1000\nAllowGroups=\nAllowGroups=100\n"
                   "[Profile \"team\"]\nAllowUsers=1001\nAllowGroups=7\n"
                   "[Profile \"rootonly\"]\nAllowUsers=root\n"
                   "[Profile \"off\"]\nEnabled=off\n");
        c = load_ok();
        assert_se(config_peer_allowed(c, 0, NULL, 0));    /* root by name (built-in) */
        assert_se(config_peer_allowed(c, 1000, NULL, 0)); /* by uid */
        assert_se(!config_peer_allowed(c, 1001, NULL, 0));
        assert_se(config_peer_allowed(c, 1001, &g100, 1)); /* by group */
        assert_se(config_peer_allowed(c, 1002, groups, 3));
        assert_se(!config_peer_allowed(c, 1002, &g0, 1));
        assert_se(!config_peer_allowed(NULL, 0, NULL, 0));

        p = profile(c, "default"); /* no restriction: whoever may connect */
        assert_se(profile_peer_allowed(p, 1000, NULL, 0));
        assert_se(profile_peer_allowed(p, 12345, NULL, 0));
        p = profile(c, "team");
        assert_se(profile_peer_allowed(p, 1001, NULL, 0));
        assert_se(!profile_peer_allowed(p, 1000, &g100, 1));
        assert_se(profile_peer_allowed(p, 1000, groups, 3)); /* gid 7 */
        assert_se(!profile_peer_allowed(p, 0, NULL, 0));
        p = profile(c, "rootonly");
        assert_se(profile_peer_allowed(p, 0, NULL, 0));
        assert_se(!profile_peer_allowed(p, 1000, groups, 3));
        p = profile(c, "off");
        assert_se(!profile_peer_allowed(p, 0, NULL, 0));
        assert_se(!profile_peer_allowed(NULL, 0, NULL, 0));
        config_free(c);

        /* Resetting both lists locks everybody out, root included: the admin said so. */
        write_file("/etc/pyward/pyward.conf", "[Access]\nAllowUsers=\nAllowGroups=\n");
        c = load_ok();
        assert_se(!config_peer_allowed(c, 0, &g0, 1));
        config_free(c);
}

static void test_resolve_limits(void) {
        Config *c;
        const Profile *p;
        Request req = {};
        uint64_t limits[_LIMIT_MAX], sentinel[_LIMIT_MAX];
        char err[256];

        clean_root();
        write_file("/etc/pyward/pyward.conf",
                   "[Profile]\nMemoryMax=512M\n"
                   "[Profile \"big\"]\nMemoryMax=4G\nCPUQuotaMax=400%\nWallTimeMaxSec=10min\n");
        c = load_ok();
        p = profile(c, NULL);

        /* Nothing asked: the profile's defaults. */
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, 0);
        for (LimitKey k = 1; k < _LIMIT_MAX; k++)
                assert_int(limits[k], ==, p->limit_default[k]);

        /* Equal to the maximum is fine; below too. */
        req.limit_set[LIMIT_MEMORY] = true;
        req.limits[LIMIT_MEMORY] = 512ULL << 20;
        req.limit_set[LIMIT_TASKS] = true;
        req.limits[LIMIT_TASKS] = 3;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, 0);
        assert_int(limits[LIMIT_MEMORY], ==, 512ULL << 20);
        assert_int(limits[LIMIT_TASKS], ==, 3);
        assert_int(limits[LIMIT_DISK], ==, 64ULL << 20);

        /* Above: rejected, with key, asked value and maximum in human units; output untouched. */
        memset(sentinel, 0xaa, sizeof(sentinel));
        memcpy(limits, sentinel, sizeof(limits));
        req.limits[LIMIT_MEMORY] = 1ULL << 30;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "memory=1G exceeds the maximum 512M of profile default");
        assert_se(memcmp(limits, sentinel, sizeof(limits)) == 0);
        req.limits[LIMIT_MEMORY] = (512ULL << 20) + 1;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "memory=536870913 exceeds the maximum 512M of profile default");

        /* The same request fits another profile. */
        req.limits[LIMIT_MEMORY] = 1ULL << 30;
        assert_int(profile_resolve_limits(profile(c, "big"), &req, limits, err, sizeof(err)), ==, 0);
        assert_int(limits[LIMIT_MEMORY], ==, 1ULL << 30);

        req = (Request) {};
        req.limit_set[LIMIT_WALL_TIME] = true;
        req.limits[LIMIT_WALL_TIME] = 330000000;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "wall-time=5min 30s exceeds the maximum 5min of profile default");
        req = (Request) {};
        req.limit_set[LIMIT_CPU_QUOTA] = true;
        req.limits[LIMIT_CPU_QUOTA] = 250;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "cpu-quota=250% exceeds the maximum 200% of profile default");
        assert_int(profile_resolve_limits(profile(c, "big"), &req, limits, err, sizeof(err)), ==, 0);
        req.limits[LIMIT_CPU_QUOTA] = 0;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EINVAL);
        assert_streq(err, "cpu-quota=0 is not a valid limit");
        /* The files' counts, bytes and depth may be 0 ("none"); their time may not. */
        for (LimitKey k = LIMIT_FILES_IN; k <= LIMIT_FILES_OUT_DEPTH; k++) {
                req = (Request) {};
                req.limit_set[k] = true;
                req.limits[k] = 0;
                assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, 0);
                assert_int(limits[k], ==, 0);
        }
        req = (Request) {};
        req.limit_set[LIMIT_FILES_OUT_TIME] = true;
        req.limits[LIMIT_FILES_OUT_TIME] = 0;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EINVAL);
        assert_streq(err, "files-out-time=0 is not a valid limit");
        req.limits[LIMIT_FILES_OUT_TIME] = 6000000;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "files-out-time=6s exceeds the maximum 5s of profile default");
        req = (Request) {};
        req.limit_set[LIMIT_FILES_IN_BYTES] = true;
        req.limits[LIMIT_FILES_IN_BYTES] = 32ULL << 20;
        assert_int(profile_resolve_limits(p, &req, limits, err, sizeof(err)), ==, -EPERM);
        assert_streq(err, "files-in-bytes=32M exceeds the maximum 16M of profile default");
        /* A tiny error buffer truncates, never overflows. */
        req.limits[LIMIT_CPU_QUOTA] = 250;
        assert_int(profile_resolve_limits(p, &req, limits, err, 8), ==, -EPERM);
        assert_int(strlen(err), ==, 7);
        config_free(c);
}

int main(void) {
        static void (*const tests[])(void) = {
                test_access,
                test_resolve_limits,
        };

        return test_config_main(tests, ELEMENTSOF(tests));
}
