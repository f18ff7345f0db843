#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the Python client's sessions: the session frames' bytes, CELL_RESULT's strict
# parser, Session, AsyncSession and arun against a scripted peer (sessionpeer.py). The client's
# framing and parsing only: sessions against the real helper are tests/integration's.
import asyncio
import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyward  # noqa: E402
from sessionpeer import (ACCEPTED, SessionPeer, cell_record, cell_result, session_result,  # noqa: E402
                         wait_for)


def split_frames(data):
    frames, off = [], 0
    while off < len(data):
        t, flags, n = struct.unpack_from("<HHI", data, off)
        frames.append((t, data[off + 8:off + 8 + n]))
        off += 8 + n
    assert off == len(data)
    return frames


class TestSessionFraming(unittest.TestCase):
    def test_session_request(self):
        self.assertEqual(pyward.session_request(), bytes.fromhex("01000000 04000000 01000000 0c000000 00000000"
                                                                 "07000000 00000000"))
        req = pyward.session_request("p", memory=64 << 20, timeout=2, cpu_time=0.5, session_timeout=3600,
                                     session_cpu_time=600, idle_timeout=300, cells=50, grace=1.5)
        frames = split_frames(req)
        self.assertEqual([t for t, _ in frames][:3], [pyward.HELLO, pyward.SESSION, pyward.PROFILE])
        limits = [struct.unpack("<IQ", p) for t, p in frames if t == pyward.LIMIT]
        self.assertEqual(limits, [(pyward.LIMIT_MEMORY, 64 << 20), (pyward.LIMIT_CPU_TIME, 500_000),
                                  (pyward.LIMIT_WALL_TIME, 2_000_000), (15, 3_600_000_000), (16, 600_000_000),
                                  (17, 300_000_000), (18, 50), (19, 1_500_000)])
        self.assertEqual(frames[-1], (pyward.REQUEST_END, b""))
        for bad in (dict(cells=0), dict(idle_timeout=0), dict(grace=-1), dict(cells=2 ** 64)):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                pyward.session_request(**bad)
        self.assertEqual({k: pyward.LIMITS[k] for k in ("session-wall-time", "session-cpu-time",
                                                        "session-idle-time", "session-cells", "cell-grace")},
                         {"session-wall-time": 15, "session-cpu-time": 16, "session-idle-time": 17,
                          "session-cells": 18, "cell-grace": 19})

    def test_cell_frames(self):
        self.assertEqual(pyward.cell_frame("x+1"), bytes.fromhex("13000000 07000000 00000000") + b"x+1")
        self.assertEqual(pyward.cell_frame(b"", collect=True), bytes.fromhex("13000000 04000000 01000000"))
        self.assertEqual(pyward.frame(pyward.INTERRUPT), bytes.fromhex("14000000 00000000"))
        self.assertEqual(pyward.frame(pyward.SESSION_END), bytes.fromhex("15000000 00000000"))
        self.assertEqual(len(pyward.cell_frame("x" * pyward.CELL_CODE_MAX)), 8 + pyward.CODE_MAX)
        with self.assertRaises(ValueError):
            pyward.cell_frame("x" * (pyward.CELL_CODE_MAX + 1))
        data = pyward.cell_frames("pass", files={"a.txt": b"hi", "run.sh": (b"#!", True)})
        self.assertEqual(data, pyward.file_frames("a.txt", b"hi") + pyward.file_frames("run.sh", b"#!", True)
                         + pyward.cell_frame("pass"))
        with self.assertRaises(ValueError):
            pyward.cell_frames("pass", files={"../x": b""})

    def test_frame_bounds(self):
        self.assertEqual(pyward.parse_header(pyward.frame(pyward.CELL_RESULT, length=65536)),
                         (pyward.CELL_RESULT, 65536))
        for n in (0, 65537):
            with self.assertRaises(pyward.ProtocolError):
                pyward.parse_header(pyward.frame(pyward.CELL_RESULT, length=n))


