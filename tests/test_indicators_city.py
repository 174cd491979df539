"""Every indicator on the simulated city, recomputed independently with pandas from the
published tables and compared exactly with shared.indicator_value, on DuckDB and PostgreSQL.

The city runs through the whole pipeline (extraction, validation, resolution, publication)
for a few days; the indicators are computed for each day, then every row of the last day and
its month to date is recomputed here from the published tables with plain pandas (not the
SQL under test). The grid-hotline links are the pipeline's own matching, so the test takes
the published links as given, and checks that every id link is among them."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from resolution_support import run_city

from common.reference import load_reference
from pipeline.indicators import compute_for_day
from simulator.run import simulate

START, DAYS = date(2026, 11, 2), 3
LAST = START + timedelta(days=DAYS - 1)
TZ = "Asia/Shanghai"
DISPATCH_MODES = ("派单", "直派")
SCORES = {"满意": 1.0, "基本满意": 0.9, "不满意": 0.0}


@pytest.fixture(scope="module")
def city(module_warehouse_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("city")
    simulate(root / "sim", scale="tiny", seed=11, start=START, days=DAYS)
    config = run_city(root / "sim", root, START, DAYS, warehouse_url=module_warehouse_url,
                      resolve_and_publish=True)
    summaries = [compute_for_day(config, START + timedelta(days=n)) for n in range(DAYS)]
    engine = sa.create_engine(module_warehouse_url)
    yield config, engine, summaries
    engine.dispose()


def read(engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.exec_driver_sql(sql)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True)


def local_day(day: date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(TZ).tz_convert("UTC")


class Recompute:
    """The spec's definitions in pandas over the published tables."""

    def __init__(self, engine, divisions: pd.DataFrame, grids: pd.DataFrame):
        self.divisions = divisions
        self.grids = grids
        parent = divisions.set_index("code")["parent_code"]
        level = divisions.set_index("code")["level"]
        rows = []
        for code, lvl in level.items():
            chain = {lvl: code}
            up = parent.get(code)
            while isinstance(up, str):
                chain[level[up]] = up
                up = parent.get(up)
            rows.append({"code": code, "community": chain.get("community"),
                         "street": chain.get("street"), "district": chain.get("district")})
        self.chain = pd.DataFrame(rows).set_index("code")
        self.city = divisions.loc[divisions["level"] == "city", "code"].iloc[0]
        self.t = read(engine, "SELECT * FROM shared.hotline_ticket")
        for c in ("received_at", "first_contact_at", "resolved_at", "callback_called_at",
                  "whistle_blown_at"):
            self.t[c] = utc(self.t[c])
        self.t["division"] = self.t["community_code"].fillna(self.t["street_code"]).fillna(
            self.t["district_code"])
        self.d = read(engine, "SELECT * FROM shared.hotline_dispatch")
        for c in ("dispatched_at", "returned_at"):
            self.d[c] = utc(self.d[c])
        self.s = read(engine, "SELECT * FROM shared.hotline_whistle_summons")
        self.s["reported_at"] = utc(self.s["reported_at"])
        self.e = read(engine, "SELECT * FROM shared.grid_event")
        for c in ("reported_at", "deadline_at", "closed_at"):
            self.e[c] = utc(self.e[c])
        self.e["division"] = self.e["community_code"].fillna(self.e["street_code"]).fillna(
            self.e["district_code"])
        self.links = read(engine, "SELECT * FROM shared.grid_hotline_link")
        self.w = read(engine, "SELECT * FROM shared.community_worker")
        self.xref = read(engine, "SELECT * FROM shared.resident_xref")
        self.uxref = read(engine, "SELECT * FROM shared.unit_xref")
        self.mentions = read(engine, "SELECT * FROM core.person_mention")
        versions = read(engine, "SELECT * FROM staging.record_version")
        self.versions = versions
        versions = versions.sort_values(["record_updated_at", "landed_at"],
                                        na_position="first")
        latest = versions.drop_duplicates(["source", "source_record_id"], keep="last")
        self.dept = {s: pd.concat([g[["source", "source_record_id"]].reset_index(drop=True),
                                   pd.DataFrame([json.loads(r) for r in g["record"]])], axis=1)
                     for s, g in latest.groupby("source")}

    def place(self, items: pd.DataFrame) -> pd.DataFrame:
        """Each item under its community, street, district and the city."""
        known = items["division"].isin(self.chain.index)
        chain = self.chain.reindex(items["division"].where(known)).reset_index(drop=True)
        items = items.reset_index(drop=True)
        parts = [items.assign(division_code=chain[level].to_numpy())
                 for level in ("community", "street", "district")]
        parts.append(items.assign(division_code=self.city))
        placed = pd.concat(parts, ignore_index=True)
        return placed[placed["division_code"].notna()]

    def aggregate(self, items: pd.DataFrame, mode: str, city_only: bool = False) -> dict:
        placed = self.place(items)
        codes = [self.city] if city_only else list(self.divisions["code"])
        out = {}
        groups = dict(list(placed.groupby("division_code")))
        for code in codes:
            g = groups.get(code, placed.iloc[0:0])
            if mode == "count":
                n = float(g["num"].sum()) if len(g) else 0.0
                out[code] = (n, n, None)
            elif mode == "rate":
                den = len(g)
                num = float(g["num"].sum()) if den else 0.0
                out[code] = (num / den if den else None, num, float(den))
            elif mode == "distinct_count":
                n = float(g["pid"].nunique())
                out[code] = (n, n, None)
            elif mode == "distinct_rate":
                den = g["pid"].nunique()
                num = g.loc[g["num"] > 0, "pid"].nunique()
                out[code] = (num / den if den else None, float(num), float(den))
            elif mode == "median":
                out[code] = (float(g["x"].median()) if len(g) else None, None, float(len(g)))
        return out

    def period(self, kind: str, last: date):
        start = last.replace(day=1) if kind == "month" else last
        return local_day(start), local_day(last + timedelta(days=1))

    def all(self, kind: str, last: date) -> dict:
        t0, t1 = self.period(kind, last)
        t, d, e = self.t, self.d, self.e
        inside = lambda s: (s >= t0) & (s < t1)  # noqa: E731
        dispatched = t["ticket_id"].isin(d.loc[d["mode"].isin(DISPATCH_MODES), "ticket_id"])
        urgent = t["urgency"] == "紧急"
        contact_limit = pd.to_timedelta(np.where(urgent, 2, 24), unit="h")
        resolve_limit = pd.to_timedelta(np.where(urgent, 24, 168), unit="h")
        result = {}

        def items(frame, **columns):
            return pd.DataFrame({"division": frame["division"].to_numpy(),
                                 **{k: np.asarray(v) for k, v in columns.items()}})

        got = t[inside(t["received_at"])]
        result["hotline.received"] = self.aggregate(items(got, num=np.ones(len(got))), "count")
        sel = inside(t["received_at"]) & dispatched
        ok = (t["first_contact_at"] - t["received_at"]) <= contact_limit
        result["hotline.response_rate"] = self.aggregate(
            items(t[sel], num=ok[sel].fillna(False).astype(float)), "rate")
        cb = t[(t["callback_reached"] == True) & inside(t["callback_called_at"])]  # noqa: E712
        result["hotline.resolution_rate"] = self.aggregate(
            items(cb, num=(cb["callback_resolved"] == "已解决").astype(float)), "rate")
        result["hotline.satisfaction_rate"] = self.aggregate(
            items(cb, num=cb["callback_satisfaction"].map(SCORES).fillna(0.0)), "rate")
        deadline = t["received_at"] + resolve_limit
        sel = inside(deadline) & dispatched
        ok = t["resolved_at"] <= deadline
        result["hotline.ontime_resolution_rate"] = self.aggregate(
            items(t[sel], num=ok[sel].fillna(False).astype(float)), "rate")
        dd = d[d["mode"].isin(DISPATCH_MODES) & inside(d["dispatched_at"])].merge(
            t[["ticket_id", "division"]], on="ticket_id")
        result["hotline.return_rate"] = self.aggregate(
            items(dd, num=dd["returned_at"].notna().astype(float)), "rate")
        ss = self.s.merge(t[["ticket_id", "division", "whistle_blown_at"]], on="ticket_id")
        ss = ss[inside(ss["whistle_blown_at"])]
        ok = ss["reported_at"] <= ss["whistle_blown_at"] + pd.Timedelta(hours=24)
        result["hotline.whistle_report_rate"] = self.aggregate(
            items(ss, num=ok.fillna(False).astype(float)), "rate")
        window = t[(t["received_at"] >= local_day(last - timedelta(days=29)))
                   & (t["received_at"] < t1) & t["resident_id"].notna()]
        window = window.sort_values(["received_at", "ticket_id"])
        per = window.groupby("resident_id").agg(n=("ticket_id", "size"),
                                                division=("division", "last"))
        rep = per[per["n"] >= 3]
        result["hotline.repeat_callers"] = self.aggregate(
            pd.DataFrame({"division": rep["division"].to_numpy(), "num": 1.0}), "count")
        composite = {}
        for code in result["hotline.response_rate"]:
            r, s, f = (result[c][code][0] for c in (
                "hotline.response_rate", "hotline.resolution_rate", "hotline.satisfaction_rate"))
            composite[code] = (None if None in (r, s, f) else
                               100 * (0.10 * r + 0.45 * s + 0.45 * f), None, None)
        result["hotline.composite_score"] = composite

        ev = e[inside(e["reported_at"])]
        result["grid.events"] = self.aggregate(items(ev, num=np.ones(len(ev))), "count")
        dl = e[inside(e["deadline_at"])]
        result["grid.ontime_close_rate"] = self.aggregate(
            items(dl, num=(dl["closed_at"] <= dl["deadline_at"]).fillna(False).astype(float)),
            "rate")
        cl = e[inside(e["closed_at"]) & e["reported_at"].notna()]
        result["grid.median_close_hours"] = self.aggregate(
            items(cl, x=(cl["closed_at"] - cl["reported_at"]).dt.total_seconds() / 3600),
            "median")
        lk = ev[ev["event_id"].isin(self.links["event_id"])]
        result["grid.hotline_linked"] = self.aggregate(items(lk, num=np.ones(len(lk))), "count")

        month = last.strftime("%Y%m")
        w = self.w[self.w["roster_month"] <= month].copy()
        w["division"] = w["community_code"].fillna(w["street_code"])
        w["pid"] = w["resident_id"].fillna("row:" + w["source_record_id"])
        result["workers.count"] = self.aggregate(w[["division", "pid"]], "distinct_count")
        reg = self.dept.get("civil_affairs.residents", pd.DataFrame(
            columns=["source", "source_record_id", "status", "community_code"]))
        reg = reg[reg["status"] == "正常"].merge(self.xref, on=["source", "source_record_id"])
        residents = self.aggregate(pd.DataFrame({"division": reg["community_code"],
                                                 "pid": reg["resident_id"]}), "distinct_count")
        result["workers.per_10k_residents"] = {
            code: ((n * 10000 / residents[code][0]) if residents[code][0] else None, n,
                   residents[code][0])
            for code, (n, _, _) in result["workers.count"].items()}
        streets = set(w["street_code"])
        centres = self.divisions[(self.divisions["level"] == "community")
                                 & self.divisions["parent_code"].isin(streets)]
        organizers = w[w["post"] == "党建组织员"].groupby("community_code")["pid"].nunique()
        have = centres["code"].map(organizers).fillna(0)
        result["workers.organizer_shortfall"] = self.aggregate(pd.DataFrame(
            {"division": centres["code"], "num": (have < 2).astype(float)}), "count")
        result["workers.organizers_missing"] = self.aggregate(pd.DataFrame(
            {"division": centres["code"], "num": (2 - have).clip(lower=0)}), "count")
        covered = self.grids["grid_worker_staff_no"].isin(set(w["staff_no"].dropna()))
        result["workers.grid_coverage"] = self.aggregate(pd.DataFrame(
            {"division": self.grids["community_code"], "num": covered.astype(float)}), "rate")

        day_text = last.isoformat()
        pm = self.dept.get("organization.party_members")
        pm = pm.merge(self.xref, on=["source", "source_record_id"])
        pm = pm[pd.to_numeric(pm["in_service"]) == 1]
        reported = (pd.to_numeric(pm["reported_to_community"]) == 1) & (
            pm["reported_on"].isna() | (pm["reported_on"].astype(str).str[:10] <= day_text))
        result["dual.member_report_rate"] = self.aggregate(pd.DataFrame(
            {"division": pm["residence_community_code"], "pid": pm["resident_id"],
             "num": reported.astype(float)}), "distinct_rate")
        ur = self.dept.get("organization.unit_reports")
        ur = ur[ur["reported_on"].astype(str).str[:10] <= day_text]
        units = ur.merge(self.uxref, on=["source", "source_record_id"])
        result["dual.units_reported"] = self.aggregate(pd.DataFrame(
            {"division": units["community_code"], "pid": units["unit_id"]}), "distinct_count")
        needs = ur[ur["list_type"] == "需求"]
        result["lists.need_match_rate"] = self.aggregate(pd.DataFrame(
            {"division": needs["community_code"],
             "num": needs["status"].isin(["已对接", "已完成"]).astype(float)}), "rate")

        m = self.mentions[self.mentions["source"].isin(
            ["hotline.tickets", "grid.events.persons", "rosters", "organization.party_members"])]
        filled = lambda c: m[c].notna() & (m[c].astype(str) != "")  # noqa: E731
        m = m[filled("name") & (filled("phone") | m["birth_date"].notna() | filled("id_number"))]
        x = m.merge(self.xref[["source", "source_record_id", "resident_id"]],
                    on=["source", "source_record_id"], how="left", suffixes=("_m", ""))
        registered = set(self.xref.loc[self.xref["source"] == "civil_affairs.residents",
                                       "resident_id"])
        result["sharing.resident_coverage"] = self.aggregate(pd.DataFrame(
            {"division": None, "num": x["resident_id"].isin(registered).astype(float)}),
            "rate", city_only=True)
        return result

    def freshness(self, last: date) -> dict:
        end = local_day(last + timedelta(days=1))
        v = self.versions
        text = v["record_updated_at"].astype("str")
        zoned = text.str.len().gt(19) & text.str[19:].str.contains(r"[+\-Z]", regex=True)
        naive = pd.to_datetime(text.str[:19].where(~zoned & text.str.match(r"\d{4}-\d\d-\d\d")),
                               errors="coerce", format="ISO8601")
        changed = pd.to_datetime(text.where(zoned), utc=True, errors="coerce", format="ISO8601")
        changed = changed.fillna(naive.dt.tz_localize(TZ).dt.tz_convert("UTC")).fillna(
            utc(v["landed_at"]))
        newest = changed[changed < end].groupby(v["source"]).max()
        return {s: (end - at).total_seconds() / 3600 for s, at in newest.items()}


