"""The quarantine: list, explain and replay the records validation held back.

Every record that fails a critical rule sits in `shared.quarantine` with its raw form, the
failed rules in words, the run id and the landed row. After the cause is fixed (a community
added to the reference divisions, a rule corrected), `replay` validates those records again
with the current reference data and rules; the ones that pass are staged like any landed
record and their quarantine rows get `replayed_at`. A replayed row is never replayed again, so
replaying twice loads nothing twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from common.masking import masked_raw

TABLE = "shared.quarantine"


LIST_COLUMNS = ["quarantine_id", "source", "source_record_id", "raw_location", "rules",
                "reason", "severity", "run_id", "quarantined_at", "replayed_at"]


def _rule_filter(frame: pd.DataFrame, rule: str | None) -> pd.DataFrame:
    if not rule:
        return frame
    named = frame["rules"].fillna("").str.split(",").map(lambda ids: rule in ids)
    return frame[named.astype(bool)]


def list_quarantine(engine: sa.Engine, source: str | None = None, rule: str | None = None,
                    run_id: str | None = None, include_replayed: bool = False) -> pd.DataFrame:
    """Quarantined records (newest first), optionally of one source, rule or run."""
    from warehouse.schema import quarantine as q

    query = sa.select(*[q.c[c] for c in LIST_COLUMNS])
    if source:
        query = query.where(q.c.source == source)
    if run_id:
        query = query.where(q.c.run_id == run_id)
    if not include_replayed:
        query = query.where(q.c.replayed_at.is_(None))
    with engine.connect() as conn:
        frame = pd.read_sql(query.order_by(q.c.quarantined_at.desc(), q.c.quarantine_id), conn)
    return _rule_filter(frame, rule).reset_index(drop=True)


def explain(engine: sa.Engine, quarantine_id: str) -> str:
    """Why a record is held, the failed rules in words and the record with personal data
    masked."""
    from expectations.runner import RuleFileError, load_rules
    from warehouse.schema import quarantine as q

    with engine.connect() as conn:
        row = conn.execute(sa.select(q).where(q.c.quarantine_id == quarantine_id)).mappings() \
            .first()
    if row is None:
        raise KeyError(f"no quarantined record {quarantine_id}")
    lines = [f"quarantine id  {row['quarantine_id']}", f"source         {row['source']}",
             f"record         {row['source_record_id']}", f"location       {row['raw_location']}",
             f"run            {row['run_id']}", f"quarantined at {row['quarantined_at']}",
             f"replayed at    {row['replayed_at'] or '-'}", f"reason         {row['reason']}"]
    rule_ids = [r for r in (row["rules"] or "").split(",") if r]
    if rule_ids:
        lines.append("failed rules:")
        try:
            ruleset = load_rules(row["source"])
            known = {r.id: r for r in ruleset.rules}
        except RuleFileError:
            known = {}
        for rule_id in rule_ids:
            rule = known.get(rule_id)
            lines.append(f"  - {rule.words()} [{rule.severity}; {rule.expectation}]" if rule
                         else f"  - {rule_id} (no longer in the rule file)")
    lines += ["record as it arrived (personal data masked):", masked_raw(row["raw"])]
    return "\n".join(lines)


def _landed_frame(source: str, records: list[str]) -> pd.DataFrame:
    """Landed rows rebuilt from their JSON, with the column types the rule file declares."""
    from expectations.runner import load_rules

    frame = pd.DataFrame([json.loads(r) for r in records])
    for name, spec in load_rules(source).columns.items():
        if name not in frame.columns:
            continue
        kind = spec.get("type")
        if kind == "datetime":
            frame[name] = pd.to_datetime(frame[name])
        elif kind == "date":
            frame[name] = pd.to_datetime(frame[name]).dt.date.astype(object).where(
                frame[name].notna(), None)
        elif kind == "int":
            frame[name] = pd.to_numeric(frame[name]).astype("Int64")
        else:
            frame[name] = frame[name].astype("str")
    if "_extracted_at" in frame.columns:
        frame["_extracted_at"] = pd.to_datetime(frame["_extracted_at"], utc=True)
    return frame


def replay(engine: sa.Engine, reference, source: str | None = None, rule: str | None = None,
           docs_dir=None) -> dict:
    """Validate the un-replayed quarantined records again; stage those that now pass and mark
    their quarantine rows replayed. Returns per-source counts."""
    from expectations.runner import WARNINGS, validate_landed
    from pipeline.staging import stage_records
    from warehouse.schema import quarantine as q

    query = sa.select(q.c.quarantine_id, q.c.source, q.c.rules, q.c.landed_record).where(
        q.c.replayed_at.is_(None))
    if source:
        query = query.where(q.c.source == source)
    with engine.connect() as conn:
        pending = _rule_filter(pd.read_sql(query, conn), rule)
    summary = {}
    for name, group in pending.groupby("source", sort=True):
        replayable = group[group["landed_record"].notna()]
        counts = {"considered": len(group), "not_replayable": len(group) - len(replayable),
                  "loaded": 0, "still_failing": 0}
        summary[name] = counts
        if replayable.empty:
            continue
        landed = _landed_frame(name, replayable["landed_record"].tolist())
        landed["_quarantine_id"] = replayable["quarantine_id"].to_numpy()
        outcome = validate_landed(name, landed, reference, None, docs_dir, run_id="replay")
        if outcome.held:
            counts["still_failing"] = len(replayable)
            counts["batch_failures"] = outcome.batch_failures
            continue
        passed = outcome.valid
        versions = set(zip(passed["_source_record_id"], passed["_content_hash"]))
        released = landed.loc[[v in versions for v in zip(landed["_source_record_id"],
                                                           landed["_content_hash"])],
                              "_quarantine_id"].tolist()
        with engine.begin() as conn:
            if not passed.empty:
                stage_records(conn, name, passed.drop(columns=[WARNINGS, "_quarantine_id"]))
            if released:
                conn.execute(sa.update(q).where(q.c.quarantine_id.in_(released))
                             .values(replayed_at=datetime.now(UTC)))
        counts["loaded"] = len(passed)
        counts["still_failing"] = len(replayable) - len(released)
    return summary

