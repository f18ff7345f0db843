#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# pyward's benchmark, run as root inside a booted test machine (scripts/bench boots it): latency of
# bare/bwrap/systemd-run/pyward, pyward's phases, throughput, scale and leaks, helper memory. Stdlib only.
"""Measures what a pyward job costs next to the alternatives, on one machine, in one run.

Every comparison is interleaved (round robin, rotating the start) so that drift on a shared machine
hits every variant alike; ratios of one run are what to read, absolute times vary between machines.
The systemd-run variant gets the exact property list that the real helper sent in its
StartTransientUnit() call in this machine (captured with busctl monitor), and the unit that results
is compared with a pyward job unit property by property; nothing is copied by hand.
"""

import argparse
import fcntl
import glob
import itertools
import json
import os
import platform
import pwd
import shutil
import subprocess
import sys
import threading
import time

import bench_peer
import bench_warm
from bench_common import RUN_TIMEOUT, cell_results, die, log, percentile, ratio, round_robin, run, summary
from bench_report import report, targets
from bench_sandbox import capture_helper_call, exec_argv, for_unit, props_to_systemd_run, verify_same_sandbox
from bench_session import measure_session
from bench_view import measure_view

SOCKET = "/run/pyward/pyward.sock"
TRIVIAL = "pass"
# The "real" job: JSON and regular expressions, some tens of ms of pure CPU work.
REAL = (
    "import json, re\n"
    "rows = [{'id': i, 'name': 'item-%d' % i, 'tags': ['x', 'y', str(i % 7)], 'score': i * 0.5}"
    " for i in range(3000)]\n"
    "back = json.loads(json.dumps(rows))\n"
    "pat = re.compile(r'\"name\": \"item-(\\d*7)\"')\n"
    "hits = sum(len(pat.findall(json.dumps(back))) for _ in range(8))\n"
    "print(len(back), hits)\n"
)
JOBS = {"trivial": TRIVIAL, "real": REAL}
# The files job: ten files of 1 MiB in the working directory, returned with --collect (COLLECT).
FILES_OUT = ("for i in range(10):\n"
             "    with open('out%d.bin' % i, 'wb') as f:\n"
             "        f.write(b'x' * 1048576)\n")
# bwrap: namespaces only; bare-runner and bwrap-hardened: bench_peer's.
VARIANTS = ["bare", "bare-runner", "bwrap", "bwrap-hardened", "systemd-run", "pyward"]
# What --only selects; phases come with latency, the view row is bench_view's.
SECTIONS = ["latency", "view", "collect", "session", "throughput", "scale", "memory", "warm"]
PHASES = [
    # name, start mark, end mark. SPAWN/CLIENT_EXIT: the benchmark starts the pyward CLI / sees it
    # exit; the others are the helper's PYWARD_T_* journal fields (CLOCK_MONOTONIC, usec), each
    # named for what lies between the two marks (pyward-helper(8), JOURNAL FIELDS).
    ("client start, connect, activation, helper exec", "SPAWN", "MAIN"),
    ("helper set-up: Landlock, door, bus socket", "MAIN", "BUS_OPEN"),
    ("connection state", "BUS_OPEN", "ACCEPT"),
    ("config load", "ACCEPT", "CONFIG"),
    ("lockdown, request read", "CONFIG", "REQUEST"),
    ("admission, job user, bus auth + Hello, Subscribe, Version", "REQUEST", "BUS"),
    ("StartTransientUnit round trip", "BUS", "START"),
    # The manager stamps ExecMainStartTimestamp when it forks the main process, so "EXEC" is the
    # fork: the sandbox (namespaces, tmpfs mounts, seccomp, user) is set up in the next phase.
    # START and EXEC have no fixed order (the reply travels through the bus while the manager
    # forks): this phase may be negative by a few ms, and only this one.
    ("start reply to fork", "START", "EXEC"),
    ("sandbox setup + Python run", "EXEC", "EXIT"),
    ("exit to result ready (unit state, GetAll)", "EXIT", "RESULT"),
    ("result to client exit", "RESULT", "CLIENT_EXIT"),
]
# The phases whose marks come from two processes with no fixed order (see above).
UNORDERED_PHASES = {"start reply to fork"}
# The phases tile the client's run, so that they add up to it: each starts where the last ended.
assert [p[1] for p in PHASES[1:]] == [p[2] for p in PHASES[:-1]], "PHASES leave a gap"
assert PHASES[0][1] == "SPAWN" and PHASES[-1][2] == "CLIENT_EXIT", "PHASES do not span the run"




