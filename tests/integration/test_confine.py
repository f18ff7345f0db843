# SPDX-License-Identifier: LGPL-2.1-or-later
# The helper's own confinement (pyward-helper(8), SECURITY): where the kernel has Landlock ABI >= 6,
# pyward-helper-generator turns pyward-helper@.service's namespaces off and the helper confines itself
# with Landlock before it reads a byte; elsewhere the unit keeps them and Landlock (if any) is a
# second layer. Either way, a locked-down helper (a debug-hooks build's probe profile) cannot write
# root-owned files outside its slots and cache, nor read a home directory. Runs in nspawn (the
# host's kernel: Landlock) and, from vm/, in each release's VM (bookworm's 6.1: ABI 2, namespaces).
import ctypes
import os
import unittest

from pwlib import RESULT, PywardTestCase, exchange, parse_kv, request_frames, sh, wait_for

PROBE_PROFILE = "__pyward_debug_confinement"
DROPIN = "50-pyward-landlock.conf"
SECRET = "/root/pyward-confine-secret"
ETC_SECRET = "/etc/pyward-confine-secret"  # world-readable, as admins leave secrets under /etc
ABI_MIN = 6


def landlock_abi():
    """The kernel's Landlock ABI as the helper sees it (capped at the 6 it knows), 0 without."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # landlock_create_ruleset
    return max(0, min(abi, 6))


def probe():
    """The locked-down helper's answer to the probe profile: its mechanism and each outcome."""
    frames = exchange(request_frames("pass\n", profile=PROBE_PROFILE, stdin=b""))
    results = [parse_kv(p) for t, p in frames if t == RESULT]
    assert results, f"no RESULT among {frames}"
    res = results[-1]
    msg = res.get("message", "")
    if res["status"] == "rejected" and PROBE_PROFILE in msg:
        raise AssertionError("the helper was built without -Ddebug-hooks=true: " + msg)
    assert msg.startswith("confinement: "), res
    parts = [p for p in msg[len("confinement: "):].split("; ") if p]
    outcomes = {}
    for p in parts[1:]:
        what, _, outcome = p.partition(": ")
        outcomes[what] = outcome
    return parts[0], outcomes


class ConfineTests(PywardTestCase):
    def setUp(self):
        super().setUp()
        with open(SECRET, "w") as f:
            f.write("hunter2\n")
        os.chmod(SECRET, 0o600)
        self.addCleanup(os.unlink, SECRET)
        with open(ETC_SECRET, "w") as f:
            f.write("Environment=DB_PASSWORD=hunter2\n")
        os.chmod(ETC_SECRET, 0o644)
        self.addCleanup(os.unlink, ETC_SECRET)

    def test_locked_down_helper_cannot_write_outside_its_slots(self):
        abi = landlock_abi()
        dropins = sh("systemctl", "show", "-P", "DropInPaths", "pyward-helper@probe.service").stdout
        protect = sh("systemctl", "show", "-P", "ProtectSystem", "pyward-helper@probe.service").stdout.strip()
        report = sh("/usr/libexec/pyward-helper", "--check-config").stdout
        mechanism, outcomes = probe()
        print(f"\n    [measured] Landlock ABI {abi}: {mechanism}; {outcomes}", flush=True)
        if abi >= ABI_MIN:
            self.assertIn(DROPIN, dropins, "no generator drop-in on a kernel with Landlock ABI >= 6")
            self.assertEqual(protect, "no")
            self.assertEqual(mechanism, "landlock in place of namespaces")
            self.assertIn(f"Helpers: Landlock ABI {abi} in place of pyward-helper@.service's", report)
        else:
            self.assertNotIn(DROPIN, dropins, f"a generator drop-in on Landlock ABI {abi}")
            self.assertEqual(protect, "strict")
            self.assertEqual(mechanism, "landlock under namespaces" if abi else "namespaces")
            self.assertIn("Helpers: pyward-helper@.service's namespaces", report)
        # Root-owned places the helper's uid alone could write: each refused, nothing left.
        for path in ("/etc/pyward-confine-test", "/var/lib/pyward-confine-test",
                     "/run/pyward/pyward-confine-test"):
            self.assertIn(outcomes.get(f"write {path}"), ("Permission denied", "Read-only file system"),
                          (path, outcomes))
            self.assertFalse(os.path.exists(path), path)
        self.assertIn(outcomes.get(f"read {SECRET}"), ("Permission denied", "No such file or directory"),
                      outcomes)
        # Of /etc, the helper reads its configuration and NSS's files only, wherever it has
        # Landlock (the namespaces alone leave /etc readable).
        if mechanism != "namespaces":
            for path in ("/etc/shadow", ETC_SECRET):
                self.assertEqual(outcomes.get(f"read {path}"), "Permission denied", (path, outcomes))
        # The host's /tmp: private to the namespaced unit (the file is made there and goes with
        # it), denied by Landlock where the unit has no namespace.
        self.assertFalse(os.path.exists("/tmp/pyward-confine-test"))
        if mechanism == "landlock in place of namespaces":
            self.assertEqual(outcomes.get("write /tmp/pyward-confine-test"), "Permission denied", outcomes)
            self.assertEqual(outcomes.get("read /proc/1/status"), "Permission denied", outcomes)
        # What it needs stays: a file in its slot directory (the probe removes it again).
        self.assertEqual(outcomes.get("write /run/pyward/slots/pyward-confine-test"), "ok", outcomes)
        # And the next client is served as usual.
        self.assertOk(self.run_job("print('fine')\n", client_timeout=60), b"fine\n")

    def test_helper_refuses_to_serve_without_the_landlock_its_unit_relies_on(self):
        abi = landlock_abi()
        if abi >= ABI_MIN:
            self.skipTest(f"this kernel has Landlock ABI {abi}: the helper has what its unit relies on "
                          "(the bookworm VM's kernel runs this test)")
        # A unit told to rely on Landlock (as the generator's drop-in does) on a kernel without
        # enough of it: the helper must refuse, not serve unconfined.
        d = "/run/systemd/system/pyward-helper@.service.d"
        os.makedirs(d, exist_ok=True)
        path = f"{d}/99-confine-test.conf"
        with open(path, "w") as f:
            f.write("[Service]\nEnvironment=PYWARD_HELPER_CONFINE=landlock\nProtectSystem=no\n")
        sh("systemctl", "daemon-reload")
        try:
            try:
                served = self.run_job("print('served')\n", client_timeout=60, connect_timeout=0).stdout
            except Exception as e:  # the helper closed the connection without a word: the client says so
                served = repr(e)
            self.assertNotEqual(served, b"served\n", "a helper without its Landlock served a job")
            self.assertTrue(wait_for(lambda: "refusing to serve" in sh(
                "journalctl", "-b", "--no-pager", "-o", "cat", "-u", "pyward-helper@*").stdout, 10),
                "no 'refusing to serve' in the helpers' journal")
        finally:
            os.unlink(path)
            sh("systemctl", "daemon-reload")
        self.assertOk(self.run_job("print('fine')\n", client_timeout=60), b"fine\n")


if __name__ == "__main__":
    unittest.main()
