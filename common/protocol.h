/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyward wire protocol, version 1: framing (frame.c), the request a client sends (request.c)
 * and the result record the helper returns (result.c); for each one encoder and one decoder, used
 * by the helper, the CLI, the tests and the fuzzers. Pure logic, no I/O besides frame_write().
 * man/pyward-protocol.7 is the normative description; keep the two in sync. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buffer.h"
#include "macro.h"
#include "str.h"

#define PW_PROTOCOL_VERSION 1

/* Every frame: an 8-byte header, then `length` payload bytes. All integers little-endian.
 *   uint16 type | uint16 flags (must be 0) | uint32 length                                     */
#define PW_FRAME_HEADER_SIZE 8
#define PW_FRAME_PAYLOAD_MAX (1024U * 1024U) /* hard cap for any frame; CODE is the largest */
#define PW_CHUNK_MAX (64U * 1024U)           /* STDIN/STDOUT/STDERR chunks */

/* Hard protocol bounds (config may lower some of them, never raise). */
#define PW_CODE_MAX PW_FRAME_PAYLOAD_MAX
#define PW_FILENAME_MAX 255
#define PW_ARG_MAX 4096
#define PW_ARGS_MAX 256
#define PW_PROFILE_NAME_MAX 64
#define PW_RESULT_MAX 8192
#define PW_ACCEPTED_MAX 1024
#define PW_HELLO_SIZE 4  /* uint32 version */
#define PW_LIMIT_SIZE 12 /* uint32 key, uint64 value */

/* Files in and out (pyward-protocol(7) "FILES"). A file's path is relative: 1..PW_PATH_MAX bytes,
 * components separated by '/', none empty, "." or "..", none longer than PW_PATH_COMPONENT_MAX, at
 * most PW_PATH_DEPTH_MAX components, no NUL; any other byte (newlines, non-UTF-8) is allowed. */
#define PW_PATH_MAX 1024
#define PW_PATH_COMPONENT_MAX 255
#define PW_PATH_DEPTH_MAX 32
#define PW_FILE_HEADER_SIZE 12                         /* uint32 flags or mode, uint64 size; then the path */
#define PW_FILE_EXECUTABLE 0x1U                        /* FILE flags: mode 0700 instead of 0600 */
#define PW_FILES_IN_BYTES_MAX (32U * 1024U * 1024U)    /* hard cap on a request's input bytes */
#define PW_FILES_COUNT_MAX 10000U                      /* hard cap on input or output files per job */
#define PW_FILE_OUT_SIZE_MAX (1024ULL * 1024U * 1024U) /* hard cap on one output file's bytes */
#define PW_SKIPPED_LISTED_MAX 100                      /* FILE_SKIPPED frames per job; the rest are counted */
#define PW_SKIPPED_HEADER_SIZE 4           /* uint32 FileSkipReason; then the path (0..PW_PATH_MAX) */
#define PW_PROFILE_INFO_MAX (256U * 1024U) /* one PROFILE_INFO frame */

/* Sessions (pyward-protocol(7) "SESSIONS"): one interpreter, a series of cells. */
#define PW_CELL_HEADER_SIZE 4                  /* CELL: uint32 flags (PW_CELL_*), then the code */
#define PW_CELL_COLLECT 0x1U                   /* return the files the cell made or changed */
#define PW_CELL_VALUE_MAX (16U * 1024U)        /* a CELL_RESULT's value= (repr), cut beyond */
#define PW_CELL_ERROR_TYPE_MAX 256U            /* error_type= (e.g. "ZeroDivisionError") */
#define PW_CELL_ERROR_MESSAGE_MAX (4U * 1024U) /* error_message= (str() of the exception) */
#define PW_CELL_TRACEBACK_MAX (32U * 1024U)    /* traceback= (the text, from the cell's code down) */
/* The texts' bounds above are of their escaped form (as the record writes them), so that every
 * text at its bound fits one CELL_RESULT frame, and the runner's CH_CELL_RESULT (common/cell.c
 * checks the sum at compile time). */
#define PW_CELL_RESULT_MAX (64U * 1024U)

