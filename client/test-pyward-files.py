#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the pyward Python module's files: the FILE and COLLECT frames and the path rule,
# the FILE_OUT and FILE_SKIPPED records, run()'s files in and out against the scripted peers of
# jobpeers.py, and write_files() never following a link. Not a test of the helper.
import errno
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyward  # noqa: E402
from jobpeers import (FILES_RESULT, OK_RESULT, PROFILE_BARE, PROFILE_DEFAULT, TODAYS_REQUEST,  # noqa: E402
                      RunsAgainstPeer, answer_ok, file_out, read_request, skipped, split_frames)


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


class TestCollect(RunsAgainstPeer, unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main()
