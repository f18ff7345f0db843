# SPDX-License-Identifier: LGPL-2.1-or-later
# The runner in a session (runner-session.py before helper/runner.py): cells in one interpreter,
# their values and tracebacks, CH_INTERRUPT, SystemExit, CH_STOP and CH_END, each cell's input
# files and collection, and the runner's overhead per cell. runnerpeer.py's Session plays the
# helper's side.
# Usage: test-runner-session.py RUNNER.PY [unittest arguments]
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runnerpeer import CELL_COLLECT, END, INTERRUPT, STOP, SYMLINK, Session  # noqa: E402


class Sessions(unittest.TestCase):
    def setUp(self):
        self.s = Session()

    def tearDown(self):
        if self.s.p.poll() is None:
            self.s.send(STOP)
            self.s.close()

    def end(self):
        self.s.send(END)
        return self.s.close()

    def test_state_value_and_end(self):
        s = self.s
        self.assertEqual(s.cell(b"x = 41\nimport math\n"), ([], {"status": "ok"}))
        self.assertEqual(s.cell(b"x + 1")[1], {"status": "ok", "value": "42"})
        self.assertEqual(s.cell(b"_ * 2, math.pi > 3")[1]["value"], "(84, True)")  # _ as the REPL sets it
        self.assertEqual(s.cell(b"print('hi')\nNone")[1], {"status": "ok"})  # None: no value
        self.assertTrue(s.wait_stdout(b"hi\n"))
        self.assertEqual(s.cell(b"'a\\nb\\\\' + chr(0)")[1]["value"], r"'a\nb\\\x00'")
        self.assertEqual(s.cell(b"import sys\n__name__, sys.argv, input.__name__")[1]["value"],
                         "('__main__', [''], 'input')")
        r = s.cell(b"input()")[1]
        self.assertEqual((r["status"], r["error_type"]), ("error", "EOFError"))
        self.assertEqual(s.cell(b"'x' * 100000")[1], {"status": "ok", "value": "'" + "x" * 16383,
                                                      "value_truncated": "1"})
        self.assertEqual(s.cell(b"[n for n in globals() if not n.startswith('__')]")[1]["value"],
                         "['x', 'math', 'sys']")  # nothing of the runner's
        self.assertEqual(self.end(), (0, 0))
        self.assertEqual(s.stderr, b"")

    def test_traceback_starts_at_the_cell(self):
        s = self.s
        s.cell(b"def f(n):\n    return 1 / n\n")
        r = s.cell(b"y = 1\nf(0)\n")[1]
        self.assertEqual((r["status"], r["error_type"], r["error_message"]),
                         ("error", "ZeroDivisionError", "division by zero"))
        self.assertTrue(r["traceback"].startswith('Traceback (most recent call last):\n  File "<cell 2>", line 2, '
                                                  'in <module>\n    f(0)\n'), r["traceback"])
        self.assertIn('File "<cell 1>", line 2, in f\n    return 1 / n\n', r["traceback"])
        self.assertTrue(r["traceback"].endswith("ZeroDivisionError: division by zero\n"), r["traceback"])
        self.assertNotIn("<string>", r["traceback"])
        r = s.cell(b"def broken(:\n")[1]
        self.assertEqual(r["error_type"], "SyntaxError")
        self.assertTrue(r["traceback"].startswith('  File "<cell 3>", line 1\n    def broken(:\n'), r["traceback"])
        r = s.cell(b"import json\njson.loads('{')")[1]
        self.assertEqual(r["error_type"], "json.decoder.JSONDecodeError")
        self.assertTrue(r["traceback"].startswith('Traceback (most recent call last):\n  File "<cell 4>", line 2'))
        r = s.cell(b"class E(Exception):\n    pass\nraise E('x' * 10000)")[1]
        self.assertEqual((r["error_type"], len(r["error_message"])), ("E", 4096))
        self.assertEqual(s.cell(b"y")[1]["value"], "1")  # the state survived the errors
        self.assertEqual(self.end(), (0, 0))

    def test_interrupt(self):
        s = self.s
        s.cell(b"n = 1")
        for code in (b"while True: pass\n", b"import time\ntime.sleep(1000)\n"):
            s.send_cell(code)
            time.sleep(0.2)
            s.send(INTERRUPT)
            r = s.result()[1]
            self.assertEqual((r["status"], r["error_type"]), ("error", "KeyboardInterrupt"), r)
            self.assertTrue(r["traceback"].startswith('Traceback (most recent call last):\n  File "<cell'), r)
        # At once after the cell: never lost, whatever the kernel was doing.
        s.send_cell(b"while True: pass\n")
        s.send(INTERRUPT)
        self.assertEqual(s.result()[1]["error_type"], "KeyboardInterrupt")
        # Between cells: ignored, and not kept for the next cell.
        s.send(INTERRUPT)
        time.sleep(0.1)
        self.assertEqual(s.cell(b"import time\ntime.sleep(0.2)\nn + 1")[1], {"status": "ok", "value": "2"})
        self.assertEqual(self.end(), (0, 0))

    def test_cell_catching_the_interrupt_keeps_running(self):
        s = self.s
        s.send_cell(b"import time\nwhile True:\n    try:\n        print('ready', flush=True)\n        time.sleep(1000)\n"
                    b"    except KeyboardInterrupt:\n        print('caught', flush=True)\n")
        self.assertTrue(s.wait_stdout(b"ready\n"))
        s.send(INTERRUPT)
        self.assertTrue(s.wait_stdout(b"caught\n"))
        s.helper.settimeout(0.5)
        with self.assertRaises(socket.timeout):  # no result: the runner waits; the helper's grace decides
            s.helper.recv(1)
        s.send(STOP)
        code, left = s.close()
        self.assertEqual((code, left), (-9, 0))

    def test_system_exit(self):
        s = self.s
        s.cell(b"import atexit\natexit.register(print, 'bye')\n")
        s.send_cell(b"raise SystemExit(3)")
        self.assertEqual(s.close(), (3, 0))
        self.assertEqual(s.stdout, b"bye\n")
        self.assertEqual(s.rest, b"")  # no CELL_RESULT

    def test_system_exit_message_and_kernel_death(self):
        s = self.s
        s.send_cell(b"import sys\nsys.exit('gone')")
        self.assertEqual(s.close(), (1, 0))
        self.assertEqual(s.stderr, b"gone\n")
        self.s = s = Session()
        s.send_cell(b"import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        self.assertEqual(s.close(), (-9, 0))

    def test_stop_kills_everything(self):
        s = self.s
        s.cell(b"import subprocess\np = subprocess.Popen(['sleep', '1000'])\n")
        s.send_cell(b"import time\ntime.sleep(1000)")
        time.sleep(0.1)
        s.send(STOP)
        self.assertEqual(s.close(), (-9, 0))

    def test_end_after_the_running_cell(self):
        s = self.s
        s.send_cell(b"import time\ntime.sleep(0.3)\n'done'")
        s.send(END)
        self.assertEqual(s.result()[1], {"status": "ok", "value": "'done'"})
        self.assertEqual(s.close(), (0, 0))

    def test_end_kills_what_is_left(self):
        s = self.s
        s.cell(b"import subprocess\np = subprocess.Popen(['sleep', '1000'])\n")
        self.assertEqual(self.end(), (0, 0))

    def test_input_files_replace(self):
        s = self.s
        self.assertEqual(s.cell(b"open('a.txt').read()", files=[(b"a.txt", b"one", False)])[1]["value"], "'one'")
        s.cell(b"import os\nos.symlink('/etc/passwd', 'link')\nos.mkdir('d')")
        r = s.cell(b"import os, stat\n(open('a.txt').read(), open('link').read(), oct(os.stat('x/run').st_mode), "
                   b"open('d/f').read(), os.path.islink('link'))",
                   files=[(b"a.txt", b"two", False), (b"link", b"not through", False), (b"x/run", b"#!", True),
                          (b"d/f", b"", False)])[1]
        self.assertEqual(r, {"status": "ok", "value": "('two', 'not through', '0o100700', '', False)"})
        with open("/etc/passwd", "rb") as f:
            self.assertNotEqual(f.read(), b"not through")
        # A file that cannot be written: that cell is an error and runs nothing; the session goes on.
        r = s.cell(b"print('never')", files=[(b"d", b"a directory is there", False), (b"ok", b"1", False)])[1]
        self.assertEqual((r["status"], r["error_type"]), ("error", "pyward.InputFileError"), r)
        self.assertTrue(r["error_message"].startswith("cannot write input file 'd': "), r)
        s.cell(b"import os\nos.symlink('/tmp', 'tmplink')")
        r = s.cell(b"print('never')", files=[(b"tmplink/x", b"x", False)])[1]
        self.assertEqual(r["error_type"], "pyward.InputFileError")
        self.assertEqual(s.cell(b"open('ok').read()")[1]["value"], "'1'")
        self.assertEqual(self.end(), (0, 0))
        self.assertNotIn(b"never", s.stdout)

    def test_collect_new_and_changed_only(self):
        s = self.s
        files_of_cell = lambda m: [(x[1], x[2], x[3]) for x in m if x[0] == "FILE"]
        m, r = s.cell(b"open('out.txt', 'w').write('1')", flags=CELL_COLLECT, files=[(b"in.txt", b"in", False)])
        self.assertEqual((files_of_cell(m), r), ([(b"out.txt", 0o644, b"1")], {"status": "ok", "value": "1"}))
        m, r = s.cell(b"open('new.txt', 'w').write('n')", flags=CELL_COLLECT)
        self.assertEqual(files_of_cell(m), [(b"new.txt", 0o644, b"n")])  # out.txt was returned: not again
        m, r = s.cell(b"open('out.txt', 'w').write('2')\nopen('in.txt', 'a').write('+')\nimport os\n"
                      b"os.chmod('new.txt', 0o600)\nos.symlink('out.txt', 'l')")
        m, r = s.cell(b"", flags=CELL_COLLECT)
        self.assertEqual(files_of_cell(m), [(b"in.txt", 0o600, b"in+"), (b"new.txt", 0o600, b"n"),
                                            (b"out.txt", 0o644, b"2")])
        self.assertEqual([x for x in m if x[0] == "SKIPPED"], [("SKIPPED", SYMLINK, b"l")])
        m, r = s.cell(b"import json", flags=CELL_COLLECT, files=[(b"sent.txt", b"s", False)])
        self.assertEqual(files_of_cell(m), [])  # what was sent is known too
        self.assertEqual(self.end(), (0, 0))

    def test_fork_in_a_cell(self):
        # A child that comes back out of the cell ends there: one result, and the kernel goes on.
        s = self.s
        self.assertEqual(s.cell(b"import os\npid = os.fork()\nif pid: os.waitpid(pid, 0)\npid > 0")[1]["value"], "True")
        self.assertEqual(s.cell(b"os.getpid() == os.getppid() + 1 or 'kernel'")[1]["status"], "ok")
        self.assertEqual(self.end(), (0, 0))

    def test_runner_overhead_per_cell(self):
        # Not an assertion: the round trip of a trivial cell, less running it in-process, and the
        # CPU the supervisor and the kernel spend on it (/proc/PID/schedstat: the load of the
        # machine does not change that one).
        s, n = self.s, 1000

        def chain(pid):  # pid and its descendants, each the only child of the one before
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                children = f.read().split()
            return [pid] + (chain(int(children[0])) if children else [])

        def cpu():  # the supervisor's and the kernel's, in ns
            out = []
            for p in chain(s.p.pid)[-2:]:
                with open("/proc/%d/schedstat" % p) as f:
                    out.append(int(f.read().split()[0]))
            return out
        for _ in range(20):
            s.cell(b"x = 1")
        before = cpu()
        start = time.perf_counter()
        for _ in range(n):
            s.cell(b"x = 1")
        trip = (time.perf_counter() - start) / n
        supervisor_us, kernel_us = ((a - b) / n / 1000 for a, b in zip(cpu(), before))
        ns = {}
        start = time.perf_counter()
        for _ in range(n):
            exec(compile(b"x = 1", "<cell>", "exec"), ns)
        local = (time.perf_counter() - start) / n
        print("\nrunner overhead of a trivial cell: %.0f us (round trip %.0f us, in-process %.0f us); "
              "CPU per cell: kernel %.0f us, supervisor %.0f us"
              % ((trip - local) * 1e6, trip * 1e6, local * 1e6, kernel_us, supervisor_us), file=sys.stderr)
        self.assertEqual(self.end(), (0, 0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
