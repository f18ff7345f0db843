# SPDX-License-Identifier: LGPL-2.1-or-later
# `pyward -i` (issue #15): the interactive prompt over a session driven on a real terminal (a tmux
# pane: new-session -d, send-keys, capture-pane): a multi-line function definition, a call and its
# output, Ctrl-C during time.sleep(30) (KeyboardInterrupt shown, the prompt back, the state kept),
# Ctrl-C clearing a half-typed line, Ctrl-D ending it (exit status 0); and without a terminal,
# cells read from a pipe separated by `# %%` lines, with the documented exit statuses.
import os
import shutil
import subprocess
import time
import unittest

from pwlib import CLI, PywardTestCase, job_units, wait_for

PROMPT, MORE = ">>>", "..."
SCREEN_TIMEOUT = 30  # seconds for the pane to show what a step expects (a session's first cell included)


class Tmux:
    """One detached tmux server of our own (its own socket, no configuration) with one pane
    running argv under a shell that prints the command's exit status when it ends."""

    def __init__(self, argv, width=160, height=50):
        self.tmux = shutil.which("tmux")
        if not self.tmux:
            raise AssertionError("tmux is not installed in this machine: the machine images need it "
                                 "(scripts/lib/machine-common.sh ROOTFS_PACKAGES) for the interactive CLI's test")
        self.sock = f"/run/pwtest-tmux-{os.getpid()}.sock"
        # The shell shares the pane's process group: Ctrl-C reaches it too. A trap that runs a
        # command (unlike an ignored signal) is reset for the child, which gets SIGINT as usual.
        cmd = "trap : INT; " + " ".join(_quote(a) for a in argv) + '; echo "[exit $?]"; sleep 3600'
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "pw", "-x", str(width), "-y", str(height),
                 "sh", "-c", cmd)
        self.run("set-option", "-t", "pw", "history-limit", "10000")

    def run(self, *args):
        p = subprocess.run([self.tmux, "-S", self.sock, *args], capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
        return p.stdout

    def screen(self):
        """The pane's whole history and screen, lines joined where the terminal wrapped them,
        trailing blank lines and spaces dropped."""
        out = self.run("capture-pane", "-p", "-J", "-S", "-", "-t", "pw")
        return "\n".join(line.rstrip() for line in out.splitlines()).rstrip("\n")

    def type(self, text):
        """Types text literally (no key names), then Enter."""
        self.run("send-keys", "-t", "pw", "-l", text)
        self.run("send-keys", "-t", "pw", "Enter")

    def key(self, name):
        self.run("send-keys", "-t", "pw", name)

    def wait(self, predicate, what, timeout=SCREEN_TIMEOUT):
        """Waits until predicate(screen) holds; fails showing the screen."""
        text = wait_for(lambda: predicate(self.screen()) and self.screen(), timeout, interval=0.1)
        if not text:
            raise AssertionError(f"the pane did not show {what} within {timeout} s; it shows:\n{self.screen()}")
        return text

    def close(self):
        subprocess.run([self.tmux, "-S", self.sock, "kill-server"], capture_output=True, timeout=30)
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass


def _quote(a):
    return "'" + a.replace("'", "'\\''") + "'"


def after_last(text, marker):
    """What the pane shows after the last occurrence of marker (e.g. the echo of a command)."""
    i = text.rfind(marker)
    return text[i + len(marker):] if i >= 0 else None


def prompt_after(marker, *want):
    """A predicate: after the last echo of marker, every line of want appears, and the last
    line is a fresh primary prompt."""
    def check(text):
        rest = after_last(text, marker)
        if rest is None:
            return False
        lines = rest.split("\n")
        return lines[-1].strip() == PROMPT and all(w in rest for w in want)
    return check


class SessionCliTests(PywardTestCase):
    tmux = None

    def tearDown(self):
        # Before the base class looks for units left: the pane's pyward -i holds its session.
        if self.tmux is not None:
            self.tmux.close()
            self.tmux = None
        super().tearDown()

    def test_interactive_on_a_terminal(self):
        t = self.tmux = Tmux([CLI, "-i", "--timeout=60s"])
        t.wait(lambda s: s.split("\n")[-1].strip() == PROMPT, "the first prompt")
        self.assertTrue(wait_for(lambda: len(job_units()) == 1, 10), f"one session, one unit: {job_units()}")

        # A multi-line definition: continuation prompts until the empty line, as Python's REPL.
        t.type("def greet(name):")
        t.wait(lambda s: s.split("\n")[-1].strip() == MORE, "a continuation prompt after 'def greet(name):'")
        t.type("    word = 'hello'")
        t.wait(lambda s: s.split("\n")[-1].strip() == MORE and "word = 'hello'" in s, "a second continuation prompt")
        t.type("    return word + ', ' + name")
        t.wait(lambda s: s.split("\n")[-1].strip() == MORE and "return word" in s, "a third continuation prompt")
        t.type("")
        t.wait(prompt_after("... " + "    return word + ', ' + name"), "the prompt after the definition")

        t.type("print(greet('pyward'))")
        t.wait(prompt_after(">>> print(greet('pyward'))", "\nhello, pyward\n"), "the call's output")
        t.type("greet('value')")
        t.wait(prompt_after(">>> greet('value')", "\n'hello, value'\n"), "the repr of the value")

        # Ctrl-C during a sleep: KeyboardInterrupt shown, the prompt back long before 30 s.
        t.type("import time")
        t.wait(prompt_after(">>> import time"), "the prompt after the import")
        t.type("time.sleep(30)")
        time.sleep(1.5)
        screen = t.screen()
        self.assertNotEqual(screen.split("\n")[-1].strip(), PROMPT, f"the sleep did not run:\n{screen}")
        sent = time.monotonic()
        t.key("C-c")
        t.wait(prompt_after(">>> time.sleep(30)", "KeyboardInterrupt"), "KeyboardInterrupt and the prompt", timeout=15)
        took = time.monotonic() - sent
        self.assertLess(took, 10)
        rest = after_last(t.screen(), ">>> time.sleep(30)")  # the echo, not the traceback's line
        self.assertRegex(rest, r'File "<cell \d+>"', rest)
        self.assertNotRegex(rest, r"runner|pyward/", rest)

        # The state is kept; Ctrl-C at the prompt drops the half-typed line.
        t.type("print(greet('again'))")
        t.wait(prompt_after(">>> print(greet('again'))", "\nhello, again\n"), "the state kept after Ctrl-C")
        t.run("send-keys", "-t", "pw", "-l", "undefined_name_typed_halfway")
        t.key("C-c")
        t.type("print('cleared')")
        t.wait(prompt_after(">>> print('cleared')", "\ncleared\n"), "the output after a cleared line")
        self.assertNotIn("NameError", t.screen())

        # Ctrl-D ends the session: the process exits 0 and the unit goes.
        t.key("C-d")
        t.wait(lambda s: "[exit " in s, "the end of pyward -i")
        self.assertIn("[exit 0]", t.screen())
        self.assertTrue(wait_for(lambda: not job_units(), 10), job_units())

    def test_cells_from_a_pipe(self):
        """stdin not a terminal: cells separated by lines that are exactly `# %%`, each cell's
        output printed; exit status 0, 1 if a cell ended in error, or the session's as the
        one-shot CLI maps it."""
        cells = ["x = 41", "print(x + 1)", "def f():\n    return x * 2\n",
                 "print('state kept', f(), x)"]
        p = pipe("\n# %%\n".join(cells) + "\n")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, b"42\nstate kept 82 41\n", b""))

        p = pipe("y = 1\n# %%\n1 / 0\n# %%\nprint('after', y)\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"after 1\n", p.stdout)  # an error does not end the session
        err = p.stderr.decode(errors="replace")
        self.assertIn("ZeroDivisionError", err)
        self.assertRegex(err, r'File "<cell 2>", line 1')

        p = pipe("print('one')\n# %%\nimport sys\nsys.exit(3)\n# %%\nprint('never')\n")
        self.assertEqual((p.returncode, p.stdout), (3, b"one\n"), p.stderr)

        self.assertTrue(wait_for(lambda: not job_units(), 10), job_units())


def pipe(text, *args):
    return subprocess.run([CLI, "-i", *args], input=text.encode(), capture_output=True, timeout=120)


if __name__ == "__main__":
    unittest.main()
