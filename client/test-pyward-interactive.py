#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of pyward.interactive (the front end of pyward -i): the "# %%" cell splitting, the
# exit statuses, the REPL's logic over a fake session, and the whole front end (and pyward -i,
# with PYWARD_CLI) against the scripted session peer, from a pipe and on a pseudo-terminal.
import io
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pyward  # noqa: E402
from pyward import interactive  # noqa: E402
from sessionpeer import SessionPeer, session_result  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=HERE)


class FakeSession:
    """What the front end needs of a Session: run() answers with answer(code, n) (a CellResult, or
    raises SessionEnded), after writing `out` of it to the callbacks."""

    job, unit = "5", "pyward-job-5.service"

    def __init__(self, answer=None, final=None):
        self.cells, self.interrupts, self.closed = [], 0, False
        self.answer = answer or (lambda code, n: pyward.CellResult(n, "ok"))
        self.final = final or pyward.Result("ok", cells=0)

    def run(self, code, on_stdout=None, on_stderr=None):
        self.cells.append(code)
        r = self.answer(code, len(self.cells))
        if r.stdout:
            on_stdout(r.stdout)
        if r.stderr:
            on_stderr(r.stderr)
        return r

    def interrupt(self):
        self.interrupts += 1

    def close(self):
        self.closed = True
        return self.final


class Capture(interactive.Output):
    def __init__(self):
        super().__init__(io.BytesIO(), io.BytesIO())

    out_text = property(lambda self: self.out.getvalue().decode())
    err_text = property(lambda self: self.err.getvalue().decode())


class TestCells(unittest.TestCase):
    def cells(self, text):
        return list(interactive.split_cells(io.BytesIO(text).readlines()))

    def test_split(self):
        self.assertEqual(self.cells(b"a = 1\n# %%\nb = 2\nc = 3\n# %%\n"), [b"a = 1\n", b"b = 2\nc = 3\n"])
        self.assertEqual(self.cells(b"# %%\n\n# %%\n  \n# %%\nx\n# %%"), [b"x\n"])  # blank cells left out
        self.assertEqual(self.cells(b"x\r\n# %%\r\ny"), [b"x\r\n", b"y"])
        # Only a line that is exactly the marker: not a title, not indented, not inside a line.
        self.assertEqual(self.cells(b"a\n# %% title\n  # %%\nb # %%\n#%%\n"),
                         [b"a\n# %% title\n  # %%\nb # %%\n#%%\n"])
        self.assertEqual(self.cells(b""), [])

    def test_exit_status(self):
        R = pyward.Result
        for res, status in ((R("ok"), 0), (R("exit", exit_code=3), 3), (R("exit", exit_code=0), 1),
                            (R("exit"), 1), (R("timeout"), 124), (R("cpu-limit"), 124),
                            (R("signal", signal="SIGSEGV"), 139), (R("oom"), 137), (R("killed", signal="SIGTERM"), 143),
                            (R("output-limit"), 137), (R("rejected"), 125), (R("error"), 125)):
            with self.subTest(status=res.status):
                self.assertEqual(interactive.exit_status(res), status)

    def test_args(self):
        kw = interactive.parse_args(["-p", "x", "--socket", "/s", "-t", "500ms", "--cpu-time=2s", "-m", "64M",
                                     "--tasks", "8", "--disk=1G", "--session-timeout", "1h", "--idle-timeout=5min",
                                     "--cells", "10", "--cell-grace", "1500000us", "--connect-timeout=0"])
        self.assertEqual(kw, dict(profile="x", socket_path="/s", timeout=0.5, cpu_time=2.0, memory=64 << 20, tasks=8,
                                  cpu_quota=None, output_max=None, disk=1 << 30, session_timeout=3600.0,
                                  session_cpu_time=None, idle_timeout=300.0, cells=10, grace=1.5,
                                  connect_timeout=0.0))
        self.assertEqual(pyward.session_request(**{k: v for k, v in kw.items()
                                                   if k not in ("socket_path", "connect_timeout")}),
                         pyward.session_request("x", timeout=0.5, cpu_time=2, memory=64 << 20, tasks=8, disk=1 << 30,
                                                session_timeout=3600, idle_timeout=300, cells=10, grace=1.5))
        for bad in (["--cells", "0"], ["-t", "soon"], ["-m", "1.5"], ["--bogus"], ["file.py"]):
            with self.subTest(bad=bad):
                with self.assertRaises(SystemExit) as cm, open(os.devnull, "w") as null:
                    old, sys.stderr = sys.stderr, null
                    try:
                        interactive.parse_args(bad)
                    finally:
                        sys.stderr = old
                self.assertEqual(cm.exception.code, 125)


