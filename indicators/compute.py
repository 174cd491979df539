"""All 23 indicators of docs/spec/indicators.md for one day and its month to date, in SQL
that runs on DuckDB and PostgreSQL alike.

Each indicator is one query over its *items* (a ticket, a dispatch, a callback, an event, a
roster row, a register record ...): the item's lowest known division, its numerator
contribution `num`, a value `x` for medians and a person or unit key `pid` for distinct
counts. The items are placed in their community, street, district and the city at once
(joined to the division table and crossed with the four levels), then aggregated per
division: a street's value comes from the street's own items, never from its communities'
values. Every division gets a row: counts of nothing are 0, rates of nothing are null.

What does not change from one period to the next is done once per run: the latest
department records, the staged versions' change times, the indicators whose items do not
read the period (copied to every period), and the members and units of the cumulative
department indicators with the first day each counts from.

The results of both periods are merged into `shared.indicator_value` in one transaction:
new keys are inserted, changed values replace the old ones (which go to
`shared.indicator_value_history`, and the row is marked `revised`), unchanged values are
left alone, so computing the same input twice changes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from common.settings import IndicatorSettings
from common.sources import HOTLINE, PARTY_MEMBERS, RESIDENTS, ROSTERS, UNIT_REPORTS
from indicators.periods import Period, periods_of
from indicators.sql import (
    change_parts,
    create_temp,
    division_frame,
    epoch,
    json_text,
    local_shifted,
    median,
)
from transforms.resolution.mentions import GRID_PERSONS, latest_sql

log = logging.getLogger(__name__)

RESULT_COLUMNS = {"indicator_code": "VARCHAR", "period_kind": "VARCHAR", "period_start": "DATE",
                  "period_end": "DATE", "division_code": "VARCHAR", "dimension": "VARCHAR", "value": "FLOAT8",
                  "numerator": "FLOAT8", "denominator": "FLOAT8"}
DIVISION_COLUMNS = {"code": "VARCHAR", "level": "VARCHAR", "street_code": "VARCHAR",
                    "district_code": "VARCHAR"}
GRID_COLUMNS = {"grid_code": "VARCHAR", "community_code": "VARCHAR",
                "grid_worker_staff_no": "VARCHAR"}

# The denominator of workers.per_10k_residents, computed like an indicator, not published.
REGISTERED = "registered_residents"
DISPATCHED = ("EXISTS (SELECT 1 FROM shared.hotline_dispatch d WHERE d.ticket_id = t.ticket_id "
              "AND d.mode IN ('派单', '直派'))")
TICKET_DIVISION = "coalesce(t.community_code, t.street_code, t.district_code)"
EVENT_DIVISION = "coalesce(e.community_code, e.street_code, e.district_code)"


def _in(column: str, start: str = ":t0", end: str = ":t1") -> str:
    """`column`'s instant lies in [start, end) (bounds as epoch seconds)."""
    return f"{epoch(column)} >= {start} AND {epoch(column)} < {end}"


def _limit(column: str, urgent: str, normal: str) -> str:
    return f"CASE WHEN {column} = '紧急' THEN {urgent} ELSE {normal} END"


@dataclass(frozen=True)
class Indicator:
    """One code: how its items aggregate (`mode`), the items' SQL, and whether it is
    published for the city only."""

    code: str
    mode: str  # count | rate | distinct_count | distinct_rate | median
    items: str
    city_only: bool = False
    # Distinct modes only: the items do not read the period but carry `since`, the day
    # (YYYY-MM-DD text, '' for always) from which an item with num > 0 counts; a period
    # counts the persons or units with such an item on or before its last day. The items
    # are placed once per run, not once per period.
    cumulative: bool = False


