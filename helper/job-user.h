/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Picking the user of the pool a job runs as (policy.h holds the flock()ed files): asynchronous,
 * since a user whose last job's unit may still exist is asked about at the manager first. */
#pragma once

#include <systemd/sd-bus.h>

#include "macro.h"

#define JOB_USER_NAME_MAX 32U

typedef struct JobUserPick JobUserPick;
/* r: 0 a user is held (job_user_pick_take()), -EBUSY all are in use, else another error. */
typedef void (*job_user_done_t)(JobUserPick *p, int r, void *userdata);

/* Starts trying the users from a place derived from the job's random id; done is called exactly
 * once, possibly from within this call. bus NULL: done(-ENOTCONN). */
int job_user_pick_new(sd_bus *bus, const char *job_id, job_user_done_t done, void *userdata,
                      JobUserPick **ret);
JobUserPick *job_user_pick_free(JobUserPick *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(JobUserPick *, job_user_pick_free);
void job_user_pick_start(JobUserPick *p);
/* Before job_user_pick_start(): the unit the user's file records, if not JOB_UNIT_FMT of the job id
 * (a warm runner's). */
void job_user_pick_set_unit(JobUserPick *p, const char *unit);
/* After done(0): hands over the fd that holds the user and its name. */
void job_user_pick_take(JobUserPick *p, int *ret_fd, char ret_name[static JOB_USER_NAME_MAX]);
