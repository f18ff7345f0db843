# SPDX-License-Identifier: LGPL-2.1-or-later
# The compatibility corpus (issue #16): ordinary Python as its users write it, run bare as a user of
# the job pool and as a job in the same machine; the two differ only in the restrictions named here.
# The standard library's own test suite, run both ways too, is test_stdlib_suite.py's.
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from pwlib import PywardTestCase, bare_user, sh

# Each workload is a function of the probe; it returns a short detail (printed, not compared) or
# raises. The outcome compared is "ok" or the exception's type and errno name.
PROBE = r'''
import asyncio, ctypes, errno, json, locale, mmap, multiprocessing, os, resource, shutil, signal
import socket, sqlite3, subprocess, sys, tempfile, threading

libc = ctypes.CDLL(None, use_errno=True)
W = {}


def workload(f):
    W[f.__name__] = f
    return f


def raw(nr, *args):
    """A raw system call through libc.syscall(); raises OSError with its errno."""
    if libc.syscall(nr, *args) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return 0


@workload
def numpy_blas():
    import numpy
    a = numpy.random.default_rng(1).random((400, 400))
    s = float((a @ a.T).trace())
    return f"numpy {numpy.__version__}, trace {s:.0f}, affinity {sorted(os.sched_getaffinity(0))}"


def blas_state():
    """Which BLAS numpy loaded, its reserved private memory (what LimitDATA= counts) and the tasks."""
    libs = sorted({l.split()[-1].rsplit("/", 1)[-1] for l in open("/proc/self/maps") if "blas" in l})
    data = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmData:")]
    return f"{' '.join(libs)}, VmData {data[0]} kB, {len(os.listdir('/proc/self/task'))} tasks"


@workload
def numpy_linalg_inv():
    # LAPACK through numpy.linalg: OpenBLAS reserves a 128 MiB buffer per thread (issue #16).
    import numpy
    t = float(numpy.linalg.inv(numpy.eye(200)).trace())
    return f"trace {t:.0f}; {blas_state()}"


@workload
def matplotlib_savefig():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot(range(10), [x * x for x in range(10)])
    fig.savefig("plot.png")
    plt.close(fig)
    return f"{os.path.getsize('plot.png')} bytes of PNG; {blas_state()}"


@workload
def sqlite3_wal():
    db = sqlite3.connect("corpus.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO t (v) VALUES (?)", [(str(i),) for i in range(2000)])
    db.commit()
    n = db.execute("SELECT count(*) FROM t").fetchone()[0]
    db.close()
    return f"{n} rows"


def square(x):
    return x * x


@workload
def multiprocessing_pool():
    out = []
    # Functions of a "-c" __main__ reach only forked workers; spawned ones get a builtin.
    for method, f in (("fork", square), ("forkserver", abs), ("spawn", abs)):
        with multiprocessing.get_context(method).Pool(2) as p:
            out.append(sum(p.map(f, range(100))))
    q = multiprocessing.Queue()
    q.put("x")
    return f"{out} {q.get(timeout=10)}"


@workload
def multiprocessing_shared_memory():
    from multiprocessing import shared_memory
    m = shared_memory.SharedMemory(create=True, size=1 << 20)
    m.buf[0] = 7
    m.close()
    m.unlink()
    return "1 MiB in /dev/shm"


@workload
def asyncio_unix_socket():
    async def main():
        async def echo(r, w):
            w.write(await r.readline())
            await w.drain()
            w.close()
        server = await asyncio.start_unix_server(echo, path="corpus.sock")
        r, w = await asyncio.open_unix_connection("corpus.sock")
        w.write(b"hello\n")
        line = await r.readline()
        w.close()
        server.close()
        await server.wait_closed()
        return line.decode().strip()
    return asyncio.run(main())


@workload
def asyncio_tcp_server():
    async def main():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]  # IndexError when no address could be bound
        server.close()
        return f"port {port}"
    return asyncio.run(main())


@workload
def socket_inet():
    # What asyncio's start_server swallows: the call itself, which fails at once where it fails.
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    return "AF_INET socket"


@workload
def subprocess_fds_sessions():
    r, w = os.pipe()
    p = subprocess.run([sys.executable, "-I", "-c", f"import os; os.write({w}, b'fd')"], pass_fds=(w,),
                       start_new_session=True, check=True)
    os.close(w)
    got = os.read(r, 10)
    p = subprocess.run([sys.executable, "-I", "-c", "import os; print(os.getpgid(0) == os.getpid())"],
                       process_group=0, capture_output=True, check=True)
    return f"{got.decode()} {p.stdout.decode().strip()}"


@workload
def threading_many():
    barrier, out = threading.Barrier(16), []
    ts = [threading.Thread(target=lambda: out.append(barrier.wait(10))) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return f"{len(out)} threads"


@workload
def tempfile_shutil():
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "a/b"))
        with open(os.path.join(d, "a/b/f"), "w") as f:
            f.write("x" * 10000)
        shutil.copytree(os.path.join(d, "a"), os.path.join(d, "c"))
        shutil.make_archive(os.path.join(d, "arch"), "gztar", d, "c")
        shutil.move(os.path.join(d, "c"), os.path.join(d, "e"))
        shutil.copy2(os.path.join(d, "e/b/f"), os.path.join(d, "g"))
        return f"disk usage of tmp {shutil.disk_usage(d).total >> 20} MiB"


@workload
def locale_text_io():
    locale.setlocale(locale.LC_ALL, "")
    enc = locale.getpreferredencoding(False)
    with open("text.txt", "w", encoding="utf-8") as f:
        f.write("grüße 日本 ✓\n")
    with open("text.txt", encoding="utf-8") as f:
        t = f.read()
    return f"{enc} {sys.getfilesystemencoding()} {t.strip()} {locale.format_string('%.1f', 1.5)}"


@workload
def resource_lower():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 128), hard))
    resource.getrusage(resource.RUSAGE_SELF)
    return f"nofile {soft}/{hard}"


@workload
def setrlimit_syscall():
    class RL(ctypes.Structure):
        _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]
    rl = RL()
    raw(97, resource.RLIMIT_STACK, ctypes.byref(rl))  # getrlimit
    return raw(160, resource.RLIMIT_STACK, ctypes.byref(rl))  # setrlimit: the same values


@workload
def rlimit_fsize_unlimited():
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        raise ValueError(f"RLIMIT_FSIZE is {soft}")
    return "infinite"


@workload
def sparse_large_file():
    with open("sparse", "wb") as f:
        f.seek(3 << 30)
        f.write(b"x")
        f.truncate(4 << 30)
    st = os.stat("sparse")
    os.unlink("sparse")
    return f"{st.st_size >> 30} GiB in {st.st_blocks * 512 >> 10} KiB"


@workload
def sched_affinity_own():
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    os.sched_setaffinity(0, {min(cpus)})
    os.sched_setaffinity(0, cpus)
    return f"{sorted(cpus)}"


@workload
def sched_setscheduler_batch():
    p = os.sched_param(0)
    os.sched_setscheduler(0, os.SCHED_BATCH, p)
    os.sched_setparam(0, p)
    os.sched_setscheduler(0, os.SCHED_OTHER, p)
    return f"{os.sched_getscheduler(0)} rr {os.sched_rr_get_interval(0)}"


@workload
def sched_realtime():
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))


@workload
def nice_lower():
    pid = os.fork()
    if pid == 0:
        try:
            os.nice(1)
            os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + 1)
            os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    st = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if st:
        raise OSError(st, os.strerror(st))
    return "nice +2"


@workload
def nice_raise():
    os.setpriority(os.PRIO_PROCESS, 0, -1)


@workload
def chown_own():
    with open("owned", "w"):
        pass
    os.chown("owned", os.getuid(), os.getgid())
    os.chown("owned", -1, -1)
    shutil.chown("owned", user=os.getuid(), group=os.getgid())
    fd = os.open("owned", os.O_RDONLY)
    os.fchown(fd, os.getuid(), -1)
    os.close(fd)
    os.lchown("owned", os.getuid(), os.getgid())
    return "own ids"


@workload
def chown_give_away():
    with open("given", "w"):
        pass
    os.chown("given", 0, 0)


@workload
def fchown_bad_fd():
    os.fchown(999, os.getuid(), os.getgid())


@workload
def setresuid_own():
    os.setresuid(*os.getresuid())
    os.setreuid(-1, -1)
    os.setuid(os.getuid())
    os.setresgid(*os.getresgid())
    os.setregid(-1, -1)
    return f"{os.getresuid()}"


@workload
def setuid_root():
    os.setuid(0)


@workload
def posix_spawn_resetids():
    pid = os.posix_spawn("/bin/true", ["true"], dict(os.environ), resetids=True)
    return f"status {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}"


@workload
def proc_self():
    with open("/proc/self/status") as f:
        n = len(f.read())
    return f"{n} bytes of status, {len(os.listdir('/proc/self/fd'))} fds"


def read_proc(path):
    with open(path) as f:
        return f"{len(f.read())} bytes"


for _p in ("/proc/meminfo", "/proc/cpuinfo", "/proc/mounts", "/proc/stat", "/proc/sys/kernel/pid_max",
           "/proc/sys/vm/overcommit_memory"):
    W["read " + _p] = (lambda p: lambda: read_proc(p))(_p)


@workload
def system_info_sysconf():
    # What needs no /proc: the CPU count, physical pages and the load through sysinfo(2).
    return (f"cpus {os.cpu_count()}, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') >> 20} MiB, "
            f"load {os.getloadavg()[0]:.1f}")


@workload
def psutil_style():
    # How psutil reads the system: virtual_memory(), cpu_times(), boot_time() from /proc.
    mem = dict(l.split(":", 1) for l in open("/proc/meminfo").read().splitlines())
    cpu = open("/proc/stat").readline().split()[1:]
    return f"MemAvailable {mem['MemAvailable'].strip()}, {len(cpu)} cpu fields"


@workload
def memfd():
    os.close(os.memfd_create("corpus"))


@workload
def sysv_shm():
    libc.shmget.restype = ctypes.c_int
    i = libc.shmget(0, 1 << 16, 0o1600)
    if i < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    libc.shmctl(i, 0, None)  # IPC_RMID


@workload
def mmap_signals_select():
    with open("m", "wb") as f:
        f.write(b"\0" * 65536)
    with open("m", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        m[0] = 1
    fired = []
    signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.01)
    import selectors
    sel = selectors.DefaultSelector()
    a, b = socket.socketpair()
    socket.send_fds(a, [b"x"], [a.fileno()])
    sel.register(b, selectors.EVENT_READ)
    sel.select(5)
    _, fds, _, _ = socket.recv_fds(b, 1, 1)
    while not fired:
        __import__("time").sleep(0.001)
    return f"{type(sel).__name__}, fds passed {len(fds)}"


@workload
def ctypes_callback():
    cmp = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
    arr = (ctypes.c_int * 5)(5, 1, 4, 2, 3)
    libc.qsort(arr, 5, ctypes.sizeof(ctypes.c_int), cmp(lambda a, b: a[0] - b[0]))
    return f"{list(arr)}"


def too_long(*a):
    raise TimeoutError("the workload took longer than 60 s")


def main():
    # Arguments: the workloads to run (default: all of them).
    res, only = {}, sys.argv[1:]
    for name, f in W.items():
        if only and name not in only:
            continue
        signal.signal(signal.SIGALRM, too_long)
        signal.alarm(60)
        try:
            res[name] = ["ok", str(f())[:120]]
        except OSError as e:
            res[name] = [f"{type(e).__name__}:{errno.errorcode.get(e.errno, e.errno)}", str(e)[:120]]
        except Exception as e:
            res[name] = [type(e).__name__, str(e)[:120]]
        signal.alarm(0)
    print(json.dumps(res))


# spawn and forkserver import the job's main.py again as __mp_main__: the corpus runs once.
if __name__ == "__main__":
    main()
'''

