# SPDX-License-Identifier: LGPL-2.1-or-later
# The files a job returns (GO's COLLECT; helper/channel.h CH_FILE_OUT, CH_FILE_OUT_DATA, CH_SKIPPED):
# embedded before runner.py (embed-runner.py), whose one-shot job and runner-session.py's cells call
# _collect() once the code is done, as the job's user inside its sandbox.
def _collect(ch, cwd, bounds, main_name, inputs, remember=False):
    # Returns the regular files under the working directory that the code made or changed, in
    # the order of their paths' bytes (a depth-first walk, each directory's entries sorted with
    # directories as "NAME/", which is that order), never following a link or opening anything
    # but what fstat() then confirms is a regular file. Returns the entries left out unlisted.
    # remember (a session): each file returned joins inputs, so that it is not returned again
    # unless it changes.
    import stat, time
    FILE_OUT, FILE_OUT_DATA, SKIPPED = 0x81, 0x82, 0x83
    SYMLINK, FIFO, SOCKET, DEVICE, OTHER, SIZE, COUNT, BYTES, DEPTH, TIME, NAME, UNREADABLE = range(1, 13)
    CHUNK, BUFFERED_MAX = 65536, 1024 * 1024
    files_max, bytes_max, size_max, depth, usec = bounds
    deadline = time.monotonic() + usec / 1e6
    returned = returned_bytes = listed = unlisted = 0

    class Timeout(Exception):
        pass

    def skip(reason, path):
        nonlocal listed, unlisted
        if listed < 100:
            ch.send(SKIPPED, reason.to_bytes(4, "little") + path)
            listed += 1
        else:
            unlisted += 1

    def kind(mode):
        if stat.S_ISLNK(mode):
            return SYMLINK
        if stat.S_ISFIFO(mode):
            return FIFO
        if stat.S_ISSOCK(mode):
            return SOCKET
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            return DEVICE
        return OTHER

    def read_upto(fd, n):
        data = bytearray()
        while len(data) < n:
            if time.monotonic() > deadline:
                raise Timeout
            chunk = os.pread(fd, min(CHUNK, n - len(data)), len(data))
            if not chunk:
                break
            data += chunk
        return data

    def unchanged(fd, path, mode, size):
        import hashlib
        known = inputs.get(path)
        if known is None or known[0] != mode or known[1] != size:
            return False
        h, off = hashlib.sha256(), 0
        while off <= size:
            if time.monotonic() > deadline:
                raise Timeout
            chunk = os.pread(fd, CHUNK, off)
            if not chunk:
                break
            h.update(chunk)
            off += len(chunk)
        return off == size and h.digest() == known[2]

    def send_file(fd, path):
        nonlocal returned, returned_bytes
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return skip(kind(st.st_mode), path)
        mode, size = stat.S_IMODE(st.st_mode), st.st_size
        if unchanged(fd, path, mode, size):
            return
        if size > size_max:
            return skip(SIZE, path)
        if returned >= files_max:
            return skip(COUNT, path)
        if returned_bytes + size > bytes_max:
            return skip(BYTES, path)
        header = mode.to_bytes(4, "little") + size.to_bytes(8, "little") + path
        if size <= BUFFERED_MAX:
            # Read whole before it is announced: a file that changes meanwhile is "unreadable".
            data = read_upto(fd, size + 1)
            if len(data) != size:
                return skip(UNREADABLE, path)
            ch.send(FILE_OUT, header)
            for off in range(0, size, CHUNK):
                ch.send(FILE_OUT_DATA, data[off:off + CHUNK])
            if remember:
                import hashlib
                inputs[path] = (mode, size, hashlib.sha256(data).digest())
        else:
            # Too large to hold: streamed as announced; should it shrink all the same (nothing of
            # the job runs any more), the rest is zeros and a CH_SKIPPED "unreadable" follows.
            ch.send(FILE_OUT, header)
            short, off, h = False, 0, None
            if remember:
                import hashlib
                h = hashlib.sha256()
            while off < size:
                try:
                    chunk = os.pread(fd, min(CHUNK, size - off), off)
                except OSError:
                    chunk = b""
                if not chunk:
                    short, chunk = True, bytes(min(CHUNK, size - off))
                ch.send(FILE_OUT_DATA, chunk)
                if h is not None:
                    h.update(chunk)
                off += len(chunk)
            if short:
                skip(UNREADABLE, path)
            elif remember:
                inputs[path] = (mode, size, h.digest())
        returned += 1
        returned_bytes += size

    def walk(dfd, prefix, level):
        entries = []
        with os.scandir(dfd) as it:
            for e in it:
                if len(entries) % 256 == 0 and time.monotonic() > deadline:
                    raise Timeout
                try:
                    isdir = e.is_dir(follow_symlinks=False)
                except OSError:
                    isdir = False
                name = os.fsencode(e.name)
                entries.append((name + b"/" if isdir else name, name, isdir, e))
        entries.sort()
        for _, name, isdir, e in entries:
            if time.monotonic() > deadline:
                raise Timeout
            path = prefix + b"/" + name if prefix else name
            if level == 0 and name == main_name and not isdir:
                continue  # the code itself
            if len(path) > 1024 or level >= 32:
                skip(NAME, b"")
                continue
            if isdir and level >= depth:
                skip(DEPTH, path)
                continue
            try:
                if not isdir and not e.is_file(follow_symlinks=False):
                    skip(kind(e.stat(follow_symlinks=False).st_mode), path)
                    continue
                fd = os.open(name, (os.O_DIRECTORY if isdir else os.O_NOCTTY) | os.O_RDONLY | os.O_NOFOLLOW |
                             os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
            except OSError as err:
                skip(SYMLINK if err.errno == 40 else UNREADABLE, path)  # ELOOP: a link after all
                continue
            try:
                if isdir:
                    walk(fd, path, level + 1)
                else:
                    send_file(fd, path)
            except OSError as err:
                if err.errno in (32, 104):  # EPIPE, ECONNRESET: the helper is gone
                    raise
                skip(UNREADABLE, path)
            finally:
                os.close(fd)

    try:
        walk(cwd, b"", 0)
    except Timeout:
        skip(TIME, b"")
    return unlisted
