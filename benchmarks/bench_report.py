"""The daily report's build time and peak memory: the HTML (charts, font subset), the PDF
(headless Chromium) and the feeds, for the city at the simulator's `district` and `city`
layouts (82 and 640 divisions), from 30 days of indicator rows for every division and every
indicator plus the month to date, in an embedded DuckDB warehouse.

    python benchmarks/bench_report.py                  # both layouts
    python benchmarks/bench_report.py --scale city

The rows are synthetic (random numerators and denominators per division and day): the
report reads only shared.indicator_value, so what it costs depends on how many rows and
divisions there are, not on how they were computed. Each build runs in a fresh interpreter
(cold imports, its own peak memory).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from measure import record, run_child  # noqa: E402

DAY = "2026-11-28"

PREPARE = """
import numpy as np, pandas as pd
from datetime import date, timedelta, datetime, UTC
from pathlib import Path
from simulator.city import build_divisions, build_departments
from simulator.model import SCALES
from reports.labels import INDICATORS, RATE
from warehouse.migrate import open_warehouse

root, day = Path({root!r}), date.fromisoformat({day!r})
divisions, grids = build_divisions(42, SCALES[{scale!r}])
(root / "reference").mkdir(parents=True, exist_ok=True)
divisions.to_csv(root / "reference" / "divisions.csv", index=False)
grids.to_csv(root / "reference" / "grids.csv", index=False)
build_departments(divisions).to_csv(root / "reference" / "departments.csv", index=False)
rng = np.random.default_rng(7)
codes = [c for c in INDICATORS if not c.startswith("sharing.")]
periods = [("day", day - timedelta(days=n)) for n in range(30)] + [("month", day.replace(day=1))]
index = pd.MultiIndex.from_product([codes, range(len(periods)), divisions["code"]],
                                   names=["indicator_code", "p", "division_code"])
frame = index.to_frame(index=False)
frame["period_kind"] = [periods[p][0] for p in frame["p"]]
frame["period_start"] = [periods[p][1] for p in frame["p"]]
rate = frame["indicator_code"].map(lambda c: INDICATORS[c].kind == RATE).to_numpy()
denominator = rng.integers(0, 60, len(frame)).astype(float)
numerator = np.floor(denominator * rng.uniform(0.6, 1.0, len(frame)))
frame["numerator"] = numerator
frame["denominator"] = np.where(rate, denominator, np.nan)
frame["value"] = np.where(rate, np.where(denominator > 0, numerator / np.maximum(denominator, 1),
                                         np.nan), numerator)
sharing = pd.DataFrame({{"indicator_code": "sharing.freshness_hours", "period_kind": "day",
                        "period_start": day, "division_code": divisions.loc[
                            divisions["level"] == "city", "code"].iloc[0],
                        "dimension": ["hotline.tickets", "grid.events", "rosters"],
                        "value": [4.0, 50.0, 300.0], "numerator": [4.0, 50.0, 300.0],
                        "denominator": np.nan}})
frame = pd.concat([frame.drop(columns="p").assign(dimension=None), sharing], ignore_index=True)
frame["computed_at"] = datetime(2026, 11, 29, tzinfo=UTC)
frame["revised"] = False
frame["run_id"] = "bench"
engine = open_warehouse(f"duckdb:///{{root / 'w.duckdb'}}")
raw = engine.raw_connection()
con = raw.driver_connection
con.register("rows", frame)
con.execute("INSERT INTO shared.indicator_value (indicator_code, period_kind, period_start, "
            "division_code, dimension, value, numerator, denominator, computed_at, revised, "
            "run_id) SELECT indicator_code, period_kind, period_start, division_code, "
            "dimension, value, numerator, denominator, computed_at, revised, run_id FROM rows")
raw.commit()
raw.close()
engine.dispose()
print(len(frame), len(divisions))
"""

BUILD = """
import json, resource, time
from datetime import date
from pathlib import Path
t0 = time.perf_counter()
from common.reference import load_reference
from reports.build import build_report
from warehouse.migrate import open_warehouse
root = Path({root!r})
engine = open_warehouse(f"duckdb:///{{root / 'w.duckdb'}}")
reference = load_reference(root / "reference")
t1 = time.perf_counter()
built = build_report(engine, reference, date.fromisoformat({day!r}), root / {out!r},
                     pdf={pdf!r})
t2 = time.perf_counter()
print(json.dumps({{"imports": t1 - t0, "build": t2 - t1,
                  "html_kib": built.html.stat().st_size / 1024,
                  "pdf_kib": built.pdf.stat().st_size / 1024 if built.pdf else None,
                  "feed_rows": sum(1 for _ in built.feeds["csv"].open(encoding="utf-8-sig")) - 1,
                  "callouts": len(built.callouts),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=["district", "city"], action="append")
    args = parser.parse_args()
    lines = ["| layout | divisions | indicator rows | HTML only | HTML + PDF | peak memory "
             "| HTML | PDF | feed rows |", "|---|---|---|---|---|---|---|---|---|"]
    for scale in args.scale or ["district", "city"]:
        root = tempfile.mkdtemp(prefix=f"govshare-report-{scale}-")
        rows, divisions = run_child(PREPARE.format(root=root, day=DAY, scale=scale)) \
            .split()[-2:]
        # The first build also takes the Simplified Chinese face out of the font collection
        # into the cache; warm it so both figures are of a normal morning.
        run_child(BUILD.format(root=root, day=DAY, out="warm", pdf=False))
        html = json.loads(run_child(BUILD.format(root=root, day=DAY, out="html", pdf=False))
                          .splitlines()[-1])
        full = json.loads(run_child(BUILD.format(root=root, day=DAY, out="full", pdf=True))
                          .splitlines()[-1])
        lines.append(
            f"| `{scale}` | {int(divisions):,} | {int(rows):,} | {html['build']:.1f} s "
            f"| {full['build']:.1f} s | {max(html['peak_mib'], full['peak_mib']):,.0f} MiB "
            f"| {full['html_kib']:,.0f} KiB | {full['pdf_kib']:,.0f} KiB "
            f"| {full['feed_rows']:,} |")
    lines += ["", "Build time excludes interpreter start and imports (about "
              f"{full['imports']:.1f} s cold); peak memory is the build process's (Chromium "
              "printing the PDF runs as its own process and is not counted)."]
    record("Daily report build", "python benchmarks/bench_report.py", lines)


if __name__ == "__main__":
    main()
