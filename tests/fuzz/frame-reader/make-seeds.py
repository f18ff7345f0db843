#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpus of fuzz-frame-reader: the first byte of each seed picks the write size
# (byte + 1), the rest is what the client sends. Run from this directory.
import struct


def frame(t, payload=b"", flags=0):
    return struct.pack("<HHI", t, flags, len(payload)) + payload


REQUEST = (frame(0x1, struct.pack("<I", 1)) + frame(0x2, b"print('hi')\n") + frame(0x3, b"main.py")
           + frame(0x4, b"arg") + frame(0x5, b"default") + frame(0x6, struct.pack("<IQ", 1, 5))
           + frame(0x7))
SEEDS = {
    "seed-request-whole": bytes([255]) + REQUEST,
    "seed-request-bytewise": bytes([0]) + REQUEST,
    "seed-request-stdin": bytes([6]) + REQUEST + frame(0x10, b"x" * 300) + frame(0x11),
    "seed-cancel": bytes([31]) + REQUEST + frame(0x12),
    "seed-header-split": bytes([2]) + frame(0x4, b"abcdef"),
    "seed-bad-type": bytes([255]) + frame(0x99, b"zz"),
    "seed-bad-flags": bytes([255]) + frame(0x4, b"a", flags=1),
    "seed-too-long": bytes([255]) + struct.pack("<HHI", 0x5, 0, 65),
    "seed-eof-mid-header": bytes([255]) + frame(0x2, b"x")[:5],
    "seed-eof-mid-payload": bytes([3]) + frame(0x2, b"0123456789")[:12],
    "seed-empty-stdin": bytes([255]) + frame(0x10),
    # Files and discovery: FILE (12-byte header + path), FILE_DATA, COLLECT, DISCOVER, and their bounds.
    "seed-files": bytes([40]) + REQUEST[:-8] + frame(0x8, struct.pack("<IQ", 1, 3) + b"in/a.txt")
    + frame(0x9, b"abc") + frame(0xA) + frame(0x7),
    "seed-discover": bytes([255]) + frame(0x1, struct.pack("<I", 1)) + frame(0xB) + frame(0x7),
    "seed-file-short": bytes([255]) + frame(0x8, struct.pack("<IQ", 0, 0)),
    "seed-file-too-long": bytes([255]) + struct.pack("<HHI", 0x8, 0, 12 + 1025),
    "seed-file-data-big": bytes([255]) + struct.pack("<HHI", 0x9, 0, 65537),
    "seed-collect-payload": bytes([255]) + frame(0xA, b"x"),
    "seed-helper-frames": bytes([255]) + frame(0x105, struct.pack("<IQ", 0o644, 0) + b"o")
    + frame(0x107, struct.pack("<I", 1)) + frame(0x108, b"name=x\n"),
}
for name, data in SEEDS.items():
    with open(name, "wb") as f:
        f.write(data)
