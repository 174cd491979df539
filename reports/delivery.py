"""Delivery of the day's report: by e-mail (SMTP; the HTML report inline or attached, the
PDF and the CSV feed attached) and by webhook (a JSON POST of the day's numbers), to each
recipient of the recipients file (common.settings.RecipientsFile), the report of its own
division. Each delivery is retried with exponential backoff (tenacity), every attempt is
recorded in ops.delivery_attempt, and one recipient that keeps failing never stops the others:
the failures are reported together at the end.

Secrets are never in the file: the SMTP password and a webhook token are read from the
environment variables the file names. Errors are masked (common.masking) before they are
logged or recorded.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
import sqlalchemy as sa
import tenacity
import yaml

from common.masking import mask_text
from common.settings import Recipient, RecipientsFile, SmtpSettings, validate
from reports.build import BuiltReport
from warehouse.schema import delivery_attempt

log = logging.getLogger(__name__)


class DeliveryError(RuntimeError):
    """One or more recipients did not get their report after every retry."""


class RetryableDelivery(Exception):
    """A failure another try may fix (connection, timeout, 5xx, 429, SMTP 4xx)."""


class FinalDelivery(Exception):
    """A failure retrying cannot fix (refused login, 4xx from a webhook, missing secret)."""


@dataclass(frozen=True)
class Outcome:
    recipient: str
    channel: str
    division_code: str | None
    attempts: int
    delivered: bool
    detail: str | None


def load_recipients(path: str | os.PathLike) -> RecipientsFile:
    """The recipients file, checked: every problem named with the file and key."""
    path = Path(path)
    return validate(RecipientsFile, yaml.safe_load(path.read_text(encoding="utf-8")), path)


def _secret(name: str | None, what: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise FinalDelivery(f"{what}: environment variable {name} is not set")
    return value


def _target(recipient: Recipient) -> str:
    """Where it goes, as the audit table shows it: a URL without credentials or query."""
    if recipient.email:
        return ", ".join(recipient.email)
    parts = urlsplit(recipient.webhook)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def mail_message(smtp: SmtpSettings, recipient: Recipient, built: BuiltReport) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"{built.division_name} 接诉即办与基层治理日报 {built.day.isoformat()}"
    message["From"] = smtp.sender
    message["To"] = ", ".join(recipient.email)
    html = built.html.read_text(encoding="utf-8")
    text = (f"{built.division_name} {built.day.isoformat()} 日报。"
            + "".join(f"\n- {c.text}" for c in built.callouts))
    message.set_content(text)
    if recipient.report == "inline":
        message.add_alternative(html, subtype="html")
    else:
        message.add_attachment(html.encode("utf-8"), maintype="text", subtype="html",
                               filename=built.html.name)
    if recipient.attach_pdf and built.pdf is not None:
        message.add_attachment(built.pdf.read_bytes(), maintype="application", subtype="pdf",
                               filename=built.pdf.name)
    for kind in ("csv", "manifest"):
        path = built.feeds[kind]
        maintype, subtype = ("text", "csv") if kind == "csv" else ("application", "json")
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype,
                               filename=path.name)
    return message


def send_mail(smtp: SmtpSettings, recipient: Recipient, built: BuiltReport) -> None:
    message = mail_message(smtp, recipient, built)
    password = _secret(smtp.password_env, "SMTP password")
    try:
        factory = smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP
        with factory(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, password or "")
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as error:
        raise FinalDelivery(f"SMTP login refused: {error.smtp_code}") from None
    except smtplib.SMTPResponseException as error:
        # 4xx replies are temporary by the SMTP standard; 5xx are permanent.
        kind = RetryableDelivery if 400 <= error.smtp_code < 500 else FinalDelivery
        raise kind(f"SMTP {error.smtp_code}: {error.smtp_error!r:.200}") from None
    except (smtplib.SMTPException, OSError) as error:
        raise RetryableDelivery(f"SMTP {type(error).__name__}: {error}") from None


def webhook_payload(built: BuiltReport) -> dict:
    """The day's numbers (the JSON feed), its manifest and the call-outs."""
    feed = json.loads(built.feeds["json"].read_text(encoding="utf-8"))
    manifest = json.loads(built.feeds["manifest"].read_text(encoding="utf-8"))
    return {"day": built.day.isoformat(), "division_code": built.division_code,
            "division_name": built.division_name,
            "callouts": [{"kind": c.kind, "division": c.division, "text": c.text}
                         for c in built.callouts],
            "manifest": manifest, "feed": feed}


