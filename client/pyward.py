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
    cancel=None, client_timeout=None, connect_timeout=CONNECT_TIMEOUT) -> Result

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

  Raises ConnectionError (socket missing, refused, busy for connect_timeout, reset before a
  result), ProtocolError (the
  helper sent something that is not valid protocol v1), TimeoutError (client_timeout).
  A refused request is not an exception: it is a Result with status "rejected" and a message.

Result fields: status, exit_code, signal ("SIGKILL" etc. or None), stdout, stderr (bytes),
wall_ms, cpu_ms, memory_peak_bytes (int or None when unknown), memory_peak_reason, unit,
invocation_id, job, message (str or None), accepted (dict from ACCEPTED, or None when the job was
never started). Result.signal_number gives the number.

connect(socket_path=None, connect_timeout=CONNECT_TIMEOUT) -> socket   the connection run() uses
  (non-blocking, retried as above); await connect_async(...) is the same for asyncio code, whose
  event loop keeps running during the backoff.

Low level (for tests of bad input; see pyward-protocol(7)):
  frame(type, payload=b"", flags=0, length=None) -> bytes     one frame, any header you like
  hello(version=1), limit(key, value) -> bytes                payload helpers
  request(code, ...) -> bytes      the whole request (HELLO ... REQUEST_END) as run() sends it
  read_frame(sock) -> (type, payload) or None at a clean end of stream; validates the header
  read_frames(sock) -> iterator of (type, payload) until the end of the stream
  parse_result(payload) -> dict, parse_accepted(payload) -> dict, result_from_record(dict, ...)
  Constants: HELLO CODE FILENAME ARG PROFILE LIMIT REQUEST_END STDIN STDIN_EOF CANCEL ACCEPTED
  STDOUT STDERR RESULT; LIMIT_MEMORY .. LIMIT_DISK and LIMITS (name -> key); the bounds
  HEADER_SIZE CHUNK_MAX CODE_MAX FILENAME_MAX ARG_MAX ARGS_MAX PROFILE_NAME_MAX RESULT_MAX
  ACCEPTED_MAX; STATUSES.
