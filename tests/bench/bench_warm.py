#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's warm row (issue #20), a row of bench.py's ROWS (measure(runner, args),
# report_lines(result)) that runs last: warm and cold pyward beside bare, bwrap and systemd-run,
# the warm path's phases, numpy preloaded, the pool's refill rate. Stdlib only.
"""Warm runners (pyward-helper(8) "WARM RUNNERS"), measured through the pyward CLI with --json (so
that each sample says which path it took). One drop-in adds two profiles that start from the
default one: "benchwarm" keeps WARM_N runners, "benchnumpy" NUMPY_N runners that preload numpy.
The default profile keeps none, so "cold" (the default profile) and "warm" (benchwarm) interleave
round robin with the anchors in one run. The drop-in is removed and the pool emptied afterwards.
Samples are spaced (bench_spacing) as the latency section's are, but the refill's burst."""

import json
import subprocess
import threading
import time

from bench_common import (RUN_TIMEOUT, cell_results, fmt_ratio, log, ms, percentile, ratio, round_robin, run,
                          summary, table)
from bench_host import make_users
from bench_repeat import median, q
from bench_runner import JOBS, Runner
from bench_spacing import SPACER
from bench_warm_pool import (configure, fill_pool, pool_full, pool_names, ready, spares_start, spares_stop,
                             spares_waiting, stop_runners, wait_until, warm_units)

WARM_PROFILE, WARM_N = "benchwarm", 4
NUMPY_PROFILE, NUMPY_N = "benchnumpy", 2
# Spare helpers (pyward-door(8), "SPARE HELPERS") for the whole row, cold and warm alike: the
# latency section measures pyward without them (the default, none enabled).
SPARES_N = 4
CONFIG = (f'[Profile "{WARM_PROFILE}"]\nWarmRunners={WARM_N}\n\n'
          f'[Profile "{NUMPY_PROFILE}"]\nWarmRunners={NUMPY_N}\nPreloadModules=numpy\n')
NUMPY_JOB = "import numpy as np; a = np.random.rand(300, 300); (a @ a).sum()"
ANCHORS = ["bare", "bwrap", "bwrap-hardened", "systemd-run"]  # those the machine has
CLIENTS = 16
READY_WAIT = 10  # seconds a warm sample waits for a ready runner (before) or a full pool (after)
REFILL_WAIT = 60  # seconds the pool may take to be full again after the burst
EMPTY_WAIT = 30  # seconds the runners may take to go once the drop-in is gone
SETTLE = 5  # seconds after the refill before the pool is looked at again
# Targets of the issue; reported, not enforced.
COLD_OVER_SDRUN = 1.15
NUMPY_WARM_OVER_BARE = 0.5
JOBS_PER_SECOND_16 = 43  # "on trixie in the bench's machine"
WARM_PHASES = [
    # name, start mark, end mark: SPAWN/CLIENT_EXIT are the client's start and exit as the bench
    # sees them, the others the helper's PYWARD_T_* (pyward-helper(8), JOURNAL FIELDS) of a job on
    # a warm runner. The claim (rename, connect) comes before BUS. The helper stamps EXEC when the
    # runner's CPU time so far is read (the event loop's time of that reply) and START after the
    # hand-off is written, so that on this path EXEC comes before START (pyward-helper(8) has them
    # the other way round): the phases follow the stamps' order.
    # A spare helper's MAIN is the hand-off's arrival (the row runs with SPARES_N of them); a
    # sample that found none waiting is an activated helper's exec.
    ("client start, connect, door, hand-off to a spare helper (SPAWN-MAIN)", "SPAWN", "MAIN"),
    ("helper set-up, connection state (MAIN-ACCEPT)", "MAIN", "ACCEPT"),
    ("config load, lockdown, request read (ACCEPT-REQUEST)", "ACCEPT", "REQUEST"),
    ("admission, claim, bus Hello, Subscribe, Version (REQUEST-BUS)", "REQUEST", "BUS"),
    ("watch the runner's unit, read its CPU time (BUS-EXEC)", "BUS", "EXEC"),
    ("hand-off: stdio, limits, request (EXEC-START)", "EXEC", "START"),
    ("the job runs, the runner exits (START-EXIT)", "START", "EXIT"),
    ("exit to result ready (EXIT-RESULT)", "EXIT", "RESULT"),
    ("result to client exit (RESULT-CLIENT_EXIT)", "RESULT", "CLIENT_EXIT"),
]
assert [p[1] for p in WARM_PHASES[1:]] == [p[2] for p in WARM_PHASES[:-1]], "WARM_PHASES leave a gap"


