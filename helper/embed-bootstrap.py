# SPDX-License-Identifier: LGPL-2.1-or-later
# Build step: turns bootstrap.py into a C string constant (bootstrap.h), leaving out comment lines so
# the -c argument the job's ExecStart= carries stays short.
import sys

src, dst = sys.argv[1], sys.argv[2]
lines = [l for l in open(src, encoding="utf-8").read().splitlines() if not l.lstrip().startswith("#")]
text = "\n".join(lines) + "\n"
compile(text, "bootstrap.py", "exec")
with open(dst, "w", encoding="utf-8") as f:
    f.write("/* Generated from bootstrap.py by embed-bootstrap.py; do not edit. */\n#pragma once\n")
    f.write("static const char BOOTSTRAP_PY[] =\n")
    for l in lines:
        f.write('        "%s\\n"\n' % l.replace("\\", "\\\\").replace('"', '\\"'))
    f.write("        ;\n")
