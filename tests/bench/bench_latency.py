#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's latency section: every variant of the trivial and the real job, interleaved; the
# ratios of their p50s; pyward's phases from the helper's PYWARD_T_* journal fields; and what
# returning files adds (collect). Stdlib only.
import os

import bench_peer
from bench_common import cell_results, fmt_ratio, ms, percentile, ratio, round_robin, table
from bench_repeat import q
from bench_stats import compare, spread
from bench_runner import FILES_OUT, JOBS, TRIVIAL, VARIANTS, Runner

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
    ("exit to result ready (unit down, CPU time read)", "EXIT", "RESULT"),
    ("result to client exit", "RESULT", "CLIENT_EXIT"),
]
# The phases whose marks come from two processes with no fixed order (see above).
UNORDERED_PHASES = {"start reply to fork"}
# The phases tile the client's run, so that they add up to it: each starts where the last ended.
assert [p[1] for p in PHASES[1:]] == [p[2] for p in PHASES[:-1]], "PHASES leave a gap"
assert PHASES[0][1] == "SPAWN" and PHASES[-1][2] == "CLIENT_EXIT", "PHASES do not span the run"


# The ratios of the report: (name, numerator variant, denominator variant).
RATIOS = [("pyward / systemd-run", "pyward", "systemd-run"), ("pyward / bare", "pyward", "bare"),
          ("bwrap (namespaces only) / bare", "bwrap", "bare"),
          ("bwrap-hardened / bare", "bwrap-hardened", "bare"),
          ("pyward / bwrap-hardened", "pyward", "bwrap-hardened"),
          ("systemd-run / bare", "systemd-run", "bare"),
          ("bare-runner / bare: the runner's bootstrap", "bare-runner", "bare"),
          ("pyward / bare-runner: pyward less its runner", "pyward", "bare-runner")]
WARMUP = 3  # runs of each cell before the first run, not counted


def by_job(cells):
    """{(job, variant): cell} -> {job: {variant: cell}}"""
    out = {}
    for (job, variant), cell in cells.items():
        out.setdefault(job, {})[variant] = cell
    return out


def p50(lat, job, variant):
    return ((lat.get(job, {}).get(variant) or {}).get("seconds") or {}).get("p50")


def measure_latency(runner, runs, expect, repeat=1):
    """The latency section run repeat times (each run: runs interleaved rounds of every cell).
    Returns (results, [(start, end)] of the timed trivial pyward runs) where results hold the
    pooled cells ("latency"), each run's cells and ratios ("runs"), each ratio's spread over the
    runs and its median ("ratio_spreads", "ratios"), and for each ratio whether A is faster than B
    by bench_stats.compare ("claims"): a claim only where the runs' p50s do not overlap."""
    variants = [v for v in VARIANTS if runner.argv(v, TRIVIAL) is not None]
    combos = [(j, v) for j in JOBS for v in variants]
    pyward_trivial_runs = []
    for c in combos:  # warm-up (page cache, the manager's unit load path), not counted
        for _ in range(WARMUP):
            runner.sample(c[1], JOBS[c[0]], expect[c[0]])

    def once(c):
        r = runner.sample(c[1], JOBS[c[0]], expect[c[0]])
        if r[0] and c == ("trivial", "pyward"):
            pyward_trivial_runs.append(r[2:4])
        return r

    per_run, pooled, pooled_fail = [], {c: [] for c in combos}, {c: [] for c in combos}
    for k in range(repeat):
        load = os.getloadavg()
        samples, failures = round_robin(combos, runs, once, label=f"latency run {k + 1}/{repeat}")
        for c in combos:
            pooled[c] += samples[c]
            pooled_fail[c] += failures[c]
        lat = by_job(cell_results(samples, failures))
        per_run.append({"latency": lat, "loadavg_before": load, "loadavg_after": os.getloadavg(),
                        "ratios": {n: {j: ratio(p50(lat, j, a), p50(lat, j, b)) for j in JOBS} for n, a, b in RATIOS}})
    spreads = {n: {j: spread([r["ratios"][n][j] for r in per_run]) for j in JOBS} for n, _a, _b in RATIOS}
    claims = {n: {j: claim(a, b, [p50(r["latency"], j, a) for r in per_run], [p50(r["latency"], j, b) for r in per_run])
                  for j in JOBS} for n, a, b in RATIOS}
    res = {"latency": by_job(cell_results(pooled, pooled_fail)), "repeat": repeat, "runs": per_run,
           "ratio_spreads": spreads, "claims": claims,
           "ratios": {n: {j: (s or {}).get("median") for j, s in v.items()} for n, v in spreads.items()}}
    return res, pyward_trivial_runs


def claim(a, b, a_p50s, b_p50s):
    """What the report may say of A against B, from each run's p50 (bench_stats.compare)."""
    if any(x is None for x in a_p50s + b_p50s):
        return "n/a"
    if len(a_p50s) < 2:
        return f"no claim ({len(a_p50s)} run)"
    c = compare(a_p50s, b_p50s)
    return f"{a} {c} than {b}" if c in ("faster", "slower") else "no difference shown (runs overlap)"


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


