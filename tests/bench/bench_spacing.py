#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Spacing between samples (#21): the helper's exit, its pyward-helper@ unit's teardown and the job unit's
# collection happen after the client exits; without a pause they overlap the next sample on 2 CPUs.
# Spacer.wait(), before a sample that follows one which made units, waits until they are gone. Stdlib only.
import os
import subprocess
import time

# The units one sample makes: the helper's socket-activated instance, the job's unit, and the
# systemd-run variant's unit (bench_runner names it pyward-bench-N.service).
UNIT_PATTERNS = ("pyward-helper@*", "pyward-job-*", "pyward-bench-*")
UNIT_PREFIXES = tuple(p.rstrip("*") for p in UNIT_PATTERNS)
# Where their cgroups live (a pyward-helper@ instance in system-pyward\x2dhelper.slice; jobs, and the systemd-run
# variant with the job's Slice=, in pyward.slice; system.slice if a Slice= was not passed).
CGROUP_PARENTS = ("/sys/fs/cgroup/system.slice/system-pyward\\x2dhelper.slice", "/sys/fs/cgroup/pyward.slice",
                  "/sys/fs/cgroup/system.slice")
BOUND = 5.0  # seconds: a wait this long gives up (and is counted) rather than stall the run
POLL = 0.002  # seconds between looks at the cgroup directories (a listdir each, no process)
CONFIRM_POLL = 0.02  # seconds between systemctl calls once the cgroups are gone
METHOD = ("before each sample that follows a pyward or systemd-run one, the bench waits (outside the "
          "sample's time) until no pyward-helper@, pyward-job- or pyward-bench- unit has a cgroup directory "
          f"(polled every {POLL * 1000:.0f} ms) and systemctl list-units --all lists none (the manager has "
          f"collected them); a wait gives up after {BOUND:.0f} s and is counted")


def cgroups_left(ignore=()):
    """The cgroup directories of sample units that still exist (but those named in ignore)."""
    left = []
    for d in CGROUP_PARENTS:
        try:
            left += [e for e in os.listdir(d) if e.startswith(UNIT_PREFIXES) and e not in ignore]
        except OSError:
            pass
    return left


def units_left(ignore=()):
    """The sample units the manager still has loaded (any state), but those named in ignore."""
    r = subprocess.run(["systemctl", "list-units", "--all", "--plain", "--no-legend", *UNIT_PATTERNS],
                       capture_output=True, text=True, timeout=30)
    return [u for u in (line.split()[0] for line in r.stdout.splitlines() if line.strip()) if u not in ignore]


class Spacer:
    """Counts its waits; take() hands over the counts since the last take() (one per section)."""

    def __init__(self):
        self.pending = False  # the last sample made units
        self.ignore = set()  # units that stay up on purpose (bench_hostcpu's anchor)
        self.confirm = True  # ask the manager too (bench_hostcpu turns it off: the call costs PID 1 CPU)
        self.reset()

    def reset(self):
        self.waits, self.seconds, self.longest, self.bound_hits, self.leftover = 0, 0.0, 0.0, 0, []
        self.cgroup_busy, self.manager_busy = 0, 0  # waits that found a cgroup / a listed unit left

    def made_units(self):
        self.pending = True

    def wait(self):
        if not self.pending:
            return
        self.pending = False
        t0 = time.monotonic()
        deadline = t0 + BOUND
        first = True
        while True:
            if not cgroups_left(self.ignore):
                left = units_left(self.ignore) if self.confirm else []
                if not left:
                    break
                self.manager_busy += first
            else:
                left = None
                self.cgroup_busy += first
            first = False
            if time.monotonic() > deadline:
                self.bound_hits += 1
                self.leftover = left if left is not None else cgroups_left(self.ignore)
                break
            time.sleep(POLL if left is None else CONFIRM_POLL)
        dt = time.monotonic() - t0
        self.waits += 1
        self.seconds += dt
        self.longest = max(self.longest, dt)

    def take(self):
        out = {"waits": self.waits, "seconds": self.seconds, "longest": self.longest,
               "mean": self.seconds / self.waits if self.waits else None, "bound_hits": self.bound_hits,
               "bound": BOUND, "last_leftover": self.leftover[:5],
               "found_cgroup": self.cgroup_busy, "found_unit_listed": self.manager_busy}
        self.reset()
        return out


SPACER = Spacer()


def report_lines(spacing):
    """The report's line on how samples were spaced, one row per section."""
    if not spacing:
        return []
    lines = ["Samples are spaced: " + METHOD + "; the load sections (throughput, scale, openloop) are "
             "not: their overlap is what they measure."]
    for name, s in spacing.items():
        if not s["waits"]:
            continue
        lines.append(f"  {name:10} {s['waits']} waits, {s['seconds']:.1f} s in all, mean {s['mean'] * 1000:.1f} ms, "
                     f"longest {s['longest'] * 1000:.0f} ms, {s['bound_hits']} hit the {s['bound']:.0f} s bound; "
                     f"at its first look {s['found_cgroup']} found a unit's cgroup left, "
                     f"{s['found_unit_listed']} a unit still listed"
                     + (f" (left: {', '.join(s['last_leftover'])})" if s["bound_hits"] else ""))
    return lines + [""]
