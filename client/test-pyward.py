#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the pyward Python module's own logic: framing bytes, record parsing, and run()'s
# transport behaviour against a scripted peer. Not a test of the helper (that needs real systemd).
import asyncio
import errno
import os
import socket
import subprocess
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyward  # noqa: E402


class ScriptedPeer:
    """Listens on a temporary socket; `script(conn)` plays the helper's side of one connection."""

    def __init__(self, script):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.error = None
        self.thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self.thread.start()

    def _serve(self, script):
        conn, _ = self.listener.accept()
        try:
            script(conn)
        except Exception as e:  # reported by close()
            self.error = e
        finally:
            conn.close()

    def close(self):
        self.thread.join(30)
        self.listener.close()
        self.dir.cleanup()
        if self.error:
            raise self.error


def read_request(conn):
    frames = []
    while True:
        t, p = pyward.read_frame(conn)
        frames.append((t, p))
        if t == pyward.REQUEST_END:
            return frames


OK_RESULT = b"status=ok\nexit_code=0\nsignal=\nwall_ms=5\ncpu_ms=1\nmemory_peak_bytes=\n" \
            b"memory_peak_reason=none here\nunit=u.service\ninvocation_id=\njob=7\nmessage=\n"


class TestFraming(unittest.TestCase):
    def test_man_page_example(self):
        # The bytes of the worked example in pyward-protocol(7).
        self.assertEqual(pyward.hello(), bytes.fromhex("01000000 04000000 01000000"))
        self.assertEqual(pyward.frame(pyward.CODE, "print(1)"),
                         bytes.fromhex("02000000 08000000") + b"print(1)")
        self.assertEqual(pyward.limit("wall-time", 5_000_000),
                         bytes.fromhex("06000000 0c000000 05000000 404b4c0000000000"))
        self.assertEqual(pyward.frame(pyward.STDIN_EOF), bytes.fromhex("11000000 00000000"))

    def test_request(self):
        req = pyward.request("pass", args=["a", b"\xff"], filename="x.py", profile="p", timeout=1.5,
                             memory=64 << 20, cpu_time=0.25)
        frames, off = [], 0
        while off < len(req):
            t, flags, n = struct.unpack_from("<HHI", req, off)
            frames.append((t, req[off + 8:off + 8 + n]))
            off += 8 + n
        self.assertEqual([t for t, _ in frames],
                         [pyward.HELLO, pyward.CODE, pyward.FILENAME, pyward.ARG, pyward.ARG,
                          pyward.PROFILE, pyward.LIMIT, pyward.LIMIT, pyward.LIMIT, pyward.REQUEST_END])
        limits = dict(struct.unpack("<IQ", p) for t, p in frames if t == pyward.LIMIT)
        self.assertEqual(limits, {pyward.LIMIT_MEMORY: 64 << 20, pyward.LIMIT_CPU_TIME: 250_000,
                                  pyward.LIMIT_WALL_TIME: 1_500_000})
        with self.assertRaises(ValueError):
            pyward.request("pass", timeout=0)

    def test_parse_header(self):
        self.assertEqual(pyward.parse_header(pyward.frame(pyward.STDOUT, length=65536)),
                         (pyward.STDOUT, 65536))
        for t, flags, n in ((pyward.STDOUT, 0, 0), (pyward.STDOUT, 0, 65537), (pyward.RESULT, 1, 3),
                            (0x0999, 0, 0), (pyward.RESULT, 0, 8193), (pyward.ACCEPTED, 0, 1025)):
            with self.assertRaises(pyward.ProtocolError):
                pyward.parse_header(pyward.frame(t, flags=flags, length=n))


