"""The landing zone is append-only (issue 14): a re-run or a retry of an extraction lands new
parts or file versions beside the landed ones and never deletes or overwrites them; readers
see every version once, so staging stays idempotent. Each test is a probe of the issue that
failed on the landing that deleted a window's parts before re-reading it."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from connectors.landing import RawLanding
from pipeline.extraction import extract
from pipeline.staging import validate_and_load

SOURCE = "toy.items"  # a department table without a rules file: staged unvalidated
DAY = date(2026, 11, 1)
SINCE, UNTIL = datetime(2026, 11, 1), datetime(2026, 11, 2)


def _department(path, rows) -> str:
    """A department database (DuckDB file) holding `toy.items` with `rows`."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA IF NOT EXISTS toy")
    con.execute("CREATE OR REPLACE TABLE toy.items "
                "(item_id VARCHAR, label VARCHAR, updated_at TIMESTAMP)")
    con.executemany("INSERT INTO toy.items VALUES (?, ?, ?)", rows)
    con.close()
    return f"duckdb:///{path}"


def _config(tmp_path, warehouse_url, department_url) -> dict:
    return {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
            "data_docs_dir": str(tmp_path / "docs"),
            "departments": [{"table": SOURCE, "key": "item_id", "url": department_url,
                             "overlap_seconds": 0}]}


def _staged(warehouse_url) -> pd.DataFrame:
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT source_record_id, record_updated_at, record FROM staging.record_version "
            "WHERE source = :s ORDER BY source_record_id, record_updated_at"),
            {"s": SOURCE}).all()
    engine.dispose()
    return pd.DataFrame(rows, columns=["id", "updated_at", "record"])


def test_rerunning_a_department_window_after_the_source_changed_keeps_both_versions(
        tmp_path, warehouse_url):
    db = tmp_path / "dept.duckdb"
    url = _department(db, [("A", "first", datetime(2026, 11, 1, 10)),
                           ("B", "kept", datetime(2026, 11, 1, 11))])
    config = _config(tmp_path, warehouse_url, url)
    first = extract(SOURCE, SINCE, UNTIL, "run-1", config)
    assert (first["received"], first["landed"]) == (2, 2)
    validate_and_load(SOURCE, DAY, "run-1", config)
    assert list(_staged(warehouse_url)["id"]) == ["A", "B"]
    # The department corrects A inside the same window; the window is run again (a clear).
    _department(db, [("A", "corrected", datetime(2026, 11, 1, 12)),
                     ("B", "kept", datetime(2026, 11, 1, 11))])
    again = extract(SOURCE, SINCE, UNTIL, "run-1", config)
    assert (again["received"], again["landed"]) == (2, 2)  # the window, read whole again
    landed = RawLanding(tmp_path / "landing").read_records(SOURCE, DAY)
    assert sorted(zip(landed["item_id"], landed["label"])) == [
        ("A", "corrected"), ("A", "first"), ("B", "kept")]  # both versions of A landed
    validate_and_load(SOURCE, DAY, "run-1", config)
    staged = _staged(warehouse_url)
    assert list(staged["id"]) == ["A", "A", "B"]
    newest_a = staged[staged["id"] == "A"].iloc[-1]
    assert '"corrected"' in newest_a["record"]
    # Re-running the load once more changes nothing.
    validate_and_load(SOURCE, DAY, "run-1", config)
    pd.testing.assert_frame_equal(_staged(warehouse_url), staged)


def test_a_retry_during_a_source_outage_does_not_empty_the_window(tmp_path, warehouse_url):
    db = tmp_path / "dept.duckdb"
    url = _department(db, [("A", "first", datetime(2026, 11, 1, 10)),
                           ("B", "kept", datetime(2026, 11, 1, 11))])
    config = _config(tmp_path, warehouse_url, url)
    extract(SOURCE, SINCE, UNTIL, "run-1", config)
    landing = RawLanding(tmp_path / "landing")
    parts = sorted(p.name for p in landing.root.rglob("*.parquet"))
    db.rename(tmp_path / "away.duckdb")  # the department database is down
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises, the task fails
        extract(SOURCE, SINCE, UNTIL, "run-1", config)
    assert sorted(p.name for p in landing.root.rglob("*.parquet")) == parts
    assert sorted(landing.read_records(SOURCE, DAY)["item_id"]) == ["A", "B"]
    (tmp_path / "away.duckdb").rename(db)
    # Back up and unchanged: the re-run lands nothing new and nothing is lost.
    again = extract(SOURCE, SINCE, UNTIL, "run-1", config)
    assert again["landed"] == 2
    assert sorted(p.name for p in landing.root.rglob("*.parquet")) == parts
    validate_and_load(SOURCE, DAY, "run-1", config)
    assert list(_staged(warehouse_url)["id"]) == ["A", "B"]


def test_a_corrected_roster_under_the_same_name_lands_beside_the_original(tmp_path,
                                                                          warehouse_url):
    from test_rosters import HEADER, PEOPLE, csv_bytes

    relative = "rosters/150102001000/202611/roster.csv"
    drop = tmp_path / "drop"
    (drop / relative).parent.mkdir(parents=True)
    original = csv_bytes([HEADER, PEOPLE[0]])
    corrected = csv_bytes([HEADER, PEOPLE[0], PEOPLE[1]])
    config = {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
              "rosters": {"root": str(drop)}}
    (drop / relative).write_bytes(original)
    extract("rosters", datetime(2026, 11, 1), datetime(2026, 12, 1), "run-1", config)
    (drop / relative).write_bytes(corrected)  # re-delivered the same day, same name
    report = extract("rosters", datetime(2026, 11, 1), datetime(2026, 12, 1), "run-2", config)
    assert report["landed"] == 2
    landing = RawLanding(tmp_path / "landing")
    copies = sorted(p.read_bytes() for p in landing.root.joinpath("files").rglob("*.csv"))
    assert copies == sorted([original, corrected])
    landed = landing.read_records("rosters")
    assert len(landed) == 3 and landed["file_sha256"].nunique() == 2


def test_landing_a_taken_part_name_adds_an_attempt_and_overwrites_nothing(tmp_path):
    landing = RawLanding(tmp_path)
    one = pd.DataFrame({"id": ["1", "2"], "v": ["a", "b"]})
    two = pd.DataFrame({"id": ["1", "3"], "v": ["a2", "c"]})
    first = landing.write_records("s", DAY, "w1", "run-1", one, "id", datetime(2026, 11, 2))
    second = landing.write_records("s", DAY, "w1", "run-2", two, "id", datetime(2026, 11, 3))
    same = landing.write_records("s", DAY, "w1", "run-3", two, "id", datetime(2026, 11, 4))
    assert (first.name, second.name, same.name) == ("w1.parquet", "w1~2.parquet", "w1~2.parquet")
    landed = landing.read_records("s", DAY)
    assert sorted(zip(landed["id"], landed["v"])) == [("1", "a"), ("1", "a2"), ("2", "b"),
                                                      ("3", "c")]
    assert set(landed["_run_id"]) == {"run-1", "run-2"}
    assert landing.part_files("s", DAY, "w1") == {first, second}
    assert not list(tmp_path.rglob(".*"))  # no temporary files left behind
