/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives one transient unit like systemd-run --wait: matches first, then StartTransientUnit(); "done"
 * is ActiveState inactive/failed with no job pending; the outcome comes from Result and ExecMain*. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "macro.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define SD_SERVICE "org.freedesktop.systemd1.Service"
#define CPU_POLL_USEC (100 * 1000U)
/* The safety net under the signals: while the job runs, its unit's state is read this often anyway
 * (a signal can be lost: a manager that re-executes, a bus that drops messages under load). */
#define RECHECK_USEC (2 * 1000 * 1000U)
/* A call the manager could not answer because it is away (daemon-reexec) is retried this often,
 * for at most this long. */
#define RETRY_USEC (200 * 1000U)
#define RETRY_MAX_USEC (10 * 1000 * 1000U)
/* The unit is down but its main process' exit is not recorded yet: read again, this often, at most
 * this many times. */
#define EXIT_REQUERY_USEC (100 * 1000U)
#define EXIT_REQUERY_MAX 30U
/* How long a unit may look down, without a job and without having run, before that is believed. */
#define UNSTARTED_USEC (5 * 1000 * 1000U)

struct Job {
        sd_bus *bus;
        char *id;
        char *unit;
        char *unit_path;
        unsigned manager_version;

        sd_bus_slot *slot_properties;
        sd_bus_slot *slot_job_new;
        sd_bus_slot *slot_job_removed;
        sd_bus_slot *slot_call;    /* StartTransientUnit, then the final GetAll and Unref */
        sd_bus_slot *slot_refresh; /* GetAll of the Unit interface */
        sd_bus_slot *slot_cpu;
        sd_bus_slot *slot_stop;
        sd_bus_slot *slot_subscribe;
        sd_bus_slot *slot_pid;        /* Get of MainPID, twice: see on_main_pid() */
        sd_event_source *cpu_timer;
        sd_event_source *recheck_timer; /* periodic refresh while the job runs */
        sd_event_source *retry_timer;   /* a call to repeat after a transient bus error */
        sd_event_source *wall_timer;    /* the wall-clock limit, from the unit's activation */
        uint64_t wall_limit_usec; /* 0: none */
        uint64_t cpu_limit_nsec; /* UINT64_MAX: none */
        uint64_t transient_since; /* CLOCK_MONOTONIC usec of the first transient error in a row; 0: none */
        unsigned exit_requeries;
        uint64_t unstarted_since; /* CLOCK_MONOTONIC usec since when the unit looks down without having run */
        bool retry_refresh, retry_collect, retry_stop;

        bool start_replied;
        bool start_job_done;
        char *start_job_result;
        char *start_job_path; /* from StartTransientUnit()'s reply: which JobRemoved is the start job's */
        unsigned n_jobs_seen;
        bool stopped_externally;
        JobStopReason stop_reason;
        bool refresh_again;
        bool collecting;
        bool done;
        uint64_t exec_start_usec, exec_exit_usec;
        uint64_t active_enter_usec; /* when the unit became active: Type=exec, after the execve() */
        int pidfd;                    /* the main process, once it is known for certain; else -EBADF */
        uint32_t main_pid;            /* what pidfd was opened on */
        sd_event_source *pidfd_source;
        uint64_t main_exit_usec;      /* CLOCK_MONOTONIC when pidfd said the process had died; 0: not seen */

        JobResult result;
        job_event_func_t event_cb;
        void *userdata;
};