def answer(code, n):
    """A fake session's answers: output, values, errors, an interruption, the session's end."""
    code = code.decode() if isinstance(code, bytes) else code
    if code.startswith("print"):
        return pyward.CellResult(n, "ok", stdout=b"printed\n", stderr=b"warned\n")
    if code.startswith("1/0"):
        return pyward.CellResult(n, "error", error_type="ZeroDivisionError", error_message="division by zero",
                                 traceback='Traceback (most recent call last):\n  File "<cell 2>", line 1, in '
                                           '<module>\nZeroDivisionError: division by zero')
    if code.startswith("slow"):
        return pyward.CellResult(n, "interrupted", traceback="Traceback ...\nKeyboardInterrupt\n",
                                 message="the cell reached its wall-time limit of 1 s")
    if code.startswith("exit"):
        raise pyward.SessionEnded(pyward.Result("exit", exit_code=3, cells=n))
    return pyward.CellResult(n, "ok", value=repr(code.strip()))


class TestScript(unittest.TestCase):
    def run_script(self, text, final=None):
        s, out = FakeSession(answer, final), Capture()
        status = interactive.run_script(s, io.BytesIO(text).readlines(), out)
        return status, s, out

    def test_values_output_errors(self):
        status, s, out = self.run_script(b"print(1)\n# %%\n'v'\n# %%\n1/0\n# %%\nx\n")
        self.assertEqual(s.cells, [b"print(1)\n", b"'v'\n", b"1/0\n", b"x\n"])
        self.assertEqual(out.out_text, "printed\n\"'v'\"\n'x'\n")
        self.assertEqual(out.err_text, "warned\nTraceback (most recent call last):\n  File \"<cell 2>\", line 1, in "
                                       "<module>\nZeroDivisionError: division by zero\n")
        self.assertEqual(status, 1)  # a cell failed, the session ended well
        self.assertTrue(s.closed)

    def test_all_ok(self):
        status, s, out = self.run_script(b"a\n# %%\nb\n")
        self.assertEqual((status, out.err_text), (0, ""))

    def test_interrupted_by_a_limit_says_so(self):
        status, _, out = self.run_script(b"slow\n")
        self.assertEqual(status, 1)
        self.assertIn("KeyboardInterrupt\npyward: cell 1: the cell reached its wall-time limit of 1 s\n", out.err_text)

    def test_session_ends_early(self):
        status, s, out = self.run_script(b"a\n# %%\nexit\n# %%\nnever\n")
        self.assertEqual((status, len(s.cells), s.closed), (3, 2, False))
        self.assertEqual(out.err_text, "pyward: session ended: exit: exit code 3\n")

    def test_session_ended_by_exit_0_or_the_cells_limit(self):
        for message, err in ((None, ""),  # sys.exit(0) in a cell: no news
                             ("the session reached its limit of 1 cells",
                              "pyward: session ended: ok: the session reached its limit of 1 cells\n")):
            def ans(code, n, message=message):
                raise pyward.SessionEnded(pyward.Result("ok", message=message))

            out = Capture()
            status = interactive.run_script(FakeSession(ans), io.BytesIO(b"x\n").readlines(), out)
            self.assertEqual((status, out.err_text), (0, err))

    def test_session_ended_at_close(self):
        status, _, out = self.run_script(b"a\n", pyward.Result("killed", signal="SIGKILL", message="stopped"))
        self.assertEqual((status, out.err_text), (137, "pyward: session ended: killed: stopped\n"))

    def test_main_rejected_and_unreachable(self):
        def refused(**kw):
            raise pyward.SessionEnded(pyward.Result("rejected", message="not for you"))

        out = Capture()
        self.assertEqual(interactive.main([], session_factory=refused, stdin=io.BytesIO(), output=out), 125)
        self.assertEqual(out.err_text, "pyward: request rejected: not for you\n")
        out = Capture()
        self.assertEqual(interactive.main(["--socket", "/nonexistent/s"], stdin=io.BytesIO(), output=out), 125)
        self.assertIn("pyward: cannot connect to /nonexistent/s: No such file or directory", out.err_text)


