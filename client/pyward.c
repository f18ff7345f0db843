/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward(1): sends code to the pyward helper socket, streams the job's stdin/stdout/stderr and exits
 * with the job's status. One poll() loop over stdin, the socket and a signal pipe; see man/pyward.1. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buffer.h"
#include "config-paths.h"
#include "macro.h"
#include "protocol.h"
#include "values.h"

#define EXIT_TIMEOUT 124 /* like timeout(1) */
#define EXIT_PYWARD 125  /* pyward itself failed: like timeout(1) and env(1) */

/* --json collects the streams in memory; refuse a helper that sends more than this. */
#define JSON_STREAM_MAX (256U * 1024U * 1024U)
/* Outgoing bytes buffered before we stop reading our stdin (backpressure towards the producer). */
#define OUT_HIGH_WATER (256U * 1024U)

typedef struct Args {
        const char *code;
        const char *file;
        char **job_argv;
        int n_job_args;
        const char *profile;
        const char *socket_path;
        const char *filename;
        uint64_t limits[_LIMIT_MAX];
        bool limit_set[_LIMIT_MAX];
        bool no_stdin;
        bool json;
        bool quiet;
} Args;

_printf_(1, 2) static int fail(const char *format, ...) {
        va_list ap;

        fputs("pyward: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -EINVAL;
}

/* Limits are the same syntax as in pyward.conf(5) (values.c); zero is never a useful limit. */
static int parse_positive(int (*parse)(const char *, uint64_t *), const char *s, uint64_t *ret) {
        uint64_t v;
        int r;

        r = parse(s, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void help(void) {
        printf("Usage: pyward [OPTIONS] -c CODE [ARGS...]\n"
               "       pyward [OPTIONS] FILE [ARGS...]\n"
               "\n"
               "Run Python code in a sandboxed, resource-limited systemd unit via the pyward helper.\n"
               "The job's stdout and stderr are streamed to ours; our stdin is forwarded to the job\n"
               "unless it is a terminal.\n"
               "\n"
               "  -c, --code=CODE        run CODE (instead of FILE)\n"
               "      --filename=NAME    name of the main file inside the job (default: FILE's base\n"
               "                         name, or main.py)\n"
               "  -t, --timeout=TIME     wall-clock limit, e.g. 10, 500ms, 2min\n"
               "      --cpu-time=TIME    CPU-time limit, same syntax\n"
               "  -m, --memory=BYTES     memory limit, e.g. 64M, 1G\n"
               "      --tasks=N          limit on processes and threads\n"
               "      --cpu-quota=PERCENT  CPU share in percent of one CPU (200 = two CPUs)\n"
               "      --output-max=BYTES limit on stdout and on stderr, each\n"
               "      --disk=BYTES       limit on each writable directory\n"
               "  -p, --profile=NAME     configuration profile (default: default)\n"
               "  -n, --no-stdin         do not forward stdin; the job sees end-of-file at once\n"
               "      --socket=PATH      helper socket (default: $PYWARD_SOCKET or %s)\n"
               "      --json             print one JSON document with the result and output at the end\n"
               "  -q, --quiet            no message about how the job ended\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n"
               "\n"
               "Exit status: the job's exit code; 128+N if it was killed by signal N; 124 on a time or\n"
               "CPU limit; 125 if pyward itself failed or the request was rejected. See pyward(1).\n",
               PYWARD_SOCKET_PATH);
}

static int parse_args(int argc, char **argv, Args *a) {
        enum {
                ARG_VERSION = 0x100,
                ARG_FILENAME,
                ARG_CPU_TIME,
                ARG_TASKS,
                ARG_CPU_QUOTA,
                ARG_OUTPUT_MAX,
                ARG_DISK,
                ARG_SOCKET,
                ARG_JSON,
        };
        static const struct option options[] = {
                { "code", required_argument, NULL, 'c' },
                { "filename", required_argument, NULL, ARG_FILENAME },
                { "timeout", required_argument, NULL, 't' },
                { "cpu-time", required_argument, NULL, ARG_CPU_TIME },
                { "memory", required_argument, NULL, 'm' },
                { "tasks", required_argument, NULL, ARG_TASKS },
                { "cpu-quota", required_argument, NULL, ARG_CPU_QUOTA },
                { "output-max", required_argument, NULL, ARG_OUTPUT_MAX },
                { "disk", required_argument, NULL, ARG_DISK },
                { "profile", required_argument, NULL, 'p' },
                { "no-stdin", no_argument, NULL, 'n' },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", no_argument, NULL, ARG_JSON },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        /* "+": stop at the first non-option, so the job's own arguments pass through untouched. */
        while ((c = getopt_long(argc, argv, "+c:t:m:p:nqh", options, NULL)) >= 0) {
                LimitKey key = 0;
                int (*parse)(const char *, uint64_t *) = NULL;

                switch (c) {
                case 'c': a->code = optarg; break;
                case ARG_FILENAME: a->filename = optarg; break;
                case 't': key = LIMIT_WALL_TIME; parse = parse_timespan; break;
                case ARG_CPU_TIME: key = LIMIT_CPU_TIME; parse = parse_timespan; break;
                case 'm': key = LIMIT_MEMORY; parse = parse_size; break;
                case ARG_TASKS: key = LIMIT_TASKS; parse = parse_uint; break;
                case ARG_CPU_QUOTA: key = LIMIT_CPU_QUOTA; parse = parse_uint; break;
                case ARG_OUTPUT_MAX: key = LIMIT_OUTPUT; parse = parse_size; break;
                case ARG_DISK: key = LIMIT_DISK; parse = parse_size; break;
                case 'p': a->profile = optarg; break;
                case 'n': a->no_stdin = true; break;
                case ARG_SOCKET: a->socket_path = optarg; break;
                case ARG_JSON: a->json = true; break;
                case 'q': a->quiet = true; break;
                case 'h': help(); return 0;
                case ARG_VERSION: printf("pyward %s (protocol %d)\n", PACKAGE_VERSION, PW_PROTOCOL_VERSION); return 0;
                default: return -EINVAL; /* getopt printed why */
                }
                if (parse) {
                        if (parse_positive(parse, optarg, &a->limits[key]) < 0) {
                                const char *s = options[0].name;
                                for (const struct option *o = options; o->name; o++)
                                        if (o->val == c)
                                                s = o->name;
                                return fail("invalid value for --%s: '%s'", s, optarg);
                        }
                        a->limit_set[key] = true;
                }
        }
        if (!a->code) {
                if (optind >= argc)
                        return fail("nothing to run: give -c CODE or a FILE (see --help)");
                a->file = argv[optind++];
        }
        a->job_argv = argv + optind;
        a->n_job_args = argc - optind;
        if (a->n_job_args > PW_ARGS_MAX)
                return fail("too many arguments for the job: %d, the maximum is %d", a->n_job_args,
                            PW_ARGS_MAX);
        if (!a->socket_path) {
                const char *e = getenv("PYWARD_SOCKET");
                a->socket_path = e && *e ? e : PYWARD_SOCKET_PATH;
        }
        return 1;
}

static bool streq_dots(const char *s) {
        return strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

/* Reads FILE with a hard bound: PW_CODE_MAX bytes. */
static int read_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return fail("cannot open %s: %m", path);
        buf = malloc(PW_CODE_MAX + 1);
        if (!buf)
                return fail("out of memory");
        for (;;) {
                ssize_t k = read(fd, buf + n, PW_CODE_MAX + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail("cannot read %s: %m", path);
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > PW_CODE_MAX)
                        return fail("%s is larger than the maximum of %u bytes", path, PW_CODE_MAX);
        }
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static int build_request(const Args *a, Buffer *out) {
        _cleanup_free_ char *file_code = NULL;
        const char *code = a->code, *filename = a->filename;
        size_t code_size = code ? strlen(code) : 0;
        Request req;
        int r;

        if (!code) {
                r = read_file(a->file, &file_code, &code_size);
                if (r < 0)
                        return r;
                if (memchr(file_code, '\0', code_size))
                        return fail("%s contains a NUL byte: not Python source", a->file);
                code = file_code;
                if (!filename) {
                        const char *slash = strrchr(a->file, '/');
                        filename = slash ? slash + 1 : a->file;
                        if (!*filename || streq_dots(filename))
                                filename = NULL;
                }
        }
        if (code_size > PW_CODE_MAX)
                return fail("the code is larger than the maximum of %u bytes", PW_CODE_MAX);

        /* Checked here, in this order, so that the user is told which one; the helper would refuse
         * a frame over its bound without saying why. */
        if (filename && strlen(filename) > PW_FILENAME_MAX)
                return fail("file name '%s' is longer than %d bytes", filename, PW_FILENAME_MAX);
        for (int i = 0; i < a->n_job_args; i++)
                if (strlen(a->job_argv[i]) > PW_ARG_MAX)
                        return fail("argument #%d is longer than the maximum of %d bytes", i + 1,
                                    PW_ARG_MAX);
        if (a->profile && strlen(a->profile) > PW_PROFILE_NAME_MAX)
                return fail("profile name is longer than %d bytes", PW_PROFILE_NAME_MAX);

        req = (Request) {
                .version = PW_PROTOCOL_VERSION,
                .code = (char *) code,
                .code_size = code_size,
                .filename = (char *) filename,
                .argv = a->job_argv,
                .n_args = (size_t) a->n_job_args,
                .profile = (char *) a->profile,
        };
        memcpy(req.limits, a->limits, sizeof(req.limits));
        memcpy(req.limit_set, a->limit_set, sizeof(req.limit_set));
        r = request_append(out, &req);
        if (r == -ENOMEM)
                return fail("out of memory");
        if (r < 0)
                return fail("cannot encode the request: %s", strerror(-r));
        return 0;
}

typedef struct Session {
        const Args *args;
        int sock;
        int sigfd;
        Buffer out;          /* bytes queued for the socket */
        Buffer in;           /* a partial frame from the socket */
        bool stdin_open;     /* still forwarding our stdin */
        bool send_closed;    /* the helper stopped reading; drop what we would send */
        bool stdout_broken;  /* our stdout is gone: we cancelled the job, its output is dropped */
        bool cancel_sent;
        int n_signals;
        int abandon_signal; /* the second SIGINT/SIGTERM/SIGHUP: we quit without a result */
        Buffer json_stdout, json_stderr;
        bool have_accepted;
        bool have_result;
        JobResult result;
} Session;

static void session_done(Session *s) {
        s->sock = safe_close(s->sock);
        s->sigfd = safe_close(s->sigfd);
        buffer_done(&s->out);
        buffer_done(&s->in);
        buffer_done(&s->json_stdout);
        buffer_done(&s->json_stderr);
        if (s->have_result)
                job_result_done(&s->result);
}

static int connect_socket(const char *path, int *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sa.sun_path))
                return fail("socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return fail("cannot create socket: %m");
        /* A local stream socket connects at once or fails; EINPROGRESS does not happen for AF_UNIX,
         * but EAGAIN does when the listen backlog is full: treat it as "helper not keeping up". */
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno == ENOENT || errno == ECONNREFUSED)
                        return fail("cannot connect to %s: %m (is pyward.socket running?)", path);
                if (errno == EACCES)
                        return fail("cannot connect to %s: %m (are you in the pyward group?)", path);
                return fail("cannot connect to %s: %m", path);
        }
        *ret = TAKE_FD(fd);
        return 0;
}

static int queue_frame(Session *s, uint16_t type, const void *p, size_t n) {
        if (s->send_closed)
                return 0;
        if (frame_append(&s->out, type, p, n) < 0)
                return fail("out of memory");
        return 0;
}

static int cancel_job(Session *s) {
        if (s->cancel_sent)
                return 0;
        s->cancel_sent = true;
        /* Nothing more from our stdin after a cancel; the job is going away. */
        s->stdin_open = false;
        return queue_frame(s, FRAME_CANCEL, NULL, 0);
}

/* Writes all of p to a blocking (or, if inherited so, non-blocking) fd. */
static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                                (void) poll(&pfd, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int handle_output(Session *s, uint16_t type, const uint8_t *p, size_t n) {
        Buffer *b = type == FRAME_STDOUT ? &s->json_stdout : &s->json_stderr;
        int fd = type == FRAME_STDOUT ? STDOUT_FILENO : STDERR_FILENO;
        int r;

        if (s->args->json) {
                if (b->size + n > JSON_STREAM_MAX)
                        return fail("the job's %s exceeds %u bytes, too much for --json",
                                    type == FRAME_STDOUT ? "stdout" : "stderr", JSON_STREAM_MAX);
                if (buffer_append(b, p, n) < 0)
                        return fail("out of memory");
                return 0;
        }
        if (fd == STDOUT_FILENO && s->stdout_broken)
                return 0;
        r = write_all(fd, p, n);
        if (r < 0 && fd == STDOUT_FILENO) {
                /* Like a local process killed by SIGPIPE: whoever reads us is gone, stop the job. */
                s->stdout_broken = true;
                if (r != -EPIPE)
                        fprintf(stderr, "pyward: cannot write the job's output: %s\n", strerror(-r));
                return cancel_job(s);
        }
        return 0; /* a broken stderr has nobody left to tell */
}

static int handle_frame(Session *s, uint16_t type, const uint8_t *p, size_t n) {
        int r;

        switch (type) {
        case FRAME_STDOUT:
        case FRAME_STDERR:
                return handle_output(s, type, p, n);
        case FRAME_ACCEPTED:
                if (s->have_accepted)
                        return fail("protocol error: duplicate ACCEPTED frame from the helper");
                s->have_accepted = true;
                return 0;
        case FRAME_RESULT:
                r = job_result_parse(p, n, &s->result);
                if (r < 0)
                        return fail("protocol error: malformed RESULT from the helper: %s", strerror(-r));
                s->have_result = true;
                return 0;
        default:
                return fail("protocol error: unexpected %s frame from the helper", frame_type_to_string(type));
        }
}

/* Decodes whole frames from s->in. */
static int process_input(Session *s) {
        size_t off = 0;
        int r = 0;

        while (!s->have_result && s->in.size - off >= PW_FRAME_HEADER_SIZE) {
                FrameHeader h;

                r = frame_header_parse(s->in.data + off, &h);
                if (r < 0) {
                        r = fail("protocol error: invalid frame header from the helper (type 0x%04x)",
                                 (unsigned) (s->in.data[off] | s->in.data[off + 1] << 8));
                        break;
                }
                if (s->in.size - off - PW_FRAME_HEADER_SIZE < h.length)
                        break;
                r = handle_frame(s, h.type, s->in.data + off + PW_FRAME_HEADER_SIZE, h.length);
                if (r < 0)
                        break;
                off += PW_FRAME_HEADER_SIZE + h.length;
        }
        buffer_consume(&s->in, off);
        return r;
}

static int read_socket(Session *s) {
        uint8_t buf[64 * 1024];
        ssize_t n;

        n = recv(s->sock, buf, sizeof(buf), 0);
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                return fail("connection to the helper failed: %m");
        }
        if (n == 0) {
                if (s->in.size > 0)
                        return fail("protocol error: the helper closed the connection inside a frame");
                return fail("the helper closed the connection without a result");
        }
        if (buffer_append(&s->in, buf, (size_t) n) < 0)
                return fail("out of memory");
        return process_input(s);
}

static int write_socket(Session *s) {
        ssize_t n = send(s->sock, s->out.data, s->out.size, MSG_NOSIGNAL);

        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                if (errno == EPIPE || errno == ECONNRESET) {
                        /* The helper stopped reading, e.g. it rejected the request. Its verdict is
                         * still on its way to us; stop sending and keep reading. */
                        s->send_closed = true;
                        s->stdin_open = false;
                        s->out.size = 0;
                        return 0;
                }
                return fail("cannot send to the helper: %m");
        }
        buffer_consume(&s->out, (size_t) n);
        return 0;
}

static int read_stdin(Session *s) {
        uint8_t buf[PW_CHUNK_MAX];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                fprintf(stderr, "pyward: cannot read stdin, closing the job's stdin: %m\n");
                n = 0;
        }
        if (n == 0) {
                s->stdin_open = false;
                return queue_frame(s, FRAME_STDIN_EOF, NULL, 0);
        }
        return queue_frame(s, FRAME_STDIN, buf, (size_t) n);
}

