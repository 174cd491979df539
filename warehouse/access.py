"""Access to the shared warehouse by department (config/access.example.yaml).

Each department gets a PostgreSQL role and a schema `dept_<name>` holding one view per
shared table it may see (the catalogue's sharing classes: unconditional tables for everyone,
conditional tables where granted, never the not-shared ones). In a view, a conditional
column is the real value where the department's grant names it and a masked value otherwise
(150102********0035, 139****2233, 李**, addresses without numbers, or null); not-shared
columns are left out. Departments get no privilege on `shared` itself, so the views are
the only way in.

Rows: the views are owned by a reader role (`reader_role`, NOLOGIN) that holds SELECT on the
shared tables, and those tables have row-level security policies for that role: a query
made by a member of a role with a division scope (`audit.access_scope`) sees only rows of
its street or community; child rows (a ticket's dispatches, an event's persons, a resident's
xref rows) follow their parent. The policy tests `current_user`, which a view does not
change, so RLS holds through the views and for any login role that is a member of the
department role. A column privilege on the base tables could hide columns but not mask
them, hence views.

`apply_access` is idempotent: it compares the configuration with what it applied before
(`audit.access_state`), logs each grant and revocation to `audit.grant_log` with who, when
and why, and recreates only the views whose definition changed. On DuckDB (no roles, no
RLS) it creates the same masked views with the row scope as a WHERE clause, for the demo.
"""

from __future__ import annotations

import getpass
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml

from common.settings import AccessFile, SettingsError, validate
from warehouse.catalogue import (
    CONDITIONAL,
    NOT_SHARED,
    UNCONDITIONAL,
    Table,
    existing_shared_columns,
    load_catalogue,
)
from warehouse.schema import access_state, grant_log

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,50}$")
POLICY = "govshare_division_scope"


class AccessError(ValueError):
    pass


@dataclass(frozen=True)
class Department:
    key: str
    name: str
    role: str
    tables: frozenset[str] = frozenset()  # conditional tables granted
    columns: frozenset[str] = frozenset()  # conditional columns granted, as table.column
    scope: tuple[str, ...] = ()  # division codes of a street or community office

    @property
    def schema(self) -> str:
        return f"dept_{self.key}"


@dataclass(frozen=True)
class AccessConfig:
    reader_role: str
    departments: dict[str, Department] = field(default_factory=dict)


def load_access(path: str | os.PathLike | None = None, raw: dict | None = None) -> AccessConfig:
    """The access configuration, checked against the catalogue."""
    if raw is None:
        if path is None:
            raise AccessError("no access file given (set GOVSHARE_ACCESS; "
                              "config/access.example.yaml documents it)")
        path = Path(path)
        if not path.exists():
            raise AccessError(f"access file {path} not found (set GOVSHARE_ACCESS; "
                              "config/access.example.yaml documents it)")
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        access = validate(AccessFile, raw, path or "access settings")
    except SettingsError as error:
        raise AccessError(str(error)) from None
    catalogue = load_catalogue()
    reader = access.reader_role
    departments = {}
    for key, entry in access.departments.items():
        role = entry.role or f"dept_{key}"
        for name in (key, role, reader):
            if not _IDENTIFIER.match(name):
                raise AccessError(f"{name!r} is not a plain lower-case identifier")
        tables = frozenset(entry.tables)
        columns = frozenset(entry.columns)
        for table in tables:
            if table not in catalogue or catalogue[table].sharing != CONDITIONAL:
                raise AccessError(f"{key}: {table} is not a conditional (有条件共享) table")
        for item in columns:
            table, _, column = item.partition(".")
            spec = catalogue.get(table)
            if spec is None or column not in spec.columns or \
                    spec.columns[column].sharing != CONDITIONAL:
                raise AccessError(f"{key}: {item} is not a conditional (有条件共享) column")
        scope = tuple(entry.scope)
        if any(not re.fullmatch(r"[0-9]{12}", code) for code in scope):
            raise AccessError(f"{key}: scope entries are 12-digit division codes")
        departments[key] = Department(key, entry.name or key, role, tables, columns, scope)
    return AccessConfig(reader, departments)


