# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier of issue #16: where the memory controller charges shmem pages to the job's cgroup,
# jobs get memfd_create() and System V shared memory back, and MemoryMax= bounds them (oom); a
# segment left behind dies with the job's IPC namespace (PrivateIPC=). The nspawn tier (no
# controller) keeps them denied: test_limits_rlimit.py and test_compat.py.
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pwlib import PywardTestCase, cgroup_controllers, journal_since, note, systemd_version  # noqa: E402

MiB = 1024 * 1024
LIMIT = 100 * MiB

# The job's half of System V shared memory, with ctypes (Python has no shmget).
SHM = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
       "libc.shmget.restype = ctypes.c_int\nlibc.shmget.argtypes = (ctypes.c_int, ctypes.c_size_t, ctypes.c_int)\n"
       "libc.shmat.restype = ctypes.c_void_p\nlibc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)\n"
       "libc.shmctl.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_void_p)\n"
       "libc.shmdt.argtypes = (ctypes.c_void_p,)\n"
       "def segment(size):\n    i = libc.shmget(0, size, 0o1600)\n"
       "    if i < 0:\n        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))\n"
       "    a = libc.shmat(i, None, 0)\n"
       "    if a in (None, ctypes.c_void_p(-1).value):\n        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))\n"
       "    return i, a\n")


def meminfo(field):
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            if k == field:
                return int(v.split()[0]) * 1024
    raise KeyError(field)


