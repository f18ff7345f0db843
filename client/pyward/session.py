# SPDX-License-Identifier: LGPL-2.1-or-later
# Sessions (pyward-protocol(7) "SESSIONS"): one connection, one sandboxed interpreter that keeps its
# state, a series of cells. _SessionCore is the protocol without I/O (aio.AsyncSession shares it);
# Session is the blocking client over one non-blocking socket.
import dataclasses
import errno
import os
import selectors
import threading
import time

from ._errors import ProtocolError
from ._files import _Collector, write_files
from ._records import parse_accepted, parse_cell_result, parse_result, result_from_record
from ._run import _RETRY_FIRST, _RETRY_MAX, CONNECT_TIMEOUT, _Dropped, connect
from ._wire import (ACCEPTED, CELL_RESULT, FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED, FRAME_NAMES, INTERRUPT, RESULT,
                    SESSION_END, STDERR, STDOUT, _Reader, cell_frames, frame, session_request)


@dataclasses.dataclass
class CellResult:
    """What one cell of a Session did. status: "ok", "error" (an exception: error_type,
    error_message, traceback) or "interrupted" (INTERRUPT, or the cell's wall or CPU limit: the
    session goes on with its state). value: the repr() of a final expression statement that is
    not None, as the REPL shows it (value_truncated if it was cut to CELL_VALUE_MAX bytes).
    message: the helper's note ("interrupted by the client", "the cell reached its wall-time
    limit of 10 s"). With collect=True: files, file_modes, skipped and the counts, as Result's."""
    cell: int
    status: str
    value: "str | None" = None
    value_truncated: bool = False
    error_type: "str | None" = None
    error_message: "str | None" = None
    traceback: "str | None" = None
    message: "str | None" = None
    stdout: bytes = b""
    stderr: bytes = b""
    wall_ms: "int | None" = None
    cpu_ms: "int | None" = None
    files: dict = dataclasses.field(default_factory=dict)
    file_modes: dict = dataclasses.field(default_factory=dict)
    skipped: list = dataclasses.field(default_factory=list)
    files_out: "int | None" = None
    files_out_bytes: "int | None" = None
    files_skipped: "int | None" = None
    files_note: "str | None" = None

    @property
    def ok(self):
        return self.status == "ok"

    def write_files(self, directory, overwrite=False):
        """Result.write_files() for the files this cell returned."""
        return write_files(directory, self.files, self.file_modes, overwrite)


def describe_end(result):
    """ "timeout: the session was idle for 300 s", "exit: exit code 3": how a session ended."""
    if result.message:
        why = result.message
    elif result.status == "exit" and result.exit_code is not None:
        why = f"exit code {result.exit_code}"
    else:
        why = result.signal
    return f"{result.status}: {why}" if why else result.status


class SessionEnded(Exception):
    """The session ended (its RESULT came) instead of answering: .result is the final Result
    (status, message). Also raised by Session() when the helper refused the request."""

    def __init__(self, result):
        super().__init__(f"pyward: session ended: {describe_end(result)}")
        self.result = result


class _Cell:
    __slots__ = ("number", "on_stdout", "on_stderr", "stdout", "stderr", "collector")

    def __init__(self, number, on_stdout, on_stderr, collect):
        self.number, self.on_stdout, self.on_stderr = number, on_stdout, on_stderr
        self.stdout, self.stderr = bytearray(), bytearray()
        self.collector = _Collector() if collect else None


