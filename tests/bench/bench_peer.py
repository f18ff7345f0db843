#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The peer rows of the latency table (#21): "bwrap-hardened", bubblewrap with protection close to
# pyward's job (the job's own syscall allowlist as a seccomp filter, its rlimits, a size-bounded
# /tmp, a pool user's uid, no network, the OS read-only), and "bare-runner", bare Python running
# pyward's own runner (from the helper's captured ExecStart) with the channel replaced by a stub,
# which says what the runner's bootstrap costs by itself. Stdlib only (libseccomp through ctypes).
import ctypes
import os
import pwd
import subprocess
import tempfile

from bench_common import log, run

VARIANTS = ["bare-runner", "bwrap-hardened"]
BPF = "@SECCOMP_FD@"  # in an argv: the seccomp program's fd, opened for each run (open_fds())
# What each row still lacks beside pyward's job (and what pyward's job has that none has).
LACKS = [
    ("bare", "everything: no namespaces, no seccomp, no rlimits, no cgroup, no Landlock, root"),
    ("bwrap (namespaces only)", "no seccomp, no rlimits, no tmpfs bound, no cgroup limits, no Landlock, "
     "no AppArmor, root outside its namespaces"),
    ("bwrap-hardened", "no cgroup limits (MemoryMax=, TasksMax=, CPUQuota=, IO), no Landlock, no AppArmor "
     "profile, no per-job uid (one pool user for all its runs), no IP firewall, no systemd Protect*= "
     "(its /sys, /proc are its namespaces' own)"),
    ("bare-runner", "as bare (no sandbox at all): it runs pyward's runner bootstrap, not a sandbox"),
    ("systemd-run", "the job's unit properties (all but those listed as not passed), no Landlock of the "
     "runner, no pool uid from the helper, no runner bootstrap"),
]
RLIMITS = {  # the helper's Limit*= properties and prlimit(1)'s options
    "LimitAS": "as", "LimitCORE": "core", "LimitCPU": "cpu", "LimitDATA": "data", "LimitFSIZE": "fsize",
    "LimitMEMLOCK": "memlock", "LimitMSGQUEUE": "msgqueue", "LimitNOFILE": "nofile", "LimitNPROC": "nproc",
    "LimitSIGPENDING": "sigpending", "LimitSTACK": "stack", "LimitRSS": "rss", "LimitLOCKS": "locks",
}
UNLIMITED = 2 ** 64 - 1
TMP_SIZE = 64 * 1024 * 1024  # the job's /tmp bound where the helper's properties name none
SCMP_ACT_ALLOW, SCMP_ACT_KILL_PROCESS = 0x7fff0000, 0x80000000
# The runner's stub for bare-runner: what _runner() does for a one-shot job without the channel
# (its imports, the code written to a file in the working directory, the fork, the parent's wait
# and exit as the child's status); the child returns the path that the runner's end runs as __main__.
STUB = '''
def _runner():
    import _signal, _socket, select
    d = os.environ.get("TMPDIR", "/tmp")
    path = os.path.join(d, "pyward-bench-%d.py" % os.getpid())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    os.write(fd, @CODE@.encode())
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        sys.argv = [path]
        return path
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    pidfd = os.pidfd_open(pid)
    select.select([pidfd], [], [])
    status = os.waitpid(pid, 0)[1]
    os.unlink(path)
    os._exit(os.waitstatus_to_exitcode(status))
'''


def prop(props, name):
    return [v for n, _s, v in props if n == name]


def runner_source(props):
    """The runner that the helper's ExecStart passes with -c (helper/runner.py, embedded)."""
    for name in ("ExecStartEx", "ExecStart"):
        for v in prop(props, name):
            argv = v[0][1]
            if "-c" in argv:
                return argv[argv.index("-c") + 1]
    return None


def runner_code(source, code):
    """The runner with its channel replaced by STUB: the runner's definitions (compiled from -c as
    in the job), then the stub's _runner() in place of the real one, then the runner's tail."""
    cut = "_p = _runner()\n"
    if source is None or cut not in source:
        return None
    head, tail = source.split(cut, 1)
    return head + STUB.replace("@CODE@", repr(code)) + cut + tail


def expand_group(name, seen):
    """The syscalls of a systemd syscall group, nested groups expanded (systemd-analyze)."""
    if name in seen:
        return set()
    seen.add(name)
    r = run(["systemd-analyze", "syscall-filter", "--no-pager", name], check=False)
    out = set()
    for line in r.stdout.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or s == name:
            continue
        out |= expand_group(s, seen) if s.startswith("@") else {s}
    return out


def syscall_allowlist(props):
    """The job's SystemCallFilter= as systemd applies it: the first entry an allow list, later allow
    entries add to it, deny entries take away. Returns (sorted names, the errno or None: kill)."""
    allow = None
    for is_allow, names in prop(props, "SystemCallFilter"):
        names = set().union(*[expand_group(n, set()) if n.startswith("@") else {n} for n in names])
        if allow is None:
            if not is_allow:
                return None, None  # a deny list only: not what the helper sends
            allow = set()
        allow = allow | names if is_allow else allow - names
    errno = prop(props, "SystemCallErrorNumber")
    return sorted(allow or []), (errno[0] if errno and errno[0] > 0 else None)


def export_bpf(names, errno, path):
    """The allowlist compiled by libseccomp (seccomp_export_bpf()) into path; the number of rules."""
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_KILL_PROCESS if errno is None else 0x00050000 | (errno & 0xffff))
    if not ctx:
        return None
    n = 0
    try:
        for name in names:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue  # not a syscall of this architecture (systemd skips these too)
            if lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) == 0:
                n += 1
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if lib.seccomp_export_bpf(ctx, fd) != 0:
                return None
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    return n


