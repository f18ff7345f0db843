# SPDX-License-Identifier: LGPL-2.1-or-later
# Faults against real systemd: a helper killed mid-job, clients that do not read or never ask, and
# the helper's self-lockdown. The manager's reloads are test_reload.py's, connection storms
# test_storm.py's, the soak test_soak.py's; what they share is faultlib.py.
import os
import select
import subprocess
import threading
import time
import unittest

from faultlib import (DEBUG_PROFILE, HELPER_RSS_MAX_KB, FaultTestCase, active_helper_instances,
                      forbidden_syscall_frames, job_records, journal_records, killed_by_sigsys, proc_status_kb,
                      write_dropin)
from pwlib import (ACCEPTED, CLI, RESULT, STDOUT, connect, frame, helper_units, job_units, job_user_held, job_users,
                   parse_kv, processes_of_uid, pyward, read_frames, request_frames, sh, wait_for)



# --- the machine ----------------------------------------------------------------------------

def helper_main_pids():
    """{unit: MainPID} of the helper instances that have a running process."""
    pids = {}
    for u in helper_units():
        v = sh("systemctl", "show", "-p", "MainPID", "--value", u, check=False).stdout.strip()
        if v.isdigit() and int(v) > 0:
            pids[u] = int(v)
    return pids


def running_job_units():
    """Job units that are not stopped yet (a failed one may wait for its helper to let go of it)."""
    out = sh("systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward-job-*").stdout
    return [f[0] for f in (line.split() for line in out.splitlines())
            if len(f) >= 3 and f[2] not in ("inactive", "failed")]


