"""A critical rule that fails for most of a batch holds the batch loudly: the task fails with
the rule, the share and three masked examples, nothing is staged or quarantined row by row,
and the hold is recorded; once the rule is fixed, releasing the batch loads it, once."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa
from test_source_registry import RULES, MeterReadings, register_meters  # noqa: F401
from warehouse_support import write_reference

from common import sources
from govshare.cli import main
from pipeline.extraction import extract
from pipeline.staging import BatchHeldError, held_batches, validate_and_load

pytest.importorskip("great_expectations")

SOURCE = "utility.meter_readings"
GOOD_RULE = """  - id: meter_no.format
    field: meter_no
    expectation: expect_column_values_to_match_regex
    kwargs: {regex: '^WM-[0-9]{3}$'}
    severity: critical
    description: a meter number is WM- and three digits
"""
BROKEN_RULE = GOOD_RULE.replace("^WM-", "^MW-")  # a typo in the rule, not in the data


@pytest.fixture
def meters(tmp_path, warehouse_url, monkeypatch):
    rules_file = register_meters(tmp_path / "rules", RULES + BROKEN_RULE)
    drop = tmp_path / "drop" / "meters"
    drop.mkdir(parents=True)
    lines = ["reading_id,meter_no,litres,updated_at"] + [
        f"MR{i},WM-{i:03d},{100 + i},2026-11-30 08:{i % 60:02d}:00" for i in range(40)]
    (drop / "readings_20261130.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
              "data_docs_dir": str(tmp_path / "docs"),
              "reference": {"root": str(write_reference(tmp_path / "reference"))},
              "meters": {"root": str(tmp_path / "drop")}}
    extract(SOURCE, datetime(2026, 11, 30), datetime(2026, 12, 1), "run-1", config)
    sources_file = tmp_path / "sources.yaml"
    import yaml
    sources_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("GOVSHARE_SOURCES", str(sources_file))
    yield config, rules_file
    sources.unregister("meters")


def _counts(url):
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        staged = conn.execute(sa.text("SELECT count(*) FROM staging.record_version "
                                      "WHERE source = :s"), {"s": SOURCE}).scalar()
        held = conn.execute(sa.text("SELECT count(*) FROM shared.quarantine "
                                    "WHERE source = :s"), {"s": SOURCE}).scalar()
    engine.dispose()
    return staged, held


def test_a_broken_rule_holds_the_batch_and_releasing_it_after_the_fix_loads_it_once(
        meters, capsys):
    config, rules_file = meters
    with pytest.raises(BatchHeldError) as held:
        validate_and_load(SOURCE, date(2026, 11, 30), "run-1", config)
    message = str(held.value)
    assert "batch held: critical rule meter_no.format" in message
    assert "fails for 40 of 40 rows (100%, more than 20%)" in message
    assert message.count("row ") == 3 and "meter_no='WM-000'" in message  # three examples
    assert _counts(config["warehouse_url"]) == (0, 0)  # nothing staged, nothing quarantined
    from warehouse.migrate import open_warehouse
    engine = open_warehouse(config["warehouse_url"])
    [hold] = held_batches(engine).to_dict("records")
    engine.dispose()
    assert (hold["source"], hold["run_id"]) == (SOURCE, "run-1")

    # Still broken: release says so and loads nothing.
    assert main(["batch", "release", SOURCE, "run-1", "--reason", "try"]) == 1
    assert "still held" in capsys.readouterr().err
    rules_file.write_text(rules_file.read_text(encoding="utf-8").replace("^MW-", "^WM-"),
                          encoding="utf-8")
    assert main(["batch", "release", SOURCE, "run-1", "--reason", "rule typo fixed"]) == 0
    assert "staged 40, quarantined 0" in capsys.readouterr().out
    assert _counts(config["warehouse_url"]) == (40, 0)
    assert main(["batch", "release", SOURCE, "run-1", "--reason", "again"]) == 0
    assert _counts(config["warehouse_url"]) == (40, 0)  # loaded once
    engine = open_warehouse(config["warehouse_url"])
    assert held_batches(engine).empty
    [released] = held_batches(engine, include_released=True).to_dict("records")
    engine.dispose()
    assert released["release_reason"] == "rule typo fixed"
    assert main(["batch", "list", "--all"]) == 0
    assert "released" in capsys.readouterr().out


def test_a_few_bad_rows_are_quarantined_not_held(meters):
    config, rules_file = meters
    rules_file.write_text(RULES + GOOD_RULE, encoding="utf-8")
    drop = rules_file.parent.parent / "drop" / "meters" / "readings_20261130.csv"
    text = drop.read_text(encoding="utf-8").replace("WM-001", "WM-1").replace("WM-002", "W2")
    drop.write_text(text, encoding="utf-8")
    extract(SOURCE, datetime(2026, 11, 30), datetime(2026, 12, 1), "run-2", config)
    summary = validate_and_load(SOURCE, date(2026, 11, 30), "run-2", config)
    assert (summary["quarantine_rows"], _counts(config["warehouse_url"])[1]) == (2, 2)
