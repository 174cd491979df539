"""Warehouse engines behind one SQLAlchemy interface.

The embedded default is DuckDB (one file, real schemas, columnar, fast bulk loads from
pandas/Arrow; see docs/benchmarks.md for the measured comparison with SQLite); PostgreSQL is
used when a `postgresql+psycopg://` URL is given. Bulk loads use each engine's native path:
DuckDB scans the DataFrame in place, PostgreSQL gets `COPY ... FROM STDIN`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter

SCHEMAS = ("shared", "staging", "core", "ops", "audit")


def default_url(home: str | os.PathLike | None = None) -> str:
    home = Path(home or os.environ.get("GOVSHARE_HOME", "var"))
    return f"duckdb:///{(home / 'warehouse.duckdb').resolve()}"


def warehouse_url() -> str:
    return os.environ.get("GOVSHARE_WAREHOUSE_URL") or default_url()


def create_warehouse_engine(url: str | None = None) -> sa.Engine:
    url = url or warehouse_url()
    if url.startswith("duckdb:///"):
        Path(url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for schema in SCHEMAS:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    return engine


def is_duckdb(engine: sa.Engine | sa.Connection) -> bool:
    return engine.dialect.name == "duckdb"


def bulk_insert(conn: sa.Connection, frame: pd.DataFrame, table: str) -> int:
    """Append `frame` (columns named as the table's) to `schema.table` in one bulk step."""
    if frame.empty:
        return 0
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    if is_duckdb(conn):
        raw = conn.connection.dbapi_connection
        raw.register("_govshare_bulk", frame)
        try:
            conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _govshare_bulk")
        finally:
            raw.unregister("_govshare_bulk")
        return len(frame)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        table_data = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # Mixed Python objects Arrow cannot type: psycopg adapts them row by row.
        values = frame.astype(object).where(frame.notna(), None)
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in values.itertuples(index=False, name=None):
                copy.write_row(row)
        return len(frame)
    # Arrow's C++ CSV writer quotes every string and leaves nulls empty and unquoted, which
    # is exactly how PostgreSQL's CSV COPY tells NULL from ''; the queued writer sends one
    # chunk from a background thread while the next is formatted.
    options = pa_csv.WriteOptions(include_header=False)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)",
                     writer=QueuedLibpqWriter(cursor)) as copy:
        for start in range(0, len(frame), _COPY_CHUNK_ROWS):
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(table_data.slice(start, _COPY_CHUNK_ROWS), sink, options)
            copy.write(sink.getvalue())
    return len(frame)


_COPY_CHUNK_ROWS = 100_000


def upsert(conn: sa.Connection, frame: pd.DataFrame, table: str, keys: list[str],
           update: bool = True) -> int:
    """Insert rows of `frame`, updating (or, with update=False, keeping) existing rows with the
    same `keys`; set-based through a temporary staging table."""
    if frame.empty:
        return 0
    frame = frame.drop_duplicates(keys, keep="last")
    stage = f"_stage_{table.replace('.', '_')}"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} AS SELECT * FROM {table} WHERE false")
    bulk_insert(conn, frame, stage)
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in frame.columns if c not in keys)
    action = f"DO UPDATE SET {updates}" if updates and update else "DO NOTHING"
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
        f"ON CONFLICT ({', '.join(keys)}) {action}")
    conn.exec_driver_sql(f"DROP TABLE {stage}")
    return len(frame)
