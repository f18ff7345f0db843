# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier for AppArmor (issue #16), whose kernel has it: without the pyward-job profiles jobs
# run unconfined and the helper says so; once loaded, a job runs as "pyward-job (enforce)", works as
# before, and what the profile denies (with the systemd settings and Landlock off, a test build's
# debug profile) is denied by AppArmor alone and shows in the kernel's audit log. The profiles are
# compiled in the guest by its own apparmor_parser (scripts/vm puts the apparmor package in the
# image) for its own kernel, as the package's postinst does; without it, the policy compiled at build
# time is loaded through securityfs instead. Unloaded at the end: later tests start without them.
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pwlib import PywardTestCase, journal_since, sh  # noqa: E402

SECURITYFS = "/sys/kernel/security/apparmor"
SOURCE = "/etc/apparmor.d/pyward-job"
PARSER = shutil.which("apparmor_parser")
# units/apparmor/meson.build: the profiles compiled at build time, for a guest without apparmor_parser.
COMPILED = "/usr/lib/pyward/debug/pyward-job.aa"
JOB_PROFILES = ("pyward-job", "pyward-job-loopback")
DROPIN_DIR = "/etc/pyward/pyward.conf.d"
NEITHER = "__pyward_debug_mac_neither"  # mac.h: the systemd settings' holes, Landlock off
RW_PATH = "/usr/lib/pyward-mac-test"
HIDDEN_PATH = "/srv/pyward-mac-test"
EACCES = 13

ATTR = "print(open('/proc/self/attr/current').read().strip())\n"
WORK = ("import json, os, subprocess, tempfile, shutil, pty, socket\n"
        "d = tempfile.mkdtemp()\nopen(d + '/a', 'w').write('x')\nos.rename(d + '/a', d + '/b')\n"
        "s = socket.socket(socket.AF_UNIX)\ns.bind(d + '/sock')\nm, sl = pty.openpty()\n"
        "out = subprocess.run(['sh', '-c', 'echo hi'], capture_output=True).stdout.decode()\n"
        "open('/dev/null', 'w').write('x')\nshutil.rmtree(d)\n"
        "print(json.dumps({'sh': out, 'meminfo': len(os.listdir('/proc/self/fd')) > 0}))\n")
PROBE = (f"import json\nres = {{}}\n"
         f"try:\n    open('{RW_PATH}/written', 'w').write('x')\n    res['write'] = 0\n"
         f"except OSError as e:\n    res['write'] = e.errno\n"
         f"try:\n    res['read'] = open('{HIDDEN_PATH}/secret').read()\n"
         f"except OSError as e:\n    res['read'] = e.errno\n"
         f"print(json.dumps(res))\n")


def loaded_profiles():
    with open(os.path.join(SECURITYFS, "profiles")) as f:
        return f.read()