/* systemd's EXIT_* codes (src/basic/exit-status.h) of a service that failed before its execve(). */
const char *exit_status_setup_name(int status) {
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

        /* The sandbox could not be set up: the manager's own exit code, before the job's execve(). */
        if (o->start_failed) {
                const char *name = o->exec_main_code == CLD_EXITED ?
                        exit_status_setup_name(o->exec_main_status) : NULL;

                r->status = JOB_ERROR;
                r->exit_code = -1;
                r->signal = 0;
                /* 217/USER: the job user does not exist (systemd-sysusers not run after install). */
                if (name)
                        return set_message(r, "the job's sandbox could not be set up: %d/%s%s",
                                           o->exec_main_status, name,
                                           o->exec_main_status == 217 ?
                                           " (is pyward's job user missing? run systemd-sysusers)" : "");
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
        case JOB_STOP_CANCEL:
        case JOB_STOP_DISCONNECT:
                r->status = JOB_KILLED;
                return set_message(r, o->stop_reason == JOB_STOP_CANCEL ? "cancelled by the client" :
                                                                           "the client disconnected");
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

int job_new(sd_bus *bus, const char *id, unsigned manager_version, Job **ret) {
        _cleanup_(job_freep) Job *j = NULL;
        int r;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->bus = sd_bus_ref(bus);
        j->manager_version = manager_version;
        j->cpu_limit_nsec = UINT64_MAX;
        j->pidfd = -EBADF;
        j->result = (JobResult) {
                .exit_code = -1,
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
        };
        j->id = strdup(id);
        if (!j->id || asprintf(&j->unit, JOB_UNIT_FMT, id) < 0)
                return -ENOMEM;
        r = sd_bus_path_encode(SD_PATH "/unit", j->unit, &j->unit_path);
        if (r < 0)
                return r;
        j->result.job = strdup(id);
        j->result.unit = strdup(j->unit);
        if (!j->result.job || !j->result.unit)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        sd_bus_slot_unref(j->slot_properties);
        sd_bus_slot_unref(j->slot_job_new);
        sd_bus_slot_unref(j->slot_job_removed);
        sd_bus_slot_unref(j->slot_call);
        sd_bus_slot_unref(j->slot_refresh);
        sd_bus_slot_unref(j->slot_cpu);
        sd_bus_slot_unref(j->slot_stop);
        sd_bus_slot_unref(j->slot_subscribe);
        sd_bus_slot_unref(j->slot_pid);
        sd_event_source_disable_unref(j->pidfd_source);
        safe_close(j->pidfd);
        sd_event_source_disable_unref(j->cpu_timer);
        sd_event_source_disable_unref(j->recheck_timer);
        sd_event_source_disable_unref(j->retry_timer);
        sd_event_source_disable_unref(j->wall_timer);
        sd_bus_unref(j->bus);
        job_result_done(&j->result);
        free(j->start_job_result);
        free(j->start_job_path);
        free(j->unit_path);
        free(j->unit);
        free(j->id);
        free(j);
        return NULL;
}

bool job_is_done(const Job *j) {
        return j->done;
}

const char *job_unit(const Job *j) {
        return j->unit;
}

void job_exec_timestamps(const Job *j, uint64_t *ret_exec, uint64_t *ret_exit) {
        *ret_exec = j->exec_start_usec;
        *ret_exit = j->exec_exit_usec;
}

JobResult *job_result(Job *j) {
        return &j->result;
}

static void job_finish(Job *j) {
        if (j->done)
                return;
        j->done = true;
        j->cpu_timer = sd_event_source_disable_unref(j->cpu_timer);
        j->recheck_timer = sd_event_source_disable_unref(j->recheck_timer);
        j->retry_timer = sd_event_source_disable_unref(j->retry_timer);
        j->wall_timer = sd_event_source_disable_unref(j->wall_timer);
        j->slot_properties = sd_bus_slot_unref(j->slot_properties);
        j->slot_job_new = sd_bus_slot_unref(j->slot_job_new);
        j->slot_job_removed = sd_bus_slot_unref(j->slot_job_removed);
        j->slot_refresh = sd_bus_slot_unref(j->slot_refresh);
        j->slot_cpu = sd_bus_slot_unref(j->slot_cpu);
        if (j->event_cb)
                j->event_cb(j, JOB_EVENT_DONE, j->userdata);
}

static void job_fail(Job *j, int error, const char *fmt, ...) _printf_(3, 4);
static void job_fail(Job *j, int error, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        j->result.status = JOB_ERROR;
        free(j->result.message);
        j->result.message = m;
        log_error_errno(error, "Job %s: %s", j->unit, m ?: "failed");
        job_finish(j);
}

/* The manager is away for a moment (daemon-reexec, or it is busy beyond the bus' reply timeout): the
 * call is worth repeating. Anything else is an answer. */
static bool bus_error_is_transient(const sd_bus_error *e) {
        static const char *const names[] = {
                SD_BUS_ERROR_NO_REPLY,           /* "recipient disconnected ... without replying" */
                SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                SD_BUS_ERROR_SERVICE_UNKNOWN,
                SD_BUS_ERROR_TIMEOUT,
                "org.freedesktop.DBus.Error.TimedOut",
        };

        if (!e || !e->name)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (sd_bus_error_has_name(e, names[i]))
                        return true;
        /* dbus-daemon tries to activate a name nobody owns; systemd's activation file fails. */
        return strncmp(e->name, "org.freedesktop.DBus.Error.Spawn.", 33) == 0;
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata);

static int job_schedule_retry(Job *j, uint64_t usec) {
        int r;

        if (j->retry_timer) {
                r = sd_event_source_set_time_relative(j->retry_timer, usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(j->retry_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(sd_bus_get_event(j->bus), &j->retry_timer, CLOCK_MONOTONIC,
                                               usec, 10 * 1000U, on_retry_timer, j);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the retry timer of %s: %m", j->unit);
        return 0;
}

/* After a transient error: true if the call is to be repeated (a retry is armed), false if the
 * caller is to give up, because the error is not transient or the manager was away too long. */
static bool job_retry_later(Job *j, const sd_bus_error *e, const char *what) {
        uint64_t now = 0;

        if (!bus_error_is_transient(e))
                return false;
        (void) sd_event_now(sd_bus_get_event(j->bus), CLOCK_MONOTONIC, &now);
        if (j->transient_since == 0) {
                j->transient_since = now;
                log_notice("Job unit %s: %s failed (%s), the manager is away; retrying.", j->unit, what,
                           e->message ?: e->name);
        } else if (now - j->transient_since > RETRY_MAX_USEC) {
                log_error("Job unit %s: the manager did not come back within %u s.", j->unit,
                          (unsigned) (RETRY_MAX_USEC / 1000000U));
                return false;
        }
        return job_schedule_retry(j, RETRY_USEC) >= 0;
}

static void job_transient_over(Job *j) {
        if (j->transient_since == 0)
                return;
        j->transient_since = 0;
        log_info("Job unit %s: the manager answers again.", j->unit);
}

/* Reads the properties named in the table from a GetAll() reply; the rest is skipped. */
typedef struct BusProp {
        const char *name;
        const char *sig; /* "s", "t", "i", "u", "ay" (16 bytes: an id128), "(uo)" (only the id) */
        void *ptr;
} BusProp;

static int read_props(sd_bus_message *m, const BusProp *props, size_t n) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const BusProp *p = NULL;
                const char *name;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (strcmp(props[i].name, name) == 0)
                                p = &props[i];
                if (!p) {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                } else {
                        r = sd_bus_message_enter_container(m, 'v', p->sig);
                        if (r < 0)
                                return r;
                        if (strcmp(p->sig, "s") == 0) {
                                const char *s;
                                char *c;

                                r = sd_bus_message_read(m, "s", &s);
                                if (r < 0)
                                        return r;
                                c = strdup(s);
                                if (!c)
                                        return -ENOMEM;
                                free(*(char **) p->ptr);
                                *(char **) p->ptr = c;
                        } else if (strcmp(p->sig, "ay") == 0) {
                                const void *v;
                                size_t sz;

                                r = sd_bus_message_read_array(m, 'y', &v, &sz);
                                if (r < 0)
                                        return r;
                                if (sz == 16)
                                        memcpy(p->ptr, v, 16);
                        } else if (strcmp(p->sig, "(uo)") == 0) {
                                const char *path;

                                r = sd_bus_message_read(m, "(uo)", (uint32_t *) p->ptr, &path);
                        } else
                                r = sd_bus_message_read_basic(m, p->sig[0], p->ptr);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

static int on_unref_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;

        j->slot_call = sd_bus_slot_unref(j->slot_call);
        if (sd_bus_message_is_method_error(m, NULL))
                log_debug("Unref of %s failed: %s", j->unit, sd_bus_message_get_error(m)->message);
        job_finish(j);
        return 0;
}

static int on_service_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        _cleanup_free_ char *result = NULL;
        int32_t code = 0, status = 0;
        uint64_t cpu = UINT64_MAX, peak = UINT64_MAX, start_ts = 0, exit_ts = 0;
        bool have_peak = false;
        BusProp props[] = {
                { "Result", "s", &result },
                { "ExecMainCode", "i", &code },
                { "ExecMainStatus", "i", &status },
                { "CPUUsageNSec", "t", &cpu },
                { "MemoryPeak", "t", &peak },
                { "ExecMainStartTimestampMonotonic", "t", &start_ts },
                { "ExecMainExitTimestampMonotonic", "t", &exit_ts },
        };
        UnitOutcome o;
        int r;

        j->slot_call = sd_bus_slot_unref(j->slot_call);
        if (sd_bus_message_is_method_error(m, NULL)) {
                if (job_retry_later(j, sd_bus_message_get_error(m), "reading the result")) {
                        j->retry_collect = true;
                        return 0;
                }
                job_fail(j, -EIO, "could not read the job's result: %s", sd_bus_message_get_error(m)->message);
                return 0;
        }
        job_transient_over(j);
        r = read_props(m, props, ELEMENTSOF(props));
        if (r < 0) {
                job_fail(j, r, "could not parse the job's result");
                return 0;
        }
        /* The main process ran but its exit is not on record yet (the unit can be seen down an
         * instant before the manager has reaped and recorded its main process): read again. A
         * start that failed before the fork has no start timestamp and is reported at once. */
        if ((code == 0 || exit_ts == 0) && start_ts > 0 && j->exit_requeries < EXIT_REQUERY_MAX) {
                j->exit_requeries++;
                log_debug("Job unit %s is down but its exit is not recorded yet; reading again.", j->unit);
                j->retry_collect = true;
                if (job_schedule_retry(j, EXIT_REQUERY_USEC) >= 0)
                        return 0;
                j->retry_collect = false;
        }
        if (code == 0 && start_ts > 0)
                log_warning("Job unit %s: the manager recorded no exit status for its main process "
                            "(Result=%s).", j->unit, result ?: "?");
        have_peak = j->manager_version >= 256;
        o = (UnitOutcome) {
                .result = result,
                .exec_main_code = code,
                .exec_main_status = status,
                /* The start job's result, if its JobRemoved came; else: the unit never became
                 * active (Type=exec: its execve() never happened). */
                .start_failed = j->active_enter_usec == 0 &&
                                (j->start_job_result ? strcmp(j->start_job_result, "done") != 0 :
                                 (code == 0 || (code == CLD_EXITED && exit_status_setup_name(status) != NULL))),
                .start_job_result = j->start_job_result,
                .stopped_externally = j->stopped_externally,
                .stop_reason = j->stop_reason,
        };
        r = job_outcome_to_result(&o, &j->result);
        if (r < 0)
                log_oom();
        if (cpu != UINT64_MAX)
                j->result.cpu_ms = cpu / 1000000U;
        j->exec_start_usec = start_ts;
        j->exec_exit_usec = exit_ts;
        /* wall_ms counts what RuntimeMaxSec= counts: from the unit's activation (Type=exec: the
         * job's execve() done, its sandbox built) to the exit; the sandbox's setup before it (tens
         * of ms, much more under emulation) is not the job's time. */
        if (j->active_enter_usec > start_ts && j->active_enter_usec <= exit_ts)
                start_ts = j->active_enter_usec;
        /* The end: when the kernel said the main process was gone, if we watched it (on_main_exit). */
        if (j->main_exit_usec >= start_ts && j->main_exit_usec < exit_ts)
                exit_ts = j->main_exit_usec;
        if (start_ts > 0 && exit_ts >= start_ts)
                j->result.wall_ms = (exit_ts - start_ts) / 1000U;
        if (have_peak && peak != UINT64_MAX)
                j->result.memory_peak_bytes = peak;
        else {
                char buf[96];

                if (have_peak)
                        (void) snprintf(buf, sizeof(buf), "memory accounting not available");
                else
                        (void) snprintf(buf, sizeof(buf), "not available on systemd %u", j->manager_version);
                j->result.memory_peak_reason = strdup(buf);
        }

        /* Drop the reference AddRef=yes gave us; the manager then collects the unit. */
        r = sd_bus_call_method_async(j->bus, &j->slot_call, SD_DEST, j->unit_path, SD_UNIT, "Unref",
                                     on_unref_reply, j, NULL);
        if (r < 0) {
                log_debug_errno(r, "Failed to call Unref on %s: %m", j->unit);
                job_finish(j);
        }
        return 0;
}

static void job_collect_call(Job *j) {
        int r;

        if (j->done || j->slot_call)
                return;
        r = sd_bus_call_method_async(j->bus, &j->slot_call, SD_DEST, j->unit_path,
                                     "org.freedesktop.DBus.Properties", "GetAll", on_service_props, j,
                                     "s", SD_SERVICE);
        if (r < 0)
                job_fail(j, r, "could not ask for the job's result");
}

static void job_collect(Job *j) {
        if (j->collecting)
                return;
        j->collecting = true;
        j->cpu_timer = sd_event_source_disable_unref(j->cpu_timer);
        j->recheck_timer = sd_event_source_disable_unref(j->recheck_timer);
        j->wall_timer = sd_event_source_disable_unref(j->wall_timer);
        j->retry_refresh = false;
        job_collect_call(j);
}

static int on_wall_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;

        j->wall_timer = sd_event_source_disable_unref(j->wall_timer);
        log_info("Job unit %s reached its wall-clock limit of %" PRIu64 " ms; stopping it.", j->unit,
                 j->wall_limit_usec / 1000U);
        (void) job_stop(j, JOB_STOP_TIMEOUT);
        return 0;
}

/* RuntimeMaxSec= ends the job too, but the manager's timer may fire up to 250 ms late (sd-event's
 * default accuracy): ours, from the same activation time on the same clock, is armed to within a
 * millisecond, and RuntimeMaxSec= (a second later) is the layer under it. */
static void job_arm_wall_timer(Job *j) {
        int r;

        if (j->wall_limit_usec == 0 || j->wall_timer || j->collecting || j->done)
                return;
        r = sd_event_add_time(sd_bus_get_event(j->bus), &j->wall_timer, CLOCK_MONOTONIC,
                              j->active_enter_usec + j->wall_limit_usec, 1000U, on_wall_timer, j);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the wall-clock timer of %s, RuntimeMaxSec= remains: %m",
                                  j->unit);
}

/* The main process' end as the kernel reports it, to the millisecond: the manager records it only
 * once it has reaped the process, which can be 100 ms later on a busy machine (under emulation), and
 * the wall-clock limit is about the job, not about the manager's latency. */
static int on_main_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Job *j = userdata;

        /* The loop's wake-up time: when epoll said the pidfd was readable. */
        (void) sd_event_now(sd_bus_get_event(j->bus), CLOCK_MONOTONIC, &j->main_exit_usec);
        j->pidfd_source = sd_event_source_disable_unref(j->pidfd_source);
        j->pidfd = safe_close(j->pidfd);
        return 0;
}

static void job_ask_main_pid(Job *j);

/* MainPID is asked twice around pidfd_open(): if the manager still names the same PID after the
 * pidfd exists, it had not reaped that process by then, so the PID cannot have been reused in
 * between and the pidfd is the job's main process. Anything else: no pidfd, and wall_ms comes from
 * the manager's record alone. */
static int on_main_pid(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        uint32_t pid = 0;
        int r;

        j->slot_pid = sd_bus_slot_unref(j->slot_pid);
        if (sd_bus_message_is_method_error(m, NULL) || sd_bus_message_read(m, "v", "u", &pid) < 0 ||
            pid == 0 || j->done || j->collecting || (j->pidfd >= 0 && pid != j->main_pid)) {
                j->pidfd = safe_close(j->pidfd);
                return 0;
        }
        if (j->pidfd < 0) {
                j->pidfd = pidfd_open((pid_t) pid, 0);
                if (j->pidfd < 0) {
                        log_debug_errno(errno, "pidfd_open(%" PRIu32 ") of %s failed: %m", pid, j->unit);
                        j->pidfd = -EBADF;
                        return 0;
                }
                j->main_pid = pid;
                job_ask_main_pid(j);
                return 0;
        }
        r = sd_event_add_io(sd_bus_get_event(j->bus), &j->pidfd_source, j->pidfd, EPOLLIN, on_main_exit, j);
        if (r < 0) {
                log_debug_errno(r, "Cannot watch the main process of %s: %m", j->unit);
                j->pidfd = safe_close(j->pidfd);
        }
        return 0;
}

static void job_ask_main_pid(Job *j) {
        if (sd_bus_call_method_async(j->bus, &j->slot_pid, SD_DEST, j->unit_path,
                                     "org.freedesktop.DBus.Properties", "Get", on_main_pid, j, "ss",
                                     SD_SERVICE, "MainPID") < 0)
                j->pidfd = safe_close(j->pidfd);
}

static int job_refresh(Job *j);

static int on_unit_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        _cleanup_free_ char *active = NULL;
        uint32_t job_id = 0;
        uint8_t invocation[16] = {};
        uint64_t active_enter = 0, inactive_exit = 0, now = 0;
        BusProp props[] = {
                { "ActiveState", "s", &active },
                { "Job", "(uo)", &job_id },
                { "InvocationID", "ay", invocation },
                { "ActiveEnterTimestampMonotonic", "t", &active_enter },
                { "InactiveExitTimestampMonotonic", "t", &inactive_exit },
        };
        bool down;
        int r;

        j->slot_refresh = sd_bus_slot_unref(j->slot_refresh);
        if (sd_bus_message_is_method_error(m, NULL)) {
                if (job_retry_later(j, sd_bus_message_get_error(m), "reading the unit's state")) {
                        j->retry_refresh = true;
                        return 0;
                }
                job_fail(j, -EIO, "could not watch the job's unit: %s", sd_bus_message_get_error(m)->message);
                return 0;
        }
        job_transient_over(j);
        r = read_props(m, props, ELEMENTSOF(props));
        if (r < 0) {
                job_fail(j, r, "could not parse the job's unit state");
                return 0;
        }
        if (active_enter > 0 && j->active_enter_usec == 0) {
                j->active_enter_usec = active_enter;
                job_arm_wall_timer(j);
                job_ask_main_pid(j);
        }
        log_debug("Job unit %s: ActiveState=%s, job %" PRIu32 ", start job %s.", j->unit, active ?: "?",
                  job_id, j->start_job_done ? "done" : "pending");
        if (!j->result.invocation_id) {
                static const uint8_t zero[16] = {};

                if (memcmp(invocation, zero, 16) != 0) {
                        char s[33];

                        for (size_t i = 0; i < 16; i++)
                                (void) snprintf(s + 2 * i, 3, "%02x", invocation[i]);
                        j->result.invocation_id = strdup(s);
                }
        }
        /* Done: the unit is down with no job pending, and either we saw its start job end
         * (JobRemoved) or the unit has left "inactive" since (it ran; its start job is over). The
         * second holds even when a JobRemoved was lost (under load, or while the manager
         * re-executes). A unit that looks down with no job but never ran is not trusted at once:
         * 252 shows that for a moment around a daemon-reload while the start job still waits; only
         * if it stays so for UNSTARTED_USEC (a lost JobRemoved of a start job that failed) is it
         * done. */
        down = job_id == 0 && active && (strcmp(active, "inactive") == 0 || strcmp(active, "failed") == 0);
        if (down && (j->start_job_done || inactive_exit > 0)) {
                job_collect(j);
                return 0;
        }
        if (down) {
                (void) sd_event_now(sd_bus_get_event(j->bus), CLOCK_MONOTONIC, &now);
                if (j->unstarted_since == 0)
                        j->unstarted_since = now;
                else if (now - j->unstarted_since >= UNSTARTED_USEC) {
                        log_warning("Job unit %s stayed down without having run and without a start job "
                                    "for %u s; taking it as failed to start.", j->unit,
                                    (unsigned) (UNSTARTED_USEC / 1000000U));
                        job_collect(j);
                        return 0;
                }
        } else
                j->unstarted_since = 0;
        if (j->refresh_again) {
                j->refresh_again = false;
                (void) job_refresh(j);
        }
        return 0;
}

