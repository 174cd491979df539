"""What the DAG's tasks do, importable and testable without Airflow.

Each function takes plain values (source names, window bounds, run ids) and returns a
small JSON-able summary, so tasks exchange names and counts, never data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from connectors.base import ExtractReport, Window
from connectors.landing import META_COLUMNS, RawLanding
from govshare import config as cfg

log = logging.getLogger(__name__)

HOTLINE_SOURCE = "hotline.tickets"
GRID_SOURCE = "grid.events"
ROSTER_SOURCE = "rosters"


def source_names(config: dict) -> list[str]:
    names = [t["table"] for t in config.get("departments", [])]
    if config.get("hotline"):
        names.append("open311.requests" if config["hotline"].get("dialect") == "open311"
                     else HOTLINE_SOURCE)
    if config.get("grid"):
        names.append(GRID_SOURCE)
    if config.get("rosters"):
        names.append(ROSTER_SOURCE)
    return names


def build_connector(source: str, config: dict):
    """The configured connector for one source name (imports only what it needs)."""
    for table in config.get("departments", []):
        if table["table"] == source:
            from connectors.sql import SqlTableConnector
            return SqlTableConnector(table)
    if source == HOTLINE_SOURCE:
        from connectors.hotline import HotlineConnector
        return HotlineConnector(config["hotline"])
    if source == "open311.requests":
        from connectors.open311 import Open311Connector
        return Open311Connector(config["hotline"])
    if source == GRID_SOURCE:
        from connectors.grid import GridFileConnector
        return GridFileConnector(config["grid"])
    if source == ROSTER_SOURCE:
        from connectors.rosters import RosterConnector
        return RosterConnector(config["rosters"])
    raise cfg.ConfigError(f"no source named {source!r} in the sources file")


class Workspace:
    """The warehouse engine, landing zone and state store of one configuration."""

    def __init__(self, config: dict):
        from warehouse.engine import create_warehouse_engine, is_duckdb
        from warehouse.migrate import upgrade
        from warehouse.schema import create_all
        from warehouse.state import StateStore

        self.config = config
        self.engine = create_warehouse_engine(config.get("warehouse_url"))
        if is_duckdb(self.engine):
            create_all(self.engine)  # the embedded warehouse is created, not migrated
        else:
            upgrade(self.engine.url.render_as_string(hide_password=False))
        self.landing = RawLanding(config.get("landing_root") or cfg.home() / "landing")
        self.state = StateStore(self.engine)


def _quarantine_rows(report: ExtractReport, now: datetime) -> pd.DataFrame:
    rows = []
    for item in report.quarantined:
        digest = hashlib.sha256("\x1f".join(
            [report.source, item.location, item.reason, item.raw or ""]).encode()).hexdigest()
        rows.append({"quarantine_id": digest, "source": report.source,
                     "source_record_id": None, "raw_location": item.location,
                     "reason": item.reason, "raw": item.raw, "run_id": report.run_id,
                     "quarantined_at": now, "replayed_at": None})
    return pd.DataFrame(rows)


def record_audit(ws: Workspace, report: ExtractReport, started_at: datetime,
                 loaded: int | None = None) -> None:
    from warehouse.engine import upsert

    now = datetime.now(UTC)
    audit = pd.DataFrame([{
        "source": report.source, "run_id": report.run_id,
        "window_start": report.window.since, "window_end": report.window.until,
        "records_received": report.received, "records_landed": report.landed,
        "records_loaded": loaded, "records_quarantined": len(report.quarantined),
        "watermark_before": report.watermark_before, "watermark_after": report.watermark_after,
        "schema_drift": ",".join(sorted(set(report.schema_drift))) or None,
        "started_at": started_at, "ended_at": now,
    }])
    with ws.engine.begin() as conn:
        # Re-running a run's extraction replaces its audit row and re-files the same rejects.
        upsert(conn, audit, "shared.load_audit", ["source", "run_id"])
        quarantined = _quarantine_rows(report, now)
        if not quarantined.empty:
            upsert(conn, quarantined.drop(columns=["quarantined_at"]).assign(
                quarantined_at=now), "shared.quarantine", ["quarantine_id"])


def extract(source: str, since: datetime, until: datetime, run_id: str,
            config: dict | None = None) -> dict:
    """Land one source's changes in (since, until] and audit it."""
    config = config or cfg.load_sources()
    ws = Workspace(config)
    started = datetime.now(UTC)
    try:
        connector = build_connector(source, config)
    except (KeyError, ValueError, TypeError) as error:  # a wrong sources file: no retry helps
        raise cfg.ConfigError(f"{source}: bad configuration: {error}") from error
    report = connector.extract(Window(since, until), ws.landing, ws.state, run_id)
    record_audit(ws, report, started)
    log.info("%s: received %d, landed %d, quarantined %d, watermark %s -> %s", source,
             report.received, report.landed, len(report.quarantined),
             report.watermark_before, report.watermark_after)
    return {"source": source, "received": report.received, "landed": report.landed,
            "quarantined": len(report.quarantined), "files": report.files,
            "schema_drift": sorted(set(report.schema_drift))}


