# SPDX-License-Identifier: LGPL-2.1-or-later
# The pyward client as a Python module (stdlib only, Python >= 3.9): run code through the pyward
# helper socket, plus the low-level framing used by tests that need to send bad input on purpose.
"""Run untrusted Python code through pyward, from Python.

High level::

    import pyward
    res = pyward.run("import sys; print(sys.argv[1:])", args=["a", "b"], timeout=5)
    res.status      # "ok", "exit", "signal", "timeout", "cpu-limit", "oom", "output-limit",
                    # "killed", "rejected" or "error"
    res.exit_code   # int, or None (killed by a signal, or never ran)
    res.stdout      # bytes

run(code, *, args=(), stdin=b"", filename=None, profile=None, timeout=None, memory=None,
    tasks=None, cpu_quota=None, cpu_time=None, output_max=None, disk=None,
    socket_path=DEFAULT_SOCKET, on_stdout=None, on_stderr=None, on_accepted=None,
    cancel=None, client_timeout=None, connect_timeout=CONNECT_TIMEOUT, files=None,
    collect=False) -> Result

  code          str (encoded as UTF-8) or bytes: the program.
  args          iterable of str/bytes: sys.argv[1:] of the job.
  stdin         bytes/str fed to the job's stdin, then end-of-file; None or b"" is an empty stdin.
                It is written while output is read, so a job that echoes a large stdin cannot
                deadlock the client.
  filename      name of the main file in the job (default on the helper side: "main.py").
  profile       configuration profile name (default on the helper side: "default").
  timeout       wall-clock limit in seconds (float); cpu_time: CPU limit in seconds (float).
  memory, disk, output_max   bytes; tasks: count; cpu_quota: percent of one CPU.
                Limits left None are not sent: the profile's defaults apply.
  socket_path   the helper socket (default: $PYWARD_SOCKET or /run/pyward/pyward.sock).
  on_stdout, on_stderr   callables receiving each chunk (bytes) as it arrives; the chunks are
                also collected in Result.stdout / Result.stderr.
  on_accepted   callable receiving the ACCEPTED record (dict) when the helper started the job.
  cancel        a threading.Event; when it is set, CANCEL is sent (the job ends as "killed").
  client_timeout   seconds after which the client gives up waiting and raises TimeoutError
                (a guard against a hung helper; the job's own limits are the helper's job).
  connect_timeout  seconds to wait for a busy socket to take the connection (default 10):
                while the socket exists but its backlog is full (EAGAIN) or it refuses
                (ECONNREFUSED), connect() is retried with backoff; a connection closed before
                the helper sent a single byte (systemd drops one over MaxConnections=; no job
                was started) is dialled again with the whole request. 0 tries once. A missing
                socket fails at once.

  files         {path: bytes} or {path: (bytes, executable)}: input files written into the job's
                working directory (/tmp) before the code runs (mode 0600, or 0700 if
                executable; directories on the way are made). path is str or bytes, relative,
                with no empty, "." or ".." component (path_invalid() says why not; ValueError
                names the file); the helper checks again and its answer counts.
  collect       True: after the code ends, the files it left in the working directory (new or
                changed, regular files only, links never followed) come back in Result.files.

  Raises ConnectionError (socket missing, refused, busy for connect_timeout, reset before a
  result), ProtocolError (the
  helper sent something that is not valid protocol v1), TimeoutError (client_timeout).
  A refused request is not an exception: it is a Result with status "rejected" and a message.

Result fields: status, exit_code, signal ("SIGKILL" etc. or None), stdout, stderr (bytes),
wall_ms, cpu_ms, memory_peak_bytes (int or None when unknown), memory_peak_reason, unit,
invocation_id, job, message (str or None), accepted (dict from ACCEPTED, or None when the job was
never started). Result.signal_number gives the number. With collect=True also: files
({path: bytes}; a path that is not UTF-8 is a str with surrogate escapes, os.fsencode() gives
its bytes back), file_modes ({path: int}), skipped ([(path, reason)]: "symlink", "fifo",
"size", "count", ...), files_out, files_out_bytes, files_skipped (int or None) and files_note
(why the collection is incomplete, or None). Result.write_files(dir, overwrite=False) writes
the files under dir as pyward --files-out does: links never followed, names never outside dir,
an existing name an error unless overwrite (FilesWriteError lists what failed).

    res = pyward.run(code, files={"data.csv": csv_bytes}, collect=True)
    png = res.files["plot.png"]

profiles(socket_path=None, client_timeout=None, connect_timeout=CONNECT_TIMEOUT) -> [Profile]
  The profiles the caller may use (await profiles_async(...) for asyncio). Profile fields: name,
  interpreter, python ("3.11.2" or None), network, limits ({"memory": (default, max), ...} in
  the limit's unit: bytes, microseconds, percent, counts), packages ({name: version}),
  packages_omitted (int), note (str or None). Raises DiscoverError if the helper refused.

connect(socket_path=None, connect_timeout=CONNECT_TIMEOUT) -> socket   the connection run() uses
  (non-blocking, retried as above); await connect_async(...) is the same for asyncio code, whose
  event loop keeps running during the backoff.

Low level (for tests of bad input; see pyward-protocol(7)):
  frame(type, payload=b"", flags=0, length=None) -> bytes     one frame, any header you like
  hello(version=1), limit(key, value) -> bytes                payload helpers
  request(code, ...) -> bytes      the whole request (HELLO ... REQUEST_END) as run() sends it
  discover_request() -> bytes      HELLO, DISCOVER, REQUEST_END as profiles() sends it
  file_frames(path, data, executable=False) -> bytes   FILE and its FILE_DATA frames
  parse_file_header(payload), parse_skipped(payload), parse_profile_info(payload)
  path_invalid(path) -> reason or None                 the path rule of file_path_valid()
  read_frame(sock) -> (type, payload) or None at a clean end of stream; validates the header
  read_frames(sock) -> iterator of (type, payload) until the end of the stream
  parse_result(payload) -> dict, parse_accepted(payload) -> dict, result_from_record(dict, ...)
  Constants: HELLO CODE FILENAME ARG PROFILE LIMIT REQUEST_END FILE FILE_DATA COLLECT DISCOVER
  STDIN STDIN_EOF CANCEL ACCEPTED STDOUT STDERR RESULT FILE_OUT FILE_OUT_DATA FILE_SKIPPED
  PROFILE_INFO; LIMIT_MEMORY .. LIMIT_FILES_OUT_TIME and LIMITS (name -> key); SKIP_REASONS; the bounds
  HEADER_SIZE CHUNK_MAX CODE_MAX FILENAME_MAX ARG_MAX ARGS_MAX PROFILE_NAME_MAX RESULT_MAX
  ACCEPTED_MAX; STATUSES.
"""