class TestRecords(unittest.TestCase):
    def test_result(self):
        rec = pyward.parse_result(b"status=signal\nexit_code=\nsignal=SIGSEGV\nwall_ms=0\n"
                                  b"message=a\\nb\\\\c\nfuture=\\q\n")
        self.assertEqual(rec["status"], "signal")
        self.assertIsNone(rec["exit_code"])
        self.assertEqual(rec["signal"], "SIGSEGV")
        self.assertEqual(rec["wall_ms"], 0)
        self.assertIsNone(rec["cpu_ms"])
        self.assertEqual(rec["message"], "a\nb\\c")
        res = pyward.result_from_record(rec)
        self.assertEqual(res.signal_number, 11)
        self.assertEqual(pyward.parse_result(b"status=exit\nsignal=SIG34\n")["signal"], "SIG34")

    def test_result_malformed(self):
        for bad in (b"", b"status=ok", b"status=ok\n\n", b"status=OK\n", b"exit_code=1\n",
                    b"status=ok\nstatus=ok\n", b"status=ok\nexit_code=256\n", b"status=ok\nexit_code=01\n",
                    b"status=ok\nsignal=9\n", b"status=ok\nsignal=SIG0\n", b"status=ok\nmessage=\\t\n",
                    b"status=ok\nwall_ms=18446744073709551615\n", b"status=ok\nx\n", b"status=ok\n=1\n",
                    b"status=ok\nmessage=a\0b\n"):
            with self.subTest(bad=bad), self.assertRaises(pyward.ProtocolError):
                pyward.parse_result(bad)

    def test_accepted(self):
        self.assertEqual(pyward.parse_accepted(b"job=1\nunit=pyward-job-1.service\n"),
                         {"job": "1", "unit": "pyward-job-1.service"})


class TestRun(unittest.TestCase):
    def run_with(self, script, code="pass", **kw):
        peer = ScriptedPeer(script)
        try:
            return pyward.run(code, socket_path=peer.path, client_timeout=60, **kw)
        finally:
            peer.close()

    def test_echo_large_stdin_concurrently(self):
        # The peer echoes each STDIN chunk as STDOUT before reading the next: a client that sent
        # all its stdin before reading would deadlock once both socket buffers are full.
        data = os.urandom(8 << 20)
        seen = []

        def script(conn):
            read_request(conn)
            conn.sendall(pyward.frame(pyward.ACCEPTED, b"job=7\nunit=u.service\n"))
            while True:
                t, p = pyward.read_frame(conn)
                if t == pyward.STDIN_EOF:
                    break
                assert t == pyward.STDIN, t
                conn.sendall(pyward.frame(pyward.STDOUT, p))
            conn.sendall(pyward.frame(pyward.STDERR, b"done") + pyward.frame(pyward.RESULT, OK_RESULT))

        res = self.run_with(script, stdin=data, on_stdout=seen.append)
        self.assertEqual(res.status, "ok")
        self.assertEqual(res.exit_code, 0)
        self.assertTrue(res.stdout == data)
        self.assertEqual(b"".join(seen), data)
        self.assertEqual(res.stderr, b"done")
        self.assertEqual(res.accepted, {"job": "7", "unit": "u.service"})
        self.assertEqual((res.job, res.unit, res.memory_peak_reason, res.memory_peak_bytes),
                         ("7", "u.service", "none here", None))

    def test_rejected_early_while_sending(self):
        # The peer answers after HELLO and closes: the client's sends fail, the verdict must win.
        def script(conn):
            pyward.read_frame(conn)
            conn.sendall(pyward.frame(pyward.RESULT, b"status=rejected\nmessage=no\n"))
            conn.shutdown(socket.SHUT_WR)

        res = self.run_with(script, code="x" * pyward.CODE_MAX, stdin=os.urandom(4 << 20))
        self.assertEqual((res.status, res.message, res.accepted), ("rejected", "no", None))

    def test_closed_without_result(self):
        def script(conn):
            read_request(conn)
            conn.sendall(pyward.frame(pyward.STDOUT, b"partial"))

        with self.assertRaises(ConnectionError):
            self.run_with(script)

    def test_bad_frame_from_peer(self):
        def script(conn):
            read_request(conn)
            conn.sendall(pyward.frame(pyward.STDOUT, b""))  # empty chunks are not allowed

        with self.assertRaises(pyward.ProtocolError):
            self.run_with(script)

    def test_cancel(self):
        ev = threading.Event()

        def script(conn):
            read_request(conn)
            ev.set()
            while True:
                t, _ = pyward.read_frame(conn)
                if t == pyward.CANCEL:
                    break
            conn.sendall(pyward.frame(pyward.RESULT, b"status=killed\nsignal=SIGTERM\n"))

        res = self.run_with(script, cancel=ev)
        self.assertEqual((res.status, res.signal, res.signal_number), ("killed", "SIGTERM", 15))

    def test_no_socket(self):
        with self.assertRaises(ConnectionError):
            pyward.run("pass", socket_path="/nonexistent/pyward.sock")