# --- the machine --------------------------------------------------------------------------------

def machine_info():
    osr = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                osr[k] = v.strip('"')
    except OSError:
        pass
    sd = run(["systemctl", "--version"]).stdout.splitlines()[0]
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {
        "os": osr.get("PRETTY_NAME", "unknown"),
        "kernel": platform.release(),
        "systemd": sd,
        "systemd_version": int(sd.split()[1]) if len(sd.split()) > 1 and sd.split()[1].isdigit() else 0,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "virtualization": run(["systemd-detect-virt"], check=False).stdout.strip() or "none",
        "loadavg_at_start": os.getloadavg(),
    }


def wait_socket(timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(SOCKET):
        if time.monotonic() > deadline:
            die(f"{SOCKET} does not exist: is pyward.socket running?")
        time.sleep(0.1)



# --- the four ways to run one job ---------------------------------------------------------------

def bwrap_argv():
    if not shutil.which("bwrap"):
        return None
    a = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
         "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            a += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            a += ["--ro-bind", d, d]
    return a + ["--"]


class Runner:
    def __init__(self, py, pyargs, sd_run_args, bwrap, unit):
        self.py, self.pyargs, self.sd_run_args, self.bwrap = py, pyargs, sd_run_args, bwrap
        self.unit, self.units = unit, itertools.count()  # the captured unit's name; ours

    def argv(self, variant, code, sd_run_args=None):
        """The command of one job; sd_run_args: other properties for systemd-run (bench_view)."""
        python = [self.py, *self.pyargs, "-c", code]
        if variant == "bare":
            return python
        if variant == "bwrap":
            return self.bwrap + python if self.bwrap else None
        if variant in bench_peer.VARIANTS:
            return bench_peer.PEER.argv(variant, python[:-2], code)
        if variant == "systemd-run":
            # A unit name of its own for each job, which its properties name where the helper's
            # named the captured unit.
            name = f"pyward-bench-{next(self.units)}.service"
            sd_run_args = for_unit(self.sd_run_args if sd_run_args is None else sd_run_args, self.unit, name)
            return ["systemd-run", f"--unit={name}", "--pipe", "--wait", "--quiet", *sd_run_args, "--", *python]
        if variant == "pyward":
            return ["pyward", "-q", "-n", "-c", code]
        raise ValueError(variant)

    @staticmethod
    def once(argv, expect, user=None):
        """Runs argv to completion; returns (ok, seconds, monotonic start, monotonic end, error)."""
        kw = {}
        if user is not None:
            kw = {"user": user, "group": user, "extra_groups": ["pyward"]}
        argv, kw["pass_fds"] = bench_peer.open_fds(argv)  # bwrap-hardened's seccomp filter
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT, **kw)
        except subprocess.TimeoutExpired:
            t1 = time.monotonic()
            return False, t1 - t0, t0, t1, f"timed out after {RUN_TIMEOUT}s"
        finally:
            for fd in kw["pass_fds"]:
                os.close(fd)
        t1 = time.monotonic()
        if r.returncode != 0:
            return False, t1 - t0, t0, t1, f"exit {r.returncode}: {r.stderr.decode(errors='replace').strip()[-300:]}"
        if r.stdout != expect:
            return False, t1 - t0, t0, t1, f"unexpected output {r.stdout[:100]!r}"
        return True, t1 - t0, t0, t1, None


# --- measurements --------------------------------------------------------------------------------

def measure_latency(runner, runs, expect):
    variants = [v for v in VARIANTS if runner.argv(v, TRIVIAL) is not None]
    combos = [(j, v) for j in JOBS for v in variants]
    pyward_trivial_runs = []
    for c in combos:  # warm-up (page cache, the manager's unit load path), not counted
        for _ in range(3):
            runner.once(runner.argv(c[1], JOBS[c[0]]), expect[c[0]])

    def once(c):
        r = runner.once(runner.argv(c[1], JOBS[c[0]]), expect[c[0]])
        if r[0] and c == ("trivial", "pyward"):
            pyward_trivial_runs.append(r[2:4])
        return r

    cells = cell_results(*round_robin(combos, runs, once, label="latency"))
    res = {}
    for (job, variant), cell in cells.items():
        res.setdefault(job, {})[variant] = cell
    return res, pyward_trivial_runs