# --- one job through the CLI --------------------------------------------------------------------

def once_pyward(code, expect, profile=None, user=None):
    """pyward --json -c code; {"ok", "seconds", "t0", "t1", "path", "job", "error"}. path is None
    when the RESULT names none (a profile without runners)."""
    argv = ["pyward", "-q", "-n", "--json", *(["--profile", profile] if profile else []), "-c", code]
    kw = {} if user is None else {"user": user, "group": user, "extra_groups": ["pyward"]}
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT, **kw)
    except subprocess.TimeoutExpired:
        t1 = time.monotonic()
        return {"ok": False, "seconds": t1 - t0, "t0": t0, "t1": t1, "path": None, "job": None,
                "error": f"timed out after {RUN_TIMEOUT}s"}
    t1 = time.monotonic()
    out = {"ok": False, "seconds": t1 - t0, "t0": t0, "t1": t1, "path": None, "job": None, "error": None}
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        out["error"] = f"exit {r.returncode}, no JSON: {r.stderr.decode(errors='replace').strip()[-300:]}"
        return out
    out.update(path=doc.get("path"), job=doc.get("job"))
    if r.returncode != 0 or doc.get("status") != "ok":
        out["error"] = f"exit {r.returncode}: {doc.get('status')} {doc.get('message')} {doc.get('stderr', '')[-200:]}"
    elif doc.get("stdout") != expect.decode():
        out["error"] = f"unexpected output {doc.get('stdout', '')[:100]!r}"
    else:
        out["ok"] = True
    return out


def spaced_pyward(code, expect, profile=None):
    """once_pyward, after the units of the sample before it are gone (bench_spacing) and the spare
    helpers wait again (the one that served it is started afresh); it makes units."""
    SPACER.wait()
    wait_until(lambda: spares_waiting(SPARES_N), READY_WAIT, interval=0.005)
    try:
        return once_pyward(code, expect, profile)
    finally:
        SPACER.made_units()


def as_sample(r):
    """once_pyward's dict as round_robin's (ok, seconds, start, end, error)."""
    return r["ok"], r["seconds"], r["t0"], r["t1"], r["error"]


class WarmCell:
    """The warm samples of one profile: before each, up to READY_WAIT s for a ready runner; after
    it, up to READY_WAIT s for the pool to be full again, so that the refill does not run under
    the next cell's sample. A sample that went cold anyway is counted, and left out of the cell."""

    def __init__(self, profile, n):
        self.profile, self.n = profile, n
        self.went_cold, self.no_runner, self.timed = 0, 0, []  # (t0, t1, job id, tag) of warm ones

    def once(self, code, expect, tag=None):
        if not wait_until(lambda: ready(self.profile), READY_WAIT)[0]:
            self.no_runner += 1
        r = spaced_pyward(code, expect, self.profile)
        wait_until(lambda: pool_full(self.profile, self.n), READY_WAIT)
        if r["ok"] and r["path"] != "warm":
            self.went_cold += 1
            return False, r["seconds"], r["t0"], r["t1"], "went cold"
        if r["ok"]:
            self.timed.append((r["t0"], r["t1"], r["job"], tag))
        return as_sample(r)


def split_cold(samples, failures):
    """round_robin's failures less the "went cold" ones (counted by WarmCell, not failures)."""
    return samples, {c: [e for e in errs if e != "went cold"] for c, errs in failures.items()}


# --- 1. latency ---------------------------------------------------------------------------------

LATENCY_RATIOS = [("warm / bare", "pyward warm", "bare"),
                  ("warm / bwrap (namespaces only)", "pyward warm", "bwrap"),
                  ("warm / bwrap-hardened", "pyward warm", "bwrap-hardened"),
                  ("warm / systemd-run", "pyward warm", "systemd-run"),
                  ("cold / systemd-run", "pyward cold", "systemd-run"),
                  ("warm / cold", "pyward warm", "pyward cold")]


