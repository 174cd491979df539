"""A batch too large to hold at once (a register's full initial load) is validated and staged
in slices of whole landed parts (`validation_slice_rows`): the warehouse ends exactly as
with the batch in one piece, a rule failing for most of one slice still holds the whole
batch (nothing of the earlier slices is staged), and the volume rule judges the whole
batch's count, not a slice's."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from test_batch_hold import GOOD_RULE as FORMAT_RULE  # meter numbers are WM- and 3 digits
from test_source_registry import RULES, MeterReadings, register_meters  # noqa: F401
from warehouse_support import write_reference

from common import sources
from connectors.landing import RawLanding
from pipeline.extraction import extract
from pipeline.staging import BatchHeldError, validate_and_load

pytest.importorskip("great_expectations")

SOURCE = "utility.meter_readings"
DAY = date(2026, 11, 30)
WARNING_RULE = """  - id: litres.small
    field: litres
    expectation: expect_column_values_to_match_regex
    kwargs: {regex: '^[0-9]{1,2}$'}
    severity: warning
    description: a reading under 100 litres
"""
FILES, ROWS_PER_FILE = 5, 400


def _drop(root, bad_rows_in_last_file: int) -> None:
    """Five files of 400 readings; the first file has 7 bad meter numbers (quarantined one
    by one), the last `bad_rows_in_last_file`."""
    drop = root / "meters"
    drop.mkdir(parents=True)
    for number in range(FILES):
        bad = 7 if number == 0 else bad_rows_in_last_file if number == FILES - 1 else 0
        lines = ["reading_id,meter_no,litres,updated_at"] + [
            f"MR{number}-{i},{'XX' if i < bad else 'WM'}-{i % 1000:03d},{i},"
            f"2026-11-30 08:{i % 60:02d}:00" for i in range(ROWS_PER_FILE)]
        (drop / f"readings_{number}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def meters(tmp_path, warehouse_url):
    register_meters(tmp_path / "rules", RULES + FORMAT_RULE + WARNING_RULE)

    def land(name: str, bad_rows_in_last_file: int = 0, **settings) -> dict:
        root = tmp_path / name
        _drop(root / "drop", bad_rows_in_last_file)
        url = warehouse_url if name == "sliced" else f"duckdb:///{root / 'whole.duckdb'}"
        config = {"warehouse_url": url, "landing_root": str(root / "landing"),
                  "data_docs_dir": str(root / "docs"),
                  "reference": {"root": str(write_reference(root / "reference"))},
                  "meters": {"root": str(root / "drop")}, **settings}
        extract(SOURCE, datetime(2026, 11, 30), datetime(2026, 12, 1), "run-1", config)
        return config

    yield land
    sources.unregister("meters")


def _warehouse(config) -> tuple[set, set]:
    engine = sa.create_engine(config["warehouse_url"])
    with engine.connect() as conn:
        staged = set(conn.execute(sa.text(
            "SELECT source_record_id, content_hash, record, warnings "
            "FROM staging.record_version WHERE source = :s"), {"s": SOURCE}).all())
        quarantined = set(conn.execute(sa.text(
            "SELECT source_record_id, reason FROM shared.quarantine WHERE source = :s"),
            {"s": SOURCE}).all())
    engine.dispose()
    return staged, quarantined


def test_slices_stage_and_quarantine_exactly_what_the_whole_batch_does(meters):
    whole = meters("whole")  # DuckDB, the batch in one piece (the default slice is larger)
    sliced = meters("sliced", validation_slice_rows=ROWS_PER_FILE + 100)  # a file a slice
    assert len(RawLanding(sliced["landing_root"]).record_slices(
        SOURCE, DAY, max_rows=ROWS_PER_FILE + 100).parts) == FILES
    result = validate_and_load(SOURCE, DAY, "run-1", sliced)
    assert validate_and_load(SOURCE, DAY, "run-1", whole)["staged"] == result["staged"] \
        == FILES * ROWS_PER_FILE - 7
    assert result["quarantine_rows"] == 7 and result["slices"] == FILES
    assert _warehouse(sliced) == _warehouse(whole)
    staged, quarantined = _warehouse(sliced)
    assert len(quarantined) == 7
    # The warning rule's flag reaches staging: readings 100-399 of every file (reading i has
    # i litres; the 7 quarantined ones are readings 0-6).
    warned = {row[0] for row in staged if row[3] == "litres.small"}
    assert len(warned) == FILES * (ROWS_PER_FILE - 100)
    assert all(row[3] is None for row in staged if row[0] not in warned)


def test_a_rule_failing_for_most_of_the_last_slice_holds_the_whole_batch(meters):
    config = meters("sliced", bad_rows_in_last_file=ROWS_PER_FILE,
                    validation_slice_rows=ROWS_PER_FILE + 100)
    with pytest.raises(BatchHeldError, match="fails for 400 of 400 rows"):
        validate_and_load(SOURCE, DAY, "run-1", config)
    assert _warehouse(config) == (set(), set())  # nothing of the first four slices either


def test_the_volume_rule_judges_the_whole_batch_not_a_slice():
    from expectations import custom
    from expectations.runner import _gx

    _, _, definition, _ = _gx()
    slice_of_a_big_batch = definition.get_batch(batch_parameters={
        "dataframe": pd.DataFrame({"x": range(10)})})
    history = [1000, 1000, 1000]
    assert not slice_of_a_big_batch.validate(custom.ExpectTableRowCountToBeWithinHistoryBand(
        recent_counts=history)).success
    assert slice_of_a_big_batch.validate(custom.ExpectTableRowCountToBeWithinHistoryBand(
        recent_counts=history, batch_rows=950)).success
    assert not slice_of_a_big_batch.validate(custom.ExpectTableRowCountToBeWithinHistoryBand(
        recent_counts=history, batch_rows=400)).success
