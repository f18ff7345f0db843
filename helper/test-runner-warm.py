# SPDX-License-Identifier: LGPL-2.1-or-later
# A warm runner (helper/runner.py with fd 0 a listening socket; helper/channel.h): the modules of
# $PYWARD_PRELOAD imported before its channel is accepted (and never on the cold path), the peer's
# uid checked, CH_STDIO x2 and CH_LIMITS first (the code's RLIMIT_CPU, the runner's own wall-clock
# backstop), then the one-shot job and a session as cold. runnerpeer.py plays the helper's side.
# Usage: test-runner-warm.py RUNNER.PY [unittest arguments]
import os
import signal
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runnerpeer import CODE, END, GO_COLLECT, GO_DISCOVER, LIMITS, STDIO, Session, message, request, run  # noqa: E402

PRELOAD_PROBE = (b"import os, sys\n"
                 b"print(sorted(m for m in ('json', 'colorsys', 'pyward_no_such_module') if m in sys.modules))\n"
                 b"print('PYWARD_PRELOAD' in os.environ)\n")


def env(**kv):
    e = {k: v for k, v in os.environ.items() if k != "PYWARD_PRELOAD"}
    e.update(kv)
    return e


class Job(unittest.TestCase):
    def test_output_through_the_passed_pipes(self):
        r = run(b"import os, sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(5)\n", warm=True)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (5, b"out\n", b"err\n"))
        self.assertEqual((r.runner_stdout, r.runner_stderr), (b"", b""))
        self.assertEqual(r.messages, [])

    def test_argv_and_stdin(self):
        r = run(b"import sys\nprint(sys.argv)\nprint(repr(sys.stdin.read()))\n", [b"a", b"$HOME", b""],
                stdin=b"in\xc3\xa4put", warm=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "[%r, 'a', '$HOME', '']\n'inäput'\n" % os.path.join(r.dir, "main.py"))

    def test_only_the_standard_fds(self):
        # The listener, the channel, the fds of STDIO and GO are not the code's.
        r = run(b"import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))\n"
                b"print([os.fstat(f).st_mode >> 12 for f in (0, 1, 2)])\n", extra_fd=True, warm=True)
        self.assertEqual(r.stdout, b"[0, 1, 2, 3]\n%r\n" % ([stat.S_IFIFO >> 12] * 3), r.stderr)

    def test_signal_passes_through(self):
        r = run(b"import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", warm=True)
        self.assertEqual(r.returncode, -signal.SIGTERM)

    def test_collect(self):
        r = run(b"open('out.txt', 'w').write('hi')\n", flags=GO_COLLECT, warm=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.messages, [("FILE", b"out.txt", 0o644, b"hi"), ("DONE", 0)])

    def test_discovery(self):
        r = run(b"", flags=GO_DISCOVER, with_fd=False, warm=True)
        self.assertEqual((r.returncode, r.stdout, r.stderr, r.runner_stderr), (0, b"", b"", b""))
        self.assertEqual([m[0] for m in r.messages], ["INFO"])
        self.assertTrue(r.messages[0][1].startswith(b"python="), r.messages)


class Preload(unittest.TestCase):
    def test_preloaded_and_hidden(self):
        r = run(PRELOAD_PROBE, warm=True, env=env(PYWARD_PRELOAD="json,,pyward_no_such_module,colorsys,"))
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertEqual(r.stdout, b"['colorsys', 'json']\nFalse\n")
        self.assertEqual(r.runner_stderr, b"")

    def test_import_output_is_not_the_jobs(self):
        # "this" prints at import: before CH_STDIO, to the runner's own stdout, flushed there.
        r = run(b"import sys\nprint('this' in sys.modules)\n", warm=True, env=env(PYWARD_PRELOAD="this"))
        self.assertEqual((r.returncode, r.stdout), (0, b"True\n"), r.stderr)
        self.assertIn(b"The Zen of Python", r.runner_stdout)

    def test_cold_imports_nothing(self):
        r = run(PRELOAD_PROBE, env=env(PYWARD_PRELOAD="json,colorsys"))
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertEqual(r.stdout, b"[]\nFalse\n")



