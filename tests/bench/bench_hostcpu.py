#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's hostcpu row (#21): what one job costs the whole host, by component, over a batch
# of N sequential (spaced) jobs divided by N: PID 1, dbus-daemon, systemd-journald, the helpers,
# the job units, the clients, and the machine's total; after an idle window of the same setup,
# whose rate is taken off. Memory per job: the helper's PSS while its job runs, PID 1's RSS growth
# over the batch. Stdlib only.
import os
import resource
import subprocess
import time

from bench_common import log, ratio, summary, table
from bench_host import helper_pids, wait_settled
from bench_repeat import q
from bench_runner import TRIVIAL
from bench_spacing import SPACER

CG = "/sys/fs/cgroup"
HELPER_SLICE = "system.slice/system-pyward\\x2dhelper.slice"  # every pyward-helper@ instance's cgroup is below it
DOOR_CG = "system.slice/pyward-door.service"  # the front door, which every pyward connection passes
JOB_SLICE = "pyward.slice"  # every job's (and the systemd-run variant's, with the job's Slice=)
COMMS = {"dbus": ("dbus-daemon", "dbus-broker", "dbus-broker-lau"), "journald": ("systemd-journal",)}
BATCHES = ["bare", "systemd-run", "pyward"]
COMPONENTS = ["pid1", "dbus", "journald", "helpers", "jobs", "clients", "other", "total"]
IDLE_SECONDS = 5.0
PSS_SAMPLES = 5
ANCHOR_CODE = "import sys; sys.stdin.read()"  # runs until the bench closes its stdin
METHOD = {
    "pid1": "/proc/1/stat utime+stime",
    "dbus": "/proc/PID/stat utime+stime of every dbus-daemon/dbus-broker process",
    "journald": "/proc/PID/stat utime+stime of systemd-journald",
    "helpers": f"usage_usec of {HELPER_SLICE}/cpu.stat (a parent keeps its removed children's usage), less the "
               f"anchor's helper, plus the front door's ({DOOR_CG})",
    "jobs": f"usage_usec of {JOB_SLICE}/cpu.stat, less the anchor's job",
    "clients": "getrusage(RUSAGE_CHILDREN) of the bench: the pyward / systemd-run clients, or bare Python itself",
    "other": "the machine's root cgroup's usage_usec (everything in the container) less the components above, "
             "the anchor and, where they run inside it, the bench and its clients",
    "total": "the sum of the components: the machine's usage, plus the bench's clients where they run outside it",
}
TICK = os.sysconf("SC_CLK_TCK")


def proc_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def pids_of(comms):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() in comms:
                        out.append(int(p))
            except OSError:
                pass
    return out


def cg_seconds(path):
    with open(f"{CG}/{path}/cpu.stat".replace("//", "/")) as f:
        for line in f:
            k, v = line.split()
            if k == "usage_usec":
                return int(v) / 1e6
    raise OSError(f"no usage_usec in {path}/cpu.stat")


