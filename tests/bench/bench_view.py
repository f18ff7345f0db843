#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's view row (issue #19): what the job's view of the host (its /etc tree and its
# cgroup view, helper/host-view.c) costs a trivial job. The trivial job under systemd-run with
# exactly the helper's captured properties, against the same properties with only the view's taken
# out: the host's /etc (no bind of /run/pyward/etc-view/...) and ProtectControlGroups=yes, what the
# helper set before the view (systemd 257: instead of ProtectControlGroupsEx=strict; 252: without
# the bind of the job's own cgroup directory at /sys/fs/cgroup). Interleaved round robin. Stdlib only.
import os
import random
import subprocess

from bench_common import (RUN_TIMEOUT, cell_results, fmt_ratio, log, ms, percentile, ratio, round_robin, run,
                          table)
from bench_repeat import q
from bench_sandbox import props_to_systemd_run

ETC_VIEW_DIR = "/run/pyward/etc-view/"  # the trees pyward-etc-view prepares (HOST_VIEW_DIR's parent)
CGROUP_ROOT = "/sys/fs/cgroup"
VARIANTS = ["view", "no view"]
WARMUP = 3  # runs of each variant before the measured ones, not counted
BOOTSTRAP_ROUNDS = 2000
# What a job sees, printed by one job of each variant: the number of /etc entries, whether the
# host's cgroup hierarchy (pyward.slice) is visible, and the job's /proc/self/cgroup.
PROBE = ("import os\n"
         "print(len(os.listdir('/etc')), os.path.isdir('/sys/fs/cgroup/pyward.slice'),"
         " [l.strip() for l in open('/proc/self/cgroup') if l.startswith('0::')][0])\n")


def _view_bind(bind):
    src, dst = bind[0], bind[1]
    return (src.startswith(ETC_VIEW_DIR) and (dst == "/etc" or dst.startswith("/etc/"))) or dst == CGROUP_ROOT


def without_view(props):
    """The helper's properties with the view's removed or replaced by what the unit had before it:
    ([(name, dbus type, value)], [what changed, as text])."""
    out, changes = [], []
    for name, sig, v in props:
        if name == "BindReadOnlyPaths":
            changes += [f"BindReadOnlyPaths={b[0]}:{b[1]} dropped" for b in v if _view_bind(b)]
            v = [b for b in v if not _view_bind(b)]
        elif name == "TemporaryFileSystem":
            # An empty /etc, with the tree's entries bound in one by one (a profile that binds into
            # /etc), or alone (no tree prepared).
            changes += [f"TemporaryFileSystem={t[0]} dropped" for t in v if t[0] == "/etc"]
            v = [t for t in v if t[0] != "/etc"]
        elif name == "ProtectControlGroupsEx":
            changes.append(f"ProtectControlGroupsEx={v} -> ProtectControlGroups=yes")
            name, sig, v = "ProtectControlGroups", "b", True
        if v or sig not in ("a(ssbt)", "a(ss)"):
            out.append((name, sig, v))
    return out, changes


