# SPDX-License-Identifier: LGPL-2.1-or-later
# The pyward client as a Python module (stdlib only, Python >= 3.9): run code through the pyward
# helper socket, plus the low-level framing used by tests that need to send bad input on purpose.
"""Run untrusted Python code through pyward, from Python.

High level::

    import pyward
    res = pyward.run("import sys; print(sys.argv[1:])", args=["a", "b"], timeout=5)
    res.status      # "ok", "exit", "signal", "timeout", "cpu-limit", "oom", "output-limit",
                    # "killed", "rejected" or "error"
    res.exit_code   # int, or None (killed by a signal, or never ran)
    res.stdout      # bytes

run(code, *, args=(), stdin=b"", filename=None, profile=None, timeout=None, memory=None,
    tasks=None, cpu_quota=None, cpu_time=None, output_max=None, disk=None,
    socket_path=DEFAULT_SOCKET, on_stdout=None, on_stderr=None, on_accepted=None,
    cancel=None, client_timeout=None, connect_timeout=CONNECT_TIMEOUT, files=None,
    collect=False) -> Result

  code          str (encoded as UTF-8) or bytes: the program.
  args          iterable of str/bytes: sys.argv[1:] of the job.
  stdin         bytes/str fed to the job's stdin, then end-of-file; None or b"" is an empty stdin.
                It is written while output is read, so a job that echoes a large stdin cannot
                deadlock the client.
  filename      name of the main file in the job (default on the helper side: "main.py").
  profile       configuration profile name (default on the helper side: "default").
  timeout       wall-clock limit in seconds (float); cpu_time: CPU limit in seconds (float).
  memory, disk, output_max   bytes; tasks: count; cpu_quota: percent of one CPU.
                Limits left None are not sent: the profile's defaults apply.
  socket_path   the helper socket (default: $PYWARD_SOCKET or /run/pyward/pyward.sock).
  on_stdout, on_stderr   callables receiving each chunk (bytes) as it arrives; the chunks are
                also collected in Result.stdout / Result.stderr.
  on_accepted   callable receiving the ACCEPTED record (dict) when the helper started the job.
  cancel        a threading.Event; when it is set, CANCEL is sent (the job ends as "killed").
  client_timeout   seconds after which the client gives up waiting and raises TimeoutError
                (a guard against a hung helper; the job's own limits are the helper's job).
  connect_timeout  seconds to wait for a busy socket to take the connection (default 10):
                while the socket exists but its backlog is full (EAGAIN) or it refuses
                (ECONNREFUSED), connect() is retried with backoff; a connection closed before
                the helper sent a single byte (systemd drops one over MaxConnections=; no job
                was started) is dialled again with the whole request. 0 tries once. A missing
                socket fails at once.

  files         {path: bytes} or {path: (bytes, executable)}: input files written into the job's
                working directory (/tmp) before the code runs (mode 0600, or 0700 if
                executable; directories on the way are made). path is str or bytes, relative,
                with no empty, "." or ".." component (path_invalid() says why not; ValueError
                names the file); the helper checks again and its answer counts.
  collect       True: after the code ends, the files it left in the working directory (new or
                changed, regular files only, links never followed) come back in Result.files.

  Raises ConnectionError (socket missing, refused, busy for connect_timeout, reset before a
  result), ProtocolError (the
  helper sent something that is not valid protocol v1), TimeoutError (client_timeout).
  A refused request is not an exception: it is a Result with status "rejected" and a message.

Result fields: status, exit_code, signal ("SIGKILL" etc. or None), stdout, stderr (bytes),
wall_ms, cpu_ms, memory_peak_bytes (int or None when unknown), memory_peak_reason, unit,
invocation_id, job, message (str or None), accepted (dict from ACCEPTED, or None when the job was
never started), path ("warm" or "cold" where the profile keeps warm runners, else None).
Result.signal_number gives the number. With collect=True also: files
({path: bytes}; a path that is not UTF-8 is a str with surrogate escapes, os.fsencode() gives
its bytes back), file_modes ({path: int}), skipped ([(path, reason)]: "symlink", "fifo",
"size", "count", ...), files_out, files_out_bytes, files_skipped (int or None) and files_note
(why the collection is incomplete, or None). Result.write_files(dir, overwrite=False) writes
the files under dir as pyward --files-out does: links never followed, names never outside dir,
an existing name an error unless overwrite (FilesWriteError lists what failed).

    res = pyward.run(code, files={"data.csv": csv_bytes}, collect=True)
    png = res.files["plot.png"]

profiles(socket_path=None, client_timeout=None, connect_timeout=CONNECT_TIMEOUT) -> [Profile]
  The profiles the caller may use (await profiles_async(...) for asyncio). Profile fields: name,
  interpreter, python ("3.11.2" or None), network, limits ({"memory": (default, max), ...} in
  the limit's unit: bytes, microseconds, percent, counts), packages ({name: version}),
  packages_omitted (int), note (str or None). Raises DiscoverError if the helper refused.

connect(socket_path=None, connect_timeout=CONNECT_TIMEOUT) -> socket   the connection run() uses
  (non-blocking, retried as above); await connect_async(...) is the same for asyncio code, whose
  event loop keeps running during the backoff.

await arun(code, **run's keywords) -> Result    run() for asyncio (cancel: an asyncio.Event or a
  threading.Event; cancelling the task closes the connection, which stops the job).

Sessions: one sandboxed interpreter that keeps its globals, imports and files between cells
(pyward-protocol(7) "SESSIONS"):

    with pyward.Session(profile="default", memory=256 << 20, timeout=10) as s:
        s.run("x = 41")
        r = s.run("x + 1", on_stdout=sys.stdout.buffer.write)
        r.value         # "42": the repr of a final expression, as the REPL shows it

Session(profile=None, *, memory=None, tasks=None, disk=None, output_max=None, timeout=None,
        cpu_time=None, session_timeout=None, session_cpu_time=None, idle_timeout=None, cells=None,
        grace=None, cpu_quota=None, socket_path=None, connect_timeout=CONNECT_TIMEOUT,
        client_timeout=None)
  timeout, cpu_time: each cell's wall and CPU seconds (a cell over one is interrupted: status
  "interrupted", the session goes on); memory, tasks, disk, output_max, cpu_quota: the whole
  session's; session_timeout, session_cpu_time: seconds in all; idle_timeout: seconds between a
  cell's result and the next cell; cells: how many; grace: seconds an interrupted cell has to end
  before the session does (its state is then lost). Connects and waits for the helper's ACCEPTED
  (.job, .unit, .accepted); a refused request raises SessionEnded.
  .run(code, *, files=None, collect=False, on_stdout=None, on_stderr=None) -> CellResult
  .interrupt()   interrupt the running cell (KeyboardInterrupt in it); any thread, signal handlers
  .close() -> Result   SESSION_END, then the final Result (also on leaving the with block, .result);
                 Result.cells is the number of cells that ran
  CellResult: cell (1, 2, ...), status ("ok", "error", "interrupted"), ok, value (str or None),
  value_truncated, error_type, error_message, traceback (from the cell's own code, as Python
  prints it), message (the helper's note), stdout, stderr (bytes), wall_ms, cpu_ms; with
  collect=True files, file_modes, skipped, files_out, files_out_bytes, files_skipped, files_note
  and write_files(dir), as Result's.
  SessionEnded (an Exception; .result the final Result): the session ended instead of answering,
  e.g. "timeout: the session was idle for 300 s", "exit: exit code 3", "oom".
AsyncSession(same keywords): `async with`, `await s.run(...)`, `s.interrupt()`, `await s.close()`.
python3 -m pyward.interactive [options]: a prompt over a Session, as `pyward -i` (pyward(1)).

Low level (for tests of bad input; see pyward-protocol(7)):
  frame(type, payload=b"", flags=0, length=None) -> bytes     one frame, any header you like
  hello(version=1), limit(key, value) -> bytes                payload helpers
  request(code, ...) -> bytes      the whole request (HELLO ... REQUEST_END) as run() sends it
  discover_request() -> bytes      HELLO, DISCOVER, REQUEST_END as profiles() sends it
  file_frames(path, data, executable=False) -> bytes   FILE and its FILE_DATA frames
  parse_file_header(payload), parse_skipped(payload), parse_profile_info(payload)
  path_invalid(path) -> reason or None                 the path rule of file_path_valid()
  read_frame(sock) -> (type, payload) or None at a clean end of stream; validates the header
  read_frames(sock) -> iterator of (type, payload) until the end of the stream
  parse_result(payload) -> dict, parse_accepted(payload) -> dict, result_from_record(dict, ...)
  session_request(profile=None, **Session's limits) -> bytes   HELLO, SESSION, ..., REQUEST_END
  cell_frame(code, collect=False), cell_frames(code, files=None, collect=False) -> bytes   one cell
  parse_cell_result(payload) -> dict               a CELL_RESULT, strict as cell_result_parse()
  Constants: HELLO CODE FILENAME ARG PROFILE LIMIT REQUEST_END FILE FILE_DATA COLLECT DISCOVER
  STDIN STDIN_EOF CANCEL ACCEPTED STDOUT STDERR RESULT FILE_OUT FILE_OUT_DATA FILE_SKIPPED
  PROFILE_INFO SESSION CELL INTERRUPT SESSION_END CELL_RESULT; LIMIT_MEMORY .. LIMIT_CELL_GRACE
  and LIMITS (name -> key); SKIP_REASONS; the bounds HEADER_SIZE CHUNK_MAX CODE_MAX FILENAME_MAX
  ARG_MAX ARGS_MAX PROFILE_NAME_MAX RESULT_MAX ACCEPTED_MAX CELL_* ; STATUSES, CELL_STATUSES.
"""

