"""Department access on the real PostgreSQL server: masked and granted columns, row-level
security for street and community offices, idempotent grants, audit, export, who can see."""

from __future__ import annotations

import uuid
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa
from db_support import drop_roles
from warehouse_support import (
    COMMUNITY_A,
    COMMUNITY_B,
    STREET_A,
    config_for,
    grid_event,
    stage,
    ticket,
)

from pipeline.publication import publish
from warehouse.access import AccessError, apply_access, export_table, load_access, who_can_see
from warehouse.engine import create_warehouse_engine
from warehouse.schema import create_all

ID_NUMBER = "150102196503120035"


def access_raw(suffix: str) -> dict:
    return {
        "reader_role": f"reader_{suffix}",
        "departments": {
            "civil": {"name": "民政局", "role": f"civil_{suffix}",
                      "tables": ["resident", "resident_xref"],
                      "columns": ["resident.name", "hotline_ticket.caller_id_number"]},
            "hotline": {"name": "12345", "role": f"hotline_{suffix}",
                        "columns": ["hotline_ticket.caller_phone", "hotline_ticket.caller_name"]},
            "street": {"name": "海拉尔东路街道", "role": f"street_{suffix}",
                       "scope": [STREET_A], "columns": ["hotline_ticket.caller_phone"]},
            "community_b": {"name": "丰泽社区", "role": f"community_{suffix}",
                            "scope": [COMMUNITY_B]},
            "stats": {"name": "统计局", "role": f"stats_{suffix}"},
        },
    }


def _load_resolution_tables(engine: sa.Engine) -> None:
    from warehouse import resolution_tables as tables

    tables.create_all(engine)
    with engine.begin() as conn:
        conn.execute(tables.resident.insert().values(
            resident_id="R000000000001", name="李秀英", id_number_masked="150102************",
            gender="女", birth_date=date(1965, 3, 12), community_code=COMMUNITY_A,
            source_count=2))
        conn.execute(tables.resident_xref.insert(), [
            {"source": "hotline.tickets", "source_record_id": "HLA", "resident_id":
             "R000000000001", "match_rule": "probabilistic", "match_score": 0.97}])


@pytest.fixture
def warehouse(pg_url, tmp_path):
    """A PostgreSQL warehouse with tickets in two streets, a grid event, a resident; its
    roles are dropped afterwards (roles belong to the whole server)."""
    suffix = uuid.uuid4().hex[:8]
    engine = create_warehouse_engine(pg_url)
    create_all(engine)
    _load_resolution_tables(engine)
    caller = {"name": "李秀英", "phone": "13904712233", "id_number": ID_NUMBER}
    stage(engine, "hotline.tickets", [
        ticket("HLA", "2026-11-25T09:00:00+08:00", caller=caller),
        ticket("HLB", "2026-11-25T09:00:00+08:00", caller=caller,
               address_text="新城区锡林北路街道丰泽社区2号楼", street_code=None,
               community_code=None)], "ticket_id", "run-1")
    stage(engine, "grid.events", [grid_event("GE1", "2026-11-25T10:00:00+08:00")],
          "event_id", "run-1")
    publish(config_for(pg_url, tmp_path), "run-1", engine=engine)
    raw = access_raw(suffix)
    # Listed before the test runs: a test may take a department out of `raw`.
    roles = [raw["reader_role"]] + [d["role"] for d in raw["departments"].values()] + \
        [f"alice_{suffix}"]
    yield engine, raw
    drop_roles(engine, roles)
    engine.dispose()


def as_role(engine: sa.Engine, role: str, sql: str) -> list[tuple]:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
        return [tuple(r) for r in conn.exec_driver_sql(sql).all()]