typedef enum FrameType {
        /* client -> helper; the request is HELLO first, then any of CODE (exactly once), FILENAME
         * (at most once), ARG (repeated, in order), PROFILE (at most once), LIMIT (at most once per
         * key), FILE (each followed by its FILE_DATA), COLLECT (at most once), and finally
         * REQUEST_END; or HELLO, DISCOVER, REQUEST_END; or a session: HELLO, SESSION, PROFILE
         * (at most once), LIMIT (at most once per key), REQUEST_END. After REQUEST_END of a job
         * only STDIN, STDIN_EOF and CANCEL; of a session only FILE (+ FILE_DATA), CELL,
         * INTERRUPT, SESSION_END and CANCEL (frame_after_request()). */
        FRAME_HELLO = 0x0001,       /* uint32 version */
        FRAME_CODE = 0x0002,        /* Python source, bytes */
        FRAME_FILENAME = 0x0003,    /* main file name: 1..255 bytes, no '/', no NUL, not "." or ".." */
        FRAME_ARG = 0x0004,         /* one argv element (sys.argv[1:]), no NUL */
        FRAME_PROFILE = 0x0005,     /* profile name: [A-Za-z0-9_.-], 1..64 */
        FRAME_LIMIT = 0x0006,       /* uint32 LimitKey, uint64 value */
        FRAME_REQUEST_END = 0x0007, /* empty */
        FRAME_FILE = 0x0008,        /* an input file: uint32 flags (PW_FILE_*), uint64 size, path */
        FRAME_FILE_DATA = 0x0009,   /* 1..PW_CHUNK_MAX bytes of the file the last FILE announced;
                                     * exactly `size` bytes in all follow each FILE, before any
                                     * other frame */
        FRAME_COLLECT = 0x000A,     /* empty, at most once: return the files the job leaves */
        FRAME_DISCOVER = 0x000B,    /* empty: run no code, answer PROFILE_INFO frames and RESULT;
                                     * a DISCOVER request holds HELLO, DISCOVER, REQUEST_END only */
        FRAME_SESSION = 0x000C,     /* empty, at most once: the request opens a session */
        FRAME_STDIN = 0x0010,       /* 1..PW_CHUNK_MAX bytes for the job's stdin */
        FRAME_STDIN_EOF = 0x0011,   /* empty: close the job's stdin */
        FRAME_CANCEL = 0x0012,      /* empty: stop the job; result status "killed" */
        FRAME_CELL = 0x0013,        /* session: uint32 flags (PW_CELL_*), then the code (0..PW_CODE_MAX
                                     * - 4 bytes); only while no cell runs; the FILE frames sent
                                     * since the last CELL are its input files */
        FRAME_INTERRUPT = 0x0014,   /* session, empty: interrupt the running cell (SIGINT, as Ctrl-C);
                                     * ignored while no cell runs */
        FRAME_SESSION_END = 0x0015, /* session, empty: end the session once no cell runs; RESULT */

        /* helper -> client */
        FRAME_ACCEPTED = 0x0101,      /* key=value lines: job=, unit= */
        FRAME_STDOUT = 0x0102,        /* 1..PW_CHUNK_MAX bytes */
        FRAME_STDERR = 0x0103,        /* 1..PW_CHUNK_MAX bytes */
        FRAME_RESULT = 0x0104,        /* key=value lines (see JobResult); always the last frame */
        FRAME_FILE_OUT = 0x0105,      /* an output file: uint32 mode (permission bits), uint64 size, path */
        FRAME_FILE_OUT_DATA = 0x0106, /* 1..PW_CHUNK_MAX bytes; exactly `size` follow each FILE_OUT */
        FRAME_FILE_SKIPPED = 0x0107,  /* uint32 FileSkipReason, path: what was left out and why */
        FRAME_PROFILE_INFO = 0x0108,  /* key=value lines, escaped as RESULT's: one usable profile */
        FRAME_CELL_RESULT = 0x0109,   /* session: key=value lines (CellResult), after the cell's
                                       * STDOUT/STDERR and FILE_OUT frames; never the last frame */
} FrameType;