from ._errors import ProtocolError
from ._files import FilesWriteError, parse_file_header, parse_skipped, write_files
from ._records import (Profile, Result, parse_accepted, parse_cell_result, parse_profile_info, parse_result,
                       result_from_record)
from ._run import (  # noqa: F401 (re-exported)
                   CONNECT_TIMEOUT, DEFAULT_SOCKET, DiscoverError, connect, connect_async, profiles, profiles_async,
                   run)
from ._wire import (  # noqa: F401 (re-exported)
                    ACCEPTED, ACCEPTED_MAX, ARG, ARG_MAX, ARGS_MAX, CANCEL, CHUNK_MAX, CODE, CODE_MAX, COLLECT,
                    DISCOVER, FILE, FILE_DATA, FILE_EXECUTABLE, FILE_HEADER, FILE_OUT, FILE_OUT_DATA,
                    FILE_OUT_SIZE_MAX, FILE_SKIPPED, FILENAME, FILENAME_MAX, FILES_COUNT_MAX, FILES_IN_BYTES_MAX,
                    FRAME_BOUNDS, FRAME_NAMES, FRAME_PAYLOAD_MAX, HEADER, HEADER_SIZE, HELLO, LIMIT, LIMIT_CPU_QUOTA,
                    LIMIT_CPU_TIME, LIMIT_DISK, LIMIT_FILE_OUT_SIZE, LIMIT_FILES_IN, LIMIT_FILES_IN_BYTES,
                    LIMIT_FILES_OUT, LIMIT_FILES_OUT_BYTES, LIMIT_FILES_OUT_DEPTH, LIMIT_FILES_OUT_TIME,
                    LIMIT_MEMORY, LIMIT_OUTPUT, LIMIT_TASKS, LIMIT_WALL_TIME, LIMITS, PATH_COMPONENT_MAX,
                    PATH_DEPTH_MAX, PATH_MAX, PROFILE, PROFILE_INFO, PROFILE_INFO_MAX, PROFILE_NAME_MAX,
                    PROTOCOL_VERSION, REQUEST_END, RESULT, RESULT_FILES_KEYS, RESULT_KEYS, RESULT_MAX,
                    SKIP_REASONS, SKIPPED_LISTED_MAX, STATUSES, STDERR, STDIN, STDIN_EOF, STDOUT, discover_request,
                    file_frames, frame, hello, limit, parse_header, path_invalid, read_frame, read_frames, request,
                    # sessions
                    CELL, CELL_CODE_MAX, CELL_COLLECT, CELL_ERROR_MESSAGE_MAX, CELL_ERROR_TYPE_MAX, CELL_HEADER_SIZE,
                    CELL_RESULT, CELL_RESULT_KEYS, CELL_RESULT_MAX, CELL_STATUSES, CELL_TRACEBACK_MAX,
                    CELL_VALUE_MAX, INTERRUPT, LIMIT_CELL_GRACE, LIMIT_SESSION_CELLS, LIMIT_SESSION_CPU_TIME,
                    LIMIT_SESSION_IDLE_TIME, LIMIT_SESSION_WALL_TIME, RESULT_SESSION_KEYS, SESSION, SESSION_END,
                    cell_frame, cell_frames, session_request)
from .session import CellResult, Session, SessionEnded
__all__ = [
    "run", "connect", "connect_async", "Result", "ProtocolError", "frame", "hello", "limit", "request", "read_frame",
    "read_frames", "parse_result", "parse_accepted", "result_from_record", "profiles", "profiles_async",
    "Profile", "DiscoverError", "FilesWriteError", "write_files", "path_invalid", "file_frames",
    "discover_request", "parse_file_header", "parse_skipped", "parse_profile_info",
    "Session", "CellResult", "SessionEnded", "AsyncSession", "arun", "session_request", "cell_frame",
    "cell_frames", "parse_cell_result",
]


def __getattr__(name):
    # The asyncio parts on first use: `import pyward` does not import asyncio.
    if name in ("AsyncSession", "arun"):
        from . import aio
        return getattr(aio, name)
    raise AttributeError(f"module 'pyward' has no attribute {name!r}")
