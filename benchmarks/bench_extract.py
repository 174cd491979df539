"""Extraction throughput per source, each in a fresh interpreter (rows/s, peak memory).

    python benchmarks/bench_simulate.py --scale city --out /tmp/city    # once
    python benchmarks/bench_extract.py --sim /tmp/city

- department table: the resident register (a full initial load) from PostgreSQL, at 100k,
  1M and all rows: peak memory must stay flat as the table grows (a server-side cursor
  streams it in chunks; on a server the database's own sort memory is not ours);
- hotline: one day's window against the simulated server with 0.2 s per page, compared with
  the server's own minimum (pages x latency);
- grid: the first 30 daily exports; rosters: the first month's drop.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from measure import record, run_child

PREPARE_PG = """
import duckdb, sqlalchemy as sa
from warehouse.engine import bulk_insert
admin = sa.create_engine({admin!r}, isolation_level="AUTOCOMMIT")
with admin.connect() as conn:
    conn.exec_driver_sql("DROP DATABASE IF EXISTS govshare_bench_source WITH (FORCE)")
    conn.exec_driver_sql("CREATE DATABASE govshare_bench_source")
engine = sa.create_engine({url!r})
from simulator.departments import residents
with engine.begin() as conn:
    conn.exec_driver_sql("CREATE SCHEMA civil_affairs")
residents.create(engine)
source = duckdb.connect({source!r}, read_only=True)
for rows in {sizes!r}:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE civil_affairs.residents_{{rows}} "
                             "(LIKE civil_affairs.residents INCLUDING ALL)")
frame = source.sql("SELECT * FROM civil_affairs.residents ORDER BY resident_no").df()
for rows in {sizes!r}:
    with engine.begin() as conn:
        bulk_insert(conn, frame.head(rows), f"civil_affairs.residents_{{rows}}")
print("ok")
"""

DEPARTMENTS = """
import json, resource, time
from datetime import datetime
from pathlib import Path
from connectors.base import Window
from connectors.landing import RawLanding
from connectors.sql import SqlTableConnector
from warehouse.engine import create_warehouse_engine
from warehouse.schema import create_all
from warehouse.state import StateStore
work = Path({work!r})
engine = create_warehouse_engine(f"duckdb:///{{work / 'wh_{rows}.duckdb'}}")
create_all(engine)
connector = SqlTableConnector({{"url": {url!r}, "table": "civil_affairs.residents_{rows}",
                               "key": "resident_no"}})
t0 = time.perf_counter()
report = connector.extract(Window(datetime(2000, 1, 1), datetime(2030, 1, 1)),
                           RawLanding(work / "landing_{rows}"), StateStore(engine), "bench")
