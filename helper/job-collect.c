/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A job's end: once its unit is down, the Service interface's Result, ExecMain* (with their
 * timestamps), CPU time and memory peak become the JobResult, and Unref lets the manager collect
 * the unit. The first two come with the PropertiesChanged pair that says the unit is down, and a Get
 * of each of the other two completes them; without that pair, one GetAll reads all of them. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "job-internal.h"
#include "log.h"

/* The unit is down but its main process' exit is not recorded yet: read again, this often, at most
 * this many times. */
#define EXIT_REQUERY_USEC (100 * 1000U)
#define EXIT_REQUERY_MAX 30U

/* The times: wall_ms counts what RuntimeMaxSec= counts, from the unit's activation (Type=exec: the
 * job's execve() done, its sandbox built) to the exit; the sandbox's setup before it (tens of ms,
 * much more under emulation) is not the job's time. */
static void job_fill_usage(Job *j, const ServiceProps *p) {
        uint64_t start_ts = p->start_ts, exit_ts = p->exit_ts;
        bool have_peak = j->manager_version >= 256;

        /* A warm runner's: only what its job used, after the hand-off. */
        if (p->cpu != UINT64_MAX)
                j->result.cpu_ms = (p->cpu > j->cpu_base_nsec ? p->cpu - j->cpu_base_nsec : 0) / 1000000U;
        /* A warm runner's process was exec()ed long before its job: the job begins at the hand-off
         * (PYWARD_T_EXEC). */
        j->exec_start_usec = j->handoff_usec > 0 ? j->handoff_usec : start_ts;
        j->exec_exit_usec = exit_ts;
        if (j->active_enter_usec > start_ts && j->active_enter_usec <= exit_ts)
                start_ts = j->active_enter_usec;
        /* The end: when the kernel said the main process was gone, if we watched it (on_main_exit). */
        if (j->main_exit_usec >= start_ts && j->main_exit_usec < exit_ts)
                exit_ts = j->main_exit_usec;
        if (start_ts > 0 && exit_ts >= start_ts)
                j->result.wall_ms = (exit_ts - start_ts) / 1000U;
        if (have_peak && p->peak != UINT64_MAX)
                j->result.memory_peak_bytes = p->peak;
        else {
                char buf[96];

                if (have_peak)
                        (void) snprintf(buf, sizeof(buf), "memory accounting not available");
                else
                        (void) snprintf(buf, sizeof(buf), "not available on systemd %u", j->manager_version);
                j->result.memory_peak_reason = strdup(buf);
        }
}

static void job_fill_result(Job *j, const ServiceProps *p) {
        UnitOutcome o;

        if (p->code == 0 && p->start_ts > 0)
                log_warning(
                        "Job unit %s: the manager recorded no exit status for its main process "
                        "(Result=%s).",
                        j->unit, p->result ?: "?");
        o = (UnitOutcome) {
                .result = p->result,
                .exec_main_code = p->code,
                .exec_main_status = p->status,
                /* The start job's result, if its JobRemoved came; else: the unit never became
                 * active (Type=exec: its execve() never happened). */
                .start_failed =
                        j->active_enter_usec == 0 &&
                        (j->start_job_result ? strcmp(j->start_job_result, "done") != 0
                                             : (p->code == 0 || (p->code == CLD_EXITED &&
                                                                 exit_status_setup_name(p->status) != NULL))),
                .start_job_result = j->start_job_result,
                .stopped_externally = j->stopped_externally,
                .stop_reason = j->stop_reason,
        };
        if (job_outcome_to_result(&o, &j->result) < 0)
                log_oom();
        /* Refused after a re-read (job_start_refused()): it never ran, and nobody stopped it. */
        j->start_refused = o.start_failed && j->load_refused && p->code == 0 && p->start_ts == 0 &&
                           o.stop_reason == JOB_STOP_NONE && !o.stopped_externally;
        job_fill_usage(j, p);
}

static void job_collected(Job *j, const ServiceProps *p) {
        int r;

        job_fill_result(j, p);
        /* Drop the reference AddRef=yes gave us; the manager then collects the unit. The result is
         * complete already: it goes to the client without waiting for the reply (a round trip of the
         * manager at every job's end); the call is on the wire before the result is. */
        r = manager_unref_unit(j->bus, j->unit_path);
        if (r < 0)
                log_debug_errno(r, "Failed to call Unref on %s: %m", j->unit);
        job_set_state(j, JOB_STATE_DONE);
}

/* The Service interface's properties of the result in m (a GetAll's reply, or its PropertiesChanged
 * with usage false: CPUUsageNSec and MemoryPeak emit no change); *result owned by the caller. What m
 * lacks keeps the value p had. */
static int service_props_read(sd_bus_message *m, ServiceProps *p, char **result, bool usage) {
        ManagerProp props[] = {
                { "Result", "s", result },
                { "ExecMainCode", "i", &p->code },
                { "ExecMainStatus", "i", &p->status },
                { "ExecMainStartTimestampMonotonic", "t", &p->start_ts },
                { "ExecMainExitTimestampMonotonic", "t", &p->exit_ts },
                { "CPUUsageNSec", "t", &p->cpu },
                { "MemoryPeak", "t", &p->peak },
        };

        return manager_read_props(m, props, usage ? ELEMENTSOF(props) : ELEMENTSOF(props) - 2);
}

