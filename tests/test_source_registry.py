"""The source registry (common.sources) is the one list of sources: a new file-drop source is
its declaration, its parse function and its rules file, and runs through extract -> validate
-> stage with no other module touched. Also: the registry yields what the sources file
configures, in a fixed order, and each source's connector."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from common import sources
from connectors.filedrop import FileContents, FileDropConnector
from connectors.grid import GridFileConnector
from connectors.open311 import Open311Connector
from connectors.sql import SqlTableConnector
from pipeline.extraction import build_connector, extract, source_names
from pipeline.staging import validate_and_load

pytest.importorskip("great_expectations")


# ---- the toy source: everything a new file-drop source needs ---------------------------------

class MeterReadings(FileDropConnector):
    """Water-meter readings a utility drops as CSV files."""

    source, key_column = "utility.meter_readings", "reading_id"

    def window_files(self, window, notes):
        return self.glob("meters/*.csv")

    def part_name(self, relative_path, sha256):
        return f"{Path(relative_path).stem}-{sha256[:12]}"

    def parse(self, relative_path, data, sha256, notes):
        return FileContents(records=pd.read_csv(io.BytesIO(data), dtype="str"))


RULES = """\
source: utility.meter_readings
key: reading_id
version: updated_at
columns:
  reading_id: {type: text, required: true}
  meter_no: {type: text, required: true}
  litres: {type: text}
  updated_at: {type: datetime, required: true}
personal_data: {}
rules:
  - id: meter_no.present
    field: meter_no
    expectation: expect_column_values_to_not_be_null
    severity: critical
    description: every reading names its meter
"""


def register_meters(rules_dir: Path, rules: str = RULES) -> Path:
    """Register the toy source with the given rules file (unregister "meters" after);
    returns the rules file's path."""
    rules_dir.mkdir()
    path = rules_dir / "utility.meter_readings.yaml"
    path.write_text(rules, encoding="utf-8")
    sources.register(sources.SourceKind(
        section="meters", names=("utility.meter_readings",),
        connector=f"{__name__}:MeterReadings", rules_dir=rules_dir))
    return path


@pytest.fixture
def meter_readings(tmp_path):
    register_meters(tmp_path / "rules")
    yield
    sources.unregister("meters")


def test_a_new_file_drop_source_runs_through_extract_validate_and_stage(
        meter_readings, warehouse_url, tmp_path):
    drop = tmp_path / "drop" / "meters"
    drop.mkdir(parents=True)
    (drop / "readings_20261130.csv").write_text(
        "reading_id,meter_no,litres,updated_at\n"
        "MR1,WM-001,120,2026-11-30 08:00:00\n"
        "MR2,,95,2026-11-30 08:05:00\n"           # no meter: quarantined
        "MR3,WM-003,,2026-11-30 08:10:00\n", encoding="utf-8")
    config = {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
              "data_docs_dir": str(tmp_path / "docs"),
              "reference": {"root": str(_reference(tmp_path))},
              "meters": {"root": str(tmp_path / "drop")}}
    assert source_names(config) == ["utility.meter_readings"]
    landed = extract("utility.meter_readings", datetime(2026, 11, 30), datetime(2026, 12, 1),
                     "run-1", config)
    assert (landed["received"], landed["landed"]) == (3, 3)
    staged = validate_and_load("utility.meter_readings", date(2026, 11, 30), "run-1", config)
    assert (staged["staged"], staged["quarantine_rows"]) == (2, 1)
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        ids = conn.execute(sa.text(
            "SELECT source_record_id FROM staging.record_version "
            "WHERE source = 'utility.meter_readings' ORDER BY 1")).scalars().all()
        held = conn.execute(sa.text(
            "SELECT source_record_id, rules FROM shared.quarantine "
            "WHERE source = 'utility.meter_readings'")).all()
    engine.dispose()
    assert ids == ["MR1", "MR3"]
    assert held == [("MR2", "meter_no.present")]


def _reference(tmp_path):
    from warehouse_support import write_reference

    return write_reference(tmp_path / "reference")


# ---- the registry itself ---------------------------------------------------------------------

CONFIG = {
    "departments": [{"table": "civil_affairs.residents", "key": "resident_no", "url": "duckdb:///x"},
                    {"table": "organization.unit_reports", "key": "report_id",
                     "url": "duckdb:///x", "freshness_hours": 30}],
    "hotline": {"base_url": "http://127.0.0.1:1", "token": "t", "dialect": "open311"},
    "grid": {"root": "/tmp/drop"},
}


def test_the_registry_yields_the_configured_sources_in_declaration_order():
    assert source_names(CONFIG) == ["civil_affairs.residents", "organization.unit_reports",
                                    "open311.requests", "grid.events"]
    assert source_names({}) == []


def test_each_source_gets_its_declared_connector():
    assert isinstance(build_connector("organization.unit_reports", CONFIG), SqlTableConnector)
    assert isinstance(build_connector("open311.requests", CONFIG), Open311Connector)
    assert isinstance(build_connector("grid.events", CONFIG), GridFileConnector)


def test_every_declared_connector_lives_in_the_connectors_layer():
    """The pipeline imports a kind's connector by name (import-linter cannot see it), so the
    names themselves keep that import inside the layers: only `connectors.*` modules."""
    named = {kind.connector for kind in sources.kinds()} | {
        connector for kind in sources.kinds() for _, connector in kind.dialects.values()}
    assert named and all(name.startswith("connectors.") and ":" in name for name in named), named


def test_what_each_source_declares():
    assert sources.raw_format("open311.requests") == "json"
    assert sources.raw_format("grid.events") == "json"
    assert sources.raw_format("rosters") == "columns"
    assert sources.raw_format("civil_affairs.residents") == "columns"
    assert sources.rules_file("rosters") == sources.RULES_DIR / "rosters.yaml"
    assert sources.configured_source(CONFIG, "organization.unit_reports").freshness_hours == 30
    with pytest.raises(KeyError, match="no source named 'rosters'"):
        sources.configured_source(CONFIG, "rosters")
