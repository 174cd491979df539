"""Masking log lines (common.masking.mask_text) beside a floor: one plain regular-expression
substitution over the same lines, so the figure says what masking costs a task's logging."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import markdown_table, record  # noqa: E402
from common.masking import mask_text  # noqa: E402
from transforms.identifiers import gb11643_check_char  # noqa: E402

# A synthetic ID number, built here rather than written out: area 999999 (no real division),
# a made-up birth date and sequence, and its GB 11643 check character.
_ID = "999999" + "20000101" + "123"
LINE = (f"ticket 20250101000123 caller 13812345678 id {_ID}{gb11643_check_char(_ID)} status ok "
        * 3)
LINES = 10_000


def _seconds(function) -> float:
    start = time.perf_counter()
    for _ in range(LINES):
        function(LINE)
    return time.perf_counter() - start


def main() -> None:
    digits = re.compile(r"\d{11,18}")
    floor = _seconds(lambda line: digits.sub("*", line))
    masked = _seconds(mask_text)
    record("Masking log lines (mask_text)", "python benchmarks/bench_masking.py", [
        f"{LINES:,} log lines of {len(LINE)} characters, each with an ID number, a phone and a "
        "ticket number.", "", *markdown_table(
            ["path", "seconds", "µs per line", "beside the floor"],
            [["floor: one regex substitution", f"{floor:.2f}", f"{floor / LINES * 1e6:.0f}", "1×"],
             ["mask_text", f"{masked:.2f}", f"{masked / LINES * 1e6:.0f}",
              f"{masked / floor:.1f}×"]])])


if __name__ == "__main__":
    main()
