"""`govshare demo --warehouse postgres`: it writes only to an empty warehouse named by
GOVSHARE_WAREHOUSE_URL, refuses one that already holds govshare data (unless reset), and
says what is wrong instead of falling back to the embedded file."""

import pytest
import sqlalchemy as sa

from govshare.demo import _warehouse_for_demo
from pipeline.config import ConfigError


def test_the_embedded_warehouse_needs_no_url(monkeypatch):
    monkeypatch.delenv("GOVSHARE_WAREHOUSE_URL", raising=False)
    assert _warehouse_for_demo("duckdb", reset=False) is None


@pytest.mark.parametrize("url", [None, "duckdb:///elsewhere.duckdb"])
def test_postgres_without_a_postgres_url_is_an_error(monkeypatch, url):
    if url is None:
        monkeypatch.delenv("GOVSHARE_WAREHOUSE_URL", raising=False)
    else:
        monkeypatch.setenv("GOVSHARE_WAREHOUSE_URL", url)
    with pytest.raises(ConfigError, match="GOVSHARE_WAREHOUSE_URL"):
        _warehouse_for_demo("postgres", reset=False)


def test_a_used_postgres_warehouse_is_refused_then_reset(monkeypatch, pg_url):
    monkeypatch.setenv("GOVSHARE_WAREHOUSE_URL", pg_url)
    assert _warehouse_for_demo("postgres", reset=False) == pg_url  # empty: taken as it is
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA shared")
        conn.exec_driver_sql("CREATE TABLE shared.resident (resident_id text)")
    with pytest.raises(ConfigError, match="already has the schemas shared"):
        _warehouse_for_demo("postgres", reset=False)
    assert _warehouse_for_demo("postgres", reset=True) == pg_url
    with engine.connect() as conn:
        assert "shared" not in sa.inspect(conn).get_schema_names()
    engine.dispose()