import dataclasses
import errno
import os
import selectors
import signal as _signal
import socket
import stat as _stat
import struct
import time

__all__ = [
    "run", "connect", "connect_async", "Result", "ProtocolError", "frame", "hello", "limit", "request", "read_frame",
    "read_frames", "parse_result", "parse_accepted", "result_from_record", "profiles", "profiles_async",
    "Profile", "DiscoverError", "FilesWriteError", "write_files", "path_invalid", "file_frames",
    "discover_request", "parse_file_header", "parse_skipped", "parse_profile_info",
]

PROTOCOL_VERSION = 1
DEFAULT_SOCKET = "/run/pyward/pyward.sock"
# As pyward(1)'s --connect-timeout: long enough to wait out another user's connection flood
# (README, security model), short enough that a dead service is reported soon.
CONNECT_TIMEOUT = 10.0
# The backoff between attempts, as pyward(1)'s (client/run.c): soon, then doubling, capped.
_RETRY_FIRST, _RETRY_MAX = 0.005, 0.25

HELLO, CODE, FILENAME, ARG, PROFILE, LIMIT, REQUEST_END = 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007
FILE, FILE_DATA, COLLECT, DISCOVER = 0x0008, 0x0009, 0x000A, 0x000B
STDIN, STDIN_EOF, CANCEL = 0x0010, 0x0011, 0x0012
ACCEPTED, STDOUT, STDERR, RESULT = 0x0101, 0x0102, 0x0103, 0x0104
FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED, PROFILE_INFO = 0x0105, 0x0106, 0x0107, 0x0108

FRAME_NAMES = {
    HELLO: "HELLO", CODE: "CODE", FILENAME: "FILENAME", ARG: "ARG", PROFILE: "PROFILE",
    LIMIT: "LIMIT", REQUEST_END: "REQUEST_END", FILE: "FILE", FILE_DATA: "FILE_DATA",
    COLLECT: "COLLECT", DISCOVER: "DISCOVER", STDIN: "STDIN", STDIN_EOF: "STDIN_EOF",
    CANCEL: "CANCEL", ACCEPTED: "ACCEPTED", STDOUT: "STDOUT", STDERR: "STDERR", RESULT: "RESULT",
    FILE_OUT: "FILE_OUT", FILE_OUT_DATA: "FILE_OUT_DATA", FILE_SKIPPED: "FILE_SKIPPED",
    PROFILE_INFO: "PROFILE_INFO",
}