class VmMemfdTests(PywardTestCase):
    @classmethod
    def setUpClass(cls):
        if "memory" not in cgroup_controllers():
            raise unittest.SkipTest("no memory controller (not the VM tier?)")

    def run_job(self, code, **kw):
        kw.setdefault("cpu_time", 60)  # TCG: the sandbox's setup alone can take seconds of CPU
        kw.setdefault("timeout", 120)
        return super().run_job(code, **kw)

    def assertOom(self, res, what):
        held = [int(x) for x in res.stdout.split() if x.isdigit()]
        note(f"{what}, memory=100M: status {res.status}, last MiB held {held[-1:]}, "
             f"memory_peak_bytes={res.memory_peak_bytes}")
        self.assertEqual(res.status, "oom", f"{res.message}; stdout {res.stdout[-300:]!r} stderr {res.stderr[-300:]!r}")
        self.assertLess(max(held, default=0), LIMIT // MiB, held)  # never a MiB beyond MemoryMax
        if systemd_version() >= 256:
            self.assertIsNotNone(res.memory_peak_bytes, res.memory_peak_reason)
            self.assertLessEqual(res.memory_peak_bytes, LIMIT)
        self.assertOk(self.run_job("print('after')"), b"after\n")  # the host and the pool are fine

    def test_memfd_mmap_bomb_ends_oom(self):
        """A 300 MiB memfd, mapped and touched a MiB at a time, in a 100M job: the pages are charged
        to the job's cgroup, MemoryMax= ends it (oom) before 100 MiB."""
        code = ("import mmap, os\nfd = os.memfd_create('bomb')\nos.ftruncate(fd, 300 << 20)\n"
                "m = mmap.mmap(fd, 300 << 20)\nfor i in range(300):\n"
                "    m[i << 20:(i + 1) << 20:4096] = b'x' * 256\n    print(i + 1, flush=True)\n")
        self.assertOom(self.run_job(code, memory=LIMIT), "memfd 300 MiB, mmap")

    def test_memfd_write_bomb_ends_oom(self):
        """write() into a memfd, which no rlimit bounds where the controller gave it back
        (LimitFSIZE=infinity): 300 MiB in a 100M job end oom."""
        code = ("import os, resource\nassert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY\n"
                "fd = os.memfd_create('bomb')\nb = b'x' * (1 << 20)\nfor i in range(300):\n"
                "    os.write(fd, b)\n    print(i + 1, flush=True)\n")
        self.assertOom(self.run_job(code, memory=LIMIT), "memfd 300 MiB, write()")

    def test_shm_bomb_ends_oom(self):
        """A 300 MiB System V segment, attached and touched a MiB at a time, in a 100M job: oom."""
        code = SHM + ("i, a = segment(300 << 20)\nfor n in range(300):\n"
                      "    ctypes.memset(a + (n << 20), 1, 1 << 20)\n    print(n + 1, flush=True)\n")
        self.assertOom(self.run_job(code, memory=LIMIT), "shmget 300 MiB, touched")

    def test_ordinary_use_works(self):
        """os.memfd_create + mmap of 1 MiB, and a 1 MiB segment removed by its job, work; message
        queues stay denied (EPERM), the journal says once what the filter does."""
        code = SHM + ("import errno, json, mmap\nfd = os.memfd_create('buf', os.MFD_CLOEXEC)\n"
                      "os.ftruncate(fd, 1 << 20)\nm = mmap.mmap(fd, 1 << 20)\nm[:5] = b'hello'\n"
                      "out = {'memfd': os.pread(fd, 5, 0).decode()}\n"
                      "i, a = segment(1 << 20)\nctypes.memmove(a, b'shm', 3)\nout['shm'] = ctypes.string_at(a, 3).decode()\n"
                      "libc.shmdt(a)\nlibc.shmctl(i, 0, None)\n"  # IPC_RMID
                      "libc.msgget.restype = ctypes.c_int\n"
                      "out['msgget'] = errno.errorcode.get(ctypes.get_errno(), '?') if libc.msgget(0, 0o1600) < 0 else 'ok'\n"
                      "print(json.dumps(out))\n")
        res = self.run_job(code, memory=LIMIT)
        self.assertOk(res)
        self.assertEqual(json.loads(res.stdout), {"memfd": "hello", "shm": "shm", "msgget": "EPERM"})
        said = journal_since(self.t0 - 3600, "--grep", "memfd_create")
        note(f"journal: {said.strip().splitlines()[-1:]}")
        self.assertIn("Memory controller for pyward.slice: jobs may use memfd_create()", said)

    def test_segment_left_behind_is_gone(self):
        """A job that leaves a 64 MiB segment behind (no IPC_RMID, not attached at its end): it
        lived in the job's own IPC namespace (PrivateIPC=), which ends with the unit; the host's
        shared memory comes back and no segment of the job's shows in the host's namespace."""
        before = meminfo("Shmem")
        code = SHM + ("i, a = segment(64 << 20)\nctypes.memset(a, 1, 64 << 20)\nlibc.shmdt(a)\n"
                      "b = libc.shmat(i, None, 0)\nprint(ctypes.string_at(b + (63 << 20), 1))\nlibc.shmdt(b)\n")
        res = self.run_job(code, memory=LIMIT)
        self.assertOk(res, b"b'\\x01'\n")  # detached, not removed: it outlives its mapping
        time.sleep(1)
        after = meminfo("Shmem")
        with open("/proc/sysvipc/shm") as f:
            host_segments = f.read().splitlines()[1:]  # key shmid perms size ...
        note(f"segment of 64 MiB left behind: Shmem before {before // 1024} KiB, after the job "
             f"{after // 1024} KiB (delta {(after - before) // 1024} KiB); host's segments: {host_segments!r}")
        self.assertLess(after - before, 16 * MiB)
        self.assertEqual([s for s in host_segments if s.split()[3] == str(64 * MiB)], [])

    def test_msg_queue_bomb_with_a_profile(self):
        """msgget stays denied by default (test_ordinary_use_works); a profile that allows it gets
        queues whose messages are charged to the job as well: 64 KiB messages into queues of 16 KiB
        (msgmnb) each, 300 MiB worth, in a 100M job end oom."""
        dropin = "/etc/pyward/pyward.conf.d/50-pwtest-msg.conf"
        os.makedirs(os.path.dirname(dropin), exist_ok=True)
        with open(dropin, "w") as f:
            f.write('[Profile "pwtest-msg"]\nSystemCallAllow=msgget\n')
        self.addCleanup(os.unlink, dropin)
        code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                "class Msg(ctypes.Structure):\n    _fields_ = [('type', ctypes.c_long), ('text', ctypes.c_char * 8192)]\n"
                "m = Msg(1, b'x' * 8192)\nn = 0\n"
                "for q in range(300 * 64):\n    i = libc.msgget(0, 0o1600)\n"
                "    if i < 0:\n        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))\n"
                "    for k in range(2):\n"
                "        if libc.msgsnd(i, ctypes.byref(m), 8192, 0o4000) < 0:\n"  # IPC_NOWAIT
                "            e = ctypes.get_errno(); raise OSError(e, os.strerror(e))\n"
                "    if q % 64 == 63:\n        print((q + 1) // 64, flush=True)\n")
        self.assertOom(self.run_job(code, memory=LIMIT, profile="pwtest-msg"), "msgget 300 MiB in 16 KiB queues")


if __name__ == "__main__":
    unittest.main()