def journal_records(since_monotonic_usec):
    """The helper's per-job journal records (PYWARD_JOB=) of this boot. One match on the helper's
    identifier: --unit=pyward@* expands to one term per helper instance, thousands after the scale
    run, and took over 120 s."""
    r = run(["journalctl", "-b", "-o", "json", "--no-pager", "--output-fields=" + ",".join(
        ["PYWARD_JOB", "PYWARD_STATUS", "PYWARD_T_MAIN", "PYWARD_T_BUS_OPEN", "PYWARD_T_ACCEPT", "PYWARD_T_REQUEST", "PYWARD_T_CONFIG",
         "PYWARD_T_BUS", "PYWARD_T_START", "PYWARD_T_EXEC", "PYWARD_T_EXIT", "PYWARD_T_RESULT", "PYWARD_HELPER_PEAK_RSS_KB",
         "_SYSTEMD_UNIT"]), "SYSLOG_IDENTIFIER=pyward-helper"], timeout=600, check=False)
    recs = []
    for line in r.stdout.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if "PYWARD_JOB" not in e or int(e.get("__MONOTONIC_TIMESTAMP", "0")) < since_monotonic_usec:
            continue
        recs.append(e)
    return recs


def phase_breakdown(pyward_runs, records):
    """Matches each timed pyward run (client spawn/exit) with the helper record whose ACCEPT lies
    inside it, and returns the p50 of each phase."""
    timed = []
    for e in records:
        if "PYWARD_T_ACCEPT" in e:
            try:
                timed.append({k[len("PYWARD_T_"):]: int(v) / 1e6 for k, v in e.items()
                              if k.startswith("PYWARD_T_")})
            except ValueError:
                continue
    if not timed:
        return None
    timed.sort(key=lambda t: t["ACCEPT"])
    per_phase = {p[0]: [] for p in PHASES}
    totals, matched, negative = [], 0, {}
    j = 0
    for t0, t1 in sorted(pyward_runs):
        while j < len(timed) and timed[j]["ACCEPT"] < t0:
            j += 1
        if j >= len(timed) or timed[j]["ACCEPT"] > t1:
            continue
        marks = dict(timed[j], SPAWN=t0, CLIENT_EXIT=t1)
        if not all(m in marks for p in PHASES for m in p[1:]):
            continue
        matched += 1
        totals.append(t1 - t0)
        for name, a, b in PHASES:
            d = marks[b] - marks[a]
            per_phase[name].append(d)
            if d < 0 and name not in UNORDERED_PHASES:
                negative[name] = negative.get(name, 0) + 1
    if not matched:
        return None
    return {"matched_runs": matched, "total_p50": percentile(totals, 50),
            "negative": negative,
            "phases": {n: {"p50": percentile(v, 50), "p90": percentile(v, 90)} for n, v in per_phase.items()}}


def make_users(n):
    users = []
    for i in range(n):
        name = f"pwbench{i}"
        try:
            pwd.getpwnam(name)
        except KeyError:
            run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 "--user-group", "--groups", "pyward", name])
        users.append(name)
    return users


def measure_throughput(runner, levels, duration, users):
    res = {}
    argv = runner.argv("pyward", TRIVIAL)
    for conc in levels:
        stop = time.monotonic() + duration
        lock = threading.Lock()
        lat, errors = [], []

        def client(user):
            while time.monotonic() < stop:
                ok, dt, _t0, _t1, err = Runner.once(argv, b"", user=user)
                with lock:
                    (lat.append(dt) if ok else errors.append(err))

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(users[i % len(users)],)) for i in range(conc)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        res[str(conc)] = {"clients": conc, "seconds": elapsed, "jobs": len(lat), "failures": len(errors),
                          "jobs_per_second": len(lat) / elapsed, "latency": summary(lat),
                          "errors": sorted(set(errors))[:5]}
        log(f"throughput: {conc} clients: {len(lat) / elapsed:.1f} jobs/s, {len(errors)} failures")
    return res