typedef enum LimitKey {
        LIMIT_MEMORY = 1,           /* bytes */
        LIMIT_TASKS = 2,            /* count */
        LIMIT_CPU_QUOTA = 3,        /* percent of one CPU */
        LIMIT_CPU_TIME = 4,         /* microseconds of CPU, all processes together */
        LIMIT_WALL_TIME = 5,        /* microseconds */
        LIMIT_OUTPUT = 6,           /* bytes per stream (stdout and stderr each) */
        LIMIT_DISK = 7,             /* bytes per writable place */
        LIMIT_FILES_IN = 8,         /* input files, count */
        LIMIT_FILES_IN_BYTES = 9,   /* input files, all bytes together */
        LIMIT_FILES_OUT = 10,       /* output files returned, count */
        LIMIT_FILES_OUT_BYTES = 11, /* output files returned, all bytes together */
        LIMIT_FILE_OUT_SIZE = 12,   /* one output file's bytes */
        LIMIT_FILES_OUT_DEPTH = 13, /* directory levels below the working directory searched */
        LIMIT_FILES_OUT_TIME = 14,  /* microseconds the runner has to return files after a stop */
        /* Sessions: LIMIT_WALL_TIME and LIMIT_CPU_TIME are then each cell's; memory, tasks, disk,
         * output are the whole session's. */
        LIMIT_SESSION_WALL_TIME = 15, /* microseconds, the whole session */
        LIMIT_SESSION_CPU_TIME = 16,  /* microseconds of CPU, the whole session */
        LIMIT_SESSION_IDLE_TIME = 17, /* microseconds between a CELL_RESULT and the next CELL */
        LIMIT_SESSION_CELLS = 18,     /* cells, count */
        LIMIT_CELL_GRACE = 19, /* microseconds an interrupted cell has to end before the session does */
        _LIMIT_MAX,
        _LIMIT_INVALID = -EINVAL, /* makes the enum signed, so "< 0" works on a returned error */
} LimitKey;

const char *limit_key_to_string(LimitKey k);   /* "memory", "tasks", ... or NULL */
LimitKey limit_key_from_string(const char *s); /* or -EINVAL */
/* Whether 0 is a valid value of a limit (LIMIT and pyward.conf): the files' counts, bytes and
 * depth, where 0 means none; every other limit must be greater than 0. */
bool limit_key_allows_zero(LimitKey k);

/* A session's cell result (FRAME_CELL_RESULT), pyward-protocol(7) "SESSIONS". */
typedef enum CellStatus {
        CELL_OK,          /* the cell's code ran to its end */
        CELL_ERROR,       /* it raised an exception (error_type, error_message, traceback) */
        CELL_INTERRUPTED, /* interrupted (its wall or CPU limit, or INTERRUPT) and it ended: the
                           * session goes on with its state */
        _CELL_STATUS_MAX,
        _CELL_STATUS_INVALID = -EINVAL,
} CellStatus;

const char *cell_status_to_string(CellStatus s); /* "ok", "error", "interrupted", or NULL */
CellStatus cell_status_from_string(const char *s);

/* The record, "key=value" lines escaped as RESULT's, keys in this order: cell= (1-based),
 * status=, value= (only if the cell ended with an expression statement whose value is not None:
 * its repr(), cut to PW_CELL_VALUE_MAX bytes), value_truncated=1 (only if cut), error_type=,
 * error_message=, traceback= (these three only for error and interrupted, empty if unknown),
 * message= (only if set: e.g. why it was interrupted), wall_ms=, cpu_ms= (empty if unknown), and
 * only if the cell sent PW_CELL_COLLECT: files_out=, files_out_bytes=, files_skipped=,
 * files_note= (only if set). value, error_type, error_message and traceback are cut so that their
 * escaped form fits its bound above (at a UTF-8 character boundary where the text is UTF-8, never
 * inside an escape, with no marker), as the runner cuts them; message= and files_note= as
 * RESULT's message= and files_note= (with "..."). */
typedef struct CellResult {
        uint64_t cell;
        CellStatus status;
        char *value; /* NULL: no value */
        bool value_truncated;
        char *error_type, *error_message, *traceback; /* NULL unless error/interrupted */
        char *message;                                /* NULL or helper's text, no newline */
        uint64_t wall_ms, cpu_ms;                     /* RESULT_UNSET if unknown */
        bool files_reported;
        uint64_t files_out, files_out_bytes, files_skipped;
        char *files_note;
} CellResult;

