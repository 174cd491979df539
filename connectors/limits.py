"""Bounded parsing: the checks every parser makes before it holds what a file asks for.

A delivered file is untrusted input: a 1 MB gzip file may inflate to gigabytes, a JSON line
may nest deep enough to exhaust Python's recursion, a workbook may declare a million rows.
Each check here costs a scan in C (bytes.count, a regular expression) or a bounded read,
and raises `LimitExceeded` naming the limit (`common.settings.ParserLimits`) it broke, so
the file-drop base can quarantine the file whole with that reason.
"""

from __future__ import annotations

import gzip
import io
import re

import numpy as np

from common.settings import ParserLimits

__all__ = ["LimitExceeded", "ParserLimits", "container_end", "inflate_gzip", "json_depth",
           "too_deep"]


class LimitExceeded(Exception):
    """A file (or an item) is over one of the parser limits; the message names it."""

    def __init__(self, limit: str, value: int, detail: str):
        self.limit, self.value = limit, value
        super().__init__(f"over the limit {limit} = {value}: {detail}")


def inflate_gzip(data: bytes, max_bytes: int) -> bytes:
    """The decompressed bytes of a gzip file (every member), reading at most one byte past
    `max_bytes`: a bomb costs `max_bytes` of memory, never what it inflates to. Damaged
    data raises what gzip raises (OSError, EOFError, zlib.error)."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        inflated = stream.read(max_bytes + 1)
    if len(inflated) > max_bytes:
        raise LimitExceeded("max_file_bytes", max_bytes,
                            "the gzip file decompresses to more bytes")
    return inflated


# A JSON string, escapes included: skipped whole, so brackets inside strings do not count.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (0 for a scalar), in C
    speed: strings and everything but brackets removed by regular expressions, the depth a
    running sum. Malformed text gets a depth too; the JSON parser rejects it afterwards."""
    skeleton = _NOT_BRACKETS.sub("", _STRINGS.sub("", text)).encode("ascii")
    if not skeleton:
        return 0
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return max(0, int(np.cumsum(steps).max()))


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def container_end(text: str, pos: int) -> tuple[int, int]:
    """(end, depth) of the JSON array or object opening at text[pos], found without parsing
    it (strings skipped whole): how a too-deep record is stepped over."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text, pos):
        first = match.group()[0]
        if first in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif first in "]}":
            depth -= 1
            if depth == 0:
                return match.end(), deepest
    raise ValueError("JSON ends early")


def too_deep(text: str, max_depth: int) -> bool:
    """Whether a JSON text nests deeper than `max_depth`: free when it holds fewer brackets
    than that (str.count runs in C), one regular-expression scan otherwise."""
    if text.count("[") + text.count("{") <= max_depth:
        return False
    return json_depth(text) > max_depth
