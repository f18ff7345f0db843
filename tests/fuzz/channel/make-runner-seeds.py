#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seeds made by the real runner: seed-runner-collect (a collection with files, links,
# a FIFO, a depth skip), seed-runner-info (a discovery) and seed-runner-session (a session's cells:
# values, an error, an interrupt, a collection), the channel bytes helper/runner.py
# sent, run by the runner tests' harness, helper/runnerpeer.py (root or user namespaces: it kills
# in a PID namespace). test-channel-reader and test-channel-session read them back through the C
# reader, so the runner and the reader agree. Run from this directory after changing runner.py:
# python3 make-runner-seeds.py
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "..", "..", "..", "helper")
sys.argv = [sys.argv[0], os.path.join(HELPER, "runner.py")]
harness = {"__name__": "harness"}
exec(compile(open(os.path.join(HELPER, "runnerpeer.py")).read(), "runnerpeer.py", "exec"), harness)
raw = []
parse = harness["parse_channel"]
harness["parse_channel"] = lambda data: raw.append(data) or parse(data)

CODE = (b"import os\nos.makedirs('out/deep', exist_ok=True)\nopen('out/a.csv', 'w').write('x,y\\n1,2\\n')\n"
        b"open('out/deep/b.bin', 'wb').write(bytes(range(256)) * 3)\nos.symlink('/etc/shadow', 'shadow')\n"
        b"os.mkfifo('fifo')\nopen(b'caf\\xe9', 'w').write('c')\nopen('.hidden', 'w')\n")
# Byte 0 as fuzz-channel.c reads it: bounds_table[3] (3 files, depth 1), byte 1 the split seed.
harness["run"](CODE, flags=harness["GO_COLLECT"], bounds=(3, 1 << 20, 1 << 20, 1, 1_000_000))
open(os.path.join(HERE, "seed-runner-collect"), "wb").write(bytes([3 << 1, 11]) + raw[-1])
harness["run"](b"", flags=harness["GO_DISCOVER"], with_fd=False)
open(os.path.join(HERE, "seed-runner-info"), "wb").write(bytes([1, 13]) + raw[-1])

# A session: byte 0 as fuzz-channel.c reads it: a session (bit 4), bounds_table[0].
s = harness["Session"]()
s.cell(b"x = 41")
s.cell(b"x + 1")
s.cell(b"def f():\n    return 1 / 0\nf()")
s.send_cell(b"while True: pass")
s.send(harness["INTERRUPT"])
s.result()
s.cell(b"import os\nopen('out.txt', 'w').write('o')\nos.symlink('out.txt', 'link')", flags=harness["CELL_COLLECT"],
       files=[(b"in.txt", b"i", False)])
s.cell(b"'caf\\xe9\\n' * 3", flags=harness["CELL_COLLECT"])
s.send(harness["END"])
assert s.close() == (0, 0)
open(os.path.join(HERE, "seed-runner-session"), "wb").write(bytes([0x10, 17]) + s.raw)
