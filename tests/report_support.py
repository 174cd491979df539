"""A small, hand-made city and its indicator rows for the report tests: one district, three
streets, six communities (one of them named with markup, to prove escaping), 30 days of
daily rows plus the month to date, written straight into shared.indicator_value (the
computation is another module's; these rows are what it publishes).

What the rows say, so tests can check the report against it:
- 向阳街道 resolves 9 of 10 callbacks a day until a week before DAY, then 6 of 10: its
  resolution rate falls 30 points week on week (a call-out);
- 光明街道 resolves 9 of 10 every day (no call-out); its 团结社区 has no callback on DAY
  (a zero denominator: the rate is null, shown as —);
- 幸福社区 lacks one 党建组织员; 和平社区 has two residents calling a third time;
- the grid source's newest change is 80 h old (limit 36 h): stale; the hotline's is 5 h.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

DAY = date(2026, 11, 14)
CITY, DISTRICT = "150100000000", "150102000000"
STREETS = {"150102001000": "向阳街道", "150102002000": "光明街道", "150102003000": "新华街道"}
COMMUNITIES = {
    "150102001001": ("150102001000", "幸福社区"),
    "150102001002": ("150102001000", "建设社区"),
    "150102002001": ("150102002000", "和平社区"),
    "150102002002": ("150102002000", "团结社区"),
    "150102003001": ("150102003000", "<script>alert('x')</script>锡林社区"),
    "150102003002": ("150102003000", "=HYPERLINK(\"http://x\")社区"),
}
SETTINGS = {"timezone": "Asia/Shanghai",
            "contact_limit": {"urgent_hours": 2, "normal_hours": 24},
            "composite_weights": {"response": 0.1, "resolution": 0.45, "satisfaction": 0.45},
            "organizers_per_center": 2, "repeat_caller_days": 30,
            "repeat_caller_min_tickets": 3}


def write_reference(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = [(CITY, "呼和浩特市", "city", ""), (DISTRICT, "新城区", "district", CITY)]
    rows += [(code, name, "street", DISTRICT) for code, name in STREETS.items()]
    rows += [(code, name, "community", street) for code, (street, name) in COMMUNITIES.items()]
    pd.DataFrame(rows, columns=["code", "name", "level", "parent_code"]).to_csv(
        root / "divisions.csv", index=False)
    pd.DataFrame([(code + "001", code, "一网格", "G001") for code in COMMUNITIES],
                 columns=["grid_code", "community_code", "name", "grid_worker_staff_no"]) \
        .to_csv(root / "grids.csv", index=False)
    pd.DataFrame([("D01", "城管", "city_department")],
                 columns=["dept_code", "name", "kind"]).to_csv(root / "departments.csv",
                                                                index=False)
    return root


def _community_day(code: str, day: date) -> dict[str, tuple[float, float | None]]:
    """(numerator, denominator) of each hotline indicator for one community and day."""
    street = COMMUNITIES[code][0]
    late = day > DAY - timedelta(days=7)
    resolved = 6 if street == "150102001000" and late else 9
    callbacks = 10
    if code == "150102002002" and day == DAY:
        resolved, callbacks = 0, 0  # no callback that day
    received = 20 + int(code[-1]) + day.day % 3
    return {"hotline.received": (received, None),
            "hotline.response_rate": (received - 2, received),
            "hotline.resolution_rate": (resolved, callbacks),
            "hotline.satisfaction_rate": (resolved * 0.95 + 0.9, callbacks),
            "grid.events": (5 + int(code[-1]), None),
            "grid.ontime_close_rate": (4, 5)}


def _rows(division: str, kind: str, start: date, parts: dict) -> list[dict]:
    rows = []
    for code, (numerator, denominator) in parts.items():
        if denominator is None:
            value = numerator
        else:
            value = numerator / denominator if denominator else None
        rows.append({"indicator_code": code, "period_kind": kind, "period_start": start,
                     "division_code": division, "dimension": None, "value": value,
                     "numerator": numerator, "denominator": denominator})
    r, s, c = (parts["hotline.response_rate"], parts["hotline.resolution_rate"],
               parts["hotline.satisfaction_rate"])
    if r[1] and s[1] and c[1]:
        score = 100 * (0.10 * r[0] / r[1] + 0.45 * s[0] / s[1] + 0.45 * c[0] / c[1])
    else:
        score = None
    rows.append({"indicator_code": "hotline.composite_score", "period_kind": kind,
                 "period_start": start, "division_code": division, "dimension": None,
                 "value": score, "numerator": None, "denominator": None})
    return rows


def _add(total: dict, parts: dict) -> None:
    for code, (numerator, denominator) in parts.items():
        n, d = total.get(code, (0, None if denominator is None else 0))
        total[code] = (n + numerator, None if denominator is None else d + denominator)


def indicator_rows(day: date = DAY) -> pd.DataFrame:
    """Every row the fixture publishes: the 30 days up to `day` and the month to date, for
    each community, street, the district and the city (a street's value from its
    communities' numerators and denominators, never an average of rates)."""
    rows = []
    month: dict[str, dict] = {}
    for offset in range(29, -1, -1):
        current = day - timedelta(days=offset)
        totals: dict[str, dict] = {}
        for code in COMMUNITIES:
            parts = _community_day(code, current)
            for division in (code, COMMUNITIES[code][0], DISTRICT, CITY):
                _add(totals.setdefault(division, {}), parts)
                if current.month == day.month:
                    _add(month.setdefault(division, {}), parts)
        for division, parts in totals.items():
            rows += _rows(division, "day", current, parts)
    for division, parts in month.items():
        rows += _rows(division, "month", day.replace(day=1), parts)
    extra = [("workers.organizer_shortfall", "150102001001", 1), ("workers.organizers_missing",
             "150102001001", 1), ("workers.organizer_shortfall", "150102001000", 1),
             ("workers.organizers_missing", "150102001000", 1),
             ("workers.organizer_shortfall", DISTRICT, 1), ("workers.organizers_missing",
             DISTRICT, 1), ("hotline.repeat_callers", "150102002001", 2),
             ("hotline.repeat_callers", "150102002000", 2),
             ("hotline.repeat_callers", DISTRICT, 2)]
    for code in COMMUNITIES:
        if code != "150102001001":
            extra += [("workers.organizer_shortfall", code, 0),
                      ("workers.organizers_missing", code, 0)]
    for indicator, division, value in extra:
        rows.append({"indicator_code": indicator, "period_kind": "day", "period_start": day,
                     "division_code": division, "dimension": None, "value": value,
                     "numerator": value, "denominator": None})
    for source, hours in [("hotline.tickets", 5.0), ("grid.events", 80.0)]:
        rows.append({"indicator_code": "sharing.freshness_hours", "period_kind": "day",
                     "period_start": day, "division_code": CITY, "dimension": source,
                     "value": hours, "numerator": hours, "denominator": None})
    frame = pd.DataFrame(rows)
    frame["computed_at"] = datetime(2026, 11, 14, 22, 30, tzinfo=UTC)
    # Yesterday's resolution at 光明街道 was corrected by a late callback.
    frame["revised"] = (frame["division_code"] == "150102002000") \
        & (frame["period_start"] == day - timedelta(days=1)) \
        & (frame["indicator_code"] == "hotline.resolution_rate")
    frame["run_id"] = "fixture"
    return frame


def publish_fixture(engine: sa.Engine, day: date = DAY, settings: bool = True) -> pd.DataFrame:
    """Write the fixture's rows (and, with `settings`, the run record that names the
    settings used) into the warehouse."""
    from warehouse.schema import indicator_value

    frame = indicator_rows(day)
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    with engine.begin() as conn:
        conn.execute(indicator_value.insert(), records)
        if settings:
            # ops.indicator_run belongs to the indicators computation (its migration); the
            # tests create the columns the report reads where it is not there yet.
            conn.exec_driver_sql(
                "CREATE TABLE IF NOT EXISTS ops.indicator_run (run_id VARCHAR(256), day DATE,"
                " settings_hash VARCHAR(64), settings_json TEXT, rows_written INTEGER,"
                " rows_revised INTEGER, started_at TIMESTAMP WITH TIME ZONE,"
                " ended_at TIMESTAMP WITH TIME ZONE)")
            conn.execute(sa.text(
                "INSERT INTO ops.indicator_run (run_id, day, settings_hash, settings_json, "
                "rows_written, rows_revised, started_at, ended_at) VALUES "
                "('fixture', :day, 'x', :json, :n, 0, :t, :t)"),
                {"day": day, "json": json.dumps(SETTINGS), "n": len(frame),
                 "t": datetime(2026, 11, 14, 22, 30, tzinfo=UTC)})
    return frame
