"""The hotline connector against the simulated server: windows, retries, rate, reruns."""

from __future__ import annotations

import hashlib
import io
import logging
import random
from datetime import timedelta

import pandas as pd
import pytest
import requests
from hotline_support import TOKEN, expected_window, period_start

from common.settings import RestSettings
from connectors.base import Window
from connectors.hotline import HotlineConnector
from connectors.landing import RawLanding
from connectors.rest import RateLimiter, RestClient, SourceError
from simulator.hotline_server import Faults, serve_hotline

SOURCE = "hotline.tickets"


@pytest.fixture
def serve(hotline_out):
    """Start a server over the tiny store with the given faults (stopped after the test)."""
    handles = []

    def start(faults: Faults | None = None):
        handle = serve_hotline(hotline_out / "hotline" / "tickets.sqlite", token=TOKEN,
                               faults=faults or Faults())
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


class MemoryState:
    """The StateStore interface, in memory."""

    def __init__(self, fail_advance_once: bool = False):
        self.marks: dict[str, str] = {}
        self.fail_advance_once = fail_advance_once

    def get_watermark(self, source):
        return self.marks.get(source)

    def set_watermark(self, source, value, run_id):
        # The first mark (the first window's start, saved before the fetch) is kept; the
        # kill comes when the landed records move it forward.
        if self.fail_advance_once and source in self.marks:
            self.fail_advance_once = False
            raise RuntimeError("worker killed before the watermark was saved")
        self.marks[source] = value


class VirtualTime:
    """A clock that moves only when the client sleeps: waits are measured, not spent."""

    def __init__(self):
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_connector(url: str, virtual: VirtualTime | None = None,
                   session: requests.Session | None = None, **config) -> HotlineConnector:
    settings = {"base_url": url, "token": TOKEN, "page_size": 7, "timeout": [2, 10],
                "max_requests_per_second": 50, "max_retries": 8, "backoff_base": 0.01,
                "backoff_max": 0.2, "overlap_seconds": 0} | config
    timing = {"clock": virtual.clock, "sleep": virtual.sleep} if virtual else {}
    return HotlineConnector(settings, session=session, rng=random.Random(5), **timing)


def day_window(day: int, days: int = 1) -> Window:
    since = period_start() + timedelta(days=day)
    return Window(since, since + timedelta(days=days))


def landed_part(path) -> pd.DataFrame:
    return pd.read_parquet(path)


def assert_lands_exactly(path, emitted, since, until):
    """The part holds each ticket of the window once, as its expected version, with the
    body byte-for-byte as the emitter wrote it."""
    part = landed_part(path)
    expected = expected_window(emitted, since, until)
    assert part["ticket_id"].is_unique
    got = part.sort_values("ticket_id")
    want = expected.sort_values("source_record_id")
    assert got["ticket_id"].tolist() == want["source_record_id"].tolist()
    assert got["updated_at"].tolist() == want["version"].tolist()
    assert [hashlib.sha256(raw.encode()).hexdigest() for raw in got["raw"]] == \
        want["content_sha256"].tolist()
    assert (part["_source_record_id"] == part["ticket_id"]).all()


def test_extract_lands_the_window_and_then_advances_the_watermark(serve, emitted, tmp_path):
    handle = serve()
    state, landing, window = MemoryState(), RawLanding(tmp_path), day_window(1)
    report = make_connector(handle.url).extract(window, landing, state, "run-1")
    assert len(report.files) == 1
    assert_lands_exactly(report.files[0], emitted, window.since, window.until)
    expected = expected_window(emitted, window.since, window.until)
    assert report.received == report.landed == len(expected) > 0
    assert report.watermark_before is None
    assert state.marks[SOURCE] == report.watermark_after == expected["version"].iloc[-1]
    assert report.files[0].endswith(
        "records/hotline.tickets/run_date=2026-11-02/w20261102T000000-20261103T000000.parquet")
    assert report.quarantined == [] and report.schema_drift == []


def test_daily_windows_pick_up_every_later_change(serve, emitted, tmp_path):
    handle = serve()
    state, landing = MemoryState(), RawLanding(tmp_path)
    connector = make_connector(handle.url)
    for day in range(-1, 35):
        window = day_window(day)
        report = connector.extract(window, landing, state, f"run-{day}")
        if report.files:
            assert_lands_exactly(report.files[0], emitted, window.since, window.until)
        else:
            assert expected_window(emitted, window.since, window.until).empty
    everything = landing.read_records(SOURCE)
    final = everything.sort_values("updated_at").groupby("ticket_id").tail(1)
    truth = emitted.sort_values("at").groupby("source_record_id").tail(1)
    assert sorted(zip(final["ticket_id"], final["updated_at"], strict=True)) == \
        sorted(zip(truth["source_record_id"], truth["version"], strict=True))