FULL = (b"cell=3\nstatus=error\nerror_type=ZeroDivisionError\nerror_message=division by zero\n"
        b"traceback=Traceback (most recent call last):\\n  File \"<cell 3>\", line 1, in <module>\\n"
        b"ZeroDivisionError: division by zero\\n\nmessage=a \\\\ note\nwall_ms=12\ncpu_ms=\n")


class TestCellResultRecord(unittest.TestCase):
    def test_parse(self):
        r = pyward.parse_cell_result(FULL)
        self.assertEqual((r["cell"], r["status"], r["error_type"], r["error_message"], r["message"]),
                         (3, "error", "ZeroDivisionError", "division by zero", "a \\ note"))
        self.assertTrue(r["traceback"].startswith('Traceback (most recent call last):\n  File "<cell 3>"'))
        self.assertEqual((r["wall_ms"], r["cpu_ms"], r["value"], r["value_truncated"]), (12, None, None, False))
        self.assertNotIn("files_out", r)
        r = pyward.parse_cell_result(b"cell=1\nstatus=ok\nvalue='a\\nb'\nvalue_truncated=1\nfuture=\\q\n"
                                     b"files_out=2\nfiles_out_bytes=10\nfiles_skipped=0\nfiles_note=\n")
        self.assertEqual((r["value"], r["value_truncated"], r["files_out"], r["files_out_bytes"], r["files_note"]),
                         ("'a\nb'", True, 2, 10, None))
        self.assertEqual(pyward.parse_cell_result(b"cell=2\nstatus=interrupted\nvalue=\n")["value"], "")
        self.assertEqual(pyward.parse_cell_result(cell_record(7, "ok", value="x" * pyward.CELL_VALUE_MAX))["value"],
                         "x" * pyward.CELL_VALUE_MAX)

    def test_malformed(self):
        for bad in (b"", b"status=ok\n", b"cell=0\nstatus=ok\n", b"cell=01\nstatus=ok\n", b"cell=1\n",
                    b"cell=1\nstatus=OK\n", b"cell=1\nstatus=exit\n", b"cell=1\nstatus=ok", b"cell=1\nstatus=ok\n\n",
                    b"cell=1\ncell=1\nstatus=ok\n", b"cell=1\nstatus=ok\nvalue_truncated=2\n",
                    b"cell=1\nstatus=ok\nwall_ms=-1\n", b"cell=1\nstatus=ok\nvalue=\\t\n", b"cell=1\nstatus=ok\n\0\n",
                    b"cell=1\nstatus=ok\nfiles_out=x\n", b"cell=x\nstatus=ok\n", b"cell=1\nstatus=ok\n=1\n",
                    cell_record(1, "ok", value="x" * (pyward.CELL_VALUE_MAX + 1)),
                    cell_record(1, "error", error_type="E" * (pyward.CELL_ERROR_TYPE_MAX + 1)),
                    cell_record(1, "error", error_message="m" * (pyward.CELL_ERROR_MESSAGE_MAX + 1)),
                    cell_record(1, "error", traceback="t" * (pyward.CELL_TRACEBACK_MAX + 1)),
                    b"cell=1\nstatus=ok\nmessage=" + b"m" * pyward.CELL_RESULT_MAX + b"\n"):
            with self.subTest(bad=bad[:80]), self.assertRaises(pyward.ProtocolError):
                pyward.parse_cell_result(bad)

    def test_result_cells(self):
        self.assertEqual(pyward.parse_result(b"status=ok\ncells=100\n")["cells"], 100)
        self.assertNotIn("cells", pyward.parse_result(b"status=ok\n"))  # a job's record, a job's dict
        self.assertEqual(pyward.result_from_record(pyward.parse_result(b"status=ok\ncells=0\n")).cells, 0)
        for bad in (b"status=ok\ncells=x\n", b"status=ok\ncells=01\n", b"status=ok\ncells=\\q\n"):
            with self.subTest(bad=bad), self.assertRaises(pyward.ProtocolError):
                pyward.parse_result(bad)


