# SPDX-License-Identifier: LGPL-2.1-or-later
# Spare helpers (pyward-door(8), "SPARE HELPERS") against real systemd: pyward-helper-spare@.service
# instances wait at the door's second socket; an admitted connection goes to one of them, which
# serves it and is started afresh; without one waiting, pyward-helper.socket activates a helper as
# before. Nothing a client sees differs, and no way a spare ends loses a job.
import json
import os
import re
import select
import stat
import subprocess
import sys
import time

from faultlib import forbidden_syscall_frames, killed_by_sigsys, write_dropin
from pwlib import (ACCEPTED, CLI, RESULT, PywardTestCase, TempUser, job_units, leftovers_since,
                   leftovers_snapshot, parse_kv, sh, wait_for)

SPARES = ["pyward-helper-spare@1.service", "pyward-helper-spare@2.service"]
SPARE_SOCKET = "/run/pyward/spare.sock"  # helper/spares.h


def show(unit, prop):
    return sh("systemctl", "show", "-P", prop, unit).stdout.strip()


def restarts():
    """How many connections the spares have served (or waits ended) since they were started."""
    return sum(int(show(u, "NRestarts") or 0) for u in SPARES)


def waiting():
    """The spares now waiting at the door (their status line, helper/main.c's spare_wait())."""
    return [u for u in SPARES if show(u, "ActiveState") == "active"
            and show(u, "StatusText").startswith("Waiting for a connection")]


# What a job can observe of its own sandbox, with the numbers that differ between any two jobs
# (uid, job id, pids) taken out: the same on a spare helper's job as on an activated one's.
PROBE = r"""
import json, os, re, resource
n = lambda s: re.sub(r"pyward-job-[0-9a-f]+|[0-9]+", "N", s)
st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
print(json.dumps({
    "status": {k: st[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp", "Seccomp_filters")},
    "cgroup": n(open("/proc/self/cgroup").read()),
    "mounts": sorted({n(l.split()[4]) + " " + l.split(" - ")[1].split()[0] for l in open("/proc/self/mountinfo")}),
    "etc": sorted(os.listdir("/etc")),
    "net": sorted(os.listdir("/sys/class/net")),
    "env": sorted(os.environ),
    "rlimits": [resource.getrlimit(getattr(resource, r)) for r in sorted(dir(resource)) if r.startswith("RLIMIT_")],
    "cwd": n(os.getcwd()), "groups": len(os.getgroups()),
}, sort_keys=True))
"""


