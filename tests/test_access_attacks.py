"""A department login attacks the PostgreSQL warehouse, and the pipeline runs without a
superuser.

The attacker is what a DBA creates for a person of the street office: a LOGIN role that is a
member of that department's role only (GRANT dept_street TO alice), connected as itself on
its own connection (trust authentication on the local test server, no password). Every way
around the views, the grants and row-level security it tries must be refused, or, for the
queries it may run, show nothing beyond its own street's masked rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from db_support import drop_roles
from pii_scan import findings
from test_warehouse_access import ID_NUMBER, access_raw, warehouse  # noqa: F401, F811  (a fixture)
from warehouse_support import config_for, grid_event, stage, ticket

from pipeline.publication import publish
from warehouse.access import apply_access, apply_pipeline_role, load_access
from warehouse.migrate import open_warehouse

PHONE = "13904712233"  # the callers' phone in the fixture's tickets (in clear in shared.*)


def _as_user(url: str, user: str) -> str:
    return sa.engine.make_url(url).set(username=user).render_as_string(hide_password=False)


@pytest.fixture
def attacker(warehouse):  # noqa: F811  (the imported fixture)
    """(admin engine, the attacker's engine, access config): access applied, then `alice_*`
    created as a LOGIN member of the street office's role (the fixture drops it after)."""
    engine, raw = warehouse
    access = load_access(raw=raw)
    apply_access(engine, access, reason="test")
    alice = raw["reader_role"].replace("reader", "alice")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {alice} LOGIN")
        conn.exec_driver_sql(f"GRANT {access.departments['street'].role} TO {alice}")
    login = sa.create_engine(_as_user(engine.url.render_as_string(hide_password=False), alice))
    with login.connect() as conn:  # a real separate session, as alice and nobody else
        assert conn.exec_driver_sql("SELECT current_user, session_user").one() == (alice, alice)
    yield engine, login, access
    login.dispose()


def refused(login: sa.Engine, sql: str, match: str = "permission denied",
            autocommit: bool = False) -> None:
    """`sql`, run by the attacker in a transaction of its own (or none: statements such as
    CREATE DATABASE refuse transaction blocks), fails with `match`."""
    with pytest.raises(sa.exc.DBAPIError, match=match):
        if autocommit:
            with login.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(sql)
            return
        with login.begin() as conn:
            conn.exec_driver_sql(sql)


def rows(login: sa.Engine, sql: str) -> list[tuple]:
    with login.begin() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).all()]


def test_a_department_login_cannot_become_another_role(attacker):
    engine, login, access = attacker
    others = [access.departments[k].role for k in ("civil", "stats", "community_b")]
    for role in [*others, access.reader_role, "postgres"]:
        refused(login, f"SET ROLE {role}", "permission denied to set role")
        refused(login, f"SET LOCAL ROLE {role}", "permission denied to set role")
    refused(login, "SET SESSION AUTHORIZATION postgres",
            "permission denied to set session authorization")
    refused(login, f"GRANT {others[0]} TO CURRENT_USER", "permission denied|must have admin")
    for attribute in ("SUPERUSER", "BYPASSRLS", "CREATEROLE", "CREATEDB"):
        refused(login, f"ALTER ROLE CURRENT_USER {attribute}", "permission denied|must be")
    refused(login, "CREATE ROLE mallory LOGIN", "permission denied")
    refused(login, "CREATE DATABASE mallory", "permission denied", autocommit=True)


def test_a_department_login_reads_no_base_table(attacker):
    engine, login, _ = attacker
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT table_schema, min(table_name) FROM information_schema.tables "
            "WHERE table_schema IN ('shared', 'staging', 'core', 'ops', 'audit') "
            "GROUP BY 1 ORDER BY 1")).all()
    assert {schema for schema, _ in tables} >= {"shared", "staging", "audit"}
    for schema, table in tables:
        refused(login, f'SELECT * FROM {schema}."{table}"', "permission denied for schema")
        refused(login, f'COPY {schema}."{table}" TO STDOUT', "permission denied for schema")
    refused(login, "SELECT * FROM shared.hotline_ticket", "permission denied for schema")
    refused(login, "EXPLAIN SELECT * FROM shared.hotline_ticket", "permission denied")
    # Another department's views (civil affairs sees full ID numbers) are not the street's.
    refused(login, "SELECT caller_id_number FROM dept_civil.hotline_ticket",
            "permission denied for schema")