# Sources whose landed `raw` column is the record exactly as the source sent it (JSON text).
JSON_SOURCES = {HOTLINE_SOURCE, GRID_SOURCE, "open311.requests"}


def _record_json(source: str, frame: pd.DataFrame) -> pd.Series:
    """The record as JSON text: the sent JSON where the source sends JSON, else the landed
    columns (for rosters the named columns; their raw cells stay in the landing zone)."""
    if source in JSON_SOURCES:
        return frame["raw"].astype("str") if len(frame) else pd.Series([], dtype="str")
    columns = [c for c in frame.columns if c not in META_COLUMNS and c != "raw"]
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    return pd.Series([json.dumps(dict(zip(columns, row)), ensure_ascii=False, default=str)
                      for row in values.itertuples(index=False, name=None)], index=frame.index)


def stage_records(conn: sa.Connection, source: str, landed: pd.DataFrame) -> int:
    """Put landed records (source columns plus the landing's metadata columns) into
    `staging.record_version`; a version already staged keeps its first landing."""
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


def validate_and_load(source: str, run_date, run_id: str, config: dict | None = None) -> dict:
    """Validate the run date's landed versions of one source (Great Expectations suites in
    expectations/rules/), stage those that pass into `staging.record_version` and quarantine
    the rest, in one transaction. A batch failure (volume collapse, schema drift) raises
    `BatchHeldError` and loads nothing."""
    from expectations.reference import load_reference
    from expectations.runner import rule_sources
    from govshare.quarantine import BatchHeldError, validate_and_stage
    from warehouse.schema import load_audit

    config = config or cfg.load_sources()
    ws = Workspace(config)
    landed = ws.landing.read_records(source, run_date)
    if source not in rule_sources():
        log.warning("%s has no validation suite in expectations/rules/: staged unvalidated",
                    source)
        with ws.engine.begin() as conn:
            staged = stage_records(conn, source, landed)
        return {"source": source, "staged": staged, "quarantine_rows": 0, "data_docs": None}
    history = recent_landed_counts(ws, source, run_id, **config.get("volume_check", {}))
    if landed.empty:
        if history:  # nothing at all from a source that usually delivers: a collapse
            raise BatchHeldError(f"{source}: no records landed for {run_date}, against a "
                                 f"median of {sorted(history)[len(history) // 2]} recently")
        return {"source": source, "staged": 0, "quarantine_rows": 0, "data_docs": None}
    outcome = validate_and_stage(
        ws.engine, source, landed, load_reference(config=config), run_id,
        recent_counts=history,
        docs_dir=config.get("data_docs_dir") or cfg.home() / "data_docs")
    from warehouse.schema import quarantine

    rejected = (sa.select(sa.func.count()).select_from(quarantine)
                .where(quarantine.c.source == source, quarantine.c.run_id == run_id)
                .scalar_subquery())
    with ws.engine.begin() as conn:
        # Derived from the quarantine itself, so re-running the task counts nothing twice.
        conn.execute(sa.update(load_audit)
                     .where(load_audit.c.source == source, load_audit.c.run_id == run_id)
                     .values(records_loaded=outcome["staged"], records_quarantined=rejected))
    log.info("%s: staged %d, quarantined %d", source, outcome["staged"],
             outcome["quarantine_rows"])
    return {"source": source, **{k: outcome[k] for k in ("staged", "quarantine_rows",
                                                          "data_docs")}}
