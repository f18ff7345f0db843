# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier of issue #22: with the memory controller, MemoryMax= charges what no rlimit counts
# (shared anonymous mappings, tmpfs inodes); LimitAS= is then infinity and the cgroup acts (oom).
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pwlib import PywardTestCase, cgroup_controllers, note, sh, systemd_version  # noqa: E402

MiB = 1024 * 1024
BYTES_PER_INODE = 16384  # JOB_BYTES_PER_INODE in helper/unit-props.h


class VmMemoryBoundTests(PywardTestCase):
    @classmethod
    def setUpClass(cls):
        if "memory" not in cgroup_controllers():
            raise unittest.SkipTest("no memory controller (not the VM tier?)")

    def run_job(self, code, **kw):
        kw.setdefault("cpu_time", 60)  # TCG: the sandbox's setup alone can take seconds of CPU
        return super().run_job(code, **kw)

    def check_peak(self, res, limit):
        if systemd_version() >= 256:
            self.assertIsNotNone(res.memory_peak_bytes, res.memory_peak_reason)
            self.assertLessEqual(res.memory_peak_bytes, limit, res.memory_peak_bytes)

    def test_shared_mappings_end_oom_within_memory_max(self):
        """The issue's job: sixteen shared anonymous mappings of 128 MiB, touched, 64M limit. The
        controller charges shared pages to the job: the first mapping meets MemoryMax=, status
        oom, and the job never held more than MemoryMax."""
        limit = 64 * MiB
        code = ("import mmap\nms = []\nfor i in range(16):\n    m = mmap.mmap(-1, 128 << 20)\n"
                "    m[::4096] = b'x' * len(range(0, len(m), 4096))\n    ms.append(m)\n"
                "    print(len(ms), flush=True)\nprint('held', 128 * len(ms))\n")
        res = self.run_job(code, memory=limit, timeout=120)
        note(f"16 x mmap(-1, 128M), memory=64M: status {res.status}, stdout {res.stdout!r}, "
             f"memory_peak_bytes={res.memory_peak_bytes}")
        self.assertEqual(res.status, "oom", f"{res.message}; stdout {res.stdout!r} stderr {res.stderr[-300:]!r}")
        self.assertEqual(res.stdout, b"")  # not even the first 128 MiB mapping was filled
        self.check_peak(res, limit)

    def test_limits_with_the_controller(self):
        """LimitAS= is infinity where MemoryMax= holds (reserved address space costs nothing the
        cgroup does not see); nr_inodes= is the same as without the controller, and the inode
        flood stays within MemoryMax (the inodes are charged to the job as well)."""
        limit = 64 * MiB
        code = ("import errno, json, os, resource\nres = {'as': resource.getrlimit(resource.RLIMIT_AS)[0]}\n"
                "for d in ('/tmp', '/var/tmp', '/dev/shm'):\n    res[d] = [os.statvfs(d).f_files]\n"
                "    n = 0\n    try:\n        while True:\n"
                "            os.close(os.open(f'{d}/f{n}', os.O_CREAT | os.O_WRONLY, 0o600)); n += 1\n"
                "    except OSError as e:\n        res[d] += [n, errno.errorcode[e.errno]]\n"
                "print(json.dumps(res))\n")
        res = self.run_job(code, memory=limit, timeout=120)
        note(f"inode flood, memory=64M: {res.stdout!r}, memory_peak_bytes={res.memory_peak_bytes}")
        self.assertEqual((res.status, res.exit_code), ("ok", 0), f"{res.message} {res.stderr[-300:]!r}")
        got = json.loads(res.stdout)
        self.assertEqual(got.pop("as"), -1)  # RLIM_INFINITY
        for d, (files, n, err) in got.items():
            self.assertEqual((files, err), (limit // BYTES_PER_INODE, "ENOSPC"), d)
            self.assertGreaterEqual(n, files - 8, d)
        self.check_peak(res, limit)


if __name__ == "__main__":
    unittest.main()
