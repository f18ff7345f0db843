# SPDX-License-Identifier: LGPL-2.1-or-later
# The runner's files (helper/runner.py): the input files it writes before the code runs (nested,
# executable, never through a link) and the output files it collects after (new and changed
# only, links and special files never opened, every bound, CH_STOP), as the channel carries them.
# runnerpeer.py plays the helper's side.
# Usage: test-runner-files.py RUNNER.PY [unittest arguments]
import ctypes
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runnerpeer import (BYTES, COUNT, DEPTH, DEVICE, FIFO, GO_COLLECT, NAME, SIZE, SOCKET, SYMLINK, TIME,  # noqa: E402
                        WIDE, files_of, run, skipped_of)


class InputFiles(unittest.TestCase):
    def test_nested_and_executable(self):
        code = (b"import os, stat, subprocess\n"
                b"print(open('a/b/c.txt').read())\n"
                b"print(oct(stat.S_IMODE(os.stat('a/b/c.txt').st_mode)), oct(stat.S_IMODE(os.stat('a').st_mode)))\n"
                b"print(subprocess.run(['./run.sh'], capture_output=True).stdout.decode(), end='')\n"
                b"print(oct(stat.S_IMODE(os.stat('run.sh').st_mode)), os.path.getsize('empty'))\n")
        files = [(b"a/b/c.txt", b"hello", False), (b"run.sh", b"#!/bin/sh\necho ran\n", True),
                 (b"empty", b"", False), (b"big", os.urandom(200000), False)]
        r = run(code, files=files)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"hello\n0o600 0o700\nran\n0o700 0\n")

    def test_project_imports_its_own_modules(self):
        # With input files the working directory is on sys.path, as under "python3 main.py";
        # without any, sys.path is what -I gives (today's behaviour).
        code = b"import helper, sys\nprint(helper.X, sys.path[0] == __import__('os').getcwd())\n"
        r = run(code, files=[(b"helper.py", b"X = 42\n", False)])
        self.assertEqual((r.returncode, r.stdout), (0, b"42 True\n"), r.stderr)
        r = run(b"import os, sys\nprint(os.getcwd() in sys.path)\n")
        self.assertEqual((r.returncode, r.stdout), (0, b"False\n"), r.stderr)

    def test_big_file_intact(self):
        data = os.urandom(300000)
        r = run(b"import hashlib\nprint(hashlib.sha256(open('d/big', 'rb').read()).hexdigest())\n",
                files=[(b"d/big", data, False)])
        import hashlib
        self.assertEqual(r.stdout.decode().strip(), hashlib.sha256(data).hexdigest(), r.stderr)

    def test_never_through_a_link(self):
        with tempfile.TemporaryDirectory() as outside:
            def prepare(d):
                os.symlink(os.path.join(outside, "target"), os.path.join(d, "evil"))
                os.symlink(outside, os.path.join(d, "lnk"))
            for path in (b"evil", b"lnk/x"):
                r = run(b"print('never')\n", files=[(path, b"x", False)], prepare=prepare)
                self.assertEqual((r.returncode, r.stdout), (1, b""))
                self.assertTrue(r.stderr.startswith(b"pyward runner: cannot write input file '%s'" % path), r.stderr)
                self.assertEqual(os.listdir(outside), [])

    def test_runner_error_when_writing_fails(self):
        import resource, signal

        def small():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        r = run(b"print('never')\n", files=[(b"big", b"x" * 5000, False)], preexec=small)
        self.assertEqual((r.returncode, r.stdout), (1, b""))
        self.assertEqual(r.stderr, b"pyward runner: cannot write input file 'big': File too large\n")


