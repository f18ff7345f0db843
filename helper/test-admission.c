/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests admission_decide() with a table: who may connect, who may use which profile, the code's
 * size, limits above their maxima, the job slots; each row with its exact message. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admission.h"
#include "config.h"
#include "test.h"

#define ALL (-1) /* a row's limit key: every limit in turn */

/* clang-format off */
typedef struct Row {
        const char *what;
        uid_t uid;
        gid_t gids[3];
        size_t n_gids;
        bool connect;         /* at connect time: no request */
        const char *profile;  /* the request's PROFILE, NULL: none */
        size_t code_size;
        int limit;            /* a LimitKey the request asks for, ALL, or 0: none */
        uint64_t value;       /* asked; UINT64_MAX: the profile's maximum plus one */
        size_t n_files;       /* input files sent */
        uint64_t files_bytes; /* and their bytes */
        bool discover;        /* a DISCOVER request */
        bool session;         /* a SESSION request: no code; its cells come later */
        int slot;             /* ADMISSION_SLOT_UNTRIED or slot_acquire()'s outcome */
        AdmissionVerdict verdict;
        JobStatus status;
        const char *message;  /* exact; ALL rows: checked piece by piece */
} Row;
/* clang-format on */

/* Numeric ids avoid depending on the build host's user database; "root" is uid 0 everywhere. */
static const char config_text[] =
        "[Access]\nAllowUsers=1000\nAllowGroups=\nAllowGroups=100\nJobsPerUser=2\n"
        "[Profile \"team\"]\nAllowUsers=1001\nAllowGroups=7\n"
        "[Profile \"off\"]\nEnabled=off\n"
        "[Profile \"small\"]\nCodeMax=16\nMemoryMax=512M\n";

