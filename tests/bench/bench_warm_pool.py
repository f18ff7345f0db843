#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The warm row's handle on the machine's pool (bench_warm.py): the names in /run/pyward/warm, the
# pyward-warm-* units, a fill, the bench's drop-in, emptying a profile's pool; the spare helpers
# (pyward-door(8), "SPARE HELPERS") the row runs with. Stdlib only.
import os
import time

from bench_common import run

HELPER = "/usr/libexec/pyward-helper"
DROPIN = "/etc/pyward/pyward.conf.d/90-bench-warm.conf"
WARM_DIR = "/run/pyward/warm"


def pool_names(prefix, profile=None):
    """The pool's names with prefix (r- ready, p- starting, c- claimed), of profile if given."""
    try:
        names = os.listdir(WARM_DIR)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith(prefix) and (profile is None or n.endswith("-" + profile)))


def ready(profile):
    return pool_names("r-", profile)


def pool_full(profile, n):
    return len(ready(profile)) >= n and not pool_names("p-", profile)


def warm_units():
    out = run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward-warm-*"], check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.strip())


def wait_until(predicate, timeout, interval=0.01):
    """(predicate's last value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        v = predicate()
        if v or time.monotonic() - t0 >= timeout:
            return v, time.monotonic() - t0
        time.sleep(interval)


def fill_pool():
    """pyward-helper --fill-pool: fills every profile's pool, waiting for a fill under way; (rc, stderr)."""
    r = run([HELPER, "--fill-pool"], timeout=300, check=False)
    return r.returncode, r.stderr.strip()


def configure(text):
    """Writes the bench's drop-in, or removes it (text None)."""
    if text is None:
        if os.path.exists(DROPIN):
            os.unlink(DROPIN)
        return
    os.makedirs(os.path.dirname(DROPIN), exist_ok=True)
    with open(DROPIN, "w") as f:
        f.write(text)


def stop_runners(profile):
    """Empties profile's pool and keeps its WarmRunners=: its runners' units stopped, their names
    removed (as tests/integration/warmlib.py's empty_pool does), after any fill under way."""
    fill_pool()
    names = pool_names("r-", profile) + pool_names("p-", profile)
    units = [f"pyward-warm-{n.split('-')[2]}.service" for n in names]
    if units:
        run(["systemctl", "stop", *units], timeout=120, check=False)
    for n in names:
        try:
            os.unlink(os.path.join(WARM_DIR, n))
        except FileNotFoundError:
            pass
    return len(units)


def spare_units(n):
    return [f"pyward-helper-spare@{i}.service" for i in range(1, n + 1)]


def spares_waiting(n):
    """Whether all n spare helpers wait at the door (their status line, helper/main.c)."""
    r = run(["systemctl", "show", "-P", "StatusText", *spare_units(n)], check=False)
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    return len(lines) == n and all(line.startswith("Waiting for a connection") for line in lines)


def spares_start(n):
    """Starts n spare helpers (Type=notify: each is waiting when systemctl returns); (rc, stderr)."""
    r = run(["systemctl", "start", *spare_units(n)], timeout=60, check=False)
    return r.returncode, r.stderr.strip()


def spares_stop(n):
    run(["systemctl", "stop", *spare_units(n)], timeout=60, check=False)
