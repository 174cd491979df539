"""Find unmasked personal numbers in text: 18-character resident ID numbers whose GB 11643
check character is right, and 11-digit mainland mobile numbers.

Written apart from common.masking on purpose (a scan that shared the masking's patterns
would share its blind spots): digits are found wherever they are, next to letters or CJK
text, with one space, dash or dot between them, in full-width forms too. Long hex strings
(hashes, UUIDs) are left out first, since their digit runs are not numbers.

    python tests/pii_scan.py FILE...   # prints each finding masked, exits 1 if any
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F-]{32,}(?![0-9A-Za-z])")
# Numbers a program drew or computed, never a person's: SVG geometry attributes (charts draw
# their text as glyph outlines, whose coordinates the separator rule would glue into runs),
# base64 data URIs (an embedded font), and floats as Python prints them (a short integer part
# and seven or more fraction digits: 0.42857142857142855). An ID or phone split by dots has
# longer groups before its dots or shorter ones after them, so it is still found.
_GENERATED = re.compile(
    r'\b(?:d|transform|points|viewBox|x[12]?|y[12]?|cx|cy|r|width|height|clip-path|style)="[^"]*"'
    r'|data:[^"\')\s]*|(?<![0-9.])[0-9]{1,5}\.[0-9]{7,}(?![0-9.])')
_SEPARATED = re.compile(r"(?<=[0-9])[ \-.](?=[0-9])")
# A digit run (X allowed last for an ID) that is not part of a longer one.
_RUN = re.compile(r"(?<![0-9])(?:[0-9]{17}[Xx]|[0-9]+)(?![0-9])")
_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of an ID number."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def _runs(text: str):
    """Digit runs as written and with single separators between digits taken out (a
    separator may split one number or stand between two: both readings are checked)."""
    text = _HEX.sub(" ", _GENERATED.sub(" ", unicodedata.normalize("NFKC", text)))  # full-width forms too
    for variant in (text, _SEPARATED.sub("", text)):
        yield from (m.group(0).upper() for m in _RUN.finditer(variant))


def findings(text: str) -> list[tuple[str, str]]:
    """(kind, masked example) of every unmasked ID number or mobile number in `text`."""
    found = []
    for run in dict.fromkeys(_runs(text)):
        if len(run) == 18 and run[:17].isdigit() and check_char(run[:17]) == run[17]:
            found.append(("id_number", run[:6] + "*" * 12))
        elif len(run) == 11 and re.fullmatch(r"1[3-9][0-9]{9}", run):
            found.append(("mobile", run[:3] + "*" * 8))
        elif len(run) == 13 and re.fullmatch(r"861[3-9][0-9]{9}", run):
            found.append(("mobile", run[:5] + "*" * 8))
    return found


def scan_files(paths) -> dict[str, list[tuple[str, str]]]:
    """{path: findings} for the text files given (only those with findings)."""
    result = {}
    for path in paths:
        hits = findings(Path(path).read_text(encoding="utf-8", errors="replace"))
        if hits:
            result[str(path)] = hits
    return result


if __name__ == "__main__":
    report = scan_files(sys.argv[1:])
    for name, hits in report.items():
        print(f"{name}: {len(hits)} unmasked: " + ", ".join(f"{k} {v}" for k, v in hits[:5]))
    sys.exit(1 if report else 0)
