#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the pyward Python module's own logic: its names, framing bytes, record parsing,
# run()'s transport behaviour, profiles() and the connect wait against the scripted peers of
# jobpeers.py; the files in and out are test-pyward-files.py's, pyward(1)'s are in
# test-pyward-cli.py, sessions' in test-pyward-session.py. Not a test of the helper.
import asyncio
import errno
import os
import socket
import subprocess
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyward  # noqa: E402
from jobpeers import (OK_RESULT, PROFILE_BARE, PROFILE_DEFAULT, BusySocket, DroppingPeer,  # noqa: E402
                      RunsAgainstPeer, ScriptedPeer, answer_ok, read_request)


# Every public name of the module pyward.py before it became a package (and sessions came):
# `import pyward` keeps them all.
OLD_NAMES = """
ACCEPTED ACCEPTED_MAX ARG ARGS_MAX ARG_MAX CANCEL CHUNK_MAX CODE CODE_MAX COLLECT CONNECT_TIMEOUT
DEFAULT_SOCKET DISCOVER DiscoverError FILE FILENAME FILENAME_MAX FILES_COUNT_MAX FILES_IN_BYTES_MAX
FILE_DATA FILE_EXECUTABLE FILE_HEADER FILE_OUT FILE_OUT_DATA FILE_OUT_SIZE_MAX FILE_SKIPPED FRAME_BOUNDS
FRAME_NAMES FRAME_PAYLOAD_MAX FilesWriteError HEADER HEADER_SIZE HELLO LIMIT LIMITS LIMIT_CPU_QUOTA
LIMIT_CPU_TIME LIMIT_DISK LIMIT_FILES_IN LIMIT_FILES_IN_BYTES LIMIT_FILES_OUT LIMIT_FILES_OUT_BYTES
LIMIT_FILES_OUT_DEPTH LIMIT_FILES_OUT_TIME LIMIT_FILE_OUT_SIZE LIMIT_MEMORY LIMIT_OUTPUT LIMIT_TASKS
LIMIT_WALL_TIME PATH_COMPONENT_MAX PATH_DEPTH_MAX PATH_MAX PROFILE PROFILE_INFO PROFILE_INFO_MAX
PROFILE_NAME_MAX PROTOCOL_VERSION Profile ProtocolError REQUEST_END RESULT RESULT_FILES_KEYS RESULT_KEYS
RESULT_MAX Result SKIPPED_LISTED_MAX SKIP_REASONS STATUSES STDERR STDIN STDIN_EOF STDOUT connect
connect_async discover_request file_frames frame hello limit parse_accepted parse_file_header parse_header
parse_profile_info parse_result parse_skipped path_invalid profiles profiles_async read_frame read_frames
request result_from_record run write_files
""".split()


class TestNames(unittest.TestCase):
    def test_old_names_kept(self):
        self.assertEqual(len(OLD_NAMES), 94)
        self.assertEqual([n for n in OLD_NAMES if not hasattr(pyward, n)], [])
        self.assertTrue(pyward.__file__.endswith(os.path.join("pyward", "__init__.py")))
        # __all__ as before, plus the sessions; each name in it exists.
        for n in pyward.__all__:
            self.assertTrue(hasattr(pyward, n), n)
        for n in ("Session", "CellResult", "SessionEnded", "AsyncSession", "arun"):
            self.assertIn(n, pyward.__all__)
        self.assertEqual((pyward.HELLO, pyward.RESULT, pyward.LIMIT_FILES_OUT_TIME, pyward.CODE_MAX),
                         (1, 0x104, 14, 1 << 20))

    def test_import_pyward_does_not_import_asyncio(self):
        code = "import sys; import pyward; print('asyncio' in sys.modules, pyward.AsyncSession.__name__)"
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__))))
        self.assertEqual(p.stdout, "False AsyncSession\n", p.stderr)


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


class TestRun(RunsAgainstPeer, unittest.TestCase):
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


def answer_profiles(got, result=b"status=ok\nprofiles=2\n"):
    def script(conn):
        got.append(conn.recv(1 << 16))
        conn.sendall(pyward.frame(pyward.PROFILE_INFO, PROFILE_DEFAULT) + pyward.frame(pyward.PROFILE_INFO, PROFILE_BARE)
                     + pyward.frame(pyward.RESULT, result))
    return script


class TestProfiles(unittest.TestCase):
    def test_profiles(self):
        got = []
        peer = ScriptedPeer(answer_profiles(got))
        try:
            ps = pyward.profiles(socket_path=peer.path, client_timeout=30)
        finally:
            peer.close()
        self.assertEqual(got, [pyward.discover_request()])  # and nothing after REQUEST_END
        self.assertEqual([p.name for p in ps], ["default", "bare"])
        self.assertEqual(ps[0].packages["numpy"], "1.24.2")

    def test_refused(self):
        peer = ScriptedPeer(answer_profiles([], b"status=rejected\nmessage=not in group\n"))
        try:
            with self.assertRaises(pyward.DiscoverError) as cm:
                pyward.profiles(socket_path=peer.path, client_timeout=30)
        finally:
            peer.close()
        self.assertEqual(cm.exception.result.status, "rejected")
        self.assertIn("not in group", str(cm.exception))

    def test_async(self):
        peer = ScriptedPeer(answer_profiles([]))
        try:
            ps = asyncio.run(pyward.profiles_async(socket_path=peer.path, client_timeout=30))
        finally:
            peer.close()
        self.assertEqual(len(ps), 2)


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


if __name__ == "__main__":
    unittest.main()