static int handle_signal(Session *s) {
        struct signalfd_siginfo si;
        ssize_t n = read(s->sigfd, &si, sizeof(si));

        if (n != sizeof(si))
                return 0;
        if (++s->n_signals == 1) {
                if (!s->args->quiet)
                        fprintf(stderr, "pyward: %s received, cancelling the job (again to abandon it)\n",
                                strsignal((int) si.ssi_signo));
                return cancel_job(s);
        }
        /* A second signal: give up waiting. Closing the connection makes the helper stop the job. */
        fprintf(stderr, "pyward: abandoning the job\n");
        s->abandon_signal = (int) si.ssi_signo;
        return -ECANCELED;
}

static int run_session(Session *s) {
        for (;;) {
                struct pollfd p[3] = {
                        { .fd = s->sock, .events = POLLIN },
                        { .fd = s->sigfd, .events = POLLIN },
                        { .fd = -1 },
                };
                int r;

                if (s->out.size > 0)
                        p[0].events |= POLLOUT;
                if (s->stdin_open && s->out.size < OUT_HIGH_WATER) {
                        p[2].fd = STDIN_FILENO;
                        p[2].events = POLLIN;
                }
                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail("poll failed: %m");
                }
                if (p[1].revents & POLLIN) {
                        r = handle_signal(s);
                        if (r < 0)
                                return r;
                }
                if (p[0].revents & POLLOUT) {
                        r = write_socket(s);
                        if (r < 0)
                                return r;
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = read_socket(s);
                        if (r < 0)
                                return r;
                        if (s->have_result)
                                return 0;
                }
                if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = read_stdin(s);
                        if (r < 0)
                                return r;
                }
                if (p[2].revents & POLLNVAL) {
                        s->stdin_open = false;
                        r = queue_frame(s, FRAME_STDIN_EOF, NULL, 0);
                        if (r < 0)
                                return r;
                }
        }
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
 * or 0 if the bytes there are not one. */
