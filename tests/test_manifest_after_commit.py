"""A file's manifest entry is recorded only after its records, audit and quarantine rows are
committed (issue 14): a grid line with a NUL byte reaches the quarantine on PostgreSQL as on
DuckDB, and a failure while committing a run's rows leaves the file out of the manifest, so
the retry reads it again instead of reporting `received 0`."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa

import warehouse.engine
from pipeline.extraction import extract

GOOD = {"event_id": "E1", "grid_code": "G1", "reporter_staff_no": "S1",
        "reporter_name": "网格员", "reported_at": "2026-11-01T09:00:00+08:00",
        "updated_at": "2026-11-01T09:00:00+08:00", "source": "巡查", "category_code": "01",
        "category": "环境", "description": "垃圾", "address_text": "某路1号", "status": "open"}
SINCE, UNTIL = datetime(2026, 11, 1), datetime(2026, 11, 2)


def _drop(tmp_path, lines: list[bytes]):
    folder = tmp_path / "drop" / "grid"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events_20261101.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return tmp_path / "drop"


def _config(tmp_path, warehouse_url, drop) -> dict:
    return {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
            "grid": {"root": str(drop)}}


def _query(warehouse_url, sql: str) -> list[tuple]:
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_a_grid_line_with_a_nul_byte_reaches_the_quarantine(tmp_path, warehouse_url):
    nul_line = json.dumps({**GOOD, "event_id": "E2"}, ensure_ascii=False).encode() \
        .replace(b'"E2"', b'"E\x002"')
    drop = _drop(tmp_path, [json.dumps(GOOD, ensure_ascii=False).encode(), nul_line])
    report = extract("grid.events", SINCE, UNTIL, "run-1", _config(tmp_path, warehouse_url, drop))
    assert (report["received"], report["landed"], report["quarantined"]) == (2, 1, 1)
    [(location, reason, raw)] = _query(
        warehouse_url, "SELECT raw_location, reason, raw FROM shared.quarantine")
    assert location == "grid/events_20261101.jsonl#L2"
    assert reason.startswith("broken line: not valid JSON")
    assert '"E\\u00002"' in raw  # the NUL kept visibly, where the source put it
    assert _query(warehouse_url, "SELECT path FROM ops.file_manifest") == [
        ("grid/events_20261101.jsonl",)]


def test_a_failed_commit_leaves_the_file_out_of_the_manifest_and_the_retry_reads_it(
        tmp_path, warehouse_url, monkeypatch):
    drop = _drop(tmp_path, [json.dumps(GOOD, ensure_ascii=False).encode(), b"not json"])
    config = _config(tmp_path, warehouse_url, drop)
    original = warehouse.engine.upsert

    def quarantine_fails(conn, frame, table, *args, **kwargs):
        if table == "shared.quarantine":
            raise sa.exc.OperationalError("INSERT", {}, Exception("connection lost"))
        return original(conn, frame, table, *args, **kwargs)

    monkeypatch.setattr(warehouse.engine, "upsert", quarantine_fails)
    with pytest.raises(sa.exc.OperationalError):
        extract("grid.events", SINCE, UNTIL, "run-1", config)
    monkeypatch.setattr(warehouse.engine, "upsert", original)
    assert _query(warehouse_url, "SELECT path FROM ops.file_manifest") == []
    assert _query(warehouse_url, "SELECT count(*) FROM shared.load_audit") == [(0,)]
    retry = extract("grid.events", SINCE, UNTIL, "run-1", config)
    assert (retry["received"], retry["landed"], retry["quarantined"]) == (2, 1, 1)
    assert _query(warehouse_url, "SELECT records_received, records_landed, "
                                 "records_quarantined FROM shared.load_audit") == [(2, 1, 1)]
    assert _query(warehouse_url, "SELECT count(*) FROM shared.quarantine") == [(1,)]
