/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyward wire protocol v1: frame headers, the request state machine and the result record.
 * Every byte here comes from a peer, so each length is checked against a named bound first. */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "macro.h"
#include "protocol.h"

#define streq(a, b) (strcmp((a), (b)) == 0)

/* A result "message" longer than this is cut (with a marker) so the record always fits. */
#define PW_RESULT_MESSAGE_MAX 2048

static const char *const limit_key_table[_LIMIT_MAX] = {
        [LIMIT_MEMORY] = "memory",     [LIMIT_TASKS] = "tasks",         [LIMIT_CPU_QUOTA] = "cpu-quota",
        [LIMIT_CPU_TIME] = "cpu-time", [LIMIT_WALL_TIME] = "wall-time", [LIMIT_OUTPUT] = "output",
        [LIMIT_DISK] = "disk",
};

const char *limit_key_to_string(LimitKey k) {
        if ((int) k <= 0 || k >= _LIMIT_MAX)
                return NULL;
        return limit_key_table[k];
}

LimitKey limit_key_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (int k = 1; k < _LIMIT_MAX; k++)
                if (streq(limit_key_table[k], s))
                        return k;
        return -EINVAL;
}

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
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _JOB_STATUS_MAX; i++)
                if (streq(job_status_table[i], s))
                        return i;
        return -EINVAL;
}

/* Our own table rather than sigabbrev_np(), so that helper and client agree whatever their libc. */
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

const char *frame_type_to_string(uint16_t type) {
        switch (type) {
        case FRAME_HELLO:       return "HELLO";
        case FRAME_CODE:        return "CODE";
        case FRAME_FILENAME:    return "FILENAME";
        case FRAME_ARG:         return "ARG";
        case FRAME_PROFILE:     return "PROFILE";
        case FRAME_LIMIT:       return "LIMIT";
        case FRAME_REQUEST_END: return "REQUEST_END";
        case FRAME_STDIN:       return "STDIN";
        case FRAME_STDIN_EOF:   return "STDIN_EOF";
        case FRAME_CANCEL:      return "CANCEL";
        case FRAME_ACCEPTED:    return "ACCEPTED";
        case FRAME_STDOUT:      return "STDOUT";
        case FRAME_STDERR:      return "STDERR";
        case FRAME_RESULT:      return "RESULT";
        default:                return NULL;
        }
}

/* The payload length bounds of each frame type, inclusive. Returns false for an unknown type. */
static bool frame_bounds(uint16_t type, uint32_t *ret_min, uint32_t *ret_max) {
        uint32_t lo = 0, hi;

        switch (type) {
        case FRAME_HELLO:       lo = hi = 4; break;
        case FRAME_CODE:        hi = PW_CODE_MAX; break;
        case FRAME_FILENAME:    lo = 1; hi = PW_FILENAME_MAX; break;
        case FRAME_ARG:         hi = PW_ARG_MAX; break;
        case FRAME_PROFILE:     lo = 1; hi = PW_PROFILE_NAME_MAX; break;
        case FRAME_LIMIT:       lo = hi = 12; break;
        case FRAME_REQUEST_END:
        case FRAME_STDIN_EOF:
        case FRAME_CANCEL:      hi = 0; break;
        case FRAME_STDIN:
        case FRAME_STDOUT:
        case FRAME_STDERR:      lo = 1; hi = PW_CHUNK_MAX; break;
        case FRAME_ACCEPTED:    hi = PW_ACCEPTED_MAX; break;
        case FRAME_RESULT:      hi = PW_RESULT_MAX; break;
        default:                return false;
        }
        *ret_min = lo;
        *ret_max = hi;
        return true;
}

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

int frame_header_parse(const uint8_t buf[static PW_FRAME_HEADER_SIZE], FrameHeader *ret) {
        FrameHeader h = {
                .type = le16(buf),
                .flags = le16(buf + 2),
                .length = le32(buf + 4),
        };
        uint32_t lo, hi;

        if (!frame_bounds(h.type, &lo, &hi) || h.flags != 0)
                return -EBADMSG;
        if (h.length > hi)
                return -EMSGSIZE;
        if (h.length < lo)
                return -EBADMSG;
        *ret = h;
        return 0;
}

