#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's paths row (#21): how a job that hits a limit ends, and how long that takes. The
# timeout and CPU-limit paths: a busy loop under a 1 s wall-clock or CPU-time limit, from the
# client's start to its exit, with the status the client reports and its exit code. The kill path:
# the client killed while its job runs, until the job's and the helper's units are gone. The OOM
# path needs the memory controller in the job's cgroup, which a systemd-nspawn machine does not
# delegate: there it is n/a. Stdlib only.
import json
import math
import os
import subprocess
import time

from bench_common import RUN_TIMEOUT, log, ms, summary
from bench_repeat import q
from bench_spacing import SPACER, cgroups_left, units_left

WALL = 1.0  # seconds, the job's wall-clock limit (pyward -t)
TIMEOUT_CODE = "while True: pass"
OOM_MEMORY = "64M"
OOM_CODE = "b = bytearray(512 << 20)"  # touches 512 MiB: over the 64M limit
EXPECT = {"timeout": ("timeout", 124), "cpu-limit": ("cpu-limit", 124), "oom": ("oom", None)}
KILL_AFTER = 0.2  # seconds the job runs before its client is killed
RUNS_MAX = 10  # each timeout run takes over a second


def controllers(cgroup):
    try:
        with open(f"/sys/fs/cgroup/{cgroup}/cgroup.subtree_control") as f:
            return f.read().split()
    except OSError:
        return None


def measure_path(name, argv, runs):
    """runs spaced runs of argv (pyward --json): the seconds to the client's exit, and how often it
    ended with the status and exit code expected."""
    secs, statuses, codes, wrong = [], {}, {}, []
    for _ in range(runs):
        SPACER.wait()
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            SPACER.made_units()
            wrong.append(f"the client did not exit in {RUN_TIMEOUT} s")
            continue
        dt = time.monotonic() - t0
        SPACER.made_units()
        try:
            status = json.loads(p.stdout)["status"]
        except (ValueError, KeyError, TypeError):
            status = f"no JSON result ({p.stderr.decode(errors='replace').strip()[-200:]})"
        secs.append(dt)
        statuses[status] = statuses.get(status, 0) + 1
        codes[p.returncode] = codes.get(p.returncode, 0) + 1
        want_status, want_code = EXPECT[name]
        if status != want_status or (want_code is not None and p.returncode != want_code):
            wrong.append(f"status {status}, exit {p.returncode}")
    return {"argv": argv, "seconds": summary(secs), "statuses": statuses, "exit_codes": codes,
            "unexpected": len(wrong), "errors": wrong[:5]}


def job_running():
    try:
        return any(e.startswith("pyward-job-") for e in os.listdir("/sys/fs/cgroup/pyward.slice"))
    except OSError:
        return False


