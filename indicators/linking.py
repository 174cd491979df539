"""Grid events linked to hotline tickets (`shared.grid_hotline_link`), for grid.hotline_linked
and for a street office to check.

An event is linked to a ticket by id (the event's `hotline_ticket_id`, or a ticket naming the
event in `related_grid_event_id`) or, where no id links it, by the pipeline's own matching:
a ticket about the same problem at the same place within the window (48 h). Candidates are
the tickets of the event's community received within the window of the event's report;
the month's events and the tickets of its window are read from the warehouse, and the
pairs are formed and scored in one vectorised pass (an in-process DuckDB): the place (same
compound and building from the parsed addresses, or coordinates within 150 m) and the
problem (characters shared by the event's category and description and the ticket's
category and title); an event takes its best ticket above `min_score`, and a ticket is
matched to at most one event (best pairs first). The score and reason are published with
every link. The month's links are rebuilt on every run, so re-running a day gives the same
links.
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

# The two sides of the candidate pairs: the month's events no id links, and the tickets
# received within the window of the month (a superset of every event's window: the bounds
# move by the same `:window`, so no pair the exact condition keeps is left out). Only these
# rows leave the warehouse; the pairs (over a hundred per event at city volume) are formed
# and scored in one in-process DuckDB pass, whichever engine the warehouse is. (NOT IN over
# the few tickets naming an event: PostgreSQL hashes them once, where NOT EXISTS on tables
# not yet analysed after a load ran as a nested loop over every ticket for every event.)
EVENTS_SQL = f"""
SELECT e.event_id, e.community_code, {epoch('e.reported_at')} AS at,
       coalesce(e.address_text, '') AS address, e.lat, e.lon,
       coalesce(e.category, '') AS category, coalesce(e.description, '') AS text
FROM shared.grid_event e
WHERE e.hotline_ticket_id IS NULL AND {epoch('e.reported_at')} >= :e0
  AND {epoch('e.reported_at')} < :e1
  AND e.event_id NOT IN (SELECT r.related_grid_event_id FROM shared.hotline_ticket r
                         WHERE r.related_grid_event_id IS NOT NULL)"""

TICKETS_SQL = f"""
SELECT t.ticket_id, t.community_code, {epoch('t.received_at')} AS at,
       coalesce(t.address_text, '') AS address, t.lat, t.lon,
       coalesce(t.category, '') AS category, coalesce(t.title, '') AS text
