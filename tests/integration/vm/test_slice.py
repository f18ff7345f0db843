# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier for pyward.slice (pyward-helper(8)): `systemctl set-property pyward.slice MemoryMax=`
# bounds all jobs together, below the sum of their own limits; and the CLI's exit status of an
# oom job (pyward(1): 128 + the signal), which needs the enforced memory controller.
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pwlib import CLI, PywardTestCase, cgroup_controllers, pyward, sh  # noqa: E402

MiB = 1024 * 1024
SLICE_CG = "/sys/fs/cgroup/pyward.slice"
SLICE_MAX = 160 * MiB
JOB_LIMIT, JOB_HOLDS, N_JOBS = 128 * MiB, 72 * MiB, 3  # each fits alone; together > SLICE_MAX

HOLD = ("import time\nb = bytearray(%d)\nb[::4096] = b'x' * len(range(0, len(b), 4096))\n"
        "print('held', flush=True)\ntime.sleep(%d)\nprint('done')\n")


class VmSliceTests(PywardTestCase):
    @classmethod
    def setUpClass(cls):
        missing = {"memory", "pids", "cpu"} - cgroup_controllers()
        if missing:
            raise unittest.SkipTest(f"cgroup controllers missing: {sorted(missing)} (not the VM tier?)")

    def run_together(self, hold_s):
        results, threads = {}, []

        def one(i):
            results[i] = pyward.run(HOLD % (JOB_HOLDS, hold_s), memory=JOB_LIMIT, cpu_time=60, timeout=90,
                                    client_timeout=180)

        for i in range(N_JOBS):
            threads.append(threading.Thread(target=one, args=(i,)))
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    with open(f"{SLICE_CG}/memory.current") as f:
                        peak[0] = max(peak[0], int(f.read()))
                except OSError:
                    pass
                stop.wait(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        stop.set()
        sampler.join()
        return results, peak[0]

    def test_slice_memory_max_bounds_all_jobs_together(self):
        # Control: without a slice limit the same jobs all fit (so what follows is the slice's doing).
        results, peak = self.run_together(6)
        self.assertEqual({i: r.status for i, r in results.items()}, {i: "ok" for i in range(N_JOBS)},
                         {i: (r.status, r.message) for i, r in results.items()})
        print(f"\n    [measured] {N_JOBS} jobs of {JOB_HOLDS // MiB} MiB without a slice limit: slice peak "
              f"{peak // MiB} MiB", file=sys.stderr, flush=True)
        sh("systemctl", "set-property", "--runtime", "pyward.slice", f"MemoryMax={SLICE_MAX}")
        self.addCleanup(sh, "systemctl", "set-property", "--runtime", "pyward.slice", "MemoryMax=infinity")
        with open(f"{SLICE_CG}/memory.max") as f:
            self.assertEqual(f.read().strip(), str(SLICE_MAX))
        results, peak = self.run_together(6)
        statuses = {i: r.status for i, r in results.items()}
        print(f"    [measured] with pyward.slice MemoryMax={SLICE_MAX // MiB}M: {statuses}, slice peak "
              f"{peak // MiB} MiB", file=sys.stderr, flush=True)
        # Together they need more than the slice allows: the kernel's OOM killer ends at least one,
        # and each job ends either ok or oom (nothing else); the slice never held more than its max.
        self.assertIn("oom", statuses.values(), statuses)
        self.assertTrue(set(statuses.values()) <= {"ok", "oom"}, statuses)
        self.assertLessEqual(peak, SLICE_MAX, f"slice held {peak} bytes, above MemoryMax={SLICE_MAX}")
        for r in results.values():
            if r.status == "ok":
                self.assertEqual(r.stdout, b"held\ndone\n")
        # A job alone still runs under the slice's limit.
        res = pyward.run(HOLD % (JOB_HOLDS, 0), memory=JOB_LIMIT, cpu_time=60, timeout=90)
        self.assertEqual((res.status, res.stdout), ("ok", b"held\ndone\n"), res.message)

    def test_cli_exit_status_of_oom_is_128_plus_signal(self):
        start = time.monotonic()
        p = subprocess.run([CLI, "--json", "--memory", "64M", "--cpu-time", "60", "-c",
                            "b = bytearray(%d)\nb[::4096] = b'x' * len(range(0, len(b), 4096))\n" % (128 * MiB)],
                           capture_output=True, timeout=180)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["status"], "oom", doc)
        sig = getattr(signal, doc["signal"]) if doc["signal"] else signal.SIGKILL
        self.assertEqual((p.returncode, doc["pyward_exit_status"]), (128 + sig, 128 + sig), doc)
        self.assertLess(time.monotonic() - start, 180)


if __name__ == "__main__":
    unittest.main()
