"""The daily DAG on each warehouse engine: `govshare demo` (the simulated city, run day by
day through Airflow's `dag.test()`) into the embedded DuckDB file and into PostgreSQL;
seconds per stage from Airflow's own task records, and the published counts, which must
agree.

    python benchmarks/bench_pipeline_engines.py                      # the demo city, 3 days
    python benchmarks/bench_pipeline_engines.py --days 30 --section "Daily DAG per engine, small city, 30 days"

PostgreSQL: a fresh database is created on GOVSHARE_BENCH_PG_ADMIN_URL (default the local
server) and dropped afterwards. The floor beside the stage times is the simulator's own time
to emit the sources (the pipeline cannot be faster than reading what was written)."""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import record  # noqa: E402

ADMIN = os.environ.get("GOVSHARE_BENCH_PG_ADMIN_URL",
                       "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
STAGES = ("extract", "validate_load", "resolve", "publish", "check_freshness")
COUNTED = ("resident", "resident_xref", "unit", "unit_xref", "hotline_ticket", "grid_event",
           "community_worker", "quarantine")


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = {t: conn.execute(sa.text(f"SELECT count(*) FROM shared.{t}")).scalar()
                  for t in COUNTED}
        result["staged"] = conn.execute(sa.text(
            "SELECT count(*) FROM staging.record_version")).scalar()
    engine.dispose()
    return result


def stage_seconds(airflow_db: Path) -> dict[str, float]:
    """Seconds per stage, summed over every day and source, from Airflow's task records."""
    with sqlite3.connect(airflow_db) as conn:
        rows = conn.execute("SELECT task_id, duration FROM task_instance").fetchall()
    seconds: dict[str, float] = {}
    for task_id, duration in rows:
        stage = task_id.rsplit(".", 1)[-1]
        seconds[stage] = seconds.get(stage, 0.0) + (duration or 0.0)
    return seconds


def run_demo(home: Path, args, warehouse: str, env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "govshare"), "demo", "--home", str(home),
         "--scale", args.scale, "--seed", str(args.seed), "--days", str(args.days),
         "--warehouse", warehouse], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
    return time.perf_counter() - t0, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--section", default="Daily DAG per engine, demo city (small, 3 days)")
    args = parser.parse_args()
    database = f"govshare_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {database}")
    pg_url = ADMIN.rsplit("/", 1)[0] + f"/{database}"
    timings, published, days_ok, floor = {}, {}, {}, None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, warehouse in (("DuckDB", "duckdb"), ("PostgreSQL", "postgres")):
                home = Path(tmp) / warehouse
                env = {**os.environ, "GOVSHARE_WAREHOUSE_URL": pg_url}
                wall, output = run_demo(home, args, warehouse, env)
                print(output)
                found = re.search(r"simulated in ([0-9.]+)s", output)
                floor = floor or (float(found.group(1)) if found else None)
                timings[name] = {**stage_seconds(home / "airflow" / "airflow.db"),
                                 "total (wall)": wall}
                days_ok[name] = (output.count(": success ("), args.days)
                published[name] = counts(pg_url if warehouse == "postgres"
                                         else f"duckdb:///{home / 'warehouse.duckdb'}")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.dispose()
    same = published["DuckDB"] == published["PostgreSQL"]
    green = all(ok == total for ok, total in days_ok.values())
    lines = [f"`govshare demo --scale {args.scale} --seed {args.seed} --days {args.days}` "
             "with `--warehouse duckdb` and `--warehouse postgres`: the daily DAG through "
             "Airflow's `dag.test()`, one run per simulated day. Stage seconds are Airflow's "
             "task durations summed over days and sources; the wall time includes simulating "
             "the city and Airflow's set-up."
             + (f" Floor: the simulator emits the city in {floor:.1f} s." if floor else ""), "",
             "| stage | DuckDB s | PostgreSQL s |", "|---|---|---|"]
    for stage in (*STAGES, "total (wall)"):
        lines.append(f"| {stage} | {timings['DuckDB'].get(stage, 0):.1f} | "
                     f"{timings['PostgreSQL'].get(stage, 0):.1f} |")
    lines += ["", "| days green | " + " | ".join(f"{ok} of {total}" for ok, total
                                              in days_ok.values()) + " |", "",
              "| published | DuckDB | PostgreSQL |", "|---|---|---|"]
    for table in (*COUNTED, "staged"):
        lines.append(f"| {table} | {published['DuckDB'][table]:,} | "
                     f"{published['PostgreSQL'][table]:,} |")
    lines += ["", f"Published counts identical on both engines: **{'yes' if same else 'NO'}**."]
    record(args.section, "python benchmarks/bench_pipeline_engines.py "
           + " ".join(sys.argv[1:]), lines)
    return 0 if same and green else 1


if __name__ == "__main__":
    sys.exit(main())
