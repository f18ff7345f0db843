# SPDX-License-Identifier: LGPL-2.1-or-later
# The job's runner (helper/runner.py) as a one-shot job without files meets it: argv and stdin,
# the exit status and signals, the traceback, the fds the code gets, a channel that ends early or
# comes out of order; and a discovery run's INFO. runnerpeer.py plays the helper's side; the
# input and output files are test-runner-files.py's, sessions test-runner-session.py's.
# Usage: test-runner.py RUNNER.PY [unittest arguments]
import os
import re
import stat
import subprocess
import sys
import tempfile
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


class TheEnd(unittest.TestCase):
    """The code's end as "python3 FILE" ends, side by side with it: the runner skips the
    interpreter's teardown of its own objects (runner.py, _end()), nothing the code can see."""

    CASES = {
        "unclosed file in a global": "f = open(OUT + '/a', 'w')\nf.write('kept')\n",
        "unclosed file in a module the code made": (
            "import sys, types\nm = types.ModuleType('mine')\nsys.modules['mine'] = m\n"
            "m.f = open(OUT + '/a', 'w')\nm.f.write('kept')\ndel m\n"),
        "unclosed file in a cycle": "class C: pass\nc = C()\nc.c = c\nc.f = open(OUT + '/a', 'w')\n"
                                    "c.f.write('kept')\ndel c\n",
        "atexit, then __del__ of a global": (
            "import atexit\nclass D:\n    def __del__(self):\n        print('del', flush=True)\n"
            "d = D()\natexit.register(print, 'atexit')\nprint('body', end='')\n"),
        "__del__ that raises": "class D:\n    def __del__(self):\n        raise ValueError('in del')\nd = D()\n",
        "weakref.finalize and logging to a file": (
            "import logging, weakref\nclass O: pass\no = O()\nweakref.finalize(o, print, 'finalized')\n"
            "logging.basicConfig(filename=OUT + '/a')\nlogging.warning('logged')\n"),
        "a thread that outlives the code": (
            "import threading, time\n"
            "threading.Thread(target=lambda: (time.sleep(0.2), print('thread'))).start()\nprint('main')\n"),
        "a daemon thread still running": (
            "import threading, time\ndef spin():\n    while True:\n        time.sleep(0.001)\n"
            "threading.Thread(target=spin, daemon=True).start()\nprint('main')\n"),
        "stdout that cannot be flushed": "import sys\nsys.stdout = open('/dev/full', 'w')\nprint('x')\n",
        "an exception and atexit": "import atexit\natexit.register(print, 'atexit')\nraise KeyError('k')\n",
        "no newline at the end": "import sys\nsys.stdout.write('a')\nsys.stderr.write('b')\n",
    }
    EXITS = ["None", "0", "7", "300", "-1", "True", "2**40 + 3", "2**70", "-2**70", "'bye'", "[1, 2]"]

    def both(self, code):
        """(runner, bare): (returncode, stdout, stderr, the file OUT/a or None) of each."""
        out = []
        for how in ("runner", "bare"):
            with tempfile.TemporaryDirectory() as o:
                src = ("OUT = %r\n" % o).encode() + code.encode()
                if how == "runner":
                    r = run(src)
                    res = (r.returncode, r.stdout, r.stderr.replace(os.path.join(r.dir, "main.py").encode(), b"F"))
                else:
                    with open(os.path.join(o, "main.py"), "wb") as f:
                        f.write(src)
                    p = subprocess.run([sys.executable, "-I", os.path.join(o, "main.py")], cwd=o,
                                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                    res = (p.returncode, p.stdout, p.stderr.replace(os.path.join(o, "main.py").encode(), b"F"))
                # Addresses differ, and a traceback printed in the code's finalization shows its
                # source lines here (the interpreter at its end no longer can).
                err = re.sub(rb"0x[0-9a-f]+", b"0x", res[2])
                res = res[:2] + (b"".join(l for l in err.splitlines(True) if not l.startswith(b"    ")),)
                a = os.path.join(o, "a")
                with open(a, "rb") if os.path.exists(a) else open(os.devnull, "rb") as f:
                    kept = f.read() if f.name == a else None
                out.append(res + (kept,))
        return out

    def test_as_python_ends(self):
        for name, code in self.CASES.items():
            with self.subTest(name):
                runner, bare = self.both(code)
                self.assertEqual(runner, bare)

    def test_sys_exit(self):
        for code in self.EXITS:
            with self.subTest(code):
                runner, bare = self.both("import sys\nsys.exit(%s)\n" % code)
                self.assertEqual(runner, bare)


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
