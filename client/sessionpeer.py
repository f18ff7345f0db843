# SPDX-License-Identifier: LGPL-2.1-or-later
# A scripted helper for the Python client's unit tests of sessions (test-pyward-session.py,
# test-pyward-interactive.py): it speaks the session protocol on a temporary socket, and its
# MiniKernel runs cells in one namespace here, as the runner would. It tests the client's framing
# and parsing only; the real helper is the integration tests' business.
import ast
import builtins
import io
import os
import socket
import struct
import tempfile
import threading

import pyward

ACCEPTED = b"job=9\nunit=pyward-job-9.service\n"


def escape(v):
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def cell_record(n, status, **kw):
    """A CELL_RESULT payload, keys in the order of pyward-protocol(7)."""
    out = f"cell={n}\nstatus={status}\n"
    for k in ("value", "value_truncated", "error_type", "error_message", "traceback", "message"):
        if kw.get(k) is not None:
            out += f"{k}={escape(str(kw[k]))}\n"
    out += f"wall_ms={kw.get('wall_ms', 3)}\ncpu_ms={kw.get('cpu_ms', 1)}\n"
    for k in ("files_out", "files_out_bytes", "files_skipped", "files_note"):
        if kw.get(k) is not None:
            out += f"{k}={escape(str(kw[k]))}\n"
    return out.encode()


def cell_result(n, status, **kw):
    return pyward.frame(pyward.CELL_RESULT, cell_record(n, status, **kw))


def session_result(status="ok", cells=0, message="", exit_code="", signal=""):
    return pyward.frame(pyward.RESULT, (f"status={status}\nexit_code={exit_code}\nsignal={signal}\nwall_ms=50\n"
                                        f"cpu_ms=10\nmemory_peak_bytes=\nunit=pyward-job-9.service\ninvocation_id=\n"
                                        f"job=9\nmessage={escape(message)}\ncells={cells}\n").encode())


def wait_for(conn, ftype, log):
    """Reads the client's frames until one of ftype (None: the end of the stream)."""
    while True:
        f = pyward.read_frame(conn)
        if f is None:
            return None
        log.append(f)
        if f[0] == ftype:
            return f


class MiniKernel:
    """Runs each cell's code here in one namespace, as the runner's kernel would: print() goes to
    the cell's STDOUT, a final expression's repr is the value, an exception is an error. The code
    "INTERRUPT_ME" waits for the client's INTERRUPT and is then interrupted."""

    def __init__(self):
        self.ns = {"__name__": "__main__"}

    def __call__(self, n, code, flags, files, conn, log):
        src = code.decode()
        if src.strip() == "INTERRUPT_ME":
            wait_for(conn, pyward.INTERRUPT, log)
            return cell_result(n, "interrupted", error_type="KeyboardInterrupt", error_message="",
                               traceback=f'Traceback (most recent call last):\n  File "<cell {n}>", line 1, in '
                                         '<module>\nKeyboardInterrupt\n', message="interrupted by the client")
        out = io.StringIO()
        self.ns["print"] = lambda *a, **k: builtins.print(*a, **dict(k, file=out))
        self.ns["files"] = files
        try:
            tree = ast.parse(src, f"<cell {n}>")
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, f"<cell {n}>", "exec"), self.ns)
            value = None
            if last is not None:
                v = eval(compile(ast.Expression(last.value), f"<cell {n}>", "eval"), self.ns)
                value = None if v is None else repr(v)
            rec = cell_result(n, "ok", value=value)
        except Exception as e:
            rec = cell_result(n, "error", error_type=type(e).__name__, error_message=str(e),
                              traceback=f'Traceback (most recent call last):\n  File "<cell {n}>", line 1, in '
                                        f'<module>\n{type(e).__name__}: {e}\n')
        text = out.getvalue().encode()
        return (pyward.frame(pyward.STDOUT, text) if text else b"") + rec


class SessionPeer:
    """Listens on a temporary socket and plays the helper of sessions, `connections` of them one
    after another: the request (kept in .requests), ACCEPTED, then per CELL kernel(n, code, flags,
    files, conn, log) -> the bytes to answer (None: end the connection); SESSION_END -> RESULT. .log: every frame the client
    sent after its request. script(conn, peer) replaces all of that for a connection."""

    def __init__(self, kernel=None, script=None, connections=1):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.kernel = kernel or MiniKernel()
        self.script = script or self.serve
        self.requests, self.log, self.error = [], [], None
        self.thread = threading.Thread(target=self._run, args=(connections,), daemon=True)
        self.thread.start()

    def _run(self, connections):
        try:
            for _ in range(connections):
                conn, _ = self.listener.accept()
                with conn:
                    self.script(conn, self)
        except Exception as e:  # reported by close()
            self.error = e

    def read_request(self, conn):
        frames = []
        while True:
            t, p = pyward.read_frame(conn)
            frames.append((t, p))
            if t == pyward.REQUEST_END:
                self.requests.append(frames)
                return frames

    def serve(self, conn, peer):
        self.read_request(conn)
        conn.sendall(pyward.frame(pyward.ACCEPTED, ACCEPTED))
        n, files, current = 0, {}, None
        while True:
            f = pyward.read_frame(conn)
            if f is None:
                return
            self.log.append(f)
            t, p = f
            if t == pyward.FILE:
                _, size, path = pyward.parse_file_header(p)
                current = os.fsdecode(path)
                files[current] = b""
            elif t == pyward.FILE_DATA:
                files[current] += p
            elif t == pyward.CELL:
                n += 1
                (flags,) = struct.unpack_from("<I", p)
                answer = self.kernel(n, p[4:], flags, files, conn, self.log)
                if answer is None:
                    return
                conn.sendall(answer)
                files = {}
            elif t == pyward.SESSION_END:
                conn.sendall(session_result(cells=n))
                return

    def close(self):
        self.thread.join(30)
        self.listener.close()
        self.dir.cleanup()
        if self.error:
            raise self.error
