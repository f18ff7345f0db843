#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seeds made by the real runner: seed-runner-collect (a collection with files, links,
# a FIFO, a depth skip) and seed-runner-info (a discovery), the channel bytes helper/runner.py
# sent, run by helper/test-runner.py's harness (root or user namespaces: it kills in a PID
# namespace). test-channel reads them back through the C reader, so the runner and the reader
# agree. Run from this directory after changing runner.py: python3 make-runner-seeds.py
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "..", "..", "..", "helper")
sys.argv = [sys.argv[0], os.path.join(HELPER, "runner.py")]
harness = {"__name__": "harness"}
exec(compile(open(os.path.join(HELPER, "test-runner.py")).read(), "test-runner.py", "exec"), harness)
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