/* An empty CellResult: no texts, wall_ms and cpu_ms unknown. */
#define CELL_RESULT_INIT ((CellResult) { .wall_ms = RESULT_UNSET, .cpu_ms = RESULT_UNSET })

/* A whole CELL frame (client): flags, then the code. -EMSGSIZE over PW_CODE_MAX - 4 bytes,
 * -EINVAL for an unknown flag or NULL code of a non-zero size, -ENOMEM. */
int cell_frame_append(Buffer *b, uint32_t flags, const char *code, size_t code_size);
/* Decodes a CELL payload (helper): -EBADMSG if shorter than PW_CELL_HEADER_SIZE, longer than
 * PW_CODE_MAX, or a flag is unknown; the code points into the payload (not NUL-terminated, and
 * not checked: the interpreter judges it, as a job's CODE). */
int cell_frame_parse(const void *payload, size_t size, uint32_t *ret_flags, const char **ret_code,
                     size_t *ret_code_size);

void cell_result_done(CellResult *r); /* frees the texts and leaves CELL_RESULT_INIT */
/* A whole CELL_RESULT frame at the end of a growing buffer (all or nothing; the texts cut to their
 * bounds, value_truncated=1 if the value was; never over PW_CELL_RESULT_MAX). 0, -ENOMEM, -EINVAL
 * (cell 0, an unknown status). */
int cell_result_append(Buffer *b, const CellResult *r);
/* Parses a CELL_RESULT payload (client side; unknown keys ignored, a key twice or a bad value is
 * -EBADMSG; cell= and status= required; an empty text is NULL but for value=, which is "" then).
 * 0, -EBADMSG, -ENOMEM; *ret untouched on failure. */
int cell_result_parse(const void *payload, size_t size, CellResult *ret);

/* Why an output file was left out: FILE_SKIPPED's first field; "symlink", "fifo", ... on the wire
 * of the result and in the clients. Decided by the runner (untrusted: it is data) or by the helper
 * (a bound it enforces itself: COUNT, BYTES, SIZE, DEPTH, TIME, NAME). */
typedef enum FileSkipReason {
        FILE_SKIP_SYMLINK = 1, /* a symbolic link: never followed */
        FILE_SKIP_FIFO = 2,
        FILE_SKIP_SOCKET = 3,
        FILE_SKIP_DEVICE = 4,
        FILE_SKIP_OTHER = 5,       /* not a regular file or directory */
        FILE_SKIP_SIZE = 6,        /* over LIMIT_FILE_OUT_SIZE (never read, however sparse) */
        FILE_SKIP_COUNT = 7,       /* over LIMIT_FILES_OUT */
        FILE_SKIP_BYTES = 8,       /* over LIMIT_FILES_OUT_BYTES */
        FILE_SKIP_DEPTH = 9,       /* a directory deeper than LIMIT_FILES_OUT_DEPTH: not searched */
        FILE_SKIP_TIME = 10,       /* the collection's time ran out */
        FILE_SKIP_NAME = 11,       /* a path no client could be given (too long, too deep) */
        FILE_SKIP_UNREADABLE = 12, /* open or read failed, or it changed while read */
        _FILE_SKIP_MAX,
        _FILE_SKIP_INVALID = -EINVAL,
} FileSkipReason;

const char *file_skip_reason_to_string(FileSkipReason r); /* "symlink", ... or NULL */
FileSkipReason file_skip_reason_from_string(const char *s);

/* The path rule above, for n bytes that need not be NUL-terminated. false with a static reason
 * ("an absolute path", "a '..' component", ...) in *ret_why. */
bool file_path_valid(const char *p, size_t n, const char **ret_why);
/* A path (or any n bytes) for a one-line message: printable ASCII as is, '\\' and '\'' escaped by
 * a backslash, every other byte (newline, non-UTF-8, UTF-8 too) as \xHH; cut with "..." so that it
 * fits size bytes with its NUL. Returns buf. PW_PATH_SHOWN_MAX is what messages give a path. */
