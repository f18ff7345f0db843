# SPDX-License-Identifier: LGPL-2.1-or-later
"""The interactive front end of a pyward session: python3 -m pyward.interactive [OPTIONS]
(what `pyward -i` runs; pyward(1) "INTERACTIVE SESSIONS").

On a terminal: a prompt as Python's own (">>> ", "... ", multi-line input decided by codeop,
readline line editing and history in memory); each complete input runs as one cell in the
session; Ctrl-C interrupts the running cell, or clears the input at the prompt; Ctrl-D ends the
session. Standard input not a terminal: cells are read from it, separated by lines that are
exactly "# %%", each run as it is read. Either way a cell's output is streamed as it comes, the
value of a final expression is printed as the REPL prints it, an error's traceback goes to
standard error. Exit status: 0; 1 if a cell (read from a pipe) ended in error or was
interrupted; the session's status as pyward(1) maps a job's (124 timeout, 3 for sys.exit(3),
137 killed ...) if it ended otherwise than by Ctrl-D or the end of the input; 125 if pyward
failed (the socket, a refusal, the protocol).
"""
import argparse
import code
import signal
import sys
import threading

from ._errors import ProtocolError
from ._run import CONNECT_TIMEOUT
from ._values import parse_size, parse_timespan, parse_uint
from .session import Session, SessionEnded, describe_end

CELL_MARK = b"# %%"
EXIT_TIMEOUT, EXIT_PYWARD = 124, 125
_SIGKILL = 9


def exit_status(result):
    """The exit status pyward(1) gives a job's Result (client/pyward.c: exit_status_of)."""
    s = result.status
    if s == "ok":
        return 0
    if s == "exit":
        return result.exit_code if result.exit_code else 1
    if s in ("timeout", "cpu-limit"):
        return EXIT_TIMEOUT
    if s in ("signal", "oom", "output-limit", "killed"):
        return 128 + (result.signal_number or _SIGKILL)
    return EXIT_PYWARD


def split_cells(lines):
    """The cells of a stream of lines (bytes): separated by lines that are exactly "# %%" (the
    Jupytext and VS Code cell marker; a CR before the newline is allowed), each yielded as soon as
    its end is read; cells of blank lines only are left out."""
    cell = []
    for line in lines:
        if (line[:-1] if line.endswith(b"\n") else line) in (CELL_MARK, CELL_MARK + b"\r"):
            if b"".join(cell).strip():
                yield b"".join(cell)
            cell = []
        else:
            cell.append(line)
    if b"".join(cell).strip():
        yield b"".join(cell)


class Output:
    """Where a cell's output goes: our binary stdout and stderr, flushed at each chunk."""

    def __init__(self, stdout=None, stderr=None):
        self.out = stdout if stdout is not None else sys.stdout.buffer
        self.err = stderr if stderr is not None else sys.stderr.buffer

    def stdout(self, data):
        self.out.write(data)
        self.out.flush()

    def stderr(self, data):
        self.err.write(data)
        self.err.flush()

    def note(self, text):
        self.stderr(f"pyward: {text}\n".encode("utf-8", "replace"))


def run_cell(session, source, output):
    """Runs source as one cell, its output streamed to output; a SIGINT meanwhile (Ctrl-C)
    interrupts the cell instead of raising KeyboardInterrupt here. Prints the value, the
    traceback and the helper's note as the cell's result has them; returns the CellResult or
    raises SessionEnded."""
    interrupted = []
    previous = None

    def on_sigint(signum, frame):
        interrupted.append(True)
        session.interrupt()

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        r = session.run(source, on_stdout=output.stdout, on_stderr=output.stderr)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if r.value is not None:
        output.stdout((r.value + "\n").encode("utf-8", "replace"))
        if r.value_truncated:
            output.note(f"cell {r.cell}: the value's repr was cut short")
    if r.status != "ok":
        if r.traceback:
            tb = r.traceback if r.traceback.endswith("\n") else r.traceback + "\n"
            output.stderr(tb.encode("utf-8", "replace"))
        elif r.error_type:
            msg = f": {r.error_message}" if r.error_message else ""
            output.stderr(f"{r.error_type}{msg}\n".encode("utf-8", "replace"))
    # Our own Ctrl-C needs no note; a limit's interruption, or the helper's word, does.
    if r.message and not (interrupted and r.status == "interrupted"):
        output.note(f"cell {r.cell}: {r.message}")
    return r


def _ended(result, output):
    # A cell's sys.exit(0) (or exit()) is no news; a limit's end with status ok has a message.
    if result.status != "ok" or result.message:
        output.note(f"session ended: {describe_end(result)}")
    return exit_status(result)


def run_script(session, lines, output):
    """The cells of lines (bytes), one after another; the exit status."""
    failed = False
    try:
        for source in split_cells(lines):
            failed |= run_cell(session, source, output).status != "ok"
    except SessionEnded as e:
        return _ended(e.result, output) or int(failed)
    result = session.close()
    status = _ended(result, output) if result.status != "ok" else 0
    return status or int(failed)