class BusySocket:
    """A real listening AF_UNIX socket whose backlog is full: a non-blocking connect() gets EAGAIN,
    as from pyward.socket while another user floods it. drain() accepts (and drops) the queued
    connections; then `script`, if any, plays the helper for the next one. refuse=True binds
    without listen(): connect() gets ECONNREFUSED until listen()."""

    def __init__(self, script=None, refuse=False):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.fillers = []
        self.script = script
        self.error = None
        self.thread = None
        if refuse:
            return
        self.listener.listen(0)
        while True:
            f = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            f.setblocking(False)
            try:
                f.connect(self.path)
            except BlockingIOError:
                f.close()
                break
            self.fillers.append(f)
        assert self.fillers, "the backlog took no connection at all"

    def drain_after(self, delay):
        self.thread = threading.Thread(target=self._drain, args=(delay,), daemon=True)
        self.thread.start()

    def _drain(self, delay):
        time.sleep(delay)
        try:
            if not self.fillers:
                self.listener.listen(0)
            for f in self.fillers:
                self.listener.accept()[0].close()
                f.close()
            if self.script:
                conn, _ = self.listener.accept()
                with conn:
                    self.script(conn)
        except Exception as e:  # reported by close()
            self.error = e

    def close(self):
        if self.thread:
            self.thread.join(30)
        for f in self.fillers:
            f.close()
        self.listener.close()
        self.dir.cleanup()
        if self.error:
            raise self.error


class DroppingPeer:
    """Drops the first `drops` connections as systemd does over MaxConnections=: accepts, and
    closes once the client's request is in (unread, so the client sees ECONNRESET); then plays
    `script` for the next one. Records each connection's request bytes."""

    def __init__(self, drops, script=None):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.requests = []
        self.error = None
        self.thread = threading.Thread(target=self._serve, args=(drops, script), daemon=True)
        self.thread.start()

    def _serve(self, drops, script):
        try:
            for _ in range(drops):
                conn, _ = self.listener.accept()
                conn.recv(1, socket.MSG_PEEK)
                time.sleep(0.05)  # the whole request is in
                self.requests.append(conn.recv(1 << 20, socket.MSG_PEEK))
                conn.close()
            if script:
                conn, _ = self.listener.accept()
                with conn:
                    script(conn)
        except Exception as e:  # reported by close()
            self.error = e

    def close(self):
        self.thread.join(30)
        self.listener.close()
        self.dir.cleanup()
        if self.error:
            raise self.error


def answer_ok(conn):
    read_request(conn)
    conn.sendall(pyward.frame(pyward.RESULT, OK_RESULT))