#define PW_PATH_SHOWN_MAX 161
char *file_path_escape(const char *p, size_t n, char *buf, size_t size);

typedef struct FrameHeader {
        uint16_t type;
        uint16_t flags;
        uint32_t length;
} FrameHeader;

/* The payload length bounds of a frame type, inclusive; false for an unknown type. */
bool frame_type_bounds(uint16_t type, uint32_t *ret_min, uint32_t *ret_max);
/* Decodes and validates a header: known type, flags 0, length within that type's bound.
 * Returns 0, or -EBADMSG (unknown type/flags) or -EMSGSIZE (length over the type's bound). */
int frame_header_parse(const uint8_t buf[static PW_FRAME_HEADER_SIZE], FrameHeader *ret);
/* Encodes a header as is, unchecked: for tests that must send a header that lies. Everything
 * else encodes through frame_encode()/frame_append(). */
void frame_header_format(uint8_t buf[static PW_FRAME_HEADER_SIZE], uint16_t type, uint32_t length);
/* THE frame encoder: header and payload into buf, which holds size bytes. Refuses an unknown type
 * (-EBADMSG) and a length over the type's maximum (-EMSGSIZE), i.e. anything that would break the
 * framing; a length under the minimum (an empty PROFILE) is encoded, so that the request's rules
 * stay in one place, the helper's decoder, which answers with its message. Returns the frame's
 * size (PW_FRAME_HEADER_SIZE + length), or -ENOBUFS if buf is too small. */
int frame_encode(uint8_t *buf, size_t size, uint16_t type, const void *payload, size_t length);
/* frame_encode() at the end of a growing buffer. 0, or as frame_encode(), or -ENOMEM. */
int frame_append(Buffer *b, uint16_t type, const void *payload, size_t length);
/* Writes one whole frame to a blocking fd, handling short writes and EINTR. Refuses what the
 * peer's frame_header_parse() would refuse, the minimum length included. */
int frame_write(int fd, uint16_t type, const void *payload, size_t length);
/* "HELLO", "CODE", ... for messages and logs; NULL for an unknown type. */
const char *frame_type_to_string(uint16_t type);

/* One input file of a request: its path (valid by file_path_valid(), NUL-terminated), its
 * bytes (data_size == size once complete) and whether it is executable. */
typedef struct RequestFile {
        char *path;
        uint8_t *data;
        uint64_t size;
        uint64_t data_size; /* bytes of FILE_DATA received so far */
        bool executable;
} RequestFile;

/* The request, built frame by frame. */
typedef struct Request {
        uint32_t version;
        char *code;
        size_t code_size;
        char *filename; /* NULL: "main.py" */
        char **argv;    /* NULL-terminated, may be NULL */
        size_t n_args;
        char *profile; /* NULL: "default" */
        uint64_t limits[_LIMIT_MAX];
        bool limit_set[_LIMIT_MAX];
        RequestFile *files; /* input files, in the order sent; paths unique */
        size_t n_files;
        uint64_t files_bytes; /* all input bytes together (hard cap PW_FILES_IN_BYTES_MAX) */
        bool collect;         /* COLLECT: return the output files */
        bool discover;        /* DISCOVER: no code; the usable profiles are the answer */
        bool session;         /* SESSION: no code; cells follow REQUEST_END */
        bool complete;        /* REQUEST_END seen */
} Request;

int request_new(Request **ret);
Request *request_free(Request *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Request *, request_free);
/* Applies one request frame. Returns 0, 1 when this frame completed the request, or a negative
 * errno with a human message in *ret_error (static string or allocated into error_buf) naming what
 * was wrong: out of order, duplicate, malformed, too large. */
int request_add_frame(Request *r, uint16_t type, const void *payload, size_t length, char *error_buf,
                      size_t error_buf_size);

