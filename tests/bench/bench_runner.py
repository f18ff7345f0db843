#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's jobs and the ways to run one (bare, bwrap, the peers, systemd-run, pyward):
# Runner builds each variant's command and times one run of it. Stdlib only.
import itertools
import os
import shutil
import subprocess
import time

import bench_peer
from bench_common import RUN_TIMEOUT
from bench_sandbox import for_unit
from bench_spacing import SPACER

TRIVIAL = "pass"
# The "real" job: JSON and regular expressions, some tens of ms of pure CPU work.
REAL = (
    "import json, re\n"
    "rows = [{'id': i, 'name': 'item-%d' % i, 'tags': ['x', 'y', str(i % 7)], 'score': i * 0.5}"
    " for i in range(3000)]\n"
    "back = json.loads(json.dumps(rows))\n"
    "pat = re.compile(r'\"name\": \"item-(\\d*7)\"')\n"
    "hits = sum(len(pat.findall(json.dumps(back))) for _ in range(8))\n"
    "print(len(back), hits)\n"
)
JOBS = {"trivial": TRIVIAL, "real": REAL}
# The files job: ten files of 1 MiB in the working directory, returned with --collect (COLLECT).
FILES_OUT = ("for i in range(10):\n"
             "    with open('out%d.bin' % i, 'wb') as f:\n"
             "        f.write(b'x' * 1048576)\n")
# bwrap: namespaces only; bare-runner and bwrap-hardened: bench_peer's.
VARIANTS = ["bare", "bare-runner", "bwrap", "bwrap-hardened", "systemd-run", "pyward"]
UNIT_VARIANTS = {"systemd-run", "pyward"}  # their samples start units (spaced: bench_spacing)


def bwrap_argv():
    if not shutil.which("bwrap"):
        return None
    a = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
         "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            a += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            a += ["--ro-bind", d, d]
    return a + ["--"]


class Runner:
    def __init__(self, py, pyargs, sd_run_args, bwrap, unit):
        self.py, self.pyargs, self.sd_run_args, self.bwrap = py, pyargs, sd_run_args, bwrap
        self.unit, self.units = unit, itertools.count()  # the captured unit's name; ours

    def argv(self, variant, code, sd_run_args=None):
        """The command of one job; sd_run_args: other properties for systemd-run (bench_view)."""
        python = [self.py, *self.pyargs, "-c", code]
        if variant == "bare":
            return python
        if variant == "bwrap":
            return self.bwrap + python if self.bwrap else None
        if variant in bench_peer.VARIANTS:
            return bench_peer.PEER.argv(variant, python[:-2], code)
        if variant == "systemd-run":
            # A unit name of its own for each job, which its properties name where the helper's
            # named the captured unit.
            name = f"pyward-bench-{next(self.units)}.service"
            sd_run_args = for_unit(self.sd_run_args if sd_run_args is None else sd_run_args, self.unit, name)
            return ["systemd-run", f"--unit={name}", "--pipe", "--wait", "--quiet", *sd_run_args, "--", *python]
        if variant == "pyward":
            return ["pyward", "-q", "-n", "-c", code]
        raise ValueError(variant)

    def sample(self, variant, code, expect, stdin=None):
        """One timed run of code as variant, spaced (bench_spacing) from the sample before it."""
        return self.spaced(self.argv(variant, code), expect, variant in UNIT_VARIANTS, stdin=stdin)

    @staticmethod
    def spaced(argv, expect, makes_units, stdin=None):
        """once(argv), after the units of the sample before it are gone; makes_units: this one
        starts units (the next sample waits for them)."""
        SPACER.wait()
        try:
            return Runner.once(argv, expect, stdin=stdin)
        finally:
            if makes_units:
                SPACER.made_units()

    @staticmethod
    def once(argv, expect, user=None, stdin=None):
        """Runs argv to completion, with stdin's bytes as its stdin (none: /dev/null); returns
        (ok, seconds, monotonic start, monotonic end, error)."""
        kw = {"stdin": subprocess.DEVNULL} if stdin is None else {"input": stdin}
        if user is not None:
            kw.update(user=user, group=user, extra_groups=["pyward"])
        argv, kw["pass_fds"] = bench_peer.open_fds(argv)  # bwrap-hardened's seccomp filter
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, timeout=RUN_TIMEOUT, **kw)
        except subprocess.TimeoutExpired:
            t1 = time.monotonic()
            return False, t1 - t0, t0, t1, f"timed out after {RUN_TIMEOUT}s"
        finally:
            for fd in kw["pass_fds"]:
                os.close(fd)
        t1 = time.monotonic()
        if r.returncode != 0:
            return False, t1 - t0, t0, t1, f"exit {r.returncode}: {r.stderr.decode(errors='replace').strip()[-300:]}"
        if r.stdout != expect:
            return False, t1 - t0, t0, t1, f"unexpected output {r.stdout[:100]!r}"
        return True, t1 - t0, t0, t1, None
