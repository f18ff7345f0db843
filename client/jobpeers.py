# SPDX-License-Identifier: LGPL-2.1-or-later
# Scripted helpers for the unit tests of one-shot jobs (test-pyward.py, test-pyward-files.py,
# test-pyward-cli.py): peers that play the helper's side of a connection on a temporary socket,
# busy and dropping sockets, and the records and frames they answer with. Not a test of the helper
# (that needs real systemd).
import os
import socket
import struct
import tempfile
import threading
import time

import pyward

class ScriptedPeer:
    """Listens on a temporary socket; `script(conn)` plays the helper's side of one connection."""

    def __init__(self, script):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.error = None
        self.thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self.thread.start()

    def _serve(self, script):
        conn, _ = self.listener.accept()
        try:
            script(conn)
        except Exception as e:  # reported by close()
            self.error = e
        finally:
            conn.close()

    def close(self):
        self.thread.join(30)
        self.listener.close()
        self.dir.cleanup()
        if self.error:
            raise self.error


class RunsAgainstPeer:
    """A TestCase mixin: run_with(script) is pyward.run() against a ScriptedPeer playing script."""

    def run_with(self, script, code="pass", **kw):
        peer = ScriptedPeer(script)
        try:
            return pyward.run(code, socket_path=peer.path, client_timeout=60, **kw)
        finally:
            peer.close()


def read_request(conn):
    frames = []
    while True:
        t, p = pyward.read_frame(conn)
        frames.append((t, p))
        if t == pyward.REQUEST_END:
            return frames


OK_RESULT = b"status=ok\nexit_code=0\nsignal=\nwall_ms=5\ncpu_ms=1\nmemory_peak_bytes=\n" \
            b"memory_peak_reason=none here\nunit=u.service\ninvocation_id=\njob=7\nmessage=\n"


# Today's request (before files, COLLECT and DISCOVER existed), byte for byte: a client that sends
# no new frame must keep producing exactly this.
TODAYS_REQUEST = bytes.fromhex(
    "01000000040000000100000002000000080000007072696e742831290300000004000000782e70790400000001000000"
    "610400000001000000ff050000000100000070060000000c000000010000000000000400000000060000000c00000005"
    "00000060e3160000000000060000000c0000000700000000100000000000000700000000000000")


def split_frames(data):
    frames, off = [], 0
    while off < len(data):
        t, flags, n = struct.unpack_from("<HHI", data, off)
        assert flags == 0
        frames.append((t, data[off + 8:off + 8 + n]))
        off += 8 + n
    assert off == len(data)
    return frames


def file_out(path, data, mode=0o644, chunk=pyward.CHUNK_MAX):
    """FILE_OUT and its FILE_OUT_DATA frames, as the helper sends them."""
    p = os.fsencode(path)
    out = pyward.frame(pyward.FILE_OUT, struct.pack("<IQ", mode, len(data)) + p)
    for i in range(0, len(data), chunk):
        out += pyward.frame(pyward.FILE_OUT_DATA, data[i:i + chunk])
    return out


def skipped(path, reason):
    return pyward.frame(pyward.FILE_SKIPPED, struct.pack("<I", reason) + os.fsencode(path))


FILES_RESULT = OK_RESULT + b"files_out=2\nfiles_out_bytes=5\nfiles_skipped=3\nfiles_note=the collection's time ran out\n"

PROFILE_DEFAULT = (b"name=default\ninterpreter=/usr/bin/python3\npython=3.11.2\nnetwork=none\n"
                   + b"".join(b"limit.%s.default=%d\nlimit.%s.max=%d\n" % (n.encode(), 10 * k, n.encode(), 20 * k)
                              for n, k in pyward.LIMITS.items())
                   + b"package=matplotlib 3.6.3\npackage=numpy 1.24.2\npackages_omitted=2\nnote=\n")
PROFILE_BARE = b"name=bare\ninterpreter=/opt/\x1b[2Jpy\npython=\nnetwork=loopback\npackages_omitted=0\n" \
               b"note=discovery failed: exit 1\\nsecond line\nfuture_key=x\n"


class BusySocket:
    """A real listening AF_UNIX socket whose backlog is full: a non-blocking connect() gets EAGAIN,
    as from pyward.socket while another user floods it. drain() accepts (and drops) the queued
    connections; then `script`, if any, plays the helper for the next one. refuse=True binds
    without listen(): connect() gets ECONNREFUSED until listen()."""

    def __init__(self, script=None, refuse=False):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.fillers = []
        self.script = script
        self.error = None
        self.thread = None
        if refuse:
            return
        self.listener.listen(0)
        while True:
            f = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            f.setblocking(False)
            try:
                f.connect(self.path)
            except BlockingIOError:
                f.close()
                break
            self.fillers.append(f)
        assert self.fillers, "the backlog took no connection at all"

    def drain_after(self, delay):
        self.thread = threading.Thread(target=self._drain, args=(delay,), daemon=True)
        self.thread.start()

    def _drain(self, delay):
        time.sleep(delay)
        try:
            if not self.fillers:
                self.listener.listen(0)
            for f in self.fillers:
                self.listener.accept()[0].close()
                f.close()
            if self.script:
                conn, _ = self.listener.accept()
                with conn:
                    self.script(conn)
        except Exception as e:  # reported by close()
            self.error = e

    def close(self):
        if self.thread:
            self.thread.join(30)
        for f in self.fillers:
            f.close()
        self.listener.close()
        self.dir.cleanup()
        if self.error:
            raise self.error


class DroppingPeer:
    """Drops the first `drops` connections as systemd does over MaxConnections=: accepts, and
    closes once the client's request is in (unread, so the client sees ECONNRESET); then plays
    `script` for the next one. Records each connection's request bytes."""

    def __init__(self, drops, script=None):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.requests = []
        self.error = None
        self.thread = threading.Thread(target=self._serve, args=(drops, script), daemon=True)
        self.thread.start()

    def _serve(self, drops, script):
        try:
            for _ in range(drops):
                conn, _ = self.listener.accept()
                conn.recv(1, socket.MSG_PEEK)
                time.sleep(0.05)  # the whole request is in
                self.requests.append(conn.recv(1 << 20, socket.MSG_PEEK))
                conn.close()
            if script:
                conn, _ = self.listener.accept()
                with conn:
                    script(conn)
        except Exception as e:  # reported by close()
            self.error = e

    def close(self):
        self.thread.join(30)
        self.listener.close()
        self.dir.cleanup()
        if self.error:
            raise self.error


def answer_ok(conn):
    read_request(conn)
    conn.sendall(pyward.frame(pyward.RESULT, OK_RESULT))


def read_until(conn, last):
    """The client's frames up to and including the first of type `last`, as raw bytes."""
    data = b""
    while True:
        t, p = pyward.read_frame(conn)
        data += pyward.frame(t, p)
        if t == last:
            return data


class CliPeer(ScriptedPeer):
    """A ScriptedPeer that records the CLI's request bytes (up to `last`) and then sends `answer`."""

    def __init__(self, answer, last=pyward.STDIN_EOF):
        self.request = None

        def script(conn):
            self.request = read_until(conn, last)
            conn.sendall(answer)
        super().__init__(script)
