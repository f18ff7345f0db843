/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Everything the helper writes to the journal about a job: the log sink that tags each line with
 * PYWARD_JOB=, and the job's records (started, its status, a client that stopped reading). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"
#include "protocol.h"

/* When each step of a connection was reached (CLOCK_MONOTONIC usec, 0: not reached), for the
 * result record's PYWARD_T_* fields: where a job's time goes (scripts/bench). */
typedef struct JobTimes {
        uint64_t accept, config, request, bus, start;
        uint64_t exec, exit; /* from the manager: the main process' execve() and exit */
        uint64_t result;     /* the result complete, before it is sent; 0: the record's own time */
} JobTimes;

uint64_t journal_now_usec(void);
/* The helper process' own marks, before any connection exists: main() entered, the bus opened.
 * Every result record carries them (PYWARD_T_MAIN=, PYWARD_T_BUS_OPEN=). */
void journal_note_helper_start(uint64_t main_usec, uint64_t bus_open_usec);

/* From now on every log line goes to the journal with PYWARD_JOB=job_id (falling back to stderr);
 * job_id must stay valid until journal_log_job_end(job_id). */
void journal_log_job_begin(const char *job_id);
void journal_log_job_end(const char *job_id);

/* The first of a job's two records, so a job is on record even if the helper dies before it ends. */
void journal_job_started(const char *job_id, const Peer *peer, const char *profile, const char *unit,
                         bool session);
/* The second: the status, with the timing fields; a session's with PYWARD_KIND=session and
 * PYWARD_CELLS= (r->cells). */
void journal_job_result(const char *job_id, const Peer *peer, const char *profile, const JobResult *r,
                        const JobTimes *t, bool session);
/* A session's cell ended: one record per cell (PYWARD_EVENT=cell). */
void journal_cell(const char *job_id, uid_t uid, const char *unit, const CellResult *c);
/* The client took no output for `timespan`; the helper gives up on it. */
void journal_write_stall(const char *job_id, uid_t uid, const char *timespan);
