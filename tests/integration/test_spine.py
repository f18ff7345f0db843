# SPDX-License-Identifier: LGPL-2.1-or-later
# The spine end to end through the real socket and real systemd: a job's output, exit status,
# signals, argv, stdin, streaming, and the pyward CLI's options, JSON and exit codes.
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time

from pwlib import PywardTestCase, cli

MiB = 1024 * 1024


class JobTests(PywardTestCase):
    def test_hello_world(self):
        res = self.run_job('print("hello, world")')
        self.assertOk(res, b"hello, world\n")
        self.assertEqual(res.stderr, b"")
        self.assertEqual(res.signal, None)
        self.assertRegex(res.unit, r"^pyward-job-[A-Za-z0-9_-]+\.service$")
        self.assertTrue(res.job and res.job in res.unit, (res.job, res.unit))
        self.assertRegex(res.invocation_id, r"^[0-9a-f]{32}$")
        self.assertIsInstance(res.wall_ms, int)
        self.assertLess(res.wall_ms, 30000)

    def test_exit_codes(self):
        for code, status in ((0, "ok"), (3, "exit"), (255, "exit")):
            with self.subTest(code=code):
                res = self.run_job(f"import sys\nprint('bye')\nsys.exit({code})\n")
                self.assertEqual((res.status, res.exit_code, res.signal, res.stdout),
                                 (status, code, None, b"bye\n"))

    def test_uncaught_exception(self):
        code = "def f(x):\n    raise ValueError(f'boom {x}')\n\nf(7)\n"
        res = self.run_job(code, filename="boom.py")
        self.assertEqual((res.status, res.exit_code, res.stdout), ("exit", 1, b""))
        err = res.stderr.decode()
        self.assertRegex(err, r'File "[^"]*boom\.py", line 4, in <module>')
        self.assertRegex(err, r'File "[^"]*boom\.py", line 2, in f')
        self.assertTrue(err.rstrip().endswith("ValueError: boom 7"), err)

    def test_killed_by_signal(self):
        res = self.run_job("import os, signal\nprint('before', flush=True)\n"
                           "os.kill(os.getpid(), signal.SIGKILL)\nprint('after')\n")
        self.assertEqual((res.status, res.signal, res.stdout), ("signal", "SIGKILL", b"before\n"))
        self.assertIsNone(res.exit_code)

    def test_argv_exact(self):
        args = ["plain", "with space", "", "ünïcödé ✓ 日本", "--flag", "-c", "'\"$HOME\\"]
        res = self.run_job("import sys, json\nprint(json.dumps(sys.argv[1:]))\n", args=args)
        self.assertOk(res)
        self.assertEqual(json.loads(res.stdout), args)

    def test_no_args_and_filename(self):
        res = self.run_job("import sys, os\nprint(len(sys.argv), os.path.basename(sys.argv[0]))\n",
                           filename="prog.py")
        self.assertOk(res, b"1 prog.py\n")

    def test_stdin_hash(self):
        data = bytes(range(256)) * 4096 + b"\0\n\r\xff tail"  # ~1 MiB, every byte value
        res = self.run_job("import sys, hashlib\nd = sys.stdin.buffer.read()\n"
                           "print(len(d), hashlib.sha256(d).hexdigest())\n", stdin=data)
        self.assertOk(res, f"{len(data)} {hashlib.sha256(data).hexdigest()}\n".encode())

    def test_stdin_echo_binary_over_1mib(self):
        data = os.urandom(MiB + 12345)
        res = self.run_job("import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n",
                           stdin=data, output_max=4 * MiB)
        self.assertOk(res)
        self.assertEqual(len(res.stdout), len(data))
        self.assertTrue(res.stdout == data, "echoed stdin differs from what was sent")

    def test_empty_stdin_is_eof(self):
        res = self.run_job("import sys\nprint(repr(sys.stdin.read()))\n")
        self.assertOk(res, b"''\n")

    def test_stdout_stderr_apart_and_ordered(self):
        res = self.run_job("import sys\nfor i in range(200):\n"
                           "    print(f'out {i}', flush=True)\n"
                           "    print(f'err {i}', file=sys.stderr, flush=True)\n")
        self.assertOk(res)
        self.assertEqual(res.stdout, "".join(f"out {i}\n" for i in range(200)).encode())
        self.assertEqual(res.stderr, "".join(f"err {i}\n" for i in range(200)).encode())

    def test_output_streams_before_job_ends(self):
        seen = []

        def on_stdout(chunk):
            seen.append((time.monotonic(), bytes(chunk)))

        start = time.monotonic()
        res = self.run_job("import time\nprint('first', flush=True)\ntime.sleep(2)\nprint('second')\n",
                           on_stdout=on_stdout)
        end = time.monotonic()
        self.assertOk(res, b"first\nsecond\n")
        self.assertTrue(seen, "on_stdout was never called")
        first_at = next(t for t, c in seen if b"first" in c)
        self.assertGreaterEqual(end - first_at, 1.5,
                                f"'first' reached the client only {end - first_at:.2f}s before the end")
        self.assertEqual(b"".join(c for _, c in seen), b"first\nsecond\n")
        self.assertGreater(end - start, 2.0)

    def test_stderr_streams_before_job_ends(self):
        seen = []
        res = self.run_job("import sys, time\nprint('e1', file=sys.stderr, flush=True)\n"
                           "time.sleep(2)\nprint('e2', file=sys.stderr)\n",
                           on_stderr=lambda c: seen.append((time.monotonic(), bytes(c))))
        end = time.monotonic()
        self.assertEqual((res.status, res.stderr), ("ok", b"e1\ne2\n"))
        first_at = next(t for t, c in seen if b"e1" in c)
        self.assertGreaterEqual(end - first_at, 1.5)

    def test_10mib_output_complete(self):
        res = self.run_job("import sys\nblock = bytes(range(256)) * 4096\n"
                           "for _ in range(10):\n    sys.stdout.buffer.write(block)\n",
                           output_max=16 * MiB)
        self.assertOk(res)
        self.assertEqual(len(res.stdout), 10 * MiB)
        self.assertTrue(res.stdout == bytes(range(256)) * 4096 * 10, "10 MiB output corrupted")

    def test_result_resources(self):
        """cpu_ms and wall_ms measure the job: bounded below by what the job measured of itself
        and above by the interpreter's start and what the client saw. A wrong unit (µs, s), a
        wrong timestamp pair or the helper's own time in either would fall outside."""
        code = ("import json, time\nw0, c0 = time.monotonic(), time.process_time()\n"
                "x = sum(i * i for i in range(3_000_000))\nc1 = time.process_time()\n"
                "time.sleep(1.0)\n"
                "print(json.dumps({'x': x, 'cpu_ms': (c1 - c0) * 1000, 'wall_ms': (time.monotonic() - w0) * 1000}))\n")
        start = time.monotonic()
        res = self.run_job(code)
        client_ms = (time.monotonic() - start) * 1000
        self.assertOk(res)
        own = json.loads(res.stdout)
        self.assertEqual(own["x"], sum(i * i for i in range(3_000_000)))
        self.assertIsInstance(res.cpu_ms, int)
        self.assertIsInstance(res.wall_ms, int)
        # CPU: at least the loop the job timed itself, at most that plus the interpreter's start
        # and exit (a few hundred ms on a busy machine; 3 s is far from a unit error).
        self.assertGreaterEqual(res.cpu_ms, int(own["cpu_ms"]) - 1, (res.cpu_ms, own))
        self.assertLess(res.cpu_ms, own["cpu_ms"] + 3000, (res.cpu_ms, own))
        # Wall: the job's own span (the loop and the 1 s sleep, in which no CPU is used) at least,
        # more than its CPU time (one thread, and it slept), and within what the client waited.
        self.assertGreaterEqual(res.wall_ms, int(own["wall_ms"]) - 1, (res.wall_ms, own))
        # The unit's CPU time also holds the sandbox's setup before the execve() wall_ms starts
        # at (charged to the unit's cgroup: 108 ms of it once on a loaded 252), hence 700, not 1000.
        self.assertGreaterEqual(res.wall_ms, res.cpu_ms + 700, (res.wall_ms, res.cpu_ms))
        self.assertLessEqual(res.wall_ms, client_ms + 1, (res.wall_ms, client_ms))


