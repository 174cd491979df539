"""`govshare report`: build (and optionally deliver) the daily report for one day."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path


def cmd_report(args) -> int:
    from reports.daily import build_day, deliver_day
    from reports.data import ReportError
    from reports.delivery import DeliveryError

    day = date.fromisoformat(args.date)
    try:
        built = build_day(day, args.division, Path(args.out) if args.out else None,
                          pdf=not args.no_pdf)
    except ReportError as error:
        print(f"govshare report: {error}", file=sys.stderr)
        return 1
    print(f"report : {built.html}")
    if built.pdf:
        print(f"pdf    : {built.pdf}")
    for kind in ("csv", "parquet", "json", "manifest"):
        print(f"{kind:<7}: {built.feeds[kind]}")
    print(f"{len(built.callouts)} call-out(s)")
    if not args.deliver:
        return 0
    try:
        outcomes = deliver_day(day, args.run_id, division=args.division)
    except DeliveryError as error:
        print(f"govshare report: {error}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(f"delivered: {outcome.recipient} ({outcome.channel})")
    return 0


def add_report_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="build the daily report (HTML, PDF) and feeds for one day")
    parser.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
    parser.add_argument("--division", help="a district's, street's or community's 12-digit "
                                           "code (default: the whole city)")
    parser.add_argument("--out", help="folder to write to (default: reports.out of the "
                                      "sources file / the day)")
    parser.add_argument("--no-pdf", action="store_true", help="HTML and feeds only")
    parser.add_argument("--deliver", action="store_true",
                        help="also send it to the recipients file's recipients")
    parser.add_argument("--run-id", default="manual", help="with --deliver: the run recorded "
                                                           "in ops.delivery_attempt")
    parser.set_defaults(func=cmd_report)
