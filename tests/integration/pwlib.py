# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers of the integration tests: the installed pyward client module, our own raw
# implementation of the wire protocol (to craft bad frames), units, users and CLI runs.
import fcntl
import glob
import grp
import json
import os
import pwd
import re
import socket
import struct
import subprocess
import sys
import time
import unittest

SOCKET_PATH = "/run/pyward/pyward.sock"
CLI = "/usr/bin/pyward"
SLOT_DIR = "/run/pyward/slots"
DROPIN_DIR = "/etc/pyward/pyward.conf.d"
JOB_USER_PREFIX = "pyward-job"  # the pool of users jobs run as: pyward-job0, pyward-job1, ...


def _import_pyward():
    """The client module as installed by meson (its python dir depends on the build host)."""
    try:
        import pyward  # noqa: F401
        return sys.modules["pyward"]
    except ImportError:
        pass
    for pattern in ("/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
                    "/usr/lib/python3*/dist-packages", "/usr/local/lib/python3*/dist-packages",
                    "/usr/local/lib/python3*/site-packages", "/usr/lib/pyward",
                    "/usr/share/pyward"):
        for d in sorted(glob.glob(pattern)):
            if os.path.exists(os.path.join(d, "pyward.py")) or \
                    os.path.exists(os.path.join(d, "pyward", "__init__.py")):
                sys.path.append(d)
                import pyward  # noqa: F811
                return pyward
    raise ImportError("the pyward Python module is not installed in this machine")


pyward = _import_pyward()

# --- the wire protocol: the constants as in common/protocol.h; every frame (bad ones included,
# with `flags=` and `length=`) is built by the client module's encoder, pyward.frame() -----------

HELLO, CODE, FILENAME, ARG, PROFILE, LIMIT, REQUEST_END = 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7
STDIN, STDIN_EOF, CANCEL = 0x10, 0x11, 0x12
ACCEPTED, STDOUT, STDERR, RESULT = 0x101, 0x102, 0x103, 0x104
LIMITS = {"memory": 1, "tasks": 2, "cpu_quota": 3, "cpu_time": 4, "wall_time": 5, "output": 6,
          "disk": 7}

frame = pyward.frame


def request_frames(code, args=(), filename=None, profile=None, limits=None, stdin=None):
    """Like pyward.request(), but limits are raw wire values (0 and 2**64-1 included)."""
    out = pyward.hello(1) + frame(CODE, code)
    if filename is not None:
        out += frame(FILENAME, filename)
    for a in args:
        out += frame(ARG, a)
    if profile is not None:
        out += frame(PROFILE, profile)
    for k, v in (limits or {}).items():
        out += pyward.limit(LIMITS[k], v)
    out += frame(REQUEST_END)
    if stdin is not None:
        if stdin:
            out += frame(STDIN, stdin)
        out += frame(STDIN_EOF)
    return out


