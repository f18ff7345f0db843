#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's latency section: every variant of the trivial and the real job, interleaved; the
# ratios of their p50s; pyward's phases from the helper's PYWARD_T_* journal fields; and what
# returning files adds (collect). Stdlib only.
from bench_common import cell_results, percentile, round_robin
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
    ("exit to result ready (unit state, GetAll)", "EXIT", "RESULT"),
    ("result to client exit", "RESULT", "CLIENT_EXIT"),
]
# The phases whose marks come from two processes with no fixed order (see above).
UNORDERED_PHASES = {"start reply to fork"}
# The phases tile the client's run, so that they add up to it: each starts where the last ended.
assert [p[1] for p in PHASES[1:]] == [p[2] for p in PHASES[:-1]], "PHASES leave a gap"
assert PHASES[0][1] == "SPAWN" and PHASES[-1][2] == "CLIENT_EXIT", "PHASES do not span the run"


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
    res = cell_results(*round_robin(list(cells), runs, lambda name: Runner.once(cells[name], b"")))
    p50 = {k: (res[k]["seconds"] or {}).get("p50") for k in cells}
    t, n, c = p50["trivial"], p50["files, not collected"], p50["files, --collect"]
    # Against the trivial job: writing the files and returning them (the target's measure);
    # against the same job without --collect: returning them alone.
    res["adds_p50"] = None if t is None or c is None else c - t
    res["return_adds_p50"] = None if n is None or c is None else c - n
    return res
