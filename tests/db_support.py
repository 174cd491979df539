"""Database servers for the tests: fresh PostgreSQL databases and warehouse copies.

Where a server is unreachable the test is skipped, except with GOVSHARE_REQUIRE_SERVERS=1
(set by CI), where it fails: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("GOVSHARE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def unavailable(what: str, error: Exception):
    message = f"{what} unreachable: {type(error).__name__}"
    if os.environ.get("GOVSHARE_REQUIRE_SERVERS") == "1":
        pytest.fail(message + " (GOVSHARE_REQUIRE_SERVERS=1)")
    pytest.skip(message)


def new_pg_database() -> str:
    """URL of a fresh, empty PostgreSQL database (drop it with drop_pg_database)."""
    name = f"govshare_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as error:
        unavailable("PostgreSQL", error)
    finally:
        admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    """Drop the database and the clones clone_warehouse made of it."""
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        clones = conn.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                              {"p": name + "\\_%"}).scalars().all()
        for database in [name, *clones]:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    admin.dispose()


@contextmanager
def both_warehouses(root: Path) -> Iterator[dict[str, str]]:
    """The URLs of one DuckDB file under `root` and one new PostgreSQL database, for running
    the same thing on each engine; the database is dropped afterwards."""
    pg = new_pg_database()
    try:
        yield {"duckdb": f"duckdb:///{root / 'duckdb' / 'warehouse.duckdb'}", "postgres": pg}
    finally:
        drop_pg_database(pg)


def clone_warehouse(url: str, directory, name: str) -> str:
    """A copy of the warehouse at `url` to change independently: the DuckDB file (with its
    write-ahead log) copied into `directory`, or a PostgreSQL database made from it as a
    template (the source's open sessions are ended first, as TEMPLATE requires)."""
    import shutil
    from pathlib import Path

    if url.startswith("duckdb:///"):
        source = Path(url.removeprefix("duckdb:///"))
        target = Path(directory) / f"{name}.duckdb"
        shutil.copy(source, target)
        wal = source.with_name(source.name + ".wal")  # DuckDB's not yet checkpointed writes
        if wal.exists():
            shutil.copy(wal, target.with_name(target.name + ".wal"))
        return f"duckdb:///{target}"
    source_db = url.rsplit("/", 1)[1]
    target_db = f"{source_db}_{name}"[:63]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = :db AND pid <> pg_backend_pid()"),
                     {"db": source_db})
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {target_db} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {target_db} TEMPLATE {source_db}")
    admin.dispose()
    return url.rsplit("/", 1)[0] + f"/{target_db}"


def drop_roles(engine: sa.Engine, roles: list[str]) -> None:
    """Drop roles a test created (roles belong to the whole server, not to its database),
    with what they own and the privileges granted to them."""
    with engine.begin() as conn:
        for role in roles:
            if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                            {"r": role}).first():
                conn.exec_driver_sql(f"DROP OWNED BY {role} CASCADE")
                conn.exec_driver_sql(f"DROP ROLE {role}")
