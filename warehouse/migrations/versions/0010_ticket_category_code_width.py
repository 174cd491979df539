"""hotline ticket category codes of any service: category_code varchar(16) -> varchar(64)

Open311 requests publish into shared.hotline_ticket, and a GeoReport v2 `service_code` is
the service's own identifier ("Sanitation Condition", "PWDx_District 1C: North End"), not
the 12345 platform's 4-digit class code.

PostgreSQL cannot change the type of a column a view reads, and the department views
(`govshare access apply`) read it: they are saved with their options, owner and grants,
dropped, and created again exactly as they were.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLES = ("hotline_ticket", "hotline_ticket_history")

_DEPENDENT_VIEWS = sa.text("""
    SELECT DISTINCT v.oid, n.nspname AS schema, v.relname AS name,
           pg_get_viewdef(v.oid) AS definition, pg_get_userbyid(v.relowner) AS owner,
           coalesce(array_to_string(v.reloptions, ', '), '') AS options
    FROM pg_depend d
    JOIN pg_rewrite r ON r.oid = d.objid
    JOIN pg_class v ON v.oid = r.ev_class AND v.relkind = 'v'
    JOIN pg_namespace n ON n.oid = v.relnamespace
    WHERE d.refobjid IN (SELECT c.oid FROM pg_class c JOIN pg_namespace s
                         ON s.oid = c.relnamespace
                         WHERE s.nspname = 'shared' AND c.relname = ANY(:tables))
      AND v.oid <> d.refobjid""")
_GRANTS = sa.text("""
    SELECT pg_get_userbyid(a.grantee) AS grantee, a.privilege_type
    FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = :oid AND a.grantee <> 0""")


def _retype(length: int) -> None:
    conn = op.get_bind()
    views = []
    if conn.dialect.name == "postgresql":
        views = [dict(v._mapping) for v in conn.execute(_DEPENDENT_VIEWS,
                                                        {"tables": list(TABLES)})]
        for view in views:
            view["grants"] = conn.execute(_GRANTS, {"oid": view["oid"]}).all()
            conn.exec_driver_sql(f'DROP VIEW "{view["schema"]}"."{view["name"]}"')
    for table in TABLES:
        op.alter_column(table, "category_code", type_=sa.String(length),
                        existing_nullable=True, schema="shared")
    for view in views:
        name = f'"{view["schema"]}"."{view["name"]}"'
        options = f" WITH ({view['options']})" if view["options"] else ""
        conn.exec_driver_sql(f"CREATE VIEW {name}{options} AS {view['definition']}")
        conn.exec_driver_sql(f'ALTER VIEW {name} OWNER TO "{view["owner"]}"')
        for grantee, privilege in view["grants"]:
            conn.exec_driver_sql(f'GRANT {privilege} ON {name} TO "{grantee}"')


def upgrade() -> None:
    _retype(64)


def downgrade() -> None:
    _retype(16)
