#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpus of fuzz-request next to this script: valid requests, each kind of bad
# frame, and RESULT records. Written from pyward-protocol(7), independent of the C code.
import os
import struct

HELLO, CODE, FILENAME, ARG, PROFILE, LIMIT, REQUEST_END = range(1, 8)
STDIN, STDIN_EOF, CANCEL = 0x10, 0x11, 0x12
ACCEPTED, STDOUT, STDERR, RESULT = 0x101, 0x102, 0x103, 0x104


def f(t, payload=b"", flags=0, length=None):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("<HHI", t, flags, len(payload) if length is None else length) + payload


def hello(v=1):
    return f(HELLO, struct.pack("<I", v))


def limit(k, v):
    return f(LIMIT, struct.pack("<IQ", k, v))


END = f(REQUEST_END)
seeds = {
    "minimal": hello() + f(CODE, "print(1)\n") + END,
    "empty-code": hello() + f(CODE) + END,
    "full": hello() + f(CODE, "import sys\nprint(sys.argv, sys.stdin.read())\n") + f(FILENAME, "job.py")
    + f(ARG, "a") + f(ARG, "") + f(ARG, "\xff") + f(PROFILE, "default")
    + b"".join(limit(k, k * 1000) for k in range(1, 8)) + END
    + f(STDIN, "hello\n") + f(STDIN, b"\x00" * 100) + f(STDIN_EOF),
    "cancel": hello() + f(CODE, "while True: pass") + END + f(CANCEL),
    "args-max": hello() + f(CODE, "pass") + f(ARG, "x") * 257 + END,
    "arg-long": hello() + f(CODE, "pass") + f(ARG, "a" * 4096) + f(ARG, "b" * 4097) + END,
    "no-hello": f(CODE, "pass") + END,
    "hello-v2": hello(2) + f(CODE, "pass") + END,
    "hello-short": f(HELLO, b"\x01\x00\x00") + END,
    "hello-twice": hello() + hello() + f(CODE, "pass") + END,
    "code-twice": hello() + f(CODE, "a") + f(CODE, "b") + END,
    "code-nul": hello() + f(CODE, "a\0b") + END,
    "no-code": hello() + END,
    "filename-bad": hello() + f(CODE, "pass") + f(FILENAME, "../x.py") + END,
    "filename-dots": hello() + f(CODE, "pass") + f(FILENAME, "..") + END,
    "filename-twice": hello() + f(CODE, "pass") + f(FILENAME, "a.py") + f(FILENAME, "b.py") + END,
    "profile-bad": hello() + f(CODE, "pass") + f(PROFILE, "a b") + END,
    "limit-unknown": hello() + f(CODE, "pass") + limit(99, 1) + END,
    "limit-zero": hello() + f(CODE, "pass") + limit(1, 0) + END,
    "limit-twice": hello() + f(CODE, "pass") + limit(5, 1) + limit(5, 2) + END,
    "limit-short": hello() + f(CODE, "pass") + f(LIMIT, b"\x01\x00\x00\x00") + END,
    "stdin-early": hello() + f(CODE, "pass") + f(STDIN, "x") + END,
    "stdin-empty": hello() + f(CODE, "pass") + END + f(STDIN, ""),
    "after-end": hello() + f(CODE, "pass") + END + f(CODE, "again"),
    "helper-frame": hello() + f(STDOUT, "x") + END,
    "flags": hello() + f(CODE, "pass", flags=1) + END,
    "unknown-type": hello() + f(0x99, "") + END,
    "oversize": hello() + f(CODE, length=0xFFFFFFFF),
    "truncated": hello() + f(CODE, "print(1)")[:-3],
    "result-ok": b"status=ok\nexit_code=0\nsignal=\nwall_ms=12\ncpu_ms=3\nmemory_peak_bytes=4096\n"
    b"memory_peak_reason=\nunit=pyward-job-1.service\ninvocation_id=0123456789abcdef0123456789abcdef\n"
    b"job=1\nmessage=\n",
    "result-signal": b"status=signal\nexit_code=\nsignal=SIGSEGV\nwall_ms=\ncpu_ms=\nmemory_peak_bytes=\n"
    b"memory_peak_reason=no accounting\\nhere\nunit=\ninvocation_id=\njob=\nmessage=back\\\\slash\n",
    "result-unknown": b"future=\\q\nstatus=oom\nsignal=SIG40\n",
    "result-bad-escape": b"status=ok\nmessage=a\\tb\n",
    "result-dup": b"status=ok\nstatus=exit\n",
}

here = os.path.dirname(os.path.abspath(__file__))
for name, data in seeds.items():
    with open(os.path.join(here, "seed-" + name), "wb") as out:
        out.write(data)
