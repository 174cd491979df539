"""The simulated 12345 hotline server against contracts/hotline.md and its OpenAPI file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import requests
from hotline_support import (
    TOKEN,
    expected_window,
    period_start,
    validate_against_contract,
)

from simulator.hotline_server import Faults, serve_hotline


@pytest.fixture(scope="module")
def server(hotline_out):
    with serve_hotline(hotline_out / "hotline" / "tickets.sqlite", token=TOKEN) as handle:
        yield handle


def session(token: str | None = TOKEN) -> requests.Session:
    s = requests.Session()
    if token is not None:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def window_params(since, until, page_size: int) -> dict:
    return {"updated_since": since.isoformat(), "updated_until": until.isoformat(),
            "page_size": page_size}


def read_all(url: str, params: dict, validate: bool = False) -> tuple[list[str], int]:
    """Raw ticket texts of every page, and the number of pages."""
    s = session()
    tickets, pages, token = [], 0, None
    while True:
        response = s.get(f"{url}/v1/tickets",
                         params={**params, **({"page_token": token} if token else {})})
        assert response.status_code == 200, response.text
        if validate:
            validate_against_contract(response)
        page = response.json()
        assert set(page) == {"tickets", "next_page_token"}
        assert len(page["tickets"]) <= params["page_size"]
        tickets += [json.dumps(t, ensure_ascii=False, separators=(",", ":"))
                    for t in page["tickets"]]
        pages += 1
        token = page["next_page_token"]
        if token is None:
            return tickets, pages


def test_every_page_and_ticket_matches_the_contract(server, emitted):
    since, until = period_start() - timedelta(days=1), period_start() + timedelta(days=40)
    tickets, pages = read_all(server.url, window_params(since, until, 9), validate=True)
    assert pages == -(-len(tickets) // 9) and len(tickets) == emitted["source_record_id"].nunique()
    s = session()
    for ticket_id in sorted(emitted["source_record_id"].unique())[:25]:
        response = s.get(f"{server.url}/v1/tickets/{ticket_id}")
        assert response.status_code == 200
        validate_against_contract(response)
        assert response.json()["ticket_id"] == ticket_id


def test_bodies_are_the_stored_versions_byte_for_byte(server, emitted):
    since, until = period_start(), period_start() + timedelta(hours=30)
    tickets, _ = read_all(server.url, window_params(since, until, 1000))
    expected = expected_window(emitted, since, until)
    # The stored bodies are compact UTF-8 JSON, so re-serialising compactly gives them back.
    assert [hashlib.sha256(t.encode()).hexdigest() for t in tickets] == \
        expected["content_sha256"].tolist()


@pytest.mark.parametrize("page_size", [1, 7, 1000])
def test_paging_returns_the_window_exactly_once_in_order(server, emitted, page_size):
    since = period_start() + timedelta(hours=20)
    until = since + timedelta(hours=26)
    tickets, pages = read_all(server.url, window_params(since, until, page_size))
    expected = expected_window(emitted, since, until)
    got = [json.loads(t) for t in tickets]
    assert [t["ticket_id"] for t in got] == expected["source_record_id"].tolist()
    assert [t["updated_at"] for t in got] == expected["version"].tolist()
    assert pages == max(1, -(-len(expected) // page_size))


def test_a_ticket_changed_after_the_window_shows_its_older_version(server, emitted):
    until = period_start() + timedelta(days=1, hours=12)
    later = emitted[emitted["at"] > until]
    earlier = emitted[emitted["at"] <= until]
    changed = sorted(set(later["source_record_id"]) & set(earlier["source_record_id"]))
    assert changed, "the tiny city has tickets that change across the cut"
    first, _ = read_all(server.url, window_params(period_start(), until, 50))
    seen = {json.loads(t)["ticket_id"]: json.loads(t) for t in first}
    second, _ = read_all(server.url, window_params(until, until + timedelta(days=30), 50))
    seen_later = {json.loads(t)["ticket_id"]: json.loads(t) for t in second}
    for ticket_id in changed:
        versions = emitted[emitted["source_record_id"] == ticket_id]
        as_of_cut = versions[versions["at"] <= until]["version"].max()
        final = versions["version"].max()
        assert seen[ticket_id]["updated_at"] == as_of_cut
        assert seen_later[ticket_id]["updated_at"] == final


def test_single_ticket_is_its_latest_version_and_unknown_is_404(server, emitted):
    ticket_id = emitted["source_record_id"].iloc[0]
    latest = emitted[emitted["source_record_id"] == ticket_id].sort_values("at").iloc[-1]
    response = session().get(f"{server.url}/v1/tickets/{ticket_id}")
    assert response.json()["updated_at"] == latest["version"]
    missing = session().get(f"{server.url}/v1/tickets/HL19990101000001")
    assert missing.status_code == 404
    validate_against_contract(missing)


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_missing_or_wrong_token_is_401(server, token):
    params = window_params(period_start(), period_start() + timedelta(days=1), 10)
    response = session(token).get(f"{server.url}/v1/tickets", params=params)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    validate_against_contract(response)


@pytest.mark.parametrize("params", [
    {"updated_until": "2026-11-02T00:00:00+08:00"},
    {"updated_since": "yesterday"},
    {"updated_since": "2026-11-01T00:00:00+08:00", "updated_until": "2026-13-01"},
    {"updated_since": "2026-11-02T00:00:00+08:00", "updated_until": "2026-11-01T00:00:00+08:00"},
    {"updated_since": "2026-11-01T00:00:00+08:00", "page_size": "0"},
    {"updated_since": "2026-11-01T00:00:00+08:00", "page_size": "1001"},
    {"updated_since": "2026-11-01T00:00:00+08:00", "page_size": "ten"},
    {"updated_since": "2026-11-01T00:00:00+08:00", "page_token": "not-a-token"},
])
def test_bad_parameters_are_400(server, params):
    response = session().get(f"{server.url}/v1/tickets", params=params)
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_page_token_only_works_with_the_parameters_it_was_issued_for(server):
    params = window_params(period_start(), period_start() + timedelta(days=3), 5)
    first = session().get(f"{server.url}/v1/tickets", params=params).json()
    token = first["next_page_token"]
    assert token
    same = session().get(f"{server.url}/v1/tickets", params={**params, "page_token": token})
    assert same.status_code == 200
    for changed in ({"page_size": 6}, {"updated_until": "2026-11-05T00:00:00+08:00"}):
        other = session().get(f"{server.url}/v1/tickets",
                              params={**params, **changed, "page_token": token})
        assert other.status_code == 400


def test_concurrent_clients_all_get_the_whole_window(server, emitted):
    since, until = period_start(), period_start() + timedelta(days=10)
    expected = expected_window(emitted, since, until)["source_record_id"].tolist()
    results: list[list[str]] = []

    def client():
        tickets, _ = read_all(server.url, window_params(since, until, 4))
        results.append([json.loads(t)["ticket_id"] for t in tickets])

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 6


def statuses(url: str, n: int) -> list[int | str]:
    s = session()
    out: list[int | str] = []
    for _ in range(n):
        try:
            out.append(s.get(f"{url}/v1/tickets/HL19990101000001", timeout=5).status_code)
        except requests.ConnectionError:
            out.append("dropped")
    return out


def test_faults_are_seeded_and_switchable(hotline_out):
    faults = Faults(rate_429=0.2, rate_503=0.2, rate_drop=0.2, seed=7)
    store = hotline_out / "hotline" / "tickets.sqlite"
    with serve_hotline(store, token=TOKEN, faults=faults) as one, \
            serve_hotline(store, token=TOKEN, faults=faults) as two:
        first, second = statuses(one.url, 40), statuses(two.url, 40)
        assert first == second
        assert {429, 503, "dropped", 404} <= set(first)
        assert [r.fault for r in one.request_log].count("drop") == first.count("dropped")
        one.faults = Faults()
        assert set(statuses(one.url, 10)) == {404}


def test_429_carries_retry_after(hotline_out):
    faults = Faults(rate_429=1.0, retry_after_seconds=3)
    with serve_hotline(hotline_out / "hotline" / "tickets.sqlite", token=TOKEN,
                       faults=faults) as handle:
        response = session().get(f"{handle.url}/v1/tickets/HL19990101000001")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        validate_against_contract(response)


def test_more_than_the_rate_limit_per_second_gets_429(hotline_out):
    with serve_hotline(hotline_out / "hotline" / "tickets.sqlite", token=TOKEN,
                       faults=Faults(max_requests_per_second=5)) as handle:
        assert statuses(handle.url, 6) == [404] * 5 + [429]
        limited = [r for r in handle.request_log if r.fault == "rate_limit"]
        assert len(limited) == 1 and limited[0].status == 429
        time.sleep(1.05)
        assert statuses(handle.url, 1) == [404]


def test_truncated_body_is_a_failed_read_for_the_client(hotline_out):
    with serve_hotline(hotline_out / "hotline" / "tickets.sqlite", token=TOKEN,
                       faults=Faults(rate_truncate=1.0)) as handle:
        params = window_params(period_start(), period_start() + timedelta(days=3), 50)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            session().get(f"{handle.url}/v1/tickets", params=params)


def test_stopped_server_refuses_connections(hotline_out):
    handle = serve_hotline(hotline_out / "hotline" / "tickets.sqlite", token=TOKEN)
    s = session()
    assert s.get(f"{handle.url}/v1/tickets/HL19990101000001").status_code == 404
    handle.stop()
    with pytest.raises(requests.ConnectionError):
        s.get(f"{handle.url}/v1/tickets/HL19990101000001", timeout=2)


def test_command_line_serves_until_stopped(hotline_out):
    store = hotline_out / "hotline" / "tickets.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.hotline_server", str(store), "--port", "0",
         "--token", TOKEN], stdout=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        url = banner.split(" at ")[1].split("/v1/")[0]
        assert session().get(f"{url}/v1/tickets/HL19990101000001").status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)
