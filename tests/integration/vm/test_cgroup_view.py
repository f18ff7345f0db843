# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier for a job's cgroup view (issue #19): with the controllers enforced, the job's own
# /sys/fs/cgroup holds its own limits (a cgroup namespace on systemd 257, its own directory bound
# there on 252), which code that sizes itself from its cgroup reads; nothing else is in view.
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pwlib import PywardTestCase  # noqa: E402

MiB = 1024 * 1024

READ_OWN = ("import json, os\nres = {'dirs': [r for r, _, _ in os.walk('/sys/fs/cgroup')]}\n"
            "for f in ('memory.max', 'memory.swap.max', 'pids.max', 'cpu.max', 'memory.current'):\n"
            "    try:\n        res[f] = open('/sys/fs/cgroup/' + f).read().strip()\n"
            "    except OSError as e:\n        res[f] = e.errno\n"
            "res['cgroup'] = open('/proc/self/cgroup').read().strip()\n"
            "try:\n    open('/sys/fs/cgroup/memory.max', 'w').write('max')\n    res['write'] = 'written'\n"
            "except OSError as e:\n    res['write'] = e.errno\n"
            "print(json.dumps(res))\n")


class VmViewTests(PywardTestCase):
    @classmethod
    def setUpClass(cls):
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            missing = {"memory", "pids", "cpu"} - set(f.read().split())
        if missing:
            raise unittest.SkipTest(f"cgroup controllers missing: {sorted(missing)} (not the VM tier?)")

    def test_own_limits_readable(self):
        memory, tasks, quota = 96 * MiB, 23, 40
        res = self.run_job(READ_OWN, memory=memory, tasks=tasks, cpu_quota=quota, cpu_time=60, timeout=60)
        self.assertEqual((res.status, res.exit_code), ("ok", 0), (res.message, res.stderr))
        d = json.loads(res.stdout)
        print(f"\n    [measured] job's own cgroup: {d}", file=sys.stderr, flush=True)
        self.assertEqual(d["memory.max"], str(memory))
        self.assertEqual(d["memory.swap.max"], "0")
        self.assertEqual(d["pids.max"], str(tasks))
        self.assertEqual(d["cpu.max"], f"{quota * 1000} 100000")
        self.assertGreater(int(d["memory.current"]), 0)
        self.assertEqual(d["dirs"], ["/sys/fs/cgroup"])  # nothing but its own cgroup
        self.assertIn(d["write"], (1, 13, 30))  # EPERM EACCES EROFS: read-only


if __name__ == "__main__":
    unittest.main()
