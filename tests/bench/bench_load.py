#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's closed-loop load: jobs/s of concurrent clients (throughput) and a long run of
# sequential jobs with its controls and leftovers (scale). Stdlib only.
import threading
import time

from bench_common import log, percentile, ratio, summary
from bench_host import leftovers, wait_settled
from bench_runner import TRIVIAL, Runner


def measure_throughput(runner, levels, duration, users):
    res = {}
    argv = runner.argv("pyward", TRIVIAL)
    for conc in levels:
        stop = time.monotonic() + duration
        lock = threading.Lock()
        lat, errors = [], []

        def client(user):
            while time.monotonic() < stop:
                ok, dt, _t0, _t1, err = Runner.once(argv, b"", user=user)
                with lock:
                    (lat.append(dt) if ok else errors.append(err))

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(users[i % len(users)],)) for i in range(conc)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        res[str(conc)] = {"clients": conc, "seconds": elapsed, "jobs": len(lat), "failures": len(errors),
                          "jobs_per_second": len(lat) / elapsed, "latency": summary(lat),
                          "errors": sorted(set(errors))[:5]}
        log(f"throughput: {conc} clients: {len(lat) / elapsed:.1f} jobs/s, {len(errors)} failures")
    return res


def measure_scale(runner, n):
    """n sequential pyward jobs; p50 of the first vs the last window. The run is not interleaved, so
    two controls run beside it: bare Python after every job and systemd-run after every tenth, to
    tell a slowdown of pyward from one of the machine (load of other tenants) or of the manager."""
    argv = runner.argv("pyward", TRIVIAL)
    bare = runner.argv("bare", TRIVIAL)
    lat, fails, ctl_bare, ctl_sdrun = [], [], [], []
    slots_before = len(leftovers()["slot_files"])
    t_start = time.monotonic()
    for i in range(n):
        ok, dt, _t0, _t1, err = Runner.once(argv, b"")
        lat.append(dt if ok else None)
        if not ok:
            fails.append(err)
        ok, dt, _t0, _t1, _err = Runner.once(bare, b"")
        ctl_bare.append(dt if ok else None)
        if i % 10 == 0:
            ok, dt, _t0, _t1, _err = Runner.once(runner.argv("systemd-run", TRIVIAL), b"")
            ctl_sdrun.append(dt if ok else None)
        if (i + 1) % max(1, n // 10) == 0:
            log(f"scale: {i + 1}/{n} jobs ({time.monotonic() - t_start:.0f} s)")
    w = max(1, min(100, n // 20))

    def early_late(values, window):
        first = [x for x in values[:window] if x is not None]
        last = [x for x in values[-window:] if x is not None]
        a = percentile(first, 50) if first else None
        b = percentile(last, 50) if last else None
        return a, b, ratio(b, a)

    p_first, p_last, growth = early_late(lat, w)
    lo = wait_settled()
    return {"jobs": n, "window": w, "failures": len(fails), "errors": sorted(set(fails))[:5],
            "first_p50": p_first, "last_p50": p_last, "last_over_first": growth,
            "control_bare": dict(zip(("first_p50", "last_p50", "last_over_first"), early_late(ctl_bare, w))),
            "control_systemd_run": dict(zip(("first_p50", "last_p50", "last_over_first"),
                                            early_late(ctl_sdrun, max(1, w // 10)))),
            "slot_files_before": slots_before,
            "leftovers": lo,
            "leftover_counts": {k: len(v) for k, v in lo.items()}}
