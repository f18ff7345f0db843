/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward(1): sends code to the pyward helper socket, streams the job's stdin/stdout/stderr and exits
 * with the job's status. main() and the request; args.c, run.c and json.c do the rest, and
 * interactive.c hands -i to the Python client. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "collect.h"
#include "files-out.h"
#include "interactive.h"
#include "json.h"
#include "protocol.h"
#include "run.h"

static bool streq_dots(const char *s) {
        return strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

/* Reads path whole with a hard bound of max bytes: -EFBIG beyond it (not reported), other
 * failures reported. *ret_mode: its permission bits. */
static int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_size, mode_t *ret_mode) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return fail("cannot open %s: %m", path);
        if (fstat(fd, &st) < 0)
                return fail("cannot stat %s: %m", path);
        if (S_ISDIR(st.st_mode))
                return fail("cannot read %s: %s", path, strerror(EISDIR));
        for (;;) {
                ssize_t k;

                if (n == allocated) {
                        /* Grown as it is read: a bound of 32 MiB is no reason to allocate it. */
                        size_t want = allocated ? allocated * 2 : 64 * 1024;
                        char *b;

                        if (want > max + 1)
                                want = max + 1;
                        b = realloc(buf, want);
                        if (!b)
                                return fail("out of memory");
                        buf = b;
                        allocated = want;
                }
                k = read(fd, buf + n, allocated - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail("cannot read %s: %m", path);
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        if (!buf && !(buf = malloc(1)))
                return fail("out of memory");
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        if (ret_mode)
                *ret_mode = st.st_mode & 07777;
        return 0;
}

/* Reads FILE with a hard bound: PW_CODE_MAX bytes. */
static int read_file(const char *path, char **ret, size_t *ret_size) {
        int r = read_file_bounded(path, PW_CODE_MAX, ret, ret_size, NULL);

        if (r == -EFBIG)
                return fail("%s is larger than the maximum of %u bytes", path, PW_CODE_MAX);
        return r;
}

static void request_files_free(RequestFile *files, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(files[i].data);
        free(files);
}

/* --file: each LOCAL read whole (the user's own file, opened as any other program would), its
 * path checked already (args.c); the helper checks again and names the file if it refuses. */
static int read_input_files(const Args *a, RequestFile **ret) {
        RequestFile *files;
        uint64_t total = 0;

        files = calloc(a->n_files ? a->n_files : 1, sizeof(RequestFile));
        if (!files)
                return fail("out of memory");
        for (size_t i = 0; i < a->n_files; i++) {
                char *data = NULL;
                size_t size;
                mode_t mode;
                int r;

                r = read_file_bounded(a->files[i].local, PW_FILES_IN_BYTES_MAX - total, &data, &size, &mode);
                if (r == -EFBIG)
                        r = fail(
                                "--file %s: the input files are larger than the maximum of %u bytes together",
                                a->files[i].local, PW_FILES_IN_BYTES_MAX);
                if (r < 0) {
                        request_files_free(files, i);
                        return r;
                }
                total += size;
                files[i] = (RequestFile) {
                        .path = a->files[i].path,
                        .data = (uint8_t *) data,
                        .size = size,
                        .data_size = size,
                        .executable = (mode & 0111) != 0,
                };
        }
        *ret = files;
        return 0;
}

static int build_discover_request(Buffer *out) {
        Request req = { .version = PW_PROTOCOL_VERSION, .discover = true };
        int r;

        r = request_append(out, &req);
        if (r < 0)
                return fail("cannot encode the request: %s", strerror(-r));
        return 0;
}

static int build_request(const Args *a, Buffer *out) {
        _cleanup_free_ char *file_code = NULL;
        RequestFile *files = NULL;
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
                        return fail("argument #%d is longer than the maximum of %d bytes", i + 1, PW_ARG_MAX);
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
        r = read_input_files(a, &files);
        if (r < 0)
                return r;
        req.files = files;
        req.n_files = a->n_files;
        req.collect = a->collect;
        r = request_append(out, &req);
        request_files_free(files, a->n_files);
        if (r == -ENOMEM)
                return fail("out of memory");
        if (r < 0)
                return fail("cannot encode the request: %s", strerror(-r));
        return 0;
}

/* The exit-status table of pyward(1). */
static int exit_status_of(const JobResult *r) {
        /* clang-format off */
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
        /* clang-format on */
}

static void report(const JobResult *r, bool quiet) {
        const char *m = r->message;
        char sig[16] = "";

        if (r->signal > 0)
                (void) signal_to_string(r->signal, sig, sizeof(sig));
        /* clang-format off */
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
        /* clang-format on */
        if (quiet)
                return;
        /* clang-format off */
        switch (r->status) {
        case JOB_SIGNAL:       fprintf(stderr, "pyward: job killed by signal %s", sig); break;
        case JOB_TIMEOUT:      fputs("pyward: job stopped: wall-clock time limit reached", stderr); break;
        case JOB_CPU_LIMIT:    fputs("pyward: job stopped: CPU time limit reached", stderr); break;
        case JOB_OOM:          fputs("pyward: job stopped: memory limit reached", stderr); break;
        case JOB_OUTPUT_LIMIT: fputs("pyward: job stopped: output limit reached", stderr); break;
        case JOB_KILLED:       fputs("pyward: job was stopped (cancelled or killed)", stderr); break;
        default:               break;
        }
        /* clang-format on */
        if (m && r->status != JOB_SIGNAL)
                fprintf(stderr, ": %s", m);
        fputc('\n', stderr);
}

static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* --files-out DIR is opened before the job runs: a DIR that cannot be made fails at once. */
static int setup_collect(const Args *a, Session *s) {
        int r;

        s->collecting = a->collect;
        s->collect.overwrite = a->overwrite;
        s->collect.keep = a->json && !a->files_out;
        if (!a->files_out)
                return 0;
        s->collect.dir = a->files_out;
        r = files_out_open_dir(a->files_out, &s->collect.dir_fd);
        if (r < 0)
                return fail("cannot open --files-out directory %s: %s", a->files_out, strerror(-r));
        return 0;
}

static int setup_request(const Args *a, Session *s) {
        int r;

        if (a->list_profiles) {
                /* HELLO, DISCOVER, REQUEST_END and nothing after: no job, no stdin. */
                s->discovering = true;
                s->stdin_done = true;
                return build_discover_request(&s->out);
        }
        r = setup_collect(a, s);
        if (r < 0)
                return r;
        r = build_request(a, &s->out);
        if (r < 0)
                return r;
        /* ssh -n semantics: a terminal is not forwarded (a job has no terminal, and we must not
         * wait for a user to type ^D); neither is a closed fd. /dev/null is simply end-of-file. */
        s->stdin_open = !a->no_stdin && fd_is_open(STDIN_FILENO) && !isatty(STDIN_FILENO);
        if (!s->stdin_open)
                return session_queue_frame(s, FRAME_STDIN_EOF, NULL, 0);
        return 0;
}

static int finish_profiles(const Args *a, Session *s) {
        int status = exit_status_of(&s->result);

        if (a->json) {
                if (json_print_profiles(s->profiles.items, s->profiles.n, &s->result, status) < 0)
                        status = EXIT_PYWARD;
        } else {
                profiles_print(&s->profiles, stdout);
                if (fflush(stdout) != 0) {
                        fail("cannot write the list: %m");
                        status = EXIT_PYWARD;
                }
        }
        report(&s->result, a->quiet);
        return status;
}

static int finish_job(const Args *a, Session *s) {
        int status = exit_status_of(&s->result);

        /* A file that could not be written is pyward's failure, whatever the job did: the caller
         * must not take the job's 0 for "the files are there". The JSON status stays the job's. */
        if (s->collect.n_failed > 0)
                status = EXIT_PYWARD;
        if (a->json) {
                if (json_print_result(&s->result, &s->json_stdout, &s->json_stderr,
                                      s->collecting ? &s->collect : NULL, status) < 0)
                        status = EXIT_PYWARD;
                if (s->result.status == JOB_REJECTED || s->result.status == JOB_ERROR)
                        report(&s->result, a->quiet);
        } else {
                /* The job's output is all written; our message goes after it. A job we cancelled
                 * because our reader went away needs no explanation. */
                report(&s->result, a->quiet || s->stdout_broken);
        }
        if (s->collecting)
                collect_report(&s->collect, &s->result, a->quiet || a->json || s->stdout_broken);
        return status;
}

int main(int argc, char **argv) {
        Args args = {};
        Session s = { .args = &args, .sock = -EBADF, .sigfd = -EBADF, .collect = COLLECT_NULL };
        sigset_t mask;
        int r, status;

        r = args_parse(argc, argv, &args);
        if (r <= 0) {
                args_done(&args);
                return r < 0 ? EXIT_PYWARD : EXIT_SUCCESS;
        }
        if (args.interactive) {
                (void) interactive_exec(&args); /* returns only if it failed, reported */
                args_done(&args);
                return EXIT_PYWARD;
        }

        /* Our own writes report EPIPE instead; we decide what a closed reader means. */
        signal(SIGPIPE, SIG_IGN);

        r = setup_request(&args, &s);
        if (r < 0)
                goto fail;

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

        r = session_connect(&s, args.socket_path);
        if (r < 0)
                goto fail;

        r = session_run(&s);
        if (r == -ECANCELED && s.abandon_signal > 0) {
                session_done(&s);
                args_done(&args);
                return 128 + s.abandon_signal;
        }
        if (r < 0)
                goto fail;

        status = args.list_profiles ? finish_profiles(&args, &s) : finish_job(&args, &s);
        session_done(&s);
        args_done(&args);
        return status;

fail:
        session_done(&s);
        args_done(&args);
        return EXIT_PYWARD;
}
