"""Tables the pipeline owns, declared in tables.yaml (published `shared.*` names follow the
spec, docs/spec/warehouse.md). Each table is this module's attribute of the same name:
`from warehouse.schema import quarantine`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from common.tabledefs import load_tables

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)
TABLES = load_tables(Path(__file__).with_name("tables.yaml"), metadata)


def history_table(current: sa.Table) -> sa.Table:
    """`<name>_history`: every version a latest-state table has held (SCD type 2): its
    columns, the time the version took effect (`valid_from`) and was replaced (`valid_to`,
    null while current)."""
    key = [c.name for c in current.primary_key.columns]
    columns = [sa.Column(c.name, c.type, comment=c.comment) for c in current.columns]
    return sa.Table(
        f"{current.name}_history", current.metadata, *columns,
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("valid_to", TS),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Index(f"ix_{current.name}_history_key", *key, "valid_from"),
        schema=current.schema,
    )


for _name in ("hotline_ticket", "grid_event"):
    TABLES[f"{_name}_history"] = history_table(TABLES[_name])


def __getattr__(name: str) -> sa.Table:
    try:
        return TABLES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def create_all(engine: sa.Engine) -> None:
    metadata.create_all(engine)
    from warehouse.freshness import create_freshness_view

    create_freshness_view(engine)