print(json.dumps({{"rows": report.landed, "seconds": time.perf_counter() - t0,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

HOTLINE = """
import json, resource, time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo
from connectors.base import Window
from connectors.hotline import HotlineConnector
from connectors.landing import RawLanding
from simulator.hotline_server import Faults, serve_hotline
from warehouse.engine import create_warehouse_engine
from warehouse.schema import create_all
from warehouse.state import StateStore
work, latency = Path({work!r}), 0.2
day = datetime(2026, 11, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
engine = create_warehouse_engine(f"duckdb:///{{work / 'wh_hotline.duckdb'}}")
create_all(engine)
with serve_hotline(Path({sim!r}) / "hotline" / "tickets.sqlite", token="bench",
                   faults=Faults(page_latency_seconds=latency)) as server:
    connector = HotlineConnector({{"base_url": server.url, "token": "bench", "page_size": 1000,
                                  "max_requests_per_second": 20}})
    t0 = time.perf_counter()
    report = connector.extract(Window(day, day + timedelta(days=1)),
                               RawLanding(work / "landing_hotline"), StateStore(engine), "bench")
    seconds = time.perf_counter() - t0
print(json.dumps({{"rows": report.landed, "seconds": seconds, "pages": report.notes["pages"],
                  "floor": report.notes["pages"] * latency,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

FILES = """
import json, resource, shutil, time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo
from connectors.base import Window
from connectors.landing import RawLanding
from warehouse.engine import create_warehouse_engine
from warehouse.schema import create_all
from warehouse.state import StateStore
import pandas as pd
work, sim, kind = Path({work!r}), Path({sim!r}), {kind!r}
drop = work / f"drop_{{kind}}"
if kind == "grid":
    from connectors.grid import GridFileConnector as Connector
    exports = pd.read_parquet(sim / "truth" / "grid_exports.parquet")
    final = exports[exports["final"]].sort_values("file").head(30)
    for row in final.itertuples():
        (drop / row.file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sim / row.stored_path, drop / row.file)
else:
    from connectors.rosters import RosterConnector as Connector
    files = pd.read_parquet(sim / "truth" / "rosters_files.parquet")
    first = files[files["roster_month"] == files["roster_month"].min()]
    for path in first["path"]:
        (drop / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sim / path, drop / path)
engine = create_warehouse_engine(f"duckdb:///{{work / f'wh_{{kind}}.duckdb'}}")
create_all(engine)
tz = ZoneInfo("Asia/Shanghai")
t0 = time.perf_counter()
report = Connector({{"root": str(drop)}}).extract(
    Window(datetime(2026, 10, 1, tzinfo=tz), datetime(2027, 1, 1, tzinfo=tz)),
    RawLanding(work / f"landing_{{kind}}"), StateStore(engine), "bench")
print(json.dumps({{"rows": report.landed, "quarantined": len(report.quarantined),
                  "files": len(list(drop.rglob("*.*"))), "seconds": time.perf_counter() - t0,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def pg_url(admin: str) -> str:
    return admin.rsplit("/", 1)[0] + "/govshare_bench_source"


def _run(code: str) -> dict:
    return json.loads(run_child(code).splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True, help="output of bench_simulate.py --scale city")
    parser.add_argument("--pg-admin", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL account that may create the source database")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="govshare-extract-")
    sizes = (100_000, 1_000_000, 3_500_000)
    run_child(PREPARE_PG.format(admin=args.pg_admin, url=pg_url(args.pg_admin), sizes=sizes,
                                source=f"{args.sim}/departments.duckdb"))
    lines = ["| source | rows landed | seconds | rows/s | peak memory |", "|---|---|---|---|---|"]
    for rows in sizes:
        r = _run(DEPARTMENTS.format(work=work, url=pg_url(args.pg_admin), rows=rows))
        lines.append(f"| civil_affairs.residents on PostgreSQL, {rows:,}-row table | {r['rows']:,} | "
                     f"{r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
                     f"{r['peak_mib']:,.0f} MiB |")
    h = _run(HOTLINE.format(work=work, sim=args.sim))
    lines.append(f"| hotline.tickets, one day, 0.2 s/page | {h['rows']:,} | {h['seconds']:.1f} | "
                 f"{h['rows'] / h['seconds']:,.0f} | {h['peak_mib']:,.0f} MiB |")
    for kind, what in (("grid", "grid.events, 30 daily exports"),
                       ("rosters", "rosters, one month's drop")):
        r = _run(FILES.format(work=work, sim=args.sim, kind=kind))
        lines.append(f"| {what} ({r['files']} files) | {r['rows']:,} (+{r['quarantined']} "
                     f"quarantined) | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
                     f"{r['peak_mib']:,.0f} MiB |")
    lines += ["", f"Hotline: {h['pages']} pages at 0.2 s each = {h['floor']:.1f} s of server "
              f"latency alone; the extraction took {h['seconds']:.1f} s "
              f"({h['seconds'] / h['floor']:.2f}x the server's minimum)."]
    record("Extraction, scale city", f"python benchmarks/bench_extract.py --sim {args.sim}",
           lines)


if __name__ == "__main__":
    main()
