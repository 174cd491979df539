"""Grid events linked to hotline tickets (`shared.grid_hotline_link`), for grid.hotline_linked
and for a street office to check.

An event is linked to a ticket by id (the event's `hotline_ticket_id`, or a ticket naming the
event in `related_grid_event_id`) or, where no id links it, by the pipeline's own matching:
a ticket about the same problem at the same place within the window (48 h). Candidates are
the tickets of the event's community received within the window of the event's report
(found in the warehouse); each pair is scored in one vectorised pass (an in-process DuckDB
over the candidate pairs): the place (same compound and building from the parsed addresses,
or coordinates within 150 m) and the problem (characters shared by the event's category and
description and the ticket's category and title); an event takes its best ticket above `min_score`, and a ticket is matched to at
most one event (best pairs first). The score and reason are published with every link.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import sqlalchemy as sa

from common.settings import IndicatorSettings
from indicators.periods import Period
from indicators.sql import epoch
from transforms.address import parse_address
from warehouse.engine import bulk_insert, read_frame

ID_REASON = "hotline_ticket_id"
RELATED_REASON = "related_grid_event_id"
MATCH_REASON = "same_problem"

HOURS_APART = f"({epoch('e.reported_at')} - {epoch('t.received_at')}) / 3600.0"

ID_LINKS_SQL = f"""
SELECT e.event_id, e.hotline_ticket_id AS ticket_id, '{ID_REASON}' AS match_reason,
       1.0 AS score, {HOURS_APART} AS hours_apart, e.community_code
FROM shared.grid_event e LEFT JOIN shared.hotline_ticket t ON t.ticket_id = e.hotline_ticket_id
WHERE e.hotline_ticket_id IS NOT NULL AND {epoch('e.reported_at')} >= :e0
  AND {epoch('e.reported_at')} < :e1
UNION ALL
SELECT e.event_id, t.ticket_id, '{RELATED_REASON}', 1.0, {HOURS_APART}, e.community_code
FROM shared.hotline_ticket t JOIN shared.grid_event e ON e.event_id = t.related_grid_event_id
WHERE t.ticket_id IS DISTINCT FROM e.hotline_ticket_id AND {epoch('e.reported_at')} >= :e0
  AND {epoch('e.reported_at')} < :e1"""

CANDIDATES_SQL = f"""
SELECT e.event_id, t.ticket_id, e.community_code, {HOURS_APART} AS hours_apart,
       coalesce(e.address_text, '') AS event_address, coalesce(t.address_text, '') AS ticket_address,
       e.lat AS event_lat, e.lon AS event_lon, t.lat AS ticket_lat, t.lon AS ticket_lon,
       coalesce(e.category, '') AS event_category, coalesce(e.description, '') AS event_text,
       coalesce(t.category, '') AS ticket_category, coalesce(t.title, '') AS ticket_text
FROM shared.grid_event e
JOIN shared.hotline_ticket t ON t.community_code = e.community_code
 AND {epoch('t.received_at')} >= {epoch('e.reported_at')} - :window
 AND {epoch('t.received_at')} <= {epoch('e.reported_at')} + :window
WHERE e.hotline_ticket_id IS NULL AND {epoch('e.reported_at')} >= :e0
  AND {epoch('e.reported_at')} < :e1
  AND NOT EXISTS (SELECT 1 FROM shared.hotline_ticket r WHERE r.related_grid_event_id = e.event_id)"""


def _places(addresses: pd.Series, divisions: pd.DataFrame) -> pd.DataFrame:
    parsed = parse_address(addresses.fillna(""), divisions)
    return pd.DataFrame({"compound": parsed["compound"].astype("str"),
                         "building": parsed["building"].astype("Int64").astype("str")},
                        index=addresses.index)


# Same place: the same compound (and building, where both name one), else coordinates within
# 150 m. Same problem: the Dice coefficient of the two texts' sets of Chinese characters
# (Chinese has no spaces to split words on; a short text sharing one character with a long
# one scores low), where each side's text is its
# category's last level and its own short text (event description, ticket title) without
# the place (the address, the compound's name, building numbers), which both sides share
# anyway and which says nothing of the problem.
SCORE_SQL = r"""
WITH t AS (
  SELECT *,
    111320 * sqrt(power(event_lat - ticket_lat, 2)
         + power((event_lon - ticket_lon) * cos(radians(event_lat)), 2)) AS metres,
    regexp_replace(replace(replace(string_split(event_category, '/')[-1] || event_text,
        event_address, ''), coalesce(event_compound, chr(1)), ''),
        '[0-9０-９]+号楼|[^\p{Han}]', '', 'g') AS event_problem,
    regexp_replace(replace(replace(string_split(ticket_category, '/')[-1] || ticket_text,
        ticket_address, ''), coalesce(ticket_compound, chr(1)), ''),
        '[0-9０-９]+号楼|[^\p{Han}]', '', 'g') AS ticket_problem
  FROM pairs),
