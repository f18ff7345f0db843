# SPDX-License-Identifier: LGPL-2.1-or-later
# The job's first Python code, passed with -c (embedded by embed-runner.py): the runner. fd 0 is the
# runner channel (helper/channel.h; pyward-helper(8) "THE RUNNER CHANNEL"), fd 1 and 2 the job's
# stdout and stderr. It reads CODE, FILENAME, ARG..., BOUNDS, FILE + FILE_DATA..., GO (whose
# SCM_RIGHTS carry the job's stdin), writes the input files and the code in the working directory,
# forks: the child runs the code as __main__ exactly as "python3 FILE ARGS" would (the code after
# _runner() below); the parent waits for it (and for CH_STOP), returns the files the code left
# when GO asked for them (CH_FILE_OUT, CH_SKIPPED, CH_DONE), and exits with the child's status.
# Discovery (GO's DISCOVER): one CH_INFO about the interpreter, exit 0. A session (GO's SESSION):
# _session() of runner-session.py; the files returned: _collect() of runner-files.py (embed-runner.py
# puts both before this file, as the string _later() compiles when a job needs them). A warm runner
# (_warm(): fd 0 a listening socket) preloads $PYWARD_PRELOAD's modules, accepts its channel, and
# first reads CH_STDIO (stdout), CH_STDIO (stderr) and CH_LIMITS; then the same request.
# Imports are kept few (a warm runner is started ahead of its job): what only collection or
# discovery needs is imported there. Nothing here may write to fd 1 or 2 but a runner error.
import os, sys
def _later():
    # runner-session.py and runner-files.py (embed-runner.py: _LATER), compiled into this module
    # only for a job that needs them (a session, returned files) or by a warm runner while it
    # waits: a one-shot job does not pay for compiling them.
    g = globals()
    if "_session" not in g:
        exec(compile(g.pop("_LATER"), "<string>", "exec", dont_inherit=True), g)
def _resource():
    # The resource module for the code's rlimits (limit_cpu()), imported once and dropped from
    # sys.modules again unless it was there (preloaded): the code finds the modules a cold job's
    # code finds. A warm runner imports it while it waits: in the forked code's process, in the
    # sandbox, the import took 0.8 ms of the job's time (trixie).
    g = globals()
    if "_RESOURCE" not in g:
        had = "resource" in sys.modules
        import resource
        if not had:
            del sys.modules["resource"]
        g["_RESOURCE"] = resource
    return g["_RESOURCE"]
