#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpus of fuzz-request next to this script: valid requests, each kind of bad
# frame, and RESULT records. Written from pyward-protocol(7), independent of the C code.
import os
import struct

HELLO, CODE, FILENAME, ARG, PROFILE, LIMIT, REQUEST_END = range(1, 8)
STDIN, STDIN_EOF, CANCEL = 0x10, 0x11, 0x12
FILE, FILE_DATA, COLLECT, DISCOVER = 0x08, 0x09, 0x0A, 0x0B
SESSION, CELL, INTERRUPT, SESSION_END, CELL_RESULT = 0x0C, 0x13, 0x14, 0x15, 0x109
ACCEPTED, STDOUT, STDERR, RESULT = 0x101, 0x102, 0x103, 0x104
FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED, PROFILE_INFO = 0x105, 0x106, 0x107, 0x108
EXECUTABLE = 0x1


def f(t, payload=b"", flags=0, length=None):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("<HHI", t, flags, len(payload) if length is None else length) + payload


def hello(v=1):
    return f(HELLO, struct.pack("<I", v))


def limit(k, v):
    return f(LIMIT, struct.pack("<IQ", k, v))


def file_header(flags, size, path):
    if isinstance(path, str):
        path = path.encode()
    return struct.pack("<IQ", flags, size) + path


def file(path, data=b"", flags=0, size=None):
    """FILE and its FILE_DATA in chunks of at most 64 KiB."""
    if isinstance(data, str):
        data = data.encode()
    out = f(FILE, file_header(flags, len(data) if size is None else size, path))
    for i in range(0, len(data), 65536):
        out += f(FILE_DATA, data[i:i + 65536])
    return out


