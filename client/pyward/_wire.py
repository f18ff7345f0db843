# SPDX-License-Identifier: LGPL-2.1-or-later
# The protocol's bytes on the client's side: constants and bounds (common/protocol.h), the 8-byte
# framing, and the encoders of what a client sends (request(), discover_request(), file_frames()).
import os
import struct

from ._errors import ProtocolError

PROTOCOL_VERSION = 1

HELLO, CODE, FILENAME, ARG, PROFILE, LIMIT, REQUEST_END = 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007
FILE, FILE_DATA, COLLECT, DISCOVER = 0x0008, 0x0009, 0x000A, 0x000B
STDIN, STDIN_EOF, CANCEL = 0x0010, 0x0011, 0x0012
ACCEPTED, STDOUT, STDERR, RESULT = 0x0101, 0x0102, 0x0103, 0x0104
FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED, PROFILE_INFO = 0x0105, 0x0106, 0x0107, 0x0108
# Sessions (pyward-protocol(7) "SESSIONS"): the request's SESSION, then per cell FILE... CELL, and
# INTERRUPT, SESSION_END; the helper answers each cell with its output and a CELL_RESULT.
SESSION, CELL, INTERRUPT, SESSION_END, CELL_RESULT = 0x000C, 0x0013, 0x0014, 0x0015, 0x0109

FRAME_NAMES = {
    HELLO: "HELLO", CODE: "CODE", FILENAME: "FILENAME", ARG: "ARG", PROFILE: "PROFILE",
    LIMIT: "LIMIT", REQUEST_END: "REQUEST_END", FILE: "FILE", FILE_DATA: "FILE_DATA",
    COLLECT: "COLLECT", DISCOVER: "DISCOVER", STDIN: "STDIN", STDIN_EOF: "STDIN_EOF",
    CANCEL: "CANCEL", ACCEPTED: "ACCEPTED", STDOUT: "STDOUT", STDERR: "STDERR", RESULT: "RESULT",
    FILE_OUT: "FILE_OUT", FILE_OUT_DATA: "FILE_OUT_DATA", FILE_SKIPPED: "FILE_SKIPPED",
    PROFILE_INFO: "PROFILE_INFO", SESSION: "SESSION", CELL: "CELL", INTERRUPT: "INTERRUPT",
    SESSION_END: "SESSION_END", CELL_RESULT: "CELL_RESULT",
}

LIMIT_MEMORY, LIMIT_TASKS, LIMIT_CPU_QUOTA, LIMIT_CPU_TIME, LIMIT_WALL_TIME, LIMIT_OUTPUT, LIMIT_DISK = range(1, 8)
(LIMIT_FILES_IN, LIMIT_FILES_IN_BYTES, LIMIT_FILES_OUT, LIMIT_FILES_OUT_BYTES, LIMIT_FILE_OUT_SIZE,
 LIMIT_FILES_OUT_DEPTH, LIMIT_FILES_OUT_TIME) = range(8, 15)
# A session's: in a session, wall-time and cpu-time are each cell's.
(LIMIT_SESSION_WALL_TIME, LIMIT_SESSION_CPU_TIME, LIMIT_SESSION_IDLE_TIME, LIMIT_SESSION_CELLS,
 LIMIT_CELL_GRACE) = range(15, 20)
LIMITS = {
    "memory": LIMIT_MEMORY, "tasks": LIMIT_TASKS, "cpu-quota": LIMIT_CPU_QUOTA,
    "cpu-time": LIMIT_CPU_TIME, "wall-time": LIMIT_WALL_TIME, "output": LIMIT_OUTPUT,
    "disk": LIMIT_DISK, "files-in": LIMIT_FILES_IN, "files-in-bytes": LIMIT_FILES_IN_BYTES,
    "files-out": LIMIT_FILES_OUT, "files-out-bytes": LIMIT_FILES_OUT_BYTES,
    "file-out-size": LIMIT_FILE_OUT_SIZE, "files-out-depth": LIMIT_FILES_OUT_DEPTH,
    "files-out-time": LIMIT_FILES_OUT_TIME, "session-wall-time": LIMIT_SESSION_WALL_TIME,
    "session-cpu-time": LIMIT_SESSION_CPU_TIME, "session-idle-time": LIMIT_SESSION_IDLE_TIME,
    "session-cells": LIMIT_SESSION_CELLS, "cell-grace": LIMIT_CELL_GRACE,
}

