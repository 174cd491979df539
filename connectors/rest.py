"""One HTTP base for the paged JSON sources (12345 hotline, Open311).

What every REST source shares lives here once: the typed configuration, a session with a
rate limiter that never exceeds the configured request rate, retries with exponential
backoff and full jitter (429 honours `Retry-After`; 5xx, dropped connections and timeouts
are retried), a JSON scanner that keeps each record's text exactly as received, and the
incremental `extract()` (watermark minus overlap, dedupe, land, then advance the watermark).
A source subclass only says how to page and which fields are its key and change time.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, NoReturn
from zoneinfo import ZoneInfo

import pandas as pd
import requests
import tenacity

from common.settings import RestSettings
from connectors.base import Connector, ExtractionState, ExtractReport, QuarantinedItem, Window
from connectors.landing import RawLanding
from connectors.limits import container_end, too_deep

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class SourceError(RuntimeError):
    """A source answered in a way retrying cannot fix, or kept failing past the retry budget.

    The message names the method, URL path and status only: never the token, the query or
    any personal data from the body.
    """

    def __init__(self, method: str, path: str, status: int | None, detail: str):
        self.method, self.path, self.status = method, path, status
        shown = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{method} {path}: {shown}: {detail}")


class RateLimiter:
    """Never more than `rate` request starts in any one-second interval: starts are at
    least 1/rate apart, and the (floor(rate) + 1)-th start is at least a full second after
    the first one it follows (so accumulated rounding cannot squeeze one more in).
    Thread-safe; clock and sleep are injectable so tests can check it without waiting."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self._window: deque[float] = deque(maxlen=max(1, math.floor(rate)))
        self._lock = threading.Lock()
        self.starts: deque[float] = deque(maxlen=100_000)  # recent starts, for audits

    def acquire(self) -> float:
        with self._lock:
            earliest = -math.inf
            if self._window:
                earliest = self._window[-1] + self.interval
                if len(self._window) == self._window.maxlen:
                    earliest = max(earliest, self._window[0] + 1.0)
            now = self.clock()
            if now < earliest:
                self.sleep(earliest - now)
                now = max(self.clock(), earliest)
            self._window.append(now)
            self.starts.append(now)
            return now


