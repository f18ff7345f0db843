# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier of issue #15: a session's memory limit is the whole session's, enforced by the memory
# controller: a memory bomb in cell 3 ends the session with status oom, after two cells that ran,
# and nothing of it is left.
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pwlib import (PywardTestCase, cgroup_controllers, job_user_held, job_units, note, processes_of_uid,  # noqa: E402
                   pyward, systemd_version, wait_for)

MiB = 1024 * 1024
# 16 MiB at a time, each touched: no single allocation the VM's overcommit could refuse (a
# MemoryError would be the cell's error, not the session's end); the cgroup's limit stops it.
BOMB = ("held = []\nfor i in range(64):\n    b = bytearray(16 << 20)\n"
        "    b[::4096] = b'x' * len(range(0, len(b), 4096))\n    held.append(b)\nprint('survived')\n")


class VmSessionOomTests(PywardTestCase):
    @classmethod
    def setUpClass(cls):
        if "memory" not in cgroup_controllers():
            raise unittest.SkipTest("no memory controller (not the VM tier?)")

    def test_memory_bomb_in_cell_3_ends_oom(self):
        limit = 64 * MiB
        # TCG: the sandbox's setup and each cell are slow; the limits under test are memory's.
        s = pyward.Session(memory=limit, timeout=120, cpu_time=60)
        try:
            r = s.run("import os\nkept = 'state'\nos.getuid()")
            self.assertEqual(r.status, "ok", r.traceback)
            uid = int(r.value)
            r = s.run("small = bytearray(8 << 20)\nlen(small)")
            self.assertEqual((r.status, r.value), ("ok", str(8 << 20)), r.traceback)
            with self.assertRaises(pyward.SessionEnded) as cm:
                r = s.run(BOMB)
                self.fail(f"cell 3 answered: {r.status} {r.error_type}: {r.error_message} {r.message} {r.stdout!r}")
        finally:
            if s.result is None:
                try:
                    s.close()
                except Exception:  # noqa: BLE001 - the session is gone: what the test saw counts
                    pass
        res = cm.exception.result
        note(f"memory bomb in cell 3, memory=64M: status {res.status}, message {res.message!r}, "
             f"memory_peak_bytes={res.memory_peak_bytes}, cells={getattr(res, 'cells', None)}")
        self.assertEqual(res.status, "oom", f"{res.message}; stderr {res.stderr[-300:]!r}")
        self.assertNotIn(b"survived", res.stdout)
        self.assertEqual(getattr(res, "cells", None), 2, "cells that answered before the bomb")
        if systemd_version() >= 256:
            self.assertIsNotNone(res.memory_peak_bytes, res.memory_peak_reason)
            self.assertLessEqual(res.memory_peak_bytes, limit)
        gone = wait_for(lambda: not job_units() and not processes_of_uid(uid) and not job_user_held(uid), 15)
        self.assertTrue(gone, (job_units(), processes_of_uid(uid), job_user_held(uid)))


if __name__ == "__main__":
    unittest.main()