def test_columns_are_masked_unless_granted(warehouse):
    engine, raw = warehouse
    access = load_access(raw=raw)
    apply_access(engine, access, reason="test")
    role = {k: d.role for k, d in access.departments.items()}
    query = ("SELECT caller_name, caller_phone, caller_id_number FROM dept_{}.hotline_ticket "
             "WHERE ticket_id = 'HLA'")
    assert as_role(engine, role["stats"], query.format("stats")) == [
        ("李**", "139****2233", "150102************")]
    assert as_role(engine, role["hotline"], query.format("hotline")) == [
        ("李秀英", "13904712233", "150102************")]
    assert as_role(engine, role["civil"], query.format("civil")) == [
        ("李**", "139****2233", ID_NUMBER)]
    # Withheld columns are null, not shown.
    assert as_role(engine, role["stats"],
                   "SELECT content, lat FROM dept_stats.hotline_ticket LIMIT 1") == [(None, None)]
    # A conditional table is visible only where granted; the base tables never are.
    assert as_role(engine, role["civil"], "SELECT name FROM dept_civil.resident") == [("李秀英",)]
    with pytest.raises(sa.exc.ProgrammingError, match="does not exist"):
        as_role(engine, role["stats"], "SELECT * FROM dept_stats.resident")
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        as_role(engine, role["stats"], "SELECT caller_phone FROM shared.hotline_ticket")
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        as_role(engine, role["hotline"], "SELECT * FROM dept_civil.hotline_ticket")
    # Not-shared tables get no view at all.
    with pytest.raises(sa.exc.ProgrammingError, match="does not exist"):
        as_role(engine, role["hotline"], "SELECT * FROM dept_hotline.quarantine")


def test_row_level_security_holds_for_street_and_community_offices(warehouse):
    engine, raw = warehouse
    access = load_access(raw=raw)
    apply_access(engine, access, reason="test")
    street = access.departments["street"].role
    assert as_role(engine, street, "SELECT ticket_id FROM dept_street.hotline_ticket") == \
        [("HLA",)]
    assert as_role(engine, street, "SELECT ticket_id FROM dept_street.hotline_dispatch") == \
        [("HLA",)]
    assert as_role(engine, street, "SELECT event_id FROM dept_street.grid_event") == []
    community = access.departments["community_b"].role
    assert as_role(engine, community, "SELECT ticket_id FROM dept_community_b.hotline_ticket") \
        == [("HLB",)]
    assert as_role(engine, community, "SELECT event_id FROM dept_community_b.grid_event") == \
        [("GE1",)]
    # A person's login role that is a member of the street role is held to its scope too.
    alice = raw["reader_role"].replace("reader", "alice")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {alice} LOGIN")
        conn.exec_driver_sql(f"GRANT {street} TO {alice}")
    assert as_role(engine, alice, "SELECT ticket_id FROM dept_street.hotline_ticket") == \
        [("HLA",)]
    # An unscoped department sees every row.
    stats = access.departments["stats"].role
    assert len(as_role(engine, stats, "SELECT ticket_id FROM dept_stats.hotline_ticket")) == 2


def _privileges(engine: sa.Engine, roles: list[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT grantee, table_schema, table_name, privilege_type "
            "FROM information_schema.role_table_grants WHERE grantee = ANY(:roles) "
            "UNION ALL SELECT 'policy', schemaname, tablename, qual FROM pg_policies "
            "UNION ALL SELECT 'view', schemaname, viewname, definition FROM pg_views "
            "WHERE schemaname LIKE 'dept_%' ORDER BY 1, 2, 3, 4"), {"roles": roles}).all()
    return pd.DataFrame(rows)


def _log(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.exec_driver_sql(
            "SELECT department, action, object, reason FROM audit.grant_log "
            "ORDER BY logged_at, department, object").all())


