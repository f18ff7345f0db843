# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the job's runner (helper/runner.py) with this host's python3 the way the job unit does
# (python3 -I -c RUNNER, fd 0 the runner channel, fd 1/2 pipes) in a private working directory,
# playing the helper's side of the channel (helper/channel.h) in Python. The runner kills every
# process of its user on CH_STOP and before collecting (os.kill(-1)): so that it reaches nothing
# of ours, it always runs as the init's child in a PID namespace of its own (unshare(1)); where
# none can be made, only the tests that cannot reach os.kill(-1) run, and never as root.
# The runner is runner-session.py and RUNNER.PY, in that order, as embed-runner.py joins them.
# Usage: test-runner.py RUNNER.PY [unittest arguments]
import array
import ctypes
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

_runner_path = sys.argv.pop(1)
RUNNER = "".join(open(os.path.join(os.path.dirname(_runner_path), name) if name else _runner_path,
                      encoding="utf-8").read() for name in ("runner-session.py", None))

CODE, FILENAME, ARG, BOUNDS, FILE, FILE_DATA, GO, STOP, CELL, INTERRUPT, END = range(1, 12)
FILE_OUT, FILE_OUT_DATA, SKIPPED, DONE, INFO, CELL_RESULT = range(0x81, 0x87)
GO_COLLECT, GO_DISCOVER, GO_SESSION = 1, 2, 4
CELL_COLLECT = 1
SYMLINK, FIFO, SOCKET, DEVICE, OTHER, SIZE, COUNT, BYTES, DEPTH, TIME, NAME, UNREADABLE = range(1, 13)
WIDE = (100, 16 << 20, 16 << 20, 16, 5_000_000)

# The PID namespace's init: starts the runner, reaps everything, and reports on fd 3 the runner's
# raw wait status and whether any process was left once the runner had exited.
INIT = r"""
import os, sys, time
report = int(sys.argv[2])
os.set_inheritable(report, False)
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-I", "-c", sys.argv[1]])
status = None
while status is None:
    p, st = os.waitpid(-1, 0)
    if p == pid:
        status = st
left, deadline = 0, time.monotonic() + 0.5
while True:
    try:
        p, st = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if p == 0:
        if time.monotonic() > deadline:
            left = 1
            break
        time.sleep(0.01)
os.write(report, b"%d %d" % (status, left))
"""


def _namespace():
    for cmd in (["unshare", "--pid", "--fork", "--kill-child"], ["unshare", "-Urpf", "--kill-child"]):
        try:
            if subprocess.run(cmd + ["true"], capture_output=True, timeout=30).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


NAMESPACE = _namespace()


def message(kind, payload=b""):
    return kind.to_bytes(2, "little") + b"\0\0" + len(payload).to_bytes(4, "little") + payload


def request(code, filename=b"main.py", args=(), bounds=WIDE, files=()):
    out = message(CODE, code) + message(FILENAME, filename)
    out += b"".join(message(ARG, a) for a in args)
    out += message(BOUNDS, b"".join(v.to_bytes(8, "little") for v in bounds))
    for path, data, executable in files:
        out += message(FILE, (1 if executable else 0).to_bytes(4, "little") + len(data).to_bytes(8, "little") + path)
        out += b"".join(message(FILE_DATA, data[i:i + 65536]) for i in range(0, len(data), 65536))
    return out


def go(flags):
    return message(GO, (1).to_bytes(4, "little") + flags.to_bytes(4, "little"))


class Result:
    pass


def cell_result(p):
    # A CH_CELL_RESULT payload -> dict, checked as strictly as channel_cell_result_parse() does.
    out = {}
    assert len(p) <= 65536 and (not p or p.endswith(b"\n")) and b"\0" not in p, p
    for line in p.decode().split("\n")[:-1]:
        key, value = line.split("=", 1)
        assert key in ("status", "value", "value_truncated", "error_type", "error_message", "traceback"), key
        assert key not in out, key
        out[key] = value.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
    assert out["status"] in ("ok", "error"), out
    return out