static int on_service_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        _cleanup_free_ char *result = NULL;
        ServiceProps p = { .cpu = UINT64_MAX, .peak = UINT64_MAX };
        const sd_bus_error *e;
        int r;

        j->slot_call = sd_bus_slot_unref(j->slot_call);
        e = manager_reply_error(m);
        if (e) {
                if (manager_retry_later(&j->retry, job_event(j), e, "reading the result")) {
                        j->retry_collect = true;
                        return 0;
                }
                job_fail(j, -EIO, "could not read the job's result: %s", e->message);
                return 0;
        }
        manager_retry_over(&j->retry);
        r = service_props_read(m, &p, &result, true);
        if (r < 0) {
                job_fail(j, r, "could not parse the job's result");
                return 0;
        }
        p.result = result;
        /* The main process ran but its exit is not on record yet (the unit can be seen down an
         * instant before the manager has reaped and recorded its main process): read again. A
         * start that failed before the fork has no start timestamp and is reported at once. */
        if ((p.code == 0 || p.exit_ts == 0) && p.start_ts > 0 && j->exit_requeries < EXIT_REQUERY_MAX) {
                j->exit_requeries++;
                log_debug("Job unit %s is down but its exit is not recorded yet; reading again.", j->unit);
                j->retry_collect = true;
                if (manager_retry_schedule(&j->retry, job_event(j), EXIT_REQUERY_USEC) >= 0)
                        return 0;
                j->retry_collect = false;
        }
        job_collected(j, &p);
        return 0;
}

/* The main process ran but the signal does not show its exit recorded, or the signal lacked a
 * value: the GetAll path, which reads again until it is. */
static bool signal_complete(const ServiceProps *p) {
        return p->result && p->start_ts != UINT64_MAX && p->exit_ts != UINT64_MAX &&
               !((p->code == 0 || p->exit_ts == 0) && p->start_ts > 0);
}

/* Every property a unit's PropertiesChanged of the Service interface carries (Result and ExecMain*
 * emit changes on 252 and 257), kept until the Unit interface's signal that follows it. */
void job_collect_note_signal(Job *j, sd_bus_message *m) {
        _cleanup_free_ char *result = NULL;
        ServiceProps p = { .code = -1, .start_ts = UINT64_MAX, .exit_ts = UINT64_MAX };

        j->signal_unpaired = false;
        job_collect_done(j);
        j->signalled = (ServiceProps) {};
        if (service_props_read(m, &p, &result, false) < 0 || p.code < 0)
                return;
        p.result = TAKE_PTR(result);
        j->signalled = p;
        j->signal_unpaired = true;
}

void job_collect_done(Job *j) {
        free(j->signalled.result);
        j->signalled.result = NULL;
}

/* The signal's path given up (a Get that failed or could not be sent): GetAll from now on. */
static void collect_signalled_drop(Job *j) {
        j->collect_signalled = false;
        j->slot_call = sd_bus_slot_unref(j->slot_call);
        j->slot_peak = sd_bus_slot_unref(j->slot_peak);
}

/* A Get of CPUUsageNSec or MemoryPeak; the other one's reply may still be on its way. An error
 * takes the GetAll path, with its retries. */
static int on_usage_read(sd_bus_message *m, sd_bus_slot **slot, uint64_t *ret, Job *j) {
        const sd_bus_error *e = manager_reply_error(m);
        uint64_t v;

        *slot = sd_bus_slot_unref(*slot);
        if (e || sd_bus_message_read(m, "v", "t", &v) < 0) {
                log_debug("Job unit %s: reading its usage failed (%s); reading all of it.", j->unit,
                          e ? e->message : "bad reply");
                collect_signalled_drop(j);
                job_collect_call(j);
                return 0;
        }
        *ret = v;
        if (!j->slot_call && !j->slot_peak)
                job_collected(j, &j->signalled);
        return 0;
}

static int on_cpu_read(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;

        return on_usage_read(m, &j->slot_call, &j->signalled.cpu, j);
}

static int on_peak_read(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;

        return on_usage_read(m, &j->slot_peak, &j->signalled.peak, j);
}

void job_collect_call(Job *j) {
        int r;

        if (j->state == JOB_STATE_DONE || j->slot_call || j->slot_peak)
                return;
        /* The pair of signals said all but the usage: a GetAll's ~16 KiB reply, built by the manager
         * while it takes units down, for two numbers is the longest step of a job's end (1.5 ms of
         * 4.2 on systemd 257). */
        if (j->collect_signalled && signal_complete(&j->signalled)) {
                j->signalled.cpu = j->signalled.peak = UINT64_MAX;
                r = manager_get_service_property(j->bus, &j->slot_call, j->unit_path, "CPUUsageNSec",
                                                 on_cpu_read, j);
                if (r >= 0 && j->manager_version >= 256)
                        r = manager_get_service_property(j->bus, &j->slot_peak, j->unit_path, "MemoryPeak",
                                                         on_peak_read, j);
                if (r >= 0)
                        return;
                collect_signalled_drop(j);
        }
        r = manager_get_service_props(j->bus, &j->slot_call, j->unit_path, on_service_props, j);
        if (r < 0)
                job_fail(j, r, "could not ask for the job's result");
}
