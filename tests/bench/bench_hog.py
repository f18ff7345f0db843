#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's hog row (#21): the trivial job's latency while a CPU hog runs beside it (one
# busy-looping process per CPU, started and killed by the bench) against the same without it; bare,
# under systemd-run and through pyward, interleaved and spaced. Stdlib only.
import os
import signal
import subprocess
import sys
import time

from bench_common import cell_results, fmt_ratio, log, ms, ratio, round_robin, table
from bench_repeat import q
from bench_runner import TRIVIAL

VARIANTS = ["bare", "systemd-run", "pyward"]
CONDITIONS = ["no hog", "hog"]
HOG_CODE = "while True: pass"
SPIN_UP = 0.2  # seconds the hog runs before the first sample of its block


class Hog:
    """n busy-looping processes, in this (the bench's) cgroup, at the default nice level."""

    def __init__(self, n):
        self.n, self.procs = n, []

    def start(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", HOG_CODE]) for _ in range(self.n)]
        time.sleep(SPIN_UP)

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGKILL)
        for p in self.procs:
            p.wait()
        self.procs = []


def cpu_controller():
    """Whether the cgroup tree enforces CPU weights at all (the jobs' CPUWeight=, CPUQuota=)."""
    try:
        with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
            return "cpu" in f.read().split()
    except OSError:
        return False


def measure(runner, args):
    hog = Hog(os.cpu_count() or 1)
    cells = [(c, v) for c in CONDITIONS for v in VARIANTS]
    for v in VARIANTS:
        runner.sample(v, TRIVIAL, b"")  # warm-up

    # One round runs each condition as a block (the hog is started once per block), the
    # conditions in turn first, each block's variants rotating.
    samples, failures = {c: [] for c in cells}, {c: [] for c in cells}
    log(f"hog: {args.row_runs} rounds of {len(cells)} cells, {hog.n} hog processes")
    t_start = time.monotonic()
    try:
        for i in range(args.row_runs):
            for cond in CONDITIONS[i % 2:] + CONDITIONS[:i % 2]:
                if cond == "hog":
                    hog.start()
                try:
                    s, f = round_robin(VARIANTS[i % 3:] + VARIANTS[:i % 3], 1,
                                       lambda v: runner.sample(v, TRIVIAL, b""))
                finally:
                    hog.stop()
                for v in VARIANTS:
                    samples[(cond, v)] += s[v]
                    failures[(cond, v)] += f[v]
            if (i + 1) % max(1, args.row_runs // 5) == 0:
                log(f"hog: {i + 1}/{args.row_runs} rounds ({time.monotonic() - t_start:.0f} s)")
    finally:
        hog.stop()
    res = cell_results(samples, failures)
    p50 = {c: (res[c]["seconds"] or {}).get("p50") for c in cells}
    return {"runs": args.row_runs, "hog_processes": hog.n, "cpu_controller": cpu_controller(),
            "cells": {f"{c}, {v}": res[(c, v)] for c, v in cells},
            "slowdown": {v: ratio(p50[("hog", v)], p50[("no hog", v)]) for v in VARIANTS}}


def quantities(r):
    """What bench_repeat compares across runs: each variant's slowdown beside the hog."""
    out = {}
    for v in VARIANTS:
        h, n = ((r["cells"][f"{c}, {v}"]["seconds"] or {}).get("p50") for c in ("hog", "no hog"))
        out[f"{v} beside the hog / {v} alone"] = q(r["slowdown"][v], a=h, b=n)
    return out

def report_lines(r):
    rows = []
    for v in VARIANTS:
        row = [v]
        for c in CONDITIONS:
            s = r["cells"][f"{c}, {v}"]["seconds"] or {}
            row += [str(s.get("n", 0)), ms(s.get("p50")), ms(s.get("p99"))]
        row += [fmt_ratio(r["slowdown"][v]),
                str(sum(r["cells"][f"{c}, {v}"]["failures"] for c in CONDITIONS))]
        rows.append(row)
    lines = [f"Beside a CPU hog ({r['hog_processes']} busy-looping processes, one per CPU, in the bench's own cgroup; "
             f"trivial job, {r['runs']} rounds, ms)",
             table(rows, ["variant", "n", "p50", "p99", "n hog", "p50 hog", "p99 hog", "hog/no hog p50", "failures"]),
             "  the cgroup tree " + ("enforces CPU weights (cpu controller enabled)" if r["cpu_controller"] else
                                     "has no cpu controller enabled (nspawn): the jobs' CPUWeight=/CPUQuota= are not "
                                     "enforced, the hog competes as plain processes under the kernel's scheduler")]
    for k, c in r["cells"].items():
        lines += [f"  failure ({k}): {e}" for e in c["errors"]]
    return lines + [""]