static int job_refresh(Job *j) {
        int r;

        if (!j->start_replied || j->collecting || j->done)
                return 0;
        if (j->slot_refresh) {
                j->refresh_again = true;
                return 0;
        }
        r = sd_bus_call_method_async(j->bus, &j->slot_refresh, SD_DEST, j->unit_path,
                                     "org.freedesktop.DBus.Properties", "GetAll", on_unit_props, j, "s",
                                     SD_UNIT);
        if (r < 0)
                job_fail(j, r, "could not query the job's unit");
        return r;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        log_debug("PropertiesChanged on %s", sd_bus_message_get_path(m));
        (void) job_refresh(userdata);
        return 0;
}

static int on_job_new(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const char *path, *unit;
        uint32_t id;

        if (sd_bus_message_read(m, "uos", &id, &path, &unit) < 0 || strcmp(unit, j->unit) != 0)
                return 0;
        log_debug("JobNew %" PRIu32 " %s %s", id, path, unit);

        /* The first job on our unit is our start job; any later one we did not queue ourselves (we
         * record a reason before we call StopUnit) was queued by someone else: systemctl stop. */
        if (j->n_jobs_seen++ > 0 && j->stop_reason == JOB_STOP_NONE && !j->stopped_externally) {
                j->stopped_externally = true;
                log_info("Job unit %s is being stopped by someone else.", j->unit);
        }
        return 0;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(m, "uoss", &id, &path, &unit, &result);
        if (r < 0 || strcmp(unit, j->unit) != 0)
                return 0;
        log_debug("JobRemoved %" PRIu32 " %s %s: %s", id, path, unit, result);
        /* Only the start job's end says whether the unit started; another job's (a stop job, or
         * one the manager reports around a re-exec) does not. */
        if (!j->start_job_done && (!j->start_job_path || strcmp(path, j->start_job_path) == 0)) {
                j->start_job_done = true;
                j->start_job_result = strdup(result);
                if (!j->start_job_result)
                        log_oom();
                if (strcmp(result, "done") != 0)
                        log_warning("Job unit %s failed to start: start job result %s.", j->unit, result);
        }
        (void) job_refresh(j);
        return 0;
}

