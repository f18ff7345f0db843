# SPDX-License-Identifier: LGPL-2.1-or-later
# Warm runners (pyward-helper(8) WARM RUNNERS) against real systemd: a profile's pool is filled
# after a job, a job claims a runner and runs on it (path=warm), each runner serves one job and its
# unit goes away, a job sees nothing of the one before, the limits hold from the hand-off, a request
# the runner cannot take goes cold, and a configuration change, a stopped or killed runner lose no
# job; afterwards nothing is left but the pool, and stopping it leaves nothing at all.
import os
import subprocess
import threading
import time

from pwlib import (CLI, DROPIN_DIR, PywardTestCase, journal_since, job_units, job_users, leftovers_since,
                   leftovers_snapshot, pyward, sh, wait_for)
from warmlib import HELPER, empty_pool, fill_pool, ready, rid_of, warm_units

DROPINS = ("60-warm.conf", "61-warm-jobs.conf")
SLOT_DIR = "/run/pyward/slots"
WARM_PAUSE = "/run/pyward/debug-warm-claim-pause"  # warm.h: WARM_DEBUG_PAUSE_FILE


class WarmTests(PywardTestCase):
    def setUp(self):
        super().setUp()
        empty_pool(())
        self.before = leftovers_snapshot()
        self.configure("WarmRunners=2\nPreloadModules=json colorsys\n")

    def dropin(self, name, text):
        os.makedirs(DROPIN_DIR, exist_ok=True)
        with open(os.path.join(DROPIN_DIR, name), "w") as f:
            f.write(text)

    def configure(self, text):
        self.dropin(DROPINS[0], "[Profile]\n" + text)

    def fill(self, n=2, profile="default"):
        """pyward-helper --fill-pool, as pyward-pool.service runs it; then n ready runners."""
        out = sh(HELPER, "--fill-pool", check=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(wait_for(lambda: len(ready(profile)) == n, 20), (ready(profile), warm_units()))

    def test_a_job_runs_on_a_warm_runner_once(self):
        self.fill()
        names = ready()
        r = pyward.run("import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])\nsys.exit(3)\n",
                       args=["a b", ""], stdin=b"in\n", client_timeout=60)
        self.assertEqual((r.status, r.exit_code, r.path), ("exit", 3, "warm"), r)
        self.assertEqual(r.stdout, b"IN\n ['a b', '']\n")
        self.assertTrue(r.unit.startswith("pyward-warm-") and rid_of(r.unit) in {rid_of(n) for n in names},
                        (r.unit, names))
        # Single use: that runner's unit goes away, the helper starts one in its place.
        self.assertTrue(wait_for(lambda: r.unit not in warm_units(), 10), warm_units())
        self.assertTrue(wait_for(lambda: len(ready()) == 2, 20), ready())
        self.assertNotIn(r.unit, {"pyward-warm-%s.service" % rid_of(n) for n in ready()})
        # wall_ms counts from the hand-off, not from the runner's start long before.
        self.assertLess(r.wall_ms, 5000, r)

    def test_the_pool_is_filled_after_a_cold_job(self):
        r = pyward.run("print(1)\n", client_timeout=60)
        self.assertEqual((r.status, r.path), ("ok", "cold"), r)
        self.assertTrue(wait_for(lambda: len(ready()) == 2, 20), (ready(), warm_units()))
        self.assertEqual(pyward.run("print(2)\n", client_timeout=60).path, "warm")

    def test_preloaded_modules_and_nothing_else(self):
        probe = ("import os, sys\nprint('json' in sys.modules, 'colorsys' in sys.modules, "
                 "'PYWARD_PRELOAD' in os.environ)\n")
        self.fill()
        warm = pyward.run(probe, client_timeout=60)
        self.assertEqual((warm.path, warm.stdout), ("warm", b"True True False\n"), warm)
        # A request the runner cannot take (a memory limit of its own) runs cold: no preload.
        cold = pyward.run(probe, memory=128 << 20, client_timeout=60)
        self.assertEqual((cold.path, cold.stdout), ("cold", b"False False False\n"), cold)
        # The interpreter a warm job gets: a cold one's modules and builtins, plus what importing
        # the preloaded modules brings, nothing else.
        listing = "import builtins, sys\n%sprint(sorted(sys.modules))\nprint(sorted(dir(builtins)))\n"
        warm = pyward.run(listing % "", client_timeout=60)
        plain = pyward.run(listing % "", memory=128 << 20, client_timeout=60)
        loaded = pyward.run(listing % "import json, colorsys\n", memory=128 << 20, client_timeout=60)
        self.assertEqual([r.path for r in (warm, plain, loaded)], ["warm", "cold", "cold"])
        mods = {k: eval(r.stdout.splitlines()[0]) for k, r in (("warm", warm), ("plain", plain), ("loaded", loaded))}
        self.assertLessEqual(set(mods["plain"]), set(mods["warm"]))
        self.assertLessEqual(set(mods["warm"]), set(mods["loaded"]), set(mods["warm"]) - set(mods["loaded"]))
        self.assertEqual(warm.stdout.splitlines()[1], plain.stdout.splitlines()[1])

    def test_a_job_sees_nothing_of_the_one_before(self):
        self.fill()
        first = pyward.run(
            "import builtins, os, subprocess, sys, types\n"
            "open('/tmp/left', 'w').write('secret')\n"
            "os.environ['LEFT'] = '1'\n"
            "builtins.left = 1\n"
            "sys.modules['leftmod'] = types.ModuleType('leftmod')\n"
            "subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
            "print(os.getuid())\n", client_timeout=60)
        self.assertEqual((first.status, first.path), ("ok", "warm"), first)
        second = pyward.run(
            "import builtins, os, sys\n"
            "print(os.path.exists('/tmp/left'), 'LEFT' in os.environ, hasattr(builtins, 'left'),\n"
            "      'leftmod' in sys.modules)\n"
            "print(sorted(p for p in os.listdir('/proc') if p.isdigit() and\n"
            "      open('/proc/%s/cmdline' % p, 'rb').read().startswith(b'sleep')))\n", client_timeout=60)
        self.assertEqual((second.status, second.path), ("ok", "warm"), second)
        self.assertEqual(second.stdout, b"False False False False\n[]\n")
        # The first one's sleep went with its unit.
        self.assertTrue(wait_for(lambda: sh("pgrep", "-u", first.stdout.strip().decode(), "-x", "sleep",
                                            check=False).returncode == 1, 10))

    def start_two(self, code):
        """Two jobs of code at once in threads: (their results by index, the threads)."""
        results = {}
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, pyward.run(code, client_timeout=60)))
                   for i in range(2)]
        for t in threads:
            t.start()
        return results, threads

    def test_two_warm_jobs_at_once_have_their_own_users(self):
        self.fill()
        results, threads = self.start_two("import os, time\nprint(os.getuid())\ntime.sleep(2)\n")
        for t in threads:
            t.join(60)
        self.assertEqual({r.path for r in results.values()}, {"warm"}, results)
        uids = {int(r.stdout) for r in results.values()}
        self.assertEqual(len(uids), 2, results)
        self.assertTrue(uids <= set(job_users()), uids)

    def test_limits_hold_from_the_hand_off(self):
        self.fill()
        r = pyward.run("while True: pass\n", timeout=1, client_timeout=60)
        self.assertEqual((r.status, r.path), ("timeout", "warm"), r)
        self.assertGreaterEqual(r.wall_ms, 900, r)
        self.assertLess(r.wall_ms, 3000, r)
        self.assertTrue(wait_for(lambda: len(ready()) == 2, 20), ready())
        r = pyward.run("while True: pass\n", cpu_time=1, client_timeout=60)
        self.assertEqual((r.status, r.path), ("cpu-limit", "warm"), r)
        self.assertTrue(wait_for(lambda: len(ready()) == 2, 20), ready())
        r = pyward.run("print('x' * 100000)\n", output_max=1000, client_timeout=60)
        self.assertEqual((r.status, r.path), ("output-limit", "warm"), r)

    def test_a_configuration_change_replaces_the_pool(self):
        self.fill()
        old = set(ready())
        self.configure("WarmRunners=2\nPreloadModules=json\n")
        r = pyward.run("import sys\nprint('colorsys' in sys.modules)\n", client_timeout=60)
        # Never handed to a runner of the old configuration.
        self.assertEqual((r.status, r.path, r.stdout), ("ok", "cold", b"False\n"), r)
        self.assertTrue(wait_for(lambda: len(ready()) == 2 and not set(ready()) & old, 20), (ready(), old))
        self.assertTrue(wait_for(lambda: not {"pyward-warm-%s.service" % rid_of(n) for n in old} &
                                 set(warm_units()), 10), warm_units())
        r = pyward.run("import sys\nprint('json' in sys.modules, 'colorsys' in sys.modules)\n",
                       client_timeout=60)
        self.assertEqual((r.path, r.stdout), ("warm", b"True False\n"), r)

    def test_a_stopped_or_killed_runner_loses_no_job(self):
        self.fill()
        a, b = ("pyward-warm-%s.service" % rid_of(n) for n in ready())
        sh("systemctl", "stop", a)
        pid = sh("systemctl", "show", "-P", "MainPID", b).stdout.strip()
        sh("kill", "-9", pid)
        self.assertTrue(wait_for(lambda: b not in warm_units(), 10), warm_units())
        # Both names are stale now: the job goes cold, and the pool is whole again after it.
        r = pyward.run("print('ok')\n", client_timeout=60)
        self.assertEqual((r.status, r.stdout, r.path), ("ok", b"ok\n", "cold"), r)
        self.assertTrue(wait_for(lambda: len(ready()) == 2, 20), ready())
        self.assertEqual(pyward.run("print(1)\n", client_timeout=60).path, "warm")

    def test_a_runner_lost_after_its_claim_loses_no_job(self):
        # Stopped or killed after a helper claimed it and before it was handed the job (test
        # builds pause the helper there: WARM_PAUSE): the job runs on the cold path instead.
        self.addCleanup(lambda: os.path.exists(WARM_PAUSE) and os.unlink(WARM_PAUSE))
        for how in ("stop", "kill"):
            with self.subTest(how=how):
                self.fill()
                with open(WARM_PAUSE, "w") as f:
                    f.write("3000\n")
                since = time.time()
                results = {}
                t = threading.Thread(target=lambda: results.__setitem__(0, pyward.run(
                    "print('ok')\n", client_timeout=60)))
                t.start()
                claims = lambda: [n[len("claim."):] for n in os.listdir(SLOT_DIR)  # noqa: E731
                                  if n.startswith("claim.") and not n.startswith("claim.tmp-")]
                self.assertTrue(wait_for(lambda: len(claims()) == 1, 20), os.listdir(SLOT_DIR))
                unit = "pyward-warm-%s.service" % claims()[0]
                if how == "stop":
                    sh("systemctl", "stop", unit)
                else:
                    sh("systemctl", "kill", "--signal=KILL", unit)
                self.assertTrue(wait_for(lambda: unit not in warm_units(), 10), warm_units())
                os.unlink(WARM_PAUSE)
                t.join(60)
                r = results[0]
                self.assertEqual((r.status, r.stdout, r.path), ("ok", b"ok\n", "cold"), r)
                self.assertNotEqual(r.unit, unit)
                self.assertTrue(wait_for(lambda: "ended before it was handed the job; cold path"
                                         in journal_since(since), 10))
                self.assertTrue(wait_for(lambda: not claims(), 10), claims())

    def _warm_job_then_kill_its_helper(self, code):
        """Starts code on a warm runner from the CLI, waits for its first line, SIGKILLs its helper;
        returns the runner's unit."""
        self.fill()
        p = subprocess.Popen([CLI, "--json", "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        self.assertTrue(wait_for(lambda: len([u for u in job_units() if u.startswith("pyward-warm-")]) == 1, 20),
                        job_units())
        unit = job_units()[0]
        self.assertTrue(wait_for(lambda: sh("pgrep", "-fx", "sleep 601", check=False).returncode == 0, 20))
        helpers = [u for u in sh("systemctl", "list-units", "--plain", "--no-legend", "pyward-helper@*").stdout.split()
                   if u.startswith("pyward-helper@")]
        self.assertEqual(len(helpers), 1, helpers)
        pid = sh("systemctl", "show", "-P", "MainPID", helpers[0]).stdout.strip()
        sh("kill", "-9", pid)
        return unit

    def test_a_killed_helper_takes_its_warm_job_along(self):
        # No BindsTo= on a runner's unit: the runner sees its channel end and kills the job.
        unit = self._warm_job_then_kill_its_helper(
            "import subprocess\nsubprocess.run(['sleep', '601'])\n")
        self.assertTrue(wait_for(lambda: unit not in warm_units(), 5), warm_units())

    def test_a_job_that_stopped_its_runner_is_stopped_by_the_next_fill(self):
        # The job SIGSTOPs its runner (its own uid), so the channel's end is never read: the next
        # fill finds the claim's lock free and stops the unit.
        unit = self._warm_job_then_kill_its_helper(
            "import os, signal, subprocess\nos.kill(os.getppid(), signal.SIGSTOP)\n"
            "subprocess.run(['sleep', '601'])\n")
        time.sleep(1)
        self.assertIn(unit, warm_units())
        self.assertEqual(fill_pool().returncode, 0)
        self.assertTrue(wait_for(lambda: unit not in warm_units(), 10), warm_units())
        self.assertEqual(sh("pgrep", "-fx", "sleep 601", check=False).returncode, 1)

    def test_daemon_reload_while_warm_jobs_run(self):
        self.fill()
        results, threads = self.start_two("import time\ntime.sleep(2)\nprint('done')\n")
        self.assertTrue(wait_for(lambda: len(job_units()) == 2, 10), job_units())
        sh("systemctl", "daemon-reload")
        for t in threads:
            t.join(60)
        self.assertEqual({(r.status, r.stdout, r.path) for r in results.values()}, {("ok", b"done\n", "warm")},
                         results)
        self.assertTrue(wait_for(lambda: len(ready()) == 2, 20), ready())
        self.assertEqual(pyward.run("print(1)\n", client_timeout=60).path, "warm")

    def test_sixteen_clients_against_a_pool_of_four(self):
        self.configure("WarmRunners=4\n")
        self.dropin(DROPINS[1], "[Access]\nJobsPerUser=16\n")
        self.fill(4)
        results, errors = [], []

        def client():
            for _ in range(3):
                try:
                    results.append(pyward.run("print(6 * 7)\n", client_timeout=120))
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))

        peak = {"ready": 0, "units": 0}
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak["ready"] = max(peak["ready"], len(ready()))
                peak["units"] = max(peak["units"], len(warm_units()))
                done.wait(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertTrue(wait_for(lambda: len(ready()) == 4, 30), ready())
        done.set()
        watcher.join()
        print(f"\n    [measured] pool of 4 under the burst: at most {peak['ready']} ready, "
              f"{peak['units']} runner units (claimed ones included)")
        self.assertLessEqual(peak["ready"], 4)  # refills never start more than the pool lacks
        self.assertEqual(errors, [])
        bad = [r for r in results if (r.status, r.stdout) != ("ok", b"42\n")]
        self.assertEqual(bad, [])
        paths = [r.path for r in results]
        print(f"\n    [measured] 48 jobs, 16 clients, pool of 4: {paths.count('warm')} warm, "
              f"{paths.count('cold')} cold")
        self.assertEqual(len(results), 48)
        self.assertGreater(paths.count("warm"), 0)
        self.assertGreater(paths.count("cold"), 0)  # the pool ran empty: the cold path took over
        self.assertTrue(wait_for(lambda: len(ready()) == 4, 30), ready())

    def tearDown(self):
        # WarmRunners=0 again: a fill stops every runner.
        self.assertTrue(empty_pool([os.path.join(DROPIN_DIR, n) for n in DROPINS]), warm_units())
        left = leftovers_since(self.before, timeout=10)
        super().tearDown()
        self.assertEqual(left, {})
