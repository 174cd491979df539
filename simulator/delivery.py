"""Deliver the simulated drop folders as the vendors would, over time.

The simulator writes every export at once; a real drop folder receives them day by day:
a grid day's file shortly after midnight (and a corrected re-export days later, replacing it
under the same name), a street's monthly roster at the start of its month.
`deliver(sim_dir, drop_dir, until)` makes `drop_dir` hold what had arrived by `until`.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd


def _copy_if_changed(src: Path, dst: Path) -> bool:
    if dst.exists() and dst.read_bytes() == src.read_bytes():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.part")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)  # a vendor's upload appears whole
    return True


def deliver(sim_dir: str | Path, drop_dir: str | Path, until: datetime) -> list[str]:
    """Bring `drop_dir` up to date with every export dropped by `until` (tz-aware);
    returns the relative paths written."""
    sim_dir, drop_dir = Path(sim_dir), Path(drop_dir)
    written = []
    exports = pd.read_parquet(sim_dir / "truth" / "grid_exports.parquet")
    exports = exports[pd.to_datetime(exports["dropped_at"], utc=True) <= pd.Timestamp(until)]
    latest = exports.sort_values("export_version").groupby("file").tail(1)
    for row in latest.itertuples(index=False):
        if _copy_if_changed(sim_dir / row.stored_path, drop_dir / row.file):
            written.append(row.file)
    rosters = pd.read_parquet(sim_dir / "truth" / "rosters_files.parquet")
    month = f"{until:%Y%m}"
    for path in rosters.loc[rosters["roster_month"] <= month, "path"]:
        if _copy_if_changed(sim_dir / path, drop_dir / path):
            written.append(path)
    return written
