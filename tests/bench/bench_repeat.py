#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The rows of #21 and the view, files and session sections run --repeat times, as the latency
# section is: each run gets its share of the section's rounds, so that the repeated section costs
# what one run of it did, and each names the numbers compared across its runs (quantities()); the
# report gives each one's median and min-max over the runs, and a claim only where the runs do not
# overlap (bench_stats). Stdlib only.
import argparse
import math

from bench_common import fmt_ratio, log, ms, table
from bench_stats import compare, spread

# The words of a claim A against B, for A below B and above it: times (p50s), costs (CPU) and rates.
WORDS = {"time": ("faster", "slower"), "cost": ("cheaper", "costlier"), "rate": ("lower", "higher")}


# The options that share() divides (rounds of each kind), and --duration (the openloop levels).
SHARED = ("row_runs", "runs", "hostcpu_jobs", "view_runs", "collect_runs", "session_runs", "session_first_runs")


def share(args, n):
    """The options of one of n runs of a section: its rounds (SHARED) divided by n, rounded up,
    and --duration divided by n; share tells rows with a fixed number of runs of their own
    (paths) to take their part too."""
    sub = argparse.Namespace(**vars(args))
    for k in SHARED:
        if getattr(args, k, None):
            setattr(sub, k, max(1, math.ceil(getattr(args, k) / n)))
    sub.duration = args.duration / n
    sub.share = 1 / n
    return sub


def q(value, unit="x", a=None, b=None, words="time"):
    """One quantity of one run: its value (a ratio when unit is "x"), and for a ratio A / B the
    run's A and B (p50s, costs), from which a claim is made over the runs."""
    return {"value": value, "unit": unit, "a": a, "b": b, "words": words}


def measure(name, row, runner, args):
    """A row: row.measure() by repeated(). A row without quantities() runs once, with all the
    options."""
    if not hasattr(row, "quantities"):
        return row.measure(runner, args)
    return repeated(name, args, lambda a: row.measure(runner, a), row.quantities)


def repeated(name, args, once, quantities):
    """once(options) --repeat times, each with share() of the options; the first run's result,
    with "repeat": {runs, options, quantities per run, spreads, claims, results (every run's)}.
    once() returning None (the section does not apply here) ends it: None."""
    n = args.repeat
    if n == 1:
        return once(args)
    sub = share(args, n)
    results = []
    for k in range(n):
        log(f"{name}: run {k + 1}/{n}")
        r = once(sub)
        if r is None:
            return None
        results.append(r)
    res = dict(results[0])
    res["repeat"] = summarize(quantities, results)
    res["repeat"]["options"] = {k: getattr(sub, k) for k in SHARED + ("duration",) if getattr(sub, k, None)}
    return res


def summarize(quantities, results):
    """The spread and the claim of every quantity the runs measured."""
    per_run = [quantities(r) for r in results]
    names = [k for k in per_run[0]]
    for p in per_run[1:]:
        names += [k for k in p if k not in names]
    spreads, claims = {}, {}
    for k in names:
        qs = [p.get(k) or q(None) for p in per_run]
        spreads[k] = spread([x["value"] for x in qs])
        if spreads[k] is not None:
            spreads[k]["unit"] = qs[0]["unit"]
        claims[k] = claim(k, qs)
    return {"runs": len(results), "quantities": per_run, "spreads": spreads, "claims": claims,
            "results": results}


def claim(name, qs):
    """"A faster than B" (or the quantity's own words) where every run measured A and B and their
    min-max ranges over the runs do not overlap; else why not."""
    if any(x["a"] is None or x["b"] is None for x in qs):
        return "" if all(x["a"] is None for x in qs) else "n/a"
    a_label, _, b_label = name.partition(" / ")
    c = compare([x["a"] for x in qs], [x["b"] for x in qs])
    if c == "no difference shown":
        return "no difference shown (runs overlap)"
    word = WORDS[qs[0]["words"]][0 if c == "faster" else 1]
    return f"{a_label} {word} than {b_label}"


def median(res, name, default=None):
    """A quantity's median over the runs of a repeated row, or default (the single run's value)."""
    s = ((res or {}).get("repeat") or {}).get("spreads", {}).get(name)
    return default if s is None else s["median"]


def _fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "x":
        return fmt_ratio(v)
    if unit == "ms":
        return f"{v * 1000:.2f}" if abs(v) < 0.01 else ms(v)
    if unit == "n":
        return f"{v:g}"
    return f"{v:.1f}"


def report_lines(res):
    """The table of a repeated row's quantities, below the first run's own tables."""
    rep = (res or {}).get("repeat")
    if not rep:
        return []
    opts = ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in rep["options"].items())
    rows = []
    for k, s in rep["spreads"].items():
        if s is None:
            rows.append([k, "n/a", "", "", ""])
            continue
        u = s["unit"]
        rows.append([k + ("" if u in ("x", "n") else f", {u}"), _fmt(s["median"], u),
                     f"{_fmt(s['min'], u)}..{_fmt(s['max'], u)}", " ".join(_fmt(v, u) for v in s["runs"]),
                     rep["claims"][k]])
    return [f"  over {rep['runs']} runs of this section (the tables above are run 1's; each run: {opts}; "
            "as far as the section uses them)",
            table(rows, ["quantity", "median", "min..max", "per run", "claim"]), ""]
