#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's shared helpers: logging, commands, percentiles and tables. Stdlib only.
import subprocess
import sys
import time

from bench_stats import percentile  # noqa: F401 (re-exported: bench.py imports it from here)

RUN_TIMEOUT = 60  # seconds for any single job of any variant; over it counts as a failure


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


def summary(values):
    if not values:
        return None
    return {"n": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "min": min(values), "max": max(values),
            "mean": sum(values) / len(values)}


def round_robin(cells, runs, once, label=None):
    """Runs every cell runs times, interleaved round robin with the first cell rotating each round,
    so that drift on a shared machine hits every cell alike. once(cell) returns (ok, seconds, ...,
    error); returns ({cell: [seconds]}, {cell: [error]})."""
    samples, failures = {c: [] for c in cells}, {c: [] for c in cells}
    t_start = time.monotonic()
    for i in range(runs):
        k = i % len(cells)
        for c in cells[k:] + cells[:k]:
            ok, dt, *_marks, err = once(c)
            if ok:
                samples[c].append(dt)
            else:
                failures[c].append(err)
        if label and (i + 1) % max(1, runs // 10) == 0:
            log(f"{label}: {i + 1}/{runs} rounds ({time.monotonic() - t_start:.0f} s)")
    return samples, failures


def cell_results(samples, failures):
    """{cell: {"seconds": summary, "failures": count, "errors": the first five}}"""
    return {c: {"seconds": summary(samples[c]), "failures": len(failures[c]), "errors": failures[c][:5]}
            for c in samples}


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