def pyward_processes():
    """PIDs (other than ours) whose cgroup belongs to a pyward unit: helpers or jobs."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        if "/pyward" in cg:
            pids.append(int(p))
    return pids


def leftovers():
    units = run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward-job-*",
                 "pyward@*"], check=False).stdout.split("\n")
    units = [u.split()[0] for u in units if u.strip()]
    # Users of the job pool still held: a helper keeps flock() on /run/pyward/slots/user.K for
    # its job (we take and drop it at once; a helper meanwhile takes another user).
    held = []
    for path in glob.glob("/run/pyward/slots/user.*"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(os.path.basename(path))
        finally:
            os.close(fd)
    private = []
    for d in ("/tmp", "/var/tmp"):
        try:
            private += [os.path.join(d, e) for e in os.listdir(d)
                        if e.startswith("systemd-private-") and "pyward" in e]
        except OSError:
            pass
    # The slot files (/run/pyward/slots/UID.K, and the connection shares in slots/conns/) are
    # reused lock files, at most JobsPerUser (ConnectionsPerUser=) per UID that ever connected:
    # counted apart. The jobs' /etc trees (/run/pyward/etc-view) are prepared
    # once for all jobs, not left by one. Anything else under /run/pyward would be a job's.
    job_files, slots = [], []
    for root, dirs, files in os.walk("/run/pyward"):
        if root == "/run/pyward" and "etc-view" in dirs:
            dirs.remove("etc-view")
        for f in files:
            path = os.path.join(root, f)
            if path != SOCKET:
                (slots if root in ("/run/pyward/slots", "/run/pyward/slots/conns") else job_files).append(path)
    return {"units": units, "job_users_held": held,
            "private_tmp_dirs": private, "job_files": job_files, "processes": pyward_processes(),
            "slot_files": slots}


def wait_settled(timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lo = leftovers()
        if not lo["units"] and not lo["processes"] and not lo["job_users_held"]:
            return lo
        time.sleep(0.2)
    return leftovers()


def measure_scale(runner, n):
    """n sequential pyward jobs; p50 of the first vs the last window. The run is not interleaved, so
    two controls run beside it: bare Python after every job and systemd-run after every tenth, to
    tell a slowdown of pyward from one of the machine (load of other tenants) or of the manager."""
    argv = runner.argv("pyward", TRIVIAL)
    bare = runner.argv("bare", TRIVIAL)
    lat, fails, ctl_bare, ctl_sdrun = [], [], [], []
    slots_before = len(leftovers()["slot_files"])
    t_start = time.monotonic()
    for i in range(n):
        ok, dt, _t0, _t1, err = Runner.once(argv, b"")
        lat.append(dt if ok else None)
        if not ok:
            fails.append(err)
        ok, dt, _t0, _t1, _err = Runner.once(bare, b"")
        ctl_bare.append(dt if ok else None)
        if i % 10 == 0:
            ok, dt, _t0, _t1, _err = Runner.once(runner.argv("systemd-run", TRIVIAL), b"")
            ctl_sdrun.append(dt if ok else None)
        if (i + 1) % max(1, n // 10) == 0:
            log(f"scale: {i + 1}/{n} jobs ({time.monotonic() - t_start:.0f} s)")
    w = max(1, min(100, n // 20))

    def early_late(values, window):
        first = [x for x in values[:window] if x is not None]
        last = [x for x in values[-window:] if x is not None]
        a = percentile(first, 50) if first else None
        b = percentile(last, 50) if last else None
        return a, b, ratio(b, a)

    p_first, p_last, growth = early_late(lat, w)
    lo = wait_settled()
    return {"jobs": n, "window": w, "failures": len(fails), "errors": sorted(set(fails))[:5],
            "first_p50": p_first, "last_p50": p_last, "last_over_first": growth,
            "control_bare": dict(zip(("first_p50", "last_p50", "last_over_first"), early_late(ctl_bare, w))),
            "control_systemd_run": dict(zip(("first_p50", "last_p50", "last_over_first"),
                                            early_late(ctl_sdrun, max(1, w // 10)))),
            "slot_files_before": slots_before,
            "leftovers": lo,
            "leftover_counts": {k: len(v) for k, v in lo.items()}}


def measure_collect(runs):
    """What returning files adds: interleaved p50 of pyward -c pass, of the files job without
    COLLECT (written, not returned) and with --collect (10 MiB over the socket, then dropped)."""
    cells = {"trivial": ["pyward", "-q", "-n", "-c", TRIVIAL],
             "files, not collected": ["pyward", "-q", "-n", "-c", FILES_OUT],
             "files, --collect": ["pyward", "-q", "-n", "--collect", "-c", FILES_OUT]}
    res = cell_results(*round_robin(list(cells), runs, lambda name: Runner.once(cells[name], b"")))
    p50 = {k: (res[k]["seconds"] or {}).get("p50") for k in cells}
    t, n, c = p50["trivial"], p50["files, not collected"], p50["files, --collect"]
    # Against the trivial job: writing the files and returning them (the target's measure);
    # against the same job without --collect: returning them alone.
    res["adds_p50"] = None if t is None or c is None else c - t
    res["return_adds_p50"] = None if n is None or c is None else c - n
    return res


def helper_pids():
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == "pyward-helper":
                        pids.append(int(p))
            except OSError:
                pass
    return pids


def vmhwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measure_memory(n, since_usec):
    """Peak RSS of the helper of one connection: sampled VmHWM while a job sleeps (and, when the
    helper logs it, its own VmHWM at exit); then the idle footprint with no connection."""
    sampled = []
    for _ in range(n):
        p = subprocess.Popen(["pyward", "-q", "-n", "-c", "import time; time.sleep(0.5)"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = {}
        while p.poll() is None:
            for pid in helper_pids():
                v = vmhwm_kb(pid)
                if v:
                    peak[pid] = max(peak.get(pid, 0), v)
            time.sleep(0.01)
        sampled += list(peak.values())
    logged = [int(e["PYWARD_HELPER_PEAK_RSS_KB"]) for e in journal_records(since_usec)
              if e.get("PYWARD_HELPER_PEAK_RSS_KB", "").isdigit()]
    idle = wait_settled()
    sock = run(["systemctl", "show", "pyward.socket", "-p", "ActiveState,NConnections,NAccepted"],
               check=False).stdout
    return {"helper_vmhwm_kb_sampled": summary(sampled), "helper_peak_rss_kb_logged": summary(logged),
            "idle_processes": len(idle["processes"]), "idle_units": idle["units"],
            "socket": dict(l.split("=", 1) for l in sock.split() if "=" in l)}




def main():
    ap = argparse.ArgumentParser(description="pyward's benchmark; run as root inside a test machine "
                                 "(scripts/bench does that).")
    ap.add_argument("--runs", type=int, default=200, help="interleaved runs per latency cell (default 200)")
    ap.add_argument("--duration", type=float, default=30, help="seconds per throughput level (default 30)")
    ap.add_argument("--concurrency", default="1,4,16", help="throughput levels (default 1,4,16)")
    ap.add_argument("--scale", type=int, default=2000, help="sequential jobs of the scale run (default 2000)")
    ap.add_argument("--collect-runs", type=int, default=50,
                    help="interleaved runs per cell of the files measurement (default 50; 0: none)")
    ap.add_argument("--memory-runs", type=int, default=10, help="helpers whose peak RSS is sampled")
    ap.add_argument("--session-runs", type=int, default=500,
                    help="interleaved rounds of the trivial cells over one session (default 500; 0: none)")
    ap.add_argument("--session-first-runs", type=int, default=30,
                    help="sessions whose first cell is timed, beside as many one-shot jobs (default 30)")
    ap.add_argument("--view-runs", type=int, help="interleaved runs per variant of the view row (default: --runs)")
    ap.add_argument("--only", metavar="SECTIONS", default=",".join(SECTIONS),
                    help=f"the sections to run, comma-separated (default: all of {','.join(SECTIONS)})")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    args = ap.parse_args()
    only = set(args.only.split(",")) - {""}
    if only - set(SECTIONS) or not only:
        ap.error(f"--only takes sections of {','.join(SECTIONS)}: not {','.join(sorted(only - set(SECTIONS)))}")
    view_runs = args.runs if args.view_runs is None else args.view_runs
    if os.getuid() != 0:
        die("must run as root inside a test machine")
    for tool in ("pyward", "systemd-run", "busctl", "journalctl"):
        if not shutil.which(tool):
            die(f"{tool} not found")
    levels = [int(x) for x in args.concurrency.split(",") if x]

    started = time.time()
    since_usec = int(time.monotonic() * 1e6)
    wait_socket()
    res = {"machine": machine_info(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "params": {"runs": args.runs, "duration": args.duration, "concurrency": levels,
                      "scale": args.scale, "view_runs": view_runs, "only": [s for s in SECTIONS if s in only]},
           "jobs": JOBS}
    log(f"{res['machine']['os']}, {res['machine']['systemd']}, {res['machine']['cpus']} CPUs")

    unit, props, aux = capture_helper_call()
    py, pyargs = exec_argv(props)
    sd_args, skipped = props_to_systemd_run(props, aux)
    res.update(interpreter=py, interpreter_args=pyargs, helper_properties=[[n, s, v] for n, s, v in props],
               helper_auxiliary_units=aux,
               systemd_run_args=sd_args, properties_not_passed=skipped)
    diffs = verify_same_sandbox(sd_args, py, pyargs, unit)
    res["property_differences"] = diffs
    if diffs:
        log("the systemd-run unit differs from the pyward job unit in: " + ", ".join(diffs))
    log(f"captured {len(props)} properties from {unit}; systemd-run gets {len(sd_args) // 2} of them")

    bw = bwrap_argv()
    runner = Runner(py, pyargs, sd_args, bw, unit)
    expect = {}
    for job, code in JOBS.items():
        r = subprocess.run(runner.argv("bare", code), capture_output=True, timeout=RUN_TIMEOUT)
        if r.returncode != 0:
            die(f"the {job} job fails bare: {r.stderr.decode(errors='replace')}")
        expect[job] = r.stdout
    if bw:
        r = subprocess.run(runner.argv("bwrap", TRIVIAL), capture_output=True, timeout=RUN_TIMEOUT)
        if r.returncode != 0:
            log(f"bwrap does not work here ({r.stderr.decode(errors='replace').strip()}); no bwrap row")
            runner.bwrap = None
    res["bwrap"] = runner.bwrap and " ".join(runner.bwrap)
    res["peer"] = bench_peer.PEER.setup(props, runner.bwrap, lambda v: runner.argv(v, TRIVIAL), expect["trivial"])

    if "latency" in only:
        log(f"latency: {args.runs} rounds of {len(JOBS)} jobs x {len(VARIANTS)} variants")
        res["latency"], pyward_runs = measure_latency(runner, args.runs, expect)
        p50 = lambda j, v: ((res["latency"].get(j, {}).get(v) or {}).get("seconds") or {}).get("p50")  # noqa: E731
        res["ratios"] = {
            name: {j: ratio(p50(j, a), p50(j, b)) for j in JOBS}
            for name, a, b in [("pyward / systemd-run", "pyward", "systemd-run"), ("pyward / bare", "pyward", "bare"),
                               ("bwrap (namespaces only) / bare", "bwrap", "bare"),
                               ("bwrap-hardened / bare", "bwrap-hardened", "bare"),
                               ("pyward / bwrap-hardened", "pyward", "bwrap-hardened"),
                               ("systemd-run / bare", "systemd-run", "bare"),
                               ("bare-runner / bare: the runner's bootstrap", "bare-runner", "bare"),
                               ("pyward / bare-runner: pyward less its runner", "pyward", "bare-runner")]}
        res["phases"] = phase_breakdown(pyward_runs, journal_records(since_usec))
    if "view" in only and view_runs:
        res["view"] = measure_view(runner, props, aux, view_runs, TRIVIAL, expect["trivial"])
    if "collect" in only and args.collect_runs:
        log(f"collect: {args.collect_runs} rounds of 3 jobs")
        res["collect"] = measure_collect(args.collect_runs)

    if "session" in only and args.session_runs:
        res["session"] = measure_session(args.session_runs, args.session_first_runs)

    if "throughput" in only and levels:
        users = make_users(max(levels))
        res["throughput"] = measure_throughput(runner, levels, args.duration, users)
    if "scale" in only and args.scale:
        res["scale"] = measure_scale(runner, args.scale)
    if "memory" in only:
        res["memory"] = measure_memory(args.memory_runs, since_usec)
    if "warm" in only:  # last: its pool and profiles must not reach the other sections
        res["warm"] = bench_warm.measure_warm(runner, args.runs, JOBS, expect, make_users)
    res["targets"] = targets(res)
    res["elapsed_seconds"] = time.time() - started
    res["machine"]["loadavg_at_end"] = os.getloadavg()
    res["machine"]["cpus_at_end"] = os.cpu_count()  # a machine hot-plugged mid-run would skew the ratios

    print(report(res, VARIANTS), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
