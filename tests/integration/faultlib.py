# SPDX-License-Identifier: LGPL-2.1-or-later
# What the fault and load tests share (test_faults.py, test_reload.py, test_storm.py, test_soak.py):
# FaultTestCase, which ends a helper left stuck after each test; the helpers' state, their journal
# records and configuration drop-ins; and CLIENT_PROG, the load client of the storm and the soak.
import json
import os
import subprocess
import sys

from pwlib import (DROPIN_DIR, PywardTestCase, connect, helper_units, job_units, journalctl, read_frames,
                   request_frames, sh, wait_for)

# The request profile that makes a locked-down helper of a test build (-Ddebug-hooks=true) call
# execve() (helper/lockdown.h: LOCKDOWN_DEBUG_PROFILE).
DEBUG_PROFILE = "__pyward_debug_forbidden_syscall"

HELPER_RSS_MAX_KB = 16 * 1024


# --- the machine ----------------------------------------------------------------------------

def proc_status_kb(pid, *keys):
    """{key: kB} from /proc/PID/status, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        k, _, v = line.partition(":")
        if k in keys:
            out[k] = int(v.split()[0])
    return out


def active_helper_instances():
    """Instance names (N-PID-UID for AF_UNIX) of the helper units not yet stopped."""
    out = sh("systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward-helper@*").stdout
    names = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[2] not in ("inactive", "failed"):
            names.append(f[0][len("pyward-helper@"):-len(".service")])
    return names


def journal_records(*matches, since=None):
    argv = ["-o", "json", *matches]
    if since is not None:
        argv.append(f"--since=@{since:.6f}")
    out = journalctl(*argv)
    recs = []
    for line in out.splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
    return recs


def forbidden_syscall_frames():
    """The frames a helper answers DEBUG_PROFILE's request with, up to its end: none from a helper
    that its filter killed; an ("error", text) when the connection broke."""
    with connect(timeout=30) as s:
        s.sendall(request_frames("print('never')\n", profile=DEBUG_PROFILE, stdin=b""))
        try:
            return list(read_frames(s))
        except (ConnectionError, AssertionError) as e:
            return [("error", str(e))]


def killed_by_sigsys(unit_prefix, since):
    """systemd's 'Main process exited, code=killed, status=31/SYS' of a unit named unit_prefix...
    since then, waited for up to 5 s."""
    return wait_for(lambda: [r for r in journal_records("_PID=1", since=since)
                             if r.get("UNIT", "").startswith(unit_prefix)
                             and "status=31/SYS" in r.get("MESSAGE", "")], 5)


def job_records(job_id):
    return journal_records(f"PYWARD_JOB={job_id}") if job_id else []


def write_dropin(test, name, text):
    os.makedirs(DROPIN_DIR, exist_ok=True)
    path = os.path.join(DROPIN_DIR, name)
    with open(path, "w") as f:
        f.write(text)
    test.addCleanup(os.unlink, path)


# A standalone client for other uids (runs under setpriv, so it imports only the installed
# client module, whose encoder builds its frames): argv[1] is a JSON config; it prints one JSON
# document with every connection's outcome.
CLIENT_PROG = r'''
import errno, hashlib, json, os, selectors, socket, struct, sys, threading, time
from pyward import frame, hello
cfg = json.loads(sys.argv[1])
SOCK = "/run/pyward/pyward.sock"
def request(code, arg):
    return (hello(1) + frame(2, code.encode()) + frame(4, arg.encode()) +
            frame(7) + frame(0x11))
def parse_frames(buf):
    frames, off = [], 0
    while len(buf) - off >= 8:
        t, fl, n = struct.unpack_from("<HHI", buf, off)
        if len(buf) - off - 8 < n:
            break
        frames.append((t, bytes(buf[off + 8:off + 8 + n])))
        off += 8 + n
    return frames, len(buf) - off
def kv(p):
    return dict(l.partition("=")[::2] for l in p.decode().split("\n") if l)
def classify(arg, buf, err, expect):
    frames, rest = parse_frames(buf)
    types = [t for t, _ in frames]
    if not frames and not rest:
        return {"kind": "closed", "err": err}
    if rest or not types or types[-1] != 0x104 or types.count(0x104) != 1:
        return {"kind": "bad", "why": f"frames {[hex(t) for t in types]} rest {rest} err {err}"}
    res = kv(frames[-1][1])
    out = b"".join(p for t, p in frames if t == 0x102)
    if res.get("status") == "rejected" and res.get("message") and 0x101 not in types:
        return {"kind": "rejected", "message": res["message"]}
    if res.get("status") == "ok" and types[0] == 0x101:
        f = out.decode(errors="replace").split()
        if f and f[0] == expect(arg):
            d = {"kind": "ok", "job": res.get("job")}
            if len(f) >= 3:
                d["t0"], d["t1"] = float(f[1]), float(f[2])
            return d
    return {"kind": "bad", "why": f"result {res} stdout {out[:200]!r}"}
def expect(arg):
    return hashlib.sha256(arg.encode()).hexdigest()
CODE = ("import hashlib, sys, time\nt0 = time.monotonic()\ntime.sleep(%r)\n"
        "print(hashlib.sha256(sys.argv[1].encode()).hexdigest(), t0, time.monotonic())\n" % cfg["sleep"])
tag = "%d" % os.getuid()

def storm(n):
    conns = []
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        arg = "%s-%d" % (tag, i)
        try:
            s.connect(SOCK)
        except OSError as e:
            conns.append({"arg": arg, "sock": None, "err": "connect: " + e.strerror,
                          "refused": e.errno in (errno.ECONNREFUSED, errno.EAGAIN)})
            s.close()
            continue
        s.setblocking(False)
        conns.append({"arg": arg, "sock": s, "out": bytearray(request(CODE, arg)), "buf": bytearray(),
                      "err": None, "open": True})
    sel = selectors.DefaultSelector()
    for c in conns:
        if c["sock"]:
            sel.register(c["sock"], selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    deadline = time.monotonic() + cfg["timeout"]
    open_n = sum(1 for c in conns if c["sock"])
    while open_n and time.monotonic() < deadline:
        for key, ev in sel.select(1.0):
            c = key.data
            s = c["sock"]
            if ev & selectors.EVENT_WRITE and c["out"]:
                try:
                    del c["out"][:s.send(c["out"])]
                except BlockingIOError:
                    pass
                except OSError as e:
                    c["out"].clear()
                    c["err"] = "send: " + (e.strerror or str(e))
                if not c["out"]:
                    sel.modify(s, selectors.EVENT_READ, c)
            if ev & selectors.EVENT_READ:
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    d = b""
                    c["err"] = "recv: " + (e.strerror or str(e))
                if d:
                    c["buf"] += d
                    continue
                sel.unregister(s)
                s.close()
                c["open"] = False
                open_n -= 1
    results = []
    for c in conns:
        if c["sock"] is None:
            results.append({"kind": "closed" if c["refused"] else "bad", "why": c["err"]})
        elif c["open"]:
            results.append({"kind": "bad", "why": "no end within %ss" % cfg["timeout"]})
        else:
            results.append(classify(c["arg"], c["buf"], c["err"], expect))
    return results

def soak(n, threads):
    results = [None] * n
    nxt = [0]
    lock = threading.Lock()
    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            arg = "%s-%d" % (tag, i)
            buf, err = bytearray(), None
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(cfg["timeout"])
                    s.connect(SOCK)
                    s.sendall(request(CODE, arg))
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        buf += d
            except OSError as e:
                err = str(e)
                if not buf:
                    results[i] = {"kind": "bad", "why": err}
                    continue
            results[i] = classify(arg, buf, err, expect)
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results

start = time.monotonic()
if cfg["mode"] == "storm":
    res = storm(cfg["n"])
else:
    res = soak(cfg["n"], cfg["threads"])
print(json.dumps({"uid": os.getuid(), "seconds": time.monotonic() - start, "results": res}))
'''


class ClientRun:
    """CLIENT_PROG as another user (or root), in the background."""

    def __init__(self, user, cfg):
        path = "/run/pwfaults-client.py"
        with open(path, "w") as f:
            f.write(CLIENT_PROG)
        os.chmod(path, 0o644)
        argv = [sys.executable, path, json.dumps(cfg)]
        if user is not None:
            argv = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups",
                    "--reset-env", "--"] + argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def result(self, timeout):
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise AssertionError(f"client failed ({self.proc.returncode}): {err.decode()[-2000:]}")
        try:
            return json.loads(out)
        except ValueError:
            # Seen once (bookworm, test_connection_storm): exit 0 and no JSON. Show all of it.
            raise AssertionError(f"client exited 0 without a JSON document: stdout {out[-2000:]!r}, "
                                 f"stderr {err[-2000:]!r}") from None


class FaultTestCase(PywardTestCase):
    """A PywardTestCase that, after each test, ends the helpers a failed test left holding job units."""

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            # A stuck helper keeps its (failed) job unit referenced: end it, so that one failure
            # does not fail every later test in setUp.
            if job_units():
                for u in helper_units():
                    sh("systemctl", "kill", "--signal=SIGKILL", u, check=False)
                sh("systemctl", "reset-failed", "pyward-job-*", "pyward-helper@*", check=False)
                wait_for(lambda: not job_units(), 10)