def _hotline() -> list[Indicator]:
    contact = _limit("t.urgency", ":contact_urgent", ":contact_normal")
    deadline = f"({epoch('t.received_at')} + {_limit('t.urgency', ':resolve_urgent', ':resolve_normal')})"
    reached = f"t.callback_reached AND {_in('t.callback_called_at')}"
    return [
        Indicator("hotline.received", "count",
                  f"SELECT {TICKET_DIVISION} AS division, 1 AS num FROM shared.hotline_ticket t "
                  f"WHERE {_in('t.received_at')}"),
        Indicator("hotline.response_rate", "rate",
                  f"SELECT {TICKET_DIVISION} AS division, CASE WHEN t.first_contact_at IS NOT "
                  f"NULL AND {epoch('t.first_contact_at')} - {epoch('t.received_at')} <= "
                  f"{contact} THEN 1 ELSE 0 END AS num FROM shared.hotline_ticket t "
                  f"WHERE {_in('t.received_at')} AND {DISPATCHED}"),
        Indicator("hotline.resolution_rate", "rate",
                  f"SELECT {TICKET_DIVISION} AS division, CASE WHEN t.callback_resolved = "
                  f"'已解决' THEN 1 ELSE 0 END AS num FROM shared.hotline_ticket t "
                  f"WHERE {reached}"),
        # Scores weigh counts of each answer, so the sum does not depend on the order the
        # engine adds in (a recomputation gives the very same numerator).
        Indicator("hotline.satisfaction_rate", "rate",
                  f"SELECT {TICKET_DIVISION} AS division, CASE t.callback_satisfaction "
                  f"WHEN '满意' THEN 0 WHEN '基本满意' THEN 1 WHEN '不满意' THEN 2 ELSE 3 END "
                  f"AS num FROM shared.hotline_ticket t WHERE {reached}"),
        Indicator("hotline.ontime_resolution_rate", "rate",
                  f"SELECT {TICKET_DIVISION} AS division, CASE WHEN t.resolved_at IS NOT NULL "
                  f"AND {epoch('t.resolved_at')} <= {deadline} THEN 1 ELSE 0 END AS num "
                  f"FROM shared.hotline_ticket t WHERE t.received_at IS NOT NULL AND "
                  f"{deadline} >= :t0 AND {deadline} < :t1 AND {DISPATCHED}"),
        Indicator("hotline.return_rate", "rate",
                  f"SELECT {TICKET_DIVISION} AS division, CASE WHEN d.returned_at IS NOT NULL "
                  f"THEN 1 ELSE 0 END AS num FROM shared.hotline_dispatch d JOIN "
                  f"shared.hotline_ticket t ON t.ticket_id = d.ticket_id "
                  f"WHERE d.mode IN ('派单', '直派') AND {_in('d.dispatched_at')}"),
        Indicator("hotline.whistle_report_rate", "rate",
                  f"SELECT {TICKET_DIVISION} AS division, CASE WHEN s.reported_at IS NOT NULL "
                  f"AND {epoch('s.reported_at')} <= {epoch('t.whistle_blown_at')} + "
                  f":whistle_limit THEN 1 ELSE 0 END AS num FROM shared.hotline_whistle_summons "
                  f"s JOIN shared.hotline_ticket t ON t.ticket_id = s.ticket_id "
                  f"WHERE {_in('t.whistle_blown_at')}"),
        # A resolved resident's tickets in the 30 days ending on the period's last day; the
        # resident is placed where their latest ticket of those days is.
        Indicator("hotline.repeat_callers", "count",
                  f"SELECT division, 1 AS num FROM (SELECT {TICKET_DIVISION} AS division, "
                  f"count(*) OVER (PARTITION BY t.resident_id) AS tickets, row_number() OVER "
                  f"(PARTITION BY t.resident_id ORDER BY t.received_at DESC, t.ticket_id DESC) "
                  f"AS newest FROM shared.hotline_ticket t WHERE t.resident_id IS NOT NULL AND "
                  f"{_in('t.received_at', ':repeat_t0')}) AS callers "
                  f"WHERE newest = 1 AND tickets >= :repeat_min"),
    ]


def _grid() -> list[Indicator]:
    return [
        Indicator("grid.events", "count",
                  f"SELECT {EVENT_DIVISION} AS division, 1 AS num FROM shared.grid_event e "
                  f"WHERE {_in('e.reported_at')}"),
        Indicator("grid.ontime_close_rate", "rate",
                  f"SELECT {EVENT_DIVISION} AS division, CASE WHEN e.closed_at IS NOT NULL AND "
                  f"e.closed_at <= e.deadline_at THEN 1 ELSE 0 END AS num FROM shared.grid_event "
                  f"e WHERE {_in('e.deadline_at')}"),
        Indicator("grid.median_close_hours", "median",
                  f"SELECT {EVENT_DIVISION} AS division, ({epoch('e.closed_at')} - "
                  f"{epoch('e.reported_at')}) / 3600.0 AS x FROM shared.grid_event e "
                  f"WHERE {_in('e.closed_at')} AND e.reported_at IS NOT NULL"),
        Indicator("grid.hotline_linked", "count",
                  f"SELECT {EVENT_DIVISION} AS division, 1 AS num FROM shared.grid_event e "
                  f"WHERE {_in('e.reported_at')} AND EXISTS (SELECT 1 FROM "
                  f"shared.grid_hotline_link k WHERE k.event_id = e.event_id)"),
    ]


