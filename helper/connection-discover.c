/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A DISCOVER request: for each profile the peer may use, in the configuration's order, its report
 * from the cache or, on a miss, from a discovery run (a Run with RunParams.discover, sandboxed as
 * any job, in the peer's job slot, one at a time); then the PROFILE_INFO frames and RESULT. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-id128.h>
#include <time.h>

#include "admission.h"
#include "connection-discover.h"
#include "discover-cache.h"
#include "discover.h"
#include "journal.h"
#include "log.h"
#include "policy.h"
#include "str.h"

/* One profile of the answer. */
typedef struct DiscoverEntry {
        const Profile *profile;
        DiscoverInfo info;
        bool known;
        char *note; /* why python and packages are unknown */
} DiscoverEntry;

/* The request's progress; it owns itself, and is freed when the answer is sent. A helper serves
 * one connection and exits: a client gone in the middle ends the process with it. */
typedef struct Discovery {
        Connection *c;
        DiscoverEntry *entries;
        size_t n_entries;
        size_t current; /* the entry whose run goes on, or the next one to look at */
        size_t sent;    /* entries before this one are in PROFILE_INFO frames already */
        bool slot_taken;
        bool report_seen;        /* the current run's CH_INFO came */
        uint64_t run_since_usec; /* CLOCK_REALTIME_COARSE at the current run's start */
        char run_id[33];
        JobTimes times;
        sd_event_source *next;
} Discovery;

static Discovery *discovery_free(Discovery *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_entries; i++) {
                discover_info_done(&d->entries[i].info);
                free(d->entries[i].note);
        }
        free(d->entries);
        sd_event_source_disable_unref(d->next);
        free(d);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Discovery *, discovery_free);

static void entry_note(DiscoverEntry *e, const char *fmt, ...) _printf_(2, 3);
static void entry_note(DiscoverEntry *e, const char *fmt, ...) {
        va_list ap;

        if (e->note)
                return; /* the first reason wins */
        va_start(ap, fmt);
        if (vasprintf(&e->note, fmt, ap) < 0)
                e->note = NULL;
        va_end(ap);
}

/* --- the answer -------------------------------------------------------------------------------- */

/* The PROFILE_INFO frames of the entries before d->current, in order, as soon as they are decided:
 * the client reads them while the next run goes on, and their reports are freed. */
static int discovery_send_ready(Discovery *d) {
        for (; d->sent < d->current && d->sent < d->n_entries; d->sent++) {
                DiscoverEntry *e = &d->entries[d->sent];
                _cleanup_(buffer_done) Buffer b = {};
                ProfileInfo pi = {};
                int q;

                q = discover_profile_info(e->profile, e->known ? &e->info : NULL, e->known ? NULL : e->note,
                                          &pi);
                if (q >= 0)
                        q = profile_info_append(&b, &pi);
                profile_info_done(&pi);
                if (q >= 0)
                        q = out_append(d->c, FRAME_PROFILE_INFO, b.data + PW_FRAME_HEADER_SIZE,
                                       b.size - PW_FRAME_HEADER_SIZE);
                if (q < 0)
                        return q;
                discover_info_done(&e->info);
        }
        out_flush(d->c);
        return 0;
}

static void discovery_answer(Discovery *d) {
        Connection *c = d->c;
        JobResult r = {
                .status = JOB_OK,
                .exit_code = -1,
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
                .job = c->job_id,
                .profiles_reported = true,
                .profiles = d->n_entries,
        };
        int q;

        c->run = run_free(c->run);
        c->slot_fd = safe_close(c->slot_fd); /* no job of ours runs any more */
        d->current = d->n_entries;
        q = discovery_send_ready(d);
        discovery_free(d);
        if (q < 0) {
                /* The frames queued so far cannot be taken back: the RESULT says what happened. */
                log_oom();
                connection_finish(c, JOB_ERROR, "out of memory");
                return;
        }
        connection_send_result(c, &r);
}

/* --- one discovery run ------------------------------------------------------------------------- */