class _SessionCore:
    """The helper's side of a session as the client checks it, without I/O: feed() the bytes as
    they come; start() before a cell's CELL is sent; then .done (the CellResult, taken by take())
    or .result (the final Result: the session ended). Order: ACCEPTED first (or RESULT alone, a
    refusal); per cell STDOUT/STDERR, FILE_OUT... only if it asked to collect, its CELL_RESULT;
    RESULT last. Output while no cell runs (a thread of an earlier cell) is the next cell's, or
    the final Result's stdout/stderr."""

    def __init__(self):
        self.reader = _Reader()
        self.accepted = None
        self.result = None
        self.cell = None
        self.done = None
        self.sent = 0
        self.heard = False
        self.stray_out, self.stray_err = bytearray(), bytearray()

    def start(self, on_stdout=None, on_stderr=None, collect=False):
        if self.result is not None:
            raise SessionEnded(self.result)
        if self.cell is not None or self.done is not None:
            raise RuntimeError("pyward: a cell is running in this session: one at a time")
        self.sent += 1
        c = self.cell = _Cell(self.sent, on_stdout, on_stderr, collect)
        for ftype, stray in ((STDOUT, self.stray_out), (STDERR, self.stray_err)):
            if stray:
                data = bytes(stray)
                stray.clear()
                self._output(c, ftype, data)
        return c.number

    def take(self):
        done, self.done = self.done, None
        return done

    def feed(self, data):
        if data:
            self.heard = True
        for ftype, payload in self.reader.feed(data):
            self._frame(ftype, payload)

    def eof(self):
        """The exception for a connection that ended before RESULT."""
        if not self.heard:
            return _Dropped(errno.EPIPE, "pyward: the helper closed the connection without a result")
        if self.reader.buf:
            return ProtocolError("pyward: the helper closed the connection inside a frame")
        return ConnectionError(errno.EPIPE, "pyward: the helper closed the connection without a result")

    @staticmethod
    def _output(c, ftype, data):
        if ftype == STDOUT:
            c.stdout += data
            if c.on_stdout:
                c.on_stdout(data)
        else:
            c.stderr += data
            if c.on_stderr:
                c.on_stderr(data)

    def _unexpected(self, ftype, why=""):
        return ProtocolError(f"pyward: unexpected {FRAME_NAMES[ftype]} frame from the helper{why}")

    def _frame(self, ftype, payload):
        if self.result is not None:
            raise self._unexpected(ftype, " after RESULT")
        if ftype == RESULT:
            # Whatever cell was running is cut short: its files too (no error, the session ended).
            rec = parse_result(payload)
            self.result = result_from_record(rec, self.stray_out, self.stray_err, self.accepted)
            return
        if ftype == ACCEPTED:
            if self.accepted is not None:
                raise ProtocolError("pyward: duplicate ACCEPTED frame")
            self.accepted = parse_accepted(payload)
            return
        if self.accepted is None:
            raise self._unexpected(ftype, " before ACCEPTED")
        c = self.cell
        if ftype in (STDOUT, STDERR):
            if c is None:
                (self.stray_out if ftype == STDOUT else self.stray_err).extend(payload)
            else:
                self._output(c, ftype, payload)
        elif ftype in (FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED):
            if c is None or c.collector is None:
                raise self._unexpected(ftype, " (no cell asked for files)")
            c.collector.frame(ftype, payload)
        elif ftype == CELL_RESULT:
            if c is None:
                raise self._unexpected(ftype, " while no cell runs")
            rec = parse_cell_result(payload)
            if rec["cell"] != c.number:
                raise ProtocolError(f"pyward: CELL_RESULT of cell {rec['cell']} while cell {c.number} runs")
            res = CellResult(stdout=bytes(c.stdout), stderr=bytes(c.stderr), **rec)
            if c.collector is not None:
                c.collector.finish(res, "CELL_RESULT")
            self.cell, self.done = None, res
        else:
            raise self._unexpected(ftype)