/* clang-format off */
static const Row rows[] = {
        { "root may connect", 0, { 0 }, 1, true, .verdict = ADMISSION_ADMITTED },
        { "a user named in AllowUsers= may connect", 1000, { 1000 }, 1, true, .verdict = ADMISSION_ADMITTED },
        { "a member of the group may connect", 1001, { 1001, 100 }, 2, true, .verdict = ADMISSION_ADMITTED },
        { "a non-member may not", 1002, { 1002, 5 }, 2, true, .verdict = ADMISSION_REFUSED,
          .status = JOB_REJECTED, .message = "UID 1002 is not allowed to use pyward" },

        { "the default profile, before the slot", 1000, { 1000 }, 1, .code_size = 10,
          .slot = ADMISSION_SLOT_UNTRIED, .verdict = ADMISSION_NEED_SLOT },
        { "the default profile, with a slot", 1000, { 1000 }, 1, .code_size = 10, .slot = 0,
          .verdict = ADMISSION_ADMITTED },
        { "jobs per uid at the limit", 1000, { 1000 }, 1, .code_size = 10, .slot = -EBUSY,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "UID 1000 already runs 2 jobs, the maximum (JobsPerUser=)" },
        { "no slot could be taken", 1000, { 1000 }, 1, .code_size = 10, .slot = -EACCES,
          .verdict = ADMISSION_REFUSED, .status = JOB_ERROR,
          .message = "cannot take a job slot in /run/pyward/slots: Permission denied" },

        { "a profile allowed by uid", 1001, { 1001 }, 1, .profile = "team", .code_size = 10, .slot = 0,
          .verdict = ADMISSION_ADMITTED },
        { "a profile allowed by group", 1000, { 1000, 7 }, 2, .profile = "team", .code_size = 10, .slot = 0,
          .verdict = ADMISSION_ADMITTED },
        { "a profile forbidden", 1000, { 1000, 100 }, 2, .profile = "team", .code_size = 10, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED, .message = "UID 1000 may not use profile \"team\"" },
        { "a profile forbidden to root too", 0, { 0 }, 1, .profile = "team", .code_size = 10,
          .slot = ADMISSION_SLOT_UNTRIED, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "UID 0 may not use profile \"team\"" },
        { "a disabled profile is unknown", 0, { 0 }, 1, .profile = "off", .code_size = 10, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED, .message = "unknown profile \"off\"" },
        { "an unknown profile", 1000, { 1000 }, 1, .profile = "numpy", .code_size = 10, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED, .message = "unknown profile \"numpy\"" },
        /* The profile is checked before the slot: a full slot does not hide the real reason. */
        { "an unknown profile at the slot limit", 1000, { 1000 }, 1, .profile = "numpy", .code_size = 10,
          .slot = -EBUSY, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "unknown profile \"numpy\"" },

        { "code at CodeMax", 1000, { 1000 }, 1, .profile = "small", .code_size = 16, .slot = 0,
          .verdict = ADMISSION_ADMITTED },
        { "code over CodeMax", 1000, { 1000 }, 1, .profile = "small", .code_size = 17, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "code of 17 bytes exceeds the maximum of 16 bytes of profile \"small\"" },
        /* The code's size comes before the limits. */
        { "code over CodeMax and a limit over its maximum", 1000, { 1000 }, 1, .profile = "small",
          .code_size = 17, .limit = LIMIT_MEMORY, .value = 1ULL << 30, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "code of 17 bytes exceeds the maximum of 16 bytes of profile \"small\"" },

        { "a limit at its maximum", 1000, { 1000 }, 1, .profile = "small", .code_size = 10,
          .limit = LIMIT_MEMORY, .value = 512ULL << 20, .slot = 0, .verdict = ADMISSION_ADMITTED },
        { "a limit above the profile's maximum", 1000, { 1000 }, 1, .profile = "small", .code_size = 10,
          .limit = LIMIT_MEMORY, .value = 1ULL << 30, .slot = 0, .verdict = ADMISSION_REFUSED,
          .status = JOB_REJECTED, .message = "memory=1G exceeds the maximum 512M of profile small" },
        { "each limit above its maximum", 1000, { 1000 }, 1, .code_size = 10, .limit = ALL,
          .value = UINT64_MAX, .slot = 0, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = NULL /* "KEY=..." */ },
        { "a limit of 0", 1000, { 1000 }, 1, .code_size = 10, .limit = LIMIT_TASKS, .value = 0, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED, .message = "tasks=0 is not a valid limit" },
        { "a time limit of 0 for the files", 1000, { 1000 }, 1, .code_size = 10, .limit = LIMIT_FILES_OUT_TIME,
          .value = 0, .slot = 0, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "files-out-time=0 is not a valid limit" },
        { "files-in=0 is a limit: none", 1000, { 1000 }, 1, .code_size = 10, .limit = LIMIT_FILES_IN, .value = 0,
          .slot = 0, .verdict = ADMISSION_ADMITTED },
        { "files-out-depth=0 too", 1000, { 1000 }, 1, .code_size = 10, .limit = LIMIT_FILES_OUT_DEPTH, .value = 0,
          .slot = 0, .verdict = ADMISSION_ADMITTED },

        /* Input files: against the effective files-in and files-in-bytes, after the limits. */
        { "input files at FilesInMax", 1000, { 1000 }, 1, .code_size = 10, .n_files = 100,
          .files_bytes = 16ULL << 20, .slot = 0, .verdict = ADMISSION_ADMITTED },
        { "input files over FilesInMax", 1000, { 1000 }, 1, .code_size = 10, .n_files = 101, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "files-in=101 exceeds the maximum 100 of profile default" },
        { "input bytes over FilesInBytesMax", 1000, { 1000 }, 1, .code_size = 10, .n_files = 2,
          .files_bytes = (16ULL << 20) + 1, .slot = 0, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "files-in-bytes=16777217 exceeds the maximum 16M of profile default" },
        { "input files over what the request asked", 1000, { 1000 }, 1, .code_size = 10, .limit = LIMIT_FILES_IN,
          .value = 5, .n_files = 6, .slot = 0, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "files-in=6 exceeds the limit 5 the request asked" },
        { "an input file with files-in=0", 1000, { 1000 }, 1, .code_size = 10, .limit = LIMIT_FILES_IN,
          .value = 0, .n_files = 1, .slot = 0, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "files-in=1 exceeds the limit 0 the request asked" },
        { "input bytes over what the request asked", 1000, { 1000 }, 1, .code_size = 10,
          .limit = LIMIT_FILES_IN_BYTES, .value = 1024, .n_files = 1, .files_bytes = 2048, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "files-in-bytes=2K exceeds the limit 1K the request asked" },
        /* The files come after the limits, and before the slot. */
        { "input files over, and a limit over its maximum", 1000, { 1000 }, 1, .profile = "small",
          .code_size = 10, .limit = LIMIT_MEMORY, .value = 1ULL << 30, .n_files = 101, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "memory=1G exceeds the maximum 512M of profile small" },
        { "input files over at the slot limit", 1000, { 1000 }, 1, .code_size = 10, .n_files = 101,
          .slot = -EBUSY, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "files-in=101 exceeds the maximum 100 of profile default" },

        /* DISCOVER: no profile of its own, no code, so no code-size rule; the slot rule only. */
        { "a discovery, before the slot", 1000, { 1000 }, 1, .discover = true, .slot = ADMISSION_SLOT_UNTRIED,
          .verdict = ADMISSION_NEED_SLOT },
        { "a discovery, with a slot", 1000, { 1000 }, 1, .discover = true, .slot = 0,
          .verdict = ADMISSION_ADMITTED },
        { "a discovery ignores CodeMax", 1000, { 1000 }, 1, .profile = "small", .code_size = 17,
          .discover = true, .slot = 0, .verdict = ADMISSION_ADMITTED },
        { "a discovery by a UID no profile allows", 1002, { 1002 }, 1, .discover = true, .slot = 0,
          .verdict = ADMISSION_ADMITTED },
        { "a discovery at the slot limit", 1000, { 1000 }, 1, .discover = true, .slot = -EBUSY,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "UID 1000 already runs 2 jobs, the maximum (JobsPerUser=)" },

        /* A SESSION is admitted as a job: the same profile, limit and slot rules (one slot for the
         * whole session), no code of its own; its limits 15..19 resolved as the others. */
        { "a session, before the slot", 1000, { 1000 }, 1, .session = true, .slot = ADMISSION_SLOT_UNTRIED,
          .verdict = ADMISSION_NEED_SLOT },
        { "a session, with a slot", 1000, { 1000 }, 1, .session = true, .slot = 0,
          .verdict = ADMISSION_ADMITTED },
        { "a session at the slot limit", 1000, { 1000 }, 1, .session = true, .slot = -EBUSY,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "UID 1000 already runs 2 jobs, the maximum (JobsPerUser=)" },
        { "a session of a profile it may not use", 1000, { 1000, 100 }, 2, .profile = "team", .session = true,
          .slot = 0, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "UID 1000 may not use profile \"team\"" },
        { "a session of an unknown profile", 1000, { 1000 }, 1, .profile = "numpy", .session = true, .slot = 0,
          .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED, .message = "unknown profile \"numpy\"" },
        { "a session's idle time lowered", 1000, { 1000 }, 1, .session = true,
          .limit = LIMIT_SESSION_IDLE_TIME, .value = 1000000, .slot = 0, .verdict = ADMISSION_ADMITTED },
        { "a session's cells at their maximum", 1000, { 1000 }, 1, .session = true, .limit = LIMIT_SESSION_CELLS,
          .value = 100000, .slot = 0, .verdict = ADMISSION_ADMITTED },
        { "a session's cells over their maximum", 1000, { 1000 }, 1, .session = true,
          .limit = LIMIT_SESSION_CELLS, .value = UINT64_MAX, .slot = 0, .verdict = ADMISSION_REFUSED,
          .status = JOB_REJECTED, .message = "session-cells=100001 exceeds the maximum 100000 of profile default" },
        { "a session's wall time over its maximum", 1000, { 1000 }, 1, .session = true,
          .limit = LIMIT_SESSION_WALL_TIME, .value = UINT64_MAX, .slot = 0, .verdict = ADMISSION_REFUSED,
          .status = JOB_REJECTED, .message = "session-wall-time=24h 1us exceeds the maximum 24h of profile default" },
        { "a cell's grace over its maximum", 1000, { 1000 }, 1, .session = true, .limit = LIMIT_CELL_GRACE,
          .value = UINT64_MAX, .slot = 0, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = "cell-grace=30s 1us exceeds the maximum 30s of profile default" },
        { "each limit of a session above its maximum", 1000, { 1000 }, 1, .session = true, .limit = ALL,
          .value = UINT64_MAX, .slot = 0, .verdict = ADMISSION_REFUSED, .status = JOB_REJECTED,
          .message = NULL /* "KEY=..." */ },
};
/* clang-format on */

