# SPDX-License-Identifier: LGPL-2.1-or-later
# The helper's journal records (issue #23), field by field: an ok job, one that exits 3, one
# stopped by its wall-clock limit, a rejected request and a session of three cells (issue #15: one
# record per cell, PYWARD_KIND=session and PYWARD_CELLS=), sent through the real socket by a client
# of its own UID, against what that client saw (its UID and PID, ACCEPTED, RESULT, its clock), the
# manager's own records of the unit, the MAC layers of this host, and pyward-helper(8)'s list of
# fields: a field the helper writes and the page does not list (or the other way round) fails.
import ctypes
import glob
import gzip
import json
import os
import re
import signal

from pwlib import (SESSION_END, SOCKET_PATH, PywardTestCase, TempUser, cell_frame, ensure_group, frame,
                   job_journal, note, parse_kv, request_frames, session_request, sh, wait_for)

DROPIN_DIR = "/etc/pyward/pyward.conf.d"
PROFILE = "pwtest-journal"
MAN_GLOB = "/usr/share/man/man8/pyward-helper.8*"
KINDS = {"started", "result", "write-stall", "cell", "log"}
ACCEPTED, RESULT, CELL_RESULT = 0x101, 0x104, 0x109
# Only in the started and result records of a session (a one-shot job's have neither).
SESSION_ONLY = {"PYWARD_KIND", "PYWARD_CELLS"}
T_HELPER = ["MAIN", "BUS_OPEN", "ACCEPT", "CONFIG", "REQUEST", "BUS", "START", "RESULT"]  # the helper's, in order
T_ALL = ["MAIN", "BUS_OPEN", "ACCEPT", "CONFIG", "REQUEST", "BUS", "START", "EXEC", "EXIT", "RESULT"]
LOG_INFO, LOG_NOTICE, LOG_ERR = "6", "5", "3"

# The requests: name -> (code, profile, limits). wall_time and the limits are raw wire values (us).
REQUESTS = {
    "ok": ("print('fine')\n", None, None),
    "exit": ("import sys\nsys.exit(3)\n", PROFILE, None),
    "timeout": ("import time\ntime.sleep(30)\n", PROFILE, {"wall_time": 300_000}),
    "rejected": ("print('never')\n", PROFILE, {"wall_time": 10**13}),
}
# The session: its cells, one at a time, then SESSION_END; each cell's status.
SESSION_CELLS = [("x = 1", "ok"), ("1 / 0", "error"), ("x + 1", "ok")]
ALL = list(REQUESTS) + ["session"]

# Runs as the client's user: sends each request (hex, from stdin) on a connection of its own, then
# (a session) each cell, waiting for its CELL_RESULT, and the end; prints, per request, its PID,
# its CLOCK_MONOTONIC (us) around the exchange, and the frames.
CLIENT = r"""
import json, os, socket, struct, sys, time
def frames(s, buf, until=None):
    out = []
    while True:
        while len(buf) >= 8:
            t, _, n = struct.unpack("<HHI", bytes(buf[:8]))
            if len(buf) < 8 + n:
                break
            out.append([t, bytes(buf[8:8 + n]).decode(errors="replace")])
            del buf[:8 + n]
            if until is not None and t in (until, 0x104):
                return out
        b = s.recv(65536)
        if not b:
            return out
        buf += b
out = []
for req in json.load(sys.stdin):
    before = time.monotonic_ns() // 1000
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(%r)
    s.sendall(bytes.fromhex(req["request"]))
    buf, got = bytearray(), []
    for cell in req["cells"]:
        s.sendall(bytes.fromhex(cell))
        got += frames(s, buf, 0x109)
    if req["end"]:
        s.sendall(bytes.fromhex(req["end"]))
    got += frames(s, buf)
    s.close()
    after = time.monotonic_ns() // 1000
    out.append({"pid": os.getpid(), "before": before, "after": after, "frames": got})
print(json.dumps(out))
""" % SOCKET_PATH