void frame_header_format(uint8_t buf[static PW_FRAME_HEADER_SIZE], uint16_t type, uint32_t length) {
        buf[0] = (uint8_t) type;
        buf[1] = (uint8_t) (type >> 8);
        buf[2] = buf[3] = 0;
        put_le32(buf + 4, length);
}

int frame_write(int fd, uint16_t type, const void *payload, size_t length) {
        uint8_t header[PW_FRAME_HEADER_SIZE];
        struct iovec iov[2] = {
                { .iov_base = header, .iov_len = sizeof(header) },
                { .iov_base = (void *) payload, .iov_len = length },
        };
        struct iovec *v = iov;
        size_t n_iov = length > 0 ? 2 : 1;
        bool is_socket = true;
        uint32_t lo, hi;

        if (fd < 0)
                return -EBADF;
        if (!frame_bounds(type, &lo, &hi))
                return -EBADMSG;
        if (length < lo || length > hi)
                return -EMSGSIZE;
        if (length > 0 && !payload)
                return -EINVAL;
        frame_header_format(header, type, (uint32_t) length);

        while (n_iov > 0) {
                ssize_t n;

                if (is_socket) {
                        /* MSG_NOSIGNAL: a peer that went away is -EPIPE here, never SIGPIPE. */
                        struct msghdr mh = { .msg_iov = v, .msg_iovlen = n_iov };
                        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
                        if (n < 0 && errno == ENOTSOCK) {
                                is_socket = false;
                                continue;
                        }
                } else
                        n = writev(fd, v, (int) n_iov);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* Tolerate a non-blocking fd: wait until it drains. */
                                struct pollfd p = { .fd = fd, .events = POLLOUT };
                                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                                        return -errno;
                                continue;
                        }
                        return -errno;
                }
                while (n_iov > 0 && (size_t) n >= v->iov_len) {
                        n -= (ssize_t) v->iov_len;
                        v++;
                        n_iov--;
                }
                if (n_iov > 0) {
                        v->iov_base = (uint8_t *) v->iov_base + n;
                        v->iov_len -= (size_t) n;
                }
        }
        return 0;
}

int request_new(Request **ret) {
        Request *r = calloc(1, sizeof(Request));

        if (!r)
                return -ENOMEM;
        *ret = r;
        return 0;
}

Request *request_free(Request *r) {
        if (!r)
                return NULL;
        free(r->code);
        free(r->filename);
        strv_free(r->argv);
        free(r->profile);
        free(r);
        return NULL;
}

_printf_(4, 5) static int request_error(int error, char *buf, size_t size, const char *format, ...) {
        va_list ap;

        if (buf && size > 0) {
                va_start(ap, format);
                (void) vsnprintf(buf, size, format, ap);
                va_end(ap);
        }
        return error;
}

#define ERR(e, ...) request_error((e), error_buf, error_buf_size, __VA_ARGS__)

static bool filename_valid(const char *p, size_t n) {
        if (n == 0 || n > PW_FILENAME_MAX)
                return false;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];
                if (c == '/' || c < 0x20 || c == 0x7f)
                        return false;
        }
        return true;
}

static bool profile_name_valid(const char *p, size_t n) {
        if (n == 0 || n > PW_PROFILE_NAME_MAX)
                return false;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '-'))
                        return false;
        }
        return true;
}

