#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's report: its tables and the targets, from the results of one run. Stdlib only.
import bench_latency
import bench_repeat
import bench_session
import bench_spacing
import bench_view
import bench_warm
from bench_common import fmt_ratio, ms, table

def report(res, variants, rows):
    """The tables of one run, as text."""
    m = res["machine"]
    lines = [f"pyward benchmark: {m['os']}, {m['systemd']}, kernel {m['kernel']}, {m['cpus']} CPUs, "
             f"Python {m['python']} ({m['virtualization']})",
             f"interpreter: {' '.join([res['interpreter']] + res['interpreter_args'])}; "
             f"{res['params']['runs']} interleaved runs per cell, latency and each row repeated "
             f"{res['params'].get('repeat', 1)} time(s); sections {','.join(res['params']['only'])}",
             "load average: " + " ".join(f"{x:.2f}" for x in m["loadavg_at_start"]) + " at the start, "
             + " ".join(f"{x:.2f}" for x in m["loadavg_at_end"]) + " at the end"
             + f"; CPUs {m['cpus']} at the start, {m.get('cpus_at_end', 'n/a')} at the end", ""]
    lines += bench_spacing.report_lines(res.get("spacing"))
    if "latency" in res:
        lines += bench_latency.report_lines(res, variants)
    if "view" in res:
        lines += bench_view.report_lines(res["view"]) + bench_repeat.report_lines(res["view"])
    lines += later_lines(res)
    for name, row in rows.items():
        if name in res:
            lines += row.report_lines(res[name]) + bench_repeat.report_lines(res[name])
    t = res["targets"]
    lines.append("Targets (reported, not tests):")
    for k, v in t.items():
        lines.append(f"  {'MET ' if v['met'] else 'MISS' if v['met'] is False else 'n/a '} {k}: {v['value']}")
    return "\n".join(lines)


def later_lines(res):
    """Throughput, scale, files, sessions and memory."""
    lines = []
    th = res.get("throughput")
    if th:
        trow = [[v["clients"], f"{v['jobs_per_second']:.1f}", v["jobs"], v["failures"],
                 ms((v["latency"] or {}).get("p50")), f"{v['seconds']:.0f}"] for v in th.values()]
        lines += ["Throughput (trivial job, pyward CLI, one UID per client)",
                  table(trow, ["clients", "jobs/s", "jobs", "failures", "p50 ms", "s"]), ""]
    sc = res.get("scale")
    if sc:
        w = sc["window"]
        lines += [f"Scale: {sc['jobs']} sequential jobs, {sc['failures']} failures; p50 jobs 1-{w}: "
                  f"{ms(sc['first_p50'])} ms, jobs {sc['jobs'] - w + 1}-{sc['jobs']}: {ms(sc['last_p50'])} ms "
                  f"({fmt_ratio(sc['last_over_first'])})",
                  f"  controls, same windows: bare Python {fmt_ratio(sc['control_bare']['last_over_first'])}, "
                  f"systemd-run (every 10th job) {fmt_ratio(sc['control_systemd_run']['last_over_first'])}",
                  "  leftovers afterwards: " + ", ".join(f"{k} {v}" for k, v in sc["leftover_counts"].items())
                  + f" (slot files before the run: {sc['slot_files_before']}; reused, one per UID and slot)", ""]
    co = res.get("collect")
    if co:
        crow = [[k, str((v["seconds"] or {}).get("n", 0)), ms((v["seconds"] or {}).get("p50")),
                 ms((v["seconds"] or {}).get("p90")), str(v["failures"])]
                for k, v in co.items() if k not in ("adds_p50", "return_adds_p50", "repeat")]
        lines += ["Returning files (10 x 1 MiB in the working directory; pyward CLI)",
                  table(crow, ["job", "n", "p50", "p90", "failures"]),
                  f"  writing and returning the files adds {ms(co['adds_p50'])} ms to the trivial job's p50; "
                  f"returning them alone (--collect against the same job without it) {ms(co.get('return_adds_p50'))} ms",
                  ""] + bench_repeat.report_lines(co)
    if "session" in res:
        lines += bench_session.report_lines(res["session"]) + bench_repeat.report_lines(res["session"])
    mem = res.get("memory")
    if mem:
        s, lg = mem["helper_vmhwm_kb_sampled"], mem["helper_peak_rss_kb_logged"]
        lines.append("Memory: helper peak RSS per connection: "
                     + (f"p50 {s['p50']} KiB, max {s['max']} KiB (VmHWM sampled, {s['n']} helpers)" if s else "n/a")
                     + (f"; VmHWM logged by the helper p50 {lg['p50']} KiB, max {lg['max']} KiB ({lg['n']} helpers)" if lg else ""))
        lines.append(f"idle (no connection): {mem['idle_processes']} processes in pyward units, "
                     f"socket {mem['socket'].get('ActiveState', '?')}")
        lines.append("")
    return lines


def targets(res):
    r = res.get("ratios", {}).get("pyward / systemd-run", {}).get("trivial")
    th = res.get("throughput", {}).get("16")
    sc = res.get("scale")
    co = res.get("collect")
    adds = bench_repeat.median(co, "writing and returning the files adds", (co or {}).get("adds_p50"))
    out = {
        "pyward p50 <= 1.15x systemd-run (trivial job)": {
            "value": fmt_ratio(r), "met": None if r is None else r <= 1.15},
        "0 failures at concurrency 16": {
            "value": "n/a" if not th else f"{th['failures']} failures",
            "met": None if not th else th["failures"] == 0},
        "late jobs p50 <= 1.1x early jobs": {
            "value": "n/a" if not sc else fmt_ratio(sc["last_over_first"]),
            "met": None if not sc or sc["last_over_first"] is None else sc["last_over_first"] <= 1.1},
        "returning 10 x 1 MiB adds <= 50 ms to a trivial job's p50": {
            "value": "n/a" if adds is None else f"{adds * 1000:.1f} ms",
            "met": None if adds is None else adds <= 0.050},
        "no leftovers after the scale run": {
            "value": "n/a" if not sc else ", ".join(f"{k} {v}" for k, v in sc["leftover_counts"].items()),
            "met": None if not sc else not any(v for k, v in sc["leftover_counts"].items()
                                                if k != "slot_files")},
    }
    if "session" in res:
        out.update(bench_session.targets(res["session"]))
    if "view" in res:
        out.update(bench_view.targets(res["view"]))
    if "warm" in res:
        out.update(bench_warm.targets(res["warm"]))
    return out