static size_t utf8_valid_at(const uint8_t *p, size_t n) {
        uint8_t c = p[0];
        size_t len;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                len = 4, cp = c & 0x07;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return len;
}

/* A JSON string. Bytes that are not valid UTF-8 become U+FFFD each; *ret_lossy says if any did. */
static void json_string(FILE *f, const void *data, size_t n, bool *ret_lossy) {
        const uint8_t *p = data;
        bool lossy = false;

        fputc('"', f);
        for (size_t i = 0; i < n;) {
                size_t l = utf8_valid_at(p + i, n - i);

                if (l == 0) {
                        fputs("\\ufffd", f);
                        lossy = true;
                        i++;
                        continue;
                }
                if (l > 1) {
                        fwrite(p + i, 1, l, f);
                        i += l;
                        continue;
                }
                switch (p[i]) {
                case '"': fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\n': fputs("\\n", f); break;
                case '\r': fputs("\\r", f); break;
                case '\t': fputs("\\t", f); break;
                case '\b': fputs("\\b", f); break;
                case '\f': fputs("\\f", f); break;
                default:
                        if (p[i] < 0x20)
                                fprintf(f, "\\u%04x", p[i]);
                        else
                                fputc(p[i], f);
                }
                i++;
        }
        fputc('"', f);
        if (ret_lossy)
                *ret_lossy = lossy;
}