def documented_fields():
    """pyward-helper(8)'s JOURNAL list, from the installed page: field -> the set of records it is
    in, from the definition terms `\\fBPYWARD_X=\\fR[, ...] (record, ...)`."""
    pages = sorted(glob.glob(MAN_GLOB))
    if not pages:
        raise AssertionError(f"pyward-helper(8) is not installed ({MAN_GLOB})")
    opener = gzip.open if pages[0].endswith(".gz") else open
    with opener(pages[0], "rt") as f:
        roff = f.read()
    m = re.search(r"^\.SH JOURNAL\n(.*?)^\.SH ", roff, re.M | re.S)
    if not m:
        raise AssertionError(f"{pages[0]} has no JOURNAL section")
    section = m.group(1)
    fields = {}
    for line in section.splitlines():
        t = re.fullmatch(r"((?:\\fBPYWARD_[A-Z0-9_]+=\\fR(?:, )?)+) \(([a-z, -]+)\)", line)
        if not t:
            continue
        kinds = set(t.group(2).split(", "))
        if not kinds <= KINDS:
            raise AssertionError(f"unknown record kind in {line!r}: {kinds - KINDS}")
        for name in re.findall(r"\\fB(PYWARD_[A-Z0-9_]+)=\\fR", t.group(1)):
            if name in fields:
                raise AssertionError(f"{name} is listed twice")
            fields[name] = kinds
    mentioned = set(re.findall(r"PYWARD_[A-Z0-9_]*[A-Z0-9]", section))
    if mentioned - set(fields):
        raise AssertionError(f"the JOURNAL section names fields it does not list: {mentioned - set(fields)}")
    return fields


def fields_of(kind, doc):
    return {name for name, kinds in doc.items() if kind in kinds}