# The street's latest roster on or before the period's last day (the table keeps each
# street's newest roster, which replaces the earlier ones; corrected files replace theirs).
ROSTER = "shared.community_worker w WHERE w.roster_month <= :month"
WORKER = "coalesce(w.resident_id, 'row:' || w.source_record_id)"


def _workers() -> list[Indicator]:
    organizers = (
        "FROM _ind_division c JOIN (SELECT DISTINCT w.street_code FROM " + ROSTER + ") s "
        "ON s.street_code = c.street_code LEFT JOIN (SELECT w.community_code, "
        f"count(DISTINCT {WORKER}) AS n FROM {ROSTER} AND w.post = '党建组织员' "
        "GROUP BY w.community_code) o ON o.community_code = c.code WHERE c.level = 'community'")
    return [
        Indicator("workers.count", "distinct_count",
                  f"SELECT coalesce(w.community_code, w.street_code) AS division, {WORKER} AS pid "
                  f"FROM {ROSTER}"),
        # Community service centres of the streets that have a roster (a street without one
        # has not told us anything yet).
        Indicator("workers.organizer_shortfall", "count",
                  "SELECT c.code AS division, CASE WHEN coalesce(o.n, 0) < :organizers "
                  f"THEN 1 ELSE 0 END AS num {organizers}"),
        Indicator("workers.organizers_missing", "count",
                  "SELECT c.code AS division, GREATEST(0, :organizers - coalesce(o.n, 0)) "
                  f"AS num {organizers}"),
        Indicator("workers.grid_coverage", "rate",
                  "SELECT g.community_code AS division, CASE WHEN EXISTS (SELECT 1 FROM "
                  f"{ROSTER} AND w.staff_no = g.grid_worker_staff_no) THEN 1 ELSE 0 END AS num "
                  "FROM _ind_grid g"),
    ]


# The department records the indicators read: the latest staged version of each record with
# the fields they need pulled out of its JSON, materialised once per run (every period's
# queries read them, and finding the latest version is the costly part).
DEPARTMENT_TABLES = {
    "_ind_register": (RESIDENTS, ("status", "community_code")),
    "_ind_members": (PARTY_MEMBERS, ("in_service", "residence_community_code",
                                     "reported_to_community", "reported_on")),
    "_ind_reports": (UNIT_REPORTS, ("community_code", "reported_on", "list_type", "status")),
}


def _materialise_departments(conn: sa.Connection, until: datetime) -> None:
    for table, (source, fields) in DEPARTMENT_TABLES.items():
        pulled = ", ".join(json_text(conn, "v.record", f) for f in fields)
        create_temp(conn, table, {c: "VARCHAR" for c in ("source", "source_record_id",
                                                         *fields)})
        # (INSERT ... SELECT: PostgreSQL takes no bound parameters in CREATE TABLE AS.)
        conn.execute(sa.text(f"INSERT INTO {table} SELECT v.source, v.source_record_id, "
                             f"{pulled} FROM ({latest_sql([source])}) v"), {"until": until})


def _departments() -> list[Indicator]:
    residents, members, reports = DEPARTMENT_TABLES
    reported_on = "substr(r.reported_on, 1, 10) <= :last_day"
    return [
        # The denominator of workers.per_10k_residents (not published itself).
        Indicator(REGISTERED, "distinct_count",
                  f"SELECT r.community_code AS division, x.resident_id AS pid FROM {residents} r "
                  "JOIN shared.resident_xref x ON x.source = r.source AND x.source_record_id = "
                  "r.source_record_id WHERE r.status = '正常'"),
        # A member who reported to the community counts from the day reported (always
        # when the day is not known).
        Indicator("dual.member_report_rate", "distinct_rate",
                  "SELECT m.residence_community_code AS division, x.resident_id AS pid, "
                  "CASE WHEN CAST(m.reported_to_community AS FLOAT8) = 1 THEN 1 ELSE 0 END "
                  "AS num, coalesce(substr(m.reported_on, 1, 10), '') AS since "
                  f"FROM {members} m JOIN shared.resident_xref x ON x.source = m.source AND "
                  "x.source_record_id = m.source_record_id "
                  "WHERE CAST(m.in_service AS FLOAT8) = 1", cumulative=True),
        # (a report without a day never counts: its `since` is null)
        Indicator("dual.units_reported", "distinct_count",
                  f"SELECT r.community_code AS division, u.unit_id AS pid, 1 AS num, "
                  f"substr(r.reported_on, 1, 10) AS since FROM {reports} r "
                  "JOIN shared.unit_xref u ON u.source = r.source AND u.source_record_id = "
                  "r.source_record_id", cumulative=True),
        Indicator("lists.need_match_rate", "rate",
                  "SELECT r.community_code AS division, CASE WHEN r.status IN ('已对接', "
                  f"'已完成') THEN 1 ELSE 0 END AS num FROM {reports} r "
                  f"WHERE r.list_type = '需求' AND {reported_on}"),
    ]


