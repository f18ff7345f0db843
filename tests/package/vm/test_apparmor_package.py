# SPDX-License-Identifier: LGPL-2.1-or-later
# The package's AppArmor part (issue #16), in the VM tier, where a kernel with AppArmor can load it
# (the package layer's nspawn machines cannot): on a guest without pyward, `dpkg -i` of the packages
# built by scripts/package runs debian/pyward.postinst, whose apparmor_parser loads both job profiles
# (enforce), and the next job runs confined by them. Needs PYWARD_DEBS (the .debs of this tree for
# the guest's release, e.g. from scripts/vm --bind build-deb:/debs) and no staged install; skipped
# without PYWARD_DEBS. Self-contained: pwlib imports the client, which only the packages install.
import json
import os
import shutil
import subprocess
import sys
import unittest

DEBS = os.environ.get("PYWARD_DEBS", "").split()
SECURITYFS = "/sys/kernel/security/apparmor"
HELPER = "/usr/libexec/pyward-helper"
PACKAGES = ("pyward", "python3-pyward")
DROPIN = "/etc/pyward/pyward.conf.d/50-pwtest-apparmor-package.conf"
ATTR = "print(open('/proc/self/attr/current').read().strip())"


def sh(*argv, check=True, timeout=300):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}: {p.stdout}{p.stderr}")
    return p


def job_profiles():
    """The kernel's list, only pyward's lines ("NAME (MODE)")."""
    with open(os.path.join(SECURITYFS, "profiles")) as f:
        return sorted(line.strip() for line in f if line.startswith("pyward-"))


class VmAppArmorPackageTests(unittest.TestCase):
    # setUp, not setUpClass: tests/integration/run counts a class skipped in setUpClass as skipped
    # but not as run, so its summary would show one test fewer passed than did pass.
    def setUp(self):
        if not DEBS:
            raise unittest.SkipTest("no packages to install (PYWARD_DEBS is empty)")
        missing = [d for d in DEBS if not os.path.isfile(d)]
        if missing:
            raise AssertionError(f"PYWARD_DEBS names files that are not there: {missing}")
        if not os.path.isdir(SECURITYFS):
            raise AssertionError(f"no {SECURITYFS}: this guest's kernel has no AppArmor")
        if not shutil.which("apparmor_parser"):
            raise AssertionError("no apparmor_parser in the guest: postinst could not load the profile "
                                 "(scripts/vm's image has the apparmor package)")
        if os.path.exists(HELPER):
            raise AssertionError("pyward is installed already: this guest must start without it")

    def tearDown(self):
        if os.path.exists(DROPIN):
            os.unlink(DROPIN)

    def job(self, *args):
        # TCG is slow: a minute (the profile's maximum) where the default is 10 s of CPU.
        p = sh("pyward", "--json", "--timeout=60", "--cpu-time=60", *args, "-c", ATTR, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        d = json.loads(p.stdout)
        self.assertEqual((d["status"], d["exit_code"]), ("ok", 0), d)
        return d["stdout"].strip()

    def test_dpkg_i_loads_the_profiles(self):
        self.assertEqual(job_profiles(), [], "loaded before the package was installed")
        p = sh("dpkg", "-i", *DEBS)
        out = p.stdout + p.stderr
        self.assertNotIn("could not load the AppArmor profile", out, out)
        version = sh("apparmor_parser", "--version").stdout.splitlines()[0]
        print(f"\n    [measured] kernel {os.uname().release}, {version}; after dpkg -i: {job_profiles()}",
              file=sys.stderr)
        self.assertEqual(job_profiles(), ["pyward-job (enforce)", "pyward-job-loopback (enforce)"])
        caches = sh("sh", "-c", "ls -d /var/cache/apparmor/*/pyward-job /etc/apparmor.d/cache/pyward-job "
                    "2>/dev/null", check=False).stdout.split()
        print(f"    [measured] cache written by postinst: {caches}", file=sys.stderr)
        self.assertTrue(caches, "postinst's --write-cache wrote no cache file")

        # The helper started after the load sees them: the next job runs confined, and one with the
        # loopback network under the other profile.
        self.assertEqual(self.job(), "pyward-job (enforce)")
        os.makedirs(os.path.dirname(DROPIN), exist_ok=True)
        with open(DROPIN, "w") as f:
            f.write('[Profile "pwtest-loopback"]\nNetwork=loopback\n')
        self.assertEqual(self.job("--profile", "pwtest-loopback"), "pyward-job-loopback (enforce)")
        mac = sh("journalctl", "--no-pager", "-o", "export", "PYWARD_STATUS=ok").stdout
        layers = sorted({line.split("=", 1)[1] for line in mac.splitlines() if line.startswith("PYWARD_MAC=")})
        print(f"    [measured] PYWARD_MAC of the jobs: {layers}", file=sys.stderr)
        self.assertTrue(layers and all(f.endswith("apparmor") for f in layers), layers)

        # Installing again (dpkg -i of the same version: postinst configure again) replaces the
        # loaded profiles, still enforced; jobs keep running confined.
        p = sh("dpkg", "-i", *DEBS)
        self.assertNotIn("could not load the AppArmor profile", p.stdout + p.stderr)
        self.assertEqual(job_profiles(), ["pyward-job (enforce)", "pyward-job-loopback (enforce)"])
        self.assertEqual(self.job(), "pyward-job (enforce)")

        # Removal unloads the profiles (prerm) and purge removes the parser's cache (postrm): nothing
        # of the AppArmor part is left.
        os.unlink(DROPIN)
        sh("dpkg", "--purge", *PACKAGES)
        left = sh("sh", "-c", "ls -d /var/cache/apparmor/*/pyward-job* /etc/apparmor.d/pyward-job 2>/dev/null",
                  check=False).stdout.split()
        print(f"    [measured] after dpkg --purge: loaded {job_profiles()}, files {left}", file=sys.stderr)
        self.assertEqual(job_profiles(), [], "the profiles stay loaded after the package is gone")
        self.assertEqual(left, [], "files of the AppArmor part left after purge")


if __name__ == "__main__":
    unittest.main()