/* The request's encoder: HELLO (r->version, or PW_PROTOCOL_VERSION if 0), SESSION if
 * r->session, CODE (not if r->discover or r->session), FILENAME if set, each ARG, PROFILE if
 * set, each LIMIT set in key order, each file (FILE, then its `size` bytes of data in FILE_DATA
 * chunks of PW_CHUNK_MAX), COLLECT if set, DISCOVER if set, REQUEST_END; r->complete, data_size and files_bytes are ignored. The strings
 * and files may be borrowed (the CLI's argv): this only reads them. Appends all or nothing.
 * 0, -ENOMEM, -EMSGSIZE if a field is over its frame's bound, -EINVAL for a file whose path
 * breaks file_path_valid() or whose data is NULL, and for a session with code, a FILENAME, ARGs,
 * files, COLLECT or DISCOVER. */
int request_append(Buffer *b, const Request *r);
/* The fixed-size payloads of HELLO and LIMIT, for request_append() and for tests. */
void hello_payload_format(uint8_t buf[static PW_HELLO_SIZE], uint32_t version);
void limit_payload_format(uint8_t buf[static PW_LIMIT_SIZE], uint32_t key, uint64_t value);

/* The one rule for a profile's name, on the wire (PROFILE) and in pyward.conf: 1..64 characters
 * of [A-Za-z0-9_.-], and not "." or "..". */
bool profile_name_is_valid(const char *name);
/* The same rule for a name of n bytes that need not be NUL-terminated (a PROFILE payload, the NAME of
 * a [Profile "NAME"] section); the one definition of what a profile may be called. */
bool profile_name_valid(const char *p, size_t n);

/* What the helper writes first to the job's stdin, before the client's STDIN bytes: the code's
 * length as a little-endian uint64, then the code (helper/bootstrap.py reads it). */
int bootstrap_preamble_append(Buffer *b, const char *code, size_t code_size);

/* How a job ended; the result record's "status". */
typedef enum JobStatus {
        JOB_OK,           /* exit code 0 */
        JOB_EXIT,         /* non-zero exit code */
        JOB_SIGNAL,       /* killed by a signal it did not get from pyward's limits */
        JOB_TIMEOUT,      /* wall-clock limit */
        JOB_CPU_LIMIT,    /* CPU-time limit */
        JOB_OOM,          /* memory limit */
        JOB_OUTPUT_LIMIT, /* stdout or stderr cap */
        JOB_KILLED,       /* stopped by an admin or cancelled by the client */
        JOB_REJECTED,     /* request refused by policy or validation; no job ran */
        JOB_ERROR,        /* pyward or systemd failed */
        _JOB_STATUS_MAX,
        _JOB_STATUS_INVALID = -EINVAL, /* makes the enum signed, so "< 0" works */
} JobStatus;

const char *job_status_to_string(JobStatus s);
JobStatus job_status_from_string(const char *s); /* or -EINVAL */

#define RESULT_UNSET UINT64_MAX

/* The result record's signal names: "SIGKILL" etc. for the classic signals, "SIG<n>" for the
 * others (real-time signals have no libc-independent name). */
int signal_to_string(int sig, char *buf, size_t size);
int signal_from_string(const char *s); /* signal number, or -EINVAL */

typedef struct JobResult {
        JobStatus status;
        int exit_code;              /* -1: none (signal, or never ran) */
        int signal;                 /* 0: none */
        uint64_t wall_ms;           /* RESULT_UNSET if unknown */
        uint64_t cpu_ms;            /* RESULT_UNSET if unknown */
        uint64_t memory_peak_bytes; /* RESULT_UNSET if unknown; then memory_peak_reason says why */
        char *memory_peak_reason;
        char *unit;
        char *invocation_id;
        char *job;
        char *message; /* human text; never contains a newline on the wire */
        /* Only when the request sent COLLECT (files_reported): written after the keys above, so a
         * client that sends no new frame gets today's record byte for byte. */
        bool files_reported;
        uint64_t files_out;       /* files returned (FILE_OUT frames) */
        uint64_t files_out_bytes; /* their bytes */
        uint64_t files_skipped;   /* left out, listed (FILE_SKIPPED) or not */
        char *files_note;         /* NULL, or why the collection is incomplete ("the collection's
                                   * time ran out", "the job ended by oom: no files are collected") */
        /* Only for a session: the number of cells that ran (CELL_RESULTs sent), after the keys
         * above: cells=N. */
        bool cells_reported;
        uint64_t cells;
        /* Only for a DISCOVER request: the number of PROFILE_INFO frames sent. */
        bool profiles_reported;
        uint64_t profiles;
        /* Only where the profile keeps warm runners (WarmRunners=): path=warm (the job ran on one)
         * or path=cold. */
        bool path_reported;
        bool warm;
} JobResult;