def expected_mac():
    """PYWARD_MAC for a default-like profile on this host (mac.c's mac_job_layers())."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = min(max(libc.syscall(444, None, 0, 1), 0), 6)  # landlock_create_ruleset(NULL, 0, VERSION)
    try:
        with open("/sys/kernel/security/apparmor/profiles") as f:
            names = {line.split(" (")[0] for line in f}
        apparmor = {"pyward-job", "pyward-job-loopback"} <= names
    except OSError:
        apparmor = False
    if abi:
        return f"landlock-abi{abi}" + (",apparmor" if apparmor else "")
    return "apparmor" if apparmor else "none"


def signal_number(name):
    if not name:
        return 0
    m = re.fullmatch(r"SIG(\d+)", name)
    return int(m.group(1)) if m else int(signal.Signals[name])


def managers_invocation_ids(unit):
    """The INVOCATION_ID= of every record the manager (PID 1) wrote about the unit."""
    out = sh("journalctl", "--no-pager", "-o", "json", "_PID=1", f"UNIT={unit}").stdout
    return {json.loads(line).get("INVOCATION_ID") for line in out.splitlines() if line.strip()}


def with_result(records):
    return records if any(kind_of(x) == "result" for x in records) else None


def kind_of(rec):
    if "PYWARD_EVENT" in rec:
        return "cell" if rec["PYWARD_EVENT"] == "cell" else "write-stall"
    if rec.get("PYWARD_STATUS") == "started":
        return "started"
    if "PYWARD_STATUS" in rec:
        return "result"
    return "log"


class JournalTests(PywardTestCase):
    runs = None  # name -> {"pid", "before", "after", "accepted", "result", "records"}, made once

    def setUp(self):
        super().setUp()
        if JournalTests.runs is None:
            JournalTests.runs = self._run_requests()
        self.doc = documented_fields()

    def _run_requests(self):
        ensure_group("pyward")
        os.makedirs(DROPIN_DIR, exist_ok=True)
        dropin = os.path.join(DROPIN_DIR, "50-pwtest-journal.conf")
        with open(dropin, "w") as f:
            f.write(f'[Profile "{PROFILE}"]\nNetwork=none\n')
        try:
            with TempUser("pwjournal", groups=["pyward"]) as u:
                reqs = [{"request": request_frames(code, profile=prof, limits=lim, stdin=b"").hex(),
                         "cells": [], "end": ""} for code, prof, lim in REQUESTS.values()]
                reqs.append({"request": session_request().hex(), "end": frame(SESSION_END).hex(),
                             "cells": [cell_frame(code).hex() for code, _ in SESSION_CELLS]})
                p = u.run(["python3", "-c", CLIENT], input=json.dumps(reqs).encode(), timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr)
                uid = u.uid
        finally:
            os.unlink(dropin)
        runs = {}
        for name, out in zip(ALL, json.loads(p.stdout)):
            frames = out["frames"]
            self.assertTrue(frames and frames[-1][0] == RESULT, (name, frames))
            acc = [parse_kv(pl.encode()) for t, pl in frames if t == ACCEPTED]
            runs[name] = dict(out, uid=uid, accepted=acc[0] if acc else None,
                              result=parse_kv(frames[-1][1].encode()),
                              cells=[parse_kv(pl.encode()) for t, pl in frames if t == CELL_RESULT])
        for name, r in runs.items():
            job = r["result"]["job"]
            # The RESULT is sent after its record; journald may store it a moment later.
            recs = wait_for(lambda: with_result(job_journal(job)), 10)
            self.assertTrue(recs, f"{name}: no result record for PYWARD_JOB={job}")
            r["records"] = recs
        return runs

    def records(self, name, kind):
        return [x for x in self.runs[name]["records"] if kind_of(x) == kind]

    def test_statuses_as_requested(self):
        """The requests ended as meant to, with ACCEPTED for the jobs and none for the rejection."""
        want = {"ok": ("ok", "0", False), "exit": ("exit", "3", False), "timeout": ("timeout", "", True),
                "rejected": ("rejected", "", False), "session": ("ok", "0", False)}
        for name, r in self.runs.items():
            with self.subTest(name):
                res = r["result"]
                self.assertEqual((res["status"], res["exit_code"], bool(res["signal"])), want[name], res)
                self.assertEqual(r["accepted"] is None, name == "rejected", r["accepted"])
        self.assertIn("wall-time", self.runs["rejected"]["result"]["message"])
        session = self.runs["session"]
        self.assertEqual([(c["cell"], c["status"]) for c in session["cells"]],
                         [(str(i), st) for i, (_, st) in enumerate(SESSION_CELLS, 1)], session["cells"])
        self.assertEqual(session["result"].get("cells"), str(len(SESSION_CELLS)), session["result"])

    def test_one_connection_one_helper(self):
        """A connection's records: one result, one started record for a job (none for a
        rejection), in that order, all from the one helper process of a pyward-helper@ instance."""
        for name, r in self.runs.items():
            with self.subTest(name):
                kinds = [kind_of(x) for x in r["records"]]
                self.assertEqual(kinds.count("result"), 1, kinds)
                self.assertEqual(kinds.count("started"), 0 if name == "rejected" else 1, kinds)
                self.assertNotIn("write-stall", kinds)
                self.assertEqual(kinds.count("cell"), len(SESSION_CELLS) if name == "session" else 0, kinds)
                if name != "rejected":
                    self.assertLess(kinds.index("started"), kinds.index("result"), kinds)
                cells = [i for i, k in enumerate(kinds) if k == "cell"]
                if cells:  # between the session's started and result records
                    self.assertLess(kinds.index("started"), cells[0], kinds)
                    self.assertLess(cells[-1], kinds.index("result"), kinds)
                self.assertEqual({x["_PID"] for x in r["records"]}, {r["records"][0]["_PID"]})
                first = r["records"][0]
                if "_SYSTEMD_UNIT" in first or name != "rejected":
                    self.assertRegex(first.get("_SYSTEMD_UNIT", ""), r"^pyward-helper@.*\.service$", first)
                else:
                    # journald reads a sender's unit from /proc when the record arrives; a helper
                    # that refused the connection exits right after its one record and may be gone
                    # by then (seen once on trixie, 0d36adf): journald then knows none of its
                    # cgroup metadata, which is not a wrong unit.
                    self.assertFalse([k for k in first if k.startswith("_SYSTEMD_")], first)
                self.assertEqual({x["PYWARD_JOB"] for x in r["records"]}, {r["result"]["job"]})

    def test_fields_are_the_documented_ones(self):
        """Each record has exactly the PYWARD_* fields pyward-helper(8) lists for its kind."""
        self.assertEqual(set().union(*self.doc.values()), KINDS, self.doc)
        seen = set()
        for name, r in self.runs.items():
            for rec in r["records"]:
                kind = kind_of(rec)
                got = {k for k in rec if k.startswith("PYWARD_")}
                seen |= got
                want = fields_of(kind, self.doc)
                if name != "session":
                    want -= SESSION_ONLY
                with self.subTest(name=name, kind=kind, message=rec.get("MESSAGE")):
                    self.assertEqual(got, want)
        self.assertLessEqual(SESSION_ONLY, set(self.doc), "pyward-helper(8) does not list the session fields")
        # Only the write-stall record's own fields are not written here (30 s of a stalled client:
        # test_limits_rlimit makes one).
        only_stall = {f for f, k in self.doc.items() if k == {"write-stall"}}
        self.assertEqual(set(self.doc) - seen, only_stall)

    def test_started_record(self):
        for name in ("ok", "exit", "timeout", "session"):
            r = self.runs[name]
            res, job, uid = r["result"], r["result"]["job"], r["uid"]
            profile = (REQUESTS[name][1] if name in REQUESTS else None) or "default"
            with self.subTest(name):
                (rec,) = self.records(name, "started")
                unit = f"pyward-job-{job}.service"
                self.assertEqual(r["accepted"], {"job": job, "unit": unit})
                want = {"PYWARD_JOB": job, "PYWARD_UID": str(uid), "PYWARD_PID": str(r["pid"]),
                        "PYWARD_STATUS": "started", "PYWARD_UNIT": unit, "PYWARD_PROFILE": profile,
                        "PYWARD_MAC": expected_mac(), "PRIORITY": LOG_INFO,
                        "MESSAGE": f"Starting pyward job {job} for UID {uid} (profile {profile}) as {unit}."}
                if name == "session":
                    want["PYWARD_KIND"] = "session"
                    self.assertRegex(rec.get("MESSAGE", ""), rf"^Starting pyward (job|session) {job} for UID {uid} ")
                    del want["MESSAGE"]
                self.assertEqual({k: rec.get(k) for k in want}, want)
                self.assertEqual(res["unit"], unit)

    def test_result_record(self):
        for name, r in self.runs.items():
            res, job, uid = r["result"], r["result"]["job"], r["uid"]
            profile = (REQUESTS[name][1] if name in REQUESTS else None) or "default"
            ran = name != "rejected"
            with self.subTest(name):
                (rec,) = self.records(name, "result")
                self.assertRegex(job, r"^[0-9a-f]{32}$")
                if ran:
                    self.assertRegex(res["invocation_id"], r"^[0-9a-f]{32}$")
                msg = f"pyward job {job} for UID {uid} (profile {profile}): {res['status']}"
                if res.get("message"):
                    msg += f": {res['message']}"
                want = {"PYWARD_JOB": job, "PYWARD_UID": str(uid), "PYWARD_PID": str(r["pid"]),
                        "PYWARD_STATUS": res["status"],
                        "PYWARD_UNIT": f"pyward-job-{job}.service" if ran else "",
                        "PYWARD_INVOCATION_ID": res["invocation_id"], "PYWARD_PROFILE": profile,
                        "PYWARD_EXIT_CODE": res["exit_code"] or "-1",
                        "PYWARD_SIGNAL": str(signal_number(res["signal"])),
                        "PYWARD_MAC": expected_mac() if ran else "",
                        "PRIORITY": LOG_NOTICE if name == "rejected" else LOG_INFO, "MESSAGE": msg}
                if name == "session":
                    want.update(PYWARD_KIND="session", PYWARD_CELLS=str(len(SESSION_CELLS)))
                    self.assertRegex(rec.get("MESSAGE", ""), rf"^pyward (job|session) {job} for UID {uid} "
                                                             rf"\(profile default\): ok")
                    del want["MESSAGE"]
                self.assertEqual({k: rec.get(k) for k in want}, want)
                self.assertEqual(res["unit"], want["PYWARD_UNIT"])
                rss = int(rec["PYWARD_HELPER_PEAK_RSS_KB"])
                self.assertGreaterEqual(rss, 512)
                self.assertLessEqual(rss, 64 * 1024)  # pyward-helper@.service's MemoryMax=64M
                note(f"{name}: helper peak RSS {rss} KiB")

    def test_cell_records(self):
        """One record per cell, in order, with the job, the client's UID, the unit, the cell's
        number, status, wall and CPU time as its CELL_RESULT said them."""
        r = self.runs["session"]
        job, uid = r["result"]["job"], r["uid"]
        recs = self.records("session", "cell")
        self.assertEqual(len(recs), len(SESSION_CELLS), recs)
        for rec, cell, (_, status) in zip(recs, r["cells"], SESSION_CELLS):
            n = cell["cell"]
            with self.subTest(cell=n):
                want = {"PYWARD_EVENT": "cell", "PYWARD_JOB": job, "PYWARD_UID": str(uid),
                        "PYWARD_UNIT": f"pyward-job-{job}.service", "PYWARD_CELL": n,
                        "PYWARD_CELL_STATUS": status, "PYWARD_WALL_MS": cell.get("wall_ms", ""),
                        "PYWARD_CPU_MS": cell.get("cpu_ms", ""),  # empty when unknown, as in the RESULT
                        "MESSAGE": f"Job {job} cell {n}: {status} ({cell.get('wall_ms') or '?'} ms)"}
                self.assertRegex(want["PYWARD_WALL_MS"], r"^[0-9]+$", "a cell's wall_ms is always known")
                self.assertEqual({k: rec.get(k) for k in want}, want)
                self.assertIn(rec.get("PRIORITY"), list("01234567"), rec)
        stamps = [int(x["__MONOTONIC_TIMESTAMP"]) for x in recs]
        self.assertEqual(stamps, sorted(stamps))

    def test_invocation_id_is_the_managers(self):
        """PYWARD_INVOCATION_ID is the ID the manager itself logs for the unit (INVOCATION_ID=)."""
        for name in ("ok", "exit", "timeout", "session"):
            (rec,) = self.records(name, "result")
            unit = rec["PYWARD_UNIT"]
            ids = wait_for(lambda: managers_invocation_ids(unit), 5)
            with self.subTest(name):
                self.assertEqual(ids, {rec["PYWARD_INVOCATION_ID"]}, f"the manager's records of {unit}")

    def test_timestamps(self):
        """The PYWARD_T_* marks: CLOCK_MONOTONIC us inside the client's own exchange, the helper's
        in order, the manager's after BUS and in order, 0 for the steps a rejection never took."""
        for name, r in self.runs.items():
            (rec,) = self.records(name, "result")
            t = {k: int(rec[f"PYWARD_T_{k}"]) for k in T_ALL}
            with self.subTest(name, **t):
                if name == "rejected":
                    self.assertEqual([t[k] for k in ("BUS", "START", "EXEC", "EXIT")], [0, 0, 0, 0])
                    helper = ["MAIN", "BUS_OPEN", "ACCEPT", "CONFIG", "REQUEST", "RESULT"]
                else:
                    helper = T_HELPER
                    self.assertTrue(all(t.values()), "a step of a job that ran has no mark")
                    self.assertTrue(t["BUS"] <= t["EXEC"] <= t["EXIT"] <= t["RESULT"])
                marks = [t[k] for k in helper]
                self.assertEqual(marks, sorted(marks), "the helper's marks are out of order")
                self.assertLessEqual(r["before"], t["MAIN"])  # the helper was started for this client
                self.assertLessEqual(t["RESULT"], r["after"])
                self.assertLessEqual(t["RESULT"], int(rec["__MONOTONIC_TIMESTAMP"]))
                if name == "timeout":  # 300 ms of wall-clock limit between fork and exit
                    self.assertGreaterEqual(t["EXIT"] - t["EXEC"], 300_000)
                if name != "rejected":
                    note(f"{name}: START - EXEC = {t['START'] - t['EXEC']} us, "
                         f"ACCEPT to RESULT {(t['RESULT'] - t['ACCEPT']) / 1000:.1f} ms")

    def test_log_lines(self):
        """Every line the helper logs for a connection carries its job id, and only that of the
        PYWARD_* fields; the limit and the refusal are among them."""
        for name, r in self.runs.items():
            lines = self.records(name, "log")
            with self.subTest(name):
                for rec in lines:
                    self.assertEqual(rec.get("SYSLOG_IDENTIFIER"), "pyward-helper", rec)
                    self.assertIn(rec.get("PRIORITY"), list("01234567"), rec)
                    self.assertTrue(rec.get("MESSAGE"), rec)
                    if "ERRNO" in rec:
                        self.assertGreater(int(rec["ERRNO"]), 0, rec)
                msgs = [x["MESSAGE"] for x in lines]
                if name == "timeout":
                    self.assertTrue(any("wall-clock limit" in m for m in msgs), msgs)
                if name == "rejected":
                    want = f"Rejected request of UID {r['uid']}: {r['result']['message']}"
                    self.assertIn(want, msgs)