def parse_channel(data):
    # The runner's messages as (kind, ...) tuples, the framing and FILE_OUT sizes checked.
    out, i, current = [], 0, None
    while i < len(data):
        kind = int.from_bytes(data[i:i + 2], "little")
        n = int.from_bytes(data[i + 4:i + 8], "little")
        assert data[i + 2:i + 4] == b"\0\0" and i + 8 + n <= len(data), "bad framing at %d" % i
        p = data[i + 8:i + 8 + n]
        i += 8 + n
        if current is not None:
            assert kind == FILE_OUT_DATA, "a message inside a file"
            current[3] += p
            if len(current[3]) == current[4]:
                out.append(("FILE", current[1], current[2], bytes(current[3])))
                current = None
            continue
        if kind == FILE_OUT:
            current = ["FILE", p[12:], int.from_bytes(p[0:4], "little"), bytearray(), int.from_bytes(p[4:12], "little")]
            if current[4] == 0:
                out.append(("FILE", current[1], current[2], b""))
                current = None
        elif kind == SKIPPED:
            out.append(("SKIPPED", int.from_bytes(p[0:4], "little"), p[4:]))
        elif kind == DONE:
            out.append(("DONE", int.from_bytes(p, "little")))
        elif kind == INFO:
            out.append(("INFO", p))
        elif kind == CELL_RESULT:
            out.append(("RESULT", cell_result(p)))
        else:
            raise AssertionError("unknown message %#x" % kind)
    assert current is None, "a file's data incomplete"
    return out