LIMIT_MEMORY, LIMIT_TASKS, LIMIT_CPU_QUOTA, LIMIT_CPU_TIME, LIMIT_WALL_TIME, LIMIT_OUTPUT, LIMIT_DISK = range(1, 8)
(LIMIT_FILES_IN, LIMIT_FILES_IN_BYTES, LIMIT_FILES_OUT, LIMIT_FILES_OUT_BYTES, LIMIT_FILE_OUT_SIZE,
 LIMIT_FILES_OUT_DEPTH, LIMIT_FILES_OUT_TIME) = range(8, 15)
LIMITS = {
    "memory": LIMIT_MEMORY, "tasks": LIMIT_TASKS, "cpu-quota": LIMIT_CPU_QUOTA,
    "cpu-time": LIMIT_CPU_TIME, "wall-time": LIMIT_WALL_TIME, "output": LIMIT_OUTPUT,
    "disk": LIMIT_DISK, "files-in": LIMIT_FILES_IN, "files-in-bytes": LIMIT_FILES_IN_BYTES,
    "files-out": LIMIT_FILES_OUT, "files-out-bytes": LIMIT_FILES_OUT_BYTES,
    "file-out-size": LIMIT_FILE_OUT_SIZE, "files-out-depth": LIMIT_FILES_OUT_DEPTH,
    "files-out-time": LIMIT_FILES_OUT_TIME,
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

# Inclusive payload bounds per frame type, as frame_header_parse() in helper/protocol.c.
FRAME_BOUNDS = {
    HELLO: (4, 4), CODE: (0, CODE_MAX), FILENAME: (1, FILENAME_MAX), ARG: (0, ARG_MAX),
    PROFILE: (1, PROFILE_NAME_MAX), LIMIT: (12, 12), REQUEST_END: (0, 0), STDIN: (1, CHUNK_MAX),
    STDIN_EOF: (0, 0), CANCEL: (0, 0), ACCEPTED: (0, ACCEPTED_MAX), STDOUT: (1, CHUNK_MAX),
    STDERR: (1, CHUNK_MAX), RESULT: (0, RESULT_MAX),
    FILE: (12 + 1, 12 + PATH_MAX), FILE_DATA: (1, CHUNK_MAX), COLLECT: (0, 0), DISCOVER: (0, 0),
    FILE_OUT: (12 + 1, 12 + PATH_MAX), FILE_OUT_DATA: (1, CHUNK_MAX), FILE_SKIPPED: (4, 4 + PATH_MAX),
    PROFILE_INFO: (1, PROFILE_INFO_MAX),
}

STATUSES = ("ok", "exit", "signal", "timeout", "cpu-limit", "oom", "output-limit", "killed",
            "rejected", "error")
RESULT_KEYS = ("status", "exit_code", "signal", "wall_ms", "cpu_ms", "memory_peak_bytes",
               "memory_peak_reason", "unit", "invocation_id", "job", "message")
# Only in the RESULT of a request that sent COLLECT (files_*) or DISCOVER (profiles).
RESULT_FILES_KEYS = ("files_out", "files_out_bytes", "files_skipped", "files_note")


class ProtocolError(Exception):
    """The peer sent bytes that are not valid pyward protocol v1."""


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


def _limit_values(timeout, memory, tasks, cpu_quota, cpu_time, output_max, disk):
    def usec(seconds):
        v = round(float(seconds) * 1_000_000)
        if v <= 0:
            raise ValueError(f"time limit must be positive, got {seconds!r}")
        return v

    out = []
    for key, value, conv in ((LIMIT_MEMORY, memory, int), (LIMIT_TASKS, tasks, int),
                             (LIMIT_CPU_QUOTA, cpu_quota, int), (LIMIT_CPU_TIME, cpu_time, usec),
                             (LIMIT_WALL_TIME, timeout, usec), (LIMIT_OUTPUT, output_max, int),
                             (LIMIT_DISK, disk, int)):
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


def _unescape(value):
    out, i = bytearray(), 0
    while i < len(value):
        c = value[i]
        if c == 0x5C:  # backslash
            nxt = value[i + 1:i + 2]
            if nxt == b"\\":
                out += b"\\"
            elif nxt == b"n":
                out += b"\n"
            else:
                raise ProtocolError(f"bad escape in record value {bytes(value)!r}")
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


def _parse_record(payload, what):
    """key=value lines, each ending in \\n; values escaped (\\\\ and \\n). Returns {str: str}."""
    payload = bytes(payload)
    if b"\0" in payload:
        raise ProtocolError(f"{what} contains a NUL byte")
    if payload and not payload.endswith(b"\n"):
        raise ProtocolError(f"{what} does not end with a newline")
    out = {}
    for line in payload.split(b"\n")[:-1]:
        key, eq, value = line.partition(b"=")
        if not eq or not key:
            raise ProtocolError(f"malformed line in {what}: {line!r}")
        k = key.decode("utf-8", "replace")
        if k in out:
            raise ProtocolError(f"duplicate key {k!r} in {what}")
        try:
            out[k] = _unescape(value).decode("utf-8", "replace")
        except ProtocolError:
            if what == "RESULT" and k not in RESULT_KEYS + RESULT_FILES_KEYS + ("profiles",):
                continue  # unknown keys are ignored entirely, as the C parser does
            raise
    return out


def parse_accepted(payload):
    """The ACCEPTED record as a dict, e.g. {"job": "17", "unit": "pyward-job-17.service"}."""
    return _parse_record(payload, "ACCEPTED")


def _int_or_none(rec, key, hi=2 ** 64 - 2):
    v = rec.get(key, "")
    if v == "":
        return None
    if not v.isdigit() or not v.isascii() or (len(v) > 1 and v[0] == "0") or int(v) > hi:
        raise ProtocolError(f"bad {key} value {v!r} in RESULT")
    return int(v)


def parse_result(payload):
    """The RESULT record as a dict of the known keys (str, int or None); strict like the C parser."""
    if len(payload) > RESULT_MAX:
        raise ProtocolError("RESULT too large")
    rec = _parse_record(payload, "RESULT")
    if rec.get("status") not in STATUSES:
        raise ProtocolError(f"bad or missing status in RESULT: {rec.get('status')!r}")
    sig = rec.get("signal", "") or None
    if sig is not None and _signal_number(sig) is None:
        raise ProtocolError(f"bad signal value {sig!r} in RESULT")
    out = {
        "status": rec["status"],
        "exit_code": _int_or_none(rec, "exit_code", 255),
        "signal": sig,
        "wall_ms": _int_or_none(rec, "wall_ms"),
        "cpu_ms": _int_or_none(rec, "cpu_ms"),
        "memory_peak_bytes": _int_or_none(rec, "memory_peak_bytes"),
    }
    for k in ("memory_peak_reason", "unit", "invocation_id", "job", "message"):
        out[k] = rec.get(k, "") or None
    # Written only for a request that sent COLLECT: today's records give today's dict.
    if any(k in rec for k in RESULT_FILES_KEYS):
        for k in ("files_out", "files_out_bytes", "files_skipped"):
            out[k] = _int_or_none(rec, k)
        out["files_note"] = rec.get("files_note", "") or None
    return out


def parse_file_header(payload):
    """(mode or flags, size, path bytes) of a FILE or FILE_OUT payload; ProtocolError if short or
    the path is not valid (path_invalid())."""
    payload = bytes(payload)
    if len(payload) <= FILE_HEADER.size:
        raise ProtocolError("file frame without a path")
    mode, size = FILE_HEADER.unpack_from(payload)
    path = payload[FILE_HEADER.size:]
    why = path_invalid(path)
    if why:
        raise ProtocolError(f"file frame with an invalid path {path!r}: {why}")
    return mode, size, path


def parse_skipped(payload):
    """(reason name, path bytes) of a FILE_SKIPPED payload; the path may be empty (a name the
    runner could not give). A reason this module does not know is a ProtocolError, as in
    common/files.c: new reasons need a new protocol version."""
    payload = bytes(payload)
    if len(payload) < 4:
        raise ProtocolError("FILE_SKIPPED too short")
    (reason,) = struct.unpack_from("<I", payload)
    if reason not in SKIP_REASONS:
        raise ProtocolError(f"FILE_SKIPPED with an unknown reason {reason}")
    return SKIP_REASONS[reason], payload[4:]


def _record_lines(payload, what):
    """(key, value) pairs of a key=value record, in order, values unescaped (str)."""
    payload = bytes(payload)
    if b"\0" in payload:
        raise ProtocolError(f"{what} contains a NUL byte")
    if not payload.endswith(b"\n"):
        raise ProtocolError(f"{what} does not end with a newline")
    for line in payload.split(b"\n")[:-1]:
        key, eq, value = line.partition(b"=")
        if not eq or not key:
            raise ProtocolError(f"malformed line in {what}: {line!r}")
        yield key.decode("utf-8", "replace"), _unescape(value).decode("utf-8", "replace")


def _number(value, what):
    if not value.isascii() or not value.isdigit() or (len(value) > 1 and value[0] == "0") or int(value) >= 2 ** 64:
        raise ProtocolError(f"bad number {value!r} in {what}")
    return int(value)


@dataclasses.dataclass
class Profile:
    """One profile the caller may use, from the helper's answer to DISCOVER."""
    name: str
    interpreter: "str | None" = None
    python: "str | None" = None  # "3.11.2", or None when unknown (note says why)
    network: "str | None" = None  # "none", "loopback"
    limits: dict = dataclasses.field(default_factory=dict)  # name -> (default, max), raw units
    packages: dict = dataclasses.field(default_factory=dict)  # name -> version
    packages_omitted: int = 0
    note: "str | None" = None


def parse_profile_info(payload):
    """A Profile from a PROFILE_INFO payload (key=value lines escaped as RESULT's; package=
    repeated; unknown keys ignored, as profile_info_parse() does)."""
    if len(payload) > PROFILE_INFO_MAX:
        raise ProtocolError("PROFILE_INFO too large")
    fields, limits, packages, seen = {}, {}, {}, set()
    for key, value in _record_lines(payload, "PROFILE_INFO"):
        if key == "package":
            name, _, version = value.partition(" ")
            packages[name] = version
            continue
        if key in seen:
            raise ProtocolError(f"duplicate key {key!r} in PROFILE_INFO")
        seen.add(key)
        if key.startswith("limit."):
            name, _, which = key[6:].rpartition(".")
            if name in LIMITS and which in ("default", "max"):
                limits.setdefault(name, [0, 0])[which == "max"] = _number(value, "PROFILE_INFO")
        elif key in ("name", "interpreter", "python", "network", "note"):
            fields[key] = value or None
        elif key == "packages_omitted":
            fields[key] = _number(value, "PROFILE_INFO")
    if not fields.get("name"):
        raise ProtocolError("PROFILE_INFO without a name")
    return Profile(limits={k: tuple(v) for k, v in limits.items()}, packages=packages, **fields)


def _signal_number(name):
    if not name.startswith("SIG"):
        return None
    rest = name[3:]
    if rest.isdigit() and rest.isascii() and rest[0] != "0" and 1 <= int(rest) <= 64:
        return int(rest)
    try:
        return int(getattr(_signal.Signals, name))
    except AttributeError:
        return None


@dataclasses.dataclass
class Result:
    status: str
    exit_code: "int | None" = None
    signal: "str | None" = None
    stdout: bytes = b""
    stderr: bytes = b""
    wall_ms: "int | None" = None
    cpu_ms: "int | None" = None
    memory_peak_bytes: "int | None" = None
    memory_peak_reason: "str | None" = None
    unit: "str | None" = None
    invocation_id: "str | None" = None
    job: "str | None" = None
    message: "str | None" = None
    accepted: "dict | None" = None
    # With collect=True: the returned files (path -> bytes; a path that is not UTF-8 is a str
    # with surrogate escapes, os.fsencode() gives its bytes back), their modes (path -> int),
    # what was left out [(path, reason)], and the RESULT's counts and note.
    files: dict = dataclasses.field(default_factory=dict)
    file_modes: dict = dataclasses.field(default_factory=dict)
    skipped: list = dataclasses.field(default_factory=list)
    files_out: "int | None" = None
    files_out_bytes: "int | None" = None
    files_skipped: "int | None" = None
    files_note: "str | None" = None

    @property
    def signal_number(self):
        return _signal_number(self.signal) if self.signal else None

    def write_files(self, directory, overwrite=False):
        """Writes self.files under directory (made with mode 0700 if missing; its parent must
        exist) as pyward --files-out does: every component opened relative to its parent with
        O_NOFOLLOW (a symbolic link on the way is an error, never followed), missing
        directories made (0755 minus the umask), each file created with O_EXCL and its mode
        & 0755 (never setuid). A name that exists is an error for that file unless overwrite:
        then a non-directory entry (a link too: never written through) is removed first.
        Every file is tried; then FilesWriteError (an OSError) lists the ones that failed.
        Returns the paths written."""
        return write_files(directory, self.files, self.file_modes, overwrite)


class FilesWriteError(OSError):
    """Some files could not be written by write_files(); .failures is [(path, OSError)]."""

    def __init__(self, failures):
        path, e = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        super().__init__(e.errno, f"cannot write {path!r}: {e.strerror}{more}")
        self.failures = failures


def _open_subdir(parent, name):
    """The directory name below parent (an fd), made if missing; never through a link."""
    for _ in range(2):
        try:
            return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError:
            try:
                os.mkdir(name, 0o755, dir_fd=parent)
            except FileExistsError:
                pass
        except NotADirectoryError:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if _stat.S_ISLNK(st.st_mode):
                raise OSError(errno.ELOOP, "a symbolic link: not followed") from None
            raise
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise OSError(errno.ELOOP, "a symbolic link: not followed") from None
            raise
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))


