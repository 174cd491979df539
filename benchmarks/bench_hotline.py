"""Hotline throughput: emitter tickets/s, server pages/s, connector time vs pages x latency.

    .venv/bin/python benchmarks/bench_hotline.py [--days 30] [--out var/bench-hotline]

The 'month' run uses the city scale's ticket rate (1.2M a year) over `--days` with a small
population, so it measures the hotline emitter rather than the city builder.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from measure import record

from connectors.base import Window
from connectors.hotline import HotlineConnector
from connectors.landing import RawLanding
from simulator.city import build_city
from simulator.hotline import emit_hotline
from simulator.hotline_server import Faults, serve_hotline
from simulator.model import SCALES, Scale

TOKEN = "bench-token"
PLATFORM_TZ = timezone(timedelta(hours=8))


class MemoryState:
    def __init__(self):
        self.marks = {}

    def get_watermark(self, source):
        return self.marks.get(source)

    def set_watermark(self, source, value, run_id):
        self.marks[source] = value


def generation(scale: Scale, out: Path) -> dict:
    city = build_city(42, scale)
    started = time.perf_counter()
    summary = emit_hotline(city, out)
    seconds = time.perf_counter() - started
    return {"scale": scale.name, "tickets": summary.tickets, "versions": summary.versions,
            "seconds": round(seconds, 2), "tickets_per_s": round(summary.tickets / seconds),
            "versions_per_s": round(summary.versions / seconds),
            "store_mb": round((out / "hotline" / "tickets.sqlite").stat().st_size / 2**20)}


def read_window(url: str, since: datetime, until: datetime, page_size: int) -> tuple[int, int]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    params = {"updated_since": since.isoformat(), "updated_until": until.isoformat(),
              "page_size": page_size}
    pages = tickets = 0
    while True:
        page = session.get(f"{url}/v1/tickets", params=params).json()
        pages, tickets = pages + 1, tickets + len(page["tickets"])
        if not page["next_page_token"]:
            return pages, tickets
        params["page_token"] = page["next_page_token"]


def server_pages(store: Path, since: datetime, until: datetime) -> list[dict]:
    results = []
    with serve_hotline(store, token=TOKEN) as handle:
        for page_size, clients in ((200, 1), (1000, 1), (200, 4)):
            counts: list[tuple[int, int]] = []

            def client(size: int = page_size, into: list = counts) -> None:
                into.append(read_window(handle.url, since, until, size))

            started = time.perf_counter()
            threads = [threading.Thread(target=client) for _ in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - started
            pages = sum(c[0] for c in counts)
            results.append({"page_size": page_size, "clients": clients, "pages": pages,
                            "tickets": sum(c[1] for c in counts), "seconds": round(seconds, 2),
                            "pages_per_s": round(pages / seconds, 1)})
    return results


def connector_runs(store: Path, window: Window) -> list[dict]:
    results = []
    for latency in (0.0, 0.2):
        with serve_hotline(store, token=TOKEN,
                           faults=Faults(page_latency_seconds=latency)) as handle, \
                tempfile.TemporaryDirectory() as landing:
            connector = HotlineConnector({"base_url": handle.url, "token": TOKEN,
                                          "page_size": 500, "max_requests_per_second": 20,
                                          "overlap_seconds": 0}, rng=random.Random(1))
            started = time.perf_counter()
            report = connector.extract(window, RawLanding(landing), MemoryState(), "bench")
            seconds = time.perf_counter() - started
            results.append({"latency_s": latency, "pages": report.notes["pages"],
                            "tickets": report.landed, "seconds": round(seconds, 2),
                            "pages_x_latency_s": round(report.notes["pages"] * latency, 2),
                            "tickets_per_s": round(report.landed / seconds)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("var/bench-hotline"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    month = Scale("month", residents=30_000, units=3_000,
                  tickets_per_year=SCALES["city"].tickets_per_year,
                  grid_events_per_year=0, days=args.days)
    report = {"generation": [generation(s, args.out / s.name)
                             for s in (SCALES["tiny"], SCALES["small"], month)]}
    store = args.out / "month" / "hotline" / "tickets.sqlite"
    start = datetime(2026, 11, 1, tzinfo=PLATFORM_TZ)
    report["server"] = server_pages(store, start + timedelta(days=args.days // 2),
                                    start + timedelta(days=args.days // 2 + 1))
    report["connector"] = connector_runs(store, Window(start + timedelta(days=args.days // 2),
                                                       start + timedelta(days=args.days // 2
                                                                         + 1)))
    lines = ["| emitter run | tickets | versions | seconds | tickets/s |", "|---|---|---|---|---|"]
    lines += [f"| {g['scale']} | {g['tickets']:,} | {g['versions']:,} | {g['seconds']} | "
              f"{g['tickets_per_s']:,} |" for g in report["generation"]]
    lines += ["", "| server: page size, clients | pages | seconds | pages/s |", "|---|---|---|---|"]
    lines += [f"| {r['page_size']}, {r['clients']} | {r['pages']} | {r['seconds']} | "
              f"{r['pages_per_s']} |" for r in report["server"]]
    lines += ["", "| connector: page latency | pages | tickets | seconds | pages x latency |",
              "|---|---|---|---|---|"]
    lines += [f"| {c['latency_s']} s | {c['pages']} | {c['tickets']:,} | {c['seconds']} | "
              f"{c['pages_x_latency_s']} s |" for c in report["connector"]]
    record("Hotline: emitter, server, connector",
           f"python benchmarks/bench_hotline.py --days {args.days}", lines)


if __name__ == "__main__":
    main()
