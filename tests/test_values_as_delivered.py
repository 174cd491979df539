"""Validation checks values as the source delivered them: a department table whose every
change time falls at exactly 00:00:00 (a system that updates in a nightly batch) is a
DATETIME column the driver hands over as datetimes; it loads whole, on each department
database kind and each warehouse engine. (pandas prints such a column as dates only, which
the `updated_at.is_timestamp` rule once rejected row by row.)"""

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from pipeline.extraction import extract
from pipeline.staging import validate_and_load
from simulator.departments import TABLES
from simulator.run import simulate

pytest.importorskip("great_expectations")

TABLE, KEY = "civil_affairs.residents", "resident_no"


@pytest.fixture(params=["duckdb", "mariadb"])
def midnight_department(request, tmp_path):
    """The simulated residents register with every `updated_at` moved to its midnight."""
    departments_url = None if request.param == "duckdb" \
        else request.getfixturevalue("mariadb_url")
    manifest = simulate(tmp_path / "sim", scale="tiny", seed=3, days=1,
                        departments_url=departments_url, progress=lambda m: None)
    url = departments_url or f"duckdb:///{tmp_path / 'sim' / 'departments.duckdb'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {TABLE} SET updated_at = CAST(CAST(updated_at AS DATE) "
                             "AS DATETIME)" if request.param == "mariadb" else
                             f"UPDATE {TABLE} SET updated_at = date_trunc('day', updated_at)")
        rows, off_midnight = conn.exec_driver_sql(
            f"SELECT count(*), sum(CASE WHEN CAST(updated_at AS TIME) <> '00:00:00' "
            f"THEN 1 ELSE 0 END) FROM {TABLE}").one()
    engine.dispose()
    assert rows > 1000 and not off_midnight
    return url, rows, manifest


def test_a_table_whose_change_times_are_all_at_midnight_loads_whole(
        midnight_department, warehouse_url, tmp_path):
    url, rows, _ = midnight_department
    config = {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
              "data_docs_dir": str(tmp_path / "docs"),
              "reference": {"root": str(tmp_path / "sim" / "reference")},
              "departments": [{"table": TABLE, "key": TABLES[TABLE][1], "url": url}]}
    landed = extract(TABLE, datetime(1900, 1, 1), datetime(2100, 1, 1), "run-1", config)
    assert landed["landed"] == rows
    staged = validate_and_load(TABLE, date(2099, 12, 31), "run-1", config)
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        held = conn.execute(sa.text(
            "SELECT count(*) FROM shared.quarantine WHERE source = :s AND reason LIKE "
            "'%updated_at%'"), {"s": TABLE}).scalar()
    engine.dispose()
    assert held == 0
    assert staged["staged"] + staged["quarantine_rows"] == rows
    assert staged["staged"] >= rows * 0.95  # the rest: the register's own noise (bad IDs)
