# SPDX-License-Identifier: LGPL-2.1-or-later
# A library's own test suite (issue #16): the standard library's tests, run bare as a user of the
# job pool and as a job at the same time in the same machine; every test's outcome is the same, or
# it differs by a restriction named here. The corpus of ordinary Python is test_compat.py's.
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from pwlib import PywardTestCase, bare_user, sh

# A library's own test suite (issue #16): the standard library's tests, which Debian ships as
# libpython3.X-testsuite, run in one process by this driver; it prints one line, PWLIBTESTS and a
# JSON object: test id -> [outcome, the end of its traceback or skip reason], and seconds per module.
LIBTESTS = r'''
import faulthandler, json, os, sys, time, unittest, warnings

sys.dont_write_bytecode = True
from test import support

support.use_resources = []  # python -m test's default: no -u resources (no network, no largefile)
support.verbose = 0
out, t0 = {}, time.monotonic()
RANK = {"error": 5, "fail": 4, "xpass": 3, "xfail": 2, "skip": 1, "pass": 0}


class Result(unittest.TestResult):
    def put(self, test, outcome, detail=""):
        test = getattr(test, "test_case", test)  # a subtest counts for its test
        tid = test.id()
        if tid in out and RANK[out[tid][0]] > RANK[outcome]:
            return
        out[tid] = [outcome, detail[-500:]]

    def startTest(self, test):
        super().startTest(test)
        faulthandler.dump_traceback_later(60, exit=True)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)

    def addSuccess(self, test):
        self.put(test, "pass")

    def addFailure(self, test, err):
        self.put(test, "fail", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        self.put(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        self.put(test, "skip", str(reason))

    def addExpectedFailure(self, test, err):
        self.put(test, "xfail")

    def addUnexpectedSuccess(self, test):
        self.put(test, "xpass")

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.put(subtest, "fail" if issubclass(err[0], test.failureException) else "error",
                     self._exc_info_to_string(err, test))


def main():
    times = {}
    for m in sys.argv[1:]:
        s = time.monotonic()
        suite = unittest.defaultTestLoader.loadTestsFromName("test.test_" + m)
        suite.run(Result())
        times[m] = round(time.monotonic() - s, 2)
        os.chdir(os.environ.get("HOME", "/tmp"))
    print("\nPWLIBTESTS " + json.dumps({"tests": out, "times": times}))


# multiprocessing's spawn imports a job's main.py again as __mp_main__: the tests run once.
if __name__ == "__main__":
    main()
'''

# What the system calls of a job meet most (files, processes, descriptors, terminals, memory maps,
# limits, users), chosen to take about 20 s each side in the nspawn machines.
LIBTEST_MODULES = ["os", "posix", "shutil", "mmap", "fcntl", "select", "pty", "resource", "fileio", "glob",
                   "epoll", "thread", "sched", "getpass", "uuid", "platform"]

