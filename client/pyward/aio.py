# SPDX-License-Identifier: LGPL-2.1-or-later
# asyncio twins: arun() (one job, as run()) and AsyncSession (as Session), on the event loop's own
# socket calls: one task writes what is queued, in order, while the caller reads the answer.
import asyncio
import errno
import threading
import time

from ._errors import ProtocolError
from ._files import _Collector
from ._run import _RETRY_FIRST, _RETRY_MAX, CONNECT_TIMEOUT, _Dropped, _JobAnswer, _job_bytes, connect_async
from ._wire import CANCEL, INTERRUPT, SESSION_END, _Reader, cell_frames, frame, session_request
from .session import SessionEnded, _SessionCore


class _Sender:
    """Writes queued bytes to a non-blocking socket in order, from one task; a helper that stopped
    reading (EPIPE, ECONNRESET) ends the writing, not the reading: its answer is still to come."""

    def __init__(self, sock):
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.out = bytearray()
        self.closed = False
        self.wake = asyncio.Event()
        self.task = self.loop.create_task(self._run())

    def send(self, data):
        if not self.closed:
            self.out += data
            self.wake.set()

    async def _run(self):
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.out:
                data = bytes(self.out)
                self.out.clear()
                try:
                    await self.loop.sock_sendall(self.sock, data)
                except OSError:  # EPIPE, ECONNRESET: the reader sees how it ended
                    self.closed = True
                    self.out.clear()
                    return

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


async def _recv(loop, sock, heard, deadline):
    """The next bytes (b"" at the end); _Dropped or ConnectionError for a reset; TimeoutError."""
    try:
        if deadline is None:
            return await loop.sock_recv(sock, 256 * 1024)
        wait = deadline - time.monotonic()
        if wait <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for(loop.sock_recv(sock, 256 * 1024), wait)
    except asyncio.TimeoutError:
        raise TimeoutError("pyward: no answer from the helper within client_timeout") from None
    except ConnectionResetError as e:
        raise (ConnectionError if heard else _Dropped)(errno.ECONNRESET,
                                                       "pyward: connection reset by the helper") from e


async def _redialled(socket_path, connect_timeout, attempt, cancelled=lambda: False):
    """attempt(sock) over a connection, dialled again (the whole request) while it is dropped
    before the helper said anything, within connect_timeout, as run() does."""
    deadline = time.monotonic() + connect_timeout
    delay = _RETRY_FIRST
    while True:
        sock = await connect_async(socket_path, max(0.0, deadline - time.monotonic()))
        try:
            return await attempt(sock)
        except _Dropped as e:
            sock.close()
            if time.monotonic() + delay >= deadline or cancelled():
                raise ConnectionError(e.errno, f"{e.strerror} (dropped before the helper answered; "
                                      "the service is overloaded, see connect_timeout)") from e
        except BaseException:
            sock.close()
            raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX)


async def arun(code, *, args=(), stdin=b"", filename=None, profile=None, timeout=None, memory=None, tasks=None,
               cpu_quota=None, cpu_time=None, output_max=None, disk=None, socket_path=None, on_stdout=None,
               on_stderr=None, on_accepted=None, cancel=None, client_timeout=None, connect_timeout=CONNECT_TIMEOUT,
               files=None, collect=False):
    """run() for asyncio: the same keywords and Result. cancel: an asyncio.Event or a
    threading.Event; when it is set, CANCEL is sent. Cancelling the task closes the connection
    (the helper stops the job)."""
    out = _job_bytes(code, stdin, args=args, filename=filename, profile=profile, timeout=timeout, memory=memory,
                     tasks=tasks, cpu_quota=cpu_quota, cpu_time=cpu_time, output_max=output_max, disk=disk,
                     files=files, collect=collect)
    deadline = None if client_timeout is None else time.monotonic() + client_timeout

    async def attempt(sock):
        try:
            return await _arun_once(sock, out, _JobAnswer(on_stdout, on_stderr, on_accepted,
                                                          _Collector() if collect else None), cancel, deadline)
        finally:
            sock.close()

    return await _redialled(socket_path, connect_timeout, attempt,
                            lambda: cancel is not None and cancel.is_set())


async def _arun_once(sock, out, answer, cancel, deadline):
    loop = asyncio.get_running_loop()
    sender = _Sender(sock)
    reader, heard = _Reader(), False
    cancel_task = None
    try:
        sender.send(out)
        if isinstance(cancel, asyncio.Event):
            async def on_cancel():
                await cancel.wait()
                sender.send(frame(CANCEL))
            cancel_task = loop.create_task(on_cancel())
        polled = isinstance(cancel, threading.Event) or (cancel is not None and cancel_task is None)
        cancel_sent = False
        while True:
            if polled and not cancel_sent and cancel.is_set():
                sender.send(frame(CANCEL))
                cancel_sent = True
            wait_until = deadline
            if polled and not cancel_sent:
                soon = time.monotonic() + 0.05
                wait_until = soon if deadline is None else min(deadline, soon)
            try:
                data = await _recv(loop, sock, heard, wait_until)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if not data:
                if not heard:
                    raise _Dropped(errno.EPIPE, "pyward: the helper closed the connection without a result")
                if reader.buf:
                    raise ProtocolError("pyward: the helper closed the connection inside a frame")
                raise ConnectionError(errno.EPIPE, "pyward: the helper closed the connection without a result")
            heard = True
            for ftype, payload in reader.feed(data):
                res = answer.frame(ftype, payload)
                if res is not None:
                    return res
    finally:
        if cancel_task is not None:
            cancel_task.cancel()
        await sender.stop()


