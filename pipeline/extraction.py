"""Extraction: land one source's changes in a window, audit the run, file connector rejects."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib import import_module

import pandas as pd

from common import sources
from connectors.base import ExtractReport, Window
from pipeline import config as cfg
from pipeline.workspace import Workspace
from warehouse.state import ManifestAfterCommit

log = logging.getLogger(__name__)

def source_names(config: dict) -> list[str]:
    """Every source the sources file configures (common.sources declares the kinds)."""
    return sources.source_names(config)


def build_connector(source: str, config: dict):
    """The configured connector for one source name: its module (the kind's `module:Class`)
    imported only now, with the sources file's parser `limits` under the section's own
    `limits` keys."""
    try:
        configured = sources.configured_source(config, source)
    except KeyError as missing:
        raise cfg.ConfigError(f"no source named {source!r} in the sources file") from missing
    module, _, cls = configured.kind.connector_for(configured.settings).partition(":")
    settings = dict(configured.settings)
    limits = config.get("limits")
    if limits and "limits" in configured.kind.settings.model_fields:
        settings["limits"] = {**limits, **(configured.settings.get("limits") or {})}
    return getattr(import_module(module), cls)(settings)


def _quarantine_rows(report: ExtractReport, now: datetime) -> pd.DataFrame:
    """The connector's rejects as quarantine rows, keyed as validation keys its own."""
    from pipeline.staging import quarantine_ids, storable_text

    rows = pd.DataFrame([{"source": report.source, "source_record_id": None,
                          "raw_location": item.location, "reason": item.reason,
                          "raw": item.raw, "run_id": report.run_id, "quarantined_at": now,
                          "replayed_at": None} for item in report.quarantined])
    if rows.empty:
        return rows
    rows = rows.assign(**{c: storable_text(rows[c]) for c in ("raw_location", "reason", "raw")})
    return rows.assign(quarantine_id=quarantine_ids(report.source, rows))


def record_audit(ws: Workspace, report: ExtractReport, started_at: datetime,
                 loaded: int | None = None, state: ManifestAfterCommit | None = None) -> None:
    """The run's audit row and connector rejects, and the file manifest entries `state`
    holds, in one transaction: a file counts as landed only once all of them are in."""
    import sqlalchemy as sa

    from warehouse.engine import upsert
    from warehouse.schema import load_audit

    now = datetime.now(UTC)
    with ws.engine.connect() as conn:
        earlier = conn.execute(sa.select(
            load_audit.c.records_received, load_audit.c.watermark_before,
            load_audit.c.schema_drift).where(load_audit.c.source == report.source,
                                             load_audit.c.run_id == report.run_id)).first()
    # A re-run of the run (a retry, a cleared task) finds in the source or drop what the
    # earlier attempt already landed and lands only what is new: the run's row describes all
    # its attempts (the most any received, what the landing zone holds for the run, the
    # watermark it started from, every drift seen), never the last attempt's alone (which
    # would say 0 for a file the first attempt landed).
    landed = len(ws.landing.landed_versions(report.source, report.run_id).drop_duplicates(
        ["_source_record_id", "_content_hash"]))
    drift = set(report.schema_drift) | set(filter(None, (earlier[2] or "").split(","))
                                           if earlier else set())
    audit = pd.DataFrame([{
        "source": report.source, "run_id": report.run_id,
        "window_start": report.window.since, "window_end": report.window.until,
        "records_received": max(report.received, earlier[0] if earlier else 0),
        "records_landed": landed,
        "records_loaded": loaded, "records_quarantined": len(report.quarantined),
        "watermark_before": earlier[1] if earlier else report.watermark_before,
        "watermark_after": report.watermark_after,
        "schema_drift": ",".join(sorted(drift)) or None,
        "started_at": started_at, "ended_at": now,
    }])
    with ws.engine.begin() as conn:
        # Re-running a run's extraction replaces its audit row and re-files the same rejects.
        upsert(conn, audit, "shared.load_audit", ["source", "run_id"])
        quarantined = _quarantine_rows(report, now)
        if not quarantined.empty:
            upsert(conn, quarantined, "shared.quarantine", ["quarantine_id"])
        if state is not None:
            state.commit(conn)


def extract(source: str, since: datetime, until: datetime, run_id: str,
            config: dict | None = None) -> dict:
    """Land one source's changes in (since, until] and audit it."""
    config = config or cfg.load_sources()
    with Workspace(config) as ws:
        started = datetime.now(UTC)
        try:
            connector = build_connector(source, config)
        except (KeyError, ValueError, TypeError) as error:  # a wrong sources file: no retry helps
            raise cfg.ConfigError(f"{source}: bad configuration: {error}") from error
        window = Window(since, until)
        state = ManifestAfterCommit(ws.state)
        report = connector.extract(window, ws.landing, state, run_id)
        record_audit(ws, report, started, state=state)
        log.info("%s: received %d, landed %d, quarantined %d, watermark %s -> %s", source,
                 report.received, report.landed, len(report.quarantined),
                 report.watermark_before, report.watermark_after)
        return {"source": source, "run_date": window.run_date.isoformat(),
                "received": report.received, "landed": report.landed,
                "quarantined": len(report.quarantined), "files": report.files,
                "schema_drift": sorted(set(report.schema_drift))}

