"""Pipeline state kept in the warehouse (not in Airflow Variables): watermarks and the
manifest of landed files. Both advance only after a landing succeeded; a file's manifest
entry is committed with its audit and quarantine rows (`ManifestAfterCommit`), so a file
whose rows could not be committed is read again by the next attempt."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from warehouse.engine import upsert
from warehouse.schema import extraction_window, file_manifest, watermark


class StateStore:
    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def get_watermark(self, source: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(watermark.c.value).where(watermark.c.source == source)).scalar()

    def set_watermark(self, source: str, value: str, run_id: str) -> None:
        row = pd.DataFrame([{"source": source, "value": value, "run_id": run_id,
                             "updated_at": datetime.now(UTC)}])
        with self.engine.begin() as conn:
            upsert(conn, row, "ops.watermark", ["source"])

    def window_lower_bound(self, source: str, part: str) -> tuple[bool, str | None]:
        """(recorded?, lower bound) that a window's first run read from: a re-run of the
        window reads the same range, whatever the watermark has become since."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(extraction_window.c.lower_bound).where(
                extraction_window.c.source == source, extraction_window.c.part == part)).first()
        return (row is not None, row[0] if row else None)

    def record_window(self, source: str, part: str, lower_bound: str | None, run_id: str) -> None:
        row = pd.DataFrame([{"source": source, "part": part, "lower_bound": lower_bound,
                             "run_id": run_id, "recorded_at": datetime.now(UTC)}])
        with self.engine.begin() as conn:
            upsert(conn, row, "ops.extraction_window", ["source", "part"], update=False)

    def file_manifest(self, source: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(file_manifest.c.path, file_manifest.c.sha256)
                                .where(file_manifest.c.source == source))
            return dict(rows.all())

    def record_file(self, source: str, path: str, sha256: str, run_id: str) -> None:
        with self.engine.begin() as conn:
            record_files(conn, [(source, path, sha256, run_id)])


def record_files(conn: sa.Connection, entries: list[tuple[str, str, str, str]]) -> None:
    """Manifest rows (source, path, sha256, run_id), in the caller's transaction."""
    rows = pd.DataFrame(entries, columns=["source", "path", "sha256", "run_id"]) \
        .assign(landed_at=datetime.now(UTC))
    upsert(conn, rows, "ops.file_manifest", ["source", "path"])


class ManifestAfterCommit:
    """The state an extraction task gives its connector: everything goes to the store at
    once, except the file manifest, whose entries wait in `pending` until the caller
    commits them (`commit`) in the transaction that writes the run's audit and quarantine
    rows. Until then a file is not "landed": a failure there leaves it out of the manifest,
    and the retry reads it again instead of reporting `received 0`."""

    def __init__(self, store: StateStore):
        self.store = store
        self.pending: list[tuple[str, str, str, str]] = []

    def get_watermark(self, source: str) -> str | None:
        return self.store.get_watermark(source)

    def set_watermark(self, source: str, value: str, run_id: str) -> None:
        self.store.set_watermark(source, value, run_id)

    def window_lower_bound(self, source: str, part: str) -> tuple[bool, str | None]:
        return self.store.window_lower_bound(source, part)

    def record_window(self, source: str, part: str, lower_bound: str | None,
                      run_id: str) -> None:
        self.store.record_window(source, part, lower_bound, run_id)

    def file_manifest(self, source: str) -> dict[str, str]:
        return self.store.file_manifest(source)

    def record_file(self, source: str, path: str, sha256: str, run_id: str) -> None:
        self.pending.append((source, path, sha256, run_id))

    def commit(self, conn: sa.Connection) -> None:
        """Write the pending manifest entries in `conn`'s transaction."""
        if self.pending:
            record_files(conn, self.pending)
