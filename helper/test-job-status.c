/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the mapping from a finished unit (Result, ExecMainCode/Status, who stopped it) to the
 * result record's status, exit code, signal and message. */

#include <signal.h>
#include <sys/wait.h>

#include "job-status.h"
#include "test.h"

static JobResult map(UnitOutcome o) {
        JobResult r = { .exit_code = -1 };

        assert_int(job_outcome_to_result(&o, &r), ==, 0);
        return r;
}

static void check(UnitOutcome o, JobStatus status, int exit_code, int sig, const char *msg_part) {
        JobResult r = map(o);

        assert_int(r.status, ==, status);
        assert_int(r.exit_code, ==, exit_code);
        assert_int(r.signal, ==, sig);
        if (msg_part)
                assert_se(r.message && strstr(r.message, msg_part));
        job_result_done(&r);
}

int main(void) {
        check((UnitOutcome) { .result = "success", .exec_main_code = CLD_EXITED }, JOB_OK, 0, 0, NULL);
        check((UnitOutcome) { .result = "exit-code", .exec_main_code = CLD_EXITED, .exec_main_status = 3 },
              JOB_EXIT, 3, 0, "code 3");
        /* The job's own exit code 226 is not a sandbox failure: the start job succeeded. */
        check((UnitOutcome) { .result = "exit-code", .exec_main_code = CLD_EXITED, .exec_main_status = 226 },
              JOB_EXIT, 226, 0, NULL);
        check((UnitOutcome) { .result = "signal", .exec_main_code = CLD_KILLED, .exec_main_status = SIGSEGV },
              JOB_SIGNAL, -1, SIGSEGV, "SIGSEGV");
        check((UnitOutcome) { .result = "core-dump",
                              .exec_main_code = CLD_DUMPED,
                              .exec_main_status = SIGABRT },
              JOB_SIGNAL, -1, SIGABRT, "SIGABRT");
        /* Killing itself with SIGTERM is "success" for the manager, a signal for us. */
        check((UnitOutcome) { .result = "success",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGTERM },
              JOB_SIGNAL, -1, SIGTERM, NULL);
        check((UnitOutcome) { .result = "timeout",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL },
              JOB_TIMEOUT, -1, SIGKILL, "wall-clock");
        check((UnitOutcome) { .result = "oom-kill",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL },
              JOB_OOM, -1, SIGKILL, "memory");
        check((UnitOutcome) { .result = "signal", .exec_main_code = CLD_KILLED, .exec_main_status = SIGXCPU },
              JOB_CPU_LIMIT, -1, SIGXCPU, "CPU");
        /* Stopped by someone else (systemctl stop): killed, whatever the manager says. */
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .stopped_externally = true },
              JOB_KILLED, -1, SIGKILL, "someone else");
        /* Our own reasons come first. */
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .stop_reason = JOB_STOP_OUTPUT_LIMIT },
              JOB_OUTPUT_LIMIT, -1, SIGKILL, "output");
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .stop_reason = JOB_STOP_CPU_LIMIT },
              JOB_CPU_LIMIT, -1, SIGKILL, NULL);
        /* The helper's own wall-clock timer stopped it: timeout, as RuntimeMaxSec= would say. */
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .stop_reason = JOB_STOP_TIMEOUT },
              JOB_TIMEOUT, -1, SIGKILL, "wall-clock");
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .stop_reason = JOB_STOP_CANCEL,
                              .stopped_externally = true },
              JOB_KILLED, -1, SIGKILL, "cancelled");
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .stop_reason = JOB_STOP_PROTOCOL },
              JOB_KILLED, -1, SIGKILL, "protocol error");
        /* A session's own stops: its idle timer, a cell that outlived its grace after the
         * interrupt; the first reason wins over a later systemctl stop too. */
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .stop_reason = JOB_STOP_IDLE },
              JOB_TIMEOUT, -1, SIGKILL, "idle");
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .stop_reason = JOB_STOP_CELL_GRACE,
                              .stopped_externally = true },
              JOB_TIMEOUT, -1, SIGKILL, "state is lost");
        /* A CANCEL (or systemctl stop) while the unit still starts cancels the start job: that is
         * the stop's outcome, not a failure to start (seen on 252 under load). */
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .start_failed = true,
                              .start_job_result = "canceled",
                              .stop_reason = JOB_STOP_CANCEL },
              JOB_KILLED, -1, SIGKILL, "cancelled by the client");
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .start_failed = true,
                              .start_job_result = "canceled",
                              .stopped_externally = true },
              JOB_KILLED, -1, SIGKILL, "stopped by someone else");
        /* A start job canceled with no stop of ours is still a failure to start. */
        check((UnitOutcome) { .result = "signal",
                              .exec_main_code = CLD_KILLED,
                              .exec_main_status = SIGKILL,
                              .start_failed = true,
                              .start_job_result = "canceled" },
              JOB_ERROR, -1, 0, "failed to start");
        /* Sandbox setup failed before execve(): the EXIT_* name, no exit code. */
        check((UnitOutcome) { .result = "exit-code",
                              .exec_main_code = CLD_EXITED,
                              .exec_main_status = 226,
                              .start_failed = true,
                              .start_job_result = "failed" },
              JOB_ERROR, -1, 0, "226/NAMESPACE");
        check((UnitOutcome) { .result = "exit-code",
                              .exec_main_code = CLD_EXITED,
                              .exec_main_status = 217,
                              .start_failed = true,
                              .start_job_result = "failed" },
              JOB_ERROR, -1, 0, "217/USER (is pyward's job user missing? run systemd-sysusers)");
        check((UnitOutcome) { .result = "resources", .start_failed = true, .start_job_result = "failed" },
              JOB_ERROR, -1, 0, "resources");
        assert_streq(exit_status_setup_name(228), "SECCOMP");
        assert_streq(exit_status_setup_name(203), "EXEC");
        assert_se(exit_status_setup_name(199) == NULL);
        assert_se(exit_status_setup_name(246) == NULL);
        assert_se(exit_status_setup_name(223) == NULL);
        return 0;
}
