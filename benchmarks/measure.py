"""Shared helpers for benchmark scripts: timing, peak memory, the machine's description,
and appending figures to docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(results: dict, name: str):
    t0 = time.perf_counter()
    yield
    results[name] = time.perf_counter() - t0


def markdown_table(header: list[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table: a header row, the rule, one line per row of cells."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def run_child(code: str) -> str:
    """Run Python code in a fresh interpreter (own peak memory, cold imports); its stdout."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=REPO).stdout


def pairwise(pred, truth) -> dict:
    """Pairwise precision, recall and F1 of a clustering (`pred`, labels per record) against
    the true entities (`truth`), counting pairs of records inside clusters."""
    import pandas as pd

    def pairs(*keys):
        sizes = pd.DataFrame({f"k{i}": pd.Series(k).to_numpy() for i, k in enumerate(keys)}) \
            .groupby([f"k{i}" for i in range(len(keys))]).size()
        return float((sizes * (sizes - 1) / 2).sum())
    both, predicted, true = pairs(pred, truth), pairs(pred), pairs(truth)
    p = both / predicted if predicted else 1.0
    r = both / true if true else 1.0
    return {"P": p, "R": r, "F1": 2 * p * r / (p + r) if p + r else 0.0}


def bcubed(pred, truth) -> dict:
    """B-cubed precision, recall and F1 (per-record averages) of a clustering."""
    import pandas as pd

    frame = pd.DataFrame({"p": pd.Series(pred).to_numpy(), "t": pd.Series(truth).to_numpy()})
    both = frame.groupby(["p", "t"])["p"].transform("size")
    p = (both / frame.groupby("p")["p"].transform("size")).mean()
    r = (both / frame.groupby("t")["t"].transform("size")).mean()
    return {"B3_P": p, "B3_R": r, "B3_F1": 2 * p * r / (p + r)}


def record(section: str, command: str, lines: list[str]) -> None:
    """Print the figures and replace `section` in docs/benchmarks.md with them."""
    body = [f"## {section}", "", f"- machine: {machine()}", f"- command: `{command}`",
            f"- measured: {time.strftime('%Y-%m-%d')}", ""] + lines + [""]
    print("\n".join(body))
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else \
        "# Benchmarks\n\nFigures printed by the scripts in `benchmarks/`; each section is " \
        "replaced when its script runs again.\n\n"
    start = text.find(f"## {section}\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + text[end + 1:] if end >= 0 else text[:start]
    BENCHMARKS_MD.write_text(text.rstrip("\n") + "\n\n" + "\n".join(body), encoding="utf-8")
