"""Resolution at full city scale: wall time and peak memory of the first full resolution of
every register row, then of one day's incremental run against the city's entities.

    govshare simulate --scale city --days 2 --out /tmp/city   # once (about 4 min, 10 GB)
    python benchmarks/bench_resolution_scale.py --sim /tmp/city

Day 0 stages every register in full (the first run's initial load) plus the first day of
hotline tickets, grid exports and rosters; day 1 stages the next day's changes. Staging and
resolution run in separate processes, as the DAG's tasks do, so each peak is its own.
Accuracy is measured by bench_resolution_city.py against the ground truth (at `district`
scale)."""

from __future__ import annotations

import argparse
import json
import tempfile

from measure import record, run_child

SETUP = """
import json, logging, resource, time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo
logging.basicConfig(level=logging.WARNING)
sim, work, day = Path({sim!r}), Path({work!r}), {day}
since = datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Shanghai")) + timedelta(days=day)
until = since + timedelta(days=1)
config = {{
    "warehouse_url": f"duckdb:///{{work / 'warehouse.duckdb'}}",
    "landing_root": str(work / "landing"), "reference": {{"root": str(sim / "reference")}},
    "data_docs_dir": str(work / "docs"),
    "grid": {{"root": str(work / "drop")}}, "rosters": {{"root": str(work / "drop")}},
}}
def report(**figures):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures | {{"peak_mib": peak}}))
"""

STAGE = SETUP + """
from pipeline import extraction, staging
from simulator.delivery import deliver
from simulator.departments import TABLES
from simulator.hotline_server import serve_hotline
config["departments"] = [{{"table": t, "key": k, "url": f"duckdb:///{{sim / 'departments.duckdb'}}"}}
                         for t, (_, k) in TABLES.items()]
with serve_hotline(sim / "hotline" / "tickets.sqlite", token="bench") as server:
    config["hotline"] = {{"base_url": server.url, "token": "bench", "page_size": 1000,
                         "max_requests_per_second": 50}}
    deliver(sim, work / "drop", until + timedelta(hours=2))
    t0 = time.perf_counter()
    for source in extraction.source_names(config):
        extraction.extract(source, since, until, f"day{{day}}", config)
        staging.validate_and_load(source, since.date(), f"day{{day}}", config)
    report(seconds=time.perf_counter() - t0)
"""

RESOLVE = SETUP + """
from pipeline.resolution import resolve
t0 = time.perf_counter()
counts = resolve(config, f"day{{day}}")
report(seconds=time.perf_counter() - t0,
       counts={{k: {{c: v[c] for c in ("mode", "mentions", "scope", "entities")}}
               for k, v in counts.items()}})
"""


def _child(code: str, sim: str, work: str, day: int) -> dict:
    return json.loads(run_child(code.format(sim=sim, work=work, day=day)).splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True,
                        help="output of `govshare simulate --scale city --days 2`")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="govshare-resolution-")
    lines = ["| run | mentions resolved | entities (re)built | seconds (both kinds) | peak memory |",
             "|---|---|---|---|---|"]
    staging = []
    for day in (0, 1):
        staging.append(_child(STAGE, args.sim, work, day))
        resolved = _child(RESOLVE, args.sim, work, day)
        for kind in ("resident", "unit"):
            c = resolved["counts"][kind]
            lines.append(f"| day {day}, {kind}s ({c['mode']}) | {c['mentions']:,} "
                         f"(scope {c['scope']:,}) | {c['entities']:,} | "
                         f"{resolved['seconds']:.0f} | {resolved['peak_mib']:,.0f} MiB |")
    lines += ["", f"Staging (extract + validate + load, its own process) took "
              f"{staging[0]['seconds']:.0f} s with {staging[0]['peak_mib']:,.0f} MiB peak for "
              f"day 0 (every register in full) and {staging[1]['seconds']:.0f} s with "
              f"{staging[1]['peak_mib']:,.0f} MiB for day 1."]
    record("Resolution, scale city", f"python benchmarks/bench_resolution_scale.py --sim {args.sim}",
           lines)


if __name__ == "__main__":
    main()
