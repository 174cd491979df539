"""The report as one self-contained HTML file (Jinja2, autoescaped: every name and text from
the sources is escaped; charts are our own SVG, marked safe) and its PDF (headless Chromium
prints the same page, with the same embedded font)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from reports import charts, fonts
from reports.callouts import Callout
from reports.data import HISTORY_DAYS, ReportData
from reports.labels import (
    HEADLINE,
    INDICATORS,
    RANKING,
    RANKING_PARTS,
    RATE,
    SETTING_LABELS,
    STREET_BARS,
)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
WEEKDAYS = "一二三四五六日"
# Call-outs shown on the page; the rest are counted (the feed has every number).
MAX_CALLOUTS = 12
# Chromium's flags for a headless, offline, reproducible print (a fresh profile each time).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


class PdfError(RuntimeError):
    pass


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _headline(data: ReportData) -> list[dict]:
    yesterday = data.history[data.history["period_start"] == data.day.fromordinal(
        data.day.toordinal() - 1)]
    items = []
    for code in HEADLINE:
        indicator = INDICATORS[code]
        now, before = data.value(data.today, code), data.value(yesterday, code)
        change = indicator.show_change(now, before)
        direction = "" if not change or change == "持平" else (
            "up" if change.startswith("▲") else "down")
        items.append({"label": indicator.zh, "value": indicator.show(now), "change": change,
                      "direction": direction,
                      "month": indicator.show(data.value(data.month, code))})
    return items


def _ranked_level(data: ReportData) -> tuple[str, list[str]]:
    """Streets are ranked in a city or district report, communities in a street's."""
    level = "community" if data.division.level in ("street", "community") else "street"
    return level, data.level_codes(level)


def _ranking(data: ReportData) -> list[dict]:
    level, codes = _ranked_level(data)
    rows = []
    for code in codes:
        score = data.value(data.month, RANKING, code)
        rows.append({"code": code, "name": data.name_of(code), "sort": score,
                     "score": INDICATORS[RANKING].show(score),
                     "parts": [INDICATORS[p].show(data.value(data.month, p, code))
                               for p in RANKING_PARTS],
                     "today": INDICATORS[RANKING].show(data.value(data.today, RANKING, code))})
    # Highest score first; divisions without a score last, by name.
    rows.sort(key=lambda r: (r["sort"] is None, -(r["sort"] or 0), r["name"]))
    rank = 0
    for row in rows:
        if row["sort"] is not None:
            rank += 1
        row["rank"] = rank if row["sort"] is not None else "—"
    return rows


def _grid(data: ReportData, colour_by: str) -> tuple[list[dict], str]:
    indicator = INDICATORS[colour_by]
    communities = data.divisions[data.divisions["level"] == "community"]
    values = {code: data.value(data.month, colour_by, code) for code in communities["code"]}
    import pandas as pd

    colours, legend = charts.colour_scale(pd.Series(values, dtype="float64"),
                                          percent=indicator.kind == RATE)
    streets = []
    for (_street, street_name), group in communities.groupby(
            ["street_code", "street_name"], sort=True, dropna=False):
        streets.append({"name": street_name if isinstance(street_name, str) else "",
                        "cells": [{"name": row.name, "value": indicator.show(values[row.code]),
                                   "colour": colours[row.code],
                                   "ink": charts.ink(colours[row.code])}
                                  for row in group.sort_values("code").itertuples()]})
    return streets, legend


def _settings(data: ReportData) -> list[tuple[str, str]]:
    """The recorded settings flattened (`a.b`), labelled in Chinese where known."""
    def flatten(value, prefix=""):
        if isinstance(value, dict):
            for key, item in value.items():
                yield from flatten(item, f"{prefix}{key}.")
        else:
            yield prefix.rstrip("."), value

    return [(SETTING_LABELS.get(key, key), str(value))
            for key, value in flatten(data.settings or {})]


def context(data: ReportData, callouts: list[Callout], colour_by: str) -> dict:
    level, codes = _ranked_level(data)
    unit = "社区" if level == "community" else "街道"
    bar_values = {data.name_of(code): data.value(data.month, STREET_BARS, code)
                  for code in codes}
    import pandas as pd

    bars_title = f"本月 12345 受理量（按{unit}）"
    grid, legend = _grid(data, colour_by)
    return {
        "title": f"{data.division.name} 接诉即办与基层治理日报",
        "day": data.day.isoformat(), "weekday": "星期" + WEEKDAYS[data.day.weekday()],
        "generated_at": datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        "revised": int(data.today["revised"].sum() + data.month["revised"].sum()),
        "headline": _headline(data),
        "callouts": callouts[:MAX_CALLOUTS],
        "callouts_more": max(0, len(callouts) - MAX_CALLOUTS),
        "ranking_title": f"{unit}排名：接诉即办综合得分（本月）",
        "ranking_unit": unit, "ranking_parts": [INDICATORS[p].zh for p in RANKING_PARTS],
        "ranking": _ranking(data),
        "trend_svg": Markup(charts.trend(data.history, data.division.code, data.day,
                                         HISTORY_DAYS)),
        "bars_title": bars_title,
        "bars_svg": Markup(charts.bars(pd.Series(bar_values, dtype="float64"), bars_title,
                                       "件")),
        "grid": grid, "legend_svg": Markup(legend),
        "colour_by_label": INDICATORS[colour_by].zh,
        "settings": _settings(data),
        "font_family": fonts.FAMILY,
    }


def render_html(values: dict) -> str:
    """The page with a font subset holding exactly the characters it shows."""
    template = _environment().get_template("report.html.j2")
    draft = template.render(**values, font_base64="")
    return template.render(**values, font_base64=fonts.subset_woff_base64(draft))


def chromium() -> str:
    path = os.environ.get("GOVSHARE_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not path:
        raise PdfError("no Chromium to print the PDF with: `apt-get install chromium` "
                       "(Debian; .ci/run and the Dockerfile install it) or set "
                       "GOVSHARE_CHROMIUM")
    return path


def print_pdf(html_path: Path, pdf_path: Path, timeout: float = 120) -> Path:
    """Print the HTML page to PDF with headless Chromium (a fresh profile, no network)."""
    with tempfile.TemporaryDirectory(prefix="govshare-chromium-") as profile:
        command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   "--no-pdf-header-footer", f"--print-to-pdf={pdf_path}",
                   Path(html_path).resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not Path(pdf_path).exists():
        raise PdfError(f"chromium could not print {html_path}: exit {done.returncode}: "
                       f"{done.stderr.strip()[-500:]}")
    return Path(pdf_path)
