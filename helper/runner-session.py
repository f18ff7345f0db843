# SPDX-License-Identifier: LGPL-2.1-or-later
# A session (GO's SESSION; helper/channel.h): embedded before runner.py (embed-runner.py), whose
# _runner() calls _session() after GO. The runner becomes the supervisor: it keeps the channel,
# writes each cell's input files, collects its files, and forks at once the kernel, the process
# that runs the cells in one __main__ namespace. The two talk over a private socket pair, frames
# of a uint32 length: supervisor -> kernel "uint32 cell number, code", kernel -> supervisor the
# CH_CELL_RESULT payload; and the kernel writes one byte into the "armed" pipe as each cell's
# SIGINT handler is in place. SIGINT reaches the kernel only between that byte and the result, so
# an interrupt is never lost at a cell's start nor lands between cells or in the next one; the
# supervisor reads the pipe only when it has an interrupt to send (no wake-up per cell). Imports
# are few and lazy: what only an error, a file or a collection needs is imported there.
def _session(ch, cwd, bounds, stdin, inputs, fail, kill_all, limit_cpu, deadline):
    # limit_cpu(): applies the kernel's RLIMIT_CPU (a warm runner's CH_LIMITS); deadline: None, or
    # the time.monotonic() at which the session is ended as by CH_STOP (CH_LIMITS' wall-clock time).
    import _signal, _socket, select
    FILE, FILE_DATA, STOP, CELL, INTERRUPT, END, CELL_RESULT = 5, 6, 8, 9, 10, 11, 0x86
    sup, ker = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    armed_r, armed_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        ch.s.detach()
        os.dup2(stdin, 0)  # the job's stdin: at EOF, the helper closed it
        os.close(stdin)
        os.close(cwd)
        os.close(armed_r)
        sup.close()
        limit_cpu()
        _kernel(_Link(ker), armed_w)  # returns never; SystemExit ends the interpreter as the cell asked
    ker.close()
    os.close(stdin)
    os.close(armed_w)
    os.set_blocking(armed_r, False)

    def broken(what):
        kill_all()  # the kernel with the runner
        fail(what)
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)  # no KeyboardInterrupt traceback of the runner's
    link = _Link(sup)
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None  # a kernel before 5.3: poll
    files = _InputFiles(cwd, inputs, broken)
    cell = None  # the running cell: [number, collect, interrupt asked]
    sent = armed = 0  # cells the kernel was given, and armed so far (the pipe's bytes read)
    ending = False

    def read_armed():
        nonlocal armed
        try:
            armed += len(os.read(armed_r, 65536))
        except BlockingIOError:
            pass

    def interrupt():
        # SIGINT now if the kernel armed the running cell; else once it does (cell[2]: armed_r is
        # watched meanwhile). Each cell arms once: its byte.
        read_armed()
        cell[2] = armed < sent
        if not cell[2]:
            os.kill(pid, _signal.SIGINT)

    def finish(stop):
        # CH_STOP or the channel's end (stop: the kernel is killed), the kernel's end (waited for:
        # its atexit handlers run): nothing of the job outlives the runner, whose status is the kernel's.
        if stop:
            kill_all()
        status = os.waitpid(pid, 0)[1]
        kill_all()
        _exit_as(status)

    def result(payload):
        nonlocal cell
        if sent % 16384 == 0:
            read_armed()  # the pipe never fills
        if cell[1]:
            try:
                _collect(ch, cwd, bounds, None, inputs, remember=True)
            except OSError:
                pass  # the helper is gone: nobody to tell
        ch.send(CELL_RESULT, payload)
        cell = None
        if ending:
            kill_all()
            os._exit(0)

    def on_channel(kind, payload):
        nonlocal cell, ending, sent
        if kind == STOP:
            finish(True)
        if files.current is not None and kind != FILE_DATA:
            broken("channel message %#x inside an input file's data" % kind)
        if kind in (FILE, FILE_DATA, CELL) and cell is not None:
            broken("channel message %#x while cell %d runs" % (kind, cell[0]))
        if kind == FILE:
            files.begin(payload)
        elif kind == FILE_DATA:
            files.data(payload)
        elif kind == CELL:
            if len(payload) < 8:
                broken("a CELL message of %d bytes" % len(payload))
            cell = [int.from_bytes(payload[4:8], "little"), bool(payload[0] & 1), False]
            if files.error:
                result(_result_text("error", error=("pyward.InputFileError", files.error)))
                files.error = None
            else:
                link.send(payload[4:])
                sent += 1
        elif kind == INTERRUPT:
            if cell is not None and not cell[2]:  # none runs, or its interrupt waits for it already
                interrupt()
        elif kind == END:
            if cell is None:
                kill_all()
                os._exit(0)
            ending = True
        else:
            broken("channel message %#x in a session" % kind)

    if deadline is not None:
        import time
    while True:
        watch = [0, sup.fileno()] + ([] if pidfd is None else [pidfd]) + ([armed_r] if cell and cell[2] else [])
        timeout = None if pidfd is not None else 0.05
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                finish(True)
            timeout = min(left, 3600 if timeout is None else timeout)
        ready = select.select(watch, [], [], timeout)[0]
        if armed_r in ready:
            interrupt()
        if sup.fileno() in ready:
            if not link.recv():
                finish(False)  # the kernel ended (SystemExit, os._exit, a signal)
            m = link.parse()
            while m is not None:
                if cell is None:
                    broken("the kernel spoke while no cell ran")
                result(m)
                m = link.parse()
        if 0 in ready:
            ch.recv()
            ch.take_fd(-1)
            m = ch.parse()
            while m is not None:
                on_channel(m[0], m[1])
                m = ch.parse()
            if ch.eof:
                finish(True)  # the helper is gone: nobody to run cells for
        if pidfd in ready:
            finish(False)
        elif pidfd is None and os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            finish(False)
