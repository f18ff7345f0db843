# SPDX-License-Identifier: LGPL-2.1-or-later
# Files in and out (pyward-protocol(7) "FILES"): input files reach the job's working directory,
# the files a job leaves come back (COLLECT) through the CLI's --files-out, pyward.run(collect=True)
# and raw frames; what may not come back (links, FIFOs, sockets, huge, too many, too deep) is
# listed with its reason; hostile names and trees neither hang the helper nor reach outside the
# client's directory; bad input paths and bounds are refused; a job stopped by its wall-clock limit
# still returns what it wrote; a client that asks for nothing gets today's RESULT, key for key.
import hashlib
import json
import os
import stat
import struct
import tempfile
import time

from pwlib import (CLI, FILE_OUT, connect, read_frames, FILE_OUT_DATA, FILE_SKIPPED, PywardTestCase, cli, exchange,
                   file_frames, files_of, files_request, frame, note, pyward, result_of, CODE,
                   REQUEST_END, STDIN_EOF)

# A plot, saved as plot.png; the job prints the file's sha256 so the client can compare.
PLOT = r"""
import hashlib, os
os.environ["MPLCONFIGDIR"] = "/var/tmp/mpl"  # its font cache: not an output of the job's
# bookworm's OpenBLAS spins in numpy.linalg.inv() inside a job (as on main before files: a
# separate problem, reported), and matplotlib's transforms call it.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([0, 1, 2, 3], [1, 4, 2, 3])
plt.title("pyward")
plt.savefig("plot.png", dpi=50)
print(hashlib.sha256(open("plot.png", "rb").read()).hexdigest())
"""

# RESULT's keys before files existed (common/result.c job_result_format()), in order.
TODAYS_KEYS = ["status", "exit_code", "signal", "wall_ms", "cpu_ms", "memory_peak_bytes",
               "memory_peak_reason", "unit", "invocation_id", "job", "message"]


def result_keys(frames):
    payload = [p for t, p in frames if t == 0x104][-1]
    return [line.partition("=")[0] for line in payload.decode().split("\n") if line]


