# SPDX-License-Identifier: LGPL-2.1-or-later
# Build step: turns runner.py into a C string constant (bootstrap.h: BOOTSTRAP_PY), leaving out
# comment and blank lines so the -c argument the job's ExecStart= carries stays short (runner.py
# has no multi-line string literal, where that would change a value).
import sys

src, dst = sys.argv[1], sys.argv[2]
lines = [l for l in open(src, encoding="utf-8").read().splitlines()
         if l.strip() and not l.lstrip().startswith("#")]
text = "\n".join(lines) + "\n"
compile(text, "runner.py", "exec")
with open(dst, "w", encoding="utf-8") as f:
    f.write("/* Generated from runner.py by embed-runner.py; do not edit. */\n#pragma once\n")
    f.write("static const char BOOTSTRAP_PY[] =\n")
    for l in lines:
        f.write('        "%s\\n"\n' % l.replace("\\", "\\\\").replace('"', '\\"'))
    f.write("        ;\n")
