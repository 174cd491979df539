"""Latest state with history (slowly changing dimension, type 2), set-based.

`apply_scd2` takes a batch of rows for a latest-state table (one row per key), finds in SQL
the rows that are new or differ from the current state, and in the caller's transaction:
closes the history rows they replace (`valid_to`, `is_current = false`), appends them to the
history table as the current version, and upserts them into the latest-state table. Rows
identical to the current state touch nothing, so re-running a load changes nothing. A row
older than the current state (`valid_from` earlier) never overwrites it.

The history table has the latest-state table's columns plus `valid_from`, `valid_to` and
`is_current` (`warehouse.schema.history_table` builds one). Golden records without a
change time of their own pass `valid_from=None`: the load time is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from warehouse.engine import bulk_insert

# Columns describing the load rather than the row: a change in them alone is no change.
LOAD_COLUMNS = ("run_id", "loaded_at")


@dataclass
class Scd2Result:
    received: int
    changed_count: int
    changed: pd.DataFrame | None  # the keys of the rows inserted or updated, when asked for


def _q(name: str) -> str:
    return f'"{name}"'


def apply_scd2(conn: sa.Connection, frame: pd.DataFrame, table: str, keys: list[str],
               history: str | None = None, valid_from: str | None = None,
               tracked: list[str] | None = None, now: datetime | None = None,
               return_keys: bool = True) -> Scd2Result:
    """Merge `frame` (columns named as `table`'s) into `table` (`schema.name`) by `keys`,
    keeping every replaced version in `history` when given. `valid_from` names the frame's
    column holding each version's change time; `tracked` the columns whose change makes a
    new version (default: all but the keys and the load columns). `return_keys=False` skips
    reading the changed keys back (a caller with no child rows to replace)."""
    now = now or datetime.now(UTC)
    if frame.empty:
        return Scd2Result(0, 0, pd.DataFrame(columns=keys) if return_keys else None)
    if valid_from:
        frame = frame.sort_values(valid_from, kind="stable")
    frame = frame.drop_duplicates(keys, keep="last")
    columns = list(frame.columns)
    tracked = tracked or [c for c in columns if c not in keys and c not in LOAD_COLUMNS]
    column_list = ", ".join(_q(c) for c in columns)
    conn.exec_driver_sql("DROP TABLE IF EXISTS _scd2_stage")
    conn.exec_driver_sql("DROP TABLE IF EXISTS _scd2_changed")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE _scd2_stage AS SELECT {column_list} FROM {table} WHERE false")
    bulk_insert(conn, frame, "_scd2_stage")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE _scd2_stage")  # temp tables get no autovacuum statistics

    join = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in keys)
    differs = (f"ROW({', '.join(f's.{_q(c)}' for c in tracked)}) IS DISTINCT FROM "
               f"ROW({', '.join(f't.{_q(c)}' for c in tracked)})")
    not_older = f" AND (t.{_q(valid_from)} IS NULL OR s.{_q(valid_from)} >= t.{_q(valid_from)})" \
        if valid_from else ""
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE _scd2_changed AS SELECT s.*, t.{_q(keys[0])} IS NULL AS _scd2_new "
        f"FROM _scd2_stage s LEFT JOIN {table} t ON {join} "
        f"WHERE t.{_q(keys[0])} IS NULL OR ({differs}{not_older})")

    if history:
        started = f"c.{_q(valid_from)}" if valid_from else ":now"
        history_join = " AND ".join(f"h.{_q(k)} = c.{_q(k)}" for k in keys)
        conn.execute(sa.text(
            f"UPDATE {history} AS h SET valid_to = {started}, is_current = false "
            f"FROM _scd2_changed c WHERE {history_join} AND h.is_current"), {"now": now})
        conn.execute(sa.text(
            f"INSERT INTO {history} ({column_list}, valid_from, valid_to, is_current) "
            f"SELECT {', '.join(f'c.{_q(c)}' for c in columns)}, {started}, NULL, true "
            f"FROM _scd2_changed c"), {"now": now})

    # New keys by a plain INSERT (cheaper than ON CONFLICT's speculative insertion), changed
    # ones by an UPDATE.
    conn.exec_driver_sql(f"INSERT INTO {table} ({column_list}) SELECT {column_list} "
                         f"FROM _scd2_changed WHERE _scd2_new")
    updates = ", ".join(f"{_q(c)} = c.{_q(c)}" for c in columns if c not in keys)
    if updates:
        current_join = " AND ".join(f"t.{_q(k)} = c.{_q(k)}" for k in keys)
        conn.exec_driver_sql(f"UPDATE {table} AS t SET {updates} FROM _scd2_changed c "
                             f"WHERE {current_join} AND NOT c._scd2_new")
    count = conn.exec_driver_sql("SELECT count(*) FROM _scd2_changed").scalar()
    changed = pd.DataFrame(conn.exec_driver_sql(
        f"SELECT {', '.join(_q(k) for k in keys)} FROM _scd2_changed").all(),
        columns=keys) if return_keys else None
    conn.exec_driver_sql("DROP TABLE _scd2_stage")
    conn.exec_driver_sql("DROP TABLE _scd2_changed")
    return Scd2Result(len(frame), count, changed)