def measure_collect(runs):
    """What returning files adds: interleaved p50 of pyward -c pass, of the files job without
    COLLECT (written, not returned) and with --collect (10 MiB over the socket, then dropped)."""
    cells = {"trivial": ["pyward", "-q", "-n", "-c", TRIVIAL],
             "files, not collected": ["pyward", "-q", "-n", "-c", FILES_OUT],
             "files, --collect": ["pyward", "-q", "-n", "--collect", "-c", FILES_OUT]}
    res = cell_results(*round_robin(list(cells), runs, lambda name: Runner.spaced(cells[name], b"", True)))
    p50 = {k: (res[k]["seconds"] or {}).get("p50") for k in cells}
    t, n, c = p50["trivial"], p50["files, not collected"], p50["files, --collect"]
    # Against the trivial job: writing the files and returning them (the target's measure);
    # against the same job without --collect: returning them alone.
    res["adds_p50"] = None if t is None or c is None else c - t
    res["return_adds_p50"] = None if n is None or c is None else c - n
    return res


def collect_quantities(co):
    """What bench_repeat compares across runs of measure_collect(): what the files add, and the
    --collect job against the same job without it (with both p50s)."""
    p50 = {k: ((co.get(k) or {}).get("seconds") or {}).get("p50") for k in ("files, --collect", "files, not collected")}
    c, n = p50["files, --collect"], p50["files, not collected"]
    return {"writing and returning the files adds": q(co["adds_p50"], "ms"),
            "returning them alone adds": q(co["return_adds_p50"], "ms"),
            "--collect / not collected": q(ratio(c, n), a=c, b=n)}


def _range(s, fmt):
    """A spread as "median (min-max)"; the median alone for one run."""
    if not s:
        return "n/a"
    if len(s["runs"]) < 2:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}-{fmt(s['max'])})"


def report_lines(res, variants):
    """The latency, ratio and phase tables."""
    lat, rep, lines = res["latency"], res["latency_repeat"], []
    runs = rep["runs"]
    rows = []
    for job in res["jobs"]:
        for v in variants:
            cell = lat.get(job, {}).get(v)
            if cell is None:
                rows.append([f"{job:8} {v}", "n/a (bwrap not in image)" if v == "bwrap" else "n/a", "", "", "", "", ""])
                continue
            s = cell["seconds"] or {}
            label = "bwrap (namespaces only)" if v == "bwrap" else v
            per_run = spread([p50(r["latency"], job, v) for r in runs])
            rows.append([f"{job:8} {label}", str(s.get("n", 0)), ms(s.get("p50")), ms(s.get("p90")), ms(s.get("p99")),
                         _range(per_run, ms), str(cell["failures"])])
    lines += [f"Latency (ms; {rep['repeat']} run(s) of {res['params']['runs']} interleaved rounds, percentiles of "
              "all runs' samples by linear interpolation, n samples; p50 per run: median (min-max) over the runs)",
              table(rows, ["job / variant", "n", "p50", "p90", "p99", "p50 per run", "failures"]), ""]
    rrows = []
    for name, _a, _b in RATIOS:
        sp = rep["ratio_spreads"][name]
        rrows.append([name, _range(sp.get("trivial"), fmt_ratio), _range(sp.get("real"), fmt_ratio)])
    lines += [f"Ratios of p50: median (min-max) over {rep['repeat']} run(s), each run's ratio of its own p50s",
              table(rrows, ["ratio", "trivial", "real job"]),
              "A claim \"A faster/slower than B\" only where the runs' p50s of A and of B do not overlap "
              "(bench_stats.compare; needs 2 runs or more):"]
    for name, _a, _b in RATIOS:
        c = rep["claims"][name]
        lines.append(f"  {name:46} trivial: {c.get('trivial')}; real job: {c.get('real')}")
    lines.append("")
    lines += bench_peer.lacks_lines()
    ph = res.get("phases")
    if ph:
        prow = [[n, ms(v["p50"]), ms(v["p90"])] for n, v in ph["phases"].items()]
        prow.append(["sum of p50s / p50 of total", ms(sum(v["p50"] for v in ph["phases"].values())),
                     ms(ph["total_p50"])])
        lines += [f"Where pyward's time goes (trivial job, n = {ph['matched_runs']} runs of all repeats, ms)",
                  table(prow, ["phase", "p50", "p90"])]
        neg = ph.get("negative", {})
        lines += [("phases below 0 (a mark out of order): " + ", ".join(f"{k} in {v} runs" for k, v in neg.items()))
                  if neg else "no phase below 0 in any run (start reply to fork may be: two processes stamp it)",
                  "the phases tile each run from the client's start to its exit: their sums add up to it", ""]
    else:
        lines += ["Where pyward's time goes: n/a (the helper logs no PYWARD_T_* timing fields)", ""]
    return lines
