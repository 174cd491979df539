"""Alembic migrations of the warehouse on a real, empty PostgreSQL database."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from govshare.cli import main
from warehouse.migrate import alembic_config, downgrade, upgrade
from warehouse.schema import metadata

# The newest migration: the one chain of revisions must end in exactly one head.
HEAD = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def _shared_tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names(schema="shared"))
    engine.dispose()
    return names


def _differences(url: str) -> list:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_schemas": True})
        diffs = compare_metadata(context, _all_metadata())
    engine.dispose()
    # Alembic's own version table is not in the metadata.
    return [d for d in diffs if not (d[0] == "remove_table" and d[1].name == "alembic_version")]


def _all_metadata() -> sa.MetaData:
    """The warehouse's own tables and the resolution's, as the migrations create them."""
    from warehouse.resolution_tables import metadata as resolution

    combined = sa.MetaData()
    for source in (metadata, resolution):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined


def test_upgrade_downgrade_upgrade_on_an_empty_database(pg_url):
    assert upgrade(pg_url) == HEAD
    expected = {t.name for t in _all_metadata().tables.values() if t.schema == "shared"}
    assert expected <= _shared_tables(pg_url)
    assert _differences(pg_url) == []  # the migrated schema is what the code defines

    downgrade(pg_url, "base")
    assert _shared_tables(pg_url) == set()
    assert upgrade(pg_url) == HEAD
    assert expected <= _shared_tables(pg_url)


def test_the_upgrade_command_is_idempotent(pg_url, capsys):
    assert main(["warehouse", "upgrade", "--url", pg_url]) == 0
    assert main(["warehouse", "upgrade", "--url", pg_url]) == 0
    assert capsys.readouterr().out.count(f"at revision {HEAD}") == 2
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ops.alembic_version").scalar() == 1
        conn.exec_driver_sql("SELECT * FROM shared.source_freshness").all()
    engine.dispose()


def test_widening_ticket_category_codes_keeps_the_department_views(pg_url):
    """0010 widens shared.hotline_ticket.category_code (an Open311 service_code is free text)
    although a department's view reads the column: the view comes back with its options,
    owner and grants, and reads codes longer than 16 characters."""
    upgrade(pg_url, "0006")
    engine = sa.create_engine(pg_url)
    role = "govshare_test_dept_0010"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        conn.exec_driver_sql(f"CREATE ROLE {role}")
        conn.exec_driver_sql("CREATE SCHEMA dept_test")
        conn.exec_driver_sql("CREATE VIEW dept_test.hotline_ticket WITH (security_barrier) AS "
                             "SELECT ticket_id, category_code FROM shared.hotline_ticket")
        conn.exec_driver_sql(f"GRANT SELECT ON dept_test.hotline_ticket TO {role}")
    try:
        upgrade(pg_url, "0010")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO shared.hotline_ticket (ticket_id, category_code, updated_at, source,"
                " source_record_id, content_hash, run_id, loaded_at) VALUES ('101004130437', "
                "'PWDx_District 1C: North End', now(), 'open311.requests', '101004130437', "
                "'h', 'r', now())")
            assert conn.exec_driver_sql("SELECT category_code FROM dept_test.hotline_ticket"
                                        ).scalar() == "PWDx_District 1C: North End"
            options, = conn.exec_driver_sql(
                "SELECT reloptions FROM pg_class WHERE oid = 'dept_test.hotline_ticket'::regclass"
            ).one()
            assert options == ["security_barrier=true"]
            assert conn.exec_driver_sql(
                f"SELECT has_table_privilege('{role}', 'dept_test.hotline_ticket', 'SELECT')"
            ).scalar()
            conn.exec_driver_sql("DELETE FROM shared.hotline_ticket")
        downgrade(pg_url, "0006")
        with engine.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT character_maximum_length FROM information_schema.columns WHERE "
                "table_schema = 'shared' AND table_name = 'hotline_ticket' AND "
                "column_name = 'category_code'").scalar() == 16
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS dept_test CASCADE")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        engine.dispose()
