"""`govshare quarantine list|explain|replay`."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from pipeline.quarantine import explain, list_quarantine, replay


def _workspace():
    from common.reference import load_reference
    from pipeline import config as cfg
    from warehouse.migrate import open_warehouse

    config = cfg.load_sources(require_env=False)
    engine = open_warehouse(config.get("warehouse_url"))
    return config, engine, lambda: load_reference(config=config)


def cmd_list(args) -> int:
    _, engine, _ = _workspace()
    frame = list_quarantine(engine, args.source, args.rule, args.run, args.all)
    if frame.empty:
        print("nothing in quarantine")
        return 0
    for row in frame.itertuples(index=False):
        # Connector rejects (a broken line, an unreadable file) have a location and a reason
        # where validation rejects have a record id and rules.
        where = row.source_record_id or row.raw_location or "-"
        why = row.rules or (row.reason or "-")[:60]
        print(f"{row.quarantine_id[:16]}  {row.source:<30} {where:<40} {why:<40} run {row.run_id}"
              + (f"  replayed {row.replayed_at}" if pd.notna(row.replayed_at) else ""))
    print(f"{len(frame)} record(s)")
    return 0


def cmd_explain(args) -> int:
    _, engine, _ = _workspace()
    from warehouse.schema import quarantine as q

    with engine.connect() as conn:
        ids = conn.execute(sa.select(q.c.quarantine_id).where(
            q.c.quarantine_id.startswith(args.quarantine_id))).scalars().all()
    if len(ids) != 1:
        print(f"{len(ids)} quarantined records match {args.quarantine_id!r}")
        return 1
    print(explain(engine, ids[0]))
    return 0


def cmd_replay(args) -> int:
    from pipeline import config as cfg

    config, engine, reference = _workspace()
    docs = config.get("data_docs_dir") or cfg.home() / "data_docs"
    summary = replay(engine, reference(), args.source, args.rule, docs_dir=docs)
    if not summary:
        print("nothing to replay")
    for name, counts in summary.items():
        print(f"{name}: {counts['considered']} considered, {counts['loaded']} loaded, "
              f"{counts['still_failing']} still failing, {counts['not_replayable']} not "
              "replayable (rejected before landing: fix and re-deliver at the source)")
    return 0


def add_quarantine_parser(subparsers) -> None:
    """Add `govshare quarantine list|explain|replay` to the CLI's subparsers."""
    parser = subparsers.add_parser("quarantine", help="list, explain and replay held records")
    commands = parser.add_subparsers(dest="quarantine_command", required=True)
    listing = commands.add_parser("list", help="quarantined records not yet replayed")
    listing.add_argument("--source")
    listing.add_argument("--rule", help="a rule id, e.g. grid_code.known_community")
    listing.add_argument("--run", help="a run id")
    listing.add_argument("--all", action="store_true", help="include replayed records")
    listing.set_defaults(func=cmd_list)
    explaining = commands.add_parser("explain", help="why one record is held")
    explaining.add_argument("quarantine_id", help="the id, or a unique prefix of it")
    explaining.set_defaults(func=cmd_explain)
    replaying = commands.add_parser("replay", help="validate held records again and load "
                                                   "those that now pass")
    replaying.add_argument("--source")
    replaying.add_argument("--rule")
    replaying.set_defaults(func=cmd_replay)

