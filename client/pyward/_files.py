# SPDX-License-Identifier: LGPL-2.1-or-later
# Files coming back from a job: the FILE_OUT/FILE_SKIPPED payloads and their order (_Collector),
# and write_files(), the no-follow writer of pyward --files-out.
import errno
import os
import stat as _stat
import struct

from ._errors import ProtocolError
from ._wire import (FILE_HEADER, FILE_OUT, FILE_OUT_DATA, FILE_OUT_SIZE_MAX, FILE_SKIPPED, FILES_COUNT_MAX,
                    FRAME_NAMES, SKIP_REASONS, SKIPPED_LISTED_MAX, path_invalid)

def parse_file_header(payload):
    """(mode or flags, size, path bytes) of a FILE or FILE_OUT payload; ProtocolError if short or
    the path is not valid (path_invalid())."""
    payload = bytes(payload)
    if len(payload) <= FILE_HEADER.size:
        raise ProtocolError("file frame without a path")
    mode, size = FILE_HEADER.unpack_from(payload)
    path = payload[FILE_HEADER.size:]
    why = path_invalid(path)
    if why:
        raise ProtocolError(f"file frame with an invalid path {path!r}: {why}")
    return mode, size, path


def parse_skipped(payload):
    """(reason name, path bytes) of a FILE_SKIPPED payload; the path may be empty (a name the
    runner could not give). A reason this module does not know is a ProtocolError, as in
    common/files.c: new reasons need a new protocol version."""
    payload = bytes(payload)
    if len(payload) < 4:
        raise ProtocolError("FILE_SKIPPED too short")
    (reason,) = struct.unpack_from("<I", payload)
    if reason not in SKIP_REASONS:
        raise ProtocolError(f"FILE_SKIPPED with an unknown reason {reason}")
    return SKIP_REASONS[reason], payload[4:]


class FilesWriteError(OSError):
    """Some files could not be written by write_files(); .failures is [(path, OSError)]."""

    def __init__(self, failures):
        path, e = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        super().__init__(e.errno, f"cannot write {path!r}: {e.strerror}{more}")
        self.failures = failures


def _open_subdir(parent, name):
    """The directory name below parent (an fd), made if missing; never through a link."""
    for _ in range(2):
        try:
            return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError:
            try:
                os.mkdir(name, 0o755, dir_fd=parent)
            except FileExistsError:
                pass
        except NotADirectoryError:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if _stat.S_ISLNK(st.st_mode):
                raise OSError(errno.ELOOP, "a symbolic link: not followed") from None
            raise
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise OSError(errno.ELOOP, "a symbolic link: not followed") from None
            raise
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))


def _create_file(parent, name, mode, overwrite):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
    try:
        return os.open(name, flags, mode & 0o755, dir_fd=parent)
    except FileExistsError:
        if not overwrite:
            raise FileExistsError(errno.EEXIST, "it exists (overwrite=True replaces it)") from None
    if _stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
        raise IsADirectoryError(errno.EISDIR, "a directory is in the way")
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    return os.open(name, flags, mode & 0o755, dir_fd=parent)


def _write_one(root, path, data, mode, overwrite):
    p = os.fsencode(path)
    why = path_invalid(p)
    if why:
        raise ValueError(f"{path!r}: {why}")
    *dirs, name = p.split(b"/")
    parent = os.dup(root)
    try:
        for i, d in enumerate(dirs):
            try:
                sub = _open_subdir(parent, d)
            except OSError as e:
                shown = os.fsdecode(b"/".join(dirs[:i + 1]))
                raise type(e)(e.errno, f"{shown!r}: {e.strerror}") from None
            os.close(parent)
            parent = sub
        fd = _create_file(parent, name, mode, overwrite)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.unlink(name, dir_fd=parent)
            raise
        finally:
            os.close(fd)
    finally:
        os.close(parent)


def write_files(directory, files, modes=None, overwrite=False):
    """Result.write_files() for any {path: bytes} and {path: mode} (default 0644)."""
    try:
        root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    written, failures = [], []
    try:
        for path, data in files.items():
            try:
                _write_one(root, path, data, (modes or {}).get(path, 0o644), overwrite)
                written.append(path)
            except ValueError as e:
                failures.append((path, OSError(errno.EINVAL, str(e))))
            except OSError as e:
                failures.append((path, e))
    finally:
        os.close(root)
    if failures:
        raise FilesWriteError(failures)
    return written


class _Collector:
    """The FILE_OUT, FILE_OUT_DATA and FILE_SKIPPED frames of a run(collect=True), in order and
    bounded as pyward(1)'s collect.c checks them."""

    def __init__(self):
        self.files, self.file_modes, self.skipped = {}, {}, []
        self.pending = None  # (path, size, bytearray) while FILE_OUT_DATA is due
        self.last = None  # the last complete file: a FILE_SKIPPED naming it next means incomplete

    def frame(self, ftype, payload):
        if ftype not in (FILE_OUT, FILE_OUT_DATA, FILE_SKIPPED):
            return False
        if ftype != FILE_OUT_DATA and self.pending:
            raise ProtocolError(f"pyward: {FRAME_NAMES[ftype]} before the last file's bytes")
        if ftype == FILE_OUT:
            mode, size, path = parse_file_header(payload)
            key = os.fsdecode(path)
            if size > FILE_OUT_SIZE_MAX:
                raise ProtocolError(f"pyward: FILE_OUT of {size} bytes")
            if len(self.files) >= FILES_COUNT_MAX:
                raise ProtocolError(f"pyward: more than {FILES_COUNT_MAX} FILE_OUT frames")
            if key in self.files:
                raise ProtocolError(f"pyward: FILE_OUT {key!r} twice")
            self.files[key], self.file_modes[key] = b"", mode & 0o7777
            self.pending = (key, size, bytearray()) if size else None
            self.last = None
        elif ftype == FILE_OUT_DATA:
            if not self.pending:
                raise ProtocolError("pyward: FILE_OUT_DATA without a FILE_OUT")
            key, size, buf = self.pending
            if len(buf) + len(payload) > size:
                raise ProtocolError(f"pyward: more FILE_OUT_DATA than the {size} bytes announced")
            buf += payload
            if len(buf) == size:
                self.files[key], self.pending, self.last = bytes(buf), None, key
        else:
            if len(self.skipped) >= SKIPPED_LISTED_MAX:
                raise ProtocolError(f"pyward: more than {SKIPPED_LISTED_MAX} FILE_SKIPPED frames")
            reason, path = parse_skipped(payload)
            self.skipped.append((os.fsdecode(path), reason))
            # pyward-protocol(7): the file just sent, named again, was cut short (its announced
            # size filled up with zeros): it is not the job's, and is not returned.
            if self.last is not None and os.fsdecode(path) == self.last:
                del self.files[self.last], self.file_modes[self.last]
            self.last = None
        return True

    def finish(self, result, what="RESULT"):
        if self.pending:
            raise ProtocolError(f"pyward: {what} before the last file's bytes")
        result.files, result.file_modes, result.skipped = self.files, self.file_modes, self.skipped


