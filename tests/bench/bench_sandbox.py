#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The systemd-run variant of the benchmark: the helper's StartTransientUnit() call captured with
# busctl monitor, its properties turned into systemd-run options (an unknown one is an error), and
# the resulting unit compared with a pyward job unit property by property. Stdlib only.
import errno
import ipaddress
import json
import re
import signal
import subprocess
import time

from bench_common import RUN_TIMEOUT, die, run

# --- the helper's properties, captured and converted for systemd-run ---------------------------

# D-Bus properties that systemd-run sets itself, or that only make sense for the helper's own job.
SKIP_PROPS = {
    "ExecStartEx": "systemd-run passes the command line itself (same interpreter and arguments)",
    "ExecStart": "systemd-run passes the command line itself",
    "StandardInputFileDescriptor": "systemd-run --pipe passes its own stdio",
    "StandardOutputFileDescriptor": "systemd-run --pipe passes its own stdio",
    "StandardErrorFileDescriptor": "systemd-run --pipe passes its own stdio",
    "AddRef": "systemd-run --wait sets AddRef itself",
    "Description": "cosmetic",
}
# D-Bus names whose unit file (systemd-run -p) name differs, with a value converter.
USEC_PROPS = {"RuntimeMaxUSec": "RuntimeMaxSec", "TimeoutStopUSec": "TimeoutStopSec",
              "RuntimeRandomizedExtraUSec": "RuntimeRandomizedExtraSec"}
UINT64_MAX = 2**64 - 1


