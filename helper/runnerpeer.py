# SPDX-License-Identifier: LGPL-2.1-or-later
# The helper's side of the runner channel (helper/channel.h), played in Python for the runner's
# unit tests (test-runner.py, test-runner-files.py, test-runner-session.py) and for
# tests/fuzz/channel/make-runner-seeds.py: runs the job's runner (helper/runner.py) with this
# host's python3 the way the job unit does (python3 -I -c RUNNER, fd 0 the runner channel, fd 1/2
# pipes) in a private working directory. The runner kills every process of its user on CH_STOP
# and before collecting (os.kill(-1)): so that it reaches nothing of ours, it always runs as the
# init's child in a PID namespace of its own (unshare(1)); where none can be made, only the tests
# that cannot reach os.kill(-1) run, and never as root.
# run(warm=True) plays a warm runner's helper: the runner's fd 0 is a listening socket, which this
# side connects to and then sends CH_STDIO (stdout), CH_STDIO (stderr) and CH_LIMITS first.
# The runner is runner-session.py, runner-files.py and RUNNER.PY, joined by embed-runner.py's join()
# as for the helper; importing this module takes RUNNER.PY from sys.argv[1] (each test's first argument).
import array
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

_runner_path = sys.argv.pop(1)


def _join():
    import importlib.util
    d = os.path.dirname(_runner_path)
    spec = importlib.util.spec_from_file_location("embed_runner", os.path.join(d, "embed-runner.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.join([os.path.join(d, "runner-session.py"), os.path.join(d, "runner-files.py"), _runner_path])


RUNNER = _join()

CODE, FILENAME, ARG, BOUNDS, FILE, FILE_DATA, GO, STOP, CELL, INTERRUPT, END, STDIO, LIMITS = range(1, 14)
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


def limits(cpu_seconds=0, wall_usec=0, nproc=0):
    return message(LIMITS, cpu_seconds.to_bytes(8, "little") + wall_usec.to_bytes(8, "little") +
                   nproc.to_bytes(8, "little"))


def send_fd(s, data, fd):
    s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])


def _listen(d):
    # A warm runner's fd 0 (a socket pair's end cannot listen), bound in a directory of its own
    # (not the working directory, which is collected) that any uid may reach (run()'s peer_uid).
    os.chmod(d, 0o755)
    address = os.path.join(d, "runner")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(address)
    os.chmod(address, 0o777)
    s.listen(1)
    return s, address


def _warm_first(helper, out_w, err_w, limit):
    # A warm runner's first messages: the job's stdout and stderr, CH_LIMITS (or limit's bytes).
    send_fd(helper, message(STDIO, (1).to_bytes(4, "little")), out_w)
    send_fd(helper, message(STDIO, (2).to_bytes(4, "little")), err_w)
    helper.sendall(limit if isinstance(limit, bytes) else limits(*limit))


