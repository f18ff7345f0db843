/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runner channel: the one internal channel between the helper and the runner (runner.py, the
 * job's first process), a SOCK_STREAM socketpair whose far end is the job's fd 0 (systemd 252 hands
 * a transient unit only stdin, stdout and stderr; everything else rides on this socket, the job's
 * stdin pipe included, by SCM_RIGHTS). Framing as the wire protocol's: an 8-byte header (uint16
 * type, uint16 flags = 0, uint32 length, little-endian), then the payload. ARCHITECTURE.md and
 * pyward-helper(8) "THE RUNNER CHANNEL" describe it; keep the three in sync.
 *
 * helper -> runner, in this order, then nothing but STOP:
 *   CH_CODE (once), CH_FILENAME (once), CH_ARG (each, in order), CH_BOUNDS (once),
 *   CH_FILE + CH_FILE_DATA... (each input file), CH_GO (once; carries the job's stdin by SCM_RIGHTS)
 *   CH_STOP (empty, at most once): a limit stopped the job: end the code, return what exists, exit.
 * runner -> helper (everything untrusted: bounded and checked by the ChannelReader below):
 *   CH_FILE_OUT + CH_FILE_OUT_DATA... and CH_SKIPPED in any order, then CH_DONE, then EOF;
 *   or, for a discovery run (CH_GO_DISCOVER), one CH_INFO, then EOF.
 *   CH_FILE_OUT paths come strictly sorted by their bytes (so none twice): the runner walks each
 *   directory's entries sorted with a directory's name as "NAME/", which is that order. The
 *   runner sends at most PW_SKIPPED_LISTED_MAX CH_SKIPPED and counts the rest in CH_DONE.
 * A session (CH_GO_SESSION; CODE is then empty and no ARG or FILE precedes GO): after GO, any
 * number of cells, one at a time:
 *   helper -> runner: CH_FILE + CH_FILE_DATA... (the next cell's input files, written into the
 *   working directory, replacing a file of that path), CH_CELL; while it runs: CH_INTERRUPT;
 *   between cells: CH_END (exit 0); at any time: CH_STOP (kill everything, exit).
 *   runner -> helper, per cell: if the cell asked (CH_CELL_COLLECT) CH_FILE_OUT + DATA... and
 *   CH_SKIPPED (the files the cell made or changed since they were last returned or sent), then
 *   exactly one CH_CELL_RESULT. The per-cell file bounds restart at each CH_CELL.
 * The runner may be started before a request exists (warm runners): nothing in the channel depends
 * on the unit's properties. A warm runner's fd 0 is a listening AF_UNIX socket (SO_ACCEPTCONN)
 * whose name is in WARM_DIR (warm.h), not a connected one: it imports the modules named in
 * $PYWARD_PRELOAD (comma-separated; one that fails is left out), accepts one connection (its peer
 * must be uid 0), closes the listener and makes the connection its fd 0. Its first messages are
 * then CH_STDIO (stdout), CH_STDIO (stderr) and CH_LIMITS, then the request as above. A runner
 * serves one connection, one job, and exits; EOF before GO: exit 1 with nothing run. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buffer.h"
#include "macro.h"
#include "protocol.h"

#define CH_VERSION 1
#define CH_INFO_MAX PW_PROFILE_INFO_MAX
#define CH_CELL_RESULT_MAX PW_CELL_RESULT_MAX

typedef enum ChannelType {
        /* helper -> runner */
        CH_CODE = 0x01,      /* the code, 0..PW_CODE_MAX bytes */
        CH_FILENAME = 0x02,  /* the main file's name (as FRAME_FILENAME; "main.py" by default) */
        CH_ARG = 0x03,       /* one sys.argv[1:] element */
        CH_BOUNDS = 0x04,    /* 5 x uint64: files_out, files_out_bytes, file_out_size, depth,
                              * collect time (usec); what the runner should stay within */
        CH_FILE = 0x05,      /* an input file: uint32 flags (PW_FILE_*), uint64 size, path */
        CH_FILE_DATA = 0x06, /* 1..PW_CHUNK_MAX bytes of it */
        CH_GO = 0x07,        /* uint32 version (CH_VERSION), uint32 flags (CH_GO_*); SCM_RIGHTS:
                              * the job's stdin (read end), with GO's first byte (the runner
                              * closes any other fd it receives; a code run without it is a
                              * runner error; a discovery run needs none) */
        CH_STOP = 0x08,      /* empty */
        CH_CELL = 0x09,      /* session: uint32 flags (CH_CELL_*), uint32 cell number (1-based), code */
        CH_INTERRUPT = 0x0A, /* session, empty: SIGINT to the running cell */
        CH_END = 0x0B,       /* session, empty: no more cells: exit 0 */
        CH_STDIO = 0x0C,     /* warm runner, first: uint32 1 (stdout) or 2 (stderr); SCM_RIGHTS:
                              * the job's write end of that pipe, with the message's first byte */
        CH_LIMITS = 0x0D,    /* warm runner, after both CH_STDIO: 3 x uint64: RLIMIT_CPU seconds
                              * of the code (soft; hard one more, never above the unit's; 0: as
                              * the unit's), the wall-clock time in usec after which the runner
                              * ends the code itself (0: never), RLIMIT_NPROC of the code (soft =
                              * hard, never above the unit's; 0: as the unit's) */

        /* runner -> helper */
        CH_FILE_OUT = 0x81,      /* uint32 mode (permission bits only, <= 07777), uint64 size, path
                                  * (1..PW_PATH_MAX, file_path_valid()): the wire's FILE_OUT layout */
        CH_FILE_OUT_DATA = 0x82, /* 1..PW_CHUNK_MAX bytes; exactly size follow each FILE_OUT */
        CH_SKIPPED = 0x83,       /* uint32 FileSkipReason (1.._FILE_SKIP_MAX-1), path (0..PW_PATH_MAX
                                  * bytes; valid if not empty; empty: a name no client could be
                                  * given, FILE_SKIP_NAME, or the rest after FILE_SKIP_TIME) */
        CH_DONE = 0x84,          /* uint64: entries the runner left out without a CH_SKIPPED */
        CH_INFO = 0x85,          /* 0..CH_INFO_MAX bytes of key=value lines escaped as RESULT's:
                                  * python=X.Y.Z, sitedir=DIR (each existing sys.path directory, in
                                  * order), package=NAME VERSION (sorted by normalized name, the
                                  * first of each name on sys.path), packages_omitted=N (only if
                                  * some did not fit) */
        CH_CELL_RESULT = 0x86,   /* session: 0..CH_CELL_RESULT_MAX bytes of key=value lines escaped
                                  * as RESULT's (channel_cell_result_parse()): status=ok|error,
                                  * value=, value_truncated=1, error_type=, error_message=,
                                  * traceback=; each key at most once */
} ChannelType;

#define CH_GO_COLLECT 0x1U   /* return the output files after the code */
#define CH_GO_DISCOVER 0x2U  /* run no code: answer CH_INFO about the interpreter */
#define CH_GO_SESSION 0x4U   /* a session: cells follow (CH_CELL) */
#define CH_CELL_COLLECT 0x1U /* CH_CELL: return the files after the cell */

typedef struct ChannelBounds {
        uint64_t files_out;       /* LIMIT_FILES_OUT */
        uint64_t files_out_bytes; /* LIMIT_FILES_OUT_BYTES */
        uint64_t file_out_size;   /* LIMIT_FILE_OUT_SIZE */
        uint64_t depth;           /* LIMIT_FILES_OUT_DEPTH */
        uint64_t collect_usec;    /* LIMIT_FILES_OUT_TIME */
} ChannelBounds;

/* --- helper -> runner ------------------------------------------------------------------------- */

/* Appends CODE, FILENAME, each ARG, BOUNDS, each FILE with its FILE_DATA, and GO (whose SCM_RIGHTS
 * the writer attaches: *ret_go_offset is the offset of GO's first byte in b). All or nothing;
 * 0, -ENOMEM, -EMSGSIZE (a field over its bound), -EINVAL (a file whose data is incomplete). */
int channel_request_append(Buffer *b, const Request *req, const ChannelBounds *bounds, uint32_t go_flags,
                           size_t *ret_go_offset);
int channel_stop_append(Buffer *b);
/* A warm runner's first messages: CH_STDIO for fd 1 or 2 (the writer attaches the pipe's write end
 * at the message's first byte), then CH_LIMITS. */
#define CH_STDIO_STDOUT 1U
#define CH_STDIO_STDERR 2U
#define CH_LIMITS_SIZE 24U
int channel_stdio_append(Buffer *b, uint32_t which);
int channel_limits_append(Buffer *b, uint64_t cpu_seconds, uint64_t wall_usec, uint64_t nproc);
/* Session messages: CH_FILE + CH_FILE_DATA... of each file, then CH_CELL. All or nothing;
 * 0, -ENOMEM, -EMSGSIZE, -EINVAL (a file whose data is incomplete). */
int channel_cell_append(Buffer *b, const RequestFile *files, size_t n_files, uint32_t flags, uint64_t cell,
                        const char *code, size_t code_size);
int channel_interrupt_append(Buffer *b);
int channel_end_append(Buffer *b);

/* --- runner -> helper ------------------------------------------------------------------------- */

typedef enum ChannelEventType {
        CHANNEL_EVENT_NONE,        /* more bytes needed */
        CHANNEL_EVENT_FILE,        /* a file begins: path, mode, size (valid, within the bounds) */
        CHANNEL_EVENT_FILE_DATA,   /* data, data_size bytes of the current file */
        CHANNEL_EVENT_FILE_END,    /* the current file is complete */
        CHANNEL_EVENT_SKIPPED,     /* reason, path (NULL if path_size is 0); from the runner or the bounds */
        CHANNEL_EVENT_DONE,        /* the runner's end of files; count: entries it left out unlisted */
        CHANNEL_EVENT_INFO,        /* data, data_size: the CH_INFO payload, unparsed */
        CHANNEL_EVENT_CELL_RESULT, /* data, data_size: the CH_CELL_RESULT payload, unparsed (parse
                                    * it with channel_cell_result_parse()); a session's cell ended */
} ChannelEventType;

typedef struct ChannelEvent {
        ChannelEventType type;
        uint32_t mode;
        uint64_t size;
        const char *path; /* into the reader's buffer: valid until the next feed; not NUL-terminated */
        size_t path_size;
        const void *data;
        size_t data_size;
        FileSkipReason reason;
        uint64_t count;
} ChannelEvent;

typedef struct ChannelReader ChannelReader;

/* What a reader is for. */
typedef enum ChannelMode {
        CHANNEL_MODE_JOB,      /* files, then CH_DONE */
        CHANNEL_MODE_DISCOVER, /* one CH_INFO */
        CHANNEL_MODE_SESSION,  /* per cell: files, then CH_CELL_RESULT; never CH_DONE or CH_INFO */
} ChannelMode;

/* A reader that enforces bounds itself: a FILE_OUT over files_out, files_out_bytes or
 * file_out_size, or deeper than depth, becomes a CHANNEL_EVENT_SKIPPED with the helper's reason
 * and its data is dropped; the runner's word is never needed to keep a bound. mode: what may come
 * (a session's reader starts between cells: call channel_reader_cell_start() before each cell). */
int channel_reader_new(const ChannelBounds *bounds, ChannelMode mode, ChannelReader **ret);
ChannelReader *channel_reader_free(ChannelReader *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ChannelReader *, channel_reader_free);

/* Consumes up to size bytes: returns how many (>= 0) and sets *ev. CHANNEL_EVENT_NONE means all
 * size bytes were consumed and made no complete event yet. Any other event: call again with the
 * rest, and once more when no byte is left: a file's CHANNEL_EVENT_FILE_END comes from a call of
 * its own, consuming nothing (after the last FILE_DATA, or right after the FILE of an empty file);
 * a call with size 0 returns it, or NONE. The loop: until NONE, feed what is left.
 * A violation of the framing, the order or a payload's syntax returns -EBADMSG with a static
 * reason in *ret_why (may be NULL); the reader then refuses everything (-EBADMSG again). At most
 * one message's payload is buffered (PW_CHUNK_MAX, CH_INFO_MAX for a discovery run, and in a
 * session the larger of PW_CHUNK_MAX and CH_CELL_RESULT_MAX; a length over the type's bound is a
 * violation before any byte of it is kept). Event
 * pointers point into the reader's buffer, valid until the next call. The helper's own bounds are
 * checked in this order: depth, file_out_size (never above PW_FILE_OUT_SIZE_MAX), files_out (never
 * above PW_FILES_COUNT_MAX), files_out_bytes; only FILE events count towards them. */
ssize_t channel_reader_feed(ChannelReader *r, const void *data, size_t size, ChannelEvent *ev,
                            const char **ret_why);
/* True once CH_DONE (or CH_INFO) was read: whatever follows is a violation. */
bool channel_reader_done(const ChannelReader *r);
/* Session: the next cell begins: the per-cell file bounds and counts start again. A CELL_RESULT
 * that was not preceded by a restart (a cell the helper did not send) is a violation. */
void channel_reader_cell_start(ChannelReader *r);

/* A CH_CELL_RESULT payload (untrusted) -> *ret's status, value, value_truncated, error_type,
 * error_message, traceback (each cut to its PW_CELL_*_MAX at a UTF-8 boundary; bytes that are not
 * UTF-8 are kept as they are); the helper fills in the rest. -EBADMSG with a static reason in
 * *ret_why (unknown key, a key twice, bad escape, status not ok/error, no status), -ENOMEM. */
int channel_cell_result_parse(const void *payload, size_t size, CellResult *ret, const char **ret_why);

/* The channel's fd writer: queued bytes, written when the socket takes them, with SCM_RIGHTS of
 * one fd attached at a given offset (CH_GO's). Non-blocking; for the Run's event loop. */
typedef struct ChannelWriter ChannelWriter;
int channel_writer_new(int fd, ChannelWriter **ret);
ChannelWriter *channel_writer_free(ChannelWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(ChannelWriter *, channel_writer_free);
/* Queues b's bytes (taken, and b left empty, whatever the result); attach_fd >= 0 is sent with the
 * byte at attach_offset of b (dup'ed here; the caller keeps its own). 0, -EINVAL (attach_offset
 * not inside b), -EPIPE (the writer already saw the runner gone), -ENOMEM, or dup's errno. */
int channel_writer_queue(ChannelWriter *w, Buffer *b, int attach_fd, size_t attach_offset);
/* Writes what the socket takes: 1 if all is written, 0 if more remains (wait for EPOLLOUT),
 * -EPIPE if the runner is gone (nothing more can be written), other negative errno. */
int channel_writer_flush(ChannelWriter *w);
