"""The Open311 connector against a local GeoReport v2 server holding 200 real 311 records.

Expected values come from tests/open311_expected.py (the CSV files and the US daylight-saving
rule written out by hand), not from the server's zoneinfo conversion.
"""

from __future__ import annotations

import json
import random
from datetime import datetime

import pandas as pd
import pytest
import requests
from open311_expected import expected_requests
from open311_server import EASTERN, serve_open311

from connectors.base import Window
from connectors.landing import RawLanding
from connectors.open311 import Open311Connector, normalise
from simulator.hotline_server import Faults

SOURCE = "open311.requests"


class MemoryState:
    def __init__(self):
        self.marks: dict[str, str] = {}

    def get_watermark(self, source):
        return self.marks.get(source)

    def set_watermark(self, source, value, run_id):
        self.marks[source] = value


def connector(url: str, **config) -> Open311Connector:
    settings = {"base_url": url, "page_size": 7, "max_requests_per_second": 200,
                "overlap_seconds": 0, "backoff_base": 0.01, "backoff_max": 0.1,
                "timezone": "America/New_York"} | config
    return Open311Connector(settings, rng=random.Random(2))


ALL_YEARS = Window(datetime(2007, 1, 1, tzinfo=EASTERN), datetime(2030, 1, 1, tzinfo=EASTERN))


def landed_requests(report) -> dict[str, dict]:
    part = pd.read_parquet(report.files[0])
    assert part["service_request_id"].is_unique
    return {row.service_request_id: json.loads(row.raw) for row in part.itertuples()}


def test_lands_every_real_record_with_its_times_and_status(tmp_path):
    expected = expected_requests()
    assert len(expected) == 200
    with serve_open311() as server:
        report = connector(server.url).extract(ALL_YEARS, RawLanding(tmp_path), MemoryState(),
                                               "run-all")
    landed = landed_requests(report)
    assert sorted(landed) == sorted(expected)
    for request_id, want in expected.items():
        got = landed[request_id]
        for field, value in want.items():
            assert got[field] == value, (request_id, field)
    offsets = {landed[i]["requested_datetime"][-6:] for i in landed}
    assert offsets == {"-04:00", "-05:00"}  # the sample crosses daylight-saving time
    assert report.received == report.landed == 200
    assert report.notes["pages"] == 200 // 7 + 1
    assert report.schema_drift == [] and report.quarantined == []


def test_faults_still_land_every_record_exactly_once(tmp_path):
    faults = Faults(rate_429=0.1, retry_after_seconds=2, rate_503=0.1, rate_drop=0.1,
                    rate_truncate=0.1, seed=4)
    waited: list[float] = []
    with serve_open311(faults) as server:
        flaky = Open311Connector({"base_url": server.url, "page_size": 9, "overlap_seconds": 0,
                                  "max_requests_per_second": 100, "backoff_base": 0.01,
                                  "backoff_max": 0.1},
                                 sleep=waited.append, rng=random.Random(1))
        report = flaky.extract(ALL_YEARS, RawLanding(tmp_path), MemoryState(), "run-flaky")
        faults_seen = [r.fault for r in server.request_log if r.fault]
    assert sorted(landed_requests(report)) == sorted(expected_requests())
    assert len(faults_seen) == report.notes["retries"] > 0
    assert waited.count(2.0) == faults_seen.count("429") > 0  # Retry-After: 2, honoured


def test_a_window_holds_the_requests_made_in_it_and_moves_the_watermark(tmp_path):
    window = Window(datetime(2019, 1, 1, tzinfo=EASTERN), datetime(2020, 1, 1, tzinfo=EASTERN))
    in_window = {i: r for i, r in expected_requests().items()
                 if window.since <= datetime.fromisoformat(r["requested_datetime"])
                 <= window.until}
    state = MemoryState()
    with serve_open311() as server:
        report = connector(server.url).extract(window, RawLanding(tmp_path), state, "run-2019")
    assert sorted(landed_requests(report)) == sorted(in_window)
    latest = max(in_window.values(), key=lambda r: datetime.fromisoformat(
        r["requested_datetime"]))["requested_datetime"]
    assert state.marks[SOURCE] == latest
    assert report.files[0].endswith(
        "open311.requests/run_date=2019-12-31/w20190101T000000-20200101T000000.parquet")


def test_normalise_gives_the_hotline_ticket_shape(tmp_path):
    expected = expected_requests()
    with serve_open311() as server:
        report = connector(server.url).extract(ALL_YEARS, RawLanding(tmp_path), MemoryState(),
                                               "run-shape")
    tickets = normalise(pd.read_parquet(report.files[0])).set_index("ticket_id")
    assert len(tickets) == 200
    for request_id, want in expected.items():
        ticket = tickets.loc[request_id]
        assert ticket["received_at"] == pd.Timestamp(want["requested_datetime"])
        assert str(ticket["received_at"].tz) == "UTC"
        assert ticket["status"] == {"open": "处理中", "closed": "已办结"}[want["status"]]
        updated = want["updated_datetime"] or want["requested_datetime"]
        assert ticket["updated_at"] == pd.Timestamp(updated)
        if want["status"] == "closed":
            assert ticket["resolved_at"] == pd.Timestamp(updated)
        else:
            assert pd.isna(ticket["resolved_at"])
    assert tickets["lat"].dtype == "float64"


@pytest.mark.parametrize("params", [{"page": "0"}, {"page_size": "5000"},
                                    {"start_date": "not a date"}])
def test_server_rejects_bad_parameters(params):
    with serve_open311() as server:
        assert requests.get(f"{server.url}/requests.json", params=params).status_code == 400
