# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the job's runner (helper/runner.py) with this host's python3 the way the job unit does
# (python3 -I -c RUNNER, fd 0 the runner channel, fd 1/2 pipes) in a private working directory,
# playing the helper's side of the channel (helper/channel.h) in Python. The runner kills every
# process of its user on CH_STOP and before collecting (os.kill(-1)): so that it reaches nothing
# of ours, it always runs as the init's child in a PID namespace of its own (unshare(1)); where
# none can be made, only the tests that cannot reach os.kill(-1) run, and never as root.
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

RUNNER = open(sys.argv.pop(1), encoding="utf-8").read()

CODE, FILENAME, ARG, BOUNDS, FILE, FILE_DATA, GO, STOP = range(1, 9)
FILE_OUT, FILE_OUT_DATA, SKIPPED, DONE, INFO = range(0x81, 0x86)
GO_COLLECT, GO_DISCOVER = 1, 2
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