class PeerCase(unittest.TestCase):
    def peer(self, **kw):
        p = SessionPeer(**kw)
        self.addCleanup(p.close)
        return p

    def session(self, peer, **kw):
        return pyward.Session(socket_path=peer.path, client_timeout=30, **kw)

    def sent(self, peer):
        return [t for t, _ in peer.log]


class TestSession(PeerCase):
    def test_state_values_streams_and_close(self):
        peer = self.peer()
        chunks = []
        with self.session(peer, profile="p", memory=1 << 20, timeout=5, idle_timeout=60, cells=100) as s:
            self.assertEqual((s.job, s.unit, s.accepted), ("9", "pyward-job-9.service", {"job": "9",
                                                                                         "unit": "pyward-job-9.service"}))
            r = s.run("x = 41\nprint('hi')", on_stdout=chunks.append)
            self.assertEqual((r.cell, r.status, r.ok, r.value, r.stdout, r.wall_ms, r.cpu_ms),
                             (1, "ok", True, None, b"hi\n", 3, 1))
            r = s.run("x + 1")
            self.assertEqual((r.cell, r.value), (2, "42"))
            r = s.run("undefined_name")
            self.assertEqual((r.cell, r.status, r.ok, r.error_type), (3, "error", False, "NameError"))
            self.assertIn('File "<cell 3>"', r.traceback)
            self.assertEqual(s.run("[x] * 2").value, "[41, 41]")
        self.assertEqual(chunks, [b"hi\n"])
        self.assertEqual((s.result.status, s.result.cells, s.result.job), ("ok", 4, "9"))
        self.assertEqual(s.close(), s.result)  # again: the same Result, nothing sent
        self.assertEqual(self.sent(peer), [pyward.CELL] * 4 + [pyward.SESSION_END])
        self.assertEqual(peer.requests[0][:3], [(pyward.HELLO, b"\1\0\0\0"), (pyward.SESSION, b""),
                                                (pyward.PROFILE, b"p")])
        with self.assertRaises(pyward.SessionEnded):
            s.run("1")

    def test_interrupt_from_another_thread(self):
        peer = self.peer()
        with self.session(peer) as s:
            s.interrupt()  # no cell runs: nothing is sent
            threading.Timer(0.2, s.interrupt).start()
            r = s.run("INTERRUPT_ME")
            self.assertEqual((r.status, r.error_type, r.message), ("interrupted", "KeyboardInterrupt",
                                                                   "interrupted by the client"))
            self.assertTrue(r.traceback.endswith("KeyboardInterrupt\n"))
            s.interrupt()
            self.assertEqual(s.run("1").value, "1")
        self.assertEqual(self.sent(peer), [pyward.CELL, pyward.INTERRUPT, pyward.CELL, pyward.SESSION_END])

    def test_interrupt_in_a_signal_handler(self):
        peer = self.peer()
        with self.session(peer) as s:
            old = __import__("signal").signal(2, lambda *a: s.interrupt())
            try:
                threading.Timer(0.2, os.kill, (os.getpid(), 2)).start()
                self.assertEqual(s.run("INTERRUPT_ME").status, "interrupted")
            finally:
                __import__("signal").signal(2, old)

    def test_files_in_and_out(self):
        def kernel(n, code, flags, files, conn, log):
            self.assertEqual((flags, files), (pyward.CELL_COLLECT, {"in/a.csv": b"1,2\n"}))
            out = pyward.frame(pyward.FILE_OUT, struct.pack("<IQ", 0o600, 3) + b"out.txt")
            out += pyward.frame(pyward.FILE_OUT_DATA, b"abc")
            out += pyward.frame(pyward.FILE_SKIPPED, struct.pack("<I", 1) + b"link")
            return out + cell_result(n, "ok", files_out=1, files_out_bytes=3, files_skipped=1)

        peer = self.peer(kernel=kernel)
        with self.session(peer) as s:
            r = s.run("pass", files={"in/a.csv": b"1,2\n"}, collect=True)
        self.assertEqual((r.files, r.file_modes, r.skipped), ({"out.txt": b"abc"}, {"out.txt": 0o600},
                                                              [("link", "symlink")]))
        self.assertEqual((r.files_out, r.files_out_bytes, r.files_skipped, r.files_note), (1, 3, 1, None))
        self.assertEqual(self.sent(peer), [pyward.FILE, pyward.FILE_DATA, pyward.CELL, pyward.SESSION_END])

    def test_output_between_cells_is_the_next_cells(self):
        def kernel(n, code, flags, files, conn, log):
            return (cell_result(n, "ok") + pyward.frame(pyward.STDOUT, b"late ")
                    + pyward.frame(pyward.STDERR, b"warn"))

        peer = self.peer(kernel=kernel)
        seen = []
        with self.session(peer) as s:
            self.assertEqual(s.run("a").stdout, b"")
            time.sleep(0.1)
            r = s.run("b", on_stdout=seen.append)
            self.assertEqual((r.stdout, r.stderr, seen), (b"late ", b"warn", [b"late "]))
        self.assertEqual((s.result.stdout, s.result.stderr), (b"late ", b"warn"))

    def test_session_ended_instead_of_a_result(self):
        def kernel(n, code, flags, files, conn, log):
            return pyward.frame(pyward.STDOUT, b"partial") + session_result(
                "timeout", n - 1, "the session was idle for 300 s")

        peer = self.peer(kernel=kernel)
        s = self.session(peer)
        with self.assertRaises(pyward.SessionEnded) as cm:
            s.run("x = 1", on_stdout=lambda b: None)
        res = cm.exception.result
        self.assertEqual((res.status, res.message, res.cells), ("timeout", "the session was idle for 300 s", 0))
        self.assertEqual(str(cm.exception), "pyward: session ended: timeout: the session was idle for 300 s")
        self.assertIs(s.result, res)
        with self.assertRaises(pyward.SessionEnded):
            s.run("again")
        self.assertIs(s.close(), res)

    def test_refused(self):
        def script(conn, peer):
            peer.read_request(conn)
            conn.sendall(pyward.frame(pyward.RESULT, b"status=rejected\nmessage=no sessions for you\n"))

        peer = self.peer(script=script)
        with self.assertRaises(pyward.SessionEnded) as cm:
            self.session(peer)
        self.assertEqual((cm.exception.result.status, cm.exception.result.message), ("rejected", "no sessions for you"))

    def test_exit_status_text(self):
        e = pyward.SessionEnded(pyward.Result("exit", exit_code=3))
        self.assertEqual(str(e), "pyward: session ended: exit: exit code 3")
        self.assertEqual(str(pyward.SessionEnded(pyward.Result("killed", signal="SIGKILL"))),
                         "pyward: session ended: killed: SIGKILL")

    def test_protocol_errors(self):
        bad_answers = [
            cell_result(2, "ok"),  # the wrong cell
            pyward.frame(pyward.CELL_RESULT, b"cell=1\nstatus=maybe\n"),
            pyward.frame(pyward.FILE_OUT, struct.pack("<IQ", 0o600, 1) + b"x") + cell_result(1, "ok"),  # not asked
            pyward.frame(pyward.PROFILE_INFO, b"name=x\n"),
            pyward.frame(pyward.ACCEPTED, ACCEPTED),
            pyward.frame(pyward.STDOUT, b""),
            pyward.frame(0x0999),
            cell_result(1, "ok") + cell_result(2, "ok"),  # a result no cell asked for
            session_result() + pyward.frame(pyward.STDOUT, b"after"),
            pyward.frame(pyward.STDOUT, b"x")[:-1],  # closed inside a frame
        ]
        def kernel(n, code, flags, files, conn, log, answer):
            conn.sendall(answer)  # and the connection ends
            return None

        for answer in bad_answers:
            with self.subTest(answer=answer[:40]):
                peer = SessionPeer(kernel=lambda *a, answer=answer: kernel(*a, answer))
                try:
                    s = self.session(peer)
                    with self.assertRaises(pyward.ProtocolError):
                        s.run("1")  # one send: the client reads it all at once, and fails there
                    self.assertIsNone(s.close())  # broken: only disconnects
                finally:
                    peer.close()

    def test_frames_before_accepted(self):
        def script(conn, peer):
            peer.read_request(conn)
            conn.sendall(pyward.frame(pyward.STDOUT, b"early") + pyward.frame(pyward.ACCEPTED, ACCEPTED))
            wait_for(conn, None, [])

        peer = self.peer(script=script)
        with self.assertRaises(pyward.ProtocolError):
            self.session(peer)

    def test_client_timeout_leaves_it_broken(self):
        def kernel(n, code, flags, files, conn, log):
            wait_for(conn, None, log)  # never answers; the client disconnects
            return None

        peer = self.peer(kernel=kernel)
        s = pyward.Session(socket_path=peer.path, client_timeout=0.3)
        with self.assertRaises(TimeoutError):
            s.run("1")
        self.assertIsNone(s.close())
        with self.assertRaises(ConnectionError):
            s.run("2")

    def test_one_cell_at_a_time(self):
        peer = self.peer()
        with self.session(peer) as s:
            t = threading.Thread(target=s.run, args=("INTERRUPT_ME",))
            t.start()
            time.sleep(0.2)
            with self.assertRaises(RuntimeError):
                s.run("1")
            with self.assertRaises(RuntimeError):
                s.close()
            s.interrupt()
            t.join(10)

    def test_redials_a_connection_dropped_before_a_byte(self):
        def script(conn, peer):
            if not peer.requests:
                peer.requests.append(None)
                return  # closed at once, as systemd over MaxConnections=
            peer.serve(conn, peer)

        peer = self.peer(script=script, connections=2)
        with self.session(peer) as s:
            self.assertEqual(s.run("6 * 7").value, "42")
        self.assertEqual(len(peer.requests), 2)

    def test_exception_in_the_block_still_ends_the_session(self):
        peer = self.peer()
        with self.assertRaises(KeyError):
            with self.session(peer) as s:
                s.run("1")
                raise KeyError("mine")
        self.assertEqual(self.sent(peer), [pyward.CELL, pyward.SESSION_END])
        self.assertEqual(s.result.cells, 1)