def measure_latency(runner, runs, jobs, expect):
    anchors = [v for v in ANCHORS if runner.argv(v, "pass") is not None]
    variants = anchors + ["pyward cold", "pyward warm"]
    combos = [(j, v) for j in jobs for v in variants]
    warm = WarmCell(WARM_PROFILE, WARM_N)
    cold_paths = []

    def once(c):
        job, v = c
        if v == "pyward warm":
            return warm.once(jobs[job], expect[job], job)
        if v == "pyward cold":
            r = spaced_pyward(jobs[job], expect[job])
            cold_paths.append(r["path"])
            return as_sample(r)
        return runner.sample(v, jobs[job], expect[job])

    for c in combos:  # warm-up, not counted
        for _ in range(2):
            once(c)
    warm.went_cold = warm.no_runner = 0
    warm.timed.clear()
    cold_paths.clear()
    cells = cell_results(*split_cold(*round_robin(combos, runs, once, label="warm latency")))
    res = {"variants": variants, "cells": {}}
    for (job, v), cell in cells.items():
        res["cells"].setdefault(job, {})[v] = cell
    p50 = lambda j, v: ((res["cells"][j].get(v) or {}).get("seconds") or {}).get("p50")  # noqa: E731
    res["ratios"] = {name: {j: ratio(p50(j, a), p50(j, b)) for j in jobs} for name, a, b in LATENCY_RATIOS}
    res.update(went_cold=warm.went_cold, warm_samples=runs * len(jobs), no_ready_runner=warm.no_runner,
               cold_paths={str(p): cold_paths.count(p) for p in set(cold_paths)})
    return res, warm.timed


# --- 2. the warm path's phases ------------------------------------------------------------------

def journal_marks(job_ids):
    """{job id: {MARK: seconds}} from the helper's result records of those jobs (CLOCK_MONOTONIC)."""
    marks = sorted({m for p in WARM_PHASES for m in p[1:]} - {"SPAWN", "CLIENT_EXIT"})
    fields = ["PYWARD_JOB", "PYWARD_PATH"] + [f"PYWARD_T_{m}" for m in marks]
    r = run(["journalctl", "-b", "-o", "json", "--no-pager", "--output-fields=" + ",".join(fields),
             "SYSLOG_IDENTIFIER=pyward-helper", "PYWARD_PATH=warm"], timeout=300, check=False)
    out = {}
    for line in r.stdout.splitlines():
        try:
            e = json.loads(line)
            if e.get("PYWARD_JOB") in job_ids:
                t = {m: int(e[f"PYWARD_T_{m}"]) / 1e6 for m in marks}
                if all(t.values()):  # 0: a step not reached
                    out[e["PYWARD_JOB"]] = t
        except (ValueError, KeyError, TypeError):
            continue
    return out


def phase_breakdown(timed, tag):
    """p50/p90 of each warm phase over the warm samples of tag whose record has every mark."""
    timed = [t[:3] for t in timed if t[3] == tag]
    wanted = {job for _t0, _t1, job in timed if job}
    marks = journal_marks(wanted)
    if len(marks) < len(wanted):  # the journal may lag behind the last records: once more
        time.sleep(1)
        marks = journal_marks(wanted)
    per_phase, totals, negative = {p[0]: [] for p in WARM_PHASES}, [], {}
    for t0, t1, job in timed:
        if job not in marks:
            continue
        m = dict(marks[job], SPAWN=t0, CLIENT_EXIT=t1)
        totals.append(t1 - t0)
        for name, a, b in WARM_PHASES:
            per_phase[name].append(m[b] - m[a])
            if m[b] < m[a]:
                negative[name] = negative.get(name, 0) + 1
    if not totals:
        return None
    return {"job": tag, "matched_runs": len(totals), "warm_runs": len(timed), "total_p50": percentile(totals, 50),
            "negative": negative,
            "phases": {n: {"p50": percentile(v, 50), "p90": percentile(v, 90)} for n, v in per_phase.items()}}


# --- 3. numpy preloaded -------------------------------------------------------------------------