class SpareHelpers(PywardTestCase):
    def setUp(self):
        super().setUp()
        sh("systemctl", "start", *SPARES)
        self.addCleanup(sh, "systemctl", "stop", *SPARES, check=False)
        self.assertTrue(wait_for(lambda: len(waiting()) == 2, 10), waiting())
        self.before = leftovers_snapshot()

    def test_spare_serves_the_connection_and_is_started_afresh(self):
        """A job goes to a waiting spare (no pyward-helper@ instance is activated for it); the spare
        exits after its one connection and systemd starts a fresh one, which serves the next."""
        activated0 = int(show("pyward-helper.socket", "NAccepted"))
        n0 = restarts()
        for i in range(6):
            self.assertTrue(wait_for(lambda: len(waiting()) == 2, 10), f"job {i}: {waiting()}")
            self.assertOk(self.run_job(f"print({i} * 7)"), f"{i * 7}\n".encode())
        self.assertTrue(wait_for(lambda: restarts() - n0 == 6, 10), restarts() - n0)
        self.assertEqual(int(show("pyward-helper.socket", "NAccepted")) - activated0, 0,
                         "a connection was activated although spares were waiting")
        self.assertEqual(leftovers_since(self.before), {})

    def test_spare_reads_the_configuration_after_the_hand_off(self):
        """A spare started before a drop-in existed serves that drop-in's new profile at once."""
        write_dropin(self, "90-spare-profile.conf", '[Profile "sparenew"]\nDefaultWallTimeSec=7s\n')
        n0 = restarts()
        res = self.run_job("print('new')", profile="sparenew")
        self.assertOk(res, b"new\n")
        self.assertTrue(wait_for(lambda: restarts() - n0 == 1, 10))

    def test_a_job_on_a_spare_sees_what_an_activated_ones_sees(self):
        """The same probe of the job's own sandbox (capabilities, seccomp, cgroup, mounts, /etc,
        network, environment, rlimits) on a spare helper's job and on an activated helper's."""
        n0 = restarts()
        on_spare = self.run_job(PROBE)
        self.assertOk(on_spare)
        self.assertTrue(wait_for(lambda: restarts() - n0 == 1, 10))
        sh("systemctl", "stop", *SPARES)
        activated0 = int(show("pyward-helper.socket", "NAccepted"))
        activated = self.run_job(PROBE)
        self.assertOk(activated)
        self.assertEqual(int(show("pyward-helper.socket", "NAccepted")) - activated0, 1)
        self.assertEqual(json.loads(on_spare.stdout), json.loads(activated.stdout))

    def test_a_spare_is_locked_down_before_the_request(self):
        """A spare installs its seccomp filter before it waits (an activated helper after its
        configuration): the test builds' forbidden-syscall hook (test_faults' test for an
        activated helper) kills the spare with SIGSYS, no job starts, and the next client is
        served."""
        n0 = restarts()
        frames = forbidden_syscall_frames()
        if frames and frames[-1][0] == RESULT:
            self.fail(f"the spare answered instead of dying: {parse_kv(frames[-1][1])}")
        self.assertNotIn(ACCEPTED, [t for t, _ in frames], "a job was started")
        self.assertTrue(killed_by_sigsys("pyward-helper-spare@", self.t0),
                        "no spare's 'Main process exited, code=killed, status=31/SYS' from systemd")
        self.assertGreaterEqual(restarts() - n0, 1)
        self.assertOk(self.run_job("print('fine')\n"), b"fine\n")

    def test_spare_keeps_the_units_namespaces(self):
        """A spare's start is off the critical path, so it keeps every namespace of the helper's
        sandbox even where pyward-helper-generator lifts them for activated helpers (Landlock in
        their place): systemd-analyze security scores it as the helper without the drop-in, 0.7."""
        dropins = show(SPARES[0], "DropInPaths")
        self.assertNotIn("50-pyward-landlock.conf", dropins)
        out = sh("systemd-analyze", "security", "--no-pager", SPARES[0], check=False).stdout
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
        self.assertIsNotNone(m, out)
        print(f"\n    [measured] systemd-analyze security {SPARES[0]}: {m.group(1)}", file=sys.stderr)
        self.assertLessEqual(float(m.group(1)), 0.7, out)
        self.assertEqual(show(SPARES[0], "ProtectSystem"), "strict")
        self.assertEqual(show(SPARES[0], "PrivateNetwork"), "yes")

    def test_check_config_reports_the_spares(self):
        """pyward-helper --check-config counts the running spares (two here, none once stopped)."""
        out = sh("/usr/libexec/pyward-helper", "--check-config").stdout
        self.assertIn("Spare helpers: 2 running", out)
        sh("systemctl", "stop", *SPARES)
        out = sh("/usr/libexec/pyward-helper", "--check-config").stdout
        self.assertIn("Spare helpers: 0 running", out)

    def test_no_spare_waiting_means_activation(self):
        """With every spare stopped, connections are activated as without spares."""
        sh("systemctl", "stop", *SPARES)
        activated0 = int(show("pyward-helper.socket", "NAccepted"))
        for i in range(3):
            self.assertOk(self.run_job("print('cold')"), b"cold\n")
        self.assertEqual(int(show("pyward-helper.socket", "NAccepted")) - activated0, 3)

    def test_killed_spares_and_a_restarted_door_lose_no_job(self):
        """A waiting spare SIGKILLed, the door restarted (every spare's wait ends) and killed: the
        spares come back, and every job around them is served."""
        sh("systemctl", "kill", "--signal=SIGKILL", SPARES[0])
        self.assertTrue(wait_for(lambda: len(waiting()) == 2, 10), waiting())
        self.assertOk(self.run_job("print(1)"), b"1\n")
        n0 = restarts()
        sh("systemctl", "restart", "pyward-door.service")
        self.assertOk(self.run_job("print(2)"), b"2\n")
        self.assertTrue(wait_for(lambda: len(waiting()) == 2 and restarts() - n0 >= 2, 10),
                        (waiting(), restarts() - n0))
        sh("systemctl", "kill", "--signal=SIGKILL", "pyward-door.service")
        self.assertOk(self.run_job("print(3)"), b"3\n")
        self.assertTrue(wait_for(lambda: len(waiting()) == 2, 10), waiting())
        self.assertOk(self.run_job("print(4)"), b"4\n")
        self.assertEqual(leftovers_since(self.before), {})

    def test_a_spare_killed_while_it_serves(self):
        """The spare serving a job is SIGKILLed: the job's unit goes with it (BindsTo= its helper's
        unit, the spare's), the client exits 125 with one "pyward:" line, as when any helper dies,
        and a fresh spare serves the next job."""
        p = subprocess.Popen([CLI, "-c", "import time; print('up', flush=True); time.sleep(120)"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        ready, _, _ = select.select([p.stdout], [], [], 30)
        self.assertEqual(p.stdout.readline() if ready else b"", b"up\n")
        serving = [u for u in SPARES if show(u, "StatusText").startswith("Serving")]
        self.assertEqual(len(serving), 1, [show(u, "StatusText") for u in SPARES])
        sh("systemctl", "kill", "--signal=SIGKILL", serving[0])
        rc = p.wait(20)
        err = p.stderr.read().decode()
        p.stdout.close(), p.stderr.close()
        self.assertEqual(rc, 125, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("pyward: "), err)
        self.assertTrue(wait_for(lambda: not job_units(), 10), job_units())
        self.assertTrue(wait_for(lambda: len(waiting()) == 2, 10), waiting())
        self.assertOk(self.run_job("print(5)"), b"5\n")

    def test_spare_socket_is_roots_and_stopping_it_ends_the_spares(self):
        """Only root reaches the spares' socket; with it stopped, a spare whose wait ends exits and
        stays stopped (status 78, not restarted in a loop), jobs are activated as before, and the
        door's restart brings the socket back."""
        st = os.stat(SPARE_SOCKET)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, 0))
        with TempUser("pwspare") as u:
            r = u.run(["python3", "-c", f"import socket; socket.socket(socket.AF_UNIX).connect({SPARE_SOCKET!r})"])
            self.assertIn(b"PermissionError", r.stderr)
        sh("systemctl", "stop", "pyward-spare.socket")
        # A socket whose service runs refuses to start ("already active"): the door's restart brings
        # it back (Wants=, After=).
        self.addCleanup(sh, "systemctl", "restart", "pyward-door.service", check=False)
        # Their waits ended by SIGTERM: each is started again, finds no socket and stays stopped.
        sh("systemctl", "kill", "--signal=SIGTERM", *SPARES)
        self.assertTrue(wait_for(lambda: all(show(u, "ActiveState") != "active" for u in SPARES), 10),
                        [show(u, "ActiveState") for u in SPARES])
        # Failed (a notify service that exits before READY=1), with the status that says why, and
        # not started again.
        n0 = restarts()
        time.sleep(1)
        self.assertEqual([show(u, "ExecMainStatus") for u in SPARES], ["78", "78"])
        self.assertEqual([show(u, "ActiveState") for u in SPARES], ["failed", "failed"])
        self.assertEqual(restarts(), n0)
        activated0 = int(show("pyward-helper.socket", "NAccepted"))
        self.assertOk(self.run_job("print('cold')"), b"cold\n")
        self.assertEqual(int(show("pyward-helper.socket", "NAccepted")) - activated0, 1)
        sh("systemctl", "restart", "pyward-door.service")
        self.assertEqual(show("pyward-spare.socket", "ActiveState"), "active")