class AsyncSession:
    """Session for asyncio: the same keywords; `async with pyward.AsyncSession(...) as s:` (or
    `s = await AsyncSession(...).open()`), `r = await s.run(code, ...)`, `s.interrupt()` (from
    the loop's thread or any other), `await s.close()`. The callbacks are plain functions, called
    in the loop."""

    def __init__(self, profile=None, *, memory=None, tasks=None, disk=None, output_max=None, timeout=None,
                 cpu_time=None, session_timeout=None, session_cpu_time=None, idle_timeout=None, cells=None,
                 grace=None, cpu_quota=None, socket_path=None, connect_timeout=CONNECT_TIMEOUT,
                 client_timeout=None):
        self._request = session_request(profile, memory=memory, tasks=tasks, cpu_quota=cpu_quota, disk=disk,
                                        output_max=output_max, timeout=timeout, cpu_time=cpu_time,
                                        session_timeout=session_timeout, session_cpu_time=session_cpu_time,
                                        idle_timeout=idle_timeout, cells=cells, grace=grace)
        self._socket_path, self._connect_timeout = socket_path, connect_timeout
        self._client_timeout = client_timeout
        self._core = _SessionCore()
        self._sock = self._sender = self._loop = None
        self._busy = self._broken = False
        self.result = None

    accepted = property(lambda self: self._core.accepted)
    job = property(lambda self: (self._core.accepted or {}).get("job"))
    unit = property(lambda self: (self._core.accepted or {}).get("unit"))

    async def open(self):
        """Connects, sends the request, waits for the session to start; SessionEnded if refused."""
        if self._sock is not None or self.result is not None:
            return self
        self._loop = asyncio.get_running_loop()

        async def attempt(sock):
            self._sock, self._core, self._sender = sock, _SessionCore(), _Sender(sock)
            self._sender.send(self._request)
            try:
                await self._pump(lambda: self._core.accepted is not None or self._core.result is not None)
            except BaseException:
                await self._teardown()
                raise

        await _redialled(self._socket_path, self._connect_timeout, attempt)
        if self._core.result is not None:
            self.result = self._core.result
            await self._teardown()
            raise SessionEnded(self.result)
        return self

    async def _pump(self, done):
        core = self._core
        deadline = None if self._client_timeout is None else time.monotonic() + self._client_timeout
        while not done():
            data = await _recv(self._loop, self._sock, core.heard, deadline)
            if not data:
                raise core.eof()
            core.feed(data)

    async def run(self, code, *, files=None, collect=False, on_stdout=None, on_stderr=None):
        """Session.run() for asyncio."""
        data = cell_frames(code, files, collect)
        if self._busy:
            raise RuntimeError("pyward: a cell is running in this session: one at a time")
        if self.result is not None:
            raise SessionEnded(self.result)
        if self._broken or self._sock is None:
            raise ConnectionError(errno.EPIPE, "pyward: the session is not open")
        self._busy = True
        core = self._core
        try:
            core.start(on_stdout, on_stderr, collect)
            self._sender.send(data)
            try:
                await self._pump(lambda: core.done is not None or core.result is not None)
            except BaseException:
                self._broken = True
                raise
            if core.done is not None:
                return core.take()
            self.result = core.result
            await self._teardown()
            raise SessionEnded(self.result)
        finally:
            self._busy = False

    def interrupt(self):
        """Interrupts the running cell; nothing if none runs. Safe from any thread."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._interrupt_now()
        else:
            try:
                loop.call_soon_threadsafe(self._interrupt_now)
            except RuntimeError:
                pass  # the loop is closed: nothing runs

    def _interrupt_now(self):
        if self._core.cell is not None and self._sender is not None:
            self._sender.send(frame(INTERRUPT))

    async def close(self):
        """Session.close() for asyncio: the final Result (None if the session broke)."""
        if self._busy:
            raise RuntimeError("pyward: close() while a cell is running: interrupt() it, or wait")
        if self.result is not None or self._broken or self._sock is None:
            await self._teardown()
            return self.result
        core = self._core
        self._sender.send(frame(SESSION_END))
        try:
            await self._pump(lambda: core.result is not None)
        except BaseException:
            self._broken = True
            raise
        finally:
            if core.result is not None:
                self.result = core.result
            await self._teardown()
        return self.result

    async def _teardown(self):
        if self._sender is not None:
            sender, self._sender = self._sender, None
            await sender.stop()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self):
        return await self.open()

    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is None:
            await self.close()
        elif not self._busy:
            try:
                await self.close()
            except Exception:
                await self._teardown()
        else:
            await self._teardown()
        return False