static int on_subscribe_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;

        j->slot_subscribe = sd_bus_slot_unref(j->slot_subscribe);
        /* "already subscribed" is what a manager that kept us across its re-exec says. */
        if (sd_bus_message_is_method_error(m, NULL))
                log_debug("Subscribe: %s", sd_bus_message_get_error(m)->message);
        return 0;
}

static int job_send_stop(Job *j);

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;
        int r;

        if (j->done)
                return 0;
        /* A re-executed manager may not send us the unit's signals any more: subscribe again. */
        if (j->transient_since > 0 && !j->slot_subscribe) {
                r = sd_bus_call_method_async(j->bus, &j->slot_subscribe, SD_DEST, SD_PATH, SD_MANAGER,
                                             "Subscribe", on_subscribe_reply, j, NULL);
                if (r < 0)
                        log_debug_errno(r, "Failed to call Subscribe: %m");
        }
        if (j->retry_stop) {
                j->retry_stop = false;
                (void) job_send_stop(j);
        }
        if (j->retry_collect) {
                j->retry_collect = false;
                job_collect_call(j);
        } else if (j->retry_refresh) {
                j->retry_refresh = false;
                (void) job_refresh(j);
        }
        return 0;
}

static int on_recheck_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;
        int r;

        if (j->collecting || j->done)
                return 0;
        (void) job_refresh(j);
        r = sd_event_source_set_time_relative(s, RECHECK_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return r < 0 ? log_error_errno(r, "Failed to re-arm the recheck timer: %m") : 0;
}