static void json_string_or_null(FILE *f, const char *s) {
        if (s)
                json_string(f, s, strlen(s), NULL);
        else
                fputs("null", f);
}

static void json_u64_or_null(FILE *f, uint64_t v) {
        if (v == RESULT_UNSET)
                fputs("null", f);
        else
                fprintf(f, "%" PRIu64, v);
}

static void base64(FILE *f, const uint8_t *p, size_t n) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

        fputc('"', f);
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);
                fputc(t[v >> 18], f);
                fputc(t[(v >> 12) & 63], f);
                fputc(i + 1 < n ? t[(v >> 6) & 63] : '=', f);
                fputc(i + 2 < n ? t[v & 63] : '=', f);
        }
        fputc('"', f);
}

static void json_stream(FILE *f, const char *name, const Buffer *b) {
        bool lossy;

        fprintf(f, "\"%s\":", name);
        json_string(f, b->data, b->size, &lossy);
        /* Lossless when it matters: the raw bytes too, if the string had to replace any. */
        if (lossy) {
                fprintf(f, ",\"%s_base64\":", name);
                base64(f, b->data, b->size);
        }
        fputc(',', f);
}

static int print_json(const Session *s, int exit_status) {
        const JobResult *r = &s->result;
        char sig[16];

        fputs("{\"status\":", stdout);
        json_string_or_null(stdout, job_status_to_string(r->status));
        fputs(",\"exit_code\":", stdout);
        if (r->exit_code >= 0)
                printf("%d", r->exit_code);
        else
                fputs("null", stdout);
        fputs(",\"signal\":", stdout);
        json_string_or_null(stdout, r->signal > 0 && signal_to_string(r->signal, sig, sizeof(sig)) >= 0
                                            ? sig : NULL);
        fputc(',', stdout);
        json_stream(stdout, "stdout", &s->json_stdout);
        json_stream(stdout, "stderr", &s->json_stderr);
        fputs("\"wall_ms\":", stdout);
        json_u64_or_null(stdout, r->wall_ms);
        fputs(",\"cpu_ms\":", stdout);
        json_u64_or_null(stdout, r->cpu_ms);
        fputs(",\"memory_peak_bytes\":", stdout);
        json_u64_or_null(stdout, r->memory_peak_bytes);
        fputs(",\"memory_peak_reason\":", stdout);
        json_string_or_null(stdout, r->memory_peak_reason);
        fputs(",\"unit\":", stdout);
        json_string_or_null(stdout, r->unit);
        fputs(",\"invocation_id\":", stdout);
        json_string_or_null(stdout, r->invocation_id);
        fputs(",\"job\":", stdout);
        json_string_or_null(stdout, r->job);
        fputs(",\"message\":", stdout);
        json_string_or_null(stdout, r->message);
        printf(",\"pyward_exit_status\":%d}\n", exit_status);
        if (fflush(stdout) != 0)
                return fail("cannot write the JSON document: %m");
        return 0;
}

