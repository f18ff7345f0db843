# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue #18: one user's connection flood must not lock every other user out. User A (or root)
# floods pyward.sock with a tight reconnect loop holding hundreds of idle connections, alone or
# beside long jobs up to A's limits; user B meanwhile runs jobs with pyward(1) one after another.
import glob
import json
import os
import statistics
import subprocess
import sys
import time

from pwlib import (CLI, SLOT_DIR, PywardTestCase, TempUser, ensure_group, helper_units, job_units, processes_of_uid,
                   flock_held, sh, systemd_version, wait_for)

CONN_DIR = "/run/pyward/slots/conns"
FLOOD_SECONDS = 30  # at most: the flood ends once B's jobs are done (STOP_PATH), not before min_seconds
STOP_PATH = "/run/pwflood-stop"
HOLD = 400          # connections the flooder keeps open at once (most wait in the listen backlog)
B_JOBS = 20
B_BASELINE_JOBS = 10
B_JOB_MAX_SECONDS = 10.0
# The front door (pyward-door.service behind pyward.socket, Accept=no) counts every connection by
# UID before any helper starts, on 252 as on 257 (README, security model): B's jobs are asserted on
# both releases.
LONG_JOB_SECONDS = 10  # A's long jobs: ended and started again during the flood

# The flooder, run as A (or root) with only the installed client module: keeps HOLD connections
# open, reopening every one the other side closes (a tight loop, no backoff); with "jobs", also
# keeps `jobs` long jobs running. Prints one JSON document of counts at the end.
FLOOD_PROG = r'''
import errno, json, os, resource, selectors, socket, sys, time
import pyward
cfg = json.loads(sys.argv[1])
SOCK = "/run/pyward/pyward.sock"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, cfg["hold"] + cfg["jobs"] + 256), hard))
LONG = pyward.request("import time\ntime.sleep(%d)\n" % cfg["job_seconds"],
                      timeout=cfg["job_seconds"] + 5) + pyward.frame(pyward.STDIN_EOF)
sel = selectors.DefaultSelector()
n = {"connected": 0, "eagain": 0, "refused": 0, "other_errors": 0, "door": 0, "deadline": 0,
     "jobs_started": 0, "jobs_rejected": 0, "closed_silently": 0, "results": 0, "max_open": 0}
open_idle, open_jobs = 0, 0
messages = {}
def opened(kind):
    global open_idle, open_jobs
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        s.connect(SOCK)
    except OSError as e:
        s.close()
        key = {errno.EAGAIN: "eagain", errno.ECONNREFUSED: "refused"}.get(e.errno, "other_errors")
        n[key] += 1
        return False
    n["connected"] += 1
    st = {"kind": kind, "buf": bytearray(), "out": bytearray(LONG if kind == "job" else b"")}
    sel.register(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if st["out"] else 0), st)
    if kind == "job":
        open_jobs += 1
    else:
        open_idle += 1
    return True
def closed(s, st):
    global open_idle, open_jobs
    sel.unregister(s)
    s.close()
    if st["kind"] == "job":
        open_jobs -= 1
    else:
        open_idle -= 1
    types = []
    buf, off = st["buf"], 0
    while len(buf) - off >= 8:
        t, ln = pyward.parse_header(bytes(buf[off:off + 8]))
        if len(buf) - off - 8 < ln:
            break
        types.append((t, bytes(buf[off + 8:off + 8 + ln])))
        off += 8 + ln
    res = [pyward.parse_result(p) for t, p in types if t == pyward.RESULT]
    if not res:
        n["closed_silently"] += 1
        return
    n["results"] += 1
    msg = res[0].get("message") or ""
    if "ConnectionsPerUser=" in msg:
        n["door"] += 1
    elif "not received within" in msg:
        n["deadline"] += 1
    elif st["kind"] == "job" and not st.get("accepted"):
        n["jobs_rejected"] += 1
    key = msg.split(":")[0][:60]
    messages[key] = messages.get(key, 0) + 1
start = time.monotonic()
end, min_end, next_check = start + cfg["seconds"], start + cfg["min_seconds"], 0.0
# With long jobs: they go first, and the idle flood starts once one of them runs (or after 5 s).
# Begun together, the 8 job connections raced HOLD idle ones for A's 16 connection shares and now
# and then none won in 30 s (seen once in 2 suites since the helper's activation got 30-45 ms
# shorter): A starving itself is fair, but then the scenario of the issue did not happen.
idle_from = start + 5 if cfg["jobs"] else start
while time.monotonic() < end:
    now = time.monotonic()
    # The test says B is done (and, with long jobs, one of them has started): the flood has served
    # its purpose.
    if now >= min_end and now >= next_check and (not cfg["jobs"] or n["jobs_started"]):
        next_check = now + 0.05
        if os.path.exists(cfg["stop"]):
            break
    while open_jobs < cfg["jobs"] and opened("job"):
        pass
    while (n["jobs_started"] or now >= idle_from) and open_idle < cfg["hold"] and opened("idle"):
        pass
    n["max_open"] = max(n["max_open"], open_idle + open_jobs)
    for key, ev in sel.select(0.001):
        s, st = key.fileobj, key.data
        if ev & selectors.EVENT_WRITE and st["out"]:
            try:
                del st["out"][:s.send(st["out"])]
            except BlockingIOError:
                pass
            except OSError:
                st["out"].clear()
            if not st["out"]:
                sel.modify(s, selectors.EVENT_READ, st)
        if ev & selectors.EVENT_READ:
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d:
                st["buf"] += d
                if st["kind"] == "job" and not st.get("accepted") and len(st["buf"]) >= 2 \
                        and st["buf"][0] | st["buf"][1] << 8 == pyward.ACCEPTED:
                    st["accepted"] = True
                    n["jobs_started"] += 1
            else:
                closed(s, st)
n["messages"] = messages
print(json.dumps(n))
'''


