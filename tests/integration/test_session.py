# SPDX-License-Identifier: LGPL-2.1-or-later
# Sessions (issue #15) through the real socket with pyward.Session, in both releases: state kept
# across 100 cells (a counter, an import, a file of cell 1 read in cell 100), the final
# expression's value, tracebacks that start at the cell's code; per-cell input files and collect;
# a cell interrupted at its limit or by the client and the state kept; a cell that will not end
# ends the session after the grace; the idle timeout, the cells limit, sys.exit(), a client gone
# mid-cell and `systemctl stop`; two sessions of one uid that cannot see each other; 16 sessions x
# 50 cells at once; and, with raw frames, what a session request and its cells must not be.
import hashlib
import os
import re
import statistics
import threading
import time

from pwlib import (ACCEPTED, CELL_RESULT, DROPIN_DIR, INTERRUPT, RESULT, SESSION_END, STDIN, STDOUT,
                   PywardTestCase, cell_frame, connect, file_frames, frame, frames_until, job_user_held, job_units,
                   leftovers_since, leftovers_snapshot, note, parse_kv, processes_of_uid, pyward, read_frames,
                   session_request, sh, wait_for)

TRACEBACK_FILE = re.compile(r'^  File "([^"]*)", line (\d+)', re.M)


def cells_of(result):
    """The RESULT's cells= (the Python client's name for it)."""
    for name in ("cells", "cells_reported"):
        v = getattr(result, name, None)
        if v is not None and not isinstance(v, bool):
            return v
    return None


def unit_state(unit):
    return sh("systemctl", "show", "-p", "ActiveState", "--value", unit, check=False).stdout.strip()


def unit_stopped(unit):
    """The unit is gone or no longer running (inactive, failed)."""
    return unit not in job_units() or unit_state(unit) in ("inactive", "failed", "")


