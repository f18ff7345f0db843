# SPDX-License-Identifier: LGPL-2.1-or-later
# A job's life from the outside: a client that dies mid-job leaves nothing behind, an admin's
# `systemctl stop` ends a job as "killed", a client's CANCEL likewise, and 20 jobs run at once.
import hashlib
import json
import os
import pwd
import subprocess
import sys
import threading
import time
import unittest

from pwlib import (JOB_USER_PREFIX, SLOT_DIR, ACCEPTED, CANCEL, RESULT, STDOUT, PywardTestCase, TempUser, connect, ensure_group, frame,
                   job_units, job_user_held, job_users, parse_kv, processes_of_uid, pyward, read_frames, request_frames, sh, wait_for)


DROPIN_DIR = "/etc/pyward/pyward.conf.d"


class LifecycleTests(PywardTestCase):
    def start_client(self, code):
        """A separate client process (python + the pyward module) streaming stdout to us."""
        mod_dir = os.path.dirname(pyward.__file__)
        if pyward.__file__.endswith("__init__.py"):
            mod_dir = os.path.dirname(mod_dir)
        prog = ("import sys; sys.path.insert(0, %r); import pyward\n"
                "r = pyward.run(%r, on_stdout=lambda c: (sys.stdout.buffer.write(c), sys.stdout.flush()))\n"
                "print('RESULT', r.status)\n" % (mod_dir, code))
        return subprocess.Popen([sys.executable, "-c", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def test_client_killed_mid_job_leaves_nothing(self):
        client = self.start_client("import os, time\nprint(os.getuid(), os.getpid(), flush=True)\n"
                                   "time.sleep(120)\n")
        try:
            line = client.stdout.readline().split()
            self.assertEqual(len(line), 2, f"job did not start: {line} {client.stderr.read() if not line else ''}")
            uid = int(line[0])
            units = job_units()
            self.assertEqual(len(units), 1, units)
            self.assertTrue(processes_of_uid(uid), "the job's process is not visible in the machine")
            self.assertTrue(job_user_held(uid), f"job user {job_users().get(uid)} not held during the job")
        finally:
            client.kill()
            client.wait()
            client.stdout.close()
            client.stderr.close()
        killed_at = time.monotonic()
        gone = wait_for(lambda: not job_units() and not processes_of_uid(uid, pooled=False)
                        and not job_user_held(uid, pooled=False), 2.0)
        elapsed = time.monotonic() - killed_at
        self.assertTrue(gone, f"after {elapsed:.1f}s: units {job_units()}, "
                              f"processes {processes_of_uid(uid, pooled=False)}, "
                              f"job user held: {job_user_held(uid, pooled=False)}")

    def test_job_user_whose_last_unit_still_exists_is_skipped(self):
        """A helper killed with SIGKILL leaves its job user's file naming a unit the manager may
        still be stopping: the next helper must take another user, and say so when there is none."""
        stale = "pwtest-stale-job.service"
        sh("systemd-run", "--quiet", f"--unit={stale}", "sleep", "300")
        self.addCleanup(sh, "systemctl", "stop", stale, check=False)
        ks = sorted(int(name[len(JOB_USER_PREFIX):]) for name in job_users().values())
        self.assertGreater(len(ks), 1, ks)
        free = ks[len(ks) // 2]

        def record(k, unit):
            with open(f"{SLOT_DIR}/user.{k}", "w") as f:
                f.write(unit + "\n" if unit else "")

        self.addCleanup(lambda: [record(k, "") for k in ks])
        for k in ks:
            record(k, stale if k != free else "")
        r = pyward.run("import os; print(os.getuid())")
        self.assertEqual((r.status, r.exit_code), ("ok", 0), r.message)
        self.assertEqual(int(r.stdout), pwd.getpwnam(f"{JOB_USER_PREFIX}{free}").pw_uid)

        record(free, stale)
        r = pyward.run("print('never')")
        self.assertEqual(r.status, "error")
        self.assertIn(f"all {len(ks)} job users are in use", r.message or "")
        self.assertEqual(r.stdout, b"")

        sh("systemctl", "stop", stale)
        r = pyward.run("print('again')")
        self.assertEqual((r.status, r.stdout), ("ok", b"again\n"), r.message)

    def test_systemctl_stop_reports_killed(self):
        result = {}
        started = threading.Event()

        def go():
            result["r"] = pyward.run("import time\nprint('up', flush=True)\ntime.sleep(120)\n",
                                     on_stdout=lambda c: started.set())

        t = threading.Thread(target=go)
        t.start()
        self.assertTrue(started.wait(30), "job did not start")
        units = job_units()
        self.assertEqual(len(units), 1, units)
        stop_at = time.monotonic()
        sh("systemctl", "stop", units[0])
        t.join(30)
        self.assertFalse(t.is_alive(), "client still waiting 30 s after systemctl stop")
        self.assertLess(time.monotonic() - stop_at, 10)
        r = result["r"]
        self.assertEqual((r.status, r.stdout), ("killed", b"up\n"), r.message)
        self.assertEqual(r.unit, units[0])

    def test_cancel_frame_reports_killed(self):
        with connect(timeout=30) as s:
            s.sendall(request_frames("import time\nprint('up', flush=True)\ntime.sleep(120)\n", stdin=b""))
            frames = []
            it = read_frames(s)
            for t, p in it:
                frames.append((t, p))
                if t == STDOUT:
                    break
            self.assertEqual(frames[0][0], ACCEPTED)
            s.sendall(frame(CANCEL))
            start = time.monotonic()
            frames += list(it)
            self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(frames[-1][0], RESULT)
        res = parse_kv(frames[-1][1])
        self.assertEqual(res["status"], "killed", res)

    def test_twenty_concurrent_jobs(self):
        # 20 jobs at once from two clients: root and a member of group pyward, 10 each (one uid
        # alone may hold at most ConnectionsPerUser=16 connections, see pyward-door(8)).
        n, per_uid = 20, 10
        ensure_group("pyward")
        os.makedirs(DROPIN_DIR, exist_ok=True)
        dropin = os.path.join(DROPIN_DIR, "50-pwtest-jobs.conf")
        with open(dropin, "w") as f:
            f.write("[Access]\nJobsPerUser=%d\n" % per_uid)  # the built-in 8 would refuse some
        self.addCleanup(os.unlink, dropin)
        with TempUser("pwconc", groups=["pyward"]) as u:
            other = u.run(["python3", "-c", CONCURRENT_CLIENT, module_dir(), str(per_uid), str(n)],
                          timeout=300, wait=False)
            results, errors = run_concurrently(range(per_uid))
            out, err = other.communicate(timeout=300)
        self.assertEqual(errors, {})
        self.assertEqual(other.returncode, 0, err)
        got = {i: (r.status, r.exit_code, r.stdout.decode()) for i, r in results.items()}
        theirs = json.loads(out)
        got.update({int(i): tuple(v[:3]) for i, v in theirs.items()})
        if hasattr(self, "paths"):  # test_warm_paths: the other client's jobs claim runners too
            self.paths += [v[3] for v in theirs.values()]
        want = {i: ("ok", 0, expected_output(i)) for i in range(n)}
        self.assertEqual(got, want)
        self.assertEqual(len({r.unit for r in results.values()}), per_uid, "units were reused")


JOB = ("import sys, time, hashlib\nn = int(sys.argv[1])\ntime.sleep(1)\n"
       "print(n, sum(k * k for k in range(n * 1000)), hashlib.sha256(str(n).encode()).hexdigest())\n")


def expected_output(i):
    return f"{i} {sum(k * k for k in range(i * 1000))} {hashlib.sha256(str(i).encode()).hexdigest()}\n"


def run_concurrently(indices):
    results, errors = {}, {}

    def one(i):
        try:
            results[i] = pyward.run(JOB, args=[str(i)])
        except Exception as e:  # noqa: BLE001 - reported by the caller with its index
            errors[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in indices]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return results, errors


def module_dir():
    d = os.path.dirname(pyward.__file__)
    return os.path.dirname(d) if pyward.__file__.endswith("__init__.py") else d


# Runs jobs argv[2]..argv[3]-1 at once as another user; prints {index: [status, code, stdout]}.
CONCURRENT_CLIENT = r'''
import json, sys, threading
sys.path.insert(0, sys.argv[1])
import pyward
JOB = %r
out, threads = {}, []
def one(i):
    try:
        r = pyward.run(JOB, args=[str(i)])
        out[i] = [r.status, r.exit_code, r.stdout.decode(), getattr(r, "path", None)]
    except Exception as e:
        out[i] = ["exception", None, repr(e), None]
for i in range(int(sys.argv[2]), int(sys.argv[3])):
    threads.append(threading.Thread(target=one, args=(i,)))
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(out))
''' % JOB

if __name__ == "__main__":
    unittest.main()