def _create_file(parent, name, mode, overwrite):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
    try:
        return os.open(name, flags, mode & 0o755, dir_fd=parent)
    except FileExistsError:
        if not overwrite:
            raise FileExistsError(errno.EEXIST, "it exists (overwrite=True replaces it)") from None
    if _stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
        raise IsADirectoryError(errno.EISDIR, "a directory is in the way")
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    return os.open(name, flags, mode & 0o755, dir_fd=parent)


def _write_one(root, path, data, mode, overwrite):
    p = os.fsencode(path)
    why = path_invalid(p)
    if why:
        raise ValueError(f"{path!r}: {why}")
    *dirs, name = p.split(b"/")
    parent = os.dup(root)
    try:
        for i, d in enumerate(dirs):
            try:
                sub = _open_subdir(parent, d)
            except OSError as e:
                shown = os.fsdecode(b"/".join(dirs[:i + 1]))
                raise type(e)(e.errno, f"{shown!r}: {e.strerror}") from None
            os.close(parent)
            parent = sub
        fd = _create_file(parent, name, mode, overwrite)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.unlink(name, dir_fd=parent)
            raise
        finally:
            os.close(fd)
    finally:
        os.close(parent)


def write_files(directory, files, modes=None, overwrite=False):
    """Result.write_files() for any {path: bytes} and {path: mode} (default 0644)."""
    try:
        root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    written, failures = [], []
    try:
        for path, data in files.items():
            try:
                _write_one(root, path, data, (modes or {}).get(path, 0o644), overwrite)
                written.append(path)
            except ValueError as e:
                failures.append((path, OSError(errno.EINVAL, str(e))))
            except OSError as e:
                failures.append((path, e))
    finally:
        os.close(root)
    if failures:
        raise FilesWriteError(failures)
    return written


