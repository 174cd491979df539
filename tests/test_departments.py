"""Department databases: the simulator's tables match the contract, and the SQL connector
lands every row version exactly once across incremental windows, re-runs and crashes."""

from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors.base import Window
from connectors.landing import RawLanding
from connectors.sql import SqlTableConnector
from simulator.departments import TABLES, emit_departments, read_tables
from warehouse.engine import create_warehouse_engine
from warehouse.schema import create_all
from warehouse.state import StateStore

CONTRACT_COLUMNS = {
    "civil_affairs.residents": "resident_no name id_type id_number gender birth_date ethnicity "
    "phone household_no relation_to_head registered_address residence_address community_code "
    "status updated_at",
    "market_regulation.enterprises": "entity_id uscc name entity_type legal_rep_name "
    "legal_rep_id_number registered_address community_code industry_code established_on status "
    "phone updated_at",
    "organization.party_members": "member_no name id_number phone party_org_name workplace_name "
    "workplace_uscc in_service residence_community_code reported_to_community reported_on "
    "updated_at",
    "organization.unit_reports": "report_id unit_name unit_uscc community_code reported_on "
    "list_type item status updated_at",
}


@pytest.fixture(scope="module")
def emitted(tiny_city, tmp_path_factory):
    out = tmp_path_factory.mktemp("departments")
    summary = emit_departments(tiny_city, out)
    return tiny_city, out, summary


def test_tables_have_the_contract_columns_and_the_truth_covers_every_row(emitted):
    city, out, summary = emitted
    frames = read_tables(summary.url)
    truth = pd.read_parquet(out / "truth" / "departments_persons.parquet")
    for name, frame in frames.items():
        assert list(frame.columns) == CONTRACT_COLUMNS[name].split()
        assert frame[TABLES[name][1]].is_unique
    residents = frames["civil_affairs.residents"]
    assert len(residents) == city.persons["in_register"].sum()
    mapped = truth[truth["source"] == "civil_affairs.residents"]
    assert set(mapped["source_record_id"]) == set(residents["resident_no"])
    # Older rows code gender as 1/2, newer ones as 男/女.
    assert set(residents["gender"]) == {"男", "女", "1", "2"}
    # No row was updated before it could exist.
    assert (pd.to_datetime(residents["updated_at"]) >= pd.to_datetime(residents["birth_date"])).all()
    period_end = datetime.combine(city.start, datetime.min.time()) + timedelta(days=city.days)
    assert (pd.to_datetime(residents["updated_at"]) < period_end).all()


def test_same_seed_same_tables(emitted, tmp_path):
    city, _, summary = emitted
    again = emit_departments(city, tmp_path)
    first, second = read_tables(summary.url), read_tables(again.url)
    for name in TABLES:
        pd.testing.assert_frame_equal(first[name], second[name])


def _daily_windows(city):
    start = datetime.combine(city.start, datetime.min.time())
    return [Window(start + timedelta(days=d - 1), start + timedelta(days=d))
            for d in range(city.days + 1)]


