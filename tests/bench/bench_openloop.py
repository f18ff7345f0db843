#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's openloop row (#21): p50/p99 and failures at fixed offered loads. Jobs start on a
# schedule (every 1/rate s, for --duration s per level) whether or not earlier ones have finished,
# so a slow job does not slow the arrivals down (closed-loop jobs/s hides that); each job's
# latency counts from its scheduled start to its client's exit. Stdlib only.
import threading
import time

from bench_common import RUN_TIMEOUT, log, ms, summary, table
from bench_host import make_users, wait_settled
from bench_repeat import q
from bench_runner import TRIVIAL, Runner

USERS = 8  # client UIDs, in turn: the per-UID limits (JobsPerUser= 8) are not what is measured


def level(argv, rate, duration, users):
    """One offered load; returns its result."""
    n = max(1, int(rate * duration))
    lat, errors, lags, lock, threads = [], [], [], threading.Lock(), []

    def job(i, t_sched):
        ok, _dt, _t0, t1, err = Runner.once(argv, b"", user=users[i % len(users)])
        with lock:
            (lat.append(t1 - t_sched) if ok else errors.append(err))

    t_first = time.monotonic() + 0.05
    for i in range(n):
        t_sched = t_first + i / rate
        delay = t_sched - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        lags.append(time.monotonic() - t_sched)
        t = threading.Thread(target=job, args=(i, t_sched), daemon=True)
        t.start()
        threads.append(t)
    t_last = time.monotonic()
    for t in threads:
        t.join(RUN_TIMEOUT + 5)
    elapsed = time.monotonic() - t_first
    return {"rate": rate, "jobs": n, "completed": len(lat), "failures": len(errors),
            "rejected": sum("request rejected" in e for e in errors),
            "offered_per_second": (n - 1) / (t_last - t_first) if n > 1 and t_last > t_first else None,
            "start_lag": summary(lags), "latency": summary(lat), "seconds": elapsed,
            "errors": sorted(set(e[:200] for e in errors))[:5]}


def measure(runner, args):
    rates = [float(x) for x in args.openloop_rates.split(",") if x]
    users = make_users(USERS)
    argv = runner.argv("pyward", TRIVIAL)
    res = {"duration": args.duration, "users": len(users), "levels": []}
    for rate in rates:
        wait_settled()  # the last level's tail is gone before this one starts
        log(f"openloop: {rate:g} jobs/s for {args.duration:g} s")
        r = level(argv, rate, args.duration, users)
        log(f"openloop: {rate:g} jobs/s: p50 {ms((r['latency'] or {}).get('p50'))} ms, {r['failures']} failures")
        res["levels"].append(r)
    return res


def quantities(r):
    """What bench_repeat compares across runs: each level's p50, p99 and failures."""
    out = {}
    for lv in r["levels"]:
        s = lv["latency"] or {}
        out[f"{lv['rate']:g} jobs/s: p50"] = q(s.get("p50"), "ms")
        out[f"{lv['rate']:g} jobs/s: p99"] = q(s.get("p99"), "ms")
        out[f"{lv['rate']:g} jobs/s: failures"] = q(lv["failures"], "n")
    return out

def report_lines(r):
    rows = []
    for lv in r["levels"]:
        s, lag = lv["latency"] or {}, lv["start_lag"] or {}
        off = lv["offered_per_second"]
        rows.append([f"{lv['rate']:g}", "n/a" if off is None else f"{off:.1f}", str(lv["jobs"]), str(lv["failures"]),
                     str(lv.get("rejected", "n/a")),
                     ms(s.get("p50")), ms(s.get("p90")), ms(s.get("p99")), ms(s.get("max")), ms(lag.get("max"))])
    lines = [f"Open loop (trivial job, pyward CLI; jobs started on a schedule for {r['duration']:g} s per level "
             f"whatever the earlier ones do, {r['users']} client UIDs in turn; latency from the scheduled start, ms)",
             table(rows, ["jobs/s", "offered", "jobs", "failures", "of them refused", "p50", "p90", "p99", "max",
                          "start lag max"]),
             "  p50-max of the jobs that completed; 'refused': the helper's admission said no (a per-UID limit such "
             "as JobsPerUser=), the rest failed otherwise"]
    for lv in r["levels"]:
        lines += [f"  failure ({lv['rate']:g}/s): {e}" for e in lv["errors"]]
    return lines + [""]