class Limits(unittest.TestCase):
    def test_cpu_seconds(self):
        # The soft limit at 1 s (SIGXCPU: cpu-limit), the hard one a second later, as the unit's
        # LimitCPUSoft=/LimitCPU=; the runner raises the signal again.
        r = run(b"while True:\n    pass\n", warm=True, limit=(1, 0))
        self.assertEqual(r.returncode, -signal.SIGXCPU, r.stderr)
        self.assertLess(r.seconds, 30)

    def test_cpu_is_the_codes_alone(self):
        r = run(b"import resource\nprint(resource.getrlimit(resource.RLIMIT_CPU))\n", warm=True, limit=(7, 0))
        self.assertEqual((r.returncode, r.stdout), (0, b"(7, 8)\n"), r.stderr)  # soft, and hard a second later

    def test_limits_leave_no_module(self):
        # limit_cpu()'s resource module was imported while the runner waited, not by the code:
        # the code's sys.modules does not have it, unless a preloaded module brought it.
        probe = b"import sys\nprint('resource' in sys.modules)\n"
        r = run(probe, warm=True, limit=(7, 0, 5))
        self.assertEqual((r.returncode, r.stdout), (0, b"False\n"), r.stderr)
        r = run(probe, warm=True, limit=(7, 0, 5), env=env(PYWARD_PRELOAD="resource"))
        self.assertEqual((r.returncode, r.stdout), (0, b"True\n"), r.stderr)

    def test_nproc(self):
        r = run(b"import resource\nprint(resource.getrlimit(resource.RLIMIT_NPROC))\n", warm=True, limit=(0, 0, 5))
        self.assertEqual((r.returncode, r.stdout), (0, b"(5, 5)\n"), r.stderr)

    def test_wall_usec(self):
        r = run(b"import time\nprint('started', flush=True)\ntime.sleep(30)\n", warm=True, limit=(0, 300000),
                kills=True)
        self.assertEqual((r.returncode, r.stdout, r.left), (-signal.SIGKILL, b"started\n", 0))
        self.assertLess(r.seconds, 5)

    def test_helper_gone_ends_the_job(self):
        # No BindsTo= on a warm runner's unit: the channel's end is its helper's death.
        r = run(b"import time\nprint('started', flush=True)\ntime.sleep(30)\n", warm=True, kills=True,
                hangup_on=b"started")
        self.assertEqual((r.returncode, r.stdout, r.left), (-signal.SIGKILL, b"started\n", 0))
        self.assertLess(r.seconds, 5)
        # A cold runner's unit is bound to its helper's: the runner itself lets the code run on.
        r = run(b"import time\nprint('started', flush=True)\ntime.sleep(0.5)\nprint('done')\n", kills=True,
                hangup_on=b"started")
        self.assertEqual((r.returncode, r.stdout), (0, b"started\ndone\n"))

    def test_wall_usec_collects_as_on_stop(self):
        r = run(b"open('a', 'w').write('x')\nimport time\ntime.sleep(30)\n", flags=GO_COLLECT, warm=True,
                limit=(0, 300000))
        self.assertEqual(r.returncode, -signal.SIGKILL)
        self.assertEqual(r.messages, [("FILE", b"a", 0o644, b"x"), ("DONE", 0)])
        self.assertLess(r.seconds, 5)

    def test_none(self):
        r = run(b"import resource\nprint(resource.getrlimit(resource.RLIMIT_CPU)[0] == resource.RLIM_INFINITY)\n",
                warm=True, limit=(0, 0))
        self.assertEqual((r.returncode, r.stdout), (0, b"True\n"), r.stderr)


class WarmSession(unittest.TestCase):
    def test_cells(self):
        s = Session(warm=True, limit=(3, 0))
        try:
            self.assertEqual(s.cell(b"import resource\nx = resource.getrlimit(resource.RLIMIT_CPU)\nprint('hi')\n")[1],
                             {"status": "ok"})
            self.assertEqual(s.cell(b"x")[1], {"status": "ok", "value": "(3, 4)"})
            s.send(END)
        finally:
            status = s.close()
        self.assertEqual(status, (0, 0))
        self.assertEqual((bytes(s.stdout), bytes(s.runner_stderr)), (b"hi\n", b""))

    def test_wall_usec(self):
        s = Session(warm=True, limit=(0, 300000))
        try:
            self.assertEqual(s.cell(b"1")[1], {"status": "ok", "value": "1"})
            s.send_cell(b"import time\ntime.sleep(30)\n")
            start = time.monotonic()
            with self.assertRaises(EOFError):
                s.result(timeout=10)
            self.assertLess(time.monotonic() - start, 5)
        finally:
            status = s.close()
        self.assertEqual(status, (-signal.SIGKILL, 0))


class Errors(unittest.TestCase):
    def assertRunnerError(self, r, text):
        self.assertEqual((r.returncode, r.stdout), (1, b""))
        self.assertTrue(r.runner_stderr.startswith(b"pyward runner: "), r.runner_stderr)
        self.assertIn(text, r.runner_stderr)
        self.assertFalse(os.path.exists(os.path.join(r.dir, "main.py")))  # nothing ran

    def test_code_before_stdio(self):
        r = run(None, warm=True, prelude=b"", send=request(b"open('ran', 'w')\n"))
        self.assertRunnerError(r, b"channel message %#x where STDIO was expected" % CODE)

    def test_eof_after_accept(self):
        r = run(None, warm=True, prelude=b"", send=b"")
        self.assertRunnerError(r, b"the channel ended before STDIO")

    def test_eof_before_go(self):
        r = run(None, warm=True, send=request(b"open('ran', 'w')\n"))
        self.assertEqual((r.returncode, r.runner_stderr), (1, b""))
        self.assertEqual(r.stderr, b"pyward runner: the channel ended before GO\n")
        self.assertFalse(os.path.exists(os.path.join(r.dir, "ran")))

    def test_stdio_without_fd(self):
        r = run(None, warm=True, prelude=message(STDIO, (1).to_bytes(4, "little")), send=b"")
        self.assertRunnerError(r, b"a STDIO that is not fd 1's or came without it")

    def test_stderr_first(self):
        r = run(None, warm=True, prelude=message(STDIO, (2).to_bytes(4, "little")), send=b"")
        self.assertRunnerError(r, b"not fd 1's")

    def test_limits_size(self):
        for n in (0, 16, 25):
            r = run(None, warm=True, limit=message(LIMITS, bytes(n)), send=request(b"open('ran', 'w')\n"))
            self.assertEqual((r.returncode, r.stdout), (1, b""))
            self.assertEqual(r.stderr, b"pyward runner: LIMITS of %d bytes\n" % n)  # fd 2 is the job's by now

    def test_peer_not_root(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to connect as another uid")
        r = run(None, warm=True, peer_uid=65534, send=request(b"open('ran', 'w')\n"))
        self.assertRunnerError(r, b"the runner channel's peer is uid 65534, not root")


if __name__ == "__main__":
    unittest.main(verbosity=2)
