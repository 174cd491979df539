"""Resolution at full city scale: wall time and peak memory of the first full resolution,
then of one day's incremental run against the city's entities.

    python benchmarks/bench_simulate.py --scale city --out /tmp/city   # once
    python benchmarks/bench_resolution_scale.py --sim /tmp/city

Day 0 stages every register in full (the first run's initial load) plus the first day of
hotline tickets, grid exports and rosters; day 1 stages the next day's changes. Accuracy is
measured by bench_resolution_city.py against the ground truth (at `district` scale)."""

from __future__ import annotations

import argparse
import json
import tempfile

from common import record, run_child

CODE = """
import json, logging, resource, time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo
from govshare import pipeline
from govshare.simulator.delivery import deliver
from govshare.simulator.departments import TABLES
from govshare.simulator.hotline_server import serve_hotline
from transforms.resolution.run import resolve

logging.basicConfig(level=logging.WARNING)
sim, work = Path({sim!r}), Path({work!r})
tz = ZoneInfo("Asia/Shanghai")
day0 = datetime(2026, 11, 1, tzinfo=tz)
timings = {{}}
with serve_hotline(sim / "hotline" / "tickets.sqlite", token="bench") as server:
    config = {{
        "warehouse_url": f"duckdb:///{{work / 'warehouse.duckdb'}}",
        "landing_root": str(work / "landing"), "reference": {{"root": str(sim / "reference")}},
        "data_docs_dir": str(work / "docs"),
        "departments": [{{"table": t, "key": k, "url": f"duckdb:///{{sim / 'departments.duckdb'}}"}}
                        for t, (_, k) in TABLES.items()],
        "hotline": {{"base_url": server.url, "token": "bench", "page_size": 1000,
                    "max_requests_per_second": 50}},
        "grid": {{"root": str(work / "drop")}}, "rosters": {{"root": str(work / "drop")}},
    }}
    for day in (0, 1):
        since, until = day0 + timedelta(days=day), day0 + timedelta(days=day + 1)
        deliver(sim, work / "drop", until + timedelta(hours=2))
        t0 = time.perf_counter()
        for source in pipeline.source_names(config):
            pipeline.extract(source, since, until, f"day{{day}}", config)
            pipeline.validate_and_load(source, since.date(), f"day{{day}}", config)
        timings[f"stage_day{{day}}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        counts = resolve(config, f"day{{day}}")
        timings[f"resolve_day{{day}}"] = time.perf_counter() - t0
        timings[f"counts_day{{day}}"] = {{k: {{c: v[c] for c in ("mode", "mentions", "scope",
                                                          "entities")}}
                                        for k, v in counts.items()}}
        timings[f"peak_mib_after_day{{day}}"] = (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(timings))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True, help="output of bench_simulate.py --scale city")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="govshare-resolution-")
    t = json.loads(run_child(CODE.format(sim=args.sim, work=work)).splitlines()[-1])
    lines = ["| run | mentions resolved | entities | seconds | peak memory so far |",
             "|---|---|---|---|---|"]
    for day in (0, 1):
        counts = t[f"counts_day{day}"]
        for kind in ("resident", "unit"):
            c = counts[kind]
            lines.append(f"| day {day}, {kind}s ({c['mode']}) | {c['mentions']:,} "
                         f"(scope {c['scope']:,}) | {c['entities']:,} | "
                         f"{t[f'resolve_day{day}']:.0f} (both kinds) | "
                         f"{t[f'peak_mib_after_day{day}']:,.0f} MiB |")
    lines += ["", f"Staging (extract + validate + load) took {t['stage_day0']:.0f} s for day 0 "
              f"(every register in full) and {t['stage_day1']:.0f} s for day 1."]
    record("Resolution, scale city", f"python benchmarks/bench_resolution_scale.py --sim {args.sim}",
           lines)


if __name__ == "__main__":
    main()
