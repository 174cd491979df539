"""The 12345 hotline's work orders (contracts: docs/contracts/hotline.md).

Tickets arrive over the simulated period at the scale's yearly rate and live on for up to
four weeks: dispatch (派单/直派), returns and re-dispatch, a street's whistle (吹哨报到),
first contact, resolution, the callback. Every change is a version of the whole ticket;
all versions go into a version store (`hotline/tickets.sqlite`) that
`hotline_server.py` serves through the contract's API.

Everything is drawn as arrays first (one row per ticket, per dispatch, per summoned
department, per version); DuckDB then renders each version's JSON as of its `updated_at`
(fields that had not happened yet are null), a chunk of tickets at a time.
"""

from __future__ import annotations

import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from simulator import identity
from simulator.model import City
from simulator.noise import Noiser

DATA = Path(__file__).parent / "data"

SOURCE = "hotline.tickets"
SOURCE_STREAM = 12  # this emitter's sub-stream of the city seed
LOCAL_OFFSET = 8 * 3600  # the platform's clock is UTC+8; times below are local epoch seconds
DAY = 86_400
HOUR = 3_600
MINUTE = 60
FOLLOW_UP_DAYS = 28  # a ticket changes for at most four weeks after it arrives
CHUNK_TICKETS = 40_000
HOHHOT = (40.82, 111.70)

CHANNELS = {"电话": 0.62, "微信": 0.15, "APP": 0.10, "网站": 0.08, "市长信箱": 0.05}
CONTENT_PREFIX = {"电话": "来电人反映：", "微信": "市民通过微信反映：", "APP": "市民通过APP反映：",
                  "网站": "网友留言：", "市长信箱": "市民来信反映："}
CONSULT_PREFIX = {"电话": "来电人咨询：", "微信": "市民通过微信咨询：", "APP": "市民通过APP咨询：",
                  "网站": "网友咨询：", "市长信箱": "市民来信咨询："}
# Calls by hour of day (local): quiet at night, peaks mid-morning and mid-afternoon.
HOURLY = np.array([0.4, 0.25, 0.2, 0.15, 0.15, 0.3, 0.8, 2.0, 4.5, 6.5, 6.8, 6.0,
                   4.5, 4.5, 5.8, 6.2, 6.0, 5.5, 4.5, 4.2, 4.0, 3.2, 2.0, 1.0])
TYPES_BY_KIND = {
    "complaint": ({"投诉": 0.55, "求助": 0.30, "举报": 0.08, "建议": 0.07}),
    "report": ({"举报": 0.55, "投诉": 0.45}),
    "help": ({"求助": 0.65, "咨询": 0.35}),
    "consult": ({"咨询": 1.0}),
    "praise": ({"表扬": 1.0}),
}
RETURN_REASONS = np.array(["非本单位职责", "地址不在本辖区", "诉求不清，需补充信息",
                           "已由其他单位办理", "属司法程序事项，不予受理"])
PUBLIC_SPOTS = np.array(["门口", "东侧路段", "附近", "南门外", "北侧空地", "西门对面"])


@dataclass(frozen=True)
class Category:
    code: str  # two-level code: class + sub-class (contract example: 0305)
    name: str  # 大类/中类/小类
    weight: float  # share of tickets outside the heating season
    heating_weight: float  # share inside it (15 Oct - 15 Apr in Hohhot)
    kind: str  # key of TYPES_BY_KIND
    place: str  # home | public | unit | none (where the caller's problem is)
    urgent: float  # share of 紧急
    handlers: tuple[tuple[str, float], ...]  # JD = the street office, Q.. = district dept
    whistle: tuple[str, ...] = ()  # departments a street may summon
    to_grid: float = 0.0  # share handed to the grid app when a street office handles it
    issue: str = ""  # for titles
    details: tuple[str, ...] = ()  # what the caller says (content)
    demand: str = ""  # what the caller asks for
    industries: tuple[str, ...] = ()  # industry-code prefixes of the units it is about




def _load_categories() -> tuple[Category, ...]:
    entries = yaml.safe_load((DATA / "hotline_categories.yaml").read_text(encoding="utf-8"))
    return tuple(Category(**{**entry, "handlers": tuple(map(tuple, entry["handlers"])),
                             "whistle": tuple(entry["whistle"]),
                             "details": tuple(entry["details"]),
                             "industries": tuple(entry["industries"])}) for entry in entries)


CATEGORIES = _load_categories()


@dataclass
class HotlineEmitted:
    store: str
    tickets: int
    versions: int
    transferred_to_grid: int
    period: str


def _rng(city: City, part: int = 0) -> np.random.Generator:
    return np.random.default_rng([city.seed, SOURCE_STREAM, part])


def _lognormal(rng: np.random.Generator, median_seconds: float, sigma: float, n: int
               ) -> np.ndarray:
    return np.maximum(1, rng.lognormal(np.log(median_seconds), sigma, n)).astype(np.int64)