class Anchor:
    """A pyward job that waits on its stdin: its helper and job keep both slices' cgroups (and so
    their accumulated usage) alive for the whole row. Its own usage is taken off."""

    def __init__(self):
        self.p, self.helper_cg, self.job_cg, self.helper_pid = None, None, None, None

    def start(self):
        wait_settled()
        self.p = subprocess.Popen(["pyward", "-q", "-t", "300", "-c", ANCHOR_CODE], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.p.poll() is None:
            h = [e for e in os.listdir(f"{CG}/{HELPER_SLICE}") if e.startswith("pyward-helper@")] \
                if os.path.isdir(f"{CG}/{HELPER_SLICE}") else []
            j = [e for e in os.listdir(f"{CG}/{JOB_SLICE}") if e.startswith("pyward-job-")]
            if len(h) == 1 and len(j) == 1:
                self.helper_cg, self.job_cg = f"{HELPER_SLICE}/{h[0]}", f"{JOB_SLICE}/{j[0]}"
                SPACER.ignore = {h[0], j[0]}
                hp = helper_pids()
                self.helper_pid = hp[0] if len(hp) == 1 else None
                return True
            time.sleep(0.05)
        return False

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def stop(self):
        SPACER.ignore = set()
        if self.p is not None:
            self.p.stdin.close()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def snapshot(anchor, pids):
    """Cumulative CPU seconds of each component now."""
    ch, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    s = {"pid1": proc_seconds(1),
         "dbus": sum(proc_seconds(p) for p in pids["dbus"]),
         "journald": sum(proc_seconds(p) for p in pids["journald"]),
         "helpers": cg_seconds(HELPER_SLICE) - cg_seconds(anchor.helper_cg) + cg_seconds(DOOR_CG),
         "jobs": cg_seconds(JOB_SLICE) - cg_seconds(anchor.job_cg),
         "clients": ch.ru_utime + ch.ru_stime, "bench": me.ru_utime + me.ru_stime,
         "machine": cg_seconds("") - cg_seconds(anchor.helper_cg) - cg_seconds(anchor.job_cg)}
    return s, time.monotonic()


def bench_in_machine():
    """Whether this process's cgroup lies inside the machine's cgroup tree (scripts/machine may
    enter the machine keeping a cgroup of the host's: then /proc/self/cgroup reads /../...)."""
    with open("/proc/self/cgroup") as f:
        path = next((line[3:].strip() for line in f if line.startswith("0::")), "/..")
    return not path.startswith("/..")


def delta(a, b, inside):
    """The components' CPU seconds between two snapshots, and the seconds between them."""
    (sa, ta), (sb, tb) = a, b
    d = {k: sb[k] - sa[k] for k in sa}
    mine = d["clients"] + d["bench"] if inside else 0.0
    d["other"] = d["machine"] - sum(d[k] for k in ("pid1", "dbus", "journald", "helpers", "jobs")) - mine
    d["total"] = d["machine"] - (d["bench"] if inside else -d["clients"])
    return d, tb - ta


def rss_kb(pid, key="VmRSS:"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return None


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def helper_pss(anchor, n):
    """The PSS of a live helper while its job sleeps, n times (the anchor's helper left out)."""
    out = []
    for _ in range(n):
        SPACER.wait()
        p = subprocess.Popen(["pyward", "-q", "-n", "-c", "import time; time.sleep(0.5)"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.35)
        out += [v for v in (pss_kb(h) for h in helper_pids() if h != anchor.helper_pid) if v]
        p.wait()
        SPACER.made_units()
    return out


def measure(runner, args):
    n = args.hostcpu_jobs
    pids = {k: pids_of(v) for k, v in COMMS.items()}
    anchor = Anchor()
    if not anchor.start():
        anchor.stop()
        return {"error": "the anchor job did not start (its helper's and job's cgroups did not appear)"}
    try:
        with open(f"{CG}/{JOB_SLICE}/cgroup.subtree_control") as f:
            memory = "memory" in f.read().split()
    except OSError:
        memory = False
    inside = bench_in_machine()
    res = {"jobs": n, "pids": pids, "method": METHOD, "idle_seconds": IDLE_SECONDS, "batches": {},
           "memory_controller": memory, "bench_in_machine_cgroup": inside}
    SPACER.confirm = False  # its systemctl calls would count as PID 1's CPU per job
    try:
        a = snapshot(anchor, pids)
        time.sleep(IDLE_SECONDS)
        idle, idle_t = delta(a, snapshot(anchor, pids), inside)
        res["idle_per_second"] = {k: v / idle_t for k, v in idle.items()}
        for b in BATCHES:
            log(f"hostcpu: {n} sequential {b} jobs")
            SPACER.wait()
            rss0 = rss_kb(1)
            a = snapshot(anchor, pids)
            fails = 0
            for _ in range(n):
                fails += not runner.sample(b, TRIVIAL, b"")[0]
            SPACER.wait()  # the last job's teardown is inside the batch
            d, t = delta(a, snapshot(anchor, pids), inside)
            res["batches"][b] = {
                "failures": fails, "seconds": t, "raw": d,
                "per_job": {k: (v - res["idle_per_second"][k] * t) / n for k, v in d.items()},
                "pid1_rss_kb_before": rss0, "pid1_rss_kb_after": rss_kb(1)}
        res["helper_pss_kb"] = summary(helper_pss(anchor, PSS_SAMPLES))
        res["anchor_alive_at_end"] = anchor.alive()
    finally:
        SPACER.confirm = True
        anchor.stop()
    if not res["anchor_alive_at_end"]:
        res["error"] = "the anchor job ended during the row: the slices' usage may have been lost"
    return res


def quantities(r):
    """What bench_repeat compares across runs: host CPU per job of each batch (all of it, and
    PID 1's), and pyward's against systemd-run's."""
    b = r.get("batches") or {}
    tot = {k: v["per_job"]["total"] for k, v in b.items()}
    out = {f"{k}: host CPU per job": q(v, "ms") for k, v in tot.items()}
    out.update({f"{k}: PID 1 CPU per job": q(v["per_job"]["pid1"], "ms") for k, v in b.items()})
    if "pyward" in tot and "systemd-run" in tot:
        out["pyward / systemd-run, host CPU per job"] = q(ratio(tot["pyward"], tot["systemd-run"]),
                                                          a=tot["pyward"], b=tot["systemd-run"], words="cost")
    return out

def _ms(x):
    return "n/a" if x is None else f"{x * 1000:.2f}"


def report_lines(r):
    if "batches" not in r or not r["batches"]:
        return [f"Host CPU per job: n/a ({r.get('error')})", ""]
    rows = []
    for b, v in r["batches"].items():
        rows.append([b] + [_ms(v["per_job"][k]) for k in COMPONENTS] + [str(v["failures"])])
    rows.append([f"idle, ms/s ({r['idle_seconds']:g} s)"] + [_ms(r["idle_per_second"][k]) for k in COMPONENTS] + [""])
    lines = [f"Host CPU per job (ms of CPU, {r['jobs']} sequential spaced trivial jobs per batch, the idle rate of "
             "the same setup taken off)",
             table(rows, ["batch"] + COMPONENTS + ["failures"]),
             "  how each is read (a systemd-nspawn machine has no cgroup controllers, but every cgroup has cpu.stat; "
             f"/proc/PID/stat counts in 1/{TICK} s):"]
    lines += [f"    {k:8} {m}" for k, m in r["method"].items()]
    lines.append("  spacing in this row looks at the units' cgroups only: a systemctl call per job would be PID 1's "
                 "CPU too")
    lines.append("  the anchor: a pyward job waiting on its stdin for the whole row keeps both slices' cgroups alive; "
                 "its own usage is left out of every column")
    inside = r["bench_in_machine_cgroup"]
    lines.append("  the bench and its clients run " + ("inside the machine's cgroup tree" if inside
                 else "outside the machine's cgroup tree (entered with a cgroup of the host's): clients counted apart"))
    pss = r.get("helper_pss_kb")
    lines.append("Memory per job: helper PSS while its job runs "
                 + (f"p50 {pss['p50']:.0f} KiB, max {pss['max']} KiB ({pss['n']} helpers, /proc/PID/smaps_rollup)"
                    if pss else "n/a (no helper sampled)"))
    for b, v in r["batches"].items():
        g = None if v["pid1_rss_kb_before"] is None or v["pid1_rss_kb_after"] is None else \
            v["pid1_rss_kb_after"] - v["pid1_rss_kb_before"]
        lines.append(f"  PID 1 RSS over the {b} batch: {v['pid1_rss_kb_before']} -> {v['pid1_rss_kb_after']} KiB"
                     + ("" if g is None else f" ({g:+d} KiB, {g / r['jobs']:+.2f} KiB per job)"))
    lines.append("  the job's peak memory: " + ("not read by this row (memory.peak)" if r["memory_controller"] else
                 "n/a (memory.peak needs the memory controller, which pyward.slice does not have here: nspawn)"))
    if r.get("error"):
        lines.append(f"  warning: {r['error']}")
    return lines + [""]
