"""The few expressions DuckDB and PostgreSQL spell differently, and the temporary tables
the indicator queries join (divisions with their ancestors, grids)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from warehouse.engine import bulk_insert, is_duckdb


def epoch(expression: str) -> str:
    """Seconds since 1970 of a timestamp (with time zone: the instant; without: as if UTC).
    Comparing instants as numbers keeps every bound a plain float parameter on both engines."""
    return f"date_part('epoch', {expression})"


def json_text(conn: sa.Connection, column: str, key: str) -> str:
    """A top-level field of a JSON text column, as text."""
    if is_duckdb(conn):
        return f"json_extract_string({column}, '$.{key}')"
    return f"(CAST({column} AS json) ->> '{key}')"


def change_parts(column: str = "record_updated_at", landed: str = "landed_at") -> tuple[str, str]:
    """The instant of a source's change time as sent, in two parts: seconds, and whether they
    are local time. ISO text with an offset is an instant; text without one is local time
    (departments' DATETIME columns), read as if UTC here and shifted by the period's offset
    (`local_shifted`); no change time (rosters) counts from when the version landed."""
    zoned = (f"(length({column}) > 19 AND (substr({column}, 20) LIKE '%+%' "
             f"OR substr({column}, 20) LIKE '%-%' OR substr({column}, 20) LIKE '%Z%'))")
    iso = f"{column} LIKE '____-__-__%'"
    seconds = (f"CASE WHEN {iso} THEN CASE WHEN {zoned} "
               f"THEN {epoch(f'CAST({column} AS TIMESTAMP WITH TIME ZONE)')} "
               f"ELSE {epoch(f'CAST(substr({column}, 1, 19) AS TIMESTAMP)')} END "
               f"ELSE {epoch(landed)} END")
    return seconds, f"CASE WHEN {iso} THEN NOT {zoned} ELSE FALSE END"


def local_shifted(seconds: str, local: str, offset: str = ":tz_offset") -> str:
    """The instant of `change_parts`: local seconds shifted by the offset (in seconds)."""
    return f"CASE WHEN {local} THEN {seconds} - {offset} ELSE {seconds} END"


def median(expression: str) -> str:
    """The median (interpolated between the two middle values), an ordered-set aggregate that
    both engines spell the same way."""
    return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {expression})"


def division_frame(divisions: pd.DataFrame) -> pd.DataFrame:
    """Every division with its street and district (a street is its own street; a district
    its own district; the city has neither)."""
    parents = divisions.set_index("code")["parent_code"]
    levels = divisions.set_index("code")["level"]
    frame = pd.DataFrame({"code": divisions["code"].astype("str"),
                          "level": divisions["level"].astype("str")})
    parent = frame["code"].map(parents)
    grandparent = parent.map(parents)
    is_ = frame["level"].eq
    frame["street_code"] = frame["code"].where(is_("street"), parent.where(is_("community")))
    frame["district_code"] = frame["code"].where(
        is_("district"), parent.where(is_("street"), grandparent.where(is_("community"))))
    # A code whose parent is not of the expected level (a broken reference) keeps no ancestor.
    frame.loc[frame["street_code"].map(levels).ne("street"), "street_code"] = None
    frame.loc[frame["district_code"].map(levels).ne("district"), "district_code"] = None
    return frame


def create_temp(conn: sa.Connection, name: str, columns: dict[str, str],
                frame: pd.DataFrame | None = None) -> None:
    """A temporary table `name` (dropped first), filled from `frame` when given."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ("
                         + ", ".join(f"{c} {t}" for c, t in columns.items()) + ")")
    if frame is not None and not frame.empty:
        bulk_insert(conn, frame[list(columns)].astype(object).where(frame.notna(), None), name)