class TestConnect(unittest.TestCase):
    def test_backlog_full_gives_eagain(self):
        # The premise of the other tests: the kernel, not our code, says EAGAIN.
        busy = BusySocket()
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            with s, self.assertRaises(BlockingIOError):
                s.connect(busy.path)
        finally:
            busy.close()

    def test_waits_for_a_full_backlog(self):
        busy = BusySocket(answer_ok)
        busy.drain_after(0.4)
        t0 = time.monotonic()
        try:
            res = pyward.run("pass", socket_path=busy.path, client_timeout=30, connect_timeout=10)
        finally:
            busy.close()
        self.assertEqual(res.status, "ok")
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)

    def test_waits_for_a_refusing_socket(self):
        busy = BusySocket(answer_ok, refuse=True)
        busy.drain_after(0.3)
        try:
            res = pyward.run("pass", socket_path=busy.path, client_timeout=30, connect_timeout=10)
        finally:
            busy.close()
        self.assertEqual(res.status, "ok")

    def test_gives_up_after_connect_timeout(self):
        busy = BusySocket()
        t0 = time.monotonic()
        try:
            with self.assertRaises(ConnectionError) as cm:
                pyward.connect(busy.path, connect_timeout=0.5)
        finally:
            busy.close()
        elapsed = time.monotonic() - t0
        self.assertEqual(cm.exception.errno, errno.EAGAIN)
        self.assertIn("backlog stayed full for 0.5s", str(cm.exception))
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 3)

    def test_zero_tries_once(self):
        busy = BusySocket()
        t0 = time.monotonic()
        try:
            with self.assertRaises(ConnectionError) as cm:
                pyward.connect(busy.path, connect_timeout=0)
        finally:
            busy.close()
        self.assertIn("(1 attempts", str(cm.exception))
        self.assertLess(time.monotonic() - t0, 0.2)

    def test_missing_socket_fails_at_once(self):
        t0 = time.monotonic()
        with self.assertRaises(ConnectionError) as cm:
            pyward.connect("/nonexistent/pyward.sock", connect_timeout=10)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertLess(time.monotonic() - t0, 0.2)

    def test_redials_a_dropped_connection(self):
        got = []
        peer = DroppingPeer(3, lambda conn: (got.append(read_request(conn)),
                                            conn.sendall(pyward.frame(pyward.RESULT, OK_RESULT))))
        try:
            res = pyward.run("print(1)", stdin=b"in", socket_path=peer.path, client_timeout=30,
                             connect_timeout=10)
        finally:
            peer.close()
        self.assertEqual(res.status, "ok")
        # Every attempt carried the whole request, stdin included.
        whole = pyward.request("print(1)") + pyward.frame(pyward.STDIN, b"in") + pyward.frame(pyward.STDIN_EOF)
        self.assertEqual(peer.requests, [whole] * 3)

    def test_dropped_until_connect_timeout(self):
        peer = DroppingPeer(1000)
        t0 = time.monotonic()
        try:
            with self.assertRaises(ConnectionError) as cm:
                pyward.run("pass", socket_path=peer.path, client_timeout=30, connect_timeout=0.5)
        finally:
            peer.listener.shutdown(socket.SHUT_RDWR)
            peer.thread.join(5)
            peer.listener.close()
            peer.dir.cleanup()
        self.assertIn("dropped before the helper answered", str(cm.exception))
        self.assertLess(time.monotonic() - t0, 5)

    def test_async_waits_and_the_loop_runs(self):
        busy = BusySocket()
        busy.drain_after(0.3)
        ticks = []

        async def main():
            async def tick():
                while True:
                    ticks.append(time.monotonic())
                    await asyncio.sleep(0.02)
            t = asyncio.ensure_future(tick())
            sock = await pyward.connect_async(busy.path, connect_timeout=10)
            t.cancel()
            sock.close()

        try:
            asyncio.run(main())
        finally:
            busy.close()
        self.assertGreater(len(ticks), 5)  # the backoff did not block the event loop


@unittest.skipUnless(os.environ.get("PYWARD_CLI"), "PYWARD_CLI (the pyward binary) not set")
class TestCliConnect(unittest.TestCase):
    def cli(self, *args):
        t0 = time.monotonic()
        p = subprocess.run([os.environ["PYWARD_CLI"], *args, "-n", "-c", "pass"],
                           capture_output=True, text=True, timeout=60)
        return p, time.monotonic() - t0

    def test_waits_for_a_full_backlog(self):
        busy = BusySocket(answer_ok)
        busy.drain_after(0.4)
        try:
            p, elapsed = self.cli("--socket", busy.path)
        finally:
            busy.close()
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertGreaterEqual(elapsed, 0.4)

    def test_gives_up_naming_the_cause(self):
        busy = BusySocket()
        try:
            p, elapsed = self.cli("--socket", busy.path, "--connect-timeout", "500ms")
        finally:
            busy.close()
        self.assertEqual(p.returncode, 125)
        self.assertIn("Resource temporarily unavailable: the socket's backlog stayed full for 0.5s",
                      p.stderr)
        self.assertGreaterEqual(elapsed, 0.5)

    def test_missing_socket_fails_at_once(self):
        p, elapsed = self.cli("--socket", "/nonexistent/pyward.sock")
        self.assertEqual(p.returncode, 125)
        self.assertIn("No such file or directory (is pyward.socket running?)", p.stderr)
        self.assertLess(elapsed, 1)

    def test_redials_a_dropped_connection(self):
        peer = DroppingPeer(3, answer_ok)
        try:
            p, _ = self.cli("--socket", peer.path)
        finally:
            peer.close()
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertEqual(len(peer.requests), 3)
        self.assertEqual(len(set(peer.requests)), 1)  # the same whole request each time

    def test_bad_value(self):
        p, _ = self.cli("--connect-timeout", "soon")
        self.assertEqual(p.returncode, 125)
        self.assertIn("invalid value for --connect-timeout: 'soon'", p.stderr)


if __name__ == "__main__":
    unittest.main()
