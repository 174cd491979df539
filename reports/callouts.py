"""The report's call-outs: short sentences in plain Chinese about what needs a leader's
attention today. Each rule reads only indicator rows (reports.data.ReportData)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from reports.data import ReportData

# A street whose resolution rate fell by more than this (as a fraction) week on week.
RESOLUTION_DROP = 0.10
# Limit used for a source that configures no freshness_hours of its own.
DEFAULT_FRESHNESS_HOURS = 36.0


@dataclass(frozen=True)
class Callout:
    kind: str       # resolution_drop, organizers, repeat_callers, stale_source
    division: str   # the division (or source) it is about
    text: str       # one sentence, plain Chinese


def _week_rate(history: pd.DataFrame, code: str, first, last) -> pd.DataFrame:
    """Per division: a rate over the days [first, last] from the daily numerators and
    denominators (a ratio of sums, never an average of daily rates)."""
    rows = history[(history["indicator_code"] == code) & history["dimension"].isna()
                   & (history["period_start"] >= first) & (history["period_start"] <= last)]
    sums = rows.groupby("division_code")[["numerator", "denominator"]].sum(min_count=1)
    sums = sums[sums["denominator"] > 0]
    sums["rate"] = sums["numerator"] / sums["denominator"]
    return sums


def resolution_drops(data: ReportData) -> list[Callout]:
    """Streets whose resolution rate over the last 7 days fell more than 10 points below the
    7 days before."""
    day = data.day
    this = _week_rate(data.history, "hotline.resolution_rate", day - timedelta(days=6), day)
    last = _week_rate(data.history, "hotline.resolution_rate", day - timedelta(days=13),
                      day - timedelta(days=7))
    both = this.join(last, lsuffix="_now", rsuffix="_before", how="inner")
    both = both[both.index.isin(data.level_codes("street"))]
    both["drop"] = both["rate_before"] - both["rate_now"]
    out = []
    for code, row in both[both["drop"] > RESOLUTION_DROP].sort_values(
            "drop", ascending=False).iterrows():
        out.append(Callout("resolution_drop", code, (
            f"{data.name_of(code)}近 7 天解决率 {row.rate_now:.1%}，比前 7 天的 "
            f"{row.rate_before:.1%} 下降 {row['drop'] * 100:.1f} 个百分点"
            f"（近 7 天回访 {row.denominator_now:.0f} 件），请督促整改。")))
    return out


def organizer_shortfalls(data: ReportData) -> list[Callout]:
    """Communities whose service centre has fewer 党建组织员 than required."""
    required = (data.settings or {}).get("organizers_per_center", 2)
    today = data.today[data.today["dimension"].isna()]
    missing = today[today["indicator_code"] == "workers.organizers_missing"] \
        .set_index("division_code")["value"]
    short = today[(today["indicator_code"] == "workers.organizer_shortfall")
                  & (today["value"] > 0)
                  & today["division_code"].isin(data.level_codes("community"))]
    out = []
    for code in short.sort_values("division_code")["division_code"]:
        gap = missing.get(code)
        gap_text = f"缺 {gap:.0f} 名" if gap is not None and gap == gap else "人数不足"
        out.append(Callout("organizers", code, (
            f"{data.name_of(code)}党群服务中心党建组织员{gap_text}"
            f"（每个中心应配 {required} 名），请街道尽快补齐。")))
    return out


def repeat_callers(data: ReportData) -> list[Callout]:
    """Communities with residents who called for the third time (or more) in 30 days."""
    days = (data.settings or {}).get("repeat_caller_days", 30)
    times = (data.settings or {}).get("repeat_caller_min_tickets", 3)
    rows = data.today[(data.today["indicator_code"] == "hotline.repeat_callers")
                      & data.today["dimension"].isna() & (data.today["value"] > 0)
                      & data.today["division_code"].isin(data.level_codes("community"))]
    out = []
    for row in rows.sort_values(["value", "division_code"], ascending=[False, True]) \
            .itertuples():
        out.append(Callout("repeat_callers", row.division_code, (
            f"{data.name_of(row.division_code)}有 {row.value:.0f} 位居民 {days} 天内已第 "
            f"{times} 次及以上来电，反映的问题可能一直没有解决，请社区主动上门回访。")))
    return out


def stale_sources(data: ReportData, limits: dict[str, float]) -> list[Callout]:
    """Sources whose newest loaded change is older than their freshness limit."""
    rows = data.today[(data.today["indicator_code"] == "sharing.freshness_hours")
                      & data.today["dimension"].notna()]
    out = []
    for row in rows.sort_values("dimension").itertuples():
        limit = limits.get(row.dimension, DEFAULT_FRESHNESS_HOURS)
        if row.value is None or row.value != row.value:
            text = f"数据源 {row.dimension} 还没有成功加载过任何数据，请联系提供部门。"
        elif row.value > limit:
            text = (f"数据源 {row.dimension} 已有 {row.value:.0f} 小时没有新数据（要求 "
                    f"{limit:g} 小时内），相关指标可能不完整，请联系提供部门。")
        else:
            continue
        out.append(Callout("stale_source", row.dimension, text))
    return out


def callouts(data: ReportData, freshness_limits: dict[str, float]) -> list[Callout]:
    """All call-outs, most urgent kinds first."""
    return [*resolution_drops(data), *repeat_callers(data), *organizer_shortfalls(data),
            *stale_sources(data, freshness_limits)]