# The differences a job is allowed, each a restriction pyward-helper(8) lists ("RESTRICTIONS A JOB
# KEEPS") with the threat it stops: workload -> its outcome in a job (bare, each is "ok").
NAMED_RESTRICTIONS = {
    # Network=none: RestrictAddressFamilies=AF_UNIX answers socket(AF_INET) with EAFNOSUPPORT at the
    # call; asyncio's create_server() skips every address whose socket() fails: Python 3.13 then
    # says "could not bind on any address", 3.11 starts a server without sockets, and the
    # IndexError comes from server.sockets[0] (CPython's behaviour, not the sandbox's).
    "socket_inet": "OSError:EAFNOSUPPORT",
    "asyncio_tcp_server": ("OSError:None", "IndexError"),
    # Memory outside the address space, which no rlimit counts (SystemCallAllow= lifts it).
    "memfd": "PermissionError:EPERM",
    "sysv_shm": "PermissionError:EPERM",
    # The system call filter's whole groups (@chown and the setuid twins of @privileged; the
    # own-scheduling calls of @resources): the kernel would refuse each beyond the job's own ids
    # and priority, but systemd-analyze security counts a group with one call allowed as open.
    # EPERM at the call; SystemCallAllow= with the line in pyward-helper(8) lifts them.
    "chown_own": "PermissionError:EPERM",
    "fchown_bad_fd": "PermissionError:EPERM",
    "setresuid_own": "PermissionError:EPERM",
    "posix_spawn_resetids": "PermissionError:EPERM",
    "sched_affinity_own": "PermissionError:EPERM",
    "sched_setscheduler_batch": "PermissionError:EPERM",
    "nice_lower": "PermissionError:EPERM",
    "nice_raise": "PermissionError:EPERM",
    "setrlimit_syscall": "PermissionError:EPERM",
    # ProcSubset=pid: host-wide /proc files, the host's memory, CPUs, interrupts and mounts.
    "read /proc/meminfo": "FileNotFoundError:ENOENT",
    "read /proc/cpuinfo": "FileNotFoundError:ENOENT",
    "read /proc/mounts": "FileNotFoundError:ENOENT",
    "read /proc/stat": "FileNotFoundError:ENOENT",
    "read /proc/sys/kernel/pid_max": "FileNotFoundError:ENOENT",
    "read /proc/sys/vm/overcommit_memory": "FileNotFoundError:ENOENT",
    "psutil_style": "FileNotFoundError:ENOENT",
}


