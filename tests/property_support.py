"""What the contract property tests share: an in-memory extraction state, a scratch landing
zone per example, the department tables built from drawn rows, and the checks every
property makes on a validation outcome."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from connectors.landing import RawLanding


class MemoryState:
    """The extraction state (connectors.base.ExtractionState) of one example, in memory."""

    def __init__(self):
        self.marks: dict[str, str] = {}
        self.windows: dict[tuple[str, str], str | None] = {}
        self.files: dict[str, dict[str, str]] = {}

    def get_watermark(self, source):
        return self.marks.get(source)

    def set_watermark(self, source, value, run_id):
        self.marks[source] = value

    def window_lower_bound(self, source, part):
        key = (source, part)
        return (key in self.windows, self.windows.get(key))

    def record_window(self, source, part, lower_bound, run_id):
        self.windows[(source, part)] = lower_bound

    def file_manifest(self, source):
        return dict(self.files.get(source, {}))

    def record_file(self, source, path, sha256, run_id):
        self.files.setdefault(source, {})[path] = sha256


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per hypothesis example (function-scoped tmp_path is shared by all the
    examples of one test)."""
    with tempfile.TemporaryDirectory(prefix="govshare-prop-") as folder:
        yield Path(folder)


def landing_in(folder: Path) -> RawLanding:
    return RawLanding(folder / "landing")


def rejected_by_connector(report) -> dict[str, str]:
    """location -> reason of what the connector could not land as a record."""
    return {item.location: item.reason for item in report.quarantined}


def quarantine_reasons(outcome) -> dict[str, str]:
    """source_record_id -> reason of what validation quarantined."""
    return dict(zip(outcome.quarantined["source_record_id"].astype("str"),
                    outcome.quarantined["reason"].astype("str")))


def warnings_of(outcome, key: str = "_source_record_id") -> dict[str, set[str]]:
    """record id -> the warning rules it loaded with."""
    valid = outcome.valid
    return {str(k): set(w.split(",")) if isinstance(w, str) and w else set()
            for k, w in zip(valid[key], valid["_warnings"])}


def assert_properties(outcome, valid_ids: set[str], defects: dict[str, str],
                      allowed_warnings: set[str] = frozenset(),
                      connector_rejects: dict[str, str] | None = None,
                      connector_defects: dict[str, str] | None = None) -> None:
    """The contract properties of one batch: nothing held; every contract-valid record
    loads, with no warning but the allowed ones; every invalid record is quarantined (by
    validation, or by the connector when it cannot even be landed) with a reason naming the
    rule it breaks, and nothing else is."""
    assert outcome.batch_failures == [], outcome.batch_failures
    quarantined = quarantine_reasons(outcome)
    assert set(quarantined) == set(defects), ({k: quarantined[k] for k in set(quarantined) - set(defects)}, sorted(defects))
    for record_id, rule in defects.items():
        assert rule in quarantined[record_id], (record_id, rule, quarantined[record_id])
    loaded = warnings_of(outcome)
    assert set(loaded) == valid_ids, (sorted(set(loaded) ^ valid_ids))
    unexpected = {k: w - set(allowed_warnings) for k, w in loaded.items()
                  if w - set(allowed_warnings)}
    assert not unexpected, unexpected
    rejects = connector_rejects or {}
    assert set(rejects) == set(connector_defects or {}), (rejects, connector_defects)
    for location, words in (connector_defects or {}).items():
        assert words in rejects[location], (location, rejects[location])


# --------------------------------------------------------------------------- departments

CONTRACT_TYPES = {  # departments.md column types, as each engine spells them
    "varchar": {"duckdb": "VARCHAR", "mariadb": "VARCHAR(256)"},
    "date": {"duckdb": "DATE", "mariadb": "DATE"},
    "tinyint": {"duckdb": "TINYINT", "mariadb": "TINYINT"},
}


# civil_affairs.residents (departments.md) but its change time, whose type each test picks.
RESIDENT_COLUMNS = {
    "resident_no": "varchar", "name": "varchar", "id_type": "varchar", "id_number": "varchar",
    "gender": "varchar", "birth_date": "date", "ethnicity": "varchar", "phone": "varchar",
    "household_no": "varchar", "relation_to_head": "varchar", "registered_address": "varchar",
    "residence_address": "varchar", "community_code": "varchar", "status": "varchar",
}


def create_department_table(url: str, table: str, columns: dict[str, str],
                            updated_type: str, rows: list[dict]) -> None:
    """Create `table` (schema.name) with the contract's columns plus `updated_at` of
    `updated_type`, and insert `rows` as the department's application would."""
    engine_kind = "mariadb" if url.startswith("mysql") else "duckdb"
    schema, name = table.split(".")
    ddl = [f"{c} {CONTRACT_TYPES[t][engine_kind]}" for c, t in columns.items()]
    text = {"duckdb": "VARCHAR", "mariadb": "VARCHAR(40)"}[engine_kind]
    ddl.append("updated_at " + (text if updated_type == "TEXT" else
                                updated_type + (" NULL" if engine_kind == "mariadb" else "")))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine_kind == "duckdb":
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.{name}")
            conn.exec_driver_sql(f"CREATE TABLE {schema}.{name} ({', '.join(ddl)})")
            names = [*columns, "updated_at"]
            conn.execute(sa.text(f"INSERT INTO {schema}.{name} ({', '.join(names)}) VALUES "
                                 f"({', '.join(':' + c for c in names)})"), rows)
    finally:
        engine.dispose()
