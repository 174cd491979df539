"""Open311 end to end, on each warehouse engine: the 200 real Boston and New York 311
requests (tests/data/real-311) are extracted from the local GeoReport v2 server, validated by
their own suite (expectations/rules/open311.requests.yaml), and published into
`shared.hotline_ticket` beside the 12345 tickets with `source = open311.requests`, carrying
what the hotline indicators read: received_at, status, resolved_at and the divisions."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from contract_strategies import write_reference
from open311_expected import expected_requests
from open311_server import EASTERN, Open311Server, boston_requests, nyc_requests

from common.sources import OPEN311
from pipeline.extraction import extract
from pipeline.publication import publish
from pipeline.staging import validate_and_load
from simulator.hotline_server import NO_FAULTS, ServerHandle

pytest.importorskip("great_expectations")

SINCE, UNTIL = datetime(2007, 1, 1, tzinfo=EASTERN), datetime(2030, 1, 1, tzinfo=EASTERN)
RUN_DATE = date(2029, 12, 31)  # the window's last day (connectors.base.Window.run_date)

# Requests no GeoReport v2 endpoint may send, and the rule that must quarantine each.
BROKEN = {
    "900000000001": ({"status": "pending"}, "status.allowed"),
    "900000000002": ({"requested_datetime": "2022-01-21T13:47:00-0500"},  # not W3C-DTF
                     "requested_datetime.is_timestamp"),
    "900000000003": ({"service_code": None}, "service_code.present"),
}


def serve(extra: list[dict] | None = None) -> ServerHandle:
    return ServerHandle(Open311Server(("127.0.0.1", 0),
                                      boston_requests() + nyc_requests() + (extra or []),
                                      NO_FAULTS))


def broken_requests() -> list[dict]:
    template = boston_requests()[1]
    return [template | {"service_request_id": key} | change
            for key, (change, _) in BROKEN.items()]


def run_pipeline(url: str, warehouse_url: str, tmp_path) -> dict:
    config = {"warehouse_url": warehouse_url, "landing_root": str(tmp_path / "landing"),
              "data_docs_dir": str(tmp_path / "docs"),
              "reference": {"root": str(write_reference(tmp_path / "reference"))},
              "hotline": {"dialect": "open311", "base_url": url, "page_size": 40,
                          "overlap_seconds": 0, "max_requests_per_second": 200,
                          "timezone": "America/New_York"}}
    landed = extract(OPEN311, SINCE, UNTIL, "run-1", config)
    staged = validate_and_load(OPEN311, RUN_DATE, "run-1", config)
    return {"landed": landed, "staged": staged, "published": publish(config, "run-1")}


def query(warehouse_url: str, sql: str, **params) -> pd.DataFrame:
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(sa.text(sql), params).mappings().all())
    engine.dispose()
    return frame


def test_real_311_requests_are_validated_and_published_as_tickets(warehouse_url, tmp_path):
    expected = expected_requests()
    with serve() as server:
        counts = run_pipeline(server.url, warehouse_url, tmp_path)
    assert counts["landed"]["landed"] == 200
    assert counts["staged"]["staged"] == 200 and counts["staged"]["quarantine_rows"] == 0
    assert counts["published"][OPEN311] == {"received": 200, "changed": 200}
    tickets = query(warehouse_url, "SELECT * FROM shared.hotline_ticket").set_index("ticket_id")
    assert sorted(tickets.index) == sorted(expected)
    assert set(tickets["source"]) == {OPEN311}
    for request_id, want in expected.items():
        ticket = tickets.loc[request_id]
        assert pd.Timestamp(ticket["received_at"]) == pd.Timestamp(want["requested_datetime"])
        assert ticket["status"] == {"open": "处理中", "closed": "已办结"}[want["status"]]
        if want["status"] == "closed":
            changed = want["updated_datetime"] or want["requested_datetime"]
            assert pd.Timestamp(ticket["resolved_at"]) == pd.Timestamp(changed)
        else:
            assert pd.isna(ticket["resolved_at"])
    # US addresses name no division of this city: counted for the city, in no community.
    assert set(tickets["division_basis"]) == {"none"}
    assert tickets["community_code"].isna().all()
    assert (tickets["dispatch_count"] == 0).all()
    # Lineage: each row traces to its staged version.
    staged = query(warehouse_url, "SELECT source_record_id, content_hash FROM "
                   "staging.record_version WHERE source = :s", s=OPEN311)
    assert dict(zip(staged["source_record_id"], staged["content_hash"])) == \
        tickets["content_hash"].to_dict()


def test_invalid_requests_are_quarantined_with_their_rule_and_the_rest_publishes(
        warehouse_url, tmp_path):
    with serve(broken_requests()) as server:
        counts = run_pipeline(server.url, warehouse_url, tmp_path)
    assert counts["landed"]["landed"] == 203
    assert counts["staged"]["staged"] == 200 and counts["staged"]["quarantine_rows"] == 3
    held = query(warehouse_url, "SELECT source_record_id, rules, reason FROM shared.quarantine "
                 "WHERE source = :s", s=OPEN311).set_index("source_record_id")
    assert sorted(held.index) == sorted(BROKEN)
    for key, (_, rule) in BROKEN.items():
        assert held.loc[key, "rules"] == rule and rule in held.loc[key, "reason"]
    published = query(warehouse_url, "SELECT count(*) AS n FROM shared.hotline_ticket "
                      "WHERE source = :s", s=OPEN311)
    assert int(published["n"].iloc[0]) == 200
