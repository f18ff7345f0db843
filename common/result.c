/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyward wire protocol v1, the records the helper sends ("key=value" lines, escaped alike):
 * ACCEPTED's encoder, and RESULT's encoder and decoder with the job's status and signal names. */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "protocol.h"
#include "record.h"

static const char *const job_status_table[_JOB_STATUS_MAX] = {
        [JOB_OK] = "ok",
        [JOB_EXIT] = "exit",
        [JOB_SIGNAL] = "signal",
        [JOB_TIMEOUT] = "timeout",
        [JOB_CPU_LIMIT] = "cpu-limit",
        [JOB_OOM] = "oom",
        [JOB_OUTPUT_LIMIT] = "output-limit",
        [JOB_KILLED] = "killed",
        [JOB_REJECTED] = "rejected",
        [JOB_ERROR] = "error",
};

const char *job_status_to_string(JobStatus s) {
        if ((int) s < 0 || s >= _JOB_STATUS_MAX)
                return NULL;
        return job_status_table[s];
}

JobStatus job_status_from_string(const char *s) {
        return string_table_lookup(job_status_table, _JOB_STATUS_MAX, s);
}

/* Our own table rather than sigabbrev_np(), so that helper and client agree whatever their libc. */
/* clang-format off */
static const char *const signal_table[] = {
        [SIGHUP] = "SIGHUP",   [SIGINT] = "SIGINT",       [SIGQUIT] = "SIGQUIT", [SIGILL] = "SIGILL",
        [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",     [SIGBUS] = "SIGBUS",   [SIGFPE] = "SIGFPE",
        [SIGKILL] = "SIGKILL", [SIGUSR1] = "SIGUSR1",     [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
        [SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM",     [SIGTERM] = "SIGTERM", [SIGSTKFLT] = "SIGSTKFLT",
        [SIGCHLD] = "SIGCHLD", [SIGCONT] = "SIGCONT",     [SIGSTOP] = "SIGSTOP", [SIGTSTP] = "SIGTSTP",
        [SIGTTIN] = "SIGTTIN", [SIGTTOU] = "SIGTTOU",     [SIGURG] = "SIGURG",   [SIGXCPU] = "SIGXCPU",
        [SIGXFSZ] = "SIGXFSZ", [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF", [SIGWINCH] = "SIGWINCH",
        [SIGIO] = "SIGIO",     [SIGPWR] = "SIGPWR",       [SIGSYS] = "SIGSYS",
};
/* clang-format on */

/* Real-time signals are numbered on the wire ("SIGRTMIN+3" is libc-dependent, 34+ is not). */
#define PW_SIGNAL_NUMBER_MAX 64

int signal_to_string(int sig, char *buf, size_t size) {
        if (sig <= 0 || sig > PW_SIGNAL_NUMBER_MAX)
                return -EINVAL;
        if ((size_t) sig < ELEMENTSOF(signal_table) && signal_table[sig])
                return snprintf(buf, size, "%s", signal_table[sig]) < (int) size ? 0 : -ENOBUFS;
        return snprintf(buf, size, "SIG%d", sig) < (int) size ? 0 : -ENOBUFS;
}

int signal_from_string(const char *s) {
        unsigned n = 0;

        if (!s || strncmp(s, "SIG", 3) != 0)
                return -EINVAL;
        for (size_t i = 1; i < ELEMENTSOF(signal_table); i++)
                if (signal_table[i] && streq(signal_table[i], s))
                        return (int) i;
        /* "SIG<number>": digits only, no leading zero, within range. */
        s += 3;
        if (*s < '1' || *s > '9')
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                n = n * 10 + (unsigned) (*s - '0');
                if (n > PW_SIGNAL_NUMBER_MAX)
                        return -EINVAL;
        }
        return (int) n;
}

void job_result_done(JobResult *r) {
        if (!r)
                return;
        free(r->memory_peak_reason);
        free(r->unit);
        free(r->invocation_id);
        free(r->job);
        free(r->message);
        free(r->files_note);
        r->memory_peak_reason = r->unit = r->invocation_id = r->job = r->message = r->files_note = NULL;
}

int job_result_format(const JobResult *r, char **ret, size_t *ret_size) {
        _cleanup_free_ char *data = NULL;
        const char *status = job_status_to_string(r->status);
        char t[32];
        RecordBuf b = {};

        if (!status)
                return -EINVAL;
        if (r->exit_code < -1 || r->exit_code > 255)
                return -EINVAL;

        record_add(&b, "status=", 7);
        record_add(&b, status, strlen(status));
        record_add(&b, "\nexit_code=", 11);
        if (r->exit_code >= 0)
                record_add(&b, t, (size_t) snprintf(t, sizeof(t), "%d", r->exit_code));
        record_add(&b, "\nsignal=", 8);
        if (r->signal != 0) {
                if (signal_to_string(r->signal, t, sizeof(t)) < 0) {
                        free(b.data);
                        return -EINVAL;
                }
                record_add(&b, t, strlen(t));
        }
        record_add(&b, "\nwall_ms=", 9);
        record_add_u64(&b, r->wall_ms);
        record_add(&b, "\ncpu_ms=", 8);
        record_add_u64(&b, r->cpu_ms);
        record_add(&b, "\nmemory_peak_bytes=", 19);
        record_add_u64(&b, r->memory_peak_bytes);
        record_add(&b, "\nmemory_peak_reason=", 20);
        record_add_escaped(&b, r->memory_peak_reason, PW_RESULT_MESSAGE_MAX);
        record_add(&b, "\nunit=", 6);
        record_add_escaped(&b, r->unit, PW_RESULT_MESSAGE_MAX);
        record_add(&b, "\ninvocation_id=", 15);
        record_add_escaped(&b, r->invocation_id, PW_RESULT_MESSAGE_MAX);
        record_add(&b, "\njob=", 5);
        record_add_escaped(&b, r->job, PW_RESULT_MESSAGE_MAX);
        record_add(&b, "\nmessage=", 9);
        record_add_escaped(&b, r->message, PW_RESULT_MESSAGE_MAX);
        record_add(&b, "\n", 1);
        /* The keys of the new frames come last and only when asked for: a client that sent none of
         * them gets the record above, byte for byte as before (test-result.c holds a literal). */
        if (r->files_reported) {
                record_add_str(&b, "files_out=");
                record_add_number(&b, r->files_out);
                record_add_str(&b, "\nfiles_out_bytes=");
                record_add_number(&b, r->files_out_bytes);
                record_add_str(&b, "\nfiles_skipped=");
                record_add_number(&b, r->files_skipped);
                record_add_str(&b, "\n");
                record_add_line(&b, "files_note", r->files_note, PW_RESULT_NOTE_MAX);
        }
        if (r->cells_reported) {
                record_add_str(&b, "cells=");
                record_add_number(&b, r->cells);
                record_add_str(&b, "\n");
        }
        if (r->profiles_reported) {
                record_add_str(&b, "profiles=");
                record_add_number(&b, r->profiles);
                record_add_str(&b, "\n");
        }
        if (r->path_reported)
                record_add_str(&b, r->warm ? "path=warm\n" : "path=cold\n");

        data = b.data;
        if (b.oom)
                return -ENOMEM;
        if (b.size > PW_RESULT_MAX)
                return -EMSGSIZE;
        *ret_size = b.size;
        *ret = TAKE_PTR(data);
        return 0;
}

enum {
        RK_STATUS,
        RK_EXIT_CODE,
        RK_SIGNAL,
        RK_WALL_MS,
        RK_CPU_MS,
        RK_MEMORY_PEAK_BYTES,
        RK_MEMORY_PEAK_REASON,
        RK_UNIT,
        RK_INVOCATION_ID,
        RK_JOB,
        RK_MESSAGE,
        RK_FILES_OUT,
        RK_FILES_OUT_BYTES,
        RK_FILES_SKIPPED,
        RK_FILES_NOTE,
        RK_CELLS,
        RK_PROFILES,
        RK_PATH,
        _RK_MAX,
};

static const char *const result_keys[_RK_MAX] = {
        [RK_STATUS] = "status",
        [RK_EXIT_CODE] = "exit_code",
        [RK_SIGNAL] = "signal",
        [RK_WALL_MS] = "wall_ms",
        [RK_CPU_MS] = "cpu_ms",
        [RK_MEMORY_PEAK_BYTES] = "memory_peak_bytes",
        [RK_MEMORY_PEAK_REASON] = "memory_peak_reason",
        [RK_UNIT] = "unit",
        [RK_INVOCATION_ID] = "invocation_id",
        [RK_JOB] = "job",
        [RK_MESSAGE] = "message",
        [RK_FILES_OUT] = "files_out",
        [RK_FILES_OUT_BYTES] = "files_out_bytes",
        [RK_FILES_SKIPPED] = "files_skipped",
        [RK_FILES_NOTE] = "files_note",
        [RK_CELLS] = "cells",
        [RK_PROFILES] = "profiles",
        [RK_PATH] = "path",
};

/* Sets one decoded key of the record; 0 or -EBADMSG/-ENOMEM. */
static int job_result_set(JobResult *r, int k, const char *value) {
        char **strings[_RK_MAX] = {
                [RK_MEMORY_PEAK_REASON] = &r->memory_peak_reason,
                [RK_UNIT] = &r->unit,
                [RK_INVOCATION_ID] = &r->invocation_id,
                [RK_JOB] = &r->job,
                [RK_MESSAGE] = &r->message,
                [RK_FILES_NOTE] = &r->files_note,
        };
        uint64_t *counts[_RK_MAX] = {
                [RK_FILES_OUT] = &r->files_out,         [RK_FILES_OUT_BYTES] = &r->files_out_bytes,
                [RK_FILES_SKIPPED] = &r->files_skipped, [RK_CELLS] = &r->cells,
                [RK_PROFILES] = &r->profiles,
        };
        uint64_t u;
        int error = 0;

        if (k >= RK_FILES_OUT && k <= RK_FILES_NOTE)
                r->files_reported = true;
        else if (k == RK_CELLS)
                r->cells_reported = true;
        else if (k == RK_PROFILES)
                r->profiles_reported = true;
        switch (k) {
        case RK_PATH:
                r->path_reported = true;
                if (strcmp(value, "warm") == 0)
                        r->warm = true;
                else if (strcmp(value, "cold") != 0)
                        error = -EBADMSG;
                break;
        case RK_STATUS:
                r->status = job_status_from_string(value);
                if ((int) r->status < 0)
                        error = -EBADMSG;
                break;
        case RK_EXIT_CODE:
                if (*value == '\0')
                        break;
                if (record_parse_u64(value, &u) < 0 || u > 255)
                        error = -EBADMSG;
                else
                        r->exit_code = (int) u;
                break;
        case RK_SIGNAL:
                if (*value == '\0')
                        break;
                r->signal = signal_from_string(value);
                if (r->signal < 0)
                        error = -EBADMSG;
                break;
        case RK_WALL_MS:
        case RK_CPU_MS:
        case RK_MEMORY_PEAK_BYTES:
                if (*value == '\0')
                        break;
                if (record_parse_u64(value, &u) < 0 || u == RESULT_UNSET)
                        error = -EBADMSG;
                else if (k == RK_WALL_MS)
                        r->wall_ms = u;
                else if (k == RK_CPU_MS)
                        r->cpu_ms = u;
                else
                        r->memory_peak_bytes = u;
                break;
        case RK_FILES_OUT:
        case RK_FILES_OUT_BYTES:
        case RK_FILES_SKIPPED:
        case RK_CELLS:
        case RK_PROFILES:
                /* Counts: always written; empty (as an unknown value would be) reads as 0. */
                if (*value != '\0' && record_parse_u64(value, counts[k]) < 0)
                        error = -EBADMSG;
                break;
        default:
                error = record_set_string(strings[k], value);
                break;
        }
        return error;
}

int job_result_parse(const void *payload, size_t size, JobResult *ret) {
        _cleanup_free_ char *text = NULL;
        JobResult r = {
                .status = -1,
                .exit_code = -1,
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
        };
        bool seen[_RK_MAX] = {};
        char *pos, *key, *value;
        int k, error;

        if (!ret)
                return -EINVAL;
        error = record_text_dup(payload, size, PW_RESULT_MAX, &text);
        if (error < 0)
                return error;

        for (pos = text; (error = record_next_line(&pos, &key, &value)) > 0;) {
                k = record_known_key(result_keys, _RK_MAX, seen, key, value);
                if (k == -ENOENT)
                        continue; /* unknown key: a newer helper; ignore it */
                error = k < 0 ? k : job_result_set(&r, k, value);
                if (error < 0)
                        break;
        }
        if (error >= 0 && !seen[RK_STATUS])
                error = -EBADMSG;
        if (error < 0) {
                r.signal = 0;
                job_result_done(&r);
                return error;
        }
        *ret = r;
        return 0;
}

int job_result_append(Buffer *b, const JobResult *r) {
        _cleanup_free_ char *payload = NULL;
        size_t size;
        int q;

        q = job_result_format(r, &payload, &size);
        if (q < 0)
                return q;
        return frame_append(b, FRAME_RESULT, payload, size);
}

int job_accepted_format(const char *job, const char *unit, char **ret, size_t *ret_size) {
        _cleanup_free_ char *data = NULL;
        RecordBuf b = {};

        record_add(&b, "job=", 4);
        record_add_escaped(&b, job, PW_RESULT_MESSAGE_MAX);
        record_add(&b, "\nunit=", 6);
        record_add_escaped(&b, unit, PW_RESULT_MESSAGE_MAX);
        record_add(&b, "\n", 1);

        data = b.data;
        if (b.oom)
                return -ENOMEM;
        if (b.size > PW_ACCEPTED_MAX)
                return -EMSGSIZE;
        *ret_size = b.size;
        *ret = TAKE_PTR(data);
        return 0;
}

int job_accepted_append(Buffer *b, const char *job, const char *unit) {
        _cleanup_free_ char *payload = NULL;
        size_t size;
        int q;

        q = job_accepted_format(job, unit, &payload, &size);
        if (q < 0)
                return q;
        return frame_append(b, FRAME_ACCEPTED, payload, size);
}
