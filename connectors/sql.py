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

    def _engine(self) -> sa.Engine:
        if self.url.startswith("duckdb:"):
            return sa.create_engine(self.url, connect_args={"read_only": True})
        return sa.create_engine(self.url, pool_pre_ping=True)

    def _query(self, engine: sa.Engine, lower: datetime | None) -> sa.TextClause:
        quote = engine.dialect.identifier_preparer.quote
        schema, _, name = self.table.rpartition(".")
        table = f"{quote(schema)}.{quote(name)}" if schema else quote(name)
        col = quote(self.updated_column)
        where = f"{col} <= :upper" + (f" AND {col} > :lower" if lower else "")
        return sa.text(f"SELECT * FROM {table} WHERE {where} ORDER BY {col}, {quote(self.key)}")

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
                result = conn.execute(
                    self._query(engine, lower), {"lower": lower, "upper": upper},
                    execution_options={"stream_results": True, "yield_per": self.chunk_rows})
                columns = list(result.keys())
                for n, rows in enumerate(result.partitions(self.chunk_rows)):
                    frame = pd.DataFrame(rows, columns=columns)
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
                    chunk_newest = pd.Timestamp(frame[self.updated_column].max())
                    newest = max(newest, chunk_newest) if newest is not None else chunk_newest
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