def _extract_all(url, tmp_path, city, windows, table="civil_affairs.residents", key="resident_no"):
    engine = create_warehouse_engine(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    create_all(engine)
    landing, state = RawLanding(tmp_path / "landing"), StateStore(engine)
    connector = SqlTableConnector({"url": url, "table": table, "key": key, "chunk_rows": 500})
    reports = [connector.extract(w, landing, state, f"run-{i}") for i, w in enumerate(windows)]
    return landing, state, reports


def test_incremental_windows_land_every_row_once(emitted, tmp_path):
    city, _, summary = emitted
    landing, state, reports = _extract_all(summary.url, tmp_path, city, _daily_windows(city))
    landed = landing.read_records("civil_affairs.residents")
    rows = read_tables(summary.url)["civil_affairs.residents"]
    assert len(landed) == len(rows)
    assert set(landed["_source_record_id"]) == set(rows["resident_no"])
    assert reports[0].received > 0 and reports[0].watermark_before is None
    assert state.get_watermark("civil_affairs.residents") == \
        pd.Timestamp(rows["updated_at"].max()).isoformat()
    # The overlap re-read rows that were dropped as already landed.
    assert sum(r.notes["deduplicated_overlap_rows"] for r in reports[1:]) > 0


def test_rerunning_a_window_changes_nothing(emitted, tmp_path):
    city, _, summary = emitted
    windows = _daily_windows(city)
    landing, state, _ = _extract_all(summary.url, tmp_path, city, windows)
    before = landing.read_records("civil_affairs.residents")
    _extract_all(summary.url, tmp_path, city, windows[-1:])
    after = landing.read_records("civil_affairs.residents")
    assert len(after) == len(before)
    assert set(after["_content_hash"]) == set(before["_content_hash"])


def test_late_commit_inside_the_overlap_is_picked_up(emitted, tmp_path):
    """A row committed after the watermark passed, stamped a few minutes earlier (clock skew)."""
    city, _, summary = emitted
    db = tmp_path / "dept.duckdb"
    db.write_bytes(open(summary.url.removeprefix("duckdb:///"), "rb").read())
    url = f"duckdb:///{db}"
    windows = _daily_windows(city)
    landing, state, _ = _extract_all(url, tmp_path, city, windows[:2])
    watermark = datetime.fromisoformat(state.get_watermark("civil_affairs.residents"))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE civil_affairs.residents SET phone = '13900000000', "
                             "updated_at = :t WHERE resident_no = (SELECT min(resident_no) "
                             "FROM civil_affairs.residents)"), {"t": watermark - timedelta(minutes=5)})
    engine.dispose()
    _, _, reports = _extract_all(url, tmp_path, city, windows[2:])
    rows = read_tables(url)["civil_affairs.residents"]
    in_window = (rows["updated_at"] > windows[2].since) & (rows["updated_at"] <= windows[2].until)
    assert reports[0].landed == in_window.sum() + 1  # the window's rows and the late one
    landed = landing.read_records("civil_affairs.residents")
    assert (landed["phone"] == "13900000000").sum() == 1
    assert len(landed) == len(rows) + 1  # the late row's earlier version stays landed too


def test_crash_mid_window_then_retry_loses_and_duplicates_nothing(emitted, tmp_path, monkeypatch):
    city, _, summary = emitted
    windows = _daily_windows(city)
    calls = {"n": 0}
    original = RawLanding.write_records

    def crash_on_third_chunk(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RawLanding, "write_records", crash_on_third_chunk)
    with pytest.raises(OSError):
        _extract_all(summary.url, tmp_path, city, windows[:1])
    monkeypatch.setattr(RawLanding, "write_records", original)
    engine = create_warehouse_engine(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    assert StateStore(engine).get_watermark("civil_affairs.residents") is None
    engine.dispose()
    landing, _, _ = _extract_all(summary.url, tmp_path, city, windows)
    landed = landing.read_records("civil_affairs.residents")
    assert len(landed) == len(read_tables(summary.url)["civil_affairs.residents"])
    assert landed["_source_record_id"].is_unique


@pytest.mark.mariadb
def test_mariadb_departments_with_a_gbk_database(tiny_city, tmp_path, mariadb_url):
    summary = emit_departments(tiny_city, tmp_path, url=mariadb_url)
    engine = sa.create_engine(mariadb_url)
    with engine.connect() as conn:
        charset = conn.exec_driver_sql(
            "SELECT default_character_set_name FROM information_schema.schemata "
            "WHERE schema_name = 'organization'").scalar()
    engine.dispose()
    assert charset == "gbk"
    landing, _, _ = _extract_all(summary.url, tmp_path, tiny_city, _daily_windows(tiny_city),
                                 table="organization.party_members", key="member_no")
    landed = landing.read_records("organization.party_members")
    expected = read_tables(summary.url)["organization.party_members"]
    assert len(landed) == len(expected)
    # Chinese text survives the GBK database and the utf8mb4 connection unchanged.
    assert sorted(landed["party_org_name"]) == sorted(expected["party_org_name"])


@pytest.mark.postgres
def test_postgres_departments(tiny_city, tmp_path, pg_url):
    summary = emit_departments(tiny_city, tmp_path, url=pg_url)
    landing, _, _ = _extract_all(summary.url, tmp_path, tiny_city, _daily_windows(tiny_city),
                                 table="market_regulation.enterprises", key="entity_id")
    landed = landing.read_records("market_regulation.enterprises")
    expected = read_tables(summary.url)["market_regulation.enterprises"]
    assert len(landed) == len(expected)
    assert set(landed["name"]) == set(expected["name"])
