# SPDX-License-Identifier: LGPL-2.1-or-later
# The mandatory access control layers under a job (issue #16): Landlock, applied by pyward-landlock
# before the interpreter runs, acts on its own where the systemd settings are turned off (test
# builds' debug profiles), and the systemd settings alone act where Landlock is off. AppArmor is
# covered in the VM tier (vm/test_apparmor.py): these machines' kernel has no AppArmor.
import ctypes
import json
import os
import re
import shutil
import socket
import statistics
import sys
import threading
import time
import unittest

from pwlib import PywardTestCase, sh

DROPIN_DIR = "/etc/pyward/pyward.conf.d"
# mac.h: the debug profiles and the holes they open in the systemd layer.
LANDLOCK_ONLY = "__pyward_debug_mac_landlock_only"
SYSTEMD_ONLY = "__pyward_debug_mac_systemd_only"
NEITHER = "__pyward_debug_mac_neither"
RW_PATH = "/usr/lib/pyward-mac-test"
HIDDEN_PATH = "/srv/pyward-mac-test"
ABSTRACT = "pyward-mac-test"
EACCES, EPERM, ENOENT, EROFS, ECONNREFUSED = 13, 1, 2, 30, 111

PROBE = f"""
import json, os, socket, subprocess
res = {{}}
try:
    with open('{RW_PATH}/written', 'w') as f:
        f.write('x')
    res['write'] = 0
except OSError as e:
    res['write'] = e.errno
try:
    res['read'] = open('{HIDDEN_PATH}/secret').read()
except OSError as e:
    res['read'] = e.errno
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect('\\0{ABSTRACT}')
    res['abstract'] = s.recv(16).decode()
except OSError as e:
    res['abstract'] = e.errno
# What the job's own children inherit: a shell cannot write there either.
res['sh_write'] = subprocess.run(['sh', '-c', 'echo y > {RW_PATH}/by-sh'], stderr=subprocess.DEVNULL).returncode
print(json.dumps(res))
"""


def host_landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, VERSION)
    return max(abi, 0)


def apparmor_loaded():
    try:
        with open("/sys/kernel/security/apparmor/profiles") as f:
            return any(line.startswith("pyward-job ") for line in f)
    except OSError:
        return False


class AbstractServer:
    """An abstract Unix socket of the machine (the host, to a job), answering "host"."""

    def __init__(self):
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind("\0" + ABSTRACT)
        self.srv.listen(8)
        self.srv.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve)

    def serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.sendall(b"host")
            c.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.srv.close()


