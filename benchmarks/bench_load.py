"""Load: the pipeline under more than the city sends, slower but never failing or losing data.

    .venv/bin/python benchmarks/bench_load.py                       # both, at issue 14's load
    .venv/bin/python benchmarks/bench_load.py --part hotline --hotline-factor 10
    .venv/bin/python benchmarks/bench_load.py --part departments --departments-factor 2
    .venv/bin/python benchmarks/bench_load.py --part copy --rows 3500000

- hotline: the 12345 platform at `--hotline-factor` times the city's peak day. The city's
  peak day is measured (a week at the city's ticket rate, busiest day); a second store at
  the factor times that rate gives the surge, whose busiest day is extracted through the
  real server (429 and 503 on 2% of requests each, Retry-After honoured), validated and
  staged. Floor: reading the same window's pages from the server with no faults and no
  pipeline (plain HTTP).
- departments: the resident register at `--departments-factor` times the city's 3.5M rows
  in PostgreSQL (the simulated register repeated with fresh keys), a full initial load:
  extracted (server-side cursor, chunks), validated and staged. Floor: PostgreSQL's own
  `COPY (SELECT ... ORDER BY ...) TO STDOUT` of the same rows.
- copy: the warehouse's bulk path into PostgreSQL against `COPY ... FROM '<file>'`.

Each load part ends in the reconciliation (pipeline/reconcile.py): what the source emitted
for the window = landed = loaded + quarantined; a difference fails the script (exit 1). Each
part runs in its own interpreter, so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from measure import peak_rss_mib, record

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TOKEN = "bench-load-token"
CITY_RESIDENTS = 3_500_000


def _new_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_database(admin_url: str, url: str) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
    admin.dispose()


def _reconciled(config: dict, source: str) -> dict:
    from pipeline.reconcile import reconcile_config

    [run] = reconcile_config(config, sources=[source])
    return {"landed": run.landed, "loaded": run.loaded, "quarantined": run.quarantined,
            "rejected": run.rejected, "received": run.received, "ok": run.ok,
            "problems": run.problems}


def hotline_part(work: Path, factor: float, warehouse_url: str) -> dict:
    from simulator.city import build_city
    from simulator.hotline import emit_hotline
    from simulator.hotline_server import Faults, serve_hotline
    from simulator.model import SCALES, Scale

    def store(rate: float, name: str) -> pd.DataFrame:
        scale = Scale(name, residents=30_000, units=3_000, tickets_per_year=int(rate),
                      grid_events_per_year=0, days=7)
        emit_hotline(build_city(42, scale), work / name)
        emitted = pd.read_parquet(work / name / "truth" / "hotline_emitted.parquet")
        emitted["at"] = pd.to_datetime(emitted["version"], utc=True)
        return emitted

    def busiest(emitted: pd.DataFrame) -> tuple[pd.Timestamp, int]:
        local = emitted["at"].dt.tz_convert("Asia/Shanghai").dt.floor("D")
        per_day = emitted.groupby(local)["source_record_id"].nunique()
        return per_day.idxmax(), int(per_day.max())

    city_rate = SCALES["city"].tickets_per_year
    _, city_peak = busiest(store(city_rate, "city_week"))
    started = time.perf_counter()
    surge = store(city_rate * factor, "surge_week")
    generate_s = time.perf_counter() - started
    day, surge_day = busiest(surge)
    since, until = day.to_pydatetime(), (day + pd.Timedelta(days=1)).to_pydatetime()
    # What a puller of (since, until] can observe: each ticket's latest version by `until`,
    # for the tickets whose that-latest version is inside the window.
    upto = surge[surge["at"] <= pd.Timestamp(until)]
    latest = upto.sort_values("at").groupby("source_record_id").tail(1)
    expected = int((latest["at"] > pd.Timestamp(since)).sum())
    sqlite = work / "surge_week" / "hotline" / "tickets.sqlite"

    with serve_hotline(sqlite, token=TOKEN) as server:  # the floor: pages, nothing else
        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        params = {"updated_since": since.isoformat(), "updated_until": until.isoformat(),
                  "page_size": 1000}
        started, read = time.perf_counter(), 0
        while True:
            page = session.get(f"{server.url}/v1/tickets", params=params).json()
            read += len(page["tickets"])
            if not page["next_page_token"]:
                break
            params["page_token"] = page["next_page_token"]
        floor_s = time.perf_counter() - started

    faults = Faults(rate_429=0.02, retry_after_seconds=1, rate_503=0.02, seed=14)
    with serve_hotline(sqlite, token=TOKEN, faults=faults) as server:
        config = {"warehouse_url": warehouse_url, "landing_root": str(work / "landing"),
                  "data_docs_dir": str(work / "docs"),
                  "reference": {"root": str(_reference(work))},
                  "hotline": {"base_url": server.url, "token": TOKEN, "page_size": 1000,
                              "overlap_seconds": 0, "max_retries": 12, "backoff_base": 0.2,
                              "backoff_max": 2.0, "max_requests_per_second": 50}}
        timings = _extract_and_stage(config, "hotline.tickets", since, until)
        faulted = sum(1 for r in server.request_log if r.fault)
    return {"part": "hotline", "factor": factor, "city_peak_day": city_peak,
            "surge_day": surge_day, "expected": expected, "floor_read": read,
            "floor_s": floor_s, "generate_s": generate_s, "faulted_requests": faulted,
            **timings, **_reconciled(config, "hotline.tickets"), "peak_mib": peak_rss_mib()}


def _reference(work: Path) -> Path:
    """The reference files of the simulated city, for the validation rules."""
    from simulator.city import build_city
    from simulator.run import write_reference

    if not (work / "reference").exists():
        write_reference(build_city(42, "small"), work)
    return work / "reference"


def _extract_and_stage(config: dict, source: str, since: datetime, until: datetime) -> dict:
    from pipeline import extraction, staging

    started = time.perf_counter()
    extracted = extraction.extract(source, since, until, "load", config)
    extract_s = time.perf_counter() - started
    started = time.perf_counter()
    staged = staging.validate_and_load(source, (until - timedelta(microseconds=1)).date(),
                                       "load", config)
    return {"extract_s": extract_s, "stage_s": time.perf_counter() - started,
            "extracted": extracted["landed"], "staged": staged["staged"]}


def departments_part(work: Path, factor: float, warehouse_url: str, admin_url: str) -> dict:
    from simulator.city import build_city
    from simulator.departments import SOURCE_STREAM, build_tables, residents
    from simulator.noise import Noiser
    from warehouse.engine import bulk_insert

    source = "civil_affairs.residents"
    rows = int(CITY_RESIDENTS * factor)
    city = build_city(42, "small")
    rng = np.random.default_rng([city.seed, SOURCE_STREAM])
    register = build_tables(city, Noiser(city.noise, rng), rng)[source]
    url = _new_database(admin_url, "govshare_bench_dept")
    try:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA civil_affairs")
        residents.create(engine)
        started = time.perf_counter()
        chunk = 1_000_000
        for offset in range(0, rows, chunk):  # the register repeated, with fresh keys
            n = min(chunk, rows - offset)
            part = pd.concat([register] * -(-n // len(register)), ignore_index=True).iloc[:n]
            part = part.assign(resident_no=pd.Series(np.arange(offset, offset + n)).map(
                "MZ{:010d}".format).astype("str").to_numpy())
            with engine.begin() as conn:
                bulk_insert(conn, part, source)
        generate_s = time.perf_counter() - started
        with engine.connect() as conn:
            newest = conn.exec_driver_sql(f"SELECT max(updated_at) FROM {source}").scalar()
            raw = conn.connection.dbapi_connection
            started = time.perf_counter()
            with raw.cursor() as cursor, cursor.copy(
                    f"COPY (SELECT * FROM {source} ORDER BY updated_at, resident_no) "
                    "TO STDOUT") as copy:
                copied = sum(len(block) for block in copy)
            floor_s = time.perf_counter() - started
        engine.dispose()
        config = {"warehouse_url": warehouse_url, "landing_root": str(work / "landing"),
                  "data_docs_dir": str(work / "docs"),
                  "reference": {"root": str(_reference(work))},
                  "volume_check": {"min_runs": 10_000},
                  "departments": [{"table": source, "key": "resident_no", "url": url,
                                   "chunk_rows": 50_000}]}
        until = (pd.Timestamp(newest) + pd.Timedelta(days=1)).to_pydatetime()
        from zoneinfo import ZoneInfo

        until = until.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        timings = _extract_and_stage(config, source, datetime(2000, 1, 1, tzinfo=until.tzinfo),
                                     until)
        return {"part": "departments", "factor": factor, "expected": rows,
                "floor_s": floor_s, "floor_bytes": copied, "generate_s": generate_s,
                **timings, **_reconciled(config, source), "peak_mib": peak_rss_mib()}
    finally:
        _drop_database(admin_url, url)


def copy_part(rows: int, admin_url: str) -> list[str]:
    """The warehouse's PostgreSQL load path against COPY from a file (the earlier figures)."""
    from warehouse.engine import bulk_insert
    from warehouse.scd2 import apply_scd2

    frame = resident_rows(rows)
    url = _new_database(admin_url, "govshare_bench")
    engine = sa.create_engine(url)
    timings = {}
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA shared")
        with tempfile.TemporaryDirectory() as folder:
            csv_path = Path(folder) / "residents.csv"
            frame.to_csv(csv_path, index=False, header=False)
            csv_path.chmod(0o644)
            Path(folder).chmod(0o755)  # the server process reads the file itself
            for label, load in (
                ("floor: COPY FROM file", lambda c: c.exec_driver_sql(
                    f"COPY shared.resident_bench FROM '{csv_path}' WITH (FORMAT csv)")),
                ("bulk_insert (COPY FROM STDIN)",
                 lambda c: bulk_insert(c, frame, "shared.resident_bench")),
                ("apply_scd2 into an empty table", lambda c: apply_scd2(
                    c, frame, "shared.resident_bench", ["resident_id"], return_keys=False)),
            ):
                with engine.begin() as conn:
                    conn.exec_driver_sql("DROP TABLE IF EXISTS shared.resident_bench")
                    conn.exec_driver_sql(TABLE_DDL)
                with engine.begin() as conn:
                    t0 = time.perf_counter()
                    load(conn)
                timings[label] = time.perf_counter() - t0
                with engine.connect() as conn:
                    loaded = conn.exec_driver_sql(
                        "SELECT count(*) FROM shared.resident_bench").scalar()
                assert loaded == len(frame), (label, loaded)
    finally:
        engine.dispose()
        _drop_database(admin_url, url)
    floor = timings["floor: COPY FROM file"]
    lines = [f"- rows: {len(frame):,} resident-shaped rows (shared.resident's 9 columns, "
             "primary key on resident_id), PostgreSQL 15 on the same machine",
             "- bulk_insert: DataFrame -> Arrow CSV writer -> COPY FROM STDIN (queued writer); "
             "what every load uses",
             "- apply_scd2: bulk_insert into a temporary table, compare with the current state "
             "in SQL, insert the new rows (what publish and golden records use)", "",
             "| path | seconds | rows/s | share of the floor's speed |", "|---|---|---|---|"]
    for label, seconds in timings.items():
        lines.append(f"| {label} | {seconds:.1f} | {len(frame) / seconds:,.0f} | "
                     f"{floor / seconds:.0%} |")
    return lines


