# SPDX-License-Identifier: LGPL-2.1-or-later
# The helper's key=value records (ACCEPTED, RESULT, PROFILE_INFO, CELL_RESULT), parsed as strictly
# as the C parsers (common/record.c, common/cell.c), and what they become: Result, Profile.
import dataclasses
import signal as _signal

from ._errors import ProtocolError
from ._files import write_files
from ._wire import (CELL_ERROR_MESSAGE_MAX, CELL_ERROR_TYPE_MAX, CELL_RESULT_KEYS, CELL_RESULT_MAX, CELL_STATUSES,
                    CELL_TRACEBACK_MAX, CELL_VALUE_MAX, LIMITS, PROFILE_INFO_MAX, RESULT_FILES_KEYS, RESULT_KEYS,
                    RESULT_MAX, RESULT_SESSION_KEYS, STATUSES)


def _unescape(value):
    out, i = bytearray(), 0
    while i < len(value):
        c = value[i]
        if c == 0x5C:  # backslash
            nxt = value[i + 1:i + 2]
            if nxt == b"\\":
                out += b"\\"
            elif nxt == b"n":
                out += b"\n"
            else:
                raise ProtocolError(f"bad escape in record value {bytes(value)!r}")
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


def _parse_record(payload, what, known=None, raw=False):
    """key=value lines, each ending in \\n; values escaped (\\\\ and \\n). Returns {str: str}
    ({str: bytes} if raw). A key not in `known` (if given) whose value is badly escaped is left
    out, as the C parser ignores unknown keys entirely."""
    payload = bytes(payload)
    if b"\0" in payload:
        raise ProtocolError(f"{what} contains a NUL byte")
    if payload and not payload.endswith(b"\n"):
        raise ProtocolError(f"{what} does not end with a newline")
    out = {}
    for line in payload.split(b"\n")[:-1]:
        key, eq, value = line.partition(b"=")
        if not eq or not key:
            raise ProtocolError(f"malformed line in {what}: {line!r}")
        k = key.decode("utf-8", "replace")
        if k in out:
            raise ProtocolError(f"duplicate key {k!r} in {what}")
        try:
            v = _unescape(value)
        except ProtocolError:
            if known is not None and k not in known:
                continue  # unknown keys are ignored entirely, as the C parser does
            raise
        out[k] = v if raw else v.decode("utf-8", "replace")
    return out


def parse_accepted(payload):
    """The ACCEPTED record as a dict, e.g. {"job": "17", "unit": "pyward-job-17.service"}."""
    return _parse_record(payload, "ACCEPTED")


def _int_or_none(rec, key, hi=2 ** 64 - 2, what="RESULT"):
    v = rec.get(key, "")
    if v == "":
        return None
    if not v.isdigit() or not v.isascii() or (len(v) > 1 and v[0] == "0") or int(v) > hi:
        raise ProtocolError(f"bad {key} value {v!r} in {what}")
    return int(v)


def parse_result(payload):
    """The RESULT record as a dict of the known keys (str, int or None); strict like the C parser."""
    if len(payload) > RESULT_MAX:
        raise ProtocolError("RESULT too large")
    rec = _parse_record(payload, "RESULT", RESULT_KEYS + RESULT_FILES_KEYS + RESULT_SESSION_KEYS + ("profiles", "path"))
    if rec.get("status") not in STATUSES:
        raise ProtocolError(f"bad or missing status in RESULT: {rec.get('status')!r}")
    sig = rec.get("signal", "") or None
    if sig is not None and _signal_number(sig) is None:
        raise ProtocolError(f"bad signal value {sig!r} in RESULT")
    out = {
        "status": rec["status"],
        "exit_code": _int_or_none(rec, "exit_code", 255),
        "signal": sig,
        "wall_ms": _int_or_none(rec, "wall_ms"),
        "cpu_ms": _int_or_none(rec, "cpu_ms"),
        "memory_peak_bytes": _int_or_none(rec, "memory_peak_bytes"),
    }
    for k in ("memory_peak_reason", "unit", "invocation_id", "job", "message"):
        out[k] = rec.get(k, "") or None
    # Written only for a request that sent COLLECT: today's records give today's dict.
    if any(k in rec for k in RESULT_FILES_KEYS):
        for k in ("files_out", "files_out_bytes", "files_skipped"):
            out[k] = _int_or_none(rec, k)
        out["files_note"] = rec.get("files_note", "") or None
    # Written only for a session.
    if "cells" in rec:
        out["cells"] = _int_or_none(rec, "cells")
    # Written only where the profile keeps warm runners: "warm" or "cold".
    if "path" in rec:
        if rec["path"] not in ("warm", "cold"):
            raise ProtocolError(f"bad path value {rec['path']!r} in RESULT")
        out["path"] = rec["path"]
    return out