def test_a_department_login_cannot_get_around_row_level_security(attacker):
    engine, login, _ = attacker
    view = "dept_street.hotline_ticket"
    assert rows(login, f"SELECT ticket_id, caller_name FROM {view}") == [("HLA", "李**")]
    assert rows(login, "SELECT ticket_id FROM dept_street.hotline_dispatch") == [("HLA",)]
    # A predicate that fails loudly on another street's row (a division by zero computed
    # from the row, so that the planner cannot fold it into a constant): the view's barrier
    # and the policy filter rows before it runs, so it never sees HLB ...
    leaky = f"SELECT ticket_id FROM {view} WHERE CASE WHEN ticket_id = '{{}}' " \
            "THEN 1 / (length(ticket_id) - 3) ELSE 1 END = 1"
    assert rows(login, leaky.format("HLB")) == [("HLA",)]
    # ... while on a row it may see, the same predicate does run (the probe is real).
    refused(login, leaky.format("HLA"), "division by zero")
    # Row security cannot be switched off: the query is refused rather than unfiltered.
    with login.begin() as conn:
        conn.exec_driver_sql("SET LOCAL row_security = off")
        with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
            conn.exec_driver_sql(f"SELECT ticket_id FROM {view}").all()
    # The plan with real execution shows structure and counts, never another row's values.
    plan = "\n".join(r[0] for r in rows(
        login, f"EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) SELECT * FROM {view}"))
    assert "shared.hotline_ticket" in plan and "HLB" not in plan and not findings(plan)
    # COPY out of a query of the view is the view: one street, masked.
    raw = login.raw_connection()
    try:
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY (SELECT * FROM {view}) TO STDOUT") as copy:
                copied = b"".join(bytes(block) for block in copy).decode()
    finally:
        raw.close()
    # (The street is granted the caller's phone, not the name or the ID number.)
    assert copied.startswith("HLA\t") and copied.count("\n") == 1
    assert "\t李**\t" in copied and ID_NUMBER not in copied and ID_NUMBER[:6] + "*" * 12 in copied


def test_statistics_and_other_sessions_stay_hidden(attacker):
    engine, login, _ = attacker
    with engine.connect() as admin:
        admin.exec_driver_sql("ANALYZE shared.hotline_ticket")
        admin.commit()
        # The superuser sees the column statistics (most common values: the phone) ...
        assert admin.exec_driver_sql(
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'shared' "
            "AND tablename = 'hotline_ticket'").scalar() > 0
        admin.exec_driver_sql(f"SELECT '{PHONE}' AS probe").all()
        admin.commit()
        # ... the department does not, nor the text of another session's query.
        assert rows(login, "SELECT * FROM pg_stats WHERE schemaname = 'shared'") == []
        seen = rows(login, "SELECT coalesce(query, '') FROM pg_stat_activity "
                           "WHERE usename <> current_user")
        assert seen and not any(PHONE in query for (query,) in seen)


def test_a_department_login_creates_nothing_anywhere(attacker):
    _, login, _ = attacker
    temporary = "permission denied to create temporary tables"
    for sql, match in [
        ("CREATE TEMP TABLE t AS SELECT * FROM dept_street.hotline_ticket", temporary),
        ("CREATE TEMP VIEW v AS SELECT * FROM dept_street.hotline_ticket", temporary),
        ("CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql SECURITY DEFINER "
         "AS 'SELECT 1'", "permission denied for schema pg_temp|" + temporary),
        ("CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SECURITY DEFINER "
         "AS 'SELECT 1'", "permission denied for schema public"),
        ("CREATE FUNCTION dept_street.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
         "permission denied for schema dept_street"),
        ("CREATE TABLE public.t (x int)", "permission denied for schema public"),
        ("CREATE VIEW public.v AS SELECT * FROM dept_street.hotline_ticket",
         "permission denied for schema public"),
        ("CREATE TABLE dept_street.t (x int)", "permission denied for schema dept_street"),
        ("CREATE VIEW dept_street.v AS SELECT 1", "permission denied for schema dept_street"),
        ("CREATE TABLE shared.t (x int)", "permission denied for schema shared"),
        ("CREATE SCHEMA mallory", "permission denied for database"),
        ("CREATE EXTENSION pgcrypto", "permission denied"),
        ("CREATE EXTENSION dblink", "permission denied"),
        ("DROP VIEW dept_street.hotline_ticket", "must be owner"),
        ("ALTER VIEW dept_street.hotline_ticket RESET (security_barrier)", "must be owner"),
        ("ALTER TABLE shared.hotline_ticket DISABLE ROW LEVEL SECURITY",
         "permission denied for schema shared"),
        ("DO $$ BEGIN PERFORM * FROM shared.hotline_ticket; END $$",
         "permission denied for schema shared"),
        ("SELECT lo_create(0)", "permission denied for function lo_create"),
        ("SELECT lo_from_bytea(0, '\\x00')", "permission denied for function lo_from_bytea"),
    ]:
        refused(login, sql, match)