static void discovery_step(Discovery *d);

static int on_next(sd_event_source *s, void *userdata) {
        Discovery *d = userdata;

        d->next = sd_event_source_disable_unref(d->next);
        d->c->run = run_free(d->c->run);
        d->current++;
        discovery_step(d);
        return 0;
}

/* The Run reports from inside its own calls: it is freed, and the next one started, later. */
static void discovery_run_over(Discovery *d) {
        int q;

        q = sd_event_add_defer(d->c->event, &d->next, on_next, d);
        if (q < 0) {
                log_error_errno(q, "Failed to schedule the next discovery step: %m");
                connection_exit(d->c, 1);
        }
}

static int discovery_emit(void *userdata, uint16_t type, const void *data, size_t size) {
        return 0; /* a discovery run's stdout and stderr are not the client's */
}

static bool discovery_can_emit(void *userdata) {
        return true;
}

static void discovery_stdin_idle(void *userdata) {
        Discovery *d = userdata;

        connection_update_io(d->c);
}

static void discovery_started(void *userdata, const char *unit) {
}

static void discovery_job_done(void *userdata) {
}

static void discovery_info(void *userdata, const void *data, size_t size) {
        Discovery *d = userdata;
        DiscoverEntry *e = &d->entries[d->current];
        const char *why = NULL;
        int q;

        if (d->report_seen)
                return; /* the channel allows one CH_INFO; the first is the report */
        d->report_seen = true;
        q = discover_info_parse(data, size, &e->info, &why);
        if (q < 0) {
                log_warning("The discovery run of profile %s sent a report that is refused: %s.",
                            e->profile->name, q == -ENOMEM ? "out of memory" : why);
                entry_note(e, "the discovery report was refused: %s", q == -ENOMEM ? "out of memory" : why);
        }
}

static void discovery_failed(void *userdata, const char *message) {
        Discovery *d = userdata;
        DiscoverEntry *e = &d->entries[d->current];

        log_warning("Discovery of profile %s failed: %s", e->profile->name, message);
        entry_note(e, "the discovery run failed: %s", message);
        discovery_run_over(d);
}

static void discovery_finished(void *userdata, const JobResult *result) {
        Discovery *d = userdata;
        DiscoverEntry *e = &d->entries[d->current];
        int q;

        /* The run's own record beside its "started" one: `journalctl PYWARD_JOB=ID` has both. */
        run_exec_timestamps(d->c->run, &d->times.exec, &d->times.exit);
        journal_job_result(d->run_id, &d->c->peer, e->profile->name, result, &d->times, false);
        if (result->status != JOB_OK || !e->info.python) {
                discover_info_done(&e->info);
                if (result->status != JOB_OK)
                        entry_note(e, "the discovery run ended with status %s%s%s",
                                   job_status_to_string(result->status) ?: "?", result->message ? ": " : "",
                                   result->message ?: "");
                else
                        entry_note(e, "the discovery run sent no report");
                log_warning("Discovery of profile %s failed: %s", e->profile->name,
                            e->note ?: "out of memory");
                discovery_run_over(d);
                return;
        }
        e->known = true;
        log_info("Discovered profile %s: python %s, %zu packages", e->profile->name, e->info.python,
                 e->info.n_packages);
        q = discover_cache_store(DISCOVER_CACHE_DIR, e->profile, &e->info, d->run_since_usec);
        if (q == -ESTALE)
                log_info("Profile %s's interpreter changed during its discovery; its report is not cached.",
                         e->profile->name);
        else if (q < 0)
                log_warning_errno(q, "Failed to cache the discovery report of profile %s in %s: %m",
                                  e->profile->name, DISCOVER_CACHE_DIR);
        discovery_run_over(d);
}

static const RunOps discovery_ops = {
        .emit = discovery_emit,
        .can_emit = discovery_can_emit,
        .stdin_idle = discovery_stdin_idle,
        .started = discovery_started,
        .job_done = discovery_job_done,
        .failed = discovery_failed,
        .finished = discovery_finished,
        .info = discovery_info,
};