class VmAppArmorTests(PywardTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(SECURITYFS):
            raise unittest.SkipTest("no AppArmor in this kernel (not the VM tier?)")
        if not PARSER and not os.path.exists(COMPILED):
            raise unittest.SkipTest(f"no apparmor_parser in the guest and no {COMPILED} (none on the build host)")
        os.makedirs(DROPIN_DIR, exist_ok=True)
        cls.conf = os.path.join(DROPIN_DIR, "50-pwtest-apparmor.conf")
        with open(cls.conf, "w") as f:
            f.write(f'[Profile "{NEITHER}"]\nNetwork=none\n[Profile "pwtest-loopback"]\nNetwork=loopback\n')
        os.makedirs(RW_PATH, exist_ok=True)
        os.chmod(RW_PATH, 0o1777)
        os.makedirs(HIDDEN_PATH, exist_ok=True)
        with open(os.path.join(HIDDEN_PATH, "secret"), "w") as f:
            f.write("secret")

    @classmethod
    def tearDownClass(cls):
        loaded = loaded_profiles()
        for name in JOB_PROFILES:
            if f"{name} (" in loaded:
                with open(os.path.join(SECURITYFS, ".remove"), "w") as f:
                    f.write(name)
        os.unlink(cls.conf)
        shutil.rmtree(RW_PATH, ignore_errors=True)
        shutil.rmtree(HIDDEN_PATH, ignore_errors=True)

    def job(self, code, **kw):
        res = self.run_job(code, timeout=60, cpu_time=60, **kw)
        self.assertEqual((res.status, res.exit_code), ("ok", 0), (res.message, res.stderr))
        return res.stdout.decode().strip()

    def mac_fields(self, since):
        out = sh("journalctl", "--no-pager", "-o", "export", f"--since=@{since:.6f}", "PYWARD_STATUS=ok",
                 check=False).stdout
        return re.findall(r"^PYWARD_MAC=(.*)$", out, re.M)

    def test_profile_loaded_then_enforced(self):
        # Before: not loaded, so jobs run unconfined and the helper says why.
        self.assertNotIn("pyward-job ", loaded_profiles())
        t0 = time.time()
        self.assertEqual(self.job(ATTR), "unconfined")
        self.assertIn("are not loaded; jobs run without them", journal_since(t0))
        self.assertNotIn("apparmor", ",".join(self.mac_fields(t0)))

        if PARSER:
            # The guest's parser, for the guest's kernel (its features), as debian/pyward.postinst.
            version = sh(PARSER, "--version").stdout.splitlines()[0]
            p = sh(PARSER, "--replace", "--skip-cache", SOURCE, check=False)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            how = f"{version}: {PARSER} --replace {SOURCE}"
        else:
            # What apparmor_parser does with a compiled policy: write it to .replace.
            with open(COMPILED, "rb") as src, open(os.path.join(SECURITYFS, ".replace"), "wb") as dst:
                dst.write(src.read())
            how = f"the build host's compiled {COMPILED} written to .replace"
        print(f"\n    [measured] kernel {os.uname().release}, loaded by {how}", file=sys.stderr)
        profiles = loaded_profiles()
        print(f"    [measured] loaded: {[p for p in profiles.splitlines() if 'pyward' in p]}", file=sys.stderr)
        self.assertIn("pyward-job (enforce)", profiles)
        self.assertIn("pyward-job-loopback (enforce)", profiles)

        t1 = time.time()
        self.assertEqual(self.job(ATTR), "pyward-job (enforce)")
        self.assertEqual(self.job(ATTR, profile="pwtest-loopback"), "pyward-job-loopback (enforce)")
        layers = self.mac_fields(t1)
        print(f"    [measured] PYWARD_MAC: {layers}", file=sys.stderr)
        self.assertTrue(layers and all(f.endswith("apparmor") for f in layers), layers)
        self.assertTrue(all(f.startswith("landlock-abi") for f in layers), layers)

        # Ordinary work still works under the profile.
        self.assertEqual(json.loads(self.job(WORK)), {"sh": "hi\n", "meminfo": True})

        # AppArmor alone: the systemd settings and Landlock off, the write and the read still
        # denied (EACCES), and logged by the kernel's audit.
        t2 = time.time()
        d = json.loads(self.job(PROBE, profile=NEITHER))
        self.assertEqual(d, {"write": EACCES, "read": EACCES})
        self.assertEqual(os.listdir(RW_PATH), [])
        self.assertEqual(self.mac_fields(t2)[-1:], ["apparmor"])
        log = subprocess.run(["journalctl", "-k", "--no-pager", "-o", "cat", f"--since=@{t2:.6f}"],
                             capture_output=True, text=True).stdout
        log += subprocess.run(["dmesg"], capture_output=True, text=True).stdout
        denied = [line for line in log.splitlines()
                  if 'apparmor="DENIED"' in line and 'profile="pyward-job"' in line and RW_PATH in line]
        print(f"    [measured] audit: {denied[:1]}", file=sys.stderr)
        self.assertTrue(denied, log[-3000:])


if __name__ == "__main__":
    unittest.main()