TABLE_DDL = """CREATE TABLE shared.resident_bench (
    resident_id VARCHAR(13) PRIMARY KEY, name TEXT, id_number_masked VARCHAR(18),
    gender VARCHAR(4), birth_date DATE, community_code VARCHAR(12),
    source_count INTEGER NOT NULL, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ)"""


def resident_rows(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    surnames = np.array(list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"))
    given = np.array(list("秀英建国海燕志强丽娟明华玉兰桂芳军伟敏静"))
    names = pd.Series(surnames[rng.integers(0, len(surnames), n)]).str.cat(
        [given[rng.integers(0, len(given), n)], given[rng.integers(0, len(given), n)]])
    birth = pd.Timestamp("1930-01-01") + pd.to_timedelta(rng.integers(0, 33000, n), unit="D")
    community = 150102001000 + rng.integers(1, 40, n) + 1000 * rng.integers(0, 12, n)
    seen = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 300 * 86400, n), unit="s")
    ids = pd.Series(np.arange(1, n + 1)).map("R{:012d}".format)
    return pd.DataFrame({
        "resident_id": ids, "name": names,
        "id_number_masked": "150102" + "*" * 12,
        "gender": np.where(rng.random(n) < 0.5, "男", "女"),
        "birth_date": birth.date, "community_code": community.astype(str),
        "source_count": rng.integers(1, 5, n), "first_seen": seen, "last_seen": seen,
    })