def _runner():
    import _signal, _socket, gc, select
    CODE, FILENAME, ARG, BOUNDS, FILE, FILE_DATA, GO, STOP = range(1, 9)
    STDIO, LIMITS = 0x0C, 0x0D
    FILE_OUT, FILE_OUT_DATA, SKIPPED, DONE, INFO = range(0x81, 0x86)
    GO_COLLECT, GO_DISCOVER, GO_SESSION = 1, 2, 4
    CHUNK = 65536

    def fail(what):
        os.write(2, ("pyward runner: %s\n" % what).encode("utf-8", "backslashreplace"))
        os._exit(1)

    def shown(path):
        return repr(os.fsdecode(path))

    class Channel:
        # The helper's messages, parsed from one recvmsg() at a time; every fd that arrives is
        # kept with the stream offset of its recvmsg's first byte, so GO's can be told from others.
        def __init__(self):
            try:
                os.set_blocking(0, True)
                self.s = _socket.socket(fileno=0)
            except OSError as e:
                fail("fd 0 is not the runner channel: %s" % e.strerror)
            self.buf = bytearray()
            self.rbuf = None
            self.off = 0
            self.fds = []
            self.eof = False

        def recv(self):
            # Into one buffer kept for all reads: a fresh one each time would be mapped and
            # unmapped again by malloc at every message of a session.
            if self.rbuf is None:
                self.rbuf = bytearray(262144)
            try:
                n, anc, _, _ = self.s.recvmsg_into([self.rbuf], _socket.CMSG_SPACE(4 * 16), _socket.MSG_CMSG_CLOEXEC)
                data = memoryview(self.rbuf)[:n]
            except OSError:
                data, anc = b"", []  # ECONNRESET: the helper is gone, as at EOF
            fds = []
            for level, kind, d in anc:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    fds += [int.from_bytes(d[i:i + 4], sys.byteorder, signed=True) for i in range(0, len(d) - 3, 4)]
            if fds:
                start = self.off + len(self.buf)
                self.fds.append((start, start + max(len(data), 1), fds))
            if not data:
                self.eof = True
            self.buf += data

        def parse(self):
            if len(self.buf) < 8:
                return None
            n = int.from_bytes(self.buf[4:8], "little")
            if self.buf[2] or self.buf[3]:
                fail("a channel message with flags set")
            if n > 2 * 1024 * 1024:
                fail("a channel message of %d bytes" % n)
            if len(self.buf) < 8 + n:
                return None
            m = (self.buf[0] | self.buf[1] << 8, bytes(self.buf[8:8 + n]), self.off)
            del self.buf[:8 + n]
            self.off += 8 + n
            return m

        def message(self):
            while True:
                m = self.parse()
                if m or self.eof:
                    return m
                self.recv()

        def take_fd(self, at):
            # The fd that came with the byte at offset at; every other one received is closed.
            found = None
            for start, end, fds in self.fds:
                for fd in fds:
                    if found is None and start <= at < end:
                        found = fd
                    else:
                        os.close(fd)
            self.fds = []
            return found

        def send(self, kind, payload=b""):
            self.s.sendall(kind.to_bytes(2, "little") + b"\0\0" + len(payload).to_bytes(4, "little") + payload)

    def kill_all():
        try:
            os.kill(-1, 9)  # every process of the job's user but this one
        except OSError:
            pass

    def expect(ch, kinds, what):
        m = ch.message()
        if m is None:
            fail("the channel ended before %s" % what)
        if m[0] not in kinds:
            fail("channel message %#x where %s was expected" % (m[0], what))
        return m

    def split(path):
        parts = path.split(b"/")
        if not path or path.startswith(b"/") or b"\0" in path or any(p in (b"", b".", b"..") for p in parts):
            fail("an invalid input path %s" % shown(path))
        return parts

    def write_all(fd, data):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def input_file(ch, cwd, payload, inputs):
        flags = int.from_bytes(payload[0:4], "little")
        size = int.from_bytes(payload[4:12], "little")
        path = payload[12:]
        parts = split(path)
        mode = 0o700 if flags & 1 else 0o600
        import hashlib
        digest = hashlib.sha256()
        d = cwd
        try:
            for name in parts[:-1]:
                try:
                    os.mkdir(name, 0o700, dir_fd=d)
                except FileExistsError:
                    pass
                nd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
                if d != cwd:
                    os.close(d)
                d = nd
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode, dir_fd=d)
            try:
                os.fchmod(fd, mode)
                left = size
                while left > 0:
                    m = expect(ch, (FILE_DATA,), "the data of input file %s" % shown(path))
                    if not m[1] or len(m[1]) > left:
                        fail("input file %s: more data than its size" % shown(path))
                    write_all(fd, m[1])
                    digest.update(m[1])
                    left -= len(m[1])
            finally:
                os.close(fd)
        except OSError as e:
            fail("cannot write input file %s: %s" % (shown(path), e.strerror))
        finally:
            if d != cwd:
                os.close(d)
        inputs[path] = (mode, size, digest.digest())

    warm = _warm(fail)
    ch = Channel()
    cpu = wall = nproc = 0  # CH_LIMITS: the code's RLIMIT_CPU and RLIMIT_NPROC, the runner's wall backstop
    if warm:
        for n in (1, 2):
            m = expect(ch, (STDIO,), "STDIO")
            fd = ch.take_fd(m[2])
            if fd is None or m[1] != n.to_bytes(4, "little"):
                fail("a STDIO that is not fd %d's or came without it" % n)
            if fd != n:
                os.dup2(fd, n)
                os.close(fd)
        m = expect(ch, (LIMITS,), "LIMITS")
        if len(m[1]) != 24:
            fail("LIMITS of %d bytes" % len(m[1]))
        cpu, wall, nproc = (int.from_bytes(m[1][i:i + 8], "little") for i in (0, 8, 16))

    def limit_cpu():
        # In the code's process, before it runs: the request's RLIMIT_CPU (as the unit's
        # LimitCPUSoft=/LimitCPU=: SIGXCPU at the limit, cpu-limit; SIGKILL a second later) and
        # RLIMIT_NPROC (its tasks), never above the unit's own hard limits.
        if not (cpu or nproc):
            return
        resource = _resource()
        for which, soft, extra in ((resource.RLIMIT_CPU, cpu, 1), (resource.RLIMIT_NPROC, nproc, 0)):
            if not soft:
                continue
            hard = resource.getrlimit(which)[1]
            n = min(soft, 2 ** 62) if hard == resource.RLIM_INFINITY else min(soft, hard)
            h = n + extra if hard == resource.RLIM_INFINITY else min(n + extra, hard)
            try:
                resource.setrlimit(which, (n, h))
            except (OSError, ValueError) as e:
                fail("cannot lower the code's rlimit %d to %d: %s" % (which, n, e))
    code = expect(ch, (CODE,), "CODE")[1]
    filename = expect(ch, (FILENAME,), "FILENAME")[1]
    if not filename or b"/" in filename or b"\0" in filename or filename in (b".", b".."):
        fail("an invalid FILENAME %s" % shown(filename))
    args = []
    m = expect(ch, (ARG, BOUNDS), "BOUNDS")
    while m[0] == ARG:
        args.append(os.fsdecode(m[1]))
        m = expect(ch, (ARG, BOUNDS), "BOUNDS")
    if len(m[1]) != 40:
        fail("BOUNDS of %d bytes" % len(m[1]))
    bounds = [int.from_bytes(m[1][i:i + 8], "little") for i in range(0, 40, 8)]
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    inputs = {}  # path: (mode, size, sha256), to tell the files the code left unchanged
    m = expect(ch, (FILE, GO), "GO")
    while m[0] == FILE:
        if len(m[1]) < 13:
            fail("a FILE message of %d bytes" % len(m[1]))
        input_file(ch, cwd, m[1], inputs)
        m = expect(ch, (FILE, GO), "GO")
    if len(m[1]) != 8 or int.from_bytes(m[1][0:4], "little") != 1:
        fail("a GO of an unknown channel version")
    go = int.from_bytes(m[1][4:8], "little")
    deadline = None
    if wall and go & GO_SESSION:
        import time
        deadline = time.monotonic() + wall / 1e6
    if go & GO_DISCOVER:
        ch.take_fd(-1)
        from importlib import metadata
        ch.send(INFO, _info(metadata))
        os._exit(0)
    if go & GO_SESSION:
        stdin = ch.take_fd(m[2])
        if stdin is None:
            fail("GO came without the job's stdin")
        # never returns: it exits, or SystemExit
        _later()
        return _session(ch, cwd, bounds, stdin, inputs, fail, kill_all, limit_cpu, deadline)
    collect = bool(go & GO_COLLECT)
    path = os.path.join(os.getcwd(), os.fsdecode(filename))
    try:
        fd = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666,
                     dir_fd=cwd)
        try:
            write_all(fd, code)
        finally:
            os.close(fd)
    except OSError as e:
        fail("cannot write %s: %s" % (shown(filename), e.strerror))
    del code
    stdin = ch.take_fd(m[2])
    if stdin is None:
        fail("GO came without the job's stdin")

    # What exists now is the runner's (and a warm runner's preloaded modules): frozen out of the
    # collector, the code's collections and its interpreter's final one do not walk it again
    # (the fork and a trivial exit 5.4 -> 3.7 ms on the dev host; the CPython docs' advice before a fork).
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        ch.s.detach()
        os.dup2(stdin, 0)
        os.close(stdin)
        os.close(cwd)
        limit_cpu()
        if collect:
            sys.dont_write_bytecode = True
            os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        sys.argv = [os.fsdecode(filename)] + args
        if inputs:
            # A project of several files: its modules import one another, as under
            # "python3 main.py" (-I, which implies -P, would leave the directory out).
            sys.path.insert(0, os.path.dirname(path))
        return path
    os.close(stdin)
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)  # no KeyboardInterrupt traceback of the runner's
    if wall:
        # Imported after the fork, in the runner only: the code's interpreter has the modules a
        # cold job's has (and the preloaded ones).
        import time
        deadline = time.monotonic() + wall / 1e6

    # The parent: wait for the child, or for CH_STOP (a limit ended the job: end everything of
    # the job now, the pool user being the job's alone, and return what exists), or for LIMITS'
    # wall-clock time to pass, which is as a CH_STOP.
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None  # a kernel before 5.3: poll
    stopped = False
    status = None
    while status is None:
        watch = ([] if ch.eof else [0]) + ([] if pidfd is None else [pidfd])
        timeout = None if pidfd is not None else 0.05
        if deadline is not None:
            timeout = min(max(deadline - time.monotonic(), 0), 3600 if timeout is None else timeout)
        ready = select.select(watch, [], [], timeout)[0]
        if 0 in ready:
            ch.recv()
            ch.take_fd(-1)
            m = ch.parse()
            while m is not None:
                stopped = stopped or m[0] == STOP
                m = ch.parse()
            # A warm runner's unit is bound to no helper (BindsTo= needs one at the start): its
            # helper gone, the job goes with it, as a cold job goes with its helper's unit.
            stopped = stopped or (warm and ch.eof)
            if stopped:
                kill_all()
        if not stopped and deadline is not None and time.monotonic() >= deadline:
            stopped = True
            kill_all()
        if stopped or pidfd in ready:
            status = os.waitpid(pid, 0)[1]
        elif pidfd is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                status = st
    if collect:
        if not stopped:
            kill_all()  # what the code left running must not change the files being read
        try:
            _later()
            unlisted = _collect(ch, cwd, bounds, filename, inputs)
            ch.send(DONE, unlisted.to_bytes(8, "little"))
        except OSError:
            pass  # the helper is gone: nobody to tell
    _exit_as(status)
