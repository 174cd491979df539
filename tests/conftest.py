"""Shared fixtures: real database servers (PostgreSQL, MariaDB) and a tiny simulated city.

A database test gets a fresh database of its own on the local server and drops it after.
Where a server is unreachable the test is skipped, except with GOVSHARE_REQUIRE_SERVERS=1
(set by CI), where it fails: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("GOVSHARE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MARIADB_ADMIN_URL = os.environ.get("GOVSHARE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")


def _unavailable(what: str, error: Exception):
    message = f"{what} unreachable: {type(error).__name__}"
    if os.environ.get("GOVSHARE_REQUIRE_SERVERS") == "1":
        pytest.fail(message + " (GOVSHARE_REQUIRE_SERVERS=1)")
    pytest.skip(message)


@pytest.fixture
def pg_url():
    """URL of a fresh, empty PostgreSQL database."""
    name = f"govshare_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as error:
        _unavailable("PostgreSQL", error)
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def mariadb_url():
    """URL of the MariaDB server (the department emitter creates one database per department;
    the fixture drops them after)."""
    admin = sa.create_engine(MARIADB_ADMIN_URL)
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as error:
        _unavailable("MariaDB", error)
    yield MARIADB_ADMIN_URL + "?charset=utf8mb4"
    with admin.begin() as conn:
        for schema in ("civil_affairs", "market_regulation", "organization"):
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {schema}")
    admin.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path):
    """Each warehouse test runs on the embedded engine and on PostgreSQL."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(warehouse_url):
    """A warehouse with the project's tables, on each engine in turn."""
    from warehouse.engine import create_warehouse_engine
    from warehouse.schema import create_all

    engine = create_warehouse_engine(warehouse_url)
    create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def hotline_out(tmp_path_factory):
    """A simulated hotline version store (tests/hotline_support.py)."""
    from hotline_support import build_hotline

    return build_hotline(tmp_path_factory.mktemp("hotline"))


@pytest.fixture(scope="module")
def emitted(hotline_out):
    """Every ticket version the simulated hotline emitted (test modules may override)."""
    from hotline_support import load_emitted

    return load_emitted(hotline_out)


@pytest.fixture(scope="session")
def tiny_city():
    from govshare.simulator.city import build_city

    return build_city(42, "tiny")
