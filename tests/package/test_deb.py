# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian packages in a fresh machine of the release they were built for (no staged tree): dpkg -i
# alone must leave a working pyward; remove and purge leave nothing of it; it installs again; upgrades
# from an older commit's package and to a later version keep the socket listening and running jobs.
# Run by tests/integration/run --dir, as root. PYWARD_DEBS names the packages of this tree (pyward,
# python3-pyward), PYWARD_DEBS_OLD those of an older commit, PYWARD_DEBS_NEXT this tree as a later
# version (each a space-separated list of paths).
import glob
import json
import os
import subprocess
import threading
import time
import unittest

DEBS = os.environ.get("PYWARD_DEBS", "").split()
DEBS_OLD = os.environ.get("PYWARD_DEBS_OLD", "").split()
DEBS_NEXT = os.environ.get("PYWARD_DEBS_NEXT", "").split()
SOCKET = "/run/pyward/pyward.sock"
HELPER = "/usr/libexec/pyward-helper"
SPARE = "pyward-helper-spare@1.service"
MODULE = "/usr/lib/python3/dist-packages/pyward/__init__.py"
CONF = "/etc/pyward/pyward.conf"
PACKAGES = ("pyward", "python3-pyward")


def sh(*argv, check=True, timeout=120):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}: {p.stdout}{p.stderr}")
    return p


def unit_state(unit):
    return sh("systemctl", "show", "-P", "ActiveState", unit, check=False).stdout.strip()


def job_units_running():
    out = sh("systemctl", "list-units", "--plain", "--no-legend", "--state=active", "pyward-job-*").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def installed(pkg):
    p = sh("dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", pkg, check=False)
    return p.stdout.split()[1] if p.returncode == 0 and p.stdout.startswith("installed ") else None


def leftovers():
    """Every path of the file system that names pyward, but the test's own binds and the kernel's."""
    found = []
    for top in ("/etc", "/usr", "/var", "/run"):
        for d, dirs, files in os.walk(top):
            found += [os.path.join(d, n) for n in dirs + files if "pyward" in n]
    return sorted(found)