def prlimit_args(props):
    """prlimit(1)'s options for the job's Limit*= (hard) and Limit*Soft= (soft) properties."""
    out = []
    for name, opt in RLIMITS.items():
        hard = prop(props, name)
        if not hard:
            continue
        soft = prop(props, name + "Soft") or hard
        fmt = lambda v: "unlimited" if v == UNLIMITED else str(v)  # noqa: E731
        out.append(f"--{opt}={fmt(soft[0])}:{fmt(hard[0])}")
    return out


def pool_user():
    """The last pyward-job<K> pool user: a real non-root uid the helper gives its jobs."""
    users = [p for p in pwd.getpwall() if p.pw_name.startswith("pyward-job") and p.pw_name[10:].isdigit()]
    return max(users, key=lambda p: int(p.pw_name[10:])) if users else None


def tmp_size(props):
    """The size= of the job's /tmp where TemporaryFileSystem= names one, else TMP_SIZE."""
    for v in prop(props, "TemporaryFileSystem"):
        for path, opts in v:
            if path == "/tmp":
                for o in opts.split(","):
                    if o.startswith("size="):
                        s = o[5:]
                        k = {"k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30}
                        return int(s[:-1]) * k[s[-1]] if s[-1] in k else int(s)
    return TMP_SIZE


class Peer:
    """The argv of the peer variants; setup() returns what the results record about them."""

    def __init__(self):
        self.hardened = None  # the argv prefix of bwrap-hardened
        self.runner = None    # the runner's source
        self.dir = tempfile.mkdtemp(prefix="pyward-bench-peer-")
        self.bpf = os.path.join(self.dir, "filter.bpf")

    def setup(self, props, bwrap, trivial_argv, expect):
        """trivial_argv(variant): the argv of the trivial job; rows whose command fails it are dropped."""
        info = self.make(props, bwrap)
        for v in VARIANTS:
            a = trivial_argv(v)
            err = a and self.check(a, expect)
            if err:
                log(f"{v} does not work here ({err}); no {v} row")
                info[v + "_error"] = err
                setattr(self, "hardened" if v == "bwrap-hardened" else "runner", None)
        return info

    def make(self, props, bwrap):
        info = {}
        self.runner = runner_source(props)
        info["runner_chars"] = self.runner and len(self.runner)
        if not bwrap:
            return info
        names, errno = syscall_allowlist(props)
        user = pool_user()
        if not names or user is None:
            log(f"no bwrap-hardened row: {'no SystemCallFilter= allow list' if not names else 'no pool user'}")
            return info
        n = export_bpf(names, errno, self.bpf)
        if n is None:
            log("no bwrap-hardened row: libseccomp could not export the filter")
            return info
        os.chmod(self.dir, 0o755)
        os.chmod(self.bpf, 0o644)
        size = tmp_size(props)
        limits = prlimit_args(props)
        # Root starts prlimit (the job's rlimits), setpriv drops to the pool user (no capabilities,
        # no_new_privs, no supplementary groups), and bwrap, unprivileged, makes a user namespace of
        # its own with the others and loads the filter just before it execs Python.
        i = bwrap.index("--tmpfs")
        self.hardened = (["prlimit", *limits, "--",
                          "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                          "--no-new-privs", "--"]
                         + bwrap[:i] + ["--size", str(size)] + bwrap[i:-1]
                         + ["--unshare-net", "--new-session", "--cap-drop", "ALL", "--seccomp", BPF, "--"])
        info.update(syscalls_allowed=n, syscalls_named=len(names), errno=errno, user=user.pw_name,
                    tmp_size=size, rlimits=limits, argv=" ".join(self.hardened))
        log(f"bwrap-hardened: {n} syscalls allowed ({len(names)} named), /tmp {size >> 20} MiB, "
            f"user {user.pw_name}, {len(limits)} rlimits")
        return info

    def check(self, argv, expect):
        """Drops a row whose command fails its trivial job; returns the error or None."""
        a, fds = open_fds(argv)
        try:
            r = subprocess.run(a, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, pass_fds=fds)
        finally:
            for fd in fds:
                os.close(fd)
        if r.returncode != 0 or r.stdout != expect:
            return f"exit {r.returncode}: {r.stderr.decode(errors='replace').strip()[-300:]}"
        return None

    def argv(self, variant, python, code):
        """python: [interpreter, *args] (before -c)."""
        if variant == "bare-runner":
            rc = runner_code(self.runner, code)
            return [*python, "-c", rc] if rc else None
        if variant == "bwrap-hardened":
            return self.hardened + [*python, "-c", code] if self.hardened else None
        raise ValueError(variant)


def open_fds(argv):
    """argv with BPF replaced by a fresh read-only fd of the filter (bwrap reads it to its end, so
    each run needs its own offset), and the fds to pass; the caller closes them."""
    if BPF not in argv:
        return argv, ()
    fd = os.open(os.path.join(PEER.dir, "filter.bpf"), os.O_RDONLY | os.O_CLOEXEC)
    return [str(fd) if a == BPF else a for a in argv], (fd,)


PEER = Peer()


def lacks_lines():
    """What each row lacks beside pyward's job, as report lines."""
    lines = ["What each row lacks beside pyward's job (pyward: its unit's properties, cgroup limits, "
             "the runner's Landlock domain, AppArmor, a pool uid of its own):"]
    lines += [f"  {name:24} {what}" for name, what in LACKS]
    return lines + [""]