def _warm(fail):
    # True if fd 0 is a warm runner's listening socket; it has then been replaced by the one
    # connection accepted on it, after $PYWARD_PRELOAD's modules were imported. Either way the
    # variable leaves the environment here, before any fork: no job sees it.
    import _socket
    preload = os.environ.pop("PYWARD_PRELOAD", "")
    try:
        s = _socket.socket(fileno=0)
    except OSError:
        return False  # not a socket: Channel() says so, as on the cold path
    try:
        listening = s.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN)
    except OSError:
        listening = 0
    if not listening:
        s.detach()
        return False
    # The code's process imports nothing more before the code runs on either path (the end of
    # this file runs it without runpy): only the profile's modules are imported now, and what a
    # session or returned files need compiled.
    _later()
    for name in preload.split(","):
        if name:
            # One that fails is left out, whatever it raises, SystemExit included; not a
            # KeyboardInterrupt: that is a SIGINT to the runner, not the module's failure.
            try:
                __import__(name)
            except (Exception, SystemExit):
                pass
    _resource()
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()  # what the imports printed goes where the runner's output goes, not to the job
        except Exception:
            pass
    try:
        os.set_blocking(0, True)
        fd = s._accept()[0]
        c = _socket.socket(fileno=fd)
        uid = int.from_bytes(c.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)[4:8], sys.byteorder)
        c.detach()
    except OSError as e:
        fail("cannot accept the runner channel: %s" % e.strerror)
    if uid != 0:
        fail("the runner channel's peer is uid %d, not root" % uid)
    s.close()
    os.dup2(fd, 0)
    os.close(fd)
    return True
