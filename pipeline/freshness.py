"""The check the daily DAG runs after loading: it fails loudly when a source is staler than its
configured limit (`shared.source_freshness` says how fresh each one is)."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from common import sources
from warehouse.freshness import source_freshness

log = logging.getLogger(__name__)


class StaleSourceError(RuntimeError):
    """One or more sources are staler than their configured `freshness_hours`."""


def freshness_limits(config: dict) -> dict[str, float]:
    """`freshness_hours` of every source that sets one: on its entry or section of the
    sources file, or in a top-level `freshness_hours: {source: hours}`."""
    limits = {source.name: source.freshness_hours for source in sources.configured_sources(config)
              if source.freshness_hours is not None}
    limits.update({k: float(v) for k, v in (config.get("freshness_hours") or {}).items()})
    return limits


def check_freshness(config: dict, now: datetime | None = None,
                    engine: sa.Engine | None = None) -> list[dict]:
    """Compare every source that has a `freshness_hours` limit with the view; raise
    `StaleSourceError` naming each source that is staler than its limit or has never
    loaded. Returns one summary per checked source."""
    from warehouse.migrate import open_warehouse

    if engine is None:
        engine = open_warehouse(config.get("warehouse_url"))
    limits = freshness_limits(config)
    seen = source_freshness(engine, now)
    checked, stale = [], []
    for source, limit in sorted(limits.items()):
        hours = seen[source]["hours_since"] if source in seen else None
        checked.append({"source": source, "limit_hours": limit, "hours_since": hours})
        if hours is None:
            stale.append(f"{source}: nothing loaded yet (limit {limit:g} h)")
        elif hours > limit:
            stale.append(f"{source}: newest change {hours:.1f} h ago (limit {limit:g} h)")
    for item in checked:
        log.info("freshness %s: %s h (limit %s h)", item["source"], item["hours_since"],
                 item["limit_hours"])
    if stale:
        raise StaleSourceError("stale sources: " + "; ".join(stale))
    return checked
