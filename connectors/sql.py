"""Department databases over SQLAlchemy: read-only, incremental on `updated_at`, streamed.

A table is read in key order of `(updated_at, key)` from `watermark - overlap` to the
window's end, in chunks through a server-side cursor, so memory stays flat whatever the
table's size. The overlap re-reads rows whose commit landed late (application clocks
skew; a batch commits many rows with one timestamp); re-read rows whose content is already
in the landing zone are dropped, so each version lands once. The watermark advances to the
newest `updated_at` landed, only after every chunk of the window has landed. A window's
lower bound is recorded on its first run, so re-running it (a retry, a backfill) reads the
same range. The landing zone is append-only: a re-run lands its chunks as new attempts
beside the window's earlier ones and deletes nothing, so a version the source has changed
since stays landed beside the new one, and a re-run that fails (the source down) leaves the
window as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from common.settings import SqlTableSettings
from connectors.base import Connector, ExtractionState, ExtractReport, Window
from connectors.landing import RawLanding
from transforms.records import local_times


class SqlTableConnector(Connector):
    """One department table; its settings are common.settings.SqlTableSettings."""

    def __init__(self, config: Mapping[str, Any]):
        settings = SqlTableSettings.model_validate(config)
        if not settings.url:
            raise ValueError(f"{settings.table}: the department table needs url (or conn_id)")
        self.url = settings.url
        self.table = settings.table
        self.source = settings.source or self.table
        self.key = settings.key
        self.updated_column = settings.updated_column
        self.overlap = timedelta(seconds=settings.overlap_seconds)
        self.chunk_rows = settings.chunk_rows
        self.zone = settings.timezone

    def _engine(self) -> sa.Engine:
        if self.url.startswith("duckdb:"):
            return sa.create_engine(self.url, connect_args={"read_only": True})
        return sa.create_engine(self.url, pool_pre_ping=True)

    def _table_sql(self, engine: sa.Engine) -> str:
        quote = engine.dialect.identifier_preparer.quote
        schema, _, name = self.table.rpartition(".")
        return f"{quote(schema)}.{quote(name)}" if schema else quote(name)

    def _text_change_times(self, engine: sa.Engine, conn: sa.Connection) -> bool:
        """The change-time column is text (an older system's VARCHAR): the database would
        compare it as text (MariaDB: '2024-10-31T08:00' sorts after '2024-10-31 09:00') or
        not at all (DuckDB refuses VARCHAR against TIMESTAMP), so the window is applied to
        the parsed times instead. Told by a value as the driver returns it (reflection is
        not available on every dialect)."""
        col = engine.dialect.identifier_preparer.quote(self.updated_column)
        value = conn.execute(sa.text(f"SELECT {col} FROM {self._table_sql(engine)} "
                                     f"WHERE {col} IS NOT NULL LIMIT 1")).scalar()
        return isinstance(value, str)

    def _query(self, engine: sa.Engine, lower: datetime | None,
               in_database: bool = True) -> sa.TextClause:
        quote = engine.dialect.identifier_preparer.quote
        table = self._table_sql(engine)
        col = quote(self.updated_column)
        if not in_database:
            return sa.text(f"SELECT * FROM {table} ORDER BY {quote(self.key)}")
        where = f"{col} <= :upper" + (f" AND {col} > :lower" if lower else "")
        return sa.text(f"SELECT * FROM {table} WHERE {where} ORDER BY {col}, {quote(self.key)}")

    def _in_window(self, frame: pd.DataFrame, lower: datetime | None, upper: datetime,
                   as_text: bool) -> tuple[pd.DataFrame, pd.Series]:
        """(rows of the window, their change times). Text that is no time at all is kept:
        it lands, and validation quarantines it with the rule it breaks."""
        if not as_text:
            return frame, pd.to_datetime(frame[self.updated_column])
        times = local_times(frame[self.updated_column], self.zone)
        inside = times.isna() | ((times <= upper) & ((times > lower) if lower else True))
        return frame.loc[inside], times.loc[inside]

    def extract(self, window: Window, landing: RawLanding, state: ExtractionState,
                run_id: str) -> ExtractReport:
        before = state.get_watermark(self.source)
        report = ExtractReport(self.source, run_id, window, watermark_before=before)
        run_date, part_prefix = window.run_date, window.part
        recorded, lower_text = state.window_lower_bound(self.source, part_prefix)
        if not recorded:
            lower_text = ((datetime.fromisoformat(before) - self.overlap).isoformat()
                          if before else None)
            state.record_window(self.source, part_prefix, lower_text, run_id)
        lower = datetime.fromisoformat(lower_text) if lower_text else None
        # The window's earlier attempts: a re-run reads the whole window again, so they do
        # not count as landed elsewhere (its report says what the first run's did).
        replacing = landing.part_files(self.source, run_date, part_prefix)
        newest = pd.Timestamp(before) if before else None
        written: set = set()
        upper = window.until.replace(tzinfo=None)
        engine = self._engine()
        try:
            with engine.connect() as conn:
                as_text = self._text_change_times(engine, conn)
                result = conn.execute(
                    self._query(engine, lower, in_database=not as_text),
                    {"lower": lower, "upper": upper},
                    execution_options={"stream_results": True, "yield_per": self.chunk_rows})
                columns = list(result.keys())
                for n, rows in enumerate(result.partitions(self.chunk_rows)):
                    frame, times = self._in_window(pd.DataFrame(rows, columns=columns), lower,
                                                   upper, as_text)
                    report.received += len(frame)
                    # This run's own chunks never share a row: only earlier parts can.
                    frame = landing.drop_landed(self.source, frame, self.key,
                                                replacing | written)
                    if frame.empty:
                        continue
                    written.add(landing.write_records(
                        self.source, run_date, f"{part_prefix}-{n:05d}", run_id, frame,
                        key_column=self.key))
                    report.landed += len(frame)
                    if times.loc[frame.index].notna().any():
                        chunk_newest = pd.Timestamp(times.loc[frame.index].max())
                        newest = max(newest, chunk_newest) if newest is not None \
                            else chunk_newest
        finally:
            engine.dispose()
        report.notes["deduplicated_overlap_rows"] = report.received - report.landed
        # A re-run of an older window never moves the watermark back.
        if before and (newest is None or newest < pd.Timestamp(before)):
            newest = pd.Timestamp(before)
        after = newest.isoformat() if newest is not None else None
        if after != before:
            state.set_watermark(self.source, after, run_id)
        report.watermark_after = after
        return report
