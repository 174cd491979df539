"""One day's report and feeds for one division: what `govshare report`, the indicators DAG
and the demo call."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from common.reference import Reference
from reports import data as report_data
from reports import feeds, render
from reports.callouts import Callout, callouts
from reports.labels import DEFAULT_COLOUR_BY, INDICATORS

log = logging.getLogger(__name__)


@dataclass
class BuiltReport:
    day: date
    division_code: str
    division_name: str
    html: Path
    pdf: Path | None
    feeds: dict[str, Path]
    callouts: list[Callout] = field(default_factory=list)

    def summary(self) -> dict:
        """What a DAG task returns (XCom: paths as text)."""
        return {"day": self.day.isoformat(), "division_code": self.division_code,
                "html": str(self.html), "pdf": str(self.pdf) if self.pdf else None,
                "feeds": {kind: str(path) for kind, path in self.feeds.items()},
                "callouts": len(self.callouts)}


def stem(day: date, division_code: str | None) -> str:
    return f"report_{day.isoformat()}" + (f"_{division_code}" if division_code else "")


def build_report(engine: sa.Engine, reference: Reference, day: date, out: Path,
                 division_code: str | None = None, colour_by: str = DEFAULT_COLOUR_BY,
                 freshness_limits: dict[str, float] | None = None,
                 pdf: bool = True) -> BuiltReport:
    """Read the day's indicators, write `<out>/report_<day>[_<division>].html` (and .pdf)
    and the feeds beside them under `<out>/feeds/`. `ReportError` when the day has no
    indicator rows (a report of nothing is never written)."""
    if colour_by not in INDICATORS:
        raise report_data.ReportError(f"unknown indicator {colour_by!r} to colour by; "
                                      f"known: {', '.join(sorted(INDICATORS))}")
    loaded = report_data.load(engine, reference, day, division_code)
    found = callouts(loaded, freshness_limits or {})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = stem(day, division_code)
    html_path = out / f"{name}.html"
    html_path.write_text(render.render_html(render.context(loaded, found, colour_by)),
                         encoding="utf-8")
    pdf_path = render.print_pdf(html_path, out / f"{name}.pdf") if pdf else None
    written = feeds.write_feeds(loaded, out / "feeds", name.replace("report_", "indicators_"))
    log.info("report %s for %s: %s call-outs, %s", day, loaded.division.code, len(found),
             html_path)
    return BuiltReport(day, loaded.division.code, loaded.division.name, html_path, pdf_path,
                       written, found)
