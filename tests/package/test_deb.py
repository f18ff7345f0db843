# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package in a fresh machine (no staged tree): dpkg -i alone must leave a working pyward
# (users, runtime directory, socket enabled and listening); removal stops and removes everything of
# the package, purge too, and it installs again; an upgrade lets a running job finish. Run by tests/integration/run --dir, as root, with
# PYWARD_DEB naming the .deb.
import glob
import json
import os
import subprocess
import threading
import time
import unittest

DEB = os.environ.get("PYWARD_DEB", "")
DEB_NEXT = os.environ.get("PYWARD_DEB_NEXT", "")  # the same tree as a later version
SOCKET = "/run/pyward/pyward.sock"
HELPER = "/usr/libexec/pyward-helper"


def sh(*argv, check=True, timeout=120):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}: {p.stdout}{p.stderr}")
    return p


def unit_state(unit):
    return sh("systemctl", "show", "-P", "ActiveState", unit, check=False).stdout.strip()


class DebTests(unittest.TestCase):
    """In order (the names sort so): install, use, remove, purge, install again, upgrade."""

    @classmethod
    def setUpClass(cls):
        if not DEB or not os.path.isfile(DEB):
            raise unittest.SkipTest(f"no package to test (PYWARD_DEB={DEB!r})")
        if os.path.exists(HELPER):
            raise AssertionError("pyward is installed already: this machine must start without it")

    def assert_works(self):
        p = sh("pyward", "--json", "-c", "import os; print(6 * 7, os.getuid() != 0)")
        d = json.loads(p.stdout)
        self.assertEqual((d["status"], d["exit_code"], d["stdout"]), ("ok", 0, "42 True\n"), d)

    def test_a_install(self):
        p = sh("dpkg", "-i", DEB)
        self.assertNotIn("warning", p.stdout + p.stderr, p.stdout + p.stderr)
        self.assertEqual(unit_state("pyward.socket"), "active")
        self.assertEqual(sh("systemctl", "is-enabled", "pyward.socket", check=False).stdout.strip(), "enabled")
        sh("getent", "group", "pyward")
        sh("getent", "passwd", "pyward-job0")
        sh("getent", "passwd", "pyward-job127")
        self.assertTrue(os.path.isdir("/run/pyward/slots"), "tmpfiles.d did not run")
        p = sh(HELPER, "--check-config")
        self.assertIn("Configuration OK", p.stdout)
        for page in ("man1/pyward.1", "man5/pyward.conf.5", "man7/pyward-protocol.7", "man8/pyward-helper.8"):
            self.assertTrue(glob.glob(f"/usr/share/man/{page}*"), page)
        self.assertTrue(glob.glob("/usr/share/doc/pyward/examples/*.conf"))

    def test_b_jobs_run(self):
        self.assert_works()
        sh("python3", "-c", "import pyward; r = pyward.run('print(1)'); assert r.status == 'ok', r")
        # The release build has no test-only hooks: the debug profile is just an unknown one.
        p = sh("pyward", "--profile", "__pyward_debug_forbidden_syscall", "-c", "pass", check=False)
        self.assertEqual(p.returncode, 125, p.stderr)
        self.assertIn('unknown profile "__pyward_debug_forbidden_syscall"', p.stderr)

    def test_c_remove(self):
        sh("dpkg", "-r", "pyward")
        self.assertIn(unit_state("pyward.socket"), ("inactive", ""))
        self.assertFalse(os.path.exists(SOCKET), "the socket outlived the package")
        self.assertFalse(os.path.exists(HELPER))
        units = sh("systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward*.service",
                   "pyward*.socket").stdout
        self.assertEqual([u for u in units.splitlines() if "not-found" not in u], [], units)
        # The slice jobs ran in stays (a running job would be stopped with it), but empty.
        # (/sys/fs/cgroup/pyward.slice on the unified hierarchy, .../systemd/pyward.slice on hybrid.)
        cgroups = glob.glob("/sys/fs/cgroup/pyward.slice") + glob.glob("/sys/fs/cgroup/*/pyward.slice")
        self.assertTrue(cgroups, "no cgroup of pyward.slice found: the check below would be empty")
        procs = [pid for c in cgroups for d, _, fs in os.walk(c) if "cgroup.procs" in fs
                 for pid in open(os.path.join(d, "cgroup.procs")).read().split()]
        self.assertEqual(procs, [], "processes left in pyward.slice")

    def test_d_purge_and_reinstall(self):
        sh("dpkg", "-P", "pyward")
        self.assertEqual(sh("dpkg-query", "-W", "pyward", check=False).returncode, 1)
        sh("dpkg", "-i", DEB)
        self.assertEqual(unit_state("pyward.socket"), "active")
        self.assert_works()

    def test_e_upgrade_keeps_running_jobs(self):
        """dpkg -i of a later version while a job runs: the job finishes with its result, the
        socket is active again and the next job runs."""
        if not DEB_NEXT or not os.path.isfile(DEB_NEXT):
            self.skipTest(f"no later package to upgrade to (PYWARD_DEB_NEXT={DEB_NEXT!r})")
        before = sh("dpkg-query", "-W", "-f=${Version}", "pyward").stdout
        out = {}
        job = threading.Thread(target=lambda: out.update(p=sh(
            "pyward", "--json", "-c", "import time; print('up', flush=True); time.sleep(4); print('done')")))
        job.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not sh("systemctl", "list-units", "--plain", "--no-legend",
                                                     "pyward-job-*").stdout.strip():
            time.sleep(0.1)
        sh("dpkg", "-i", DEB_NEXT)
        job.join(60)
        after = sh("dpkg-query", "-W", "-f=${Version}", "pyward").stdout
        self.assertNotEqual(before, after)
        d = json.loads(out["p"].stdout)
        self.assertEqual((d["status"], d["stdout"]), ("ok", "up\ndone\n"), d)
        self.assertEqual(unit_state("pyward.socket"), "active")
        self.assert_works()


if __name__ == "__main__":
    unittest.main()
