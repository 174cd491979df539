"""Shared fixtures: real database servers (PostgreSQL, MariaDB) and a tiny simulated city.

A database test gets a fresh database of its own on the local server and drops it after.
Where a server is unreachable the test is skipped, except with GOVSHARE_REQUIRE_SERVERS=1
(set by CI), where it fails: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from db_support import drop_pg_database, new_pg_database, unavailable
from hypothesis import HealthCheck, Phase, settings

# Property tests (tests/test_contract_properties.py): `ci`, the default, draws a few
# examples in a fixed order (derandomised: the same examples on every machine and run, so a
# failure reproduces and `make test` stays fast). `deep` draws 100 with a fresh seed, for
# hunting. Neither shrinks a failure: an example runs a connector
# and a validation (about a second), and shrinking takes many minutes; the failing example
# is printed as drawn. No deadline: an example's time varies with the machine's load. Each
# example makes its own scratch folder, so the function-scoped fixtures the tests take (a
# reference, a database URL) are safe to share between examples.
_SHARED = {"deadline": None, "database": None,
           "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large]}
_NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
settings.register_profile("ci", max_examples=8, derandomize=True, phases=_NO_SHRINK,
                          **_SHARED)
settings.register_profile("deep", max_examples=100, phases=_NO_SHRINK, **_SHARED)
settings.load_profile(os.environ.get("GOVSHARE_HYPOTHESIS_PROFILE", "ci"))

MARIADB_ADMIN_URL = os.environ.get("GOVSHARE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")


@pytest.fixture
def pg_url():
    """URL of a fresh, empty PostgreSQL database."""
    url = new_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def mariadb_url():
    """URL of the MariaDB server (the department emitter creates one database per department;
    the fixture drops them after)."""
    admin = sa.create_engine(MARIADB_ADMIN_URL)
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as error:
        unavailable("MariaDB", error)
    yield MARIADB_ADMIN_URL + "?charset=utf8mb4"
    with admin.begin() as conn:
        for schema in ("civil_affairs", "market_regulation", "organization"):
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {schema}")
    admin.dispose()


WAREHOUSE_ENGINES = ["duckdb", "postgres"]


@pytest.fixture(params=WAREHOUSE_ENGINES)
def warehouse_url(request, tmp_path):
    """Each warehouse test runs on the embedded engine and on PostgreSQL."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="module", params=WAREHOUSE_ENGINES)
def module_warehouse_url(request, tmp_path_factory):
    """An empty warehouse shared by one module's tests, on each engine in turn (for the
    expensive multi-day fixtures: the module runs once per engine)."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path_factory.mktemp('warehouse') / 'warehouse.duckdb'}"
        return
    url = new_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def engine(warehouse_url):
    """A warehouse with the project's tables, on each engine in turn, opened as every task
    opens it (PostgreSQL migrated, DuckDB created)."""
    from warehouse.migrate import open_warehouse

    engine = open_warehouse(warehouse_url)
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
    from simulator.city import build_city

    return build_city(42, "tiny")


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    """The project's DAG folder parsed by Airflow's DagBag, in an Airflow home of its own."""
    dags = Path(__file__).resolve().parent.parent / "dags"
    home = tmp_path_factory.mktemp("airflow")
    os.environ.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                       "AIRFLOW__CORE__DAGS_FOLDER": str(dags)})
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dags))
