"""Shared by the hotline tests: a tiny simulated city's version store, what a window must
return according to the emitter's truth file, the contract's validator, and a version
store of hand-made tickets for the local server (`simulator.hotline_server.serve_hotline`)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from simulator.city import build_city
from simulator.hotline import emit_hotline

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "docs" / "contracts" / "hotline.openapi.yaml"
TOKEN = "test-token-4f9a1c"
SEED = 20261101
PLATFORM_TZ = timezone(timedelta(hours=8))


def build_hotline(out: Path) -> Path:
    """A tiny city's hotline output under `out`: hotline/tickets.sqlite, truth/hotline_*."""
    emit_hotline(build_city(SEED, "tiny"), out)
    return out


def load_emitted(out: Path) -> pd.DataFrame:
    """Every version the emitter wrote, with its instant parsed (UTC) as `at`."""
    truth = pd.read_parquet(out / "truth" / "hotline_emitted.parquet")
    return truth.assign(at=pd.to_datetime(truth["version"], utc=True, format="ISO8601"))


def period_start() -> datetime:
    return datetime(2026, 11, 1, tzinfo=PLATFORM_TZ)  # build_city's default start


def expected_window(emitted: pd.DataFrame, since: datetime, until: datetime) -> pd.DataFrame:
    """Each ticket's latest version as of `until`, for tickets whose that-latest version is
    newer than `since`: what GET /v1/tickets must return, computed from the truth file."""
    known = emitted[emitted["at"] <= pd.Timestamp(until)]
    latest = known.sort_values(["source_record_id", "at"]).groupby("source_record_id").tail(1)
    return latest[latest["at"] > pd.Timestamp(since)].sort_values(["at", "source_record_id"])


_contract: OpenAPI | None = None


def validate_against_contract(response) -> None:
    """Raise if a `requests` response does not match hotline.openapi.yaml."""
    global _contract
    if _contract is None:
        _contract = OpenAPI.from_file_path(CONTRACT)
    _contract.validate_response(RequestsOpenAPIRequest(response.request),
                                RequestsOpenAPIResponse(response))


def write_version_store(path: Path, tickets: list[dict]) -> Path:
    """A hotline version store (what simulator.hotline_server serves) holding `tickets`, each
    as its JSON text, filed under its updated_at."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE versions (ticket_id TEXT, updated_at_utc INTEGER, body TEXT)")
    conn.execute("CREATE INDEX v_order ON versions (updated_at_utc, ticket_id)")
    rows = []
    for ticket in tickets:
        instant = pd.Timestamp(datetime.fromisoformat(ticket["updated_at"]))
        rows.append((ticket["ticket_id"], int(instant.timestamp()),
                     json.dumps(ticket, ensure_ascii=False)))
    conn.executemany("INSERT INTO versions VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return path