# FILE_SKIPPED's reasons (FileSkipReason in common/protocol.h).
SKIP_REASONS = {
    1: "symlink", 2: "fifo", 3: "socket", 4: "device", 5: "other", 6: "size", 7: "count",
    8: "bytes", 9: "depth", 10: "time", 11: "name", 12: "unreadable",
}

HEADER = struct.Struct("<HHI")
HEADER_SIZE = HEADER.size
FRAME_PAYLOAD_MAX = 1024 * 1024
CHUNK_MAX = 64 * 1024
CODE_MAX = FRAME_PAYLOAD_MAX
FILENAME_MAX = 255
ARG_MAX = 4096
ARGS_MAX = 256
PROFILE_NAME_MAX = 64
RESULT_MAX = 8192
ACCEPTED_MAX = 1024
PATH_MAX = 1024
PATH_COMPONENT_MAX = 255
PATH_DEPTH_MAX = 32
FILE_HEADER = struct.Struct("<IQ")  # FILE/FILE_OUT: uint32 flags or mode, uint64 size; the path
FILE_EXECUTABLE = 0x1
FILES_IN_BYTES_MAX = 32 * 1024 * 1024
FILES_COUNT_MAX = 10000
FILE_OUT_SIZE_MAX = 1024 * 1024 * 1024
SKIPPED_LISTED_MAX = 100
PROFILE_INFO_MAX = 256 * 1024
CELL_HEADER_SIZE = 4  # CELL: uint32 flags, then the code
CELL_COLLECT = 0x1  # return the files the cell made or changed
CELL_VALUE_MAX = 16 * 1024  # CELL_RESULT's value= (a repr), cut beyond
CELL_ERROR_TYPE_MAX = 256
CELL_ERROR_MESSAGE_MAX = 4 * 1024
CELL_TRACEBACK_MAX = 32 * 1024
CELL_RESULT_MAX = 64 * 1024
CELL_CODE_MAX = CODE_MAX - CELL_HEADER_SIZE

# Inclusive payload bounds per frame type, as frame_header_parse() in helper/protocol.c.
FRAME_BOUNDS = {
    HELLO: (4, 4), CODE: (0, CODE_MAX), FILENAME: (1, FILENAME_MAX), ARG: (0, ARG_MAX),
    PROFILE: (1, PROFILE_NAME_MAX), LIMIT: (12, 12), REQUEST_END: (0, 0), STDIN: (1, CHUNK_MAX),
    STDIN_EOF: (0, 0), CANCEL: (0, 0), ACCEPTED: (0, ACCEPTED_MAX), STDOUT: (1, CHUNK_MAX),
    STDERR: (1, CHUNK_MAX), RESULT: (0, RESULT_MAX),
    FILE: (12 + 1, 12 + PATH_MAX), FILE_DATA: (1, CHUNK_MAX), COLLECT: (0, 0), DISCOVER: (0, 0),
    FILE_OUT: (12 + 1, 12 + PATH_MAX), FILE_OUT_DATA: (1, CHUNK_MAX), FILE_SKIPPED: (4, 4 + PATH_MAX),
    PROFILE_INFO: (1, PROFILE_INFO_MAX), SESSION: (0, 0), CELL: (CELL_HEADER_SIZE, CODE_MAX),
    INTERRUPT: (0, 0), SESSION_END: (0, 0), CELL_RESULT: (1, CELL_RESULT_MAX),
}

STATUSES = ("ok", "exit", "signal", "timeout", "cpu-limit", "oom", "output-limit", "killed",
            "rejected", "error")
RESULT_KEYS = ("status", "exit_code", "signal", "wall_ms", "cpu_ms", "memory_peak_bytes",
               "memory_peak_reason", "unit", "invocation_id", "job", "message")
# Only in the RESULT of a request that sent COLLECT (files_*) or DISCOVER (profiles).
RESULT_FILES_KEYS = ("files_out", "files_out_bytes", "files_skipped", "files_note")
# Only in a session's RESULT: the number of cells that ran (CELL_RESULTs sent).
RESULT_SESSION_KEYS = ("cells",)
CELL_STATUSES = ("ok", "error", "interrupted")
CELL_RESULT_KEYS = ("cell", "status", "value", "value_truncated", "error_type", "error_message", "traceback",
                    "message", "wall_ms", "cpu_ms") + RESULT_FILES_KEYS


