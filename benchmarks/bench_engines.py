"""Why the embedded warehouse is DuckDB: the same work on DuckDB and on SQLite, the two
embedded engines that offer schemas (SQLite through attached database files).

Bulk load of resident-shaped rows, an analytical query (residents per community and
status), and a key lookup batch, each through the path the engine offers best."""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from measure import markdown_table, record, timed


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "resident_id": [f"R{i:012d}" for i in range(rows)],
        "name": rng.choice(["李秀英", "王建国", "巴特尔", "马俊"], rows),
        "community_code": rng.choice([f"150102001{i:03d}" for i in range(1, 400)], rows),
        "status": rng.choice(["正常", "迁出", "死亡"], rows, p=[0.95, 0.03, 0.02]),
        "birth_date": pd.Timestamp("1950-01-01")
        + pd.to_timedelta(rng.integers(0, 25_000, rows), unit="D"),
        "source_count": rng.integers(1, 6, rows),
    })


QUERY = ("SELECT community_code, status, count(*), avg(source_count) FROM shared.resident "
         "GROUP BY 1, 2 ORDER BY 1, 2")


def run_duckdb(data: pd.DataFrame, folder: Path) -> dict:
    con = duckdb.connect(str(folder / "w.duckdb"))
    con.execute("CREATE SCHEMA shared")
    seconds: dict[str, float] = {}
    with timed(seconds, "load"):
        con.register("data", data)
        con.execute("CREATE TABLE shared.resident AS SELECT * FROM data")
    with timed(seconds, "query"):
        con.execute(QUERY).fetchall()
    keys = lookup_keys(data)
    with timed(seconds, "lookup"):
        con.execute("SELECT * FROM shared.resident WHERE resident_id IN (SELECT unnest(?))",
                    [keys]).fetchall()
    con.close()
    return {**seconds, "mib": (folder / "w.duckdb").stat().st_size / 2**20}


def lookup_keys(data: pd.DataFrame) -> list[str]:
    return data["resident_id"].sample(10_000, random_state=1).tolist()


def run_sqlite(data: pd.DataFrame, folder: Path) -> dict:
    con = sqlite3.connect(folder / "main.sqlite")
    con.execute(f"ATTACH DATABASE '{folder / 'shared.sqlite'}' AS shared")
    seconds: dict[str, float] = {}
    with timed(seconds, "load"):
        con.execute("CREATE TABLE shared.resident (resident_id TEXT, name TEXT, community_code "
                    "TEXT, status TEXT, birth_date TEXT, source_count INTEGER)")
        rows = data.assign(birth_date=data["birth_date"].astype("str"),
                           source_count=data["source_count"].astype(object))
        con.executemany("INSERT INTO shared.resident VALUES (?, ?, ?, ?, ?, ?)",
                        rows.itertuples(index=False, name=None))
        con.execute("CREATE UNIQUE INDEX shared.ix_resident ON resident (resident_id)")
        con.commit()
    with timed(seconds, "query"):
        con.execute(QUERY).fetchall()
    keys = lookup_keys(data)
    with timed(seconds, "lookup"):
        con.execute("CREATE TEMP TABLE k (id TEXT)")
        con.executemany("INSERT INTO k VALUES (?)", [(k,) for k in keys])
        con.execute("SELECT * FROM shared.resident WHERE resident_id IN (SELECT id FROM k)"
                    ).fetchall()
    con.close()
    return {**seconds, "mib": (folder / "shared.sqlite").stat().st_size / 2**20}

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    data = frame(args.rows)
    results = {}
    for name, run in (("DuckDB 2.0", run_duckdb), ("SQLite 3 (attached schema file)", run_sqlite)):
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = run(data, Path(tmp))
    lines = [f"{args.rows:,} resident-shaped rows (6 columns).", "", *markdown_table(
        ["engine", "bulk load", "GROUP BY community, status", "10,000 key lookups", "file"],
        ([name, f"{r['load']:.2f} s", f"{r['query'] * 1000:.0f} ms",
          f"{r['lookup'] * 1000:.0f} ms", f"{r['mib']:.0f} MiB"] for name, r in results.items()))]
    record("Embedded warehouse engine: DuckDB vs SQLite",
           f"python benchmarks/bench_engines.py --rows {args.rows}", lines)


if __name__ == "__main__":
    main()
