"""Department databases (contracts: docs/contracts/departments.md).

Writes the three departments' tables, as their read-only accounts see them, into a DuckDB
file by default or into MariaDB/MySQL or PostgreSQL given a SQLAlchemy URL (one database per
department on MariaDB, one schema per department on PostgreSQL and DuckDB). The database
holds each row's final state over the simulated period: rows created before the period carry
an `updated_at` spread over past years, and a share changes on each simulated day (moves,
new phones, deaths, status changes), including batches that share one timestamp, so an
incremental extractor meets same-timestamp ties.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from common.tabledefs import load_tables
from simulator import identity
from simulator.model import City
from simulator.noise import Noiser

SOURCE_STREAM = 11
CHUNK = 50_000

md = sa.MetaData()
_DEPARTMENT_TABLES = load_tables(Path(__file__).parent / "data" / "department_tables.yaml", md)
residents = _DEPARTMENT_TABLES["residents"]
enterprises = _DEPARTMENT_TABLES["enterprises"]
party_members = _DEPARTMENT_TABLES["party_members"]
unit_reports = _DEPARTMENT_TABLES["unit_reports"]

TABLES = {
    "civil_affairs.residents": (residents, "resident_no"),
    "market_regulation.enterprises": (enterprises, "entity_id"),
    "organization.party_members": (party_members, "member_no"),
    "organization.unit_reports": (unit_reports, "report_id"),
}
# The organisation department runs the city's older system, still on a GBK database.
GBK_SCHEMAS = {"organization"}

LIST_ITEMS = {
    "需求": ["老旧小区楼道照明维修", "社区老年食堂志愿者", "青少年课后托管场地", "垃圾分类宣传",
             "冬季供暖入户排查", "残疾人就业岗位"],
    "资源": ["提供党员活动室", "捐赠防疫物资", "开放单位停车场夜间共享", "法律咨询服务",
             "义诊进社区", "职业技能培训课程"],
    "项目": ["共建社区健身广场", "背街小巷整治", "邻里守望互助项目", "社区图书角建设",
             "平安社区共建", "党建联建结对帮扶"],
}


@dataclass
class Emitted:
    url: str
    rows: dict[str, int]


def _timestamps(rng: np.random.Generator, created, start: datetime, days: int,
                daily_change: float) -> np.ndarray:
    """Final `updated_at` of rows created at `created` (a date per row, or None): most were
    last touched between creation (at most 12 years back) and the period; each day of the
    period changes a `daily_change` share, a third of them in the nightly batch job that gives
    many rows one second (same-timestamp ties)."""
    n = len(created)
    period_start = np.datetime64(start, "s")
    earliest = np.datetime64(start - timedelta(days=365 * 12), "s")
    created = pd.to_datetime(pd.Series(created)).to_numpy().astype("datetime64[s]")
    lower = np.where(np.isnat(created), earliest, np.maximum(created, earliest))
    span = np.maximum((period_start - lower).astype("int64"), 1)
    stamps = lower + (rng.random(n) * span).astype("int64").astype("timedelta64[s]")
    changed = rng.random(n) < 1 - (1 - daily_change) ** days
    day = rng.integers(0, max(days, 1), n).astype("timedelta64[D]")
    second_of_day = rng.integers(8 * 3600, 22 * 3600, n)
    second_of_day = np.where(rng.random(n) < 0.33, 2 * 3600, second_of_day)
    in_period = period_start + day + second_of_day.astype("timedelta64[s]")
    return np.where(changed, in_period, stamps)


def _as_typed(rng: np.random.Generator, names: pd.Series, share: float) -> pd.Series:
    """Unit names as people type them: a share differs from the registered name."""
    names = pd.Series(names.to_numpy(), dtype=object)
    typed = names.notna() & (rng.random(len(names)) < share)
    names[typed] = [identity.unit_name_variant(name, rng) for name in names[typed]]
    return names


def build_tables(city: City, noiser: Noiser, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    start = datetime.combine(city.start, datetime.min.time())
    persons = city.persons.set_index("person_key", drop=False)
    units = city.units.set_index("unit_key", drop=False)

    reg = city.persons.loc[city.persons["in_register"]].reset_index(drop=True)
    n = len(reg)
    keys = pd.Series(np.arange(1, n + 1)).map("MZ{:010d}".format)
    updated = _timestamps(rng, reg["birth_date"], start, city.days, daily_change=0.002)
    id_type = rng.choice(["居民身份证", "护照", "港澳居民来往内地通行证", "台湾居民来往大陆通行证",
                          "外国人永久居留身份证"], p=[0.995, 0.002, 0.0015, 0.001, 0.0005], size=n)
    foreign_no = pd.Series(rng.integers(10_000_000, 99_999_999, n)).astype("str")
    id_number = pd.Series(np.where(id_type == "居民身份证", reg["id_number"],
                                   np.where(id_type == "护照", "E" + foreign_no, "H" + foreign_no)))
    old_row = updated < np.datetime64("2015-01-01")
    residents_df = pd.DataFrame({
        "resident_no": keys,
        "name": noiser.apply("civil_affairs.residents", "name", keys, reg["name"],
                             ["full_width", "traditional", "spaces", "mojibake"]),
        "id_type": id_type,
        "id_number": noiser.apply("civil_affairs.residents", "id_number", keys, id_number,
                                  ["missing", "spaces", "lowercase_x", "legacy15", "full_width"]),
        "gender": np.where(old_row, reg["gender"].map({"男": "1", "女": "2"}), reg["gender"]),
        "birth_date": reg["birth_date"].dt.date,
        "ethnicity": reg["ethnicity"],
        "phone": noiser.apply("civil_affairs.residents", "phone", keys, reg["phone"],
                              ["phone_format", "full_width", "typo_digit"]),
        "household_no": reg["household_key"].str.replace("H", "HH", regex=False),
        "relation_to_head": reg["relation_to_head"],
        "registered_address": reg["registered_address"],
        "residence_address": noiser.apply("civil_affairs.residents", "residence_address", keys,
                                          reg["address"], ["full_width", "traditional"]),
        "community_code": reg["community_code"],
        "status": reg["status"],
        "updated_at": updated,
    })

    u = city.units
    m = len(u)
    ekeys = pd.Series(np.arange(1, m + 1)).map("SC{:010d}".format)
    rep = persons.loc[u["legal_rep_person_key"]]
    enterprises_df = pd.DataFrame({
        "entity_id": ekeys,
        "uscc": noiser.apply("market_regulation.enterprises", "uscc", ekeys, u["uscc"],
                             ["spaces", "full_width"]),
        "name": noiser.apply("market_regulation.enterprises", "name", ekeys, u["name"],
                             ["full_width", "traditional"]),
        "entity_type": u["entity_type"],
        "legal_rep_name": rep["name"].to_numpy(),
        "legal_rep_id_number": noiser.apply(
            "market_regulation.enterprises", "legal_rep_id_number", ekeys,
            pd.Series(rep["id_number"].to_numpy()), ["missing", "spaces", "lowercase_x"]),
        "registered_address": u["address"],
        "community_code": u["community_code"],
        "industry_code": u["industry_code"],
        "established_on": u["established_on"].dt.date,
        "status": u["status"],
        "phone": noiser.apply("market_regulation.enterprises", "phone", ekeys, u["phone"],
                              ["phone_format"]),
        "updated_at": _timestamps(rng, u["established_on"], start, city.days,
                                  daily_change=0.002),
    })

    pm = city.party_members
    k = len(pm)
    mkeys = pm["member_no"]
    who = persons.loc[pm["person_key"]]
    workplace = units.reindex(pm["workplace_unit_key"])
    typed_workplace = noiser.apply("organization.party_members", "workplace_name", mkeys,
                                   _as_typed(rng, workplace["name"], 0.6), ["full_width"])
    has_uscc = rng.random(k) < 0.6
    party_df = pd.DataFrame({
        "member_no": mkeys,
        "name": noiser.apply("organization.party_members", "name", mkeys,
                             pd.Series(who["name"].to_numpy()), ["spaces", "full_width"]),
        "id_number": noiser.apply("organization.party_members", "id_number", mkeys,
                                  pd.Series(who["id_number"].to_numpy()),
                                  ["missing", "spaces", "lowercase_x", "legacy15"]),
        "phone": noiser.apply("organization.party_members", "phone", mkeys,
                              pd.Series(who["phone"].to_numpy()), ["phone_format"]),
        "party_org_name": pm["party_org_name"],
        "workplace_name": typed_workplace,
        "workplace_uscc": np.where(has_uscc, workplace["uscc"].to_numpy(), None),
        "in_service": pm["in_service"],
        "residence_community_code": pm["residence_community_code"],
        "reported_to_community": pm["reported_to_community"],
        "reported_on": pm["reported_on"].dt.date,
        "updated_at": _timestamps(rng, pm["reported_on"], start, city.days,
                                  daily_change=0.002),
    })

    live = u.loc[u["status"].isin(["存续", "在业"])]
    reporting = live.loc[rng.random(len(live)) < 0.3]
    per_unit = rng.integers(1, 4, len(reporting))
    rep_units = reporting.loc[reporting.index.repeat(per_unit)].reset_index(drop=True)
    r = len(rep_units)
    rkeys = pd.Series(np.arange(1, r + 1)).map("BD{:010d}".format)
    list_type = rng.choice(["需求", "资源", "项目"], p=[0.45, 0.35, 0.20], size=r)
    items = np.array([LIST_ITEMS[t][i % 6] for t, i in zip(list_type, rng.integers(0, 6, r))])
    reported_on = pd.Timestamp(city.start) - pd.to_timedelta(rng.integers(1, 900, r), unit="D")
    reports_df = pd.DataFrame({
        "report_id": rkeys,
        "unit_name": noiser.apply("organization.unit_reports", "unit_name", rkeys,
                                  _as_typed(rng, rep_units["name"], 0.5), ["full_width"]),
        "unit_uscc": np.where(rng.random(r) < 0.7, rep_units["uscc"], None),
        "community_code": rep_units["community_code"],
        "reported_on": reported_on.date,
        "list_type": list_type,
        "item": items,
        "status": rng.choice(["待对接", "已对接", "已完成"], p=[0.35, 0.4, 0.25], size=r),
        "updated_at": _timestamps(rng, reported_on, start, city.days, daily_change=0.005),
    })
    return {
        "civil_affairs.residents": residents_df,
        "market_regulation.enterprises": enterprises_df,
        "organization.party_members": party_df,
        "organization.unit_reports": reports_df,
        "_truth_persons": pd.concat([
            pd.DataFrame({"source": "civil_affairs.residents", "source_record_id": keys,
                          "person_key": reg["person_key"]}),
            pd.DataFrame({"source": "market_regulation.enterprises.legal_rep",
                          "source_record_id": ekeys, "person_key": u["legal_rep_person_key"]}),
            pd.DataFrame({"source": "organization.party_members", "source_record_id": mkeys,
                          "person_key": pm["person_key"]}),
        ], ignore_index=True),
        "_truth_units": pd.concat([
            pd.DataFrame({"source": "market_regulation.enterprises", "source_record_id": ekeys,
                          "unit_key": u["unit_key"]}),
            pd.DataFrame({"source": "organization.party_members.workplace",
                          "source_record_id": mkeys, "unit_key": pm["workplace_unit_key"]}
                         ).dropna(subset=["unit_key"]),
            pd.DataFrame({"source": "organization.unit_reports", "source_record_id": rkeys,
                          "unit_key": rep_units["unit_key"]}),
        ], ignore_index=True),
    }


def _prepare(url: str) -> sa.Engine:
    """Create each department's database/schema and empty tables."""
    if url.startswith("duckdb:///"):
        path = Path(url.removeprefix("duckdb:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    engine = sa.create_engine(url)
    schemas = sorted({t.schema for t, _ in TABLES.values()})
    with engine.begin() as conn:
        for schema in schemas:
            if engine.dialect.name in ("mysql", "mariadb"):
                charset = "gbk" if schema in GBK_SCHEMAS else "utf8mb4"
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {schema}")
                conn.exec_driver_sql(f"CREATE DATABASE {schema} CHARACTER SET {charset}")
            else:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    md.create_all(engine)
    return engine


def _write(engine: sa.Engine, table: sa.Table, frame: pd.DataFrame) -> None:
    frame = frame.astype(object).where(frame.notna(), None)
    with engine.begin() as conn:
        if engine.dialect.name == "duckdb":
            raw = conn.connection.dbapi_connection
            raw.register("_frame", frame)
            conn.exec_driver_sql(f"INSERT INTO {table.schema}.{table.name} SELECT * FROM _frame")
            raw.unregister("_frame")
            return
        for lo in range(0, len(frame), CHUNK):
            conn.execute(table.insert(), frame.iloc[lo:lo + CHUNK].to_dict("records"))


def read_tables(url: str) -> dict[str, pd.DataFrame]:
    """Every department table as the database holds it, in key order."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frames = {name: pd.read_sql(sa.text(f"SELECT * FROM {name} ORDER BY {key}"), conn)
                  for name, (_, key) in TABLES.items()}
    engine.dispose()
    return frames


def emit_departments(city: City, out_dir: Path, url: str | None = None) -> Emitted:
    out_dir = Path(out_dir)
    url = url or f"duckdb:///{(out_dir / 'departments.duckdb').resolve()}"
    rng = np.random.default_rng([city.seed, SOURCE_STREAM])
    noiser = Noiser(city.noise, rng)
    frames = build_tables(city, noiser, rng)
    engine = _prepare(url)
    rows = {}
    truth = out_dir / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    emitted = []
    for name, (table, key) in TABLES.items():
        frame = frames[name].sort_values(key, kind="stable").reset_index(drop=True)
        _write(engine, table, frame)
        rows[name] = len(frame)
        emitted.append(pd.DataFrame({
            "source": name, "source_record_id": frame[key],
            "version": pd.Series(frame["updated_at"]).astype("str"), "content_sha256": None}))
    engine.dispose()
    pd.concat(emitted, ignore_index=True).to_parquet(truth / "departments_emitted.parquet",
                                                     index=False)
    frames["_truth_persons"].to_parquet(truth / "departments_persons.parquet", index=False)
    frames["_truth_units"].to_parquet(truth / "departments_units.parquet", index=False)
    noiser.log_frame().to_parquet(truth / "departments_noise.parquet", index=False)
    return Emitted(url=url, rows=rows)
