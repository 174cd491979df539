"""The reconciliation (pipeline/reconcile.py, `govshare audit reconcile`) on a small department
table: a run adds up; a landed version lost before loading, an audit count that is not what
the landing zone holds, and a run that landed without an audit row are each reported, and
the command exits 1. On DuckDB and PostgreSQL."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from govshare.cli import main
from pipeline import extraction, staging
from pipeline.reconcile import compare_warehouses, reconcile_config, summary

TZ = ZoneInfo("Asia/Shanghai")
SOURCE = "records_office.items"


@pytest.fixture
def config(tmp_path, warehouse_url):
    department = tmp_path / "department.duckdb"
    engine = sa.create_engine(f"duckdb:///{department}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA records_office")
        pd.DataFrame({"item_no": [f"I{i:03d}" for i in range(30)],
                      "title": [f"item {i}" for i in range(30)],
                      "updated_at": pd.Timestamp("2026-11-02 08:00") + pd.to_timedelta(
                          range(30), unit="min")}).to_sql(
            "items", conn, schema="records_office", index=False)
    engine.dispose()
    config = {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
              "data_docs_dir": str(tmp_path / "docs"),
              "departments": [{"table": SOURCE, "key": "item_no",
                               "url": f"duckdb:///{department}", "chunk_rows": 10}]}
    since, until = datetime(2026, 11, 2, tzinfo=TZ), datetime(2026, 11, 3, tzinfo=TZ)
    extraction.extract(SOURCE, since, until, "run1", config)
    staging.validate_and_load(SOURCE, since.date(), "run1", config)
    return config


def _execute(config, sql: str) -> None:
    engine = sa.create_engine(config["warehouse_url"])
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


def test_a_clean_run_adds_up(config):
    [run] = reconcile_config(config)
    assert (run.source, run.run_id, run.received, run.landed, run.loaded,
            run.quarantined) == (SOURCE, "run1", 30, 30, 30, 0)
    assert run.ok and not run.pending
    assert summary([run])["status"].tolist() == ["ok"]


def test_a_version_lost_between_landing_and_loading_is_reported(config):
    _execute(config, "DELETE FROM staging.record_version WHERE source_record_id = 'I007'")
    [run] = reconcile_config(config)
    assert not run.ok
    assert run.unaccounted == ["I007"]
    assert "1 landed versions neither loaded nor quarantined" in run.problems


def test_an_audit_that_disagrees_with_the_landing_zone_is_reported(config):
    _execute(config, "UPDATE shared.load_audit SET records_landed = 29")
    [run] = reconcile_config(config)
    assert run.problems == ["audit says 29 landed, the landing zone holds 30 versions of "
                            "this run"]


def test_a_run_that_landed_without_an_audit_row_is_reported(config):
    _execute(config, "DELETE FROM shared.load_audit")
    [run] = reconcile_config(config)
    assert run.problems == ["30 versions landed by a run with no audit row"]


def test_the_command_prints_counts_and_exits_1_on_a_failure(config, tmp_path, capsys):
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["audit", "reconcile", "--sources", str(sources), "--run-id", "run1"]) == 0
    out = capsys.readouterr().out
    assert "records_office.items" in out and "1 run(s) of 1 source(s): 0 not reconciled" in out
    _execute(config, "DELETE FROM staging.record_version WHERE source_record_id = 'I001'")
    assert main(["audit", "reconcile", "--sources", str(sources)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_comparing_a_warehouse_with_itself_and_with_a_changed_copy(config, tmp_path):
    tables = ["staging.record_version", "shared.load_audit"]
    assert compare_warehouses(config["warehouse_url"], config["warehouse_url"], tables) == {}
    from db_support import clone_warehouse

    copy = clone_warehouse(config["warehouse_url"], tmp_path, "copy")
    _execute({"warehouse_url": copy},
             "UPDATE staging.record_version SET record = 'changed' "
             "WHERE source_record_id = 'I003'")
    assert compare_warehouses(copy, config["warehouse_url"], tables) == {
        "staging.record_version": ["record: 1 rows differ"]}
