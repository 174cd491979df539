"""Versioned migrations of the warehouse (Alembic, in warehouse/migrations/).

PostgreSQL deployments upgrade in place with `govshare warehouse upgrade`. The embedded
DuckDB warehouse is created from the table definitions instead (`schema.create_all`):
Alembic 1.20 has no DuckDB implementation (`alembic.ddl` raises KeyError 'duckdb' on the
first operation), and DuckDB's ALTER TABLE lacks constraint changes anyway, so the demo file
is recreated, not migrated.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> str:
    """Apply every migration up to `revision` (idempotent: an up-to-date warehouse is left as
    it is) and make sure the views exist; returns the revision reached."""
    from warehouse.engine import create_warehouse_engine, is_duckdb
    from warehouse.freshness import create_freshness_view
    from warehouse.schema import create_all

    engine = create_warehouse_engine(url)
    try:
        if is_duckdb(engine):
            create_all(engine)
            return "create_all (DuckDB is not migrated)"
        command.upgrade(alembic_config(url), revision)
        create_freshness_view(engine)
        return current_revision(engine)
    finally:
        engine.dispose()


def open_warehouse(url: str | None = None) -> sa.Engine:
    """The warehouse's engine with every table in place: the embedded DuckDB file is created
    from the table definitions, a PostgreSQL warehouse migrated to head (a no-op once there).
    Every command and task opens the warehouse this way."""
    from warehouse import resolution_tables
    from warehouse.engine import create_warehouse_engine, is_duckdb
    from warehouse.schema import create_all

    engine = create_warehouse_engine(url)
    if is_duckdb(engine):
        create_all(engine)
        resolution_tables.create_all(engine)
    elif current_revision(engine) != head_revision():
        upgrade(engine.url.render_as_string(hide_password=False))
    return engine


@functools.cache
def head_revision() -> str:
    """The newest migration's revision (read once per process: the scripts do not change)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def downgrade(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW IF EXISTS shared.source_freshness")
    engine.dispose()
    command.downgrade(alembic_config(url), revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version", schema="ops"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM ops.alembic_version").scalar()
