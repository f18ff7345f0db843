# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad input over raw sockets: malformed, truncated, oversized and missing requests, and peers that
# may not connect (socket mode) or may connect but are refused by the config. Each gets a clear
# error or is dropped at the request deadline, and no job unit is ever created for any of them.
import os
import struct
import time
import unittest

from pwlib import (ACCEPTED, ARG, CANCEL, CODE, FILENAME, HELLO, LIMIT, PROFILE, REQUEST_END, RESULT,
                   SOCKET_PATH, STDIN, STDIN_EOF, STDOUT, PywardTestCase, TempUser, connect, ensure_group, exchange, frame,
                   helper_units, job_units, journal_since, parse_kv, pyward, read_frames,
                   request_frames, result_of, wait_for)

HELLO1 = pyward.hello(1)
DROPIN_DIR = "/etc/pyward/pyward.conf.d"


class BadInputTests(PywardTestCase):
    def setUp(self):
        super().setUp()
        self.units_before = job_units()

    def assertNoJob(self):
        """No unit exists, and the journal since the test started names no job unit either."""
        self.assertEqual(job_units(), [])
        # The helper instance handling the connection must go away too.
        gone = wait_for(lambda: not helper_units(), 10)
        self.assertTrue(gone, f"helper instances still running: {helper_units()}")
        log = journal_since(self.t0)
        self.assertNotIn("pyward-job-", log, "systemd started a job unit for a bad request")

    def assertRejected(self, frames, *words):
        res = result_of(frames)
        self.assertEqual(res.get("status"), "rejected", res)
        msg = res.get("message", "")
        self.assertTrue(msg.strip(), f"rejected without a message: {res}")
        for w in words:
            self.assertIn(w.lower(), msg.lower(), res)
        self.assertNotIn(ACCEPTED, [t for t, _ in frames])
        self.assertNotIn("pyward-job-", res.get("unit", ""))
        return res

    def test_good_request_raw(self):
        # Our raw framing is right: the same code path with a valid request runs a job.
        frames = exchange(request_frames("print('raw ok')", args=["x"], stdin=b""))
        types = [t for t, _ in frames]
        self.assertEqual(types[0], ACCEPTED, types)
        acc = parse_kv(frames[0][1])
        self.assertRegex(acc.get("unit", ""), r"^pyward-job-.*\.service$")
        res = result_of(frames)
        self.assertEqual(res["status"], "ok", res)
        self.assertEqual(b"".join(p for t, p in frames if t == 0x102), b"raw ok\n")

    def test_unknown_frame_type(self):
        self.assertRejected(exchange(HELLO1 + frame(0x0777, b"zz")))
        self.assertNoJob()

    def test_helper_frame_type_from_client(self):
        self.assertRejected(exchange(HELLO1 + frame(RESULT, b"status=ok\n")))
        self.assertNoJob()

    def test_nonzero_flags(self):
        self.assertRejected(exchange(HELLO1 + frame(CODE, b"print(1)", flags=1)))
        self.assertNoJob()

    def test_wrong_version(self):
        self.assertRejected(exchange(pyward.hello(2) + frame(CODE, b"print(1)") +
                                     frame(REQUEST_END)), "version")
        self.assertNoJob()

    def test_no_hello(self):
        self.assertRejected(exchange(frame(CODE, b"print(1)") + frame(REQUEST_END)))
        self.assertNoJob()

    def test_request_end_without_code(self):
        self.assertRejected(exchange(HELLO1 + frame(REQUEST_END)))
        self.assertNoJob()

    def test_duplicate_code(self):
        self.assertRejected(exchange(HELLO1 + frame(CODE, b"print(1)") + frame(CODE, b"print(2)") +
                                     frame(REQUEST_END)))
        self.assertNoJob()

    def test_stdin_before_request_end(self):
        self.assertRejected(exchange(HELLO1 + frame(CODE, b"print(1)") + frame(STDIN, b"x") +
                                     frame(REQUEST_END)))
        self.assertNoJob()

    def test_bad_filenames(self):
        for name in (b"a/b.py", b"..", b".", b"", b"x\0y.py", b"n" * 256):
            with self.subTest(name=name):
                self.assertRejected(exchange(HELLO1 + frame(CODE, b"print(1)") + frame(FILENAME, name) +
                                             frame(REQUEST_END)))
        self.assertNoJob()

    def test_bad_profile_name_and_unknown_profile(self):
        self.assertRejected(exchange(HELLO1 + frame(CODE, b"print(1)") + frame(PROFILE, b"../etc") +
                                     frame(REQUEST_END)))
        self.assertRejected(exchange(HELLO1 + frame(CODE, b"print(1)") + frame(PROFILE, b"nosuchprofile") +
                                     frame(REQUEST_END)), "nosuchprofile")
        self.assertNoJob()

    def test_arg_with_nul(self):
        self.assertRejected(exchange(HELLO1 + frame(CODE, b"print(1)") + frame(ARG, b"a\0b") +
                                     frame(REQUEST_END)))
        self.assertNoJob()

    def test_bad_limits(self):
        for payload in (struct.pack("<IQ", 99, 1),            # unknown key
                        struct.pack("<IQ", 1, 0),             # zero
                        struct.pack("<IQ", 1, 2 ** 64 - 1),   # far above any maximum
                        struct.pack("<I", 1)):                # short payload
            with self.subTest(payload=payload.hex()):
                self.assertRejected(exchange(HELLO1 + frame(CODE, b"print(1)") + frame(LIMIT, payload) +
                                             frame(REQUEST_END)))
        self.assertNoJob()

    def test_truncated_request_client_closes(self):
        # Half a CODE frame, then the client goes away: nothing to answer, nothing may be started.
        with connect() as s:
            s.sendall(HELLO1 + frame(CODE, b"print(", length=1000))
            time.sleep(0.3)
        time.sleep(1.0)
        self.assertNoJob()

    def test_truncated_request_half_shutdown(self):
        # The client stops sending mid-frame but still listens: it is dropped promptly (at the
        # end of its stream, not at the request deadline), with an error if it gets anything.
        start = time.monotonic()
        frames = exchange(HELLO1 + frame(CODE, b"print(", length=1000), shutdown=True)
        self.assertLess(time.monotonic() - start, 4.0)
        # The client still listens: pyward-protocol(7) owes it a RESULT, not a silent close.
        self.assertRejected(frames, "closed the connection in the middle of a frame")
        self.assertNoJob()

    def test_oversized_frame_rejected_before_payload(self):
        # Headers only: the lengths are over the bounds, and no payload follows. The helper must
        # answer from the header alone, well before the request deadline.
        for ftype, length in ((ARG, 4097), (FILENAME, 256), (CODE, 1024 * 1024 + 1),
                              (HELLO, 5), (PROFILE, 65), (0x0007, 1), (ARG, 0xFFFFFFFF)):
            with self.subTest(type=hex(ftype), length=length):
                start = time.monotonic()
                with connect(timeout=10) as s:
                    s.sendall(HELLO1 if ftype != HELLO else b"")
                    s.sendall(frame(ftype, length=length))
                    frames = list(read_frames(s))
                self.assertLess(time.monotonic() - start, 3.0, "helper waited for the payload")
                self.assertRejected(frames)
        self.assertNoJob()

    def test_silent_client_dropped_at_deadline(self):
        start = time.monotonic()
        with connect(timeout=30) as s:
            try:
                frames = list(read_frames(s))
            except ConnectionResetError:
                frames = []
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 4.0, "dropped before the 5 s request deadline")
        self.assertLess(elapsed, 10.0, "not dropped at the 5 s request deadline")
        # A RESULT is promised at the deadline (the helper lingers so that no RST eats it).
        res = self.assertRejected(frames, "request not received within")
        self.assertRegex(res["message"].lower(), r"\b5 ?s\b")
        self.assertNoJob()

    def test_slow_loris_dropped_at_deadline(self):
        # Trickling a valid request byte by byte does not extend the deadline.
        data = request_frames("print(1)")
        start = time.monotonic()
        closed = False
        with connect(timeout=30) as s:
            for i in range(len(data) - 1):
                try:
                    s.sendall(data[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                time.sleep(0.5)
                if time.monotonic() - start > 12:
                    break
            # Sent or cut off by the deadline, the client is owed its RESULT either way.
            frames = list(read_frames(s))
            self.assertRejected(frames, "request not received within")
        self.assertLess(time.monotonic() - start, 12, "a trickling client kept the helper for too long")
        self.assertNoJob()

    # --- protocol errors after REQUEST_END: the job runs, is stopped, RESULT killed (protocol(7)) --

    def assertKilledByProtocol(self, after, *words, stdin_eof=True):
        """A job that would run 60 s; after REQUEST_END (and STDIN_EOF), `after`: the job must end at
        once as killed, with a message naming the problem, after whatever it printed."""
        code = "import sys, time\nprint('started', flush=True)\ntime.sleep(60)\n"
        start = time.monotonic()
        with connect(timeout=60) as s:
            s.sendall(request_frames(code, stdin=b"" if stdin_eof else None))
            frames = []
            for f in read_frames(s):
                frames.append(f)
                if f[0] == STDOUT:  # running: now break the protocol
                    s.sendall(after)
        took = time.monotonic() - start
        self.assertIn(ACCEPTED, [t for t, _ in frames])
        res = result_of(frames)
        self.assertEqual(res.get("status"), "killed", res)
        msg = res.get("message", "")
        self.assertIn("protocol error after REQUEST_END", msg, res)
        for w in words:
            self.assertIn(w, msg, res)
        self.assertLess(took, 30, "the job was not stopped by the protocol error")
        self.assertTrue(wait_for(lambda: not job_units(), 15), job_units())
        return res

    def test_stdin_after_stdin_eof_is_a_protocol_error(self):
        self.assertKilledByProtocol(frame(STDIN, b"late\n"), "STDIN after STDIN_EOF")

    def test_request_frames_after_request_end_are_protocol_errors(self):
        for data, name in ((frame(CODE, b"print(2)"), "CODE"), (HELLO1, "HELLO"),
                           (frame(REQUEST_END), "REQUEST_END"), (frame(ARG, b"x"), "ARG"),
                           (frame(RESULT, b"status=ok\n"), "RESULT")):
            with self.subTest(frame=name):
                self.assertKilledByProtocol(data, f"a {name} frame while the job runs")

    def test_invalid_header_after_request_end_is_a_protocol_error(self):
        self.assertKilledByProtocol(frame(0x0777, b"zz"), "unknown frame type")

    def test_cancel_after_stdin_eof_is_not_an_error(self):
        # CANCEL MAY follow STDIN_EOF (and repeat): killed as cancelled, not as a protocol error.
        code = "import time\nprint('started', flush=True)\ntime.sleep(60)\n"
        with connect(timeout=60) as s:
            s.sendall(request_frames(code, stdin=b""))
            frames = []
            for f in read_frames(s):
                frames.append(f)
                if f[0] == STDOUT:
                    s.sendall(frame(CANCEL) + frame(CANCEL))
        res = result_of(frames)
        self.assertEqual((res.get("status"), res.get("message")), ("killed", "cancelled by the client"), res)

    def test_uid_not_in_group_cannot_connect(self):
        st = os.stat(SOCKET_PATH)
        self.assertEqual(st.st_mode & 0o777, 0o660, oct(st.st_mode))
        with TempUser("pwtest") as u:
            p = u.run(["python3", "-c", "import socket, errno, sys\n"
                       "s = socket.socket(socket.AF_UNIX)\n"
                       "try:\n    s.connect(%r)\nexcept OSError as e:\n"
                       "    print(errno.errorcode[e.errno]); sys.exit(0)\nprint('connected')\n" % SOCKET_PATH],
                      timeout=30)
            self.assertEqual((p.returncode, p.stdout.strip()), (0, b"EACCES"), p.stderr)
        self.assertNoJob()

    def test_group_member_refused_by_config(self):
        ensure_group("pyward")
        os.makedirs(DROPIN_DIR, exist_ok=True)
        dropin = os.path.join(DROPIN_DIR, "50-pwtest-deny.conf")
        with TempUser("pwtest", groups=["pyward"]) as u:
            # Connecting is allowed by the socket's mode; the config allows only root.
            with open(dropin, "w") as f:
                f.write("[Access]\nAllowUsers=root\nAllowGroups=\n")
            self.addCleanup(lambda: os.path.exists(dropin) and os.unlink(dropin))
            p = u.run(["python3", "-c", RAW_CLIENT], input=request_frames("print(1)"), timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            res = parse_kv(p.stdout)
            self.assertEqual(res.get("status"), "rejected", res)
            msg = res.get("message", "")
            self.assertTrue("pwtest" in msg or str(u.uid) in msg, f"message names neither user nor uid: {res}")
            os.unlink(dropin)
            # Without the drop-in the same user runs jobs: the refusal came from the config.
            p = u.run(["python3", "-c", RAW_CLIENT], input=request_frames("print(1)", stdin=b""), timeout=60)
            self.assertEqual(parse_kv(p.stdout).get("status"), "ok", p.stdout)
        self.assertEqual(wait_for(lambda: not job_units(), 10), True)


# Sends stdin to the socket as the request, prints the RESULT payload (run as another user).
RAW_CLIENT = r'''
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect("/run/pyward/pyward.sock")
s.sendall(sys.stdin.buffer.read())
buf = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
res = b""
while len(buf) >= 8:
    t, f, n = struct.unpack("<HHI", buf[:8])
    if t == 0x104:
        res = buf[8:8 + n]
    buf = buf[8 + n:]
sys.stdout.buffer.write(res)
'''


if __name__ == "__main__":
    unittest.main()
