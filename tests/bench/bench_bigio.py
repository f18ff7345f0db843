#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's bigio row (#21): 8 MiB in on stdin and the same 8 MiB out on stdout, through
# pyward's relay (client -> STDIN frames -> the job's stdin pipe; stdout pipe -> frames -> client)
# against bare Python and systemd-run --pipe, interleaved and spaced; the same job with no input
# beside each, so that the difference is the data's cost. Stdlib only.
import os
import re

from bench_common import cell_results, log, ms, ratio, round_robin, run, table
from bench_repeat import q
from bench_runner import Runner

SIZE = 8 << 20
CODE = "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d)"
OUTPUT_MAX = SIZE + (1 << 20)  # what the client asks for: the job's stdout plus a margin
HELPER = "/usr/libexec/pyward-helper"
DROPIN = "/etc/pyward/pyward.conf.d/90-bench-bigio.conf"
CELLS = ["bare, 8 MiB", "bare, 0 B", "systemd-run, 8 MiB", "systemd-run, 0 B", "pyward, 8 MiB", "pyward, 0 B"]
UNITS = {"systemd-run", "pyward"}
SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def output_max():
    """The default profile's OutputMax= (its maximum) from pyward-helper --show-config, in bytes."""
    r = run([HELPER, "--show-config", "--profile", "default"], check=False)
    m = re.search(r"^\s*OutputMax\s*=\s*(\d+)([KMGT]?)", r.stdout, re.M)
    return None if not m else int(m.group(1)) * SUFFIX[m.group(2)]


def ensure_output_max():
    """Raises OutputMax= by a drop-in where its maximum is below OUTPUT_MAX; returns what was done."""
    have = output_max()
    if have is not None and have >= OUTPUT_MAX:
        return f"OutputMax= maximum {have >> 20} MiB (pyward-helper --show-config): the client asks " \
               f"--output-max={OUTPUT_MAX >> 20}M, no drop-in needed"
    os.makedirs(os.path.dirname(DROPIN), exist_ok=True)
    with open(DROPIN, "w") as f:
        f.write(f"# scripts/bench's bigio row, removed after it\n[Profile]\nOutputMax={OUTPUT_MAX >> 20}M\n")
    return f"OutputMax= maximum {'unknown' if have is None else f'{have >> 20} MiB'}: raised to " \
           f"{OUTPUT_MAX >> 20}M for the row by {DROPIN} (removed after it)"


def measure(runner, args):
    config = ensure_output_max()
    log(f"bigio: {config}")
    data = os.urandom(SIZE)
    pyward = ["pyward", "-q", f"--output-max={OUTPUT_MAX >> 20}M", "-c", CODE]
    argv = {"bare": runner.argv("bare", CODE), "systemd-run": None, "pyward": pyward}

    def once(cell):
        variant, size = cell.split(", ")
        stdin = data if size == "8 MiB" else b""
        a = argv[variant] or runner.argv(variant, CODE)  # systemd-run: a unit name per run
        return Runner.spaced(a, stdin, variant in UNITS, stdin=stdin)

    try:
        for c in CELLS:
            once(c)  # warm-up
        log(f"bigio: {args.row_runs} rounds of {len(CELLS)} cells")
        cells = cell_results(*round_robin(CELLS, args.row_runs, once, label="bigio"))
    finally:
        if os.path.exists(DROPIN):
            os.unlink(DROPIN)
    p50 = {c: (cells[c]["seconds"] or {}).get("p50") for c in CELLS}
    diff = lambda a, b: None if p50[a] is None or p50[b] is None else p50[a] - p50[b]  # noqa: E731
    return {"bytes": SIZE, "code": CODE, "config": config, "runs": args.row_runs, "cells": cells,
            "pyward_data_cost": diff("pyward, 8 MiB", "pyward, 0 B"),
            "bare_data_cost": diff("bare, 8 MiB", "bare, 0 B"),
            "systemd_run_data_cost": diff("systemd-run, 8 MiB", "systemd-run, 0 B"),
            "pyward_over_bare": diff("pyward, 8 MiB", "bare, 8 MiB")}


def quantities(r):
    """What bench_repeat compares across runs: what the 8 MiB cost each variant, and pyward's
    8 MiB p50 against bare Python's."""
    p50 = {c: (r["cells"][c]["seconds"] or {}).get("p50") for c in CELLS}
    return {"the data, pyward": q(r["pyward_data_cost"], "ms"), "the data, bare": q(r["bare_data_cost"], "ms"),
            "the data, systemd-run": q(r["systemd_run_data_cost"], "ms"),
            "pyward 8 MiB / bare 8 MiB": q(ratio(p50["pyward, 8 MiB"], p50["bare, 8 MiB"]),
                                            a=p50["pyward, 8 MiB"], b=p50["bare, 8 MiB"])}

def report_lines(r):
    rows = []
    for c in CELLS:
        cell = r["cells"][c]
        s = cell["seconds"] or {}
        rows.append([c, str(s.get("n", 0)), ms(s.get("p50")), ms(s.get("p90")), ms(s.get("p99")),
                     str(cell["failures"])])
    pd, bd = r["pyward_data_cost"], r["bare_data_cost"]
    rate = None if not pd or pd <= 0 else 2 * r["bytes"] / pd / (1 << 20)
    lines = [f"Large input and output: {r['bytes'] >> 20} MiB on stdin, the same back on stdout, checked byte for byte "
             f"({r['runs']} interleaved rounds, ms)",
             table(rows, ["job / input", "n", "p50", "p90", "p99", "failures"]),
             f"  the data costs pyward {ms(pd)} ms at the p50 (8 MiB against 0 B: "
             + ("n/a" if rate is None else f"{rate:.0f} MiB/s for the 16 MiB in and out")
             + f"), bare Python {ms(bd)} ms, "
             f"systemd-run --pipe {ms(r.get('systemd_run_data_cost'))} ms",
             f"  {r['config']}"]
    for c in CELLS:
        lines += [f"  failure ({c}): {e}" for e in r["cells"][c]["errors"]]
    return lines + [""]