class TestRepl(unittest.TestCase):
    def repl(self, lines, ans=answer):
        """The REPL over a fake session, its input from lines: a str is typed, KeyboardInterrupt
        is Ctrl-C at the prompt; then Ctrl-D."""
        s, out = FakeSession(ans), Capture()
        prompts = []
        feed = iter(lines)

        def raw_input(prompt=""):
            prompts.append(prompt)
            item = next(feed, EOFError)
            if isinstance(item, type) and issubclass(item, BaseException):
                raise item
            return item

        console = interactive.Console(s, out)
        console.raw_input = raw_input
        console.write = lambda text: out.stderr(text.encode())
        old = interactive.Console
        interactive.Console = lambda *a: console
        try:
            status = interactive.repl(s, out, banner="")
        finally:
            interactive.Console = old
        return status, s, out, prompts

    def test_multi_line_input_as_python_decides(self):
        status, s, out, prompts = self.repl(["def f(a):", "    return a * 2", "", "f(21)", "x = (1,", "2)", "",
                                             "if True:", "    pass", ""])
        self.assertEqual(s.cells, ["def f(a):\n    return a * 2\n", "f(21)", "x = (1,\n2)", "if True:\n    pass\n"])
        self.assertEqual(prompts, [">>> ", "... ", "... ", ">>> ", ">>> ", "... ", ">>> ", ">>> ", "... ", "... ",
                                   ">>> "])
        self.assertEqual((status, s.closed), (0, True))
        self.assertEqual(out.out_text, "'def f(a):\\n    return a * 2'\n'f(21)'\n'x = (1,\\n2)'\n"
                                       "'if True:\\n    pass'\n")

    def test_syntax_error_is_the_sessions_to_report(self):
        _, s, _, _ = self.repl(["x = = 1", "print(x"])
        self.assertEqual(s.cells, ["x = = 1"])  # complete (and wrong): sent; "print(x" waits for more

    def test_ctrl_c_at_the_prompt_clears_the_input(self):
        _, s, out, prompts = self.repl(["def f():", KeyboardInterrupt, "1"])
        self.assertEqual(s.cells, ["1"])
        self.assertIn("\nKeyboardInterrupt\n", out.err_text)
        self.assertEqual(prompts, [">>> ", "... ", ">>> ", ">>> "])

    def test_ctrl_c_while_a_cell_runs_interrupts_it(self):
        def ans(code, n):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while the cell "runs"
            time.sleep(0.05)
            return pyward.CellResult(n, "interrupted", traceback="Traceback ...\nKeyboardInterrupt\n",
                                     message="interrupted by the client")

        status, s, out, _ = self.repl(["while True: pass", "", "1"], ans)
        self.assertEqual((s.interrupts, len(s.cells), status), (2, 2, 0))
        self.assertEqual(out.err_text.count("KeyboardInterrupt\n"), 2)
        self.assertNotIn("interrupted by the client", out.err_text)  # our own Ctrl-C needs no note
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_session_ends_under_the_prompt(self):
        status, s, out, _ = self.repl(["a", "exit()", "never"])
        self.assertEqual((status, s.cells, s.closed), (3, ["a", "exit()"], False))
        self.assertTrue(out.err_text.endswith("pyward: session ended: exit: exit code 3\n"))


