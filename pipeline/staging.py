"""Staging one batch: validate the landed versions of a source (Great Expectations suites in
expectations/rules/), stage those that pass into `staging.record_version` and quarantine the
rest, in one transaction; a batch failure holds the whole batch."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from common import sources
from common.settings import PipelineSettings
from connectors.landing import META_COLUMNS
from pipeline import config as cfg
from pipeline.workspace import Workspace
from transforms.records import rows_as_json

log = logging.getLogger(__name__)



def _record_json(source: str, frame: pd.DataFrame) -> pd.Series:
    """The record as JSON text: the sent JSON where the source sends JSON, else the landed
    columns (for rosters the named columns; their raw cells stay in the landing zone)."""
    if sources.raw_format(source) == "json":
        return frame["raw"].astype("str") if len(frame) else pd.Series([], dtype="str")
    columns = [c for c in frame.columns if c not in META_COLUMNS and c != "raw"]
    return pd.Series(rows_as_json(frame[columns], str), index=frame.index)


def stage_records(conn: sa.Connection, source: str, landed: pd.DataFrame) -> int:
    """Put landed records (source columns plus the landing's metadata columns) into
    `staging.record_version`; a version already staged keeps its first landing. `staged_at`
    is now: what incremental resolution and publication read from, so a version staged
    late (released from quarantine) reaches them in the next ordinary run."""
    from warehouse.engine import upsert

    updated = landed["updated_at"] if "updated_at" in landed.columns else None
    versions = pd.DataFrame({
        "source": source,
        "source_record_id": landed["_source_record_id"],
        "content_hash": landed["_content_hash"],
        "record_updated_at": None if updated is None else updated.astype("str"),
        "record": _record_json(source, landed),
        "warnings": landed["_warnings"].replace("", None) if "_warnings" in landed.columns
        else None,
        "run_id": landed["_run_id"],
        "landed_at": pd.to_datetime(landed["_extracted_at"], utc=True),
        "staged_at": datetime.now(UTC),
    })
    return upsert(conn, versions.drop(columns=[c for c in ("_warnings",) if c in versions]),
                  "staging.record_version",
                  ["source", "source_record_id", "content_hash"], update=False)


def recent_landed_counts(ws: Workspace, source: str, run_id: str, runs: int = 7,
                         min_runs: int = 3, min_median: int = 50) -> list[int] | None:
    """Records landed by the source's last `runs` runs before this one: the history the
    volume check compares a batch with. None (no check) while the history is too short or
    too small to judge; the source's first run, an initial full load, never counts."""
    from warehouse.schema import load_audit

    with ws.engine.connect() as conn:
        rows = conn.execute(
            sa.select(load_audit.c.records_landed)
            .where(load_audit.c.source == source, load_audit.c.run_id != run_id)
            .order_by(load_audit.c.window_end.desc())).scalars().all()
    history = [int(r) for r in rows[:-1][:runs]]  # rows[-1] is the first run
    if len(history) < min_runs or sorted(history)[len(history) // 2] < min_median:
        return None
    return history



def storable_text(values: pd.Series) -> pd.Series:
    """Text every warehouse can hold: a NUL character (no PostgreSQL text can, and COPY
    fails on it) is stored as the six characters `\\u0000`, visibly, as JSON writes it."""
    return values.map(lambda v: v.replace("\x00", "\\u0000") if isinstance(v, str) else v)


def quarantine_ids(source: str, frame: pd.DataFrame) -> pd.Series:
    """sha256 of source, location, reason and raw: the same rejection twice is one row."""
    parts = zip(frame["raw_location"].astype("str"), frame["reason"].astype("str"),
                frame["raw"].fillna("").astype("str"))
    return pd.Series([hashlib.sha256("\x1f".join([source, *p]).encode()).hexdigest()
                      for p in parts], index=frame.index, dtype="str")


def record_quarantine(conn: sa.Connection, source: str, run_id: str,
                      quarantined: pd.DataFrame) -> int:
    """Write a validation's quarantined rows (runner.ValidationOutcome.quarantined) to
    `shared.quarantine`; a row already there (same quarantine id) is left as it is."""
    from warehouse.engine import upsert

    if quarantined.empty:
        return 0
    rows = pd.DataFrame({
        "quarantine_id": quarantine_ids(source, quarantined),
        "source": source,
        "source_record_id": quarantined["source_record_id"],
        "raw_location": storable_text(quarantined["raw_location"]),
        "reason": storable_text(quarantined["reason"]),
        "raw": storable_text(quarantined["raw"]),
        "run_id": run_id,
        "quarantined_at": datetime.now(UTC),
        "replayed_at": pd.Series(pd.NaT, index=quarantined.index, dtype="datetime64[us, UTC]"),
        "rules": quarantined["rules"],
        "severity": quarantined["severity"],
        "landed_record": quarantined["landed_record"],
    })
    return upsert(conn, rows, "shared.quarantine", ["quarantine_id"], update=False)


class BatchHeldError(RuntimeError):
    """A batch failed a batch-level rule: nothing of it was loaded."""


def validate_and_stage(engine: sa.Engine, source: str,
                       landed: pd.DataFrame | Iterable[pd.DataFrame], reference,
                       run_id: str, recent_counts: list[int] | None = None,
                       docs_dir=None, batch_rows: int | None = None) -> dict:
    """The validate step between extract and load: validate a landed batch, then stage the
    rows that pass and quarantine the ones that fail a critical rule. A held batch (volume
    collapse, schema drift, a critical rule failing for most rows) stages and quarantines
    nothing and raises `BatchHeldError`, so the task fails loudly.

    `landed` is the batch, or the batch in slices (`RawLanding.record_slices`, which can be
    read twice): every slice is validated first, keeping only where its valid rows are and
    its quarantine rows, so a hold anywhere loads nothing; then each slice is read again and
    staged with its quarantine rows in a transaction of its own (one transaction over a
    register's millions of rows would hold them all in DuckDB's memory until the commit).
    A crash between two slices leaves valid versions of the batch staged; the retry stages
    the rest (staging keeps a version's first landing). The volume rule judges the whole
    batch (`batch_rows`, on the first slice); the share that holds a batch is judged per
    slice (a batch over the share has at least one slice over it)."""

    from expectations.runner import WARNINGS, validate_landed

    slices = [landed] if isinstance(landed, pd.DataFrame) else landed
    verdicts, stats = [], Counter()
    per_rule: Counter = Counter()
    docs_index = None
    for number, frame in enumerate(slices):
        # The first slice carries the whole batch's volume check and its Data Docs.
        outcome = validate_landed(source, frame, reference,
                                  recent_counts if number == 0 else None,
                                  docs_dir if number == 0 else None, run_id,
                                  batch_rows=batch_rows)
        if outcome.held:
            raise BatchHeldError("; ".join(outcome.batch_failures))
        verdicts.append((outcome.valid_positions, outcome.valid[WARNINGS].to_numpy(),
                         outcome.quarantined))
        stats.update({key: value for key, value in outcome.stats.items()
                      if isinstance(value, int | float) and key != "batch_failures"})
        per_rule.update(outcome.stats["failed_rows_per_rule"])
        docs_index = docs_index or outcome.docs_index
    staged = quarantined = 0
    for frame, (valid_positions, warned, rejected) in zip(slices, verdicts, strict=True):
        with engine.begin() as conn:
            staged += stage_records(conn, source, frame.iloc[valid_positions].assign(
                **{WARNINGS: warned})) if len(valid_positions) else 0
            quarantined += record_quarantine(conn, source, run_id, rejected)
    return {**stats, "source": source, "slices": len(verdicts), "staged": staged,
            "quarantine_rows": quarantined, "failed_rows_per_rule": dict(per_rule),
            "data_docs": str(docs_index) if docs_index else None}


def validate_and_load(source: str, run_date, run_id: str, config: dict | None = None,
                      release_reason: str | None = None) -> dict:
    """Validate the run date's landed versions of one source (Great Expectations suites in
    expectations/rules/), stage those that pass into `staging.record_version` and quarantine
    the rest, in one transaction. A batch failure (volume collapse, schema drift, a critical
    rule failing for most rows) records the hold in `ops.batch_hold`, raises
    `BatchHeldError` and loads nothing; validating the batch again once the cause is fixed
    (a re-run of the task, or `release_batch`) loads it and closes the hold."""

    from common.reference import load_reference
    from expectations.runner import has_rules
    from warehouse.schema import batch_hold, load_audit

    config = config or cfg.load_sources()
    with Workspace(config) as ws:
        # The run date's versions, and what this run landed elsewhere: a re-export of an
        # earlier day lands under that day, and would otherwise never be validated.
        landed = ws.landing.record_slices(source, run_date, also_run=run_id,
                                          max_rows=config.get("validation_slice_rows")
                                          or PipelineSettings().validation_slice_rows)
        if not has_rules(source):
            log.warning("%s has no validation suite in expectations/rules/: staged unvalidated",
                        source)
            with ws.engine.begin() as conn:
                staged = sum(stage_records(conn, source, frame) for frame in landed)
                # The audit says the run was loaded, as a validated run's does.
                conn.execute(sa.update(load_audit)
                             .where(load_audit.c.source == source, load_audit.c.run_id == run_id)
                             .values(records_loaded=staged))
            return {"source": source, "staged": staged, "quarantine_rows": 0, "data_docs": None}
        history = recent_landed_counts(ws, source, run_id, **config.get("volume_check", {}))
        if not landed.rows:
            if history:  # nothing at all from a source that usually delivers: a collapse
                reason = (f"{source}: no records landed for {run_date}, against a median of "
                          f"{sorted(history)[len(history) // 2]} recently")
                _record_hold(ws.engine, source, run_id, run_date, reason)
                raise BatchHeldError(reason)
            return {"source": source, "staged": 0, "quarantine_rows": 0, "data_docs": None}
        try:
            outcome = validate_and_stage(
                ws.engine, source, landed, load_reference(config=config), run_id,
                recent_counts=history,
                docs_dir=config.get("data_docs_dir") or cfg.home() / "data_docs",
                batch_rows=landed.rows)
        except BatchHeldError as held:
            _record_hold(ws.engine, source, run_id, run_date, str(held))
            raise
        from warehouse.schema import quarantine

        rejected = (sa.select(sa.func.count()).select_from(quarantine)
                    .where(quarantine.c.source == source, quarantine.c.run_id == run_id)
                    .scalar_subquery())
        with ws.engine.begin() as conn:
            # Derived from the quarantine itself, so re-running the task counts nothing twice.
            conn.execute(sa.update(load_audit)
                         .where(load_audit.c.source == source, load_audit.c.run_id == run_id)
                         .values(records_loaded=outcome["staged"], records_quarantined=rejected))
            conn.execute(sa.update(batch_hold)
                         .where(batch_hold.c.source == source, batch_hold.c.run_id == run_id,
                                batch_hold.c.released_at.is_(None))
                         .values(released_at=datetime.now(UTC),
                                 release_reason=release_reason or "validated again"))
        log.info("%s: staged %d, quarantined %d", source, outcome["staged"],
                 outcome["quarantine_rows"])
        return {"source": source, **{k: outcome[k] for k in (
            "staged", "quarantine_rows", "slices", "data_docs")}}



def _record_hold(engine: sa.Engine, source: str, run_id: str, run_date, reason: str) -> None:
    from warehouse.engine import upsert

    with engine.begin() as conn:
        upsert(conn, pd.DataFrame([{"source": source, "run_id": run_id, "run_date": run_date,
                                    "reason": reason, "held_at": datetime.now(UTC),
                                    "released_at": None, "release_reason": None}]),
               "ops.batch_hold", ["source", "run_id"])


def held_batches(engine: sa.Engine, include_released: bool = False) -> pd.DataFrame:
    """The batches validation held, newest first (open ones only unless asked)."""
    from warehouse.schema import batch_hold

    query = sa.select(batch_hold).order_by(batch_hold.c.held_at.desc())
    if not include_released:
        query = query.where(batch_hold.c.released_at.is_(None))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).mappings().all(),
                            columns=[c.name for c in batch_hold.columns])


def release_batch(source: str, run_id: str, reason: str, config: dict | None = None) -> dict:
    """Validate a held batch again (after its rule or source was fixed): it loads as any
    batch does, once, and its hold is closed with `reason`; still broken, it stays held and
    the error says why."""
    from warehouse.schema import batch_hold

    config = config or cfg.load_sources()
    with Workspace(config) as ws, ws.engine.connect() as conn:
        run_date = conn.execute(sa.select(batch_hold.c.run_date).where(
            batch_hold.c.source == source, batch_hold.c.run_id == run_id)).scalar()
    if run_date is None:
        raise cfg.ConfigError(f"no held batch of {source} in run {run_id}")
    return validate_and_load(source, run_date, run_id, config, release_reason=reason)