"""

import dataclasses
import errno
import os
import selectors
import signal as _signal
import socket
import struct
import time

__all__ = [
    "run", "connect", "connect_async", "Result", "ProtocolError", "frame", "hello", "limit", "request", "read_frame",
    "read_frames", "parse_result", "parse_accepted", "result_from_record",
]

PROTOCOL_VERSION = 1
DEFAULT_SOCKET = "/run/pyward/pyward.sock"
# As pyward(1)'s --connect-timeout: long enough to wait out another user's connection flood
# (README, security model), short enough that a dead service is reported soon.
CONNECT_TIMEOUT = 10.0
# The backoff between attempts, as pyward(1)'s (client/run.c): soon, then doubling, capped.
_RETRY_FIRST, _RETRY_MAX = 0.005, 0.25

HELLO, CODE, FILENAME, ARG, PROFILE, LIMIT, REQUEST_END = 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007
STDIN, STDIN_EOF, CANCEL = 0x0010, 0x0011, 0x0012
ACCEPTED, STDOUT, STDERR, RESULT = 0x0101, 0x0102, 0x0103, 0x0104

FRAME_NAMES = {
    HELLO: "HELLO", CODE: "CODE", FILENAME: "FILENAME", ARG: "ARG", PROFILE: "PROFILE",
    LIMIT: "LIMIT", REQUEST_END: "REQUEST_END", STDIN: "STDIN", STDIN_EOF: "STDIN_EOF",
    CANCEL: "CANCEL", ACCEPTED: "ACCEPTED", STDOUT: "STDOUT", STDERR: "STDERR", RESULT: "RESULT",
}

LIMIT_MEMORY, LIMIT_TASKS, LIMIT_CPU_QUOTA, LIMIT_CPU_TIME, LIMIT_WALL_TIME, LIMIT_OUTPUT, LIMIT_DISK = range(1, 8)
LIMITS = {
    "memory": LIMIT_MEMORY, "tasks": LIMIT_TASKS, "cpu-quota": LIMIT_CPU_QUOTA,
    "cpu-time": LIMIT_CPU_TIME, "wall-time": LIMIT_WALL_TIME, "output": LIMIT_OUTPUT,
    "disk": LIMIT_DISK,
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

# Inclusive payload bounds per frame type, as frame_header_parse() in helper/protocol.c.
FRAME_BOUNDS = {
    HELLO: (4, 4), CODE: (0, CODE_MAX), FILENAME: (1, FILENAME_MAX), ARG: (0, ARG_MAX),
    PROFILE: (1, PROFILE_NAME_MAX), LIMIT: (12, 12), REQUEST_END: (0, 0), STDIN: (1, CHUNK_MAX),
    STDIN_EOF: (0, 0), CANCEL: (0, 0), ACCEPTED: (0, ACCEPTED_MAX), STDOUT: (1, CHUNK_MAX),
    STDERR: (1, CHUNK_MAX), RESULT: (0, RESULT_MAX),
}

STATUSES = ("ok", "exit", "signal", "timeout", "cpu-limit", "oom", "output-limit", "killed",
            "rejected", "error")
RESULT_KEYS = ("status", "exit_code", "signal", "wall_ms", "cpu_ms", "memory_peak_bytes",
               "memory_peak_reason", "unit", "invocation_id", "job", "message")


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


def request(code, args=(), filename=None, profile=None, timeout=None, memory=None, tasks=None,
            cpu_quota=None, cpu_time=None, output_max=None, disk=None):
    """The request frames, HELLO to REQUEST_END, exactly as run() sends them."""
    out = [hello(), frame(CODE, _b(code))]
    if filename is not None:
        out.append(frame(FILENAME, _b(filename)))
    for a in args:
        out.append(frame(ARG, _b(a)))
    if profile is not None:
        out.append(frame(PROFILE, _b(profile)))
    for key, v in _limit_values(timeout, memory, tasks, cpu_quota, cpu_time, output_max, disk):
        out.append(limit(key, v))
    out.append(frame(REQUEST_END))
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
            if what == "RESULT" and k not in RESULT_KEYS:
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
    return out


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

    @property
    def signal_number(self):
        return _signal_number(self.signal) if self.signal else None


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


def run(code, *, args=(), stdin=b"", filename=None, profile=None, timeout=None, memory=None,
        tasks=None, cpu_quota=None, cpu_time=None, output_max=None, disk=None, socket_path=None,
        on_stdout=None, on_stderr=None, on_accepted=None, cancel=None, client_timeout=None,
        connect_timeout=CONNECT_TIMEOUT):
    """Runs code through the pyward helper and returns its Result (see the module docstring)."""
    out = bytearray(request(code, args=args, filename=filename, profile=profile, timeout=timeout,
                            memory=memory, tasks=tasks, cpu_quota=cpu_quota, cpu_time=cpu_time,
                            output_max=output_max, disk=disk))
    data = _b(stdin) if stdin is not None else b""
    for i in range(0, len(data), CHUNK_MAX):
        out += frame(STDIN, data[i:i + CHUNK_MAX])
    out += frame(STDIN_EOF)

    # A connection dropped before the helper said anything (systemd closes one over
    # MaxConnections= at once; no job was started, the helper sends ACCEPTED first) is dialled
    # again, the whole request with it, within the same connect_timeout.
    deadline = time.monotonic() + connect_timeout
    delay = _RETRY_FIRST
    while True:
        sock = connect(socket_path, max(0.0, deadline - time.monotonic()))
        try:
            return _run_loop(sock, bytearray(out), on_stdout, on_stderr, on_accepted, cancel,
                             client_timeout)
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


def _run_loop(sock, out, on_stdout, on_stderr, on_accepted, cancel, client_timeout):
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
                            return result_from_record(rec, stdout, stderr, accepted)
                        else:
                            raise ProtocolError(f"pyward: unexpected {FRAME_NAMES[ftype]} frame "
                                                "from the helper")
    finally:
        sel.close()
