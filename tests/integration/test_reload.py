# SPDX-License-Identifier: LGPL-2.1-or-later
# The manager reloads or re-executes while jobs run and while they start (daemon-reload,
# daemon-reexec against real systemd): every job ends as it would have, and runs once.
import threading
import time
import unittest

from faultlib import FaultTestCase, job_records, journal_records, write_dropin
from pwlib import job_units, note, pyward, sh, wait_for


class ReloadTests(FaultTestCase):
    def _jobs_across(self, action, n=10):
        write_dropin(self, "50-pwfaults-jobs.conf", "[Access]\nJobsPerUser=%d\n" % (n + 2))
        results, errors, accepted = {}, {}, {}
        all_accepted = threading.Event()
        lock = threading.Lock()

        def on_accepted(i, a):
            with lock:
                accepted[i] = a
                if len(accepted) == n:
                    all_accepted.set()

        def one(i):
            try:
                results[i] = pyward.run("import sys, time\ntime.sleep(4)\nprint(sys.argv[1] * 3)\n",
                                        args=[f"j{i}."], timeout=60,
                                        on_accepted=lambda a: on_accepted(i, a), client_timeout=120)
            except Exception as e:  # noqa: BLE001 - reported with its index
                errors[i] = repr(e)
                all_accepted.set()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        self.assertTrue(all_accepted.wait(60), f"only {len(accepted)} of {n} jobs started")
        self.assertEqual(errors, {})
        self.assertEqual(len(job_units()), n, job_units())
        before = time.monotonic()
        out = sh("systemctl", action, check=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        took = time.monotonic() - before
        # The manager answers again.
        self.assertTrue(wait_for(lambda: sh("systemctl", "is-system-running", check=False).stdout.strip()
                                 in ("running", "degraded"), 30))
        for t in threads:
            t.join(120)
        self.assertEqual(errors, {}, f"after {action} ({took:.1f}s)")
        self.maxDiff = None
        got = {i: (r.status, r.exit_code, r.stdout, r.message) for i, r in results.items()}
        want = {i: ("ok", 0, f"j{i}." * 3 + "\n", None) for i in range(n)}
        want = {i: (s, c, o.encode(), m) for i, (s, c, o, m) in want.items()}
        self.assertEqual(got, want, f"after systemctl {action}")
        for i, r in results.items():
            recs = wait_for(lambda: job_records(r.job), 5)
            self.assertTrue(any(x.get("PYWARD_STATUS") == "ok" for x in recs), (r.job, recs))
        # A job started after it works as well.
        self.assertOk(pyward.run("print('after')\n", client_timeout=60), b"after\n")

    def test_daemon_reload_while_jobs_run(self):
        self._jobs_across("daemon-reload")

    def test_daemon_reexec_while_jobs_run(self):
        self._jobs_across("daemon-reexec")

    def test_daemon_reload_while_jobs_start(self):
        """daemon-reloads while jobs are being started. systemd 252 cannot read back the
        ExecStartEx= it writes to a transient unit's file, so a reload before a start job runs
        refuses the unit (LoadState=bad-setting): the helper starts the job again, and every job
        runs once and ends ok (a dpkg upgrade's reload made one job in four fail before)."""
        since = time.time()
        stop = threading.Event()
        reloads = []

        def reload_loop():
            # Back-to-back reloads for 3 s (each start in that time falls into one), then none: a
            # start refused meanwhile is made again until it finds the manager between reloads.
            storm = time.monotonic() + 3
            while not stop.is_set() and time.monotonic() < storm:
                reloads.append(sh("systemctl", "daemon-reload", check=False).returncode)

        results = {}

        def submit(k):
            for i in range(k, 24, 3):
                results[i] = pyward.run(f"print({i} * 7)\n", client_timeout=120)

        threads = [threading.Thread(target=reload_loop)] + [threading.Thread(target=submit, args=(k,))
                                                            for k in range(3)]
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join(300)
        stop.set()
        threads[0].join(60)
        self.assertGreater(len(reloads), 3, "the reloads did not overlap the starts")
        self.assertTrue(reloads and set(reloads) == {0}, reloads)
        got = {i: (r.status, r.exit_code, r.stdout, r.message) for i, r in results.items()}
        self.assertEqual(got, {i: ("ok", 0, f"{i * 7}\n".encode(), None) for i in range(24)})
        again = sum("starting it again" in x.get("MESSAGE", "")
                    for x in journal_records("SYSLOG_IDENTIFIER=pyward-helper", since=since))
        note(f"{len(reloads)} reloads during 24 jobs; {again} starts made again")
        # One ACCEPTED and one started record per job, whatever was made again.
        for r in results.values():
            recs = job_records(r.job)
            self.assertEqual(sum(x.get("PYWARD_STATUS") == "started" for x in recs), 1, (r.job, recs))
        self.assertEqual(wait_for(lambda: job_units() == [], 10), True, job_units())


if __name__ == "__main__":
    unittest.main()
