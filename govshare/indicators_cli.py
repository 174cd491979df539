"""`govshare indicators compute --date D [--through D2]`: every indicator of each day (and its
month to date) from an existing warehouse; re-runnable for any past day."""

from __future__ import annotations

import argparse
from datetime import date, timedelta


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def days_between(first: date, last: date | None) -> list[date]:
    last = last or first
    if last < first:
        raise ValueError(f"--through {last} is before --date {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def summary_line(summary: dict) -> str:
    days = summary["days"]
    span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
    links = ", ".join(f"{reason} {n}" for reason, n in summary["links"].items())
    return (f"{span}: {len(summary['indicators'])} indicators, {summary['rows_written']} rows "
            f"written, {summary['rows_revised']} revised; grid-hotline links: {links}")


def compute_days(config: dict, days: list[date], print_line=print) -> dict:
    """Compute the days in one run and print what it did (the demo and the CLI)."""
    from pipeline.indicators import compute_for_days
    from warehouse.migrate import open_warehouse

    engine = open_warehouse(config.get("warehouse_url"))
    try:
        summary = compute_for_days(config, days, engine=engine)
    finally:
        engine.dispose()
    print_line(summary_line(summary))
    return summary


def cmd_indicators_compute(args) -> int:
    from pipeline import config as cfg

    config = cfg.load_sources(args.sources, require_env=False)
    if args.warehouse_url:
        config["warehouse_url"] = args.warehouse_url
    try:
        days = days_between(args.date, args.through)
    except ValueError as error:
        print(f"govshare indicators compute: {error}")
        return 2
    compute_days(config, days)
    return 0


def add_indicators_parser(subparsers) -> None:
    parser = subparsers.add_parser("indicators", help="the indicator feed (docs/indicators.md)")
    sub = parser.add_subparsers(dest="indicators_command", required=True)
    compute = sub.add_parser("compute", help="compute every indicator of a day (and its month "
                             "to date) into shared.indicator_value")
    compute.add_argument("--date", type=_day, required=True, help="local day, YYYY-MM-DD")
    compute.add_argument("--through", type=_day, help="last day of a range (default: --date)")
    compute.add_argument("--sources", help="sources file (default: the configured one)")
    compute.add_argument("--warehouse-url", help="default: the sources file's warehouse_url")
    compute.set_defaults(func=cmd_indicators_compute)
