"""The warehouse layer on both engines: the embedded DuckDB file and PostgreSQL."""

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from transforms.resolution.mentions import latest_sql
from warehouse.engine import bulk_insert, create_warehouse_engine, iter_frames, read_frame, upsert
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


def test_iter_frames_streams_chunks_and_read_frame_reads_whole(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE staging.s (k INTEGER, v VARCHAR)")
        bulk_insert(conn, pd.DataFrame({"k": range(25), "v": [f"值{i}" for i in range(25)]}),
                    "staging.s")
        sql = "SELECT k, v, CAST(k AS VARCHAR)::VARCHAR AS c FROM staging.s WHERE k < :n ORDER BY k"
        chunks = list(iter_frames(conn, sql, {"n": 22}, chunk_rows=10))
        whole = read_frame(conn, sql, {"n": 22})
        empty = list(iter_frames(conn, sql, {"n": -1}))
    assert [len(c) for c in chunks] == [10, 10, 2]
    assert pd.concat(chunks, ignore_index=True)["v"].tolist() == whole["v"].tolist() \
        == [f"值{i}" for i in range(22)]
    assert whole["c"].tolist() == [str(i) for i in range(22)]  # a :: cast is not a parameter
    assert sum(len(c) for c in empty) == 0


def _version(record_id: str, content: str, updated: str | None, landed: str) -> dict:
    """A staged version, staged when it landed."""
    return {"source": "civil_affairs.residents", "source_record_id": record_id,
            "content_hash": content, "record_updated_at": updated, "record": "{}",
            "warnings": None, "run_id": "r", "landed_at": pd.Timestamp(landed),
            "staged_at": pd.Timestamp(landed)}


def test_latest_sql_gives_each_records_latest_version_and_its_sightings(engine):
    versions = pd.DataFrame([
        _version("a", "a1", "2026-11-01T08:00:00", "2026-11-01T10:00:00Z"),
        _version("a", "a2", "2026-11-02T08:00:00", "2026-11-02T10:00:00Z"),
        # landed later but changed earlier at the source (a late re-send): not the latest
        _version("a", "a0", "2026-10-30T08:00:00", "2026-11-03T10:00:00Z"),
        _version("b", "b1", None, "2026-11-01T10:00:00Z"),
        _version("c", "c1", "2026-11-01T08:00:00", "2026-11-01T10:00:00Z"),
        _version("c", "c2", "2026-11-05T08:00:00", "2026-11-05T10:00:00Z"),  # after :until
    ])
    until = pd.Timestamp("2026-11-04T00:00:00Z").to_pydatetime()
    since = pd.Timestamp("2026-11-02T00:00:00Z").to_pydatetime()
    with engine.begin() as conn:
        bulk_insert(conn, versions, "staging.record_version")
        full = read_frame(conn, latest_sql(["civil_affairs.residents"]), {"until": until})
        changed = read_frame(conn, latest_sql(["civil_affairs.residents"], since=True),
                             {"until": until, "since": since})
    full = full.set_index("source_record_id").sort_index()
    assert full["content_hash"].to_dict() == {"a": "a2", "b": "b1", "c": "c1"}
    assert pd.Timestamp(full.loc["a", "first_seen"]) == pd.Timestamp("2026-11-01T10:00:00Z")
    assert pd.Timestamp(full.loc["a", "last_seen"]) == pd.Timestamp("2026-11-03T10:00:00Z")
    assert changed["source_record_id"].tolist() == ["a"]  # only a has a version since


def test_duckdb_warehouse_memory_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVSHARE_DUCKDB_MEMORY", "1GB")
    engine = create_warehouse_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with engine.connect() as conn:
        limit = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar()
    engine.dispose()
    assert limit == "953.6 MiB"  # 1GB (10^9 bytes), as DuckDB prints it


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