# ----------------------------------------------------------------------------- view SQL

def _q(name: str) -> str:
    return f'"{name}"'


def mask_sql(column: str, mask: str) -> str:
    """SQL masking a column the same way common.masking masks text (PostgreSQL and
    DuckDB alike)."""
    c = _q(column)
    return {
        "id_number": f"CASE WHEN length({c}) > 10 THEN left({c}, 6) || "
                     f"repeat('*', length({c}) - 10) || right({c}, 4) "
                     f"ELSE repeat('*', length({c})) END",
        "phone": f"CASE WHEN length({c}) > 7 THEN left({c}, 3) || "
                 f"repeat('*', length({c}) - 7) || right({c}, 4) "
                 f"ELSE repeat('*', length({c})) END",
        "name": f"left({c}, 1) || repeat('*', greatest(length({c}) - 1, 0))",
        "address": f"regexp_replace({c}, '[0-9０-９]+', '*', 'g')",
        "withhold": f"CASE WHEN false THEN {c} END",  # null of the column's own type
    }[mask]


def visible_tables(dept: Department, catalogue: dict[str, Table],
                   existing: dict[str, list[str]]) -> list[str]:
    visible = []
    for name, table in catalogue.items():
        if name not in existing or table.sharing == NOT_SHARED:
            continue
        if table.sharing == CONDITIONAL and name not in dept.tables:
            continue
        visible.append(name)
    # Child rows follow their parent: without the parent table, no children.
    return [name for name in visible
            if not catalogue[name].parent or catalogue[name].parent[0] in visible]


def _scope_condition(table: Table, codes: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{c}'" for c in codes)
    tests = [f"{_q(c)} IN ({listed})" for c in table.row_scope]
    if "community_code" in table.row_scope:
        tests.append(f"left({_q('community_code')}, 9) || '000' IN ({listed})")
    return " OR ".join(tests)


def view_sql(dept: Department, table: Table, columns: list[str], postgres: bool) -> str:
    selected = []
    for column in columns:
        spec = table.columns.get(column)
        if spec is None or spec.sharing == NOT_SHARED:
            continue
        granted = spec.sharing == UNCONDITIONAL or f"{table.name}.{column}" in dept.columns
        expression = _q(column) if granted else mask_sql(column, spec.mask)
        selected.append(f"{expression} AS {_q(column)}")
    sql = f"SELECT {', '.join(selected)} FROM shared.{table.name}"
    if dept.scope and not postgres:  # PostgreSQL enforces the scope with RLS instead
        if table.row_scope:
            sql += f" WHERE {_scope_condition(table, dept.scope)}"
        elif table.parent:
            parent, key = table.parent
            sql += f" WHERE {_q(key)} IN (SELECT {_q(key)} FROM {dept.schema}.{parent})"
    return sql


def policy_sql(table: Table) -> str:
    """The RLS condition of a shared table for the reader role."""
    member = "pg_has_role(current_user, s.role_name, 'MEMBER')"
    if table.parent:
        parent, key = table.parent
        return (f"EXISTS (SELECT 1 FROM shared.{parent} p "
                f"WHERE p.{_q(key)} = {table.name}.{_q(key)})")
    divisions = [f"{table.name}.{_q(c)}" for c in table.row_scope]
    if "community_code" in table.row_scope:
        divisions.append(f"left({table.name}.{_q('community_code')}, 9) || '000'")
    return (f"NOT EXISTS (SELECT 1 FROM audit.access_scope s WHERE {member}) "
            f"OR EXISTS (SELECT 1 FROM audit.access_scope s WHERE {member} "
            f"AND s.division_code IN ({', '.join(divisions)}))")


# ----------------------------------------------------------------------------- applying

def _actor(conn: sa.Connection) -> str:
    database_user = conn.exec_driver_sql("SELECT current_user").scalar()
    return f"{database_user} (os: {getpass.getuser()})"


def _log(conn, actor, dept_key, role, action, obj, detail=None, reason=None) -> None:
    conn.execute(grant_log.insert().values(
        log_id=str(uuid.uuid4()), logged_at=datetime.now(UTC), actor=actor,
        department=dept_key, role_name=role, action=action, object=obj, detail=detail,
        reason=reason))


def _role_exists(conn, role: str) -> bool:
    return conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                        {"r": role}).first() is not None


