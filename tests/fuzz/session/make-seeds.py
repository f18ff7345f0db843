#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpus of fuzz-session next to this script. fuzz-session reads each input as a
# CELL payload, a CELL_RESULT record, the frames of a request after HELLO and SESSION, and a
# runner's CH_CELL_RESULT; so the seeds are one of each, valid and broken. Written from
# pyward-protocol(7) "SESSIONS", independent of the C code.
import os
import struct

PROFILE, LIMIT, REQUEST_END = 0x05, 0x06, 0x07
CODE, FILENAME, ARG, FILE, COLLECT, DISCOVER, SESSION = 0x02, 0x03, 0x04, 0x08, 0x0A, 0x0B, 0x0C
CELL, INTERRUPT, SESSION_END, CELL_RESULT = 0x13, 0x14, 0x15, 0x109
COLLECT_FLAG = 0x1


def f(t, payload=b"", flags=0, length=None):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("<HHI", t, flags, len(payload) if length is None else length) + payload


def limit(k, v):
    return f(LIMIT, struct.pack("<IQ", k, v))


def cell(code, flags=0):
    if isinstance(code, str):
        code = code.encode()
    return struct.pack("<I", flags) + code


END = f(REQUEST_END)
seeds = {
    # CELL payloads
    "cell": cell("x = 1\nx + 1\n"),
    "cell-collect": cell("open('out.txt', 'w').write('hi')\n", COLLECT_FLAG),
    "cell-empty": cell(""),
    "cell-bad-flags": cell("pass", 0x2),
    "cell-short": b"\x01\x00\x00",
    "cell-utf8": cell("print('\u00e9\u20ac\U0001F600')\n"),
    # CELL_RESULT records (and CH_CELL_RESULT's subset: status, value, error texts)
    "result-ok": "cell=1\nstatus=ok\nvalue=2\nwall_ms=3\ncpu_ms=1\n",
    "result-none": "cell=2\nstatus=ok\nwall_ms=\ncpu_ms=\n",
    "result-error": "cell=3\nstatus=error\nerror_type=ZeroDivisionError\nerror_message=division by zero\n"
                    "traceback=Traceback (most recent call last):\\n  File \"<cell 3>\", line 1, in <module>\\n"
                    "ZeroDivisionError: division by zero\\n\nwall_ms=0\ncpu_ms=0\n",
    "result-interrupted": "cell=4\nstatus=interrupted\nerror_type=KeyboardInterrupt\nerror_message=\n"
                          "traceback=\nmessage=the cell reached its wall-time limit of 10 s\n"
                          "wall_ms=10000\ncpu_ms=9990\n",
    "result-files": "cell=5\nstatus=ok\nwall_ms=1\ncpu_ms=1\nfiles_out=2\nfiles_out_bytes=10\n"
                    "files_skipped=1\nfiles_note=the collection's time ran out\n",
    "result-truncated": "cell=6\nstatus=ok\nvalue=" + "'" + "a" * 100 + "\nvalue_truncated=1\nwall_ms=1\ncpu_ms=\n",
    "result-escapes": "cell=7\nstatus=ok\nvalue='a\\\\\\\\b\\\\n'\\nline\nwall_ms=1\ncpu_ms=1\n",
    "result-empty-value": "cell=8\nstatus=ok\nvalue=\nwall_ms=1\ncpu_ms=1\n",
    "result-unknown-key": "cell=9\nstatus=ok\nfuture=x\nwall_ms=1\ncpu_ms=1\n",
    "result-bad-escape": "cell=1\nstatus=ok\nvalue=a\\tb\n",
    "result-dup": "cell=1\nstatus=ok\nstatus=error\n",
    "result-cell-zero": "cell=0\nstatus=ok\n",
    "result-no-cell": "status=ok\nvalue=1\n",
    "result-bad-status": "cell=1\nstatus=killed\n",
    "result-no-newline": "cell=1\nstatus=ok",
    "result-nul": "cell=1\nstatus=ok\x00\n",
    "runner-ok": "status=ok\nvalue=42\n",
    "runner-error": "status=error\nerror_type=NameError\nerror_message=name 'y' is not defined\n"
                    "traceback=Traceback (most recent call last):\\n  File \"<cell 2>\", line 1, in <module>\\n"
                    "NameError: name 'y' is not defined\\n\n",
    "runner-interrupted": "status=interrupted\n",
    "runner-unknown-key": "status=ok\nwall_ms=1\n",
    "runner-long-value": "status=ok\nvalue=" + "\u00e9" * 9000 + "\n",
    "runner-long-traceback": "status=error\ntraceback=" + "\\n" * 40000 + "\n",
    # Frames after HELLO and SESSION
    "request": f(PROFILE, "default") + limit(5, 10_000_000) + limit(15, 3_600_000_000) + limit(17, 300_000_000)
    + limit(18, 100) + limit(19, 2_000_000) + END,
    "request-minimal": END,
    "request-code": f(CODE, "print(1)") + END,
    "request-filename": f(FILENAME, "job.py") + END,
    "request-arg": f(ARG, "a") + END,
    "request-file": f(FILE, struct.pack("<IQ", 0, 1) + b"f") + f(0x09, "x") + END,
    "request-collect": f(COLLECT) + END,
    "request-discover": f(DISCOVER) + END,
    "request-session-twice": f(SESSION) + END,
    "request-cell-early": f(CELL, cell("pass")) + END,
    "request-interrupt-early": f(INTERRUPT) + END,
    "request-end-early": f(SESSION_END) + END,
    "request-cell-result": f(CELL_RESULT, "cell=1\nstatus=ok\n") + END,
    "request-limit-zero": limit(18, 0) + END,
    "request-limit-unknown": limit(20, 1) + END,
    "request-after-end": END + f(CELL, cell("1 + 1")) + f(INTERRUPT) + f(SESSION_END),
}

here = os.path.dirname(os.path.abspath(__file__))
for name, data in seeds.items():
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(here, "seed-" + name), "wb") as out:
        out.write(data)
