#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# pyward's benchmark, run as root inside a booted test machine (scripts/bench boots it): its options and
# the order of its sections; each section lives in a bench_<name>.py module of its own. Stdlib only.
"""Measures what a pyward job costs next to the alternatives, on one machine, in one run.

Every comparison is interleaved (round robin, rotating the start) so that drift on a shared machine
hits every variant alike; ratios of one run are what to read, absolute times vary between machines.
The systemd-run variant gets the exact property list that the real helper sent in its
StartTransientUnit() call in this machine (captured with busctl monitor), and the unit that results
is compared with a pyward job unit property by property; nothing is copied by hand.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import bench_bigio
import bench_hog
import bench_hostcpu
import bench_numpy
import bench_openloop
import bench_paths
import bench_peer
import bench_repeat
import bench_session
import bench_view
import bench_warm
from bench_common import RUN_TIMEOUT, die, log
from bench_host import machine_info, make_users, measure_memory, wait_socket
from bench_host import journal_records
from bench_latency import collect_quantities, measure_collect, measure_latency, phase_breakdown
from bench_load import measure_scale, measure_throughput
from bench_report import report, targets
from bench_runner import JOBS, TRIVIAL, VARIANTS, Runner, bwrap_argv
from bench_sandbox import capture_helper_call, exec_argv, props_to_systemd_run, verify_same_sandbox
from bench_session import measure_session
from bench_spacing import SPACER
from bench_view import measure_view

# The rows of #21, each a module with measure(runner, args), report_lines(its result) and
# quantities(its result) (what bench_repeat compares over --repeat runs), run in this order after
# the sections above them. warm (#20) is last of all: its pool and profiles must
# not reach the other rows (it removes them when it is done).
ROWS = {"numpy": bench_numpy, "bigio": bench_bigio, "paths": bench_paths, "hog": bench_hog,
        "openloop": bench_openloop, "hostcpu": bench_hostcpu, "warm": bench_warm}
# What --only selects; phases come with latency, the view row is bench_view's.
SECTIONS = ["latency", "view", "collect", "session", "throughput", "scale", "memory", *ROWS]


def main():
    ap = argparse.ArgumentParser(description="pyward's benchmark; run as root inside a test machine "
                                 "(scripts/bench does that).")
    ap.add_argument("--runs", type=int, default=200, help="interleaved runs per latency cell (default 200)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the whole latency section and of each row (a row's run gets 1/N of its "
                    "rounds), whose ratios are reported as their spread (median, min-max) and compared only "
                    "where the runs do not overlap (default 3)")
    ap.add_argument("--duration", type=float, default=30,
                    help="seconds per throughput and openloop level (default 30)")
    ap.add_argument("--concurrency", default="1,4,16", help="throughput levels (default 1,4,16)")
    ap.add_argument("--scale", type=int, default=2000, help="sequential jobs of the scale run (default 2000)")
    ap.add_argument("--collect-runs", type=int, default=50,
                    help="interleaved runs per cell of the files measurement (default 50; 0: none)")
    ap.add_argument("--memory-runs", type=int, default=10, help="helpers whose peak RSS is sampled")
    ap.add_argument("--session-runs", type=int, default=500,
                    help="interleaved rounds of the trivial cells over one session (default 500; 0: none)")
    ap.add_argument("--session-first-runs", type=int, default=30,
                    help="sessions whose first cell is timed, beside as many one-shot jobs (default 30)")
    ap.add_argument("--row-runs", type=int, default=50,
                    help="interleaved rounds of the numpy, bigio and hog rows; the paths row runs at most 10 "
                    "(default 50)")
    ap.add_argument("--openloop-rates", default="5,10,20",
                    help="offered loads of the openloop row, jobs/s, each for --duration s (default 5,10,20)")
    ap.add_argument("--hostcpu-jobs", type=int, default=200,
                    help="sequential jobs per batch of the hostcpu row (default 200)")
    ap.add_argument("--view-runs", type=int, help="interleaved runs per variant of the view row (default: --runs)")
    ap.add_argument("--only", metavar="SECTIONS", default=",".join(SECTIONS),
                    help=f"the sections to run, comma-separated (default: all of {','.join(SECTIONS)})")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    args = ap.parse_args()
    only = set(args.only.split(",")) - {""}
    if only - set(SECTIONS) or not only:
        ap.error(f"--only takes sections of {','.join(SECTIONS)}: not {','.join(sorted(only - set(SECTIONS)))}")
    if args.repeat < 1:
        ap.error("--repeat takes a positive number")
    view_runs = args.runs if args.view_runs is None else args.view_runs
    args.view_runs = view_runs
    args.share = 1.0  # a row's share of its rounds: bench_repeat divides it
    if os.getuid() != 0:
        die("must run as root inside a test machine")
    for tool in ("pyward", "systemd-run", "busctl", "journalctl"):
        if not shutil.which(tool):
            die(f"{tool} not found")
    levels = [int(x) for x in args.concurrency.split(",") if x]

    started = time.time()
    since_usec = int(time.monotonic() * 1e6)
    wait_socket()
    res = {"machine": machine_info(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "params": {"runs": args.runs, "repeat": args.repeat, "duration": args.duration, "concurrency": levels,
                      "scale": args.scale, "row_runs": args.row_runs, "openloop_rates": args.openloop_rates,
                      "hostcpu_jobs": args.hostcpu_jobs, "view_runs": view_runs,
                      "only": [s for s in SECTIONS if s in only]},
           "jobs": JOBS, "spacing": {}}
    log(f"{res['machine']['os']}, {res['machine']['systemd']}, {res['machine']['cpus']} CPUs")

    unit, props, aux = capture_helper_call()
    py, pyargs = exec_argv(props)
    sd_args, skipped = props_to_systemd_run(props, aux)
    res.update(interpreter=py, interpreter_args=pyargs, helper_properties=[[n, s, v] for n, s, v in props],
               helper_auxiliary_units=aux,
               systemd_run_args=sd_args, properties_not_passed=skipped)
    diffs = verify_same_sandbox(sd_args, py, pyargs, unit)
    res["property_differences"] = diffs
    if diffs:
        log("the systemd-run unit differs from the pyward job unit in: " + ", ".join(diffs))
    log(f"captured {len(props)} properties from {unit}; systemd-run gets {len(sd_args) // 2} of them")

    bw = bwrap_argv()
    runner = Runner(py, pyargs, sd_args, bw, unit)
    expect = {}
    for job, code in JOBS.items():
        r = subprocess.run(runner.argv("bare", code), capture_output=True, timeout=RUN_TIMEOUT)
        if r.returncode != 0:
            die(f"the {job} job fails bare: {r.stderr.decode(errors='replace')}")
        expect[job] = r.stdout
    if bw:
        r = subprocess.run(runner.argv("bwrap", TRIVIAL), capture_output=True, timeout=RUN_TIMEOUT)
        if r.returncode != 0:
            log(f"bwrap does not work here ({r.stderr.decode(errors='replace').strip()}); no bwrap row")
            runner.bwrap = None
    res["bwrap"] = runner.bwrap and " ".join(runner.bwrap)
    res["peer"] = bench_peer.PEER.setup(props, runner.bwrap, lambda v: runner.argv(v, TRIVIAL), expect["trivial"])

    if "latency" in only:
        log(f"latency: {args.repeat} run(s) of {args.runs} rounds of {len(JOBS)} jobs x {len(VARIANTS)} variants")
        lat, pyward_runs = measure_latency(runner, args.runs, expect, args.repeat)
        res["latency"], res["ratios"] = lat.pop("latency"), lat.pop("ratios")
        res["latency_repeat"] = lat  # each run's cells and ratios, the ratios' spreads and claims
        res["phases"] = phase_breakdown(pyward_runs, journal_records(since_usec))
        res["spacing"]["latency"] = SPACER.take()
    if "view" in only and view_runs:
        res["view"] = bench_repeat.repeated(
            "view", args, lambda a: measure_view(runner, props, aux, a.view_runs, TRIVIAL, expect["trivial"]),
            bench_view.quantities)
        res["spacing"]["view"] = SPACER.take()
    if "collect" in only and args.collect_runs:
        log(f"collect: {args.collect_runs} rounds of 3 jobs")
        res["collect"] = bench_repeat.repeated("collect", args, lambda a: measure_collect(a.collect_runs),
                                               collect_quantities)
        res["spacing"]["collect"] = SPACER.take()

    if "session" in only and args.session_runs:
        res["session"] = bench_repeat.repeated(
            "session", args, lambda a: measure_session(a.session_runs, a.session_first_runs), bench_session.quantities)

    if "throughput" in only and levels:
        users = make_users(max(levels))
        res["throughput"] = measure_throughput(runner, levels, args.duration, users)
    if "scale" in only and args.scale:
        res["scale"] = measure_scale(runner, args.scale)
    if "memory" in only:
        res["memory"] = measure_memory(args.memory_runs, since_usec)
    for name, row in ROWS.items():
        if name in only:
            res[name] = bench_repeat.measure(name, row, runner, args)
            res["spacing"][name] = SPACER.take()
    res["targets"] = targets(res)
    res["elapsed_seconds"] = time.time() - started
    res["machine"]["loadavg_at_end"] = os.getloadavg()
    res["machine"]["cpus_at_end"] = os.cpu_count()  # a machine hot-plugged mid-run would skew the ratios

    print(report(res, VARIANTS, ROWS), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
