/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How a finished unit ended, as the manager and pyward saw it, and its mapping to pyward's status,
 * exit code, signal and message: a pure function, unit-tested in test-job-status.c. */
#pragma once

#include <stdbool.h>

#include "protocol.h"

/* Why pyward itself stopped the unit; the first reason wins. */
typedef enum JobStopReason {
        JOB_STOP_NONE,
        JOB_STOP_CANCEL,       /* CANCEL frame: killed */
        JOB_STOP_DISCONNECT,   /* the client went away: killed (nobody reads the result) */
        JOB_STOP_OUTPUT_LIMIT, /* output-limit */
        JOB_STOP_CPU_LIMIT,    /* cpu-limit */
        JOB_STOP_TIMEOUT,      /* timeout: the helper's own wall-clock timer */
        JOB_STOP_PROTOCOL,     /* the client broke the protocol after REQUEST_END: killed */
        JOB_STOP_IDLE,         /* session: no CELL within session-idle-time: timeout */
        JOB_STOP_CELL_GRACE,   /* session: an interrupted cell outlived cell-grace: timeout */
} JobStopReason;

/* What the manager told us about the finished unit, plus what we know ourselves. */
typedef struct UnitOutcome {
        const char *result;   /* the unit's Result=, e.g. "success", "exit-code", "timeout" */
        int exec_main_code;   /* CLD_EXITED, CLD_KILLED, CLD_DUMPED, or 0 if it never ran */
        int exec_main_status; /* exit status or signal number */
        bool start_failed;    /* the start job did not complete ("failed", "dependency", ...) */
        const char *start_job_result;
        bool stopped_externally; /* someone else queued a job (systemctl stop) on the unit */
        JobStopReason stop_reason;
} UnitOutcome;

/* Fills status, exit_code, signal and message (allocated) of *r from o. */
int job_outcome_to_result(const UnitOutcome *o, JobResult *r);
/* "NAMESPACE" for 226 etc.: systemd's EXIT_* codes of a failed sandbox setup; NULL otherwise. */
const char *exit_status_setup_name(int status);
