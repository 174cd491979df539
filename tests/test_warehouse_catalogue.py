"""The catalogue (warehouse/catalogue.yaml) covers every shared column; the data dictionary
and the PostgreSQL COMMENTs are generated from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import sqlalchemy as sa

from warehouse.catalogue import (
    data_dictionary_html,
    data_dictionary_markdown,
    load_catalogue,
    missing_entries,
    shared_columns,
    write_catalogue_outputs,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_shared_column_has_a_catalogue_entry():
    assert "resident" in shared_columns()  # the resolution's tables are checked too
    assert missing_entries() == []


def test_a_column_without_an_entry_is_reported():
    catalogue = dict(load_catalogue())
    ticket = catalogue["hotline_ticket"]
    columns = {k: v for k, v in ticket.columns.items() if k != "caller_phone"}
    catalogue["hotline_ticket"] = dataclasses.replace(ticket, columns=columns)
    del catalogue["unit_xref"]
    missing = missing_entries(catalogue)
    assert "hotline_ticket.caller_phone" in missing
    assert {f"unit_xref.{c}" for c in shared_columns()["unit_xref"]} <= set(missing)


def test_the_dictionary_lists_every_shared_column_and_is_up_to_date():
    markdown = data_dictionary_markdown()
    sections = {s.split("\n", 1)[0]: s for s in markdown.split("\n## ")[1:]}
    for table, columns in shared_columns().items():
        for column in columns:
            assert f"| `{column}` |" in sections[table], f"{table}.{column}"
    assert (DOCS / "data-dictionary.md").read_text(encoding="utf-8") == markdown, \
        "docs/data-dictionary.md is stale: run `govshare warehouse catalogue`"
    assert (DOCS / "data-dictionary.html").read_text(encoding="utf-8") == data_dictionary_html()


def test_comments_are_applied_to_postgresql(pg_url, tmp_path):
    from warehouse import resolution_tables as tables
    from warehouse.migrate import upgrade

    upgrade(pg_url)
    engine = sa.create_engine(pg_url)
    tables.create_all(engine)
    outcome = write_catalogue_outputs(tmp_path, engine)
    assert outcome["comments_applied"] > 200
    with engine.connect() as conn:
        comment = conn.exec_driver_sql(
            "SELECT col_description('shared.hotline_ticket'::regclass, attnum) "
            "FROM pg_attribute WHERE attrelid = 'shared.hotline_ticket'::regclass "
            "AND attname = 'caller_phone'").scalar()
        table_comment = conn.exec_driver_sql(
            "SELECT obj_description('shared.resident'::regclass)").scalar()
    engine.dispose()
    assert comment.startswith("来电人电话") and "有条件共享" in comment
    assert "居民" in table_comment
    assert (tmp_path / "data-dictionary.html").exists()