/* The exit-status table of pyward(1). */
static int exit_status_of(const JobResult *r) {
        switch (r->status) {
        case JOB_OK:
                return 0;
        case JOB_EXIT:
                return r->exit_code > 0 ? r->exit_code : 1;
        case JOB_TIMEOUT:
        case JOB_CPU_LIMIT:
                return EXIT_TIMEOUT;
        case JOB_SIGNAL:
        case JOB_OOM:
        case JOB_OUTPUT_LIMIT:
        case JOB_KILLED:
                return r->signal > 0 ? 128 + r->signal : 128 + SIGKILL;
        default:
                return EXIT_PYWARD;
        }
}

static void report(const JobResult *r, bool quiet) {
        const char *m = r->message;
        char sig[16] = "";

        if (r->signal > 0)
                (void) signal_to_string(r->signal, sig, sizeof(sig));
        switch (r->status) {
        case JOB_OK:
        case JOB_EXIT:
                return;
        case JOB_REJECTED:
                fprintf(stderr, "pyward: request rejected: %s\n", m ? m : "(no reason given)");
                return;
        case JOB_ERROR:
                fprintf(stderr, "pyward: job failed: %s\n", m ? m : "(no reason given)");
                return;
        default:
                break;
        }
        if (quiet)
                return;
        switch (r->status) {
        case JOB_SIGNAL:       fprintf(stderr, "pyward: job killed by signal %s", sig); break;
        case JOB_TIMEOUT:      fputs("pyward: job stopped: wall-clock time limit reached", stderr); break;
        case JOB_CPU_LIMIT:    fputs("pyward: job stopped: CPU time limit reached", stderr); break;
        case JOB_OOM:          fputs("pyward: job stopped: memory limit reached", stderr); break;
        case JOB_OUTPUT_LIMIT: fputs("pyward: job stopped: output limit reached", stderr); break;
        case JOB_KILLED:       fputs("pyward: job was stopped (cancelled or killed)", stderr); break;
        default:               break;
        }
        if (m && r->status != JOB_SIGNAL)
                fprintf(stderr, ": %s", m);
        fputc('\n', stderr);
}