def test_a_department_login_reads_no_server_file_and_runs_no_program(attacker):
    _, login, _ = attacker
    for sql in ["COPY (SELECT 1) TO PROGRAM 'id'",
                "COPY (SELECT * FROM dept_street.hotline_ticket) TO '/tmp/govshare_leak'",
                "SELECT pg_read_file('/etc/passwd')",
                "SELECT pg_read_binary_file('/etc/passwd')",
                "SELECT pg_ls_dir('.')",
                "SELECT pg_stat_file('postgresql.conf')",
                "SELECT lo_import('/etc/passwd')",
                "SELECT lo_export(0, '/tmp/govshare_leak')"]:
        refused(login, sql, "permission denied|must be superuser|pg_write_server_files|"
                            "pg_read_server_files|pg_execute_server_program")


def test_no_function_in_the_warehouse_runs_with_its_owners_rights(warehouse):  # noqa: F811
    """SECURITY DEFINER functions in the warehouse's schemas would run with their owner's
    rights for anyone allowed to call them: there are none."""
    engine, raw = warehouse
    apply_access(engine, load_access(raw=raw), reason="test")
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.prosecdef AND (n.nspname IN ('shared', 'staging', 'core', 'ops', "
            "'audit', 'public') OR n.nspname LIKE :departments)"),
            {"departments": "dept\\_%"}).scalar() == 0


# ----------------------------------------------------------------------------- the pipeline

@pytest.fixture
def pipeline_warehouse(pg_url, tmp_path):
    """A migrated PostgreSQL warehouse with staged tickets and a grid event, the access file
    applied, and a pipeline role made by `apply_pipeline_role` (dropped after)."""
    import uuid

    suffix = uuid.uuid4().hex[:8]
    engine = open_warehouse(pg_url)
    stage(engine, "hotline.tickets", [ticket("HLA", "2026-11-25T09:00:00+08:00")],
          "ticket_id", "run-1")
    stage(engine, "grid.events", [grid_event("GE1", "2026-11-25T10:00:00+08:00")],
          "event_id", "run-1")
    raw = access_raw(suffix)
    role = f"pipeline_{suffix}"
    assert apply_pipeline_role(engine, role, reason="test")
    apply_access(engine, load_access(raw=raw), reason="test")
    yield engine, role, raw
    drop_roles(engine, [role, raw["reader_role"]] + [d["role"] for d in raw["departments"]
                                                     .values()])
    engine.dispose()


def test_the_pipeline_runs_as_a_role_that_is_not_a_superuser(pipeline_warehouse, tmp_path):
    engine, role, raw = pipeline_warehouse
    url = _as_user(engine.url.render_as_string(hide_password=False), role)
    with engine.connect() as conn:
        attributes = conn.execute(sa.text(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin "
            "FROM pg_roles WHERE rolname = :r"), {"r": role}).one()
    assert tuple(attributes) == (False, False, False, False, True)
    # A publication connected as the pipeline role: migrations checked, temporary staging
    # tables, upserts, history; then a second day's change on top.
    summary = publish(config_for(url, tmp_path), "run-1")
    assert summary["hotline.tickets"]["changed"] == 1
    stage(engine, "hotline.tickets", [ticket("HLA", "2026-11-26T09:00:00+08:00",
                                             status="已办结")], "ticket_id", "run-2")
    publish(config_for(url, tmp_path), "run-2")
    pipeline = sa.create_engine(url)
    with pipeline.connect() as conn:
        assert conn.exec_driver_sql("SELECT current_user").scalar() == role
        assert conn.exec_driver_sql(
            "SELECT status FROM shared.hotline_ticket WHERE ticket_id = 'HLA'").scalar() \
            == "已办结"
    # It reads every row (it owns the tables), but not the access audit, and it cannot
    # become anyone else.
    for sql, match in [("SELECT * FROM audit.grant_log", "permission denied for schema audit"),
                       ("SET ROLE postgres", "permission denied to set role"),
                       (f"SET ROLE {raw['departments']['civil']['role']}",
                        "permission denied to set role"),
                       ("SELECT pg_read_file('/etc/passwd')", "permission denied")]:
        refused(pipeline, sql, match)
    pipeline.dispose()
    # The departments still see what they saw, masked, through views on the tables it owns.
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL ROLE {raw['departments']['stats']['role']}")
        assert conn.exec_driver_sql("SELECT caller_phone FROM dept_stats.hotline_ticket"
                                    ).all() == [("139****2233",)]
    assert apply_pipeline_role(engine, role, reason="again") == []  # idempotent


def test_a_superuser_is_refused_as_the_pipeline_role(pg_url):
    engine = open_warehouse(pg_url)
    with pytest.raises(Exception, match="not a pipeline role"):
        apply_pipeline_role(engine, "postgres", reason="test")
    engine.dispose()