class CliTests(PywardTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pwcli.")
        self.addCleanup(shutil.rmtree, self.dir)

    def test_dash_c(self):
        p = cli("-c", "print(6 * 7)")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, b"42\n", b""))

    def test_file_and_args(self):
        path = os.path.join(self.dir, "prog.py")
        with open(path, "w") as f:
            f.write("import sys, os\nprint(os.path.basename(sys.argv[0]), sys.argv[1:])\n"
                    "print('to stderr', file=sys.stderr)\nsys.exit(int(sys.argv[1]))\n")
        p = cli("-q", path, "5", "two words", "")
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (5, b"prog.py ['5', 'two words', '']\n", b"to stderr\n"))
        # Without -q the job's stderr still comes first and unchanged.
        p = cli(path, "0", "-q")
        self.assertEqual((p.returncode, p.stdout), (0, b"prog.py ['0', '-q']\n"))
        self.assertTrue(p.stderr.startswith(b"to stderr\n"), p.stderr)

    def test_stdin_passed_through(self):
        p = cli("-c", "import sys; print(sys.stdin.read().upper(), end='')", input=b"abc\ndef\n")
        self.assertEqual((p.returncode, p.stdout), (0, b"ABC\nDEF\n"))

    def test_exit_code_of_job(self):
        for code in (0, 1, 3, 255):
            with self.subTest(code=code):
                p = cli("-c", f"raise SystemExit({code})")
                self.assertEqual(p.returncode, code)

    def test_signal_is_128_plus_n(self):
        p = cli("-c", "import os; os.kill(os.getpid(), 9)")
        self.assertEqual(p.returncode, 137, p.stderr)
        p = cli("-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
        self.assertEqual(p.returncode, 128 + 15, p.stderr)

    def test_timeout_is_124(self):
        start = time.monotonic()
        p = cli("--timeout", "1", "-c", "import time; print('x', flush=True); time.sleep(30)")
        self.assertEqual((p.returncode, p.stdout), (124, b"x\n"), p.stderr)
        self.assertLess(time.monotonic() - start, 15)

    def test_bad_socket_is_125(self):
        p = cli("--socket", "/nonexistent/pyward.sock", "-c", "print(1)")
        self.assertEqual((p.returncode, p.stdout), (125, b""))
        self.assertIn(b"/nonexistent/pyward.sock", p.stderr)

    def test_bad_option_is_125(self):
        p = cli("--no-such-option", "-c", "print(1)")
        self.assertEqual((p.returncode, p.stdout), (125, b""))
        self.assertNotEqual(p.stderr, b"")

    def test_help(self):
        p = cli("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"--json", p.stdout)

    def test_json(self):
        p = cli("--json", "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(4)")
        self.assertEqual(p.returncode, 4, p.stderr)
        doc = json.loads(p.stdout)
        for key in ("status", "exit_code", "signal", "stdout", "stderr", "wall_ms", "cpu_ms",
                    "memory_peak_bytes", "unit", "invocation_id", "job", "message"):
            self.assertIn(key, doc)
        self.assertEqual((doc["status"], doc["exit_code"], doc["signal"], doc["stdout"], doc["stderr"]),
                         ("exit", 4, None, "out\n", "err\n"))
        self.assertRegex(doc["unit"], r"^pyward-job-.*\.service$")

    def test_json_signal(self):
        p = cli("--json", "-c", "import os; os.kill(os.getpid(), 9)")
        doc = json.loads(p.stdout)
        self.assertEqual((p.returncode, doc["status"], doc["signal"]), (137, "signal", "SIGKILL"))

    def test_concurrent_cli_runs(self):
        outs = {}

        def one(i):
            outs[i] = cli("-c", f"print({i} ** 3)")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual({i: (p.returncode, p.stdout) for i, p in outs.items()},
                         {i: (0, f"{i ** 3}\n".encode()) for i in range(4)})


if __name__ == "__main__":
    import unittest
    unittest.main()