def measure_numpy(runner, runs):
    bare = runner.argv("bare", NUMPY_JOB)
    r = subprocess.run(bare, stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT)
    if r.returncode != 0:
        return {"skipped": "numpy does not import bare: " + r.stderr.decode(errors="replace").strip()[-200:]}
    expect = r.stdout
    warm = WarmCell(NUMPY_PROFILE, NUMPY_N)
    cells = ["bare", "pyward cold", "pyward warm (numpy preloaded)"]

    def once(c):
        if c == "bare":
            return runner.sample("bare", NUMPY_JOB, expect)
        if c == "pyward cold":
            return as_sample(spaced_pyward(NUMPY_JOB, expect))
        return warm.once(NUMPY_JOB, expect)

    for c in cells:
        for _ in range(2):
            once(c)
    warm.went_cold = warm.no_runner = 0
    res = {"cells": cell_results(*split_cold(*round_robin(cells, runs, once, label="warm numpy")))}
    p50 = lambda c: (res["cells"][c]["seconds"] or {}).get("p50")  # noqa: E731
    res.update(warm_over_bare=ratio(p50(cells[2]), p50("bare")), warm_over_cold=ratio(p50(cells[2]), p50(cells[1])),
               went_cold=warm.went_cold, warm_samples=runs, no_ready_runner=warm.no_runner)
    return res


# --- 4. refill rate -----------------------------------------------------------------------------

def once_sdrun(runner):
    """A trivial job under systemd-run with the job's properties, as once_pyward's dict."""
    ok, secs, _t0, _t1, err = Runner.once(runner.argv("systemd-run", "pass"), b"")
    return {"ok": ok, "seconds": secs, "path": "systemd-run", "error": err}


def burst(profile, users, per_client, sdrun=None):
    """CLIENTS clients at once, one UID each, per_client trivial jobs one after another; not
    spaced within (their overlap is what it measures), but after the units of what came before.
    With sdrun (the bench's Runner), the clients are systemd-run with the job's properties, as
    root: the rate at which the manager starts and ends the job's sandbox at all, one unit each."""
    SPACER.wait()
    results, lock = [], threading.Lock()

    def client(user):
        for _ in range(per_client):
            r = once_pyward("pass", b"", profile, user) if sdrun is None else once_sdrun(sdrun)
            with lock:
                results.append(r)

    peak, done = {"ready": 0, "ready_or_starting": 0}, threading.Event()

    def watch():  # the pool's peak during the burst: its names, every 10 ms (a listdir each)
        while not done.wait(0.01):
            r, p = len(ready(profile)), len(pool_names("p-", profile))
            peak.update(ready=max(peak["ready"], r), ready_or_starting=max(peak["ready_or_starting"], r + p))

    threads = [threading.Thread(target=client, args=(users[i % len(users)],)) for i in range(CLIENTS)]
    watcher = threading.Thread(target=watch) if profile else None
    t0 = time.monotonic()
    for t in threads + ([watcher] if watcher else []):
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    done.set()
    if watcher:
        watcher.join()
    SPACER.made_units()
    ok = [r for r in results if r["ok"]]
    paths = [r["path"] for r in ok]
    return {"clients": CLIENTS, "jobs_per_client": per_client, "seconds": elapsed, "jobs": len(ok),
            "failures": len(results) - len(ok), "jobs_per_second": len(ok) / elapsed,
            "warm": None if sdrun else paths.count("warm"), "cold": None if sdrun else len(paths) - paths.count("warm"),
            "latency": summary([r["seconds"] for r in ok]), "pool_peak": peak if profile else None,
            "errors": sorted({r["error"] for r in results if not r["ok"]})[:5]}


def pool_state():
    """The warm profile's names by kind and the pyward-warm-* units (of every profile)."""
    return {"ready": len(ready(WARM_PROFILE)), "starting": len(pool_names("p-", WARM_PROFILE)),
            "claimed": len(pool_names("c-")), "units": len(warm_units())}


