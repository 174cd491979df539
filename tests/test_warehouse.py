"""The warehouse layer on both engines: the embedded DuckDB file and PostgreSQL."""

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from warehouse.engine import bulk_insert, upsert
from warehouse.schema import create_all
from warehouse.state import StateStore

TRICKY = ["普通文本", "", None, 'quote " and \' apostrophe', "tab\there", "line\nbreak",
          "back\\slash", "阿不都·热合曼", "comma, and; semicolon", "\\N"]




def test_schemas_exist_and_creation_is_idempotent(engine):
    create_all(engine)  # a second time changes nothing
    # DuckDB names schemas catalog.schema
    names = {n.rsplit(".", 1)[-1] for n in sa.inspect(engine).get_schema_names()}
    assert {"shared", "staging", "core", "ops"} <= names


def test_bulk_insert_keeps_every_value_exactly(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE staging.t (k INTEGER, v VARCHAR, ts TIMESTAMPTZ)")
        frame = pd.DataFrame({"k": range(len(TRICKY)), "v": pd.Series(TRICKY, dtype=object),
                              "ts": pd.Timestamp("2026-11-25T08:03:11+08:00")})
        assert bulk_insert(conn, frame, "staging.t") == len(TRICKY)
        rows = conn.exec_driver_sql("SELECT k, v, ts FROM staging.t ORDER BY k").all()
    assert [r[1] for r in rows] == TRICKY  # NULL stays NULL, '' stays ''
    assert all(r[2] == datetime(2026, 11, 25, 0, 3, 11, tzinfo=UTC) for r in rows)


def test_upsert_updates_or_keeps_by_key(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE staging.u (k VARCHAR PRIMARY KEY, v INTEGER)")
        upsert(conn, pd.DataFrame({"k": ["a", "b"], "v": [1, 2]}), "staging.u", ["k"])
        upsert(conn, pd.DataFrame({"k": ["b", "c"], "v": [20, 3]}), "staging.u", ["k"])
        upsert(conn, pd.DataFrame({"k": ["c"], "v": [30]}), "staging.u", ["k"], update=False)
        rows = dict(conn.exec_driver_sql("SELECT k, v FROM staging.u").all())
    assert rows == {"a": 1, "b": 20, "c": 3}


def test_upsert_of_duplicate_keys_in_one_batch_keeps_the_last(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE staging.d (k VARCHAR PRIMARY KEY, v INTEGER)")
        upsert(conn, pd.DataFrame({"k": ["a", "a"], "v": [1, 2]}), "staging.d", ["k"])
        assert conn.exec_driver_sql("SELECT v FROM staging.d").scalar() == 2


def test_state_store_watermarks_and_file_manifest(engine):
    state = StateStore(engine)
    assert state.get_watermark("hotline.tickets") is None
    state.set_watermark("hotline.tickets", "2026-11-01T00:00:00", "run-1")
    state.set_watermark("hotline.tickets", "2026-11-02T00:00:00", "run-2")
    assert state.get_watermark("hotline.tickets") == "2026-11-02T00:00:00"
    assert state.file_manifest("grid.events") == {}
    state.record_file("grid.events", "grid/events_20261101.jsonl", "a" * 64, "run-1")
    state.record_file("grid.events", "grid/events_20261101.jsonl", "b" * 64, "run-2")
    state.record_file("rosters", "rosters/x.xlsx", "c" * 64, "run-2")
    assert state.file_manifest("grid.events") == {"grid/events_20261101.jsonl": "b" * 64}