def _exit_as(status):
    # The child's status as the unit's: its exit code, or its signal, raised again on the runner.
    if os.WIFSIGNALED(status):
        import _signal
        sig = os.WTERMSIG(status)
        try:
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
def _info(metadata):
    # python=, sitedir= (each directory of sys.path), package=NAME VERSION (importlib.metadata's
    # distributions, the first of each normalized name as import would find it, sorted), escaped
    # as the RESULT record's values; packages that do not fit CH_INFO_MAX are counted instead.
    def esc(s):
        return os.fsencode(s).replace(b"\\", b"\\\\").replace(b"\n", b"\\n")
    lines = [b"python=" + esc(sys.version.split()[0])]
    seen = set()
    for d in sys.path:
        if d and d not in seen and os.path.isdir(d):
            seen.add(d)
            lines.append(b"sitedir=" + esc(d))
    packages = {}
    for dist in metadata.distributions():
        try:
            name, version = dist.metadata["Name"], dist.version
        except Exception:
            continue
        if name and version:
            packages.setdefault(name.lower().replace("_", "-").replace(".", "-"), "%s %s" % (name, version))
    out = b"".join(l + b"\n" for l in lines)
    omitted = 0
    for key in sorted(packages):
        line = b"package=" + esc(packages[key]) + b"\n"
        if len(out) + len(line) + 32 > 256 * 1024:
            omitted += 1
        else:
            out += line
    if omitted:
        out += b"packages_omitted=%d\n" % omitted
    return out
