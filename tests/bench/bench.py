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
import errno
import fcntl
import glob
import grp
import ipaddress
import json
import math
import os
import platform
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

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
VARIANTS = ["bare", "bwrap", "systemd-run", "pyward"]
RUN_TIMEOUT = 60  # seconds for any single job of any variant; over it counts as a failure
PHASES = [
    # name, start mark, end mark. SPAWN/CLIENT_EXIT: the benchmark starts the pyward CLI / sees it
    # exit; the others are the helper's PYWARD_T_* journal fields (CLOCK_MONOTONIC, usec).
    ("client start, connect, helper activation", "SPAWN", "ACCEPT"),
    ("config load", "ACCEPT", "CONFIG"),
    ("request read", "CONFIG", "REQUEST"),
    ("bus connect, Subscribe, Version", "REQUEST", "BUS"),
    ("StartTransientUnit round trip", "BUS", "START"),
    # The manager stamps ExecMainStartTimestamp when it forks the main process, so "EXEC" is the
    # fork: the sandbox (namespaces, tmpfs mounts, seccomp, user) is set up in the next phase.
    ("start job to fork", "START", "EXEC"),
    ("sandbox setup + Python run", "EXEC", "EXIT"),
    ("exit to result ready (unit state, GetAll)", "EXIT", "RESULT"),
    ("result to client exit", "RESULT", "CLIENT_EXIT"),
]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(f"error: {msg}")
    sys.exit(1)