class MacTests(PywardTestCase):
    @classmethod
    def setUpClass(cls):
        cls.abi = min(host_landlock_abi(), 6)
        os.makedirs(DROPIN_DIR, exist_ok=True)
        cls.conf = os.path.join(DROPIN_DIR, "50-pwtest-mac.conf")
        with open(cls.conf, "w") as f:
            for name in (LANDLOCK_ONLY, SYSTEMD_ONLY, NEITHER):
                f.write(f'[Profile "{name}"]\nNetwork=none\n')
        os.makedirs(RW_PATH, exist_ok=True)
        os.chmod(RW_PATH, 0o1777)
        os.makedirs(HIDDEN_PATH, exist_ok=True)
        with open(os.path.join(HIDDEN_PATH, "secret"), "w") as f:
            f.write("secret")
        os.chmod(os.path.join(HIDDEN_PATH, "secret"), 0o644)

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.conf)
        shutil.rmtree(RW_PATH, ignore_errors=True)
        shutil.rmtree(HIDDEN_PATH, ignore_errors=True)

    def setUp(self):
        super().setUp()
        for f in os.listdir(RW_PATH):
            os.unlink(os.path.join(RW_PATH, f))

    def probe(self, profile=None):
        with AbstractServer():
            res = self.run_job(PROBE, profile=profile)
        self.assertEqual((res.status, res.exit_code), ("ok", 0), res.stderr.decode(errors="replace"))
        return json.loads(res.stdout)

    def mac_field(self, profile):
        out = sh("journalctl", "--no-pager", "-o", "export", f"--since=@{self.t0:.6f}",
                 "PYWARD_STATUS=ok", f"PYWARD_PROFILE={profile}", check=False).stdout
        return re.findall(r"^PYWARD_MAC=(.*)$", out, re.M)

    def test_neither_layer_lets_it_through(self):
        """The probe can succeed: with the systemd settings turned off and Landlock off, the
        write, the read and the abstract socket all work (else the other tests prove nothing)."""
        if apparmor_loaded():
            self.skipTest("AppArmor is loaded: it stands in the way (vm/test_apparmor.py)")
        d = self.probe(NEITHER)
        self.assertEqual(d, {"write": 0, "read": "secret", "abstract": "host", "sh_write": 0})
        self.assertEqual(self.mac_field(NEITHER)[-1:], ["none"])

    def test_landlock_alone(self):
        """Landlock on, the systemd settings off: still denied, by Landlock (EACCES; EPERM for the
        abstract socket, scoped on ABI 6), in the job's children too."""
        if self.abi == 0:
            self.skipTest("no Landlock in this kernel")
        d = self.probe(LANDLOCK_ONLY)
        print(f"\n    [measured] Landlock ABI {self.abi}, layers alone: {d}", file=sys.stderr)
        self.assertEqual(d["write"], EACCES)
        self.assertEqual(d["read"], EACCES)
        self.assertEqual(d["abstract"], EPERM if self.abi >= 6 else "host")
        self.assertNotEqual(d["sh_write"], 0)
        self.assertEqual(os.listdir(RW_PATH), [])
        self.assertEqual(self.mac_field(LANDLOCK_ONLY)[-1:], [f"landlock-abi{self.abi}"])

    def test_systemd_alone(self):
        """Landlock off, the systemd settings on: the read-only OS (EROFS), the hidden host path
        (ENOENT: an empty tmpfs at /srv) and the private network namespace (no such socket)."""
        d = self.probe(SYSTEMD_ONLY)
        self.assertEqual(d["write"], EROFS)
        self.assertEqual(d["read"], ENOENT)
        self.assertEqual(d["abstract"], ECONNREFUSED)
        self.assertNotEqual(d["sh_write"], 0)
        self.assertEqual(self.mac_field(SYSTEMD_ONLY)[-1:], ["none"])

    def test_default_job_both_layers(self):
        """A default job: both layers; the journal names Landlock and its ABI."""
        d = self.probe()
        self.assertNotEqual(d["write"], 0)
        self.assertNotIn(d["read"], ("secret",))
        self.assertNotEqual(d["abstract"], "host")
        want = f"landlock-abi{self.abi}" if self.abi else "none"
        self.assertEqual(self.mac_field("default")[-1:], [want])

    def test_interpreter_argv_unchanged(self):
        """pyward-landlock executes the interpreter with the argv it would have had without it;
        ordinary work in the writable places still works under Landlock (rename, truncate, a
        Unix socket, a FIFO, a pty, /dev/null, listing /)."""
        code = ("import json, os, sys, socket, tempfile, shutil, pty\n"
                "d = tempfile.mkdtemp()\nopen(d + '/a', 'w').write('x' * 10)\n"
                "os.makedirs(d + '/sub')\nos.rename(d + '/a', d + '/sub/b')\n"
                "os.truncate(d + '/sub/b', 1)\nos.mkfifo(d + '/fifo')\n"
                "s = socket.socket(socket.AF_UNIX)\ns.bind(d + '/sock')\n"
                "m, sl = pty.openpty()\nos.write(sl, b'hi')\n"
                "open('/dev/null', 'w').write('x')\nopen('/dev/shm/x', 'w').write('x')\n"
                "shutil.rmtree(d)\n"
                "print(json.dumps({'orig': sys.orig_argv[:2], 'exe': os.path.realpath(sys.executable),"
                " 'argv': sys.argv, 'root': len(os.listdir('/')) > 0,"
                " 'self': os.path.realpath('/proc/self/exe')}))\n")
        res = self.run_job(code, args=["a1", "$HOME"])
        self.assertOk(res)
        d = json.loads(res.stdout)
        self.assertEqual(d["orig"], ["/usr/bin/python3", "-I"])
        self.assertEqual(d["argv"][1:], ["a1", "$HOME"])
        self.assertEqual(d["exe"], d["self"])
        self.assertTrue(d["root"])

    def test_wrapper_cost(self):
        """Per-job cost of pyward-landlock: the same trivial job with it (default) and without it
        (the systemd-only debug profile), interleaved; reported, bounded loosely."""
        times = {"with": [], "without": []}
        for _ in range(6):
            for key, profile in (("with", None), ("without", SYSTEMD_ONLY)):
                t = time.monotonic()
                self.assertOk(self.run_job("pass", profile=profile))
                times[key].append(time.monotonic() - t)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"\n    [measured] trivial job, median of 6: with pyward-landlock {med['with']:.1f} ms, "
              f"without {med['without']:.1f} ms", file=sys.stderr)
        self.assertLess(med["with"], med["without"] + 200)


if __name__ == "__main__":
    unittest.main()
