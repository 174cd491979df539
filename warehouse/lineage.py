"""Trace a published row back to the staged version it came from, the run that landed it
and the run that published it (docs/lineage.md)."""

from __future__ import annotations

import sqlalchemy as sa

# Published tables with their own lineage columns, by their key column.
TRACEABLE = {"hotline_ticket": "ticket_id", "grid_event": "event_id",
             "community_worker": "source_record_id"}


def trace_row(engine: sa.Engine, table: str, key: str) -> dict | None:
    """{published, staged, landing_audit} for the row of `shared.<table>` with that key:
    its lineage columns, the staged version (record as received, change time, landing run
    and time) and the load_audit row of the landing run. None if there is no such row."""
    if table not in TRACEABLE:
        raise ValueError(f"{table} is not one of {sorted(TRACEABLE)}")
    with engine.connect() as conn:
        published = conn.execute(sa.text(
            f"SELECT source, source_record_id, content_hash, run_id, loaded_at "
            f"FROM shared.{table} WHERE {TRACEABLE[table]} = :key"), {"key": key}
        ).mappings().first()
        if published is None:
            return None
        staged = conn.execute(sa.text(
            "SELECT record, record_updated_at, run_id, landed_at FROM staging.record_version "
            "WHERE source = :source AND source_record_id = :id AND content_hash = :hash"),
            {"source": published["source"], "id": published["source_record_id"],
             "hash": published["content_hash"]}).mappings().first()
        audit = conn.execute(sa.text(
            "SELECT * FROM shared.load_audit WHERE source = :source AND run_id = :run"),
            {"source": published["source"], "run": staged["run_id"] if staged else None}
        ).mappings().first()
    return {"published": dict(published), "staged": dict(staged) if staged else None,
            "landing_audit": dict(audit) if audit else None}
