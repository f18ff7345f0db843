/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Takes a user of the pool for the job: one whose last job's unit may still exist is skipped (its
 * helper died and the manager is still stopping it), so that two jobs never share a user. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-paths.h"
#include "job-user.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "policy.h"

struct JobUserPick {
        sd_bus *bus;
        char job_id[33];
        unsigned start, i; /* trying user (start + i) % JOB_USERS */
        int last;          /* what to report if none is free: -EBUSY, or the last error asking */
        int fd;            /* the user being asked about, then the one taken */
        char prev[JOB_USER_FILE_MAX];
        sd_bus_slot *slot; /* GetUnit of prev */
        char name[JOB_USER_NAME_MAX];
        char unit[JOB_USER_FILE_MAX]; /* what the user's file records */
        job_user_done_t done;
        void *userdata;
};

int job_user_pick_new(sd_bus *bus, const char *job_id, job_user_done_t done, void *userdata,
                      JobUserPick **ret) {
        JobUserPick *p;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->bus = bus ? sd_bus_ref(bus) : NULL;
        (void) snprintf(p->job_id, sizeof(p->job_id), "%s", job_id);
        (void) sscanf(p->job_id, "%4x", &p->start);
        (void) snprintf(p->unit, sizeof(p->unit), JOB_UNIT_FMT, p->job_id);
        p->last = -EBUSY;
        p->fd = -EBADF;
        p->done = done;
        p->userdata = userdata;
        *ret = p;
        return 0;
}

JobUserPick *job_user_pick_free(JobUserPick *p) {
        if (!p)
                return NULL;
        sd_bus_slot_unref(p->slot);
        safe_close(p->fd);
        sd_bus_unref(p->bus);
        free(p);
        return NULL;
}

static void pick_done(JobUserPick *p, int r) {
        if (r < 0)
                p->fd = safe_close(p->fd);
        p->done(p, r, p->userdata);
}

/* The user held by p->fd is free: record the job's unit in its file and keep it. */
static void pick_take_current(JobUserPick *p) {
        int r;

        r = job_user_record(p->fd, p->unit);
        if (r < 0) {
                pick_done(p, r);
                return;
        }
        (void) snprintf(p->name, sizeof(p->name), JOB_USER_PREFIX "%u", (p->start + p->i) % JOB_USERS);
        pick_done(p, 0);
}

static void pick_next(JobUserPick *p);

static int on_get_unit(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobUserPick *p = userdata;
        int r;

        p->slot = sd_bus_slot_unref(p->slot);
        r = manager_read_unit_exists(m);
        if (r == 0) {
                pick_take_current(p);
                return 0;
        }
        if (r < 0)
                p->last = r;
        log_debug("Job user %s%u: %s still exists, trying the next one.", JOB_USER_PREFIX,
                  (p->start + p->i) % JOB_USERS, p->prev);
        p->fd = safe_close(p->fd);
        p->i++;
        pick_next(p);
        return 0;
}

/* Tries the users from p->i on; returns when one is taken, all are tried, or the manager is asked
 * whether the previous job of one still exists (on_get_unit goes on). */
static void pick_next(JobUserPick *p) {
        int r;

        for (; p->i < JOB_USERS; p->i++) {
                unsigned k = (p->start + p->i) % JOB_USERS;

                r = job_user_try(SLOT_DIR, k, p->prev, &p->fd);
                if (r == -EBUSY)
                        continue;
                if (r < 0) {
                        pick_done(p, r);
                        return;
                }
                if (!p->prev[0]) {
                        pick_take_current(p);
                        return;
                }
                r = manager_get_unit(p->bus, &p->slot, p->prev, on_get_unit, p);
                if (r >= 0)
                        return;
                /* Cannot ask: as if the manager could not tell. */
                p->last = r;
                log_debug("Job user %s%u: %s still exists, trying the next one.", JOB_USER_PREFIX, k,
                          p->prev);
                p->fd = safe_close(p->fd);
        }
        pick_done(p, p->last);
}

void job_user_pick_start(JobUserPick *p) {
        if (!p->bus) {
                pick_done(p, -ENOTCONN);
                return;
        }
        pick_next(p);
}

void job_user_pick_take(JobUserPick *p, int *ret_fd, char ret_name[static JOB_USER_NAME_MAX]) {
        memcpy(ret_name, p->name, JOB_USER_NAME_MAX);
        *ret_fd = TAKE_FD(p->fd);
}

void job_user_pick_set_unit(JobUserPick *p, const char *unit) {
        (void) snprintf(p->unit, sizeof(p->unit), "%s", unit);
}
