# SPDX-License-Identifier: LGPL-2.1-or-later
# What a job sees of the OS (issue #19), probed from inside real jobs: its /etc holds the measured
# set and pyward's neutral files, not the host's secrets, accounts or identity; its cgroup view is
# its own, not other jobs' or the host's services'. Run as root inside a test machine.
import json
import os
import pwd
import shutil
import socket
import sys
import threading
import unittest

from pwlib import PywardTestCase, job_units, pyward, systemd_version, wait_for

DROPIN_DIR = "/etc/pyward/pyward.conf.d"
# What a job's /etc may hold: the host's entries of the measured set (units/etc-view/pyward-etc-view) and the
# files pyward puts there itself.
ETC_HOST_SET = {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ld.so.preload", "alternatives",
                "host.conf", "gai.conf", "services", "protocols", "localtime", "timezone", "ssl",
                "mime.types", "os-release", "python3", "fonts", "matplotlibrc"}
ETC_OWN = {"passwd", "group", "hostname", "machine-id", "hosts", "nsswitch.conf"}

LIST_ETC = "import json, os\nprint(json.dumps(sorted(os.listdir('/etc'))))\n"
READ_ALL = ("import json, sys\nres = {}\nfor p in sys.argv[1:]:\n    try:\n"
            "        res[p] = open(p).read()\n    except OSError as e:\n        res[p] = e.errno\n"
            "print(json.dumps(res))\n")


def etc_allowed(name):
    return name in ETC_HOST_SET or name in ETC_OWN or (name.startswith("python3.") and len(name) > 8)