def fill_records(since_usec):
    """The helpers' fill lines for the warm profile since then ("N were ready, M started"), and
    how many runners they stopped as "more than WarmRunners=": counts, and the first few."""
    r = run(["journalctl", "-b", "-o", "json", "--no-pager", "--output-fields=MESSAGE",
             "SYSLOG_IDENTIFIER=pyward-helper"], timeout=300, check=False)
    fills, over, started = [], 0, 0
    for line in r.stdout.splitlines():
        try:
            e = json.loads(line)
            if int(e.get("__MONOTONIC_TIMESTAMP", "0")) < since_usec or not isinstance(e.get("MESSAGE"), str):
                continue
        except ValueError:
            continue
        msg = e["MESSAGE"]
        if msg.startswith(f"Warm runners of profile {WARM_PROFILE}:"):
            fills.append(msg)
            try:
                started += int(msg.rsplit(",", 1)[1].split()[0])
            except (IndexError, ValueError):
                pass
        elif "more than WarmRunners=" in msg and WARM_PROFILE in msg:
            over += 1
    return {"fills": len(fills), "started": started, "stopped_over": over, "first": fills[:5]}


def measure_refill(runner, users, per_client):
    stopped = stop_runners(WARM_PROFILE)
    left = len(ready(WARM_PROFILE))
    log(f"warm refill: pool of {WARM_N} ({WARM_PROFILE}) emptied ({stopped} runners stopped, {left} ready left); "
        f"{CLIENTS} clients x {per_client} jobs")
    since = int(time.monotonic() * 1e6)
    pool = burst(WARM_PROFILE, users, per_client)
    full, secs = wait_until(lambda: pool_full(WARM_PROFILE, WARM_N), REFILL_WAIT, interval=0.05)
    pool.update(ready_at_start=left, refill_seconds=secs if full else None, ready_after=len(ready(WARM_PROFILE)),
                pool_after=pool_state(), fills=fill_records(since))
    time.sleep(SETTLE)
    pool["pool_settled"] = pool_state()
    log(f"warm refill: {pool['jobs_per_second']:.1f} jobs/s, {pool['warm']} warm, {pool['cold']} cold, "
        f"{pool['failures']} failures; pool full again after {ms(pool['refill_seconds'])} ms")
    nopool = burst(None, users, per_client)
    log(f"warm refill: without a pool {nopool['jobs_per_second']:.1f} jobs/s, {nopool['failures']} failures")
    sdrun = burst(None, users, per_client, sdrun=runner)
    log(f"warm refill: systemd-run with the job's properties {sdrun['jobs_per_second']:.1f} jobs/s, "
        f"{sdrun['failures']} failures")
    return {"pool": pool, "no_pool": nopool, "systemd_run": sdrun,
            "with_over_without": ratio(pool["jobs_per_second"], nopool["jobs_per_second"]),
            "pool_over_sdrun": ratio(pool["jobs_per_second"], sdrun["jobs_per_second"])}


# --- 5. afterwards ------------------------------------------------------------------------------

def clean_up():
    """The drop-in removed, a fill (which stops every runner when no profile keeps any), then up
    to EMPTY_WAIT s for the units to go; what is left then is reported, and only then stopped."""
    t0 = time.monotonic()
    configure(None)
    rc, err = fill_pool()
    gone, _secs = wait_until(lambda: not warm_units(), EMPTY_WAIT, interval=0.1)
    secs = time.monotonic() - t0
    left = {"units": warm_units(), "names": pool_names("")}
    for u in left["units"]:
        run(["systemctl", "stop", u], timeout=60, check=False)
    return {"fill_rc": rc, "fill_stderr": err[-300:], "seconds": secs, "leftovers": left,
            "clean": bool(gone) and not left["names"]}


# --- the section --------------------------------------------------------------------------------

