# SPDX-License-Identifier: LGPL-2.1-or-later
# Values in pyward.conf(5)'s and pyward(1)'s syntax, exactly as common/values.c reads them: time
# spans ("500ms", "1min 30s", a bare number is seconds) to microseconds, sizes ("64M", "1.5G") to
# bytes, counts. ValueError for anything else.
import re

_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_UNITS_USEC = {
    "seconds": 1000000, "second": 1000000, "minutes": 60000000, "minute": 60000000,
    "hours": 3600000000, "hour": 3600000000, "days": 86400000000, "day": 86400000000,
    "usec": 1, "msec": 1000, "sec": 1000000, "min": 60000000, "hr": 3600000000, "us": 1,
    "ms": 1000, "s": 1000000, "m": 60000000, "h": 3600000000, "d": 86400000000,
}
_SIZE_UNITS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_U64_MAX = 2 ** 64 - 1


def _decimal(s, pos):
    """(integer, fraction digits (at most 9, as values.c keeps), end) of the number at s[pos:]."""
    m = _DECIMAL.match(s, pos)
    if not m:
        raise ValueError(f"not a number: {s!r}")
    return int(m.group(1)), (m.group(2) or "")[:9], m.end()


def _scale(v, frac, unit, s):
    r = v * unit + (int(frac) * unit // 10 ** len(frac) if frac else 0)
    if r > _U64_MAX:
        raise ValueError(f"out of range: {s!r}")
    return r


def parse_timespan(s):
    """Microseconds of a time span: numbers each with an optional unit (default seconds)."""
    total, pos, any_part = 0, 0, False
    while True:
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        if pos >= len(s):
            break
        v, frac, pos = _decimal(s, pos)
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        unit = 1000000
        end = pos
        while end < len(s) and s[end].isascii() and s[end].isalpha():
            end += 1
        if end > pos:
            if s[pos:end] not in _UNITS_USEC:
                raise ValueError(f"unknown time unit {s[pos:end]!r} in {s!r}")
            unit = _UNITS_USEC[s[pos:end]]
            pos = end
        total += _scale(v, frac, unit, s)
        any_part = True
    if not any_part or total > _U64_MAX:
        raise ValueError(f"not a time span: {s!r}")
    return total


def parse_size(s):
    """Bytes of a size: a number with an optional suffix B, K, M, G, T (1K = 1024)."""
    v, frac, pos = _decimal(s, 0)
    rest = s[pos:]
    if rest:
        if rest not in _SIZE_UNITS:
            raise ValueError(f"not a size: {s!r}")
        return _scale(v, frac, _SIZE_UNITS[rest], s)
    if frac:
        raise ValueError(f"a fraction of a byte: {s!r}")
    return _scale(v, "", 1, s)


def parse_uint(s):
    v, frac, pos = _decimal(s, 0)
    if pos != len(s) or frac or "." in s:
        raise ValueError(f"not a count: {s!r}")
    if v > _U64_MAX:
        raise ValueError(f"out of range: {s!r}")
    return v