class _Link:
    # The supervisor <-> kernel socket: frames of a uint32 length and the payload.
    def __init__(self, s):
        self.s = s
        self.buf = bytearray()
        self.rbuf = memoryview(bytearray(65536))  # kept: no allocation (and mmap) per read

    def send(self, payload):
        self.s.sendall(len(payload).to_bytes(4, "little") + payload)

    def recv(self):
        try:
            n = self.s.recv_into(self.rbuf)
        except OSError:
            n = 0
        self.buf += self.rbuf[:n]
        return n > 0

    def parse(self):
        if len(self.buf) < 4:
            return None
        n = int.from_bytes(self.buf[:4], "little")
        if len(self.buf) < 4 + n:
            return None
        m = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return m

    def read(self):
        # Blocking: the next frame, or None once the other end is gone.
        m = self.parse()
        while m is None:
            if not self.recv():
                return None
            m = self.parse()
        return m
class _InputFiles:
    # A cell's input files as their CH_FILE and CH_FILE_DATA arrive, written into the working
    # directory: a file of the same path is replaced (unlinked first: a link at the last component
    # is removed, never followed; the new file is made with O_EXCL | O_NOFOLLOW), directories on
    # the way are made or entered without following a link. A failure is the next cell's error.
    def __init__(self, cwd, inputs, fail):
        self.cwd, self.inputs, self.fail = cwd, inputs, fail
        self.current = None  # [path, fd or None, bytes left, mode, size, sha256]
        self.error = None

    def begin(self, payload):
        import hashlib
        if len(payload) < 13:
            self.fail("a FILE message of %d bytes" % len(payload))
        size = int.from_bytes(payload[4:12], "little")
        path = payload[12:]
        parts = path.split(b"/")
        if not path or path.startswith(b"/") or b"\0" in path or any(p in (b"", b".", b"..") for p in parts):
            self.fail("an invalid input path %r" % os.fsdecode(path))
        mode = 0o700 if payload[0] & 1 else 0o600
        self.current = [path, None, size, mode, size, hashlib.sha256()]
        d = self.cwd
        try:
            for name in parts[:-1]:
                try:
                    os.mkdir(name, 0o700, dir_fd=d)
                except FileExistsError:
                    pass
                nd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
                if d != self.cwd:
                    os.close(d)
                d = nd
            try:
                os.unlink(parts[-1], dir_fd=d)
            except FileNotFoundError:
                pass
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                         dir_fd=d)
            self.current[1] = fd
            os.fchmod(fd, mode)
        except OSError as e:
            self.failed(e)
        finally:
            if d != self.cwd:
                os.close(d)
        if size == 0:
            self.end()

    def data(self, payload):
        c = self.current
        if c is None:
            self.fail("FILE_DATA without FILE")
        if not payload or len(payload) > c[2]:
            self.fail("input file %r: more data than its size" % os.fsdecode(c[0]))
        c[2] -= len(payload)
        if c[1] is not None:
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(c[1], view):]
                c[5].update(payload)
            except OSError as e:
                self.failed(e)
        if c[2] == 0:
            self.end()

    def failed(self, e):
        c = self.current
        if c[1] is not None:
            os.close(c[1])
            c[1] = None
        if self.error is None:
            self.error = "cannot write input file %r: %s" % (os.fsdecode(c[0]), e.strerror)

    def end(self):
        c, self.current = self.current, None
        if c[1] is not None:
            os.close(c[1])
            self.inputs[c[0]] = (c[3], c[4], c[5].digest())
