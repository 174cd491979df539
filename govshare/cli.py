"""`govshare`: everything a user runs outside Airflow."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path


def _noise(args):
    import yaml

    from simulator.noise import NoiseRates

    rates = {}
    if args.noise_file:
        rates.update(yaml.safe_load(Path(args.noise_file).read_text(encoding="utf-8")) or {})
    for item in args.noise or []:
        kind, _, value = item.partition("=")
        rates[kind] = float(value)
    return NoiseRates.from_mapping(rates)


def cmd_simulate(args) -> int:
    from simulator.run import simulate

    simulate(args.out, scale=args.scale, seed=args.seed,
             start=date.fromisoformat(args.start) if args.start else None, days=args.days,
             noise=_noise(args), departments_url=args.departments_url, city=args.city)
    print(f"simulated city written to {Path(args.out).resolve()}")
    return 0


def cmd_demo(args) -> int:
    from govshare.demo import run_demo

    return run_demo(home=Path(args.home), scale=args.scale, days=args.days, seed=args.seed,
                    warehouse=args.warehouse, reset_warehouse=args.reset_warehouse,
                    city=args.city)


def cmd_explain(args) -> int:
    from pipeline import config as cfg
    from pipeline.explain import explain
    from warehouse.engine import create_warehouse_engine

    config = cfg.load_sources(args.sources, require_env=False)
    engine = create_warehouse_engine(args.warehouse_url or config.get("warehouse_url"))
    print(explain(engine, args.left, args.right))
    return 0


def add_explain_parser(subparsers) -> None:
    """Add `govshare explain SOURCE:ID SOURCE:ID` to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "explain", help="how two records compare in resident/unit resolution")
    parser.add_argument("left", help="SOURCE:ID, e.g. civil_affairs.residents:MZ0000000001")
    parser.add_argument("right", help="SOURCE:ID, e.g. hotline.tickets:HL20261125000123")
    parser.add_argument("--warehouse-url", help="default: the sources file's warehouse_url")
    parser.add_argument("--sources", help="sources file (default: the configured one)")
    parser.set_defaults(func=cmd_explain)


def cmd_config_check(args) -> int:
    from common.settings_check import check_file

    failed = 0
    for path in args.files:
        kind, problems = check_file(path, args.kind)
        if problems:
            failed += 1
            print(f"{path}: {kind} file, {len(problems)} problem(s):")
            print("\n".join(f"  {problem}" for problem in problems))
        else:
            print(f"{path}: {kind} file, ok")
    return 1 if failed else 0


def cmd_batch_list(args) -> int:
    from pipeline import config as cfg
    from pipeline.staging import held_batches
    from warehouse.migrate import open_warehouse

    engine = open_warehouse(cfg.load_sources(require_env=False).get("warehouse_url"))
    frame = held_batches(engine, include_released=args.all)
    engine.dispose()
    for row in frame.itertuples(index=False):
        state = f"released {row.released_at:%Y-%m-%d %H:%M}" if row.released_at is not None \
            and str(row.released_at) != "NaT" else "HELD"
        print(f"{row.source:<30} run {row.run_id:<40} {row.run_date}  {state}\n    {row.reason}")
    print(f"{len(frame)} batch(es)")
    return 0


def cmd_batch_release(args) -> int:
    from pipeline.staging import BatchHeldError, release_batch

    try:
        summary = release_batch(args.source, args.run_id, args.reason)
    except BatchHeldError as held:
        print(f"still held: {held}", file=sys.stderr)
        return 1
    print(f"{args.source} run {args.run_id}: staged {summary['staged']}, quarantined "
          f"{summary['quarantine_rows']}")
    return 0


