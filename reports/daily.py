"""The daily report as a task: the configured warehouse, reference data, freshness limits and
recipients (the sources file's `reports` section), for any day. The indicators DAG, the
`govshare report` command and the demo call these."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from common.reference import load_reference
from pipeline import config as cfg
from pipeline.freshness import freshness_limits
from reports.build import BuiltReport, build_report
from reports.delivery import Outcome, deliver, load_recipients, raise_for_failures


def _section(config: dict) -> dict:
    return config.get("reports") or {}


def out_dir(config: dict) -> Path:
    return Path(_section(config).get("out") or cfg.home() / "reports")


def recipients_path(config: dict) -> Path | None:
    path = _section(config).get("recipients") or os.environ.get("GOVSHARE_RECIPIENTS")
    return Path(path) if path else None


def build_day(day: date, division: str | None = None, out: Path | None = None,
              config: dict | None = None, pdf: bool = True) -> BuiltReport:
    """Build `day`'s report and feeds for `division` (default: the city) from the configured
    warehouse into `out` (default: the `reports.out` folder, one folder per day)."""
    from warehouse.migrate import open_warehouse

    config = config if config is not None else cfg.load_sources(require_env=False)
    engine = open_warehouse(config.get("warehouse_url"))
    try:
        return build_report(engine, load_reference(config=config), day,
                            Path(out) if out else out_dir(config) / day.isoformat(),
                            division, colour_by=_section(config).get(
                                "colour_by", "hotline.resolution_rate"),
                            freshness_limits=freshness_limits(config), pdf=pdf)
    finally:
        engine.dispose()


def deliver_day(day: date, run_id: str, config: dict | None = None,
                division: str | None = None) -> list[Outcome]:
    """Build each recipient's report for `day` and deliver it; every attempt is audited.
    Raises `DeliveryError` after all recipients were tried when any was not delivered; with
    no recipients file configured, delivers nothing and says so."""
    from warehouse.migrate import open_warehouse

    config = config if config is not None else cfg.load_sources(require_env=False)
    path = recipients_path(config)
    if path is None:
        raise cfg.ConfigError("no recipients file: set reports.recipients in the sources "
                              "file or GOVSHARE_RECIPIENTS (config/recipients.example.yaml)")
    settings = load_recipients(path)
    engine = open_warehouse(config.get("warehouse_url"))
    try:
        outcomes = deliver(engine, settings, day, run_id,
                           lambda code: build_day(day, code, config=config),
                           only_division=division)
    finally:
        engine.dispose()
    raise_for_failures(outcomes)
    return outcomes