static void check_row(const Config *c, const Row *row, LimitKey k) {
        Peer peer = { .uid = row->uid, .gids = (gid_t *) row->gids, .n_gids = row->n_gids };
        Request req = { .profile = (char *) row->profile,
                        .code_size = row->code_size,
                        .n_files = row->n_files,
                        .files_bytes = row->files_bytes,
                        .discover = row->discover,
                        .session = row->session };
        const Profile *p;
        Admission a;
        char expected[ADMISSION_MESSAGE_MAX] = "";

        if (k > 0) {
                p = config_find_profile(c, row->profile);
                assert_se(p);
                req.limit_set[k] = true;
                req.limits[k] = row->value == UINT64_MAX ? p->limit_max[k] + 1 : row->value;
        }
        admission_decide(&(AdmissionInput) { .config = c,
                                             .peer = &peer,
                                             .request = row->connect ? NULL : &req,
                                             .slot = row->slot },
                         &a);
        if (a.verdict != row->verdict)
                fprintf(stderr, "%s (limit %d): verdict %d, message \"%s\"\n", row->what, (int) k, a.verdict,
                        a.message);
        assert_int(a.verdict, ==, row->verdict);
        if (row->verdict != ADMISSION_REFUSED) {
                assert_streq(a.message, "");
                if (row->discover) {
                        assert_se(!a.profile);
                } else if (!row->connect) {
                        p = config_find_profile(c, row->profile);
                        assert_se(a.profile == p);
                        for (LimitKey j = 1; j < _LIMIT_MAX; j++)
                                assert_int(a.limits[j], ==, j == k ? req.limits[j] : p->limit_default[j]);
                }
                return;
        }
        assert_int(a.status, ==, row->status);
        if (row->limit == ALL) {
                /* "tasks=257 exceeds the maximum 256 of profile default" */
                (void) snprintf(expected, sizeof(expected), "%s=", limit_key_to_string(k));
                assert_se(strncmp(a.message, expected, strlen(expected)) == 0);
                assert_se(strstr(a.message, " exceeds the maximum "));
                assert_se(strstr(a.message, " of profile default"));
        } else
                assert_streq(a.message, row->message);
}

