"""The report's charts: matplotlib figures as inline SVG. Text is drawn as paths with the
CJK font (reports.fonts), so a chart shows the same on any machine and loads nothing."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from functools import cache

import pandas as pd

from reports import fonts
from reports.labels import INDICATORS

PALETTE = ["#1f5fa8", "#d9822b", "#3a9b5c", "#b23b3b"]
COLOURMAP = "RdYlGn"  # red (low) to green (high): a low rate needs attention


@cache
def _font_name() -> str:
    from matplotlib import font_manager

    path = str(fonts.font_file())
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def _style() -> dict:
    return {"font.family": [_font_name()], "svg.fonttype": "path", "font.size": 10,
            "axes.spines.top": False, "axes.spines.right": False, "axes.unicode_minus": False}


def _svg(figure, title: str) -> str:
    """The figure as an <svg> element to inline, labelled for screen readers."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    svg = text[text.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    # Drop the fixed size matplotlib writes so the chart scales with the page; keep viewBox.
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
                 r'<svg\1 role="img" class="chart"', svg, count=1)
    from markupsafe import escape

    return svg.replace("<svg", f'<svg aria-label="{escape(title)}"', 1)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def trend(history: pd.DataFrame, division: str, day: date, days: int) -> str:
    """The last `days` days of the division: tickets received (bars) and the three rates of
    the composite score (lines); a day without a value leaves a gap."""
    import matplotlib

    dates = [day - timedelta(days=n) for n in range(days - 1, -1, -1)]
    rows = history[(history["division_code"] == division) & history["dimension"].isna()]
    table = rows.pivot_table(index="period_start", columns="indicator_code", values="value",
                             aggfunc="last").reindex(dates)
    with matplotlib.rc_context(_style()):
        figure = _figure(8.0, 4.2)
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[1, 1.4])
        received = table.get("hotline.received", pd.Series(index=dates, dtype=float))
        top.bar(dates, received.fillna(0), color=PALETTE[0], width=0.7)
        top.set_ylabel("受理量（件）")
        for colour, code in zip(PALETTE[1:], ["hotline.response_rate",
                                              "hotline.resolution_rate",
                                              "hotline.satisfaction_rate"], strict=True):
            series = table.get(code, pd.Series(index=dates, dtype=float)) * 100
            bottom.plot(dates, series, marker="o", markersize=3, color=colour,
                        label=INDICATORS[code].zh)
        bottom.set_ylim(0, 105)
        bottom.set_ylabel("比率（%）")
        bottom.legend(loc="lower left", ncols=3, frameon=False)
        bottom.tick_params(axis="x", labelrotation=45)
        bottom.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%m-%d"))
        figure.suptitle(f"近 {days} 天趋势", x=0.01, ha="left")
        return _svg(figure, f"近 {days} 天趋势")


def bars(values: pd.Series, title: str, unit: str) -> str:
    """Horizontal bars, largest on top (`values` indexed by division name)."""
    import matplotlib

    values = values.dropna().sort_values()
    with matplotlib.rc_context(_style()):
        figure = _figure(8.0, max(1.6, 0.32 * len(values) + 0.8))
        axes = figure.subplots()
        axes.barh(list(values.index), values.to_numpy(), color=PALETTE[0])
        for y, value in enumerate(values.to_numpy()):
            axes.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
        axes.set_xlabel(unit)
        axes.set_title(title, loc="left")
        return _svg(figure, title)


def colour_scale(values: pd.Series, percent: bool) -> tuple[dict, str]:
    """Fill colour of each value (hex, by index; None for no value) on the red-yellow-green
    scale over the values' range, and the scale's legend as an SVG."""
    import matplotlib
    from matplotlib import colormaps
    from matplotlib.colors import Normalize, to_hex

    present = values.dropna()
    low, high = (float(present.min()), float(present.max())) if len(present) else (0.0, 1.0)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    norm = Normalize(low, high)
    cmap = colormaps[COLOURMAP]
    colours = {key: (to_hex(cmap(norm(value))) if value == value and value is not None
                     else None) for key, value in values.items()}
    with matplotlib.rc_context(_style()):
        figure = _figure(6.0, 0.7)
        axes = figure.add_axes((0.05, 0.45, 0.9, 0.3))
        bar = figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), cax=axes,
                              orientation="horizontal")
        if percent:
            from matplotlib.ticker import PercentFormatter

            bar.ax.xaxis.set_major_formatter(PercentFormatter(xmax=1))
        return colours, _svg(figure, "颜色图例")


def ink(fill: str | None) -> str:
    """Text colour readable on `fill`: white on dark fills, near-black otherwise (relative
    luminance, WCAG's formula)."""
    if fill is None:
        return "#1d2733"
    from matplotlib.colors import to_rgb

    def linear(c):
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in to_rgb(fill))
    return "#ffffff" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.18 else "#1d2733"
