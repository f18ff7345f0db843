# SPDX-License-Identifier: LGPL-2.1-or-later
# The job's runner (helper/runner.py) as a one-shot job without files meets it: argv and stdin,
# the exit status and signals, the traceback, the fds the code gets, a channel that ends early or
# comes out of order; and a discovery run's INFO. runnerpeer.py plays the helper's side; the
# input and output files are test-runner-files.py's, sessions test-runner-session.py's.
# Usage: test-runner.py RUNNER.PY [unittest arguments]
import os
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runnerpeer import CODE, FILENAME, GO_DISCOVER, message, request, run  # noqa: E402


class Today(unittest.TestCase):
    """What a job without files or COLLECT did with bootstrap.py, unchanged."""

    def test_argv_and_stdin(self):
        r = run(b"import sys\nprint(sys.argv)\nprint(repr(sys.stdin.read()))\n", [b"a", b"$HOME", b""],
                stdin=b"in\xc3\xa4put")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "[%r, 'a', '$HOME', '']\n'inäput'\n" % os.path.join(r.dir, "main.py"))
        self.assertEqual(r.messages, [])  # no COLLECT: nothing on the channel

    def test_exit_code(self):
        self.assertEqual(run(b"import sys\nsys.exit(7)\n").returncode, 7)

    def test_sys_exit_message(self):
        r = run(b"import sys\nsys.exit('bye')\n")
        self.assertEqual((r.returncode, r.stderr), (1, b"bye\n"))

    def test_traceback_starts_at_the_job_file(self):
        r = run(b"x = 1\n\ndef f():\n    raise ValueError('boom')\nf()\n", filename=b"prog.py")
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1)
        self.assertIn('prog.py", line 5', err)
        self.assertIn("line 4, in f", err)
        self.assertTrue(err.startswith("Traceback (most recent call last):\n"), err)
        self.assertTrue(err.endswith("ValueError: boom\n"), err)
        self.assertNotIn("runpy", err)
        self.assertNotIn("<string>", err)
        self.assertNotIn("runner", err)

    def test_syntax_error(self):
        r = run(b"def broken(:\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"SyntaxError", r.stderr)

    def test_main_and_file(self):
        r = run(b"import sys\nprint(__name__, __file__.endswith('/main.py'), sys.dont_write_bytecode)\n")
        self.assertEqual(r.stdout, b"__main__ True False\n")

    def test_signal_passes_through(self):
        self.assertEqual(run(b"import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n").returncode, -9)
        self.assertEqual(run(b"import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n").returncode, -15)

    def test_only_the_standard_fds(self):
        # The channel, GO's fd and any other fd that came along are not the code's.
        r = run(b"import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd'))[:3])\n"
                b"print(os.fstat(0).st_mode >> 12, os.get_inheritable(0))\n", extra_fd=True)
        self.assertEqual(r.stdout, b"[0, 1, 2]\n%d True\n" % (stat.S_IFIFO >> 12), r.stderr)
        r = run(b"import os\nprint(len(os.listdir('/proc/self/fd')))\n", extra_fd=True)
        self.assertEqual(r.stdout, b"4\n")  # 0, 1, 2 and listdir's own

    def test_channel_ends_early(self):
        wire = request(b"print('never')\n")
        r = run(None, send=wire[:-3])
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith(b"pyward runner: the channel ended before"), r.stderr)
        self.assertEqual(r.stdout, b"")

    def test_go_without_stdin(self):
        r = run(b"print('never')\n", with_fd=False)
        self.assertEqual((r.returncode, r.stdout), (1, b""))
        self.assertEqual(r.stderr, b"pyward runner: GO came without the job's stdin\n")

    def test_out_of_order(self):
        r = run(None, send=message(FILENAME, b"main.py") + message(CODE, b""))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"where CODE was expected", r.stderr)


class Discovery(unittest.TestCase):
    def test_info(self):
        r = run(b"", flags=GO_DISCOVER, with_fd=False)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""))
        self.assertEqual(len(r.messages), 1)
        self.assertEqual(r.messages[0][0], "INFO")
        lines = r.messages[0][1].decode().splitlines()
        info = subprocess.run([sys.executable, "-I", "-c", "import sys; print(sys.version.split()[0]); "
                               "print('\\n'.join(p for p in sys.path if p))"],
                              capture_output=True, text=True).stdout.splitlines()
        self.assertEqual(lines[0], "python=" + info[0])
        sitedirs = [l[8:] for l in lines if l.startswith("sitedir=")]
        self.assertEqual(sitedirs, [p for p in info[1:] if os.path.isdir(p)])
        packages = [l[8:] for l in lines if l.startswith("package=")]
        names = [p.split(" ")[0].lower().replace("_", "-").replace(".", "-") for p in packages]
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(names), len(set(names)))
        self.assertTrue(all(len(p.split(" ")) == 2 for p in packages), packages)
        self.assertEqual(len(lines), 1 + len(sitedirs) + len(packages))


if __name__ == "__main__":
    unittest.main(verbosity=2)
