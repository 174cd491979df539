"""Trace a published row back to the staged version it came from, the run that landed it
and the run that published it (docs/lineage.md).

The trace shows personal data as a department's view shows it: a column the department is
granted in full, every other personal column masked by its catalogue mask (ID numbers,
phones, names, addresses; free text and coordinates withheld). Without a department it is
masked as for a department granted nothing. Fields of the staged record are matched to the
published columns they fill (`caller.phone` -> `hotline_ticket.caller_phone`, a grid event's
`persons` -> `grid_event_person`); a field no published column holds is masked by its key
and by pattern (common.masking.mask_record), as `govshare quarantine explain` shows records.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from common.masking import COLUMN_MASKS, mask_record
from warehouse.access import (
    AccessConfig,
    AccessError,
    Department,
    department,
    row_visible,
    sees_in_full,
    visible_tables,
)
from warehouse.catalogue import Table, existing_shared_columns, load_catalogue

# Published tables with their own lineage columns, by their key column.
TRACEABLE = {"hotline_ticket": "ticket_id", "grid_event": "event_id",
             "community_worker": "source_record_id"}
# A list in a staged record whose entries are rows of a child table.
CHILD_TABLES = {("hotline_ticket", "dispatches"): "hotline_dispatch",
                ("grid_event", "persons"): "grid_event_person",
                ("grid_event", "units"): "grid_event_unit"}
# Staged fields published under another name.
RENAMED = {("community_worker", "community"): "community_name",
           ("grid_event", "source"): "report_source"}


def trace_row(engine: sa.Engine, table: str, key: str, access: AccessConfig | None = None,
              department_key: str | None = None) -> dict | None:
    """{published, staged, landing_audit} for the row of `shared.<table>` with that key:
    its lineage columns, the staged version (record as received, change time, landing run
    and time) and the load_audit row of the landing run, personal data masked unless the
    department (`department_key` in `access`) is granted it; that department must see the
    row in its own view. None if there is no such row."""
    if table not in TRACEABLE:
        raise ValueError(f"{table} is not one of {sorted(TRACEABLE)}")
    with engine.connect() as conn:
        published = conn.execute(sa.text(
            f"SELECT source, source_record_id, content_hash, run_id, loaded_at "
            f"FROM shared.{table} WHERE {TRACEABLE[table]} = :key"), {"key": key}
        ).mappings().first()
        if published is None:
            return None
        staged = conn.execute(sa.text(
            "SELECT record, record_updated_at, run_id, landed_at FROM staging.record_version "
            "WHERE source = :source AND source_record_id = :id AND content_hash = :hash"),
            {"source": published["source"], "id": published["source_record_id"],
             "hash": published["content_hash"]}).mappings().first()
        audit = conn.execute(sa.text(
            "SELECT * FROM shared.load_audit WHERE source = :source AND run_id = :run"),
            {"source": published["source"], "run": staged["run_id"] if staged else None}
        ).mappings().first()
        existing = existing_shared_columns(conn)
    dept = None
    if department_key is not None:
        if access is None:
            raise AccessError("a department's trace needs the access configuration")
        dept = department(access, department_key)
        if not row_visible(engine, dept, table, TRACEABLE[table], key):
            raise AccessError(f"{dept.key} does not see {key} in {table}")
    catalogue = load_catalogue()
    masker = _Masker(catalogue, dept, existing)
    if staged:
        staged = dict(staged)
        staged["record"] = json.dumps(  # JSON text, as staged
            masker.fields(json.loads(staged["record"]), catalogue[table]), ensure_ascii=False)
    return {"published": masker.row(dict(published), catalogue[table]),
            "staged": staged,
            "landing_audit": masker.row(dict(audit), catalogue["load_audit"]) if audit
            else None}


class _Masker:
    """Masks values by the catalogue column they are shown as, for one department."""

    def __init__(self, catalogue: dict[str, Table], dept: Department | None, existing):
        self.catalogue, self.dept = catalogue, dept
        self.visible = set(visible_tables(dept, catalogue, existing)) if dept else set()

    def value(self, value, table: Table, name: str, key: str):
        """`value` as the department sees column `name` of `table` (a field no column holds:
        masked by its `key` and by pattern)."""
        column = table.columns.get(name)
        if column is None:
            return mask_record(value, key)
        if column.personal == "none" or value is None:
            return value
        granted = self.dept if table.name in self.visible else None
        if sees_in_full(granted, table, column):
            return value
        # Non-text personal values (coordinates) have no partial form: withheld.
        return COLUMN_MASKS[column.mask or "withhold"](value) if isinstance(value, str) \
            else None

    def row(self, row: dict, table: Table) -> dict:
        return {k: self.value(v, table, k, k) for k, v in row.items()}

    def fields(self, record: dict, table: Table, prefix: str = "") -> dict:
        """A staged record's fields; a nested object's fields are the columns named with
        its key as prefix (caller.phone -> caller_phone)."""
        out = {}
        for key, value in record.items():
            name = prefix + key
            child = CHILD_TABLES.get((table.name, name))
            if child and isinstance(value, list):
                out[key] = [self.fields(v, self.catalogue[child]) if isinstance(v, dict)
                            else mask_record(v) for v in value]
            elif isinstance(value, dict):
                out[key] = self.fields(value, table, f"{name}_")
            else:
                out[key] = self.value(value, table, RENAMED.get((table.name, name), name), key)
        return out