def measure(runner, args):
    """The warm row (--runs rounds; bench_repeat runs it --repeat times): {latency, phases, numpy,
    refill, cleanup}, or {"error"} when the pool cannot be filled (a helper without warm runners)."""
    runs, jobs = args.runs, JOBS
    res = {"runs": runs, "warm_runners": WARM_N, "profile": WARM_PROFILE, "numpy_runners": NUMPY_N,
           "config": CONFIG}
    expect = {}
    for job, code in jobs.items():
        r = subprocess.run(runner.argv("bare", code), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=RUN_TIMEOUT)
        if r.returncode != 0:
            res["error"] = f"the {job} job fails bare: {r.stderr.decode(errors='replace').strip()[-300:]}"
            return res
        expect[job] = r.stdout
    users = make_users(CLIENTS)
    try:
        rc, err = spares_start(SPARES_N)
        if rc != 0:
            res["error"] = f"the spare helpers did not start: {err[-300:]}"
            return res
        res["spare_helpers"] = SPARES_N
        t0 = time.monotonic()
        configure(CONFIG)
        rc, err = fill_pool()
        full, _secs = wait_until(lambda: pool_full(WARM_PROFILE, WARM_N) and pool_full(NUMPY_PROFILE, NUMPY_N),
                                 REFILL_WAIT, interval=0.05)
        secs = time.monotonic() - t0
        res["first_fill_seconds"] = secs if full else None
        if rc != 0 or not full:
            res["error"] = (f"the pool did not fill (pyward-helper --fill-pool exited {rc}: {err[-300:]}; "
                            f"ready: {pool_names('r-')}, units: {warm_units()})")
            log("warm: " + res["error"])
            return res
        log(f"warm: pools filled in {secs:.1f} s; latency: {runs} rounds")
        res["latency"], timed = measure_latency(runner, runs, jobs, expect)
        res["phases"] = phase_breakdown(timed, "trivial")
        log(f"warm numpy: {runs} rounds of bare, cold and warm")
        res["numpy"] = measure_numpy(runner, runs)
        res["refill"] = measure_refill(runner, users, max(3, round(runs / args.share) // 10))  # a whole burst each run
    finally:
        res["cleanup"] = clean_up()
        spares_stop(SPARES_N)
        log("warm: cleaned up: " + ("nothing left" if res["cleanup"]["clean"] else f"{res['cleanup']['leftovers']}"))
    return res


def quantities(w):
    """What bench_repeat compares across runs: the latency ratios of each job, the numpy job's and
    the 16 clients' jobs/s with and without the pool."""
    out = {}
    lat = w.get("latency") or {}
    for job, cells in (lat.get("cells") or {}).items():
        p50 = lambda v: ((cells.get(v) or {}).get("seconds") or {}).get("p50")  # noqa: E731
        for name, a, b in LATENCY_RATIOS:
            if a in cells and b in cells:
                out[f"{job}: {name}"] = q(lat["ratios"][name][job], a=p50(a), b=p50(b))
    nu = w.get("numpy") or {}
    if "cells" in nu:
        p50 = lambda c: (nu["cells"][c]["seconds"] or {}).get("p50")  # noqa: E731
        warm = "pyward warm (numpy preloaded)"
        out["numpy: warm / bare"] = q(nu["warm_over_bare"], a=p50(warm), b=p50("bare"))
        out["numpy: warm / cold"] = q(nu["warm_over_cold"], a=p50(warm), b=p50("pyward cold"))
    rf = w.get("refill") or {}
    if rf:
        pool, nopool = rf["pool"]["jobs_per_second"], rf["no_pool"]["jobs_per_second"]
        out[f"{CLIENTS} clients: pool of {WARM_N}, jobs/s"] = q(pool, "jobs/s")
        out[f"{CLIENTS} clients: pool of {WARM_N}, failures"] = q(rf["pool"]["failures"], "n")
        out[f"{CLIENTS} clients: no pool, jobs/s"] = q(nopool, "jobs/s")
        out[f"{CLIENTS} clients: with / without the pool, jobs/s"] = q(rf["with_over_without"], a=pool, b=nopool,
                                                                        words="rate")
        if "systemd_run" in rf:
            sdrun = rf["systemd_run"]["jobs_per_second"]
            out[f"{CLIENTS} clients: systemd-run with the job's properties, jobs/s"] = q(sdrun, "jobs/s")
            out[f"{CLIENTS} clients: pool / systemd-run, jobs/s"] = q(rf["pool_over_sdrun"], a=pool, b=sdrun,
                                                                      words="rate")
    return out


# --- the report ---------------------------------------------------------------------------------

def _p(cell, k):
    return ms(((cell or {}).get("seconds") or {}).get(k))


def _row(label, cell):
    if cell is None:
        return [label, "n/a", "", "", "", ""]
    return [label, str((cell["seconds"] or {}).get("n", 0)), _p(cell, "p50"), _p(cell, "p90"), _p(cell, "p99"),
            str(cell["failures"])]


def _errors(cells):
    return [f"  failure ({name}): {e}" for name, c in cells.items() for e in (c or {}).get("errors", [])[:2]]


def report_lines(w):
    """The report's warm section."""
    if not w:
        return []
    lines = [f"Warm runners (profile {w['profile']}, WarmRunners={w['warm_runners']}; cold: the default profile, "
             f"WarmRunners=0; both with {w.get('spare_helpers', 0)} spare helpers; pyward CLI with --json)"]
    if "error" in w:
        return lines + [f"  n/a: {w['error']}", _cleanup_line(w), ""]
    lat = w["latency"]
    rows = [_row(f"{job:8} {v}", lat["cells"][job].get(v)) for job in lat["cells"] for v in lat["variants"]]
    lines += [table(rows, ["job / variant", "n", "p50", "p90", "p99", "failures"]),
              f"  warm samples that went cold anyway: {lat['went_cold']} of {lat['warm_samples']} (left out of "
              f"the warm rows); no ready runner within {READY_WAIT} s before {lat['no_ready_runner']}; "
              f"first fill of the pools {ms(w.get('first_fill_seconds'))} ms"]
    lines += _errors({f"{j} {v}": c for j in lat["cells"] for v, c in lat["cells"][j].items()})
    rrows = [[k, fmt_ratio(v.get("trivial")), fmt_ratio(v.get("real"))] for k, v in lat["ratios"].items()]
    lines += ["", "Ratios of p50 (warm / cold)", table(rrows, ["ratio", "trivial", "real job"]), ""]
    ph = w.get("phases")
    if ph:
        prow = [[n, ms(v["p50"]), ms(v["p90"])] for n, v in ph["phases"].items()]
        prow.append(["sum of p50s / p50 of total", ms(sum(v["p50"] for v in ph["phases"].values())),
                     ms(ph["total_p50"])])
        lines += [f"Where a warm job's time goes ({ph['job']} job, n = {ph['matched_runs']} of "
                  f"{ph['warm_runs']} warm runs, ms)", table(prow, ["phase", "p50", "p90"])]
        neg = ph.get("negative", {})
        lines += ["  phases below 0: " + (", ".join(f"{k} in {v} runs" for k, v in neg.items()) if neg else "none"), ""]
    else:
        lines += ["Where a warm job's time goes: n/a (no journal record of a warm sample with every PYWARD_T_*)", ""]
    lines += numpy_lines(w.get("numpy")) + refill_lines(w.get("refill")) + [_cleanup_line(w), ""]
    return lines


def numpy_lines(nu):
    if not nu:
        return []
    head = f"numpy preloaded (PreloadModules=numpy, WarmRunners={NUMPY_N}; job: {NUMPY_JOB})"
    if "skipped" in nu:
        return [head, f"  n/a: {nu['skipped']}", ""]
    rows = [_row(c, v) for c, v in nu["cells"].items()]
    return [head, table(rows, ["variant", "n", "p50", "p90", "p99", "failures"]),
            f"  warm / bare {fmt_ratio(nu['warm_over_bare'])}, warm / cold {fmt_ratio(nu['warm_over_cold'])}; "
            f"went cold anyway: {nu['went_cold']} of {nu['warm_samples']}"] + _errors(nu["cells"]) + [""]


def refill_lines(rf):
    if not rf:
        return []
    p, n = rf["pool"], rf["no_pool"]
    fl = p.get("fills") or {}
    dash = lambda v: "-" if v is None else v  # noqa: E731
    rows = [[label, f"{b['jobs_per_second']:.1f}", b["jobs"], b["failures"], dash(b["warm"]), dash(b["cold"]),
             ms((b["latency"] or {}).get("p50")), f"{b['seconds']:.1f}"]
            for label, b in ((f"pool of {WARM_N}, empty at the start", p), ("no pool (WarmRunners=0)", n),
                             ("systemd-run, the job's properties", rf.get("systemd_run"))) if b]
    return [f"Refill: {CLIENTS} clients at once (one UID each) x {p['jobs_per_client']} trivial jobs",
            table(rows, ["", "jobs/s", "jobs", "failures", "warm", "cold", "p50 ms", "s"]),
            f"  the pool was full again {ms(p['refill_seconds'])} ms after the burst "
            f"({p['ready_after']} of {WARM_N} ready; ready at the start: {p['ready_at_start']}); "
            f"jobs/s with / without the pool {fmt_ratio(rf['with_over_without'])}, pool / systemd-run "
            f"{fmt_ratio(rf.get('pool_over_sdrun'))} (systemd-run: one unit per job, started and ended by the "
            f"manager with the job's sandbox; every pyward job costs at least that)",
            f"  the pool's peak during the burst: {_peak(p.get('pool_peak'))}; the pool then: "
            f"{_state(p.get('pool_after'))}; {SETTLE} s later: {_state(p.get('pool_settled'))}",
            f"  refills during and after the burst: {fl.get('fills', 0)} fills started {fl.get('started', 0)} runners; "
            f"{fl.get('stopped_over', 0)} stopped as more than WarmRunners="] + \
        [f"  failure: {e}" for e in p["errors"] + n["errors"] + (rf.get("systemd_run") or {}).get("errors", [])] + [""]


def _peak(pk):
    if not pk:
        return "n/a"
    return f"{pk['ready']} ready, {pk['ready_or_starting']} ready or starting (WarmRunners={WARM_N})"


def _state(st):
    if not st:
        return "n/a"
    return f"{st['ready']} ready, {st['starting']} starting, {st['claimed']} claimed, {st['units']} pyward-warm units"


def _cleanup_line(w):
    c = w.get("cleanup")
    if c is None:
        return "  afterwards: nothing to clean up (the pool was never configured)"
    if c.get("clean"):
        return f"  afterwards: no warm runner left ({ms(c['seconds'])} ms after the drop-in went)"
    return f"  afterwards: LEFT OVER after {EMPTY_WAIT} s: {c.get('leftovers')} (fill exited {c.get('fill_rc')})"


def targets(w):
    """The issue's targets, for the report's list: {name: {"value", "met"}}; of a repeated row,
    each ratio's median over its runs and the jobs/s's median with every run's failures."""
    w = w or {}
    trivial = ((w.get("latency") or {}).get("ratios") or {})
    r = lambda k: median(w, f"trivial: {k}", trivial.get(k, {}).get("trivial"))  # noqa: E731
    nb = median(w, "numpy: warm / bare", (w.get("numpy") or {}).get("warm_over_bare"))
    pool = (w.get("refill") or {}).get("pool")
    if pool and w.get("repeat"):
        runs = [x.get("refill") or {} for x in w["repeat"]["results"]]
        pool = {"jobs_per_second": median(w, f"{CLIENTS} clients: pool of {WARM_N}, jobs/s"),
                "failures": sum((x.get("pool") or {}).get("failures", 0) for x in runs)}
    left = (w.get("cleanup") or {})
    if left and w.get("repeat"):  # every run's clean-up
        dirty = [x.get("cleanup") for x in w["repeat"]["results"] if not (x.get("cleanup") or {}).get("clean")]
        left = {"clean": not dirty, "leftovers": [(d or {}).get("leftovers") for d in dirty]}

    def t(v, met):
        return {"value": fmt_ratio(v), "met": None if v is None else met(v)}

    return {
        "warm p50 <= bare python3 -I -c pass p50 (trivial job)": t(r("warm / bare"), lambda v: v <= 1),
        "warm p50 <= bwrap p50 (trivial job)": t(r("warm / bwrap (namespaces only)"), lambda v: v <= 1),
        f"cold p50 <= {COLD_OVER_SDRUN}x systemd-run (trivial job)": t(r("cold / systemd-run"),
                                                                         lambda v: v <= COLD_OVER_SDRUN),
        f"numpy job warm p50 <= {NUMPY_WARM_OVER_BARE}x bare": t(nb, lambda v: v <= NUMPY_WARM_OVER_BARE),
        f"{CLIENTS} clients with a pool of {WARM_N}: >= {JOBS_PER_SECOND_16} jobs/s (trixie), 0 failures": {
            "value": "n/a" if not pool else f"{pool['jobs_per_second']:.1f} jobs/s, {pool['failures']} failures",
            "met": None if not pool else pool["jobs_per_second"] >= JOBS_PER_SECOND_16 and not pool["failures"]},
        "no warm runner left after the warm section": {
            "value": "n/a" if not left else ("none" if left.get("clean") else str(left.get("leftovers"))),
            "met": None if not left else bool(left.get("clean"))},
    }
