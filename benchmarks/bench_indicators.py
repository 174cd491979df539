"""Indicators (indicators.compute) for one day and its month to date, and a whole month
recomputed (its days and month to date in one run), at `district` and `city` volumes, with peak memory, beside a floor
measured in the same run (one plain `count(*)` and one grouped scan of the same tables).

The published tables are synthesized at the scale's yearly volumes (tickets, dispatches,
whistles, grid events, register, party members, unit reports, rosters, xrefs, person
mentions): simulating the `city` scale alone takes about 6 minutes and 11 GB, and running
extraction, validation, resolution and publication over a year of it does not fit this
machine's time box. The indicators read only the published tables, so their cost at a
volume is measured here; the tests check the values on the real simulated city.

    python benchmarks/bench_indicators.py --scale district [--engine postgres]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import peak_rss_mib, record  # noqa: E402
from indicators.compute import compute_day, compute_days  # noqa: E402
from indicators.settings import load_settings  # noqa: E402
from simulator.model import SCALES  # noqa: E402
from warehouse.engine import bulk_insert  # noqa: E402
from warehouse.migrate import open_warehouse  # noqa: E402

DAY = date(2026, 11, 30)  # the last day of a month: its month to date is the whole month
SHAPE = {"district": (1, 10, 6), "city": (9, 10, 7)}  # districts, streets each, communities each
COMPOUNDS = ["团结小区", "幸福家园", "阳光花园", "富丽小区", "滨河嘉园", "钢铁小区"]
PROBLEMS = [("公用事业/供暖不热", "城乡建设/供热/供暖不热", "供暖不热"),
            ("市容环境/暴露垃圾", "城乡建设/市容环卫/垃圾清运", "垃圾未清运"),
            ("公共设施/电梯故障", "城乡建设/物业管理/电梯故障", "电梯故障"),
            ("生态环境/噪声扰民", "生态环境/噪声/噪音扰民", "噪音扰民")]
LINEAGE = {"content_hash": "h", "run_id": "bench"}


def divisions_of(scale: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    districts, streets, communities = SHAPE[scale]
    rows = [("150100000000", "示例市", "city", None)]  # a synthetic city
    for d in range(districts):
        dc = f"1501{d + 2:02d}000000"
        rows.append((dc, f"第{d + 1}区", "district", "150100000000"))
        for s in range(streets):
            sc = f"{dc[:6]}{s + 1:03d}000"
            rows.append((sc, f"第{d + 1}区第{s + 1}街道", "street", dc))
            rows += [(f"{sc[:9]}{c + 1:03d}", f"第{s + 1}街第{c + 1}社区", "community", sc)
                     for c in range(communities)]
    divisions = pd.DataFrame(rows, columns=["code", "name", "level", "parent_code"])
    community = divisions.loc[divisions["level"] == "community", "code"].to_numpy()
    grids = pd.DataFrame({"grid_code": np.repeat(community, 4) + np.tile(
        ["001", "002", "003", "004"], len(community))})
    grids["community_code"] = grids["grid_code"].str[:12]
    grids["name"] = "网格"
    grids["grid_worker_staff_no"] = "G" + grids["grid_code"]
    return divisions, grids


def _times(rng, n: int, days: int) -> pd.Series:
    end = pd.Timestamp(DAY + timedelta(days=1), tz="Asia/Shanghai").tz_convert("UTC")
    return end - pd.to_timedelta(rng.integers(0, days * 86400, n), unit="s")


def _hours(rng, n: int, mean: float) -> pd.Series:
    return pd.to_timedelta(rng.exponential(mean * 3600, n).astype("int64"), unit="s")


def synthesize(engine: sa.Engine, scale: str, seed: int = 1) -> dict[str, int]:
    """The published tables a year of the scale would leave; rows per table."""
    rng = np.random.default_rng(seed)
    spec = SCALES[scale]
    divisions, grids = divisions_of(scale)
    community = divisions.loc[divisions["level"] == "community", "code"].to_numpy()
    n_res, n_t, n_g = spec.residents, spec.tickets_per_year, spec.grid_events_per_year
    residents = np.array([f"R{i:010d}" for i in range(n_res)], dtype=object)
    home = rng.choice(community, n_res)
    tables: dict[str, pd.DataFrame] = {}

    # hotline: callers drawn with a long tail, so some call again and again
    caller = np.minimum(rng.zipf(1.6, n_t), n_res) - 1
    caller = rng.permutation(n_res)[caller]
    received = _times(rng, n_t, 365)
    place = home[caller]
    compound = rng.integers(0, len(COMPOUNDS), n_t)
    building = rng.integers(1, 20, n_t)
    problem = rng.integers(0, len(PROBLEMS), n_t)
    address = pd.Series(np.array(COMPOUNDS, dtype=object)[compound]) + \
        pd.Series(building).astype(str) + "号楼"
    contact = received + _hours(rng, n_t, 10)
    resolved = received + _hours(rng, n_t, 72)
    called = resolved + pd.to_timedelta(1, unit="D")
    ids = pd.Series([f"HL{i:010d}" for i in range(n_t)], dtype=object)
    tickets = pd.DataFrame({
        "ticket_id": ids, "received_at": received, "urgency": np.where(
            rng.random(n_t) < 0.1, "紧急", "一般"),
        "community_code": place, "street_code": pd.Series(place).str[:9] + "000",
        "district_code": pd.Series(place).str[:6] + "000000",
        "category": np.array([p[1] for p in PROBLEMS], dtype=object)[problem],
        "title": address + np.array([p[2] for p in PROBLEMS], dtype=object)[problem],
        "address_text": address,
        "first_contact_at": contact.where(rng.random(n_t) < 0.95),
        "resolved_at": resolved.where(rng.random(n_t) < 0.9),
        "callback_called_at": called, "callback_reached": rng.random(n_t) < 0.8,
        "callback_resolved": np.where(rng.random(n_t) < 0.85, "已解决", "未解决"),
        "callback_satisfaction": rng.choice(["满意", "基本满意", "不满意"], n_t, p=[.7, .2, .1]),
        "whistle_blown_at": (received + _hours(rng, n_t, 2)).where(rng.random(n_t) < 0.05),
        "resident_id": residents[caller], "updated_at": called, "source": "hotline.tickets",
        "source_record_id": ids, "loaded_at": called, **LINEAGE})
    tables["shared.hotline_ticket"] = tickets
    tables["shared.hotline_dispatch"] = pd.DataFrame({
        "ticket_id": ids, "seq": 0, "mode": rng.choice(["派单", "直派"], n_t),
        "dispatched_at": received + pd.to_timedelta(10, unit="min"),
        "returned_at": (received + _hours(rng, n_t, 5)).where(rng.random(n_t) < 0.05),
        "content_hash": "h"})
    whistled = tickets["whistle_blown_at"].notna().to_numpy()
    summons = pd.DataFrame({"ticket_id": np.repeat(ids[whistled].to_numpy(), 2),
                            "seq": np.tile([0, 1], whistled.sum())})
    blown = np.repeat(tickets.loc[whistled, "whistle_blown_at"].to_numpy(), 2)
    summons["reported_at"] = pd.Series(blown) + _hours(rng, len(summons), 12)
    summons["dept_code"], summons["content_hash"] = "D", "h"
    tables["shared.hotline_whistle_summons"] = summons

    # grid events: a share are the same problem as a ticket, reported within a day
    twin = rng.random(n_g) < 0.05
    source = rng.integers(0, n_t, n_g)
    reported = _times(rng, n_g, 365).where(~twin, received[source] + _hours(rng, n_g, 6))
    g_place = np.where(twin, place[source], rng.choice(community, n_g))
    g_problem = np.where(twin, problem[source], rng.integers(0, len(PROBLEMS), n_g))
    g_address = address[source].to_numpy() if n_g else address
    events = pd.DataFrame({
        "event_id": [f"GE{i:010d}" for i in range(n_g)], "community_code": g_place,
        "street_code": pd.Series(g_place).str[:9] + "000",
        "district_code": pd.Series(g_place).str[:6] + "000000",
        "grid_code": pd.Series(g_place) + "001", "reported_at": reported,
        "deadline_at": reported + pd.to_timedelta(48, unit="h"),
        "closed_at": (reported + _hours(rng, n_g, 40)).where(rng.random(n_g) < 0.9),
        "hotline_ticket_id": np.where(rng.random(n_g) < 0.05, ids[source], None),
        "category": np.array([p[0] for p in PROBLEMS], dtype=object)[g_problem],
        "description": np.where(twin, g_address, "巡查") + np.array(
            [p[2] for p in PROBLEMS], dtype=object)[g_problem],
        "address_text": np.where(twin, g_address, "东门"),
        "updated_at": reported, "source": "grid.events", "loaded_at": reported, **LINEAGE})
    events["source_record_id"] = events["event_id"]
    tables["shared.grid_event"] = events

    # rosters: 15 people per community, the grids' workers among them
    per = 15
    workers = pd.DataFrame({"community_code": np.repeat(community, per)})
    workers["street_code"] = workers["community_code"].str[:9] + "000"
    workers["source_record_id"] = "rosters/" + workers["street_code"] + "/202611/r.xlsx#!" + \
        pd.Series(np.arange(len(workers))).astype(str)
    workers["roster_month"] = "202611"
    workers["post"] = np.tile(["党建组织员", "网格员", "网格员", "网格员", "网格员"] + ["专职社区工作者"] * 10,
                              len(community))
    slot = np.tile(np.arange(per), len(community))
    workers["staff_no"] = np.where((slot >= 1) & (slot <= 4), "G" + workers["community_code"]
                                   + pd.Series(slot).map("{:03d}".format), None)
    workers["resident_id"] = residents[rng.integers(0, n_res, len(workers))]
    workers["source"], workers["loaded_at"] = "rosters", pd.Timestamp("2026-11-02", tz="UTC")
    workers = workers.assign(**LINEAGE)
    tables["shared.community_worker"] = workers

    # departments: register, party members, unit reports as staged JSON, with their xrefs
    landed = pd.Timestamp("2026-11-30", tz="UTC")

    def staged(source, keys, records, updated):
        return pd.DataFrame({"source": source, "source_record_id": keys, "content_hash": "h",
                             "record_updated_at": updated, "record": records,
                             "run_id": "bench", "landed_at": landed, "staged_at": landed})
    status = np.where(rng.random(n_res) < 0.95, "正常", "迁出")
    reg_keys = pd.Series([f"reg{i}" for i in range(n_res)], dtype=object)
    reg = [json.dumps({"status": s, "community_code": c}, ensure_ascii=False)
           for s, c in zip(status, home)]
    members = rng.choice(n_res, n_res // 20, replace=False)
    pm_keys = pd.Series([f"pm{i}" for i in range(len(members))], dtype=object)
    pm = [json.dumps({"in_service": int(s), "residence_community_code": c,
                      "reported_to_community": int(r), "reported_on": "2026-10-01"})
          for s, c, r in zip(rng.random(len(members)) < 0.7, home[members],
                             rng.random(len(members)) < 0.6)]
    n_u = spec.units
    ur_keys = pd.Series([f"ur{i}" for i in range(n_u)], dtype=object)
    ur = [json.dumps({"community_code": c, "reported_on": "2026-10-15", "list_type": t,
                      "status": s}, ensure_ascii=False)
          for c, t, s in zip(rng.choice(community, n_u), rng.choice(["需求", "资源", "项目"], n_u),
                             rng.choice(["待对接", "已对接", "已完成"], n_u))]
    tables["staging.record_version"] = pd.concat([
        staged("civil_affairs.residents", reg_keys, reg, "2026-11-29 10:00:00"),
        staged("organization.party_members", pm_keys, pm, "2026-11-29 11:00:00"),
        staged("organization.unit_reports", ur_keys, ur, "2026-11-29 12:00:00"),
        staged("hotline.tickets", ids.iloc[:1], ["{}"], "2026-11-30T23:00:00+08:00")])
    mention_keys = pd.concat([ids, events["event_id"] + "#0", workers["source_record_id"],
                              pm_keys], ignore_index=True)
    mention_sources = np.repeat(["hotline.tickets", "grid.events.persons", "rosters",
                                 "organization.party_members"],
                                [n_t, n_g, len(workers), len(pm_keys)])
    mention_people = np.concatenate([residents[caller], residents[rng.integers(0, n_res, n_g)],
                                     workers["resident_id"], residents[members]])
    tables["shared.resident_xref"] = pd.DataFrame({
        "source": np.concatenate([["civil_affairs.residents"] * n_res,
                                  ["organization.party_members"] * len(pm_keys),
                                  mention_sources[:n_t + n_g + len(workers)]]),
        "source_record_id": pd.concat([reg_keys, pm_keys,
                                       mention_keys.iloc[:n_t + n_g + len(workers)]]),
        "resident_id": np.concatenate([residents, residents[members],
                                       mention_people[:n_t + n_g + len(workers)]]),
        "match_rule": "exact_id"})
    tables["shared.unit_xref"] = pd.DataFrame({
        "source": "organization.unit_reports", "source_record_id": ur_keys,
        "unit_id": [f"U{i}" for i in rng.integers(0, n_u, n_u)], "match_rule": "exact_uscc"})
    tables["core.person_mention"] = pd.DataFrame({
        "source": mention_sources, "source_record_id": mention_keys,
        "resident_id": mention_people, "name": "某", "phone": "13800000000",
        "first_seen": pd.Timestamp("2026-11-01", tz="UTC"), "match_rule": "exact_id",
        "content_hash": "h", "run_id": "bench"})
    with engine.begin() as conn:
        for table, frame in tables.items():
            bulk_insert(conn, frame, table)
    return {table: len(frame) for table, frame in tables.items()}


FLOOR_TABLES = ("shared.hotline_ticket", "shared.hotline_dispatch", "shared.grid_event",
                "shared.community_worker", "staging.record_version", "shared.resident_xref",
                "core.person_mention")


def floor(engine: sa.Engine) -> float:
    """Seconds for one count(*) of every table the indicators read, plus one grouped scan
    of the tickets by community (what any per-division figure costs at least)."""
    began = time.perf_counter()
    with engine.connect() as conn:
        for table in FLOOR_TABLES:
            conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
        conn.exec_driver_sql("SELECT community_code, count(*) FROM shared.hotline_ticket "
                             "GROUP BY community_code").all()
    return time.perf_counter() - began


def measure(url: str, scale: str, month_days: int) -> dict:
    """The timed part, in its own process (its peak memory is the computation's alone)."""
    engine = open_warehouse(url)
    divisions, grids = divisions_of(scale)
    settings = load_settings()
    out = {"floor": floor(engine)}
    began = time.perf_counter()
    first = compute_day(engine, settings, divisions, grids, DAY, "bench-day")
    out["day"] = time.perf_counter() - began
    began = time.perf_counter()
    again = compute_day(engine, settings, divisions, grids, DAY, "bench-again")
    out["again"] = time.perf_counter() - began
    days = [DAY.replace(day=1) + timedelta(days=n) for n in range(month_days)]
    began = time.perf_counter()
    compute_days(engine, settings, divisions, grids, days, "bench-month")
    out["month"] = time.perf_counter() - began
    engine.dispose()
    return {**out, "days": len(days), "rows_written": first["rows_written"],
            "again_written": again["rows_written"], "links": first["links"],
            "divisions": len(divisions), "peak_mib": peak_rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=["district", "city"], default="district")
    parser.add_argument("--engine", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/"
                        "govshare_bench_indicators")
    parser.add_argument("--month-days", type=int, default=30,
                        help="days of the month recomputed one by one (default: all 30)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child's warehouse URL
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.scale, args.month_days)))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-indicators-"))
    url = f"duckdb:///{work / 'warehouse.duckdb'}" if args.engine == "duckdb" else args.pg_url
    if args.engine == "postgres":
        admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS govshare_bench_indicators")
            conn.exec_driver_sql("CREATE DATABASE govshare_bench_indicators")
        admin.dispose()
    engine = open_warehouse(url)
    began = time.perf_counter()
    rows = synthesize(engine, args.scale)
    made = time.perf_counter() - began
    engine.dispose()
    child = subprocess.run([sys.executable, __file__, "--scale", args.scale, "--month-days",
                            str(args.month_days), "--measure", url],
                           check=True, capture_output=True, text=True)
    m = json.loads(child.stdout.strip().splitlines()[-1])
    volumes = ", ".join(f"{t.split('.')[-1]} {n:,}" for t, n in rows.items())
    lines = [
        f"Scale `{args.scale}` on {args.engine}: published tables synthesized at a year's "
        f"volume ({volumes}) in {made:.0f} s; {m['divisions']} divisions. The simulator and "
        "the pipeline are not run here (a year of the city does not fit the time box); the "
        "tests check the values on the simulated city.",
        "",
        "| what | wall time | beside the floor |",
        "|---|---|---|",
        f"| floor: count(*) of the {len(FLOOR_TABLES)} tables read + tickets by community | "
        f"{m['floor']:.2f} s | 1× |",
        f"| one day and its month to date (all 23 codes, links rebuilt, merged) | "
        f"{m['day']:.1f} s | {m['day'] / m['floor']:.0f}× |",
        f"| the same day again (nothing changes: {m['again_written']} rows written) | "
        f"{m['again']:.1f} s | {m['again'] / m['floor']:.0f}× |",
        f"| a month recomputed: its {m['days']} days and the month to date in one run "
        f"(`govshare indicators compute --date D --through D2`) | {m['month']:.1f} s | "
        f"{m['month'] / m['floor']:.0f}× |",
        "",
        f"Rows written by the first day: {m['rows_written']:,}; grid-hotline links "
        f"{m['links']}. Peak memory of the computing process: {m['peak_mib']:,.0f} MiB. "
        "Goal: a city day < 30 s, a month < 2 min.",
    ]
    record(f"Indicators, scale {args.scale} ({args.engine})",
           f"python benchmarks/bench_indicators.py --scale {args.scale} --engine {args.engine}",
           lines)


if __name__ == "__main__":
    main()
