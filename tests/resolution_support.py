"""A simulated city extracted and validated through `govshare.pipeline` (no Airflow), for the
resolution tests and benchmarks: the pattern of tests/test_pipeline_e2e.py without faults."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from govshare import pipeline
from govshare.simulator.delivery import deliver
from govshare.simulator.departments import TABLES
from govshare.simulator.hotline_server import serve_hotline
from govshare.simulator.run import simulate

TZ = ZoneInfo("Asia/Shanghai")
TOKEN = "resolution-token-not-secret"


def staged_city(root: Path, scale: str = "tiny", seed: int = 7, days: int = 2,
                start: date = date(2026, 11, 2), run_days: int | None = None,
                progress=lambda m: None) -> tuple[dict, Path]:
    """Simulate `days` days and run extraction + validation for each of `run_days` daily
    windows (default `days`). Returns (config, simulation directory)."""
    root = Path(root)
    sim = root / "sim"
    simulate(sim, scale=scale, seed=seed, start=start, days=days, progress=progress)
    departments = f"duckdb:///{sim / 'departments.duckdb'}"
    day0 = datetime.combine(start, datetime.min.time(), tzinfo=TZ)
    with serve_hotline(sim / "hotline" / "tickets.sqlite", token=TOKEN) as server:
        config = {
            "warehouse_url": f"duckdb:///{root / 'warehouse.duckdb'}",
            "landing_root": str(root / "landing"),
            "reference": {"root": str(sim / "reference")},
            "data_docs_dir": str(root / "data_docs"),
            "volume_check": {"min_runs": 10_000},
            "departments": [{"table": t, "key": k, "url": departments}
                            for t, (_, k) in TABLES.items()],
            "hotline": {"base_url": server.url, "token": TOKEN, "page_size": 1000,
                        "max_requests_per_second": 1000},
            "grid": {"root": str(root / "drop")},
            "rosters": {"root": str(root / "drop")},
        }
        for day in range(run_days or days):
            since, until = day0 + timedelta(days=day), day0 + timedelta(days=day + 1)
            deliver(sim, root / "drop", until + timedelta(hours=2))
            for source in pipeline.source_names(config):
                run_id = f"day{day}"
                pipeline.extract(source, since, until, run_id, config)
                pipeline.validate_and_load(source, until.date() - timedelta(days=1), run_id,
                                           config)
                progress(f"day {day}: {source}")
    config.pop("hotline")
    return config, sim