static int on_cpu_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        uint64_t nsec;

        j->slot_cpu = sd_bus_slot_unref(j->slot_cpu);
        if (sd_bus_message_is_method_error(m, NULL))
                return 0;
        if (sd_bus_message_read(m, "v", "t", &nsec) < 0)
                return 0;
        if (nsec != UINT64_MAX && nsec > j->cpu_limit_nsec) {
                log_info("Job unit %s used %" PRIu64 " ms of CPU, over its limit; stopping it.", j->unit,
                         nsec / 1000000U);
                (void) job_stop(j, JOB_STOP_CPU_LIMIT);
        }
        return 0;
}

static int on_cpu_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;
        int r;

        if (j->collecting || j->done)
                return 0;
        if (!j->slot_cpu && j->start_replied) {
                r = sd_bus_call_method_async(j->bus, &j->slot_cpu, SD_DEST, j->unit_path,
                                             "org.freedesktop.DBus.Properties", "Get", on_cpu_reply, j,
                                             "ss", SD_SERVICE, "CPUUsageNSec");
                if (r < 0)
                        log_debug_errno(r, "Failed to poll CPUUsageNSec: %m");
        }
        r = sd_event_source_set_time_relative(s, CPU_POLL_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return r < 0 ? log_error_errno(r, "Failed to re-arm the CPU poll timer: %m") : 0;
}