class RetryableFailure(Exception):
    """An attempt failed in a way that repeating the GET may fix: a dropped connection, a
    timeout, a retryable status or a garbled body."""

    def __init__(self, status: int | None, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.retry_after = retry_after  # seconds the server asked to wait (429 only)


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _failure(retry_state: tenacity.RetryCallState) -> RetryableFailure:
    """What the attempt just made failed with: tenacity waits, counts a retry or gives up
    only after a `RetryableFailure`, the one exception it retries."""
    failure = retry_state.outcome.exception() if retry_state.outcome else None
    assert isinstance(failure, RetryableFailure), failure
    return failure


class RestClient:
    """GET with rate limiting and retries (tenacity), for one source's base URL and token."""

    def __init__(self, config: RestSettings, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        self.config = config
        self.session = session or requests.Session()
        if config.token:
            self.session.headers["Authorization"] = f"Bearer {config.token}"
        self.session.headers.setdefault("Accept", "application/json")
        self.sleep = sleep
        self.limiter = RateLimiter(config.max_requests_per_second, clock, sleep)
        self.rng = rng or random.Random()
        self.stats: Counter[str] = Counter()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^attempt)]."""
        cap = min(self.config.backoff_max, self.config.backoff_base * 2 ** attempt)
        return self.rng.uniform(0.0, cap)

    def get(self, path: str, params: dict[str, Any], parse: Callable[[str], Any]) -> Any:
        """`parse(body)` of the first 200 answer. A body that `parse` rejects (ValueError:
        truncated or garbled by a proxy) is retried like a dropped connection."""
        url = self.config.base_url.rstrip("/") + path
        attempts = self.config.max_retries + 1
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetryableFailure),
            stop=tenacity.stop_after_attempt(attempts),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=lambda state: self._count_retry(path, state),
            retry_error_callback=lambda state: self._give_up(path, attempts, state),
        )
        return retrying(self._attempt, url, path, params, parse)

    def _attempt(self, url: str, path: str, params: dict[str, Any],
                 parse: Callable[[str], Any]) -> Any:
        """One rate-limited GET: the parsed body, or a `RetryableFailure`."""
        self.limiter.acquire()
        self.stats["requests"] += 1
        try:
            with self.session.get(url, params=params, timeout=self.config.timeout,
                                  stream=True) as response:
                status, reason = response.status_code, response.reason
                body = self._body(response, path) if status == 200 else None
                # Read now: an HTTP-date Retry-After counts from the answer, not the wait.
                retry_after = retry_after_seconds(response.headers.get("Retry-After")) \
                    if status == 429 else None
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            # Dropped connection, reset, truncated body or timeout: the request is safe
            # to repeat (GET), and nothing of it has been kept.
            self.stats["connection_errors"] += 1
            raise RetryableFailure(None, type(exc).__name__) from exc
        self.stats[f"status_{status}"] += 1
        if body is not None:
            try:
                return parse(body)
            except ValueError as exc:
                self.stats["unreadable_pages"] += 1
                raise RetryableFailure(status, f"unreadable body ({exc})") from exc
        if status in RETRYABLE_STATUS:
            raise RetryableFailure(status, reason or "error", retry_after)
        raise SourceError("GET", path, status, "not retryable")

    def _body(self, response: requests.Response, path: str) -> str:
        """A 200 page's text, read as it arrives and never past the `max_file_bytes` limit:
        a page that large is refused (the same page again would be as large), not held."""
        limit = self.config.limits.max_file_bytes
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=1 << 16):
            size += len(chunk)
            if size > limit:
                raise SourceError("GET", path, 200, f"the page is over the limit "
                                  f"max_file_bytes = {limit} (limits in the sources file)")
            chunks.append(chunk)
        # JSON's default encoding (RFC 8259) unless the answer names another.
        return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        """Full-jitter backoff after the failed attempt, or a 429's Retry-After if longer."""
        failure = _failure(retry_state)
        return max(self.backoff(retry_state.attempt_number - 1), failure.retry_after or 0.0)

    def _count_retry(self, path: str, retry_state: tenacity.RetryCallState) -> None:
        failure = _failure(retry_state)
        wait = retry_state.upcoming_sleep
        self.stats["retries"] += 1
        self.stats["backoff_seconds"] += wait
        log.info("GET %s failed (%s), retry %d in %.2fs", path,
                 failure.status or failure.detail, retry_state.attempt_number, wait)

    @staticmethod
    def _give_up(path: str, attempts: int, retry_state: tenacity.RetryCallState) -> NoReturn:
        failure = _failure(retry_state)
        raise SourceError("GET", path, failure.status,
                          f"gave up after {attempts} attempts ({failure.detail})")


# --- JSON pages, keeping each record's text as received ----------------------------------

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    return _WHITESPACE.match(text, pos).end()


class TooDeep:
    """The value of a record nested deeper than max_json_depth: not parsed (Python's JSON
    parser recurses, and a deep enough record raises RecursionError), quarantined."""

    def __init__(self, depth: int, limit: int):
        self.depth, self.limit = depth, limit

    def __str__(self) -> str:
        return f"JSON nested deeper than the limit max_json_depth = {self.limit}"


def _decode(text: str, pos: int, max_depth: int | None) -> tuple[Any, int]:
    """One value at text[pos] and its end; a container deeper than `max_depth` is measured
    without parsing it and comes back as `TooDeep`."""
    if max_depth is not None and text[pos] in "[{":
        end, depth = container_end(text, pos)
        if depth > max_depth:
            return TooDeep(depth, max_depth), end
    return _DECODER.raw_decode(text, pos)


def _array_items(text: str, pos: int, max_depth: int | None = None
                 ) -> tuple[list[tuple[str, Any]], int]:
    """(raw text, value) of each element of the array opening at text[pos]; end position.
    With `max_depth` (only needed when the page nests that deep at all), an element deeper
    than it has a `TooDeep` value."""
    if text[pos] != "[":
        raise ValueError(f"expected an array at character {pos}")
    items: list[tuple[str, Any]] = []
    pos = _skip(text, pos + 1)
    if text[pos] == "]":
        return items, pos + 1
    while True:
        value, end = _decode(text, pos, max_depth)
        items.append((text[pos:end], value))
        pos = _skip(text, end)
        if text[pos] == "]":
            return items, pos + 1
        if text[pos] != ",":
            raise ValueError(f"expected , or ] at character {pos}")
        pos = _skip(text, pos + 1)