/* The peer's job slot, taken once for all the runs of this request, by admission's slot rule as
 * a job takes it; without one, what is not known yet stays unknown, and the note says why. */
static bool discovery_take_slot(Discovery *d) {
        Connection *c = d->c;
        AdmissionInput in = {
                .config = c->config,
                .peer = &c->peer,
                .request = c->request,
        };
        Admission a;

        if (d->slot_taken)
                return true;
        in.slot = slot_acquire(SLOT_DIR, c->peer.uid, c->config->jobs_per_uid, &c->slot_fd);
        admission_decide(&in, &a);
        if (a.verdict != ADMISSION_ADMITTED) {
                for (size_t i = d->current; i < d->n_entries; i++)
                        if (!d->entries[i].known)
                                entry_note(&d->entries[i], "not discovered: %s", a.message);
                return false;
        }
        d->slot_taken = true;
        return true;
}

static void discovery_start_run(Discovery *d) {
        Connection *c = d->c;
        DiscoverEntry *e = &d->entries[d->current];
        struct timespec ts;
        sd_id128_t id;
        int q;

        /* Each run is a unit of its own, pyward-job-ID.service. */
        q = sd_id128_randomize(&id);
        if (q >= 0) {
                (void) sd_id128_to_string(id, d->run_id);
                d->report_seen = false;
                (void) clock_gettime(CLOCK_REALTIME_COARSE, &ts);
                d->run_since_usec = (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
                d->times = (JobTimes) { .accept = c->times.accept, .request = c->times.request };
                q = run_new(c->event, c->bus,
                            &(RunParams) {
                                    .job_id = d->run_id,
                                    .peer = &c->peer,
                                    .profile = e->profile,
                                    .limits = e->profile->limit_default,
                                    .request = c->request,
                                    .times = &d->times,
                                    .discover = true,
                            },
                            &discovery_ops, d, &c->run);
        }
        if (q < 0) {
                entry_note(e, "the discovery run could not start: %s", strerror(-q));
                discovery_run_over(d);
                return;
        }
        log_info("Discovering profile %s (job %s).", e->profile->name, d->run_id);
        run_start(c->run);
        connection_update_io(c);
}

/* The next profile that is not known yet gets its run; with none left, the answer. */
static void discovery_step(Discovery *d) {
        while (d->current < d->n_entries && d->entries[d->current].known)
                d->current++;
        /* The answer, once nothing is left to run, or nothing can be: the client went away, a
         * frame could not be queued (the answer says "out of memory"), or no job slot. */
        if (d->current < d->n_entries && discovery_send_ready(d) >= 0 && !d->c->client_gone &&
            discovery_take_slot(d)) {
                discovery_start_run(d);
                return;
        }
        discovery_answer(d);
}

void connection_discover(Connection *c) {
        _cleanup_(discovery_freep) Discovery *d = NULL;

        d = calloc(1, sizeof(*d));
        if (d)
                d->entries = calloc(c->config->n_profiles, sizeof(DiscoverEntry));
        if (!d || !d->entries) {
                log_oom();
                connection_finish(c, JOB_ERROR, "out of memory");
                return;
        }
        d->c = c;
        /* Nothing of a profile the peer may not use is looked at, let alone revealed. */
        for (size_t i = 0; i < c->config->n_profiles; i++) {
                const Profile *p = &c->config->profiles[i];
                DiscoverEntry *e;
                const char *why = NULL;
                int q;

                if (!admission_profile_usable(c->config, &c->peer, p))
                        continue;
                e = &d->entries[d->n_entries++];
                e->profile = p;
                q = discover_cache_load(DISCOVER_CACHE_DIR, p, &e->info, &why);
                if (q < 0) {
                        log_oom();
                        connection_finish(c, JOB_ERROR, "out of memory");
                        return;
                }
                e->known = q > 0;
                if (!e->known)
                        log_debug("Profile %s is not in the discovery cache: %s.", p->name, why);
        }
        discovery_step(TAKE_PTR(d));
}
