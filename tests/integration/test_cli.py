# SPDX-License-Identifier: LGPL-2.1-or-later
# What pyward(1) promises beyond running a job: signals to the CLI cancel the job (and a second one
# abandons it), a closed stdout (| head -1) cancels it, the exit statuses of limits and stops,
# --no-stdin, --json's stdout_base64, and PYWARD_SOCKET. Through the real CLI and socket.
import base64
import json
import os
import select
import signal
import subprocess
import tempfile
import time
import unittest

from pwlib import CLI, SOCKET_PATH, PywardTestCase, cli, job_units, journal_since, wait_for

# A job that says it runs, then would run for a minute.
LONG = "import time\nprint('started', flush=True)\ntime.sleep(60)\n"


def start_cli(*args, **kw):
    return subprocess.Popen([CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def wait_line(p, want, timeout=30):
    """Reads p's stdout until a line equal to want arrived; False at the timeout."""
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                return False
            buf += chunk
            if want in buf.split(b"\n"):
                return True
    return False


class CliPromiseTests(PywardTestCase):
    def job_status_in_journal(self, status):
        """The helper's record of a job that ended with status, since the test began."""
        return wait_for(lambda: journal_since(self.t0, f"PYWARD_STATUS={status}").strip(), 10)

    def test_signal_cancels_the_job(self):
        """SIGINT, SIGTERM, SIGHUP: CANCEL is sent, pyward waits for the result and exits with the
        stopped job's status: killed, by the unit's KillSignal=SIGKILL, so 128 + 9."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with self.subTest(signal=sig.name):
                p = start_cli("--json", "-c", LONG)
                # --json prints nothing until the end: wait for the unit to run instead.
                self.assertTrue(wait_for(lambda: job_units(), 30), "the job never started")
                time.sleep(0.5)
                start = time.monotonic()
                p.send_signal(sig)
                out, err = p.communicate(timeout=30)
                self.assertLess(time.monotonic() - start, 10, "the job was not stopped at once")
                doc = json.loads(out)
                self.assertEqual((doc["status"], doc["message"]), ("killed", "cancelled by the client"), doc)
                self.assertEqual(p.returncode, 128 + signal.SIGKILL, (doc, err))
                self.assertEqual(doc["pyward_exit_status"], p.returncode)
                self.assertIn(b"cancelling the job", err)
                self.assertTrue(wait_for(lambda: not job_units(), 10), job_units())

    def test_second_signal_abandons(self):
        """A second signal: pyward closes the connection and exits 128 + that signal at once; the
        helper stops the job because its client went away. To have pyward still waiting when the
        second signal comes, the first one's CANCEL must not end the job: the job does not read its
        stdin, so the helper, waiting on the full pipe, does not read the CANCEL queued behind
        pyward's stdin (pyward-protocol(7), STREAMS AND BACKPRESSURE)."""
        with tempfile.TemporaryFile() as big:
            big.write(b"i" * (8 << 20))
            big.seek(0)
            p = subprocess.Popen([CLI, "-c", LONG], stdin=big, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                self.assertTrue(wait_line(p, b"started"), "the job never printed")
                p.send_signal(signal.SIGTERM)
                err = b""
                deadline = time.monotonic() + 10
                while b"cancelling the job" not in err and time.monotonic() < deadline:
                    r, _, _ = select.select([p.stderr], [], [], 0.2)
                    if r:
                        err += os.read(p.stderr.fileno(), 4096)
                self.assertIn(b"cancelling the job", err)
                time.sleep(1.0)
                self.assertIsNone(p.poll(), "pyward did not wait after the first signal")
                start = time.monotonic()
                p.send_signal(signal.SIGINT)
                p.wait(timeout=30)
                self.assertLess(time.monotonic() - start, 5, "pyward waited after the second signal")
            finally:
                p.kill()
                p.wait()
                p.stdout.close()
                p.stderr.close()
        self.assertEqual(p.returncode, 128 + signal.SIGINT)
        self.assertTrue(wait_for(lambda: not job_units(), 15), job_units())

    def test_head_cancels_the_job(self):
        """pyward ... | head -1: the reader goes away, the job is cancelled (not left to its limit),
        silently, as a local process would be killed by SIGPIPE."""
        code = "import sys\nwhile True:\n    print('y' * 100, flush=True)\n"
        start = time.monotonic()
        p = subprocess.run(["bash", "-c", f'{CLI} --timeout 60 -c "$1" | head -1; '
                            'echo "pyward=${PIPESTATUS[0]}" >&2', "sh", code],
                           capture_output=True, timeout=60)
        took = time.monotonic() - start
        self.assertEqual(p.stdout, b"y" * 100 + b"\n")
        self.assertLess(took, 20, "the job ran to its limit instead of being cancelled")
        lines = p.stderr.decode().splitlines()
        self.assertTrue(lines, p.stderr)
        self.assertRegex(lines[-1], r"^pyward=\d+$")
        self.assertEqual(lines[:-1], [], f"pyward printed a message: {p.stderr!r}")
        self.assertTrue(self.job_status_in_journal("killed"), "no job ended as killed")
        self.assertTrue(wait_for(lambda: not job_units(), 10), job_units())
        print(f"\n    | head -1: pyward exited {lines[-1]}", flush=True)

    def test_cpu_limit_is_124(self):
        p = cli("--cpu-time", "1", "-c", "while True:\n    pass\n", timeout=60)
        self.assertEqual(p.returncode, 124, p.stderr)
        p = cli("--json", "--cpu-time", "1", "-c", "while True:\n    pass\n", timeout=60)
        doc = json.loads(p.stdout)
        self.assertEqual((p.returncode, doc["status"], doc["pyward_exit_status"]), (124, "cpu-limit", 124), doc)

    def test_output_limit_is_128_plus_signal(self):
        p = cli("--json", "--output-max", "1K", "-c", "import sys\nwhile True:\n    print('z' * 100)\n",
                timeout=60)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["status"], "output-limit", doc)
        sig = getattr(signal, doc["signal"]) if doc["signal"] else signal.SIGKILL
        self.assertEqual((p.returncode, doc["pyward_exit_status"]), (128 + sig, 128 + sig), doc)
        self.assertLessEqual(len(doc["stdout"]), 1024)
        p = cli("-q", "--output-max", "1K", "-c", "import sys\nwhile True:\n    print('z' * 100)\n", timeout=60)
        self.assertEqual(p.returncode, 128 + sig, p.stderr)

    def test_killed_by_an_administrator_is_128_plus_signal(self):
        p = start_cli("--json", "-c", LONG)
        self.assertTrue(wait_for(lambda: job_units(), 30), "the job never started")
        time.sleep(0.5)
        for u in job_units():
            subprocess.run(["systemctl", "stop", u], check=True, timeout=30)
        out, err = p.communicate(timeout=30)
        doc = json.loads(out)
        self.assertEqual(doc["status"], "killed", doc)
        sig = getattr(signal, doc["signal"]) if doc["signal"] else signal.SIGKILL
        self.assertEqual(p.returncode, 128 + sig, (doc, err))

    def test_no_stdin(self):
        code = "import sys\nprint(repr(sys.stdin.read()))\n"
        self.assertEqual(cli("-c", code, input=b"data").stdout, b"'data'\n")
        for opt in ("-n", "--no-stdin"):
            with self.subTest(option=opt):
                p = cli(opt, "-c", code, input=b"data")
                self.assertEqual((p.returncode, p.stdout), (0, b"''\n"), p.stderr)
        # With --no-stdin a stdin that never ends is not waited for.
        p = subprocess.Popen([CLI, "-n", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=30)
        finally:
            p.kill()
        self.assertEqual((p.returncode, out), (0, b"''\n"), err)

    def test_json_stdout_base64(self):
        raw_out, raw_err = b"a\xffb\n\xc3", b"\xfe\xfd"
        p = cli("--json", "-c", "import sys\nsys.stdout.buffer.write(%r)\nsys.stderr.buffer.write(%r)\n"
                % (raw_out, raw_err))
        doc = json.loads(p.stdout)
        self.assertEqual(p.returncode, 0, doc)
        self.assertEqual(doc["stdout"], "a\ufffdb\n\ufffd")
        self.assertEqual(base64.b64decode(doc["stdout_base64"]), raw_out)
        self.assertEqual(base64.b64decode(doc["stderr_base64"]), raw_err)
        # Valid UTF-8: no _base64 member.
        doc = json.loads(cli("--json", "-c", "print('ünï ✓')").stdout)
        self.assertEqual(doc["stdout"], "ünï ✓\n")
        self.assertNotIn("stdout_base64", doc)
        self.assertNotIn("stderr_base64", doc)

    def test_pyward_socket_environment(self):
        env = dict(os.environ, PYWARD_SOCKET="/nonexistent/env.sock")
        p = cli("-c", "print(1)", env=env)
        self.assertEqual((p.returncode, p.stdout), (125, b""))
        self.assertIn(b"/nonexistent/env.sock", p.stderr)
        # --socket wins over the environment.
        p = cli("--socket", SOCKET_PATH, "-c", "print(1)", env=env)
        self.assertEqual((p.returncode, p.stdout), (0, b"1\n"), p.stderr)
        p = cli("-c", "print(2)", env=dict(os.environ, PYWARD_SOCKET=SOCKET_PATH))
        self.assertEqual((p.returncode, p.stdout), (0, b"2\n"), p.stderr)


if __name__ == "__main__":
    unittest.main()