def _end(status, pre):
    # The end of "python3 FILE" as the job sees it, without the rest of the interpreter's
    # finalization: Py_FinalizeEx's order (non-daemon threads joined, the atexit functions,
    # sys.stdout and sys.stderr flushed: 120 if stdout cannot be), then the globals of __main__ and
    # of every module the job imported cleared as the interpreter clears a module's (names with a
    # single leading underscore first, each set to None, in reverse import order) and a
    # collection: what they held is finalized (unclosed files flushed and closed, __del__ run).
    # What is left is the runner's own objects, shared with it since the fork: tearing those down
    # is what a forked child's exit costs (a page copy for each one written), and nobody sees it.
    # Not taken while another thread runs (a daemon thread would run on among cleared modules):
    # then the interpreter ends as usual, after "raise SystemExit(status)".
    import _thread
    if _thread._count():
        raise SystemExit(status)
    hook, mine = sys.unraisablehook, _end.__code__.co_filename

    def unraisable(u):
        # What is finalized here is finalized in this function's frame, which the interpreter
        # adds to an error's traceback; at its own end there is no frame to add.
        tb = u.exc_traceback
        while tb is not None and tb.tb_frame.f_code.co_filename == mine:
            tb = tb.tb_next
        hook(type(u)((u.exc_type, u.exc_value, tb, u.err_msg, u.object)))
    sys.unraisablehook = unraisable
    t = sys.modules.get("threading")
    if t is not None:
        try:
            t._shutdown()
        except BaseException:
            _ignored(t, "on threading shutdown:")
    import atexit
    atexit._run_exitfuncs()
    if not _flush_std():
        status = 120
    mods = [m for n, m in list(sys.modules.items()) if n not in pre or n == "__main__"]
    for m in reversed(mods):
        d = getattr(m, "__dict__", None)
        if type(d) is dict and m is not sys and m is not builtins:
            for under in (True, False):
                for k in [k for k in d if type(k) is str and k != "__builtins__"
                          and (k[:1] == "_" and k[:2] != "__") == under]:
                    d[k] = None
    for name in ("stdin", "stdout", "stderr"):  # as the interpreter's end puts them back
        setattr(sys, name, getattr(sys, "__%s__" % name, None))
    gc.collect()
    _flush_std()
    os._exit(status)
def _flush_std():
    # As the interpreter's flush_std_files(): False if sys.stdout or sys.stderr cannot be
    # flushed; one that is None or closed is left alone.
    ok = True
    for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            closed = f.closed
        except BaseException:
            closed = False
        if f is None or closed:
            continue
        try:
            f.flush()
        except BaseException:
            if f is sys.stdout:
                _ignored(f, "on flushing sys.stdout:")
            if f is sys.stdout or f is sys.stderr:
                ok = False
    return ok
def _ignored(obj, words):
    # The error being handled, as the interpreter reports one it ignores at its end: since 3.13
    # in its own words for the step, before that "in: " the object's repr.
    try:
        import traceback
        e = sys.exc_info()[1]
        what = words if sys.version_info >= (3, 13) else "in: %r" % (obj,)
        sys.stderr.write("Exception ignored %s\n%s" % (what, "".join(traceback.format_exception_only(type(e), e))))
    except BaseException:
        pass
def _exit_code(e):
    # SystemExit's code as the interpreter's exit status: None 0, an int itself (the kernel keeps
    # its low byte; one beyond a C long 255), anything else printed to stderr and 1.
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if -2 ** 63 <= code < 2 ** 63 else 255  # a C long's overflow is -1
    try:
        sys.stderr.write(str(code) + "\n")
    except BaseException:
        pass
    return 1
_p = _runner()
import builtins, gc
_pre = set(sys.modules)
for _n in ("_runner", "_warm", "_resource", "_RESOURCE", "_exit_as", "_later", "_LATER", "_collect", "_info",
           "_session", "_Link", "_InputFiles", "_kernel", "_lines", "_error", "_result_text", "_n"):
    globals().pop(_n, None)
# The job's file as __main__, as runpy.run_path(_p, run_name="__main__") runs it (a fresh module
# with its attributes, sys.argv[0] the file's full path), without importing runpy and
# pkgutil (and typing, contextlib, importlib.util ... with them), which "python3 file.py" does not
# import either: 10-15 ms of every cold job's start.
_m = type(sys)("__main__")
_m.__dict__.update(__file__=_p, __cached__=None, __doc__=None, __loader__=None, __package__="", __spec__=None)
sys.modules["__main__"] = _m
sys.argv[0] = _p
del _m
try:
    with open(_p, "rb") as _f:
        _c = compile(_f.read(), _p, "exec", dont_inherit=True)
    del _f
    exec(_c, sys.modules["__main__"].__dict__)
    _s = 0
except SystemExit as _e:
    _s = _exit_code(_e)
except BaseException as _e:
    # Show the traceback from the job's own file down, not through this runner.
    _t = _e.__traceback__
    while _t is not None and _t.tb_frame.f_code.co_filename != _p:
        _t = _t.tb_next
    sys.excepthook(type(_e), _e, _e.with_traceback(_t).__traceback__)
    _s = 1
for _n in ("_e", "_t", "_c", "_n"):
    globals().pop(_n, None)  # the traceback holds the job's frames, and with them what they held
_end(_s, _pre)
