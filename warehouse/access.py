"""Access to the shared warehouse by department (config/access.example.yaml).

Each department gets a PostgreSQL role and a schema `dept_<name>` holding one view per
shared table it may see (the catalogue's sharing classes: unconditional tables for everyone,
conditional tables where granted, never the not-shared ones). In a view, a conditional
column is the real value where the department's grant names it and a masked value otherwise
(150102************, 139****2233, 李**, addresses without numbers, or null: the rules of
common/masking.py, whose docstring says why an ID number keeps only its area code); not-shared
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

What PostgreSQL grants every role by default is taken from department logins too:
`apply_access` revokes TEMPORARY on the warehouse database, CREATE on schema public and
the functions creating large objects from PUBLIC, so that a department login can create
nothing anywhere (no temporary tables, no functions in pg_temp, no large objects); roles
that need temporary tables (the pipeline's, see `apply_pipeline_role`) are granted
TEMPORARY by name. tests/test_access_attacks.py connects as a department login and tries
the ways around all this.

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
from contextlib import contextmanager
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
    Column,
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
    """SQL masking a column the same way common.masking.COLUMN_MASKS masks a value
    (PostgreSQL and DuckDB alike; tests/test_masking_sql.py compares them): an ID number
    keeps its first 6 characters only."""
    c = _q(column)
    return {
        "id_number": f"CASE WHEN length({c}) > 6 THEN left({c}, 6) || "
                     f"repeat('*', length({c}) - 6) ELSE repeat('*', length({c})) END",
        "phone": f"CASE WHEN length({c}) > 7 THEN left({c}, 3) || "
                 f"repeat('*', length({c}) - 7) || right({c}, 4) "
                 f"ELSE repeat('*', length({c})) END",
        "name": f"left({c}, 1) || repeat('*', greatest(length({c}) - 1, 0))",
        "address": f"regexp_replace({c}, '[0-9０-９]+', '*', 'g')",
        "withhold": f"CASE WHEN false THEN {c} END",  # null of the column's own type
    }[mask]


def sees_in_full(dept: Department | None, table: Table, column: Column) -> bool:
    """Whether a department (None: one granted nothing) sees a column's real values:
    unconditional columns everyone, conditional ones where granted, not-shared ones never."""
    if column.sharing == NOT_SHARED:
        return False
    return column.sharing == UNCONDITIONAL or (
        dept is not None and f"{table.name}.{column.name}" in dept.columns)


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
        expression = _q(column) if sees_in_full(dept, table, spec) else mask_sql(column, spec.mask)
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
    changes += _revoke_public_defaults(conn, state, actor, reason)
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


_PUBLIC_DEFAULTS = ("TEMPORARY on the database, CREATE on schema public, creating large "
                    "objects")
_LARGE_OBJECT_CREATORS = ("lo_create(oid)", "lo_creat(integer)", "lo_from_bytea(oid, bytea)")


def _revoke_public_defaults(conn, state, actor, reason) -> list[str]:
    """Take from PUBLIC (every role, department logins included) what PostgreSQL grants it
    by default: temporary tables and functions in pg_temp, large objects (storage outside
    any schema), and on servers before 15 objects in schema public. Revoked on every apply
    (cheap, and undoes a re-grant); logged the first time."""
    database = conn.exec_driver_sql("SELECT current_database()").scalar()
    conn.exec_driver_sql(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')
    conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    for function in _LARGE_OBJECT_CREATORS:
        conn.exec_driver_sql(f"REVOKE EXECUTE ON FUNCTION pg_catalog.{function} FROM PUBLIC")
    if state.get(("*", "public_defaults", database)) == _PUBLIC_DEFAULTS:
        return []
    _log(conn, actor, "*", "public", "revoke", database, _PUBLIC_DEFAULTS, reason)
    _record_state(conn, "*", "public_defaults", database, _PUBLIC_DEFAULTS)
    return [f"revoke {_PUBLIC_DEFAULTS} from PUBLIC"]


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

@contextmanager
def department_session(engine: sa.Engine, dept: Department):
    """A transaction that queries as the department: under its role on PostgreSQL (grants
    and row-level security decide what it sees), through its schema of views on both."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL ROLE {dept.role}")
        yield conn


def department(access: AccessConfig, key: str) -> Department:
    if key not in access.departments:
        raise AccessError(f"no department {key!r} in the access configuration")
    return access.departments[key]


def row_visible(engine: sa.Engine, dept: Department, table: str, column: str, value) -> bool:
    """Whether the department's own view of `table` shows the row where `column` = value
    (asked as the department, so its scope decides)."""
    if table not in visible_tables(dept, load_catalogue(), _existing(engine)):
        return False
    try:
        with department_session(engine, dept) as conn:
            return conn.execute(sa.text(f"SELECT 1 FROM {dept.schema}.{table} "
                                        f"WHERE {_q(column)} = :value"),
                                {"value": value}).first() is not None
    except sa.exc.DBAPIError:
        raise AccessError(f"{dept.key} has no view {dept.schema}.{table}: run "
                          "`govshare access apply` first") from None


