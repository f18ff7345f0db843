# SPDX-License-Identifier: LGPL-2.1-or-later
# The job's first Python code, passed with -c: reads the header and the code from fd 0, writes the code
# to /tmp/FILENAME and runs it as __main__; the rest of fd 0 is left untouched for the client's stdin.
# stdin carries: 8 bytes little-endian code length, then the code. argv: -c FILENAME ARGS...
# run_path() sets sys.argv[0] to the file's path, as "python3 /tmp/FILENAME ARGS..." would.
import os, runpy, sys
def _read(n):
    b = b""
    while len(b) < n:
        c = os.read(0, n - len(b))  # unbuffered: never reads past the code into the client's stdin
        if not c:
            sys.exit("pyward bootstrap: stdin ended before the code was complete")
        b += c
    return b
_p = os.path.join("/tmp", sys.argv[1])
with open(_p, "wb") as _f:
    _f.write(_read(int.from_bytes(_read(8), "little")))
sys.argv = sys.argv[1:]
del _read, _f
try:
    runpy.run_path(_p, run_name="__main__")
except SystemExit:
    raise
except BaseException as _e:
    # Show the traceback from the job's own file down, not through runpy and this bootstrap.
    _t = _e.__traceback__
    while _t is not None and _t.tb_frame.f_code.co_filename != _p:
        _t = _t.tb_next
    sys.excepthook(type(_e), _e, _e.with_traceback(_t).__traceback__)
    sys.exit(1)
