# SPDX-License-Identifier: LGPL-2.1-or-later
# The rlimit layer of the limits, where the cgroup controllers are missing (the nspawn machines):
# a memory bomb meets LimitDATA=, a fork bomb LimitNPROC=; and the helper's write deadline.
import json
import os
import time
import unittest

from test_journal import documented_fields, fields_of
from pwlib import (ACCEPTED, RESULT, PywardTestCase, cgroup_controllers, connect, helper_units, job_units,
                   journal_since, request_frames, sh, wait_for)

MiB = 1024 * 1024


class RlimitTests(PywardTestCase):
    def test_memory_bomb_meets_limit_data(self):
        # bytearray(2 * limit): one allocation twice the limit. Where the memory controller is
        # missing only LimitDATA= can stop it: malloc fails, Python raises MemoryError, the job
        # exits 1 with it on stderr (status "exit": the helper reports what the process did, it
        # does not guess from stderr). With the controller (the VM tier) the same bomb ends "oom".
        limit = 64 * MiB
        code = ("import sys\ntry:\n    b = bytearray(%d)\n    b[::4096] = b'x' * len(b[::4096])\n"
                "    print('allocated', len(b))\nexcept MemoryError:\n    print('MemoryError')\n"
                "    sys.exit(3)\n" % (2 * limit))
        res = self.run_job(code, memory=limit, timeout=30)
        if "memory" in cgroup_controllers():
            self.assertIn(res.status, ("oom", "exit"), res)
            if res.status == "oom":
                return  # the cgroup layer acted first
        layer = "rlimit (LimitDATA=)"
        self.assertEqual((res.status, res.exit_code, res.stdout), ("exit", 3, b"MemoryError\n"),
                         f"layer expected to act: {layer}; stderr {res.stderr!r}")

    def test_no_memory_outside_the_address_space(self):
        """A memfd filled with write() and System V shared memory or message queues hold memory
        that no rlimit counts (a 64M job held 480 MiB each way before they were denied): the
        default filter refuses to create them, while POSIX shared memory (the bounded /dev/shm),
        ctypes callbacks and multiprocessing still work. A profile could allow them again."""
        code = ("import ctypes, errno, json, multiprocessing, os\nres = {}\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "def call(name, f):\n    try:\n        r = f()\n"
                "        res[name] = errno.errorcode[ctypes.get_errno()] if r == -1 else 'created'\n"
                "    except OSError as e:\n        res[name] = errno.errorcode[e.errno]\n"
                "call('memfd_create', lambda: os.memfd_create('x'))\n"
                "call('shmget', lambda: libc.shmget(0, 1 << 20, 0o1600))\n"
                "call('msgget', lambda: libc.msgget(0, 0o1600))\n"
                "from multiprocessing import shared_memory\n"
                "m = shared_memory.SharedMemory(create=True, size=1 << 20); m.buf[0] = 7\n"
                "res['posix_shm'] = m.buf[0]; m.close(); m.unlink()\n"
                "cb = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)\n"
                "res['callback'] = cb(41)\n"
                "if __name__ == '__main__':\n"
                "    with multiprocessing.get_context('fork').Pool(2) as p:\n"
                "        res['pool'] = sum(p.map(abs, [-1, -2, -3]))\n"
                "    print(json.dumps(res))\n")
        res = self.run_job(code, memory=64 * MiB, timeout=60)
        self.assertEqual((res.status, res.exit_code), ("ok", 0), res.stderr)
        self.assertEqual(json.loads(res.stdout), {"memfd_create": "EPERM", "shmget": "EPERM", "msgget": "EPERM",
                                                  "posix_shm": 7, "callback": 42, "pool": 6})

    def test_fork_bomb_meets_limit_nproc(self):
        # Children that stay a while; the parent forks until fork() fails. LimitNPROC=tasks counts
        # the job's UID (its own DynamicUser=), so fork() fails with EAGAIN at most at the limit.
        # (How fast the leftover children are killed is not asserted here: in a cgroup v1
        # container the manager may only notice them when they exit; the VM tier checks it.)
        tasks = 12
        code = ("import os, json, errno, time\nn, err = 0, None\nfor i in range(200):\n"
                "    try:\n        pid = os.fork()\n    except OSError as e:\n"
                "        err = errno.errorcode[e.errno]\n        break\n"
                "    if pid == 0:\n        time.sleep(3)\n        os._exit(0)\n    n += 1\n"
                "print(json.dumps([n, err]), flush=True)\n")
        res = self.run_job(code, tasks=tasks, timeout=20)
        self.assertEqual((res.status, res.exit_code), ("ok", 0), res)
        n, err = json.loads(res.stdout)
        layer = "cgroup (TasksMax=)" if "pids" in cgroup_controllers() else "rlimit (LimitNPROC=)"
        self.assertEqual(err, "EAGAIN", f"{n} children, then {err}; layer expected to act: {layer}")
        # the interpreter itself is one task of the limit
        self.assertLess(n, tasks, layer)
        self.assertGreaterEqual(n, tasks // 2, f"only {n} children before EAGAIN ({layer})")


class WriteDeadlineTests(PywardTestCase):
    def test_client_that_never_reads_is_given_up(self):
        # A flood no one reads, and a wall limit far beyond the helper's write deadline (30 s of
        # no progress): the helper gives up, stops the job ("the client disconnected") and exits.
        code = "import sys\nb = b'x' * 65536\nwhile True:\n    sys.stdout.buffer.write(b)\n"
        since = time.time()
        s = connect(timeout=120)
        try:
            s.sendall(request_frames(code, limits={"wall_time": 240 * 1000000, "output": 16 << 20},
                                     stdin=b""))
            self.assertTrue(wait_for(lambda: len(job_units()) == 1, 15), "job did not start")
            start = time.monotonic()
            gone = wait_for(lambda: not job_units() and not helper_units(), 60, interval=0.5)
            took = time.monotonic() - start
            self.assertTrue(gone, f"after 60 s: jobs {job_units()}, helpers {helper_units()}")
            self.assertGreater(took, 25, "given up before the write deadline")
            self.assertLess(took, 45)
            recs = [json.loads(l) for l in
                    sh("journalctl", "--no-pager", "-o", "json", f"--since=@{since:.6f}",
                       "PYWARD_EVENT=write-stall", check=True).stdout.splitlines() if l.strip()]
            self.assertEqual(len(recs), 1, recs)
            # Every field the write-stall record carries, and no other, is pyward-helper(8)'s list.
            self.assertEqual({k for k in recs[0] if k.startswith("PYWARD_")},
                             fields_of("write-stall", documented_fields()))
            self.assertEqual(recs[0]["PYWARD_EVENT"], "write-stall")
            self.assertEqual(len(recs[0].get("PYWARD_JOB", "")), 32, recs[0])
            status = journal_since(since, f"PYWARD_JOB={recs[0]['PYWARD_JOB']}", "PYWARD_STATUS=killed")
            self.assertIn("the client disconnected", status)
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