p AS (
  SELECT *, list_distinct(string_split(event_problem, '')) AS ec,
         list_distinct(string_split(ticket_problem, '')) AS tc FROM t)
SELECT CASE WHEN event_compound IS NOT NULL AND event_compound = ticket_compound
             THEN CASE WHEN event_building IS NULL OR ticket_building IS NULL
                         OR event_building = ticket_building THEN 1.0 ELSE 0.7 END
            WHEN metres <= 150 THEN 0.9 ELSE 0.0 END AS place,
       CASE WHEN len(ec) + len(tc) = 0 THEN 0.0
            ELSE 2.0 * len(list_intersect(ec, tc)) / (len(ec) + len(tc)) END AS problem
FROM p"""


def score_pairs(pairs: pd.DataFrame, divisions: pd.DataFrame, address_weight: float
                ) -> pd.Series:
    """The similarity of each candidate pair in [0, 1]: place and problem, weighted."""
    if pairs.empty:
        return pd.Series([], dtype="float64")
    frame = pairs.copy()
    for side in ("event", "ticket"):
        places = _places(frame[f"{side}_address"], divisions)
        frame[f"{side}_compound"] = places["compound"]
        frame[f"{side}_building"] = places["building"]
    with duckdb.connect() as db:
        db.register("pairs", frame)
        parts = db.execute(SCORE_SQL).df()
    score = address_weight * parts["place"] + (1 - address_weight) * parts["problem"]
    return pd.Series(score.to_numpy(), index=pairs.index)


def best_matches(pairs: pd.DataFrame, min_score: float) -> pd.DataFrame:
    """One ticket per event and one event per ticket, best scores first (ties: the closer in
    time, then the ids, so the choice is stable)."""
    kept = pairs[pairs["score"] >= min_score]
    kept = kept.assign(gap=kept["hours_apart"].abs())
    kept = kept.sort_values(["score", "gap", "event_id", "ticket_id"],
                            ascending=[False, True, True, True])
    kept = kept.drop_duplicates("event_id").drop_duplicates("ticket_id")
    return kept.drop(columns="gap")


def link_events(conn: sa.Connection, settings: IndicatorSettings, divisions: pd.DataFrame,
                month: Period, run_id: str, now: datetime) -> dict:
    """Rebuild the links of the events reported in the month to date. Returns links per
    reason."""
    window = settings.linking.window_hours * 3600.0
    params = {"e0": month.starts_at.timestamp(), "e1": month.ends_at.timestamp(),
              "window": window}
    conn.execute(sa.text(
        "DELETE FROM shared.grid_hotline_link WHERE event_id IN (SELECT e.event_id FROM "
        f"shared.grid_event e WHERE {epoch('e.reported_at')} >= :e0 AND "
        f"{epoch('e.reported_at')} < :e1)"), {"e0": params["e0"], "e1": params["e1"]})
    by_id = read_frame(conn, ID_LINKS_SQL, {"e0": params["e0"], "e1": params["e1"]}).drop_duplicates(["event_id", "ticket_id"])
    pairs = read_frame(conn, CANDIDATES_SQL, params)
    pairs["score"] = score_pairs(pairs, divisions, settings.linking.address_weight)
    matched = best_matches(pairs, settings.linking.min_score).assign(match_reason=MATCH_REASON)
    columns = ["event_id", "ticket_id", "match_reason", "score", "hours_apart", "community_code"]
    links = pd.concat([by_id[columns], matched[columns]], ignore_index=True)
    links = links.assign(run_id=run_id, linked_at=now)
    bulk_insert(conn, links, "shared.grid_hotline_link")
    counts = links["match_reason"].value_counts().to_dict()
    return {reason: int(counts.get(reason, 0))
            for reason in (ID_REASON, RELATED_REASON, MATCH_REASON)}