# Tests whose outcome in a job differs from bare, each for a restriction of pyward-helper(8)
# "RESTRICTIONS A JOB KEEPS": test id -> (the restriction, the outcomes allowed in the job, a
# pattern the job's traceback or skip reason must match, so that a new cause is not hidden).
LIBTEST_NAMED = {}
_PRIV = "~@privileged (chown, setuid twins)"
_RES = "~@resources (own priority, CPUs, scheduler, setrlimit)"
_EPERM = r"PermissionError: \[Errno 1\]"
for _restriction, _outcomes, _pattern, _tests in (
        (_PRIV, ("error",), _EPERM, ("test_os.ChownFileTests.test_chown_uid_gid_arguments_must_be_index",
                                    "test_posix.PosixTester.test_chown", "test_posix.PosixTester.test_fchown",
                                    "test_posix.PosixTester.test_lchown", "test_posix.TestPosixDirFd.test_chown_dir_fd",
                                    "test_shutil.TestMisc.test_chown", "test_posix.PosixTester.test_setresuid",
                                    "test_posix.TestPosixSpawn.test_resetids",
                                    "test_posix.TestPosixSpawnP.test_resetids")),
        # fchown(bad fd): the filter answers EPERM (1) before the kernel's EBADF (9).
        (_PRIV, ("fail",), r"AssertionError: 1 != 9", ("test_os.TestInvalidFD.test_fchown",)),
        (_PRIV, ("error",), r"setreuid\(-1,-1\)[\s\S]*returned non-zero",
         ("test_os.PosixUidGidTests.test_setreuid_neg1",)),
        (_RES, ("error",), _EPERM, ("test_posix.PosixTester.test_sched_setaffinity",
                                   "test_os.CPUCountTests.test_process_cpu_count_affinity",
                                   "test_posix.TestPosixSpawn.test_setscheduler_only_param",
                                   "test_posix.TestPosixSpawn.test_setscheduler_with_policy",
                                   "test_posix.TestPosixSpawnP.test_setscheduler_only_param",
                                   "test_posix.TestPosixSpawnP.test_setscheduler_with_policy")),
        # 3.11 calls setpriority() itself, 3.13 in a child whose stderr ends the failure.
        (_RES, ("error", "fail"), _EPERM + r"|os\.setpriority\(",
         ("test_os.ProgramPriorityTests.test_set_get_priority",)),
        ("memfd_create", ("error",), _EPERM, ("test_os.MemfdCreateTests.test_memfd_create",)),
        # setUp() opens an AF_INET socket.
        ("Network=none (RestrictAddressFamilies=AF_UNIX)", ("error",), r"\[Errno 97\] Address family not supported",
         tuple(f"test_epoll.TestEPoll.test_{t}" for t in ("add", "badcreate", "close", "context_manager",
                                                        "control_and_wait", "create", "errors", "fd_non_inheritable",
                                                        "fromfd", "unregister_closed"))),
        # asyncio.start_server() on 127.0.0.1 (see asyncio_tcp_server in the corpus: 3.11 an
        # IndexError at server.sockets[0], 3.13 "could not bind on any address").
        ("Network=none (RestrictAddressFamilies=AF_UNIX)", ("error",),
         r"sockets\[0\][\s\S]*IndexError|could not bind on any address",
         tuple(f"test_os.TestSendfile.test_{t}" for t in ("invalid_offset", "keywords", "offset_overflow",
                                                        "send_at_certain_offset", "send_whole_file"))),
        # chmod(S_ISGID) refused: the test skips itself.
        ("RestrictSUIDSGID=", ("skip",), r"Cannot set S_ISGID",
         ("test_os.MakedirTests.test_exist_ok_s_isgid_directory",)),
        # mmap() of a sparse file of 4 GiB: the address space of a job without a memory
        # controller is four times its memory (1 GiB here).
        ("the job's limits as rlimits (LimitAS=)", ("error",), r"mmap\.mmap\([\s\S]*\[Errno 12\]",
         ("test_mmap.LargeMmapTests.test_around_4GB",)),
        # setrlimit(RLIMIT_CPU, (10**6, 10**6)): beyond the job's hard LimitCPU= (cpu_time + 1 s).
        ("the job's limits as rlimits (LimitCPU=)", ("error",), r"ValueError: not allowed to raise maximum limit",
         ("test_resource.ResourceTest.test_setrusage_refcount",))):
    LIBTEST_NAMED.update({"test." + t: (_restriction, _outcomes, _pattern) for t in _tests})

# Tests whose outcome varies from run to run both ways, not through the sandbox: reported, not
# compared. test_selflink: glob("**/") over a symlink loop ("dir/link" -> ".") on a tmpfs now and
# then misses the deeper levels (measured in the machine, 200 runs each: 26 bare as a pool user on
# its tmpfs /tmp, 1 on /var/tmp, 18 in a job).
LIBTEST_FLAKY = {"test.test_glob.SymlinkLoopGlobTests.test_selflink": "glob over a symlink loop on a tmpfs"}


def tmpfs_dir():
    """A tmpfs directory for the bare runs: a job's working directory is a tmpfs too."""
    with open("/proc/self/mounts") as f:
        mounts = {l.split()[1]: l.split()[2] for l in f}
    return next((d for d in ("/tmp", "/dev/shm") if mounts.get(d) == "tmpfs"), "/var/tmp")


def libtest_results(stdout):
    lines = [l for l in stdout.decode(errors="replace").splitlines() if l.startswith("PWLIBTESTS ")]
    if not lines:
        raise AssertionError(f"the test suite printed no result: {stdout[-2000:]!r}")
    return json.loads(lines[-1][len("PWLIBTESTS "):])


def libtest_counts(tests):
    n = {k: 0 for k in ("pass", "fail", "error", "skip", "xfail", "xpass")}
    for outcome, _ in tests.values():
        n[outcome] += 1
    return (f"{len(tests)} tests: {n['pass']} passed, {n['fail']} failed, {n['error']} errors, {n['skip']} skipped, "
            f"{n['xfail']} expected failures, {n['xpass']} unexpected successes")


