#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the pyward Python module's own logic: framing bytes, record parsing, and run()'s
# transport behaviour against the scripted peers of jobpeers.py; pyward(1)'s are in
# test-pyward-cli.py, sessions' in test-pyward-session.py. Not a test of the helper.
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
from jobpeers import (FILES_RESULT, OK_RESULT, PROFILE_BARE, PROFILE_DEFAULT, TODAYS_REQUEST,  # noqa: E402
                      BusySocket, DroppingPeer, ScriptedPeer, answer_ok, file_out, read_request, skipped,
                      split_frames)


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


class TestFilesFraming(unittest.TestCase):
    def test_todays_request_unchanged(self):
        kw = dict(args=["a", b"\xff"], filename="x.py", profile="p", timeout=1.5, memory=64 << 20, disk=4096)
        self.assertEqual(pyward.request("print(1)", **kw), TODAYS_REQUEST)
        self.assertEqual(pyward.request("print(1)", files={}, collect=False, **kw), TODAYS_REQUEST)
        self.assertEqual(pyward.request("print(1)", files=None, **kw), TODAYS_REQUEST)

    def test_file_frames_bytes(self):
        self.assertEqual(pyward.file_frames("d/x.csv", b"ab", executable=True),
                         bytes.fromhex("08000000 13000000") +
                         bytes.fromhex("01000000 0200000000000000") + b"d/x.csv" +
                         bytes.fromhex("09000000 02000000") + b"ab")
        self.assertEqual(pyward.file_frames(b"e\xff", b""),
                         bytes.fromhex("08000000 0e000000 00000000 0000000000000000") + b"e\xff")
        big = os.urandom(pyward.CHUNK_MAX + 1)
        frames = split_frames(pyward.file_frames("big", big))
        self.assertEqual([(t, len(p)) for t, p in frames],
                         [(pyward.FILE, 15), (pyward.FILE_DATA, pyward.CHUNK_MAX), (pyward.FILE_DATA, 1)])
        self.assertEqual(frames[1][1] + frames[2][1], big)
        self.assertEqual(struct.unpack_from("<IQ", frames[0][1]), (0, len(big)))

    def test_request_with_files_and_collect(self):
        req = pyward.request("pass", timeout=2, files={"data.csv": b"1,2\n", "bin/tool.sh": (b"#!/bin/sh\n", True),
                                                       "empty": b""}, collect=True)
        self.assertEqual(req, pyward.hello() + pyward.frame(pyward.CODE, b"pass") + pyward.limit("wall-time", 2_000_000)
                         + pyward.file_frames("data.csv", b"1,2\n")
                         + pyward.file_frames("bin/tool.sh", b"#!/bin/sh\n", True)
                         + pyward.file_frames("empty", b"") + bytes.fromhex("0a000000 00000000")
                         + bytes.fromhex("07000000 00000000"))
        self.assertEqual([t for t, _ in split_frames(req)],
                         [pyward.HELLO, pyward.CODE, pyward.LIMIT, pyward.FILE, pyward.FILE_DATA, pyward.FILE,
                          pyward.FILE_DATA, pyward.FILE, pyward.COLLECT, pyward.REQUEST_END])
        # COLLECT alone, no files.
        self.assertEqual(pyward.request("pass", collect=True),
                         pyward.hello() + pyward.frame(pyward.CODE, b"pass") + pyward.frame(pyward.COLLECT)
                         + pyward.frame(pyward.REQUEST_END))

    def test_discover_request(self):
        self.assertEqual(pyward.discover_request(),
                         bytes.fromhex("01000000 04000000 01000000 0b000000 00000000 07000000 00000000"))

    def test_path_rule(self):
        for bad, why in (("../x", "a '..' component"), ("/abs", "an absolute path"), ("a//b", "an empty component"),
                         ("", "an empty path"), ("a/./b", "a '.' component"), ("x/", "an empty component"),
                         ("a\0b", "a NUL byte"), ("x" * 256, "a component longer than 255 bytes"),
                         ("/".join("a" * 33), "more than 32 components"),
                         ("/".join(["x" * 200] * 6), "longer than 1024 bytes")):
            with self.subTest(bad=bad):
                self.assertEqual(pyward.path_invalid(bad), why)
                with self.assertRaises(ValueError) as cm:
                    pyward.request("pass", files={bad: b"x"})
                self.assertIn(f"input file {bad!r}: {why}", str(cm.exception))
        for good in ("a\nb", b"caf\xe9", "x" * 255, "/".join("a" * 32), ".hidden", "a/..b/c.", "sp ace"):
            self.assertIsNone(pyward.path_invalid(good))
        with self.assertRaises(ValueError):
            pyward.request("pass", files={"a": b"1", b"a": b"2"})  # the same bytes twice
        with self.assertRaises(ValueError):
            pyward.request("pass", files={"a": (b"1", True, 3)})

    def test_parse_file_frames(self):
        self.assertEqual(pyward.parse_file_header(struct.pack("<IQ", 0o755, 7) + b"a/b\n"), (0o755, 7, b"a/b\n"))
        for bad in (b"", struct.pack("<IQ", 0, 0), struct.pack("<IQ", 0, 0) + b"../x",
                    struct.pack("<IQ", 0, 0) + b"/etc/passwd"):
            with self.subTest(bad=bad), self.assertRaises(pyward.ProtocolError):
                pyward.parse_file_header(bad)
        self.assertEqual(pyward.parse_skipped(struct.pack("<I", 1) + b"link"), ("symlink", b"link"))
        self.assertEqual(pyward.parse_skipped(struct.pack("<I", 6) + b""), ("size", b""))
        self.assertEqual(pyward.parse_skipped(struct.pack("<I", 12) + b"x"), ("unreadable", b"x"))
        for bad in (b"\1\0", struct.pack("<I", 0), struct.pack("<I", 13) + b"x"):
            with self.subTest(bad=bad), self.assertRaises(pyward.ProtocolError):
                pyward.parse_skipped(bad)

    def test_parse_profile_info(self):
        p = pyward.parse_profile_info(PROFILE_DEFAULT)
        self.assertEqual((p.name, p.interpreter, p.python, p.network, p.note, p.packages_omitted),
                         ("default", "/usr/bin/python3", "3.11.2", "none", None, 2))
        self.assertEqual(p.packages, {"matplotlib": "3.6.3", "numpy": "1.24.2"})
        self.assertEqual(p.limits["memory"], (10, 20))
        self.assertEqual(p.limits["files-out-time"], (140, 280))
        self.assertEqual(len(p.limits), len(pyward.LIMITS))  # 19 with the session keys
        b = pyward.parse_profile_info(PROFILE_BARE)
        self.assertEqual((b.python, b.network, b.note, b.limits, b.packages),
                         (None, "loopback", "discovery failed: exit 1\nsecond line", {}, {}))
        for bad in (b"", b"name=x", b"interpreter=y\n", b"name=x\nname=y\n", b"name=x\nlimit.memory.max=01\n",
                    b"name=x\npackages_omitted=-1\n", b"name=x\nnote=\\t\n", b"name=x\n\0\n"):
            with self.subTest(bad=bad), self.assertRaises(pyward.ProtocolError):
                pyward.parse_profile_info(bad)

    def test_parse_result_files_keys(self):
        rec = pyward.parse_result(FILES_RESULT)
        self.assertEqual((rec["files_out"], rec["files_out_bytes"], rec["files_skipped"], rec["files_note"]),
                         (2, 5, 3, "the collection's time ran out"))
        self.assertNotIn("files_out", pyward.parse_result(OK_RESULT))  # today's record, today's dict
        with self.assertRaises(pyward.ProtocolError):
            pyward.parse_result(OK_RESULT + b"files_out=x\n")