def _sharing() -> list[Indicator]:
    # Coverage is the resolution's state when the run is made (mentions carry landing times,
    # which come after the day they belong to, so "as of the period" cannot be read back).
    sources = ", ".join(f"'{s}'" for s in (HOTLINE, GRID_PERSONS, ROSTERS, PARTY_MEMBERS))
    carried = ("m.name IS NOT NULL AND m.name <> '' AND (coalesce(m.phone, '') <> '' OR "
               "m.birth_date IS NOT NULL OR coalesce(m.id_number, '') <> '')")
    return [
        Indicator("sharing.resident_coverage", "rate",
                  "SELECT CAST(NULL AS VARCHAR) AS division, CASE WHEN EXISTS (SELECT 1 FROM "
                  f"shared.resident_xref r WHERE r.source = '{RESIDENTS}' AND r.resident_id = "
                  "x.resident_id) THEN 1 ELSE 0 END AS num FROM core.person_mention m LEFT JOIN "
                  "shared.resident_xref x ON x.source = m.source AND x.source_record_id = "
                  f"m.source_record_id WHERE m.source IN ({sources}) AND {carried}",
                  city_only=True),
    ]


def indicators() -> list[Indicator]:
    return [*_hotline(), *_grid(), *_workers(), *_departments(), *_sharing()]


AGGREGATES = {
    # (value, numerator, denominator)
    "count": ("coalesce(sum(e.num), 0)", "coalesce(sum(e.num), 0)", "NULL"),
    "rate": ("sum(e.num) * 1.0 / nullif(count(e.one), 0)", "coalesce(sum(e.num), 0)",
             "count(e.one)"),
    "distinct_count": ("count(DISTINCT e.pid)", "count(DISTINCT e.pid)", "NULL"),
    "distinct_rate": ("count(DISTINCT CASE WHEN e.num > 0 THEN e.pid END) * 1.0 / "
                      "nullif(count(DISTINCT e.pid), 0)",
                      "count(DISTINCT CASE WHEN e.num > 0 THEN e.pid END)",
                      "count(DISTINCT e.pid)"),
    "median": (median("e.x"), "NULL", "count(e.x)"),
}


def _placed_sql(items: str) -> str:
    """The CTEs `items` and `placed`: each item in its community, street, district and the
    city (`division_code`; null where it has none at that level)."""
    return f"""
WITH items AS ({items}),
placed AS (
  SELECT CASE l.lvl WHEN 1 THEN CASE WHEN a.level = 'community' THEN a.code END
                    WHEN 2 THEN a.street_code WHEN 3 THEN a.district_code
                    ELSE :city END AS division_code, i.*, 1 AS one
  FROM items i LEFT JOIN _ind_division a ON a.code = i.division
  CROSS JOIN (SELECT 1 AS lvl UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) l)"""


RESULT_INSERT = """
INSERT INTO _ind_result (indicator_code, period_kind, period_start, period_end, division_code,
                         dimension, value, numerator, denominator)"""


def _row_sql(code: str, value: str, numerator: str, denominator: str) -> str:
    """The select list of one indicator's row of a division `d` for the period."""
    return f"""
SELECT '{code}', :kind, CAST(:period_start AS DATE), CAST(:last_day AS DATE), d.code,
       CAST(NULL AS VARCHAR),
       CAST({value} AS FLOAT8), CAST({numerator} AS FLOAT8), CAST({denominator} AS FLOAT8)"""