static int on_start_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        int r;

        j->slot_call = sd_bus_slot_unref(j->slot_call);
        if (sd_bus_message_is_method_error(m, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(m);

                job_fail(j, -sd_bus_error_get_errno(e), "systemd refused to start the job: %s",
                         e->message ?: e->name);
                return 0;
        }
        j->start_replied = true;
        {
                const char *path;

                if (sd_bus_message_read(m, "o", &path) >= 0) {
                        j->start_job_path = strdup(path);
                        if (!j->start_job_path)
                                log_oom();
                }
        }
        r = sd_event_add_time_relative(sd_bus_get_event(j->bus), &j->recheck_timer, CLOCK_MONOTONIC,
                                       RECHECK_USEC, 100 * 1000U, on_recheck_timer, j);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the recheck timer of %s: %m", j->unit);
        if (j->event_cb)
                j->event_cb(j, JOB_EVENT_STARTED, j->userdata);
        /* A stop asked for before the manager knew the unit is sent now. */
        if (j->stop_reason != JOB_STOP_NONE)
                (void) job_send_stop(j);
        (void) job_refresh(j);
        return 0;
}

int job_start(Job *j, const JobSpec *spec, uint64_t cpu_limit_usec, job_event_func_t cb, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        j->event_cb = cb;
        j->userdata = userdata;

        /* Matches before the call, so that no change of the new unit can slip past us. */
        r = sd_bus_match_signal_async(j->bus, &j->slot_properties, SD_DEST, j->unit_path,
                                      "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                      on_properties_changed, NULL, j);
        if (r < 0)
                return log_error_errno(r, "Failed to watch %s: %m", j->unit);
        /* Both carry the unit's name; we filter on it ourselves. (An arg2= match on the unit's name
         * would spare every helper the other jobs' signals, but such a match saw no JobNew on 257:
         * the stop job of "systemctl stop" went unnoticed.) */
        r = sd_bus_match_signal_async(j->bus, &j->slot_job_removed, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved",
                                      on_job_removed, NULL, j);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the jobs of %s: %m", j->unit);
        r = sd_bus_match_signal_async(j->bus, &j->slot_job_new, SD_DEST, SD_PATH, SD_MANAGER, "JobNew",
                                      on_job_new, NULL, j);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the jobs of %s: %m", j->unit);

        j->wall_limit_usec = spec->limits[LIMIT_WALL_TIME];
        if (cpu_limit_usec > 0 && cpu_limit_usec < UINT64_MAX / 1000U) {
                j->cpu_limit_nsec = cpu_limit_usec * 1000U;
                r = sd_event_add_time_relative(sd_bus_get_event(j->bus), &j->cpu_timer, CLOCK_MONOTONIC,
                                               CPU_POLL_USEC, 10 * 1000U, on_cpu_timer, j);
                if (r < 0)
                        return log_error_errno(r, "Failed to add the CPU poll timer: %m");
        }

        r = sd_bus_message_new_method_call(j->bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", j->unit, "fail");
        if (r >= 0)
                r = unit_props_append(m, spec);
        /* No auxiliary units: the job's unit is all there is. */
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return log_error_errno(r, "Failed to build the properties of %s: %m", j->unit);
        r = sd_bus_call_async(j->bus, &j->slot_call, m, on_start_reply, j, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to call StartTransientUnit for %s: %m", j->unit);
        return 0;
}

static int on_stop_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;

        j->slot_stop = sd_bus_slot_unref(j->slot_stop);
        if (sd_bus_message_is_method_error(m, NULL)) {
                if (!j->done && !j->collecting &&
                    job_retry_later(j, sd_bus_message_get_error(m), "stopping the unit")) {
                        j->retry_stop = true;
                        return 0;
                }
                log_debug("StopUnit %s: %s", j->unit, sd_bus_message_get_error(m)->message);
        }
        return 0;
}

static int job_send_stop(Job *j) {
        int r;

        if (j->slot_stop)
                return 0;
        /* KillUnit() signals at once, in the manager's method handler; the stop job of StopUnit()
         * waits for the manager's run queue, which it dispatches last (seen: 150 ms late under
         * TCG). The unit's KillSignal= is SIGKILL anyway; the stop follows, to take the unit down
         * in order (and to retry if the manager was busy). */
        r = sd_bus_call_method_async(j->bus, NULL, SD_DEST, SD_PATH, SD_MANAGER, "KillUnit", NULL, NULL,
                                     "ssi", j->unit, "all", (int32_t) SIGKILL);
        if (r < 0)
                log_debug_errno(r, "Failed to call KillUnit on %s: %m", j->unit);
        r = sd_bus_call_method_async(j->bus, &j->slot_stop, SD_DEST, SD_PATH, SD_MANAGER, "StopUnit",
                                     on_stop_reply, j, "ss", j->unit, "replace");
        if (r < 0)
                return log_error_errno(r, "Failed to stop %s: %m", j->unit);
        return 0;
}

int job_stop(Job *j, JobStopReason reason) {
        if (j->done || j->collecting)
                return 0;
        if (j->stop_reason == JOB_STOP_NONE && !j->stopped_externally)
                j->stop_reason = reason;
        if (!j->start_replied)
                return 0; /* the start reply finds the reason set and stops it then */
        return job_send_stop(j);
}