def parse_cell_result(payload):
    """A CELL_RESULT record as a dict: cell (int >= 1), status ("ok", "error", "interrupted"),
    value, error_type, error_message, traceback, message (str or None), value_truncated (bool),
    wall_ms, cpu_ms (int or None), and, only if the record has them (the cell asked to collect),
    files_out, files_out_bytes, files_skipped (int or None), files_note. Strict as
    cell_result_parse() in common/cell.c: each text within its bound, unknown keys ignored."""
    if len(payload) > CELL_RESULT_MAX:
        raise ProtocolError("CELL_RESULT too large")
    raw = _parse_record(payload, "CELL_RESULT", CELL_RESULT_KEYS, raw=True)
    rec = {k: v.decode("utf-8", "replace") for k, v in raw.items()}

    def text(key, bound=CELL_RESULT_MAX):
        if len(raw.get(key, b"")) > bound:
            raise ProtocolError(f"CELL_RESULT's {key} is longer than {bound} bytes")
        return rec.get(key, "") or None

    def number(key):
        return _int_or_none(rec, key, what="CELL_RESULT")

    cell = number("cell")
    if not cell:
        raise ProtocolError(f"bad or missing cell in CELL_RESULT: {rec.get('cell')!r}")
    if rec.get("status") not in CELL_STATUSES:
        raise ProtocolError(f"bad or missing status in CELL_RESULT: {rec.get('status')!r}")
    if rec.get("value_truncated", "") not in ("", "0", "1"):
        raise ProtocolError(f"bad value_truncated in CELL_RESULT: {rec['value_truncated']!r}")
    out = {
        "cell": cell,
        "status": rec["status"],
        "value": rec["value"] if "value" in rec else None,
        "value_truncated": rec.get("value_truncated") == "1",
        "error_type": text("error_type", CELL_ERROR_TYPE_MAX),
        "error_message": text("error_message", CELL_ERROR_MESSAGE_MAX),
        "traceback": text("traceback", CELL_TRACEBACK_MAX),
        "message": text("message"),
        "wall_ms": number("wall_ms"),
        "cpu_ms": number("cpu_ms"),
    }
    text("value", CELL_VALUE_MAX)
    if any(k in rec for k in RESULT_FILES_KEYS):
        for k in ("files_out", "files_out_bytes", "files_skipped"):
            out[k] = number(k)
        out["files_note"] = text("files_note")
    return out


def _record_lines(payload, what):
    """(key, value) pairs of a key=value record, in order, values unescaped (str)."""
    payload = bytes(payload)
    if b"\0" in payload:
        raise ProtocolError(f"{what} contains a NUL byte")
    if not payload.endswith(b"\n"):
        raise ProtocolError(f"{what} does not end with a newline")
    for line in payload.split(b"\n")[:-1]:
        key, eq, value = line.partition(b"=")
        if not eq or not key:
            raise ProtocolError(f"malformed line in {what}: {line!r}")
        yield key.decode("utf-8", "replace"), _unescape(value).decode("utf-8", "replace")


def _number(value, what):
    if not value.isascii() or not value.isdigit() or (len(value) > 1 and value[0] == "0") or int(value) >= 2 ** 64:
        raise ProtocolError(f"bad number {value!r} in {what}")
    return int(value)