def _truncation_is_invalid(scan: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(text: str, *args):
        try:
            return scan(text, *args)
        except IndexError:
            raise ValueError("JSON ends early") from None
    return guarded


def _depth_guard(text: str, max_depth: int | None, around: int) -> int | None:
    """The depth limit of a page's records when the page nests deeper than its records may
    plus the `around` levels of its envelope (else None: nothing to guard, fast path)."""
    return max_depth if max_depth is not None and too_deep(text, max_depth + around) else None


@_truncation_is_invalid
def split_array(text: str, max_depth: int | None = None) -> list[tuple[str, Any]]:
    """A body that is one JSON array: each element's raw text and parsed value (a `TooDeep`
    value for an element nested deeper than `max_depth`)."""
    items, end = _array_items(text, _skip(text, 0), _depth_guard(text, max_depth, 1))
    if _skip(text, end) != len(text):
        raise ValueError("extra data after the array")
    return items


@_truncation_is_invalid
def split_envelope(text: str, array_key: str, max_depth: int | None = None
                   ) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """A body that is a JSON object holding one array of records under `array_key`: the
    other members parsed, and each record's raw text and parsed value (a `TooDeep` value
    for a record nested deeper than `max_depth`; another member that deep is an unreadable
    page)."""
    guard = _depth_guard(text, max_depth, 2)
    pos = _skip(text, 0)
    if text[pos] != "{":
        raise ValueError("expected a JSON object")
    members: dict[str, Any] = {}
    items: list[tuple[str, Any]] = []
    pos = _skip(text, pos + 1)
    while text[pos] != "}":
        if text[pos] != '"':  # a member name is a string; decoding anything else could recurse
            raise ValueError(f"expected a member name at character {pos}")
        key, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] != ":":
            raise ValueError(f"expected : at character {pos}")
        pos = _skip(text, pos + 1)
        if key == array_key:
            items, pos = _array_items(text, pos, guard)
            members[key] = None
        else:
            members[key], pos = _decode(text, pos, guard)
            if isinstance(members[key], TooDeep):
                raise ValueError(f"member {key!r}: {members[key]}")
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos] != "}":
            raise ValueError(f"expected , or }} at character {pos}")
    if array_key not in members:
        raise ValueError(f"no {array_key!r} array in the page")
    if _skip(text, pos + 1) != len(text):
        raise ValueError("extra data after the object")
    del members[array_key]
    return members, items


# --- the incremental extract every REST source shares ------------------------------------

@dataclass
class RawRecord:
    raw: str  # the record's JSON text exactly as received
    value: Any  # the parsed record


