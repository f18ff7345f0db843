# SPDX-License-Identifier: LGPL-2.1-or-later
# Build step: turns the runner's files into one C string constant (bootstrap.h: BOOTSTRAP_PY),
# leaving out comment and blank lines so the -c argument the job's ExecStart= carries stays short
# (the runner has no multi-line string literal, where that would change a value). runner.py comes
# last (its last lines run it); the files before it (runner-session.py, runner-files.py: what only
# a session or collected files need) go in as one string, _LATER, which the runner compiles only
# when a job needs it (runner.py: _later()), so that a one-shot job does not pay for compiling
# them. helper/runnerpeer.py joins them with join() too, so that the unit tests run this text.
# Usage: embed-runner.py SOURCE.py... OUTPUT.h
import sys


def _code_lines(path):
    return [l for l in open(path, encoding="utf-8").read().splitlines()
            if l.strip() and not l.lstrip().startswith("#")]


def join(srcs):
    """The runner's text: the lines of srcs[:-1] as the literal _LATER, then srcs[-1]'s lines."""
    later = "".join(l + "\n" for src in srcs[:-1] for l in _code_lines(src))
    compile(later, "<string>", "exec")
    lines = ["_LATER = " + repr(later)] + _code_lines(srcs[-1])
    text = "\n".join(lines) + "\n"
    compile(text, "<string>", "exec")
    return text


def main():
    srcs, dst = sys.argv[1:-1], sys.argv[-1]
    lines = join(srcs).splitlines()
    with open(dst, "w", encoding="utf-8") as f:
        f.write("/* Generated from %s by embed-runner.py; do not edit. */\n#pragma once\n"
                % " and ".join(s.rsplit("/", 1)[-1] for s in srcs))
        f.write("static const char BOOTSTRAP_PY[] =\n")
        for l in lines:
            f.write('        "%s\\n"\n' % l.replace("\\", "\\\\").replace('"', '\\"'))
        f.write("        ;\n")


if __name__ == "__main__":
    main()
