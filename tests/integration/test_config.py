# SPDX-License-Identifier: LGPL-2.1-or-later
# pyward.conf against the installed helper and real systemd: drop-ins apply to the next job with no
# reload, profiles pick interpreters and limits, maxima are enforced with a clear message, and a
# broken file rejects every job with file:line until it is fixed. Run as root inside a test machine.
import os
import shutil
import socket
import subprocess
import unittest

from pwlib import PywardTestCase, job_users, pyward, sh
from warmlib import empty_pool

MiB = 1024 * 1024
HELPER = "/usr/libexec/pyward-helper"
ETC_CONF = "/etc/pyward/pyward.conf"
ETC_D = "/etc/pyward/pyward.conf.d"
RUN_D = "/run/pyward/pyward.conf.d"
LIB_D = "/usr/lib/pyward/pyward.conf.d"


class ConfigTestCase(PywardTestCase):
    """Writes configuration files and removes every one of them (and restores pyward.conf)."""

    def write(self, path, text):
        if os.path.lexists(path) and path == ETC_CONF:
            with open(path, "rb") as f:
                saved = f.read()
            self.addCleanup(self._restore, path, saved)
        elif not os.path.lexists(path):
            self.addCleanup(self._remove, path)
        else:
            self.fail(f"{path} exists already; a test left it behind or the machine ships it")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def symlink_null(self, path):
        self.assertFalse(os.path.lexists(path), path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink("/dev/null", path)
        self.addCleanup(self._remove, path)

    @staticmethod
    def _remove(path):
        if os.path.lexists(path):
            os.unlink(path)

    @staticmethod
    def _restore(path, data):
        with open(path, "wb") as f:
            f.write(data)

    def assertRejected(self, res, *words):
        self.assertEqual(res.status, "rejected", (res.message, res.stderr))
        self.assertTrue(res.message, "rejected without a message")
        for w in words:
            self.assertIn(w, res.message)
        self.assertFalse(res.unit, "a rejected request must not start a unit")


class DropInTests(ConfigTestCase):
    def test_dropin_changes_memory_max_for_next_job(self):
        # Built-in maximum 1G: 512M is fine.
        self.assertOk(self.run_job("print('before')", memory=512 * MiB), b"before\n")

        path = os.path.join(ETC_D, "50-pwtest-memory.conf")
        self.write(path, "[Profile]\nMemoryMax=300M\nDefaultMemory=200M\n")
        res = self.run_job("print('too big')", memory=512 * MiB)
        self.assertRejected(res, "memory=512M exceeds the maximum 300M of profile default")
        # Equal to the new maximum is allowed; so is asking nothing (default 200M).
        self.assertOk(self.run_job("print('equal')", memory=300 * MiB), b"equal\n")
        self.assertOk(self.run_job("print('default')"), b"default\n")

        # No reload, no restart: removing the file restores the built-in maximum.
        os.unlink(path)
        self.assertOk(self.run_job("print('after')", memory=512 * MiB), b"after\n")

    def test_etc_masks_run_and_usr_lib(self):
        lib = os.path.join(LIB_D, "60-pwtest-mask.conf")
        run = os.path.join(RUN_D, "60-pwtest-mask.conf")
        etc = os.path.join(ETC_D, "60-pwtest-mask.conf")
        self.write(lib, "[Profile]\nMemoryMax=250M\nDefaultMemory=200M\n")
        self.assertRejected(self.run_job("pass", memory=260 * MiB), "maximum 250M")
        self.write(run, "[Profile]\nMemoryMax=270M\nDefaultMemory=200M\n")
        self.assertOk(self.run_job("print(1)", memory=260 * MiB))
        self.assertRejected(self.run_job("pass", memory=280 * MiB), "maximum 270M")
        # A symlink to /dev/null in /etc masks both: back to the built-in 1G.
        self.symlink_null(etc)
        self.assertOk(self.run_job("print(1)", memory=512 * MiB))

    def test_later_dropin_wins(self):
        self.write(os.path.join(ETC_D, "70-pwtest-a.conf"), "[Profile]\nTasksMax=20\nDefaultTasks=10\n")
        self.write(os.path.join(RUN_D, "71-pwtest-b.conf"), "[Profile]\nTasksMax=30\n")
        self.assertRejected(self.run_job("pass", tasks=31), "tasks=31 exceeds the maximum 30 of profile default")
        self.assertOk(self.run_job("print(1)", tasks=30))


class MaximumTests(ConfigTestCase):
    def test_above_builtin_maxima_rejected_with_message(self):
        cases = [
            (dict(memory=2 * 1024 * MiB), "memory=2G exceeds the maximum 1G of profile default"),
            (dict(timeout=301), "wall-time=5min 1s exceeds the maximum 5min of profile default"),
            (dict(cpu_quota=250), "cpu-quota=250% exceeds the maximum 200% of profile default"),
            (dict(tasks=257), "tasks=257 exceeds the maximum 256 of profile default"),
            (dict(output_max=17 * MiB), "output=17M exceeds the maximum 16M of profile default"),
            (dict(disk=512 * MiB), "disk=512M exceeds the maximum 256M of profile default"),
            (dict(cpu_time=61), "cpu-time=1min 1s exceeds the maximum 1min of profile default"),
        ]
        for kw, msg in cases:
            with self.subTest(**kw):
                self.assertRejected(self.run_job("print('never')", **kw), msg)


class ProfileTests(ConfigTestCase):
    def test_profile_interpreter_args_and_limits(self):
        self.write(os.path.join(ETC_D, "50-pwtest-nosite.conf"),
                   '[Profile "pwtest-nosite"]\nInterpreter=/usr/bin/python3\n'
                   "InterpreterArgs=\nInterpreterArgs=-I -S\nMemoryMax=400M\nDefaultMemory=300M\n")
        code = "import sys\nprint(sys.flags.no_site, sys.flags.isolated)\n"
        self.assertOk(self.run_job(code, profile="pwtest-nosite"), b"1 1\n")
        self.assertOk(self.run_job(code), b"0 1\n")  # the default profile is untouched
        self.assertRejected(self.run_job(code, profile="pwtest-nosite", memory=512 * MiB),
                            "memory=512M exceeds the maximum 400M of profile pwtest-nosite")
        self.assertOk(self.run_job(code, memory=512 * MiB), b"0 1\n")

    def test_profile_venv(self):
        venv = "/opt/pwtest-venv"
        shutil.rmtree(venv, ignore_errors=True)
        p = subprocess.run(["python3", "-m", "venv", "--without-pip", venv], capture_output=True, text=True)
        self.addCleanup(shutil.rmtree, venv, True)
        if p.returncode != 0:
            self.skipTest(f"cannot create a venv in this machine (python3-venv missing?): {p.stderr.strip()}")
        self.write(os.path.join(ETC_D, "50-pwtest-venv.conf"), f'[Profile "pwtest-venv"]\nInterpreter={venv}\n')
        res = self.run_job("import sys\nprint(sys.prefix, sys.prefix != sys.base_prefix)\n", profile="pwtest-venv")
        self.assertOk(res, f"{venv} True\n".encode())

    def test_profile_read_only_paths(self):
        """ReadOnlyPaths= brings a path of the hidden host tree back, read-only, and nothing beside it."""
        base = f"/srv/pwtest-ro-{os.getpid()}"
        os.makedirs(os.path.join(base, "shared"))
        self.addCleanup(shutil.rmtree, base, True)
        for name in ("shared/data", "private"):
            with open(os.path.join(base, name), "w") as f:
                f.write(name)
            os.chmod(os.path.join(base, name), 0o644)
        os.chmod(base, 0o755)
        os.chmod(os.path.join(base, "shared"), 0o755)
        self.write(os.path.join(ETC_D, "50-pwtest-ro.conf"),
                   f'[Profile "pwtest-ro"]\nReadOnlyPaths={base}/shared\n')
        code = ("import errno, sys\nfor p in sys.argv[1:]:\n    try:\n        print(open(p).read())\n"
                "    except OSError as e:\n        print(errno.errorcode[e.errno])\n"
                "try:\n    open(sys.argv[1], 'w')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n")
        args = [f"{base}/shared/data", f"{base}/private"]
        self.assertOk(self.run_job(code, profile="pwtest-ro", args=args), b"shared/data\nENOENT\nEROFS\n")
        self.assertOk(self.run_job(code, args=args), b"ENOENT\nENOENT\nENOENT\n")

    def test_profile_network_loopback(self):
        """Network=loopback: TCP on the job's own loopback works; the machine's loopback (a server
        listening there) stays out of reach, as without the profile."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", 0))
        srv.listen(5)
        self.addCleanup(srv.close)
        port = srv.getsockname()[1]
        self.write(os.path.join(ETC_D, "50-pwtest-lo.conf"), '[Profile "pwtest-lo"]\nNetwork=loopback\n')
        code = ("import errno, socket, sys, threading\n"
                "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
                "threading.Thread(target=lambda: s.accept()[0].sendall(b'own')).start()\n"
                "print(socket.create_connection(s.getsockname(), timeout=5).recv(3).decode())\n"
                "try:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)\n"
                "    print('reached the machine')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n")
        self.assertOk(self.run_job(code, profile="pwtest-lo", args=[str(port)]), b"own\nECONNREFUSED\n")
        res = self.run_job(code, args=[str(port)])  # the default profile: no AF_INET at all
        self.assertEqual(res.status, "exit", res.stderr)
        self.assertIn(b"[Errno 97] Address family not supported", res.stderr)

    def test_profile_system_calls(self):
        """SystemCallAllow= gives back a call the default filter denies (sched_setaffinity, in
        @resources); SystemCallDeny= takes one away (mkdir): both fail with EPERM when denied."""
        self.write(os.path.join(ETC_D, "50-pwtest-sys.conf"),
                   '[Profile "pwtest-sys"]\nSystemCallAllow=sched_setaffinity\nSystemCallDeny=mkdir mkdirat\n')
        code = ("import errno, os\nfor f in (lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)),\n"
                "          lambda: os.mkdir('/tmp/d')):\n    try:\n        f(); print('ok')\n"
                "    except OSError as e:\n        print(errno.errorcode[e.errno])\n")
        self.assertOk(self.run_job(code, profile="pwtest-sys"), b"ok\nEPERM\n")
        self.assertOk(self.run_job(code), b"EPERM\nok\n")

    def test_profile_code_max(self):
        self.write(os.path.join(ETC_D, "50-pwtest-small.conf"), '[Profile "pwtest-small"]\nCodeMax=1K\n')
        self.assertOk(self.run_job("print('small')", profile="pwtest-small"), b"small\n")
        self.assertRejected(self.run_job("x = 1\n" * 400, profile="pwtest-small"), "2400 bytes", "maximum of 1024 bytes", '"pwtest-small"')

    def test_unknown_and_forbidden_profiles(self):
        res = self.run_job("pass", profile="pwtest-no-such-profile")
        self.assertRejected(res, "pwtest-no-such-profile")
        # Root may connect, but this profile is for uid 4242 only.
        self.write(os.path.join(ETC_D, "50-pwtest-private.conf"), '[Profile "pwtest-private"]\nAllowUsers=4242\n')
        self.assertRejected(self.run_job("pass", profile="pwtest-private"), "pwtest-private")
        self.write(os.path.join(ETC_D, "50-pwtest-off.conf"), '[Profile "pwtest-off"]\nEnabled=no\n')
        self.assertRejected(self.run_job("pass", profile="pwtest-off"), "pwtest-off")


class BrokenConfigTests(ConfigTestCase):
    def check_broken_then_fixed(self, path, broken, fixed, where):
        self.write(path, broken)
        res = self.run_job("print('never')")
        self.assertRejected(res, where)
        # Every request is rejected, not only those touching the broken key.
        self.assertRejected(self.run_job("print('never')", profile="default", memory=64 * MiB), where)
        with open(path, "w") as f:
            f.write(fixed)
        self.assertOk(self.run_job("print('fixed')"), b"fixed\n")

    def test_syntax_error_in_etc_dropin(self):
        p = os.path.join(ETC_D, "50-pwtest-broken.conf")
        self.check_broken_then_fixed(p, "[Profile]\n# a comment\nMemoryMax 300M\n", "[Profile]\nMemoryMax=300M\n",
                                     f"{p}:3:")

    def test_bad_value_in_run_dropin(self):
        p = os.path.join(RUN_D, "50-pwtest-broken.conf")
        self.check_broken_then_fixed(p, "[Profile]\nMemoryMax=lots\n", "[Profile]\nMemoryMax=1G\n",
                                     f"{p}:2: MemoryMax=lots")

    def test_unknown_key_in_usr_lib_dropin(self):
        p = os.path.join(LIB_D, "50-pwtest-broken.conf")
        self.check_broken_then_fixed(p, "[Access]\n\nNoSuchKey=1\n", "[Access]\n", f"{p}:3: unknown key NoSuchKey=")

    def test_missing_interpreter_in_main_file(self):
        self.check_broken_then_fixed(ETC_CONF, "[Profile]\nInterpreter=/nonexistent/python3\n", "",
                                     f"{ETC_CONF}:2: Interpreter=/nonexistent/python3")


class ToolingTests(ConfigTestCase):
    def setUp(self):
        super().setUp()
        # The staged tree always installs the helper: missing, the install paths are broken.
        if not os.access(HELPER, os.X_OK):
            self.fail(f"{HELPER} is not installed (or not executable): the install paths are wrong")

    @staticmethod
    def check_config():
        return subprocess.run([HELPER, "--check-config"], capture_output=True, text=True, timeout=30)

    def test_check_config(self):
        p = self.check_config()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        path = os.path.join(ETC_D, "50-pwtest-check.conf")
        self.write(path, "[Profile]\nNetwork=internet\nTasksMax=many\n")
        p = self.check_config()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"{path}:2: Network=internet", p.stdout + p.stderr)
        self.assertIn(f"{path}:3: TasksMax=many", p.stdout + p.stderr)

    def test_check_config_checks_the_system(self):
        """--check-config also says when the job users are missing (exit 1) and when pyward.socket
        accepts more connections at once than there are job users (a warning, exit 0)."""
        users = job_users()
        dropin = "/run/systemd/system/pyward-helper.socket.d/50-pwtest.conf"
        self.addCleanup(sh, "systemctl", "daemon-reload")  # after the drop-in's removal (LIFO)
        self.write(dropin, f"[Socket]\nMaxConnections={len(users) + 72}\n")
        sh("systemctl", "daemon-reload")
        p = self.check_config()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"pyward-helper.socket accepts {len(users) + 72} connections at once", p.stdout)
        self.assertIn(f"there are {len(users)} job users", p.stdout)
        # Waiting warm runners hold job users too: 8 fewer connections, 12 runners.
        with open(dropin, "w") as f:
            f.write(f"[Socket]\nMaxConnections={len(users) - 8}\n")
        sh("systemctl", "daemon-reload")
        self.assertNotIn("Warning", self.check_config().stdout)
        warm = os.path.join(ETC_D, "60-pwtest-warm.conf")
        self.addCleanup(empty_pool, [warm])
        self.write(warm, "[Profile]\nWarmRunners=12\n")
        p = self.check_config()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"pyward-helper.socket accepts {len(users) - 8} connections at once (MaxConnections=) "
                      "and the profiles keep 12 warm runners", p.stdout)
        self.assertIn(f"the jobs beyond {len(users) - 12} fail", p.stdout)
        empty_pool([warm])

        name = users[max(users)]
        sh("userdel", name)
        self.addCleanup(sh, "systemd-sysusers")
        p = self.check_config()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"1 of the {len(users)} job users do not exist (the first: {name})", p.stderr)
        sh("systemd-sysusers")
        p = self.check_config()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_show_config_names_origins(self):
        path = os.path.join(ETC_D, "50-pwtest-show.conf")
        self.write(path, '[Profile]\nMemoryMax=300M\nDefaultMemory=200M\n[Profile "pwtest-show"]\nTasksMax=99\n')
        p = subprocess.run([HELPER, "--show-config"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"# {path}:2\nMemoryMax=300M\n", p.stdout)
        self.assertIn("# built-in default\nDefaultTasks=32\n", p.stdout)
        self.assertIn('[Profile "pwtest-show"]', p.stdout)
        p = subprocess.run([HELPER, "--show-config", "--profile", "pwtest-show"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith('[Profile "pwtest-show"]\n'), p.stdout)
        self.assertIn(f"# {path}:5\nTasksMax=99\n", p.stdout)
        self.assertIn(f"# {path}:2\nMemoryMax=300M\n", p.stdout)  # inherited, with its origin
        self.assertNotIn("[Access]", p.stdout)


if __name__ == "__main__":
    unittest.main()