def connect(path=SOCKET_PATH, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.settimeout(timeout)
    s.connect(path)
    return s


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None if not buf else buf
        buf += chunk
    return buf


def read_frames(sock):
    """Yields (type, payload) until EOF; raises if EOF cuts a frame in half."""
    while True:
        hdr = _recv_exact(sock, 8)
        if hdr is None:
            return
        if len(hdr) < 8:
            raise AssertionError(f"connection closed inside a frame header ({len(hdr)} bytes)")
        ftype, flags, length = struct.unpack("<HHI", hdr)
        payload = _recv_exact(sock, length) if length else b""
        if length and (payload is None or len(payload) < length):
            raise AssertionError(f"connection closed inside a frame of type {ftype:#x}")
        yield ftype, payload


def parse_kv(payload):
    out = {}
    for line in payload.decode().split("\n"):
        if not line:
            continue
        k, _, v = line.partition("=")
        out[k] = v.replace("\\n", "\n").replace("\\\\", "\\") if "\\" in v else v
    return out


def exchange(data, timeout=30, shutdown=False):
    """Sends raw bytes, returns every frame the helper sends back until it closes."""
    with connect(timeout=timeout) as s:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        return list(read_frames(s))


def result_of(frames):
    results = [p for t, p in frames if t == RESULT]
    if not results:
        raise AssertionError(f"no RESULT frame among {[hex(t) for t, _ in frames]}")
    if frames[-1][0] != RESULT:
        raise AssertionError("RESULT is not the last frame")
    return parse_kv(results[-1])


# --- the machine: units, processes, users, the journal ------------------------------------

def sh(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)



def systemd_version():
    """The manager's major version, e.g. 252."""
    return int(sh("systemctl", "--version").stdout.split()[1])


def cgroup_controllers():
    """The cgroup v2 controllers the machine has: none in the nspawn machines, all in the VM tier."""
    try:
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            return set(f.read().split())
    except OSError:
        return set()


def note(msg):
    """A measured number in the log, for the record (timings vary between machines)."""
    print(f"\n    [measured] {msg}", file=sys.stderr, flush=True)


def job_users():
    """uid -> name of the users of the pool jobs run as (units/pyward.sysusers.in)."""
    return {p.pw_uid: p.pw_name for p in pwd.getpwall()
            if re.fullmatch(re.escape(JOB_USER_PREFIX) + r"[0-9]+", p.pw_name)}


def job_user_held(uid, pooled=True):
    """Is the pool user with this uid still taken by a helper? A helper holds flock() on
    /run/pyward/slots/user.<k> for the length of its job; if we can take it, nobody holds it (and
    we let go at once; a helper that tries it meanwhile simply takes another user). With
    pooled=False, a user taken by a warm runner still in the pool (or being started for it) is not
    held by a job: a fresh runner may take the user of a job that has just ended."""
    name = job_users().get(uid)
    if name is None:
        raise AssertionError(f"uid {uid} is not one of the job users")
    try:
        fd = os.open(f"{SLOT_DIR}/user.{name[len(JOB_USER_PREFIX):]}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        unit = os.pread(fd, 128, 0).decode(errors="replace").strip()
        if not pooled and unit in pooled_runner_units():
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    finally:
        os.close(fd)
    # A warm runner's user is held by its unit (pyward-helper(8), JOB USERS): the helper that
    # started it is gone, and no helper takes a user whose recorded unit still exists.
    if unit.startswith("pyward-warm-"):
        state = sh("systemctl", "show", "-P", "ActiveState", unit, check=False).stdout.strip()
        return state not in ("", "inactive")
    return False


def job_users_held():
    return {uid for uid in job_users() if job_user_held(uid)}


def bare_user():
    """A user of the job pool that no helper holds now (the bare runs are that user's only processes)."""
    for uid in sorted(job_users(), reverse=True):
        if not job_user_held(uid):
            return pwd.getpwuid(uid)
    raise unittest.SkipTest("every user of the job pool is held")


WARM_DIR = "/run/pyward/warm"


def pooled_runner_units():
    """The units of the warm runners waiting in the pool or being started for it (their ready
    and starting names in /run/pyward/warm): no job is in them."""
    try:
        return {f"pyward-warm-{n.split('-')[2]}.service" for n in os.listdir(WARM_DIR) if n[:2] in ("r-", "p-")}
    except FileNotFoundError:
        return set()


def job_units():
    """The units of jobs: every pyward-job-*, and each warm runner that has a job (claimed: its
    name is gone from the pool's ready and starting names in /run/pyward/warm)."""
    out = sh("systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward-job-*",
             "pyward-warm-*").stdout
    units = [line.split()[0] for line in out.splitlines() if line.strip()]
    pooled = pooled_runner_units()
    return sorted(u for u in units if u not in pooled)


def helper_units():
    out = sh("systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward-helper@*").stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.strip())


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def processes_of_uid(uid, pooled=True):
    """The processes of a uid ("uid pid args" lines). With pooled=False, those of a warm runner
    waiting in the pool are left out: a fresh runner may take the user of a job that has just ended."""
    out = sh("ps", "-eo", "uid=,pid=,args=").stdout
    found = [line for line in out.splitlines() if line.split() and line.split()[0] == str(uid)]
    if pooled or not found:
        return found
    units = pooled_runner_units()

    def in_pool(line):
        try:
            with open(f"/proc/{line.split()[1]}/cgroup") as f:
                cgroup = f.read()
        except OSError:
            return True  # gone meanwhile
        return any(f"/{u}\n" in cgroup or f"/{u}/" in cgroup for u in units)

    return [line for line in found if not in_pool(line)]


def journalctl(*argv):
    """journalctl's stdout; a journalctl that fails (a bad match, no journal) fails the test, so a
    check of the journal cannot pass because the journal could not be read."""
    p = sh("journalctl", "--no-pager", *argv, check=False)
    # Exit status 1 with nothing on stderr is "no entries" (some versions); anything else is a failure.
    if p.returncode != 0 and (p.returncode != 1 or p.stderr.strip()):
        raise AssertionError(f"journalctl {' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def journal_since(since_realtime, *matches):
    return journalctl("-o", "cat", f"--since=@{since_realtime:.6f}", *matches)


def job_journal(job_id):
    """Every journal record of one connection (PYWARD_JOB=job_id), oldest first, each a dict of
    `journalctl -o json --all`'s fields; a journalctl that fails raises (check=True) and so does a
    line that is not a JSON record, so nothing here can pass on a journal that could not be read."""
    if not re.fullmatch(r"[0-9a-f]{32}", job_id or ""):
        raise AssertionError(f"not a job id: {job_id!r}")
    out = sh("journalctl", "--no-pager", "-o", "json", "--all", f"PYWARD_JOB={job_id}").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def ensure_group(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        sh("groupadd", "--system", name)


class TempUser:
    """A throwaway login-less user, removed (with its home) on exit."""

    def __init__(self, name, groups=(), home=False):
        self.name, self.groups, self.home = name, groups, home

    def __enter__(self):
        sh("userdel", "-r", self.name, check=False)
        argv = ["useradd", "--shell", "/usr/sbin/nologin"]
        argv += ["--create-home"] if self.home else ["--no-create-home"]
        if self.groups:
            argv += ["--groups", ",".join(self.groups)]
        sh(*argv, self.name)
        self.pw = pwd.getpwnam(self.name)
        self.uid, self.gid = self.pw.pw_uid, self.pw.pw_gid
        return self

    def __exit__(self, *exc):
        sh("pkill", "-KILL", "-u", self.name, check=False)
        sh("userdel", "-r", "-f", self.name, check=False)

    def run(self, argv, wait=True, **kw):
        """Runs argv as this user (with its supplementary groups); wait=False: returns the Popen."""
        argv = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
                "--reset-env", "--"] + list(argv)
        if not wait:
            kw.pop("timeout", None)
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        return subprocess.run(argv, capture_output=True, **kw)


def cli(*args, input=b"", timeout=120, **kw):
    return subprocess.run([CLI, *args], input=input, capture_output=True, timeout=timeout, **kw)


class PywardTestCase(unittest.TestCase):
    """Fails a test that leaves a job unit behind; every test starts from none."""

    maxDiff = None

    def setUp(self):
        left = wait_for(lambda: not job_units(), 10)
        self.assertTrue(left, f"job units left over from an earlier test: {job_units()}")
        self.t0 = time.time()

    def tearDown(self):
        gone = wait_for(lambda: not job_units(), 10)
        if not gone:
            units = job_units()
            for u in units:
                sh("systemctl", "stop", u, check=False)
            self.fail(f"job units still present 10 s after the test: {units}")

    def run_job(self, code, **kw):
        return pyward.run(code, **kw)

    def assertOk(self, res, stdout=None):
        self.assertEqual((res.status, res.exit_code, res.message if res.status != "ok" else ""),
                         ("ok", 0, ""), f"stderr: {res.stderr!r}")
        if stdout is not None:
            self.assertEqual(res.stdout, stdout)


# --- files in and out (pyward-protocol(7) "FILES"): raw frames, for what a client's own checks
# would never send, and a reader of the helper's FILE_OUT/FILE_OUT_DATA/FILE_SKIPPED frames ------

FILE, FILE_DATA, COLLECT = 0x8, 0x9, 0xA
FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED = 0x105, 0x106, 0x107
FILE_LIMITS = {"files_in": 8, "files_in_bytes": 9, "files_out": 10, "files_out_bytes": 11,
               "file_out_size": 12, "files_out_depth": 13, "files_out_time": 14}
SKIP_REASONS = {1: "symlink", 2: "fifo", 3: "socket", 4: "device", 5: "other", 6: "size",
                7: "count", 8: "bytes", 9: "depth", 10: "time", 11: "name", 12: "unreadable"}
CHUNK = 64 * 1024


def file_frames(path, data=b"", executable=False, size=None):
    """One input file: FILE (flags, size, path) and its FILE_DATA frames; path is bytes or str."""
    path = path.encode() if isinstance(path, str) else path
    out = frame(FILE, struct.pack("<IQ", 1 if executable else 0, len(data) if size is None else size) + path)
    for i in range(0, len(data), CHUNK):
        out += frame(FILE_DATA, data[i:i + CHUNK])
    return out


def files_request(code, files=(), collect=True, limits=None, stdin=b""):
    """A request with input files [(path, data, executable)], COLLECT, raw limits by name."""
    out = pyward.hello(1) + frame(CODE, code)
    for f in files:
        out += file_frames(*f)
    if collect:
        out += frame(COLLECT)
    for k, v in (limits or {}).items():
        out += pyward.limit(LIMITS.get(k) or FILE_LIMITS[k], v)
    out += frame(REQUEST_END)
    if stdin:
        out += frame(STDIN, stdin)
    return out + frame(STDIN_EOF)


def files_of(frames):
    """The output files of a job's frames: ({path bytes: (mode, data)}, [(reason, path bytes)]),
    checking that each FILE_OUT is followed by exactly its size in FILE_OUT_DATA frames and that
    all of them precede RESULT."""
    files, skipped, cur, seen_result = {}, [], None, False
    for t, p in frames:
        if t in (FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED) and seen_result:
            raise AssertionError("a file frame after RESULT")
        if t == RESULT:
            seen_result = True
        if cur is not None and t != FILE_OUT_DATA:
            raise AssertionError(f"frame {t:#x} inside file {cur[0]!r}: {len(cur[2])} of {cur[1]} bytes")
        if t == FILE_OUT:
            mode, size = struct.unpack_from("<IQ", p)
            cur = (p[12:], size, bytearray(), mode)
        elif t == FILE_OUT_DATA:
            if cur is None:
                raise AssertionError("FILE_OUT_DATA outside a file")
            cur[2].extend(p)
            if len(cur[2]) > cur[1]:
                raise AssertionError(f"more data than announced for {cur[0]!r}")
        elif t == FILE_SKIPPED:
            (reason,) = struct.unpack_from("<I", p)
            skipped.append((SKIP_REASONS.get(reason, reason), p[4:]))
        if cur is not None and len(cur[2]) == cur[1]:
            if cur[0] in files:
                raise AssertionError(f"{cur[0]!r} returned twice")
            files[cur[0]] = (cur[3], bytes(cur[2]))
            cur = None
    if cur is not None:
        raise AssertionError(f"the frames ended inside file {cur[0]!r}")
    return files, skipped


# --- sessions (pyward-protocol(7) "SESSIONS"): raw frames, for what pyward.Session never sends,
# and what a session must not leave behind ------------------------------------------------------

SESSION, CELL, INTERRUPT, SESSION_END = 0xC, 0x13, 0x14, 0x15
CELL_RESULT = 0x109
PW_CELL_COLLECT = 0x1
PW_CELL_VALUE_MAX = 16 * 1024
SESSION_LIMITS = {"session_wall_time": 15, "session_cpu_time": 16, "session_idle_time": 17,
                  "session_cells": 18, "cell_grace": 19}


def session_request(profile=None, limits=None, extra=b""):
    """HELLO, SESSION, PROFILE?, LIMIT* (raw wire values by name, job and session keys), extra
    (frames a session request must not have), REQUEST_END."""
    out = pyward.hello(1) + frame(SESSION)
    if profile is not None:
        out += frame(PROFILE, profile)
    for k, v in (limits or {}).items():
        out += pyward.limit(LIMITS.get(k) or FILE_LIMITS.get(k) or SESSION_LIMITS[k], v)
    return out + extra + frame(REQUEST_END)


def cell_frame(code, collect=False):
    return frame(CELL, struct.pack("<I", PW_CELL_COLLECT if collect else 0) + code.encode())


def frames_until(it, ftype):
    """Frames from the iterator it up to and including the first of type ftype (or RESULT, or
    EOF): a cell's frames, then its CELL_RESULT."""
    out = []
    for t, p in it:
        out.append((t, p))
        if t in (ftype, RESULT):
            break
    return out


def job_user_processes():
    """Processes running as any user of the job pool."""
    uids = {str(u) for u in job_users()}
    out = sh("ps", "-eo", "uid=,pid=,args=").stdout
    return [line for line in out.splitlines() if line.split() and line.split()[0] in uids]


def flock_held(path):
    """Whether some process holds flock() on path (a job slot, a connection share) right now:
    taking it ourselves would block. Opening a missing path raises FileNotFoundError."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _slot_files_held():
    return {path for path in glob.glob(f"{SLOT_DIR}/*") + glob.glob(f"{SLOT_DIR}/conns/*")
            if os.path.isfile(path) and flock_held(path)}


def unit_leftovers():
    """(mounts, the jobs' and the helpers' units' private and transient files) as sets: the part
    of leftovers_snapshot() that test_soak.py's snapshot has too."""
    with open("/proc/1/mountinfo") as f:
        mounts = {" ".join(line.split()[3:5]) for line in f}
    files = set()
    # The jobs' and the helpers' units only: pyward-etc-view.service (PrivateTmp=) runs whenever a
    # test adds a user, and its private directories while it runs are no job's leftovers.
    for unit in ("pyward-job-", "pyward-helper@"):
        for pattern in (f"/tmp/systemd-private-*-{unit}*", f"/var/tmp/systemd-private-*-{unit}*",
                        f"/run/systemd/propagate/{unit}*", f"/var/lib/private/{unit}*",
                        f"/run/systemd/transient/{unit}*"):
            files.update(glob.glob(pattern))
    return mounts, files


def leftovers_snapshot():
    """What finished jobs must not leave behind, as comparable sets: mounts, the units' private
    and transient files, files under /run/pyward other than the reused slot lock files (and the
    /etc trees and discovery cache, prepared once for all jobs), slot files still locked, job
    users still held and processes of the job users."""
    mounts, files = unit_leftovers()
    for root, dirs, names in os.walk("/run/pyward"):
        if root == "/run/pyward":
            dirs[:] = [d for d in dirs if d not in ("etc-view", "discovery")]
        if root in (SLOT_DIR, f"{SLOT_DIR}/conns"):
            continue
        files.update(os.path.join(root, n) for n in names if os.path.join(root, n) != SOCKET_PATH)
    return {"mounts": mounts, "files": files, "slots_held": _slot_files_held(),
            "job_users_held": job_users_held(), "processes": set(job_user_processes())}


def leftovers_since(before, timeout=10):
    """What is in leftovers_snapshot() now and was not in before (waits up to timeout for it to
    settle to nothing): {} when nothing is left."""
    def diff():
        now = leftovers_snapshot()
        return {k: sorted(now[k] - before[k]) for k in now if now[k] - before[k]}
    deadline = time.monotonic() + timeout
    while True:
        d = diff()
        if not d or time.monotonic() >= deadline:
            return d
        time.sleep(0.1)