def test_faults_lose_and_duplicate_nothing_and_retry_after_is_honoured(serve, emitted, tmp_path):
    faults = Faults(rate_429=0.12, retry_after_seconds=5, rate_503=0.12, rate_drop=0.12,
                    rate_truncate=0.08, seed=11)
    handle = serve(faults)
    virtual = VirtualTime()
    connector = make_connector(handle.url, virtual, page_size=2)
    window = day_window(0, days=3)
    report = connector.extract(window, RawLanding(tmp_path), MemoryState(), "run-faults")
    assert_lands_exactly(report.files[0], emitted, window.since, window.until)
    log = handle.request_log
    assert {r.fault for r in log} >= {"429", "503", "drop", "truncate"}
    assert report.notes["retries"] == sum(r.fault is not None for r in log)
    # One client, one request at a time: the server's log and the client's starts align.
    starts = list(connector.client.limiter.starts)
    assert len(starts) == len(log)
    for i, entry in enumerate(log[:-1]):
        if entry.fault == "429":
            assert starts[i + 1] - starts[i] >= 5


def test_retry_after_is_honoured_in_real_time(serve, emitted, tmp_path):
    handle = serve(Faults(rate_429=1.0, retry_after_seconds=1))
    session = requests.Session()

    def calm_down_after_first(response, *args, **kwargs):
        handle.faults = Faults()

    session.hooks["response"].append(calm_down_after_first)
    window = day_window(0)
    report = make_connector(handle.url, session=session, page_size=1000).extract(
        window, RawLanding(tmp_path), MemoryState(), "run-real-wait")
    first, second = handle.request_log[:2]
    assert first.status == 429 and second.status == 200
    assert second.arrived - first.arrived >= 1.0
    assert_lands_exactly(report.files[0], emitted, window.since, window.until)


def test_request_rate_never_exceeds_the_limit(serve, emitted, tmp_path):
    handle = serve(Faults(max_requests_per_second=24))
    connector = make_connector(handle.url, page_size=2, max_requests_per_second=20)
    window = day_window(0, days=2)
    report = connector.extract(window, RawLanding(tmp_path), MemoryState(), "run-rate")
    assert_lands_exactly(report.files[0], emitted, window.since, window.until)
    starts = list(connector.client.limiter.starts)
    assert len(starts) > 20
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 1 / 20 - 1e-9
    # Server side: request k arrives before request k+1 starts, so 21 arrivals span at least
    # the 19 intervals between starts k+1 .. k+20, whatever the scheduling jitter.
    arrivals = [r.arrived for r in handle.request_log]
    assert min(b - a for a, b in zip(arrivals, arrivals[20:], strict=False)) >= 19 / 20
    # ... and the server's own limiter (24 a second) never had to refuse one.
    assert not [r for r in handle.request_log if r.fault == "rate_limit"]


def test_rate_limiter_spacing_with_virtual_time():
    virtual = VirtualTime()
    limiter = RateLimiter(7, virtual.clock, virtual.sleep)
    starts = [limiter.acquire() for _ in range(200)]
    assert max(sum(a <= t < a + 1.0 for t in starts) for a in starts) == 7
    assert starts[-1] - starts[0] == pytest.approx(199 / 7)


def test_kill_mid_window_then_rerun_lands_everything_once(serve, emitted, tmp_path):
    handle = serve()
    session = requests.Session()
    responses = []

    def fail_after_three(response, *args, **kwargs):
        responses.append(response.status_code)
        if len(responses) == 3:
            handle.faults = Faults(rate_drop=1.0)

    session.hooks["response"].append(fail_after_three)
    state, landing, window = MemoryState(), RawLanding(tmp_path), day_window(0, days=2)
    dying = make_connector(handle.url, VirtualTime(), session=session, page_size=4,
                           max_retries=2)
    with pytest.raises(SourceError, match="/v1/tickets"):
        dying.extract(window, landing, state, "run-killed")
    assert not (tmp_path / "records").exists()
    assert pd.Timestamp(state.get_watermark(SOURCE)) == window.since  # where history begins

    handle.faults = Faults()
    report = make_connector(handle.url, page_size=4).extract(window, landing, state, "run-2")
    assert_lands_exactly(report.files[0], emitted, window.since, window.until)
    assert len(list((tmp_path / "records").rglob("*.parquet"))) == 1


def test_killed_after_landing_before_the_watermark_rerun_replaces_the_part(serve, emitted,
                                                                          tmp_path):
    handle = serve()
    state, landing, window = MemoryState(fail_advance_once=True), RawLanding(tmp_path), day_window(1)
    with pytest.raises(RuntimeError):
        make_connector(handle.url).extract(window, landing, state, "run-1")
    assert pd.Timestamp(state.get_watermark(SOURCE)) == window.since
    report = make_connector(handle.url).extract(window, landing, state, "run-2")
    assert len(list((tmp_path / "records").rglob("*.parquet"))) == 1
    assert_lands_exactly(report.files[0], emitted, window.since, window.until)
    assert state.get_watermark(SOURCE) == report.watermark_after