def run(code, args=(), filename=b"main.py", stdin=b"", flags=0, bounds=WIDE, files=(), prepare=None,
        stop_on=None, send=None, with_fd=True, extra_fd=False, preexec=None, kills=None):
    """Runs the runner in a fresh working directory; returns a Result with returncode, stdout,
    stderr, messages (the runner's channel messages), left (processes left), dir, seconds."""
    kills = bool(flags & GO_COLLECT) or stop_on is not None if kills is None else kills
    if NAMESPACE is None and (kills or os.geteuid() == 0):
        raise unittest.SkipTest("no PID namespace for the runner's os.kill(-1)")
    with tempfile.TemporaryDirectory() as d:
        d = os.path.realpath(d)
        if prepare:
            prepare(d)
        helper, job = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        in_r, in_w = os.pipe()
        report_r, report_w = os.pipe()
        if NAMESPACE:
            argv = NAMESPACE + [sys.executable, "-I", "-c", INIT, RUNNER, str(report_w)]
        else:
            argv = [sys.executable, "-I", "-c", RUNNER]

        def preexec_all():
            os.umask(0o022)
            if preexec:
                preexec()
        start = time.monotonic()
        p = subprocess.Popen(argv, stdin=job.fileno(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d,
                             pass_fds=(report_w,) if NAMESPACE else (), preexec_fn=preexec_all)
        job.close()
        os.close(report_w)
        channel = bytearray()

        def read_channel():
            while True:
                b = helper.recv(1 << 20)
                if not b:
                    return
                channel.extend(b)

        def read_stdout(out):
            while True:
                b = p.stdout.read1(65536)
                if not b:
                    return
                out.extend(b)
                if stop_on is not None and stop_on in out and not getattr(read_stdout, "sent", False):
                    read_stdout.sent = True
                    helper.sendall(message(STOP))

        stdout, stderr = bytearray(), bytearray()
        threads = [threading.Thread(target=read_channel), threading.Thread(target=read_stdout, args=(stdout,)),
                   threading.Thread(target=lambda: stderr.extend(p.stderr.read()))]
        for t in threads:
            t.start()
        try:
            wire = send if send is not None else request(code, filename, args, bounds, files)
            helper.sendall(wire)
            if send is None:
                fds = [in_r] + ([report_r] if extra_fd else [])
                if with_fd:
                    helper.sendmsg([go(flags)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
                else:
                    helper.sendall(go(flags))
            else:
                helper.shutdown(socket.SHUT_WR)  # the helper ends the channel there
        except OSError:
            pass  # the runner is gone already: its result says why
        os.close(in_r)
        os.write(in_w, stdin)
        os.close(in_w)
        try:
            p.wait(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
        for t in threads:
            t.join(timeout=60)
        helper.close()
        p.stdout.close()
        p.stderr.close()
        r = Result()
        r.seconds = time.monotonic() - start
        report = os.read(report_r, 100).split()
        os.close(report_r)
        if NAMESPACE:
            status = int(report[0])
            r.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            r.left = int(report[1])
        else:
            r.returncode, r.left = p.returncode, 0
        r.stdout, r.stderr, r.dir = bytes(stdout), bytes(stderr), d
        r.messages = parse_channel(bytes(channel))
        return r


def files_of(r):
    return [(m[1], m[2], m[3]) for m in r.messages if m[0] == "FILE"]


def skipped_of(r):
    return [(m[1], m[2]) for m in r.messages if m[0] == "SKIPPED"]


class Today(unittest.TestCase):
    """What a job without files or COLLECT did with bootstrap.py, unchanged."""

    def test_argv_and_stdin(self):
        r = run(b"import sys\nprint(sys.argv)\nprint(repr(sys.stdin.read()))\n", [b"a", b"$HOME", b""],
                stdin=b"in\xc3\xa4put")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "[%r, 'a', '$HOME', '']\n'inäput'\n" % os.path.join(r.dir, "main.py"))
        self.assertEqual(r.messages, [])  # no COLLECT: nothing on the channel

    def test_exit_code(self):
        self.assertEqual(run(b"import sys\nsys.exit(7)\n").returncode, 7)

    def test_sys_exit_message(self):
        r = run(b"import sys\nsys.exit('bye')\n")
        self.assertEqual((r.returncode, r.stderr), (1, b"bye\n"))

    def test_traceback_starts_at_the_job_file(self):
        r = run(b"x = 1\n\ndef f():\n    raise ValueError('boom')\nf()\n", filename=b"prog.py")
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1)
        self.assertIn('prog.py", line 5', err)
        self.assertIn("line 4, in f", err)
        self.assertTrue(err.startswith("Traceback (most recent call last):\n"), err)
        self.assertTrue(err.endswith("ValueError: boom\n"), err)
        self.assertNotIn("runpy", err)
        self.assertNotIn("<string>", err)
        self.assertNotIn("runner", err)

    def test_syntax_error(self):
        r = run(b"def broken(:\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"SyntaxError", r.stderr)

    def test_main_and_file(self):
        r = run(b"import sys\nprint(__name__, __file__.endswith('/main.py'), sys.dont_write_bytecode)\n")
        self.assertEqual(r.stdout, b"__main__ True False\n")

    def test_signal_passes_through(self):
        self.assertEqual(run(b"import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n").returncode, -9)
        self.assertEqual(run(b"import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n").returncode, -15)

    def test_only_the_standard_fds(self):
        # The channel, GO's fd and any other fd that came along are not the code's.
        r = run(b"import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd'))[:3])\n"
                b"print(os.fstat(0).st_mode >> 12, os.get_inheritable(0))\n", extra_fd=True)
        self.assertEqual(r.stdout, b"[0, 1, 2]\n%d True\n" % (stat.S_IFIFO >> 12), r.stderr)
        r = run(b"import os\nprint(len(os.listdir('/proc/self/fd')))\n", extra_fd=True)
        self.assertEqual(r.stdout, b"4\n")  # 0, 1, 2 and listdir's own

    def test_channel_ends_early(self):
        wire = request(b"print('never')\n")
        r = run(None, send=wire[:-3])
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith(b"pyward runner: the channel ended before"), r.stderr)
        self.assertEqual(r.stdout, b"")

    def test_go_without_stdin(self):
        r = run(b"print('never')\n", with_fd=False)
        self.assertEqual((r.returncode, r.stdout), (1, b""))
        self.assertEqual(r.stderr, b"pyward runner: GO came without the job's stdin\n")

    def test_out_of_order(self):
        r = run(None, send=message(FILENAME, b"main.py") + message(CODE, b""))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"where CODE was expected", r.stderr)


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


class Discovery(unittest.TestCase):
    def test_info(self):
        r = run(b"", flags=GO_DISCOVER, with_fd=False)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""))
        self.assertEqual(len(r.messages), 1)
        self.assertEqual(r.messages[0][0], "INFO")
        lines = r.messages[0][1].decode().splitlines()
        info = subprocess.run([sys.executable, "-I", "-c", "import sys; print(sys.version.split()[0]); "
                               "print('\\n'.join(p for p in sys.path if p))"],
                              capture_output=True, text=True).stdout.splitlines()
        self.assertEqual(lines[0], "python=" + info[0])
        sitedirs = [l[8:] for l in lines if l.startswith("sitedir=")]
        self.assertEqual(sitedirs, [p for p in info[1:] if os.path.isdir(p)])
        packages = [l[8:] for l in lines if l.startswith("package=")]
        names = [p.split(" ")[0].lower().replace("_", "-").replace(".", "-") for p in packages]
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(names), len(set(names)))
        self.assertTrue(all(len(p.split(" ")) == 2 for p in packages), packages)
        self.assertEqual(len(lines), 1 + len(sitedirs) + len(packages))

