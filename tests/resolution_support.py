"""A simulated city extracted and validated through `pipeline` (no Airflow), for the
resolution tests, the engine-parity tests and the benchmarks: the pattern of
tests/test_pipeline_e2e.py without faults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipeline import extraction, staging
from simulator.delivery import deliver
from simulator.departments import TABLES
from simulator.hotline_server import NO_FAULTS, serve_hotline
from simulator.profiles import simulated_city
from simulator.run import simulate

TZ = ZoneInfo("Asia/Shanghai")
TOKEN = "resolution-token-not-secret"
# The tables two runs of the city are compared on (engine parity, faults against none).
COMPARED_TABLES = [
    "shared.resident", "shared.resident_xref", "shared.resident_history",
    "shared.unit", "shared.unit_xref", "shared.unit_history",
    "shared.hotline_ticket", "shared.hotline_dispatch", "shared.grid_event",
    "shared.grid_event_person", "shared.grid_event_unit", "shared.community_worker",
    "shared.quarantine", "core.person_mention", "core.unit_mention",
    "staging.record_version"]


@dataclass
class Task:
    """One task of a simulated day, as run_city is about to run it: `run()` runs it; a fault
    scenario's `run_task` may instead kill it, break what it talks to, or run it twice."""

    stage: str  # deliver, extract, validate_load, resolve, publish
    day: int
    source: str | None
    call: Callable[..., Any]
    args: tuple
    server: Any  # the hotline ServerHandle (its `faults` can be switched)

    def run(self):
        return self.call(*self.args)


def staged_city(root: Path, scale: str = "tiny", seed: int = 7, days: int = 2,
                start: date = date(2026, 11, 2), run_days: int | None = None,
                progress=lambda m: None, warehouse_url: str | None = None,
                city: str = "hohhot", noise: str = "default") -> tuple[dict, Path]:
    """Simulate `days` days of the city profile `city` under the noise profile `noise` and
    run extraction + validation for each of `run_days` daily windows (default `days`) into
    `warehouse_url` (default: a DuckDB file under `root`). Returns (config, simulation
    directory)."""
    root = Path(root)
    sim = root / "sim"
    simulate(sim, scale=scale, seed=seed, start=start, days=days, progress=progress,
             city=city, noise=noise)
    config = run_city(sim, root, start, run_days or days, warehouse_url=warehouse_url,
                      progress=progress)
    return config, sim


def run_city(sim: Path, root: Path, start: date, days: int, warehouse_url: str | None = None,
             resolve_and_publish: bool = False, faults=None, progress=lambda m: None,
             timings: dict | None = None, run_task: Callable[[Task], Any] | None = None,
             day_order: list[int] | None = None, overrides: dict | None = None) -> dict:
    """Run the daily pipeline over the simulated city in `sim` for `days` daily windows from
    `start`: delivery, then extract and validate each source, then (with
    `resolve_and_publish`) resolution and publication, as the daily DAG orders them. The
    landing zone, drop folder and default DuckDB warehouse live under `root`; `timings`
    collects seconds per stage. `run_task` runs each task (default: `Task.run`), so a fault
    scenario can break one; `day_order` runs the days out of order; `overrides` replaces
    sources-file keys. Returns the sources config (without the hotline, whose server stops
    on return)."""
    import time

    from pipeline.publication import publish
    from pipeline.resolution import resolve

    root = Path(root)
    timings = timings if timings is not None else {}

    def timed(stage, day, source, call, *args):
        began = time.perf_counter()
        task = Task(stage, day, source, call, args, server)
        try:
            return run_task(task) if run_task else task.run()
        finally:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - began

    departments = f"duckdb:///{sim / 'departments.duckdb'}"
    day0 = datetime.combine(start, datetime.min.time(), tzinfo=TZ)
    with serve_hotline(sim / "hotline" / "tickets.sqlite", token=TOKEN,
                       faults=faults or NO_FAULTS) as server:
        config = {
            "warehouse_url": warehouse_url or f"duckdb:///{root / 'warehouse.duckdb'}",
            "landing_root": str(root / "landing"),
            "reference": {"root": str(sim / "reference")},
            "city": simulated_city(sim).sources_city(),
            "data_docs_dir": str(root / "data_docs"),
            "volume_check": {"min_runs": 10_000},
            "departments": [{"table": t, "key": k, "url": departments}
                            for t, (_, k) in TABLES.items()],
            "hotline": {"base_url": server.url, "token": TOKEN, "page_size": 1000,
                        "max_requests_per_second": 1000, "backoff_base": 0.01,
                        "backoff_max": 0.05, "max_retries": 12},
            "grid": {"root": str(root / "drop")},
            "rosters": {"root": str(root / "drop")},
            **(overrides or {}),
        }
        for day in day_order or range(days):
            since, until = day0 + timedelta(days=day), day0 + timedelta(days=day + 1)
            timed("deliver", day, None, deliver, sim, root / "drop", until + timedelta(hours=2))
            run_id = f"day{day}"
            for source in extraction.source_names(config):
                timed("extract", day, source, extraction.extract, source, since, until, run_id,
                      config)
                timed("validate_load", day, source, staging.validate_and_load, source,
                      until.date() - timedelta(days=1), run_id, config)
                progress(f"day {day}: {source}")
            if resolve_and_publish:
                timed("resolve", day, None, resolve, config, run_id)
                timed("publish", day, None, publish, config, run_id)
                progress(f"day {day}: resolved and published")
    config.pop("hotline")
    return config