def _b(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def frame(ftype, payload=b"", flags=0, length=None):
    """One frame. `length` overrides the header's length field (to lie on purpose)."""
    payload = _b(payload)
    return HEADER.pack(ftype, flags, len(payload) if length is None else length) + payload


def hello(version=PROTOCOL_VERSION):
    return frame(HELLO, struct.pack("<I", version))


def limit(key, value):
    """A LIMIT frame; key is a LIMIT_* number or a name from LIMITS."""
    if isinstance(key, str):
        key = LIMITS[key]
    return frame(LIMIT, struct.pack("<IQ", key, value))


def _usec(seconds):
    v = round(float(seconds) * 1_000_000)
    if v <= 0:
        raise ValueError(f"time limit must be positive, got {seconds!r}")
    return v


def _limit_values(timeout, memory, tasks, cpu_quota, cpu_time, output_max, disk, session=()):
    """[(key, raw value)] in key order; `session`: (session_timeout, session_cpu_time, idle_timeout,
    cells, grace), the session's keys 15..19."""
    usec = _usec
    session = tuple(session) + (None,) * (5 - len(session))
    out = []
    for key, value, conv in ((LIMIT_MEMORY, memory, int), (LIMIT_TASKS, tasks, int),
                             (LIMIT_CPU_QUOTA, cpu_quota, int), (LIMIT_CPU_TIME, cpu_time, usec),
                             (LIMIT_WALL_TIME, timeout, usec), (LIMIT_OUTPUT, output_max, int),
                             (LIMIT_DISK, disk, int), (LIMIT_SESSION_WALL_TIME, session[0], usec),
                             (LIMIT_SESSION_CPU_TIME, session[1], usec), (LIMIT_SESSION_IDLE_TIME, session[2], usec),
                             (LIMIT_SESSION_CELLS, session[3], int), (LIMIT_CELL_GRACE, session[4], usec)):
        if value is None:
            continue
        v = conv(value)
        if not 0 < v < 2 ** 64:
            raise ValueError(f"limit {key} out of range: {value!r}")
        out.append((key, v))
    return out


def path_invalid(path):
    """Why `path` (str or bytes) may not name a file in or out of a job, or None if it may: the
    rule of file_path_valid() in common/files.c (relative; components not empty, "." or "..";
    at most 1024 bytes, 32 components of 255 bytes; no NUL; newlines and non-UTF-8 are fine)."""
    p = os.fsencode(path)
    if not p:
        return "an empty path"
    if len(p) > PATH_MAX:
        return "longer than 1024 bytes"
    if b"\0" in p:
        return "a NUL byte"
    if p.startswith(b"/"):
        return "an absolute path"
    parts = p.split(b"/")
    for i, c in enumerate(parts):
        if not c:
            return "an empty component"
        if c == b".":
            return "a '.' component"
        if c == b"..":
            return "a '..' component"
        if len(c) > PATH_COMPONENT_MAX:
            return "a component longer than 255 bytes"
        if i + 1 > PATH_DEPTH_MAX:
            return "more than 32 components"
    return None


def _input_files(files):
    """[(path bytes, data bytes, executable)] from run()'s files= mapping, checked client-side
    (the helper checks again and is the authority): ValueError naming the file."""
    out, seen, total = [], set(), 0
    for path, value in (files or {}).items():
        executable = False
        if isinstance(value, tuple):
            if len(value) != 2:
                raise ValueError(f"input file {path!r}: the value is bytes or (bytes, executable)")
            value, executable = value
        if not isinstance(path, (str, bytes)):
            raise TypeError(f"input file {path!r}: the path must be str or bytes")
        p = os.fsencode(path)
        why = path_invalid(p)
        if why:
            raise ValueError(f"input file {path!r}: {why}")
        if p in seen:
            raise ValueError(f"input file {path!r}: given twice")
        seen.add(p)
        data = _b(value)
        total += len(data)
        if total > FILES_IN_BYTES_MAX:
            raise ValueError(f"input file {path!r}: the input files exceed {FILES_IN_BYTES_MAX} bytes together")
        out.append((p, data, bool(executable)))
    if len(out) > FILES_COUNT_MAX:
        raise ValueError(f"{len(out)} input files: the maximum is {FILES_COUNT_MAX}")
    return out


def file_frames(path, data, executable=False):
    """FILE and its FILE_DATA frames (64 KiB each, none for an empty file), as request() sends them."""
    p = os.fsencode(path)
    data = _b(data)
    out = [frame(FILE, FILE_HEADER.pack(FILE_EXECUTABLE if executable else 0, len(data)) + p)]
    for i in range(0, len(data), CHUNK_MAX):
        out.append(frame(FILE_DATA, data[i:i + CHUNK_MAX]))
    return b"".join(out)


def request(code, args=(), filename=None, profile=None, timeout=None, memory=None, tasks=None,
            cpu_quota=None, cpu_time=None, output_max=None, disk=None, files=None, collect=False):
    """The request frames, HELLO to REQUEST_END, exactly as run() sends them: the order of
    request_append() in common/request.c (files and COLLECT after the limits)."""
    out = [hello(), frame(CODE, _b(code))]
    if filename is not None:
        out.append(frame(FILENAME, _b(filename)))
    for a in args:
        out.append(frame(ARG, _b(a)))
    if profile is not None:
        out.append(frame(PROFILE, _b(profile)))
    for key, v in _limit_values(timeout, memory, tasks, cpu_quota, cpu_time, output_max, disk):
        out.append(limit(key, v))
    for p, data, executable in _input_files(files):
        out.append(file_frames(p, data, executable))
    if collect:
        out.append(frame(COLLECT))
    out.append(frame(REQUEST_END))
    return b"".join(out)


def discover_request():
    """The whole request of profiles(): HELLO, DISCOVER, REQUEST_END (nothing follows it)."""
    return hello() + frame(DISCOVER) + frame(REQUEST_END)


def session_request(profile=None, *, memory=None, tasks=None, cpu_quota=None, disk=None, output_max=None,
                    timeout=None, cpu_time=None, session_timeout=None, session_cpu_time=None, idle_timeout=None,
                    cells=None, grace=None):
    """The request of a Session: HELLO, SESSION, PROFILE, LIMIT..., REQUEST_END (the order of
    request_append() in common/request.c). timeout and cpu_time are each cell's (seconds),
    session_timeout, session_cpu_time, idle_timeout and grace the session's (seconds), cells a
    count; limits left None are not sent (the profile's defaults apply)."""
    out = [hello(), frame(SESSION)]
    if profile is not None:
        out.append(frame(PROFILE, _b(profile)))
    for key, v in _limit_values(timeout, memory, tasks, cpu_quota, cpu_time, output_max, disk,
                                (session_timeout, session_cpu_time, idle_timeout, cells, grace)):
        out.append(limit(key, v))
    out.append(frame(REQUEST_END))
    return b"".join(out)


def cell_frame(code, collect=False):
    """One CELL frame: uint32 flags (CELL_COLLECT), then the code (str as UTF-8, or bytes)."""
    code = _b(code)
    if len(code) > CELL_CODE_MAX:
        raise ValueError(f"the cell's code is {len(code)} bytes: the maximum is {CELL_CODE_MAX}")
    return frame(CELL, struct.pack("<I", CELL_COLLECT if collect else 0) + code)


def cell_frames(code, files=None, collect=False):
    """What a session sends for one cell: its input files' FILE and FILE_DATA frames, then CELL."""
    out = [file_frames(p, data, executable) for p, data, executable in _input_files(files)]
    out.append(cell_frame(code, collect))
    return b"".join(out)


def parse_header(buf):
    """(type, length) of an 8-byte header from the helper; ProtocolError if it is not valid."""
    ftype, flags, length = HEADER.unpack(buf)
    if ftype not in FRAME_BOUNDS or flags != 0:
        raise ProtocolError(f"bad frame header: type 0x{ftype:04x}, flags 0x{flags:04x}")
    lo, hi = FRAME_BOUNDS[ftype]
    if not lo <= length <= hi:
        raise ProtocolError(f"{FRAME_NAMES[ftype]} frame of {length} bytes is outside {lo}..{hi}")
    return ftype, length


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return bytes(buf)
        buf += chunk
    return bytes(buf)


def read_frame(sock):
    """The next (type, payload) from a blocking socket, or None at a clean end of stream."""
    head = _recv_exact(sock, HEADER_SIZE)
    if not head:
        return None
    if len(head) < HEADER_SIZE:
        raise ProtocolError("connection closed inside a frame header")
    ftype, length = parse_header(head)
    payload = _recv_exact(sock, length)
    if len(payload) < length:
        raise ProtocolError(f"connection closed inside a {FRAME_NAMES[ftype]} frame")
    return ftype, payload


def read_frames(sock):
    """Iterates over (type, payload) until the end of the stream."""
    while True:
        f = read_frame(sock)
        if f is None:
            return
        yield f


class _Reader:
    """Incremental frame decoder for the non-blocking loop in run()."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        frames = []
        while len(self.buf) >= HEADER_SIZE:
            ftype, length = parse_header(bytes(self.buf[:HEADER_SIZE]))
            if len(self.buf) < HEADER_SIZE + length:
                break
            frames.append((ftype, bytes(self.buf[HEADER_SIZE:HEADER_SIZE + length])))
            del self.buf[:HEADER_SIZE + length]
        return frames