class StdlibSuiteTests(PywardTestCase):
    def run_bare_argv(self, user, code, args, timeout):
        """code with args as user, without pyward, as test_compat's run_bare() runs the probe:
        (returncode, stdout, stderr); no controlling terminal and an empty stdin pipe, as a job has."""
        d = tempfile.mkdtemp(prefix="pwlibtests.", dir=tmpfs_dir())
        self.addCleanup(shutil.rmtree, d, True)
        os.chown(d, user.pw_uid, user.pw_gid)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": d, "TMPDIR": d,
               "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2"}
        try:
            p = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                                "--", sys.executable, "-I", "-c", code, *args], cwd=d, env=env, input=b"",
                               capture_output=True, timeout=timeout, start_new_session=True)
        finally:
            sh("pkill", "-KILL", "-u", str(user.pw_uid), check=False)
        return p.returncode, p.stdout, p.stderr

    def test_stdlib_suite_bare_and_job(self):
        """The standard library's own tests (Debian's libpython3.X-testsuite), the modules of
        LIBTEST_MODULES, bare as a pool user (on a tmpfs, as a job's /tmp) and as a job at the same
        time in the same machine: every test's outcome is the same, or the test is in LIBTEST_NAMED
        and its failure in the job shows the named restriction of pyward-helper(8) (or it is in
        LIBTEST_FLAKY: reported only)."""
        try:
            __import__("test.test_os")
        except ImportError:
            self.fail("the machine image has no libpython3.X-testsuite (RELEASE_PACKAGES in scripts/lib/machine-common.sh)")
        user = bare_user()
        bare_out, t0 = {}, time.monotonic()

        def bare_run():
            try:
                bare_out["r"] = self.run_bare_argv(user, LIBTESTS, LIBTEST_MODULES, 240)
            except BaseException as e:  # reported by the main thread
                bare_out["e"] = e
            bare_out["t"] = time.monotonic() - t0

        th = threading.Thread(target=bare_run)
        th.start()
        try:
            res = self.run_job(LIBTESTS, args=LIBTEST_MODULES, timeout=240, cpu_time=60, tasks=256,
                               memory=1 << 30, disk=256 << 20, output_max=16 << 20)
            job_t = time.monotonic() - t0
        finally:
            th.join()
        if "e" in bare_out:
            raise bare_out["e"]
        rc, out, err = bare_out["r"]
        self.assertEqual(rc, 0, err.decode(errors="replace")[-3000:])
        # Everything that tells where a job that did not end "ok" ended: its signal, its times (a
        # SIGKILL near cpu_time's 61 s is RLIMIT_CPU's hard limit), the last tests it ran.
        self.assertEqual((res.status, res.exit_code), ("ok", 0),
                         (res.message, res.signal, f"wall_ms={res.wall_ms} cpu_ms={res.cpu_ms}",
                          res.stdout.decode(errors="replace")[-1500:], res.stderr.decode(errors="replace")[-3000:]))
        bare, job = libtest_results(out), libtest_results(res.stdout)
        title = f"Python {sys.version.split()[0]} test suite, {len(LIBTEST_MODULES)} modules"
        print(f"\n    [measured] {title}: bare {bare_out['t']:.1f} s, job {job_t:.1f} s (run at once)", file=sys.stderr)
        for side, r in (("bare", bare), ("job", job)):
            print(f"    [measured] {side}: {libtest_counts(r['tests'])}", file=sys.stderr)
        for m in LIBTEST_MODULES:
            print(f"    [measured]   {m}: bare {bare['times'].get(m)} s, job {job['times'].get(m)} s", file=sys.stderr)
        bt, jt = bare["tests"], job["tests"]
        self.assertEqual(sorted(set(bt) ^ set(jt)), [], "tests that ran on one side only")
        for m in LIBTEST_MODULES:
            self.assertTrue(any(t.startswith(f"test.test_{m}.") for t in bt), f"no test of test_{m} ran")
        unexplained, named_seen = {}, set()
        for tid in sorted(bt):
            (b, bd), (j, jd) = bt[tid], jt[tid]
            if b == j:
                continue
            entry = LIBTEST_NAMED.get(tid)
            ok = entry is not None and j in entry[1] and re.search(entry[2], jd) is not None
            mark = f"named: {entry[0]}" if ok else f"flaky both ways: {LIBTEST_FLAKY[tid]}" if tid in LIBTEST_FLAKY \
                else "UNEXPECTED"
            if ok:
                named_seen.add(tid)
            elif tid not in LIBTEST_FLAKY:
                unexplained[tid] = (b, bd[-300:], j, jd[-300:])
            why = jd.strip().splitlines()[-1][:110] if jd.strip() else ""
            print(f"    [measured]   {tid}: bare {b}, job {j} ({why}) <- {mark}", file=sys.stderr)
        unused = sorted(set(LIBTEST_NAMED) & set(bt) - named_seen)
        if unused:
            print(f"    [measured]   named but the same both ways here: {' '.join(unused)}", file=sys.stderr)
        self.assertEqual(unexplained, {}, "differences that no named restriction explains")


if __name__ == "__main__":
    unittest.main()