def _aggregate_sql(indicator: Indicator) -> str:
    """INSERT of one indicator's rows for one period, every division (or the city) included."""
    value, numerator, denominator = AGGREGATES[indicator.mode]
    levels = "d.level = 'city'" if indicator.city_only else "TRUE"
    if indicator.code == "hotline.satisfaction_rate":
        # num is the answer's index (0 满意, 1 基本满意, 2 不满意, 3 none): score its counts.
        value = ("(:sat0 * sum(CASE WHEN e.num = 0 THEN 1 ELSE 0 END) + :sat1 * sum(CASE WHEN "
                 "e.num = 1 THEN 1 ELSE 0 END) + :sat2 * sum(CASE WHEN e.num = 2 THEN 1 ELSE 0 "
                 "END)) / nullif(count(e.one), 0)")
        numerator = ("coalesce(:sat0 * sum(CASE WHEN e.num = 0 THEN 1 ELSE 0 END) + :sat1 * "
                     "sum(CASE WHEN e.num = 1 THEN 1 ELSE 0 END) + :sat2 * sum(CASE WHEN "
                     "e.num = 2 THEN 1 ELSE 0 END), 0)")
    row = _row_sql(indicator.code, value, numerator, denominator)
    return f"""{RESULT_INSERT}{_placed_sql(indicator.items)}{row}
FROM _ind_division d LEFT JOIN placed e ON e.division_code = d.code
WHERE {levels}
GROUP BY d.code"""


SINCE_COLUMNS = {"indicator_code": "VARCHAR", "division_code": "VARCHAR", "pid": "VARCHAR",
                 "since": "VARCHAR"}


def _since_sql(indicator: Indicator) -> str:
    """INSERT into `_ind_since` of a cumulative indicator's persons or units per division,
    each with the first day it counts (null: never, but it is in the denominator)."""
    return f"""
INSERT INTO _ind_since (indicator_code, division_code, pid, since){_placed_sql(indicator.items)}
SELECT '{indicator.code}', e.division_code, e.pid, min(CASE WHEN e.num > 0 THEN e.since END)
FROM placed e WHERE e.division_code IS NOT NULL AND e.pid IS NOT NULL
GROUP BY e.division_code, e.pid"""


def _cumulative_sql(indicator: Indicator) -> str:
    """INSERT of a cumulative indicator's rows for one period from `_ind_since`: the same
    counts as the distinct aggregates over the items that count by the period's last day."""
    counted = "count(CASE WHEN e.since <= CAST(:last_day AS VARCHAR) THEN 1 END)"
    value, numerator, denominator = {
        "distinct_count": (counted, counted, "NULL"),
        "distinct_rate": (f"{counted} * 1.0 / nullif(count(e.pid), 0)", counted,
                          "count(e.pid)")}[indicator.mode]
    return f"""{RESULT_INSERT}{_row_sql(indicator.code, value, numerator, denominator)}
FROM _ind_division d LEFT JOIN _ind_since e
  ON e.indicator_code = '{indicator.code}' AND e.division_code = d.code
GROUP BY d.code"""


# The item columns each mode reads (besides `division`).
MODE_COLUMNS = {"count": ("num",), "rate": ("num",), "distinct_count": ("pid",),
                "distinct_rate": ("pid", "num"), "median": ("x",)}


def _normalise_items(indicator: Indicator) -> Indicator:
    """Items carry division, num, x and pid: the columns its mode does not read are null."""
    missing = [c for c in ("num", "x", "pid") if c not in MODE_COLUMNS[indicator.mode]]
    if not missing:
        return indicator
    extra = ", ".join(f"CAST(NULL AS {'VARCHAR' if c == 'pid' else 'FLOAT8'}) AS {c}"
                      for c in missing)
    items = f"SELECT s.*, {extra} FROM ({indicator.items}) s"
    return Indicator(indicator.code, indicator.mode, items, indicator.city_only)


# Every staged version's change time, parsed once per run (only the distinct ones: a load
# sends many versions with the same time); each period shifts the local ones by its offset.
CHANGES_SQL = ("INSERT INTO _ind_change SELECT DISTINCT source, {}, {} "
               "FROM staging.record_version").format(*change_parts())
CHANGE_COLUMNS = {"source": "VARCHAR", "seconds": "FLOAT8", "is_local": "BOOLEAN"}

