"""How fresh each source is: the `shared.source_freshness` view (pipeline.freshness holds it
against the configured limits).

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


def create_freshness_view(bind: sa.Engine | sa.Connection) -> None:
    if isinstance(bind, sa.Engine):
        with bind.begin() as conn:
            conn.execute(sa.text(FRESHNESS_VIEW))
    else:
        bind.execute(sa.text(FRESHNESS_VIEW))


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