# What a profile with the reviewed lines of pyward-helper(8) gives back: these work as they do bare.
LIFTING_PROFILE = ("[Profile \"pwtest-compat\"]\n"
                   "SystemCallAllow=chown fchown fchownat lchown setuid setreuid setresuid nice setpriority"
                   " sched_setaffinity sched_setscheduler sched_setparam setrlimit memfd_create shmget msgget\n"
                   "Network=loopback\n")
LIFTED = {"chown_own", "fchown_bad_fd", "setresuid_own", "posix_spawn_resetids", "sched_affinity_own",
          "sched_setscheduler_batch", "nice_lower", "nice_raise", "setrlimit_syscall", "memfd", "sysv_shm",
          "socket_inet", "asyncio_tcp_server"}
DROPIN = "/etc/pyward/pyward.conf.d/50-pwtest-compat.conf"


def named(workload, outcome):
    want = NAMED_RESTRICTIONS.get(workload, ())
    return outcome in (want if isinstance(want, tuple) else (want,))


class CompatTests(PywardTestCase):
    def run_bare(self, user, args=()):
        """The probe as user, without pyward: the job's environment, a private writable directory,
        no limits."""
        d = tempfile.mkdtemp(prefix="pwcompat.", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, d, True)
        os.chown(d, user.pw_uid, user.pw_gid)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": d, "TMPDIR": d,
               "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2",
               "OPENBLAS_NUM_THREADS": "1"}
        p = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                            "--", sys.executable, "-I", "-c", PROBE, *args], cwd=d, env=env, capture_output=True,
                           timeout=300)
        sh("pkill", "-KILL", "-u", str(user.pw_uid), check=False)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return self.results(p.stdout)

    def run_in_job(self, profile=None, args=(), limits=None):
        """The probe as a job; limits: pyward.run()'s keywords ({}: the profile's defaults)."""
        limits = dict(timeout=240, memory=1 << 30, disk=64 << 20) if limits is None else limits
        res = self.run_job(PROBE, args=args, profile=profile, **limits)
        self.assertEqual((res.status, res.exit_code), ("ok", 0), (res.message, res.stderr.decode(errors="replace")))
        return self.results(res.stdout)

    def results(self, stdout):
        lines = stdout.decode(errors="replace").splitlines()
        self.assertTrue(lines, "the probe printed nothing")
        self.assertEqual(lines[:-1], [], "the probe printed more than its result")
        return json.loads(lines[-1])

    def report(self, bare, job, title, also=None):
        print(f"\n    [measured] {title}\n    [measured] {'workload':34} {'bare':28} job", file=sys.stderr)
        for name in bare:
            mark = "" if bare[name][0] == job[name][0] else "   <- " + (
                "named restriction" if named(name, job[name][0]) else
                "expected here" if (also or {}).get(name) == job[name][0] else "UNEXPECTED")
            print(f"    [measured] {name:34} {bare[name][0]:28} {job[name][0]}{mark}", file=sys.stderr)

    def test_corpus_bare_and_job(self):
        """Every workload works bare as a pool user; in a job, each works too or fails as its named
        restriction says, at the call (EPERM, ENOENT, EAFNOSUPPORT), and nothing else differs."""
        bare = self.run_bare(bare_user())
        job = self.run_in_job()
        self.assertEqual(sorted(bare), sorted(job))
        # What ProcSubset=all would add to a job's view: every entry of /proc but the processes.
        host_wide = sorted(e for e in os.listdir("/proc") if not e.isdigit() and e not in ("self", "thread-self"))
        print(f"\n    [measured] ProcSubset=pid hides {len(host_wide)} host-wide entries of /proc: "
              f"{' '.join(host_wide)}", file=sys.stderr)
        self.report(bare, job, "default profile")
        for name in bare:
            print(f"    [measured]   {name}: bare {bare[name][1]!r}; job {job[name][1]!r}", file=sys.stderr)
        # What must fail bare too, because the kernel refuses it to any non-root user.
        for name, want in (("chown_give_away", "PermissionError:EPERM"), ("setuid_root", "PermissionError:EPERM"),
                           ("sched_realtime", "PermissionError:EPERM"), ("nice_raise", "PermissionError:EACCES"),
                           ("fchown_bad_fd", "OSError:EBADF")):
            self.assertEqual(bare[name][0], want, (name, bare[name]))
        unexpected = {n: (bare[n], job[n]) for n in bare if bare[n][0] != job[n][0] and not named(n, job[n][0])}
        self.assertEqual(unexpected, {}, "differences that no named restriction explains")
        for name in NAMED_RESTRICTIONS:
            self.assertIn(bare[name][0], ("ok", "PermissionError:EACCES", "OSError:EBADF"), (name, bare[name]))

    def test_numpy_at_default_limits(self):
        """numpy.linalg and matplotlib's savefig in a job with the default limits (256M, 100% of a
        CPU, 10 s of CPU) work as bare (issue #16). Without the job's OPENBLAS_NUM_THREADS=1,
        bookworm's OpenBLAS started a thread per CPU of the machine and reserved 128 MiB for each,
        which LimitDATA= (the memory limit here) counts: the second mmap() failed, OpenBLAS's
        allocator retried it forever and the job ended at its CPU-time limit."""
        names = ["numpy_linalg_inv", "matplotlib_savefig"]
        bare = self.run_bare(bare_user(), names)
        job = self.run_in_job(args=names, limits={})
        self.assertEqual(sorted(bare), sorted(names))
        self.report(bare, job, "numpy and matplotlib at the default limits")
        for name in names:
            print(f"    [measured]   {name}: bare {bare[name][1]!r}; job {job[name][1]!r}", file=sys.stderr)
        self.assertEqual({n: job[n][0] for n in names}, {n: bare[n][0] for n in names}, (bare, job))
        self.assertEqual(bare["numpy_linalg_inv"][0], "ok", bare)

    def test_profile_lifts_the_restrictions(self):
        """The profile keys pyward-helper(8) names lift each restriction they name: with them, the
        system calls and the loopback work in a job as they do bare; ProcSubset=pid stays."""
        self.assertFalse(os.path.lexists(DROPIN), DROPIN)
        os.makedirs(os.path.dirname(DROPIN), exist_ok=True)
        self.addCleanup(os.unlink, DROPIN)
        with open(DROPIN, "w") as f:
            f.write(LIFTING_PROFILE)
        bare = self.run_bare(bare_user())
        job = self.run_in_job(profile="pwtest-compat")
        # memfd allowed: LimitFSIZE= is back, the one bound of what write() puts into a memfd.
        fsize = {"sparse_large_file": "OSError:EFBIG", "rlimit_fsize_unlimited": "ValueError"}
        self.report(bare, job, "with the lifting profile (pwtest-compat)", fsize)
        differ = {n: (bare[n], job[n]) for n in bare if bare[n][0] != job[n][0]}
        self.assertEqual({n for n in differ if n in LIFTED}, set(), differ)
        self.assertEqual({n for n in differ if not named(n, job[n][0]) and fsize.get(n) != job[n][0]}, set(),
                         differ)
        self.assertEqual(job["read /proc/meminfo"][0], "FileNotFoundError:ENOENT")
        self.assertEqual(job["sparse_large_file"][0], "OSError:EFBIG")


if __name__ == "__main__":
    unittest.main()