class TestCollect(unittest.TestCase):
    def run_with(self, script, code="pass", **kw):
        peer = ScriptedPeer(script)
        try:
            return pyward.run(code, socket_path=peer.path, client_timeout=60, **kw)
        finally:
            peer.close()

    def test_files_in_and_out(self):
        got = []
        png = os.urandom(pyward.CHUNK_MAX * 2 + 5)

        def script(conn):
            got.extend(read_request(conn))
            conn.sendall(file_out("plot.png", png) + file_out(b"caf\xe9\n.txt", b"", mode=0o4755)
                         + skipped("link", 1) + skipped("", 11)
                         + pyward.frame(pyward.STDOUT, b"done") + pyward.frame(pyward.RESULT, FILES_RESULT))

        res = self.run_with(script, files={"in/data.csv": b"1,2\n", "run.sh": (b"echo\n", True)}, collect=True)
        types = [t for t, _ in got]
        self.assertEqual(types[-4:], [pyward.FILE, pyward.FILE_DATA, pyward.COLLECT, pyward.REQUEST_END])
        self.assertEqual(set(res.files), {"plot.png", os.fsdecode(b"caf\xe9\n.txt")})
        self.assertEqual(res.files["plot.png"], png)
        self.assertEqual(os.fsencode(next(k for k in res.files if k != "plot.png")), b"caf\xe9\n.txt")
        self.assertEqual(res.file_modes["plot.png"], 0o644)
        self.assertEqual(res.file_modes[os.fsdecode(b"caf\xe9\n.txt")], 0o4755)  # as sent; write_files masks
        self.assertEqual(res.skipped, [("link", "symlink"), ("", "name")])
        self.assertEqual((res.files_out, res.files_out_bytes, res.files_skipped, res.files_note),
                         (2, 5, 3, "the collection's time ran out"))
        self.assertEqual(res.stdout, b"done")

    def test_cut_file_is_not_returned(self):
        # pyward-protocol(7): a FILE_SKIPPED naming the file just sent means its bytes were cut
        # short (zero-filled); the file is dropped. A skip of another path changes nothing.
        def script(conn):
            read_request(conn)
            conn.sendall(file_out("a", b"keep") + skipped("b", 1) + file_out("big", b"\0" * 100)
                         + skipped("big", 10) + pyward.frame(pyward.RESULT, FILES_RESULT))

        res = self.run_with(script, collect=True)
        self.assertEqual(res.files, {"a": b"keep"})
        self.assertEqual(set(res.file_modes), {"a"})
        self.assertEqual(res.skipped, [("b", "symlink"), ("big", "time")])

    def test_without_collect_no_files_fields(self):
        res = self.run_with(answer_ok)
        self.assertEqual((res.files, res.skipped, res.files_out, res.files_note), ({}, [], None, None))

    def protocol_error(self, frames, collect=True):
        def script(conn):
            read_request(conn)
            conn.sendall(frames)
        with self.assertRaises(pyward.ProtocolError):
            self.run_with(script, collect=collect)

    def test_protocol_errors(self):
        res = pyward.frame(pyward.RESULT, FILES_RESULT)
        self.protocol_error(file_out("x", b"abc") + res, collect=False)  # not asked for
        self.protocol_error(pyward.frame(pyward.FILE_OUT_DATA, b"x") + res)  # no FILE_OUT
        self.protocol_error(file_out("x", b"abc")[:-11] + res)  # RESULT inside the file
        self.protocol_error(file_out("x", b"abc")[:-11] + skipped("y", 1) + res)
        self.protocol_error(file_out("x", b"abc") + pyward.frame(pyward.FILE_OUT_DATA, b"more") + res)
        self.protocol_error(pyward.frame(pyward.FILE_OUT, struct.pack("<IQ", 0o644, 1) + b"../x") + res)
        self.protocol_error(file_out("x", b"1") + file_out("x", b"2") + res)  # twice
        self.protocol_error(b"".join(skipped(f"s{i}", 1) for i in range(pyward.SKIPPED_LISTED_MAX + 1)) + res)
        self.protocol_error(pyward.frame(pyward.PROFILE_INFO, PROFILE_DEFAULT) + res)


class TestWriteFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.out = os.path.join(self.root, "out")
        self.victim = os.path.join(self.root, "victim")
        with open(self.victim, "w") as f:
            f.write("precious")

    def tearDown(self):
        self.tmp.cleanup()

    def read(self, *parts):
        with open(os.path.join(self.out, *parts), "rb") as f:
            return f.read()

    def test_nested_modes_and_odd_names(self):
        odd = os.fsdecode(b"caf\xe9\nx")
        res = pyward.Result("ok", files={"a/b/c.txt": b"abc", odd: b"odd", "run": b"#!"},
                            file_modes={"a/b/c.txt": 0o644, "run": 0o4755})
        old = os.umask(0o022)
        try:
            written = res.write_files(self.out)
        finally:
            os.umask(old)
        self.assertEqual(sorted(written), sorted(["a/b/c.txt", odd, "run"]))
        self.assertEqual(os.stat(self.out).st_mode & 0o777, 0o700)
        self.assertEqual(self.read("a", "b", "c.txt"), b"abc")
        with open(os.path.join(os.fsencode(self.out), b"caf\xe9\nx"), "rb") as f:  # the exact bytes
            self.assertEqual(f.read(), b"odd")
        self.assertEqual(os.stat(os.path.join(self.out, "run")).st_mode & 0o7777, 0o755)  # never setuid

    def test_symlink_file_not_followed(self):
        os.mkdir(self.out)
        os.symlink(self.victim, os.path.join(self.out, "r.txt"))
        res = pyward.Result("ok", files={"r.txt": b"EVIL"})
        with self.assertRaises(pyward.FilesWriteError) as cm:
            res.write_files(self.out)
        self.assertEqual(cm.exception.failures[0][1].errno, errno.EEXIST)
        self.assertIn("'r.txt'", str(cm.exception))
        self.assertTrue(os.path.islink(os.path.join(self.out, "r.txt")))
        with open(self.victim) as f:
            self.assertEqual(f.read(), "precious")
        # overwrite replaces the link itself, never its target
        res.files["r.txt"] = b"mine"
        res.write_files(self.out, overwrite=True)
        self.assertFalse(os.path.islink(os.path.join(self.out, "r.txt")))
        self.assertEqual(self.read("r.txt"), b"mine")
        with open(self.victim) as f:
            self.assertEqual(f.read(), "precious")

    def test_symlinked_directory_not_followed(self):
        os.mkdir(self.out)
        elsewhere = os.path.join(self.root, "elsewhere")
        os.mkdir(elsewhere)
        os.symlink(elsewhere, os.path.join(self.out, "sub"))
        res = pyward.Result("ok", files={"sub/x": b"EVIL", "sub/deep/y": b"EVIL", "ok": b"fine"})
        for overwrite in (False, True):
            with self.assertRaises(pyward.FilesWriteError) as cm:
                res.write_files(self.out, overwrite=overwrite)
            self.assertEqual([p for p, _ in cm.exception.failures], ["sub/x", "sub/deep/y"])
            self.assertEqual(cm.exception.failures[0][1].errno, errno.ELOOP)
            self.assertEqual(os.listdir(elsewhere), [])
            os.unlink(os.path.join(self.out, "ok"))

    def test_invalid_paths_write_nothing(self):
        res = pyward.Result("ok", files={"../x": b"EVIL", "/abs": b"EVIL", "a//b": b"EVIL", "a/../../x": b"EVIL"})
        with self.assertRaises(pyward.FilesWriteError) as cm:
            res.write_files(self.out)
        self.assertEqual(len(cm.exception.failures), 4)
        self.assertEqual(os.listdir(self.out), [])
        self.assertEqual(sorted(os.listdir(self.root)), ["out", "victim"])

    def test_existing_directory_is_kept(self):
        os.makedirs(os.path.join(self.out, "d"))
        with self.assertRaises(pyward.FilesWriteError) as cm:
            pyward.write_files(self.out, {"d": b"x"}, overwrite=True)
        self.assertEqual(cm.exception.failures[0][1].errno, errno.EISDIR)
        self.assertTrue(os.path.isdir(os.path.join(self.out, "d")))


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
