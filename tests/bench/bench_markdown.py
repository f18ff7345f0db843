#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's Performance tables from the JSON of one scripts/bench run per release (the files in
# bench-results/), as Markdown on stdout: nothing typed by hand, so the tables are the run's. Stdlib.
"""Usage: bench_markdown.py RESULT.json [RESULT.json ...]   (one per release, in column order)"""

import json
import sys

from bench_common import fmt_ratio as rx, ms
from bench_latency import RATIOS
from bench_runner import VARIANTS

ROWS = ["view", "collect", "session", "numpy", "bigio", "paths", "hog", "openloop", "hostcpu", "warm"]


def release(res):
    return res["machine"]["os"].split("(")[-1].rstrip(")") if "(" in res["machine"]["os"] else res["machine"]["os"]


def md(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("-" * (len(h) + 2) for h in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def spread_text(s, fmt):
    if not s:
        return "n/a"
    return f"{fmt(s['median'])} ({fmt(s['min'])}-{fmt(s['max'])})"


def latency(results):
    rows = []
    shown = [n for n, _a, _b in RATIOS if n in ("pyward / systemd-run", "pyward / bwrap-hardened")]
    for job in ("trivial", "real"):
        for res in results:
            lat = res.get("latency") or {}
            cells = lat.get(job) or {}
            p50 = [ms(((cells.get(v) or {}).get("seconds") or {}).get("p50")) for v in VARIANTS]
            sp = (res.get("latency_repeat") or {}).get("ratio_spreads") or {}
            rows.append([job, release(res)] + p50 + [spread_text((sp.get(n) or {}).get(job), rx) for n in shown])
    n = [((r.get("latency") or {}).get("trivial", {}).get("pyward", {}).get("seconds") or {}).get("n") for r in results]
    return (f"p50 ms (n = {'/'.join(str(x) for x in n)} per cell); ratios: median (min-max) of the runs' own\n\n"
            + md(["job", "release"] + VARIANTS + [f"{n}" for n in shown], rows))


def claims(results):
    lines = []
    for res in results:
        c = (res.get("latency_repeat") or {}).get("claims") or {}
        lines.append(f"- {release(res)}: " + "; ".join(f"{n} ({j}): {v}" for n, per in c.items() for j, v in per.items()))
    return "\n".join(lines)


def phases(results):
    names = []
    for res in results:
        for k in ((res.get("phases") or {}).get("phases") or {}):
            if k not in names:
                names.append(k)
    rows = [[k] + [ms((((r.get("phases") or {}).get("phases") or {}).get(k) or {}).get("p50")) for r in results]
            for k in names]
    rows.append(["total (p50 of the matched runs)"] + [ms((r.get("phases") or {}).get("total_p50")) for r in results])
    return md(["phase (trivial job, p50 ms)"] + [release(r) for r in results], rows)


def row_spreads(results, name):
    """One table of a repeated row: each quantity's median (min-max) per release, and the claims."""
    names = []
    for res in results:
        for k in (((res.get(name) or {}).get("repeat") or {}).get("spreads") or {}):
            if k not in names:
                names.append(k)
    if not names:
        return f"({name}: not repeated in these runs)"
    rows = []
    for k in names:
        row = [k]
        cl = []
        for res in results:
            rep = (res.get(name) or {}).get("repeat") or {}
            s = rep.get("spreads", {}).get(k)
            u = (s or {}).get("unit", "x")
            fmt = rx if u == "x" else ms if u == "ms" else (lambda v: f"{v:g}") if u == "n" else (lambda v: f"{v:.1f}")
            row.append(spread_text(s, fmt) + ("" if u in ("x", "n") else f" {u}"))
            c = rep.get("claims", {}).get(k)
            if c:
                cl.append(c)
        rows.append(row + [" / ".join(dict.fromkeys(cl)) if cl else ""])
    runs = [str(((r.get(name) or {}).get("repeat") or {}).get("runs", 1)) for r in results]
    return (f"{name}: median (min-max) over {'/'.join(runs)} runs\n\n"
            + md(["quantity"] + [release(r) for r in results] + ["claim (where the runs do not overlap)"], rows))


def warm_cells(results):
    rows, keys = [], []
    for res in results:
        for job, cells in (((res.get("warm") or {}).get("latency") or {}).get("cells") or {}).items():
            for v in cells:
                if (job, v) not in keys:
                    keys.append((job, v))
    for job, v in keys:
        row = [f"{job} {v}"]
        for res in results:
            c = ((((res.get("warm") or {}).get("latency") or {}).get("cells") or {}).get(job) or {}).get(v)
            s = (c or {}).get("seconds") or {}
            row.append(f"{ms(s.get('p50'))} ({ms(s.get('p90'))})" if s else "n/a")
        rows.append(row)
    return md(["job / variant, run 1 (p50 (p90) ms)"] + [release(r) for r in results], rows)


def main(paths):
    results = []
    for p in paths:
        with open(p) as f:
            results.append(json.load(f))
    for res in results:
        m = res["machine"]
        print(f"- {release(res)}: {m['systemd']}, kernel {m['kernel']}, {m['cpus']} CPUs, started {res['started']}, "
              f"{res['elapsed_seconds'] / 60:.1f} min, load average {m['loadavg_at_start'][0]:.1f} at the start, "
              f"{m['loadavg_at_end'][0]:.1f} at the end; params {json.dumps(res['params'])}")
    print()
    print(latency(results))
    print()
    print(claims(results))
    print()
    print(phases(results))
    for name in ROWS:
        print()
        print(row_spreads(results, name))
    print()
    print(warm_cells(results))
    print()
    for res in results:
        print(f"- {release(res)} targets: " + "; ".join(f"{k}: {v['value']} ({'met' if v['met'] else 'missed' if v['met'] is False else 'n/a'})"
                                                     for k, v in res.get("targets", {}).items()))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    sys.exit(main(sys.argv[1:]))
