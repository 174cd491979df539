"""A local Open311 GeoReport v2 server built from the real 311 samples in
tests/data/real-311 (Boston and New York City; see the README there for their origin).

Each city's local times (both cities are on America/New_York) become ISO 8601 with the
UTC offset in force at that moment, daylight saving included. `GET /requests.json` filters
`requested_datetime` by `start_date`/`end_date` (inclusive, as GeoReport v2 says) and pages
with `page` (from 1) and `page_size`, ordered by requested time and id. Faults come from the
hotline simulator's fault machinery.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from simulator.hotline_server import (
    NO_FAULTS,
    Faults,
    FaultyHTTPServer,
    FaultyRequestHandler,
    HTTPFailure,
    ServerHandle,
    parse_timestamp,
)

DATA = Path(__file__).parent / "data" / "real-311"
EASTERN = ZoneInfo("America/New_York")
BOSTON_FORMAT = "%Y-%m-%d %H:%M:%S"
NYC_FORMAT = "%m/%d/%Y %I:%M:%S %p"


def local_iso(text: str, fmt: str) -> str | None:
    """A local wall-clock time as ISO 8601 with its UTC offset (None when blank)."""
    text = text.strip()
    if not text:
        return None
    return datetime.strptime(text, fmt).replace(tzinfo=EASTERN).isoformat()


def _blank_to_none(text: str) -> str | None:
    text = " ".join(text.split())
    return text or None


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def boston_requests(path: Path = DATA / "boston311-100.csv") -> list[dict]:
    return [{
        "service_request_id": row["case_enquiry_id"],
        "status": "closed" if row["case_status"] == "Closed" else "open",
        "status_notes": _blank_to_none(row["closure_reason"]),
        "service_name": row["type"],
        "service_code": row["type"],
        "description": _blank_to_none(row["case_title"]),
        "agency_responsible": row["department"],
        "requested_datetime": local_iso(row["open_dt"], BOSTON_FORMAT),
        "updated_datetime": local_iso(row["closed_dt"], BOSTON_FORMAT),
        "expected_datetime": local_iso(row["target_dt"], BOSTON_FORMAT),
        "address": _blank_to_none(row["location"]),
        "lat": _number(row["latitude"]),
        "long": _number(row["longitude"]),
    } for row in _rows(path)]


def nyc_requests(path: Path = DATA / "nyc311-100.csv") -> list[dict]:
    return [{
        "service_request_id": row["Unique Key"],
        "status": "closed" if row["Status"] == "Closed" else "open",
        "status_notes": _blank_to_none(row["Resolution Description"]),
        "service_name": row["Complaint Type"],
        "service_code": row["Complaint Type"],
        "description": _blank_to_none(row["Descriptor"]),
        "agency_responsible": row["Agency"],
        "requested_datetime": local_iso(row["Created Date"], NYC_FORMAT),
        "updated_datetime": local_iso(row["Resolution Action Updated Date"], NYC_FORMAT)
        or local_iso(row["Closed Date"], NYC_FORMAT),
        "expected_datetime": local_iso(row["Due Date"], NYC_FORMAT),
        "address": _blank_to_none(row["Incident Address"]),
        "lat": _number(row["Latitude"]),
        "long": _number(row["Longitude"]),
    } for row in _rows(path)]


class Open311RequestHandler(FaultyRequestHandler):
    server_version = "Open311Test/1.0"
    server: Open311Server

    def route(self, path: str, query: dict[str, list[str]]) -> str:
        if path != "/requests.json":
            raise HTTPFailure(404, "no such resource")
        self.page_latency()
        start, end = (self.single(query, name) for name in ("start_date", "end_date"))
        low = parse_timestamp("start_date", start).timestamp() if start else float("-inf")
        high = parse_timestamp("end_date", end).timestamp() if end else float("inf")
        try:
            page = int(self.single(query, "page") or 1)
            size = int(self.single(query, "page_size") or 50)
        except ValueError:
            raise HTTPFailure(400, "page and page_size must be integers") from None
        if page < 1 or not 1 <= size <= 1000:
            raise HTTPFailure(400, "page must be >= 1 and page_size 1..1000")
        chosen = [body for at, body in self.server.requests if low <= at <= high]
        return "[" + ",".join(chosen[(page - 1) * size: page * size]) + "]"


class Open311Server(FaultyHTTPServer):
    def __init__(self, address, requests: list[dict], faults: Faults):
        super().__init__(address, Open311RequestHandler, None, faults)
        ordered = sorted(requests, key=lambda r: (
            datetime.fromisoformat(r["requested_datetime"]), r["service_request_id"]))
        self.requests = [(datetime.fromisoformat(r["requested_datetime"]).timestamp(),
                          json.dumps(r, ensure_ascii=False)) for r in ordered]


def serve_open311(faults: Faults = NO_FAULTS, host: str = "127.0.0.1") -> ServerHandle:
    """Serve both cities' samples on a free port."""
    return ServerHandle(Open311Server((host, 0), boston_requests() + nyc_requests(), faults))