def capture_helper_call():
    """Runs one pyward job while busctl monitor records the helper's StartTransientUnit() call;
    returns (unit name, [(property, dbus type, value)], {auxiliary unit: {property: value}})."""
    mon = subprocess.Popen(
        ["busctl", "monitor", "--json=short",
         "--match=type='method_call',interface='org.freedesktop.systemd1.Manager',"
         "member='StartTransientUnit'"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # busctl must have become a monitor before the call goes out
        r = run(["pyward", "-q", "-n", "-c", "pass"], timeout=RUN_TIMEOUT, check=False)
        if r.returncode != 0:
            die(f"a pyward job failed while capturing the helper's properties: {r.stderr.strip()}")
        time.sleep(0.5)
    finally:
        mon.send_signal(signal.SIGINT)
        try:
            out, err = mon.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            mon.kill()
            out, err = mon.communicate()
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("member") != "StartTransientUnit":
            continue
        data = msg["payload"]["data"]
        props = [(p[0], p[1]["type"], p[1]["data"]) for p in data[2]]
        aux = {a[0]: {p[0]: p[1]["data"] for p in a[1]} for a in data[3]}
        return data[0], props, aux
    die(f"busctl monitor saw no StartTransientUnit call of the helper (busctl: {err.strip()[:300]})")


def _strv(v):
    for s in v:
        if any(c.isspace() or c in "\"'\\" for c in s):
            die(f"cannot pass {s!r} through systemd-run -p (quoting not implemented)")
    return " ".join(v)


def _addresses(v):
    out = []
    for family, addr, prefix in v:
        ip = ipaddress.ip_address(bytes(addr))
        out.append(f"{ip}/{prefix}")
    return " ".join(out)


def props_to_systemd_run(props, aux):
    """Converts the helper's a(sv) to systemd-run options. Unknown properties are an error, so a
    change of the helper shows up here instead of silently diverging."""
    args, skipped, limits = [], {}, {}
    if aux:
        die(f"the helper creates auxiliary units this benchmark cannot mirror: {sorted(aux)}")
    for name, sig, v in props:
        if name in SKIP_PROPS:
            skipped[name] = SKIP_PROPS[name]
            continue
        if name in ("Requires", "Wants", "After", "Before", "BindsTo") and sig == "as":
            # The helper's unit (there is no helper under systemd-run) is dropped; any other
            # dependency is passed on.
            v = [u for u in v if not u.startswith("pyward-helper@")]
            if not v:
                skipped[name] = "only the job's helper unit, which does not exist under systemd-run"
                continue
        if name in ("BindPaths", "BindReadOnlyPaths") and sig == "a(ssbt)":
            items = []
            for src, dst, ignore, flags in v:
                items.append(f"{'-' if ignore else ''}{src}:{dst}:{'rbind' if flags & 16384 else 'norbind'}")
            args.append(f"{name}={_strv(items)}")
            continue
        if name.startswith("Limit"):
            base = name[:-4] if name.endswith("Soft") else name
            limits.setdefault(base, {})["soft" if name.endswith("Soft") else "hard"] = v
            continue
        if sig == "b":
            args.append(f"{name}={'yes' if v else 'no'}")
        elif sig == "s":
            args.append(f"{name}={v}")
        elif name in USEC_PROPS:
            args.append(f"{USEC_PROPS[name]}={'infinity' if v == UINT64_MAX else f'{v}us'}")
        elif name == "CPUQuotaPerSecUSec":
            if v != UINT64_MAX:
                args.append(f"CPUQuota={v / 10000:g}%")
        elif name == "UMask":
            args.append(f"UMask={v:04o}")
        elif name == "SystemCallErrorNumber":
            args.append(f"SystemCallErrorNumber={errno.errorcode.get(v, str(v))}")
        elif name == "KillSignal":
            args.append(f"KillSignal={signal.Signals(v).name}")
        elif name in ("RestrictNamespaces",):
            if v != 0:
                die(f"{name}={v}: only 0 (no namespace allowed) is converted")
            args.append(f"{name}=yes")
        elif name in ("CapabilityBoundingSet", "AmbientCapabilities"):
            if v != 0:
                die(f"{name}={v}: only the empty set is converted")
            args.append(f"{name}=")
        elif sig in ("t", "u", "i", "x"):
            args.append(f"{name}={'infinity' if v == UINT64_MAX else v}")
        elif sig == "as":
            args.append(f"{name}={_strv(v)}")
        elif sig == "(bas)":
            allow, items = v
            args.append(f"{name}={'' if allow else '~'}{_strv(items)}")
        elif sig == "a(iayu)":
            args.append(f"{name}={_addresses(v)}")
        elif sig == "a(ss)":
            args.append(f"{name}=" + " ".join(f"{p}:{o}" for p, o in v))
        else:
            die(f"the helper sets {name} (type {sig}), which this benchmark cannot convert yet")
    for base, sh in limits.items():
        hard = sh.get("hard", sh.get("soft"))
        soft = sh.get("soft", hard)
        conv = lambda x: "infinity" if x == UINT64_MAX else str(x)  # noqa: E731
        args.append(f"{base}={conv(soft)}:{conv(hard)}" if soft != hard else f"{base}={conv(hard)}")
    out = []
    for a in args:
        out += ["-p", a]
    return out, skipped


def for_unit(sd_run_args, captured, unit):
    """The captured properties for a unit of another name: where they name the helper's unit (on
    systemd 252 the bind of its own cgroup directory at /sys/fs/cgroup), they name this one."""
    return [a.replace(captured, unit) for a in sd_run_args]


def exec_argv(props):
    """The interpreter and its arguments from the helper's ExecStartEx (before -c BOOTSTRAP)."""
    for name, _sig, v in props:
        if name in ("ExecStartEx", "ExecStart"):
            path, argv = v[0][0], v[0][1]
            return path, argv[1:argv.index("-c")]
    die("the helper's call has no ExecStartEx/ExecStart")


# Properties compared between a running pyward job unit and a running systemd-run unit.
COMPARE = [
    "User", "Group", "DynamicUser", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
    "PrivateNetwork", "PrivateIPC", "PrivateUsers", "PrivatePIDs", "ProtectProc", "ProcSubset",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
    "ProtectClock", "ProtectHostname", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
    "LockPersonality", "NoNewPrivileges", "MemoryDenyWriteExecute", "CapabilityBoundingSet",
    "AmbientCapabilities", "RemoveIPC", "RestrictAddressFamilies", "IPAddressDeny", "IPAddressAllow",
    "InaccessiblePaths", "BindReadOnlyPaths", "TemporaryFileSystem", "SystemCallFilter",
    "SystemCallArchitectures", "SystemCallErrorNumber", "Slice", "MemoryAccounting", "MemoryMax",
    "MemorySwapMax", "TasksMax", "CPUQuotaPerSecUSec", "RuntimeMaxUSec", "LimitDATA", "LimitDATASoft",
    "LimitNPROC", "LimitNPROCSoft", "LimitFSIZE", "LimitNOFILE", "LimitNOFILESoft", "LimitCORE",
    "LimitCPU", "LimitCPUSoft", "KillMode", "KillSignal", "TimeoutStopUSec", "Environment",
    "WorkingDirectory", "UMask", "Type", "CollectMode",
]


def show(unit):
    r = run(["systemctl", "show", unit, "-p", ",".join(COMPARE)], check=False)
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def wait_unit_running(pattern, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run(["systemctl", "list-units", "--plain", "--no-legend", "--state=running", pattern],
                  check=False).stdout.split()
        if out:
            return out[0]
        time.sleep(0.05)
    return None


def verify_same_sandbox(sd_run_args, py, pyargs, captured_unit):
    """Runs a sleeping job each way and compares the two units' properties."""
    code = "import time; time.sleep(3)"
    pw = subprocess.Popen(["pyward", "-q", "-n", "-c", code], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    pw_unit = wait_unit_running("pyward-job-*.service")
    pw_props = show(pw_unit) if pw_unit else {}
    sr = subprocess.Popen(["systemd-run", "--pipe", "--wait", "--quiet", "--unit=pyward-bench-check",
                           *for_unit(sd_run_args, captured_unit, "pyward-bench-check.service"), "--", py,
                           *pyargs, "-c", code],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    sr_unit = wait_unit_running("pyward-bench-check.service")
    sr_props = show(sr_unit) if sr_unit else {}
    pw.wait(timeout=RUN_TIMEOUT)
    _, sr_err = sr.communicate(timeout=RUN_TIMEOUT)
    if not pw_unit:
        die("no running pyward job unit seen while comparing properties")
    if not sr_unit or sr.returncode != 0:
        die(f"systemd-run with the helper's properties failed ({sr.returncode}): {sr_err.strip()}")
    # Each pyward job takes a user of the pool at random: the captured call named one, this job
    # another. Both must be pool users; which one does not matter, nor which /etc tree (the
    # user's) and own cgroup directory (the unit's) the binds name.
    def same(k):
        a, b = pw_props.get(k), sr_props.get(k)
        if k in ("User", "Group"):
            return a == b or all(v and re.fullmatch(r"pyward-job[0-9]+", v) for v in (a, b))
        if k == "BindReadOnlyPaths" and a and b:
            a, b = (re.sub(r"pyward-job-[0-9a-f]+\.service|pyward-bench-check\.service", "UNIT",
                           re.sub(r"/pyward-job[0-9]+:", "/USER:", v)) for v in (a, b))
        return a == b

    return {k: {"pyward": pw_props.get(k), "systemd-run": sr_props.get(k)} for k in COMPARE if not same(k)}