class TestFrontEnd(unittest.TestCase):
    """python3 -m pyward.interactive (and pyward -i) against the scripted peer."""

    def pipe(self, argv, text):
        peer = SessionPeer()
        try:
            p = subprocess.run([*argv, "--socket", peer.path], input=text, capture_output=True, timeout=60, env=ENV)
        finally:
            peer.close()
        return p, peer

    def test_cells_from_a_pipe(self):
        p, peer = self.pipe([sys.executable, "-m", "pyward.interactive", "-t", "5s", "--cells", "9"],
                            b"def f(a):\n    return a * 2\n# %%\nprint('hello')\nf(21)\n# %%\n\n# %%\n1/0\n# %%\nf(1)\n")
        self.assertEqual(p.stdout, b"hello\n42\n2\n")
        self.assertEqual(p.stderr, b'Traceback (most recent call last):\n  File "<cell 3>", line 1, in <module>\n'
                                   b'ZeroDivisionError: division by zero\n')
        self.assertEqual(p.returncode, 1)
        self.assertEqual([t for t, _ in peer.log], [pyward.CELL] * 4 + [pyward.SESSION_END])
        self.assertEqual([struct.unpack("<IQ", v) for t, v in peer.requests[0] if t == pyward.LIMIT],
                         [(pyward.LIMIT_WALL_TIME, 5_000_000), (pyward.LIMIT_SESSION_CELLS, 9)])

    @unittest.skipUnless(os.environ.get("PYWARD_CLI"), "PYWARD_CLI (the pyward binary) not set")
    def test_cli_execs_the_front_end(self):
        p, peer = self.pipe([os.environ["PYWARD_CLI"], "-i", "-p", "default", "-t", "500ms", "-m", "64M",
                             "--cpu-time", "1min 30s", "--tasks", "16", "--cpu-quota", "50", "--output-max", "1M",
                             "--disk", "2G", "--session-timeout", "1h", "--session-cpu-time", "10min",
                             "--idle-timeout", "300", "--cells", "7", "--cell-grace", "2s"],
                            b"x = 2\n# %%\nx ** 10\n")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, b"1024\n", b""))
        req = peer.requests[0]
        self.assertEqual(req[:3], [(pyward.HELLO, b"\1\0\0\0"), (pyward.SESSION, b""), (pyward.PROFILE, b"default")])
        self.assertEqual([struct.unpack("<IQ", v) for t, v in req if t == pyward.LIMIT],
                         [(1, 64 << 20), (2, 16), (3, 50), (4, 90_000_000), (5, 500_000), (6, 1 << 20), (7, 2 << 30),
                          (15, 3_600_000_000), (16, 600_000_000), (17, 300_000_000), (18, 7), (19, 2_000_000)])

    @unittest.skipUnless(os.environ.get("PYWARD_CLI"), "PYWARD_CLI (the pyward binary) not set")
    def test_cli_refuses_a_jobs_options(self):
        for argv, why in ((["-i", "-c", "1"], "-c is not for it"), (["-i", "x.py"], "a FILE or arguments"),
                          (["-i", "--json"], "--json is not for it"), (["--cells", "3", "-c", "1"],
                                                                       "--cells is for sessions: give -i"),
                          (["-i", "--idle-timeout", "0"], "invalid value for --idle-timeout")):
            with self.subTest(argv=argv):
                p = subprocess.run([os.environ["PYWARD_CLI"], *argv], capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 125)
                self.assertIn(why, p.stderr)

    def test_prompt_on_a_terminal(self):
        """The REPL on a real pseudo-terminal: a multi-line definition, a call, Ctrl-C during a
        cell, Ctrl-C at the prompt, Ctrl-D."""
        try:
            for probe in os.openpty():
                os.close(probe)
        except OSError as e:  # a package build's chroot or container may have no /dev/pts
            self.skipTest(f"no pseudo-terminal here (openpty: {e.strerror})")
        peer = SessionPeer()
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(sys.executable, [sys.executable, "-m", "pyward.interactive", "--socket", peer.path], ENV)
        seen = b""

        def until(text, timeout=20):
            nonlocal seen
            end = time.monotonic() + timeout
            while text not in seen:
                r, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
                if not r:
                    self.fail(f"no {text!r} on the terminal: {seen!r}")
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    self.fail(f"the terminal closed before {text!r}: {seen!r}")

        try:
            until(b">>> ")
            os.write(fd, b"def f(a):\n")
            until(b"... ")
            os.write(fd, b"    return a * 2\n\n")
            until(b">>> ", 20)
            seen = b""
            os.write(fd, b"f(21)\n")
            until(b"42\r\n>>> ")
            seen = b""
            os.write(fd, b"INTERRUPT_ME\n")
            end = time.monotonic() + 20
            while sum(t == pyward.CELL for t, _ in peer.log) < 3 and time.monotonic() < end:
                time.sleep(0.02)  # the cell is running: Ctrl-C is the session's from now on
            os.write(fd, b"\x03")  # Ctrl-C: INTERRUPT, the cell reports it
            until(b"KeyboardInterrupt\r\n>>> ")
            seen = b""
            os.write(fd, b"x = (")
            until(b"x = (")  # readline has it (and the terminal): now Ctrl-C at the prompt
            # CPython's readline loop sees a SIGINT only when it interrupts its select(): one that
            # lands while it is still handling the echoed key waits for the next key (a real
            # user's second Ctrl-C). Give it time to get back into select().
            time.sleep(0.3)
            os.write(fd, b"\x03")  # the input is dropped
            until(b"KeyboardInterrupt\r\n>>> ")
            os.write(fd, b"\x04")  # Ctrl-D
            _, wstatus = os.waitpid(pid, 0)
            pid = 0
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)
            peer.close()
        self.assertEqual(os.waitstatus_to_exitcode(wstatus), 0)
        self.assertEqual([t for t, _ in peer.log], [pyward.CELL, pyward.CELL, pyward.CELL, pyward.INTERRUPT,
                                                   pyward.SESSION_END])
        self.assertEqual([p[4:] for t, p in peer.log if t == pyward.CELL],
                         [b"def f(a):\n    return a * 2\n", b"f(21)", b"INTERRUPT_ME"])

    def test_session_ends_early_from_a_pipe(self):
        def kernel(n, code, flags, files, conn, log):
            return session_result("timeout", n - 1, "the session was idle for 5 s")

        peer = SessionPeer(kernel=kernel)
        try:
            p = subprocess.run([sys.executable, "-m", "pyward.interactive", "--socket", peer.path], input=b"1\n",
                               capture_output=True, timeout=60, env=ENV)
        finally:
            peer.close()
        self.assertEqual((p.returncode, p.stderr), (124, b"pyward: session ended: timeout: the session was idle "
                                                         b"for 5 s\n"))


if __name__ == "__main__":
    unittest.main()
