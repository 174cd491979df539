"""Alembic environment: migrates the warehouse at the URL the caller passes
(`warehouse.migrate`), or at the configured warehouse URL when run by the `alembic` tool."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from warehouse.engine import SCHEMAS, warehouse_url
from warehouse.schema import metadata

config = context.config
VERSION_SCHEMA = "ops"


def target_metadata() -> list[sa.MetaData]:
    """What autogenerate compares with: the warehouse's tables and the resolution's."""
    try:
        from warehouse.resolution_tables import metadata as resolution
    except ImportError:
        return [metadata]
    return [metadata, resolution]


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = sa.create_engine(config.attributes.get("url") or warehouse_url())
        with engine.connect() as connection:
            _migrate(connection)
        engine.dispose()
    else:
        _migrate(connection)


def _migrate(connection: sa.Connection) -> None:
    for schema in SCHEMAS:
        connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    connection.commit()
    context.configure(connection=connection, target_metadata=target_metadata(),
                      include_schemas=True, version_table_schema=VERSION_SCHEMA,
                      transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