@dataclass
class PageStats:
    pages: int = 0
    received: int = 0
    unknown_fields: set[str] = field(default_factory=set)


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 timestamp with offset as an aware datetime; None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class RestConnector(Connector):
    """Base of the REST connectors. Subclasses set `source`, the class attributes below and
    `pages()`.

    `extract()` asks the source for everything changed since min(watermark, window.since)
    minus the overlap, up to window.until; keeps the latest version of each record; lands
    them in one part named after the window (a re-run lands a new attempt of it beside the
    earlier ones, which stay); and only then moves the watermark forward (never backwards).
    """

    key_field: ClassVar[str]  # the record key (landed as the frame's key column)
    version_field: ClassVar[str]  # change time: the latest version per key is kept
    watermark_field: ClassVar[str]  # the time the source's window filter applies to
    landed_fields: ClassVar[tuple[str, ...]]  # top-level fields copied beside `raw`
    known_fields: ClassVar[frozenset[str]]  # the contract's fields; others are drift

    def __init__(self, config: dict[str, Any], session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        self.config = RestSettings.model_validate(config)
        self.client = RestClient(self.config, session=session, clock=clock, sleep=sleep,
                                 rng=rng)
        self.zone = ZoneInfo(self.config.timezone)

    def pages(self, since: datetime, until: datetime) -> Iterator[list[RawRecord]]:
        raise NotImplementedError

    def _aware(self, moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=self.zone)

    def request_bounds(self, window: Window, watermark: str | None) -> tuple[datetime, datetime]:
        since = self._aware(window.since)
        mark = parse_instant(watermark)
        if mark is not None:
            # Behind: catch up the gap. Ahead (a re-run of an old window): the window wins.
            since = min(since, mark)
        return since - timedelta(seconds=self.config.overlap_seconds), self._aware(window.until)

    def collect(self, since: datetime, until: datetime
                ) -> tuple[pd.DataFrame, list[QuarantinedItem], PageStats]:
        """Every record the source returns for the bounds: one row per (key, version),
        plus the records that lack a readable key or change time."""
        rows: list[tuple] = []
        quarantined: list[QuarantinedItem] = []
        stats = PageStats()
        for page in self.pages(since, until):
            stats.pages += 1
            for record in page:
                stats.received += 1
                value = record.value
                problem = self.minimal_problem(value)
                if problem:
                    key = value.get(self.key_field) if isinstance(value, dict) else None
                    location = str(key) if isinstance(key, (str, int)) else \
                        f"{self.source} page {stats.pages} item {stats.received}"
                    quarantined.append(QuarantinedItem(location, problem, record.raw))
                    continue
                stats.unknown_fields.update(value.keys() - self.known_fields)
                rows.append((str(value[self.key_field]),
                             self.version_of(value),
                             parse_instant(value.get(self.watermark_field)),
                             *(_text(value.get(f)) for f in self.landed_fields), record.raw))
        columns = ["_key", "_version", "_mark", *self.landed_fields, "raw"]
        return pd.DataFrame(rows, columns=columns), quarantined, stats

    def minimal_problem(self, value: Any) -> str | None:
        """Why a record cannot be landed as a record (None when it can)."""
        if isinstance(value, TooDeep):
            return str(value)
        if not isinstance(value, dict):
            return "not a JSON object"
        key = value.get(self.key_field)
        if not isinstance(key, (str, int)) or isinstance(key, bool) or str(key) == "":
            return f"no {self.key_field}"
        if self.version_of(value) is None:
            return f"no readable {self.version_field} (ISO 8601 with offset)"
        return None

    def version_of(self, value: dict) -> datetime | None:
        """When this version of the record was made."""
        return parse_instant(value.get(self.version_field))

    @staticmethod
    def latest_per_key(rows: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
        """One row per key, its latest version; also how many rows repeated a version
        already received (a retry or a re-read) and how many a newer version superseded."""
        instants = pd.to_datetime(rows["_version"], utc=True)
        ordered = rows.assign(_instant=instants).sort_values(["_key", "_instant"], kind="stable")
        distinct = ordered.drop_duplicates(["_key", "_instant"], keep="last")
        latest = distinct.drop_duplicates("_key", keep="last").drop(columns="_instant")
        return latest, len(rows) - len(distinct), len(distinct) - len(latest)

    def extract(self, window: Window, landing: RawLanding, state: ExtractionState,
                run_id: str) -> ExtractReport:
        before = state.get_watermark(self.source)
        if before is None:
            # The first run's start is where the source's history begins for us. Saved
            # before the fetch: if this first run fails, the next run asks from here
            # (min(watermark, its window)) and catches the first day up like any other.
            state.set_watermark(self.source, self._aware(window.since).isoformat(), run_id)
        start_mark = state.get_watermark(self.source)
        client_stats_before = Counter(self.client.stats)
        report = ExtractReport(source=self.source, run_id=run_id, window=window,
                               watermark_before=before, watermark_after=start_mark)
        since, until = self.request_bounds(window, start_mark)
        rows, report.quarantined, stats = self.collect(since, until)
        report.received = stats.received
        report.schema_drift = sorted(stats.unknown_fields)
        latest, repeated, superseded = self.latest_per_key(rows) if len(rows) else (rows, 0, 0)
        if len(latest):
            frame = latest[[*self.landed_fields, "raw"]].reset_index(drop=True)
            # Versions re-read through the overlap that another window already landed.
            frame = landing.drop_landed(
                self.source, frame, self.key_field,
                landing.part_files(self.source, window.run_date, window.part))
            path = landing.write_records(source=self.source, run_date=window.run_date,
                                         part=window.part,
                                         run_id=run_id, frame=frame, key_column=self.key_field)
            report.files.append(str(path))
            report.landed = len(frame)
            report.notes["already_landed"] = len(latest) - len(frame)
            marks = latest["_mark"].dropna()
            newest = max(marks) if len(marks) else None
            if newest is not None and newest > parse_instant(start_mark):
                report.watermark_after = newest.isoformat()
                state.set_watermark(self.source, report.watermark_after, run_id)
        report.notes.update(
            requested_since=since.isoformat(), requested_until=until.isoformat(),
            pages=stats.pages, repeated=repeated, superseded=superseded,
            **{k: round(v, 3) if isinstance(v, float) else v
               for k, v in (self.client.stats - client_stats_before).items()})
        return report
