"""Delivery: a local SMTP server (aiosmtpd, started by the test) and two local webhook
receivers (http.server in a thread), one of which always fails. The failing one is retried,
then reported; the others still get theirs; ops.delivery_attempt shows every attempt. Runs
on both warehouse engines."""

from __future__ import annotations

import email
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from report_support import DAY, DISTRICT, publish_fixture, write_reference

from common.reference import load_reference
from common.settings import RecipientsFile, SettingsError, validate
from reports.build import build_report
from reports.delivery import DeliveryError, deliver, raise_for_failures


class _Receiver(BaseHTTPRequestHandler):
    bodies: list  # set per server
    status: int

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers["Content-Length"])
        self.server.bodies.append((self.headers.get("Authorization"),
                                   json.loads(self.rfile.read(length))))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receivers():
    servers = []
    for status in (200, 503):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        server.bodies, server.status = [], status
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            self.messages.append(envelope)
            return "250 OK"

    # aiosmtpd connects to its own port to check it is up, so it needs a real one (not 0).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, handler
    controller.stop()


def test_failing_receiver_is_retried_and_reported_others_delivered(
        engine, tmp_path, receivers, smtp_server, monkeypatch):
    publish_fixture(engine)
    reference = load_reference(write_reference(tmp_path / "reference"))
    good, bad = receivers
    controller, handler = smtp_server
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", "s3cret-token")
    settings = validate(RecipientsFile, {
        "smtp": {"host": "127.0.0.1", "port": controller.port,
                 "sender": "report@city.example"},
        "retry": {"attempts": 3, "initial_seconds": 0.01, "max_seconds": 0.05},
        "recipients": [
            {"name": "大数据局接口（故障）", "webhook": f"http://127.0.0.1:{bad.server_port}/in"},
            {"name": "新城区领导", "division": DISTRICT, "email": ["head@district.example"],
             "report": "inline"},
            {"name": "市指挥中心", "webhook": f"http://127.0.0.1:{good.server_port}/in?k=1",
             "webhook_token_env": "TEST_WEBHOOK_TOKEN"},
        ]}, "recipients.yaml")
    builds = []

    def build(division):
        builds.append(division)
        return build_report(engine, reference, DAY, tmp_path / "out", division, pdf=False)

    outcomes = deliver(engine, settings, DAY, "run-1", build)
    # Each division's report was built once; the failing receiver did not stop the others.
    assert builds == [None, DISTRICT]
    by_name = {o.recipient: o for o in outcomes}
    assert by_name["大数据局接口（故障）"].delivered is False
    assert by_name["大数据局接口（故障）"].attempts == 3
    assert by_name["新城区领导"].delivered and by_name["市指挥中心"].delivered
    with pytest.raises(DeliveryError, match="大数据局接口（故障）.*3 attempt"):
        raise_for_failures(outcomes)

    # The mail: the district's report inline, the CSV feed and manifest attached.
    [envelope] = handler.messages
    assert envelope.rcpt_tos == ["head@district.example"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert "新城区" in message["Subject"] and DAY.isoformat() in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert "新城区 接诉即办与基层治理日报" in html
    names = sorted(part.get_filename() for part in message.iter_attachments())
    assert names == [f"indicators_{DAY}_{DISTRICT}.csv",
                     f"indicators_{DAY}_{DISTRICT}.manifest.json"]

    # The good webhook got the city's numbers once, with its token; the bad one 3 tries.
    [(auth, body)] = good.bodies
    assert auth == "Bearer s3cret-token"
    assert body["division_name"] == "呼和浩特市" and body["day"] == DAY.isoformat()
    assert len(body["feed"]["rows"]) == body["manifest"]["rows"] > 0
    assert any("向阳街道" in c["text"] for c in body["callouts"])
    assert len(bad.bodies) == 3

    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT recipient, channel, target, attempt, status, detail, division_code "
            "FROM ops.delivery_attempt ORDER BY recipient, attempt")).all()
    attempts = {}
    for row in rows:
        attempts.setdefault(row.recipient, []).append((row.attempt, row.status, row.detail))
    assert attempts["大数据局接口（故障）"] == [(n, "failed", "webhook HTTP 503")
                                          for n in (1, 2, 3)]
    assert attempts["新城区领导"] == [(1, "delivered", None)]
    assert attempts["市指挥中心"] == [(1, "delivered", None)]
    targets = {row.recipient: row.target for row in rows}
    assert targets["市指挥中心"] == f"http://127.0.0.1:{good.server_port}/in"  # no query
    assert {row.division_code for row in rows if row.recipient == "新城区领导"} == {DISTRICT}
    assert all("s3cret" not in (row.detail or "") + row.target for row in rows)

    # The task retried (same run): only the recipient still waiting is tried again.
    again = deliver(engine, settings, DAY, "run-1", build)
    assert [(o.recipient, o.attempts) for o in again] == [
        ("新城区领导", 0), ("市指挥中心", 0), ("大数据局接口（故障）", 3)]
    assert len(good.bodies) == 1 and len(handler.messages) == 1 and len(bad.bodies) == 6


def test_a_report_that_cannot_be_built_fails_only_its_recipients(engine, tmp_path, receivers):
    """No indicator rows for the district's day: its recipient fails (recorded, one
    attempt: retrying cannot build it), the city's webhook is still delivered."""
    publish_fixture(engine)
    reference = load_reference(write_reference(tmp_path / "reference"))
    good, _ = receivers
    settings = validate(RecipientsFile, {
        "retry": {"attempts": 2, "initial_seconds": 0},
        "recipients": [
            {"name": "district", "division": "150102009000", "webhook": "http://127.0.0.1:9/x"},
            {"name": "city", "webhook": f"http://127.0.0.1:{good.server_port}/in"}]},
        "recipients.yaml")
    outcomes = deliver(engine, settings, DAY, "run-2", lambda division: build_report(
        engine, reference, DAY, tmp_path / "out", division, pdf=False))
    assert [(o.recipient, o.delivered, o.attempts) for o in outcomes] == [
        ("district", False, 1), ("city", True, 1)]
    assert "not in the reference divisions" in outcomes[0].detail
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.delivery_attempt")).scalar() == 2


def test_recipients_file_names_every_problem_and_holds_no_password():
    with pytest.raises(SettingsError) as error:
        validate(RecipientsFile, {
            "smtp": {"host": "x", "sender": "a@b", "password": "plain"},
            "recipients": [{"name": "a", "email": ["x@y"], "webhook": "http://h/"},
                           {"name": "b", "division": "1501", "webhook": "ftp://h/"}]},
            "recipients.yaml")
    text = str(error.value)
    assert "smtp.password: unknown key" in text
    assert "either email addresses or a webhook" in text
    assert "recipients.1.division" in text and "recipients.1.webhook" in text


def test_the_example_recipients_file_is_valid():
    from pathlib import Path

    from common.settings_check import check_file

    example = Path(__file__).parents[1] / "config" / "recipients.example.yaml"
    assert check_file(example) == ("recipients", [])