def probe(runner, sd_run_args):
    r = run(runner.argv("systemd-run", PROBE, sd_run_args=sd_run_args), timeout=RUN_TIMEOUT, check=False,
            stdin=subprocess.DEVNULL)
    out = r.stdout.split(maxsplit=2)
    if r.returncode != 0 or len(out) < 2 or not out[0].isdigit():
        return {"error": f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"}
    return {"etc_entries": int(out[0]), "host_cgroups_visible": out[1] == "True",
            "proc_self_cgroup": out[2].strip() if len(out) > 2 else ""}


def bootstrap_interval(stat, *samples, rounds=BOOTSTRAP_ROUNDS):
    """A 95 % bootstrap interval of stat(*samples), each sample resampled on its own (fixed seed)."""
    rng = random.Random(19)
    d = [stat(*(rng.choices(x, k=len(x)) for x in samples)) for _ in range(rounds)]
    return percentile(d, 2.5), percentile(d, 97.5)


def median(x):
    return percentile(x, 50)


def p50_difference(a, b):
    return median(a) - median(b)


def paired(samples, failures):
    """The differences view - no view within each round (both ran back to back, so drift of the
    machine's load cancels): their median and its 95 % interval; None when a run failed (the
    rounds no longer pair)."""
    if any(failures.values()) or not samples["view"]:
        return None
    d = [v - n for v, n in zip(samples["view"], samples["no view"])]
    return {"n": len(d), "median": median(d), "interval_95": bootstrap_interval(median, d)}


def measure_view(runner, props, aux, runs, code, expect):
    """The view row, or None when the helper's properties hold no view to take out."""
    plain, changes = without_view(props)
    if not changes:
        log("view: the helper's properties hold no /etc tree or cgroup view: no view row")
        return None
    args = {"view": runner.sd_run_args, "no view": props_to_systemd_run(plain, aux)[0]}
    probes = {k: probe(runner, a) for k, a in args.items()}
    host_etc = len(os.listdir("/etc"))
    for k, p in probes.items():
        log(f"view: a '{k}' job sees {p}")
    v, nv = probes["view"], probes["no view"]
    if nv.get("etc_entries") != host_etc or not nv.get("host_cgroups_visible"):
        log(f"view: the 'no view' job does not see the host's /etc ({host_etc} entries) and cgroups")
    if v.get("etc_entries") == host_etc or v.get("host_cgroups_visible", True):
        log("view: the 'view' job sees the host's /etc or cgroups")
    once = lambda k: runner.spaced(runner.argv("systemd-run", code, sd_run_args=args[k]), expect, True)  # noqa: E731
    for k in VARIANTS:
        for _ in range(WARMUP):
            once(k)
    load_before = os.getloadavg()
    log(f"view: {runs} rounds of {len(VARIANTS)} variants; load average {load_before}")
    samples, failures = round_robin(VARIANTS, runs, once, label="view")
    res = {"runs": runs, "changes": changes, "no_view_args": args["no view"], "probes": probes,
           "host_etc_entries": host_etc, "variants": cell_results(samples, failures),
           "loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    a, b = (summary_p50(res, k) for k in VARIANTS)
    res["adds_p50"] = None if a is None or b is None else a - b
    res["ratio_p50"] = ratio(a, b)
    res["adds_p50_interval_95"] = (bootstrap_interval(p50_difference, samples["view"], samples["no view"])
                                   if a is not None and b is not None else None)
    res["paired"] = paired(samples, failures)
    log(f"view: p50 {ms(a)} ms with the view, {ms(b)} ms without; load average {res['loadavg_after']}")
    return res


def quantities(vw):
    """What bench_repeat compares across runs: the view's cost as a ratio (with both p50s), as a
    difference of the p50s and as the paired median."""
    a, b = (summary_p50(vw, k) for k in VARIANTS)
    pr = vw.get("paired") or {}
    return {"view / no view": q(vw["ratio_p50"], a=a, b=b), "the view adds (p50s)": q(vw["adds_p50"], "ms"),
            "the view adds (paired median)": q(pr.get("median"), "ms")}


def summary_p50(res, variant):
    return (res["variants"][variant]["seconds"] or {}).get("p50")


def _interval(iv):
    return "n/a" if not iv else f"{ms(iv[0])} to {ms(iv[1])}"


def _load(t):
    return " ".join(f"{x:.2f}" for x in t)


def report_lines(vw):
    """The report's view section."""
    if not vw:
        return ["The job's view of the host: n/a (the helper's properties hold no view)", ""]
    rows = []
    for k in VARIANTS:
        cell = vw["variants"][k]
        s = cell["seconds"] or {}
        rows.append([k, str(s.get("n", 0)), ms(s.get("p50")), ms(s.get("p90")), str(cell["failures"])])
    iv, pr = vw["adds_p50_interval_95"], vw["paired"]
    lines = [f"The job's view of the host (its /etc tree, its cgroup view): trivial job under systemd-run, "
             f"{vw['runs']} interleaved runs each; load average {_load(vw['loadavg_before'])} before, "
             f"{_load(vw['loadavg_after'])} after",
             table(rows, ["variant", "n", "p50 ms", "p90 ms", "failures"]),
             f"  the view adds {ms(vw['adds_p50'])} ms to the p50 ({fmt_ratio(vw['ratio_p50'])}; 95 % bootstrap "
             f"interval of the difference {_interval(iv)} ms)",
             "  paired by round (view - no view, run back to back): " + (
                 "n/a (a run failed)" if not pr else
                 f"median {ms(pr['median'])} ms, 95 % interval {_interval(pr['interval_95'])} ms, {pr['n']} pairs"),
             "  without the view: " + "; ".join(vw["changes"])]
    for k, p in vw["probes"].items():
        lines.append(f"  a '{k}' job sees: " + (p["error"] if "error" in p else
                     f"{p['etc_entries']} /etc entries (the host: {vw['host_etc_entries']}), the host's cgroups "
                     f"{'visible' if p['host_cgroups_visible'] else 'hidden'}, /proc/self/cgroup {p['proc_self_cgroup']}"))
    for k in VARIANTS:
        for e in vw["variants"][k]["errors"]:
            lines.append(f"  failure ({k}): {e}")
    lines.append("")
    return lines


def targets(vw):
    """The issue's target, for the report's list: {name: {"value", "met"}}. Measurable: the 95 %
    interval of the paired differences' median (of the p50s' difference where a run failed) lies
    above 0."""
    vw = vw or {}
    runs = [vw] if not vw.get("repeat") else vw["repeat"]["results"]
    values, met = [], None
    for r in runs:  # repeated: met only where every run's interval reaches 0
        d, iv = r.get("adds_p50"), r.get("adds_p50_interval_95")
        if r.get("paired"):
            d, iv = r["paired"]["median"], r["paired"]["interval_95"]
        if not iv:
            return {TARGET: {"value": "n/a", "met": None}}
        values.append(f"{d * 1000:+.1f} ms ({iv[0] * 1000:+.1f} to {iv[1] * 1000:+.1f})")
        met = (met is not False) and iv[0] <= 0
    return {TARGET: {"value": "; ".join(values), "met": met}}


TARGET = "the view adds no measurable time to a trivial job's p50 (the difference's 95 % interval reaches 0)"
