"""A real HTTP server for the simulated 12345 hotline (contracts/hotline.md).

It serves the version store that `emit_hotline` writes (`versions(ticket_id,
updated_at_utc, body)`), answering exactly the contract's API: `GET /v1/tickets` (each
ticket's latest version as of `updated_until`, for tickets whose that-latest version is
newer than `updated_since`, ordered by `(updated_at, ticket_id)`, paged by an opaque keyset
token) and `GET /v1/tickets/{ticket_id}`, behind a bearer token. Like the real platform it
can misbehave on purpose: `Faults` switches on 429 with `Retry-After`, 503, dropped
connections, slow pages and a real per-client rate limit, all seeded so tests repeat.
`FaultyHTTPServer`/`FaultyRequestHandler` carry that behaviour for other test servers too
(tests/open311_server.py).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import random
import socket
import sqlite3
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

PLATFORM_TZ = timezone(timedelta(hours=8))
DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 1000
NO_UPPER_BOUND = 2 ** 62


@dataclass(frozen=True)
class Faults:
    """How badly the platform behaves. Rates are per request, drawn from one seeded
    generator in arrival order (deterministic for a single client)."""

    rate_429: float = 0.0
    retry_after_seconds: int = 1
    rate_503: float = 0.0
    rate_drop: float = 0.0  # close the connection without any response
    rate_truncate: float = 0.0  # send the headers and half the body, then close
    page_latency_seconds: float = 0.0  # added to every /v1/tickets page
    max_requests_per_second: float | None = None  # per client address; more -> 429
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (self.rate_429, self.rate_503, self.rate_drop, self.rate_truncate)
        if min(rates) < 0 or sum(rates) > 1:
            raise ValueError("fault rates must be >= 0 and add up to at most 1")


NO_FAULTS = Faults()


@dataclass(frozen=True)
class RequestRecord:
    arrived: float  # time.monotonic() on arrival
    client: str
    path: str
    status: int | None  # None: dropped without a response
    fault: str | None  # rate_limit, drop, truncate, 503 or 429 when the server misbehaved


class HTTPFailure(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class BadRequest(HTTPFailure):
    def __init__(self, message: str):
        super().__init__(400, message)


def parse_timestamp(name: str, value: str) -> datetime:
    """ISO 8601; a value without offset is the platform's local time (UTC+8)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=PLATFORM_TZ)


def _query_hash(since: float, until: float, page_size: int) -> str:
    return hashlib.sha256(f"{since!r}|{until!r}|{page_size}".encode()).hexdigest()[:16]