class Session:
    """The runner in session mode, the test playing the helper: cell() sends a cell (and its
    input files) and returns (the runner's messages for it, its result dict)."""

    def __init__(self, bounds=WIDE, prepare=None):
        if NAMESPACE is None:
            raise unittest.SkipTest("no PID namespace for the runner's os.kill(-1)")
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.realpath(self.tmp.name)
        if prepare:
            prepare(self.dir)
        self.helper, job = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        in_r, in_w = os.pipe()
        self.report_r, report_w = os.pipe()
        argv = NAMESPACE + [sys.executable, "-I", "-c", INIT, RUNNER, str(report_w)]
        self.p = subprocess.Popen(argv, stdin=job.fileno(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  cwd=self.dir, pass_fds=(report_w,), preexec_fn=lambda: os.umask(0o022))
        job.close()
        os.close(report_w)
        self.stdout, self.stderr = bytearray(), bytearray()
        self.threads = [threading.Thread(target=self._drain, args=(self.p.stdout, self.stdout)),
                        threading.Thread(target=self._drain, args=(self.p.stderr, self.stderr))]
        for t in self.threads:
            t.start()
        self.buf = bytearray()
        self.n = 0
        self.helper.sendall(request(b"", bounds=bounds))
        self.helper.sendmsg([go(GO_SESSION)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [in_r]))])
        os.close(in_r)
        os.close(in_w)  # as the helper does in a session: the cells' stdin is at EOF

    @staticmethod
    def _drain(f, out):
        while True:
            b = f.read1(65536)
            if not b:
                return
            out.extend(b)

    def send_cell(self, code, flags=0, files=()):
        self.n += 1
        out = b""
        for path, data, executable in files:
            out += message(FILE, (1 if executable else 0).to_bytes(4, "little") + len(data).to_bytes(8, "little") + path)
            out += b"".join(message(FILE_DATA, data[i:i + 65536]) for i in range(0, len(data), 65536))
        self.helper.sendall(out + message(CELL, flags.to_bytes(4, "little") + self.n.to_bytes(4, "little") + code))

    def result(self, timeout=60):
        # The runner's messages up to and including the next CH_CELL_RESULT.
        self.helper.settimeout(timeout)
        while True:
            i, n = 0, None
            msgs = []
            while len(self.buf) - i >= 8:
                n = int.from_bytes(self.buf[i + 4:i + 8], "little")
                if len(self.buf) - i < 8 + n:
                    break
                kind = int.from_bytes(self.buf[i:i + 2], "little")
                i += 8 + n
                if kind == CELL_RESULT:
                    msgs = parse_channel(bytes(self.buf[:i]))
                    del self.buf[:i]
                    return msgs[:-1], msgs[-1][1]
            b = self.helper.recv(1 << 20)
            if not b:
                raise EOFError("the runner closed the channel")
            self.buf.extend(b)

    def cell(self, code, flags=0, files=()):
        self.send_cell(code, flags, files)
        return self.result()

    def send(self, kind):
        self.helper.sendall(message(kind))

    def wait_stdout(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text not in self.stdout and time.monotonic() < deadline:
            time.sleep(0.005)
        return text in self.stdout

    def close(self, timeout=60):
        """Waits for the runner's end: (returncode, processes left), as run() reports them."""
        try:
            self.p.wait(timeout=timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
        for t in self.threads:
            t.join(timeout=60)
        self.p.stdout.close()
        self.p.stderr.close()
        rest = b""
        self.helper.settimeout(5)
        try:
            while True:
                b = self.helper.recv(1 << 20)
                if not b:
                    break
                rest += b
        except OSError:
            pass
        self.helper.close()
        self.rest = bytes(self.buf) + rest
        report = os.read(self.report_r, 100).split()
        os.close(self.report_r)
        self.tmp.cleanup()
        status = int(report[0])
        return (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), int(report[1])


class Sessions(unittest.TestCase):
    def setUp(self):
        self.s = Session()

    def tearDown(self):
        if self.s.p.poll() is None:
            self.s.send(STOP)
            self.s.close()

    def end(self):
        self.s.send(END)
        return self.s.close()

    def test_state_value_and_end(self):
        s = self.s
        self.assertEqual(s.cell(b"x = 41\nimport math\n"), ([], {"status": "ok"}))
        self.assertEqual(s.cell(b"x + 1")[1], {"status": "ok", "value": "42"})
        self.assertEqual(s.cell(b"_ * 2, math.pi > 3")[1]["value"], "(84, True)")  # _ as the REPL sets it
        self.assertEqual(s.cell(b"print('hi')\nNone")[1], {"status": "ok"})  # None: no value
        self.assertTrue(s.wait_stdout(b"hi\n"))
        self.assertEqual(s.cell(b"'a\\nb\\\\' + chr(0)")[1]["value"], r"'a\nb\\\x00'")
        self.assertEqual(s.cell(b"import sys\n__name__, sys.argv, input.__name__")[1]["value"],
                         "('__main__', [''], 'input')")
        r = s.cell(b"input()")[1]
        self.assertEqual((r["status"], r["error_type"]), ("error", "EOFError"))
        self.assertEqual(s.cell(b"'x' * 100000")[1], {"status": "ok", "value": "'" + "x" * 16383,
                                                      "value_truncated": "1"})
        self.assertEqual(s.cell(b"[n for n in globals() if not n.startswith('__')]")[1]["value"],
                         "['x', 'math', 'sys']")  # nothing of the runner's
        self.assertEqual(self.end(), (0, 0))
        self.assertEqual(s.stderr, b"")

    def test_traceback_starts_at_the_cell(self):
        s = self.s
        s.cell(b"def f(n):\n    return 1 / n\n")
        r = s.cell(b"y = 1\nf(0)\n")[1]
        self.assertEqual((r["status"], r["error_type"], r["error_message"]),
                         ("error", "ZeroDivisionError", "division by zero"))
        self.assertTrue(r["traceback"].startswith('Traceback (most recent call last):\n  File "<cell 2>", line 2, '
                                                  'in <module>\n    f(0)\n'), r["traceback"])
        self.assertIn('File "<cell 1>", line 2, in f\n    return 1 / n\n', r["traceback"])
        self.assertTrue(r["traceback"].endswith("ZeroDivisionError: division by zero\n"), r["traceback"])
        self.assertNotIn("<string>", r["traceback"])
        r = s.cell(b"def broken(:\n")[1]
        self.assertEqual(r["error_type"], "SyntaxError")
        self.assertTrue(r["traceback"].startswith('  File "<cell 3>", line 1\n    def broken(:\n'), r["traceback"])
        r = s.cell(b"import json\njson.loads('{')")[1]
        self.assertEqual(r["error_type"], "json.decoder.JSONDecodeError")
        self.assertTrue(r["traceback"].startswith('Traceback (most recent call last):\n  File "<cell 4>", line 2'))
        r = s.cell(b"class E(Exception):\n    pass\nraise E('x' * 10000)")[1]
        self.assertEqual((r["error_type"], len(r["error_message"])), ("E", 4096))
        self.assertEqual(s.cell(b"y")[1]["value"], "1")  # the state survived the errors
        self.assertEqual(self.end(), (0, 0))

    def test_interrupt(self):
        s = self.s
        s.cell(b"n = 1")
        for code in (b"while True: pass\n", b"import time\ntime.sleep(1000)\n"):
            s.send_cell(code)
            time.sleep(0.2)
            s.send(INTERRUPT)
            r = s.result()[1]
            self.assertEqual((r["status"], r["error_type"]), ("error", "KeyboardInterrupt"), r)
            self.assertTrue(r["traceback"].startswith('Traceback (most recent call last):\n  File "<cell'), r)
        # At once after the cell: never lost, whatever the kernel was doing.
        s.send_cell(b"while True: pass\n")
        s.send(INTERRUPT)
        self.assertEqual(s.result()[1]["error_type"], "KeyboardInterrupt")
        # Between cells: ignored, and not kept for the next cell.
        s.send(INTERRUPT)
        time.sleep(0.1)
        self.assertEqual(s.cell(b"import time\ntime.sleep(0.2)\nn + 1")[1], {"status": "ok", "value": "2"})
        self.assertEqual(self.end(), (0, 0))

    def test_cell_catching_the_interrupt_keeps_running(self):
        s = self.s
        s.send_cell(b"import time\nwhile True:\n    try:\n        print('ready', flush=True)\n        time.sleep(1000)\n"
                    b"    except KeyboardInterrupt:\n        print('caught', flush=True)\n")
        self.assertTrue(s.wait_stdout(b"ready\n"))
        s.send(INTERRUPT)
        self.assertTrue(s.wait_stdout(b"caught\n"))
        s.helper.settimeout(0.5)
        with self.assertRaises(socket.timeout):  # no result: the runner waits; the helper's grace decides
            s.helper.recv(1)
        s.send(STOP)
        code, left = s.close()
        self.assertEqual((code, left), (-9, 0))

    def test_system_exit(self):
        s = self.s
        s.cell(b"import atexit\natexit.register(print, 'bye')\n")
        s.send_cell(b"raise SystemExit(3)")
        self.assertEqual(s.close(), (3, 0))
        self.assertEqual(s.stdout, b"bye\n")
        self.assertEqual(s.rest, b"")  # no CELL_RESULT

    def test_system_exit_message_and_kernel_death(self):
        s = self.s
        s.send_cell(b"import sys\nsys.exit('gone')")
        self.assertEqual(s.close(), (1, 0))
        self.assertEqual(s.stderr, b"gone\n")
        self.s = s = Session()
        s.send_cell(b"import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        self.assertEqual(s.close(), (-9, 0))

    def test_stop_kills_everything(self):
        s = self.s
        s.cell(b"import subprocess\np = subprocess.Popen(['sleep', '1000'])\n")
        s.send_cell(b"import time\ntime.sleep(1000)")
        time.sleep(0.1)
        s.send(STOP)
        self.assertEqual(s.close(), (-9, 0))

    def test_end_kills_what_is_left(self):
        s = self.s
        s.cell(b"import subprocess\np = subprocess.Popen(['sleep', '1000'])\n")
        self.assertEqual(self.end(), (0, 0))

    def test_input_files_replace(self):
        s = self.s
        self.assertEqual(s.cell(b"open('a.txt').read()", files=[(b"a.txt", b"one", False)])[1]["value"], "'one'")
        s.cell(b"import os\nos.symlink('/etc/passwd', 'link')\nos.mkdir('d')")
        r = s.cell(b"import os, stat\n(open('a.txt').read(), open('link').read(), oct(os.stat('x/run').st_mode), "
                   b"open('d/f').read(), os.path.islink('link'))",
                   files=[(b"a.txt", b"two", False), (b"link", b"not through", False), (b"x/run", b"#!", True),
                          (b"d/f", b"", False)])[1]
        self.assertEqual(r, {"status": "ok", "value": "('two', 'not through', '0o100700', '', False)"})
        with open("/etc/passwd", "rb") as f:
            self.assertNotEqual(f.read(), b"not through")
        # A file that cannot be written: that cell is an error and runs nothing; the session goes on.
        r = s.cell(b"print('never')", files=[(b"d", b"a directory is there", False), (b"ok", b"1", False)])[1]
        self.assertEqual((r["status"], r["error_type"]), ("error", "pyward.InputFileError"), r)
        self.assertTrue(r["error_message"].startswith("cannot write input file 'd': "), r)
        s.cell(b"import os\nos.symlink('/tmp', 'tmplink')")
        r = s.cell(b"print('never')", files=[(b"tmplink/x", b"x", False)])[1]
        self.assertEqual(r["error_type"], "pyward.InputFileError")
        self.assertEqual(s.cell(b"open('ok').read()")[1]["value"], "'1'")
        self.assertEqual(self.end(), (0, 0))
        self.assertNotIn(b"never", s.stdout)

    def test_collect_new_and_changed_only(self):
        s = self.s
        files_of_cell = lambda m: [(x[1], x[2], x[3]) for x in m if x[0] == "FILE"]
        m, r = s.cell(b"open('out.txt', 'w').write('1')", flags=CELL_COLLECT, files=[(b"in.txt", b"in", False)])
        self.assertEqual((files_of_cell(m), r), ([(b"out.txt", 0o644, b"1")], {"status": "ok", "value": "1"}))
        m, r = s.cell(b"open('new.txt', 'w').write('n')", flags=CELL_COLLECT)
        self.assertEqual(files_of_cell(m), [(b"new.txt", 0o644, b"n")])  # out.txt was returned: not again
        m, r = s.cell(b"open('out.txt', 'w').write('2')\nopen('in.txt', 'a').write('+')\nimport os\n"
                      b"os.chmod('new.txt', 0o600)\nos.symlink('out.txt', 'l')")
        m, r = s.cell(b"", flags=CELL_COLLECT)
        self.assertEqual(files_of_cell(m), [(b"in.txt", 0o600, b"in+"), (b"new.txt", 0o600, b"n"),
                                            (b"out.txt", 0o644, b"2")])
        self.assertEqual([x for x in m if x[0] == "SKIPPED"], [("SKIPPED", SYMLINK, b"l")])
        m, r = s.cell(b"import json", flags=CELL_COLLECT, files=[(b"sent.txt", b"s", False)])
        self.assertEqual(files_of_cell(m), [])  # what was sent is known too
        self.assertEqual(self.end(), (0, 0))

    def test_runner_overhead_per_cell(self):
        # Not an assertion: the round trip of a trivial cell, less running it in-process.
        s, n = self.s, 300
        for _ in range(20):
            s.cell(b"x = 1")
        start = time.perf_counter()
        for _ in range(n):
            s.cell(b"x = 1")
        trip = (time.perf_counter() - start) / n
        ns = {}
        start = time.perf_counter()
        for _ in range(n):
            exec(compile(b"x = 1", "<cell>", "exec"), ns)
        local = (time.perf_counter() - start) / n
        print("\nrunner overhead of a trivial cell: %.0f us (round trip %.0f us, in-process %.0f us)"
              % ((trip - local) * 1e6, trip * 1e6, local * 1e6), file=sys.stderr)
        self.assertEqual(self.end(), (0, 0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