def _kernel(link, armed):
    # The cells, one at a time, in one __main__ namespace, as the REPL runs them: a last expression
    # statement's repr() is the value (and builtins._ is set), tracebacks start at the cell's code.
    import _ast, _signal, builtins
    sys.argv = [""]
    sys.path.insert(0, os.getcwd())  # the cells import the modules their files brought
    sys.dont_write_bytecode = True  # no __pycache__ among the files a cell returns
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    runner_main = sys.modules["__main__"]  # kept: the runner's functions use its globals
    main = type(sys)("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    ns, sources = main.__dict__, []  # the cells' (name, source) not yet in linecache
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # a cell's output streams as it prints
        except Exception:
            pass

    def ignore(sig, frame):
        pass  # a Python handler, not SIG_IGN: a SIGINT already caught never warns of a race

    def disarm():
        while True:
            try:
                _signal.signal(_signal.SIGINT, ignore)
                return
            except KeyboardInterrupt:
                pass  # an interrupt of the cell that had just ended

    def run(src, name):
        sources.append((name, src))
        if "linecache" in sys.modules:
            _lines(sources)  # user code may print a traceback itself
        tree = compile(src, name, "exec", _ast.PyCF_ONLY_AST, dont_inherit=True)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], _ast.Expr) else None
        exec(compile(tree, name, "exec", dont_inherit=True), ns)
        if last is not None:
            v = eval(compile(_ast.Expression(last.value), name, "eval", dont_inherit=True), ns)
            if v is not None:
                text = repr(v)
                builtins._ = v
                return text
        return None

    me = os.getpid()
    disarm()
    while True:
        m = link.read()
        if m is None:
            os._exit(0)  # the supervisor is gone
        name = "<cell %d>" % int.from_bytes(m[0:4], "little")
        src = m[4:].decode("utf-8", "surrogateescape")
        value = error = None
        try:
            try:
                _signal.signal(_signal.SIGINT, _signal.default_int_handler)
                os.write(armed, b"S")
                value = run(src, name)
            finally:
                disarm()
        except SystemExit:
            raise
        except BaseException as e:
            error = _error(e, _kernel.__code__.co_filename, sources)
        if os.getpid() != me:
            os._exit(0)  # a child the cell forked came back out of it: only the kernel answers
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()  # all of the cell's output before its result
            except Exception:
                pass
        if error is None:
            report = _result_text("ok", value=value)
        else:
            report = _result_text("error", error=error)
        try:
            link.send(report)
        except OSError:
            os._exit(0)  # the supervisor is gone
def _lines(sources):
    # The cells' sources for the tracebacks' lines, as linecache keeps code it has no file for
    # (no mtime: checkcache() leaves them); each cell's once.
    import linecache
    for name, src in sources:
        linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    sources.clear()
def _error(e, runner_file, sources):
    # (error_type, error_message, traceback) of an exception, the runner's frames left out.
    import traceback
    _lines(sources)
    t = type(e)
    kind = t.__qualname__ if t.__module__ in ("builtins", "__main__") else "%s.%s" % (t.__module__, t.__qualname__)
    try:
        message = str(e)
    except Exception:
        message = "<exception str() failed>"
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == runner_file:
        tb = tb.tb_next
    try:
        text = "".join(traceback.format_exception(t, e, tb))
    except Exception:
        text = "%s: %s\n" % (kind, message)
    return kind, message, text
def _result_text(status, value=None, error=None):
    # CH_CELL_RESULT's payload: key=value lines escaped as RESULT's, each text cut (never inside a
    # character or an escape) so that its escaped form fits PW_CELL_*_MAX, and the whole
    # CH_CELL_RESULT_MAX.
    def esc(b):
        return b.replace(b"\\", b"\\\\").replace(b"\n", b"\\n")

    def line(key, text, limit):
        b = text.encode("utf-8", "backslashreplace").replace(b"\0", "\ufffd".encode())
        e = esc(b)
        cut = len(e) > limit
        if cut:
            n = limit
            while len(esc(b[:n])) > limit:
                n -= len(esc(b[:n])) - limit
            e = esc(b[:n].decode("utf-8", "ignore").encode())
        return key + b"=" + e + b"\n", cut
    out = b"status=" + status.encode() + b"\n"
    if value is not None:
        text, cut = line(b"value", value, 16384)
        out += text + (b"value_truncated=1\n" if cut else b"")
    if error is not None:
        for key, text, limit in zip((b"error_type", b"error_message", b"traceback"), error, (256, 4096, 32768)):
            out += line(key, text, limit)[0]
    return out