def _connect(path, uid):
    # The helper's end of a warm runner's channel; as uid (the peer credentials the runner checks
    # are the connecting process's): the connect() is made in a child that drops to it.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if uid is None:
        s.connect(path)
        return s
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            s.connect(path)
            os._exit(0)
        except BaseException:
            os._exit(1)
    assert os.waitpid(pid, 0)[1] == 0, "cannot connect as uid %d" % uid
    return s


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
        stop_on=None, send=None, with_fd=True, extra_fd=False, preexec=None, kills=None, env=None,
        warm=False, limit=(0, 0), prelude=None, peer_uid=None, hangup_on=None):
    """Runs the runner in a fresh working directory; returns a Result with returncode, stdout,
    stderr, messages (the runner's channel messages), left (processes left), dir, seconds.
    env: the runner's environment. warm: a warm runner, connected to as peer_uid (None: ours),
    sent CH_STDIO with the job's stdout, CH_STDIO with its stderr, then CH_LIMITS of limit
    ((cpu_seconds, wall_usec), or the bytes to send in its place); prelude: bytes sent instead of
    all three. stdout and stderr are then the job's pipes', runner_stdout and runner_stderr the
    runner's own fd 1 and 2 (where a runner error goes before the second CH_STDIO). hangup_on:
    once the job's stdout has these bytes, the channel is shut down as a dead helper's would be."""
    kills = bool(flags & GO_COLLECT) or stop_on is not None if kills is None else kills
    if NAMESPACE is None and (kills or os.geteuid() == 0):
        raise unittest.SkipTest("no PID namespace for the runner's os.kill(-1)")
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as sockets:
        d = os.path.realpath(d)
        if prepare:
            prepare(d)
        if warm:
            job, address = _listen(sockets)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
        else:
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
                             pass_fds=(report_w,) if NAMESPACE else (), preexec_fn=preexec_all, env=env)
        job.close()
        os.close(report_w)
        if warm:
            helper = _connect(address, peer_uid)
            job_stdout, job_stderr = open(out_r, "rb"), open(err_r, "rb")
        else:
            job_stdout, job_stderr = p.stdout, p.stderr
        channel = bytearray()

        def read_channel():
            while True:
                try:
                    b = helper.recv(1 << 20)
                except ConnectionResetError:
                    return  # the runner failed with our bytes unread
                if not b:
                    return
                channel.extend(b)

        def read_stdout(out):
            while True:
                b = job_stdout.read1(65536)
                if not b:
                    return
                out.extend(b)
                if stop_on is not None and stop_on in out and not getattr(read_stdout, "sent", False):
                    read_stdout.sent = True
                    helper.sendall(message(STOP))
                if hangup_on is not None and hangup_on in out and not getattr(read_stdout, "hung", False):
                    read_stdout.hung = True
                    helper.shutdown(socket.SHUT_RDWR)

        stdout, stderr, runner_stdout, runner_stderr = bytearray(), bytearray(), bytearray(), bytearray()
        threads = [threading.Thread(target=read_channel), threading.Thread(target=read_stdout, args=(stdout,)),
                   threading.Thread(target=lambda: stderr.extend(job_stderr.read()))]
        if warm:
            threads += [threading.Thread(target=lambda: runner_stdout.extend(p.stdout.read())),
                        threading.Thread(target=lambda: runner_stderr.extend(p.stderr.read()))]
        for t in threads:
            t.start()
        try:
            if warm and prelude is None:
                _warm_first(helper, out_w, err_w, limit)
            elif warm:
                helper.sendall(prelude)
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
        if warm:
            os.close(out_w)  # the runner has them, or never will
            os.close(err_w)
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
        for f in {p.stdout, p.stderr, job_stdout, job_stderr}:
            f.close()
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
        r.runner_stdout, r.runner_stderr = bytes(runner_stdout), bytes(runner_stderr)
        r.messages = parse_channel(bytes(channel))
        return r


def files_of(r):
    return [(m[1], m[2], m[3]) for m in r.messages if m[0] == "FILE"]


def skipped_of(r):
    return [(m[1], m[2]) for m in r.messages if m[0] == "SKIPPED"]


class Session:
    """The runner in session mode, the test playing the helper: cell() sends a cell (and its
    input files) and returns (the runner's messages for it, its result dict). warm, limit: as
    run()'s (stdout and stderr the job's pipes', runner_stdout and runner_stderr the runner's)."""

    def __init__(self, bounds=WIDE, prepare=None, warm=False, limit=(0, 0)):
        if NAMESPACE is None:
            raise unittest.SkipTest("no PID namespace for the runner's os.kill(-1)")
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.realpath(self.tmp.name)
        if prepare:
            prepare(self.dir)
        if warm:
            self.sockets = tempfile.TemporaryDirectory()
            job, address = _listen(self.sockets.name)
        else:
            self.sockets = None
            self.helper, job = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        in_r, in_w = os.pipe()
        self.report_r, report_w = os.pipe()
        argv = NAMESPACE + [sys.executable, "-I", "-c", INIT, RUNNER, str(report_w)]
        self.p = subprocess.Popen(argv, stdin=job.fileno(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  cwd=self.dir, pass_fds=(report_w,), preexec_fn=lambda: os.umask(0o022))
        job.close()
        os.close(report_w)
        self.stdout, self.stderr = bytearray(), bytearray()
        self.runner_stdout, self.runner_stderr = bytearray(), bytearray()
        self.files = [self.p.stdout, self.p.stderr]
        if warm:
            self.helper = _connect(address, None)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            _warm_first(self.helper, out_w, err_w, limit)
            os.close(out_w)
            os.close(err_w)
            self.files += [open(out_r, "rb"), open(err_r, "rb")]
            outputs = (self.runner_stdout, self.runner_stderr, self.stdout, self.stderr)
        else:
            outputs = (self.stdout, self.stderr)
        self.threads = [threading.Thread(target=self._drain, args=(f, out)) for f, out in zip(self.files, outputs)]
        for t in self.threads:
            t.start()
        self.buf = bytearray()
        self.raw = bytearray()  # all the runner sent on the channel
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
            b = self.helper.recv(65536)
            if not b:
                raise EOFError("the runner closed the channel")
            self.buf.extend(b)
            self.raw.extend(b)

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
        for f in self.files:
            f.close()
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
        if self.sockets is not None:
            self.sockets.cleanup()
        status = int(report[0])
        return (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), int(report[1])
