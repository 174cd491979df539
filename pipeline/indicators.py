"""The indicators task: every indicator of one day and its month to date (indicators.compute),
with the settings of config/indicators.yaml (or the sources file's `indicators_settings`)."""

from __future__ import annotations

import datetime
import logging

import sqlalchemy as sa

log = logging.getLogger(__name__)


def compute_for_day(settings: dict, day: datetime.date, run_id: str | None = None,
                    engine: sa.Engine | None = None) -> dict:
    """Compute and merge every indicator of `day` (a local calendar day) and its month to
    date into shared.indicator_value; re-runnable for any past day (a changed value is
    revised, an unchanged one left alone). `settings` is the sources configuration the other
    tasks receive. Returns rows per indicator and period kind, rows written and revised, and
    the grid-hotline links per reason."""
    return compute_for_days(settings, [day], run_id, engine) | {"day": day.isoformat()}


def compute_for_days(settings: dict, days: list[datetime.date], run_id: str | None = None,
                     engine: sa.Engine | None = None) -> dict:
    """compute_for_day for several days in one run (a month's links, department records and
    month to date once): what `govshare indicators compute --through` and a re-run of a past
    month call."""
    from common.reference import load_reference
    from indicators.compute import compute_days
    from indicators.settings import settings_for
    from warehouse.migrate import open_warehouse

    if engine is None:
        engine = open_warehouse(settings.get("warehouse_url"))
    reference = load_reference(config=settings)
    run_id = run_id or f"indicators-{min(days).isoformat()}-" \
        f"{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%S%f}"
    return compute_days(engine, settings_for(settings), reference.divisions, reference.grids,
                        days, run_id)