class FaultTests(FaultTestCase):
    # --- a helper killed with SIGKILL in the middle of a job -----------------------------------

    def _start_blocked_job(self):
        """A job that prints its uid and sleeps; returns (thread, box, uid, job id, helper pid)."""
        box = {}
        started = threading.Event()

        def go():
            try:
                box["result"] = pyward.run(
                    "import os, time\nprint(os.getuid(), flush=True)\ntime.sleep(120)\n",
                    on_accepted=lambda a: box.setdefault("accepted", a),
                    on_stdout=lambda c: (box.setdefault("out", bytearray()).extend(c), started.set()),
                    client_timeout=60)
            except Exception as e:  # noqa: BLE001 - the test inspects it
                box["error"] = e
            started.set()

        t = threading.Thread(target=go)
        t.start()
        self.assertTrue(started.wait(30), "the job did not start")
        self.assertNotIn("error", box)
        uid = int(bytes(box["out"]).split()[0])
        helpers = helper_main_pids()
        self.assertEqual(len(helpers), 1, helpers)
        return t, box, uid, box["accepted"]["job"], next(iter(helpers.values()))

    def _assert_all_gone(self, uid, since, within):
        gone = wait_for(lambda: not job_units() and not processes_of_uid(uid, pooled=False)
                        and not job_user_held(uid, pooled=False), within)
        self.assertTrue(gone, f"{time.monotonic() - since:.1f}s after SIGKILL: units {job_units()}, "
                              f"processes {processes_of_uid(uid, pooled=False)}, "
                              f"job user held: {job_user_held(uid, pooled=False)}")

    def _assert_job_in_journal(self, job_id):
        recs = wait_for(lambda: job_records(job_id), 5)
        self.assertTrue(recs, f"nothing in the journal for PYWARD_JOB={job_id}")
        return recs

    def test_helper_sigkill_module_client(self):
        t, box, uid, job_id, pid = self._start_blocked_job()
        os.kill(pid, 9)
        killed = time.monotonic()
        self._assert_all_gone(uid, killed, 2.0)
        t.join(10)
        self.assertFalse(t.is_alive(), "the client still waits 10 s after the helper died")
        self.assertIsInstance(box.get("error"), ConnectionError, box)
        self.assertIn("pyward:", str(box["error"]))
        self._assert_job_in_journal(job_id)

    def test_helper_sigkill_cli(self):
        p = subprocess.Popen([CLI, "-c", "import os, time\nprint(os.getuid(), flush=True)\n"
                                                 "time.sleep(120)\n"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            ready, _, _ = select.select([p.stdout], [], [], 30)
            line = p.stdout.readline() if ready else b""
            if not line.strip().isdigit():
                # Only now: an assertion message is built even when the assertion holds, and a read
                # of the CLI's stderr blocks until the CLI writes there or exits (the job's wall
                # limit, 30 s later), by which time its helper is gone.
                err_ready, _, _ = select.select([p.stderr], [], [], 1)
                self.fail(f"job did not start: {line!r} {p.stderr.read1(4096) if err_ready else b''!r}")
            uid = int(line)
            helpers = wait_for(lambda: helper_main_pids(), 5)
            self.assertEqual(len(helpers), 1, f"helpers {helpers} {helper_units()}, jobs {job_units()}, "
                                              f"CLI exit {p.poll()}, CLI stdout so far {line!r}")
            os.kill(next(iter(helpers.values())), 9)
            killed = time.monotonic()
            self._assert_all_gone(uid, killed, 2.0)
            rc = p.wait(10)
            err = p.stderr.read().decode()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(rc, 125, err)
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("pyward: "), err)

    # --- clients that do not read, or never ask ------------------------------------------------

    def test_client_not_reading_flood_keeps_helper_small(self):
        code = "import sys\nb = b'x' * 65536\nwhile True:\n    sys.stdout.buffer.write(b)\n"
        wall = 6
        with connect(timeout=60) as s:
            s.sendall(request_frames(code, limits={"wall_time": wall * 1000000, "output": 16 << 20},
                                     stdin=b""))
            started = time.monotonic()
            # running, not just loaded: the unit waits inactive for its /tmp mounts first
            self.assertTrue(wait_for(lambda: len(running_job_units()) == 1, 15), "job did not start")
            helpers = helper_main_pids()
            self.assertEqual(len(helpers), 1, helpers)
            pid = next(iter(helpers.values()))
            peak = {"VmRSS": 0, "VmHWM": 0}
            # The job floods, nobody reads: sample the helper until the wall limit ended the job.
            uid = None
            while time.monotonic() - started < wall + 10 and running_job_units():
                if uid is None:
                    pids = sh("systemctl", "show", "-p", "MainPID", "--value", job_units()[0]).stdout.strip()
                    st = proc_status_kb(int(pids), "Uid") if pids.isdigit() and pids != "0" else None
                    uid = st.get("Uid") if st else None
                    # Before its exec the main process may still be root (systemd-executor on 257).
                    if uid is not None and uid not in job_users():
                        uid = None
                    uid = uid or None  # 0: the manager's child before it became the job's user
                st = proc_status_kb(pid, "VmRSS", "VmHWM")
                if st:
                    peak = {k: max(peak[k], st.get(k, 0)) for k in peak}
                time.sleep(0.1)
            self.assertEqual(running_job_units(), [], f"the job still runs {wall + 10}s after it started")
            self.assertIsNotNone(uid, "never saw the job's process")
            self.assertEqual(processes_of_uid(uid), [])
            st = proc_status_kb(pid, "VmRSS", "VmHWM")
            self.assertIsNotNone(st, "the helper exited before its client read anything")
            peak = {k: max(peak[k], st.get(k, 0)) for k in peak}
            self.assertLess(peak["VmHWM"], HELPER_RSS_MAX_KB, f"helper memory {peak} kB")
            # Now read: what was produced before the job blocked, then the verdict.
            frames = list(read_frames(s))
        self.assertTrue(frames and frames[0][0] == ACCEPTED and frames[-1][0] == RESULT,
                        [hex(t) for t, _ in frames[:3]])
        res = parse_kv(frames[-1][1])
        # Only timeout is right: with backpressure the helper reads no more of the job's output
        # than the socket and one chunk hold (far below the 16 MiB output limit); output-limit
        # would mean it kept draining the pipe for a client that does not read.
        self.assertEqual(res["status"], "timeout", res)
        out = b"".join(p for t, p in frames if t == STDOUT)
        self.assertLess(len(out), 16 << 20, "the helper read the whole output limit")
        self.assertTrue(out and out == b"x" * len(out), len(out))
        recs = self._assert_job_in_journal(res["job"])
        self.assertTrue(any(r.get("PYWARD_STATUS") == res["status"] for r in recs), recs)

    def _request_deadline(self, data):
        write_dropin(self, "50-pwfaults-timeout.conf", "[Access]\nRequestTimeoutSec=2s\n")
        with connect(timeout=30) as s:
            start = time.monotonic()
            if data:
                s.sendall(data)
            frames = list(read_frames(s))
            took = time.monotonic() - start
        self.assertGreater(took, 1.5)
        self.assertLess(took, 6)
        self.assertEqual([t for t, _ in frames], [RESULT])
        res = parse_kv(frames[0][1])
        self.assertEqual(res["status"], "rejected", res)
        self.assertIn("request not received within", res.get("message", ""))
        self.assertTrue(wait_for(lambda: not active_helper_instances(), 5), active_helper_instances())
        recs = wait_for(lambda: [r for r in journal_records("PYWARD_STATUS=rejected", since=self.t0)
                                 if "request not received" in r.get("MESSAGE", "")], 5)
        self.assertTrue(recs, "no journal record of the dropped client")
        # The connection has its job id from the start: the RESULT quotes it and every record of
        # the connection carries it, though no unit was ever made.
        self.assertRegex(res.get("job", ""), r"^[0-9a-f]{32}$", res)
        self.assertEqual({r.get("PYWARD_JOB") for r in recs}, {res["job"]}, recs)
        self.assertTrue(any(r.get("PRIORITY") == "5" and r.get("PYWARD_STATUS") is None
                            for r in job_records(res["job"])),
                        f"the helper's own log lines lack PYWARD_JOB={res['job']}")

    def test_client_never_sends_request_is_dropped(self):
        self._request_deadline(b"")

    def test_client_stalls_mid_frame_is_dropped(self):
        self._request_deadline(frame(0x1, b"\x01\x00\x00\x00") + frame(0x2, b"print(1)")[:11])

    # --- the helper's own seccomp filter -------------------------------------------------------

    def test_forbidden_syscall_kills_locked_down_helper(self):
        frames = forbidden_syscall_frames()
        if frames and frames[-1][0] == RESULT:
            res = parse_kv(frames[-1][1])
            # scripts/test always builds the tested helper with -Ddebug-hooks=true: a helper
            # without the hook is a broken build or stage, not a reason to skip.
            if res["status"] == "rejected" and DEBUG_PROFILE in res.get("message", ""):
                self.fail("the helper was built without -Ddebug-hooks=true (no forbidden-syscall hook), "
                          "although the tested build always has it: " + res.get("message", ""))
            self.fail(f"the helper answered instead of dying: {res}")
        self.assertNotIn(ACCEPTED, [t for t, _ in frames], "a job was started")
        # systemd saw the helper die of SIGSYS (the seccomp filter's kill), not exit.
        self.assertTrue(killed_by_sigsys("pyward-helper@", self.t0),
                        "no 'Main process exited, code=killed, status=31/SYS' from systemd")
        # And the next client is served as usual.
        self.assertOk(pyward.run("print('fine')\n", client_timeout=60), b"fine\n")

    def test_forbidden_syscall_kills_locked_down_door(self):
        """The front door's own seccomp filter (lockdown_apply_door()): with the test builds' hook
        set, its first connection after lockdown makes it call execve(), and systemd sees it die
        of SIGSYS; the client's connection ends without a byte; without the hook it serves again."""
        d = "/run/systemd/system/pyward-door.service.d"
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "90-test-forbidden.conf")
        with open(path, "w") as f:
            f.write("[Service]\nEnvironment=PYWARD_DEBUG_DOOR_FORBIDDEN_SYSCALL=1\n")

        def restore():
            if os.path.exists(path):
                os.unlink(path)
                sh("systemctl", "daemon-reload")
                sh("systemctl", "restart", "pyward-door.service")
        self.addCleanup(restore)
        sh("systemctl", "daemon-reload")
        sh("systemctl", "restart", "pyward-door.service")
        with connect(timeout=30) as s:
            s.settimeout(10)
            try:
                got = s.recv(1)
            except ConnectionError:
                got = b""
        self.assertEqual(got, b"", "the door answered instead of dying")
        recs = wait_for(lambda: [r for r in journal_records("_PID=1", since=self.t0)
                                 if r.get("UNIT", "") == "pyward-door.service"
                                 and "status=31/SYS" in r.get("MESSAGE", "")], 5)
        self.assertTrue(recs, "no 'Main process exited, code=killed, status=31/SYS' for pyward-door.service")
        restore()
        self.assertOk(pyward.run("print('fine')\n", client_timeout=60), b"fine\n")


if __name__ == "__main__":
    unittest.main()
