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
never started). Result.signal_number gives the number. With collect=True also: files
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
  Constants: HELLO CODE FILENAME ARG PROFILE LIMIT REQUEST_END FILE FILE_DATA COLLECT DISCOVER
  STDIN STDIN_EOF CANCEL ACCEPTED STDOUT STDERR RESULT FILE_OUT FILE_OUT_DATA FILE_SKIPPED
  PROFILE_INFO; LIMIT_MEMORY .. LIMIT_FILES_OUT_TIME and LIMITS (name -> key); SKIP_REASONS; the bounds
  HEADER_SIZE CHUNK_MAX CODE_MAX FILENAME_MAX ARG_MAX ARGS_MAX PROFILE_NAME_MAX RESULT_MAX
  ACCEPTED_MAX; STATUSES.
"""

from ._errors import ProtocolError
from ._files import FilesWriteError, parse_file_header, parse_skipped, write_files
from ._records import Profile, Result, parse_accepted, parse_profile_info, parse_result, result_from_record
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
                    file_frames, frame, hello, limit, parse_header, path_invalid, read_frame, read_frames, request)
__all__ = [
    "run", "connect", "connect_async", "Result", "ProtocolError", "frame", "hello", "limit", "request", "read_frame",
    "read_frames", "parse_result", "parse_accepted", "result_from_record", "profiles", "profiles_async",
    "Profile", "DiscoverError", "FilesWriteError", "write_files", "path_invalid", "file_frames",
    "discover_request", "parse_file_header", "parse_skipped", "parse_profile_info",
]