class TestAsync(PeerCase):
    def test_async_session(self):
        peer = self.peer()

        async def main():
            async with pyward.AsyncSession(socket_path=peer.path, client_timeout=30, cells=10) as s:
                self.assertEqual(s.job, "9")
                self.assertEqual((await s.run("y = [1, 2]")).status, "ok")
                seen = []
                r = await s.run("print(len(y)); y", on_stdout=seen.append)
                self.assertEqual((r.value, r.stdout, seen), ("[1, 2]", b"2\n", [b"2\n"]))
                asyncio.get_running_loop().call_later(0.1, s.interrupt)
                self.assertEqual((await s.run("INTERRUPT_ME")).status, "interrupted")
                threading.Timer(0.1, s.interrupt).start()  # from another thread
                self.assertEqual((await s.run("INTERRUPT_ME")).status, "interrupted")
                self.assertEqual((await s.run("1/0")).error_type, "ZeroDivisionError")
            return s.result

        res = asyncio.run(main())
        self.assertEqual((res.status, res.cells), ("ok", 5))
        self.assertEqual(self.sent(peer), [pyward.CELL, pyward.CELL, pyward.CELL, pyward.INTERRUPT, pyward.CELL,
                                           pyward.INTERRUPT, pyward.CELL, pyward.SESSION_END])
        self.assertEqual(struct.unpack("<IQ", peer.requests[0][2][1]), (18, 10))

    def test_async_session_ended(self):
        peer = self.peer(kernel=lambda n, *a: session_result("oom", n - 1))

        async def main():
            s = await pyward.AsyncSession(socket_path=peer.path, client_timeout=30).open()
            with self.assertRaises(pyward.SessionEnded) as cm:
                await s.run("x = bytearray(10**10)")
            self.assertIs(await s.close(), cm.exception.result)
            return cm.exception.result

        self.assertEqual(asyncio.run(main()).status, "oom")

    def test_async_refused(self):
        def script(conn, peer):
            peer.read_request(conn)
            conn.sendall(pyward.frame(pyward.RESULT, b"status=rejected\nmessage=no\n"))

        peer = self.peer(script=script)

        async def main():
            async with pyward.AsyncSession(socket_path=peer.path):
                pass

        with self.assertRaises(pyward.SessionEnded):
            asyncio.run(main())

    def answer_job(self, answer, **kw):
        got = []

        def script(conn, peer):
            got.extend(peer.read_request(conn))
            while True:
                f = pyward.read_frame(conn)
                got.append(f)
                if f[0] == pyward.STDIN_EOF:
                    break
            conn.sendall(answer)

        peer = SessionPeer(script=script)
        try:
            return asyncio.run(pyward.arun("print(1)", socket_path=peer.path, client_timeout=30, **kw)), got
        finally:
            peer.close()

    def test_arun(self):
        seen = []
        res, got = self.answer_job(pyward.frame(pyward.ACCEPTED, b"job=4\nunit=u.service\n")
                                   + pyward.frame(pyward.STDOUT, b"1\n")
                                   + pyward.frame(pyward.FILE_OUT, struct.pack("<IQ", 0o644, 2) + b"f")
                                   + pyward.frame(pyward.FILE_OUT_DATA, b"hi")
                                   + pyward.frame(pyward.RESULT, b"status=exit\nexit_code=3\nfiles_out=1\n"),
                                   stdin=b"x" * 300_000, on_stdout=seen.append, collect=True, timeout=2)
        self.assertEqual((res.status, res.exit_code, res.stdout, res.files, res.accepted["job"], seen),
                         ("exit", 3, b"1\n", {"f": b"hi"}, "4", [b"1\n"]))
        self.assertEqual(b"".join(p for t, p in got if t == pyward.STDIN), b"x" * 300_000)
        self.assertEqual(b"".join(pyward.frame(t, p) for t, p in got),
                         pyward.request("print(1)", timeout=2, collect=True)
                         + b"".join(pyward.frame(pyward.STDIN, b"x" * n) for n in (65536,) * 4 + (37856,))
                         + pyward.frame(pyward.STDIN_EOF))

    def test_arun_rejected_while_sending(self):
        def script(conn, peer):
            pyward.read_frame(conn)
            conn.sendall(pyward.frame(pyward.RESULT, b"status=rejected\nmessage=no\n"))
            conn.shutdown(socket.SHUT_WR)

        peer = SessionPeer(script=script)
        try:
            res = asyncio.run(pyward.arun("x" * pyward.CODE_MAX, stdin=os.urandom(4 << 20), socket_path=peer.path,
                                          client_timeout=30))
        finally:
            peer.close()
        self.assertEqual((res.status, res.message), ("rejected", "no"))

    def test_arun_cancel_event_and_protocol_error(self):
        for make in (asyncio.Event, threading.Event):
            def script(conn, peer):
                peer.read_request(conn)
                wait_for(conn, pyward.CANCEL, [])
                conn.sendall(pyward.frame(pyward.RESULT, b"status=killed\nsignal=SIGKILL\n"))

            peer = SessionPeer(script=script)

            async def main():
                ev = make()
                asyncio.get_running_loop().call_later(0.2, ev.set)
                return await pyward.arun("pass", socket_path=peer.path, cancel=ev, client_timeout=30)

            try:
                self.assertEqual(asyncio.run(main()).status, "killed")
            finally:
                peer.close()
        with self.assertRaises(pyward.ProtocolError):
            self.answer_job(pyward.frame(pyward.CELL_RESULT, b"cell=1\nstatus=ok\n"))

    def test_arun_no_socket(self):
        with self.assertRaises(ConnectionError):
            asyncio.run(pyward.arun("pass", socket_path="/nonexistent/pyward.sock"))


if __name__ == "__main__":
    unittest.main()
