"""Warehouse engines behind one SQLAlchemy interface.

The embedded default is DuckDB (one file, real schemas, columnar, fast bulk loads from
pandas/Arrow; see docs/benchmarks.md for the measured comparison with SQLite); PostgreSQL is
used when a `postgresql+psycopg://` URL is given. Bulk loads use each engine's native path:
DuckDB scans the DataFrame in place, PostgreSQL gets `COPY ... FROM STDIN`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter

from common.duckdb_limits import configure_duckdb

SCHEMAS = ("shared", "staging", "core", "ops", "audit")


def default_url(home: str | os.PathLike | None = None) -> str:
    home = Path(home or os.environ.get("GOVSHARE_HOME", "var"))
    return f"duckdb:///{(home / 'warehouse.duckdb').resolve()}"


class WarehouseUrlError(ValueError):
    """A warehouse URL that is given but unusable: empty, or naming an unset variable."""


def warehouse_url() -> str:
    """GOVSHARE_WAREHOUSE_URL, else (nothing configured: the laptop's default) the embedded
    DuckDB file under GOVSHARE_HOME. Set but empty is an error, not the default."""
    url = os.environ.get("GOVSHARE_WAREHOUSE_URL")
    return default_url() if url is None else checked_url(url, "GOVSHARE_WAREHOUSE_URL")


def checked_url(url: str, where: str = "the warehouse URL") -> str:
    """`url`, unless it is blank or still holds a ${NAME} reference (an unset variable)."""
    if not url.strip():
        raise WarehouseUrlError(f"{where} is empty")
    if unset := re.search(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", url):
        raise WarehouseUrlError(f"{where} needs the environment variable {unset.group(1)}, "
                                "not set")
    return url


def create_warehouse_engine(url: str | None = None) -> sa.Engine:
    """The engine of the warehouse at `url` (None: `warehouse_url()`)."""
    url = warehouse_url() if url is None else checked_url(url)
    if url.startswith("duckdb:///"):
        Path(url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    if engine.dialect.name == "duckdb":
        sa.event.listen(engine, "connect", lambda dbapi_conn, _: configure_duckdb(dbapi_conn))
    with engine.begin() as conn:
        for schema in SCHEMAS:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    return engine


def is_duckdb(engine: sa.Engine | sa.Connection) -> bool:
    return engine.dialect.name == "duckdb"


def _duckdb_relation(conn: sa.Connection, sql: str, params: dict | None):
    """The query as a DuckDB relation on the connection's own transaction (so it sees what
    the transaction wrote)."""
    raw = conn.connection.dbapi_connection
    raw.complete()  # DuckDB refuses new work while an earlier execute()'s result is unread
    query = re.sub(r"(?<![:\w]):(\w+)", r"$\1", sql) if params else sql
    return raw.sql(query, params=params or None)


def iter_frames(conn: sa.Connection, sql: str, params: dict | None = None,
                chunk_rows: int = 200_000) -> Iterator[pd.DataFrame]:
    """A query's rows as DataFrames of at most `chunk_rows`, streamed: neither engine's
    whole result is ever held as Python row objects (DuckDB hands over Arrow batches;
    PostgreSQL reads through a server-side cursor). `:name` parameters, as in sa.text()."""
    if is_duckdb(conn):
        for batch in _duckdb_relation(conn, sql, params).to_arrow_reader(chunk_rows):
            yield batch.to_pandas()
        return
    # Per statement: Connection.execution_options() would change the connection in place
    # and send every later statement on it (DDL too) through a server-side cursor.
    result = conn.execute(sa.text(sql), params or {},
                          execution_options={"stream_results": True, "yield_per": chunk_rows})
    columns = list(result.keys())
    empty = True
    for rows in result.partitions(chunk_rows):
        empty = False
        yield pd.DataFrame(rows, columns=columns)
    if empty:
        yield pd.DataFrame(columns=columns)


def read_frame(conn: sa.Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
    """A query's rows as one DataFrame, read as iter_frames reads (for large results, where
    pd.read_sql would hold every row as Python objects at once)."""
    if is_duckdb(conn):
        return _duckdb_relation(conn, sql, params).to_arrow_table().to_pandas()
    frames = list(iter_frames(conn, sql, params))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


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
    changed = [c for c in frame.columns if c not in keys]
    if is_duckdb(conn):
        # DuckDB's ON CONFLICT probes row by row, and its UPDATE of an indexed column is slow
        # too (27-32 s for 122k rows into 3.8M): replacing the rows takes about 1 s.
        match = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
        if changed and update:
            conn.exec_driver_sql(f"DELETE FROM {table} AS t USING {stage} s WHERE {match}")
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})")
    else:
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in changed)
        action = f"DO UPDATE SET {updates}" if updates and update else "DO NOTHING"
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
            f"ON CONFLICT ({', '.join(keys)}) {action}")
    conn.exec_driver_sql(f"DROP TABLE {stage}")
    return len(frame)