def test_rerunning_an_old_window_lands_it_again_and_keeps_the_watermark(serve, emitted,
                                                                       tmp_path):
    handle = serve()
    state, landing = MemoryState(), RawLanding(tmp_path)
    connector = make_connector(handle.url)
    first = connector.extract(day_window(0), landing, state, "run-0")
    for day in (1, 2):
        connector.extract(day_window(day), landing, state, f"run-{day}")
    mark = state.get_watermark(SOURCE)
    again = connector.extract(day_window(0), landing, state, "run-0-again")
    assert again.files == first.files
    assert_lands_exactly(again.files[0], emitted, day_window(0).since, day_window(0).until)
    assert state.get_watermark(SOURCE) == mark


def test_a_late_run_catches_up_from_the_watermark(serve, emitted, tmp_path):
    handle = serve()
    state, landing = MemoryState(), RawLanding(tmp_path)
    connector = make_connector(handle.url)
    connector.extract(day_window(0), landing, state, "run-0")
    mark = state.get_watermark(SOURCE)
    skipped_to = day_window(2)  # day 1 never ran
    report = connector.extract(skipped_to, landing, state, "run-2")
    assert report.notes["requested_since"] == mark
    assert_lands_exactly(report.files[0], emitted, pd.Timestamp(mark), skipped_to.until)


def test_a_failed_first_run_is_caught_up_by_the_next_day(serve, emitted, tmp_path):
    """No watermark yet and day 0's run fails beyond its retries: day 1's run asks from
    day 0's start (saved before the failed fetch) and lands both days."""
    handle = serve(Faults(rate_503=1.0))
    state, landing = MemoryState(), RawLanding(tmp_path)
    with pytest.raises(SourceError, match="503"):
        make_connector(handle.url, VirtualTime(), max_retries=2).extract(
            day_window(0), landing, state, "run-0")
    assert not (tmp_path / "records").exists()
    handle.faults = Faults()
    report = make_connector(handle.url).extract(day_window(1), landing, state, "run-1")
    assert pd.Timestamp(report.notes["requested_since"]) == day_window(0).since
    assert_lands_exactly(report.files[0], emitted, day_window(0).since, day_window(1).until)


def test_overlap_rereads_before_the_watermark(serve, emitted, tmp_path):
    handle = serve()
    state, landing = MemoryState(), RawLanding(tmp_path)
    connector = make_connector(handle.url, overlap_seconds=6 * 3600)
    connector.extract(day_window(0), landing, state, "run-0")
    mark = pd.Timestamp(state.get_watermark(SOURCE))
    report = connector.extract(day_window(1), landing, state, "run-1")
    since = mark - pd.Timedelta(hours=6)
    assert pd.Timestamp(report.notes["requested_since"]) == since
    # The overlap re-read versions that run-0 landed: they are not landed again.
    reread = expected_window(emitted, since, day_window(1).until)
    first = landed_part(landing.part_files(SOURCE, day_window(0).run_date,
                                           day_window(0).part).pop())
    already = set(zip(first["ticket_id"], first["updated_at"]))
    assert report.notes["already_landed"] == sum(
        (t, v) in already for t, v in zip(reread["source_record_id"], reread["version"])) > 0
    both = landing.read_records(SOURCE)
    assert not both.duplicated(["_source_record_id", "_content_hash"]).any()
    assert set(zip(reread["source_record_id"], reread["version"])) <= \
        set(zip(both["ticket_id"], both["updated_at"]))


def test_errors_name_the_path_and_status_never_the_token(serve, tmp_path, caplog):
    handle = serve(Faults(rate_503=1.0))
    caplog.set_level(logging.DEBUG)
    virtual = VirtualTime()
    connector = make_connector(handle.url, virtual, max_retries=4, backoff_base=1.0,
                               backoff_max=3.0)
    with pytest.raises(SourceError) as failure:
        connector.extract(day_window(0), RawLanding(tmp_path), MemoryState(), "run-503")
    message = str(failure.value)
    assert "GET /v1/tickets" in message and "503" in message and "5 attempts" in message
    assert failure.value.status == 503 and len(handle.request_log) == 5

    wrong = make_connector(handle.url, token="not-the-token-77")
    handle.faults = Faults()
    with pytest.raises(SourceError) as unauthorised:
        wrong.extract(day_window(0), RawLanding(tmp_path), MemoryState(), "run-401")
    assert "401" in str(unauthorised.value) and "/v1/tickets" in str(unauthorised.value)
    for text in (message, str(unauthorised.value), caplog.text):
        assert TOKEN not in text and "not-the-token-77" not in text