def measure_kill(runs):
    """The client SIGKILLed KILL_AFTER s after its busy-looping job's cgroup appears: the seconds
    until no pyward-helper@ or job cgroup is left, and whether the manager still listed a unit then."""
    secs, listed, errors = [], 0, []
    for _ in range(runs):
        SPACER.wait()
        p = subprocess.Popen(["pyward", "-q", "-n", "-c", TIMEOUT_CODE], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + RUN_TIMEOUT
        while not job_running() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if not job_running():
            p.kill()
            p.wait()
            errors.append(f"the job did not start (client exit {p.returncode})")
            SPACER.made_units()
            continue
        time.sleep(KILL_AFTER)
        t0 = time.monotonic()
        p.kill()
        p.wait()
        while cgroups_left() and time.monotonic() < t0 + RUN_TIMEOUT:
            time.sleep(0.002)
        dt = time.monotonic() - t0
        if cgroups_left():
            errors.append(f"units' cgroups left {RUN_TIMEOUT} s after the kill: {', '.join(cgroups_left())}")
        else:
            secs.append(dt)
            listed += bool(units_left())
        SPACER.made_units()
    return {"seconds": summary(secs), "still_listed": listed, "unexpected": len(errors), "errors": errors[:5]}


def measure(runner, args):
    runs = min(args.row_runs, max(1, math.ceil(RUNS_MAX * args.share)))  # share: bench_repeat's
    res = {"wall_limit": WALL, "runs": runs}
    log(f"paths: {runs} timeout runs ({WALL:.0f} s wall-clock limit each)")
    res["timeout"] = measure_path("timeout", ["pyward", "-n", "--json", "-t", f"{WALL:g}", "-c", TIMEOUT_CODE], runs)
    log(f"paths: {runs} CPU-limit runs ({WALL:.0f} s CPU time each)")
    res["cpu-limit"] = measure_path("cpu-limit", ["pyward", "-n", "--json", "--cpu-time", f"{WALL:g}", "-c",
                                                  TIMEOUT_CODE], runs)
    log(f"paths: {runs} clients killed while their job runs")
    res["kill"] = measure_kill(runs)
    ctl = controllers("pyward.slice")
    res["job_cgroup_controllers"] = ctl
    if ctl is None or "memory" not in ctl:
        res["oom"] = {"na": "n/a in nspawn (cgroup limits not enforced: pyward.slice's cgroup.subtree_control "
                            f"{'is missing' if ctl is None else 'lists ' + (' '.join(ctl) or 'no controller')}, so "
                            "MemoryMax= has no memory controller to enforce it); see the VM tier (scripts/vm)"}
    else:
        log(f"paths: {runs} OOM runs (-m {OOM_MEMORY})")
        res["oom"] = measure_path("oom", ["pyward", "-n", "--json", "-m", OOM_MEMORY, "-c", OOM_CODE], runs)
    return res


def quantities(r):
    """What bench_repeat compares across runs: each path's p50 (past the limit for the limits)."""
    out = {}
    for name in ("timeout", "cpu-limit", "kill", "oom"):
        s = (r.get(name) or {}).get("seconds")
        if s:
            out[f"{name}: p50" + (" past the limit" if name in ("timeout", "cpu-limit") else "")] = \
                q(s["p50"] - (WALL if name in ("timeout", "cpu-limit") else 0), "ms")
    return out

def path_line(name, what, p):
    if "na" in p:
        return f"  {name:9} {p['na']}"
    s = p["seconds"] or {}
    st = ", ".join(f"{k} x{v}" for k, v in p["statuses"].items())
    ec = ", ".join(f"{k} x{v}" for k, v in p["exit_codes"].items())
    over = "" if name not in ("timeout", "cpu-limit") or not s else f" (the limit + {ms(s['p50'] - WALL)} ms)"
    return (f"  {name:9} {what}: client start to exit p50 {ms(s.get('p50'))} ms{over}, max {ms(s.get('max'))} ms "
            f"(n {s.get('n', 0)}); status {st}; exit code {ec}; {p['unexpected']} not as expected")


def report_lines(r):
    lines = ["Limit paths (pyward --json, spaced runs)",
             path_line("timeout", f"'{TIMEOUT_CODE}' under -t {r['wall_limit']:g}s", r["timeout"]),
             path_line("cpu-limit", f"'{TIMEOUT_CODE}' under --cpu-time {r['wall_limit']:g}s", r["cpu-limit"])]
    k = r["kill"]
    ks = k["seconds"] or {}
    lines.append(f"  {'kill':9} the client SIGKILLed {KILL_AFTER * 1000:.0f} ms into a busy-looping job: the job's and "
                 f"the helper's cgroups gone p50 {ms(ks.get('p50'))} ms, max {ms(ks.get('max'))} ms after the kill "
                 f"(n {ks.get('n', 0)}; a unit still listed by the manager then: {k['still_listed']}); "
                 f"{k['unexpected']} not as expected")
    lines.append(path_line("oom", f"'{OOM_CODE}' under -m {OOM_MEMORY}", r["oom"]))
    for name in ("timeout", "cpu-limit", "kill", "oom"):
        lines += [f"  unexpected ({name}): {e}" for e in r[name].get("errors", [])]
    return lines + [""]
