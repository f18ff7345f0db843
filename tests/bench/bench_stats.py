#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's pure statistics: interpolated percentiles, spreads over runs and the one claim
# the report may make from them. No I/O, stdlib only, so that test_bench_stats.py can check it.


def percentile(values, p):
    """Percentile p (0..100) of a non-empty list by linear interpolation between closest ranks
    (the method numpy calls "linear", R type 7): rank h = (n - 1) * p / 100, value
    s[floor(h)] + (h - floor(h)) * (s[floor(h) + 1] - s[floor(h)]). Nearest rank made p99 of 60
    samples the maximum; this one moves with every sample near the tail."""
    if not values:
        raise ValueError("percentile of no values")
    s = sorted(values)
    h = (len(s) - 1) * p / 100
    lo = int(h)
    if lo + 1 >= len(s):
        return s[-1]
    return s[lo] + (h - lo) * (s[lo + 1] - s[lo])


def spread(per_run):
    """{"median", "min", "max", "runs"} of one quantity measured once per run, or None if no run
    measured it (a None run is left out: its cell failed every sample)."""
    vals = [v for v in per_run if v is not None]
    if not vals:
        return None
    return {"median": percentile(vals, 50), "min": min(vals), "max": max(vals), "runs": list(per_run)}


def compare(a_runs, b_runs):
    """"faster", "slower" (A against B) or "no difference shown", from each run's p50 of A and of B:
    a claim only where the min-max ranges over runs do not overlap, so one lucky run cannot make it."""
    a, b = spread(a_runs), spread(b_runs)
    if a is None or b is None or len(a_runs) < 2 or len(b_runs) < 2:
        return "no difference shown"
    if a["max"] < b["min"]:
        return "faster"
    if a["min"] > b["max"]:
        return "slower"
    return "no difference shown"