def _existing(engine: sa.Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return existing_shared_columns(conn)


# A cell starting with one of these is a formula to Excel and LibreOffice (=HYPERLINK(...),
# @SUM(...), +1+1, -2+3; a tab or carriage return first hides what follows).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Digits only and 12 or more of them: an ID number, a division or ticket code that Excel
# would turn into a number (shown as 1.50102E+17, rounded after 15 digits).
_LONG_DIGITS = re.compile(r"[0-9]{12,}")


def spreadsheet_text(value):
    """A CSV cell as a spreadsheet shows it and never runs it: text that starts a formula,
    and long digit strings, get a leading apostrophe (the spreadsheet's "this is text"
    mark; the ="..." form would itself be a formula). Numbers and nulls are left alone."""
    if not isinstance(value, str):
        return value
    if value.lstrip(" ").startswith(_FORMULA_START) or _LONG_DIGITS.fullmatch(value):
        return "'" + value
    return value


def export_table(engine: sa.Engine, access: AccessConfig, department_key: str, table: str,
                 out: Path, reason: str) -> int:
    """Write what the department sees of `table` (its view, queried as its role) to a CSV
    file safe to open in a spreadsheet (`spreadsheet_text`) and record the export in
    audit.grant_log; returns the number of rows."""
    dept = department(access, department_key)
    if not re.fullmatch(r"[a-z_]+", table):
        raise AccessError(f"{table!r} is not a table name")
    with engine.connect() as conn:
        actor = _actor(conn)
        # A department's views are what it is granted (`govshare access apply`): no view, no
        # export, said plainly instead of the database's "permission denied"/"does not exist".
        if not sa.inspect(conn).has_table(table, schema=dept.schema):
            raise AccessError(f"{dept.key} is not granted {table} (no view {dept.schema}."
                              f"{table}; the access file grants tables; `govshare access apply` makes the views)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with department_session(engine, dept) as conn:
        result = conn.exec_driver_sql(f"SELECT * FROM {dept.schema}.{table}",
                                      execution_options={"stream_results": True})
        header = True
        with out.open("w", encoding="utf-8-sig", newline="") as handle:
            while chunk := result.fetchmany(50_000):
                frame = pd.DataFrame(chunk, columns=list(result.keys()), dtype=object)
                frame.map(spreadsheet_text).to_csv(handle, index=False, header=header)
                header, rows = False, rows + len(frame)
            if header:
                pd.DataFrame(columns=list(result.keys())).to_csv(handle, index=False)
    with engine.begin() as conn:
        _log(conn, actor, dept.key, dept.role, "export", table, f"{rows} rows to {out}",
             reason)
    return rows


# ----------------------------------------------------------------------------- the pipeline

# The schemas the pipeline writes. `audit` (grants, scopes, the access state) stays with
# the DBA who runs `govshare access apply`; the department schemas with their views.
PIPELINE_SCHEMAS = ("shared", "staging", "core", "ops")
_RELATION_KINDS = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
                   "S": "SEQUENCE", "f": "FOREIGN TABLE"}


def apply_pipeline_role(engine: sa.Engine, role: str = "govshare_pipeline",
                        reason: str | None = None) -> list[str]:
    """Make `role` the role the pipeline (and Airflow's tasks) connect as instead of a
    superuser; returns what changed (idempotent, logged in audit.grant_log).

    The role can log in (the DBA sets its password: ALTER ROLE ... PASSWORD) and is not a
    superuser, cannot create roles or databases and does not bypass row-level security. It
    owns the schemas the pipeline writes and everything in them (every task runs the
    migrations, so it must be able to change the tables; as their owner it also reads and
    writes every row of them) and has, on the database, CONNECT, TEMPORARY (upserts stage
    rows in temporary tables) and CREATE (the migrations start with CREATE SCHEMA IF NOT
    EXISTS, which PostgreSQL checks even when the schema exists). It gets nothing on
    `audit` or the department schemas. Run it again after a migration run by another role
    created objects."""
    if engine.dialect.name != "postgresql":
        raise AccessError("database roles exist on PostgreSQL only")
    if not _IDENTIFIER.match(role):
        raise AccessError(f"{role!r} is not a plain lower-case identifier")
    changes = []
    with engine.begin() as conn:
        actor = _actor(conn)
        found = conn.execute(sa.text(
            "SELECT rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb FROM pg_roles "
            "WHERE rolname = :r"), {"r": role}).first()
        if found is None:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB "
                                 "NOCREATEROLE NOBYPASSRLS")
            _log(conn, actor, "*", role, "create", role, "pipeline role", reason)
            changes.append(f"create role {role}")
        elif found[0]:
            raise AccessError(f"role {role} is a superuser or may bypass row-level security, "
                              "create roles or databases: not a pipeline role")
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.exec_driver_sql(f'GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "{database}" '
                             f"TO {role}")
        owned = conn.execute(sa.text(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r','p','v','m','S','f') "
            "AND pg_get_userbyid(c.relowner) <> :role "
            # a serial column's sequence moves with its table
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
            "AND d.objid = c.oid AND d.deptype IN ('a', 'i')) "
            "ORDER BY 1, 2"), {"schemas": list(PIPELINE_SCHEMAS), "role": role}).all()
        for schema in PIPELINE_SCHEMAS:
            conn.exec_driver_sql(f"ALTER SCHEMA {schema} OWNER TO {role}")
        for schema, name, kind in owned:
            conn.exec_driver_sql(f'ALTER {_RELATION_KINDS[kind]} {schema}."{name}" '
                                 f"OWNER TO {role}")
        if owned:
            _log(conn, actor, "*", role, "grant", "ownership",
                 f"{len(owned)} objects in {', '.join(PIPELINE_SCHEMAS)}", reason)
            changes.append(f"{role}: owner of {len(owned)} objects")
    return changes


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
                full = [c.name for c in personal if sees_in_full(dept, table, c)]
                masked = [c.name for c in personal if c.name not in full]
                found.append({"department": dept.key, "department_name": dept.name,
                              "table": name, "records": len(seen),
                              "full_columns": ", ".join(full),
                              "masked_columns": ", ".join(masked)})
    return pd.DataFrame(found, columns=["department", "department_name", "table", "records",
                                        "full_columns", "masked_columns"])