static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

int main(int argc, char **argv) {
        Args args = {};
        Session s = { .args = &args, .sock = -EBADF, .sigfd = -EBADF };
        sigset_t mask;
        int r, status;

        r = parse_args(argc, argv, &args);
        if (r <= 0)
                return r < 0 ? EXIT_PYWARD : EXIT_SUCCESS;

        /* Our own writes report EPIPE instead; we decide what a closed reader means. */
        signal(SIGPIPE, SIG_IGN);

        r = build_request(&args, &s.out);
        if (r < 0)
                goto fail;

        /* ssh -n semantics: a terminal is not forwarded (a job has no terminal, and we must not
         * wait for a user to type ^D); neither is a closed fd. /dev/null is simply end-of-file. */
        s.stdin_open = !args.no_stdin && fd_is_open(STDIN_FILENO) && !isatty(STDIN_FILENO);
        if (!s.stdin_open) {
                r = queue_frame(&s, FRAME_STDIN_EOF, NULL, 0);
                if (r < 0)
                        goto fail;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                r = fail("cannot block signals: %m");
                goto fail;
        }
        s.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (s.sigfd < 0) {
                r = fail("cannot create signalfd: %m");
                goto fail;
        }

        r = connect_socket(args.socket_path, &s.sock);
        if (r < 0)
                goto fail;

        r = run_session(&s);
        if (r == -ECANCELED && s.abandon_signal > 0) {
                session_done(&s);
                return 128 + s.abandon_signal;
        }
        if (r < 0)
                goto fail;

        status = exit_status_of(&s.result);
        if (args.json) {
                if (print_json(&s, status) < 0)
                        status = EXIT_PYWARD;
                if (s.result.status == JOB_REJECTED || s.result.status == JOB_ERROR)
                        report(&s.result, args.quiet);
        } else {
                /* The job's output is all written; our message goes after it. A job we cancelled
                 * because our reader went away needs no explanation. */
                report(&s.result, args.quiet || s.stdout_broken);
        }
        session_done(&s);
        return status;

fail:
        session_done(&s);
        return EXIT_PYWARD;
}