void job_result_done(JobResult *r); /* frees the strings, keeps the struct */
/* Formats the RESULT payload: "key=value\n" lines in a fixed order; values escaped so that they
 * contain no newline or backslash except as \n and \\. Unknown values are written as empty. */
int job_result_format(const JobResult *r, char **ret, size_t *ret_size);
/* The ACCEPTED payload, "job=<job>\nunit=<unit>\n", escaped as the result's values; -EMSGSIZE
 * over PW_ACCEPTED_MAX. And the same as a whole ACCEPTED frame at the end of a growing buffer. */
int job_accepted_format(const char *job, const char *unit, char **ret, size_t *ret_size);
int job_accepted_append(Buffer *b, const char *job, const char *unit);
/* job_result_format() as a whole RESULT frame at the end of a growing buffer. */
int job_result_append(Buffer *b, const JobResult *r);
/* The new frames' fixed parts (pyward-protocol(7) "FILES"). file_header_append() appends a whole
 * FILE (client) or FILE_OUT (helper) frame: type, uint32 flags_or_mode, uint64 size, path;
 * -EINVAL if the path is not file_path_valid(). file_header_parse() decodes such a payload, the
 * path pointing into it (not NUL-terminated); -EBADMSG if short or the path is invalid (*ret_why
 * says why). The same pair for FILE_SKIPPED (the path may be empty there: a name the runner could
 * not give, and it is then not checked). */
int file_header_append(Buffer *b, uint16_t type, uint32_t flags_or_mode, uint64_t size, const char *path,
                       size_t path_size);
int file_header_parse(const void *payload, size_t size, uint32_t *ret_flags_or_mode, uint64_t *ret_size,
                      const char **ret_path, size_t *ret_path_size, const char **ret_why);
int file_skipped_append(Buffer *b, FileSkipReason reason, const char *path, size_t path_size);
int file_skipped_parse(const void *payload, size_t size, FileSkipReason *ret_reason, const char **ret_path,
                       size_t *ret_path_size);

/* One PROFILE_INFO frame (the answer to DISCOVER): key=value lines escaped as RESULT's, in this
 * order: name=, interpreter=, python= (e.g. "3.11.2"; empty if unknown), network= ("none",
 * "loopback"), for every LimitKey k: limit.<name>.default= and limit.<name>.max= (raw numbers in
 * the limit's unit), then package=NAME VERSION (repeated, sorted by name), packages_omitted=N (what
 * did not fit PW_PROFILE_INFO_MAX), note= (empty, or why python/packages are unknown). */
typedef struct ProfileInfo {
        char *name;
        char *interpreter;
        char *python;
        char *network;
        uint64_t limit_default[_LIMIT_MAX];
        uint64_t limit_max[_LIMIT_MAX];
        char **packages; /* "NAME VERSION", NULL-terminated, may be NULL */
        size_t n_packages;
        uint64_t packages_omitted;
        char *note;
} ProfileInfo;

void profile_info_done(ProfileInfo *p);
/* Appends a whole PROFILE_INFO frame; packages that would not fit are counted in
 * packages_omitted instead. 0, -ENOMEM. */
int profile_info_append(Buffer *b, const ProfileInfo *p);
/* Parses a PROFILE_INFO payload; unknown keys are ignored. 0, -EBADMSG, -ENOMEM. */
int profile_info_parse(const void *payload, size_t size, ProfileInfo *ret);

/* Undoes the key=value records' escaping of a value in place (RESULT, PROFILE_INFO, and the
 * runner's INFO that helper/discover.c parses): only \\ and \n are escapes, anything else after a
 * backslash is -EBADMSG. The result holds no NUL. */
int record_value_unescape(char *s);

/* Parses a RESULT payload; unknown keys are ignored (forward compatibility). */
int job_result_parse(const void *payload, size_t size, JobResult *ret);
