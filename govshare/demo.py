"""`govshare demo`: simulate a city, serve its hotline, run the daily DAG through Airflow
for a few days into the embedded warehouse, and say where everything is."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy.engine import make_url as sa_url

START = date(2026, 11, 1)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def _step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def demo_sources(sim_dir: Path, home: Path, hotline_url: str,
                 warehouse_url: str | None = None) -> dict:
    """The sources file for the simulated city (the token comes from the environment); the
    warehouse is a DuckDB file in `home` unless `warehouse_url` names another."""
    departments = f"duckdb:///{sim_dir / 'departments.duckdb'}"
    return {
        "warehouse_url": warehouse_url or f"duckdb:///{home / 'warehouse.duckdb'}",
        "landing_root": str(home / "landing"),
        "data_docs_dir": str(home / "data_docs"),
        "reference": {"root": str(sim_dir / "reference")},
        "departments": [
            {"table": "civil_affairs.residents", "key": "resident_no", "url": departments},
            {"table": "market_regulation.enterprises", "key": "entity_id", "url": departments},
            {"table": "organization.party_members", "key": "member_no", "url": departments},
            {"table": "organization.unit_reports", "key": "report_id", "url": departments},
        ],
        "hotline": {"base_url": hotline_url, "token": "${GOVSHARE_HOTLINE_TOKEN}",
                    "page_size": 500, "max_requests_per_second": 50, "freshness_hours": 36},
        "grid": {"root": str(home / "drop"), "freshness_hours": 36},
        "rosters": {"root": str(home / "drop")},
        "reports": {"out": str(home / "reports")},
    }


def _audit_lines(warehouse_url: str, day_start: datetime) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT source, records_received, records_landed, records_loaded, "
            "records_quarantined FROM shared.load_audit WHERE window_start = :start "
            "ORDER BY source"), {"start": day_start}).all()
        # The demo prints counts only: no personal data reaches the terminal.
    engine.dispose()
    return [f"    {s:<32} received {r:>7,}  landed {la:>7,}  loaded {lo or 0:>7,}  "
            f"quarantined {q:>5,}" for s, r, la, lo, q in rows]


def _published_lines(warehouse_url: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(warehouse_url)
    tables = ("resident_xref", "resident", "unit_xref", "unit", "hotline_ticket", "grid_event",
              "community_worker")
    with engine.connect() as conn:
        n = [conn.execute(sa.text(f"SELECT count(*) FROM shared.{t}")).scalar() for t in tables]
    engine.dispose()
    return (f"Resolved {n[0]:,} person-bearing records into {n[1]:,} residents and "
            f"{n[2]:,} unit-bearing records into {n[3]:,} units.\n"
            f"Published {n[4]:,} hotline tickets, {n[5]:,} grid events and {n[6]:,} community "
            "workers (shared.*; docs/data-dictionary.md describes every column).")


def _warehouse_for_demo(warehouse: str, reset: bool) -> str | None:
    """The warehouse URL the demo writes to: None for the embedded DuckDB file in its home,
    else GOVSHARE_WAREHOUSE_URL, which must name an empty warehouse (or be reset)."""
    if warehouse == "duckdb":
        return None
    from pipeline.config import ConfigError
    from warehouse.engine import SCHEMAS

    url = os.environ.get("GOVSHARE_WAREHOUSE_URL", "")
    if not url.startswith("postgresql"):
        raise ConfigError("govshare demo --warehouse postgres writes to GOVSHARE_WAREHOUSE_URL, "
                          "which must be a postgresql+psycopg:// URL (it is "
                          f"{'unset' if not url else 'another kind of URL'})")
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            present = set(sa.inspect(conn).get_schema_names()) & set(SCHEMAS)
            if present and not reset:
                raise ConfigError(
                    f"the warehouse at {engine.url.render_as_string(hide_password=True)} "
                    f"already has the schemas {', '.join(sorted(present))}: the demo needs an "
                    "empty one (pass --reset-warehouse to drop them first)")
            for schema in sorted(present):
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    finally:
        engine.dispose()
    return url


def run_demo(home: Path, scale: str = "small", days: int = 3, seed: int = 42,
             warehouse: str = "duckdb", reset_warehouse: bool = False) -> int:
    from govshare import airflow_local
    from simulator.delivery import deliver
    from simulator.hotline_server import serve_hotline
    from simulator.run import simulate

    warehouse_url = _warehouse_for_demo(warehouse, reset_warehouse)
    home = home.resolve()
    if home.exists():
        shutil.rmtree(home)
    sim_dir = home / "sim"
    began = time.perf_counter()
    _step(f"1/4 simulating a {scale} city, seed {seed}, {days} days from {START} -> {sim_dir}")
    simulate(sim_dir, scale=scale, seed=seed, start=START, days=days,
             progress=lambda m: print(f"    {m}", flush=True))
    _step(f"    simulated in {time.perf_counter() - began:.1f}s")

    os.environ["GOVSHARE_HOTLINE_TOKEN"] = secrets.token_urlsafe(24)
    with serve_hotline(sim_dir / "hotline" / "tickets.sqlite",
                       token=os.environ["GOVSHARE_HOTLINE_TOKEN"]) as server:
        _step(f"2/4 12345 hotline API serving on {server.url}")
        sources = demo_sources(sim_dir, home, server.url, warehouse_url)
        sources_file = home / "sources.yaml"
        sources_file.write_text(yaml.safe_dump(sources, allow_unicode=True, sort_keys=False),
                                encoding="utf-8")
        os.environ.update({"GOVSHARE_HOME": str(home), "GOVSHARE_SOURCES": str(sources_file),
                           "GOVSHARE_START_DATE": START.isoformat()})
        _step("3/4 preparing Airflow (SQLite metadata database)")
        airflow_local.configure(home / "airflow")
        airflow_local.migrate()
        dag = airflow_local.load_dag("govshare_daily")
        _step(f"4/4 running DAG govshare_daily for {days} days with dag.test()")
        failed = 0
        for offset in range(days):
            day = datetime.combine(START + timedelta(days=offset), datetime.min.time(),
                                   tzinfo=LOCAL_TZ)
            t0 = time.perf_counter()
            # The grid vendor drops a day's export shortly after midnight: the run waits for it.
            arrived = deliver(sim_dir, home / "drop", day + timedelta(days=1, hours=2))
            # A manual run's data interval is the latest whole day before its logical date.
            state = airflow_local.run_day(dag, day + timedelta(days=1))
            failed += "success" not in state
            _step(f"    {day:%Y-%m-%d}: {state} ({time.perf_counter() - t0:.1f}s), "
                  f"{len(arrived)} files had arrived in the drop folder")
            for line in _audit_lines(sources["warehouse_url"], day):
                print(line, flush=True)
        # Publication is done for each day: compute its indicators (and month to date).
        from govshare.indicators_cli import compute_days

        _step("indicators for the days the DAG ran")
        compute_days(sources, [START + timedelta(days=n) for n in range(days)],
                     print_line=lambda line: print(f"    {line}", flush=True))
        report_lines = _daily_report(dag_day=START + timedelta(days=days - 1), config=sources)
    print()
    print(_published_lines(sources["warehouse_url"]))
    print(f"Done in {time.perf_counter() - began:.0f}s. Outputs:")
    print(f"  simulated sources + ground truth : {sim_dir}")
    print(f"  drop folder (grid, rosters)      : {home / 'drop'}")
    print(f"  raw landing zone                 : {home / 'landing'}")
    if warehouse_url:
        shown = sa_url(warehouse_url).render_as_string(hide_password=True)
        print(f"  warehouse (PostgreSQL)           : {shown}")
    else:
        print(f"  embedded warehouse (DuckDB)      : {home / 'warehouse.duckdb'}")
    print(f"  sources configuration            : {home / 'sources.yaml'}")
    print(f"  Airflow home (logs, metadata DB) : {home / 'airflow'}")
    print(f"  quarantine                       : govshare quarantine list  (with "
          f"GOVSHARE_SOURCES={home / 'sources.yaml'})")
    print(f"  Data Docs (validation results)   : {home / 'data_docs' / 'index.html'}")
    for line in report_lines:
        print(line)
    return 1 if failed else 0


def _daily_report(dag_day, config: dict) -> list[str]:
    """Run govshare_indicators for the last day (dag.test() does not follow Assets, so the
    demo chains it) and say where the day's report and feed are, or plainly why there are
    none."""
    from govshare import airflow_local

    _step(f"    running DAG govshare_indicators for {dag_day} (indicators, report, delivery)")
    state = airflow_local.run_with_conf(airflow_local.load_dag("govshare_indicators"),
                                        {"day": dag_day.isoformat()})
    from reports.build import stem
    from reports.daily import out_dir

    folder = out_dir(config) / dag_day.isoformat()
    html = folder / f"{stem(dag_day, None)}.html"
    feed = folder / "feeds" / f"{stem(dag_day, None).replace('report_', 'indicators_')}.csv"
    if "success" not in state or not html.exists():
        return [f"  daily report                     : NOT BUILT: govshare_indicators "
                f"ended {state} for {dag_day} (see its task logs under Airflow home)"]
    return [f"  daily report ({dag_day})        : {html}",
            f"  indicator feed ({dag_day})      : {feed} (+ .parquet, .json, .manifest.json)"]
