/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The helper's journal records, with their PYWARD_* fields (pyward-helper(8) lists them), and the
 * process-global log sink that sends every log line of a connection with its job id. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <systemd/sd-journal.h>

#include "journal.h"
#include "log.h"
#include "mac.h"

static uint64_t helper_t_main, helper_t_bus_open;

void journal_note_helper_start(uint64_t main_usec, uint64_t bus_open_usec) {
        helper_t_main = main_usec;
        helper_t_bus_open = bus_open_usec;
}

uint64_t journal_now_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000U;
}

/* Every line the helper logs for its connection carries the connection's job id, so that
 * `journalctl PYWARD_JOB=ID` finds all of it, a rejection before any unit existed included. */
static const char *log_job_id = NULL;

static int log_to_journal(int level, int error, const char *message) {
        if (error > 0)
                /* clang-format off */
                return sd_journal_send("MESSAGE=%s", message, "PRIORITY=%i", level,
                                       "SYSLOG_IDENTIFIER=%s", program_invocation_short_name,
                                       "PYWARD_JOB=%s", log_job_id ?: "", "ERRNO=%i", error, NULL);
        /* clang-format on */
        /* clang-format off */
        return sd_journal_send("MESSAGE=%s", message, "PRIORITY=%i", level,
                               "SYSLOG_IDENTIFIER=%s", program_invocation_short_name,
                               "PYWARD_JOB=%s", log_job_id ?: "", NULL);
        /* clang-format on */
}

void journal_log_job_begin(const char *job_id) {
        log_job_id = job_id;
        log_sink = log_to_journal;
}

void journal_log_job_end(const char *job_id) {
        if (log_job_id != job_id)
                return;
        log_sink = NULL;
        log_job_id = NULL;
}

/* The helper's peak RSS (VmHWM) in KiB, or -1. Not getrusage()'s ru_maxrss: that keeps the peak of
 * the manager's forked child from before our execve(). */
static long peak_rss_kb(void) {
        char line[128];
        long kb = -1;
        FILE *f;

        f = fopen("/proc/self/status", "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
                        break;
        (void) fclose(f);
        return kb;
}

/* A session's records end with these fields; a job's list ends at the NULL in their place (the
 * arguments after it are never read), so its records stay as they were. */
#define SESSION_FIELD(session) ((session) ? "PYWARD_KIND=session" : NULL)

void journal_job_started(const char *job_id, const Peer *peer, const char *profile, const char *unit,
                         bool session) {
        /* clang-format off */
        (void) sd_journal_send("MESSAGE=Starting pyward job %s for UID %u (profile %s) as %s.", job_id,
                               (unsigned) peer->uid, profile, unit,
                               "PRIORITY=%i", LOG_INFO,
                               "PYWARD_JOB=%s", job_id,
                               "PYWARD_UID=%u", (unsigned) peer->uid,
                               "PYWARD_PID=%d", (int) peer->pid,
                               "PYWARD_STATUS=started",
                               "PYWARD_UNIT=%s", unit,
                               "PYWARD_PROFILE=%s", profile,
                               "PYWARD_MAC=%s", mac_layers_started(),
                               SESSION_FIELD(session),
                               NULL);
        /* clang-format on */
}

void journal_job_result(const char *job_id, const Peer *peer, const char *profile, const JobResult *r,
                        const JobTimes *t, bool session) {
        int prio = r->status == JOB_ERROR ? LOG_ERR : r->status == JOB_REJECTED ? LOG_NOTICE : LOG_INFO;
        const char *status = job_status_to_string(r->status) ?: "?";

        /* clang-format off */
        (void) sd_journal_send("MESSAGE=pyward job %s for UID %u (profile %s): %s%s%s",
                               job_id, (unsigned) peer->uid, profile, status,
                               r->message ? ": " : "", r->message ?: "",
                               "PRIORITY=%i", prio,
                               "PYWARD_JOB=%s", job_id,
                               "PYWARD_UID=%u", (unsigned) peer->uid,
                               "PYWARD_PID=%d", (int) peer->pid,
                               "PYWARD_STATUS=%s", status,
                               "PYWARD_UNIT=%s", r->unit ?: "",
                               "PYWARD_INVOCATION_ID=%s", r->invocation_id ?: "",
                               "PYWARD_PROFILE=%s", profile,
                               "PYWARD_EXIT_CODE=%d", r->exit_code,
                               "PYWARD_SIGNAL=%d", r->signal,
                               "PYWARD_T_MAIN=%" PRIu64, helper_t_main,
                               "PYWARD_T_BUS_OPEN=%" PRIu64, helper_t_bus_open,
                               "PYWARD_T_ACCEPT=%" PRIu64, t->accept,
                               "PYWARD_T_CONFIG=%" PRIu64, t->config,
                               "PYWARD_T_REQUEST=%" PRIu64, t->request,
                               "PYWARD_T_BUS=%" PRIu64, t->bus,
                               "PYWARD_T_START=%" PRIu64, t->start,
                               "PYWARD_T_EXEC=%" PRIu64, t->exec,
                               "PYWARD_T_EXIT=%" PRIu64, t->exit,
                               "PYWARD_T_RESULT=%" PRIu64, t->result ?: journal_now_usec(),
                               "PYWARD_HELPER_PEAK_RSS_KB=%ld", peak_rss_kb(),
                               "PYWARD_MAC=%s", mac_layers_started(),
                               "PYWARD_PATH=%s", r->warm ? "warm" : "cold",
                               SESSION_FIELD(session),
                               "PYWARD_CELLS=%" PRIu64, r->cells,
                               NULL);
        /* clang-format on */
}

void journal_cell(const char *job_id, uid_t uid, const char *unit, const CellResult *c) {
        const char *status = cell_status_to_string(c->status) ?: "?";
        char wall[32] = "", cpu[32] = "";

        if (c->wall_ms != RESULT_UNSET)
                (void) snprintf(wall, sizeof(wall), "%" PRIu64, c->wall_ms);
        if (c->cpu_ms != RESULT_UNSET)
                (void) snprintf(cpu, sizeof(cpu), "%" PRIu64, c->cpu_ms);
        /* clang-format off */
        (void) sd_journal_send("MESSAGE=Job %s cell %" PRIu64 ": %s (%s ms)", job_id, c->cell, status,
                               wall[0] ? wall : "?",
                               "PRIORITY=%i", LOG_INFO,
                               "PYWARD_EVENT=cell",
                               "PYWARD_JOB=%s", job_id,
                               "PYWARD_UID=%u", (unsigned) uid,
                               "PYWARD_UNIT=%s", unit ?: "",
                               "PYWARD_CELL=%" PRIu64, c->cell,
                               "PYWARD_CELL_STATUS=%s", status,
                               "PYWARD_WALL_MS=%s", wall,
                               "PYWARD_CPU_MS=%s", cpu,
                               NULL);
        /* clang-format on */
}

void journal_write_stall(const char *job_id, uid_t uid, const char *timespan) {
        /* clang-format off */
        (void) sd_journal_send("MESSAGE=Client (UID %u) of pyward job %s took no output for %s; giving up.",
                               (unsigned) uid, job_id, timespan,
                               "PRIORITY=%i", LOG_NOTICE,
                               "PYWARD_JOB=%s", job_id,
                               "PYWARD_UID=%u", (unsigned) uid,
                               "PYWARD_EVENT=write-stall",
                               NULL);
        /* clang-format on */
}