/* A NUL-terminated copy of a payload that has already been checked against its bound. */
static char *memdup_str(const void *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        if (n > 0)
                memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

int request_add_frame(Request *r, uint16_t type, const void *payload, size_t length,
                      char *error_buf, size_t error_buf_size) {
        const char *name = frame_type_to_string(type);
        uint32_t lo, hi;

        if (!r || (length > 0 && !payload))
                return -EINVAL;
        if (!name || !frame_bounds(type, &lo, &hi))
                return ERR(-EBADMSG, "unknown frame type 0x%04x", type);
        if (type >= FRAME_ACCEPTED)
                return ERR(-EBADMSG, "%s is a frame the helper sends, not the client", name);
        if (r->complete)
                return ERR(-EBADMSG, "%s frame after REQUEST_END: the request is already complete",
                           name);
        if (length > hi)
                return ERR(-EMSGSIZE, "%s frame of %zu bytes exceeds the maximum of %" PRIu32 " bytes",
                           name, length, hi);
        if (length < lo) {
                if (lo == hi)
                        return ERR(-EBADMSG, "%s frame must be exactly %" PRIu32 " bytes, got %zu",
                                   name, lo, length);
                return ERR(-EBADMSG, "%s frame must not be empty", name);
        }
        if (type != FRAME_HELLO && r->version == 0)
                return ERR(-EBADMSG, "%s frame before HELLO: the request must start with HELLO", name);

        switch (type) {
        case FRAME_HELLO: {
                uint32_t v = le32(payload);
                if (r->version != 0)
                        return ERR(-EBADMSG, "duplicate HELLO frame");
                if (v != PW_PROTOCOL_VERSION)
                        return ERR(-EPROTONOSUPPORT,
                                   "unsupported protocol version %" PRIu32 ", this helper speaks %d", v,
                                   PW_PROTOCOL_VERSION);
                r->version = v;
                return 0;
        }
        case FRAME_CODE:
                if (r->code)
                        return ERR(-EBADMSG, "duplicate CODE frame: the code must be sent exactly once");
                if (memchr(payload, '\0', length))
                        return ERR(-EINVAL, "CODE contains a NUL byte");
                r->code = memdup_str(payload, length);
                if (!r->code)
                        return -ENOMEM;
                r->code_size = length;
                return 0;

        case FRAME_FILENAME:
                if (r->filename)
                        return ERR(-EBADMSG, "duplicate FILENAME frame");
                if (!filename_valid(payload, length))
                        return ERR(-EINVAL,
                                   "invalid FILENAME: must be 1..%d bytes without '/', NUL or control "
                                   "characters, and not \".\" or \"..\"",
                                   PW_FILENAME_MAX);
                r->filename = memdup_str(payload, length);
                return r->filename ? 0 : -ENOMEM;

        case FRAME_ARG: {
                _cleanup_free_ char *a = NULL;
                char **l;

                if (r->n_args >= PW_ARGS_MAX)
                        return ERR(-E2BIG, "ARG #%zu exceeds the maximum of %d arguments", r->n_args + 1,
                                   PW_ARGS_MAX);
                if (memchr(payload, '\0', length))
                        return ERR(-EINVAL, "ARG #%zu contains a NUL byte", r->n_args + 1);
                a = memdup_str(payload, length);
                if (!a)
                        return -ENOMEM;
                l = realloc(r->argv, sizeof(char *) * (r->n_args + 2));
                if (!l)
                        return -ENOMEM;
                r->argv = l;
                r->argv[r->n_args++] = TAKE_PTR(a);
                r->argv[r->n_args] = NULL;
                return 0;
        }
        case FRAME_PROFILE:
                if (r->profile)
                        return ERR(-EBADMSG, "duplicate PROFILE frame");
                if (!profile_name_valid(payload, length))
                        return ERR(-EINVAL,
                                   "invalid PROFILE name: must be 1..%d characters of [A-Za-z0-9_.-], "
                                   "not \".\" or \"..\"",
                                   PW_PROFILE_NAME_MAX);
                r->profile = memdup_str(payload, length);
                return r->profile ? 0 : -ENOMEM;

        case FRAME_LIMIT: {
                uint32_t k = le32(payload);
                uint64_t v = le64((const uint8_t *) payload + 4);
                const char *key = limit_key_to_string((LimitKey) k);

                if (!key)
                        return ERR(-EINVAL, "unknown LIMIT key %" PRIu32, k);
                if (r->limit_set[k])
                        return ERR(-EBADMSG, "duplicate LIMIT %s", key);
                if (v == 0)
                        return ERR(-EINVAL, "LIMIT %s must be greater than 0", key);
                r->limits[k] = v;
                r->limit_set[k] = true;
                return 0;
        }
        case FRAME_REQUEST_END:
                if (!r->code)
                        return ERR(-EBADMSG, "REQUEST_END without CODE: the request has no code");
                r->complete = true;
                return 1;

        default: /* STDIN, STDIN_EOF, CANCEL */
                return ERR(-EBADMSG, "%s frame before REQUEST_END: the request is not complete yet", name);
        }
}

void job_result_done(JobResult *r) {
        if (!r)
                return;
        free(r->memory_peak_reason);
        free(r->unit);
        free(r->invocation_id);
        free(r->job);
        free(r->message);
        r->memory_peak_reason = r->unit = r->invocation_id = r->job = r->message = NULL;
}

/* A growing output buffer for job_result_format(); allocation failure sticks. */
typedef struct Buf {
        char *data;
        size_t size, allocated;
        bool oom;
} Buf;

static void buf_add(Buf *b, const char *p, size_t n) {
        if (b->oom)
                return;
        if (b->size + n + 1 > b->allocated) {
                size_t a = (b->size + n + 1) * 2;
                char *d = realloc(b->data, a);
                if (!d) {
                        b->oom = true;
                        return;
                }
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
        b->data[b->size] = '\0';
}

static void buf_add_escaped(Buf *b, const char *s, size_t max) {
        size_t n = s ? strlen(s) : 0;
        bool cut = n > max;

        if (cut) {
                n = max;
                /* Do not split a UTF-8 sequence: back up over continuation bytes. */
                while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                        n--;
        }
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\')
                        buf_add(b, "\\\\", 2);
                else if (s[i] == '\n')
                        buf_add(b, "\\n", 2);
                else
                        buf_add(b, s + i, 1);
        }
        if (cut)
                buf_add(b, "...", 3);
}

static void buf_add_u64(Buf *b, uint64_t v) {
        char t[24];

        if (v != RESULT_UNSET)
                buf_add(b, t, (size_t) snprintf(t, sizeof(t), "%" PRIu64, v));
}

int job_result_format(const JobResult *r, char **ret, size_t *ret_size) {
        _cleanup_free_ char *data = NULL;
        const char *status = job_status_to_string(r->status);
        char t[32];
        Buf b = {};

        if (!status)
                return -EINVAL;
        if (r->exit_code < -1 || r->exit_code > 255)
                return -EINVAL;

        buf_add(&b, "status=", 7);
        buf_add(&b, status, strlen(status));
        buf_add(&b, "\nexit_code=", 11);
        if (r->exit_code >= 0)
                buf_add(&b, t, (size_t) snprintf(t, sizeof(t), "%d", r->exit_code));
        buf_add(&b, "\nsignal=", 8);
        if (r->signal != 0) {
                if (signal_to_string(r->signal, t, sizeof(t)) < 0) {
                        free(b.data);
                        return -EINVAL;
                }
                buf_add(&b, t, strlen(t));
        }
        buf_add(&b, "\nwall_ms=", 9);
        buf_add_u64(&b, r->wall_ms);
        buf_add(&b, "\ncpu_ms=", 8);
        buf_add_u64(&b, r->cpu_ms);
        buf_add(&b, "\nmemory_peak_bytes=", 19);
        buf_add_u64(&b, r->memory_peak_bytes);
        buf_add(&b, "\nmemory_peak_reason=", 20);
        buf_add_escaped(&b, r->memory_peak_reason, PW_RESULT_MESSAGE_MAX);
        buf_add(&b, "\nunit=", 6);
        buf_add_escaped(&b, r->unit, PW_RESULT_MESSAGE_MAX);
        buf_add(&b, "\ninvocation_id=", 15);
        buf_add_escaped(&b, r->invocation_id, PW_RESULT_MESSAGE_MAX);
        buf_add(&b, "\njob=", 5);
        buf_add_escaped(&b, r->job, PW_RESULT_MESSAGE_MAX);
        buf_add(&b, "\nmessage=", 9);
        buf_add_escaped(&b, r->message, PW_RESULT_MESSAGE_MAX);
        buf_add(&b, "\n", 1);

        data = b.data;
        if (b.oom)
                return -ENOMEM;
        if (b.size > PW_RESULT_MAX)
                return -EMSGSIZE;
        *ret_size = b.size;
        *ret = TAKE_PTR(data);
        return 0;
}

/* Strict unsigned decimal: digits only, no sign, no leading zeros, no overflow. */
static int parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return 0;
}