def _defer_to_working_hours(rng: np.random.Generator, t: np.ndarray, applies: np.ndarray
                            ) -> np.ndarray:
    """Ordinary work waits for the morning: moments between 22:00 and 08:00 move to 08:00
    plus a few minutes (urgent work does not wait)."""
    hour = (t % DAY) // HOUR
    night = applies & ((hour >= 22) | (hour < 8))
    morning = (t // DAY) * DAY + 8 * HOUR + np.where(hour >= 22, DAY, 0)
    return np.where(night, morning + rng.integers(1, 40 * MINUTE, len(t)), t)


def _pick(rng: np.random.Generator, shares: dict[str, float], n: int) -> np.ndarray:
    p = np.array(list(shares.values()), dtype=float)
    return rng.choice(np.array(list(shares)), size=n, p=p / p.sum())


def _arrivals(city: City, rng: np.random.Generator) -> np.ndarray:
    """Local epoch seconds of every ticket's arrival, sorted."""
    start = int(pd.Timestamp(city.start).value // 10**9)
    days = np.arange(city.days)
    weekday = (pd.Timestamp(city.start).dayofweek + days) % 7
    rate = city.scale.tickets_per_year / 365 * np.where(weekday >= 5, 0.85, 1.06)
    counts = rng.poisson(rate)
    day = np.repeat(days, counts)
    hour = rng.choice(24, size=len(day), p=HOURLY / HOURLY.sum())
    t = start + day * DAY + hour * HOUR + rng.integers(0, HOUR, len(day))
    return np.sort(t)


def _ticket_ids(t: np.ndarray) -> np.ndarray:
    """HL + yyyymmdd + a 6-digit sequence within the day, in arrival order."""
    day = t // DAY
    first_of_day = np.r_[True, day[1:] != day[:-1]]
    starts = np.flatnonzero(first_of_day)
    seq = np.arange(len(t)) - np.repeat(starts, np.diff(np.r_[starts, len(t)])) + 1
    dates = pd.to_datetime(day, unit="D").strftime("%Y%m%d").to_numpy(dtype=str)
    return np.strings.add(np.strings.add("HL", dates), np.char.zfill(seq.astype(str), 6))


def _in_heating_season(t: np.ndarray) -> np.ndarray:
    day_of_year = pd.to_datetime(t, unit="s").dayofyear.to_numpy()
    return (day_of_year >= 288) | (day_of_year <= 105)  # 15 Oct .. 15 Apr


class _Geography:
    """Lookups over communities, compounds, departments and community centroids."""

    def __init__(self, city: City, rng: np.random.Generator):
        communities = city.communities.sort_values("code")
        self.community_codes = communities["code"].to_numpy(dtype=object)
        self.community_street = communities["parent_code"].to_numpy(dtype=object)
        n = len(communities)
        self.centroid_lat = pd.Series(HOHHOT[0] + rng.normal(0, 0.035, n),
                                      index=self.community_codes)
        self.centroid_lon = pd.Series(HOHHOT[1] + rng.normal(0, 0.06, n),
                                      index=self.community_codes)
        self.compounds = city.compounds.reset_index(drop=True)
        self.departments = set(city.departments["dept_code"])

    def same_street_other(self, rng: np.random.Generator, community: np.ndarray) -> np.ndarray:
        """Another community of the same street (any other community if it has none)."""
        codes, streets = self.community_codes, self.community_street
        street_of = dict(zip(codes, streets, strict=True))
        by_street = pd.Series(codes).groupby(streets).apply(list).to_dict()
        out = np.empty(len(community), dtype=object)
        for i, code in enumerate(community):
            pool = [c for c in by_street[street_of[code]] if c != code] or \
                [c for c in codes if c != code] or [code]
            out[i] = pool[int(rng.integers(len(pool)))]
        return out

    def handler(self, token: str, community: np.ndarray) -> np.ndarray:
        """A handler token of a category as dept codes for tickets in `community`."""
        street_office = "JD" + _prefix(community, 9)
        if token == "JD":
            return street_office
        codes = token + _prefix(community, 6) if token.startswith("Q") else \
            np.full(len(community), token, dtype=object)
        return np.where(np.isin(codes, list(self.departments)), codes, street_office)


def _callers(city: City, noiser: Noiser, rng: np.random.Generator, ticket_id: np.ndarray
             ) -> dict[str, np.ndarray]:
    """Who calls: residents in proportion to their propensity, some strangers, some
    anonymous; name, phone and ID number as the operator typed them."""
    n = len(ticket_id)
    keys = pd.Series(ticket_id, dtype="str")
    persons = city.persons
    anonymous = noiser.chosen(city.noise.anonymous, n)
    noiser.record(SOURCE, ticket_id[anonymous], "caller", "anonymous")
    stranger = ~anonymous & (rng.random(n) < 0.06)
    resident = ~anonymous & ~stranger
    propensity = persons["hotline_propensity"].to_numpy(dtype=float) * \
        (persons["status"] != "死亡").to_numpy()
    caller_idx = rng.choice(len(persons), size=n, p=propensity / propensity.sum())
    person_key = np.where(resident, persons["person_key"].to_numpy(dtype=object)[caller_idx],
                          None)
    female = persons["gender"].to_numpy(dtype=object)[caller_idx] == "女"
    true_name = persons["name"].to_numpy(dtype=object)[caller_idx].copy()
    phone = persons["phone"].to_numpy(dtype=object)[caller_idx].copy()
    strangers = np.flatnonzero(stranger)
    stranger_female = rng.random(len(strangers)) < 0.5
    true_name[strangers] = identity.person_names(
        rng, identity.ethnicities(rng, len(strangers)), stranger_female)
    female[strangers] = stranger_female
    no_phone = np.flatnonzero(stranger | pd.isna(phone))
    phone[no_phone] = identity.mobiles(rng, len(no_phone))
    # Operators often note only the surname and a form of address (李女士).
    surname_only = resident & (rng.random(n) < 0.06)
    typed_name = np.where(surname_only, pd.Series(true_name).str[0].to_numpy(dtype=object)
                          + np.where(female, "女士", "先生"), true_name)
    name_given = ~anonymous & (rng.random(n) < 0.97)
    caller_name = noiser.apply(SOURCE, "caller.name", keys,
                               pd.Series(np.where(name_given, typed_name, None), dtype=object),
                               ["homophone"])
    caller_phone = noiser.apply(SOURCE, "caller.phone", keys,
                                pd.Series(np.where(~anonymous, phone, None), dtype=object),
                                ["typo_digit", "phone_format"])
    id_given = resident & (rng.random(n) < 0.03)
    caller_id = noiser.apply(SOURCE, "caller.id_number", keys, pd.Series(np.where(
        id_given, persons["id_number"].to_numpy(dtype=object)[caller_idx], None), dtype=object),
        ["typo_digit", "lowercase_x"])

    return {"anonymous": anonymous, "resident": resident, "caller_idx": caller_idx,
            "person_key": person_key, "name": caller_name.to_numpy(dtype=object),
            "phone": caller_phone.to_numpy(dtype=object),
            "id_number": caller_id.to_numpy(dtype=object)}


def _dispatch_chain(geo: _Geography, rng: np.random.Generator, cat: np.ndarray,
                    community: np.ndarray, urgent: np.ndarray, first_dispatch: np.ndarray,
                    cap: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Dispatch, return (now and then twice), re-dispatch to the category's next handler,
    acceptance. Tickets with first_dispatch < 0 are not dispatched. Returns the dispatch
    rows, each ticket's final acceptance time (-1: none) and final handler."""
    n = len(cat)
    ordinary = ~urgent
    dispatched = first_dispatch >= 0
    returns = np.where(dispatched, rng.choice([0, 1, 2], size=n, p=[0.92, 0.065, 0.015]), 0)

    handlers = [c.handlers for c in CATEGORIES]
    first_choice = np.zeros(n, dtype=np.int64)
    for i, options in enumerate(handlers):
        mask = cat == i
        p = np.array([w for _, w in options])
        first_choice[mask] = rng.choice(len(options), size=int(mask.sum()), p=p / p.sum())
    dispatch_rows = []
    t = first_dispatch
    accepted_final = np.full(n, -1, dtype=np.int64)
    final_dept = np.full(n, None, dtype=object)
    for k in range(3):
        live = dispatched & (returns >= k) & (t <= cap)
        dept = np.full(n, None, dtype=object)
        for i, options in enumerate(handlers):
            mask = live & (cat == i)
            if mask.any():
                choice = (first_choice[mask] + k) % len(options)
                for j, (token, _) in enumerate(options):
                    sel = np.flatnonzero(mask)[choice == j]
                    dept[sel] = geo.handler(token, community[sel])
        returned = live & (returns > k)
        # Back to the same department (a one-department category) means it wanted more facts.
        same_again = np.array([len(options) == 1 for options in handlers])[cat]
        reason = np.where(same_again, RETURN_REASONS[2],
                          rng.choice(np.delete(RETURN_REASONS, 2), n))
        back = t + _lognormal(rng, 2 * HOUR, 1.0, n)
        accept = t + np.where(urgent, _lognormal(rng, 10 * MINUTE, 0.7, n),
                              _lognormal(rng, 40 * MINUTE, 0.9, n))
        accept = _defer_to_working_hours(rng, accept, ordinary)
        accepted = live & ~returned & (accept <= cap)
        returned_in_time = returned & (back <= cap)
        idx = np.flatnonzero(live)
        dispatch_rows.append(pd.DataFrame({
            "idx": idx, "seq": k, "dept_code": dept[idx],
            "mode": np.where(np.strings.startswith(dept[idx].astype(str), "JD"), "直派", "派单"),
            "dispatched": t[idx],
            "accepted": nullable(np.where(accepted, accept, -1)[idx]),
            "returned": nullable(np.where(returned_in_time, back, -1)[idx]),
            "return_reason": np.where(returned_in_time, reason, None)[idx],
        }))
        accepted_final = np.where(accepted, accept, accepted_final)
        final_dept = np.where(live & ~returned, dept, final_dept)
        t = np.where(returned, back + _lognormal(rng, 40 * MINUTE, 0.8, n), t)
    return pd.concat(dispatch_rows, ignore_index=True), accepted_final, final_dept


def _whistles(geo: _Geography, rng: np.random.Generator, cat: np.ndarray,
              community: np.ndarray, urgent: np.ndarray, accepted: np.ndarray,
              street_handled: np.ndarray, cap: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """A street office that cannot solve a case alone blows the whistle (吹哨报到): it
    summons one to three departments, which report mostly within a day. Returns the
    summoned rows and each ticket's whistle time (-1: none)."""
    n = len(cat)
    whistle_options = [c.whistle for c in CATEGORIES]
    can_whistle = np.array([bool(w) for w in whistle_options])[cat]
    blown = accepted + _lognormal(rng, 3 * HOUR, 0.8, n)
    whistled = street_handled & can_whistle & (rng.random(n) < 0.18) & (blown <= cap)
    summoned_rows = []
    for i, options in enumerate(whistle_options):
        mask = np.flatnonzero(whistled & (cat == i))
        if not len(mask):
            continue
        count = rng.integers(1, min(3, len(options)) + 1, len(mask))
        order = np.argsort(rng.random((len(mask), len(options))), axis=1)
        for j in range(min(3, len(options))):
            sel = count > j
            rows = mask[sel]
            dept = np.empty(len(rows), dtype=object)
            for o, token in enumerate(options):
                pick = order[sel, j] == o
                dept[pick] = geo.handler(token, community[rows[pick]])
            report = _defer_to_working_hours(
                rng, blown[rows] + _lognormal(rng, 4 * HOUR, 1.0, len(rows)), ~urgent[rows])
            reported = (rng.random(len(rows)) > 0.03) & (report <= cap[rows])
            summoned_rows.append(pd.DataFrame({
                "idx": rows, "seq": j, "dept_code": dept,
                "reported": nullable(np.where(reported, report, -1))}))
    summoned = pd.concat(summoned_rows, ignore_index=True) if summoned_rows else \
        pd.DataFrame({"idx": pd.Series(dtype="int64"), "seq": pd.Series(dtype="int64"),
                      "dept_code": pd.Series(dtype="str"),
                      "reported": pd.Series(dtype="Int64")})
    return summoned, np.where(whistled, blown, -1)


def build_tickets(city: City, noiser: Noiser, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Every ticket's full life as arrays: tickets, dispatches, summoned departments,
    versions (one per distinct change time), and the truth and grid hand-over frames."""
    geo = _Geography(city, _rng(city, 1))
    received = _arrivals(city, rng)
    n = len(received)
    ticket_id = _ticket_ids(received)
    cap = received + FOLLOW_UP_DAYS * DAY

    # What the call is about.
    heating = _in_heating_season(received)
    weights = np.array([[c.weight, c.heating_weight] for c in CATEGORIES], dtype=float)
    cat = np.empty(n, dtype=np.int64)
    for season in (False, True):
        mask = heating == season
        w = weights[:, int(season)]
        cat[mask] = rng.choice(len(CATEGORIES), size=int(mask.sum()), p=w / w.sum())
    category_code = np.array([c.code for c in CATEGORIES])[cat]
    category = np.array([c.name for c in CATEGORIES])[cat]
    kind = np.array([c.kind for c in CATEGORIES])[cat]
    place = np.array([c.place for c in CATEGORIES])[cat]
    ticket_type = np.empty(n, dtype=object)
    for k, shares in TYPES_BY_KIND.items():
        mask = kind == k
        ticket_type[mask] = _pick(rng, shares, int(mask.sum()))
    urgent = rng.random(n) < np.array([c.urgent for c in CATEGORIES])[cat]
    channel = _pick(rng, CHANNELS, n)

    who = _callers(city, noiser, rng, ticket_id)
    anonymous, resident, caller_idx = who["anonymous"], who["resident"], who["caller_idx"]
    persons = city.persons

    # Where: the caller's home, a spot near it, or a unit.
    compounds = geo.compounds
    compound_row = pd.Series(compounds.index, index=compounds["compound_key"])
    home_compound = np.where(
        resident, compound_row.reindex(persons["compound_key"].to_numpy()[caller_idx]).to_numpy(),
        rng.integers(0, len(compounds), n)).astype(np.int64)
    building = np.where(resident, persons["building"].to_numpy()[caller_idx],
                        1 + (rng.random(n) * compounds["buildings"].to_numpy()[home_compound])
                        .astype(np.int64))
    prefix = compounds["address_prefix"].to_numpy(dtype=object)[home_compound]
    compound_name = compounds["name"].to_numpy(dtype=object)[home_compound]
    building_text = pd.Series(building).astype("str").to_numpy(dtype=object) + "号楼"
    home_full = np.where(resident, persons["address"].to_numpy(dtype=object)[caller_idx],
                         prefix + building_text)
    said = rng.random(n)
    home_text = np.select([said < 0.5, said < 0.8], [home_full, prefix + building_text],
                          compound_name + building_text)
    public_text = prefix + rng.choice(PUBLIC_SPOTS, n)
    units = city.units
    unit_idx = rng.integers(0, len(units), n)
    industry = units["industry_code"].astype("str")
    live_unit = units["status"].isin(["存续", "在业"]).to_numpy()
    for i, c in enumerate(CATEGORIES):
        mask = np.flatnonzero(cat == i)
        if c.place != "unit" or not len(mask):
            continue
        pool = np.flatnonzero(live_unit & industry.str.startswith(c.industries or ("",))
                              .to_numpy())
        if len(pool):
            unit_idx[mask] = rng.choice(pool, len(mask))
    unit_short = units["short_name"].to_numpy(dtype=object)[unit_idx]
    unit_text = np.where(rng.random(n) < 0.7, units["address"].to_numpy(dtype=object)[unit_idx],
                         unit_short)
    community = np.select(
        [place == "unit"],
        [units["community_code"].to_numpy(dtype=object)[unit_idx]],
        compounds["community_code"].to_numpy(dtype=object)[home_compound])
    address_text = np.select([place == "home", place == "public", place == "unit"],
                             [home_text, public_text, unit_text], None)
    address_text = np.where((place == "none") & (rng.random(n) < 0.6), home_text, address_text)

    # Title and content as the operator writes them.
    issue = np.array([c.issue for c in CATEGORIES])[cat]
    title_place = np.select([place == "unit", place == "public"],
                            [unit_short, compound_name + "附近"], compound_name + building_text)
    title = np.where(place == "none", issue, title_place + issue)
    title = np.where(rng.random(n) < 0.04, None, title)
    detail_pick = rng.integers(0, 2, n)
    details = np.array([c.details for c in CATEGORIES], dtype=object)[cat, detail_pick]
    demand = np.array([c.demand for c in CATEGORIES], dtype=object)[cat]
    consult = ticket_type == "咨询"
    opener = np.where(consult, pd.Series(channel).map(CONSULT_PREFIX).to_numpy(dtype=object),
                      pd.Series(channel).map(CONTENT_PREFIX).to_numpy(dtype=object))
    where = np.where(pd.isna(address_text) | consult, "", address_text.astype(object))
    where = np.where(where == "", "", where + "，")
    content = opener + where + details + "，" + demand + "。"

    # The operator's division codes: usually right, sometimes missing or a wrong community.
    street_code = _prefix(community, 9) + "000"
    district_code = _prefix(community, 6) + "000000"
    operator_community = community.copy()
    stale = noiser.chosen(city.noise.stale_operator_code, n)
    operator_community[stale] = geo.same_street_other(rng, community[stale])
    noiser.record(SOURCE, ticket_id[stale], "community_code", "stale_operator_code")
    blank = rng.random(n)
    operator_street = np.where(blank < 0.04, None, street_code)
    operator_district = np.where(blank < 0.04, None, district_code)
    operator_community = np.where(blank < 0.07, None, operator_community)
    located = rng.random(n) < np.where(channel == "电话", 0.7, 0.9)
    lat = np.round(geo.centroid_lat.reindex(community).to_numpy() + rng.normal(0, 0.004, n), 6)
    lon = np.round(geo.centroid_lon.reindex(community).to_numpy() + rng.normal(0, 0.006, n), 6)
    lat = pd.array(np.where(located, lat, np.nan), dtype="Float64")
    lon = pd.array(np.where(located, lon, np.nan), dtype="Float64")

    # Life: the operator saves the ticket, answers directly or dispatches it.
    created = received + np.where(channel == "电话", rng.integers(60, 600, n),
                                  rng.integers(1, 30, n))
    direct = ((ticket_type == "咨询") & (rng.random(n) < 0.7)) | (ticket_type == "表扬")
    dispatched = ~direct
    ordinary = ~urgent
    first_dispatch = _defer_to_working_hours(
        rng, created + np.where(urgent, _lognormal(rng, 6 * MINUTE, 0.6, n),
                                _lognormal(rng, 20 * MINUTE, 0.8, n)), ordinary)
    dispatches, accepted_final, final_dept = _dispatch_chain(
        geo, rng, cat, community, urgent, np.where(dispatched, first_dispatch, -1), cap)
    has_accept = accepted_final >= 0

    street_handled = has_accept & np.strings.startswith(final_dept.astype(str), "JD")
    summoned, blown = _whistles(geo, rng, cat, community, urgent, accepted_final,
                                street_handled, cap)
    whistled = blown >= 0
    last_report = summoned.groupby("idx")["reported"].max().reindex(np.arange(n)) \
        .fillna(-1).to_numpy(np.int64)
    # Summoned departments also appear as dispatches (mode 吹哨), accepted when they report.
    whistle_dispatches = pd.DataFrame({
        "idx": summoned["idx"], "seq": 10 + summoned["seq"], "dept_code": summoned["dept_code"],
        "mode": "吹哨", "dispatched": blown[summoned["idx"].to_numpy()],
        "accepted": summoned["reported"],
        "returned": pd.array([pd.NA] * len(summoned), dtype="Int64"), "return_reason": None})
    dispatches = pd.concat([dispatches, whistle_dispatches], ignore_index=True)

    # First contact with the caller: mostly within 2 h (紧急) or 24 h (一般) of arrival.
    limit = received + np.where(urgent, 2 * HOUR, 24 * HOUR)
    contact_class = rng.choice(["in_time", "late", "never"], size=n, p=[0.9, 0.07, 0.03])
    at_accept = rng.random(n) < 0.4
    in_time = np.where(at_accept, accepted_final, _defer_to_working_hours(
        rng, accepted_final + (rng.random(n) * np.maximum(limit - accepted_final, 60))
        .astype(np.int64), ordinary))
    late = np.maximum(limit, accepted_final) + _lognormal(rng, 6 * HOUR, 1.0, n)
    first_contact = np.where(contact_class == "late", late, in_time)
    first_contact = np.where(has_accept & (contact_class != "never") & (first_contact <= cap),
                             first_contact, -1)

    # Resolution, after the summoned departments have reported.
    work_from = np.maximum.reduce([accepted_final, first_contact,
                                   np.where(whistled, last_report, -1)])
    slow = rng.random(n) < 0.05
    work = np.where(urgent, _lognormal(rng, 3 * HOUR, 0.9, n),
                    _lognormal(rng, 20 * HOUR, 1.0, n)) + np.where(
        slow, rng.integers(3 * DAY, 20 * DAY, n), 0)
    resolved = _defer_to_working_hours(rng, work_from + work, ordinary)
    resolved = np.where(has_accept & (rng.random(n) > 0.02) & (resolved <= cap), resolved, -1)
    resolved = np.where(direct, created, resolved)

    # The platform calls back (not possible for anonymous callers).
    called = _defer_to_working_hours(rng, resolved + _lognormal(rng, 20 * HOUR, 0.7, n),
                                     np.ones(n, dtype=bool))
    callback = dispatched & ~anonymous & (resolved >= 0) & (rng.random(n) < 0.93) & \
        (called <= cap)
    reached = callback & (rng.random(n) >= 0.10)
    solved = rng.random(n) < 0.85
    satisfaction = np.where(
        solved, _pick(rng, {"满意": 0.78, "基本满意": 0.18, "不满意": 0.04}, n),
        _pick(rng, {"满意": 0.10, "基本满意": 0.30, "不满意": 0.60}, n))

    # Some street cases are handed to the grid app when the street office accepts them. The
    # grid app's exports cover the simulated period only, and its worker opens the event up
    # to an hour after the hand-over: later hand-overs would point at events never exported.
    grid_share = np.array([c.to_grid for c in CATEGORIES])[cat]
    to_grid = street_handled & (rng.random(n) < grid_share)
    grid_at = accepted_final + rng.integers(60, 20 * MINUTE, n)
    period_end = int(pd.Timestamp(city.start).value // 10**9) + city.days * DAY
    to_grid &= grid_at < period_end - HOUR
    grid_rows = np.flatnonzero(to_grid)
    grid_day = pd.to_datetime(grid_at[grid_rows] // DAY, unit="D").strftime("%Y%m%d")
    grid_seq = pd.Series(grid_day).groupby(grid_day).cumcount().to_numpy() + 9_000_000
    grid_event_id = np.full(n, None, dtype=object)
    grid_event_id[grid_rows] = "GE" + grid_day.to_numpy(dtype=object) + \
        pd.Series(grid_seq).astype("str").to_numpy(dtype=object)

    tickets = pd.DataFrame({
        "idx": np.arange(n), "ticket_id": ticket_id, "channel": channel,
        "received_at": received, "type": ticket_type.astype(str), "urgency": np.where(
            urgent, "紧急", "一般"), "category_code": category_code, "category": category,
        "title": title, "content": content.astype(str),
        "caller_name": who["name"], "caller_phone": who["phone"],
        "caller_id": who["id_number"], "anonymous": anonymous,
        "address_text": address_text, "lat": lat, "lon": lon,
        "district_code": operator_district, "street_code": operator_street,
        "community_code": operator_community,
        "whistle_blown": nullable(np.where(whistled, blown, -1)),
        "whistle_street": np.where(whistled, street_code, None),
        "first_contact": nullable(first_contact), "resolved": nullable(resolved),
        "callback_at": nullable(np.where(callback, called, -1)),
        "callback_reached": reached,
        "callback_resolved": np.where(reached, np.where(solved, "已解决", "未解决"), None),
        "callback_satisfaction": np.where(reached, satisfaction, None),
        "grid_event_id": grid_event_id, "grid_at": nullable(np.where(to_grid, grid_at, -1)),
    })
    versions = _versions(tickets, dispatches, summoned, created, direct)
    persons_truth = pd.DataFrame({"source": SOURCE, "source_record_id": ticket_id,
                                  "person_key": who["person_key"]})
    hotline_to_grid = pd.DataFrame({
        "ticket_id": ticket_id[grid_rows],
        "grid_event_id": grid_event_id[grid_rows].astype(str),
        "received_at": _shanghai(received[grid_rows]),
        "transferred_at": _shanghai(grid_at[grid_rows]),
        "community_code": community[grid_rows].astype(str),
        "grid_code": _grid_of(city, rng, community[grid_rows]),
        "address_text": address_text[grid_rows].astype(str),
        "category_code": category_code[grid_rows], "category": category[grid_rows]})
    return {"tickets": tickets, "dispatches": dispatches, "summoned": summoned,
            "versions": versions, "persons_truth": persons_truth,
            "hotline_to_grid": hotline_to_grid}


def nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Local epoch seconds with -1 for 'did not happen' as a nullable integer array."""
    out = pd.array(values, dtype="Int64")
    out[values < 0] = pd.NA
    return out


def _shanghai(local_seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(local_seconds - LOCAL_OFFSET, unit="s", utc=True) \
        .tz_convert("Asia/Shanghai")


def _prefix(codes: np.ndarray, length: int) -> np.ndarray:
    return pd.Series(codes, dtype="str").str[:length].to_numpy(dtype=object)


def _grid_of(city: City, rng: np.random.Generator, community: np.ndarray) -> np.ndarray:
    grids = city.grids.sort_values("grid_code")
    by_community = grids.groupby("community_code")["grid_code"].apply(list).to_dict()
    return np.array([by_community[c][int(rng.integers(len(by_community[c])))]
                     for c in community], dtype=object).astype(str)


def _versions(tickets: pd.DataFrame, dispatches: pd.DataFrame, summoned: pd.DataFrame,
              created: np.ndarray, direct: np.ndarray) -> pd.DataFrame:
    """One row per (ticket, distinct change time) with the status as of that time."""
    n = len(tickets)
    idx = np.arange(n)
    moments = [pd.DataFrame({"idx": idx, "t": created})]
    for frame, columns in ((dispatches, ("dispatched", "accepted", "returned")),
                           (summoned, ("reported",))):
        for column in columns:
            known = frame[column].notna()
            moments.append(pd.DataFrame({"idx": frame.loc[known, "idx"].to_numpy(),
                                         "t": frame.loc[known, column].to_numpy(np.int64)}))
    for column in ("whistle_blown", "first_contact", "resolved", "callback_at", "grid_at"):
        known = tickets[column].notna().to_numpy()
        moments.append(pd.DataFrame({"idx": idx[known],
                                     "t": tickets[column].to_numpy(np.int64, na_value=0)[known]}))
    versions = pd.concat(moments, ignore_index=True).drop_duplicates()
    versions = versions.sort_values(["idx", "t"], kind="stable").reset_index(drop=True)

    # Status from the dispatch chain (the last handling dispatch as of t), then the outcome.
    chain = dispatches[dispatches["mode"] != "吹哨"].sort_values(["idx", "seq"])
    width = 3
    dispatched = np.full((n, width), np.iinfo(np.int64).max)
    accepted = dispatched.copy()
    returned = dispatched.copy()
    rows, cols = chain["idx"].to_numpy(), chain["seq"].to_numpy()
    dispatched[rows, cols] = chain["dispatched"].to_numpy(np.int64)
    accepted[rows, cols] = chain["accepted"].fillna(np.iinfo(np.int64).max).to_numpy(np.int64)
    returned[rows, cols] = chain["returned"].fillna(np.iinfo(np.int64).max).to_numpy(np.int64)
    v_idx, t = versions["idx"].to_numpy(), versions["t"].to_numpy()[:, None]
    count = (dispatched[v_idx] <= t).sum(axis=1)
    last = np.maximum(count - 1, 0)
    pick = (np.arange(len(v_idx)), last)
    chain_status = np.select(
        [count == 0, accepted[v_idx][pick] <= t[:, 0], returned[v_idx][pick] <= t[:, 0]],
        ["待派单", "处理中", "已退单"], "已派单")
    never = np.iinfo(np.int64).max
    resolved = tickets["resolved"].to_numpy(np.int64, na_value=never)[v_idx]
    called = tickets["callback_at"].to_numpy(np.int64, na_value=never)[v_idx]
    status = np.select([called <= t[:, 0], resolved <= t[:, 0]], ["已回访", "已办结"],
                       chain_status)
    versions["status"] = status
    return versions


RENDER_SQL = """
WITH d AS (
    SELECT idx, list(struct_pack(dept_code, mode, dispatched, accepted, returned, return_reason)
                     ORDER BY seq) AS entries
    FROM dispatches GROUP BY idx),
s AS (
    SELECT idx, list(struct_pack(dept_code, reported) ORDER BY seq) AS entries
    FROM summoned GROUP BY idx)
, rendered AS (
SELECT v.idx, v.t, t.ticket_id, to_json(struct_pack(
    ticket_id := t.ticket_id,
    channel := t.channel,
    received_at := iso(t.received_at),
    type := t.type,
    urgency := t.urgency,
    category_code := t.category_code,
    category := t.category,
    title := t.title,
    content := t.content,
    caller := CASE WHEN NOT t.anonymous THEN struct_pack(
        name := t.caller_name, phone := t.caller_phone, id_number := t.caller_id) END,
    anonymous := t.anonymous,
    address_text := t.address_text,
    lat := t.lat,
    lon := t.lon,
    district_code := t.district_code,
    street_code := t.street_code,
    community_code := t.community_code,
    status := v.status,
    dispatches := coalesce(list_transform(
        list_filter(d.entries, lambda x: x.dispatched <= v.t),
        lambda x: struct_pack(
            dept_code := x.dept_code, mode := x.mode, dispatched_at := iso(x.dispatched),
            accepted_at := CASE WHEN x.accepted <= v.t THEN iso(x.accepted) END,
            returned_at := CASE WHEN x.returned <= v.t THEN iso(x.returned) END,
            return_reason := CASE WHEN x.returned <= v.t THEN x.return_reason END)), []),
    whistle := CASE WHEN t.whistle_blown <= v.t THEN struct_pack(
        blown_at := iso(t.whistle_blown),
        street_code := t.whistle_street,
        summoned := list_transform(s.entries, lambda y: struct_pack(
            dept_code := y.dept_code,
            reported_at := CASE WHEN y.reported <= v.t THEN iso(y.reported) END))) END,
    first_contact_at := CASE WHEN t.first_contact <= v.t THEN iso(t.first_contact) END,
    resolved_at := CASE WHEN t.resolved <= v.t THEN iso(t.resolved) END,
    -- Unreached: resolved and satisfaction are left out rather than null, because the
    -- contract's enums for them do not list null (OpenAPI 3.0.3: nullable does not extend
    -- an enum), so a literal null would not validate.
    callback := CASE WHEN t.callback_at <= v.t THEN (CASE WHEN t.callback_reached
        THEN to_json(struct_pack(called_at := iso(t.callback_at), reached := true,
                                 resolved := t.callback_resolved,
                                 satisfaction := t.callback_satisfaction))
        ELSE to_json(struct_pack(called_at := iso(t.callback_at), reached := false)) END) END,
    related_grid_event_id := CASE WHEN t.grid_at <= v.t THEN t.grid_event_id END,
    updated_at := iso(v.t)
))::VARCHAR AS body
FROM versions v JOIN tickets t USING (idx) LEFT JOIN d USING (idx) LEFT JOIN s USING (idx))
SELECT ticket_id, t - {offset} AS updated_at_utc, iso(t) AS updated_at, body,
       sha256(body) AS content_sha256
FROM rendered ORDER BY idx, t
"""


def _render(con: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame]) -> pa.Table:
    """ticket_id, updated_at_utc, updated_at, body, content_sha256 of every version of the
    given tickets."""
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        return con.sql(RENDER_SQL.format(offset=LOCAL_OFFSET)).to_arrow_table()
    finally:
        for name in frames:
            con.unregister(name)


def write_store(path: Path, built: dict[str, pd.DataFrame]) -> tuple[int, pd.DataFrame]:
    """Render every version into the SQLite version store, a chunk of tickets at a time;
    returns the number of versions and the emitted-truth frame."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    store = sqlite3.connect(tmp)
    store.executescript("""
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        CREATE TABLE versions (ticket_id TEXT NOT NULL, updated_at_utc INTEGER NOT NULL,
                               body TEXT NOT NULL);
    """)
    con = duckdb.connect()
    con.execute("CREATE MACRO iso(x) AS "
                "strftime(make_timestamp(x::BIGINT * 1000000), '%Y-%m-%dT%H:%M:%S') || '+08:00'")
    frames = {k: built[k].sort_values("idx", kind="stable") for k in (
        "tickets", "dispatches", "summoned", "versions")}
    positions = {k: frame["idx"].to_numpy() for k, frame in frames.items()}

    def render(lo: int) -> pa.Table:
        def rows(k: str) -> pd.DataFrame:
            a, b = np.searchsorted(positions[k], [lo, lo + CHUNK_TICKETS])
            return frames[k].iloc[a:b]
        return _render(con, {k: rows(k) for k in frames})

    emitted = []
    total = 0
    # DuckDB renders the next chunk while SQLite stores this one (both release the GIL).
    with ThreadPoolExecutor(max_workers=1) as renderer:
        pending = renderer.submit(render, 0)
        for lo in range(0, len(frames["tickets"]), CHUNK_TICKETS):
            rendered = pending.result()
            pending = renderer.submit(render, lo + CHUNK_TICKETS)
            store.executemany("INSERT INTO versions VALUES (?, ?, ?)", zip(*(
                rendered.column(c).to_pylist() for c in ("ticket_id", "updated_at_utc", "body")),
                strict=True))
            emitted.append(rendered.select(["ticket_id", "updated_at", "content_sha256"]))
            total += rendered.num_rows
        pending.result()
    store.executescript("""
        CREATE UNIQUE INDEX versions_ticket ON versions (ticket_id, updated_at_utc);
        CREATE INDEX versions_updated ON versions (updated_at_utc, ticket_id);
        ANALYZE;
    """)
    store.commit()
    store.close()
    con.close()
    os.replace(tmp, path)
    truth = pa.concat_tables(emitted).to_pandas() if emitted else \
        pd.DataFrame({c: pd.Series(dtype="str")
                      for c in ("ticket_id", "updated_at", "content_sha256")})
    truth = truth.rename(columns={"ticket_id": "source_record_id", "updated_at": "version"})
    truth.insert(0, "source", SOURCE)
    return total, truth


def emit_hotline(city: City, out_dir: Path) -> HotlineEmitted:
    """Write `out_dir/hotline/tickets.sqlite` and the truth files; put the tickets handed to
    the grid app into `city.extras["hotline_to_grid"]`."""
    out_dir = Path(out_dir)
    rng = _rng(city)
    noiser = Noiser(city.noise, rng)
    built = build_tickets(city, noiser, rng)
    store = out_dir / "hotline" / "tickets.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    versions, emitted = write_store(store, built)
    truth = out_dir / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    built["persons_truth"].to_parquet(truth / "hotline_persons.parquet", index=False)
    emitted.to_parquet(truth / "hotline_emitted.parquet", index=False)
    noiser.log_frame().to_parquet(truth / "hotline_noise.parquet", index=False)
    city.extras["hotline_to_grid"] = built["hotline_to_grid"]
    end = pd.Timestamp(city.start) + pd.Timedelta(days=city.days)
    return HotlineEmitted(store=str(store), tickets=len(built["tickets"]), versions=versions,
                          transferred_to_grid=len(built["hotline_to_grid"]),
                          period=f"{city.start.isoformat()}/{end.date().isoformat()}")