class ViewTests(PywardTestCase):
    def probe(self, code, **kw):
        res = self.run_job(code, **kw)
        self.assertEqual((res.status, res.exit_code), ("ok", 0), (res.message, res.stderr.decode(errors="replace")))
        return json.loads(res.stdout)

    def plant(self, path, text, mode=0o644):
        """A world-readable file under the machine's /etc, removed after the test (with the
        directories made for it)."""
        top = path
        while not os.path.exists(os.path.dirname(top)):
            top = os.path.dirname(top)
        self.assertFalse(os.path.lexists(top), f"{top} exists already")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.addCleanup(lambda: shutil.rmtree(top, True) if os.path.isdir(top) else os.unlink(top))
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        d = os.path.dirname(path)
        while d != "/etc":
            os.chmod(d, 0o755)
            d = os.path.dirname(d)

    def test_etc_hides_planted_secrets(self):
        """A world-readable unit drop-in with a secret and an application config under /etc are not
        in a job's view, nor anything else of the host's /etc outside the documented set."""
        tag = f"pwtest{os.getpid()}"
        secret = f"DB_PASSWORD=hunter2-{tag}"
        dropin = f"/etc/systemd/system/{tag}.service.d/override.conf"
        app = f"/etc/{tag}-app/config.ini"
        self.plant(dropin, f"[Service]\nEnvironment={secret}\n")
        self.plant(app, f"[db]\npassword={secret}\n")
        paths = [dropin, app, "/etc/shadow", "/etc/pyward/pyward.conf", "/etc/fstab", "/etc/subuid"]
        d = self.probe(READ_ALL, args=paths)
        for p in paths:
            with self.subTest(path=p):
                self.assertIsInstance(d[p], int, f"job read {p}: {d[p]!r}")
                self.assertIn(d[p], (2, 13))  # ENOENT EACCES
        seen = self.probe(LIST_ETC)
        self.assertEqual([n for n in seen if not etc_allowed(n)], [], seen)
        for name in ("passwd", "group", "machine-id", "hostname", "ld.so.cache"):
            self.assertIn(name, seen)

    def test_identity_is_not_the_hosts(self):
        """machine-id and /etc/hostname are pyward's neutral values; passwd and group hold root and
        the job's own user, nothing else, and getpass/pwd resolve the job's user."""
        code = ("import getpass, grp, json, os, pwd\nres = {}\n"
                "for p in ('/etc/machine-id', '/etc/hostname', '/etc/passwd', '/etc/group'):\n"
                "    res[p] = open(p).read()\n"
                "res['me'] = [pwd.getpwuid(os.getuid()).pw_name, getpass.getuser(),"
                " grp.getgrgid(os.getgid()).gr_name, os.getuid()]\n"
                "res['names'] = sorted(p.pw_name for p in pwd.getpwall())\n"
                "print(json.dumps(res))\n")
        with open("/etc/hostname") as f:
            saved = f.read()
        self.addCleanup(lambda: open("/etc/hostname", "w").write(saved))
        with open("/etc/hostname", "w") as f:
            f.write(f"pwtest-host-{os.getpid()}\n")  # a name of the host's own, to tell apart
        d = self.probe(code)
        with open("/etc/machine-id") as f:
            host_id = f.read().strip()
        self.assertRegex(d["/etc/machine-id"], r"^[0-9a-f]{32}\n$")
        self.assertNotEqual(d["/etc/machine-id"].strip(), host_id)
        self.assertEqual(d["/etc/hostname"], "localhost\n")  # systemd's own fallback name
        user, getuser, group, uid = d["me"]
        self.assertEqual(user, pwd.getpwuid(uid).pw_name)
        self.assertTrue(user.startswith("pyward-job"), user)
        self.assertEqual((getuser, group), (user, user))
        passwd = d["/etc/passwd"].splitlines()
        self.assertEqual(len(passwd), 2, passwd)
        self.assertEqual([ln.split(":")[0] for ln in passwd], ["root", user])
        self.assertEqual(int(passwd[1].split(":")[2]), uid)
        self.assertEqual([ln.split(":")[0] for ln in d["/etc/group"].splitlines()], ["root", user])
        self.assertEqual(d["names"], sorted(["root", user]))
        host_accounts = len(pwd.getpwall())
        self.assertGreater(host_accounts, 2)  # the machine's passwd has more, all hidden
        print(f"\n    [measured] job passwd: {len(passwd)} entries (the machine's: {host_accounts})",
              file=sys.stderr)

    def test_profile_read_only_paths_bring_etc_back(self):
        """A profile's ReadOnlyPaths= brings a planted /etc file back (read-only); the default
        profile still does not see it, nor the file beside it."""
        tag = f"pwtest{os.getpid()}"
        shared, beside = f"/etc/{tag}-cfg/shared.ini", f"/etc/{tag}-cfg/private.ini"
        self.plant(shared, "shared\n")
        self.plant(beside, "private\n")
        conf = os.path.join(DROPIN_DIR, f"50-{tag}.conf")
        os.makedirs(DROPIN_DIR, exist_ok=True)
        with open(conf, "w") as f:
            f.write(f'[Profile "pwtest-etc"]\nReadOnlyPaths={shared}\n')
        self.addCleanup(os.unlink, conf)
        d = self.probe(READ_ALL, args=[shared, beside], profile="pwtest-etc")
        self.assertEqual(d[shared], "shared\n")
        self.assertEqual(d[beside], 2)
        d = self.probe(READ_ALL, args=[shared, beside])
        self.assertEqual((d[shared], d[beside]), (2, 2))

    def test_python_still_works(self):
        """What the /etc set was measured from still works in a job: TLS defaults, MIME types, the
        time zone, locale, subprocess, numpy's BLAS through /etc/alternatives (if installed)."""
        code = ("import json, mimetypes, os, ssl, subprocess, time, zoneinfo, locale, sqlite3\n"
                "res = {}\nctx = ssl.create_default_context()\nres['ssl'] = ctx.verify_mode == ssl.CERT_REQUIRED\n"
                "res['mime'] = mimetypes.guess_type('a.json')[0]\n"
                "res['tz'] = time.localtime().tm_zone\nres['berlin'] = str(zoneinfo.ZoneInfo('Europe/Berlin'))"
                " if os.path.exists('/usr/share/zoneinfo/Europe/Berlin') else 'Europe/Berlin'\n"
                "res['locale'] = locale.setlocale(locale.LC_ALL, '')\n"
                "res['sh'] = subprocess.run(['sh', '-c', 'echo hi'], capture_output=True).stdout.decode()\n"
                "res['sqlite'] = sqlite3.connect(':memory:').execute('select 1').fetchone()[0]\n"
                "try:\n    import numpy\n    res['numpy'] = float(numpy.ones((3, 3)).dot(numpy.ones(3)).sum())\n"
                "except ImportError:\n    res['numpy'] = 9.0\n"
                "print(json.dumps(res))\n")
        d = self.probe(code)
        with open("/etc/localtime", "rb") as f:
            host_tz = f.read()
        self.assertTrue(d["ssl"])
        self.assertEqual(d["mime"], "application/json")
        self.assertTrue(d["tz"] and host_tz, d)
        self.assertEqual(d["berlin"], "Europe/Berlin")
        self.assertEqual(d["sh"], "hi\n")
        self.assertEqual(d["sqlite"], 1)
        self.assertEqual(d["numpy"], 9.0)

    def test_tree_follows_the_host(self):
        """The jobs' /etc is a prepared copy: when the host's mime.types changes (as a package
        upgrade does), pyward-etc-view.path prepares it again and the next job sees the change."""
        ext = f"pwtest{os.getpid()}"
        with open("/etc/mime.types") as f:
            saved = f.read()

        def restore():
            with open("/etc/mime.types", "w") as f:
                f.write(saved)
        self.addCleanup(restore)
        with open("/etc/mime.types", "a") as f:
            f.write(f"application/x-{ext}\t{ext}\n")
        tree = "/run/pyward/etc-view/current/base/mime.types"
        self.assertTrue(wait_for(lambda: ext in open(tree).read(), 15),
                        "the jobs' /etc was not prepared again after /etc/mime.types changed")
        code = "import mimetypes, sys\nprint(mimetypes.guess_type('a.' + sys.argv[1])[0])\n"
        self.assertOk(self.run_job(code, args=[ext]), f"application/x-{ext}\n".encode())

    def test_what_remains_visible(self):
        """What pyward-helper(8) says a job still sees of the host: the kernel's release, the
        kernel's hostname, the CPU count, uptime and load through sysinfo(2); and what it says is
        hidden: /proc/cpuinfo, /proc/loadavg, /proc/meminfo (ProcSubset=pid)."""
        code = ("import ctypes, json, os, platform, socket\nres = {}\n"
                "res['release'] = platform.release()\nres['hostname'] = socket.gethostname()\n"
                "res['cpus'] = os.cpu_count()\n"
                "buf = ctypes.create_string_buffer(128)\n"
                "res['sysinfo'] = ctypes.CDLL(None, use_errno=True).sysinfo(buf)\n"
                "res['uptime'] = int.from_bytes(buf.raw[:8], 'little')\n"
                "for p in ('/proc/cpuinfo', '/proc/loadavg', '/proc/meminfo', '/proc/uptime'):\n"
                "    res[p] = os.path.exists(p)\n"
                "try:\n    res['loadavg'] = os.getloadavg()[0] >= 0\nexcept OSError as e:\n"
                "    res['loadavg'] = e.errno\n"
                "print(json.dumps(res))\n")
        d = self.probe(code)
        print(f"\n    [measured] visible to a job: {d}", file=sys.stderr)
        self.assertEqual(d["release"], os.uname().release)
        self.assertEqual(d["hostname"], socket.gethostname())
        self.assertEqual(d["cpus"], os.cpu_count())
        self.assertEqual(d["sysinfo"], 0)
        self.assertGreater(d["uptime"], 0)
        for p in ("/proc/cpuinfo", "/proc/loadavg", "/proc/meminfo", "/proc/uptime"):
            self.assertFalse(d[p], p)

    def test_cgroup_view_is_its_own(self):
        """While two jobs run at once, neither sees the other's unit or statistics, nor a host
        service, under /sys/fs/cgroup: that is the job's own cgroup directory, alone."""
        a_ready, results = threading.Event(), {}

        def run_a():
            results["a"] = pyward.run("import time\nprint('up', flush=True)\ntime.sleep(8)\n", timeout=60,
                                      on_stdout=lambda c: a_ready.set())

        walk = ("import json, os\nown = open('/proc/self/cgroup').read().splitlines()[-1].split('::', 1)[1]\n"
                "dirs = [r for r, _, _ in os.walk('/sys/fs/cgroup')]\n"
                "d = '/sys/fs/cgroup'\n"
                "procs = open(d + '/cgroup.procs').read().split()\n"
                "print(json.dumps({'own': own, 'dirs': dirs, 'procs': procs, 'pid': os.getpid(),"
                " 'files': sorted(os.listdir(d))}))\n")
        ta = threading.Thread(target=run_a)
        ta.start()
        try:
            self.assertTrue(a_ready.wait(30), "job A did not start")
            units = job_units()
            self.assertEqual(len(units), 1, units)
            a_unit = units[0]
            b = self.probe(walk)
        finally:
            ta.join(60)
        self.assertEqual(results["a"].status, "ok", results["a"].message)
        text = json.dumps(b["dirs"])
        self.assertNotIn(a_unit, text)
        self.assertNotIn(a_unit.split("-")[-1].split(".")[0], text)  # A's job id
        for host in ("system.slice", "init.scope", "user.slice"):
            self.assertNotIn(host, text)
        self.assertIn(str(b["pid"]), b["procs"])
        # Its own cgroup is /sys/fs/cgroup, alone (on 252 bound there; 257: a cgroup namespace).
        self.assertEqual(b["dirs"], ["/sys/fs/cgroup"])
        if systemd_version() >= 257:
            self.assertEqual(b["own"], "/")
        else:
            self.assertTrue(b["own"].startswith("/pyward.slice/pyward-job-"), b["own"])
        self.assertIn("cgroup.procs", b["files"])


if __name__ == "__main__":
    unittest.main()