def result_from_record(rec, stdout=b"", stderr=b"", accepted=None):
    """A Result from parse_result()'s dict plus the collected streams."""
    return Result(stdout=bytes(stdout), stderr=bytes(stderr), accepted=accepted, **rec)


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


def _connect_attempts(socket_path, connect_timeout):
    """The retry loop of connect() and connect_async(), as a generator: yields the delay to sleep
    before the next attempt, returns the connected socket, raises ConnectionError."""
    if socket_path is None:
        socket_path = os.environ.get("PYWARD_SOCKET") or DEFAULT_SOCKET
    deadline = time.monotonic() + connect_timeout
    delay, attempts = _RETRY_FIRST, 0
    while True:
        attempts += 1
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            sock.connect(socket_path)
            return sock
        except OSError as e:
            sock.close()
            err = e
        # Only a socket that exists and is merely busy is worth waiting for.
        now = time.monotonic()
        if (err.errno not in (errno.EAGAIN, errno.ECONNREFUSED) or not os.path.exists(socket_path)
                or now >= deadline):
            break
        yield min(delay, deadline - now)
        delay = min(delay * 2, _RETRY_MAX)
    if err.errno == errno.EAGAIN:
        why = (f"the socket's backlog stayed full for {connect_timeout:.1f}s ({attempts} attempts; "
               "the service is overloaded, see connect_timeout)")
    elif err.errno in (errno.ENOENT, errno.ECONNREFUSED):
        why = "is pyward.socket running?" if attempts == 1 else \
            f"for {connect_timeout:.1f}s, {attempts} attempts; is pyward.socket running?"
    elif err.errno == errno.EACCES:
        why = "are you in the pyward group?"
    else:
        why = None
    msg = f"cannot connect to {socket_path}: {err.strerror}" + (f" ({why})" if why else "")
    raise ConnectionError(err.errno, msg) from err