def test_backoff_is_exponential_with_full_jitter():
    client = RestClient(RestSettings(base_url="http://h", backoff_base=0.5, backoff_max=8.0),
                        rng=random.Random(3))
    for attempt in range(8):
        cap = min(8.0, 0.5 * 2 ** attempt)
        draws = [client.backoff(attempt) for _ in range(400)]
        assert 0 <= min(draws) < 0.1 * cap and 0.9 * cap < max(draws) <= cap


class CannedPages(requests.adapters.BaseAdapter):
    """Answers each request with the next canned body (to test what a server never sends)."""

    def __init__(self, bodies: list[str]):
        super().__init__()
        self.bodies = list(bodies)

    def send(self, request, **kwargs):
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(self.bodies.pop(0).encode("utf-8"))
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.url, response.request = request.url, request
        return response

    def close(self):
        pass


def test_unreadable_tickets_are_quarantined_with_their_raw_text(tmp_path):
    good = ('{"ticket_id": "HL20261101000001", "updated_at": "2026-11-01T09:00:00+08:00", '
            '"status": "待派单", "vendor_note": "新字段"}')
    newer = good.replace("09:00:00", "10:30:00").replace("待派单", "已派单")
    no_id = '{"updated_at": "2026-11-01T09:00:00+08:00", "status": "待派单"}'
    bad_time = '{"ticket_id": "HL20261101000002", "updated_at": "上午九点"}'
    pages = [
        '{"tickets": [' + good + ", " + no_id + '], "next_page_token": "p2"}',
        '{"tickets": [' + bad_time + ",42, " + good + "," + newer + '], "next_page_token": null}',
    ]
    session = requests.Session()
    session.mount("http://canned/", CannedPages(pages))
    connector = make_connector("http://canned", session=session)
    report = connector.extract(day_window(0), RawLanding(tmp_path), MemoryState(), "run-q")
    part = landed_part(report.files[0])
    assert part["raw"].tolist() == [newer]  # latest version kept, as received
    assert report.received == 6 and report.landed == 1
    assert [(q.location, q.raw) for q in report.quarantined] == [
        ("hotline.tickets page 1 item 2", no_id), ("HL20261101000002", bad_time),
        ("hotline.tickets page 2 item 4", "42")]
    assert "ticket_id" in report.quarantined[0].reason
    assert "updated_at" in report.quarantined[1].reason
    assert report.schema_drift == ["vendor_note"]
    assert (report.notes["repeated"], report.notes["superseded"]) == (1, 1)


def test_garbled_page_is_retried_like_a_dropped_connection(tmp_path):
    ticket = '{"ticket_id": "HL20261101000001", "updated_at": "2026-11-01T09:00:00+08:00"}'
    session = requests.Session()
    session.mount("http://canned/", CannedPages([
        '<html>proxy error</html>', '{"tickets": [' + ticket,
        '{"tickets": [' + ticket + '], "next_page_token": null}']))
    virtual = VirtualTime()
    report = make_connector("http://canned", virtual, session=session).extract(
        day_window(0), RawLanding(tmp_path), MemoryState(), "run-garbled")
    assert report.landed == 1 and report.notes["unreadable_pages"] == 2


def test_config_from_connection_extras():
    config = RestSettings.model_validate({
        "base_url": "http://h", "token": "x", "page_size": "500", "timeout": "3,30",
        "max_requests_per_second": "2.5", "max_retries": "6", "backoff_base": "0.5",
        "backoff_max": "30", "overlap_seconds": "600"})
    assert (config.page_size, config.timeout, config.max_requests_per_second) == \
        (500, (3.0, 30.0), 2.5)
    with pytest.raises(ValueError, match="pagesize"):
        RestSettings.model_validate({"base_url": "http://h", "pagesize": 5})
    assert RestSettings.model_validate({"base_url": "http://h", "dialect": "open311"}).page_size \
        == 200  # the pipeline's connector choice rides along in the same section
    with pytest.raises(ValueError, match="base_url"):
        RestSettings.model_validate({"token": "x"})


def test_works_with_the_warehouse_state_store(serve, emitted, tmp_path):
    from warehouse.engine import create_warehouse_engine
    from warehouse.schema import create_all
    from warehouse.state import StateStore

    engine = create_warehouse_engine(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    create_all(engine)
    state = StateStore(engine)
    handle = serve()
    connector = make_connector(handle.url)
    first = connector.extract(day_window(0), RawLanding(tmp_path), state, "run-0")
    assert state.get_watermark(SOURCE) == first.watermark_after
    second = connector.extract(day_window(1), RawLanding(tmp_path), state, "run-1")
    assert second.watermark_before == first.watermark_after
    assert_lands_exactly(second.files[0], emitted, day_window(1).since, day_window(1).until)
    engine.dispose()
