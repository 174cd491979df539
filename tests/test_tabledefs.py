"""Tables declared in YAML (common/tabledefs.py): types, keys, groups, indexes, and errors that
name the file, the table and the column."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from common.tabledefs import TableDefinitionError, load_tables

DEFINITION = """
groups:
  stamp:
    run_id: string(256) required
tables:
  event:
    schema: ops
    columns:
      event_id: {type: string(64) key, comment: "the event's key"}
      seq: integer key
      score: double
      at: timestamp required
      local: datetime
      area: char(12)
    with: [stamp]
    indexes:
      ix_event_at: [at, area]
"""


def test_columns_types_keys_groups_and_indexes(tmp_path):
    path = tmp_path / "tables.yaml"
    path.write_text(DEFINITION, encoding="utf-8")
    table = load_tables(path, sa.MetaData())["event"]
    assert table.fullname == "ops.event"
    assert [c.name for c in table.columns] == ["event_id", "seq", "score", "at", "local", "area",
                                               "run_id"]
    assert [c.name for c in table.primary_key.columns] == ["event_id", "seq"]
    assert table.c.event_id.comment == "the event's key"
    assert isinstance(table.c.score.type, sa.Double)
    assert table.c.at.type.timezone is True and table.c.local.type.timezone is False
    assert isinstance(table.c.area.type, sa.CHAR) and table.c.area.type.length == 12
    assert not table.c.at.nullable and not table.c.run_id.nullable and table.c.score.nullable
    assert [(ix.name, [c.name for c in ix.columns]) for ix in table.indexes] == \
        [("ix_event_at", ["at", "area"])]


@pytest.mark.parametrize("spec, message", [
    ("varchar(10)", "unknown type 'varchar(10)'"),
    ("text unique", "unknown flags ['unique']"),
    ("{type: text, default: x}", "unknown keys ['default']"),
])
def test_a_wrong_column_names_file_table_and_column(tmp_path, spec, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"tables:\n  t:\n    schema: s\n    columns:\n      c: {spec}\n",
                    encoding="utf-8")
    with pytest.raises(TableDefinitionError) as raised:
        load_tables(path, sa.MetaData())
    assert str(raised.value) == f"{path}: table t, column c: {message}"