class Session:
    """One sandboxed interpreter that keeps its globals, imports and files between cells:

        with pyward.Session(profile="default", memory=256 << 20) as s:
            s.run("x = 41")
            r = s.run("x + 1")          # r.value == "42"

    The keywords are limits (None: the profile's default): timeout and cpu_time each cell's
    (seconds: a cell over one is interrupted, the session goes on), memory, tasks, disk,
    output_max, cpu_quota the whole session's, session_timeout and session_cpu_time (seconds)
    the session's in total, idle_timeout (seconds between a cell's result and the next cell),
    cells (how many cells), grace (seconds an interrupted cell has to end before the session
    does). socket_path, connect_timeout as run()'s; client_timeout: seconds any one wait (a
    cell, close()) may take before TimeoutError.

    Session() connects, sends the request and waits for the helper to start the session (.job,
    .unit, .accepted); a refused request raises SessionEnded (.result.status "rejected").
    run() raises SessionEnded when the session ended instead of answering (.result says how);
    an exception while waiting (ProtocolError, TimeoutError, a KeyboardInterrupt) leaves the
    session unusable: close() then only disconnects (the helper ends it, status killed)."""

    def __init__(self, profile=None, *, memory=None, tasks=None, disk=None, output_max=None, timeout=None,
                 cpu_time=None, session_timeout=None, session_cpu_time=None, idle_timeout=None, cells=None,
                 grace=None, cpu_quota=None, socket_path=None, connect_timeout=CONNECT_TIMEOUT,
                 client_timeout=None):
        request = session_request(profile, memory=memory, tasks=tasks, cpu_quota=cpu_quota, disk=disk,
                                  output_max=output_max, timeout=timeout, cpu_time=cpu_time,
                                  session_timeout=session_timeout, session_cpu_time=session_cpu_time,
                                  idle_timeout=idle_timeout, cells=cells, grace=grace)
        self.result = None
        self._client_timeout = client_timeout
        self._lock = threading.Lock()
        # Guards the wake-up pipe's fds against interrupt() from another thread while they are
        # closed (a closed fd's number can be another file's); reentrant, for a signal handler.
        self._wake_lock = threading.RLock()
        self._sock, self._core, self._out = None, _SessionCore(), bytearray()
        self._broken = self._send_closed = False
        self._running_cell = self._interrupt = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        try:
            self._open(request, socket_path, connect_timeout)
        except BaseException:
            self._teardown()
            raise
        if self._core.result is not None:
            self.result = self._core.result
            self._teardown()
            raise SessionEnded(self.result)

    @property
    def accepted(self):
        return self._core.accepted

    @property
    def job(self):
        return (self._core.accepted or {}).get("job")

    @property
    def unit(self):
        return (self._core.accepted or {}).get("unit")

    def _open(self, request, socket_path, connect_timeout):
        # Redialled as run() does when the connection is dropped before the helper said anything.
        deadline = time.monotonic() + connect_timeout
        delay = _RETRY_FIRST
        while True:
            self._sock = connect(socket_path, max(0.0, deadline - time.monotonic()))
            self._core, self._out, self._send_closed = _SessionCore(), bytearray(request), False
            core = self._core
            try:
                self._pump(lambda: core.accepted is not None or core.result is not None)
                return
            except _Dropped as e:
                self._sock.close()
                self._sock = None
                if time.monotonic() + delay >= deadline:
                    raise ConnectionError(e.errno, f"{e.strerror} (dropped before the helper answered; "
                                          "the service is overloaded, see connect_timeout)") from e
            time.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    def _pump(self, done):
        """Sends what is queued and reads the helper's frames until done()."""
        core, sock = self._core, self._sock
        deadline = None if self._client_timeout is None else time.monotonic() + self._client_timeout
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        writing = bool(self._out)
        sel.register(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0))
        try:
            while not done():
                if self._interrupt:
                    n, self._interrupt = self._interrupt, 0
                    if core.cell is not None and core.cell.number == n and not self._send_closed:
                        self._out += frame(INTERRUPT)
                if bool(self._out) != writing:
                    writing = bool(self._out)
                    sel.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0))
                wait = None
                if deadline is not None:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        raise TimeoutError("pyward: no answer from the helper within client_timeout")
                for key, ev in sel.select(wait):
                    if key.fileobj == self._wake_r:
                        try:
                            os.read(self._wake_r, 4096)
                        except BlockingIOError:
                            pass
                        continue
                    if ev & selectors.EVENT_WRITE and self._out:
                        try:
                            del self._out[:sock.send(self._out)]
                        except (BlockingIOError, InterruptedError):
                            pass
                        except (BrokenPipeError, ConnectionResetError):
                            # The helper stopped reading: its RESULT is still to be read.
                            self._out.clear()
                            self._send_closed = True
                    if ev & selectors.EVENT_READ:
                        try:
                            data = sock.recv(256 * 1024)
                        except (BlockingIOError, InterruptedError):
                            continue
                        except ConnectionResetError as e:
                            exc = ConnectionError if core.heard else _Dropped
                            raise exc(errno.ECONNRESET, "pyward: connection reset by the helper") from e
                        if not data:
                            raise core.eof()
                        core.feed(data)
        finally:
            sel.close()

    def _usable(self):
        if self.result is not None:
            raise SessionEnded(self.result)
        if self._broken or self._sock is None:
            raise ConnectionError(errno.EPIPE, "pyward: the session is closed")

    def run(self, code, *, files=None, collect=False, on_stdout=None, on_stderr=None):
        """Runs one cell (code: str or bytes) in the session and returns its CellResult. files:
        {path: bytes or (bytes, executable)} written into the working directory first (as
        run()'s); collect=True: the files the cell made or changed come back in .files.
        on_stdout/on_stderr receive each chunk (bytes) as it arrives. Raises SessionEnded if the
        session ended instead (its .result says how)."""
        data = cell_frames(code, files, collect)
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("pyward: a cell is running in this session: one at a time")
        try:
            self._usable()
            core = self._core
            # Interruptible from here on: a Ctrl-C now goes out right after the CELL.
            self._running_cell = core.start(on_stdout, on_stderr, collect)
            if not self._send_closed:
                self._out += data
            try:
                self._pump(lambda: core.done is not None or core.result is not None)
            except BaseException:
                self._broken = True
                raise
            finally:
                self._running_cell = 0
            if core.done is not None:
                return core.take()
            self.result = core.result
            self._teardown()
            raise SessionEnded(self.result)
        finally:
            self._lock.release()

    def interrupt(self):
        """Interrupts the running cell (SIGINT in the session: KeyboardInterrupt, as Ctrl-C);
        nothing if no cell runs. Safe from any thread and from a signal handler."""
        n = self._running_cell
        if not n:
            return
        self._interrupt = n
        with self._wake_lock:
            if self._wake_w < 0:
                return  # the session is over
            try:
                os.write(self._wake_w, b"\0")
            except BlockingIOError:
                pass  # full: a wake-up is pending anyway

    def close(self):
        """Ends the session (SESSION_END), waits for its RESULT and returns the Result (again on
        later calls; also .result). A session that broke is only disconnected: None."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("pyward: close() while a cell is running: interrupt() it, or wait")
        try:
            if self.result is not None or self._broken or self._sock is None:
                self._teardown()
                return self.result
            core = self._core
            if not self._send_closed:
                self._out += frame(SESSION_END)
            try:
                self._pump(lambda: core.result is not None)
            except BaseException:
                self._broken = True
                raise
            finally:
                if core.result is not None:
                    self.result = core.result
                self._teardown()
            return self.result
        finally:
            self._lock.release()

    def _teardown(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with self._wake_lock:
            fds = (self._wake_r, self._wake_w)
            self._wake_r = self._wake_w = -1
            for fd in fds:
                if fd >= 0:
                    os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        elif self._lock.acquire(blocking=False):
            # Another exception is on its way: end the session if it can be done cleanly, else
            # disconnect; never hide the exception.
            self._lock.release()
            try:
                self.close()
            except Exception:
                self._teardown()
        return False

    def __del__(self):
        try:
            self._teardown()
        except Exception:
            pass
