"""Shared by the validation and quarantine tests: a tiny simulated city landed by every
connector, as the daily DAG would land it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from connectors.base import Window
from connectors.grid import GridFileConnector
from connectors.hotline import HotlineConnector
from connectors.landing import RawLanding
from connectors.rosters import RosterConnector
from connectors.sql import SqlTableConnector
from simulator.hotline_server import serve_hotline
from simulator.run import simulate
from warehouse.engine import create_warehouse_engine
from warehouse.schema import create_all
from warehouse.state import StateStore

DEPARTMENT_KEYS = {"civil_affairs.residents": "resident_no",
                   "market_regulation.enterprises": "entity_id",
                   "organization.party_members": "member_no",
                   "organization.unit_reports": "report_id"}
EVERYTHING = Window(datetime(1900, 1, 1), datetime(2026, 12, 1))
TOKEN = "validation-test-token"


def land_simulated_city(out: Path):
    """(simulation folder, landing zone, extract report per source)."""
    sim = out / "sim"
    simulate(sim, scale="tiny", seed=42, progress=lambda message: None)
    engine = create_warehouse_engine(f"duckdb:///{out / 'state.duckdb'}")
    create_all(engine)
    landing, state = RawLanding(out / "landing"), StateStore(engine)
    url = f"duckdb:///{sim / 'departments.duckdb'}"
    reports = {}
    for table, key in DEPARTMENT_KEYS.items():
        reports[table] = SqlTableConnector({"url": url, "table": table, "key": key}).extract(
            EVERYTHING, landing, state, "run-1")
    reports["grid.events"] = GridFileConnector({"root": str(sim)}).extract(
        EVERYTHING, landing, state, "run-1")
    reports["rosters"] = RosterConnector({"root": str(sim)}).extract(
        EVERYTHING, landing, state, "run-1")
    with serve_hotline(sim / "hotline" / "tickets.sqlite", token=TOKEN) as server:
        reports["hotline.tickets"] = HotlineConnector({
            "base_url": server.url, "token": TOKEN, "page_size": 500,
            "max_requests_per_second": 100}).extract(EVERYTHING, landing, state, "run-1")
    engine.dispose()
    return sim, landing, reports
