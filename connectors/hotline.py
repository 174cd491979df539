"""The 12345 hotline connector (contracts/hotline.md, hotline.openapi.yaml).

Pages `GET /v1/tickets` by `updated_since`/`updated_until` with the opaque page token to
the end, and lands each ticket's JSON text exactly as received, beside its `ticket_id` and
`updated_at`, under source `hotline.tickets`. Retries, rate limiting, dedupe and the
watermark are the shared REST machinery (`connectors.rest`).

Config keys: base_url, token, page_size, timeout ([connect, read]), max_requests_per_second,
max_retries, backoff_base, backoff_max, overlap_seconds (and timezone of naive windows).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from connectors.rest import RawRecord, RestConnector, split_envelope

TICKETS_PATH = "/v1/tickets"

# The Ticket schema's properties in hotline.openapi.yaml; anything else is schema drift.
TICKET_FIELDS = frozenset({
    "ticket_id", "channel", "received_at", "type", "urgency", "category_code", "category",
    "title", "content", "caller", "anonymous", "address_text", "lat", "lon", "district_code",
    "street_code", "community_code", "status", "dispatches", "whistle", "first_contact_at",
    "resolved_at", "callback", "related_grid_event_id", "updated_at",
})


class HotlineConnector(RestConnector):
    source = "hotline.tickets"
    key_field = "ticket_id"
    version_field = "updated_at"
    watermark_field = "updated_at"
    landed_fields = ("ticket_id", "updated_at")
    known_fields = TICKET_FIELDS

    def pages(self, since: datetime, until: datetime) -> Iterator[list[RawRecord]]:
        params = {"updated_since": since.isoformat(), "updated_until": until.isoformat(),
                  "page_size": self.config.page_size}
        while True:
            envelope, items = self.client.get(TICKETS_PATH, params,
                                              lambda text: split_envelope(
                                                  text, "tickets",
                                                  self.config.limits.max_json_depth))
            yield [RawRecord(raw, value) for raw, value in items]
            token = envelope.get("next_page_token")
            if not token:
                return
            params = {**params, "page_token": token}