FRESHNESS_SQL = f"""{RESULT_INSERT}
SELECT 'sharing.freshness_hours', :kind, CAST(:period_start AS DATE), CAST(:last_day AS DATE),
       :city, source,
       CAST((:t1 - max(changed)) / 3600.0 AS FLOAT8), NULL, NULL
FROM (SELECT source, {local_shifted('c.seconds', 'c.is_local')} AS changed FROM _ind_change c) v
WHERE changed < :t1
GROUP BY source"""

DERIVED_SQL = f"""{RESULT_INSERT}
SELECT 'hotline.composite_score', r.period_kind, r.period_start, r.period_end, r.division_code,
       NULL,
       100 * (:w_response * r.value + :w_resolution * s.value + :w_satisfaction * f.value),
       NULL, NULL
FROM _ind_result r
JOIN _ind_result s ON s.period_kind = r.period_kind AND s.period_start = r.period_start
 AND s.division_code = r.division_code AND s.indicator_code = 'hotline.resolution_rate'
JOIN _ind_result f ON f.period_kind = r.period_kind AND f.period_start = r.period_start
 AND f.division_code = r.division_code AND f.indicator_code = 'hotline.satisfaction_rate'
WHERE r.indicator_code = 'hotline.response_rate' AND r.period_kind = :kind
  AND r.period_start = CAST(:period_start AS DATE)
UNION ALL
SELECT 'workers.per_10k_residents', w.period_kind, w.period_start, w.period_end,
       w.division_code, NULL,
       CASE WHEN r.numerator > 0 THEN w.numerator * 10000.0 / r.numerator END,
       w.numerator, r.numerator
FROM _ind_result w
JOIN _ind_result r ON r.period_kind = w.period_kind AND r.period_start = w.period_start
 AND r.division_code = w.division_code AND r.indicator_code = '{REGISTERED}'
WHERE w.indicator_code = 'workers.count' AND w.period_kind = :kind
  AND w.period_start = CAST(:period_start AS DATE)"""

KEY = ("o.indicator_code = n.indicator_code AND o.period_kind = n.period_kind AND "
       "o.period_start = n.period_start AND o.division_code = n.division_code AND "
       "coalesce(o.dimension, '') = coalesce(n.dimension, '')")
# Doubles from an aggregate may differ in the last bits between two runs: a value "changed"
# when it moved by more than this, or became or stopped being null.
CHANGED = " OR ".join(
    f"((o.{c} IS NULL) <> (n.{c} IS NULL) OR abs(o.{c} - n.{c}) > 1e-9)"
    for c in ("value", "numerator", "denominator"))


def merge_results(conn: sa.Connection, run_id: str, now: datetime) -> tuple[int, int]:
    """Merge `_ind_result` into shared.indicator_value: (rows inserted or changed, revised).
    A value of the same period through the same last day that changed is a revision (the
    old value goes to the history); a month to date that moved on to a later day is not."""
    params = {"run_id": run_id, "now": now}
    same_end = "coalesce(o.period_end, n.period_end) >= n.period_end"
    revised = conn.execute(sa.text(
        "INSERT INTO shared.indicator_value_history (indicator_code, period_kind, period_start, "
        "period_end, division_code, dimension, value, numerator, denominator, computed_at, "
        "run_id, replaced_at, replaced_by_run) SELECT o.indicator_code, o.period_kind, "
        "o.period_start, o.period_end, o.division_code, o.dimension, o.value, o.numerator, "
        "o.denominator, o.computed_at, o.run_id, :now, :run_id "
        f"FROM shared.indicator_value o JOIN _ind_result n ON {KEY} "
        f"WHERE ({CHANGED}) AND {same_end}"), params).rowcount
    changed = conn.execute(sa.text(
        "UPDATE shared.indicator_value AS o SET value = n.value, numerator = n.numerator, "
        "denominator = n.denominator, period_end = n.period_end, computed_at = :now, "
        f"revised = CASE WHEN {same_end} THEN TRUE ELSE o.revised END, run_id = :run_id "
        f"FROM _ind_result n WHERE {KEY} AND (({CHANGED}) OR o.period_end < n.period_end)"),
        params).rowcount
    inserted = conn.execute(sa.text(
        "INSERT INTO shared.indicator_value (indicator_code, period_kind, period_start, "
        "period_end, division_code, dimension, value, numerator, denominator, computed_at, "
        "revised, run_id) SELECT n.indicator_code, n.period_kind, n.period_start, n.period_end, "
        "n.division_code, n.dimension, n.value, n.numerator, n.denominator, :now, FALSE, :run_id "
        "FROM _ind_result n WHERE NOT EXISTS (SELECT 1 FROM shared.indicator_value o WHERE "
        f"{KEY})"), params).rowcount
    return inserted + changed, revised