@dataclasses.dataclass
class Profile:
    """One profile the caller may use, from the helper's answer to DISCOVER."""
    name: str
    interpreter: "str | None" = None
    python: "str | None" = None  # "3.11.2", or None when unknown (note says why)
    network: "str | None" = None  # "none", "loopback"
    limits: dict = dataclasses.field(default_factory=dict)  # name -> (default, max), raw units
    packages: dict = dataclasses.field(default_factory=dict)  # name -> version
    packages_omitted: int = 0
    note: "str | None" = None


def parse_profile_info(payload):
    """A Profile from a PROFILE_INFO payload (key=value lines escaped as RESULT's; package=
    repeated; unknown keys ignored, as profile_info_parse() does)."""
    if len(payload) > PROFILE_INFO_MAX:
        raise ProtocolError("PROFILE_INFO too large")
    fields, limits, packages, seen = {}, {}, {}, set()
    for key, value in _record_lines(payload, "PROFILE_INFO"):
        if key == "package":
            name, _, version = value.partition(" ")
            packages[name] = version
            continue
        if key in seen:
            raise ProtocolError(f"duplicate key {key!r} in PROFILE_INFO")
        seen.add(key)
        if key.startswith("limit."):
            name, _, which = key[6:].rpartition(".")
            if name in LIMITS and which in ("default", "max"):
                limits.setdefault(name, [0, 0])[which == "max"] = _number(value, "PROFILE_INFO")
        elif key in ("name", "interpreter", "python", "network", "note"):
            fields[key] = value or None
        elif key == "packages_omitted":
            fields[key] = _number(value, "PROFILE_INFO")
    if not fields.get("name"):
        raise ProtocolError("PROFILE_INFO without a name")
    return Profile(limits={k: tuple(v) for k, v in limits.items()}, packages=packages, **fields)


def _signal_number(name):
    if not name.startswith("SIG"):
        return None
    rest = name[3:]
    if rest.isdigit() and rest.isascii() and rest[0] != "0" and 1 <= int(rest) <= 64:
        return int(rest)
    try:
        return int(getattr(_signal.Signals, name))
    except AttributeError:
        return None


@dataclasses.dataclass
class Result:
    status: str
    exit_code: "int | None" = None
    signal: "str | None" = None
    stdout: bytes = b""
    stderr: bytes = b""
    wall_ms: "int | None" = None
    cpu_ms: "int | None" = None
    memory_peak_bytes: "int | None" = None
    memory_peak_reason: "str | None" = None
    unit: "str | None" = None
    invocation_id: "str | None" = None
    job: "str | None" = None
    message: "str | None" = None
    accepted: "dict | None" = None
    # With collect=True: the returned files (path -> bytes; a path that is not UTF-8 is a str
    # with surrogate escapes, os.fsencode() gives its bytes back), their modes (path -> int),
    # what was left out [(path, reason)], and the RESULT's counts and note.
    files: dict = dataclasses.field(default_factory=dict)
    file_modes: dict = dataclasses.field(default_factory=dict)
    skipped: list = dataclasses.field(default_factory=list)
    files_out: "int | None" = None
    files_out_bytes: "int | None" = None
    files_skipped: "int | None" = None
    files_note: "str | None" = None
    cells: "int | None" = None  # a session's: the number of cells that ran
    path: "str | None" = None  # "warm" or "cold" where the profile keeps warm runners

    @property
    def signal_number(self):
        return _signal_number(self.signal) if self.signal else None

    def write_files(self, directory, overwrite=False):
        """Writes self.files under directory (made with mode 0700 if missing; its parent must
        exist) as pyward --files-out does: every component opened relative to its parent with
        O_NOFOLLOW (a symbolic link on the way is an error, never followed), missing
        directories made (0755 minus the umask), each file created with O_EXCL and its mode
        & 0755 (never setuid). A name that exists is an error for that file unless overwrite:
        then a non-directory entry (a link too: never written through) is removed first.
        Every file is tried; then FilesWriteError (an OSError) lists the ones that failed.
        Returns the paths written."""
        return write_files(directory, self.files, self.file_modes, overwrite)


def result_from_record(rec, stdout=b"", stderr=b"", accepted=None):
    """A Result from parse_result()'s dict plus the collected streams."""
    return Result(stdout=bytes(stdout), stderr=bytes(stderr), accepted=accepted, **rec)


