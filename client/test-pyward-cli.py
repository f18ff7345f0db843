#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of pyward(1)'s own logic against the scripted peers of jobpeers.py (PYWARD_CLI: the
# binary): its connect wait, its files in and out, --list-profiles. Not a test of the helper.
import os
import subprocess
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyward  # noqa: E402
from jobpeers import (FILES_RESULT, OK_RESULT, PROFILE_BARE, PROFILE_DEFAULT, TODAYS_REQUEST,  # noqa: E402
                      BusySocket, CliPeer, DroppingPeer, answer_ok, file_out, skipped)


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


@unittest.skipUnless(os.environ.get("PYWARD_CLI"), "PYWARD_CLI (the pyward binary) not set")
class TestCliFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def cli(self, answer, *args, last=pyward.STDIN_EOF):
        peer = CliPeer(answer, last)
        try:
            p = subprocess.run([os.environ["PYWARD_CLI"], "--socket", peer.path, *args],
                               capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        finally:
            peer.close()
        return p, peer.request

    def local(self, name, data, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def test_no_new_option_sends_todays_bytes(self):
        p, req = self.cli(pyward.frame(pyward.RESULT, OK_RESULT), "-n", "--filename", "x.py", "-p", "p", "-t", "1.5",
                          "-m", "64M", "--disk", "4K", "-c", "print(1)", "a", "\udcff")
        self.assertEqual((p.returncode, p.stderr), (0, b""))
        self.assertEqual(req, TODAYS_REQUEST[:-8] + pyward.frame(pyward.REQUEST_END) + pyward.frame(pyward.STDIN_EOF))

    def test_file_encoding_matches_the_module(self):
        data = self.local("data.csv", b"a,b\n1,2\n")
        tool = self.local("tool.sh", b"#!/bin/sh\necho hi\n", 0o750)
        big = self.local("big=1.bin", os.urandom(3 * pyward.CHUNK_MAX + 7))  # split at the last '='

        with open(big, "rb") as f:
            big_bytes = f.read()
        p, req = self.cli(pyward.frame(pyward.RESULT, FILES_RESULT), "-n", "--file", data, "--file", tool + "=bin/t.sh",
                          "--file", big + "=sub/big", "--collect", "-c", "pass")
        self.assertEqual(p.returncode, 0, p.stderr)
        expected = pyward.request("pass", files={"data.csv": b"a,b\n1,2\n", "bin/t.sh": (b"#!/bin/sh\necho hi\n", True),
                                                 "sub/big": big_bytes}, collect=True)
        self.assertEqual(req, expected + pyward.frame(pyward.STDIN_EOF))

    def test_file_errors(self):
        for args, msg in ((["--file", "/nonexistent/x"], b"cannot open /nonexistent/x"),
                          (["--file", "x=../y"], b"invalid path '../y' in the job: a '..' component"),
                          (["--file", "x=/abs"], b"an absolute path"),
                          (["--file", "dir/"], b"give one with LOCAL=PATH"),
                          (["--overwrite"], b"--overwrite is for --files-out"),
                          (["--list-profiles"], b"--list-profiles runs no code")):
            with self.subTest(args=args):
                p = subprocess.run([os.environ["PYWARD_CLI"], "--socket", "/nonexistent/s", *args, "-c", "pass"],
                                   capture_output=True, timeout=60)
                self.assertEqual(p.returncode, 125)
                self.assertIn(msg, p.stderr)

    def test_files_out_writes_without_following(self):
        out = os.path.join(self.dir, "out")
        victim = self.local("victim", b"precious")
        os.mkdir(out)
        os.symlink(victim, os.path.join(out, "planted"))
        os.symlink(self.dir, os.path.join(out, "linkdir"))
        answer = (file_out("plot.png", b"\x89PNG" * 40000) + file_out("res/a.csv", b"x,y\n", 0o4755)
                  + file_out("planted", b"EVIL") + file_out("linkdir/evil", b"EVIL") + file_out(b"n\xffl\n", b"odd")
                  + skipped("lnk", 1) + skipped("fifo", 2) + pyward.frame(pyward.RESULT, FILES_RESULT))
        p, req = self.cli(answer, "-n", "--files-out", out, "-c", "pass")
        self.assertEqual(req[-24:], pyward.frame(pyward.COLLECT) + pyward.frame(pyward.REQUEST_END)
                         + pyward.frame(pyward.STDIN_EOF))
        self.assertEqual(p.returncode, 125, p.stderr)  # a file could not be written
        err = p.stderr.decode()
        self.assertIn("pyward: cannot write 'planted' in " + out + ": it exists (--overwrite replaces it)", err)
        self.assertIn("pyward: cannot write 'linkdir/evil' in " + out
                      + ": 'linkdir' is a symbolic link: not followed", err)
        self.assertIn("pyward: 2 of 5 files could not be written", err)
        self.assertIn("pyward: left out 'lnk': symlink\npyward: left out 'fifo': fifo\n", err)
        self.assertIn("pyward: left out 1 more file\n", err)  # files_skipped=3, two listed
        self.assertIn("pyward: files: the collection's time ran out", err)
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), b"precious")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "evil")))
        with open(os.path.join(out, "plot.png"), "rb") as f:
            self.assertEqual(f.read(), b"\x89PNG" * 40000)
        self.assertEqual(os.stat(os.path.join(out, "res", "a.csv")).st_mode & 0o7000, 0)
        with open(os.path.join(os.fsencode(out), b"n\xffl\n"), "rb") as f:
            self.assertEqual(f.read(), b"odd")

        # Again with --overwrite: the planted link is replaced (its target untouched), the
        # linked directory still refused; the files written the first time are replaced.
        p, _ = self.cli(answer, "-n", "-q", "--files-out", out, "--overwrite", "-c", "pass")
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr.decode().count("cannot write"), 1, p.stderr)
        self.assertNotIn(b"left out", p.stderr)  # -q
        self.assertFalse(os.path.islink(os.path.join(out, "planted")))
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), b"precious")

    def test_cut_file_is_removed(self):
        import json
        out = os.path.join(self.dir, "cut")
        answer = (file_out("a", b"keep") + file_out("big", b"\0" * 70000) + skipped("big", 10)
                  + pyward.frame(pyward.RESULT, FILES_RESULT))
        p, _ = self.cli(answer, "-n", "--files-out", out, "-c", "pass")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(os.listdir(out)), ["a"])
        self.assertIn(b"pyward: left out 'big': time", p.stderr)
        p, _ = self.cli(answer, "-n", "--json", "--collect", "-c", "pass")
        doc = json.loads(p.stdout)
        self.assertEqual(doc["files"][1], {"path": "big", "size": 70000, "mode": 0o644, "incomplete": True})
        self.assertEqual(doc["files"][0]["content_base64"], "a2VlcA==")

    def test_files_out_all_written_keeps_the_job_status(self):
        out = os.path.join(self.dir, "new")  # made by pyward, 0700
        answer = file_out("a", b"1") + pyward.frame(pyward.RESULT, b"status=exit\nexit_code=3\nfiles_out=1\n")
        p, _ = self.cli(answer, "-n", "--files-out", out, "-c", "pass")
        self.assertEqual((p.returncode, p.stderr), (3, b""))
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o700)

    def test_files_out_directory_unusable(self):
        f = self.local("file", b"")
        p = subprocess.run([os.environ["PYWARD_CLI"], "--socket", "/nonexistent/s", "--files-out", f, "-c", "pass"],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 125)
        self.assertIn(b"cannot open --files-out directory", p.stderr)

    def test_json_collect(self):
        import json
        answer = (file_out("plot.png", b"PNG\0data", 0o600) + file_out(b"caf\xe9.bin", b"") + skipped(b"l\xffnk", 1)
                  + pyward.frame(pyward.RESULT, FILES_RESULT))
        p, _ = self.cli(answer, "-n", "--json", "--collect", "-c", "pass")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["files"][0], {"path": "plot.png", "size": 8, "mode": 0o600,
                                           "content_base64": "UE5HAGRhdGE="})
        self.assertEqual(doc["files"][1],
                         {"path_base64": "Y2Fm6S5iaW4=", "size": 0, "mode": 0o644, "content_base64": ""})
        self.assertEqual(doc["skipped"], [{"path_base64": "bP9uaw==", "reason": "symlink"}])
        self.assertEqual((doc["files_out"], doc["files_out_bytes"], doc["files_skipped"], doc["files_note"]),
                         (2, 5, 3, "the collection's time ran out"))
        self.assertEqual(list(doc)[-1], "pyward_exit_status")
        self.assertEqual(p.stderr, b"")

    def test_collect_without_json_only_counts(self):
        answer = file_out("a", b"12") + file_out("b", b"345") + pyward.frame(pyward.RESULT, FILES_RESULT)
        p, _ = self.cli(answer, "-n", "--collect", "-c", "pass")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"pyward: the job returned 2 files (5 bytes), not written: see --files-out\n", p.stderr)
        self.assertEqual(os.listdir(self.dir), [])

    def test_json_without_collect_is_todays(self):
        import json
        p, _ = self.cli(pyward.frame(pyward.RESULT, OK_RESULT), "-n", "--json", "-c", "pass")
        doc = json.loads(p.stdout)
        self.assertEqual(list(doc), ["status", "exit_code", "signal", "stdout", "stderr", "wall_ms", "cpu_ms",
                                     "memory_peak_bytes", "memory_peak_reason", "unit", "invocation_id", "job",
                                     "message", "pyward_exit_status"])

    def test_unasked_file_frame_is_a_protocol_error(self):
        p, _ = self.cli(file_out("a", b"1") + pyward.frame(pyward.RESULT, OK_RESULT), "-n", "-c", "pass")
        self.assertEqual(p.returncode, 125)
        self.assertIn(b"protocol error: unexpected FILE_OUT frame", p.stderr)

    def test_collect_protocol_errors(self):
        res = pyward.frame(pyward.RESULT, FILES_RESULT)
        for answer in (file_out("x", b"abc")[:-11] + res, pyward.frame(pyward.FILE_OUT_DATA, b"x") + res,
                       file_out("x", b"abc") + pyward.frame(pyward.FILE_OUT_DATA, b"more") + res,
                       pyward.frame(pyward.FILE_OUT, struct.pack("<IQ", 0o644, 1) + b"../x") + res,
                       skipped("x", 13) + res):
            with self.subTest(answer=answer):
                out = os.path.join(self.dir, "o")
                p, _ = self.cli(answer, "-n", "--files-out", out, "-c", "pass")
                self.assertEqual(p.returncode, 125)
                self.assertIn(b"protocol error", p.stderr)
                self.assertFalse(os.path.exists(os.path.join(self.dir, "x")))

    def test_list_profiles(self):
        default = PROFILE_DEFAULT.replace(b"limit.memory.default=10", b"limit.memory.default=67108864")
        answer = (pyward.frame(pyward.PROFILE_INFO, default) + pyward.frame(pyward.PROFILE_INFO, PROFILE_BARE)
                  + pyward.frame(pyward.RESULT, b"status=ok\nprofiles=2\n"))
        p, req = self.cli(answer, "--list-profiles", last=pyward.REQUEST_END)
        self.assertEqual(req, pyward.discover_request())
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertIn("profile default\n  interpreter       /usr/bin/python3\n  python            3.11.2\n", out)
        self.assertIn("    memory          64M          20\n", out)
        self.assertIn("    cpu-quota       30%          60%\n", out)
        self.assertIn("    files-out-time  140us        280us\n", out)
        self.assertIn("  packages          2 (and 2 not listed)\n    matplotlib 3.6.3\n    numpy 1.24.2\n", out)
        self.assertIn("\nprofile bare\n", out)
        self.assertIn("  python            unknown\n", out)
        self.assertIn("  interpreter       /opt/\\x1b[2Jpy\n", out)  # no escape sequence reaches a terminal
        self.assertIn("  note              discovery failed: exit 1\n                    second line\n", out)

        import json
        p, req = self.cli(answer, "--list-profiles", "--json", last=pyward.REQUEST_END)
        doc = json.loads(p.stdout)
        self.assertEqual([x["name"] for x in doc["profiles"]], ["default", "bare"])
        self.assertEqual(doc["profiles"][0]["limits"]["memory"], {"default": 64 << 20, "max": 20})
        self.assertEqual(doc["profiles"][0]["packages"], {"matplotlib": "3.6.3", "numpy": "1.24.2"})
        self.assertEqual((doc["profiles"][1]["python"], doc["status"], doc["pyward_exit_status"]), (None, "ok", 0))

        p, _ = self.cli(pyward.frame(pyward.RESULT, b"status=rejected\nmessage=nope\n"), "--list-profiles",
                        last=pyward.REQUEST_END)
        self.assertEqual(p.returncode, 125)
        self.assertIn(b"pyward: request rejected: nope", p.stderr)


if __name__ == "__main__":
    unittest.main()
