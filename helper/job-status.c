/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mapping from a finished unit (Result=, ExecMainCode=/ExecMainStatus=, the start job's result,
 * who stopped it) to pyward's status: what pyward did itself first, then the manager's verdict. */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "job-status.h"
#include "macro.h"

/* systemd's EXIT_* codes (src/basic/exit-status.h) of a service that failed before its execve(). */
const char *exit_status_setup_name(int status) {
        /* clang-format off */
        static const char *const names[] = {
                [200 - 200] = "CHDIR",        [201 - 200] = "NICE",         [202 - 200] = "FDS",
                [203 - 200] = "EXEC",         [204 - 200] = "MEMORY",       [205 - 200] = "LIMITS",
                [206 - 200] = "OOM_ADJUST",   [207 - 200] = "SIGNAL_MASK",  [208 - 200] = "STDIN",
                [209 - 200] = "STDOUT",       [210 - 200] = "CHROOT",       [211 - 200] = "IOPRIO",
                [212 - 200] = "TIMERSLACK",   [213 - 200] = "SECUREBITS",   [214 - 200] = "SETSCHEDULER",
                [215 - 200] = "CPUAFFINITY",  [216 - 200] = "GROUP",        [217 - 200] = "USER",
                [218 - 200] = "CAPABILITIES", [219 - 200] = "CGROUP",       [220 - 200] = "SETSID",
                [221 - 200] = "CONFIRM",      [222 - 200] = "STDERR",       [224 - 200] = "PAM",
                [225 - 200] = "NETWORK",      [226 - 200] = "NAMESPACE",    [227 - 200] = "NO_NEW_PRIVILEGES",
                [228 - 200] = "SECCOMP",      [229 - 200] = "SELINUX_CONTEXT",
                [230 - 200] = "PERSONALITY",  [231 - 200] = "APPARMOR",     [232 - 200] = "ADDRESS_FAMILIES",
                [233 - 200] = "RUNTIME_DIRECTORY", [235 - 200] = "CHOWN",   [236 - 200] = "SMACK_PROCESS_LABEL",
                [237 - 200] = "KEYRING",      [238 - 200] = "STATE_DIRECTORY", [239 - 200] = "CACHE_DIRECTORY",
                [240 - 200] = "LOGS_DIRECTORY", [241 - 200] = "CONFIGURATION_DIRECTORY",
                [242 - 200] = "NUMA_POLICY",  [243 - 200] = "CREDENTIALS",  [245 - 200] = "BPF",
        };
        /* clang-format on */

        if (status < 200 || status >= 200 + (int) ELEMENTSOF(names))
                return NULL;
        return names[status - 200];
}

static int set_message(JobResult *r, const char *fmt, ...) _printf_(2, 3);
static int set_message(JobResult *r, const char *fmt, ...) {
        va_list ap;
        char *m;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        free(r->message);
        r->message = m;
        return 0;
}

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

int job_outcome_to_result(const UnitOutcome *o, JobResult *r) {
        char sig[32];

        r->exit_code = -1;
        r->signal = 0;
        if (o->exec_main_code == CLD_EXITED)
                r->exit_code = o->exec_main_status;
        else if (o->exec_main_code == CLD_KILLED || o->exec_main_code == CLD_DUMPED)
                r->signal = o->exec_main_status;
        if (r->signal > 0 && signal_to_string(r->signal, sig, sizeof(sig)) < 0)
                (void) snprintf(sig, sizeof(sig), "SIG%d", r->signal);

        /* The sandbox could not be set up: the manager's own exit code, before the job's execve().
         * Not so when the start job was canceled because the unit was stopped while it started (a
         * CANCEL, a limit, systemctl stop): then why it was stopped decides, below. */
        if (o->start_failed && !(streq_ptr(o->start_job_result, "canceled") &&
                                 (o->stop_reason != JOB_STOP_NONE || o->stopped_externally))) {
                const char *name =
                        o->exec_main_code == CLD_EXITED ? exit_status_setup_name(o->exec_main_status) : NULL;

                r->status = JOB_ERROR;
                r->exit_code = -1;
                r->signal = 0;
                /* 217/USER: the job user does not exist (systemd-sysusers not run after install). */
                if (name)
                        return set_message(r, "the job's sandbox could not be set up: %d/%s%s",
                                           o->exec_main_status, name,
                                           o->exec_main_status == 217
                                                   ? " (is pyward's job user missing? run systemd-sysusers)"
                                                   : "");
                return set_message(r, "the job's unit failed to start (start job %s, result %s)",
                                   o->start_job_result ?: "unknown", o->result ?: "unknown");
        }

        /* What pyward did itself comes first: the unit's result only says "killed". */
        switch (o->stop_reason) {
        case JOB_STOP_OUTPUT_LIMIT:
                r->status = JOB_OUTPUT_LIMIT;
                return set_message(r, "output limit exceeded; the job was stopped");
        case JOB_STOP_CPU_LIMIT:
                r->status = JOB_CPU_LIMIT;
                return set_message(r, "CPU time limit exceeded; the job was stopped");
        case JOB_STOP_TIMEOUT:
                r->status = JOB_TIMEOUT;
                return set_message(r, "wall-clock time limit exceeded");
        case JOB_STOP_PROTOCOL:
                /* The connection replaces this with the frame and the problem it saw. */
                r->status = JOB_KILLED;
                return set_message(r, "protocol error after REQUEST_END; the job was stopped");
        case JOB_STOP_IDLE:
                /* The session (run-session.c) replaces these with the times it used. */
                r->status = JOB_TIMEOUT;
                return set_message(r, "the session was idle too long");
        case JOB_STOP_CELL_GRACE:
                r->status = JOB_TIMEOUT;
                return set_message(r,
                                   "a cell did not end within its grace after its interrupt: the "
                                   "session's state is lost");
        case JOB_STOP_CANCEL:
        case JOB_STOP_DISCONNECT:
                r->status = JOB_KILLED;
                return set_message(r, o->stop_reason == JOB_STOP_CANCEL ? "cancelled by the client"
                                                                        : "the client disconnected");
        case JOB_STOP_NONE:
                break;
        }

        if (streq_ptr(o->result, "timeout")) {
                r->status = JOB_TIMEOUT;
                return set_message(r, "wall-clock time limit exceeded");
        }
        if (streq_ptr(o->result, "oom-kill")) {
                r->status = JOB_OOM;
                return set_message(r, "memory limit exceeded (killed by the OOM killer)");
        }
        if (o->stopped_externally) {
                r->status = JOB_KILLED;
                return set_message(r, "the job's unit was stopped by someone else");
        }
        if (r->signal == SIGXCPU) {
                /* RLIMIT_CPU's soft limit: the per-process layer of the CPU-time limit. */
                r->status = JOB_CPU_LIMIT;
                return set_message(r, "CPU time limit exceeded (SIGXCPU)");
        }
        if (r->signal > 0) {
                r->status = JOB_SIGNAL;
                return set_message(r, "killed by signal %s", sig);
        }
        if (o->exec_main_code == CLD_EXITED) {
                r->status = r->exit_code == 0 ? JOB_OK : JOB_EXIT;
                if (r->exit_code == 0)
                        return 0;
                return set_message(r, "exited with code %d", r->exit_code);
        }
        r->status = JOB_ERROR;
        return set_message(r, "the job ended without an exit status (result %s)", o->result ?: "unknown");
}
