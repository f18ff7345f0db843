# SPDX-License-Identifier: LGPL-2.1-or-later
# One-shot exchanges with the helper: connect() (with its backoff), run() and profiles(), over one
# non-blocking loop (_run_loop) that writes the request and stdin while it reads the answer.
import errno
import os
import selectors
import socket
import time

from ._errors import ProtocolError
from ._files import _Collector
from ._records import parse_accepted, parse_profile_info, parse_result, result_from_record
from ._wire import (ACCEPTED, CANCEL, CHUNK_MAX, FRAME_NAMES, PROFILE_INFO, RESULT, STDERR, STDIN, STDIN_EOF,
                    STDOUT, _b, _Reader, discover_request, frame, request)

DEFAULT_SOCKET = "/run/pyward/pyward.sock"
# As pyward(1)'s --connect-timeout: long enough to wait out another user's connection flood
# (README, security model), short enough that a dead service is reported soon.
CONNECT_TIMEOUT = 10.0
# The backoff between attempts, as pyward(1)'s (client/run.c): soon, then doubling, capped.
_RETRY_FIRST, _RETRY_MAX = 0.005, 0.25


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


def _job_bytes(code, stdin, **kw):
    """run()'s whole request and its stdin, STDIN_EOF included."""
    out = bytearray(request(code, **kw))
    data = _b(stdin) if stdin is not None else b""
    for i in range(0, len(data), CHUNK_MAX):
        out += frame(STDIN, data[i:i + CHUNK_MAX])
    out += frame(STDIN_EOF)
    return out


def run(code, *, args=(), stdin=b"", filename=None, profile=None, timeout=None, memory=None,
        tasks=None, cpu_quota=None, cpu_time=None, output_max=None, disk=None, socket_path=None,
        on_stdout=None, on_stderr=None, on_accepted=None, cancel=None, client_timeout=None,
        connect_timeout=CONNECT_TIMEOUT, files=None, collect=False):
    """Runs code through the pyward helper and returns its Result (see the module docstring)."""
    out = _job_bytes(code, stdin, args=args, filename=filename, profile=profile, timeout=timeout,
                     memory=memory, tasks=tasks, cpu_quota=cpu_quota, cpu_time=cpu_time,
                     output_max=output_max, disk=disk, files=files, collect=collect)
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


class _JobAnswer:
    """The helper's frames of one job (or DISCOVER), in order: frame() returns the Result at
    RESULT, None before it; ProtocolError for what does not belong. run() and arun() share it."""

    def __init__(self, on_stdout, on_stderr, on_accepted, extra=None):
        self.on_stdout, self.on_stderr, self.on_accepted, self.extra = on_stdout, on_stderr, on_accepted, extra
        self.stdout, self.stderr = bytearray(), bytearray()
        self.accepted = None

    def frame(self, ftype, payload):
        if ftype == STDOUT:
            self.stdout += payload
            if self.on_stdout:
                self.on_stdout(payload)
        elif ftype == STDERR:
            self.stderr += payload
            if self.on_stderr:
                self.on_stderr(payload)
        elif ftype == ACCEPTED:
            if self.accepted is not None:
                raise ProtocolError("pyward: duplicate ACCEPTED frame")
            self.accepted = parse_accepted(payload)
            if self.on_accepted:
                self.on_accepted(self.accepted)
        elif ftype == RESULT:
            rec = parse_result(payload)
            res = result_from_record(rec, self.stdout, self.stderr, self.accepted)
            if self.extra is not None:
                self.extra.finish(res)
            return res
        elif self.extra is not None and self.extra.frame(ftype, payload):
            pass
        else:
            raise ProtocolError(f"pyward: unexpected {FRAME_NAMES[ftype]} frame from the helper")
        return None


def _run_loop(sock, out, on_stdout, on_stderr, on_accepted, cancel, client_timeout, extra=None):
    reader = _Reader()
    answer = _JobAnswer(on_stdout, on_stderr, on_accepted, extra)
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
                        res = answer.frame(ftype, payload)
                        if res is not None:
                            return res
    finally:
        sel.close()

