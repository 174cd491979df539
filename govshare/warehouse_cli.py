"""`govshare warehouse ...`, `govshare access ...` and `govshare export`: parser adders for
govshare/cli.py (and `main` to run them alone)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from pipeline.config import access_path

log = logging.getLogger(__name__)


def _config() -> dict:
    """The sources file, read as a tool that works on the warehouse only: the sources'
    secrets may be unset, the warehouse URL's variables may not. Any error in it is an
    error; only when no sources file is configured at all (GOVSHARE_SOURCES unset and none
    at its default place) do the warehouse URL's own defaults apply."""
    from pipeline.config import load_sources, sources_path

    if "GOVSHARE_SOURCES" not in os.environ and not sources_path().exists():
        return {}
    return load_sources(require_env=False)


def _url(args) -> str:
    from warehouse.engine import warehouse_url

    url = args.url or _config().get("warehouse_url")
    if url is None:
        url = warehouse_url()
        if "GOVSHARE_WAREHOUSE_URL" not in os.environ:  # said, not silent (and no password)
            log.info("the embedded warehouse %s: no --url, warehouse_url in a sources file "
                     "or GOVSHARE_WAREHOUSE_URL", url)
    return url


def _engine(args):
    from warehouse.migrate import open_warehouse

    engine = open_warehouse(_url(args))
    return engine


def _add_url(parser) -> None:
    parser.add_argument("--url", help="warehouse SQLAlchemy URL (default: the sources file's "
                                      "warehouse_url, else GOVSHARE_WAREHOUSE_URL, else DuckDB)")


def cmd_upgrade(args) -> int:
    from warehouse.migrate import upgrade

    print(f"warehouse at revision {upgrade(_url(args), args.revision)}")
    return 0


def cmd_downgrade(args) -> int:
    from warehouse.migrate import downgrade

    downgrade(_url(args), args.revision)
    print(f"warehouse downgraded to {args.revision}")
    return 0


def cmd_publish(args) -> int:
    from pipeline.publication import publish

    config = _config()
    if args.url:
        config["warehouse_url"] = args.url
    print(json.dumps(publish(config, args.run_id, full=args.full), ensure_ascii=False))
    return 0


def cmd_freshness(args) -> int:
    from pipeline.freshness import StaleSourceError, check_freshness

    config = _config()
    if args.url:
        config["warehouse_url"] = args.url
    try:
        for item in check_freshness(config):
            print(f"{item['source']}: {item['hours_since']:.1f} h (limit "
                  f"{item['limit_hours']:g} h)")
    except StaleSourceError as stale:
        print(stale, file=sys.stderr)
        return 1
    return 0


def cmd_catalogue(args) -> int:
    from warehouse.catalogue import missing_entries, write_catalogue_outputs

    missing = missing_entries()
    if missing:
        print("columns without a catalogue entry: " + ", ".join(missing), file=sys.stderr)
        return 1
    engine = _engine(args) if args.apply_comments else None
    print(json.dumps(write_catalogue_outputs(Path(args.docs), engine)))
    return 0


def cmd_trace(args) -> int:
    from warehouse.access import load_access
    from warehouse.lineage import trace_row

    access = load_access(args.access or access_path()) if args.as_department else None
    trace = trace_row(_engine(args), args.table, args.key, access, args.as_department)
    if trace is None:
        print(f"no row {args.key} in shared.{args.table}", file=sys.stderr)
        return 1
    print(json.dumps(trace, ensure_ascii=False, indent=2, default=str))
    return 0


def _command(sub, name: str, help: str, func, access: bool = False):
    """A subcommand that works on a warehouse (`--url`), optionally reading the access file."""
    parser = sub.add_parser(name, help=help)
    _add_url(parser)
    if access:
        parser.add_argument("--access", help="access file (default GOVSHARE_ACCESS)")
    parser.set_defaults(func=func)
    return parser