class Console(code.InteractiveConsole):
    """Python's own REPL logic (code.InteractiveConsole: prompts, codeop's decision whether the
    input is complete, KeyboardInterrupt and EOF at the prompt), each complete input sent to the
    session as one cell instead of being run here."""

    def __init__(self, session, output):
        super().__init__(filename="<stdin>")
        self.session, self.output = session, output

    def runsource(self, source, filename="<input>", symbol="single", **kw):
        try:
            compiled = self.compile(source, filename, symbol)
        except (OverflowError, SyntaxError, ValueError):
            compiled = True  # complete, and wrong: the session's interpreter says how
        if compiled is None:
            return True  # more input needed: "... "
        if source.strip():
            run_cell(self.session, source, self.output)
        return False


def repl(session, output, banner=None):
    """The prompt over session until Ctrl-D (then SESSION_END) or the session's end; the exit
    status."""
    try:
        import readline  # noqa: F401 (input() gets line editing and an in-memory history)
    except ImportError:
        pass
    console = Console(session, output)
    if banner is None:
        banner = (f"pyward session: job {session.job} ({session.unit}); "
                  "Ctrl-C interrupts a cell, Ctrl-D ends the session.")
    try:
        console.interact(banner=banner, exitmsg="")
    except SessionEnded as e:
        return _ended(e.result, output)
    result = session.close()
    return _ended(result, output) if result.status != "ok" else 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"pyward: {message} (see --help)\n")
        sys.exit(EXIT_PYWARD)


def _typed(parse, scale=1):
    def conv(s):
        try:
            v = parse(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {s!r}") from None
        if v == 0:
            raise argparse.ArgumentTypeError(f"invalid value {s!r}: zero is no limit")
        return v / scale if scale != 1 else v
    return conv


def parse_args(argv):
    """Session()'s keywords from the command line (the options of pyward -i, same syntax)."""
    p = _Parser(prog="python3 -m pyward.interactive",
                description="A Python prompt (or, with standard input not a terminal, cells separated by "
                            "lines '# %%') in a pyward session.")
    sec = _typed(parse_timespan, 1_000_000)
    p.add_argument("-p", "--profile")
    p.add_argument("--socket", dest="socket_path")
    p.add_argument("--connect-timeout", type=lambda s: parse_timespan(s) / 1_000_000, default=CONNECT_TIMEOUT)
    p.add_argument("-t", "--timeout", type=sec, help="each cell's wall-clock limit")
    p.add_argument("--cpu-time", type=sec, help="each cell's CPU-time limit")
    p.add_argument("-m", "--memory", type=_typed(parse_size))
    p.add_argument("--tasks", type=_typed(parse_uint))
    p.add_argument("--cpu-quota", type=_typed(parse_uint))
    p.add_argument("--output-max", type=_typed(parse_size))
    p.add_argument("--disk", type=_typed(parse_size))
    p.add_argument("--session-timeout", type=sec, help="the session's wall-clock limit")
    p.add_argument("--session-cpu-time", type=sec, help="the session's CPU-time limit")
    p.add_argument("--idle-timeout", type=sec, help="the longest wait for the next cell")
    p.add_argument("--cells", type=_typed(parse_uint), help="the most cells the session runs")
    p.add_argument("--cell-grace", dest="grace", type=sec,
                   help="how long an interrupted cell has to end before the session does")
    return vars(p.parse_args(argv))


def main(argv=None, *, session_factory=Session, stdin=None, output=None, interactive=None):
    """The front end; returns the exit status. stdin (binary), output (Output) and interactive
    (default: whether stdin is a terminal) are for tests."""
    kwargs = parse_args(sys.argv[1:] if argv is None else argv)
    output = output or Output()
    stdin = stdin if stdin is not None else sys.stdin.buffer
    if interactive is None:
        interactive = stdin.isatty()
    try:
        session = session_factory(**kwargs)
    except SessionEnded as e:
        if e.result.status == "rejected":
            output.note(f"request rejected: {e.result.message or '(no reason given)'}")
            return EXIT_PYWARD
        return _ended(e.result, output)
    except (OSError, ProtocolError) as e:
        output.note(_reason(e))
        return EXIT_PYWARD
    try:
        return repl(session, output) if interactive else run_script(session, iter(stdin.readline, b""), output)
    except KeyboardInterrupt:  # while reading the next cell from a pipe: end the session cleanly
        try:
            session.close()
        except (OSError, ProtocolError):
            pass
        return 128 + signal.SIGINT
    except (OSError, ProtocolError) as e:
        output.note(_reason(e))
        try:
            session.close()
        except (OSError, ProtocolError):
            pass
        return EXIT_PYWARD


def _reason(e):
    text = str(e.args[1]) if isinstance(e, OSError) and len(e.args) > 1 else str(e)
    return text[len("pyward: "):] if text.startswith("pyward: ") else text


if __name__ == "__main__":
    sys.exit(main())