def run(cmd, timeout=30, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        die(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, math.ceil(p / 100 * len(s)) - 1)
    return s[k]


def summary(values):
    if not values:
        return None
    return {"n": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "min": min(values), "max": max(values),
            "mean": sum(values) / len(values)}


def ms(x):
    return "n/a" if x is None else f"{x * 1000:.1f}"


def ratio(a, b):
    return None if not a or not b else a / b


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.2f}x"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = []
    for n, r in enumerate([header] + rows):
        cells = [str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


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


# --- the helper's properties, captured and converted for systemd-run ---------------------------

# D-Bus properties that systemd-run sets itself, or that only make sense for the helper's own job.
SKIP_PROPS = {
    "ExecStartEx": "systemd-run passes the command line itself (same interpreter and arguments)",
    "ExecStart": "systemd-run passes the command line itself",
    "StandardInputFileDescriptor": "systemd-run --pipe passes its own stdio",
    "StandardOutputFileDescriptor": "systemd-run --pipe passes its own stdio",
    "StandardErrorFileDescriptor": "systemd-run --pipe passes its own stdio",
    "AddRef": "systemd-run --wait sets AddRef itself",
    "Description": "cosmetic",
}
# D-Bus names whose unit file (systemd-run -p) name differs, with a value converter.
USEC_PROPS = {"RuntimeMaxUSec": "RuntimeMaxSec", "TimeoutStopUSec": "TimeoutStopSec",
              "RuntimeRandomizedExtraUSec": "RuntimeRandomizedExtraSec"}
UINT64_MAX = 2**64 - 1


def capture_helper_call():
    """Runs one pyward job while busctl monitor records the helper's StartTransientUnit() call;
    returns (unit name, [(property, dbus type, value)], {auxiliary unit: {property: value}})."""
    mon = subprocess.Popen(
        ["busctl", "monitor", "--json=short",
         "--match=type='method_call',interface='org.freedesktop.systemd1.Manager',"
         "member='StartTransientUnit'"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # busctl must have become a monitor before the call goes out
        r = run(["pyward", "-q", "-n", "-c", "pass"], timeout=RUN_TIMEOUT, check=False)
        if r.returncode != 0:
            die(f"a pyward job failed while capturing the helper's properties: {r.stderr.strip()}")
        time.sleep(0.5)
    finally:
        mon.send_signal(signal.SIGINT)
        try:
            out, err = mon.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            mon.kill()
            out, err = mon.communicate()
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("member") != "StartTransientUnit":
            continue
        data = msg["payload"]["data"]
        props = [(p[0], p[1]["type"], p[1]["data"]) for p in data[2]]
        aux = {a[0]: {p[0]: p[1]["data"] for p in a[1]} for a in data[3]}
        return data[0], props, aux
    die(f"busctl monitor saw no StartTransientUnit call of the helper (busctl: {err.strip()[:300]})")


def _strv(v):
    for s in v:
        if any(c.isspace() or c in "\"'\\" for c in s):
            die(f"cannot pass {s!r} through systemd-run -p (quoting not implemented)")
    return " ".join(v)


def _addresses(v):
    out = []
    for family, addr, prefix in v:
        ip = ipaddress.ip_address(bytes(addr))
        out.append(f"{ip}/{prefix}")
    return " ".join(out)


def props_to_systemd_run(props, aux):
    """Converts the helper's a(sv) to systemd-run options. Unknown properties are an error, so a
    change of the helper shows up here instead of silently diverging."""
    args, skipped, limits = [], {}, {}
    if aux:
        die(f"the helper creates auxiliary units this benchmark cannot mirror: {sorted(aux)}")
    for name, sig, v in props:
        if name in SKIP_PROPS:
            skipped[name] = SKIP_PROPS[name]
            continue
        if name in ("Requires", "Wants", "After", "Before", "BindsTo") and sig == "as":
            # The helper's unit (there is no helper under systemd-run) is dropped; any other
            # dependency is passed on.
            v = [u for u in v if not u.startswith("pyward@")]
            if not v:
                skipped[name] = "only the job's helper unit, which does not exist under systemd-run"
                continue
        if name in ("BindPaths", "BindReadOnlyPaths") and sig == "a(ssbt)":
            items = []
            for src, dst, ignore, flags in v:
                items.append(f"{'-' if ignore else ''}{src}:{dst}:{'rbind' if flags & 16384 else 'norbind'}")
            args.append(f"{name}={_strv(items)}")
            continue
        if name.startswith("Limit"):
            base = name[:-4] if name.endswith("Soft") else name
            limits.setdefault(base, {})["soft" if name.endswith("Soft") else "hard"] = v
            continue
        if sig == "b":
            args.append(f"{name}={'yes' if v else 'no'}")
        elif sig == "s":
            args.append(f"{name}={v}")
        elif name in USEC_PROPS:
            args.append(f"{USEC_PROPS[name]}={'infinity' if v == UINT64_MAX else f'{v}us'}")
        elif name == "CPUQuotaPerSecUSec":
            if v != UINT64_MAX:
                args.append(f"CPUQuota={v / 10000:g}%")
        elif name == "UMask":
            args.append(f"UMask={v:04o}")
        elif name == "SystemCallErrorNumber":
            args.append(f"SystemCallErrorNumber={errno.errorcode.get(v, str(v))}")
        elif name == "KillSignal":
            args.append(f"KillSignal={signal.Signals(v).name}")
        elif name in ("RestrictNamespaces",):
            if v != 0:
                die(f"{name}={v}: only 0 (no namespace allowed) is converted")
            args.append(f"{name}=yes")
        elif name in ("CapabilityBoundingSet", "AmbientCapabilities"):
            if v != 0:
                die(f"{name}={v}: only the empty set is converted")
            args.append(f"{name}=")
        elif sig in ("t", "u", "i", "x"):
            args.append(f"{name}={'infinity' if v == UINT64_MAX else v}")
        elif sig == "as":
            args.append(f"{name}={_strv(v)}")
        elif sig == "(bas)":
            allow, items = v
            args.append(f"{name}={'' if allow else '~'}{_strv(items)}")
        elif sig == "a(iayu)":
            args.append(f"{name}={_addresses(v)}")
        elif sig == "a(ss)":
            args.append(f"{name}=" + " ".join(f"{p}:{o}" for p, o in v))
        else:
            die(f"the helper sets {name} (type {sig}), which this benchmark cannot convert yet")
    for base, sh in limits.items():
        hard = sh.get("hard", sh.get("soft"))
        soft = sh.get("soft", hard)
        conv = lambda x: "infinity" if x == UINT64_MAX else str(x)  # noqa: E731
        args.append(f"{base}={conv(soft)}:{conv(hard)}" if soft != hard else f"{base}={conv(hard)}")
    out = []
    for a in args:
        out += ["-p", a]
    return out, skipped


def exec_argv(props):
    """The interpreter and its arguments from the helper's ExecStartEx (before -c BOOTSTRAP)."""
    for name, _sig, v in props:
        if name in ("ExecStartEx", "ExecStart"):
            path, argv = v[0][0], v[0][1]
            return path, argv[1:argv.index("-c")]
    die("the helper's call has no ExecStartEx/ExecStart")


# Properties compared between a running pyward job unit and a running systemd-run unit.
COMPARE = [
    "User", "Group", "DynamicUser", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
    "PrivateNetwork", "PrivateIPC", "PrivateUsers", "PrivatePIDs", "ProtectProc", "ProcSubset",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
    "ProtectClock", "ProtectHostname", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
    "LockPersonality", "NoNewPrivileges", "MemoryDenyWriteExecute", "CapabilityBoundingSet",
    "AmbientCapabilities", "RemoveIPC", "RestrictAddressFamilies", "IPAddressDeny", "IPAddressAllow",
    "InaccessiblePaths", "BindReadOnlyPaths", "TemporaryFileSystem", "SystemCallFilter",
    "SystemCallArchitectures", "SystemCallErrorNumber", "Slice", "MemoryAccounting", "MemoryMax",
    "MemorySwapMax", "TasksMax", "CPUQuotaPerSecUSec", "RuntimeMaxUSec", "LimitDATA", "LimitDATASoft",
    "LimitNPROC", "LimitNPROCSoft", "LimitFSIZE", "LimitNOFILE", "LimitNOFILESoft", "LimitCORE",
    "LimitCPU", "LimitCPUSoft", "KillMode", "KillSignal", "TimeoutStopUSec", "Environment",
    "WorkingDirectory", "UMask", "Type", "CollectMode",
]


def show(unit):
    r = run(["systemctl", "show", unit, "-p", ",".join(COMPARE)], check=False)
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def wait_unit_running(pattern, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run(["systemctl", "list-units", "--plain", "--no-legend", "--state=running", pattern],
                  check=False).stdout.split()
        if out:
            return out[0]
        time.sleep(0.05)
    return None


def verify_same_sandbox(sd_run_args, py, pyargs):
    """Runs a sleeping job each way and compares the two units' properties."""
    code = "import time; time.sleep(3)"
    pw = subprocess.Popen(["pyward", "-q", "-n", "-c", code], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    pw_unit = wait_unit_running("pyward-job-*.service")
    pw_props = show(pw_unit) if pw_unit else {}
    sr = subprocess.Popen(["systemd-run", "--pipe", "--wait", "--quiet", "--unit=pyward-bench-check",
                           *sd_run_args, "--", py, *pyargs, "-c", code],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    sr_unit = wait_unit_running("pyward-bench-check.service")
    sr_props = show(sr_unit) if sr_unit else {}
    pw.wait(timeout=RUN_TIMEOUT)
    _, sr_err = sr.communicate(timeout=RUN_TIMEOUT)
    if not pw_unit:
        die("no running pyward job unit seen while comparing properties")
    if not sr_unit or sr.returncode != 0:
        die(f"systemd-run with the helper's properties failed ({sr.returncode}): {sr_err.strip()}")
    # Each pyward job takes a user of the pool at random: the captured call named one, this job
    # another. Both must be pool users; which one does not matter.
    def same(k):
        a, b = pw_props.get(k), sr_props.get(k)
        if k in ("User", "Group"):
            return a == b or all(v and re.fullmatch(r"pyward-job[0-9]+", v) for v in (a, b))
        return a == b

    return {k: {"pyward": pw_props.get(k), "systemd-run": sr_props.get(k)} for k in COMPARE if not same(k)}


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
    def __init__(self, py, pyargs, sd_run_args, bwrap):
        self.py, self.pyargs, self.sd_run_args, self.bwrap = py, pyargs, sd_run_args, bwrap

    def argv(self, variant, code):
        python = [self.py, *self.pyargs, "-c", code]
        if variant == "bare":
            return python
        if variant == "bwrap":
            return self.bwrap + python if self.bwrap else None
        if variant == "systemd-run":
            return ["systemd-run", "--pipe", "--wait", "--quiet", *self.sd_run_args, "--", *python]
        if variant == "pyward":
            return ["pyward", "-q", "-n", "-c", code]
        raise ValueError(variant)

    @staticmethod
    def once(argv, expect, user=None):
        """Runs argv to completion; returns (ok, seconds, monotonic start, monotonic end, error)."""
        kw = {}
        if user is not None:
            kw = {"user": user, "group": user, "extra_groups": ["pyward"]}
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT, **kw)
        except subprocess.TimeoutExpired:
            t1 = time.monotonic()
            return False, t1 - t0, t0, t1, f"timed out after {RUN_TIMEOUT}s"
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
    samples = {c: [] for c in combos}
    failures = {c: [] for c in combos}
    pyward_trivial_runs = []
    for c in combos:  # warm-up (page cache, the manager's unit load path), not counted
        for _ in range(3):
            runner.once(runner.argv(c[1], JOBS[c[0]]), expect[c[0]])
    t_start = time.monotonic()
    for i in range(runs):
        k = i % len(combos)
        for job, variant in combos[k:] + combos[:k]:
            ok, dt, t0, t1, err = runner.once(runner.argv(variant, JOBS[job]), expect[job])
            if ok:
                samples[(job, variant)].append(dt)
                if job == "trivial" and variant == "pyward":
                    pyward_trivial_runs.append((t0, t1))
            else:
                failures[(job, variant)].append(err)
        if (i + 1) % max(1, runs // 10) == 0:
            log(f"latency: {i + 1}/{runs} rounds ({time.monotonic() - t_start:.0f} s)")
    res = {}
    for job, variant in combos:
        res.setdefault(job, {})[variant] = {"seconds": summary(samples[(job, variant)]),
                                            "failures": len(failures[(job, variant)]),
                                            "errors": failures[(job, variant)][:5]}
    return res, pyward_trivial_runs


def journal_records(since_monotonic_usec):
    """The helper's per-job journal records (PYWARD_JOB=) of this boot. One match on the helper's
    identifier: --unit=pyward@* expands to one term per helper instance, thousands after the scale
    run, and took over 120 s."""
    r = run(["journalctl", "-b", "-o", "json", "--no-pager", "--output-fields=" + ",".join(
        ["PYWARD_JOB", "PYWARD_STATUS", "PYWARD_T_ACCEPT", "PYWARD_T_REQUEST", "PYWARD_T_CONFIG",
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
    totals, matched = [], 0
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
            per_phase[name].append(marks[b] - marks[a])
    if not matched:
        return None
    return {"matched_runs": matched, "total_p50": percentile(totals, 50),
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
    bare, sdrun = runner.argv("bare", TRIVIAL), runner.argv("systemd-run", TRIVIAL)
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
            ok, dt, _t0, _t1, _err = Runner.once(sdrun, b"")
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
    samples = {k: [] for k in cells}
    failures = {k: [] for k in cells}
    names = list(cells)
    for i in range(runs):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            ok, dt, _t0, _t1, err = Runner.once(cells[name], b"")
            if ok:
                samples[name].append(dt)
            else:
                failures[name].append(err)
    res = {k: {"seconds": summary(samples[k]), "failures": len(failures[k]), "errors": failures[k][:5]}
           for k in cells}
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


# --- report --------------------------------------------------------------------------------------

def report(res):
    m, lat = res["machine"], res["latency"]
    lines = [f"pyward benchmark: {m['os']}, {m['systemd']}, kernel {m['kernel']}, {m['cpus']} CPUs, "
             f"Python {m['python']} ({m['virtualization']})",
             f"interpreter: {' '.join([res['interpreter']] + res['interpreter_args'])}; "
             f"{res['params']['runs']} interleaved runs per cell", ""]
    rows = []
    for job in JOBS:
        for v in VARIANTS:
            cell = lat.get(job, {}).get(v)
            if cell is None:
                rows.append([f"{job:8} {v}", "n/a (bwrap not in image)" if v == "bwrap" else "n/a", "", "", ""])
                continue
            s = cell["seconds"] or {}
            rows.append([f"{job:8} {v}", ms(s.get("p50")), ms(s.get("p90")), ms(s.get("p99")),
                         str(cell["failures"])])
    lines += ["Latency (ms)", table(rows, ["job / variant", "p50", "p90", "p99", "failures"]), ""]
    rrows = [[k, fmt_ratio(res["ratios"][k].get("trivial")), fmt_ratio(res["ratios"][k].get("real"))]
             for k in res["ratios"]]
    lines += ["Ratios of p50", table(rrows, ["ratio", "trivial", "real job"]), ""]
    ph = res.get("phases")
    if ph:
        prow = [[n, ms(v["p50"]), ms(v["p90"])] for n, v in ph["phases"].items()]
        prow.append(["sum of p50s / p50 of total", ms(sum(v["p50"] for v in ph["phases"].values())),
                     ms(ph["total_p50"])])
        lines += [f"Where pyward's time goes (trivial job, {ph['matched_runs']} runs, ms)",
                  table(prow, ["phase", "p50", "p90"]), ""]
    else:
        lines += ["Where pyward's time goes: n/a (the helper logs no PYWARD_T_* timing fields)", ""]
    th = res.get("throughput")
    if th:
        trow = [[v["clients"], f"{v['jobs_per_second']:.1f}", v["jobs"], v["failures"],
                 ms((v["latency"] or {}).get("p50")), f"{v['seconds']:.0f}"] for v in th.values()]
        lines += ["Throughput (trivial job, pyward CLI, one UID per client)",
                  table(trow, ["clients", "jobs/s", "jobs", "failures", "p50 ms", "s"]), ""]
    sc = res.get("scale")
    if sc:
        w = sc["window"]
        lines += [f"Scale: {sc['jobs']} sequential jobs, {sc['failures']} failures; p50 jobs 1-{w}: "
                  f"{ms(sc['first_p50'])} ms, jobs {sc['jobs'] - w + 1}-{sc['jobs']}: {ms(sc['last_p50'])} ms "
                  f"({fmt_ratio(sc['last_over_first'])})",
                  f"  controls, same windows: bare Python {fmt_ratio(sc['control_bare']['last_over_first'])}, "
                  f"systemd-run (every 10th job) {fmt_ratio(sc['control_systemd_run']['last_over_first'])}",
                  "  leftovers afterwards: " + ", ".join(f"{k} {v}" for k, v in sc["leftover_counts"].items())
                  + f" (slot files before the run: {sc['slot_files_before']}; reused, one per UID and slot)", ""]
    co = res.get("collect")
    if co:
        crow = [[k, ms((v["seconds"] or {}).get("p50")), ms((v["seconds"] or {}).get("p90")), str(v["failures"])]
                for k, v in co.items() if k not in ("adds_p50", "return_adds_p50")]
        lines += ["Returning files (10 x 1 MiB in the working directory; pyward CLI)",
                  table(crow, ["job", "p50", "p90", "failures"]),
                  f"  writing and returning the files adds {ms(co['adds_p50'])} ms to the trivial job's p50; "
                  f"returning them alone (--collect against the same job without it) {ms(co.get('return_adds_p50'))} ms",
                  ""]
    mem = res.get("memory")
    if mem:
        s, lg = mem["helper_vmhwm_kb_sampled"], mem["helper_peak_rss_kb_logged"]
        lines.append("Memory: helper peak RSS per connection: "
                     + (f"p50 {s['p50']} KiB, max {s['max']} KiB (VmHWM sampled, {s['n']} helpers)" if s else "n/a")
                     + (f"; VmHWM logged by the helper p50 {lg['p50']} KiB, max {lg['max']} KiB ({lg['n']} helpers)" if lg else ""))
        lines.append(f"idle (no connection): {mem['idle_processes']} processes in pyward units, "
                     f"socket {mem['socket'].get('ActiveState', '?')}")
        lines.append("")
    t = res["targets"]
    lines.append("Targets (reported, not tests):")
    for k, v in t.items():
        lines.append(f"  {'MET ' if v['met'] else 'MISS' if v['met'] is False else 'n/a '} {k}: {v['value']}")
    return "\n".join(lines)


def targets(res):
    r = res["ratios"]["pyward / systemd-run"].get("trivial")
    th = res.get("throughput", {}).get("16")
    sc = res.get("scale")
    co = res.get("collect")
    return {
        "pyward p50 <= 1.15x systemd-run (trivial job)": {
            "value": fmt_ratio(r), "met": None if r is None else r <= 1.15},
        "0 failures at concurrency 16": {
            "value": "n/a" if not th else f"{th['failures']} failures",
            "met": None if not th else th["failures"] == 0},
        "late jobs p50 <= 1.1x early jobs": {
            "value": "n/a" if not sc else fmt_ratio(sc["last_over_first"]),
            "met": None if not sc or sc["last_over_first"] is None else sc["last_over_first"] <= 1.1},
        "returning 10 x 1 MiB adds <= 50 ms to a trivial job's p50": {
            "value": "n/a" if not co or co["adds_p50"] is None else f"{co['adds_p50'] * 1000:.1f} ms",
            "met": None if not co or co["adds_p50"] is None else co["adds_p50"] <= 0.050},
        "no leftovers after the scale run": {
            "value": "n/a" if not sc else ", ".join(f"{k} {v}" for k, v in sc["leftover_counts"].items()),
            "met": None if not sc else not any(v for k, v in sc["leftover_counts"].items()
                                                if k != "slot_files")},
    }


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
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    args = ap.parse_args()
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
                      "scale": args.scale}, "jobs": JOBS}
    log(f"{res['machine']['os']}, {res['machine']['systemd']}, {res['machine']['cpus']} CPUs")

    unit, props, aux = capture_helper_call()
    py, pyargs = exec_argv(props)
    sd_args, skipped = props_to_systemd_run(props, aux)
    res.update(interpreter=py, interpreter_args=pyargs, helper_properties=[[n, s, v] for n, s, v in props],
               helper_auxiliary_units=aux,
               systemd_run_args=sd_args, properties_not_passed=skipped)
    diffs = verify_same_sandbox(sd_args, py, pyargs)
    res["property_differences"] = diffs
    if diffs:
        log("the systemd-run unit differs from the pyward job unit in: " + ", ".join(diffs))
    log(f"captured {len(props)} properties from {unit}; systemd-run gets {len(sd_args) // 2} of them")

    bw = bwrap_argv()
    runner = Runner(py, pyargs, sd_args, bw)
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

    log(f"latency: {args.runs} rounds of {len(JOBS)} jobs x {len(VARIANTS)} variants")
    res["latency"], pyward_runs = measure_latency(runner, args.runs, expect)
    p50 = lambda j, v: ((res["latency"].get(j, {}).get(v) or {}).get("seconds") or {}).get("p50")  # noqa: E731
    res["ratios"] = {
        name: {j: ratio(p50(j, a), p50(j, b)) for j in JOBS}
        for name, a, b in [("pyward / systemd-run", "pyward", "systemd-run"), ("pyward / bare", "pyward", "bare"),
                           ("bwrap / bare", "bwrap", "bare"), ("systemd-run / bare", "systemd-run", "bare")]}
    res["phases"] = phase_breakdown(pyward_runs, journal_records(since_usec))
    if args.collect_runs:
        log(f"collect: {args.collect_runs} rounds of 3 jobs")
        res["collect"] = measure_collect(args.collect_runs)

    if levels:
        users = make_users(max(levels))
        res["throughput"] = measure_throughput(runner, levels, args.duration, users)
    if args.scale:
        res["scale"] = measure_scale(runner, args.scale)
    res["memory"] = measure_memory(args.memory_runs, since_usec)
    res["targets"] = targets(res)
    res["elapsed_seconds"] = time.time() - started
    res["machine"]["loadavg_at_end"] = os.getloadavg()

    print(report(res), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