FROM shared.hotline_ticket t
WHERE t.community_code IS NOT NULL AND {epoch('t.received_at')} >= :e0 - :window
  AND {epoch('t.received_at')} <= :e1 + :window"""


def _places(addresses: pd.Series, divisions: pd.DataFrame) -> pd.DataFrame:
    """Compound and building of each address; each distinct text is parsed once (a
    compound's events and tickets repeat its few addresses)."""
    distinct = pd.Series(addresses.unique(), dtype="object")
    parsed = parse_address(distinct, divisions)
    compound = pd.Series(parsed["compound"].astype("str").to_numpy(), index=distinct)
    building = pd.Series(parsed["building"].astype("Int64").astype("str").to_numpy(),
                         index=distinct)
    return pd.DataFrame({"compound": addresses.map(compound),
                         "building": addresses.map(building)}, index=addresses.index)


# Same place: the same compound (and building, where both name one), else coordinates within
# 150 m. Same problem: the Dice coefficient of the two texts' sets of Chinese characters
# (Chinese has no spaces to split words on; a short text sharing one character with a long
# one scores low), where each side's text is its
# category's last level and its own short text (event description, ticket title) without
# the place (the address, the compound's name, building numbers), which both sides share
# anyway and which says nothing of the problem. A side's characters depend on that side
# alone, so they are found once per event and per ticket, not once per pair.
PROBLEM_SQL = r"""
SELECT *, list_distinct(string_split(regexp_replace(replace(replace(
    string_split(category, '/')[-1] || text, address, ''), coalesce(compound, chr(1)), ''),
    '[0-9０-９]+号楼|[^\p{Han}]', '', 'g'), '')) AS chars
FROM side_rows"""

# A pair's problem similarity is at most 1, so a pair whose place alone cannot reach
# `min_score` with it (a different compound far away: most pairs) is dropped before its
# characters are compared; the bound is the very sum the score is, with 1 for the problem
# (rounding is monotonic), so no pair that would score enough is lost.
PLACED_SQL = """
CREATE TEMP TABLE placed AS
SELECT * FROM (
  SELECT e.event_id, t.ticket_id, e.community_code, (e.at - t.at) / 3600.0 AS hours_apart,
    CASE WHEN e.compound IS NOT NULL AND e.compound = t.compound
         THEN CASE WHEN e.building IS NULL OR t.building IS NULL OR e.building = t.building
                   THEN CAST(1.0 AS DOUBLE) ELSE CAST(0.7 AS DOUBLE) END
         WHEN 111320 * sqrt(power(e.lat - t.lat, 2)
                + power((e.lon - t.lon) * cos(radians(e.lat)), 2)) <= 150
         THEN CAST(0.9 AS DOUBLE) ELSE CAST(0.0 AS DOUBLE) END AS place,
    e.chars AS ec, t.chars AS tc
  FROM events e JOIN tickets t ON t.community_code = e.community_code
   AND t.at >= e.at - $window AND t.at <= e.at + $window) candidates
WHERE $address_weight * place + $problem_weight * CAST(1.0 AS DOUBLE) >= $min_score"""

# (a statement of its own: in one query the engine tests the whole filter on every pair)
SCORED_SQL = """
SELECT event_id, ticket_id, community_code, hours_apart, score FROM (
  SELECT *, $address_weight * place + $problem_weight * CAST(
           CASE WHEN len(ec) + len(tc) = 0 THEN 0.0
                ELSE 2.0 * len(list_intersect(ec, tc)) / (len(ec) + len(tc)) END
           AS DOUBLE) AS score
  FROM placed) scored
WHERE score >= $min_score"""


def scored_pairs(events: pd.DataFrame, tickets: pd.DataFrame, divisions: pd.DataFrame,
                 settings: IndicatorSettings) -> pd.DataFrame:
    """The candidate pairs of `events` and `tickets` (EVENTS_SQL's and TICKETS_SQL's
    columns) that score at least `min_score`: event_id, ticket_id, community_code,
    hours_apart and score, the place and problem similarities weighted."""
    weight = settings.linking.address_weight
    if events.empty or tickets.empty:
        return pd.DataFrame(columns=["event_id", "ticket_id", "community_code", "hours_apart",
                                     "score"])
    with duckdb.connect() as db:
        for side, frame in (("events", events), ("tickets", tickets)):
            db.register("side_rows", frame.assign(**_places(frame["address"], divisions)))
            db.execute(f"CREATE TEMP TABLE {side} AS {PROBLEM_SQL}")
            db.unregister("side_rows")
        weights = {"address_weight": weight, "problem_weight": 1 - weight,
                   "min_score": settings.linking.min_score}
        db.execute(PLACED_SQL, {**weights, "window": settings.linking.window_hours * 3600.0})
        return db.execute(SCORED_SQL, weights).df()


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
    bounds = {"e0": month.starts_at.timestamp(), "e1": month.ends_at.timestamp()}
    conn.execute(sa.text(
        "DELETE FROM shared.grid_hotline_link WHERE event_id IN (SELECT e.event_id FROM "
        f"shared.grid_event e WHERE {epoch('e.reported_at')} >= :e0 AND "
        f"{epoch('e.reported_at')} < :e1)"), bounds)
    by_id = read_frame(conn, ID_LINKS_SQL, bounds).drop_duplicates(["event_id", "ticket_id"])
    events = read_frame(conn, EVENTS_SQL, bounds)
    tickets = read_frame(conn, TICKETS_SQL,
                         {**bounds, "window": settings.linking.window_hours * 3600.0})
    pairs = scored_pairs(events, tickets, divisions, settings)
    matched = best_matches(pairs, settings.linking.min_score).assign(match_reason=MATCH_REASON)
    columns = ["event_id", "ticket_id", "match_reason", "score", "hours_apart", "community_code"]
    links = pd.concat([by_id[columns], matched[columns]], ignore_index=True)
    links = links.assign(run_id=run_id, linked_at=now)
    bulk_insert(conn, links, "shared.grid_hotline_link")
    counts = links["match_reason"].value_counts().to_dict()
    return {reason: int(counts.get(reason, 0))
            for reason in (ID_REASON, RELATED_REASON, MATCH_REASON)}

