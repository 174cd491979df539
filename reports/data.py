"""What one report reads: the day's indicator rows for a division and the divisions under it,
with the names of the city's reference data (common/reference.py) and the settings the
indicator run recorded (ops.indicator_run)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa

from common.reference import Reference
from reports.labels import HEADLINE, TREND_RATES
from warehouse.schema import indicator_value

# Days of daily rows the report reads before the day itself: the trend lines show 30 days,
# the week-on-week comparison needs 14.
HISTORY_DAYS = 30
COLUMNS = ["indicator_code", "period_kind", "period_start", "division_code", "dimension",
           "value", "numerator", "denominator", "computed_at", "revised"]
# What the report shows of the days before: the headline's day before, the trend lines and
# the week-on-week resolution rate.
HISTORY_CODES = sorted(set(HEADLINE) | set(TREND_RATES) | {"hotline.received",
                                                           "hotline.resolution_rate"})
KEY = ["indicator_code", "period_kind", "period_start", "division_code", "dimension"]


class ReportError(ValueError):
    """The report cannot be built as asked (no indicator rows, unknown division)."""


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str


@dataclass
class ReportData:
    day: date
    division: Division
    # Reference divisions in scope (the division and all below it) with their street.
    divisions: pd.DataFrame
    today: pd.DataFrame    # period_kind day, period_start = day
    month: pd.DataFrame    # period_kind month, the day's month to date
    history: pd.DataFrame  # period_kind day, the HISTORY_DAYS days up to the day
    settings: dict | None  # what ops.indicator_run recorded for the day, None if nothing

    def __post_init__(self):
        self._names = dict(zip(self.divisions["code"], self.divisions["name"], strict=True))
        self._lookups: dict[int, tuple[pd.DataFrame, dict]] = {}

    def name_of(self, code: str) -> str:
        return str(self._names.get(code, code))

    def level_codes(self, level: str) -> list[str]:
        return self.divisions.loc[self.divisions["level"] == level, "code"].tolist()

    def value(self, frame: pd.DataFrame, code: str, division: str | None = None):
        """The one value of `code` for `division` (default: the report's) in `frame`
        (looked up in a dictionary made once per frame: the report asks thousands of
        times at city scale)."""
        cached = self._lookups.get(id(frame))
        if cached is None or cached[0] is not frame:
            plain = frame[frame["dimension"].isna()]
            cached = (frame, dict(zip(zip(plain["indicator_code"], plain["division_code"],
                                          strict=True), plain["value"], strict=True)))
            self._lookups[id(frame)] = cached
        return _number(cached[1].get((code, division or self.division.code)))


def _number(value):
    return None if value is None or pd.isna(value) else float(value)


def scope(reference: Reference, division_code: str | None) -> tuple[Division, pd.DataFrame]:
    """The report's division (default: the city) and every division under it, each with the
    code and name of its street (communities) or itself (streets)."""
    divisions = reference.divisions.copy()
    divisions["code"] = divisions["code"].astype(str)
    if division_code is None:
        city = divisions[divisions["level"] == "city"]
        if city.empty:
            raise ReportError("the reference divisions have no city row (level city)")
        division_code = city["code"].iloc[0]
    match = divisions[divisions["code"] == division_code]
    if match.empty:
        raise ReportError(f"division {division_code} is not in the reference divisions")
    top = match.iloc[0]
    parents = divisions.set_index("code")["parent_code"].to_dict()
    levels = divisions.set_index("code")["level"].to_dict()

    def ancestors(code):
        while code in parents and isinstance(code, str):
            yield code
            code = parents[code]

    chains = {code: list(ancestors(code)) for code in divisions["code"]}
    inside = divisions[divisions["code"].map(lambda c: division_code in chains[c])].copy()
    inside["street_code"] = inside["code"].map(
        lambda c: next((a for a in chains[c] if levels.get(a) == "street"), None))
    names = divisions.set_index("code")["name"]
    inside["street_name"] = inside["street_code"].map(names)
    return Division(division_code, str(top["name"]), str(top["level"])), \
        inside.reset_index(drop=True)


def read_rows(engine: sa.Engine, kind: str, first: date, last: date,
              codes: list[str] | None = None, divisions: list[str] | None = None) -> pd.DataFrame:
    """Indicator rows of one period kind whose period starts in [first, last], the latest
    computed row of each key."""
    t = indicator_value
    query = sa.select(*[t.c[name] for name in COLUMNS]).where(
        t.c.period_kind == kind, t.c.period_start.between(first, last))
    if codes:
        query = query.where(t.c.indicator_code.in_(codes))
    with engine.connect() as conn:
        # Plain tuples: pandas probing SQLAlchemy Row objects for attributes costs seconds
        # at city scale.
        frame = pd.DataFrame([tuple(row) for row in conn.execute(query).fetchall()],
                             columns=COLUMNS)
    if divisions is not None:
        frame = frame[frame["division_code"].isin(divisions)]
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    for column in ("value", "numerator", "denominator"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["revised"] = frame["revised"].astype(bool)
    frame = frame.astype({"dimension": "object"})
    frame["dimension"] = frame["dimension"].where(frame["dimension"].notna(), None)
    # A key computed twice keeps its latest row (the indicator run replaces rows; this only
    # guards against reading a half-replaced day twice).
    return (frame.sort_values("computed_at")
            .drop_duplicates(KEY, keep="last")
            .sort_values(KEY, na_position="first")
            .reset_index(drop=True))


def recorded_settings(engine: sa.Engine, day: date) -> dict | None:
    """The settings the latest indicator run of `day` recorded (ops.indicator_run), or None
    where no run recorded them."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("indicator_run", schema="ops"):
            return None
        text = conn.execute(sa.text(
            "SELECT settings_json FROM ops.indicator_run WHERE day = :day "
            "ORDER BY ended_at DESC LIMIT 1"), {"day": day}).scalar()
    return None if text is None else json.loads(text)


def load(engine: sa.Engine, reference: Reference, day: date,
         division_code: str | None = None) -> ReportData:
    """Everything one report shows; `ReportError` when the day has no indicator rows."""
    division, divisions = scope(reference, division_code)
    codes = divisions["code"].tolist()
    # The sharing indicators are the city's (one row per source for freshness): every
    # division's report shows them.
    today = read_rows(engine, "day", day, day)
    today = today[today["division_code"].isin(codes)
                  | today["indicator_code"].str.startswith("sharing.")].reset_index(drop=True)
    if today.empty:
        raise ReportError(
            f"no indicator rows for {day} in shared.indicator_value"
            + (f" for division {division.code}" if division_code else "")
            + ": compute them first (the govshare_indicators DAG, or "
              "pipeline.indicators.compute_for_day)")
    month = read_rows(engine, "month", day.replace(day=1), day.replace(day=1), divisions=codes)
    history = read_rows(engine, "day", day - timedelta(days=HISTORY_DAYS - 1), day,
                        codes=HISTORY_CODES, divisions=codes)
    return ReportData(day=day, division=division, divisions=divisions, today=today,
                      month=month, history=history, settings=recorded_settings(engine, day))