def cmd_audit_reconcile(args) -> int:
    from common.masking import mask_text
    from pipeline import config as cfg
    from pipeline.reconcile import reconcile_config, summary

    config = cfg.load_sources(args.sources, require_env=False)
    results = reconcile_config(config, args.run_id, args.source or None)
    if not results:
        print("no run to reconcile")
        return 1
    table = summary(results)
    # Record ids are not printed: only counts and the problems, masked all the same.
    print(mask_text(table.to_string(index=False)))
    failed = int((table["status"] == "FAILED").sum())
    print(f"{len(table)} run(s) of {table['source'].nunique()} source(s): "
          f"{failed} not reconciled, {int((table['status'] == 'pending').sum())} pending")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    from simulator.profiles import DEFAULT, PROFILES

    parser = argparse.ArgumentParser(prog="govshare", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="generate a simulated city's sources and ground truth")
    sim.add_argument("--scale", choices=["tiny", "small", "district", "city"], default="tiny")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--city", choices=sorted(PROFILES), default=DEFAULT.key,
                     help="city profile (simulator/profiles.py, docs/cities.md)")
    sim.add_argument("--out", default="var/sim", help="output folder")
    sim.add_argument("--start", help="first simulated day, YYYY-MM-DD (default 2026-11-01)")
    sim.add_argument("--days", type=int, help="simulated days (default: the scale's)")
    sim.add_argument("--departments-url",
                     help="SQLAlchemy URL for the department databases (MariaDB/PostgreSQL); "
                          "default: a DuckDB file in the output folder")
    sim.add_argument("--noise-file", help="YAML mapping of noise kind -> rate")
    sim.add_argument("--noise", action="append", metavar="KIND=RATE",
                     help="override one noise rate (repeatable)")
    sim.set_defaults(func=cmd_simulate)

    # Listed for --help; main() hands its arguments to the server's own parser.
    sub.add_parser("serve-hotline", help="serve a simulated 12345 hotline API "
                   "(`govshare serve-hotline --help`)", add_help=False)

    demo = sub.add_parser("demo", help="simulate a city and run the pipeline on it end to end")
    demo.add_argument("--home", default="var/demo", help="where the demo writes everything")
    demo.add_argument("--scale", choices=["tiny", "small"], default="small")
    demo.add_argument("--days", type=int, default=3)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--city", choices=sorted(PROFILES), default=DEFAULT.key,
                      help="city profile (simulator/profiles.py, docs/cities.md)")
    demo.add_argument("--warehouse", choices=["duckdb", "postgres"], default="duckdb",
                      help="duckdb: a file in --home; postgres: the (empty) database named by "
                           "GOVSHARE_WAREHOUSE_URL")
    demo.add_argument("--reset-warehouse", action="store_true",
                      help="with --warehouse postgres: drop the govshare schemas there first")
    demo.set_defaults(func=cmd_demo)

    config = sub.add_parser("config", help="check settings files against their models")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser(
        "check", help="every unknown key and wrong type of a sources, access, rules or "
                      "recipients file")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--kind", choices=["sources", "access", "rules", "recipients"],
                       help="default: told from the file's keys")
    check.set_defaults(func=cmd_config_check)

    batch = sub.add_parser("batch", help="batches validation held (a broken rule or source)")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    listing = batch_sub.add_parser("list", help="held batches and why")
    listing.add_argument("--all", action="store_true", help="released ones too")
    listing.set_defaults(func=cmd_batch_list)
    release = batch_sub.add_parser(
        "release", help="validate a held batch again once its cause is fixed, and load it")
    release.add_argument("source")
    release.add_argument("run_id")
    release.add_argument("--reason", required=True, help="what was fixed (recorded)")
    release.set_defaults(func=cmd_batch_release)

    audit = sub.add_parser("audit", help="prove what each run received, landed, loaded, held")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    rec = audit_sub.add_parser(
        "reconcile", help="per source and run: landed = loaded + quarantined, audit = landing")
    rec.add_argument("--run-id", help="one run (default: every run)")
    rec.add_argument("--source", action="append", help="one source (repeatable; default: all)")
    rec.add_argument("--sources", help="sources file (default: the configured one)")
    rec.set_defaults(func=cmd_audit_reconcile)

    from govshare.indicators_cli import add_indicators_parser
    from govshare.quarantine_cli import add_quarantine_parser
    from govshare.report_cli import add_report_parser
    from govshare.warehouse_cli import add_access_parser, add_export_parser, add_warehouse_parser

    add_quarantine_parser(sub)
    add_explain_parser(sub)
    add_warehouse_parser(sub)
    add_access_parser(sub)
    add_export_parser(sub)
    add_indicators_parser(sub)
    add_report_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve-hotline"]:
        from simulator.hotline_server import main as serve

        return serve(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    from common.masking import PersonalDataFilter

    handler = logging.StreamHandler()
    handler.addFilter(PersonalDataFilter())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=[handler])
    from pipeline.config import ConfigError
    from warehouse.access import AccessError
    from warehouse.engine import WarehouseUrlError

    try:
        return args.func(args)
    except (ConfigError, WarehouseUrlError, AccessError) as error:
        # A wrong setting or a refused access: say which, without a traceback.
        print(f"govshare {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