def _desired_grants(dept: Department) -> dict[tuple[str, str], str | None]:
    items = {("role", dept.role): dept.name}
    items.update({("table", t): None for t in dept.tables})
    items.update({("column", c): None for c in dept.columns})
    items.update({("scope", s): None for s in dept.scope})
    return items


_ACTIONS = {"role": ("create", "drop"), "table": ("grant", "revoke"),
            "column": ("grant", "revoke"), "scope": ("scope", "unscope")}


def _prepare_reader(conn, access: AccessConfig, catalogue, existing, state, actor,
                    reason) -> list[str]:
    """Reader role with SELECT on the shared tables, RLS policies on them (PostgreSQL)."""
    changes = []
    reader = access.reader_role
    if not _role_exists(conn, reader):
        conn.exec_driver_sql(f"CREATE ROLE {reader} NOLOGIN")
        _log(conn, actor, "*", reader, "create", reader, "view owner role", reason)
        changes.append(f"create role {reader}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA shared, audit TO {reader}")
    conn.exec_driver_sql(f"GRANT SELECT ON audit.access_scope TO {reader}")
    for name, table in catalogue.items():
        if name not in existing or table.sharing == NOT_SHARED:
            continue
        conn.exec_driver_sql(f"GRANT SELECT ON shared.{name} TO {reader}")
        if not (table.row_scope or table.parent) or \
                (table.parent and table.parent[0] not in existing):
            continue
        condition = policy_sql(table)
        if state.get(("*", "policy", name)) == condition:
            continue
        conn.exec_driver_sql(f"ALTER TABLE shared.{name} ENABLE ROW LEVEL SECURITY")
        conn.exec_driver_sql(f"DROP POLICY IF EXISTS {POLICY} ON shared.{name}")
        conn.exec_driver_sql(f"CREATE POLICY {POLICY} ON shared.{name} FOR SELECT "
                             f"TO {reader} USING ({condition})")
        _record_state(conn, "*", "policy", name, condition)
        changes.append(f"policy on shared.{name}")
    return changes


def _record_state(conn, dept_key, kind, obj, detail) -> None:
    conn.execute(access_state.delete().where(access_state.c.department == dept_key,
                                             access_state.c.kind == kind,
                                             access_state.c.object == obj))
    if detail is not False:
        conn.execute(access_state.insert().values(department=dept_key, kind=kind, object=obj,
                                                  detail=detail,
                                                  applied_at=datetime.now(UTC)))


def _sync_scope(conn, dept: Department, postgres: bool) -> None:
    if not postgres:
        return
    conn.execute(sa.text("DELETE FROM audit.access_scope WHERE role_name = :r"),
                 {"r": dept.role})
    for code in dept.scope:
        conn.execute(sa.text("INSERT INTO audit.access_scope VALUES (:r, :c)"),
                     {"r": dept.role, "c": code})


def apply_access(engine: sa.Engine, access: AccessConfig, reason: str | None = None
                 ) -> list[str]:
    """Make the database match `access`; returns what changed (empty when nothing did)."""
    postgres = engine.dialect.name == "postgresql"
    catalogue = load_catalogue()
    changes: list[str] = []
    with engine.begin() as conn:
        actor = _actor(conn)
        existing = existing_shared_columns(conn)
        state = {(r.department, r.kind, r.object): r.detail
                 for r in conn.execute(sa.select(access_state)).all()}
        if postgres:
            changes += _prepare_reader(conn, access, catalogue, existing, state, actor, reason)
        applied_departments = {d for d, kind, _ in state if d != "*" and kind == "role"}
        for key in sorted(applied_departments - set(access.departments)):
            changes += _remove_department(conn, key, state, postgres, actor, reason)
        for dept in access.departments.values():
            changes += _apply_department(conn, dept, access, catalogue, existing, state,
                                         postgres, actor, reason)
    return changes