def connect(socket_path=None, connect_timeout=CONNECT_TIMEOUT):
    """Connects to the helper socket, waiting up to connect_timeout seconds for a busy one; returns
    a non-blocking socket. Raises ConnectionError naming the cause."""
    attempts = _connect_attempts(socket_path, connect_timeout)
    try:
        while True:
            time.sleep(next(attempts))
    except StopIteration as done:
        return done.value


async def connect_async(socket_path=None, connect_timeout=CONNECT_TIMEOUT):
    """connect() for asyncio: the backoff is an asyncio.sleep(), so the event loop keeps running."""
    import asyncio
    attempts = _connect_attempts(socket_path, connect_timeout)
    try:
        while True:
            await asyncio.sleep(next(attempts))
    except StopIteration as done:
        return done.value


class _Collector:
    """The FILE_OUT, FILE_OUT_DATA and FILE_SKIPPED frames of a run(collect=True), in order and
    bounded as pyward(1)'s collect.c checks them."""

    def __init__(self):
        self.files, self.file_modes, self.skipped = {}, {}, []
        self.pending = None  # (path, size, bytearray) while FILE_OUT_DATA is due
        self.last = None  # the last complete file: a FILE_SKIPPED naming it next means incomplete

    def frame(self, ftype, payload):
        if ftype not in (FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED):
            return False
        if ftype != FILE_OUT_DATA and self.pending:
            raise ProtocolError(f"pyward: {FRAME_NAMES[ftype]} before the last file's bytes")
        if ftype == FILE_OUT:
            mode, size, path = parse_file_header(payload)
            key = os.fsdecode(path)
            if size > FILE_OUT_SIZE_MAX:
                raise ProtocolError(f"pyward: FILE_OUT of {size} bytes")
            if len(self.files) >= FILES_COUNT_MAX:
                raise ProtocolError(f"pyward: more than {FILES_COUNT_MAX} FILE_OUT frames")
            if key in self.files:
                raise ProtocolError(f"pyward: FILE_OUT {key!r} twice")
            self.files[key], self.file_modes[key] = b"", mode & 0o7777
            self.pending = (key, size, bytearray()) if size else None
            self.last = None
        elif ftype == FILE_OUT_DATA:
            if not self.pending:
                raise ProtocolError("pyward: FILE_OUT_DATA without a FILE_OUT")
            key, size, buf = self.pending
            if len(buf) + len(payload) > size:
                raise ProtocolError(f"pyward: more FILE_OUT_DATA than the {size} bytes announced")
            buf += payload
            if len(buf) == size:
                self.files[key], self.pending, self.last = bytes(buf), None, key
        else:
            if len(self.skipped) >= SKIPPED_LISTED_MAX:
                raise ProtocolError(f"pyward: more than {SKIPPED_LISTED_MAX} FILE_SKIPPED frames")
            reason, path = parse_skipped(payload)
            self.skipped.append((os.fsdecode(path), reason))
            # pyward-protocol(7): the file just sent, named again, was cut short (its announced
            # size filled up with zeros): it is not the job's, and is not returned.
            if self.last is not None and os.fsdecode(path) == self.last:
                del self.files[self.last], self.file_modes[self.last]
            self.last = None
        return True

    def finish(self, result):
        if self.pending:
            raise ProtocolError("pyward: RESULT before the last file's bytes")
        result.files, result.file_modes, result.skipped = self.files, self.file_modes, self.skipped


