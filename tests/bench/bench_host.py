#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark's view of the machine: what it runs (OS, systemd, CPUs, load), the helpers and job
# users it has, what pyward leaves behind (leftovers), and the helper's memory. Stdlib only.
import fcntl
import glob
import json
import os
import platform
import pwd
import subprocess
import sys
import time

from bench_common import die, run, summary

SOCKET = "/run/pyward/pyward.sock"


def machine_info():
    osr = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                osr[k] = v.strip('"')
    except OSError:
        pass
    sd = run(["systemctl", "--version"]).stdout.splitlines()[0]
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {
        "os": osr.get("PRETTY_NAME", "unknown"),
        "kernel": platform.release(),
        "systemd": sd,
        "systemd_version": int(sd.split()[1]) if len(sd.split()) > 1 and sd.split()[1].isdigit() else 0,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "virtualization": run(["systemd-detect-virt"], check=False).stdout.strip() or "none",
        "loadavg_at_start": os.getloadavg(),
    }


def wait_socket(timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(SOCKET):
        if time.monotonic() > deadline:
            die(f"{SOCKET} does not exist: is pyward.socket running?")
        time.sleep(0.1)


def journal_records(since_monotonic_usec):
    """The helper's per-job journal records (PYWARD_JOB=) of this boot. One match on the helper's
    identifier: --unit=pyward-helper@* expands to one term per helper instance, thousands after the scale
    run, and took over 120 s."""
    r = run(["journalctl", "-b", "-o", "json", "--no-pager", "--output-fields=" + ",".join(
        ["PYWARD_JOB", "PYWARD_STATUS", "PYWARD_T_MAIN", "PYWARD_T_BUS_OPEN", "PYWARD_T_ACCEPT", "PYWARD_T_REQUEST", "PYWARD_T_CONFIG",
         "PYWARD_T_BUS", "PYWARD_T_START", "PYWARD_T_EXEC", "PYWARD_T_EXIT", "PYWARD_T_RESULT", "PYWARD_HELPER_PEAK_RSS_KB",
         "_SYSTEMD_UNIT"]), "SYSLOG_IDENTIFIER=pyward-helper"], timeout=600, check=False)
    recs = []
    for line in r.stdout.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if "PYWARD_JOB" not in e or int(e.get("__MONOTONIC_TIMESTAMP", "0")) < since_monotonic_usec:
            continue
        recs.append(e)
    return recs


def make_users(n):
    users = []
    for i in range(n):
        name = f"pwbench{i}"
        try:
            pwd.getpwnam(name)
        except KeyError:
            run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 "--user-group", "--groups", "pyward", name])
        users.append(name)
    return users


def pyward_processes():
    """PIDs (other than ours) whose cgroup belongs to a pyward unit: helpers or jobs."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        if "/pyward" in cg:
            pids.append(int(p))
    return pids


def leftovers():
    units = run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward-job-*",
                 "pyward-helper@*"], check=False).stdout.split("\n")
    units = [u.split()[0] for u in units if u.strip()]
    # Users of the job pool still held: a helper keeps flock() on /run/pyward/slots/user.K for
    # its job (we take and drop it at once; a helper meanwhile takes another user).
    held = []
    for path in glob.glob("/run/pyward/slots/user.*"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(os.path.basename(path))
        finally:
            os.close(fd)
    private = []
    for d in ("/tmp", "/var/tmp"):
        try:
            private += [os.path.join(d, e) for e in os.listdir(d)
                        if e.startswith("systemd-private-") and "pyward" in e]
        except OSError:
            pass
    # The slot files (/run/pyward/slots/UID.K, and the connection shares in slots/conns/) are
    # reused lock files, at most JobsPerUser (ConnectionsPerUser=) per UID that ever connected:
    # counted apart. The jobs' /etc trees (/run/pyward/etc-view) are prepared
    # once for all jobs, not left by one. Anything else under /run/pyward would be a job's.
    job_files, slots = [], []
    for root, dirs, files in os.walk("/run/pyward"):
        if root == "/run/pyward" and "etc-view" in dirs:
            dirs.remove("etc-view")
        for f in files:
            path = os.path.join(root, f)
            if path != SOCKET:
                (slots if root in ("/run/pyward/slots", "/run/pyward/slots/conns") else job_files).append(path)
    return {"units": units, "job_users_held": held,
            "private_tmp_dirs": private, "job_files": job_files, "processes": pyward_processes(),
            "slot_files": slots}


def wait_settled(timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lo = leftovers()
        if not lo["units"] and not lo["processes"] and not lo["job_users_held"]:
            return lo
        time.sleep(0.2)
    return leftovers()


def helper_pids():
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == "pyward-helper":
                        pids.append(int(p))
            except OSError:
                pass
    return pids


def vmhwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measure_memory(n, since_usec):
    """Peak RSS of the helper of one connection: sampled VmHWM while a job sleeps (and, when the
    helper logs it, its own VmHWM at exit); then the idle footprint with no connection."""
    sampled = []
    for _ in range(n):
        p = subprocess.Popen(["pyward", "-q", "-n", "-c", "import time; time.sleep(0.5)"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = {}
        while p.poll() is None:
            for pid in helper_pids():
                v = vmhwm_kb(pid)
                if v:
                    peak[pid] = max(peak.get(pid, 0), v)
            time.sleep(0.01)
        sampled += list(peak.values())
    logged = [int(e["PYWARD_HELPER_PEAK_RSS_KB"]) for e in journal_records(since_usec)
              if e.get("PYWARD_HELPER_PEAK_RSS_KB", "").isdigit()]
    idle = wait_settled()
    sock = run(["systemctl", "show", "pyward.socket", "-p", "ActiveState,NConnections,NAccepted"],
               check=False).stdout
    return {"helper_vmhwm_kb_sampled": summary(sampled), "helper_peak_rss_kb_logged": summary(logged),
            "idle_processes": len(idle["processes"]), "idle_units": idle["units"],
            "socket": dict(l.split("=", 1) for l in sock.split() if "=" in l)}
