# SPDX-License-Identifier: LGPL-2.1-or-later
# Discovery (DISCOVER; pyward --list-profiles, pyward.profiles()) against the installed helper and
# real systemd: an ordinary member of group pyward sees the profiles it may use, each with its
# Python and packages from a sandboxed run of its interpreter, and nothing of the others; the
# answer comes from /run/pyward/discovery while the interpreter is unchanged, and a change to the
# venv's site-packages is discovered again. Run as root inside a test machine.
import json
import os
import shutil
import subprocess
import time

from pwlib import CLI, PywardTestCase, TempUser, journal_since, note, pyward, sh, wait_for

VENV = "/opt/pyward-numpy"
ETC_D = "/etc/pyward/pyward.conf.d"
CACHE = "/run/pyward/discovery"
PROFILES = ("default", "numpy", "pwtest-secret")

# pyward.profiles() as the calling user: [name, python, numpy's version or None, packages] each.
PROFILES_CLIENT = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import pyward
print(json.dumps([[p.name, p.python, p.packages.get("numpy"), len(p.packages), p.note]
                  for p in pyward.profiles()]))
'''


def module_dir():
    d = os.path.dirname(pyward.__file__)
    return os.path.dirname(d) if pyward.__file__.endswith("__init__.py") else d


def machine_python():
    """What python3 -c 'import sys;print(sys.version)' prints, up to its first space: "3.11.2"."""
    return sh("python3", "-c", "import sys;print(sys.version)").stdout.split()[0]


def machine_numpy():
    return sh("python3", "-c", "import numpy;print(numpy.__version__)").stdout.strip()


def started_jobs(since, uid):
    """The helper's "started" records of jobs for uid since then: one per unit it started."""
    return [line for line in journal_since(since, "PYWARD_STATUS=started", f"PYWARD_UID={uid}").splitlines()
            if line.strip()]


def job_unit_entries(since):
    """Anything the journal holds about a pyward-job-* unit since then (the manager's messages)."""
    return [line for line in journal_since(since, "-u", "pyward-job-*").splitlines() if line.strip()]


def remove_cache():
    for name in PROFILES:
        try:
            os.unlink(f"{CACHE}/{name}.info")
        except FileNotFoundError:
            pass


SESSION_LIMITS = ("session-wall-time", "session-cpu-time", "session-idle-time", "session-cells", "cell-grace")


class DiscoverTest(PywardTestCase):
    def setUp(self):
        super().setUp()
        shutil.rmtree(VENV, ignore_errors=True)
        p = subprocess.run(["python3", "-m", "venv", "--system-site-packages", "--without-pip", VENV],
                           capture_output=True, text=True)
        self.addCleanup(shutil.rmtree, VENV, True)
        self.assertEqual(p.returncode, 0, f"cannot create the venv {VENV}: {p.stderr.strip()}")
        self.site = sh(f"{VENV}/bin/python3", "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"
                       ).stdout.strip()
        self.assertTrue(self.site.startswith(VENV + "/") and os.path.isdir(self.site), self.site)
        # The other user: the only one allowed the third profile; the test's client is not it.
        self.other = TempUser("pwdiscother", groups=["pyward"])
        self.other.__enter__()
        self.addCleanup(self.other.__exit__, None, None, None)
        # /opt is hidden from jobs; an interpreter outside the OS brings its own tree (the venv)
        # back into view read-only by itself (unit-props.c), so the profile needs nothing more.
        self.write(f"{ETC_D}/50-numpy.conf", f'[Profile "numpy"]\nInterpreter={VENV}/bin/python3\n')
        self.write(f"{ETC_D}/50-pwtest-secret.conf",
                   '[Profile "pwtest-secret"]\nAllowUsers=pwdiscother\nInterpreter=/usr/bin/python3\n')
        remove_cache()
        self.addCleanup(remove_cache)
        self.client = TempUser("pwdisc", groups=["pyward"])
        self.client.__enter__()
        self.addCleanup(self.client.__exit__, None, None, None)

    def write(self, path, text):
        self.assertFalse(os.path.lexists(path), f"{path} exists already")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)

    def list_profiles(self, *args):
        """pyward --list-profiles [ARGS] as the client: (CompletedProcess, seconds)."""
        t = time.monotonic()
        p = self.client.run([CLI, "--list-profiles", *args], timeout=180)
        return p, time.monotonic() - t

    def list_json(self):
        p, secs = self.list_profiles("--json")
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
        doc = json.loads(p.stdout)
        self.assertEqual(doc["status"], "ok", doc)
        return {x["name"]: x for x in doc["profiles"]}, [x["name"] for x in doc["profiles"]], p, secs

    def assertProfiles(self, profiles, order):
        python, numpy = machine_python(), machine_numpy()
        # The configuration's order; the restricted profile is not there, not even by name.
        self.assertEqual(order, ["default", "numpy"])
        for name in ("default", "numpy"):
            self.assertEqual(profiles[name]["python"], python, profiles[name])
            self.assertIsNone(profiles[name]["note"], profiles[name])
        self.assertEqual(profiles["numpy"]["packages"].get("numpy"), numpy, profiles["numpy"]["packages"])
        self.assertEqual(profiles["numpy"]["interpreter"], f"{VENV}/bin/python3")
        self.assertEqual(profiles["numpy"]["network"], "none")
        # Every limit, with the profile's default and maximum (pyward.conf(5)'s built-ins).
        self.assertEqual(len(profiles["default"]["limits"]), 19, profiles["default"]["limits"])
        self.assertEqual(profiles["default"]["limits"]["files-out-depth"], {"default": 16, "max": 16})
        # The session limits (15..19, issue #15): each cell's wall and CPU time are wall-time and
        # cpu-time; these bound the whole session.
        us = 1000000
        self.assertEqual({k: profiles["default"]["limits"].get(k) for k in SESSION_LIMITS},
                         {"session-wall-time": {"default": 3600 * us, "max": 24 * 3600 * us},
                          "session-cpu-time": {"default": 600 * us, "max": 3600 * us},
                          "session-idle-time": {"default": 300 * us, "max": 3600 * us},
                          "session-cells": {"default": 10000, "max": 100000},
                          "cell-grace": {"default": 2 * us, "max": 30 * us}})

    def test_list_profiles_then_from_the_cache(self):
        uid = self.client.uid
        t0 = time.time()
        profiles, order, first, t_first = self.list_json()
        self.assertProfiles(profiles, order)
        self.assertNotIn("pwtest-secret", first.stdout.decode() + first.stderr.decode())
        # Each profile had its discovery run, one unit each, sandboxed as any job.
        started = started_jobs(t0, uid)
        self.assertEqual(len(started), 2, started)
        self.assertTrue(any("(profile default)" in s for s in started) and
                        any("(profile numpy)" in s for s in started), started)
        self.assertTrue(job_unit_entries(t0), "no journal entry of the discovery units at all")
        log = journal_since(t0, "-u", "pyward-helper@*")
        python = machine_python()
        for name in ("default", "numpy"):
            self.assertIn(f"Discovered profile {name}: python {python}, ", log)
        self.assertNotIn("pwtest-secret", log)

        # The cache: root-only, one file per discovered profile.
        st = os.stat(CACHE)
        self.assertEqual((st.st_uid, st.st_mode & 0o7777), (0, 0o700))
        self.assertEqual(sorted(f for f in os.listdir(CACHE) if f.split(".info")[0] in PROFILES),
                         ["default.info", "numpy.info"])
        self.assertEqual(os.stat(f"{CACHE}/numpy.info").st_mode & 0o7777, 0o600)

        # The second call: the same answer (text this time), and no unit at all.
        t1 = time.time()
        second, t_second = self.list_profiles()
        self.assertEqual(second.returncode, 0, (second.stdout, second.stderr))
        text = second.stdout.decode()
        self.assertIn("profile default\n", text)
        self.assertIn("profile numpy\n", text)
        self.assertIn(f"python            {python}\n", text)
        self.assertIn(f"    numpy {machine_numpy()}\n", text)
        self.assertNotIn("pwtest-secret", text)
        self.assertEqual(started_jobs(t1, uid), [])
        self.assertEqual(job_unit_entries(t1), [])
        note(f"--list-profiles: {t_first * 1000:.0f} ms with 2 discovery runs, "
             f"{t_second * 1000:.0f} ms from the cache")
        self.assertLess(t_second, t_first, "the cached answer is not faster than discovering")

    def test_venv_change_is_discovered_again(self):
        uid = self.client.uid
        self.list_json()
        # A new distribution in the venv's site-packages: its mtime changes.
        dist = os.path.join(self.site, "pwtest_pkg-1.0.dist-info")
        os.mkdir(dist)
        with open(os.path.join(dist, "METADATA"), "w") as f:
            f.write("Metadata-Version: 2.1\nName: pwtest-pkg\nVersion: 1.0\n")
        t1 = time.time()
        profiles, order, _, _ = self.list_json()
        self.assertProfiles(profiles, order)
        self.assertEqual(profiles["numpy"]["packages"].get("pwtest-pkg"), "1.0", profiles["numpy"]["packages"])
        self.assertNotIn("pwtest-pkg", profiles["default"]["packages"])
        # Only numpy ran again: default's interpreter and site directories did not change.
        started = started_jobs(t1, uid)
        self.assertEqual(len(started), 1, started)
        self.assertIn("(profile numpy)", started[0])

        # Removing it is a change too (and the cache's old entry does not come back).
        shutil.rmtree(dist)
        t2 = time.time()
        profiles, _, _, _ = self.list_json()
        self.assertNotIn("pwtest-pkg", profiles["numpy"]["packages"])
        self.assertEqual(len(started_jobs(t2, uid)), 1)

    def test_python_client_profiles(self):
        p = self.client.run(["python3", "-c", PROFILES_CLIENT, module_dir()], timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        got = json.loads(p.stdout)
        python = machine_python()
        self.assertEqual([g[0] for g in got], ["default", "numpy"], got)
        self.assertEqual([g[1] for g in got], [python, python], got)
        self.assertEqual(got[1][2], machine_numpy(), got)
        self.assertTrue(all(g[3] > 0 for g in got), got)
        # The user it is allowed to sees the restricted profile too, in the configuration's order:
        # it is hidden from the client, not missing.
        q = self.other.run(["python3", "-c", PROFILES_CLIENT, module_dir()], timeout=180)
        self.assertEqual(q.returncode, 0, q.stderr.decode())
        got = json.loads(q.stdout)
        self.assertEqual([g[0] for g in got], ["default", "numpy", "pwtest-secret"], got)
        self.assertEqual(got[2][1], python, got)

    def test_discovery_takes_a_job_slot(self):
        """A discovery run is a job of the client's: with its only slot taken by a running job the
        profile is listed without python and packages, the note says why, and nothing runs; once
        the job is over, the next call discovers it."""
        self.write(f"{ETC_D}/50-pwtest-one-job.conf", "[Access]\nJobsPerUser=1\n")
        job = self.client.run([CLI, "-q", "-n", "-c", "import time; time.sleep(8)"], wait=False)
        self.addCleanup(job.kill)
        self.assertTrue(wait_for(lambda: started_jobs(self.t0, self.client.uid), 20), "the job did not start")
        t1 = time.time()
        profiles, order, _, _ = self.list_json()
        self.assertEqual(order, ["default", "numpy"])
        for name in order:
            self.assertIsNone(profiles[name]["python"], profiles[name])
            self.assertEqual(profiles[name]["packages"], {}, profiles[name])
            self.assertIn("JobsPerUser=", profiles[name]["note"] or "", profiles[name])
        self.assertEqual(started_jobs(t1, self.client.uid), [])
        cached = [f for f in (os.listdir(CACHE) if os.path.isdir(CACHE) else []) if f.split(".info")[0] in PROFILES]
        self.assertEqual(cached, [], "nothing may be cached")
        self.assertEqual(job.wait(timeout=60), 0)
        profiles, order, _, _ = self.list_json()
        self.assertProfiles(profiles, order)

    def test_corrupt_cache_file_is_refreshed(self):
        self.list_json()
        with open(f"{CACHE}/numpy.info", "wb") as f:
            f.write(b"pyward-discovery 1\ninterpreter=/x\n\npython=9.9.9\npackage=evil 6.6.6\n")
        t1 = time.time()
        profiles, order, _, _ = self.list_json()
        self.assertProfiles(profiles, order)
        self.assertNotIn("evil", profiles["numpy"]["packages"])
        self.assertEqual(len(started_jobs(t1, self.client.uid)), 1)
