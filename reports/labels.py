"""How each indicator of docs/spec/indicators.md is named and shown in the report."""

from __future__ import annotations

from dataclasses import dataclass

RATE, COUNT, SCORE, MEDIAN, HOURS, PER_10K = "rate", "count", "score", "median", "hours", "per10k"


@dataclass(frozen=True)
class Indicator:
    code: str
    zh: str
    kind: str

    def show(self, value) -> str:
        """The value as the report prints it ('—' for null: a zero denominator is no data,
        not zero)."""
        if value is None or value != value:  # None or NaN
            return "—"
        if self.kind == RATE:
            return f"{value * 100:.1f}%"
        if self.kind == COUNT:
            return f"{value:,.0f}"
        if self.kind in (HOURS, MEDIAN):
            return f"{value:.1f} 小时"
        return f"{value:.1f}"

    def show_change(self, now, before) -> str:
        """Change against the previous period: percentage points for rates."""
        if now is None or before is None or now != now or before != before:
            return ""
        delta = now - before
        if self.kind == RATE:
            delta *= 100
            unit = " 个百分点"
        else:
            unit = ""
        if abs(delta) < 1e-9:
            return "持平"
        arrow = "▲" if delta > 0 else "▼"
        number = f"{abs(delta):,.0f}" if self.kind == COUNT else f"{abs(delta):.1f}"
        return f"{arrow} {number}{unit}"


INDICATORS = {i.code: i for i in [
    Indicator("hotline.received", "12345 受理量", COUNT),
    Indicator("hotline.response_rate", "响应率", RATE),
    Indicator("hotline.resolution_rate", "解决率", RATE),
    Indicator("hotline.satisfaction_rate", "满意率", RATE),
    Indicator("hotline.composite_score", "接诉即办综合得分", SCORE),
    Indicator("hotline.ontime_resolution_rate", "按期办结率", RATE),
    Indicator("hotline.return_rate", "退单率", RATE),
    Indicator("hotline.whistle_report_rate", "吹哨报到率", RATE),
    Indicator("hotline.repeat_callers", "30 天内 3 次及以上来电居民", COUNT),
    Indicator("grid.events", "网格事件数", COUNT),
    Indicator("grid.ontime_close_rate", "网格事件按期办结率", RATE),
    Indicator("grid.median_close_hours", "网格事件办结时长中位数", MEDIAN),
    Indicator("grid.hotline_linked", "与 12345 关联的网格事件", COUNT),
    Indicator("workers.count", "社区工作者人数", COUNT),
    Indicator("workers.per_10k_residents", "每万名居民社区工作者", PER_10K),
    Indicator("workers.organizer_shortfall", "党建组织员不足的服务中心", COUNT),
    Indicator("workers.organizers_missing", "缺少的党建组织员", COUNT),
    Indicator("workers.grid_coverage", "网格员在册率", RATE),
    Indicator("dual.member_report_rate", "在职党员双报到率", RATE),
    Indicator("dual.units_reported", "双报到单位数", COUNT),
    Indicator("lists.need_match_rate", "需求清单对接率", RATE),
    Indicator("sharing.resident_coverage", "人员信息共享覆盖率", RATE),
    Indicator("sharing.freshness_hours", "数据源时效", HOURS),
]}

# The headline block, in reading order.
HEADLINE = ["hotline.received", "hotline.composite_score", "hotline.resolution_rate",
            "hotline.satisfaction_rate", "hotline.response_rate", "hotline.ontime_resolution_rate",
            "grid.events", "grid.ontime_close_rate", "workers.organizers_missing",
            "dual.member_report_rate"]
# The lines of the trend chart (rates on one axis).
TREND_RATES = ["hotline.response_rate", "hotline.resolution_rate", "hotline.satisfaction_rate"]
RANKING = "hotline.composite_score"
RANKING_PARTS = ["hotline.response_rate", "hotline.resolution_rate", "hotline.satisfaction_rate"]
STREET_BARS = "hotline.received"
DEFAULT_COLOUR_BY = "hotline.resolution_rate"

# Labels of the settings recorded with each indicator run (ops.indicator_run.settings_json).
SETTING_LABELS = {
    "timezone": "时区",
    "contact_limit.urgent_hours": "响应时限·紧急（小时）",
    "contact_limit.normal_hours": "响应时限·一般（小时）",
    "resolution_limit.urgent_hours": "办结时限·紧急（小时）",
    "resolution_limit.normal_hours": "办结时限·一般（小时）",
    "whistle_report_hours": "吹哨报到时限（小时）",
    "composite_weights.response": "综合得分权重·响应率",
    "composite_weights.resolution": "综合得分权重·解决率",
    "composite_weights.satisfaction": "综合得分权重·满意率",
    "satisfaction_scores.satisfied": "满意 计分",
    "satisfaction_scores.basically_satisfied": "基本满意 计分",
    "satisfaction_scores.dissatisfied": "不满意 计分",
    "repeat_caller_days": "重复来电统计天数",
    "repeat_caller_min_tickets": "重复来电次数下限",
    "organizers_per_center": "每个服务中心应配党建组织员",
    "linking.window_hours": "网格事件与工单关联时间窗（小时）",
    "linking.min_score": "关联匹配最低得分",
    "linking.address_weight": "关联匹配地址权重",
}