def encode_page_token(updated_at_utc: int, ticket_id: str, query_hash: str) -> str:
    payload = json.dumps({"u": updated_at_utc, "t": ticket_id, "q": query_hash},
                         separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(token: str, query_hash: str) -> tuple[int, str]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = (int(payload["u"]), str(payload["t"]))
        issued_for = payload["q"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise BadRequest("page_token is not a token this API issued") from None
    if issued_for != query_hash:
        raise BadRequest("page_token was issued for other parameters")
    return after


class VersionStore:
    """Read-only queries on the version store; one SQLite connection per thread."""

    # Walks the (updated_at_utc, ticket_id) index from the page's start and skips versions
    # that a later one (up to `until`) supersedes, probing (ticket_id, updated_at_utc).
    PAGE_SQL = """
        SELECT v.updated_at_utc, v.ticket_id, v.body FROM versions v
        WHERE {lower} AND v.updated_at_utc <= :until
          AND NOT EXISTS (SELECT 1 FROM versions w
                          WHERE w.ticket_id = v.ticket_id
                            AND w.updated_at_utc > v.updated_at_utc
                            AND w.updated_at_utc <= :until)
        ORDER BY v.updated_at_utc, v.ticket_id
        LIMIT :limit"""
    FIRST_PAGE = "v.updated_at_utc > :since"
    # The token's row passed `> since`, so it is the tighter (and only) lower bound.
    NEXT_PAGE = ("v.updated_at_utc >= :after_u "
                 "AND (v.updated_at_utc > :after_u OR v.ticket_id > :after_t)")

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no hotline version store at {self.path}")
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False)
            self._local.conn = conn
        return conn

    def page(self, since: float, until: float, after: tuple[int, str] | None, limit: int
             ) -> list[tuple[int, str, str]]:
        params = {"since": since, "until": until, "limit": limit}
        if after:
            params.update(after_u=after[0], after_t=after[1])
        sql = self.PAGE_SQL.format(lower=self.NEXT_PAGE if after else self.FIRST_PAGE)
        return self._connection().execute(sql, params).fetchall()

    def latest(self, ticket_id: str) -> str | None:
        row = self._connection().execute(
            "SELECT body FROM versions WHERE ticket_id = ? "
            "ORDER BY updated_at_utc DESC LIMIT 1", (ticket_id,)).fetchone()
        return row[0] if row else None


class FaultyHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that misbehaves as `faults` says and logs every request.
    Subclass it with a `FaultyRequestHandler` that implements `route()`."""

    daemon_threads = True

    def __init__(self, address, handler: type[FaultyRequestHandler], token: str | None,
                 faults: Faults):
        super().__init__(address, handler)
        self.token = token
        self.lock = threading.Lock()
        self.recent: dict[str, deque[float]] = defaultdict(deque)
        self.request_log: list[RequestRecord] = []
        self.open_connections: set[socket.socket] = set()
        self.set_faults(faults)

    def get_request(self):
        conn, address = super().get_request()
        with self.lock:
            self.open_connections.add(conn)
        return conn, address

    def shutdown_request(self, request):
        with self.lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def hang_up_all(self) -> None:
        """Cut every open client connection (a stopped server must not keep answering on
        kept-alive connections)."""
        with self.lock:
            connections = list(self.open_connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self.fault_rng = random.Random(faults.seed)
            self.recent.clear()

    def over_rate_limit(self, client: str, now: float) -> bool:
        """A sliding one-second window per client; refused requests do not count."""
        limit = self.faults.max_requests_per_second
        if not limit:
            return False
        with self.lock:
            recent = self.recent[client]
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= limit:
                return True
            recent.append(now)
            return False

    def draw_fault(self) -> str | None:
        f = self.faults
        with self.lock:
            u = self.fault_rng.random()
        for kind, rate in (("drop", f.rate_drop), ("truncate", f.rate_truncate),
                           ("503", f.rate_503), ("429", f.rate_429)):
            if u < rate:
                return kind
            u -= rate
        return None

    def record(self, entry: RequestRecord) -> None:
        with self.lock:
            self.request_log.append(entry)


class FaultyRequestHandler(BaseHTTPRequestHandler):
    """GET only: rate limit, bearer token (when the server has one), injected faults, then
    `route()`, which returns the 200 body or raises `HTTPFailure`."""

    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    timeout = 60  # close idle keep-alive connections
    disable_nagle_algorithm = True  # small responses must not wait for delayed ACKs
    wbufsize = -1  # headers and body leave in one write; flushed after each request
    server: FaultyHTTPServer

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.client_address[0], format % args)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        arrived = time.monotonic()
        client = self.client_address[0]
        url = urlsplit(self.path)
        self.fault: str | None = None
        status = self.answer(url, client, arrived)
        self.server.record(RequestRecord(arrived, client, url.path, status, self.fault))

    def answer(self, url, client: str, arrived: float) -> int | None:
        server = self.server
        if server.over_rate_limit(client, arrived):
            self.fault = "rate_limit"
            return self.send_json(429, {"error": "too many requests"},
                                  {"Retry-After": "1"})
        if server.token is not None:
            expected = f"Bearer {server.token}".encode()
            given = self.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return self.send_json(401, {"error": "missing or wrong token"},
                                      {"WWW-Authenticate": "Bearer"})
        fault = self.fault = server.draw_fault()
        if fault == "drop":
            self.drop()
            return None
        if fault == "503":
            return self.send_json(503, {"error": "temporarily unavailable"})
        if fault == "429":
            return self.send_json(429, {"error": "too many requests"},
                                  {"Retry-After": str(server.faults.retry_after_seconds)})
        try:
            body = self.route(url.path, parse_qs(url.query, keep_blank_values=True))
        except HTTPFailure as failure:
            return self.send_json(failure.status, {"error": str(failure)})
        except Exception:
            log.exception("GET %s failed", url.path)
            return self.send_json(500, {"error": "internal error"})
        self.send_body(200, body.encode(), {}, truncate=fault == "truncate")
        return 200

    def route(self, path: str, query: dict[str, list[str]]) -> str:
        raise NotImplementedError

    def page_latency(self) -> None:
        if self.server.faults.page_latency_seconds:
            time.sleep(self.server.faults.page_latency_seconds)

    @staticmethod
    def single(query: dict[str, list[str]], name: str) -> str | None:
        values = query.get(name)
        if values and len(values) > 1:
            raise BadRequest(f"{name} given more than once")
        return values[0] if values else None

    def send_json(self, status: int, payload: dict, headers: dict | None = None) -> int:
        return self.send_body(status, json.dumps(payload).encode(), headers or {})

    def send_body(self, status: int, body: bytes, headers: dict, truncate: bool = False) -> int:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.drop()
        else:
            self.wfile.write(body)
        return status

    def drop(self) -> None:
        """Hang up: the client sees the connection close with no (or half a) response."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class HotlineRequestHandler(FaultyRequestHandler):
    server_version = "Hotline12345/1.0"
    server: HotlineHTTPServer

    def route(self, path: str, query: dict[str, list[str]]) -> str:
        parts = path.rstrip("/").split("/")
        if parts == ["", "v1", "tickets"]:
            self.page_latency()
            return self.list_page(query)
        if len(parts) == 4 and parts[:3] == ["", "v1", "tickets"]:
            body = self.server.store.latest(unquote(parts[3]))
            if body is None:
                raise HTTPFailure(404, "unknown ticket")
            return body
        raise HTTPFailure(404, "no such resource")

    def list_page(self, query: dict[str, list[str]]) -> str:
        def single(name: str) -> str | None:
            return self.single(query, name)

        since_text = single("updated_since")
        if not since_text:
            raise BadRequest("updated_since is required")
        since = parse_timestamp("updated_since", since_text).timestamp()
        until_text = single("updated_until")
        until = (parse_timestamp("updated_until", until_text).timestamp() if until_text
                 else float(NO_UPPER_BOUND))
        if until < since:
            raise BadRequest("updated_until is before updated_since")
        size_text = single("page_size")
        try:
            page_size = int(size_text) if size_text is not None else DEFAULT_PAGE_SIZE
        except ValueError:
            raise BadRequest("page_size is not an integer") from None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise BadRequest(f"page_size must be 1..{MAX_PAGE_SIZE}")
        query_hash = _query_hash(since, until, page_size)
        token = single("page_token")
        after = decode_page_token(token, query_hash) if token else None
        rows = self.server.store.page(since, until, after, page_size + 1)
        next_token = None
        if len(rows) > page_size:
            rows = rows[:page_size]
            next_token = encode_page_token(rows[-1][0], rows[-1][1], query_hash)
        return ('{"tickets":[' + ",".join(row[2] for row in rows) + '],"next_page_token":'
                + json.dumps(next_token) + "}")


class HotlineHTTPServer(FaultyHTTPServer):
    def __init__(self, address, store: VersionStore, token: str, faults: Faults):
        super().__init__(address, HotlineRequestHandler, token, faults)
        self.store = store


class ServerHandle:
    """A running server: `.url`, `.stop()`, `.request_log`, `.faults` (switchable); also a
    context manager that stops the server on exit."""

    def __init__(self, server: FaultyHTTPServer):
        self.server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=server.serve_forever, name="hotline-server",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def request_log(self) -> list[RequestRecord]:
        with self.server.lock:
            return list(self.server.request_log)

    @property
    def faults(self) -> Faults:
        return self.server.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.server.set_faults(faults)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.hang_up_all()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_hotline(store_path: str | os.PathLike, host: str = "127.0.0.1", port: int = 0,
                  token: str = "", faults: Faults = NO_FAULTS) -> ServerHandle:
    """Start serving `store_path` in a background thread (port 0: any free port)."""
    if not token:
        raise ValueError("the hotline server needs a bearer token")
    server = HotlineHTTPServer((host, port), VersionStore(store_path), token, faults)
    return ServerHandle(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govshare serve-hotline",
                                     description="Serve a simulated 12345 hotline API.")
    parser.add_argument("store", type=Path, help="hotline/tickets.sqlite from the simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8012)
    parser.add_argument("--token", default=os.environ.get("GOVSHARE_HOTLINE_TOKEN"),
                        help="bearer token (default: $GOVSHARE_HOTLINE_TOKEN)")
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--retry-after", type=int, default=1, help="seconds, with 429")
    parser.add_argument("--rate-503", type=float, default=0.0)
    parser.add_argument("--rate-drop", type=float, default=0.0)
    parser.add_argument("--rate-truncate", type=float, default=0.0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per page")
    parser.add_argument("--max-rps", type=float, default=None,
                        help="per-client requests per second before 429")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set GOVSHARE_HOTLINE_TOKEN")
    faults = Faults(rate_429=args.rate_429, retry_after_seconds=args.retry_after,
                    rate_503=args.rate_503, rate_drop=args.rate_drop,
                    rate_truncate=args.rate_truncate, page_latency_seconds=args.latency,
                    max_requests_per_second=args.max_rps, seed=args.seed)
    handle = serve_hotline(args.store, args.host, args.port, args.token, faults)
    print(f"12345 hotline API at {handle.url}/v1/tickets (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