/* Which profiles a discovery lists for a peer: the ones a request naming them would pass. */
static void test_profile_usable(const Config *c) {
        static const struct {
                uid_t uid;
                gid_t gids[2];
                size_t n_gids;
                const char *profile;
                bool usable;
        } cases[] = {
                { 1000, { 1000 }, 1, "default", true },  { 1000, { 1000 }, 1, "small", true },
                { 1000, { 1000 }, 1, "team", false },    { 1000, { 1000, 7 }, 2, "team", true },
                { 1001, { 100 }, 1, "team", true },      { 0, { 0 }, 1, "team", false },
                { 0, { 0 }, 1, "off", false },           { 1000, { 1000 }, 1, "off", false },
                { 1002, { 1002 }, 1, "default", false }, /* may not connect at all */
                { 1002, { 1002, 7 }, 2, "team", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Peer peer = { .uid = cases[i].uid,
                              .gids = (gid_t *) cases[i].gids,
                              .n_gids = cases[i].n_gids };
                const Profile *p = config_find_profile(c, cases[i].profile);

                assert_se(p);
                if (admission_profile_usable(c, &peer, p) != cases[i].usable) {
                        fprintf(stderr, "case %zu: uid %u, profile %s\n", i, (unsigned) cases[i].uid,
                                cases[i].profile);
                        assert_se(false);
                }
        }
        assert_se(!admission_profile_usable(c, &(Peer) { .uid = 0 }, NULL));
        assert_se(!admission_profile_usable(NULL, &(Peer) { .uid = 0 }, config_find_profile(c, NULL)));
        assert_se(!admission_profile_usable(c, NULL, config_find_profile(c, NULL)));
}

int main(void) {
        char root[] = "/tmp/test-admission-XXXXXX", path[256];
        Config *c = NULL;
        char *errors = NULL;
        FILE *f;

        if (!mkdtemp(root))
                return EXIT_TEST_SKIP;
        /* The interpreter is checked below root. */
        (void) snprintf(path, sizeof(path), "%s/usr", root);
        assert_se(mkdir(path, 0755) == 0);
        (void) snprintf(path, sizeof(path), "%s/usr/bin", root);
        assert_se(mkdir(path, 0755) == 0);
        (void) snprintf(path, sizeof(path), "%s/usr/bin/python3", root);
        f = fopen(path, "we");
        assert_se(f && fputs("#!/bin/sh\n", f) >= 0 && fclose(f) == 0);
        assert_se(chmod(path, 0755) == 0);

        if (config_parse_string(root, "/t.conf", config_text, strlen(config_text), &c, &errors) < 0)
                fprintf(stderr, "%s", errors ?: "");
        assert_se(c);

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                if (rows[i].limit == ALL)
                        for (LimitKey k = 1; k < _LIMIT_MAX; k++)
                                check_row(c, &rows[i], k);
                else
                        check_row(c, &rows[i], (LimitKey) rows[i].limit);
        }
        test_profile_usable(c);
        /* No configuration: nobody is admitted, root neither. */
        {
                Admission a;

                admission_decide(&(AdmissionInput) { .peer = &(Peer) { .uid = 0 } }, &a);
                assert_int(a.verdict, ==, ADMISSION_REFUSED);
                assert_streq(a.message, "UID 0 is not allowed to use pyward");
        }

        config_free(c);
        assert_se(unlink(path) == 0);
        (void) snprintf(path, sizeof(path), "%s/usr/bin", root);
        assert_se(rmdir(path) == 0);
        (void) snprintf(path, sizeof(path), "%s/usr", root);
        assert_se(rmdir(path) == 0);
        assert_se(rmdir(root) == 0);
        return 0;
}