def _parameters(settings: IndicatorSettings, period: Period, city: str) -> dict:
    hours = 3600.0
    offset = period.ends_at.utcoffset()
    return {
        "kind": period.kind, "period_start": period.start.isoformat(), "city": city,
        "t0": period.starts_at.timestamp(), "t1": period.ends_at.timestamp(),
        "repeat_t0": period.days_ending_at_end(settings.repeat_caller_days).timestamp(),
        "repeat_min": settings.repeat_caller_min_tickets,
        "month": period.month, "last_day": period.last_day.isoformat(),
        "tz_offset": offset.total_seconds() if offset is not None else 0.0,
        "contact_urgent": settings.contact_limit.urgent_hours * hours,
        "contact_normal": settings.contact_limit.normal_hours * hours,
        "resolve_urgent": settings.resolution_limit.urgent_hours * hours,
        "resolve_normal": settings.resolution_limit.normal_hours * hours,
        "whistle_limit": settings.whistle_report_hours * hours,
        "organizers": settings.organizers_per_center,
        "sat0": settings.satisfaction_scores.satisfied,
        "sat1": settings.satisfaction_scores.basically_satisfied,
        "sat2": settings.satisfaction_scores.dissatisfied,
        "w_response": settings.composite_weights.response,
        "w_resolution": settings.composite_weights.resolution,
        "w_satisfaction": settings.composite_weights.satisfaction,
    }


def city_code(divisions: pd.DataFrame) -> str:
    cities = divisions.loc[divisions["level"] == "city", "code"].astype("str")
    if len(cities) != 1:
        raise ValueError(f"the reference names {len(cities)} cities; the feed needs exactly one")
    return cities.iloc[0]


def prepare(conn: sa.Connection, divisions: pd.DataFrame, grids: pd.DataFrame,
            now: datetime) -> None:
    """The temporary tables every indicator query joins. Department records: the newest
    version of each known `now` (a late correction of a past period revises it)."""
    _materialise_departments(conn, now)
    create_temp(conn, "_ind_change", CHANGE_COLUMNS)
    create_temp(conn, "_ind_since", SINCE_COLUMNS)
    conn.execute(sa.text(CHANGES_SQL))
    create_temp(conn, "_ind_division", DIVISION_COLUMNS, division_frame(divisions))
    create_temp(conn, "_ind_grid", GRID_COLUMNS, grids.astype("str").where(grids.notna()))
    create_temp(conn, "_ind_result", RESULT_COLUMNS)


def month_computed_through(conn: sa.Connection, day: date) -> date | None:
    """The latest day of `day`'s month computed so far (ops.indicator_run)."""
    latest = conn.execute(sa.text(
        "SELECT max(day) FROM ops.indicator_run WHERE day >= :first AND day < :next"),
        {"first": day.replace(day=1),
         "next": (day.replace(day=28) + timedelta(days=4)).replace(day=1)}).scalar()
    return date.fromisoformat(str(latest)[:10]) if latest is not None else None


# The parameters that differ from one period to the next (the rest are the settings').
PERIOD_PARAMETERS = ("t0", "t1", "repeat_t0", "month", "last_day", "tz_offset")


def reads_period(indicator: Indicator) -> bool:
    """Whether the indicator's items depend on the period (some, like the registered
    residents or the resident coverage, are the state when the run is made)."""
    return any(re.search(rf":{name}\b", indicator.items) for name in PERIOD_PARAMETERS)


COPY_SQL = f"""{RESULT_INSERT}
SELECT indicator_code, :kind, CAST(:period_start AS DATE), CAST(:last_day AS DATE),
       division_code, dimension, value, numerator, denominator
FROM _ind_result WHERE indicator_code = :code AND period_kind = :from_kind
 AND period_start = CAST(:from_start AS DATE)"""