/* Undoes buf_add_escaped() in place: only \\ and \n are escapes; anything else after '\' is bad. */
static int unescape(char *s) {
        char *w = s;

        for (char *p = s; *p; p++) {
                if (*p != '\\') {
                        *w++ = *p;
                        continue;
                }
                p++;
                if (*p == '\\')
                        *w++ = '\\';
                else if (*p == 'n')
                        *w++ = '\n';
                else
                        return -EBADMSG;
        }
        *w = '\0';
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
};

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
        char **strings[_RK_MAX] = {
                [RK_MEMORY_PEAK_REASON] = &r.memory_peak_reason,
                [RK_UNIT] = &r.unit,
                [RK_INVOCATION_ID] = &r.invocation_id,
                [RK_JOB] = &r.job,
                [RK_MESSAGE] = &r.message,
        };
        char *line, *next;
        int k = -1, error = 0;

        if (!ret || (size > 0 && !payload))
                return -EINVAL;
        if (size > PW_RESULT_MAX)
                return -EMSGSIZE;
        if (memchr(payload, '\0', size))
                return -EBADMSG;
        if (size == 0 || ((const char *) payload)[size - 1] != '\n')
                return -EBADMSG;
        text = memdup_str(payload, size);
        if (!text)
                return -ENOMEM;

        for (line = text; *line; line = next) {
                char *nl = strchr(line, '\n'), *eq, *value;
                uint64_t u;

                /* Guaranteed: the text ends with '\n'. */
                *nl = '\0';
                next = nl + 1;

                eq = strchr(line, '=');
                if (!eq || eq == line) {
                        error = -EBADMSG;
                        break;
                }
                *eq = '\0';
                value = eq + 1;

                for (k = 0; k < _RK_MAX; k++)
                        if (streq(result_keys[k], line))
                                break;
                if (k == _RK_MAX)
                        continue; /* unknown key: a newer helper; ignore it */
                if (seen[k]) {
                        error = -EBADMSG;
                        break;
                }
                seen[k] = true;
                error = unescape(value);
                if (error < 0)
                        break;

                switch (k) {
                case RK_STATUS:
                        r.status = job_status_from_string(value);
                        if ((int) r.status < 0)
                                error = -EBADMSG;
                        break;
                case RK_EXIT_CODE:
                        if (*value == '\0')
                                break;
                        if (parse_u64(value, &u) < 0 || u > 255)
                                error = -EBADMSG;
                        else
                                r.exit_code = (int) u;
                        break;
                case RK_SIGNAL:
                        if (*value == '\0')
                                break;
                        r.signal = signal_from_string(value);
                        if (r.signal < 0)
                                error = -EBADMSG;
                        break;
                case RK_WALL_MS:
                case RK_CPU_MS:
                case RK_MEMORY_PEAK_BYTES:
                        if (*value == '\0')
                                break;
                        if (parse_u64(value, &u) < 0 || u == RESULT_UNSET)
                                error = -EBADMSG;
                        else if (k == RK_WALL_MS)
                                r.wall_ms = u;
                        else if (k == RK_CPU_MS)
                                r.cpu_ms = u;
                        else
                                r.memory_peak_bytes = u;
                        break;
                default:
                        if (*value == '\0')
                                break;
                        *strings[k] = strdup(value);
                        if (!*strings[k])
                                error = -ENOMEM;
                        break;
                }
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