def published(engine, kind: str, start: date) -> dict:
    rows = read(engine, "SELECT indicator_code, division_code, dimension, value, numerator, "
                        f"denominator FROM shared.indicator_value WHERE period_kind = '{kind}' "
                        f"AND period_start = '{start.isoformat()}'")
    rows["dimension"] = rows["dimension"].astype(object).where(rows["dimension"].notna(), None)
    return {(r.indicator_code, r.division_code, r.dimension): (r.value, r.numerator,
                                                               r.denominator)
            for r in rows.itertuples(index=False)}


def same(a, b) -> bool:
    def none(v):
        return v is None or (isinstance(v, float) and np.isnan(v))
    return all((none(x) and none(y)) or (not none(x) and not none(y) and abs(x - y) < 1e-9)
               for x, y in zip(a, b))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["day", "month"])
def test_every_indicator_matches_an_independent_recomputation(city, kind):
    config, engine, summaries = city
    reference = load_reference(config=config)
    expected = Recompute(engine, reference.divisions, reference.grids).all(kind, LAST)
    start = LAST.replace(day=1) if kind == "month" else LAST
    got = published(engine, kind, start)
    assert len(expected) == 22  # sharing.freshness_hours is checked below
    wrong, compared = {}, 0
    for code, by_division in expected.items():
        for division, want in by_division.items():
            compared += 1
            have = got.get((code, division, None))
            if have is None or not same(have, want):
                wrong[(code, division)] = (have, want)
    assert wrong == {}
    # every published row of the period was compared (freshness: one per source)
    assert compared == sum(1 for key in got if key[0] != "sharing.freshness_hours")
    assert compared > 300
    # the city had something to count in most of them
    busy = [code for code, rows in expected.items() if any(v[0] for v in rows.values())]
    assert len(busy) >= 18