class _ProfileCollector:
    """The PROFILE_INFO frames of profiles()."""

    PROFILES_MAX = 4096

    def __init__(self):
        self.profiles = []

    def frame(self, ftype, payload):
        if ftype != PROFILE_INFO:
            return False
        if len(self.profiles) >= self.PROFILES_MAX:
            raise ProtocolError(f"pyward: more than {self.PROFILES_MAX} PROFILE_INFO frames")
        self.profiles.append(parse_profile_info(payload))
        return True

    def finish(self, result):
        pass


def run(code, *, args=(), stdin=b"", filename=None, profile=None, timeout=None, memory=None,
        tasks=None, cpu_quota=None, cpu_time=None, output_max=None, disk=None, socket_path=None,
        on_stdout=None, on_stderr=None, on_accepted=None, cancel=None, client_timeout=None,
        connect_timeout=CONNECT_TIMEOUT, files=None, collect=False):
    """Runs code through the pyward helper and returns its Result (see the module docstring)."""
    out = bytearray(request(code, args=args, filename=filename, profile=profile, timeout=timeout,
                            memory=memory, tasks=tasks, cpu_quota=cpu_quota, cpu_time=cpu_time,
                            output_max=output_max, disk=disk, files=files, collect=collect))
    data = _b(stdin) if stdin is not None else b""
    for i in range(0, len(data), CHUNK_MAX):
        out += frame(STDIN, data[i:i + CHUNK_MAX])
    out += frame(STDIN_EOF)
    return _exchange(out, socket_path, connect_timeout, cancel,
                     (on_stdout, on_stderr, on_accepted, client_timeout),
                     _Collector if collect else None)[0]


class DiscoverError(Exception):
    """The helper did not answer DISCOVER with a list (status "rejected" or "error");
    .result is its Result."""

    def __init__(self, result):
        super().__init__(f"pyward: profiles: {result.status}: {result.message or '(no reason given)'}")
        self.result = result


