"""`govshare explain SOURCE:ID SOURCE:ID`: how two records compare under the stored model,
comparison by comparison, and what the hard constraints and deterministic rules say."""

from __future__ import annotations

import sqlalchemy as sa

from common.masking import mask_id, mask_name, mask_phone
from transforms.resolution import engine as eng
from warehouse import resolution_tables as tables


def _reference(text: str) -> tuple[str, str]:
    source, sep, record_id = text.partition(":")
    if not sep or not record_id:
        raise ValueError(f"expected SOURCE:ID, got {text!r}")
    return source, record_id


def _mention(conn: sa.Connection, table: sa.Table, source: str, record_id: str) -> dict | None:
    row = conn.execute(sa.select(table).where(table.c.source == source,
                                              table.c.source_record_id == record_id)).mappings()
    found = row.first()
    return dict(found) if found else None


def explain(engine: sa.Engine, left: str, right: str) -> str:
    """Text explaining the comparison of two resolved records."""
    refs = [_reference(left), _reference(right)]
    with engine.connect() as conn:
        found = [(kind, [_mention(conn, table, *ref) for ref in refs])
                 for kind, table in ((eng.RESIDENT, tables.person_mention),
                                     (eng.UNIT, tables.unit_mention))]
        found = [(kind, records) for kind, records in found if all(records)]
        if not found:
            raise LookupError("both records must be resolved mentions of the same kind "
                              "(residents or units)")
        kind, records = found[0]
        model = conn.execute(sa.select(tables.resolution_model.c.settings_json)
                             .where(tables.resolution_model.c.kind == kind.name)).scalar()
    id_col = f"{kind.name}_id"
    lines = [f"{kind.name}s: {left} -> {records[0][id_col]} ({records[0]['match_rule']}), "
             f"{right} -> {records[1][id_col]} ({records[1]['match_rule']})"]
    for ref, record in zip((left, right), records):
        shown = {"name": mask_name(record["name"]) if record["name"] else None,
                 kind.key: mask_id(record[kind.key]) if record[kind.key] else None,
                 "phone": mask_phone(record["phone"]) if record.get("phone") else None}
        lines.append(f"  {ref}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    valid = [bool(r[kind.key_valid]) for r in records]
    if all(valid):
        same = records[0][kind.key] == records[1][kind.key]
        lines.append(f"deterministic: {'same' if same else 'different'} valid {kind.key}: "
                     + ("one entity (exact rule)" if same
                        else "never one entity (hard constraint)"))
    for column in kind.conflict_columns:
        a, b = records[0].get(column), records[1].get(column)
        if a is not None and b is not None and a != b:
            lines.append(f"hard constraint: {column} differs: never one entity")
    contributions = eng.explain_pair(kind, records[0], records[1], model)
    lines.append(f"{'comparison':<12} {'level':<48} {'bayes factor':>14} {'weight':>8}")
    for row in contributions.itertuples(index=False):
        lines.append(f"{row.comparison:<12} {str(row.level)[:48]:<48} "
                     f"{row.bayes_factor:>14.4g} {row.match_weight:>+8.2f}")
    lines.append(f"total match weight {contributions.attrs['match_weight']:+.2f} (with the "
                 f"prior), match probability {contributions.attrs['match_probability']:.6f}; "
                 f"probabilistic threshold {kind.threshold}, strong {kind.strong}")
    return "\n".join(lines)