class SessionTests(PywardTestCase):
    def assertCell(self, r, status="ok", value=None, **fields):
        """A CellResult: its status, value and any other fields given; failures show the cell."""
        what = (f"cell {r.cell}: status {r.status} value {r.value!r} {r.error_type}: {r.error_message} "
                f"message {r.message!r}\n{r.traceback or ''}stdout {r.stdout[-300:]!r} stderr {r.stderr[-300:]!r}")
        self.assertEqual((r.status, r.value), (status, value), what)
        for k, v in fields.items():
            self.assertEqual(getattr(r, k), v, f"{k}: {what}")
        self.assertEqual(r.ok, status == "ok", what)

    def assertTracebackAtCell(self, r, cell, *lines):
        """The traceback starts at the cell's own code ("<cell N>") with its source lines shown,
        and has no frame of the runner's."""
        tb = r.traceback or ""
        files = TRACEBACK_FILE.findall(tb)
        self.assertTrue(files, f"no frames in the traceback: {tb!r}")
        self.assertEqual(files[0][0], f"<cell {cell}>", tb)
        self.assertNotRegex(tb, r"runner|<string>|pyward", tb)
        for line in lines:
            self.assertIn(line, tb)
        return files

    def ended(self, s, code, **kw):
        """Runs a cell that must end the session: returns SessionEnded's result."""
        with self.assertRaises(pyward.SessionEnded) as cm:
            s.run(code, **kw)
        res = cm.exception.result
        self.assertIsInstance(res, pyward.Result)
        self.assertIn(res.status, str(cm.exception))
        return res

    def uid_of(self, s):
        r = s.run("import os as _os\n_os.getuid()")
        self.assertCell(r, value=r.value)
        return int(r.value)

    def assertGone(self, unit, uid, timeout=10):
        gone = wait_for(lambda: unit_stopped(unit) and not processes_of_uid(uid, pooled=False)
                        and not job_user_held(uid, pooled=False), timeout)
        self.assertTrue(gone, f"unit {unit} {unit_state(unit)}, processes {processes_of_uid(uid, pooled=False)}, "
                              f"pool user held: {job_user_held(uid, pooled=False)}")

    # --- one session's state, values, tracebacks and files ---------------------------------------

    def test_state_values_tracebacks_files_over_100_cells(self):
        """State across 100 cells: a counter, an import and a file of cell 1 read in cell 100; the
        final expression's repr (not for None, cut at PW_CELL_VALUE_MAX), `_`; stdout and stderr
        per cell, streamed; tracebacks from the cell's code; per-cell input files and collect;
        SESSION_END: status ok with cells=100."""
        s = pyward.Session(timeout=30)
        self.addCleanup(_quiet_close, s)
        self.assertRegex(s.job, r"^[0-9a-f]{32}$")
        self.assertEqual(s.unit, f"pyward-job-{s.job}.service")
        self.assertEqual(job_units(), [s.unit])
        n, fills, times = 0, 0, []

        def cell(code, **kw):
            nonlocal n
            n += 1
            t0 = time.monotonic()
            r = s.run(code, **kw)
            times.append(time.monotonic() - t0)
            self.assertEqual(r.cell, n, code)
            self.assertGreaterEqual(r.wall_ms, 0)
            return r

        def fill(upto):
            nonlocal fills
            while n < upto:
                self.assertCell(cell("counter += 1"), stdout=b"", stderr=b"")
                fills += 1

        self.assertCell(cell("import json as J\ncounter = 0\nwith open('cell1.txt', 'w') as f:\n"
                             "    f.write('written in cell 1')\n"))
        self.assertCell(cell("x = 41"))
        self.assertCell(cell("x + 1"), value="42")
        self.assertCell(cell("None"))                           # None: no value
        self.assertCell(cell("_ + 0"), value="42")              # `_` as the REPL sets it
        self.assertCell(cell("print('hi')"), stdout=b"hi\n")    # print() returns None
        self.assertCell(cell("'x' * 3"), value="'xxx'", value_truncated=False)
        r = cell("'y' * 100000")
        self.assertEqual((r.status, r.value_truncated), ("ok", True))
        self.assertTrue(r.value.startswith("'yyyy"), r.value[:20])
        self.assertLessEqual(len(r.value.encode()), pyward_value_max())
        self.assertCell(cell("import sys\nprint('to stderr', file=sys.stderr)"), stdout=b"", stderr=b"to stderr\n")
        fill(15)

        # Output is streamed: the first line arrives while the cell still runs.
        chunks = []
        t0 = time.monotonic()
        r = cell("import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)\n",
                 on_stdout=lambda c: chunks.append((time.monotonic(), c)))
        done = time.monotonic()
        self.assertCell(r, stdout=b"0\n1\n2\n")
        self.assertEqual(b"".join(c for _, c in chunks), b"0\n1\n2\n")
        self.assertLess(chunks[0][0], done - 0.4, f"first output {chunks[0][0] - t0:.2f}s, cell done {done - t0:.2f}s")

        # Tracebacks start at the cell's code; the source lines are shown; the state survives.
        r = cell("def f():\n    raise ValueError('boom')\n\nf()\n")
        self.assertCell(r, "error", error_type="ValueError", error_message="boom")
        files = self.assertTracebackAtCell(r, n, "    f()", "raise ValueError('boom')", "ValueError: boom")
        self.assertEqual(files, [(f"<cell {n}>", "4"), (f"<cell {n}>", "2")], r.traceback)
        r = cell("J.loads('{')")  # a library's frames below the cell's own
        self.assertCell(r, "error")
        self.assertIn("JSONDecodeError", r.error_type)
        self.assertTracebackAtCell(r, n, "J.loads('{')")
        r = cell("def (:\n")
        self.assertCell(r, "error", error_type="SyntaxError")
        self.assertIn(f"<cell {n}>", r.traceback)
        r = cell("input()")  # a cell's stdin is at its end
        self.assertCell(r, "error", error_type="EOFError")
        self.assertCell(cell("x"), value="41")
        fill(30)

        # Per-cell input files (replacing those of the same path), and collect: what the cells made
        # or changed since the last return, never an input file sent as it is.
        r = cell("data = open('in.txt').read()\ndata", files={"in.txt": b"input one"})
        self.assertCell(r, value="'input one'")
        r = cell("with open('out.txt', 'w') as f:\n    f.write(data.upper())\n", collect=True)
        self.assertCell(r)  # a with statement: no value
        self.assertEqual(r.files.get("out.txt"), b"INPUT ONE", r.files)
        self.assertNotIn("in.txt", r.files)
        self.assertCell(cell("pass", collect=True), files={}, skipped=[])
        r = cell("open('in.txt').read(), open('sub/dir/deep.txt').read()",
                 files={"in.txt": b"input two", "sub/dir/deep.txt": b"deep"}, collect=True)
        self.assertCell(r, value="('input two', 'deep')", files={})
        r = cell("import os\nos.symlink('/etc/passwd', 'link')\nopen('out.txt', 'a').write('!')", collect=True)
        self.assertCell(r, value="1")
        self.assertEqual(r.files, {"out.txt": b"INPUT ONE!"})
        self.assertEqual([p for p, _ in r.skipped], ["link"], r.skipped)
        fill(99)

        r = cell("counter, J.dumps([1]), open('cell1.txt').read(), x")
        self.assertEqual(n, 100)
        self.assertCell(r, value=repr((fills, "[1]", "written in cell 1", 41)))
        res = s.close()
        self.assertIs(s.result, res)
        self.assertEqual((res.status, res.exit_code, res.message or ""), ("ok", 0, ""), res)
        self.assertEqual(cells_of(res), 100)
        self.assertEqual((res.job, res.unit), (s.job, s.unit))
        self.assertTrue(wait_for(lambda: unit_stopped(s.unit), 10), job_units())
        note(f"100 cells in one session: cell round trip p50 {statistics.median(times) * 1000:.1f} ms, "
             f"max {max(times) * 1000:.0f} ms")

    # --- limits of a cell, the grace, interrupts -------------------------------------------------

    def test_interrupts_and_the_grace(self):
        """A cell over its wall-time limit is interrupted and the next cell sees the earlier state;
        the client's interrupt likewise; a cell that catches KeyboardInterrupt and ends is ok (with
        the helper's note); one that catches it and loops ends the session after the grace
        (status timeout, the state lost) and leaves nothing behind."""
        limit, grace = 2, 1
        s = pyward.Session(timeout=limit, grace=grace)
        self.addCleanup(_quiet_close, s)
        uid = self.uid_of(s)
        self.assertCell(s.run("state = [1, 2, 3]"))

        r = s.run("while True:\n    pass\n")
        self.assertCell(r, "interrupted", error_type="KeyboardInterrupt")
        self.assertIn(f"wall-time limit of {limit} s", r.message or "")
        self.assertTracebackAtCell(r, r.cell)
        self.assertGreaterEqual(r.wall_ms, limit * 1000 - 50)
        self.assertLess(r.wall_ms, (limit + grace) * 1000, "ended only at the grace")
        self.assertCell(s.run("state"), value="[1, 2, 3]")

        timer = threading.Timer(0.5, s.interrupt)
        timer.start()
        t0 = time.monotonic()
        r = s.run("import time\ntime.sleep(30)\n")
        timer.join()
        self.assertCell(r, "interrupted", error_type="KeyboardInterrupt")
        self.assertIn("interrupted by the client", r.message or "")
        self.assertTracebackAtCell(r, r.cell, "time.sleep(30)")
        self.assertLess(time.monotonic() - t0, limit, "the client's interrupt came at the limit")
        s.interrupt()  # no cell runs: ignored
        self.assertCell(s.run("state.append(4)\nstate"), value="[1, 2, 3, 4]")

        r = s.run("try:\n    while True:\n        pass\nexcept KeyboardInterrupt:\n    caught = 'yes'\n")
        self.assertCell(r, "ok")
        self.assertIn(f"wall-time limit of {limit} s", r.message or "")
        self.assertCell(s.run("caught"), value="'yes'")

        t0 = time.monotonic()
        res = self.ended(s, "while True:\n    try:\n        while True:\n            pass\n"
                            "    except KeyboardInterrupt:\n        pass\n")
        took = time.monotonic() - t0
        self.assertEqual(res.status, "timeout", res)
        self.assertIn("did not end within", res.message or "")
        self.assertIn("state is lost", res.message or "")
        self.assertGreaterEqual(took, limit + grace - 0.1)
        self.assertLess(took, limit + grace + 5)
        self.assertGone(s.unit, uid)
        note(f"a cell that catches KeyboardInterrupt: session ended after {took:.2f}s "
             f"(limit {limit} s + grace {grace} s): {res.message}")

    # --- how a session ends ----------------------------------------------------------------------

    def test_idle_timeout_frees_unit_and_user(self):
        s = pyward.Session(idle_timeout=1)
        self.addCleanup(_quiet_close, s)
        uid = self.uid_of(s)
        t0 = time.monotonic()
        self.assertTrue(job_user_held(uid))
        self.assertTrue(wait_for(lambda: unit_stopped(s.unit), 8), f"{s.unit} still {unit_state(s.unit)}")
        idle = time.monotonic() - t0
        self.assertGreaterEqual(idle, 0.9)
        self.assertGone(s.unit, uid)
        res = self.ended(s, "1")
        self.assertEqual(res.status, "timeout", res)
        self.assertIn("the session was idle for 1 s", res.message or "")
        self.assertEqual(cells_of(res), 1)
        note(f"idle timeout 1 s: the unit stopped {idle:.2f}s after the last cell")

    def test_cells_limit_and_sys_exit(self):
        s = pyward.Session(cells=3)
        self.addCleanup(_quiet_close, s)
        for i in range(3):
            self.assertCell(s.run(f"{i} * 2"), value=str(i * 2))
        res = self.ended(s, "'one too many'")
        self.assertEqual((res.status, res.exit_code), ("ok", 0), res)
        self.assertIn("the session reached its limit of 3 cells", res.message or "")
        self.assertEqual(cells_of(res), 3)

        s = pyward.Session()
        self.addCleanup(_quiet_close, s)
        self.assertCell(s.run("import sys"))
        res = self.ended(s, "print('bye', flush=True)\nsys.exit(3)")
        self.assertEqual((res.status, res.exit_code), ("exit", 3), res)
        self.assertTrue(wait_for(lambda: unit_stopped(s.unit), 10), job_units())

    def test_systemctl_stop_reports_killed(self):
        s = pyward.Session()
        self.addCleanup(_quiet_close, s)
        uid = self.uid_of(s)
        up, out = threading.Event(), {}

        def go():
            try:
                out["r"] = s.run("import time\nprint('up', flush=True)\ntime.sleep(60)\n",
                                 on_stdout=lambda c: up.set())
            except pyward.SessionEnded as e:
                out["ended"] = e.result

        t = threading.Thread(target=go)
        t.start()
        self.assertTrue(up.wait(30), "the cell did not start")
        stop_at = time.monotonic()
        sh("systemctl", "stop", s.unit)
        t.join(30)
        self.assertFalse(t.is_alive(), "run() still waiting 30 s after systemctl stop")
        self.assertLess(time.monotonic() - stop_at, 10)
        self.assertIn("ended", out, f"the cell answered: {out.get('r')}")
        self.assertEqual(out["ended"].status, "killed", out["ended"])
        self.assertEqual(out["ended"].unit, s.unit)
        self.assertGone(s.unit, uid)

    def test_client_gone_mid_cell_stops_unit_within_2s(self):
        """The client closes its connection while a cell runs: the unit stops within 2 s."""
        with connect(timeout=30) as c:
            c.sendall(session_request())
            it = read_frames(c)
            acc = frames_until(it, ACCEPTED)
            self.assertEqual(acc[-1][0], ACCEPTED, acc)
            unit = parse_kv(acc[-1][1])["unit"]
            c.sendall(cell_frame("import os, time\nprint(os.getuid(), flush=True)\ntime.sleep(120)\n"))
            got = frames_until(it, STDOUT)
            self.assertEqual(got[-1][0], STDOUT, got)
            uid = int(got[-1][1])
            self.assertEqual(unit_state(unit), "active")
            self.assertTrue(processes_of_uid(uid))
        gone_at = time.monotonic()
        stopped = wait_for(lambda: unit_stopped(unit) and not processes_of_uid(uid, pooled=False), 2.0)
        took = time.monotonic() - gone_at
        self.assertTrue(stopped, f"after {took:.1f}s: {unit} {unit_state(unit)}, "
                                 f"processes {processes_of_uid(uid, pooled=False)}")
        self.assertTrue(wait_for(lambda: not job_user_held(uid, pooled=False), 10), "the pool user is still held")
        note(f"client gone mid-cell: unit stopped after {took:.2f}s")

    # --- several sessions ------------------------------------------------------------------------

    def test_two_sessions_of_one_uid_see_nothing_of_each_other(self):
        with pyward.Session() as a, pyward.Session() as b:
            r = a.run("import os\nsecret = 'A only'\nopen('mine.txt', 'w').write('A')\n"
                      "for d in ('/var/tmp', '/dev/shm'):\n    try:\n"
                      "        open(d + '/a-mark', 'w').write('A')\n    except OSError:\n        pass\n"
                      "os.getuid(), os.getpid()")
            self.assertCell(r, value=r.value)
            a_uid, a_pid = eval(r.value)  # noqa: S307 - a tuple of two ints from our own cell
            r = b.run("import os, glob\nseen = [p for d in ('/tmp', '/var/tmp', '/dev/shm', '/run')\n"
                      "        for p in glob.glob(d + '/**', recursive=True) if 'mine' in p or 'a-mark' in p]\n"
                      f"def reach(p):\n    try:\n        return open(p).read()\n    except OSError as e:\n"
                      f"        return type(e).__name__\n"
                      f"('secret' in globals(), seen, {str(a_pid)!r} in os.listdir('/proc'),\n"
                      f" reach('/proc/{a_pid}/cwd/mine.txt'), reach('/proc/{a_pid}/environ')[:20], os.getuid())")
            self.assertCell(r, value=r.value)
            in_globals, seen, pid_visible, via_cwd, environ, b_uid = eval(r.value)  # noqa: S307
            self.assertEqual((in_globals, seen, pid_visible), (False, [], False), r.value)
            self.assertIn(via_cwd, ("FileNotFoundError", "PermissionError"), r.value)
            self.assertIn(environ, ("FileNotFoundError", "PermissionError"), r.value)
            self.assertNotEqual(a_uid, b_uid, "two sessions share a pool user")
            self.assertCell(b.run("open('mine.txt', 'w').write('B')"), value="1")
            self.assertCell(a.run("open('mine.txt').read(), secret"), value="('A', 'A only')")
            self.assertCell(b.run("'secret' in globals(), open('mine.txt').read()"), value="(False, 'B')")
            self.assertNotEqual(a.unit, b.unit)

    def test_sixteen_sessions_of_fifty_cells(self):
        """16 sessions at once, 50 cells each, every value right; afterwards no unit, pool user,
        process or file is left."""
        n_sessions, n_cells = 16, 50
        dropin = os.path.join(DROPIN_DIR, "50-pwtest-sessions.conf")
        os.makedirs(DROPIN_DIR, exist_ok=True)
        with open(dropin, "w") as f:
            f.write(f"[Access]\nJobsPerUser={n_sessions}\n")  # the built-in 8 would refuse half
        self.addCleanup(os.unlink, dropin)
        before = leftovers_snapshot()
        results, errors, units, start = {}, {}, set(), threading.Barrier(n_sessions)

        def one(i):
            try:
                with pyward.Session(timeout=60) as s:
                    units.add(s.unit)
                    start.wait(60)
                    got = [s.run(f"import hashlib\nsid = {i}\nacc = []\nopen('sid.txt', 'w').write(str(sid))").value]
                    for k in range(2, n_cells):
                        r = s.run(f"acc.append({k})\nsid, len(acc)")
                        got.append(r.value if r.ok else f"{r.status}: {r.error_type} {r.message}")
                    got.append(s.run("open('sid.txt').read(), hashlib.sha256(repr(acc).encode()).hexdigest()").value)
                res = s.result
                results[i] = (got, res.status, cells_of(res))
            except Exception as e:  # noqa: BLE001 - reported with its index
                errors[i] = repr(e)
                start.abort()  # the others fail at once instead of waiting for this one

        t0 = time.monotonic()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n_sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        took = time.monotonic() - t0
        self.assertEqual(errors, {})
        for i in range(n_sessions):
            want = [repr(len(str(i)))] + [repr((i, k - 1)) for k in range(2, n_cells)]
            want.append(repr((str(i), hashlib.sha256(repr(list(range(2, n_cells))).encode()).hexdigest())))
            self.assertEqual(results[i], (want, "ok", n_cells), f"session {i}")
        self.assertEqual(len(units), n_sessions)
        left = leftovers_since(before, timeout=15)
        self.assertEqual(left, {}, "left behind by 16 sessions")
        self.assertEqual(job_units(), [])
        note(f"{n_sessions} sessions x {n_cells} cells at once: {took:.1f}s "
             f"({n_sessions * n_cells / took:.0f} cells/s)")

    # --- raw frames: what a session request and its cells must not be ----------------------------

    def test_session_request_refusals(self):
        """A SESSION request with CODE (or ARG, COLLECT) is rejected with a message naming it."""
        for name, extra in (("CODE", frame(0x2, "print(1)")), ("ARG", frame(0x4, "a")), ("COLLECT", frame(0xA))):
            with self.subTest(name):
                frames = exchange_all(session_request(extra=extra))
                res = parse_kv(frames[-1][1])
                self.assertEqual((frames[-1][0], res["status"]), (RESULT, "rejected"), res)
                self.assertIn(name, res.get("message", ""))
                self.assertNotIn(ACCEPTED, [t for t, _ in frames])

    def test_session_frames_raw(self):
        """A cell's input files over the files-in limit: that cell answered error
        pyward.FilesInLimit, nothing written, the session goes on; STDOUT before its CELL_RESULT;
        a second CELL while one runs is a protocol error (killed, the message names it)."""
        with connect(timeout=30) as c:
            c.sendall(session_request(limits={"files_in": 1}))
            it = read_frames(c)
            self.assertEqual(frames_until(it, ACCEPTED)[-1][0], ACCEPTED)
            c.sendall(file_frames("a.txt", b"a") + file_frames("b.txt", b"b") + cell_frame("print('ran')"))
            got = frames_until(it, CELL_RESULT)
            self.assertEqual([t for t, _ in got], [CELL_RESULT], got)
            r = parse_kv(got[-1][1])
            self.assertEqual((r["cell"], r["status"], r.get("error_type")), ("1", "error", "pyward.FilesInLimit"), r)
            c.sendall(cell_frame("import os\nprint('out')\n[p for p in os.listdir('.') if p.endswith('.txt')]"))
            got = frames_until(it, CELL_RESULT)
            self.assertEqual([t for t, _ in got], [STDOUT, CELL_RESULT], got)
            self.assertEqual(got[0][1], b"out\n")
            r = parse_kv(got[-1][1])
            self.assertEqual((r["cell"], r["status"], r.get("value")), ("2", "ok", "[]"), r)
            self.assertEqual(list(r)[:2], ["cell", "status"], r)
            c.sendall(cell_frame("import time\ntime.sleep(20)") + cell_frame("'second'"))
            rest = list(it)
        self.assertEqual(rest[-1][0], RESULT, rest)
        self.assertNotIn(CELL_RESULT, [t for t, _ in rest])
        res = parse_kv(rest[-1][1])
        self.assertEqual(res["status"], "killed", res)
        self.assertIn("CELL", res.get("message", ""))
        self.assertEqual(res.get("cells"), "2", res)

        # STDIN has no place in a session; INTERRUPT with no cell running is ignored.
        with connect(timeout=30) as c:
            c.sendall(session_request() + frame(INTERRUPT) + cell_frame("6 * 7"))
            it = read_frames(c)
            got = frames_until(it, CELL_RESULT)
            self.assertEqual(parse_kv(got[-1][1]).get("value"), "42", got)
            c.sendall(frame(STDIN, b"x"))
            rest = list(it)
        res = parse_kv(rest[-1][1])
        self.assertEqual((rest[-1][0], res["status"]), (RESULT, "killed"), res)

        # SESSION_END while a cell runs: the session ends after it, status ok.
        with connect(timeout=30) as c:
            c.sendall(session_request() + cell_frame("import time\ntime.sleep(0.5)\n'slept'") + frame(SESSION_END))
            frames = list(read_frames(c))
        types = [t for t, _ in frames]
        self.assertEqual(types[-2:], [CELL_RESULT, RESULT], types)
        self.assertEqual(parse_kv(frames[-2][1]).get("value"), "'slept'")
        res = parse_kv(frames[-1][1])
        self.assertEqual((res["status"], res.get("cells")), ("ok", "1"), res)
        self.assertEqual(list(res)[-1], "cells", list(res))  # after every key a job's RESULT has


def exchange_all(data, timeout=30):
    with connect(timeout=timeout) as s:
        s.sendall(data)
        return list(read_frames(s))


def _quiet_close(s):
    """Ends a session a failed test left open (one that ended already is left alone)."""
    if getattr(s, "result", None) is not None:
        return
    try:
        s.close()
    except Exception:  # noqa: BLE001 - a cleanup after a failure: the failure is what counts
        pass


def pyward_value_max():
    return getattr(pyward, "PW_CELL_VALUE_MAX", None) or getattr(pyward, "CELL_VALUE_MAX", None) or 16 * 1024
