"""Load throughput into PostgreSQL for the largest shared table at city scale: 3.5M
resident-shaped rows (shared.resident's columns) through the warehouse's bulk path
(`warehouse.engine.bulk_insert`: COPY FROM STDIN fed from the DataFrame) and through the
SCD2 merge into an empty table, against PostgreSQL's own `COPY ... FROM '<file>'` of the
same rows from a CSV file (the floor).

    .venv/bin/python benchmarks/bench_load.py [--rows 3500000] [--url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import record  # noqa: E402
from warehouse.engine import bulk_insert  # noqa: E402
from warehouse.scd2 import apply_scd2  # noqa: E402

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TABLE_DDL = """CREATE TABLE shared.resident_bench (
    resident_id VARCHAR(13) PRIMARY KEY, name TEXT, id_number_masked VARCHAR(18),
    gender VARCHAR(4), birth_date DATE, community_code VARCHAR(12),
    source_count INTEGER NOT NULL, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ)"""


def resident_rows(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    surnames = np.array(list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"))
    given = np.array(list("秀英建国海燕志强丽娟明华玉兰桂芳军伟敏静"))
    names = pd.Series(surnames[rng.integers(0, len(surnames), n)]).str.cat(
        [given[rng.integers(0, len(given), n)], given[rng.integers(0, len(given), n)]])
    birth = pd.Timestamp("1930-01-01") + pd.to_timedelta(rng.integers(0, 33000, n), unit="D")
    community = 150102001000 + rng.integers(1, 40, n) + 1000 * rng.integers(0, 12, n)
    seen = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 300 * 86400, n), unit="s")
    ids = pd.Series(np.arange(1, n + 1)).map("R{:012d}".format)
    return pd.DataFrame({
        "resident_id": ids, "name": names,
        "id_number_masked": "150102********" + pd.Series(rng.integers(0, 10000, n)).map(
            "{:04d}".format),
        "gender": np.where(rng.random(n) < 0.5, "男", "女"),
        "birth_date": birth.date, "community_code": community.astype(str),
        "source_count": rng.integers(1, 5, n), "first_seen": seen, "last_seen": seen,
    })


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3_500_000)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()

    frame = resident_rows(args.rows)
    name = f"govshare_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine = sa.create_engine(args.admin_url.rsplit("/", 1)[0] + f"/{name}")
    timings = {}
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA shared")
        with tempfile.TemporaryDirectory() as folder:
            csv_path = Path(folder) / "residents.csv"
            frame.to_csv(csv_path, index=False, header=False)
            csv_path.chmod(0o644)
            Path(folder).chmod(0o755)  # the server process reads the file itself
            for label, load in (
                ("floor: COPY FROM file", lambda c: c.exec_driver_sql(
                    f"COPY shared.resident_bench FROM '{csv_path}' WITH (FORMAT csv)")),
                ("bulk_insert (COPY FROM STDIN)",
                 lambda c: bulk_insert(c, frame, "shared.resident_bench")),
                ("apply_scd2 into an empty table", lambda c: apply_scd2(
                    c, frame, "shared.resident_bench", ["resident_id"], return_keys=False)),
            ):
                with engine.begin() as conn:
                    conn.exec_driver_sql("DROP TABLE IF EXISTS shared.resident_bench")
                    conn.exec_driver_sql(TABLE_DDL)
                with engine.begin() as conn:
                    t0 = time.perf_counter()
                    load(conn)
                timings[label] = time.perf_counter() - t0
                with engine.connect() as conn:
                    loaded = conn.exec_driver_sql(
                        "SELECT count(*) FROM shared.resident_bench").scalar()
                assert loaded == len(frame), (label, loaded)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    floor = timings["floor: COPY FROM file"]
    lines = [f"- rows: {len(frame):,} resident-shaped rows (shared.resident's 9 columns, "
             "primary key on resident_id), PostgreSQL 15 on the same machine",
             "- bulk_insert: DataFrame -> Arrow CSV writer -> COPY FROM STDIN (queued writer); "
             "what every load uses",
             "- apply_scd2: bulk_insert into a temporary table, compare with the current state "
             "in SQL, insert the new rows (what publish and golden records use)", "",
             "| path | seconds | rows/s | share of the floor's speed |", "|---|---|---|---|"]
    for label, seconds in timings.items():
        lines.append(f"| {label} | {seconds:.1f} | {len(frame) / seconds:,.0f} | "
                     f"{floor / seconds:.0%} |")
    record("Warehouse load into PostgreSQL (bench_load.py)",
           f"python benchmarks/bench_load.py --rows {args.rows}", lines)


if __name__ == "__main__":
    main()