def helper_processes():
    """The command lines of the running processes of pyward-helper (a spare's, say)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"/pyward-helper"):
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


class DebTests(unittest.TestCase):
    """In order (the names sort so): install, use, remove, purge and install again, then the upgrade
    from the older commit's package, then the upgrade to a later version."""

    @classmethod
    def setUpClass(cls):
        if not DEBS or not all(os.path.isfile(d) for d in DEBS):
            raise unittest.SkipTest(f"no packages to test (PYWARD_DEBS={DEBS!r})")
        if os.path.exists(HELPER):
            raise AssertionError("pyward is installed already: this machine must start without it")
        cls.before = leftovers()

    def assert_works(self):
        p = sh("pyward", "--json", "-c", "import os; print(6 * 7, os.getuid() != 0)")
        d = json.loads(p.stdout)
        self.assertEqual((d["status"], d["exit_code"], d["stdout"]), ("ok", 0, "42 True\n"), d)

    def dpkg_install(self, debs):
        p = sh("dpkg", "-i", *debs)
        self.assertNotIn("warning", p.stdout + p.stderr, p.stdout + p.stderr)

    def test_a_install(self):
        self.dpkg_install(DEBS)
        self.assertEqual(unit_state("pyward.socket"), "active")
        self.assertEqual(sh("systemctl", "is-enabled", "pyward.socket", check=False).stdout.strip(), "enabled")
        sh("getent", "group", "pyward")
        sh("getent", "passwd", "pyward-job0")
        sh("getent", "passwd", "pyward-job127")
        self.assertTrue(os.path.isdir("/run/pyward/slots"), "tmpfiles.d did not run")
        p = sh(HELPER, "--check-config")
        self.assertIn("Configuration OK", p.stdout)
        # The generator is shipped, and daemon-reload in postinst ran it: on this kernel (the
        # host's, Landlock ABI >= 6) the helpers do without their namespaces.
        self.assertIn("/system-generators/pyward-helper-generator", sh("dpkg", "-L", "pyward").stdout)
        self.assertIn("Helpers: Landlock ABI", p.stdout)
        for page in ("man1/pyward.1", "man5/pyward.conf.5", "man7/pyward-protocol.7", "man8/pyward-helper.8"):
            self.assertTrue(glob.glob(f"/usr/share/man/{page}*"), page)
        self.assertTrue(glob.glob("/usr/share/doc/pyward/examples/*.conf"))
        # Policy: what lives in /etc is a conffile; the module is python3-pyward's.
        self.assertIn(CONF, sh("dpkg-query", "-W", "-f=${Conffiles}", "pyward").stdout)
        self.assertTrue(os.path.isdir("/etc/pyward/pyward.conf.d"))
        self.assertEqual(sh("dpkg", "-S", MODULE).stdout.split(":")[0], "python3-pyward")
        # The units are where this release's systemd looks (its systemd.pc, at build time).
        fragment = sh("systemctl", "show", "-P", "FragmentPath", "pyward.socket").stdout.strip()
        self.assertIn(fragment, sh("dpkg", "-L", "pyward").stdout.split("\n"))

    def test_b_jobs_run(self):
        self.assert_works()
        sh("python3", "-c", "import pyward; r = pyward.run('print(1)'); assert r.status == 'ok', r")
        # The release build has no test-only hooks: the debug profile is just an unknown one.
        p = sh("pyward", "--profile", "__pyward_debug_forbidden_syscall", "-c", "pass", check=False)
        self.assertEqual(p.returncode, 125, p.stderr)
        self.assertIn('unknown profile "__pyward_debug_forbidden_syscall"', p.stderr)
        # A spare helper, as the admin enables one (pyward-door(8)): it serves the next job, and
        # stays enabled for the removal and the purge below, which must take it away too.
        sh("systemctl", "enable", "--now", SPARE)
        self.assertEqual(unit_state(SPARE), "active")
        self.assert_works()
        deadline = time.monotonic() + 30
        while sh("systemctl", "show", "-P", "NRestarts", SPARE).stdout.strip() == "0":
            self.assertLess(time.monotonic(), deadline, "the spare helper served no job")
            time.sleep(0.1)

    def start_long_job(self, seconds):
        """Starts pyward --json with a job of `seconds`; returns (thread, out) once its unit runs.
        Never returns without the unit running: a wait that ran out would prove nothing."""
        out = {}
        job = threading.Thread(target=lambda: out.update(p=sh(
            "pyward", "--json", "-c", f"import time; print('up', flush=True); time.sleep({seconds}); print('done')",
            check=False)))
        job.start()
        deadline = time.monotonic() + 30
        while not job_units_running():
            if time.monotonic() > deadline or not job.is_alive():
                job.join(60)
                self.fail(f"the long job's unit never ran (pyward: {out.get('p')})")
            time.sleep(0.1)
        return job, out

    def test_c_remove(self):
        # README: removal stops the socket; running jobs finish. One runs while dpkg -r does.
        job, out = self.start_long_job(6)
        sh("dpkg", "-r", *PACKAGES)
        self.assertTrue(job.is_alive(), "the job ended before dpkg -r returned: nothing was proven")
        self.assertIn(unit_state("pyward.socket"), ("inactive", ""))
        self.assertFalse(os.path.exists(SOCKET), "the socket outlived the package")
        job.join(60)
        d = json.loads(out["p"].stdout)
        self.assertEqual((d["status"], d["stdout"]), ("ok", "up\ndone\n"), d)
        self.assertIn(unit_state("pyward.socket"), ("inactive", ""))
        self.assertFalse(os.path.exists(SOCKET), "the socket outlived the package")
        self.assertFalse(os.path.exists(HELPER))
        # (The long job's helper exits just after its result: a moment is allowed for that.)
        deadline = time.monotonic() + 10
        while helper_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(helper_processes(), [], "a helper (the spare) outlived the package")
        self.assertFalse(glob.glob("/usr/lib/python3/dist-packages/*pyward*")
                         + glob.glob("/usr/lib/python3/dist-packages/__pycache__/pyward*"))
        self.assertTrue(os.path.isfile(CONF), "removal (not purge) must keep the conffile")
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
        sh("dpkg", "-P", *PACKAGES)
        for pkg in PACKAGES:
            self.assertEqual(sh("dpkg-query", "-W", pkg, check=False).returncode, 1, pkg)
        # Nothing of the package is left: no file, no unit symlink, no dpkg state, no runtime
        # directory. (The job users and the group stay, as Debian keeps system users.)
        self.assertEqual([p for p in leftovers() if p not in self.before], [])
        self.dpkg_install(DEBS)
        self.assertEqual(unit_state("pyward.socket"), "active")
        self.assert_works()

    def upgrade_with_job_running(self, debs):
        """dpkg -i DEBS while a 4 s job runs and short jobs keep coming: the long job finishes with
        its result, every short job runs (the socket listened throughout, never restarted) and
        the next job runs. Returns the version (of pyward) before and after."""
        before = installed("pyward")
        since = sh("systemctl", "show", "-P", "ActiveEnterTimestampMonotonic", "pyward.socket").stdout
        short = []
        stop = threading.Event()
        job, out = self.start_long_job(4)

        def keep_submitting():
            while not stop.is_set():
                short.append(sh("pyward", "-c", "print('short')", check=False))
        submitter = threading.Thread(target=keep_submitting)
        submitter.start()
        try:
            # The job must still run when dpkg starts, or the upgrade proved nothing about it.
            self.assertTrue(job.is_alive(), "the long job ended before the upgrade began")
            self.dpkg_install(debs)
        finally:
            stop.set()
            submitter.join(60)
            job.join(60)
        d = json.loads(out["p"].stdout)
        self.assertEqual((d["status"], d["stdout"]), ("ok", "up\ndone\n"), d)
        self.assertTrue(short, "no short job was submitted during the upgrade")
        failed = [(p.returncode, p.stderr) for p in short if (p.returncode, p.stdout) != (0, "short\n")]
        self.assertEqual(failed, [], f"{len(failed)} of {len(short)} jobs during the upgrade failed")
        self.assertEqual(unit_state("pyward.socket"), "active")
        self.assertEqual(sh("systemctl", "show", "-P", "ActiveEnterTimestampMonotonic", "pyward.socket").stdout,
                         since, "the upgrade restarted pyward.socket")
        self.assert_works()
        sh("python3", "-c", "import pyward; r = pyward.run('print(1)'); assert r.status == 'ok', r")
        return before, installed("pyward")

    def test_e_upgrade_from_old_commit(self):
        """From the package of an older commit (its own units and maintainer scripts)."""
        if not DEBS_OLD or not all(os.path.isfile(d) for d in DEBS_OLD):
            self.skipTest(f"no older package (PYWARD_DEBS_OLD={DEBS_OLD!r})")
        sh("dpkg", "-P", *PACKAGES)
        self.dpkg_install(DEBS_OLD)
        old = installed("pyward")
        self.assertEqual(unit_state("pyward.socket"), "active")
        self.assert_works()
        before, after = self.upgrade_with_job_running(DEBS)
        self.assertEqual(before, old)
        self.assertEqual(after, installed("python3-pyward"))
        self.assertEqual(sh("dpkg", "--compare-versions", after, "gt", before, check=False).returncode, 0,
                         f"{before} -> {after}")
        # The module moved from pyward (old) to python3-pyward without a conflict.
        self.assertEqual(sh("dpkg", "-S", MODULE).stdout.split(":")[0], "python3-pyward")
        self.assertIn(CONF, sh("dpkg-query", "-W", "-f=${Conffiles}", "pyward").stdout)

    def test_f_upgrade_to_later_version(self):
        """From this tree's package to the same tree as a later version (this package's own
        maintainer scripts on upgrade)."""
        if not DEBS_NEXT or not all(os.path.isfile(d) for d in DEBS_NEXT):
            self.skipTest(f"no later package (PYWARD_DEBS_NEXT={DEBS_NEXT!r})")
        if installed("pyward") is None:
            self.dpkg_install(DEBS)
        before, after = self.upgrade_with_job_running(DEBS_NEXT)
        self.assertEqual(sh("dpkg", "--compare-versions", after, "gt", before, check=False).returncode, 0,
                         f"{before} -> {after}")


if __name__ == "__main__":
    unittest.main()