def profiles(*, socket_path=None, client_timeout=None, connect_timeout=CONNECT_TIMEOUT):
    """The profiles the caller may use, as [Profile] in the helper's order: sends HELLO,
    DISCOVER, REQUEST_END and reads one PROFILE_INFO per profile, then RESULT. Raises
    DiscoverError if the helper refused, and what run() raises for the transport."""
    result, coll = _exchange(bytearray(discover_request()), socket_path, connect_timeout, None,
                             (None, None, None, client_timeout), _ProfileCollector)
    if result.status != "ok":
        raise DiscoverError(result)
    return coll.profiles


async def profiles_async(*, socket_path=None, client_timeout=None, connect_timeout=CONNECT_TIMEOUT):
    """profiles() for asyncio: runs it in the loop's default executor, so the event loop keeps
    running while it connects (with backoff) and waits for the answer."""
    import asyncio
    import functools
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(
        profiles, socket_path=socket_path, client_timeout=client_timeout, connect_timeout=connect_timeout))


def _exchange(out, socket_path, connect_timeout, cancel, callbacks, make_extra):
    """One request over a connection, redialled as run() documents; (Result, extra handler)."""
    # A connection dropped before the helper said anything (systemd closes one over
    # MaxConnections= at once; no job was started, the helper sends ACCEPTED first) is dialled
    # again, the whole request with it, within the same connect_timeout.
    deadline = time.monotonic() + connect_timeout
    delay = _RETRY_FIRST
    while True:
        sock = connect(socket_path, max(0.0, deadline - time.monotonic()))
        extra = make_extra() if make_extra else None
        try:
            return _run_loop(sock, bytearray(out), *callbacks[:3], cancel, callbacks[3], extra), extra
        except _Dropped as e:
            if time.monotonic() + delay >= deadline or (cancel is not None and cancel.is_set()):
                raise ConnectionError(e.errno, f"{e.strerror} (dropped before the helper answered; "
                                      "the service is overloaded, see connect_timeout)") from e
        finally:
            sock.close()
        time.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX)


class _Dropped(ConnectionError):
    """The connection ended before a single byte came from the helper."""


def _run_loop(sock, out, on_stdout, on_stderr, on_accepted, cancel, client_timeout, extra=None):
    reader = _Reader()
    stdout, stderr = bytearray(), bytearray()
    accepted = None
    cancel_sent = False
    sending = True
    heard = False  # any byte from the helper: from then on an end is final, never redialled
    deadline = None if client_timeout is None else time.monotonic() + client_timeout
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    try:
        while True:
            if cancel is not None and cancel.is_set() and not cancel_sent:
                # CANCEL goes right after whatever frame is being written: no frame is split.
                out += frame(CANCEL)
                cancel_sent = True
                if not sending:
                    sending = True
                    sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            wait = None
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise TimeoutError("pyward: no result from the helper within client_timeout")
            if cancel is not None and not cancel_sent:
                wait = 0.05 if wait is None else min(wait, 0.05)
            for _key, ev in sel.select(wait):
                if ev & selectors.EVENT_WRITE and out:
                    try:
                        n = sock.send(out)
                        del out[:n]
                    except (BlockingIOError, InterruptedError):
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        # The helper stopped reading (e.g. it rejected the request): the
                        # verdict is still waiting for us in the receive buffer.
                        out.clear()
                    if not out:
                        sending = False
                        sel.modify(sock, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    try:
                        data = sock.recv(256 * 1024)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionResetError as e:
                        exc = _Dropped if not heard else ConnectionError
                        raise exc(errno.ECONNRESET, "pyward: connection reset by the helper") from e
                    if not data:
                        if not heard:
                            raise _Dropped(errno.EPIPE, "pyward: the helper closed the connection "
                                           "without a result")
                        if reader.buf:
                            raise ProtocolError("pyward: the helper closed the connection inside a frame")
                        raise ConnectionError(errno.EPIPE,
                                              "pyward: the helper closed the connection without a result")
                    heard = True
                    for ftype, payload in reader.feed(data):
                        if ftype == STDOUT:
                            stdout += payload
                            if on_stdout:
                                on_stdout(payload)
                        elif ftype == STDERR:
                            stderr += payload
                            if on_stderr:
                                on_stderr(payload)
                        elif ftype == ACCEPTED:
                            if accepted is not None:
                                raise ProtocolError("pyward: duplicate ACCEPTED frame")
                            accepted = parse_accepted(payload)
                            if on_accepted:
                                on_accepted(accepted)
                        elif ftype == RESULT:
                            rec = parse_result(payload)
                            res = result_from_record(rec, stdout, stderr, accepted)
                            if extra is not None:
                                extra.finish(res)
                            return res
                        elif extra is not None and extra.frame(ftype, payload):
                            pass
                        else:
                            raise ProtocolError(f"pyward: unexpected {FRAME_NAMES[ftype]} frame "
                                                "from the helper")
    finally:
        sel.close()