def post_webhook(recipient: Recipient, built: BuiltReport, timeout: float = 30) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    token = _secret(recipient.webhook_token_env, "webhook token")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(webhook_payload(built), ensure_ascii=False).encode("utf-8")
    try:
        response = requests.post(recipient.webhook, data=body, headers=headers,
                                 timeout=timeout)
    except requests.RequestException as error:
        raise RetryableDelivery(f"webhook {type(error).__name__}") from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise RetryableDelivery(f"webhook HTTP {response.status_code}")
    if response.status_code >= 300:
        raise FinalDelivery(f"webhook HTTP {response.status_code}")


def _record(engine: sa.Engine, **row) -> None:
    with engine.begin() as conn:
        conn.execute(delivery_attempt.insert().values(attempt_id=str(uuid.uuid4()), **row))


def deliver_one(engine: sa.Engine, settings: RecipientsFile, recipient: Recipient,
                built: BuiltReport | None, run_id: str, day: date,
                build_error: str | None = None) -> Outcome:
    """Try one recipient until it is delivered or the retries are spent; every attempt is a
    row of ops.delivery_attempt."""
    channel = "email" if recipient.email else "webhook"
    target = _target(recipient)
    count = 0

    def attempt() -> None:
        nonlocal count
        count += 1
        started = datetime.now(UTC)
        status, detail = "delivered", None
        try:
            if built is None:
                raise FinalDelivery(f"no report to send: {build_error}")
            if channel == "email":
                send_mail(settings.smtp, recipient, built)
            else:
                post_webhook(recipient, built)
        except (RetryableDelivery, FinalDelivery) as error:
            status, detail = "failed", mask_text(str(error))
            raise
        finally:
            _record(engine, report_date=day, recipient=recipient.name, channel=channel,
                    target=target, division_code=recipient.division, attempt=count,
                    status=status, detail=detail, started_at=started,
                    ended_at=datetime.now(UTC), run_id=run_id)

    retry = settings.retry
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetryableDelivery),
        stop=tenacity.stop_after_attempt(retry.attempts),
        wait=tenacity.wait_exponential(multiplier=retry.initial_seconds,
                                       max=retry.max_seconds),
        before_sleep=lambda state: log.warning(
            "delivery to %s failed (attempt %s), retrying: %s", recipient.name,
            state.attempt_number, state.outcome.exception()),
        reraise=True)
    try:
        retrying(attempt)
    except (RetryableDelivery, FinalDelivery) as error:
        detail = mask_text(str(error))
        log.error("delivery to %s failed after %s attempt(s): %s", recipient.name, count,
                  detail)
        return Outcome(recipient.name, channel, recipient.division, count, False, detail)
    log.info("delivered to %s (%s) after %s attempt(s)", recipient.name, channel, count)
    return Outcome(recipient.name, channel, recipient.division, count, True, None)


def deliver(engine: sa.Engine, settings: RecipientsFile, day: date, run_id: str,
            build: Callable[[str | None], BuiltReport],
            only_division: str | None = None) -> list[Outcome]:
    """Build each division's report once (`build(division_code)`) and deliver it to every
    recipient of that division (with `only_division`, only those). A report that cannot be
    built fails its recipients (recorded), not the others."""
    recipients = [r for r in settings.recipients
                  if only_division is None or r.division == only_division]
    # A task retried after a partial failure sends again only to those still waiting.
    done = delivered_in_run(engine, day, run_id)
    skipped = [Outcome(r.name, "email" if r.email else "webhook", r.division, 0, True,
                       "already delivered in this run") for r in recipients if r.name in done]
    recipients = [r for r in recipients if r.name not in done]
    built: dict[str | None, BuiltReport | None] = {}
    errors: dict[str | None, str] = {}
    for division in dict.fromkeys(r.division for r in recipients):
        try:
            built[division] = build(division)
        except Exception as error:  # noqa: BLE001 - any failure fails only its recipients
            built[division] = None
            errors[division] = mask_text(f"{type(error).__name__}: {error}")
            log.error("report for %s could not be built: %s", division or "the city",
                      errors[division])
    return skipped + [deliver_one(engine, settings, r, built[r.division], run_id, day,
                                  errors.get(r.division)) for r in recipients]


def delivered_in_run(engine: sa.Engine, day: date, run_id: str) -> set[str]:
    """Recipients that already got `day`'s report in run `run_id`."""
    t = delivery_attempt
    with engine.connect() as conn:
        return set(conn.execute(sa.select(t.c.recipient).where(
            t.c.report_date == day, t.c.run_id == run_id,
            t.c.status == "delivered")).scalars())


def raise_for_failures(outcomes: list[Outcome]) -> None:
    """After every recipient was tried: fail naming each one that did not get its report."""
    failed = [o for o in outcomes if not o.delivered]
    if failed:
        raise DeliveryError("not delivered: " + "; ".join(
            f"{o.recipient} ({o.channel}, {o.attempts} attempt(s)): {o.detail}"
            for o in failed))
