#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's numpy row (#21): an import-heavy job (numpy, a 300 x 300 matrix product) bare,
# under systemd-run with the helper's properties and through pyward, interleaved and spaced; what
# the sandbox costs a job whose import reads many files and maps large libraries. Stdlib only.
from bench_common import cell_results, fmt_ratio, log, ms, ratio, round_robin, table
from bench_repeat import q

CODE = "import numpy as np; a = np.random.rand(300, 300); (a @ a).sum()"
VARIANTS = ["bare", "systemd-run", "pyward"]
RATIOS = [("pyward / systemd-run", "pyward", "systemd-run"), ("pyward / bare", "pyward", "bare"),
          ("systemd-run / bare", "systemd-run", "bare")]
WARMUP = 2


def measure(runner, args):
    """The numpy row, or {"error"} when numpy does not import bare (not in the machine's image)."""
    ok, _dt, _t0, _t1, err = runner.sample("bare", "import numpy", b"")
    if not ok:
        log(f"numpy: does not import bare ({err}): no numpy row")
        return {"error": f"numpy does not import bare: {err} (python3-numpy is in scripts/lib/machine-common.sh's "
                         "ROOTFS_PACKAGES: a stale image?)"}
    for v in VARIANTS:
        for _ in range(WARMUP):
            runner.sample(v, CODE, b"")
    log(f"numpy: {args.row_runs} rounds of {len(VARIANTS)} variants")
    samples, failures = round_robin(VARIANTS, args.row_runs, lambda v: runner.sample(v, CODE, b""), label="numpy")
    cells = cell_results(samples, failures)
    p50 = {v: (cells[v]["seconds"] or {}).get("p50") for v in VARIANTS}
    return {"code": CODE, "runs": args.row_runs, "variants": cells,
            "ratios": {n: ratio(p50[a], p50[b]) for n, a, b in RATIOS}}


def quantities(r):
    """What bench_repeat compares across runs: each ratio of p50s, with its two p50s."""
    if "error" in r:
        return {}
    p50 = {v: (r["variants"][v]["seconds"] or {}).get("p50") for v in VARIANTS}
    return {n: q(r["ratios"][n], a=p50[a], b=p50[b]) for n, a, b in RATIOS}

def report_lines(r):
    if "error" in r:
        return [f"numpy job: n/a ({r['error']})", ""]
    rows = []
    for v in VARIANTS:
        c = r["variants"][v]
        s = c["seconds"] or {}
        rows.append([v, str(s.get("n", 0)), ms(s.get("p50")), ms(s.get("p90")), ms(s.get("p99")), str(c["failures"])])
    lines = [f"numpy job ({r['code']}; {r['runs']} interleaved rounds, ms)",
             table(rows, ["variant", "n", "p50", "p90", "p99", "failures"]),
             "  ratios of p50: " + ", ".join(f"{n} {fmt_ratio(x)}" for n, x in r["ratios"].items())]
    for v in VARIANTS:
        lines += [f"  failure ({v}): {e}" for e in r["variants"][v]["errors"]]
    return lines + [""]