def test_apply_is_idempotent_and_removing_a_grant_revokes_it(warehouse):
    engine, raw = warehouse
    access = load_access(raw=raw)
    roles = [d.role for d in access.departments.values()] + [access.reader_role]
    assert apply_access(engine, access, reason="initial grants, ticket 42")
    before, log_before = _privileges(engine, roles), _log(engine)
    assert apply_access(engine, access, reason="again") == []
    pd.testing.assert_frame_equal(_privileges(engine, roles), before)
    pd.testing.assert_frame_equal(_log(engine), log_before)
    assert {"grant", "scope", "create"} <= set(log_before["action"])
    assert set(log_before["reason"]) == {"initial grants, ticket 42"}

    raw["departments"]["hotline"]["columns"] = ["hotline_ticket.caller_name"]
    del raw["departments"]["stats"]
    changes = apply_access(engine, load_access(raw=raw), reason="phone no longer needed")
    assert "hotline: revoke hotline_ticket.caller_phone" in changes
    role = access.departments["hotline"].role
    assert as_role(engine, role, "SELECT caller_phone FROM dept_hotline.hotline_ticket "
                                 "WHERE ticket_id = 'HLA'") == [("139****2233",)]
    with pytest.raises(sa.exc.ProgrammingError, match="does not exist"):
        as_role(engine, access.departments["stats"].role,
                "SELECT * FROM dept_stats.hotline_ticket")
    log = _log(engine)
    revoked = log[(log["action"] == "revoke") & (log["object"] == "hotline_ticket.caller_phone")]
    assert list(revoked["reason"]) == ["phone no longer needed"]
    assert apply_access(engine, load_access(raw=raw), reason="again") == []


def test_export_writes_what_the_department_sees_and_is_logged(warehouse, tmp_path):
    engine, raw = warehouse
    access = load_access(raw=raw)
    apply_access(engine, access, reason="test")
    out = tmp_path / "street.csv"
    rows = export_table(engine, access, "street", "hotline_ticket", out, "monthly report")
    exported = pd.read_csv(out, dtype="str", encoding="utf-8-sig")
    assert rows == 1 and list(exported["ticket_id"]) == ["HLA"]
    assert list(exported["caller_phone"]) == ["13904712233"]
    assert list(exported["caller_name"]) == ["李**"]
    log = _log(engine)
    exports = log[log["action"] == "export"][["department", "object", "reason"]]
    assert list(exports.itertuples(index=False, name=None)) == [
        ("street", "hotline_ticket", "monthly report")]


def test_export_of_a_table_not_granted_is_refused_plainly(warehouse, tmp_path):
    engine, raw = warehouse
    access = load_access(raw=raw)
    apply_access(engine, access, reason="test")
    out = tmp_path / "street-residents.csv"
    with pytest.raises(AccessError, match="street is not granted resident"):
        export_table(engine, access, "street", "resident", out, "curious")
    assert not out.exists()
    assert _log(engine).query("action == 'export'").empty


def test_who_can_see_a_residents_data(warehouse):
    engine, raw = warehouse
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE shared.hotline_ticket SET resident_id = 'R000000000001' "
                             "WHERE ticket_id = 'HLA'")
    seen = who_can_see(engine, load_access(raw=raw), "R000000000001")
    by = {(r.department, r.table): r for r in seen.itertuples()}
    assert set(by) == {("civil", "resident"), ("civil", "resident_xref"),
                       ("civil", "hotline_ticket"), ("hotline", "hotline_ticket"),
                       ("street", "hotline_ticket"), ("stats", "hotline_ticket")}
    assert "name" in by[("civil", "resident")].full_columns
    assert "caller_phone" in by[("street", "hotline_ticket")].full_columns
    assert "caller_phone" in by[("stats", "hotline_ticket")].masked_columns


def test_duckdb_gets_the_same_masked_views_with_the_scope_as_a_filter(tmp_path):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    engine = create_warehouse_engine(url)
    create_all(engine)
    stage(engine, "hotline.tickets", [ticket("HLA", "2026-11-25T09:00:00+08:00")],
          "ticket_id", "run-1")
    publish(config_for(url, tmp_path), "run-1", engine=engine)
    access = load_access(raw=access_raw("x"))
    assert apply_access(engine, access, reason="demo")
    assert apply_access(engine, access, reason="demo") == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT caller_phone FROM dept_stats.hotline_ticket"
                                    ).all() == [("139****2233",)]
        assert conn.exec_driver_sql("SELECT ticket_id FROM dept_community_b.hotline_dispatch"
                                    ).all() == []
        assert conn.exec_driver_sql("SELECT ticket_id FROM dept_street.hotline_dispatch"
                                    ).all() == [("HLA",)]
    engine.dispose()