@pytest.mark.slow
def test_freshness_and_links_on_the_simulated_city(city):
    config, engine, summaries = city
    reference = load_reference(config=config)
    recompute = Recompute(engine, reference.divisions, reference.grids)
    got = published(engine, "day", LAST)
    fresh = {key[2]: value[0] for key, value in got.items()
             if key[0] == "sharing.freshness_hours"}
    assert fresh == pytest.approx(recompute.freshness(LAST))
    # (rosters count from when their file landed: in this test, after the simulated days)
    assert {"hotline.tickets", "grid.events", "civil_affairs.residents"} <= set(fresh)
    # every id link is published; a matched link never stands where an id link exists
    events = recompute.e
    by_id = events[events["hotline_ticket_id"].notna()
                   & (events["reported_at"] >= local_day(LAST.replace(day=1)))]
    links = recompute.links.set_index(["event_id", "ticket_id"])
    assert set(zip(by_id["event_id"], by_id["hotline_ticket_id"])) <= set(links.index)
    matched = recompute.links[recompute.links["match_reason"] == "same_problem"]
    assert not matched["event_id"].isin(by_id["event_id"]).any()
    assert matched["score"].between(0.75, 1).all()
    assert matched["hours_apart"].abs().le(48).all()
    assert all(s["rows_revised"] == 0 for s in summaries[:1])