class FilesTests(PywardTestCase):
    def test_plot_png_through_cli_and_module(self):
        """A matplotlib PNG comes back byte for byte: the job's own sha256 of it equals the
        client's, through `pyward --files-out DIR` and through pyward.run(collect=True)."""
        with tempfile.TemporaryDirectory() as top:
            out = os.path.join(top, "out")
            # matplotlib's first import builds its font cache: seconds of CPU on a busy machine.
            p = cli("--files-out=" + out, "--cpu-time=60s", "--timeout=120s", "-c", PLOT, timeout=180)
            self.assertEqual(p.returncode, 0, p.stderr)
            digest = p.stdout.decode().strip()
            self.assertEqual(os.listdir(out), ["plot.png"])
            with open(os.path.join(out, "plot.png"), "rb") as f:
                data = f.read()
            self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
            self.assertEqual(hashlib.sha256(data).hexdigest(), digest)
            self.assertEqual(os.listdir(top), ["out"], "the CLI wrote outside --files-out")
        res = pyward.run(PLOT, collect=True, timeout=120, cpu_time=60)
        self.assertOk(res)
        self.assertEqual(list(res.files), ["plot.png"])
        self.assertEqual(hashlib.sha256(res.files["plot.png"]).hexdigest(), res.stdout.decode().strip())
        self.assertEqual((res.files_out, res.files_skipped, res.files_note), (1, 0, None))

    def test_csv_in_transformed_out_and_an_executable_input(self):
        """A CSV in, its transformation out; the unchanged input and the main script are not
        returned; an input file marked executable runs (0700), a plain one is 0600."""
        csv = b"name,n\n" + b"".join(b"row%d,%d\n" % (i, i) for i in range(2000))
        tool = b"#!/bin/sh\necho tool says $1\n"
        code = ("import csv, os, stat, subprocess\n"
                "rows = list(csv.DictReader(open('data/in.csv')))\n"
                "with open('out.csv', 'w', newline='') as f:\n"
                "    w = csv.writer(f)\n"
                "    w.writerow(['name', 'double'])\n"
                "    for r in rows: w.writerow([r['name'].upper(), 2 * int(r['n'])])\n"
                "print(subprocess.run(['./tool.sh', 'hi'], capture_output=True, text=True).stdout.strip())\n"
                "print(oct(stat.S_IMODE(os.stat('tool.sh').st_mode)), oct(stat.S_IMODE(os.stat('data/in.csv').st_mode)))\n")
        frames = exchange(files_request(code, files=[("data/in.csv", csv, False), ("tool.sh", tool, True)]))
        res = result_of(frames)
        self.assertEqual(res["status"], "ok", res)
        stdout = b"".join(p for t, p in frames if t == 0x102).decode()
        self.assertEqual(stdout, "tool says hi\n0o700 0o600\n")
        files, skipped = files_of(frames)
        self.assertEqual(list(files), [b"out.csv"], "only the new file comes back")
        want = "name,double\r\n" + "".join("ROW%d,%d\r\n" % (i, 2 * i) for i in range(2000))
        self.assertEqual(files[b"out.csv"][1].decode(), want)
        self.assertEqual(skipped, [])
        self.assertEqual((res["files_out"], res["files_out_bytes"], res["files_skipped"]),
                         ("1", str(len(want)), "0"))

    def test_hostile_tree(self):
        """One job leaves everything a client should not be handed, and some names a client
        must cope with. Each is handled by its rule, the bounds hold, nothing hangs, and the CLI
        writes nothing outside --files-out."""
        with tempfile.TemporaryDirectory() as top:
            secret = os.path.join(top, "secret")
            code = f"""
import os, socket
os.symlink("/etc/shadow", "0-shadow-link")
os.symlink({secret!r}, "0-client-link")
os.mkfifo("0-fifo")
s = socket.socket(socket.AF_UNIX); s.bind("0-socket")
with open("0-sparse", "wb") as f: f.truncate(1 << 40)
open(b"1-caf\\xe9.txt", "wb").write(b"latin-1 name")
open("1-new\\nline.txt", "wb").write(b"newline name")
d = "2-deep"
for i in range(200):
    d += "/d"
os.makedirs(d)
open(d + "/leaf", "w").write("too deep")
os.mkdir("3-many")
for i in range(10000):
    with open("3-many/f%05d" % i, "w") as f: f.write("x")
print("made", flush=True)
"""
            out = os.path.join(top, "out")
            start = time.monotonic()
            p = cli("--json", "--files-out=" + out, "--memory=512M", "--timeout=60s", "-c", code,
                    timeout=120)
            took = time.monotonic() - start
            note(f"hostile tree (10,000 files, 1 TB sparse, 200 levels) through the CLI: {took:.1f} s")
            doc = json.loads(p.stdout)
            self.assertEqual(doc["status"], "ok", (doc, p.stderr))
            self.assertEqual(doc["stdout"], "made\n")
            # The bounds: the default profile returns at most 100 files.
            self.assertEqual(doc["files_out"], 100, doc.get("files_note"))
            self.assertGreaterEqual(doc["files_skipped"], 5 + 9900)
            reasons = {s.get("path"): s["reason"] for s in doc["skipped"]}
            for name, reason in (("0-shadow-link", "symlink"), ("0-client-link", "symlink"),
                                 ("0-fifo", "fifo"), ("0-socket", "socket"), ("0-sparse", "size")):
                self.assertEqual(reasons.get(name), reason, (name, doc["skipped"][:8]))
            self.assertIn("count", set(reasons.values()))
            # The walk is depth-first in the order of the paths' bytes: 2-deep comes before the many.
            deep = [p for p, r in reasons.items() if r == "depth"]
            self.assertEqual(len(deep), 1, doc["skipped"][:10])
            self.assertTrue(deep[0].startswith("2-deep/d/"), deep)
            self.assertLessEqual(len(doc["skipped"]), 100)
            self.assertEqual(os.listdir(top), ["out"], "the CLI wrote outside --files-out")
            self.assertFalse(os.path.lexists(secret))
            names = set(os.listdir(os.fsencode(out)))
            with open(os.path.join(os.fsencode(out), b"1-caf\xe9.txt"), "rb") as f:
                self.assertEqual(f.read(), b"latin-1 name")
            with open(os.path.join(out, "1-new\nline.txt"), "rb") as f:
                self.assertEqual(f.read(), b"newline name")
            self.assertEqual(len(os.listdir(os.path.join(out, "3-many"))), 98)
            for name in (b"0-shadow-link", b"0-client-link", b"0-fifo", b"0-socket", b"0-sparse"):
                self.assertNotIn(name, names)
            for root, dirs, fs in os.walk(out):
                for n in dirs + fs:
                    st = os.lstat(os.path.join(root, n))
                    self.assertTrue(stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode), n)
                    self.assertLess(st.st_size, 1 << 20)
            self.assertFalse(any("leaf" in fs for _, _, fs in os.walk(out)), "a file beyond the depth")
            self.assertLess(took, 60)

    def test_planted_symlink_in_files_out(self):
        """--files-out into a directory that holds a symlink with an output file's name: the link
        is not followed and nothing is written through it."""
        with tempfile.TemporaryDirectory() as top:
            victim = os.path.join(top, "victim")
            out = os.path.join(top, "out")
            os.mkdir(out)
            os.symlink(victim, os.path.join(out, "result.txt"))
            os.symlink(top, os.path.join(out, "sub"))
            p = cli("--files-out=" + out, "-c",
                    "import os\nopen('result.txt', 'w').write('owned')\n"
                    "os.mkdir('sub'); open('sub/victim', 'w').write('owned')\n", timeout=60)
            self.assertFalse(os.path.lexists(victim), "written through a planted symlink")
            self.assertEqual(os.readlink(os.path.join(out, "result.txt")), victim)
            self.assertNotEqual(p.returncode, 0, "a file that could not be written is an error")
            self.assertIn(b"result.txt", p.stderr)

    def test_bad_input_paths_and_bounds_are_refused(self):
        """Input paths the helper refuses, each named in the message; a bound over the profile's
        maximum, with its key, value and maximum."""
        for path in (b"../x", b"/etc/x", b"a/../../x", b"", b"a\0b"):
            with self.subTest(path=path):
                res = result_of(exchange(files_request("print(1)", files=[(path, b"data", False)])))
                self.assertEqual(res["status"], "rejected", res)
                shown = {b"a\0b": "'a\\x00b'"}.get(path, "'" + path.decode() + "'")
                self.assertIn("input file " + shown + ": ", res["message"])
        res = result_of(exchange(files_request("print(1)", files=[("a", b"1", False), ("a", b"2", False)])))
        self.assertEqual(res["status"], "rejected", res)
        self.assertIn("'a'", res["message"])
        res = result_of(exchange(files_request("print(1)", limits={"files_out": 10001})))
        self.assertEqual(res["status"], "rejected", res)
        for part in ("files-out", "10001", "100"):
            self.assertIn(part, res["message"])

    def test_timeout_returns_what_was_written(self):
        """A job stopped by its wall-clock limit still hands back the files it wrote before
        (status timeout, the runner's CH_STOP), within files-out-time."""
        code = ("import time\nopen('partial.txt', 'w').write('before the limit')\n"
                "print('written', flush=True)\ntime.sleep(60)\n")
        start = time.monotonic()
        frames = exchange(files_request(code, limits={"wall_time": 2_000_000}), timeout=60)
        took = time.monotonic() - start
        note(f"timeout with collection: {took:.1f} s for a 2 s limit")
        res = result_of(frames)
        self.assertEqual(res["status"], "timeout", res)
        files, _ = files_of(frames)
        self.assertEqual(files.get(b"partial.txt", (0, b""))[1], b"before the limit", res)
        self.assertEqual(res["files_out"], "1", res)
        self.assertLess(took, 2 + 2 + 5, "more than the wall-clock limit and files-out-time")

    def test_collection_time_runs_out(self):
        """A client that does not read while the runner returns a big file after a timeout: the
        runner blocks, files-out-time runs out, the job is killed inside the file. The client
        still gets a well-formed stream: the announced size (zeros after what came), the file
        listed as skipped for "time", the note, and the status of the first stop."""
        code = ("import os, time\nwith open('big.bin', 'wb') as f: f.write(os.urandom(8 << 20))\n"
                "print('written', flush=True)\ntime.sleep(60)\n")
        req = files_request(code, limits={"wall_time": 1_000_000, "files_out_time": 500_000})
        with connect(timeout=60) as s:
            s.sendall(req)
            time.sleep(4)  # the limit (1 s) and files-out-time (0.5 s) pass while nobody reads
            start = time.monotonic()
            frames = list(read_frames(s))
        note(f"collection cut by files-out-time: the rest read in {time.monotonic() - start:.1f} s")
        res = result_of(frames)
        self.assertEqual(res["status"], "timeout", res)
        files, skipped = files_of(frames)
        self.assertIn(("time", b"big.bin"), skipped)
        self.assertEqual(len(files[b"big.bin"][1]), 8 << 20)
        self.assertEqual(files[b"big.bin"][1][-4096:], bytes(4096), "zeros where the data stopped")
        self.assertEqual((res["files_out"], res["files_note"]), ("0", "the collection's time ran out"))

    def test_output_limit_returns_what_was_written(self):
        """The same for the output limit: status output-limit, the files come back."""
        code = "open('log.txt', 'w').write('kept')\nwhile True: print('x' * 1000)\n"
        frames = exchange(files_request(code, limits={"output": 10000}), timeout=60)
        res = result_of(frames)
        self.assertEqual(res["status"], "output-limit", res)
        files, _ = files_of(frames)
        self.assertEqual(files.get(b"log.txt", (0, b""))[1], b"kept", res)
        self.assertEqual(len(b"".join(p for t, p in frames if t == 0x102)), 10000)

    def test_no_collect_is_todays_protocol(self):
        """No COLLECT and no FILE frame: no file frame comes back, whatever the job writes, and
        RESULT has exactly today's keys in today's order (no files_*)."""
        frames = exchange(pyward.hello(1) + frame(CODE, "open('x.txt', 'w').write('x')\nprint('hi')\n")
                          + frame(REQUEST_END) + frame(STDIN_EOF))
        self.assertEqual([t for t, _ in frames if t in (FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED)], [])
        self.assertEqual(result_of(frames)["status"], "ok")
        self.assertEqual(result_keys(frames), TODAYS_KEYS)
        # FILE frames without COLLECT: the files arrive, none come back, still today's keys.
        frames = exchange(files_request("print(open('in.txt').read())", files=[("in.txt", b"given", False)],
                                        collect=False))
        self.assertEqual(result_of(frames)["status"], "ok")
        self.assertEqual(b"".join(p for t, p in frames if t == 0x102), b"given\n")
        self.assertEqual([t for t, _ in frames if t in (FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED)], [])
        self.assertEqual(result_keys(frames), TODAYS_KEYS)
