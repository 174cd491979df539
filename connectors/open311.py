"""The Open311 GeoReport v2 dialect of a citizen hotline (open311.org, GeoReport/v2).

`GET {base}/requests.json?start_date=&end_date=&page=&page_size=` returns a JSON array of
service requests; pages are read until one comes back shorter than `page_size`. Each
request is landed exactly as received under source `open311.requests`, keyed by
`service_request_id`, with the same retry, rate-limit and watermark machinery as the 12345
connector (`connectors.rest`).

GeoReport v2 filters `start_date`/`end_date` on `requested_datetime`, not on the last
update, so the watermark follows `requested_datetime`; set `overlap_seconds` to how far
back status changes should be re-read (e.g. 30 days). `normalise()` maps landed requests to
the hotline ticket's shape for the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pandas as pd

from connectors.rest import RawRecord, RestConnector, parse_instant, split_array

REQUESTS_PATH = "/requests.json"

# Service-request fields of GeoReport v2; anything else is schema drift.
REQUEST_FIELDS = frozenset({
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url", "token",
})

# Open311 knows only open and closed; the nearest hotline statuses.
TICKET_STATUS = {"open": "处理中", "closed": "已办结"}


class Open311Connector(RestConnector):
    source = "open311.requests"
    key_field = "service_request_id"
    version_field = "updated_datetime"  # falls back to requested_datetime (never updated)
    watermark_field = "requested_datetime"
    landed_fields = ("service_request_id", "requested_datetime", "updated_datetime")
    known_fields = REQUEST_FIELDS

    def version_of(self, value: dict) -> datetime | None:
        return parse_instant(value.get("updated_datetime")) or \
            parse_instant(value.get("requested_datetime"))

    def pages(self, since: datetime, until: datetime) -> Iterator[list[RawRecord]]:
        page = 1
        while True:
            params = {"start_date": since.isoformat(), "end_date": until.isoformat(),
                      "page": page, "page_size": self.config.page_size}
            items = self.client.get(REQUESTS_PATH, params, lambda text: split_array(
                text, self.config.limits.max_json_depth))
            yield [RawRecord(raw, value) for raw, value in items]
            if len(items) < self.config.page_size:
                return
            page += 1


def _utc(values: pd.Series) -> pd.Series:
    """ISO 8601 strings with any offset as UTC timestamps (unreadable -> NaT)."""
    return pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")


def normalise(landed: pd.DataFrame) -> pd.DataFrame:
    """Landed Open311 requests (their `raw` column) in the hotline ticket's shape:
    ticket_id, received_at, updated_at, status (mapped), category_code, category, content,
    address_text, lat, lon, resolved_at, due_at, agency. Times are UTC timestamps."""
    requests = pd.DataFrame([json.loads(raw) for raw in landed["raw"]],
                            columns=sorted(REQUEST_FIELDS))
    received = _utc(requests["requested_datetime"])
    updated = _utc(requests["updated_datetime"]).fillna(received)
    status = requests["status"].astype("str").str.lower().map(TICKET_STATUS)
    return pd.DataFrame({
        "ticket_id": requests["service_request_id"].astype("str"),
        "received_at": received,
        "updated_at": updated,
        "status": status,
        "category_code": requests["service_code"],
        "category": requests["service_name"],
        "content": requests["description"],
        "address_text": requests["address"],
        "lat": pd.to_numeric(requests["lat"], errors="coerce"),
        "lon": pd.to_numeric(requests["long"], errors="coerce"),
        "resolved_at": updated.where(status == "已办结"),
        "due_at": _utc(requests["expected_datetime"]),
        "agency": requests["agency_responsible"],
    })
