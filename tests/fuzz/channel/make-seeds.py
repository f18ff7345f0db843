#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpus of fuzz-channel: byte 0 picks the reader (bit 0: discovery, bit 4: a
# session, its cells started before the bytes and after each CELL_RESULT) and the
# bounds (bits 1-3: fuzz-channel.c's bounds_table), byte 1 seeds the split sizes; the rest is what
# a runner sends the helper (helper/channel.h). Run from this directory.
import struct

FILE_OUT, FILE_OUT_DATA, SKIPPED, DONE, INFO, CELL_RESULT = range(0x81, 0x87)


def msg(t, payload=b"", flags=0):
    return struct.pack("<HHI", t, flags, len(payload)) + payload


def file_out(path, data, mode=0o644):
    out = msg(FILE_OUT, struct.pack("<IQ", mode, len(data)) + path)
    return out + b"".join(msg(FILE_OUT_DATA, data[i:i + 65536]) for i in range(0, len(data), 65536))


def skipped(reason, path=b""):
    return msg(SKIPPED, struct.pack("<I", reason) + path)


def done(n=0):
    return msg(DONE, struct.pack("<Q", n))


WIDE, TIGHT, SMALL = 0 << 1, 3 << 1, 7 << 1
SESSION = 0x10
FILES = (file_out(b".hidden", b"h") + file_out(b"a.txt", b"x" * 2000) + file_out(b"a/b", b"", 0o755)
         + file_out(b"caf\xe9/new\nline", b"2") + file_out(b"z", b"zz"))
INFO_TEXT = b"python=3.11.2\nsitedir=/usr/lib/python3/dist-packages\npackage=numpy 1.24.2\n"
SEEDS = {
    "seed-files": bytes([WIDE, 0]) + FILES + done(),
    "seed-files-split": bytes([WIDE, 77]) + FILES + done(),
    "seed-files-bounded": bytes([TIGHT, 5]) + FILES + file_out(b"zz", b"y" * 30) + done(3),
    "seed-files-small": bytes([SMALL, 200]) + FILES + done(1),
    "seed-skipped": bytes([WIDE, 9]) + skipped(1, b"shadow") + skipped(2, b"fifo") + skipped(11)
                    + skipped(10) + done(9800),
    "seed-done": bytes([WIDE, 1]) + done(0),
    "seed-info": bytes([1, 3]) + msg(INFO, INFO_TEXT),
    "seed-info-empty": bytes([1, 0]) + msg(INFO),
    "seed-bad-unsorted": bytes([WIDE, 2]) + file_out(b"b", b"1") + file_out(b"a", b"1"),
    "seed-bad-dotdot": bytes([WIDE, 4]) + file_out(b"a/../b", b""),
    "seed-bad-inside-file": bytes([WIDE, 6]) + msg(FILE_OUT, struct.pack("<IQ", 0o600, 5) + b"f")
                            + msg(FILE_OUT_DATA, b"12") + skipped(2, b"x"),
    "seed-bad-after-done": bytes([WIDE, 8]) + done() + done(),
    "seed-bad-reason": bytes([WIDE, 10]) + skipped(0, b"x"),
    "seed-bad-flags": bytes([WIDE, 12]) + msg(DONE, bytes(8), flags=1),
    "seed-bad-info-in-files": bytes([WIDE, 14]) + msg(INFO, b"python=3\n"),
    "seed-bad-file-in-discovery": bytes([1, 16]) + file_out(b"a", b"1"),
    "seed-session-cells": bytes([SESSION, 0]) + msg(CELL_RESULT, b"status=ok\nvalue=42\n")
                          + msg(CELL_RESULT, b"status=error\nerror_type=ZeroDivisionError\n"
                                b"error_message=division by zero\ntraceback=Traceback (most recent call last):"
                                b"\\n  File \"<cell 2>\", line 1, in <module>\\n")
                          + msg(CELL_RESULT, b""),
    "seed-session-files": bytes([SESSION | TIGHT, 31]) + FILES + msg(CELL_RESULT, b"status=ok\n")
                          + file_out(b"a.txt", b"again") + skipped(1, b"link") + msg(CELL_RESULT, b"status=ok\n"),
    "seed-session-bad-done": bytes([SESSION, 3]) + msg(CELL_RESULT, b"status=ok\n") + done(),
    "seed-session-bad-info": bytes([SESSION, 5]) + msg(INFO, b"python=3\n"),
    "seed-session-bad-two-results": bytes([SESSION, 7]) + msg(CELL_RESULT, b"status=ok\n")
                                    + msg(CELL_RESULT, b"status=ok\n") + msg(CELL_RESULT, b"status=ok\n"),
    "seed-session-bad-in-file": bytes([SESSION, 11]) + msg(FILE_OUT, struct.pack("<IQ", 0o600, 5) + b"f")
                                + msg(CELL_RESULT, b"status=ok\n"),
    "seed-bad-cell-result-in-job": bytes([WIDE, 13]) + msg(CELL_RESULT, b"status=ok\n"),
}
for name, data in SEEDS.items():
    with open(name, "wb") as f:
        f.write(data)