END = f(REQUEST_END)
CODE_PASS = f(CODE, "pass")
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
    # Files in (FILE + FILE_DATA), COLLECT, DISCOVER.
    "files": hello() + CODE_PASS + file("data/in.csv", "a,b\n1,2\n") + file("run.sh", "", EXECUTABLE)
    + file("x\n\xff", b"\x00\x01") + f(COLLECT) + END,
    "files-chunks": hello() + CODE_PASS + f(FILE, file_header(0, 5, "a")) + f(FILE_DATA, "ab")
    + f(FILE_DATA, "cde") + f(ARG, "x") + END,
    "file-pending": hello() + CODE_PASS + f(FILE, file_header(0, 3, "a")) + f(FILE_DATA, "a") + END,
    "file-data-orphan": hello() + CODE_PASS + f(FILE_DATA, "x") + END,
    "file-data-over": hello() + CODE_PASS + f(FILE, file_header(0, 1, "a")) + f(FILE_DATA, "xy") + END,
    "file-dotdot": hello() + CODE_PASS + file("../x", "x") + END,
    "file-absolute": hello() + CODE_PASS + file("/etc/x", "x") + END,
    "file-empty-component": hello() + CODE_PASS + file("a//b", "x") + END,
    "file-nul": hello() + CODE_PASS + file(b"a\x00b", "x") + END,
    "file-deep": hello() + CODE_PASS + file("/".join(["d"] * 33)) + END,
    "file-long-component": hello() + CODE_PASS + file("c" * 256) + END,
    "file-twice": hello() + CODE_PASS + file("x") + file("y") + file("x") + END,
    "file-dir": hello() + CODE_PASS + file("a") + file("a!b") + file("a/b") + END,
    "file-main": hello() + CODE_PASS + file("main.py", "print(2)") + END,
    "file-below-main": hello() + CODE_PASS + f(FILENAME, "job.py") + file("job.py/x") + END,
    "file-flags": hello() + CODE_PASS + file("x", flags=2) + END,
    "file-huge": hello() + CODE_PASS + f(FILE, file_header(0, 1 << 40, "x")) + END,
    "file-short": hello() + CODE_PASS + f(FILE, struct.pack("<IQ", 0, 0)) + END,
    "file-after-end": hello() + CODE_PASS + END + file("late", "x"),
    "collect": hello() + f(COLLECT) + CODE_PASS + END,
    "collect-twice": hello() + CODE_PASS + f(COLLECT) + f(COLLECT) + END,
    "discover": hello() + f(DISCOVER) + END,
    "discover-code": hello() + f(DISCOVER) + CODE_PASS + END,
    "code-discover": hello() + CODE_PASS + f(DISCOVER) + END,
    "discover-twice": hello() + f(DISCOVER) + f(DISCOVER) + END,
    "discover-file": hello() + f(DISCOVER) + file("x") + END,
    "limit-files-zero": hello() + CODE_PASS + b"".join(limit(k, 0) for k in range(8, 14)) + limit(14, 0) + END,
    "limit-files": hello() + CODE_PASS + b"".join(limit(k, k) for k in range(8, 15)) + END,
    # What the helper sends back: FILE_OUT's and FILE_SKIPPED's payloads, PROFILE_INFO, RESULT's new keys.
    "file-out-header": file_header(0o644, 12, "out/plot.png"),
    "file-out-bad": file_header(0o644, 12, "../plot.png"),
    "file-skipped": struct.pack("<I", 1) + b"link",
    "file-skipped-empty": struct.pack("<I", 11),
    "file-skipped-unknown": struct.pack("<I", 99) + b"x",
    "profile-info": b"name=default\ninterpreter=/usr/bin/python3\npython=3.11.2\nnetwork=none\n"
    + b"".join(b"limit.%s.default=%d\nlimit.%s.max=%d\n" % (n, i, n, 10 * i) for i, n in enumerate(
        [b"memory", b"tasks", b"cpu-quota", b"cpu-time", b"wall-time", b"output", b"disk", b"files-in",
         b"files-in-bytes", b"files-out", b"files-out-bytes", b"file-out-size", b"files-out-depth",
         b"files-out-time"], 1))
    + b"package=numpy 1.24.2\npackage=odd\\name\\n 1\npackages_omitted=3\nnote=\n",
    "profile-info-bad": b"name=x\nlimit.memory.max=01\n",
    "profile-info-future": b"name=x\nfuture=\\q\nlimit.future.max=1\n",
    "result-files": b"status=timeout\nexit_code=\nsignal=SIGKILL\nwall_ms=5000\ncpu_ms=\nmemory_peak_bytes=\n"
    b"memory_peak_reason=\nunit=\ninvocation_id=\njob=\nmessage=\nfiles_out=2\nfiles_out_bytes=10\n"
    b"files_skipped=1\nfiles_note=the collection's time ran out\n",
    "result-profiles": b"status=ok\nprofiles=3\n",
    # Sessions (pyward-protocol(7) SESSIONS): the request, what it refuses in either order, and
    # the session's RESULT.
    "session": hello() + f(SESSION) + f(PROFILE, "default") + limit(5, 10_000_000) + limit(18, 10)
    + limit(19, 2_000_000) + END,
    "session-minimal": hello() + f(SESSION) + END,
    "session-code": hello() + f(SESSION) + CODE_PASS + END,
    "code-session": hello() + CODE_PASS + f(SESSION) + END,
    "session-discover": hello() + f(SESSION) + f(DISCOVER) + END,
    "discover-session": hello() + f(DISCOVER) + f(SESSION) + END,
    "session-twice": hello() + f(SESSION) + f(SESSION) + END,
    "session-collect": hello() + f(SESSION) + f(COLLECT) + END,
    "session-file": hello() + f(SESSION) + file("f", "x") + END,
    "session-cell-early": hello() + f(SESSION) + f(CELL, b"\0\0\0\0pass") + END,
    "session-end-early": hello() + f(SESSION) + f(INTERRUPT) + f(SESSION_END) + END,
    "session-cell-result": hello() + f(SESSION) + f(CELL_RESULT, "cell=1\nstatus=ok\n") + END,
    "result-cells": b"status=ok\nexit_code=0\nsignal=\nwall_ms=5\ncpu_ms=1\nmemory_peak_bytes=\n"
    b"memory_peak_reason=\nunit=\ninvocation_id=\njob=\nmessage=\ncells=3\n",
}

here = os.path.dirname(os.path.abspath(__file__))
for name, data in seeds.items():
    with open(os.path.join(here, "seed-" + name), "wb") as out:
        out.write(data)
