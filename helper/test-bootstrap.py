# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the job bootstrap with this host's python3 the way the job unit does (python3 -c BOOTSTRAP
# FILENAME ARGS, header + code + the client's stdin on fd 0), in a private directory standing in for /tmp.
import os
import subprocess
import sys
import tempfile

src = open(sys.argv[1], encoding="utf-8").read()
failures = 0


def run(code, args=(), stdin=b"", filename="main.py", truncate=False):
    with tempfile.TemporaryDirectory() as d:
        boot = src.replace('os.path.join("/tmp", ', "os.path.join(%r, " % d)
        assert boot != src
        data = len(code).to_bytes(8, "little") + code
        if truncate:
            data = data[:-1]
        p = subprocess.run([sys.executable, "-I", "-c", boot, filename, *args], input=data + stdin,
                           capture_output=True, timeout=60)
        return p, d


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


p, d = run(b"import sys\nprint(sys.argv)\nprint(repr(sys.stdin.read()))\n", ["a", "$HOME", ""], b"in\xc3\xa4put")
check(p.returncode == 0, "plain run exits 0: %r" % (p,))
check(p.stdout.decode() == "[%r, 'a', '$HOME', '']\n'inäput'\n" % os.path.join(d, "main.py"),
      "argv and stdin: %r" % p.stdout)

p, d = run(b"import sys\nsys.exit(7)\n")
check(p.returncode == 7, "exit code passes through: %d" % p.returncode)

p, d = run(b"x = 1\n\ndef f():\n    raise ValueError('boom')\nf()\n", filename="prog.py")
check(p.returncode == 1, "exception exits 1")
err = p.stderr.decode()
check("prog.py\", line 5" in err and "line 4, in f" in err and "ValueError: boom" in err, "traceback: " + err)
check("runpy" not in err and "<string>" not in err, "traceback starts at the job's file: " + err)

p, d = run(b"def broken(:\n")
check(p.returncode == 1 and "SyntaxError" in p.stderr.decode(), "syntax error: %r" % (p.stderr,))

p, d = run(b"print(__name__, __file__.endswith('/main.py'))\n")
check(p.stdout == b"__main__ True\n", "__main__ and __file__: %r" % p.stdout)

p, d = run(b"import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
check(p.returncode == -9, "signals pass through: %d" % p.returncode)

p, d = run(b"print('never')\n", truncate=True)
check(p.returncode == 1 and b"stdin ended" in p.stderr and b"never" not in p.stdout, "short code: %r" % (p,))

sys.exit(1 if failures else 0)
