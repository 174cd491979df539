"""Periods of the indicator feed: a local calendar day, and its month to date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    """[start, end) in local time; `last_day` is the period's last day (the day computed)."""

    kind: str  # "day" or "month"
    start: date
    last_day: date
    timezone: str

    def _instant(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=ZoneInfo(self.timezone))

    @property
    def starts_at(self) -> datetime:
        return self._instant(self.start)

    @property
    def ends_at(self) -> datetime:
        """The instant after the period (midnight after its last day)."""
        return self._instant(self.last_day + timedelta(days=1))

    def days_ending_at_end(self, days: int) -> datetime:
        """Start of the `days` days that end on the period's last day."""
        return self._instant(self.last_day - timedelta(days=days - 1))

    @property
    def month(self) -> str:
        """YYYYMM of the period's last day (roster months are named so)."""
        return self.last_day.strftime("%Y%m")


def periods_of(day: date, timezone: str, month_through: date | None = None) -> list[Period]:
    """The day itself and its month to date: through `month_through` when that is a later day
    of the same month (the last day loaded: recomputing an earlier day must not wind the
    month back), else through `day`."""
    through = month_through if month_through and month_through.replace(day=1) == \
        day.replace(day=1) and month_through > day else day
    return [Period("day", day, day, timezone),
            Period("month", day.replace(day=1), through, timezone)]