def _apply_department(conn, dept: Department, access, catalogue, existing, state, postgres,
                      actor, reason) -> list[str]:
    changes = []
    applied = {(kind, obj): detail for (d, kind, obj), detail in state.items()
               if d == dept.key and kind != "view"}
    desired = _desired_grants(dept)
    if postgres and not _role_exists(conn, dept.role):
        conn.exec_driver_sql(f"CREATE ROLE {dept.role} NOLOGIN")
    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {dept.schema}")
    if postgres:
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {dept.schema} TO {dept.role}")
    for item in sorted(set(desired) - set(applied)):
        kind, obj = item
        _log(conn, actor, dept.key, dept.role, _ACTIONS[kind][0], obj, desired[item], reason)
        _record_state(conn, dept.key, kind, obj, desired[item])
        changes.append(f"{dept.key}: {_ACTIONS[kind][0]} {obj}")
    for item in sorted(set(applied) - set(desired)):
        kind, obj = item
        _log(conn, actor, dept.key, dept.role, _ACTIONS[kind][1], obj, None, reason)
        _record_state(conn, dept.key, kind, obj, False)
        changes.append(f"{dept.key}: {_ACTIONS[kind][1]} {obj}")
    _sync_scope(conn, dept, postgres)

    visible = visible_tables(dept, catalogue, existing)
    # Parents first: on DuckDB a child's view selects from its parent's view.
    visible.sort(key=lambda name: catalogue[name].parent is not None)
    old_views = {obj for (d, kind, obj) in state if d == dept.key and kind == "view"}
    for name in sorted(old_views - set(visible)):
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {dept.schema}.{name}")
        _record_state(conn, dept.key, "view", name, False)
        changes.append(f"{dept.key}: drop view {name}")
    for name in visible:
        sql = view_sql(dept, catalogue[name], existing[name], postgres)
        if state.get((dept.key, "view", name)) == sql:
            continue
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {dept.schema}.{name}")
        options = " WITH (security_barrier)" if postgres else ""
        conn.exec_driver_sql(f"CREATE VIEW {dept.schema}.{name}{options} AS {sql}")
        if postgres:
            conn.exec_driver_sql(f"ALTER VIEW {dept.schema}.{name} OWNER TO {access.reader_role}")
            conn.exec_driver_sql(f"GRANT SELECT ON {dept.schema}.{name} TO {dept.role}")
        _record_state(conn, dept.key, "view", name, sql)
        changes.append(f"{dept.key}: view {name}")
    return changes


def _remove_department(conn, key, state, postgres, actor, reason) -> list[str]:
    """A department taken out of the configuration loses its views and grants; its role is
    kept (NOLOGIN, no privileges left) so the audit trail keeps naming it."""
    role = next(obj for (d, kind, obj) in state if d == key and kind == "role")
    changes = []
    for (d, kind, obj) in sorted(state):
        if d == key and kind != "view":
            _log(conn, actor, key, role, _ACTIONS[kind][1], obj, "department removed", reason)
            changes.append(f"{key}: {_ACTIONS[kind][1]} {obj}")
    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS dept_{key} CASCADE")
    conn.execute(access_state.delete().where(access_state.c.department == key))
    if postgres:
        conn.execute(sa.text("DELETE FROM audit.access_scope WHERE role_name = :r"), {"r": role})
    return changes


# ----------------------------------------------------------------------------- export