def compute_periods(conn: sa.Connection, settings: IndicatorSettings, divisions: pd.DataFrame,
                    periods: list[Period]) -> None:
    """Every indicator of the periods into `_ind_result`. An indicator that does not read
    the period is computed for the first period only and its rows copied to the others
    (the same query over the same tables in the same transaction: the same values)."""
    city = city_code(divisions)
    first = periods[0] if periods else None
    for period in periods:
        params = _parameters(settings, period, city)
        for indicator in indicators():
            if indicator.cumulative:
                if period is first:
                    conn.execute(sa.text("DELETE FROM _ind_since WHERE indicator_code = :c"),
                                 {"c": indicator.code})
                    conn.execute(sa.text(_since_sql(indicator)), params)
                conn.execute(sa.text(_cumulative_sql(indicator)), params)
            elif period is first or reads_period(indicator):
                conn.execute(sa.text(_aggregate_sql(_normalise_items(indicator))), params)
            else:
                conn.execute(sa.text(COPY_SQL), {**params, "code": indicator.code,
                                                 "from_kind": first.kind,
                                                 "from_start": first.start.isoformat()})
        conn.execute(sa.text(FRESHNESS_SQL), params)
        conn.execute(sa.text(DERIVED_SQL), params)
    # (after every period: the later ones copy the first period's rows)
    conn.execute(sa.text("DELETE FROM _ind_result WHERE indicator_code = :c"), {"c": REGISTERED})


def result_counts(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """Rows in `_ind_result` per code and period kind."""
    counts: dict[str, dict[str, int]] = {}
    for code, kind, rows in conn.exec_driver_sql(
            "SELECT indicator_code, period_kind, count(*) FROM _ind_result "
            "GROUP BY indicator_code, period_kind ORDER BY 1, 2"):
        counts.setdefault(code, {})[kind] = int(rows)
    return counts


def compute_days(engine: sa.Engine, settings: IndicatorSettings, divisions: pd.DataFrame,
                 grids: pd.DataFrame, days: list[date], run_id: str) -> dict:
    """Links, then every indicator of each of `days` and of their months to date, merged
    into shared.indicator_value in one transaction; each day and the settings used are
    recorded in ops.indicator_run. A month's links, department records and month to date are
    computed once however many of its days are asked for. Returns rows per indicator and
    period kind, the merge's counts and the links per reason (summed over the months)."""
    from indicators.linking import link_events
    from indicators.settings import settings_hash, settings_json

    started = datetime.now(UTC)
    days = sorted(set(days))
    links: dict[str, int] = {}
    with engine.begin() as conn:
        prepare(conn, divisions, grids, started)
        for first in sorted({d.replace(day=1) for d in days}):
            in_month = [d for d in days if d.replace(day=1) == first]
            # The month to date runs through the latest day computed of that month.
            month = periods_of(in_month[-1], settings.timezone,
                               month_computed_through(conn, in_month[-1]))[1]
            for reason, n in link_events(conn, settings, divisions, month, run_id,
                                         started).items():
                links[reason] = links.get(reason, 0) + n
            compute_periods(conn, settings, divisions,
                            [periods_of(d, settings.timezone)[0] for d in in_month] + [month])
        counts = result_counts(conn)
        written, revised = merge_results(conn, run_id, started)
        conn.execute(sa.text("DELETE FROM ops.indicator_run WHERE run_id = :r"), {"r": run_id})
        ended = datetime.now(UTC)
        for day in days:
            conn.execute(sa.text(
                "INSERT INTO ops.indicator_run (run_id, day, settings_hash, settings_json, "
                "rows_written, rows_revised, started_at, ended_at) VALUES (:r, :d, :h, :j, :w, "
                ":v, :s, :e)"), {"r": run_id, "d": day, "h": settings_hash(settings),
                                 "j": settings_json(settings), "w": written, "v": revised,
                                 "s": started, "e": ended})
        for table in ("_ind_result", "_ind_division", "_ind_grid", "_ind_change",
                      "_ind_since", *DEPARTMENT_TABLES):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    log.info("indicators for %s..%s: %s rows written, %s revised, links %s", days[0], days[-1],
             written, revised, links)
    return {"days": [d.isoformat() for d in days], "indicators": counts,
            "rows_written": written, "rows_revised": revised, "links": links,
            "settings_hash": settings_hash(settings)}


def compute_day(engine: sa.Engine, settings: IndicatorSettings, divisions: pd.DataFrame,
                grids: pd.DataFrame, day: date, run_id: str) -> dict:
    """`compute_days` of one day (its summary also names the day)."""
    summary = compute_days(engine, settings, divisions, grids, [day], run_id)
    return {"day": day.isoformat(), **summary}