def cpu_ticks_of_pid1():
    with open("/proc/1/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, after the ")" of comm


def socket_prop(prop, unit="pyward.socket"):
    return sh("systemctl", "show", "-p", prop, "--value", unit).stdout.strip()


def door_cpu_ticks():
    """The front door's CPU time so far (utime + stime of pyward-door.service's main process)."""
    pid = socket_prop("MainPID", "pyward-door.service")
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(pid), int(fields[11]) + int(fields[12])


def held_files(directory, uid):
    """The slot/share files of uid that some process still holds flock() on."""
    return [path for path in glob.glob(f"{directory}/{uid}.*") if not path.endswith(".log") and flock_held(path)]


class TestFlood(PywardTestCase):
    def setUp(self):
        super().setUp()
        ensure_group("pyward")

    def b_jobs(self, b, count, strict=True):
        """B runs count jobs one after another with pyward(1); returns each one's seconds, and the
        failures (strict: there must be none)."""
        times, failures = [], []
        for i in range(count):
            t0 = time.monotonic()
            p = b.run([CLI, "-n", "-c", f"print('hi {i}')"], timeout=60)
            elapsed = time.monotonic() - t0
            outcome = (p.returncode, p.stdout, p.stderr)
            if strict:
                self.assertEqual(outcome, (0, f"hi {i}\n".encode(), b""), f"B's job {i} after {elapsed:.2f}s")
            if outcome == (0, f"hi {i}\n".encode(), b""):
                times.append(elapsed)
            else:
                failures.append(p.stderr.decode(errors="replace").strip())
        return times, failures

    def flood(self, a, b, jobs=0, label="idle flood", b_jobs=B_JOBS, seconds=FLOOD_SECONDS, min_seconds=0):
        """A floods while B runs b_jobs jobs (from 3 s into the flood until they are done, but for at
        least min_seconds and at most `seconds`); checks B and the cleanup afterwards and returns
        (B's times, the flooder's counts)."""
        path = "/run/pwflood-client.py"
        with open(path, "w") as f:
            f.write(FLOOD_PROG)
        os.chmod(path, 0o644)
        cfg = {"seconds": seconds, "hold": HOLD, "jobs": jobs, "job_seconds": LONG_JOB_SECONDS,
               "min_seconds": min_seconds, "stop": STOP_PATH}
        if os.path.exists(STOP_PATH):
            os.unlink(STOP_PATH)
        argv = [sys.executable, path, json.dumps(cfg)]
        accepted0 = int(socket_prop("NAccepted", "pyward-helper.socket"))
        door_pid, door0 = door_cpu_ticks()
        ticks0, t0 = cpu_ticks_of_pid1(), time.monotonic()
        proc = a.run(argv, wait=False) if a else subprocess.Popen(argv, stdout=subprocess.PIPE,
                                                                    stderr=subprocess.PIPE)
        try:
            time.sleep(3)  # the flood is at full strength before B starts, as in the issue
            # (Not assertIsNone(proc.poll(), f"...{proc.communicate()}"): that message is built
            # first, and communicate() waited for the whole flood, so B's jobs ran after it.)
            if proc.poll() is not None:
                self.fail(f"the flooder died: {proc.communicate()}")
            times, failures = self.b_jobs(b, b_jobs)
            b_done = time.monotonic() - t0
            with open(STOP_PATH, "w"):
                pass
            out, err = proc.communicate(timeout=seconds + 60)
        finally:
            if os.path.exists(STOP_PATH):
                os.unlink(STOP_PATH)
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        elapsed = time.monotonic() - t0
        self.assertEqual(proc.returncode, 0, err.decode(errors="replace"))
        counts = json.loads(out)
        accepted = int(socket_prop("NAccepted", "pyward-helper.socket")) - accepted0
        hz = os.sysconf("SC_CLK_TCK")
        pid1 = (cpu_ticks_of_pid1() - ticks0) / hz / elapsed
        pid, door1 = door_cpu_ticks()
        self.assertEqual(pid, door_pid, "the front door restarted during the flood")
        door = (door1 - door0) / hz / elapsed
        uid = a.uid if a else 0
        p50 = f"{statistics.median(times):.2f}s max {max(times):.2f}s" if times else "-"
        print(f"\n    [measured] {label} (systemd {systemd_version()}, {elapsed:.1f}s, B done after {b_done:.1f}s): "
              f"B p50 {p50} over {len(times)} jobs "
              f"{[round(t, 2) for t in times]}, {len(failures)} failed {sorted(set(failures))}; flooder: {counts}; "
              f"the door refused {counts['door'] / elapsed:.0f} connections/s at {door * 100:.0f}% of a core, "
              f"pyward-helper.socket activated {accepted / elapsed:.0f} helpers/s, PID 1 CPU {pid1 * 100:.0f}% of a core",
              file=sys.stderr, flush=True)
        self.assertLessEqual(max(times), B_JOB_MAX_SECONDS, times)
        # The flood was real: hundreds held at once, and the door turned the excess away.
        self.assertGreaterEqual(counts["max_open"], HOLD // 2, counts)
        self.assertGreater(counts["door"], 0, counts)
        if jobs:
            self.assertGreater(counts["jobs_started"], 0, counts)
        # Afterwards nothing of A's is left, and the socket still serves.
        if a:
            self.assertTrue(wait_for(lambda: not processes_of_uid(uid), 10), processes_of_uid(uid))
        self.assertTrue(wait_for(lambda: not job_units(), 20), job_units())
        # (Every helper's instance name ends in the door's UID, 0: B is done too, so none may be left.)
        left = wait_for(lambda: not [u for u in helper_units()
                                     if sh("systemctl", "is-active", u, check=False).stdout.strip()
                                     not in ("inactive", "failed", "unknown")], 20)
        self.assertTrue(left, helper_units())
        self.assertTrue(wait_for(lambda: not held_files(CONN_DIR, uid) and not held_files(SLOT_DIR, uid), 10),
                        (held_files(CONN_DIR, uid), held_files(SLOT_DIR, uid)))
        self.assertEqual(socket_prop("ActiveState"), "active")
        return times, counts

    def test_flood(self):
        with TempUser("pwflooda", groups=["pyward"]) as a, TempUser("pwfloodb", groups=["pyward"]) as b:
            ticks0, t0 = cpu_ticks_of_pid1(), time.monotonic()
            base, _ = self.b_jobs(b, B_BASELINE_JOBS)
            pid1 = (cpu_ticks_of_pid1() - ticks0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)
            print(f"\n    [measured] B without a flood: p50 {statistics.median(base):.2f}s "
                  f"max {max(base):.2f}s over {len(base)} jobs, PID 1 CPU {pid1 * 100:.0f}% of a core",
                  file=sys.stderr, flush=True)
            # The scenario whole: A floods for 30 s, B's jobs run in the first part of it.
            self.flood(a, b, label="idle flood of A", min_seconds=FLOOD_SECONDS)
            # A also runs long jobs up to its JobsPerUser= (8 by default) for the whole flood.
            # At least until A's first long jobs have ended and been started again.
            self.flood(a, b, jobs=8, label="idle flood and long jobs of A", min_seconds=LONG_JOB_SECONDS + 3)
            # Root has a share like everybody (README, security model): its flood is bounded too.
            self.flood(None, b, label="idle flood of root", b_jobs=10, seconds=15)
            p = b.run([CLI, "-n", "-c", "print('after')"], timeout=60)
            self.assertEqual((p.returncode, p.stdout), (0, b"after\n"), p.stderr)
            # And the flooder itself is served once its flood is over (the door forgot it: its
            # shares are given back and its refusals are not remembered past FRONT_DOOR_FULL_USEC).
            p = subprocess.run([CLI, "-n", "-c", "print('root after')"], capture_output=True, timeout=60)
            self.assertEqual((p.returncode, p.stdout), (0, b"root after\n"), p.stderr)