def _load_lines(results: list[dict]) -> list[str]:
    lines = ["Each run ends in the reconciliation: emitted for the window = landed = loaded + "
             "quarantined (exit 1 otherwise).", "",
             "| load | records emitted | floor (s) | extract (s) | validate + stage (s) | "
             "records/s, whole | landed | loaded + quarantined | lost | peak memory |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["part"] == "hotline":
            what = (f"hotline {r['factor']:g}× the city's peak day ({r['surge_day']:,} "
                    f"tickets vs {r['city_peak_day']:,}), {r['faulted_requests']} requests "
                    "answered 429/503")
            floor = f"{r['floor_s']:.1f} (pages read bare)"
        else:
            what = (f"civil_affairs.residents {r['factor']:g}× city "
                    f"({r['expected']:,} rows), full load")
            floor = f"{r['floor_s']:.1f} (COPY TO STDOUT)"
        whole = r["extract_s"] + r["stage_s"]
        lost = r["expected"] - r["landed"] - r["rejected"]
        lines.append(f"| {what} | {r['expected']:,} | {floor} | {r['extract_s']:.1f} | "
                     f"{r['stage_s']:.1f} | {r['expected'] / whole:,.0f} | {r['landed']:,} | "
                     f"{r['loaded'] + r['quarantined']:,} | {lost} | {r['peak_mib']:,.0f} MiB |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["all", "hotline", "departments", "copy"],
                        default="all", help="all: hotline and departments")
    parser.add_argument("--hotline-factor", type=float, default=10.0)
    parser.add_argument("--departments-factor", type=float, default=2.0)
    parser.add_argument("--warehouse-url", help="default: a DuckDB file in a temporary folder")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--rows", type=int, default=3_500_000, help="--part copy")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.part == "copy":
        record("Warehouse load into PostgreSQL (bench_load.py --part copy)",
               f"python benchmarks/bench_load.py --part copy --rows {args.rows}",
               copy_part(args.rows, args.admin_url))
        return 0
    if args.json:  # one part, in this interpreter: its result as JSON on the last line
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            url = args.warehouse_url or f"duckdb:///{work / 'warehouse.duckdb'}"
            result = hotline_part(work, args.hotline_factor, url) if args.part == "hotline" \
                else departments_part(work, args.departments_factor, url, args.admin_url)
        print(json.dumps(result, default=str))
        return 0
    results = []
    for part in (["hotline", "departments"] if args.part == "all" else [args.part]):
        command = [sys.executable, __file__, "--part", part, "--json",
                   "--hotline-factor", str(args.hotline_factor),
                   "--departments-factor", str(args.departments_factor),
                   "--admin-url", args.admin_url]
        if args.warehouse_url:
            command += ["--warehouse-url", args.warehouse_url]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    record("Load: hotline surge and department registers (bench_load.py)",
           "python benchmarks/bench_load.py --hotline-factor "
           f"{args.hotline_factor:g} --departments-factor {args.departments_factor:g}",
           _load_lines(results))
    failed = [r for r in results if not r["ok"] or r["landed"] + r["rejected"] != r["expected"]
              or r["landed"] != r["loaded"] + r["quarantined"]]
    for r in failed:
        print(f"{r['part']}: NOT RECONCILED: {r['problems']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