def add_warehouse_parser(subparsers) -> None:
    parser = subparsers.add_parser("warehouse", help="migrate, publish, catalogue, freshness")
    sub = parser.add_subparsers(dest="warehouse_command", required=True)
    up = _command(sub, "upgrade", "apply the Alembic migrations (idempotent)", cmd_upgrade)
    up.add_argument("--revision", default="head")
    down = _command(sub, "downgrade", "revert migrations down to a revision", cmd_downgrade)
    down.add_argument("revision", help="target revision, e.g. base")
    pub = _command(sub, "publish", "publish staged records into the shared tables", cmd_publish)
    pub.add_argument("--run-id", required=True)
    pub.add_argument("--full", action="store_true", help="reconsider every staged record")
    _command(sub, "freshness", "fail when a source is staler than its limit", cmd_freshness)
    cat = _command(sub, "catalogue", "generate the data dictionary and COMMENTs", cmd_catalogue)
    cat.add_argument("--docs", default="docs", help="where data-dictionary.md/.html go")
    cat.add_argument("--apply-comments", action="store_true",
                     help="also COMMENT ON the tables of the warehouse (PostgreSQL)")
    trace = _command(sub, "trace", "where a published row came from (lineage)", cmd_trace)
    trace.add_argument("table", help="hotline_ticket, grid_event or community_worker")
    trace.add_argument("key", help="the row's key (ticket_id, event_id, source_record_id)")
    trace.add_argument("--as-department", metavar="KEY",
                       help="show personal data as this department of the access file sees "
                            "it (default: all of it masked)")
    trace.add_argument("--access", help="access file (default GOVSHARE_ACCESS)")
    roles = _command(sub, "roles", "create the pipeline's non-superuser role (PostgreSQL)",
                     cmd_roles)
    roles.add_argument("--pipeline-role", default="govshare_pipeline",
                       help="its name (default govshare_pipeline)")
    roles.add_argument("--reason", required=True, help="why (recorded in audit.grant_log)")


def cmd_roles(args) -> int:
    from warehouse.access import apply_pipeline_role

    changes = apply_pipeline_role(_engine(args), args.pipeline_role, reason=args.reason)
    for change in changes:
        print(change)
    print(f"{len(changes)} change(s)")
    return 0


def cmd_access_apply(args) -> int:
    from warehouse.access import apply_access, load_access

    changes = apply_access(_engine(args), load_access(args.access or access_path()), reason=args.reason)
    for change in changes:
        print(change)
    print(f"{len(changes)} change(s)")
    return 0


def cmd_who_can_see(args) -> int:
    from warehouse.access import load_access, who_can_see

    frame = who_can_see(_engine(args), load_access(args.access or access_path()), args.resident_id)
    print(frame.to_string(index=False) if len(frame) else "no department sees this resident")
    return 0


def add_access_parser(subparsers) -> None:
    parser = subparsers.add_parser("access", help="department roles, views, grants, audit")
    sub = parser.add_subparsers(dest="access_command", required=True)
    apply = _command(sub, "apply", "make roles, views and grants match the access file", cmd_access_apply, access=True)
    apply.add_argument("--reason", required=True, help="why (recorded in audit.grant_log)")
    who = _command(sub, "who-can-see", "departments that can see a resident's data", cmd_who_can_see, access=True)
    who.add_argument("resident_id")


def cmd_export(args) -> int:
    from warehouse.access import export_table, load_access

    rows = export_table(_engine(args), load_access(args.access or access_path()), args.department, args.table,
                        Path(args.out), args.reason)
    print(f"{rows} rows written to {args.out} (logged in audit.grant_log)")
    return 0


def add_export_parser(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export a table as a department sees it (CSV)")
    _add_url(parser)
    parser.add_argument("--access", help="access file (default GOVSHARE_ACCESS)")
    parser.add_argument("--department", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--reason", required=True, help="why (recorded in audit.grant_log)")
    parser.set_defaults(func=cmd_export)