def export_table(engine: sa.Engine, access: AccessConfig, department: str, table: str,
                 out: Path, reason: str) -> int:
    """Write what `department` sees of `table` (its view, queried as its role) to a CSV
    file and record the export in audit.grant_log; returns the number of rows."""
    if department not in access.departments:
        raise AccessError(f"no department {department!r} in the access configuration")
    dept = access.departments[department]
    if not re.fullmatch(r"[a-z_]+", table):
        raise AccessError(f"{table!r} is not a table name")
    postgres = engine.dialect.name == "postgresql"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with engine.begin() as conn:
        actor = _actor(conn)
        if postgres:
            conn.exec_driver_sql(f"SET LOCAL ROLE {dept.role}")
        result = conn.exec_driver_sql(f"SELECT * FROM {dept.schema}.{table}",
                                      execution_options={"stream_results": True})
        header = True
        with out.open("w", encoding="utf-8-sig", newline="") as handle:
            while chunk := result.fetchmany(50_000):
                frame = pd.DataFrame(chunk, columns=list(result.keys()))
                frame.to_csv(handle, index=False, header=header)
                header, rows = False, rows + len(frame)
            if header:
                pd.DataFrame(columns=list(result.keys())).to_csv(handle, index=False)
        if postgres:
            conn.exec_driver_sql("RESET ROLE")
        _log(conn, actor, dept.key, dept.role, "export", table, f"{rows} rows to {out}",
             reason)
    return rows


# ----------------------------------------------------------------------------- who can see

def _resident_rows(conn, table: Table, catalogue, existing, resident_id) -> list[dict]:
    """Division columns of the rows of `table` about the resident (through the parent for
    child tables)."""
    if table.parent:
        parent, key = table.parent
        if parent not in existing:
            return []
        scope_columns = catalogue[parent].row_scope
        select = ", ".join(f"p.{_q(c)}" for c in scope_columns) or "1 AS one"
        sql = (f"SELECT {select} FROM shared.{table.name} c JOIN shared.{parent} p "
               f"ON p.{_q(key)} = c.{_q(key)} WHERE c.resident_id = :rid")
    else:
        select = ", ".join(_q(c) for c in table.row_scope) or "1 AS one"
        sql = f"SELECT {select} FROM shared.{table.name} WHERE resident_id = :rid"
    return [dict(r) for r in conn.execute(sa.text(sql), {"rid": resident_id}).mappings()]


def _in_scope(row: dict, scope: tuple[str, ...]) -> bool:
    codes = {v for k, v in row.items() if k in ("street_code", "community_code") and v}
    if row.get("community_code"):
        codes.add(row["community_code"][:9] + "000")
    return bool(codes & set(scope))


def who_can_see(engine: sa.Engine, access: AccessConfig, resident_id: str) -> pd.DataFrame:
    """For one resident: each department that can see rows about them, in which table, how
    many, and which personal columns it sees in full and which masked."""
    catalogue = load_catalogue()
    found = []
    with engine.connect() as conn:
        existing = existing_shared_columns(conn)
        for name, table in catalogue.items():
            if name not in existing or "resident_id" not in existing[name]:
                continue
            rows = _resident_rows(conn, table, catalogue, existing, resident_id)
            if not rows:
                continue
            for dept in access.departments.values():
                if name not in visible_tables(dept, catalogue, existing):
                    continue
                seen = [r for r in rows if not dept.scope or _in_scope(r, dept.scope)] \
                    if (table.row_scope or table.parent) else rows
                if not seen:
                    continue
                personal = [c for c in table.columns.values()
                            if c.personal != "none" and c.sharing != NOT_SHARED]
                full = [c.name for c in personal if c.sharing == UNCONDITIONAL
                        or f"{name}.{c.name}" in dept.columns]
                masked = [c.name for c in personal if c.name not in full]
                found.append({"department": dept.key, "department_name": dept.name,
                              "table": name, "records": len(seen),
                              "full_columns": ", ".join(full),
                              "masked_columns": ", ".join(masked)})
    return pd.DataFrame(found, columns=["department", "department_name", "table", "records",
                                        "full_columns", "masked_columns"])
