# SPDX-License-Identifier: LGPL-2.1-or-later
# Build step: turns the runner's files (runner-session.py, runner-files.py, then runner.py, whose
# last lines run it) into one C string constant (bootstrap.h: BOOTSTRAP_PY), leaving out comment
# and blank lines so the -c argument the job's ExecStart= carries stays short (the runner has no multi-line string
# literal, where that would change a value).
# Usage: embed-runner.py SOURCE.py... OUTPUT.h
import sys

srcs, dst = sys.argv[1:-1], sys.argv[-1]
lines = [l for src in srcs for l in open(src, encoding="utf-8").read().splitlines()
         if l.strip() and not l.lstrip().startswith("#")]
text = "\n".join(lines) + "\n"
compile(text, "runner.py", "exec")
with open(dst, "w", encoding="utf-8") as f:
    f.write("/* Generated from %s by embed-runner.py; do not edit. */\n#pragma once\n"
            % " and ".join(s.rsplit("/", 1)[-1] for s in srcs))
    f.write("static const char BOOTSTRAP_PY[] =\n")
    for l in lines:
        f.write('        "%s\\n"\n' % l.replace("\\", "\\\\").replace('"', '\\"'))
    f.write("        ;\n")
