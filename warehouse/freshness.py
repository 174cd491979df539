"""How fresh each source is: the `shared.source_freshness` view and the check the daily DAG
runs after loading, which fails loudly when a source is staler than its configured limit.

A source's newest change is the latest change time (`updated_at` as the source sent it) of
any version staged from it; sources without change times (rosters) count from when their
newest version landed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

log = logging.getLogger(__name__)

# Change times are ISO 8601 text as sent; anything else (a source without them) is skipped.
_CHANGE_TIME = ("CASE WHEN record_updated_at LIKE '____-__-__%' "
                "THEN CAST(record_updated_at AS TIMESTAMP WITH TIME ZONE) END")

FRESHNESS_VIEW = f"""
CREATE OR REPLACE VIEW shared.source_freshness AS
SELECT source,
       max({_CHANGE_TIME}) AS newest_change,
       max(landed_at) AS last_landed_at,
       count(*) AS versions,
       date_part('epoch', now() - coalesce(max({_CHANGE_TIME}), max(landed_at))) / 3600.0
           AS hours_since
FROM staging.record_version
GROUP BY source
"""


class StaleSourceError(RuntimeError):
    """One or more sources are staler than their configured `freshness_hours`."""


def create_freshness_view(bind: sa.Engine | sa.Connection) -> None:
    if isinstance(bind, sa.Engine):
        with bind.begin() as conn:
            conn.execute(sa.text(FRESHNESS_VIEW))
    else:
        bind.execute(sa.text(FRESHNESS_VIEW))


def freshness_limits(config: dict) -> dict[str, float]:
    """`freshness_hours` of every source that sets one: on a department table entry, on the
    hotline/grid/rosters sections, or in a top-level `freshness_hours: {source: hours}`."""
    from govshare.pipeline import GRID_SOURCE, HOTLINE_SOURCE, ROSTER_SOURCE

    limits = {}
    for table in config.get("departments", []):
        if table.get("freshness_hours") is not None:
            limits[table["table"]] = float(table["freshness_hours"])
    for section, source in (("hotline", HOTLINE_SOURCE), ("grid", GRID_SOURCE),
                            ("rosters", ROSTER_SOURCE)):
        hours = (config.get(section) or {}).get("freshness_hours")
        if hours is not None:
            if section == "hotline" and config["hotline"].get("dialect") == "open311":
                source = "open311.requests"
            limits[source] = float(hours)
    limits.update({k: float(v) for k, v in (config.get("freshness_hours") or {}).items()})
    return limits


def source_freshness(engine: sa.Engine, now: datetime | None = None) -> dict[str, dict]:
    """{source: {newest_change, last_landed_at, versions, hours_since}} from the view; hours
    are counted up to `now` (default: the current time)."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT source, newest_change, last_landed_at, versions "
            "FROM shared.source_freshness")).mappings().all()
    result = {}
    for row in rows:
        newest = row["newest_change"] or row["last_landed_at"]
        result[row["source"]] = {**row, "hours_since": (now - newest).total_seconds() / 3600}
    return result


def check_freshness(config: dict, now: datetime | None = None,
                    engine: sa.Engine | None = None) -> list[dict]:
    """Compare every source that has a `freshness_hours` limit with the view; raise
    `StaleSourceError` naming each source that is staler than its limit or has never
    loaded. Returns one summary per checked source."""
    from warehouse.engine import create_warehouse_engine
    from warehouse.schema import create_all

    if engine is None:
        engine = create_warehouse_engine(config.get("warehouse_url"))
        create_all(engine)
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