class Collect(unittest.TestCase):
    def collect(self, code, **kw):
        r = run(code, flags=GO_COLLECT, **kw)
        self.assertEqual(r.messages[-1][0], "DONE", r.messages[-3:])
        self.assertEqual([m for m in r.messages if m[0] == "DONE"], [r.messages[-1]])
        return r

    def test_new_and_changed_only(self):
        code = (b"import os, sys\nsys.path.insert(0, '.')\nimport mod\n"
                b"open('chg.txt', 'a').write('+')\n"
                b"os.chmod('mode.txt', 0o644)\n"
                b"open('new.txt', 'w').write('new')\n"
                b"open('.hidden', 'w').write('h')\n"
                b"os.makedirs('sub/x')\n"
                b"open('sub/deep.txt', 'w').write('deep')\n"
                b"open('main.py', 'a').write('# changed')\n"
                b"print(sys.dont_write_bytecode, os.environ.get('PYTHONDONTWRITEBYTECODE'))\n"
                b"sys.exit(3)\n")
        files = [(b"same.txt", b"same", False), (b"chg.txt", b"chg", False), (b"mode.txt", b"m", False),
                 (b"in/keep.txt", b"k", True), (b"mod.py", b"X = 1\n", False)]
        r = self.collect(code, files=files)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout, b"True 1\n")
        self.assertEqual(files_of(r), [(b".hidden", 0o644, b"h"), (b"chg.txt", 0o600, b"chg+"),
                                       (b"mode.txt", 0o644, b"m"), (b"new.txt", 0o644, b"new"),
                                       (b"sub/deep.txt", 0o644, b"deep")])
        self.assertEqual(skipped_of(r), [])
        self.assertEqual(r.messages[-1], ("DONE", 0))

    def test_links_and_special_files_never_opened(self):
        libc = ctypes.CDLL(None, use_errno=True)
        with tempfile.TemporaryDirectory() as outside:
            secret = os.path.join(outside, "secret")
            open(secret, "w").write("secret")
            watch = libc.inotify_init1(os.O_NONBLOCK)
            self.assertGreaterEqual(watch, 0)
            self.assertGreaterEqual(libc.inotify_add_watch(watch, secret.encode(), 0x20 | 0x01), 0)  # OPEN, ACCESS
            try:
                code = ("import os, socket\n"
                        "os.symlink('/etc/shadow', 'shadow')\n"
                        "os.symlink(%r, 'secret')\n"
                        "os.symlink(%r, 'dirlink')\n"
                        "os.mkfifo('fifo')\n"
                        "socket.socket(socket.AF_UNIX).bind('sock')\n"
                        "if os.geteuid() == 0: os.mknod('null', 0o20666, os.makedev(1, 3))\n"
                        % (secret, outside)).encode()
                r = self.collect(code)
                self.assertEqual(r.returncode, 0, r.stderr)
                try:
                    events = os.read(watch, 4096)
                except BlockingIOError:
                    events = b""
                self.assertEqual(events, b"", "the link's target was opened")
            finally:
                os.close(watch)
        expected = [(SYMLINK, b"dirlink"), (FIFO, b"fifo")]
        if os.geteuid() == 0:
            expected.append((DEVICE, b"null"))
        expected += [(SYMLINK, b"secret"), (SYMLINK, b"shadow"), (SOCKET, b"sock")]
        self.assertEqual(files_of(r), [])
        self.assertEqual(skipped_of(r), expected)
        self.assertLess(r.seconds, 30)

    def test_ten_thousand_files_bounded(self):
        code = b"for i in range(10000):\n    open('f%05d' % i, 'w').write(str(i))\n"
        r = self.collect(code, bounds=(100,) + WIDE[1:])
        self.assertEqual([f[0] for f in files_of(r)], [b"f%05d" % i for i in range(100)])
        self.assertEqual(skipped_of(r), [(COUNT, b"f%05d" % i) for i in range(100, 200)])
        self.assertEqual(r.messages[-1], ("DONE", 9800))

    def test_bytes_and_size_bounds(self):
        code = b"for n, s in (('a', 6), ('b', 11), ('c', 5), ('d', 1)):\n    open(n, 'w').write('x' * s)\n"
        r = self.collect(code, bounds=(100, 11, 10, 16, 5_000_000))
        self.assertEqual([f[0] for f in files_of(r)], [b"a", b"c"])
        self.assertEqual(skipped_of(r), [(SIZE, b"b"), (BYTES, b"d")])

    def test_sparse_terabyte_skipped_unread(self):
        r = self.collect(b"f = open('huge', 'wb')\nf.truncate(1 << 40)\nopen('small', 'w').write('s')\n")
        self.assertEqual(files_of(r), [(b"small", 0o644, b"s")])
        self.assertEqual(skipped_of(r), [(SIZE, b"huge")])
        self.assertLess(r.seconds, 20)

    def test_large_file_streamed(self):
        r = self.collect(b"import random\nrandom.seed(1)\nopen('big', 'wb').write(random.randbytes(3 << 20))\n")
        import random
        random.seed(1)
        self.assertEqual(files_of(r), [(b"big", 0o644, random.randbytes(3 << 20))])

    def test_nested_depth(self):
        code = (b"import os\np = ''\nfor i in range(200):\n"
                b"    open(p + 'f', 'w').write(str(i))\n    p += 'd/'\n    os.mkdir(p)\n")
        r = self.collect(code)
        self.assertEqual(files_of(r), sorted((b"d/" * i + b"f", 0o644, str(i).encode()) for i in range(17)))
        self.assertEqual(skipped_of(r), [(DEPTH, b"d/" * 16 + b"d")])
        # At the deepest bound a name of 33 components can be given to nobody.
        r = self.collect(code, bounds=WIDE[:3] + (32, WIDE[4]))
        self.assertEqual(len(files_of(r)), 32)
        self.assertEqual(skipped_of(r), [(NAME, b""), (NAME, b"")])

    def test_names_returned_intact(self):
        r = self.collect(b"import os\nopen(b'caf\\xe9', 'w').write('1')\nopen('new\\nline', 'w').write('2')\n"
                         b"os.mkdir(b'\\xff')\nopen(b'\\xff/x', 'w').write('3')\n")
        self.assertEqual([f[0] for f in files_of(r)], [b"caf\xe9", b"new\nline", b"\xff/x"])

    def test_order_is_path_bytes(self):
        r = self.collect(b"import os\nfor d in ('a', 'a.b', 'a0'):\n    os.mkdir(d)\n    open(d + '/x', 'w')\n"
                         b"open('a-', 'w')\n")
        paths = [f[0] for f in files_of(r)]
        self.assertEqual(paths, sorted(paths))
        self.assertEqual(paths, [b"a-", b"a.b/x", b"a/x", b"a0/x"])

    def test_time_runs_out(self):
        r = self.collect(b"for i in range(3000):\n    open('f%d' % i, 'w')\n", bounds=WIDE[:4] + (1,))
        self.assertEqual(skipped_of(r)[-1], (TIME, b""))
        self.assertLess(len(files_of(r)), 100)

    def test_stop_kills_and_returns_files(self):
        code = (b"import subprocess, sys, time\n"
                b"subprocess.Popen(['sleep', '1000'])\n"
                b"open('b.txt', 'w').write('before the stop')\n"
                b"print('ready', flush=True)\n"
                b"time.sleep(1000)\n")
        r = run(code, flags=GO_COLLECT, stop_on=b"ready")
        self.assertEqual(r.returncode, -9, r.stderr)
        self.assertEqual(r.left, 0, "a process of the job outlived the runner")
        self.assertEqual(files_of(r), [(b"b.txt", 0o644, b"before the stop")])
        self.assertEqual(r.messages[-1], ("DONE", 0))
        self.assertLess(r.seconds, 30)

    def test_no_collect_leaves_no_messages(self):
        r = run(b"open('x', 'w')\n", kills=False)
        self.assertEqual(r.messages, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
