#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's session rows (issue #15), with the installed Python client: the p50 of a trivial
# cell ("pass", "1") over one session against exec() of the same compiled code in this process
# (target: at most 2 ms more), and the p50 of a session's first cell (connect -> its first
# CELL_RESULT) against a one-shot job of the same code through the same module.
import glob
import sys
import time

from bench_common import log, ratio, summary
from bench_repeat import median, q

TRIVIAL_CELLS = {"pass": None, "1": "1"}  # code -> the value its CELL_RESULT must carry
WARMUP_CELLS = 20
CELL_OVERHEAD_TARGET = 0.002  # seconds over in-process, the target


def import_pyward():
    """The client module as meson installed it (its python dir depends on the build host)."""
    try:
        import pyward
        return pyward
    except ImportError:
        pass
    for pattern in ("/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
                    "/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages"):
        for d in sorted(glob.glob(pattern)):
            if glob.glob(f"{d}/pyward.py") or glob.glob(f"{d}/pyward/__init__.py"):
                sys.path.append(d)
                import pyward
                return pyward
    return None


def in_process(code, runs):
    """Seconds of each exec() of the compiled code in one namespace, as a kernel runs a cell
    without the socket, the helper and the runner."""
    compiled, ns = compile(code, "<cell>", "exec"), {"__name__": "__main__"}
    for _ in range(WARMUP_CELLS):
        exec(compiled, ns)  # noqa: S102 - the benchmark's own constant code
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        exec(compiled, ns)  # noqa: S102
        out.append(time.perf_counter() - t0)
    return out


def cells_over_session(pyward, runs):
    """Interleaved round trips of each trivial cell over one session: {code: [seconds]}, failures."""
    samples, failures = {c: [] for c in TRIVIAL_CELLS}, []
    with pyward.Session() as s:
        for _ in range(WARMUP_CELLS):
            s.run("pass")
        codes = list(TRIVIAL_CELLS)
        for i in range(runs):
            k = i % len(codes)
            for code in codes[k:] + codes[:k]:
                t0 = time.perf_counter()
                r = s.run(code)
                dt = time.perf_counter() - t0
                if r.status == "ok" and r.value == TRIVIAL_CELLS[code]:
                    samples[code].append(dt)
                else:
                    failures.append(f"{code!r}: {r.status} {r.value!r} {r.error_type} {r.message}")
    return samples, failures


def first_cells(pyward, runs):
    """Interleaved: a new session's first cell (Session() -> its first CELL_RESULT) and the close
    after it (SESSION_END -> RESULT); a one-shot pyward.run() of the same code for comparison."""
    first, close, oneshot, failures = [], [], [], []
    for i in range(runs):
        order = ["session", "oneshot"] if i % 2 == 0 else ["oneshot", "session"]
        for what in order:
            t0 = time.perf_counter()
            if what == "oneshot":
                r = pyward.run("pass")
                if r.status == "ok":
                    oneshot.append(time.perf_counter() - t0)
                else:
                    failures.append(f"one-shot: {r.status} {r.message}")
                continue
            s = pyward.Session()
            r = s.run("pass")
            t1 = time.perf_counter()
            res = s.close()
            t2 = time.perf_counter()
            if r.status == "ok" and res.status == "ok":
                first.append(t1 - t0)
                close.append(t2 - t1)
            else:
                failures.append(f"session: cell {r.status}, session {res.status} {res.message}")
    return first, close, oneshot, failures


def measure_session(runs, first_runs):
    """The session rows, or None when the installed client has no sessions."""
    pyward = import_pyward()
    if pyward is None or not hasattr(pyward, "Session"):
        log("session: the installed pyward module has no Session: no session rows")
        return None
    log(f"session: {runs} rounds of {len(TRIVIAL_CELLS)} trivial cells, {first_runs} first cells")
    samples, failures = cells_over_session(pyward, runs)
    res = {"cells": {}, "failures": failures[:5], "failure_count": len(failures)}
    for code in TRIVIAL_CELLS:
        cell, local = summary(samples[code]), summary(in_process(code, runs))
        over = None if not cell or not local else cell["p50"] - local["p50"]
        res["cells"][code] = {"session": cell, "in_process": local, "overhead_p50": over}
    first, close, oneshot, more = first_cells(pyward, first_runs)
    res.update(first_cell=summary(first), close=summary(close), oneshot=summary(oneshot))
    res["failure_count"] += len(more)
    res["failures"] += more[:5]
    return res


def quantities(se):
    """What bench_repeat compares across runs: what a cell adds over exec(), a session's first
    cell and close, and a one-shot job (with the first cell against it)."""
    out = {f"cell {code!r} adds over exec()": q(v["overhead_p50"], "ms") for code, v in se["cells"].items()}
    f, c, o = ((se[k] or {}).get("p50") for k in ("first_cell", "close", "oneshot"))
    out.update({"first cell": q(f, "ms"), "close": q(c, "ms"), "one-shot pyward.run('pass')": q(o, "ms"),
                "first cell / one-shot": q(ratio(f, o), a=f, b=o)})
    return out


def _ms(x):
    return "n/a" if x is None else f"{x * 1000:.2f}"


def _us(x):
    return "n/a" if x is None else f"{x * 1e6:.1f}"


def report_lines(se):
    """The report's session section."""
    if not se:
        return ["Sessions: n/a (the installed client has no pyward.Session)", ""]
    lines = [f"Sessions (pyward.Session, one session; {se['failure_count']} failures)"]
    for code, v in se["cells"].items():
        s, loc = v["session"] or {}, v["in_process"] or {}
        lines.append(f"  cell {code!r:6}: p50 {_ms(s.get('p50'))} ms, p90 {_ms(s.get('p90'))} ms over the session; "
                     f"in-process exec() p50 {_us(loc.get('p50'))} us; the session adds {_ms(v['overhead_p50'])} ms")
    f, c, o = se["first_cell"] or {}, se["close"] or {}, se["oneshot"] or {}
    lines.append(f"  first cell (connect -> first CELL_RESULT): p50 {_ms(f.get('p50'))} ms, p90 {_ms(f.get('p90'))} ms "
                 f"({f.get('n', 0)} sessions); close (SESSION_END -> RESULT) p50 {_ms(c.get('p50'))} ms; "
                 f"a one-shot pyward.run('pass') p50 {_ms(o.get('p50'))} ms")
    for e in se["failures"]:
        lines.append(f"  failure: {e}")
    lines.append("")
    return lines


def targets(se):
    """The issue's target, for the report's list: {name: {"value", "met"}}."""
    v = median(se, "cell 'pass' adds over exec()", (se or {}).get("cells", {}).get("pass", {}).get("overhead_p50"))
    return {"a trivial cell's p50 <= 2 ms over running it in-process": {
        "value": "n/a" if v is None else f"{v * 1000:.2f} ms",
        "met": None if v is None else v <= CELL_OVERHEAD_TARGET}}
